/* fuse_attention.c — the fuse-attention pass: rewrites each chain that
 * computes attention op by op into one `sdpa` op, proving causal masks.
 *
 * The matcher anchors on `softmax` over the last axis and walks down to the
 * P @ V matmul and up to the Q @ Kᵀ matmul.  Everything between must be a
 * form whose meaning it knows exactly; anything else leaves the chain alone
 * (and, with --remarks, says why).  canonicalize runs first and turns the
 * written-out softmax and the 3-D bmm form into the plain forms seen here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "causal.h"
#include "passes.h"
#include "rewrite.h"

enum { MAX_CHAIN = 32, MAX_MASKS = 8 };

typedef enum { STEP_SCALE, STEP_ADD_MASK, STEP_KEEP_MASK, STEP_CAST, STEP_TANH } StepKind;
typedef struct {
  StepKind kind;
  double c;         /* SCALE */
  TirValue *mask;   /* ADD_MASK, KEEP_MASK */
  bool negated;     /* KEEP_MASK: attend where the mask is false */
  double fill;      /* KEEP_MASK: the value written where it masks */
} Step;

typedef struct {
  TirValue *v;
  bool additive;  /* else a bool keep mask */
  bool negated;
  double mscale;  /* masks (and fills) applied before a later scale are scaled too */
  double fill;    /* keep masks: the value the chain writes where it masks */
} Mask;

typedef struct {
  TirOp *softmax, *qk, *pv;
  TirValue *q, *k, *v;   /* k as [..., S, E]; NULL k with kt set: k arrives transposed */
  TirValue *kt;
  double scale, dropout_p;
  double softcap; /* > 0: the scores pass through C * tanh(s / C) (Gemma 2) */
  bool gqa;
  Step steps[MAX_CHAIN]; /* bottom-up, as found */
  int n_steps;
  Mask masks[MAX_MASKS];
  int n_masks;
} Match;

static bool scalar_const(TirValue *v, double *c) { return tir_value_const_scalar(v, c); }

/* Does following the score chain from v reach a matmul?  Used to tell the
 * scores from the mask in add(mask, scores). */
static bool reaches_matmul(TirValue *v, int depth) {
  TirOp *op = v->def;
  if (!op || depth > MAX_CHAIN) return false;
  double c;
  switch (op->kind) {
  case TIR_OP_MATMUL: return true;
  case TIR_OP_MUL:
    if (scalar_const(op->operands[1].value, &c)) return reaches_matmul(op->operands[0].value, depth + 1);
    if (scalar_const(op->operands[0].value, &c)) return reaches_matmul(op->operands[1].value, depth + 1);
    return false;
  case TIR_OP_DIV:
  case TIR_OP_MASKED_FILL:
  case TIR_OP_TANH:
  case TIR_OP_CAST: return reaches_matmul(op->operands[0].value, depth + 1);
  case TIR_OP_ADD:
    return reaches_matmul(op->operands[0].value, depth + 1) ||
           reaches_matmul(op->operands[1].value, depth + 1);
  case TIR_OP_WHERE:
    return reaches_matmul(op->operands[1].value, depth + 1) ||
           reaches_matmul(op->operands[2].value, depth + 1);
  default: return false;
  }
}

/* Strips scalar multiplications and divisions off an operand of the score
 * matmul (scale on q, on k, or split over both), folding them into *scale.
 *   %q2 = mul(%q, %c)   or   %q2 = div(%q, %c)        with %c a scalar constant */
static TirValue *strip_scale(TirValue *x, double *scale) {
  for (int i = 0; i < 4 && x->def && tir_value_has_one_use(x); i++) {
    TirOp *op = x->def;
    double c;
    if (op->kind == TIR_OP_MUL && scalar_const(op->operands[1].value, &c) &&
        tir_type_equal(&op->operands[0].value->type, &x->type)) {
      *scale *= c;
      x = op->operands[0].value;
    } else if (op->kind == TIR_OP_MUL && scalar_const(op->operands[0].value, &c) &&
               tir_type_equal(&op->operands[1].value->type, &x->type)) {
      *scale *= c;
      x = op->operands[1].value;
    } else if (op->kind == TIR_OP_DIV && scalar_const(op->operands[1].value, &c) && c != 0 &&
               tir_type_equal(&op->operands[0].value->type, &x->type)) {
      *scale /= c;
      x = op->operands[0].value;
    } else {
      break;
    }
  }
  return x;
}

