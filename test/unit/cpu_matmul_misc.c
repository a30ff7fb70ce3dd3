/* cpu_matmul_misc.c — test_cpu_kernels: matmul and linear (float and
 * wrapping integer), the sources (arange, fill), triu/tril, embedding and
 * concat. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

/* ------------------------------------------------------------ matmul, linear */

static void run_matmul(tirrt_dtype_t dt, spec_t sa, spec_t sb, int olay, const char *what) {
  int R = sa.rank > sb.rank ? sa.rank : sb.rank;
  int64_t os[TIRRT_MAX_RANK];
  for (int d = 0; d < R - 2; d++) {
    int da = d - (R - sa.rank), db = d - (R - sb.rank);
    int64_t ea = da >= 0 ? sa.shape[da] : 1, eb = db >= 0 ? sb.shape[db] : 1;
    os[d] = ea == 1 ? eb : ea;
  }
  os[R - 2] = sa.shape[sa.rank - 2];
  os[R - 1] = sb.shape[sb.rank - 1];
  tt_t a = tt_make(dt, sa.rank, sa.shape, sa.lay), b = tt_make(dt, sb.rank, sb.shape, sb.lay);
  tt_t o = tt_make(dt, R, os, olay);
  if (tt_is_float(dt)) tt_rand(&a, -2, 2), tt_rand(&b, -2, 2);
  else tt_rand(&a, -9.3e18, 9.3e18), tt_rand(&b, -9.3e18, 9.3e18); /* products wrap */
  tt_poison(&o);
  char label[160];
  snprintf(label, sizeof label, "matmul %s %s (%s @ %s -> %s)", tt_dtype_name(dt), what, tt_lay_name[sa.lay],
           tt_lay_name[sb.lay], tt_lay_name[olay]);
  if (tt_expect_ok(tirrt_cpu_matmul(&a.v, &b.v, &o.v), label)) {
    long double *ref = tt_ref_alloc(&o);
    tt_ref_matmul(&a, &b, NULL, &o, ref);
    tt_expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&a), tt_free(&b), tt_free(&o);
}

