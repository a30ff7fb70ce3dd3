/* test_cpu_sdpa.c — unit tests for the CPU attention kernel (tirrt_cpu_sdpa)
 * and the runtime's randomness (Philox-4x32-10, tirrt_dropout_keep,
 * tirrt_cpu_dropout).  Attention is compared against an unfused float64
 * reference written here (scores materialized, softmax with the
 * fully-masked-row-gives-0 rule, P @ V) on fresh random data; the seed is
 * printed and can be replayed with `test_cpu_sdpa --seed=N`.  `--small`
 * skips the large cases and the timing (for valgrind).  The last line is
 * "N passed, M failed". */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "tirrt_cpu.h"

#define CHECKF(cond, ...)                            \
  do {                                               \
    if (cond) {                                      \
      passed++;                                      \
    } else {                                         \
      failed++;                                      \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);    \
      printf(__VA_ARGS__);                           \
      printf("\n");                                  \
    }                                                \
  } while (0)

/* ------------------------------------------------------------ random data */

static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1p-53; }
static double rng_normal(void) {
  double u = rng_uniform(), w = rng_uniform();
  return sqrt(-2.0 * log(u + 0x1p-60)) * cos(6.283185307179586 * w);
}
static int64_t rng_int(int64_t lo, int64_t hi) { /* inclusive */
  return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

/* ------------------------------------------------------------ f16 / bf16 (independent of the runtime's) */

static double f16_decode(uint16_t h) {
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0) return s * ldexp(m, -24);
  if (e == 31) return m ? NAN : s * INFINITY;
  return s * ldexp(1024 + m, e - 25);
}
static double bf16_decode(uint16_t h) {
  uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}
/* Nearest representable value with ties to even, by binary search over the
 * ordered positive encodings (a deliberately different method from the
 * runtime's bit manipulation).  `maxenc` is the encoding of +inf. */
static uint16_t nearest16(double x, double (*dec)(uint16_t), uint16_t maxenc) {
  if (isnan(x)) return maxenc | 1;
  uint16_t sign = signbit(x) ? 0x8000 : 0;
  double a = fabs(x);
  uint16_t lo = 0, hi = maxenc; /* dec(lo) <= a < dec(hi) invariant after the clamp */
  if (a >= dec(maxenc)) return sign | maxenc;
  while (hi - lo > 1) {
    uint16_t mid = (uint16_t)((lo + hi) / 2);
    if (dec(mid) <= a) lo = mid;
    else hi = mid;
  }
  /* Past the largest finite value, inf counts as the next step of the top
   * binade (65536 for f16, 2^128 for bf16), as IEEE rounding prescribes. */
  double top = hi == maxenc ? 2 * dec((uint16_t)(maxenc - 1)) - dec((uint16_t)(maxenc - 2))
                            : dec(hi);
  double dl = a - dec(lo), dh = top - a;
  uint16_t r = dl < dh ? lo : dh < dl ? hi : (lo & 1) ? hi : lo;
  return sign | r;
}
static uint16_t f16_encode(double x) { return nearest16(x, f16_decode, 0x7c00); }
static uint16_t bf16_encode(double x) { return nearest16(x, bf16_decode, 0x7f80); }

/* ------------------------------------------------------------ test tensors */

typedef struct {
  tirrt_view_t v;
  void *buf;
  size_t nbytes;
} tens_t;

static size_t dsize(tirrt_dtype_t dt) { return tirrt_dtype_size(dt); }

/* A tensor of `shape` whose storage orders the dims as `perm` (perm[0]
 * outermost; NULL = row-major) and pads the innermost stored dim by `pad`
 * elements, so the view can be non-contiguous in every way the tests need. */
static tens_t tens_make(tirrt_dtype_t dt, int rank, const int64_t *shape, const int *perm, int pad) {
  tens_t t;
  memset(&t, 0, sizeof t);
  t.v.dtype = dt;
  t.v.rank = rank;
  int order[TIRRT_MAX_RANK];
  for (int d = 0; d < rank; d++) order[d] = perm ? perm[d] : d;
  int64_t stride = 1, total = 1;
  for (int p = rank - 1; p >= 0; p--) {
    int d = order[p];
    t.v.shape[d] = shape[d];
    t.v.strides[d] = stride;
    int64_t ext = shape[d] + (p == rank - 1 ? pad : 0);
    stride *= ext;
    total *= ext;
  }
  t.nbytes = (size_t)total * dsize(dt) + 8;
  t.buf = malloc(t.nbytes);
  memset(t.buf, 0xA5, t.nbytes); /* the gap sentinel */
  t.v.data = t.buf;
  return t;
}
static void tens_free(tens_t *t) { free(t->buf); }

static int64_t numel_of(const tirrt_view_t *v) {
  int64_t n = 1;
  for (int d = 0; d < v->rank; d++) n *= v->shape[d];
  return n;
}
/* Row-major index -> element offset in the view. */
static int64_t view_off(const tirrt_view_t *v, int64_t flat) {
  int64_t off = 0;
  for (int d = v->rank - 1; d >= 0; d--) {
    int64_t n = v->shape[d];
    off += (flat % n) * v->strides[d];
    flat /= n;
  }
  return off;
}
static double get_off(const tirrt_view_t *v, int64_t off) {
  const char *p = (const char *)v->data + off * (int64_t)dsize(v->dtype);
  uint16_t h;
  float f;
  double d;
  switch (v->dtype) {
    case TIRRT_DTYPE_BOOL: return *(const uint8_t *)p;
    case TIRRT_DTYPE_F16: memcpy(&h, p, 2); return f16_decode(h);
    case TIRRT_DTYPE_BF16: memcpy(&h, p, 2); return bf16_decode(h);
    case TIRRT_DTYPE_F32: memcpy(&f, p, 4); return f;
    default: memcpy(&d, p, 8); return d;
  }
}
static void set_off(const tirrt_view_t *v, int64_t off, double x) {
  char *p = (char *)v->data + off * (int64_t)dsize(v->dtype);
  uint16_t h;
  float f;
  switch (v->dtype) {
    case TIRRT_DTYPE_BOOL: *(uint8_t *)p = x != 0; break;
    case TIRRT_DTYPE_F16: h = f16_encode(x); memcpy(p, &h, 2); break;
    case TIRRT_DTYPE_BF16: h = bf16_encode(x); memcpy(p, &h, 2); break;
    case TIRRT_DTYPE_F32: f = (float)x; memcpy(p, &f, 4); break;
    default: memcpy(p, &x, 8); break;
  }
}
/* Element at a full index of a broadcast space of rank R (right-aligned;
 * dims of size 1 read index 0). */
static int64_t bcast_off(const tirrt_view_t *v, int R, const int64_t *idx) {
  int64_t off = 0;
  for (int d = 0; d < v->rank; d++) {
    int64_t i = idx[d + (R - v->rank)];
    off += (v->shape[d] == 1 ? 0 : i) * v->strides[d];
  }
  return off;
}
/* Fills every element of the view (through the view: gaps keep their
 * sentinel) with 0xFF bytes, a NaN in every float dtype. */
