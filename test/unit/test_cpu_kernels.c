/* test_cpu_kernels.c — unit tests for the runtime's CPU kernels
 * (tirrt_cpu.h, all but sdpa and dropout): every kernel against a
 * reference computed here in long double from the decoded inputs, on fresh
 * random data (the seed is printed; TIRC_TEST_SEED=N repeats a run).
 *
 * Inputs come in several layouts (contiguous, transposed, sliced with an
 * offset and a step, expanded with stride 0) and broadcast shapes.  Every
 * output is poisoned first (NaN for floats, 0xAB bytes otherwise) and lives
 * between guard bytes, so an element not written, or a byte written outside
 * the output view, fails.  Float results compare by ||out - ref|| / ||ref||
 * with a per-dtype bound (see tol()); integer and bool results exactly.
 * f16/bf16 are decoded and (for references) encoded here independently of
 * the runtime: decoding by ldexp of the bit fields, encoding by binary
 * search over the ordered bit patterns.  The last line is
 * "N passed, M failed". */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tirrt_cpu.h"

/* ------------------------------------------------------------ harness */

static int n_pass, n_fail;

static void check(int cond, const char *fmt, ...) TIRRT_PRINTF(2, 3);
static void check(int cond, const char *fmt, ...) {
  if (cond) {
    n_pass++;
    return;
  }
  n_fail++;
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

/* Consumes s; true when OK. */
static int expect_ok(tirrt_status_t s, const char *label) {
  if (!s) return 1;
  check(0, "%s: unexpected error [%s] %s", label, tirrt_status_code_name(tirrt_status_code(s)),
        tirrt_status_message(s));
  tirrt_status_free(s);
  return 0;
}

/* Consumes s; checks it is an error whose message contains `needle`. */
static void expect_error(tirrt_status_t s, const char *needle, const char *label) {
  check(s != NULL && strstr(tirrt_status_message(s), needle) != NULL,
        "%s: expected an error containing '%s', got '%s'", label, needle, tirrt_status_message(s));
  tirrt_status_free(s);
}

static char label_buf[256];
static const char *L(const char *fmt, ...) TIRRT_PRINTF(1, 2);
static const char *L(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(label_buf, sizeof label_buf, fmt, ap);
  va_end(ap);
  return label_buf;
}

/* ------------------------------------------------------------ random numbers (splitmix64) */

static uint64_t rng_state;
static uint64_t rnd64(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rnd_unif(double lo, double hi) { return lo + (hi - lo) * ((double)(rnd64() >> 11) * 0x1p-53); }
static int64_t rnd_int(int64_t lo, int64_t hi) { /* inclusive, any range */
  uint64_t span = (uint64_t)hi - (uint64_t)lo + 1u; /* 0: all of int64 */
  uint64_t r = span ? rnd64() % span : rnd64();
  return (int64_t)((uint64_t)lo + r); /* modulo 2^64, as gcc and clang define it */
}

/* ------------------------------------------------------------ dtypes, independent of the runtime */

static const tirrt_dtype_t ALL[] = {TIRRT_DTYPE_BOOL, TIRRT_DTYPE_I8,  TIRRT_DTYPE_I16,
                                    TIRRT_DTYPE_I32,  TIRRT_DTYPE_I64, TIRRT_DTYPE_U8,
                                    TIRRT_DTYPE_F16,  TIRRT_DTYPE_BF16, TIRRT_DTYPE_F32,
                                    TIRRT_DTYPE_F64};
static const tirrt_dtype_t FLOATS[] = {TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16, TIRRT_DTYPE_F32,
                                       TIRRT_DTYPE_F64};
static const tirrt_dtype_t INTS[] = {TIRRT_DTYPE_I8, TIRRT_DTYPE_I16, TIRRT_DTYPE_I32,
                                     TIRRT_DTYPE_I64, TIRRT_DTYPE_U8};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int is_fl(tirrt_dtype_t dt) { return dt >= TIRRT_DTYPE_F16; }
static const char *dn(tirrt_dtype_t dt) { return tirrt_dtype_name(dt); }

/* Per-dtype bound on ||out - ref|| / ||ref||.  The reference is exact math
 * on the exact inputs, so the bound covers the output's final rounding plus
 * compute error: f16 rounds to 2^-11 relative (half an ulp) -> 2e-3 leaves
 * 4x for f32 compute; bf16 rounds to 2^-8 -> 1e-2 (2.5x); f32 math is a few
 * ulp (~1e-7) plus accumulation over at most ~100 terms -> 1e-5; f64 math
 * and f64 accumulation over ~1000 terms stay far below 1e-12. */
static double tol(tirrt_dtype_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_F16: return 2e-3;
  case TIRRT_DTYPE_BF16: return 1e-2;
  case TIRRT_DTYPE_F32: return 1e-5;
  default: return 1e-12;
  }
}

static long double dec_half(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  long double v = e == 0 ? ldexpl(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpl(1024 + m, e - 25);
  return (h & 0x8000) ? -v : v;
}
static long double dec_bf16(uint16_t b) {
  int e = (b >> 7) & 255, m = b & 127;
  long double v = e == 0 ? ldexpl(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexpl(128 + m, e - 134);
  return (b & 0x8000) ? -v : v;
}

/* The value of positive pattern p, with the inf pattern standing for
 * max + ulp: the point where rounding goes to inf. */
static long double narrow_val(int bf, unsigned p) {
  unsigned inf = bf ? 0x7f80u : 0x7c00u;
  if (p == inf) return bf ? ldexpl(1, 128) : 65536.0L;
  return bf ? dec_bf16((uint16_t)p) : dec_half((uint16_t)p);
}

/* Round to nearest even by binary search over the positive patterns,
 * which are ordered like their values. */
static uint16_t enc_narrow(long double x, int bf) {
  if (isnan(x)) return bf ? 0x7fc0 : 0x7e00;
  unsigned sg = signbit(x) ? 0x8000u : 0u, inf = bf ? 0x7f80u : 0x7c00u;
  long double a = fabsl(x);
  unsigned lo = 0, hi = inf;
  while (lo < hi) {
    unsigned mid = (lo + hi + 1) / 2;
    if (narrow_val(bf, mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo == inf) return (uint16_t)(sg | inf);
  long double d0 = a - narrow_val(bf, lo), d1 = narrow_val(bf, lo + 1) - a;
  unsigned p = d0 < d1 ? lo : d0 > d1 ? lo + 1 : (lo & 1 ? lo + 1 : lo);
  return (uint16_t)(sg | p);
}

static long double st_get(tirrt_dtype_t dt, const void *p) {
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
  memcpy(&u, p, tirrt_dtype_size(dt));
  switch (dt) {
  case TIRRT_DTYPE_BOOL: return u.u8;
  case TIRRT_DTYPE_I8: return u.i8;
  case TIRRT_DTYPE_I16: return u.i16;
  case TIRRT_DTYPE_I32: return u.i32;
  case TIRRT_DTYPE_I64: return u.i64;
  case TIRRT_DTYPE_U8: return u.u8;
  case TIRRT_DTYPE_F16: return dec_half(u.h);
  case TIRRT_DTYPE_BF16: return dec_bf16(u.h);
  case TIRRT_DTYPE_F32: return u.f;
  default: return u.d;
  }
}

/* Stores x (already in range for integer dtypes). */
static void st_set(tirrt_dtype_t dt, void *p, long double x) {
  uint8_t b[8];
  switch (dt) {
  case TIRRT_DTYPE_BOOL: b[0] = x != 0; break;
  case TIRRT_DTYPE_I8: { int8_t v = (int8_t)x; memcpy(b, &v, 1); } break;
  case TIRRT_DTYPE_I16: { int16_t v = (int16_t)x; memcpy(b, &v, 2); } break;
  case TIRRT_DTYPE_I32: { int32_t v = (int32_t)x; memcpy(b, &v, 4); } break;
  case TIRRT_DTYPE_I64: { int64_t v = (int64_t)x; memcpy(b, &v, 8); } break;
  case TIRRT_DTYPE_U8: b[0] = (uint8_t)x; break;
  case TIRRT_DTYPE_F16: { uint16_t v = enc_narrow(x, 0); memcpy(b, &v, 2); } break;
  case TIRRT_DTYPE_BF16: { uint16_t v = enc_narrow(x, 1); memcpy(b, &v, 2); } break;
  case TIRRT_DTYPE_F32: { float v = (float)x; memcpy(b, &v, 4); } break;
  default: { double v = (double)x; memcpy(b, &v, 8); } break;
  }
  memcpy(p, b, tirrt_dtype_size(dt));
}

/* Whether long double arithmetic keeps 64 mantissa bits.  Valgrind runs
 * x87 code with 53, so under it int64 values beyond 2^53 are not exact in
 * the references: random int64 data is then kept within +-2^53 (the
 * memory checking, valgrind's purpose, loses nothing). */
static int ld64;
static void detect_ld64(void) {
  volatile long double a = 9007199254740993.0L; /* 2^53 + 1 */
  ld64 = a - 9007199254740992.0L == 1;
}

static void int_range(tirrt_dtype_t dt, long double *lo, long double *hi) {
  /* int64's limits are converted at run time, the way st_get converts an
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

/* The range random integers of dt are drawn from. */
static void rand_range(tirrt_dtype_t dt, long double *lo, long double *hi) {
  int_range(dt, lo, hi);
  if (dt == TIRRT_DTYPE_I64 && !ld64) *lo = -0x1p53L, *hi = 0x1p53L;
}

/* An int64 wrapped to dt's width (two's complement). */
static int64_t wrap_to(tirrt_dtype_t dt, int64_t v) {
  switch (dt) {
  case TIRRT_DTYPE_BOOL: return v != 0;
  case TIRRT_DTYPE_I8: return (int8_t)(uint8_t)(uint64_t)v;
  case TIRRT_DTYPE_I16: return (int16_t)(uint16_t)(uint64_t)v;
  case TIRRT_DTYPE_I32: return (int32_t)(uint32_t)(uint64_t)v;
  case TIRRT_DTYPE_U8: return (uint8_t)(uint64_t)v;
  default: return v;
  }
}

/* The exact value the runtime must produce converting exact value x of
 * dtype src to dtype dst (tirrt_cpu_copy's documented rules). */
static long double conv_ref(long double x, tirrt_dtype_t src, tirrt_dtype_t dst) {
  if (dst == TIRRT_DTYPE_BOOL) return x != 0; /* NaN != 0 */
  if (!is_fl(dst)) {
    if (!is_fl(src)) return wrap_to(dst, (int64_t)x);
    if (isnan(x)) return 0;
    long double lo, hi, t = truncl(x);
    int_range(dst, &lo, &hi);
    return t < lo ? lo : t > hi ? hi : t;
  }
  switch (dst) {
  case TIRRT_DTYPE_F16: return dec_half(enc_narrow(x, 0));
  case TIRRT_DTYPE_BF16: return dec_bf16(enc_narrow(x, 1));
  case TIRRT_DTYPE_F32: return (float)x;
  default: return (double)x;
  }
}

/* ------------------------------------------------------------ test tensors */

/* contiguous, all dims reversed (column-major), a slice with an offset and
 * a step of 2 in the last dim, expanded (even dims have stride 0), and the
 * last two dims swapped (a transposed matrix: BLAS's Trans case). */
enum { LAY_C, LAY_T, LAY_P, LAY_E, LAY_S };
static const char *const lay_name[] = {"contig", "transposed", "sliced", "expanded", "swapped"};
enum { GUARD = 64 };

typedef struct {
  tirrt_view_t v;
  unsigned char *mem;  /* GUARD + storage + GUARD */
  unsigned char *snap; /* storage right after poisoning */
  size_t nbytes;       /* storage bytes */
} tt_t;

static unsigned char *tt_store(const tt_t *t) { return t->mem + GUARD; }

static tt_t tt_make(tirrt_dtype_t dt, int rank, const int64_t *shape, int lay) {
  tt_t t;
  memset(&t, 0, sizeof t);
  t.v.dtype = dt;
  t.v.rank = rank;
  int64_t numel = 1, elems = 1, offset = 0;
  for (int d = 0; d < rank; d++) numel *= shape[d], t.v.shape[d] = shape[d];
  if (lay == LAY_C || lay == LAY_E || numel == 0) {
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int bcast = lay == LAY_E && d % 2 == 0; /* even dims broadcast with stride 0 */
      t.v.strides[d] = bcast ? 0 : s;
      if (!bcast) s *= shape[d] > 0 ? shape[d] : 1;
    }
    elems = s;
  } else if (lay == LAY_T) { /* column-major: the reversed dims are dense */
    int64_t s = 1;
    for (int d = 0; d < rank; d++) t.v.strides[d] = s, s *= shape[d];
    elems = s;
  } else if (lay == LAY_S) { /* storage [..., n-1, n-2] row-major, viewed swapped back */
    t.v.strides[rank - 2] = 1;
    t.v.strides[rank - 1] = shape[rank - 2];
    int64_t s = shape[rank - 2] * shape[rank - 1];
    for (int d = rank - 3; d >= 0; d--) t.v.strides[d] = s, s *= shape[d];
    elems = s;
  } else { /* LAY_P: a slice [1 : 1+n] of storage dims n+2, the last [1 : : 2] of 2n+3 */
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t sd = d == rank - 1 ? 2 * shape[d] + 3 : shape[d] + 2;
      t.v.strides[d] = d == rank - 1 ? 2 * s : s;
      offset += s;
      s *= sd;
    }
    elems = s;
  }
  size_t es = tirrt_dtype_size(dt);
  t.nbytes = (size_t)elems * es;
  t.mem = malloc(t.nbytes + 2 * GUARD);
  t.snap = malloc(t.nbytes + 1);
  memset(t.mem, 0x5A, t.nbytes + 2 * GUARD);
  t.v.data = tt_store(&t) + offset * (int64_t)es;
  return t;
}

static void tt_free(tt_t *t) {
  free(t->mem);
  free(t->snap);
}

/* Fills the whole storage: floats uniform in [lo, hi], integers uniform in
 * [lo, hi] clipped to the dtype, bool 0/1. */
static void tt_rand(tt_t *t, double lo, double hi) {
  size_t es = tirrt_dtype_size(t->v.dtype);
  long double rl, rh;
  rand_range(t->v.dtype, &rl, &rh);
  for (size_t k = 0; k < t->nbytes / es; k++) {
    long double x;
    if (is_fl(t->v.dtype)) x = rnd_unif(lo, hi);
    else {
      long double a = lo > rl ? lo : rl, b = hi < rh ? hi : rh;
      x = (long double)rnd_int((int64_t)a, (int64_t)b);
    }
    st_set(t->v.dtype, tt_store(t) + k * es, x);
  }
}

static void tt_poison(tt_t *t) {
  size_t es = tirrt_dtype_size(t->v.dtype);
  for (size_t k = 0; k < t->nbytes / es; k++) {
    unsigned char *p = tt_store(t) + k * es;
    switch (t->v.dtype) {
    case TIRRT_DTYPE_F16: st_set(TIRRT_DTYPE_F16, p, NAN); break;
    case TIRRT_DTYPE_BF16: st_set(TIRRT_DTYPE_BF16, p, NAN); break;
    case TIRRT_DTYPE_F32: st_set(TIRRT_DTYPE_F32, p, NAN); break;
    case TIRRT_DTYPE_F64: st_set(TIRRT_DTYPE_F64, p, NAN); break;
    default: memset(p, 0xAB, es); break;
    }
  }
  memcpy(t->snap, tt_store(t), t->nbytes);
}

static int64_t numel_of(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  return n;
}

static void unravel(int64_t lin, int rank, const int64_t *shape, int64_t *idx) {
  for (int d = rank - 1; d >= 0; d--) {
    idx[d] = shape[d] ? lin % shape[d] : 0;
    lin = shape[d] ? lin / shape[d] : 0;
  }
}

/* The element of t at index idx of a rank-`rank` shape t broadcasts to. */
static unsigned char *tt_ptr(const tt_t *t, int rank, const int64_t *idx) {
  int64_t off = 0;
  for (int d = 0; d < t->v.rank; d++) {
    int64_t i = idx[rank - t->v.rank + d];
    if (t->v.shape[d] == 1) i = 0;
    off += i * t->v.strides[d];
  }
  return (unsigned char *)t->v.data + off * (int64_t)tirrt_dtype_size(t->v.dtype);
}
static long double tt_at(const tt_t *t, int rank, const int64_t *idx) {
  return st_get(t->v.dtype, tt_ptr(t, rank, idx));
}
/* Element `lin` (row-major) of t's own shape. */
static long double tt_lin(const tt_t *t, int64_t lin) {
  int64_t idx[TIRRT_MAX_RANK];
  unravel(lin, t->v.rank, t->v.shape, idx);
  return tt_at(t, t->v.rank, idx);
}
static void tt_set_lin(tt_t *t, int64_t lin, long double x) {
  int64_t idx[TIRRT_MAX_RANK];
  unravel(lin, t->v.rank, t->v.shape, idx);
  st_set(t->v.dtype, tt_ptr(t, t->v.rank, idx), x);
}

/* Guards intact, and storage outside the view unchanged since poisoning. */
static int tt_outside_ok(const tt_t *t) {
  for (int k = 0; k < GUARD; k++)
    if (t->mem[k] != 0x5A || t->mem[GUARD + t->nbytes + k] != 0x5A) return 0;
  size_t es = tirrt_dtype_size(t->v.dtype);
  unsigned char *mark = calloc(t->nbytes / es + 1, 1);
  int64_t n = numel_of(t->v.rank, t->v.shape);
  int64_t idx[TIRRT_MAX_RANK];
  for (int64_t lin = 0; lin < n; lin++) {
    unravel(lin, t->v.rank, t->v.shape, idx);
    mark[(size_t)(tt_ptr(t, t->v.rank, idx) - tt_store(t)) / es] = 1;
  }
  int ok = 1;
  for (size_t k = 0; k < t->nbytes / es; k++)
    if (!mark[k] && memcmp(tt_store(t) + k * es, t->snap + k * es, es) != 0) ok = 0;
  free(mark);
  return ok;
}

/* out vs ref (row-major over out's shape) by relative norm; NaN/inf must
 * match exactly (an unwritten NaN poison where ref is finite fails). */
static void expect_close(const char *label, const tt_t *out, const long double *ref, double bound) {
  int64_t n = numel_of(out->v.rank, out->v.shape);
  long double num = 0, den = 0;
  int64_t bad = -1;
  for (int64_t k = 0; k < n && bad < 0; k++) {
    long double o = tt_lin(out, k), r = ref[k];
    if (isnan(r) || isinf(r) || isnan(o) || isinf(o)) {
      if (!(isnan(r) && isnan(o)) && o != r) bad = k;
      continue;
    }
    num += (o - r) * (o - r);
    den += r * r;
  }
  double rel = den > 0 ? (double)sqrtl(num / den) : (double)sqrtl(num);
  if (bad >= 0)
    check(0, "%s: element %" PRId64 " is %Lg, expected %Lg", label, bad, tt_lin(out, bad), ref[bad]);
  else
    check(rel <= bound, "%s: relative error %.3g > %.3g", label, rel, bound);
  check(tt_outside_ok(out), "%s: wrote outside the output view", label);
}

static void expect_exact(const char *label, const tt_t *out, const long double *ref) {
  int64_t n = numel_of(out->v.rank, out->v.shape);
  int64_t bad = -1;
  for (int64_t k = 0; k < n && bad < 0; k++) {
    long double o = tt_lin(out, k), r = ref[k];
    int64_t idx[TIRRT_MAX_RANK];
    unravel(k, out->v.rank, out->v.shape, idx);
    if (out->v.dtype == TIRRT_DTYPE_BOOL && *tt_ptr(out, out->v.rank, idx) > 1) bad = k;
    if (!(o == r || (isnan(o) && isnan(r)))) bad = k;
  }
  if (bad >= 0)
    check(0, "%s: element %" PRId64 " is %.21Lg, expected %.21Lg", label, bad, tt_lin(out, bad), ref[bad]);
  else
    check(1, "%s", label);
  check(tt_outside_ok(out), "%s: wrote outside the output view", label);
}

static void expect_result(const char *label, const tt_t *out, const long double *ref) {
  if (is_fl(out->v.dtype)) expect_close(label, out, ref, tol(out->v.dtype));
  else expect_exact(label, out, ref);
}

static long double *ref_alloc(const tt_t *out) {
  int64_t n = numel_of(out->v.rank, out->v.shape);
  return calloc((size_t)(n > 0 ? n : 1), sizeof(long double));
}

static const int64_t SH3[] = {3, 5, 7};

/* ------------------------------------------------------------ conversions and views */

static void test_conversions(void) {
  int bad_h = 0, bad_b = 0, bad_rt = 0;
  for (unsigned p = 0; p < 65536; p++) {
    float h = tirrt_half_to_float((uint16_t)p), b = tirrt_bf16_to_float((uint16_t)p);
    long double rh = dec_half((uint16_t)p), rb = dec_bf16((uint16_t)p);
    if (!((isnan(h) && isnan(rh)) || h == rh)) bad_h++;
    if (!((isnan(b) && isnan(rb)) || b == rb)) bad_b++;
    /* every non-NaN pattern survives a round trip through f32 and f64 */
    if (!isnan(rh) && (tirrt_float_to_half(h) != p || tirrt_double_to_half(h) != p)) bad_rt++;
    if (!isnan(rb) && (tirrt_float_to_bf16(b) != p || tirrt_double_to_bf16(b) != p)) bad_rt++;
    if (isnan(rh) && !isnan(tirrt_half_to_float(tirrt_float_to_half(h)))) bad_rt++;
    if (isnan(rb) && !isnan(tirrt_bf16_to_float(tirrt_float_to_bf16(b)))) bad_rt++;
  }
  check(bad_h == 0, "f16 -> f32 decodes %d patterns wrongly", bad_h);
  check(bad_b == 0, "bf16 -> f32 decodes %d patterns wrongly", bad_b);
  check(bad_rt == 0, "f16/bf16 round trips fail for %d patterns", bad_rt);
  /* Midpoints between neighbours (ties to even, the max -> inf boundary
   * included) and the doubles/floats just beside them. */
  int bad_mid = 0;
  for (int bf = 0; bf < 2; bf++) {
    unsigned inf = bf ? 0x7f80u : 0x7c00u;
    for (unsigned p = 0; p < inf; p++) {
      for (int sg = 0; sg < 2; sg++) {
        double m = (double)((narrow_val(bf, p) + narrow_val(bf, p + 1)) / 2);
        if (sg) m = -m;
        double cands[3] = {m, nextafter(m, INFINITY), nextafter(m, -INFINITY)};
        for (int c = 0; c < 3; c++) {
          uint16_t want = enc_narrow(cands[c], bf);
          uint16_t got = bf ? tirrt_double_to_bf16(cands[c]) : tirrt_double_to_half(cands[c]);
          if (got != want) bad_mid++;
          float f = c == 0 ? (float)m : nextafterf((float)m, c == 1 ? INFINITY : -INFINITY);
          want = enc_narrow(f, bf);
          got = bf ? tirrt_float_to_bf16(f) : tirrt_float_to_half(f);
          if (got != want) bad_mid++;
        }
      }
    }
  }
  check(bad_mid == 0, "f16/bf16 rounding at midpoints: %d wrong", bad_mid);
  int bad_rand = 0;
  for (int k = 0; k < 20000; k++) { /* magnitudes from far below subnormal to overflow */
    double d = ldexp(rnd_unif(1, 2), (int)rnd_int(-160, 140)) * (rnd64() & 1 ? -1 : 1);
    float f = (float)d;
    if (tirrt_double_to_half(d) != enc_narrow(d, 0) || tirrt_double_to_bf16(d) != enc_narrow(d, 1) ||
        tirrt_float_to_half(f) != enc_narrow(f, 0) || tirrt_float_to_bf16(f) != enc_narrow(f, 1))
      bad_rand++;
  }
  check(bad_rand == 0, "f16/bf16 rounding of random values: %d wrong", bad_rand);
}

static void test_views(void) {
  tirrt_tensor_desc_t desc = {TIRRT_DTYPE_F32, 3, {2, 3, 4}};
  float data[24];
  tirrt_view_t v = tirrt_view_contiguous(&desc, data);
  check(v.strides[0] == 12 && v.strides[1] == 4 && v.strides[2] == 1 && v.data == data,
        "contiguous strides");
  check(tirrt_view_numel(&v) == 24 && tirrt_view_is_contiguous(&v), "numel / is_contiguous");
  tirrt_view_t t = v;
  t.shape[1] = 4, t.shape[2] = 3, t.strides[1] = 1, t.strides[2] = 4;
  check(!tirrt_view_is_contiguous(&t), "a transposed view is not contiguous");
  tirrt_view_t u = v;
  u.shape[0] = 1, u.strides[0] = 999; /* a size-1 dim's stride is irrelevant */
  check(tirrt_view_is_contiguous(&u), "size-1 dims may have any stride");
  tirrt_tensor_desc_t d0 = {TIRRT_DTYPE_I8, 3, {2, 0, 4}};
  tirrt_view_t z = tirrt_view_contiguous(&d0, data);
  check(tirrt_view_numel(&z) == 0 && z.strides[0] == 4, "empty view strides");
  tirrt_view_t b;
  int64_t to[4] = {5, 2, 3, 4};
  if (expect_ok(tirrt_view_broadcast_to(&v, 4, to, &b), "broadcast_to"))
    check(b.rank == 4 && b.strides[0] == 0 && b.strides[1] == 12 && b.strides[3] == 1,
          "broadcast_to adds a stride-0 leading dim");
  tirrt_tensor_desc_t d1 = {TIRRT_DTYPE_F32, 2, {3, 1}};
  tirrt_view_t w = tirrt_view_contiguous(&d1, data);
  int64_t to2[3] = {2, 3, 4};
  if (expect_ok(tirrt_view_broadcast_to(&w, 3, to2, &b), "broadcast_to size-1"))
    check(b.strides[0] == 0 && b.strides[1] == 1 && b.strides[2] == 0, "size-1 dims grow with stride 0");
  int64_t bad[2] = {4, 4};
  expect_error(tirrt_view_broadcast_to(&w, 2, bad, &b), "cannot broadcast", "broadcast [3,1] to [4,4]");
  expect_error(tirrt_view_broadcast_to(&v, 2, bad, &b), "cannot broadcast", "broadcast to a lower rank");
}

/* ------------------------------------------------------------ unary */

static const char *const UN_NAMES[] = {"neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal",
                                       "tanh", "sigmoid", "relu", "silu", "erf", "sin", "cos",
                                       "gelu", "gelu_tanh", "logical_not"};

static long double ref_unary(tirrt_unop_t op, tirrt_dtype_t dt, long double x) {
  if (op == TIRRT_UN_LOGICAL_NOT) return x == 0;
  if (!is_fl(dt)) {
    int64_t v = (int64_t)x;
    int64_t neg = (int64_t)(0 - (uint64_t)v); /* gcc/clang wrap modulo 2^64 */
    switch (op) {
    case TIRRT_UN_NEG: return wrap_to(dt, neg);
    case TIRRT_UN_ABS: return wrap_to(dt, v < 0 ? neg : v);
    default: return v < 0 ? 0 : v; /* relu */
    }
  }
  switch (op) {
  case TIRRT_UN_NEG: return -x;
  case TIRRT_UN_ABS: return fabsl(x);
  case TIRRT_UN_EXP: return expl(x);
  case TIRRT_UN_LOG: return logl(x);
  case TIRRT_UN_SQRT: return sqrtl(x);
  case TIRRT_UN_RSQRT: return 1 / sqrtl(x);
  case TIRRT_UN_RECIPROCAL: return 1 / x;
  case TIRRT_UN_TANH: return tanhl(x);
  case TIRRT_UN_SIGMOID: return 1 / (1 + expl(-x));
  case TIRRT_UN_RELU: return x < 0 ? 0 : x;
  case TIRRT_UN_SILU: return x / (1 + expl(-x));
  case TIRRT_UN_ERF: return erfl(x);
  case TIRRT_UN_SIN: return sinl(x);
  case TIRRT_UN_COS: return cosl(x);
  /* the textbook forms, in long double so their cancellation costs nothing */
  case TIRRT_UN_GELU: return 0.5L * x * (1 + erfl(x / sqrtl(2)));
  case TIRRT_UN_GELU_TANH:
    return 0.5L * x * (1 + tanhl(sqrtl(2 / 3.14159265358979323846L) * (x + 0.044715L * x * x * x)));
  default: return NAN;
  }
}

static void run_unary(tirrt_unop_t op, tirrt_dtype_t dt, int xr, const int64_t *xs, int xl, int orank,
                      const int64_t *os, int ol, double lo, double hi) {
  tirrt_dtype_t odt = op == TIRRT_UN_LOGICAL_NOT ? TIRRT_DTYPE_BOOL : dt;
  tt_t x = tt_make(dt, xr, xs, xl), o = tt_make(odt, orank, os, ol);
  tt_rand(&x, lo, hi);
  tt_poison(&o);
  const char *lab = L("unary %s %s x rank %d %s -> out %s", UN_NAMES[op], dn(dt), xr, lay_name[xl],
                      lay_name[ol]);
  char label[256];
  snprintf(label, sizeof label, "%s", lab);
  if (expect_ok(tirrt_cpu_unary(op, &x.v, &o.v), label)) {
    long double *ref = ref_alloc(&o);
    int64_t n = numel_of(orank, os), idx[TIRRT_MAX_RANK];
    for (int64_t k = 0; k < n; k++) {
      unravel(k, orank, os, idx);
      ref[k] = ref_unary(op, dt, tt_at(&x, orank, idx));
    }
    expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&x);
  tt_free(&o);
}

static void test_unary(void) {
  const int64_t s1[] = {7}, s0[] = {1}, sz[] = {3, 0, 7};
  for (int op = TIRRT_UN_NEG; op <= TIRRT_UN_GELU_TANH; op++) {
    double lo = -4, hi = 4;
    if (op == TIRRT_UN_LOG || op == TIRRT_UN_SQRT || op == TIRRT_UN_RSQRT) lo = 0.05, hi = 5;
    if (op == TIRRT_UN_RECIPROCAL) lo = 0.25;
    for (int f = 0; f < COUNT(FLOATS); f++) {
      tirrt_dtype_t dt = FLOATS[f];
      for (int lay = LAY_C; lay <= LAY_E; lay++) run_unary(op, dt, 3, SH3, lay, 3, SH3, LAY_C, lo, hi);
      run_unary(op, dt, 1, s1, LAY_C, 3, SH3, LAY_C, lo, hi);  /* rank 1 against rank 3 */
      run_unary(op, dt, 0, s0, LAY_C, 3, SH3, LAY_P, lo, hi);  /* 0-d, strided output */
      run_unary(op, dt, 3, SH3, LAY_T, 3, SH3, LAY_P, lo, hi); /* both strided */
      run_unary(op, dt, 3, sz, LAY_C, 3, sz, LAY_C, lo, hi);   /* zero-size */
    }
  }
  /* Runs longer than the kernels' 512-element blocks. */
  const int64_t lng[] = {2, 1031}, lng1[] = {1031};
  for (int f = 0; f < COUNT(FLOATS); f++) {
    run_unary(TIRRT_UN_SILU, FLOATS[f], 2, lng, LAY_C, 2, lng, LAY_C, -4, 4);
    run_unary(TIRRT_UN_EXP, FLOATS[f], 2, lng, LAY_T, 2, lng, LAY_P, -4, 4);
    run_unary(TIRRT_UN_TANH, FLOATS[f], 1, lng1, LAY_C, 2, lng, LAY_C, -4, 4);
  }
  const tirrt_unop_t int_ops[] = {TIRRT_UN_NEG, TIRRT_UN_ABS, TIRRT_UN_RELU};
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < COUNT(INTS); i++) {
      run_unary(int_ops[k], INTS[i], 3, SH3, LAY_C, 3, SH3, LAY_C, -9.3e18, 9.3e18);
      run_unary(int_ops[k], INTS[i], 3, SH3, LAY_T, 3, SH3, LAY_P, -200, 200);
    }
  for (int a = 0; a < COUNT(ALL); a++) { /* logical_not on every input dtype */
    run_unary(TIRRT_UN_LOGICAL_NOT, ALL[a], 3, SH3, LAY_C, 3, SH3, LAY_C, -1, 1);
    run_unary(TIRRT_UN_LOGICAL_NOT, ALL[a], 1, s1, LAY_C, 3, SH3, LAY_P, -1, 1);
  }
  /* Integer extremes wrap: neg/abs of the minimum is the minimum. */
  {
    int64_t one = 1;
    tt_t x = tt_make(TIRRT_DTYPE_I8, 1, &one, LAY_C), o = tt_make(TIRRT_DTYPE_I8, 1, &one, LAY_C);
    st_set(TIRRT_DTYPE_I8, x.v.data, -128);
    tt_poison(&o);
    if (expect_ok(tirrt_cpu_unary(TIRRT_UN_ABS, &x.v, &o.v), "abs i8 -128"))
      check(tt_lin(&o, 0) == -128, "abs(i8 -128) wraps to -128");
    tt_free(&x);
    tt_free(&o);
  }
  /* sigmoid and silu stay finite far out in f32. */
  {
    int64_t n = 6;
    const float xs[6] = {-1000, -100, -88.8f, 88.8f, 100, 1000};
    tt_t x = tt_make(TIRRT_DTYPE_F32, 1, &n, LAY_C), o = tt_make(TIRRT_DTYPE_F32, 1, &n, LAY_C);
    memcpy(x.v.data, xs, sizeof xs);
    for (int op = TIRRT_UN_SIGMOID; op <= TIRRT_UN_SILU; op += TIRRT_UN_SILU - TIRRT_UN_SIGMOID) {
      tt_poison(&o);
      if (!expect_ok(tirrt_cpu_unary((tirrt_unop_t)op, &x.v, &o.v), "sigmoid/silu extremes")) continue;
      long double ref[6];
      for (int k = 0; k < 6; k++) ref[k] = ref_unary((tirrt_unop_t)op, TIRRT_DTYPE_F32, xs[k]);
      expect_close(L("%s at +-1000", UN_NAMES[op]), &o, ref, 1e-6);
    }
    tt_free(&x);
    tt_free(&o);
  }
  /* Errors, not crashes. */
  {
    tt_t x = tt_make(TIRRT_DTYPE_I32, 3, SH3, LAY_C), o = tt_make(TIRRT_DTYPE_I32, 3, SH3, LAY_C);
    tt_t b = tt_make(TIRRT_DTYPE_BOOL, 3, SH3, LAY_C), f = tt_make(TIRRT_DTYPE_F32, 3, SH3, LAY_C);
    tt_t x4 = tt_make(TIRRT_DTYPE_F32, 1, (int64_t[]){4}, LAY_C);
    tt_rand(&x, -5, 5);
    tt_rand(&b, 0, 1);
    tt_rand(&x4, -1, 1);
    expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &x.v, &o.v), "exp", "exp on i32");
    expect_error(tirrt_cpu_unary(TIRRT_UN_NEG, &b.v, &b.v), "neg", "neg on bool");
    expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &x.v, &f.v), "exp", "exp i32 -> f32");
    expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &x4.v, &f.v), "broadcast", "exp [4] -> [3,5,7]");
    expect_error(tirrt_cpu_unary(TIRRT_UN_LOGICAL_NOT, &x.v, &o.v), "logical_not", "not -> i32");
    expect_error(tirrt_cpu_unary((tirrt_unop_t)99, &x.v, &o.v), "unknown", "unknown unary op");
    tirrt_view_t nodata = f.v;
    nodata.data = NULL;
    expect_error(tirrt_cpu_unary(TIRRT_UN_EXP, &nodata, &f.v), "no data", "NULL data");
    tt_free(&x), tt_free(&o), tt_free(&b), tt_free(&f), tt_free(&x4);
  }
}

