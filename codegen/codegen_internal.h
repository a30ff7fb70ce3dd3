/* codegen_internal.h — what the codegen sources share among themselves
 * (not part of the compiler's interface): mutable access to the lowered
 * table, ownership of extra blocks, and the three stages of CUDA kernel
 * generation — planning the fused runs (fuse_plan.c), writing their CUDA
 * source (fuse_src.c) and compiling it with NVRTC through the on-disk cache
 * (nvrtc.c, with libcrypto's SHA-256 for the cache keys). */
#ifndef TIR_CODEGEN_INTERNAL_H
#define TIR_CODEGEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codegen.h"

tirrt_program_def_t *tir_codegen_def_mut(TirCodegen *cg);
/* Frees p with the codegen.  On failure (out of memory) frees p at once and
 * returns false; p == NULL also returns false. */
bool tir_codegen_own(TirCodegen *cg, void *p);

/* ------------------------------------------------------------ planning */

/* Elements of a row each thread of a ROWWISE kernel keeps in registers
 * between passes; longer rows recompute the rest from memory. */
#define TIR_FUSE_VPT 8

/* One fused run of instructions [first, first + n).  ROWWISE runs have the
 * row instruction at `row`: the instructions before it are the prologue
 * (shaped like the space), those after it the epilogue (shaped like the
 * space, or for a reduction like its keepdim output: "row scalars"). */
typedef struct {
  int32_t kind; /* tirrt_kernel_kind_t */
  int32_t first, n;
  int32_t row;   /* instruction index of the row op, -1 for ELEMENTWISE */
  int32_t space; /* value whose shape is the iteration space */
  int32_t n_in, n_out;
  int32_t in[TIRRT_FUSED_MAX_OPERANDS], out[TIRRT_FUSED_MAX_OPERANDS];
  int32_t block_size;
} TirFusePlan;

/* Plans the runs of `def` (sorted, disjoint).  *out is malloc'd (NULL when
 * there are none).  Only fails for lack of memory (TIR_ERR_INTERNAL). */
TirStatus tir_fuse_plan(const tirrt_program_def_t *def, TirFusePlan **out, int32_t *n_out);

/* ------------------------------------------------------------ sources */

/* The CUDA C++ source of one planned kernel with entry point `name`
 * (malloc'd; NULL when out of memory). */
char *tir_fuse_source(const tirrt_program_def_t *def, const TirFusePlan *plan, const char *name);
/* The device helpers every generated source starts with (fuse_preamble.c),
 * after its TK_* macros and parameter struct: pieces to concatenate. */
/* The text of common/'s headers for the generated sources (made by
 * common/embed.cmake). */
extern const char *const tir_common_src[];
extern const size_t tir_common_src_count;
extern const char *const tir_fuse_preamble[];
extern const size_t tir_fuse_preamble_count;

/* ------------------------------------------------------------ NVRTC */

typedef struct {
  void *cubin; /* malloc'd */
  size_t cubin_size;
  char *ptx;   /* malloc'd, NUL-terminated */
} TirCudaBinary;

/* Compiles `source` for sm_<arch> (cubin) and its PTX, through the cache
 * in cache_dir (NULL: no cache).  On failure returns TIR_ERR_INTERNAL and a
 * malloc'd message (with NVRTC's log) in *err; TIR_ERR_USAGE when this build
 * has no NVRTC. */
TirStatus tir_nvrtc_build(const char *name, const char *source, int arch, const char *cache_dir,
                          TirCudaBinary *out, char **err);
/* The cache directory for an option value (see TirCudaFuseOptions), or NULL
 * when caching is off; malloc'd. */
char *tir_cuda_cache_dir(const char *option);

/* ------------------------------------------------------------ SHA-256 */

/* SHA-256 through OpenSSL's libcrypto (EVP), streamed.  If the context
 * cannot be allocated, updates are ignored and final writes 32 zero bytes
 * and returns false (a key no entry has, so the cache just misses). */
typedef struct {
  void *ctx; /* EVP_MD_CTX */
} TirSha256;

void tir_sha256_init(TirSha256 *s);
void tir_sha256_update(TirSha256 *s, const void *data, size_t n);
bool tir_sha256_final(TirSha256 *s, uint8_t digest[32]);

#endif
