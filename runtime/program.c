/* program.c — runs compiled tirc programs on the CPU or a CUDA GPU.
 *
 * A program is the table of tirrt.h: values, dim expressions and
 * instructions.  Running it binds the symbols from the arguments' shapes,
 * evaluates every dim, and executes the instructions in order.  Shape ops
 * (reshape, permute, expand, slice) produce views of their input when the
 * strides allow, so they move no data.  Intermediate buffers come from a
 * pool: a buffer returns to the pool when the last value viewing it is dead,
 * and a later instruction reuses it (best fit), which bounds peak memory by
 * what is live rather than by the program's length.  The walk knows no
 * device: a backend (backend.h; cpu_backend.c, and cuda_backend.c in CUDA
 * builds) gives it memory and copies and runs each non-view instruction,
 * and a generated kernel, when the program has one for a run of
 * instructions and the backend can launch it, replaces that run.  The
 * buffer pool is pool.c; binding symbols, shapes and the run's inputs and
 * outputs is bind.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "program_internal.h"

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

/* The inputs each opcode takes: at least, at most. */
static const int32_t N_IN[TIRRT_OP_COUNT][2] = {
    [TIRRT_OP_UNARY] = {1, 1},      [TIRRT_OP_BINARY] = {2, 2},   [TIRRT_OP_WHERE] = {3, 3},
    [TIRRT_OP_MASKED_FILL] = {2, 2}, [TIRRT_OP_CAST] = {1, 1},    [TIRRT_OP_REDUCE] = {1, 1},
    [TIRRT_OP_SOFTMAX] = {1, 1},    [TIRRT_OP_LAYER_NORM] = {1, 3}, [TIRRT_OP_RMS_NORM] = {1, 2},
    [TIRRT_OP_MATMUL] = {2, 2},     [TIRRT_OP_LINEAR] = {2, 3},   [TIRRT_OP_RESHAPE] = {1, 1},
    [TIRRT_OP_PERMUTE] = {1, 1},    [TIRRT_OP_EXPAND] = {1, 1},   [TIRRT_OP_SLICE] = {1, 1},
    [TIRRT_OP_CONCAT] = {1, INT32_MAX}, [TIRRT_OP_COPY] = {1, 1}, [TIRRT_OP_ARANGE] = {0, 0},
    [TIRRT_OP_FULL] = {0, 0},       [TIRRT_OP_TRI] = {1, 1},      [TIRRT_OP_EMBEDDING] = {2, 2},
    [TIRRT_OP_DROPOUT] = {1, 1},    [TIRRT_OP_SDPA] = {3, 4},     [TIRRT_OP_PAGED_SDPA] = {5, 5},
};

/* What is wrong with instruction in's input count or attributes (every
 * field that indexes something: dims, dim nodes, permutation entries,
 * masks, operation and kernel numbers), or NULL.  Inputs and output are
 * already in range. */
