/* test_edge_shapes.c — tensors with no elements through libtirc, every op
 * kind: such a tensor comes with a NULL data pointer (as PyTorch gives an
 * empty tensor), as an input or an output, and the run must accept it.
 * Results that are not empty although an operand is (a sum over an empty
 * dim, a matmul with K = 0, attention over no keys) must be the identity
 * documented in docs/runtime.md; amax/amin over an empty dim is an error,
 * as in PyTorch.  Also: reductions and softmax over dim 0 / -1 of a 0-d
 * tensor (torch's wrapped dim), symbols that appear only inside dim
 * expressions (f32[s+1], f32[2*s]: solved from the input's size), and
 * outputs whose memory overlaps an input (refused: the run would write an
 * output before reading the input). */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tt.h"
#include "tirc.h"

enum { MAX_T = 6 };

/* What an output must hold. */
enum { ANY, ZERO, NANS, SAME0, REPEAT = 10 /* + k: input k tiled */ };

typedef struct {
  const char *name, *tir;
  int n_in;
  struct {
    char dt; /* 'f' f32, 'i' i64, 'b' bool */
    int ndim;
    int64_t shape[4];
  } in[MAX_T];
  int expect_rc;          /* 0, or the error code */
  const char *expect_err; /* a substring of the error */
  int want[MAX_T];        /* per output: ANY, ZERO, NANS, SAME0 (= input 0), REPEAT + k */
} Case;

static tirc_dldtype_t dl(char dt) {
  return dt == 'f' ? (tirc_dldtype_t){2, 32, 1} : dt == 'i' ? (tirc_dldtype_t){0, 64, 1}
                                                             : (tirc_dldtype_t){6, 8, 1};
}

static int64_t numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int k = 0; k < ndim; k++) n *= shape[k];
  return n;
}

/* An output's element j as a double (f32, f16 or bool outputs). */
static double out_at(const tirc_dltensor_t *t, int64_t j) {
  if (t->dtype.code == 2 && t->dtype.bits == 32) return ((const float *)t->data)[j];
  if (t->dtype.code == 6) return ((const uint8_t *)t->data)[j];
  if (t->dtype.code == 0 && t->dtype.bits == 64) return (double)((const int64_t *)t->data)[j];
  return NAN; /* f16: only ever empty here */
}

