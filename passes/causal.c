/* causal.c — the mask prover (see causal.h).
 *
 * An abstract value describes a tensor in its OWN coordinates: i is the index
 * along its second-last axis and j along its last axis (an absent axis reads
 * as index 0).  Every value is invariant along its leading axes; each rule
 * below keeps that true or gives up.
 *   INDEX ai,aj,c  element (i, j) is exactly the integer ai*i + aj*j + c:
 *                  every step checks the values are representable in the
 *                  dtype, so no rounding (bf16 indices above 256) and no
 *                  wrap (i8 arange + 124) can hide behind it.
 *   TWO P,A,B      element (i, j) lies in the closed interval A where P(i, j)
 *                  and in B elsewhere (bool: [1,1] and [0,0]); a uniform
 *                  tensor is TWO with P = ALL.  Intervals never hold NaN: an
 *                  op that could make one (0 * inf, inf - inf) gives up.
 * P is ALL, NONE, LE d (j - i <= d) or GE d (j - i >= d), d a dim expression.
 *
 * Broadcasting is where the old prover went wrong: a triangle built on a
 * [1, S] tensor is not a triangle once broadcast to [L, S].  Here every value
 * is "settled" against its own type: along an axis of size 1 its index is
 * always 0, so the description is specialised to index 0 there (a predicate
 * j - i <= d becomes j <= d, which is ALL, NONE or unknown).  A settled value
 * depends only on axes whose size is not the constant 1, and NumPy
 * broadcasting (and expand) maps exactly those axes to the same positions
 * counted from the right (a symbolic size only broadcasts against itself or
 * 1), so operands of different shapes combine in the result's coordinates
 * with no further step.
 *
 * Sizes: a symbol is the length of an axis of an input tensor.  Index bounds
 * assume every symbol is below 2^40 (no memory holds such an axis of a tensor
 * the program reads element by element); see dim_bound.
 *
 * The domain's operations are in causal_domain.c (types and the small
 * constructors in causal_internal.h); the transfer functions and the claim
 * are here. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "causal_internal.h"

enum { MAX_DEPTH = 64 };

/* ------------------------------------------------------------ transfer functions */

static Av eval(Prover *pr, TirValue *v);

static int norm_dim(int64_t d, int rank) { return (int)(d < 0 ? d + rank : d); }

/* An integer-valued uniform as an INDEX with no index terms. */
static bool as_index(Prover *pr, const Av *x, Av *out) {
  if (x->kind == AV_INDEX) return *out = *x, true;
  double v;
  if (!uniform_point(x, &v) || v != floor(v) || fabs(v) > 9e15) return false;
  *out = (Av){.kind = AV_INDEX, .c = D(pr, (int64_t)v)};
  return true;
}

static Av compare_index(Prover *pr, TirOpKind k, Av x, Av y, const TirType *rt) {
  /* diff = x - y = ai*i + aj*j + c; only +-(j - i) + c is a triangle. */
  int64_t ai = x.ai - y.ai, aj = x.aj - y.aj;
  /* On a result of one row (or one column) that index is always 0, so any
   * multiple of it may be added: j + c <= 0 is j - i + c <= 0 there.  The
   * predicate is then pinned by settle and checked by pinned_ok. */
  int r = rt->rank;
  if (ai == 0 && (aj == 1 || aj == -1) && (r < 2 || is_one(rt->dims[r - 2]))) ai = -aj;
  if (aj == 0 && (ai == 1 || ai == -1) && (r < 1 || is_one(rt->dims[r - 1]))) aj = -ai;
  const TirDim *c = dsub(pr, x.c, y.c);
  if (k == TIR_OP_EQ || k == TIR_OP_NE) return unknown("equality of indices (a diagonal)");
  if (k == TIR_OP_GE || k == TIR_OP_GT) { /* x >= y  <=>  y - x <= 0 */
    ai = -ai, aj = -aj;
    c = dsub(pr, D(pr, 0), c);
  }
  /* Now the predicate is diff <= 0, or diff < 0 <=> diff + 1 <= 0 for integers. */
  if (k == TIR_OP_LT || k == TIR_OP_GT) c = dadd(pr, c, D(pr, 1));
  if (!c) return unknown("overflow");
  Ival t = pt(1), f = pt(0);
  int64_t cv;
  if (ai == 0 && aj == 0 && tir_dim_is_const(c, &cv)) return uniform(cv <= 0 ? t : f);
  if (ai == -1 && aj == 1) { /* j - i + c <= 0  <=>  j - i <= -c */
    const TirDim *d = dsub(pr, D(pr, 0), c);
    return d ? two((Pred){PK_LE, d}, t, f) : unknown("overflow");
  }
  if (ai == 1 && aj == -1) /* i - j + c <= 0  <=>  j - i >= c */
    return two((Pred){PK_GE, c}, t, f);
  return unknown("comparison is not between a row and a column index");
}

