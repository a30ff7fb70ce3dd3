/* cuda_gemm.c — matmul and linear on the GPU through cuBLASLt.
 *
 * tirc tensors are row-major; cuBLASLt is column-major.  A row-major
 * [R, C] matrix with row stride ld is the column-major [C, R] matrix with
 * the same ld, so out = a @ b is computed as out^T = b^T a^T: Lt's A is b,
 * its B is a.  Views the executor makes for free (a transposed k, a permuted
 * weight) become Lt's transpose flags instead of copies, and batch dims
 * that collapse to one stride per operand (broadcast ones with stride 0)
 * become one strided-batched call; other batch layouts loop over the outer
 * batch indices.  A matrix view with no unit stride is copied first.  The
 * heuristic's algorithm is cached per problem.  f16/bf16 accumulate in
 * f32; f32 uses TF32 tensor cores only when the run allows it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "tirk_ops.h"

static bool lt_type(tirrt_dtype_t dt, cudaDataType_t *t) {
  switch (dt) {
  case TIRRT_DTYPE_F16: *t = CUDA_R_16F; return true;
  case TIRRT_DTYPE_BF16: *t = CUDA_R_16BF; return true;
  case TIRRT_DTYPE_F32: *t = CUDA_R_32F; return true;
  case TIRRT_DTYPE_F64: *t = CUDA_R_64F; return true;
  default: return false;
  }
}

/* One operand as Lt sees it: the column-major matrix of `rows` x `cols`
 * with leading dim ld, transposed by op. */
typedef struct {
  cublasOperation_t op;
  uint64_t rows, cols;
  int64_t ld;
} Mat;

/* Describes the transpose of the row-major [R, C] matrix at strides
 * (sr, sc) as Lt operand (a C x R product operand); false if it has no
 * unit stride. */
static bool describe(int64_t R, int64_t C, int64_t sr, int64_t sc, Mat *m) {
  if ((sc == 1 || C == 1) && (sr >= C || R == 1) && sr > 0) {
    *m = (Mat){CUBLAS_OP_N, (uint64_t)C, (uint64_t)R, R == 1 ? C : sr};
    return true;
  }
  if ((sr == 1 || R == 1) && (sc >= R || C == 1) && sc > 0) {
    *m = (Mat){CUBLAS_OP_T, (uint64_t)R, (uint64_t)C, C == 1 ? R : sc};
    return true;
  }
  if (R == 1 && C == 1) {
    *m = (Mat){CUBLAS_OP_N, 1, 1, 1};
    return true;
  }
  return false;
}

/* ------------------------------------------------------------ algorithm cache */

typedef struct {
  int32_t device, cc; /* algorithms are chosen per GPU */
  int32_t dtype, tf32, epilogue;
  uint32_t align_bytes[4]; /* of Lt's A, B, C and D pointers, up to 256 */
  uint32_t bias_align;
  Mat a, b;
  uint64_t m, n, k;
  int64_t ldd, batch, sa, sb, sd;
} Key;

#define CACHE_SIZE 64
static struct {
  Key key;
  cublasLtMatmulAlgo_t algo;
  bool used;
} cache[CACHE_SIZE];
static int cache_next;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The largest power of two (up to 256) that divides the address. */
static uint32_t alignment(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t v = 256;
  while (v > 1 && a % v) v /= 2;
  return v;
}

/* Lt descriptors for one problem; released by lt_release. */
typedef struct {
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb, ld;
} Lt;

static void lt_release(Lt *l) {
  if (l->op) cublasLtMatmulDescDestroy(l->op);
  if (l->la) cublasLtMatrixLayoutDestroy(l->la);
  if (l->lb) cublasLtMatrixLayoutDestroy(l->lb);
  if (l->ld) cublasLtMatrixLayoutDestroy(l->ld);
}

static tirrt_status_t layout(cublasLtMatrixLayout_t *l, cudaDataType_t t, uint64_t rows,
                             uint64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  TIRRT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(l, t, rows, cols, ld));
  if (batch > 1) {
    int32_t b = (int32_t)batch;
    TIRRT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b,
                                                        sizeof b));
    TIRRT_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        *l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return NULL;
}

