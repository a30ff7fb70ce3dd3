/* test_cpu_kernels.c — unit tests for the runtime's CPU kernels
 * (tirrt_cpu.h, all but sdpa and dropout): every kernel against a
 * reference computed in long double from the decoded inputs, on fresh
 * random data (the seed is printed; TIRC_TEST_SEED=N or --seed=N repeats a
 * run).  This file holds main and the conversions and views; the kernels
 * are in cpu_elementwise.c, cpu_reduce_norm.c and cpu_matmul_misc.c.  The
 * values of the elementwise, reduction and softmax ops over op x dtype x
 * shape are test/ops' (ctest ops.backend); those files keep the kernel API
 * contracts and the cases TIR cannot express.
 *
 * Inputs come in several layouts (contiguous, transposed, sliced with an
 * offset and a step, expanded with stride 0) and broadcast shapes.  Every
 * output is poisoned first (NaN for floats, 0xAB bytes otherwise) and lives
 * between guard bytes, so an element not written, or a byte written outside
 * the output view, fails.  Float results compare by ||out - ref|| / ||ref||
 * with the per-dtype bound of tt_tol(); integer and bool results exactly.
 * The last line is "N passed, M failed". */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"

/* f16 (bf == 0) or bf16 encoding of x, the library's reference rounding. */
static uint16_t enc_narrow(long double x, int bf) { return bf ? tt_bf16_encode(x) : tt_half_encode(x); }

/* ------------------------------------------------------------ conversions and views */

static void test_conversions(void) {
  int bad_h = 0, bad_b = 0, bad_rt = 0;
  for (unsigned p = 0; p < 65536; p++) {
    float h = tirrt_half_to_float((uint16_t)p), b = tirrt_bf16_to_float((uint16_t)p);
    long double rh = tt_half_decode((uint16_t)p), rb = tt_bf16_decode((uint16_t)p);
    if (!((isnan(h) && isnan(rh)) || h == rh)) bad_h++;
    if (!((isnan(b) && isnan(rb)) || b == rb)) bad_b++;
    /* every non-NaN pattern survives a round trip through f32 and f64 */
    if (!isnan(rh) && (tirrt_float_to_half(h) != p || tirrt_double_to_half(h) != p)) bad_rt++;
    if (!isnan(rb) && (tirrt_float_to_bf16(b) != p || tirrt_double_to_bf16(b) != p)) bad_rt++;
    if (isnan(rh) && !isnan(tirrt_half_to_float(tirrt_float_to_half(h)))) bad_rt++;
    if (isnan(rb) && !isnan(tirrt_bf16_to_float(tirrt_float_to_bf16(b)))) bad_rt++;
  }
  CHECK_MSG(bad_h == 0, "f16 -> f32 decodes %d patterns wrongly", bad_h);
  CHECK_MSG(bad_b == 0, "bf16 -> f32 decodes %d patterns wrongly", bad_b);
  CHECK_MSG(bad_rt == 0, "f16/bf16 round trips fail for %d patterns", bad_rt);
  /* Midpoints between neighbours (ties to even, the max -> inf boundary
   * included) and the doubles/floats just beside them. */
  int bad_mid = 0;
  for (int bf = 0; bf < 2; bf++) {
    unsigned inf = bf ? 0x7f80u : 0x7c00u;
    for (unsigned p = 0; p < inf; p++) {
      for (int sg = 0; sg < 2; sg++) {
        double m = (double)((tt_narrow_value(bf, p) + tt_narrow_value(bf, p + 1)) / 2);
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
  CHECK_MSG(bad_mid == 0, "f16/bf16 rounding at midpoints: %d wrong", bad_mid);
  int bad_rand = 0;
  for (int k = 0; k < 20000; k++) { /* magnitudes from far below subnormal to overflow */
    double d = ldexp(tt_rng_unif(1, 2), (int)tt_rng_int(-160, 140)) * (tt_rng_u64() & 1 ? -1 : 1);
    float f = (float)d;
    if (tirrt_double_to_half(d) != enc_narrow(d, 0) || tirrt_double_to_bf16(d) != enc_narrow(d, 1) ||
        tirrt_float_to_half(f) != enc_narrow(f, 0) || tirrt_float_to_bf16(f) != enc_narrow(f, 1))
      bad_rand++;
  }
  CHECK_MSG(bad_rand == 0, "f16/bf16 rounding of random values: %d wrong", bad_rand);
}

static void test_views(void) {
  tirrt_tensor_desc_t desc = {TIRRT_DTYPE_F32, 3, {2, 3, 4}};
  float data[24];
  tirrt_view_t v = tirrt_view_contiguous(&desc, data);
  CHECK_MSG(v.strides[0] == 12 && v.strides[1] == 4 && v.strides[2] == 1 && v.data == data,
        "contiguous strides");
  CHECK_MSG(tirrt_view_numel(&v) == 24 && tirrt_view_is_contiguous(&v), "numel / is_contiguous");
  tirrt_view_t t = v;
  t.shape[1] = 4, t.shape[2] = 3, t.strides[1] = 1, t.strides[2] = 4;
  CHECK_MSG(!tirrt_view_is_contiguous(&t), "a transposed view is not contiguous");
  tirrt_view_t u = v;
  u.shape[0] = 1, u.strides[0] = 999; /* a size-1 dim's stride is irrelevant */
  CHECK_MSG(tirrt_view_is_contiguous(&u), "size-1 dims may have any stride");
  tirrt_tensor_desc_t d0 = {TIRRT_DTYPE_I8, 3, {2, 0, 4}};
  tirrt_view_t z = tirrt_view_contiguous(&d0, data);
  CHECK_MSG(tirrt_view_numel(&z) == 0 && z.strides[0] == 4, "empty view strides");
  tirrt_view_t b;
  int64_t to[4] = {5, 2, 3, 4};
  if (tt_expect_ok(tirrt_view_broadcast_to(&v, 4, to, &b), "broadcast_to"))
    CHECK_MSG(b.rank == 4 && b.strides[0] == 0 && b.strides[1] == 12 && b.strides[3] == 1,
          "broadcast_to adds a stride-0 leading dim");
  tirrt_tensor_desc_t d1 = {TIRRT_DTYPE_F32, 2, {3, 1}};
  tirrt_view_t w = tirrt_view_contiguous(&d1, data);
  int64_t to2[3] = {2, 3, 4};
  if (tt_expect_ok(tirrt_view_broadcast_to(&w, 3, to2, &b), "broadcast_to size-1"))
    CHECK_MSG(b.strides[0] == 0 && b.strides[1] == 1 && b.strides[2] == 0, "size-1 dims grow with stride 0");
  int64_t bad[2] = {4, 4};
  tt_expect_error(tirrt_view_broadcast_to(&w, 2, bad, &b), "cannot broadcast", "broadcast [3,1] to [4,4]");
  tt_expect_error(tirrt_view_broadcast_to(&v, 2, bad, &b), "cannot broadcast", "broadcast to a lower rank");
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
  tt_seed("test_cpu_kernels", argc, argv, true, 0);
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
  return CHECK_SUMMARY();
}
