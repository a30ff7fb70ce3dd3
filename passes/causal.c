/* causal.c — the causal-mask prover (see causal.h).
 *
 * Abstract values, over the mask's last two positions i (row, the second
 * last dim) and j (column, the last dim):
 *   CONST v        every element is v
 *   INDEX ai,aj,c  the element at (i, j) is ai*i + aj*j + c   (arange & co.)
 *   PRED P         a bool tensor, true exactly where P(i, j)
 *   NZ P           a number tensor, nonzero exactly where P (ones: the
 *                  nonzeros are all 1)
 *   FMASK P        a float tensor, 0 where P and "-inf" elsewhere
 * with P one of ALL, NONE, LE d (j - i <= d) or GE d (j - i >= d), d a dim
 * expression.  Leading dims are ignored as long as the value does not vary
 * along them: every transfer below keeps that true or gives up. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "causal.h"

typedef enum { PK_ALL, PK_NONE, PK_LE, PK_GE } PredKind;
typedef struct {
  PredKind k;
  const TirDim *d;
} Pred;

typedef enum { AV_UNKNOWN, AV_CONST, AV_INDEX, AV_PRED, AV_NZ, AV_FMASK } AvKind;
typedef struct {
  AvKind kind;
  double v;
  int64_t ai, aj;
  const TirDim *c;
  Pred p;
  bool ones;
  const char *why; /* for UNKNOWN */
} Av;

typedef struct {
  TirModule *m;
  Av *memo;
  bool *done;
  uint32_t n;
  int depth;
} Prover;

enum { MAX_DEPTH = 64 };
static const int64_t DATA_LIMIT = (int64_t)1 << 26; /* elements checked one by one */

static Av unknown(const char *why) { return (Av){.kind = AV_UNKNOWN, .why = why}; }
static Av pred(AvKind kind, Pred p) { return (Av){.kind = kind, .p = p}; }

static bool is_masked_value(double v, TirDType t) {
  return v <= -1e30 || (tir_dtype_is_float(t) && v <= tir_dtype_lowest(t));
}

/* ------------------------------------------------------------ predicates */

static Pred p_not(Prover *pr, Pred p, bool *ok) {
  const char *err = NULL;
  switch (p.k) {
  case PK_ALL: return (Pred){PK_NONE, NULL};
  case PK_NONE: return (Pred){PK_ALL, NULL};
  case PK_LE: { /* not (j - i <= d)  =  j - i >= d + 1 */
    const TirDim *d = tir_dim_add(pr->m, p.d, tir_dim_const(pr->m, 1), &err);
    if (!d) *ok = false;
    return (Pred){PK_GE, d};
  }
  case PK_GE: {
    const TirDim *d = tir_dim_sub(pr->m, p.d, tir_dim_const(pr->m, 1), &err);
    if (!d) *ok = false;
    return (Pred){PK_LE, d};
  }
  }
  *ok = false;
  return p;
}

/* Returns -1 / 0 / 1 when a < b / a == b / a > b is known for all symbol
 * values, 2 when it is not. */
static int dim_cmp(Prover *pr, const TirDim *a, const TirDim *b) {
  if (a == b) return 0;
  const TirDim *diff = tir_dim_sub(pr->m, a, b, NULL);
  int64_t x;
  if (diff && tir_dim_is_const(diff, &x)) return x < 0 ? -1 : x > 0 ? 1 : 0;
  return 2;
}

static bool p_and(Prover *pr, Pred a, Pred b, Pred *out) {
  if (a.k == PK_ALL) return *out = b, true;
  if (b.k == PK_ALL) return *out = a, true;
  if (a.k == PK_NONE || b.k == PK_NONE) return *out = (Pred){PK_NONE, NULL}, true;
  if (a.k != b.k) return false; /* a band (sliding window): not expressible, not causal */
  int c = dim_cmp(pr, a.d, b.d);
  if (c == 2) return false;
  /* LE: the smaller bound wins; GE: the larger. */
  *out = (a.k == PK_LE) == (c <= 0) ? a : b;
  return true;
}

