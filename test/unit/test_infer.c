/* test_infer.c — unit tests for shape/dtype inference (tir_infer_op,
 * tir_broadcast_shapes) over every op of ops.def, static and symbolic, the
 * error messages of bad cases, and the verifier (tir_verify_module) on valid
 * and deliberately corrupted functions.  Prints `N passed, M failed` last. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "tt.h"

static TirModule *M;
static TirFunc *F;
static TirDiag *D;
static FILE *dout; /* the diag's stream: a memstream we can read back */
static char *dbuf;
static size_t dlen, dseen;

/* A check reported at the line of the test case that called the helper. */
#define report(line, ...) tt_check_at(__FILE__, line, __VA_ARGS__)

/* Diagnostics printed since the last call. */
static const char *new_diags(void) {
  static char buf[4096];
  fflush(dout);
  size_t n = dlen - dseen < sizeof buf - 1 ? dlen - dseen : sizeof buf - 1;
  memcpy(buf, dbuf + dseen, n);
  buf[n] = 0;
  dseen = dlen;
  return buf;
}

/* ---------------------------------------------------------------- a tiny type parser */
/* Grammar: expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*;
 * factor := '-'? number | ident | '(' expr ')'. */
static const TirDim *p_expr(const char **p);
static void skip(const char **p) {
  while (**p == ' ') (*p)++;
}
static const TirDim *p_factor(const char **p) {
  skip(p);
  if (**p == '(') {
    (*p)++;
    const TirDim *d = p_expr(p);
    skip(p);
    (*p)++; /* ')' */
    return d;
  }
  if (**p == '-' || (**p >= '0' && **p <= '9')) {
    char *end;
    long long v = strtoll(*p, &end, 10);
    *p = end;
    return tir_dim_const(M, v);
  }
  const char *s = *p;
  while ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z') || (**p >= '0' && **p <= '9') ||
         **p == '_')
    (*p)++;
  return tir_dim_sym(M, s, (size_t)(*p - s));
}
static const TirDim *p_term(const char **p) {
  const TirDim *d = p_factor(p);
  for (;;) {
    skip(p);
    if (**p == '*') (*p)++, d = tir_dim_mul(M, d, p_factor(p), NULL);
    else if (**p == '/') (*p)++, d = tir_dim_floordiv(M, d, p_factor(p), NULL);
    else return d;
  }
}
static const TirDim *p_expr(const char **p) {
  const TirDim *d = p_term(p);
  for (;;) {
    skip(p);
    if (**p == '+') (*p)++, d = tir_dim_add(M, d, p_term(p), NULL);
    else if (**p == '-') (*p)++, d = tir_dim_sub(M, d, p_term(p), NULL);
    else return d;
  }
}
static const TirDim *DM(const char *s) { return p_expr(&s); }

/* Comma separated dims into v; returns the count. */
static int p_dims(const char *s, const TirDim **v) {
  int n = 0;
  skip(&s);
  if (*s == 0 || *s == ']') return 0;
  for (;;) {
    v[n++] = p_expr(&s);
    skip(&s);
    if (*s != ',') return n;
    s++;
  }
}

static TirType T(const char *s) {
  TirType t;
  memset(&t, 0, sizeof t);
  const char *b = strchr(s, '[');
  if (!tir_dtype_from_name(s, (size_t)(b - s), &t.dtype)) abort();
  t.rank = p_dims(b + 1, t.dims);
  return t;
}

static void type_str(const TirType *t, char *buf, size_t n) {
  FILE *f = fmemopen(buf, n - 1, "w");
  memset(buf, 0, n);
  tir_type_print(f, t);
  fclose(f);
}

/* ---------------------------------------------------------------- builders */

static TirValue *A(const char *type) {
  static int n;
  char name[32];
  snprintf(name, sizeof name, "a%d", n++);
  TirType t = T(type);
  return tir_func_add_arg(F, name, &t);
}

static TirOp *OPN(TirOpKind k, int n, TirValue *const *v) {
  return tir_op_new(M, k, v, n, TIR_LOC_UNKNOWN);
}
#define OP(k, ...)                                                                                 \
  OPN(TIR_OP_##k, (int)(sizeof((TirValue *[]){__VA_ARGS__}) / sizeof(TirValue *)),                 \
      (TirValue *[]){__VA_ARGS__})
#define OP0(k) OPN(TIR_OP_##k, 0, NULL)

static TirOp *ints(TirOp *op, const char *name, int n, ...) {
  int64_t v[TIR_MAX_RANK + 4];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) v[i] = va_arg(ap, int);
  va_end(ap);
  tir_op_set_ints(op, name, v, n);
  return op;
}
static TirOp *dims(TirOp *op, const char *name, const char *list) {
  const TirDim *v[TIR_MAX_RANK + 4];
  int n = p_dims(list, v);
  tir_op_set_dims(op, name, v, n);
  return op;
}
static TirOp *dim(TirOp *op, const char *name, const char *e) {
  tir_op_set_dim(op, name, DM(e));
  return op;
}
static TirOp *seti(TirOp *op, const char *name, int64_t v) {
  tir_op_set_int(op, name, v);
  return op;
}
static TirOp *setb(TirOp *op, const char *name, bool v) {
  tir_op_set_bool(op, name, v);
  return op;
}
static TirOp *setf(TirOp *op, const char *name, double v) {
  tir_op_set_float(op, name, v);
  return op;
}
static TirOp *sets(TirOp *op, const char *name, const char *v) {
  tir_op_set_str(op, name, v);
  return op;
}
static TirOp *setdt(TirOp *op, const char *name, TirDType v) {
  tir_op_set_dtype(op, name, v);
  return op;
}
static TirOp *setsc(TirOp *op, const char *name, double v, bool is_int) {
  TirScalar s = {is_int ? TIR_SCALAR_INT : TIR_SCALAR_FLOAT, (int64_t)v, v};
  tir_op_set_scalar(op, name, s);
  return op;
}

