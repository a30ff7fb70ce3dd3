/* infer_nn.c — shape and dtype inference for reductions, softmax and the
 * norms, matmul/linear, the source ops (arange, full, const), tril/triu,
 * embedding, dropout and sdpa; rules as in infer.c, which dispatches here. */
#include "infer_internal.h"

/* ---------------------------------------------------------------- reductions and normalizations */

TirStatus tir_infer_reduction(Ctx *c) {
  TirType *x = ot(c, 0);
  TirOpKind k = c->op->kind;
  bool red[TIR_MAX_RANK] = {false}, seen[TIR_MAX_RANK] = {false};
  const TirAttr *dims = araw(c, "dims");
  int wrap = x->rank > 0 ? x->rank : 1;
  /* Absent or empty `dims` reduces everything, as torch does for dim=[]. */
  if (dims->kind == TIR_ATTR_NONE || dims->ints.n == 0) {
    for (int i = 0; i < x->rank; i++) red[i] = true;
  } else {
    for (int i = 0; i < dims->ints.n; i++) {
      int d = 0;
      TRY(norm_dim(c, dims->ints.v[i], wrap, "dims", &d));
      if (seen[d]) return fail(c, "dim %d appears more than once in dims", d);
      seen[d] = true;
      if (d < x->rank) red[d] = true;
    }
  }
  if (k == TIR_OP_MEAN) TRY(need_float(c, x, "operand"));
  if (k == TIR_OP_AMAX || k == TIR_OP_AMIN)
    for (int i = 0; i < x->rank; i++)
      if (red[i] && is_const_eq(x->dims[i], 0))
        return fail(c, "cannot reduce over the zero-size dim %d of %s (no identity)", i, tstr(x).s);
  bool keep = abool(c, "keepdim");
  TirType r = empty_type(x->dtype);
  if (k == TIR_OP_SUM && !tir_dtype_is_float(x->dtype))
    r.dtype = TIR_I64; /* torch: integral sums are i64 */
  for (int i = 0; i < x->rank; i++) {
    if (!red[i]) r.dims[r.rank++] = x->dims[i];
    else if (keep && !(r.dims[r.rank++] = dconst(c, 1))) return TIR_ERR_INPUT;
  }
  return set_result(c, &r);
}

TirStatus tir_infer_softmax(Ctx *c) {
  TirType *x = ot(c, 0);
  TRY(need_float(c, x, "operand"));
  int d = 0;
  TRY(norm_dim(c, aint(c, "dim"), x->rank > 0 ? x->rank : 1, "dim", &d));
  return set_result(c, x);
}

/* Checks that operand i (weight or bias) has x's dtype and x's last n dims. */
static TirStatus check_affine(Ctx *c, int i, int n, const char *what) {
  TirType *x = ot(c, 0), *w = ot(c, i);
  if (w->dtype != x->dtype)
    return fail(c, "%s dtype differs from input: %s and %s", what, tstr(w).s, tstr(x).s);
  bool ok = w->rank == n;
  for (int j = 0; ok && j < n; j++) ok = w->dims[j] == x->dims[x->rank - n + j];
  if (!ok)
    return fail(c, "%s %s does not match the last %d dim(s) of %s", what, tstr(w).s, n, tstr(x).s);
  return TIR_OK;
}

TirStatus tir_infer_layer_norm(Ctx *c) {
  TirType *x = ot(c, 0);
  TRY(need_float(c, x, "input"));
  int64_t n = aint(c, "dims");
  if (n < 1 || n > x->rank)
    return fail(c, "dims=%" PRId64 " must be in [1, %d] for %s", n, x->rank, tstr(x).s);
  TRY(check_eps(c));
  if (c->op->n_operands > 1) TRY(check_affine(c, 1, (int)n, "weight"));
  if (c->op->n_operands > 2) TRY(check_affine(c, 2, (int)n, "bias"));
  return set_result(c, x);
}

