/* flash_sm90.cu — the Hopper flash attention forward kernel (sm_90a only).
 *
 * One CTA = 3 warpgroups for 128 query rows of one (batch, head):
 *  - warpgroup 0 is the producer: one thread issues TMA bulk tensor copies
 *    (Q once; K and V tiles of BN keys into 2-stage rings) that complete
 *    on mbarriers; the warpgroup gives its registers away (setmaxnreg).
 *  - warpgroups 1 and 2 are consumers, 64 rows each: S = Q K^T by wgmma
 *    with both operands in shared memory, the online softmax on the
 *    accumulators in registers, then O += P V by wgmma with P taken from
 *    registers (the accumulator layout is wgmma's A-register layout) and
 *    V read transposed from shared memory.  The next tile's Q K^T is issued
 *    before this tile's P V so that the softmax overlaps the tensor cores.
 * Tiles live in shared memory in TMA's 128-byte swizzled layout, in
 * 64-column chunks (a 128-byte row per chunk), which is what the wgmma
 * descriptors below describe.  Head dims are padded to DP (64, 128, 192,
 * 256) by the copy engine's zero fill, as are rows past L and keys past S
 * (those keys are then masked).  Semantics are tirk_sdpa_mem_efficient's:
 * causal both alignments, GQA, dropout with the same Philox mask, lse, and
 * key masks (a mask that does not vary along the query axis, as HF's
 * [B, 1, 1, S] padding masks): each consumer warp copies the tile's BN mask
 * values into its own shared-memory buffer while the tile's Q K^T runs, and
 * the softmax adds them to the scores (-inf where masked).  A sliding
 * window (every instance): the key tiles wholly before the window of the
 * CTA's first row are neither loaded nor computed, and the tiles at the
 * window's edge mask their keys like the causal edge.  Key masks (KM) and
 * the softcap (SC: a branch-free tanh on every score, capped_fast) are
 * template variants (KM, SC, both) with 2 consumer warpgroups, so problems
 * without them run the code and register allocation they had.
 *
 * This file is compiled for sm_90a only (kernels/CMakeLists.txt); the host
 * code launches it only on compute capability 9.0 devices. */
#include <cuda.h> /* CUtensorMap and its enums; the driver entry point is looked up at run time */

#include "attention_internal.cuh"
#include "wgmma_ops.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define TIRK_HOPPER 1
#endif

/* ------------------------------------------------------------ device helpers */

static __device__ __forceinline__ uint32_t smem_u32(const void *p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}
static __device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
static __device__ __forceinline__ void mbar_expect(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
static __device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* Waits until the phase of parity `parity` has completed. */
static __device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile(
        "{\n.reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}
/* A 64-column x rows box of a 4-D tensor map into shared memory. */
static __device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap *map, uint32_t bar, int c0,
                                                int c1, int c2, int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], "
      "[%2];\n" ::"r"(dst),
      "l"((uint64_t)map), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
}
static __device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
static __device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> static __device__ __forceinline__ void wg_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Keeps the compiler from moving accesses of wgmma registers across the
 * asynchronous region (their values change behind its back). */
template <int N> static __device__ __forceinline__ void reg_fence(float *r) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N> static __device__ __forceinline__ void reg_fence_u(uint32_t *r) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+r"(r[i])::"memory");
}

/* 2^x in one MUFU instruction (flushes denormal results to 0, which the
 * f32 row sums and the 16-bit probabilities cannot hold anyway). */
static __device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/* A wgmma shared-memory descriptor for a 128-byte swizzled layout:
 * start address, leading and stride byte offsets (bits 0, 16, 32; all in
 * 16-byte units), swizzle mode 1 (128 B) in bits 62-63.
 *  - K-major tiles (Q, K: a row of 64 elements = 128 B per chunk): the
 *    stride offset is the 1024 B between 8-row groups; the leading offset
 *    is unused.  Moving 16 elements along K adds 32 B to the start.
 *  - MN-major tiles (V read as B = V[keys][d] with d contiguous): the
 *    leading offset is the distance between 64-column chunks, the stride
 *    offset the 1024 B between groups of 8 keys. */