/* Inference must succeed with the given type; returns the result value. */
static TirValue *ok_type(int line, TirOp *op, const char *want) {
  int e0 = tir_diag_error_count(D);
  TirStatus st = tir_infer_op(M, op, D);
  const char *msg = new_diags();
  if (st != TIR_OK || tir_diag_error_count(D) != e0) {
    report(line, false, "%s: expected %s, got status %d: %s", tir_op_schema(op->kind)->name, want,
           (int)st, msg);
    return op->result;
  }
  TirType w = T(want);
  char got[256];
  type_str(&op->result->type, got, sizeof got);
  report(line, tir_type_equal(&w, &op->result->type), "%s: expected %s, got %s",
         tir_op_schema(op->kind)->name, want, got);
  return op->result;
}
/* Inference must fail with exactly one error whose text contains `sub`. */
static void bad(int line, TirOp *op, const char *sub) {
  int e0 = tir_diag_error_count(D);
  TirStatus st = tir_infer_op(M, op, D);
  const char *msg = new_diags();
  report(line, st == TIR_ERR_INPUT && tir_diag_error_count(D) == e0 + 1 && strstr(msg, sub),
         "%s: expected an error containing '%s', got status %d and: %s",
         tir_op_schema(op->kind)->name, sub, (int)st, msg);
}
#define OK(op, want) ok_type(__LINE__, (op), (want))
#define BAD(op, sub) bad(__LINE__, (op), (sub))

/* ---------------------------------------------------------------- inference tests */

static void test_broadcast(void) {
  TirType a = T("f32[B, 1, 4]"), b = T("f32[3, 1]"), r, w = T("f32[B, 3, 4]");
  CHECK(tir_broadcast_shapes(&a, &b, &r) && tir_type_equal(&r, &w));
  a = T("f32[B, 4]"), b = T("f32[T, 4]");
  CHECK(!tir_broadcast_shapes(&a, &b, &r));
  a = T("f32[0, 1]"), b = T("f32[1, 5]"), w = T("f32[0, 5]");
  CHECK(tir_broadcast_shapes(&a, &b, &r) && tir_type_equal(&r, &w));
  a = T("f32[2]"), b = T("f32[0]");
  CHECK(!tir_broadcast_shapes(&a, &b, &r));
  a = T("f32[B*T, 1]"), b = T("f32[T*B, 7]"), w = T("f32[B*T, 7]");
  CHECK(tir_broadcast_shapes(&a, &b, &a) && tir_type_equal(&a, &w)); /* out aliases a */
}

static void test_elementwise(void) {
  TirValue *x = A("f32[B, 4]"), *y = A("f32[T, 4]"), *i = A("i64[3]"), *bl = A("bool[B, 4]");
  OK(OP(EXP, x), "f32[B, 4]");
  OK(OP(SILU, A("bf16[2, T]")), "bf16[2, T]");
  BAD(OP(EXP, i), "float dtype");
  OK(sets(OP(GELU, x), "approximate", "tanh"), "f32[B, 4]");
  BAD(sets(OP(GELU, x), "approximate", "fast"),
      "approximate=\"fast\" is not one of \"none\", \"tanh\"");
  OK(OP(LOGICAL_NOT, bl), "bool[B, 4]");
  BAD(OP(LOGICAL_NOT, x), "must be bool");

  OK(OP(ADD, A("f32[B, 1, 4]"), A("f32[3, 1]")), "f32[B, 3, 4]");
  OK(OP(MUL, x, A("f32[]")), "f32[B, 4]");
  OK(OP(SUB, A("f32[1, T]"), A("f32[T, 1]")), "f32[T, T]");
  OK(OP(ADD, A("f32[B, 1]"), A("f32[1, 0]")), "f32[B, 0]");
  BAD(OP(ADD, x, y), "add: cannot broadcast f32[B, 4] and f32[T, 4]");
  BAD(OP(ADD, A("f32[4]"), A("f32[B]")), "cannot broadcast");
  BAD(OP(ADD, x, A("f16[B, 4]")), "dtypes differ: f32[B, 4] and f16[B, 4]");
  BAD(OP(ADD, bl, bl), "bool");
  OK(OP(MAXIMUM, bl, bl), "bool[B, 4]");
  OK(OP(POW, i, i), "i64[3]");
  BAD(OP(DIV, i, i), "integer division");
  OK(OP(DIV, x, x), "f32[B, 4]");
  OK(OP(LT, A("i32[B, 1]"), A("i32[5]")), "bool[B, 5]");
  BAD(OP(EQ, i, A("i32[3]")), "dtypes differ");
  OK(OP(LOGICAL_OR, bl, A("bool[4]")), "bool[B, 4]");
  BAD(OP(LOGICAL_AND, bl, x), "must be bool");

  OK(OP(WHERE, A("bool[T, 1]"), A("f32[1, 4]"), A("f32[]")), "f32[T, 4]");
  BAD(OP(WHERE, x, x, x), "condition must be bool");
  BAD(OP(WHERE, bl, x, A("f16[4]")), "dtypes differ");
  BAD(OP(WHERE, A("bool[T, 1]"), x, x), "cannot broadcast bool[T, 1], f32[B, 4] and f32[B, 4]");

  TirValue *sc = A("f32[B, H, T, T]");
  OK(setsc(OP(MASKED_FILL, sc, A("bool[T, T]")), "value", -INFINITY, false), "f32[B, H, T, T]");
  OK(setsc(OP(MASKED_FILL, sc, A("bool[1, 1, T, T]")), "value", 0, true), "f32[B, H, T, T]");
  BAD(setsc(OP(MASKED_FILL, A("f32[1, H, T, T]"), A("bool[B, 1, T, T]")), "value", 0, true),
      "does not broadcast to");
  BAD(setsc(OP(MASKED_FILL, sc, A("f32[T, T]")), "value", 0, true), "mask must be bool");
  BAD(setsc(OP(MASKED_FILL, A("i8[4]"), A("bool[4]")), "value", 300, true), "overflow");
  BAD(setsc(OP(MASKED_FILL, A("i32[4]"), A("bool[4]")), "value", -INFINITY, false), "overflow");
  OK(setsc(OP(MASKED_FILL, i, A("bool[3]")), "value", 1.5, false), "i64[3]");
  BAD(OP(MASKED_FILL, sc, A("bool[T, T]")), "missing attribute 'value'");

  OK(setdt(OP(CAST, x), "dtype", TIR_F16), "f16[B, 4]");
  BAD(OP(CAST, x), "missing attribute 'dtype'");
  BAD(seti(OP(CAST, x), "dtype", 3), "attribute 'dtype' must be a dtype");
}

