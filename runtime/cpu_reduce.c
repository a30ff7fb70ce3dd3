/* cpu_reduce.c — reductions (sum, mean, amax, amin over a set of dims),
 * softmax / log_softmax along one dim, layer_norm and rms_norm.
 *
 * Reductions run one pass over x in whatever order its layout makes
 * cheapest: an accumulator array shaped like the (keepdim) output is
 * broadcast back to x's shape, so the iterator walks x and the accumulator
 * together and every element of x is added to its slot.  Accumulators are
 * f64 for float inputs and int64 for integers and bool.  The normalizations
 * work row by row (a row is the normalized trailing dims), gathered into a
 * dense f64 buffer: f16/bf16/f32 inputs then lose nothing to the mean and
 * variance, whatever the row length. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_parallel.h"
#include "internal.h"
#include "tirrt_cpu.h"

enum { BLOCK = 512 };

static bool is_float(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

static tirrt_status_t shape_mismatch(const char *op, const char *what, const tirrt_view_t *got,
                                     int32_t rank, const int64_t *want) {
  char a[TIRRT_SHAPE_STR_MAX], b[TIRRT_SHAPE_STR_MAX];
  tirrt_format_shape(got->shape, got->rank, a, sizeof a);
  tirrt_format_shape(want, rank, b, sizeof b);
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s has shape %s, expected %s", op,
                           what, a, b);
}

static bool same_shape(const tirrt_view_t *v, int32_t rank, const int64_t *shape) {
  if (v->rank != rank) return false;
  for (int32_t d = 0; d < rank; d++)
    if (v->shape[d] != shape[d]) return false;
  return true;
}

/* A dense row-major view of `data` with the given dtype and shape. */
static tirrt_view_t dense_view(tirrt_dtype_t dt, int32_t rank, const int64_t *shape, void *data) {
  tirrt_tensor_desc_t desc;
  memset(&desc, 0, sizeof desc);
  desc.dtype = dt;
  desc.rank = rank;
  for (int32_t d = 0; d < rank; d++) desc.shape[d] = shape[d];
  return tirrt_view_contiguous(&desc, data);
}

/* ------------------------------------------------------------ reduce */

#define RED_NAME_(E, name) #name,
static const char *const redop_names[] = {TIR_EW_REDUCE_ROWS(RED_NAME_)};
#undef RED_NAME_

/* Folds m values into the accumulator at `acc` (astep bytes apart; 0 means
 * they all fold into one slot).  amax/amin propagate NaN like torch: once a
 * slot is NaN it stays NaN, and a NaN input makes it NaN. */
static void fold_f64(tirrt_redop_t op, char *acc, int64_t astep, const double *x, int64_t m) {
  if (astep == 0) {
    double *a = (double *)(void *)acc;
    if (op == TIRRT_RED_SUM || op == TIRRT_RED_MEAN) {
      double s = 0; /* a block's partial sum first: shorter chains, less rounding */
      for (int64_t i = 0; i < m; i++) s += x[i];
      *a += s;
    } else if (op == TIRRT_RED_AMAX) {
      for (int64_t i = 0; i < m; i++)
        if (x[i] > *a || isnan(x[i])) *a = x[i];
    } else {
      for (int64_t i = 0; i < m; i++)
        if (x[i] < *a || isnan(x[i])) *a = x[i];
    }
    return;
  }
  for (int64_t i = 0; i < m; i++) {
    double *a = (double *)(void *)(acc + i * astep);
    switch (op) {
    case TIRRT_RED_SUM:
    case TIRRT_RED_MEAN: *a += x[i]; break;
    case TIRRT_RED_AMAX: if (x[i] > *a || isnan(x[i])) *a = x[i]; break;
    case TIRRT_RED_AMIN: if (x[i] < *a || isnan(x[i])) *a = x[i]; break;
    }
  }
}

/* a + b wrapping like torch's int64 sum (unsigned arithmetic: no UB). */
static inline int64_t wrap_add(int64_t a, int64_t b) {
  uint64_t u = (uint64_t)a + (uint64_t)b;
  return u <= (uint64_t)INT64_MAX ? (int64_t)u : (int64_t)(u - (uint64_t)INT64_MAX - 1u) + INT64_MIN;
}

