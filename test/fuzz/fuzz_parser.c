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

static TirStatus no_files(void *ctx, const char *path, const char *key, TirDType *dtype, int *rank,
                          int64_t dims[TIR_MAX_RANK], void **data, size_t *nbytes, char *err,
                          size_t errlen) {
  (void)ctx, (void)key, (void)dtype, (void)rank, (void)dims, (void)data, (void)nbytes;
  snprintf(err, errlen, "%s: the fuzzer reads no files", path);
  return TIR_ERR_INPUT;
}

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