/* ------------------------------------------------------------ binary */

static const char *const BIN_NAMES[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                        "eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                        "logical_or"};

static long double ref_binary(tirrt_binop_t op, tirrt_dtype_t dt, long double a, long double b) {
  switch (op) {
  case TIRRT_BIN_EQ: return a == b;
  case TIRRT_BIN_NE: return a != b;
  case TIRRT_BIN_LT: return a < b;
  case TIRRT_BIN_LE: return a <= b;
  case TIRRT_BIN_GT: return a > b;
  case TIRRT_BIN_GE: return a >= b;
  case TIRRT_BIN_LOGICAL_AND: return a != 0 && b != 0;
  case TIRRT_BIN_LOGICAL_OR: return a != 0 || b != 0;
  case TIRRT_BIN_MAXIMUM: return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
  case TIRRT_BIN_MINIMUM: return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
  default: break;
  }
  if (is_fl(dt)) {
    switch (op) {
    case TIRRT_BIN_ADD: return a + b;
    case TIRRT_BIN_SUB: return a - b;
    case TIRRT_BIN_MUL: return a * b;
    case TIRRT_BIN_DIV: return a / b;
    default: return powl(a, b);
    }
  }
  uint64_t x = (uint64_t)(int64_t)a, y = (uint64_t)(int64_t)b, r = 1;
  switch (op) {
  case TIRRT_BIN_ADD: r = x + y; break;
  case TIRRT_BIN_SUB: r = x - y; break;
  case TIRRT_BIN_MUL: r = x * y; break;
  case TIRRT_BIN_DIV: r = (int64_t)b == -1 ? 0 - x : (uint64_t)((int64_t)a / (int64_t)b); break;
  default:
    for (int64_t e = 0; e < (int64_t)b; e++) r *= x;
    break;
  }
  return wrap_to(dt, (int64_t)r);
}

typedef struct {
  int rank;
  const int64_t *shape;
  int lay;
} spec_t;

/* Fills t with integer values in [lo, hi] (floats too, so comparisons
 * see ties). */
static void tt_rand_integral(tt_t *t, int lo, int hi) {
  size_t es = tirrt_dtype_size(t->v.dtype);
  for (size_t k = 0; k < t->nbytes / es; k++)
    st_set(t->v.dtype, tt_store(t) + k * es, (long double)rnd_int(lo, hi));
}

static void run_binary(tirrt_binop_t op, tirrt_dtype_t dt, spec_t sa, spec_t sb, spec_t so) {
  tirrt_dtype_t odt = op >= TIRRT_BIN_EQ ? TIRRT_DTYPE_BOOL : dt;
  tt_t a = tt_make(dt, sa.rank, sa.shape, sa.lay), b = tt_make(dt, sb.rank, sb.shape, sb.lay);
  tt_t o = tt_make(odt, so.rank, so.shape, so.lay);
  if (op >= TIRRT_BIN_EQ) { /* small integers: ties and zeros happen */
    tt_rand_integral(&a, -2, 2);
    tt_rand_integral(&b, -2, 2);
  } else if (op == TIRRT_BIN_POW) {
    if (is_fl(dt)) tt_rand(&a, 0.5, 2), tt_rand(&b, -2, 2);
    else tt_rand_integral(&a, -5, 5), tt_rand_integral(&b, 0, 6);
  } else if (op == TIRRT_BIN_DIV && !is_fl(dt)) {
    tt_rand(&a, -1e18, 1e18);
    tt_rand_integral(&b, 1, 40);
  } else if (is_fl(dt)) {
    tt_rand(&a, -4, 4);
    tt_rand(&b, op == TIRRT_BIN_DIV ? 0.5 : -4, 4);
  } else { /* the whole range: add/sub/mul wrap */
    tt_rand(&a, -9.3e18, 9.3e18);
    tt_rand(&b, -9.3e18, 9.3e18);
  }
  tt_poison(&o);
  char label[256];
  snprintf(label, sizeof label, "binary %s %s: %s rank %d, %s rank %d -> %s", BIN_NAMES[op], dn(dt),
           lay_name[sa.lay], sa.rank, lay_name[sb.lay], sb.rank, lay_name[so.lay]);
  if (expect_ok(tirrt_cpu_binary(op, &a.v, &b.v, &o.v), label)) {
    long double *ref = ref_alloc(&o);
    int64_t n = numel_of(so.rank, so.shape), idx[TIRRT_MAX_RANK];
    for (int64_t k = 0; k < n; k++) {
      unravel(k, so.rank, so.shape, idx);
      ref[k] = ref_binary(op, dt, tt_at(&a, so.rank, idx), tt_at(&b, so.rank, idx));
    }
    expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&a);
  tt_free(&b);
  tt_free(&o);
}

static void test_binary(void) {
  const int64_t s7[] = {7}, s0[] = {1}, s317[] = {3, 1, 7}, s51[] = {5, 1}, s157[] = {1, 5, 7};
  const int64_t sz[] = {3, 0, 7};
  const spec_t full = {3, SH3, LAY_C};
  const spec_t combos[][3] = {
      {full, full, full},
      {{3, SH3, LAY_T}, {3, SH3, LAY_P}, full},
      {full, {1, s7, LAY_C}, full},                       /* rank 1 against rank 3 */
      {{3, s317, LAY_C}, {2, s51, LAY_E}, full},          /* size-1 dims both ways */
      {{0, s0, LAY_C}, {3, SH3, LAY_T}, full},            /* 0-d scalar */
      {{3, SH3, LAY_E}, {3, s157, LAY_C}, {3, SH3, LAY_P}}, /* expanded, strided output */
      {{3, sz, LAY_C}, {1, s7, LAY_C}, {3, sz, LAY_C}},   /* zero-size */
  };
  for (int op = TIRRT_BIN_ADD; op <= TIRRT_BIN_LOGICAL_OR; op++)
    for (int d = 0; d < COUNT(ALL); d++) {
      tirrt_dtype_t dt = ALL[d];
      if (dt == TIRRT_DTYPE_BOOL && op <= TIRRT_BIN_POW) continue; /* rejected, tested below */
      for (int c = 0; c < COUNT(combos); c++)
        run_binary((tirrt_binop_t)op, dt, combos[c][0], combos[c][1], combos[c][2]);
    }
  /* Runs longer than the kernels' 512-element blocks. */
  const int64_t lng[] = {2, 1031}, lng1[] = {1031};
  const spec_t lc = {2, lng, LAY_C};
  for (int d = 0; d < COUNT(ALL); d++) {
    tirrt_dtype_t dt = ALL[d];
    const tirrt_binop_t ops[] = {TIRRT_BIN_MAXIMUM, TIRRT_BIN_LT, TIRRT_BIN_MUL};
    for (int k = 0; k < 3; k++) {
      if (dt == TIRRT_DTYPE_BOOL && ops[k] == TIRRT_BIN_MUL) continue;
      run_binary(ops[k], dt, lc, lc, lc);
      run_binary(ops[k], dt, (spec_t){2, lng, LAY_T}, (spec_t){1, lng1, LAY_C}, (spec_t){2, lng, LAY_P});
    }
  }
  /* Special values: NaN propagation, float division by zero. */
  for (int f = 0; f < COUNT(FLOATS); f++) {
    tirrt_dtype_t dt = FLOATS[f];
    int64_t n = 5;
    const long double av[5] = {1, NAN, 3, NAN, -1}, bv[5] = {NAN, 2, 0, NAN, 0};
    tt_t a = tt_make(dt, 1, &n, LAY_C), b = tt_make(dt, 1, &n, LAY_C), o = tt_make(dt, 1, &n, LAY_C);
    for (int k = 0; k < 5; k++) tt_set_lin(&a, k, av[k]), tt_set_lin(&b, k, bv[k]);
    const tirrt_binop_t ops[] = {TIRRT_BIN_MAXIMUM, TIRRT_BIN_MINIMUM, TIRRT_BIN_DIV, TIRRT_BIN_ADD};
    for (int k = 0; k < 4; k++) {
      tt_poison(&o);
      char label[96];
      snprintf(label, sizeof label, "%s %s with NaN/0", BIN_NAMES[ops[k]], dn(dt));
      if (!expect_ok(tirrt_cpu_binary(ops[k], &a.v, &b.v, &o.v), label)) continue;
      long double ref[5];
      for (int i = 0; i < 5; i++) ref[i] = ref_binary(ops[k], dt, av[i], bv[i]);
      expect_exact(label, &o, ref); /* NaN where ref is NaN, +-inf for x/0 */
    }
    tt_free(&a), tt_free(&b), tt_free(&o);
  }
  /* Integer edge cases and errors. */
  {
    int64_t n = 2;
    tt_t a = tt_make(TIRRT_DTYPE_I64, 1, &n, LAY_C), b = tt_make(TIRRT_DTYPE_I64, 1, &n, LAY_C);
    tt_t o = tt_make(TIRRT_DTYPE_I64, 1, &n, LAY_C);
    int64_t av[2] = {INT64_MIN, 7}, bv[2] = {-1, -2};
    memcpy(a.v.data, av, sizeof av);
    memcpy(b.v.data, bv, sizeof bv);
    tt_poison(&o);
    if (expect_ok(tirrt_cpu_binary(TIRRT_BIN_DIV, &a.v, &b.v, &o.v), "i64 div"))
      check(tt_lin(&o, 0) == (long double)INT64_MIN && tt_lin(&o, 1) == -3,
            "INT64_MIN / -1 wraps, 7 / -2 truncates");
    bv[1] = 0;
    memcpy(b.v.data, bv, sizeof bv);
    /* docs/language.md: integer x / 0 is 0 and a negative integer power is
     * the integer part of the true power, on every target and in the folder. */
    if (expect_ok(tirrt_cpu_binary(TIRRT_BIN_DIV, &a.v, &b.v, &o.v), "i64 x / 0"))
      check(tt_lin(&o, 1) == 0, "7 / 0 is 0");
    bv[1] = -3;
    memcpy(b.v.data, bv, sizeof bv);
    if (expect_ok(tirrt_cpu_binary(TIRRT_BIN_POW, &a.v, &b.v, &o.v), "i64 pow -3"))
      check(tt_lin(&o, 1) == 0, "7 ** -3 is 0");
    tt_t c = tt_make(TIRRT_DTYPE_BOOL, 1, &n, LAY_C), f = tt_make(TIRRT_DTYPE_F32, 1, &n, LAY_C);
    tt_rand(&c, 0, 1);
    expect_error(tirrt_cpu_binary(TIRRT_BIN_ADD, &c.v, &c.v, &c.v), "add", "bool add");
    expect_error(tirrt_cpu_binary(TIRRT_BIN_ADD, &a.v, &f.v, &o.v), "different dtypes", "i64 + f32");
    expect_error(tirrt_cpu_binary(TIRRT_BIN_LT, &a.v, &b.v, &o.v), "output", "lt into i64");
    tt_t t3 = tt_make(TIRRT_DTYPE_I64, 1, (int64_t[]){3}, LAY_C);
    tt_rand(&t3, -3, 3);
    expect_error(tirrt_cpu_binary(TIRRT_BIN_ADD, &a.v, &t3.v, &o.v), "broadcast", "[2] + [3]");
    tt_free(&a), tt_free(&b), tt_free(&o), tt_free(&c), tt_free(&f), tt_free(&t3);
  }
}

/* ------------------------------------------------------------ where, masked_fill */

static void test_where(void) {
  const int64_t s51[] = {5, 1}, s7[] = {7}, s0[] = {1};
  for (int d = 0; d < COUNT(ALL); d++) {
    tirrt_dtype_t dt = ALL[d];
    for (int v = 0; v < 3; v++) {
      tt_t c = v == 2 ? tt_make(TIRRT_DTYPE_BOOL, 3, SH3, LAY_T) : tt_make(TIRRT_DTYPE_BOOL, 2, s51, LAY_C);
      tt_t a = tt_make(dt, 3, SH3, v == 0 ? LAY_T : LAY_P);
      tt_t b = v == 1 ? tt_make(dt, 0, s0, LAY_C) : tt_make(dt, 1, s7, LAY_C);
      tt_t o = tt_make(dt, 3, SH3, v == 2 ? LAY_P : LAY_C);
      tt_rand(&c, 0, 1), tt_rand(&a, -100, 100), tt_rand(&b, -100, 100);
      tt_poison(&o);
      char label[96];
      snprintf(label, sizeof label, "where %s variant %d", dn(dt), v);
      if (expect_ok(tirrt_cpu_where(&c.v, &a.v, &b.v, &o.v), label)) {
        long double *ref = ref_alloc(&o);
        int64_t idx[TIRRT_MAX_RANK];
        for (int64_t k = 0; k < 105; k++) {
          unravel(k, 3, SH3, idx);
          ref[k] = tt_at(&c, 3, idx) != 0 ? tt_at(&a, 3, idx) : tt_at(&b, 3, idx);
        }
        expect_exact(label, &o, ref);
        free(ref);
      }
      /* masked_fill(x = a, mask = c, value) */
      const double values[] = {2.75, -1e10, NAN, 1e10};
      double value = values[v + (d % 2)];
      tt_poison(&o);
      snprintf(label, sizeof label, "masked_fill %s value %g", dn(dt), value);
      if (expect_ok(tirrt_cpu_masked_fill(&a.v, &c.v, value, &o.v), label)) {
        long double *ref = ref_alloc(&o);
        int64_t idx[TIRRT_MAX_RANK];
        for (int64_t k = 0; k < 105; k++) {
          unravel(k, 3, SH3, idx);
          ref[k] = tt_at(&c, 3, idx) != 0 ? conv_ref(value, TIRRT_DTYPE_F64, dt) : tt_at(&a, 3, idx);
        }
        expect_exact(label, &o, ref);
        free(ref);
      }
      tt_free(&c), tt_free(&a), tt_free(&b), tt_free(&o);
    }
  }
  tt_t c = tt_make(TIRRT_DTYPE_I8, 1, s7, LAY_C), a = tt_make(TIRRT_DTYPE_F32, 1, s7, LAY_C);
  tt_rand(&c, 0, 1), tt_rand(&a, 0, 1);
  expect_error(tirrt_cpu_where(&c.v, &a.v, &a.v, &a.v), "condition", "where with an i8 condition");
  expect_error(tirrt_cpu_masked_fill(&a.v, &c.v, 1.0, &a.v), "mask", "masked_fill with an i8 mask");
  tt_free(&c), tt_free(&a);
}

/* ------------------------------------------------------------ cast */

static void test_cast(void) {
  static const double specials[] = {NAN, INFINITY, -INFINITY, 1e10, -1e10, 0.5, -0.5, -0.0,
                                    2.5, -2.5, 127.9, 128.5, -128.9, -129, 255.5, 256, 65504,
                                    65520, 65519.99, 1e-8, 3e38, 9223372036854775808.0,
                                    -9223372036854775808.0, 2147483648.0, -2147483649.0, 1e20};
  for (int s = 0; s < COUNT(ALL); s++)
    for (int d = 0; d < COUNT(ALL); d++) {
      tirrt_dtype_t st = ALL[s], dt = ALL[d];
      for (int v = 0; v < 2; v++) {
        tt_t x = tt_make(st, 3, SH3, v ? LAY_C : LAY_T), o = tt_make(dt, 3, SH3, v ? LAY_P : LAY_C);
        size_t es = tirrt_dtype_size(st);
        for (size_t k = 0; k < x.nbytes / es; k++) {
          unsigned char *p = tt_store(&x) + k * es;
          if (is_fl(st)) {
            st_set(st, p, rnd64() % 3 ? rnd_unif(-300, 300) : specials[rnd64() % COUNT(specials)]);
          } else if (st == TIRRT_DTYPE_BOOL) {
            st_set(st, p, rnd64() & 1);
          } else { /* random bits: every value of the type, wrapping cases included */
            uint64_t r = rnd64();
            if (st == TIRRT_DTYPE_I64 && !ld64) r = (uint64_t)rnd_int(-(INT64_C(1) << 53), INT64_C(1) << 53);
            if (rnd64() % 4 == 0) r = (uint64_t)rnd_int(-300, 300);
            memcpy(p, &r, es); /* little-endian: the low bytes */
          }
        }
        tt_poison(&o);
        char label[96];
        snprintf(label, sizeof label, "cast %s -> %s (%s)", dn(st), dn(dt), v ? "to strided" : "from transposed");
        if (expect_ok(tirrt_cpu_copy(&x.v, &o.v), label)) {
          long double *ref = ref_alloc(&o);
          for (int64_t k = 0; k < 105; k++) ref[k] = conv_ref(tt_lin(&x, k), st, dt);
          expect_exact(label, &o, ref);
          free(ref);
        }
        tt_free(&x), tt_free(&o);
      }
    }
  /* int64 values just past a bf16 midpoint that a rounding to f64 would
   * turn into an exact tie (a double rounding): 2^62 + 2^54 + 1 must round
   * up.  Random values almost never hit these. */
  if (ld64) {
    const int64_t vals[4] = {(INT64_C(1) << 62) + (INT64_C(1) << 54) + 1,
                             -((INT64_C(1) << 62) + (INT64_C(1) << 54) + 1),
                             (INT64_C(1) << 61) + (INT64_C(1) << 53) - 1, INT64_MAX};
    const tirrt_dtype_t to[3] = {TIRRT_DTYPE_BF16, TIRRT_DTYPE_F32, TIRRT_DTYPE_F16};
    int64_t n = 4;
    tt_t x = tt_make(TIRRT_DTYPE_I64, 1, &n, LAY_C);
    memcpy(x.v.data, vals, sizeof vals);
    for (int k = 0; k < 3; k++) {
      tt_t o = tt_make(to[k], 1, &n, LAY_C);
      tt_poison(&o);
      char label[64];
      snprintf(label, sizeof label, "cast i64 -> %s near midpoints", dn(to[k]));
      if (expect_ok(tirrt_cpu_copy(&x.v, &o.v), label)) {
        long double ref[4];
        for (int i = 0; i < 4; i++) ref[i] = conv_ref((long double)vals[i], TIRRT_DTYPE_I64, to[k]);
        expect_exact(label, &o, ref);
      }
      tt_free(&o);
    }
    tt_free(&x);
  }
  /* Broadcasting copy (expand) and a zero-size copy. */
  const int64_t s7[] = {7}, sz[] = {3, 0, 7};
  tt_t x = tt_make(TIRRT_DTYPE_F32, 1, s7, LAY_C), o = tt_make(TIRRT_DTYPE_BF16, 3, SH3, LAY_T);
  tt_rand(&x, -2, 2);
  tt_poison(&o);
  if (expect_ok(tirrt_cpu_copy(&x.v, &o.v), "broadcast copy f32[7] -> bf16[3,5,7]")) {
    long double ref[105];
    for (int k = 0; k < 105; k++) ref[k] = conv_ref(tt_lin(&x, k % 7), TIRRT_DTYPE_F32, TIRRT_DTYPE_BF16);
    expect_exact("broadcast copy", &o, ref);
  }
  tt_t ez = tt_make(TIRRT_DTYPE_F32, 3, sz, LAY_C), oz = tt_make(TIRRT_DTYPE_I16, 3, sz, LAY_C);
  tt_poison(&oz);
  if (expect_ok(tirrt_cpu_copy(&ez.v, &oz.v), "zero-size cast")) check(tt_outside_ok(&oz), "zero-size cast wrote");
  tt_free(&x), tt_free(&o), tt_free(&ez), tt_free(&oz);
}

/* ------------------------------------------------------------ reductions */

static const char *const RED_NAMES[] = {"sum", "mean", "amax", "amin"};

static void run_reduce(tirrt_redop_t op, tirrt_dtype_t dt, int rank, const int64_t *shape, int lay,
                       uint32_t mask, int olay, int nan_at) {
  int64_t os[TIRRT_MAX_RANK];
  for (int d = 0; d < rank; d++) os[d] = (mask >> d) & 1 ? 1 : shape[d];
  tirrt_dtype_t odt = op == TIRRT_RED_SUM && !is_fl(dt) ? TIRRT_DTYPE_I64 : dt;
  tt_t x = tt_make(dt, rank, shape, lay), o = tt_make(odt, rank, os, olay);
  if (is_fl(dt)) tt_rand(&x, -3, 3);
  else tt_rand(&x, -9.3e18, 9.3e18); /* i64 sums wrap */
  int64_t n = numel_of(rank, shape), on = numel_of(rank, os);
  if (nan_at >= 0 && n > nan_at) tt_set_lin(&x, nan_at, NAN);
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "%s %s %s mask 0x%x -> %s%s", RED_NAMES[op], dn(dt), lay_name[lay],
           (unsigned)mask, lay_name[olay], nan_at >= 0 ? " with a NaN" : "");
  if (expect_ok(tirrt_cpu_reduce(op, &x.v, mask, &o.v), label)) {
    long double *ref = ref_alloc(&o), *cnt = ref_alloc(&o);
    uint64_t *isum = calloc((size_t)(on > 0 ? on : 1), 8);
    for (int64_t k = 0; k < on; k++) ref[k] = op == TIRRT_RED_AMAX ? -INFINITY : op == TIRRT_RED_AMIN ? INFINITY : 0;
    int64_t idx[TIRRT_MAX_RANK];
    for (int64_t k = 0; k < n; k++) {
      unravel(k, rank, shape, idx);
      int64_t ok = 0;
      for (int d = 0; d < rank; d++) ok = ok * os[d] + ((mask >> d) & 1 ? 0 : idx[d]);
      long double v = tt_at(&x, rank, idx);
      cnt[ok] += 1;
      isum[ok] += (uint64_t)(int64_t)v;
      if (op == TIRRT_RED_SUM || op == TIRRT_RED_MEAN) ref[ok] += v;
      else if (isnan(v) || isnan(ref[ok])) ref[ok] = NAN;
      else if (op == TIRRT_RED_AMAX ? v > ref[ok] : v < ref[ok]) ref[ok] = v;
    }
    for (int64_t k = 0; k < on; k++) {
      if (op == TIRRT_RED_MEAN) ref[k] = cnt[k] > 0 ? ref[k] / cnt[k] : NAN;
      if (op == TIRRT_RED_SUM && !is_fl(dt)) ref[k] = (long double)(int64_t)isum[k];
    }
    expect_result(label, &o, ref);
    free(ref), free(cnt), free(isum);
  }
  tt_free(&x), tt_free(&o);
}

