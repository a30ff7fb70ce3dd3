/* fuse_cuda.c — tir_codegen_fuse_cuda: plans the fused runs of a lowered
 * table, writes each run's CUDA source, compiles it with NVRTC and records
 * the kernels in the table (see codegen.h).  Everything the kernel table
 * points to is owned by the TirCodegen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"

static int32_t *copy_ints(TirCodegen *cg, const int32_t *v, int32_t n) {
  int32_t *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  if (p && n) memcpy(p, v, (size_t)n * sizeof *p);
  return tir_codegen_own(cg, p) ? p : NULL;
}

static char *copy_str(TirCodegen *cg, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return tir_codegen_own(cg, p) ? p : NULL;
}

/* TIRC_DUMP_KERNELS=DIR writes each generated source to DIR/<name>.cu (a
 * developer's aid for reading what the planner and generator made; errors
 * are ignored). */
static void dump_source(const char *name, const char *src) {
  const char *dir = getenv("TIRC_DUMP_KERNELS");
  if (!dir || !*dir) return;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.cu", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return;
  fputs(src, f);
  fclose(f);
}

TirStatus tir_codegen_fuse_cuda(TirCodegen *cg, const TirCudaFuseOptions *opts, TirDiag *diag) {
  TirCudaFuseOptions dflt = {.arch = 80};
  if (!opts) opts = &dflt;
#ifndef TIRC_HAVE_NVRTC
  if (!opts->sources_only) {
    tir_diag_error(diag, TIR_LOC_UNKNOWN,
                   "this tirc was built without the CUDA toolkit: it cannot generate CUDA kernels");
    return TIR_ERR_USAGE;
  }
#endif
  tirrt_program_def_t *def = tir_codegen_def_mut(cg);
  TirFusePlan *plans = NULL;
  int32_t n = 0;
  if (tir_fuse_plan(def, &plans, &n) != TIR_OK) {
    tir_diag_error(diag, TIR_LOC_UNKNOWN, "codegen: out of memory while planning CUDA kernels");
    return TIR_ERR_INTERNAL;
  }
  tirrt_kernel_def_t *kernels = calloc((size_t)(n ? n : 1), sizeof *kernels);
  char *cache_dir = opts->sources_only ? NULL : tir_cuda_cache_dir(opts->cache_dir);
  TirStatus st = TIR_OK;
  if (!tir_codegen_own(cg, kernels)) {
    st = TIR_ERR_INTERNAL;
    tir_diag_error(diag, TIR_LOC_UNKNOWN, "codegen: out of memory while generating CUDA kernels");
  }
  for (int32_t k = 0; k < n && st == TIR_OK; k++) {
    const TirFusePlan *p = &plans[k];
    char name[32];
    snprintf(name, sizeof name, "tirk_fused_%d", k);
    tirrt_kernel_def_t *kd = &kernels[k];
    char *src = tir_fuse_source(def, p, name);
    kd->source = tir_codegen_own(cg, src) ? src : NULL;
    kd->name = copy_str(cg, name);
    kd->in = copy_ints(cg, p->in, p->n_in);
    kd->out = copy_ints(cg, p->out, p->n_out);
    if (!kd->source || !kd->name || !kd->in || !kd->out) {
      st = TIR_ERR_INTERNAL;
      tir_diag_error(diag, TIR_LOC_UNKNOWN, "codegen: out of memory while generating CUDA kernels");
      break;
    }
    kd->kind = p->kind;
    kd->first_inst = p->first;
    kd->n_insts = p->n;
    kd->space = p->space;
    kd->n_in = p->n_in;
    kd->n_out = p->n_out;
    kd->block_size = p->block_size;
    kd->arch = opts->arch;
    dump_source(name, src);
    if (opts->sources_only) continue;
    TirCudaBinary bin;
    char *err = NULL;
    st = tir_nvrtc_build(name, src, opts->arch, cache_dir, &bin, &err);
    if (st == TIR_ERR_USAGE) {
      tir_diag_error(diag, TIR_LOC_UNKNOWN, "%s", err ? err : "cannot compile CUDA kernels");
    } else if (st != TIR_OK) {
      /* Generated code that does not compile is a bug in tirc. */
      tir_diag_error(diag, TIR_LOC_UNKNOWN, "internal error: generated kernel %s (instructions %d..%d): %s",
                     name, p->first, p->first + p->n - 1, err ? err : "out of memory");
    } else if (!tir_codegen_own(cg, bin.cubin) | !tir_codegen_own(cg, bin.ptx)) { /* both, always */
      st = TIR_ERR_INTERNAL;
      tir_diag_error(diag, TIR_LOC_UNKNOWN, "codegen: out of memory while generating CUDA kernels");
    } else {
      kd->cubin = bin.cubin;
      kd->cubin_size = bin.cubin_size;
      kd->ptx = bin.ptx;
    }
    free(err);
  }
  free(plans);
  free(cache_dir);
  if (st != TIR_OK) return st;
  def->n_kernels = n;
  def->kernels = kernels;
  def->target = TIRRT_DEVICE_CUDA;
  return TIR_OK;
}
