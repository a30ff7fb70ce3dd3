/* judge.c — checks every claim of the causal prover by brute force (a test
 * tool; never part of tirc or libtirc).
 *
 *   tir-judge [-q] [--force-claim=CLAIM] FILE.tir...
 *
 * Runs the default pipeline on each file with a mask observer.  For every
 * mask the prover calls top-left causal, bottom-right causal, "keeps
 * everything" or a sliding window of W keys (simplify-sdpa), it evaluates the mask element by element with its own small
 * interpreter, at several concrete values of the symbols (sizes 0..6, L < S,
 * L > S, L = 1), and compares the positions the chain really keeps with the
 * claim.  An additive mask keeps (i, j) when its value times the later scale
 * is exactly 0 and masks it when that is -inf, <= -1e30 or the dtype's
 * lowest; any other value is a false claim, as is a bottom-right claim with
 * S < L.  Files that do not parse are counted and skipped.  Exit 1 when any
 * claim is false.  The interpreter is deliberately separate from the runtime
 * and from the prover: it shares only the dtype stores of ir/.
 * --force-claim="top-left causal" (or another claim) pretends the prover made
 * that claim for every mask: the judge's own test, which must then fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "causal.h"
#include "frontend.h"
#include "passes.h"
#include "tirc_internal.h"
#include "tt.h"

enum { MAX_SYMS = 16, TRIALS = 14, MAX_ELEMS = 1 << 20 };

typedef struct {
  TirDType dt;
  int rank;
  int64_t dims[TIR_MAX_RANK];
  int64_t n;
  double *v;
} Ten;

typedef struct {
  const char *names[MAX_SYMS];
  int64_t vals[MAX_SYMS];
  int n;
} Binding;

typedef struct {
  const char *file;
  Binding *b;
  Ten **memo; /* by value id */
  uint32_t n_memo;
  const char *fail; /* why evaluation stopped */
  tt_rng_t rng; /* this claim's own stream: the same data whatever ran before */
} Eval;

typedef struct {
  const char *file;
  long claims, checked, unchecked, false_claims, trials;
  bool quiet;
  int force; /* --force-claim: pretend the prover claimed this (self-test) */
} Judge;

/* ------------------------------------------------------------ symbols */

static bool lookup(void *ctx, const char *sym, int64_t *v) {
  Binding *b = ctx;
  for (int i = 0; i < b->n; i++)
    if (strcmp(b->names[i], sym) == 0) return *v = b->vals[i], true;
  return false;
}

static void add_sym(void *ctx, const TirDim *s) {
  Binding *b = ctx;
  int64_t dummy;
  if (b->n < MAX_SYMS && !lookup(b, s->sym, &dummy)) b->names[b->n++] = s->sym;
}

static void syms_of_type(Binding *b, const TirType *t) {
  for (int i = 0; i < t->rank; i++) tir_dim_for_each_sym(t->dims[i], add_sym, b);
}

/* Every symbol the mask's ops and the function's arguments mention. */
static void collect(Binding *b, TirValue *v, int depth) {
  syms_of_type(b, &v->type);
  if (!v->def || depth > 200) return;
  TirOp *op = v->def;
  const TirOpSchema *s = tir_op_schema(op->kind);
  for (int i = 0; i < s->nattrs; i++) {
    const TirAttr *a = &op->attrs[i];
    if (a->kind == TIR_ATTR_DIM) tir_dim_for_each_sym(a->dim, add_sym, b);
    if (a->kind == TIR_ATTR_DIMS)
      for (int k = 0; k < a->dims.n; k++) tir_dim_for_each_sym(a->dims.v[k], add_sym, b);
  }
  for (int i = 0; i < op->n_operands; i++) collect(b, op->operands[i].value, depth + 1);
}

/* ------------------------------------------------------------ the interpreter */