static void test_reduce(void) {
  const uint32_t masks[] = {0, 1, 2, 4, 3, 5, 6, 7};
  for (int op = TIRRT_RED_SUM; op <= TIRRT_RED_AMIN; op++)
    for (int d = 0; d < COUNT(ALL); d++) {
      tirrt_dtype_t dt = ALL[d];
      if (op == TIRRT_RED_MEAN && !is_fl(dt)) continue;
      for (int m = 0; m < COUNT(masks); m++)
        for (int lay = LAY_C; lay <= LAY_P; lay++)
          run_reduce((tirrt_redop_t)op, dt, 3, SH3, lay, masks[m], m == 5 ? LAY_P : LAY_C, -1);
      const int64_t s0[] = {1};
      run_reduce((tirrt_redop_t)op, dt, 0, s0, LAY_C, 0, LAY_C, -1); /* 0-d */
      if (is_fl(dt) && op >= TIRRT_RED_AMAX) {                     /* NaN propagates */
        run_reduce((tirrt_redop_t)op, dt, 3, SH3, LAY_C, 7, LAY_C, 38);
        run_reduce((tirrt_redop_t)op, dt, 3, SH3, LAY_T, 2, LAY_C, 38);
      }
    }
  /* A long reduction keeps f32 accuracy (f64 accumulation). */
  const int64_t big[] = {4, 3001};
  run_reduce(TIRRT_RED_SUM, TIRRT_DTYPE_F32, 2, big, LAY_C, 2, LAY_C, -1);
  run_reduce(TIRRT_RED_MEAN, TIRRT_DTYPE_BF16, 2, big, LAY_T, 3, LAY_C, -1);
  /* Zero-size: sum 0, mean NaN, amax an error; an empty output is fine. */
  const int64_t sz[] = {3, 0, 7};
  run_reduce(TIRRT_RED_SUM, TIRRT_DTYPE_F32, 3, sz, LAY_C, 2, LAY_C, -1);
  run_reduce(TIRRT_RED_SUM, TIRRT_DTYPE_I32, 3, sz, LAY_C, 2, LAY_C, -1);
  run_reduce(TIRRT_RED_MEAN, TIRRT_DTYPE_F64, 3, sz, LAY_C, 2, LAY_C, -1);
  run_reduce(TIRRT_RED_AMAX, TIRRT_DTYPE_F32, 3, sz, LAY_C, 1, LAY_C, -1);
  {
    const int64_t os[] = {3, 1, 7};
    tt_t x = tt_make(TIRRT_DTYPE_F32, 3, sz, LAY_C), o = tt_make(TIRRT_DTYPE_F32, 3, os, LAY_C);
    tt_poison(&o);
    expect_error(tirrt_cpu_reduce(TIRRT_RED_AMAX, &x.v, 2, &o.v), "size 0", "amax over an empty dim");
    expect_error(tirrt_cpu_reduce(TIRRT_RED_SUM, &x.v, 1, &o.v), "shape", "sum with a wrong output shape");
    expect_error(tirrt_cpu_reduce(TIRRT_RED_SUM, &x.v, 8, &o.v), "mask", "mask beyond the rank");
    tt_free(&x), tt_free(&o);
  }
}

