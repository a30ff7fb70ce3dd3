/* codegen.h — lowers the entry function of a module to a tirrt program
 * table (the runtime's execution format, see tirrt.h) and writes it as C.
 *
 * The table is the one interface between the compiler and the runtime: the
 * generated program is this table plus `main` calling tirrt_main, and the
 * embedding API runs the in-memory table directly.  A TirCodegen owns the
 * table and every array in it; the const data it points to is the module's
 * (so the module must outlive it). */
#ifndef TIR_CODEGEN_H
#define TIR_CODEGEN_H

#include <stdio.h>

#include "ir.h"
#include "tirrt.h"

typedef struct TirCodegen TirCodegen;

/* Lowers the entry function.  Errors (an op the CPU runtime cannot run, a
 * module without entry) go to diag at the op's location. */
TirStatus tir_codegen_lower(TirModule *m, TirDiag *diag, TirCodegen **out);
const tirrt_program_def_t *tir_codegen_def(const TirCodegen *cg);
void tir_codegen_free(TirCodegen *cg);

/* Writes the table as a C translation unit defining
 * `const tirrt_program_def_t tirc_program` and, when with_main, a main()
 * that calls tirrt_main. */
TirStatus tir_codegen_emit_c(const TirCodegen *cg, const char *source_name, bool with_main,
                             FILE *out);

/* Generated CUDA kernels (the CUDA target; see tirrt_kernel_def_t for the
 * launch contract).  tir_codegen_fuse_cuda groups runs of consecutive
 * instructions of the lowered table into fused kernels (elementwise chains,
 * and row-wise softmax / norms / last-dim reductions with elementwise
 * prologues and epilogues), writes one CUDA C++ source per kernel, compiles
 * it with NVRTC for opts->arch (cubin and PTX) and appends the kernels to the
 * table (def->n_kernels / kernels).  The instructions stay: the CPU runs
 * them, the GPU executor launches the kernel in their place.
 *
 * Compiled kernels are cached on disk under cache_dir (NULL: $TIRC_CACHE_DIR,
 * else $XDG_CACHE_HOME/tirc, else $HOME/.cache/tirc; "" or "off" disables
 * the cache).  Cache problems never fail compilation.  An NVRTC failure on
 * generated code is a tirc bug: an internal error naming the kernel, with
 * NVRTC's log, and TIR_ERR_INTERNAL.  A tirc built without the CUDA toolkit
 * returns TIR_ERR_USAGE ("built without the CUDA toolkit") unless
 * sources_only is set. */
typedef struct {
  int arch;              /* compute capability as a number: 80 for sm_80, 90 for sm_90 */
  const char *cache_dir; /* see above; NULL = from the environment */
  bool sources_only;     /* plan and write sources but do not compile (tests, tools): the
                            kernels then have neither cubin nor PTX and the table is not
                            loadable by tirrt_program_create */
  TirTimings *timings;   /* NULL, or where generating and compiling the kernels is timed */
} TirCudaFuseOptions;

TirStatus tir_codegen_fuse_cuda(TirCodegen *cg, const TirCudaFuseOptions *opts, TirDiag *diag);

/* The number of NVRTC compilations this process has run (cache misses);
 * for tests of the cache. */
long tir_codegen_nvrtc_compile_count(void);

#endif
