/* cuda_backend.c — the CUDA backend of the program executor (backend.h),
 * compiled only with the CUDA toolkit: a run holds the GPU's context (one
 * run at a time per GPU, on the caller's stream or the runtime's, with the
 * run's TF32 mode), a program is prepared once per GPU (constants
 * uploaded, generated kernels' modules loaded), memory comes from the
 * caching allocator, and instructions run through cuda_exec.c. */
#include <stdlib.h>

#include "backend.h"
#include "cuda_internal.h"

typedef struct {
  tirrt_cuda_ctx_t *ctx;
  cudaStream_t saved_stream;
  bool saved_tf32;
  int saved_device; /* the caller's current GPU, restored at the end; -1 unknown */
} CudaRun;

typedef struct {
  void **const_dev;                 /* per value: a constant's device copy */
  tirrt_cuda_module_t **modules;    /* per generated kernel; NULL: not loaded here */
  tirrt_cuda_graphs_t *graphs;      /* its CUDA graphs, or NULL (cuda_graph.c) */
} CudaPrep;

static void cuda_end(void *run) {
  CudaRun *cr = run;
  if (!cr) return;
  if (cr->ctx) {
    if (cr->ctx->stream != cr->saved_stream) {
      cr->ctx->stream = cr->saved_stream;
      tirrt_status_free(tirrt_cuda_set_blas_stream(cr->ctx));
    }
    cr->ctx->allow_tf32 = cr->saved_tf32;
    cr->ctx->n_checks = 0; /* a failed run's checks are moot */
    tirrt_cuda_run_unlock(cr->ctx);
  }
  if (cr->saved_device >= 0) cudaSetDevice(cr->saved_device);
  free(cr);
}

static tirrt_status_t cuda_begin(const tirrt_run_options_t *o, void **out_run) {
  CudaRun *cr = calloc(1, sizeof *cr);
  if (!cr) return tirrt_oom_status();
  cr->saved_device = -1;
  cudaGetDevice(&cr->saved_device);
  tirrt_cuda_ctx_t *ctx = NULL;
  tirrt_status_t s = tirrt_cuda_ctx_get(o->device_index, &ctx);
  if (s) {
    cuda_end(cr);
    return s;
  }
  /* One run at a time per GPU: the context's stream, TF32 mode, cuBLAS
   * handle and caching allocator are shared by every program on it. */
  tirrt_cuda_run_lock(ctx);
  cr->ctx = ctx;
  cr->saved_stream = ctx->stream;
  cr->saved_tf32 = ctx->allow_tf32;
  /* Caller's memory with no stream named: run on the legacy default
   * stream, which orders after the caller's default-stream work. */
  cudaStream_t st = o->cuda_stream ? (cudaStream_t)o->cuda_stream
                    : o->device_pointers ? cudaStreamLegacy
                                         : ctx->stream;
  if (st != ctx->stream) {
    ctx->stream = st;
    if ((s = tirrt_cuda_set_blas_stream(ctx))) {
      cuda_end(cr);
      return s;
    }
  }
  ctx->allow_tf32 = o->allow_tf32 != 0;
  *out_run = cr;
  return NULL;
}

/* Waits for the run's work, then reads its range checks (one transfer,
 * enqueued before the wait). */
static tirrt_status_t cuda_sync(void *run) {
  CudaRun *cr = run;
  tirrt_status_t s = tirrt_cuda_checks_fetch(cr->ctx);
  cudaError_t e = cudaStreamSynchronize(cr->ctx->stream);
  if (!s && e != cudaSuccess) s = tirrt_cuda_status(e, "cudaStreamSynchronize", __FILE__, __LINE__);
  if (!s) return tirrt_cuda_checks_read(cr->ctx);
  cr->ctx->n_checks = 0; /* not read: the verdicts may not have arrived */
  return s;
}

static void cuda_unprepare(const tirrt_program_def_t *d, int32_t device, void *prep) {
  CudaPrep *cp = prep;
  if (!cp) return;
  tirrt_cuda_graphs_free(device, cp->graphs); /* they use the constants */
  if (cp->const_dev)
    for (int32_t v = 0; v < d->n_values; v++) tirrt_cuda_release(device, cp->const_dev[v]);
  if (cp->modules)
    for (int32_t k = 0; k < d->n_kernels; k++) tirrt_cuda_module_free(cp->modules[k]);
  free(cp->const_dev);
  free(cp->modules);
  free(cp);
}

/* Uploads the constants and loads the generated kernels' modules (a
 * kernel whose module does not load on this GPU is left NULL and its
 * instructions run one by one).  All or nothing: a failure (say, out of
 * memory for the weights) leaves nothing behind, so a later run starts
 * over. */
