/* backend.h — the interface between the program executor's core (program.c:
 * the interpreter loop and views; pool.c; bind.c) and the devices that run
 * instructions.  The core knows no device: it asks a backend for memory,
 * copies and instruction runs.  The CPU backend (cpu_backend.c) is always
 * there; the CUDA backend (cuda_backend.c) exists in CUDA builds only, and
 * tirrt_backend_cuda() is NULL elsewhere (cuda_stub.c).  Internal to
 * runtime/. */
#ifndef TIRRT_BACKEND_H
#define TIRRT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tirrt.h"
#include "tirrt_cpu.h"

/* Everything an instruction needs besides its views. */
typedef struct {
  const int64_t *dim; /* evaluated dim nodes */
  uint64_t seed;      /* the run's seed (dropout) */
} tirrt_exec_env_t;

/* A backend.  `run` is the state of one run (from begin; NULL for the CPU);
 * `prep` is what prepare made for one program on one device.  Functions a
 * backend does not need may be NULL where noted. */
typedef struct tirrt_backend_s {
  const char *name;
  bool device_memory; /* its buffers are not host memory */

  /* A run: begin takes the options (device, stream, TF32) and makes the
   * run state; sync waits for the run's work; end restores what begin
   * changed and releases the state.  NULL for the CPU. */
  tirrt_status_t (*begin)(const tirrt_run_options_t *o, void **out_run);
  tirrt_status_t (*sync)(void *run);
  void (*end)(void *run);

  /* Per program and device: upload constants, load generated kernels.
   * `device` is the ordinal the run uses.  NULL for the CPU. */
  tirrt_status_t (*prepare)(void *run, const tirrt_program_def_t *d, int32_t device,
                            void **out_prep);
  void (*unprepare)(const tirrt_program_def_t *d, int32_t device, void *prep);
  /* The data of constant value v on the device. */
  void *(*const_data)(void *prep, int32_t v);

  /* Memory: alloc/free during a run; release outside any run (program
   * free, the pool's buffers) on `device`. */
  tirrt_status_t (*alloc)(void *run, size_t bytes, void **out);
  void (*free)(void *run, void *p);
  void (*release)(int32_t device, void *p);
  /* Host -> device and device -> host bytes; returns when done. */
  tirrt_status_t (*upload)(void *run, void *dst, const void *src, size_t bytes);
  tirrt_status_t (*download)(void *run, void *dst, const void *src, size_t bytes);
  /* A copy of src into dst on the device (same shape; dtypes may differ;
   * src may broadcast). */
  tirrt_status_t (*copy)(void *run, const tirrt_view_t *src, const tirrt_view_t *dst);

  /* Whether run() takes this instruction. */
  bool (*supports)(const tirrt_inst_t *inst);
  /* Runs one non-view instruction: ins are its inputs (a reduction's or
   * softmax's input already in its rank >= 1 form), out its allocated
   * contiguous output (a reduction's in keepdim form). */
  tirrt_status_t (*run)(void *run, const tirrt_exec_env_t *env, const tirrt_inst_t *inst,
                        const tirrt_view_t *const *ins, const tirrt_view_t *out);
  /* Launches generated kernel k of the program in place of its
   * instructions (ins/outs: views of kd->in / kd->out; space: the
   * iteration space).  UNIMPLEMENTED, nothing launched, when it cannot
   * (the core then runs the instructions).  NULL: never (the CPU). */
  tirrt_status_t (*run_kernel)(void *run, void *prep, int32_t k, const tirrt_kernel_def_t *kd,
                               const tirrt_view_t *const *ins, const tirrt_view_t *const *outs,
                               const tirrt_view_t *space);

  /* CUDA graphs (cuda_graph.c; NULL: the backend has none).  A graph is
   * one run's work recorded under a key (the core's: shapes, data
   * pointers, options), replayed for a run with the same key.
   * graph_launch: replays key's graph, if there is one (*hit), and gives
   * the results' types it recorded.  graph_begin: the run's work from
   * here on is recorded, not run.  graph_end: stops recording; when ok
   * (all of it was recorded) keeps the graph under key with the results'
   * types and launches it; an error when recording failed (nothing ran:
   * the core runs the work again without a graph). */
  tirrt_status_t (*graph_launch)(void *run, void *prep, const void *key, size_t key_bytes,
                                 tirrt_tensor_desc_t *out_descs, int32_t n_results, bool *hit);
  tirrt_status_t (*graph_begin)(void *run);
  tirrt_status_t (*graph_end)(void *run, void *prep, const void *key, size_t key_bytes,
                              const tirrt_tensor_desc_t *out_descs, int32_t n_results, bool ok);
} tirrt_backend_t;

/* The CPU backend; never NULL. */
const tirrt_backend_t *tirrt_backend_cpu(void);
/* The CUDA backend, or NULL in a build without CUDA. */
const tirrt_backend_t *tirrt_backend_cuda(void);

#endif /* TIRRT_BACKEND_H */
