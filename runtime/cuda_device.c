/* cuda_device.c — the runtime's CUDA devices: one context per device and
 * process (created on first use), the caching allocator, the public device
 * memory helpers of tirrt.h, and the error statuses of the check macros.
 * Nothing here aborts: a missing driver or GPU is an UNAVAILABLE status
 * that says so in words. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

/* ------------------------------------------------------------ errors */

tirrt_status_t tirrt_cuda_status(cudaError_t e, const char *call, const char *file, int line) {
  tirrt_status_code_t code = e == cudaErrorMemoryAllocation ? TIRRT_STATUS_OUT_OF_MEMORY
                             : e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver
                                 ? TIRRT_STATUS_UNAVAILABLE
                                 : TIRRT_STATUS_INTERNAL;
  return tirrt_make_status(code, "CUDA error %s (%s) in %s at %s:%d", cudaGetErrorName(e),
                           cudaGetErrorString(e), call, file, line);
}

tirrt_status_t tirrt_cublas_status(cublasStatus_t e, const char *call, const char *file, int line) {
  return tirrt_make_status(e == CUBLAS_STATUS_ALLOC_FAILED ? TIRRT_STATUS_OUT_OF_MEMORY
                           : e == CUBLAS_STATUS_NOT_SUPPORTED ? TIRRT_STATUS_UNIMPLEMENTED
                                                              : TIRRT_STATUS_INTERNAL,
                           "cuBLAS error %s (%s) in %s at %s:%d", cublasGetStatusName(e),
                           cublasGetStatusString(e), call, file, line);
}

tirrt_status_t tirrt_tirk_status(tirk_err_t e, const char *what) {
  switch (e) {
  case TIRK_OK: return NULL;
  case TIRK_ERR_CUDA: {
    cudaError_t ce = tirk_last_cuda_error();
    return tirrt_make_status(ce == cudaErrorMemoryAllocation ? TIRRT_STATUS_OUT_OF_MEMORY
                                                              : TIRRT_STATUS_INTERNAL,
                             "%s: CUDA error %s (%s)", what, cudaGetErrorName(ce),
                             cudaGetErrorString(ce));
  }
  case TIRK_ERR_CUBLAS: {
    cublasStatus_t bs = (cublasStatus_t)tirk_last_cublas_status();
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "%s: cuBLAS error %s (%s)", what,
                             cublasGetStatusName(bs), cublasGetStatusString(bs));
  }
  case TIRK_ERR_UNSUPPORTED:
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "%s: %s", what, tirk_last_message());
  default:
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "%s: bad kernel arguments: %s", what,
                             tirk_last_message());
  }
}

tirk_view_t tirrt_tirk_view(const tirrt_view_t *v) {
  tirk_view_t t;
  memset(&t, 0, sizeof t);
  t.dtype = (int32_t)v->dtype;
  t.rank = v->rank;
  for (int32_t k = 0; k < v->rank; k++) {
    t.shape[k] = v->shape[k];
    t.strides[k] = v->strides[k];
  }
  t.data = v->data;
  return t;
}

/* ------------------------------------------------------------ contexts */

#define MAX_DEVICES 16

typedef struct {
  void *p;
  size_t size;
} Block;

typedef struct {
  tirrt_cuda_ctx_t ctx;
  bool ready;
  pthread_mutex_t lock; /* guards the block lists */
  pthread_mutex_t run;  /* held by a run for its whole length */
  Block *free_blocks, *used_blocks;
  size_t n_free, n_used, cap_free, cap_used;
} Device;

static Device devices[MAX_DEVICES];
static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;

static tirrt_status_t no_gpu(cudaError_t e) {
  if (e == cudaErrorNoDevice)
    return tirrt_make_status(TIRRT_STATUS_UNAVAILABLE,
                             "no CUDA GPU is present (run with --device=cpu)");
  if (e == cudaErrorInsufficientDriver)
    return tirrt_make_status(TIRRT_STATUS_UNAVAILABLE,
                             "the NVIDIA driver is missing or older than this program's CUDA "
                             "runtime (run with --device=cpu)");
  return tirrt_make_status(TIRRT_STATUS_UNAVAILABLE,
                           "CUDA is not usable here: %s (%s); run with --device=cpu",
                           cudaGetErrorName(e), cudaGetErrorString(e));
}

