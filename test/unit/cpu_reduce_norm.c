/* cpu_reduce_norm.c — test_cpu_kernels: reductions, softmax / log_softmax
 * and layer / rms norm against the references of test/lib.  The values of
 * sum/mean/amax/amin and softmax over dtype x dims x shape are test/ops
 * (ctest ops.backend); here the kernel API's own cases: any dim mask,
 * sliced inputs, strided outputs, long accumulations, errors.  layer_norm
 * and rms_norm are not in test/ops: every case stays here. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

/* ------------------------------------------------------------ reductions */

static const char *const RED_NAMES[] = {"sum", "mean", "amax", "amin"};

static void run_reduce(tirrt_redop_t op, tirrt_dtype_t dt, int rank, const int64_t *shape, int lay,
                       uint32_t mask, int olay, int nan_at) {
  int64_t os[TIRRT_MAX_RANK];
  for (int d = 0; d < rank; d++) os[d] = (mask >> d) & 1 ? 1 : shape[d];
  tirrt_dtype_t odt = op == TIRRT_RED_SUM && !tt_is_float(dt) ? TIRRT_DTYPE_I64 : dt;
  tt_t x = tt_make(dt, rank, shape, lay), o = tt_make(odt, rank, os, olay);
  if (tt_is_float(dt)) tt_rand(&x, -3, 3);
  else tt_rand(&x, -9.3e18, 9.3e18); /* i64 sums wrap */
  int64_t n = tt_numel(rank, shape), on = tt_numel(rank, os);
  if (nan_at >= 0 && n > nan_at) tt_set_lin(&x, nan_at, NAN);
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "%s %s %s mask 0x%x -> %s%s", RED_NAMES[op], tt_dtype_name(dt), tt_lay_name[lay],
           (unsigned)mask, tt_lay_name[olay], nan_at >= 0 ? " with a NaN" : "");
  if (tt_expect_ok(tirrt_cpu_reduce(op, &x.v, mask, &o.v), label)) {
    long double *ref = tt_ref_alloc(&o), *cnt = tt_ref_alloc(&o);
    uint64_t *isum = calloc((size_t)(on > 0 ? on : 1), 8);
    for (int64_t k = 0; k < on; k++) ref[k] = op == TIRRT_RED_AMAX ? -INFINITY : op == TIRRT_RED_AMIN ? INFINITY : 0;
    int64_t idx[TIRRT_MAX_RANK];
    for (int64_t k = 0; k < n; k++) {
      tt_unravel(k, rank, shape, idx);
      int64_t ok = 0;
      for (int d = 0; d < rank; d++) ok = ok * os[d] + ((mask >> d) & 1 ? 0 : idx[d]);
      long double v = tt_at(&x, rank, idx);
      cnt[ok] += 1;
      isum[ok] += (uint64_t)(int64_t)v;
      if (op == TIRRT_RED_SUM || op == TIRRT_RED_MEAN) ref[ok] += v;
      else if (isnan(v) || isnan(ref[ok])) ref[ok] = NAN;
      else if (op == TIRRT_RED_AMAX ? v > ref[ok] : v < ref[ok]) ref[ok] = v;
    }
    for (int64_t k = 0; k < on; k++) {
      if (op == TIRRT_RED_MEAN) ref[k] = cnt[k] > 0 ? ref[k] / cnt[k] : NAN;
      if (op == TIRRT_RED_SUM && !tt_is_float(dt)) ref[k] = (long double)(int64_t)isum[k];
    }
    tt_expect_result(label, &o, ref);
    free(ref), free(cnt), free(isum);
  }
  tt_free(&x), tt_free(&o);
}

