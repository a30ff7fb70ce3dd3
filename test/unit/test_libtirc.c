/* test_libtirc.c — the embedding API: compile from a string, errors with
 * locations, output shapes for symbolic inputs, running on caller buffers
 * given as DLPack tensors (contiguous and strided, with byte offsets), input
 * validation, NULL arguments and option values (the driver's set), IR dumps,
 * and the fused program against the unfused one on fresh random data. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tt.h"
#include "tirc.h"

static tirc_dltensor_t f32(float *data, int ndim, int64_t *shape, int64_t *strides) {
  return (tirc_dltensor_t){data, {1, 0}, ndim, {2, 32, 1}, shape, strides, 0};
}

static const char LINEAR[] =
    "func @main(%x: f32[N, 3], %w: f32[2, 3]) -> (f32[N, 2]) {\n"
    "  %y = linear(%x, %w)\n"
    "  return %y\n"
    "}\n";

static void test_compile_errors(void) {
  tirc_module_t *m = NULL;
  char *err = NULL;
  const char *bad = "func @main(%x: f32[2]) -> (f32[2]) {\n  %y = exp(%nope)\n  return %y\n}\n";
  int rc = tirc_compile_string(bad, strlen(bad), "bad.tir", NULL, &m, &err);
  CHECK(rc == 1 && m == NULL && err != NULL);
  CHECK(err && strstr(err, "bad.tir:2:12: error: undefined value '%nope'") != NULL);
  tirc_free(err);
  err = NULL;
  rc = tirc_compile_string(LINEAR, strlen(LINEAR), "x.tir", &(tirc_options_t){.passes = "bogus"},
                           &m, &err);
  CHECK(rc == 2 && err && strstr(err, "unknown pass 'bogus'"));
  tirc_free(err);
}

static void test_run_linear(void) {
  tirc_module_t *m = NULL;
  char *err = NULL;
  CHECK(tirc_compile_string(LINEAR, strlen(LINEAR), "linear.tir", NULL, &m, &err) == 0);
  if (!m) {
    fprintf(stderr, "%s\n", err ? err : "?");
    return;
  }
  CHECK(tirc_module_num_inputs(m) == 2 && tirc_module_num_outputs(m) == 1);
  CHECK(strcmp(tirc_module_input_name(m, 0), "x") == 0 && strcmp(tirc_module_input_name(m, 1), "w") == 0);
  CHECK(strstr(tirc_module_ir(m), "linear(%x, %w) : f32[N, 2]") != NULL);

  /* x given transposed: a [3, 4] buffer viewed as [4, 3] with strides (1, 4),
   * at a byte offset of one float. */
  float xbuf[1 + 12], w[6] = {1, 0, 0, 0, 1, 1};
  for (int i = 0; i < 13; i++) xbuf[i] = (float)(i * 7 % 11) - 5;
  int64_t xs[2] = {4, 3}, xst[2] = {1, 4}, ws[2] = {2, 3};
  tirc_dltensor_t in[2] = {f32(xbuf, 2, xs, xst), f32(w, 2, ws, NULL)};
  in[0].byte_offset = sizeof(float);
  tirc_dldtype_t dt[1];
  int32_t nd[1];
  int64_t shp[1][16];
  CHECK(tirc_module_output_shapes(m, in, 2, dt, nd, shp, &err) == 0);
  CHECK(nd[0] == 2 && shp[0][0] == 4 && shp[0][1] == 2 && dt[0].code == 2 && dt[0].bits == 32);

  /* The output written transposed too: a [2, 4] buffer with strides (1, 2)... as [4, 2]. */
  float out[8];
  for (int i = 0; i < 8; i++) out[i] = NAN;
  int64_t os[2] = {4, 2}, ost[2] = {1, 4};
  tirc_dltensor_t o = f32(out, 2, os, ost);
  CHECK(tirc_module_run(m, in, 2, &o, 1, 0, &err) == 0);
  int bad = 0;
  for (int i = 0; i < 4; i++) {
    float x0 = xbuf[1 + i], x1 = xbuf[1 + 4 + i], x2 = xbuf[1 + 8 + i];
    bad += out[i] != x0;            /* row i of w is (1, 0, 0) */
    bad += out[4 + i] != x1 + x2;   /* (0, 1, 1) */
  }
  CHECK(bad == 0);

  /* Wrong dtype, wrong device, wrong output shape, wrong counts. */
  tirc_dltensor_t wrong = in[1];
  wrong.dtype = (tirc_dldtype_t){2, 64, 1};
  tirc_dltensor_t in2[2] = {in[0], wrong};
  CHECK(tirc_module_run(m, in2, 2, &o, 1, 0, &err) == 1 && err && strstr(err, "input w"));
  tirc_free(err);
  err = NULL;
  in2[1] = in[1];
  in2[1].device.device_type = 2;
  CHECK(tirc_module_run(m, in2, 2, &o, 1, 0, &err) == 2 && err && strstr(err, "same device"));
  tirc_free(err);
  err = NULL;
  /* All on a GPU: runs there, or (no GPU, as in CI) a clear error. */
  if (tirc_cuda_device_count() == 0) {
    tirc_dltensor_t gin[2] = {f32(xbuf, 2, xs, NULL), in[1]}, gout = f32(out, 2, os, NULL);
    gin[0].device.device_type = gin[1].device.device_type = gout.device.device_type = 2;
    int grc = tirc_module_run(m, gin, 2, &gout, 1, 0, &err);
    CHECK(grc == 2 && err && strstr(err, "--device=cpu"));
    if (err && !strstr(err, "--device=cpu")) fprintf(stderr, "got: %s\n", err);
  }
  tirc_free(err);
  err = NULL;
  int64_t bad_shape[2] = {4, 3};
  tirc_dltensor_t o2 = f32(out, 2, bad_shape, NULL);
  CHECK(tirc_module_run(m, in, 2, &o2, 1, 0, &err) == 1 && err && strstr(err, "output 0 is f32[4, 2]"));
  tirc_free(err);
  err = NULL;
  CHECK(tirc_module_run(m, in, 1, &o, 1, 0, &err) == 2);
  tirc_free(err);
  tirc_module_free(m);
}