void test_matmul(void) {
  const int64_t a4[] = {2, 1, 4, 5}, b3[] = {3, 5, 6}, a2[] = {7, 5}, b2[] = {5, 3};
  const int64_t af[] = {2, 3, 4, 5}, bf[] = {5, 6}, ak0[] = {3, 0}, bk0[] = {0, 4}, am0[] = {0, 5};
  const int64_t b54[] = {5, 4}, a1[] = {1, 5}, b51[] = {5, 1}, bb[] = {2, 3, 6, 5};
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_F64, TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16,
                               TIRRT_DTYPE_I32, TIRRT_DTYPE_I64, TIRRT_DTYPE_I8, TIRRT_DTYPE_U8,
                               TIRRT_DTYPE_I16};
  for (int d = 0; d < TT_COUNT(dts); d++) {
    tirrt_dtype_t dt = dts[d];
    for (int la = TT_LAY_C; la <= TT_LAY_S; la++)
      for (int lb = TT_LAY_C; lb <= TT_LAY_S; lb++) {
        if (la != TT_LAY_C && lb != TT_LAY_C && la != lb) continue; /* enough pairs */
        run_matmul(dt, (spec_t){4, a4, la}, (spec_t){3, b3, lb}, TT_LAY_C, "[2,1,4,5] @ [3,5,6]");
      }
    run_matmul(dt, (spec_t){4, a4, TT_LAY_S}, (spec_t){3, b3, TT_LAY_S}, TT_LAY_P, "[2,1,4,5] @ [3,5,6]");
    run_matmul(dt, (spec_t){2, a2, TT_LAY_C}, (spec_t){2, b2, TT_LAY_C}, TT_LAY_C, "[7,5] @ [5,3]");
    run_matmul(dt, (spec_t){2, a2, TT_LAY_S}, (spec_t){2, b2, TT_LAY_S}, TT_LAY_C, "[7,5]^T @ [5,3]^T");
    run_matmul(dt, (spec_t){2, a2, TT_LAY_T}, (spec_t){2, b2, TT_LAY_P}, TT_LAY_T, "[7,5] @ [5,3]");
    run_matmul(dt, (spec_t){4, af, TT_LAY_C}, (spec_t){2, bf, TT_LAY_C}, TT_LAY_C, "folded batch");
    run_matmul(dt, (spec_t){4, af, TT_LAY_C}, (spec_t){2, bf, TT_LAY_S}, TT_LAY_C, "folded batch, b^T");
    run_matmul(dt, (spec_t){4, af, TT_LAY_P}, (spec_t){2, bf, TT_LAY_C}, TT_LAY_P, "unfoldable batch");
    run_matmul(dt, (spec_t){2, bf, TT_LAY_C}, (spec_t){4, bb, TT_LAY_C}, TT_LAY_C, "[5,6] @ [2,3,6,5]");
    run_matmul(dt, (spec_t){2, a1, TT_LAY_C}, (spec_t){2, b51, TT_LAY_C}, TT_LAY_C, "[1,5] @ [5,1]");
    run_matmul(dt, (spec_t){2, a1, TT_LAY_S}, (spec_t){2, b54, TT_LAY_S}, TT_LAY_P, "[1,5] @ [5,4]");
    run_matmul(dt, (spec_t){2, ak0, TT_LAY_C}, (spec_t){2, bk0, TT_LAY_C}, TT_LAY_C, "K = 0");
    run_matmul(dt, (spec_t){2, am0, TT_LAY_C}, (spec_t){2, b54, TT_LAY_C}, TT_LAY_C, "M = 0");
  }
  /* A bigger f32 product through BLAS (K = 300). */
  const int64_t ab[] = {33, 300}, bb2[] = {300, 17};
  run_matmul(TIRRT_DTYPE_F32, (spec_t){2, ab, TT_LAY_C}, (spec_t){2, bb2, TT_LAY_S}, TT_LAY_C, "[33,300] @ [300,17]");
  run_matmul(TIRRT_DTYPE_F64, (spec_t){2, ab, TT_LAY_S}, (spec_t){2, bb2, TT_LAY_C}, TT_LAY_C, "[33,300] @ [300,17]");
  /* Errors. */
  tt_t x = tt_make(TIRRT_DTYPE_F32, 2, a2, TT_LAY_C), y = tt_make(TIRRT_DTYPE_F32, 2, a2, TT_LAY_C);
  tt_t o = tt_make(TIRRT_DTYPE_F32, 2, (int64_t[]){7, 5}, TT_LAY_C);
  tt_t bo = tt_make(TIRRT_DTYPE_BOOL, 2, (int64_t[]){5, 5}, TT_LAY_C);
  tt_expect_error(tirrt_cpu_matmul(&x.v, &y.v, &o.v), "shapes do not match: [7, 5] @ [7, 5] -> [7, 5]",
               "matmul [7,5] @ [7,5]");
  tt_expect_error(tirrt_cpu_matmul(&x.v, &o.v, &bo.v), "dtypes", "matmul f32 -> bool");
  tt_expect_error(tirrt_cpu_matmul(&bo.v, &bo.v, &bo.v), "bool", "bool matmul");
  tt_free(&x), tt_free(&y), tt_free(&o), tt_free(&bo);
}

static void run_linear(tirrt_dtype_t dt, int xr, const int64_t *xs, int xl, int wl, int has_b) {
  const int64_t ws[] = {6, 5}, bs[] = {6};
  int64_t os[TIRRT_MAX_RANK];
  memcpy(os, xs, sizeof(int64_t) * (size_t)xr);
  os[xr - 1] = 6;
  tt_t x = tt_make(dt, xr, xs, xl), w = tt_make(dt, 2, ws, wl), b = tt_make(dt, 1, bs, TT_LAY_C);
  tt_t o = tt_make(dt, xr, os, TT_LAY_C);
  tt_rand(&x, -2, 2), tt_rand(&w, -2, 2), tt_rand(&b, -2, 2);
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "linear %s x rank %d %s, w %s%s", tt_dtype_name(dt), xr, tt_lay_name[xl], tt_lay_name[wl],
           has_b ? ", bias" : "");
  if (tt_expect_ok(tirrt_cpu_linear(&x.v, &w.v, has_b ? &b.v : NULL, &o.v), label)) {
    /* w^T as a view for the reference */
    tt_t wt = w;
    wt.v.shape[0] = 5, wt.v.shape[1] = 6;
    wt.v.strides[0] = w.v.strides[1], wt.v.strides[1] = w.v.strides[0];
    tt_t x2 = x, o2 = o;
    if (xr == 1) { /* as [1, K] @ [K, N] */
      x2.v.rank = o2.v.rank = 2;
      x2.v.shape[1] = 5, x2.v.strides[1] = x.v.strides[0], x2.v.shape[0] = 1;
      o2.v.shape[1] = 6, o2.v.strides[1] = o.v.strides[0], o2.v.shape[0] = 1;
    }
    long double *ref = tt_ref_alloc(&o);
    tt_ref_matmul(&x2, &wt, has_b ? &b : NULL, &o2, ref);
    tt_expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&x), tt_free(&w), tt_free(&b), tt_free(&o);
}

