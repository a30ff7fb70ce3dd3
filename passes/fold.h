/* fold.h — constant folding of single ops, used by canonicalize (internal). */
#ifndef TIR_PASSES_FOLD_H
#define TIR_PASSES_FOLD_H

#include "ir.h"

/* The largest constant a fold may materialize, in elements.  Bigger results
 * stay as ops: a hostile full(shape=[100000000]) must not become 400 MB. */
#define TIR_FOLD_MAX_ELEMS 4096

/* The CONST data of v when v is defined by a CONST op with a well-formed
 * payload, else NULL. */
const void *tir_fold_const_data(const TirValue *v);

/* When every operand of `op` is a constant (or op is a `full`) and its result
 * has a static shape of at most TIR_FOLD_MAX_ELEMS elements, returns a new,
 * detached CONST op of op's result type holding the folded value (loc of op,
 * no name).  NULL when op does not fold; then *st is TIR_OK, or
 * TIR_ERR_INTERNAL when memory ran out. */
TirOp *tir_fold_op(TirModule *m, const TirOp *op, TirStatus *st);

#endif /* TIR_PASSES_FOLD_H */
