/* ops.cu — the elementwise op kernels of the CUDA target (tirk_ops.h):
 * copy/cast, unary and binary math, where, masked_fill, fill, arange, tri,
 * embedding and dropout.  Reductions, normalizations and the integer
 * matmul are in ops_reduce.cu.
 *
 * Every kernel here is a grid-stride loop over the output's elements in
 * row-major order.  The host first collapses the operands' dims (size-1
 * dims dropped, neighbours merged where every operand is contiguous across
 * them, see ops_index_build), so contiguous tensors are walked as 1-D
 * arrays without any division; the index math is 32-bit when the tensor
 * has fewer than 2^31 elements.  Kernels are templated on the dtype so the
 * conversions of ops_common.cuh (the CPU's rules, bit for bit) fold into
 * straight-line code. */
#include "ops_common.cuh"

/* ------------------------------------------------------------ the op table
 * Op op on a value of compute type C: the common table's scalar function
 * (tir_ew.h: tir_ewf_* for f32 compute, tir_ewd_* for f64, tir_ewi_* for
 * int64) — the formulas the CPU, the folder and the fused kernels use.
 * Predicates give 0 or 1 in C.  Integers take the rows defined on them
 * (validated by the caller); the others give x. */
#define OPS_UNF(E, name, ...) case TIRK_UN_##E: return (float)tir_ewf_##name(x);
#define OPS_UND(E, name, ...) case TIRK_UN_##E: return (double)tir_ewd_##name(x);
#define OPS_UNI(E, name, DOM, ...) TIR_EW_INT_##DOM(case TIRK_UN_##E: return (int64_t)tir_ewi_##name(x);)
#define OPS_BINF(E, name, ...) case TIRK_BIN_##E: return (float)tir_ewf_##name(a, b);
#define OPS_BIND(E, name, ...) case TIRK_BIN_##E: return (double)tir_ewd_##name(a, b);
#define OPS_BINI(E, name, DOM, ...) TIR_EW_INT_##DOM(case TIRK_BIN_##E: return (int64_t)tir_ewi_##name(a, b);)

__device__ __forceinline__ float un_apply(int op, float x) {
  switch (op) { TIR_EW_UNARY_ROWS(OPS_UNF) default: return x; }
}
__device__ __forceinline__ double un_apply(int op, double x) {
  switch (op) { TIR_EW_UNARY_ROWS(OPS_UND) default: return x; }
}
__device__ __forceinline__ int64_t un_apply(int op, int64_t x) {
  switch (op) { TIR_EW_UNARY_ROWS(OPS_UNI) default: return x; }
}
__device__ __forceinline__ float bin_apply(int op, float a, float b) {
  switch (op) { TIR_EW_BINARY_ROWS(OPS_BINF) default: return a; }
}
__device__ __forceinline__ double bin_apply(int op, double a, double b) {
  switch (op) { TIR_EW_BINARY_ROWS(OPS_BIND) default: return a; }
}
__device__ __forceinline__ int64_t bin_apply(int op, int64_t a, int64_t b) {
  switch (op) { TIR_EW_BINARY_ROWS(OPS_BINI) default: return a; }
}

/* ------------------------------------------------------------ kernels */

/* Same-dtype copy: element bytes (E is an unsigned type of the size). */
template <typename E, typename I>
__global__ void copy_bytes_kernel(ops_index_t ix, I n, E *dst, const E *src) {
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[2];
    ops_offsets<2, I>(ix, i, off);
    dst[off[0]] = src[off[1]];
  }
}

/* Casts: floats go through f64 (exact for every float source), integers
 * through int64 (exact), and the store rounds, saturates or wraps once —
 * tirrt_cpu_copy's two paths. */
template <int SDT, typename I>
__global__ void copy_cast_kernel(ops_index_t ix, I n, int ddt, void *dst, const void *src) {
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[2];
    ops_offsets<2, I>(ix, i, off);
    if (ops_is_float(SDT)) ops_st_f64(ddt, dst, off[0], ops_ld_f64(SDT, src, off[1]));
    else ops_st_i64(ddt, dst, off[0], ops_ld_i64(SDT, src, off[1]));
  }
}