static void test_reductions(void) {
  TirValue *x = A("f32[B, T, C]");
  OK(setb(ints(OP(SUM, x), "dims", 1, -1), "keepdim", true), "f32[B, T, 1]");
  OK(OP(SUM, x), "f32[]");
  OK(ints(OP(AMAX, x), "dims", 2, 0, 2), "f32[T]");
  OK(setb(OP(MEAN, x), "keepdim", true), "f32[1, 1, 1]");
  OK(ints(OP(SUM, A("i32[4, 5]")), "dims", 1, 0), "i64[5]");
  OK(OP(SUM, A("bool[4]")), "i64[]");
  OK(OP(AMIN, A("i8[4]")), "i8[]");
  OK(ints(OP(SUM, A("f64[]")), "dims", 1, 0), "f64[]");
  OK(ints(OP(SUM, x), "dims", 0), "f32[]");
  BAD(OP(MEAN, A("i64[4]")), "float dtype");
  BAD(ints(OP(SUM, x), "dims", 2, 0, -3), "dim 0 appears more than once");
  BAD(ints(OP(SUM, x), "dims", 1, 3), "dims=3 is out of range for rank 3");
  BAD(OP(AMAX, A("f32[0, 3]")), "zero-size");
  OK(ints(OP(AMAX, A("f32[0, 3]")), "dims", 1, 1), "f32[0]");

  OK(seti(OP(SOFTMAX, x), "dim", -1), "f32[B, T, C]");
  OK(seti(OP(LOG_SOFTMAX, A("f16[T]")), "dim", 0), "f16[T]");
  BAD(seti(OP(SOFTMAX, x), "dim", 3), "out of range");
  BAD(seti(OP(SOFTMAX, A("i32[4]")), "dim", 0), "float dtype");
  BAD(OP(SOFTMAX, x), "missing attribute 'dim'");
  BAD(setf(OP(SOFTMAX, x), "dim", 1.0), "attribute 'dim' must be an integer");

  TirValue *c = A("f32[C]");
  OK(OP(LAYER_NORM, x, c, c), "f32[B, T, C]");
  OK(OP(LAYER_NORM, x), "f32[B, T, C]");
  OK(seti(OP(LAYER_NORM, x, A("f32[T, C]")), "dims", 2), "f32[B, T, C]");
  BAD(OP(LAYER_NORM, x, A("f32[4]")),
      "weight f32[4] does not match the last 1 dim(s) of f32[B, T, C]");
  BAD(OP(LAYER_NORM, x, c, A("f32[T, C]")), "bias");
  BAD(seti(OP(LAYER_NORM, x), "dims", 0), "dims=0 must be in [1, 3]");
  BAD(seti(OP(LAYER_NORM, x), "dims", 4), "must be in [1, 3]");
  BAD(OP(LAYER_NORM, x, A("f16[C]")), "dtype differs");
  BAD(setf(OP(LAYER_NORM, x), "eps", -1), "eps");
  BAD(OP(LAYER_NORM, A("i32[4]")), "float dtype");
  OK(OP(RMS_NORM, x, c), "f32[B, T, C]");
  OK(setf(OP(RMS_NORM, x), "eps", 1e-6), "f32[B, T, C]");
  OK(OP(RMS_NORM, x, A("f32[T, C]")), "f32[B, T, C]");
  BAD(OP(RMS_NORM, x, A("f32[5]")), "does not match");
  BAD(OP(RMS_NORM, A("f32[C]"), A("f32[T, C]")), "rank");
  BAD(OP(RMS_NORM, A("f32[]")), "rank >= 1");
}