/* D (n x m, ld n) = A (n x k) * B (k x m) [+ bias], batched. */
typedef struct {
  tirrt_dtype_t dtype;
  Mat A, B;
  uint64_t m, n, k;
  int64_t ldd; /* D's leading dim (>= n) */
  int64_t batch, sa, sb, sd;
  const void *pa, *pb, *bias;
  void *pd;
  int act; /* tirrt_act_t, applied by the epilogue after the bias */
} Problem;

static tirrt_status_t lt_run(tirrt_cuda_ctx_t *c, const Problem *p) {
  cudaDataType_t t = CUDA_R_32F;
  lt_type(p->dtype, &t);
  bool f64 = p->dtype == TIRRT_DTYPE_F64;
  cublasComputeType_t ct = f64 ? CUBLAS_COMPUTE_64F
                           : p->dtype == TIRRT_DTYPE_F32 && c->allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                          : CUBLAS_COMPUTE_32F;
  cudaDataType_t st = f64 ? CUDA_R_64F : CUDA_R_32F;
  Lt l = {0};
  tirrt_status_t s = NULL;
#define TRY(call)            \
  do {                       \
    if ((s = (call))) goto out; \
  } while (0)
  cublasStatus_t bs;
#define TRYB(call)                                                          \
  do {                                                                      \
    if ((bs = (call)) != CUBLAS_STATUS_SUCCESS) {                           \
      s = tirrt_cublas_status(bs, #call, __FILE__, __LINE__);               \
      goto out;                                                             \
    }                                                                       \
  } while (0)
  TRYB(cublasLtMatmulDescCreate(&l.op, ct, st));
  TRYB(cublasLtMatmulDescSetAttribute(l.op, CUBLASLT_MATMUL_DESC_TRANSA, &p->A.op, sizeof p->A.op));
  TRYB(cublasLtMatmulDescSetAttribute(l.op, CUBLASLT_MATMUL_DESC_TRANSB, &p->B.op, sizeof p->B.op));
  /* Per tirrt_act_t.  No relu: Lt's relu epilogue need not keep NaN as
   * the CPU does. */
  static const cublasLtEpilogue_t EPI[TIRRT_ACT_COUNT][2] = {
      {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_BIAS},
      {CUBLASLT_EPILOGUE_GELU, CUBLASLT_EPILOGUE_GELU_BIAS}};
  cublasLtEpilogue_t epi = EPI[p->act][p->bias != NULL];
  if (epi != CUBLASLT_EPILOGUE_DEFAULT)
    TRYB(cublasLtMatmulDescSetAttribute(l.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (p->bias)
    TRYB(cublasLtMatmulDescSetAttribute(l.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p->bias,
                                        sizeof p->bias));
  TRY(layout(&l.la, t, p->A.rows, p->A.cols, p->A.ld, p->batch, p->sa));
  TRY(layout(&l.lb, t, p->B.rows, p->B.cols, p->B.ld, p->batch, p->sb));
  TRY(layout(&l.ld, t, p->n, p->m, p->ldd, p->batch, p->sd));

  /* Zeroed first: the cache compares keys with memcmp, padding included. */
  Key key;
  memset(&key, 0, sizeof key);
  key.device = c->device;
  key.cc = c->cc;
  key.dtype = p->dtype;
  key.tf32 = ct == CUBLAS_COMPUTE_32F_FAST_TF32;
  key.epilogue = (int32_t)epi;
  const void *ptrs[4] = {p->pa, p->pb, p->pd, p->pd};
  for (int i = 0; i < 4; i++) key.align_bytes[i] = alignment(ptrs[i]);
  key.bias_align = p->bias ? alignment(p->bias) : 0;
  key.a.op = p->A.op, key.a.rows = p->A.rows, key.a.cols = p->A.cols, key.a.ld = p->A.ld;
  key.b.op = p->B.op, key.b.rows = p->B.rows, key.b.cols = p->B.cols, key.b.ld = p->B.ld;
  key.m = p->m, key.n = p->n, key.k = p->k, key.ldd = p->ldd, key.batch = p->batch;
  key.sa = p->sa, key.sb = p->sb, key.sd = p->sd;
  cublasLtMatmulAlgo_t algo;
  bool found = false;
  pthread_mutex_lock(&cache_lock); /* runs on different GPUs share the cache */
  for (int i = 0; i < CACHE_SIZE && !found; i++)
    if (cache[i].used && memcmp(&cache[i].key, &key, sizeof key) == 0) {
      algo = cache[i].algo;
      found = true;
    }
  pthread_mutex_unlock(&cache_lock);
  if (!found) {
    cublasLtMatmulPreference_t pref;
    TRYB(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = c->lt_workspace_bytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                         sizeof ws);
    /* The real alignment of the operands (slices and batch offsets are not
     * 256-byte aligned), so the heuristic only offers algorithms that can
     * take them. */
    static const cublasLtMatmulPreferenceAttributes_t ALIGN[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++)
      cublasLtMatmulPreferenceSetAttribute(pref, ALIGN[i], &key.align_bytes[i],
                                           sizeof key.align_bytes[i]);
    cublasLtMatmulHeuristicResult_t res;
    int n = 0;
    bs = cublasLtMatmulAlgoGetHeuristic(c->lt, l.op, l.la, l.lb, l.ld, l.ld, pref, 1, &res, &n);
    cublasLtMatmulPreferenceDestroy(pref);
    if (bs != CUBLAS_STATUS_SUCCESS || n == 0) {
      s = tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED,
                            "cuBLASLt has no algorithm for this %s GEMM (%s)",
                            tirrt_dtype_name(p->dtype), cublasGetStatusString(bs));
      goto out;
    }
    algo = res.algo;
    pthread_mutex_lock(&cache_lock);
    int slot = cache_next;
    cache_next = (cache_next + 1) % CACHE_SIZE;
    memcpy(&cache[slot].key, &key, sizeof key);
    cache[slot].algo = res.algo;
    cache[slot].used = true;
    pthread_mutex_unlock(&cache_lock);
  }
  double one_d = 1.0, zero_d = 0.0;
  float one_f = 1.0f, zero_f = 0.0f;
  const void *alpha = f64 ? (const void *)&one_d : (const void *)&one_f;
  const void *beta = f64 ? (const void *)&zero_d : (const void *)&zero_f;
  TRYB(cublasLtMatmul(c->lt, l.op, alpha, p->pa, l.la, p->pb, l.lb, beta, p->pd, l.ld, p->pd, l.ld,
                      &algo, c->lt_workspace, c->lt_workspace_bytes, c->stream));
out:
  lt_release(&l);
  return s;
#undef TRY
#undef TRYB
}

/* a [..., M, K] @ b [..., K, N] -> out [..., M, N] (out's matrices have
 * unit column stride and row stride >= N), with a and b already broadcast
 * to out's batch dims. */
static tirrt_status_t gemm(tirrt_cuda_ctx_t *c, const tirrt_view_t *a, const tirrt_view_t *b,
                           const tirrt_view_t *bias, int act, const tirrt_view_t *out) {
  int32_t r = out->rank, nb = r - 2;
  int64_t M = out->shape[r - 2], N = out->shape[r - 1], K = a->shape[r - 1];
  size_t es = tirrt_dtype_size(out->dtype);
  if (tirrt_view_numel(out) == 0) return NULL;
  if (K == 0) {
    /* No product to hang an epilogue on: the caller adds the bias. */
    if (bias || act) return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "epilogue with K = 0");
    TIRRT_CUDA_CHECK(cudaMemsetAsync(out->data, 0, (size_t)tirrt_view_numel(out) * es, c->stream));
    return NULL;
  }
  Problem p = {.dtype = out->dtype, .m = (uint64_t)M, .n = (uint64_t)N, .k = (uint64_t)K,
               .ldd = M > 1 && out->strides[r - 2] > N ? out->strides[r - 2] : N};
  if (!describe(K, N, b->strides[r - 2], b->strides[r - 1], &p.A) ||
      !describe(M, K, a->strides[r - 2], a->strides[r - 1], &p.B))
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "matrix view without a unit stride");
  /* Batch dims: drop size-1 ones, merge the innermost run that collapses
   * for all three operands into Lt's batch, loop over the rest. */
  int64_t shp[TIRRT_MAX_RANK], sa[TIRRT_MAX_RANK], sb[TIRRT_MAX_RANK], sd[TIRRT_MAX_RANK];
  int32_t n = 0;
  for (int32_t k = 0; k < nb; k++) {
    if (out->shape[k] == 1) continue;
    shp[n] = out->shape[k];
    sa[n] = a->strides[k];
    sb[n] = b->strides[k];
    sd[n] = out->strides[k];
    n++;
  }
  int32_t inner = n; /* batch dims [inner, n) form Lt's batch */
  int64_t count = 1;
  while (inner > 0) {
    int32_t k = inner - 1;
    if (inner < n && !(sa[k] == sa[inner] * shp[inner] && sb[k] == sb[inner] * shp[inner] &&
                       sd[k] == sd[inner] * shp[inner]))
      break;
    count *= shp[k];
    inner--;
  }
  if (count > INT32_MAX) inner = n, count = 1; /* loop instead of an oversized batch */
  p.batch = count;
  p.sa = inner < n ? sb[n - 1] : 0; /* Lt's A is b */
  p.sb = inner < n ? sa[n - 1] : 0; /* Lt's B is a */
  p.sd = inner < n ? sd[n - 1] : 0;
  p.bias = bias ? bias->data : NULL;
  p.act = act;
  int64_t outer = 1;
  for (int32_t k = 0; k < inner; k++) outer *= shp[k];
  for (int64_t o = 0; o < outer; o++) {
    int64_t rem = o, oa = 0, ob = 0, od = 0;
    for (int32_t k = inner - 1; k >= 0; k--) {
      int64_t i = rem % shp[k];
      rem /= shp[k];
      oa += i * sa[k];
      ob += i * sb[k];
      od += i * sd[k];
    }
    p.pa = (const char *)b->data + ob * (int64_t)es;
    p.pb = (const char *)a->data + oa * (int64_t)es;
    p.pd = (char *)out->data + od * (int64_t)es;
    tirrt_status_t s = lt_run(c, &p);
    if (s) return s;
  }
  return NULL;
}

