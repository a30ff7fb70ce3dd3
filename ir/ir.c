/* ir.c — modules, functions, ops and values: creation, use lists, rewriting
 * helpers and attribute access.  The op schemas are parsed once from the
 * attribute spec strings of ops.def. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "ir.h"

/* ------------------------------------------------------------ op schemas */

static TirOpSchema SCHEMAS[TIR_NUM_OPS];
/* pthread_once rather than C11 call_once: thread sanitizers understand it. */
static pthread_once_t SCHEMA_ONCE = PTHREAD_ONCE_INIT;

static const struct {
  const char *name;
  int min, max;
  unsigned flags;
  const char *spec;
} ROWS[TIR_NUM_OPS] = {
#define X(E, name, mn, mx, fl, spec) [TIR_OP_##E] = {name, mn, mx, fl, spec},
#include "ops.def"
};

static TirAttrKind kind_from_word(const char *s, size_t n) {
  static const struct {
    const char *w;
    TirAttrKind k;
  } K[] = {{"int", TIR_ATTR_INT},     {"float", TIR_ATTR_FLOAT}, {"bool", TIR_ATTR_BOOL},
           {"str", TIR_ATTR_STR},     {"dtype", TIR_ATTR_DTYPE}, {"ints", TIR_ATTR_INTS},
           {"dim", TIR_ATTR_DIM},     {"dims", TIR_ATTR_DIMS},   {"scalar", TIR_ATTR_SCALAR}};
  for (size_t i = 0; i < sizeof K / sizeof K[0]; i++)
    if (strlen(K[i].w) == n && memcmp(K[i].w, s, n) == 0) return K[i].k;
  return TIR_ATTR_NONE;
}

/* Parses "name:kind=default name:kind? ..." into s->attrs.  The spec strings
 * are ours, so malformed ones are internal errors. */
static void parse_spec(TirOpSchema *s, const char *spec) {
  const char *p = spec;
  while (*p) {
    while (*p == ' ') p++;
    if (!*p) break;
    assert(s->nattrs < TIR_MAX_ATTRS);
    TirAttrSchema *a = &s->attrs[s->nattrs++];
    const char *colon = strchr(p, ':');
    assert(colon);
    size_t nlen = (size_t)(colon - p);
    char *name = malloc(nlen + 1); /* lives for the process */
    assert(name);
    memcpy(name, p, nlen);
    name[nlen] = 0;
    a->name = name;
    p = colon + 1;
    const char *k = p;
    while (*p && *p != ' ' && *p != '=' && *p != '?') p++;
    a->kind = kind_from_word(k, (size_t)(p - k));
    assert(a->kind != TIR_ATTR_NONE);
    if (*p == '?') {
      a->optional = true;
      p++;
    } else if (*p == '=') {
      const char *v = ++p;
      while (*p && *p != ' ') p++;
      size_t vlen = (size_t)(p - v);
      char *val = malloc(vlen + 1);
      assert(val);
      memcpy(val, v, vlen);
      val[vlen] = 0;
      a->optional = a->has_default = true;
      switch (a->kind) {
      case TIR_ATTR_BOOL: a->def_i = strcmp(val, "true") == 0; break;
      case TIR_ATTR_INT:
      case TIR_ATTR_DIM: a->def_i = strtoll(val, NULL, 10); break;
      case TIR_ATTR_FLOAT: a->def_f = strtod(val, NULL); break;
      case TIR_ATTR_STR: a->def_s = val; val = NULL; break;
      case TIR_ATTR_DTYPE: {
        bool ok = tir_dtype_from_name(val, vlen, &a->def_dtype);
        assert(ok);
        (void)ok;
        break;
      }
      default: assert(!"unsupported default kind");
      }
      free(val);
    }
  }
}

static void init_schemas(void) {
  for (int i = 0; i < TIR_NUM_OPS; i++) {
    TirOpSchema *s = &SCHEMAS[i];
    s->kind = (TirOpKind)i;
    s->name = ROWS[i].name;
    s->min_operands = ROWS[i].min;
    s->max_operands = ROWS[i].max;
    s->flags = ROWS[i].flags;
    parse_spec(s, ROWS[i].spec);
  }
}

