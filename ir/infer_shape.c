/* infer_shape.c — shape and dtype inference for the shape ops (reshape,
 * permute, transpose, expand, unsqueeze, squeeze, slice, concat); rules as
 * in infer.c, which dispatches here. */
#include "infer_internal.h"

/* ---------------------------------------------------------------- shape ops */

TirStatus tir_infer_reshape(Ctx *c) {
  TirType *x = ot(c, 0);
  const TirAttr *sh = araw(c, "shape");
  int n = sh->dims.n;
  TRY(need_rank_fits(c, n));
  TirType want = empty_type(x->dtype); /* as written, for messages */
  want.rank = n;
  for (int i = 0; i < n; i++) want.dims[i] = sh->dims.v[i];
  const TirDim *numel = numel_dim(c, x), *known = dconst(c, 1);
  if (!numel || !known) return TIR_ERR_INPUT;
  int infer_at = -1;
  for (int i = 0; i < n; i++) {
    int64_t v;
    if (is_const(sh->dims.v[i], &v) && v < 0) {
      if (v != -1) return fail(c, "invalid size %" PRId64 " in shape %s", v, tstr(&want).s);
      if (infer_at >= 0) return fail(c, "only one dimension can be -1: %s", tstr(&want).s);
      infer_at = i;
      continue;
    }
    if (!(known = dmul(c, known, sh->dims.v[i]))) return TIR_ERR_INPUT;
  }
  TirType r = want;
  if (infer_at >= 0) {
    if (is_const_eq(known, 0))
      return fail(c, "cannot reshape %s to %s: the -1 is ambiguous with zero elements", tstr(x).s,
                  tstr(&want).s);
    const char *err = NULL;
    const TirDim *q = tir_dim_floordiv(c->m, numel, known, &err);
    if (!q || tir_dim_mul(c->m, q, known, &err) != numel)
      return fail(c, "cannot reshape %s to %s", tstr(x).s, tstr(&want).s);
    r.dims[infer_at] = q;
  } else if (known != numel) {
    return fail(c, "cannot reshape %s to %s", tstr(x).s, tstr(&want).s);
  }
  return set_result(c, &r);
}

TirStatus tir_infer_permute(Ctx *c) {
  TirType *x = ot(c, 0);
  const TirAttr *p = araw(c, "dims");
  if (p->ints.n != x->rank)
    return fail(c, "dims has %d entries but the input %s has rank %d", p->ints.n, tstr(x).s,
                x->rank);
  bool seen[TIR_MAX_RANK] = {false};
  TirType r = *x;
  for (int i = 0; i < x->rank; i++) {
    int d = 0;
    TRY(norm_dim(c, p->ints.v[i], x->rank, "dims", &d));
    if (seen[d]) return fail(c, "dims is not a permutation: dim %d repeats", d);
    seen[d] = true;
    r.dims[i] = x->dims[d];
  }
  return set_result(c, &r);
}

TirStatus tir_infer_transpose(Ctx *c) {
  TirType *x = ot(c, 0);
  int wrap = x->rank > 0 ? x->rank : 1, d0 = 0, d1 = 0;
  TRY(norm_dim(c, aint(c, "dim0"), wrap, "dim0", &d0));
  TRY(norm_dim(c, aint(c, "dim1"), wrap, "dim1", &d1));
  TirType r = *x;
  if (x->rank > 0) {
    r.dims[d0] = x->dims[d1];
    r.dims[d1] = x->dims[d0];
  }
  return set_result(c, &r);
}