static void test_contractions(void) {
  OK(OP(MATMUL, A("f32[B, 1, L, E]"), A("f32[H, E, S]")), "f32[B, H, L, S]");
  OK(OP(MATMUL, A("f16[2, 3]"), A("f16[3, 5]")), "f16[2, 5]");
  OK(OP(MATMUL, A("i32[4, 2, 3]"), A("i32[3, 5]")), "i32[4, 2, 5]");
  BAD(OP(MATMUL, A("f32[2, 3]"), A("f32[4, 5]")),
      "matmul: inner dims differ: f32[2, 3] @ f32[4, 5]");
  BAD(OP(MATMUL, A("f32[3]"), A("f32[3, 5]")), "rank >= 2");
  BAD(OP(MATMUL, A("f32[B, 2, 3]"), A("f32[T, 3, 5]")), "batch dims do not broadcast");
  BAD(OP(MATMUL, A("f32[2, 3]"), A("f16[3, 5]")), "dtypes differ");
  BAD(OP(MATMUL, A("bool[2, 3]"), A("bool[3, 5]")), "bool");

  TirValue *x = A("f32[B, T, 64]"), *w = A("f32[192, 64]");
  OK(OP(LINEAR, x, w), "f32[B, T, 192]");
  OK(OP(LINEAR, x, w, A("f32[192]")), "f32[B, T, 192]");
  OK(OP(LINEAR, x, w, A("f32[1]")), "f32[B, T, 192]");
  OK(OP(LINEAR, A("f32[64]"), w), "f32[192]");
  BAD(OP(LINEAR, x, w, A("f32[191]")), "bias f32[191] does not broadcast to f32[192]");
  BAD(OP(LINEAR, x, w, A("f32[2, 192]")), "bias");
  BAD(OP(LINEAR, x, A("f32[64]")), "2-D");
  BAD(OP(LINEAR, x, A("f32[192, 32]")), "in features differ");
  BAD(OP(LINEAR, x, A("f16[192, 64]")), "dtype differs");
}

static void test_shapes(void) {
  TirValue *x = A("f32[B, T, 768]");
  TirValue *flat = OK(dims(OP(RESHAPE, x), "shape", "B*T, 768"), "f32[B*T, 768]");
  OK(dims(OP(RESHAPE, flat), "shape", "B, -1, 768"), "f32[B, T, 768]");
  OK(dims(OP(RESHAPE, x), "shape", "-1, 768"), "f32[B*T, 768]");
  OK(dims(OP(RESHAPE, x), "shape", "B, T, 12, 64"), "f32[B, T, 12, 64]");
  OK(dims(OP(RESHAPE, x), "shape", "B, T, 12, -1"), "f32[B, T, 12, 64]");
  OK(dims(OP(RESHAPE, A("f32[2, 3]")), "shape", "6"), "f32[6]");
  OK(dims(OP(RESHAPE, A("f32[0, 4]")), "shape", "4, 0"), "f32[4, 0]");
  OK(dims(OP(RESHAPE, A("f32[]")), "shape", "1, 1"), "f32[1, 1]");
  OK(dims(OP(RESHAPE, A("f32[1]")), "shape", ""), "f32[]");
  BAD(dims(OP(RESHAPE, A("f32[B, 16]")), "shape", "32, B"),
      "reshape: cannot reshape f32[B, 16] to f32[32, B]");
  BAD(dims(OP(RESHAPE, x), "shape", "-1, -1"), "only one dimension can be -1");
  BAD(dims(OP(RESHAPE, x), "shape", "-2, 768"), "invalid size -2");
  BAD(dims(OP(RESHAPE, A("f32[0, 4]")), "shape", "0, -1"), "ambiguous");
  BAD(dims(OP(RESHAPE, A("f32[2, 3]")), "shape", "7"), "cannot reshape f32[2, 3] to f32[7]");
  BAD(dims(OP(RESHAPE, A("f32[T]")), "shape", "2, -1"), "cannot reshape f32[T] to f32[2, -1]");
  BAD(dims(OP(RESHAPE, A("f32[6]")), "shape", "4, -1"), "cannot reshape");

  TirValue *y = A("f32[B, T, C]");
  OK(ints(OP(PERMUTE, y), "dims", 3, 2, 0, 1), "f32[C, B, T]");
  OK(ints(OP(PERMUTE, y), "dims", 3, -1, 0, 1), "f32[C, B, T]");
  OK(ints(OP(PERMUTE, A("f32[]")), "dims", 0), "f32[]");
  BAD(ints(OP(PERMUTE, y), "dims", 3, 0, 0, 1), "not a permutation");
  BAD(ints(OP(PERMUTE, y), "dims", 2, 0, 1), "has 2 entries");
  BAD(ints(OP(PERMUTE, y), "dims", 3, 0, 1, 3), "out of range");

  OK(seti(seti(OP(TRANSPOSE, y), "dim0", 1), "dim1", 2), "f32[B, C, T]");
  OK(seti(seti(OP(TRANSPOSE, y), "dim0", -1), "dim1", -3), "f32[C, T, B]");
  OK(seti(seti(OP(TRANSPOSE, A("f32[]")), "dim0", 0), "dim1", -1), "f32[]");
  BAD(seti(seti(OP(TRANSPOSE, y), "dim0", 0), "dim1", 3), "dim1=3 is out of range");

  TirValue *e = A("f32[1, T, 1]");
  OK(dims(OP(EXPAND, e), "shape", "B, -1, 4"), "f32[B, T, 4]");
  OK(dims(OP(EXPAND, e), "shape", "2, B, T, 4"), "f32[2, B, T, 4]");
  OK(dims(OP(EXPAND, A("f32[3]")), "shape", "0, 3"), "f32[0, 3]");
  BAD(dims(OP(EXPAND, A("f32[3, T]")), "shape", "4, T"), "cannot expand f32[3, T] to f32[4, T]");
  BAD(dims(OP(EXPAND, e), "shape", "T, 1"), "fewer dims");
  BAD(dims(OP(EXPAND, e), "shape", "-1, 1, T, 1"), "leading");
  BAD(dims(OP(EXPAND, A("f32[B]")), "shape", "1"), "cannot expand");
  BAD(dims(OP(EXPAND, e), "shape", "1, -3, 1"), "invalid size -3");

  TirValue *u = A("f32[B, T]");
  OK(seti(OP(UNSQUEEZE, u), "dim", 0), "f32[1, B, T]");
  OK(seti(OP(UNSQUEEZE, u), "dim", -1), "f32[B, T, 1]");
  OK(seti(OP(UNSQUEEZE, u), "dim", 2), "f32[B, T, 1]");
  OK(seti(OP(UNSQUEEZE, u), "dim", -2), "f32[B, 1, T]");
  BAD(seti(OP(UNSQUEEZE, u), "dim", 3), "out of range");
  BAD(seti(OP(UNSQUEEZE, u), "dim", -4), "out of range");

  OK(seti(OP(SQUEEZE, A("f32[B, 1, T]")), "dim", 1), "f32[B, T]");
  OK(seti(OP(SQUEEZE, A("f32[2, 1]")), "dim", 0), "f32[2, 1]");
  OK(OP(SQUEEZE, A("f32[1, B, 1, 3]")), "f32[B, 3]");
  OK(seti(OP(SQUEEZE, A("f32[]")), "dim", 0), "f32[]");
  BAD(seti(OP(SQUEEZE, u), "dim", 0), "cannot squeeze symbolic dim");
  BAD(seti(OP(SQUEEZE, u), "dim", 5), "out of range");
}