/* ------------------------------------------------------------ softmax */

static void run_softmax(tirrt_dtype_t dt, int dim, int log, int lay, int olay, double mag, int inf_row) {
  tt_t x = tt_make(dt, 3, SH3, lay), o = tt_make(dt, 3, SH3, olay);
  tt_rand(&x, -mag, mag);
  int dd = dim < 0 ? dim + 3 : dim;
  int64_t idx[TIRRT_MAX_RANK];
  if (inf_row) /* the row through element 0 is all -inf */
    for (int64_t k = 0; k < 105; k++) {
      unravel(k, 3, SH3, idx);
      int in_row = 1;
      for (int d = 0; d < 3; d++) in_row &= d == dd || idx[d] == 0;
      if (in_row) tt_set_lin(&x, k, -INFINITY);
    }
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "%s %s dim %d %s -> %s, |x| <= %g%s", log ? "log_softmax" : "softmax",
           dn(dt), dim, lay_name[lay], lay_name[olay], mag, inf_row ? ", a -inf row" : "");
  if (expect_ok(tirrt_cpu_softmax(&x.v, dim, log != 0, &o.v), label)) {
    long double ref[105];
    for (int64_t k = 0; k < 105; k++) {
      unravel(k, 3, SH3, idx);
      int64_t j = idx[dd];
      long double mx = -INFINITY, sum = 0;
      for (idx[dd] = 0; idx[dd] < SH3[dd]; idx[dd]++) mx = fmaxl(mx, tt_at(&x, 3, idx));
      for (idx[dd] = 0; idx[dd] < SH3[dd]; idx[dd]++) sum += expl(tt_at(&x, 3, idx) - mx);
      idx[dd] = j;
      long double v = tt_at(&x, 3, idx);
      if (isinf(mx)) ref[k] = NAN; /* all -inf: NaN like torch */
      else ref[k] = log ? v - mx - logl(sum) : expl(v - mx) / sum;
    }
    expect_close(label, &o, ref, tol(dt));
  }
  tt_free(&x), tt_free(&o);
}

