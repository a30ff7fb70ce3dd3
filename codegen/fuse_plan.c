/* fuse_plan.c — chooses the runs of instructions that become generated CUDA
 * kernels (see codegen.h, tir_codegen_fuse_cuda).
 *
 * A run is a maximal stretch of consecutive instructions of the table that
 * one kernel can compute in a single launch:
 *  - ELEMENTWISE: unary, binary, where, masked_fill, cast, copy, full and
 *    constant-bounds arange, all with outputs of one shape (the iteration
 *    space).  Values made inside the run live in registers; inputs are any
 *    shape that broadcasts to the space (the executor passes stride 0).
 *  - ROWWISE: an optional elementwise prologue, one row instruction along
 *    the last dim (softmax, layer_norm over one dim, rms_norm, a keepdim
 *    reduce of the last dim) and an elementwise epilogue.  After a reduce,
 *    epilogue instructions may also be shaped like its keepdim output: they
 *    are computed once per row ("row scalars").
 * Views (reshape, permute, expand, slice), matmul, linear, sdpa, concat,
 * embedding, tri and dropout end a run: views cost nothing in the executor
 * (their results are strided inputs of the next run), the others have
 * library kernels, and dropout needs the run's seed, which the launch
 * contract does not pass.  Instructions that can fail at run time (integer
 * division and pow) are left to the library kernels, which report the
 * error.  Runs are chosen greedily from the front: the longest valid run
 * starting at an instruction wins. */
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"
#include "tir_ew.h"

typedef struct {
  const tirrt_program_def_t *def;
  int32_t *last_use; /* per value: last instruction reading it (INT32_MAX: a result) */
  int32_t *producer; /* per value: the instruction making it, or -1 */
  int32_t *mark;     /* per value: run-local scratch (== stamp means "row scalar") */
  int32_t stamp;
} Ctx;

