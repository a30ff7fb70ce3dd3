/* canonicalize.c — the `canonicalize` pass: local rewrites to a fixed point.
 *
 * A worklist driver visits every op; when a rewrite fires, the ops whose
 * operand changed (and the defining ops of values that lost their last use)
 * go back on the worklist, so each rewrite costs time proportional to what
 * it touched.  The worklist is a FIFO seeded with every op in program order:
 * operands are simplified before their users are looked at, and an op that
 * many rewrites re-queue (a concat of 10^5 inputs) waits in the queue once
 * instead of being rescanned after each of them, which keeps a function of
 * 10^5 ops near-linear.  Every rewrite keeps types exactly: a replacement
 * value must have the replaced value's type, so broadcasting identities
 * (mul(%x, 1) where the 1 widens %x) are left alone.  New ops get the loc and the name hint of the op they
 * replace.  Ops left without uses are erased on the way (all ops are pure).
 *
 * The rewrites, by group (each matcher below carries its TIR pattern):
 *   constants   fold small constant expressions (fold.c), put the constant
 *               operand of a commutative op second, flip lt/le/gt/ge so the
 *               constant is second;
 *   identities  contiguous, clone, same-shape expand/reshape, same-dtype
 *               cast, inference dropout, identity permute, transpose of a dim
 *               with itself, no-op squeeze, whole-dim slice, one-input
 *               concat, x+0, x-0, x*1, x/1, x**1, max/min/and/or(x, x),
 *               where(c, x, x), where(all-true/all-false const, a, b);
 *   chains      permute/transpose pairs -> one permute (or nothing),
 *               reshape/squeeze/unsqueeze under reshape -> one reshape,
 *               squeeze/unsqueeze pairs that cancel, lossless cast pairs,
 *               neg(neg(x)), logical_not(logical_not(x));
 *   concat      inputs with a constant zero size along `dim` (or legacy
 *               empty f32[0] inputs) are dropped;
 *   attention   written-out softmax, bmm over reshapes, leading-dim views
 *               above 3-D add/mul (the forms fuse-attention reads);
 *   models      the written-out gelu(tanh) raised to gelu, matmul by a
 *               weight plus a bias raised to linear, gelu(tanh) moved above
 *               a reshape onto its linear (GEMM epilogues).
 * The rewrite budget is a guard, not a limit: when it runs out (only a rule
 * cycle, i.e. a bug, could get there) the pass stops with valid IR.
 */
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "passes.h"

typedef struct {
  TirModule *m;
  const TirPassOptions *opts;
  TirOp **ring; /* the worklist: a FIFO ring buffer, cap a power of two */
  size_t head, n, cap;
  unsigned char *queued; /* by op id: on the worklist now */
  size_t qcap;
  size_t budget; /* rewrites left; a guard against a rewrite cycle (a bug) */
  TirStatus st;
} Canon;

/* ------------------------------------------------------------ the worklist */

static void push(Canon *c, TirOp *op) {
  if (!op || !op->func || op->kind == TIR_OP_RETURN || c->st != TIR_OK) return;
  if (op->id >= c->qcap) {
    size_t nc = c->qcap ? c->qcap : 1024;
    while (nc <= op->id) nc *= 2;
    unsigned char *q = realloc(c->queued, nc);
    if (!q) {
      c->st = TIR_ERR_INTERNAL;
      return;
    }
    memset(q + c->qcap, 0, nc - c->qcap);
    c->queued = q;
    c->qcap = nc;
  }
  if (c->queued[op->id]) return;
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 1024;
    TirOp **r = malloc(nc * sizeof *r);
    if (!r) {
      c->st = TIR_ERR_INTERNAL;
      return;
    }
    for (size_t i = 0; i < c->n; i++) r[i] = c->ring[(c->head + i) & (c->cap - 1)];
    free(c->ring);
    c->ring = r;
    c->head = 0;
    c->cap = nc;
  }
  c->queued[op->id] = 1;
  c->ring[(c->head + c->n++) & (c->cap - 1)] = op;
}

static TirOp *pop(Canon *c) {
  TirOp *op = c->ring[c->head];
  c->head = (c->head + 1) & (c->cap - 1);
  c->n--;
  c->queued[op->id] = 0;
  return op;
}

/* Erases op (its result must be unused) and queues the ops whose results
 * just lost their last use, so chains of dead ops go too, and the last
 * reader of a value left with one use (rules that need one use may match
 * it now). */
static void erase_op(Canon *c, TirOp *op) {
  tir_op_erase(op);
  /* tir_op_erase unlinks the uses but leaves operand values readable. */
  for (int i = 0; i < op->n_operands; i++) {
    TirValue *v = op->operands[i].value;
    if (v->def && !v->first_use) push(c, v->def);
    else if (v->first_use && !v->first_use->next_use) push(c, v->first_use->owner);
  }
}

/* Replaces every use of old's result with v (same type) and erases old. */
static bool replace(Canon *c, TirOp *old, TirValue *v) {
  if (!tir_type_equal(&old->result->type, &v->type)) return false;
  /* Only the users that move see a new operand; v's other users do not
   * (re-queueing them would be quadratic when v has many users). */
  for (const TirOperand *u = old->result->first_use; u; u = u->next_use) push(c, u->owner);
  tir_value_replace_all_uses(old->result, v);
  erase_op(c, old);
  if (c->budget) c->budget--;
  return true;
}

