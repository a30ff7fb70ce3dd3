/* simplify_sdpa.c — the simplify-sdpa pass: recovers structure from the
 * operands of every `sdpa` op, whoever wrote it (fuse-attention, a .tir
 * author, the torch backend translating F.scaled_dot_product_attention).
 *
 *  1. The mask.  A mask is read as a conjunction of factors ("attend iff
 *     every factor attends"); each factor goes to the same prover as the
 *     masks of hand-written chains (causal.c).  A factor proven causal is
 *     dropped for is_causal=true (its alignment recorded), one that keeps
 *     every position is dropped outright, the rest stay as the mask.  So
 *     Hugging Face's `causal AND padding[b, j]` becomes is_causal=true plus
 *     a [B, 1, 1, S] key mask, which the flash kernel takes.  A factor
 *     proven a sliding window (j > i - W, Mistral's `sliding_window`)
 *     becomes window=W.
 *  2. K/V repeated for grouped-query attention (repeat_kv, MQA's expand)
 *     are read unrepeated with enable_gqa=true: no copies.
 *
 * Why splitting is exact.  sdpa with is_causal and a mask attends at (i, j)
 * iff causal(i, j) and the mask attends there, and adds a float mask's value
 * where it attends (spec §5, docs/language.md).  Factors are taken only
 * through ops that are conjunctions on every input:
 *   bool:   logical_and(a, b)                      attends iff a and b do
 *           expand / contiguous / clone of a       the same values, broadcast
 *   float (only without exact_mask, where a value <= -1e30 or the dtype's
 *          lowest masks like -inf):
 *           where(c, 0, m), m masking              attends iff c
 *           where(c, m, 0)                         attends iff not c
 *           masked_fill(0, c, m)                   attends iff not c
 *           add(a, b), a and b both of the forms   0 + 0 = 0; any masking
 *             above (each value 0 or masking)      summand makes the sum
 *                                                  masking (both <= 0, so
 *                                                  no cancellation; -inf
 *                                                  on overflow still masks)
 * A float mask added to a general float (a bias) is one factor: bias + (-inf)
 * is NaN where the bias is +inf, so dropping the -inf part would change the
 * answer.  Every factor broadcasts to the mask's shape, which broadcasts to
 * the scores, so a kept factor alone broadcasts to the scores too.  The
 * factors that remain are rebuilt as one bool mask (logical_and of the keep
 * conditions): for a decomposed float mask every remaining value was 0 or
 * masking, which is exactly a bool mask.
 *
 * GQA: query head h of sdpa over repeated K reads head h / g of the repeat
 * (g = Hq / Hk', 1 without enable_gqa), which is head (h / g) / n of the
 * source (n repeats); sdpa over the source with enable_gqa reads head
 * h / (Hq / Hk) = h / (g * n): the same head. */
#include <math.h>
#include <stdlib.h>

#include "causal.h"
#include "passes.h"
#include "rewrite.h"

enum { MAX_FACTORS = 16, MAX_DEPTH = 32 };

typedef struct {
  TirValue *v;
  bool negated;  /* attends where v is false */
  bool additive; /* a float factor: a mask added as is */
} Factor;

typedef struct {
  Factor f[MAX_FACTORS];
  int n;
  bool overflow;
} Factors;

static void push(Factors *fs, TirValue *v, bool negated, bool additive) {
  if (fs->n == MAX_FACTORS) {
    fs->overflow = true;
    return;
  }
  fs->f[fs->n++] = (Factor){v, negated, additive};
}

static bool passes_through(const TirOp *op) {
  return op && (op->kind == TIR_OP_EXPAND || op->kind == TIR_OP_CONTIGUOUS || op->kind == TIR_OP_CLONE);
}

/* The keep conditions of a bool mask:
 *   %m = logical_and(%a, %b)   |   %m = expand(%a, ...)  (contiguous, clone) */
static void factors_bool(TirValue *v, Factors *fs, int depth) {
  TirOp *op = v->def;
  if (depth < MAX_DEPTH && op && op->kind == TIR_OP_LOGICAL_AND) {
    factors_bool(op->operands[0].value, fs, depth + 1);
    factors_bool(op->operands[1].value, fs, depth + 1);
  } else if (depth < MAX_DEPTH && passes_through(op)) {
    factors_bool(op->operands[0].value, fs, depth + 1);
  } else {
    push(fs, v, false, false);
  }
}

