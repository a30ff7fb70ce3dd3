/* attention_mem_efficient.cu — tirk_sdpa_mem_efficient: a fused
 * FlashAttention-style kernel.  f16/bf16 use tensor cores (mma.sync
 * m16n8k16, ldmatrix, cp.async double buffering); f32 uses a SIMT
 * register-tiled kernel.  Both skip the key tiles past the causal limit
 * and those before the window of every row of the CTA, and soft-cap the
 * scaled scores (16-bit: capped_fast; f32: tanhf) before the mask and the
 * log2-domain softmax.
 * Arguments are validated by tirk_sdpa_prep (attention.cu); semantics as
 * there (runtime/cpu_sdpa.c). */
#include "attention_internal.cuh"

/* ------------------------------------------------------------ 16-bit fused kernel */

/* Copies rows [row0, row0 + ROWS) x cols [0, D) of a [nrows, ncols] matrix
 * (row stride rs, col stride cs) into a shared tile of row pitch D + 8;
 * rows >= nrows and cols >= ncols are zero.  The 8-element pad keeps the
 * eight 16-byte rows read by one ldmatrix in distinct bank groups. */
template <typename T, int D, int ROWS, int NT>
__device__ __forceinline__ void load_tile(T *s, const T *g, int64_t row0, int64_t nrows, int64_t rs,
                                          int64_t cs, int64_t ncols, int fast) {
  constexpr int CH = D / 8;
  for (int c = threadIdx.x; c < ROWS * CH; c += NT) {
    int r = c / CH, k = (c % CH) * 8;
    T *dst = s + r * (D + 8) + k;
    int64_t row = row0 + r;
    if (fast) {
      bool ok = row < nrows && k < ncols;
      cp_async16(dst, ok ? (const void *)(g + row * rs + k) : (const void *)g, ok ? 16 : 0);
    } else {
#pragma unroll
      for (int e = 0; e < 8; e++)
        dst[e] = row < nrows && k + e < ncols ? g[row * rs + (k + e) * cs] : from_f<T>(0.f);
    }
  }
}

/* One CTA = NW warps = 16 * MT * NW query rows of one (batch, query head);
 * each warp owns MT 16-row tiles, so that every K/V fragment read from
 * shared memory (ldmatrix) feeds MT tensor-core products: with MT = 1 the
 * kernel is bound by shared-memory bandwidth as much as by the tensor
 * cores.  K/V tiles of BN keys are double-buffered in shared memory
 * (cp.async).  S = Q K^T and O += P V run on mma.sync; the softmax runs on
 * the S accumulators in registers, whose layout is exactly the A operand
 * layout of the P V product (no shared-memory round trip for P).  D is
 * max(E, Ev) rounded up; Q stays in registers when MT = 1 and D <= 128. */