static bool p_or(Prover *pr, Pred a, Pred b, Pred *out) {
  if (a.k == PK_NONE) return *out = b, true;
  if (b.k == PK_NONE) return *out = a, true;
  if (a.k == PK_ALL || b.k == PK_ALL) return *out = (Pred){PK_ALL, NULL}, true;
  if (a.k != b.k) return false;
  int c = dim_cmp(pr, a.d, b.d);
  if (c == 2) return false;
  *out = (a.k == PK_LE) == (c >= 0) ? a : b;
  return true;
}

/* The predicate seen through a shift of the indices: the value at (i, j) is
 * the operand's value at (i + di, j + dj). */
static bool p_shift(Prover *pr, Pred p, const TirDim *di, const TirDim *dj, Pred *out) {
  *out = p;
  if (p.k != PK_LE && p.k != PK_GE) return true;
  /* (j + dj) - (i + di) <= d   <=>   j - i <= d + di - dj  (same for >=) */
  const TirDim *d = tir_dim_add(pr->m, p.d, di, NULL);
  if (d) d = tir_dim_sub(pr->m, d, dj, NULL);
  if (!d) return false;
  out->d = d;
  return true;
}

/* i and j swapped: j - i <= d  becomes  i - j <= d, i.e. j - i >= -d. */
static bool p_swap(Prover *pr, Pred p, Pred *out) {
  *out = p;
  if (p.k != PK_LE && p.k != PK_GE) return true;
  const TirDim *d = tir_dim_sub(pr->m, tir_dim_const(pr->m, 0), p.d, NULL);
  if (!d) return false;
  *out = (Pred){p.k == PK_LE ? PK_GE : PK_LE, d};
  return true;
}

/* ------------------------------------------------------------ constants from data */

/* Classifies a constant tensor: uniform, or a triangular pattern of nonzeros
 * that holds in every leading slice. */
static Av from_data(Prover *pr, const TirOp *op) {
  const TirType *t = &op->result->type;
  int64_t n;
  if (!op->data || !tir_type_numel(t, &n)) return unknown("constant without data");
  if (n == 0) return unknown("empty constant");
  if (n > DATA_LIMIT) return unknown("constant too large to check");
  TirDType dt = t->dtype;
  double first = tir_load_f64(dt, op->data, 0);
  bool uniform = true, all01 = true, fmask = true;
  for (int64_t k = 0; k < n; k++) {
    double x = tir_load_f64(dt, op->data, (size_t)k);
    if (!(x == first || (x != x && first != first))) uniform = false;
    if (x != 0 && x != 1) all01 = false;
    if (x != 0 && !is_masked_value(x, dt)) fmask = false;
  }
  if (uniform) return (Av){.kind = AV_CONST, .v = first};
  if (t->rank < 2) return unknown("a non-uniform constant of rank < 2");
  int64_t R, C;
  tir_dim_is_const(t->dims[t->rank - 2], &R);
  tir_dim_is_const(t->dims[t->rank - 1], &C);
  /* Find the candidate from the first slice: the nonzero pattern of row r. */
#define NZ(s, i, j) (tir_load_f64(dt, op->data, (size_t)((s) * R * C + (i) * C + (j))) != 0)
  Pred p;
  if (NZ(0, 0, 0)) {
    /* LE d: row i is nonzero for j <= i + d.  Read d off the first row that
     * is not full. */
    int64_t row = -1, cnt = 0;
    for (int64_t i = 0; i < R && row < 0; i++) {
      int64_t c = 0;
      while (c < C && NZ(0, i, c)) c++;
      if (c < C) row = i, cnt = c;
    }
    if (row < 0) p = (Pred){PK_ALL, NULL};
    else p = (Pred){PK_LE, tir_dim_const(pr->m, cnt - 1 - row)};
  } else {
    /* GE d: row i is nonzero for j >= i + d.  Read d off the first row that
     * has a nonzero. */
    int64_t row = -1, f = 0;
    for (int64_t i = 0; i < R && row < 0; i++)
      for (int64_t c = 0; c < C; c++)
        if (NZ(0, i, c)) {
          row = i, f = c;
          break;
        }
    if (row < 0) return unknown("all-zero slice in a non-uniform constant");
    p = (Pred){PK_GE, tir_dim_const(pr->m, f - row)};
  }
  int64_t d = 0;
  if (p.k != PK_ALL) tir_dim_is_const(p.d, &d);
  for (int64_t s = 0; s < n / (R * C); s++)
    for (int64_t i = 0; i < R; i++)
      for (int64_t j = 0; j < C; j++) {
        bool want = p.k == PK_ALL ? true : p.k == PK_LE ? j - i <= d : j - i >= d;
        if (NZ(s, i, j) != want) return unknown("constant is not triangular");
      }
#undef NZ
  if (dt == TIR_BOOL) return pred(AV_PRED, p);
  if (fmask && !all01) {
    bool ok = true;
    Pred keep = p_not(pr, p, &ok); /* nonzero = masked, so keep where zero */
    return ok ? pred(AV_FMASK, keep) : unknown("overflow");
  }
  Av a = pred(AV_NZ, p);
  a.ones = all01;
  return a;
}

