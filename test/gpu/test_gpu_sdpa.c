/* test_gpu_sdpa.c — checks the CUDA attention kernels (kernels/tirk_attention.h)
 * against a float64 reference computed here on the CPU from the same rounded
 * inputs.  Rule (FlashAttention's): a kernel passes iff its max abs error vs
 * the f64 reference is <= 2 x the error of an unfused CPU computation in the
 * same dtype (scores, probabilities and output rounded to the dtype, as
 * PyTorch's math path does) + a tiny floor.  Also: every output element is
 * written (outputs are poisoned with NaN bytes first), lse, the dropout mask
 * (bit-exact against tirrt_dropout_keep, keep rate, reproducibility) and
 * agreement with the CPU kernel tirrt_cpu_sdpa.  Cases with a sliding window
 * or a softcap also check the reference against tt_ref_sdpa (test/lib), the
 * float64 definition the other tests use.  Exits 77 without a GPU. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "tirk_attention.h"
#include "tirrt_cpu.h"
#include "tt.h"
#include "tt_ref.h"

#include "gpu_check.h"

/* ------------------------------------------------------------ random data */
static int cpu_only; /* TIRK_SDPA_CPUONLY=1: check the references only (no GPU needed) */

/* ------------------------------------------------------------ dtypes */
static const char *dt_name(int dt) {
  return dt == TIRK_F16 ? "f16" : dt == TIRK_BF16 ? "bf16" : dt == TIRK_F32 ? "f32" : dt == TIRK_F64 ? "f64" : "bool";
}
static size_t dt_size(int dt) { return dt == TIRK_F64 ? 8 : dt == TIRK_F32 ? 4 : dt == TIRK_BOOL ? 1 : 2; }
/* x rounded to dtype dt (round to nearest even), as a double. */
static double rd(int dt, double x) {
  switch (dt) {
    case TIRK_F16: return tirrt_half_to_float(tirrt_double_to_half(x));
    case TIRK_BF16: return tirrt_bf16_to_float(tirrt_double_to_bf16(x));
    case TIRK_F32: return (float)x;
    default: return x;
  }
}
static void put(void *buf, int dt, int64_t i, double x) {
  uint16_t h;
  float f;
  switch (dt) {
    case TIRK_BOOL: ((uint8_t *)buf)[i] = x != 0; break;
    case TIRK_F16: h = tirrt_double_to_half(x); memcpy((char *)buf + i * 2, &h, 2); break;
    case TIRK_BF16: h = tirrt_double_to_bf16(x); memcpy((char *)buf + i * 2, &h, 2); break;
    case TIRK_F32: f = (float)x; memcpy((char *)buf + i * 4, &f, 4); break;
    default: memcpy((char *)buf + i * 8, &x, 8); break;
  }
}
static double get(const void *buf, int dt, int64_t i) {
  uint16_t h;
  float f;
  double d;
  switch (dt) {
    case TIRK_F16: memcpy(&h, (const char *)buf + i * 2, 2); return tirrt_half_to_float(h);
    case TIRK_BF16: memcpy(&h, (const char *)buf + i * 2, 2); return tirrt_bf16_to_float(h);
    case TIRK_F32: memcpy(&f, (const char *)buf + i * 4, 4); return f;
    default: memcpy(&d, (const char *)buf + i * 8, 8); return d;
  }
}

/* ------------------------------------------------------------ tensors */
/* A tensor [batch..., H, R, C]: logical values (double, already rounded),
 * and its storage in dtype on host and device, either row-major
 * ("contiguous") or as [batch..., R, H, C] ("transposed", the layout of
 * q.transpose(-3, -2) of a [B, L, H, E] tensor). */
typedef struct {
  int dt, rank, transposed;
  int64_t shape[8], strides[8], n;
  double *val; /* logical row-major */
  void *host, *dev;
} ten_t;

static void ten_init(ten_t *t, int dt, int rank, const int64_t *shape, int transposed) {
  memset(t, 0, sizeof *t);
  t->dt = dt;
  t->rank = rank;
  t->transposed = transposed && rank >= 3;
  t->n = 1;
  for (int d = 0; d < rank; d++) t->shape[d] = shape[d], t->n *= shape[d];
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) t->strides[d] = s, s *= shape[d];
  if (t->transposed) {
    int64_t H = shape[rank - 3], C = shape[rank - 1];
    t->strides[rank - 1] = 1;
    t->strides[rank - 3] = C;
    t->strides[rank - 2] = H * C;
  }
  t->val = calloc((size_t)(t->n ? t->n : 1), sizeof(double));
  t->host = calloc((size_t)(t->n ? t->n : 1), dt_size(dt));
}
/* Storage offset of logical row-major index li. */
static int64_t ten_off(const ten_t *t, int64_t li) {
  int64_t off = 0;
  for (int d = t->rank - 1; d >= 0; d--) {
    off += (li % t->shape[d]) * t->strides[d];
    li /= t->shape[d];
  }
  return off;
}
static void ten_upload(ten_t *t) {
  for (int64_t i = 0; i < t->n; i++) put(t->host, t->dt, ten_off(t, i), t->val[i]);
  size_t bytes = (size_t)(t->n ? t->n : 1) * dt_size(t->dt);
  if (cpu_only) return;
  CK(cudaMalloc(&t->dev, bytes));
  CK(cudaMemcpy(t->dev, t->host, bytes, cudaMemcpyHostToDevice));
}
static void ten_free(ten_t *t) {
  free(t->val);
  free(t->host);
  if (t->dev) cudaFree(t->dev);
  memset(t, 0, sizeof *t);
}
static tirk_view_t kview(const ten_t *t) {
  tirk_view_t v;
  memset(&v, 0, sizeof v);
  v.dtype = t->dt;
  v.rank = t->rank;
  for (int d = 0; d < t->rank; d++) v.shape[d] = t->shape[d], v.strides[d] = t->strides[d];
  v.data = t->dev;
  return v;
}
static tirrt_view_t hview(const ten_t *t) {
  tirrt_view_t v;
  memset(&v, 0, sizeof v);
  v.dtype = (tirrt_dtype_t)t->dt;
  v.rank = t->rank;
  for (int d = 0; d < t->rank; d++) v.shape[d] = t->shape[d], v.strides[d] = t->strides[d];
  v.data = t->host;
  return v;
}
/* Row-major index in t of the element that broadcasts to (b, h, r, c),
 * b being the row-major index in the out batch shape obs[nb]. */
static int64_t bidx(const ten_t *t, int nb, const int64_t *obs, int64_t b, int64_t h, int64_t r, int64_t c) {
  int64_t idx[8] = {0};
  for (int d = nb - 1; d >= 0; d--) idx[d] = b % obs[d], b /= obs[d];
  int64_t full[12];
  for (int d = 0; d < nb; d++) full[d] = idx[d];
  full[nb] = h, full[nb + 1] = r, full[nb + 2] = c;
  int64_t li = 0, tot = nb + 3;
  for (int d = 0; d < t->rank; d++) {
    int64_t fd = full[tot - t->rank + d];
    li = li * t->shape[d] + (t->shape[d] == 1 ? 0 : fd);
  }
  return li;
}

/* ------------------------------------------------------------ cases */
enum { MK_NONE, MK_BOOL, MK_FLOAT, MK_FLOATINF };
enum { MS_FULL, MS_11LS, MS_LS, MS_B1LS, MS_B11S, MS_111S, MS_BH1S, MS_S };
/* Key masks (query axis 1 or absent: flash takes them), whose values follow
 * a pattern: random, left or right padding (the first / last pad(r) keys of
 * mask row r masked, as HF's padded batches), or random with mask row 1
 * (row 0 if there is one row) fully masked. */
enum { KP_RANDOM, KP_LEFT, KP_RIGHT, KP_DEAD };
static int key_shape(int ms) { return ms >= MS_B11S; }
typedef struct {
  const char *what;
  int dt, nb;
  int64_t bq[2], bk[2];
  int64_t Hq, Hk, L, S, E, Ev;
  int mask, mshape, causal; /* causal: 0, 1 top-left, 2 bottom-right */
  double p, mag;
  int transposed, fullrows;
  int kpat, mf32; /* key masks: KP_*; a float mask in f32 (else q's dtype) */
} case_t;

