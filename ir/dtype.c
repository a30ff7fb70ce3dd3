/* dtype.c — element types: names, sizes, half/bfloat16 conversion and
 * typed loads/stores used by constant folding and the printer.
 *
 * The conversions here are the runtime's (runtime/cpu_view.c) bit for bit,
 * because a folded constant must be exactly what running the op gives:
 * one rounding to nearest even into f16/bf16 (from a double directly, from
 * an int64 through a round-to-odd double), saturating float -> integer with
 * NaN -> 0, wrapping integer -> integer.  docs/language.md lists the rules. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ir.h"

static const struct {
  const char *name;
  size_t size;
} DT[TIR_NUM_DTYPES] = {
    [TIR_BOOL] = {"bool", 1}, [TIR_I8] = {"i8", 1},   [TIR_I16] = {"i16", 2},
    [TIR_I32] = {"i32", 4},   [TIR_I64] = {"i64", 8}, [TIR_U8] = {"u8", 1},
    [TIR_F16] = {"f16", 2},   [TIR_BF16] = {"bf16", 2}, [TIR_F32] = {"f32", 4},
    [TIR_F64] = {"f64", 8},
};

const char *tir_dtype_name(TirDType t) { return t < TIR_NUM_DTYPES ? DT[t].name : "?"; }
size_t tir_dtype_size(TirDType t) { return t < TIR_NUM_DTYPES ? DT[t].size : 0; }

bool tir_dtype_from_name(const char *s, size_t n, TirDType *out) {
  for (int i = 0; i < TIR_NUM_DTYPES; i++)
    if (strlen(DT[i].name) == n && memcmp(DT[i].name, s, n) == 0) {
      *out = (TirDType)i;
      return true;
    }
  return false;
}

bool tir_dtype_is_float(TirDType t) {
  return t == TIR_F16 || t == TIR_BF16 || t == TIR_F32 || t == TIR_F64;
}
bool tir_dtype_is_int(TirDType t) {
  return t == TIR_I8 || t == TIR_I16 || t == TIR_I32 || t == TIR_I64 || t == TIR_U8;
}

double tir_dtype_lowest(TirDType t) {
  switch (t) {
  case TIR_F16: return -65504.0;
  case TIR_BF16: return -3.3895313892515355e+38;
  case TIR_F32: return -FLT_MAX;
  case TIR_F64: return -DBL_MAX;
  default: return -INFINITY;
  }
}

bool tir_dtype_int_range(TirDType t, double *lo, double *hi) {
  switch (t) {
  case TIR_BOOL: *lo = 0, *hi = 1; return true;
  case TIR_I8: *lo = -128, *hi = 127; return true;
  case TIR_I16: *lo = -32768, *hi = 32767; return true;
  case TIR_I32: *lo = -2147483648.0, *hi = 2147483647.0; return true;
  case TIR_U8: *lo = 0, *hi = 255; return true;
  case TIR_I64: *lo = -9223372036854775808.0, *hi = 9223372036854775807.0; return true;
  default: return false;
  }
}

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

float tir_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13)); /* inf / nan */
  if (exp == 0) {
    /* Subnormal (or zero): value = man * 2^-24, exact in f32. */
    float v = (float)man * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t tir_f32_to_f16(float f) {
  uint32_t u = f2u(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  uint32_t au = u & 0x7fffffffu;
  if (au >= 0x7f800000u) /* inf or nan (keep nan quiet) */
    return (uint16_t)(sign | 0x7c00 | (au > 0x7f800000u ? 0x200 : 0));
  if (au >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to inf */
  if (au < 0x38800000u) {
    /* Result is subnormal or zero in f16: round |f| * 2^24 to an integer. */
    float a = u2f(au) * 16777216.0f;
    float r = nearbyintf(a); /* default rounding mode: ties to even */
    return (uint16_t)(sign | (uint16_t)r);
  }
  uint32_t exp = (au >> 23) - 112, man = au & 0x7fffff;
  uint32_t h = (exp << 10) | (man >> 13);
  uint32_t rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* may carry into exp: fine */
  return (uint16_t)(sign | h);
}

float tir_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t tir_f32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

/* A double rounded to a format of 1 sign, `ebits` exponent and `mbits`
 * stored mantissa bits (f16 5/10, bf16 8/7), to nearest even, from the
 * double's own bits so that there is exactly one rounding.  Below the
 * smallest normal exponent the same code just drops more bits. */
static uint16_t f64_to_narrow(double d, int ebits, int mbits) {
  uint64_t u;
  memcpy(&u, &d, 8);
  uint32_t sign = (uint32_t)(u >> 63) << (ebits + mbits);
  uint32_t inf = ((1u << ebits) - 1u) << mbits;
  int e = (int)((u >> 52) & 0x7ff);
  uint64_t frac = u & ((UINT64_C(1) << 52) - 1);
  if (e == 0x7ff) return (uint16_t)(sign | inf | (frac ? 1u << (mbits - 1) : 0u)); /* inf, quiet nan */
  if (e == 0) return (uint16_t)sign; /* f64 subnormals lie far below half the narrow minimum */
  int ne = e - 1023 + (1 << (ebits - 1)) - 1; /* the narrow biased exponent; < 1: subnormal */
  int drop = 52 - mbits + (ne < 1 ? 1 - ne : 0);
  if (drop > 53) return (uint16_t)sign; /* below half the smallest subnormal */
  uint64_t sig = frac | (UINT64_C(1) << 52);
  uint64_t q = sig >> drop, rest = sig & ((UINT64_C(1) << drop) - 1), half = UINT64_C(1) << (drop - 1);
  if (rest > half || (rest == half && (q & 1))) q++;
  if (ne < 1) return (uint16_t)(sign | (uint32_t)q); /* a carry lands on the smallest normal */
  /* q is in [2^mbits, 2^(mbits+1)]: a carry bumps the exponent, maybe to inf. */
  uint64_t bits = ((uint64_t)ne << mbits) + (q - (UINT64_C(1) << mbits));
  return (uint16_t)(bits >= inf ? sign | inf : sign | (uint32_t)bits);
}

uint16_t tir_f64_to_f16(double d) { return f64_to_narrow(d, 5, 10); }
uint16_t tir_f64_to_bf16(double d) { return f64_to_narrow(d, 8, 7); }

/* int64 -> double rounded to odd: the dropped bits stick to the last kept
 * one, so rounding that double again to f16/bf16 (<= 11 bits) is the
 * correct rounding of the integer itself. */
static double i64_to_f64_odd(int64_t v) {
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

double tir_load_f64(TirDType t, const void *data, size_t i) {
  const unsigned char *p = (const unsigned char *)data + i * DT[t].size;
  switch (t) {
  case TIR_BOOL: return *p ? 1.0 : 0.0;
  case TIR_I8: { int8_t v; memcpy(&v, p, 1); return v; }
  case TIR_I16: { int16_t v; memcpy(&v, p, 2); return v; }
  case TIR_I32: { int32_t v; memcpy(&v, p, 4); return v; }
  case TIR_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
  case TIR_U8: return *p;
  case TIR_F16: { uint16_t v; memcpy(&v, p, 2); return tir_f16_to_f32(v); }
  case TIR_BF16: { uint16_t v; memcpy(&v, p, 2); return tir_bf16_to_f32(v); }
  case TIR_F32: { float v; memcpy(&v, p, 4); return v; }
  case TIR_F64: { double v; memcpy(&v, p, 8); return v; }
  default: return 0;
  }
}

/* Float to integer dtype t: truncation toward zero, saturated to t's range,
 * NaN -> 0 (torch leaves all three undefined; this is deterministic and what
 * the CPU and CUDA runtimes do).  The bounds are exact doubles: the lowest
 * value and the highest plus one. */
static int64_t sat_trunc(TirDType t, double v) {
  double lo, hi1;
  int64_t lo_i, hi_i;
  switch (t) {
  case TIR_I8: lo = -128.0, hi1 = 128.0, lo_i = INT8_MIN, hi_i = INT8_MAX; break;
  case TIR_I16: lo = -32768.0, hi1 = 32768.0, lo_i = INT16_MIN, hi_i = INT16_MAX; break;
  case TIR_I32: lo = -2147483648.0, hi1 = 2147483648.0, lo_i = INT32_MIN, hi_i = INT32_MAX; break;
  case TIR_U8: lo = 0.0, hi1 = 256.0, lo_i = 0, hi_i = UINT8_MAX; break;
  default: lo = -0x1p63, hi1 = 0x1p63, lo_i = INT64_MIN, hi_i = INT64_MAX; break;
  }
  if (isnan(v)) return 0;
  double tv = trunc(v);
  if (tv >= hi1) return hi_i;
  if (tv < lo) return lo_i;
  return (int64_t)tv;
}

int64_t tir_load_i64(TirDType t, const void *data, size_t i) {
  const unsigned char *p = (const unsigned char *)data + i * DT[t].size;
  switch (t) {
  case TIR_BOOL: return *p != 0;
  case TIR_I8: { int8_t v; memcpy(&v, p, 1); return v; }
  case TIR_I16: { int16_t v; memcpy(&v, p, 2); return v; }
  case TIR_I32: { int32_t v; memcpy(&v, p, 4); return v; }
  case TIR_I64: { int64_t v; memcpy(&v, p, 8); return v; }
  case TIR_U8: return *p;
  default: return sat_trunc(TIR_I64, tir_load_f64(t, data, i));
  }
}

void tir_store_i64(TirDType t, void *data, size_t i, int64_t v) {
  unsigned char *p = (unsigned char *)data + i * DT[t].size;
  /* Integers keep their low bytes (through unsigned: no implementation-
   * defined narrowing of a signed value). */
  switch (t) {
  case TIR_BOOL: *p = v != 0; break;
  case TIR_I8: case TIR_U8: *p = (uint8_t)(uint64_t)v; break;
  case TIR_I16: { uint16_t x = (uint16_t)(uint64_t)v; memcpy(p, &x, 2); break; }
  case TIR_I32: { uint32_t x = (uint32_t)(uint64_t)v; memcpy(p, &x, 4); break; }
  case TIR_I64: memcpy(p, &v, 8); break;
  case TIR_F16: { uint16_t x = tir_f64_to_f16(i64_to_f64_odd(v)); memcpy(p, &x, 2); break; }
  case TIR_BF16: { uint16_t x = tir_f64_to_bf16(i64_to_f64_odd(v)); memcpy(p, &x, 2); break; }
  case TIR_F32: { float x = (float)v; memcpy(p, &x, 4); break; } /* one rounding, not via double */
  case TIR_F64: { double x = (double)v; memcpy(p, &x, 8); break; }
  default: break;
  }
}

void tir_store_f64(TirDType t, void *data, size_t i, double v) {
  unsigned char *p = (unsigned char *)data + i * DT[t].size;
  switch (t) {
  case TIR_F16: { uint16_t x = tir_f64_to_f16(v); memcpy(p, &x, 2); break; }
  case TIR_BF16: { uint16_t x = tir_f64_to_bf16(v); memcpy(p, &x, 2); break; }
  case TIR_F32: { float x = (float)v; memcpy(p, &x, 4); break; }
  case TIR_F64: memcpy(p, &v, 8); break;
  case TIR_BOOL: *p = v != 0; break; /* nan is true */
  default: tir_store_i64(t, data, i, sat_trunc(t, v)); break; /* in range: stored exactly */
  }
}

void tir_store_f32(TirDType t, void *data, size_t i, float v) {
  unsigned char *p = (unsigned char *)data + i * DT[t].size;
  switch (t) {
  case TIR_F32: memcpy(p, &v, 4); break;
  /* The runtime's f32 -> bf16 store: the same rounding as from the double,
   * but a nan keeps the top of its payload. */
  case TIR_BF16: { uint16_t x = tir_f32_to_bf16(v); memcpy(p, &x, 2); break; }
  default: tir_store_f64(t, data, i, (double)v); break; /* exact widening, then one rounding */
  }
}
