/* infer.c — shape and dtype inference for every op of ops.def (spec §4, §5),
 * following PyTorch's rules.  tir_infer_op checks operand dtypes, ranks, dims
 * and attribute values, reports user errors at op->loc (each message starts
 * with the op name) and sets op->result->type.  tir_broadcast_shapes is the
 * one NumPy broadcasting rule, shared by the ops here and by the passes.
 *
 * Dims are interned and kept in normal form, so "provably equal" is pointer
 * equality; anything that cannot be proven (e.g. a symbol against a constant)
 * is an error rather than a run-time check. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ir.h"
#include "ir_internal.h"

typedef struct {
  TirModule *m;
  TirOp *op;
  TirDiag *diag;
  const TirOpSchema *s;
} Ctx;

#define TRY(x)                                                                                     \
  do {                                                                                             \
    TirStatus st_ = (x);                                                                           \
    if (st_ != TIR_OK) return st_;                                                                 \
  } while (0)


typedef struct {
  char s[128];
} DStr;

static DStr dstr(const TirDim *d) {
  DStr r;
  tir_dim_snprint(r.s, sizeof r.s, d);
  return r;
}

static TirStatus fail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static TirStatus fail(Ctx *c, const char *fmt, ...) {
  char buf[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  tir_diag_error(c->diag, c->op->loc, "%s: %s", c->s->name, buf);
  return TIR_ERR_INPUT;
}

/* ---------------------------------------------------------------- small helpers */

static TirType *ot(Ctx *c, int i) { return &c->op->operands[i].value->type; }

static TirStatus set_result(Ctx *c, const TirType *t) {
  c->op->result->type = *t;
  return TIR_OK;
}

static TirType empty_type(TirDType dt) {
  TirType t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  return t;
}

static bool is_const(const TirDim *d, int64_t *v) { return tir_dim_is_const(d, v); }
static bool is_const_eq(const TirDim *d, int64_t want) {
  int64_t v;
  return tir_dim_is_const(d, &v) && v == want;
}