static void run_case(const Case *c) {
  tirc_module_t *m = NULL;
  char *err = NULL;
  if (tirc_compile_string(c->tir, strlen(c->tir), c->name, NULL, &m, &err) != 0) {
    fprintf(stderr, "%s: compile failed: %s\n", c->name, err ? err : "?");
    CHECK(!"compiles");
    tirc_free(err);
    return;
  }
  tirc_dltensor_t in[MAX_T], out[MAX_T];
  int64_t oshape[MAX_T][16];
  void *data[2 * MAX_T] = {NULL};
  for (int i = 0; i < c->n_in; i++) {
    int64_t n = numel(c->in[i].ndim, c->in[i].shape);
    if (n > 0) { /* random values; an empty tensor gets NULL */
      data[i] = malloc((size_t)n * 8);
      for (int64_t j = 0; j < n; j++) {
        if (c->in[i].dt == 'f') ((float *)data[i])[j] = (float)tt_rng_unif(-1, 1);
        else if (c->in[i].dt == 'i') ((int64_t *)data[i])[j] = tt_rng_int(0, 2);
        else ((uint8_t *)data[i])[j] = (uint8_t)(tt_rng_u64() & 1);
      }
    }
    in[i] = (tirc_dltensor_t){data[i], {1, 0}, c->in[i].ndim, dl(c->in[i].dt),
                              (int64_t *)c->in[i].shape, NULL, 0};
  }
  int nr = tirc_module_num_outputs(m);
  tirc_dldtype_t odt[MAX_T];
  int32_t ond[MAX_T];
  int rc = tirc_module_output_shapes(m, in, c->n_in, odt, ond, oshape, &err);
  if (rc != 0) fprintf(stderr, "%s: output shapes: %s\n", c->name, err ? err : "?");
  CHECK(rc == 0);
  for (int j = 0; rc == 0 && j < nr; j++) {
    int64_t n = numel(ond[j], oshape[j]);
    if (n > 0) data[MAX_T + j] = malloc((size_t)n * 8);
    for (int64_t e = 0; e < n; e++) ((uint8_t *)data[MAX_T + j])[e] = 0xAB; /* not a likely answer */
    out[j] = (tirc_dltensor_t){data[MAX_T + j], {1, 0}, ond[j], odt[j], oshape[j], NULL, 0};
  }
  if (rc == 0) {
    rc = tirc_module_run(m, in, c->n_in, out, nr, 7, &err);
    if (rc != c->expect_rc || (c->expect_err && (!err || !strstr(err, c->expect_err))))
      fprintf(stderr, "%s: run gave %d (%s), expected %d (%s)\n", c->name, rc, err ? err : "",
              c->expect_rc, c->expect_err ? c->expect_err : "");
    CHECK(rc == c->expect_rc);
    CHECK(!c->expect_err || (err && strstr(err, c->expect_err)));
  }
  for (int j = 0; rc == 0 && j < nr; j++) {
    int64_t n = numel(ond[j], oshape[j]);
    int bad = 0;
    for (int64_t e = 0; e < n; e++) {
      double v = out_at(&out[j], e), w = 0;
      switch (c->want[j]) {
      case ANY: continue;
      case ZERO: w = 0; break;
      case NANS: bad += !isnan(v); continue;
      case SAME0: w = ((const float *)data[0])[e]; break;
      default: { /* input k tiled in row-major order (a broadcast bias, a concat) */
        int k = c->want[j] - REPEAT;
        w = ((const float *)data[k])[e % numel(c->in[k].ndim, c->in[k].shape)];
        break;
      }
      }
      bad += v != w;
    }
    if (bad) fprintf(stderr, "%s: output %d has %d wrong elements\n", c->name, j, bad);
    CHECK(bad == 0);
  }
  tirc_free(err);
  for (int i = 0; i < 2 * MAX_T; i++) free(data[i]);
  tirc_module_free(m);
}

#define F(...) {'f', __VA_ARGS__}
#define I(...) {'i', __VA_ARGS__}
#define B(...) {'b', __VA_ARGS__}