static void internal_error(Canon *c, const TirOp *op, const char *what) {
  tir_diag_error(c->opts->diag, op->loc, "internal error: canonicalize: %s (rewriting '%s')",
                 what, tir_op_schema(op->kind)->name);
  c->st = TIR_ERR_INTERNAL;
}

/* A new op of `kind` over `operands`, detached, with old's loc; attributes
 * are set by the caller before place(). */
static TirOp *new_op(Canon *c, const TirOp *old, TirOpKind kind, TirValue *const *operands,
                     int n) {
  TirOp *op = tir_op_new(c->m, kind, operands, n, old->loc);
  if (!op) c->st = TIR_ERR_INTERNAL;
  return op;
}

/* Inserts nop before old (its operands dominate old, so they dominate it)
 * and infers its type. */
static bool place(Canon *c, TirOp *old, TirOp *nop) {
  tir_op_insert_before(old, nop);
  if (nop->kind == TIR_OP_CONST || tir_infer_op(c->m, nop, c->opts->diag) == TIR_OK) return true;
  tir_op_erase(nop);
  internal_error(c, old, "a new op failed type inference");
  return false;
}

/* Makes the placed nop stand for old: same name hint, all uses moved. */
static bool commit(Canon *c, TirOp *old, TirOp *nop) {
  if (!tir_type_equal(&old->result->type, &nop->result->type)) {
    tir_op_erase(nop);
    internal_error(c, old, "a rewrite changed the result type");
    return false;
  }
  nop->result->name = old->result->name;
  push(c, nop);
  return replace(c, old, nop->result);
}

/* ------------------------------------------------------------ small queries */

static TirOp *def_of(const TirOp *op, int i, TirOpKind kind) {
  TirOp *d = op->operands[i].value->def;
  return d && d->kind == kind ? d : NULL;
}

static bool is_const(const TirValue *v) { return v->def && v->def->kind == TIR_OP_CONST; }

/* v is a constant of at most TIR_FOLD_MAX_ELEMS elements, each == want
 * (so 0 matches -0 too; a bound keeps this cheap on large weights). */
static bool const_all(const TirValue *v, double want) {
  const void *d = tir_fold_const_data(v);
  int64_t n;
  if (!d || !tir_type_numel(&v->type, &n) || n == 0 || n > TIR_FOLD_MAX_ELEMS) return false;
  for (int64_t i = 0; i < n; i++)
    if (!(tir_load_f64(v->type.dtype, d, (size_t)i) == want)) return false;
  return true;
}

/* The permutation of a permute/transpose as output dim -> input dim. */
static bool perm_of(const TirOp *op, int64_t *perm, int *rank) {
  *rank = op->operands[0].value->type.rank;
  return tir_op_permutation(op, perm);
}

static bool perm_is_identity(const int64_t *perm, int r) {
  for (int i = 0; i < r; i++)
    if (perm[i] != i) return false;
  return true;
}

/* Every value of `from` is exactly representable in `to`, so a cast there
 * and back (or on to a third dtype) loses nothing. */
static bool cast_exact(TirDType from, TirDType to) {
  if (from == to || from == TIR_BOOL) return true;
  if (to == TIR_BOOL) return false;
  /* Ranges of the integer dtypes, and the integers each float holds exactly
   * (2^(mantissa bits + 1)). */
  static const struct {
    double lo, hi;
  } R[TIR_NUM_DTYPES] = {
      [TIR_I8] = {-128, 127},          [TIR_U8] = {0, 255},
      [TIR_I16] = {-32768, 32767},     [TIR_I32] = {-2147483648.0, 2147483647.0},
      [TIR_I64] = {-9.3e18, 9.3e18},   [TIR_F16] = {-2048, 2048},
      [TIR_BF16] = {-256, 256},        [TIR_F32] = {-16777216.0, 16777216.0},
      [TIR_F64] = {-9007199254740992.0, 9007199254740992.0},
  };
  bool ff = tir_dtype_is_float(from), tf = tir_dtype_is_float(to);
  if (ff && !tf) return false;
  if (ff && tf) /* f16 and bf16 each hold values the other cannot */
    return to == TIR_F64 || (to == TIR_F32 && from != TIR_F64);
  /* integer -> integer or float: a range check */
  if (tf && from == TIR_I64) return false;
  return R[to].lo <= R[from].lo && R[from].hi <= R[to].hi;
}

/* ------------------------------------------------------------ identities */

/* Replace op by its operand i when that is type-exact. */
static bool to_operand(Canon *c, TirOp *op, int i) {
  return replace(c, op, op->operands[i].value);
}

/* %y = contiguous(%x)  ->  %x
 * %y = clone(%x)       ->  %x
 * %y = expand(%x, shape=S)  ->  %x   when S is %x's shape
 * %y = reshape(%x, shape=S) ->  %x   when S is %x's shape
 * %y = cast(%x, dtype=T)    ->  %x   when T is %x's dtype
 * %y = squeeze(%x, dim=d)   ->  %x   when dim d is not 1 (squeeze does nothing)
 * (replace() checks the types are equal, which is exactly the condition.) */
static bool same_type_identity(Canon *c, TirOp *op) { return to_operand(c, op, 0); }

/* %y = dropout(%x, p=P, training=false)  ->  %x
 * %y = dropout(%x, p=0, training=true)   ->  %x */