static void test_softmax(void) {
  const int dims[] = {0, 1, 2, -1};
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int log = 0; log < 2; log++) {
      for (int d = 0; d < 4; d++)
        for (int lay = LAY_C; lay <= LAY_P; lay++) run_softmax(FLOATS[f], dims[d], log, lay, LAY_C, 5, 0);
      run_softmax(FLOATS[f], -1, log, LAY_T, LAY_P, 5, 0);
      run_softmax(FLOATS[f], 2, log, LAY_C, LAY_C, 1e4, 0); /* large magnitudes */
      run_softmax(FLOATS[f], 1, log, LAY_P, LAY_C, 1e4, 0);
      run_softmax(FLOATS[f], 2, log, LAY_C, LAY_C, 5, 1);   /* a row of -inf */
    }
  const int64_t sz[] = {3, 0, 7};
  tt_t x = tt_make(TIRRT_DTYPE_F32, 3, sz, LAY_C), o = tt_make(TIRRT_DTYPE_F32, 3, sz, LAY_C);
  tt_poison(&o);
  if (expect_ok(tirrt_cpu_softmax(&x.v, 1, false, &o.v), "softmax zero-size")) check(tt_outside_ok(&o), "softmax zero-size wrote");
  expect_error(tirrt_cpu_softmax(&x.v, 3, false, &o.v), "dim", "softmax dim 3 of rank 3");
  tt_free(&x), tt_free(&o);
}