template <typename T, int D, int BN, int NW, int MT>
__global__ void __launch_bounds__(NW * 32, 1) fa16_kernel(const prob_t p, int ntiles) {
  constexpr int BM = 16 * MT * NW, LD = D + 8, NT = NW * 32;
  constexpr bool QREG = MT == 1 && D <= 128;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T *Qs = (T *)smem_raw, *Ks = Qs + BM * LD, *Vs = Ks + 2 * BN * LD;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  /* Heavy (late, for causal) query tiles first; tiles of one head adjacent so K/V stay in L2. */
  const int64_t bid = blockIdx.x;
  const int tile = ntiles - 1 - (int)(bid % ntiles);
  const int64_t bh = bid / ntiles, b = bh / p.Hq, h = bh % p.Hq, hk = h / p.G;
  int64_t off[A_N];
  batch_offsets(p, b, off);
  const T *qg = (const T *)p.ptr[A_Q] + off[A_Q] + h * p.hs[A_Q];
  const T *kg = (const T *)p.ptr[A_K] + off[A_K] + hk * p.hs[A_K];
  const T *vg = (const T *)p.ptr[A_V] + off[A_V] + hk * p.hs[A_V];
  const int64_t i0 = (int64_t)tile * BM, L = p.L, S = p.S;
  int64_t send = S; /* keys past send are causally invisible to every row of the tile */
  if (p.causal) {
    int64_t last = (i0 + BM < L ? i0 + BM : L) - 1 + p.causal_off;
    send = last < 0 ? 0 : last + 1 < S ? last + 1 : S;
  }
  const int nkb = (int)((send + BN - 1) / BN);
  /* Window: key tiles wholly before the first row's window are invisible to
   * every row of the tile and never loaded (sliding-window speed). */
  const int64_t wlo = win_lo(p, i0);
  const int kb0 = wlo / BN < nkb ? (int)(wlo / BN) : nkb;

  load_tile<T, D, BM, NT>(Qs, qg, i0, L, p.rs[A_Q], p.cs[A_Q], p.E, p.fast);
  if (kb0 < nkb) {
    const int nb = kb0 & 1;
    load_tile<T, D, BN, NT>(Ks + nb * BN * LD, kg, (int64_t)kb0 * BN, S, p.rs[A_K], p.cs[A_K], p.E, p.fast);
    load_tile<T, D, BN, NT>(Vs + nb * BN * LD, vg, (int64_t)kb0 * BN, S, p.rs[A_V], p.cs[A_V], p.Ev, p.fast);
  }
  cp_commit();

  float o[MT][D / 8][4];
  float m[MT][2], l[MT][2];
  int64_t ii[MT][2]; /* the thread's query rows: lane/4 and lane/4 + 8 of each 16-row tile */
#pragma unroll
  for (int t = 0; t < MT; t++) {
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[t][n][0] = o[t][n][1] = o[t][n][2] = o[t][n][3] = 0.f;
#pragma unroll
    for (int r = 0; r < 2; r++) {
      m[t][r] = -INFINITY;
      l[t][r] = 0.f;
      ii[t][r] = i0 + (warp * MT + t) * 16 + lane / 4 + 8 * r;
    }
  }
  uint32_t qf[QREG ? D / 16 : 1][4];

  for (int kb = kb0; kb < nkb; kb++) {
    if (kb + 1 < nkb) {
      const int nb = (kb + 1) & 1;
      load_tile<T, D, BN, NT>(Ks + nb * BN * LD, kg, (int64_t)(kb + 1) * BN, S, p.rs[A_K], p.cs[A_K], p.E, p.fast);
      load_tile<T, D, BN, NT>(Vs + nb * BN * LD, vg, (int64_t)(kb + 1) * BN, S, p.rs[A_V], p.cs[A_V], p.Ev, p.fast);
      cp_commit();
      cp_wait<1>();
    } else {
      cp_wait<0>();
    }
    __syncthreads();
    const T *Kc = Ks + (kb & 1) * BN * LD, *Vc = Vs + (kb & 1) * BN * LD;
    const T *qrow = Qs + (warp * MT * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * LD + (lane / 16) * 8;
    if (QREG && kb == kb0) {
#pragma unroll
      for (int kc = 0; kc < (QREG ? D / 16 : 1); kc++) ldsm_x4(qf[kc], qrow + kc * 16);
    }
    /* A warp whose rows see none of this key tile (causal, or before the
     * window of its first row) skips its products: with every probability
     * 0 the state would not change. */
    const int64_t wr0 = i0 + warp * MT * 16;
    const bool wskip = (p.causal && (int64_t)kb * BN > wr0 + MT * 16 - 1 + p.causal_off) ||
                       (int64_t)kb * BN + BN <= win_lo(p, wr0);
    if (!wskip) {
      /* S = Q K^T for this warp's 16 * MT rows and BN keys. */
      float s[MT][BN / 8][4];
#pragma unroll
      for (int t = 0; t < MT; t++)
#pragma unroll
        for (int n = 0; n < BN / 8; n++) s[t][n][0] = s[t][n][1] = s[t][n][2] = s[t][n][3] = 0.f;
#pragma unroll
      for (int kc = 0; kc < D / 16; kc++) {
        if (kc * 16 >= p.E) break;
        uint32_t aq[MT][4];
#pragma unroll
        for (int t = 0; t < MT; t++) {
          if constexpr (QREG) {
            aq[t][0] = qf[kc][0]; aq[t][1] = qf[kc][1]; aq[t][2] = qf[kc][2]; aq[t][3] = qf[kc][3];
          } else {
            ldsm_x4(aq[t], qrow + t * 16 * LD + kc * 16);
          }
        }
#pragma unroll
        for (int n2 = 0; n2 < BN / 16; n2++) {
          uint32_t r[4];
          ldsm_x4(r, Kc + (n2 * 16 + (lane % 8) + (lane / 16) * 8) * LD + kc * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
          for (int t = 0; t < MT; t++) {
            mma16816<T>(s[t][2 * n2], aq[t], r[0], r[1]);
            mma16816<T>(s[t][2 * n2 + 1], aq[t], r[2], r[3]);
          }
        }
      }
      const int64_t j0 = (int64_t)kb * BN;
      const bool need = j0 + BN > S || p.mask_kind != MK_NONE ||
                        (p.causal && j0 + BN - 1 > i0 + p.causal_off) ||
                        j0 < win_lo(p, i0 + BM - 1);
      const bool cap = p.softcap > 0.f;
      const int64_t wd = win_d(p);
#pragma unroll
      for (int t = 0; t < MT; t++) {
        /* Scale (log2 domain; softcap first, in the natural one), mask,
         * causal, window and ragged-edge masking. */
        if (need) {
#pragma unroll
          for (int n = 0; n < BN / 8; n++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
              float x;
              const int64_t i = ii[t][e >> 1], j = j0 + n * 8 + (lane % 4) * 2 + (e & 1);
              if (j >= S || (p.causal && j > i + p.causal_off) || j - i <= wd) {
                x = -INFINITY; /* the mask is not read outside the window */
              } else if (p.mask_kind != MK_NONE && i < L) {
                float mv = (float)mask_d(p, off[A_M], h, i, j), xs = s[t][n][e] * p.scale;
                x = mv == -INFINITY ? -INFINITY : ((cap ? capped_fast(p, xs) : xs) + mv) * LOG2E_F;
              } else {
                x = cap ? capped_fast(p, s[t][n][e] * p.scale) * LOG2E_F : s[t][n][e] * p.scale_log2;
              }
              s[t][n][e] = x;
            }
          }
        } else if (cap) {
#pragma unroll
          for (int n = 0; n < BN / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[t][n][e] = capped_fast(p, s[t][n][e] * p.scale) * LOG2E_F;
        } else {
#pragma unroll
          for (int n = 0; n < BN / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[t][n][e] *= p.scale_log2;
        }
        /* Online softmax: row max over the quad that shares a row. */
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < BN / 8; n++) {
          mx[0] = fmaxf(mx[0], fmaxf(s[t][n][0], s[t][n][1]));
          mx[1] = fmaxf(mx[1], fmaxf(s[t][n][2], s[t][n][3]));
        }
        float mu[2], al[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
          mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
          mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
          const float mn = fmaxf(m[t][r], mx[r]);
          /* A row with no visible key so far keeps m = -inf; subtracting 0 then
           * gives exp2(-inf) = 0 and never (-inf) - (-inf). */
          mu[r] = mn == -INFINITY ? 0.f : mn;
          al[r] = exp2f(m[t][r] - mu[r]);
          m[t][r] = mn;
        }
        float sum[2] = {0.f, 0.f};
#pragma unroll
        for (int n = 0; n < BN / 8; n++) {
#pragma unroll
          for (int e = 0; e < 4; e++) {
            s[t][n][e] = exp2f(s[t][n][e] - mu[e >> 1]);
            sum[e >> 1] += s[t][n][e];
          }
        }
#pragma unroll
        for (int r = 0; r < 2; r++) l[t][r] = l[t][r] * al[r] + sum[r]; /* per-thread partial sums */
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
          o[t][n][0] *= al[0]; o[t][n][1] *= al[0];
          o[t][n][2] *= al[1]; o[t][n][3] *= al[1];
        }
        /* Dropout on the probabilities: l keeps the undropped sum (as the CPU kernel). */
        if (p.dropout) {
#pragma unroll
          for (int n = 0; n < BN / 8; n++) {
            const int64_t j = j0 + n * 8 + (lane % 4) * 2;
#pragma unroll
            for (int r = 0; r < 2; r++) {
              if (ii[t][r] < L && j < S) {
                bool k0, k1;
                keep_two(p, (uint64_t)(((b * p.Hq + h) * L + ii[t][r]) * S + j), &k0, &k1);
                s[t][n][2 * r] = k0 ? s[t][n][2 * r] * p.dscale : 0.f;
                s[t][n][2 * r + 1] = k1 ? s[t][n][2 * r + 1] * p.dscale : 0.f;
              }
            }
          }
        }
      }
      /* O += P V: the accumulators of key tiles 2kc, 2kc+1 are P's A operand for keys 16kc.. */
#pragma unroll
      for (int kc = 0; kc < BN / 16; kc++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int t = 0; t < MT; t++) {
          a[t][0] = pack2<T>(s[t][2 * kc][0], s[t][2 * kc][1]);
          a[t][1] = pack2<T>(s[t][2 * kc][2], s[t][2 * kc][3]);
          a[t][2] = pack2<T>(s[t][2 * kc + 1][0], s[t][2 * kc + 1][1]);
          a[t][3] = pack2<T>(s[t][2 * kc + 1][2], s[t][2 * kc + 1][3]);
        }
        const T *vrow = Vc + (kc * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * LD + (lane / 16) * 8;
#pragma unroll
        for (int n2 = 0; n2 < D / 16; n2++) {
          if (n2 * 16 >= p.Ev) break;
          uint32_t r[4];
          ldsm_x4_t(r, vrow + n2 * 16);
#pragma unroll
          for (int t = 0; t < MT; t++) {
            mma16816<T>(o[t][2 * n2], a[t], r[0], r[1]);
            mma16816<T>(o[t][2 * n2 + 1], a[t], r[2], r[3]);
          }
        }
      }
    } /* !wskip */
    __syncthreads(); /* the buffer just read is refilled by the next iteration */
  }
  cp_wait<0>();

  /* out = O / l; rows that saw no key (l = 0) give 0 and lse = -inf. */
  T *og = (T *)p.ptr[A_O] + off[A_O] + h * p.hs[A_O];
  const int64_t ocs = p.cs[A_O];
#pragma unroll
  for (int t = 0; t < MT; t++) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float lr = l[t][r];
      lr += __shfl_xor_sync(0xffffffffu, lr, 1);
      lr += __shfl_xor_sync(0xffffffffu, lr, 2);
      const int64_t i = ii[t][r];
      const float inv = lr > 0.f ? 1.f / lr : 0.f;
      if (i < L) {
        T *orow = og + i * p.rs[A_O];
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
          const int64_t e = n * 8 + (lane % 4) * 2;
          if (e >= p.Ev) break;
          orow[e * ocs] = from_f<T>(o[t][n][2 * r] * inv);
          if (e + 1 < p.Ev) orow[(e + 1) * ocs] = from_f<T>(o[t][n][2 * r + 1] * inv);
        }
        if (p.lse && lane % 4 == 0)
          p.lse[(b * p.Hq + h) * L + i] = lr > 0.f ? (m[t][r] + log2f(lr)) * LN2_F : -INFINITY;
      }
    }
  }
}

