/* ops_common.cuh — what the op kernels (ops.cu, ops_reduce.cu) share: the
 * dtype conversions of the runtime (runtime/cpu_view.c) as host+device
 * functions, element loads/stores by runtime dtype, and the collapsed
 * N-d index spaces the kernels walk.  Internal to kernels/.
 *
 * The conversions are common/tir_dtype.h's host+device functions, the
 * CPU's own, so the GPU produces the same bits: float -> integer truncates
 * and saturates (NaN gives 0), integers wrap, to bool is != 0, narrowing
 * to f16/bf16 rounds once to nearest even straight from the double's bits. */
#ifndef TIRK_OPS_COMMON_CUH
#define TIRK_OPS_COMMON_CUH

#include <stdint.h>
#include <string.h>

#include "tir_dtype.h"
#include "tir_ew.h"
#include "tirk.h"
#include "tirk_internal.h"
#include "tirk_ops.h"

#define HD __host__ __device__ __forceinline__

/* The kernels' dtype numbers are the common table's (tir_dtype.h). */
#define OPS_CHECK_DT(E, sp, n, k) static_assert((int)TIRK_##E == TIR_DT_##E, "TIRK dtype differs from tir_dtype.h");
TIR_DTYPE_ROWS(OPS_CHECK_DT)
#undef OPS_CHECK_DT
static_assert((int)TIRK_DTYPE_COUNT == TIR_DT_COUNT, "TIRK dtypes differ from tir_dtype.h");

/* ------------------------------------------------------------ conversions
 * common/tir_dtype.h's, under the names the kernels use. */

HD float ops_half_to_float(uint16_t h) { return tir_cv_f16_to_f32(h); }
HD float ops_bf16_to_float(uint16_t b) { return tir_cv_bf16_to_f32(b); }
HD uint16_t ops_double_to_half(double d) { return tir_cv_f64_to_f16(d); }
HD uint16_t ops_double_to_bf16(double d) { return tir_cv_f64_to_bf16(d); }
HD uint16_t ops_float_to_bf16(float f) { return tir_cv_f32_to_bf16(f); }
HD double ops_i64_to_f64_odd(int64_t v) { return tir_cv_i64_to_f64_odd(v); }
HD int64_t ops_wrap64(uint64_t u) { return tir_cv_wrap64(u); }
/* Truncation toward zero, saturated to dtype dt's range; NaN gives 0. */
HD int64_t ops_sat_trunc(double d, int dt) { return tir_cv_sat_trunc(d, tir_cv_sat_range(dt)); }

HD bool ops_is_float(int dt) { return dt == TIRK_F16 || dt == TIRK_BF16 || dt == TIRK_F32 || dt == TIRK_F64; }
HD bool ops_is_int(int dt) { return dt == TIRK_I8 || dt == TIRK_I16 || dt == TIRK_I32 || dt == TIRK_I64 || dt == TIRK_U8; }

/* The TIR_DK_* kind of a dtype (the op table's domains are in kinds). */
static inline int ops_dtype_kind(int dt) {
  return dt == TIRK_BOOL ? TIR_DK_BOOL : ops_is_float(dt) ? TIR_DK_FLOAT : TIR_DK_INT;
}

static inline int ops_dtype_size(int dt) {
#define OPS_SIZE(E, sp, n, k) n,
  static const int sizes[TIRK_DTYPE_COUNT] = {TIR_DTYPE_ROWS(OPS_SIZE)};
#undef OPS_SIZE
  return dt >= 0 && dt < TIRK_DTYPE_COUNT ? sizes[dt] : 0;
}

/* ------------------------------------------------------------ loads / stores by dtype
 * `p` is the view's data, `i` an element offset.  The switch is on a value
 * that is the same for every thread, so it costs a uniform branch. */