/* ------------------------------------------------------------ layer_norm, rms_norm */

static void run_norm(int rms, tirrt_dtype_t dt, int nd, int has_w, int has_b, int lay, double eps) {
  const int64_t *ws = SH3 + 3 - nd;
  tt_t x = tt_make(dt, 3, SH3, lay), o = tt_make(dt, 3, SH3, lay == LAY_C ? LAY_C : LAY_P);
  tt_t w = tt_make(dt, nd, ws, lay == LAY_T ? LAY_T : LAY_C), b = tt_make(dt, nd, ws, LAY_C);
  tt_rand(&x, -3, 5), tt_rand(&w, 0.5, 2), tt_rand(&b, -1, 1);
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "%s %s over %d dims%s%s %s eps %g", rms ? "rms_norm" : "layer_norm", dn(dt),
           nd, has_w ? " +weight" : "", has_b ? " +bias" : "", lay_name[lay], eps);
  tirrt_status_t s = rms ? tirrt_cpu_rms_norm(&x.v, has_w ? &w.v : NULL, eps, &o.v)
                         : tirrt_cpu_layer_norm(&x.v, has_w ? &w.v : NULL, has_b ? &b.v : NULL, nd, eps, &o.v);
  if (expect_ok(s, label)) {
    if (eps < 0)
      eps = dt == TIRRT_DTYPE_F16 ? 0.0009765625 : dt == TIRRT_DTYPE_BF16 ? 0.0078125
            : dt == TIRRT_DTYPE_F32 ? FLT_EPSILON : DBL_EPSILON;
    int64_t m = numel_of(nd, ws), rows = 105 / m;
    long double ref[105];
    for (int64_t r = 0; r < rows; r++) {
      long double mean = 0, var = 0;
      for (int64_t i = 0; i < m; i++) mean += tt_lin(&x, r * m + i);
      mean = rms ? 0 : mean / m;
      for (int64_t i = 0; i < m; i++) var += (tt_lin(&x, r * m + i) - mean) * (tt_lin(&x, r * m + i) - mean);
      var /= m;
      for (int64_t i = 0; i < m; i++) {
        long double y = (tt_lin(&x, r * m + i) - mean) / sqrtl(var + eps);
        if (has_w) y *= tt_lin(&w, i);
        if (has_b) y += tt_lin(&b, i);
        ref[r * m + i] = y;
      }
    }
    expect_close(label, &o, ref, tol(dt));
  }
  tt_free(&x), tt_free(&o), tt_free(&w), tt_free(&b);
}

static void test_norms(void) {
  for (int f = 0; f < COUNT(FLOATS); f++)
    for (int nd = 1; nd <= 2; nd++)
      for (int lay = LAY_C; lay <= LAY_P; lay++) {
        run_norm(0, FLOATS[f], nd, 0, 0, lay, 1e-5);
        run_norm(0, FLOATS[f], nd, 1, 0, lay, 1e-5);
        run_norm(0, FLOATS[f], nd, 1, 1, lay, 1e-5);
        run_norm(1, FLOATS[f], nd, 1, 0, lay, 1e-6);
        run_norm(1, FLOATS[f], nd, 1, 0, lay, -1);
        if (nd == 1) run_norm(1, FLOATS[f], 1, 0, 0, lay, -1);
      }
  tt_t x = tt_make(TIRRT_DTYPE_F32, 3, SH3, LAY_C), o = tt_make(TIRRT_DTYPE_F32, 3, SH3, LAY_C);
  tt_t w = tt_make(TIRRT_DTYPE_F32, 1, (int64_t[]){5}, LAY_C);
  expect_error(tirrt_cpu_rms_norm(&x.v, &w.v, -1, &o.v), "weight shape", "rms_norm weight [5] for [3,5,7]");
  expect_error(tirrt_cpu_layer_norm(&x.v, &w.v, NULL, 1, 1e-5, &o.v), "weight", "layer_norm weight [5]");
  expect_error(tirrt_cpu_layer_norm(&x.v, NULL, NULL, 4, 1e-5, &o.v), "trailing", "layer_norm over 4 dims");
  tt_free(&x), tt_free(&o), tt_free(&w);
}