/* An output of N columns with N * element size not a multiple of 16
 * bytes (GPT-2's 50257-word vocabulary) leaves cuBLASLt only its unaligned
 * kernels, several times slower on a large product: 6.7 ms instead of
 * 0.88 ms for GPT-2's lm_head at 8192 tokens on an H100 (bench/RESULTS.md).
 * Both the odd N and the odd row stride do it: padding the rows alone
 * does not help.  So large products are split into the columns up to the
 * last multiple of 16 bytes and the few (< 8) columns left, computed into a
 * buffer with padded rows, and moved into place by one 2-D copy (a read and
 * a write of the output, about 0.55 ms there): worth it from about 2^30
 * MACs. */
static bool pad_rows(const tirrt_view_t *a, const tirrt_view_t *out) {
  int32_t r = out->rank;
  int64_t N = out->shape[r - 1], K = a->shape[r - 1];
  size_t es = tirrt_dtype_size(out->dtype);
  if (es > 16 || (N * (int64_t)es) % 16 == 0 || N * (int64_t)es < 16 || !tirrt_view_is_contiguous(out))
    return false;
  return (double)tirrt_view_numel(out) * (double)K >= 1073741824.0;
}

/* Columns [from, from + n) of a matrix view (b, bias or out). */
static tirrt_view_t columns(const tirrt_view_t *v, int64_t from, int64_t n) {
  tirrt_view_t c = *v;
  c.shape[c.rank - 1] = n;
  c.data = (char *)v->data + from * v->strides[v->rank - 1] * (int64_t)tirrt_dtype_size(v->dtype);
  return c;
}

