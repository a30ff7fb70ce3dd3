/* program.c — runs compiled tirc programs on the CPU or a CUDA GPU.
 *
 * A program is the table of tirrt.h: values, dim expressions and
 * instructions.  Running it binds the symbols from the arguments' shapes,
 * evaluates every dim, and executes the instructions in order.  Shape ops
 * (reshape, permute, expand, slice) produce views of their input when the
 * strides allow, so they move no data.  Intermediate buffers come from a
 * pool: a buffer returns to the pool when the last value viewing it is dead,
 * and a later instruction reuses it (best fit), which bounds peak memory by
 * what is live rather than by the program's length.  On a GPU the same walk
 * runs with device buffers: every instruction has a library kernel
 * (cuda_exec.c), and a generated kernel, when the program has one for a run
 * of instructions, replaces that run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tirrt.h"
#include "tirrt_cpu.h"
#ifdef TIRRT_HAVE_CUDA
#include "cuda_internal.h"
#endif

typedef struct {
  void *p;
  size_t cap;
  int32_t refs; /* live values viewing it; 0 = free in the pool */
  bool device;  /* GPU memory (of program->device) */
  int32_t bin;  /* its capacity's bin */
  int32_t next; /* while free: the next free buffer of its bin, or -1 */
} Buffer;

/* The free buffers of one capacity (on one device kind): a stack, and,
 * while not empty, a node of that device's treap of bins (see acquire). */
typedef struct {
  size_t cap;
  bool device;
  int32_t top;         /* the last buffer freed, or -1 */
  int32_t left, right; /* children in the treap */
  uint32_t prio;
} Bin;

struct tirrt_program_s {
  const tirrt_program_def_t *def;
  int32_t *last_use; /* per value: last instruction that reads it; n_insts for results */
  int32_t *result_base; /* per result: the value made in its caller buffer, or -1 (direct_base) */
  /* A run's per-value state (Run's view, buf, direct), kept between runs:
   * allocating and clearing it per run cost as much as running a long
   * program of small ops.  direct is all NULL between runs. */
  tirrt_view_t *view;
  int32_t *vbuf;
  void **direct;
  Buffer *bufs;
  int32_t n_bufs, cap_bufs;
  Bin *bins;
  int32_t n_bins, cap_bins;
  int32_t *bin_slots; /* hash of (device, capacity) -> bin + 1, 0 empty; n_slots a power of 2 */
  int32_t n_slots;
  int32_t free_root[2]; /* per device kind (host, GPU): the treap of non-empty bins, or -1 */
  size_t live_bytes, peak_bytes;
  /* GPU state, made on the first CUDA run: the device, constants uploaded
   * once, and the generated kernels' modules. */
  int32_t device; /* -1 until a CUDA run */
  void **const_dev;
  void **modules;
};

#ifdef TIRRT_HAVE_CUDA
static void gpu_unprepare(tirrt_program_t *p);
#endif

/* ------------------------------------------------------------ creation */

/* For result j, the value to make in the caller's buffer (computed once,
 * at creation): the result itself, or, when it is a reshape or copy (of a
 * reshape...) of a value that nothing else reads or returns, that value:
 * a reshape or copy of a contiguous buffer is a view of it, so the result
 * is then in the caller's buffer too and needs no copy (torch's graphs end
 * in views: GPT-2's logits are a [B*T, V] product viewed as [B, T, V], an
 * 823 MB copy at B=8, T=1024).  A base that turns out not to be allocated
 * (a view itself) just leaves the copy.  -1: none (a result that is an
 * argument or a constant, or is returned twice, is copied).  prod[v] is
 * the instruction making v (-1: none); reads[v] counts v's reads by
 * instructions and results; returned[v] counts the latter. */
static int32_t direct_base(const tirrt_program_def_t *d, int32_t j, const int32_t *prod,
                           const int32_t *reads, const int32_t *returned) {
  int32_t v = d->results[j];
  if (returned[v] != 1 || d->values[v].kind != TIRRT_VALUE_TEMP) return -1;
  int32_t base = v;
  for (;;) {
    const tirrt_inst_t *mk = prod[v] >= 0 ? &d->insts[prod[v]] : NULL;
    if (!mk || (mk->op != TIRRT_OP_RESHAPE && mk->op != TIRRT_OP_COPY) || mk->n_in < 1) break;
    int32_t in = mk->in[0];
    if (d->values[in].kind != TIRRT_VALUE_TEMP || reads[in] != 1) break;
    v = in;
    int32_t op = prod[v] >= 0 ? d->insts[prod[v]].op : -1;
    if (op == TIRRT_OP_PERMUTE || op == TIRRT_OP_EXPAND || op == TIRRT_OP_SLICE) break; /* not allocated */
    if (op != TIRRT_OP_RESHAPE && op != TIRRT_OP_COPY) base = v; /* made by a kernel, contiguous */
  }
  return base;
}

static tirrt_status_t bad_def(const tirrt_program_def_t *def, const char *what, int32_t i) {
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: malformed program: %s (%d)",
                           def->name ? def->name : "program", what, i);
}

static tirrt_status_t check_def(const tirrt_program_def_t *def) {
  if (def->abi != TIRRT_PROGRAM_ABI) return bad_def(def, "ABI version", def->abi);
  for (int32_t i = 0; i < def->n_dims; i++) {
    const tirrt_dim_node_t *n = &def->dims[i];
    if (n->op < TIRRT_DIM_CONST || n->op > TIRRT_DIM_FLOORDIV) return bad_def(def, "dim op", i);
    if (n->op == TIRRT_DIM_SYM && (n->value < 0 || n->value >= def->n_syms))
      return bad_def(def, "symbol index", i);
    if (n->op >= TIRRT_DIM_ADD && (n->a < 0 || n->a >= i || n->b < 0 || n->b >= i))
      return bad_def(def, "dim operand", i);
  }
  for (int32_t i = 0; i < def->n_values; i++) {
    const tirrt_value_def_t *v = &def->values[i];
    if (v->rank < 0 || v->rank > TIRRT_MAX_RANK || v->dtype < 0 || v->dtype >= TIRRT_DTYPE_COUNT)
      return bad_def(def, "value type", i);
    for (int32_t k = 0; k < v->rank; k++)
      if (v->dims[k] < 0 || v->dims[k] >= def->n_dims) return bad_def(def, "value dim", i);
  }
  for (int32_t i = 0; i < def->n_insts; i++) {
    const tirrt_inst_t *in = &def->insts[i];
    if (in->op < 0 || in->op >= TIRRT_OP_COUNT) return bad_def(def, "opcode", i);
    if (in->out < 0 || in->out >= def->n_values) return bad_def(def, "output", i);
    for (int32_t k = 0; k < in->n_in; k++)
      if (in->in[k] < 0 || in->in[k] >= def->n_values) return bad_def(def, "input", i);
  }
  for (int32_t i = 0; i < def->n_args; i++)
    if (def->args[i] < 0 || def->args[i] >= def->n_values) return bad_def(def, "argument", i);
  for (int32_t i = 0; i < def->n_results; i++)
    if (def->results[i] < 0 || def->results[i] >= def->n_values) return bad_def(def, "result", i);
  /* Every value is made once, before it is read: the executor reuses its
   * per-value state between runs and must never read a stale entry. */
  bool *made = calloc((size_t)def->n_values + 1, sizeof *made);
  if (!made) return tirrt_oom_status();
  tirrt_status_t s = NULL;
  for (int32_t i = 0; i < def->n_args; i++) made[def->args[i]] = true;
  for (int32_t v = 0; v < def->n_values; v++) made[v] |= def->values[v].kind == TIRRT_VALUE_CONST;
  for (int32_t i = 0; i < def->n_insts && !s; i++) {
    const tirrt_inst_t *in = &def->insts[i];
    for (int32_t k = 0; k < in->n_in && !s; k++)
      if (!made[in->in[k]]) s = bad_def(def, "an input not made before its instruction", i);
    if (!s && made[in->out]) s = bad_def(def, "an output made twice", i);
    made[in->out] = true;
  }
  for (int32_t i = 0; i < def->n_results && !s; i++)
    if (!made[def->results[i]]) s = bad_def(def, "a result never made", i);
  free(made);
  return s;
}