/* ------------------------------------------------------------ transfer functions */

static Av eval(Prover *pr, TirValue *v);

static int norm_dim(int64_t d, int rank) { return (int)(d < 0 ? d + rank : d); }

/* A scalar-valued operand (0-d or one element constant, or a full()). */
static bool scalar_of(Prover *pr, TirValue *v, double *out) {
  Av a = eval(pr, v);
  if (a.kind != AV_CONST) return false;
  *out = a.v;
  return true;
}

static Av compare_index(Prover *pr, TirOpKind k, Av x, Av y) {
  /* diff = x - y = ai*i + aj*j + c; only (ai, aj) = (-1, 1) or (1, -1),
   * i.e. +-(j - i) + c, gives a triangular predicate. */
  int64_t ai = x.ai - y.ai, aj = x.aj - y.aj;
  const char *err = NULL;
  const TirDim *c = tir_dim_sub(pr->m, x.c, y.c, &err);
  if (!c) return unknown("overflow");
  bool lt = k == TIR_OP_LT || k == TIR_OP_GT;
  if (k == TIR_OP_GE || k == TIR_OP_GT) { /* x >= y  <=>  y - x <= 0 */
    ai = -ai, aj = -aj;
    c = tir_dim_sub(pr->m, tir_dim_const(pr->m, 0), c, &err);
    if (!c) return unknown("overflow");
  }
  /* Now the predicate is diff <= 0 (or < 0 when lt). */
  if (lt) c = tir_dim_add(pr->m, c, tir_dim_const(pr->m, 1), &err); /* diff < 0 <=> diff + 1 <= 0 */
  if (!c) return unknown("overflow");
  if (ai == -1 && aj == 1) { /* j - i + c <= 0  <=>  j - i <= -c */
    const TirDim *d = tir_dim_sub(pr->m, tir_dim_const(pr->m, 0), c, &err);
    return d ? pred(AV_PRED, (Pred){PK_LE, d}) : unknown("overflow");
  }
  if (ai == 1 && aj == -1) /* i - j + c <= 0  <=>  j - i >= c */
    return pred(AV_PRED, (Pred){PK_GE, c});
  return unknown("comparison is not between a row and a column index");
}

