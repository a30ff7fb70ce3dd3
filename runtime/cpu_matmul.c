/* cpu_matmul.c — matmul (torch.matmul for rank >= 2, batch dims broadcast)
 * and linear (x @ w^T + bias).
 *
 * f32/f64 call OpenBLAS: one GEMM per batch matrix, handing BLAS the views
 * themselves whenever a matrix is row-major or column-major with a usable
 * leading dimension (a transposed operand is just CblasTrans), and copying
 * into a dense scratch matrix otherwise.  When the right operand is shared
 * by every batch (x @ W, as in linear), the batch folds into the rows of a
 * single GEMM.  f16/bf16 gather into f32 scratch and run sgemm, rounding
 * once at the end; integers use a plain int64 loop that wraps.  A bias is
 * written into C first and the GEMM accumulates onto it (beta = 1), so it
 * is added before the final rounding. */
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tirrt_cpu.h"

typedef struct {
  void *p[3];
  size_t cap[3];
} scratch_t;

/* Scratch buffer k with at least n bytes (grown, never shrunk, per call). */
static void *scratch(scratch_t *s, int k, size_t n) {
  if (n == 0) n = 8;
  if (s->cap[k] < n) {
    free(s->p[k]);
    s->p[k] = malloc(n);
    s->cap[k] = s->p[k] ? n : 0;
  }
  return s->p[k];
}

/* A 2-D view of rows x cols elements with strides (sr, sc) as BLAS sees it:
 * row-major with leading dim *ld (NoTrans), or the transpose of a row-major
 * cols x rows matrix (Trans).  A size-1 dim's stride does not matter.
 * False when BLAS cannot read it in place (stride 0, both strides > 1,
 * misaligned data, or a leading dim beyond int). */
static bool blas_layout(const tirrt_view_t *v, int64_t rows, int64_t cols, CBLAS_TRANSPOSE *trans,
                        int *ld) {
  int64_t sr = v->strides[0], sc = v->strides[1];
  size_t es = tirrt_dtype_size(v->dtype);
  if ((uintptr_t)v->data % es != 0) return false;
  int64_t l;
  if ((cols == 1 || sc == 1) && (rows == 1 || sr >= (cols > 1 ? cols : 1))) {
    *trans = CblasNoTrans;
    l = rows == 1 ? (cols > 1 ? cols : 1) : sr;
  } else if ((rows == 1 || sr == 1) && (cols == 1 || sc >= (rows > 1 ? rows : 1))) {
    *trans = CblasTrans;
    l = cols == 1 ? (rows > 1 ? rows : 1) : sc;
  } else {
    return false;
  }
  if (l > INT_MAX) return false;
  *ld = (int)l;
  return true;
}

typedef enum { CT_F32, CT_F64, CT_I64 } ctype_t;

/* Fills the dense m x n matrix c (row stride ldc elements) with the bias
 * row (or zeros) in the compute type. */
static void init_c(ctype_t ct, void *c, int64_t m, int64_t n, int64_t ldc, const void *bias) {
  size_t es = ct == CT_F32 ? 4 : 8;
  for (int64_t i = 0; i < m; i++) {
    char *row = (char *)c + (size_t)(i * ldc) * es;
    if (bias) memcpy(row, bias, (size_t)n * es);
    else memset(row, 0, (size_t)n * es); /* all-zero bits are 0 in every compute type */
  }
}

/* One 2-D product c = a @ b (+ bias row), with a [M, K], b [K, N], c [M, N]
 * views whose data point at this batch's matrices. */