/* Generated kernels must replace runs that are safe to skip: ranges in
 * order and disjoint, inputs made before the run, and every value the run
 * makes that anything after it reads (or returns) among the outputs. */
static tirrt_status_t check_kernels(const tirrt_program_def_t *def, const int32_t *last_use) {
  int32_t prev_end = 0;
  for (int32_t k = 0; k < def->n_kernels; k++) {
    const tirrt_kernel_def_t *kd = &def->kernels[k];
    int32_t first = kd->first_inst, end = kd->first_inst + kd->n_insts;
    if (first < prev_end || kd->n_insts < 1 || end > def->n_insts || !kd->name ||
        (!kd->cubin && !kd->ptx) || kd->n_in < 0 || kd->n_out < 1 ||
        kd->n_in + kd->n_out > TIRRT_FUSED_MAX_OPERANDS || kd->space < 0 ||
        kd->space >= def->n_values || kd->block_size < 1 || kd->block_size > 1024)
      return bad_def(def, "generated kernel", k);
    prev_end = end;
    for (int32_t j = 0; j < kd->n_in + kd->n_out; j++) {
      int32_t v = j < kd->n_in ? kd->in[j] : kd->out[j - kd->n_in];
      if (v < 0 || v >= def->n_values) return bad_def(def, "generated kernel operand", k);
    }
    for (int32_t i = first; i < end; i++) {
      int32_t v = def->insts[i].out;
      bool is_out = false;
      for (int32_t j = 0; j < kd->n_out; j++) is_out |= kd->out[j] == v;
      if (!is_out && last_use[v] >= end) return bad_def(def, "generated kernel drops a live value", k);
    }
    /* Inputs are made before the run and read in it (so they are still
     * live when it launches); outputs are made in it. */
    for (int32_t j = 0; j < kd->n_in; j++) {
      bool read = false;
      for (int32_t i = first; i < end; i++) {
        if (def->insts[i].out == kd->in[j]) return bad_def(def, "generated kernel input", k);
        for (int32_t q = 0; q < def->insts[i].n_in; q++) read |= def->insts[i].in[q] == kd->in[j];
      }
      if (!read) return bad_def(def, "generated kernel input not read by its instructions", k);
    }
    for (int32_t j = 0; j < kd->n_out; j++) {
      bool made = false;
      for (int32_t i = first; i < end; i++) made |= def->insts[i].out == kd->out[j];
      if (!made) return bad_def(def, "generated kernel output not made by its instructions", k);
    }
  }
  return NULL;
}

tirrt_status_t tirrt_program_create(const tirrt_program_def_t *def, tirrt_program_t **out) {
  tirrt_status_t s = check_def(def);
  if (s) return s;
  size_t nv = (size_t)def->n_values + 1;
  tirrt_program_t *p = calloc(1, sizeof *p);
  int32_t *lu = malloc(nv * sizeof *lu);
  int32_t *rb = malloc(((size_t)def->n_results + 1) * sizeof *rb);
  int32_t *counts = malloc(3 * nv * sizeof *counts); /* prod, reads, returned */
  if (p) {
    p->view = malloc(nv * sizeof *p->view);
    p->vbuf = malloc(nv * sizeof *p->vbuf);
    p->direct = calloc(nv, sizeof *p->direct);
  }
  if (!p || !lu || !rb || !counts || !p->view || !p->vbuf || !p->direct) {
    if (p) {
      free(p->view);
      free(p->vbuf);
      free(p->direct);
    }
    free(p);
    free(lu);
    free(rb);
    free(counts);
    return tirrt_oom_status();
  }
  int32_t *prod = counts, *reads = counts + nv, *returned = counts + 2 * nv;
  /* A value dies after its last reader; one nobody reads dies where it is
   * made; results live to the end. */
  for (int32_t v = 0; v < def->n_values; v++) lu[v] = prod[v] = -1, reads[v] = returned[v] = 0;
  for (int32_t i = 0; i < def->n_insts; i++) {
    const tirrt_inst_t *in = &def->insts[i];
    lu[in->out] = i;
    prod[in->out] = i;
    for (int32_t k = 0; k < in->n_in; k++) lu[in->in[k]] = i, reads[in->in[k]]++;
  }
  for (int32_t r = 0; r < def->n_results; r++) {
    lu[def->results[r]] = def->n_insts;
    reads[def->results[r]]++;
    returned[def->results[r]]++;
  }
  for (int32_t j = 0; j < def->n_results; j++) rb[j] = direct_base(def, j, prod, reads, returned);
  free(counts);
  p->def = def;
  p->last_use = lu;
  p->result_base = rb;
  p->device = -1;
  p->free_root[0] = p->free_root[1] = -1;
  s = check_kernels(def, lu);
  if (s) {
    tirrt_program_free(p);
    return s;
  }
  *out = p;
  return NULL;
}

static void free_buffer(tirrt_program_t *p, Buffer *b) {
  (void)p;
#ifdef TIRRT_HAVE_CUDA
  if (b->device) {
    tirrt_cuda_release(p->device, b->p);
    return;
  }
#endif
  free(b->p);
}

void tirrt_program_free(tirrt_program_t *p) {
  if (!p) return;
  for (int32_t i = 0; i < p->n_bufs; i++) free_buffer(p, &p->bufs[i]);
#ifdef TIRRT_HAVE_CUDA
  gpu_unprepare(p);
#endif
  free(p->bufs);
  free(p->view);
  free(p->vbuf);
  free(p->direct);
  free(p->bins);
  free(p->bin_slots);
  free(p->last_use);
  free(p->result_base);
  free(p);
}

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
static void pool_reset(tirrt_program_t *p) {
  for (int32_t i = 0; i < p->n_bufs; i++)
    if (p->bufs[i].refs != 0) {
      p->bufs[i].refs = 0;
      pool_put(p, i);
    }
  p->live_bytes = 0;
}

static tirrt_status_t acquire(tirrt_program_t *p, bool device, size_t bytes, int32_t *out_id) {
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
    if (device) {
#ifdef TIRRT_HAVE_CUDA
      tirrt_status_t s = tirrt_cuda_malloc(p->device, bytes, &mem);
      if (s) return s;
#endif
    } else if (!(mem = malloc(bytes))) {
      return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                               "out of memory allocating %zu bytes for an intermediate", bytes);
    }
    p->bufs[p->n_bufs] = (Buffer){mem, bytes, 0, device, bin, -1};
    best = p->n_bufs++;
  }
  p->bufs[best].refs = 1;
  p->live_bytes += p->bufs[best].cap;
  if (p->live_bytes > p->peak_bytes) p->peak_bytes = p->live_bytes;
  *out_id = best;
  return NULL;
}

static void release(tirrt_program_t *p, int32_t id) {
  if (id < 0) return;
  if (--p->bufs[id].refs == 0) {
    p->live_bytes -= p->bufs[id].cap;
    pool_put(p, id);
  }
}

/* ------------------------------------------------------------ running */

typedef struct {
  tirrt_program_t *p;
  int64_t *sym;
  bool *sym_bound;
  int64_t *dim;      /* evaluated dim nodes */
  bool *dim_ok;
  tirrt_view_t *view; /* per value */
  int32_t *buf;       /* per value: buffer id or -1 */
  uint64_t seed;
  bool gpu;
  void **direct;      /* per value: the caller's result buffer it is made in, or NULL */
#ifdef TIRRT_HAVE_CUDA
  tirrt_cuda_ctx_t *ctx;
#endif
} Run;