static double in_dtype(TirDType dt, double x) {
  unsigned char buf[8];
  tir_store_f64(dt, buf, 0, x);
  return tir_load_f64(dt, buf, 0);
}

/* Integer results wrap like the machine's integers. */
static double wrap_int(TirDType dt, int64_t x) {
  unsigned char buf[8];
  tir_store_i64(dt, buf, 0, x);
  return (double)tir_load_i64(dt, buf, 0);
}

static Ten *ten_new(Eval *e, const TirType *t) {
  Ten *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->dt = t->dtype;
  r->rank = t->rank;
  r->n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (!tir_dim_eval(t->dims[i], lookup, e->b, &r->dims[i]) || r->dims[i] < 0) {
      e->fail = "a dim does not evaluate";
      free(r);
      return NULL;
    }
    r->n *= r->dims[i];
    if (r->n > MAX_ELEMS) {
      e->fail = "too large";
      free(r);
      return NULL;
    }
  }
  r->v = calloc((size_t)(r->n ? r->n : 1), sizeof(double));
  if (!r->v) {
    free(r);
    return NULL;
  }
  return r;
}

/* Flat index into x (rank <= r, right-aligned, size-1 axes broadcast) of the
 * element at multi-index idx of a rank-r result. */
static int64_t bidx(const Ten *x, const int64_t *idx, int r) {
  int64_t f = 0;
  for (int a = 0; a < x->rank; a++) {
    int64_t i = x->dims[a] == 1 ? 0 : idx[r - x->rank + a];
    f = f * x->dims[a] + i;
  }
  return f;
}

static void unflat(const Ten *t, int64_t k, int64_t *idx) {
  for (int a = t->rank - 1; a >= 0; a--) {
    idx[a] = t->dims[a] ? k % t->dims[a] : 0;
    k = t->dims[a] ? k / t->dims[a] : 0;
  }
}

static double arith(TirOpKind k, TirDType dt, double a, double b, bool *ok) {
  switch (k) {
  case TIR_OP_LT: return a < b;
  case TIR_OP_LE: return a <= b;
  case TIR_OP_GT: return a > b;
  case TIR_OP_GE: return a >= b;
  case TIR_OP_EQ: return a == b;
  case TIR_OP_NE: return a != b;
  case TIR_OP_LOGICAL_AND: return a != 0 && b != 0;
  case TIR_OP_LOGICAL_OR: return a != 0 || b != 0;
  default: break;
  }
  if (tir_dtype_is_int(dt)) {
    int64_t x = (int64_t)a, y = (int64_t)b;
    switch (k) {
    case TIR_OP_ADD: return wrap_int(dt, (int64_t)((uint64_t)x + (uint64_t)y));
    case TIR_OP_SUB: return wrap_int(dt, (int64_t)((uint64_t)x - (uint64_t)y));
    case TIR_OP_MUL: return wrap_int(dt, (int64_t)((uint64_t)x * (uint64_t)y));
    case TIR_OP_MAXIMUM: return x > y ? a : b;
    case TIR_OP_MINIMUM: return x < y ? a : b;
    default: *ok = false; return 0;
    }
  }
  switch (k) {
  case TIR_OP_ADD: return in_dtype(dt, a + b);
  case TIR_OP_SUB: return in_dtype(dt, a - b);
  case TIR_OP_MUL: return in_dtype(dt, a * b);
  case TIR_OP_DIV: return in_dtype(dt, a / b);
  case TIR_OP_MAXIMUM: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
  case TIR_OP_MINIMUM: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
  default: *ok = false; return 0;
  }
}

static Ten *ev(Eval *e, TirValue *v);

