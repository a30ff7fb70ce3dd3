/* rewrite.h — helpers shared by the attention passes (fuse-attention,
 * simplify-sdpa): a builder that inserts tentative ops and can undo them,
 * dead-op removal, and the un-repeating of K/V copied for grouped-query
 * attention.  Internal to passes/. */
#ifndef TIR_PASSES_REWRITE_H
#define TIR_PASSES_REWRITE_H

#include "ir.h"

enum { TIR_BUILDER_MAX = 64 };

/* New ops go before `anchor`; each is shape-inferred as it is made, and a
 * failure (with its message sent to `quiet`) marks the builder failed, after
 * which every call returns NULL.  tir_rw_undo erases what was made. */
typedef struct {
  TirModule *m;
  TirOp *anchor;
  TirOp *made[TIR_BUILDER_MAX];
  int n_made;
  TirDiag *quiet;
  bool failed;
} TirBuilder;

TirValue *tir_rw_build(TirBuilder *b, TirOp *op);
TirValue *tir_rw_build1(TirBuilder *b, TirOpKind k, TirValue *x, TirLoc loc);
TirValue *tir_rw_build2(TirBuilder *b, TirOpKind k, TirValue *x, TirValue *y, TirLoc loc);
TirValue *tir_rw_scalar(TirBuilder *b, TirDType dt, double v, TirLoc loc);
void tir_rw_undo(TirBuilder *b);

/* Removes op if its result is unused, then every op feeding it that is left
 * without uses, walking up. */
void tir_rw_erase_dead(TirOp *op);

static inline int tir_rw_norm_dim(int64_t d, int rank) { return (int)(d < 0 ? d + rank : d); }

/* Un-repeats k or v repeated for grouped-query attention.
 * HF repeat_kv, x: [..., Hk, S, E]:
 *   %u = unsqueeze(%x, dim=R-2)                 [..., Hk, 1, S, E]
 *   %e = expand(%u, shape=[..., Hk, n, S, E])
 *   %r = reshape(%e, shape=[..., Hk*n, S, E])
 * MQA, x: [..., 1, S, E]:
 *   %r = expand(%x, shape=[..., H, S, E])
 * Returns x and sets *groups = n (or H), or NULL. */
TirValue *tir_rw_unrepeat(TirModule *m, TirValue *r, const TirDim **groups);

#endif