static tirrt_status_t create(Device *d, int device) {
  tirrt_cuda_ctx_t *c = &d->ctx;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return no_gpu(e);
  if (n == 0) return no_gpu(cudaErrorNoDevice);
  if (device < 0 || device >= n)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "CUDA device %d does not exist (this machine has %d)", device, n);
  TIRRT_CUDA_CHECK(cudaSetDevice(device));
  struct cudaDeviceProp prop;
  TIRRT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  if (prop.major < 8)
    return tirrt_make_status(TIRRT_STATUS_UNAVAILABLE,
                             "GPU %d (%s) is sm_%d%d; tirc needs sm_80 or newer", device, prop.name,
                             prop.major, prop.minor);
  c->device = device;
  c->cc = prop.major * 10 + prop.minor;
  c->sm_count = prop.multiProcessorCount;
  snprintf(c->name, sizeof c->name, "%s", prop.name);
  TIRRT_CUDA_CHECK(cudaFree(NULL)); /* creates the primary context now, not in a timed run */
  TIRRT_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  c->own_stream = true;
  TIRRT_CUBLAS_CHECK(cublasCreate(&c->blas));
  TIRRT_CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
  /* Exact f32: TF32 only when a program asks (--allow-tf32). */
  TIRRT_CUBLAS_CHECK(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
  TIRRT_CUBLAS_CHECK(cublasLtCreate(&c->lt));
  c->lt_workspace_bytes = 32u << 20;
  TIRRT_CUDA_CHECK(cudaMalloc(&c->lt_workspace, c->lt_workspace_bytes));
  TIRRT_CUBLAS_CHECK(cublasSetWorkspace(c->blas, c->lt_workspace, c->lt_workspace_bytes));
  TIRRT_CUDA_CHECK(cudaMalloc((void **)&c->check_dev, TIRRT_CUDA_MAX_CHECKS * sizeof(int64_t)));
  TIRRT_CUDA_CHECK(cudaMallocHost((void **)&c->check_host, TIRRT_CUDA_MAX_CHECKS * sizeof(int64_t)));
  pthread_mutex_init(&d->lock, NULL);
  pthread_mutex_init(&d->run, NULL);
  return NULL;
}

void tirrt_cuda_run_lock(tirrt_cuda_ctx_t *c) { pthread_mutex_lock(&((Device *)c)->run); }
void tirrt_cuda_run_unlock(tirrt_cuda_ctx_t *c) { pthread_mutex_unlock(&((Device *)c)->run); }

tirrt_status_t tirrt_cuda_set_blas_stream(tirrt_cuda_ctx_t *c) {
  TIRRT_CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
  TIRRT_CUBLAS_CHECK(cublasSetWorkspace(c->blas, c->lt_workspace, c->lt_workspace_bytes));
  return NULL;
}

/* Undoes a create() that failed part way, so the next call starts clean. */
static void destroy(Device *d) {
  tirrt_cuda_ctx_t *c = &d->ctx;
  if (c->lt_workspace) cudaFree(c->lt_workspace);
  if (c->check_dev) cudaFree(c->check_dev);
  if (c->check_host) cudaFreeHost(c->check_host);
  if (c->lt) cublasLtDestroy(c->lt);
  if (c->blas) cublasDestroy(c->blas);
  if (c->stream) cudaStreamDestroy(c->stream);
  memset(c, 0, sizeof *c);
}

tirrt_status_t tirrt_cuda_ctx_get(int device, tirrt_cuda_ctx_t **out) {
  if (device < 0 || device >= MAX_DEVICES)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "CUDA device %d is out of range",
                             device);
  pthread_mutex_lock(&devices_lock);
  Device *d = &devices[device];
  tirrt_status_t s = NULL;
  if (!d->ready) {
    s = create(d, device);
    if (!s) d->ready = true;
    else destroy(d);
  }
  pthread_mutex_unlock(&devices_lock);
  if (s) return s;
  TIRRT_CUDA_CHECK(cudaSetDevice(device));
  *out = &d->ctx;
  return NULL;
}

/* ------------------------------------------------------------ allocator */

static Device *device_of(tirrt_cuda_ctx_t *c) { return (Device *)c; }

static bool push(Block **list, size_t *n, size_t *cap, Block b) {
  if (*n == *cap) {
    size_t nc = *cap ? 2 * *cap : 64;
    Block *nl = realloc(*list, nc * sizeof *nl);
    if (!nl) return false;
    *list = nl;
    *cap = nc;
  }
  (*list)[(*n)++] = b;
  return true;
}

/* Sizes are rounded so that similar requests share blocks: 512 bytes up to
 * 1 MiB, then 2 MiB steps. */
static size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  size_t q = bytes <= (1u << 20) ? 512 : (2u << 20);
  return (bytes + q - 1) / q * q;
}