TirStatus tir_infer_expand(Ctx *c) {
  TirType *x = ot(c, 0);
  const TirAttr *sh = araw(c, "shape");
  int n = sh->dims.n, lead = n - x->rank;
  TRY(need_rank_fits(c, n));
  TirType want = empty_type(x->dtype), r = empty_type(x->dtype);
  want.rank = r.rank = n;
  for (int i = 0; i < n; i++) want.dims[i] = sh->dims.v[i];
  if (lead < 0)
    return fail(c, "shape %s has fewer dims than the input %s", tstr(&want).s, tstr(x).s);
  for (int i = 0; i < n; i++) {
    const TirDim *t = sh->dims.v[i];
    int64_t v;
    bool tc = is_const(t, &v);
    if (i < lead) {
      if (tc && v < 0)
        return fail(c, "size %" PRId64 " is not allowed in a new leading dim: %s to %s", v,
                    tstr(x).s, tstr(&want).s);
      r.dims[i] = t;
      continue;
    }
    const TirDim *s = x->dims[i - lead];
    if ((tc && v == -1) || t == s) r.dims[i] = s;
    else if (tc && v < -1) return fail(c, "invalid size %" PRId64 " in shape %s", v, tstr(&want).s);
    else if (is_const_eq(s, 1)) r.dims[i] = t;
    else
      return fail(c, "cannot expand %s to %s: dim %d has size %s", tstr(x).s, tstr(&want).s,
                  i - lead, dstr(s).s);
  }
  return set_result(c, &r);
}

TirStatus tir_infer_unsqueeze(Ctx *c) {
  TirType *x = ot(c, 0);
  TRY(need_rank_fits(c, x->rank + 1));
  int d = 0;
  TRY(norm_dim(c, aint(c, "dim"), x->rank + 1, "dim", &d));
  TirType r = empty_type(x->dtype);
  const TirDim *one = dconst(c, 1);
  if (!one) return TIR_ERR_INPUT;
  for (int i = 0; i < x->rank; i++) r.dims[i < d ? i : i + 1] = x->dims[i];
  r.dims[d] = one;
  r.rank = x->rank + 1;
  return set_result(c, &r);
}

TirStatus tir_infer_squeeze(Ctx *c) {
  TirType *x = ot(c, 0);
  TirType r = empty_type(x->dtype);
  if (apresent(c, "dim")) {
    int d = 0;
    TRY(norm_dim(c, aint(c, "dim"), x->rank > 0 ? x->rank : 1, "dim", &d));
    if (x->rank == 0) return set_result(c, x);
    int64_t v;
    if (!is_const(x->dims[d], &v))
      return fail(c, "cannot squeeze symbolic dim %d (%s) of %s", d, dstr(x->dims[d]).s, tstr(x).s);
    if (v != 1) return set_result(c, x); /* torch: a no-op on a dim that is not 1 */
    for (int i = 0; i < x->rank; i++)
      if (i != d) r.dims[r.rank++] = x->dims[i];
    return set_result(c, &r);
  }
  /* Without dim: drop the dims known to be 1; a symbolic dim stays, since
   * whether it is 1 is only known at run time. */
  for (int i = 0; i < x->rank; i++)
    if (!is_const_eq(x->dims[i], 1)) r.dims[r.rank++] = x->dims[i];
  return set_result(c, &r);
}

/* A constant slice bound at or above this, against a symbolic size, means
 * "to the end" (exporters write INT64_MAX or INT32_MAX-ish sentinels). */
#define SLICE_END_SENTINEL INT64_C(2147483647)

/* Normalizes a constant bound against a constant size the Python way. */
static int64_t py_bound(int64_t v, int64_t n) {
  if (v < 0) v += n; /* no overflow: v >= INT64_MIN, n >= 0 */
  return v < 0 ? 0 : v > n ? n : v;
}