static const Case CASES[] = {
    {"unary", "func @main(%x: f32[N, 3]) -> (f32[N, 3]) {\n %y = exp(%x)\n return %y\n}\n",
     1, {F(2, {0, 3})}, 0, NULL, {ANY}},
    {"elementwise",
     "func @main(%x: f32[N, 3], %b: f32[3], %m: bool[N, 3]) -> (f32[N, 3], bool[N, 3], f32[N, 3], "
     "f32[N, 3], f16[N, 3]) {\n %a = add(%x, %b)\n %c = gt(%x, %b)\n %w = where(%m, %x, %a)\n"
     " %f = masked_fill(%x, %m, value=1.0)\n %h = cast(%a, dtype=f16)\n return %a, %c, %w, %f, %h\n}\n",
     3, {F(2, {0, 3}), F(1, {3}), B(2, {0, 3})}, 0, NULL, {ANY}},
    /* Over an empty dim: sum 0, mean NaN (0/0), as torch. */
    {"reduce empty dim",
     "func @main(%x: f32[3, K]) -> (f32[3], f32[3], f32[3, 1], f32[], f32[]) {\n"
     " %s = sum(%x, dims=[1])\n %m = mean(%x, dims=[-1])\n %k = sum(%x, dims=[1], keepdim=true)\n"
     " %a = sum(%x)\n %b = mean(%x)\n return %s, %m, %k, %a, %b\n}\n",
     1, {F(2, {3, 0})}, 0, NULL, {ZERO, NANS, ZERO, ZERO, NANS}},
    {"reduce empty other dim",
     "func @main(%x: f32[N, 3]) -> (f32[3], f32[3], f32[N], f32[N]) {\n"
     " %s = sum(%x, dims=[0])\n %m = mean(%x, dims=[0])\n %a = amax(%x, dims=[1])\n"
     " %b = amin(%x, dims=[1])\n return %s, %m, %a, %b\n}\n",
     1, {F(2, {0, 3})}, 0, NULL, {ZERO, NANS, ANY, ANY}},
    {"amax empty dim", "func @main(%x: f32[3, K]) -> (f32[3]) {\n %a = amax(%x, dims=[1])\n return %a\n}\n",
     1, {F(2, {3, 0})}, 1, "amax: reduction over a dim of size 0 has no identity", {ANY}},
    {"amin all of empty", "func @main(%x: f32[N, 3]) -> (f32[]) {\n %a = amin(%x)\n return %a\n}\n",
     1, {F(2, {0, 3})}, 1, "amin: reduction over a dim of size 0 has no identity", {ANY}},
    {"softmax",
     "func @main(%x: f32[N, K]) -> (f32[N, K], f32[N, K], f32[N, K]) {\n %a = softmax(%x, dim=-1)\n"
     " %b = log_softmax(%x, dim=0)\n %c = softmax(%x, dim=0)\n return %a, %b, %c\n}\n",
     1, {F(2, {4, 0})}, 0, NULL, {ANY}},
    {"softmax empty rows",
     "func @main(%x: f32[N, K]) -> (f32[N, K], f32[N, K]) {\n %a = softmax(%x, dim=-1)\n"
     " %b = log_softmax(%x, dim=-1)\n return %a, %b\n}\n",
     1, {F(2, {0, 5})}, 0, NULL, {ANY}},
    {"norms",
     "func @main(%x: f32[N, 4], %w: f32[4], %b: f32[4]) -> (f32[N, 4], f32[N, 4]) {\n"
     " %a = layer_norm(%x, %w, %b, eps=1e-05)\n %r = rms_norm(%x, %w, eps=1e-06)\n return %a, %r\n}\n",
     3, {F(2, {0, 4}), F(1, {4}), F(1, {4})}, 0, NULL, {ANY}},
    {"norm over empty dim",
     "func @main(%x: f32[3, K], %w: f32[K]) -> (f32[3, K], f32[3, K]) {\n"
     " %a = layer_norm(%x, %w, eps=1e-05)\n %r = rms_norm(%x, %w)\n return %a, %r\n}\n",
     2, {F(2, {3, 0}), F(1, {0})}, 0, NULL, {ANY}},
    /* K = 0: the empty sum of products, zeros; linear then gives the bias. */
    {"matmul K=0",
     "func @main(%a: f32[3, K], %b: f32[K, 2]) -> (f32[3, 2]) {\n %c = matmul(%a, %b)\n return %c\n}\n",
     2, {F(2, {3, 0}), F(2, {0, 2})}, 0, NULL, {ZERO}},
    {"batched matmul K=0",
     "func @main(%a: f32[2, 3, K], %b: f32[K, 4]) -> (f32[2, 3, 4]) {\n %c = matmul(%a, %b)\n"
     " return %c\n}\n",
     2, {F(3, {2, 3, 0}), F(2, {0, 4})}, 0, NULL, {ZERO}},
    {"matmul empty rows",
     "func @main(%a: f32[N, 3], %b: f32[3, M]) -> (f32[N, M]) {\n %c = matmul(%a, %b)\n return %c\n}\n",
     2, {F(2, {0, 3}), F(2, {3, 0})}, 0, NULL, {ANY}},
    {"linear K=0",
     "func @main(%x: f32[3, K], %w: f32[2, K], %b: f32[2]) -> (f32[3, 2], f32[3, 2]) {\n"
     " %y = linear(%x, %w, %b)\n %z = linear(%x, %w)\n return %y, %z\n}\n",
     3, {F(2, {3, 0}), F(2, {2, 0}), F(1, {2})}, 0, NULL, {REPEAT + 2, ZERO}},
    {"views",
     "func @main(%x: f32[N, 3], %e: f32[1, N]) -> (f32[3, N], f32[3, N], f32[4, N], f32[N, 2], "
     "f32[3, N], f32[N, 3]) {\n %r = reshape(%x, shape=[3, N])\n %p = permute(%x, dims=[1, 0])\n"
     " %x2 = expand(%e, shape=[4, N])\n %s = slice(%x, dim=1, start=1, end=3)\n %t = transpose(%x, dim0=0, dim1=1)\n"
     " %c = contiguous(%t)\n %d = clone(%x)\n return %r, %p, %x2, %s, %c, %d\n}\n",
     2, {F(2, {0, 3}), F(2, {1, 0})}, 0, NULL, {ANY}},
    {"slice to empty",
     "func @main(%x: f32[5, 3]) -> (f32[0, 3], f32[5, 0]) {\n %a = slice(%x, dim=0, start=2, end=2)\n"
     " %b = slice(%x, dim=1, start=3, end=3)\n return %a, %b\n}\n",
     1, {F(2, {5, 3})}, 0, NULL, {ANY}},
    {"concat", "func @main(%x: f32[N, 3], %y: f32[2, 3]) -> (f32[N+2, 3], f32[N, 6]) {\n"
               " %c = concat(%x, %y, dim=0)\n %d = concat(%x, %x, dim=1)\n return %c, %d\n}\n",
     2, {F(2, {0, 3}), F(2, {2, 3})}, 0, NULL, {REPEAT + 1, ANY}},
    {"sources",
     "func @main(%x: f32[N, N]) -> (i64[N], f32[N, 2], f32[N, N], f32[N, N]) {\n"
     " %a = arange(end=N, dtype=i64)\n %f = full(shape=[N, 2], value=1.5, dtype=f32)\n"
     " %l = tril(%x)\n %u = triu(%x, diagonal=1)\n return %a, %f, %l, %u\n}\n",
     1, {F(2, {0, 0})}, 0, NULL, {ANY}},
    {"embedding",
     "func @main(%w: f32[V, 4], %i: i64[N], %w0: f32[Z, 4]) -> (f32[N, 4], f32[N, 4]) {\n"
     " %a = embedding(%w, %i)\n %b = embedding(%w0, %i)\n return %a, %b\n}\n",
     3, {F(2, {5, 4}), I(1, {0}), F(2, {0, 4})}, 0, NULL, {ANY}},
    {"dropout",
     "func @main(%x: f32[N, 3]) -> (f32[N, 3]) {\n %y = dropout(%x, p=0.5, training=true)\n"
     " return %y\n}\n",
     1, {F(2, {0, 3})}, 0, NULL, {ANY}},
    /* No keys: every query row attends to nothing, 0 (spec 5's fully masked row). */
    {"sdpa no keys",
     "func @main(%q: f32[1, 2, L, 8], %k: f32[1, 2, S, 8], %v: f32[1, 2, S, 8]) -> (f32[1, 2, L, 8]) {\n"
     " %o = sdpa(%q, %k, %v)\n return %o\n}\n",
     3, {F(4, {1, 2, 3, 8}), F(4, {1, 2, 0, 8}), F(4, {1, 2, 0, 8})}, 0, NULL, {ZERO}},
    {"sdpa no queries",
     "func @main(%q: f32[B, 2, L, 8], %k: f32[B, 2, S, 8], %v: f32[B, 2, S, 8]) -> (f32[B, 2, L, 8]) {\n"
     " %o = sdpa(%q, %k, %v, is_causal=true)\n return %o\n}\n",
     3, {F(4, {1, 2, 0, 8}), F(4, {1, 2, 4, 8}), F(4, {1, 2, 4, 8})}, 0, NULL, {ANY}},
    {"sdpa empty value dim",
     "func @main(%q: f32[1, 2, L, 8], %k: f32[1, 2, S, 8], %v: f32[1, 2, S, E]) -> (f32[1, 2, L, E]) {\n"
     " %o = sdpa(%q, %k, %v)\n return %o\n}\n",
     3, {F(4, {1, 2, 3, 8}), F(4, {1, 2, 4, 8}), F(4, {1, 2, 4, 0})}, 0, NULL, {ANY}},
    /* 0-d: dims 0 and -1 name the wrapped dim; the reduction is the identity. */
    {"0-d reductions",
     "func @main(%x: f32[]) -> (f32[], f32[], f32[], f32[], f32[], f32[]) {\n"
     " %a = sum(%x, dims=[0])\n %b = mean(%x, dims=[-1])\n %c = amax(%x, dims=[0], keepdim=true)\n"
     " %d = amin(%x, dims=[-1])\n %e = sum(%x, dims=[-1], keepdim=true)\n %f = mean(%x)\n"
     " return %a, %b, %c, %d, %e, %f\n}\n",
     1, {F(0, {0})}, 0, NULL, {SAME0, SAME0, SAME0, SAME0, SAME0, SAME0}},
};

