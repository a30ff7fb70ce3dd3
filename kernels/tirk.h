/* tirk.h — the common types of tirc's CUDA kernels (kernels/).
 *
 * The kernels are plain C-callable functions that launch CUDA work on a
 * stream the caller gives; they never allocate device memory (the runtime's
 * caching allocator owns it: a kernel that needs scratch space says how much
 * and takes a pointer), never synchronize, and never print.  The runtime
 * (runtime/) is the only caller; generated programs never call them.
 *
 * Conventions:
 *  - A function returns tirk_err_t: TIRK_OK, a CUDA/cuBLAS failure (the
 *    runtime turns it into a status with the library's message), or
 *    TIRK_ERR_UNSUPPORTED / TIRK_ERR_ARGS for inputs the kernel cannot take.
 *  - Tensors are strided views (tirk_view_t) of device memory: element
 *    (i0, ..., in-1) lives at data + sum_k i_k * strides[k] elements.
 *    Strides may be 0 (broadcast).  Outputs are written through their view.
 *  - f16/bf16 are storage types: compute is f32 (f64 for f64), and
 *    integers compute in int64, like the CPU kernels (runtime/tirrt_cpu.h),
 *    whose semantics these kernels follow exactly. */
#ifndef TIRK_H
#define TIRK_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIRK_MAX_RANK 16

/* The same numbering as tirrt_dtype_t (runtime/tirrt.h). */
typedef enum {
  TIRK_BOOL = 0, TIRK_I8, TIRK_I16, TIRK_I32, TIRK_I64, TIRK_U8,
  TIRK_F16, TIRK_BF16, TIRK_F32, TIRK_F64, TIRK_DTYPE_COUNT
} tirk_dtype_t;

typedef struct tirk_view_s {
  int32_t dtype; /* tirk_dtype_t */
  int32_t rank;
  int64_t shape[TIRK_MAX_RANK];
  int64_t strides[TIRK_MAX_RANK]; /* elements */
  void *data;                     /* device memory */
} tirk_view_t;

typedef enum {
  TIRK_OK = 0,
  TIRK_ERR_CUDA = 1,        /* a CUDA runtime call failed; tirk_last_cuda_error() says which */
  TIRK_ERR_CUBLAS = 2,      /* a cuBLAS call failed; tirk_last_cublas_status() */
  TIRK_ERR_UNSUPPORTED = 3, /* valid input this kernel does not take (dtype, head dim) */
  TIRK_ERR_ARGS = 4,        /* inconsistent arguments (a caller bug) */
} tirk_err_t;

/* The error of the last TIRK_ERR_CUDA / TIRK_ERR_CUBLAS on this thread. */
cudaError_t tirk_last_cuda_error(void);
int tirk_last_cublas_status(void);
/* A short text for the last TIRK_ERR_UNSUPPORTED / TIRK_ERR_ARGS on this
 * thread (static storage, "" if none). */
const char *tirk_last_message(void);

#ifdef __cplusplus
}
#endif

#endif /* TIRK_H */