static Ten *ev_op(Eval *e, TirOp *op, Ten *r) {
  Ten *x = op->n_operands > 0 ? ev(e, op->operands[0].value) : NULL;
  if (op->n_operands > 0 && !x) return NULL;
  int64_t idx[TIR_MAX_RANK];
  bool ok = true;
  switch (op->kind) {
  case TIR_OP_CONST:
    if (!op->data) return e->fail = "const without data", NULL;
    for (int64_t k = 0; k < r->n; k++) r->v[k] = tir_load_f64(r->dt, op->data, (size_t)k);
    return r;
  case TIR_OP_FULL: {
    double fv = tir_op_attr_float(op, "value");
    for (int64_t k = 0; k < r->n; k++) r->v[k] = in_dtype(r->dt, fv);
    return r;
  }
  case TIR_OP_ARANGE: {
    int64_t start, step;
    if (!tir_dim_eval(tir_op_attr_dim(op, "start"), lookup, e->b, &start) ||
        !tir_dim_eval(tir_op_attr_dim(op, "step"), lookup, e->b, &step))
      return e->fail = "arange bounds", NULL;
    for (int64_t k = 0; k < r->n; k++)
      r->v[k] = tir_dtype_is_int(r->dt) ? wrap_int(r->dt, start + k * step) : in_dtype(r->dt, (double)(start + k * step));
    return r;
  }
  case TIR_OP_ADD: case TIR_OP_SUB: case TIR_OP_MUL: case TIR_OP_DIV: case TIR_OP_MAXIMUM:
  case TIR_OP_MINIMUM: case TIR_OP_LT: case TIR_OP_LE: case TIR_OP_GT: case TIR_OP_GE:
  case TIR_OP_EQ: case TIR_OP_NE: case TIR_OP_LOGICAL_AND: case TIR_OP_LOGICAL_OR: {
    Ten *y = ev(e, op->operands[1].value);
    if (!y) return NULL;
    TirDType odt = x->dt;
    for (int64_t k = 0; k < r->n && ok; k++) {
      unflat(r, k, idx);
      r->v[k] = arith(op->kind, odt, x->v[bidx(x, idx, r->rank)], y->v[bidx(y, idx, r->rank)], &ok);
    }
    return ok ? r : (e->fail = "arithmetic the judge does not model", NULL);
  }
  case TIR_OP_NEG:
    for (int64_t k = 0; k < r->n; k++) r->v[k] = -x->v[k];
    return r;
  case TIR_OP_LOGICAL_NOT:
    for (int64_t k = 0; k < r->n; k++) r->v[k] = x->v[k] == 0;
    return r;
  case TIR_OP_WHERE: {
    Ten *a = ev(e, op->operands[1].value), *b = ev(e, op->operands[2].value);
    if (!a || !b) return NULL;
    for (int64_t k = 0; k < r->n; k++) {
      unflat(r, k, idx);
      r->v[k] = x->v[bidx(x, idx, r->rank)] != 0 ? a->v[bidx(a, idx, r->rank)] : b->v[bidx(b, idx, r->rank)];
    }
    return r;
  }
  case TIR_OP_MASKED_FILL: {
    Ten *m = ev(e, op->operands[1].value);
    if (!m) return NULL;
    double fv = in_dtype(r->dt, tir_op_attr_float(op, "value"));
    for (int64_t k = 0; k < r->n; k++) {
      unflat(r, k, idx);
      r->v[k] = m->v[bidx(m, idx, r->rank)] != 0 ? fv : x->v[k];
    }
    return r;
  }
  case TIR_OP_CAST:
    for (int64_t k = 0; k < r->n; k++) {
      double a = x->v[k];
      if (r->dt == TIR_BOOL) r->v[k] = a != 0;
      else if (tir_dtype_is_int(r->dt)) {
        if (!isfinite(a) || fabs(a) > 9e18) return e->fail = "float-to-int cast out of range", NULL;
        r->v[k] = wrap_int(r->dt, (int64_t)a);
      } else r->v[k] = in_dtype(r->dt, a);
    }
    return r;
  case TIR_OP_TRIL: case TIR_OP_TRIU: {
    int64_t dg = tir_op_attr_int(op, "diagonal");
    for (int64_t k = 0; k < r->n; k++) {
      unflat(r, k, idx);
      int64_t i = idx[r->rank - 2], j = idx[r->rank - 1];
      bool keep = op->kind == TIR_OP_TRIL ? j - i <= dg : j - i >= dg;
      r->v[k] = keep ? x->v[k] : 0;
    }
    return r;
  }
  case TIR_OP_RESHAPE: case TIR_OP_SQUEEZE: case TIR_OP_UNSQUEEZE: case TIR_OP_CONTIGUOUS:
  case TIR_OP_CLONE:
    if (x->n != r->n) return e->fail = "reshape size", NULL;
    memcpy(r->v, x->v, (size_t)r->n * sizeof(double));
    return r;
  case TIR_OP_EXPAND:
    for (int64_t k = 0; k < r->n; k++) {
      unflat(r, k, idx);
      r->v[k] = x->v[bidx(x, idx, r->rank)];
    }
    return r;
  case TIR_OP_PERMUTE: case TIR_OP_TRANSPOSE: {
    int64_t perm[TIR_MAX_RANK], xi[TIR_MAX_RANK];
    if (!tir_op_permutation(op, perm)) return e->fail = "permutation", NULL;
    for (int64_t k = 0; k < r->n; k++) {
      unflat(r, k, idx);
      for (int a = 0; a < r->rank; a++) xi[perm[a]] = idx[a];
      int64_t f = 0;
      for (int a = 0; a < x->rank; a++) f = f * x->dims[a] + xi[a];
      r->v[k] = x->v[f];
    }
    return r;
  }
  case TIR_OP_SLICE: {
    int d = (int)tir_op_attr_int(op, "dim");
    if (d < 0) d += x->rank;
    int64_t start = 0, step = 1;
    if (tir_op_has_attr(op, "start") && !tir_dim_eval(tir_op_attr_dim(op, "start"), lookup, e->b, &start))
      return e->fail = "slice start", NULL;
    if (!tir_dim_eval(tir_op_attr_dim(op, "step"), lookup, e->b, &step)) return e->fail = "slice step", NULL;
    if (start < 0) start += x->dims[d];
    if (start < 0) start = 0;
    if (start > x->dims[d]) start = x->dims[d];
    for (int64_t k = 0; k < r->n; k++) {
      unflat(r, k, idx);
      idx[d] = start + idx[d] * step;
      if (idx[d] >= x->dims[d]) return e->fail = "slice past the end", NULL;
      int64_t f = 0;
      for (int a = 0; a < x->rank; a++) f = f * x->dims[a] + idx[a];
      r->v[k] = x->v[f];
    }
    return r;
  }
  default: return e->fail = tir_op_schema(op->kind)->name, NULL;
  }
}

