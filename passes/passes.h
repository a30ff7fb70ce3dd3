/* passes.h — the pass table and the pass manager (public interface).
 *
 * A pass is a function over a whole module.  Passes are rows of the one
 * table in passes.def; the manager runs a comma-separated list of their
 * names, dumping and verifying the IR between passes as asked. */
#ifndef TIR_PASSES_H
#define TIR_PASSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ir.h"

typedef struct {
  TirDiag *diag;           /* where errors go; required */
  const char *target;      /* "cuda" or "cpu" */
  const char *arch;        /* "sm_80".."sm_90" */
  const char *sdpa_kernel; /* NULL or "flash"|"mem_efficient"|"math" */
  bool explain_kernels;
  bool remarks;
  bool verify_each;        /* run tir_verify_module after every pass */
  FILE *dump;              /* where --dump-ir goes (stderr), NULL = no dumps */
  const char *dump_filter; /* NULL = after every pass, else comma list of pass names */
  TirTimings *timings;     /* NULL, or where each pass's and the verifier's time goes */
  /* Test hook (test/judge): called with every attention mask fuse-attention
   * asks the prover about, and the prover's answer (a TirCausal; window =
   * W for the window claims).  The query's pointer type is
   * `const TirMaskQuery *` from causal.h. */
  void (*mask_observer)(void *ctx, TirModule *m, const void *query, int claim, int64_t window);
  void *mask_observer_ctx;
} TirPassOptions;

typedef TirStatus (*TirPassFn)(TirModule *m, const TirPassOptions *opts);
typedef struct {
  const char *name;
  TirPassFn run;
  const char *description;
} TirPassInfo;

typedef enum {
#define P(E, name, fn, desc) TIR_PASS_##E,
#include "passes.def"
  TIR_NUM_PASSES
} TirPassId;

/* The pass functions themselves, one per row of passes.def. */
#define P(E, name, fn, desc) TirStatus fn(TirModule *m, const TirPassOptions *opts);
#include "passes.def"

int tir_pass_count(void);
const TirPassInfo *tir_pass_info(int i);                        /* NULL if out of range */
const TirPassInfo *tir_pass_find(const char *name, size_t len); /* NULL if unknown */

/* The default pipeline (-O1), as a comma list string. */
const char *tir_default_pipeline(void);
/* The -O0 pipeline: no optimizing pass (only select-kernel). */
const char *tir_o0_pipeline(void);

/* Runs a comma-separated list of pass names ("" runs none).  Every name in
 * `passes` and in opts->dump_filter is checked before anything runs; an
 * unknown (or empty) name is a diagnostic without location and
 * TIR_ERR_USAGE.  After each pass: when opts->dump is set and the pass is in
 * dump_filter (or there is no filter), prints `// ----- IR after NAME -----`
 * and the module to opts->dump; then, when verify_each is set, verifies the
 * module (failure -> TIR_ERR_INTERNAL).  A pass's own failure stops the
 * pipeline and is returned. */
TirStatus tir_run_pipeline(TirModule *m, const char *passes, const TirPassOptions *opts);

/* True for ops whose result is random (dropout in training with p > 0, sdpa
 * with dropout_p > 0): two such ops with the same operands differ, so they
 * must never be merged or folded. */
bool tir_op_is_random(const TirOp *op);

#endif /* TIR_PASSES_H */
