/* attention_paged.cu — attention over a paged KV cache (paged_sdpa,
 * tirk_sdpa_paged in tirk_attention.h): the decode kernel reads each key
 * and value row where the block table says, with no gathered copy.
 *
 * Split-KV, as decoding needs: one CTA per (split of SPLIT keys, sequence
 * and kv head, chunk of up to ROWS query rows of that kv head's group:
 * the group's query heads times the L new positions), so the query rows of
 * a GQA group share every key and value read.  A CTA scores its keys into
 * shared memory (each thread a key: its row read in 16-byte pieces, dotted
 * with the rows' pre-scaled queries), takes the softmax of its split
 * (max, exp, sum per row), and accumulates P.V (each thread a value
 * column, so value rows are read coalesced); the partial (unnormalized
 * output, max, sum) goes to the workspace and a second kernel merges the
 * splits.  f32 arithmetic for every dtype.  A first kernel checks the
 * lengths and page ids; the others clamp, so bad input never reads out of
 * bounds, and the verdict reaches the host through the caller's check
 * slot. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "tirk_attention.h"
#include "tirk_internal.h"

enum { P_THREADS = 128, P_SPLIT = 256, P_ROWS = 8, P_EMAX = 256 };

template <typename T> __device__ __forceinline__ float ldf(const T *p);
template <> __device__ __forceinline__ float ldf<float>(const float *p) { return *p; }
template <> __device__ __forceinline__ float ldf<__half>(const __half *p) { return __half2float(*p); }
template <> __device__ __forceinline__ float ldf<__nv_bfloat16>(const __nv_bfloat16 *p) {
  return __bfloat162float(*p);
}
template <typename T> __device__ __forceinline__ T stf(float x);
template <> __device__ __forceinline__ float stf<float>(float x) { return x; }
template <> __device__ __forceinline__ __half stf<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 stf<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

typedef struct {
  int64_t B, Hq, L, E, P, Hk, PS, Ev, NB, G, R, nsplit;
  int64_t qs[4], ks[4], vs[4], os[4], bts[2], ls;
  float scale, softcap;
  int causal;
  int64_t window;
} pprob_t;

/* The verdict (tirk_attention.h): INT64_MAX when fine, else the smallest
 * code b * (NB + 1) (kv_lens[b] bad) or b * (NB + 1) + 1 + blk
 * (block_table[b, blk] bad). */
__global__ void paged_check_kernel(pprob_t p, const int32_t *bt, const int32_t *lens,
                                   long long *verdict) {
  int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (b >= p.B) return;
  int64_t S = lens[b * p.ls];
  if (S < 0 || S > p.NB * p.PS) {
    atomicMin(verdict, (long long)(b * (p.NB + 1)));
    return;
  }
  for (int64_t blk = 0; blk * p.PS < S; blk++) {
    int64_t page = bt[b * p.bts[0] + blk * p.bts[1]];
    if (page < 0 || page >= p.P) {
      atomicMin(verdict, (long long)(b * (p.NB + 1) + 1 + blk));
      return;
    }
  }
}

__global__ void paged_init_kernel(long long *verdict) { *verdict = INT64_MAX; }

/* Keys of sequence b that are usable: its length when valid, else none. */
__device__ __forceinline__ int64_t seq_len(const pprob_t &p, const int32_t *lens, int64_t b) {
  int64_t S = lens[b * p.ls];
  return S < 0 || S > p.NB * p.PS ? 0 : S;
}

