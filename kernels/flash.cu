/* flash.cu — the `flash` attention kernel of tirc (tirk_sdpa_flash):
 * chooses among
 *  - split-KV decoding, for few query rows per key/value head (L * Hq/Hk
 *    <= 8, as when decoding with a KV cache): the keys are split over
 *    enough CTAs to fill the GPU, each CTA streams its keys once with
 *    16-byte loads for all the query rows that share them (GQA packed),
 *    and a second kernel merges the splits' partial softmax states;
 *  - the Hopper wgmma/TMA kernel (flash_sm90.cu) on compute capability 9.0;
 *  - otherwise the mma.sync / ldmatrix / cp.async kernel that also serves
 *    mem_efficient (attention_mem_efficient.cu; the sm_80 path).
 * Every path takes a key mask (one that does not vary along the query
 * axis, such as a [B, 1, 1, S] padding mask) besides causal; the mask code
 * is a template branch (KM), so problems without a mask run the same code
 * as before.  Semantics are those of tirk_attention.h. */
#include "attention_internal.cuh"

/* ------------------------------------------------------------ split-KV decoding */

enum { DEC_THREADS = 128 };
/* Keys per group in flight: fewer for 8 query rows, whose state already
 * takes most registers. */
#define DEC_UNROLL (NQ >= 8 ? 2 : 4)

/* One CTA = (batch, kv head, query group of NQ rows, key split).  A group
 * of LPR lanes holds one key row (8 columns per lane, 16-byte loads); the
 * CTA's 128 / LPR groups take consecutive keys, so each warp-wide load is
 * one contiguous run of rows.  Each group keeps its own online-softmax
 * state per query row; the groups are merged through shared memory, then
 * written as the output (one split) or as partial results (ws_o: the
 * unnormalized sum, ws_ml: max (log2 domain) and sum) for merge_kernel.
 * KM: a key mask shared by all the query heads (HF's [B, 1, 1, S]; the
 * planner sends per-head masks elsewhere), loaded with the keys in flight
 * and added in the log2 domain (-inf: masked). */
