/* attention.cu — what every sdpa kernel of tirk_attention.h starts from,
 * and the math fallback:
 *  - tirk_sdpa_prep: validates the arguments (the rules of tirrt_cpu_sdpa)
 *    into the prob_t every kernel takes (attention_internal.cuh); also used
 *    by flash.cu and attention_mem_efficient.cu.
 *  - tirk_sdpa_math: scores through cuBLAS, one softmax kernel, P.V through
 *    cuBLAS.
 * The kernels follow runtime/cpu_sdpa.c exactly in semantics (mask
 * thresholds, fully masked rows give 0, causal alignments, GQA, the Philox
 * dropout mask of runtime/cpu_random.c). */
#include "attention_internal.cuh"

static int is_float_dt(int dt) {
  return dt == TIRK_F16 || dt == TIRK_BF16 || dt == TIRK_F32 || dt == TIRK_F64;
}
static int dt_size(int dt) { return dt == TIRK_F64 ? 8 : dt == TIRK_F32 ? 4 : dt == TIRK_BOOL ? 1 : 2; }

/* Right-aligns the batch dims (all but the last `tail`) of `a` to the
 * broadcast batch shape; size-1 and missing dims get stride 0. */
static int align_batch(prob_t *c, int which, const tirk_view_t *a, int tail) {
  int anb = a->rank - tail;
  for (int d = 0; d < c->nbd; d++) {
    int ad = d - (c->nbd - anb);
    if (ad < 0 || a->shape[ad] == 1) c->bstride[which][d] = 0;
    else if (a->shape[ad] == c->bshape[d]) c->bstride[which][d] = a->strides[ad];
    else return 0;
  }
  return 1;
}

/* Validates the arguments (the same rules as tirrt_cpu_sdpa) and fills c.
 * *empty is set when there is nothing to compute. */