static const char *check_attrs(const tirrt_program_def_t *d, const tirrt_inst_t *in) {
  if (in->n_in < N_IN[in->op][0] || in->n_in > N_IN[in->op][1]) return "number of inputs";
  const tirrt_inst_attrs_t *a = &in->a;
  int32_t xr = in->n_in ? d->values[in->in[0]].rank : 0, orank = d->values[in->out].rank;
  int32_t xr1 = xr ? xr : 1; /* 0-d inputs run as shape [1] (exec) */
  switch (in->op) {
  case TIRRT_OP_UNARY:
    return a->unary.fn < 0 || a->unary.fn >= TIRRT_UN_COUNT ? "unary op" : NULL;
  case TIRRT_OP_BINARY:
    return a->binary.fn < 0 || a->binary.fn >= TIRRT_BIN_COUNT ? "binary op" : NULL;
  case TIRRT_OP_REDUCE:
    if (a->reduce.fn < TIRRT_RED_SUM || a->reduce.fn >= TIRRT_RED_COUNT) return "reduce op";
    return xr < 32 && a->reduce.dims_mask >> xr ? "reduce dims mask" : NULL;
  case TIRRT_OP_SOFTMAX:
    return a->softmax.dim < 0 || a->softmax.dim >= xr1 ? "softmax dim" : NULL;
  case TIRRT_OP_LAYER_NORM:
    return a->norm.ndims < 0 || a->norm.ndims > xr ? "layer_norm dims" : NULL;
  case TIRRT_OP_LINEAR:
    return a->linear.act < 0 || a->linear.act >= TIRRT_ACT_COUNT ? "linear activation" : NULL;
  case TIRRT_OP_PERMUTE: {
    if (orank != xr) return "permute rank";
    uint32_t seen = 0;
    for (int32_t k = 0; k < xr; k++) {
      int32_t e = a->permute.perm[k];
      if (e < 0 || e >= xr || (seen >> e & 1)) return "permutation";
      seen |= 1u << e;
    }
    return NULL;
  }
  case TIRRT_OP_SLICE:
    if (a->slice.dim < 0 || a->slice.dim >= xr || orank != xr) return "slice dim";
    return a->slice.start < 0 || a->slice.start >= d->n_dims || a->slice.step < 0 ||
                   a->slice.step >= d->n_dims
               ? "slice bound (dim node)"
               : NULL;
  case TIRRT_OP_CONCAT:
    return a->concat.dim < 0 || a->concat.dim >= xr1 ? "concat dim" : NULL;
  case TIRRT_OP_ARANGE:
    return a->arange.start < 0 || a->arange.start >= d->n_dims || a->arange.step < 0 ||
                   a->arange.step >= d->n_dims
               ? "arange bound (dim node)"
               : NULL;
  case TIRRT_OP_SDPA:
    if (xr < 2 || d->values[in->in[1]].rank < 2 || d->values[in->in[2]].rank < 2)
      return "sdpa operand rank";
    return a->sdpa.kernel < TIRRT_SDPA_ANY || a->sdpa.kernel >= TIRRT_SDPA_KERNEL_COUNT
               ? "sdpa kernel"
               : NULL;
  case TIRRT_OP_PAGED_SDPA:
    if (xr != 4 || d->values[in->in[1]].rank != 4 || d->values[in->in[2]].rank != 4 ||
        d->values[in->in[3]].rank != 2 || d->values[in->in[4]].rank != 1 ||
        d->values[in->in[3]].dtype != TIRRT_DTYPE_I32 || d->values[in->in[4]].dtype != TIRRT_DTYPE_I32)
      return "paged_sdpa operands";
    return NULL;
  default: return NULL;
  }
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
    if (in->n_in < 0 || (in->n_in > 0 && !in->in)) return bad_def(def, "input list", i);
    for (int32_t k = 0; k < in->n_in; k++)
      if (in->in[k] < 0 || in->in[k] >= def->n_values) return bad_def(def, "input", i);
    const char *bad = check_attrs(def, in);
    if (bad) return bad_def(def, bad, i);
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
  for (int32_t i = 0; i < def->n_insts; i++)
    p->uses_seed |= def->insts[i].op == TIRRT_OP_DROPOUT ||
                    (def->insts[i].op == TIRRT_OP_SDPA && def->insts[i].a.sdpa.dropout_p != 0);
  s = check_kernels(def, lu);
  if (s) {
    tirrt_program_free(p);
    return s;
  }
  *out = p;
  return NULL;
}

