/* ops_cases.c — the cases of the table-driven op test and their float64
 * references.  The rows come from the op tables: the elementwise table of
 * common/tir_ew_table.h (every unary and binary row, gelu's tanh form
 * included), where / masked_fill / cast, the reductions of the same table,
 * and softmax / log_softmax.  For each row, every dtype infer accepts, a
 * fixed set of shapes and fresh random values with the dtype's edge values
 * spliced in, on every backend (ops_backends.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_cases.h"
#include "tt.h"
#include "tt_tensor.h"
#include "tir_ew.h"

/* ------------------------------------------------------------ values */

/* The dtype's edge values, as doubles or int64. */
static int float_edges(TirDType dt, double *v) {
  double mx = dt == TIR_F16 ? 65504.0 : dt == TIR_BF16 ? 3.3895313892515355e38 : dt == TIR_F32 ? 3.4028234663852886e38 : 1.7976931348623157e308;
  double tiny = dt == TIR_F16 ? 0x1p-24 : dt == TIR_BF16 ? 0x1p-133 : dt == TIR_F32 ? 0x1p-149 : 0x1p-1074;
  const double e[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, mx, -mx, tiny, -tiny, 1, -1, 0.5, 10, -10};
  memcpy(v, e, sizeof e);
  return (int)(sizeof e / sizeof *e);
}
static int int_edges(TirDType dt, int64_t *v) {
  int64_t lo = dt == TIR_I8 ? -128 : dt == TIR_I16 ? -32768 : dt == TIR_I32 ? INT32_MIN : dt == TIR_U8 ? 0 : INT64_MIN;
  int64_t hi = dt == TIR_I8 ? 127 : dt == TIR_I16 ? 32767 : dt == TIR_I32 ? INT32_MAX : dt == TIR_U8 ? 255 : INT64_MAX;
  if (dt == TIR_BOOL) lo = 0, hi = 1;
  const int64_t e[] = {0, 1, lo, hi, lo + 1, hi - 1, 2};
  int n = 0;
  for (int i = 0; i < 7; i++) v[n++] = dt == TIR_BOOL ? e[i] & 1 : e[i];
  return n;
}

/* Fresh random values of dt with its edge values spread through them. */
void *make_values(TirDType dt, int64_t n, ValueKind kind, bool edges) {
  size_t es = tir_dtype_size(dt);
  void *p = malloc(n ? (size_t)n * es : 1);
  if (!p) return NULL;
  for (int64_t i = 0; i < n; i++) {
    if (tir_dtype_is_float(dt)) {
      double x = 2 * tt_rng_normal();
      if (kind == VAL_POSITIVE) x = fabs(x) + 0.1;
      tir_store_f64(dt, p, (size_t)i, x);
    } else if (dt == TIR_BOOL) {
      tir_store_i64(dt, p, (size_t)i, (int64_t)(tt_rng_u64() & 1));
    } else {
      int64_t x = tt_rng_int(-100, 100);
      if (dt == TIR_U8) x += 100;
      tir_store_i64(dt, p, (size_t)i, x);
    }
  }
  if (!edges || n < 4) return p;
  double fe[16];
  int64_t ie[16];
  int ne = tir_dtype_is_float(dt) ? float_edges(dt, fe) : int_edges(dt, ie);
  /* A random position each, so broadcast pairs meet in varying combinations. */
  for (int k = 0; k < ne && k < n / 2; k++) {
    size_t at = (size_t)tt_rng_int(0, n - 1);
    if (tir_dtype_is_float(dt)) tir_store_f64(dt, p, at, fe[k]);
    else tir_store_i64(dt, p, at, ie[k]);
  }
  return p;
}

/* ------------------------------------------------------------ shapes */

int64_t sh_numel(const Sh *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->d[i];
  return n;
}

Operand operand(TirDType dt, const Sh *s, const void *data) {
  Operand o = {.dt = dt, .rank = s->rank, .data = data, .transposed = s->t};
  memcpy(o.dims, s->d, sizeof o.dims);
  return o;
}

