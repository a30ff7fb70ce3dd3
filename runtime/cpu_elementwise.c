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
#include "tir_ew.h"
#include "tirrt_cpu.h"

/* The runtime's op numbers (public, in tirrt.h) are made from the common
 * table as the kernels' and tir_ew.h's are; they cross the program format,
 * so check that the two expansions agree. */
_Static_assert((int)TIRRT_UN_COUNT == TIR_EW_UN_COUNT && (int)TIRRT_UN_GELU == TIR_EW_UN_GELU,
               "tirrt_unop_t differs from the op table");
_Static_assert((int)TIRRT_BIN_COUNT == TIR_EW_BIN_COUNT && (int)TIRRT_BIN_EQ == TIR_EW_BIN_EQ,
               "tirrt_binop_t differs from the op table");
_Static_assert((int)TIRRT_RED_COUNT == TIR_EW_RED_COUNT, "tirrt_redop_t differs from the op table");

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

/* An op's name for messages (gelu's tanh form as the IR writes it). */
static const char *op_name(int arity, int op) {
  return arity == 1 && op == TIR_EW_UN_GELU_TANH ? "gelu(tanh)" : tir_ew_row(arity, op)->name;
}

static int dtype_kind(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_BOOL ? TIR_DK_BOOL : is_float(dt) ? TIR_DK_FLOAT : TIR_DK_INT;
}

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

/* One tight loop per op over a block (so the loops vectorize), calling the
 * common table's scalar function of the op (tir_ewf_*, tir_ewd_*, tir_ewi_*:
 * the formulas the folder and the GPU compute too).  Predicates write bool
 * bytes; everything else writes the compute type. */
#define UN_CASE(PFX, RT, E, name)                                           \
  case TIRRT_UN_##E: {                                                      \
    RT *o = out;                                                            \
    for (int64_t i = 0; i < n; i++) o[i] = (RT)PFX##name(x[i]);             \
  } break;
#define UN_RT_SAME(CT) CT
#define UN_RT_BOOL(CT) uint8_t
#define UN_F32(E, name, DOM, RES, ...) UN_CASE(tir_ewf_, UN_RT_##RES(float), E, name)
#define UN_F64(E, name, DOM, RES, ...) UN_CASE(tir_ewd_, UN_RT_##RES(double), E, name)
#define UN_I64_FLOAT(E, name, RES)
#define UN_I64_NUM(E, name, RES) UN_CASE(tir_ewi_, UN_RT_##RES(int64_t), E, name)
#define UN_I64_ALL(E, name, RES) UN_CASE(tir_ewi_, UN_RT_##RES(int64_t), E, name)
#define UN_I64(E, name, DOM, RES, ...) UN_I64_##DOM(E, name, RES)

static void unary_f32(tirrt_unop_t op, const float *x, void *out, int64_t n) {
  switch (op) { TIR_EW_UNARY_ROWS(UN_F32) }
}
static void unary_f64(tirrt_unop_t op, const double *x, void *out, int64_t n) {
  switch (op) { TIR_EW_UNARY_ROWS(UN_F64) }
}
static void unary_i64(tirrt_unop_t op, const int64_t *x, void *out, int64_t n) {
  switch (op) {
    TIR_EW_UNARY_ROWS(UN_I64)
  default: break; /* float-only ops: rejected before */
  }
}