/* Does op swap exactly the last two axes?
 *   transpose(%x, dim0=-2, dim1=-1)   or   permute(%x, dims=[0, 1, 3, 2]) */
static bool swaps_last_two(const TirOp *op) {
  int r = op->operands[0].value->type.rank;
  int64_t perm[TIR_MAX_RANK];
  if ((op->kind != TIR_OP_TRANSPOSE && op->kind != TIR_OP_PERMUTE) || r < 2 ||
      !tir_op_permutation(op, perm))
    return false;
  for (int i = 0; i < r; i++)
    if (perm[i] != (i == r - 2 ? r - 1 : i == r - 1 ? r - 2 : i)) return false;
  return true;
}

/* ------------------------------------------------------------ matching */

/* Walks down from the softmax:
 *   %p = softmax(%s, dim=-1)
 *   [%p1 = cast(%p, dtype=f16)]  [%p2 = dropout(%p1, p=P, training=true)]  [cast]
 *   %o = matmul(%p2, %v) */
static const char *match_down(Match *mt) {
  TirValue *p = mt->softmax->result;
  bool cast = false, drop = false;
  for (int i = 0; i < 4; i++) {
    if (!p->first_use) return "the probabilities are not used";
    if (!tir_value_has_one_use(p)) return "the probabilities are also used elsewhere";
    TirOp *u = p->first_use->owner;
    if (u->kind == TIR_OP_CAST && !cast && tir_dtype_is_float(u->result->type.dtype)) {
      cast = true;
    } else if (u->kind == TIR_OP_DROPOUT && !drop) {
      drop = true;
      if (tir_op_attr_bool(u, "training")) mt->dropout_p = tir_op_attr_float(u, "p");
      if (mt->dropout_p >= 1) return "dropout with p=1";
    } else if (u->kind == TIR_OP_MATMUL) {
      if (p->first_use != &u->operands[0]) return "the probabilities are the right operand of a matmul";
      mt->pv = u;
      mt->v = u->operands[1].value;
      return NULL;
    } else {
      return "the probabilities feed an op other than dropout, cast or matmul";
    }
    p = u->result;
  }
  return "the probabilities do not reach a matmul";
}

/* Walks up from the softmax input to the score matmul, recording each step:
 *   %s = matmul(%q, %kt)            the scores
 *   mul(%s, c) / div(%s, c)         scale by a scalar constant
 *   add(%s, %m) / add(%m, %s)       additive float mask (bias, ALiBi, 0/-inf)
 *   masked_fill(%s, %m, value=-inf) bool mask, true = masked
 *   where(%m, %s, -inf) / where(%m, -inf, %s)   bool mask
 *   cast(%s, dtype=f32)             softmax computed in f32 */