static void fold_i64(tirrt_redop_t op, char *acc, int64_t astep, const int64_t *x, int64_t m) {
  for (int64_t i = 0; i < m; i++) {
    int64_t *a = (int64_t *)(void *)(acc + i * astep);
    switch (op) {
    case TIRRT_RED_SUM:
    case TIRRT_RED_MEAN: *a = wrap_add(*a, x[i]); break;
    case TIRRT_RED_AMAX: if (x[i] > *a) *a = x[i]; break;
    case TIRRT_RED_AMIN: if (x[i] < *a) *a = x[i]; break;
    }
  }
}

tirrt_status_t tirrt_cpu_reduce(tirrt_redop_t op, const tirrt_view_t *x, uint32_t dims_mask,
                                const tirrt_view_t *out) {
  if ((unsigned)op >= (unsigned)TIRRT_RED_COUNT)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "reduce: unknown op %d", (int)op);
  const char *name = redop_names[op];
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, name, "the input")) || (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (x->rank == 0 && dims_mask <= 1) dims_mask = 0; /* torch's wrapped dim of a 0-d tensor */
  if (x->rank < 32 && (dims_mask >> x->rank) != 0)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: dims mask 0x%x names dims beyond rank %d",
                             name, (unsigned)dims_mask, (int)x->rank);
  int64_t want[TIRRT_MAX_RANK], count = 1;
  bool empty_dim = false;
  for (int32_t d = 0; d < x->rank; d++) {
    bool red = (dims_mask >> d) & 1u;
    want[d] = red ? 1 : x->shape[d];
    if (red) {
      count *= x->shape[d];
      if (x->shape[d] == 0) empty_dim = true;
    }
  }
  if (!same_shape(out, x->rank, want)) return shape_mismatch(name, "the output", out, x->rank, want);
  bool fl = is_float(x->dtype);
  if (op == TIRRT_RED_MEAN && !is_float(out->dtype)) return tirrt_make_status(
      TIRRT_STATUS_INVALID_ARGUMENT, "mean: the output must be a float, not %s", tirrt_dtype_name(out->dtype));
  if ((op == TIRRT_RED_AMAX || op == TIRRT_RED_AMIN) && out->dtype != x->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: the input is %s but the output is %s",
                             name, tirrt_dtype_name(x->dtype), tirrt_dtype_name(out->dtype));
  if ((op == TIRRT_RED_AMAX || op == TIRRT_RED_AMIN) && empty_dim)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: reduction over a dim of size 0 has no identity", name);
  int64_t on = tirrt_view_numel(out);
  if (on == 0) return NULL;
  void *acc = malloc((size_t)on * 8);
  if (!acc) return tirrt_oom_status();
  double *af = acc;
  int64_t *ai = acc;
  for (int64_t k = 0; k < on; k++) {
    switch (op) {
    case TIRRT_RED_SUM:
    case TIRRT_RED_MEAN: if (fl) af[k] = 0; else ai[k] = 0; break;
    case TIRRT_RED_AMAX: if (fl) af[k] = -INFINITY; else ai[k] = INT64_MIN; break;
    case TIRRT_RED_AMIN: if (fl) af[k] = INFINITY; else ai[k] = INT64_MAX; break;
    }
  }
  tirrt_dtype_t adt = fl ? TIRRT_DTYPE_F64 : TIRRT_DTYPE_I64;
  tirrt_view_t av = dense_view(adt, out->rank, out->shape, acc), ab;
  if (tirrt_view_numel(x) > 0) {
    /* The accumulator broadcast to x: stride 0 along the reduced dims. */
    s = tirrt_view_broadcast_to(&av, x->rank, x->shape, &ab);
    if (s) {
      free(acc);
      return s;
    }
    const tirrt_view_t *vs[2] = {&ab, x};
    tirrt_iter_t it;
    tirrt_iter_init(&it, 2, vs);
    union {
      double f[BLOCK];
      int64_t i[BLOCK];
    } buf;
    do {
      for (int64_t j = 0; j < it.n; j += BLOCK) {
        int64_t m = it.n - j < BLOCK ? it.n - j : BLOCK;
        char *pa = it.ptr[0] + j * it.step[0];
        const char *px = it.ptr[1] + j * it.step[1];
        if (fl) {
          tirrt_load_f64(x->dtype, px, it.step[1], m, buf.f);
          fold_f64(op, pa, it.step[0], buf.f, m);
        } else {
          tirrt_load_i64(x->dtype, px, it.step[1], m, buf.i);
          fold_i64(op, pa, it.step[0], buf.i, m);
        }
      }
    } while (tirrt_iter_next(&it));
  }
  if (op == TIRRT_RED_MEAN) {
    /* In place to f64; an empty reduction is 0/0 = NaN, as in torch. */
    for (int64_t k = 0; k < on; k++) {
      double v = fl ? af[k] : (double)ai[k];
      af[k] = count == 0 ? NAN : v / (double)count;
    }
    av.dtype = TIRRT_DTYPE_F64;
  }
  s = tirrt_cpu_copy(&av, out); /* rounds (floats) or wraps (integers) into out's dtype */
  free(acc);
  return s;
}

