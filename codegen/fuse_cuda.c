/* fuse_cuda.c — tir_codegen_fuse_cuda: plans the fused runs of a lowered
 * table, writes each run's CUDA source, compiles it with NVRTC and records
 * the kernels in the table (see codegen.h).  Runs with equal sources (the
 * same layer, repeated) share one source, name and binary; the distinct
 * sources compile in parallel threads (TIRC_COMPILE_THREADS, default: the
 * CPU count).  Everything the kernel table points to is owned by the
 * TirCodegen (shared pointers once). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The name of a kernel: tirk_fused_ and 16 hex digits of a SHA-256 of its
 * source written under a placeholder name, so equal runs get equal names
 * and equal sources.  False when hashing fails (out of memory). */
static bool kernel_name(const char *src, char name[40]) {
  TirSha256 h;
  uint8_t d[32];
  tir_sha256_init(&h);
  tir_sha256_update(&h, src, strlen(src));
  if (!tir_sha256_final(&h, d)) return false;
  snprintf(name, 40, "tirk_fused_%02x%02x%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4], d[5],
           d[6], d[7]);
  return true;
}

/* NVRTC builds of the distinct sources, several at a time: NVRTC programs
 * are independent (its API is thread-safe), and a model's first compile is
 * mostly these builds. */
typedef struct {
  const char **name, **src;
  TirCudaBinary *bin;
  char **err;
  TirStatus *st;
  int32_t n;
  int arch;
  const char *cache_dir;
  atomic_int next;
} Builds;

static void *build_worker(void *arg) {
  Builds *b = arg;
  for (int32_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;)
    b->st[i] = tir_nvrtc_build(b->name[i], b->src[i], b->arch, b->cache_dir, &b->bin[i], &b->err[i]);
  return NULL;
}

