/* test_edge_kernels.c — the CPU kernels called directly on edge shapes:
 * tensors with no elements and NULL data (accepted; results that are not
 * empty get the identity: zeros for a matmul with K = 0, the bias for
 * linear, 0 / NaN for sum / mean over an empty dim), and a reduction of a
 * 0-d tensor whose mask names dim 0 (torch's wrapped dim; programs made
 * before the compiler cleared that bit carry it); and the program checks
 * of hand-built instruction fields. */
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

/* tirrt_program_create rejects every attribute that would index out of
 * range (a hand-built table, as an embedder might write one), and accepts
 * the same instruction with the field in range. */
static bool creates(const tirrt_inst_t *inst) {
  static const tirrt_dim_node_t dims[] = {{TIRRT_DIM_CONST, 0, 0, 4}, {TIRRT_DIM_CONST, 0, 0, 1},
                                          {TIRRT_DIM_CONST, 0, 0, 2}};
  static const int32_t d2[] = {0, 0}, d1[] = {2, 0}, args[] = {0}, res[] = {1};
  static const tirrt_value_def_t values[] = {{"x", TIRRT_DTYPE_F32, 2, d2, TIRRT_VALUE_ARG, 0, 0},
                                             {"y", TIRRT_DTYPE_F32, 2, d1, TIRRT_VALUE_TEMP, 0, 0}};
  tirrt_program_def_t def = {.abi = TIRRT_PROGRAM_ABI, .name = "hand", .n_dims = 3, .dims = dims,
                             .n_values = 2, .values = values, .n_args = 1, .args = args,
                             .n_insts = 1, .insts = inst, .n_results = 1, .results = res};
  tirrt_program_t *p = NULL;
  tirrt_status_t s = tirrt_program_create(&def, &p);
  bool good = s == NULL;
  if (s) CHECK(tirrt_status_code(s) == TIRRT_STATUS_INVALID_ARGUMENT);
  tirrt_status_free(s);
  tirrt_program_free(p);
  return good;
}

static void test_checked_fields(void) {
  static const int32_t in1[] = {0}, in2[] = {0, 0};
  tirrt_inst_t slice = {.op = TIRRT_OP_SLICE, .out = 1, .n_in = 1, .in = in1,
                        .a.slice = {.dim = 0, .start = 1, .step = 1}};
  CHECK(creates(&slice));
  tirrt_inst_t t = slice;
  t.a.slice.start = 3; /* no such dim node */
  CHECK(!creates(&t));
  t = slice;
  t.a.slice.step = -1;
  CHECK(!creates(&t));
  t = slice;
  t.a.slice.dim = 2;
  CHECK(!creates(&t));
  t = slice;
  t.n_in = 2;
  t.in = in2;
  CHECK(!creates(&t));
  tirrt_inst_t perm = {.op = TIRRT_OP_PERMUTE, .out = 1, .n_in = 1, .in = in1,
                       .a.permute = {.perm = {1, 0}}};
  CHECK(creates(&perm));
  perm.a.permute.perm[1] = 1; /* not a permutation */
  CHECK(!creates(&perm));
  tirrt_inst_t red = {.op = TIRRT_OP_REDUCE, .out = 1, .n_in = 1, .in = in1,
                      .a.reduce = {.fn = TIRRT_RED_SUM, .dims_mask = 1}};
  CHECK(creates(&red));
  red.a.reduce.dims_mask = 4; /* dim 2 of a rank-2 input */
  CHECK(!creates(&red));
  tirrt_inst_t un = {.op = TIRRT_OP_UNARY, .out = 1, .n_in = 1, .in = in1, .a.unary = {.fn = 99}};
  CHECK(!creates(&un));
  tirrt_inst_t lin = {.op = TIRRT_OP_LINEAR, .out = 1, .n_in = 2, .in = in2,
                      .a.linear = {.act = TIRRT_ACT_COUNT}};
  CHECK(!creates(&lin));
  static const int32_t in3[] = {0, 0, 0};
  tirrt_inst_t att = {.op = TIRRT_OP_SDPA, .out = 1, .n_in = 3, .in = in3,
                      .a.sdpa = {.scale = 1, .kernel = TIRRT_SDPA_MATH}};
  CHECK(creates(&att));
  att.a.sdpa.kernel = TIRRT_SDPA_KERNEL_COUNT;
  CHECK(!creates(&att));
}

int main(void) {
  test_empty_operands();
  test_0d_reduce_mask();
  test_checked_fields();
  return CHECK_SUMMARY();
}