static double rnd(Eval *e) { return tt_rng_unif_r(&e->rng); }

static Ten *ev(Eval *e, TirValue *v) {
  if (v->id < e->n_memo && e->memo[v->id]) return e->memo[v->id];
  Ten *r = ten_new(e, &v->type);
  if (!r) return NULL;
  if (!v->def) { /* an argument: random data of its dtype */
    for (int64_t k = 0; k < r->n; k++) {
      double u = rnd(e);
      r->v[k] = r->dt == TIR_BOOL ? u < 0.5 : tir_dtype_is_int(r->dt) ? floor(u * 7) - 3 : in_dtype(r->dt, u * 4 - 2);
    }
  } else if (!ev_op(e, v->def, r)) {
    free(r->v);
    free(r);
    return NULL;
  }
  if (v->id < e->n_memo) e->memo[v->id] = r;
  return r;
}

static void memo_clear(Eval *e) {
  for (uint32_t i = 0; i < e->n_memo; i++)
    if (e->memo[i]) {
      free(e->memo[i]->v);
      free(e->memo[i]);
      e->memo[i] = NULL;
    }
}

/* ------------------------------------------------------------ the check */

static const char *CLAIM[] = {"not causal", "top-left causal", "bottom-right causal", "keeps everything",
                              "top-left window", "bottom-right window", "top-left causal window",
                              "bottom-right causal window"};