static bool dropout_identity(Canon *c, TirOp *op) {
  if (tir_op_attr_bool(op, "training") && tir_op_attr_float(op, "p") > 0) return false;
  return to_operand(c, op, 0);
}

/* %y = slice(%x, dim=d, start=0, step=1)            ->  %x   when it keeps the whole dim
 * %y = slice(%x, dim=d, start=0, end=N, step=1)     ->  %x   (N the size of dim d)
 * With step 1 and start 0, an unchanged type means nothing was cut. */
static bool slice_identity(Canon *c, TirOp *op) {
  int64_t step, start;
  if (!tir_dim_is_const(tir_op_attr_dim(op, "step"), &step) || step != 1) return false;
  if (tir_op_has_attr(op, "start") &&
      !(tir_dim_is_const(tir_op_attr_dim(op, "start"), &start) && start == 0))
    return false;
  return to_operand(c, op, 0);
}

/* %y = permute(%x, dims=[0, 1, ..., n-1])  ->  %x
 * %y = transpose(%x, dim0=a, dim1=a)        ->  %x */
static bool permute_identity(Canon *c, TirOp *op) {
  int64_t p[TIR_MAX_RANK];
  int r;
  return perm_of(op, p, &r) && perm_is_identity(p, r) && to_operand(c, op, 0);
}

/* %y = transpose(transpose(%x, dim0=a, dim1=b), dim0=a, dim1=b)  ->  %x
 * %y = permute(permute(%x, dims=P), dims=Q)   ->  permute(%x, dims=[P[Q[0]], ...])  or %x
 * %y = transpose(permute(%x, dims=P), ...), permute(transpose(%x, ...), ...): likewise */
static bool compose_permutes(Canon *c, TirOp *op) {
  TirOp *in = def_of(op, 0, TIR_OP_PERMUTE);
  if (!in) in = def_of(op, 0, TIR_OP_TRANSPOSE);
  int64_t po[TIR_MAX_RANK], pi[TIR_MAX_RANK], pc[TIR_MAX_RANK];
  int ro, ri;
  if (!in || !perm_of(op, po, &ro) || !perm_of(in, pi, &ri) || ro != ri) return false;
  /* y[.., k, ..] = t[.., po[k], ..] and t[.., j, ..] = x[.., pi[j], ..]. */
  for (int k = 0; k < ro; k++) pc[k] = pi[po[k]];
  TirValue *x = in->operands[0].value;
  if (perm_is_identity(pc, ro)) return replace(c, op, x);
  TirOp *nop = new_op(c, op, TIR_OP_PERMUTE, &x, 1);
  if (!nop) return false;
  tir_op_set_ints(nop, "dims", pc, ro);
  return place(c, op, nop) && commit(c, op, nop);
}

/* %y = squeeze(unsqueeze(%x, dim=d), dim=d)  ->  %x
 * %y = unsqueeze(squeeze(%x, dim=d), dim=d)  ->  %x   (dim d of %x is 1)
 * and any squeeze/unsqueeze/reshape over a squeeze/unsqueeze/reshape whose
 * result has %x's type: these ops keep row-major order, so equal types mean
 * equal values. */
static bool view_pair_cancels(Canon *c, TirOp *op) {
  TirOp *in = op->operands[0].value->def;
  if (!in || (in->kind != TIR_OP_SQUEEZE && in->kind != TIR_OP_UNSQUEEZE &&
              in->kind != TIR_OP_RESHAPE))
    return false;
  return replace(c, op, in->operands[0].value);
}

/* %y = reshape(reshape(%x, shape=S1), shape=S2)    ->  reshape(%x, shape=S2)
 * %y = reshape(squeeze(%x, ...), shape=S2)         ->  reshape(%x, shape=S2)
 * %y = reshape(unsqueeze(%x, ...), shape=S2)       ->  reshape(%x, shape=S2)
 * Applied repeatedly, a chain of any length becomes one reshape. */
static bool compose_reshapes(Canon *c, TirOp *op) {
  TirOp *in = op->operands[0].value->def;
  if (!in || (in->kind != TIR_OP_SQUEEZE && in->kind != TIR_OP_UNSQUEEZE &&
              in->kind != TIR_OP_RESHAPE))
    return false;
  TirValue *x = in->operands[0].value;
  if (tir_type_equal(&x->type, &op->result->type)) return replace(c, op, x);
  const TirAttr *shape = tir_op_attr_c(op, "shape");
  if (shape->kind != TIR_ATTR_DIMS) return false;
  TirOp *nop = new_op(c, op, TIR_OP_RESHAPE, &x, 1);
  if (!nop) return false;
  /* Keep the outer shape as written (a -1 stays -1: it resolves against the
   * same element count).  Should inference resolve it differently, spell
   * the shape out from the known result type instead. */
  tir_op_set_dims(nop, "shape", shape->dims.v, shape->dims.n);
  if (!place(c, op, nop)) return false;
  if (!tir_type_equal(&nop->result->type, &op->result->type)) {
    tir_op_set_dims(nop, "shape", op->result->type.dims, op->result->type.rank);
    if (tir_infer_op(c->m, nop, c->opts->diag) != TIR_OK) {
      tir_op_erase(nop);
      internal_error(c, op, "a new reshape failed type inference");
      return false;
    }
  }
  return commit(c, op, nop);
}

/* %y = cast(cast(%x, dtype=T1), dtype=T2)  ->  %x                 when T2 is %x's dtype
 *                                          ->  cast(%x, dtype=T2) otherwise
 * only when the inner cast is exact (f16->f32->f16 goes, f32->f16->f32 stays). */
