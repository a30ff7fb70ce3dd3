/* tir_dtype.h — the one table of element dtypes and the value conversions
 * between them, shared by the IR (constant folding), the CPU runtime, the
 * CUDA kernels and (as embedded text) the NVRTC-compiled fused kernels.
 *
 * The IR's TirDType, the runtime's tirrt_dtype_t and the kernels' TIRK_*
 * numbers are static_asserted against TIR_DT_*: a value crosses those
 * boundaries as a plain number, so all must agree with this table.
 *
 * Conversion rules (docs/language.md "Edge cases of arithmetic"): one
 * rounding to nearest even into f16/bf16 (straight from a double's bits;
 * an int64 goes through a round-to-odd double first), float -> integer
 * truncates and saturates with NaN -> 0, integer -> integer wraps.  Header
 * only: every function is `static inline`, and TIR_HD makes it a host and
 * device function under CUDA. */
#ifndef TIR_COMMON_DTYPE_H
#define TIR_COMMON_DTYPE_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define TIR_HD __host__ __device__
#else
#define TIR_HD
#endif
/* C needs `static inline` in a header; C++ (CUDA) takes plain `inline`,
 * which NVRTC does not warn about when a function goes unused. */
#ifdef __cplusplus
#define TIR_INLINE inline
#else
#define TIR_INLINE static inline
#endif

#ifdef __CUDACC_RTC__
/* NVRTC has no libc headers: the fixed-width names the helpers use. */
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
#define INT8_MIN (-128)
#define INT8_MAX 127
#define INT16_MIN (-32768)
#define INT16_MAX 32767
#define INT32_MIN (-2147483647 - 1)
#define INT32_MAX 2147483647
#define UINT8_MAX 255
#define INT64_MAX 9223372036854775807ll
#define INT64_MIN (-INT64_MAX - 1)
#define UINT64_C(c) c##ull
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
#endif

/* X(ENUM, spelling, bytes, kind): the row order is every dtype number. */
#define TIR_DTYPE_ROWS(X)  \
  X(BOOL, bool, 1, BOOL)   \
  X(I8, i8, 1, INT)        \
  X(I16, i16, 2, INT)      \
  X(I32, i32, 4, INT)      \
  X(I64, i64, 8, INT)      \
  X(U8, u8, 1, INT)        \
  X(F16, f16, 2, FLOAT)    \
  X(BF16, bf16, 2, FLOAT)  \
  X(F32, f32, 4, FLOAT)    \
  X(F64, f64, 8, FLOAT)

enum {
#define TIR_DT_ENUM_(E, s, n, k) TIR_DT_##E,
  TIR_DTYPE_ROWS(TIR_DT_ENUM_)
#undef TIR_DT_ENUM_
  TIR_DT_COUNT
};

enum { TIR_DK_BOOL, TIR_DK_INT, TIR_DK_FLOAT };

/* ------------------------------------------------------------ bit casts */

TIR_HD TIR_INLINE float tir_cv_bits_f32(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

TIR_HD TIR_INLINE uint32_t tir_cv_f32_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}

TIR_HD TIR_INLINE uint64_t tir_cv_f64_bits(double d) {
#ifdef __CUDA_ARCH__
  return (uint64_t)__double_as_longlong(d);
#else
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
#endif
}

/* int64 from the low 64 bits of u, without an implementation-defined cast. */
TIR_HD TIR_INLINE int64_t tir_cv_wrap64(uint64_t u) {
  return u <= (uint64_t)INT64_MAX ? (int64_t)u : (int64_t)(u - (uint64_t)INT64_MAX - 1u) + INT64_MIN;
}

/* ------------------------------------------------------------ f16 / bf16 */

TIR_HD TIR_INLINE float tir_cv_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) { /* zero or subnormal: m * 2^-24 is exact in f32 */
    float f = (float)m * 5.9604644775390625e-08f;
    return sign ? -f : f;
  }
  /* inf/NaN keep their payload (the quiet bit lands on f32's quiet bit). */
  return tir_cv_bits_f32(e == 0x1f ? sign | 0x7f800000u | (m << 13) : sign | ((e + 112u) << 23) | (m << 13));
}

TIR_HD TIR_INLINE float tir_cv_bf16_to_f32(uint16_t b) { return tir_cv_bits_f32((uint32_t)b << 16); }

/* A double rounded to 1 sign, `ebits` exponent and `mbits` stored mantissa
 * bits (f16 5/10, bf16 8/7) to nearest even, straight from the double's
 * bits so there is a single rounding.  Subnormal results share the path:
 * the number of dropped significand bits just grows. */
