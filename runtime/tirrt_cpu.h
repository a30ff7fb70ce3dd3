/* tirrt_cpu.h — the runtime's CPU kernels (internal to the runtime: the
 * program executor calls them; generated programs never do).
 *
 * Every kernel works on strided views, so views of views (transpose,
 * permute, expand, slice, unsqueeze, squeeze, broadcasting) cost nothing:
 * a broadcast dim has stride 0.  Outputs are written through their view
 * too (the executor passes contiguous outputs, but kernels must not assume
 * it).  Inputs never alias outputs unless a kernel says it allows that.
 * Kernels validate what the caller cannot have checked statically (shapes
 * that disagree, bad indices in embedding) and return a status; they never
 * abort on bad data.  f16/bf16 are storage types: compute is in f32 (f64
 * for f64); integer arithmetic is in int64 and wraps to the dtype. */
#ifndef TIRRT_CPU_H
#define TIRRT_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "tirrt.h"

/* A strided view: element (i0, ..., in-1) lives at
 * data + (sum_k i_k * strides[k]) * dtype size.  Strides are in elements
 * and may be 0 (broadcast) or negative is never produced. */
typedef struct tirrt_view_s {
  tirrt_dtype_t dtype;
  int32_t rank;
  int64_t shape[TIRRT_MAX_RANK];
  int64_t strides[TIRRT_MAX_RANK];
  void *data;
} tirrt_view_t;

/* ------------------------------------------------------------ view helpers */
/* A contiguous row-major view of `data` with `desc`'s dtype and shape. */
tirrt_view_t tirrt_view_contiguous(const tirrt_tensor_desc_t *desc, void *data);
bool tirrt_view_is_contiguous(const tirrt_view_t *v);
int64_t tirrt_view_numel(const tirrt_view_t *v);
/* Right-aligns v to `rank` dims of `shape` (NumPy broadcasting): new leading
 * dims and size-1 dims that grow get stride 0.  Fails when incompatible. */
tirrt_status_t tirrt_view_broadcast_to(const tirrt_view_t *v, int32_t rank, const int64_t *shape,
                                       tirrt_view_t *out);
/* A 0-d view of `value` converted to dtype (rounded, or truncated and
 * saturated for integers), stored in *storage; it broadcasts everywhere. */
tirrt_view_t tirrt_view_scalar(tirrt_dtype_t dtype, double value, uint64_t *storage);
/* Copies src into dst elementwise, converting dtypes (torch cast rules:
 * floats to integers truncate toward zero, to bool is != 0); src is
 * broadcast to dst's shape. */
tirrt_status_t tirrt_cpu_copy(const tirrt_view_t *src, const tirrt_view_t *dst);

/* ------------------------------------------------------------ elementwise
 * (tirrt_unop_t, tirrt_binop_t and tirrt_redop_t are in tirrt.h: they are
 * part of the program table's format.) */
/* out = op(x); x broadcast to out's shape; same dtype (bool for NOT). */
tirrt_status_t tirrt_cpu_unary(tirrt_unop_t op, const tirrt_view_t *x, const tirrt_view_t *out);
/* out = op(a, b); a, b broadcast to out's shape; comparisons write bool. */
tirrt_status_t tirrt_cpu_binary(tirrt_binop_t op, const tirrt_view_t *a, const tirrt_view_t *b,
                                const tirrt_view_t *out);
/* out = cond ? a : b (all broadcast to out). */
tirrt_status_t tirrt_cpu_where(const tirrt_view_t *cond, const tirrt_view_t *a,
                               const tirrt_view_t *b, const tirrt_view_t *out);
/* out = mask ? value : x  (value converted to x's dtype). */
tirrt_status_t tirrt_cpu_masked_fill(const tirrt_view_t *x, const tirrt_view_t *mask, double value,
                                     const tirrt_view_t *out);

/* ------------------------------------------------------------ reductions and normalization */
/* Reduces x over the dims set in `dims_mask` (bit k = dim k of x).  `out`
 * has x's rank with the reduced dims of size 1 (keepdim form; the executor
 * reshapes for keepdim=false).  Sums accumulate in f64 for floats. */
tirrt_status_t tirrt_cpu_reduce(tirrt_redop_t op, const tirrt_view_t *x, uint32_t dims_mask,
                                const tirrt_view_t *out);
/* Numerically stable (max-subtracted) softmax / log_softmax along `dim`,
 * accumulated in f32 (f64 for f64). */
tirrt_status_t tirrt_cpu_softmax(const tirrt_view_t *x, int32_t dim, bool log,
                                 const tirrt_view_t *out);
/* layer_norm over the last `ndims` dims; weight/bias may be NULL. */
tirrt_status_t tirrt_cpu_layer_norm(const tirrt_view_t *x, const tirrt_view_t *weight,
                                    const tirrt_view_t *bias, int32_t ndims, double eps,
                                    const tirrt_view_t *out);
/* rms_norm over the trailing weight->rank dims (the last dim without weight);
 * eps < 0 means the dtype's machine epsilon (torch's default). */