static bool is_float(int32_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

/* The dtype kind (TIR_DK_*) of a runtime dtype, for the op table's domains. */
static int dkind(int32_t dt) {
  return dt == TIRRT_DTYPE_BOOL ? TIR_DK_BOOL : is_float(dt) ? TIR_DK_FLOAT : TIR_DK_INT;
}

static const tirrt_value_def_t *val(const Ctx *c, int32_t v) { return &c->def->values[v]; }

static bool same_shape(const Ctx *c, int32_t a, int32_t b) {
  const tirrt_value_def_t *x = val(c, a), *y = val(c, b);
  if (x->rank != y->rank) return false;
  /* Dims are interned by the lowering, so equal dims are equal nodes. */
  for (int32_t d = 0; d < x->rank; d++)
    if (x->dims[d] != y->dims[d]) return false;
  return true;
}

static bool const_dim(const Ctx *c, int32_t node, int64_t *out) {
  const tirrt_dim_node_t *n = &c->def->dims[node];
  if (n->op != TIRRT_DIM_CONST) return false;
  *out = n->value;
  return true;
}

/* v is shaped like `space` with the last dim 1 (a keepdim row reduction). */
static bool is_row_shape(const Ctx *c, int32_t v, int32_t space) {
  const tirrt_value_def_t *x = val(c, v), *s = val(c, space);
  int64_t one;
  if (x->rank != s->rank || x->rank < 1) return false;
  for (int32_t d = 0; d + 1 < x->rank; d++)
    if (x->dims[d] != s->dims[d]) return false;
  return const_dim(c, x->dims[x->rank - 1], &one) && one == 1;
}

/* Inputs must broadcast to the output (right-aligned); the verifier made
 * sure of the dims, the rank is rechecked because the executor relies on it. */
static bool inputs_fit(const Ctx *c, const tirrt_inst_t *in) {
  for (int32_t k = 0; k < in->n_in; k++)
    if (val(c, in->in[k])->rank > val(c, in->out)->rank) return false;
  return true;
}

/* An instruction a fused kernel computes elementwise exactly like the CPU
 * kernels (same dtype rules; nothing that can fail at run time). */
static bool elementwise_ok(const Ctx *c, const tirrt_inst_t *in) {
  int32_t od = val(c, in->out)->dtype;
  if (val(c, in->out)->rank > TIRRT_FUSED_MAX_RANK || !inputs_fit(c, in)) return false;
  int32_t d0 = in->n_in > 0 ? val(c, in->in[0])->dtype : -1;
  int32_t d1 = in->n_in > 1 ? val(c, in->in[1])->dtype : -1;
  int32_t d2 = in->n_in > 2 ? val(c, in->in[2])->dtype : -1;
  switch (in->op) {
  case TIRRT_OP_UNARY:
  case TIRRT_OP_BINARY: {
    /* The op table's DOMAIN and RESULT columns: operands of one dtype the
     * kernels take, and a result of that dtype or bool. */
    int arity = in->op == TIRRT_OP_UNARY ? 1 : 2;
    int32_t fn = arity == 1 ? in->a.unary.fn : in->a.binary.fn;
    const tir_ew_row_t *row = tir_ew_row(arity, fn);
    if (!row || in->n_in != arity || (arity == 2 && d0 != d1)) return false;
    if (row->result == TIR_EW_RES_BOOL ? od != TIRRT_DTYPE_BOOL : od != d0) return false;
    if (!tir_ew_takes(row, dkind(d0))) return false;
    /* Integer division by zero and negative integer powers are errors. */
    if (arity == 2 && !is_float(d0) && (fn == TIRRT_BIN_DIV || fn == TIRRT_BIN_POW)) return false;
    return true;
  }
  case TIRRT_OP_WHERE:
    return in->n_in == 3 && d0 == TIRRT_DTYPE_BOOL && d1 == od && d2 == od;
  case TIRRT_OP_MASKED_FILL: return in->n_in == 2 && d1 == TIRRT_DTYPE_BOOL && d0 == od;
  case TIRRT_OP_CAST: return in->n_in == 1;
  case TIRRT_OP_COPY: return in->n_in == 1 && d0 == od && same_shape(c, in->in[0], in->out);
  case TIRRT_OP_FULL: return in->n_in == 0;
  case TIRRT_OP_ARANGE: {
    int64_t a, b;
    /* Symbolic bounds live in the executor's dim table, out of the kernel's reach. */
    return in->n_in == 0 && val(c, in->out)->rank == 1 && const_dim(c, in->a.arange.start, &a) &&
           const_dim(c, in->a.arange.step, &b);
  }
  default: return false;
  }
}

/* A row instruction over the last dim that a ROWWISE kernel computes. */
static bool row_ok(const Ctx *c, const tirrt_inst_t *in) {
  if (in->n_in < 1) return false;
  int32_t x = in->in[0], xr = val(c, x)->rank, xd = val(c, x)->dtype, od = val(c, in->out)->dtype;
  if (xr < 1 || xr > TIRRT_FUSED_MAX_RANK) return false;
  switch (in->op) {
  case TIRRT_OP_SOFTMAX:
    return in->n_in == 1 && in->a.softmax.dim == xr - 1 && is_float(xd) && is_float(od) &&
           same_shape(c, x, in->out);
  case TIRRT_OP_LAYER_NORM:
  case TIRRT_OP_RMS_NORM: {
    bool ln = in->op == TIRRT_OP_LAYER_NORM;
    if (in->n_in > (ln ? 3 : 2) || (ln && in->a.norm.ndims != 1)) return false;
    if (!is_float(xd) || !is_float(od) || !same_shape(c, x, in->out)) return false;
    for (int32_t k = 1; k < in->n_in; k++) {
      const tirrt_value_def_t *p = val(c, in->in[k]);
      /* rms_norm's weight rank is the number of normalized dims: one here. */
      if (!is_float(p->dtype) || p->rank > 1 || (!ln && p->rank != 1)) return false;
    }
    return true;
  }
  case TIRRT_OP_REDUCE:
    if (in->n_in != 1 || in->a.reduce.fn < 0 || in->a.reduce.fn >= TIR_EW_RED_COUNT) return false;
    if (in->a.reduce.dims_mask != (uint32_t)1 << (xr - 1)) return false;
    /* keepdim only: the executor views a kernel output through the space
     * with stride 0 on the last dim, which a rank-reduced output is not. */
    if (!is_row_shape(c, in->out, x)) return false;
    if ((in->a.reduce.fn == TIRRT_RED_AMAX || in->a.reduce.fn == TIRRT_RED_AMIN) && od != xd) return false;
    if (in->a.reduce.fn == TIRRT_RED_MEAN && !is_float(od)) return false;
    return true;
  default: return false;
  }
}

/* Fills the operand lists of the run [first, end) (end exclusive); false
 * when they do not fit the launch parameters. */
static bool operands(const Ctx *c, int32_t first, int32_t end, TirFusePlan *p) {
  const tirrt_program_def_t *d = c->def;
  p->n_in = p->n_out = 0;
  for (int32_t i = first; i < end; i++) {
    const tirrt_inst_t *in = &d->insts[i];
    for (int32_t k = 0; k < in->n_in; k++) {
      int32_t v = in->in[k];
      int32_t pr = c->producer[v];
      if (pr >= first && pr < end) continue;
      bool seen = false;
      for (int32_t j = 0; j < p->n_in && !seen; j++) seen = p->in[j] == v;
      if (seen) continue;
      if (p->n_in + p->n_out >= TIRRT_FUSED_MAX_OPERANDS) return false;
      p->in[p->n_in++] = v;
    }
  }
  for (int32_t i = first; i < end; i++) {
    int32_t v = d->insts[i].out;
    if (c->last_use[v] < end) continue; /* read only inside the run (or never) */
    if (p->n_in + p->n_out >= TIRRT_FUSED_MAX_OPERANDS) return false;
    p->out[p->n_out++] = v;
  }
  return true;
}

/* Threads per row: the fewest warps whose register cache (TIR_FUSE_VPT
 * elements per thread) holds a row of constant length, else 256. */
static int32_t row_block_size(const Ctx *c, int32_t space) {
  const tirrt_value_def_t *s = val(c, space);
  int64_t n;
  if (!const_dim(c, s->dims[s->rank - 1], &n)) return 256;
  int32_t bs = 32;
  while (bs < 256 && (int64_t)bs * TIR_FUSE_VPT < n) bs *= 2;
  return bs;
}

/* The longest valid run starting at instruction `first`; false if none. */
static bool grow(Ctx *c, int32_t first, TirFusePlan *best) {
  const tirrt_program_def_t *d = c->def;
  int32_t space = -1, row = -1;
  bool found = false, worth = false;
  c->stamp++;
  for (int32_t i = first; i < d->n_insts; i++) {
    const tirrt_inst_t *in = &d->insts[i];
    bool take = false, row_scalar = false;
    if (row < 0) {
      if (elementwise_ok(c, in) && (space < 0 || same_shape(c, in->out, space))) {
        take = true;
        if (space < 0) space = in->out;
      } else if (row_ok(c, in) && (space < 0 || same_shape(c, in->in[0], space))) {
        take = true;
        row = i;
        space = in->in[0];
        if (d->insts[i].op == TIRRT_OP_REDUCE) c->mark[in->out] = c->stamp;
      }
    } else if (elementwise_ok(c, in)) {
      if (same_shape(c, in->out, space)) {
        take = true;
      } else if (d->insts[row].op == TIRRT_OP_REDUCE && is_row_shape(c, in->out, space)) {
        /* Computed once per row: it may read only row scalars and outside values. */
        take = row_scalar = true;
        for (int32_t k = 0; k < in->n_in && take; k++) {
          int32_t v = in->in[k], pr = c->producer[v];
          if (pr >= first && pr < i && c->mark[v] != c->stamp) take = false;
        }
      }
    }
    if (!take) break;
    if (row_scalar) c->mark[in->out] = c->stamp;
    /* A copy alone is better left to the executor, which aliases
     * contiguous inputs instead of copying them. */
    worth |= in->op != TIRRT_OP_COPY;
    TirFusePlan p;
    memset(&p, 0, sizeof p);
    if (!operands(c, first, i + 1, &p)) break;
    if (!worth || p.n_out == 0) continue;
    p.kind = row >= 0 ? TIRRT_KERNEL_ROWWISE : TIRRT_KERNEL_ELEMENTWISE;
    p.first = first;
    p.n = i + 1 - first;
    p.row = row;
    p.space = space;
    p.block_size = row >= 0 ? row_block_size(c, space) : 256;
    *best = p;
    found = true;
  }
  return found;
}

TirStatus tir_fuse_plan(const tirrt_program_def_t *def, TirFusePlan **out, int32_t *n_out) {
  *out = NULL;
  *n_out = 0;
  size_t nv = (size_t)def->n_values + 1;
  Ctx c = {.def = def};
  c.last_use = malloc(nv * sizeof *c.last_use);
  c.producer = malloc(nv * sizeof *c.producer);
  c.mark = calloc(nv, sizeof *c.mark);
  TirFusePlan *plans = NULL;
  int32_t n = 0, cap = 0;
  TirStatus st = TIR_OK;
  if (!c.last_use || !c.producer || !c.mark) {
    st = TIR_ERR_INTERNAL;
    goto done;
  }
  for (int32_t v = 0; v < def->n_values; v++) c.last_use[v] = c.producer[v] = -1;
  for (int32_t i = 0; i < def->n_insts; i++) {
    const tirrt_inst_t *in = &def->insts[i];
    for (int32_t k = 0; k < in->n_in; k++) c.last_use[in->in[k]] = i;
    c.producer[in->out] = i;
  }
  for (int32_t r = 0; r < def->n_results; r++) c.last_use[def->results[r]] = INT32_MAX;
  for (int32_t i = 0; i < def->n_insts;) {
    TirFusePlan p;
    if (!grow(&c, i, &p)) {
      i++;
      continue;
    }
    if (n == cap) {
      int32_t nc = cap ? 2 * cap : 8;
      TirFusePlan *np = realloc(plans, (size_t)nc * sizeof *np);
      if (!np) {
        st = TIR_ERR_INTERNAL;
        goto done;
      }
      plans = np;
      cap = nc;
    }
    plans[n++] = p;
    i = p.first + p.n;
  }
done:
  free(c.last_use);
  free(c.producer);
  free(c.mark);
  if (st != TIR_OK) {
    free(plans);
    return st;
  }
  *out = plans;
  *n_out = n;
  return TIR_OK;
}