/* The 0-d softmax values: 1 and 0, whatever x (finite). */
static void test_0d_softmax_values(void) {
  const char *t = "func @main(%x: f32[]) -> (f32[], f32[], f32[], f32[]) {\n"
                  " %a = softmax(%x, dim=0)\n %b = softmax(%x, dim=-1)\n"
                  " %c = log_softmax(%x, dim=0)\n %d = log_softmax(%x, dim=-1)\n"
                  " return %a, %b, %c, %d\n}\n";
  tirc_module_t *m = NULL;
  char *err = NULL;
  CHECK(tirc_compile_string(t, strlen(t), "sm0.tir", NULL, &m, &err) == 0);
  if (!m) return;
  float x = 3.25f, o[4] = {NAN, NAN, NAN, NAN};
  tirc_dltensor_t in = {&x, {1, 0}, 0, {2, 32, 1}, NULL, NULL, 0}, out[4];
  for (int j = 0; j < 4; j++) out[j] = (tirc_dltensor_t){&o[j], {1, 0}, 0, {2, 32, 1}, NULL, NULL, 0};
  CHECK(tirc_module_run(m, &in, 1, out, 4, 0, &err) == 0);
  CHECK(o[0] == 1 && o[1] == 1 && o[2] == 0 && o[3] == 0);
  tirc_free(err);
  tirc_module_free(m);
}