/* The attributes beyond version 1 (docs/language.md), kept out of case_t so
 * that its positional initializers stay complete: window (0: none), softcap
 * (0: none), br (bottom-right alignment without is_causal, which the window
 * uses) and infout (a float mask holds +inf where no row that reads it can
 * see the key: outside the window, where it must not be read). */
typedef struct {
  int64_t window;
  double softcap;
  int br, infout;
} ext_t;
static const ext_t NO_EXT = {0, 0, 0, 0};

typedef struct {
  char line[200];
  int ok;
} result_t;
static result_t results[4000];
static int nres, nfail;
static cublasHandle_t blas;

static void report(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(results[nres].line, sizeof results[nres].line, fmt, ap);
  va_end(ap);
  results[nres].ok = ok;
  printf("%s %s\n", ok ? "PASS" : "FAIL", results[nres].line);
  fflush(stdout);
  if (!ok) nfail++;
  if (nres < 3999) nres++;
}

/* Reference outputs for one case: f64 (out64, lse64) and unfused-in-dtype (outu). */
static void reference(const case_t *c, const ext_t *x_, const ten_t *q, const ten_t *k, const ten_t *v,
                      const ten_t *m, int nb, const int64_t *obs, int64_t nbatch, double scale, uint64_t seed,
                      double *out64, double *lse64, double *outu) {
  const int64_t L = c->L, S = c->S, E = c->E, Ev = c->Ev, G = c->Hq / c->Hk;
  const int64_t off = c->causal == 2 || x_->br ? S - L : 0, W = x_->window;
  const double cap = x_->softcap;
  const int dt = c->dt;
  double *s = malloc(sizeof(double) * (size_t)(S ? S : 1)), *su = malloc(sizeof(double) * (size_t)(S ? S : 1));
  double mthresh = m && m->dt == TIRK_F16 ? -65504.0 : -1e30;
  const double dscale = c->p < 1 ? 1.0 / (1.0 - c->p) : 0.0, sqs = sqrt(scale);
  for (int64_t b = 0; b < nbatch; b++)
    for (int64_t h = 0; h < c->Hq; h++)
      for (int64_t i = 0; i < L; i++) {
        double mx = -INFINITY, mxu = -INFINITY;
        for (int64_t j = 0; j < S; j++) {
          /* The unfused computation scales q and k by sqrt(scale) first, as PyTorch's
           * math path does (so 16-bit scores do not overflow). */
          double acc = 0;
          float accf = 0;
          for (int64_t e = 0; e < E; e++) {
            double qv = q->val[bidx(q, nb, obs, b, h, i, e)], kv = k->val[bidx(k, nb, obs, b, h / G, j, e)];
            acc += qv * kv;
            accf += (float)rd(dt, qv * sqs) * (float)rd(dt, kv * sqs);
          }
          double x = acc * scale, xu = dt == TIRK_F64 ? acc * scale : rd(dt, accf);
          if (cap > 0) { /* unfused: / C, tanh, * C, each rounded (Gemma 2's eager chain) */
            x = cap * tanh(x / cap);
            xu = rd(dt, rd(dt, tanh(rd(dt, xu / cap))) * cap);
          }
          int vis = !(c->causal && j > i + off) && !(W > 0 && j <= i + off - W);
          if (vis && m) {
            double mv = m->val[bidx(m, nb, obs, b, h, i, j)];
            if (m->dt == TIRK_BOOL) vis = mv != 0;
            else if (mv <= mthresh) vis = 0;
            else x += mv, xu = rd(dt, xu + mv);
          }
          s[j] = vis ? x : -INFINITY;
          su[j] = vis ? xu : -INFINITY;
          if (s[j] > mx) mx = s[j];
          if (su[j] > mxu) mxu = su[j];
        }
        double *o = out64 + ((b * c->Hq + h) * L + i) * Ev, *ou = outu + ((b * c->Hq + h) * L + i) * Ev;
        for (int64_t e = 0; e < Ev; e++) o[e] = ou[e] = 0;
        lse64[(b * c->Hq + h) * L + i] = -INFINITY;
        if (mx == -INFINITY) continue;
        double sum = 0, sumu = 0;
        for (int64_t j = 0; j < S; j++) {
          s[j] = exp(s[j] - mx), sum += s[j];
          su[j] = dt == TIRK_F64 ? exp(su[j] - mxu) : (float)expf((float)(su[j] - mxu));
          sumu += su[j];
        }
        lse64[(b * c->Hq + h) * L + i] = mx + log(sum);
        float *accu = calloc((size_t)Ev, sizeof(float));
        for (int64_t j = 0; j < S; j++) {
          double pj = s[j] / sum, pu = dt == TIRK_F64 ? su[j] / sumu : rd(dt, (float)su[j] / (float)sumu);
          if (c->p > 0) {
            uint64_t idx = (uint64_t)(((b * c->Hq + h) * L + i) * S + j);
            int keep = tirrt_dropout_keep(seed, 7, idx, c->p);
            pj = keep ? pj * dscale : 0;
            pu = keep ? rd(dt, pu * (dt == TIRK_F64 ? dscale : (float)dscale)) : 0;
          }
          if (pj == 0 && pu == 0) continue;
          for (int64_t e = 0; e < Ev; e++) {
            double vv = v->val[bidx(v, nb, obs, b, h / G, j, e)];
            o[e] += pj * vv;
            if (dt == TIRK_F64) ou[e] += pu * vv;
            else accu[e] += (float)pu * (float)vv;
          }
        }
        if (dt != TIRK_F64)
          for (int64_t e = 0; e < Ev; e++) ou[e] = rd(dt, accu[e]);
        free(accu);
      }
  free(s);
  free(su);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill_random(ten_t *t, double mag) {
  for (int64_t i = 0; i < t->n; i++) t->val[i] = rd(t->dt, tt_rng_normal() * mag);
}

/* Kernels under test: 0 mem_efficient, 1 math, then the flash kernel
 * automatic (2) and with each of its paths forced: 3 the Hopper wgmma/TMA
 * kernel, 4 split-KV, 5 mma.sync. */
enum { NKERN = 6 };
static const char *const KNAME[NKERN] = {"mem_eff", "math", "flash", "fl-sm90", "fl-splt", "fl-mma"};
static int hopper;
static int64_t path_runs[NKERN];
static tirk_err_t call_kernel(int kernel, tirk_sdpa_args_t *a) {
  void *ws = NULL;
  tirk_err_t err;
  if (kernel == 0) {
    err = tirk_sdpa_mem_efficient(a, 0);
  } else if (kernel == 1) {
    size_t wsz = tirk_sdpa_math_workspace(a);
    if (wsz && cudaMalloc(&ws, wsz) != cudaSuccess) return TIRK_ERR_CUDA;
    err = tirk_sdpa_math(a, blas, ws, 0);
  } else {
    tirk_sdpa_flash_set_path(kernel == 2 ? 0 : kernel - 2);
    size_t wsz = tirk_sdpa_flash_workspace(a);
    if (wsz && cudaMalloc(&ws, wsz) != cudaSuccess) return TIRK_ERR_CUDA;
    err = tirk_sdpa_flash(a, ws, 0);
    tirk_sdpa_flash_set_path(0);
  }
  cudaDeviceSynchronize();
  if (ws) cudaFree(ws);
  return err;
}

/* Runs one case through every kernel that takes it. */
static void run_case_x(const case_t *c, const ext_t *x) {
  const int nb = c->nb;
  int64_t obs[2] = {1, 1}, nbatch = 1;
  for (int d = 0; d < nb; d++) obs[d] = c->bq[d] > c->bk[d] ? c->bq[d] : c->bk[d], nbatch *= obs[d];
  int64_t sh[8];
  ten_t q, k, v, out, m, lse;
  int has_mask = c->mask != MK_NONE;
#define SHAPE4(b, h, r, col) \
  (memcpy(sh, b, sizeof(int64_t) * (size_t)nb), sh[nb] = (h), sh[nb + 1] = (r), sh[nb + 2] = (col), sh)
  ten_init(&q, c->dt, nb + 3, SHAPE4(c->bq, c->Hq, c->L, c->E), c->transposed);
  ten_init(&k, c->dt, nb + 3, SHAPE4(c->bk, c->Hk, c->S, c->E), c->transposed);
  ten_init(&v, c->dt, nb + 3, SHAPE4(c->bk, c->Hk, c->S, c->Ev), c->transposed);
  ten_init(&out, c->dt, nb + 3, SHAPE4(obs, c->Hq, c->L, c->Ev), c->transposed);
  /* Scores of magnitude ~mag^2 * sqrt(E) * scale: mag 100 gives +-1e4. */
  fill_random(&q, c->mag);
  fill_random(&k, c->mag);
  fill_random(&v, 1.0);
  memset(&m, 0, sizeof m);
  if (has_mask) {
    int mdt = c->mask == MK_BOOL ? TIRK_BOOL : c->mf32 ? TIRK_F32 : c->dt;
    int64_t ms[8];
    int mr;
    if (c->mshape == MS_FULL) mr = nb + 3, memcpy(ms, obs, 8 * (size_t)nb), ms[nb] = c->Hq, ms[nb + 1] = c->L, ms[nb + 2] = c->S;
    else if (c->mshape == MS_11LS) mr = 4, ms[0] = ms[1] = 1, ms[2] = c->L, ms[3] = c->S;
    else if (c->mshape == MS_LS) mr = 2, ms[0] = c->L, ms[1] = c->S;
    else if (c->mshape == MS_B1LS) mr = nb + 3, memcpy(ms, obs, 8 * (size_t)nb), ms[nb] = 1, ms[nb + 1] = c->L, ms[nb + 2] = c->S;
    else if (c->mshape == MS_B11S) mr = nb + 3, memcpy(ms, obs, 8 * (size_t)nb), ms[nb] = 1, ms[nb + 1] = 1, ms[nb + 2] = c->S;
    else if (c->mshape == MS_111S) mr = 4, ms[0] = ms[1] = ms[2] = 1, ms[3] = c->S;
    else if (c->mshape == MS_BH1S) mr = nb + 3, memcpy(ms, obs, 8 * (size_t)nb), ms[nb] = c->Hq, ms[nb + 1] = 1, ms[nb + 2] = c->S;
    else mr = 1, ms[0] = c->S;
    ten_init(&m, mdt, mr, ms, 0);
    for (int64_t i = 0; i < m.n; i++) {
      if (c->mask == MK_BOOL) m.val[i] = tt_rng_unif(0, 1) < 0.75;
      else if (c->mask == MK_FLOAT) m.val[i] = rd(mdt, tt_rng_normal() * 2);
      else {
        double u = tt_rng_unif(0, 1);
        m.val[i] = u < 0.15 ? -INFINITY : u < 0.3 ? (mdt == TIRK_F16 ? -65504.0 : -1e30) : rd(mdt, tt_rng_normal() * 2);
      }
    }
    if (c->fullrows) /* every 5th query row sees no key */
      for (int64_t i = 0; i < m.n; i++)
        if (((i / c->S) % c->L) % 5 == 2) m.val[i] = c->mask == MK_BOOL ? 0 : -INFINITY;
    if (c->kpat != KP_RANDOM && c->S > 0) {
      /* masked: false, -inf, or (MK_FLOATINF) the dtype's lowest as HF writes it;
       * kept: true, a random addend (MK_FLOAT) or 0 */
      const double lowest = mdt == TIRK_F16 ? -65504.0 : mdt == TIRK_BF16 ? rd(mdt, -3.38e38) : -3.4028234663852886e38;
      const double off = c->mask == MK_BOOL ? 0 : c->mask == MK_FLOAT ? -INFINITY : lowest;
      const int64_t nr = m.n / c->S;
      for (int64_t i = 0; i < m.n; i++) {
        const int64_t r = i / c->S, j = i % c->S, pad = (r * 37 + 5) % (c->S / 2 + 1);
        int masked = c->kpat == KP_LEFT ? j < pad : c->kpat == KP_RIGHT ? j >= c->S - pad : r == (nr > 1);
        if (c->kpat != KP_DEAD)
          m.val[i] = c->mask == MK_BOOL ? 1 : c->mask == MK_FLOAT ? rd(mdt, tt_rng_normal() * 2) : 0;
        if (masked) m.val[i] = off;
      }
    }
    if (x->infout && c->mask != MK_BOOL && x->window > 0) {
      /* Last (over the patterns above): +inf where every query row that
       * reads the mask element has the key before its window (a mask row
       * of size 1 serves all rows, and row 0 has the earliest window);
       * a kernel that read it would make NaN. */
      const int64_t mL = m.rank >= 2 ? m.shape[m.rank - 2] : 1;
      const int64_t off = c->causal == 2 || x->br ? c->S - c->L : 0;
      for (int64_t i = 0; i < m.n; i++) {
        const int64_t j = i % c->S, r = mL > 1 ? (i / c->S) % mL : 0;
        if (j <= r + off - x->window) m.val[i] = INFINITY;
      }
    }
    ten_upload(&m);
  }
  ten_upload(&q);
  ten_upload(&k);
  ten_upload(&v);
  ten_upload(&out);
  int64_t lsh[8];
  memcpy(lsh, obs, 8 * (size_t)nb);
  lsh[nb] = c->Hq, lsh[nb + 1] = c->L;
  ten_init(&lse, TIRK_F32, nb + 2, lsh, 0);
  ten_upload(&lse);

  const double scale = 1.0 / sqrt((double)c->E);
  const uint64_t seed = tt_rng_u64();
  const int64_t no = out.n, nl = lse.n;
  double *ref = malloc(sizeof(double) * (size_t)(no + 1)), *refu = malloc(sizeof(double) * (size_t)(no + 1));
  double *lref = malloc(sizeof(double) * (size_t)(nl + 1));
  reference(c, x, &q, &k, &v, has_mask ? &m : NULL, nb, obs, nbatch, scale, seed, ref, lref, refu);
  const tirrt_sdpa_params_t prm = {.scale = scale, .dropout_p = c->p, .is_causal = c->causal != 0,
                                   .bottom_right = c->causal == 2 || x->br, .enable_gqa = c->Hq != c->Hk,
                                   .window = x->window, .softcap = x->softcap, .seed = seed, .stream = 7};
  if ((x->window > 0 || x->softcap > 0) && c->dt != TIRK_BF16) {
    /* The reference must be tt_ref_sdpa's function (the definition); its
     * logic does not depend on the dtype beyond the mask thresholds, which
     * f16 (-65504) and f32 (-1e30) cover. */
    tirrt_view_t hq = hview(&q), hk = hview(&k), hv = hview(&v), hm = hview(&m);
    double *o2 = malloc(sizeof(double) * (size_t)(no + 1)), *l2 = malloc(sizeof(double) * (size_t)(nl + 1));
    uint8_t *dead = malloc((size_t)(nl + 1));
    tt_ref_sdpa(&hq, &hk, &hv, has_mask ? &hm : NULL, &prm, nb + 3, obs, o2, l2, dead);
    double d = 0;
    for (int64_t i = 0; i < no; i++) {
      double e = fabs(o2[i] - ref[i]);
      if (e > d || e != e) d = e;
    }
    for (int64_t i = 0; i < nl; i++) {
      double e = lref[i] == l2[i] ? 0 : fabs(l2[i] - lref[i]) / (1 + fabs(lref[i]));
      if (e > d || e != e) d = e;
    }
    if (!(d <= 1e-9)) report(0, "reference %-4s %-34s differs from tt_ref_sdpa by %.2e", dt_name(c->dt), c->what, d);
    free(o2), free(l2), free(dead);
  }
  double maxref = 0, erru = 0;
  for (int64_t i = 0; i < no; i++) {
    if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
    double e = fabs(refu[i] - ref[i]);
    if (e > erru || e != e) erru = e;
  }
  /* The unfused error row by row.  With large scores (mag > 1) most rows are
   * one-hot, which the unfused chain computes exactly, while a few near ties
   * (16-bit scores) make the global bound large: the flash kernels must also
   * meet the bound row by row there (issue 14: one-hot rows one f16 ulp off). */
  const int64_t nrow = c->Ev > 0 ? no / c->Ev : 0;
  double *rowu = malloc(sizeof(double) * (size_t)(nrow + 1)), *rowg = malloc(sizeof(double) * (size_t)(nrow + 1));
  for (int64_t r = 0; r < nrow; r++) {
    rowu[r] = 0;
    for (int64_t e = 0; e < c->Ev; e++) {
      double d = fabs(refu[r * c->Ev + e] - ref[r * c->Ev + e]);
      if (d > rowu[r] || d != d) rowu[r] = d;
    }
  }
  /* The CPU kernel in the same dtype and layout (its error, and the dropout mask's equality). */
  double errcpu = 0;
  {
    tirrt_view_t hq = hview(&q), hk = hview(&k), hv = hview(&v), ho = hview(&out), hm = hview(&m);
    tirrt_status_t st = tirrt_cpu_sdpa(&hq, &hk, &hv, has_mask ? &hm : NULL, &prm, &ho, NULL);
    if (st) {
      printf("cpu sdpa failed: %s\n", tirrt_status_message(st));
      tirrt_status_free(st);
      errcpu = NAN;
    } else {
      for (int64_t i = 0; i < no; i++) {
        double e = fabs(get(out.host, c->dt, ten_off(&out, i)) - ref[i]);
        if (e > errcpu || e != e) errcpu = e;
      }
    }
  }
  const double floor = c->dt == TIRK_F64 ? 1e-12 : c->dt == TIRK_F32 ? 1e-6 : 1e-4;
  const double bound = 2 * erru + floor * (maxref > 1 ? maxref : 1);
  const double lse_tol = 1e-5; /* lse is f32 for every dtype */
  size_t obytes = (size_t)no * dt_size(c->dt);
  void *got = malloc(obytes + 1);
  float *glse = malloc(sizeof(float) * (size_t)(nl + 1));
  if (cpu_only)
    report(errcpu <= 2 * erru + floor * (maxref > 1 ? maxref : 1) || c->dt == TIRK_F64, "cpu-only %-4s %-34s unfused %.2e cpu %.2e",
           dt_name(c->dt), c->what, erru, errcpu);
  for (int kernel = 0; kernel < NKERN && !cpu_only; kernel++) {
    if (kernel == 0 && c->dt == TIRK_F64) continue;
    if (kernel >= 2 && ((c->dt != TIRK_F16 && c->dt != TIRK_BF16) || (has_mask && !key_shape(c->mshape))))
      continue; /* flash's domain: causal and key masks */
    if (kernel == 3 && !hopper) continue;
    tirk_sdpa_args_t a;
    memset(&a, 0, sizeof a);
    a.q = kview(&q), a.k = kview(&k), a.v = kview(&v), a.out = kview(&out);
    tirk_view_t mv = kview(&m);
    a.mask = has_mask ? &mv : NULL;
    a.lse = (float *)lse.dev;
    a.scale = scale, a.dropout_p = c->p;
    a.is_causal = c->causal != 0, a.bottom_right = c->causal == 2 || x->br, a.enable_gqa = c->Hq != c->Hk;
    a.window = x->window, a.softcap = x->softcap;
    a.seed = seed, a.stream = 7;
    CK(cudaMemset(out.dev, 0xff, obytes ? obytes : 1)); /* NaN in every float dtype */
    CK(cudaMemset(lse.dev, 0xff, sizeof(float) * (size_t)(nl ? nl : 1)));
    tirk_err_t err = call_kernel(kernel, &a);
    cudaError_t ce = cudaDeviceSynchronize();
    const char *kn = KNAME[kernel];
    /* A forced flash path may refuse a layout or size it does not take. */
    if (kernel >= 3 && err == TIRK_ERR_UNSUPPORTED && ce == cudaSuccess) {
      printf("skip %-7s %-4s %-34s (%s)\n", kn, dt_name(c->dt), c->what, tirk_last_message());
      continue;
    }
    path_runs[kernel]++;
    if (err != TIRK_OK || ce != cudaSuccess) {
      report(0, "%-7s %-4s %-34s error %d (%s) cuda %s", kn, dt_name(c->dt), c->what, (int)err,
             tirk_last_message(), cudaGetErrorString(ce));
      continue;
    }
    CK(cudaMemcpy(got, out.dev, obytes, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(glse, lse.dev, sizeof(float) * (size_t)nl, cudaMemcpyDeviceToHost));
    double err_g = 0, err_cg = 0, lerr = 0;
    int64_t unwritten = 0, rows_over = 0;
    for (int64_t r = 0; r < nrow; r++) rowg[r] = 0;
    for (int64_t i = 0; i < no; i++) {
      double g = get(got, c->dt, ten_off(&out, i));
      if (g != g) {
        unwritten++;
        continue;
      }
      double e = fabs(g - ref[i]);
      if (e > err_g) err_g = e;
      if (e > rowg[i / c->Ev]) rowg[i / c->Ev] = e;
      double ec = fabs(g - get(out.host, c->dt, ten_off(&out, i)));
      if (ec > err_cg) err_cg = ec;
    }
    if (kernel >= 2 && c->mag > 1) /* the per-row bound (above) */
      for (int64_t r = 0; r < nrow; r++)
        if (rowg[r] > 2 * rowu[r] + floor * (maxref > 1 ? maxref : 1)) rows_over++;
    int lse_bad = 0;
    for (int64_t i = 0; i < nl; i++) {
      double g = glse[i], r = lref[i];
      if (r == -INFINITY) {
        if (g != -INFINITY) lse_bad++;
        continue;
      }
      double e = fabs(g - r) / (1 + fabs(r));
      if (!(e <= lse_tol)) lse_bad++;
      if (e > lerr) lerr = e;
    }
    /* The CPU kernel carries its own rounding: allow it on top of the bound. */
    int ok = !unwritten && err_g <= bound && !lse_bad && err_cg <= bound + errcpu && !rows_over;
    report(ok, "%-7s %-4s %-38s err %.2e bound %.2e (unfused %.2e cpu %.2e |gpu-cpu| %.2e) lse %.1e%s%s%s", kn,
           dt_name(c->dt), c->what, err_g, bound, erru, errcpu, err_cg, lerr, unwritten ? " UNWRITTEN" : "",
           lse_bad ? " LSE-BAD" : "", rows_over ? " ROWS-OVER-ROW-BOUND" : "");
    if (rows_over) printf("       %lld of %lld rows over their own bound (2 x the row's unfused error + floor)\n",
                          (long long)rows_over, (long long)nrow);
  }
  free(got), free(glse), free(ref), free(refu), free(lref), free(rowu), free(rowg);
  ten_free(&q), ten_free(&k), ten_free(&v), ten_free(&out), ten_free(&lse);
  if (has_mask) ten_free(&m);
}

static void run_case(const case_t *c) { run_case_x(c, &NO_EXT); }

/* ------------------------------------------------------------ dropout probe */
/* With v the identity (S = Ev, v[j][e] = (j == e)) out[i][j] = P[i][j] * keep / (1 - p),
 * so the kept set is visible: it must equal tirrt_dropout_keep exactly. */
static void dropout_probe(int dt, int kernel) {
  const int64_t B = 2, H = 4, L = kernel == 4 ? 8 : 256, S = 64, E = 64;
  const double p = 0.3;
  int64_t qs[4] = {B, H, L, E}, ks[4] = {B, H, S, E}, vs[4] = {B, H, S, S};
  ten_t q, k, v, out;
  ten_init(&q, dt, 4, qs, 0), ten_init(&k, dt, 4, ks, 0), ten_init(&v, dt, 4, vs, 0);
  ten_init(&out, dt, 4, (int64_t[]){B, H, L, S}, 0);
  fill_random(&q, 1.0), fill_random(&k, 1.0);
  for (int64_t i = 0; i < v.n; i++) v.val[i] = (i / S) % S == i % S;
  ten_upload(&q), ten_upload(&k), ten_upload(&v), ten_upload(&out);
  size_t ob = (size_t)out.n * dt_size(dt);
  unsigned char *o1 = malloc(ob), *o2 = malloc(ob), *o3 = malloc(ob);
  uint64_t seeds[3] = {12345, 12345, 999};
  unsigned char *dst[3] = {o1, o2, o3};
  for (int r = 0; r < 3; r++) {
    tirk_sdpa_args_t a;
    memset(&a, 0, sizeof a);
    a.q = kview(&q), a.k = kview(&k), a.v = kview(&v), a.out = kview(&out);
    a.scale = 1.0 / sqrt((double)E), a.dropout_p = p, a.seed = seeds[r], a.stream = 3;
    CK(cudaMemset(out.dev, 0xff, ob));
    tirk_err_t err = call_kernel(kernel, &a);
    CK(cudaDeviceSynchronize());
    if (err) {
      report(0, "%-7s %-4s dropout probe: error %d %s", KNAME[kernel], dt_name(dt), (int)err,
             tirk_last_message());
      goto done;
    }
    CK(cudaMemcpy(dst[r], out.dev, ob, cudaMemcpyDeviceToHost));
  }
  int64_t kept = 0, mismatch = 0, nan = 0;
  for (int64_t i = 0; i < out.n; i++) {
    double g = get(o1, dt, i);
    if (g != g) nan++;
    int keep = tirrt_dropout_keep(12345, 3, (uint64_t)i, p); /* out index == probability index here */
    kept += keep;
    if ((g != 0) != keep) mismatch++;
  }
  double rate = (double)kept / (double)out.n, sigma = sqrt(p * (1 - p) / (double)out.n);
  int same = memcmp(o1, o2, ob) == 0, differ = memcmp(o1, o3, ob) != 0;
  int ok = !nan && !mismatch && fabs(rate - (1 - p)) < 5 * sigma && same && differ;
  report(ok, "%-7s %-4s dropout probe p=0.3: keep rate %.4f (1-p=%.2f, sigma %.4f) mask mismatches %lld "
         "same-seed-identical %d diff-seed-differs %d", KNAME[kernel], dt_name(dt), rate, 1 - p,
         sigma, (long long)mismatch, same, differ);
done:
  free(o1), free(o2), free(o3);
  ten_free(&q), ten_free(&k), ten_free(&v), ten_free(&out);
}

/* ------------------------------------------------------------ unsupported inputs */
static void unsupported_checks(void) {
  /* mem_efficient refuses f64 and head dims > 256; math refuses a last-dim stride != 1. */
  int64_t s3[3] = {2, 8, 264};
  ten_t q;
  ten_init(&q, TIRK_F32, 3, s3, 0);
  fill_random(&q, 1);
  ten_upload(&q);
  tirk_sdpa_args_t a;
  memset(&a, 0, sizeof a);
  a.q = a.k = a.v = a.out = kview(&q);
  a.scale = 0.1;
  tirk_err_t e1 = tirk_sdpa_mem_efficient(&a, 0);
  a.q.dtype = a.k.dtype = a.v.dtype = a.out.dtype = TIRK_F64;
  tirk_err_t e2 = tirk_sdpa_mem_efficient(&a, 0);
  a.q.dtype = a.k.dtype = a.v.dtype = a.out.dtype = TIRK_F32;
  a.q.shape[2] = a.k.shape[2] = a.v.shape[2] = a.out.shape[2] = 4;
  a.q.strides[2] = 2; /* every other element */
  tirk_err_t e3 = tirk_sdpa_math(&a, blas, NULL, 0);
  report(e1 == TIRK_ERR_UNSUPPORTED && e2 == TIRK_ERR_UNSUPPORTED && e3 == TIRK_ERR_UNSUPPORTED,
         "unsupported inputs are refused: E=264 %d, f64 mem_eff %d, math strided %d", e1, e2, e3);
  /* A negative window or a softcap that is negative or not finite is an argument error. */
  a.q.strides[2] = 1;
  a.window = -1;
  tirk_err_t e6 = tirk_sdpa_mem_efficient(&a, 0);
  a.window = 0, a.softcap = -1;
  tirk_err_t e7 = tirk_sdpa_mem_efficient(&a, 0);
  a.softcap = INFINITY;
  tirk_err_t e8 = tirk_sdpa_mem_efficient(&a, 0);
  report(e6 == TIRK_ERR_ARGS && e7 == TIRK_ERR_ARGS && e8 == TIRK_ERR_ARGS,
         "bad window/softcap are refused: window=-1 %d, softcap=-1 %d, softcap=inf %d", e6, e7, e8);
  a.softcap = 0;
  ten_free(&q);
  /* flash refuses a mask that varies along the query axis (common/sdpa_select.h
   * sends those to mem_efficient) and takes a key mask. */
  int64_t s4[4] = {1, 2, 16, 64}, sm[2] = {16, 16}, sk[4] = {1, 1, 1, 16};
  ten_t h, m, km;
  ten_init(&h, TIRK_F16, 4, s4, 0), ten_init(&m, TIRK_BOOL, 2, sm, 0), ten_init(&km, TIRK_BOOL, 4, sk, 0);
  fill_random(&h, 1);
  for (int64_t i = 0; i < m.n; i++) m.val[i] = 1;
  for (int64_t i = 0; i < km.n; i++) km.val[i] = 1;
  ten_upload(&h), ten_upload(&m), ten_upload(&km);
  memset(&a, 0, sizeof a);
  a.q = a.k = a.v = kview(&h);
  ten_t o;
  ten_init(&o, TIRK_F16, 4, s4, 0);
  ten_upload(&o);
  a.out = kview(&o);
  a.scale = 0.125;
  tirk_view_t mv = kview(&m), kmv = kview(&km);
  a.mask = &mv;
  tirk_err_t e4 = call_kernel(2, &a);
  a.mask = &kmv;
  tirk_err_t e5 = call_kernel(2, &a);
  report(e4 == TIRK_ERR_UNSUPPORTED && e5 == TIRK_OK, "flash: an [L,S] mask is refused (%d), a [1,1,1,S] one taken (%d)",
         e4, e5);
  ten_free(&h), ten_free(&m), ten_free(&km), ten_free(&o);
}

int main(int argc, char **argv) {
  int ndev = 0;
  const char *co = getenv("TIRK_SDPA_CPUONLY");
  cpu_only = co && *co == '1';
  if (!cpu_only && (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0)) {
    puts("no CUDA device: skipped");
    return 77;
  }
  /* argv[1]: a seed (default: the time); TIRK_SDPA_QUICK=1: a few cases
   * (for compute-sanitizer runs). */
  const char *qe = getenv("TIRK_SDPA_QUICK");
  const int quick = qe && *qe == '1';
  /* TIRK_SDPA_KEYMASK=1: only the key-mask cases (all of them, quick or not). */
  const char *ke = getenv("TIRK_SDPA_KEYMASK");
  /* TIRK_SDPA_WINDOW=1: only the window/softcap cases (all of them, quick or not). */
  const char *we = getenv("TIRK_SDPA_WINDOW");
  const int wonly = we && *we == '1';
  const int konly = (ke && *ke == '1') || wonly; /* both skip the general cases */
  /* argv[1] (or --seed=N, or TIRC_TEST_SEED) picks the seed; else the clock. */
  tt_seed("test_gpu_sdpa", argc, argv, argc <= 1, argc > 1 ? strtoull(argv[1], NULL, 0) : 0);
  tt_rng_u64();
  if (!cpu_only) {
    int dev = 0, ma = 0, mi = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&ma, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&mi, cudaDevAttrComputeCapabilityMinor, dev);
    hopper = ma == 9 && mi == 0;
  }
  if (!cpu_only && cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) {
    puts("cublasCreate failed");
    return 1;
  }
  double t0 = now();
  const int dts[4] = {TIRK_F32, TIRK_F16, TIRK_BF16, TIRK_F64};
  for (int di = 0; di < 4 && !konly; di++) {
    const int dt = dts[di];
    const int f32 = dt == TIRK_F32 || dt == TIRK_F64;
    /* head dims: f32 4, 12, 64, 100, 128, 256; 16-bit 8, 40, 64, 128, 256 */
    const int64_t hd[6] = {f32 ? 4 : 8, f32 ? 12 : 40, 64, f32 ? 100 : 64, 128, 256};
    case_t cs[] = {
        {"basic B2 H4 L=S=128", dt, 1, {2}, {2}, 4, 4, 128, 128, hd[2], hd[2], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"L=S=1", dt, 1, {2}, {2}, 3, 3, 1, 1, hd[0], hd[0], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"L=1 S=300", dt, 1, {2}, {2}, 2, 2, 1, 300, hd[2], hd[2], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"L=7 S=300 small E", dt, 1, {1}, {1}, 3, 3, 7, 300, hd[1], hd[1], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"L=300 S=7 E!=Ev", dt, 1, {1}, {1}, 2, 2, 300, 7, hd[3], hd[2], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"L=65 S=129 big E", dt, 1, {1}, {1}, 2, 2, 65, 129, hd[5], hd[5], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"L=63 S=65 E=128", dt, 1, {2}, {2}, 2, 2, 63, 65, hd[4], hd[4], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"causal TL L=129 S=300", dt, 1, {1}, {1}, 2, 2, 129, 300, hd[2], hd[2], 0, 0, 1, 0, 1, 0, 0, 0, 0},
        {"causal BR L=65 S=129", dt, 1, {1}, {1}, 2, 2, 65, 129, hd[4], hd[4], 0, 0, 2, 0, 1, 0, 0, 0, 0},
        {"causal BR L=129 S=63 (masked rows)", dt, 1, {1}, {1}, 2, 2, 129, 63, hd[2], hd[2], 0, 0, 2, 0, 1, 0, 0, 0, 0},
        {"causal TL L=300 S=65", dt, 1, {1}, {1}, 2, 2, 300, 65, hd[2], hd[2], 0, 0, 1, 0, 1, 0, 0, 0, 0},
        {"GQA Hq=8 Hk=2", dt, 1, {2}, {2}, 8, 2, 65, 129, hd[2], hd[2], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"MQA Hq=4 Hk=1 causal", dt, 1, {1}, {1}, 4, 1, 63, 63, hd[4], hd[4], 0, 0, 1, 0, 1, 0, 0, 0, 0},
        {"bool mask full, masked rows", dt, 1, {2}, {2}, 2, 2, 65, 129, hd[2], hd[2], MK_BOOL, MS_FULL, 0, 0, 1, 0, 1, 0, 0},
        {"float mask [1,1,L,S]", dt, 1, {2}, {2}, 2, 2, 63, 65, hd[2], hd[2], MK_FLOAT, MS_11LS, 0, 0, 1, 0, 0, 0, 0},
        {"-inf/-1e30 mask [L,S] masked rows", dt, 1, {2}, {2}, 2, 2, 65, 63, hd[2], hd[2], MK_FLOATINF, MS_LS, 0, 0, 1, 0, 1, 0, 0},
        {"bool mask [B,1,L,S] + causal", dt, 1, {2}, {2}, 2, 2, 129, 129, hd[1], hd[1], MK_BOOL, MS_B1LS, 1, 0, 1, 0, 0, 0, 0},
        {"scores +-1e4", dt, 1, {2}, {2}, 2, 2, 65, 129, hd[2], hd[2], 0, 0, 0, 0, 100, 0, 0, 0, 0},
        {"strided [B,L,H,E] q/k/v/out", dt, 1, {2}, {2}, 4, 4, 65, 129, hd[2], hd[2], 0, 0, 0, 0, 1, 1, 0, 0, 0},
        {"strided + GQA + causal BR", dt, 1, {2}, {2}, 4, 2, 63, 129, hd[4], hd[4], 0, 0, 2, 0, 1, 1, 0, 0, 0},
        {"broadcast batch [2,3] vs [1,3]", dt, 2, {2, 3}, {1, 3}, 2, 2, 33, 65, hd[2], hd[2], 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"dropout p=0.2", dt, 1, {2}, {2}, 2, 2, 65, 129, hd[2], hd[2], 0, 0, 0, 0.2, 1, 0, 0, 0, 0},
        {"dropout p=0.5 + mask + causal", dt, 1, {1}, {1}, 2, 2, 129, 65, hd[2], hd[2], MK_FLOAT, MS_LS, 2, 0.5, 1, 0, 0, 0, 0},
    };
    int nc = (int)(sizeof cs / sizeof cs[0]);
    for (int i = 0; i < nc; i++) {
      if (dt == TIRK_F64 && i % 3 != 0 && i != 13 && i != 15 && i != 21) continue; /* math only: a subset */
      if (quick && (dt == TIRK_BF16 || (i != 1 && i != 6 && i != 9 && i != 13 && i != 19 && i != 22))) continue;
      run_case(&cs[i]);
    }
  }
  /* Head dims not covered above (f32 4/12 with masks etc. are covered by the list). */
  {
    case_t extra[] = {
        {"E=Ev=12", TIRK_F32, 1, {1}, {1}, 2, 2, 65, 129, 12, 12, 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"E=Ev=100", TIRK_F32, 1, {1}, {1}, 2, 2, 65, 129, 100, 100, 0, 0, 1, 0, 1, 0, 0, 0, 0},
        {"E=Ev=256", TIRK_F32, 1, {1}, {1}, 2, 2, 129, 65, 256, 256, 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"E=Ev=8", TIRK_BF16, 1, {1}, {1}, 2, 2, 65, 129, 8, 8, 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"E=Ev=40", TIRK_F16, 1, {1}, {1}, 2, 2, 65, 129, 40, 40, 0, 0, 1, 0, 1, 0, 0, 0, 0},
        {"E=Ev=256", TIRK_BF16, 1, {1}, {1}, 2, 2, 129, 300, 256, 256, 0, 0, 0, 0, 1, 0, 0, 0, 0},
        {"E=Ev=128 causal TL", TIRK_F16, 1, {1}, {1}, 2, 2, 300, 300, 128, 128, 0, 0, 1, 0, 1, 0, 0, 0, 0},
    };
    for (int i = 0; i < (int)(sizeof extra / sizeof extra[0]) && !quick && !konly; i++) run_case(&extra[i]);
  }
  /* The flash kernel's own domain (16-bit, no mask): every head dim of the
   * issue, several key tiles, causal both ways, dropout, GQA/MQA, ragged
   * sizes, L or S = 1, decoding shapes (few rows, long S) for split-KV. */
  {
    const int fdt[2] = {TIRK_BF16, TIRK_F16};
    const int64_t fhd[7] = {32, 64, 96, 128, 160, 192, 256};
    for (int di = 0; di < 2 && !quick && !konly; di++) {
      const int dt = fdt[di];
      for (int hi = 0; hi < 7; hi++) {
        const int64_t E = fhd[hi];
        case_t fc[] = {
            {"flash L=S=300", dt, 1, {2}, {2}, 2, 2, 300, 300, E, E, 0, 0, 0, 0, 1, 0, 0, 0, 0},
            {"flash causal TL L=S=257", dt, 1, {1}, {1}, 3, 3, 257, 257, E, E, 0, 0, 1, 0, 1, 0, 0, 0, 0},
            {"flash causal BR L=100 S=400", dt, 1, {1}, {1}, 2, 2, 100, 400, E, E, 0, 0, 2, 0, 1, 0, 0, 0, 0},
            {"flash GQA 8/2 causal BR L=130 S=130", dt, 1, {2}, {2}, 8, 2, 130, 130, E, E, 0, 0, 2, 0, 1, 0, 0, 0, 0},
            {"flash decode L=1 S=3000", dt, 1, {2}, {2}, 4, 4, 1, 3000, E, E, 0, 0, 0, 0, 1, 0, 0, 0, 0},
            {"flash decode GQA 8/1 L=1 S=1500 BR", dt, 1, {2}, {2}, 8, 1, 1, 1500, E, E, 0, 0, 2, 0, 1, 0, 0, 0, 0},
            {"flash decode L=3 GQA 4/2 S=700 BR", dt, 1, {1}, {1}, 4, 2, 3, 700, E, E, 0, 0, 2, 0, 1, 0, 0, 0, 0},
            {"flash dropout p=0.25 L=200 S=333", dt, 1, {1}, {1}, 2, 2, 200, 333, E, E, 0, 0, 1, 0.25, 1, 0, 0, 0, 0},
            {"flash strided [B,L,H,E] L=S=200", dt, 1, {2}, {2}, 4, 4, 200, 200, E, E, 0, 0, 0, 0, 1, 1, 0, 0, 0},
        };
        for (int i = 0; i < (int)(sizeof fc / sizeof fc[0]); i++) {
          if (hi != 1 && hi != 3 && (i == 2 || i == 3 || i == 5 || i == 6 || i == 8)) continue; /* all for D=64/128 */
          run_case(&fc[i]);
        }
      }
      case_t big[] = {
          {"flash L=S=640 causal TL", dt, 1, {1}, {1}, 2, 2, 640, 640, 128, 128, 0, 0, 1, 0, 1, 0, 0, 0, 0},
          {"flash L=700 S=900", dt, 1, {1}, {1}, 2, 2, 700, 900, 64, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0},
          {"flash scores +-1e4 L=S=333", dt, 1, {1}, {1}, 2, 2, 333, 333, 128, 128, 0, 0, 0, 0, 100, 0, 0, 0, 0},
          {"flash L=1 S=1", dt, 1, {1}, {1}, 2, 2, 1, 1, 64, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0},
          {"flash L=5 S=1", dt, 1, {1}, {1}, 2, 2, 5, 1, 128, 128, 0, 0, 2, 0, 1, 0, 0, 0, 0},
          {"flash 3-D q/k/v (no batch)", dt, 0, {0}, {0}, 4, 4, 150, 150, 64, 64, 0, 0, 1, 0, 1, 0, 0, 0, 0},
          {"flash batch [2,3]", dt, 2, {2, 3}, {2, 3}, 2, 2, 70, 90, 64, 64, 0, 0, 1, 0, 1, 0, 0, 0, 0},
      };
      for (int i = 0; i < (int)(sizeof big / sizeof big[0]) && !quick; i++) run_case(&big[i]);
    }
    if (quick && !konly) { /* a few flash cases for the sanitizers */
      case_t q1 = {"flash causal GQA", TIRK_F16, 1, {1}, {1}, 4, 2, 130, 200, 64, 64, 0, 0, 1, 0.1, 1, 0, 0, 0, 0};
      case_t q2 = {"flash decode", TIRK_BF16, 1, {1}, {1}, 4, 4, 1, 700, 128, 128, 0, 0, 0, 0, 1, 0, 0, 0, 0};
      run_case(&q1);
      run_case(&q2);
    }
  }
  /* Key masks, which flash takes with causal (HF's padded batches: causal
   * plus a [B, 1, 1, S] padding mask): bool and float (also f32 with
   * 16-bit q), each key-mask shape, left/right padding, fully masked rows,
   * GQA, decoding shapes (split-KV), head dims of every sm90 tile config,
   * S not a multiple of the tiles.  Every flash path runs each case. */
  {
    const int kdt[2] = {TIRK_F16, TIRK_BF16};
    for (int di = 0; di < 2; di++) {
      const int dt = kdt[di];
      case_t kc[] = {
          {"key bool [B,1,1,S] left pad causal TL", dt, 1, {3}, {3}, 4, 4, 300, 300, 64, 64, MK_BOOL, MS_B11S, 1, 0, 1, 0, 0, KP_LEFT, 0},
          {"key bool [B,1,1,S] right pad", dt, 1, {2}, {2}, 2, 2, 130, 333, 128, 128, MK_BOOL, MS_B11S, 0, 0, 1, 0, 0, KP_RIGHT, 0},
          {"key float [B,1,1,S] causal BR", dt, 1, {2}, {2}, 2, 2, 100, 400, 64, 64, MK_FLOAT, MS_B11S, 2, 0, 1, 0, 0, KP_RANDOM, 0},
          {"key lowest [1,1,1,S] GQA 8/2 left causal", dt, 1, {2}, {2}, 8, 2, 257, 257, 128, 128, MK_FLOATINF, MS_111S, 1, 0, 1, 0, 0, KP_LEFT, 0},
          {"key bool [B,H,1,S] GQA 4/2 dead row", dt, 1, {2}, {2}, 4, 2, 65, 200, 64, 64, MK_BOOL, MS_BH1S, 0, 0, 1, 0, 0, KP_DEAD, 0},
          {"key f32 lowest left pad causal BR E=96", dt, 1, {2}, {2}, 2, 2, 200, 200, 96, 96, MK_FLOATINF, MS_B11S, 2, 0, 1, 0, 0, KP_LEFT, 1},
          {"key f32 float [B,H,1,S] right causal E=40", dt, 1, {2}, {2}, 2, 2, 150, 150, 40, 40, MK_FLOAT, MS_BH1S, 1, 0, 1, 0, 0, KP_RIGHT, 1},
          {"key decode L=1 S=1000 left pad", dt, 1, {2}, {2}, 4, 4, 1, 1000, 128, 128, MK_BOOL, MS_B11S, 2, 0, 1, 0, 0, KP_LEFT, 0},
          {"key decode GQA 8/1 S=700 float", dt, 1, {2}, {2}, 8, 1, 1, 700, 64, 64, MK_FLOAT, MS_B11S, 0, 0, 1, 0, 0, KP_RANDOM, 0},
          {"key decode L=3 GQA 4/2 S=500 BR right", dt, 1, {2}, {2}, 4, 2, 3, 500, 64, 64, MK_FLOATINF, MS_B11S, 2, 0, 1, 0, 0, KP_RIGHT, 0},
          {"key decode S=2000 dead batch", dt, 1, {2}, {2}, 4, 4, 1, 2000, 128, 128, MK_BOOL, MS_B11S, 0, 0, 1, 0, 0, KP_DEAD, 0},
          {"key bool [S] E=256 L=129 S=300", dt, 1, {1}, {1}, 2, 2, 129, 300, 256, 256, MK_BOOL, MS_S, 0, 0, 1, 0, 0, KP_RANDOM, 0},
          {"key float E=160 dropout 0.1 causal", dt, 1, {1}, {1}, 2, 2, 200, 250, 160, 160, MK_FLOAT, MS_B11S, 1, 0.1, 1, 0, 0, KP_LEFT, 0},
          {"key lowest E=192 left pad causal TL", dt, 1, {2}, {2}, 2, 2, 190, 190, 192, 192, MK_FLOATINF, MS_B11S, 1, 0, 1, 0, 0, KP_LEFT, 0},
          {"key strided q/k/v left pad causal", dt, 1, {2}, {2}, 4, 4, 200, 200, 64, 64, MK_BOOL, MS_B11S, 1, 0, 1, 1, 0, KP_LEFT, 0},
          {"key scores +-1e4 bool right pad", dt, 1, {1}, {1}, 2, 2, 333, 333, 128, 128, MK_BOOL, MS_B11S, 0, 0, 100, 0, 0, KP_RIGHT, 0},
          {"key scores +-1e4 float causal", dt, 1, {1}, {1}, 2, 2, 200, 200, 64, 64, MK_FLOAT, MS_B11S, 1, 0, 100, 0, 0, KP_RANDOM, 0},
          {"key L=5 S=1 dead [B,1,1,S]", dt, 1, {2}, {2}, 2, 2, 5, 1, 64, 64, MK_BOOL, MS_B11S, 0, 0, 1, 0, 0, KP_DEAD, 0},
          /* a per-head mask: split-KV refuses it, the others take it */
          {"key decode [B,H,1,S] GQA 4/2 left pad", dt, 1, {2}, {2}, 4, 2, 1, 600, 64, 64, MK_BOOL, MS_BH1S, 2, 0, 1, 0, 0, KP_LEFT, 0},
      };
      for (int i = 0; i < (int)(sizeof kc / sizeof kc[0]) && !wonly; i++) {
        /* quick: the f16 cases that reach each path and mask form, two bf16 */
        if (quick && !konly && (di == 0 ? i % 2 == 1 && i != 7 && i != 9 : i != 0 && i != 8)) continue;
        run_case(&kc[i]);
      }
    }
  }
  /* Sliding windows and softcaps (sdpa's window= and softcap=) on every
   * kernel and flash path: window 1, 7, 33 and wider than a key tile, with
   * causal top-left and bottom-right and without causal (both alignments),
   * rows that see no key (L > S), key masks and full masks (with +inf where
   * the window hides the key: the kernels must not read it), GQA, dropout,
   * strided layouts, decoding shapes (split-KV streams only the window);
   * softcap 5 and 50 with large scores, with a window and masks. */
  {
    typedef struct {
      case_t c;
      ext_t x;
    } xcase_t;
    const int xdt[4] = {TIRK_F16, TIRK_BF16, TIRK_F32, TIRK_F64};
    for (int di = 0; di < 4 && (!konly || wonly); di++) {
      const int dt = xdt[di];
      const int64_t E = 64, E2 = 128;
      /* Large scores for the softcaps: +-1e4 in 16-bit.  In f32, whose
       * unfused error (the bound) comes from the f32 dot products, only the
       * scores with |s| < ~3C are not saturated; at +-1e4 a case has a
       * handful, too few for a stable bound, so +-100 there. */
      const double big = dt == TIRK_F32 || dt == TIRK_F64 ? 10 : 100;
      xcase_t xc[] = {
          {{"win 1 causal TL L=S=200", dt, 1, {2}, {2}, 2, 2, 200, 200, E, E, 0, 0, 1, 0, 1, 0, 0, 0, 0}, {1, 0, 0, 0}},
          {{"win 7 causal BR L=100 S=300", dt, 1, {1}, {1}, 2, 2, 100, 300, E2, E2, 0, 0, 2, 0, 1, 0, 0, 0, 0}, {7, 0, 0, 0}},
          {{"win 33 TL no causal L=S=150", dt, 1, {2}, {2}, 2, 2, 150, 150, E, E, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {33, 0, 0, 0}},
          {{"win 33 BR no causal L=70 S=300", dt, 1, {1}, {1}, 3, 3, 70, 300, E, E, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {33, 0, 1, 0}},
          {{"win 200 causal TL L=S=500", dt, 1, {1}, {1}, 2, 2, 500, 500, E, E, 0, 0, 1, 0, 1, 0, 0, 0, 0}, {200, 0, 0, 0}},
          {{"win 150 causal BR L=150 S=500 E=256", dt, 1, {1}, {1}, 2, 2, 150, 500, 256, 256, 0, 0, 2, 0, 1, 0, 0, 0, 0}, {150, 0, 0, 0}},
          {{"win 40 causal BR L=300 S=260 dead rows", dt, 1, {1}, {1}, 2, 2, 300, 260, E, E, 0, 0, 2, 0, 1, 0, 0, 0, 0}, {40, 0, 0, 0}},
          {{"win 5 TL L=300 S=100 dead rows", dt, 1, {1}, {1}, 2, 2, 300, 100, E, E, 0, 0, 0, 0, 1, 0, 0, 0, 0}, {5, 0, 0, 0}},
          {{"win 20 causal TL key bool left pad", dt, 1, {2}, {2}, 2, 2, 300, 300, E, E, MK_BOOL, MS_B11S, 1, 0, 1, 0, 0, KP_LEFT, 0}, {20, 0, 0, 0}},
          {{"win 33 causal BR key float +inf out", dt, 1, {2}, {2}, 2, 2, 64, 300, E, E, MK_FLOAT, MS_B11S, 2, 0, 1, 0, 0, KP_RANDOM, 0}, {33, 0, 0, 1}},
          {{"win 17 causal TL full mask +inf out", dt, 1, {2}, {2}, 2, 2, 129, 129, E, E, MK_FLOATINF, MS_FULL, 1, 0, 1, 0, 1, 0, 0}, {17, 0, 0, 1}},
          {{"win 16 GQA 8/2 causal BR", dt, 1, {2}, {2}, 8, 2, 130, 200, E, E, 0, 0, 2, 0, 1, 0, 0, 0, 0}, {16, 0, 0, 0}},
          {{"win 40 dropout 0.2 causal TL", dt, 1, {1}, {1}, 2, 2, 200, 333, E, E, 0, 0, 1, 0.2, 1, 0, 0, 0, 0}, {40, 0, 0, 0}},
          {{"win 100 decode L=1 S=2000 causal BR", dt, 1, {2}, {2}, 4, 4, 1, 2000, E2, E2, 0, 0, 2, 0, 1, 0, 0, 0, 0}, {100, 0, 0, 0}},
          {{"win 64 decode GQA 8/2 BR key bool", dt, 1, {2}, {2}, 8, 2, 1, 1000, E, E, MK_BOOL, MS_B11S, 0, 0, 1, 0, 0, KP_RIGHT, 0}, {64, 0, 1, 0}},
          {{"win 3 strided q/k/v causal TL", dt, 1, {2}, {2}, 4, 4, 200, 200, E, E, 0, 0, 1, 0, 1, 1, 0, 0, 0}, {3, 0, 0, 0}},
          {{"cap 5 large scores", dt, 1, {2}, {2}, 2, 2, 129, 200, E, E, 0, 0, 0, 0, big, 0, 0, 0, 0}, {0, 5, 0, 0}},
          {{"cap 50 causal BR scores +-100", dt, 1, {1}, {1}, 2, 2, 100, 300, E2, E2, 0, 0, 2, 0, 10, 0, 0, 0, 0}, {0, 50, 0, 0}},
          {{"cap 50 win 33 key float causal TL", dt, 1, {2}, {2}, 2, 2, 200, 200, E, E, MK_FLOAT, MS_B11S, 1, 0, 10, 0, 0, KP_LEFT, 0}, {33, 50, 0, 0}},
          {{"cap 5 win 7 full mask +inf out large", dt, 1, {2}, {2}, 2, 2, 65, 129, E, E, MK_FLOAT, MS_FULL, 2, 0, big, 0, 0, 0, 0}, {7, 5, 0, 1}},
          {{"cap 30 decode L=1 S=1000", dt, 1, {2}, {2}, 4, 4, 1, 1000, E, E, 0, 0, 0, 0, 10, 0, 0, 0, 0}, {0, 30, 0, 0}},
          {{"cap 50 GQA 4/2 dropout 0.1", dt, 1, {2}, {2}, 4, 2, 100, 150, E, E, 0, 0, 0, 0.1, 10, 0, 0, 0, 0}, {0, 50, 0, 0}},
          {{"cap 5 win 20 key bool decode GQA 4/1", dt, 1, {2}, {2}, 4, 1, 2, 800, E2, E2, MK_BOOL, MS_B11S, 2, 0, big, 0, 0, KP_LEFT, 0}, {20, 5, 0, 0}},
          {{"cap 50 E=256 causal TL L=S=200", dt, 1, {1}, {1}, 2, 2, 200, 200, 256, 256, 0, 0, 1, 0, 10, 0, 0, 0, 0}, {0, 50, 0, 0}},
      };
      for (int i = 0; i < (int)(sizeof xc / sizeof xc[0]); i++) {
        if (dt == TIRK_F64 && i != 0 && i != 10 && i != 19) continue; /* math only: a subset */
        /* quick: the f16 cases that reach each flash path with a window, a
         * softcap and a key mask; one bf16; the f32 full masks */
        if (quick && !wonly && !(di == 0 ? i == 9 || i == 13 || i == 18 : di == 1 ? i == 22 : di == 2 ? i == 10 || i == 19 : 0))
          continue;
        run_case_x(&xc[i].c, &xc[i].x);
      }
    }
  }
  for (int kernel = 0; kernel < NKERN && !quick && !konly && !cpu_only; kernel++) {
    if (kernel == 3 && !hopper) continue;
    if (kernel < 2) dropout_probe(TIRK_F32, kernel);
    dropout_probe(TIRK_BF16, kernel);
    dropout_probe(TIRK_F16, kernel);
  }
  /* Every flash path must have run (the Hopper one where there is a 9.0 GPU). */
  if (!cpu_only && !quick && !konly) {
    int ok = path_runs[2] >= 40 && path_runs[4] >= 20 && path_runs[5] >= 40 && (!hopper || path_runs[3] >= 40);
    report(ok, "flash paths exercised: auto %lld, sm90 %lld (hopper %d), split-KV %lld, mma.sync %lld",
           (long long)path_runs[2], (long long)path_runs[3], hopper, (long long)path_runs[4],
           (long long)path_runs[5]);
  }
  if (!cpu_only) {
    unsupported_checks();
    cublasDestroy(blas);
  }
  printf("\n==== summary (seed arg %s): %d checks, %d failed, %.1f s ====\n", argc > 1 ? argv[1] : "time", nres, nfail, now() - t0);
  for (int i = 0; i < nres; i++)
    if (!results[i].ok) printf("FAILED: %s\n", results[i].line);
  return nfail ? 1 : 0;
}
