/* build.c — the semantic half of the front end: turns the syntax nodes that
 * the grammar reduces (function headers, `%r = op(...)` statements, returns)
 * into IR, checking names, operand counts, attributes against the op's
 * schema (ops.def), symbols, constants and declared types.
 *
 * Errors are reported and the statement is skipped; its result name is still
 * defined, as "poisoned", so one mistake does not cascade into "undefined
 * value" errors for every later use.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "build_internal.h"

typedef struct {
  TirValue *v; /* NULL: poisoned (its definition had an error) */
  TirLoc loc;
} FeValue;

static const char *mcopy(FeParser *P, const char *s, size_t n) {
  char *c = tir_arena_strndup(P->m->arena, s, n);
  if (!c) fe_fatal(P, "out of memory");
  return c;
}

static void check_oom(FeParser *P, const void *p) {
  if (!p) fe_fatal(P, "out of memory");
}

/* ------------------------------------------------------------ literals */

/* Integer value of an INT node, negated if `neg`; false after reporting. */
static bool int_value(FeParser *P, const FeNode *n, bool neg, TirLoc loc, int64_t *out) {
  const uint64_t lim = (uint64_t)1 << 63;
  if (n->big || n->mag > (neg ? lim : lim - 1)) {
    ERR(loc, "integer literal out of range");
    return false;
  }
  /* -2^63 has no positive counterpart: build it without overflowing. */
  *out = neg ? (n->mag == lim ? INT64_MIN : -(int64_t)n->mag) : (int64_t)n->mag;
  return true;
}

/* Reads a number or bool literal, possibly negated.  Returns 1 when read,
 * 0 when n is not such a literal (nothing reported), -1 after an error. */
int fe_get_scalar(FeParser *P, const FeNode *n, TirScalar *out) {
  bool neg = false;
  TirLoc loc = n->loc;
  if (n->kind == N_NEG && (n->lhs->kind == N_INT || n->lhs->kind == N_FLOAT)) {
    neg = true;
    n = n->lhs;
  }
  switch (n->kind) {
  case N_INT:
    out->kind = TIR_SCALAR_INT;
    if (!int_value(P, n, neg, loc, &out->i)) return -1;
    out->f = neg && out->i == 0 ? -0.0 : (double)out->i; /* `-0` keeps its sign as a float */
    return 1;
  case N_FLOAT:
    out->kind = TIR_SCALAR_FLOAT;
    out->f = neg ? -n->f : n->f;
    out->i = 0;
    return 1;
  case N_TRUE:
  case N_FALSE:
    out->kind = TIR_SCALAR_BOOL;
    out->i = n->kind == N_TRUE;
    out->f = (double)out->i;
    return 1;
  default: return 0;
  }
}

static void scalar_text(char *buf, size_t n, const TirScalar *s) {
  if (s->kind == TIR_SCALAR_BOOL) snprintf(buf, n, "%s", s->i ? "true" : "false");
  else if (s->kind == TIR_SCALAR_INT) snprintf(buf, n, "%lld", (long long)s->i);
  else tir_format_double(buf, n, s->f);
}

/* Whether the literal can be stored as dtype without changing its value
 * (floats may round; integers and bools must be exact). */
static bool scalar_fits(FeParser *P, const TirScalar *s, TirDType dt, TirLoc loc) {
  double lo, hi; /* inclusive range */
  if (s->kind == TIR_SCALAR_BOOL || !tir_dtype_int_range(dt, &lo, &hi)) return true;
  bool ok;
  if (s->kind == TIR_SCALAR_INT)
    ok = dt == TIR_I64 || (s->i >= (int64_t)lo && s->i <= (int64_t)hi);
  else /* hi of i64 rounds up to 2^63, which is out of range */
    ok = s->f == floor(s->f) && s->f >= lo && (dt == TIR_I64 ? s->f < hi : s->f <= hi);
  if (!ok) {
    char b[40];
    scalar_text(b, sizeof b, s);
    ERR(loc, "value %s cannot be represented as %s", b, tir_dtype_name(dt));
  }
  return ok;
}

static void store_scalar(TirDType dt, void *buf, size_t i, const TirScalar *s) {
  if (s->kind == TIR_SCALAR_FLOAT || (s->i == 0 && tir_dtype_is_float(dt)))
    tir_store_f64(dt, buf, i, s->f);
  else tir_store_i64(dt, buf, i, s->i);
}