tirk_err_t tirk_sdpa_prep(const tirk_sdpa_args_t *a, prob_t *c, int *empty) {
  memset(c, 0, sizeof *c);
  *empty = 0;
  if (!a) return tirk_fail(TIRK_ERR_ARGS, "sdpa: NULL arguments");
  const tirk_view_t *q = &a->q, *k = &a->k, *v = &a->v, *o = &a->out, *m = a->mask;
  const tirk_view_t *ts[A_N] = {q, k, v, m, o};
  for (int t = 0; t < A_N; t++) {
    if (!ts[t]) continue;
    if (ts[t]->rank < 0 || ts[t]->rank > TIRK_MAX_RANK)
      return tirk_fail(TIRK_ERR_ARGS, "sdpa: bad rank %d", (int)ts[t]->rank);
    for (int d = 0; d < ts[t]->rank; d++)
      if (ts[t]->shape[d] < 0) return tirk_fail(TIRK_ERR_ARGS, "sdpa: negative dimension");
  }
  if (!is_float_dt(q->dtype)) return tirk_fail(TIRK_ERR_ARGS, "sdpa: q must be a float tensor");
  if (k->dtype != q->dtype || v->dtype != q->dtype || o->dtype != q->dtype)
    return tirk_fail(TIRK_ERR_ARGS, "sdpa: q, k, v and out must share one dtype");
  if (q->rank < 3 || k->rank < 3 || v->rank < 3)
    return tirk_fail(TIRK_ERR_ARGS, "sdpa: q, k, v need rank >= 3");
  int R = q->rank > k->rank ? q->rank : k->rank;
  if (v->rank > R) R = v->rank;
  c->nbd = R - 3;
  c->Hq = q->shape[q->rank - 3];
  c->L = q->shape[q->rank - 2];
  c->E = q->shape[q->rank - 1];
  c->Hk = k->shape[k->rank - 3];
  c->S = k->shape[k->rank - 2];
  c->Ev = v->shape[v->rank - 1];
  if (k->shape[k->rank - 1] != c->E) return tirk_fail(TIRK_ERR_ARGS, "sdpa: k's head dim differs from q's");
  if (v->shape[v->rank - 2] != c->S) return tirk_fail(TIRK_ERR_ARGS, "sdpa: v's length differs from k's");
  if (v->shape[v->rank - 3] != c->Hk) return tirk_fail(TIRK_ERR_ARGS, "sdpa: v's heads differ from k's");
  if (c->Hq != c->Hk) {
    if (!a->enable_gqa) return tirk_fail(TIRK_ERR_ARGS, "sdpa: Hq != Hk and enable_gqa is off");
    if (c->Hk == 0 || c->Hq % c->Hk != 0)
      return tirk_fail(TIRK_ERR_ARGS, "sdpa: Hq is not a multiple of Hk");
  }
  c->G = c->Hk == 0 ? 1 : c->Hq / c->Hk;
  for (int d = 0; d < c->nbd; d++) c->bshape[d] = 1;
  const tirk_view_t *qkv[3] = {q, k, v};
  for (int t = 0; t < 3; t++) {
    int anb = qkv[t]->rank - 3;
    for (int ad = 0; ad < anb; ad++) {
      int d = ad + (c->nbd - anb);
      int64_t n = qkv[t]->shape[ad];
      if (n == 1) continue;
      if (c->bshape[d] != 1 && c->bshape[d] != n)
        return tirk_fail(TIRK_ERR_ARGS, "sdpa: batch dims do not broadcast");
      c->bshape[d] = n;
    }
  }
  for (int t = 0; t < 3; t++) {
    align_batch(c, t, qkv[t], 3);
    c->hs[t] = qkv[t]->strides[qkv[t]->rank - 3];
    c->rs[t] = qkv[t]->strides[qkv[t]->rank - 2];
    c->cs[t] = qkv[t]->strides[qkv[t]->rank - 1];
  }
  int ok = o->rank == R && o->shape[R - 3] == c->Hq && o->shape[R - 2] == c->L &&
           o->shape[R - 1] == c->Ev;
  for (int d = 0; ok && d < c->nbd; d++) ok = o->shape[d] == c->bshape[d];
  if (!ok) return tirk_fail(TIRK_ERR_ARGS, "sdpa: out's shape is not [batch..., Hq, L, Ev]");
  for (int d = 0; d < c->nbd; d++) c->bstride[A_O][d] = o->strides[d];
  c->hs[A_O] = o->strides[R - 3];
  c->rs[A_O] = o->strides[R - 2];
  c->cs[A_O] = o->strides[R - 1];
  c->mask_kind = MK_NONE;
  if (m) {
    if (m->dtype == TIRK_BOOL) {
      c->mask_kind = MK_BOOL;
    } else if (is_float_dt(m->dtype)) {
      c->mask_kind = MK_FLOAT;
      c->mthresh = m->dtype == TIRK_F16 ? -65504.0 : -1e30; /* spec §5 */
      if (a->exact_mask) c->mthresh = -INFINITY; /* exact_mask: only -inf masks */
    } else {
      return tirk_fail(TIRK_ERR_ARGS, "sdpa: mask must be bool or float");
    }
    c->mdtype = m->dtype;
    if (m->rank > R) return tirk_fail(TIRK_ERR_ARGS, "sdpa: mask has more dims than the scores");
    const int64_t want[3] = {c->Hq, c->L, c->S};
    int64_t *dst[3] = {&c->hs[A_M], &c->rs[A_M], &c->cs[A_M]};
    for (int t = 0; t < 3; t++) {
      int md = m->rank - 3 + t;
      if (md < 0 || m->shape[md] == 1) *dst[t] = 0;
      else if (m->shape[md] == want[t]) *dst[t] = m->strides[md];
      else return tirk_fail(TIRK_ERR_ARGS, "sdpa: mask does not broadcast to [batch..., Hq, L, S]");
    }
    if (m->rank > 3 && !align_batch(c, A_M, m, 3))
      return tirk_fail(TIRK_ERR_ARGS, "sdpa: mask does not broadcast to [batch..., Hq, L, S]");
  }
  if (!(a->dropout_p >= 0)) return tirk_fail(TIRK_ERR_ARGS, "sdpa: dropout_p < 0");
  if (!isfinite(a->scale)) return tirk_fail(TIRK_ERR_ARGS, "sdpa: scale is not finite");
  c->scale_d = a->scale;
  c->scale = (float)a->scale;
  c->scale_log2 = (float)(a->scale * 1.4426950408889634);
  c->dropout = a->dropout_p > 0;
  double pt = ceil(a->dropout_p * 16777216.0); /* exact: p * 2^24 is exact in double */
  c->pthresh = pt >= 16777216.0 ? 16777216u : (uint32_t)pt;
  c->dscale_d = a->dropout_p < 1 ? 1.0 / (1.0 - a->dropout_p) : 0.0;
  c->dscale = (float)c->dscale_d;
  c->causal = a->is_causal != 0;
  c->causal_off = a->bottom_right ? c->S - c->L : 0;
  if (a->window < 0) return tirk_fail(TIRK_ERR_ARGS, "sdpa: window < 0");
  if (!(a->softcap >= 0) || !isfinite(a->softcap))
    return tirk_fail(TIRK_ERR_ARGS, "sdpa: softcap=%g (must be finite and >= 0)", a->softcap);
  c->window = a->window;
  c->softcap_d = a->softcap;
  c->softcap = (float)a->softcap;
  const double ck = a->softcap > 0 ? -2.0 * 1.4426950408889634 / a->softcap : 0.0;
  c->cap_k = ck < -3.4e38 ? -3.4e38f : (float)ck; /* finite: 0 * cap_k must stay 0 */
  if (a->softcap > 0 && !(c->softcap > 0.f)) /* below f32's range: a zero cap would divide by 0 */
    return tirk_fail(TIRK_ERR_ARGS, "sdpa: softcap=%g underflows f32", a->softcap);
  c->seed = a->seed;
  c->stream = a->stream;
  for (int t = 0; t < A_N; t++) c->ptr[t] = ts[t] ? ts[t]->data : NULL;
  c->lse = a->lse;
  c->nbatch = 1;
  for (int d = 0; d < c->nbd; d++) c->nbatch *= c->bshape[d];
  if (c->nbatch == 0 || c->Hq == 0 || c->L == 0 || c->Ev == 0) {
    *empty = 1; /* nothing to write (an empty out; lse is empty too unless Ev = 0) */
    if (c->Ev == 0 && c->nbatch && c->Hq && c->L) *empty = 2;
    return TIRK_OK;
  }
  for (int t = 0; t < A_N; t++)
    if (ts[t] && !ts[t]->data) {
      int64_t n = 1;
      for (int d = 0; d < ts[t]->rank; d++) n *= ts[t]->shape[d];
      if (n) return tirk_fail(TIRK_ERR_ARGS, "sdpa: NULL data");
    }
  /* 16-byte tile copies need 16-byte aligned rows for q, k and v. */
  int esz = dt_size(q->dtype), vec = 16 / esz;
  c->fast = c->E % vec == 0 && c->Ev % vec == 0;
  for (int t = 0; t < 3 && c->fast; t++) {
    if (c->cs[t] != 1 || ((uintptr_t)c->ptr[t] & 15) || c->hs[t] % vec || c->rs[t] % vec) c->fast = 0;
    for (int d = 0; d < c->nbd; d++)
      if (c->bstride[t][d] % vec) c->fast = 0;
  }
  return TIRK_OK;
}