static tirrt_status_t gemm2d(ctype_t ct, const tirrt_view_t *a, const tirrt_view_t *b,
                             const void *bias, const tirrt_view_t *c, scratch_t *sc) {
  int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
  if (M == 0 || N == 0) return NULL;
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "matmul: a dim beyond 2^31 is not supported");
  size_t es = ct == CT_F32 ? 4 : 8;
  tirrt_dtype_t native = ct == CT_F32 ? TIRRT_DTYPE_F32 : ct == CT_F64 ? TIRRT_DTYPE_F64 : TIRRT_DTYPE_I64;

  /* C: BLAS writes the output directly when it is a row-major matrix of
   * the compute type; otherwise into dense scratch, scattered afterwards. */
  CBLAS_TRANSPOSE tc;
  int ldc;
  bool c_direct = c->dtype == native && ct != CT_I64 && blas_layout(c, M, N, &tc, &ldc) &&
                  tc == CblasNoTrans;
  void *cp = c_direct ? c->data : scratch(sc, 2, (size_t)(M * N) * es);
  if (!cp) return tirrt_oom_status();
  if (!c_direct) ldc = (int)N;
  /* beta = 0 lets BLAS ignore whatever C holds; the bias, an empty K and
   * the integer loop need C initialized. */
  if (bias || K == 0 || ct == CT_I64) init_c(ct, cp, M, N, ldc, bias);
  double beta = bias ? 1.0 : 0.0;

  if (K > 0) {
    if (ct == CT_I64) {
      int64_t *A = scratch(sc, 0, (size_t)(M * K) * 8), *B = scratch(sc, 1, (size_t)(K * N) * 8);
      if (!A || !B) return tirrt_oom_status();
      tirrt_view_gather_i64(a, A);
      tirrt_view_gather_i64(b, B);
      int64_t *C = cp;
      for (int64_t i = 0; i < M; i++)     /* i-k-j: the inner loop streams */
        for (int64_t k = 0; k < K; k++) { /* rows of B and C */
          uint64_t aik = (uint64_t)A[i * K + k];
          uint64_t *crow = (uint64_t *)(void *)(C + i * N);
          const int64_t *brow = B + k * N;
          for (int64_t j = 0; j < N; j++) crow[j] += aik * (uint64_t)brow[j]; /* wraps */
        }
    } else {
      CBLAS_TRANSPOSE ta, tb;
      int lda, ldb;
      const void *ap = a->data, *bp = b->data;
      if (a->dtype != native || !blas_layout(a, M, K, &ta, &lda)) {
        void *A = scratch(sc, 0, (size_t)(M * K) * es);
        if (!A) return tirrt_oom_status();
        if (ct == CT_F32) tirrt_view_gather_f32(a, A);
        else tirrt_view_gather_f64(a, A);
        ap = A, ta = CblasNoTrans, lda = (int)K;
      }
      if (b->dtype != native || !blas_layout(b, K, N, &tb, &ldb)) {
        void *B = scratch(sc, 1, (size_t)(K * N) * es);
        if (!B) return tirrt_oom_status();
        if (ct == CT_F32) tirrt_view_gather_f32(b, B);
        else tirrt_view_gather_f64(b, B);
        bp = B, tb = CblasNoTrans, ldb = (int)N;
      }
      /* Never inside one of our OpenMP regions: OpenBLAS brings its own
       * threads (docs/runtime.md, "Threads"). */
      if (ct == CT_F32)
        cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, ap, lda, bp, ldb, (float)beta, cp, ldc);
      else
        cblas_dgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0, ap, lda, bp, ldb, beta, cp, ldc);
    }
  }
  if (!c_direct) {
    switch (ct) {
    case CT_F32: tirrt_view_scatter_f32(cp, c); break;
    case CT_F64: tirrt_view_scatter_f64(cp, c); break;
    case CT_I64: tirrt_view_scatter_i64(cp, c); break;
    }
  }
  return NULL;
}

/* The leading dims of v (all but the last) as one row dim, if their
 * strides allow it (size-1 dims are skipped): true with the row count and
 * the row stride. */
static bool fold_rows(const tirrt_view_t *v, int64_t *rows, int64_t *stride) {
  int64_t n = 1, st = 0;
  bool have = false;
  for (int32_t d = v->rank - 2; d >= 0; d--) {
    if (v->shape[d] == 1) continue;
    if (!have) st = v->strides[d], have = true;
    else if (v->strides[d] != st * n) return false;
    n *= v->shape[d];
  }
  *rows = n;
  *stride = have ? st : 0;
  return true;
}