static bool same_shape(const TirType *a, const TirType *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

/* Dim arithmetic that reports overflow (or a too-large expression) as a user
 * error: sizes come from the input, so overflow is the input's fault. */
static const TirDim *dim_fail(Ctx *c, const char *err) {
  fail(c, "size computation failed: %s", err ? err : "out of memory");
  return NULL;
}
static const TirDim *dconst(Ctx *c, int64_t v) {
  const TirDim *d = tir_dim_const(c->m, v);
  return d ? d : dim_fail(c, NULL);
}
#define DIM_BINOP(NAME, FN)                                                                        \
  static const TirDim *NAME(Ctx *c, const TirDim *a, const TirDim *b) {                            \
    if (!a || !b) return NULL; /* an earlier step failed and reported */                           \
    const char *err = NULL;                                                                        \
    const TirDim *r = FN(c->m, a, b, &err);                                                        \
    return r ? r : dim_fail(c, err);                                                               \
  }
DIM_BINOP(dadd, tir_dim_add)
DIM_BINOP(dsub, tir_dim_sub)
DIM_BINOP(dmul, tir_dim_mul)
DIM_BINOP(ddiv, tir_dim_floordiv)

/* Product of all dims of t; NULL after reporting overflow. */
static const TirDim *numel_dim(Ctx *c, const TirType *t) {
  const TirDim *n = dconst(c, 1);
  for (int i = 0; i < t->rank && n; i++) n = dmul(c, n, t->dims[i]);
  return n;
}

/* Normalizes a possibly negative dim index against `n` dims (callers pass
 * max(rank, 1) where torch wraps 0-d tensors as if they had one dim). */
static TirStatus norm_dim(Ctx *c, int64_t d, int n, const char *what, int *out) {
  if (d < -(int64_t)n || d >= n)
    return fail(c, "%s=%" PRId64 " is out of range for rank %d (expected in [%d, %d])", what, d, n,
                -n, n - 1);
  *out = (int)(d < 0 ? d + n : d);
  return TIR_OK;
}

static TirStatus need_float(Ctx *c, const TirType *t, const char *what) {
  if (!tir_dtype_is_float(t->dtype))
    return fail(c, "%s must have a float dtype, got %s", what, tstr(t).s);
  return TIR_OK;
}

static TirStatus need_rank_fits(Ctx *c, int rank) {
  if (rank > TIR_MAX_RANK)
    return fail(c, "result rank %d exceeds the maximum rank %d", rank, TIR_MAX_RANK);
  return TIR_OK;
}

/* Ceil((hi - lo) / step) for constants, 0 when hi <= lo; step >= 1. */
static TirStatus const_range_len(Ctx *c, int64_t lo, int64_t hi, int64_t step, int64_t *out) {
  if (hi <= lo) {
    *out = 0;
    return TIR_OK;
  }
  uint64_t span = (uint64_t)hi - (uint64_t)lo; /* exact: hi > lo */
  uint64_t n = (span - 1) / (uint64_t)step + 1;
  if (n > (uint64_t)INT64_MAX) return fail(c, "size %" PRIu64 " is too large", n);
  *out = (int64_t)n;
  return TIR_OK;
}

static const char *const ATTR_KIND_WORDS[] = {
    [TIR_ATTR_NONE] = "absent",
    [TIR_ATTR_INT] = "an integer",
    [TIR_ATTR_FLOAT] = "a float",
    [TIR_ATTR_BOOL] = "a bool",
    [TIR_ATTR_STR] = "a string",
    [TIR_ATTR_DTYPE] = "a dtype",
    [TIR_ATTR_INTS] = "an integer list",
    [TIR_ATTR_DIM] = "a size expression",
    [TIR_ATTR_DIMS] = "a list of size expressions",
    [TIR_ATTR_SCALAR] = "a number or bool",
};

/* Every attribute either matches its schema kind or is absent and optional;
 * the op rules below can then read attributes without re-checking kinds. */
static TirStatus check_attr_kinds(Ctx *c) {
  for (int i = 0; i < c->s->nattrs; i++) {
    const TirAttrSchema *as = &c->s->attrs[i];
    const TirAttr *a = &c->op->attrs[i];
    if (a->kind == TIR_ATTR_NONE) {
      if (!as->optional) return fail(c, "missing attribute '%s'", as->name);
      continue;
    }
    if (a->kind != as->kind)
      return fail(c, "attribute '%s' must be %s", as->name, ATTR_KIND_WORDS[as->kind]);
  }
  return TIR_OK;
}

/* Attribute access.  An attribute with a schema default may be absent (the
 * verifier allows it), so reads fall back to the default; check_attr_kinds
 * has already ensured that present attributes have their schema kind and
 * that required ones are present. */
static const TirAttr *attr_slot(Ctx *c, const char *name, const TirAttrSchema **as) {
  int i = tir_schema_attr_index(c->s, name, strlen(name));
  assert(i >= 0 && "op has no such attribute");
  *as = &c->s->attrs[i];
  return &c->op->attrs[i];
}
static bool apresent(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  return attr_slot(c, name, &as)->kind != TIR_ATTR_NONE || as->has_default;
}
static int64_t aint(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_INT ? a->i : as->def_i;
}
static bool abool(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_BOOL ? a->b : as->def_i != 0;
}
static double afloat(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_FLOAT ? a->f : as->def_f;
}
static const char *astr(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_STR ? a->s : as->def_s;
}
static TirDType adtype(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_DTYPE ? a->dtype : as->def_dtype;
}
/* NULL when absent without a default (callers check apresent first). */
static const TirDim *adim(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  if (a->kind == TIR_ATTR_DIM) return a->dim;
  return as->has_default ? dconst(c, as->def_i) : NULL;
}
static const TirAttr *araw(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  return attr_slot(c, name, &as);
}

static TirStatus check_str_attr(Ctx *c, const char *name, const char *const *allowed, int n) {
  const char *v = astr(c, name);
  if (!v) return TIR_OK;
  for (int i = 0; i < n; i++)
    if (strcmp(v, allowed[i]) == 0) return TIR_OK;
  char list[200] = "";
  for (int i = 0; i < n; i++) {
    size_t l = strlen(list);
    snprintf(list + l, sizeof list - l, "%s\"%s\"", i ? ", " : "", allowed[i]);
  }
  return fail(c, "%s=\"%s\" is not one of %s", name, v, list);
}

/* eps of the norms: torch accepts anything, but a negative or NaN eps is
 * certainly a mistake in a model. */
static TirStatus check_eps(Ctx *c) {
  if (!apresent(c, "eps")) return TIR_OK;
  double e = afloat(c, "eps");
  if (!(e >= 0) || isinf(e)) return fail(c, "eps=%g must be finite and >= 0", e);
  return TIR_OK;
}

/* A scalar written into a tensor of dtype t must be representable, as torch
 * checks for fill/masked_fill ("value cannot be converted without overflow"). */
static TirStatus check_scalar_fits(Ctx *c, const char *name, TirScalar v, TirDType t) {
  double lo, hi; /* hi exclusive for i64 (2^63 is not representable) */
  if (t == TIR_BOOL || !tir_dtype_int_range(t, &lo, &hi)) return TIR_OK;
  bool ok;
  if (v.kind == TIR_SCALAR_FLOAT) {
    double tr = trunc(v.f);
    ok = isfinite(v.f) && tr >= lo && (t == TIR_I64 ? tr < hi : tr <= hi);
  } else {
    ok = t == TIR_I64 || ((double)v.i >= lo && (double)v.i <= hi);
  }
  if (!ok)
    return fail(c, "%s=%g cannot be converted to %s without overflow", name, v.f,
                tir_dtype_name(t));
  return TIR_OK;
}

/* ---------------------------------------------------------------- broadcasting */

bool tir_broadcast_shapes(const TirType *a, const TirType *b, TirType *out) {
  TirType t = empty_type(a->dtype);
  int r = a->rank > b->rank ? a->rank : b->rank;
  t.rank = r;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    const TirDim *da = ia >= 0 ? a->dims[ia] : NULL;
    const TirDim *db = ib >= 0 ? b->dims[ib] : NULL;
    if (!da) t.dims[i] = db;
    else if (!db || da == db) t.dims[i] = da;
    else if (is_const_eq(da, 1)) t.dims[i] = db;
    else if (is_const_eq(db, 1)) t.dims[i] = da;
    else return false;
  }
  *out = t; /* out may alias a or b */
  return true;
}