template <typename T, int LPR, int NQ, bool KM>
__global__ void __launch_bounds__(DEC_THREADS) decode_kernel(const prob_t p, int nqg, int nsplit, int64_t jlo,
                                                              int64_t chunk, float *ws_o, float *ws_ml) {
  constexpr int NG = DEC_THREADS / LPR, DPAD = LPR * 8;
  __shared__ float sm_ml[NG][NQ][2];
  __shared__ float sm_o[NG][NQ][DPAD + 1];
  const int64_t bid = blockIdx.x;
  const int split = (int)(bid % nsplit);
  const int64_t r1 = bid / nsplit;
  const int qg = (int)(r1 % nqg);
  const int64_t bk = r1 / nqg, b = bk / p.Hk, hk = bk % p.Hk;
  const int g = threadIdx.x / LPR, lp = threadIdx.x % LPR, c0 = lp * 8;
  const int64_t L = p.L, S = p.S, rows = p.G * L;
  int64_t off[A_N];
  batch_offsets(p, b, off);
  const T *kg = (const T *)p.ptr[A_K] + off[A_K] + hk * p.hs[A_K];
  const T *vg = (const T *)p.ptr[A_V] + off[A_V] + hk * p.hs[A_V];

  /* The query rows: r = qg * NQ + u -> head hk * G + r / L, row r % L.
   * q is prescaled by scale * log2(e), or by scale alone with a softcap,
   * which is applied to the natural-domain score before the log2. */
  const bool cap = p.softcap > 0.f;
  const float qmul = cap ? p.scale : p.scale_log2;
  float q[NQ][8];
  int64_t qi[NQ], qh[NQ];
  bool qok[NQ];
#pragma unroll
  for (int u = 0; u < NQ; u++) {
    const int64_t r = (int64_t)qg * NQ + u;
    qok[u] = r < rows;
    qh[u] = hk * p.G + (qok[u] ? r / L : 0);
    qi[u] = qok[u] ? r % L : 0;
    const T *qp = (const T *)p.ptr[A_Q] + off[A_Q] + qh[u] * p.hs[A_Q] + qi[u] * p.rs[A_Q];
#pragma unroll
    for (int e = 0; e < 8; e++) q[u][e] = qok[u] && c0 + e < p.E ? (float)qp[c0 + e] * qmul : 0.f;
  }
  float m[NQ], l[NQ], acc[NQ][8];
#pragma unroll
  for (int u = 0; u < NQ; u++) {
    m[u] = -INFINITY;
    l[u] = 0.f;
#pragma unroll
    for (int e = 0; e < 8; e++) acc[u][e] = 0.f;
  }
  /* The splits cover keys [jlo, S): those before jlo are outside every row's window. */
  const int64_t jbeg = jlo + (int64_t)split * chunk, jend = jbeg + chunk < S ? jbeg + chunk : S;
  const bool colok = c0 < p.E; /* E is a multiple of 8: a lane's 8 columns are all in or all out */
  /* Each row's visible keys of this split as offsets from jbeg, [vlo, vhi]:
   * the window start, the causal limit, the split's end and rows past the
   * last (an empty range) folded into two 32-bit bounds, so that the inner
   * loop tests two ints per row (64-bit tests made the KM instances spill;
   * plan_decode keeps chunk < 2^30). */
  int vlo[NQ], vhi[NQ];
#pragma unroll
  for (int u = 0; u < NQ; u++) {
    int64_t lo = win_lo(p, qi[u]) - jbeg, hi = jend - 1 - jbeg;
    if (p.causal && qi[u] + p.causal_off - jbeg < hi) hi = qi[u] + p.causal_off - jbeg;
    if (!qok[u]) lo = 1, hi = 0;
    vlo[u] = lo < 0 ? 0 : lo > chunk ? (int)chunk : (int)lo;
    vhi[u] = hi < -1 ? -1 : (int)hi;
  }
  /* Dropout: the row-major index of (row u, key 0) in [..., Hq, L, S] is
   * drow0 + u * S, since row r of the group is (head hk * G + r / L, row
   * r % L); one register instead of the rows' (head, row) pairs. */
  const int64_t drow0 = ((b * p.Hq + hk * p.G) * L + (int64_t)qg * NQ) * S;
  for (int64_t jb = jbeg; jb < jend; jb += (int64_t)NG * DEC_UNROLL) {
    uint4 kr[DEC_UNROLL], vr[DEC_UNROLL];
    int64_t jj[DEC_UNROLL];
    float mk[KM ? DEC_UNROLL : 1]; /* KM: the keys' addends */
#pragma unroll
    for (int x = 0; x < DEC_UNROLL; x++) {
      jj[x] = jb + (int64_t)x * NG + g;
      const bool ok = jj[x] < jend && colok;
      kr[x] = ok ? __ldg((const uint4 *)(kg + jj[x] * p.rs[A_K] + c0)) : make_uint4(0, 0, 0, 0);
      vr[x] = ok ? __ldg((const uint4 *)(vg + jj[x] * p.rs[A_V] + c0)) : make_uint4(0, 0, 0, 0);
      if constexpr (KM) mk[x] = jj[x] < jend ? (float)mask_d(p, off[A_M], 0, 0, jj[x]) * LOG2E_F : 0.f;
    }
#pragma unroll
    for (int x = 0; x < DEC_UNROLL; x++) {
      float kf[8], vf[8];
      const T *kt = (const T *)&kr[x], *vt = (const T *)&vr[x];
#pragma unroll
      for (int e = 0; e < 8; e++) {
        kf[e] = (float)kt[e];
        vf[e] = (float)vt[e];
      }
#pragma unroll
      for (int u = 0; u < NQ; u++) {
        float sc = 0.f;
#pragma unroll
        for (int e = 0; e < 8; e++) sc = fmaf(q[u][e], kf[e], sc);
#pragma unroll
        for (int w = LPR / 2; w >= 1; w /= 2) sc += __shfl_xor_sync(0xffffffffu, sc, w);
        const int jr = (int)(jj[x] - jbeg);
        bool vis = jr >= vlo[u] && jr <= vhi[u];
        if (cap) sc = capped_fast(p, sc) * LOG2E_F; /* sc was scale * score */
        if constexpr (KM) { /* sc is scale * log2(e) * score: add the mask likewise */
          vis = vis && mk[x] != -INFINITY;
          sc += mk[x];
        }
        if (!vis) continue;
        const float mn = fmaxf(m[u], sc);
        const float al = exp2f(m[u] - mn), pr = exp2f(sc - mn);
        m[u] = mn;
        l[u] = l[u] * al + pr;
        float pv = pr;
        if (p.dropout)
          pv = keep_one(p, (uint64_t)(drow0 + u * S + jj[x])) ? pr * p.dscale : 0.f;
#pragma unroll
        for (int e = 0; e < 8; e++) acc[u][e] = fmaf(pv, vf[e], acc[u][e] * al);
      }
    }
  }
  /* Merge the groups. */
#pragma unroll
  for (int u = 0; u < NQ; u++) {
    if (lp == 0) {
      sm_ml[g][u][0] = m[u];
      sm_ml[g][u][1] = l[u];
    }
#pragma unroll
    for (int e = 0; e < 8; e++) sm_o[g][u][c0 + e] = acc[u][e];
  }
  __syncthreads();
  for (int x = threadIdx.x; x < NQ * DPAD; x += DEC_THREADS) {
    const int u = x / DPAD, c = x % DPAD;
    const int64_t r = (int64_t)qg * NQ + u;
    if (r >= rows || c >= p.Ev) continue;
    float M = -INFINITY;
    for (int gg = 0; gg < NG; gg++) M = fmaxf(M, sm_ml[gg][u][0]);
    const float Mu = M == -INFINITY ? 0.f : M;
    float ls = 0.f, os = 0.f;
    for (int gg = 0; gg < NG; gg++) {
      const float w = exp2f(sm_ml[gg][u][0] - Mu);
      ls += sm_ml[gg][u][1] * w;
      os += sm_o[gg][u][c] * w;
    }
    const int64_t h = hk * p.G + r / L, i = r % L, row = (b * p.Hq + h) * L + i;
    if (nsplit == 1) {
      T *og = (T *)p.ptr[A_O] + off[A_O] + h * p.hs[A_O] + i * p.rs[A_O];
      og[c * p.cs[A_O]] = from_f<T>(ls > 0.f ? os / ls : 0.f);
      if (c == 0 && p.lse) p.lse[row] = ls > 0.f ? (M + log2f(ls)) * LN2_F : -INFINITY;
    } else {
      const int64_t nrows = p.nbatch * p.Hq * L;
      ws_o[((int64_t)split * nrows + row) * p.Ev + c] = os;
      if (c == 0) {
        ws_ml[((int64_t)split * nrows + row) * 2] = M;
        ws_ml[((int64_t)split * nrows + row) * 2 + 1] = ls;
      }
    }
  }
}

