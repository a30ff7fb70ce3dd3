/* test_gpu_paged.c — the CUDA paged-attention kernel (tirk_sdpa_paged)
 * against the CPU's paged_sdpa (tirrt_cpu_paged_sdpa, itself checked
 * against a float64 reference by test/unit/test_paged.c), on the same
 * random inputs: long sequences (many splits), GQA groups, several query
 * rows (speculative decoding), causal / window / softcap, lengths from 0
 * to full, shared and permuted pages, f16 / bf16 / f32.  Every output
 * element must be written; a bad length or page id must give the verdict
 * that names it.  Exits 77 without a GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "tirk_attention.h"
#include "tirrt_cpu.h"
#include "tt.h"

#include "gpu_check.h"

typedef struct {
  tirrt_view_t h; /* host, contiguous */
  void *dev;
  size_t bytes;
} Buf;

static Buf make(tirrt_dtype_t dt, int rank, const int64_t *shape) {
  Buf b;
  tirrt_tensor_desc_t d = {.dtype = dt, .rank = rank};
  for (int i = 0; i < rank; i++) d.shape[i] = shape[i];
  b.bytes = tirrt_dtype_size(dt);
  for (int i = 0; i < rank; i++) b.bytes *= (size_t)shape[i];
  b.h = tirrt_view_contiguous(&d, calloc(1, b.bytes + 1));
  CK(cudaMalloc(&b.dev, b.bytes + 1));
  return b;
}

static void fill(Buf *b) {
  size_t n = b->bytes / tirrt_dtype_size(b->h.dtype);
  for (size_t i = 0; i < n; i++) {
    float x = (float)tt_rng_unif(-1, 1);
    if (b->h.dtype == TIRRT_DTYPE_F32) ((float *)b->h.data)[i] = x;
    else if (b->h.dtype == TIRRT_DTYPE_F16) ((uint16_t *)b->h.data)[i] = tirrt_float_to_half(x);
    else ((uint16_t *)b->h.data)[i] = tirrt_float_to_bf16(x);
  }
}

static void up(Buf *b) { CK(cudaMemcpy(b->dev, b->h.data, b->bytes, cudaMemcpyHostToDevice)); }

static tirk_view_t dv(const Buf *b) {
  tirk_view_t v;
  memset(&v, 0, sizeof v);
  v.dtype = (int32_t)b->h.dtype; /* the tirk and tirrt dtype numbers are the same */
  v.rank = b->h.rank;
  for (int i = 0; i < v.rank; i++) v.shape[i] = b->h.shape[i], v.strides[i] = b->h.strides[i];
  v.data = b->dev;
  return v;
}

static void drop(Buf *b) {
  free(b->h.data);
  cudaFree(b->dev);
}

static double as_double(const tirrt_view_t *v, size_t i) {
  if (v->dtype == TIRRT_DTYPE_F32) return ((const float *)v->data)[i];
  uint16_t h = ((const uint16_t *)v->data)[i];
  return v->dtype == TIRRT_DTYPE_F16 ? tirrt_half_to_float(h) : tirrt_bf16_to_float(h);
}

