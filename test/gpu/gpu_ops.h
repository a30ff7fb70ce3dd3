/* gpu_ops.h — what the files of test_gpu_ops share: host/device tensor
 * pairs in several geometries, the GPU-vs-CPU comparison of a case and the
 * per-family bookkeeping (gpu_ops_lib.c), the shapes, and the entry point
 * of each themed file.  The method is described in test_gpu_ops.c. */
#ifndef TIRC_TEST_GPU_OPS_H
#define TIRC_TEST_GPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tirk_ops.h"
#include "tirrt_cpu.h"
#include "tt_tensor.h"

/* ------------------------------------------------------------ buffers and views */

/* One allocation, a host copy (the CPU kernel's) and a device copy. */
typedef struct {
  int dt;
  size_t bytes;
  unsigned char *h, *d;
} buf_t;

/* A view into a buf_t: the same geometry on both copies. */
typedef struct {
  buf_t *b;
  int dt, rank;
  int64_t shape[TIRK_MAX_RANK], strides[TIRK_MAX_RANK], off;
} ten_t;

enum { FILL_NORMAL, FILL_SPECIAL, FILL_RANGE, FILL_BOOL };
enum { L_CONTIG, L_TRANS, L_SLICE, L_BCAST, L_COUNT };
extern const char *const layout_names[L_COUNT];

extern int cuda_broken;             /* a CUDA call failed: finish() stops the run */
extern int64_t irange_lo, irange_hi; /* FILL_RANGE's integers */

size_t esize(int dt);
bool is_float(int dt);
void *xmalloc(size_t n);
void upload(buf_t *b);
void free_live(void);
/* A tensor of `shape` with a geometry: contiguous, transposed (last two
 * dims swapped in memory), sliced (every other element of a twice-as-long
 * last dim, offset 1), or broadcast (dims in bmask have stride 0). */
ten_t make(int dt, int rank, const int64_t *shape, int layout, uint32_t bmask, int kind);
/* An output: contiguous or sliced, both copies poisoned with 0xFF. */
ten_t out_new(int dt, int rank, const int64_t *shape, bool sliced);
tirrt_view_t hv(const ten_t *t);
tirk_view_t dv(const ten_t *t);

/* ------------------------------------------------------------ comparison and bookkeeping */

typedef struct {
  const char *name;
  double maxerr;
  int pass, fail;
} family_t;
extern family_t fam;
extern int total_pass, total_fail;

void family_begin(const char *name);
void family_end(void);
/* The library's bound (tt_tol), 0 (exact) for integers and bool. */
double tol_of(int dt);
/* Ends a case: compares the statuses (both fail, or both succeed and the
 * outputs agree within tol), frees its buffers. */
void finish(const char *desc, tirrt_status_t st, tirk_err_t e, const ten_t *o, double tol);

/* ------------------------------------------------------------ shapes */

typedef struct {
  int rank;
  int64_t s[4];
} shape_t;
extern const shape_t shapes_full[8], shapes_quick[3];
extern const shape_t *shapes; /* shapes_full, or shapes_quick for "quick" */
extern int nshapes;

const char *dtn(int dt);
uint32_t bmask_of(const shape_t *sh);

/* ------------------------------------------------------------ families */

/* gpu_ops_elementwise.c */
void test_copy(void);
void test_copy_wide(void);
void test_unary(void);
void test_binary(void);
void test_where(void);
void test_reduce(bool quick);
void test_softmax(bool quick);
/* gpu_ops_more.c */
void test_norms(bool quick);
void test_sources(void);
void test_tri(void);
void test_embedding(void);
void test_dropout(void);
void test_matmul_int(void);
void test_large(void);

#endif