/* One warp per output row: merges the splits' partial states. */
template <typename T>
__global__ void merge_kernel(const prob_t p, int nsplit, const float *ws_o, const float *ws_ml) {
  const int64_t nrows = p.nbatch * p.Hq * p.L;
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= nrows) return;
  float M = -INFINITY;
  for (int s = 0; s < nsplit; s++) M = fmaxf(M, ws_ml[((int64_t)s * nrows + row) * 2]);
  const float Mu = M == -INFINITY ? 0.f : M;
  float ls = 0.f;
  for (int s = 0; s < nsplit; s++)
    ls += ws_ml[((int64_t)s * nrows + row) * 2 + 1] * exp2f(ws_ml[((int64_t)s * nrows + row) * 2] - Mu);
  const float inv = ls > 0.f ? 1.f / ls : 0.f;
  const int64_t i = row % p.L, bh = row / p.L, h = bh % p.Hq, b = bh / p.Hq;
  int64_t off[A_N];
  batch_offsets(p, b, off);
  T *og = (T *)p.ptr[A_O] + off[A_O] + h * p.hs[A_O] + i * p.rs[A_O];
  for (int64_t c = lane; c < p.Ev; c += 32) {
    float os = 0.f;
    for (int s = 0; s < nsplit; s++)
      os += ws_o[((int64_t)s * nrows + row) * p.Ev + c] * exp2f(ws_ml[((int64_t)s * nrows + row) * 2] - Mu);
    og[c * p.cs[A_O]] = from_f<T>(os * inv);
  }
  if (lane == 0 && p.lse) p.lse[row] = ls > 0.f ? (M + log2f(ls)) * LN2_F : -INFINITY;
}