static __device__ __forceinline__ uint64_t gdesc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo >> 4) & 0x3FFF) << 16) |
         ((uint64_t)((sbo >> 4) & 0x3FFF) << 32) | (1ull << 62);
}

/* ------------------------------------------------------------ the kernel */

/* NCW consumer warpgroups of 64 rows each (BM = 64 * NCW query rows per
 * CTA); PP: ping-pong — the consumers take turns issuing their GEMMs
 * (named barriers 1..NCW), so that one warpgroup's softmax runs while
 * another's GEMMs occupy the tensor cores. */
template <int DP, int BN, int NCW> struct sm90_cfg {
  static constexpr int BM = 64 * NCW, NTHREADS = 128 * (NCW + 1);
  static constexpr uint32_t QB = BM * DP * 2, KB = BN * DP * 2;
  static constexpr size_t SMEM = QB + 4 * (size_t)KB + 1024; /* + alignment slack */
};

static __device__ __forceinline__ void named_sync(int id, int n) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}
static __device__ __forceinline__ void named_arrive(int id, int n) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory");
}

template <typename T, int DP, int BN, int NCW, bool PP, bool KM, bool SC>
__global__ void __launch_bounds__(128 * (NCW + 1), 1)
    flash_sm90_kernel(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
                      const __grid_constant__ CUtensorMap tv, const prob_t p, int ntiles) {
#ifdef TIRK_HOPPER
  using C = sm90_cfg<DP, BN, NCW>;
  constexpr int BM = C::BM;
  constexpr int NCH = DP / 64;
  extern __shared__ unsigned char smem_raw[];
  __shared__ __align__(8) uint64_t bars[9];
  /* KM: per consumer warp, the additive key mask of two key tiles (double
   * buffered: a warp refills one while no lane can still read it). */
  __shared__ __align__(16) float kmask[KM ? NCW * 4 * 2 * BN : 1];
  const uint32_t base = (smem_u32(smem_raw) + 1023u) & ~1023u;
  const uint32_t qs = base, ks0 = base + C::QB, vs0 = ks0 + 2 * C::KB;
  const uint32_t qbar = smem_u32(&bars[0]);
  auto kfull = [&](int s) { return smem_u32(&bars[1 + s]); };
  auto kempty = [&](int s) { return smem_u32(&bars[3 + s]); };
  auto vfull = [&](int s) { return smem_u32(&bars[5 + s]); };
  auto vempty = [&](int s) { return smem_u32(&bars[7 + s]); };

  const int64_t bid = blockIdx.x;
  const int tile = ntiles - 1 - (int)(bid % ntiles); /* late (heavy, causal) tiles first */
  const int64_t bh = bid / ntiles, b = bh / p.Hq, h = bh % p.Hq, hk = h / p.G;
  const int64_t i0 = (int64_t)tile * BM, L = p.L, S = p.S;
  int64_t send = S;
  if (p.causal) {
    int64_t last = (i0 + BM < L ? i0 + BM : L) - 1 + p.causal_off;
    send = last < 0 ? 0 : last + 1 < S ? last + 1 : S;
  }
  /* The CTA streams key tiles kb0 .. kb0 + nkb - 1: the ones past the causal
   * limit of its last row and wholly before the window of its first row are
   * invisible to all its rows.  Loop indices below count from kb0 (ring
   * stages and barrier phases); key positions add kb0 back. */
  const int kend = (int)((send + BN - 1) / BN);
  const int kb0 = win_lo(p, i0) / BN < kend ? (int)(win_lo(p, i0) / BN) : kend;
  const int nkb = kend - kb0;
  /* Batch coordinates of the 4-D maps: one merged batch dim (host checks). */
  const int qb = (int)b, kvb = (int)b;

  if (threadIdx.x == 0) {
    mbar_init(qbar, 1);
    for (int s = 0; s < 2; s++) {
      mbar_init(kfull(s), 1);
      mbar_init(vfull(s), 1);
      mbar_init(kempty(s), 4 * NCW); /* one arrival per consumer warp */
      mbar_init(vempty(s), 4 * NCW);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    if constexpr (NCW == 2) asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n");
    else asm volatile("setmaxnreg.dec.sync.aligned.u32 32;\n");
    if (threadIdx.x == 0) {
      mbar_expect(qbar, C::QB);
      for (int c = 0; c < NCH; c++)
        for (int r = 0; r < NCW; r++)
          tma_load(qs + c * BM * 128 + r * 64 * 128, &tq, qbar, c * 64, (int)(i0 + r * 64), (int)h, qb);
      for (int kb = 0; kb < nkb; kb++) {
        const int st = kb & 1;
        const uint32_t ph = ((kb >> 1) & 1) ^ 1;
        mbar_wait(kempty(st), ph);
        mbar_expect(kfull(st), C::KB);
        for (int c = 0; c < NCH; c++)
          for (int r = 0; r < BN / 64; r++)
            tma_load(ks0 + st * C::KB + c * BN * 128 + r * 64 * 128, &tk, kfull(st), c * 64,
                     (kb0 + kb) * BN + r * 64, (int)hk, kvb);
        mbar_wait(vempty(st), ph);
        mbar_expect(vfull(st), C::KB);
        for (int c = 0; c < NCH; c++)
          for (int r = 0; r < BN / 64; r++)
            tma_load(vs0 + st * C::KB + c * BN * 128 + r * 64 * 128, &tv, vfull(st), c * 64,
                     (kb0 + kb) * BN + r * 64, (int)hk, kvb);
      }
    }
    return;
  }
  /* 65536 registers: the producer's 128 threads keep 24 (32), the rest is the consumers'. */
  if constexpr (NCW == 2) asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n");
  else asm volatile("setmaxnreg.inc.sync.aligned.u32 160;\n");

  /* ---- consumers */
  const int cw = wg - 1, t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
  const int64_t wrow0 = i0 + cw * 64 + warp * 16; /* this warp's 16 rows */
  const int64_t ii[2] = {wrow0 + lane / 4, wrow0 + lane / 4 + 8};
  float o[DP / 2], s[BN / 2];
  uint32_t pa[BN / 16][4];
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}; /* m: running max of the raw scores */
#pragma unroll
  for (int i = 0; i < DP / 2; i++) o[i] = 0.f;
  const uint32_t qa = qs + cw * 64 * 128;
  /* KM: this warp's mask buffers and the mask's offset for (b, h); a key
   * mask has row stride 0, so one row of it serves every query row.  The
   * host launches the SC instances only with a softcap: a compile-time
   * fact (fewer live registers); the mask test stays a run-time one, with
   * which ptxas happened to allocate the KM instances without spills. */
  const bool km = KM && p.mask_kind != MK_NONE;
  constexpr bool cap = SC;
  float *const kmw = kmask + (cw * 4 + warp) * 2 * BN;
  int64_t moff = 0;
  if (km) {
    int64_t mo[A_N];
    batch_offsets(p, b, mo);
    moff = mo[A_M] + h * p.hs[A_M];
  }
  /* Copies the mask values of tile kb (counted from kb0) (0 or -inf for a
   * bool mask, the value or -inf for a float one; -inf past S) into the
   * warp's buffer kb & 1.
   * Called right after the tile's Q K^T is issued, so the loads overlap
   * the tensor cores.  The previous reader of the buffer was softmax(kb -
   * 2), which every lane finished before the __syncwarp of tile kb - 1. */
  auto mask_fill = [&](int kb) {
    if (km) {
      float *dst = kmw + (kb & 1) * BN;
#pragma unroll
      for (int x = 0; x < BN / 32; x++) {
        const int64_t j = (int64_t)(kb0 + kb) * BN + x * 32 + lane;
        dst[x * 32 + lane] = j < S ? (float)mask_d(p, moff, 0, 0, j) : -INFINITY;
      }
      __syncwarp();
    }
  };

  auto issue_qk = [&](int kb) {
    const uint32_t ka = ks0 + (kb & 1) * C::KB;
    reg_fence<BN / 2>(s);
    wg_fence();
#pragma unroll
    for (int kc = 0; kc < DP / 16; kc++) {
      const uint64_t da = gdesc(qa + (kc / 4) * BM * 128 + (kc % 4) * 32, 16, 1024);
      const uint64_t db = gdesc(ka + (kc / 4) * BN * 128 + (kc % 4) * 32, 16, 1024);
      wgmma_op<T, BN>::ss(s, da, db, kc > 0);
    }
    wg_commit();
  };
  auto issue_pv = [&](int kb) {
    const uint32_t va = vs0 + (kb & 1) * C::KB;
    reg_fence<DP / 2>(o);
    reg_fence_u<BN / 4>(&pa[0][0]);
    wg_fence();
#pragma unroll
    for (int kc = 0; kc < BN / 16; kc++) wgmma_op<T, DP>::rs(o, pa[kc], gdesc(va + kc * 2048, BN * 128, 1024));
    wg_commit();
  };
  /* The factor that takes the scores kept in s (and m) to the log2 domain:
   * scale * log2(e) on raw scores; 1 once a float mask took them to the
   * log2 domain (or when scale <= 0, applied up front); log2(e) on the
   * soft-capped natural-domain scores. */
  auto dom_mul = [&]() {
    if (cap) return LOG2E_F;
    return !(km && p.mask_kind == MK_FLOAT) && p.scale_log2 > 0.f ? p.scale_log2 : 1.f;
  };
  /* Scale, mask and exponentiate the tile in s (log2 domain); returns the
   * factors that rescale the earlier accumulators.  kb counts from kb0. */
  auto softmax = [&](int kb, float al[2]) {
    const int64_t j0 = (int64_t)(kb0 + kb) * BN;
    /* Softcap first (the scores past S are the TMA's zero fill, finite, and
     * masked next): s becomes softcap * tanh(s * scale / softcap), the
     * natural domain. */
    if (cap) {
#pragma unroll
      for (int i = 0; i < BN / 2; i++) s[i] = capped_fast(p, s[i] * p.scale);
    }
    const bool need = j0 + BN > S || (p.causal && j0 + BN - 1 > wrow0 + p.causal_off) ||
                      j0 < win_lo(p, wrow0 + 15);
    if (need) { /* -inf outside the keys, the causal limit and the window, in 32-bit column offsets */
      const int64_t sl = S - j0;
      const int smax = sl < BN ? (int)sl : BN;
      int lim[2], lo[2];
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int64_t c = p.causal ? ii[r] + p.causal_off - j0 : (int64_t)BN;
        lim[r] = c < -1 ? -1 : c > BN ? BN : (int)c;
        const int64_t w = win_lo(p, ii[r]) - j0; /* columns < w are before the window */
        lo[r] = w < 0 ? 0 : w > BN ? BN : (int)w;
      }
#pragma unroll
      for (int n = 0; n < BN / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int col = n * 8 + (lane % 4) * 2 + (e & 1);
          if (col >= smax || col > lim[e >> 1] || col < lo[e >> 1]) s[4 * n + e] = -INFINITY;
        }
    }
    /* The key mask: a bool mask adds 0 or -inf to the scores in any
     * domain; a float mask is added to soft-capped scores as it is, and
     * otherwise takes the raw scores to the log2 domain as mem_efficient
     * does, (s * scale + mask) * log2(e) (dom_mul becomes 1).  Scores
     * already -inf (outside the window, say) stay so whatever the mask
     * holds there, +inf included. */
    const bool logd = km && p.mask_kind == MK_FLOAT && !cap;
    if constexpr (KM) {
      if (km) {
        const float *mb = kmw + (kb & 1) * BN + (lane % 4) * 2;
        if (p.mask_kind == MK_BOOL) {
#pragma unroll
          for (int n = 0; n < BN / 8; n++) {
            const float2 a = *(const float2 *)(mb + n * 8);
            s[4 * n] += a.x;
            s[4 * n + 1] += a.y;
            s[4 * n + 2] += a.x;
            s[4 * n + 3] += a.y;
          }
        } else {
#pragma unroll
          for (int n = 0; n < BN / 8; n++) {
            const float2 a = *(const float2 *)(mb + n * 8);
#pragma unroll
            for (int e = 0; e < 4; e++) {
              const float x = s[4 * n + e], mv = e & 1 ? a.y : a.x;
              s[4 * n + e] = x == -INFINITY ? x : cap ? x + mv : (x * p.scale + mv) * LOG2E_F;
            }
          }
        }
      }
    }
    /* Row maxima of the raw scores; the scale (> 0, else the scaled
     * values) goes into one FMA per element with the exponent.  m is the
     * running maximum of the raw scores; hi + lo = m * scale * log2(e)
     * exactly (lo: the product's rounding error, up to half an ulp of hi).
     * The exponent must be exactly 0 for the maximal key: fma(s, mul, -hi)
     * alone gives lo there, which is harmless while lo is tiny but not for
     * large scores (|hi| ~ 1e4: lo up to 1e-3, so p_max = 1 +- 7e-4, whose
     * 16-bit rounding in P V disagrees with l: one-hot rows came out one
     * f16 ulp off, issue 14).  So when some row of the warp has
     * |lo| > 2^-18 the tile takes fma(s, mul, -hi) - lo (one more FADD per
     * element); otherwise (always when every |hi| < 128, i.e. for usual
     * scores) the single FMA as before, whose error is then a factor
     * 2^lo <= 1 + 2e-6 on the row. */
    const float sc = p.scale_log2;
    if (!logd && !cap && !(sc > 0.f)) {
#pragma unroll
      for (int i = 0; i < BN / 2; i++) s[i] = s[i] == -INFINITY ? s[i] : s[i] * sc;
    }
    const float mul = dom_mul();
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < BN / 8; n++) {
      mx[0] = fmaxf(mx[0], fmaxf(s[4 * n], s[4 * n + 1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[4 * n + 2], s[4 * n + 3]));
    }
    float hi[2], lo[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float mn = fmaxf(m[r], mx[r]); /* raw */
      /* no visible key yet: hi = lo = 0, exp2(-inf) = 0, never (-inf) - (-inf) */
      hi[r] = mn == -INFINITY ? 0.f : mn * mul;
      lo[r] = mn == -INFINITY ? 0.f : fmaf(mn, mul, -hi[r]);
      al[r] = fast_exp2(fmaf(m[r], mul, -hi[r]) - lo[r]); /* exactly 1 when the max did not move */
      m[r] = mn;
    }
    float sum[2] = {0.f, 0.f};
    if (__any_sync(0xffffffffu, fabsf(lo[0]) > 0x1p-18f || fabsf(lo[1]) > 0x1p-18f)) {
#pragma unroll
      for (int n = 0; n < BN / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          s[4 * n + e] = fast_exp2(fmaf(s[4 * n + e], mul, -hi[e >> 1]) - lo[e >> 1]);
          sum[e >> 1] += s[4 * n + e];
        }
    } else {
#pragma unroll
      for (int n = 0; n < BN / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
          s[4 * n + e] = fast_exp2(fmaf(s[4 * n + e], mul, -hi[e >> 1]));
          sum[e >> 1] += s[4 * n + e];
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) l[r] = l[r] * al[r] + sum[r];
    if (p.dropout) { /* l keeps the undropped sum, as the CPU kernel */
#pragma unroll
      for (int n = 0; n < BN / 8; n++) {
        const int64_t j = j0 + n * 8 + (lane % 4) * 2;
#pragma unroll
        for (int r = 0; r < 2; r++) {
          if (ii[r] < L && j < S) {
            bool k0, k1;
            keep_two(p, (uint64_t)(((b * p.Hq + h) * L + ii[r]) * S + j), &k0, &k1);
            s[4 * n + 2 * r] = k0 ? s[4 * n + 2 * r] * p.dscale : 0.f;
            s[4 * n + 2 * r + 1] = k1 ? s[4 * n + 2 * r + 1] * p.dscale : 0.f;
          }
        }
      }
    }
  };
  auto to_pa = [&]() {
#pragma unroll
    for (int kc = 0; kc < BN / 16; kc++) {
      pa[kc][0] = pack2<T>(s[8 * kc + 0], s[8 * kc + 1]);
      pa[kc][1] = pack2<T>(s[8 * kc + 2], s[8 * kc + 3]);
      pa[kc][2] = pack2<T>(s[8 * kc + 4], s[8 * kc + 5]);
      pa[kc][3] = pack2<T>(s[8 * kc + 6], s[8 * kc + 7]);
    }
  };
  auto rescale = [&](const float al[2]) {
#pragma unroll
    for (int n = 0; n < DP / 8; n++) {
      o[4 * n] *= al[0];
      o[4 * n + 1] *= al[0];
      o[4 * n + 2] *= al[1];
      o[4 * n + 3] *= al[1];
    }
  };

  /* Ping-pong turns: warpgroup cw waits on barrier 1 + cw before issuing
   * and then hands the turn to the next one.  The last warpgroup gives the
   * first turn and skips its final hand-over, so that every barrier sees
   * as many arrivals as waits. */
  auto turn_wait = [&]() {
    if constexpr (PP) named_sync(1 + cw, 256);
  };
  auto turn_pass = [&](int kb) {
    if constexpr (PP) {
      if (!(cw == NCW - 1 && kb == nkb - 1)) named_arrive(1 + (cw + 1) % NCW, 256);
    }
  };
  mbar_wait(qbar, 0);
  if (nkb > 0) {
    float al[2];
    if constexpr (PP) {
      if (cw == NCW - 1) named_arrive(1, 256);
    }
    mbar_wait(kfull(0), 0);
    turn_wait();
    issue_qk(0);
    turn_pass(0);
    mask_fill(0);
    wg_wait<0>();
    reg_fence<BN / 2>(s);
    if (lane == 0) mbar_arrive(kempty(0));
    softmax(0, al);
    to_pa();
    for (int kb = 1; kb < nkb; kb++) {
      mbar_wait(kfull(kb & 1), (kb >> 1) & 1);
      mbar_wait(vfull((kb - 1) & 1), ((kb - 1) >> 1) & 1);
      turn_wait();
      issue_qk(kb);
      issue_pv(kb - 1);
      turn_pass(kb);
      mask_fill(kb);
      wg_wait<1>(); /* S of tile kb is ready; P V of tile kb - 1 may still run */
      reg_fence<BN / 2>(s);
      if (lane == 0) mbar_arrive(kempty(kb & 1));
      softmax(kb, al);
      wg_wait<0>();
      reg_fence<DP / 2>(o);
      if (lane == 0) mbar_arrive(vempty((kb - 1) & 1));
      rescale(al);
      to_pa();
    }
    mbar_wait(vfull((nkb - 1) & 1), ((nkb - 1) >> 1) & 1);
    issue_pv(nkb - 1);
    wg_wait<0>();
    reg_fence<DP / 2>(o);
    if (lane == 0) mbar_arrive(vempty((nkb - 1) & 1));
  }

  /* out = O / l; rows that saw no key give 0 and lse = -inf (m is the
   * maximum in the domain of s: mul as in softmax). */
  const float mul = dom_mul();
  int64_t off[A_N];
  batch_offsets(p, b, off);
  T *og = (T *)p.ptr[A_O] + off[A_O] + h * p.hs[A_O];
  const int64_t ocs = p.cs[A_O];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    float lr = l[r];
    lr += __shfl_xor_sync(0xffffffffu, lr, 1);
    lr += __shfl_xor_sync(0xffffffffu, lr, 2);
    const int64_t i = ii[r];
    const float inv = lr > 0.f ? 1.f / lr : 0.f;
    if (i < L) {
      T *orow = og + i * p.rs[A_O];
#pragma unroll
      for (int n = 0; n < DP / 8; n++) {
        const int64_t e = n * 8 + (lane % 4) * 2;
        if (e >= p.Ev) break;
        if (ocs == 1 && e + 1 < p.Ev && (((uintptr_t)(orow + e)) & 3) == 0) {
          const uint32_t v2 = pack2<T>(o[4 * n + 2 * r] * inv, o[4 * n + 2 * r + 1] * inv);
          *(uint32_t *)(orow + e) = v2;
        } else {
          orow[e * ocs] = from_f<T>(o[4 * n + 2 * r] * inv);
          if (e + 1 < p.Ev) orow[(e + 1) * ocs] = from_f<T>(o[4 * n + 2 * r + 1] * inv);
        }
      }
      if (p.lse && lane % 4 == 0)
        p.lse[(b * p.Hq + h) * L + i] = lr > 0.f ? fmaf(m[r], mul, log2f(lr)) * LN2_F : -INFINITY;
    }
  }