HD double ops_ld_f64(int dt, const void *p, int64_t i) {
  switch (dt) {
  case TIRK_BOOL: return ((const uint8_t *)p)[i] != 0 ? 1.0 : 0.0;
  case TIRK_I8: return (double)((const int8_t *)p)[i];
  case TIRK_I16: return (double)((const int16_t *)p)[i];
  case TIRK_I32: return (double)((const int32_t *)p)[i];
  case TIRK_I64: return (double)((const int64_t *)p)[i];
  case TIRK_U8: return (double)((const uint8_t *)p)[i];
  case TIRK_F16: return (double)ops_half_to_float(((const uint16_t *)p)[i]);
  case TIRK_BF16: return (double)ops_bf16_to_float(((const uint16_t *)p)[i]);
  case TIRK_F32: return (double)((const float *)p)[i];
  default: return ((const double *)p)[i];
  }
}

HD float ops_ld_f32(int dt, const void *p, int64_t i) {
  switch (dt) {
  case TIRK_F16: return ops_half_to_float(((const uint16_t *)p)[i]);
  case TIRK_BF16: return ops_bf16_to_float(((const uint16_t *)p)[i]);
  case TIRK_F32: return ((const float *)p)[i];
  case TIRK_I64: return (float)((const int64_t *)p)[i]; /* one rounding, like C */
  default: return (float)ops_ld_f64(dt, p, i);          /* exact first step */
  }
}

HD int64_t ops_ld_i64(int dt, const void *p, int64_t i) {
  switch (dt) {
  case TIRK_BOOL: return ((const uint8_t *)p)[i] != 0;
  case TIRK_I8: return ((const int8_t *)p)[i];
  case TIRK_I16: return ((const int16_t *)p)[i];
  case TIRK_I32: return ((const int32_t *)p)[i];
  case TIRK_I64: return ((const int64_t *)p)[i];
  case TIRK_U8: return ((const uint8_t *)p)[i];
  default: return ops_sat_trunc(ops_ld_f64(dt, p, i), TIRK_I64);
  }
}

/* Integers wrap: keep the low bytes. */
HD void ops_st_i64(int dt, void *p, int64_t i, int64_t v) {
  switch (dt) {
  case TIRK_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  case TIRK_I8:
  case TIRK_U8: ((uint8_t *)p)[i] = (uint8_t)(uint64_t)v; break;
  case TIRK_I16: ((uint16_t *)p)[i] = (uint16_t)(uint64_t)v; break;
  case TIRK_I32: ((uint32_t *)p)[i] = (uint32_t)(uint64_t)v; break;
  case TIRK_I64: ((int64_t *)p)[i] = v; break;
  case TIRK_F16: ((uint16_t *)p)[i] = ops_double_to_half(ops_i64_to_f64_odd(v)); break;
  case TIRK_BF16: ((uint16_t *)p)[i] = ops_double_to_bf16(ops_i64_to_f64_odd(v)); break;
  case TIRK_F32: ((float *)p)[i] = (float)v; break;
  default: ((double *)p)[i] = (double)v; break;
  }
}

HD void ops_st_f64(int dt, void *p, int64_t i, double v) {
  switch (dt) {
  case TIRK_BOOL: ((uint8_t *)p)[i] = v != 0; break; /* NaN is true */
  case TIRK_F16: ((uint16_t *)p)[i] = ops_double_to_half(v); break;
  case TIRK_BF16: ((uint16_t *)p)[i] = ops_double_to_bf16(v); break;
  case TIRK_F32: ((float *)p)[i] = (float)v; break;
  case TIRK_F64: ((double *)p)[i] = v; break;
  default: ops_st_i64(dt, p, i, ops_sat_trunc(v, dt)); break; /* saturated, then in range */
  }
}

/* The CPU's f32 stores: bf16 by the bit trick, the rest as the f64 store. */
HD void ops_st_f32(int dt, void *p, int64_t i, float v) {
  switch (dt) {
  case TIRK_F32: ((float *)p)[i] = v; break;
  case TIRK_BF16: ((uint16_t *)p)[i] = ops_float_to_bf16(v); break;
  default: ops_st_f64(dt, p, i, (double)v); break;
  }
}

/* ------------------------------------------------------------ index spaces */

#define OPS_MAX_OPS 4

