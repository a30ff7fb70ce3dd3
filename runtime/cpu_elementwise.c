/* cpu_elementwise.c — elementwise kernels: unary math, binary arithmetic,
 * comparisons and logical ops, where, masked_fill.
 *
 * Every kernel runs on the iterator of cpu_view.c (operands broadcast to the
 * output's shape first) and works in blocks of BLOCK elements: a block is
 * converted into a dense buffer of the compute type (f32 for f16/bf16/f32,
 * f64 for f64, int64 for integers and bool), one tight loop per op computes
 * it, and the result is converted back.  Operands that already are dense
 * arrays of the compute type are used in place, so the common contiguous
 * f32/f64 case copies nothing and the per-op loops vectorize. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tirrt_cpu.h"

enum { BLOCK = 512 };

typedef enum { CT_F32, CT_F64, CT_I64 } ctype_t;

typedef union {
  float f[BLOCK];
  double d[BLOCK];
  int64_t i[BLOCK];
} buf_t;

static bool is_float(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

static ctype_t ctype_of(tirrt_dtype_t dt) {
  if (dt == TIRRT_DTYPE_F64) return CT_F64;
  return is_float(dt) ? CT_F32 : CT_I64;
}

/* The storage dtype that is the compute type itself (used in place). */
static tirrt_dtype_t native_dtype(ctype_t ct) {
  return ct == CT_F32 ? TIRRT_DTYPE_F32 : ct == CT_F64 ? TIRRT_DTYPE_F64 : TIRRT_DTYPE_I64;
}

static size_t ctype_size(ctype_t ct) { return ct == CT_F32 ? 4 : 8; }

static bool dense_native(ctype_t ct, tirrt_dtype_t dt, const char *p, int64_t stride) {
  size_t es = ctype_size(ct);
  return dt == native_dtype(ct) && stride == (int64_t)es && (uintptr_t)p % es == 0;
}

/* The m elements at p as a dense compute-type array: p itself, or a
 * converted copy in buf. */
static const void *load_in(ctype_t ct, tirrt_dtype_t dt, const char *p, int64_t stride, int64_t m,
                           buf_t *buf) {
  if (dense_native(ct, dt, p, stride)) return p;
  switch (ct) {
  case CT_F32: tirrt_load_f32(dt, p, stride, m, buf->f); break;
  case CT_F64: tirrt_load_f64(dt, p, stride, m, buf->d); break;
  case CT_I64: tirrt_load_i64(dt, p, stride, m, buf->i); break;
  }
  return buf;
}

/* Where to compute results for the output at p: p itself when it is a dense
 * compute-type array, else buf (and store_out converts afterwards). */
static void *out_dst(ctype_t ct, tirrt_dtype_t dt, char *p, int64_t stride, buf_t *buf) {
  return dense_native(ct, dt, p, stride) ? (void *)p : (void *)buf;
}

static void store_out(ctype_t ct, tirrt_dtype_t dt, char *p, int64_t stride, int64_t m,
                      const void *res) {
  if (res == p) return;
  switch (ct) {
  case CT_F32: tirrt_store_f32(dt, p, stride, m, res); break;
  case CT_F64: tirrt_store_f64(dt, p, stride, m, res); break;
  case CT_I64: tirrt_store_i64(dt, p, stride, m, res); break;
  }
}

static void store_bool(char *p, int64_t stride, int64_t m, const uint8_t *res) {
  if (res == (const uint8_t *)p) return;
  for (int64_t i = 0; i < m; i++) p[i * stride] = (char)res[i];
}

/* int64 from the low 64 bits of u, without implementation-defined casts. */
static inline int64_t wrap64(uint64_t u) {
  return u <= (uint64_t)INT64_MAX ? (int64_t)u : (int64_t)(u - (uint64_t)INT64_MAX - 1u) + INT64_MIN;
}

static const char *const unop_names[] = {
    "neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal", "tanh", "sigmoid",
    "relu", "silu", "erf", "sin", "cos", "gelu", "gelu(tanh)", "logical_not"};
static const char *const binop_names[] = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or"};