#else
  (void)tq, (void)tk, (void)tv, (void)p, (void)ntiles;
#endif
}

/* ------------------------------------------------------------ host side */

typedef CUresult (*encode_fn_t)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                                const cuuint64_t *, const cuuint32_t *, const cuuint32_t *, CUtensorMapInterleave,
                                CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

/* cuTensorMapEncodeTiled through the runtime's driver entry point, so the
 * binaries keep starting (and the CPU path keeps working) without a driver. */
static encode_fn_t encode_fn(void) {
  static encode_fn_t fn = [] {
    void *f = NULL;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) !=
            cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      f = NULL;
    return (encode_fn_t)f;
  }();
  return fn;
}

/* One batch stride for tensor t over all batch dims, or -1 when they do
 * not merge into one (a broadcast or non-nested layout). */
static int64_t merged_batch_stride(const prob_t &p, int t) {
  int64_t st = -1, expect = -1;
  for (int d = p.nbd - 1; d >= 0; d--) {
    if (p.bshape[d] == 1) continue;
    const int64_t s = p.bstride[t][d];
    if (s == 0) return -1;
    if (expect >= 0 && s != expect) return -1;
    if (st < 0) st = s;
    expect = s * p.bshape[d];
  }
  return st < 0 ? 0 : st;
}

