/* causal.h — proving that an attention mask is exactly the causal mask.
 *
 * The prover interprets the ops that compute a mask abstractly, tracking for
 * each value whether it is a row/column index (arange), a predicate over the
 * last two positions (i = row, j = column) of the form `j - i <= d` or
 * `j - i >= d`, a 0/1 tensor, or an additive 0/-inf mask.  Constants from
 * files are checked element by element.  Anything it cannot follow is
 * "unknown", and unknown never proves causality: a wrong is_causal is a
 * silent wrong answer. */
#ifndef TIR_CAUSAL_H
#define TIR_CAUSAL_H

#include "ir.h"

typedef enum { TIR_MASK_KEEP_BOOL, TIR_MASK_ADDITIVE } TirMaskUse;

typedef enum {
  TIR_NOT_CAUSAL = 0,
  TIR_CAUSAL_TOP_LEFT,     /* attend iff j <= i */
  TIR_CAUSAL_BOTTOM_RIGHT, /* attend iff j <= i + (S - L) */
} TirCausal;

/* Is `mask`, used as `use` (a bool mask where true means attend, optionally
 * negated, or an additive float mask), equal to the causal mask over scores
 * of shape [..., L, S]?  The mask's last two dims must be exactly L and S. */
TirCausal tir_prove_causal(TirModule *m, TirValue *mask, TirMaskUse use, bool negated,
                           const TirDim *L, const TirDim *S);

/* For --remarks and tests: a short description of what the prover made of
 * a mask value ("keep where j - i <= 0", "unknown: ...").  Writes into buf. */
void tir_describe_mask(TirModule *m, TirValue *mask, char *buf, size_t n);

#endif