TirStatus tir_infer_rms_norm(Ctx *c) {
  TirType *x = ot(c, 0);
  TRY(need_float(c, x, "input"));
  if (x->rank < 1) return fail(c, "input must have rank >= 1, got %s", tstr(x).s);
  TRY(check_eps(c));
  if (c->op->n_operands > 1) {
    /* The weight's rank is the number of normalized trailing dims (torch's
     * normalized_shape == weight.shape). */
    TirType *w = ot(c, 1);
    if (w->rank < 1 || w->rank > x->rank)
      return fail(c, "weight %s must have rank in [1, %d] for input %s", tstr(w).s, x->rank,
                  tstr(x).s);
    TRY(check_affine(c, 1, w->rank, "weight"));
  }
  return set_result(c, x);
}

/* ---------------------------------------------------------------- contractions */

TirStatus tir_infer_matmul(Ctx *c) {
  TirType *a = ot(c, 0), *b = ot(c, 1);
  if (a->rank < 2 || b->rank < 2)
    return fail(c, "operands must have rank >= 2: %s @ %s", tstr(a).s, tstr(b).s);
  if (a->dtype != b->dtype) return fail(c, "operand dtypes differ: %s @ %s", tstr(a).s, tstr(b).s);
  if (a->dtype == TIR_BOOL)
    return fail(c, "bool operands are not supported: %s @ %s", tstr(a).s, tstr(b).s);
  if (a->dims[a->rank - 1] != b->dims[b->rank - 2])
    return fail(c, "inner dims differ: %s @ %s", tstr(a).s, tstr(b).s);
  TirType ba = *a, bb = *b, r;
  ba.rank -= 2;
  bb.rank -= 2;
  if (!tir_broadcast_shapes(&ba, &bb, &r))
    return fail(c, "batch dims do not broadcast: %s @ %s", tstr(a).s, tstr(b).s);
  TRY(need_rank_fits(c, r.rank + 2));
  r.dims[r.rank++] = a->dims[a->rank - 2];
  r.dims[r.rank++] = b->dims[b->rank - 1];
  r.dtype = a->dtype;
  return set_result(c, &r);
}

TirStatus tir_infer_linear(Ctx *c) {
  TirType *x = ot(c, 0), *w = ot(c, 1);
  if (x->rank < 1) return fail(c, "input must have rank >= 1, got %s", tstr(x).s);
  if (w->rank != 2) return fail(c, "weight must be 2-D [out, in], got %s", tstr(w).s);
  if (w->dtype != x->dtype)
    return fail(c, "weight dtype differs from input: %s and %s", tstr(w).s, tstr(x).s);
  if (x->dtype == TIR_BOOL) return fail(c, "bool operands are not supported: %s", tstr(x).s);
  if (x->dims[x->rank - 1] != w->dims[1])
    return fail(c, "in features differ: input %s, weight %s", tstr(x).s, tstr(w).s);
  TirType r = *x;
  r.dims[r.rank - 1] = w->dims[0];
  if (c->op->n_operands > 2) {
    TirType *b = ot(c, 2), out = empty_type(x->dtype), bc;
    out.rank = 1;
    out.dims[0] = w->dims[0];
    if (b->dtype != x->dtype)
      return fail(c, "bias dtype differs from input: %s and %s", tstr(b).s, tstr(x).s);
    if (b->rank > 1 || !tir_broadcast_shapes(b, &out, &bc) || !same_shape(&bc, &out))
      return fail(c, "bias %s does not broadcast to %s", tstr(b).s, tstr(&out).s);
  }
  return set_result(c, &r);
}

/* ---------------------------------------------------------------- sources */

