/* dtype.c — element types: names, sizes, half/bfloat16 conversion and
 * typed loads/stores used by constant folding and the printer.
 *
 * The conversions are common/tir_dtype.h's, shared with the runtime and
 * the kernels, because a folded constant must be exactly what running the
 * op gives: one rounding to nearest even into f16/bf16 (from a double directly, from
 * an int64 through a round-to-odd double), saturating float -> integer with
 * NaN -> 0, wrapping integer -> integer.  docs/language.md lists the rules. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ir.h"
#include "tir_dtype.h"

/* The IR's dtype numbers are the common table's (common/tir_dtype.h). */
#define CHECK_ROW(E, sp, n, k) _Static_assert(TIR_##E == (int)TIR_DT_##E, "TirDType differs from tir_dtype.h");
TIR_DTYPE_ROWS(CHECK_ROW)
#undef CHECK_ROW
_Static_assert(TIR_NUM_DTYPES == (int)TIR_DT_COUNT, "TirDType differs from tir_dtype.h");

static const struct {
  const char *name;
  size_t size;
  int kind;
} DT[TIR_NUM_DTYPES] = {
#define ROW(E, sp, n, k) [TIR_##E] = {#sp, n, TIR_DK_##k},
    TIR_DTYPE_ROWS(ROW)
#undef ROW
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

bool tir_dtype_is_float(TirDType t) { return t < TIR_NUM_DTYPES && DT[t].kind == TIR_DK_FLOAT; }
bool tir_dtype_is_int(TirDType t) { return t < TIR_NUM_DTYPES && DT[t].kind == TIR_DK_INT; }

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

/* The conversions are common/tir_dtype.h's, which the runtime and the
 * kernels use too. */
float tir_f16_to_f32(uint16_t h) { return tir_cv_f16_to_f32(h); }
uint16_t tir_f32_to_f16(float f) { return tir_cv_f32_to_f16(f); }
float tir_bf16_to_f32(uint16_t h) { return tir_cv_bf16_to_f32(h); }
uint16_t tir_f32_to_bf16(float f) { return tir_cv_f32_to_bf16(f); }
uint16_t tir_f64_to_f16(double d) { return tir_cv_f64_to_f16(d); }
uint16_t tir_f64_to_bf16(double d) { return tir_cv_f64_to_bf16(d); }

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
 * the CPU and CUDA runtimes do). */
static int64_t sat_trunc(TirDType t, double v) { return tir_cv_sat_trunc(v, tir_cv_sat_range((int)t)); }

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
  case TIR_F16: { uint16_t x = tir_f64_to_f16(tir_cv_i64_to_f64_odd(v)); memcpy(p, &x, 2); break; }
  case TIR_BF16: { uint16_t x = tir_f64_to_bf16(tir_cv_i64_to_f64_odd(v)); memcpy(p, &x, 2); break; }
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