static int64_t floordiv64(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Evaluates every dim node once the symbols are bound; a node that uses an
 * unbound symbol (or divides by zero, or overflows) stays not-ok. */
static void eval_dims(Run *r) {
  const tirrt_program_def_t *d = r->p->def;
  for (int32_t i = 0; i < d->n_dims; i++) {
    const tirrt_dim_node_t *n = &d->dims[i];
    int64_t a = 0, b = 0, v = 0;
    bool ok = true;
    if (n->op >= TIRRT_DIM_ADD) {
      ok = r->dim_ok[n->a] && r->dim_ok[n->b];
      a = r->dim[n->a];
      b = r->dim[n->b];
    }
    switch (n->op) {
    case TIRRT_DIM_CONST: v = n->value; break;
    case TIRRT_DIM_SYM: ok = r->sym_bound[n->value]; v = r->sym[n->value]; break;
    case TIRRT_DIM_ADD: ok = ok && !__builtin_add_overflow(a, b, &v); break;
    case TIRRT_DIM_SUB: ok = ok && !__builtin_sub_overflow(a, b, &v); break;
    case TIRRT_DIM_MUL: ok = ok && !__builtin_mul_overflow(a, b, &v); break;
    case TIRRT_DIM_FLOORDIV:
      ok = ok && b != 0 && !(a == INT64_MIN && b == -1);
      if (ok) v = floordiv64(a, b);
      break;
    }
    r->dim[i] = v;
    r->dim_ok[i] = ok;
  }
}

/* Appends dim node n as an expression ("2*s + 1") to buf at *len, in
 * parentheses where its precedence is below `prec` (0 sums, 1 products,
 * 2 operands of a division). */
static void format_dim(const tirrt_program_def_t *d, int32_t n, int prec, char *buf, size_t size,
                       size_t *len) {
  const tirrt_dim_node_t *x = &d->dims[n];
  int mine = x->op == TIRRT_DIM_ADD || x->op == TIRRT_DIM_SUB ? 0 : x->op >= TIRRT_DIM_MUL ? 1 : 2;
  static const char *const OPS[] = {"", "", " + ", " - ", "*", "/"};
#define PUT(...)                                                                       \
  do {                                                                                 \
    if (*len < size) {                                                                 \
      int w = snprintf(buf + *len, size - *len, __VA_ARGS__);                          \
      *len = w < 0 ? size : *len + (size_t)w < size ? *len + (size_t)w : size - 1;    \
    }                                                                                  \
  } while (0)
  if (mine < prec) PUT("(");
  if (x->op == TIRRT_DIM_CONST) PUT("%lld", (long long)x->value);
  else if (x->op == TIRRT_DIM_SYM) PUT("%s", d->syms[x->value]);
  else if (x->op == TIRRT_DIM_MUL && d->dims[x->b].op == TIRRT_DIM_CONST) { /* "2*s", not "s*2" */
    format_dim(d, x->b, 1, buf, size, len);
    PUT("*");
    format_dim(d, x->a, 1, buf, size, len);
  } else {
    format_dim(d, x->a, mine, buf, size, len);
    PUT("%s", OPS[x->op]);
    format_dim(d, x->b, mine + (x->op != TIRRT_DIM_ADD && x->op != TIRRT_DIM_MUL), buf, size, len);
  }
  if (mine < prec) PUT(")");
#undef PUT
}

/* A symbol of dim node n that is not bound yet, or -1. */
static int32_t unbound_sym(const Run *r, int32_t n) {
  const tirrt_dim_node_t *x = &r->p->def->dims[n];
  if (x->op == TIRRT_DIM_SYM) return r->sym_bound[x->value] ? -1 : (int32_t)x->value;
  if (x->op == TIRRT_DIM_CONST) return -1;
  int32_t s = unbound_sym(r, x->a);
  return s >= 0 ? s : unbound_sym(r, x->b);
}

/* The shape of value v from its dims; fails naming the unbound symbol. */
static tirrt_status_t value_shape(Run *r, int32_t v, tirrt_tensor_desc_t *desc) {
  const tirrt_program_def_t *d = r->p->def;
  const tirrt_value_def_t *vd = &d->values[v];
  desc->dtype = (tirrt_dtype_t)vd->dtype;
  desc->rank = vd->rank;
  for (int32_t k = 0; k < vd->rank; k++) {
    int32_t n = vd->dims[k];
    if (!r->dim_ok[n]) {
      int32_t sym = unbound_sym(r, n);
      if (sym < 0) /* bound, but the expression overflows or divides by 0 */
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "dim %d of %s cannot be evaluated for these inputs", k, vd->name);
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "the shape of %s depends on the symbol %s, which the inputs' "
                               "shapes do not determine", vd->name, d->syms[sym]);
    }
    if (r->dim[n] < 0)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "the shape of %s has a negative dim (%lld) for these inputs",
                               vd->name, (long long)r->dim[n]);
    desc->shape[k] = r->dim[n];
  }
  return tirrt_tensor_desc_check(desc, NULL, NULL);
}

enum { SOLVE_NONE, SOLVE_BOUND, SOLVE_NOFIT };

/* Solves "dim node n == want" for the one unbound symbol in it when n is
 * an affine chain of known operands around it (s + c, c - s, k*s,
 * (s + c)*k, a*b with a known, ...): peels one known operand per step,
 * inverting it.  SOLVE_BOUND binds the symbol; SOLVE_NONE: nothing to
 * solve now (n is known, has two unknowns, or a floor division);
 * SOLVE_NOFIT: no whole number >= 0 gives `want`. */
static int solve_dim(Run *r, int32_t n, int64_t want) {
  const tirrt_program_def_t *d = r->p->def;
  for (;;) {
    const tirrt_dim_node_t *x = &d->dims[n];
    if (r->dim_ok[n]) return SOLVE_NONE; /* known: checked against the input later */
    bool ka = x->op >= TIRRT_DIM_ADD && r->dim_ok[x->a], kb = x->op >= TIRRT_DIM_ADD && r->dim_ok[x->b];
    int64_t a = ka ? r->dim[x->a] : 0, b = kb ? r->dim[x->b] : 0, next;
    switch (x->op) {
    case TIRRT_DIM_SYM:
      if (r->sym_bound[x->value]) return SOLVE_NONE;
      if (want < 0) return SOLVE_NOFIT;
      r->sym_bound[x->value] = true;
      r->sym[x->value] = want;
      return SOLVE_BOUND;
    case TIRRT_DIM_ADD: /* a + u = want, or u + b = want */
      if (!ka && !kb) return SOLVE_NONE;
      if (__builtin_sub_overflow(want, ka ? a : b, &next)) return SOLVE_NOFIT;
      n = ka ? x->b : x->a;
      break;
    case TIRRT_DIM_SUB: /* a - u = want, or u - b = want */
      if (!ka && !kb) return SOLVE_NONE;
      if (ka ? __builtin_sub_overflow(a, want, &next) : __builtin_add_overflow(want, b, &next))
        return SOLVE_NOFIT;
      n = ka ? x->b : x->a;
      break;
    case TIRRT_DIM_MUL: { /* k * u = want */
      if (!ka && !kb) return SOLVE_NONE;
      int64_t k = ka ? a : b;
      if (k == 0) return want == 0 ? SOLVE_NONE : SOLVE_NOFIT; /* any u, or none */
      if (want % k != 0) return SOLVE_NOFIT;
      next = want / k;
      n = ka ? x->b : x->a;
      break;
    }
    default: return SOLVE_NONE; /* a floor division has many solutions */
    }
    want = next;
  }
}

/* Binds symbols from the arguments, then checks every argument's shape.
 * A dim that is a bare symbol binds it; then dims that are expressions
 * solve their one unknown symbol, repeatedly (one bound symbol can make
 * another dim solvable), and last every dim is checked against its
 * declared expression. */
