/* test_gpu_ops.c — checks every generic GPU op kernel (kernels/tirk_ops.h)
 * against the CPU kernel of the same op (runtime/tirrt_cpu.h), which is
 * itself tested against float64 references.
 *
 * Each case builds fresh random inputs (never all zeros; negatives, and
 * NaN/inf/huge values where casts must handle them) with one geometry —
 * contiguous, transposed, sliced (stride 2, offset 1) or broadcast
 * (stride-0 dims) — in a host buffer and an identical device buffer,
 * poisons both output buffers with 0xFF, runs the CPU kernel on the host
 * views and the GPU kernel on the device views, and compares the whole
 * output buffers: exactly (bytes, any NaN equal to any NaN) for integers,
 * bool, copies, selections and dropout; for float math by the relative
 * error ||gpu - cpu|| / ||cpu|| over finite elements, with NaN/inf in the
 * same places, within a per-dtype bound.  One line per op family, a final
 * count, exit 1 on any failure, 77 without a GPU.  "quick" as the first
 * argument runs fewer shapes (for compute-sanitizer); "bench" prints the
 * bandwidth of a few big ops instead of testing.
 *
 * The values of the elementwise, reduction and softmax ops over every
 * dtype TIR takes are test/ops' (ctest ops.backend, which runs the same
 * library kernels with a GPU); those families here keep the geometries,
 * long runs and kernel-only cases (gpu_ops_elementwise.c).  The other
 * families are gpu_ops_more.c; the machinery gpu_ops_lib.c; this file has
 * main and the bench. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gpu_ops.h"

/* Effective bandwidth of a few big ops (bytes read + written once). */
static void bench(void) {
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  typedef struct {
    const char *name;
    int kind, dt, odt, rank;
    int64_t s[2];
  } b_t;
  static const b_t cases[] = {
      {"add f32 [2^26] contiguous", 0, TIRK_F32, TIRK_F32, 1, {1 << 26}},
      {"add bf16 [8192,8192] + row bcast", 1, TIRK_BF16, TIRK_BF16, 2, {8192, 8192}},
      {"gelu bf16 [2^26]", 2, TIRK_BF16, TIRK_BF16, 1, {1 << 26}},
      {"cast f32->bf16 [2^26]", 3, TIRK_F32, TIRK_BF16, 1, {1 << 26}},
      {"copy f32 transpose [8192,8192]", 4, TIRK_F32, TIRK_F32, 2, {8192, 8192}},
      {"sum f32 [8192,8192] dim 1", 5, TIRK_F32, TIRK_F32, 2, {8192, 8192}},
      {"sum f32 [8192,8192] dim 0", 6, TIRK_F32, TIRK_F32, 2, {8192, 8192}},
      {"softmax f32 [4096,32000] last", 7, TIRK_F32, TIRK_F32, 2, {4096, 32000}},
      {"softmax bf16 [65536,128] last", 7, TIRK_BF16, TIRK_BF16, 2, {65536, 128}},
      {"layer_norm bf16 [16384,4096]", 8, TIRK_BF16, TIRK_BF16, 2, {16384, 4096}},
      {"rms_norm bf16 [16384,4096]", 9, TIRK_BF16, TIRK_BF16, 2, {16384, 4096}},
      {"dropout bf16 [2^26] p 0.1", 10, TIRK_BF16, TIRK_BF16, 1, {1 << 26}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const b_t *b = &cases[c];
    int64_t n = b->s[0] * (b->rank > 1 ? b->s[1] : 1);
    void *x = NULL, *y = NULL, *o = NULL;
    if (cudaMalloc(&x, (size_t)n * esize(b->dt)) != cudaSuccess || cudaMalloc(&y, (size_t)n * esize(b->dt)) != cudaSuccess ||
        cudaMalloc(&o, (size_t)n * esize(b->odt)) != cudaSuccess) {
      printf("bench %s: no memory\n", b->name);
      cudaFree(x), cudaFree(y), cudaFree(o);
      continue;
    }
    tirk_view_t vx, vy, vo;
    memset(&vx, 0, sizeof vx);
    vx.dtype = b->dt, vx.rank = b->rank;
    for (int d = b->rank - 1, s = 1; d >= 0; d--) vx.shape[d] = b->s[d], vx.strides[d] = s, s *= (int)b->s[d];
    vx.data = x;
    vy = vx, vy.data = y;
    vo = vx, vo.dtype = b->odt, vo.data = o;
    tirk_fill(0.5, &vx, 0);
    tirk_fill(0.25, &vy, 0);
    double bytes = 0;
    tirk_err_t err = TIRK_OK;
    for (int rep = 0; rep < 4; rep++) {
      if (rep == 1) cudaEventRecord(e0, 0);
      switch (b->kind) {
      case 0: err = tirk_binary(TIRK_BIN_ADD, &vx, &vy, &vo, 0), bytes = 3.0 * n * esize(b->dt); break;
      case 1: {
        tirk_view_t row = vy;
        row.strides[0] = 0;
        err = tirk_binary(TIRK_BIN_ADD, &vx, &row, &vo, 0), bytes = 2.0 * n * esize(b->dt);
        break;
      }
      case 2: err = tirk_unary(TIRK_UN_GELU, &vx, &vo, 0), bytes = 2.0 * n * esize(b->dt); break;
      case 3: err = tirk_copy(&vx, &vo, 0), bytes = (double)n * (esize(b->dt) + esize(b->odt)); break;
      case 4: {
        tirk_view_t t = vx;
        t.strides[0] = 1, t.strides[1] = b->s[0];
        err = tirk_copy(&t, &vo, 0), bytes = 2.0 * n * esize(b->dt);
        break;
      }
      case 5:
      case 6: {
        tirk_view_t r = vo;
        r.shape[b->kind == 5 ? 1 : 0] = 1;
        if (b->kind == 5) r.strides[0] = 1;
        err = tirk_reduce(TIRK_RED_SUM, &vx, b->kind == 5 ? 2u : 1u, &r, 0), bytes = (double)n * esize(b->dt);
        break;
      }
      case 7: err = tirk_softmax(&vx, -1, false, &vo, 0), bytes = 2.0 * n * esize(b->dt); break;
      case 8: err = tirk_layer_norm(&vx, NULL, NULL, 1, 1e-5, &vo, 0), bytes = 2.0 * n * esize(b->dt); break;
      case 9: err = tirk_rms_norm(&vx, NULL, -1, &vo, 0), bytes = 2.0 * n * esize(b->dt); break;
      default: err = tirk_dropout(&vx, 0.1, 1234, 7, &vo, 0), bytes = 2.0 * n * esize(b->dt); break;
      }
    }
    cudaEventRecord(e1, 0);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    ms /= 3;
    printf("bench %-34s %8.3f ms  %7.1f GB/s%s\n", b->name, ms, bytes / (ms * 1e6), err ? "  (kernel error)" : "");
    cudaFree(x), cudaFree(y), cudaFree(o);
  }
}

int main(int argc, char **argv) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    printf("no CUDA device: skipped\n");
    return 77;
  }
  tt_seed("test_gpu_ops", argc, argv, false, 0x9E3779B97F4A7C15ull);
  bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
  if (argc > 1 && strcmp(argv[1], "bench") == 0) {
    bench();
    return 0;
  }
  if (quick) shapes = shapes_quick, nshapes = 3;
  struct cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  printf("device: %s%s\n", prop.name, quick ? " (quick)" : "");
  test_copy();
  test_copy_wide();
  test_unary();
  test_binary();
  test_where();
  test_reduce(quick);
  test_softmax(quick);
  test_norms(quick);
  test_sources();
  test_tri();
  test_embedding();
  test_dropout();
  test_matmul_int();
  if (!quick) test_large();
  printf("%s: %d passed, %d failed\n", total_fail ? "FAIL" : "PASS", total_pass, total_fail);
  return total_fail ? 1 : 0;
}
