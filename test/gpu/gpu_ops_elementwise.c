/* gpu_ops_elementwise.c — test_gpu_ops: copy/cast, unary, binary, where /
 * masked_fill, reductions and softmax, GPU library kernels against the CPU
 * kernels.  Their values per op x dtype are test/ops' (ctest ops.backend);
 * here the geometries (transposed, sliced, broadcast inputs, sliced
 * outputs), long runs, and what TIR does not express. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gpu_ops.h"

/* ------------------------------------------------------------ families */

void test_copy(void) {
  family_begin("copy/cast");
  for (int sdt = 0; sdt < TIRK_DTYPE_COUNT; sdt++)
    for (int ddt = 0; ddt < TIRK_DTYPE_COUNT; ddt++)
      for (int si = 0; si < nshapes; si++)
        for (int l = 0; l < L_COUNT; l++) {
          const shape_t *sh = &shapes[si];
          ten_t x = make(sdt, sh->rank, sh->s, l, bmask_of(sh), FILL_SPECIAL);
          ten_t o = out_new(ddt, sh->rank, sh->s, l == L_SLICE);
          tirrt_view_t hx = hv(&x), ho = hv(&o);
          tirk_view_t dx = dv(&x), dO = dv(&o);
          tirrt_status_t st = tirrt_cpu_copy(&hx, &ho);
          tirk_err_t e = tirk_copy(&dx, &dO, 0);
          char desc[128];
          snprintf(desc, sizeof desc, "%s->%s shape#%d %s", dtn(sdt), dtn(ddt), si, layout_names[l]);
          finish(desc, st, e, &o, 0);
        }
  family_end();
}

/* Same-dtype copies that tirk_copy moves in 4-, 8- or 16-byte words: a
 * [2, 5, 3, D] buffer read as [2, 3, 5, D] (the attention output's
 * [B, H, T, D] -> [B, T, H, D]) into a dense output, with inner rows of
 * 16 bytes and more, of 12 bytes (4-byte words only), and at an odd
 * element offset (no widening), for every element size. */
void test_copy_wide(void) {
  family_begin("copy/wide");
  static const int64_t inner[] = {64, 8, 6, 3};
  for (int dt = 0; dt < TIRK_DTYPE_COUNT; dt++)
    for (int di = 0; di < 4; di++)
      for (int off = 0; off < 2; off++) {
        int64_t D = inner[di], buf_shape[4] = {2, 5, 3, D}, shape[4] = {2, 3, 5, D};
        ten_t x = make(dt, 4, buf_shape, L_CONTIG, 0, FILL_SPECIAL);
        int64_t t = x.strides[1];
        x.strides[1] = x.strides[2], x.strides[2] = t;
        memcpy(x.shape, shape, sizeof shape);
        x.off = off; /* make() leaves one spare element */
        ten_t o = out_new(dt, 4, shape, false);
        tirrt_view_t hx = hv(&x), ho = hv(&o);
        tirk_view_t dx = dv(&x), dO = dv(&o);
        tirrt_status_t st = tirrt_cpu_copy(&hx, &ho);
        tirk_err_t e = tirk_copy(&dx, &dO, 0);
        char desc[128];
        snprintf(desc, sizeof desc, "%s D=%lld offset %d", dtn(dt), (long long)D, off);
        finish(desc, st, e, &o, 0);
      }
  family_end();
}

static const char *unop_name[] = {"neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal", "tanh", "sigmoid",
                                  "relu", "silu", "erf", "sin", "cos", "gelu", "gelu_tanh", "logical_not"};

/* The values of every unary row on every dtype TIR takes are test/ops
 * (ctest ops.backend, its cuda backend).  Here: every geometry and shape
 * with exp standing for the float ops, and what TIR does not express:
 * integer neg/abs/relu, logical_not on every dtype. */
