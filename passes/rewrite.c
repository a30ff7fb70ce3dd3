/* rewrite.c — the helpers of rewrite.h: a builder of tentative ops, dead-op
 * removal and the GQA un-repeat matcher, shared by the attention passes. */
#include "rewrite.h"

TirValue *tir_rw_build(TirBuilder *b, TirOp *op) {
  if (b->failed || !op) {
    b->failed = true;
    return NULL;
  }
  if (tir_infer_op(b->m, op, b->quiet) != TIR_OK || b->n_made == TIR_BUILDER_MAX) {
    tir_op_erase(op); /* detached: this only drops its operand uses */
    b->failed = true;
    return NULL;
  }
  tir_op_insert_before(b->anchor, op);
  b->made[b->n_made++] = op;
  return op->result;
}

TirValue *tir_rw_build1(TirBuilder *b, TirOpKind k, TirValue *x, TirLoc loc) {
  if (b->failed) return NULL;
  return tir_rw_build(b, tir_op_new(b->m, k, &x, 1, loc));
}

TirValue *tir_rw_build2(TirBuilder *b, TirOpKind k, TirValue *x, TirValue *y, TirLoc loc) {
  if (b->failed) return NULL;
  TirValue *ops[2] = {x, y};
  return tir_rw_build(b, tir_op_new(b->m, k, ops, 2, loc));
}

TirValue *tir_rw_scalar(TirBuilder *b, TirDType dt, double v, TirLoc loc) {
  if (b->failed) return NULL;
  TirOp *op = tir_const_scalar_new(b->m, dt, v, loc);
  if (op) op->result->name = "cst";
  return tir_rw_build(b, op);
}

void tir_rw_undo(TirBuilder *b) {
  for (int i = b->n_made - 1; i >= 0; i--) tir_op_erase(b->made[i]);
  b->n_made = 0;
}

void tir_rw_erase_dead(TirOp *op) {
  TirOp *stack[256];
  int n = 0;
  stack[n++] = op;
  while (n) {
    TirOp *o = stack[--n];
    if (!o->func || (o->result && o->result->first_use) || o->kind == TIR_OP_RETURN) continue;
    TirOp *defs[16];
    int nd = 0;
    for (int i = 0; i < o->n_operands && nd < 16; i++)
      if (o->operands[i].value->def) defs[nd++] = o->operands[i].value->def;
    tir_op_erase(o);
    for (int i = 0; i < nd && n < 256; i++) stack[n++] = defs[i];
  }
}

TirValue *tir_rw_unrepeat(TirModule *m, TirValue *r, const TirDim **groups) {
  TirOp *op = r->def;
  if (!op) return NULL;
  const TirType *rt = &r->type;
  int R = rt->rank;
  if (R < 3) return NULL;
  if (op->kind == TIR_OP_EXPAND) {
    TirValue *x = op->operands[0].value;
    const TirType *xt = &x->type;
    int64_t one;
    if (xt->rank != R || !tir_dim_is_const(xt->dims[R - 3], &one) || one != 1) return NULL;
    for (int i = 0; i < R; i++)
      if (i != R - 3 && xt->dims[i] != rt->dims[i]) return NULL;
    *groups = rt->dims[R - 3];
    return x;
  }
  if (op->kind != TIR_OP_RESHAPE) return NULL;
  TirValue *e = op->operands[0].value;
  if (!e->def || e->def->kind != TIR_OP_EXPAND || e->type.rank != R + 1) return NULL;
  TirValue *u = e->def->operands[0].value;
  if (!u->def || u->def->kind != TIR_OP_UNSQUEEZE || u->type.rank != R + 1) return NULL;
  if (tir_rw_norm_dim(tir_op_attr_int(u->def, "dim"), R + 1) != R - 2) return NULL;
  TirValue *x = u->def->operands[0].value;
  const TirType *xt = &x->type, *et = &e->type;
  if (xt->rank != R) return NULL;
  /* expand changes only the inserted axis; the reshape merges it into heads. */
  for (int i = 0; i < R + 1; i++)
    if (i != R - 2 && et->dims[i] != u->type.dims[i]) return NULL;
  for (int i = 0; i < R; i++)
    if (i != R - 3 && xt->dims[i] != rt->dims[i]) return NULL;
  const TirDim *n = et->dims[R - 2];
  if (rt->dims[R - 3] != tir_dim_mul(m, xt->dims[R - 3], n, NULL)) return NULL;
  *groups = n;
  return x;
}