/* ------------------------------------------------------------ rows */

/* fn computes one row: the element pointers of x and out there, and
 * `buf`, scratch of its own thread.  Rows never fail (inputs are checked
 * before), so a row returns nothing. */
typedef void (*row_fn)(const void *ctx, void *buf, const char *px, char *po);

/* The byte offset of row k (row-major over v's first `outer` dims). */
static int64_t row_offset(const tirrt_view_t *v, int32_t outer, int64_t k) {
  int64_t off = 0;
  for (int32_t d = outer - 1; d >= 0; d--) {
    off += k % v->shape[d] * v->strides[d];
    k /= v->shape[d];
  }
  return off * (int64_t)tirrt_dtype_size(v->dtype);
}

/* Calls fn for every row position of `x` and `out` (same shape) over their
 * first `outer` dims, rows shared out among the OpenMP threads when there
 * is enough work (`row_len` elements each); each row is computed whole by
 * one thread, so the result does not depend on the thread count.  Every
 * thread gets `buf_bytes` of scratch. */
static tirrt_status_t for_each_row(const tirrt_view_t *x, const tirrt_view_t *out, int32_t outer,
                                   row_fn fn, const void *ctx, size_t buf_bytes, int64_t row_len) {
  int64_t rows = 1;
  for (int32_t d = 0; d < outer; d++) rows *= x->shape[d];
  if (rows == 0) return NULL;
  const bool par = rows > 1 && (double)rows * (double)row_len >= (double)TIRRT_PAR_MIN_WORK;
  const size_t nt = par ? (size_t)tirrt_max_threads() : 1;
  char *bufs = malloc(nt * (buf_bytes ? buf_bytes : 1));
  if (!bufs) return tirrt_oom_status();
  TIRRT_OMP("omp parallel for schedule(static) if(par)")
  for (int64_t k = 0; k < rows; k++)
    fn(ctx, bufs + (size_t)tirrt_thread_num() * buf_bytes,
       (const char *)x->data + row_offset(x, outer, k), (char *)out->data + row_offset(out, outer, k));
  free(bufs);
  return NULL;
}

/* ------------------------------------------------------------ softmax */

typedef struct {
  const tirrt_view_t *x, *out;
  int64_t n, xs, os; /* row length and strides in bytes */
  bool log;
} softmax_ctx;

/* exp in the compute type (f32, or f64 for f64); the sum of exps is
 * accumulated in f64, which costs nothing next to exp and keeps long rows
 * (vocabularies of 50k) accurate.  A row of all -inf gives NaN (-inf - -inf),
 * as torch's softmax does. */
#define DEFINE_SOFTMAX_ROW(NAME, T, S, LOAD, STORE)                     \
  static void NAME(const void *vctx, void *buf, const char *px, char *po) { \
    const softmax_ctx *c = vctx;                                        \
    T *r = buf;                                                         \
    LOAD(c->x->dtype, px, c->xs, c->n, r);                              \
    T mx = -INFINITY;                                                   \
    for (int64_t i = 0; i < c->n; i++)                                  \
      if (r[i] > mx || isnan(r[i])) mx = r[i];                          \
    double sum = 0;                                                     \
    if (c->log) {                                                       \
      for (int64_t i = 0; i < c->n; i++) sum += (double)exp##S(r[i] - mx); \
      T lse = mx + (T)log(sum);                                         \
      for (int64_t i = 0; i < c->n; i++) r[i] = r[i] - lse;             \
    } else {                                                            \
      for (int64_t i = 0; i < c->n; i++) {                              \
        r[i] = exp##S(r[i] - mx);                                       \
        sum += (double)r[i];                                            \
      }                                                                 \
      T inv = (T)(1.0 / sum);                                           \
      for (int64_t i = 0; i < c->n; i++) r[i] *= inv;                   \
    }                                                                   \
    STORE(c->out->dtype, po, c->os, c->n, r);                           \
  }

