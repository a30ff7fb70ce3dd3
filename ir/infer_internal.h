/* infer_internal.h — the context and helpers shared by the shape and dtype
 * inference files of ir/ (infer.c: attribute kinds, broadcasting,
 * elementwise ops and the entry; infer_shape.c: shape ops; infer_nn.c:
 * reductions, norms, contractions, sources and attention).  Not part of the
 * public API.  The helpers are static inline so each rule file reads them as
 * before without exporting short names from the library. */
#ifndef TIR_INFER_INTERNAL_H
#define TIR_INFER_INTERNAL_H

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

static inline DStr dstr(const TirDim *d) {
  DStr r;
  tir_dim_snprint(r.s, sizeof r.s, d);
  return r;
}

static inline TirStatus fail(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline TirStatus fail(Ctx *c, const char *fmt, ...) {
  char buf[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  tir_diag_error(c->diag, c->op->loc, "%s: %s", c->s->name, buf);
  return TIR_ERR_INPUT;
}

/* ---------------------------------------------------------------- small helpers */

static inline TirType *ot(Ctx *c, int i) { return &c->op->operands[i].value->type; }

static inline TirStatus set_result(Ctx *c, const TirType *t) {
  c->op->result->type = *t;
  return TIR_OK;
}

static inline TirType empty_type(TirDType dt) {
  TirType t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  return t;
}

static inline bool is_const(const TirDim *d, int64_t *v) { return tir_dim_is_const(d, v); }
static inline bool is_const_eq(const TirDim *d, int64_t want) {
  int64_t v;
  return tir_dim_is_const(d, &v) && v == want;
}

static inline bool same_shape(const TirType *a, const TirType *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

/* Dim arithmetic that reports overflow (or a too-large expression) as a user
 * error: sizes come from the input, so overflow is the input's fault. */
static inline const TirDim *dim_fail(Ctx *c, const char *err) {
  fail(c, "size computation failed: %s", err ? err : "out of memory");
  return NULL;
}
static inline const TirDim *dconst(Ctx *c, int64_t v) {
  const TirDim *d = tir_dim_const(c->m, v);
  return d ? d : dim_fail(c, NULL);
}
#define DIM_BINOP(NAME, FN)                                                                        \
  static inline const TirDim *NAME(Ctx *c, const TirDim *a, const TirDim *b) {                            \
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
static inline const TirDim *numel_dim(Ctx *c, const TirType *t) {
  const TirDim *n = dconst(c, 1);
  for (int i = 0; i < t->rank && n; i++) n = dmul(c, n, t->dims[i]);
  return n;
}

/* Normalizes a possibly negative dim index against `n` dims (callers pass
 * max(rank, 1) where torch wraps 0-d tensors as if they had one dim). */
static inline TirStatus norm_dim(Ctx *c, int64_t d, int n, const char *what, int *out) {
  if (d < -(int64_t)n || d >= n)
    return fail(c, "%s=%" PRId64 " is out of range for rank %d (expected in [%d, %d])", what, d, n,
                -n, n - 1);
  *out = (int)(d < 0 ? d + n : d);
  return TIR_OK;
}

static inline TirStatus need_float(Ctx *c, const TirType *t, const char *what) {
  if (!tir_dtype_is_float(t->dtype))
    return fail(c, "%s must have a float dtype, got %s", what, tstr(t).s);
  return TIR_OK;
}

static inline TirStatus need_rank_fits(Ctx *c, int rank) {
  if (rank > TIR_MAX_RANK)
    return fail(c, "result rank %d exceeds the maximum rank %d", rank, TIR_MAX_RANK);
  return TIR_OK;
}

/* Ceil((hi - lo) / step) for constants, 0 when hi <= lo; step >= 1. */
static inline TirStatus const_range_len(Ctx *c, int64_t lo, int64_t hi, int64_t step, int64_t *out) {
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

/* Attribute access.  An attribute with a schema default may be absent (the
 * verifier allows it), so reads fall back to the default; check_attr_kinds
 * has already ensured that present attributes have their schema kind and
 * that required ones are present. */
static inline const TirAttr *attr_slot(Ctx *c, const char *name, const TirAttrSchema **as) {
  int i = tir_schema_attr_index(c->s, name, strlen(name));
  assert(i >= 0 && "op has no such attribute");
  *as = &c->s->attrs[i];
  return &c->op->attrs[i];
}
static inline bool apresent(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  return attr_slot(c, name, &as)->kind != TIR_ATTR_NONE || as->has_default;
}
static inline int64_t aint(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_INT ? a->i : as->def_i;
}
static inline bool abool(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_BOOL ? a->b : as->def_i != 0;
}
static inline double afloat(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_FLOAT ? a->f : as->def_f;
}
static inline const char *astr(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_STR ? a->s : as->def_s;
}
static inline TirDType adtype(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  return a->kind == TIR_ATTR_DTYPE ? a->dtype : as->def_dtype;
}
/* NULL when absent without a default (callers check apresent first). */
static inline const TirDim *adim(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = attr_slot(c, name, &as);
  if (a->kind == TIR_ATTR_DIM) return a->dim;
  return as->has_default ? dconst(c, as->def_i) : NULL;
}
static inline const TirAttr *araw(Ctx *c, const char *name) {
  const TirAttrSchema *as;
  return attr_slot(c, name, &as);
}

static inline TirStatus check_str_attr(Ctx *c, const char *name, const char *const *allowed, int n) {
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
static inline TirStatus check_eps(Ctx *c) {
  if (!apresent(c, "eps")) return TIR_OK;
  double e = afloat(c, "eps");
  if (!(e >= 0) || isinf(e)) return fail(c, "eps=%g must be finite and >= 0", e);
  return TIR_OK;
}

/* A scalar written into a tensor of dtype t must be representable, as torch
 * checks for fill/masked_fill ("value cannot be converted without overflow"). */
static inline TirStatus check_scalar_fits(Ctx *c, const char *name, TirScalar v, TirDType t) {
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

/* The rules, one per op family (operands and attribute kinds already checked). */
TirStatus tir_infer_reduction(Ctx *c);
TirStatus tir_infer_softmax(Ctx *c);
TirStatus tir_infer_layer_norm(Ctx *c);
TirStatus tir_infer_rms_norm(Ctx *c);
TirStatus tir_infer_matmul(Ctx *c);
TirStatus tir_infer_linear(Ctx *c);
TirStatus tir_infer_reshape(Ctx *c);
TirStatus tir_infer_permute(Ctx *c);
TirStatus tir_infer_transpose(Ctx *c);
TirStatus tir_infer_expand(Ctx *c);
TirStatus tir_infer_unsqueeze(Ctx *c);
TirStatus tir_infer_squeeze(Ctx *c);
TirStatus tir_infer_slice(Ctx *c);
TirStatus tir_infer_concat(Ctx *c);
TirStatus tir_infer_arange(Ctx *c);
TirStatus tir_infer_full(Ctx *c);
TirStatus tir_infer_const(Ctx *c);
TirStatus tir_infer_tri(Ctx *c);
TirStatus tir_infer_embedding(Ctx *c);
TirStatus tir_infer_dropout(Ctx *c);
TirStatus tir_infer_sdpa(Ctx *c);
TirStatus tir_infer_paged_sdpa(Ctx *c);

#endif