tirk_err_t tirk_sdpa_finish_empty(const prob_t &p, int empty, cudaStream_t st) {
  /* Ev = 0: out has no elements, but lse is still the logsumexp; only
   * computed by the kernels for Ev > 0, so refuse rather than guess. */
  (void)st;
  if (empty == 2 && p.lse) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa: lse with Ev = 0");
  return TIRK_OK;
}

/* ------------------------------------------------------------ math fallback */

template <typename AT>
__device__ __forceinline__ AT block_reduce(AT v, bool is_max, AT *red) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) {
    AT o = __shfl_xor_sync(0xffffffffu, v, d);
    v = is_max ? (o > v ? o : v) : v + o;
  }
  const int w = threadIdx.x / 32, nw = blockDim.x / 32;
  __syncthreads(); /* red may still be read from a previous reduction */
  if (threadIdx.x % 32 == 0) red[w] = v;
  __syncthreads();
  v = red[0];
  for (int i = 1; i < nw; i++) v = is_max ? (red[i] > v ? red[i] : v) : v + red[i];
  return v;
}

__device__ __forceinline__ float exp_t(float x) { return expf(x); }
__device__ __forceinline__ double exp_t(double x) { return exp(x); }
__device__ __forceinline__ float log_t(float x) { return logf(x); }
__device__ __forceinline__ float tanh_t(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_t(double x) { return tanh(x); }
__device__ __forceinline__ double log_t(double x) { return log(x); }
template <typename PT> __device__ __forceinline__ PT to_p(double x);
template <> __device__ __forceinline__ __half to_p<__half>(double x) { return __float2half_rn((float)x); }
template <> __device__ __forceinline__ __nv_bfloat16 to_p<__nv_bfloat16>(double x) { return __float2bfloat16_rn((float)x); }
template <> __device__ __forceinline__ float to_p<float>(double x) { return (float)x; }
template <> __device__ __forceinline__ double to_p<double>(double x) { return x; }

/* One CTA per score row (h, i) of batch index b: scale, softcap, mask,
 * causal, window, softmax, dropout; P written as PT (in place when PT = AT).  Compute in
 * AT (f32, f64 for f64), like the CPU kernel. */
template <typename AT, typename PT>
__global__ void softmax_rows_kernel(const prob_t p, int64_t b, int64_t moff, AT *sc, PT *pout) {
  __shared__ AT red[32];
  const int64_t row = blockIdx.x, h = row / p.L, i = row % p.L, S = p.S;
  AT *x = sc + row * S;
  PT *po = pout + row * S;
  const AT scale = std::is_same<AT, double>::value ? (AT)p.scale_d : (AT)p.scale;
  const AT cap = std::is_same<AT, double>::value ? (AT)p.softcap_d : (AT)p.softcap;
  const int64_t jlo = win_lo(p, i); /* keys before the window are invisible */
  AT mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
    AT v = x[j] * scale;
    if (cap > 0) v = cap * tanh_t(v / cap); /* soft-capping comes before the mask */
    if ((p.causal && j > i + p.causal_off) || j < jlo) {
      v = -INFINITY; /* the mask is not read here: a +inf in it must not make NaN */
    } else if (p.mask_kind != MK_NONE) {
      double mv = mask_d(p, moff, h, i, j);
      v = mv == -INFINITY ? (AT)-INFINITY : v + (AT)mv;
    }
    x[j] = v;
    mx = v > mx ? v : mx;
  }
  mx = block_reduce<AT>(mx, true, red);
  float *lse = p.lse ? p.lse + (b * p.Hq + h) * p.L + i : NULL;
  if (mx == (AT)-INFINITY) { /* fully masked row: zeros */
    for (int64_t j = threadIdx.x; j < S; j += blockDim.x) po[j] = to_p<PT>(0.0);
    if (lse && threadIdx.x == 0) *lse = -INFINITY;
    return;
  }
  AT sum = 0;
  for (int64_t j = threadIdx.x; j < S; j += blockDim.x) sum += exp_t(x[j] - mx);
  sum = block_reduce<AT>(sum, false, red);
  const AT inv = (AT)1 / sum;
  const AT ds = std::is_same<AT, double>::value ? (AT)p.dscale_d : (AT)p.dscale;
  const uint64_t base = (uint64_t)(((b * p.Hq + h) * p.L + i) * S);
  for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
    AT pv = exp_t(x[j] - mx) * inv;
    if (p.dropout) pv = keep_one(p, base + (uint64_t)j) ? pv * ds : (AT)0;
    po[j] = to_p<PT>((double)pv);
  }
  if (lse && threadIdx.x == 0) *lse = (float)(mx + log_t(sum));
}