/* ------------------------------------------------------------ f32 fused kernel */

/* 256 threads as a 16 x 16 grid (ty, tx) over a 64-row query tile; thread
 * (ty, tx) owns rows 4ty..4ty+3 and the columns tx + 16c of the score tile
 * and of the output, so that its shared-memory reads of K^T and V rows are
 * conflict-free and its Q / P reads are float4 broadcasts.  Rows are
 * reduced over the 16 tx threads, which are 16 consecutive lanes. */
template <int D, int BN>
__global__ void __launch_bounds__(256, 1) fa32_kernel(const prob_t p, int ntiles) {
  constexpr int BM = 64, LQ = BM + 4, LK = BN + 1;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float *Qt = (float *)smem_raw; /* [D][LQ]  Q transposed */
  float *Kt = Qt + D * LQ;       /* [D][LK]  K transposed */
  float *Vs = Kt + D * LK;       /* [BN][D] */
  float *Pt = Vs + BN * D;       /* [BN][LQ] P transposed */
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  const int64_t bid = blockIdx.x;
  const int tile = ntiles - 1 - (int)(bid % ntiles);
  const int64_t bh = bid / ntiles, b = bh / p.Hq, h = bh % p.Hq, hk = h / p.G;
  int64_t off[A_N];
  batch_offsets(p, b, off);
  const float *qg = (const float *)p.ptr[A_Q] + off[A_Q] + h * p.hs[A_Q];
  const float *kg = (const float *)p.ptr[A_K] + off[A_K] + hk * p.hs[A_K];
  const float *vg = (const float *)p.ptr[A_V] + off[A_V] + hk * p.hs[A_V];
  const int64_t i0 = (int64_t)tile * BM, L = p.L, S = p.S, E = p.E, Ev = p.Ev;
  int64_t send = S;
  if (p.causal) {
    int64_t last = (i0 + BM < L ? i0 + BM : L) - 1 + p.causal_off;
    send = last < 0 ? 0 : last + 1 < S ? last + 1 : S;
  }
  for (int c = tid; c < BM * D; c += 256) {
    int r = c / D, e = c % D;
    Qt[e * LQ + r] = i0 + r < L && e < E ? qg[(i0 + r) * p.rs[A_Q] + e * p.cs[A_Q]] : 0.f;
  }
  float o[4][D / 16];
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int c = 0; c < D / 16; c++) o[r][c] = 0.f;
  float m[4], l[4];