/* Up to OPS_MAX_OPS operands walked over one shape: element i (row-major
 * in the shape) of operand k is at data_k + sum_d coord_d * st[k][d].
 * Built on the host with size-1 dims dropped and neighbours merged where
 * every operand steps through them as one dim, so contiguous operands give
 * rank 1 (no divisions at all). */
typedef struct {
  int32_t rank; /* >= 1 */
  int64_t shape[TIRK_MAX_RANK];
  int64_t st[OPS_MAX_OPS][TIRK_MAX_RANK];
} ops_index_t;

/* n dims of `shape`; strides[k] = operand k's n strides.  Returns numel. */
static inline int64_t ops_index_build(ops_index_t *ix, int nops, int n, const int64_t *shape,
                                      const int64_t *const *strides) {
  memset(ix, 0, sizeof *ix);
  int64_t numel = 1;
  int r = 0;
  for (int d = 0; d < n; d++) {
    numel *= shape[d];
    if (shape[d] == 1) continue;
    ix->shape[r] = shape[d];
    for (int k = 0; k < nops; k++) ix->st[k][r] = strides[k][d];
    r++;
  }
  int w = 0;
  for (int d = 1; d < r; d++) {
    bool merge = true;
    for (int k = 0; k < nops; k++)
      if (ix->st[k][w] != ix->st[k][d] * ix->shape[d]) merge = false;
    if (merge) {
      ix->shape[w] *= ix->shape[d];
    } else {
      w++;
      ix->shape[w] = ix->shape[d];
    }
    for (int k = 0; k < nops; k++) ix->st[k][w] = ix->st[k][d];
  }
  if (r == 0) { /* a scalar */
    ix->shape[0] = 1;
    for (int k = 0; k < nops; k++) ix->st[k][0] = 0;
  }
  ix->rank = r == 0 ? 1 : w + 1;
  return numel;
}

/* The index space of views of one shape (views[0]'s). */
static inline int64_t ops_index_views(ops_index_t *ix, int nops, const tirk_view_t *const *v) {
  const int64_t *st[OPS_MAX_OPS];
  for (int k = 0; k < nops; k++) st[k] = v[k]->strides;
  return ops_index_build(ix, nops, v[0]->rank, v[0]->shape, st);
}

/* Element offsets of linear index i for the first N operands.  I is
 * uint32_t when the space has fewer than 2^31 elements (cheap divisions),
 * else uint64_t; offsets are int64 either way (views may span more). */
template <int N, typename I>
__device__ __forceinline__ void ops_offsets(const ops_index_t &ix, I i, int64_t *off) {
#pragma unroll
  for (int k = 0; k < N; k++) off[k] = 0;
  for (int d = ix.rank - 1; d > 0; d--) {
    I s = (I)ix.shape[d], q = i / s, r = i - q * s;
#pragma unroll
    for (int k = 0; k < N; k++) off[k] += (int64_t)r * ix.st[k][d];
    i = q;
  }
#pragma unroll
  for (int k = 0; k < N; k++) off[k] += (int64_t)i * ix.st[k][0];
}

/* ------------------------------------------------------------ launches */

enum { OPS_THREADS = 256 };

/* Blocks for a grid-stride loop over n items: enough to fill any GPU, few
 * enough that each thread does several items on big tensors. */
static inline unsigned ops_blocks(int64_t n, int per_block) {
  int64_t b = (n + per_block - 1) / per_block;
  if (b > 65536) b = 65536;
  return (unsigned)(b < 1 ? 1 : b);
}

/* Views usable by a kernel: known dtype, rank in range, dims >= 0. */
static inline bool ops_view_ok(const tirk_view_t *v) {
  if (!v || v->dtype < 0 || v->dtype >= TIRK_DTYPE_COUNT || v->rank < 0 || v->rank > TIRK_MAX_RANK)
    return false;
  for (int d = 0; d < v->rank; d++)
    if (v->shape[d] < 0) return false;
  return true;
}

static inline int64_t ops_numel(const tirk_view_t *v) {
  int64_t n = 1;
  for (int d = 0; d < v->rank; d++) n *= v->shape[d];
  return n;
}