/* E = 0: every score is 0, so each query row is the mean of v's rows
 * (torch: 1/sqrt(0) scales an empty q; the products are still 0). */
static void test_sdpa_no_features(void) {
  const char *t = "func @main(%q: f32[2, L, E], %k: f32[2, S, E], %v: f32[2, S, 3]) -> (f32[2, L, 3]) {\n"
                  " %o = sdpa(%q, %k, %v)\n return %o\n}\n";
  tirc_module_t *m = NULL;
  char *err = NULL;
  CHECK(tirc_compile_string(t, strlen(t), "e0.tir", NULL, &m, &err) == 0);
  if (!m) return;
  float v[2 * 5 * 3], o[2 * 4 * 3];
  for (int i = 0; i < 2 * 5 * 3; i++) v[i] = (float)tt_rng_unif(-1, 1);
  int64_t qs[3] = {2, 4, 0}, ks[3] = {2, 5, 0}, vs[3] = {2, 5, 3}, os[3] = {2, 4, 3};
  tirc_dltensor_t in[3] = {{NULL, {1, 0}, 3, {2, 32, 1}, qs, NULL, 0},
                           {NULL, {1, 0}, 3, {2, 32, 1}, ks, NULL, 0},
                           {v, {1, 0}, 3, {2, 32, 1}, vs, NULL, 0}};
  tirc_dltensor_t out = {o, {1, 0}, 3, {2, 32, 1}, os, NULL, 0};
  int rc = tirc_module_run(m, in, 3, &out, 1, 0, &err);
  if (rc) fprintf(stderr, "sdpa E=0: %s\n", err ? err : "?");
  CHECK(rc == 0);
  double num = 0, den = 0;
  for (int h = 0; h < 2; h++)
    for (int l = 0; l < 4; l++)
      for (int e = 0; e < 3; e++) {
        double ref = 0;
        for (int j = 0; j < 5; j++) ref += v[(h * 5 + j) * 3 + e];
        ref /= 5;
        double got = o[(h * 4 + l) * 3 + e];
        num += (got - ref) * (got - ref);
        den += ref * ref;
      }
  CHECK(rc == 0 && sqrt(num / den) < 1e-6);
  tirc_free(err);
  tirc_module_free(m);
}

