/* test_dim.c — unit tests for symbolic dims (normal form, interning,
 * simplification, printing, evaluation, overflow) and float formatting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#include "tt.h"

static TirModule *M;
static const TirDim *C(int64_t v) { return tir_dim_const(M, v); }
static const TirDim *S(const char *s) { return tir_dim_sym(M, s, strlen(s)); }
static const TirDim *add(const TirDim *a, const TirDim *b) { return tir_dim_add(M, a, b, NULL); }
static const TirDim *sub(const TirDim *a, const TirDim *b) { return tir_dim_sub(M, a, b, NULL); }
static const TirDim *mul(const TirDim *a, const TirDim *b) { return tir_dim_mul(M, a, b, NULL); }
static const TirDim *fdiv(const TirDim *a, const TirDim *b) { return tir_dim_floordiv(M, a, b, NULL); }

static bool printed(const TirDim *d, const char *want) {
  char buf[256];
  tir_dim_snprint(buf, sizeof buf, d);
  if (strcmp(buf, want) != 0) {
    fprintf(stderr, "  printed '%s', want '%s'\n", buf, want);
    return false;
  }
  return true;
}

static bool lookup(void *ctx, const char *sym, int64_t *v) {
  (void)ctx;
  if (strcmp(sym, "B") == 0) *v = 3;
  else if (strcmp(sym, "T") == 0) *v = 7;
  else return false;
  return true;
}

static void count_sym(void *ctx, const TirDim *s) {
  (void)s;
  ++*(int *)ctx;
}

int main(int argc, char **argv) {
  tt_seed("test_dim", argc, argv, false, 12345);
  M = tir_module_new();
  const TirDim *B = S("B"), *T = S("T"), *L = S("L"), *Sx = S("S");

  /* Interning and commutativity. */
  CHECK(C(768) == C(768));
  CHECK(S("B") == B);
  CHECK(mul(B, T) == mul(T, B));
  CHECK(add(B, T) == add(T, B));
  CHECK(mul(mul(B, T), C(768)) == mul(C(768), mul(T, B)));
  CHECK(add(mul(B, C(2)), B) == mul(C(3), B));
  CHECK(sub(B, B) == C(0));
  CHECK(mul(add(B, C(1)), C(2)) == add(mul(C(2), B), C(2)));

  /* Floor division: constants, exact polynomial division, opaque nodes. */
  CHECK(fdiv(C(7), C(2)) == C(3));
  CHECK(fdiv(C(-7), C(2)) == C(-4));
  CHECK(fdiv(mul(mul(B, T), C(768)), C(768)) == mul(B, T));
  CHECK(fdiv(mul(mul(B, T), C(768)), mul(B, C(768))) == T);
  CHECK(fdiv(B, C(1)) == B);
  CHECK(fdiv(T, T) == C(1));
  const TirDim *half = fdiv(add(T, C(1)), C(2));
  CHECK(half && half->kind == TIR_DIM_FLOORDIV);
  CHECK(half == fdiv(add(C(1), T), C(2)));
  CHECK(fdiv(B, C(0)) == NULL);

  /* Printing. */
  CHECK(printed(mul(B, T), "B*T"));
  CHECK(printed(mul(mul(T, B), C(768)), "768*B*T"));
  CHECK(printed(sub(Sx, L), "S-L"));
  CHECK(printed(add(T, C(1)), "T+1"));
  CHECK(printed(sub(T, C(1)), "T-1"));
  CHECK(printed(half, "(T+1)/2"));
  CHECK(printed(mul(C(2), half), "2*((T+1)/2)"));
  CHECK(printed(fdiv(T, mul(B, C(2))), "T/(2*B)"));
  CHECK(printed(C(-1), "-1"));
  CHECK(printed(sub(C(0), B), "-B"));

  /* Evaluation. */
  int64_t v = 0;
  CHECK(tir_dim_eval(add(mul(B, T), C(1)), lookup, NULL, &v) && v == 22);
  CHECK(tir_dim_eval(half, lookup, NULL, &v) && v == 4);
  CHECK(!tir_dim_eval(L, lookup, NULL, &v));
  int nsyms = 0;
  tir_dim_for_each_sym(add(mul(B, T), mul(B, B)), count_sym, &nsyms);
  CHECK(nsyms == 2);

  /* Overflow and size limits give errors, not wraparound. */
  const char *err = NULL;
  CHECK(tir_dim_mul(M, C(INT64_MAX), C(2), &err) == NULL && err != NULL);
  err = NULL;
  CHECK(tir_dim_add(M, C(INT64_MAX), C(1), &err) == NULL && err != NULL);
  err = NULL;
  CHECK(tir_dim_floordiv(M, C(INT64_MIN), C(-1), &err) == NULL && err != NULL);
  const TirDim *big = B;
  err = NULL;
  for (int i = 0; i < 100 && big; i++) big = tir_dim_mul(M, big, B, &err);
  CHECK(big == NULL && err != NULL);
  const TirDim *sum = add(B, C(1));
  err = NULL;
  for (int i = 0; i < 20 && sum; i++) sum = tir_dim_mul(M, sum, add(S(i % 2 ? "P" : "Q"), C(1)), &err);
  CHECK(sum == NULL && err != NULL);

  /* Types. */
  TirType a = {.dtype = TIR_F32, .rank = 2, .dims = {mul(B, T), C(768)}};
  TirType b = {.dtype = TIR_F32, .rank = 2, .dims = {mul(T, B), C(768)}};
  int64_t numel = 0;
  CHECK(tir_type_equal(&a, &b));
  CHECK(!tir_type_numel(&a, &numel));
  TirType c = {.dtype = TIR_F16, .rank = 3, .dims = {C(2), C(3), C(4)}};
  CHECK(tir_type_numel(&c, &numel) && numel == 24);
  TirType d = {.dtype = TIR_F32, .rank = 3, .dims = {C(INT64_MAX / 2), C(4), C(1)}};
  CHECK(!tir_type_numel(&d, &numel));

  /* Shortest round-trip float formatting. */
  char buf[64];
  tir_format_double(buf, sizeof buf, 0.125);
  CHECK(strcmp(buf, "0.125") == 0);
  tir_format_double(buf, sizeof buf, 1e-5);
  CHECK(strcmp(buf, "1e-05") == 0);
  tir_format_double(buf, sizeof buf, -3.4028234663852886e+38);
  CHECK(strcmp(buf, "-3.4028234663852886e+38") == 0);
  tir_format_double(buf, sizeof buf, -INFINITY);
  CHECK(strcmp(buf, "-inf") == 0);
  tir_format_double(buf, sizeof buf, NAN);
  CHECK(strcmp(buf, "nan") == 0);
  tir_format_float_as(buf, sizeof buf, (float)0.1, TIR_F32);
  CHECK(strcmp(buf, "0.1") == 0);
  tir_format_float_as(buf, sizeof buf, tir_f16_to_f32(tir_f32_to_f16(0.1f)), TIR_F16);
  CHECK(strcmp(buf, "0.1") == 0);
  /* Random doubles round-trip exactly. */
  int bad = 0;
  for (int i = 0; i < 10000; i++) {
    double x = tt_rng_unif(-0.5, 0.5) * pow(10, (double)tt_rng_int(-20, 19));
    tir_format_double(buf, sizeof buf, x);
    bad += strtod(buf, NULL) != x;
  }
  CHECK(bad == 0);

  /* f16 / bf16 conversions: exact values, rounding, specials. */
  CHECK(tir_f16_to_f32(tir_f32_to_f16(1.0f)) == 1.0f);
  CHECK(tir_f16_to_f32(tir_f32_to_f16(65504.0f)) == 65504.0f);
  CHECK(isinf(tir_f16_to_f32(tir_f32_to_f16(70000.0f))));
  CHECK(tir_f16_to_f32(tir_f32_to_f16(5.9604644775390625e-08f)) == 5.9604644775390625e-08f);
  CHECK(tir_f16_to_f32(tir_f32_to_f16(1.0f + 1.0f / 2048)) == 1.0f); /* tie to even */
  CHECK(isnan(tir_f16_to_f32(tir_f32_to_f16(NAN))));
  CHECK(tir_bf16_to_f32(tir_f32_to_bf16(1.0f + 1.0f / 256)) == 1.0f); /* tie to even */
  CHECK(tir_bf16_to_f32(tir_f32_to_bf16(-2.5f)) == -2.5f);
  int f16bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    float f = tir_f16_to_f32((uint16_t)h);
    if (f == f && tir_f32_to_f16(f) != h) f16bad++;
  }
  CHECK(f16bad == 0);

  tir_module_free(M);
  return CHECK_SUMMARY();
}