static bool compose_casts(Canon *c, TirOp *op) {
  TirOp *in = def_of(op, 0, TIR_OP_CAST);
  if (!in) return false;
  TirValue *x = in->operands[0].value;
  if (!cast_exact(x->type.dtype, in->result->type.dtype)) return false;
  if (tir_type_equal(&x->type, &op->result->type)) return replace(c, op, x);
  TirOp *nop = new_op(c, op, TIR_OP_CAST, &x, 1);
  if (!nop) return false;
  tir_op_set_dtype(nop, "dtype", op->result->type.dtype);
  return place(c, op, nop) && commit(c, op, nop);
}

/* %y = neg(neg(%x))                  ->  %x
 * %y = logical_not(logical_not(%x))  ->  %x */
static bool involution(Canon *c, TirOp *op) {
  TirOp *in = def_of(op, 0, op->kind);
  return in && replace(c, op, in->operands[0].value);
}

/* torch.cat skips 1-D inputs of size 0 (the legacy empty tensor) whatever
 * the rank of the others; ir/infer.c does the same. */
static bool legacy_empty(const TirType *t) {
  int64_t n;
  return t->rank == 1 && tir_dim_is_const(t->dims[0], &n) && n == 0;
}

/* %y = concat(%x, dim=d)  ->  %x
 * %y = concat(%a, %e, %b, dim=d)  ->  concat(%a, %b, dim=d)   when %e has size 0 along d
 * (or is a legacy empty f32[0]); when every input is empty, one that has the
 * result's type stays alone. */
static bool concat_rules(Canon *c, TirOp *op) {
  if (op->n_operands == 1) return to_operand(c, op, 0);
  const TirType *ref = NULL; /* the first input that is not legacy-empty */
  for (int i = 0; i < op->n_operands && !ref; i++)
    if (!legacy_empty(&op->operands[i].value->type)) ref = &op->operands[i].value->type;
  if (!ref) return to_operand(c, op, 0); /* all f32[0]: the result is f32[0] */
  int r = ref->rank;
  int64_t d = tir_op_attr_int(op, "dim");
  if (d < 0) d += r;
  if (d < 0 || d >= r) return false;
  TirValue **kept = malloc((size_t)op->n_operands * sizeof *kept);
  if (!kept) {
    c->st = TIR_ERR_INTERNAL;
    return false;
  }
  int keep = 0, first_empty = -1;
  for (int i = 0; i < op->n_operands; i++) {
    const TirType *t = &op->operands[i].value->type;
    int64_t size;
    bool zero = t->rank == r && tir_dim_is_const(t->dims[d], &size) && size == 0;
    if (zero && first_empty < 0) first_empty = i;
    if (!zero && !legacy_empty(t)) kept[keep++] = op->operands[i].value;
  }
  bool done = false;
  if (keep == op->n_operands) {
    done = false;
  } else if (keep == 0) {
    /* first_empty >= 0 here: ref itself is empty along d. */
    done = to_operand(c, op, first_empty);
  } else if (keep == 1) {
    done = replace(c, op, kept[0]);
  } else {
    TirOp *nop = new_op(c, op, TIR_OP_CONCAT, kept, keep);
    if (nop) {
      tir_op_set_int(nop, "dim", tir_op_attr_int(op, "dim"));
      done = place(c, op, nop) && commit(c, op, nop);
    }
  }
  free(kept);
  return done;
}

/* ------------------------------------------------------------ binary ops */

/* %y = add(%c, %x)  ->  add(%x, %c)   %c a constant, %x not; likewise mul,
 * maximum, minimum, eq, ne, logical_and, logical_or.  Done in place: the
 * result type is the same because broadcasting is symmetric. */
static bool constant_second(Canon *c, TirOp *op) {
  TirValue *a = op->operands[0].value, *b = op->operands[1].value;
  if (!is_const(a) || is_const(b)) return false;
  tir_op_set_operand(op, 0, b);
  tir_op_set_operand(op, 1, a);
  if (c->budget) c->budget--;
  return true;
}

/* %y = lt(%c, %x)  ->  gt(%x, %c)    and le -> ge, gt -> lt, ge -> le */
static bool flip_compare(Canon *c, TirOp *op) {
  TirValue *a = op->operands[0].value, *b = op->operands[1].value;
  if (!is_const(a) || is_const(b)) return false;
  TirOpKind k;
  switch (op->kind) {
  case TIR_OP_LT: k = TIR_OP_GT; break;
  case TIR_OP_LE: k = TIR_OP_GE; break;
  case TIR_OP_GT: k = TIR_OP_LT; break;
  default: k = TIR_OP_LE; break;
  }
  TirValue *ops[2] = {b, a};
  TirOp *nop = new_op(c, op, k, ops, 2);
  return nop && place(c, op, nop) && commit(c, op, nop);
}

/* %y = add(%x, 0)  ->  %x        %y = sub(%x, 0)  ->  %x
 * %y = mul(%x, 1)  ->  %x        %y = div(%x, 1)  ->  %x       %y = pow(%x, 1)  ->  %x
 * only when %y has %x's type: mul(%x : f32[3], 1 : f32[2, 3]) broadcasts and stays.
 * The constant may have any shape as long as every element is the neutral value. */