/* An output overlapping an input (or another output) is refused. */
static void test_aliasing(void) {
  const char *t = "func @main(%x: f32[4], %y: f32[4]) -> (f32[4], f32[4]) {\n"
                  " %a = exp(%x)\n %b = add(%a, %y)\n %c = mul(%x, %y)\n return %b, %c\n}\n";
  tirc_module_t *m = NULL;
  char *err = NULL;
  CHECK(tirc_compile_string(t, strlen(t), "alias.tir", NULL, &m, &err) == 0);
  if (!m) return;
  float buf[16];
  for (int i = 0; i < 16; i++) buf[i] = (float)i / 8;
  int64_t s4[1] = {4};
#define T(p) ((tirc_dltensor_t){(p), {1, 0}, 1, {2, 32, 1}, s4, NULL, 0})
  tirc_dltensor_t in[2] = {T(buf), T(buf + 4)};
  struct {
    float *o0, *o1;
    int rc;
  } tries[] = {
      {buf + 8, buf + 12, 0},  /* disjoint */
      {buf, buf + 12, 1},      /* output 0 is input x */
      {buf + 8, buf + 2, 1},   /* output 1 straddles x and y */
      {buf + 8, buf + 10, 1},  /* the outputs overlap each other */
      {buf + 7, buf + 12, 1},  /* one element shared with y */
  };
  for (size_t k = 0; k < sizeof tries / sizeof tries[0]; k++) {
    tirc_dltensor_t out[2] = {T(tries[k].o0), T(tries[k].o1)};
    int rc = tirc_module_run(m, in, 2, out, 2, 0, &err);
    CHECK(rc == tries[k].rc);
    if (tries[k].rc) CHECK(err && strstr(err, "overlaps"));
    if (rc != tries[k].rc) fprintf(stderr, "aliasing try %zu: rc %d (%s)\n", k, rc, err ? err : "");
    tirc_free(err);
    err = NULL;
  }
  /* The disjoint run computed the right thing. */
  tirc_dltensor_t out[2] = {T(buf + 8), T(buf + 12)};
  CHECK(tirc_module_run(m, in, 2, out, 2, 0, &err) == 0);
  int bad = 0;
  for (int i = 0; i < 4; i++) {
    bad += fabsf(buf[8 + i] - (expf(buf[i]) + buf[4 + i])) > 1e-6f * (1 + fabsf(buf[8 + i]));
    bad += buf[12 + i] != buf[i] * buf[4 + i];
  }
  CHECK(bad == 0);
#undef T
  tirc_free(err);
  tirc_module_free(m);
}

/* Symbols bound only through expressions: s from x's [s+1, 4] (or from
 * y's [2*s] when x comes later), b from a*b once a is known, u from 10-u. */