static const char *match_up(Match *mt) {
  TirValue *s = mt->softmax->operands[0].value;
  TirDType dt = s->type.dtype;
  for (;;) {
    TirOp *op = s->def;
    if (!op) return "the scores are a function argument";
    if (op->kind == TIR_OP_MATMUL) {
      mt->qk = op;
      break;
    }
    if (!tir_value_has_one_use(s)) return "the scores are also used elsewhere";
    if (mt->n_steps == MAX_CHAIN) return "the score chain is too long";
    Step *st = &mt->steps[mt->n_steps++];
    double c;
    switch (op->kind) {
    case TIR_OP_MUL:
      st->kind = STEP_SCALE;
      if (scalar_const(op->operands[1].value, &st->c)) s = op->operands[0].value;
      else if (scalar_const(op->operands[0].value, &st->c)) s = op->operands[1].value;
      else return "the scores are multiplied by a tensor";
      break;
    case TIR_OP_DIV:
      if (!scalar_const(op->operands[1].value, &c) || c == 0)
        return "the scores are divided by something other than a nonzero scalar constant";
      st->kind = STEP_SCALE;
      st->c = 1 / c;
      s = op->operands[0].value;
      break;
    case TIR_OP_ADD: {
      bool a = reaches_matmul(op->operands[0].value, 0), b = reaches_matmul(op->operands[1].value, 0);
      if (a == b) return "cannot tell the scores from the mask in an add";
      st->kind = STEP_ADD_MASK;
      st->mask = op->operands[a ? 1 : 0].value;
      s = op->operands[a ? 0 : 1].value;
      if (!tir_dtype_is_float(st->mask->type.dtype)) return "an added mask is not float";
      break;
    }
    case TIR_OP_MASKED_FILL:
      if (!tir_is_masking_value(tir_op_attr_float(op, "value"), op->result->type.dtype))
        return "masked_fill with a value that does not mask (not -inf or the lowest value)";
      st->kind = STEP_KEEP_MASK;
      st->mask = op->operands[1].value;
      st->negated = true;
      st->fill = tir_op_attr_float(op, "value");
      s = op->operands[0].value;
      break;
    case TIR_OP_WHERE: {
      double fill;
      bool a = reaches_matmul(op->operands[1].value, 0), b = reaches_matmul(op->operands[2].value, 0);
      if (a == b) return "cannot tell the scores in a where()";
      if (!scalar_const(op->operands[a ? 2 : 1].value, &fill) ||
          !tir_is_masking_value(fill, op->result->type.dtype))
        return "where() fills with a value that does not mask";
      st->kind = STEP_KEEP_MASK;
      st->mask = op->operands[0].value;
      st->negated = !a;
      st->fill = fill;
      s = op->operands[a ? 1 : 2].value;
      break;
    }
    case TIR_OP_CAST:
      if (!tir_dtype_is_float(op->operands[0].value->type.dtype) || !tir_dtype_is_float(dt))
        return "the scores are cast to or from a non-float type";
      st->kind = STEP_CAST;
      s = op->operands[0].value;
      break;
    case TIR_OP_TANH: /* logit soft-capping: C * tanh(s / C), see fold_steps */
      st->kind = STEP_TANH;
      s = op->operands[0].value;
      break;
    default: return "the scores pass through an op that is not a scale, mask, tanh or cast";
    }
  }
  return NULL;
}

/* The two matmul operands: q (with scale stripped) and k. */
static const char *match_qk(TirModule *m, Match *mt) {
  mt->scale = 1;
  mt->q = strip_scale(mt->qk->operands[0].value, &mt->scale);
  TirValue *b = strip_scale(mt->qk->operands[1].value, &mt->scale);
  /* Falcon's MQA expands after the transpose:
   *   %kt = transpose(%k, dim0=-2, dim1=-1)      [..., 1, E, S]
   *   %ke = expand(%kt, shape=[..., H, E, S])
   * which is the transpose of expand(%k) over the head axis: k is read
   * unrepeated with H groups (if v is repeated the same way, below). */
  const TirDim *kgroups = NULL;
  TirValue *kx = NULL;
  double ksc = 1; /* a scale between the expand and the transpose (sdpa's decomposition) */
  if (b->def && b->def->kind == TIR_OP_EXPAND) {
    TirValue *in = strip_scale(b->def->operands[0].value, &ksc);
    const TirType *bt = &b->type, *it = &in->type;
    int R = bt->rank;
    int64_t one;
    bool ok = in->def && swaps_last_two(in->def) && it->rank == R && R >= 3 &&
              tir_dim_is_const(it->dims[R - 3], &one) && one == 1;
    for (int i = 0; ok && i < R; i++)
      if (i != R - 3 && it->dims[i] != bt->dims[i]) ok = false;
    if (ok) {
      kx = in->def->operands[0].value;
      kgroups = bt->dims[R - 3];
    }
  }
  if (b->def && swaps_last_two(b->def)) {
    mt->k = strip_scale(b->def->operands[0].value, &mt->scale);
  } else {
    mt->kt = b; /* k arrives pre-transposed as [..., E, S] */
  }
  if (kx) {
    const TirDim *gv = NULL;
    TirValue *v0 = tir_rw_unrepeat(m, mt->v, &gv);
    if (v0 && gv == kgroups && v0->type.dims[v0->type.rank - 3] == kx->type.dims[kx->type.rank - 3]) {
      mt->scale *= ksc;
      mt->k = strip_scale(kx, &mt->scale);
      mt->kt = NULL;
      mt->v = v0;
      mt->gqa = true;
    }
  }
  /* GQA: both k and v repeated by the same factor. */
  if (mt->k && !mt->gqa) {
    const TirDim *gk = NULL, *gv = NULL;
    TirValue *k0 = tir_rw_unrepeat(m, mt->k, &gk), *v0 = tir_rw_unrepeat(m, mt->v, &gv);
    if (k0 && v0 && gk == gv && k0->type.dims[k0->type.rank - 3] == v0->type.dims[v0->type.rank - 3]) {
      mt->k = k0;
      mt->v = v0;
      mt->gqa = true;
    }
  }
  TirDType dt = mt->q->type.dtype;
  if (!tir_dtype_is_float(dt)) return "attention on a non-float type";
  TirValue *kk = mt->k ? mt->k : mt->kt;
  if (kk->type.dtype != dt || mt->v->type.dtype != dt || mt->pv->result->type.dtype != dt)
    return "q, k, v and the output do not share one dtype";
  int r = mt->q->type.rank;
  if (r < 3 || kk->type.rank != r || mt->v->type.rank != r)
    return "q, k and v are not of one rank >= 3";
  return NULL;
}