const TirOpSchema *tir_op_schema(TirOpKind k) {
  pthread_once(&SCHEMA_ONCE, init_schemas);
  assert(k < TIR_NUM_OPS);
  return &SCHEMAS[k];
}

int tir_op_kind_from_name(const char *s, size_t n) {
  if (n == 4 && memcmp(s, "view", 4) == 0) return TIR_OP_RESHAPE;
  for (int i = 0; i < TIR_NUM_OPS; i++)
    if (strlen(ROWS[i].name) == n && memcmp(ROWS[i].name, s, n) == 0) return i;
  return -1;
}

int tir_schema_attr_index(const TirOpSchema *s, const char *name, size_t n) {
  for (int i = 0; i < s->nattrs; i++)
    if (strlen(s->attrs[i].name) == n && memcmp(s->attrs[i].name, name, n) == 0) return i;
  return -1;
}

/* ------------------------------------------------------------ modules and functions */

void tir_dim_table_free(struct TirDimTable *t); /* dim.c */

TirModule *tir_module_new(void) {
  pthread_once(&SCHEMA_ONCE, init_schemas);
  TirModule *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  if (!(m->arena = tir_arena_new())) {
    free(m);
    return NULL;
  }
  return m;
}

void tir_module_free(TirModule *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
  free(m->owned);
  tir_dim_table_free(m->dims);
  tir_arena_free(m->arena);
  free(m);
}

bool tir_module_adopt(TirModule *m, void *p) {
  if (m->n_owned == m->cap_owned) {
    size_t nc = m->cap_owned ? m->cap_owned * 2 : 8;
    void **n = realloc(m->owned, nc * sizeof *n);
    if (!n) {
      free(p);
      return false;
    }
    m->owned = n;
    m->cap_owned = nc;
  }
  m->owned[m->n_owned++] = p;
  return true;
}

TirFunc *tir_module_find_func(const TirModule *m, const char *name) {
  for (TirFunc *f = m->first_func; f; f = f->next)
    if (strcmp(f->name, name) == 0) return f;
  return NULL;
}

TirFunc *tir_module_entry(const TirModule *m) {
  if (m->n_funcs == 1) return m->first_func;
  return tir_module_find_func(m, "main");
}

TirFunc *tir_func_new(TirModule *m, const char *name, TirLoc loc) {
  TirFunc *f = tir_arena_alloc(m->arena, sizeof *f);
  if (!f || !(f->name = tir_arena_strndup(m->arena, name, strlen(name)))) return NULL;
  f->loc = loc;
  f->module = m;
  if (m->last_func) m->last_func->next = f;
  else m->first_func = f;
  m->last_func = f;
  m->n_funcs++;
  return f;
}

static TirValue *value_new(TirModule *m, TirFunc *f, const char *name) {
  TirValue *v = tir_arena_alloc(m->arena, sizeof *v);
  if (!v) return NULL;
  v->arg_index = -1;
  v->func = f;
  v->id = m->next_id++;
  if (name && !(v->name = tir_arena_strndup(m->arena, name, strlen(name)))) return NULL;
  return v;
}

TirValue *tir_func_add_arg(TirFunc *f, const char *name, const TirType *type) {
  TirModule *m = f->module;
  TirValue *v = value_new(m, f, name);
  if (!v) return NULL;
  v->type = *type;
  v->arg_index = f->n_args;
  /* Capacity doubles at powers of two (arena memory is not reclaimed, so
   * growing by one would be quadratic). */
  int n = f->n_args;
  if (n == 0 || (n & (n - 1)) == 0) {
    TirValue **na = tir_arena_alloc(m->arena, (size_t)(n ? 2 * n : 4) * sizeof *na);
    if (!na) return NULL;
    if (n) memcpy(na, f->args, (size_t)n * sizeof *na);
    f->args = na;
  }
  f->args[f->n_args++] = v;
  return v;
}