static Av eval_compare(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value), y = eval(pr, op->operands[1].value);
  if (x.kind == AV_UNKNOWN) return x;
  if (y.kind == AV_UNKNOWN) return y;
  if (x.kind == AV_INDEX || y.kind == AV_INDEX) {
    Av xi, yi;
    if (!as_index(pr, &x, &xi) || !as_index(pr, &y, &yi)) return unknown("an index compared with a non-integer");
    return compare_index(pr, op->kind, xi, yi, &op->result->type);
  }
  return causal_combine(pr, op->kind, &x, &y, TIR_BOOL);
}

static Av eval_arith(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value), y = eval(pr, op->operands[1].value);
  TirOpKind k = op->kind;
  TirDType dt = op->result->type.dtype;
  if (x.kind == AV_UNKNOWN) return x;
  if (y.kind == AV_UNKNOWN) return y;
  if (x.kind == AV_INDEX || y.kind == AV_INDEX) {
    Av xi, yi, r;
    if (!as_index(pr, &x, &xi) || !as_index(pr, &y, &yi)) return unknown("an index combined with a non-integer");
    if (k == TIR_OP_ADD || k == TIR_OP_SUB) {
      int s = k == TIR_OP_SUB ? -1 : 1;
      r = (Av){.kind = AV_INDEX, .ai = xi.ai + s * yi.ai, .aj = xi.aj + s * yi.aj,
               .c = s > 0 ? dadd(pr, xi.c, yi.c) : dsub(pr, xi.c, yi.c)};
    } else if (k == TIR_OP_MUL && (y.kind != AV_INDEX || x.kind != AV_INDEX)) {
      Av *ix = x.kind == AV_INDEX ? &xi : &yi, *kc = x.kind == AV_INDEX ? &yi : &xi;
      int64_t kv;
      if (!tir_dim_is_const(kc->c, &kv) || llabs(kv) > (1 << 20)) return unknown("index scaled by a large factor");
      r = (Av){.kind = AV_INDEX, .ai = ix->ai * kv, .aj = ix->aj * kv, .c = tir_dim_mul(pr->m, ix->c, kc->c, NULL)};
    } else {
      return unknown("index arithmetic other than +, - and * by a constant");
    }
    if (!r.c || llabs(r.ai) > (1 << 20) || llabs(r.aj) > (1 << 20)) return unknown("overflow");
    if (!causal_index_fits(&r, &op->result->type, dt)) return unknown("index arithmetic may round or wrap in its dtype");
    return r;
  }
  return causal_combine(pr, k, &x, &y, dt);
}

static Av eval_where(Prover *pr, TirOp *op) {
  Av c = eval(pr, op->operands[0].value), x = eval(pr, op->operands[1].value),
     y = eval(pr, op->operands[2].value);
  if (c.kind != AV_TWO) return unknown(c.why ? c.why : "where() condition not understood");
  if (x.kind != AV_TWO || y.kind != AV_TWO) return unknown("where() arms not understood");
  return causal_select3(pr, &c, &x, &y);
}