/* ---------------------------------------------------------------- elementwise */

static TirStatus infer_unary(Ctx *c) {
  TirType *x = ot(c, 0);
  if (c->op->kind == TIR_OP_LOGICAL_NOT) {
    if (x->dtype != TIR_BOOL) return fail(c, "operand must be bool, got %s", tstr(x).s);
  } else {
    TRY(need_float(c, x, "operand"));
  }
  if (c->op->kind == TIR_OP_GELU) {
    static const char *const approx[] = {"none", "tanh"};
    TRY(check_str_attr(c, "approximate", approx, 2));
  }
  return set_result(c, x);
}

static TirStatus infer_binary(Ctx *c) {
  TirType *a = ot(c, 0), *b = ot(c, 1);
  unsigned fl = c->s->flags;
  bool logical = (fl & TIR_OPF_LOGICAL) == TIR_OPF_LOGICAL;
  bool compare = (fl & TIR_OPF_COMPARE) == TIR_OPF_COMPARE;
  if (logical) {
    if (a->dtype != TIR_BOOL || b->dtype != TIR_BOOL)
      return fail(c, "operands must be bool, got %s and %s", tstr(a).s, tstr(b).s);
  } else if (a->dtype != b->dtype) {
    return fail(c, "operand dtypes differ: %s and %s", tstr(a).s, tstr(b).s);
  } else if (!compare) {
    TirOpKind k = c->op->kind;
    /* torch rejects arithmetic on bool (except max/min); integer `div` is
     * true division in torch (int -> float), which a same-dtype IR cannot
     * express, so it is rejected with a hint instead of silently truncating. */
    if (a->dtype == TIR_BOOL && k != TIR_OP_MAXIMUM && k != TIR_OP_MINIMUM)
      return fail(c, "arithmetic on bool tensors is not supported: %s and %s", tstr(a).s,
                  tstr(b).s);
    if (k == TIR_OP_DIV && tir_dtype_is_int(a->dtype))
      return fail(c,
                  "integer division is not supported (torch divides as float); cast to a float "
                  "dtype: %s and %s",
                  tstr(a).s, tstr(b).s);
  }
  TirType r;
  if (!tir_broadcast_shapes(a, b, &r))
    return fail(c, "cannot broadcast %s and %s", tstr(a).s, tstr(b).s);
  r.dtype = (logical || compare) ? TIR_BOOL : a->dtype;
  return set_result(c, &r);
}

