/* infer.c — shape and dtype inference for every op of ops.def (spec §4, §5),
 * following PyTorch's rules.  tir_infer_op checks operand dtypes, ranks, dims
 * and attribute values, reports user errors at op->loc (each message starts
 * with the op name) and sets op->result->type.  tir_broadcast_shapes is the
 * one NumPy broadcasting rule, shared by the ops here and by the passes.
 *
 * Dims are interned and kept in normal form, so "provably equal" is pointer
 * equality; anything that cannot be proven (e.g. a symbol against a constant)
 * is an error rather than a run-time check. */
#include "infer_internal.h"
#include "tir_ew.h"

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
 * the op rules (here, infer_shape.c, infer_nn.c) can then read attributes
 * without re-checking kinds. */
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

/* The dtype kind (TIR_DK_*) of t, for the op table's domains. */
static int dkind(const TirType *t) {
  return tir_dtype_is_float(t->dtype) ? TIR_DK_FLOAT : t->dtype == TIR_BOOL ? TIR_DK_BOOL : TIR_DK_INT;
}

/* The dtypes an elementwise op accepts are its op-table row's LANG column
 * (common/tir_ew_table.h); the messages below only say it in words. */
static TirStatus infer_unary(Ctx *c) {
  TirType *x = ot(c, 0);
  const tir_ew_row_t *row = tir_ew_row_named(c->s->name, NULL, NULL);
  assert(row && row->arity == 1);
  if (!tir_ew_lang_takes(row, dkind(x))) {
    if (row->lang == TIR_EW_DOM_BOOL) return fail(c, "operand must be bool, got %s", tstr(x).s);
    TRY(need_float(c, x, "operand"));
    return fail(c, "operand dtype %s is not supported", tstr(x).s);
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
  const tir_ew_row_t *row = tir_ew_row_named(c->s->name, NULL, NULL);
  assert(row && row->arity == 2);
  if (logical) {
    if (a->dtype != TIR_BOOL || b->dtype != TIR_BOOL)
      return fail(c, "operands must be bool, got %s and %s", tstr(a).s, tstr(b).s);
  } else if (a->dtype != b->dtype) {
    return fail(c, "operand dtypes differ: %s and %s", tstr(a).s, tstr(b).s);
  } else if (!tir_ew_lang_takes(row, dkind(a))) {
    /* torch rejects arithmetic on bool (except max/min); integer `div` is
     * true division in torch (int -> float), which a same-dtype IR cannot
     * express, so it is rejected with a hint instead of silently truncating. */
    if (a->dtype == TIR_BOOL)
      return fail(c, "arithmetic on bool tensors is not supported: %s and %s", tstr(a).s,
                  tstr(b).s);
    if (c->op->kind == TIR_OP_DIV)
      return fail(c,
                  "integer division is not supported (torch divides as float); cast to a float "
                  "dtype: %s and %s",
                  tstr(a).s, tstr(b).s);
    return fail(c, "operand dtypes %s and %s are not supported", tstr(a).s, tstr(b).s);
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
  if ((fl & TIR_OPF_REDUCTION) == TIR_OPF_REDUCTION) return tir_infer_reduction(&c);

  switch (op->kind) {
  case TIR_OP_WHERE: return infer_where(&c);
  case TIR_OP_MASKED_FILL: return infer_masked_fill(&c);
  case TIR_OP_CAST: return infer_cast(&c);
  case TIR_OP_SOFTMAX:
  case TIR_OP_LOG_SOFTMAX: return tir_infer_softmax(&c);
  case TIR_OP_LAYER_NORM: return tir_infer_layer_norm(&c);
  case TIR_OP_RMS_NORM: return tir_infer_rms_norm(&c);
  case TIR_OP_MATMUL: return tir_infer_matmul(&c);
  case TIR_OP_LINEAR: return tir_infer_linear(&c);
  case TIR_OP_RESHAPE: return tir_infer_reshape(&c);
  case TIR_OP_PERMUTE: return tir_infer_permute(&c);
  case TIR_OP_TRANSPOSE: return tir_infer_transpose(&c);
  case TIR_OP_EXPAND: return tir_infer_expand(&c);
  case TIR_OP_UNSQUEEZE: return tir_infer_unsqueeze(&c);
  case TIR_OP_SQUEEZE: return tir_infer_squeeze(&c);
  case TIR_OP_SLICE: return tir_infer_slice(&c);
  case TIR_OP_CONCAT: return tir_infer_concat(&c);
  case TIR_OP_CONTIGUOUS:
  case TIR_OP_CLONE: return set_result(&c, ot(&c, 0));
  case TIR_OP_ARANGE: return tir_infer_arange(&c);
  case TIR_OP_FULL: return tir_infer_full(&c);
  case TIR_OP_CONST: return tir_infer_const(&c);
  case TIR_OP_TRIL:
  case TIR_OP_TRIU: return tir_infer_tri(&c);
  case TIR_OP_EMBEDDING: return tir_infer_embedding(&c);
  case TIR_OP_DROPOUT: return tir_infer_dropout(&c);
  case TIR_OP_SDPA: return tir_infer_sdpa(&c);
  case TIR_OP_PAGED_SDPA: return tir_infer_paged_sdpa(&c);
  default: break;
  }
  assert(0 && "tir_infer_op: op kind without an inference rule");
  return TIR_ERR_INTERNAL;
}
