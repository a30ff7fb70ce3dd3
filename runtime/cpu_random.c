/* cpu_random.c — the runtime's counter-based random numbers: Philox-4x32-10
 * (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2,
 * 3", SC 2011), the dropout keep decision built on it, and the CPU dropout
 * kernel.  The CUDA kernels reproduce tirrt_dropout_keep bit for bit, so a
 * program gives the same dropout mask under a seed on either device. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "tirrt_cpu.h"

/* ------------------------------------------------------------ Philox */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* Weyl key increments (golden ratio, sqrt(3) - 1) */
#define PHILOX_W1 0xBB67AE85u

static inline void philox_round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
  uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
  uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
  uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
  uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

/* Key = (seed low 32 bits, seed high 32 bits); counter words, lowest first,
 * = (counter_lo low, counter_lo high, counter_hi low, counter_hi high).
 * With that word order the Random123 known-answer vectors apply directly. */
void tirrt_philox4x32(uint64_t seed, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]) {
  uint32_t c[4] = {(uint32_t)counter_lo, (uint32_t)(counter_lo >> 32), (uint32_t)counter_hi,
                   (uint32_t)(counter_hi >> 32)};
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += PHILOX_W0; /* the key schedule bumps before every round but the first */
      k1 += PHILOX_W1;
    }
    philox_round(c, k0, k1);
  }
  memcpy(out, c, sizeof c);
}

/* The dropout keep decision, exactly (the CUDA kernels must match it):
 *
 *   words = tirrt_philox4x32(seed, counter_hi = stream, counter_lo = index / 4)
 *   w     = words[index % 4]
 *   u     = (w >> 8) * 2^-24              (24 random bits, u in [0, 1))
 *   keep  = u >= p                        (compared in double)
 *
 * u has 24 bits so it is exact in float as well as double, and u >= p is
 * the same as (w >> 8) >= ceil(p * 2^24) (p * 2^24 is exact in double), so
 * a device may precompute that integer threshold instead.  Consequences:
 * p <= 0 keeps everything, p >= 1 keeps nothing, and P(keep) = 1 - p up to
 * the 2^-24 quantization of p.  Four consecutive indices share one Philox
 * call, so kernels that walk a row may draw once per four elements. */
bool tirrt_dropout_keep(uint64_t seed, uint64_t stream, uint64_t index, double p) {
  uint32_t w[4];
  tirrt_philox4x32(seed, stream, index / 4, w);
  double u = (double)(w[index % 4] >> 8) * 0x1p-24;
  return u >= p;
}

/* ------------------------------------------------------------ element access */
/* Float loads and stores through the shared f16/bf16 conversions of
 * cpu_view.c (round to nearest even). */

static float load_f32(const char *p, tirrt_dtype_t dt) {
  uint16_t h;
  float f;
  switch (dt) {
    case TIRRT_DTYPE_F16: memcpy(&h, p, 2); return tirrt_half_to_float(h);
    case TIRRT_DTYPE_BF16: memcpy(&h, p, 2); return tirrt_bf16_to_float(h);
    default: memcpy(&f, p, 4); return f;
  }
}

static void store_f32(char *p, tirrt_dtype_t dt, float f) {
  uint16_t h;
  switch (dt) {
    case TIRRT_DTYPE_F16: h = tirrt_float_to_half(f); memcpy(p, &h, 2); break;
    case TIRRT_DTYPE_BF16: h = tirrt_float_to_bf16(f); memcpy(p, &h, 2); break;
    default: memcpy(p, &f, 4); break;
  }
}

/* ------------------------------------------------------------ dropout */