static void poison(const tirrt_view_t *v) {
  int64_t n = numel_of(v);
  size_t es = dsize(v->dtype);
  for (int64_t f = 0; f < n; f++) memset((char *)v->data + view_off(v, f) * (int64_t)es, 0xFF, es);
}
/* True when every byte of the buffer outside the view is still 0xA5. */
static bool gaps_intact(const tens_t *t) {
  size_t es = dsize(t->v.dtype);
  uint8_t *inview = calloc(t->nbytes, 1);
  int64_t n = numel_of(&t->v);
  for (int64_t f = 0; f < n; f++) memset(inview + view_off(&t->v, f) * (int64_t)es, 1, es);
  bool ok = true;
  for (size_t i = 0; i < t->nbytes; i++)
    if (!inview[i] && ((uint8_t *)t->buf)[i] != 0xA5) ok = false;
  free(inview);
  return ok;
}

/* ------------------------------------------------------------ the reference */

static double dtype_lowest(tirrt_dtype_t dt) {
  switch (dt) {
    case TIRRT_DTYPE_F16: return -65504.0;
    case TIRRT_DTYPE_BF16: return -0x1.fep127;
    case TIRRT_DTYPE_F32: return -FLT_MAX;
    default: return -DBL_MAX;
  }
}

/* Unfused attention in float64 on the values the kernel sees.  For each
 * (batch..., h, i) it materializes the whole score row, then softmax, then
 * dropout with tirrt_dropout_keep on the normalized probabilities, then
 * P @ V.  out is [batch..., Hq, L, Ev] row-major, lse [batch..., Hq, L];
 * `dead` marks fully masked rows. */
static void ref_sdpa(const tirrt_view_t *q, const tirrt_view_t *k, const tirrt_view_t *v,
                     const tirrt_view_t *mask, const tirrt_sdpa_params_t *pr, int R,
                     const int64_t *bshape, double *out, double *lse, uint8_t *dead) {
  int64_t Hq = q->shape[q->rank - 3], L = q->shape[q->rank - 2], E = q->shape[q->rank - 1];
  int64_t Hk = k->shape[k->rank - 3], S = k->shape[k->rank - 2], Ev = v->shape[v->rank - 1];
  int64_t nb = 1;
  for (int d = 0; d < R - 3; d++) nb *= bshape[d];
  double *s = malloc(sizeof(double) * (size_t)(S + 1));
  uint8_t *ok = malloc((size_t)S + 1);
  int64_t idx[TIRRT_MAX_RANK];
  int64_t off = pr->bottom_right ? S - L : 0;
  for (int64_t b = 0; b < nb; b++) {
    int64_t rem = b;
    for (int d = R - 4; d >= 0; d--) {
      idx[d] = rem % bshape[d];
      rem /= bshape[d];
    }
    for (int64_t h = 0; h < Hq; h++) {
      int64_t hk = h / (Hq / Hk);
      for (int64_t i = 0; i < L; i++) {
        int64_t row = (b * Hq + h) * L + i;
        double m = -INFINITY;
        for (int64_t j = 0; j < S; j++) {
          double dot = 0;
          for (int64_t e = 0; e < E; e++) {
            idx[R - 3] = h, idx[R - 2] = i, idx[R - 1] = e;
            double a = get_off(q, bcast_off(q, R, idx));
            idx[R - 3] = hk, idx[R - 2] = j;
            dot += a * get_off(k, bcast_off(k, R, idx));
          }
          s[j] = pr->scale * dot;
          ok[j] = !pr->is_causal || j <= i + off;
          if (mask) {
            idx[R - 3] = h, idx[R - 2] = i, idx[R - 1] = j;
            double mv = get_off(mask, bcast_off(mask, R, idx));
            if (mask->dtype == TIRRT_DTYPE_BOOL) {
              if (mv == 0) ok[j] = 0;
            } else if (mv <= -1e30 || mv <= dtype_lowest(mask->dtype)) {
              ok[j] = 0;
            } else {
              s[j] += mv;
            }
          }
          if (ok[j] && s[j] > m) m = s[j];
        }
        dead[row] = m == -INFINITY;
        double l = 0;
        for (int64_t j = 0; j < S; j++) l += ok[j] ? exp(s[j] - m) : 0;
        lse[row] = dead[row] ? -INFINITY : m + log(l);
        for (int64_t c = 0; c < Ev; c++) out[row * Ev + c] = 0;
        if (dead[row]) continue;
        for (int64_t j = 0; j < S; j++) {
          if (!ok[j]) continue;
          double pj = exp(s[j] - m) / l;
          if (pr->dropout_p > 0) {
            uint64_t index = (uint64_t)(row * S + j);
            pj = tirrt_dropout_keep(pr->seed, pr->stream, index, pr->dropout_p)
                     ? pj / (1 - pr->dropout_p)
                     : 0;
          }
          idx[R - 3] = hk, idx[R - 2] = j;
          for (int64_t c = 0; c < Ev; c++) {
            idx[R - 1] = c;
            out[row * Ev + c] += pj * get_off(v, bcast_off(v, R, idx));
          }
        }
      }
    }
  }
  free(s);
  free(ok);
}

/* ------------------------------------------------------------ one attention case */

enum { MK_NONE, MK_BOOL, MK_FLOAT };
enum { LAY_QT = 1, LAY_KT = 2, LAY_VT = 4, LAY_OUTT = 8, LAY_EXPAND = 16 };
enum { DATA_NORMAL, DATA_LARGE };

typedef struct {
  const char *name;
  int nbd;                      /* batch dims */
  int64_t qb[3], kb[3], vb[3];  /* batch shapes (1 broadcasts) */
  int64_t Hq, Hk, L, S, E, Ev;
  bool gqa, causal, bottom_right;
  int mask, mrank;
  int64_t mshape[6];
  double special;  /* float masks: this value marks ~20% of entries (0: none) */
  bool dead_rows;  /* force some fully masked rows */
  double scale;    /* 0: 1/sqrt(E) */
  double dropout;
  int layout, data;
  bool f16_only;   /* only meaningful in f16 */
} case_t;

/* Relative-error bounds per dtype.  The reference runs on exactly the
 * values the kernel reads, so only the kernel's arithmetic and the final
 * rounding of the output count:
 *  - f64: unit roundoff 1.1e-16; sums of at most a few hundred terms and
 *    exp/log keep the error near 1e-14, so 1e-12 leaves margin.
 *  - f32: unit roundoff 6e-8; dot products of length <= 72 and softmax
 *    sums over <= 1024 keys give ~1e-6 at worst, so 1e-5.
 *  - f16: compute is f32, so the output's own rounding dominates: half an
 *    ulp is 2^-11 = 4.9e-4 relative, ~3e-4 RMS; 5e-3 leaves 10x margin.
 *  - bf16: likewise with 8-bit mantissas: 2^-8 = 3.9e-3 worst, ~2.3e-3 RMS;
 *    2e-2. */