void test_unary(void) {
  family_begin("unary");
  for (int op = 0; op < TIRK_UN_COUNT; op++)
    for (int dt = 0; dt < TIRK_DTYPE_COUNT; dt++) {
      bool int_op = op == TIRK_UN_NEG || op == TIRK_UN_ABS || op == TIRK_UN_RELU;
      bool run = op == TIRK_UN_LOGICAL_NOT || (is_float(dt) ? op == TIRK_UN_EXP : int_op && dt != TIRK_BOOL);
      if (!run) continue;
      int odt = op == TIRK_UN_LOGICAL_NOT ? TIRK_BOOL : dt;
      for (int si = 0; si < nshapes; si++)
        for (int l = 0; l < L_COUNT; l++) {
          const shape_t *sh = &shapes[si];
          ten_t x = make(dt, sh->rank, sh->s, l, bmask_of(sh), op == TIRK_UN_LOGICAL_NOT ? FILL_SPECIAL : FILL_NORMAL);
          ten_t o = out_new(odt, sh->rank, sh->s, l == L_SLICE);
          tirrt_view_t hx = hv(&x), ho = hv(&o);
          tirk_view_t dx = dv(&x), dO = dv(&o);
          tirrt_status_t st = tirrt_cpu_unary((tirrt_unop_t)op, &hx, &ho);
          tirk_err_t e = tirk_unary(op, &dx, &dO, 0);
          char desc[128];
          snprintf(desc, sizeof desc, "%s %s shape#%d %s", unop_name[op], dtn(dt), si, layout_names[l]);
          finish(desc, st, e, &o, tol_of(odt));
        }
    }
  family_end();
}

static const char *binop_name[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt",
                                   "le", "gt", "ge", "logical_and", "logical_or"};

/* Binary values are test/ops'.  Here: every geometry and shape with
 * maximum and lt standing for the ops (every dtype; a bool output), and
 * what TIR does not express: integer div, logical and/or on non-bool. */
static bool binary_runs(int op, int dt) {
  if (op == TIRK_BIN_MAXIMUM || op == TIRK_BIN_LT) return true;
  if (op == TIRK_BIN_DIV) return !is_float(dt) && dt != TIRK_BOOL;
  return (op == TIRK_BIN_LOGICAL_AND || op == TIRK_BIN_LOGICAL_OR) && dt != TIRK_BOOL;
}

void test_binary(void) {
  family_begin("binary");
  for (int op = 0; op < TIRK_BIN_COUNT; op++)
    for (int dt = 0; dt < TIRK_DTYPE_COUNT; dt++) {
      if (!binary_runs(op, dt)) continue;
      bool pred = op >= TIRK_BIN_EQ;
      int odt = pred ? TIRK_BOOL : dt;
      for (int si = 0; si < nshapes; si++)
        for (int l = 0; l < L_COUNT; l++) {
          const shape_t *sh = &shapes[si];
          /* a in the layout, b broadcast or transposed in turn */
          int lb = (l + 1) % L_COUNT;
          ten_t a = make(dt, sh->rank, sh->s, l, bmask_of(sh), FILL_NORMAL);
          ten_t b = make(dt, sh->rank, sh->s, lb, bmask_of(sh), FILL_NORMAL);
          if (pred && si == 1 && is_float(dt)) { /* equal elements for the comparisons */
            ten_t *t = &b;
            memcpy(t->b->h, a.b->h, a.b->bytes < t->b->bytes ? a.b->bytes : t->b->bytes);
            upload(t->b);
          }
          ten_t o = out_new(odt, sh->rank, sh->s, l == L_SLICE);
          tirrt_view_t ha = hv(&a), hb = hv(&b), ho = hv(&o);
          tirk_view_t da = dv(&a), db = dv(&b), dO = dv(&o);
          tirrt_status_t st = tirrt_cpu_binary((tirrt_binop_t)op, &ha, &hb, &ho);
          tirk_err_t e = tirk_binary(op, &da, &db, &dO, 0);
          char desc[128];
          snprintf(desc, sizeof desc, "%s %s shape#%d %s/%s", binop_name[op], dtn(dt), si, layout_names[l],
                   layout_names[lb]);
          finish(desc, st, e, &o, tol_of(odt));
        }
    }
  /* In place: out is a (the linear-bias use). */
  for (int dt = 0; dt < TIRK_DTYPE_COUNT; dt++) {
    if (dt == TIRK_BOOL) continue;
    int64_t s[2] = {33, 65};
    ten_t a = make(dt, 2, s, L_CONTIG, 0, FILL_NORMAL);
    ten_t b = make(dt, 2, s, L_BCAST, 1, FILL_NORMAL);
    ten_t o = out_new(dt, 2, s, false);
    tirrt_view_t ha = hv(&a), hb = hv(&b), ho = hv(&o);
    tirk_view_t da = dv(&a), db = dv(&b);
    tirrt_status_t st = tirrt_cpu_binary(TIRRT_BIN_ADD, &ha, &hb, &ho);
    tirk_err_t e = tirk_binary(TIRK_BIN_ADD, &da, &db, &da, 0);
    /* a's elements (the result) into o's (o's tail stays poisoned like the CPU's), to compare with the CPU's out */
    if (cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(o.b->d, a.b->d, (size_t)(33 * 65) * esize(dt), cudaMemcpyDeviceToDevice) != cudaSuccess)
      cuda_broken = 1;
    char desc[64];
    snprintf(desc, sizeof desc, "add in place %s", dtn(dt));
    finish(desc, st, e, &o, tol_of(dt));
  }
  family_end();
}