static tirrt_status_t gemm_padded(tirrt_cuda_ctx_t *c, const tirrt_view_t *a,
                                  const tirrt_view_t *b, const tirrt_view_t *bias, int act,
                                  const tirrt_view_t *out) {
  int32_t r = out->rank;
  int64_t N = out->shape[r - 1];
  size_t es = tirrt_dtype_size(out->dtype);
  int64_t per = 16 / (int64_t)es, ldp = (N + per - 1) / per * per, n0 = N / per * per;
  int64_t rows = tirrt_view_numel(out) / N;
  void *tmp = NULL;
  tirrt_status_t s = tirrt_cuda_scratch(c, (size_t)(rows * ldp) * es, &tmp);
  if (s) return s;
  tirrt_view_t t = *out;
  t.data = tmp;
  t.strides[r - 1] = 1;
  t.strides[r - 2] = ldp;
  for (int32_t k = r - 3; k >= 0; k--) t.strides[k] = t.strides[k + 1] * t.shape[k + 1];
  tirrt_view_t b0 = columns(b, 0, n0), t0 = columns(&t, 0, n0), bias0;
  if (bias) bias0 = columns(bias, 0, n0);
  s = gemm(c, a, &b0, bias ? &bias0 : NULL, act, &t0);
  if (!s) {
    tirrt_view_t b1 = columns(b, n0, N - n0), t1 = columns(&t, n0, N - n0), bias1;
    if (bias) bias1 = columns(bias, n0, N - n0);
    s = gemm(c, a, &b1, bias ? &bias1 : NULL, act, &t1);
  }
  if (!s) {
    cudaError_t e = cudaMemcpy2DAsync(out->data, (size_t)N * es, tmp, (size_t)ldp * es, (size_t)N * es,
                                      (size_t)rows, cudaMemcpyDeviceToDevice, c->stream);
    if (e != cudaSuccess) s = tirrt_cuda_status(e, "cudaMemcpy2DAsync", __FILE__, __LINE__);
  }
  tirrt_cuda_scratch_free(c, tmp);
  return s;
}

