/* tirc_internal.h — pieces of libtirc shared with the tirc driver: the
 * const-file loader and the check of option values (one list for both). */
#ifndef TIRC_INTERNAL_H
#define TIRC_INTERNAL_H

#include <stdbool.h>

#include "frontend.h"
#include "ir.h"

/* A TirConstLoader reading safetensors files through the runtime. */
TirStatus tirc_load_const(void *ctx, const char *path, const char *key, TirDType *dtype, int *rank,
                          int64_t dims[TIR_MAX_RANK], void **data, size_t *nbytes, char *err,
                          size_t errlen);

/* The compile options whose values come from a fixed list. */
typedef enum { TIRC_OPTION_TARGET, TIRC_OPTION_ARCH, TIRC_OPTION_SDPA_KERNEL } TircOption;

/* True when `value` is one of the option's values (NULL is not). */
bool tirc_option_valid(TircOption opt, const char *value);
/* The accepted values as "a|b|c", for messages. */
const char *tirc_option_choices(TircOption opt);

#endif