/* ------------------------------------------------------------ dispatch */

static int g_path = 0; /* tirk_sdpa_flash_set_path */
extern "C" void tirk_sdpa_flash_set_path(int path) { g_path = path; }

typedef struct {
  int ok, lpr, nq, nqg, nsplit;
  int64_t jlo, chunk; /* the splits cover keys [jlo, S) in chunks */
  size_t ws_bytes;
} dec_plan_t;

static int sm_count(void) {
  int dev = 0, n = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 0;
  return n;
}

/* Whether (and how) the split-KV kernel takes this problem. */
static dec_plan_t plan_decode(const prob_t &p, bool forced) {
  dec_plan_t d;
  memset(&d, 0, sizeof d);
  const int64_t rows = p.G * p.L;
  if (p.E != p.Ev || p.E % 8 || p.E > 256 || p.E == 0 || !p.fast || p.cs[A_O] == 0) return d;
  /* A key mask must be shared by the heads (decode_kernel reads one value per key). */
  if (p.mask_kind != MK_NONE && (p.hs[A_M] != 0 || p.rs[A_M] != 0)) return d;
  if (!forced && (rows > 8 || p.S < 256)) return d;
  if (rows > 64) return d;
  d.lpr = p.E <= 32 ? 4 : p.E <= 64 ? 8 : p.E <= 128 ? 16 : 32;
  d.nq = rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8;
  d.nqg = (int)((rows + d.nq - 1) / d.nq);
  const int64_t base = p.nbatch * p.Hk * d.nqg;
  const int sms = sm_count();
  const int64_t per = (int64_t)(DEC_THREADS / d.lpr) * 4; /* a multiple of keys per CTA step */
  /* A window hides the keys before the first row's window from every row
   * (row 0 has the earliest start): only [jlo, S) is split and streamed,
   * so a sliding-window decode reads about W keys, not S. */
  d.jlo = win_lo(p, 0) < p.S ? win_lo(p, 0) : p.S;
  const int64_t span = p.S - d.jlo;
  int64_t want = sms > 0 ? (4 * (int64_t)sms + base - 1) / base : 1;
  int64_t maxs = (span + 255) / 256;
  if (want > maxs) want = maxs;
  if (want < 1) want = 1;
  if (want > 1024) want = 1024;
  int64_t chunk = (span + want - 1) / want;
  chunk = (chunk + per - 1) / per * per;
  if (chunk < per) chunk = per; /* span = 0 (no keys): one split that sees none */
  d.nsplit = (int)((span + chunk - 1) / chunk);
  if (d.nsplit < 1) d.nsplit = 1;
  d.chunk = chunk;
  if (base * d.nsplit > 0x7fffffff || chunk >= (1 << 30)) return d; /* decode_kernel's 32-bit key offsets */
  if (d.nsplit > 1) {
    const int64_t nrows = p.nbatch * p.Hq * p.L;
    d.ws_bytes = (size_t)d.nsplit * (size_t)nrows * (size_t)(p.Ev + 2) * sizeof(float) + 256;
  }
  d.ok = 1;
  return d;
}

template <typename T, int LPR, int NQ, bool KM>
static tirk_err_t launch_decode(const prob_t &p, const dec_plan_t &d, void *ws, cudaStream_t st) {
  float *wo = NULL, *wml = NULL;
  if (d.nsplit > 1) {
    const int64_t nrows = p.nbatch * p.Hq * p.L;
    wo = (float *)ws;
    wml = wo + (size_t)d.nsplit * nrows * p.Ev;
  }
  const int64_t nb = p.nbatch * p.Hk * d.nqg * d.nsplit;
  decode_kernel<T, LPR, NQ, KM><<<(unsigned)nb, DEC_THREADS, 0, st>>>(p, d.nqg, d.nsplit, d.jlo, d.chunk, wo, wml);
  tirk_err_t e = tirk_check_launch();
  if (e != TIRK_OK || d.nsplit == 1) return e;
  const int64_t nrows = p.nbatch * p.Hq * p.L;
  const int64_t blocks = (nrows + 7) / 8;
  if (blocks > 0x7fffffff) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash: too many rows");
  merge_kernel<T><<<(unsigned)blocks, 256, 0, st>>>(p, d.nsplit, wo, wml);
  return tirk_check_launch();
}