static tirrt_status_t bind_args(Run *r, const tirrt_tensor_desc_t *descs) {
  const tirrt_program_def_t *d = r->p->def;
  for (int32_t i = 0; i < d->n_args; i++) {
    const tirrt_value_def_t *vd = &d->values[d->args[i]];
    const tirrt_tensor_desc_t *g = &descs[i];
    char got[160];
    tirrt_tensor_desc_format(g, got, sizeof got);
    if ((int32_t)g->dtype != vd->dtype || g->rank != vd->rank)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "input %s: expected %s[rank %d], got %s", vd->name,
                               tirrt_dtype_name((tirrt_dtype_t)vd->dtype), vd->rank, got);
    for (int32_t k = 0; k < vd->rank; k++) {
      const tirrt_dim_node_t *n = &d->dims[vd->dims[k]];
      if (n->op != TIRRT_DIM_SYM) continue;
      if (!r->sym_bound[n->value]) {
        r->sym_bound[n->value] = true;
        r->sym[n->value] = g->shape[k];
      } else if (r->sym[n->value] != g->shape[k]) {
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "input %s: dim %d is %lld but %s is already %lld", vd->name, k,
                                 (long long)g->shape[k], d->syms[n->value],
                                 (long long)r->sym[n->value]);
      }
    }
  }
  eval_dims(r);
  for (bool progress = true; progress;) {
    progress = false;
    for (int32_t i = 0; i < d->n_args; i++) {
      const tirrt_value_def_t *vd = &d->values[d->args[i]];
      for (int32_t k = 0; k < vd->rank; k++) {
        int res = solve_dim(r, vd->dims[k], descs[i].shape[k]);
        if (res == SOLVE_BOUND) {
          eval_dims(r); /* at most once per symbol */
          progress = true;
        } else if (res == SOLVE_NOFIT) {
          char e[160];
          size_t len = 0;
          format_dim(d, vd->dims[k], 0, e, sizeof e, &len);
          int32_t sym = unbound_sym(r, vd->dims[k]);
          return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                   "input %s: dim %d is %lld, which the declared %s cannot be "
                                   "for a whole number %s >= 0", vd->name, k,
                                   (long long)descs[i].shape[k], e, sym >= 0 ? d->syms[sym] : "");
        }
      }
    }
  }
  for (int32_t i = 0; i < d->n_args; i++) {
    tirrt_tensor_desc_t want;
    tirrt_status_t s = value_shape(r, d->args[i], &want);
    if (s) return s;
    for (int32_t k = 0; k < want.rank; k++)
      if (want.shape[k] != descs[i].shape[k]) {
        char w[160], g[160], e[160];
        size_t len = 0;
        tirrt_tensor_desc_format(&want, w, sizeof w);
        tirrt_tensor_desc_format(&descs[i], g, sizeof g);
        format_dim(d, d->values[d->args[i]].dims[k], 0, e, sizeof e, &len);
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "input %s: shape %s does not fit the declared %s (dim %d is %s)",
                                 d->values[d->args[i]].name, g, w, k, e);
      }
  }
  return NULL;
}

static void contiguous_strides(tirrt_view_t *v) {
  int64_t s = 1;
  for (int32_t k = v->rank - 1; k >= 0; k--) {
    v->strides[k] = s;
    s *= v->shape[k] ? v->shape[k] : 1;
  }
}

/* Strides that let `out` (shape given) view the same elements as `in` in
 * row-major order without a copy; false when no such strides exist.  Walks
 * chunks of input dims that are contiguous with each other and matches
 * them to runs of output dims with the same element count. */
static bool view_strides(const tirrt_view_t *in, tirrt_view_t *out) {
  int64_t numel = tirrt_view_numel(in);
  if (numel == 0 || in->rank == 0) {
    contiguous_strides(out);
    return true;
  }
  int32_t vd = out->rank - 1;
  int64_t base = in->strides[in->rank - 1], tnumel = 1, vnumel = 1;
  for (int32_t td = in->rank - 1; td >= 0; td--) {
    tnumel *= in->shape[td];
    bool chunk_end = td == 0 || (in->shape[td - 1] != 1 && in->strides[td - 1] != tnumel * base);
    if (!chunk_end) continue;
    while (vd >= 0 && (vnumel < tnumel || out->shape[vd] == 1)) {
      out->strides[vd] = vnumel * base;
      vnumel *= out->shape[vd];
      vd--;
    }
    if (vnumel != tnumel) return false;
    if (td > 0) {
      base = in->strides[td - 1];
      tnumel = vnumel = 1;
    }
  }
  return vd == -1;
}

static tirrt_status_t alloc_out(Run *r, int32_t v, tirrt_view_t *out) {
  tirrt_tensor_desc_t desc;
  size_t bytes;
  tirrt_status_t s = value_shape(r, v, &desc);
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
  if ((s = acquire(r->p, r->gpu, bytes, &r->buf[v]))) return s;
  *out = tirrt_view_contiguous(&desc, r->p->bufs[r->buf[v]].p);
  return NULL;
}

/* The output shares the input's buffer (a view). */
static tirrt_status_t alias(Run *r, int32_t in, int32_t v, tirrt_view_t *out) {
  tirrt_tensor_desc_t desc;
  tirrt_status_t s = value_shape(r, v, &desc);
  if (s) return s;
  out->dtype = desc.dtype;
  out->rank = desc.rank;
  memcpy(out->shape, desc.shape, sizeof out->shape);
  out->data = r->view[in].data;
  r->buf[v] = r->buf[in];
  if (r->buf[v] >= 0) r->p->bufs[r->buf[v]].refs++;
  return NULL;
}

/* Copies src into dst (converting dtypes) on the run's device. */
static tirrt_status_t copy_view(Run *r, const tirrt_view_t *src, const tirrt_view_t *dst) {
  (void)r;
#ifdef TIRRT_HAVE_CUDA
  if (r->gpu) return tirrt_cuda_copy(r->ctx, src, dst);
#endif
  return tirrt_cpu_copy(src, dst);
}

#define IN(k) (&r->view[inst->in[k]])
#define OPT(k) (inst->n_in > (k) ? IN(k) : NULL)