void tirrt_program_free(tirrt_program_t *p) {
  if (!p) return;
  for (int32_t i = 0; i < p->n_bufs; i++) pool_free_buffer(p, &p->bufs[i]);
  if (p->dev_backend && p->dev_backend->unprepare)
    p->dev_backend->unprepare(p->def, p->device, p->prep);
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

/* ------------------------------------------------------------ running */

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

#define IN(k) (&r->view[inst->in[k]])

/* Runs one instruction: views here, everything else on the run's backend. */
static tirrt_status_t exec(Run *r, const tirrt_inst_t *inst) {
  const tirrt_program_def_t *d = r->p->def;
  tirrt_view_t *out = &r->view[inst->out];
  tirrt_status_t s = NULL;
  switch (inst->op) {
  case TIRRT_OP_RESHAPE:
    if ((s = pool_alias(r, inst->in[0], inst->out, out))) return s;
    if (view_strides(IN(0), out)) return NULL;
    /* No view exists: materialize a contiguous copy, then view that. */
    pool_release(r->p, r->buf[inst->out]);
    if ((s = pool_alloc_out(r, inst->out, out))) return s;
    {
      tirrt_view_t src = *IN(0), dst = *out;
      dst.rank = src.rank;
      memcpy(dst.shape, src.shape, sizeof dst.shape);
      contiguous_strides(&dst);
      return r->be->copy(r->bs, &src, &dst);
    }
  case TIRRT_OP_PERMUTE:
    if ((s = pool_alias(r, inst->in[0], inst->out, out))) return s;
    for (int32_t k = 0; k < out->rank; k++) out->strides[k] = IN(0)->strides[inst->a.permute.perm[k]];
    return NULL;
  case TIRRT_OP_EXPAND: {
    if ((s = pool_alias(r, inst->in[0], inst->out, out))) return s;
    tirrt_view_t b;
    if ((s = tirrt_view_broadcast_to(IN(0), out->rank, out->shape, &b))) return s;
    memcpy(out->strides, b.strides, sizeof out->strides);
    return NULL;
  }
  case TIRRT_OP_SLICE: {
    if ((s = pool_alias(r, inst->in[0], inst->out, out))) return s;
    int32_t dim = inst->a.slice.dim, ds = inst->a.slice.start, dt = inst->a.slice.step;
    int64_t start = r->dim[ds], step = r->dim[dt], n = out->shape[dim];
    int64_t size = IN(0)->shape[dim];
    /* Symbolic bounds were taken as in range at compile time: check here. */
    int64_t last = 0;
    if (!r->dim_ok[ds] || !r->dim_ok[dt] || step < 1 || start < 0 ||
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
      if ((s = pool_alias(r, inst->in[0], inst->out, out))) return s;
      memcpy(out->strides, IN(0)->strides, sizeof out->strides);
      return NULL;
    }
    if ((s = pool_alloc_out(r, inst->out, out))) return s;
    return r->be->copy(r->bs, IN(0), out);
  default: break;
  }
  if (!r->be->supports(inst))
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "the %s backend has no kernel for opcode %d",
                             r->be->name, inst->op);
  if ((s = pool_alloc_out(r, inst->out, out))) return s;
  const tirrt_view_t *x0 = inst->n_in ? IN(0) : NULL;
  /* A reduction or softmax of a 0-d input runs over shape [1]: dims 0
   * and -1 name torch's one wrapped dim, so the result is the element
   * (1 or 0 for softmax, log_softmax).  The same form on every backend. */
  tirrt_inst_t one;
  tirrt_view_t x1, o1;
  if ((inst->op == TIRRT_OP_REDUCE || inst->op == TIRRT_OP_SOFTMAX) && x0->rank == 0) {
    one = *inst;
    if (inst->op == TIRRT_OP_REDUCE) one.a.reduce.dims_mask = 1;
    else one.a.softmax.dim = 0;
    x1 = *x0;
    o1 = *out;
    x1.rank = o1.rank = 1;
    x1.shape[0] = o1.shape[0] = 1;
    x1.strides[0] = o1.strides[0] = 1;
    x0 = &x1;
    out = &o1;
    inst = &one;
  }
  /* Reductions write the keepdim form on every backend; view the output
   * buffer so. */
  tirrt_view_t keepdim;
  if (inst->op == TIRRT_OP_REDUCE) {
    keepdim = *out;
    keepdim.rank = x0->rank;
    for (int32_t k = 0; k < keepdim.rank; k++)
      keepdim.shape[k] = (inst->a.reduce.dims_mask >> k) & 1 ? 1 : x0->shape[k];
    contiguous_strides(&keepdim);
    out = &keepdim;
  }
  const tirrt_view_t *ins[TIRRT_MAX_RANK * 4];
  if (inst->n_in > (int32_t)(sizeof ins / sizeof *ins))
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "an instruction with %d inputs", inst->n_in);
  for (int32_t k = 0; k < inst->n_in; k++) ins[k] = k ? IN(k) : x0;
  tirrt_exec_env_t env = {.dim = r->dim, .seed = r->seed};
  return r->be->run(r->bs, &env, inst, ins, out);
}

/* Runs generated kernel k in place of its instructions; UNIMPLEMENTED when
 * the backend cannot (the caller then runs the instructions). */
static tirrt_status_t run_generated(Run *r, int32_t k) {
  tirrt_program_t *p = r->p;
  const tirrt_kernel_def_t *kd = &p->def->kernels[k];
  const tirrt_view_t *ins[TIRRT_FUSED_MAX_OPERANDS], *outs[TIRRT_FUSED_MAX_OPERANDS];
  for (int32_t j = 0; j < kd->n_in; j++) ins[j] = &r->view[kd->in[j]];
  tirrt_status_t s = NULL;
  int32_t made = 0;
  for (; made < kd->n_out; made++) {
    int32_t v = kd->out[made];
    if ((s = pool_alloc_out(r, v, &r->view[v]))) break;
    outs[made] = &r->view[v];
  }
  tirrt_tensor_desc_t sd;
  tirrt_view_t space;
  if (!s) s = bind_value_shape(r, kd->space, &sd);
  if (!s) {
    space = tirrt_view_contiguous(&sd, NULL);
    s = r->be->run_kernel(r->bs, p->prep, k, kd, ins, outs, &space);
  }
  if (s)
    for (int32_t j = 0; j < made; j++) {
      pool_release(p, r->buf[kd->out[j]]);
      r->buf[kd->out[j]] = -1;
    }
  return s;
}