TirStatus tir_infer_arange(Ctx *c) {
  const TirDim *end = adim(c, "end"), *start = adim(c, "start");
  const TirDim *step = adim(c, "step");
  TirDType dt = adtype(c, "dtype");
  if (!end || !start || !step) return TIR_ERR_INPUT;
  if (dt == TIR_BOOL) return fail(c, "dtype=bool is not supported");
  int64_t st = 0, sv = 0, ev = 0, len = 0;
  if (!is_const(step, &st)) return fail(c, "step=%s must be a constant", dstr(step).s);
  if (st == 0) return fail(c, "step must be nonzero");
  if (st == INT64_MIN) return fail(c, "step=%" PRId64 " is out of range", st);
  const TirDim *ld;
  if (is_const(start, &sv) && is_const(end, &ev)) {
    TRY(st > 0 ? const_range_len(c, sv, ev, st, &len) : const_range_len(c, ev, sv, -st, &len));
    ld = dconst(c, len);
  } else {
    /* Symbolic bounds are assumed to give a nonnegative length. */
    const TirDim *span = st > 0 ? dsub(c, end, start) : dsub(c, start, end);
    const TirDim *as = dconst(c, st > 0 ? st : -st);
    ld = ddiv(c, dsub(c, dadd(c, span, as), dconst(c, 1)), as);
    if (ld && is_const(ld, &len) && len < 0) ld = dconst(c, 0);
  }
  if (!ld) return TIR_ERR_INPUT;
  TirType r = empty_type(dt);
  r.rank = 1;
  r.dims[0] = ld;
  return set_result(c, &r);
}

TirStatus tir_infer_full(Ctx *c) {
  const TirAttr *sh = araw(c, "shape");
  TirType r = empty_type(adtype(c, "dtype"));
  TRY(need_rank_fits(c, sh->dims.n));
  r.rank = sh->dims.n;
  for (int i = 0; i < r.rank; i++) r.dims[i] = sh->dims.v[i];
  for (int i = 0; i < r.rank; i++) {
    int64_t v;
    if (is_const(r.dims[i], &v) && v < 0)
      return fail(c, "invalid size %" PRId64 " in shape %s", v, tstr(&r).s);
  }
  TRY(check_scalar_fits(c, "value", araw(c, "value")->scalar, r.dtype));
  return set_result(c, &r);
}

TirStatus tir_infer_const(Ctx *c) {
  const TirType *t = &c->op->result->type;
  int64_t numel;
  for (int i = 0; i < t->rank; i++) {
    int64_t v;
    if (!is_const(t->dims[i], &v) || v < 0) return fail(c, "the type %s must be static", tstr(t).s);
  }
  if (!tir_type_numel(t, &numel)) return fail(c, "the type %s is too large", tstr(t).s);
  if (c->op->data || c->op->data_bytes) {
    size_t es = tir_dtype_size(t->dtype);
    if ((uint64_t)numel > SIZE_MAX / es || c->op->data_bytes != (size_t)numel * es)
      return fail(c, "payload has %zu bytes, but %s needs %" PRId64 " x %zu", c->op->data_bytes,
                  tstr(t).s, numel, es);
  }
  return TIR_OK;
}

/* ---------------------------------------------------------------- masks, lookups, attention */

TirStatus tir_infer_tri(Ctx *c) {
  TirType *x = ot(c, 0);
  if (x->rank < 2) return fail(c, "input must have rank >= 2, got %s", tstr(x).s);
  return set_result(c, x);
}

TirStatus tir_infer_embedding(Ctx *c) {
  TirType *w = ot(c, 0), *idx = ot(c, 1);
  if (w->rank != 2) return fail(c, "weight must be 2-D [num, dim], got %s", tstr(w).s);
  if (idx->dtype != TIR_I32 && idx->dtype != TIR_I64)
    return fail(c, "indices must be i32 or i64, got %s", tstr(idx).s);
  TRY(need_rank_fits(c, idx->rank + 1));
  TirType r = *idx;
  r.dtype = w->dtype;
  r.dims[r.rank++] = w->dims[1];
  return set_result(c, &r);
}

TirStatus tir_infer_dropout(Ctx *c) {
  TirType *x = ot(c, 0);
  TRY(need_float(c, x, "input"));
  double p = afloat(c, "p");
  if (!(p >= 0 && p <= 1)) return fail(c, "p=%g must be in [0, 1]", p);
  return set_result(c, x);
}

/* Query heads hq against key/value heads hk: equal, or (enable_gqa) a
 * multiple, proven for symbolic counts. */