static bool neutral_operand(Canon *c, TirOp *op) {
  double neutral = op->kind == TIR_OP_ADD || op->kind == TIR_OP_SUB ? 0.0 : 1.0;
  TirValue *x = op->operands[0].value;
  if (!tir_type_equal(&x->type, &op->result->type)) return false;
  return const_all(op->operands[1].value, neutral) && replace(c, op, x);
}

/* %y = maximum(%x, %x), minimum(%x, %x), logical_and(%x, %x), logical_or(%x, %x)  ->  %x */
static bool idempotent(Canon *c, TirOp *op) {
  return op->operands[0].value == op->operands[1].value && to_operand(c, op, 0);
}

/* %y = where(%c, %x, %x)  ->  %x                      (when %y has %x's type)
 * %y = where(%t, %a, %b)  ->  %a   %t a constant of all true  (likewise)
 * %y = where(%f, %a, %b)  ->  %b   %f a constant of all false (likewise) */
static bool where_rules(Canon *c, TirOp *op) {
  TirValue *cond = op->operands[0].value;
  if (op->operands[1].value == op->operands[2].value) return to_operand(c, op, 1);
  if (const_all(cond, 1.0)) return to_operand(c, op, 1);
  if (const_all(cond, 0.0)) return to_operand(c, op, 2);
  return false;
}

/* ------------------------------------------------------------ the driver */

/* %y = OP(%c1, %c2, ...)  ->  %y = const(...)   all operands constant and
 * %y small and static (fold.c); also full(shape=S, value=v) for small S. */
/* ------------------------------------------------------------ attention forms */

/* The single reduced dim of a reduction with keepdim=true, normalized; -1 if
 * it reduces anything else. */
static int single_keepdim(const TirOp *r) {
  const TirAttr *d = tir_op_attr_c(r, "dims");
  int rank = r->operands[0].value->type.rank;
  if (!tir_op_attr_bool(r, "keepdim") || d->kind != TIR_ATTR_INTS || d->ints.n != 1) return -1;
  int64_t v = d->ints.v[0] < 0 ? d->ints.v[0] + rank : d->ints.v[0];
  return v >= 0 && v < rank ? (int)v : -1;
}

/* The written-out softmax, with or without the max subtraction:
 *   %m = amax(%x, dims=[d], keepdim=true)
 *   %t = sub(%x, %m)
 *   %e = exp(%t)                                    (or exp(%x))
 *   %s = sum(%e, dims=[d], keepdim=true)
 *   %p = div(%e, %s)   or   mul(%e, reciprocal(%s))   ->   %p = softmax(%x, dim=d)
 * The unstabilized form overflows where softmax does not; where it does not
 * overflow the two agree. */
static bool raise_softmax(Canon *c, TirOp *op) {
  TirValue *e, *s;
  if (op->kind == TIR_OP_DIV) {
    e = op->operands[0].value;
    s = op->operands[1].value;
  } else {
    TirOp *r = def_of(op, 1, TIR_OP_RECIPROCAL);
    if (!r) return false;
    e = op->operands[0].value;
    s = r->operands[0].value;
  }
  TirOp *ex = e->def, *sum = s->def;
  if (!ex || ex->kind != TIR_OP_EXP || !sum || sum->kind != TIR_OP_SUM ||
      sum->operands[0].value != e)
    return false;
  int d = single_keepdim(sum);
  if (d < 0) return false;
  TirValue *x = ex->operands[0].value;
  TirOp *sub = x->def;
  if (sub && sub->kind == TIR_OP_SUB) {
    TirOp *mx = def_of(sub, 1, TIR_OP_AMAX);
    if (mx && mx->operands[0].value == sub->operands[0].value && single_keepdim(mx) == d)
      x = sub->operands[0].value;
  }
  if (!tir_type_equal(&x->type, &op->result->type) || !tir_dtype_is_float(x->type.dtype))
    return false;
  TirOp *nop = new_op(c, op, TIR_OP_SOFTMAX, &x, 1);
  if (!nop) return false;
  tir_op_set_int(nop, "dim", d - x->type.rank);
  return place(c, op, nop) && commit(c, op, nop);
}

/* The 3-D bmm form aot_autograd produces, raised back to one batched matmul:
 *   %a3 = reshape(%a, shape=[N, L, E])     %a: [D.., L, E], N = prod(D..)
 *   %b3 = reshape(%b, shape=[N, E, S])     %b: [D.., E, S]
 *   %c3 = matmul(%a3, %b3)
 *   %c  = reshape(%c3, shape=[D.., L, S])          ->   %c = matmul(%a, %b)
 * (expand-to-same-shape and clone around the operands are gone already). */