void tir_func_set_results(TirFunc *f, const TirType *types, int n) {
  TirType *t = n ? tir_arena_alloc(f->module->arena, (size_t)n * sizeof *t) : NULL;
  if (n && !t) return;
  if (n) memcpy(t, types, (size_t)n * sizeof *t);
  f->result_types = t;
  f->n_results = n;
}

TirOp *tir_func_return(const TirFunc *f) {
  return f->last && f->last->kind == TIR_OP_RETURN ? f->last : NULL;
}

/* ------------------------------------------------------------ use lists */

static void use_link(TirOperand *o) {
  TirValue *v = o->value;
  o->prev_use = NULL;
  o->next_use = v->first_use;
  if (v->first_use) v->first_use->prev_use = o;
  v->first_use = o;
}

static void use_unlink(TirOperand *o) {
  if (o->prev_use) o->prev_use->next_use = o->next_use;
  else o->value->first_use = o->next_use;
  if (o->next_use) o->next_use->prev_use = o->prev_use;
  o->next_use = o->prev_use = NULL;
}

int tir_value_use_count(const TirValue *v) {
  int n = 0;
  for (const TirOperand *o = v->first_use; o; o = o->next_use) n++;
  return n;
}

bool tir_value_has_one_use(const TirValue *v) {
  return v->first_use && !v->first_use->next_use;
}

void tir_op_set_operand(TirOp *op, int i, TirValue *v) {
  assert(i >= 0 && i < op->n_operands && v);
  TirOperand *o = &op->operands[i];
  if (o->value == v) return;
  use_unlink(o);
  o->value = v;
  use_link(o);
}

void tir_value_replace_all_uses(TirValue *from, TirValue *to) {
  assert(from != to);
  while (from->first_use) {
    TirOperand *o = from->first_use;
    use_unlink(o);
    o->value = to;
    use_link(o);
  }
}

/* ------------------------------------------------------------ ops */

TirOp *tir_op_new(TirModule *m, TirOpKind kind, TirValue *const *operands, int n, TirLoc loc) {
  const TirOpSchema *s = tir_op_schema(kind);
  assert(n >= s->min_operands && (s->max_operands < 0 || n <= s->max_operands));
  TirOp *op = tir_arena_alloc(m->arena, sizeof *op);
  if (!op) return NULL;
  op->kind = kind;
  op->module = m;
  op->loc = loc;
  op->id = m->next_id++;
  op->n_operands = n;
  if (n && !(op->operands = tir_arena_alloc(m->arena, (size_t)n * sizeof *op->operands)))
    return NULL;
  for (int i = 0; i < n; i++) {
    assert(operands[i]);
    op->operands[i].owner = op;
    op->operands[i].value = operands[i];
    use_link(&op->operands[i]);
  }
  if (s->nattrs && !(op->attrs = tir_arena_alloc(m->arena, (size_t)s->nattrs * sizeof *op->attrs)))
    return NULL;
  for (int i = 0; i < s->nattrs; i++) {
    const TirAttrSchema *a = &s->attrs[i];
    TirAttr *t = &op->attrs[i];
    if (!a->has_default) continue;
    t->kind = a->kind;
    switch (a->kind) {
    case TIR_ATTR_INT: t->i = a->def_i; break;
    case TIR_ATTR_BOOL: t->b = a->def_i != 0; break;
    case TIR_ATTR_FLOAT: t->f = a->def_f; break;
    case TIR_ATTR_STR: t->s = a->def_s; break;
    case TIR_ATTR_DTYPE: t->dtype = a->def_dtype; break;
    case TIR_ATTR_DIM:
      if (!(t->dim = tir_dim_const(m, a->def_i))) return NULL;
      break;
    default: assert(!"default of unsupported kind");
    }
  }
  if (kind != TIR_OP_RETURN) {
    if (!(op->result = value_new(m, NULL, NULL))) return NULL;
    op->result->def = op;
  }
  return op;
}

static void link_into(TirFunc *f, TirOp *op) {
  op->func = f;
  if (op->result) op->result->func = f;
}

void tir_op_append(TirFunc *f, TirOp *op) {
  assert(!op->func);
  link_into(f, op);
  op->prev = f->last;
  op->next = NULL;
  if (f->last) f->last->next = op;
  else f->first = op;
  f->last = op;
}