static tirrt_status_t exec(Run *r, const tirrt_inst_t *inst) {
  const tirrt_program_def_t *d = r->p->def;
  tirrt_view_t *out = &r->view[inst->out];
  tirrt_status_t s = NULL;
  switch (inst->op) {
  case TIRRT_OP_RESHAPE:
    if ((s = alias(r, inst->in[0], inst->out, out))) return s;
    if (view_strides(IN(0), out)) return NULL;
    /* No view exists: materialize a contiguous copy, then view that. */
    release(r->p, r->buf[inst->out]);
    if ((s = alloc_out(r, inst->out, out))) return s;
    {
      tirrt_view_t src = *IN(0), dst = *out;
      dst.rank = src.rank;
      memcpy(dst.shape, src.shape, sizeof dst.shape);
      contiguous_strides(&dst);
      return copy_view(r, &src, &dst);
    }
  case TIRRT_OP_PERMUTE:
    if ((s = alias(r, inst->in[0], inst->out, out))) return s;
    for (int32_t k = 0; k < out->rank; k++) out->strides[k] = IN(0)->strides[inst->i[k]];
    return NULL;
  case TIRRT_OP_EXPAND: {
    if ((s = alias(r, inst->in[0], inst->out, out))) return s;
    tirrt_view_t b;
    if ((s = tirrt_view_broadcast_to(IN(0), out->rank, out->shape, &b))) return s;
    memcpy(out->strides, b.strides, sizeof out->strides);
    return NULL;
  }
  case TIRRT_OP_SLICE: {
    if ((s = alias(r, inst->in[0], inst->out, out))) return s;
    int32_t dim = (int32_t)inst->i[0];
    int64_t start = r->dim[inst->d[0]], step = r->dim[inst->d[1]], n = out->shape[dim];
    int64_t size = IN(0)->shape[dim];
    /* Symbolic bounds were taken as in range at compile time: check here. */
    int64_t last = 0;
    if (!r->dim_ok[inst->d[0]] || !r->dim_ok[inst->d[1]] || step < 1 || start < 0 ||
        (n > 0 && (__builtin_mul_overflow(n - 1, step, &last) ||
                   __builtin_add_overflow(start, last, &last) || last >= size)))
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: slice [%lld : %lld : %lld] is out of range for a dim of %lld",
                               d->values[inst->out].name, (long long)start,
                               (long long)(start + n * step), (long long)step, (long long)size);
    memcpy(out->strides, IN(0)->strides, sizeof out->strides);
    out->strides[dim] = IN(0)->strides[dim] * step;
    if (n > 0)
      out->data = (char *)IN(0)->data +
                  start * IN(0)->strides[dim] * (int64_t)tirrt_dtype_size(out->dtype);
    return NULL;
  }
  case TIRRT_OP_COPY:
    if (tirrt_view_is_contiguous(IN(0))) { /* values are immutable: share it */
      if ((s = alias(r, inst->in[0], inst->out, out))) return s;
      memcpy(out->strides, IN(0)->strides, sizeof out->strides);
      return NULL;
    }
    if ((s = alloc_out(r, inst->out, out))) return s;
    return copy_view(r, IN(0), out);
  default: break;
  }
  if ((s = alloc_out(r, inst->out, out))) return s;
  const tirrt_view_t *x0 = inst->n_in ? IN(0) : NULL;
  /* A reduction or softmax of a 0-d input runs over shape [1]: dims 0
   * and -1 name torch's one wrapped dim, so the result is the element
   * (1 or 0 for softmax, log_softmax).  The same form on both devices. */
  tirrt_inst_t one;
  tirrt_view_t x1, o1;
  if ((inst->op == TIRRT_OP_REDUCE || inst->op == TIRRT_OP_SOFTMAX) && x0->rank == 0) {
    one = *inst;
    if (inst->op == TIRRT_OP_REDUCE) one.i[1] = 1;
    else one.i[0] = 0;
    x1 = *x0;
    o1 = *out;
    x1.rank = o1.rank = 1;
    x1.shape[0] = o1.shape[0] = 1;
    x1.strides[0] = o1.strides[0] = 1;
    x0 = &x1;
    out = &o1;
    inst = &one;
  }
  /* Reductions write the keepdim form on both devices; view the output
   * buffer so. */
  tirrt_view_t keepdim;
  if (inst->op == TIRRT_OP_REDUCE) {
    keepdim = *out;
    keepdim.rank = x0->rank;
    for (int32_t k = 0; k < keepdim.rank; k++)
      keepdim.shape[k] = (inst->i[1] >> k) & 1 ? 1 : x0->shape[k];
    contiguous_strides(&keepdim);
    out = &keepdim;
  }
#ifdef TIRRT_HAVE_CUDA
  if (r->gpu) {
    const tirrt_view_t *ins[TIRRT_MAX_RANK * 4];
    if (inst->n_in > (int32_t)(sizeof ins / sizeof *ins))
      return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "an instruction with %d inputs",
                               inst->n_in);
    for (int32_t k = 0; k < inst->n_in; k++) ins[k] = k ? IN(k) : x0;
    tirrt_cuda_exec_env_t env = {.ctx = r->ctx, .dim = r->dim, .seed = r->seed};
    return tirrt_cuda_exec(&env, inst, ins, out);
  }
#endif
  switch (inst->op) {
  case TIRRT_OP_UNARY: return tirrt_cpu_unary((tirrt_unop_t)inst->i[0], IN(0), out);
  case TIRRT_OP_BINARY: return tirrt_cpu_binary((tirrt_binop_t)inst->i[0], IN(0), IN(1), out);
  case TIRRT_OP_WHERE: return tirrt_cpu_where(IN(0), IN(1), IN(2), out);
  case TIRRT_OP_MASKED_FILL: return tirrt_cpu_masked_fill(IN(0), IN(1), inst->f[0], out);
  case TIRRT_OP_CAST: return tirrt_cpu_copy(IN(0), out);
  case TIRRT_OP_REDUCE:
    return tirrt_cpu_reduce((tirrt_redop_t)inst->i[0], x0, (uint32_t)inst->i[1], out);
  case TIRRT_OP_SOFTMAX: return tirrt_cpu_softmax(x0, (int32_t)inst->i[0], inst->i[1] != 0, out);
  case TIRRT_OP_LAYER_NORM:
    return tirrt_cpu_layer_norm(IN(0), OPT(1), OPT(2), (int32_t)inst->i[0], inst->f[0], out);
  case TIRRT_OP_RMS_NORM: return tirrt_cpu_rms_norm(IN(0), OPT(1), inst->f[0], out);
  case TIRRT_OP_MATMUL: return tirrt_cpu_matmul(IN(0), IN(1), out);
  case TIRRT_OP_LINEAR: return tirrt_cpu_linear(IN(0), IN(1), OPT(2), out);
  case TIRRT_OP_CONCAT: {
    tirrt_view_t ins[64];
    if (inst->n_in > 64)
      return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "concat of more than 64 inputs");
    for (int32_t k = 0; k < inst->n_in; k++) ins[k] = *IN(k);
    return tirrt_cpu_concat(inst->n_in, ins, (int32_t)inst->i[0], out);
  }
  case TIRRT_OP_ARANGE:
    return tirrt_cpu_arange(r->dim[inst->d[0]], r->dim[inst->d[1]], out);
  case TIRRT_OP_FULL: return tirrt_cpu_fill(inst->f[0], out);
  case TIRRT_OP_TRI: return tirrt_cpu_tri(IN(0), inst->i[0], inst->i[1] != 0, out);
  case TIRRT_OP_EMBEDDING: return tirrt_cpu_embedding(IN(0), IN(1), out);
  case TIRRT_OP_DROPOUT:
    return tirrt_cpu_dropout(IN(0), inst->f[0], r->seed, (uint64_t)inst->i[0], out);
  case TIRRT_OP_SDPA: {
    double scale = inst->f[0];
    int64_t e = IN(0)->shape[IN(0)->rank - 1];
    /* E = 0: every score is the empty sum 0 whatever the scale (torch's
     * 1/sqrt(0) = inf scales an empty q); any finite scale gives that. */
    if (isnan(scale)) scale = e > 0 ? 1.0 / sqrt((double)e) : 1.0;
    tirrt_sdpa_params_t prm = {.scale = scale,
                               .dropout_p = inst->f[1],
                               .is_causal = inst->i[0] != 0,
                               .bottom_right = inst->i[1] != 0,
                               .enable_gqa = inst->i[2] != 0,
                               .exact_mask = inst->i[5] != 0,
                               .seed = r->seed,
                               .stream = (uint64_t)inst->i[3]};
    return tirrt_cpu_sdpa(IN(0), IN(1), IN(2), OPT(3), &prm, out, NULL);
  }
  default:
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "opcode %d not handled", inst->op);
  }
}

/* Values whose last reader is instruction i die after it. */
static void release_after(Run *r, const tirrt_inst_t *inst, int32_t i) {
  tirrt_program_t *p = r->p;
  if (p->last_use[inst->out] == i && r->buf[inst->out] >= 0) {
    release(p, r->buf[inst->out]);
    r->buf[inst->out] = -1;
  }
  for (int32_t k = 0; k < inst->n_in; k++) {
    int32_t v = inst->in[k];
    if (p->last_use[v] == i && r->buf[v] >= 0) {
      release(p, r->buf[v]);
      r->buf[v] = -1;
    }
  }
}

#ifdef TIRRT_HAVE_CUDA
/* Uploads the constants (once per program) and loads the generated
 * kernels' modules (once per program; a kernel whose module does not load
 * on this GPU is left NULL and its instructions run one by one). */
