/* tirc_internal.h — libtirc's const-file loader, for the pipeline
 * (compile.c) and for tests that parse with the same loader; not part of
 * any public interface. */
#ifndef TIRC_INTERNAL_H
#define TIRC_INTERNAL_H

#include "frontend.h"
#include "ir.h"
#include "tirc_compile.h"

/* A TirConstLoader reading safetensors files through the runtime. */
TirStatus tirc_load_const(void *ctx, const char *path, const char *key, TirDType *dtype, int *rank,
                          int64_t dims[TIR_MAX_RANK], void **data, size_t *nbytes, char *err,
                          size_t errlen);

#endif