static TirStatus check_gqa_heads(Ctx *c, const TirDim *hq, const TirDim *hk) {
  if (hq == hk) return TIR_OK;
  if (!abool(c, "enable_gqa"))
    return fail(c,
                "query heads (%s) differ from key/value heads (%s); set enable_gqa=true for "
                "grouped-query attention",
                dstr(hq).s, dstr(hk).s);
  int64_t nq, nk;
  if (is_const(hq, &nq) && is_const(hk, &nk)) {
    if (nk == 0 || nq % nk != 0)
      return fail(c,
                  "query heads (%" PRId64 ") must be a multiple of key/value heads (%" PRId64 ")",
                  nq, nk);
  } else {
    const char *err = NULL;
    const TirDim *g = tir_dim_floordiv(c->m, hq, hk, &err);
    if (!g || tir_dim_mul(c->m, g, hk, &err) != hq)
      return fail(c, "cannot prove query heads (%s) are a multiple of key/value heads (%s)",
                  dstr(hq).s, dstr(hk).s);
  }
  return TIR_OK;
}

/* scale, window and softcap of sdpa and paged_sdpa; the default scale
 * 1/sqrt(E) materialized when E is a constant. */
static TirStatus check_scale_window_softcap(Ctx *c, const TirDim *E) {
  TirOp *op = c->op;
  if (apresent(c, "window") && tir_op_attr_int(op, "window") < 1)
    return fail(c, "window=%" PRId64 " must be at least 1 (keys up to the query's position)",
                tir_op_attr_int(op, "window"));
  if (apresent(c, "softcap")) {
    double sc = afloat(c, "softcap");
    if (!(sc > 0) || !isfinite(sc)) return fail(c, "softcap=%g must be a positive finite number", sc);
  }
  if (apresent(c, "scale")) {
    double s = afloat(c, "scale");
    if (!isfinite(s)) return fail(c, "scale=%g must be finite", s);
  } else {
    int64_t e;
    /* Materialize torch's default so passes and the printer see it; with a
     * symbolic E the kernels compute it at run time. */
    if (is_const(E, &e) && e > 0) tir_op_set_float(op, "scale", 1.0 / sqrt((double)e));
  }
  return TIR_OK;
}

TirStatus tir_infer_sdpa(Ctx *c) {
  TirOp *op = c->op;
  TirType *q = ot(c, 0), *k = ot(c, 1), *v = ot(c, 2);
  if (!tir_dtype_is_float(q->dtype))
    return fail(c, "query must have a float dtype, got %s", tstr(q).s);
  if (k->dtype != q->dtype || v->dtype != q->dtype)
    return fail(c, "q, k and v dtypes differ: %s, %s, %s", tstr(q).s, tstr(k).s, tstr(v).s);
  if (q->rank < 3 || k->rank < 3 || v->rank < 3 || k->rank != q->rank || v->rank != q->rank)
    return fail(c, "q, k and v must have the same rank >= 3: %s, %s, %s", tstr(q).s, tstr(k).s,
                tstr(v).s);
  int rk = q->rank;
  TirType b = *q, bk = *k, bv = *v;
  b.rank = bk.rank = bv.rank = rk - 3;
  if (!tir_broadcast_shapes(&b, &bk, &b) || !tir_broadcast_shapes(&b, &bv, &b))
    return fail(c, "batch dims do not broadcast: %s, %s, %s", tstr(q).s, tstr(k).s, tstr(v).s);
  const TirDim *hq = q->dims[rk - 3], *L = q->dims[rk - 2], *E = q->dims[rk - 1];
  const TirDim *hk = k->dims[rk - 3], *S = k->dims[rk - 2];
  if (E != k->dims[rk - 1])
    return fail(c, "head dims of q and k differ: %s and %s", tstr(q).s, tstr(k).s);
  if (S != v->dims[rk - 2])
    return fail(c, "key and value lengths differ: %s and %s", tstr(k).s, tstr(v).s);
  if (hk != v->dims[rk - 3])
    return fail(c, "key and value heads differ: %s and %s", tstr(k).s, tstr(v).s);
  TRY(check_gqa_heads(c, hq, hk));
  TirType r = b;
  r.dtype = q->dtype;
  r.rank = rk;
  r.dims[rk - 3] = hq;
  r.dims[rk - 2] = L;
  r.dims[rk - 1] = v->dims[rk - 1];
  if (op->n_operands > 3) {
    TirType *mask = ot(c, 3), scores = r, mb;
    scores.dims[rk - 1] = S;
    if (mask->dtype != TIR_BOOL && mask->dtype != q->dtype)
      return fail(c, "mask must be bool or the query dtype %s, got %s", tir_dtype_name(q->dtype),
                  tstr(mask).s);
    scores.dtype = mask->dtype;
    if (!tir_broadcast_shapes(mask, &scores, &mb) || !same_shape(&mb, &scores))
      return fail(c, "mask %s does not broadcast to the scores %s", tstr(mask).s, tstr(&scores).s);
  }
  static const char *const aligns[] = {"top_left", "bottom_right"};
  static const char *const kernels[] = {"flash", "mem_efficient", "math"};
  TRY(check_str_attr(c, "causal_align", aligns, 2));
  TRY(check_str_attr(c, "kernel", kernels, 3));
  double dp = afloat(c, "dropout_p");
  if (!(dp >= 0 && dp < 1)) return fail(c, "dropout_p=%g must be in [0, 1)", dp);
  TRY(check_scale_window_softcap(c, E));
  return set_result(c, &r);
}

