/* dce.c — the `dce` pass: erases ops whose result is unused.
 *
 * Every TIR op is pure (dropout's randomness is unobservable when its result
 * is unused), so the only roots are the return ops.  Walking each function
 * backwards visits users before their operands' definitions: erasing a dead
 * op drops its uses before we reach the ops it used, so one sweep is enough
 * and the pass is O(n). */
#include "passes.h"

/* %y = OP(...)  with no use of %y  ->  (nothing) */
TirStatus tir_pass_dce(TirModule *m, const TirPassOptions *opts) {
  (void)opts;
  for (TirFunc *f = m->first_func; f; f = f->next) {
    for (TirOp *op = f->last, *prev; op; op = prev) {
      prev = op->prev;
      if (op->result && !op->result->first_use) tir_op_erase(op);
    }
  }
  return TIR_OK;
}