static double tol_for(tirrt_dtype_t dt) {
  switch (dt) {
    case TIRRT_DTYPE_F64: return 1e-12;
    case TIRRT_DTYPE_F32: return 1e-5;
    case TIRRT_DTYPE_F16: return 5e-3;
    default: return 2e-2;
  }
}

/* Builds the tensors of `cs` in dtype `dt`, runs the kernel and the
 * reference, and checks: error bound, every output element written and
 * finite, fully masked rows exactly 0 with lse = -inf, lse accuracy, and
 * that nothing outside the output views was touched.  Returns the relative
 * error; fills `out_copy` (when not NULL) with the kernel's output as
 * doubles, row-major. */
static double run_case(const case_t *cs, tirrt_dtype_t dt, uint64_t seed, double *out_copy,
                       bool quiet) {
  int R = cs->nbd + 3;
  int64_t qs[6], ks[6], vs[6], os[6], ls[6], bshape[3];
  for (int d = 0; d < cs->nbd; d++) {
    qs[d] = cs->qb[d], ks[d] = cs->kb[d], vs[d] = cs->vb[d];
    bshape[d] = qs[d] > ks[d] ? qs[d] : ks[d];
    if (vs[d] > bshape[d]) bshape[d] = vs[d];
    os[d] = ls[d] = bshape[d];
  }
  int n = cs->nbd;
  qs[n] = cs->Hq, qs[n + 1] = cs->L, qs[n + 2] = cs->E;
  ks[n] = cs->Hk, ks[n + 1] = cs->S, ks[n + 2] = cs->E;
  vs[n] = cs->Hk, vs[n + 1] = cs->S, vs[n + 2] = cs->Ev;
  os[n] = cs->Hq, os[n + 1] = cs->L, os[n + 2] = cs->Ev;
  ls[n] = cs->Hq, ls[n + 1] = cs->L;
  /* Storage orders: "T" layouts swap dims like real models do: q and out
   * stored [.., L, H, E] (heads split from a [.., L, H*E] projection), k
   * stored [.., H, E, S] (K^T materialized), v stored [.., H, Ev, S]. */
  int pq[6], pk[6], pv[6], po[6];
  for (int d = 0; d < R; d++) pq[d] = pk[d] = pv[d] = po[d] = d;
  if (cs->layout & LAY_QT) pq[n] = n + 1, pq[n + 1] = n;
  if (cs->layout & LAY_OUTT) po[n] = n + 1, po[n + 1] = n;
  if (cs->layout & LAY_KT) pk[n + 1] = n + 2, pk[n + 2] = n + 1;
  if (cs->layout & LAY_VT) pv[n + 1] = n + 2, pv[n + 2] = n + 1;
  tens_t q = tens_make(dt, R, qs, pq, 0), k = tens_make(dt, R, ks, pk, 1);
  tens_t v = tens_make(dt, R, vs, pv, 0), out = tens_make(dt, R, os, po, 3);
  tens_t lse = tens_make(TIRRT_DTYPE_F32, R - 1, ls, NULL, 2);
  if (cs->layout & LAY_EXPAND) { /* k, v batch dims expanded with stride 0 */
    for (int d = 0; d < n; d++) {
      if (k.v.shape[d] == 1) k.v.shape[d] = bshape[d], k.v.strides[d] = 0;
      if (v.v.shape[d] == 1) v.v.shape[d] = bshape[d], v.v.strides[d] = 0;
    }
  }
  uint64_t saved = rng_state;
  rng_state = seed;
  /* Data.  DATA_LARGE: integer q, k in [-100, 100] with E <= 16 and scale
   * 1, so every score (|s| up to ~1e5, typically ~1e4) is exact in f32 and
   * the test isolates overflow safety from score rounding. */
  tens_t *qkv[3] = {&q, &k, &v};
  for (int t = 0; t < 3; t++) {
    int64_t ne = numel_of(&qkv[t]->v);
    for (int64_t f = 0; f < ne; f++) {
      double x = cs->data == DATA_LARGE && t < 2 ? (double)rng_int(-100, 100) : rng_normal();
      set_off(&qkv[t]->v, view_off(&qkv[t]->v, f), x);
    }
  }
  tens_t mask;
  memset(&mask, 0, sizeof mask);
  if (cs->mask != MK_NONE) {
    mask = tens_make(cs->mask == MK_BOOL ? TIRRT_DTYPE_BOOL : dt, cs->mrank, cs->mshape, NULL, 0);
    int64_t ne = numel_of(&mask.v), S = cs->mshape[cs->mrank - 1];
    int64_t rows = cs->mrank >= 2 ? cs->mshape[cs->mrank - 2] : 1;
    for (int64_t f = 0; f < ne; f++) {
      double x;
      if (cs->mask == MK_BOOL) x = rng_uniform() < 0.75;
      else x = cs->special != 0 && rng_uniform() < 0.2 ? cs->special : rng_normal();
      int64_t j = f % S, i = (f / S) % rows, outer = f / S;
      if (rows == 1 && cs->mrank >= 2 && cs->mshape[cs->mrank - 2] == 1) {
        /* a padding mask [B, 1, 1, S]: batch b keeps its first S - 3b keys */
        if (j >= S - 3 * outer) x = cs->mask == MK_BOOL ? 0 : (cs->special ? cs->special : -INFINITY);
      }
      if (cs->dead_rows && (i % 5 == 1 || (rows == 1 && outer == 1)))
        x = cs->mask == MK_BOOL ? 0 : (cs->special ? cs->special : -INFINITY);
      set_off(&mask.v, view_off(&mask.v, f), x);
    }
  }
  rng_state = saved;

  tirrt_sdpa_params_t pr;
  memset(&pr, 0, sizeof pr);
  pr.scale = cs->scale ? cs->scale : cs->E > 0 ? 1.0 / sqrt((double)cs->E) : 1.0;
  pr.dropout_p = cs->dropout;
  pr.is_causal = cs->causal;
  pr.bottom_right = cs->bottom_right;
  pr.enable_gqa = cs->gqa;
  pr.seed = seed ^ 0x5eed;
  pr.stream = 7;

  poison(&out.v);
  poison(&lse.v);
  tirrt_status_t st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, cs->mask != MK_NONE ? &mask.v : NULL, &pr,
                                     &out.v, &lse.v);
  CHECKF(st == NULL, "%s/%s: sdpa failed: %s", cs->name, tirrt_dtype_name(dt),
         tirrt_status_message(st));
  tirrt_status_free(st);

  int64_t no = numel_of(&out.v), nl = numel_of(&lse.v);
  double *ref = malloc(sizeof(double) * (size_t)(no + 1));
  double *rlse = malloc(sizeof(double) * (size_t)(nl + 1));
  uint8_t *dead = malloc((size_t)nl + 1);
  ref_sdpa(&q.v, &k.v, &v.v, cs->mask != MK_NONE ? &mask.v : NULL, &pr, R, bshape, ref, rlse,
           dead);
  double num = 0, den = 0;
  int64_t unwritten = 0, dead_nonzero = 0, n_dead = 0, lse_bad = 0;
  double lse_err = 0;
  for (int64_t f = 0; f < no; f++) {
    double x = get_off(&out.v, view_off(&out.v, f));
    if (out_copy) out_copy[f] = x;
    if (!isfinite(x)) unwritten++;
    if (dead[f / (cs->Ev ? cs->Ev : 1)] && x != 0) dead_nonzero++;
    num += (x - ref[f]) * (x - ref[f]);
    den += ref[f] * ref[f];
  }
  for (int64_t r = 0; r < nl; r++) {
    double x = get_off(&lse.v, view_off(&lse.v, r));
    n_dead += dead[r];
    if (dead[r]) {
      if (!(x == -INFINITY)) lse_bad++;
    } else {
      double e = fabs(x - rlse[r]) / (1 + fabs(rlse[r]));
      if (!(e <= 1e-5)) lse_bad++;
      if (e > lse_err) lse_err = e;
    }
  }
  double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  double tol = tol_for(dt);
  /* Scores near 1e4 carry an f32 rounding error near 1e4 * 2^-24 = 6e-4 in
   * the exponent whatever the kernel does; rows whose top keys nearly tie
   * turn that into output error well above 1e-5 on some seeds (2e-5 seen in
   * CI).  The bound is the dtype's limit on this data, not the kernel's. */
  if (cs->data == DATA_LARGE && dt == TIRRT_DTYPE_F32) tol = 2e-4;
  CHECKF(unwritten == 0, "%s/%s: %" PRId64 " output elements unwritten or not finite", cs->name,
         tirrt_dtype_name(dt), unwritten);
  CHECKF(rel <= tol, "%s/%s: relative error %.3g > %.3g", cs->name, tirrt_dtype_name(dt), rel, tol);
  CHECKF(dead_nonzero == 0, "%s/%s: %" PRId64 " elements of fully masked rows are not 0", cs->name,
         tirrt_dtype_name(dt), dead_nonzero);
  CHECKF(lse_bad == 0, "%s/%s: %" PRId64 " lse values wrong (max rel err %.3g)", cs->name,
         tirrt_dtype_name(dt), lse_bad, lse_err);
  CHECKF(gaps_intact(&out) && gaps_intact(&lse), "%s/%s: wrote outside the output views", cs->name,
         tirrt_dtype_name(dt));
  if (cs->dead_rows) CHECKF(n_dead > 0, "%s: the case has no fully masked row", cs->name);
  if (!quiet)
    printf("  %-34s %-4s rel err %.2e (bound %.0e)  lse err %.1e  dead rows %" PRId64 "\n",
           cs->name, tirrt_dtype_name(dt), rel, tol, lse_err, n_dead);
  free(ref);
  free(rlse);
  free(dead);
  tens_free(&q);
  tens_free(&k);
  tens_free(&v);
  tens_free(&out);
  tens_free(&lse);
  if (cs->mask != MK_NONE) tens_free(&mask);
  return rel;
}

