/* causal_domain.c — the mask prover's abstract domain (see the top of
 * causal.c): dims and their bounds, triangle predicates, settling a value
 * against its type, exact interval arithmetic per dtype, and abstract
 * values of constant tensors. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "causal_internal.h"

static const int64_t DATA_LIMIT = (int64_t)1 << 26; /* constant elements read one by one */
static const double SYM_BOUND = 1099511627776.0;    /* 2^40, see the top of causal.c */

/* a <= b for every value of the symbols (false when not known). */
bool causal_known_le(Prover *pr, const TirDim *a, const TirDim *b) {
  if (!a || !b) return false;
  if (a == b) return true;
  const TirDim *diff = tir_dim_sub(pr->m, a, b, NULL);
  int64_t x;
  return diff && tir_dim_is_const(diff, &x) && x <= 0;
}

/* d >= 0 for every value of the symbols: symbols are sizes (>= 0), and the
 * normal form is a constant plus monomials with coefficients. */
bool causal_dim_nonneg(const TirDim *d) {
  switch (d->kind) {
  case TIR_DIM_CONST: return d->value >= 0;
  case TIR_DIM_SYM: return true;
  case TIR_DIM_ADD:
    if (d->value < 0) return false;
    for (int i = 0; i < d->nargs; i++)
      if (!causal_dim_nonneg(d->args[i])) return false;
    return true;
  case TIR_DIM_MUL:
    if (d->value < 0) return false;
    for (int i = 0; i < d->nargs; i++)
      if (!causal_dim_nonneg(d->args[i])) return false;
    return true;
  case TIR_DIM_FLOORDIV: return causal_dim_nonneg(d->args[0]) && causal_dim_nonneg(d->args[1]);
  }
  return false;
}

/* An upper bound of |d| over every symbol value below SYM_BOUND. */
static double dim_bound(const TirDim *d) {
  double b;
  switch (d->kind) {
  case TIR_DIM_CONST: return fabs((double)d->value);
  case TIR_DIM_SYM: return SYM_BOUND;
  case TIR_DIM_ADD:
    b = fabs((double)d->value);
    for (int i = 0; i < d->nargs; i++) b += dim_bound(d->args[i]);
    return b;
  case TIR_DIM_MUL:
    b = fabs((double)d->value);
    for (int i = 0; i < d->nargs; i++) b *= dim_bound(d->args[i]);
    return b;
  case TIR_DIM_FLOORDIV: return dim_bound(d->args[0]) + 1;
  }
  return INFINITY;
}

/* ------------------------------------------------------------ predicates */

bool causal_p_not(Prover *pr, Pred p, Pred *out) {
  switch (p.k) {
  case PK_ALL: *out = (Pred){PK_NONE, NULL}; return true;
  case PK_NONE: *out = (Pred){PK_ALL, NULL}; return true;
  case PK_LE: /* not (j - i <= d)  =  j - i >= d + 1 */
    *out = (Pred){PK_GE, dadd(pr, p.d, D(pr, 1))};
    return out->d != NULL;
  case PK_GE:
    *out = (Pred){PK_LE, dsub(pr, p.d, D(pr, 1))};
    return out->d != NULL;
  }
  return false;
}

static bool p_eq(Pred a, Pred b) { return a.k == b.k && (a.k == PK_ALL || a.k == PK_NONE || a.d == b.d); }

/* The intersection, when it is again one predicate. */
static bool p_and(Prover *pr, Pred a, Pred b, Pred *out) {
  if (a.k == PK_ALL) return *out = b, true;
  if (b.k == PK_ALL) return *out = a, true;
  if (a.k == PK_NONE || b.k == PK_NONE) return *out = (Pred){PK_NONE, NULL}, true;
  if (a.k != b.k) return false; /* a band (sliding window) */
  bool a_first = a.k == PK_LE ? causal_known_le(pr, a.d, b.d) : causal_known_le(pr, b.d, a.d);
  bool b_first = a.k == PK_LE ? causal_known_le(pr, b.d, a.d) : causal_known_le(pr, a.d, b.d);
  if (a_first) return *out = a, true;
  if (b_first) return *out = b, true;
  return false;
}