static bool raise_bmm(Canon *c, TirOp *op) {
  TirOp *mm = def_of(op, 0, TIR_OP_MATMUL);
  if (!mm || !tir_value_has_one_use(mm->result) || mm->result->type.rank != 3) return false;
  TirOp *ra = def_of(mm, 0, TIR_OP_RESHAPE), *rb = def_of(mm, 1, TIR_OP_RESHAPE);
  /* Also %b3 = transpose(reshape(%k, shape=[N, S, E]), dim0=-1, dim1=-2)
   * (BLOOM): then b is transpose(%k) over its last two dims. */
  TirOp *tb3 = NULL;
  if (!rb) {
    TirOp *t = def_of(mm, 1, TIR_OP_TRANSPOSE);
    int64_t perm[TIR_MAX_RANK];
    int pr;
    if (t && tir_value_has_one_use(t->result) && perm_of(t, perm, &pr) && pr == 3 && perm[0] == 0 &&
        perm[1] == 2 && perm[2] == 1 && (rb = def_of(t, 0, TIR_OP_RESHAPE)))
      tb3 = t;
  }
  if (!ra || !rb) return false;
  TirValue *a = ra->operands[0].value, *b = rb->operands[0].value;
  const TirType *ta = &a->type, *tb = &b->type, *tc = &op->result->type;
  int r = ta->rank;
  if (r < 4 || tb->rank != r || tc->rank != r) return false;
  const TirType *a3 = &ra->result->type, *b3 = &rb->result->type;
  /* The reshapes only merge the leading dims: the last two stay. */
  for (int i = 1; i <= 2; i++)
    if (ta->dims[r - i] != a3->dims[3 - i] || tb->dims[r - i] != b3->dims[3 - i]) return false;
  for (int i = 0; i < r - 2; i++)
    if (ta->dims[i] != tb->dims[i] || ta->dims[i] != tc->dims[i]) return false;
  if (tb3) {
    TirOp *t = new_op(c, op, TIR_OP_TRANSPOSE, &b, 1);
    if (!t) return false;
    tir_op_set_int(t, "dim0", -2);
    tir_op_set_int(t, "dim1", -1);
    if (!place(c, op, t)) return false;
    push(c, t);
    b = t->result;
  }
  TirValue *ops[2] = {a, b};
  TirOp *nop = new_op(c, op, TIR_OP_MATMUL, ops, 2);
  return nop && place(c, op, nop) && commit(c, op, nop);
}

/* A reshape that only splits the leading dim of a 3-D add or mul moves
 * above it (BLOOM's baddbmm(alibi, q, k) viewed to 4-D), so that raise_bmm
 * and fuse-attention see the 4-D scores:
 *   %s3 = add(%x3, %b3)    %x3: [N, L, S], %b3: [N or 1, ., .] or 0-d
 *   %s  = reshape(%s3, shape=[D.., L, S])        N = prod(D..)
 *     ->  %s = add(reshape(%x3, [D.., L, S]), reshape(%b3, [D.. or 1.., ., .]))
 * Elementwise ops commute with a reshape that keeps the last two dims and
 * splits the first; an operand broadcast along the first dim stays
 * broadcast (its new leading dims all 1). */
static bool sink_reshape(Canon *c, TirOp *op) {
  TirOp *e = op->operands[0].value->def;
  if (!e || (e->kind != TIR_OP_ADD && e->kind != TIR_OP_MUL) || !tir_value_has_one_use(e->result))
    return false;
  const TirType *t3 = &e->result->type, *t = &op->result->type;
  int r = t->rank;
  if (t3->rank != 3 || r < 4 || r > TIR_MAX_RANK || t->dims[r - 1] != t3->dims[2] ||
      t->dims[r - 2] != t3->dims[1])
    return false;
  const TirDim *n = t->dims[0];
  for (int i = 1; i < r - 2 && n; i++) n = tir_dim_mul(c->m, n, t->dims[i], NULL);
  if (!n || n != t3->dims[0]) return false;
  const TirDim *one = tir_dim_const(c->m, 1);
  TirValue *ops[2];
  TirOp *made[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    TirValue *x = e->operands[i].value;
    const TirType *xt = &x->type;
    int64_t v1;
    bool whole = xt->rank == 3 && xt->dims[0] == n;
    bool bcast = xt->rank == 3 && tir_dim_is_const(xt->dims[0], &v1) && v1 == 1;
    if (xt->rank == 0) {
      ops[i] = x;
      continue;
    }
    if (!whole && !bcast) {
      for (int j = 0; j < i; j++)
        if (made[j]) tir_op_erase(made[j]);
      return false;
    }
    const TirDim *shape[TIR_MAX_RANK];
    for (int d = 0; d < r - 2; d++) shape[d] = whole ? t->dims[d] : one;
    shape[r - 2] = xt->dims[1];
    shape[r - 1] = xt->dims[2];
    TirOp *rs = new_op(c, op, TIR_OP_RESHAPE, &x, 1);
    if (!rs) return false;
    tir_op_set_dims(rs, "shape", shape, r);
    if (!place(c, op, rs)) return false;
    made[i] = rs;
    push(c, rs);
    ops[i] = rs->result;
  }
  TirOp *nop = new_op(c, op, e->kind, ops, 2);
  if (!nop || !place(c, op, nop) || !commit(c, op, nop)) return false;
  /* The old op is dead now; erase it at once so that the new reshapes,
   * still queued, see their operands with one use and can sink further. */
  if (e->func && !e->result->first_use) erase_op(c, e);
  return true;
}

/* ------------------------------------------------------------ model forms */

/* v is a 0-d float constant within the rounding of its dtype of `want`
 * (the exporter writes Python scalars as f32 or as the tensor's dtype). */
static bool const_near(const TirValue *v, double want) {
  const void *d = tir_fold_const_data(v);
  if (!d || v->type.rank != 0 || !tir_dtype_is_float(v->type.dtype)) return false;
  double x = tir_load_f64(v->type.dtype, d, 0);
  double tol = v->type.dtype == TIR_BF16 ? 0x1p-8 : v->type.dtype == TIR_F16 ? 0x1p-11 : 0x1p-20;
  return x == x && (x - want <= tol * want && want - x <= tol * want);
}

