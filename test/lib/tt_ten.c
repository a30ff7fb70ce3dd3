/* tt_ten.c — guarded strided test tensors (tt_t, see tt_tensor.h): the
 * layouts, random filling, poisoning, element access through broadcasting,
 * and the checks of an output against a long double reference. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_tensor.h"

const char *const tt_lay_name[TT_NLAY] = {"contig", "transposed", "sliced", "expanded", "swapped"};

unsigned char *tt_storage(const tt_t *t) { return t->mem + TT_GUARD; }

tt_t tt_make(tirrt_dtype_t dt, int rank, const int64_t *shape, int lay) {
  tt_t t;
  memset(&t, 0, sizeof t);
  t.v.dtype = dt;
  t.v.rank = rank;
  int64_t numel = 1, elems = 1, offset = 0;
  for (int d = 0; d < rank; d++) numel *= shape[d], t.v.shape[d] = shape[d];
  if (lay == TT_LAY_C || lay == TT_LAY_E || numel == 0) {
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int bcast = lay == TT_LAY_E && d % 2 == 0; /* even dims broadcast with stride 0 */
      t.v.strides[d] = bcast ? 0 : s;
      if (!bcast) s *= shape[d] > 0 ? shape[d] : 1;
    }
    elems = s;
  } else if (lay == TT_LAY_T) { /* column-major: the reversed dims are dense */
    int64_t s = 1;
    for (int d = 0; d < rank; d++) t.v.strides[d] = s, s *= shape[d];
    elems = s;
  } else if (lay == TT_LAY_S) { /* storage [..., n-1, n-2] row-major, viewed swapped back */
    t.v.strides[rank - 2] = 1;
    t.v.strides[rank - 1] = shape[rank - 2];
    int64_t s = shape[rank - 2] * shape[rank - 1];
    for (int d = rank - 3; d >= 0; d--) t.v.strides[d] = s, s *= shape[d];
    elems = s;
  } else { /* TT_LAY_P: a slice [1 : 1+n] of storage dims n+2, the last [1 : : 2] of 2n+3 */
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t sd = d == rank - 1 ? 2 * shape[d] + 3 : shape[d] + 2;
      t.v.strides[d] = d == rank - 1 ? 2 * s : s;
      offset += s;
      s *= sd;
    }
    elems = s;
  }
  size_t es = tt_dtype_size(dt);
  t.nbytes = (size_t)elems * es;
  t.mem = malloc(t.nbytes + 2 * TT_GUARD);
  t.snap = malloc(t.nbytes + 1);
  memset(t.mem, 0x5A, t.nbytes + 2 * TT_GUARD);
  t.v.data = tt_storage(&t) + offset * (int64_t)es;
  return t;
}

void tt_free(tt_t *t) {
  free(t->mem);
  free(t->snap);
}

void tt_rand(tt_t *t, double lo, double hi) {
  /* The whole storage, not only the view, so a kernel reading outside the
   * view reads random data rather than something benign. */
  size_t es = tt_dtype_size(t->v.dtype);
  long double rl, rh;
  tt_rand_range(t->v.dtype, &rl, &rh);
  for (size_t k = 0; k < t->nbytes / es; k++) {
    long double x;
    if (tt_is_float(t->v.dtype)) x = tt_rng_unif(lo, hi);
    else {
      long double a = lo > rl ? lo : rl, b = hi < rh ? hi : rh;
      x = (long double)tt_rng_int((int64_t)a, (int64_t)b);
    }
    tt_store(t->v.dtype, tt_storage(t) + k * es, x);
  }
}

void tt_poison(tt_t *t) {
  size_t es = tt_dtype_size(t->v.dtype);
  for (size_t k = 0; k < t->nbytes / es; k++) {
    unsigned char *p = tt_storage(t) + k * es;
    if (tt_is_float(t->v.dtype)) tt_store(t->v.dtype, p, NAN);
    else memset(p, 0xAB, es);
  }
  memcpy(t->snap, tt_storage(t), t->nbytes);
}

int64_t tt_numel(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  return n;
}

void tt_unravel(int64_t lin, int rank, const int64_t *shape, int64_t *idx) {
  for (int d = rank - 1; d >= 0; d--) {
    idx[d] = shape[d] ? lin % shape[d] : 0;
    lin = shape[d] ? lin / shape[d] : 0;
  }
}

