/* fuzz_parser.c — libFuzzer target for the front end.
 *
 * Any input must end in a module or in diagnostics: never a crash, a hang,
 * a leak or unbounded memory.  A module the parser accepts must also pass
 * the verifier and print, so the fuzzer checks the IR it builds, too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "frontend.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static FILE *devnull;
  if (!devnull) devnull = fopen("/dev/null", "w");
  TirDiag *diag = tir_diag_new(devnull, 0);
  if (!diag) return 0;
  TirParseOptions opts = {.loader = no_files, .loader_ctx = NULL};
  TirModule *m = NULL;
  if (tir_parse("fuzz.tir", (const char *)data, size, diag, &opts, &m) == TIR_OK) {
    if (!m || tir_verify_module(m, diag) != TIR_OK) abort(); /* accepted IR must verify */
    if (devnull) tir_print_module(devnull, m);
    tir_module_free(m);
  }
  tir_diag_free(diag);
  return 0;
}
