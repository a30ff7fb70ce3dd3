/* ops_reduce.c — the table-driven op test's reductions (the rows of
 * TIR_EW_REDUCE_ROWS: sum, mean, amax, amin) and row ops (softmax,
 * log_softmax): every dtype infer accepts, the row shapes, every single
 * dim (and the last as -1), all dims, a pair of dims, keepdim both ways,
 * against float64 (int64 for integer sums) references. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_cases.h"
#include "tir_ew.h"
#include "tt.h"

typedef struct {
  int n;           /* 0: all dims (no dims attribute) */
  int64_t dims[2];
  bool keepdim;
} RedDims;

static void set_reduce(TirOp *op, const void *ctx) {
  const RedDims *rd = ctx;
  if (rd->n) tir_op_set_ints(op, "dims", rd->dims, rd->n);
  tir_op_set_bool(op, "keepdim", rd->keepdim);
}

/* The dims variants for a rank: all; each dim (keepdim both ways); the
 * last as -1; dims 0 and 2 of a rank-3 operand. */
static int dims_variants(int rank, RedDims *out) {
  int n = 0;
  out[n++] = (RedDims){.n = 0, .keepdim = false};
  out[n++] = (RedDims){.n = 0, .keepdim = true};
  for (int d = 0; d < rank; d++) {
    out[n++] = (RedDims){.n = 1, .dims = {d}, .keepdim = false};
    out[n++] = (RedDims){.n = 1, .dims = {d}, .keepdim = true};
  }
  if (rank >= 1) out[n++] = (RedDims){.n = 1, .dims = {-1}, .keepdim = true};
  if (rank == 3) out[n++] = (RedDims){.n = 2, .dims = {0, 2}, .keepdim = false};
  return n;
}

/* For each input element, its output element: the reduced dims dropped
 * (or kept at index 0). */
static int64_t out_index(const Operand *x, uint32_t mask, int64_t e) {
  int64_t idx[OPS_MAX_RANK], o = 0;
  for (int d = x->rank - 1; d >= 0; d--) idx[d] = e % x->dims[d], e /= x->dims[d];
  for (int d = 0; d < x->rank; d++)
    if (!((mask >> d) & 1)) o = o * x->dims[d] + idx[d];
  return o;
}

static void reduce_case(int red, const char *name, const Operand *x, const RedDims *rd, Tally *t) {
  OpSpec spec = {.kind = (TirOpKind)tir_op_kind_from_name(name, strlen(name)), .set = set_reduce, .ctx = rd};
  OpsShape r;
  if (!ops_result_type(&spec, x, 1, &r)) return;
  uint32_t mask = 0;
  for (int i = 0; i < (rd->n ? rd->n : x->rank); i++) {
    int64_t d = rd->n ? rd->dims[i] : i;
    mask |= 1u << (d < 0 ? d + x->rank : d);
  }
  size_t no = (size_t)r.numel + 1;
  double *acc = calloc(no, sizeof *acc), *scale = calloc(no, sizeof *scale);
  int64_t *iacc = calloc(no, sizeof *iacc), *cnt = calloc(no, sizeof *cnt);
  bool fl = tir_dtype_is_float(x->dt);
  int64_t nx = 1;
  for (int d = 0; d < x->rank; d++) nx *= x->dims[d];
  for (int64_t e = 0; acc && scale && iacc && cnt && e < nx; e++) {
    int64_t o = out_index(x, mask, e);
    double v = tir_load_f64(x->dt, x->data, (size_t)e);
    int64_t iv = tir_load_i64(x->dt, x->data, (size_t)e);
    bool first = cnt[o]++ == 0;
    if (red == TIR_EW_RED_SUM || red == TIR_EW_RED_MEAN) {
      acc[o] += v;
      iacc[o] = (int64_t)((uint64_t)iacc[o] + (uint64_t)iv); /* wraps, as the kernels' int64 sum */
      scale[o] += fabs(v);
    } else {
      bool amax = red == TIR_EW_RED_AMAX;
      /* NaN wins, as in torch. */
      if (first || v != v || (acc[o] == acc[o] && (amax ? v > acc[o] : v < acc[o]))) acc[o] = v;
      if (first || (amax ? iv > iacc[o] : iv < iacc[o])) iacc[o] = iv;
    }
  }
  bool undefined = false;
  double *ref = calloc(no, sizeof *ref);
  int64_t *iref = calloc(no, sizeof *iref);
  unsigned char cell[8];
  for (int64_t o = 0; ref && iref && cnt && o < r.numel; o++) {
    if (cnt[o] == 0 && (red == TIR_EW_RED_AMAX || red == TIR_EW_RED_AMIN)) undefined = true;
    double v = acc[o];
    if (red == TIR_EW_RED_MEAN) v = cnt[o] ? v / (double)cnt[o] : NAN, scale[o] /= cnt[o] ? (double)cnt[o] : 1;
    if (tir_dtype_is_float(r.dt)) {
      tir_store_f64(r.dt, cell, 0, fl ? v : (double)iacc[o]);
      ref[o] = tir_load_f64(r.dt, cell, 0);
    } else {
      tir_store_i64(r.dt, cell, 0, iacc[o]);
      iref[o] = tir_load_i64(r.dt, cell, 0);
    }
    if (red != TIR_EW_RED_SUM && red != TIR_EW_RED_MEAN) scale[o] = fabs(ref[o]);
  }
  char what[200];
  snprintf(what, sizeof what, "%s(%s [%lld..], dims=%s%lld%s%lld, keepdim=%d)", name,
           tir_dtype_name(x->dt), (long long)(x->rank ? x->dims[0] : 0), rd->n ? "" : "all",
           rd->n ? (long long)rd->dims[0] : 0LL, rd->n > 1 ? "," : "", rd->n > 1 ? (long long)rd->dims[1] : 0LL,
           rd->keepdim);
  if (ref && iref && scale) run_case(what, &spec, x, 1, &r, ref, iref, scale, undefined, t);
  free(acc), free(scale), free(iacc), free(cnt), free(ref), free(iref);
}

