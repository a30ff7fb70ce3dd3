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
 * Folding must give exactly what running gives, so these are the runtime's
 * formulas (runtime/cpu_elementwise.c), written as the same expressions and
 * computed in the same type: f32 for f16/bf16/f32 (the result then rounded
 * to the dtype once, as the runtime stores it), f64 for f64, int64 for
 * integers.  Computing an f32 op in double would be more accurate and
 * different from running.  Until the op table carries each formula once
 * (issue 15), a formula changed here must change identically in
 * runtime/cpu_elementwise.c, kernels/ops.cu and codegen/fuse_src.c;
 * test/unit/test_fold_vs_run.c compares the folder with the CPU runtime. */

/* T is float (S = f: expf, ...) or double (S empty). */
#define DEFINE_FOLD_FLOAT(NAME, T, S)                                                    \
  /* exp of a non-positive argument only: neither side overflows, and the tiny side    \
   * keeps its digits. */                                                               \
  static T NAME##_sigmoid(T x) {                                                        \
    if (x >= 0) return (T)1 / ((T)1 + exp##S(-x));                                      \
    T e = exp##S(x);                                                                    \
    return e / ((T)1 + e);                                                              \
  }                                                                                     \
  static T NAME##_unary(TirOpKind k, bool gelu_tanh, T x) {                             \
    const T rsqrt2 = (T)0.70710678118654752440, kt = (T)0.79788456080286535588; /* sqrt(2/pi) */ \
    switch (k) {                                                                        \
    case TIR_OP_NEG: return -x;                                                         \
    case TIR_OP_ABS: return fabs##S(x);                                                 \
    case TIR_OP_EXP: return exp##S(x);                                                  \
    case TIR_OP_LOG: return log##S(x);                                                  \
    case TIR_OP_SQRT: return sqrt##S(x);                                                \
    case TIR_OP_RSQRT: return (T)1 / sqrt##S(x);                                        \
    case TIR_OP_RECIPROCAL: return (T)1 / x;                                            \
    case TIR_OP_TANH: return tanh##S(x);                                                \
    case TIR_OP_SIGMOID: return NAME##_sigmoid(x);                                      \
    case TIR_OP_RELU: return x < 0 ? (T)0 : x; /* nan stays nan, -0 stays -0 */         \
    case TIR_OP_SILU: return x * NAME##_sigmoid(x);                                     \
    case TIR_OP_ERF: return erf##S(x);                                                  \
    case TIR_OP_SIN: return sin##S(x);                                                  \
    case TIR_OP_COS: return cos##S(x);                                                  \
    case TIR_OP_GELU:                                                                   \
      /* 0.5x(1 + tanh(u)) as x sigmoid(2u), and 0.5x(1 + erf(x/sqrt2)) as               \
       * 0.5x erfc(-x/sqrt2): 1 + tanh and 1 + erf cancel for negative x. */             \
      if (gelu_tanh) return x * NAME##_sigmoid((T)2 * kt * (x + (T)0.044715 * x * x * x)); \
      return (T)0.5 * x * erfc##S(-x * rsqrt2);                                         \
    default: return (T)NAN;                                                             \
    }                                                                                   \
  }                                                                                     \
  /* maximum/minimum propagate nan like torch: a wins when it wins or is nan. */         \
  static T NAME##_binary(TirOpKind k, T a, T b) {                                       \
    switch (k) {                                                                        \
    case TIR_OP_ADD: return a + b;                                                      \
    case TIR_OP_SUB: return a - b;                                                      \
    case TIR_OP_MUL: return a * b;                                                      \
    case TIR_OP_DIV: return a / b;                                                      \
    case TIR_OP_POW: return pow##S(a, b);                                               \
    case TIR_OP_MAXIMUM: return (a > b || isnan(a)) ? a : b;                            \
    case TIR_OP_MINIMUM: return (a < b || isnan(a)) ? a : b;                            \
    default: return (T)NAN;                                                             \
    }                                                                                   \
  }

DEFINE_FOLD_FLOAT(f32, float, f)
DEFINE_FOLD_FLOAT(f64, double, )