#pragma unroll
  for (int r = 0; r < 4; r++) m[r] = -INFINITY, l[r] = 0.f;
  /* Window: tiles wholly before the first row's window are skipped. */
  for (int64_t j0 = win_lo(p, i0) / BN * BN; j0 < send; j0 += BN) {
    __syncthreads(); /* the previous tile's K, V and P are no longer read */
    for (int c = tid; c < BN * D; c += 256) {
      int jj = c / D, e = c % D;
      int64_t j = j0 + jj;
      Kt[e * LK + jj] = j < S && e < E ? kg[j * p.rs[A_K] + e * p.cs[A_K]] : 0.f;
      Vs[jj * D + e] = j < S && e < Ev ? vg[j * p.rs[A_V] + e * p.cs[A_V]] : 0.f;
    }
    __syncthreads();
    float s[4][BN / 16];
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
      for (int c = 0; c < BN / 16; c++) s[r][c] = 0.f;
#pragma unroll 4
    for (int e = 0; e < E; e++) {
      const float4 a = *(const float4 *)&Qt[e * LQ + ty * 4];
#pragma unroll
      for (int c = 0; c < BN / 16; c++) {
        const float kv = Kt[e * LK + tx + 16 * c];
        s[0][c] = fmaf(a.x, kv, s[0][c]);
        s[1][c] = fmaf(a.y, kv, s[1][c]);
        s[2][c] = fmaf(a.z, kv, s[2][c]);
        s[3][c] = fmaf(a.w, kv, s[3][c]);
      }
    }
    const bool need = j0 + BN > S || p.mask_kind != MK_NONE || (p.causal && j0 + BN - 1 > i0 + p.causal_off) ||
                      j0 < win_lo(p, i0 + BM - 1);
    const bool cap = p.softcap > 0.f;
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int64_t i = i0 + ty * 4 + r, jlo = win_lo(p, i);
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < BN / 16; c++) {
        /* softcap in the natural domain, then log2 */
        const float xs = cap ? capped(p, s[r][c] * p.scale) : 0.f;
        float x = cap ? xs * LOG2E_F : s[r][c] * p.scale_log2;
        if (need) {
          const int64_t j = j0 + tx + 16 * c;
          if (j >= S || (p.causal && j > i + p.causal_off) || j < jlo) {
            x = -INFINITY; /* the mask is not read outside the window */
          } else if (p.mask_kind != MK_NONE && i < L) {
            float mv = (float)mask_d(p, off[A_M], h, i, j);
            x = mv == -INFINITY ? -INFINITY : ((cap ? xs : s[r][c] * p.scale) + mv) * LOG2E_F;
          }
        }
        s[r][c] = x;
        mx = fmaxf(mx, x);
      }
