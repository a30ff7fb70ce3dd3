/* cuda_internal.h — the runtime's CUDA device layer (internal to runtime/):
 * one context per process and device (stream, cuBLAS/cuBLASLt handles,
 * GEMM workspace, caching allocator), the check macros that turn every
 * CUDA runtime and cuBLAS error into a tirrt status, cuBLASLt GEMMs, and
 * the per-instruction GPU executor behind the CUDA backend
 * (cuda_backend.c).  Compiled only when the CUDA toolkit is present.  Only the runtime API
 * is used (cudart linked statically loads the driver at run time), so
 * binaries start on machines without a driver and say so cleanly. */
#ifndef TIRRT_CUDA_INTERNAL_H
#define TIRRT_CUDA_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backend.h"
#include "internal.h"
#include "tirk.h"
#include "tirrt.h"
#include "tirrt_cpu.h"

/* ------------------------------------------------------------ errors */
tirrt_status_t tirrt_cuda_status(cudaError_t e, const char *call, const char *file, int line);
tirrt_status_t tirrt_cublas_status(cublasStatus_t e, const char *call, const char *file, int line);
/* The status for a failed tirk_* kernel function. */
tirrt_status_t tirrt_tirk_status(tirk_err_t e, const char *what);

/* Each returns from the enclosing function (which returns tirrt_status_t)
 * with a status naming the call when it fails. */
