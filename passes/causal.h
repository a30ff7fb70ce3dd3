/* causal.h — proving what an attention mask is: the causal mask (top-left or
 * bottom-right), a mask that keeps every position, or neither.
 *
 * The prover interprets the ops that compute a mask abstractly (see the top
 * of causal.c for the domain and the argument for each rule).  Anything it
 * cannot follow exactly is "unknown", and unknown never proves anything: a
 * wrong is_causal is a silent wrong answer.  test/judge checks every claim
 * it makes against the mask evaluated element by element. */
#ifndef TIR_CAUSAL_H
#define TIR_CAUSAL_H

#include <stddef.h>

#include "ir.h"

typedef enum { TIR_MASK_KEEP_BOOL, TIR_MASK_ADDITIVE } TirMaskUse;

typedef enum {
  TIR_NOT_CAUSAL = 0,
  TIR_CAUSAL_TOP_LEFT,     /* attend iff j <= i */
  TIR_CAUSAL_BOTTOM_RIGHT, /* attend iff j <= i + (S - L), and S >= L */
  TIR_MASK_KEEPS_ALL,      /* attends everywhere: the mask can be dropped */
  /* Only from tir_prove_mask_window: a sliding window of W keys ending at
   * the query's aligned position (sdpa's window=W, docs/language.md). */
  TIR_WINDOW_TOP_LEFT,     /* attend iff j > i - W */
  TIR_WINDOW_BOTTOM_RIGHT, /* attend iff j > i + (S - L) - W */
  /* Both at once (a band, read from constant data): causal and the window. */
  TIR_CAUSAL_WINDOW_TOP_LEFT,     /* attend iff i - W < j <= i */
  TIR_CAUSAL_WINDOW_BOTTOM_RIGHT, /* the same with i + (S - L), S >= L */
} TirCausal;

/* One mask of an attention chain, as fuse-attention found it. */
typedef struct {
  TirValue *mask;
  TirMaskUse use;
  bool negated;        /* KEEP_BOOL: attend where the mask is false */
  double mscale;       /* ADDITIVE: the mask reaches the softmax multiplied by
                          this (> 0): scales applied after it was added */
  const TirDim *L, *S; /* the scores' last two dims */
} TirMaskQuery;

/* Spec §5: a value at or below -1e30, or at or below the dtype's lowest
 * finite value (f16's -65504), masks like -inf. */
bool tir_is_masking_value(double v, TirDType t);

/* What the mask is over scores of shape [..., L, S].  The mask must
 * broadcast to them (its last two dims L or 1 and S or 1).  When the answer
 * is TIR_NOT_CAUSAL and why is not NULL, a short reason goes into why. */
TirCausal tir_prove_mask(TirModule *m, const TirMaskQuery *q, char *why, size_t n);

/* The same, and also the window claims: a mask that attends iff j - i >= d
 * (top-left) or j - i >= (S - L) + d (bottom-right) for a constant d <= 0 is
 * the window W = 1 - d; *window gets W for those claims. */
TirCausal tir_prove_mask_window(TirModule *m, const TirMaskQuery *q, int64_t *window, char *why,
                                size_t n);

#endif