tirrt_status_t tirrt_cpu_rms_norm(const tirrt_view_t *x, const tirrt_view_t *weight, double eps,
                                  const tirrt_view_t *out);

/* ------------------------------------------------------------ contractions */
/* torch.matmul for rank >= 2 with broadcast batch dims.  f32 and f64 go
 * through OpenBLAS (one GEMM per batch, strided views where BLAS can take
 * them), f16/bf16 through f32 GEMMs, integers through a plain loop. */
tirrt_status_t tirrt_cpu_matmul(const tirrt_view_t *a, const tirrt_view_t *b,
                                const tirrt_view_t *out);
/* out = x @ w^T (+ bias); w is [N, K]; bias may be NULL. */
tirrt_status_t tirrt_cpu_linear(const tirrt_view_t *x, const tirrt_view_t *w,
                                const tirrt_view_t *bias, const tirrt_view_t *out);

/* ------------------------------------------------------------ sources and the rest */
/* out[i] = start + i * step, converted to out's dtype (1-D). */
tirrt_status_t tirrt_cpu_arange(int64_t start, int64_t step, const tirrt_view_t *out);
tirrt_status_t tirrt_cpu_fill(double value, const tirrt_view_t *out);
/* Zero outside the triangle of the last two dims: tril keeps j - i <= diagonal,
 * triu keeps j - i >= diagonal. */
tirrt_status_t tirrt_cpu_tri(const tirrt_view_t *x, int64_t diagonal, bool upper,
                             const tirrt_view_t *out);
/* out[..., :] = weight[indices[...], :]; an index outside [0, V) is an error
 * status naming it (never a read out of bounds). */
tirrt_status_t tirrt_cpu_embedding(const tirrt_view_t *weight, const tirrt_view_t *indices,
                                   const tirrt_view_t *out);
/* Concatenates inputs along `dim` into out. */
tirrt_status_t tirrt_cpu_concat(int32_t n, const tirrt_view_t *inputs, int32_t dim,
                                const tirrt_view_t *out);

/* ------------------------------------------------------------ randomness */
/* The counter-based generator shared by every device: Philox-4x32-10.  The
 * keep decision for element `index` (its row-major index in the output) of
 * the dropout op with `stream` (a per-op number fixed at compile time) under
 * `seed` is tirrt_dropout_keep(seed, stream, index, p).  The CUDA kernels
 * use the same function, so a seed gives the same mask on both devices. */
void tirrt_philox4x32(uint64_t seed, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]);
bool tirrt_dropout_keep(uint64_t seed, uint64_t stream, uint64_t index, double p);
/* out = keep ? x / (1 - p) : 0 (p in [0, 1); p = 1 gives zeros). */
tirrt_status_t tirrt_cpu_dropout(const tirrt_view_t *x, double p, uint64_t seed, uint64_t stream,
                                 const tirrt_view_t *out);

/* ------------------------------------------------------------ attention */
typedef struct {
  double scale;       /* already resolved (1/sqrt(E) by default) */
  double dropout_p;
  bool is_causal;
  bool bottom_right;  /* causal_align="bottom_right" */
  bool enable_gqa;
  bool exact_mask;    /* a float mask is added as written: only -inf masks
                         (docs/language.md, sdpa's exact_mask) */
  int64_t window;     /* > 0: key j visible only if j > i + off - window, off =
                         S - L with bottom_right, else 0 (sdpa's window=) */
  double softcap;     /* > 0: scaled scores s become softcap * tanh(s / softcap),
                         before the mask (sdpa's softcap=) */
  uint64_t seed, stream; /* dropout randomness, as for tirrt_cpu_dropout; the
                            element index is the row-major index in the
                            [..., Hq, L, S] probability matrix */
} tirrt_sdpa_params_t;
/* An sdpa instruction's fields as params, for both executors: the scale
 * resolved (1/sqrt(E) by default, E the query's last dim), `seed` the run's. */
tirrt_sdpa_params_t tirrt_sdpa_params_of(const tirrt_inst_t *inst, int64_t e, uint64_t seed);
/* Scaled dot-product attention (spec §5) without materializing the L x S
 * score matrix: tiled over keys with an online softmax.  q [..., Hq, L, E],
 * k [..., Hk, S, E], v [..., Hk, S, Ev] (batch dims broadcast), mask NULL or
 * bool (true = attend) / float (added) broadcastable to [..., Hq, L, S]; a
 * mask value <= -1e30 or the dtype's lowest counts as masked; a fully masked
 * row gives 0.  lse, when not NULL, receives the logsumexp per [..., Hq, L]
 * (f32), kept for a backward pass. */
tirrt_status_t tirrt_cpu_sdpa(const tirrt_view_t *q, const tirrt_view_t *k, const tirrt_view_t *v,
                              const tirrt_view_t *mask, const tirrt_sdpa_params_t *params,
                              const tirrt_view_t *out, const tirrt_view_t *lse);