static tirrt_status_t shape_error(const char *op, const tirrt_view_t *in, const char *what,
                                  const tirrt_view_t *out) {
  char a[TIRRT_SHAPE_STR_MAX], b[TIRRT_SHAPE_STR_MAX];
  tirrt_format_shape(in->shape, in->rank, a, sizeof a);
  tirrt_format_shape(out->shape, out->rank, b, sizeof b);
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                           "%s: %s of shape %s does not broadcast to the output shape %s", op, what,
                           a, b);
}

static tirrt_status_t dtype_error(const char *op, const char *what, tirrt_dtype_t dt) {
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, which it does not take",
                           op, what, tirrt_dtype_name(dt));
}

/* ------------------------------------------------------------ unary */

/* The float math, written once for float (S = f: expf, ...) and double
 * (S empty: exp, ...).  Constants are cast to T so f32 stays in f32.  The
 * constant folder (passes/fold.c), kernels/ops.cu and codegen/fuse_src.c
 * write the same expressions: a folded constant must be bit for bit what
 * this computes (test/unit/test_fold_vs_run.c), so change them together. */
#define DEFINE_UNARY_FLOAT(NAME, T, S)                                                   \
  static inline T NAME##_sigmoid(T x) {                                                  \
    /* exp of a negative argument only, so large |x| neither overflows nor loses the     \
     * tiny side: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below. */                           \
    if (x >= 0) return (T)1 / ((T)1 + exp##S(-x));                                       \
    T e = exp##S(x);                                                                     \
    return e / ((T)1 + e);                                                               \
  }                                                                                      \
  static void NAME(tirrt_unop_t op, const T *x, T *y, int64_t n) {                       \
    const T rsqrt2 = (T)0.70710678118654752440, k = (T)0.79788456080286535588; /* sqrt(2/pi) */ \
    switch (op) {                                                                        \
    case TIRRT_UN_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;              \
    case TIRRT_UN_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabs##S(x[i]); break;      \
    case TIRRT_UN_EXP: for (int64_t i = 0; i < n; i++) y[i] = exp##S(x[i]); break;       \
    case TIRRT_UN_LOG: for (int64_t i = 0; i < n; i++) y[i] = log##S(x[i]); break;       \
    case TIRRT_UN_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrt##S(x[i]); break;     \
    case TIRRT_UN_RSQRT: for (int64_t i = 0; i < n; i++) y[i] = (T)1 / sqrt##S(x[i]); break; \
    case TIRRT_UN_RECIPROCAL: for (int64_t i = 0; i < n; i++) y[i] = (T)1 / x[i]; break; \
    case TIRRT_UN_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanh##S(x[i]); break;     \
    case TIRRT_UN_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = NAME##_sigmoid(x[i]); break; \
    /* x < 0 ? 0 : x keeps NaN NaN, as torch.relu does. */                               \
    case TIRRT_UN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? (T)0 : x[i]; break; \
    case TIRRT_UN_SILU: for (int64_t i = 0; i < n; i++) y[i] = x[i] * NAME##_sigmoid(x[i]); break; \
    case TIRRT_UN_ERF: for (int64_t i = 0; i < n; i++) y[i] = erf##S(x[i]); break;       \
    case TIRRT_UN_SIN: for (int64_t i = 0; i < n; i++) y[i] = sin##S(x[i]); break;       \
    case TIRRT_UN_COS: for (int64_t i = 0; i < n; i++) y[i] = cos##S(x[i]); break;       \
    /* gelu = 0.5x(1 + erf(x/sqrt2)), written 0.5x erfc(-x/sqrt2): for negative x,        \
     * 1 + erf cancels (erf -> -1) and loses most digits in f32; erfc does not. */         \
    case TIRRT_UN_GELU:                                                                  \
      for (int64_t i = 0; i < n; i++) y[i] = (T)0.5 * x[i] * erfc##S(-x[i] * rsqrt2);   \
      break;                                                                             \
    /* 0.5x(1 + tanh(u)) = x sigmoid(2u), the same function without the cancellation      \
     * of 1 + tanh(u) for negative u. */                                                 \
    case TIRRT_UN_GELU_TANH:                                                             \
      for (int64_t i = 0; i < n; i++) {                                                  \
        T v = x[i];                                                                      \
        y[i] = v * NAME##_sigmoid((T)2 * k * (v + (T)0.044715 * v * v * v));             \
      }                                                                                  \
      break;                                                                             \
    case TIRRT_UN_LOGICAL_NOT: break; /* handled by the caller */                        \
    }                                                                                    \
  }