static bool make_map(CUtensorMap *map, const prob_t &p, int t, int64_t cols, int64_t rows, int64_t heads) {
  const int64_t bs = merged_batch_stride(p, t);
  if (bs < 0) return false;
  const int64_t rs = p.rs[t], hs = p.hs[t];
  if (p.cs[t] != 1 || rs % 8 || hs % 8 || bs % 8 || ((uintptr_t)p.ptr[t] & 15)) return false;
  if ((rows > 1 && rs < cols) || (heads > 1 && hs == 0)) return false;
  cuuint64_t dims[4] = {(cuuint64_t)cols, (cuuint64_t)rows, (cuuint64_t)heads, (cuuint64_t)p.nbatch};
  /* Strides of size-1 dims are never used; keep them valid (multiples of 16 B, nonzero). */
  int64_t s1 = rows > 1 ? rs : 8, s2 = heads > 1 ? hs : 8, s3 = p.nbatch > 1 ? bs : 8;
  cuuint64_t strides[3] = {(cuuint64_t)s1 * 2, (cuuint64_t)s2 * 2, (cuuint64_t)s3 * 2};
  cuuint32_t box[4] = {64, 64, 1, 1}, estr[4] = {1, 1, 1, 1};
  encode_fn_t enc = encode_fn();
  if (!enc) return false;
  CUtensorMapDataType dt = p.dtype == TIRK_F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  return enc(map, dt, 4, (void *)p.ptr[t], dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
             CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <typename T, int DP, int BN, int NCW, bool PP, bool KM, bool SC = false>
static tirk_err_t launch_sm90(const prob_t &p, const CUtensorMap *maps, cudaStream_t st) {
  using C = sm90_cfg<DP, BN, NCW>;
  constexpr int BM = C::BM;
  auto kern = flash_sm90_kernel<T, DP, BN, NCW, PP, KM, SC>;
  TIRK_CUDA_TRY(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM));
  const int ntiles = (int)((p.L + BM - 1) / BM);
  const int64_t nblocks = p.nbatch * p.Hq * ntiles;
  if (nblocks > 0x7fffffff) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash: grid too large");
  kern<<<(unsigned)nblocks, C::NTHREADS, C::SMEM, st>>>(maps[0], maps[1], maps[2], p, ntiles);
  return tirk_check_launch();
}

static int g_sm90_config = 0;
extern "C" void tirk_sdpa_flash_set_config(int config) { g_sm90_config = config; }

/* Tile shapes per padded head dim; config (benchmarks) 1: 2 consumers
 * without ping-pong, 2: 2 consumers with, 3: 3 consumers with (D <= 64).
 * With a key mask (KM) or a softcap (SC) only the automatic choice is
 * built (fewer kernels), and always 2 consumers: with 3 (160 registers
 * each) the mask code made ptxas spill about 400 bytes per thread. */
template <typename T, bool KM, bool SC>
static tirk_err_t dispatch_dp(const prob_t &p, int dp, const CUtensorMap *maps, cudaStream_t st) {
  constexpr bool EXT = KM || SC;
  const int cfg = EXT ? 0 : g_sm90_config;
  (void)cfg; /* unused in the EXT instances */
  switch (dp) {
    case 64: /* measured: 3 consumers win except causal with L < 8k (docs/design-log/NOTES-flash.md) */
      if constexpr (EXT) {
        return launch_sm90<T, 64, 128, 2, true, KM, SC>(p, maps, st);
      } else {
        if (cfg == 1) return launch_sm90<T, 64, 128, 2, false, KM, SC>(p, maps, st);
        if (cfg == 2 || (cfg == 0 && p.causal && p.L < 8192)) return launch_sm90<T, 64, 128, 2, true, KM, SC>(p, maps, st);
        return launch_sm90<T, 64, 128, 3, true, KM, SC>(p, maps, st);
      }
    case 128:
      if constexpr (!EXT) {
        if (cfg == 1) return launch_sm90<T, 128, 128, 2, false, KM, SC>(p, maps, st);
      }
      return launch_sm90<T, 128, 128, 2, true, KM, SC>(p, maps, st);
    case 192: return launch_sm90<T, 192, 64, 2, true, KM, SC>(p, maps, st);
    default: return launch_sm90<T, 256, 64, 2, true, KM, SC>(p, maps, st);
  }
}
template <typename T>
static tirk_err_t dispatch_mask(const prob_t &p, int dp, const CUtensorMap *maps, cudaStream_t st) {
  const bool km = p.mask_kind != MK_NONE;
  if (p.softcap > 0.f) return km ? dispatch_dp<T, true, true>(p, dp, maps, st) : dispatch_dp<T, false, true>(p, dp, maps, st);
  return km ? dispatch_dp<T, true, false>(p, dp, maps, st) : dispatch_dp<T, false, false>(p, dp, maps, st);
}

tirk_err_t tirk_flash_sm90(const prob_t &p, cudaStream_t st) {
  if (p.dtype != TIRK_F16 && p.dtype != TIRK_BF16)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash (sm90): f16/bf16 only");
  if (p.mask_kind != MK_NONE && p.rs[A_M] != 0)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash (sm90): key masks only");
  if (p.E != p.Ev || p.E % 8 || p.E > 256 || p.E == 0)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash (sm90): head dims");
  if (p.S == 0 || p.L > 0x7fffff00 || p.S > 0x7fffff00 || p.Hq > 0x7fffffff || p.nbatch > 0x7fffffff)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash (sm90): sizes");
  CUtensorMap maps[3];
  if (!make_map(&maps[0], p, A_Q, p.E, p.L, p.Hq) || !make_map(&maps[1], p, A_K, p.E, p.S, p.Hk) ||
      !make_map(&maps[2], p, A_V, p.Ev, p.S, p.Hk))
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa flash (sm90): layout not TMA-compatible");
  const int dp = p.E <= 64 ? 64 : p.E <= 128 ? 128 : p.E <= 192 ? 192 : 256;
  return p.dtype == TIRK_F16 ? dispatch_mask<__half>(p, dp, maps, st) : dispatch_mask<__nv_bfloat16>(p, dp, maps, st);
}