/* Integer versions of the unary ops the runtime also defines on integers
 * (infer takes floats only today). */
static bool unary_i(TirOpKind k, int64_t x, int64_t *out) {
  switch (k) {
  case TIR_OP_NEG: *out = (int64_t)(0 - (uint64_t)x); return true;
  case TIR_OP_ABS: *out = x < 0 ? (int64_t)(0 - (uint64_t)x) : x; return true;
  case TIR_OP_RELU: *out = x < 0 ? 0 : x; return true;
  default: return false;
  }
}

/* base^e wrapping like repeated multiplication; for e < 0 the integer part
 * of the true power (1 for base 1, +-1 for base -1, else 0: torch's rule for
 * integer tensors, and the same answer for base 0 as a division by zero). */
static int64_t ipow(int64_t base, int64_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)base;
  while (e > 0) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return (int64_t)r;
}

/* Integer arithmetic wraps like torch's integer tensors (computed in uint64
 * so overflow is defined; the store truncates to the dtype).  Division
 * truncates; x / 0 is 0 and INT64_MIN / -1 wraps (docs/language.md: a GPU
 * kernel cannot raise, so every target defines the value instead). */
static bool binary_i(TirOpKind k, int64_t a, int64_t b, int64_t *out) {
  switch (k) {
  case TIR_OP_ADD: *out = (int64_t)((uint64_t)a + (uint64_t)b); return true;
  case TIR_OP_SUB: *out = (int64_t)((uint64_t)a - (uint64_t)b); return true;
  case TIR_OP_MUL: *out = (int64_t)((uint64_t)a * (uint64_t)b); return true;
  case TIR_OP_DIV: *out = b == 0 ? 0 : b == -1 ? (int64_t)(0 - (uint64_t)a) : a / b; return true;
  case TIR_OP_POW: *out = ipow(a, b); return true;
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
  bool use_int = false, use_f64 = in == TIR_F64;
  bool gelu_tanh = false;
  if ((flags & TIR_OPF_UNARY_FLOAT) == TIR_OPF_UNARY_FLOAT) {
    if (in != f->dt) return false;
    if (is_intlike(in)) {
      int64_t dummy;
      if (in == TIR_BOOL || !unary_i(k, 0, &dummy)) return false;
      use_int = true;
    }
    if (k == TIR_OP_GELU) {
      const char *ap = tir_op_attr_str(op, "approximate");
      gelu_tanh = ap && strcmp(ap, "tanh") == 0;
    }
  } else if ((flags & TIR_OPF_BINARY) == TIR_OPF_BINARY) {
    if (in != f->dt || b->dt != f->dt) return false;
    if (is_intlike(in)) {
      int64_t dummy;
      /* bool takes maximum/minimum only (arithmetic on bool is rejected) */
      if (!binary_i(k, 0, 0, &dummy)) return false;
      if (in == TIR_BOOL && k != TIR_OP_MAXIMUM && k != TIR_OP_MINIMUM) return false;
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
        } else if (use_f64) {
          tir_store_f64(f->dt, f->out, i, f64_unary(k, gelu_tanh, tir_load_f64(in, a->data, oa)));
        } else { /* f16/bf16/f32 load exactly into f32 */
          float x = (float)tir_load_f64(in, a->data, oa);
          tir_store_f32(f->dt, f->out, i, f32_unary(k, gelu_tanh, x));
        }
      } else {
        if (use_int) {
          int64_t r = 0;
          binary_i(k, tir_load_i64(in, a->data, oa), tir_load_i64(in, b->data, ob), &r);
          tir_store_i64(f->dt, f->out, i, r);
        } else if (use_f64) {
          tir_store_f64(f->dt, f->out, i,
                        f64_binary(k, tir_load_f64(in, a->data, oa), tir_load_f64(in, b->data, ob)));
        } else {
          float x = (float)tir_load_f64(in, a->data, oa), y = (float)tir_load_f64(in, b->data, ob);
          tir_store_f32(f->dt, f->out, i, f32_binary(k, x, y));
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
