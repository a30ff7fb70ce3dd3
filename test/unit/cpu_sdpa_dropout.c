/* cpu_sdpa_dropout.c — test_cpu_sdpa: the runtime's randomness (Philox-4x32-10
 * against its known-answer vectors, tirrt_dropout_keep's rate, and
 * tirrt_cpu_dropout) and dropout inside tirrt_cpu_sdpa. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_sdpa.h"

/* ------------------------------------------------------------ Philox and dropout */

void test_philox(void) {
  static const struct {
    uint32_t ctr[4], key[2], out[4];
  } kat[] = {
      /* Random123 kat_vectors, philox4x32-10 */
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
    uint64_t seed = (uint64_t)kat[t].key[1] << 32 | kat[t].key[0];
    uint64_t lo = (uint64_t)kat[t].ctr[1] << 32 | kat[t].ctr[0];
    uint64_t hi = (uint64_t)kat[t].ctr[3] << 32 | kat[t].ctr[2];
    uint32_t o[4];
    tirrt_philox4x32(seed, hi, lo, o);
    CHECK_MSG(memcmp(o, kat[t].out, sizeof o) == 0,
           "philox KAT %zu: got %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32, t, o[0],
           o[1], o[2], o[3]);
  }
  /* tirrt_dropout_keep is exactly the documented rule. */
  bool same = true;
  for (uint64_t i = 0; i < 4000; i++) {
    uint32_t w[4];
    tirrt_philox4x32(42, 9, i / 4, w);
    double u = (double)(w[i % 4] >> 8) / 16777216.0;
    for (double p = 0.05; p < 1; p += 0.3) same &= tirrt_dropout_keep(42, 9, i, p) == (u >= p);
  }
  CHECK_MSG(same, "tirrt_dropout_keep does not follow its documented rule");
  /* Keep rates within 4 sigma over 1e6 draws. */
  const double ps[] = {0.1, 0.5, 0.9};
  for (int t = 0; t < 3; t++) {
    int64_t n = 1000000, kept = 0;
    for (int64_t i = 0; i < n; i++) kept += tirrt_dropout_keep(tt_rng_u64(), 3, (uint64_t)i, ps[t]);
    double mean = n * (1 - ps[t]), sd = sqrt(n * ps[t] * (1 - ps[t]));
    CHECK_MSG(fabs((double)kept - mean) <= 4 * sd, "keep rate at p=%g: %" PRId64 " of %" PRId64,
           ps[t], kept, n);
  }
  bool all = true, none = true;
  for (uint64_t i = 0; i < 100000; i++) {
    all &= tirrt_dropout_keep(5, 1, i, 0.0);
    none &= !tirrt_dropout_keep(5, 1, i, 1.0);
  }
  CHECK_MSG(all && none, "p=0 must keep everything and p=1 nothing");
}