static bool is_float(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

/* x is broadcast to out's shape like every elementwise kernel; `index` is
 * the row-major index in out.  Kept values are multiplied by 1/(1-p)
 * computed in double and rounded to the compute type (f32, or f64 for f64),
 * as PyTorch scales.  p = 0 copies bytes exactly; p >= 1 writes zeros. */
tirrt_status_t tirrt_cpu_dropout(const tirrt_view_t *x, double p, uint64_t seed, uint64_t stream,
                                 const tirrt_view_t *out) {
  if (!x || !out)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "dropout: NULL argument");
  if (!is_float(x->dtype) || x->dtype != out->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "dropout: input and output must share a float dtype, got %s and %s",
                             tirrt_dtype_name(x->dtype), tirrt_dtype_name(out->dtype));
  if (!(p >= 0)) return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "dropout: p=%g < 0", p);
  int32_t rank = out->rank;
  if (rank < 0 || rank > TIRRT_MAX_RANK || x->rank < 0 || x->rank > rank)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "dropout: input rank %d does not broadcast to output rank %d",
                             (int)x->rank, (int)rank);
  /* Right-align x to out's rank; broadcast dims read with stride 0. */
  int64_t xs[TIRRT_MAX_RANK];
  for (int32_t d = 0; d < rank; d++) {
    int32_t xd = d - (rank - x->rank);
    if (xd < 0) {
      xs[d] = 0;
    } else if (x->shape[xd] == out->shape[d]) {
      xs[d] = x->strides[xd];
    } else if (x->shape[xd] == 1) {
      xs[d] = 0;
    } else {
      char a[TIRRT_SHAPE_STR_MAX], b[TIRRT_SHAPE_STR_MAX];
      tirrt_format_shape(x->shape, x->rank, a, sizeof a);
      tirrt_format_shape(out->shape, rank, b, sizeof b);
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "dropout: input %s does not broadcast to output %s", a, b);
    }
  }
  int64_t numel = 1;
  for (int32_t d = 0; d < rank; d++) {
    if (!tirrt_mul_nonneg(numel, out->shape[d], &numel))
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "dropout: bad output shape");
  }
  if (numel == 0) return NULL;
  if (!x->data || !out->data)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "dropout: NULL data");

  size_t esz = tirrt_dtype_size(out->dtype);
  bool f64 = out->dtype == TIRRT_DTYPE_F64;
  double scale = p < 1 ? 1.0 / (1.0 - p) : 0.0;
  float scale32 = (float)scale;
  int64_t inner = rank > 0 ? out->shape[rank - 1] : 1;
  int64_t xin = rank > 0 ? xs[rank - 1] : 0, oin = rank > 0 ? out->strides[rank - 1] : 0;
  int64_t idx[TIRRT_MAX_RANK] = {0};
  int64_t xoff = 0, ooff = 0;
  uint32_t words[4];
  uint64_t have = UINT64_MAX; /* the Philox counter whose words are in `words` */
  for (uint64_t base = 0; base < (uint64_t)numel; base += (uint64_t)inner) {
    const char *xp = (const char *)x->data + xoff * (int64_t)esz;
    char *op = (char *)out->data + ooff * (int64_t)esz;
    for (int64_t t = 0; t < inner; t++) {
      const char *xe = xp + t * xin * (int64_t)esz;
      char *oe = op + t * oin * (int64_t)esz;
      if (p == 0) {
        memcpy(oe, xe, esz);
        continue;
      }
      uint64_t index = base + (uint64_t)t;
      if (index / 4 != have) {
        have = index / 4;
        tirrt_philox4x32(seed, stream, have, words);
      }
      /* Same rule as tirrt_dropout_keep, one Philox call per 4 elements. */
      bool keep = (double)(words[index % 4] >> 8) * 0x1p-24 >= p;
      if (f64) {
        double v;
        memcpy(&v, xe, 8);
        v = keep ? v * scale : 0.0;
        memcpy(oe, &v, 8);
      } else {
        store_f32(oe, out->dtype, keep ? load_f32(xe, out->dtype) * scale32 : 0.0f);
      }
    }
    /* Advance the multi-index over all dims but the last. */
    for (int32_t d = rank - 2; d >= 0; d--) {
      xoff += xs[d];
      ooff += out->strides[d];
      if (++idx[d] < out->shape[d]) break;
      xoff -= xs[d] * out->shape[d];
      ooff -= out->strides[d] * out->shape[d];
      idx[d] = 0;
    }
  }
  return NULL;
}