void test_reduce(void) {
  /* Every dim mask of a rank-3 operand (test/ops: single dims, all, {0,2})
   * from contiguous, transposed and sliced inputs, one of them into a
   * strided output; sum (int64 out for integers) and amax stand for the
   * four, on one dtype of each element size. */
  const uint32_t masks[] = {0, 1, 2, 4, 3, 5, 6, 7};
  const tirrt_dtype_t sum_dts[] = {TIRRT_DTYPE_I8, TIRRT_DTYPE_I64, TIRRT_DTYPE_BF16, TIRRT_DTYPE_F32};
  const tirrt_dtype_t amax_dts[] = {TIRRT_DTYPE_U8, TIRRT_DTYPE_I16, TIRRT_DTYPE_F16, TIRRT_DTYPE_F64};
  for (int op = 0; op < 2; op++)
    for (int d = 0; d < 4; d++)
      for (int m = 0; m < TT_COUNT(masks); m++)
        for (int lay = TT_LAY_C; lay <= TT_LAY_P; lay++)
          run_reduce(op ? TIRRT_RED_AMAX : TIRRT_RED_SUM, op ? amax_dts[d] : sum_dts[d], 3, SH3, lay, masks[m],
                     m == 5 ? TT_LAY_P : TT_LAY_C, -1);
  /* A long reduction keeps f32 accuracy (f64 accumulation). */
  const int64_t big[] = {4, 3001};
  run_reduce(TIRRT_RED_SUM, TIRRT_DTYPE_F32, 2, big, TT_LAY_C, 2, TT_LAY_C, -1);
  run_reduce(TIRRT_RED_MEAN, TIRRT_DTYPE_BF16, 2, big, TT_LAY_T, 3, TT_LAY_C, -1);
  /* Errors: amax over an empty dim, a wrong output shape, a mask beyond the rank. */
  const int64_t sz[] = {3, 0, 7};
  {
    const int64_t os[] = {3, 1, 7};
    tt_t x = tt_make(TIRRT_DTYPE_F32, 3, sz, TT_LAY_C), o = tt_make(TIRRT_DTYPE_F32, 3, os, TT_LAY_C);
    tt_poison(&o);
    tt_expect_error(tirrt_cpu_reduce(TIRRT_RED_AMAX, &x.v, 2, &o.v), "size 0", "amax over an empty dim");
    tt_expect_error(tirrt_cpu_reduce(TIRRT_RED_SUM, &x.v, 1, &o.v), "shape", "sum with a wrong output shape");
    tt_expect_error(tirrt_cpu_reduce(TIRRT_RED_SUM, &x.v, 8, &o.v), "mask", "mask beyond the rank");
    tt_free(&x), tt_free(&o);
  }
}

/* ------------------------------------------------------------ softmax */

static void run_softmax(tirrt_dtype_t dt, int dim, int log, int lay, int olay, double mag, int inf_row) {
  tt_t x = tt_make(dt, 3, SH3, lay), o = tt_make(dt, 3, SH3, olay);
  tt_rand(&x, -mag, mag);
  int dd = dim < 0 ? dim + 3 : dim;
  int64_t idx[TIRRT_MAX_RANK];
  if (inf_row) /* the row through element 0 is all -inf */
    for (int64_t k = 0; k < 105; k++) {
      tt_unravel(k, 3, SH3, idx);
      int in_row = 1;
      for (int d = 0; d < 3; d++) in_row &= d == dd || idx[d] == 0;
      if (in_row) tt_set_lin(&x, k, -INFINITY);
    }
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "%s %s dim %d %s -> %s, |x| <= %g%s", log ? "log_softmax" : "softmax",
           tt_dtype_name(dt), dim, tt_lay_name[lay], tt_lay_name[olay], mag, inf_row ? ", a -inf row" : "");
  if (tt_expect_ok(tirrt_cpu_softmax(&x.v, dim, log != 0, &o.v), label)) {
    long double ref[105];
    tt_ref_softmax(&x, dim, log != 0, ref);
    tt_expect_close(label, &o, ref, tt_tol(dt));
  }
  tt_free(&x), tt_free(&o);
}