void test_linear(void) {
  const int64_t xs3[] = {2, 3, 5}, xs1[] = {5};
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_F64, TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16,
                               TIRRT_DTYPE_I32};
  for (int d = 0; d < TT_COUNT(dts); d++)
    for (int has_b = 0; has_b < 2; has_b++) {
      run_linear(dts[d], 3, xs3, TT_LAY_C, TT_LAY_C, has_b);
      run_linear(dts[d], 3, xs3, TT_LAY_P, TT_LAY_S, has_b);
      run_linear(dts[d], 3, xs3, TT_LAY_T, TT_LAY_C, has_b);
      run_linear(dts[d], 1, xs1, TT_LAY_C, TT_LAY_S, has_b);
    }
}

/* ------------------------------------------------------------ arange, fill, tri */

void test_sources(void) {
  struct { tirrt_dtype_t dt; int64_t start, step, n; } cases[] = {
      {TIRRT_DTYPE_I64, 0, 1, 10}, {TIRRT_DTYPE_I32, -7, 3, 13}, {TIRRT_DTYPE_I8, 100, 7, 20},
      {TIRRT_DTYPE_F32, 5, -2, 9}, {TIRRT_DTYPE_F16, -1000, 37, 60}, {TIRRT_DTYPE_BF16, 3, 129, 40},
      {TIRRT_DTYPE_F64, 1, 1, 0}, {TIRRT_DTYPE_U8, 250, 1, 9}, {TIRRT_DTYPE_I16, 0, -5000, 11},
      {TIRRT_DTYPE_I64, INT64_C(1) << 62, INT64_C(1) << 61, 5}, {TIRRT_DTYPE_F32, INT64_C(16777217), 2, 4},
  };
  for (int c = 0; c < TT_COUNT(cases); c++)
    for (int lay = 0; lay < 2; lay++) {
      tt_t o = tt_make(cases[c].dt, 1, &cases[c].n, lay ? TT_LAY_P : TT_LAY_C);
      tt_poison(&o);
      char label[96];
      snprintf(label, sizeof label, "arange %s start %" PRId64 " step %" PRId64 " n %" PRId64, tt_dtype_name(cases[c].dt),
               cases[c].start, cases[c].step, cases[c].n);
      if (tt_expect_ok(tirrt_cpu_arange(cases[c].start, cases[c].step, &o.v), label)) {
        long double ref[64];
        for (int64_t i = 0; i < cases[c].n; i++) {
          int64_t v = (int64_t)((uint64_t)cases[c].start + (uint64_t)i * (uint64_t)cases[c].step);
          ref[i] = tt_convert((long double)v, TIRRT_DTYPE_I64, cases[c].dt);
        }
        tt_expect_exact(label, &o, ref);
      }
      tt_free(&o);
    }
  const double values[] = {3.7, -1e10, NAN, 1e10, -0.5, 0, 65519};
  for (int d = 0; d < TT_COUNT(TT_ALL); d++)
    for (int v = 0; v < TT_COUNT(values); v++) {
      const int64_t s0[] = {1};
      tt_t o = v % 2 ? tt_make(TT_ALL[d], 3, SH3, TT_LAY_P) : tt_make(TT_ALL[d], v == 4 ? 0 : 3, v == 4 ? s0 : SH3, TT_LAY_C);
      tt_poison(&o);
      char label[64];
      snprintf(label, sizeof label, "fill %s %g", tt_dtype_name(TT_ALL[d]), values[v]);
      if (tt_expect_ok(tirrt_cpu_fill(values[v], &o.v), label)) {
        long double ref[105];
        for (int k = 0; k < 105; k++) ref[k] = tt_convert(values[v], TIRRT_DTYPE_F64, TT_ALL[d]);
        tt_expect_exact(label, &o, ref);
      }
      tt_free(&o);
    }
}

