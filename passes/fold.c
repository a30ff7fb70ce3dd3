/* fold.c — constant folding of one op whose operands are all constants, for
 * canonicalize.  Elementwise ops (unary, binary, compare, logical, where,
 * masked_fill, cast), view ops of constants (reshape, squeeze, unsqueeze,
 * expand, permute, transpose) and `full` fold into a CONST when the result
 * has a static shape of at most TIR_FOLD_MAX_ELEMS elements.
 *
 * A folded constant is exactly what running the op gives (the first rule:
 * optimizing never changes the answer), so arithmetic is the runtime's:
 * f16/bf16/f32 are computed in f32 and f64 in f64 with the runtime's
 * formulas, and each result is rounded to its dtype once per op when stored
 * (so an f16 chain is rounded after every op, as torch does); integers are
 * computed in int64 with wrap-around and truncated to the dtype's width;
 * conversions are ir/dtype.c's, which are the runtime's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "tir_ew.h"

/* ------------------------------------------------------------ shapes */

static bool static_dims(const TirType *t, int64_t *dims) {
  for (int i = 0; i < t->rank; i++)
    if (!tir_dim_is_const(t->dims[i], &dims[i]) || dims[i] < 0) return false;
  return true;
}

const void *tir_fold_const_data(const TirValue *v) {
  const TirOp *d = v->def;
  int64_t n;
  if (!d || d->kind != TIR_OP_CONST || !d->data || !tir_type_numel(&v->type, &n)) return NULL;
  if (d->data_bytes != (size_t)n * tir_dtype_size(v->type.dtype)) return NULL;
  return d->data;
}

/* An operand read with broadcasting: element at output multi-index idx is at
 * sum(idx[i] * bstride[i]) in data.  Works for expand too. */
typedef struct {
  const void *data;
  TirDType dt;
  int64_t bstride[TIR_MAX_RANK];
} Src;

/* Sets up s for an operand of type t read at the shape of the result
 * (rank rr, dims rd): dims are aligned at the right, and a dim of size 1 (or
 * missing) repeats. */
static bool src_init(Src *s, const TirValue *v, int rr, const int64_t *rd) {
  int64_t od[TIR_MAX_RANK];
  const TirType *t = &v->type;
  if (!(s->data = tir_fold_const_data(v)) || t->rank > rr || !static_dims(t, od)) return false;
  s->dt = t->dtype;
  int64_t stride = 1;
  for (int i = rr - 1, j = t->rank - 1; i >= 0; i--, j--) {
    if (j < 0 || od[j] == 1) {
      s->bstride[i] = 0;
    } else {
      if (od[j] != rd[i]) return false; /* infer would have said so; be safe */
      s->bstride[i] = stride;
    }
    if (j >= 0) stride *= od[j];
  }
  return true;
}

static size_t src_off(const Src *s, int rank, const int64_t *idx) {
  int64_t off = 0;
  for (int i = 0; i < rank; i++) off += idx[i] * s->bstride[i];
  return (size_t)off;
}

/* Advances a row-major multi-index over dims. */
static void next_index(int64_t *idx, const int64_t *dims, int rank) {
  for (int i = rank - 1; i >= 0; i--) {
    if (++idx[i] < dims[i]) return;
    idx[i] = 0;
  }
}

/* ------------------------------------------------------------ scalar kernels
 *
 * Folding must give exactly what running gives, so the formulas are the
 * common op table's (common/tir_ew_table.h), which the CPU kernels, the
 * CUDA kernels and the generated fused kernels compute too, in the same
 * type: f32 for f16/bf16/f32 (the result then rounded to the dtype once,
 * as the runtime stores it), f64 for f64, int64 for integers and bool.
 * Computing an f32 op in double would be more accurate and different from
 * running.  test/unit/test_fold_vs_run.c compares the folder with the CPU. */