DEFINE_SOFTMAX_ROW(softmax_row_f32, float, f, tirrt_load_f32, tirrt_store_f32)
DEFINE_SOFTMAX_ROW(softmax_row_f64, double, , tirrt_load_f64, tirrt_store_f64)

tirrt_status_t tirrt_cpu_softmax(const tirrt_view_t *x, int32_t dim, bool log,
                                 const tirrt_view_t *out) {
  const char *name = log ? "log_softmax" : "softmax";
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, name, "the input")) || (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (!is_float(x->dtype) || !is_float(out->dtype))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: needs float input and output, not %s -> %s",
                             name, tirrt_dtype_name(x->dtype), tirrt_dtype_name(out->dtype));
  if (!same_shape(out, x->rank, x->shape)) return shape_mismatch(name, "the output", out, x->rank, x->shape);
  int32_t r = x->rank > 0 ? x->rank : 1;
  if (dim < 0) dim += r;
  if (dim < 0 || dim >= r)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: dim is out of range for rank %d", name,
                             (int)x->rank);
  if (tirrt_view_numel(x) == 0) return NULL;
  /* A 0-d input is one row of length 1.  Otherwise the row dim is cut out
   * of the iteration by making it size 1 there. */
  tirrt_view_t xo = *x, oo = *out;
  softmax_ctx c = {x, out, 1, 0, 0, log};
  if (x->rank > 0) {
    c.n = x->shape[dim];
    c.xs = x->strides[dim] * (int64_t)tirrt_dtype_size(x->dtype);
    c.os = out->strides[dim] * (int64_t)tirrt_dtype_size(out->dtype);
    xo.shape[dim] = oo.shape[dim] = 1;
  }
  bool f64 = x->dtype == TIRRT_DTYPE_F64;
  return for_each_row(&xo, &oo, xo.rank, f64 ? softmax_row_f64 : softmax_row_f32, &c,
                      (size_t)c.n * (f64 ? 8 : 4), c.n);
}

/* ------------------------------------------------------------ layer_norm / rms_norm */

typedef struct {
  tirrt_view_t xr, orow; /* the trailing dims as views; data set per row */
  int64_t m;             /* elements per row */
  double eps;
  const double *w, *b;   /* dense rows, or NULL */
  bool rms;
} norm_ctx;

static void norm_row(const void *vctx, void *buf, const char *px, char *po) {
  const norm_ctx *c = vctx;
  tirrt_view_t xr = c->xr, orow = c->orow;
  xr.data = (void *)px;
  orow.data = po;
  double *r = buf;
  tirrt_view_gather_f64(&xr, r);
  double mean = 0, var = 0;
  if (!c->rms) { /* two passes in f64: no cancellation from E[x^2] - E[x]^2 */
    for (int64_t i = 0; i < c->m; i++) mean += r[i];
    mean /= (double)c->m;
  }
  for (int64_t i = 0; i < c->m; i++) var += (r[i] - mean) * (r[i] - mean);
  var /= (double)c->m; /* biased, like torch; for rms this is mean(x^2) */
  double rstd = 1.0 / sqrt(var + c->eps);
  for (int64_t i = 0; i < c->m; i++) {
    double y = (r[i] - mean) * rstd;
    if (c->w) y *= c->w[i];
    if (c->b) y += c->b[i];
    r[i] = y;
  }
  tirrt_view_scatter_f64(r, &orow);
}

/* The trailing `nd` dims of v as a view (data filled in per row). */
static tirrt_view_t trailing(const tirrt_view_t *v, int32_t nd) {
  tirrt_view_t t;
  memset(&t, 0, sizeof t);
  t.dtype = v->dtype;
  t.rank = nd;
  for (int32_t d = 0; d < nd; d++) {
    t.shape[d] = v->shape[v->rank - nd + d];
    t.strides[d] = v->strides[v->rank - nd + d];
  }
  return t;
}

/* Gathers an optional affine parameter, broadcast to the row shape, into a
 * dense f64 row. */