void test_tri(void) {
  const int64_t s3[] = {2, 4, 5}, s2[] = {5, 3};
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_BF16, TIRRT_DTYPE_I64, TIRRT_DTYPE_BOOL,
                               TIRRT_DTYPE_U8, TIRRT_DTYPE_F64};
  for (int d = 0; d < TT_COUNT(dts); d++)
    for (int diag = -2; diag <= 2; diag++)
      for (int upper = 0; upper < 2; upper++)
        for (int v = 0; v < 2; v++) {
          int rank = v ? 2 : 3;
          const int64_t *sh = v ? s2 : s3;
          tt_t x = tt_make(dts[d], rank, sh, v ? TT_LAY_T : TT_LAY_C), o = tt_make(dts[d], rank, sh, v ? TT_LAY_P : TT_LAY_C);
          tt_rand(&x, 1, 9); /* never 0, so a kept element is told from a zeroed one */
          tt_poison(&o);
          char label[96];
          snprintf(label, sizeof label, "%s %s diagonal %d rank %d", upper ? "triu" : "tril", tt_dtype_name(dts[d]), diag, rank);
          if (tt_expect_ok(tirrt_cpu_tri(&x.v, diag, upper != 0, &o.v), label)) {
            int64_t n = tt_numel(rank, sh), idx[TIRRT_MAX_RANK];
            long double ref[64];
            for (int64_t k = 0; k < n; k++) {
              tt_unravel(k, rank, sh, idx);
              int64_t dj = idx[rank - 1] - idx[rank - 2];
              ref[k] = (upper ? dj >= diag : dj <= diag) ? tt_lin(&x, k) : 0;
            }
            tt_expect_exact(label, &o, ref);
          }
          tt_free(&x), tt_free(&o);
        }
  tt_t x = tt_make(TIRRT_DTYPE_F32, 1, s2, TT_LAY_C);
  tt_expect_error(tirrt_cpu_tri(&x.v, 0, false, &x.v), "rank", "tril of a vector");
  tt_free(&x);
}

/* ------------------------------------------------------------ embedding, concat */

static void run_embedding(tirrt_dtype_t wdt, int wl, tirrt_dtype_t idt, int ir, const int64_t *is, int il) {
  const int64_t ws[] = {11, 6};
  int64_t os[TIRRT_MAX_RANK];
  memcpy(os, is, sizeof(int64_t) * (size_t)ir);
  os[ir] = 6;
  tt_t w = tt_make(wdt, 2, ws, wl), ix = tt_make(idt, ir, is, il), o = tt_make(wdt, ir + 1, os, TT_LAY_C);
  tt_rand(&w, -3, 3), tt_rand(&ix, 0, 10);
  tt_poison(&o);
  char label[96];
  snprintf(label, sizeof label, "embedding %s %s, %s indices rank %d %s", tt_dtype_name(wdt), tt_lay_name[wl], tt_dtype_name(idt), ir,
           tt_lay_name[il]);
  if (tt_expect_ok(tirrt_cpu_embedding(&w.v, &ix.v, &o.v), label)) {
    int64_t n = tt_numel(ir, is);
    long double *ref = tt_ref_alloc(&o);
    for (int64_t k = 0; k < n; k++) {
      int64_t row = (int64_t)tt_lin(&ix, k);
      for (int j = 0; j < 6; j++) ref[k * 6 + j] = tt_lin(&w, row * 6 + j);
    }
    tt_expect_exact(label, &o, ref);
    free(ref);
  }
  tt_free(&w), tt_free(&ix), tt_free(&o);
}