/* The cases.  Sizes cross the kernel's 32-row and 64-key block boundaries
 * (e.g. L = 37, S = 83, 130 x 200) so the online softmax runs over several
 * key blocks and partial ones. */
#define B1 .nbd = 1, .qb = {2}, .kb = {2}, .vb = {2}
static const case_t cases[] = {
    {"L!=S", B1, .Hq = 3, .Hk = 3, .L = 37, .S = 83, .E = 16, .Ev = 16},
    {"L=1", B1, .Hq = 2, .Hk = 2, .L = 1, .S = 100, .E = 64, .Ev = 64},
    {"S=1", B1, .Hq = 2, .Hk = 2, .L = 50, .S = 1, .E = 7, .Ev = 7},
    {"L=S=1", B1, .Hq = 1, .Hk = 1, .L = 1, .S = 1, .E = 3, .Ev = 3},
    {"S=0 (out 0, lse -inf)", B1, .Hq = 2, .Hk = 2, .L = 5, .S = 0, .E = 8, .Ev = 8},
    {"E=1 Ev=3", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 30, .E = 1, .Ev = 3},
    {"E=3 Ev=5", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 3, .Ev = 5},
    {"E=7", B1, .Hq = 2, .Hk = 2, .L = 33, .S = 65, .E = 7, .Ev = 7},
    {"E=64", B1, .Hq = 2, .Hk = 2, .L = 40, .S = 90, .E = 64, .Ev = 64},
    {"E=72 Ev=40", B1, .Hq = 2, .Hk = 2, .L = 40, .S = 90, .E = 72, .Ev = 40},
    {"E=32 Ev=128", B1, .Hq = 1, .Hk = 1, .L = 20, .S = 64, .E = 32, .Ev = 128},
    {"multi-block 130x200", B1, .Hq = 2, .Hk = 2, .L = 130, .S = 200, .E = 32, .Ev = 24},
    {"no batch dims", .nbd = 0, .Hq = 4, .Hk = 4, .L = 9, .S = 12, .E = 8, .Ev = 8},
    {"batch broadcast", .nbd = 2, .qb = {2, 3}, .kb = {1, 3}, .vb = {2, 1}, .Hq = 2, .Hk = 2,
     .L = 10, .S = 20, .E = 8, .Ev = 6},
    {"batch broadcast (stride-0 expand)", .nbd = 2, .qb = {2, 3}, .kb = {1, 3}, .vb = {2, 1},
     .Hq = 2, .Hk = 2, .L = 10, .S = 20, .E = 8, .Ev = 6, .layout = LAY_EXPAND},
    {"GQA 8/2", B1, .Hq = 8, .Hk = 2, .L = 21, .S = 70, .E = 16, .Ev = 16, .gqa = true},
    {"MQA 8/1", B1, .Hq = 8, .Hk = 1, .L = 21, .S = 70, .E = 16, .Ev = 16, .gqa = true},
    {"bool mask [L,S]", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8, .mask = MK_BOOL,
     .mrank = 2, .mshape = {20, 70}},
    {"bool mask [1,1,L,S]", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_BOOL, .mrank = 4, .mshape = {1, 1, 20, 70}},
    {"bool mask [B,1,1,S] padding", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_BOOL, .mrank = 4, .mshape = {2, 1, 1, 70}},
    {"bool mask [B,H,L,S]", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_BOOL, .mrank = 4, .mshape = {2, 2, 20, 70}},
    {"float mask [L,S]", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 2, .mshape = {20, 70}},
    {"float mask [1,1,L,S] -inf", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 4, .mshape = {1, 1, 20, 70}, .special = -INFINITY},
    {"float mask [B,1,1,S] padding", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 4, .mshape = {2, 1, 1, 70}},
    {"float mask [H,1,S] (ALiBi-like)", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 3, .mshape = {2, 1, 70}},
    {"float mask -1e30", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 2, .mshape = {20, 70}, .special = -1e30},
    {"f16 mask at -65504 (lowest)", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 2, .mshape = {20, 70}, .special = -65504.0, .dead_rows = true,
     .f16_only = true},
    {"dead rows, bool", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8, .mask = MK_BOOL,
     .mrank = 2, .mshape = {20, 70}, .dead_rows = true},
    {"dead rows, float -inf", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 2, .mshape = {20, 70}, .special = -INFINITY, .dead_rows = true},
    {"dead rows, float -1e30", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_FLOAT, .mrank = 4, .mshape = {2, 2, 20, 70}, .special = -1e30, .dead_rows = true},
    {"dead batch, padding [B,1,1,S]", B1, .Hq = 2, .Hk = 2, .L = 20, .S = 70, .E = 8, .Ev = 8,
     .mask = MK_BOOL, .mrank = 4, .mshape = {2, 1, 1, 70}, .dead_rows = true},
    {"causal L=S", B1, .Hq = 2, .Hk = 2, .L = 100, .S = 100, .E = 16, .Ev = 16, .causal = true},
    {"causal top-left L<S", B1, .Hq = 2, .Hk = 2, .L = 40, .S = 150, .E = 16, .Ev = 16,
     .causal = true},
    {"causal top-left L>S", B1, .Hq = 2, .Hk = 2, .L = 150, .S = 40, .E = 16, .Ev = 16,
     .causal = true},
    {"causal bottom-right L<S", B1, .Hq = 2, .Hk = 2, .L = 40, .S = 150, .E = 16, .Ev = 16,
     .causal = true, .bottom_right = true},
    {"causal bottom-right L>S (dead rows)", B1, .Hq = 2, .Hk = 2, .L = 150, .S = 40, .E = 16,
     .Ev = 16, .causal = true, .bottom_right = true, .dead_rows = true},
    {"causal bottom-right L=1 (decode)", B1, .Hq = 2, .Hk = 2, .L = 1, .S = 150, .E = 16, .Ev = 16,
     .causal = true, .bottom_right = true},
    {"causal + bool mask", B1, .Hq = 2, .Hk = 2, .L = 70, .S = 90, .E = 16, .Ev = 16,
     .causal = true, .mask = MK_BOOL, .mrank = 2, .mshape = {70, 90}},
    {"causal + float mask (br)", B1, .Hq = 2, .Hk = 2, .L = 70, .S = 90, .E = 16, .Ev = 16,
     .causal = true, .bottom_right = true, .mask = MK_FLOAT, .mrank = 4, .mshape = {2, 1, 1, 90}},
    {"GQA + causal + mask", B1, .Hq = 6, .Hk = 2, .L = 33, .S = 33, .E = 8, .Ev = 8, .gqa = true,
     .causal = true, .mask = MK_FLOAT, .mrank = 4, .mshape = {2, 6, 33, 33}, .special = -INFINITY},
    {"large magnitudes (|s|~1e4)", B1, .Hq = 2, .Hk = 2, .L = 40, .S = 100, .E = 16, .Ev = 16,
     .scale = 1.0, .data = DATA_LARGE},
    {"large magnitudes + causal + mask", B1, .Hq = 2, .Hk = 2, .L = 40, .S = 100, .E = 16,
     .Ev = 16, .scale = 1.0, .data = DATA_LARGE, .causal = true, .mask = MK_FLOAT, .mrank = 2,
     .mshape = {40, 100}, .special = -1e30},
    {"non-contiguous q,k,v,out", B1, .Hq = 3, .Hk = 3, .L = 37, .S = 83, .E = 12, .Ev = 10,
     .layout = LAY_QT | LAY_KT | LAY_VT | LAY_OUTT},
    {"non-contiguous GQA + causal", B1, .Hq = 4, .Hk = 2, .L = 45, .S = 45, .E = 16, .Ev = 16,
     .gqa = true, .causal = true, .layout = LAY_QT | LAY_KT | LAY_OUTT},
    {"dropout 0.3", B1, .Hq = 2, .Hk = 2, .L = 37, .S = 83, .E = 16, .Ev = 16, .dropout = 0.3},
    {"dropout + GQA + causal + mask", .nbd = 2, .qb = {2, 2}, .kb = {1, 2}, .vb = {1, 2},
     .Hq = 4, .Hk = 2, .L = 30, .S = 70, .E = 8, .Ev = 8, .gqa = true, .causal = true,
     .bottom_right = true, .mask = MK_BOOL, .mrank = 2, .mshape = {30, 70}, .dropout = 0.5},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ------------------------------------------------------------ Philox and dropout */

static void test_philox(void) {
  static const struct {
    uint32_t ctr[4], key[2], out[4];
  } kat[] = {
      /* Random123 kat_vectors, philox4x32-10 */
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
    uint64_t seed = (uint64_t)kat[t].key[1] << 32 | kat[t].key[0];
    uint64_t lo = (uint64_t)kat[t].ctr[1] << 32 | kat[t].ctr[0];
    uint64_t hi = (uint64_t)kat[t].ctr[3] << 32 | kat[t].ctr[2];
    uint32_t o[4];
    tirrt_philox4x32(seed, hi, lo, o);
    CHECKF(memcmp(o, kat[t].out, sizeof o) == 0,
           "philox KAT %zu: got %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32, t, o[0],
           o[1], o[2], o[3]);
  }
  /* tirrt_dropout_keep is exactly the documented rule. */
  bool same = true;
  for (uint64_t i = 0; i < 4000; i++) {
    uint32_t w[4];
    tirrt_philox4x32(42, 9, i / 4, w);
    double u = (double)(w[i % 4] >> 8) / 16777216.0;
    for (double p = 0.05; p < 1; p += 0.3) same &= tirrt_dropout_keep(42, 9, i, p) == (u >= p);
  }
  CHECKF(same, "tirrt_dropout_keep does not follow its documented rule");
  /* Keep rates within 4 sigma over 1e6 draws. */
  const double ps[] = {0.1, 0.5, 0.9};
  for (int t = 0; t < 3; t++) {
    int64_t n = 1000000, kept = 0;
    for (int64_t i = 0; i < n; i++) kept += tirrt_dropout_keep(rng_next(), 3, (uint64_t)i, ps[t]);
    double mean = n * (1 - ps[t]), sd = sqrt(n * ps[t] * (1 - ps[t]));
    CHECKF(fabs((double)kept - mean) <= 4 * sd, "keep rate at p=%g: %" PRId64 " of %" PRId64,
           ps[t], kept, n);
  }
  bool all = true, none = true;
  for (uint64_t i = 0; i < 100000; i++) {
    all &= tirrt_dropout_keep(5, 1, i, 0.0);
    none &= !tirrt_dropout_keep(5, 1, i, 1.0);
  }
  CHECKF(all && none, "p=0 must keep everything and p=1 nothing");
}

static void test_dropout_kernel(uint64_t seed) {
  /* f32 [500, 211] (1.05e5 elements) with a non-contiguous output view. */
  int64_t shape[2] = {500, 211};
  int perm[2] = {1, 0};
  tens_t x = tens_make(TIRRT_DTYPE_F32, 2, shape, NULL, 0);
  tens_t o1 = tens_make(TIRRT_DTYPE_F32, 2, shape, perm, 1);
  tens_t o2 = tens_make(TIRRT_DTYPE_F32, 2, shape, NULL, 0);
  int64_t n = numel_of(&x.v);
  for (int64_t f = 0; f < n; f++) set_off(&x.v, f, rng_normal() + 3); /* never 0 */
  double p = 0.3;
  poison(&o1.v);
  tirrt_status_t st = tirrt_cpu_dropout(&x.v, p, seed, 11, &o1.v);
  CHECKF(!st, "dropout: %s", tirrt_status_message(st));
  tirrt_status_free(st);
  int64_t kept = 0, mismatched = 0, badval = 0;
  float sc = (float)(1.0 / (1.0 - p));
  for (int64_t f = 0; f < n; f++) {
    double xv = get_off(&x.v, f), ov = get_off(&o1.v, view_off(&o1.v, f));
    bool keep = tirrt_dropout_keep(seed, 11, (uint64_t)f, p);
    kept += ov != 0;
    mismatched += (ov != 0) != keep;
    if (keep ? ov != (double)((float)xv * sc) : ov != 0) badval++;
  }
  double mean = n * (1 - p), sd = sqrt(n * p * (1 - p));
  CHECKF(fabs((double)kept - mean) <= 4 * sd, "dropout kernel keep rate %" PRId64 " of %" PRId64,
         kept, n);
  CHECKF(mismatched == 0, "dropout kernel mask differs from tirrt_dropout_keep in %" PRId64,
         mismatched);
  CHECKF(badval == 0, "dropout kernel values wrong in %" PRId64, badval);
  CHECKF(gaps_intact(&o1), "dropout wrote outside its output view");
  /* Same seed: identical; another seed or stream: different. */
  st = tirrt_cpu_dropout(&x.v, p, seed, 11, &o2.v);
  tirrt_status_free(st);
  bool same = true;
  for (int64_t f = 0; f < n; f++) same &= get_off(&o2.v, f) == get_off(&o1.v, view_off(&o1.v, f));
  CHECKF(same, "dropout: same seed gave a different output");
  st = tirrt_cpu_dropout(&x.v, p, seed + 1, 11, &o2.v);
  tirrt_status_free(st);
  int64_t diff = 0;
  for (int64_t f = 0; f < n; f++) diff += get_off(&o2.v, f) != get_off(&o1.v, view_off(&o1.v, f));
  CHECKF(diff > n / 10, "dropout: another seed changed only %" PRId64 " elements", diff);
  st = tirrt_cpu_dropout(&x.v, p, seed, 12, &o2.v);
  tirrt_status_free(st);
  diff = 0;
  for (int64_t f = 0; f < n; f++) diff += get_off(&o2.v, f) != get_off(&o1.v, view_off(&o1.v, f));
  CHECKF(diff > n / 10, "dropout: another stream changed only %" PRId64 " elements", diff);
  /* p >= 1: zeros; broadcasting a [211] input over the rows. */
  st = tirrt_cpu_dropout(&x.v, 1.0, seed, 11, &o2.v);
  tirrt_status_free(st);
  bool zeros = true;
  for (int64_t f = 0; f < n; f++) zeros &= get_off(&o2.v, f) == 0;
  CHECKF(zeros, "dropout p=1 must give zeros");
  tirrt_view_t row = x.v;
  row.rank = 1;
  row.shape[0] = 211;
  row.strides[0] = 1;
  st = tirrt_cpu_dropout(&row, 0.5, seed, 2, &o2.v);
  CHECKF(!st, "dropout broadcast: %s", tirrt_status_message(st));
  tirrt_status_free(st);
  badval = 0;
  for (int64_t f = 0; f < n; f++) {
    bool keep = tirrt_dropout_keep(seed, 2, (uint64_t)f, 0.5);
    double want = keep ? (double)((float)get_off(&x.v, f % 211) * 2.0f) : 0.0;
    badval += get_off(&o2.v, f) != want;
  }
  CHECKF(badval == 0, "dropout broadcast values wrong in %" PRId64, badval);
  /* Errors: p < 0 or NaN, dtype mismatch, shapes that do not broadcast. */
  st = tirrt_cpu_dropout(&x.v, -0.1, seed, 1, &o2.v);
  CHECKF(st && tirrt_status_code(st) == TIRRT_STATUS_INVALID_ARGUMENT, "dropout p<0 accepted");
  tirrt_status_free(st);
  st = tirrt_cpu_dropout(&x.v, NAN, seed, 1, &o2.v);
  CHECKF(st != NULL, "dropout p=NaN accepted");
  tirrt_status_free(st);
  tirrt_view_t wrong = o2.v;
  wrong.dtype = TIRRT_DTYPE_F64;
  st = tirrt_cpu_dropout(&x.v, 0.1, seed, 1, &wrong);
  CHECKF(st != NULL, "dropout dtype mismatch accepted");
  tirrt_status_free(st);
  row.shape[0] = 5;
  st = tirrt_cpu_dropout(&row, 0.1, seed, 1, &o2.v);
  CHECKF(st != NULL, "dropout non-broadcastable input accepted");
  tirrt_status_free(st);
  tens_free(&x);
  tens_free(&o1);
  tens_free(&o2);

  /* 16-bit dtypes: p = 0 copies every bit pattern; p > 0 rounds x * scale
   * (computed in f32) to nearest even, checked by the independent encoder;
   * f64 computes in f64. */
  int64_t all16[1] = {65536};
  const tirrt_dtype_t d16[2] = {TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16};
  for (int t = 0; t < 2; t++) {
    tens_t a = tens_make(d16[t], 1, all16, NULL, 0), b = tens_make(d16[t], 1, all16, NULL, 0);
    for (int i = 0; i < 65536; i++) ((uint16_t *)a.buf)[i] = (uint16_t)i;
    st = tirrt_cpu_dropout(&a.v, 0.0, seed, 1, &b.v);
    tirrt_status_free(st);
    int64_t bad = 0;
    for (int i = 0; i < 65536; i++) bad += ((uint16_t *)b.buf)[i] != (uint16_t)i;
    CHECKF(bad == 0, "%s dropout p=0 changed %" PRId64 " bit patterns", tirrt_dtype_name(d16[t]),
           bad);
    double pp = 0.37;
    float s32 = (float)(1.0 / (1.0 - pp));
    st = tirrt_cpu_dropout(&a.v, pp, seed, 1, &b.v);
    tirrt_status_free(st);
    bad = 0;
    for (int i = 0; i < 65536; i++) {
      double xv = get_off(&a.v, i), ov = get_off(&b.v, i);
      bool keep = tirrt_dropout_keep(seed, 1, (uint64_t)i, pp);
      double prod = (double)((float)xv * s32);
      uint16_t want = !keep ? 0 : t == 0 ? f16_encode(prod) : bf16_encode(prod);
      uint16_t got = ((uint16_t *)b.buf)[i];
      if (isnan(xv)) bad += keep && !isnan(ov);
      else bad += got != want;
    }
    CHECKF(bad == 0, "%s dropout rounding wrong for %" PRId64 " patterns", tirrt_dtype_name(d16[t]),
           bad);
    tens_free(&a);
    tens_free(&b);
  }
  int64_t s64[1] = {1000};
  tens_t a = tens_make(TIRRT_DTYPE_F64, 1, s64, NULL, 0), b = tens_make(TIRRT_DTYPE_F64, 1, s64, NULL, 0);
  for (int i = 0; i < 1000; i++) set_off(&a.v, i, rng_normal());
  st = tirrt_cpu_dropout(&a.v, 0.2, seed, 4, &b.v);
  tirrt_status_free(st);
  int64_t bad = 0;
  for (int i = 0; i < 1000; i++) {
    double want = tirrt_dropout_keep(seed, 4, (uint64_t)i, 0.2) ? get_off(&a.v, i) * (1.0 / 0.8) : 0;
    bad += get_off(&b.v, i) != want;
  }
  CHECKF(bad == 0, "f64 dropout wrong in %" PRId64, bad);
  tens_free(&a);
  tens_free(&b);
}

/* sdpa dropout: v = identity makes the output the dropped probability
 * matrix itself, so the zero pattern must equal the tirrt_dropout_keep mask
 * exactly (index = row-major index in [batch..., Hq, L, S], with broadcast
 * batch dims and GQA).  Also the keep rate over >= 1e5 elements and seed
 * reproducibility. */
static void test_sdpa_dropout(uint64_t seed) {
  const int64_t B = 2, Hq = 4, Hk = 2, L = 100, S = 150;
  int64_t qs[4] = {B, Hq, L, 8}, ks[4] = {1, Hk, S, 8}, vs[4] = {1, Hk, S, S},
          os[4] = {B, Hq, L, S};
  tens_t q = tens_make(TIRRT_DTYPE_F64, 4, qs, NULL, 0), k = tens_make(TIRRT_DTYPE_F64, 4, ks, NULL, 0);
  tens_t v = tens_make(TIRRT_DTYPE_F64, 4, vs, NULL, 0), o1 = tens_make(TIRRT_DTYPE_F64, 4, os, NULL, 0);
  tens_t o2 = tens_make(TIRRT_DTYPE_F64, 4, os, NULL, 0);
  for (int64_t f = 0; f < numel_of(&q.v); f++) set_off(&q.v, f, rng_normal());
  for (int64_t f = 0; f < numel_of(&k.v); f++) set_off(&k.v, f, rng_normal());
  for (int64_t f = 0; f < numel_of(&v.v); f++) set_off(&v.v, f, (f / S) % S == f % S);
  tirrt_sdpa_params_t pr = {.scale = 0.35, .dropout_p = 0.2, .enable_gqa = true, .seed = seed,
                            .stream = 3};
  poison(&o1.v);
  tirrt_status_t st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o1.v, NULL);
  CHECKF(!st, "sdpa dropout: %s", tirrt_status_message(st));
  tirrt_status_free(st);
  int64_t n = numel_of(&o1.v), kept = 0, mism = 0;
  for (int64_t f = 0; f < n; f++) {
    double x = get_off(&o1.v, f);
    kept += x != 0;
    mism += (x != 0) != tirrt_dropout_keep(seed, 3, (uint64_t)f, 0.2) || !isfinite(x);
  }
  double mean = n * 0.8, sd = sqrt(n * 0.2 * 0.8);
  CHECKF(mism == 0, "sdpa dropout mask differs from tirrt_dropout_keep at %" PRId64 " of %" PRId64,
         mism, n);
  CHECKF(fabs((double)kept - mean) <= 4 * sd, "sdpa keep rate %" PRId64 " of %" PRId64, kept, n);
  printf("  sdpa dropout p=0.2: kept %" PRId64 " of %" PRId64 " (%.4f), mask mismatches %" PRId64
         "\n", kept, n, (double)kept / (double)n, mism);
  st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o2.v, NULL);
  tirrt_status_free(st);
  CHECKF(memcmp(o1.buf, o2.buf, o1.nbytes) == 0, "sdpa dropout: same seed, different output");
  pr.seed = seed + 1;
  st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o2.v, NULL);
  tirrt_status_free(st);
  CHECKF(memcmp(o1.buf, o2.buf, o1.nbytes) != 0, "sdpa dropout: another seed, same output");
  /* p >= 1 drops everything: zeros, never NaN. */
  pr.dropout_p = 1.0;
  st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o2.v, NULL);
  tirrt_status_free(st);
  bool zeros = true;
  for (int64_t f = 0; f < n; f++) zeros &= get_off(&o2.v, f) == 0;
  CHECKF(zeros, "sdpa dropout_p=1 must give zeros");
  tens_free(&q);
  tens_free(&k);
  tens_free(&v);
  tens_free(&o1);
  tens_free(&o2);
}

