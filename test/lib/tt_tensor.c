/* tt_tensor.c — the dtype codec, the tolerance table, comparisons and
 * guarded strided tensors of the C tests (see tt_tensor.h).  Decoding and
 * encoding are written here, not taken from the runtime, so a runtime
 * conversion bug cannot hide in both the result and its reference. */
#include "tt_tensor.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ dtypes */

const tirrt_dtype_t TT_ALL[10] = {TIRRT_DTYPE_BOOL, TIRRT_DTYPE_I8,   TIRRT_DTYPE_I16, TIRRT_DTYPE_I32,
                                  TIRRT_DTYPE_I64,  TIRRT_DTYPE_U8,   TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16,
                                  TIRRT_DTYPE_F32,  TIRRT_DTYPE_F64};
const tirrt_dtype_t TT_FLOATS[4] = {TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16, TIRRT_DTYPE_F32, TIRRT_DTYPE_F64};
const tirrt_dtype_t TT_INTS[5] = {TIRRT_DTYPE_I8, TIRRT_DTYPE_I16, TIRRT_DTYPE_I32, TIRRT_DTYPE_I64,
                                  TIRRT_DTYPE_U8};

bool tt_is_float(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 || dt == TIRRT_DTYPE_F64;
}

const char *tt_dtype_name(tirrt_dtype_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_BOOL: return "bool";
  case TIRRT_DTYPE_I8: return "i8";
  case TIRRT_DTYPE_I16: return "i16";
  case TIRRT_DTYPE_I32: return "i32";
  case TIRRT_DTYPE_I64: return "i64";
  case TIRRT_DTYPE_U8: return "u8";
  case TIRRT_DTYPE_F16: return "f16";
  case TIRRT_DTYPE_BF16: return "bf16";
  case TIRRT_DTYPE_F32: return "f32";
  case TIRRT_DTYPE_F64: return "f64";
  default: return "?";
  }
}

size_t tt_dtype_size(tirrt_dtype_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_BOOL: case TIRRT_DTYPE_I8: case TIRRT_DTYPE_U8: return 1;
  case TIRRT_DTYPE_I16: case TIRRT_DTYPE_F16: case TIRRT_DTYPE_BF16: return 2;
  case TIRRT_DTYPE_I32: case TIRRT_DTYPE_F32: return 4;
  default: return 8;
  }
}

/* The reference is exact math on the exact inputs, so the bound covers the
 * output's final rounding plus compute error: f16 rounds to 2^-11 relative
 * (half an ulp, ~3e-4 RMS over many elements) -> 2e-3 leaves 4x for f32
 * compute; bf16 rounds to 2^-8 -> 1e-2 (2.5x); f32 math is a few ulp
 * (~1e-7) plus accumulation over at most ~1000 terms -> 1e-5; f64 math and
 * f64 accumulation stay far below 1e-12. */
double tt_tol(tirrt_dtype_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_F16: return 2e-3;
  case TIRRT_DTYPE_BF16: return 1e-2;
  case TIRRT_DTYPE_F32: return 1e-5;
  case TIRRT_DTYPE_F64: return 1e-12;
  default: return 0;
  }
}