template <typename T, int LPR, bool KM>
static tirk_err_t decode_nq(const prob_t &p, const dec_plan_t &d, void *ws, cudaStream_t st) {
  switch (d.nq) {
    case 1: return launch_decode<T, LPR, 1, KM>(p, d, ws, st);
    case 2: return launch_decode<T, LPR, 2, KM>(p, d, ws, st);
    case 4: return launch_decode<T, LPR, 4, KM>(p, d, ws, st);
    default: return launch_decode<T, LPR, 8, KM>(p, d, ws, st);
  }
}
template <typename T, bool KM>
static tirk_err_t decode_km(const prob_t &p, const dec_plan_t &d, void *ws, cudaStream_t st) {
  switch (d.lpr) {
    case 4: return decode_nq<T, 4, KM>(p, d, ws, st);
    case 8: return decode_nq<T, 8, KM>(p, d, ws, st);
    case 16: return decode_nq<T, 16, KM>(p, d, ws, st);
    default: return decode_nq<T, 32, KM>(p, d, ws, st);
  }
}
template <typename T>
static tirk_err_t decode(const prob_t &p, const dec_plan_t &d, void *ws, cudaStream_t st) {
  return p.mask_kind != MK_NONE ? decode_km<T, true>(p, d, ws, st) : decode_km<T, false>(p, d, ws, st);
}

static bool is_hopper(void) {
  int dev = 0, ma = 0, mi = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&ma, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&mi, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
    return false;
  return ma == 9 && mi == 0; /* sm_90a code runs on 9.0 only */
}

static tirk_err_t flash_prep(const tirk_sdpa_args_t *a, prob_t *p, int *empty) {
  tirk_err_t e = tirk_sdpa_prep(a, p, empty);
  if (e != TIRK_OK) return e;
  p->dtype = a->q.dtype;
  if (p->dtype != TIRK_F16 && p->dtype != TIRK_BF16)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash: needs f16 or bf16");
  /* A key mask only: prep gives the mask a row stride of 0 when its query
   * axis is 1 or absent (or broadcast with stride 0). */
  if (p->mask_kind != MK_NONE && p->rs[A_M] != 0)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash: takes only causal and key masks "
                     "(this mask varies along the query axis)");
  if (p->E > 256 || p->Ev > 256) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash: head dims > 256");
  return TIRK_OK;
}

extern "C" size_t tirk_sdpa_flash_workspace(const tirk_sdpa_args_t *a) {
  prob_t p;
  int empty;
  if (flash_prep(a, &p, &empty) != TIRK_OK || empty) return 0;
  if (g_path != 0 && g_path != 2) return 0;
  dec_plan_t d = plan_decode(p, g_path == 2);
  return d.ok ? d.ws_bytes : 0;
}

extern "C" tirk_err_t tirk_sdpa_flash(const tirk_sdpa_args_t *a, void *workspace, cudaStream_t stream) {
  prob_t p;
  int empty;
  tirk_err_t e = flash_prep(a, &p, &empty);
  if (e != TIRK_OK) return e;
  if (empty) return tirk_sdpa_finish_empty(p, empty, stream);
  if (g_path == 0 || g_path == 2) {
    dec_plan_t d = plan_decode(p, g_path == 2);
    if (d.ok && (d.nsplit == 1 || workspace)) {
      void *ws = (void *)(((uintptr_t)workspace + 255) & ~(uintptr_t)255);
      return p.dtype == TIRK_F16 ? decode<__half>(p, d, ws, stream) : decode<__nv_bfloat16>(p, d, ws, stream);
    }
    if (g_path == 2) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash: split-KV path refused");
  }
  if (g_path == 0 || g_path == 1) {
    if (is_hopper()) { /* checked per call: the caller may switch devices */
      e = tirk_flash_sm90(p, stream);
      if (e != TIRK_ERR_UNSUPPORTED || g_path == 1) return e;
    } else if (g_path == 1) {
      return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash: the sm90 path needs a 9.0 device");
    }
  }
  /* The mma.sync kernel (the sm_80 path). */
  return tirk_sdpa_mem_efficient(a, stream);
}