void test_embedding(void) {
  const int64_t i34[] = {3, 4}, i5[] = {5}, i0[] = {1}, iz[] = {2, 0};
  run_embedding(TIRRT_DTYPE_F32, TT_LAY_C, TIRRT_DTYPE_I32, 2, i34, TT_LAY_C);
  run_embedding(TIRRT_DTYPE_F32, TT_LAY_T, TIRRT_DTYPE_I64, 2, i34, TT_LAY_T);
  run_embedding(TIRRT_DTYPE_F16, TT_LAY_C, TIRRT_DTYPE_I64, 1, i5, TT_LAY_P);
  run_embedding(TIRRT_DTYPE_BF16, TT_LAY_P, TIRRT_DTYPE_I32, 0, i0, TT_LAY_C);
  run_embedding(TIRRT_DTYPE_I64, TT_LAY_C, TIRRT_DTYPE_U8, 2, i34, TT_LAY_E);
  run_embedding(TIRRT_DTYPE_F64, TT_LAY_C, TIRRT_DTYPE_I64, 2, iz, TT_LAY_C);
  /* Out of range: an error naming the index, no read out of bounds. */
  const int64_t ws[] = {50257, 2}, is[] = {3}, os[] = {3, 2};
  tt_t w = tt_make(TIRRT_DTYPE_F16, 2, ws, TT_LAY_C), ix = tt_make(TIRRT_DTYPE_I64, 1, is, TT_LAY_C);
  tt_t o = tt_make(TIRRT_DTYPE_F16, 2, os, TT_LAY_C);
  int64_t bad[3] = {5, 70000, 1};
  memcpy(ix.v.data, bad, sizeof bad);
  tt_expect_error(tirrt_cpu_embedding(&w.v, &ix.v, &o.v), "embedding: index 70000 out of range [0, 50257)",
               "embedding index 70000");
  bad[1] = -1;
  memcpy(ix.v.data, bad, sizeof bad);
  tt_expect_error(tirrt_cpu_embedding(&w.v, &ix.v, &o.v), "index -1 out of range", "embedding index -1");
  tt_t fi = tt_make(TIRRT_DTYPE_F32, 1, is, TT_LAY_C);
  tt_expect_error(tirrt_cpu_embedding(&w.v, &fi.v, &o.v), "indices", "float indices");
  tt_free(&w), tt_free(&ix), tt_free(&o), tt_free(&fi);
}

void test_concat(void) {
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_I16, TIRRT_DTYPE_BOOL, TIRRT_DTYPE_BF16};
  for (int d = 0; d < TT_COUNT(dts); d++)
    for (int dim = -1; dim < 3; dim++) {
      int dd = dim < 0 ? dim + 3 : dim;
      const int64_t sizes[3] = {2, 0, 4};
      int64_t sh[3][3], os[3] = {3, 5, 7};
      os[dd] = 6;
      tt_t in[4], o = tt_make(dts[d], 3, os, dd == 1 ? TT_LAY_P : TT_LAY_C);
      tirrt_view_t views[4];
      for (int k = 0; k < 3; k++) {
        memcpy(sh[k], os, sizeof os);
        sh[k][dd] = sizes[k];
        in[k] = tt_make(dts[d], 3, sh[k], k == 0 ? TT_LAY_T : k == 2 ? TT_LAY_P : TT_LAY_C);
        tt_rand(&in[k], -50, 50);
        views[k] = in[k].v;
      }
      const int64_t legacy[] = {0}; /* torch's 1-D empty tensor */
      in[3] = tt_make(dts[d], 1, legacy, TT_LAY_C);
      views[3] = in[3].v;
      tt_poison(&o);
      char label[64];
      snprintf(label, sizeof label, "concat %s dim %d (with empty inputs)", tt_dtype_name(dts[d]), dim);
      if (tt_expect_ok(tirrt_cpu_concat(4, views, dim, &o.v), label)) {
        long double *ref = tt_ref_alloc(&o);
        int64_t idx[3];
        for (int64_t k = 0; k < tt_numel(3, os); k++) {
          tt_unravel(k, 3, os, idx);
          int src = idx[dd] < 2 ? 0 : 2;
          if (src == 2) idx[dd] -= 2;
          ref[k] = tt_at(&in[src], 3, idx);
        }
        tt_expect_exact(label, &o, ref);
        free(ref);
      }
      if (d == 0 && dim == 0) {
        views[1].shape[2] = 6; /* a mismatched non-concat dim */
        tt_expect_error(tirrt_cpu_concat(3, views, dim, &o.v), "does not fit", "concat mismatched input");
        views[1].shape[2] = 7;
        tt_expect_error(tirrt_cpu_concat(1, views, dim, &o.v), "add up", "concat too short");
      }
      for (int k = 0; k < 4; k++) tt_free(&in[k]);
      tt_free(&o);
    }
}

