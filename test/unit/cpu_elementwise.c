/* cpu_elementwise.c — test_cpu_kernels: the kernel API contracts of the
 * elementwise CPU kernels (unary, binary, where / masked_fill, cast).
 * Their values over op x dtype x shape are test/ops (ctest ops.backend,
 * the rows of common/tir_ew_table.h against float64); here: strided,
 * sliced and expanded operands into strided outputs with guard checks,
 * for one or two ops per family; error statuses; and what the kernels
 * take but TIR does not express (integer neg/abs/relu/div, logical ops on
 * non-bool dtypes, masked_fill values a dtype cannot hold). */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

/* ------------------------------------------------------------ unary */

static const char *const UN_NAMES[] = {"neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal",
                                       "tanh", "sigmoid", "relu", "silu", "erf", "sin", "cos",
                                       "gelu", "gelu_tanh", "logical_not"};

/* The ops run here: integer neg/abs/relu (wrapping), logical_not, and
 * exp, the representative float op of the layout cases. */
static long double ref_unary(tirrt_unop_t op, tirrt_dtype_t dt, long double x) {
  if (op == TIRRT_UN_LOGICAL_NOT) return x == 0;
  if (tt_is_float(dt)) return op == TIRRT_UN_EXP ? expl(x) : NAN;
  int64_t v = (int64_t)x;
  int64_t neg = (int64_t)(0 - (uint64_t)v); /* gcc/clang wrap modulo 2^64 */
  switch (op) {
  case TIRRT_UN_NEG: return tt_wrap_to(dt, neg);
  case TIRRT_UN_ABS: return tt_wrap_to(dt, v < 0 ? neg : v);
  default: return v < 0 ? 0 : v; /* relu */
  }
}

static void run_unary(tirrt_unop_t op, tirrt_dtype_t dt, int xr, const int64_t *xs, int xl, int orank,
                      const int64_t *os, int ol, double lo, double hi) {
  tirrt_dtype_t odt = op == TIRRT_UN_LOGICAL_NOT ? TIRRT_DTYPE_BOOL : dt;
  tt_t x = tt_make(dt, xr, xs, xl), o = tt_make(odt, orank, os, ol);
  tt_rand(&x, lo, hi);
  tt_poison(&o);
  const char *lab = tt_label("unary %s %s x rank %d %s -> out %s", UN_NAMES[op], tt_dtype_name(dt), xr, tt_lay_name[xl],
                      tt_lay_name[ol]);
  char label[256];
  snprintf(label, sizeof label, "%s", lab);
  if (tt_expect_ok(tirrt_cpu_unary(op, &x.v, &o.v), label)) {
    long double *ref = tt_ref_alloc(&o);
    int64_t n = tt_numel(orank, os), idx[TIRRT_MAX_RANK];
    for (int64_t k = 0; k < n; k++) {
      tt_unravel(k, orank, os, idx);
      ref[k] = ref_unary(op, dt, tt_at(&x, orank, idx));
    }
    tt_expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&x);
  tt_free(&o);
}

