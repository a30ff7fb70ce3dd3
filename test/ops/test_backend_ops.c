/* test_backend_ops.c — the table-driven op test: every elementwise and
 * reduction op, on every backend, against a float64 reference.
 *
 * The cases are not written by hand.  For every row of the op table
 * (ir/ops.def: the elementwise and reduction ops, gelu twice for its two
 * forms) × every dtype infer accepts for it × a set of shapes (0-d, size 1,
 * 0-element, broadcasts, a transposed operand, a run longer than a GPU
 * block) × values (fresh random data with the dtype's edge values spliced
 * in: ±0, ±inf, nan, the largest and smallest magnitudes, integer extremes),
 * a one-op program runs on each backend there is:
 *   fold      the constant folder (passes/fold.c) on constant operands;
 *   cpu       the CPU runtime, operands as arguments (nothing folds);
 *   cuda      the CUDA library kernels, when a GPU is present;
 *   cuda-gen  the generated (NVRTC) kernels of the CUDA target, when a GPU
 *             is present.
 * Each result is compared with a float64 evaluation of the same formula
 * (the op table's f64 row) rounded once to the result dtype: integers and
 * bools exactly, floats element by element within a per-dtype bound
 * (|out - ref| <= atol + rtol |ref|, nan where the reference is nan, the
 * same infinity) and by ‖out − ref‖/‖ref‖ over the finite elements.
 *
 * Usage: test_backend_ops [--seed=N] [--quick] [--only NAME].  Prints one
 * line per op with its case counts and `N passed, M failed` last. */
#include <stdio.h>
#include <string.h>

#include "ops_cases.h"
#include "tt.h"

int main(int argc, char **argv) {
  OpsConfig cfg = {.quick = false, .only = NULL};
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--seed=", 7) == 0) continue; /* tt_seed's */
    if (strcmp(argv[i], "--quick") == 0) cfg.quick = true;
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) cfg.only = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--seed=N] [--quick] [--only NAME]\n", argv[0]);
      return 2;
    }
  }
  cfg.seed = tt_seed("test_backend_ops", argc, argv, true, 0);
  return ops_run_all(&cfg);
}
