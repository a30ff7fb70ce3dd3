/* program_internal.h — the program executor's shared state, private to
 * program.c (creation, the interpreter loop, the entry points), pool.c
 * (the buffer pool and values' buffers) and bind.c (symbols, shapes, the
 * arguments' views and the caller's result buffers).  Not part of the
 * public API: nothing outside runtime/ may include it. */
#ifndef TIRRT_PROGRAM_INTERNAL_H
#define TIRRT_PROGRAM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "internal.h"
#include "tirrt.h"
#include "tirrt_cpu.h"

typedef struct {
  void *p;
  size_t cap;
  int32_t refs; /* live values viewing it; 0 = free in the pool */
  bool device;  /* device memory (of program->dev_backend on program->device) */
  int32_t bin;  /* its capacity's bin */
  int32_t next; /* while free: the next free buffer of its bin, or -1 */
} Buffer;

/* The free buffers of one capacity (on one device kind): a stack, and,
 * while not empty, a node of that device's treap of bins (see acquire in pool.c). */
typedef struct {
  size_t cap;
  bool device;
  int32_t top;         /* the last buffer freed, or -1 */
  int32_t left, right; /* children in the treap */
  uint32_t prio;
} Bin;

/* A program: its definition, what creation derived from it, the pool and
 * the per-value state kept between runs, and its device state. */
struct tirrt_program_s {
  const tirrt_program_def_t *def;
  int32_t *last_use; /* per value: last instruction that reads it; n_insts for results */
  int32_t *result_base; /* per result: the value made in its caller buffer, or -1 (direct_base) */
  /* A run's per-value state (Run's view, buf, direct), kept between runs:
   * allocating and clearing it per run cost as much as running a long
   * program of small ops.  direct is all NULL between runs. */
  tirrt_view_t *view;
  int32_t *vbuf;
  void **direct;
  Buffer *bufs;
  int32_t n_bufs, cap_bufs;
  Bin *bins;
  int32_t n_bins, cap_bins;
  int32_t *bin_slots; /* hash of (device, capacity) -> bin + 1, 0 empty; n_slots a power of 2 */
  int32_t n_slots;
  int32_t free_root[2]; /* per memory kind (host, device): the treap of non-empty bins, or -1 */
  size_t live_bytes, peak_bytes;
  /* Device state, made by the first run on a device backend (its
   * prepare: constants uploaded, generated kernels loaded). */
  const tirrt_backend_t *dev_backend; /* NULL until then */
  int32_t device;                     /* its device ordinal; -1 until then */
  void *prep;
  /* CUDA graphs (tirrt_program_execute): hashes of recent runs' keys (a
   * key seen again is recorded), how many graphs were recorded, and
   * whether recording failed once (then never again). */
  uint64_t seen[8];
  int32_t n_seen, seen_next, n_captures;
  bool graphs_off;
  bool uses_seed; /* some instruction draws random numbers: the seed is in the key */
};

/* One run (or one shape query): the bound symbols, the evaluated dims, and
 * every value's view and buffer. */
typedef struct {
  tirrt_program_t *p;
  int64_t *sym;
  bool *sym_bound;
  int64_t *dim;      /* evaluated dim nodes */
  bool *dim_ok;
  tirrt_view_t *view; /* per value */
  int32_t *buf;       /* per value: buffer id or -1 */
  uint64_t seed;
  const tirrt_backend_t *be; /* where the run computes */
  void *bs;                  /* be's run state (begin) */
  bool dev;                  /* be->device_memory */
  void **direct;      /* per value: the caller's result buffer it is made in, or NULL */
} Run;

/* pool.c: the buffer pool. */

/* Forgets every buffer's use: all of them are free again (end of a run). */
void pool_reset(tirrt_program_t *p);
/* Drops one reference to buffer id (-1: none); at 0 it returns to the pool. */
void pool_release(tirrt_program_t *p, int32_t id);
/* Frees buffer b's memory (host or GPU); at program_free. */
void pool_free_buffer(tirrt_program_t *p, Buffer *b);
/* Gives value v its shape and memory: none when empty, the caller's buffer
 * when it is made there, else a pool buffer (best fit). */
tirrt_status_t pool_alloc_out(Run *r, int32_t v, tirrt_view_t *out);
/* Value v shares value in's buffer (a view; the caller sets the strides). */
tirrt_status_t pool_alias(Run *r, int32_t in, int32_t v, tirrt_view_t *out);
/* Values whose last reader is instruction i die after it. */
void pool_release_after(Run *r, const tirrt_inst_t *inst, int32_t i);

/* bind.c: symbols, shapes and the run's inputs and outputs. */

/* The shape of value v from its dims; fails naming the unbound symbol. */
tirrt_status_t bind_value_shape(Run *r, int32_t v, tirrt_tensor_desc_t *desc);
/* Binds the symbols from the arguments' shapes, then checks every shape. */
tirrt_status_t bind_args(Run *r, const tirrt_tensor_desc_t *descs);
/* Binds the arguments' and constants' views (uploading host data to a
 * device backend into uploads[i]). */
tirrt_status_t bind_data(Run *r, const tirrt_run_options_t *o,
                         const tirrt_tensor_desc_t *arg_descs, const void *const *arg_datas,
                         void **uploads);
/* The caller's result buffers: present where needed and overlapping no
 * argument and no other result. */
tirrt_status_t bind_check_result_buffers(Run *r, const tirrt_tensor_desc_t *arg_descs,
                                         const void *const *arg_datas,
                                         void *const *result_buffers);

#endif /* TIRRT_PROGRAM_INTERNAL_H */