static Av eval_compare(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value), y = eval(pr, op->operands[1].value);
  TirOpKind k = op->kind;
  if (x.kind == AV_INDEX && y.kind == AV_INDEX && k != TIR_OP_EQ && k != TIR_OP_NE)
    return compare_index(pr, k, x, y);
  /* NZ(P) compared with 0 (or 1 when the nonzeros are ones). */
  if (y.kind == AV_NZ && x.kind == AV_CONST) {
    Av t = x;
    x = y;
    y = t;
    if (k == TIR_OP_LT) k = TIR_OP_GT;
    else if (k == TIR_OP_GT) k = TIR_OP_LT;
    else if (k == TIR_OP_LE) k = TIR_OP_GE;
    else if (k == TIR_OP_GE) k = TIR_OP_LE;
  }
  if (x.kind == AV_NZ && y.kind == AV_CONST) {
    bool ok = true;
    if (y.v == 0 && k == TIR_OP_NE) return pred(AV_PRED, x.p);
    if (y.v == 0 && k == TIR_OP_EQ) {
      Pred n = p_not(pr, x.p, &ok);
      return ok ? pred(AV_PRED, n) : unknown("overflow");
    }
    if (x.ones) {
      if ((y.v == 1 && k == TIR_OP_EQ) || (y.v == 0 && k == TIR_OP_GT) ||
          (y.v == 1 && k == TIR_OP_GE))
        return pred(AV_PRED, x.p);
      if ((y.v == 1 && k == TIR_OP_NE) || (y.v == 1 && k == TIR_OP_LT) ||
          (y.v == 0 && k == TIR_OP_LE)) {
        Pred n = p_not(pr, x.p, &ok);
        return ok ? pred(AV_PRED, n) : unknown("overflow");
      }
    }
  }
  return unknown("comparison not understood");
}

static Av eval_tri(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  int64_t dg = tir_op_attr_int(op, "diagonal");
  bool lower = op->kind == TIR_OP_TRIL;
  TirDType dt = op->result->type.dtype;
  const TirDim *d = tir_dim_const(pr->m, dg);
  /* tril keeps j - i <= diagonal, triu keeps j - i >= diagonal; the rest is 0. */
  Pred kept = {lower ? PK_LE : PK_GE, d};
  if (x.kind == AV_CONST) {
    if (x.v == 0) return x;
    if (is_masked_value(x.v, dt)) { /* -inf inside the kept triangle, 0 outside */
      bool ok = true;
      Pred keep = p_not(pr, kept, &ok);
      return ok ? pred(AV_FMASK, keep) : unknown("overflow");
    }
    Av a = pred(dt == TIR_BOOL ? AV_PRED : AV_NZ, kept);
    a.ones = x.v == 1;
    return a;
  }
  if (x.kind == AV_NZ || x.kind == AV_PRED) {
    Pred p;
    if (!p_and(pr, x.p, kept, &p)) return unknown("triangle of a triangle in the other direction");
    Av a = x;
    a.p = p;
    return a;
  }
  return unknown("tril/triu of an unknown tensor");
}

static Av eval_where(Prover *pr, TirOp *op) {
  Av c = eval(pr, op->operands[0].value);
  if (c.kind != AV_PRED) return unknown("where() condition not understood");
  double a, b;
  if (!scalar_of(pr, op->operands[1].value, &a) || !scalar_of(pr, op->operands[2].value, &b))
    return unknown("where() arms are not constants");
  TirDType dt = op->result->type.dtype;
  bool ok = true;
  Pred np = p_not(pr, c.p, &ok);
  if (!ok) return unknown("overflow");
  if (dt == TIR_BOOL) {
    if (a != 0 && b == 0) return pred(AV_PRED, c.p);
    if (a == 0 && b != 0) return pred(AV_PRED, np);
    return unknown("where() with equal bool arms");
  }
  if (a == 0 && is_masked_value(b, dt)) return pred(AV_FMASK, c.p);
  if (is_masked_value(a, dt) && b == 0) return pred(AV_FMASK, np);
  if (a != 0 && b == 0) {
    Av r = pred(AV_NZ, c.p);
    r.ones = a == 1;
    return r;
  }
  if (a == 0 && b != 0) {
    Av r = pred(AV_NZ, np);
    r.ones = b == 1;
    return r;
  }
  return unknown("where() arms are not a mask pattern");
}

