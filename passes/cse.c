/* cse.c — the `cse` pass: common subexpression elimination.
 *
 * %a = OP(%x, %y, attrs) : T  ...  %b = OP(%x, %y, attrs) : T   ->   uses of %b use %a
 *
 * Ops are keyed by (kind, operand values, attributes, result type, and for
 * const the payload bytes); commutative binary ops match with their operands
 * in either order.  Functions are straight-line lists, so the first
 * occurrence dominates every later one: one forward walk with a hash table
 * does it in O(n) expected time, and since operands are rewritten before
 * their users are looked at, chains of duplicates fold in the same walk.
 * Random ops (training dropout, sdpa with dropout) are never merged. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint64_t bits_of(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static uint64_t hash_attr(uint64_t h, const TirAttr *a) {
  h = mix(h, (uint64_t)a->kind);
  switch (a->kind) {
  case TIR_ATTR_NONE: break;
  case TIR_ATTR_INT: h = mix(h, (uint64_t)a->i); break;
  case TIR_ATTR_FLOAT: h = mix(h, bits_of(a->f)); break;
  case TIR_ATTR_BOOL: h = mix(h, a->b); break;
  case TIR_ATTR_STR: h = mix(h, tir_hash_bytes(a->s, strlen(a->s), 0)); break;
  case TIR_ATTR_DTYPE: h = mix(h, (uint64_t)a->dtype); break;
  case TIR_ATTR_INTS:
    for (int i = 0; i < a->ints.n; i++) h = mix(h, (uint64_t)a->ints.v[i]);
    break;
  case TIR_ATTR_DIM: h = mix(h, a->dim->hash); break;
  case TIR_ATTR_DIMS:
    for (int i = 0; i < a->dims.n; i++) h = mix(h, a->dims.v[i]->hash);
    break;
  case TIR_ATTR_SCALAR:
    h = mix(mix(mix(h, (uint64_t)a->scalar.kind), (uint64_t)a->scalar.i), bits_of(a->scalar.f));
    break;
  }
  return h;
}

/* Attribute equality that tells 0.0 from -0.0 (full(value=-0.0) is not
 * full(value=0.0)); otherwise the IR's own tir_attr_equal. */
static bool attr_same(const TirAttr *a, const TirAttr *b) {
  if (a->kind != b->kind) return false;
  if (a->kind == TIR_ATTR_FLOAT) return bits_of(a->f) == bits_of(b->f);
  if (a->kind == TIR_ATTR_SCALAR)
    return a->scalar.kind == b->scalar.kind && a->scalar.i == b->scalar.i &&
           bits_of(a->scalar.f) == bits_of(b->scalar.f);
  return tir_attr_equal(a, b);
}

/* The attribute as inference reads it: an absent one with a schema default
 * is that default, so dropout(%x) meets dropout(%x, training=false). */
static TirAttr effective(const TirOp *op, int i) {
  const TirAttrSchema *as = &tir_op_schema(op->kind)->attrs[i];
  TirAttr a = op->attrs[i];
  if (a.kind != TIR_ATTR_NONE || !as->has_default) return a;
  switch (as->kind) {
  case TIR_ATTR_INT: a.i = as->def_i; break;
  case TIR_ATTR_BOOL: a.b = as->def_i != 0; break;
  case TIR_ATTR_FLOAT: a.f = as->def_f; break;
  case TIR_ATTR_STR: a.s = as->def_s; break;
  case TIR_ATTR_DTYPE: a.dtype = as->def_dtype; break;
  case TIR_ATTR_DIM:
    if (!(a.dim = tir_dim_const(op->module, as->def_i))) return op->attrs[i];
    break;
  default: return a;
  }
  a.kind = as->kind;
  return a;
}

static bool commutative(const TirOp *op) {
  return op->n_operands == 2 && (tir_op_schema(op->kind)->flags & TIR_OPF_COMMUTATIVE);
}

static uint64_t hash_op(const TirOp *op) {
  const TirOpSchema *s = tir_op_schema(op->kind);
  uint64_t h = mix(0, (uint64_t)op->kind);
  h = mix(h, (uint64_t)op->n_operands);
  if (commutative(op)) {
    /* Order-independent, so add(%a, %b) meets add(%b, %a). */
    uint32_t a = op->operands[0].value->id, b = op->operands[1].value->id;
    h = mix(mix(h, a < b ? a : b), a < b ? b : a);
  } else {
    for (int i = 0; i < op->n_operands; i++) h = mix(h, op->operands[i].value->id);
  }
  for (int i = 0; i < s->nattrs; i++) {
    TirAttr a = effective(op, i);
    h = hash_attr(h, &a);
  }
  const TirType *t = &op->result->type;
  h = mix(mix(h, (uint64_t)t->dtype), (uint64_t)t->rank);
  for (int i = 0; i < t->rank; i++) h = mix(h, t->dims[i]->hash);
  if (op->kind == TIR_OP_CONST && op->data)
    h = mix(h, tir_hash_bytes(op->data, op->data_bytes, 0));
  return h;
}

static bool same_op(const TirOp *a, const TirOp *b) {
  if (a->kind != b->kind || a->n_operands != b->n_operands) return false;
  if (!tir_type_equal(&a->result->type, &b->result->type)) return false;
  bool same = true;
  for (int i = 0; i < a->n_operands && same; i++)
    same = a->operands[i].value == b->operands[i].value;
  if (!same && commutative(a))
    same = a->operands[0].value == b->operands[1].value &&
           a->operands[1].value == b->operands[0].value;
  if (!same) return false;
  const TirOpSchema *s = tir_op_schema(a->kind);
  for (int i = 0; i < s->nattrs; i++) {
    TirAttr x = effective(a, i), y = effective(b, i);
    if (!attr_same(&x, &y)) return false;
  }
  if (a->kind == TIR_OP_CONST) {
    if ((a->data == NULL) != (b->data == NULL) || a->data_bytes != b->data_bytes) return false;
    if (a->data && a->data != b->data && memcmp(a->data, b->data, a->data_bytes) != 0)
      return false;
  }
  return true;
}

typedef struct {
  TirOp *op; /* NULL: empty */
  uint64_t hash;
} Slot;

TirStatus tir_pass_cse(TirModule *m, const TirPassOptions *opts) {
  (void)opts;
  size_t most = 0;
  for (TirFunc *f = m->first_func; f; f = f->next) {
    size_t n = 0;
    for (TirOp *op = f->first; op; op = op->next) n++;
    if (n > most) most = n;
  }
  /* Load factor at most 1/2: probes stay short. */
  size_t cap = 16;
  while (cap < 2 * most) cap *= 2;
  Slot *tab = malloc(cap * sizeof *tab);
  if (!tab) return TIR_ERR_INTERNAL;
  size_t mask = cap - 1;

  for (TirFunc *f = m->first_func; f; f = f->next) {
    memset(tab, 0, cap * sizeof *tab);
    for (TirOp *op = f->first, *next; op; op = next) {
      next = op->next;
      if (!op->result || tir_op_is_random(op)) continue;
      uint64_t h = hash_op(op);
      size_t i = (size_t)h & mask;
      for (; tab[i].op; i = (i + 1) & mask)
        if (tab[i].hash == h && same_op(tab[i].op, op)) break;
      if (!tab[i].op) {
        tab[i] = (Slot){op, h};
        continue;
      }
      /* The first occurrence keeps its name; the duplicate's goes away. */
      tir_value_replace_all_uses(op->result, tab[i].op->result);
      tir_op_erase(op);
    }
  }
  free(tab);
  return TIR_OK;
}