/* ------------------------------------------------------------ dims and types */

static bool is_bound(FeParser *P, const char *s, size_t n) {
  return P->syms && tir_strmap_get(P->syms, s, n) != NULL;
}

/* A dim expression.  `bound`: every symbol must be bound by an argument
 * (attributes, result and declared types).  NULL after reporting. */
const TirDim *fe_to_dim(FeParser *P, const FeNode *n, bool bound) {
  const char *err = NULL;
  const TirDim *r = NULL, *a, *b;
  TirDType dt;
  int64_t v;
  switch (n->kind) {
  case N_INT:
    if (!int_value(P, n, false, n->loc, &v)) return NULL;
    r = tir_dim_const(P->m, v);
    break;
  case N_NEG:
    if (n->lhs->kind == N_INT) {
      if (!int_value(P, n->lhs, true, n->loc, &v)) return NULL;
      r = tir_dim_const(P->m, v);
      break;
    }
    if (!(a = fe_to_dim(P, n->lhs, bound))) return NULL;
    b = tir_dim_const(P->m, 0);
    check_oom(P, b);
    r = tir_dim_sub(P->m, b, a, &err);
    break;
  case N_IDENT:
    if (tir_dtype_from_name(n->text, n->len, &dt)) {
      ERR(n->loc, "'%.*s' is a dtype, not a dimension", NL(n));
      return NULL;
    }
    if (n->len > 255) {
      ERR(n->loc, "symbol name longer than 255 characters");
      return NULL;
    }
    if (bound && !is_bound(P, n->text, n->len)) {
      ERR(n->loc, "symbol '%.*s' is not bound by any argument of @%s", NL(n), P->fn->name);
      return NULL;
    }
    r = tir_dim_sym(P->m, n->text, n->len);
    break;
  case N_BIN:
    if (!(a = fe_to_dim(P, n->lhs, bound)) || !(b = fe_to_dim(P, n->rhs, bound))) return NULL;
    switch (n->op) {
    case '+': r = tir_dim_add(P->m, a, b, &err); break;
    case '-': r = tir_dim_sub(P->m, a, b, &err); break;
    case '*': r = tir_dim_mul(P->m, a, b, &err); break;
    default: r = tir_dim_floordiv(P->m, a, b, &err); break;
    }
    break;
  default:
    ERR(n->loc, "expected a dimension (an integer, a symbol or an expression over them)");
    return NULL;
  }
  if (!r) {
    ERR(n->loc, "invalid dimension: %s", err ? err : "expression too large");
    return NULL;
  }
  return r;
}

/* A TYPE node.  `bound` as for to_dim.  False after reporting. */
static bool to_type(FeParser *P, const FeNode *t, bool bound, TirType *out) {
  TirDType dt;
  if (!tir_dtype_from_name(t->text, t->len, &dt)) {
    ERR(t->loc, "unknown dtype '%.*s'", NL(t));
    return false;
  }
  const FeNode *dims = t->lhs;
  if (dims && dims->count > TIR_MAX_RANK) {
    ERR(t->loc, "rank %zu exceeds the maximum rank %d", dims->count, TIR_MAX_RANK);
    return false;
  }
  memset(out, 0, sizeof *out);
  out->dtype = dt;
  bool ok = true, all_const = true;
  int i = 0;
  for (const FeNode *d = dims ? dims->head : NULL; d; d = d->next, i++) {
    const TirDim *x = fe_to_dim(P, d, bound);
    int64_t v;
    if (!x) {
      ok = false;
    } else if (tir_dim_is_const(x, &v)) {
      if (v < 0) {
        ERR(d->loc, "negative dimension %lld", (long long)v);
        ok = false;
      }
    } else {
      all_const = false;
    }
    out->dims[i] = x;
  }
  out->rank = i;
  int64_t numel;
  if (ok && all_const && !tir_type_numel(out, &numel)) {
    ERR(t->loc, "type %s has too many elements", type_str(out).s);
    ok = false;
  }
  return ok;
}

static bool type_is_static(const TirType *t) {
  for (int i = 0; i < t->rank; i++)
    if (!tir_dim_is_const(t->dims[i], NULL)) return false;
  return true;
}