static void gpu_unprepare(tirrt_program_t *p) {
  if (p->const_dev)
    for (int32_t v = 0; v < p->def->n_values; v++) tirrt_cuda_release(p->device, p->const_dev[v]);
  if (p->modules)
    for (int32_t k = 0; k < p->def->n_kernels; k++) tirrt_cuda_module_free(p->modules[k]);
  free(p->const_dev);
  free(p->modules);
  p->const_dev = NULL;
  p->modules = NULL;
  p->device = -1;
}

static tirrt_status_t gpu_prepare(Run *r, int32_t device) {
  tirrt_program_t *p = r->p;
  const tirrt_program_def_t *d = p->def;
  if (p->device >= 0 && p->device != device)
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED,
                             "%s: this program object already ran on GPU %d; create another "
                             "to run on GPU %d", d->name ? d->name : "program", p->device, device);
  if (p->device == device) return NULL;
  /* All or nothing: a failure (say, out of memory for the weights) leaves
   * the program unprepared, so a later run starts over. */
  p->device = device;
  p->const_dev = calloc((size_t)d->n_values + 1, sizeof *p->const_dev);
  p->modules = calloc((size_t)d->n_kernels + 1, sizeof *p->modules);
  tirrt_status_t s = !p->const_dev || !p->modules ? tirrt_oom_status() : NULL;
  for (int32_t v = 0; v < d->n_values && !s; v++) {
    const tirrt_value_def_t *vd = &d->values[v];
    if (vd->kind != TIRRT_VALUE_CONST) continue;
    s = tirrt_cuda_alloc(r->ctx, vd->nbytes, &p->const_dev[v]);
    if (!s) s = tirrt_cuda_copy_bytes(device, p->const_dev[v], vd->data, vd->nbytes,
                                      TIRRT_COPY_HOST_TO_DEVICE);
  }
  for (int32_t k = 0; k < d->n_kernels && !s; k++) {
    tirrt_cuda_module_t *m = NULL;
    tirrt_status_t ms = tirrt_cuda_module_load(r->ctx, &d->kernels[k], &m);
    if (ms) { /* e.g. a cubin for another GPU and no PTX: fall back */
      tirrt_status_free(ms);
      m = NULL;
    }
    p->modules[k] = m;
  }
  if (s) gpu_unprepare(p);
  return s;
}

/* Runs generated kernel k in place of its instructions; UNIMPLEMENTED when
 * it cannot (the caller then runs the instructions). */
static tirrt_status_t run_fused(Run *r, int32_t k) {
  tirrt_program_t *p = r->p;
  const tirrt_kernel_def_t *kd = &p->def->kernels[k];
  if (!p->modules[k])
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "kernel %s is not loaded", kd->name);
  const tirrt_view_t *ins[TIRRT_FUSED_MAX_OPERANDS], *outs[TIRRT_FUSED_MAX_OPERANDS];
  for (int32_t j = 0; j < kd->n_in; j++) ins[j] = &r->view[kd->in[j]];
  tirrt_status_t s = NULL;
  int32_t made = 0;
  for (; made < kd->n_out; made++) {
    int32_t v = kd->out[made];
    if ((s = alloc_out(r, v, &r->view[v]))) break;
    outs[made] = &r->view[v];
  }
  tirrt_tensor_desc_t sd;
  tirrt_view_t space;
  if (!s) s = value_shape(r, kd->space, &sd);
  if (!s) {
    space = tirrt_view_contiguous(&sd, NULL);
    s = tirrt_cuda_launch_fused(r->ctx, p->modules[k], kd, ins, outs, &space);
  }
  if (s)
    for (int32_t j = 0; j < made; j++) {
      release(p, r->buf[kd->out[j]]);
      r->buf[kd->out[j]] = -1;
    }
  return s;
}
#endif

#ifdef TIRRT_HAVE_CUDA
/* linear followed by gelu(tanh) of its result, which nothing else reads:
 * one cuBLASLt call with the bias and the activation in its epilogue.
 * *done says whether it ran; when not, the caller runs the instructions. */
static tirrt_status_t gpu_linear_act(Run *r, int32_t i, int32_t *next_kernel, bool *done) {
  const tirrt_program_def_t *d = r->p->def;
  const tirrt_inst_t *lin = &d->insts[i];
  *done = false;
  if (lin->op != TIRRT_OP_LINEAR || i + 1 >= d->n_insts) return NULL;
  const tirrt_inst_t *act = &d->insts[i + 1];
  if (act->op != TIRRT_OP_UNARY || act->n_in != 1 || act->in[0] != lin->out ||
      r->p->last_use[lin->out] != i + 1)
    return NULL;
  /* Not relu: Lt's relu epilogue need not keep NaN as the CPU does. */
  int kind = act->i[0] == TIRRT_UN_GELU_TANH ? TIRRT_ACT_GELU_TANH : TIRRT_ACT_NONE;
  if (kind == TIRRT_ACT_NONE) return NULL;
  /* Empty operands (K = 0, no rows) take the instructions' own path. */
  if (tirrt_view_numel(&r->view[lin->in[0]]) == 0 || tirrt_view_numel(&r->view[lin->in[1]]) == 0)
    return NULL;
  /* A generated kernel that starts at the activation must be only it. */
  bool skip_kernel = *next_kernel < d->n_kernels && d->kernels[*next_kernel].first_inst == i + 1;
  if (skip_kernel && d->kernels[*next_kernel].n_insts != 1) return NULL;
  tirrt_view_t *out = &r->view[act->out];
  tirrt_status_t s = alloc_out(r, act->out, out);
  if (s) return s;
  s = tirrt_cuda_linear_act(r->ctx, &r->view[lin->in[0]], &r->view[lin->in[1]],
                            lin->n_in > 2 ? &r->view[lin->in[2]] : NULL, kind, out);
  if (s && tirrt_status_code(s) == TIRRT_STATUS_UNIMPLEMENTED) {
    tirrt_status_free(s);
    release(r->p, r->buf[act->out]);
    r->buf[act->out] = -1;
    return NULL;
  }
  if (s) return s;
  release_after(r, lin, i);
  release_after(r, act, i + 1);
  if (skip_kernel) (*next_kernel)++;
  *done = true;
  return NULL;
}
#endif

/* Binds the arguments' views: host data as given; on a GPU, device
 * pointers as given or host data uploaded into device buffers. */
static tirrt_status_t bind_data(Run *r, const tirrt_run_options_t *o,
                                const tirrt_tensor_desc_t *arg_descs, const void *const *arg_datas,
                                void **uploads) {
  const tirrt_program_def_t *d = r->p->def;
  for (int32_t i = 0; i < d->n_args; i++) {
    tirrt_tensor_desc_t desc = arg_descs[i];
    void *data = (void *)arg_datas[i];
#ifdef TIRRT_HAVE_CUDA
    if (r->gpu && !o->device_pointers) {
      size_t bytes;
      tirrt_status_t s = tirrt_tensor_desc_check(&desc, NULL, &bytes);
      if (!s) s = tirrt_cuda_alloc(r->ctx, bytes, &uploads[i]);
      if (!s && bytes)
        s = tirrt_cuda_copy_bytes(o->device_index, uploads[i], data, bytes,
                                  TIRRT_COPY_HOST_TO_DEVICE);
      if (s) return s;
      data = uploads[i];
    }
#else
    (void)o;
    (void)uploads;
#endif
    r->view[d->args[i]] = tirrt_view_contiguous(&desc, data);
  }
  for (int32_t v = 0; v < d->n_values; v++) {
    const tirrt_value_def_t *vd = &d->values[v];
    if (vd->kind != TIRRT_VALUE_CONST) continue;
    tirrt_tensor_desc_t desc;
    size_t bytes;
    tirrt_status_t s = value_shape(r, v, &desc);
    if (!s) s = tirrt_tensor_desc_check(&desc, NULL, &bytes);
    if (s) return s;
    if (bytes != vd->nbytes)
      return tirrt_make_status(TIRRT_STATUS_INTERNAL, "constant %s has %llu bytes, expected %zu",
                               vd->name, (unsigned long long)vd->nbytes, bytes);
    void *data = (void *)vd->data;
#ifdef TIRRT_HAVE_CUDA
    if (r->gpu) data = r->p->const_dev[v];
#endif
    r->view[v] = tirrt_view_contiguous(&desc, data);
  }
  return NULL;
}