void test_unary(void) {
  /* Layouts, with exp standing for the float ops: transposed, sliced and
   * expanded inputs, rank 1 and 0-d broadcast into rank 3, strided outputs,
   * zero-size, and runs past the kernels' 512-element blocks. */
  const int64_t s1[] = {7}, s0[] = {1}, sz[] = {3, 0, 7}, lng[] = {2, 1031}, lng1[] = {1031};
  for (int f = 0; f < TT_COUNT(TT_FLOATS); f++) {
    tirrt_dtype_t dt = TT_FLOATS[f];
    for (int lay = TT_LAY_T; lay <= TT_LAY_E; lay++) run_unary(TIRRT_UN_EXP, dt, 3, SH3, lay, 3, SH3, TT_LAY_C, -4, 4);
    run_unary(TIRRT_UN_EXP, dt, 1, s1, TT_LAY_C, 3, SH3, TT_LAY_C, -4, 4);  /* rank 1 against rank 3 */
    run_unary(TIRRT_UN_EXP, dt, 0, s0, TT_LAY_C, 3, SH3, TT_LAY_P, -4, 4);  /* 0-d, strided output */
    run_unary(TIRRT_UN_EXP, dt, 3, SH3, TT_LAY_T, 3, SH3, TT_LAY_P, -4, 4); /* both strided */
    run_unary(TIRRT_UN_EXP, dt, 3, sz, TT_LAY_C, 3, sz, TT_LAY_C, -4, 4);   /* zero-size */
    run_unary(TIRRT_UN_EXP, dt, 2, lng, TT_LAY_T, 2, lng, TT_LAY_P, -4, 4);
    run_unary(TIRRT_UN_EXP, dt, 1, lng1, TT_LAY_C, 2, lng, TT_LAY_C, -4, 4);
  }
  /* Integer neg/abs/relu over the whole range (TIR takes these on floats only). */
  const tirrt_unop_t int_ops[] = {TIRRT_UN_NEG, TIRRT_UN_ABS, TIRRT_UN_RELU};
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < TT_COUNT(TT_INTS); i++) {
      run_unary(int_ops[k], TT_INTS[i], 3, SH3, TT_LAY_C, 3, SH3, TT_LAY_C, -9.3e18, 9.3e18);
      run_unary(int_ops[k], TT_INTS[i], 3, SH3, TT_LAY_T, 3, SH3, TT_LAY_P, -200, 200);
    }
  for (int a = 0; a < TT_COUNT(TT_ALL); a++) { /* logical_not on every input dtype */
    run_unary(TIRRT_UN_LOGICAL_NOT, TT_ALL[a], 3, SH3, TT_LAY_C, 3, SH3, TT_LAY_C, -1, 1);
    run_unary(TIRRT_UN_LOGICAL_NOT, TT_ALL[a], 1, s1, TT_LAY_C, 3, SH3, TT_LAY_P, -1, 1);
  }
  /* Integer extremes wrap: neg/abs of the minimum is the minimum. */
  {
    int64_t one = 1;
    tt_t x = tt_make(TIRRT_DTYPE_I8, 1, &one, TT_LAY_C), o = tt_make(TIRRT_DTYPE_I8, 1, &one, TT_LAY_C);
    tt_store(TIRRT_DTYPE_I8, x.v.data, -128);
    tt_poison(&o);
    if (tt_expect_ok(tirrt_cpu_unary(TIRRT_UN_ABS, &x.v, &o.v), "abs i8 -128"))
      CHECK_MSG(tt_lin(&o, 0) == -128, "abs(i8 -128) wraps to -128");
    tt_free(&x);
    tt_free(&o);
  }
  /* Errors, not crashes. */
  {
    tt_t x = tt_make(TIRRT_DTYPE_I32, 3, SH3, TT_LAY_C), o = tt_make(TIRRT_DTYPE_I32, 3, SH3, TT_LAY_C);
    tt_t b = tt_make(TIRRT_DTYPE_BOOL, 3, SH3, TT_LAY_C), f = tt_make(TIRRT_DTYPE_F32, 3, SH3, TT_LAY_C);
    tt_t x4 = tt_make(TIRRT_DTYPE_F32, 1, (int64_t[]){4}, TT_LAY_C);
    tt_rand(&x, -5, 5);
    tt_rand(&b, 0, 1);
    tt_rand(&x4, -1, 1);
    tt_expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &x.v, &o.v), "exp", "exp on i32");
    tt_expect_error(tirrt_cpu_unary(TIRRT_UN_NEG, &b.v, &b.v), "neg", "neg on bool");
    tt_expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &x.v, &f.v), "exp", "exp i32 -> f32");
    tt_expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &x4.v, &f.v), "broadcast", "exp [4] -> [3,5,7]");
    tt_expect_error(tirrt_cpu_unary(TIRRT_UN_LOGICAL_NOT, &x.v, &o.v), "logical_not", "not -> i32");
    tt_expect_error(tirrt_cpu_unary((tirrt_unop_t)99, &x.v, &o.v), "unknown", "unknown unary op");
    tirrt_view_t nodata = f.v;
    nodata.data = NULL;
    tt_expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &nodata, &f.v), "no data", "NULL data");
    tt_free(&x), tt_free(&o), tt_free(&b), tt_free(&f), tt_free(&x4);
  }
}

/* ------------------------------------------------------------ binary */