template <int DT, typename I>
__global__ void unary_kernel(ops_index_t ix, I n, int op, void *out, const void *x) {
  typedef typename ops_ct<DT>::type C;
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[2];
    ops_offsets<2, I>(ix, i, off);
    ops_st(DT, out, off[0], un_apply(op, ops_ld<C>(DT, x, off[1])));
  }
}

/* logical_not: any dtype in (tested in its compute type, so NaN is
 * nonzero), bool out. */
template <int DT, typename I>
__global__ void not_kernel(ops_index_t ix, I n, uint8_t *out, const void *x) {
  typedef typename ops_ct<DT>::type C;
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[2];
    ops_offsets<2, I>(ix, i, off);
    out[off[0]] = un_apply(TIRK_UN_LOGICAL_NOT, ops_ld<C>(DT, x, off[1])) != (C)0;
  }
}

template <int DT, typename I>
__global__ void binary_kernel(ops_index_t ix, I n, int op, bool pred, void *out, const void *a, const void *b) {
  typedef typename ops_ct<DT>::type C;
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[3];
    ops_offsets<3, I>(ix, i, off);
    C x = ops_ld<C>(DT, a, off[1]), y = ops_ld<C>(DT, b, off[2]);
    if (pred) ((uint8_t *)out)[off[0]] = bin_apply(op, x, y) != (C)0;
    else ops_st(DT, out, off[0], bin_apply(op, x, y));
  }
}

/* Selections move bytes: every dtype is exact.  A nonzero cond byte is true. */
template <typename E, typename I>
__global__ void where_kernel(ops_index_t ix, I n, E *out, const uint8_t *cond, const E *a, const E *b) {
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[4];
    ops_offsets<4, I>(ix, i, off);
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

template <typename E, typename I>
__global__ void masked_fill_kernel(ops_index_t ix, I n, E *out, const uint8_t *mask, const E *x, E value) {
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[3];
    ops_offsets<3, I>(ix, i, off);
    out[off[0]] = mask[off[1]] ? value : x[off[2]];
  }
}

template <typename E, typename I>
__global__ void fill_kernel(ops_index_t ix, I n, E *out, E value) {
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[1];
    ops_offsets<1, I>(ix, i, off);
    out[off[0]] = value;
  }
}

template <typename I>
__global__ void arange_kernel(I n, int dt, void *out, int64_t stride, int64_t start, int64_t step) {
  OPS_GRID_LOOP(I, i, n) /* start + i * step in int64, wrapping, converted once */
    ops_st_i64(dt, out, (int64_t)i * stride, ops_wrap64((uint64_t)start + (uint64_t)i * (uint64_t)step));
}

/* i = ((batch * rows) + r) * cols + c; the batch dims have their own
 * index space (bix: operand 0 out, 1 x). */
template <typename E, typename I>
__global__ void tri_kernel(ops_index_t bix, I n, I rows, I cols, E *out, const E *x, int64_t ors,
                           int64_t ocs, int64_t xrs, int64_t xcs, int64_t diag, bool upper) {
  OPS_GRID_LOOP(I, i, n) {
    I t = i / cols, c = i - t * cols, b = t / rows, r = t - b * rows;
    int64_t off[2];
    ops_offsets<2, I>(bix, b, off);
    int64_t d = (int64_t)c - (int64_t)r; /* exact for any diagonal */
    bool keep = upper ? d >= diag : d <= diag;
    out[off[0] + (int64_t)r * ors + (int64_t)c * ocs] = keep ? x[off[1] + (int64_t)r * xrs + (int64_t)c * xcs] : (E)0;
  }
}

/* ------------------------------------------------------------ Philox (cpu_random.c's, bit for bit) */

__device__ __forceinline__ void philox4x32(uint64_t seed, uint64_t hi, uint64_t lo, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)lo, c1 = (uint32_t)(lo >> 32), c2 = (uint32_t)hi, c3 = (uint32_t)(hi >> 32);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += 0x9E3779B9u; /* the key bumps before every round but the first */
      k1 += 0xBB67AE85u;
    }
    uint32_t lo0 = 0xD2511F53u * c0, hi0 = __umulhi(0xD2511F53u, c0);
    uint32_t lo1 = 0xCD9E8D57u * c2, hi1 = __umulhi(0xCD9E8D57u, c2);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* One thread per group of 4 consecutive output indices: they share one
 * Philox call (counter = index / 4, word = index % 4). */