DEFINE_UNARY_FLOAT(unary_f32, float, f)
DEFINE_UNARY_FLOAT(unary_f64, double, )

static void unary_i64(tirrt_unop_t op, const int64_t *x, int64_t *y, int64_t n) {
  switch (op) {
  case TIRRT_UN_NEG: for (int64_t i = 0; i < n; i++) y[i] = wrap64(0u - (uint64_t)x[i]); break;
  case TIRRT_UN_ABS:
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? wrap64(0u - (uint64_t)x[i]) : x[i];
    break;
  case TIRRT_UN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i]; break;
  default: break; /* rejected before */
  }
}

static void logical_not(ctype_t ct, const void *x, uint8_t *y, int64_t n) {
  const float *f = x;
  const double *d = x;
  const int64_t *k = x;
  switch (ct) {
  case CT_F32: for (int64_t i = 0; i < n; i++) y[i] = f[i] == 0; break;
  case CT_F64: for (int64_t i = 0; i < n; i++) y[i] = d[i] == 0; break;
  case CT_I64: for (int64_t i = 0; i < n; i++) y[i] = k[i] == 0; break;
  }
}

tirrt_status_t tirrt_cpu_unary(tirrt_unop_t op, const tirrt_view_t *x, const tirrt_view_t *out) {
  if ((unsigned)op > (unsigned)TIRRT_UN_LOGICAL_NOT)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "unary: unknown op %d", (int)op);
  const char *name = unop_names[op];
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, name, "the input")) || (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (op == TIRRT_UN_LOGICAL_NOT) {
    /* Any input dtype (nonzero is true); the output is bool. */
    if (out->dtype != TIRRT_DTYPE_BOOL) return dtype_error(name, "the output", out->dtype);
  } else {
    if (x->dtype != out->dtype)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: the input is %s but the output is %s",
                               name, tirrt_dtype_name(x->dtype), tirrt_dtype_name(out->dtype));
    bool int_ok = op == TIRRT_UN_NEG || op == TIRRT_UN_ABS || op == TIRRT_UN_RELU;
    if (!is_float(x->dtype) && (!int_ok || x->dtype == TIRRT_DTYPE_BOOL))
      return dtype_error(name, "the input", x->dtype);
  }
  tirrt_view_t xb;
  if ((s = tirrt_view_broadcast_to(x, out->rank, out->shape, &xb))) {
    tirrt_status_free(s);
    return shape_error(name, x, "the input", out);
  }
  if (tirrt_view_numel(out) == 0) return NULL;
  const tirrt_view_t *vs[2] = {out, &xb};
  tirrt_iter_t it;
  tirrt_iter_init(&it, 2, vs);
  ctype_t ct = ctype_of(x->dtype);
  buf_t bx, by;
  uint8_t bb[BLOCK];
  do {
    for (int64_t j = 0; j < it.n; j += BLOCK) {
      int64_t m = it.n - j < BLOCK ? it.n - j : BLOCK;
      char *po = it.ptr[0] + j * it.step[0];
      const void *px = load_in(ct, x->dtype, it.ptr[1] + j * it.step[1], it.step[1], m, &bx);
      if (op == TIRRT_UN_LOGICAL_NOT) {
        uint8_t *o = it.step[0] == 1 ? (uint8_t *)po : bb;
        logical_not(ct, px, o, m);
        store_bool(po, it.step[0], m, o);
        continue;
      }
      void *o = out_dst(ct, out->dtype, po, it.step[0], &by);
      switch (ct) {
      case CT_F32: unary_f32(op, px, o, m); break;
      case CT_F64: unary_f64(op, px, o, m); break;
      case CT_I64: unary_i64(op, px, o, m); break;
      }
      store_out(ct, out->dtype, po, it.step[0], m, o);
    }
  } while (tirrt_iter_next(&it));
  return NULL;
}