static void test_symbol_solving(void) {
  const char *t = "func @main(%y: f32[2*s], %x: f32[s+1, 4], %z: f32[(t+1)*3, a*b], %w: f32[a, 10-u])"
                  " -> (f32[s+1, 4], f32[t, b], f32[u]) {\n"
                  " %a = mul(%x, 2.0)\n %b = full(shape=[t, b], value=1.0, dtype=f32)\n"
                  " %c = full(shape=[u], value=0.5, dtype=f32)\n return %a, %b, %c\n}\n";
  tirc_module_t *m = NULL;
  char *err = NULL;
  CHECK(tirc_compile_string(t, strlen(t), "sym.tir", NULL, &m, &err) == 0);
  if (!m) {
    fprintf(stderr, "sym.tir: %s\n", err ? err : "?");
    tirc_free(err);
    return;
  }
  static float y[6], x[16], z[9 * 12], w[3 * 4], o0[16], o1[8], o2[6];
  for (int i = 0; i < 16; i++) x[i] = (float)tt_rng_unif(-1, 1);
  int64_t ys[1] = {6}, xs[2] = {4, 4}, zs[2] = {9, 12}, ws[2] = {3, 4};
#define T(p, n, sh) ((tirc_dltensor_t){(p), {1, 0}, (n), {2, 32, 1}, (sh), NULL, 0})
  tirc_dltensor_t in[4] = {T(y, 1, ys), T(x, 2, xs), T(z, 2, zs), T(w, 2, ws)};
  tirc_dldtype_t dt[3];
  int32_t nd[3];
  int64_t shp[3][16];
  int rc = tirc_module_output_shapes(m, in, 4, dt, nd, shp, &err);
  if (rc) fprintf(stderr, "sym.tir: %s\n", err ? err : "?");
  /* s = 3, t = 2, a = 3, b = 4, u = 6 */
  CHECK(rc == 0 && shp[0][0] == 4 && shp[0][1] == 4 && shp[1][0] == 2 && shp[1][1] == 4 &&
        shp[2][0] == 6);
  int64_t s0[2] = {4, 4}, s1[2] = {2, 4}, s2[1] = {6};
  tirc_dltensor_t out[3] = {T(o0, 2, s0), T(o1, 2, s1), T(o2, 1, s2)};
  rc = tirc_module_run(m, in, 4, out, 3, 0, &err);
  CHECK(rc == 0);
  int bad = 0;
  for (int i = 0; i < 16; i++) bad += o0[i] != 2 * x[i];
  for (int i = 0; i < 8; i++) bad += o1[i] != 1.0f;
  for (int i = 0; i < 6; i++) bad += o2[i] != 0.5f;
  CHECK(bad == 0);
  tirc_free(err);
  err = NULL;
  /* Sizes no whole s >= 0 gives, and sizes that contradict each other. */
  struct {
    int64_t y, x0, w1;
    const char *msg;
  } bads[] = {
      {7, 4, 4, "input y: dim 0 is 7, which the declared 2*s cannot be for a whole number s >= 0"},
      {8, 0, 4, "does not fit"}, /* y gives s = 4, x says s + 1 = 0 */
      {8, 5, 11, "input w: dim 1 is 11, which the declared"},
  };
  for (size_t k = 0; k < sizeof bads / sizeof bads[0]; k++) {
    int64_t yb[1] = {bads[k].y}, xb[2] = {bads[k].x0, 4}, wb[2] = {3, bads[k].w1};
    static float big[64];
    tirc_dltensor_t in2[4] = {T(big, 1, yb), T(big, 2, xb), T(z, 2, zs), T(big, 2, wb)};
    rc = tirc_module_output_shapes(m, in2, 4, dt, nd, shp, &err);
    CHECK(rc == 1 && err && strstr(err, bads[k].msg));
    if (!err || !strstr(err, bads[k].msg)) fprintf(stderr, "symbols %zu: %s\n", k, err ? err : "?");
    tirc_free(err);
    err = NULL;
  }
#undef T
  tirc_module_free(m);
}

int main(int argc, char **argv) {
  tt_seed("test_edge_shapes", argc, argv, true, 0);
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(&CASES[i]);
  test_0d_softmax_values();
  test_sdpa_no_features();
  test_aliasing();
  test_symbol_solving();
  return CHECK_SUMMARY();
}