#pragma unroll
      for (int d = 1; d < 16; d <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, d));
      const float mn = fmaxf(m[r], mx), mu = mn == -INFINITY ? 0.f : mn;
      const float al = exp2f(m[r] - mu);
      m[r] = mn;
      float sum = 0.f;
#pragma unroll
      for (int c = 0; c < BN / 16; c++) {
        float pv = exp2f(s[r][c] - mu);
        sum += pv;
        const int64_t j = j0 + tx + 16 * c;
        if (p.dropout && i < L && j < S)
          pv = keep_one(p, (uint64_t)(((b * p.Hq + h) * L + i) * S + j)) ? pv * p.dscale : 0.f;
        Pt[(tx + 16 * c) * LQ + ty * 4 + r] = pv;
      }
      l[r] = l[r] * al + sum; /* partial over this thread's columns */
#pragma unroll
      for (int c = 0; c < D / 16; c++) o[r][c] *= al;
    }
    __syncthreads();
    const int nb = (int)(S - j0 < BN ? S - j0 : BN);
#pragma unroll 2
    for (int jj = 0; jj < nb; jj++) {
      const float4 a = *(const float4 *)&Pt[jj * LQ + ty * 4];
#pragma unroll
      for (int c = 0; c < D / 16; c++) {
        const float vv = Vs[jj * D + tx + 16 * c];
        o[0][c] = fmaf(a.x, vv, o[0][c]);
        o[1][c] = fmaf(a.y, vv, o[1][c]);
        o[2][c] = fmaf(a.z, vv, o[2][c]);
        o[3][c] = fmaf(a.w, vv, o[3][c]);
      }
    }
  }
  float *og = (float *)p.ptr[A_O] + off[A_O] + h * p.hs[A_O];