static Av eval_arith(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value), y = eval(pr, op->operands[1].value);
  TirDType dt = op->result->type.dtype;
  const char *err = NULL;
  switch (op->kind) {
  case TIR_OP_ADD:
  case TIR_OP_SUB: {
    bool sub = op->kind == TIR_OP_SUB;
    if (x.kind == AV_INDEX && (y.kind == AV_INDEX || y.kind == AV_CONST)) {
      if (y.kind == AV_CONST) {
        if (y.v != floor(y.v) || fabs(y.v) > 9e15) return unknown("non-integer index offset");
        y = (Av){.kind = AV_INDEX, .c = tir_dim_const(pr->m, (int64_t)y.v)};
      }
      Av r = x;
      r.ai = sub ? x.ai - y.ai : x.ai + y.ai;
      r.aj = sub ? x.aj - y.aj : x.aj + y.aj;
      r.c = sub ? tir_dim_sub(pr->m, x.c, y.c, &err) : tir_dim_add(pr->m, x.c, y.c, &err);
      return r.c ? r : unknown("overflow");
    }
    if (!sub && y.kind == AV_INDEX && x.kind == AV_CONST) {
      Av t = x;
      x = y;
      y = t;
      if (y.v != floor(y.v) || fabs(y.v) > 9e15) return unknown("non-integer index offset");
      x.c = tir_dim_add(pr->m, x.c, tir_dim_const(pr->m, (int64_t)y.v), &err);
      return x.c ? x : unknown("overflow");
    }
    if (!sub && x.kind == AV_FMASK && y.kind == AV_FMASK) {
      Pred p;
      return p_and(pr, x.p, y.p, &p) ? pred(AV_FMASK, p) : unknown("sum of masks is a band");
    }
    if (x.kind == AV_FMASK && y.kind == AV_CONST && y.v == 0) return x;
    if (!sub && y.kind == AV_FMASK && x.kind == AV_CONST && x.v == 0) return y;
    /* (1 - ones(P)) is ones(not P) */
    if (sub && x.kind == AV_CONST && x.v == 1 && y.kind == AV_NZ && y.ones) {
      bool ok = true;
      Av r = pred(AV_NZ, p_not(pr, y.p, &ok));
      r.ones = true;
      return ok ? r : unknown("overflow");
    }
    return unknown("addition not understood");
  }
  case TIR_OP_MUL: {
    if (x.kind == AV_CONST) {
      Av t = x;
      x = y;
      y = t;
    }
    if (y.kind != AV_CONST) return unknown("product not understood");
    /* ones(P) * big_negative = 0 where not P, -inf where P */
    if (x.kind == AV_NZ && x.ones && is_masked_value(y.v, dt)) {
      bool ok = true;
      Pred keep = p_not(pr, x.p, &ok);
      return ok ? pred(AV_FMASK, keep) : unknown("overflow");
    }
    if (x.kind == AV_FMASK && y.v > 0) return x; /* -inf * positive stays -inf */
    if (x.kind == AV_NZ && y.v != 0 && y.v == y.v) {
      Av r = x;
      r.ones = r.ones && y.v == 1;
      return r;
    }
    return unknown("product not understood");
  }
  default: return unknown("arithmetic not understood");
  }
}

/* Unsqueeze at result position p of a value of rank r: axes left of p move one
 * further from the right. */