TIR_HD TIR_INLINE uint32_t tir_cv_f64_to_narrow(double d, int ebits, int mbits) {
  uint64_t u = tir_cv_f64_bits(d);
  uint32_t sign = (uint32_t)(u >> 63) << (ebits + mbits);
  uint32_t inf = ((1u << ebits) - 1u) << mbits;
  int e = (int)((u >> 52) & 0x7ff);
  uint64_t m = u & ((UINT64_C(1) << 52) - 1);
  if (e == 0x7ff) return sign | inf | (m ? 1u << (mbits - 1) : 0u); /* inf, or a quiet NaN */
  if (e == 0) return sign; /* f64 subnormals are far below half the narrow minimum */
  int te = e - 1023 + (1 << (ebits - 1)) - 1; /* the narrow biased exponent; < 1: subnormal */
  uint64_t sig = m | (UINT64_C(1) << 52);
  int shift = 52 - mbits + (te >= 1 ? 0 : 1 - te);
  if (shift > 63) return sign; /* below half the smallest subnormal */
  uint64_t r = sig >> shift, rem = sig & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
  if (rem > half || (rem == half && (r & 1))) r++;
  if (te < 1) return sign | (uint32_t)r; /* a carry lands on the smallest normal */
  if (te >= (1 << ebits) - 1) return sign | inf;
  /* r is in [2^mbits, 2^(mbits+1)]: a carry bumps the exponent, maybe to inf. */
  uint64_t bits = ((uint64_t)te << mbits) + (r - (UINT64_C(1) << mbits));
  return bits >= inf ? sign | inf : sign | (uint32_t)bits;
}

TIR_HD TIR_INLINE uint16_t tir_cv_f64_to_f16(double d) { return (uint16_t)tir_cv_f64_to_narrow(d, 5, 10); }
TIR_HD TIR_INLINE uint16_t tir_cv_f64_to_bf16(double d) { return (uint16_t)tir_cv_f64_to_narrow(d, 8, 7); }
/* From f32: the widening is exact, so this is still one rounding. */
TIR_HD TIR_INLINE uint16_t tir_cv_f32_to_f16(float f) { return tir_cv_f64_to_f16((double)f); }

/* f32 -> bf16 by the bit trick the f32 stores use: the same rounding as
 * from the double, but a NaN keeps the top of its payload. */
TIR_HD TIR_INLINE uint16_t tir_cv_f32_to_bf16(float f) {
  uint32_t u = tir_cv_f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* int64 -> double rounded to odd: the dropped bits stick to the last kept
 * one, so rounding that double again to f16/bf16 (<= 11 bits) is the
 * correct rounding of the integer itself. */
TIR_HD TIR_INLINE double tir_cv_i64_to_f64_odd(int64_t v) {
  uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  int sh = 0;
  while (sh < 11 && (a >> (53 + sh)) != 0) sh++;
  if (sh > 0) {
    uint64_t low = a & ((UINT64_C(1) << sh) - 1);
    a = (a >> sh << sh) | (low ? UINT64_C(1) << sh : 0);
  }
  double d = (double)a; /* exact: at most 53 significant bits */
  return v < 0 ? -d : d;
}

/* ------------------------------------------------------------ float -> integer */

/* The saturation bounds of an integer dtype: the lowest value and the
 * highest plus one, both exact doubles (i64 for anything else). */
typedef struct {
  double lo, hi1;
  int64_t lo_i, hi_i;
} tir_cv_sat_t;

TIR_HD TIR_INLINE tir_cv_sat_t tir_cv_sat_range(int dt) {
  tir_cv_sat_t r;
  switch (dt) {
  case TIR_DT_I8: r.lo = -128.0, r.hi1 = 128.0, r.lo_i = INT8_MIN, r.hi_i = INT8_MAX; break;
  case TIR_DT_I16: r.lo = -32768.0, r.hi1 = 32768.0, r.lo_i = INT16_MIN, r.hi_i = INT16_MAX; break;
  case TIR_DT_I32: r.lo = -2147483648.0, r.hi1 = 2147483648.0, r.lo_i = INT32_MIN, r.hi_i = INT32_MAX; break;
  case TIR_DT_U8: r.lo = 0.0, r.hi1 = 256.0, r.lo_i = 0, r.hi_i = UINT8_MAX; break;
  default: r.lo = -9223372036854775808.0, r.hi1 = 9223372036854775808.0, r.lo_i = INT64_MIN, r.hi_i = INT64_MAX; break;
  }
  return r;
}

/* Truncation toward zero, saturated to r; NaN gives 0 (torch leaves all
 * three undefined; this is deterministic and the same on every target). */
TIR_HD TIR_INLINE int64_t tir_cv_sat_trunc(double d, tir_cv_sat_t r) {
  if (d != d) return 0;
  double t = trunc(d);
  if (t >= r.hi1) return r.hi_i;
  if (t < r.lo) return r.lo_i;
  return (int64_t)t;
}

#endif /* TIR_COMMON_DTYPE_H */