static void test_slice_concat(void) {
  TirValue *x = A("f32[10]");
  OK(dim(dim(dim(OP(SLICE, x), "start", "2"), "end", "8"), "step", "3"), "f32[2]");
  OK(dim(OP(SLICE, x), "start", "-3"), "f32[3]");
  OK(dim(OP(SLICE, x), "end", "-1"), "f32[9]");
  OK(dim(OP(SLICE, x), "start", "20"), "f32[0]");
  OK(dim(dim(OP(SLICE, x), "start", "5"), "end", "2"), "f32[0]");
  OK(dim(dim(OP(SLICE, x), "start", "-100"), "end", "100"), "f32[10]");
  OK(dim(OP(SLICE, x), "step", "4"), "f32[3]");
  OK(dim(OP(SLICE, x), "end", "9223372036854775807"), "f32[10]");
  BAD(dim(OP(SLICE, x), "step", "0"), "step=0 must be >= 1");
  BAD(dim(OP(SLICE, A("f32[]")), "end", "1"), "0-d");

  TirValue *y = A("f32[B, T, C]");
  OK(dim(dim(seti(OP(SLICE, y), "dim", 1), "start", "0"), "end", "T"), "f32[B, T, C]");
  OK(dim(seti(OP(SLICE, y), "dim", 1), "start", "-1"), "f32[B, 1, C]");
  OK(dim(seti(OP(SLICE, y), "dim", 1), "end", "-1"), "f32[B, T-1, C]");
  OK(dim(seti(OP(SLICE, y), "dim", 1), "start", "1"), "f32[B, T-1, C]");
  OK(dim(seti(OP(SLICE, y), "dim", -2), "end", "9223372036854775807"), "f32[B, T, C]");
  OK(dim(seti(OP(SLICE, y), "dim", 1), "step", "2"), "f32[B, (T+1)/2, C]");
  OK(dim(dim(seti(OP(SLICE, y), "dim", 1), "start", "T-4"), "end", "T"), "f32[B, 4, C]");
  OK(dim(dim(seti(OP(SLICE, A("f16[B, H, 1024, 64]")), "dim", 2), "start", "0"), "end", "S"),
     "f16[B, H, S, 64]");
  OK(dim(dim(seti(OP(SLICE, A("f32[8]")), "dim", 0), "start", "P"), "end", "P+2"), "f32[2]");
  BAD(seti(OP(SLICE, y), "dim", 3), "out of range");
  /* Attributes with defaults may be absent: the defaults apply. */
  TirOp *sl = dim(OP(SLICE, y), "start", "1");
  tir_op_clear_attr(sl, "dim");
  tir_op_clear_attr(sl, "step");
  OK(sl, "f32[B-1, T, C]");
  TirOp *ar = dim(OP0(ARANGE), "end", "T");
  tir_op_clear_attr(ar, "start");
  tir_op_clear_attr(ar, "step");
  tir_op_clear_attr(ar, "dtype");
  OK(ar, "i64[T]");
  TirOp *sd = OP(SDPA, A("f32[2, L, 8]"), A("f32[2, S, 8]"), A("f32[2, S, 8]"));
  tir_op_clear_attr(sd, "is_causal");
  tir_op_clear_attr(sd, "causal_align");
  tir_op_clear_attr(sd, "dropout_p");
  tir_op_clear_attr(sd, "enable_gqa");
  OK(sd, "f32[2, L, 8]");

  TirValue *a = A("f32[B, 2]"), *b = A("f32[B, 3]");
  OK(seti(OP(CONCAT, a, b), "dim", 1), "f32[B, 5]");
  OK(seti(OP(CONCAT, a, b, a), "dim", -1), "f32[B, 7]");
  OK(OP(CONCAT, A("f32[T, 4]"), A("f32[S, 4]")), "f32[T+S, 4]");
  OK(OP(CONCAT, A("f32[0, 4]"), A("f32[T, 4]")), "f32[T, 4]");
  OK(seti(OP(CONCAT, a, A("f32[0]"), b), "dim", 1), "f32[B, 5]");
  OK(OP(CONCAT, A("f32[0]"), A("f32[3, 4]")), "f32[3, 4]");
  OK(OP(CONCAT, A("f32[0]"), A("f32[0]")), "f32[0]");
  OK(OP(CONCAT, A("f32[0]"), A("f32[5]")), "f32[5]");
  OK(OP(CONCAT, a), "f32[B, 2]");
  BAD(OP(CONCAT, a, b), "sizes differ in dim 1");
  BAD(seti(OP(CONCAT, a, A("f16[B, 3]")), "dim", 1), "dtypes differ");
  BAD(OP(CONCAT, a, A("f32[B, 2, 1]")), "ranks differ");
  BAD(OP(CONCAT, A("f32[]"), A("f32[]")), "0-d");
  BAD(seti(OP(CONCAT, a, b), "dim", 2), "out of range");

  OK(OP(CONTIGUOUS, y), "f32[B, T, C]");
  OK(OP(CLONE, A("i8[]")), "i8[]");
}