static Av eval_unsqueeze(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  int r = op->operands[0].value->type.rank;
  int p = norm_dim(tir_op_attr_int(op, "dim"), r + 1);
  switch (x.kind) {
  case AV_CONST: case AV_UNKNOWN: return x;
  case AV_INDEX:
    if (x.ai != 0 && p >= r - 1) return unknown("index moved out of the last two dims");
    if (x.aj != 0 && p == r) { /* the column index becomes a row index */
      x.ai = x.aj;
      x.aj = 0;
    }
    return x;
  default:
    if (p >= r - 1) return unknown("unsqueeze inside the last two dims of a mask");
    return x;
  }
}

static Av eval_permute(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  int r = op->operands[0].value->type.rank;
  int64_t perm[TIR_MAX_RANK];
  if (x.kind == AV_CONST || x.kind == AV_UNKNOWN) return x;
  if (!tir_op_permutation(op, perm)) return unknown("bad permutation");
  if (r < 2) return x;
  /* Only the last two positions matter; the rest must stay leading. */
  for (int i = 0; i < r - 2; i++)
    if (perm[i] >= r - 2) return unknown("permute moves a mask axis into the leading dims");
  if (perm[r - 2] == r - 2) return x;
  if (x.kind == AV_INDEX) {
    int64_t t = x.ai;
    x.ai = x.aj;
    x.aj = t;
    return x;
  }
  Pred p;
  if (!p_swap(pr, x.p, &p)) return unknown("overflow");
  x.p = p;
  return x;
}

static Av eval_slice(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  if (x.kind == AV_CONST || x.kind == AV_UNKNOWN) return x;
  const TirType *in = &op->operands[0].value->type;
  int r = in->rank;
  int d = norm_dim(tir_op_attr_int(op, "dim"), r);
  int64_t step = 0;
  if (!tir_dim_is_const(tir_op_attr_dim(op, "step"), &step) || step != 1)
    return unknown("slice with a step");
  int fr = r - 1 - d;
  if (fr >= 2) return x; /* a leading dim: the value does not vary along it */
  const TirDim *start = tir_op_has_attr(op, "start") ? tir_op_attr_dim(op, "start")
                                                     : tir_dim_const(pr->m, 0);
  /* The same bounds as shape inference: Python clamping when everything is
   * constant, a negative constant counting from the end otherwise. */
  int64_t s, size;
  if (tir_dim_is_const(start, &s) && tir_dim_is_const(in->dims[d], &size)) {
    if (s < 0) s += size;
    start = tir_dim_const(pr->m, s < 0 ? 0 : s > size ? size : s);
  } else if (tir_dim_is_const(start, &s) && s < 0) {
    start = tir_dim_add(pr->m, in->dims[d], start, NULL);
    if (!start) return unknown("overflow");
  }
  if (x.kind == AV_INDEX) {
    const TirDim *shift = tir_dim_mul(pr->m, start, tir_dim_const(pr->m, fr == 1 ? x.ai : x.aj), NULL);
    x.c = shift ? tir_dim_add(pr->m, x.c, shift, NULL) : NULL;
    return x.c ? x : unknown("overflow");
  }
  const TirDim *zero = tir_dim_const(pr->m, 0);
  Pred p;
  if (!p_shift(pr, x.p, fr == 1 ? start : zero, fr == 0 ? start : zero, &p)) return unknown("overflow");
  x.p = p;
  return x;
}

/* A reshape that only regroups leading dims keeps the last two. */
static Av eval_reshape(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  if (x.kind == AV_CONST || x.kind == AV_UNKNOWN) return x;
  const TirType *in = &op->operands[0].value->type, *out = &op->result->type;
  int keep = x.kind == AV_INDEX && x.ai == 0 ? 1 : 2;
  if (in->rank < keep || out->rank < keep) return unknown("reshape of a mask below rank 2");
  for (int i = 1; i <= keep; i++)
    if (in->dims[in->rank - i] != out->dims[out->rank - i])
      return unknown("reshape changes the last two dims of a mask");
  return x;
}