/* ------------------------------------------------------------ binary */

static bool is_predicate(tirrt_binop_t op) { return op >= TIRRT_BIN_EQ; }

/* Arithmetic writes T; comparisons and logical ops write bool bytes.
 * maximum/minimum propagate NaN like torch: the first test picks a when it
 * wins or is NaN, and b otherwise (NaN included). */
#define DEFINE_BINARY_FLOAT(NAME, T, S)                                                     \
  static void NAME(tirrt_binop_t op, const T *a, const T *b, void *out, int64_t n) {        \
    T *y = out;                                                                             \
    uint8_t *c = out;                                                                       \
    switch (op) {                                                                           \
    case TIRRT_BIN_ADD: for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i]; break;          \
    case TIRRT_BIN_SUB: for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i]; break;          \
    case TIRRT_BIN_MUL: for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i]; break;          \
    case TIRRT_BIN_DIV: for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i]; break;          \
    case TIRRT_BIN_POW: for (int64_t i = 0; i < n; i++) y[i] = pow##S(a[i], b[i]); break;   \
    case TIRRT_BIN_MAXIMUM:                                                                 \
      for (int64_t i = 0; i < n; i++) y[i] = (a[i] > b[i] || isnan(a[i])) ? a[i] : b[i];    \
      break;                                                                                \
    case TIRRT_BIN_MINIMUM:                                                                 \
      for (int64_t i = 0; i < n; i++) y[i] = (a[i] < b[i] || isnan(a[i])) ? a[i] : b[i];    \
      break;                                                                                \
    case TIRRT_BIN_EQ: for (int64_t i = 0; i < n; i++) c[i] = a[i] == b[i]; break;          \
    case TIRRT_BIN_NE: for (int64_t i = 0; i < n; i++) c[i] = a[i] != b[i]; break;          \
    case TIRRT_BIN_LT: for (int64_t i = 0; i < n; i++) c[i] = a[i] < b[i]; break;           \
    case TIRRT_BIN_LE: for (int64_t i = 0; i < n; i++) c[i] = a[i] <= b[i]; break;          \
    case TIRRT_BIN_GT: for (int64_t i = 0; i < n; i++) c[i] = a[i] > b[i]; break;           \
    case TIRRT_BIN_GE: for (int64_t i = 0; i < n; i++) c[i] = a[i] >= b[i]; break;          \
    case TIRRT_BIN_LOGICAL_AND:                                                             \
      for (int64_t i = 0; i < n; i++) c[i] = (a[i] != 0) & (b[i] != 0);                     \
      break;                                                                                \
    case TIRRT_BIN_LOGICAL_OR:                                                              \
      for (int64_t i = 0; i < n; i++) c[i] = (a[i] != 0) | (b[i] != 0);                     \
      break;                                                                                \
    }                                                                                       \
  }

DEFINE_BINARY_FLOAT(binary_f32, float, f)
DEFINE_BINARY_FLOAT(binary_f64, double, )

/* base^e wrapping like repeated multiplication; for e < 0 the integer part
 * of the true power: 1 for base 1, +-1 for base -1, else 0 (torch's rule
 * for integer tensors; base 0 gives 0 like a division by zero).  The
 * folder (passes/fold.c) and the GPU (kernels/ops.cu) use this formula. */
static int64_t ipow(int64_t base, int64_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)base;
  while (e > 0) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return wrap64(r);
}

/* Integer ops in int64, wrapping (unsigned arithmetic, so overflow is
 * defined).  Division truncates; x / 0 is 0 and INT64_MIN / -1 wraps to
 * INT64_MIN: a GPU kernel cannot raise, so every target (and the constant
 * folder) defines these values instead of failing (docs/language.md). */