/* where's values are test/ops'; here its geometries on one dtype of each
 * element size.  masked_fill on every dtype: its fill values (NaN, 1e10,
 * -inf into integers) are what TIR does not express. */
void test_where(void) {
  family_begin("where/mfill");
  static const double values[] = {-3.7, 1e10, NAN, 0.5, -INFINITY, 300.2};
  for (int dt = 0; dt < TIRK_DTYPE_COUNT; dt++)
    for (int si = 0; si < nshapes; si++)
      for (int l = 0; l < L_COUNT; l++) {
        const shape_t *sh = &shapes[si];
        for (int which = 0; which < 2; which++) {
          if (which == 0 && dt != TIRK_BOOL && dt != TIRK_I16 && dt != TIRK_F32 && dt != TIRK_F64) continue;
          ten_t c = make(TIRK_BOOL, sh->rank, sh->s, (l + 2) % L_COUNT, bmask_of(sh), FILL_BOOL);
          ten_t a = make(dt, sh->rank, sh->s, l, bmask_of(sh), FILL_SPECIAL);
          ten_t b = make(dt, sh->rank, sh->s, (l + 1) % L_COUNT, bmask_of(sh), FILL_SPECIAL);
          ten_t o = out_new(dt, sh->rank, sh->s, l == L_SLICE);
          tirrt_view_t hc = hv(&c), ha = hv(&a), hb = hv(&b), ho = hv(&o);
          tirk_view_t dc = dv(&c), da = dv(&a), db = dv(&b), dO = dv(&o);
          tirrt_status_t st;
          tirk_err_t e;
          char desc[128];
          if (which == 0) {
            st = tirrt_cpu_where(&hc, &ha, &hb, &ho);
            e = tirk_where(&dc, &da, &db, &dO, 0);
            snprintf(desc, sizeof desc, "where %s shape#%d %s", dtn(dt), si, layout_names[l]);
          } else {
            double v = values[(si + l) % 6];
            st = tirrt_cpu_masked_fill(&ha, &hc, v, &ho);
            e = tirk_masked_fill(&da, &dc, v, &dO, 0);
            snprintf(desc, sizeof desc, "masked_fill %s %g shape#%d %s", dtn(dt), v, si, layout_names[l]);
          }
          finish(desc, st, e, &o, 0);
        }
      }
  family_end();
}

/* A reduction over the dims in mask of shape sh with x in layout l. */
static void reduce_case(int op, int dt, int odt, const shape_t *sh, int l, uint32_t mask) {
  int64_t os[4];
  for (int d = 0; d < sh->rank; d++) os[d] = (mask >> d) & 1 ? 1 : sh->s[d];
  ten_t x = make(dt, sh->rank, sh->s, l, bmask_of(sh), FILL_NORMAL);
  ten_t o = out_new(odt, sh->rank, os, false);
  tirrt_view_t hx = hv(&x), ho = hv(&o);
  tirk_view_t dx = dv(&x), dO = dv(&o);
  static const char *names[] = {"sum", "mean", "amax", "amin"};
  tirrt_status_t st = tirrt_cpu_reduce((tirrt_redop_t)op, &hx, mask, &ho);
  tirk_err_t e = tirk_reduce(op, &dx, mask, &dO, 0);
  char desc[160];
  snprintf(desc, sizeof desc, "%s %s->%s rank %d [%lld..] mask 0x%x %s", names[op], dtn(dt), dtn(odt), sh->rank,
           (long long)sh->s[0], mask, layout_names[l]);
  finish(desc, st, e, &o, tol_of(odt));
}