static tirrt_status_t param_row(const char *op, const char *what, const tirrt_view_t *p,
                                const tirrt_view_t *row, double **out) {
  *out = NULL;
  if (!p) return NULL;
  tirrt_status_t s;
  if ((s = tirrt_view_check(p, op, what))) return s;
  if (!is_float(p->dtype))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, not a float", op, what,
                             tirrt_dtype_name(p->dtype));
  tirrt_view_t pb;
  if ((s = tirrt_view_broadcast_to(p, row->rank, row->shape, &pb))) {
    tirrt_status_free(s);
    return shape_mismatch(op, what, p, row->rank, row->shape);
  }
  int64_t m = tirrt_view_numel(row);
  *out = malloc((size_t)(m > 0 ? m : 1) * sizeof(double));
  if (!*out) return tirrt_oom_status();
  tirrt_view_gather_f64(&pb, *out);
  return NULL;
}

static tirrt_status_t run_norm(const char *name, const tirrt_view_t *x, const tirrt_view_t *weight,
                               const tirrt_view_t *bias, int32_t nd, double eps, bool rms,
                               const tirrt_view_t *out) {
  tirrt_status_t s;
  if (!same_shape(out, x->rank, x->shape)) return shape_mismatch(name, "the output", out, x->rank, x->shape);
  if (!is_float(out->dtype))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: the output has dtype %s, not a float", name,
                             tirrt_dtype_name(out->dtype));
  norm_ctx c;
  memset(&c, 0, sizeof c);
  c.xr = trailing(x, nd);
  c.orow = trailing(out, nd);
  c.m = tirrt_view_numel(&c.xr);
  c.eps = eps;
  c.rms = rms;
  double *w = NULL, *b = NULL;
  if ((s = param_row(name, "the weight", weight, &c.xr, &w)) ||
      (s = param_row(name, "the bias", bias, &c.xr, &b)))
    goto done;
  c.w = w;
  c.b = b;
  if (tirrt_view_numel(x) == 0) goto done;
  s = for_each_row(x, out, x->rank - nd, norm_row, &c, (size_t)c.m * sizeof(double), c.m);
done:
  free(w);
  free(b);
  return s;
}

tirrt_status_t tirrt_cpu_layer_norm(const tirrt_view_t *x, const tirrt_view_t *weight,
                                    const tirrt_view_t *bias, int32_t ndims, double eps,
                                    const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, "layer_norm", "the input")) ||
      (s = tirrt_view_check(out, "layer_norm", "the output")))
    return s;
  if (!is_float(x->dtype)) return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                                    "layer_norm: the input has dtype %s, not a float",
                                                    tirrt_dtype_name(x->dtype));
  if (ndims < 1 || ndims > x->rank)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "layer_norm: cannot normalize %d trailing dims of a rank-%d input",
                             (int)ndims, (int)x->rank);
  return run_norm("layer_norm", x, weight, bias, ndims, eps, false, out);
}

tirrt_status_t tirrt_cpu_rms_norm(const tirrt_view_t *x, const tirrt_view_t *weight, double eps,
                                  const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, "rms_norm", "the input")) ||
      (s = tirrt_view_check(out, "rms_norm", "the output")) ||
      (weight && (s = tirrt_view_check(weight, "rms_norm", "the weight"))))
    return s;
  if (!is_float(x->dtype)) return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                                    "rms_norm: the input has dtype %s, not a float",
                                                    tirrt_dtype_name(x->dtype));
  /* The weight's shape is the normalized shape (torch's normalized_shape):
   * it must equal x's trailing dims. */
  int32_t nd = weight ? weight->rank : 1;
  bool ok = nd >= 1 && nd <= x->rank;
  for (int32_t d = 0; ok && weight && d < nd; d++)
    ok = weight->shape[d] == x->shape[x->rank - nd + d];
  if (!ok) {
    char a[TIRRT_SHAPE_STR_MAX], b[TIRRT_SHAPE_STR_MAX];
    tirrt_format_shape(x->shape, x->rank, a, sizeof a);
    if (weight) tirrt_format_shape(weight->shape, weight->rank, b, sizeof b);
    else strcpy(b, "none");
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "rms_norm: weight shape %s is not the trailing shape of input %s", b, a);
  }
  if (eps < 0) { /* torch's default: the machine epsilon of the input dtype */
    switch (x->dtype) {
    case TIRRT_DTYPE_F16: eps = 0.0009765625; break;
    case TIRRT_DTYPE_BF16: eps = 0.0078125; break;
    case TIRRT_DTYPE_F32: eps = FLT_EPSILON; break;
    default: eps = DBL_EPSILON; break;
    }
  }
  return run_norm("rms_norm", x, weight, NULL, nd, eps, true, out);
}
