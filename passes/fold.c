/* fold.c — constant folding of one op whose operands are all constants, for
 * canonicalize.  Elementwise ops (unary, binary, compare, logical, where,
 * masked_fill, cast), view ops of constants (reshape, squeeze, unsqueeze,
 * expand, permute, transpose) and `full` fold into a CONST when the result
 * has a static shape of at most TIR_FOLD_MAX_ELEMS elements.
 *
 * Arithmetic: floats are computed in double and rounded to the result dtype
 * when stored, once per op, so an f16 chain is rounded after every op as
 * torch does (torch computes half ops in float and rounds each result).
 * Integers are computed in int64 with wrap-around and truncated to the
 * dtype's width when stored, like torch's integer tensors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"

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

/* ------------------------------------------------------------ scalar kernels */

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Unary float ops, computed in double. */
static double unary_f(const TirOp *op, double x) {
  switch (op->kind) {
  case TIR_OP_NEG: return -x;
  case TIR_OP_ABS: return fabs(x);
  case TIR_OP_EXP: return exp(x);
  case TIR_OP_LOG: return log(x);
  case TIR_OP_SQRT: return sqrt(x);
  case TIR_OP_RSQRT: return 1.0 / sqrt(x);
  case TIR_OP_RECIPROCAL: return 1.0 / x;
  case TIR_OP_TANH: return tanh(x);
  case TIR_OP_SIGMOID: return sigmoid(x);
  case TIR_OP_RELU: return isnan(x) ? x : x > 0 ? x : 0.0; /* torch keeps nan */
  case TIR_OP_SILU: return x * sigmoid(x);
  case TIR_OP_ERF: return erf(x);
  case TIR_OP_SIN: return sin(x);
  case TIR_OP_COS: return cos(x);
  case TIR_OP_GELU: {
    const char *a = tir_op_attr_str(op, "approximate");
    if (a && strcmp(a, "tanh") == 0) {
      const double k = 0.7978845608028654; /* sqrt(2/pi) */
      return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
  }
  default: return NAN;
  }
}

/* Integer versions of the unary ops torch also defines on integers. */
static bool unary_i(TirOpKind k, int64_t x, int64_t *out) {
  switch (k) {
  case TIR_OP_NEG: *out = (int64_t)(0 - (uint64_t)x); return true;
  case TIR_OP_ABS: *out = x < 0 ? (int64_t)(0 - (uint64_t)x) : x; return true;
  case TIR_OP_RELU: *out = x > 0 ? x : 0; return true;
  default: return false;
  }
}

static double binary_f(TirOpKind k, double a, double b) {
  switch (k) {
  case TIR_OP_ADD: return a + b;
  case TIR_OP_SUB: return a - b;
  case TIR_OP_MUL: return a * b;
  case TIR_OP_DIV: return a / b;
  case TIR_OP_POW: return pow(a, b);
  /* torch.maximum/minimum propagate nan (fmax would drop it). */
  case TIR_OP_MAXIMUM: return isnan(a) || isnan(b) ? NAN : fmax(a, b);
  case TIR_OP_MINIMUM: return isnan(a) || isnan(b) ? NAN : fmin(a, b);
  default: return NAN;
  }
}

/* Integer arithmetic wraps like torch's integer tensors (computed in uint64
 * so overflow is defined; the store truncates to the dtype).  Integer div
 * and pow are not folded: their result dtype and rounding rules belong to
 * infer, and a wrong guess here would silently change values. */
static bool binary_i(TirOpKind k, int64_t a, int64_t b, int64_t *out) {
  switch (k) {
  case TIR_OP_ADD: *out = (int64_t)((uint64_t)a + (uint64_t)b); return true;
  case TIR_OP_SUB: *out = (int64_t)((uint64_t)a - (uint64_t)b); return true;
  case TIR_OP_MUL: *out = (int64_t)((uint64_t)a * (uint64_t)b); return true;
  case TIR_OP_MAXIMUM: *out = a > b ? a : b; return true;
  case TIR_OP_MINIMUM: *out = a < b ? a : b; return true;
  default: return false;
  }
}

static bool compare_f(TirOpKind k, double a, double b) {
  switch (k) {
  case TIR_OP_EQ: return a == b;
  case TIR_OP_NE: return a != b; /* true for nan, as in IEEE and torch */
  case TIR_OP_LT: return a < b;
  case TIR_OP_LE: return a <= b;
  case TIR_OP_GT: return a > b;
  case TIR_OP_GE: return a >= b;
  default: return false;
  }
}

static bool compare_i(TirOpKind k, int64_t a, int64_t b) {
  switch (k) {
  case TIR_OP_EQ: return a == b;
  case TIR_OP_NE: return a != b;
  case TIR_OP_LT: return a < b;
  case TIR_OP_LE: return a <= b;
  case TIR_OP_GT: return a > b;
  case TIR_OP_GE: return a >= b;
  default: return false;
  }
}

/* A scalar attribute stored as dtype dt: integers stay exact in integer
 * dtypes (an i64 above 2^53 must not pass through a double). */
static void store_scalar(TirDType dt, void *buf, size_t i, TirScalar s) {
  if (s.kind != TIR_SCALAR_FLOAT && !tir_dtype_is_float(dt)) tir_store_i64(dt, buf, i, s.i);
  else tir_store_f64(dt, buf, i, s.f);
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

  /* Decide once per op which arithmetic applies; refuse what we do not model. */
  bool use_int = false;
  if ((flags & TIR_OPF_UNARY_FLOAT) == TIR_OPF_UNARY_FLOAT) {
    if (in != f->dt) return false;
    if (is_intlike(in)) {
      int64_t dummy;
      if (in == TIR_BOOL || !unary_i(k, 0, &dummy)) return false;
      use_int = true;
    }
  } else if ((flags & TIR_OPF_BINARY) == TIR_OPF_BINARY) {
    if (in != f->dt || b->dt != f->dt) return false;
    if (is_intlike(in)) {
      int64_t dummy;
      if (in == TIR_BOOL || !binary_i(k, 0, 0, &dummy)) return false;
      use_int = true;
    }
  } else if ((flags & TIR_OPF_COMPARE) == TIR_OPF_COMPARE) {
    if (f->dt != TIR_BOOL || b->dt != in) return false;
    use_int = is_intlike(in);
  } else if ((flags & TIR_OPF_LOGICAL) == TIR_OPF_LOGICAL || k == TIR_OP_LOGICAL_NOT) {
    if (f->dt != TIR_BOOL || in != TIR_BOOL) return false;
    if (op->n_operands == 2 && b->dt != TIR_BOOL) return false;
  } else if (k == TIR_OP_WHERE) {
    if (in != TIR_BOOL || b->dt != f->dt || c->dt != f->dt) return false;
  } else if (k == TIR_OP_MASKED_FILL) {
    if (in != f->dt || b->dt != TIR_BOOL) return false;
    if (tir_op_attr_c(op, "value")->kind != TIR_ATTR_SCALAR) return false;
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
      /* Integer to integer stays exact (i64 values above 2^53). */
      if (is_intlike(in) && is_intlike(f->dt))
        tir_store_i64(f->dt, f->out, i, tir_load_i64(in, a->data, oa));
      else
        tir_store_f64(f->dt, f->out, i, tir_load_f64(in, a->data, oa));
      break;
    case TIR_OP_LOGICAL_NOT:
      tir_store_i64(TIR_BOOL, f->out, i, !tir_load_i64(in, a->data, oa));
      break;
    case TIR_OP_LOGICAL_AND:
    case TIR_OP_LOGICAL_OR: {
      bool x = tir_load_i64(in, a->data, oa) != 0, y = tir_load_i64(in, b->data, ob) != 0;
      tir_store_i64(TIR_BOOL, f->out, i, k == TIR_OP_LOGICAL_AND ? (x && y) : (x || y));
      break;
    }
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
    default:
      if ((flags & TIR_OPF_COMPARE) == TIR_OPF_COMPARE) {
        bool r = use_int ? compare_i(k, tir_load_i64(in, a->data, oa), tir_load_i64(in, b->data, ob))
                         : compare_f(k, tir_load_f64(in, a->data, oa), tir_load_f64(in, b->data, ob));
        tir_store_i64(TIR_BOOL, f->out, i, r);
      } else if (op->n_operands == 1) {
        if (use_int) {
          int64_t r = 0;
          unary_i(k, tir_load_i64(in, a->data, oa), &r);
          tir_store_i64(f->dt, f->out, i, r);
        } else {
          tir_store_f64(f->dt, f->out, i, unary_f(op, tir_load_f64(in, a->data, oa)));
        }
      } else {
        if (use_int) {
          int64_t r = 0;
          binary_i(k, tir_load_i64(in, a->data, oa), tir_load_i64(in, b->data, ob), &r);
          tir_store_i64(f->dt, f->out, i, r);
        } else {
          tir_store_f64(f->dt, f->out, i,
                        binary_f(k, tir_load_f64(in, a->data, oa), tir_load_f64(in, b->data, ob)));
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
    if (v->kind != TIR_ATTR_SCALAR) return false;
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
