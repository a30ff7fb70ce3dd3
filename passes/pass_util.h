/* pass_util.h — small helpers shared by the passes (internal).
 *
 * Attribute reads that honour schema defaults: the IR allows an attribute
 * with a default to be absent (ir/infer.c reads it as the default), while
 * tir_op_attr_int and friends assert a present attribute of one kind.
 * Passes must not crash on such input, so they read through these. */
#ifndef TIR_PASS_UTIL_H
#define TIR_PASS_UTIL_H

#include <string.h>

#include "ir.h"

static inline const TirAttr *pu_attr(const TirOp *op, const char *name,
                                     const TirAttrSchema **as) {
  const TirOpSchema *s = tir_op_schema(op->kind);
  int i = tir_schema_attr_index(s, name, strlen(name));
  *as = i >= 0 ? &s->attrs[i] : NULL;
  return i >= 0 ? &op->attrs[i] : NULL;
}

/* INT, BOOL or a constant DIM; else the schema default (0 without one). */
static inline int64_t pu_int(const TirOp *op, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = pu_attr(op, name, &as);
  int64_t v;
  if (a && a->kind == TIR_ATTR_INT) return a->i;
  if (a && a->kind == TIR_ATTR_BOOL) return a->b;
  if (a && a->kind == TIR_ATTR_DIM && tir_dim_is_const(a->dim, &v)) return v;
  return as && as->has_default ? as->def_i : 0;
}

static inline bool pu_bool(const TirOp *op, const char *name) { return pu_int(op, name) != 0; }

/* FLOAT, SCALAR or INT; else the schema default (0 without one). */
static inline double pu_float(const TirOp *op, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = pu_attr(op, name, &as);
  if (a && a->kind == TIR_ATTR_FLOAT) return a->f;
  if (a && a->kind == TIR_ATTR_SCALAR) return a->scalar.f;
  if (a && a->kind == TIR_ATTR_INT) return (double)a->i;
  return as && as->has_default ? as->def_f : 0;
}

/* STR; else the schema default (NULL without one). */
static inline const char *pu_str(const TirOp *op, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = pu_attr(op, name, &as);
  if (a && a->kind == TIR_ATTR_STR) return a->s;
  return as && as->has_default ? as->def_s : NULL;
}

/* A DIM attribute that is a constant, or absent with a default: *v gets it.
 * False when absent without default or symbolic. */
static inline bool pu_dim_const(const TirOp *op, const char *name, int64_t *v) {
  const TirAttrSchema *as;
  const TirAttr *a = pu_attr(op, name, &as);
  if (a && a->kind == TIR_ATTR_DIM) return tir_dim_is_const(a->dim, v);
  if (a && a->kind == TIR_ATTR_NONE && as->has_default) {
    *v = as->def_i;
    return true;
  }
  return false;
}

/* True when the attribute is absent and has no default. */
static inline bool pu_absent(const TirOp *op, const char *name) {
  const TirAttrSchema *as;
  const TirAttr *a = pu_attr(op, name, &as);
  return !a || (a->kind == TIR_ATTR_NONE && !as->has_default);
}

#endif /* TIR_PASS_UTIL_H */
