/* cuda_stub.c — the device functions of tirrt.h in a build without the
 * CUDA toolkit: no GPUs, no CUDA backend, and every GPU request is a
 * clear UNAVAILABLE. */
#include "backend.h"
#include "internal.h"
#include "tirrt.h"

static tirrt_status_t no_cuda(void) {
  return tirrt_make_status(TIRRT_STATUS_UNAVAILABLE,
                           "this runtime was built without CUDA; run with --device=cpu");
}

tirrt_status_t tirrt_cuda_device_count(int *out_count) {
  *out_count = 0;
  return NULL;
}

tirrt_status_t tirrt_cuda_describe(int device, char *buf, size_t size) {
  (void)device;
  (void)buf;
  (void)size;
  return no_cuda();
}

tirrt_status_t tirrt_cuda_compute_capability(int device, int *out_cc) {
  (void)device;
  (void)out_cc;
  return no_cuda();
}

tirrt_status_t tirrt_cuda_malloc(int device, size_t bytes, void **out_ptr) {
  (void)device;
  (void)bytes;
  (void)out_ptr;
  return no_cuda();
}

void tirrt_cuda_release(int device, void *ptr) {
  (void)device;
  (void)ptr;
}

tirrt_status_t tirrt_cuda_copy_bytes(int device, void *dst, const void *src, size_t bytes,
                                     int direction) {
  (void)device;
  (void)dst;
  (void)src;
  (void)bytes;
  (void)direction;
  return no_cuda();
}

/* backend.h: there is no CUDA backend; a CUDA run reports UNAVAILABLE. */
const tirrt_backend_t *tirrt_backend_cuda(void) { return NULL; }