/* The predicate seen through a shift of the indices: the value at (i, j) is
 * the operand's value at (i + di, j + dj). */
bool causal_p_shift(Prover *pr, Pred p, const TirDim *di, const TirDim *dj, Pred *out) {
  *out = p;
  if (p.k != PK_LE && p.k != PK_GE) return true;
  /* (j + dj) - (i + di) <= d   <=>   j - i <= d + di - dj  (same for >=) */
  out->d = dsub(pr, dadd(pr, p.d, di), dj);
  return out->d != NULL;
}

/* i and j swapped: j - i <= d  becomes  i - j <= d, i.e. j - i >= -d. */
bool causal_p_swap(Prover *pr, Pred p, Pred *out) {
  *out = p;
  if (p.k != PK_LE && p.k != PK_GE) return true;
  *out = (Pred){p.k == PK_LE ? PK_GE : PK_LE, dsub(pr, D(pr, 0), p.d)};
  return out->d != NULL;
}

/* ------------------------------------------------------------ settling */

/* The value read at i = 0 only, j in [0, C).  j - i <= d becomes j <= d:
 * true for every such j when C - 1 <= d, for none when d <= -1; in between it
 * depends on j alone, which no predicate here describes.  j - i >= d becomes
 * j >= d: every j when d <= 0, none when d >= C. */
static Av freeze_i(Prover *pr, Av x, const TirDim *C) {
  if (x.kind == AV_INDEX) {
    x.ai = 0;
    return x;
  }
  if (x.kind != AV_TWO || x.p.k == PK_ALL) return x;
  const TirDim *d = x.p.d;
  if (x.p.k == PK_LE) {
    if (causal_known_le(pr, dsub(pr, C, D(pr, 1)), d)) return uniform(x.a);
    if (causal_known_le(pr, d, D(pr, -1))) return uniform(x.b);
  } else {
    if (causal_known_le(pr, d, D(pr, 0))) return uniform(x.a);
    if (causal_known_le(pr, C, d)) return uniform(x.b);
  }
  /* A predicate of j alone: kept as j - i <= d read at i = 0 ("pinned").
   * It may only reach ops whose result also has one row (pinned_ok), and a
   * claim only when the scores have one row too (decoding, L = 1). */
  x.pinned = true;
  return x;
}

/* The value read at j = 0 only, i in [0, R).  j - i <= d becomes i >= -d:
 * every i when d >= 0, none when R - 1 < -d (R + d <= 0).  j - i >= d becomes
 * i <= -d: every i when R - 1 <= -d (R + d <= 1), none when d >= 1. */
static Av freeze_j(Prover *pr, Av x, const TirDim *R) {
  if (x.kind == AV_INDEX) {
    x.aj = 0;
    return x;
  }
  if (x.kind != AV_TWO || x.p.k == PK_ALL) return x;
  const TirDim *d = x.p.d, *rd = dadd(pr, R, d);
  if (x.p.k == PK_LE) {
    if (causal_known_le(pr, D(pr, 0), d)) return uniform(x.a);
    if (causal_known_le(pr, rd, D(pr, 0))) return uniform(x.b);
  } else {
    if (causal_known_le(pr, rd, D(pr, 1))) return uniform(x.a);
    if (causal_known_le(pr, D(pr, 1), d)) return uniform(x.b);
  }
  return unknown("a triangle on an axis of size 1 (broadcast) depends on one index alone");
}

/* Specialises x to the axes of t that have size 1 or do not exist. */
Av causal_settle(Prover *pr, Av x, const TirType *t) {
  int r = t->rank;
  const TirDim *one = D(pr, 1);
  const TirDim *R = r >= 2 ? t->dims[r - 2] : one, *C = r >= 1 ? t->dims[r - 1] : one;
  if (x.kind != AV_UNKNOWN && (r < 1 || is_one(C))) x = freeze_j(pr, x, R);
  if (x.kind != AV_UNKNOWN && (r < 2 || is_one(R))) x = freeze_i(pr, x, C);
  return x;
}

/* ------------------------------------------------------------ exactness */