/* The common table's number of an IR elementwise op; -1 for none. */
static int ew_op(TirOpKind k, bool gelu_tanh) {
  if (k == TIR_OP_GELU && gelu_tanh) return TIR_EW_UN_GELU_TANH;
  switch (k) {
#define CASE_OP(E, P) case TIR_OP_##E: return TIR_EW_##P##_##E;
#define CASE_NOOP(E, P)
#define UN_ROW(E, name, DOM, RES, IR, ...) CASE_##IR(E, UN)
#define BIN_ROW(E, name, DOM, RES, IR, ...) CASE_##IR(E, BIN)
    TIR_EW_UNARY_ROWS(UN_ROW)
    TIR_EW_BINARY_ROWS(BIN_ROW)
#undef CASE_OP
#undef CASE_NOOP
#undef UN_ROW
#undef BIN_ROW
  default: return -1;
  }
}

/* A scalar attribute stored as dtype dt: integers stay exact in integer
 * dtypes (an i64 above 2^53 must not pass through a double). */
static void store_scalar(TirDType dt, void *buf, size_t i, TirScalar s) {
  if (s.kind != TIR_SCALAR_FLOAT && !tir_dtype_is_float(dt)) tir_store_i64(dt, buf, i, s.i);
  else tir_store_f64(dt, buf, i, s.f);
}

/* Whether store_scalar gives what the runtime gives: the program table
 * carries the value as a double, so an integer that a double cannot hold
 * (|v| > 2^53) would run differently; such ops are left to run. */
static bool scalar_runs_exactly(TirScalar s) {
  return s.kind == TIR_SCALAR_FLOAT || (s.i >= -(INT64_C(1) << 53) && s.i <= (INT64_C(1) << 53));
}

/* Integer-valued dtypes: computed in int64. */
static bool is_intlike(TirDType t) { return t == TIR_BOOL || tir_dtype_is_int(t); }

/* ------------------------------------------------------------ folding */

typedef struct {
  const TirOp *op;
  TirDType dt;                 /* result dtype */
  int rank;                    /* result rank */
  int64_t dims[TIR_MAX_RANK];  /* result dims */
  int64_t n;                   /* result elements */
  size_t esize;
  unsigned char *out;
  Src src[3];
} Fold;

/* %y = UNARY(%c)            ->  const   neg abs exp log sqrt rsqrt reciprocal tanh
 *                                       sigmoid relu silu erf sin cos gelu logical_not
 * %y = BINARY(%c1, %c2)      ->  const   add sub mul div pow maximum minimum
 * %y = CMP(%c1, %c2)         ->  const   eq ne lt le gt ge, logical_and logical_or
 * %y = where(%c, %a, %b)     ->  const
 * %y = masked_fill(%c, %m, value=v)  ->  const
 * %y = cast(%c, dtype=T)     ->  const
 * Operands are read with broadcasting. */