static const char ATTN[] =
    "func @main(%q: f32[B, 2, T, 8], %k: f32[B, 2, T, 8], %v: f32[B, 2, T, 8]) -> (f32[B, 2, T, 8]) {\n"
    "  %kt = transpose(%k, dim0=-2, dim1=-1)\n"
    "  %s = matmul(%q, %kt)\n"
    "  %s1 = mul(%s, 0.35355339059327373)\n"
    "  %neg = full(shape=[T, T], value=-inf, dtype=f32)\n"
    "  %m = triu(%neg, diagonal=1)\n"
    "  %s2 = add(%s1, %m)\n"
    "  %p = softmax(%s2, dim=-1)\n"
    "  %o = matmul(%p, %v)\n"
    "  return %o\n"
    "}\n";

static void test_fused_vs_unfused(void) {
  tirc_module_t *fused = NULL, *plain = NULL;
  char *err = NULL;
  CHECK(tirc_compile_string(ATTN, strlen(ATTN), "attn.tir", &(tirc_options_t){.dump_ir = 1}, &fused,
                            &err) == 0);
  CHECK(tirc_compile_string(ATTN, strlen(ATTN), "attn.tir", &(tirc_options_t){.passes = ""}, &plain,
                            &err) == 0);
  if (!fused || !plain) return;
  CHECK(strstr(tirc_module_ir(fused), "sdpa(%q, %k, %v, is_causal=true") != NULL);
  CHECK(strstr(tirc_module_ir(plain), "sdpa") == NULL);
  CHECK(strstr(tirc_module_dump(fused), "// ----- IR after fuse-attention -----") != NULL);
  enum { B = 3, T = 37, N = B * 2 * T * 8 };
  static float q[N], k[N], v[N], o1[N], o2[N];
  for (int i = 0; i < N; i++) {
    q[i] = (float)tt_rng_unif(-1, 1);
    k[i] = (float)tt_rng_unif(-1, 1);
    v[i] = (float)tt_rng_unif(-1, 1);
  }
  int64_t shape[4] = {B, 2, T, 8};
  tirc_dltensor_t in[3] = {f32(q, 4, shape, NULL), f32(k, 4, shape, NULL), f32(v, 4, shape, NULL)};
  tirc_dltensor_t a = f32(o1, 4, shape, NULL), b = f32(o2, 4, shape, NULL);
  CHECK(tirc_module_run(fused, in, 3, &a, 1, 0, &err) == 0);
  CHECK(tirc_module_run(plain, in, 3, &b, 1, 0, &err) == 0);
  double num = 0, den = 0;
  for (int i = 0; i < N; i++) {
    num += (double)(o1[i] - o2[i]) * (o1[i] - o2[i]);
    den += (double)o2[i] * o2[i];
  }
  double rel = sqrt(num) / sqrt(den);
  printf("test_libtirc: fused vs unfused rel err %.3g\n", rel);
  CHECK(rel < 1e-5); /* both f32 with f32/f64 accumulation */
  tirc_module_free(fused);
  tirc_module_free(plain);
}