/* Runs gemm (padded when that pays); when Lt cannot take an operand's
 * layout, retries once with dense copies of a and b. */
static tirrt_status_t gemm_or_copy(tirrt_cuda_ctx_t *c, const tirrt_view_t *a,
                                   const tirrt_view_t *b, const tirrt_view_t *bias, int act,
                                   const tirrt_view_t *out) {
  tirrt_status_t s = pad_rows(a, out) ? gemm_padded(c, a, b, bias, act, out) : gemm(c, a, b, bias, act, out);
  if (!s || tirrt_status_code(s) != TIRRT_STATUS_UNIMPLEMENTED) return s;
  tirrt_status_free(s);
  void *ma = NULL, *mb = NULL;
  tirrt_view_t da, db;
  s = tirrt_cuda_dense_copy(c, a, &da, &ma);
  if (!s) s = tirrt_cuda_dense_copy(c, b, &db, &mb);
  if (!s) s = gemm(c, &da, &db, bias, act, out);
  tirrt_cuda_scratch_free(c, ma);
  tirrt_cuda_scratch_free(c, mb);
  return s;
}

/* Broadcasts a and b to out's batch dims (keeping their matrix dims) and
 * multiplies; bias (dense [N], out's dtype) goes into Lt's epilogue. */
static tirrt_status_t matmul_impl(tirrt_cuda_ctx_t *c, const tirrt_view_t *a,
                                  const tirrt_view_t *b, const tirrt_view_t *bias, int act,
                                  const tirrt_view_t *out) {
  if (a->rank < 2 || b->rank < 2 || out->rank < 2)
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "matmul of rank < 2 reached the GPU");
  int32_t r = out->rank;
  int64_t shape[TIRRT_MAX_RANK];
  memcpy(shape, out->shape, sizeof shape);
  tirrt_view_t ba, bb;
  shape[r - 2] = a->shape[a->rank - 2];
  shape[r - 1] = a->shape[a->rank - 1];
  tirrt_status_t s = tirrt_view_broadcast_to(a, r, shape, &ba);
  if (s) return s;
  shape[r - 2] = b->shape[b->rank - 2];
  shape[r - 1] = b->shape[b->rank - 1];
  if ((s = tirrt_view_broadcast_to(b, r, shape, &bb))) return s;
  return gemm_or_copy(c, &ba, &bb, bias, act, out);
}

static bool lt_dtypes(const tirrt_view_t *a, const tirrt_view_t *b, const tirrt_view_t *out) {
  cudaDataType_t t;
  return lt_type(out->dtype, &t) && a->dtype == out->dtype && b->dtype == out->dtype;
}

tirrt_status_t tirrt_cuda_matmul(tirrt_cuda_ctx_t *c, const tirrt_view_t *a, const tirrt_view_t *b,
                                 const tirrt_view_t *out) {
  if (!lt_dtypes(a, b, out)) { /* integers: a plain kernel */
    tirk_view_t ta = tirrt_tirk_view(a), tb = tirrt_tirk_view(b), to = tirrt_tirk_view(out);
    TIRRT_TIRK_CHECK(tirk_matmul_int(&ta, &tb, &to, c->stream), "matmul");
    return NULL;
  }
  return matmul_impl(c, a, b, NULL, TIRRT_ACT_NONE, out);
}

