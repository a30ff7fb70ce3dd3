/* tirc_internal.h — pieces of libtirc shared with the tirc driver. */
#ifndef TIRC_INTERNAL_H
#define TIRC_INTERNAL_H

#include "frontend.h"
#include "ir.h"

/* A TirConstLoader reading safetensors files through the runtime. */
TirStatus tirc_load_const(void *ctx, const char *path, const char *key, TirDType *dtype, int *rank,
                          int64_t dims[TIR_MAX_RANK], void **data, size_t *nbytes, char *err,
                          size_t errlen);

#endif
