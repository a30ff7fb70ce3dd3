/* causal_internal.h — the mask prover's abstract domain, shared by
 * causal_domain.c (its operations: dims, predicates, settling, exact
 * interval arithmetic, constants from data) and causal.c (the transfer
 * functions and tir_prove_mask).  The domain itself is described at the top
 * of causal.c.  Not part of the public API. */
#ifndef TIR_CAUSAL_INTERNAL_H
#define TIR_CAUSAL_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "causal.h"

typedef enum { PK_ALL, PK_NONE, PK_LE, PK_GE } PredKind;
typedef struct {
  PredKind k;
  const TirDim *d;
} Pred;

typedef struct {
  double lo, hi;
} Ival;

typedef enum { AV_UNKNOWN, AV_INDEX, AV_TWO } AvKind;
typedef struct {
  AvKind kind;
  int64_t ai, aj;  /* INDEX */
  const TirDim *c; /* INDEX */
  Pred p;          /* TWO */
  Ival a, b;       /* TWO: values where p holds / elsewhere */
  bool pinned;     /* TWO: the tensor has one row (i = 0) and p is read there
                      (j - i <= d is j <= d); see freeze_i */
  const char *why; /* UNKNOWN */
} Av;

typedef struct {
  TirModule *m;
  Av *memo;
  bool *done;
  uint32_t n;
  int depth;
} Prover;

static inline Av unknown(const char *why) { return (Av){.kind = AV_UNKNOWN, .why = why}; }
static inline Ival pt(double v) { return (Ival){v, v}; }
static inline bool iv_is(Ival x, double v) { return x.lo == v && x.hi == v; }
static inline Ival hull(Ival x, Ival y) {
  return (Ival){x.lo < y.lo ? x.lo : y.lo, x.hi > y.hi ? x.hi : y.hi};
}

/* TWO in normal form: ALL keeps only A, NONE becomes ALL over B. */
static inline Av two(Pred p, Ival a, Ival b) {
  if (p.k == PK_NONE) p.k = PK_ALL, a = b;
  if (p.k == PK_ALL) b = a;
  return (Av){.kind = AV_TWO, .p = p, .a = a, .b = b};
}
static inline Av uniform(Ival a) { return two((Pred){PK_ALL, NULL}, a, a); }
static inline bool is_uniform(const Av *x) { return x->kind == AV_TWO && x->p.k == PK_ALL; }
static inline bool uniform_point(const Av *x, double *v) {
  if (!is_uniform(x) || x->a.lo != x->a.hi) return false;
  *v = x->a.lo;
  return true;
}

static inline const TirDim *D(Prover *pr, int64_t v) { return tir_dim_const(pr->m, v); }
static inline bool is_one(const TirDim *d) {
  int64_t v;
  return tir_dim_is_const(d, &v) && v == 1;
}
static inline const TirDim *dadd(Prover *pr, const TirDim *a, const TirDim *b) {
  return a && b ? tir_dim_add(pr->m, a, b, NULL) : NULL;
}
static inline const TirDim *dsub(Prover *pr, const TirDim *a, const TirDim *b) {
  return a && b ? tir_dim_sub(pr->m, a, b, NULL) : NULL;
}

/* Does the value depend on i (on j)? */
static inline bool dep_i(const Av *x) {
  return (x->kind == AV_INDEX && x->ai != 0) ||
         (x->kind == AV_TWO && !x->pinned && (x->p.k == PK_LE || x->p.k == PK_GE));
}
static inline bool dep_j(const Av *x) {
  return (x->kind == AV_INDEX && x->aj != 0) ||
         (x->kind == AV_TWO && (x->p.k == PK_LE || x->p.k == PK_GE));
}

static inline bool has0(Ival x) { return x.lo <= 0 && x.hi >= 0; }

/* The operations of causal_domain.c. */
bool causal_known_le(Prover *pr, const TirDim *a, const TirDim *b);
bool causal_dim_nonneg(const TirDim *d);
bool causal_p_not(Prover *pr, Pred p, Pred *out);
bool causal_p_shift(Prover *pr, Pred p, const TirDim *di, const TirDim *dj, Pred *out);
bool causal_p_swap(Prover *pr, Pred p, Pred *out);
Av causal_settle(Prover *pr, Av x, const TirType *t);
bool causal_index_fits(const Av *x, const TirType *t, TirDType dt);
bool causal_fit_iv(TirDType dt, double lo, double hi, Ival *out);
bool causal_iv_op(TirOpKind k, Ival x, Ival y, TirDType dt, Ival *out);
Av causal_combine(Prover *pr, TirOpKind k, const Av *x, const Av *y, TirDType dt);
Av causal_select3(Prover *pr, const Av *c, const Av *x, const Av *y);
Av causal_from_data(Prover *pr, const TirOp *op);

#endif