static void bind_sym(void *ctx, const TirDim *sym) {
  FeParser *P = ctx;
  if (!tir_strmap_put(P->syms, sym->sym, strlen(sym->sym), (void *)sym)) fe_fatal(P, "out of memory");
}

/* ------------------------------------------------------------ values */

static FeValue *lookup(FeParser *P, const FeNode *n) {
  return tir_strmap_get(P->values, n->text, n->len);
}

/* Defines %name; false (after reporting) when it already exists. */
static bool define(FeParser *P, const FeNode *n, TirValue *v) {
  FeValue *prev = lookup(P, n);
  if (prev) {
    ERR(n->loc, "redefinition of value '%%%.*s'", NL(n));
    tir_diag_note(P->diag, prev->loc, "previous definition is here");
    return false;
  }
  FeValue *e = scratch(P, sizeof *e);
  e->v = v;
  e->loc = n->loc;
  if (!tir_strmap_put(P->values, n->text, n->len, e)) fe_fatal(P, "out of memory");
  if (v && !v->name) v->name = mcopy(P, n->text, n->len);
  return true;
}

/* ------------------------------------------------------------ functions */

void fe_cleanup_func(FeParser *P) {
  tir_strmap_free(P->values);
  tir_strmap_free(P->syms);
  P->values = P->syms = NULL;
  P->fn = NULL;
}

void fe_begin_func(FeParser *P, FeNode *name, FeNode *args, FeNode *results) {
  fe_cleanup_func(P);
  if (P->m->n_funcs == 0) P->first_func_loc = name->loc;
  FeNode *prev = tir_strmap_get(P->funcs, name->text, name->len);
  if (prev) {
    ERR(name->loc, "redefinition of function '@%.*s'", NL(name));
    tir_diag_note(P->diag, prev->loc, "previous definition is here");
  } else if (!tir_strmap_put(P->funcs, name->text, name->len, name)) {
    fe_fatal(P, "out of memory");
  }
  P->fn = tir_func_new(P->m, name->text, name->loc); /* node texts are NUL-terminated */
  P->values = tir_strmap_new();
  P->syms = tir_strmap_new();
  check_oom(P, P->fn);
  check_oom(P, P->values);
  check_oom(P, P->syms);
  P->has_return = P->after_return_reported = false;

  /* tir_func_add_arg copies the argument array on every call, so memory
   * grows with the square of the count: bound it. */
  bool too_many = args->count > FE_MAX_ARGS;
  if (too_many)
    ERR(name->loc, "@%.*s has %zu arguments; at most %d are supported", NL(name), args->count,
        FE_MAX_ARGS);
  /* Arguments bind the symbols in their types. */
  for (FeNode *a = args->head; a; a = a->next) {
    TirType t;
    TirValue *v = NULL;
    if (!too_many && to_type(P, a->lhs, false, &t)) {
      for (int i = 0; i < t.rank; i++) tir_dim_for_each_sym(t.dims[i], bind_sym, P);
      if (lookup(P, a) == NULL) {
        v = tir_func_add_arg(P->fn, a->text, &t);
        check_oom(P, v);
      }
    }
    define(P, a, v);
  }
  P->results_ok = true;
  TirType *rt = scratch(P, results->count * sizeof *rt);
  int n = 0;
  for (FeNode *r = results->head; r; r = r->next)
    if (!to_type(P, r, true, &rt[n++])) P->results_ok = false;
  if (P->results_ok) {
    tir_func_set_results(P->fn, rt, n);
    check_oom(P, P->fn->result_types);
  }
}

void fe_end_func(FeParser *P, TirLoc rbrace) {
  if (P->fn && !P->has_return)
    ERR(rbrace, "function @%s does not end with a return", P->fn->name);
  fe_cleanup_func(P);
}