/* Is every value of INDEX x over type t an integer that dtype dt holds
 * exactly?  |ai*i + aj*j + c| <= |c| + |ai|*R + |aj|*C. */
bool causal_index_fits(const Av *x, const TirType *t, TirDType dt) {
  int r = t->rank;
  double R = r >= 2 ? dim_bound(t->dims[r - 2]) : 1, C = r >= 1 ? dim_bound(t->dims[r - 1]) : 1;
  double B = dim_bound(x->c) + fabs((double)x->ai) * R + fabs((double)x->aj) * C;
  switch (dt) {
  case TIR_F64: return B <= 9007199254740992.0; /* 2^53 */
  case TIR_F32: return B <= 16777216.0;         /* 2^24 */
  case TIR_F16: return B <= 2048.0;             /* 2^11 */
  case TIR_BF16: return B <= 256.0;             /* 2^8 */
  case TIR_I64: return B <= 4611686018427387904.0; /* 2^62 */
  case TIR_I32: return B <= 2147483647.0;
  case TIR_I16: return B <= 32767.0;
  case TIR_I8: return B <= 127.0;
  case TIR_U8: {
    int64_t c;
    return B <= 255.0 && tir_dim_is_const(x->c, &c) && c >= 0 && x->ai >= 0 && x->aj >= 0;
  }
  default: return false;
  }
}

/* v rounded to dtype dt the way a store does.  Round-to-nearest is monotone,
 * so rounding the ends of an interval bounds every rounded member.  The
 * runtimes and this may differ on a tie's last bit, so a value that did not
 * survive rounding unchanged is widened by 2^-7 of itself (more than a bf16
 * ulp); exactly representable values (0, 1, +-inf) stay exact. */
static double round_to(TirDType dt, double v, int dir) {
  unsigned char buf[8];
  tir_store_f64(dt, buf, 0, v);
  double r = tir_load_f64(dt, buf, 0);
  if (r == v || !isfinite(r)) return r;
  return r + dir * fabs(r) * 0.0078125;
}

/* [lo, hi] as values of dt after the op that made them; false when they do
 * not fit (integers never wrap or round here). */
bool causal_fit_iv(TirDType dt, double lo, double hi, Ival *out) {
  if (isnan(lo) || isnan(hi)) return false;
  if (tir_dtype_is_float(dt)) {
    *out = (Ival){round_to(dt, lo, -1), round_to(dt, hi, 1)};
    return true;
  }
  double mn, mx;
  if (!tir_dtype_int_range(dt, &mn, &mx)) return false;
  if (lo < mn || hi > mx || lo != floor(lo) || hi != floor(hi) || fabs(lo) > 9e15 || fabs(hi) > 9e15)
    return false;
  *out = (Ival){lo, hi};
  return true;
}

static bool has_inf(Ival x) { return isinf(x.lo) || isinf(x.hi); }