typedef struct {
  uintptr_t lo, hi; /* [lo, hi) */
  int32_t index;    /* argument i, or result -1 - j */
} Span;

static int span_cmp(const void *a, const void *b) {
  const Span *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The caller's result buffers: present unless the result has no elements
 * (NULL is then fine), and overlapping no argument and no other result.
 * A result is written while later instructions may still read the
 * arguments, so an overlap would give wrong answers silently.  One sort
 * and a sweep: after sorting by start, a span overlaps an earlier one iff
 * it starts before the largest end seen so far. */
static tirrt_status_t check_result_buffers(Run *r, const tirrt_tensor_desc_t *arg_descs,
                                           const void *const *arg_datas,
                                           void *const *result_buffers) {
  const tirrt_program_def_t *d = r->p->def;
  Span *sp = malloc(((size_t)d->n_args + (size_t)d->n_results + 1) * sizeof *sp);
  if (!sp) return tirrt_oom_status();
  int32_t n = 0;
  tirrt_status_t s = NULL;
  for (int32_t j = 0; j < d->n_results && !s; j++) {
    tirrt_tensor_desc_t desc;
    size_t bytes = 0;
    if (!(s = value_shape(r, d->results[j], &desc))) s = tirrt_tensor_desc_check(&desc, NULL, &bytes);
    if (!s && bytes && !result_buffers[j])
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "result buffer %d is NULL", j);
    if (!s && bytes)
      sp[n++] = (Span){(uintptr_t)result_buffers[j], (uintptr_t)result_buffers[j] + bytes, -1 - j};
  }
  for (int32_t i = 0; i < d->n_args && !s; i++) {
    size_t bytes = 0;
    s = tirrt_tensor_desc_check(&arg_descs[i], NULL, &bytes);
    if (!s && bytes && arg_datas[i])
      sp[n++] = (Span){(uintptr_t)arg_datas[i], (uintptr_t)arg_datas[i] + bytes, i};
  }
  if (!s) qsort(sp, (size_t)n, sizeof *sp, span_cmp);
  int32_t far_any = -1, far_res = -1; /* the spans reaching furthest: any, results */
  for (int32_t k = 0; k < n && !s; k++) {
    int32_t other = sp[k].index < 0 ? far_any : far_res;
    if (other >= 0 && sp[other].hi > sp[k].lo) {
      const Span *a = sp[k].index < 0 ? &sp[k] : &sp[other], *b = a == &sp[k] ? &sp[other] : &sp[k];
      char what[160];
      if (b->index >= 0) snprintf(what, sizeof what, "input %s", d->values[d->args[b->index]].name);
      else snprintf(what, sizeof what, "output %d", -1 - b->index);
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "output %d overlaps %s in memory; outputs must not share memory with "
                            "the inputs or with each other", -1 - a->index, what);
    }
    if (far_any < 0 || sp[k].hi > sp[far_any].hi) far_any = k;
    if (sp[k].index < 0 && (far_res < 0 || sp[k].hi > sp[far_res].hi)) far_res = k;
  }
  free(sp);
  return s;
}

tirrt_status_t tirrt_program_execute(tirrt_program_t *p, const tirrt_run_options_t *o,
                                     const tirrt_tensor_desc_t *arg_descs,
                                     const void *const *arg_datas, void *const *result_buffers,
                                     tirrt_tensor_desc_t *out_descs, void **out_datas,
                                     uint64_t *out_peak) {
  const tirrt_program_def_t *d = p->def;
  tirrt_run_options_t defaults = {0};
  if (!o) o = &defaults;
  if (o->device != TIRRT_DEVICE_CPU && o->device != TIRRT_DEVICE_CUDA)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "unknown device kind %d", o->device);
  if (o->device_pointers && (o->device != TIRRT_DEVICE_CUDA || !result_buffers))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "device pointers need the CUDA device and caller result buffers");
#ifndef TIRRT_HAVE_CUDA
  if (o->device == TIRRT_DEVICE_CUDA)
    return tirrt_make_status(TIRRT_STATUS_UNAVAILABLE,
                             "this runtime was built without CUDA; run with --device=cpu");
#endif
  Run r = {.p = p, .seed = o->seed, .gpu = o->device == TIRRT_DEVICE_CUDA};
  r.sym = calloc((size_t)d->n_syms + 1, sizeof *r.sym);
  r.sym_bound = calloc((size_t)d->n_syms + 1, sizeof *r.sym_bound);
  r.dim = calloc((size_t)d->n_dims + 1, sizeof *r.dim);
  r.dim_ok = calloc((size_t)d->n_dims + 1, sizeof *r.dim_ok);
  r.view = p->view;
  r.buf = p->vbuf;
  void **results = calloc((size_t)d->n_results + 1, sizeof *results);
  void **uploads = calloc((size_t)d->n_args + 1, sizeof *uploads);
  tirrt_status_t s = NULL;
#ifdef TIRRT_HAVE_CUDA
  cudaStream_t saved_stream = NULL;
  bool saved_tf32 = false, locked = false;
  int saved_device = -1;
#endif
  if (!r.sym || !r.sym_bound || !r.dim || !r.dim_ok || !r.view || !r.buf || !results || !uploads) {
    s = tirrt_oom_status();
    goto done;
  }
  for (int32_t v = 0; v < d->n_values; v++) r.buf[v] = -1;
  p->live_bytes = p->peak_bytes = 0;
  if ((s = bind_args(&r, arg_descs))) goto done;
  if (result_buffers && (s = check_result_buffers(&r, arg_descs, arg_datas, result_buffers)))
    goto done;
#ifdef TIRRT_HAVE_CUDA
  if (r.gpu) {
    cudaGetDevice(&saved_device);
    if ((s = tirrt_cuda_ctx_get(o->device_index, &r.ctx))) goto done;
    /* One run at a time per GPU: the context's stream, TF32 mode, cuBLAS
     * handle and caching allocator are shared by every program on it. */
    tirrt_cuda_run_lock(r.ctx);
    locked = true;
    saved_stream = r.ctx->stream;
    saved_tf32 = r.ctx->allow_tf32;
    /* Caller's memory with no stream named: run on the legacy default
     * stream, which orders after the caller's default-stream work. */
    cudaStream_t st = o->cuda_stream ? (cudaStream_t)o->cuda_stream
                      : o->device_pointers ? cudaStreamLegacy
                                           : r.ctx->stream;
    if (st != r.ctx->stream) {
      r.ctx->stream = st;
      if ((s = tirrt_cuda_set_blas_stream(r.ctx))) goto done;
    }
    r.ctx->allow_tf32 = o->allow_tf32 != 0;
    if ((s = gpu_prepare(&r, o->device_index))) goto done;
  }