static Av eval_cast(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  TirDType from = op->operands[0].value->type.dtype, to = op->result->type.dtype;
  if (x.kind == AV_INDEX) {
    if (to == TIR_BOOL) return unknown("index cast to bool");
    return causal_index_fits(&x, &op->result->type, to) ? x : unknown("an index cast to a dtype that cannot hold it");
  }
  if (x.kind != AV_TWO) return x;
  Ival iv[2] = {x.a, x.b};
  for (int n = 0; n < 2; n++) {
    Ival v = iv[n];
    if (to == TIR_BOOL) {
      iv[n] = iv_is(v, 0) ? pt(0) : !has0(v) ? pt(1) : (Ival){0, 1};
    } else if (tir_dtype_is_float(to)) {
      if (!causal_fit_iv(to, v.lo, v.hi, &iv[n])) return unknown("cast");
    } else {
      /* To an integer: floats truncate toward zero (monotone); out of range,
       * inf or NaN has no exact meaning here. */
      if (tir_dtype_is_float(from)) v = (Ival){trunc(v.lo), trunc(v.hi)};
      if (!causal_fit_iv(to, v.lo, v.hi, &iv[n])) return unknown("cast to an integer that may not hold the values");
    }
  }
  return two(x.p, iv[0], iv[1]);
}

/* Views that move axes.  src[p] is the operand axis that becomes result axis
 * p (-1: a new axis of size 1).  The value may depend on the operand's last
 * two axes only (it is settled and invariant along the rest); those must
 * land in the result's last two, possibly swapped. */
static Av remap(Prover *pr, Av x, const TirType *in, const TirType *out, const int *src) {
  if (x.kind == AV_UNKNOWN) return x;
  int fi = in->rank - 2, fj = in->rank - 1, ti = out->rank - 2, tj = out->rank - 1;
  int pi = -1, pj = -1;
  for (int p = 0; p < out->rank; p++) {
    if (fi >= 0 && src[p] == fi) pi = p;
    if (fj >= 0 && src[p] == fj) pj = p;
  }
  bool di = dep_i(&x), dj = dep_j(&x);
  if ((di && pi != ti && pi != tj) || (dj && pj != ti && pj != tj) || (di && dj && pi < 0))
    return unknown("an axis the mask varies along moves into the leading dims");
  if (x.kind == AV_INDEX) {
    int64_t ai = 0, aj = 0;
    if (di) *(pi == ti ? &ai : &aj) += x.ai;
    if (dj) *(pj == ti ? &ai : &aj) += x.aj;
    x.ai = ai, x.aj = aj;
    return x;
  }
  if (x.kind == AV_TWO && x.pinned && dj && pj != tj)
    return unknown("a one-row mask's key axis moves");
  if (di && dj && pi == tj) { /* the two axes swapped */
    Pred p;
    if (!causal_p_swap(pr, x.p, &p)) return unknown("overflow");
    x.p = p;
  }
  return x;
}

static Av eval_permute(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  int64_t perm[TIR_MAX_RANK];
  if (!tir_op_permutation(op, perm)) return unknown("bad permutation");
  int src[TIR_MAX_RANK];
  for (int p = 0; p < op->result->type.rank; p++) src[p] = (int)perm[p];
  return remap(pr, x, &op->operands[0].value->type, &op->result->type, src);
}

/* reshape, squeeze, unsqueeze.  Exact in two cases: the trailing dims the
 * value varies along are the same before and after (row-major order keeps
 * their indices; leading dims may regroup freely), or only axes of size 1
 * are inserted or removed (the other axes keep their order and indices). */