TirStatus tir_infer_slice(Ctx *c) {
  TirType *x = ot(c, 0);
  if (x->rank == 0) return fail(c, "cannot slice a 0-d tensor %s", tstr(x).s);
  int d = 0;
  TRY(norm_dim(c, aint(c, "dim"), x->rank, "dim", &d));
  const TirAttr *sa = araw(c, "start"), *ea = araw(c, "end");
  const TirDim *size = x->dims[d], *step = adim(c, "step");
  if (!step) return TIR_ERR_INPUT;
  const TirDim *start = sa->kind == TIR_ATTR_DIM ? sa->dim : NULL;
  const TirDim *end = ea->kind == TIR_ATTR_DIM ? ea->dim : NULL;
  int64_t n, st, sv = 0, ev = 0;
  bool nc = is_const(size, &n), stc = is_const(step, &st);
  bool sc = start && is_const(start, &sv), ec = end && is_const(end, &ev);
  if (stc && st < 1) return fail(c, "step=%" PRId64 " must be >= 1", st);
  TirType r = *x;
  if (nc && stc && (!start || sc) && (!end || ec)) {
    /* Everything known: exact Python semantics with clamping. */
    int64_t lo = start ? py_bound(sv, n) : 0, hi = end ? py_bound(ev, n) : n, len = 0;
    TRY(const_range_len(c, lo, hi, st, &len));
    if (!(r.dims[d] = dconst(c, len))) return TIR_ERR_INPUT;
    return set_result(c, &r);
  }
  /* Some part is symbolic: bounds are taken as in range (no clamping can be
   * expressed), negative constants count from the end. */
  if (ec && !nc && ev >= SLICE_END_SENTINEL) end = NULL, ec = false;
  if (sc && !nc && sv >= SLICE_END_SENTINEL) {
    if (!(r.dims[d] = dconst(c, 0))) return TIR_ERR_INPUT;
    return set_result(c, &r);
  }
  const TirDim *lo, *hi;
  if (!start) lo = dconst(c, 0);
  else if (sc && nc) lo = dconst(c, py_bound(sv, n));
  else if (sc && sv < 0) lo = dadd(c, size, start);
  else lo = start;
  if (!end) hi = size;
  else if (ec && nc) hi = dconst(c, py_bound(ev, n));
  else if (ec && ev < 0) hi = dadd(c, size, end);
  else hi = end;
  const TirDim *one = dconst(c, 1);
  const TirDim *len = ddiv(c, dsub(c, dadd(c, dsub(c, hi, lo), step), one), step);
  if (!len) return TIR_ERR_INPUT;
  int64_t lv;
  if (is_const(len, &lv) && lv < 0 && !(len = dconst(c, 0))) return TIR_ERR_INPUT;
  r.dims[d] = len;
  return set_result(c, &r);
}

/* torch.cat skips 1-D tensors of size 0 (the legacy empty tensor,
 * torch.tensor([])) whatever the shapes of the other inputs. */
static bool legacy_empty(const TirType *t) { return t->rank == 1 && is_const_eq(t->dims[0], 0); }

TirStatus tir_infer_concat(Ctx *c) {
  int n = c->op->n_operands;
  const TirType *ref = NULL;
  for (int i = 0; i < n; i++) {
    TirType *t = ot(c, i);
    if (t->dtype != ot(c, 0)->dtype)
      return fail(c, "operand dtypes differ: %s and %s", tstr(ot(c, 0)).s, tstr(t).s);
    if (t->rank == 0) return fail(c, "cannot concatenate a 0-d tensor %s", tstr(t).s);
    if (!ref && !legacy_empty(t)) ref = t;
  }
  if (!ref) ref = ot(c, 0); /* all are [0] */
  int d = 0;
  TRY(norm_dim(c, aint(c, "dim"), ref->rank, "dim", &d));
  TirType r = *ref;
  const TirDim *sum = dconst(c, 0);
  for (int i = 0; i < n && sum; i++) {
    TirType *t = ot(c, i);
    if (ref->rank != 1 && legacy_empty(t)) continue;
    if (t->rank != ref->rank)
      return fail(c, "operand ranks differ: %s and %s", tstr(ref).s, tstr(t).s);
    for (int j = 0; j < t->rank; j++)
      if (j != d && t->dims[j] != ref->dims[j])
        return fail(c, "sizes differ in dim %d (concatenating along dim %d): %s and %s", j, d,
                    tstr(ref).s, tstr(t).s);
    sum = dadd(c, sum, t->dims[d]);
  }
  if (!sum) return TIR_ERR_INPUT;
  r.dims[d] = sum;
  return set_result(c, &r);
}