/* The device state of a device backend for this program (made once per
 * program: one device per program object). */
static tirrt_status_t prepare(Run *r, int32_t device) {
  tirrt_program_t *p = r->p;
  if (!r->be->prepare) return NULL;
  if (p->dev_backend && p->device != device)
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED,
                             "%s: this program object already ran on GPU %d; create another "
                             "to run on GPU %d", p->def->name ? p->def->name : "program",
                             p->device, device);
  if (p->dev_backend) return NULL;
  tirrt_status_t s = r->be->prepare(r->bs, p->def, device, &p->prep);
  if (s) return s;
  p->dev_backend = r->be;
  p->device = device;
  return NULL;
}

/* Result j's value v as a dense copy in dst (host memory, or the device's
 * with device_pointers). */
static tirrt_status_t copy_result(Run *r, const tirrt_run_options_t *o, const tirrt_view_t *v,
                                  const tirrt_tensor_desc_t *desc, size_t bytes, void *dst) {
  if (!r->dev || o->device_pointers) { /* straight into dst, where the run computes */
    tirrt_view_t dv = tirrt_view_contiguous(desc, dst);
    return r->be->copy(r->bs, v, &dv);
  }
  void *tmp = NULL; /* gather on the device, then one transfer */
  tirrt_status_t s = r->be->alloc(r->bs, bytes, &tmp);
  if (s) return s;
  tirrt_view_t dv = tirrt_view_contiguous(desc, tmp);
  s = r->be->copy(r->bs, v, &dv);
  if (!s) s = r->be->download(r->bs, dst, tmp, bytes);
  r->be->free(r->bs, tmp);
  return s;
}

/* The instructions, then the results: dense copies, into the caller's
 * buffers or malloc'd ones (results[j]). */
static tirrt_status_t run_body(Run *r, const tirrt_run_options_t *o, void *const *result_buffers,
                               void **results, tirrt_tensor_desc_t *out_descs) {
  const tirrt_program_def_t *d = r->p->def;
  const tirrt_backend_t *be = r->be;
  tirrt_status_t s = NULL;
  int32_t next_kernel = 0;
  for (int32_t i = 0; i < d->n_insts; i++) {
    const tirrt_inst_t *inst = &d->insts[i];
    if (be->run_kernel && next_kernel < d->n_kernels && d->kernels[next_kernel].first_inst == i) {
      const tirrt_kernel_def_t *kd = &d->kernels[next_kernel++];
      tirrt_status_t ks = run_generated(r, next_kernel - 1);
      if (!ks) {
        for (int32_t j = i; j < i + kd->n_insts; j++) pool_release_after(r, &d->insts[j], j);
        i += kd->n_insts - 1;
        continue;
      }
      if (tirrt_status_code(ks) != TIRRT_STATUS_UNIMPLEMENTED)
        return tirrt_status_annotate(ks, "generated kernel %s", kd->name);
      tirrt_status_free(ks); /* run the instructions one by one */
    }
    if ((s = exec(r, inst))) return tirrt_status_annotate(s, "%s", d->values[inst->out].name);
    pool_release_after(r, inst, i);
  }
  for (int32_t j = 0; j < d->n_results; j++) {
    const tirrt_view_t *v = &r->view[d->results[j]];
    tirrt_tensor_desc_t desc = {.dtype = v->dtype, .rank = v->rank};
    memcpy(desc.shape, v->shape, sizeof desc.shape);
    size_t bytes;
    if ((s = tirrt_tensor_desc_check(&desc, NULL, &bytes))) return s;
    void *dst = result_buffers ? result_buffers[j] : NULL;
    if (result_buffers && bytes == 0) { /* empty: nothing to write, its buffer may be NULL */
      out_descs[j] = desc;
      continue;
    }
    if (!dst && !(dst = results[j] = malloc(bytes ? bytes : 1))) return tirrt_oom_status();
    out_descs[j] = desc;
    if (v->data == dst && tirrt_view_is_contiguous(v)) continue; /* made in place */
    if ((s = copy_result(r, o, v, &desc, bytes, dst))) return s;
  }
  return NULL;
}