void test_softmax(void) {
  /* test/ops has every dim on every float dtype; here a sliced input, a
   * strided output, |x| up to 1e4 and a row of -inf (its edge values are
   * a few per operand: never a whole row). */
  for (int f = 0; f < TT_COUNT(TT_FLOATS); f++)
    for (int log = 0; log < 2; log++) {
      run_softmax(TT_FLOATS[f], 0, log, TT_LAY_P, TT_LAY_C, 5, 0);
      run_softmax(TT_FLOATS[f], -1, log, TT_LAY_T, TT_LAY_P, 5, 0);
      run_softmax(TT_FLOATS[f], 2, log, TT_LAY_C, TT_LAY_C, 1e4, 0); /* large magnitudes */
      run_softmax(TT_FLOATS[f], 1, log, TT_LAY_P, TT_LAY_C, 1e4, 0);
      run_softmax(TT_FLOATS[f], 2, log, TT_LAY_C, TT_LAY_C, 5, 1);   /* a row of -inf */
    }
  const int64_t sz[] = {3, 0, 7};
  tt_t x = tt_make(TIRRT_DTYPE_F32, 3, sz, TT_LAY_C), o = tt_make(TIRRT_DTYPE_F32, 3, sz, TT_LAY_C);
  tt_poison(&o);
  if (tt_expect_ok(tirrt_cpu_softmax(&x.v, 1, false, &o.v), "softmax zero-size")) CHECK_MSG(tt_outside_ok(&o), "softmax zero-size wrote");
  tt_expect_error(tirrt_cpu_softmax(&x.v, 3, false, &o.v), "dim", "softmax dim 3 of rank 3");
  tt_free(&x), tt_free(&o);
}

/* ------------------------------------------------------------ layer_norm, rms_norm */

static void run_norm(int rms, tirrt_dtype_t dt, int nd, int has_w, int has_b, int lay, double eps) {
  const int64_t *ws = SH3 + 3 - nd;
  tt_t x = tt_make(dt, 3, SH3, lay), o = tt_make(dt, 3, SH3, lay == TT_LAY_C ? TT_LAY_C : TT_LAY_P);
  tt_t w = tt_make(dt, nd, ws, lay == TT_LAY_T ? TT_LAY_T : TT_LAY_C), b = tt_make(dt, nd, ws, TT_LAY_C);
  tt_rand(&x, -3, 5), tt_rand(&w, 0.5, 2), tt_rand(&b, -1, 1);
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "%s %s over %d dims%s%s %s eps %g", rms ? "rms_norm" : "layer_norm", tt_dtype_name(dt),
           nd, has_w ? " +weight" : "", has_b ? " +bias" : "", tt_lay_name[lay], eps);
  tirrt_status_t s = rms ? tirrt_cpu_rms_norm(&x.v, has_w ? &w.v : NULL, eps, &o.v)
                         : tirrt_cpu_layer_norm(&x.v, has_w ? &w.v : NULL, has_b ? &b.v : NULL, nd, eps, &o.v);
  if (tt_expect_ok(s, label)) {
    long double ref[105];
    tt_ref_norm(rms != 0, &x, nd, has_w ? &w : NULL, has_b ? &b : NULL, eps, ref);
    tt_expect_close(label, &o, ref, tt_tol(dt));
  }
  tt_free(&x), tt_free(&o), tt_free(&w), tt_free(&b);
}

void test_norms(void) {
  for (int f = 0; f < TT_COUNT(TT_FLOATS); f++)
    for (int nd = 1; nd <= 2; nd++)
      for (int lay = TT_LAY_C; lay <= TT_LAY_P; lay++) {
        run_norm(0, TT_FLOATS[f], nd, 0, 0, lay, 1e-5);
        run_norm(0, TT_FLOATS[f], nd, 1, 0, lay, 1e-5);
        run_norm(0, TT_FLOATS[f], nd, 1, 1, lay, 1e-5);
        run_norm(1, TT_FLOATS[f], nd, 1, 0, lay, 1e-6);
        run_norm(1, TT_FLOATS[f], nd, 1, 0, lay, -1);
        if (nd == 1) run_norm(1, TT_FLOATS[f], 1, 0, 0, lay, -1);
      }
  tt_t x = tt_make(TIRRT_DTYPE_F32, 3, SH3, TT_LAY_C), o = tt_make(TIRRT_DTYPE_F32, 3, SH3, TT_LAY_C);
  tt_t w = tt_make(TIRRT_DTYPE_F32, 1, (int64_t[]){5}, TT_LAY_C);
  tt_expect_error(tirrt_cpu_rms_norm(&x.v, &w.v, -1, &o.v), "weight shape", "rms_norm weight [5] for [3,5,7]");
  tt_expect_error(tirrt_cpu_layer_norm(&x.v, &w.v, NULL, 1, 1e-5, &o.v), "weight", "layer_norm weight [5]");
  tt_expect_error(tirrt_cpu_layer_norm(&x.v, NULL, NULL, 4, 1e-5, &o.v), "trailing", "layer_norm over 4 dims");
  tt_free(&x), tt_free(&o), tt_free(&w);
}

