/* frontend.h — the tirc front end: parses `.tir` text (spec §1-§4) into a
 * TirModule.  Built with a reentrant Flex scanner and a pure Bison parser, so
 * several threads may parse at once (each with its own TirDiag).
 */
#ifndef TIR_FRONTEND_H
#define TIR_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

/* Loads a tensor for const(file=PATH, key=KEY). path is already resolved relative to the .tir file.
   On success returns TIR_OK and sets *dtype, *rank, dims[0..rank) and *data (malloc'd, dense row-major;
   ownership passes to the caller). On failure returns TIR_ERR_INPUT and writes a message into err. */
typedef TirStatus (*TirConstLoader)(void *ctx, const char *path, const char *key, TirDType *dtype,
                                    int *rank, int64_t dims[TIR_MAX_RANK], void **data, size_t *nbytes,
                                    char *err, size_t errlen);

typedef struct {
  TirConstLoader loader;
  void *loader_ctx;
} TirParseOptions;

/* Parses text (len bytes, need not be NUL-terminated) named `filename` into a new module.
   Registers the source with diag (tir_diag_add_source, which keeps a copy) so errors
   print the line and caret.
   On any error: diagnostics emitted, *out = NULL, returns TIR_ERR_INPUT
   (TIR_ERR_INTERNAL when memory ran out). */
TirStatus tir_parse(const char *filename, const char *text, size_t len, TirDiag *diag,
                    const TirParseOptions *opts, TirModule **out);

/* Reads a file and parses it (error if unreadable: "FILE: error: cannot read: ..."). */
TirStatus tir_parse_file(const char *path, TirDiag *diag, const TirParseOptions *opts,
                         TirModule **out);

#endif /* TIR_FRONTEND_H */