static void test_sources(void) {
  OK(dim(OP0(ARANGE), "end", "10"), "i64[10]");
  OK(dim(dim(dim(OP0(ARANGE), "end", "10"), "start", "2"), "step", "3"), "i64[3]");
  OK(dim(OP0(ARANGE), "end", "T"), "i64[T]");
  OK(dim(dim(OP0(ARANGE), "end", "T"), "start", "1"), "i64[T-1]");
  OK(dim(dim(dim(OP0(ARANGE), "end", "0"), "start", "10"), "step", "-2"), "i64[5]");
  OK(dim(dim(OP0(ARANGE), "end", "0"), "start", "5"), "i64[0]");
  OK(setdt(dim(OP0(ARANGE), "end", "4"), "dtype", TIR_F32), "f32[4]");
  OK(dim(dim(OP0(ARANGE), "end", "T"), "step", "2"), "i64[(T+1)/2]");
  BAD(dim(dim(OP0(ARANGE), "end", "10"), "step", "0"), "nonzero");
  BAD(dim(dim(OP0(ARANGE), "end", "10"), "step", "T"), "must be a constant");
  BAD(setdt(dim(OP0(ARANGE), "end", "4"), "dtype", TIR_BOOL), "bool");
  BAD(OP0(ARANGE), "missing attribute 'end'");

  OK(setsc(dims(OP0(FULL), "shape", "B, 4"), "value", 0, true), "f32[B, 4]");
  OK(setdt(setsc(dims(OP0(FULL), "shape", ""), "value", 1, true), "dtype", TIR_BOOL), "bool[]");
  BAD(setsc(dims(OP0(FULL), "shape", "-1, 4"), "value", 0, true), "invalid size -1");
  BAD(setdt(setsc(dims(OP0(FULL), "shape", "2"), "value", 300, true), "dtype", TIR_I8), "overflow");
  BAD(dims(OP0(FULL), "shape", "2"), "missing attribute 'value'");

  TirType ct = T("f32[2, 2]");
  float data[4] = {1, 2, 3, 4};
  TirOp *c = tir_const_new(M, &ct, data, TIR_LOC_UNKNOWN);
  OK(c, "f32[2, 2]");
  c->data_bytes = 12;
  BAD(c, "payload has 12 bytes");
  c = tir_const_new(M, &ct, data, TIR_LOC_UNKNOWN);
  c->result->type = T("f32[B, 2]");
  BAD(c, "must be static");
  TirType et = T("f32[0, 3]");
  OK(tir_const_new(M, &et, NULL, TIR_LOC_UNKNOWN), "f32[0, 3]");
}

static void test_misc(void) {
  OK(seti(OP(TRIL, A("bool[T, T]")), "diagonal", -1), "bool[T, T]");
  OK(OP(TRIU, A("f32[B, 4, 5]")), "f32[B, 4, 5]");
  BAD(OP(TRIL, A("f32[T]")), "rank >= 2");

  TirValue *w = A("f32[V, D]");
  OK(OP(EMBEDDING, w, A("i64[B, T]")), "f32[B, T, D]");
  OK(OP(EMBEDDING, w, A("i32[]")), "f32[D]");
  BAD(OP(EMBEDDING, w, A("f32[B, T]")), "indices must be i32 or i64");
  BAD(OP(EMBEDDING, A("f32[V]"), A("i64[3]")), "2-D");

  TirValue *x = A("f32[B, 4]");
  OK(setb(setf(OP(DROPOUT, x), "p", 0.1), "training", true), "f32[B, 4]");
  OK(setf(OP(DROPOUT, x), "p", 1.0), "f32[B, 4]");
  BAD(setf(OP(DROPOUT, x), "p", 1.5), "p=1.5 must be in [0, 1]");
  BAD(setf(OP(DROPOUT, x), "p", NAN), "must be in [0, 1]");
  BAD(OP(DROPOUT, A("i64[4]")), "float dtype");
}

