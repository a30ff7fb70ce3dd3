/* tirk_ops.h — the generic GPU op kernels of the CUDA target: one function
 * per op of the program table (copy/cast, elementwise, reductions and
 * normalizations, sources, embedding, dropout, integer matmul).
 *
 * Each function follows exactly the semantics of the CPU kernel of the same
 * name in runtime/tirrt_cpu.h (dtypes, conversion rules, NaN handling, the
 * dropout mask); the differences are listed here and nowhere else:
 *  - Shapes and dtypes were validated by the runtime.  What the kernels
 *    still check (dtype combinations, matching shapes) fails with
 *    TIRK_ERR_ARGS; nothing is launched then.
 *  - Float math (exp, log, pow, tanh, ...) is CUDA's libdevice, not the host
 *    libm, so results may differ from the CPU's in the last bit or two of
 *    f32/f64; f16/bf16 results are rounded from those f32 values the same
 *    way (round to nearest even).
 *  - Integer division by zero gives 0 and integer pow with a negative
 *    exponent the integer part of the true power, the same on the CPU, the
 *    GPU and in the constant folder (docs/language.md).
 * Every function launches on `stream` and returns at once (no allocation,
 * no synchronization).  Views follow tirk.h; "broadcast" means the runtime
 * already gave the input the output's shape with stride-0 dims. */
#ifndef TIRK_OPS_H
#define TIRK_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "tir_ew_table.h"
#include "tirk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Op numbers: the rows of the common op table (common/tir_ew_table.h), as
 * tirrt_unop_t / tirrt_binop_t / tirrt_redop_t (runtime/tirrt.h) are, so
 * the runtime passes its numbers through. */
enum {
#define TIRK_UN_ROW_(E, ...) TIRK_UN_##E,
  TIR_EW_UNARY_ROWS(TIRK_UN_ROW_)
#undef TIRK_UN_ROW_
  TIRK_UN_COUNT
};
enum {
#define TIRK_BIN_ROW_(E, ...) TIRK_BIN_##E,
  TIR_EW_BINARY_ROWS(TIRK_BIN_ROW_)
#undef TIRK_BIN_ROW_
  TIRK_BIN_COUNT
};
enum {
#define TIRK_RED_ROW_(E, name) TIRK_RED_##E,
  TIR_EW_REDUCE_ROWS(TIRK_RED_ROW_)
#undef TIRK_RED_ROW_
  TIRK_RED_COUNT
};

/* ------------------------------------------------------------ copy / cast */
/* dst = src converted to dst's dtype (tirrt_cpu_copy's rules: floats to
 * integers truncate toward zero and saturate, NaN gives 0; to bool is != 0;
 * integers wrap; narrowing floats round to nearest even).  src has dst's
 * shape (broadcast).  Serves cast, contiguous copies, concat (dst is the
 * slice) and broadcast materialization. */
tirk_err_t tirk_copy(const tirk_view_t *src, const tirk_view_t *dst, cudaStream_t stream);

/* ------------------------------------------------------------ elementwise */
/* out = op(x), x broadcast; out has x's dtype (bool for logical_not, which
 * takes any dtype).  Integers take neg, abs and relu only. */
tirk_err_t tirk_unary(int op, const tirk_view_t *x, const tirk_view_t *out, cudaStream_t stream);
/* out = op(a, b), a and b of one dtype, broadcast; comparisons and logical
 * ops write bool.  out may be a itself (same view): each element is read
 * before it is written. */
tirk_err_t tirk_binary(int op, const tirk_view_t *a, const tirk_view_t *b, const tirk_view_t *out,
                       cudaStream_t stream);
/* out = cond ? a : b; cond is bool; a, b and out share a dtype. */
tirk_err_t tirk_where(const tirk_view_t *cond, const tirk_view_t *a, const tirk_view_t *b,
                      const tirk_view_t *out, cudaStream_t stream);
/* out = mask ? value : x, value converted to x's dtype once (as a store of
 * the double `value`). */
tirk_err_t tirk_masked_fill(const tirk_view_t *x, const tirk_view_t *mask, double value,
                            const tirk_view_t *out, cudaStream_t stream);