/* An attribute value as the op stores it: rounded to dt (-1e30 in bf16 is
 * about -9.98e29, which does not mask). */
static double stored(double x, TirDType dt) {
  unsigned char buf[16];
  tir_store_f64(dt, buf, 0, x);
  return tir_load_f64(dt, buf, 0);
}

static bool is_zero(TirValue *v) {
  double c;
  return tir_value_const_scalar(v, &c) && c == 0;
}

static bool is_masking(TirValue *v, TirDType dt) {
  double c;
  return tir_value_const_scalar(v, &c) && tir_is_masking_value(c, dt);
}

/* Is every element of float v either 0 or masking (in v's dtype)?  Then v
 * is a conjunction factor by itself: added to other such factors it masks
 * exactly where one of them does.
 *   full(0 or M)   where(%c, 0|M, 0|M)   masked_fill(x, %c, M) of such x
 *   triu/tril (zeros outside) of one, add of two, a view or copy of one
 *   a constant whose data is all 0 or masking */
static bool bool_like(TirValue *v, int depth) {
  TirOp *op = v->def;
  TirDType dt = v->type.dtype;
  if (!op || depth >= MAX_DEPTH || !tir_dtype_is_float(dt)) return false;
  double c;
  if (tir_value_const_scalar(v, &c)) return c == 0 || tir_is_masking_value(c, dt);
  switch (op->kind) {
  case TIR_OP_FULL: {
    double x = stored(tir_op_attr_float(op, "value"), dt);
    return x == 0 || tir_is_masking_value(x, dt);
  }
  case TIR_OP_CONST: {
    int64_t n;
    if (!op->data || !tir_type_numel(&v->type, &n) || n > ((int64_t)1 << 22)) return false;
    for (int64_t i = 0; i < n; i++) {
      double x = tir_load_f64(dt, op->data, (size_t)i);
      if (x != 0 && !tir_is_masking_value(x, dt)) return false;
    }
    return true;
  }
  case TIR_OP_WHERE:
    return bool_like(op->operands[1].value, depth + 1) && bool_like(op->operands[2].value, depth + 1);
  case TIR_OP_MASKED_FILL:
    return tir_is_masking_value(stored(tir_op_attr_float(op, "value"), dt), dt) && bool_like(op->operands[0].value, depth + 1);
  case TIR_OP_ADD:
    return bool_like(op->operands[0].value, depth + 1) && bool_like(op->operands[1].value, depth + 1);
  case TIR_OP_TRIU: case TIR_OP_TRIL: case TIR_OP_RESHAPE: case TIR_OP_PERMUTE: case TIR_OP_TRANSPOSE:
  case TIR_OP_UNSQUEEZE: case TIR_OP_SQUEEZE: case TIR_OP_SLICE: case TIR_OP_EXPAND:
  case TIR_OP_CONTIGUOUS: case TIR_OP_CLONE:
    return bool_like(op->operands[0].value, depth + 1);
  default: return false;
  }
}

/* Adds the factors of a float mask whose every value is 0 or masking; false
 * (adding nothing) when v is not of that form.  where(%c, 0, M) gives the
 * keep condition %c itself (and its own factors), where(%c, M, 0) and
 * masked_fill(0, %c, M) the condition negated, add(x, y) the factors of
 * both, and any other bool_like value is one float factor. */
static bool factors_float(TirValue *v, Factors *fs, int depth) {
  TirOp *op = v->def;
  TirDType dt = v->type.dtype;
  if (!op || depth >= MAX_DEPTH) return false;
  switch (op->kind) {
  case TIR_OP_WHERE: {
    TirValue *c = op->operands[0].value, *a = op->operands[1].value, *b = op->operands[2].value;
    if (is_zero(a) && is_masking(b, dt)) return factors_bool(c, fs, depth + 1), true;
    if (is_masking(a, dt) && is_zero(b)) return push(fs, c, true, false), true;
    break;
  }
  case TIR_OP_MASKED_FILL:
    if (is_zero(op->operands[0].value) && tir_is_masking_value(stored(tir_op_attr_float(op, "value"), dt), dt))
      return push(fs, op->operands[1].value, true, false), true;
    break;
  case TIR_OP_ADD: {
    int n0 = fs->n;
    if (factors_float(op->operands[0].value, fs, depth + 1) &&
        factors_float(op->operands[1].value, fs, depth + 1))
      return true;
    fs->n = n0;
    return false;
  }
  default:
    if (passes_through(op)) return factors_float(op->operands[0].value, fs, depth + 1);
    break;
  }
  if (!bool_like(v, depth)) return false;
  push(fs, v, false, true);
  return true;
}