/* ------------------------------------------------------------ argument errors */

static void expect_invalid(tirrt_status_t st, const char *what) {
  CHECKF(st && tirrt_status_code(st) == TIRRT_STATUS_INVALID_ARGUMENT, "%s: not rejected", what);
  tirrt_status_free(st);
}

static void test_errors(void) {
  int64_t qs[4] = {2, 4, 5, 8}, ks[4] = {2, 4, 6, 8}, vs[4] = {2, 4, 6, 3}, os[4] = {2, 4, 5, 3};
  tens_t q = tens_make(TIRRT_DTYPE_F32, 4, qs, NULL, 0), k = tens_make(TIRRT_DTYPE_F32, 4, ks, NULL, 0);
  tens_t v = tens_make(TIRRT_DTYPE_F32, 4, vs, NULL, 0), o = tens_make(TIRRT_DTYPE_F32, 4, os, NULL, 0);
  memset(q.buf, 0, q.nbytes);
  memset(k.buf, 0, k.nbytes);
  memset(v.buf, 0, v.nbytes);
  tirrt_sdpa_params_t pr = {.scale = 0.5};
  tirrt_status_t st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o.v, NULL);
  CHECKF(!st, "valid call rejected: %s", tirrt_status_message(st));
  tirrt_status_free(st);
  tirrt_view_t t;
  expect_invalid(tirrt_cpu_sdpa(NULL, &k.v, &v.v, NULL, &pr, &o.v, NULL), "NULL q");
  t = k.v, t.shape[3] = 7;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &t, &v.v, NULL, &pr, &o.v, NULL), "E mismatch");
  t = v.v, t.shape[2] = 5;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &t, NULL, &pr, &o.v, NULL), "S mismatch");
  t = k.v, t.shape[1] = 2;
  tirrt_view_t t2 = v.v;
  t2.shape[1] = 2;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &t, &t2, NULL, &pr, &o.v, NULL), "Hq != Hk without gqa");
  pr.enable_gqa = true;
  t.shape[1] = t2.shape[1] = 3;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &t, &t2, NULL, &pr, &o.v, NULL), "Hq % Hk != 0");
  t.shape[1] = 2;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &t, &v.v, NULL, &pr, &o.v, NULL), "k, v heads differ");
  pr.enable_gqa = false;
  t = k.v, t.shape[0] = 3;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &t, &v.v, NULL, &pr, &o.v, NULL), "batch not broadcast");
  t = o.v, t.shape[3] = 4;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &t, NULL), "out shape");
  t = o.v, t.dtype = TIRRT_DTYPE_F64;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &t, NULL), "out dtype");
  t = k.v, t.dtype = TIRRT_DTYPE_F16;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &t, &v.v, NULL, &pr, &o.v, NULL), "k dtype");
  t = q.v, t.dtype = TIRRT_DTYPE_I32;
  expect_invalid(tirrt_cpu_sdpa(&t, &k.v, &v.v, NULL, &pr, &o.v, NULL), "integer q");
  t = q.v, t.rank = 2, t.shape[0] = 5, t.shape[1] = 8;
  expect_invalid(tirrt_cpu_sdpa(&t, &k.v, &v.v, NULL, &pr, &o.v, NULL), "rank 2");
  int64_t ms[2] = {5, 7};
  tens_t mk = tens_make(TIRRT_DTYPE_BOOL, 2, ms, NULL, 0);
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, &mk.v, &pr, &o.v, NULL), "mask [L, S+1]");
  mk.v.shape[1] = 6;
  mk.v.dtype = TIRRT_DTYPE_I32;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, &mk.v, &pr, &o.v, NULL), "integer mask");
  int64_t ls[3] = {2, 4, 5};
  tens_t lse = tens_make(TIRRT_DTYPE_F64, 3, ls, NULL, 0);
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o.v, &lse.v), "lse dtype");
  lse.v.dtype = TIRRT_DTYPE_F32;
  lse.v.shape[2] = 6;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o.v, &lse.v), "lse shape");
  pr.dropout_p = -1;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o.v, NULL), "dropout_p < 0");
  pr.dropout_p = 0;
  pr.scale = NAN;
  expect_invalid(tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o.v, NULL), "scale NaN");
  tens_free(&q);
  tens_free(&k);
  tens_free(&v);
  tens_free(&o);
  tens_free(&mk);
  tens_free(&lse);
}

