/* cpu_sdpa.c — the CPU attention kernel, tirrt_cpu_sdpa (spec §5): fused
 * scaled dot-product attention that never materializes the L x S scores.
 * For each (batch, query head, block of query rows) it walks the keys in
 * blocks with an online softmax (running max m and sum l, FlashAttention's
 * rescaling), applying scale, causal mask, attention mask and dropout on
 * the fly.  Compute is f32 (f64 for f64 inputs); f16/bf16 are converted on
 * load.  The typed inner loops are generated for float and double by one
 * macro so that both precisions share a single piece of logic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_parallel.h"
#include "internal.h"
#include "tirrt_cpu.h"

/* Block sizes.  A block of query rows is multiplied by a block of keys held
 * transposed (E x BN), so the innermost loops run over BN keys or over the
 * value dim with compile-time trip counts that the compiler vectorizes.
 * With E = Ev = 64 in f32 the working set (Q block 8 KB, K tile 16 KB,
 * scores 8 KB, accumulators 8 KB) stays in L1/L2. */
#define SDPA_BM 32
#define SDPA_BN 64
#define SDPA_VPAD 8 /* the value dim is padded to a multiple of this */

/* ------------------------------------------------------------ element access */
/* f16/bf16 conversions are the shared ones of cpu_view.c (tirrt_cpu.h). */

/* Element `off` (in elements) of a float tensor, as double (exact). */
static double load_real(const void *data, tirrt_dtype_t dt, int64_t off) {
  const char *p = (const char *)data;
  uint16_t h;
  float f;
  double d;
  switch (dt) {
    case TIRRT_DTYPE_F16: memcpy(&h, p + off * 2, 2); return tirrt_half_to_float(h);
    case TIRRT_DTYPE_BF16: memcpy(&h, p + off * 2, 2); return tirrt_bf16_to_float(h);
    case TIRRT_DTYPE_F32: memcpy(&f, p + off * 4, 4); return f;
    default: memcpy(&d, p + off * 8, 8); return d;
  }
}

/* Stores a value computed in float (f16/bf16/f32 outputs) or double (f64). */
static void store_f(void *data, tirrt_dtype_t dt, int64_t off, float v) {
  char *p = (char *)data;
  uint16_t h;
  switch (dt) {
    case TIRRT_DTYPE_F16: h = tirrt_float_to_half(v); memcpy(p + off * 2, &h, 2); break;
    case TIRRT_DTYPE_BF16: h = tirrt_float_to_bf16(v); memcpy(p + off * 2, &h, 2); break;
    default: memcpy(p + off * 4, &v, 4); break;
  }
}
static void store_d(void *data, tirrt_dtype_t dt, int64_t off, double v) {
  (void)dt;
  memcpy((char *)data + off * 8, &v, 8);
}

/* ------------------------------------------------------------ the problem */

enum { T_Q, T_K, T_V, T_MASK, T_OUT, T_LSE, T_COUNT };
enum { MASK_NONE, MASK_BOOL, MASK_FLOAT };

/* Everything the typed kernels need, with every tensor's strides expressed
 * over the same normalized index space: batch dims (broadcast), head, row,
 * column.  A broadcast dim has stride 0. */
typedef struct {
  int32_t nbd; /* number of batch dims */
  int64_t bshape[TIRRT_MAX_RANK];
  int64_t bstride[T_COUNT][TIRRT_MAX_RANK];
  int64_t hs[T_COUNT], rs[T_COUNT], cs[T_COUNT]; /* head, row, column strides */
  int64_t Hq, Hk, L, S, E, Ev, Evp, group, nkb;
  const tirrt_view_t *t[T_COUNT]; /* mask and lse may be NULL */
  int mask_kind;
  double mask_thresh; /* a float mask value <= this is "masked" */
  double scale, p, dscale;
  bool causal;
  int64_t causal_off; /* key j is visible to row i iff j <= i + causal_off */
  int64_t window;     /* > 0: and iff j > i + causal_off - window */
  double softcap;     /* > 0: s = softcap * tanh(s / softcap) after the scale */
  uint64_t seed, stream;
} sdpa_t;