static const char *ALIGN_NAME[] = {"top_left", "top_left", "bottom_right"};

static TirCausal align_of(const TirOp *op) {
  const char *a = tir_op_attr_str(op, "causal_align");
  return a && a[0] == 'b' ? TIR_CAUSAL_BOTTOM_RIGHT : TIR_CAUSAL_TOP_LEFT;
}

/* Replaces sdpa op with one over the given operands (mask may be NULL) and
 * the same attributes but is_causal/causal_align/enable_gqa.  The new op
 * takes op's place, so random ops keep their order (dropout streams). */
static bool replace(TirBuilder *b, TirOp *op, TirValue *k, TirValue *v, TirValue *mask,
                    bool causal, TirCausal align, int64_t window, bool gqa) {
  TirModule *m = b->m;
  TirValue *ops[4] = {op->operands[0].value, k, v, mask};
  TirOp *n = tir_op_new(m, TIR_OP_SDPA, ops, mask ? 4 : 3, op->loc);
  if (!n) return false;
  int na = tir_op_schema(TIR_OP_SDPA)->nattrs;
  for (int i = 0; i < na; i++) n->attrs[i] = op->attrs[i];
  tir_op_set_bool(n, "is_causal", causal);
  tir_op_set_str(n, "causal_align", ALIGN_NAME[align]);
  tir_op_set_bool(n, "enable_gqa", gqa);
  if (window) tir_op_set_int(n, "window", window);
  TirValue *r = tir_rw_build(b, n);
  if (!r || !tir_type_equal(&r->type, &op->result->type)) return false;
  r->name = op->result->name;
  tir_value_replace_all_uses(op->result, r);
  tir_rw_erase_dead(op);
  return true;
}

/* The mask at its smallest shape: elementwise ops commute with
 * broadcasting, so f(expand(x), c) = expand(f(x, c)), and sdpa broadcasts
 * its mask itself.  Rebuilds the elementwise ops between the mask and the
 * expands with unexpanded operands (their attributes kept); returns v itself
 * when nothing is expanded.  Hugging Face's eager attention expands its
 * padding mask to [B, 1, L, S]; shrunk, it is a key mask [B, 1, 1, S]. */
/* A bool value that is true everywhere: full(true), or constant data with no
 * zero. */
static bool all_true(TirValue *v) {
  TirOp *op = v->def;
  int64_t n;
  if (!op || v->type.dtype != TIR_BOOL) return false;
  if (op->kind == TIR_OP_FULL) return tir_op_attr_float(op, "value") != 0;
  if (op->kind != TIR_OP_CONST || !op->data || !tir_type_numel(&v->type, &n) || n > ((int64_t)1 << 24))
    return false;
  for (int64_t i = 0; i < n; i++)
    if (((const unsigned char *)op->data)[i] == 0) return false;
  return true;
}

static TirValue *shrink(TirBuilder *b, TirValue *v, int depth) {
  TirOp *op = v->def;
  if (!op || depth >= MAX_DEPTH || b->failed) return v;
  if (passes_through(op)) return shrink(b, op->operands[0].value, depth + 1);
  /* logical_and(x, true everywhere) is x broadcast (Hugging Face ands its
   * padding with an all-true "bidirectional" mask). */
  if (op->kind == TIR_OP_LOGICAL_AND) {
    TirValue *x = op->operands[0].value, *y = op->operands[1].value;
    if (all_true(y) && x->type.dtype == TIR_BOOL) return shrink(b, x, depth + 1);
    if (all_true(x) && y->type.dtype == TIR_BOOL) return shrink(b, y, depth + 1);
  }
  if (!(tir_op_schema(op->kind)->flags & TIR_OPF_ELEMENTWISE) || op->n_operands > 4) return v;
  TirValue *ops[4];
  bool changed = false;
  for (int i = 0; i < op->n_operands; i++) {
    ops[i] = shrink(b, op->operands[i].value, depth + 1);
    changed |= ops[i] != op->operands[i].value;
  }
  if (!changed) return v;
  TirOp *n = tir_op_new(b->m, op->kind, ops, op->n_operands, op->loc);
  if (!n) return b->failed = true, v;
  int na = tir_op_schema(op->kind)->nattrs;
  for (int i = 0; i < na; i++) n->attrs[i] = op->attrs[i];
  TirValue *r = tir_rw_build(b, n);
  if (!r || r->type.dtype != v->type.dtype) return b->failed = true, v;
  r->name = v->name;
  return r;
}