/* Returns false on a false claim (printed). */
static bool check_trial(Judge *j, Eval *e, const TirMaskQuery *q, int claim, int64_t W, TirLoc loc) {
  Ten *m = ev(e, q->mask);
  if (!m) return true; /* counted by the caller as unchecked */
  int64_t L, S;
  if (!tir_dim_eval(q->L, lookup, e->b, &L) || !tir_dim_eval(q->S, lookup, e->b, &S)) return true;
  int r = m->rank;
  int64_t lead = 1;
  for (int a = 0; a < r - 2; a++) lead *= m->dims[a];
  int64_t R = r >= 2 ? m->dims[r - 2] : 1, C = r >= 1 ? m->dims[r - 1] : 1;
  bool bad = (claim == TIR_CAUSAL_BOTTOM_RIGHT || claim == TIR_CAUSAL_WINDOW_BOTTOM_RIGHT) && S < L;
  const char *what = bad ? "S < L" : NULL;
  if (claim >= TIR_WINDOW_TOP_LEFT && W < 1) bad = true, what = "a window of fewer than 1 key";
  int64_t bi = 0, bj = 0, bs = 0;
  double bv = 0;
  for (int64_t s = 0; s < lead && !bad; s++)
    for (int64_t i = 0; i < L && !bad; i++)
      for (int64_t jj = 0; jj < S && !bad; jj++) {
        int64_t mi = R == 1 ? 0 : i, mj = C == 1 ? 0 : jj;
        double v = m->v[s * R * C + mi * C + mj];
        bool keep;
        if (q->use == TIR_MASK_KEEP_BOOL) {
          keep = (v != 0) != q->negated;
        } else {
          double x = v * q->mscale;
          if (x != 0 && !(x <= -1e30 || x <= tir_dtype_lowest(m->dt))) {
            bad = true, what = "an additive value that neither keeps nor masks", bi = i, bj = jj, bs = s, bv = v;
            break;
          }
          keep = x == 0;
        }
        bool want = claim == TIR_CAUSAL_TOP_LEFT ? jj <= i
                    : claim == TIR_CAUSAL_BOTTOM_RIGHT ? jj <= i + S - L
                    : claim == TIR_WINDOW_TOP_LEFT ? jj > i - W
                    : claim == TIR_WINDOW_BOTTOM_RIGHT ? jj > i + S - L - W
                    : claim == TIR_CAUSAL_WINDOW_TOP_LEFT ? jj <= i && jj > i - W
                    : claim == TIR_CAUSAL_WINDOW_BOTTOM_RIGHT ? jj <= i + S - L && jj > i + S - L - W
                    : true;
        if (keep != want) bad = true, what = keep ? "keeps a position the claim masks" : "masks a position the claim keeps", bi = i, bj = jj, bs = s, bv = v;
      }
  if (!bad) return true;
  j->false_claims++;
  fprintf(stderr, "%s:%d:%d: FALSE CLAIM: %s (W=%lld); %s at slice %lld, (i, j) = (%lld, %lld), mask value %g; L=%lld S=%lld;",
          j->file, loc.line, loc.col, CLAIM[claim], (long long)W, what, (long long)bs, (long long)bi, (long long)bj, bv,
          (long long)L, (long long)S);
  for (int k = 0; k < e->b->n; k++) fprintf(stderr, " %s=%lld", e->b->names[k], (long long)e->b->vals[k]);
  fprintf(stderr, "\n");
  return false;
}