static Av eval_reshape(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  if (x.kind == AV_UNKNOWN) return x;
  const TirType *in = &op->operands[0].value->type, *out = &op->result->type;
  int keep = dep_i(&x) ? 2 : dep_j(&x) ? 1 : 0;
  bool same_tail = in->rank >= keep && out->rank >= keep;
  for (int k = 1; k <= keep && same_tail; k++)
    if (in->dims[in->rank - k] != out->dims[out->rank - k]) same_tail = false;
  if (same_tail) return x;
  int src[TIR_MAX_RANK], a = 0;
  for (int p = 0; p < out->rank; p++) {
    if (is_one(out->dims[p])) {
      src[p] = -1;
      continue;
    }
    while (a < in->rank && is_one(in->dims[a])) a++;
    if (a >= in->rank || in->dims[a] != out->dims[p]) return unknown("reshape merges or splits a mask axis");
    src[p] = a++;
  }
  while (a < in->rank && is_one(in->dims[a])) a++;
  if (a != in->rank) return unknown("reshape merges or splits a mask axis");
  return remap(pr, x, in, out, src);
}

static Av eval_slice(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  if (x.kind == AV_UNKNOWN) return x;
  const TirType *in = &op->operands[0].value->type;
  int r = in->rank;
  int d = norm_dim(tir_op_attr_int(op, "dim"), r);
  int fr = r - 1 - d; /* 0: the j axis, 1: the i axis */
  if (fr >= 2 || (fr == 1 && !dep_i(&x)) || (fr == 0 && !dep_j(&x)))
    return x; /* an axis the value does not vary along */
  int64_t step = 0;
  if (!tir_dim_is_const(tir_op_attr_dim(op, "step"), &step) || step != 1) return unknown("slice with a step");
  const TirDim *start = tir_op_has_attr(op, "start") ? tir_op_attr_dim(op, "start") : D(pr, 0);
  /* The same bounds as shape inference: Python clamping when everything is
   * constant, a negative constant counting from the end otherwise. */
  int64_t s, size;
  if (tir_dim_is_const(start, &s) && tir_dim_is_const(in->dims[d], &size)) {
    if (s < 0) s += size;
    start = D(pr, s < 0 ? 0 : s > size ? size : s);
  } else if (tir_dim_is_const(start, &s) && s < 0) {
    start = dadd(pr, in->dims[d], start);
  }
  if (!start) return unknown("overflow");
  if (x.kind == AV_INDEX) {
    const TirDim *sh = tir_dim_mul(pr->m, start, D(pr, fr == 1 ? x.ai : x.aj), NULL);
    x.c = dadd(pr, x.c, sh);
    return x.c ? x : unknown("overflow");
  }
  Pred p;
  const TirDim *zero = D(pr, 0);
  if (!causal_p_shift(pr, x.p, fr == 1 ? start : zero, fr == 0 ? start : zero, &p)) return unknown("overflow");
  x.p = p;
  return x;
}