static void one_case(int n, bool big) {
  static const tirrt_dtype_t DTS[] = {TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16, TIRRT_DTYPE_F32};
  tirrt_dtype_t dt = DTS[tt_rng_int(0, 2)];
  int64_t B = tt_rng_int(1, 4), Hk = tt_rng_int(1, 4), G = tt_rng_int(1, 4), Hq = Hk * G;
  int64_t L = tt_rng_int(1, 3) == 1 ? tt_rng_int(2, 5) : 1;
  int64_t E = (int64_t[]){64, 128, 96, 40, 256}[tt_rng_int(0, 4)], Ev = tt_rng_int(0, 3) ? E : tt_rng_int(1, 130);
  int64_t PS = (int64_t[]){16, 32, 7, 64}[tt_rng_int(0, 3)];
  int64_t NB = big ? tt_rng_int(20, 2100 / PS + 1) : tt_rng_int(1, 12), P = tt_rng_int(1, NB * B + 3);
  double scale = 1.0 / sqrt((double)E);
  int causal = (int)tt_rng_int(0, 1);
  int64_t window = tt_rng_int(0, 2) == 0 ? tt_rng_int(1, 300) : 0;
  double softcap = tt_rng_int(0, 3) == 0 ? tt_rng_unif(1, 30) : 0;
  int64_t qs[4] = {B, Hq, L, E}, ks[4] = {P, Hk, PS, E}, vs[4] = {P, Hk, PS, Ev}, os[4] = {B, Hq, L, Ev};
  int64_t bs[2] = {B, NB}, ls[1] = {B};
  Buf q = make(dt, 4, qs), kc = make(dt, 4, ks), vc = make(dt, 4, vs), out = make(dt, 4, os);
  Buf bt = make(TIRRT_DTYPE_I32, 2, bs), lens = make(TIRRT_DTYPE_I32, 1, ls);
  fill(&q), fill(&kc), fill(&vc);
  for (int64_t x = 0; x < B * NB; x++) ((int32_t *)bt.h.data)[x] = (int32_t)tt_rng_int(0, P - 1);
  for (int64_t b = 0; b < B; b++)
    ((int32_t *)lens.h.data)[b] = (int32_t)(tt_rng_int(0, 5) == 0 ? 0 : tt_rng_int(0, 2) == 0 ? NB * PS
                                                                      : tt_rng_int(0, NB * PS));
  up(&q), up(&kc), up(&vc), up(&bt), up(&lens);
  CK(cudaMemset(out.dev, 0xff, out.bytes)); /* NaN bytes: an element not written shows */
  tirk_paged_args_t a = {.q = dv(&q), .k_cache = dv(&kc), .v_cache = dv(&vc), .block_table = dv(&bt),
                         .kv_lens = dv(&lens), .out = dv(&out), .scale = scale, .is_causal = causal,
                         .window = window, .softcap = softcap};
  size_t wsz = tirk_sdpa_paged_workspace(&a);
  void *ws = NULL;
  int64_t *verdict = NULL, vh = 0;
  CK(cudaMalloc((void **)&verdict, sizeof *verdict));
  if (wsz) CK(cudaMalloc(&ws, wsz));
  tirk_err_t e = tirk_sdpa_paged(&a, ws, verdict, 0);
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(&vh, verdict, sizeof vh, cudaMemcpyDeviceToHost));
  const char *label = tt_label("case %d %s B=%lld Hq=%lld Hk=%lld L=%lld E=%lld Ev=%lld PS=%lld NB=%lld P=%lld "
                               "causal=%d window=%lld softcap=%.1f",
                               n, tirrt_dtype_name(dt), (long long)B, (long long)Hq, (long long)Hk,
                               (long long)L, (long long)E, (long long)Ev, (long long)PS, (long long)NB,
                               (long long)P, causal, (long long)window, softcap);
  CHECK_MSG(e == TIRK_OK && vh == INT64_MAX, "%s: err %d verdict %lld", label, (int)e, (long long)vh);
  /* the CPU's answer from the same inputs */
  Buf ref = make(TIRRT_DTYPE_F32, 4, os);
  tirrt_view_t rv = ref.h;
  rv.dtype = dt; /* the CPU kernel writes out's dtype: reuse the f32-sized buffer */
  tirrt_sdpa_params_t pr = {.scale = scale, .is_causal = causal != 0, .bottom_right = true,
                            .enable_gqa = G > 1, .window = window, .softcap = softcap};
  tirrt_status_t s = tirrt_cpu_paged_sdpa(&q.h, &kc.h, &vc.h, &bt.h, &lens.h, &pr, &rv);
  CHECK_MSG(!s, "%s: cpu: %s", label, s ? tirrt_status_message(s) : "");
  tirrt_status_free(s);
  CK(cudaMemcpy(out.h.data, out.dev, out.bytes, cudaMemcpyDeviceToHost));
  size_t cnt = (size_t)(B * Hq * L * Ev);
  double num = 0, den = 0;
  bool finite = true;
  for (size_t i = 0; i < cnt; i++) {
    double g = as_double(&out.h, i), c = as_double(&rv, i);
    finite &= isfinite(g);
    num += (g - c) * (g - c);
    den += c * c;
  }
  double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  double bound = dt == TIRRT_DTYPE_F32 ? 1e-5 : dt == TIRRT_DTYPE_F16 ? 2e-3 : 1e-2;
  CHECK_MSG(finite && rel <= bound, "%s: gpu vs cpu rel %.3g (bound %.3g)%s", label, rel, bound,
            finite ? "" : ", an element not written or not finite");
  /* a bad page in a used block, then a bad length: the verdict names the first */
  int32_t *bth = (int32_t *)bt.h.data, *lh = (int32_t *)lens.h.data;
  int64_t bb = B - 1;
  lh[bb] = (int32_t)(NB * PS);
  bth[bb * NB + NB - 1] = (int32_t)P;
  up(&bt), up(&lens);
  e = tirk_sdpa_paged(&a, ws, verdict, 0);
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(&vh, verdict, sizeof vh, cudaMemcpyDeviceToHost));
  CHECK_MSG(e == TIRK_OK && vh == bb * (NB + 1) + NB, "%s: bad page verdict %lld", label, (long long)vh);
  lh[0] = -5;
  up(&lens);
  e = tirk_sdpa_paged(&a, ws, verdict, 0);
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(&vh, verdict, sizeof vh, cudaMemcpyDeviceToHost));
  CHECK_MSG(e == TIRK_OK && vh == 0, "%s: bad length verdict %lld", label, (long long)vh);
  drop(&q), drop(&kc), drop(&vc), drop(&out), drop(&bt), drop(&lens), drop(&ref);
  cudaFree(ws);
  cudaFree(verdict);
}

int main(int argc, char **argv) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    printf("test_gpu_paged: no GPU, skipped\n");
    return 77;
  }
  tt_seed("test_gpu_paged", argc, argv, true, 0);
  for (int i = 0; i < 150; i++) one_case(i, i % 3 == 0);
  return CHECK_SUMMARY();
}
