/* test_paged.c — paged_sdpa on the CPU (tirrt_cpu_paged_sdpa) against a
 * float64 reference written here from the definition (docs/language.md):
 * key j of sequence b is row j % PS of page block_table[b, j / PS] for
 * j < kv_lens[b]; the query rows are the last L positions; causal and
 * window are bottom-right; softcap before the softmax; GQA groups; a row
 * that sees no key is 0.  Random shapes, page assignments (pages shared,
 * permuted, unused), lengths from 0 to full, strided layouts, f32 / f64 /
 * bf16 / f16; and bad lengths and page ids are errors.  Fresh random data
 * each run (the seed is printed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tirrt_cpu.h"
#include "tt.h"
#include "tt_tensor.h"

static int32_t *i32_data(tt_t *t) { return (int32_t *)t->v.data; }

/* q [B, Hq, L, E], caches [P, Hk, PS, E|Ev]: the reference output. */
static void reference(const tt_t *q, const tt_t *kc, const tt_t *vc, const int32_t *bt, int64_t NB,
                      const int32_t *lens, const tirrt_sdpa_params_t *pr, long double *ref) {
  int64_t B = q->v.shape[0], Hq = q->v.shape[1], L = q->v.shape[2], E = q->v.shape[3];
  int64_t Hk = kc->v.shape[1], PS = kc->v.shape[2], Ev = vc->v.shape[3], G = Hq / Hk;
  double *s = malloc(sizeof(double) * (size_t)(NB * PS + 1));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hq; h++)
      for (int64_t i = 0; i < L; i++) {
        int64_t S = lens[b], ia = i + S - L, hk = h / G;
        double m = -INFINITY;
        for (int64_t j = 0; j < S; j++) {
          int64_t page = bt[b * NB + j / PS];
          double d = 0;
          for (int64_t e = 0; e < E; e++) {
            int64_t qi[4] = {b, h, i, e}, ki[4] = {page, hk, j % PS, e};
            d += (double)tt_at(q, 4, qi) * (double)tt_at(kc, 4, ki);
          }
          d *= pr->scale;
          if (pr->softcap > 0) d = pr->softcap * tanh(d / pr->softcap);
          bool vis = (!pr->is_causal || j <= ia) && (pr->window <= 0 || j > ia - pr->window);
          s[j] = vis ? d : -INFINITY;
          if (s[j] > m) m = s[j];
        }
        double l = 0;
        for (int64_t j = 0; j < S; j++) l += s[j] = m == -INFINITY ? 0 : exp(s[j] - m);
        for (int64_t e = 0; e < Ev; e++) {
          double acc = 0;
          for (int64_t j = 0; j < S && l > 0; j++) {
            int64_t vi[4] = {bt[b * NB + j / PS], hk, j % PS, e};
            acc += s[j] * (double)tt_at(vc, 4, vi);
          }
          ref[((b * Hq + h) * L + i) * Ev + e] = l > 0 ? acc / l : 0;
        }
      }
  free(s);
}

static const tirrt_dtype_t DTS[] = {TIRRT_DTYPE_F32, TIRRT_DTYPE_F64, TIRRT_DTYPE_BF16, TIRRT_DTYPE_F16};
static const int LAYS[] = {TT_LAY_C, TT_LAY_T, TT_LAY_P};