static Av eval_cast(Prover *pr, TirOp *op) {
  Av x = eval(pr, op->operands[0].value);
  TirDType to = op->result->type.dtype;
  switch (x.kind) {
  case AV_PRED:
    if (to == TIR_BOOL) return x;
    x.kind = AV_NZ;
    x.ones = true;
    return x;
  case AV_NZ:
    if (to == TIR_BOOL) return pred(AV_PRED, x.p);
    return x;
  case AV_FMASK: return tir_dtype_is_float(to) ? x : unknown("cast of a float mask to integers");
  case AV_CONST:
    if (to == TIR_BOOL) x.v = x.v != 0;
    return x;
  case AV_INDEX: return to == TIR_BOOL ? unknown("index cast to bool") : x;
  default: return x;
  }
}

static Av eval_op(Prover *pr, TirOp *op) {
  switch (op->kind) {
  case TIR_OP_CONST: return from_data(pr, op);
  case TIR_OP_FULL: {
    const TirAttr *v = tir_op_attr_c(op, "value");
    return (Av){.kind = AV_CONST, .v = v->scalar.f};
  }
  case TIR_OP_ARANGE: {
    int64_t step = 0;
    if (!tir_dim_is_const(tir_op_attr_dim(op, "step"), &step) || step != 1)
      return unknown("arange with a step");
    return (Av){.kind = AV_INDEX, .aj = 1, .c = tir_op_attr_dim(op, "start")};
  }
  case TIR_OP_LT: case TIR_OP_LE: case TIR_OP_GT: case TIR_OP_GE: case TIR_OP_EQ: case TIR_OP_NE:
    return eval_compare(pr, op);
  case TIR_OP_LOGICAL_NOT: {
    Av x = eval(pr, op->operands[0].value);
    if (x.kind != AV_PRED) return unknown("logical_not of an unknown mask");
    bool ok = true;
    x.p = p_not(pr, x.p, &ok);
    return ok ? x : unknown("overflow");
  }
  case TIR_OP_LOGICAL_AND:
  case TIR_OP_LOGICAL_OR: {
    Av x = eval(pr, op->operands[0].value), y = eval(pr, op->operands[1].value);
    if (x.kind != AV_PRED || y.kind != AV_PRED) return unknown("logical op of an unknown mask");
    Pred p;
    bool ok = op->kind == TIR_OP_LOGICAL_AND ? p_and(pr, x.p, y.p, &p) : p_or(pr, x.p, y.p, &p);
    return ok ? pred(AV_PRED, p) : unknown("a band of two triangles (e.g. a sliding window)");
  }
  case TIR_OP_WHERE: return eval_where(pr, op);
  case TIR_OP_MASKED_FILL: {
    /* masked_fill(zeros, m, -inf) is an additive mask keeping not m. */
    Av x = eval(pr, op->operands[0].value), mk = eval(pr, op->operands[1].value);
    double v = tir_op_attr_float(op, "value");
    if (x.kind == AV_CONST && x.v == 0 && mk.kind == AV_PRED &&
        is_masked_value(v, op->result->type.dtype)) {
      bool ok = true;
      Pred keep = p_not(pr, mk.p, &ok);
      return ok ? pred(AV_FMASK, keep) : unknown("overflow");
    }
    return unknown("masked_fill not understood");
  }
  case TIR_OP_TRIL: case TIR_OP_TRIU: return eval_tri(pr, op);
  case TIR_OP_ADD: case TIR_OP_SUB: case TIR_OP_MUL: return eval_arith(pr, op);
  case TIR_OP_CAST: return eval_cast(pr, op);
  case TIR_OP_UNSQUEEZE: return eval_unsqueeze(pr, op);
  case TIR_OP_TRANSPOSE: case TIR_OP_PERMUTE: return eval_permute(pr, op);
  case TIR_OP_SLICE: return eval_slice(pr, op);
  case TIR_OP_RESHAPE: return eval_reshape(pr, op);
  case TIR_OP_EXPAND: case TIR_OP_CONTIGUOUS: case TIR_OP_CLONE:
    return eval(pr, op->operands[0].value);
  default: return unknown("op not understood by the causal prover");
  }
}

