/* build_attrs.c — an op statement's items: splitting them into operands
 * and attributes (names checked against the op's schema, ops.def),
 * converting each attribute to its schema kind and setting it on the op. */
#include <limits.h>

#include "build_internal.h"

/* Splits `items` into operands and attributes, checking attribute names. */
bool fe_split_items(FeParser *P, const TirOpSchema *s, const FeNode *items, Items *it) {
  memset(it, 0, sizeof *it);
  it->s = s;
  it->pos = scratch(P, (items ? items->count : 0) * sizeof *it->pos);
  bool ok = true, seen_kv = false;
  for (FeNode *n = items ? items->head : NULL; n; n = n->next) {
    if (n->kind != N_KV) {
      /* Kept as an operand all the same, so the operand count is right. */
      if (seen_kv) {
        ERR(n->loc, "operand after attributes of '%s'", s->name);
        ok = false;
      }
      if (it->npos == INT_MAX) {
        ERR(n->loc, "too many operands");
        ok = false;
      } else {
        it->pos[it->npos++] = n;
      }
      continue;
    }
    seen_kv = true;
    int k = tir_schema_attr_index(s, n->text, n->len);
    if (k < 0) {
      char names[256] = "";
      size_t len = 0;
      for (int i = 0; i < s->nattrs && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                                s->attrs[i].name);
      if (s->nattrs)
        ERR(n->loc, "unknown attribute '%.*s' of '%s' (it has: %s)", NL(n), s->name, names);
      else
        ERR(n->loc, "unknown attribute '%.*s': '%s' has no attributes", NL(n), s->name);
      ok = false;
    } else if (it->kv[k]) {
      ERR(n->loc, "duplicate attribute '%s'", s->attrs[k].name);
      ok = false;
    } else {
      it->kv[k] = n;
    }
  }
  return ok;
}

static const char *kind_text(TirAttrKind k) {
  switch (k) {
  case TIR_ATTR_INT: return "an integer";
  case TIR_ATTR_FLOAT: return "a number";
  case TIR_ATTR_BOOL: return "true or false";
  case TIR_ATTR_STR: return "a string";
  case TIR_ATTR_DTYPE: return "a dtype";
  case TIR_ATTR_INTS: return "a list of integers";
  case TIR_ATTR_DIM: return "a dimension";
  case TIR_ATTR_DIMS: return "a list of dimensions";
  case TIR_ATTR_SCALAR: return "a number or true/false";
  default: return "a value";
  }
}

static bool is_dim_syntax(const FeNode *n) {
  return n->kind == N_INT || n->kind == N_IDENT || n->kind == N_BIN || n->kind == N_NEG;
}