#define TIRRT_CUDA_CHECK(call)                                                   \
  do {                                                                           \
    cudaError_t cuda_e_ = (call);                                                \
    if (cuda_e_ != cudaSuccess) return tirrt_cuda_status(cuda_e_, #call, __FILE__, __LINE__); \
  } while (0)
#define TIRRT_CUBLAS_CHECK(call)                                                 \
  do {                                                                           \
    cublasStatus_t blas_e_ = (call);                                             \
    if (blas_e_ != CUBLAS_STATUS_SUCCESS)                                        \
      return tirrt_cublas_status(blas_e_, #call, __FILE__, __LINE__);            \
  } while (0)
#define TIRRT_TIRK_CHECK(call, what)                                             \
  do {                                                                           \
    tirk_err_t tirk_e_ = (call);                                                 \
    if (tirk_e_ != TIRK_OK) return tirrt_tirk_status(tirk_e_, what);             \
  } while (0)

/* ------------------------------------------------------------ the context */
#define TIRRT_CUDA_MAX_CHECKS 1024
/* What a check slot's verdict means (tirrt_cuda_checks_read). */
typedef enum {
  TIRRT_CHECK_EMBEDDING, /* TIRK_EMBEDDING_OK or the bad index; a = the table's rows */
  TIRRT_CHECK_PAGED      /* tirk_sdpa_paged's verdict; a = blocks per sequence, b = pages,
                            c = page size */
} tirrt_check_kind_t;
typedef struct {
  int kind;
  int64_t a, b, c;
} tirrt_cuda_check_t;
typedef struct tirrt_cuda_ctx_s {
  int device;
  int cc;        /* compute capability, e.g. 90 */
  int sm_count;
  char name[256];
  cudaStream_t stream;
  bool own_stream;
  cublasHandle_t blas;
  cublasLtHandle_t lt;
  void *lt_workspace;
  size_t lt_workspace_bytes;
  bool allow_tf32;
  /* Range checks (embedding indices) of the run in progress: each writes
   * its verdict (TIRK_EMBEDDING_OK or the bad index) into a slot of
   * check_dev; the run's sync copies the slots to check_host (pinned) in
   * one transfer and reads them, so a run has no sync of its own before
   * its end (and can be captured in a CUDA graph).  Fixed addresses: a
   * captured graph writes the same slots on every replay. */
  int64_t *check_dev, *check_host;
  tirrt_cuda_check_t checks[TIRRT_CUDA_MAX_CHECKS]; /* per slot: how to read it */
  int n_checks;
  /* While a run is being captured (cuda_graph.c): where its scratch
   * memory comes from, and the stream the capture records. */
  struct tirrt_cuda_arena_s *arena;
  cudaStream_t capture_stream;
} tirrt_cuda_ctx_t;

/* The context of `device` (created on first use; lives until exit).  A
 * clear UNAVAILABLE status when there is no driver or GPU. */
tirrt_status_t tirrt_cuda_ctx_get(int device, tirrt_cuda_ctx_t **out);

/* Serializes runs on one GPU (see tirrt_program_execute). */
void tirrt_cuda_run_lock(tirrt_cuda_ctx_t *c);
void tirrt_cuda_run_unlock(tirrt_cuda_ctx_t *c);
/* Points the cuBLAS handle at c->stream, keeping the runtime's workspace
 * (cublasSetStream resets it). */
tirrt_status_t tirrt_cuda_set_blas_stream(tirrt_cuda_ctx_t *c);

/* Caching allocator: freed blocks go back to a per-device cache and are
 * reused by later allocations of a similar size; everything runs on one
 * stream, so a block freed after a launch may be reused by the next launch
 * without synchronizing.  When cudaMalloc fails the cache is emptied and
 * the allocation retried once. */
tirrt_status_t tirrt_cuda_alloc(tirrt_cuda_ctx_t *c, size_t bytes, void **out);
void tirrt_cuda_free(tirrt_cuda_ctx_t *c, void *p);

/* Scratch memory of one instruction (workspaces, dense copies), freed
 * before the instruction returns.  From the caching allocator, except
 * while a run is captured in a CUDA graph: then from the capture's arena,
 * which keeps it for the graph's lifetime (a replay writes the same
 * addresses). */
tirrt_status_t tirrt_cuda_scratch(tirrt_cuda_ctx_t *c, size_t bytes, void **out);
void tirrt_cuda_scratch_free(tirrt_cuda_ctx_t *c, void *p);

/* A slot for one range check's verdict, remembering how to read it; NULL
 * when the run has used every slot. */
int64_t *tirrt_cuda_check_slot(tirrt_cuda_ctx_t *c, tirrt_cuda_check_t how);
/* Enqueues the copy of the run's verdicts to the host (before the sync). */
tirrt_status_t tirrt_cuda_checks_fetch(tirrt_cuda_ctx_t *c);
/* After the sync: the first failed check's error, or NULL; clears them. */
tirrt_status_t tirrt_cuda_checks_read(tirrt_cuda_ctx_t *c);
/* The error of verdict v of a check read as `how` says, or NULL. */
tirrt_status_t tirrt_cuda_check_error(const tirrt_cuda_check_t *how, int64_t v);

/* tirk_view_t of a runtime view (same fields). */
tirk_view_t tirrt_tirk_view(const tirrt_view_t *v);

/* ------------------------------------------------------------ GEMMs (cuda_gemm.c) */
tirrt_status_t tirrt_cuda_matmul(tirrt_cuda_ctx_t *c, const tirrt_view_t *a, const tirrt_view_t *b,
                                 const tirrt_view_t *out);
tirrt_status_t tirrt_cuda_linear(tirrt_cuda_ctx_t *c, const tirrt_view_t *x, const tirrt_view_t *w,
                                 const tirrt_view_t *bias, const tirrt_view_t *out);
/* out = act(x @ w^T + bias) in one cuBLASLt call (act: tirrt_act_t, Lt's
 * epilogue after the bias); UNIMPLEMENTED (nothing launched) when Lt has no
 * such epilogue for these operands. */
tirrt_status_t tirrt_cuda_linear_act(tirrt_cuda_ctx_t *c, const tirrt_view_t *x,
                                     const tirrt_view_t *w, const tirrt_view_t *bias, int act,
                                     const tirrt_view_t *out);

/* ------------------------------------------------------------ the executor (cuda_exec.c) */
/* Runs one non-view instruction on the GPU (the CUDA backend's run):
 * ins are its inputs, out its (allocated, contiguous) output. */
tirrt_status_t tirrt_cuda_exec(tirrt_cuda_ctx_t *c, const tirrt_exec_env_t *env,
                               const tirrt_inst_t *inst, const tirrt_view_t *const *ins,
                               const tirrt_view_t *out);
/* A dense device copy of v in new scratch memory (*mem, the caller frees
 * it with tirrt_cuda_scratch_free), for kernels that cannot take v's layout. */
tirrt_status_t tirrt_cuda_dense_copy(tirrt_cuda_ctx_t *c, const tirrt_view_t *v,
                                     tirrt_view_t *out, void **mem);
/* A contiguous copy of src into dst (same shape; dtypes may differ). */
tirrt_status_t tirrt_cuda_copy(tirrt_cuda_ctx_t *c, const tirrt_view_t *src, const tirrt_view_t *dst);

/* Generated kernels of one program: loaded once per program and device. */
typedef struct tirrt_cuda_module_s tirrt_cuda_module_t;
tirrt_status_t tirrt_cuda_module_load(tirrt_cuda_ctx_t *c, const tirrt_kernel_def_t *k,
                                      tirrt_cuda_module_t **out);
void tirrt_cuda_module_free(tirrt_cuda_module_t *m);
/* Launches generated kernel k; ins/outs are the views of k->in / k->out and
 * space the iteration space's shape.  UNIMPLEMENTED (and nothing launched)
 * when the operands do not fit tirrt_fused_params_t: the caller then runs
 * the instructions one by one. */
tirrt_status_t tirrt_cuda_launch_fused(tirrt_cuda_ctx_t *c, tirrt_cuda_module_t *m,
                                       const tirrt_kernel_def_t *k, const tirrt_view_t *const *ins,
                                       const tirrt_view_t *const *outs, const tirrt_view_t *space);

/* ------------------------------------------------------------ CUDA graphs (cuda_graph.c) */
/* One program's graphs on one GPU (kept in the backend's prep). */
typedef struct tirrt_cuda_graphs_s tirrt_cuda_graphs_t;
void tirrt_cuda_graphs_free(int device, tirrt_cuda_graphs_t *t);
/* The backend's graph_launch, graph_begin and graph_end (backend.h); *table
 * is made by the first graph kept. */
tirrt_status_t tirrt_cuda_graph_launch(tirrt_cuda_ctx_t *c, tirrt_cuda_graphs_t *t, const void *key,
                                       size_t key_bytes, tirrt_tensor_desc_t *out_descs,
                                       int32_t n_results, bool *hit);
tirrt_status_t tirrt_cuda_graph_begin(tirrt_cuda_ctx_t *c);
tirrt_status_t tirrt_cuda_graph_end(tirrt_cuda_ctx_t *c, tirrt_cuda_graphs_t **table,
                                    const void *key, size_t key_bytes,
                                    const tirrt_tensor_desc_t *out_descs, int32_t n_results,
                                    bool ok);

#endif /* TIRRT_CUDA_INTERNAL_H */