#endif
  if ((s = bind_data(&r, o, arg_descs, arg_datas, uploads))) goto done;
  /* A result made by an instruction is made in the caller's buffer, when
   * the caller gave buffers where the run computes (saves a copy); a value
   * returned twice keeps the copies. */
  if (result_buffers && (r.gpu == (o->device_pointers != 0))) {
    r.direct = p->direct;
    for (int32_t j = 0; j < d->n_results; j++)
      if (r.p->result_base[j] >= 0) r.direct[r.p->result_base[j]] = result_buffers[j];
  }
  int32_t next_kernel = 0;
  for (int32_t i = 0; i < d->n_insts; i++) {
    const tirrt_inst_t *inst = &d->insts[i];
#ifdef TIRRT_HAVE_CUDA
    if (r.gpu && inst->op == TIRRT_OP_LINEAR) {
      bool fused = false;
      if ((s = gpu_linear_act(&r, i, &next_kernel, &fused))) {
        s = tirrt_status_annotate(s, "%s", d->values[d->insts[i + 1].out].name);
        goto done;
      }
      if (fused) {
        i++;
        continue;
      }
    }
    if (r.gpu && next_kernel < d->n_kernels && d->kernels[next_kernel].first_inst == i) {
      const tirrt_kernel_def_t *kd = &d->kernels[next_kernel++];
      tirrt_status_t ks = run_fused(&r, next_kernel - 1);
      if (!ks) {
        for (int32_t j = i; j < i + kd->n_insts; j++) release_after(&r, &d->insts[j], j);
        i += kd->n_insts - 1;
        continue;
      }
      if (tirrt_status_code(ks) != TIRRT_STATUS_UNIMPLEMENTED) {
        s = tirrt_status_annotate(ks, "generated kernel %s", kd->name);
        goto done;
      }
      tirrt_status_free(ks); /* run the instructions one by one */
    }
#else
    (void)next_kernel;
#endif
    if ((s = exec(&r, inst))) {
      s = tirrt_status_annotate(s, "%s", d->values[inst->out].name);
      goto done;
    }
    release_after(&r, inst, i);
  }
  /* Results: dense copies, into the caller's buffers or malloc'd ones. */
  for (int32_t j = 0; j < d->n_results; j++) {
    const tirrt_view_t *v = &r.view[d->results[j]];
    tirrt_tensor_desc_t desc = {.dtype = v->dtype, .rank = v->rank};
    memcpy(desc.shape, v->shape, sizeof desc.shape);
    size_t bytes;
    if ((s = tirrt_tensor_desc_check(&desc, NULL, &bytes))) goto done;
    void *dst = result_buffers ? result_buffers[j] : NULL;
    if (result_buffers && bytes == 0) { /* empty: nothing to write, its buffer may be NULL */
      out_descs[j] = desc;
      continue;
    }
    if (!dst && !(dst = results[j] = malloc(bytes ? bytes : 1))) {
      s = tirrt_oom_status();
      goto done;
    }
    out_descs[j] = desc;
    if (v->data == dst && tirrt_view_is_contiguous(v)) continue; /* made in place */
    if (!r.gpu) {
      tirrt_view_t dv = tirrt_view_contiguous(&desc, dst);
      if ((s = tirrt_cpu_copy(v, &dv))) goto done;
      continue;
    }
#ifdef TIRRT_HAVE_CUDA
    if (o->device_pointers) { /* straight into the caller's device buffer */
      tirrt_view_t dv = tirrt_view_contiguous(&desc, dst);
      if ((s = tirrt_cuda_copy(r.ctx, v, &dv))) goto done;
      continue;
    }
    void *tmp = NULL; /* gather on the device, then one transfer */
    if ((s = tirrt_cuda_alloc(r.ctx, bytes, &tmp))) goto done;
    tirrt_view_t dv = tirrt_view_contiguous(&desc, tmp);
    s = tirrt_cuda_copy(r.ctx, v, &dv);
    if (!s) s = tirrt_cuda_copy_bytes(o->device_index, dst, tmp, bytes, TIRRT_COPY_DEVICE_TO_HOST);
    tirrt_cuda_free(r.ctx, tmp);
    if (s) goto done;
#endif
  }
#ifdef TIRRT_HAVE_CUDA
  if (r.gpu) {
    cudaError_t e = cudaStreamSynchronize(r.ctx->stream);
    if (e != cudaSuccess) {
      s = tirrt_cuda_status(e, "cudaStreamSynchronize", __FILE__, __LINE__);
      goto done;
    }
  }
#endif
  if (out_datas)
    for (int32_t j = 0; j < d->n_results; j++) out_datas[j] = result_buffers ? result_buffers[j] : results[j];
  if (out_peak) *out_peak = p->peak_bytes;
done:
  if (s)
    for (int32_t j = 0; j < d->n_results; j++) free(results[j]);
#ifdef TIRRT_HAVE_CUDA
  if (r.gpu && r.ctx) {
    if (s) cudaStreamSynchronize(r.ctx->stream); /* nothing may still use the buffers */
    if (uploads)
      for (int32_t i = 0; i < d->n_args; i++) tirrt_cuda_free(r.ctx, uploads[i]);
    if (r.ctx->stream != saved_stream) {
      r.ctx->stream = saved_stream;
      tirrt_status_free(tirrt_cuda_set_blas_stream(r.ctx));
    }
    r.ctx->allow_tf32 = saved_tf32;
    if (locked) tirrt_cuda_run_unlock(r.ctx);
  }
  if (r.gpu && saved_device >= 0) cudaSetDevice(saved_device); /* the caller's current GPU */
#endif
  /* Everything still held goes back to the pool for the next run. */
  pool_reset(p);
  if (r.direct) /* all NULL again for the next run */
    for (int32_t j = 0; j < d->n_results; j++)
      if (p->result_base[j] >= 0) r.direct[p->result_base[j]] = NULL;
  free(uploads);
  free(results);
  free(r.sym);
  free(r.sym_bound);
  free(r.dim);
  free(r.dim_ok);
  return s;
}

tirrt_status_t tirrt_program_run(tirrt_program_t *p, const tirrt_tensor_desc_t *arg_descs,
                                 const void *const *arg_datas, uint64_t seed,
                                 tirrt_tensor_desc_t *out_descs, void **out_datas,
                                 uint64_t *out_peak) {
  tirrt_run_options_t o = {.device = TIRRT_DEVICE_CPU, .seed = seed};
  return tirrt_program_execute(p, &o, arg_descs, arg_datas, NULL, out_descs, out_datas, out_peak);
}

tirrt_status_t tirrt_program_result_descs(const tirrt_program_t *p,
                                          const tirrt_tensor_desc_t *arg_descs,
                                          tirrt_tensor_desc_t *out_descs) {
  const tirrt_program_def_t *d = p->def;
  Run r = {.p = (tirrt_program_t *)p};
  r.sym = calloc((size_t)d->n_syms + 1, sizeof *r.sym);
  r.sym_bound = calloc((size_t)d->n_syms + 1, sizeof *r.sym_bound);
  r.dim = calloc((size_t)d->n_dims + 1, sizeof *r.dim);
  r.dim_ok = calloc((size_t)d->n_dims + 1, sizeof *r.dim_ok);
  tirrt_status_t s = NULL;
  if (!r.sym || !r.sym_bound || !r.dim || !r.dim_ok) s = tirrt_oom_status();
  if (!s) s = bind_args(&r, arg_descs);
  for (int32_t j = 0; !s && j < d->n_results; j++) s = value_shape(&r, d->results[j], &out_descs[j]);
  free(r.sym);
  free(r.sym_bound);
  free(r.dim);
  free(r.dim_ok);
  return s;
}

tirrt_status_t tirrt_copy_strided(const tirrt_tensor_desc_t *desc, const void *src,
                                  const int64_t *src_strides, void *dst,
                                  const int64_t *dst_strides) {
  tirrt_status_t s = tirrt_tensor_desc_check(desc, NULL, NULL);
  if (s) return s;
  tirrt_view_t a = tirrt_view_contiguous(desc, (void *)src), b = tirrt_view_contiguous(desc, dst);
  if (src_strides) memcpy(a.strides, src_strides, (size_t)desc->rank * sizeof *a.strides);
  if (dst_strides) memcpy(b.strides, dst_strides, (size_t)desc->rank * sizeof *b.strides);
  return tirrt_cpu_copy(&a, &b);
}