/* ------------------------------------------------------------ matmul, linear */

/* ref for out = a @ b (+ bias), batch dims broadcast; integers wrap. */
static void matmul_ref(const tt_t *a, const tt_t *b, const tt_t *bias, const tt_t *o, long double *ref) {
  int R = o->v.rank;
  int64_t M = o->v.shape[R - 2], N = o->v.shape[R - 1], K = a->v.shape[a->v.rank - 1];
  int64_t n = numel_of(R, o->v.shape), idx[TIRRT_MAX_RANK], ia[TIRRT_MAX_RANK], ib[TIRRT_MAX_RANK];
  int fl = is_fl(o->v.dtype);
  for (int64_t k = 0; k < n; k++) {
    unravel(k, R, o->v.shape, idx);
    memcpy(ia, idx, sizeof ia);
    memcpy(ib, idx, sizeof ib);
    long double acc = 0;
    uint64_t iacc = 0;
    for (int64_t q = 0; q < K; q++) {
      ia[R - 1] = q; /* a[..., i, q] */
      ib[R - 2] = q; /* b[..., q, j] */
      long double x = tt_at(a, R, ia), y = tt_at(b, R, ib);
      acc += x * y;
      iacc += (uint64_t)(int64_t)x * (uint64_t)(int64_t)y;
    }
    (void)M, (void)N;
    if (bias) {
      int64_t j = idx[R - 1];
      long double bv = tt_lin(bias, bias->v.shape[0] == 1 ? 0 : j);
      acc += bv;
      iacc += (uint64_t)(int64_t)bv;
    }
    ref[k] = fl ? acc : (long double)wrap_to(o->v.dtype, (int64_t)iacc);
  }
}

static void run_matmul(tirrt_dtype_t dt, spec_t sa, spec_t sb, int olay, const char *what) {
  int R = sa.rank > sb.rank ? sa.rank : sb.rank;
  int64_t os[TIRRT_MAX_RANK];
  for (int d = 0; d < R - 2; d++) {
    int da = d - (R - sa.rank), db = d - (R - sb.rank);
    int64_t ea = da >= 0 ? sa.shape[da] : 1, eb = db >= 0 ? sb.shape[db] : 1;
    os[d] = ea == 1 ? eb : ea;
  }
  os[R - 2] = sa.shape[sa.rank - 2];
  os[R - 1] = sb.shape[sb.rank - 1];
  tt_t a = tt_make(dt, sa.rank, sa.shape, sa.lay), b = tt_make(dt, sb.rank, sb.shape, sb.lay);
  tt_t o = tt_make(dt, R, os, olay);
  if (is_fl(dt)) tt_rand(&a, -2, 2), tt_rand(&b, -2, 2);
  else tt_rand(&a, -9.3e18, 9.3e18), tt_rand(&b, -9.3e18, 9.3e18); /* products wrap */
  tt_poison(&o);
  char label[160];
  snprintf(label, sizeof label, "matmul %s %s (%s @ %s -> %s)", dn(dt), what, lay_name[sa.lay],
           lay_name[sb.lay], lay_name[olay]);
  if (expect_ok(tirrt_cpu_matmul(&a.v, &b.v, &o.v), label)) {
    long double *ref = ref_alloc(&o);
    matmul_ref(&a, &b, NULL, &o, ref);
    expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&a), tt_free(&b), tt_free(&o);
}

static void test_matmul(void) {
  const int64_t a4[] = {2, 1, 4, 5}, b3[] = {3, 5, 6}, a2[] = {7, 5}, b2[] = {5, 3};
  const int64_t af[] = {2, 3, 4, 5}, bf[] = {5, 6}, ak0[] = {3, 0}, bk0[] = {0, 4}, am0[] = {0, 5};
  const int64_t b54[] = {5, 4}, a1[] = {1, 5}, b51[] = {5, 1}, bb[] = {2, 3, 6, 5};
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_F64, TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16,
                               TIRRT_DTYPE_I32, TIRRT_DTYPE_I64, TIRRT_DTYPE_I8, TIRRT_DTYPE_U8,
                               TIRRT_DTYPE_I16};
  for (int d = 0; d < COUNT(dts); d++) {
    tirrt_dtype_t dt = dts[d];
    for (int la = LAY_C; la <= LAY_S; la++)
      for (int lb = LAY_C; lb <= LAY_S; lb++) {
        if (la != LAY_C && lb != LAY_C && la != lb) continue; /* enough pairs */
        run_matmul(dt, (spec_t){4, a4, la}, (spec_t){3, b3, lb}, LAY_C, "[2,1,4,5] @ [3,5,6]");
      }
    run_matmul(dt, (spec_t){4, a4, LAY_S}, (spec_t){3, b3, LAY_S}, LAY_P, "[2,1,4,5] @ [3,5,6]");
    run_matmul(dt, (spec_t){2, a2, LAY_C}, (spec_t){2, b2, LAY_C}, LAY_C, "[7,5] @ [5,3]");
    run_matmul(dt, (spec_t){2, a2, LAY_S}, (spec_t){2, b2, LAY_S}, LAY_C, "[7,5]^T @ [5,3]^T");
    run_matmul(dt, (spec_t){2, a2, LAY_T}, (spec_t){2, b2, LAY_P}, LAY_T, "[7,5] @ [5,3]");
    run_matmul(dt, (spec_t){4, af, LAY_C}, (spec_t){2, bf, LAY_C}, LAY_C, "folded batch");
    run_matmul(dt, (spec_t){4, af, LAY_C}, (spec_t){2, bf, LAY_S}, LAY_C, "folded batch, b^T");
    run_matmul(dt, (spec_t){4, af, LAY_P}, (spec_t){2, bf, LAY_C}, LAY_P, "unfoldable batch");
    run_matmul(dt, (spec_t){2, bf, LAY_C}, (spec_t){4, bb, LAY_C}, LAY_C, "[5,6] @ [2,3,6,5]");
    run_matmul(dt, (spec_t){2, a1, LAY_C}, (spec_t){2, b51, LAY_C}, LAY_C, "[1,5] @ [5,1]");
    run_matmul(dt, (spec_t){2, a1, LAY_S}, (spec_t){2, b54, LAY_S}, LAY_P, "[1,5] @ [5,4]");
    run_matmul(dt, (spec_t){2, ak0, LAY_C}, (spec_t){2, bk0, LAY_C}, LAY_C, "K = 0");
    run_matmul(dt, (spec_t){2, am0, LAY_C}, (spec_t){2, b54, LAY_C}, LAY_C, "M = 0");
  }
  /* A bigger f32 product through BLAS (K = 300). */
  const int64_t ab[] = {33, 300}, bb2[] = {300, 17};
  run_matmul(TIRRT_DTYPE_F32, (spec_t){2, ab, LAY_C}, (spec_t){2, bb2, LAY_S}, LAY_C, "[33,300] @ [300,17]");
  run_matmul(TIRRT_DTYPE_F64, (spec_t){2, ab, LAY_S}, (spec_t){2, bb2, LAY_C}, LAY_C, "[33,300] @ [300,17]");
  /* Errors. */
  tt_t x = tt_make(TIRRT_DTYPE_F32, 2, a2, LAY_C), y = tt_make(TIRRT_DTYPE_F32, 2, a2, LAY_C);
  tt_t o = tt_make(TIRRT_DTYPE_F32, 2, (int64_t[]){7, 5}, LAY_C);
  tt_t bo = tt_make(TIRRT_DTYPE_BOOL, 2, (int64_t[]){5, 5}, LAY_C);
  expect_error(tirrt_cpu_matmul(&x.v, &y.v, &o.v), "shapes do not match: [7, 5] @ [7, 5] -> [7, 5]",
               "matmul [7,5] @ [7,5]");
  expect_error(tirrt_cpu_matmul(&x.v, &o.v, &bo.v), "dtypes", "matmul f32 -> bool");
  expect_error(tirrt_cpu_matmul(&bo.v, &bo.v, &bo.v), "bool", "bool matmul");
  tt_free(&x), tt_free(&y), tt_free(&o), tt_free(&bo);
}

static void run_linear(tirrt_dtype_t dt, int xr, const int64_t *xs, int xl, int wl, int has_b) {
  const int64_t ws[] = {6, 5}, bs[] = {6};
  int64_t os[TIRRT_MAX_RANK];
  memcpy(os, xs, sizeof(int64_t) * (size_t)xr);
  os[xr - 1] = 6;
  tt_t x = tt_make(dt, xr, xs, xl), w = tt_make(dt, 2, ws, wl), b = tt_make(dt, 1, bs, LAY_C);
  tt_t o = tt_make(dt, xr, os, LAY_C);
  tt_rand(&x, -2, 2), tt_rand(&w, -2, 2), tt_rand(&b, -2, 2);
  tt_poison(&o);
  char label[128];
  snprintf(label, sizeof label, "linear %s x rank %d %s, w %s%s", dn(dt), xr, lay_name[xl], lay_name[wl],
           has_b ? ", bias" : "");
  if (expect_ok(tirrt_cpu_linear(&x.v, &w.v, has_b ? &b.v : NULL, &o.v), label)) {
    /* w^T as a view for the reference */
    tt_t wt = w;
    wt.v.shape[0] = 5, wt.v.shape[1] = 6;
    wt.v.strides[0] = w.v.strides[1], wt.v.strides[1] = w.v.strides[0];
    tt_t x2 = x, o2 = o;
    if (xr == 1) { /* as [1, K] @ [K, N] */
      x2.v.rank = o2.v.rank = 2;
      x2.v.shape[1] = 5, x2.v.strides[1] = x.v.strides[0], x2.v.shape[0] = 1;
      o2.v.shape[1] = 6, o2.v.strides[1] = o.v.strides[0], o2.v.shape[0] = 1;
    }
    long double *ref = ref_alloc(&o);
    matmul_ref(&x2, &wt, has_b ? &b : NULL, &o2, ref);
    expect_result(label, &o, ref);
    free(ref);
  }
  tt_free(&x), tt_free(&w), tt_free(&b), tt_free(&o);
}

static void test_linear(void) {
  const int64_t xs3[] = {2, 3, 5}, xs1[] = {5};
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_F64, TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16,
                               TIRRT_DTYPE_I32};
  for (int d = 0; d < COUNT(dts); d++)
    for (int has_b = 0; has_b < 2; has_b++) {
      run_linear(dts[d], 3, xs3, LAY_C, LAY_C, has_b);
      run_linear(dts[d], 3, xs3, LAY_P, LAY_S, has_b);
      run_linear(dts[d], 3, xs3, LAY_T, LAY_C, has_b);
      run_linear(dts[d], 1, xs1, LAY_C, LAY_S, has_b);
    }
}