/* paged_sdpa(q, k_cache, v_cache, block_table, kv_lens): q [B, Hq, L, E],
 * k_cache [P, Hk, PS, E], v_cache [P, Hk, PS, Ev], block_table i32[B, NB],
 * kv_lens i32[B] -> [B, Hq, L, Ev]. */
TirStatus tir_infer_paged_sdpa(Ctx *c) {
  TirType *q = ot(c, 0), *k = ot(c, 1), *v = ot(c, 2), *bt = ot(c, 3), *lens = ot(c, 4);
  if (!tir_dtype_is_float(q->dtype))
    return fail(c, "query must have a float dtype, got %s", tstr(q).s);
  if (k->dtype != q->dtype || v->dtype != q->dtype)
    return fail(c, "q, k_cache and v_cache dtypes differ: %s, %s, %s", tstr(q).s, tstr(k).s,
                tstr(v).s);
  if (q->rank != 4) return fail(c, "query must be [B, Hq, L, E], got %s", tstr(q).s);
  if (k->rank != 4 || v->rank != 4)
    return fail(c, "k_cache and v_cache must be [pages, Hk, page_size, E], got %s and %s",
                tstr(k).s, tstr(v).s);
  if (bt->dtype != TIR_I32 || bt->rank != 2)
    return fail(c, "block_table must be i32[B, blocks], got %s", tstr(bt).s);
  if (lens->dtype != TIR_I32 || lens->rank != 1)
    return fail(c, "kv_lens must be i32[B], got %s", tstr(lens).s);
  if (bt->dims[0] != q->dims[0] || lens->dims[0] != q->dims[0])
    return fail(c, "block_table %s and kv_lens %s must have the query's batch %s", tstr(bt).s,
                tstr(lens).s, dstr(q->dims[0]).s);
  for (int d = 0; d < 3; d++)
    if (v->dims[d] != k->dims[d])
      return fail(c, "k_cache %s and v_cache %s must have the same pages, heads and page size",
                  tstr(k).s, tstr(v).s);
  if (k->dims[3] != q->dims[3])
    return fail(c, "head dims of q and k_cache differ: %s and %s", tstr(q).s, tstr(k).s);
  TRY(check_gqa_heads(c, q->dims[1], k->dims[1]));
  TRY(check_scale_window_softcap(c, q->dims[3]));
  TirType r = *q;
  r.dims[3] = v->dims[3];
  return set_result(c, &r);
}