static const char *const BIN_NAMES[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                        "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                        "logical_or"};

/* The ops run here: maximum and lt (the layout cases), integer div
 * (truncating, x / -1 wrapping) and logical and/or on every dtype. */
static long double ref_binary(tirrt_binop_t op, tirrt_dtype_t dt, long double a, long double b) {
  switch (op) {
  case TIRRT_BIN_LT: return a < b;
  case TIRRT_BIN_LOGICAL_AND: return a != 0 && b != 0;
  case TIRRT_BIN_LOGICAL_OR: return a != 0 || b != 0;
  case TIRRT_BIN_MAXIMUM: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
  default: break;
  }
  int64_t x = (int64_t)a, y = (int64_t)b; /* div, on the integers */
  return tt_wrap_to(dt, y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y);
}

/* Fills t with integer values in [lo, hi] (floats too, so comparisons
 * see ties). */
static void tt_rand_integral(tt_t *t, int lo, int hi) {
  size_t es = tt_dtype_size(t->v.dtype);
  for (size_t k = 0; k < t->nbytes / es; k++)
    tt_store(t->v.dtype, tt_storage(t) + k * es, (long double)tt_rng_int(lo, hi));
}

static void run_binary(tirrt_binop_t op, tirrt_dtype_t dt, spec_t sa, spec_t sb, spec_t so) {
  tirrt_dtype_t odt = op >= TIRRT_BIN_EQ ? TIRRT_DTYPE_BOOL : dt;
  tt_t a = tt_make(dt, sa.rank, sa.shape, sa.lay), b = tt_make(dt, sb.rank, sb.shape, sb.lay);
  tt_t o = tt_make(odt, so.rank, so.shape, so.lay);
  if (op >= TIRRT_BIN_EQ) { /* small integers: ties and zeros happen */
    tt_rand_integral(&a, -2, 2);
    tt_rand_integral(&b, -2, 2);
  } else if (op == TIRRT_BIN_DIV) { /* integers only */
    tt_rand(&a, -1e18, 1e18);
    tt_rand_integral(&b, -40, 40);
    size_t es = tt_dtype_size(dt);
    for (size_t k = 0; k < b.nbytes / es; k++) /* no x / 0 here: that is below */
      if (tt_load(dt, tt_storage(&b) + k * es) == 0) tt_store(dt, tt_storage(&b) + k * es, -1);
  } else {
    tt_rand(&a, -4, 4);
    tt_rand(&b, -4, 4);
  }
  tt_poison(&o);
  char label[256];
  snprintf(label, sizeof label, "binary %s %s: %s rank %d, %s rank %d -> %s", BIN_NAMES[op], tt_dtype_name(dt),
           tt_lay_name[sa.lay], sa.rank, tt_lay_name[sb.lay], sb.rank, tt_lay_name[so.lay]);
  if (tt_expect_ok(tirrt_cpu_binary(op, &a.v, &b.v, &o.v), label)) {
    long double *ref = tt_ref_alloc(&o);
    int64_t n = tt_numel(so.rank, so.shape), idx[TIRRT_MAX_RANK];
    for (int64_t k = 0; k < n; k++) {
      tt_unravel(k, so.rank, so.shape, idx);
      ref[k] = ref_binary(op, dt, tt_at(&a, so.rank, idx), tt_at(&b, so.rank, idx));
    }
    tt_expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&a);
  tt_free(&b);
  tt_free(&o);
}

void test_binary(void) {
  const int64_t s7[] = {7}, s0[] = {1}, s317[] = {3, 1, 7}, s51[] = {5, 1}, s157[] = {1, 5, 7};
  const int64_t sz[] = {3, 0, 7};
  const spec_t full = {3, SH3, TT_LAY_C};
  const spec_t combos[][3] = {
      {full, full, full},
      {{3, SH3, TT_LAY_T}, {3, SH3, TT_LAY_P}, full},
      {full, {1, s7, TT_LAY_C}, full},                       /* rank 1 against rank 3 */
      {{3, s317, TT_LAY_C}, {2, s51, TT_LAY_E}, full},          /* size-1 dims both ways */
      {{0, s0, TT_LAY_C}, {3, SH3, TT_LAY_T}, full},            /* 0-d scalar */
      {{3, SH3, TT_LAY_E}, {3, s157, TT_LAY_C}, {3, SH3, TT_LAY_P}}, /* expanded, strided output */
      {{3, sz, TT_LAY_C}, {1, s7, TT_LAY_C}, {3, sz, TT_LAY_C}},   /* zero-size */
  };
  /* Layouts with maximum and lt standing for the binary ops (every dtype:
   * every element size, and a bool output). */
  const int64_t lng[] = {2, 1031}, lng1[] = {1031};
  const tirrt_binop_t ops[] = {TIRRT_BIN_MAXIMUM, TIRRT_BIN_LT};
  for (int k = 0; k < 2; k++)
    for (int d = 0; d < TT_COUNT(TT_ALL); d++) {
      for (int c = 0; c < TT_COUNT(combos); c++) run_binary(ops[k], TT_ALL[d], combos[c][0], combos[c][1], combos[c][2]);
      /* past the kernels' 512-element blocks, into a strided output */
      run_binary(ops[k], TT_ALL[d], (spec_t){2, lng, TT_LAY_T}, (spec_t){1, lng1, TT_LAY_C}, (spec_t){2, lng, TT_LAY_P});
    }
  /* What TIR does not express: integer div (x / -1 wraps at the minimum),
   * logical and/or on non-bool dtypes. */
  for (int d = 0; d < TT_COUNT(TT_ALL); d++) {
    tirrt_dtype_t dt = TT_ALL[d];
    if (dt == TIRRT_DTYPE_BOOL) continue;
    for (int c = 0; c < 2; c++) {
      if (!tt_is_float(dt)) run_binary(TIRRT_BIN_DIV, dt, combos[c][0], combos[c][1], combos[c][2]);
      run_binary(TIRRT_BIN_LOGICAL_AND, dt, combos[c][0], combos[c][1], combos[c][2]);
      run_binary(TIRRT_BIN_LOGICAL_OR, dt, combos[c][0], combos[c][1], combos[c][2]);
    }
  }
  /* Integer edge cases and errors. */
  {
    int64_t n = 2;
    tt_t a = tt_make(TIRRT_DTYPE_I64, 1, &n, TT_LAY_C), b = tt_make(TIRRT_DTYPE_I64, 1, &n, TT_LAY_C);
    tt_t o = tt_make(TIRRT_DTYPE_I64, 1, &n, TT_LAY_C);
    int64_t av[2] = {INT64_MIN, 7}, bv[2] = {-1, -2};
    memcpy(a.v.data, av, sizeof av);
    memcpy(b.v.data, bv, sizeof bv);
    tt_poison(&o);
    if (tt_expect_ok(tirrt_cpu_binary(TIRRT_BIN_DIV, &a.v, &b.v, &o.v), "i64 div"))
      CHECK_MSG(tt_lin(&o, 0) == (long double)INT64_MIN && tt_lin(&o, 1) == -3,
            "INT64_MIN / -1 wraps, 7 / -2 truncates");
    bv[1] = 0;
    memcpy(b.v.data, bv, sizeof bv);
    /* docs/language.md: integer x / 0 is 0 and a negative integer power is
     * the integer part of the true power, on every target and in the folder. */
    if (tt_expect_ok(tirrt_cpu_binary(TIRRT_BIN_DIV, &a.v, &b.v, &o.v), "i64 x / 0"))
      CHECK_MSG(tt_lin(&o, 1) == 0, "7 / 0 is 0");
    bv[1] = -3;
    memcpy(b.v.data, bv, sizeof bv);
    if (tt_expect_ok(tirrt_cpu_binary(TIRRT_BIN_POW, &a.v, &b.v, &o.v), "i64 pow -3"))
      CHECK_MSG(tt_lin(&o, 1) == 0, "7 ** -3 is 0");
    tt_t c = tt_make(TIRRT_DTYPE_BOOL, 1, &n, TT_LAY_C), f = tt_make(TIRRT_DTYPE_F32, 1, &n, TT_LAY_C);
    tt_rand(&c, 0, 1);
    tt_expect_error(tirrt_cpu_binary(TIRRT_BIN_ADD, &c.v, &c.v, &c.v), "add", "bool add");
    tt_expect_error(tirrt_cpu_binary(TIRRT_BIN_ADD, &a.v, &f.v, &o.v), "different dtypes", "i64 + f32");
    tt_expect_error(tirrt_cpu_binary(TIRRT_BIN_LT, &a.v, &b.v, &o.v), "output", "lt into i64");
    tt_t t3 = tt_make(TIRRT_DTYPE_I64, 1, (int64_t[]){3}, TT_LAY_C);
    tt_rand(&t3, -3, 3);
    tt_expect_error(tirrt_cpu_binary(TIRRT_BIN_ADD, &a.v, &t3.v, &o.v), "broadcast", "[2] + [3]");
    tt_free(&a), tt_free(&b), tt_free(&o), tt_free(&c), tt_free(&f), tt_free(&t3);
  }
}

/* ------------------------------------------------------------ where, masked_fill */

void test_where(void) {
  const int64_t s51[] = {5, 1}, s7[] = {7}, s0[] = {1};
  for (int d = 0; d < TT_COUNT(TT_ALL); d++) {
    tirrt_dtype_t dt = TT_ALL[d];
    for (int v = 0; v < 3; v++) {
      tt_t c = v == 2 ? tt_make(TIRRT_DTYPE_BOOL, 3, SH3, TT_LAY_T) : tt_make(TIRRT_DTYPE_BOOL, 2, s51, TT_LAY_C);
      tt_t a = tt_make(dt, 3, SH3, v == 0 ? TT_LAY_T : TT_LAY_P);
      tt_t b = v == 1 ? tt_make(dt, 0, s0, TT_LAY_C) : tt_make(dt, 1, s7, TT_LAY_C);
      tt_t o = tt_make(dt, 3, SH3, v == 2 ? TT_LAY_P : TT_LAY_C);
      tt_rand(&c, 0, 1), tt_rand(&a, -100, 100), tt_rand(&b, -100, 100);
      tt_poison(&o);
      char label[96];
      snprintf(label, sizeof label, "where %s variant %d", tt_dtype_name(dt), v);
      if (tt_expect_ok(tirrt_cpu_where(&c.v, &a.v, &b.v, &o.v), label)) {
        long double *ref = tt_ref_alloc(&o);
        int64_t idx[TIRRT_MAX_RANK];
        for (int64_t k = 0; k < 105; k++) {
          tt_unravel(k, 3, SH3, idx);
          ref[k] = tt_at(&c, 3, idx) != 0 ? tt_at(&a, 3, idx) : tt_at(&b, 3, idx);
        }
        tt_expect_exact(label, &o, ref);
        free(ref);
      }
      /* masked_fill(x = a, mask = c, value) */
      const double values[] = {2.75, -1e10, NAN, 1e10};
      double value = values[v + (d % 2)];
      tt_poison(&o);
      snprintf(label, sizeof label, "masked_fill %s value %g", tt_dtype_name(dt), value);
      if (tt_expect_ok(tirrt_cpu_masked_fill(&a.v, &c.v, value, &o.v), label)) {
        long double *ref = tt_ref_alloc(&o);
        int64_t idx[TIRRT_MAX_RANK];
        for (int64_t k = 0; k < 105; k++) {
          tt_unravel(k, 3, SH3, idx);
          ref[k] = tt_at(&c, 3, idx) != 0 ? tt_convert(value, TIRRT_DTYPE_F64, dt) : tt_at(&a, 3, idx);
        }
        tt_expect_exact(label, &o, ref);
        free(ref);
      }
      tt_free(&c), tt_free(&a), tt_free(&b), tt_free(&o);
    }
  }
  tt_t c = tt_make(TIRRT_DTYPE_I8, 1, s7, TT_LAY_C), a = tt_make(TIRRT_DTYPE_F32, 1, s7, TT_LAY_C);
  tt_rand(&c, 0, 1), tt_rand(&a, 0, 1);
  tt_expect_error(tirrt_cpu_where(&c.v, &a.v, &a.v, &a.v), "condition", "where with an i8 condition");
  tt_expect_error(tirrt_cpu_masked_fill(&a.v, &c.v, 1.0, &a.v), "mask", "masked_fill with an i8 mask");
  tt_free(&c), tt_free(&a);
}

/* ------------------------------------------------------------ cast */

/* Every dtype pair into a strided output, from values test/ops does not
 * draw: rounding and range boundaries (127.9, 128.5, 65520, 2^31, 2^63)
 * and integers of random bits (every value of the type). */
void test_cast(void) {
  static const double specials[] = {NAN, INFINITY, -INFINITY, 1e10, -1e10, 0.5, -0.5, -0.0,
                                    2.5, -2.5, 127.9, 128.5, -128.9, -129, 255.5, 256, 65504,
                                    65520, 65519.99, 1e-8, 3e38, 9223372036854775808.0,
                                    -9223372036854775808.0, 2147483648.0, -2147483649.0, 1e20};
  for (int s = 0; s < TT_COUNT(TT_ALL); s++)
    for (int d = 0; d < TT_COUNT(TT_ALL); d++) {
      tirrt_dtype_t st = TT_ALL[s], dt = TT_ALL[d];
      {
        tt_t x = tt_make(st, 3, SH3, TT_LAY_C), o = tt_make(dt, 3, SH3, TT_LAY_P);
        size_t es = tt_dtype_size(st);
        for (size_t k = 0; k < x.nbytes / es; k++) {
          unsigned char *p = tt_storage(&x) + k * es;
          if (tt_is_float(st)) {
            tt_store(st, p, tt_rng_u64() % 3 ? tt_rng_unif(-300, 300) : specials[tt_rng_u64() % TT_COUNT(specials)]);
          } else if (st == TIRRT_DTYPE_BOOL) {
            tt_store(st, p, tt_rng_u64() & 1);
          } else { /* random bits: every value of the type, wrapping cases included */
            uint64_t r = tt_rng_u64();
            if (st == TIRRT_DTYPE_I64 && !tt_ld64()) r = (uint64_t)tt_rng_int(-(INT64_C(1) << 53), INT64_C(1) << 53);
            if (tt_rng_u64() % 4 == 0) r = (uint64_t)tt_rng_int(-300, 300);
            memcpy(p, &r, es); /* little-endian: the low bytes */
          }
        }
        tt_poison(&o);
        char label[96];
        snprintf(label, sizeof label, "cast %s -> %s (to strided)", tt_dtype_name(st), tt_dtype_name(dt));
        if (tt_expect_ok(tirrt_cpu_copy(&x.v, &o.v), label)) {
          long double *ref = tt_ref_alloc(&o);
          for (int64_t k = 0; k < 105; k++) ref[k] = tt_convert(tt_lin(&x, k), st, dt);
          tt_expect_exact(label, &o, ref);
          free(ref);
        }
        tt_free(&x), tt_free(&o);
      }
    }
  /* int64 values just past a bf16 midpoint that a rounding to f64 would
   * turn into an exact tie (a double rounding): 2^62 + 2^54 + 1 must round
   * up.  Random values almost never hit these. */
  if (tt_ld64()) {
    const int64_t vals[4] = {(INT64_C(1) << 62) + (INT64_C(1) << 54) + 1,
                             -((INT64_C(1) << 62) + (INT64_C(1) << 54) + 1),
                             (INT64_C(1) << 61) + (INT64_C(1) << 53) - 1, INT64_MAX};
    const tirrt_dtype_t to[3] = {TIRRT_DTYPE_BF16, TIRRT_DTYPE_F32, TIRRT_DTYPE_F16};
    int64_t n = 4;
    tt_t x = tt_make(TIRRT_DTYPE_I64, 1, &n, TT_LAY_C);
    memcpy(x.v.data, vals, sizeof vals);
    for (int k = 0; k < 3; k++) {
      tt_t o = tt_make(to[k], 1, &n, TT_LAY_C);
      tt_poison(&o);
      char label[64];
      snprintf(label, sizeof label, "cast i64 -> %s near midpoints", tt_dtype_name(to[k]));
      if (tt_expect_ok(tirrt_cpu_copy(&x.v, &o.v), label)) {
        long double ref[4];
        for (int i = 0; i < 4; i++) ref[i] = tt_convert((long double)vals[i], TIRRT_DTYPE_I64, to[k]);
        tt_expect_exact(label, &o, ref);
      }
      tt_free(&o);
    }
    tt_free(&x);
  }
  /* Broadcasting copy (expand) and a zero-size copy. */
  const int64_t s7[] = {7}, sz[] = {3, 0, 7};
  tt_t x = tt_make(TIRRT_DTYPE_F32, 1, s7, TT_LAY_C), o = tt_make(TIRRT_DTYPE_BF16, 3, SH3, TT_LAY_T);
  tt_rand(&x, -2, 2);
  tt_poison(&o);
  if (tt_expect_ok(tirrt_cpu_copy(&x.v, &o.v), "broadcast copy f32[7] -> bf16[3,5,7]")) {
    long double ref[105];
    for (int k = 0; k < 105; k++) ref[k] = tt_convert(tt_lin(&x, k % 7), TIRRT_DTYPE_F32, TIRRT_DTYPE_BF16);
    tt_expect_exact("broadcast copy", &o, ref);
  }
  tt_t ez = tt_make(TIRRT_DTYPE_F32, 3, sz, TT_LAY_C), oz = tt_make(TIRRT_DTYPE_I16, 3, sz, TT_LAY_C);
  tt_poison(&oz);
  if (tt_expect_ok(tirrt_cpu_copy(&ez.v, &oz.v), "zero-size cast")) CHECK_MSG(tt_outside_ok(&oz), "zero-size cast wrote");
  tt_free(&x), tt_free(&o), tt_free(&ez), tt_free(&oz);
}