/* Reduction values on the shapes of test/ops are its own.  Here: long
 * rows and columns, every dim mask, every geometry, with sum (every dtype,
 * integers also into i64) and amax (one dtype of each element size)
 * standing for the four, and mean on integers into f32 (not in TIR). */
static bool reduce_runs(int op, int dt) {
  if (op == TIRK_RED_SUM) return true;
  if (op == TIRK_RED_MEAN) return !is_float(dt);
  return op == TIRK_RED_AMAX && (dt == TIRK_U8 || dt == TIRK_F16 || dt == TIRK_F32 || dt == TIRK_I64);
}

void test_reduce(bool quick) {
  family_begin("reduce");
  static const shape_t rshapes[] = {{1, {4097}}, {2, {33, 65}}, {3, {7, 33, 65}}, {3, {3, 0, 5}},
                                    {2, {5000, 3}}, {2, {3, 5000}}, {1, {1}}, {3, {2, 3, 1}}};
  int nr = quick ? 4 : 8;
  for (int op = 0; op < 4; op++)
    for (int dt = 0; dt < TIRK_DTYPE_COUNT; dt++)
      for (int si = 0; si < nr && reduce_runs(op, dt); si++) {
        const shape_t *sh = &rshapes[si];
        for (uint32_t mask = 1; mask < (1u << sh->rank); mask++)
          for (int l = 0; l < L_COUNT; l++) {
            if (l == L_SLICE && sh->rank == 3 && mask != 5) continue; /* keep the count down */
            int odt = dt;
            if (op == TIRK_RED_MEAN && !is_float(dt)) odt = TIRK_F32;
            reduce_case(op, dt, odt, sh, l, mask);
            if (op == TIRK_RED_SUM && !is_float(dt) && l == 0) reduce_case(op, dt, TIRK_I64, sh, l, mask);
          }
      }
  family_end();
}

/* Softmax values on every float dtype are test/ops'; here long rows and
 * columns, every dim and geometry, on bf16 and f32. */
void test_softmax(bool quick) {
  family_begin("softmax");
  static const shape_t sshapes[] = {{1, {1}}, {2, {7, 33}}, {2, {3, 1000}}, {2, {2, 4097}}, {3, {4, 7, 33}},
                                    {3, {2, 0, 3}}, {2, {1500, 3}}};
  int ns = quick ? 3 : 7;
  static const int sdts[] = {TIRK_BF16, TIRK_F32};
  for (int di = 0; di < 2; di++)
    for (int si = 0; si < ns; si++) {
      const shape_t *sh = &sshapes[si];
      int dt = sdts[di];
      for (int dim = -1; dim < sh->rank; dim++)
        for (int l = 0; l < L_COUNT; l++)
          for (int lg = 0; lg < 2; lg++) {
            ten_t x = make(dt, sh->rank, sh->s, l, bmask_of(sh), FILL_NORMAL);
            ten_t o = out_new(dt, sh->rank, sh->s, l == L_SLICE);
            tirrt_view_t hx = hv(&x), ho = hv(&o);
            tirk_view_t dx = dv(&x), dO = dv(&o);
            tirrt_status_t st = tirrt_cpu_softmax(&hx, dim, lg, &ho);
            tirk_err_t e = tirk_softmax(&dx, dim, lg, &dO, 0);
            char desc[128];
            snprintf(desc, sizeof desc, "%s %s shape#%d dim %d %s", lg ? "log_softmax" : "softmax", dtn(dt), si, dim,
                     layout_names[l]);
            finish(desc, st, e, &o, tol_of(dt));
          }
    }
  family_end();
}