/* Results that are reshapes (or copies) of a product: the runtime makes
 * the product in the caller's buffer when nothing else reads it; through a
 * transpose, or with a second reader, it copies.  Every case must give
 * the row-major values of x @ w^T rearranged as the program says. */
static void test_result_views(void) {
  static const char *const progs[] = {
      "func @main(%x: f32[4, 3], %w: f32[2, 3]) -> (f32[2, 4]) {\n"
      "  %y = linear(%x, %w)\n  %a = reshape(%y, shape=[8])\n  %b = contiguous(%a)\n"
      "  %c = reshape(%b, shape=[2, 4])\n  return %c\n}\n",
      "func @main(%x: f32[4, 3], %w: f32[2, 3]) -> (f32[2, 4]) {\n"
      "  %y = linear(%x, %w)\n  %t = transpose(%y, dim0=0, dim1=1)\n  %c = reshape(%t, shape=[2, 4])\n"
      "  return %c\n}\n",
      "func @main(%x: f32[4, 3], %w: f32[2, 3]) -> (f32[2, 4], f32[4, 2]) {\n"
      "  %y = linear(%x, %w)\n  %c = reshape(%y, shape=[2, 4])\n  %e = neg(%y)\n  return %c, %e\n}\n"};
  float x[12], w[6], y[8];
  for (int i = 0; i < 12; i++) x[i] = (float)tt_rng_int(-8, 8);
  for (int i = 0; i < 6; i++) w[i] = (float)tt_rng_int(-2, 2);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 2; j++) y[i * 2 + j] = x[i * 3] * w[j * 3] + x[i * 3 + 1] * w[j * 3 + 1] + x[i * 3 + 2] * w[j * 3 + 2];
  for (int k = 0; k < 3; k++) {
    tirc_module_t *m = NULL;
    char *err = NULL;
    CHECK(tirc_compile_string(progs[k], strlen(progs[k]), "views.tir", NULL, &m, &err) == 0);
    if (!m) {
      fprintf(stderr, "%s\n", err ? err : "?");
      tirc_free(err);
      continue;
    }
    int64_t xs[2] = {4, 3}, ws[2] = {2, 3}, cs[2] = {2, 4}, es[2] = {4, 2};
    float c[8], e[8];
    for (int i = 0; i < 8; i++) c[i] = e[i] = NAN;
    tirc_dltensor_t in[2] = {f32(x, 2, xs, NULL), f32(w, 2, ws, NULL)};
    tirc_dltensor_t out[2] = {f32(c, 2, cs, NULL), f32(e, 2, es, NULL)};
    CHECK(tirc_module_run(m, in, 2, out, k == 2 ? 2 : 1, 0, &err) == 0);
    int bad = 0;
    for (int i = 0; i < 8; i++) {
      /* k = 1: c is y^T ([2, 4], element (r, q) = y[q][r]) */
      float want = k == 1 ? y[(i % 4) * 2 + i / 4] : y[i];
      bad += c[i] != want;
      if (k == 2) bad += e[i] != -y[i];
    }
    CHECK(bad == 0);
    tirc_free(err);
    tirc_module_free(m);
  }
}