static bool query_axis_one(const TirValue *v) {
  int64_t one;
  return v->type.rank < 2 || (tir_dim_is_const(v->type.dims[v->type.rank - 2], &one) && one == 1);
}

static void simplify(TirOp *op, const TirPassOptions *opts) {
  TirModule *m = op->module;
  TirValue *q = op->operands[0].value, *k = op->operands[1].value, *v = op->operands[2].value;
  TirValue *mask = op->n_operands > 3 ? op->operands[3].value : NULL;
  bool gqa = tir_op_attr_bool(op, "enable_gqa"), changed = false;

  const TirDim *gk = NULL, *gv = NULL;
  TirValue *k0 = tir_rw_unrepeat(m, k, &gk), *v0 = tir_rw_unrepeat(m, v, &gv);
  if (k0 && v0 && gk == gv && k0->type.dims[k0->type.rank - 3] == v0->type.dims[v0->type.rank - 3]) {
    k = k0, v = v0, gqa = true, changed = true;
  }

  /* is_causal and window share one alignment (causal_align). */
  bool causal = tir_op_attr_bool(op, "is_causal");
  int64_t window = tir_op_has_attr(op, "window") ? tir_op_attr_int(op, "window") : 0;
  TirCausal align = causal || window ? align_of(op) : TIR_NOT_CAUSAL;
  Factors fs = {.n = 0};
  bool dropped = false, decomposed = false;
  if (mask) {
    bool exact = tir_op_has_attr(op, "exact_mask") && tir_op_attr_bool(op, "exact_mask");
    if (mask->type.dtype == TIR_BOOL) {
      factors_bool(mask, &fs, 0);
      decomposed = true;
    } else if (!exact && factors_float(mask, &fs, 0)) {
      decomposed = true;
    } else {
      push(&fs, mask, false, true);
    }
    int qr = q->type.rank, kr = k->type.rank;
    const TirDim *L = q->type.dims[qr - 2], *S = k->type.dims[kr - 2];
    int kept = 0;
    for (int i = 0; i < fs.n && !fs.overflow; i++) {
      Factor *f = &fs.f[i];
      char why[200] = "";
      TirMaskQuery mq = {f->v, f->additive ? TIR_MASK_ADDITIVE : TIR_MASK_KEEP_BOOL, f->negated, 1, L, S};
      int64_t w = 0;
      TirCausal c = tir_prove_mask_window(m, &mq, &w, why, sizeof why);
      if (opts->mask_observer) opts->mask_observer(opts->mask_observer_ctx, m, &mq, c, w);
      bool band = c == TIR_CAUSAL_WINDOW_TOP_LEFT || c == TIR_CAUSAL_WINDOW_BOTTOM_RIGHT;
      bool win = band || c == TIR_WINDOW_TOP_LEFT || c == TIR_WINDOW_BOTTOM_RIGHT;
      TirCausal ca = c == TIR_WINDOW_TOP_LEFT || c == TIR_CAUSAL_WINDOW_TOP_LEFT ? TIR_CAUSAL_TOP_LEFT
                     : c == TIR_WINDOW_BOTTOM_RIGHT || c == TIR_CAUSAL_WINDOW_BOTTOM_RIGHT
                         ? TIR_CAUSAL_BOTTOM_RIGHT
                         : c;
      /* exact_mask: only -inf masks.  A finite fill is -inf all the same on
       * a row that keeps a key (the argument above tir_prove_mask_window in
       * causal.c, which fuse-attention relies on too), so the claims are
       * taken only where every row keeps one: causal (top-left keeps j = 0,
       * bottom-right is claimed only with S >= L), a band that keeps j = i'
       * on every row (bottom-right, or top-left with L <= S), everything. */
      if (f->additive && exact) {
        int64_t lc, sc;
        bool rows_keep = c == TIR_MASK_KEEPS_ALL || c == TIR_CAUSAL_TOP_LEFT ||
                         c == TIR_CAUSAL_BOTTOM_RIGHT || c == TIR_CAUSAL_WINDOW_BOTTOM_RIGHT ||
                         (c == TIR_CAUSAL_WINDOW_TOP_LEFT && tir_dim_is_const(L, &lc) &&
                          tir_dim_is_const(S, &sc) && lc <= sc);
        if (!rows_keep) {
          if (opts->remarks)
            tir_diag_remark(opts->diag, op->loc, "sdpa mask kept (exact_mask): %s",
                            why[0] ? why : "a row may keep no key, where a finite fill averages");
          fs.f[kept++] = *f;
          continue;
        }
      }
      if (c == TIR_MASK_KEEPS_ALL) {
        dropped = true;
        continue;
      }
      if (c != TIR_NOT_CAUSAL && (align == TIR_NOT_CAUSAL || align == ca)) {
        /* Two windows of one alignment: j > i' - W1 and j > i' - W2 is the
         * smaller window. */
        if (win) window = window ? (w < window ? w : window) : w;
        if (!win || band) causal = true;
        align = ca;
        dropped = true;
        continue;
      }
      if (opts->remarks)
        tir_diag_remark(opts->diag, op->loc, "sdpa mask factor kept: %s",
                        why[0] ? why : "causal or window of the other alignment");
      fs.f[kept++] = *f;
    }
    if (!fs.overflow) fs.n = kept;
  }
  /* A mask that only depends on the key once unexpanded (shrink). */
  bool shrinkable = mask && !dropped && !query_axis_one(mask);
  if (!changed && !dropped && !shrinkable) return;

  TirDiag *quiet = tir_diag_new(NULL, 1);
  if (!quiet) return;
  TirBuilder b = {.m = m, .anchor = op, .quiet = quiet};
  TirValue *nm = dropped ? NULL : mask;
  if (shrinkable) {
    TirValue *sm = shrink(&b, mask, 0);
    if (!b.failed && sm != mask && query_axis_one(sm)) {
      nm = sm;
      changed = true;
    } else {
      tir_rw_undo(&b);
      b.failed = false;
      if (!changed) {
        tir_diag_free(quiet);
        return;
      }
    }
  }
  if (dropped && fs.n) {
    if (!decomposed) {
      nm = fs.f[0].v; /* the one float factor: the mask itself */
    } else {
      /* keep conditions and'ed; float factors (all 0 or masking) added */
      TirValue *keep = NULL, *add = NULL;
      for (int i = 0; i < fs.n; i++) {
        Factor *f = &fs.f[i];
        if (f->additive) {
          add = add ? tir_rw_build2(&b, TIR_OP_ADD, add, f->v, op->loc) : f->v;
          continue;
        }
        TirValue *x = f->negated ? tir_rw_build1(&b, TIR_OP_LOGICAL_NOT, f->v, op->loc) : f->v;
        keep = keep ? tir_rw_build2(&b, TIR_OP_LOGICAL_AND, keep, x, op->loc) : x;
      }
      nm = add ? add : keep;
      if (add && keep) {
        TirDType dt = add->type.dtype;
        TirValue *ops[3] = {keep, tir_rw_scalar(&b, dt, 0, op->loc), tir_rw_scalar(&b, dt, -INFINITY, op->loc)};
        TirValue *w = b.failed ? NULL : tir_rw_build(&b, tir_op_new(m, TIR_OP_WHERE, ops, 3, op->loc));
        nm = tir_rw_build2(&b, TIR_OP_ADD, add, w, op->loc);
      }
    }
  }
  if (b.failed || !replace(&b, op, k, v, nm, causal, align == TIR_NOT_CAUSAL ? TIR_CAUSAL_TOP_LEFT : align,
                           window, gqa)) {
    tir_rw_undo(&b);
    if (opts->remarks)
      tir_diag_remark(opts->diag, op->loc, "sdpa not simplified: the new operands do not fit sdpa's shape rules");
  }
  tir_diag_free(quiet);
}

TirStatus tir_pass_simplify_sdpa(TirModule *m, const TirPassOptions *opts) {
  for (TirFunc *f = m->first_func; f; f = f->next) {
    size_t n = 0, cap = 16;
    TirOp **ops = malloc(cap * sizeof *ops);
    if (!ops) return TIR_ERR_INTERNAL;
    for (TirOp *op = f->first; op; op = op->next) {
      if (op->kind != TIR_OP_SDPA) continue;
      if (n == cap) {
        TirOp **g = realloc(ops, (cap *= 2) * sizeof *ops);
        if (!g) {
          free(ops);
          return TIR_ERR_INTERNAL;
        }
        ops = g;
      }
      ops[n++] = op;
    }
    for (size_t i = 0; i < n; i++) simplify(ops[i], opts);
    free(ops);
  }
  return TIR_OK;
}