/* A run's graph key (see tirrt.h): malloc'd, *n bytes; NULL when out of
 * memory (the run then goes without a graph). */
static void *graph_key(const tirrt_program_t *p, const tirrt_run_options_t *o,
                       const tirrt_tensor_desc_t *descs, const void *const *datas,
                       void *const *results, size_t *n) {
  const tirrt_program_def_t *d = p->def;
  size_t bytes = 2 * sizeof(uint64_t) + (size_t)d->n_args * (sizeof *descs + sizeof(void *)) +
                 (size_t)d->n_results * sizeof(void *);
  unsigned char *k = calloc(1, bytes), *w = k;
  if (!k) return NULL;
  uint64_t head[2] = {p->uses_seed ? o->seed : 0, (uint64_t)(o->allow_tf32 != 0)};
  memcpy(w, head, sizeof head), w += sizeof head;
  for (int32_t i = 0; i < d->n_args; i++) {
    tirrt_tensor_desc_t t; /* unused shape entries zeroed: equal types, equal bytes */
    memset(&t, 0, sizeof t);
    t.dtype = descs[i].dtype;
    t.rank = descs[i].rank;
    for (int32_t a = 0; a < t.rank && a < TIRRT_MAX_RANK; a++) t.shape[a] = descs[i].shape[a];
    memcpy(w, &t, sizeof t), w += sizeof t;
    memcpy(w, &datas[i], sizeof(void *)), w += sizeof(void *);
  }
  for (int32_t j = 0; j < d->n_results; j++) memcpy(w, &results[j], sizeof(void *)), w += sizeof(void *);
  *n = bytes;
  return k;
}

static uint64_t hash_bytes(const void *b, size_t n) {
  const unsigned char *c = b;
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001b3ull;
  return h;
}

/* Whether this key was seen in one of the last runs (remembering it). */
static bool seen_before(tirrt_program_t *p, uint64_t h) {
  int32_t n = (int32_t)(sizeof p->seen / sizeof *p->seen);
  for (int32_t i = 0; i < p->n_seen; i++)
    if (p->seen[i] == h) return true;
  p->seen[p->seen_next] = h; /* a ring: the oldest goes */
  p->seen_next = (p->seen_next + 1) % n;
  if (p->n_seen < n) p->n_seen++;
  return false;
}

/* A program that records this many graphs without settling (keys that
 * keep changing) stops recording: each recording costs a run's host time
 * and an instantiation. */