static Av eval_op(Prover *pr, TirOp *op) {
  TirDType dt = op->result->type.dtype;
  switch (op->kind) {
  case TIR_OP_CONST: return causal_from_data(pr, op);
  case TIR_OP_FULL: {
    const TirAttr *v = tir_op_attr_c(op, "value");
    Ival r;
    if (dt == TIR_BOOL) return uniform(pt(v->scalar.f != 0));
    return causal_fit_iv(dt, v->scalar.f, v->scalar.f, &r) ? uniform(r) : unknown("full() value out of range");
  }
  case TIR_OP_ARANGE: {
    int64_t step = 0;
    if (!tir_dim_is_const(tir_op_attr_dim(op, "step"), &step) || step != 1) return unknown("arange with a step");
    Av a = {.kind = AV_INDEX, .aj = 1, .c = tir_op_attr_dim(op, "start")};
    return causal_index_fits(&a, &op->result->type, dt) ? a : unknown("arange values its dtype cannot hold exactly");
  }
  case TIR_OP_LT: case TIR_OP_LE: case TIR_OP_GT: case TIR_OP_GE: case TIR_OP_EQ: case TIR_OP_NE:
    return eval_compare(pr, op);
  case TIR_OP_LOGICAL_NOT: {
    Av x = eval(pr, op->operands[0].value);
    if (x.kind != AV_TWO) return unknown("logical_not of an unknown mask");
    Ival one = pt(1), r1, r2;
    causal_iv_op(TIR_OP_NE, x.a, one, TIR_BOOL, &r1);
    causal_iv_op(TIR_OP_NE, x.b, one, TIR_BOOL, &r2);
    return two(x.p, r1, r2);
  }
  case TIR_OP_LOGICAL_AND: case TIR_OP_LOGICAL_OR: case TIR_OP_MAXIMUM: case TIR_OP_MINIMUM: {
    Av x = eval(pr, op->operands[0].value), y = eval(pr, op->operands[1].value);
    if (x.kind != AV_TWO || y.kind != AV_TWO) return unknown("logical op of an unknown mask");
    return causal_combine(pr, op->kind, &x, &y, dt);
  }
  case TIR_OP_NEG: {
    Av x = eval(pr, op->operands[0].value);
    if (x.kind != AV_TWO) return unknown("neg of an unknown mask");
    return two(x.p, (Ival){-x.a.hi, -x.a.lo}, (Ival){-x.b.hi, -x.b.lo});
  }
  case TIR_OP_WHERE: return eval_where(pr, op);
  case TIR_OP_MASKED_FILL: {
    /* masked_fill(x, m, v) = where(m, v, x), v stored in x's dtype. */
    Av x = eval(pr, op->operands[0].value), mk = eval(pr, op->operands[1].value);
    double v = tir_op_attr_float(op, "value");
    Ival fv;
    if (mk.kind != AV_TWO) return unknown(mk.why ? mk.why : "masked_fill of an unknown mask");
    if (x.kind != AV_TWO) return unknown(x.why ? x.why : "masked_fill of an unknown tensor");
    if (dt == TIR_BOOL) fv = pt(v != 0);
    else if (!causal_fit_iv(dt, v, v, &fv)) return unknown("masked_fill value out of range");
    Av f = uniform(fv);
    return causal_select3(pr, &mk, &f, &x);
  }
  case TIR_OP_TRIL: case TIR_OP_TRIU: {
    /* tril keeps j - i <= diagonal, triu keeps j - i >= diagonal; 0 elsewhere. */
    Av x = eval(pr, op->operands[0].value);
    if (x.kind != AV_TWO) return unknown("tril/triu of an unknown tensor");
    Pred kept = {op->kind == TIR_OP_TRIL ? PK_LE : PK_GE, D(pr, tir_op_attr_int(op, "diagonal"))};
    Av c = two(kept, pt(1), pt(0)), zero = uniform(pt(0));
    return causal_select3(pr, &c, &x, &zero);
  }
  case TIR_OP_ADD: case TIR_OP_SUB: case TIR_OP_MUL: case TIR_OP_DIV: return eval_arith(pr, op);
  case TIR_OP_CAST: return eval_cast(pr, op);
  case TIR_OP_UNSQUEEZE: case TIR_OP_SQUEEZE: case TIR_OP_RESHAPE: return eval_reshape(pr, op);
  case TIR_OP_TRANSPOSE: case TIR_OP_PERMUTE: return eval_permute(pr, op);
  case TIR_OP_SLICE: return eval_slice(pr, op);
  /* expand: the operand's axes that are not of size 1 are the result's, at
   * the same positions from the right; the size-1 ones are settled. */
  case TIR_OP_EXPAND: case TIR_OP_CONTIGUOUS: case TIR_OP_CLONE: return eval(pr, op->operands[0].value);
  default: return unknown("op not understood by the causal prover");
  }
}

/* May an op take a pinned (one-row) operand?  Only if its result has one
 * row too and the op keeps each element's j: elementwise ops, casts, expand
 * and reshapes (remap checks that j stays last). */