/* v = KIND(x, c) with the constant c near `want`, directly or in the
 * exporter's opmath form for 16-bit floats:
 *   %a = cast(%x, dtype=f32)   %b = KIND(%a, c)   %v = cast(%b, dtype=<x's>)
 * Returns x (v's type), or NULL. */
static TirValue *const_op(TirValue *v, TirOpKind kind, double want) {
  TirOp *d = v->def;
  if (!d) return NULL;
  if (d->kind == TIR_OP_CAST) {
    TirOp *b = d->operands[0].value->def;
    if (!b || b->kind != kind || !const_near(b->operands[1].value, want)) return NULL;
    TirOp *a = b->operands[0].value->def;
    if (!a || a->kind != TIR_OP_CAST) return NULL;
    TirValue *x = a->operands[0].value;
    return tir_type_equal(&x->type, &v->type) ? x : NULL;
  }
  if (d->kind != kind || !const_near(d->operands[1].value, want)) return NULL;
  TirValue *x = d->operands[0].value;
  return tir_type_equal(&x->type, &v->type) ? x : NULL;
}

/* The tanh approximation of GELU written out (Hugging Face's gelu_new,
 * GPT-2's activation):
 *   %h = mul(%x, 0.5)
 *   %p = pow(%x, 3)          %c = mul(%p, 0.044715)     %s = add(%x, %c)
 *   %u = mul(%s, 0.7978845608)    %t = tanh(%u)          %o = add(%t, 1)
 *   %y = mul(%h, %o)                  ->   %y = gelu(%x, approximate="tanh")
 * (operands of the adds and the last mul in either order; each scalar op
 * also in the opmath cast form of const_op).  gelu(tanh) is this formula
 * evaluated once in f32: the chain's value up to its roundings.  Then the
 * GEMM epilogue can apply it (codegen's linear + gelu(tanh)). */
static bool raise_gelu_tanh(Canon *c, TirOp *op) {
  TirValue *x = NULL, *o = NULL;
  for (int i = 0; i < 2 && !x; i++) {
    x = const_op(op->operands[i].value, TIR_OP_MUL, 0.5);
    o = op->operands[1 - i].value;
  }
  if (!x || !tir_dtype_is_float(x->type.dtype) || !tir_type_equal(&x->type, &op->result->type))
    return false;
  TirValue *t = const_op(o, TIR_OP_ADD, 1.0);
  if (!t || !t->def || t->def->kind != TIR_OP_TANH) return false;
  TirValue *s = const_op(t->def->operands[0].value, TIR_OP_MUL, 0.7978845608028654);
  if (!s || !s->def || s->def->kind != TIR_OP_ADD) return false;
  bool ok = false;
  for (int i = 0; i < 2 && !ok; i++) {
    if (s->def->operands[i].value != x) continue;
    TirValue *p = const_op(s->def->operands[1 - i].value, TIR_OP_MUL, 0.044715);
    TirOp *pw = p ? p->def : NULL;
    ok = pw && pw->kind == TIR_OP_POW && pw->operands[0].value == x &&
         tir_type_equal(&pw->result->type, &x->type) && const_near(pw->operands[1].value, 3.0) &&
         const_all(pw->operands[1].value, 3.0);
  }
  if (!ok) return false;
  TirOp *g = new_op(c, op, TIR_OP_GELU, &x, 1);
  if (!g) return false;
  tir_op_set_str(g, "approximate", "tanh");
  return place(c, op, g) && commit(c, op, g);
}

/* A product with a weight plus a bias over its last dim (aot_autograd's
 * addmm, Hugging Face's Conv1D):
 *   %m = matmul(%x, %w)      %w: [K, N], a function argument or constant
 *   %y = add(%m, %b)         %b: [N]        ->   %y = linear(%x, transpose(%w), %b)
 * linear adds the bias in the GEMM's epilogue instead of a pass over the
 * product (the sum is the same, rounded once).  Only weights that are
 * arguments or constants: a computed right operand (attention's K^T plus a
 * per-key bias) stays a matmul for fuse-attention. */
static bool raise_linear(Canon *c, TirOp *op) {
  for (int i = 0; i < 2; i++) {
    TirOp *mm = def_of(op, i, TIR_OP_MATMUL);
    TirValue *b = op->operands[1 - i].value;
    if (!mm || !tir_value_has_one_use(mm->result)) continue;
    TirValue *x = mm->operands[0].value, *w = mm->operands[1].value;
    const TirType *tw = &w->type, *tb = &b->type;
    if ((w->def && w->def->kind != TIR_OP_CONST) || tw->rank != 2 || x->type.rank < 2 ||
        !tir_dtype_is_float(tw->dtype) || tb->rank != 1 || tb->dtype != tw->dtype ||
        tb->dims[0] != tw->dims[1] || !tir_type_equal(&mm->result->type, &op->result->type))
      continue;
    TirOp *t = new_op(c, op, TIR_OP_TRANSPOSE, &w, 1);
    if (!t) return false;
    tir_op_set_int(t, "dim0", 0);
    tir_op_set_int(t, "dim1", 1);
    if (!place(c, op, t)) return false;
    TirValue *ops[3] = {x, t->result, b};
    TirOp *nop = new_op(c, op, TIR_OP_LINEAR, ops, 3);
    return nop && place(c, op, nop) && commit(c, op, nop);
  }
  return false;
}