#pragma unroll
  for (int r = 0; r < 4; r++) {
    float lr = l[r];
#pragma unroll
    for (int d = 1; d < 16; d <<= 1) lr += __shfl_xor_sync(0xffffffffu, lr, d);
    const int64_t i = i0 + ty * 4 + r;
    if (i >= L) continue;
    const float inv = lr > 0.f ? 1.f / lr : 0.f;
#pragma unroll
    for (int c = 0; c < D / 16; c++) {
      const int64_t e = tx + 16 * c;
      if (e < Ev) og[i * p.rs[A_O] + e * p.cs[A_O]] = o[r][c] * inv;
    }
    if (p.lse && tx == 0) p.lse[(b * p.Hq + h) * L + i] = lr > 0.f ? (m[r] + log2f(lr)) * LN2_F : -INFINITY;
  }
}

/* ------------------------------------------------------------ host: mem_efficient */

static int g_config = 0;
extern "C" void tirk_sdpa_set_config(int config) { g_config = config; }

template <typename K>
static tirk_err_t launch(K kernel, int64_t nblocks, int threads, size_t smem, const prob_t &p, int ntiles,
                         cudaStream_t st) {
  if (nblocks > 0x7fffffff) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa: too many query tiles");
  TIRK_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  kernel<<<(unsigned)nblocks, threads, smem, st>>>(p, ntiles);
  return tirk_check_launch();
}