void test_dropout_kernel(uint64_t seed) {
  /* f32 [500, 211] (1.05e5 elements) with a non-contiguous output view. */
  int64_t shape[2] = {500, 211};
  int perm[2] = {1, 0};
  tens_t x = tens_make(TIRRT_DTYPE_F32, 2, shape, NULL, 0);
  tens_t o1 = tens_make(TIRRT_DTYPE_F32, 2, shape, perm, 1);
  tens_t o2 = tens_make(TIRRT_DTYPE_F32, 2, shape, NULL, 0);
  int64_t n = numel_of(&x.v);
  for (int64_t f = 0; f < n; f++) tt_view_set(&x.v, f, tt_rng_normal() + 3); /* never 0 */
  double p = 0.3;
  poison(&o1.v);
  tirrt_status_t st = tirrt_cpu_dropout(&x.v, p, seed, 11, &o1.v);
  CHECK_MSG(!st, "dropout: %s", tirrt_status_message(st));
  tirrt_status_free(st);
  int64_t kept = 0, mismatched = 0, badval = 0;
  float sc = (float)(1.0 / (1.0 - p));
  for (int64_t f = 0; f < n; f++) {
    double xv = tt_view_get(&x.v, f), ov = tt_view_get(&o1.v, tt_view_off(&o1.v, f));
    bool keep = tirrt_dropout_keep(seed, 11, (uint64_t)f, p);
    kept += ov != 0;
    mismatched += (ov != 0) != keep;
    if (keep ? ov != (double)((float)xv * sc) : ov != 0) badval++;
  }
  double mean = n * (1 - p), sd = sqrt(n * p * (1 - p));
  CHECK_MSG(fabs((double)kept - mean) <= 4 * sd, "dropout kernel keep rate %" PRId64 " of %" PRId64,
         kept, n);
  CHECK_MSG(mismatched == 0, "dropout kernel mask differs from tirrt_dropout_keep in %" PRId64,
         mismatched);
  CHECK_MSG(badval == 0, "dropout kernel values wrong in %" PRId64, badval);
  CHECK_MSG(gaps_intact(&o1), "dropout wrote outside its output view");
  /* Same seed: identical; another seed or stream: different. */
  st = tirrt_cpu_dropout(&x.v, p, seed, 11, &o2.v);
  tirrt_status_free(st);
  bool same = true;
  for (int64_t f = 0; f < n; f++) same &= tt_view_get(&o2.v, f) == tt_view_get(&o1.v, tt_view_off(&o1.v, f));
  CHECK_MSG(same, "dropout: same seed gave a different output");
  st = tirrt_cpu_dropout(&x.v, p, seed + 1, 11, &o2.v);
  tirrt_status_free(st);
  int64_t diff = 0;
  for (int64_t f = 0; f < n; f++) diff += tt_view_get(&o2.v, f) != tt_view_get(&o1.v, tt_view_off(&o1.v, f));
  CHECK_MSG(diff > n / 10, "dropout: another seed changed only %" PRId64 " elements", diff);
  st = tirrt_cpu_dropout(&x.v, p, seed, 12, &o2.v);
  tirrt_status_free(st);
  diff = 0;
  for (int64_t f = 0; f < n; f++) diff += tt_view_get(&o2.v, f) != tt_view_get(&o1.v, tt_view_off(&o1.v, f));
  CHECK_MSG(diff > n / 10, "dropout: another stream changed only %" PRId64 " elements", diff);
  /* p >= 1: zeros; broadcasting a [211] input over the rows. */
  st = tirrt_cpu_dropout(&x.v, 1.0, seed, 11, &o2.v);
  tirrt_status_free(st);
  bool zeros = true;
  for (int64_t f = 0; f < n; f++) zeros &= tt_view_get(&o2.v, f) == 0;
  CHECK_MSG(zeros, "dropout p=1 must give zeros");
  tirrt_view_t row = x.v;
  row.rank = 1;
  row.shape[0] = 211;
  row.strides[0] = 1;
  st = tirrt_cpu_dropout(&row, 0.5, seed, 2, &o2.v);
  CHECK_MSG(!st, "dropout broadcast: %s", tirrt_status_message(st));
  tirrt_status_free(st);
  badval = 0;
  for (int64_t f = 0; f < n; f++) {
    bool keep = tirrt_dropout_keep(seed, 2, (uint64_t)f, 0.5);
    double want = keep ? (double)((float)tt_view_get(&x.v, f % 211) * 2.0f) : 0.0;
    badval += tt_view_get(&o2.v, f) != want;
  }
  CHECK_MSG(badval == 0, "dropout broadcast values wrong in %" PRId64, badval);
  /* Errors: p < 0 or NaN, dtype mismatch, shapes that do not broadcast. */
  st = tirrt_cpu_dropout(&x.v, -0.1, seed, 1, &o2.v);
  CHECK_MSG(st && tirrt_status_code(st) == TIRRT_STATUS_INVALID_ARGUMENT, "dropout p<0 accepted");
  tirrt_status_free(st);
  st = tirrt_cpu_dropout(&x.v, NAN, seed, 1, &o2.v);
  CHECK_MSG(st != NULL, "dropout p=NaN accepted");
  tirrt_status_free(st);
  tirrt_view_t wrong = o2.v;
  wrong.dtype = TIRRT_DTYPE_F64;
  st = tirrt_cpu_dropout(&x.v, 0.1, seed, 1, &wrong);
  CHECK_MSG(st != NULL, "dropout dtype mismatch accepted");
  tirrt_status_free(st);
  row.shape[0] = 5;
  st = tirrt_cpu_dropout(&row, 0.1, seed, 1, &o2.v);
  CHECK_MSG(st != NULL, "dropout non-broadcastable input accepted");
  tirrt_status_free(st);
  tens_free(&x);
  tens_free(&o1);
  tens_free(&o2);

  /* 16-bit dtypes: p = 0 copies every bit pattern; p > 0 rounds x * scale
   * (computed in f32) to nearest even, checked by the independent encoder;
   * f64 computes in f64. */
  int64_t all16[1] = {65536};
  const tirrt_dtype_t d16[2] = {TIRRT_DTYPE_F16, TIRRT_DTYPE_BF16};
  for (int t = 0; t < 2; t++) {
    tens_t a = tens_make(d16[t], 1, all16, NULL, 0), b = tens_make(d16[t], 1, all16, NULL, 0);
    for (int i = 0; i < 65536; i++) ((uint16_t *)a.buf)[i] = (uint16_t)i;
    st = tirrt_cpu_dropout(&a.v, 0.0, seed, 1, &b.v);
    tirrt_status_free(st);
    int64_t bad = 0;
    for (int i = 0; i < 65536; i++) bad += ((uint16_t *)b.buf)[i] != (uint16_t)i;
    CHECK_MSG(bad == 0, "%s dropout p=0 changed %" PRId64 " bit patterns", tirrt_dtype_name(d16[t]),
           bad);
    double pp = 0.37;
    float s32 = (float)(1.0 / (1.0 - pp));
    st = tirrt_cpu_dropout(&a.v, pp, seed, 1, &b.v);
    tirrt_status_free(st);
    bad = 0;
    for (int i = 0; i < 65536; i++) {
      double xv = tt_view_get(&a.v, i), ov = tt_view_get(&b.v, i);
      bool keep = tirrt_dropout_keep(seed, 1, (uint64_t)i, pp);
      double prod = (double)((float)xv * s32);
      uint16_t want = !keep ? 0 : t == 0 ? tt_half_encode(prod) : tt_bf16_encode(prod);
      uint16_t got = ((uint16_t *)b.buf)[i];
      if (isnan(xv)) bad += keep && !isnan(ov);
      else bad += got != want;
    }
    CHECK_MSG(bad == 0, "%s dropout rounding wrong for %" PRId64 " patterns", tirrt_dtype_name(d16[t]),
           bad);
    tens_free(&a);
    tens_free(&b);
  }
  int64_t s64[1] = {1000};
  tens_t a = tens_make(TIRRT_DTYPE_F64, 1, s64, NULL, 0), b = tens_make(TIRRT_DTYPE_F64, 1, s64, NULL, 0);
  for (int i = 0; i < 1000; i++) tt_view_set(&a.v, i, tt_rng_normal());
  st = tirrt_cpu_dropout(&a.v, 0.2, seed, 4, &b.v);
  tirrt_status_free(st);
  int64_t bad = 0;
  for (int i = 0; i < 1000; i++) {
    double want = tirrt_dropout_keep(seed, 4, (uint64_t)i, 0.2) ? tt_view_get(&a.v, i) * (1.0 / 0.8) : 0;
    bad += tt_view_get(&b.v, i) != want;
  }
  CHECK_MSG(bad == 0, "f64 dropout wrong in %" PRId64, bad);
  tens_free(&a);
  tens_free(&b);
}

