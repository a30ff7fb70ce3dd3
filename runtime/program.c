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
 * of instructions, replaces that run.  The buffer pool is pool.c; binding
 * symbols, shapes and the run's inputs and outputs is bind.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "program_internal.h"

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

void tirrt_program_free(tirrt_program_t *p) {
  if (!p) return;
  for (int32_t i = 0; i < p->n_bufs; i++) pool_free_buffer(p, &p->bufs[i]);
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

/* tirrt_cpu.h: one decoding of the sdpa instruction for the CPU and CUDA
 * executors. */
tirrt_sdpa_params_t tirrt_sdpa_params_of(const tirrt_inst_t *inst, int64_t e, uint64_t seed) {
  double scale = inst->f[0];
  /* E = 0: every score is the empty sum 0 whatever the scale (torch's
   * 1/sqrt(0) = inf scales an empty q); any finite scale gives that. */
  if (isnan(scale)) scale = e > 0 ? 1.0 / sqrt((double)e) : 1.0;
  return (tirrt_sdpa_params_t){.scale = scale,
                               .dropout_p = inst->f[1],
                               .is_causal = inst->i[0] != 0,
                               .bottom_right = inst->i[1] != 0,
                               .enable_gqa = inst->i[2] != 0,
                               .exact_mask = inst->i[5] != 0,
                               .seed = seed,
                               .stream = (uint64_t)inst->i[3]};
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
      return copy_view(r, &src, &dst);
    }
  case TIRRT_OP_PERMUTE:
    if ((s = pool_alias(r, inst->in[0], inst->out, out))) return s;
    for (int32_t k = 0; k < out->rank; k++) out->strides[k] = IN(0)->strides[inst->i[k]];
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
      if ((s = pool_alias(r, inst->in[0], inst->out, out))) return s;
      memcpy(out->strides, IN(0)->strides, sizeof out->strides);
      return NULL;
    }
    if ((s = pool_alloc_out(r, inst->out, out))) return s;
    return copy_view(r, IN(0), out);
  default: break;
  }
  if ((s = pool_alloc_out(r, inst->out, out))) return s;
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
    tirrt_sdpa_params_t prm = tirrt_sdpa_params_of(inst, IN(0)->shape[IN(0)->rank - 1], r->seed);
    return tirrt_cpu_sdpa(IN(0), IN(1), IN(2), OPT(3), &prm, out, NULL);
  }
  default:
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "opcode %d not handled", inst->op);
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
    if ((s = pool_alloc_out(r, v, &r->view[v]))) break;
    outs[made] = &r->view[v];
  }
  tirrt_tensor_desc_t sd;
  tirrt_view_t space;
  if (!s) s = bind_value_shape(r, kd->space, &sd);
  if (!s) {
    space = tirrt_view_contiguous(&sd, NULL);
    s = tirrt_cuda_launch_fused(r->ctx, p->modules[k], kd, ins, outs, &space);
  }
  if (s)
    for (int32_t j = 0; j < made; j++) {
      pool_release(p, r->buf[kd->out[j]]);
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
  tirrt_status_t s = pool_alloc_out(r, act->out, out);
  if (s) return s;
  s = tirrt_cuda_linear_act(r->ctx, &r->view[lin->in[0]], &r->view[lin->in[1]],
                            lin->n_in > 2 ? &r->view[lin->in[2]] : NULL, kind, out);
  if (s && tirrt_status_code(s) == TIRRT_STATUS_UNIMPLEMENTED) {
    tirrt_status_free(s);
    pool_release(r->p, r->buf[act->out]);
    r->buf[act->out] = -1;
    return NULL;
  }
  if (s) return s;
  pool_release_after(r, lin, i);
  pool_release_after(r, act, i + 1);
  if (skip_kernel) (*next_kernel)++;
  *done = true;
  return NULL;
}
#endif

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
  if (result_buffers &&
      (s = bind_check_result_buffers(&r, arg_descs, arg_datas, result_buffers)))
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
        for (int32_t j = i; j < i + kd->n_insts; j++) pool_release_after(&r, &d->insts[j], j);
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
    pool_release_after(&r, inst, i);
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