void fe_return(FeParser *P, TirLoc loc, FeNode *values) {
  TirFunc *fn = P->fn;
  if (P->has_return) {
    ERR(loc, "@%s has more than one return", fn->name);
    return;
  }
  P->has_return = true;
  int n = (int)values->count;
  TirValue **v = scratch(P, values->count * sizeof *v);
  bool ok = true, poisoned = false;
  int i = 0;
  for (FeNode *x = values->head; x; x = x->next, i++) {
    FeValue *e = lookup(P, x);
    if (!e) {
      ERR(x->loc, "undefined value '%%%.*s'", NL(x));
      ok = false;
    } else if (!e->v) {
      poisoned = true;
    } else {
      v[i] = e->v;
    }
  }
  if (!P->results_ok) return;
  if (n != fn->n_results) {
    ERR(loc, "return has %d value%s but @%s declares %d result%s", n, n == 1 ? "" : "s",
        fn->name, fn->n_results, fn->n_results == 1 ? "" : "s");
    return;
  }
  if (!ok || poisoned) return;
  i = 0;
  for (FeNode *x = values->head; x; x = x->next, i++) {
    if (!tir_type_equal(&v[i]->type, &fn->result_types[i])) {
      ERR(x->loc, "return value %d has type %s but @%s declares %s", i, type_str(&v[i]->type).s,
          fn->name, type_str(&fn->result_types[i]).s);
      ok = false;
    }
  }
  if (!ok) return;
  TirOp *op = tir_op_new(P->m, TIR_OP_RETURN, v, n, loc);
  check_oom(P, op);
  tir_op_append(fn, op);
}

void fe_finish(FeParser *P) {
  if (P->m->n_funcs == 0)
    ERR(fe_loc(P, 1, 1), "no functions");
  else if (P->m->n_funcs > 1 && !tir_strmap_get(P->funcs, "main", 4))
    ERR(P->first_func_loc, "no entry function: several functions and none is @main");
}

/* ------------------------------------------------------------ appending an op
 * (an op's items and attributes are read in build_attrs.c) */

/* Infers the op's type and checks it against a declared one. */
static TirValue *finish_op(FeParser *P, TirOp *op, const FeNode *res, const TirType *decl) {
  tir_op_append(P->fn, op);
  if (tir_infer_op(P->m, op, P->diag) != TIR_OK) return NULL;
  if (decl && !tir_type_equal(decl, &op->result->type)) {
    ERR(res->loc, "declared type %s does not match inferred type %s", type_str(decl).s,
        type_str(&op->result->type).s);
    return NULL;
  }
  return op->result;
}

/* ------------------------------------------------------------ constants */

/* const(file=..., key=...): the loader reads it; the declared type must
 * match exactly. */
static TirOp *const_from_file(FeParser *P, const FeNode *res, TirLoc floc, const TirAttr *fa,
                              const TirAttr *ka, const TirType *t) {
  const char *file = fa->s, *key = ka->kind == TIR_ATTR_STR ? ka->s : "";
  if (!P->opts || !P->opts->loader) {
    ERR(floc, "no loader for const files");
    return NULL;
  }
  if (!file[0]) {
    ERR(floc, "empty file name");
    return NULL;
  }
  /* Relative paths are relative to the directory of the .tir file. */
  const char *slash = strrchr(P->filename, '/');
  size_t dlen = file[0] == '/' || !slash ? 0 : (size_t)(slash - P->filename) + 1;
  size_t flen = strlen(file);
  char *path = scratch(P, dlen + flen + 1);
  memcpy(path, P->filename, dlen);
  memcpy(path + dlen, file, flen + 1);

  TirDType dt = TIR_F32;
  int rank = -1;
  int64_t dims[TIR_MAX_RANK] = {0};
  void *data = NULL;
  size_t nbytes = 0;
  char err[512] = "";
  if (P->opts->loader(P->opts->loader_ctx, path, key, &dt, &rank, dims, &data, &nbytes, err,
                      sizeof err) != TIR_OK) {
    err[sizeof err - 1] = 0;
    ERR(floc, "cannot load const: %s", err[0] ? err : "the loader failed");
    return NULL;
  }
  TirType lt = {.dtype = dt, .rank = rank};
  bool ok = rank >= 0 && rank <= TIR_MAX_RANK && (unsigned)dt < TIR_NUM_DTYPES;
  for (int i = 0; ok && i < rank; i++) {
    ok = dims[i] >= 0;
    if (ok) check_oom(P, lt.dims[i] = tir_dim_const(P->m, dims[i]));
  }
  int64_t numel = 0;
  if (!ok || !tir_type_numel(&lt, &numel) || nbytes != (size_t)numel * tir_dtype_size(dt)) {
    free(data);
    ERR(floc, "cannot load const: the loader returned an inconsistent tensor for '%s'", key);
    return NULL;
  }
  if (!tir_type_equal(&lt, t)) {
    free(data);
    ERR(res->loc, "'%s' in %s has type %s, but the declared type is %s", key, file,
        type_str(&lt).s, type_str(t).s);
    return NULL;
  }
  TirOp *op = tir_op_new(P->m, TIR_OP_CONST, NULL, 0, res->loc);
  if (!op) free(data);
  check_oom(P, op);
  if (data && !tir_module_adopt(P->m, data)) fe_fatal(P, "out of memory");
  op->result->type = *t;
  op->data = data;
  op->data_bytes = nbytes;
  tir_op_set_str(op, "file", file);
  if (ka->kind == TIR_ATTR_STR) tir_op_set_str(op, "key", key);
  return op;
}

