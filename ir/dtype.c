/* dtype.c — element types: names, sizes, half/bfloat16 conversion and
 * typed loads/stores used by constant folding and the printer. */
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

int64_t tir_load_i64(TirDType t, const void *data, size_t i) {
  const unsigned char *p = (const unsigned char *)data + i * DT[t].size;
  switch (t) {
  case TIR_BOOL: return *p != 0;
  case TIR_I8: { int8_t v; memcpy(&v, p, 1); return v; }
  case TIR_I16: { int16_t v; memcpy(&v, p, 2); return v; }
  case TIR_I32: { int32_t v; memcpy(&v, p, 4); return v; }
  case TIR_I64: { int64_t v; memcpy(&v, p, 8); return v; }
  case TIR_U8: return *p;
  default: {
    double d = tir_load_f64(t, data, i);
    if (!(d == d)) return 0;
    if (d >= 9.2233720368547758e18) return INT64_MAX;
    if (d <= -9.2233720368547758e18) return INT64_MIN;
    return (int64_t)d;
  }
  }
}

/* Float to integer the way a C cast would, but defined for out-of-range and
 * nan inputs (torch's result there is unspecified; we saturate). */
static int64_t sat_i64(double v) {
  if (!(v == v)) return 0;
  if (v >= 9.2233720368547758e18) return INT64_MAX;
  if (v <= -9.2233720368547758e18) return INT64_MIN;
  return (int64_t)v;
}

void tir_store_i64(TirDType t, void *data, size_t i, int64_t v) {
  unsigned char *p = (unsigned char *)data + i * DT[t].size;
  switch (t) {
  case TIR_BOOL: *p = v != 0; break;
  case TIR_I8: { int8_t x = (int8_t)v; memcpy(p, &x, 1); break; }
  case TIR_I16: { int16_t x = (int16_t)v; memcpy(p, &x, 2); break; }
  case TIR_I32: { int32_t x = (int32_t)v; memcpy(p, &x, 4); break; }
  case TIR_I64: memcpy(p, &v, 8); break;
  case TIR_U8: *p = (uint8_t)v; break;
  default: tir_store_f64(t, data, i, (double)v); break;
  }
}

void tir_store_f64(TirDType t, void *data, size_t i, double v) {
  unsigned char *p = (unsigned char *)data + i * DT[t].size;
  switch (t) {
  case TIR_F16: { uint16_t x = tir_f32_to_f16((float)v); memcpy(p, &x, 2); break; }
  case TIR_BF16: { uint16_t x = tir_f32_to_bf16((float)v); memcpy(p, &x, 2); break; }
  case TIR_F32: { float x = (float)v; memcpy(p, &x, 4); break; }
  case TIR_F64: memcpy(p, &v, 8); break;
  case TIR_BOOL: *p = v != 0; break;
  default: tir_store_i64(t, data, i, sat_i64(v)); break;
  }
}
