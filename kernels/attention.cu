/* attention.cu — tirc's CUDA attention kernels (tirk_attention.h):
 *  - tirk_sdpa_mem_efficient: a fused FlashAttention-style kernel.  f16/bf16
 *    use tensor cores (mma.sync m16n8k16, ldmatrix, cp.async double
 *    buffering); f32 uses a SIMT register-tiled kernel.
 *  - tirk_sdpa_math: scores through cuBLAS, one softmax kernel, P.V through
 *    cuBLAS.
 * Both follow runtime/cpu_sdpa.c exactly in semantics (mask thresholds,
 * fully masked rows give 0, causal alignments, GQA, the Philox dropout
 * mask of runtime/cpu_random.c). */
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

  load_tile<T, D, BM, NT>(Qs, qg, i0, L, p.rs[A_Q], p.cs[A_Q], p.E, p.fast);
  if (nkb > 0) {
    load_tile<T, D, BN, NT>(Ks, kg, 0, S, p.rs[A_K], p.cs[A_K], p.E, p.fast);
    load_tile<T, D, BN, NT>(Vs, vg, 0, S, p.rs[A_V], p.cs[A_V], p.Ev, p.fast);
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

  for (int kb = 0; kb < nkb; kb++) {
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
    if (QREG && kb == 0) {
#pragma unroll
      for (int kc = 0; kc < (QREG ? D / 16 : 1); kc++) ldsm_x4(qf[kc], qrow + kc * 16);
    }
    /* A warp whose rows see none of this key tile (causal) skips its
     * products: with every probability 0 the state would not change. */
    const bool wskip = p.causal && (int64_t)kb * BN > i0 + (warp * MT + MT) * 16 - 1 + p.causal_off;
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
                        (p.causal && j0 + BN - 1 > i0 + p.causal_off);
#pragma unroll
      for (int t = 0; t < MT; t++) {
        /* Scale (log2 domain), mask, causal and ragged-edge masking. */
        if (need) {
#pragma unroll
          for (int n = 0; n < BN / 8; n++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
              float x = s[t][n][e] * p.scale_log2;
              const int64_t i = ii[t][e >> 1], j = j0 + n * 8 + (lane % 4) * 2 + (e & 1);
              if (j >= S || (p.causal && j > i + p.causal_off)) {
                x = -INFINITY;
              } else if (p.mask_kind != MK_NONE && i < L) {
                float mv = (float)mask_d(p, off[A_M], h, i, j);
                x = mv == -INFINITY ? -INFINITY : (s[t][n][e] * p.scale + mv) * LOG2E_F;
              }
              s[t][n][e] = x;
            }
          }
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
  for (int64_t j0 = 0; j0 < send; j0 += BN) {
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
    const bool need = j0 + BN > S || p.mask_kind != MK_NONE || (p.causal && j0 + BN - 1 > i0 + p.causal_off);
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int64_t i = i0 + ty * 4 + r;
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < BN / 16; c++) {
        float x = s[r][c] * p.scale_log2;
        if (need) {
          const int64_t j = j0 + tx + 16 * c;
          if (j >= S || (p.causal && j > i + p.causal_off)) {
            x = -INFINITY;
          } else if (p.mask_kind != MK_NONE && i < L) {
            float mv = (float)mask_d(p, off[A_M], h, i, j);
            x = mv == -INFINITY ? -INFINITY : (s[r][c] * p.scale + mv) * LOG2E_F;
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

tirk_err_t tirk_sdpa_finish_empty(const prob_t &p, int empty, cudaStream_t st) {
  /* Ev = 0: out has no elements, but lse is still the logsumexp; only
   * computed by the kernels for Ev > 0, so refuse rather than guess. */
  (void)st;
  if (empty == 2 && p.lse) return tirk_fail(TIRK_ERR_UNSUPPORTED, "sdpa: lse with Ev = 0");
  return TIRK_OK;
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
__device__ __forceinline__ double log_t(double x) { return log(x); }
template <typename PT> __device__ __forceinline__ PT to_p(double x);
template <> __device__ __forceinline__ __half to_p<__half>(double x) { return __float2half_rn((float)x); }
template <> __device__ __forceinline__ __nv_bfloat16 to_p<__nv_bfloat16>(double x) { return __float2bfloat16_rn((float)x); }
template <> __device__ __forceinline__ float to_p<float>(double x) { return (float)x; }
template <> __device__ __forceinline__ double to_p<double>(double x) { return x; }

/* One CTA per score row (h, i) of batch index b: scale, mask, causal,
 * softmax, dropout; P written as PT (in place when PT = AT).  Compute in
 * AT (f32, f64 for f64), like the CPU kernel. */
template <typename AT, typename PT>
__global__ void softmax_rows_kernel(const prob_t p, int64_t b, int64_t moff, AT *sc, PT *pout) {
  __shared__ AT red[32];
  const int64_t row = blockIdx.x, h = row / p.L, i = row % p.L, S = p.S;
  AT *x = sc + row * S;
  PT *po = pout + row * S;
  const AT scale = std::is_same<AT, double>::value ? (AT)p.scale_d : (AT)p.scale;
  AT mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < S; j += blockDim.x) {
    AT v = x[j] * scale;
    if (p.causal && j > i + p.causal_off) {
      v = -INFINITY;
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