template <int DT, typename I>
__global__ void dropout_kernel(ops_index_t ix, I n, void *out, const void *x, double p, double scale,
                               float scale32, uint64_t seed, uint64_t stream) {
  I groups = (n + 3) / 4;
  OPS_GRID_LOOP(I, g, groups) {
    uint32_t w[4];
    philox4x32(seed, stream, (uint64_t)g, w);
#pragma unroll
    for (int t = 0; t < 4; t++) {
      I i = g * 4 + (I)t;
      if (i >= n) break;
      int64_t off[2];
      ops_offsets<2, I>(ix, i, off);
      bool keep = (double)(w[t] >> 8) * 0x1p-24 >= p; /* tirrt_dropout_keep */
      if (DT == TIRK_F64) {
        double v = ops_ld_f64(DT, x, off[1]);
        ops_st_f64(DT, out, off[0], keep ? v * scale : 0.0);
      } else {
        ops_st_f32(DT, out, off[0], keep ? ops_ld_f32(DT, x, off[1]) * scale32 : 0.0f);
      }
    }
  }
}

/* ------------------------------------------------------------ embedding */

/* Records the smallest row-major position of a bad index (atomicMin, so
 * the result does not depend on thread order). */
template <int IDT, typename I>
__global__ void embedding_check_kernel(ops_index_t ix, I n, const void *indices, int64_t V,
                                       long long *flag) {
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[1];
    ops_offsets<1, I>(ix, i, off);
    int64_t idx = ops_ld_i64(IDT, indices, off[0]);
    if (idx < 0 || idx >= V) atomicMin(flag, (long long)i);
  }
}

/* ix operands: 0 out, 1 indices (0 along the row dims), 2 the weight row
 * (0 along the index dims).  A bad index writes zeros. */
template <int IDT, typename E, typename I>
__global__ void embedding_kernel(ops_index_t ix, I n, E *out, const void *indices, const E *weight,
                                 int64_t wst0, int64_t V) {
  OPS_GRID_LOOP(I, i, n) {
    int64_t off[3];
    ops_offsets<3, I>(ix, i, off);
    int64_t idx = ops_ld_i64(IDT, indices, off[1]);
    out[off[0]] = idx >= 0 && idx < V ? weight[off[2] + idx * wst0] : (E)0;
  }
}

__global__ void embedding_init_kernel(long long *flag) { *flag = INT64_MAX; }

/* The smallest bad position becomes the bad index itself (or OK). */
template <int IDT>
__global__ void embedding_finish_kernel(ops_index_t ix, const void *indices, long long *flag) {
  long long pos = *flag;
  if (pos == INT64_MAX) {
    *flag = TIRK_EMBEDDING_OK;
    return;
  }
  int64_t off[1];
  ops_offsets<1, uint64_t>(ix, (uint64_t)pos, off);
  int64_t idx = ops_ld_i64(IDT, indices, off[0]);
  *flag = idx == INT64_MIN ? INT64_MIN + 1 : idx;
}

/* ------------------------------------------------------------ host side */

/* Runs STMT with `typedef E` the unsigned type of an element of size es. */
#define OPS_BY_SIZE(es, ...)                      \
  switch (es) {                                   \
  case 1: { typedef uint8_t E; __VA_ARGS__; } break;  \
  case 2: { typedef uint16_t E; __VA_ARGS__; } break; \
  case 4: { typedef uint32_t E; __VA_ARGS__; } break; \
  default: { typedef unsigned long long E; __VA_ARGS__; } break; \
  }