/* ------------------------------------------------------------ reductions and normalization */
/* Reduces x over the dims in dims_mask (bit k = dim k); out is in keepdim
 * form (x's rank, reduced dims of size 1).  Float sums accumulate in f64
 * (a tree per output, so the result does not depend on a serial order),
 * integers in int64 wrapping; mean divides in f64 (an empty mean is NaN);
 * amax/amin propagate NaN and fail (ARGS) over an empty dim.  A warp or a
 * block reduces one output (32 outputs share a block when x's innermost
 * dim is kept), never several blocks: reducing a huge tensor to very few
 * outputs uses only that many blocks (no scratch space, so no second pass). */
tirk_err_t tirk_reduce(int op, const tirk_view_t *x, uint32_t dims_mask, const tirk_view_t *out,
                       cudaStream_t stream);
/* Stable softmax / log_softmax along dim (negative counts from the end):
 * max-subtracted exp in f32 (f64 for f64), the row sum accumulated in f64. */
tirk_err_t tirk_softmax(const tirk_view_t *x, int32_t dim, bool log, const tirk_view_t *out,
                        cudaStream_t stream);
/* layer_norm over the last ndims dims (mean and biased variance in two f64
 * passes); weight and bias may be NULL and are broadcast to those dims. */
tirk_err_t tirk_layer_norm(const tirk_view_t *x, const tirk_view_t *weight, const tirk_view_t *bias,
                           int32_t ndims, double eps, const tirk_view_t *out, cudaStream_t stream);
/* rms_norm over the trailing weight->rank dims (the last dim without a
 * weight); eps < 0 means the machine epsilon of x's dtype. */
tirk_err_t tirk_rms_norm(const tirk_view_t *x, const tirk_view_t *weight, double eps,
                         const tirk_view_t *out, cudaStream_t stream);

/* ------------------------------------------------------------ sources and the rest */
/* out[i] = start + i * step (int64, wrapping), converted to out's dtype;
 * out is 1-D. */
tirk_err_t tirk_arange(int64_t start, int64_t step, const tirk_view_t *out, cudaStream_t stream);
/* Every element of out = value converted to out's dtype. */
tirk_err_t tirk_fill(double value, const tirk_view_t *out, cudaStream_t stream);
/* tril (upper = false: keeps j - i <= diagonal) / triu (keeps
 * j - i >= diagonal) over the last two dims, zero elsewhere; x broadcast. */
tirk_err_t tirk_tri(const tirk_view_t *x, int64_t diagonal, bool upper, const tirk_view_t *out,
                    cudaStream_t stream);

/* Written into *bad_index (a device int64) when every index is in range. */
#define TIRK_EMBEDDING_OK INT64_MIN
/* out[..., :] = weight[indices[...], :]; indices are i8/i16/i32/i64/u8.
 * The kernels never read outside the table: an index outside [0, V) writes
 * zeros into its output row, and *bad_index (device memory the caller
 * provides; no initialization needed) receives the first such index in
 * row-major order, or TIRK_EMBEDDING_OK.  The caller reads it back after
 * the stream reaches this point (cudaMemcpyAsync + synchronize) and reports
 * the index as the CPU does.  An index of exactly INT64_MIN is reported as
 * INT64_MIN + 1 (still out of range) so it cannot look like OK. */
tirk_err_t tirk_embedding(const tirk_view_t *weight, const tirk_view_t *indices,
                          const tirk_view_t *out, int64_t *bad_index, cudaStream_t stream);

/* out = keep ? x / (1 - p) : 0 with tirrt_dropout_keep's decision
 * (Philox-4x32-10 of (seed, counter_hi = rng_stream, counter_lo = index / 4),
 * word index % 4, keep iff (w >> 8) * 2^-24 >= p), index = the row-major
 * index in out; the same seed gives the CPU's mask bit for bit.  x is
 * broadcast, float, of out's dtype.  p = 0 copies bytes; p >= 1 writes 0. */
tirk_err_t tirk_dropout(const tirk_view_t *x, double p, uint64_t seed, uint64_t rng_stream,
                        const tirk_view_t *out, cudaStream_t stream);

/* out = a @ b for integer dtypes (i8/i16/i32/i64/u8, all three the same),
 * accumulated in int64 wrapping and wrapped to the dtype.  a [..., M, K],
 * b [..., K, N], out [..., M, N] with batch dims right-aligned and
 * broadcast (a missing or size-1 batch dim repeats); a 1-D a with a 1-D out
 * is one row (linear on a vector).  Floats go through cuBLASLt instead
 * (UNSUPPORTED here).  One thread per output element: simple, not fast. */
tirk_err_t tirk_matmul_int(const tirk_view_t *a, const tirk_view_t *b, const tirk_view_t *out,
                           cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* TIRK_OPS_H */