/* sdpa dropout: v = identity makes the output the dropped probability
 * matrix itself, so the zero pattern must equal the tirrt_dropout_keep mask
 * exactly (index = row-major index in [batch..., Hq, L, S], with broadcast
 * batch dims and GQA).  Also the keep rate over >= 1e5 elements and seed
 * reproducibility. */
void test_sdpa_dropout(uint64_t seed) {
  const int64_t B = 2, Hq = 4, Hk = 2, L = 100, S = 150;
  int64_t qs[4] = {B, Hq, L, 8}, ks[4] = {1, Hk, S, 8}, vs[4] = {1, Hk, S, S},
          os[4] = {B, Hq, L, S};
  tens_t q = tens_make(TIRRT_DTYPE_F64, 4, qs, NULL, 0), k = tens_make(TIRRT_DTYPE_F64, 4, ks, NULL, 0);
  tens_t v = tens_make(TIRRT_DTYPE_F64, 4, vs, NULL, 0), o1 = tens_make(TIRRT_DTYPE_F64, 4, os, NULL, 0);
  tens_t o2 = tens_make(TIRRT_DTYPE_F64, 4, os, NULL, 0);
  for (int64_t f = 0; f < numel_of(&q.v); f++) tt_view_set(&q.v, f, tt_rng_normal());
  for (int64_t f = 0; f < numel_of(&k.v); f++) tt_view_set(&k.v, f, tt_rng_normal());
  for (int64_t f = 0; f < numel_of(&v.v); f++) tt_view_set(&v.v, f, (f / S) % S == f % S);
  tirrt_sdpa_params_t pr = {.scale = 0.35, .dropout_p = 0.2, .enable_gqa = true, .seed = seed,
                            .stream = 3};
  poison(&o1.v);
  tirrt_status_t st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o1.v, NULL);
  CHECK_MSG(!st, "sdpa dropout: %s", tirrt_status_message(st));
  tirrt_status_free(st);
  int64_t n = numel_of(&o1.v), kept = 0, mism = 0;
  for (int64_t f = 0; f < n; f++) {
    double x = tt_view_get(&o1.v, f);
    kept += x != 0;
    mism += (x != 0) != tirrt_dropout_keep(seed, 3, (uint64_t)f, 0.2) || !isfinite(x);
  }
  double mean = n * 0.8, sd = sqrt(n * 0.2 * 0.8);
  CHECK_MSG(mism == 0, "sdpa dropout mask differs from tirrt_dropout_keep at %" PRId64 " of %" PRId64,
         mism, n);
  CHECK_MSG(fabs((double)kept - mean) <= 4 * sd, "sdpa keep rate %" PRId64 " of %" PRId64, kept, n);
  printf("  sdpa dropout p=0.2: kept %" PRId64 " of %" PRId64 " (%.4f), mask mismatches %" PRId64
         "\n", kept, n, (double)kept / (double)n, mism);
  st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o2.v, NULL);
  tirrt_status_free(st);
  CHECK_MSG(memcmp(o1.buf, o2.buf, o1.nbytes) == 0, "sdpa dropout: same seed, different output");
  pr.seed = seed + 1;
  st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o2.v, NULL);
  tirrt_status_free(st);
  CHECK_MSG(memcmp(o1.buf, o2.buf, o1.nbytes) != 0, "sdpa dropout: another seed, same output");
  /* p >= 1 drops everything: zeros, never NaN. */
  pr.dropout_p = 1.0;
  st = tirrt_cpu_sdpa(&q.v, &k.v, &v.v, NULL, &pr, &o2.v, NULL);
  tirrt_status_free(st);
  bool zeros = true;
  for (int64_t f = 0; f < n; f++) zeros &= tt_view_get(&o2.v, f) == 0;
  CHECK_MSG(zeros, "sdpa dropout_p=1 must give zeros");
  tens_free(&q);
  tens_free(&k);
  tens_free(&v);
  tens_free(&o1);
  tens_free(&o2);
}