static inline bool ops_same_shape(const tirk_view_t *a, const tirk_view_t *b) {
  if (a->rank != b->rank) return false;
  for (int d = 0; d < a->rank; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}


/* ------------------------------------------------------------ compute types
 * A kernel templated on its dtype DT (a compile-time constant) folds the
 * dtype switches of the loads and stores away.  ops_ct<DT>::type is the
 * compute type of the CPU kernels: f32 for f16/bf16/f32, f64 for f64,
 * int64 for integers and bool. */
template <int DT> struct ops_ct { typedef int64_t type; };
template <> struct ops_ct<TIRK_F16> { typedef float type; };
template <> struct ops_ct<TIRK_BF16> { typedef float type; };
template <> struct ops_ct<TIRK_F32> { typedef float type; };
template <> struct ops_ct<TIRK_F64> { typedef double type; };

template <typename C> HD C ops_ld(int dt, const void *p, int64_t i);
template <> HD float ops_ld<float>(int dt, const void *p, int64_t i) { return ops_ld_f32(dt, p, i); }
template <> HD double ops_ld<double>(int dt, const void *p, int64_t i) { return ops_ld_f64(dt, p, i); }
template <> HD int64_t ops_ld<int64_t>(int dt, const void *p, int64_t i) { return ops_ld_i64(dt, p, i); }
HD void ops_st(int dt, void *p, int64_t i, float v) { ops_st_f32(dt, p, i, v); }
HD void ops_st(int dt, void *p, int64_t i, double v) { ops_st_f64(dt, p, i, v); }
HD void ops_st(int dt, void *p, int64_t i, int64_t v) { ops_st_i64(dt, p, i, v); }

/* Runs the statements with `constexpr int DT` set to the dtype dt, for
 * every dtype, the float ones, or the integer ones (others fall through
 * to `default`, which the caller has rejected before). */
#define OPS_DT_CASE(D, ...) \
  case D: {                 \
    constexpr int DT = D;   \
    __VA_ARGS__;            \
  } break;
#define OPS_FLOAT_DTYPES(dt, ...)          \
  switch (dt) {                            \
    OPS_DT_CASE(TIRK_F16, __VA_ARGS__)     \
    OPS_DT_CASE(TIRK_BF16, __VA_ARGS__)    \
    OPS_DT_CASE(TIRK_F32, __VA_ARGS__)     \
    OPS_DT_CASE(TIRK_F64, __VA_ARGS__)     \
  default: break;                          \
  }
#define OPS_INT_DTYPES(dt, ...)            \
  switch (dt) {                            \
    OPS_DT_CASE(TIRK_BOOL, __VA_ARGS__)    \
    OPS_DT_CASE(TIRK_I8, __VA_ARGS__)      \
    OPS_DT_CASE(TIRK_I16, __VA_ARGS__)     \
    OPS_DT_CASE(TIRK_I32, __VA_ARGS__)     \
    OPS_DT_CASE(TIRK_I64, __VA_ARGS__)     \
    OPS_DT_CASE(TIRK_U8, __VA_ARGS__)      \
  default: break;                          \
  }
#define OPS_ALL_DTYPES(dt, ...)                                   \
  do {                                                            \
    if (ops_is_float(dt)) { OPS_FLOAT_DTYPES(dt, __VA_ARGS__) }   \
    else { OPS_INT_DTYPES(dt, __VA_ARGS__) }                      \
  } while (0)

/* Runs the statements with `typedef I` the index type for n elements. */
#define OPS_BY_INDEX(n, ...)                  \
  do {                                        \
    if ((n) < ((int64_t)1 << 31)) {           \
      typedef uint32_t I;                     \
      __VA_ARGS__;                            \
    } else {                                  \
      typedef uint64_t I;                     \
      __VA_ARGS__;                            \
    }                                         \
  } while (0)

/* The grid-stride loop of an elementwise kernel over n items. */
#define OPS_GRID_LOOP(I, i, n) \
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (I)gridDim.x * blockDim.x)

#endif /* TIRK_OPS_COMMON_CUH */