tirrt_status_t tirrt_cpu_unary(tirrt_unop_t op, const tirrt_view_t *x, const tirrt_view_t *out) {
  const tir_ew_row_t *row = tir_ew_row(1, (int)op);
  if (!row) return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "unary: unknown op %d", (int)op);
  const char *name = op_name(1, (int)op);
  bool pred = row->result == TIR_EW_RES_BOOL;
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, name, "the input")) || (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (pred) {
    /* logical_not: the output is bool. */
    if (out->dtype != TIRRT_DTYPE_BOOL) return dtype_error(name, "the output", out->dtype);
  } else if (x->dtype != out->dtype) {
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: the input is %s but the output is %s",
                             name, tirrt_dtype_name(x->dtype), tirrt_dtype_name(out->dtype));
  }
  if (!tir_ew_takes(row, dtype_kind(x->dtype))) return dtype_error(name, "the input", x->dtype);
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
  do {
    for (int64_t j = 0; j < it.n; j += BLOCK) {
      int64_t m = it.n - j < BLOCK ? it.n - j : BLOCK;
      char *po = it.ptr[0] + j * it.step[0];
      const void *px = load_in(ct, x->dtype, it.ptr[1] + j * it.step[1], it.step[1], m, &bx);
      void *o = pred ? (it.step[0] == 1 ? (void *)po : (void *)&by)
                     : out_dst(ct, out->dtype, po, it.step[0], &by);
      switch (ct) {
      case CT_F32: unary_f32(op, px, o, m); break;
      case CT_F64: unary_f64(op, px, o, m); break;
      case CT_I64: unary_i64(op, px, o, m); break;
      }
      if (pred) store_bool(po, it.step[0], m, o);
      else store_out(ct, out->dtype, po, it.step[0], m, o);
    }
  } while (tirrt_iter_next(&it));
  return NULL;
}

/* ------------------------------------------------------------ binary */

#define BIN_CASE(PFX, RT, E, name)                                          \
  case TIRRT_BIN_##E: {                                                     \
    RT *o = out;                                                            \
    for (int64_t i = 0; i < n; i++) o[i] = (RT)PFX##name(a[i], b[i]);       \
  } break;
#define BIN_F32(E, name, DOM, RES, ...) BIN_CASE(tir_ewf_, UN_RT_##RES(float), E, name)
#define BIN_F64(E, name, DOM, RES, ...) BIN_CASE(tir_ewd_, UN_RT_##RES(double), E, name)
#define BIN_I64_NUM(E, name, RES) BIN_CASE(tir_ewi_, UN_RT_##RES(int64_t), E, name)
#define BIN_I64_ALL(E, name, RES) BIN_CASE(tir_ewi_, UN_RT_##RES(int64_t), E, name)
#define BIN_I64(E, name, DOM, RES, ...) BIN_I64_##DOM(E, name, RES)

static void binary_f32(tirrt_binop_t op, const float *a, const float *b, void *out, int64_t n) {
  switch (op) { TIR_EW_BINARY_ROWS(BIN_F32) }
}
static void binary_f64(tirrt_binop_t op, const double *a, const double *b, void *out, int64_t n) {
  switch (op) { TIR_EW_BINARY_ROWS(BIN_F64) }
}
static void binary_i64(tirrt_binop_t op, const int64_t *a, const int64_t *b, void *out, int64_t n) {
  switch (op) { TIR_EW_BINARY_ROWS(BIN_I64) }
}

tirrt_status_t tirrt_cpu_binary(tirrt_binop_t op, const tirrt_view_t *a, const tirrt_view_t *b,
                                const tirrt_view_t *out) {
  const tir_ew_row_t *row = tir_ew_row(2, (int)op);
  if (!row) return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "binary: unknown op %d", (int)op);
  const char *name = op_name(2, (int)op);
  tirrt_status_t s;
  if ((s = tirrt_view_check(a, name, "the first operand")) ||
      (s = tirrt_view_check(b, name, "the second operand")) ||
      (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (a->dtype != b->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: operands of different dtypes %s and %s",
                             name, tirrt_dtype_name(a->dtype), tirrt_dtype_name(b->dtype));
  bool pred = row->result == TIR_EW_RES_BOOL;
  if (pred ? out->dtype != TIRRT_DTYPE_BOOL : out->dtype != a->dtype)
    return dtype_error(name, "the output", out->dtype);
  /* Bool takes the predicates and maximum/minimum (or/and), no arithmetic. */
  if (!tir_ew_takes(row, dtype_kind(a->dtype))) return dtype_error(name, "the input", a->dtype);
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