static void binary_i64(tirrt_binop_t op, const int64_t *a, const int64_t *b, void *out, int64_t n) {
  int64_t *y = out;
  uint8_t *c = out;
  switch (op) {
  case TIRRT_BIN_ADD: for (int64_t i = 0; i < n; i++) y[i] = wrap64((uint64_t)a[i] + (uint64_t)b[i]); break;
  case TIRRT_BIN_SUB: for (int64_t i = 0; i < n; i++) y[i] = wrap64((uint64_t)a[i] - (uint64_t)b[i]); break;
  case TIRRT_BIN_MUL: for (int64_t i = 0; i < n; i++) y[i] = wrap64((uint64_t)a[i] * (uint64_t)b[i]); break;
  case TIRRT_BIN_DIV:
    for (int64_t i = 0; i < n; i++)
      y[i] = b[i] == 0 ? 0 : b[i] == -1 ? wrap64(0u - (uint64_t)a[i]) : a[i] / b[i];
    break;
  case TIRRT_BIN_POW: for (int64_t i = 0; i < n; i++) y[i] = ipow(a[i], b[i]); break;
  case TIRRT_BIN_MAXIMUM: for (int64_t i = 0; i < n; i++) y[i] = a[i] > b[i] ? a[i] : b[i]; break;
  case TIRRT_BIN_MINIMUM: for (int64_t i = 0; i < n; i++) y[i] = a[i] < b[i] ? a[i] : b[i]; break;
  case TIRRT_BIN_EQ: for (int64_t i = 0; i < n; i++) c[i] = a[i] == b[i]; break;
  case TIRRT_BIN_NE: for (int64_t i = 0; i < n; i++) c[i] = a[i] != b[i]; break;
  case TIRRT_BIN_LT: for (int64_t i = 0; i < n; i++) c[i] = a[i] < b[i]; break;
  case TIRRT_BIN_LE: for (int64_t i = 0; i < n; i++) c[i] = a[i] <= b[i]; break;
  case TIRRT_BIN_GT: for (int64_t i = 0; i < n; i++) c[i] = a[i] > b[i]; break;
  case TIRRT_BIN_GE: for (int64_t i = 0; i < n; i++) c[i] = a[i] >= b[i]; break;
  case TIRRT_BIN_LOGICAL_AND: for (int64_t i = 0; i < n; i++) c[i] = (a[i] != 0) & (b[i] != 0); break;
  case TIRRT_BIN_LOGICAL_OR: for (int64_t i = 0; i < n; i++) c[i] = (a[i] != 0) | (b[i] != 0); break;
  }
}