static void test_sdpa(void) {
  TirValue *q = A("f16[B, 12, L, 64]"), *k = A("f16[B, 12, S, 64]"), *v = A("f16[B, 12, S, 64]");
  TirOp *op = OP(SDPA, q, k, v);
  OK(op, "f16[B, 12, L, 64]");
  CHECK(tir_op_has_attr(op, "scale") && tir_op_attr_float(op, "scale") == 0.125);
  OK(op, "f16[B, 12, L, 64]"); /* idempotent */
  op = setf(OP(SDPA, q, k, v), "scale", 0.5);
  OK(op, "f16[B, 12, L, 64]");
  CHECK(tir_op_attr_float(op, "scale") == 0.5);
  op = OP(SDPA, A("f32[B, H, L, E]"), A("f32[B, H, S, E]"), A("f32[B, H, S, Ev]"));
  OK(op, "f32[B, H, L, Ev]");
  CHECK(!tir_op_has_attr(op, "scale"));
  OK(OP(SDPA, A("f32[2, L, 8]"), A("f32[2, S, 8]"), A("f32[2, S, 16]")), "f32[2, L, 16]");
  OK(OP(SDPA, A("f32[B, H, L, 8]"), A("f32[1, H, S, 8]"), A("f32[1, H, S, 8]")), "f32[B, H, L, 8]");

  /* grouped-query attention */
  TirValue *gq = A("bf16[B, 32, L, 128]"), *gk = A("bf16[B, 8, S, 128]");
  OK(setb(OP(SDPA, gq, gk, gk), "enable_gqa", true), "bf16[B, 32, L, 128]");
  BAD(OP(SDPA, gq, gk, gk), "enable_gqa=true");
  BAD(setb(OP(SDPA, gq, A("bf16[B, 6, S, 128]"), A("bf16[B, 6, S, 128]")), "enable_gqa", true),
      "query heads (32) must be a multiple of key/value heads (6)");
  TirValue *sk = A("f32[B, G, S, 16]");
  OK(setb(OP(SDPA, A("f32[B, 4*G, L, 16]"), sk, sk), "enable_gqa", true), "f32[B, 4*G, L, 16]");
  TirValue *hk = A("f32[B, 2, S, 16]");
  BAD(setb(OP(SDPA, A("f32[B, H, L, 16]"), hk, hk), "enable_gqa", true), "cannot prove");
  BAD(setb(OP(SDPA, gq, gk, A("bf16[B, 4, S, 128]")), "enable_gqa", true),
      "key and value heads differ");

  /* masks */
  OK(OP(SDPA, q, k, v, A("bool[L, S]")), "f16[B, 12, L, 64]");
  OK(OP(SDPA, q, k, v, A("f16[B, 1, L, S]")), "f16[B, 12, L, 64]");
  OK(OP(SDPA, q, k, v, A("f16[]")), "f16[B, 12, L, 64]");
  BAD(OP(SDPA, q, k, v, A("f32[L, S]")), "mask must be bool or the query dtype f16");
  BAD(OP(SDPA, q, k, v, A("bool[L, L]")),
      "mask bool[L, L] does not broadcast to the scores bool[B, 12, L, S]");
  BAD(OP(SDPA, q, k, v, A("bool[2, B, 12, L, S]")), "does not broadcast");

  /* bad operands and attributes */
  BAD(OP(SDPA, A("i32[B, 1, L, 8]"), A("i32[B, 1, S, 8]"), A("i32[B, 1, S, 8]")), "float dtype");
  BAD(OP(SDPA, q, A("f32[B, 12, S, 64]"), v), "dtypes differ");
  BAD(OP(SDPA, A("f16[L, 64]"), A("f16[S, 64]"), A("f16[S, 64]")), "rank >= 3");
  BAD(OP(SDPA, q, A("f16[12, S, 64]"), A("f16[12, S, 64]")), "same rank");
  BAD(OP(SDPA, q, A("f16[B, 12, S, 32]"), v), "head dims of q and k differ");
  BAD(OP(SDPA, q, k, A("f16[B, 12, T, 64]")), "key and value lengths differ");
  BAD(OP(SDPA, q, A("f16[C, 12, S, 64]"), A("f16[C, 12, S, 64]")), "batch dims do not broadcast");
  BAD(sets(OP(SDPA, q, k, v), "causal_align", "middle"), "causal_align=\"middle\"");
  OK(sets(setb(OP(SDPA, q, k, v), "is_causal", true), "causal_align", "bottom_right"),
     "f16[B, 12, L, 64]");
  OK(sets(OP(SDPA, q, k, v), "kernel", "flash"), "f16[B, 12, L, 64]");
  BAD(sets(OP(SDPA, q, k, v), "kernel", "cudnn"), "kernel=\"cudnn\" is not one of");
  BAD(setf(OP(SDPA, q, k, v), "dropout_p", 1.0), "dropout_p=1 must be in [0, 1)");
  OK(setf(OP(SDPA, q, k, v), "dropout_p", 0.1), "f16[B, 12, L, 64]");
  BAD(setf(OP(SDPA, q, k, v), "scale", NAN), "scale=nan must be finite");
}

/* ---------------------------------------------------------------- verifier tests */

/* Verification must fail with a message containing `sub`. */
static void vbad(int line, const char *sub) {
  TirStatus st = tir_verify_module(M, D);
  const char *msg = new_diags();
  report(line, st == TIR_ERR_INTERNAL && strstr(msg, "verifier:") && strstr(msg, sub),
         "expected a verifier error containing '%s', got status %d and: %s", sub, (int)st, msg);
}
static void vok(int line) {
  TirStatus st = tir_verify_module(M, D);
  const char *msg = new_diags();
  report(line, st == TIR_OK, "expected the module to verify, got status %d and: %s", (int)st, msg);
}
#define VBAD(sub) vbad(__LINE__, (sub))
#define VOK() vok(__LINE__)