/* Zeroes out rows when S = 0 (no keys: every row is fully masked). */
template <typename T>
__global__ void zero_out_kernel(const prob_t p, int64_t b) {
  int64_t off[A_N];
  batch_offsets(p, b, off);
  const int64_t n = p.Hq * p.L * p.Ev;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < n; t += (int64_t)gridDim.x * blockDim.x) {
    int64_t e = t % p.Ev, i = (t / p.Ev) % p.L, h = t / (p.Ev * p.L);
    ((T *)p.ptr[A_O])[off[A_O] + h * p.hs[A_O] + i * p.rs[A_O] + e * p.cs[A_O]] = T(0.0f);
    if (p.lse && e == 0) p.lse[(b * p.Hq + h) * p.L + i] = -INFINITY;
  }
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

extern "C" size_t tirk_sdpa_math_workspace(const tirk_sdpa_args_t *a) {
  prob_t p;
  int empty;
  if (tirk_sdpa_prep(a, &p, &empty) != TIRK_OK || empty) return 0;
  const size_t n = (size_t)p.Hq * (size_t)p.L * (size_t)p.S;
  const int dt = a->q.dtype;
  size_t acc = dt == TIRK_F64 ? 8 : 4;
  return align256(n * acc) + (dt == TIRK_F16 || dt == TIRK_BF16 ? align256(n * 2) : 0);
}