/* x OP y over every member, in dtype dt; false if some pair gives NaN. */
bool causal_iv_op(TirOpKind k, Ival x, Ival y, TirDType dt, Ival *out) {
  double lo, hi;
  switch (k) {
  case TIR_OP_ADD:
    if ((x.lo == -INFINITY && y.hi == INFINITY) || (x.hi == INFINITY && y.lo == -INFINITY)) return false;
    lo = x.lo + y.lo, hi = x.hi + y.hi;
    break;
  case TIR_OP_SUB:
    if ((x.hi == INFINITY && y.hi == INFINITY) || (x.lo == -INFINITY && y.lo == -INFINITY)) return false;
    lo = x.lo - y.hi, hi = x.hi - y.lo;
    break;
  case TIR_OP_MUL:
  case TIR_OP_DIV: {
    if (k == TIR_OP_MUL && ((has0(x) && has_inf(y)) || (has0(y) && has_inf(x)))) return false;
    if (k == TIR_OP_DIV && (has0(y) || (has_inf(x) && has_inf(y)) || !tir_dtype_is_float(dt))) return false;
    double c[4] = {x.lo, x.lo, x.hi, x.hi}, e[4] = {y.lo, y.hi, y.lo, y.hi};
    lo = INFINITY, hi = -INFINITY;
    for (int n = 0; n < 4; n++) {
      double v = k == TIR_OP_MUL ? c[n] * e[n] : c[n] / e[n];
      if (isnan(v)) return false;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    break;
  }
  case TIR_OP_MAXIMUM: lo = fmax(x.lo, y.lo), hi = fmax(x.hi, y.hi); break;
  case TIR_OP_MINIMUM: lo = fmin(x.lo, y.lo), hi = fmin(x.hi, y.hi); break;
  case TIR_OP_LOGICAL_AND: lo = fmin(x.lo, y.lo), hi = fmin(x.hi, y.hi); break;
  case TIR_OP_LOGICAL_OR: lo = fmax(x.lo, y.lo), hi = fmax(x.hi, y.hi); break;
  /* Comparisons: [1,1] when true for every pair, [0,0] when for none. */
  case TIR_OP_LT: lo = x.hi < y.lo, hi = !(x.lo >= y.hi); break;
  case TIR_OP_LE: lo = x.hi <= y.lo, hi = !(x.lo > y.hi); break;
  case TIR_OP_GT: lo = x.lo > y.hi, hi = !(x.hi <= y.lo); break;
  case TIR_OP_GE: lo = x.lo >= y.hi, hi = !(x.hi < y.lo); break;
  case TIR_OP_EQ:
    lo = x.lo == x.hi && y.lo == y.hi && x.lo == y.lo;
    hi = !(x.hi < y.lo || y.hi < x.lo);
    break;
  case TIR_OP_NE:
    lo = x.hi < y.lo || y.hi < x.lo;
    hi = !(x.lo == x.hi && y.lo == y.hi && x.lo == y.lo);
    break;
  default: return false;
  }
  if (dt == TIR_BOOL) return *out = (Ival){lo, hi}, !isnan(lo) && !isnan(hi);
  return causal_fit_iv(dt, lo, hi, out);
}

/* The values of x on region r (or on its complement when compl). */
static Ival restrict_to(Prover *pr, const Av *x, Pred r, bool compl) {
  if (is_uniform(x)) return x->a;
  Pred nr, nq, t;
  if (compl) {
    if (!causal_p_not(pr, r, &nr)) return hull(x->a, x->b);
    r = nr;
  }
  if (p_eq(r, x->p)) return x->a;
  bool has_nq = causal_p_not(pr, x->p, &nq);
  if (has_nq && p_eq(r, nq)) return x->b;
  if (r.k == PK_NONE) return x->a; /* an empty region: any value will do */
  if (p_and(pr, r, x->p, &t) && p_eq(t, r)) return x->a;           /* r inside p */
  if (has_nq && p_and(pr, r, nq, &t) && p_eq(t, r)) return x->b;   /* r outside p */
  return hull(x->a, x->b);
}

/* x OP y elementwise for TWO values in the result's coordinates. */
Av causal_combine(Prover *pr, TirOpKind k, const Av *x, const Av *y, TirDType dt) {
  Ival r1, r2, r3;
  /* One operand uniform, or both split by the same predicate (or by a
   * predicate and its negation): each is one interval on each side of it. */
  Pred ny;
  bool negations = causal_p_not(pr, y->p, &ny) && p_eq(x->p, ny);
  if (is_uniform(x) || is_uniform(y) || p_eq(x->p, y->p) || negations) {
    Pred p = is_uniform(x) ? y->p : x->p;
    Ival xa = restrict_to(pr, x, p, false), xb = restrict_to(pr, x, p, true);
    Ival ya = restrict_to(pr, y, p, false), yb = restrict_to(pr, y, p, true);
    if (!causal_iv_op(k, xa, ya, dt, &r1) || !causal_iv_op(k, xb, yb, dt, &r2)) return unknown("an op that may give NaN or leave the dtype");
    return two(p, r1, r2);
  }
  /* Two different triangles: exact on their intersection, anything the
   * other three combinations give elsewhere. */
  Pred r;
  if (!p_and(pr, x->p, y->p, &r)) return unknown("two triangles that meet in a band");
  Ival o;
  if (!causal_iv_op(k, x->a, y->a, dt, &r1) || !causal_iv_op(k, x->a, y->b, dt, &r2) || !causal_iv_op(k, x->b, y->a, dt, &r3) ||
      !causal_iv_op(k, x->b, y->b, dt, &o))
    return unknown("an op that may give NaN or leave the dtype");
  return two(r, r1, hull(hull(r2, r3), o));
}

/* where(c, x, y) for TWO values. */
Av causal_select3(Prover *pr, const Av *c, const Av *x, const Av *y) {
  if (is_uniform(c)) {
    if (iv_is(c->a, 1)) return *x;
    if (iv_is(c->a, 0)) return *y;
    return unknown("where() condition not exact");
  }
  Pred p = c->p;
  if (iv_is(c->a, 0) && iv_is(c->b, 1)) {
    if (!causal_p_not(pr, c->p, &p)) return unknown("overflow");
  } else if (!(iv_is(c->a, 1) && iv_is(c->b, 0))) {
    return unknown("where() condition not exact");
  }
  return two(p, restrict_to(pr, x, p, false), restrict_to(pr, y, p, true));
}

/* ------------------------------------------------------------ constants from data */

/* A constant: uniform, or a triangle of nonzeros that holds in every
 * leading slice, each part's values gathered into an interval. */
Av causal_from_data(Prover *pr, const TirOp *op) {
  const TirType *t = &op->result->type;
  int64_t n;
  if (!op->data || !tir_type_numel(t, &n)) return unknown("constant without data");
  if (n == 0) return unknown("empty constant");
  if (n > DATA_LIMIT) return unknown("constant too large to check");
  TirDType dt = t->dtype;
  Ival nz = {INFINITY, -INFINITY};
  bool any_nz = false, any_z = false;
  for (int64_t k = 0; k < n; k++) {
    double x = tir_load_f64(dt, op->data, (size_t)k);
    if (isnan(x)) return unknown("a constant holding NaN");
    if (x != 0) {
      nz = hull(nz, pt(x));
      any_nz = true;
    } else {
      any_z = true;
    }
  }
  if (!any_nz) return uniform(pt(0));
  if (!any_z) return uniform(nz);
  if (t->rank < 2) return unknown("a constant of rank < 2 with zeros and nonzeros");
  int64_t R, C;
  tir_dim_is_const(t->dims[t->rank - 2], &R);
  tir_dim_is_const(t->dims[t->rank - 1], &C);
#define NZ(s, i, j) (tir_load_f64(dt, op->data, (size_t)((s) * R * C + (i) * C + (j))) != 0)
  /* The candidate from the first slice's rows. */
  Pred p;
  if (NZ(0, 0, 0)) {
    /* LE d: row i is nonzero for j <= i + d; d from the first row not full. */
    int64_t row = -1, cnt = 0;
    for (int64_t i = 0; i < R && row < 0; i++) {
      int64_t c = 0;
      while (c < C && NZ(0, i, c)) c++;
      if (c < C) row = i, cnt = c;
    }
    if (row < 0) p = (Pred){PK_ALL, NULL};
    else p = (Pred){PK_LE, D(pr, cnt - 1 - row)};
  } else {
    /* GE d: row i is nonzero for j >= i + d; d from the first row with one. */
    int64_t row = -1, f = 0;
    for (int64_t i = 0; i < R && row < 0; i++)
      for (int64_t c = 0; c < C; c++)
        if (NZ(0, i, c)) {
          row = i, f = c;
          break;
        }
    if (row < 0) p = (Pred){PK_NONE, NULL};
    else p = (Pred){PK_GE, D(pr, f - row)};
  }
  int64_t d = 0;
  if (p.k == PK_LE || p.k == PK_GE) tir_dim_is_const(p.d, &d);
  for (int64_t s = 0; s < n / (R * C); s++)
    for (int64_t i = 0; i < R; i++)
      for (int64_t j = 0; j < C; j++) {
        bool want = p.k == PK_ALL ? true : p.k == PK_NONE ? false : p.k == PK_LE ? j - i <= d : j - i >= d;
        if (NZ(s, i, j) != want) return unknown("constant is not triangular");
      }
#undef NZ
  return two(p, nz, pt(0));
}