static TirStatus infer_where(Ctx *c) {
  TirType *cond = ot(c, 0), *a = ot(c, 1), *b = ot(c, 2);
  if (cond->dtype != TIR_BOOL) return fail(c, "condition must be bool, got %s", tstr(cond).s);
  if (a->dtype != b->dtype)
    return fail(c, "operand dtypes differ: %s and %s", tstr(a).s, tstr(b).s);
  TirType r;
  if (!tir_broadcast_shapes(cond, a, &r) || !tir_broadcast_shapes(&r, b, &r))
    return fail(c, "cannot broadcast %s, %s and %s", tstr(cond).s, tstr(a).s, tstr(b).s);
  r.dtype = a->dtype;
  return set_result(c, &r);
}

static TirStatus infer_masked_fill(Ctx *c) {
  TirType *x = ot(c, 0), *mask = ot(c, 1);
  if (mask->dtype != TIR_BOOL) return fail(c, "mask must be bool, got %s", tstr(mask).s);
  TirType r;
  /* torch's masked_fill is in-place-shaped: the mask broadcasts to x, the
   * result never grows beyond x. */
  if (!tir_broadcast_shapes(mask, x, &r) || !same_shape(&r, x))
    return fail(c, "mask %s does not broadcast to %s", tstr(mask).s, tstr(x).s);
  TRY(check_scalar_fits(c, "value", araw(c, "value")->scalar, x->dtype));
  return set_result(c, x);
}

static TirStatus infer_cast(Ctx *c) {
  TirType r = *ot(c, 0);
  r.dtype = adtype(c, "dtype");
  return set_result(c, &r);
}

/* ---------------------------------------------------------------- reductions and normalizations */