/* A cuBLAS leading dimension for a matrix of `rows` rows of `cols`
 * elements with row stride rs: any value >= cols is fine when rows <= 1. */
static int64_t ld_of(int64_t rs, int64_t rows, int64_t cols) {
  if (rows <= 1) return cols > 1 ? cols : 1;
  return rs;
}

extern "C" tirk_err_t tirk_sdpa_math(const tirk_sdpa_args_t *a, cublasHandle_t handle, void *workspace,
                                     cudaStream_t stream) {
  prob_t p;
  int empty;
  tirk_err_t err = tirk_sdpa_prep(a, &p, &empty);
  if (err != TIRK_OK) return err;
  if (empty) return tirk_sdpa_finish_empty(p, empty, stream);
  const int dt = a->q.dtype;
  p.dtype = dt;
  const int64_t rows[4] = {p.L, p.S, p.S, p.L}, cols[4] = {p.E, p.E, p.Ev, p.Ev};
  const int map[4] = {A_Q, A_K, A_V, A_O};
  for (int t = 0; t < 4; t++) {
    const int w = map[t];
    if ((p.cs[w] != 1 && cols[t] > 1) || (rows[t] > 1 && p.rs[w] < cols[t]))
      return tirk_fail(TIRK_ERR_UNSUPPORTED,
                       "sdpa math: q, k, v, out need last-dim stride 1 and row stride >= last dim");
  }
  const int64_t lim = 0x7fffffff;
  if (p.L > lim || p.S > lim || p.E > lim || p.Ev > lim || p.Hq > lim)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa math: dims beyond int32");
  if (!workspace && p.S > 0) return tirk_fail(TIRK_ERR_ARGS, "sdpa math: NULL workspace");
  cudaDataType_t ab, ct;
  cublasComputeType_t comp;
  switch (dt) {
    case TIRK_F16: ab = CUDA_R_16F; ct = CUDA_R_32F; comp = CUBLAS_COMPUTE_32F; break;
    case TIRK_BF16: ab = CUDA_R_16BF; ct = CUDA_R_32F; comp = CUBLAS_COMPUTE_32F; break;
    case TIRK_F32: ab = CUDA_R_32F; ct = CUDA_R_32F; comp = CUBLAS_COMPUTE_32F; break;
    case TIRK_F64: ab = CUDA_R_64F; ct = CUDA_R_64F; comp = CUBLAS_COMPUTE_64F; break;
    default: return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa math: dtype %d", dt);
  }
  if (dt == TIRK_F32) {
    /* A handle in TF32 mode would round f32 operands to 10 mantissa bits. */
    cublasMath_t mode;
    if (cublasGetMathMode(handle, &mode) == CUBLAS_STATUS_SUCCESS &&
        (mode & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH)
      comp = CUBLAS_COMPUTE_32F_PEDANTIC;
  }
  int st = cublasSetStream(handle, stream);
  if (st != CUBLAS_STATUS_SUCCESS) return tirk_fail_cublas(st);
  const int esz = dt_size(dt);
  const size_t n = (size_t)p.Hq * (size_t)p.L * (size_t)p.S;
  void *scores = workspace;
  void *probs = (dt == TIRK_F16 || dt == TIRK_BF16) ? (char *)workspace + align256(n * 4) : workspace;
  const size_t acc_sz = dt == TIRK_F64 ? 8 : 4, p_sz = dt == TIRK_F64 ? 8 : dt == TIRK_F32 ? 4 : 2;
  const float one_f = 1.f, zero_f = 0.f;
  const double one_d = 1.0, zero_d = 0.0;
  const void *one = dt == TIRK_F64 ? (const void *)&one_d : (const void *)&one_f;
  const void *zero = dt == TIRK_F64 ? (const void *)&zero_d : (const void *)&zero_f;
  /* Heads batched per call: all Hq (G = 1), or one kv head's group reading k/v with stride 0. */
  const int64_t ncalls = p.G == 1 ? 1 : p.Hk, cnt = p.G == 1 ? p.Hq : p.G;
  const int64_t lq = ld_of(p.rs[A_Q], p.L, p.E), lk = ld_of(p.rs[A_K], p.S, p.E);
  const int64_t lv = ld_of(p.rs[A_V], p.S, p.Ev), lo = ld_of(p.rs[A_O], p.L, p.Ev);
  const int64_t LS = p.L * p.S;
  for (int64_t b = 0; b < p.nbatch; b++) {
    int64_t off[A_N] = {0, 0, 0, 0, 0}, rem = b;
    for (int d = p.nbd - 1; d >= 0; d--) {
      int64_t i = rem % p.bshape[d];
      rem /= p.bshape[d];
      for (int t = 0; t < A_N; t++) off[t] += i * p.bstride[t][d];
    }
    if (p.S == 0) {
      if (dt == TIRK_F16) zero_out_kernel<__half><<<64, 256, 0, stream>>>(p, b);
      else if (dt == TIRK_BF16) zero_out_kernel<__nv_bfloat16><<<64, 256, 0, stream>>>(p, b);
      else if (dt == TIRK_F32) zero_out_kernel<float><<<64, 256, 0, stream>>>(p, b);
      else zero_out_kernel<double><<<64, 256, 0, stream>>>(p, b);
      if ((err = tirk_check_launch()) != TIRK_OK) return err;
      continue;
    }
    for (int64_t c = 0; c < ncalls; c++) {
      const int64_t h0 = c * cnt; /* first query head of this call */
      const char *qp = (const char *)p.ptr[A_Q] + (off[A_Q] + h0 * p.hs[A_Q]) * esz;
      const char *kp = (const char *)p.ptr[A_K] + (off[A_K] + c * p.hs[A_K]) * esz;
      const int64_t skv_k = p.G == 1 ? p.hs[A_K] : 0;
      /* Row-major S[L][S] is column-major S x L: S^T = K (S x E) . Q^T. */
      st = cublasGemmStridedBatchedEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)p.S, (int)p.L, (int)p.E, one, kp, ab,
                                      (int)lk, skv_k, qp, ab, (int)lq, p.hs[A_Q],
                                      zero, (char *)scores + (size_t)(h0 * LS) * acc_sz, ct, (int)p.S, LS,
                                      (int)cnt, comp, CUBLAS_GEMM_DEFAULT);
      if (st != CUBLAS_STATUS_SUCCESS) return tirk_fail_cublas(st);
    }
    const unsigned nrows = (unsigned)(p.Hq * p.L);
    if (p.Hq * p.L > 0x7fffffff) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa math: too many rows");
    const int thr = p.S >= 1024 ? 512 : p.S >= 256 ? 256 : 128;
    if (dt == TIRK_F16)
      softmax_rows_kernel<float, __half><<<nrows, thr, 0, stream>>>(p, b, off[A_M], (float *)scores, (__half *)probs);
    else if (dt == TIRK_BF16)
      softmax_rows_kernel<float, __nv_bfloat16><<<nrows, thr, 0, stream>>>(p, b, off[A_M], (float *)scores,
                                                                           (__nv_bfloat16 *)probs);
    else if (dt == TIRK_F32)
      softmax_rows_kernel<float, float><<<nrows, thr, 0, stream>>>(p, b, off[A_M], (float *)scores, (float *)probs);
    else
      softmax_rows_kernel<double, double><<<nrows, thr, 0, stream>>>(p, b, off[A_M], (double *)scores, (double *)probs);
    if ((err = tirk_check_launch()) != TIRK_OK) return err;
    for (int64_t c = 0; c < ncalls; c++) {
      const int64_t h0 = c * cnt;
      const char *vp = (const char *)p.ptr[A_V] + (off[A_V] + c * p.hs[A_V]) * esz;
      char *op = (char *)p.ptr[A_O] + (off[A_O] + h0 * p.hs[A_O]) * esz;
      const int64_t skv_v = p.G == 1 ? p.hs[A_V] : 0;
      /* Row-major O[L][Ev] is column-major Ev x L: O^T = V^T (Ev x S) . P^T (S x L). */
      st = cublasGemmStridedBatchedEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, (int)p.Ev, (int)p.L, (int)p.S, one, vp, ab,
                                      (int)lv, skv_v, (const char *)probs + (size_t)(h0 * LS) * p_sz, ab, (int)p.S,
                                      LS, zero, op, ab, (int)lo, p.hs[A_O], (int)cnt, comp, CUBLAS_GEMM_DEFAULT);
      if (st != CUBLAS_STATUS_SUCCESS) return tirk_fail_cublas(st);
    }
  }
  return TIRK_OK;
}
