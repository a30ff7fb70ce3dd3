/* tirc.h — the embedding API (libtirc): compile TIR in process and run it on
 * the caller's buffers.  The torch backend and the tests use it.
 *
 * Conventions for every function here:
 *  - Prefix `tirc_`; handles are opaque.
 *  - Functions return 0 on success, otherwise the tirc exit code of the
 *    failure (1 bad input, 2 unsupported / bad usage, 3 internal), and set
 *    *out_error (when not NULL) to a message the caller frees with
 *    tirc_free().  Compile errors carry `FILE:LINE:COL: error: ...` lines.
 *  - Out-parameters come last and are untouched on failure.
 *  - NULL arguments are errors (2, with a message), never crashes: a NULL
 *    module, text, path, inputs or outputs (with a count above 0), tensor
 *    data for a tensor with elements, or out-parameter.  NULL options mean
 *    all defaults, and a NULL out_error is allowed.  The accessors return
 *    -1 (counts) or NULL (strings) for a NULL module.
 *  - Tensors are described by tirc_dltensor_t, which has the layout of
 *    DLPack's DLTensor, so a DLManagedTensor's `dl_tensor` can be passed as
 *    is.  Buffers are borrowed for the duration of a call; libtirc never
 *    keeps or frees them.  CPU tensors (device_type 1) may be strided; CUDA
 *    tensors (device_type 2, device memory of one GPU) must be dense, and
 *    every tensor of a call must be on the same device.  Compile with
 *    target "cuda" to get generated GPU kernels; a module of either target
 *    runs on CPU or CUDA tensors.
 *  - A module may run from several threads at once only if each thread has
 *    its own module; compiling is thread-safe.  Runs on one GPU take turns
 *    (they share its stream, cuBLAS handle and memory cache).
 *  - CUDA tensors: the work runs on the stream given to
 *    tirc_module_run_on_stream, or, with none, on the legacy default
 *    stream, so it is ordered after the caller's default-stream work (pass
 *    your stream when you use another).  The call returns when the outputs
 *    are written; the caller's current device is left as it was.
 */
#ifndef TIRC_H
#define TIRC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DLPack-compatible (same field order and types as DLTensor). */
typedef struct {
  uint8_t code; /* 0 int, 1 uint, 2 float, 4 bfloat, 6 bool */
  uint8_t bits;
  uint16_t lanes; /* must be 1 */
} tirc_dldtype_t;

typedef struct {
  int32_t device_type; /* 1 = CPU (kDLCPU), 2 = CUDA (kDLCUDA) */
  int32_t device_id;
} tirc_dldevice_t;

typedef struct {
  void *data;
  tirc_dldevice_t device;
  int32_t ndim;
  tirc_dldtype_t dtype;
  int64_t *shape;
  int64_t *strides; /* in elements; NULL means row-major contiguous */
  uint64_t byte_offset;
} tirc_dltensor_t;

/* The values are exactly those of the tirc driver's flags (spec §8; one
 * check serves both); any other value is an error (2) before compiling. */
typedef struct {
  const char *target;      /* NULL or "cpu" (the default), or "cuda" */
  const char *arch;        /* NULL or "sm_80" (the default), "sm_86", "sm_89", "sm_90" */
  const char *passes;      /* NULL: the default pipeline; "" runs none */
  const char *sdpa_kernel; /* NULL, "flash", "mem_efficient" or "math" */
  int dump_ir;             /* nonzero: keep the IR after every pass (tirc_module_dump) */
  int time_passes;         /* nonzero: keep each compile phase's time (tirc_module_timings) */
} tirc_options_t;

typedef struct tirc_module_s tirc_module_t;

/* Compiles TIR text (len bytes) named `name` (used in messages and to
 * resolve const(file=...) paths, relative to its directory). */
int tirc_compile_string(const char *text, size_t len, const char *name,
                        const tirc_options_t *options, tirc_module_t **out_module,
                        char **out_error);
int tirc_compile_file(const char *path, const tirc_options_t *options,
                      tirc_module_t **out_module, char **out_error);
void tirc_module_free(tirc_module_t *module);

int tirc_module_num_inputs(const tirc_module_t *module);
int tirc_module_num_outputs(const tirc_module_t *module);
/* Argument name without `%`; borrowed from the module. */
const char *tirc_module_input_name(const tirc_module_t *module, int i);
/* The optimized IR, and (with dump_ir) every pass's dump; borrowed. */
const char *tirc_module_ir(const tirc_module_t *module);
const char *tirc_module_dump(const tirc_module_t *module);
/* With time_passes: the compile-time table (as `tirc --time-passes`
 * prints it: parse, each pass, the verifier, lowering, CUDA kernel sources
 * and NVRTC, loading), else NULL; borrowed. */
const char *tirc_module_timings(const tirc_module_t *module);

/* The dtype (as DLPack's) and shape of each output for these inputs,
 * without running: out_shapes[j] must hold 16 dims. */
int tirc_module_output_shapes(tirc_module_t *module, const tirc_dltensor_t *inputs, int n_inputs,
                              tirc_dldtype_t *out_dtypes, int32_t *out_ndims,
                              int64_t (*out_shapes)[16], char **out_error);

/* Runs with inputs in signature order and writes each output into the
 * caller's tensor, which must have the output's dtype and shape (any
 * strides).  An output must not share memory with an input or with another
 * output (the run fails with code 1); a tensor with no elements may have
 * NULL data.  `seed` drives dropout. */
int tirc_module_run(tirc_module_t *module, const tirc_dltensor_t *inputs, int n_inputs,
                    const tirc_dltensor_t *outputs, int n_outputs, uint64_t seed,
                    char **out_error);

/* The same on CUDA tensors, with the work queued on `cuda_stream` (a
 * cudaStream_t; NULL: the runtime's own stream).  Returns when the results
 * are written. */
int tirc_module_run_on_stream(tirc_module_t *module, const tirc_dltensor_t *inputs, int n_inputs,
                              const tirc_dltensor_t *outputs, int n_outputs, uint64_t seed,
                              void *cuda_stream, char **out_error);

/* CUDA graphs (off unless turned on here): a run on CUDA tensors whose
 * shapes and data pointers (inputs and outputs) equal an earlier run's is
 * recorded in a CUDA graph the second time and replayed after, one launch
 * for the whole run; results are the same.  Worth it when a model is
 * called again and again on the same buffers (decoding with a static
 * cache, benchmarks); a module keeps a few graphs. */
void tirc_module_set_cuda_graphs(tirc_module_t *module, int on);
/* Graphs recorded so far; -1 when recording failed (no more are tried). */
int tirc_module_cuda_graphs_recorded(const tirc_module_t *module);

/* Usable CUDA GPUs (0 without a driver or GPU, or in a CPU-only build). */
int tirc_cuda_device_count(void);

void tirc_free(void *p);
const char *tirc_version(void);

#ifdef __cplusplus
}
#endif
#endif /* TIRC_H */