static bool pinned_ok(const TirOp *op) {
  const TirType *t = &op->result->type;
  if (t->rank >= 2 && !is_one(t->dims[t->rank - 2])) return false;
  switch (op->kind) {
  case TIR_OP_LT: case TIR_OP_LE: case TIR_OP_GT: case TIR_OP_GE: case TIR_OP_EQ: case TIR_OP_NE:
  case TIR_OP_LOGICAL_NOT: case TIR_OP_LOGICAL_AND: case TIR_OP_LOGICAL_OR: case TIR_OP_MAXIMUM:
  case TIR_OP_MINIMUM: case TIR_OP_NEG: case TIR_OP_WHERE: case TIR_OP_MASKED_FILL: case TIR_OP_ADD:
  case TIR_OP_SUB: case TIR_OP_MUL: case TIR_OP_DIV: case TIR_OP_CAST: case TIR_OP_EXPAND:
  case TIR_OP_CONTIGUOUS: case TIR_OP_CLONE: case TIR_OP_RESHAPE: case TIR_OP_SQUEEZE:
  case TIR_OP_UNSQUEEZE:
    return true;
  default: return false;
  }
}

static Av eval(Prover *pr, TirValue *v) {
  if (!v->def) return unknown("a function argument (runtime data)");
  if (v->id < pr->n && pr->done[v->id]) return pr->memo[v->id];
  if (pr->depth >= MAX_DEPTH) return unknown("mask expression too deep");
  pr->depth++;
  Av a = causal_settle(pr, eval_op(pr, v->def), &v->type);
  for (int k = 0; k < v->def->n_operands && a.kind != AV_UNKNOWN; k++) {
    TirValue *o = v->def->operands[k].value;
    if (o->id < pr->n && pr->done[o->id] && pr->memo[o->id].kind == AV_TWO && pr->memo[o->id].pinned &&
        !pinned_ok(v->def))
      a = unknown("a one-row mask broadcast over several rows");
  }
  pr->depth--;
  if (v->id < pr->n) {
    pr->memo[v->id] = a;
    pr->done[v->id] = true;
  }
  return a;
}

/* ------------------------------------------------------------ the claim */

static TirCausal fail(char *why, size_t n, const char *msg) {
  if (why && n) snprintf(why, n, "%s", msg);
  return TIR_NOT_CAUSAL;
}

bool tir_is_masking_value(double v, TirDType t) {
  return v <= -1e30 || (tir_dtype_is_float(t) && v <= tir_dtype_lowest(t));
}

static bool masks(Ival v, TirDType dt) { return tir_is_masking_value(v.hi, dt); }

/* A constant mask that is a band: causal AND a window, as Hugging Face folds
 * Mistral's sliding-window mask when every size is known.  The domain above
 * holds one half-plane per value, so a band is read from the data: every
 * slice must keep exactly the keys j with i' - W < j <= i' (i' = i + off,
 * off = 0 or S - L >= 0, W >= 1), which this checks element by element.
 * Returns TIR_NOT_CAUSAL when the data is anything else. */
