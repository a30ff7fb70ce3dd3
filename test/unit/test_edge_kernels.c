/* test_edge_kernels.c — the CPU kernels called directly on edge shapes:
 * tensors with no elements and NULL data (accepted; results that are not
 * empty get the identity: zeros for a matmul with K = 0, the bias for
 * linear, 0 / NaN for sum / mean over an empty dim), and a reduction of a
 * 0-d tensor whose mask names dim 0 (torch's wrapped dim; programs made
 * before the compiler cleared that bit carry it). */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tt.h"
#include "tirrt.h"
#include "tirrt_cpu.h"

static tirrt_view_t view(int rank, const int64_t *shape, void *data) {
  tirrt_tensor_desc_t d = {.dtype = TIRRT_DTYPE_F32, .rank = rank};
  for (int k = 0; k < rank; k++) d.shape[k] = shape[k];
  return tirrt_view_contiguous(&d, data);
}

static bool ok(tirrt_status_t s, const char *what) {
  if (s) fprintf(stderr, "%s: %s\n", what, tirrt_status_message(s));
  tirrt_status_free(s);
  return s == NULL;
}

static void test_empty_operands(void) {
  int64_t a_s[2] = {3, 0}, b_s[2] = {0, 2}, c_s[2] = {3, 2}, w_s[2] = {2, 0}, bias_s[1] = {2};
  float c[6], bias[2] = {0.25f, -4.0f}, r[3];
  for (int i = 0; i < 6; i++) c[i] = NAN;
  tirrt_view_t a = view(2, a_s, NULL), b = view(2, b_s, NULL), cv = view(2, c_s, c);
  CHECK(ok(tirrt_cpu_matmul(&a, &b, &cv), "matmul K=0"));
  int bad = 0;
  for (int i = 0; i < 6; i++) bad += c[i] != 0;
  CHECK(bad == 0);
  tirrt_view_t w = view(2, w_s, NULL), bv = view(1, bias_s, bias);
  CHECK(ok(tirrt_cpu_linear(&a, &w, &bv, &cv), "linear K=0"));
  for (int i = 0; i < 6; i++) bad += c[i] != bias[i % 2];
  CHECK(bad == 0);
  /* sum / mean over the empty dim: [3, 0] -> [3, 1] */
  int64_t r_s[2] = {3, 1};
  tirrt_view_t rv = view(2, r_s, r);
  CHECK(ok(tirrt_cpu_reduce(TIRRT_RED_SUM, &a, 2u, &rv), "sum"));
  for (int i = 0; i < 3; i++) bad += r[i] != 0;
  CHECK(ok(tirrt_cpu_reduce(TIRRT_RED_MEAN, &a, 2u, &rv), "mean"));
  for (int i = 0; i < 3; i++) bad += !isnan(r[i]);
  CHECK(bad == 0);
  tirrt_status_t s = tirrt_cpu_reduce(TIRRT_RED_AMAX, &a, 2u, &rv);
  CHECK(s && strstr(tirrt_status_message(s), "no identity"));
  tirrt_status_free(s);
  /* Empty in, empty out, NULL everywhere. */
  int64_t e_s[2] = {0, 5};
  tirrt_view_t e = view(2, e_s, NULL), eo = view(2, e_s, NULL);
  CHECK(ok(tirrt_cpu_softmax(&e, 1, false, &eo), "softmax"));
  CHECK(ok(tirrt_cpu_unary(TIRRT_UN_EXP, &e, &eo), "exp"));
  CHECK(ok(tirrt_cpu_copy(&e, &eo), "copy"));
  CHECK(ok(tirrt_cpu_fill(1.0, &eo), "fill"));
}

static void test_0d_reduce_mask(void) {
  float x = -2.5f;
  for (int op = TIRRT_RED_SUM; op <= TIRRT_RED_AMIN; op++) {
    float y = NAN;
    tirrt_view_t xv = view(0, NULL, &x), yv = view(0, NULL, &y);
    CHECK(ok(tirrt_cpu_reduce((tirrt_redop_t)op, &xv, 1u, &yv), "0-d reduce, mask 1"));
    CHECK(y == x);
    y = NAN;
    CHECK(ok(tirrt_cpu_reduce((tirrt_redop_t)op, &xv, 0u, &yv), "0-d reduce, mask 0"));
    CHECK(y == x);
  }
  tirrt_view_t xv = view(0, NULL, &x), yv = view(0, NULL, &x);
  tirrt_status_t s = tirrt_cpu_reduce(TIRRT_RED_SUM, &xv, 2u, &yv); /* dim 1 of a 0-d: no */
  CHECK(s != NULL);
  tirrt_status_free(s);
}

int main(void) {
  test_empty_operands();
  test_0d_reduce_mask();
  return CHECK_SUMMARY();
}