static void empty_cache(Device *d) {
  for (size_t i = 0; i < d->n_free; i++) cudaFree(d->free_blocks[i].p);
  d->n_free = 0;
}

tirrt_status_t tirrt_cuda_alloc(tirrt_cuda_ctx_t *c, size_t bytes, void **out) {
  Device *d = device_of(c);
  size_t size = round_size(bytes);
  pthread_mutex_lock(&d->lock);
  /* The smallest cached block that fits without wasting more than half. */
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < d->n_free; i++) {
    size_t s = d->free_blocks[i].size;
    if (s >= size && s <= 2 * size && (best == SIZE_MAX || s < d->free_blocks[best].size)) best = i;
  }
  Block b;
  if (best != SIZE_MAX) {
    b = d->free_blocks[best];
    d->free_blocks[best] = d->free_blocks[--d->n_free];
  } else {
    b.size = size;
    cudaError_t e = cudaMalloc(&b.p, size);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError(); /* clear it; retry with the cache handed back */
      empty_cache(d);
      e = cudaMalloc(&b.p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      pthread_mutex_unlock(&d->lock);
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      return tirrt_make_status(e == cudaErrorMemoryAllocation ? TIRRT_STATUS_OUT_OF_MEMORY
                                                              : TIRRT_STATUS_INTERNAL,
                               "cannot allocate %zu bytes on GPU %d (%zu of %zu bytes free): %s",
                               size, c->device, free_b, total_b, cudaGetErrorString(e));
    }
  }
  if (!push(&d->used_blocks, &d->n_used, &d->cap_used, b)) {
    cudaFree(b.p);
    pthread_mutex_unlock(&d->lock);
    return tirrt_oom_status();
  }
  pthread_mutex_unlock(&d->lock);
  *out = b.p;
  return NULL;
}

void tirrt_cuda_free(tirrt_cuda_ctx_t *c, void *p) {
  if (!p) return;
  Device *d = device_of(c);
  pthread_mutex_lock(&d->lock);
  for (size_t i = d->n_used; i-- > 0;)
    if (d->used_blocks[i].p == p) {
      Block b = d->used_blocks[i];
      d->used_blocks[i] = d->used_blocks[--d->n_used];
      if (!push(&d->free_blocks, &d->n_free, &d->cap_free, b)) cudaFree(b.p);
      break;
    }
  pthread_mutex_unlock(&d->lock);
}

/* ------------------------------------------------------------ public helpers */

tirrt_status_t tirrt_cuda_device_count(int *out_count) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    n = 0;
  }
  *out_count = n;
  return NULL;
}

tirrt_status_t tirrt_cuda_malloc(int device, size_t bytes, void **out_ptr) {
  tirrt_cuda_ctx_t *c;
  tirrt_status_t s = tirrt_cuda_ctx_get(device, &c);
  if (s) return s;
  return tirrt_cuda_alloc(c, bytes, out_ptr);
}

void tirrt_cuda_release(int device, void *ptr) {
  tirrt_cuda_ctx_t *c;
  tirrt_status_t s = tirrt_cuda_ctx_get(device, &c);
  if (s) {
    tirrt_status_free(s);
    return;
  }
  tirrt_cuda_free(c, ptr);
}

tirrt_status_t tirrt_cuda_copy_bytes(int device, void *dst, const void *src, size_t bytes,
                                     int direction) {
  tirrt_cuda_ctx_t *c;
  tirrt_status_t s = tirrt_cuda_ctx_get(device, &c);
  if (s) return s;
  enum cudaMemcpyKind kind = direction == TIRRT_COPY_HOST_TO_DEVICE ? cudaMemcpyHostToDevice
                             : direction == TIRRT_COPY_DEVICE_TO_HOST ? cudaMemcpyDeviceToHost
                                                                       : cudaMemcpyDeviceToDevice;
  if (bytes == 0) return NULL;
  TIRRT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, c->stream));
  TIRRT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
  return NULL;
}

tirrt_status_t tirrt_cuda_compute_capability(int device, int *out_cc) {
  tirrt_cuda_ctx_t *c;
  tirrt_status_t s = tirrt_cuda_ctx_get(device, &c);
  if (s) return s;
  *out_cc = c->cc;
  return NULL;
}

tirrt_status_t tirrt_cuda_describe(int device, char *buf, size_t size) {
  tirrt_cuda_ctx_t *c;
  tirrt_status_t s = tirrt_cuda_ctx_get(device, &c);
  if (s) return s;
  snprintf(buf, size, "%s (sm_%d, %d SMs)", c->name, c->cc, c->sm_count);
  return NULL;
}