static void one_case(int n) {
  tirrt_dtype_t dt = DTS[tt_rng_int(0, 3)];
  int64_t B = tt_rng_int(1, 3), Hk = tt_rng_int(1, 3), G = tt_rng_int(1, 3), Hq = Hk * G;
  int64_t L = tt_rng_int(1, 4), E = tt_rng_int(1, 20), Ev = tt_rng_int(1, 20);
  int64_t PS = tt_rng_int(1, 8), NB = tt_rng_int(1, 6), P = tt_rng_int(1, 2 * NB * B);
  tirrt_sdpa_params_t pr = {.scale = tt_rng_unif(0.05, 0.6), .is_causal = tt_rng_int(0, 1),
                            .bottom_right = true, .enable_gqa = G > 1,
                            .window = tt_rng_int(0, 1) ? tt_rng_int(1, 9) : 0,
                            .softcap = tt_rng_int(0, 2) == 0 ? tt_rng_unif(0.5, 5) : 0};
  int64_t qs[4] = {B, Hq, L, E}, ks[4] = {P, Hk, PS, E}, vs[4] = {P, Hk, PS, Ev};
  int64_t os[4] = {B, Hq, L, Ev}, bs[2] = {B, NB}, ls[1] = {B};
  tt_t q = tt_make(dt, 4, qs, LAYS[tt_rng_int(0, 2)]), kc = tt_make(dt, 4, ks, LAYS[tt_rng_int(0, 2)]);
  tt_t vc = tt_make(dt, 4, vs, LAYS[tt_rng_int(0, 2)]), out = tt_make(dt, 4, os, LAYS[tt_rng_int(0, 2)]);
  tt_t bt = tt_make(TIRRT_DTYPE_I32, 2, bs, TT_LAY_C), lens = tt_make(TIRRT_DTYPE_I32, 1, ls, TT_LAY_C);
  tt_rand(&q, -1, 1);
  tt_rand(&kc, -1, 1);
  tt_rand(&vc, -1, 1);
  for (int64_t x = 0; x < B * NB; x++) i32_data(&bt)[x] = (int32_t)tt_rng_int(0, P - 1);
  for (int64_t b = 0; b < B; b++) /* lengths 0, full, and in between */
    i32_data(&lens)[b] = (int32_t)(tt_rng_int(0, 4) == 0 ? 0 : tt_rng_int(0, 3) == 0 ? NB * PS
                                                                : tt_rng_int(0, NB * PS));
  tt_poison(&out);
  tirrt_status_t s = tirrt_cpu_paged_sdpa(&q.v, &kc.v, &vc.v, &bt.v, &lens.v, &pr, &out.v);
  const char *label = tt_label("case %d %s B=%lld Hq=%lld Hk=%lld L=%lld E=%lld Ev=%lld P=%lld PS=%lld "
                               "NB=%lld causal=%d window=%lld softcap=%.2f",
                               n, tirrt_dtype_name(dt), (long long)B, (long long)Hq, (long long)Hk,
                               (long long)L, (long long)E, (long long)Ev, (long long)P, (long long)PS,
                               (long long)NB, pr.is_causal, (long long)pr.window, pr.softcap);
  CHECK_MSG(!s, "%s: %s", label, s ? tirrt_status_message(s) : "");
  tirrt_status_free(s);
  long double *ref = tt_ref_alloc(&out);
  reference(&q, &kc, &vc, i32_data(&bt), NB, i32_data(&lens), &pr, ref);
  tt_expect_close(label, &out, ref, dt == TIRRT_DTYPE_F64 ? 1e-12 : dt == TIRRT_DTYPE_F32 ? 1e-5 : 1.5e-2);
  free(ref);

  /* bad input: a length past the blocks, a negative one, a page id out of
   * range in a block the sequence uses */
  int32_t keep = i32_data(&lens)[0];
  i32_data(&lens)[0] = (int32_t)(NB * PS + 1);
  s = tirrt_cpu_paged_sdpa(&q.v, &kc.v, &vc.v, &bt.v, &lens.v, &pr, &out.v);
  CHECK_MSG(s && strstr(tirrt_status_message(s), "kv_lens[0]"), "%s: long length accepted", label);
  tirrt_status_free(s);
  i32_data(&lens)[0] = -1;
  s = tirrt_cpu_paged_sdpa(&q.v, &kc.v, &vc.v, &bt.v, &lens.v, &pr, &out.v);
  CHECK_MSG(s != NULL, "%s: negative length accepted", label);
  tirrt_status_free(s);
  i32_data(&lens)[0] = (int32_t)(PS * NB);
  i32_data(&bt)[NB - 1] = (int32_t)P;
  s = tirrt_cpu_paged_sdpa(&q.v, &kc.v, &vc.v, &bt.v, &lens.v, &pr, &out.v);
  CHECK_MSG(s && strstr(tirrt_status_message(s), "block_table[0,"), "%s: bad page accepted", label);
  tirrt_status_free(s);
  (void)keep;
  tt_free(&q);
  tt_free(&kc);
  tt_free(&vc);
  tt_free(&out);
  tt_free(&bt);
  tt_free(&lens);
}

int main(int argc, char **argv) {
  tt_seed("test_paged", argc, argv, true, 0);
  for (int n = 0; n < 300; n++) one_case(n);
  return CHECK_SUMMARY();
}