static Av eval(Prover *pr, TirValue *v) {
  if (!v->def) return unknown("a function argument (runtime data)");
  if (v->id < pr->n && pr->done[v->id]) return pr->memo[v->id];
  if (pr->depth >= MAX_DEPTH) return unknown("mask expression too deep");
  pr->depth++;
  Av a = eval_op(pr, v->def);
  pr->depth--;
  if (v->id < pr->n) {
    pr->memo[v->id] = a;
    pr->done[v->id] = true;
  }
  return a;
}

static bool prover_init(Prover *pr, TirModule *m) {
  pr->m = m;
  pr->n = m->next_id;
  pr->depth = 0;
  pr->memo = malloc((size_t)pr->n * sizeof *pr->memo + 1);
  pr->done = calloc((size_t)pr->n + 1, 1);
  return pr->memo && pr->done;
}

static void prover_free(Prover *pr) {
  free(pr->memo);
  free(pr->done);
}

TirCausal tir_prove_causal(TirModule *m, TirValue *mask, TirMaskUse use, bool negated,
                           const TirDim *L, const TirDim *S) {
  const TirType *t = &mask->type;
  if (t->rank < 2 || t->dims[t->rank - 2] != L || t->dims[t->rank - 1] != S) return TIR_NOT_CAUSAL;
  Prover pr;
  TirCausal res = TIR_NOT_CAUSAL;
  if (!prover_init(&pr, m)) goto out;
  Av a = eval(&pr, mask);
  Pred keep;
  if (use == TIR_MASK_KEEP_BOOL && a.kind == AV_PRED) {
    bool ok = true;
    keep = negated ? p_not(&pr, a.p, &ok) : a.p;
    if (!ok) goto out;
  } else if (use == TIR_MASK_ADDITIVE && a.kind == AV_FMASK && !negated) {
    keep = a.p;
  } else {
    goto out;
  }
  if (keep.k != PK_LE) goto out;
  int64_t d;
  if (tir_dim_is_const(keep.d, &d) && d == 0) res = TIR_CAUSAL_TOP_LEFT;
  else if (keep.d == tir_dim_sub(m, S, L, NULL)) res = TIR_CAUSAL_BOTTOM_RIGHT;
out:
  prover_free(&pr);
  return res;
}

void tir_describe_mask(TirModule *m, TirValue *mask, char *buf, size_t n) {
  Prover pr;
  if (!prover_init(&pr, m)) {
    snprintf(buf, n, "unknown: out of memory");
    prover_free(&pr);
    return;
  }
  Av a = eval(&pr, mask);
  static const char *const KIND[] = {"unknown", "constant", "index", "bool mask", "0/1 mask",
                                     "additive mask"};
  char d[128] = "";
  if (a.kind >= AV_PRED && (a.p.k == PK_LE || a.p.k == PK_GE)) tir_dim_snprint(d, sizeof d, a.p.d);
  switch (a.kind) {
  case AV_UNKNOWN: snprintf(buf, n, "unknown: %s", a.why ? a.why : "?"); break;
  case AV_CONST: snprintf(buf, n, "constant %g", a.v); break;
  case AV_INDEX: snprintf(buf, n, "index %lld*i + %lld*j", (long long)a.ai, (long long)a.aj); break;
  default:
    if (a.p.k == PK_ALL) snprintf(buf, n, "%s, true everywhere", KIND[a.kind]);
    else if (a.p.k == PK_NONE) snprintf(buf, n, "%s, true nowhere", KIND[a.kind]);
    else snprintf(buf, n, "%s, true where j - i %s %s", KIND[a.kind], a.p.k == PK_LE ? "<=" : ">=", d);
  }
  prover_free(&pr);
}
