/* tirk_internal.h — helpers shared by the kernel sources (not for callers):
 * error reporting into the per-thread state of tirk.h, launch checks, and
 * device-side element loads/stores with the runtime's conversion rules. */
#ifndef TIRK_INTERNAL_H
#define TIRK_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "tirk.h"

tirk_err_t tirk_fail_cuda(cudaError_t e);
tirk_err_t tirk_fail_cublas(int status);
tirk_err_t tirk_fail(tirk_err_t code, const char *fmt, ...);
/* TIRK_OK, or the error of the last launch (cudaGetLastError). */
tirk_err_t tirk_check_launch(void);

/* Returns from the enclosing function on a failed CUDA call. */
#define TIRK_CUDA_TRY(call)                       \
  do {                                            \
    cudaError_t tirk_e_ = (call);                 \
    if (tirk_e_ != cudaSuccess) return tirk_fail_cuda(tirk_e_); \
  } while (0)

#endif /* TIRK_INTERNAL_H */
