/* tt_ref.c — the shared float64 references of the C tests (see tt_ref.h). */
#include "tt_ref.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void tt_ref_matmul(const tt_t *a, const tt_t *b, const tt_t *bias, const tt_t *out, long double *ref) {
  int R = out->v.rank;
  int64_t K = a->v.shape[a->v.rank - 1];
  int64_t n = tt_numel(R, out->v.shape), idx[TIRRT_MAX_RANK], ia[TIRRT_MAX_RANK], ib[TIRRT_MAX_RANK];
  bool fl = tt_is_float(out->v.dtype);
  for (int64_t k = 0; k < n; k++) {
    tt_unravel(k, R, out->v.shape, idx);
    memcpy(ia, idx, sizeof ia);
    memcpy(ib, idx, sizeof ib);
    long double acc = 0;
    uint64_t iacc = 0; /* integers: modulo 2^64, then wrapped to the dtype */
    for (int64_t q = 0; q < K; q++) {
      ia[R - 1] = q; /* a[..., i, q] */
      ib[R - 2] = q; /* b[..., q, j] */
      long double x = tt_at(a, R, ia), y = tt_at(b, R, ib);
      acc += x * y;
      iacc += (uint64_t)(int64_t)x * (uint64_t)(int64_t)y;
    }
    if (bias) {
      int64_t j = idx[R - 1];
      long double bv = tt_lin(bias, bias->v.shape[0] == 1 ? 0 : j);
      acc += bv;
      iacc += (uint64_t)(int64_t)bv;
    }
    ref[k] = fl ? acc : (long double)tt_wrap_to(out->v.dtype, (int64_t)iacc);
  }
}

void tt_ref_softmax(const tt_t *x, int dim, bool log, long double *ref) {
  int R = x->v.rank, dd = dim < 0 ? dim + R : dim;
  int64_t n = tt_numel(R, x->v.shape), idx[TIRRT_MAX_RANK];
  for (int64_t k = 0; k < n; k++) {
    tt_unravel(k, R, x->v.shape, idx);
    int64_t j = idx[dd];
    long double mx = -INFINITY, sum = 0;
    for (idx[dd] = 0; idx[dd] < x->v.shape[dd]; idx[dd]++) mx = fmaxl(mx, tt_at(x, R, idx));
    for (idx[dd] = 0; idx[dd] < x->v.shape[dd]; idx[dd]++) sum += expl(tt_at(x, R, idx) - mx);
    idx[dd] = j;
    long double v = tt_at(x, R, idx);
    if (isinf(mx)) ref[k] = NAN; /* all -inf: NaN like torch */
    else ref[k] = log ? v - mx - logl(sum) : expl(v - mx) / sum;
  }
}

double tt_norm_default_eps(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 ? 0.0009765625 : dt == TIRRT_DTYPE_BF16 ? 0.0078125
         : dt == TIRRT_DTYPE_F32 ? FLT_EPSILON : DBL_EPSILON;
}

void tt_ref_norm(bool rms, const tt_t *x, int nd, const tt_t *w, const tt_t *b, double eps, long double *ref) {
  if (eps < 0) eps = tt_norm_default_eps(x->v.dtype);
  int R = x->v.rank;
  int64_t m = tt_numel(nd, x->v.shape + R - nd), n = tt_numel(R, x->v.shape);
  int64_t rows = m ? n / m : 0;
  for (int64_t r = 0; r < rows; r++) {
    long double mean = 0, var = 0;
    for (int64_t i = 0; i < m; i++) mean += tt_lin(x, r * m + i);
    mean = rms ? 0 : mean / m;
    for (int64_t i = 0; i < m; i++) var += (tt_lin(x, r * m + i) - mean) * (tt_lin(x, r * m + i) - mean);
    var /= m;
    for (int64_t i = 0; i < m; i++) {
      long double y = (tt_lin(x, r * m + i) - mean) / sqrtl(var + eps);
      if (w) y *= tt_lin(w, i);
      if (b) y += tt_lin(b, i);
      ref[r * m + i] = y;
    }
  }
}

int64_t tt_view_off(const tirrt_view_t *v, int64_t flat) {
  int64_t off = 0;
  for (int d = v->rank - 1; d >= 0; d--) {
    int64_t n = v->shape[d];
    off += (flat % n) * v->strides[d];
    flat /= n;
  }
  return off;
}

int64_t tt_bcast_off(const tirrt_view_t *v, int R, const int64_t *idx) {
  int64_t off = 0;
  for (int d = 0; d < v->rank; d++) {
    int64_t i = idx[d + (R - v->rank)];
    off += (v->shape[d] == 1 ? 0 : i) * v->strides[d];
  }
  return off;
}

double tt_view_get(const tirrt_view_t *v, int64_t off) {
  return (double)tt_load(v->dtype, (const char *)v->data + off * (int64_t)tt_dtype_size(v->dtype));
}
void tt_view_set(const tirrt_view_t *v, int64_t off, double x) {
  tt_store(v->dtype, (char *)v->data + off * (int64_t)tt_dtype_size(v->dtype), x);
}

static double dtype_lowest(tirrt_dtype_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_F16: return -65504.0;
  case TIRRT_DTYPE_BF16: return -0x1.fep127;
  case TIRRT_DTYPE_F32: return -FLT_MAX;
  default: return -DBL_MAX;
  }
}

void tt_ref_sdpa(const tirrt_view_t *q, const tirrt_view_t *k, const tirrt_view_t *v, const tirrt_view_t *mask,
                 const tirrt_sdpa_params_t *pr, int R, const int64_t *bshape, double *out, double *lse,
                 uint8_t *dead) {
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
            double a = tt_view_get(q, tt_bcast_off(q, R, idx));
            idx[R - 3] = hk, idx[R - 2] = j;
            dot += a * tt_view_get(k, tt_bcast_off(k, R, idx));
          }
          s[j] = pr->scale * dot;
          if (pr->softcap > 0) s[j] = pr->softcap * tanh(s[j] / pr->softcap);
          ok[j] = (!pr->is_causal || j <= i + off) && (pr->window <= 0 || j > i + off - pr->window);
          if (mask) {
            idx[R - 3] = h, idx[R - 2] = i, idx[R - 1] = j;
            double mv = tt_view_get(mask, tt_bcast_off(mask, R, idx));
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
            pj = tirrt_dropout_keep(pr->seed, pr->stream, index, pr->dropout_p) ? pj / (1 - pr->dropout_p) : 0;
          }
          idx[R - 3] = hk, idx[R - 2] = j;
          for (int64_t c = 0; c < Ev; c++) {
            idx[R - 1] = c;
            out[row * Ev + c] += pj * tt_view_get(v, tt_bcast_off(v, R, idx));
          }
        }
      }
    }
  }
  free(s);
  free(ok);
}