static tirk_err_t check_views(const char *op, int n, const tirk_view_t *const *v) {
  for (int k = 0; k < n; k++)
    if (!ops_view_ok(v[k])) return tirk_fail(TIRK_ERR_ARGS, "%s: operand %d is not a valid view", op, k);
  for (int k = 1; k < n; k++)
    if (!ops_same_shape(v[0], v[k]))
      return tirk_fail(TIRK_ERR_ARGS, "%s: operand %d does not have the output's shape", op, k);
  return TIRK_OK;
}

extern "C" tirk_err_t tirk_copy(const tirk_view_t *src, const tirk_view_t *dst, cudaStream_t stream) {
  const tirk_view_t *v[2] = {dst, src};
  tirk_err_t e = check_views("copy", 2, v);
  if (e) return e;
  ops_index_t ix;
  int64_t n = ops_index_views(&ix, 2, v);
  if (n == 0) return TIRK_OK;
  unsigned g = ops_blocks(n, OPS_THREADS);
  int es = ops_dtype_size(dst->dtype);
  if (src->dtype == dst->dtype) {
    if (ix.rank == 1 && ix.st[0][0] == 1 && ix.st[1][0] == 1) { /* both dense: one DMA copy */
      TIRK_CUDA_TRY(cudaMemcpyAsync(dst->data, src->data, (size_t)n * es, cudaMemcpyDeviceToDevice, stream));
      return TIRK_OK;
    }
    /* Wider elements when both innermost dims are contiguous runs that
     * split into aligned 16-, 8-, 4- or 2-byte words (a [B, H, T, D] ->
     * [B, T, H, D] transpose moves D-element rows): one access per word
     * instead of per element keeps enough bytes in flight. */
    int r = ix.rank;
    for (int wb = 16; wb > es; wb /= 2) {
      int f = wb / es;
      bool ok = ix.st[0][r - 1] == 1 && ix.st[1][r - 1] == 1 && ix.shape[r - 1] % f == 0 &&
                (uintptr_t)dst->data % wb == 0 && (uintptr_t)src->data % wb == 0;
      for (int d = 0; d < r - 1 && ok; d++) ok = ix.st[0][d] % f == 0 && ix.st[1][d] % f == 0;
      if (!ok) continue;
      ops_index_t w = ix;
      w.shape[r - 1] /= f;
      for (int d = 0; d < r - 1; d++) w.st[0][d] /= f, w.st[1][d] /= f;
      int64_t nw = n / f;
      unsigned gw = ops_blocks(nw, OPS_THREADS);
      switch (wb) {
      case 16: OPS_BY_INDEX(nw, copy_bytes_kernel<uint4, I><<<gw, OPS_THREADS, 0, stream>>>(
                                    w, (I)nw, (uint4 *)dst->data, (const uint4 *)src->data)); break;
      case 8: OPS_BY_INDEX(nw, copy_bytes_kernel<uint64_t, I><<<gw, OPS_THREADS, 0, stream>>>(
                                   w, (I)nw, (uint64_t *)dst->data, (const uint64_t *)src->data)); break;
      case 4: OPS_BY_INDEX(nw, copy_bytes_kernel<uint32_t, I><<<gw, OPS_THREADS, 0, stream>>>(
                                   w, (I)nw, (uint32_t *)dst->data, (const uint32_t *)src->data)); break;
      default: OPS_BY_INDEX(nw, copy_bytes_kernel<uint16_t, I><<<gw, OPS_THREADS, 0, stream>>>(
                                    w, (I)nw, (uint16_t *)dst->data, (const uint16_t *)src->data)); break;
      }
      return tirk_check_launch();
    }
    OPS_BY_SIZE(es, OPS_BY_INDEX(n, copy_bytes_kernel<E, I><<<g, OPS_THREADS, 0, stream>>>(
                                        ix, (I)n, (E *)dst->data, (const E *)src->data)));
    return tirk_check_launch();
  }
  OPS_ALL_DTYPES(src->dtype, OPS_BY_INDEX(n, copy_cast_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                                 ix, (I)n, dst->dtype, dst->data, src->data)));
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_unary(int op, const tirk_view_t *x, const tirk_view_t *out, cudaStream_t stream) {
  if (op < 0 || op >= TIRK_UN_COUNT) return tirk_fail(TIRK_ERR_ARGS, "unary: unknown op %d", op);
  const tirk_view_t *v[2] = {out, x};
  tirk_err_t e = check_views("unary", 2, v);
  if (e) return e;
  const tir_ew_row_t *row = tir_ew_row(1, op);
  if (row->result == TIR_EW_RES_BOOL) {
    if (out->dtype != TIRK_BOOL) return tirk_fail(TIRK_ERR_ARGS, "%s: the output must be bool", row->name);
  } else if (x->dtype != out->dtype || !tir_ew_takes(row, ops_dtype_kind(x->dtype))) {
    return tirk_fail(TIRK_ERR_ARGS, "unary op %d: dtypes %d -> %d not taken", op, x->dtype, out->dtype);
  }
  ops_index_t ix;
  int64_t n = ops_index_views(&ix, 2, v);
  if (n == 0) return TIRK_OK;
  unsigned g = ops_blocks(n, OPS_THREADS);
  if (row->result == TIR_EW_RES_BOOL) { /* logical_not: any dtype in */
    OPS_ALL_DTYPES(x->dtype, OPS_BY_INDEX(n, not_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                                 ix, (I)n, (uint8_t *)out->data, x->data)));
  } else if (ops_is_float(x->dtype)) {
    OPS_FLOAT_DTYPES(x->dtype, OPS_BY_INDEX(n, unary_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                                   ix, (I)n, op, out->data, x->data)));
  } else {
    OPS_INT_DTYPES(x->dtype, OPS_BY_INDEX(n, unary_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                                 ix, (I)n, op, out->data, x->data)));
  }
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_binary(int op, const tirk_view_t *a, const tirk_view_t *b, const tirk_view_t *out,
                                  cudaStream_t stream) {
  if (op < 0 || op >= TIRK_BIN_COUNT) return tirk_fail(TIRK_ERR_ARGS, "binary: unknown op %d", op);
  const tirk_view_t *v[3] = {out, a, b};
  tirk_err_t e = check_views("binary", 3, v);
  if (e) return e;
  const tir_ew_row_t *row = tir_ew_row(2, op);
  bool pred = row->result == TIR_EW_RES_BOOL;
  if (a->dtype != b->dtype || (pred ? out->dtype != TIRK_BOOL : out->dtype != a->dtype) ||
      !tir_ew_takes(row, ops_dtype_kind(a->dtype)))
    return tirk_fail(TIRK_ERR_ARGS, "binary op %d: dtypes %d, %d -> %d not taken", op, a->dtype, b->dtype,
                     out->dtype);
  ops_index_t ix;
  int64_t n = ops_index_views(&ix, 3, v);
  if (n == 0) return TIRK_OK;
  unsigned g = ops_blocks(n, OPS_THREADS);
  OPS_ALL_DTYPES(a->dtype, OPS_BY_INDEX(n, binary_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                               ix, (I)n, op, pred, out->data, a->data, b->data)));
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_where(const tirk_view_t *cond, const tirk_view_t *a, const tirk_view_t *b,
                                 const tirk_view_t *out, cudaStream_t stream) {
  const tirk_view_t *v[4] = {out, cond, a, b};
  tirk_err_t e = check_views("where", 4, v);
  if (e) return e;
  if (cond->dtype != TIRK_BOOL || a->dtype != out->dtype || b->dtype != out->dtype)
    return tirk_fail(TIRK_ERR_ARGS, "where: needs a bool condition and values of the output's dtype");
  ops_index_t ix;
  int64_t n = ops_index_views(&ix, 4, v);
  if (n == 0) return TIRK_OK;
  unsigned g = ops_blocks(n, OPS_THREADS);
  OPS_BY_SIZE(ops_dtype_size(out->dtype),
              OPS_BY_INDEX(n, where_kernel<E, I><<<g, OPS_THREADS, 0, stream>>>(
                                  ix, (I)n, (E *)out->data, (const uint8_t *)cond->data,
                                  (const E *)a->data, (const E *)b->data)));
  return tirk_check_launch();
}