template <typename T>
__global__ void __launch_bounds__(P_THREADS)
paged_split_kernel(pprob_t p, const T *q, const T *k, const T *v, const int32_t *bt,
                   const int32_t *lens, float *ws) {
  __shared__ float qs[P_ROWS][P_EMAX];
  __shared__ float sc[P_ROWS][P_SPLIT];
  __shared__ int64_t krow[P_SPLIT], vrow[P_SPLIT]; /* element offsets of each key's rows; -1 skip */
  __shared__ float mrow[P_ROWS], lrow[P_ROWS];
  const int64_t split = blockIdx.x, bh = blockIdx.y, b = bh / p.Hk, hk = bh % p.Hk;
  const int64_t r0 = (int64_t)blockIdx.z * P_ROWS;
  const int nr = (int)(p.R - r0 < P_ROWS ? p.R - r0 : P_ROWS);
  const int tid = threadIdx.x;
  const int64_t S = seq_len(p, lens, b);
  const int64_t j0 = split * P_SPLIT, j1 = j0 + P_SPLIT < S ? j0 + P_SPLIT : S;
  const int nk = j1 > j0 ? (int)(j1 - j0) : 0;
  /* queries of this chunk's rows, scaled (row r: head hk*G + r / L, position r % L) */
  for (int x = tid; x < nr * p.E; x += P_THREADS) {
    int r = x / (int)p.E, e = x % (int)p.E;
    int64_t gr = r0 + r, hq = hk * p.G + gr / p.L, i = gr % p.L;
    qs[r][e] = ldf(q + b * p.qs[0] + hq * p.qs[1] + i * p.qs[2] + e * p.qs[3]) * p.scale;
  }
  for (int jj = tid; jj < nk; jj += P_THREADS) {
    int64_t j = j0 + jj;
    int64_t page = bt[b * p.bts[0] + (j / p.PS) * p.bts[1]];
    bool ok = page >= 0 && page < p.P;
    krow[jj] = ok ? page * p.ks[0] + hk * p.ks[1] + (j % p.PS) * p.ks[2] : -1;
    vrow[jj] = ok ? page * p.vs[0] + hk * p.vs[1] + (j % p.PS) * p.vs[2] : -1;
  }
  __syncthreads();
  /* scores: thread per key */
  for (int jj = tid; jj < nk; jj += P_THREADS) {
    float acc[P_ROWS];
#pragma unroll
    for (int r = 0; r < P_ROWS; r++) acc[r] = 0.f;
    int64_t base = krow[jj];
    if (base >= 0) {
      const T *kr = k + base;
      for (int e = 0; e < p.E; e++) {
        float kv = ldf(kr + e * p.ks[3]);
#pragma unroll
        for (int r = 0; r < P_ROWS; r++)
          if (r < nr) acc[r] = fmaf(qs[r][e], kv, acc[r]);
      }
    }
    int64_t j = j0 + jj;
    for (int r = 0; r < nr; r++) {
      float s = acc[r];
      if (p.softcap > 0) s = p.softcap * tanhf(s / p.softcap);
      int64_t i = (r0 + r) % p.L, ia = i + S - p.L; /* bottom-right aligned position */
      bool vis = base >= 0;
      if (p.causal && j > ia) vis = false;
      if (p.window > 0 && j <= ia - p.window) vis = false;
      sc[r][jj] = vis ? s : -INFINITY;
    }
  }
  __syncthreads();
  /* softmax of the split, per row: a warp per row */
  const int warp = tid / 32, lane = tid % 32;
  for (int r = warp; r < nr; r += P_THREADS / 32) {
    float m = -INFINITY;
    for (int jj = lane; jj < nk; jj += 32) m = fmaxf(m, sc[r][jj]);
    for (int o = 16; o; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.f;
    for (int jj = lane; jj < nk; jj += 32) {
      float e = m == -INFINITY ? 0.f : __expf(sc[r][jj] - m);
      sc[r][jj] = e;
      l += e;
    }
    for (int o = 16; o; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (lane == 0) mrow[r] = m, lrow[r] = l;
  }
  __syncthreads();
  /* P.V: thread per value column; partial rows to the workspace
   * [B*Hk][R][nsplit][Ev + 2] (output, then max and sum) */
  for (int64_t e = tid; e < p.Ev; e += P_THREADS) {
    float acc[P_ROWS];
#pragma unroll
    for (int r = 0; r < P_ROWS; r++) acc[r] = 0.f;
    for (int jj = 0; jj < nk; jj++) {
      int64_t base = vrow[jj];
      if (base < 0) continue;
      float vv = ldf(v + base + e * p.vs[3]);
#pragma unroll
      for (int r = 0; r < P_ROWS; r++)
        if (r < nr) acc[r] = fmaf(sc[r][jj], vv, acc[r]);
    }
    for (int r = 0; r < nr; r++)
      ws[((bh * p.R + r0 + r) * p.nsplit + split) * (p.Ev + 2) + e] = acc[r];
  }
  if (tid < nr) {
    float *w = ws + ((bh * p.R + r0 + tid) * p.nsplit + split) * (p.Ev + 2) + p.Ev;
    w[0] = mrow[tid];
    w[1] = lrow[tid];
  }
}

/* Merges the splits of one row: out = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s;
 * a row that saw no key is 0. */
template <typename T>
__global__ void paged_combine_kernel(pprob_t p, const float *ws, T *out) {
  const int64_t row = blockIdx.x, bh = row / p.R, r = row % p.R, b = bh / p.Hk, hk = bh % p.Hk;
  const int64_t hq = hk * p.G + r / p.L, i = r % p.L;
  const float *w = ws + row * p.nsplit * (p.Ev + 2);
  float M = -INFINITY;
  for (int64_t s = 0; s < p.nsplit; s++) M = fmaxf(M, w[s * (p.Ev + 2) + p.Ev]);
  float den = 0.f;
  for (int64_t s = 0; s < p.nsplit && M != -INFINITY; s++) {
    float m = w[s * (p.Ev + 2) + p.Ev];
    if (m != -INFINITY) den += __expf(m - M) * w[s * (p.Ev + 2) + p.Ev + 1];
  }
  for (int64_t e = threadIdx.x; e < p.Ev; e += blockDim.x) {
    float num = 0.f;
    for (int64_t s = 0; s < p.nsplit && M != -INFINITY; s++) {
      float m = w[s * (p.Ev + 2) + p.Ev];
      if (m != -INFINITY) num += __expf(m - M) * w[s * (p.Ev + 2) + e];
    }
    out[b * p.os[0] + hq * p.os[1] + i * p.os[2] + e * p.os[3]] = stf<T>(den > 0.f ? num / den : 0.f);
  }
}

static tirk_err_t paged_prep(const tirk_paged_args_t *a, pprob_t *p) {
  memset(p, 0, sizeof *p);
  const tirk_view_t *q = &a->q, *k = &a->k_cache, *v = &a->v_cache, *bt = &a->block_table,
                    *ln = &a->kv_lens, *o = &a->out;
  if (q->rank != 4 || k->rank != 4 || v->rank != 4 || o->rank != 4 || bt->rank != 2 || ln->rank != 1)
    return tirk_fail(TIRK_ERR_ARGS, "paged_sdpa: operand ranks");
  if (bt->dtype != TIRK_I32 || ln->dtype != TIRK_I32)
    return tirk_fail(TIRK_ERR_ARGS, "paged_sdpa: block_table and kv_lens must be i32");
  if (k->dtype != q->dtype || v->dtype != q->dtype || o->dtype != q->dtype)
    return tirk_fail(TIRK_ERR_ARGS, "paged_sdpa: q, caches and out must share one dtype");
  if (q->dtype != TIRK_F16 && q->dtype != TIRK_BF16 && q->dtype != TIRK_F32)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "paged_sdpa: f16, bf16 or f32 only");
  p->B = q->shape[0], p->Hq = q->shape[1], p->L = q->shape[2], p->E = q->shape[3];
  p->P = k->shape[0], p->Hk = k->shape[1], p->PS = k->shape[2], p->Ev = v->shape[3];
  p->NB = bt->shape[1];
  if (k->shape[3] != p->E || v->shape[0] != p->P || v->shape[1] != p->Hk || v->shape[2] != p->PS ||
      bt->shape[0] != p->B || ln->shape[0] != p->B || o->shape[0] != p->B || o->shape[1] != p->Hq ||
      o->shape[2] != p->L || o->shape[3] != p->Ev || p->Hk == 0 || p->Hq % p->Hk)
    return tirk_fail(TIRK_ERR_ARGS, "paged_sdpa: shapes do not fit");
  if (p->E > P_EMAX) return tirk_fail(TIRK_ERR_UNSUPPORTED, "paged_sdpa: head dim above %d", P_EMAX);
  p->G = p->Hq / p->Hk;
  p->R = p->G * p->L;
  int64_t max_s = p->NB * p->PS;
  p->nsplit = max_s > 0 ? (max_s + P_SPLIT - 1) / P_SPLIT : 1;
  for (int d = 0; d < 4; d++)
    p->qs[d] = q->strides[d], p->ks[d] = k->strides[d], p->vs[d] = v->strides[d], p->os[d] = o->strides[d];
  p->bts[0] = bt->strides[0], p->bts[1] = bt->strides[1], p->ls = ln->strides[0];
  p->scale = (float)a->scale;
  p->softcap = (float)a->softcap;
  p->causal = a->is_causal;
  p->window = a->window;
  return TIRK_OK;
}

extern "C" size_t tirk_sdpa_paged_workspace(const tirk_paged_args_t *a) {
  pprob_t p;
  if (paged_prep(a, &p) != TIRK_OK) return 0;
  return (size_t)(p.B * p.Hk * p.R * p.nsplit * (p.Ev + 2)) * sizeof(float);
}

template <typename T>
static void launch(const pprob_t &p, const tirk_paged_args_t *a, float *ws, cudaStream_t st) {
  dim3 grid((unsigned)p.nsplit, (unsigned)(p.B * p.Hk), (unsigned)((p.R + P_ROWS - 1) / P_ROWS));
  paged_split_kernel<T><<<grid, P_THREADS, 0, st>>>(
      p, (const T *)a->q.data, (const T *)a->k_cache.data, (const T *)a->v_cache.data,
      (const int32_t *)a->block_table.data, (const int32_t *)a->kv_lens.data, ws);
  paged_combine_kernel<T><<<(unsigned)(p.B * p.Hk * p.R), 128, 0, st>>>(p, ws, (T *)a->out.data);
}

extern "C" tirk_err_t tirk_sdpa_paged(const tirk_paged_args_t *a, void *workspace, int64_t *verdict,
                                      cudaStream_t stream) {
  if (!a || !verdict) return tirk_fail(TIRK_ERR_ARGS, "paged_sdpa: NULL arguments");
  pprob_t p;
  tirk_err_t e = paged_prep(a, &p);
  if (e) return e;
  paged_init_kernel<<<1, 1, 0, stream>>>((long long *)verdict);
  if (p.B > 0)
    paged_check_kernel<<<(unsigned)((p.B + 127) / 128), 128, 0, stream>>>(
        p, (const int32_t *)a->block_table.data, (const int32_t *)a->kv_lens.data,
        (long long *)verdict);
  if ((e = tirk_check_launch())) return e;
  if (p.B == 0 || p.R == 0 || p.Ev == 0) return TIRK_OK;
  if (p.nsplit > 65535 || p.B * p.Hk > 65535 || (p.R + P_ROWS - 1) / P_ROWS > 65535)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "paged_sdpa: grid too large");
  if (!workspace) return tirk_fail(TIRK_ERR_ARGS, "paged_sdpa: no workspace");
  float *ws = (float *)workspace;
  if (a->q.dtype == TIRK_F16) launch<__half>(p, a, ws, stream);
  else if (a->q.dtype == TIRK_BF16) launch<__nv_bfloat16>(p, a, ws, stream);
  else launch<float>(p, a, ws, stream);
  return tirk_check_launch();
}