static TirCausal band_from_data(const TirMaskQuery *q, int64_t *window) {
  TirValue *v = q->mask;
  while (v->def && (v->def->kind == TIR_OP_EXPAND || v->def->kind == TIR_OP_CONTIGUOUS ||
                    v->def->kind == TIR_OP_CLONE))
    v = v->def->operands[0].value;
  const TirOp *op = v->def;
  const TirType *t = &v->type;
  int64_t L, S, R, C, cnt;
  if (!op || op->kind != TIR_OP_CONST || !op->data || t->rank < 2 || !tir_type_numel(t, &cnt) ||
      cnt == 0 || cnt > ((int64_t)1 << 26) || !tir_dim_is_const(q->L, &L) ||
      !tir_dim_is_const(q->S, &S) || !tir_dim_is_const(t->dims[t->rank - 2], &R) ||
      !tir_dim_is_const(t->dims[t->rank - 1], &C) || R != L || C != S || L < 2 || S < 2)
    return TIR_NOT_CAUSAL;
  double sc = q->use == TIR_MASK_ADDITIVE ? q->mscale : 1;
  if (!(sc > 0)) return TIR_NOT_CAUSAL;
  /* keep(x): bool nonzero (or zero, negated); additive exactly 0 keeps, a
   * masking value masks, anything else is not a mask. */
#define KEEP(k, out)                                                                  \
  do {                                                                                \
    double x_ = tir_load_f64(t->dtype, op->data, (size_t)(k));                        \
    if (q->use == TIR_MASK_KEEP_BOOL) out = (x_ != 0) != q->negated;                  \
    else if (x_ * sc == 0) out = true;                                                \
    else if (tir_is_masking_value(x_ * sc, t->dtype))                                \
      out = false;                                                                    \
    else return TIR_NOT_CAUSAL;                                                       \
  } while (0)
  /* off from row 0's last kept key, W from the last row's first kept key. */
  int64_t off = -1, lo_last = -1;
  for (int64_t j = S - 1; j >= 0 && off < 0; j--) {
    bool k;
    KEEP(j, k);
    if (k) off = j;
  }
  for (int64_t j = 0; j < S && lo_last < 0; j++) {
    bool k;
    KEEP((L - 1) * S + j, k);
    if (k) lo_last = j;
  }
  if ((off != 0 && off != S - L) || lo_last <= 0) return TIR_NOT_CAUSAL;
  int64_t W = L - 1 + off - lo_last + 1;
  if (W < 1) return TIR_NOT_CAUSAL;
  for (int64_t k = 0; k < cnt; k++) {
    int64_t i = (k / S) % L, j = k % S;
    bool kept, want = j <= i + off && j > i + off - W;
    KEEP(k, kept);
    if (kept != want) return TIR_NOT_CAUSAL;
  }
#undef KEEP
  *window = W;
  return off == 0 ? TIR_CAUSAL_WINDOW_TOP_LEFT : TIR_CAUSAL_WINDOW_BOTTOM_RIGHT;
}

/* Turns the mask's value into the region it keeps, then names the region.
 *
 * Finite fills: the spec's sdpa treats a value at or below -1e30 (or the
 * dtype's lowest) like -inf.  The chain computes exp(s + f - max) with the
 * max taken over the row; when the row keeps a key, that max is at least the
 * kept score, so a masked term is exp(s' - s + f) with |s' - s| tiny against
 * |f|, which underflows to exactly 0 as exp(-inf) does.  So a finite fill is
 * -inf whenever every row keeps a key (scores below 1e29 in magnitude for
 * f = -1e30; below about 3e4 for f16's lowest), and the causal claims below
 * are made only when every row keeps one: top-left keeps j = 0, bottom-right
 * keeps j = 0 when S >= L. */