/* NaN inputs propagate (as in PyTorch) instead of turning into the
 * fully-masked 0: a NaN in query row 0 gives a NaN output row 0 only. */
static void test_nan(void) {
  int64_t qs[3] = {1, 40, 8}, ks[3] = {1, 100, 8}, os[3] = {1, 40, 8};
  tens_t q = tens_make(TIRRT_DTYPE_F32, 3, qs, NULL, 0), k = tens_make(TIRRT_DTYPE_F32, 3, ks, NULL, 0);
  tens_t v = tens_make(TIRRT_DTYPE_F32, 3, ks, NULL, 0), o = tens_make(TIRRT_DTYPE_F32, 3, os, NULL, 0);
  for (int64_t f = 0; f < 320; f++) set_off(&q.v, f, f < 8 ? NAN : rng_normal());
  for (int64_t f = 0; f < 800; f++) set_off(&k.v, f, rng_normal()), set_off(&v.v, f, rng_normal());
  tirrt_sdpa_params_t pr = {.scale = 0.3};
  tirrt_status_t st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o.v, NULL);
  tirrt_status_free(st);
  int64_t nan0 = 0, nan_rest = 0;
  for (int64_t f = 0; f < 320; f++) *(f < 8 ? &nan0 : &nan_rest) += isnan(get_off(&o.v, f)) != 0;
  CHECKF(nan0 == 8 && nan_rest == 0, "NaN propagation: row 0 has %" PRId64 " NaN of 8, others %" PRId64,
         nan0, nan_rest);
  tens_free(&q);
  tens_free(&k);
  tens_free(&v);
  tens_free(&o);
}