enum { MAX_CAPTURES = 64 };

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
  const tirrt_backend_t *be = o->device == TIRRT_DEVICE_CUDA ? tirrt_backend_cuda() : tirrt_backend_cpu();
  if (!be)
    return tirrt_make_status(TIRRT_STATUS_UNAVAILABLE,
                             "this runtime was built without CUDA; run with --device=cpu");
  Run r = {.p = p, .seed = o->seed, .be = be, .dev = be->device_memory};
  r.sym = calloc((size_t)d->n_syms + 1, sizeof *r.sym);
  r.sym_bound = calloc((size_t)d->n_syms + 1, sizeof *r.sym_bound);
  r.dim = calloc((size_t)d->n_dims + 1, sizeof *r.dim);
  r.dim_ok = calloc((size_t)d->n_dims + 1, sizeof *r.dim_ok);
  r.view = p->view;
  r.buf = p->vbuf;
  void **results = calloc((size_t)d->n_results + 1, sizeof *results);
  void **uploads = calloc((size_t)d->n_args + 1, sizeof *uploads);
  void *key = NULL;
  size_t key_bytes = 0;
  tirrt_status_t s = NULL;
  bool begun = false;
  size_t last_peak = p->peak_bytes;
  if (!r.sym || !r.sym_bound || !r.dim || !r.dim_ok || !r.view || !r.buf || !results || !uploads) {
    s = tirrt_oom_status();
    goto done;
  }
  for (int32_t v = 0; v < d->n_values; v++) r.buf[v] = -1;
  p->live_bytes = p->peak_bytes = 0;
  if ((s = bind_args(&r, arg_descs))) goto done;
  if (result_buffers &&
      (s = bind_check_result_buffers(&r, arg_descs, arg_datas, result_buffers)))
    goto done;
  if (be->begin) {
    if ((s = be->begin(o, &r.bs))) goto done;
    begun = true;
  }
  if ((s = prepare(&r, o->device_index))) goto done;
  /* A graph of this run: replayed when there is one, recorded when the
   * key was seen before (its first run warmed everything a recording
   * needs: the pool's buffers, loaded kernels, GEMM plans). */
  bool record = false;
  if (o->cuda_graphs && o->device_pointers && be->graph_launch && !p->graphs_off &&
      (key = graph_key(p, o, arg_descs, arg_datas, result_buffers, &key_bytes))) {
    bool hit = false;
    if ((s = be->graph_launch(r.bs, p->prep, key, key_bytes, out_descs, d->n_results, &hit)))
      goto done;
    if (hit) {
      p->peak_bytes = last_peak;
      goto finish;
    }
    record = seen_before(p, hash_bytes(key, key_bytes)) && p->n_captures < MAX_CAPTURES;
  }
  if ((s = bind_data(&r, o, arg_descs, arg_datas, uploads))) goto done;
  /* A result made by an instruction is made in the caller's buffer, when
   * the caller gave buffers where the run computes (saves a copy); a value
   * returned twice keeps the copies. */
  if (result_buffers && (r.dev == (o->device_pointers != 0))) {
    r.direct = p->direct;
    for (int32_t j = 0; j < d->n_results; j++)
      if (r.p->result_base[j] >= 0) r.direct[r.p->result_base[j]] = result_buffers[j];
  }
  tirrt_status_t gs = record ? be->graph_begin(r.bs) : NULL;
  if (gs) { /* cannot record here: run as usual, and record no more */
    tirrt_status_free(gs);
    p->graphs_off = true;
    record = false;
  }
  if (record) {
    p->n_captures++;
    tirrt_status_t bs = run_body(&r, o, result_buffers, results, out_descs);
    tirrt_status_t es = be->graph_end(r.bs, p->prep, key, key_bytes, out_descs, d->n_results, !bs);
    if (!bs && !es) goto finish;
    /* Nothing ran.  Whatever went wrong (an error of the work, or a call
     * that cannot be recorded), the run is done again without a graph,
     * which gives the work's own error if it has one; this program
     * records no more graphs. */
    tirrt_status_free(bs);
    tirrt_status_free(es);
    p->graphs_off = true;
    pool_reset(p); /* the arguments' and constants' views stand: no instruction makes them */
    for (int32_t v = 0; v < d->n_values; v++) r.buf[v] = -1;
    p->live_bytes = p->peak_bytes = 0;
  }
  if ((s = run_body(&r, o, result_buffers, results, out_descs))) goto done;
finish:
  if (be->sync && (s = be->sync(r.bs))) goto done;
  if (out_datas)
    for (int32_t j = 0; j < d->n_results; j++) out_datas[j] = result_buffers ? result_buffers[j] : results[j];
  if (out_peak) *out_peak = p->peak_bytes;
done:
  if (s)
    for (int32_t j = 0; j < d->n_results; j++) free(results[j]);
  if (begun) {
    if (s && be->sync) tirrt_status_free(be->sync(r.bs)); /* nothing may still use the buffers */
    if (uploads)
      for (int32_t i = 0; i < d->n_args; i++) be->free(r.bs, uploads[i]);
    be->end(r.bs);
  }
  /* Everything still held goes back to the pool for the next run. */
  pool_reset(p);
  if (r.direct) /* all NULL again for the next run */
    for (int32_t j = 0; j < d->n_results; j++)
      if (p->result_base[j] >= 0) r.direct[p->result_base[j]] = NULL;
  free(key);
  free(uploads);
  free(results);
  free(r.sym);
  free(r.sym_bound);
  free(r.dim);
  free(r.dim_ok);
  return s;
}

int32_t tirrt_program_graphs_recorded(const tirrt_program_t *p) {
  return p->graphs_off ? -1 : p->n_captures;
}

tirrt_status_t tirrt_program_run(tirrt_program_t *p, const tirrt_tensor_desc_t *arg_descs,
                                 const void *const *arg_datas, uint64_t seed,
                                 tirrt_tensor_desc_t *out_descs, void **out_datas,
                                 uint64_t *out_peak) {
  tirrt_run_options_t o = {.device = TIRRT_DEVICE_CPU, .seed = seed};
  return tirrt_program_execute(p, &o, arg_descs, arg_datas, NULL, out_descs, out_datas, out_peak);
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
