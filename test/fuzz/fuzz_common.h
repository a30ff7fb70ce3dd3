/* fuzz_common.h — what the fuzz targets share: a const(file=...) loader
 * that refuses every file (a fuzz input must not read the disk). */
#ifndef TIR_FUZZ_COMMON_H
#define TIR_FUZZ_COMMON_H

#include <stdio.h>

#include "frontend.h"

static TirStatus no_files(void *ctx, const char *path, const char *key, TirDType *dtype, int *rank,
                          int64_t dims[TIR_MAX_RANK], void **data, size_t *nbytes, char *err,
                          size_t errlen) {
  (void)ctx, (void)key, (void)dtype, (void)rank, (void)dims, (void)data, (void)nbytes;
  snprintf(err, errlen, "%s: the fuzzer reads no files", path);
  return TIR_ERR_INPUT;
}

#endif