TirCausal tir_prove_mask_window(TirModule *m, const TirMaskQuery *q, int64_t *window, char *why,
                                size_t n) {
  TirCausal b = band_from_data(q, window);
  if (b != TIR_NOT_CAUSAL) return b;
  const TirType *t = &q->mask->type;
  int r = t->rank;
  const TirDim *mi = r >= 2 ? t->dims[r - 2] : NULL, *mj = r >= 1 ? t->dims[r - 1] : NULL;
  if ((mi && mi != q->L && !is_one(mi)) || (mj && mj != q->S && !is_one(mj)))
    return fail(why, n, "the mask's last two dims are not the scores'");
  Prover pr = {.m = m, .n = m->next_id};
  pr.memo = malloc((size_t)pr.n * sizeof *pr.memo + 1);
  pr.done = calloc((size_t)pr.n + 1, 1);
  TirCausal res = TIR_NOT_CAUSAL;
  if (!pr.memo || !pr.done) {
    fail(why, n, "out of memory");
    goto out;
  }
  Av a = eval(&pr, q->mask);
  if (a.kind == AV_TWO && a.pinned && !is_one(q->L)) {
    fail(why, n, "a one-row mask over several query rows");
    goto out;
  }
  if (a.kind != AV_TWO) {
    fail(why, n, a.kind == AV_UNKNOWN ? a.why : "the mask is an index, not a mask");
    goto out;
  }
  Pred keep = a.p;
  bool flip = false;
  if (q->use == TIR_MASK_KEEP_BOOL) {
    bool one_zero = iv_is(a.a, 1) && iv_is(a.b, 0), zero_one = iv_is(a.a, 0) && iv_is(a.b, 1);
    if (is_uniform(&a) && (iv_is(a.a, 1) || iv_is(a.a, 0))) flip = iv_is(a.a, 0);
    else if (zero_one) flip = true;
    else if (!one_zero) {
      fail(why, n, "bool mask values not exact");
      goto out;
    }
    flip ^= q->negated;
  } else {
    TirDType dt = q->mask->type.dtype;
    Ival sc = pt(q->mscale), ka, kb;
    if (q->negated || !(q->mscale > 0) || !causal_iv_op(TIR_OP_MUL, a.a, sc, dt, &ka) || !causal_iv_op(TIR_OP_MUL, a.b, sc, dt, &kb)) {
      fail(why, n, "the mask's scale is not a positive number");
      goto out;
    }
    if (is_uniform(&a) && (iv_is(ka, 0) || masks(ka, dt))) flip = !iv_is(ka, 0);
    else if (iv_is(ka, 0) && masks(kb, dt)) flip = false;
    else if (masks(ka, dt) && iv_is(kb, 0)) flip = true;
    else {
      fail(why, n, "additive mask values are neither exactly 0 nor a masking value (-inf, <= -1e30)");
      goto out;
    }
  }
  if (flip && !causal_p_not(&pr, keep, &keep)) {
    fail(why, n, "overflow");
    goto out;
  }
  const TirDim *L = q->L, *S = q->S, *one = D(&pr, 1);
  switch (keep.k) {
  case PK_ALL: res = TIR_MASK_KEEPS_ALL; break;
  case PK_NONE: fail(why, n, "the mask masks every position"); break;
  case PK_LE: {
    int64_t d;
    const TirDim *sl = dsub(&pr, S, L);
    if (causal_known_le(&pr, dsub(&pr, S, one), keep.d)) res = TIR_MASK_KEEPS_ALL; /* j - i <= S - 1 <= d */
    else if (tir_dim_is_const(keep.d, &d) && d == 0) res = TIR_CAUSAL_TOP_LEFT;
    else if (sl && keep.d == sl && causal_dim_nonneg(sl)) res = TIR_CAUSAL_BOTTOM_RIGHT;
    else if (sl && keep.d == sl)
      fail(why, n, "bottom-right causal, but L may exceed S: rows i < L - S would keep no key");
    else
      fail(why, n, "a triangle that is neither top-left nor bottom-right causal");
    break;
  }
  case PK_GE: {
    /* j - i >= d holds everywhere when d <= -(L - 1). */
    int64_t d;
    const TirDim *sl = dsub(&pr, S, L), *c = sl ? dsub(&pr, keep.d, sl) : NULL;
    if (causal_known_le(&pr, dadd(&pr, keep.d, dsub(&pr, L, one)), D(&pr, 0))) {
      res = TIR_MASK_KEEPS_ALL;
    } else if (tir_dim_is_const(keep.d, &d) && d <= 0) {
      /* j - i >= d = 1 - W: the W keys up to the query (j <= i is not part
       * of this claim: a window alone also attends to later keys). */
      res = TIR_WINDOW_TOP_LEFT, *window = 1 - d;
    } else if (c && tir_dim_is_const(c, &d) && d <= 0) {
      res = TIR_WINDOW_BOTTOM_RIGHT, *window = 1 - d;
    } else {
      fail(why, n, "an upper triangle (attends to later keys)");
    }
    break;
  }
  }
out:
  free(pr.memo);
  free(pr.done);
  return res;
}

TirCausal tir_prove_mask(TirModule *m, const TirMaskQuery *q, char *why, size_t n) {
  int64_t w = 0;
  TirCausal c = tir_prove_mask_window(m, q, &w, why, n);
  if (c >= TIR_WINDOW_TOP_LEFT) {
    if (why && n) snprintf(why, n, "a sliding window of %lld keys (sdpa's window=)", (long long)w);
    return TIR_NOT_CAUSAL;
  }
  return c;
}