static bool fold_elementwise(Fold *f) {
  const TirOp *op = f->op;
  TirOpKind k = op->kind;
  unsigned flags = tir_op_schema(k)->flags;
  if (op->n_operands > 3) return false;
  for (int i = 0; i < op->n_operands; i++)
    if (!src_init(&f->src[i], op->operands[i].value, f->rank, f->dims)) return false;
  const Src *a = &f->src[0], *b = &f->src[1], *c = &f->src[2];
  TirDType in = a->dt;

  /* Decide once per op which arithmetic applies (the runtime's compute type:
   * int64, f64 for f64, else f32); refuse what we do not model. */
  bool use_int = is_intlike(in), use_f64 = in == TIR_F64;
  bool gelu_tanh = false;
  if (k == TIR_OP_GELU) {
    const char *ap = tir_op_attr_str(op, "approximate");
    gelu_tanh = ap && strcmp(ap, "tanh") == 0;
  }
  int ew = ew_op(k, gelu_tanh);
  const tir_ew_row_t *row = ew < 0 ? NULL : tir_ew_row(op->n_operands, ew);
  if (row) {
    /* Operands of one dtype the row takes; the result is theirs or bool. */
    if (op->n_operands == 2 && b->dt != in) return false;
    if (f->dt != (row->result == TIR_EW_RES_BOOL ? TIR_BOOL : in)) return false;
    int kind = in == TIR_BOOL ? TIR_DK_BOOL : use_int ? TIR_DK_INT : TIR_DK_FLOAT;
    if (!tir_ew_takes(row, kind)) return false;
    /* The IR's logical ops take bool only (the runtime takes any dtype). */
    if (((flags & TIR_OPF_LOGICAL) == TIR_OPF_LOGICAL || k == TIR_OP_LOGICAL_NOT) && in != TIR_BOOL)
      return false;
  } else if (k == TIR_OP_WHERE) {
    if (in != TIR_BOOL || b->dt != f->dt || c->dt != f->dt) return false;
  } else if (k == TIR_OP_MASKED_FILL) {
    if (in != f->dt || b->dt != TIR_BOOL) return false;
    const TirAttr *v = tir_op_attr_c(op, "value");
    if (v->kind != TIR_ATTR_SCALAR || !scalar_runs_exactly(v->scalar)) return false;
  } else if (k != TIR_OP_CAST) {
    return false;
  }

  int64_t idx[TIR_MAX_RANK] = {0};
  for (int64_t e = 0; e < f->n; e++, next_index(idx, f->dims, f->rank)) {
    size_t i = (size_t)e;
    size_t oa = src_off(a, f->rank, idx);
    size_t ob = op->n_operands > 1 ? src_off(b, f->rank, idx) : 0;
    switch (k) {
    case TIR_OP_CAST:
      /* As the runtime's copy: the same dtype moves bytes (a nan keeps its
       * payload); an integer source goes through int64 (exact, and an i64
       * above 2^53 rounds once into a float dtype), a float one through f64
       * (exact); the store rounds, saturates or wraps once. */
      if (in == f->dt)
        memcpy(f->out + i * f->esize, (const unsigned char *)a->data + oa * f->esize, f->esize);
      else if (is_intlike(in))
        tir_store_i64(f->dt, f->out, i, tir_load_i64(in, a->data, oa));
      else
        tir_store_f64(f->dt, f->out, i, tir_load_f64(in, a->data, oa));
      break;
    case TIR_OP_WHERE: {
      /* Same dtype on both sides: copy the bytes, no conversion at all. */
      bool cond = tir_load_i64(TIR_BOOL, a->data, oa) != 0;
      const Src *s = cond ? b : c;
      size_t o = src_off(s, f->rank, idx);
      memcpy(f->out + i * f->esize, (const unsigned char *)s->data + o * f->esize, f->esize);
      break;
    }
    case TIR_OP_MASKED_FILL:
      if (tir_load_i64(TIR_BOOL, b->data, ob))
        store_scalar(f->dt, f->out, i, tir_op_attr_c(op, "value")->scalar);
      else
        memcpy(f->out + i * f->esize, (const unsigned char *)a->data + oa * f->esize, f->esize);
      break;
    default: /* a row of the common table: predicates give 0 or 1 */
      if (op->n_operands == 1) {
        if (use_int) {
          int64_t r = 0;
          tir_ew_unary_i64(ew, tir_load_i64(in, a->data, oa), &r);
          tir_store_i64(f->dt, f->out, i, r);
        } else if (use_f64) {
          tir_store_f64(f->dt, f->out, i, tir_ew_unary_f64(ew, tir_load_f64(in, a->data, oa)));
        } else { /* f16/bf16/f32 load exactly into f32 */
          float x = (float)tir_load_f64(in, a->data, oa);
          tir_store_f32(f->dt, f->out, i, tir_ew_unary_f32(ew, x));
        }
      } else {
        if (use_int) {
          int64_t r = 0;
          tir_ew_binary_i64(ew, tir_load_i64(in, a->data, oa), tir_load_i64(in, b->data, ob), &r);
          tir_store_i64(f->dt, f->out, i, r);
        } else if (use_f64) {
          tir_store_f64(f->dt, f->out, i,
                        tir_ew_binary_f64(ew, tir_load_f64(in, a->data, oa), tir_load_f64(in, b->data, ob)));
        } else {
          float x = (float)tir_load_f64(in, a->data, oa), y = (float)tir_load_f64(in, b->data, ob);
          tir_store_f32(f->dt, f->out, i, tir_ew_binary_f32(ew, x, y));
        }
      }
      break;
    }
  }
  return true;
}

/* %y = permute(%c, dims=P)            ->  const   (output dim i reads input dim P[i])
 * %y = transpose(%c, dim0=a, dim1=b)  ->  const */