/* Combines scales and masks top-down: sdpa computes softmax(S * scale + mask),
 * so a mask added before a later scale is scaled with it.
 *
 * Soft-capping (Gemma 2: s * scaling / C, tanh, * C, + mask): sdpa's
 * softcap=C computes C * tanh(S * scale / C).  With `pre` the product of the
 * scales before the tanh and `post` the product of those after it, the chain
 * computes post * tanh(pre * S) = C * tanh(S * scale / C) for C = post and
 * scale = pre * post; C must be positive (a negative one flips the scores).
 * A mask before the tanh would be squashed (tanh(-inf) = -1): refused. */
static const char *fold_steps(Match *mt) {
  bool tanh_seen = false;
  double pre = 1;
  for (int i = mt->n_steps - 1; i >= 0; i--) {
    Step *st = &mt->steps[i];
    switch (st->kind) {
    case STEP_SCALE:
      /* A mask added earlier is scaled too; a non-positive factor would turn
       * its -inf into +inf or nan.  Without one, any finite scale is fine. */
      if (!isfinite(st->c)) return "the scores are scaled by a non-finite value";
      if (mt->n_masks > 0 && !(st->c > 0)) return "a mask is scaled by a non-positive value";
      mt->scale *= st->c;
      for (int j = 0; j < mt->n_masks; j++) mt->masks[j].mscale *= st->c;
      break;
    case STEP_ADD_MASK:
    case STEP_KEEP_MASK:
      if (mt->n_masks == MAX_MASKS) return "too many masks";
      mt->masks[mt->n_masks++] = (Mask){st->mask, st->kind == STEP_ADD_MASK, st->negated, 1.0, st->fill};
      break;
    case STEP_CAST: break;
    case STEP_TANH:
      if (tanh_seen) return "two tanh on the scores";
      if (mt->n_masks > 0) return "a mask before a tanh of the scores";
      tanh_seen = true;
      pre = mt->scale;
      mt->scale = 1;
      break;
    }
  }
  if (tanh_seen) {
    if (!(mt->scale > 0) || !isfinite(mt->scale)) return "tanh of the scores not multiplied by a positive cap";
    mt->softcap = mt->scale;
    mt->scale = pre * mt->softcap;
  }
  if (!isfinite(mt->scale)) return "the scale is not a finite number";
  /* A finite fill written before a scale reaches the softmax scaled: -1e30
   * times 1e-30 is -1, which masks nothing. */
  for (int j = 0; j < mt->n_masks; j++) {
    Mask *mk = &mt->masks[j];
    if (!mk->additive && !tir_is_masking_value(mk->fill * mk->mscale, mt->softmax->operands[0].value->type.dtype))
      return "a mask's finite fill value is scaled out of the masking range by a later scale";
  }
  return NULL;
}