/* Keep flags for keys [j0, j0 + n) of the probability row whose first
 * element has row-major index `base`: the rule of tirrt_dropout_keep
 * (cpu_random.c), drawing one Philox block per four elements. */
static void dropout_row(const sdpa_t *c, uint64_t base, int64_t n, uint8_t *keep) {
  uint32_t w[4];
  uint64_t have = UINT64_MAX;
  for (int64_t t = 0; t < n; t++) {
    uint64_t index = base + (uint64_t)t;
    if (index / 4 != have) {
      have = index / 4;
      tirrt_philox4x32(c->seed, c->stream, have, w);
    }
    keep[t] = (double)(w[index % 4] >> 8) * 0x1p-24 >= c->p;
  }
}

/* ------------------------------------------------------------ typed kernels */
/* SDPA_TYPED(T, SFX, EXP, LOG, STORE) defines kv_SFX, which converts the K
 * and V of one kv head of one batch element, and qblock_SFX, which runs one
 * block of query rows of one query head against them.  `off` holds each
 * tensor's element offset for that batch element.
 *
 * Scratch (all T):
 *   kt  [nkb][E][BN]  K transposed per key block, zero-padded past S  } per kv head,
 *   vs  [S][Evp]      V, value dim zero-padded to Evp                 } shared
 *   qs  [BM][E]       the current query block                         } per thread
 *   s   [BM][BN]      scores, then probabilities, of one key block    }
 *   acc [BM][Evp]     unnormalized output rows                        }
 *   m, l [BM]         running max and sum of exp(s - m)               }
 * K and V are converted once per kv head and shared by the group's query
 * heads (GQA) and all query blocks. */
