/* gpu_check.h — CK(call): a GPU test's CUDA runtime call that must succeed;
 * on failure it prints the call and the CUDA error and exits 1 (a test
 * that cannot talk to the GPU cannot go on). */
#ifndef TIRC_TEST_GPU_CHECK_H
#define TIRC_TEST_GPU_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <cuda_runtime_api.h>

#define CK(call)                                                                       \
  do {                                                                                 \
    cudaError_t e_ = (call);                                                           \
    if (e_ != cudaSuccess) {                                                           \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

#endif