static TirOp *emit(TirOp *op) {
  TirStatus st = tir_infer_op(M, op, D);
  if (st != TIR_OK) {
    fprintf(stderr, "emit: inference failed: %s\n", new_diags());
    abort();
  }
  tir_op_append(F, op);
  return op;
}

static void test_verify(void) {
  /* A fresh module: the inference tests left detached ops using their args. */
  tir_module_free(M);
  M = tir_module_new();
  F = tir_func_new(M, "main", TIR_LOC_UNKNOWN);
  TirValue *x = A("f32[B, T, 64]"), *w = A("f32[192, 64]"), *g = A("f32[192]");
  TirOp *lin = emit(OP(LINEAR, x, w));
  TirOp *nrm = emit(OP(LAYER_NORM, lin->result, g, g));
  TirOp *add = emit(OP(ADD, nrm->result, lin->result));
  TirOp *ret = emit(OP(RETURN, add->result));
  TirType rt = T("f32[B, T, 192]");
  tir_func_set_results(F, &rt, 1);
  VOK();

  /* Use lists: an operand dropped from its value's list (links left dangling,
   * then consistently unlinked), restored afterwards. */
  TirValue *lv = lin->result;
  TirOperand *u1 = lv->first_use, *u2 = u1->next_use;
  CHECK(u1 && u2 && !u2->next_use);
  lv->first_use = u2;
  VBAD("broken back link");
  u2->prev_use = NULL;
  VBAD("use lists hold");
  u2->prev_use = u1;
  lv->first_use = u1;
  VOK();
  /* An operand naming a different value than the list it is in. */
  TirValue *saved = u1->value;
  u1->value = nrm->result; /* same type, so inference still agrees */
  VBAD("holds an operand that uses");
  u1->value = saved;
  VOK();

  /* Use before definition: a user of `nrm` placed before it. */
  TirOp *early = OP(MUL, nrm->result, nrm->result);
  tir_infer_op(M, early, D);
  tir_op_insert_before(nrm, early);
  VBAD("used before its definition");
  tir_op_erase(early);
  VOK();

  /* A stored type that disagrees with inference. */
  TirType good = nrm->result->type;
  nrm->result->type = T("f32[B, T, 64]");
  VBAD("inference gives f32[B, T, 192]");
  nrm->result->type = good;

  /* Return types, return position, missing return. */
  TirType bad_rt = T("f32[B, T, 64]");
  tir_func_set_results(F, &bad_rt, 1);
  VBAD("declares f32[B, T, 64]");
  tir_func_set_results(F, &rt, 1);
  add->next = NULL; /* cut the return off the list */
  F->last = add;
  VBAD("does not end with a return");
  add->next = ret;
  F->last = ret;
  VOK();

  /* Attribute kinds and missing attributes against the schema. */
  TirAttr keep = *tir_op_attr(nrm, "dims");
  tir_op_set_float(nrm, "dims", 1.0);
  VBAD("attribute 'dims'");
  *tir_op_attr(nrm, "dims") = keep;
  tir_op_clear_attr(nrm, "dims"); /* absent with a default: fine */
  tir_op_clear_attr(nrm, "eps");
  VOK();
  *tir_op_attr(nrm, "dims") = keep;
  VOK();

  /* A broken op list. */
  TirOp *p = add->prev;
  add->prev = NULL;
  VBAD("op list");
  add->prev = p;
  VOK();

  /* Const payloads, and sdpa's scale is materialized consistently. */
  TirFunc *f2 = tir_func_new(M, "other", TIR_LOC_UNKNOWN);
  F = f2;
  TirType ct = T("f32[2]");
  float data[2] = {1, 2};
  TirOp *c = emit(tir_const_new(M, &ct, data, TIR_LOC_UNKNOWN));
  TirValue *q = A("f32[1, 2, 4, 8]");
  TirOp *at = emit(OP(SDPA, q, q, q));
  TirOp *sm = emit(seti(OP(SOFTMAX, at->result), "dim", -1));
  TirOp *r2 = emit(OP(RETURN, c->result, at->result));
  TirType rts[2] = {ct, T("f32[1, 2, 4, 8]")};
  tir_func_set_results(f2, rts, 2);
  VOK();
  tir_op_clear_attr(sm, "dim");
  VBAD("missing its attribute 'dim'");
  tir_op_set_int(sm, "dim", 4);
  VBAD("fails type inference");
  tir_op_set_int(sm, "dim", -1);
  VOK();
  c->data_bytes = 4;
  VBAD("payload of 4 bytes");
  c->data_bytes = 8;
  VOK();

  /* A value of @main used in @other. */
  tir_op_set_operand(r2, 0, x);
  VBAD("outside its function");
  tir_op_set_operand(r2, 0, c->result);
  VOK();
}

int main(void) {
  dout = open_memstream(&dbuf, &dlen);
  D = tir_diag_new(dout, 1000000);
  M = tir_module_new();
  F = tir_func_new(M, "main", TIR_LOC_UNKNOWN);
  test_broadcast();
  test_elementwise();
  test_reductions();
  test_contractions();
  test_shapes();
  test_slice_concat();
  test_sources();
  test_misc();
  test_sdpa();
  test_verify();
  tir_module_free(M);
  tir_diag_free(D);
  fclose(dout);
  free(dbuf);
  return CHECK_SUMMARY();
}