static tirrt_view_t matrix(const tirrt_view_t *v, int64_t rows, int64_t rstride, void *data) {
  tirrt_view_t m;
  memset(&m, 0, sizeof m);
  m.dtype = v->dtype;
  m.rank = 2;
  m.shape[0] = rows;
  m.shape[1] = v->shape[v->rank - 1];
  m.strides[0] = rstride;
  m.strides[1] = v->strides[v->rank - 1];
  m.data = data;
  return m;
}

static bool is_float(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

static tirrt_status_t shapes_error(const char *name, const char *what, const tirrt_view_t *a,
                                   const tirrt_view_t *b, const tirrt_view_t *out) {
  char sa[TIRRT_SHAPE_STR_MAX], sb[TIRRT_SHAPE_STR_MAX], so[TIRRT_SHAPE_STR_MAX];
  tirrt_format_shape(a->shape, a->rank, sa, sizeof sa);
  tirrt_format_shape(b->shape, b->rank, sb, sizeof sb);
  tirrt_format_shape(out->shape, out->rank, so, sizeof so);
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s %s @ %s -> %s", name, what, sa, sb, so);
}

static tirrt_status_t matmul_impl(const char *name, const tirrt_view_t *a, const tirrt_view_t *b,
                                  const tirrt_view_t *bias, const tirrt_view_t *out) {
  if (a->dtype != b->dtype || a->dtype != out->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: dtypes %s @ %s -> %s differ", name,
                             tirrt_dtype_name(a->dtype), tirrt_dtype_name(b->dtype),
                             tirrt_dtype_name(out->dtype));
  if (a->dtype == TIRRT_DTYPE_BOOL)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: bool operands", name);
  if (a->rank < 2 || b->rank < 2 || out->rank != (a->rank > b->rank ? a->rank : b->rank))
    return shapes_error(name, "needs rank >= 2 operands and the larger rank out, got", a, b, out);
  int32_t R = out->rank, nb = R - 2;
  int64_t M = a->shape[a->rank - 2], K = a->shape[a->rank - 1], N = b->shape[b->rank - 1];
  bool ok = b->shape[b->rank - 2] == K && out->shape[R - 2] == M && out->shape[R - 1] == N;
  /* The batch dims: out's must be exactly the broadcast of a's and b's. */
  for (int32_t d = 0; ok && d < nb; d++) {
    int32_t da = d - (R - a->rank), db = d - (R - b->rank);
    int64_t ea = da >= 0 ? a->shape[da] : 1, eb = db >= 0 ? b->shape[db] : 1;
    if (ea != eb && ea != 1 && eb != 1) ok = false;
    else if (out->shape[d] != (ea == 1 ? eb : ea)) ok = false;
  }
  if (!ok) return shapes_error(name, "shapes do not match:", a, b, out);
  if (tirrt_view_numel(out) == 0) return NULL;
  ctype_t ct = a->dtype == TIRRT_DTYPE_F64 ? CT_F64 : is_float(a->dtype) ? CT_F32 : CT_I64;
  size_t es = ct == CT_F32 ? 4 : 8;

  /* The bias as one row of N compute-type values. */
  void *brow = NULL;
  if (bias) {
    brow = malloc((size_t)(N > 0 ? N : 1) * es);
    if (!brow) return tirrt_oom_status();
    tirrt_view_t bb;
    tirrt_status_t s = tirrt_view_broadcast_to(bias, 1, &N, &bb);
    if (s) {
      free(brow);
      return tirrt_status_annotate(s, "%s: bias", name);
    }
    switch (ct) {
    case CT_F32: tirrt_view_gather_f32(&bb, brow); break;
    case CT_F64: tirrt_view_gather_f64(&bb, brow); break;
    case CT_I64: tirrt_view_gather_i64(&bb, brow); break;
    }
  }

  /* Batch views of a, b and out: the leading dims, broadcast to out's. */
  tirrt_view_t ab, bbat, ob;
  tirrt_view_t at = *a, bt = *b;
  at.rank = a->rank - 2;
  bt.rank = b->rank - 2;
  ob = *out;
  ob.rank = nb;
  tirrt_status_t s = tirrt_view_broadcast_to(&at, nb, out->shape, &ab);
  if (!s) s = tirrt_view_broadcast_to(&bt, nb, out->shape, &bbat);
  if (s) {
    free(brow);
    return s;
  }
  scratch_t sc;
  memset(&sc, 0, sizeof sc);

  /* b shared by every batch, a and out foldable: one GEMM over all rows. */
  bool b_shared = true;
  for (int32_t d = 0; d < nb; d++)
    if (out->shape[d] != 1 && bbat.strides[d] != 0) b_shared = false;
  tirrt_view_t afull = ab, ofull = ob;
  afull.rank = ofull.rank = R;
  for (int32_t k = 0; k < 2; k++) {
    afull.shape[nb + k] = a->shape[a->rank - 2 + k];
    afull.strides[nb + k] = a->strides[a->rank - 2 + k];
  }
  int64_t arows, astr, orows, ostr;
  if (nb > 0 && b_shared && fold_rows(&afull, &arows, &astr) && fold_rows(&ofull, &orows, &ostr)) {
    tirrt_view_t a2 = matrix(a, arows, astr, a->data), o2 = matrix(out, orows, ostr, out->data);
    tirrt_view_t b2 = matrix(b, K, b->strides[b->rank - 2], b->data);
    s = gemm2d(ct, &a2, &b2, brow, &o2, &sc);
  } else {
    const tirrt_view_t *vs[3] = {&ob, &ab, &bbat};
    tirrt_iter_t it;
    tirrt_iter_init(&it, 3, vs);
    do {
      for (int64_t i = 0; i < it.n && !s; i++) {
        tirrt_view_t a2 = matrix(a, M, a->strides[a->rank - 2], it.ptr[1] + i * it.step[1]);
        tirrt_view_t b2 = matrix(b, K, b->strides[b->rank - 2], it.ptr[2] + i * it.step[2]);
        tirrt_view_t o2 = matrix(out, M, out->strides[R - 2], it.ptr[0] + i * it.step[0]);
        s = gemm2d(ct, &a2, &b2, brow, &o2, &sc);
      }
    } while (!s && tirrt_iter_next(&it));
  }
  for (int k = 0; k < 3; k++) free(sc.p[k]);
  free(brow);
  return s;
}

tirrt_status_t tirrt_cpu_matmul(const tirrt_view_t *a, const tirrt_view_t *b,
                                const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(a, "matmul", "the left operand")) ||
      (s = tirrt_view_check(b, "matmul", "the right operand")) ||
      (s = tirrt_view_check(out, "matmul", "the output")))
    return s;
  return matmul_impl("matmul", a, b, NULL, out);
}