typedef struct {
  int rank;
  int64_t shape[TIR_MAX_RANK];
  bool any_float, all_bool;
} LitShape;

/* Checks that a nested list literal is rectangular with the shape taken
 * from its first elements, and that its leaves are scalars. */
static bool check_literal(FeParser *P, const FeNode *n, int level, LitShape *ls) {
  if (level < ls->rank) {
    if (n->kind != N_LIST) {
      ERR(n->loc, "ragged literal: expected a list of %lld element%s", (long long)ls->shape[level],
          ls->shape[level] == 1 ? "" : "s");
      return false;
    }
    if ((int64_t)n->count != ls->shape[level]) {
      ERR(n->loc, "ragged literal: expected %lld elements, got %zu", (long long)ls->shape[level],
          n->count);
      return false;
    }
    for (const FeNode *e = n->head; e; e = e->next)
      if (!check_literal(P, e, level + 1, ls)) return false;
    return true;
  }
  TirScalar s;
  int r = fe_get_scalar(P, n, &s);
  if (r == 0) ERR(n->loc, n->kind == N_LIST ? "ragged literal: expected a number, got a list"
                                            : "expected a number or true/false in a literal");
  if (r <= 0) return false;
  if (s.kind == TIR_SCALAR_FLOAT) ls->any_float = true;
  if (s.kind != TIR_SCALAR_BOOL) ls->all_bool = false;
  return true;
}

static bool store_literal(FeParser *P, const FeNode *n, TirDType dt, void *buf, size_t *i) {
  if (n->kind == N_LIST) {
    for (const FeNode *e = n->head; e; e = e->next)
      if (!store_literal(P, e, dt, buf, i)) return false;
    return true;
  }
  TirScalar s;
  fe_get_scalar(P, n, &s); /* checked before */
  if (!scalar_fits(P, &s, dt, n->loc)) return false;
  store_scalar(dt, buf, (*i)++, &s);
  return true;
}

/* const(LITERAL) with an optional declared type (NULL when absent). */
static TirOp *const_from_literal(FeParser *P, const FeNode *res, const FeNode *lit,
                                 const FeNode *declnode, const TirType *decl) {
  LitShape ls = {.all_bool = true};
  for (const FeNode *n = lit; n->kind == N_LIST; n = n->head) {
    if (ls.rank == TIR_MAX_RANK) {
      ERR(n->loc, "literal has more than %d dimensions", TIR_MAX_RANK);
      return NULL;
    }
    ls.shape[ls.rank++] = (int64_t)n->count;
    if (!n->head) break;
  }
  if (!check_literal(P, lit, 0, &ls)) return NULL;
  TirType t = {.rank = ls.rank};
  if (decl) t.dtype = decl->dtype;
  else if (ls.rank == 0) t.dtype = ls.all_bool ? TIR_BOOL : TIR_F32; /* spec §3: default f32 */
  else t.dtype = ls.any_float ? TIR_F32 : ls.all_bool && lit->count ? TIR_BOOL : TIR_I64;
  for (int i = 0; i < ls.rank; i++) check_oom(P, t.dims[i] = tir_dim_const(P->m, ls.shape[i]));
  if (decl && !tir_type_equal(&t, decl)) {
    if (ls.rank == 0)
      ERR(declnode->loc, "a scalar const needs a 0-d type, not %s", type_str(decl).s);
    else
      ERR(declnode->loc, "literal of type %s does not match the declared type %s",
          type_str(&t).s, type_str(decl).s);
    return NULL;
  }
  int64_t numel;
  if (!tir_type_numel(&t, &numel)) {
    ERR(lit->loc, "literal too large");
    return NULL;
  }
  size_t bytes = (size_t)numel * tir_dtype_size(t.dtype);
  void *buf = calloc(1, bytes ? bytes : 1);
  check_oom(P, buf);
  size_t i = 0;
  bool stored = store_literal(P, lit, t.dtype, buf, &i);
  TirOp *op = stored ? tir_const_new(P->m, &t, buf, res->loc) : NULL;
  free(buf);
  if (stored) check_oom(P, op);
  return op;
}

