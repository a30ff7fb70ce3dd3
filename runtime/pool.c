/* pool.c — the program executor's buffer pool: intermediates' buffers by
 * capacity, best fit on acquire, reuse once the last value viewing a buffer
 * is dead; and how a run's values take, share and return those buffers.
 * Buffers come from the run's backend (backend.h): malloc on the host, the
 * CUDA caching allocator on a GPU. */
#include <stdlib.h>
#include <string.h>

#include "program_internal.h"

/* ------------------------------------------------------------ buffers */

/* Free buffers are kept by capacity: one bin (a stack) per distinct
 * capacity, and the non-empty bins of each device kind in a treap (a
 * binary search tree on the capacity, heap-ordered on a hash, so expected
 * depth O(log bins)).  Best fit, the smallest capacity that holds a
 * request, is one descent; taking or returning a buffer is a stack
 * operation, plus a treap insert or remove when a bin fills or empties.
 * So a program with many live values does not scan the pool per
 * allocation (it was quadratic), and programs, which use few distinct
 * sizes, mostly touch a small tree.  Among buffers of the best capacity
 * the last one freed is reused (likely still in cache). */

/* Joins two treaps where every capacity of a is below every one of c. */
static int32_t treap_merge(Bin *b, int32_t a, int32_t c) {
  if (a < 0) return c;
  if (c < 0) return a;
  if (b[a].prio >= b[c].prio) {
    b[a].right = treap_merge(b, b[a].right, c);
    return a;
  }
  b[c].left = treap_merge(b, a, b[c].left);
  return c;
}

static int32_t treap_insert(Bin *b, int32_t t, int32_t id) {
  if (t < 0) return id;
  if (b[id].prio > b[t].prio) { /* id becomes this subtree's root: split t around it */
    int32_t *lo = &b[id].left, *hi = &b[id].right;
    while (t >= 0) {
      if (b[t].cap < b[id].cap) {
        *lo = t;
        lo = &b[t].right;
        t = b[t].right;
      } else {
        *hi = t;
        hi = &b[t].left;
        t = b[t].left;
      }
    }
    *lo = *hi = -1;
    return id;
  }
  if (b[id].cap < b[t].cap) b[t].left = treap_insert(b, b[t].left, id);
  else b[t].right = treap_insert(b, b[t].right, id);
  return t;
}

static int32_t treap_remove(Bin *b, int32_t t, int32_t id) {
  if (t < 0) return -1; /* not in the tree (cannot happen) */
  if (t == id) return treap_merge(b, b[t].left, b[t].right);
  if (b[id].cap < b[t].cap) b[t].left = treap_remove(b, b[t].left, id);
  else b[t].right = treap_remove(b, b[t].right, id);
  return t;
}

static uint32_t slot_hash(size_t cap, bool device) {
  uint64_t h = ((uint64_t)cap << 1 | device) * 0x9e3779b97f4a7c15ull;
  return (uint32_t)(h >> 32);
}

/* The bin of (device, cap), made when new; -1 when out of memory. */
static int32_t bin_of(tirrt_program_t *p, bool device, size_t cap) {
  uint32_t mask = (uint32_t)p->n_slots - 1;
  for (uint32_t i = slot_hash(cap, device) & mask; p->n_slots && p->bin_slots[i]; i = (i + 1) & mask) {
    const Bin *b = &p->bins[p->bin_slots[i] - 1];
    if (b->cap == cap && b->device == device) return p->bin_slots[i] - 1;
  }
  if (p->n_bins == p->cap_bins) {
    int32_t nc = p->cap_bins ? 2 * p->cap_bins : 16;
    Bin *nb = realloc(p->bins, (size_t)nc * sizeof *nb);
    if (!nb) return -1;
    p->bins = nb;
    p->cap_bins = nc;
  }
  if (2 * (p->n_bins + 1) > p->n_slots) { /* keep the table at most half full: rehash */
    int32_t ns = p->n_slots ? 2 * p->n_slots : 64;
    int32_t *slots = calloc((size_t)ns, sizeof *slots);
    if (!slots) return -1;
    for (int32_t k = 0; k < p->n_bins; k++) {
      uint32_t j = slot_hash(p->bins[k].cap, p->bins[k].device) & (uint32_t)(ns - 1);
      while (slots[j]) j = (j + 1) & (uint32_t)(ns - 1);
      slots[j] = k + 1;
    }
    free(p->bin_slots);
    p->bin_slots = slots;
    p->n_slots = ns;
    mask = (uint32_t)ns - 1;
  }
  uint32_t i = slot_hash(cap, device) & mask;
  while (p->bin_slots[i]) i = (i + 1) & mask;
  int32_t id = p->n_bins++;
  p->bin_slots[i] = id + 1;
  /* The treap priority: a fixed hash of the id (deterministic runs). */
  uint32_t h = (uint32_t)id * 2654435761u;
  p->bins[id] = (Bin){cap, device, -1, -1, -1, (h ^ h >> 15) * 2246822519u};
  return id;
}