void tir_op_insert_before(TirOp *pos, TirOp *op) {
  assert(!op->func && pos->func);
  TirFunc *f = pos->func;
  link_into(f, op);
  op->next = pos;
  op->prev = pos->prev;
  if (pos->prev) pos->prev->next = op;
  else f->first = op;
  pos->prev = op;
}

void tir_op_insert_after(TirOp *pos, TirOp *op) {
  assert(!op->func && pos->func);
  if (pos->next) {
    tir_op_insert_before(pos->next, op);
    return;
  }
  tir_op_append(pos->func, op);
}

void tir_op_erase(TirOp *op) {
  assert(!op->result || !op->result->first_use);
  for (int i = 0; i < op->n_operands; i++) use_unlink(&op->operands[i]);
  TirFunc *f = op->func;
  if (f) {
    if (op->prev) op->prev->next = op->next;
    else f->first = op->next;
    if (op->next) op->next->prev = op->prev;
    else f->last = op->prev;
  }
  op->prev = op->next = NULL;
  op->func = NULL;
}

/* ------------------------------------------------------------ attributes */

static int attr_slot(const TirOp *op, const char *name) {
  const TirOpSchema *s = tir_op_schema(op->kind);
  int i = tir_schema_attr_index(s, name, strlen(name));
  assert(i >= 0 && "op has no such attribute");
  return i;
}

TirAttr *tir_op_attr(TirOp *op, const char *name) { return &op->attrs[attr_slot(op, name)]; }
const TirAttr *tir_op_attr_c(const TirOp *op, const char *name) {
  return &op->attrs[attr_slot(op, name)];
}
bool tir_op_has_attr(const TirOp *op, const char *name) {
  return tir_op_attr_c(op, name)->kind != TIR_ATTR_NONE;
}

/* The schema default of an absent attribute, as the attribute it would be. */
static TirAttr schema_default(const TirOp *op, const char *name) {
  const TirAttrSchema *s = &tir_op_schema(op->kind)->attrs[attr_slot(op, name)];
  TirAttr a = {.kind = TIR_ATTR_NONE};
  if (!s->has_default) return a;
  a.kind = s->kind;
  switch (s->kind) {
  case TIR_ATTR_INT: a.i = s->def_i; break;
  case TIR_ATTR_BOOL: a.b = s->def_i != 0; break;
  case TIR_ATTR_FLOAT: a.f = s->def_f; break;
  case TIR_ATTR_STR: a.s = s->def_s; break;
  case TIR_ATTR_DTYPE: a.dtype = s->def_dtype; break;
  case TIR_ATTR_DIM: a.kind = TIR_ATTR_INT; a.i = s->def_i; break; /* read as an int */
  default: a.kind = TIR_ATTR_NONE; break;
  }
  return a;
}

int64_t tir_op_attr_int(const TirOp *op, const char *name) {
  const TirAttr *a = tir_op_attr_c(op, name);
  TirAttr d;
  if (a->kind == TIR_ATTR_NONE) a = (d = schema_default(op, name), &d);
  if (a->kind == TIR_ATTR_BOOL) return a->b;
  if (a->kind == TIR_ATTR_DIM) {
    int64_t v = 0;
    tir_dim_is_const(a->dim, &v);
    return v;
  }
  assert(a->kind == TIR_ATTR_INT);
  return a->i;
}

double tir_op_attr_float(const TirOp *op, const char *name) {
  const TirAttr *a = tir_op_attr_c(op, name);
  TirAttr d;
  if (a->kind == TIR_ATTR_NONE) a = (d = schema_default(op, name), &d);
  if (a->kind == TIR_ATTR_SCALAR) return a->scalar.f;
  if (a->kind == TIR_ATTR_INT) return (double)a->i;
  assert(a->kind == TIR_ATTR_FLOAT);
  return a->f;
}

bool tir_op_attr_bool(const TirOp *op, const char *name) {
  const TirAttr *a = tir_op_attr_c(op, name);
  TirAttr d;
  if (a->kind == TIR_ATTR_NONE) a = (d = schema_default(op, name), &d);
  assert(a->kind == TIR_ATTR_BOOL);
  return a->b;
}

