/* fuzz_pipeline.c — libFuzzer target for everything after the parser.
 *
 * Arbitrary bytes are parsed as .tir (fuzz_parser.c covers the parser on its
 * own).  A module that parses and verifies then goes through the default
 * pass pipeline (canonicalize, cse, dce, fuse-attention with its causal
 * prover, select-kernel) with the verifier after every pass, is lowered to
 * the runtime's program table for the CPU target, written as C, and loaded
 * by the runtime.  Passes and codegen may reject a module with a diagnostic
 * (an op the CPU cannot run, say), but a verifier failure after a pass, a
 * program table the runtime refuses, a crash, a leak or a UBSan report is a
 * bug.  Nothing is executed: shapes here can be huge.
 * Seeds: test/fuzz/corpus/pipeline/ (the lit inputs split at `// -----`,
 * and examples/).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codegen.h"
#include "frontend.h"
#include "fuzz_common.h"
#include "passes.h"
#include "tirrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *devnull;
  if (!devnull) devnull = fopen("/dev/null", "w");
  if (!devnull) return 0;
  TirDiag *diag = tir_diag_new(devnull, 0);
  if (!diag) return 0;
  TirParseOptions popts = {.loader = no_files, .loader_ctx = NULL};
  TirModule *m = NULL;
  if (tir_parse("fuzz.tir", (const char *)data, size, diag, &popts, &m) != TIR_OK || !m ||
      tir_verify_module(m, diag) != TIR_OK) {
    tir_module_free(m);
    tir_diag_free(diag);
    return 0;
  }
  /* Remarks and kernel explanations run code paths of their own. */
  TirPassOptions opts = {.diag = diag,
                         .target = "cpu",
                         .arch = "sm_80",
                         .explain_kernels = true,
                         .remarks = true,
                         .verify_each = true};
  TirStatus st = tir_run_pipeline(m, tir_default_pipeline(), &opts);
  /* The pass manager reports a module that fails to verify after a pass
   * as an internal error; so does any pass that hits a bug. */
  if (st == TIR_ERR_INTERNAL) abort();
  if (st == TIR_OK) {
    TirCodegen *cg = NULL;
    st = tir_codegen_lower(m, diag, &cg);
    if (st == TIR_ERR_INTERNAL) abort();
    if (st == TIR_OK) {
      if (tir_codegen_emit_c(cg, "fuzz.tir", true, devnull) != TIR_OK) abort();
      tirrt_program_t *p = NULL;
      tirrt_status_t s = tirrt_program_create(tir_codegen_def(cg), &p);
      /* The table came from codegen: the runtime must accept it. */
      if (s) {
        fprintf(stderr, "fuzz_pipeline: the runtime rejected the lowered program: %s\n",
                tirrt_status_message(s));
        abort();
      }
      tirrt_program_free(p);
    }
    tir_codegen_free(cg);
  }
  tir_module_free(m);
  tir_diag_free(diag);
  return 0;
}
