/* common.cu — the per-thread error state of the kernels (tirk.h): the last
 * CUDA error, cuBLAS status and message, read by the runtime after a
 * kernel function returns an error code. */
#include "tirk.h"
#include "tirk_internal.h"

static thread_local cudaError_t last_cuda = cudaSuccess;
static thread_local int last_cublas = 0;
static thread_local char last_msg[256];

extern "C" cudaError_t tirk_last_cuda_error(void) { return last_cuda; }
extern "C" int tirk_last_cublas_status(void) { return last_cublas; }
extern "C" const char *tirk_last_message(void) { return last_msg; }

tirk_err_t tirk_fail_cuda(cudaError_t e) {
  last_cuda = e;
  return TIRK_ERR_CUDA;
}

tirk_err_t tirk_fail_cublas(int status) {
  last_cublas = status;
  return TIRK_ERR_CUBLAS;
}

tirk_err_t tirk_fail(tirk_err_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_msg, sizeof last_msg, fmt, ap);
  va_end(ap);
  return code;
}

tirk_err_t tirk_check_launch(void) {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? TIRK_OK : tirk_fail_cuda(e);
}