/* Attention over a paged KV cache (paged_sdpa, docs/language.md): q [B,
 * Hq, L, E]; k_cache [P, Hk, PS, E] and v_cache [P, Hk, PS, Ev] hold pages
 * of PS keys; block_table i32[B, NB] lists each sequence's pages and
 * kv_lens i32[B] its number of keys S_b (key j of sequence b is row j % PS
 * of page block_table[b, j / PS]); the query rows are the sequence's last L
 * positions (causal and window align bottom-right).  Out [B, Hq, L, Ev].
 * A length outside [0, NB * PS] or a page id outside [0, P) among the
 * pages a sequence uses is INVALID_ARGUMENT. */
tirrt_status_t tirrt_cpu_paged_sdpa(const tirrt_view_t *q, const tirrt_view_t *k_cache,
                                    const tirrt_view_t *v_cache, const tirrt_view_t *block_table,
                                    const tirrt_view_t *kv_lens, const tirrt_sdpa_params_t *params,
                                    const tirrt_view_t *out);

/* ------------------------------------------------------------ helpers shared by the CPU kernels
 * (defined in cpu_view.c for the runtime/cpu_*.c sources; the executor does
 * not need them). */
/* f16/bf16 <-> f32/f64.  Narrowing rounds to nearest even, overflows to
 * inf, keeps NaN a (quiet) NaN; widening is exact. */
float tirrt_half_to_float(uint16_t h);
float tirrt_bf16_to_float(uint16_t b);
uint16_t tirrt_float_to_half(float f);
uint16_t tirrt_float_to_bf16(float f);
uint16_t tirrt_double_to_half(double d);
uint16_t tirrt_double_to_bf16(double d);

/* INVALID_ARGUMENT unless v is usable: non-NULL, a known dtype, rank in
 * [0, TIRRT_MAX_RANK], dims >= 0 with an element count that fits int64, and
 * data when it has elements.  The message names `op` and `what`. */
tirrt_status_t tirrt_view_check(const tirrt_view_t *v, const char *op, const char *what);

/* Loads n elements of dtype `dt` from p, `stride` bytes apart (0 repeats
 * one element), converting them to the compute type; stores convert back.
 * Any dtype goes to and from any compute type with tirrt_cpu_copy's rules
 * (floats to integers truncate and saturate, NaN gives 0; to bool is != 0;
 * integers wrap).  No alignment is assumed. */
void tirrt_load_f32(tirrt_dtype_t dt, const void *p, int64_t stride, int64_t n, float *dst);
void tirrt_load_f64(tirrt_dtype_t dt, const void *p, int64_t stride, int64_t n, double *dst);
void tirrt_load_i64(tirrt_dtype_t dt, const void *p, int64_t stride, int64_t n, int64_t *dst);
void tirrt_store_f32(tirrt_dtype_t dt, void *p, int64_t stride, int64_t n, const float *src);
void tirrt_store_f64(tirrt_dtype_t dt, void *p, int64_t stride, int64_t n, const double *src);
void tirrt_store_i64(tirrt_dtype_t dt, void *p, int64_t stride, int64_t n, const int64_t *src);

/* Gathers a whole view into a dense row-major array, or scatters one into a
 * view, converting as above. */
void tirrt_view_gather_f32(const tirrt_view_t *v, float *dst);
void tirrt_view_gather_f64(const tirrt_view_t *v, double *dst);
void tirrt_view_gather_i64(const tirrt_view_t *v, int64_t *dst);
void tirrt_view_scatter_f32(const float *src, const tirrt_view_t *v);
void tirrt_view_scatter_f64(const double *src, const tirrt_view_t *v);
void tirrt_view_scatter_i64(const int64_t *src, const tirrt_view_t *v);

/* An N-d odometer over views of one shape (broadcast them first), row-major.
 * Size-1 dims are dropped and dims that are contiguous for every operand are
 * merged, so same-shape contiguous views become one run of numel elements.
 * Usage:
 *   tirrt_iter_init(&it, 2, views);
 *   if (it.numel > 0) do {
 *     for (int64_t i = 0; i < it.n; i++)
 *       ... it.ptr[k] + i * it.step[k] is operand k's element ...
 *   } while (tirrt_iter_next(&it));  */
#define TIRRT_ITER_MAX_OPS 4
typedef struct {
  int32_t nops, rank; /* rank after merging, >= 1 */
  int64_t numel;
  int64_t n;                                   /* the inner run's length */
  int64_t step[TIRRT_ITER_MAX_OPS];            /* the inner run's strides, bytes */
  char *ptr[TIRRT_ITER_MAX_OPS];               /* the current run's first elements */
  int64_t shape[TIRRT_MAX_RANK];
  int64_t bstrides[TIRRT_ITER_MAX_OPS][TIRRT_MAX_RANK]; /* bytes */
  int64_t index[TIRRT_MAX_RANK];
  int64_t off[TIRRT_ITER_MAX_OPS];             /* ptr[k] - base[k] */
  char *base[TIRRT_ITER_MAX_OPS];
} tirrt_iter_t;
void tirrt_iter_init(tirrt_iter_t *it, int32_t nops, const tirrt_view_t *const *views);
/* Moves to the next inner run; false after the last. */
bool tirrt_iter_next(tirrt_iter_t *it);

#endif /* TIRRT_CPU_H */