/* ------------------------------------------------------------ closeness */

/* Element bounds: |got - want| <= atol + rtol * scale.  rtol is a few
 * units in the last place of the dtype for f16/bf16 (computed in f32,
 * rounded once, against a reference rounded once: at most one ulp apart)
 * and for f64; f32 is looser because some formulas round an intermediate
 * in f32 that the f64 reference does not (gelu's -x/sqrt2 before erfc,
 * whose condition number grows like 2x^2).  atol is twice the smallest
 * subnormal.  The whole result must also meet tt_tol's relative-L2 bound. */
static bool close_enough(TirDType dt, double got, double want, double scale) {
  if (isnan(want)) return isnan(got);
  if (isinf(want) || isinf(got)) return got == want;
  double rtol = dt == TIR_F16 ? 2e-3 : dt == TIR_BF16 ? 1.6e-2 : dt == TIR_F32 ? 1e-4 : 1e-13;
  double atol = dt == TIR_F16 ? 0x1p-23 : dt == TIR_BF16 ? 0x1p-132 : dt == TIR_F32 ? 0x1p-148 : 0x1p-1073;
  return fabs(got - want) <= atol + rtol * scale;
}

/* ------------------------------------------------------------ broadcast indexing */

/* Offset into operand o (dense, row-major) of element e of the result. */
int64_t bcast_offset(const Operand *o, const OpsShape *r, int64_t e) {
  int64_t idx[OPS_MAX_RANK] = {0}, off = 0;
  for (int d = r->rank - 1; d >= 0; d--) {
    idx[d] = r->dims[d] ? e % r->dims[d] : 0;
    e = r->dims[d] ? e / r->dims[d] : 0;
  }
  for (int d = 0; d < o->rank; d++) {
    int64_t dd = o->dims[d], id = idx[r->rank - o->rank + d];
    off = off * dd + (dd == 1 ? 0 : id);
  }
  return off;
}

/* ------------------------------------------------------------ running a case */

/* Compares one backend's result with the reference (ref: the values in
 * the result dtype, as doubles, or int64 for integer results).  `scale`,
 * when given, is the per-element magnitude the error is relative to
 * (reductions: the sum of |x|). */
static void compare(const char *what, Backend b, const OpsShape *r, const void *out, const double *ref,
                    const int64_t *iref, const double *scale) {
  int bad = 0;
  double num = 0, den = 0;
  for (int64_t e = 0; e < r->numel; e++) {
    char msg[160] = "";
    if (!tir_dtype_is_float(r->dt)) {
      int64_t got = tir_load_i64(r->dt, out, (size_t)e);
      if (got != iref[e]) snprintf(msg, sizeof msg, "%lld, want %lld", (long long)got, (long long)iref[e]);
    } else {
      double got = tir_load_f64(r->dt, out, (size_t)e), want = ref[e];
      if (!close_enough(r->dt, got, want, scale ? scale[e] : fabs(want)))
        snprintf(msg, sizeof msg, "%.17g, want %.17g", got, want);
      if (isfinite(want) && isfinite(got)) num += (got - want) * (got - want), den += want * want;
    }
    if (msg[0] && bad++ < 3) CHECK_MSG(false, "%s [%s] element %lld: %s", what, BACKEND_NAME[b], (long long)e, msg);
  }
  double l2 = den > 0 ? sqrt(num / den) : 0, bound = tt_tol((tirrt_dtype_t)r->dt);
  if (tir_dtype_is_float(r->dt) && !scale && l2 > bound) {
    CHECK_MSG(false, "%s [%s]: |out - ref| / |ref| = %.3g > %.3g", what, BACKEND_NAME[b], l2, bound);
    bad++;
  }
  if (bad == 0) CHECK(true);
}

/* Runs op on every backend and compares with ref.  expect_error: the
 * reference has no value (amax over nothing): every backend must report
 * an error instead. */