tirrt_status_t tirrt_cpu_linear(const tirrt_view_t *x, const tirrt_view_t *w,
                                const tirrt_view_t *bias, const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, "linear", "the input")) ||
      (s = tirrt_view_check(w, "linear", "the weight")) ||
      (bias && (s = tirrt_view_check(bias, "linear", "the bias"))) ||
      (s = tirrt_view_check(out, "linear", "the output")))
    return s;
  if (w->rank != 2 || x->rank < 1 || out->rank != x->rank)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "linear: needs x [..., K], w [N, K], out [..., N] (ranks %d, %d, %d)",
                             (int)x->rank, (int)w->rank, (int)out->rank);
  if (bias && bias->dtype != x->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "linear: the bias is %s, the input %s",
                             tirrt_dtype_name(bias->dtype), tirrt_dtype_name(x->dtype));
  /* w^T is w with its strides swapped; a 1-D x is one row. */
  tirrt_view_t wt = *w;
  wt.shape[0] = w->shape[1], wt.shape[1] = w->shape[0];
  wt.strides[0] = w->strides[1], wt.strides[1] = w->strides[0];
  if (x->rank == 1) {
    tirrt_view_t x2 = *x, o2 = *out;
    x2.rank = o2.rank = 2;
    x2.shape[1] = x->shape[0], x2.strides[1] = x->strides[0];
    x2.shape[0] = 1, x2.strides[0] = 0;
    o2.shape[1] = out->shape[0], o2.strides[1] = out->strides[0];
    o2.shape[0] = 1, o2.strides[0] = 0;
    return matmul_impl("linear", &x2, &wt, bias, &o2);
  }
  return matmul_impl("linear", x, &wt, bias, out);
}
