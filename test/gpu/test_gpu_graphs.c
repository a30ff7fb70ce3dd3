/* test_gpu_graphs.c — CUDA graphs of program runs (tirrt.h, libtirc): a
 * run replayed from a graph gives what the same run launched op by op
 * gives, on new data in the same buffers (so the replay really computes);
 * new buffers or shapes record a new graph; a graph's embedding check
 * still reports a bad index; dropout's seed is part of the key; a program
 * whose keys never repeat records nothing.  Through libtirc on device
 * memory, as the torch backend runs.  Fresh random data; exit 77 without
 * a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "tirc.h"
#include "tt.h"

/* A small decoder layer: embedding, norm, QKV projection, causal
 * attention, GELU MLP with a residual, and dropout when asked. */
static const char LAYER[] =
    "func @main(%ids: i64[B, T], %wte: f32[50, 64], %ln_w: f32[64], %ln_b: f32[64],\n"
    "           %w_qkv: f32[192, 64], %w_fc: f32[128, 64], %w_out: f32[64, 128])\n"
    "    -> (f32[B, T, 64], f32[B, 4, T, 16]) {\n"
    "  %x = embedding(%wte, %ids)\n"
    "  %h = layer_norm(%x, %ln_w, %ln_b, eps=1e-5)\n"
    "  %qkv = linear(%h, %w_qkv)\n"
    "  %q0 = slice(%qkv, dim=-1, start=0, end=64)\n"
    "  %k0 = slice(%qkv, dim=-1, start=64, end=128)\n"
    "  %v0 = slice(%qkv, dim=-1, start=128, end=192)\n"
    "  %q1 = reshape(%q0, shape=[B, T, 4, 16])\n"
    "  %k1 = reshape(%k0, shape=[B, T, 4, 16])\n"
    "  %v1 = reshape(%v0, shape=[B, T, 4, 16])\n"
    "  %q = permute(%q1, dims=[0, 2, 1, 3])\n"
    "  %k = permute(%k1, dims=[0, 2, 1, 3])\n"
    "  %v = permute(%v1, dims=[0, 2, 1, 3])\n"
    "  %a = sdpa(%q, %k, %v, is_causal=true@EXTRA@)\n"
    "  %f = linear(%h, %w_fc)\n"
    "  %g = gelu(%f)\n"
    "  %m = linear(%g, %w_out)\n"
    "  %o = add(%m, %x)\n"
    "  return %o, %a\n"
    "}\n";

enum { V = 50, D = 64, NIN = 7 };

static const int64_t WSHAPE[6][2] = {{V, D}, {D, 0}, {D, 0}, {192, D}, {128, D}, {D, 128}};

typedef struct {
  tirc_module_t *m;
  void *dev[NIN];     /* inputs on the GPU */
  void *out[2][2];    /* two sets of output buffers */
  int64_t B, T;
  int64_t in_shape[NIN][2], out_shape[2][4];
} Fixture;

static tirc_dltensor_t dl(void *p, int nd, int64_t *shape, int code, int bits) {
  return (tirc_dltensor_t){p, {2, 0}, nd, {(uint8_t)code, (uint8_t)bits, 1}, shape, NULL, 0};
}

static size_t out_elems(const Fixture *f, int j) {
  return j == 0 ? (size_t)(f->B * f->T * D) : (size_t)(f->B * 4 * f->T * 16);
}

/* New random ids (in range, or with one bad) and weights in the same buffers. */
static void fill_inputs(Fixture *f, int64_t bad_id) {
  int64_t n = f->B * f->T;
  int64_t *ids = malloc((size_t)n * sizeof *ids);
  for (int64_t i = 0; i < n; i++) ids[i] = tt_rng_int(0, V - 1);
  if (bad_id) ids[n / 2] = bad_id;
  cudaMemcpy(f->dev[0], ids, (size_t)n * sizeof *ids, cudaMemcpyHostToDevice);
  free(ids);
  for (int w = 0; w < 6; w++) {
    size_t k = (size_t)(WSHAPE[w][0] * (WSHAPE[w][1] ? WSHAPE[w][1] : 1));
    float *h = malloc(k * sizeof *h);
    for (size_t i = 0; i < k; i++) h[i] = (float)tt_rng_unif(-0.5, 0.5) + (w == 1 ? 1.0f : 0.0f);
    cudaMemcpy(f->dev[1 + w], h, k * sizeof *h, cudaMemcpyHostToDevice);
    free(h);
  }
}