static TirValue *build_const(FeParser *P, const FeNode *res, const FeNode *name,
                             const FeNode *items, const FeNode *declnode) {
  Items it;
  TirAttr a[TIR_MAX_ATTRS];
  TirType decl;
  bool ok = fe_split_items(P, tir_op_schema(TIR_OP_CONST), items, &it);
  ok = fe_convert_attrs(P, &it, name, a) && ok;
  bool have_decl = declnode && to_type(P, declnode, true, &decl);
  if (declnode && !have_decl) ok = false;
  const int FILE_ = tir_schema_attr_index(it.s, "file", 4), KEY = tir_schema_attr_index(it.s, "key", 3);
  bool file = a[FILE_].kind == TIR_ATTR_STR;
  if (it.npos > 1) {
    ERR(it.pos[1]->loc, "'const' takes one literal, got %d", it.npos);
    ok = false;
  } else if (it.npos == 1 && (it.kv[FILE_] || it.kv[KEY])) {
    ERR(it.pos[0]->loc, "'const' takes a literal or file=/key=, not both");
    ok = false;
  } else if (it.npos == 0 && !it.kv[FILE_]) {
    ERR(name->loc, "'const' needs a literal or file=");
    ok = false;
  }
  if (!ok) return NULL;
  if (have_decl && !type_is_static(&decl)) {
    ERR(declnode->loc, "the type of a const must be static, not %s", type_str(&decl).s);
    return NULL;
  }
  TirOp *op;
  if (file) {
    if (!have_decl) {
      ERR(res->loc, "const(file=...) needs a declared type");
      return NULL;
    }
    op = const_from_file(P, res, it.kv[FILE_]->lhs->loc, &a[FILE_], &a[KEY], &decl);
  } else {
    op = const_from_literal(P, res, it.pos[0], declnode, have_decl ? &decl : NULL);
  }
  return op ? finish_op(P, op, res, NULL) : NULL;
}

/* ------------------------------------------------------------ ops */

/* Operand positions that hold a bool mask or condition, whatever the rest. */
static bool bool_position(TirOpKind k, int i) {
  unsigned fl = tir_op_schema(k)->flags;
  return (fl & TIR_OPF_LOGICAL & ~TIR_OPF_ELEMENTWISE) || k == TIR_OP_LOGICAL_NOT ||
         (k == TIR_OP_WHERE && i == 0) || (k == TIR_OP_MASKED_FILL && i == 1);
}

/* The dtype of the inline scalar operand i (spec §3): that of the first
 * tensor operand it combines with (for `where`, the other arm); where there
 * is none, the literals' own: f32 if any is a float, else i64 if any is an
 * integer, else bool (so `where(%c, 1.0, 2)` gives two f32 constants). */
static TirDType scalar_dtype(TirOpKind k, int i, TirValue *const *vals, int n,
                             const TirScalar *lits) {
  if (bool_position(k, i)) return TIR_BOOL;
  bool any_float = false, any_int = false;
  for (int j = 0; j < n; j++) {
    if (bool_position(k, j)) continue;
    if (vals[j]) return vals[j]->type.dtype;
    any_float |= lits[j].kind == TIR_SCALAR_FLOAT;
    any_int |= lits[j].kind == TIR_SCALAR_INT;
  }
  return any_float ? TIR_F32 : any_int ? TIR_I64 : TIR_BOOL;
}