const char *tir_op_attr_str(const TirOp *op, const char *name) {
  const TirAttr *a = tir_op_attr_c(op, name);
  if (a->kind == TIR_ATTR_NONE) {
    const TirAttrSchema *s = &tir_op_schema(op->kind)->attrs[attr_slot(op, name)];
    return s->has_default && s->kind == TIR_ATTR_STR ? s->def_s : NULL;
  }
  return a->kind == TIR_ATTR_STR ? a->s : NULL;
}

static TirModule *op_module(const TirOp *op) { return op->module; }

const TirDim *tir_op_attr_dim(const TirOp *op, const char *name) {
  const TirAttr *a = tir_op_attr_c(op, name);
  if (a->kind == TIR_ATTR_DIM) return a->dim;
  const TirAttrSchema *s = &tir_op_schema(op->kind)->attrs[attr_slot(op, name)];
  return a->kind == TIR_ATTR_NONE && s->has_default ? tir_dim_const(op->module, s->def_i) : NULL;
}

void tir_op_set_int(TirOp *op, const char *name, int64_t v) {
  TirAttr *a = tir_op_attr(op, name);
  a->kind = TIR_ATTR_INT;
  a->i = v;
}
void tir_op_set_float(TirOp *op, const char *name, double v) {
  TirAttr *a = tir_op_attr(op, name);
  a->kind = TIR_ATTR_FLOAT;
  a->f = v;
}
void tir_op_set_bool(TirOp *op, const char *name, bool v) {
  TirAttr *a = tir_op_attr(op, name);
  a->kind = TIR_ATTR_BOOL;
  a->b = v;
}
void tir_op_set_dtype(TirOp *op, const char *name, TirDType t) {
  TirAttr *a = tir_op_attr(op, name);
  a->kind = TIR_ATTR_DTYPE;
  a->dtype = t;
}
void tir_op_set_dim(TirOp *op, const char *name, const TirDim *d) {
  TirAttr *a = tir_op_attr(op, name);
  a->kind = TIR_ATTR_DIM;
  a->dim = d;
}
void tir_op_set_scalar(TirOp *op, const char *name, TirScalar s) {
  TirAttr *a = tir_op_attr(op, name);
  a->kind = TIR_ATTR_SCALAR;
  a->scalar = s;
}
void tir_op_clear_attr(TirOp *op, const char *name) { tir_op_attr(op, name)->kind = TIR_ATTR_NONE; }

void tir_op_set_str(TirOp *op, const char *name, const char *s) {
  TirAttr *a = tir_op_attr(op, name);
  TirModule *m = op_module(op);
  a->kind = TIR_ATTR_STR;
  a->s = tir_arena_strndup(m->arena, s, strlen(s));
  assert(a->s);
}
void tir_op_set_ints(TirOp *op, const char *name, const int64_t *v, int n) {
  TirAttr *a = tir_op_attr(op, name);
  TirModule *m = op_module(op);
  int64_t *c = tir_arena_alloc(m->arena, (size_t)(n ? n : 1) * sizeof *c);
  assert(c);
  if (n) memcpy(c, v, (size_t)n * sizeof *c);
  a->kind = TIR_ATTR_INTS;
  a->ints.n = n;
  a->ints.v = c;
}
void tir_op_set_dims(TirOp *op, const char *name, const TirDim *const *v, int n) {
  TirAttr *a = tir_op_attr(op, name);
  TirModule *m = op_module(op);
  const TirDim **c = tir_arena_alloc(m->arena, (size_t)(n ? n : 1) * sizeof *c);
  assert(c);
  if (n) memcpy(c, v, (size_t)n * sizeof *c);
  a->kind = TIR_ATTR_DIMS;
  a->dims.n = n;
  a->dims.v = c;
}