/* Returns the number of threads that built. */
static int32_t build_all(Builds *b) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const char *env = getenv("TIRC_COMPILE_THREADS");
  int32_t t = env && *env ? atoi(env) : cpus > 0 ? (int32_t)cpus : 1;
  if (t > b->n) t = b->n;
  if (t > 32) t = 32;
  pthread_t th[32];
  int32_t started = 0;
  atomic_init(&b->next, 0);
  for (; started + 1 < t; started++) /* the calling thread is the last worker */
    if (pthread_create(&th[started], NULL, build_worker, b) != 0) break;
  build_worker(b);
  for (int32_t i = 0; i < started; i++) pthread_join(th[i], NULL);
  return started + 1;
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
  size_t cnt = (size_t)(n ? n : 1);
  tirrt_kernel_def_t *kernels = calloc(cnt, sizeof *kernels);
  int32_t *rep = malloc(cnt * sizeof *rep);        /* kernel -> first kernel of equal source */
  int32_t *slot = malloc(cnt * sizeof *slot);      /* first kernel -> its build */
  char **generic_src = calloc(cnt, sizeof *generic_src); /* first kernel -> its placeholder-name source */
  Builds b = {.name = calloc(cnt, sizeof(char *)), .src = calloc(cnt, sizeof(char *)),
              .bin = calloc(cnt, sizeof(TirCudaBinary)), .err = calloc(cnt, sizeof(char *)),
              .st = calloc(cnt, sizeof(TirStatus)), .arch = opts->arch};
  char *cache_dir = opts->sources_only ? NULL : tir_cuda_cache_dir(opts->cache_dir);
  b.cache_dir = cache_dir;
  TirStatus st = TIR_OK;
  TirStrMap *by_name = tir_strmap_new(); /* kernel name -> 1 + first kernel of that name */
  bool ok = tir_codegen_own(cg, kernels) && by_name && rep && slot && generic_src && b.name && b.src &&
            b.bin && b.err && b.st;
  double t0 = tir_now_ms();
  for (int32_t k = 0; k < n && ok; k++) {
    const TirFusePlan *p = &plans[k];
    tirrt_kernel_def_t *kd = &kernels[k];
    char name[40];
    /* Written once under a placeholder name, which names and identifies
     * it; only a run with new code is written again under its name. */
    char *generic = tir_fuse_source(def, p, "tirk_fused");
    ok = generic && kernel_name(generic, name);
    rep[k] = k;
    intptr_t seen = ok ? (intptr_t)tir_strmap_get(by_name, name, strlen(name)) : 0;
    if (seen && strcmp(generic_src[seen - 1], generic) == 0) rep[k] = (int32_t)(seen - 1);
    if (rep[k] != k) {
      free(generic);
      kd->source = kernels[rep[k]].source;
      kd->name = kernels[rep[k]].name;
    } else {
      generic_src[k] = generic;
      char *src = ok ? tir_fuse_source(def, p, name) : NULL;
      kd->source = tir_codegen_own(cg, src) ? src : NULL;
      kd->name = copy_str(cg, name);
      if (kd->name && !seen && !tir_strmap_put(by_name, kd->name, strlen(kd->name), (void *)(intptr_t)(k + 1)))
        kd->name = NULL;
    }
    kd->in = copy_ints(cg, p->in, p->n_in);
    kd->out = copy_ints(cg, p->out, p->n_out);
    ok = kd->source && kd->name && kd->in && kd->out;
    if (!ok) break;
    kd->kind = p->kind;
    kd->first_inst = p->first;
    kd->n_insts = p->n;
    kd->space = p->space;
    kd->n_in = p->n_in;
    kd->n_out = p->n_out;
    kd->block_size = p->block_size;
    kd->arch = opts->arch;
    if (rep[k] == k) {
      dump_source(kd->name, kd->source);
      slot[k] = b.n;
      b.name[b.n] = kd->name;
      b.src[b.n] = kd->source;
      b.n++;
    }
  }
  if (!ok) {
    st = TIR_ERR_INTERNAL;
    tir_diag_error(diag, TIR_LOC_UNKNOWN, "codegen: out of memory while generating CUDA kernels");
  }
  tir_timing_add(opts->timings, "cuda-sources", tir_now_ms() - t0, "%d kernels, %d distinct sources",
                 (int)n, (int)b.n);
  if (st == TIR_OK && !opts->sources_only) {
    /* Other threads' compiles may land in the count: it is a report, not a test. */
    long before = tir_codegen_nvrtc_compile_count();
    t0 = tir_now_ms();
    int32_t threads = build_all(&b);
    long fresh = tir_codegen_nvrtc_compile_count() - before;
    tir_timing_add(opts->timings, "nvrtc", tir_now_ms() - t0,
                   "%ld compiled, %ld from the cache, %d threads", fresh,
                   (long)b.n - fresh > 0 ? (long)b.n - fresh : 0L, (int)threads);
    for (int32_t i = 0; i < b.n && st == TIR_OK; i++) {
      if (b.st[i] == TIR_ERR_USAGE) {
        st = b.st[i];
        tir_diag_error(diag, TIR_LOC_UNKNOWN, "%s", b.err[i] ? b.err[i] : "cannot compile CUDA kernels");
      } else if (b.st[i] != TIR_OK) {
        /* Generated code that does not compile is a bug in tirc. */
        st = b.st[i];
        tir_diag_error(diag, TIR_LOC_UNKNOWN, "internal error: generated kernel %s: %s", b.name[i],
                       b.err[i] ? b.err[i] : "out of memory");
      }
    }
    for (int32_t i = 0; i < b.n; i++) { /* the table owns every binary, used or not */
      if (!tir_codegen_own(cg, b.bin[i].cubin) | !tir_codegen_own(cg, b.bin[i].ptx)) ok = false;
    }
    if (!ok && st == TIR_OK) {
      st = TIR_ERR_INTERNAL;
      tir_diag_error(diag, TIR_LOC_UNKNOWN, "codegen: out of memory while generating CUDA kernels");
    }
    for (int32_t k = 0; k < n && st == TIR_OK; k++) {
      const TirCudaBinary *bin = &b.bin[slot[rep[k]]];
      kernels[k].cubin = bin->cubin;
      kernels[k].cubin_size = bin->cubin_size;
      kernels[k].ptx = bin->ptx;
    }
  }
  for (int32_t i = 0; b.err && i < b.n; i++) free(b.err[i]);
  free(b.name);
  free(b.src);
  free(b.bin);
  free(b.err);
  free(b.st);
  free(rep);
  free(slot);
  for (int32_t k = 0; generic_src && k < n; k++) free(generic_src[k]);
  free(generic_src);
  tir_strmap_free(by_name);
  free(plans);
  free(cache_dir);
  if (st != TIR_OK) return st;
  def->n_kernels = n;
  def->kernels = kernels;
  def->target = TIRRT_DEVICE_CUDA;
  return TIR_OK;
}