unsigned char *tt_ptr(const tt_t *t, int rank, const int64_t *idx) {
  int64_t off = 0;
  for (int d = 0; d < t->v.rank; d++) {
    int64_t i = idx[rank - t->v.rank + d];
    if (t->v.shape[d] == 1) i = 0;
    off += i * t->v.strides[d];
  }
  return (unsigned char *)t->v.data + off * (int64_t)tt_dtype_size(t->v.dtype);
}
long double tt_at(const tt_t *t, int rank, const int64_t *idx) { return tt_load(t->v.dtype, tt_ptr(t, rank, idx)); }
long double tt_lin(const tt_t *t, int64_t lin) {
  int64_t idx[TIRRT_MAX_RANK];
  tt_unravel(lin, t->v.rank, t->v.shape, idx);
  return tt_at(t, t->v.rank, idx);
}
void tt_set_lin(tt_t *t, int64_t lin, long double x) {
  int64_t idx[TIRRT_MAX_RANK];
  tt_unravel(lin, t->v.rank, t->v.shape, idx);
  tt_store(t->v.dtype, tt_ptr(t, t->v.rank, idx), x);
}

bool tt_outside_ok(const tt_t *t) {
  for (int k = 0; k < TT_GUARD; k++)
    if (t->mem[k] != 0x5A || t->mem[TT_GUARD + t->nbytes + k] != 0x5A) return false;
  size_t es = tt_dtype_size(t->v.dtype);
  unsigned char *mark = calloc(t->nbytes / es + 1, 1);
  int64_t n = tt_numel(t->v.rank, t->v.shape);
  int64_t idx[TIRRT_MAX_RANK];
  for (int64_t lin = 0; lin < n; lin++) {
    tt_unravel(lin, t->v.rank, t->v.shape, idx);
    mark[(size_t)(tt_ptr(t, t->v.rank, idx) - tt_storage(t)) / es] = 1;
  }
  bool ok = true;
  for (size_t k = 0; k < t->nbytes / es; k++)
    if (!mark[k] && memcmp(tt_storage(t) + k * es, t->snap + k * es, es) != 0) ok = false;
  free(mark);
  return ok;
}

void tt_expect_close(const char *label, const tt_t *out, const long double *ref, double bound) {
  int64_t n = tt_numel(out->v.rank, out->v.shape);
  long double num = 0, den = 0;
  int64_t bad = -1;
  for (int64_t k = 0; k < n && bad < 0; k++) {
    long double o = tt_lin(out, k), r = ref[k];
    if (isnan(r) || isinf(r) || isnan(o) || isinf(o)) {
      if (!(isnan(r) && isnan(o)) && o != r) bad = k;
      continue;
    }
    num += (o - r) * (o - r);
    den += r * r;
  }
  double rel = den > 0 ? (double)sqrtl(num / den) : (double)sqrtl(num);
  if (bad >= 0)
    CHECK_MSG(false, "%s: element %" PRId64 " is %Lg, expected %Lg", label, bad, tt_lin(out, bad), ref[bad]);
  else
    CHECK_MSG(rel <= bound, "%s: relative error %.3g > %.3g", label, rel, bound);
  CHECK_MSG(tt_outside_ok(out), "%s: wrote outside the output view", label);
}

void tt_expect_exact(const char *label, const tt_t *out, const long double *ref) {
  int64_t n = tt_numel(out->v.rank, out->v.shape);
  int64_t bad = -1;
  for (int64_t k = 0; k < n && bad < 0; k++) {
    long double o = tt_lin(out, k), r = ref[k];
    int64_t idx[TIRRT_MAX_RANK];
    tt_unravel(k, out->v.rank, out->v.shape, idx);
    if (out->v.dtype == TIRRT_DTYPE_BOOL && *tt_ptr(out, out->v.rank, idx) > 1) bad = k;
    if (!(o == r || (isnan(o) && isnan(r)))) bad = k;
  }
  if (bad >= 0)
    CHECK_MSG(false, "%s: element %" PRId64 " is %.21Lg, expected %.21Lg", label, bad, tt_lin(out, bad),
              ref[bad]);
  else
    CHECK_MSG(true, "%s", label);
  CHECK_MSG(tt_outside_ok(out), "%s: wrote outside the output view", label);
}

void tt_expect_result(const char *label, const tt_t *out, const long double *ref) {
  if (tt_is_float(out->v.dtype)) tt_expect_close(label, out, ref, tt_tol(out->v.dtype));
  else tt_expect_exact(label, out, ref);
}

long double *tt_ref_alloc(const tt_t *out) {
  int64_t n = tt_numel(out->v.rank, out->v.shape);
  return calloc((size_t)(n > 0 ? n : 1), sizeof(long double));
}