/* Buffer id goes back to its bin (refs already 0). */
static void pool_put(tirrt_program_t *p, int32_t id) {
  Buffer *buf = &p->bufs[id];
  Bin *bin = &p->bins[buf->bin];
  if (bin->top < 0) {
    bin->left = bin->right = -1;
    p->free_root[bin->device] = treap_insert(p->bins, p->free_root[bin->device], buf->bin);
  }
  buf->next = bin->top;
  bin->top = id;
}

/* Forgets every buffer's use: all of them are free again (end of a run;
 * most already are). */
void pool_reset(tirrt_program_t *p) {
  for (int32_t i = 0; i < p->n_bufs; i++)
    if (p->bufs[i].refs != 0) {
      p->bufs[i].refs = 0;
      pool_put(p, i);
    }
  p->live_bytes = 0;
}

static tirrt_status_t acquire(Run *r, size_t bytes, int32_t *out_id) {
  tirrt_program_t *p = r->p;
  bool device = r->dev;
  int32_t best = -1, found = -1; /* the smallest non-empty bin that holds `bytes` */
  for (int32_t t = p->free_root[device]; t >= 0;) {
    if (p->bins[t].cap >= bytes) {
      found = t;
      t = p->bins[t].left;
    } else {
      t = p->bins[t].right;
    }
  }
  if (found >= 0) {
    Bin *bin = &p->bins[found];
    best = bin->top;
    bin->top = p->bufs[best].next;
    if (bin->top < 0) p->free_root[device] = treap_remove(p->bins, p->free_root[device], found);
  } else {
    if (p->n_bufs == p->cap_bufs) {
      int32_t nc = p->cap_bufs ? 2 * p->cap_bufs : 16;
      Buffer *nb = realloc(p->bufs, (size_t)nc * sizeof *nb);
      if (!nb) return tirrt_oom_status();
      p->bufs = nb;
      p->cap_bufs = nc;
    }
    int32_t bin = bin_of(p, device, bytes);
    if (bin < 0) return tirrt_oom_status();
    void *mem = NULL;
    tirrt_status_t s = r->be->alloc(r->bs, bytes, &mem);
    if (s) return s;
    p->bufs[p->n_bufs] = (Buffer){mem, bytes, 0, device, bin, -1};
    best = p->n_bufs++;
  }
  p->bufs[best].refs = 1;
  p->live_bytes += p->bufs[best].cap;
  if (p->live_bytes > p->peak_bytes) p->peak_bytes = p->live_bytes;
  *out_id = best;
  return NULL;
}

void pool_release(tirrt_program_t *p, int32_t id) {
  if (id < 0) return;
  if (--p->bufs[id].refs == 0) {
    p->live_bytes -= p->bufs[id].cap;
    pool_put(p, id);
  }
}

void pool_free_buffer(tirrt_program_t *p, Buffer *b) {
  const tirrt_backend_t *be = b->device ? p->dev_backend : tirrt_backend_cpu();
  be->release(p->device, b->p);
}

/* ------------------------------------------------------------ values' buffers */

tirrt_status_t pool_alloc_out(Run *r, int32_t v, tirrt_view_t *out) {
  tirrt_tensor_desc_t desc;
  size_t bytes;
  tirrt_status_t s = bind_value_shape(r, v, &desc);
  if (!s) s = tirrt_tensor_desc_check(&desc, NULL, &bytes);
  if (s) return s;
  r->buf[v] = -1;
  if (bytes == 0) { /* no elements: no memory, NULL data (as torch gives such tensors) */
    *out = tirrt_view_contiguous(&desc, NULL);
    return NULL;
  }
  if (r->direct && r->direct[v]) { /* a result: straight into the caller's buffer */
    *out = tirrt_view_contiguous(&desc, r->direct[v]);
    return NULL;
  }
  if ((s = acquire(r, bytes, &r->buf[v]))) return s;
  *out = tirrt_view_contiguous(&desc, r->p->bufs[r->buf[v]].p);
  return NULL;
}

/* The output shares the input's buffer (a view). */
tirrt_status_t pool_alias(Run *r, int32_t in, int32_t v, tirrt_view_t *out) {
  tirrt_tensor_desc_t desc;
  tirrt_status_t s = bind_value_shape(r, v, &desc);
  if (s) return s;
  out->dtype = desc.dtype;
  out->rank = desc.rank;
  memcpy(out->shape, desc.shape, sizeof out->shape);
  out->data = r->view[in].data;
  r->buf[v] = r->buf[in];
  if (r->buf[v] >= 0) r->p->bufs[r->buf[v]].refs++;
  return NULL;
}

/* Values whose last reader is instruction i die after it. */
void pool_release_after(Run *r, const tirrt_inst_t *inst, int32_t i) {
  tirrt_program_t *p = r->p;
  if (p->last_use[inst->out] == i && r->buf[inst->out] >= 0) {
    pool_release(p, r->buf[inst->out]);
    r->buf[inst->out] = -1;
  }
  for (int32_t k = 0; k < inst->n_in; k++) {
    int32_t v = inst->in[k];
    if (p->last_use[v] == i && r->buf[v] >= 0) {
      pool_release(p, r->buf[v]);
      r->buf[v] = -1;
    }
  }
}