static tirrt_status_t cuda_prepare(void *run, const tirrt_program_def_t *d, int32_t device,
                                   void **out_prep) {
  CudaRun *cr = run;
  CudaPrep *cp = calloc(1, sizeof *cp);
  if (!cp) return tirrt_oom_status();
  cp->const_dev = calloc((size_t)d->n_values + 1, sizeof *cp->const_dev);
  cp->modules = calloc((size_t)d->n_kernels + 1, sizeof *cp->modules);
  tirrt_status_t s = !cp->const_dev || !cp->modules ? tirrt_oom_status() : NULL;
  for (int32_t v = 0; v < d->n_values && !s; v++) {
    const tirrt_value_def_t *vd = &d->values[v];
    if (vd->kind != TIRRT_VALUE_CONST) continue;
    s = tirrt_cuda_alloc(cr->ctx, vd->nbytes, &cp->const_dev[v]);
    if (!s) s = tirrt_cuda_copy_bytes(device, cp->const_dev[v], vd->data, vd->nbytes,
                                      TIRRT_COPY_HOST_TO_DEVICE);
  }
  for (int32_t k = 0; k < d->n_kernels && !s; k++) {
    tirrt_cuda_module_t *m = NULL;
    tirrt_status_t ms = tirrt_cuda_module_load(cr->ctx, &d->kernels[k], &m);
    if (ms) { /* e.g. a cubin for another GPU and no PTX: fall back */
      tirrt_status_free(ms);
      m = NULL;
    }
    cp->modules[k] = m;
  }
  if (s) {
    cuda_unprepare(d, device, cp);
    return s;
  }
  *out_prep = cp;
  return NULL;
}

static void *cuda_const_data(void *prep, int32_t v) { return ((CudaPrep *)prep)->const_dev[v]; }

static tirrt_status_t cuda_alloc(void *run, size_t bytes, void **out) {
  return tirrt_cuda_alloc(((CudaRun *)run)->ctx, bytes, out);
}

static void cuda_free(void *run, void *p) { tirrt_cuda_free(((CudaRun *)run)->ctx, p); }

static void cuda_release(int32_t device, void *p) { tirrt_cuda_release(device, p); }

static tirrt_status_t cuda_upload(void *run, void *dst, const void *src, size_t bytes) {
  if (!bytes) return NULL;
  return tirrt_cuda_copy_bytes(((CudaRun *)run)->ctx->device, dst, src, bytes,
                               TIRRT_COPY_HOST_TO_DEVICE);
}

static tirrt_status_t cuda_download(void *run, void *dst, const void *src, size_t bytes) {
  if (!bytes) return NULL;
  return tirrt_cuda_copy_bytes(((CudaRun *)run)->ctx->device, dst, src, bytes,
                               TIRRT_COPY_DEVICE_TO_HOST);
}

static tirrt_status_t cuda_copy(void *run, const tirrt_view_t *src, const tirrt_view_t *dst) {
  return tirrt_cuda_copy(((CudaRun *)run)->ctx, src, dst);
}

/* Every instruction has a GPU kernel. */
static bool cuda_supports(const tirrt_inst_t *inst) {
  return inst->op >= 0 && inst->op < TIRRT_OP_COUNT;
}

static tirrt_status_t cuda_run(void *run, const tirrt_exec_env_t *env, const tirrt_inst_t *inst,
                               const tirrt_view_t *const *ins, const tirrt_view_t *out) {
  return tirrt_cuda_exec(((CudaRun *)run)->ctx, env, inst, ins, out);
}

static tirrt_status_t cuda_run_kernel(void *run, void *prep, int32_t k, const tirrt_kernel_def_t *kd,
                                      const tirrt_view_t *const *ins,
                                      const tirrt_view_t *const *outs, const tirrt_view_t *space) {
  tirrt_cuda_module_t *m = ((CudaPrep *)prep)->modules[k];
  if (!m) return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "kernel %s is not loaded", kd->name);
  return tirrt_cuda_launch_fused(((CudaRun *)run)->ctx, m, kd, ins, outs, space);
}

static tirrt_status_t cuda_graph_launch(void *run, void *prep, const void *key, size_t key_bytes,
                                        tirrt_tensor_desc_t *out_descs, int32_t n_results,
                                        bool *hit) {
  return tirrt_cuda_graph_launch(((CudaRun *)run)->ctx, ((CudaPrep *)prep)->graphs, key, key_bytes,
                                 out_descs, n_results, hit);
}

static tirrt_status_t cuda_graph_begin(void *run) {
  return tirrt_cuda_graph_begin(((CudaRun *)run)->ctx);
}

static tirrt_status_t cuda_graph_end(void *run, void *prep, const void *key, size_t key_bytes,
                                     const tirrt_tensor_desc_t *out_descs, int32_t n_results,
                                     bool ok) {
  return tirrt_cuda_graph_end(((CudaRun *)run)->ctx, &((CudaPrep *)prep)->graphs, key, key_bytes,
                              out_descs, n_results, ok);
}

static const tirrt_backend_t CUDA = {
    .name = "cuda",
    .device_memory = true,
    .begin = cuda_begin,
    .sync = cuda_sync,
    .end = cuda_end,
    .prepare = cuda_prepare,
    .unprepare = cuda_unprepare,
    .const_data = cuda_const_data,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .supports = cuda_supports,
    .run = cuda_run,
    .run_kernel = cuda_run_kernel,
    .graph_launch = cuda_graph_launch,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
};

const tirrt_backend_t *tirrt_backend_cuda(void) { return &CUDA; }