/* ------------------------------------------------------------ arange, fill, tri */

static void test_sources(void) {
  struct { tirrt_dtype_t dt; int64_t start, step, n; } cases[] = {
      {TIRRT_DTYPE_I64, 0, 1, 10}, {TIRRT_DTYPE_I32, -7, 3, 13}, {TIRRT_DTYPE_I8, 100, 7, 20},
      {TIRRT_DTYPE_F32, 5, -2, 9}, {TIRRT_DTYPE_F16, -1000, 37, 60}, {TIRRT_DTYPE_BF16, 3, 129, 40},
      {TIRRT_DTYPE_F64, 1, 1, 0}, {TIRRT_DTYPE_U8, 250, 1, 9}, {TIRRT_DTYPE_I16, 0, -5000, 11},
      {TIRRT_DTYPE_I64, INT64_C(1) << 62, INT64_C(1) << 61, 5}, {TIRRT_DTYPE_F32, INT64_C(16777217), 2, 4},
  };
  for (int c = 0; c < COUNT(cases); c++)
    for (int lay = 0; lay < 2; lay++) {
      tt_t o = tt_make(cases[c].dt, 1, &cases[c].n, lay ? LAY_P : LAY_C);
      tt_poison(&o);
      char label[96];
      snprintf(label, sizeof label, "arange %s start %" PRId64 " step %" PRId64 " n %" PRId64, dn(cases[c].dt),
               cases[c].start, cases[c].step, cases[c].n);
      if (expect_ok(tirrt_cpu_arange(cases[c].start, cases[c].step, &o.v), label)) {
        long double ref[64];
        for (int64_t i = 0; i < cases[c].n; i++) {
          int64_t v = (int64_t)((uint64_t)cases[c].start + (uint64_t)i * (uint64_t)cases[c].step);
          ref[i] = conv_ref((long double)v, TIRRT_DTYPE_I64, cases[c].dt);
        }
        expect_exact(label, &o, ref);
      }
      tt_free(&o);
    }
  const double values[] = {3.7, -1e10, NAN, 1e10, -0.5, 0, 65519};
  for (int d = 0; d < COUNT(ALL); d++)
    for (int v = 0; v < COUNT(values); v++) {
      const int64_t s0[] = {1};
      tt_t o = v % 2 ? tt_make(ALL[d], 3, SH3, LAY_P) : tt_make(ALL[d], v == 4 ? 0 : 3, v == 4 ? s0 : SH3, LAY_C);
      tt_poison(&o);
      char label[64];
      snprintf(label, sizeof label, "fill %s %g", dn(ALL[d]), values[v]);
      if (expect_ok(tirrt_cpu_fill(values[v], &o.v), label)) {
        long double ref[105];
        for (int k = 0; k < 105; k++) ref[k] = conv_ref(values[v], TIRRT_DTYPE_F64, ALL[d]);
        expect_exact(label, &o, ref);
      }
      tt_free(&o);
    }
}

static void test_tri(void) {
  const int64_t s3[] = {2, 4, 5}, s2[] = {5, 3};
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_BF16, TIRRT_DTYPE_I64, TIRRT_DTYPE_BOOL,
                               TIRRT_DTYPE_U8, TIRRT_DTYPE_F64};
  for (int d = 0; d < COUNT(dts); d++)
    for (int diag = -2; diag <= 2; diag++)
      for (int upper = 0; upper < 2; upper++)
        for (int v = 0; v < 2; v++) {
          int rank = v ? 2 : 3;
          const int64_t *sh = v ? s2 : s3;
          tt_t x = tt_make(dts[d], rank, sh, v ? LAY_T : LAY_C), o = tt_make(dts[d], rank, sh, v ? LAY_P : LAY_C);
          tt_rand(&x, 1, 9); /* never 0, so a kept element is told from a zeroed one */
          tt_poison(&o);
          char label[96];
          snprintf(label, sizeof label, "%s %s diagonal %d rank %d", upper ? "triu" : "tril", dn(dts[d]), diag, rank);
          if (expect_ok(tirrt_cpu_tri(&x.v, diag, upper != 0, &o.v), label)) {
            int64_t n = numel_of(rank, sh), idx[TIRRT_MAX_RANK];
            long double ref[64];
            for (int64_t k = 0; k < n; k++) {
              unravel(k, rank, sh, idx);
              int64_t dj = idx[rank - 1] - idx[rank - 2];
              ref[k] = (upper ? dj >= diag : dj <= diag) ? tt_lin(&x, k) : 0;
            }
            expect_exact(label, &o, ref);
          }
          tt_free(&x), tt_free(&o);
        }
  tt_t x = tt_make(TIRRT_DTYPE_F32, 1, s2, LAY_C);
  expect_error(tirrt_cpu_tri(&x.v, 0, false, &x.v), "rank", "tril of a vector");
  tt_free(&x);
}

/* ------------------------------------------------------------ embedding, concat */

static void run_embedding(tirrt_dtype_t wdt, int wl, tirrt_dtype_t idt, int ir, const int64_t *is, int il) {
  const int64_t ws[] = {11, 6};
  int64_t os[TIRRT_MAX_RANK];
  memcpy(os, is, sizeof(int64_t) * (size_t)ir);
  os[ir] = 6;
  tt_t w = tt_make(wdt, 2, ws, wl), ix = tt_make(idt, ir, is, il), o = tt_make(wdt, ir + 1, os, LAY_C);
  tt_rand(&w, -3, 3), tt_rand(&ix, 0, 10);
  tt_poison(&o);
  char label[96];
  snprintf(label, sizeof label, "embedding %s %s, %s indices rank %d %s", dn(wdt), lay_name[wl], dn(idt), ir,
           lay_name[il]);
  if (expect_ok(tirrt_cpu_embedding(&w.v, &ix.v, &o.v), label)) {
    int64_t n = numel_of(ir, is);
    long double *ref = ref_alloc(&o);
    for (int64_t k = 0; k < n; k++) {
      int64_t row = (int64_t)tt_lin(&ix, k);
      for (int j = 0; j < 6; j++) ref[k * 6 + j] = tt_lin(&w, row * 6 + j);
    }
    expect_exact(label, &o, ref);
    free(ref);
  }
  tt_free(&w), tt_free(&ix), tt_free(&o);
}

static void test_embedding(void) {
  const int64_t i34[] = {3, 4}, i5[] = {5}, i0[] = {1}, iz[] = {2, 0};
  run_embedding(TIRRT_DTYPE_F32, LAY_C, TIRRT_DTYPE_I32, 2, i34, LAY_C);
  run_embedding(TIRRT_DTYPE_F32, LAY_T, TIRRT_DTYPE_I64, 2, i34, LAY_T);
  run_embedding(TIRRT_DTYPE_F16, LAY_C, TIRRT_DTYPE_I64, 1, i5, LAY_P);
  run_embedding(TIRRT_DTYPE_BF16, LAY_P, TIRRT_DTYPE_I32, 0, i0, LAY_C);
  run_embedding(TIRRT_DTYPE_I64, LAY_C, TIRRT_DTYPE_U8, 2, i34, LAY_E);
  run_embedding(TIRRT_DTYPE_F64, LAY_C, TIRRT_DTYPE_I64, 2, iz, LAY_C);
  /* Out of range: an error naming the index, no read out of bounds. */
  const int64_t ws[] = {50257, 2}, is[] = {3}, os[] = {3, 2};
  tt_t w = tt_make(TIRRT_DTYPE_F16, 2, ws, LAY_C), ix = tt_make(TIRRT_DTYPE_I64, 1, is, LAY_C);
  tt_t o = tt_make(TIRRT_DTYPE_F16, 2, os, LAY_C);
  int64_t bad[3] = {5, 70000, 1};
  memcpy(ix.v.data, bad, sizeof bad);
  expect_error(tirrt_cpu_embedding(&w.v, &ix.v, &o.v), "embedding: index 70000 out of range [0, 50257)",
               "embedding index 70000");
  bad[1] = -1;
  memcpy(ix.v.data, bad, sizeof bad);
  expect_error(tirrt_cpu_embedding(&w.v, &ix.v, &o.v), "index -1 out of range", "embedding index -1");
  tt_t fi = tt_make(TIRRT_DTYPE_F32, 1, is, LAY_C);
  expect_error(tirrt_cpu_embedding(&w.v, &fi.v, &o.v), "indices", "float indices");
  tt_free(&w), tt_free(&ix), tt_free(&o), tt_free(&fi);
}

static void test_concat(void) {
  const tirrt_dtype_t dts[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_I16, TIRRT_DTYPE_BOOL, TIRRT_DTYPE_BF16};
  for (int d = 0; d < COUNT(dts); d++)
    for (int dim = -1; dim < 3; dim++) {
      int dd = dim < 0 ? dim + 3 : dim;
      const int64_t sizes[3] = {2, 0, 4};
      int64_t sh[3][3], os[3] = {3, 5, 7};
      os[dd] = 6;
      tt_t in[4], o = tt_make(dts[d], 3, os, dd == 1 ? LAY_P : LAY_C);
      tirrt_view_t views[4];
      for (int k = 0; k < 3; k++) {
        memcpy(sh[k], os, sizeof os);
        sh[k][dd] = sizes[k];
        in[k] = tt_make(dts[d], 3, sh[k], k == 0 ? LAY_T : k == 2 ? LAY_P : LAY_C);
        tt_rand(&in[k], -50, 50);
        views[k] = in[k].v;
      }
      const int64_t legacy[] = {0}; /* torch's 1-D empty tensor */
      in[3] = tt_make(dts[d], 1, legacy, LAY_C);
      views[3] = in[3].v;
      tt_poison(&o);
      char label[64];
      snprintf(label, sizeof label, "concat %s dim %d (with empty inputs)", dn(dts[d]), dim);
      if (expect_ok(tirrt_cpu_concat(4, views, dim, &o.v), label)) {
        long double *ref = ref_alloc(&o);
        int64_t idx[3];
        for (int64_t k = 0; k < numel_of(3, os); k++) {
          unravel(k, 3, os, idx);
          int src = idx[dd] < 2 ? 0 : 2;
          if (src == 2) idx[dd] -= 2;
          ref[k] = tt_at(&in[src], 3, idx);
        }
        expect_exact(label, &o, ref);
        free(ref);
      }
      if (d == 0 && dim == 0) {
        views[1].shape[2] = 6; /* a mismatched non-concat dim */
        expect_error(tirrt_cpu_concat(3, views, dim, &o.v), "does not fit", "concat mismatched input");
        views[1].shape[2] = 7;
        expect_error(tirrt_cpu_concat(1, views, dim, &o.v), "add up", "concat too short");
      }
      for (int k = 0; k < 4; k++) tt_free(&in[k]);
      tt_free(&o);
    }
}

/* ------------------------------------------------------------ main */

int main(void) {
  const char *env = getenv("TIRC_TEST_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
  rng_state = seed;
  detect_ld64();
  printf("test_cpu_kernels: seed %" PRIu64 " (TIRC_TEST_SEED=%" PRIu64 " repeats this run)\n", seed, seed);
  if (!ld64) printf("note: long double has 53 bits here (valgrind?): int64 data kept within +-2^53\n");
  test_conversions();
  test_views();
  test_unary();
  test_binary();
  test_where();
  test_cast();
  test_reduce();
  test_softmax();
  test_norms();
  test_matmul();
  test_linear();
  test_sources();
  test_tri();
  test_embedding();
  test_concat();
  printf("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail != 0;
}