/* value as the bits of one element of dtype dt (the CPU's scalar view). */
static unsigned long long scalar_bits(int dt, double value) {
  unsigned long long storage = 0;
  ops_st_f64(dt, &storage, 0, value);
  return storage;
}

extern "C" tirk_err_t tirk_masked_fill(const tirk_view_t *x, const tirk_view_t *mask, double value,
                                       const tirk_view_t *out, cudaStream_t stream) {
  const tirk_view_t *v[3] = {out, mask, x};
  tirk_err_t e = check_views("masked_fill", 3, v);
  if (e) return e;
  if (mask->dtype != TIRK_BOOL || x->dtype != out->dtype)
    return tirk_fail(TIRK_ERR_ARGS, "masked_fill: needs a bool mask and an input of the output's dtype");
  ops_index_t ix;
  int64_t n = ops_index_views(&ix, 3, v);
  if (n == 0) return TIRK_OK;
  unsigned g = ops_blocks(n, OPS_THREADS);
  unsigned long long bits = scalar_bits(out->dtype, value);
  OPS_BY_SIZE(ops_dtype_size(out->dtype), {
    E val;
    memcpy(&val, &bits, sizeof val); /* the low bytes: little-endian */
    OPS_BY_INDEX(n, masked_fill_kernel<E, I><<<g, OPS_THREADS, 0, stream>>>(
                        ix, (I)n, (E *)out->data, (const uint8_t *)mask->data, (const E *)x->data, val));
  });
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_fill(double value, const tirk_view_t *out, cudaStream_t stream) {
  const tirk_view_t *v[1] = {out};
  tirk_err_t e = check_views("fill", 1, v);
  if (e) return e;
  ops_index_t ix;
  int64_t n = ops_index_views(&ix, 1, v);
  if (n == 0) return TIRK_OK;
  unsigned g = ops_blocks(n, OPS_THREADS);
  unsigned long long bits = scalar_bits(out->dtype, value);
  OPS_BY_SIZE(ops_dtype_size(out->dtype), {
    E val;
    memcpy(&val, &bits, sizeof val);
    OPS_BY_INDEX(n, fill_kernel<E, I><<<g, OPS_THREADS, 0, stream>>>(ix, (I)n, (E *)out->data, val));
  });
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_arange(int64_t start, int64_t step, const tirk_view_t *out, cudaStream_t stream) {
  if (!ops_view_ok(out) || out->rank != 1) return tirk_fail(TIRK_ERR_ARGS, "arange: needs a 1-D output");
  int64_t n = out->shape[0];
  if (n == 0) return TIRK_OK;
  unsigned g = ops_blocks(n, OPS_THREADS);
  OPS_BY_INDEX(n, arange_kernel<I><<<g, OPS_THREADS, 0, stream>>>((I)n, out->dtype, out->data,
                                                                  out->strides[0], start, step));
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_tri(const tirk_view_t *x, int64_t diagonal, bool upper, const tirk_view_t *out,
                               cudaStream_t stream) {
  const tirk_view_t *v[2] = {out, x};
  tirk_err_t e = check_views(upper ? "triu" : "tril", 2, v);
  if (e) return e;
  if (out->rank < 2 || x->dtype != out->dtype)
    return tirk_fail(TIRK_ERR_ARGS, "tri: needs rank >= 2 views of one dtype");
  int r = out->rank;
  int64_t n = ops_numel(out), rows = out->shape[r - 2], cols = out->shape[r - 1];
  if (n == 0) return TIRK_OK;
  ops_index_t bix;
  const int64_t *st[2] = {out->strides, x->strides};
  ops_index_build(&bix, 2, r - 2, out->shape, st);
  unsigned g = ops_blocks(n, OPS_THREADS);
  OPS_BY_SIZE(ops_dtype_size(out->dtype),
              OPS_BY_INDEX(n, tri_kernel<E, I><<<g, OPS_THREADS, 0, stream>>>(
                                  bix, (I)n, (I)rows, (I)cols, (E *)out->data, (const E *)x->data,
                                  out->strides[r - 2], out->strides[r - 1], x->strides[r - 2],
                                  x->strides[r - 1], diagonal, upper)));
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_embedding(const tirk_view_t *weight, const tirk_view_t *indices,
                                     const tirk_view_t *out, int64_t *bad_index, cudaStream_t stream) {
  if (!ops_view_ok(weight) || !ops_view_ok(indices) || !ops_view_ok(out) || !bad_index)
    return tirk_fail(TIRK_ERR_ARGS, "embedding: invalid views");
  if (!ops_is_int(indices->dtype) || indices->dtype == TIRK_BOOL)
    return tirk_fail(TIRK_ERR_ARGS, "embedding: indices must be an integer dtype");
  int ri = indices->rank, rw = weight->rank - 1;
  bool ok = weight->rank >= 1 && out->dtype == weight->dtype && out->rank == ri + rw;
  for (int d = 0; ok && d < ri; d++) ok = out->shape[d] == indices->shape[d];
  for (int d = 0; ok && d < rw; d++) ok = out->shape[ri + d] == weight->shape[1 + d];
  if (!ok) return tirk_fail(TIRK_ERR_ARGS, "embedding: weight, indices and output shapes do not fit");
  long long *flag = (long long *)bad_index;
  int64_t V = weight->shape[0], ni = ops_numel(indices), no = ops_numel(out);
  embedding_init_kernel<<<1, 1, 0, stream>>>(flag);
  tirk_err_t e = tirk_check_launch();
  if (e) return e;
  ops_index_t iix; /* the indices alone, for the check and the report */
  const tirk_view_t *iv[1] = {indices};
  ops_index_views(&iix, 1, iv);
  if (ni > 0) {
    unsigned g = ops_blocks(ni, OPS_THREADS);
    OPS_INT_DTYPES(indices->dtype, OPS_BY_INDEX(ni, embedding_check_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                                        iix, (I)ni, indices->data, V, flag)));
    if ((e = tirk_check_launch())) return e;
  }
  if (no > 0) {
    /* out's dims: the index dims walk the indices, the row dims the weight. */
    int64_t ist[TIRK_MAX_RANK], wst[TIRK_MAX_RANK];
    for (int d = 0; d < out->rank; d++) {
      ist[d] = d < ri ? indices->strides[d] : 0;
      wst[d] = d < ri ? 0 : weight->strides[1 + d - ri];
    }
    const int64_t *st[3] = {out->strides, ist, wst};
    ops_index_t ix;
    ops_index_build(&ix, 3, out->rank, out->shape, st);
    unsigned g = ops_blocks(no, OPS_THREADS);
    OPS_INT_DTYPES(indices->dtype, OPS_BY_SIZE(ops_dtype_size(out->dtype), OPS_BY_INDEX(
        no, embedding_kernel<DT, E, I><<<g, OPS_THREADS, 0, stream>>>(
                ix, (I)no, (E *)out->data, indices->data, (const E *)weight->data, weight->strides[0], V))));
    if ((e = tirk_check_launch())) return e;
  }
  OPS_INT_DTYPES(indices->dtype, embedding_finish_kernel<DT><<<1, 1, 0, stream>>>(iix, indices->data, flag));
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_dropout(const tirk_view_t *x, double p, uint64_t seed, uint64_t rng_stream,
                                   const tirk_view_t *out, cudaStream_t stream) {
  const tirk_view_t *v[2] = {out, x};
  tirk_err_t e = check_views("dropout", 2, v);
  if (e) return e;
  if (!ops_is_float(x->dtype) || x->dtype != out->dtype || !(p >= 0))
    return tirk_fail(TIRK_ERR_ARGS, "dropout: needs float views of one dtype and p >= 0");
  if (p == 0) return tirk_copy(x, out, stream); /* the CPU copies bytes too */
  ops_index_t ix;
  int64_t n = ops_index_views(&ix, 2, v);
  if (n == 0) return TIRK_OK;
  double scale = p < 1 ? 1.0 / (1.0 - p) : 0.0;
  unsigned g = ops_blocks((n + 3) / 4, OPS_THREADS);
  OPS_FLOAT_DTYPES(x->dtype, OPS_BY_INDEX(n, dropout_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                                 ix, (I)n, out->data, x->data, p, scale, (float)scale,
                                                 seed, rng_stream)));
  return tirk_check_launch();
}