long double tt_half_decode(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  long double v = e == 0 ? ldexpl(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpl(1024 + m, e - 25);
  return (h & 0x8000) ? -v : v;
}
long double tt_bf16_decode(uint16_t b) {
  int e = (b >> 7) & 255, m = b & 127;
  long double v = e == 0 ? ldexpl(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexpl(128 + m, e - 134);
  return (b & 0x8000) ? -v : v;
}

long double tt_narrow_value(bool bf, unsigned p) {
  unsigned inf = bf ? 0x7f80u : 0x7c00u;
  if (p == inf) return bf ? ldexpl(1, 128) : 65536.0L;
  return bf ? tt_bf16_decode((uint16_t)p) : tt_half_decode((uint16_t)p);
}

/* Binary search over the positive patterns, which are ordered like their
 * values; ties go to the even pattern. */
static uint16_t enc_narrow(long double x, bool bf) {
  if (isnan(x)) return bf ? 0x7fc0 : 0x7e00;
  unsigned sg = signbit(x) ? 0x8000u : 0u, inf = bf ? 0x7f80u : 0x7c00u;
  long double a = fabsl(x);
  unsigned lo = 0, hi = inf;
  while (lo < hi) {
    unsigned mid = (lo + hi + 1) / 2;
    if (tt_narrow_value(bf, mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo == inf) return (uint16_t)(sg | inf);
  long double d0 = a - tt_narrow_value(bf, lo), d1 = tt_narrow_value(bf, lo + 1) - a;
  unsigned p = d0 < d1 ? lo : d0 > d1 ? lo + 1 : (lo & 1 ? lo + 1 : lo);
  return (uint16_t)(sg | p);
}
uint16_t tt_half_encode(long double x) { return enc_narrow(x, false); }
uint16_t tt_bf16_encode(long double x) { return enc_narrow(x, true); }

long double tt_load(tirrt_dtype_t dt, const void *p) {
  union {
    uint8_t u8;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    uint16_t h;
    float f;
    double d;
  } u;
  memcpy(&u, p, tt_dtype_size(dt));
  switch (dt) {
  case TIRRT_DTYPE_BOOL: return u.u8;
  case TIRRT_DTYPE_I8: return u.i8;
  case TIRRT_DTYPE_I16: return u.i16;
  case TIRRT_DTYPE_I32: return u.i32;
  case TIRRT_DTYPE_I64: return u.i64;
  case TIRRT_DTYPE_U8: return u.u8;
  case TIRRT_DTYPE_F16: return tt_half_decode(u.h);
  case TIRRT_DTYPE_BF16: return tt_bf16_decode(u.h);
  case TIRRT_DTYPE_F32: return u.f;
  default: return u.d;
  }
}

void tt_store(tirrt_dtype_t dt, void *p, long double x) {
  uint8_t b[8];
  switch (dt) {
  case TIRRT_DTYPE_BOOL: b[0] = x != 0; break;
  case TIRRT_DTYPE_I8: { int8_t v = (int8_t)x; memcpy(b, &v, 1); } break;
  case TIRRT_DTYPE_I16: { int16_t v = (int16_t)x; memcpy(b, &v, 2); } break;
  case TIRRT_DTYPE_I32: { int32_t v = (int32_t)x; memcpy(b, &v, 4); } break;
  case TIRRT_DTYPE_I64: { int64_t v = (int64_t)x; memcpy(b, &v, 8); } break;
  case TIRRT_DTYPE_U8: b[0] = (uint8_t)x; break;
  case TIRRT_DTYPE_F16: { uint16_t v = tt_half_encode(x); memcpy(b, &v, 2); } break;
  case TIRRT_DTYPE_BF16: { uint16_t v = tt_bf16_encode(x); memcpy(b, &v, 2); } break;
  case TIRRT_DTYPE_F32: { float v = (float)x; memcpy(b, &v, 4); } break;
  default: { double v = (double)x; memcpy(b, &v, 8); } break;
  }
  memcpy(p, b, tt_dtype_size(dt));
}

void tt_int_range(tirrt_dtype_t dt, long double *lo, long double *hi) {
  /* int64's limits are converted at run time, the way tt_load converts an
   * element, so they compare equal to a saturated output even when long
   * double cannot hold INT64_MAX exactly. */
  volatile int64_t mn = INT64_MIN, mx = INT64_MAX;
  switch (dt) {
  case TIRRT_DTYPE_BOOL: *lo = 0, *hi = 1; break;
  case TIRRT_DTYPE_I8: *lo = -128, *hi = 127; break;
  case TIRRT_DTYPE_I16: *lo = -32768, *hi = 32767; break;
  case TIRRT_DTYPE_I32: *lo = -2147483648.0L, *hi = 2147483647.0L; break;
  case TIRRT_DTYPE_U8: *lo = 0, *hi = 255; break;
  default: *lo = (long double)mn, *hi = (long double)mx; break;
  }
}

/* Whether long double arithmetic keeps 64 mantissa bits.  Valgrind runs
 * x87 code with 53, so under it int64 values beyond 2^53 are not exact in
 * the references: random int64 data is then kept within +-2^53 (the
 * memory checking, valgrind's purpose, loses nothing). */
bool tt_ld64(void) {
  volatile long double a = 9007199254740993.0L; /* 2^53 + 1 */
  return a - 9007199254740992.0L == 1;
}

void tt_rand_range(tirrt_dtype_t dt, long double *lo, long double *hi) {
  tt_int_range(dt, lo, hi);
  if (dt == TIRRT_DTYPE_I64 && !tt_ld64()) *lo = -0x1p53L, *hi = 0x1p53L;
}

int64_t tt_wrap_to(tirrt_dtype_t dt, int64_t v) {
  switch (dt) {
  case TIRRT_DTYPE_BOOL: return v != 0;
  case TIRRT_DTYPE_I8: return (int8_t)(uint8_t)(uint64_t)v;
  case TIRRT_DTYPE_I16: return (int16_t)(uint16_t)(uint64_t)v;
  case TIRRT_DTYPE_I32: return (int32_t)(uint32_t)(uint64_t)v;
  case TIRRT_DTYPE_U8: return (uint8_t)(uint64_t)v;
  default: return v;
  }
}

long double tt_convert(long double x, tirrt_dtype_t src, tirrt_dtype_t dst) {
  if (dst == TIRRT_DTYPE_BOOL) return x != 0; /* NaN != 0 */
  if (!tt_is_float(dst)) {
    if (!tt_is_float(src)) return tt_wrap_to(dst, (int64_t)x);
    if (isnan(x)) return 0;
    long double lo, hi, t = truncl(x);
    tt_int_range(dst, &lo, &hi);
    return t < lo ? lo : t > hi ? hi : t;
  }
  switch (dst) {
  case TIRRT_DTYPE_F16: return tt_half_decode(tt_half_encode(x));
  case TIRRT_DTYPE_BF16: return tt_bf16_decode(tt_bf16_encode(x));
  case TIRRT_DTYPE_F32: return (float)x;
  default: return (double)x;
  }
}

/* One random element: see tt_fill; `nonzero` redraws zeros. */
static long double rand_elem(tirrt_dtype_t dt, double lo, double hi, bool nonzero) {
  if (dt == TIRRT_DTYPE_BOOL) return (long double)(tt_rng_u64() >> 63);
  if (tt_is_float(dt)) {
    for (;;) {
      long double x = tt_convert(tt_rng_unif(lo, hi), TIRRT_DTYPE_F64, dt);
      if (!nonzero || x != 0 || (lo == 0 && hi == 0)) return x;
    }
  }
  long double rl, rh;
  tt_rand_range(dt, &rl, &rh);
  long double a = lo > rl ? lo : rl, b = hi < rh ? hi : rh;
  for (;;) {
    long double x = (long double)tt_rng_int((int64_t)a, (int64_t)b);
    if (!nonzero || x != 0 || (a == 0 && b == 0)) return x;
  }
}

void tt_fill(tirrt_dtype_t dt, void *p, int64_t n, double lo, double hi) {
  size_t es = tt_dtype_size(dt);
  for (int64_t k = 0; k < n; k++) tt_store(dt, (unsigned char *)p + (size_t)k * es, rand_elem(dt, lo, hi, true));
}

double tt_rel_l2(const double *out, const double *ref, int64_t n, int64_t *bad) {
  double num = 0, den = 0;
  if (bad) *bad = -1;
  for (int64_t k = 0; k < n; k++) {
    double o = out[k], r = ref[k];
    if (!isfinite(o) || !isfinite(r)) {
      if (!(isnan(o) && isnan(r)) && o != r) {
        if (bad) *bad = k;
        return INFINITY;
      }
      continue;
    }
    num += (o - r) * (o - r);
    den += r * r;
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

bool tt_check_close_at(const char *file, int line, const char *label, const double *out,
                       const double *ref, int64_t n, double bound) {
  int64_t bad;
  double rel = tt_rel_l2(out, ref, n, &bad);
  if (bad >= 0)
    return tt_check_at(file, line, false, "%s: element %" PRId64 " is %g, expected %g", label, bad,
                       out[bad], ref[bad]);
  return tt_check_at(file, line, rel <= bound, "%s: relative error %.3g > %.3g", label, rel, bound);
}

/* ------------------------------------------------------------ statuses */

bool tt_expect_ok(tirrt_status_t s, const char *label) {
  if (!s) return true;
  CHECK_MSG(false, "%s: unexpected error [%s] %s", label, tirrt_status_code_name(tirrt_status_code(s)),
            tirrt_status_message(s));
  tirrt_status_free(s);
  return false;
}

void tt_expect_error(tirrt_status_t s, const char *needle, const char *label) {
  CHECK_MSG(s != NULL && strstr(tirrt_status_message(s), needle) != NULL,
            "%s: expected an error containing '%s', got '%s'", label, needle,
            s ? tirrt_status_message(s) : "success");
  tirrt_status_free(s);
}