/* rc == 2 with a message containing `needle`; frees the message. */
static void expect_usage(int rc, char *err, const char *needle, int line) {
  if (rc == 2 && err && strstr(err, needle)) {
    CHECK(1);
  } else {
    fprintf(stderr, "%s:%d: want rc 2 and '%s', got rc %d and '%s'\n", __FILE__, line, needle, rc,
            err ? err : "(no message)");
    CHECK(0);
  }
  tirc_free(err);
}
#define EXPECT_USAGE(call, needle)  \
  do {                              \
    char *err_ = NULL;              \
    int rc_ = (call);               \
    expect_usage(rc_, err_, needle, __LINE__); \
  } while (0)

/* Every public entry point answers NULL with an error (or a documented
 * NULL / -1), never a crash. */
static void test_null_arguments(void) {
  tirc_module_t *m = NULL;
  char *err = NULL;
  size_t n = strlen(LINEAR);
  EXPECT_USAGE(tirc_compile_string(NULL, 3, "x.tir", NULL, &m, &err_), "text is NULL");
  EXPECT_USAGE(tirc_compile_string(LINEAR, n, "x.tir", NULL, NULL, &err_), "out_module is NULL");
  EXPECT_USAGE(tirc_compile_file(NULL, NULL, &m, &err_), "path is NULL");
  EXPECT_USAGE(tirc_compile_file("x.tir", NULL, NULL, &err_), "out_module is NULL");
  CHECK(m == NULL);
  /* NULL options and a NULL name mean the defaults; a NULL out_error is allowed. */
  CHECK(tirc_compile_string(LINEAR, n, NULL, NULL, &m, NULL) == 0 && m != NULL);
  if (!m) return;
  CHECK(tirc_compile_string(NULL, 0, NULL, NULL, NULL, NULL) == 2);

  CHECK(tirc_module_num_inputs(NULL) == -1 && tirc_module_num_outputs(NULL) == -1);
  CHECK(tirc_module_input_name(NULL, 0) == NULL);
  CHECK(tirc_module_ir(NULL) == NULL && tirc_module_dump(NULL) == NULL);
  tirc_module_free(NULL);
  tirc_free(NULL);

  float x[6] = {0}, w[6] = {0}, y[4];
  int64_t xs[2] = {2, 3}, ws[2] = {2, 3}, ys[2] = {2, 2};
  tirc_dltensor_t in[2] = {f32(x, 2, xs, NULL), f32(w, 2, ws, NULL)}, out = f32(y, 2, ys, NULL);
  tirc_dldtype_t dt[1];
  int32_t nd[1];
  int64_t shp[1][16];
  EXPECT_USAGE(tirc_module_output_shapes(NULL, in, 2, dt, nd, shp, &err_), "module is NULL");
  EXPECT_USAGE(tirc_module_output_shapes(m, NULL, 2, dt, nd, shp, &err_), "inputs is NULL");
  EXPECT_USAGE(tirc_module_output_shapes(m, in, 2, NULL, nd, shp, &err_), "out-parameter");
  EXPECT_USAGE(tirc_module_output_shapes(m, in, 2, dt, NULL, shp, &err_), "out-parameter");
  EXPECT_USAGE(tirc_module_output_shapes(m, in, 2, dt, nd, NULL, &err_), "out-parameter");
  CHECK(tirc_module_output_shapes(m, in, 2, dt, nd, shp, NULL) == 0);

  EXPECT_USAGE(tirc_module_run(NULL, in, 2, &out, 1, 0, &err_), "module is NULL");
  EXPECT_USAGE(tirc_module_run(m, NULL, 2, &out, 1, 0, &err_), "inputs is NULL");
  EXPECT_USAGE(tirc_module_run(m, in, 2, NULL, 1, 0, &err_), "outputs is NULL");
  EXPECT_USAGE(tirc_module_run_on_stream(NULL, in, 2, &out, 1, 0, NULL, &err_), "module is NULL");
  EXPECT_USAGE(tirc_module_run_on_stream(m, in, 2, NULL, 1, 0, NULL, &err_), "outputs is NULL");
  /* NULL data, shape and a NULL shape in an output. */
  tirc_dltensor_t bad[2] = {in[0], in[1]};
  bad[0].data = NULL;
  CHECK(tirc_module_run(m, bad, 2, &out, 1, 0, &err) == 1 && err && strstr(err, "input x: data is NULL"));
  tirc_free(err);
  err = NULL;
  bad[0] = in[0];
  bad[1].shape = NULL;
  CHECK(tirc_module_run(m, bad, 2, &out, 1, 0, &err) == 1 && err && strstr(err, "input w"));
  tirc_free(err);
  err = NULL;
  tirc_dltensor_t bad_out = out;
  bad_out.shape = NULL;
  bad_out.strides = ys; /* a strided output with no shape must not be read */
  CHECK(tirc_module_run(m, in, 2, &bad_out, 1, 0, &err) == 1 && err && strstr(err, "output 0"));
  tirc_free(err);
  err = NULL;
  bad_out = out;
  bad_out.data = NULL;
  CHECK(tirc_module_run(m, in, 2, &bad_out, 1, 0, &err) == 1 && err && strstr(err, "output 0: data is NULL"));
  tirc_free(err);
  err = NULL;
  CHECK(tirc_module_run(m, in, 2, &out, 1, 0, NULL) == 0);
  tirc_module_free(m);
}