#define SDPA_TYPED(T, SFX, EXP, LOG, TANH, STORE)                                                    \
  static void qk_block_##SFX(const T *restrict qs, const T *restrict kt, int64_t E, int64_t bm,  \
                             T *restrict s) {                                                    \
    /* s[r][j] = sum_e q[r][e] * k[j][e]; rows in pairs so each K load serves two. */            \
    int64_t r = 0;                                                                               \
    for (; r + 2 <= bm; r += 2) {                                                                \
      T *restrict s0 = s + r * SDPA_BN, *restrict s1 = s0 + SDPA_BN;                             \
      const T *q0 = qs + r * E, *q1 = q0 + E;                                                    \
      for (int j = 0; j < SDPA_BN; j++) s0[j] = s1[j] = 0;                                       \
      for (int64_t e = 0; e < E; e++) {                                                          \
        const T a0 = q0[e], a1 = q1[e];                                                          \
        const T *restrict kr = kt + e * SDPA_BN;                                                 \
        for (int j = 0; j < SDPA_BN; j++) {                                                      \
          s0[j] += a0 * kr[j];                                                                   \
          s1[j] += a1 * kr[j];                                                                   \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
    for (; r < bm; r++) {                                                                        \
      T *restrict s0 = s + r * SDPA_BN;                                                          \
      const T *q0 = qs + r * E;                                                                  \
      for (int j = 0; j < SDPA_BN; j++) s0[j] = 0;                                               \
      for (int64_t e = 0; e < E; e++) {                                                          \
        const T a0 = q0[e];                                                                      \
        const T *restrict kr = kt + e * SDPA_BN;                                                 \
        for (int j = 0; j < SDPA_BN; j++) s0[j] += a0 * kr[j];                                   \
      }                                                                                          \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  /* acc[0..Evp) += p * v[0..Evp); Evp is a multiple of SDPA_VPAD, and the fixed inner trip      \
   * count lets the compiler vectorize without a remainder loop. */                              \
  static void axpy_##SFX(T p, const T *restrict v, int64_t Evp, T *restrict acc) {               \
    for (int64_t c0 = 0; c0 < Evp; c0 += SDPA_VPAD)                                              \
      for (int t = 0; t < SDPA_VPAD; t++) acc[c0 + t] += p * v[c0 + t];                          \
  }                                                                                              \
                                                                                                 \
  /* Converts K (transposed per block) and V of kv head `g` into kt and vs. */                   \
  static void kv_##SFX(const sdpa_t *c, const int64_t *off, int64_t g, T *kt, T *vs) {           \
    const int64_t E = c->E, Ev = c->Ev, Evp = c->Evp, S = c->S;                                  \
    const tirrt_view_t *k = c->t[T_K], *v = c->t[T_V];                                           \
    for (int64_t kb = 0; kb < c->nkb; kb++) {                                                    \
      T *tile = kt + kb * E * SDPA_BN;                                                           \
      for (int64_t jj = 0; jj < SDPA_BN; jj++) {                                                 \
        int64_t j = kb * SDPA_BN + jj;                                                           \
        int64_t ko = off[T_K] + g * c->hs[T_K] + j * c->rs[T_K];                                 \
        for (int64_t e = 0; e < E; e++)                                                          \
          tile[e * SDPA_BN + jj] = j < S ? (T)load_real(k->data, k->dtype, ko + e * c->cs[T_K])  \
                                         : (T)0;                                                 \
      }                                                                                          \
    }                                                                                            \
    for (int64_t j = 0; j < S; j++) {                                                            \
      int64_t vo = off[T_V] + g * c->hs[T_V] + j * c->rs[T_V];                                   \
      for (int64_t e = 0; e < Evp; e++)                                                          \
        vs[j * Evp + e] = e < Ev ? (T)load_real(v->data, v->dtype, vo + e * c->cs[T_V]) : (T)0;  \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  /* Query rows [i0, i0 + SDPA_BM) of query head h against the converted K/V of its kv head;     \
   * w is this thread's scratch (qs, s, acc, m, l).  The unit of parallel work. */               \
  static void qblock_##SFX(const sdpa_t *c, uint64_t bflat, const int64_t *off, int64_t h,       \
                           int64_t i0, const T *kt, const T *vs, void *w, uint8_t *keep) {       \
    const int64_t E = c->E, Ev = c->Ev, Evp = c->Evp, S = c->S, L = c->L;                        \
    T *qs = (T *)w, *s = qs + SDPA_BM * E, *acc = s + SDPA_BM * SDPA_BN;                         \
    T *m = acc + SDPA_BM * Evp, *l = m + SDPA_BM;                                                \
    const tirrt_view_t *q = c->t[T_Q], *mask = c->t[T_MASK], *out = c->t[T_OUT];                 \
    const tirrt_view_t *lse = c->t[T_LSE];                                                       \
    const T NEG_INF = -(T)INFINITY;                                                              \
    const T scale = (T)c->scale, dscale = (T)c->dscale;                                          \
    const int64_t bm = L - i0 < SDPA_BM ? L - i0 : SDPA_BM;                                      \
    for (int64_t r = 0; r < bm; r++) {                                                           \
      int64_t qo = off[T_Q] + h * c->hs[T_Q] + (i0 + r) * c->rs[T_Q];                            \
      for (int64_t e = 0; e < E; e++)                                                            \
        qs[r * E + e] = (T)load_real(q->data, q->dtype, qo + e * c->cs[T_Q]);                    \
      m[r] = NEG_INF;                                                                            \
      l[r] = 0;                                                                                  \
    }                                                                                            \
    memset(acc, 0, sizeof(T) * (size_t)(bm * Evp));                                              \
    /* Causal: the block's last row sees keys j < i0 + bm + causal_off; later key blocks         \
     * are entirely above the diagonal and are skipped. */                                       \
    int64_t kend = S;                                                                            \
    if (c->causal && i0 + bm + c->causal_off < kend) kend = i0 + bm + c->causal_off;             \
    /* Window: the block's first row sees keys j > i0 + causal_off - window; key blocks         \
     * entirely before that are skipped (block starts stay multiples of SDPA_BN). */             \
    int64_t kbeg = 0;                                                                            \
    if (c->window > 0 && i0 + c->causal_off - c->window + 1 > 0)                                 \
      kbeg = (i0 + c->causal_off - c->window + 1) / SDPA_BN * SDPA_BN;                           \
    const T cap = (T)c->softcap;                                                                 \
    for (int64_t j0 = kbeg; j0 < kend; j0 += SDPA_BN) {                                          \
      const int64_t nb = kend - j0 < SDPA_BN ? kend - j0 : SDPA_BN;                              \
      qk_block_##SFX(qs, kt + (j0 / SDPA_BN) * E * SDPA_BN, E, bm, s);                           \
      for (int64_t r = 0; r < bm; r++) {                                                         \
        const int64_t i = i0 + r;                                                                \
        T *sr = s + r * SDPA_BN;                                                                 \
        int64_t lim = nb; /* keys [j0, j0 + lim) pass the causal test */                         \
        if (c->causal && i + c->causal_off + 1 - j0 < lim) lim = i + c->causal_off + 1 - j0;     \
        if (lim < 0) lim = 0;                                                                    \
        /* Window: keys j <= i + causal_off - window, i.e. [j0, j0 + lo), are not visible;     \
         * the mask is not read there (its value does not matter where nothing attends). */    \
        int64_t lo = 0;                                                                          \
        if (c->window > 0) lo = i + c->causal_off - c->window + 1 - j0;                          \
        if (lo < 0) lo = 0;                                                                      \
        if (lo > lim) lo = lim;                                                                  \
        if (cap > 0)                                                                             \
          for (int64_t jj = lo; jj < lim; jj++) sr[jj] = cap * TANH(sr[jj] * scale / cap);       \
        else                                                                                     \
          for (int64_t jj = lo; jj < lim; jj++) sr[jj] *= scale;                                 \
        for (int64_t jj = 0; jj < lo; jj++) sr[jj] = NEG_INF;                                    \
        for (int64_t jj = lim; jj < nb; jj++) sr[jj] = NEG_INF;                                  \
        if (c->mask_kind != MASK_NONE && lim > lo) {                                             \
          const int64_t mo = off[T_MASK] + h * c->hs[T_MASK] + i * c->rs[T_MASK] +               \
                             j0 * c->cs[T_MASK];                                                 \
          const int64_t mcs = c->cs[T_MASK];                                                     \
          if (c->mask_kind == MASK_BOOL) {                                                       \
            const uint8_t *mb = (const uint8_t *)mask->data + mo;                                \
            for (int64_t jj = lo; jj < lim; jj++)                                                \
              if (!mb[jj * mcs]) sr[jj] = NEG_INF;                                               \
          } else {                                                                               \
            for (int64_t jj = lo; jj < lim; jj++) {                                              \
              double mv = load_real(mask->data, mask->dtype, mo + jj * mcs);                     \
              sr[jj] = mv <= c->mask_thresh ? NEG_INF : sr[jj] + (T)mv;                          \
            }                                                                                    \
          }                                                                                      \
        }                                                                                        \
        /* Online softmax: m is the running max, l the running sum of exp(s - m), and acc        \
         * is rescaled by exp(m_old - m_new) whenever the max grows.  Masked scores are          \
         * -inf, so they give exp(-inf) = 0; a row with nothing visible yet keeps                \
         * m = -inf and is skipped, so no (-inf) - (-inf) = NaN ever forms. */                   \
        T mx = NEG_INF; /* NaN scores win the max, so NaN inputs give NaN, not 0 */              \
        for (int64_t jj = 0; jj < lim; jj++)                                                     \
          if (sr[jj] > mx || sr[jj] != sr[jj]) mx = sr[jj];                                      \
        const T mnew = mx > m[r] || mx != mx ? mx : m[r];                                        \
        if (mnew == NEG_INF) {                                                                   \
          for (int64_t jj = 0; jj < nb; jj++) sr[jj] = 0;                                        \
          continue;                                                                              \
        }                                                                                        \
        const T alpha = EXP(m[r] - mnew); /* 0 when m was -inf */                                \
        T sum = 0;                                                                               \
        for (int64_t jj = 0; jj < lim; jj++) {                                                   \
          T pj = EXP(sr[jj] - mnew);                                                             \
          sr[jj] = pj;                                                                           \
          sum += pj;                                                                             \
        }                                                                                        \
        for (int64_t jj = lim; jj < nb; jj++) sr[jj] = 0;                                        \
        l[r] = l[r] * alpha + sum;                                                               \
        m[r] = mnew;                                                                             \
        if (alpha != 1) {                                                                        \
          T *ar = acc + r * Evp;                                                                 \
          for (int64_t e = 0; e < Evp; e++) ar[e] *= alpha;                                      \
        }                                                                                        \
        /* Dropout acts on the normalized probabilities p / l_final; since the output is         \
         * acc / l_final, dropping or scaling p here is the same, while l keeps the sum of       \
         * the un-dropped probabilities. */                                                      \
        if (c->p > 0) {                                                                          \
          uint64_t base = (((bflat * (uint64_t)c->Hq + (uint64_t)h) * (uint64_t)L +              \
                            (uint64_t)i) *                                                       \
                           (uint64_t)S) +                                                        \
                          (uint64_t)j0;                                                          \
          dropout_row(c, base, lim, keep);                                                       \
          for (int64_t jj = 0; jj < lim; jj++) sr[jj] = keep[jj] ? sr[jj] * dscale : 0;          \
        }                                                                                        \
      }                                                                                          \
      /* acc += P V over the block (zero probabilities are skipped). */                          \
      for (int64_t r = 0; r < bm; r++) {                                                         \
        const T *sr = s + r * SDPA_BN;                                                           \
        T *ar = acc + r * Evp;                                                                   \
        for (int64_t jj = 0; jj < nb; jj++)                                                      \
          if (sr[jj] != 0) axpy_##SFX(sr[jj], vs + (j0 + jj) * Evp, Evp, ar);                    \
      }                                                                                          \
    }                                                                                            \
    /* out = acc / l; a row that saw no key (l = 0) gives 0 and lse = -inf. */                   \
    for (int64_t r = 0; r < bm; r++) {                                                           \
      const int64_t i = i0 + r;                                                                  \
      const int64_t oo = off[T_OUT] + h * c->hs[T_OUT] + i * c->rs[T_OUT];                       \
      const T *ar = acc + r * Evp;                                                               \
      for (int64_t e = 0; e < Ev; e++)                                                           \
        STORE(out->data, out->dtype, oo + e * c->cs[T_OUT], l[r] == 0 ? (T)0 : ar[e] / l[r]);    \
      if (lse) {                                                                                 \
        float lv = l[r] == 0 ? -INFINITY : (float)(m[r] + LOG(l[r]));                            \
        int64_t lo = off[T_LSE] + h * c->hs[T_LSE] + i * c->rs[T_LSE];                           \
        memcpy((char *)lse->data + lo * 4, &lv, 4);                                              \
      }                                                                                          \
    }                                                                                            \
  }

SDPA_TYPED(float, f32, expf, logf, tanhf, store_f)
SDPA_TYPED(double, f64, exp, log, tanh, store_d)

/* ------------------------------------------------------------ validation and driver */

static bool is_float(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

static tirrt_status_t bad(const char *what, const tirrt_view_t *a) {
  char sh[TIRRT_SHAPE_STR_MAX];
  tirrt_format_shape(a->shape, a->rank < 0 ? 0 : a->rank > TIRRT_MAX_RANK ? TIRRT_MAX_RANK : a->rank,
                     sh, sizeof sh);
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "sdpa: %s (%s%s)", what,
                           tirrt_dtype_name(a->dtype), sh);
}

/* Right-aligns the batch dims (all but the last `tail`) of `a` to the
 * broadcast batch shape, filling c->bstride[which]; dims of size 1 and
 * missing leading dims broadcast with stride 0. */
static bool align_batch(sdpa_t *c, int which, const tirrt_view_t *a, int32_t tail) {
  int32_t anb = a->rank - tail;
  for (int32_t d = 0; d < c->nbd; d++) {
    int32_t ad = d - (c->nbd - anb);
    if (ad < 0 || a->shape[ad] == 1) {
      c->bstride[which][d] = 0;
    } else if (a->shape[ad] == c->bshape[d]) {
      c->bstride[which][d] = a->strides[ad];
    } else {
      return false;
    }
  }
  return true;
}

tirrt_status_t tirrt_cpu_sdpa(const tirrt_view_t *q, const tirrt_view_t *k, const tirrt_view_t *v,
                              const tirrt_view_t *mask, const tirrt_sdpa_params_t *params,
                              const tirrt_view_t *out, const tirrt_view_t *lse) {
  if (!q || !k || !v || !params || !out)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "sdpa: NULL argument");
  const tirrt_view_t *ts[T_COUNT] = {q, k, v, mask, out, lse};
  for (int t = 0; t < T_COUNT; t++) {
    if (!ts[t]) continue;
    if (ts[t]->rank < 0 || ts[t]->rank > TIRRT_MAX_RANK)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "sdpa: bad rank %d",
                               (int)ts[t]->rank);
    for (int32_t d = 0; d < ts[t]->rank; d++)
      if (ts[t]->shape[d] < 0) return bad("negative dimension", ts[t]);
  }
  if (!is_float(q->dtype)) return bad("q must have a float dtype", q);
  if (k->dtype != q->dtype) return bad("k's dtype differs from q's", k);
  if (v->dtype != q->dtype) return bad("v's dtype differs from q's", v);
  if (out->dtype != q->dtype) return bad("out's dtype differs from q's", out);
  if (q->rank < 3) return bad("q must have rank >= 3 ([..., H, L, E])", q);
  if (k->rank < 3) return bad("k must have rank >= 3 ([..., H, S, E])", k);
  if (v->rank < 3) return bad("v must have rank >= 3 ([..., H, S, Ev])", v);

  sdpa_t c;
  memset(&c, 0, sizeof c);
  int32_t R = q->rank > k->rank ? q->rank : k->rank;
  if (v->rank > R) R = v->rank;
  c.nbd = R - 3;
  c.Hq = q->shape[q->rank - 3];
  c.L = q->shape[q->rank - 2];
  c.E = q->shape[q->rank - 1];
  c.Hk = k->shape[k->rank - 3];
  c.S = k->shape[k->rank - 2];
  c.Ev = v->shape[v->rank - 1];
  if (k->shape[k->rank - 1] != c.E) return bad("k's head dim differs from q's", k);
  if (v->shape[v->rank - 2] != c.S) return bad("v's length differs from k's", v);
  if (v->shape[v->rank - 3] != c.Hk) return bad("v's head count differs from k's", v);
  if (c.Hq != c.Hk) {
    if (!params->enable_gqa) return bad("q's head count differs from k's and enable_gqa is off", q);
    if (c.Hk == 0 || c.Hq % c.Hk != 0)
      return bad("q's head count is not a multiple of k's (enable_gqa)", q);
  }
  c.group = c.Hk == 0 ? 1 : c.Hq / c.Hk;

  /* Broadcast batch shape of q, k, v. */
  for (int32_t d = 0; d < c.nbd; d++) c.bshape[d] = 1;
  const tirrt_view_t *qkv[3] = {q, k, v};
  for (int t = 0; t < 3; t++) {
    const tirrt_view_t *a = qkv[t];
    int32_t anb = a->rank - 3;
    for (int32_t ad = 0; ad < anb; ad++) {
      int32_t d = ad + (c.nbd - anb);
      int64_t n = a->shape[ad];
      if (n == 1) continue;
      if (c.bshape[d] != 1 && c.bshape[d] != n) return bad("batch dims do not broadcast", a);
      c.bshape[d] = n;
    }
  }
  for (int t = 0; t < 3; t++) {
    align_batch(&c, t, qkv[t], 3);
    const tirrt_view_t *a = qkv[t];
    c.hs[t] = a->strides[a->rank - 3];
    c.rs[t] = a->strides[a->rank - 2];
    c.cs[t] = a->strides[a->rank - 1];
  }

  /* out is exactly [batch..., Hq, L, Ev]; lse [batch..., Hq, L] in f32. */
  bool out_ok = out->rank == R && out->shape[R - 3] == c.Hq && out->shape[R - 2] == c.L &&
                out->shape[R - 1] == c.Ev;
  for (int32_t d = 0; out_ok && d < c.nbd; d++) out_ok = out->shape[d] == c.bshape[d];
  if (!out_ok) return bad("out's shape is not [batch..., Hq, L, Ev]", out);
  memcpy(c.bstride[T_OUT], out->strides, sizeof(int64_t) * (size_t)c.nbd);
  c.hs[T_OUT] = out->strides[R - 3];
  c.rs[T_OUT] = out->strides[R - 2];
  c.cs[T_OUT] = out->strides[R - 1];
  if (lse) {
    if (lse->dtype != TIRRT_DTYPE_F32) return bad("lse must be f32", lse);
    bool ok = lse->rank == R - 1 && lse->shape[R - 3] == c.Hq && lse->shape[R - 2] == c.L;
    for (int32_t d = 0; ok && d < c.nbd; d++) ok = lse->shape[d] == c.bshape[d];
    if (!ok) return bad("lse's shape is not [batch..., Hq, L]", lse);
    memcpy(c.bstride[T_LSE], lse->strides, sizeof(int64_t) * (size_t)c.nbd);
    c.hs[T_LSE] = lse->strides[R - 3];
    c.rs[T_LSE] = lse->strides[R - 2];
  }

  /* The mask broadcasts to [batch..., Hq, L, S]. */
  c.mask_kind = MASK_NONE;
  if (mask) {
    if (mask->dtype == TIRRT_DTYPE_BOOL) {
      c.mask_kind = MASK_BOOL;
    } else if (is_float(mask->dtype)) {
      c.mask_kind = MASK_FLOAT;
      /* Spec §5: at or below -1e30, or at the dtype's lowest finite value,
       * means masked.  Only f16's lowest (-65504) lies above -1e30. */
      c.mask_thresh = mask->dtype == TIRRT_DTYPE_F16 ? -65504.0 : -1e30;
      if (params->exact_mask) c.mask_thresh = -INFINITY; /* exact_mask: only -inf masks */
    } else {
      return bad("mask must be bool or float", mask);
    }
    if (mask->rank > R) return bad("mask has more dims than the scores", mask);
    const int64_t want[3] = {c.Hq, c.L, c.S};
    int64_t *dst[3] = {&c.hs[T_MASK], &c.rs[T_MASK], &c.cs[T_MASK]};
    for (int t = 0; t < 3; t++) {
      int32_t md = mask->rank - 3 + t;
      if (md < 0 || mask->shape[md] == 1) *dst[t] = 0;
      else if (mask->shape[md] == want[t]) *dst[t] = mask->strides[md];
      else return bad("mask does not broadcast to [batch..., Hq, L, S]", mask);
    }
    if (mask->rank > 3 && !align_batch(&c, T_MASK, mask, 3))
      return bad("mask does not broadcast to [batch..., Hq, L, S]", mask);
  }

  if (!(params->dropout_p >= 0))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "sdpa: dropout_p=%g < 0",
                             params->dropout_p);
  if (!isfinite(params->scale))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "sdpa: scale=%g is not finite",
                             params->scale);
  c.scale = params->scale;
  c.p = params->dropout_p;
  c.dscale = c.p < 1 ? 1.0 / (1.0 - c.p) : 0.0; /* p >= 1 drops everything (no 1/0) */
  c.causal = params->is_causal;
  c.causal_off = params->bottom_right ? c.S - c.L : 0;
  if (params->window < 0) return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "sdpa: window < 0");
  if (!(params->softcap >= 0) || !isfinite(params->softcap))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "sdpa: softcap=%g", params->softcap);
  c.window = params->window;
  c.softcap = params->softcap;
  c.seed = params->seed;
  c.stream = params->stream;
  for (int t = 0; t < T_COUNT; t++) c.t[t] = ts[t];

  /* Nothing to compute for empty outputs. */
  int64_t nbatch = 1;
  for (int32_t d = 0; d < c.nbd; d++)
    if (!tirrt_mul_nonneg(nbatch, c.bshape[d], &nbatch)) return bad("batch too large", out);
  if (nbatch == 0 || c.Hq == 0 || c.L == 0 || c.Ev == 0) return NULL;
  /* Only a tensor with elements needs data: with no keys (S = 0) every row
   * attends to nothing and is 0, with E = 0 every score is 0. */
  for (int t = 0; t < T_COUNT; t++)
    if (ts[t] && !ts[t]->data && tirrt_view_numel(ts[t]) > 0) return bad("NULL data", ts[t]);

  /* Scratch (see SDPA_TYPED): K/V of every kv head of one batch element,
   * shared by all threads, then a (qs, s, acc, m, l) block per thread.
   * Sizes are checked for overflow. */
  c.Evp = (c.Ev + SDPA_VPAD - 1) / SDPA_VPAD * SDPA_VPAD;
  c.nkb = (c.S + SDPA_BN - 1) / SDPA_BN;
  size_t tsz = q->dtype == TIRRT_DTYPE_F64 ? sizeof(double) : sizeof(float);
  const int nthreads = tirrt_max_threads();
  int64_t n_kt, n_vs, n_q, n_acc, n_kv, n_all_kv, n_th, n_all_th, total;
  if (!tirrt_mul_nonneg(c.nkb * SDPA_BN, c.E, &n_kt) || !tirrt_mul_nonneg(c.S, c.Evp, &n_vs) ||
      !tirrt_mul_nonneg(SDPA_BM, c.E, &n_q) || !tirrt_mul_nonneg(SDPA_BM, c.Evp, &n_acc) ||
      n_kt > INT64_MAX / 4 || n_vs > INT64_MAX / 4 || n_q > INT64_MAX / 4 ||
      n_acc > INT64_MAX / 4 || !tirrt_mul_nonneg(n_kt + n_vs, c.Hk, &n_all_kv) ||
      !tirrt_mul_nonneg(n_q + n_acc + SDPA_BM * SDPA_BN + 2 * SDPA_BM, nthreads, &n_all_th) ||
      n_all_kv > INT64_MAX / 2 || n_all_th > INT64_MAX / 2 ||
      !tirrt_mul_nonneg(n_all_kv + n_all_th, (int64_t)tsz, &total) || (uint64_t)total > SIZE_MAX)
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY, "sdpa: scratch size overflows");
  n_kv = n_kt + n_vs;
  n_th = n_q + n_acc + SDPA_BM * SDPA_BN + 2 * SDPA_BM;
  char *scratch = malloc((size_t)total);
  if (!scratch) return tirrt_oom_status();
  char *thread_scratch = scratch + (size_t)n_all_kv * tsz;

  /* Walk the broadcast batch dims with a multi-index, keeping each tensor's
   * offset.  Per batch element the threads first convert K/V of every kv
   * head, then share out (query head, query block) units; every unit is
   * the same computation in the same order as with one thread, so the
   * result does not depend on the thread count. */
  const int64_t nqb = (c.L + SDPA_BM - 1) / SDPA_BM, units = c.Hq * nqb;
  const bool par = units > 1 && (double)units * SDPA_BM * (double)c.S * (double)(c.E + c.Ev) >=
                                    (double)TIRRT_PAR_MIN_WORK;
  int64_t idx[TIRRT_MAX_RANK] = {0}, off[T_COUNT] = {0};
  for (int64_t b = 0; b < nbatch; b++) {
    TIRRT_OMP("omp parallel if(par)")
    {
      void *tw = thread_scratch + (size_t)tirrt_thread_num() * (size_t)n_th * tsz;
      uint8_t keep[SDPA_BN];
      TIRRT_OMP("omp for schedule(static)")
      for (int64_t g = 0; g < c.Hk; g++) {
        void *kv = scratch + (size_t)(g * n_kv) * tsz;
        if (tsz == sizeof(double))
          kv_f64(&c, off, g, kv, (double *)kv + n_kt);
        else
          kv_f32(&c, off, g, kv, (float *)kv + n_kt);
      }
      /* (the implicit barrier above: all K/V are converted) */
      TIRRT_OMP("omp for schedule(dynamic, 1)")
      for (int64_t u = 0; u < units; u++) {
        const int64_t h = u / nqb, i0 = u % nqb * SDPA_BM;
        const void *kv = scratch + (size_t)(h / c.group * n_kv) * tsz;
        if (tsz == sizeof(double))
          qblock_f64(&c, (uint64_t)b, off, h, i0, kv, (const double *)kv + n_kt, tw, keep);
        else
          qblock_f32(&c, (uint64_t)b, off, h, i0, kv, (const float *)kv + n_kt, tw, keep);
      }
    }
    for (int32_t d = c.nbd - 1; d >= 0; d--) {
      for (int t = 0; t < T_COUNT; t++) off[t] += c.bstride[t][d];
      if (++idx[d] < c.bshape[d]) break;
      for (int t = 0; t < T_COUNT; t++) off[t] -= c.bstride[t][d] * c.bshape[d];
      idx[d] = 0;
    }
  }
  free(scratch);
  return NULL;
}