static TirValue *build_op(FeParser *P, TirOpKind k, const FeNode *res, const FeNode *name,
                          const FeNode *items, const FeNode *declnode) {
  const TirOpSchema *s = tir_op_schema(k);
  Items it;
  TirAttr a[TIR_MAX_ATTRS];
  bool ok = fe_split_items(P, s, items, &it);
  if (it.npos < s->min_operands || (s->max_operands >= 0 && it.npos > s->max_operands)) {
    int lo = s->min_operands, hi = s->max_operands;
    if (hi == 0)
      ERR(name->loc, "'%s' takes no operands, got %d", s->name, it.npos);
    else if (hi < 0)
      ERR(name->loc, "'%s' takes at least %d operand%s, got %d", s->name, lo, lo == 1 ? "" : "s",
          it.npos);
    else if (lo == hi)
      ERR(name->loc, "'%s' takes %d operand%s, got %d", s->name, lo, lo == 1 ? "" : "s", it.npos);
    else
      ERR(name->loc, "'%s' takes %d to %d operands, got %d", s->name, lo, hi, it.npos);
    ok = false;
  }
  /* Operands: values, or inline scalars (CONST ops made below). */
  TirValue **vals = scratch(P, (size_t)it.npos * sizeof *vals);
  TirScalar *lits = scratch(P, (size_t)it.npos * sizeof *lits);
  bool poisoned = false;
  for (int i = 0; i < it.npos; i++) {
    const FeNode *n = it.pos[i];
    vals[i] = NULL;
    if (n->kind == N_VALUE) {
      FeValue *e = lookup(P, n);
      if (!e) {
        ERR(n->loc, "undefined value '%%%.*s'", NL(n));
        ok = false;
      } else if (!e->v) {
        poisoned = true;
      } else {
        vals[i] = e->v;
      }
      continue;
    }
    int r = fe_get_scalar(P, n, &lits[i]);
    if (r == 0) ERR(n->loc, "operand %d of '%s' must be a value or a scalar literal", i, s->name);
    if (r <= 0) ok = false;
  }
  ok = fe_convert_attrs(P, &it, name, a) && ok;
  TirType decl;
  if (declnode && !to_type(P, declnode, true, &decl)) ok = false;
  if (!ok || poisoned) return NULL;

  /* Inline scalars become CONST ops before the op.  All dtypes are chosen
   * before any is made: scalar_dtype looks at the other operands. */
  TirDType *dts = scratch(P, (size_t)it.npos * sizeof *dts);
  for (int i = 0; i < it.npos; i++) {
    if (it.pos[i]->kind == N_VALUE) continue;
    dts[i] = scalar_dtype(k, i, vals, it.npos, lits);
    if (!scalar_fits(P, &lits[i], dts[i], it.pos[i]->loc)) ok = false;
  }
  if (!ok) return NULL;
  for (int i = 0; i < it.npos; i++) {
    if (it.pos[i]->kind == N_VALUE) continue;
    unsigned char buf[16] = {0};
    TirType t = {.dtype = dts[i], .rank = 0};
    store_scalar(dts[i], buf, 0, &lits[i]);
    TirOp *c = tir_const_new(P->m, &t, buf, res->loc);
    check_oom(P, c);
    tir_op_append(P->fn, c);
    vals[i] = c->result;
  }
  TirOp *op = tir_op_new(P->m, k, vals, it.npos, res->loc);
  check_oom(P, op);
  fe_apply_attrs(&it, op, a);
  return finish_op(P, op, res, declnode ? &decl : NULL);
}

void fe_op(FeParser *P, FeNode *res, FeNode *name, FeNode *items, FeNode *decl) {
  if (P->has_return && !P->after_return_reported) {
    ERR(res->loc, "op after the return of @%s", P->fn->name);
    P->after_return_reported = true;
  }
  int k = tir_op_kind_from_name(name->text, name->len);
  TirValue *v = NULL;
  if (k < 0 || (tir_op_schema((TirOpKind)k)->flags & TIR_OPF_TERMINATOR))
    ERR(name->loc, "unknown op '%.*s'", NL(name));
  else if (k == TIR_OP_CONST)
    v = build_const(P, res, name, items, decl);
  else
    v = build_op(P, (TirOpKind)k, res, name, items, decl);
  define(P, res, v);
}