/* Converts the value of attribute slot k into *a.  False after reporting. */
static bool convert_attr(FeParser *P, const Items *it, int k, TirAttr *a) {
  const TirAttrSchema *as = &it->s->attrs[k];
  const FeNode *v = it->kv[k]->lhs;
  TirScalar sc;
  int r = 0;
  memset(a, 0, sizeof *a);
  a->kind = as->kind;
  switch (as->kind) {
  case TIR_ATTR_INT:
  case TIR_ATTR_FLOAT:
  case TIR_ATTR_SCALAR:
    if ((r = fe_get_scalar(P, v, &sc)) < 0) return false;
    if (r == 0 || (as->kind == TIR_ATTR_INT && sc.kind != TIR_SCALAR_INT) ||
        (as->kind == TIR_ATTR_FLOAT && sc.kind == TIR_SCALAR_BOOL))
      break;
    if (as->kind == TIR_ATTR_INT) a->i = sc.i;
    else if (as->kind == TIR_ATTR_FLOAT) a->f = sc.f;
    else a->scalar = sc;
    return true;
  case TIR_ATTR_BOOL:
    if (v->kind != N_TRUE && v->kind != N_FALSE) break;
    a->b = v->kind == N_TRUE;
    return true;
  case TIR_ATTR_STR:
    if (v->kind != N_STR) break;
    a->s = v->text; /* NUL-free: the lexer refuses NUL bytes */
    return true;
  case TIR_ATTR_DTYPE:
    if (v->kind != N_IDENT || !tir_dtype_from_name(v->text, v->len, &a->dtype)) break;
    return true;
  case TIR_ATTR_INTS: {
    if (v->kind != N_LIST || v->count > INT_MAX) break;
    int64_t *xs = scratch(P, v->count * sizeof *xs);
    int n = 0;
    for (const FeNode *e = v->head; e; e = e->next) {
      if ((r = fe_get_scalar(P, e, &sc)) < 0) return false;
      if (r == 0 || sc.kind != TIR_SCALAR_INT) {
        ERR(e->loc, "attribute '%s' of '%s' expects %s", as->name, it->s->name, kind_text(as->kind));
        return false;
      }
      xs[n++] = sc.i;
    }
    a->ints.n = n;
    a->ints.v = xs;
    return true;
  }
  case TIR_ATTR_DIM:
    if (!is_dim_syntax(v)) break;
    return (a->dim = fe_to_dim(P, v, true)) != NULL;
  case TIR_ATTR_DIMS: {
    if (v->kind != N_LIST || v->count > INT_MAX) break;
    const TirDim **ds = scratch(P, v->count * sizeof *ds);
    int n = 0;
    bool ok = true;
    for (const FeNode *e = v->head; e; e = e->next) {
      if (!is_dim_syntax(e)) {
        ERR(e->loc, "attribute '%s' of '%s' expects %s", as->name, it->s->name, kind_text(as->kind));
        return false;
      }
      if (!(ds[n++] = fe_to_dim(P, e, true))) ok = false;
    }
    a->dims.n = n;
    a->dims.v = ds;
    return ok;
  }
  default: break;
  }
  ERR(v->loc, "attribute '%s' of '%s' expects %s", as->name, it->s->name, kind_text(as->kind));
  return false;
}

static void apply_attr(TirOp *op, const char *name, const TirAttr *a) {
  switch (a->kind) {
  case TIR_ATTR_INT: tir_op_set_int(op, name, a->i); break;
  case TIR_ATTR_FLOAT: tir_op_set_float(op, name, a->f); break;
  case TIR_ATTR_BOOL: tir_op_set_bool(op, name, a->b); break;
  case TIR_ATTR_STR: tir_op_set_str(op, name, a->s); break;
  case TIR_ATTR_DTYPE: tir_op_set_dtype(op, name, a->dtype); break;
  case TIR_ATTR_INTS: tir_op_set_ints(op, name, a->ints.v, a->ints.n); break;
  case TIR_ATTR_DIM: tir_op_set_dim(op, name, a->dim); break;
  case TIR_ATTR_DIMS: tir_op_set_dims(op, name, a->dims.v, a->dims.n); break;
  case TIR_ATTR_SCALAR: tir_op_set_scalar(op, name, a->scalar); break;
  default: break;
  }
}

/* Converts the given attributes and checks required ones are present. */
bool fe_convert_attrs(FeParser *P, const Items *it, const FeNode *opname, TirAttr *out) {
  bool ok = true;
  for (int k = 0; k < it->s->nattrs; k++) {
    out[k].kind = TIR_ATTR_NONE;
    if (it->kv[k]) {
      if (!convert_attr(P, it, k, &out[k])) ok = false;
    } else if (!it->s->attrs[k].optional) {
      ERR(opname->loc, "missing attribute '%s' of '%s'", it->s->attrs[k].name, it->s->name);
      ok = false;
    }
  }
  return ok;
}

void fe_apply_attrs(const Items *it, TirOp *op, const TirAttr *a) {
  for (int k = 0; k < it->s->nattrs; k++)
    if (a[k].kind != TIR_ATTR_NONE) apply_attr(op, it->s->attrs[k].name, &a[k]);
}