template <typename T, int D>
static tirk_err_t launch16(const prob_t &p, cudaStream_t st) {
  /* D = 256 takes 32-key tiles and one 16-row tile per warp to keep the
   * accumulators in registers; smaller D take two 16-row tiles per warp
   * (128-row CTAs) unless L is short. */
  constexpr int BN = D >= 256 ? 32 : 64;
  /* Measured on an H100 (docs/design-log/NOTES-attention.md): 128-row CTAs win for
   * D = 128 and for non-causal D = 64; causal D <= 64 prefers 64 rows. */
  int mt = D <= 128 && p.L > 64 && (D > 64 || !p.causal) ? 2 : 1;
  if (g_config == 1) mt = 1;
  if (g_config == 2 && D <= 128) mt = 2;
  if (mt == 2) {
    constexpr int MT = D <= 128 ? 2 : 1, BM = 64 * MT;
    int ntiles = (int)((p.L + BM - 1) / BM);
    size_t smem = (size_t)(BM + 4 * BN) * (D + 8) * sizeof(T);
    return launch(fa16_kernel<T, D, BN, 4, MT>, p.nbatch * p.Hq * ntiles, 128, smem, p, ntiles, st);
  }
  const int BM = 64;
  int ntiles = (int)((p.L + BM - 1) / BM);
  size_t smem = (size_t)(BM + 4 * BN) * (D + 8) * sizeof(T);
  return launch(fa16_kernel<T, D, BN, 4, 1>, p.nbatch * p.Hq * ntiles, 128, smem, p, ntiles, st);
}

template <int D>
static tirk_err_t launch32(const prob_t &p, cudaStream_t st) {
  constexpr int BN = D >= 128 ? 32 : 64, BM = 64;
  int ntiles = (int)((p.L + BM - 1) / BM);
  size_t smem = (size_t)(D * (BM + 4) + D * (BN + 1) + BN * D + BN * (BM + 4)) * sizeof(float);
  return launch(fa32_kernel<D, BN>, p.nbatch * p.Hq * ntiles, 256, smem, p, ntiles, st);
}

extern "C" tirk_err_t tirk_sdpa_mem_efficient(const tirk_sdpa_args_t *a, cudaStream_t stream) {
  prob_t p;
  int empty;
  tirk_err_t err = tirk_sdpa_prep(a, &p, &empty);
  if (err != TIRK_OK) return err;
  if (empty) return tirk_sdpa_finish_empty(p, empty, stream);
  const int64_t dmax = p.E > p.Ev ? p.E : p.Ev;
  if (dmax > 256)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa mem_efficient: head dims %lld/%lld > 256",
                     (long long)p.E, (long long)p.Ev);
  const int D = dmax <= 32 ? 32 : dmax <= 64 ? 64 : dmax <= 128 ? 128 : 256;
  switch (p.dtype = a->q.dtype) {
    case TIRK_F16:
      return D == 32 ? launch16<__half, 32>(p, stream) : D == 64 ? launch16<__half, 64>(p, stream)
           : D == 128 ? launch16<__half, 128>(p, stream) : launch16<__half, 256>(p, stream);
    case TIRK_BF16:
      return D == 32 ? launch16<__nv_bfloat16, 32>(p, stream) : D == 64 ? launch16<__nv_bfloat16, 64>(p, stream)
           : D == 128 ? launch16<__nv_bfloat16, 128>(p, stream) : launch16<__nv_bfloat16, 256>(p, stream);
    case TIRK_F32:
      return D == 32 ? launch32<32>(p, stream) : D == 64 ? launch32<64>(p, stream)
           : D == 128 ? launch32<128>(p, stream) : launch32<256>(p, stream);
    default:
      return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa mem_efficient: dtype %d (f16/bf16/f32 only)", a->q.dtype);
  }
}