static TirStatus infer_reduction(Ctx *c) {
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

static TirStatus infer_softmax(Ctx *c) {
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

static TirStatus infer_layer_norm(Ctx *c) {
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

static TirStatus infer_rms_norm(Ctx *c) {
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

static TirStatus infer_matmul(Ctx *c) {
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

static TirStatus infer_linear(Ctx *c) {
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

/* ---------------------------------------------------------------- shape ops */

static TirStatus infer_reshape(Ctx *c) {
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

static TirStatus infer_permute(Ctx *c) {
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

static TirStatus infer_transpose(Ctx *c) {
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

static TirStatus infer_expand(Ctx *c) {
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

static TirStatus infer_unsqueeze(Ctx *c) {
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

static TirStatus infer_squeeze(Ctx *c) {
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

static TirStatus infer_slice(Ctx *c) {
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

static TirStatus infer_concat(Ctx *c) {
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

/* ---------------------------------------------------------------- sources */

static TirStatus infer_arange(Ctx *c) {
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

static TirStatus infer_full(Ctx *c) {
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

static TirStatus infer_const(Ctx *c) {
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

static TirStatus infer_tri(Ctx *c) {
  TirType *x = ot(c, 0);
  if (x->rank < 2) return fail(c, "input must have rank >= 2, got %s", tstr(x).s);
  return set_result(c, x);
}

static TirStatus infer_embedding(Ctx *c) {
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

static TirStatus infer_dropout(Ctx *c) {
  TirType *x = ot(c, 0);
  TRY(need_float(c, x, "input"));
  double p = afloat(c, "p");
  if (!(p >= 0 && p <= 1)) return fail(c, "p=%g must be in [0, 1]", p);
  return set_result(c, x);
}

static TirStatus infer_sdpa(Ctx *c) {
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
  if (hq != hk) {
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
  }
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
  if (apresent(c, "scale")) {
    double s = afloat(c, "scale");
    if (!isfinite(s)) return fail(c, "scale=%g must be finite", s);
  } else {
    int64_t e;
    /* Materialize torch's default so passes and the printer see it; with a
     * symbolic E the kernels compute it at run time. */
    if (is_const(E, &e) && e > 0) tir_op_set_float(op, "scale", 1.0 / sqrt((double)e));
  }
  return set_result(c, &r);
}

/* ---------------------------------------------------------------- entry */

TirStatus tir_infer_op(TirModule *m, TirOp *op, TirDiag *diag) {
  assert(m && op && diag);
  const TirOpSchema *s = tir_op_schema(op->kind);
  assert(s && op->n_operands >= s->min_operands &&
         (s->max_operands < 0 || op->n_operands <= s->max_operands));
  for (int i = 0; i < op->n_operands; i++) assert(op->operands[i].value);
  if (op->kind == TIR_OP_RETURN) return TIR_OK;
  assert(op->result);
  Ctx c = {m, op, diag, s};
  TRY(check_attr_kinds(&c));

  unsigned fl = s->flags;
  if ((fl & TIR_OPF_UNARY_FLOAT) == TIR_OPF_UNARY_FLOAT || op->kind == TIR_OP_LOGICAL_NOT)
    return infer_unary(&c);
  if ((fl & TIR_OPF_BINARY) == TIR_OPF_BINARY || (fl & TIR_OPF_COMPARE) == TIR_OPF_COMPARE ||
      (fl & TIR_OPF_LOGICAL) == TIR_OPF_LOGICAL)
    return infer_binary(&c);
  if ((fl & TIR_OPF_REDUCTION) == TIR_OPF_REDUCTION) return infer_reduction(&c);

  switch (op->kind) {
  case TIR_OP_WHERE: return infer_where(&c);
  case TIR_OP_MASKED_FILL: return infer_masked_fill(&c);
  case TIR_OP_CAST: return infer_cast(&c);
  case TIR_OP_SOFTMAX:
  case TIR_OP_LOG_SOFTMAX: return infer_softmax(&c);
  case TIR_OP_LAYER_NORM: return infer_layer_norm(&c);
  case TIR_OP_RMS_NORM: return infer_rms_norm(&c);
  case TIR_OP_MATMUL: return infer_matmul(&c);
  case TIR_OP_LINEAR: return infer_linear(&c);
  case TIR_OP_RESHAPE: return infer_reshape(&c);
  case TIR_OP_PERMUTE: return infer_permute(&c);
  case TIR_OP_TRANSPOSE: return infer_transpose(&c);
  case TIR_OP_EXPAND: return infer_expand(&c);
  case TIR_OP_UNSQUEEZE: return infer_unsqueeze(&c);
  case TIR_OP_SQUEEZE: return infer_squeeze(&c);
  case TIR_OP_SLICE: return infer_slice(&c);
  case TIR_OP_CONCAT: return infer_concat(&c);
  case TIR_OP_CONTIGUOUS:
  case TIR_OP_CLONE: return set_result(&c, ot(&c, 0));
  case TIR_OP_ARANGE: return infer_arange(&c);
  case TIR_OP_FULL: return infer_full(&c);
  case TIR_OP_CONST: return infer_const(&c);
  case TIR_OP_TRIL:
  case TIR_OP_TRIU: return infer_tri(&c);
  case TIR_OP_EMBEDDING: return infer_embedding(&c);
  case TIR_OP_DROPOUT: return infer_dropout(&c);
  case TIR_OP_SDPA: return infer_sdpa(&c);
  default: break;
  }
  assert(0 && "tir_infer_op: op kind without an inference rule");
  return TIR_ERR_INTERNAL;
}