/* The option values are exactly the driver's (spec §8): bad ones are
 * rejected before anything is parsed, good ones are never "unknown". */
static void test_option_values(void) {
  tirc_module_t *m = NULL;
  size_t n = strlen(LINEAR);
  static const char *const bad_targets[] = {"gpu", "CPU", "", "cuda ", "tpu"};
  static const char *const bad_archs[] = {"sm_70", "sm_75", "sm_100", "80", "", "sm_80x"};
  static const char *const bad_kernels[] = {"cudnn", "efficient", "", "Flash"};
  for (size_t i = 0; i < sizeof bad_targets / sizeof *bad_targets; i++)
    EXPECT_USAGE(tirc_compile_string(LINEAR, n, "x.tir", &(tirc_options_t){.target = bad_targets[i]},
                                     &m, &err_), "unknown target");
  for (size_t i = 0; i < sizeof bad_archs / sizeof *bad_archs; i++)
    EXPECT_USAGE(tirc_compile_string(LINEAR, n, "x.tir", &(tirc_options_t){.arch = bad_archs[i]},
                                     &m, &err_), "unknown arch");
  for (size_t i = 0; i < sizeof bad_kernels / sizeof *bad_kernels; i++)
    EXPECT_USAGE(tirc_compile_string(LINEAR, n, "x.tir",
                                     &(tirc_options_t){.sdpa_kernel = bad_kernels[i]}, &m, &err_),
                 "unknown sdpa_kernel");
  CHECK(m == NULL);
  static const char *const archs[] = {"sm_80", "sm_86", "sm_89", "sm_90"};
  static const char *const kernels[] = {"flash", "mem_efficient", "math"};
  for (size_t i = 0; i < 4; i++) {
    char *err = NULL;
    CHECK(tirc_compile_string(LINEAR, n, "x.tir", &(tirc_options_t){.target = "cpu", .arch = archs[i],
                              .sdpa_kernel = kernels[i % 3]}, &m, &err) == 0);
    tirc_module_free(m);
    m = NULL;
    tirc_free(err);
  }
  /* cuda is a valid target (a CPU-only build then says it lacks CUDA). */
  char *err = NULL;
  int rc = tirc_compile_string(LINEAR, n, "x.tir", &(tirc_options_t){.target = "cuda"}, &m, &err);
  CHECK(rc == 0 || (err && !strstr(err, "unknown")));
  tirc_module_free(m);
  tirc_free(err);
}

int main(int argc, char **argv) {
  tt_seed("test_libtirc", argc, argv, true, 0);
  test_null_arguments();
  test_option_values();
  test_compile_errors();
  test_run_linear();
  test_fused_vs_unfused();
  test_result_views();
  return CHECK_SUMMARY();
}