/* x as a matrix view ([K] is [1, K]) and out likewise; w^T as a [K, N]
 * view (swapped strides: Lt transposes it for free). */
static void linear_views(const tirrt_view_t *x, const tirrt_view_t *w, const tirrt_view_t *out,
                         tirrt_view_t *x2, tirrt_view_t *wt, tirrt_view_t *o2) {
  *x2 = *x;
  *o2 = *out;
  if (x->rank == 1) {
    x2->rank = o2->rank = 2;
    x2->shape[1] = x->shape[0], x2->strides[1] = x->strides[0];
    x2->shape[0] = 1, x2->strides[0] = x->shape[0] * x->strides[0];
    o2->shape[1] = out->shape[0], o2->strides[1] = out->strides[0];
    o2->shape[0] = 1, o2->strides[0] = out->shape[0];
  }
  *wt = *w;
  wt->shape[0] = w->shape[1];
  wt->shape[1] = w->shape[0];
  wt->strides[0] = w->strides[1];
  wt->strides[1] = w->strides[0];
}

/* Lt's bias epilogue reads N dense elements of out's dtype. */
static bool epilogue_bias(const tirrt_view_t *bias, const tirrt_view_t *out) {
  int64_t n = out->shape[out->rank - 1];
  return bias->dtype == out->dtype && bias->rank == 1 && bias->shape[0] == n &&
         (bias->strides[0] == 1 || n == 1) && out->dtype != TIRRT_DTYPE_F64;
}

tirrt_status_t tirrt_cuda_linear(tirrt_cuda_ctx_t *c, const tirrt_view_t *x, const tirrt_view_t *w,
                                 const tirrt_view_t *bias, const tirrt_view_t *out) {
  tirrt_view_t x2, wt, o2;
  linear_views(x, w, out, &x2, &wt, &o2);
  if (!lt_dtypes(x, w, out)) {
    tirk_view_t ta = tirrt_tirk_view(&x2), tb = tirrt_tirk_view(&wt), to = tirrt_tirk_view(&o2);
    TIRRT_TIRK_CHECK(tirk_matmul_int(&ta, &tb, &to, c->stream), "linear");
  } else {
    bool epilogue = bias && epilogue_bias(bias, out);
    tirrt_status_t s = matmul_impl(c, &x2, &wt, epilogue ? bias : NULL, TIRRT_ACT_NONE, &o2);
    if (s && epilogue && tirrt_status_code(s) == TIRRT_STATUS_UNIMPLEMENTED) {
      tirrt_status_free(s); /* no algorithm with the epilogue (or K = 0): add afterwards */
      epilogue = false;
      s = matmul_impl(c, &x2, &wt, NULL, TIRRT_ACT_NONE, &o2);
    }
    if (s) return s;
    if (epilogue || !bias) return NULL;
  }
  if (!bias) return NULL;
  tirrt_view_t bb;
  tirrt_status_t s = tirrt_view_broadcast_to(bias, out->rank, out->shape, &bb);
  if (s) return s;
  tirk_view_t to = tirrt_tirk_view(out), tb = tirrt_tirk_view(&bb);
  TIRRT_TIRK_CHECK(tirk_binary(TIRRT_BIN_ADD, &to, &tb, &to, c->stream), "linear bias");
  return NULL;
}

tirrt_status_t tirrt_cuda_linear_act(tirrt_cuda_ctx_t *c, const tirrt_view_t *x,
                                     const tirrt_view_t *w, const tirrt_view_t *bias, int act,
                                     const tirrt_view_t *out) {
  if (!lt_dtypes(x, w, out) || out->dtype == TIRRT_DTYPE_F64 || (bias && !epilogue_bias(bias, out)))
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "no Lt epilogue for this linear");
  tirrt_view_t x2, wt, o2;
  linear_views(x, w, out, &x2, &wt, &o2);
  return matmul_impl(c, &x2, &wt, bias, act, &o2);
}