bool tir_attr_equal(const TirAttr *a, const TirAttr *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case TIR_ATTR_NONE: return true;
  case TIR_ATTR_INT: return a->i == b->i;
  /* Bitwise: -0.0 and 0.0 differ (1/x tells them apart); nan equals nan. */
  case TIR_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
  case TIR_ATTR_BOOL: return a->b == b->b;
  case TIR_ATTR_STR: return strcmp(a->s, b->s) == 0;
  case TIR_ATTR_DTYPE: return a->dtype == b->dtype;
  case TIR_ATTR_INTS:
    return a->ints.n == b->ints.n &&
           (a->ints.n == 0 || memcmp(a->ints.v, b->ints.v, (size_t)a->ints.n * 8) == 0);
  case TIR_ATTR_DIM: return a->dim == b->dim;
  case TIR_ATTR_DIMS:
    if (a->dims.n != b->dims.n) return false;
    for (int i = 0; i < a->dims.n; i++)
      if (a->dims.v[i] != b->dims.v[i]) return false;
    return true;
  case TIR_ATTR_SCALAR:
    return a->scalar.kind == b->scalar.kind && a->scalar.i == b->scalar.i &&
           memcmp(&a->scalar.f, &b->scalar.f, sizeof a->scalar.f) == 0;
  }
  return false;
}

bool tir_op_permutation(const TirOp *op, int64_t perm[TIR_MAX_RANK]) {
  int r = op->operands[0].value->type.rank;
  if (op->kind == TIR_OP_TRANSPOSE) {
    if (r == 0) return true; /* torch allows dims 0/-1 on a 0-d tensor: a no-op */
    int64_t d0 = tir_op_attr_int(op, "dim0"), d1 = tir_op_attr_int(op, "dim1");
    if (d0 < 0) d0 += r;
    if (d1 < 0) d1 += r;
    if (d0 < 0 || d0 >= r || d1 < 0 || d1 >= r) return false;
    for (int i = 0; i < r; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return true;
  }
  assert(op->kind == TIR_OP_PERMUTE);
  const TirAttr *a = tir_op_attr_c(op, "dims");
  if (a->kind != TIR_ATTR_INTS || a->ints.n != r) return false;
  for (int i = 0; i < r; i++) {
    perm[i] = a->ints.v[i] < 0 ? a->ints.v[i] + r : a->ints.v[i];
    if (perm[i] < 0 || perm[i] >= r) return false;
  }
  return true;
}

/* ------------------------------------------------------------ constants */

TirOp *tir_const_new(TirModule *m, const TirType *type, const void *data, TirLoc loc) {
  int64_t numel;
  if (!tir_type_numel(type, &numel)) return NULL;
  size_t bytes = (size_t)numel * tir_dtype_size(type->dtype);
  TirOp *op = tir_op_new(m, TIR_OP_CONST, NULL, 0, loc);
  if (!op) return NULL;
  void *copy = tir_arena_alloc(m->arena, bytes ? bytes : 1);
  if (!copy) return NULL;
  if (bytes) memcpy(copy, data, bytes);
  op->data = copy;
  op->data_bytes = bytes;
  op->result->type = *type;
  return op;
}

TirOp *tir_const_scalar_new(TirModule *m, TirDType dtype, double v, TirLoc loc) {
  TirType t = {.dtype = dtype, .rank = 0};
  unsigned char buf[8];
  tir_store_f64(dtype, buf, 0, v);
  return tir_const_new(m, &t, buf, loc);
}

bool tir_value_const_scalar(const TirValue *v, double *out) {
  const TirOp *d = v->def;
  int64_t n;
  if (!d || d->kind != TIR_OP_CONST || !d->data || !tir_type_numel(&v->type, &n) || n != 1)
    return false;
  *out = tir_load_f64(v->type.dtype, d->data, 0);
  return true;
}

/* ------------------------------------------------------------ types */

bool tir_type_equal(const TirType *a, const TirType *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

bool tir_type_numel(const TirType *t, int64_t *numel) {
  int64_t n = 1, d;
  for (int i = 0; i < t->rank; i++) {
    if (!tir_dim_is_const(t->dims[i], &d) || d < 0 || __builtin_mul_overflow(n, d, &n))
      return false;
  }
  /* Keep byte counts representable too. */
  if (n > INT64_MAX / 8) return false;
  *numel = n;
  return true;
}