/* ------------------------------------------------------------ timing */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GPT-2 small attention: B=1, H=12, L=S=1024, E=64, f32 (printed, not
 * asserted). */
static void time_gpt2(void) {
  int64_t sh[4] = {1, 12, 1024, 64};
  tens_t q = tens_make(TIRRT_DTYPE_F32, 4, sh, NULL, 0), k = tens_make(TIRRT_DTYPE_F32, 4, sh, NULL, 0);
  tens_t v = tens_make(TIRRT_DTYPE_F32, 4, sh, NULL, 0), o = tens_make(TIRRT_DTYPE_F32, 4, sh, NULL, 0);
  tens_t *all[3] = {&q, &k, &v};
  for (int t = 0; t < 3; t++)
    for (int64_t f = 0; f < numel_of(&q.v); f++) ((float *)all[t]->buf)[f] = (float)rng_normal();
  for (int causal = 0; causal < 2; causal++) {
    tirrt_sdpa_params_t pr = {.scale = 0.125, .is_causal = causal};
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
      double t0 = now();
      tirrt_status_t st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o.v, NULL);
      double dt = now() - t0;
      tirrt_status_free(st);
      if (dt < best) best = dt;
    }
    double flops = 4.0 * 12 * 1024 * 1024 * 64 * (causal ? 0.5 : 1.0);
    printf("  timing: GPT-2 small attention (1x12x1024x1024, E=64, f32%s): %.1f ms (%.1f GFLOP/s)\n",
           causal ? ", causal" : "", best * 1e3, flops / best * 1e-9);
  }
  tens_free(&q);
  tens_free(&k);
  tens_free(&v);
  tens_free(&o);
}

int main(int argc, char **argv) {
  uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
  bool small = false;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--seed=", 7) == 0) seed = strtoull(argv[i] + 7, NULL, 0);
    else if (strcmp(argv[i], "--small") == 0) small = true;
  }
  printf("test_cpu_sdpa: seed %" PRIu64 " (replay with --seed=%" PRIu64 ")\n", seed, seed);
  rng_state = seed;

  test_philox();
  test_dropout_kernel(seed);
  test_errors();
  test_nan();
  const tirrt_dtype_t dts[4] = {TIRRT_DTYPE_F64, TIRRT_DTYPE_F32, TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16};
  for (size_t c = 0; c < N_CASES; c++) {
    if (small && (cases[c].L * cases[c].S > 5000 || cases[c].Hq * cases[c].L > 200)) continue;
    for (int d = 0; d < 4; d++) {
      if (cases[c].f16_only && dts[d] != TIRRT_DTYPE_F16) continue;
      run_case(&cases[c], dts[d], rng_next(), NULL, false);
    }
  }
  if (!small) {
    test_sdpa_dropout(seed);
    time_gpt2();
  }
  return CHECK_SUMMARY();
}