/* ------------------------------------------------------------ rewriting */

static const char *ALIGN_NAME[] = {"top_left", "top_left", "bottom_right"};

static const char *rewrite(Match *mt, const TirPassOptions *opts) {
  TirModule *m = mt->softmax->module;
  TirDiag *quiet = tir_diag_new(NULL, 1);
  if (!quiet) return "out of memory";
  TirBuilder b = {.m = m, .anchor = mt->pv, .quiet = quiet};
  TirLoc loc = mt->pv->loc;
  TirDType dt = mt->q->type.dtype;

  TirValue *k = mt->k;
  if (!k) {
    TirOp *t = tir_op_new(m, TIR_OP_TRANSPOSE, &mt->kt, 1, loc);
    if (t) {
      tir_op_set_int(t, "dim0", -2);
      tir_op_set_int(t, "dim1", -1);
    }
    k = tir_rw_build(&b, t);
    if (k) k->name = "k"; /* readable in dumps; the printer uniquifies it */
  }
  const TirDim *L = mt->q->type.dims[mt->q->type.rank - 2];
  const TirDim *S = k ? k->type.dims[k->type.rank - 2] : NULL;

  /* Causal proofs first: a proven mask is dropped for is_causal, a mask
   * that keeps every position is dropped outright. */
  TirCausal causal = TIR_NOT_CAUSAL;
  TirValue *keep = NULL, *add = NULL;
  bool exact = false; /* a kept float mask: sdpa adds it as written (exact_mask) */
  for (int i = 0; i < mt->n_masks && !b.failed; i++) {
    Mask *mk = &mt->masks[i];
    char why[200] = "";
    TirMaskQuery q = {mk->v, mk->additive ? TIR_MASK_ADDITIVE : TIR_MASK_KEEP_BOOL, mk->negated,
                      mk->mscale, L, S};
    TirCausal c = S ? tir_prove_mask(m, &q, why, sizeof why) : TIR_NOT_CAUSAL;
    if (opts->mask_observer) opts->mask_observer(opts->mask_observer_ctx, m, &q, c, 0);
    if (c == TIR_MASK_KEEPS_ALL) continue;
    if (c != TIR_NOT_CAUSAL && (causal == TIR_NOT_CAUSAL || causal == c)) {
      causal = c;
      continue;
    }
    if (opts->remarks)
      tir_diag_remark(opts->diag, mt->softmax->loc, "attention mask kept (not proven causal): %s",
                      why[0] ? why : "a second causal mask of the other alignment");
    /* A keep mask with a finite fill (masked_fill(s, m, finfo.min)) becomes
     * the additive mask where(keep, 0, fill): the chain's fully masked rows
     * then come out as the chain computes them (all scores equal the fill:
     * a uniform average), not as sdpa's masked rows (0). */
    bool finite_keep = !mk->additive && isfinite(mk->fill);
    if (finite_keep) {
      TirValue *z = tir_rw_scalar(&b, dt, 0, loc), *f = tir_rw_scalar(&b, dt, mk->fill * mk->mscale, loc);
      TirValue *ops[3] = {mk->v, mk->negated ? f : z, mk->negated ? z : f};
      TirValue *w = NULL;
      if (!b.failed) w = tir_rw_build(&b, tir_op_new(m, TIR_OP_WHERE, ops, 3, loc));
      add = add ? tir_rw_build2(&b, TIR_OP_ADD, add, w, loc) : w;
      exact = true;
    } else if (mk->additive) {
      exact = true;
      TirValue *v = mk->v;
      if (mk->mscale != 1) v = tir_rw_build2(&b, TIR_OP_MUL, v, tir_rw_scalar(&b, v->type.dtype, mk->mscale, loc), loc);
      if (v && v->type.dtype != dt) {
        TirOp *c2 = tir_op_new(m, TIR_OP_CAST, &v, 1, loc);
        if (c2) tir_op_set_dtype(c2, "dtype", dt);
        v = tir_rw_build(&b, c2);
      }
      add = add ? tir_rw_build2(&b, TIR_OP_ADD, add, v, loc) : v;
    } else {
      TirValue *v = mk->negated ? tir_rw_build1(&b, TIR_OP_LOGICAL_NOT, mk->v, loc) : mk->v;
      keep = keep ? tir_rw_build2(&b, TIR_OP_LOGICAL_AND, keep, v, loc) : v;
    }
  }
  TirValue *mask = add ? add : keep;
  if (add && keep) {
    TirValue *ops[3] = {keep, tir_rw_scalar(&b, dt, 0, loc), tir_rw_scalar(&b, dt, -INFINITY, loc)};
    TirValue *f = NULL;
    if (!b.failed) f = tir_rw_build(&b, tir_op_new(m, TIR_OP_WHERE, ops, 3, loc));
    mask = tir_rw_build2(&b, TIR_OP_ADD, add, f, loc);
  }

  TirValue *sd = NULL;
  if (!b.failed) {
    TirValue *ops[4] = {mt->q, k, mt->v, mask};
    TirOp *op = tir_op_new(m, TIR_OP_SDPA, ops, mask ? 4 : 3, loc);
    if (op) {
      tir_op_set_bool(op, "is_causal", causal != TIR_NOT_CAUSAL);
      tir_op_set_str(op, "causal_align", ALIGN_NAME[causal]);
      tir_op_set_float(op, "scale", mt->scale);
      tir_op_set_float(op, "dropout_p", mt->dropout_p);
      tir_op_set_bool(op, "enable_gqa", mt->gqa);
      if (exact) tir_op_set_bool(op, "exact_mask", true);
      if (mt->softcap > 0) tir_op_set_float(op, "softcap", mt->softcap);
    }
    sd = tir_rw_build(&b, op);
  }
  tir_diag_free(quiet);
  if (!sd || !tir_type_equal(&sd->type, &mt->pv->result->type)) {
    tir_rw_undo(&b);
    return "the matched operands do not fit sdpa's shape rules";
  }
  sd->name = mt->pv->result->name;
  tir_value_replace_all_uses(mt->pv->result, sd);
  tir_rw_erase_dead(mt->pv);
  return NULL;
}