static void observe(void *ctx, TirModule *mod, const void *query, int claim, int64_t window) {
  Judge *j = ctx;
  const TirMaskQuery *q = query;
  if (j->force >= 0) claim = j->force;
  if (claim == TIR_NOT_CAUSAL) return;
  j->claims++;
  Binding b = {.n = 0};
  collect(&b, q->mask, 0);
  TirFunc *fn = q->mask->func;
  for (int a = 0; fn && a < fn->n_args; a++) syms_of_type(&b, &fn->args[a]->type);
  syms_of_type(&b, &(TirType){.rank = 2, .dims = {q->L, q->S}});
  Eval e = {.file = j->file, .b = &b, .n_memo = mod->next_id, .rng = {0x9e3779b97f4a7c15ull}};
  e.memo = calloc(e.n_memo + 1, sizeof *e.memo);
  if (!e.memo) return;
  TirLoc loc = q->mask->def ? q->mask->def->loc : (TirLoc){0};
  int ran = 0;
  for (int t = 0; t < TRIALS; t++) {
    for (int k = 0; k < b.n; k++) {
      /* 1s, 2s, then mixed sizes in 0..6 (a 0 now and then). */
      int64_t v = t == 0 ? 1 : t == 1 ? 2 : t == 2 ? 5 : (int64_t)(rnd(&e) * 7);
      if (t > 2 && v == 0 && rnd(&e) < 0.6) v = 3;
      b.vals[k] = v;
    }
    e.fail = NULL;
    memo_clear(&e);
    Ten *m = ev(&e, q->mask);
    if (!m) continue;
    ran++;
    j->trials++;
    if (!check_trial(j, &e, q, claim, window, loc)) break;
  }
  if (ran) j->checked++;
  else {
    j->unchecked++;
    if (!j->quiet)
      fprintf(stderr, "%s:%d:%d: unchecked claim (%s): %s\n", j->file, loc.line, loc.col, CLAIM[claim],
              e.fail ? e.fail : "?");
  }
  memo_clear(&e);
  free(e.memo);
}

int main(int argc, char **argv) {
  Judge j = {.force = -1};
  long files = 0, skipped = 0;
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "-q") == 0) {
      j.quiet = true;
      continue;
    }
    if (strncmp(argv[a], "--force-claim=", 14) == 0) {
      for (int c = 1; c < 4; c++)
        if (strcmp(argv[a] + 14, CLAIM[c]) == 0) j.force = c;
      if (j.force < 0) {
        fprintf(stderr, "tir-judge: --force-claim takes one of: %s, %s, %s\n", CLAIM[1], CLAIM[2], CLAIM[3]);
        return 2;
      }
      continue;
    }
    j.file = argv[a];
    TirDiag *diag = tir_diag_new(NULL, 1);
    TirModule *m = NULL;
    TirParseOptions po = {.loader = tirc_load_const};
    if (!diag || tir_parse_file(argv[a], diag, &po, &m) != TIR_OK || !m ||
        tir_verify_module(m, diag) != TIR_OK) {
      skipped++;
      if (m) tir_module_free(m);
      tir_diag_free(diag);
      continue;
    }
    files++;
    TirPassOptions opts = {.diag = diag, .target = "cpu", .arch = "sm_80", .verify_each = true,
                           .mask_observer = observe, .mask_observer_ctx = &j};
    TirStatus st = tir_run_pipeline(m, tir_default_pipeline(), &opts);
    if (st == TIR_ERR_INTERNAL) {
      fprintf(stderr, "%s: internal error in the pipeline (the verifier failed after a pass?)\n", argv[a]);
      j.false_claims++; /* a broken rewrite is a bug too */
    } else if (st != TIR_OK) {
      skipped++; /* a program the pipeline rejects (a bad kernel= by hand, ...) */
      files--;
    }
    tir_module_free(m);
    tir_diag_free(diag);
  }
  printf("judge: %ld files (%ld skipped), %ld claims: %ld checked over %ld trials, %ld unchecked, "
         "%ld false\n",
         files, skipped, j.claims, j.checked, j.trials, j.unchecked, j.false_claims);
  return j.false_claims ? 1 : 0;
}