static bool setup(Fixture *f, const char *extra, int64_t B, int64_t T) {
  memset(f, 0, sizeof *f);
  f->B = B;
  f->T = T;
  char text[4096];
  const char *at = strstr(LAYER, "@EXTRA@");
  snprintf(text, sizeof text, "%.*s%s%s", (int)(at - LAYER), LAYER, extra, at + 7);
  char *err = NULL;
  tirc_options_t o = {.target = "cuda"};
  if (tirc_compile_string(text, strlen(text), "layer.tir", &o, &f->m, &err)) {
    CHECK_MSG(false, "compile: %s", err ? err : "?");
    tirc_free(err);
    return false;
  }
  tirc_module_set_cuda_graphs(f->m, 1); /* off by default */
  f->in_shape[0][0] = B, f->in_shape[0][1] = T;
  for (int w = 0; w < 6; w++) memcpy(f->in_shape[1 + w], WSHAPE[w], sizeof WSHAPE[w]);
  cudaMalloc(&f->dev[0], (size_t)(B * T) * sizeof(int64_t));
  for (int w = 0; w < 6; w++)
    cudaMalloc(&f->dev[1 + w], (size_t)(WSHAPE[w][0] * (WSHAPE[w][1] ? WSHAPE[w][1] : 1)) * sizeof(float));
  int64_t o0[4] = {B, T, D, 0}, o1[4] = {B, 4, T, 16};
  memcpy(f->out_shape[0], o0, sizeof o0);
  memcpy(f->out_shape[1], o1, sizeof o1);
  for (int s = 0; s < 2; s++)
    for (int j = 0; j < 2; j++) cudaMalloc(&f->out[s][j], out_elems(f, j) * sizeof(float));
  fill_inputs(f, 0);
  return true;
}

static void teardown(Fixture *f) {
  for (int i = 0; i < NIN; i++) cudaFree(f->dev[i]);
  for (int s = 0; s < 2; s++)
    for (int j = 0; j < 2; j++) cudaFree(f->out[s][j]);
  tirc_module_free(f->m);
}

/* One run into output set s; the error text (caller frees) or NULL. */
static char *run(Fixture *f, int s, uint64_t seed) {
  tirc_dltensor_t in[NIN], out[2];
  in[0] = dl(f->dev[0], 2, f->in_shape[0], 0, 64);
  for (int w = 0; w < 6; w++) in[1 + w] = dl(f->dev[1 + w], WSHAPE[w][1] ? 2 : 1, f->in_shape[1 + w], 2, 32);
  out[0] = dl(f->out[s][0], 3, f->out_shape[0], 2, 32);
  out[1] = dl(f->out[s][1], 4, f->out_shape[1], 2, 32);
  char *err = NULL;
  if (tirc_module_run_on_stream(f->m, in, NIN, out, 2, seed, NULL, &err)) return err ? err : strdup("?");
  return NULL;
}

static float *fetch(const Fixture *f, int s, int j) {
  size_t n = out_elems(f, j);
  float *h = malloc(n * sizeof *h);
  cudaMemcpy(h, f->out[s][j], n * sizeof *h, cudaMemcpyDeviceToHost);
  return h;
}