static const char *try_fuse(TirOp *softmax, const TirPassOptions *opts) {
  TirValue *x = softmax->operands[0].value;
  if (tir_rw_norm_dim(tir_op_attr_int(softmax, "dim"), x->type.rank) != x->type.rank - 1)
    return "the softmax is not over the last axis";
  Match mt = {.softmax = softmax};
  const char *why;
  if ((why = match_down(&mt)) || (why = match_up(&mt)) || (why = match_qk(softmax->module, &mt)) ||
      (why = fold_steps(&mt)))
    return why;
  /* The second matmul must contract over the key axis: v is [..., S, Ev]. */
  TirValue *k = mt.k ? mt.k : mt.kt;
  int r = k->type.rank;
  const TirDim *S = mt.k ? k->type.dims[r - 2] : k->type.dims[r - 1];
  if (mt.v->type.dims[r - 2] != S) return "the second matmul is not over the key axis";
  return rewrite(&mt, opts);
}

TirStatus tir_pass_fuse_attention(TirModule *m, const TirPassOptions *opts) {
  for (TirFunc *f = m->first_func; f; f = f->next) {
    /* Collect first: rewriting erases ops behind the cursor. */
    size_t n = 0, cap = 16;
    TirOp **sm = malloc(cap * sizeof *sm);
    if (!sm) return TIR_ERR_INTERNAL;
    for (TirOp *op = f->first; op; op = op->next) {
      if (op->kind != TIR_OP_SOFTMAX) continue;
      if (n == cap) {
        TirOp **g = realloc(sm, (cap *= 2) * sizeof *sm);
        if (!g) {
          free(sm);
          return TIR_ERR_INTERNAL;
        }
        sm = g;
      }
      sm[n++] = op;
    }
    for (size_t i = 0; i < n; i++) {
      const char *why = try_fuse(sm[i], opts);
      if (why && opts->remarks)
        tir_diag_remark(opts->diag, sm[i]->loc, "softmax not fused into attention: %s", why);
    }
    free(sm);
  }
  return TIR_OK;
}
