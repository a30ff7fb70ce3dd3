/* tirc_compile.h — the one compile pipeline, for the tirc driver and for
 * libtirc (tirc.h builds on it): parse -> passes at the optimization level
 * (each followed by the verifier) -> lower to the program table -> CUDA
 * kernel fusion when targeting cuda.  The options struct and its defaults
 * are defined once here, so the driver and the embedding API cannot drift
 * apart; the option value sets are the driver's flags (spec §8). */
#ifndef TIRC_COMPILE_H
#define TIRC_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "codegen.h"
#include "ir.h"

typedef struct {
  const char *target;      /* "cpu" or "cuda" (tirc_option_valid) */
  const char *arch;        /* "sm_80".."sm_90": CUDA code and kernel selection */
  const char *passes;      /* NULL: the pipeline of opt_level; "" runs none */
  const char *sdpa_kernel; /* NULL (choose per sdpa), "flash", "mem_efficient" or "math" */
  int opt_level;           /* 0: no optimizing pass (-O0); 1: the default pipeline (-O1) */
  bool explain_kernels;    /* say why each faster attention kernel was rejected */
  bool remarks;            /* say why each softmax was not fused into attention */
  FILE *dump;              /* NULL, or where the IR after every pass goes */
  const char *dump_filter; /* NULL: dump after every pass, else a comma list of passes */
  bool ir_only;            /* stop after the passes (no lowering; --emit=ir) */
  TirTimings *timings;     /* NULL, or where every phase's time goes (--time-passes) */
} tirc_compile_options_t;

/* The defaults, the same for the driver and libtirc: target cpu, arch
 * sm_80, -O1, no dumps or explanations. */
tirc_compile_options_t tirc_compile_defaults(void);

/* The driver's host-dependent defaults (spec §8) on top of those: target
 * cuda and GPU 0's architecture when the runtime was built with CUDA and
 * sees a GPU (GPUs newer than sm_90 get sm_90, whose PTX their driver
 * compiles).  libtirc keeps the fixed defaults; its callers pass these. */
void tirc_compile_defaults_for_host(tirc_compile_options_t *o);

/* The compile options whose values come from a fixed list. */
typedef enum { TIRC_OPTION_TARGET, TIRC_OPTION_ARCH, TIRC_OPTION_SDPA_KERNEL } TircOption;

/* True when `value` is one of the option's values (NULL is not). */
bool tirc_option_valid(TircOption opt, const char *value);
/* The accepted values as "a|b|c", for messages. */
const char *tirc_option_choices(TircOption opt);

/* Compiles the file at `path`, or (path NULL) `len` bytes of `text` named
 * `name` in messages.  Diagnostics go to `diag`.  On success *out_module
 * holds the optimized module and *out_cg its lowered program (NULL with
 * ir_only); the caller frees both.  On failure both stay NULL.  An option
 * value outside its set is bad usage (TIR_ERR_USAGE, reported on `diag`). */
TirStatus tirc_compile(const char *path, const char *text, size_t len, const char *name,
                       const tirc_compile_options_t *o, TirDiag *diag, TirModule **out_module,
                       TirCodegen **out_cg);

#endif /* TIRC_COMPILE_H */