static bool fold_permute(Fold *f) {
  const TirOp *op = f->op;
  const TirValue *x = op->operands[0].value;
  const void *data = tir_fold_const_data(x);
  int r = x->type.rank;
  int64_t xd[TIR_MAX_RANK], perm[TIR_MAX_RANK], xs[TIR_MAX_RANK];
  if (!data || r != f->rank || x->type.dtype != f->dt || !static_dims(&x->type, xd)) return false;
  if (!tir_op_permutation(op, perm)) return false;
  int64_t s = 1;
  for (int i = r - 1; i >= 0; i--) {
    xs[i] = s;
    s *= xd[i];
  }
  int64_t idx[TIR_MAX_RANK] = {0};
  for (int64_t e = 0; e < f->n; e++, next_index(idx, f->dims, f->rank)) {
    int64_t off = 0;
    for (int i = 0; i < r; i++) off += idx[i] * xs[perm[i]];
    memcpy(f->out + (size_t)e * f->esize, (const unsigned char *)data + (size_t)off * f->esize,
           f->esize);
  }
  return true;
}

static bool fold_into(Fold *f) {
  const TirOp *op = f->op;
  switch (op->kind) {
  /* %y = full(shape=S, value=v, dtype=T)  ->  const   (S static and small) */
  case TIR_OP_FULL: {
    const TirAttr *v = tir_op_attr_c(op, "value");
    if (v->kind != TIR_ATTR_SCALAR || !scalar_runs_exactly(v->scalar)) return false;
    for (int64_t e = 0; e < f->n; e++) store_scalar(f->dt, f->out, (size_t)e, v->scalar);
    return true;
  }
  case TIR_OP_RESHAPE:
  case TIR_OP_SQUEEZE:
  case TIR_OP_UNSQUEEZE: {
    /* %y = reshape(%c, shape=S) / squeeze(%c, ...) / unsqueeze(%c, ...)  ->  const
     * Row-major order is unchanged by these: the bytes are the same. */
    const TirValue *x = op->operands[0].value;
    const void *data = tir_fold_const_data(x);
    if (!data || x->type.dtype != f->dt) return false;
    if (x->def->data_bytes != (size_t)f->n * f->esize) return false; /* same numel */
    memcpy(f->out, data, (size_t)f->n * f->esize);
    return true;
  }
  case TIR_OP_EXPAND: {
    /* %y = expand(%c, shape=S)  ->  const   (broadcast copy) */
    Src s;
    const TirValue *x = op->operands[0].value;
    if (x->type.dtype != f->dt || !src_init(&s, x, f->rank, f->dims)) return false;
    int64_t idx[TIR_MAX_RANK] = {0};
    for (int64_t e = 0; e < f->n; e++, next_index(idx, f->dims, f->rank))
      memcpy(f->out + (size_t)e * f->esize,
             (const unsigned char *)s.data + src_off(&s, f->rank, idx) * f->esize, f->esize);
    return true;
  }
  case TIR_OP_PERMUTE:
  case TIR_OP_TRANSPOSE: return fold_permute(f);
  default:
    if (tir_op_schema(op->kind)->flags & TIR_OPF_ELEMENTWISE) return fold_elementwise(f);
    return false;
  }
}

TirOp *tir_fold_op(TirModule *m, const TirOp *op, TirStatus *st) {
  *st = TIR_OK;
  if (!op->result || op->kind == TIR_OP_CONST) return NULL;
  if (op->kind != TIR_OP_FULL && op->n_operands == 0) return NULL;
  for (int i = 0; i < op->n_operands; i++)
    if (!tir_fold_const_data(op->operands[i].value)) return NULL;

  Fold f = {.op = op, .dt = op->result->type.dtype, .rank = op->result->type.rank};
  if (f.dt >= TIR_NUM_DTYPES || !static_dims(&op->result->type, f.dims) ||
      !tir_type_numel(&op->result->type, &f.n) || f.n > TIR_FOLD_MAX_ELEMS)
    return NULL;
  f.esize = tir_dtype_size(f.dt);
  if (!(f.out = calloc((size_t)(f.n ? f.n : 1), f.esize))) {
    *st = TIR_ERR_INTERNAL;
    return NULL;
  }
  TirOp *c = NULL;
  if (fold_into(&f)) {
    c = tir_const_new(m, &op->result->type, f.out, op->loc);
    if (!c) *st = TIR_ERR_INTERNAL;
  }
  free(f.out);
  return c;
}