/* A gelu(tanh) of a reshaped linear moves above the reshape, so that the
 * linear's epilogue can apply it (codegen folds linear + gelu(tanh) when
 * the gelu alone reads the linear):
 *   %l = linear(...)   %r = reshape(%l, shape=S)   %y = gelu(%r, approximate="tanh")
 *     ->  %y = reshape(gelu(%l, approximate="tanh"), shape=S)
 * An elementwise op commutes with any reshape. */
static bool gelu_above_reshape(Canon *c, TirOp *op) {
  TirOp *r = def_of(op, 0, TIR_OP_RESHAPE);
  if (!r || strcmp(tir_op_attr_str(op, "approximate"), "tanh") != 0 ||
      !tir_value_has_one_use(r->result))
    return false;
  TirOp *l = def_of(r, 0, TIR_OP_LINEAR);
  if (!l || !tir_value_has_one_use(l->result)) return false;
  TirValue *lv = l->result;
  TirOp *g = new_op(c, op, TIR_OP_GELU, &lv, 1);
  if (!g) return false;
  tir_op_set_str(g, "approximate", "tanh");
  if (!place(c, op, g)) return false;
  TirValue *gv = g->result;
  TirOp *rs = new_op(c, op, TIR_OP_RESHAPE, &gv, 1);
  if (!rs) return false;
  const TirType *t = &op->result->type;
  tir_op_set_dims(rs, "shape", t->dims, t->rank);
  return place(c, op, rs) && commit(c, op, rs);
}

static bool fold(Canon *c, TirOp *op) {
  TirStatus st;
  TirOp *k = tir_fold_op(c->m, op, &st);
  if (st != TIR_OK) {
    c->st = st;
    return false;
  }
  return k && place(c, op, k) && commit(c, op, k);
}

/* Tries the rewrites for op; true when one fired (op may be gone). */
static bool visit(Canon *c, TirOp *op) {
  if (fold(c, op) || c->st != TIR_OK) return true;
  switch (op->kind) {
  case TIR_OP_CONTIGUOUS:
  case TIR_OP_CLONE:
  case TIR_OP_EXPAND: return same_type_identity(c, op);
  case TIR_OP_CAST: return same_type_identity(c, op) || compose_casts(c, op);
  case TIR_OP_RESHAPE:
    return same_type_identity(c, op) || raise_bmm(c, op) || compose_reshapes(c, op) ||
           sink_reshape(c, op);
  case TIR_OP_SQUEEZE: return same_type_identity(c, op) || view_pair_cancels(c, op);
  case TIR_OP_UNSQUEEZE: return view_pair_cancels(c, op);
  case TIR_OP_DROPOUT: return dropout_identity(c, op);
  case TIR_OP_SLICE: return slice_identity(c, op);
  case TIR_OP_PERMUTE:
  case TIR_OP_TRANSPOSE: return permute_identity(c, op) || compose_permutes(c, op);
  case TIR_OP_CONCAT: return concat_rules(c, op);
  case TIR_OP_NEG:
  case TIR_OP_LOGICAL_NOT: return involution(c, op);
  case TIR_OP_WHERE: return where_rules(c, op);
  case TIR_OP_LT:
  case TIR_OP_LE:
  case TIR_OP_GT:
  case TIR_OP_GE: return flip_compare(c, op);
  case TIR_OP_ADD:
  case TIR_OP_MUL: {
    bool swapped = constant_second(c, op);
    return neutral_operand(c, op) || (op->kind == TIR_OP_MUL && raise_softmax(c, op)) ||
           (op->kind == TIR_OP_MUL && raise_gelu_tanh(c, op)) ||
           (op->kind == TIR_OP_ADD && raise_linear(c, op)) || swapped;
  }
  case TIR_OP_GELU: return gelu_above_reshape(c, op);
  case TIR_OP_DIV: return neutral_operand(c, op) || raise_softmax(c, op);
  case TIR_OP_SUB:
  case TIR_OP_POW: return neutral_operand(c, op);
  case TIR_OP_MAXIMUM:
  case TIR_OP_MINIMUM:
  case TIR_OP_LOGICAL_AND:
  case TIR_OP_LOGICAL_OR: return idempotent(c, op) || constant_second(c, op);
  case TIR_OP_EQ:
  case TIR_OP_NE: return constant_second(c, op);
  default: return false;
  }
}

TirStatus tir_pass_canonicalize(TirModule *m, const TirPassOptions *opts) {
  Canon c = {.m = m, .opts = opts};
  size_t n_ops = 0;
  for (TirFunc *f = m->first_func; f; f = f->next)
    for (TirOp *op = f->first; op; op = op->next) n_ops++;
  /* Each rewrite removes an op, an operand or a constant-first order, so a
   * correct rule set stops long before this; it only bounds a buggy one. */
  c.budget = 16 * n_ops + 4096;
  /* Seed in program order: operands are simplified before their users. */
  for (TirFunc *f = m->first_func; f; f = f->next)
    for (TirOp *op = f->first; op; op = op->next) push(&c, op);
  while (c.n && c.st == TIR_OK && c.budget) {
    TirOp *op = pop(&c);
    if (!op->func || op->kind == TIR_OP_RETURN) continue; /* erased meanwhile */
    if (!op->result->first_use) {
      erase_op(&c, op);
      continue;
    }
    if (op->kind == TIR_OP_CONST) continue;
    visit(&c, op);
  }
  free(c.ring);
  free(c.queued);
  return c.st;
}