void run_case(const char *what, const OpSpec *op, const Operand *ins, int n, const OpsShape *r,
                     const double *ref, const int64_t *iref, const double *scale, bool expect_error,
                     Tally *t) {
  t->cases++;
  for (int b = 0; b < BK_COUNT; b++) {
    void *out = NULL;
    bool fused = false;
    char err[256];
    RunResult rr = ops_run((Backend)b, op, ins, n, &out, &fused, err, sizeof err);
    if (rr == RUN_DECLINED || rr == RUN_REJECTED) {
      t->declined[b]++;
    } else if (expect_error) {
      CHECK_MSG(rr == RUN_FAILED, "%s [%s]: ran, but has no defined value", what, BACKEND_NAME[b]);
      t->compared[b]++;
    } else if (rr == RUN_FAILED) {
      CHECK_MSG(false, "%s [%s]: %s", what, BACKEND_NAME[b], err);
    } else {
      compare(what, (Backend)b, r, out, ref, iref, scale);
      t->compared[b]++;
      t->fused += fused;
    }
    free(out);
  }
}

void ops_report(const char *name, const Tally *t) {
  printf("%-14s %4d cases; compared fold %d, cpu %d, cuda %d, cuda-gen %d (%d as generated kernels)\n",
         name, t->cases, t->compared[BK_FOLD], t->compared[BK_CPU], t->compared[BK_CUDA],
         t->compared[BK_CUDA_GEN], t->fused);
}

/* The reference result of an elementwise row over the operands. */
void ew_reference(const EwRef *er, const Operand *ins, const OpsShape *r, double *ref, int64_t *iref) {
  TirDType in_dt = ins[er->form == EW_WHERE ? 1 : 0].dt;
  bool fl = tir_dtype_is_float(in_dt);
  /* Results rounded once to the result dtype: stored and read back. */
  unsigned char cell[8];
  for (int64_t e = 0; e < r->numel; e++) {
    double xf[3] = {0};
    int64_t xi[3] = {0};
    int nin = er->form == EW_UNARY || er->form == EW_CAST ? 1 : er->form == EW_WHERE ? 3 : 2;
    for (int k = 0; k < nin; k++) {
      int64_t off = bcast_offset(&ins[k], r, e);
      xf[k] = tir_load_f64(ins[k].dt, ins[k].data, (size_t)off);
      xi[k] = tir_load_i64(ins[k].dt, ins[k].data, (size_t)off);
    }
    double vf = 0;
    int64_t vi = 0;
    bool is_f = fl;
    switch (er->form) {
    case EW_UNARY:
      if (fl) vf = tir_ew_unary_f64(er->op, xf[0]);
      else (void)tir_ew_unary_i64(er->op, xi[0], &vi);
      break;
    case EW_BINARY:
      if (fl) vf = tir_ew_binary_f64(er->op, xf[0], xf[1]);
      else (void)tir_ew_binary_i64(er->op, xi[0], xi[1], &vi);
      break;
    case EW_WHERE: vf = xi[0] ? xf[1] : xf[2], vi = xi[0] ? xi[1] : xi[2]; break;
    case EW_MASKED_FILL: vf = xi[1] ? er->fill : xf[0], vi = xi[1] ? er->ifill : xi[0]; break;
    case EW_CAST: break;
    }
    if (er->form == EW_CAST) {
      /* The conversion itself is the reference: from the exact input value. */
      if (fl) tir_store_f64(r->dt, cell, 0, xf[0]);
      else tir_store_i64(r->dt, cell, 0, xi[0]);
    } else if (is_f) {
      tir_store_f64(r->dt, cell, 0, vf);
    } else {
      tir_store_i64(r->dt, cell, 0, vi);
    }
    if (tir_dtype_is_float(r->dt)) ref[e] = tir_load_f64(r->dt, cell, 0);
    else iref[e] = tir_load_i64(r->dt, cell, 0);
  }
}