tirrt_status_t tirrt_cpu_binary(tirrt_binop_t op, const tirrt_view_t *a, const tirrt_view_t *b,
                                const tirrt_view_t *out) {
  if ((unsigned)op > (unsigned)TIRRT_BIN_LOGICAL_OR)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "binary: unknown op %d", (int)op);
  const char *name = binop_names[op];
  tirrt_status_t s;
  if ((s = tirrt_view_check(a, name, "the first operand")) ||
      (s = tirrt_view_check(b, name, "the second operand")) ||
      (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (a->dtype != b->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: operands of different dtypes %s and %s",
                             name, tirrt_dtype_name(a->dtype), tirrt_dtype_name(b->dtype));
  bool pred = is_predicate(op);
  if (pred ? out->dtype != TIRRT_DTYPE_BOOL : out->dtype != a->dtype)
    return dtype_error(name, "the output", out->dtype);
  /* Bool takes the predicates and maximum/minimum (or/and), no arithmetic. */
  if (a->dtype == TIRRT_DTYPE_BOOL && op <= TIRRT_BIN_POW) return dtype_error(name, "the input", a->dtype);
  tirrt_view_t ab, bb;
  if ((s = tirrt_view_broadcast_to(a, out->rank, out->shape, &ab))) {
    tirrt_status_free(s);
    return shape_error(name, a, "the first operand", out);
  }
  if ((s = tirrt_view_broadcast_to(b, out->rank, out->shape, &bb))) {
    tirrt_status_free(s);
    return shape_error(name, b, "the second operand", out);
  }
  if (tirrt_view_numel(out) == 0) return NULL;
  const tirrt_view_t *vs[3] = {out, &ab, &bb};
  tirrt_iter_t it;
  tirrt_iter_init(&it, 3, vs);
  ctype_t ct = ctype_of(a->dtype);
  buf_t ba, bbuf, bo;
  do {
    for (int64_t j = 0; j < it.n; j += BLOCK) {
      int64_t m = it.n - j < BLOCK ? it.n - j : BLOCK;
      char *po = it.ptr[0] + j * it.step[0];
      const void *pa = load_in(ct, a->dtype, it.ptr[1] + j * it.step[1], it.step[1], m, &ba);
      const void *pb = load_in(ct, b->dtype, it.ptr[2] + j * it.step[2], it.step[2], m, &bbuf);
      void *o = pred ? (it.step[0] == 1 ? (void *)po : (void *)&bo)
                     : out_dst(ct, out->dtype, po, it.step[0], &bo);
      switch (ct) {
      case CT_F32: binary_f32(op, pa, pb, o, m); break;
      case CT_F64: binary_f64(op, pa, pb, o, m); break;
      case CT_I64: binary_i64(op, pa, pb, o, m); break;
      }
      if (pred) store_bool(po, it.step[0], m, o);
      else store_out(ct, out->dtype, po, it.step[0], m, o);
    }
  } while (tirrt_iter_next(&it));
  return NULL;
}

/* ------------------------------------------------------------ where / masked_fill */

/* Selection copies bytes: no conversion, so every dtype is exact. */
#define SELECT_LOOP(ES)                                                        \
  for (int64_t i = 0; i < it.n; i++) {                                         \
    const char *src = it.ptr[1][i * it.step[1]] ? it.ptr[2] + i * it.step[2]   \
                                                : it.ptr[3] + i * it.step[3];  \
    memcpy(it.ptr[0] + i * it.step[0], src, ES);                               \
  }                                                                            \
  break

static tirrt_status_t where_impl(const char *name, const char *cond_what, const tirrt_view_t *cond,
                                 const tirrt_view_t *a, const tirrt_view_t *b,
                                 const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(cond, name, cond_what)) ||
      (s = tirrt_view_check(a, name, "the first value")) ||
      (s = tirrt_view_check(b, name, "the second value")) ||
      (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (cond->dtype != TIRRT_DTYPE_BOOL) return dtype_error(name, cond_what, cond->dtype);
  if (a->dtype != out->dtype || b->dtype != out->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: values of dtypes %s and %s for an %s output",
                             name, tirrt_dtype_name(a->dtype), tirrt_dtype_name(b->dtype),
                             tirrt_dtype_name(out->dtype));
  tirrt_view_t cv, av, bv;
  const tirrt_view_t *ins[3] = {cond, a, b};
  tirrt_view_t *bcs[3] = {&cv, &av, &bv};
  const char *whats[3] = {cond_what, "the first value", "the second value"};
  for (int k = 0; k < 3; k++) {
    if ((s = tirrt_view_broadcast_to(ins[k], out->rank, out->shape, bcs[k]))) {
      tirrt_status_free(s);
      return shape_error(name, ins[k], whats[k], out);
    }
  }
  if (tirrt_view_numel(out) == 0) return NULL;
  const tirrt_view_t *vs[4] = {out, &cv, &av, &bv};
  tirrt_iter_t it;
  tirrt_iter_init(&it, 4, vs);
  do {
    switch (tirrt_dtype_size(out->dtype)) {
    case 1: SELECT_LOOP(1);
    case 2: SELECT_LOOP(2);
    case 4: SELECT_LOOP(4);
    default: SELECT_LOOP(8);
    }
  } while (tirrt_iter_next(&it));
  return NULL;
}

tirrt_status_t tirrt_cpu_where(const tirrt_view_t *cond, const tirrt_view_t *a,
                               const tirrt_view_t *b, const tirrt_view_t *out) {
  return where_impl("where", "the condition", cond, a, b, out);
}

tirrt_status_t tirrt_cpu_masked_fill(const tirrt_view_t *x, const tirrt_view_t *mask, double value,
                                     const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, "masked_fill", "the input"))) return s;
  uint64_t storage;
  tirrt_view_t v = tirrt_view_scalar(x->dtype, value, &storage);
  return where_impl("masked_fill", "the mask", mask, &v, x, out);
}