void ops_reduction_rows(const OpsConfig *cfg, const TirDType *dts, int ndt, const Sh *shapes, int n_shapes,
                        const int *quick, int n_quick) {
  static const char *const NAMES[] = {
#define RED_NAME_(E, name) #name,
      TIR_EW_REDUCE_ROWS(RED_NAME_)
#undef RED_NAME_
  };
  for (int red = 0; red < TIR_EW_RED_COUNT; red++) {
    if (cfg->only && strcmp(cfg->only, NAMES[red]) != 0) continue;
    Tally t = {0};
    for (int d = 0; d < ndt; d++)
      for (int i = 0; i < (cfg->quick ? n_quick : n_shapes); i++) {
        const Sh *sh = &shapes[cfg->quick ? quick[i] : i];
        /* No +-max among the edges: whether max + max overflows depends on
         * the order and width of the accumulation, which is each backend's own. */
        void *buf = make_values(dts[d], sh_numel(sh), VAL_PLAIN, true);
        if (buf && tir_dtype_is_float(dts[d]))
          for (int64_t e = 0; e < sh_numel(sh); e++)
            if (fabs(tir_load_f64(dts[d], buf, (size_t)e)) > 1e4 && isfinite(tir_load_f64(dts[d], buf, (size_t)e)))
              tir_store_f64(dts[d], buf, (size_t)e, 3.5);
        Operand x = operand(dts[d], sh, buf);
        RedDims v[16];
        int nv = dims_variants(sh->rank, v);
        for (int k = 0; k < nv; k++) reduce_case(red, NAMES[red], &x, &v[k], &t);
        free(buf);
      }
    ops_report(NAMES[red], &t);
  }
}

/* ------------------------------------------------------------ softmax, log_softmax */

static void set_dim(TirOp *op, const void *ctx) { tir_op_set_int(op, "dim", *(const int64_t *)ctx); }

static void softmax_case(bool is_log, const Operand *x, int64_t dim, Tally *t) {
  const char *name = is_log ? "log_softmax" : "softmax";
  OpSpec spec = {.kind = is_log ? TIR_OP_LOG_SOFTMAX : TIR_OP_SOFTMAX, .set = set_dim, .ctx = &dim};
  OpsShape r;
  if (!ops_result_type(&spec, x, 1, &r)) return;
  /* A 0-d operand is one row of one element. */
  int rank = x->rank ? x->rank : 1;
  int64_t dims[OPS_MAX_RANK] = {1};
  for (int d = 0; d < x->rank; d++) dims[d] = x->dims[d];
  int dd = (int)(dim < 0 ? dim + rank : dim);
  int64_t len = dims[dd], inner = 1, outer = 1;
  for (int d = dd + 1; d < rank; d++) inner *= dims[d];
  for (int d = 0; d < dd; d++) outer *= dims[d];
  size_t no = (size_t)r.numel + 1;
  double *ref = calloc(no, sizeof *ref), *scale = calloc(no, sizeof *scale);
  unsigned char cell[8];
  for (int64_t o = 0; ref && scale && o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      double mx = -INFINITY, sum = 0;
      bool nan = false;
      for (int64_t j = 0; j < len; j++) {
        double v = tir_load_f64(x->dt, x->data, (size_t)((o * len + j) * inner + in));
        nan |= v != v;
        mx = v > mx ? v : mx;
      }
      for (int64_t j = 0; j < len; j++)
        sum += exp(tir_load_f64(x->dt, x->data, (size_t)((o * len + j) * inner + in)) - mx);
      for (int64_t j = 0; j < len; j++) {
        size_t e = (size_t)((o * len + j) * inner + in);
        double v = tir_load_f64(x->dt, x->data, e), y;
        if (nan || isinf(mx)) y = NAN; /* a NaN, or a row whose max is +-inf: NaN, as torch */
        else y = is_log ? v - mx - log(sum) : exp(v - mx) / sum;
        tir_store_f64(r.dt, cell, 0, y);
        ref[e] = tir_load_f64(r.dt, cell, 0);
        scale[e] = fabs(ref[e]) + (is_log ? 1 : 0);
      }
    }
  char what[160];
  snprintf(what, sizeof what, "%s(%s rank %d, dim=%lld)", name, tir_dtype_name(x->dt), x->rank, (long long)dim);
  if (ref && scale) run_case(what, &spec, x, 1, &r, ref, NULL, scale, false, t);
  free(ref), free(scale);
}

void ops_softmax_rows(const OpsConfig *cfg, const TirDType *dts, int ndt, const Sh *shapes, int n_shapes,
                      const int *quick, int n_quick) {
  for (int is_log = 0; is_log < 2; is_log++) {
    const char *name = is_log ? "log_softmax" : "softmax";
    if (cfg->only && strcmp(cfg->only, name) != 0) continue;
    Tally t = {0};
    for (int d = 0; d < ndt; d++)
      for (int i = 0; i < (cfg->quick ? n_quick : n_shapes); i++) {
        const Sh *sh = &shapes[cfg->quick ? quick[i] : i];
        void *buf = make_values(dts[d], sh_numel(sh), VAL_PLAIN, true);
        Operand x = operand(dts[d], sh, buf);
        int rank = sh->rank ? sh->rank : 1;
        for (int64_t dim = -1; dim < rank; dim++) softmax_case(is_log != 0, &x, dim, &t);
        free(buf);
      }
    ops_report(name, &t);
  }
}