/* ||a - b|| / ||b||. */
static double rel(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Both outputs of set s against the outputs of set r. */
static double diff_sets(const Fixture *f, int s, int r) {
  double worst = 0;
  for (int j = 0; j < 2; j++) {
    float *a = fetch(f, s, j), *b = fetch(f, r, j);
    double e = rel(a, b, out_elems(f, j));
    if (e > worst) worst = e;
    free(a);
    free(b);
  }
  return worst;
}

/* Runs with graphs (set 0) against runs without (set 1) over several
 * rounds of new data in the same buffers. */
static void test_replay_matches(int64_t B, int64_t T) {
  Fixture f;
  if (!setup(&f, "", B, T)) return;
  tirc_module_t *m = f.m;
  for (int round = 0; round < 5; round++) {
    fill_inputs(&f, 0);
    char *e = run(&f, 0, 0);
    CHECK_MSG(!e, "graph run %d: %s", round, e ? e : "");
    free(e);
    tirc_module_set_cuda_graphs(m, 0);
    e = run(&f, 1, 0);
    CHECK_MSG(!e, "plain run %d: %s", round, e ? e : "");
    free(e);
    tirc_module_set_cuda_graphs(m, 1);
    double d = diff_sets(&f, 0, 1);
    /* The data changed every round, so a replay that did not compute
     * would show here. */
    CHECK_MSG(d <= 1e-6, "B=%lld T=%lld round %d: graph vs plain %.3g", (long long)B, (long long)T, round, d);
  }
  /* Rounds 0 (plain, seen), 1 (recorded), 2.. (replayed): one graph. */
  CHECK_MSG(tirc_module_cuda_graphs_recorded(m) == 1, "recorded %d graphs, expected 1",
            tirc_module_cuda_graphs_recorded(m));
  teardown(&f);
}

/* Output buffers alternating between two sets (as a caller's allocator
 * hands them out): two graphs, both replayed correctly. */
static void test_two_keys(void) {
  Fixture f;
  if (!setup(&f, "", 2, 24)) return;
  for (int round = 0; round < 6; round++) {
    fill_inputs(&f, 0);
    char *e = run(&f, round % 2, 0);
    CHECK_MSG(!e, "run %d: %s", round, e ? e : "");
    free(e);
    /* the reference into the other set, without graphs */
    tirc_module_set_cuda_graphs(f.m, 0);
    e = run(&f, 1 - round % 2, 0);
    CHECK(!e);
    free(e);
    tirc_module_set_cuda_graphs(f.m, 1);
    double d = diff_sets(&f, round % 2, 1 - round % 2);
    CHECK_MSG(d <= 1e-6, "alternating buffers, round %d: %.3g", round, d);
  }
  CHECK_MSG(tirc_module_cuda_graphs_recorded(f.m) == 2, "recorded %d graphs, expected 2",
            tirc_module_cuda_graphs_recorded(f.m));
  teardown(&f);
}

/* A bad index in a replayed run is still an error. */
static void test_bad_index_in_replay(void) {
  Fixture f;
  if (!setup(&f, "", 2, 16)) return;
  for (int i = 0; i < 3; i++) free(run(&f, 0, 0)); /* plain, recorded, replayed */
  CHECK(tirc_module_cuda_graphs_recorded(f.m) == 1);
  fill_inputs(&f, 77);
  char *e = run(&f, 0, 0);
  CHECK_MSG(e && strstr(e, "index 77 is out of range for a table of 50 rows"),
            "bad index in a replay: %s", e ? e : "no error");
  free(e);
  fill_inputs(&f, -3);
  e = run(&f, 0, 0);
  CHECK_MSG(e && strstr(e, "index -3"), "negative index in a replay: %s", e ? e : "no error");
  free(e);
  fill_inputs(&f, 0); /* and good data afterwards is fine again */
  e = run(&f, 0, 0);
  CHECK_MSG(!e, "after a bad run: %s", e ? e : "");
  free(e);
  teardown(&f);
}

/* With dropout the seed is in the key: a new seed is a new mask, and the
 * same seed replays the same mask. */
static void test_dropout_seed(void) {
  Fixture f;
  if (!setup(&f, ", dropout_p=0.25", 2, 32)) return;
  for (int i = 0; i < 3; i++) free(run(&f, 0, 11)); /* seed 11: plain, recorded, replayed */
  free(run(&f, 1, 11));                              /* set 1, seed 11: plain */
  CHECK_MSG(diff_sets(&f, 0, 1) <= 1e-6, "same seed, same result");
  free(run(&f, 1, 12)); /* another seed must not replay seed 11's graph */
  CHECK_MSG(diff_sets(&f, 0, 1) > 1e-3, "a new seed gives a new dropout mask");
  teardown(&f);
}

/* Shapes that never repeat (the same buffers, T growing as in decoding
 * with a growing cache) record no graph, and every run is right. */
static void test_changing_shapes(void) {
  Fixture f;
  if (!setup(&f, "", 1, 14)) return;
  for (int64_t T = 8; T <= 14; T++) {
    f.T = f.in_shape[0][1] = f.out_shape[0][1] = f.out_shape[1][2] = T;
    fill_inputs(&f, 0);
    char *e = run(&f, 0, 0);
    CHECK_MSG(!e, "T=%lld: %s", (long long)T, e ? e : "");
    free(e);
    tirc_module_set_cuda_graphs(f.m, 0);
    free(run(&f, 1, 0));
    tirc_module_set_cuda_graphs(f.m, 1);
    CHECK_MSG(diff_sets(&f, 0, 1) <= 1e-6, "T=%lld", (long long)T);
  }
  CHECK(tirc_module_cuda_graphs_recorded(f.m) == 0);
  teardown(&f);
}

/* paged_sdpa through the runtime on the GPU (its check slot, its
 * workspace in a graph's arena) against the same module on the CPU. */
static const char PAGED[] =
    "func @main(%q: f32[2, 8, 3, 64], %k: f32[40, 2, 16, 64], %v: f32[40, 2, 16, 64],\n"
    "           %bt: i32[2, 20], %n: i32[2]) -> (f32[2, 8, 3, 64]) {\n"
    "  %o = paged_sdpa(%q, %k, %v, %bt, %n, is_causal=true, enable_gqa=true)\n"
    "  return %o\n"
    "}\n";

static void test_paged(void) {
  tirc_module_t *m = NULL;
  char *err = NULL;
  tirc_options_t o = {.target = "cuda"};
  if (tirc_compile_string(PAGED, strlen(PAGED), "paged.tir", &o, &m, &err)) {
    CHECK_MSG(false, "compile: %s", err ? err : "?");
    tirc_free(err);
    return;
  }
  tirc_module_set_cuda_graphs(m, 1);
  int64_t shp[5][4] = {{2, 8, 3, 64}, {40, 2, 16, 64}, {40, 2, 16, 64}, {2, 20}, {2}};
  int nd[5] = {4, 4, 4, 2, 1};
  size_t cnt[5] = {2 * 8 * 3 * 64, 40 * 2 * 16 * 64, 40 * 2 * 16 * 64, 40, 2};
  void *h[5], *d[5], *hout = malloc(cnt[0] * 4), *gout = malloc(cnt[0] * 4), *dout = NULL;
  for (int i = 0; i < 5; i++) {
    h[i] = malloc(cnt[i] * 4);
    cudaMalloc(&d[i], cnt[i] * 4);
  }
  cudaMalloc(&dout, cnt[0] * 4);
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < 3; i++)
      for (size_t x = 0; x < cnt[i]; x++) ((float *)h[i])[x] = (float)tt_rng_unif(-1, 1);
    for (int x = 0; x < 40; x++) ((int32_t *)h[3])[x] = (int32_t)tt_rng_int(0, 39);
    ((int32_t *)h[4])[0] = (int32_t)tt_rng_int(0, 320);
    ((int32_t *)h[4])[1] = round == 4 ? 320 : (int32_t)tt_rng_int(0, 320);
    if (round == 4) ((int32_t *)h[3])[39] = 40; /* a page the cache does not have */
    tirc_dltensor_t hin[5], din[5], ho, dov;
    for (int i = 0; i < 5; i++) {
      int code = i < 3 ? 2 : 0;
      hin[i] = (tirc_dltensor_t){h[i], {1, 0}, nd[i], {(uint8_t)code, 32, 1}, shp[i], NULL, 0};
      din[i] = hin[i];
      din[i].data = d[i];
      din[i].device = (tirc_dldevice_t){2, 0};
      cudaMemcpy(d[i], h[i], cnt[i] * 4, cudaMemcpyHostToDevice);
    }
    ho = (tirc_dltensor_t){hout, {1, 0}, 4, {2, 32, 1}, shp[0], NULL, 0};
    dov = ho;
    dov.data = dout;
    dov.device = (tirc_dldevice_t){2, 0};
    char *e1 = NULL, *e2 = NULL;
    int rc1 = tirc_module_run(m, hin, 5, &ho, 1, 0, &e1);
    int rc2 = tirc_module_run_on_stream(m, din, 5, &dov, 1, 0, NULL, &e2);
    if (round < 4) {
      CHECK_MSG(rc1 == 0 && rc2 == 0, "paged round %d: %s / %s", round, e1 ? e1 : "", e2 ? e2 : "");
      cudaMemcpy(gout, dout, cnt[0] * 4, cudaMemcpyDeviceToHost);
      double r = rel(gout, hout, cnt[0]);
      CHECK_MSG(r <= 1e-5, "paged round %d: gpu vs cpu %.3g", round, r);
    } else {
      CHECK_MSG(rc1 == 1 && e1 && strstr(e1, "block_table[1, 19]"), "cpu bad page: %s", e1 ? e1 : "none");
      CHECK_MSG(rc2 == 1 && e2 && strstr(e2, "block_table[1, 19] is not a page"), "gpu bad page: %s",
                e2 ? e2 : "none");
    }
    tirc_free(e1);
    tirc_free(e2);
  }
  for (int i = 0; i < 5; i++) {
    free(h[i]);
    cudaFree(d[i]);
  }
  free(hout);
  free(gout);
  cudaFree(dout);
  tirc_module_free(m);
}

int main(int argc, char **argv) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 || tirc_cuda_device_count() == 0) {
    printf("test_gpu_graphs: no GPU, skipped\n");
    return 77;
  }
  tt_seed("test_gpu_graphs", argc, argv, true, 0);
  test_replay_matches(2, 24);
  test_replay_matches(1, 1);
  test_replay_matches(3, 130);
  test_two_keys();
  test_bad_index_in_replay();
  test_dropout_seed();
  test_changing_shapes();
  test_paged();
  return CHECK_SUMMARY();
}
