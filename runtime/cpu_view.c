/* cpu_view.c — the foundations of the CPU kernels: strided views and NumPy
 * broadcasting, the N-d iterator every elementwise kernel runs on, f16/bf16
 * conversions, block loads/stores between storage dtypes and the compute
 * types (f32, f64, int64), gather/scatter, and tirrt_cpu_copy (cast).
 *
 * Conversion rules (one place, used by every kernel that converts):
 *  - float -> integer truncates toward zero and saturates to the dtype's
 *    range; NaN gives 0 (torch leaves both undefined; saturation makes the
 *    result deterministic and the same on every machine).
 *  - integer -> integer wraps (two's complement), like torch and C.
 *  - anything -> bool is != 0 (NaN is true, as in torch).
 *  - narrowing to a float type rounds once, to nearest even (f64 -> f16
 *    goes directly, not through f32, so there is no double rounding). */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "internal.h"
#include "tir_dtype.h"
#include "tirrt_cpu.h"

/* ------------------------------------------------------------ f16 / bf16 and saturation
 * The conversions are common/tir_dtype.h's, which the constant folder and
 * the CUDA kernels use too; these are the runtime's public names for them. */

float tirrt_half_to_float(uint16_t h) { return tir_cv_f16_to_f32(h); }
float tirrt_bf16_to_float(uint16_t b) { return tir_cv_bf16_to_f32(b); }
uint16_t tirrt_double_to_half(double d) { return tir_cv_f64_to_f16(d); }
uint16_t tirrt_double_to_bf16(double d) { return tir_cv_f64_to_bf16(d); }
uint16_t tirrt_float_to_half(float f) { return tir_cv_f32_to_f16(f); }
uint16_t tirrt_float_to_bf16(float f) { return tir_cv_f32_to_bf16(f); }

#define i64_to_f64_odd tir_cv_i64_to_f64_odd
typedef tir_cv_sat_t sat_range_t;
static inline sat_range_t sat_range(tirrt_dtype_t dt) { return tir_cv_sat_range((int)dt); }
static inline int64_t sat_trunc(double d, sat_range_t r) { return tir_cv_sat_trunc(d, r); }

/* ------------------------------------------------------------ block loads and stores */

/* One strided loop per storage type; `q` walks the source bytes. */
#define LOAD_LOOP(ET, EXPR)                           \
  for (int64_t i = 0; i < n; i++, q += stride) {      \
    ET v;                                             \
    memcpy(&v, q, sizeof v);                          \
    dst[i] = (EXPR);                                  \
  }                                                   \
  break

#define LOAD_ALL(CT)                                                      \
  switch (dt) {                                                           \
  case TIRRT_DTYPE_BOOL: LOAD_LOOP(uint8_t, (CT)(v != 0));                \
  case TIRRT_DTYPE_I8: LOAD_LOOP(int8_t, (CT)v);                          \
  case TIRRT_DTYPE_I16: LOAD_LOOP(int16_t, (CT)v);                        \
  case TIRRT_DTYPE_I32: LOAD_LOOP(int32_t, (CT)v);                        \
  case TIRRT_DTYPE_I64: LOAD_LOOP(int64_t, (CT)v);                        \
  case TIRRT_DTYPE_U8: LOAD_LOOP(uint8_t, (CT)v);                         \
  case TIRRT_DTYPE_F16: LOAD_LOOP(uint16_t, (CT)tirrt_half_to_float(v));  \
  case TIRRT_DTYPE_BF16: LOAD_LOOP(uint16_t, (CT)tirrt_bf16_to_float(v)); \
  case TIRRT_DTYPE_F32: LOAD_LOOP(float, (CT)v);                          \
  case TIRRT_DTYPE_F64: LOAD_LOOP(double, (CT)v);                         \
  default: break;                                                         \
  }

void tirrt_load_f32(tirrt_dtype_t dt, const void *p, int64_t stride, int64_t n, float *dst) {
  const char *q = p;
  if (dt == TIRRT_DTYPE_F32 && stride == 4) {
    memcpy(dst, p, (size_t)n * 4);
    return;
  }
  LOAD_ALL(float)
}

void tirrt_load_f64(tirrt_dtype_t dt, const void *p, int64_t stride, int64_t n, double *dst) {
  const char *q = p;
  if (dt == TIRRT_DTYPE_F64 && stride == 8) {
    memcpy(dst, p, (size_t)n * 8);
    return;
  }
  LOAD_ALL(double)
}

void tirrt_load_i64(tirrt_dtype_t dt, const void *p, int64_t stride, int64_t n, int64_t *dst) {
  const char *q = p;
  sat_range_t r = sat_range(TIRRT_DTYPE_I64);
  switch (dt) {
  case TIRRT_DTYPE_BOOL: LOAD_LOOP(uint8_t, (int64_t)(v != 0));
  case TIRRT_DTYPE_I8: LOAD_LOOP(int8_t, v);
  case TIRRT_DTYPE_I16: LOAD_LOOP(int16_t, v);
  case TIRRT_DTYPE_I32: LOAD_LOOP(int32_t, v);
  case TIRRT_DTYPE_I64:
    if (stride == 8) {
      memcpy(dst, p, (size_t)n * 8);
      break;
    }
    LOAD_LOOP(int64_t, v);
  case TIRRT_DTYPE_U8: LOAD_LOOP(uint8_t, v);
  case TIRRT_DTYPE_F16: LOAD_LOOP(uint16_t, sat_trunc(tirrt_half_to_float(v), r));
  case TIRRT_DTYPE_BF16: LOAD_LOOP(uint16_t, sat_trunc(tirrt_bf16_to_float(v), r));
  case TIRRT_DTYPE_F32: LOAD_LOOP(float, sat_trunc(v, r));
  case TIRRT_DTYPE_F64: LOAD_LOOP(double, sat_trunc(v, r));
  default: break;
  }
}

#define STORE_LOOP(ET, EXPR)                          \
  for (int64_t i = 0; i < n; i++, q += stride) {      \
    ET v = (EXPR);                                    \
    memcpy(q, &v, sizeof v);                          \
  }                                                   \
  break

/* Float compute values to any storage dtype (CT is float or double). */
#define STORE_FLOAT_ALL(CT)                                                  \
  sat_range_t r = sat_range(dt);                                             \
  switch (dt) {                                                              \
  case TIRRT_DTYPE_BOOL: STORE_LOOP(uint8_t, (uint8_t)(src[i] != 0));        \
  case TIRRT_DTYPE_I8:                                                       \
  case TIRRT_DTYPE_U8: STORE_LOOP(uint8_t, (uint8_t)(uint64_t)sat_trunc(src[i], r)); \
  case TIRRT_DTYPE_I16: STORE_LOOP(uint16_t, (uint16_t)(uint64_t)sat_trunc(src[i], r)); \
  case TIRRT_DTYPE_I32: STORE_LOOP(uint32_t, (uint32_t)(uint64_t)sat_trunc(src[i], r)); \
  case TIRRT_DTYPE_I64: STORE_LOOP(int64_t, sat_trunc(src[i], r));           \
  case TIRRT_DTYPE_F16: STORE_LOOP(uint16_t, tirrt_double_to_half((double)src[i])); \
  case TIRRT_DTYPE_BF16: STORE_LOOP(uint16_t, tirrt_double_to_bf16((double)src[i])); \
  case TIRRT_DTYPE_F32: STORE_LOOP(float, (float)src[i]);                    \
  case TIRRT_DTYPE_F64: STORE_LOOP(double, (double)src[i]);                  \
  default: break;                                                            \
  }

void tirrt_store_f32(tirrt_dtype_t dt, void *p, int64_t stride, int64_t n, const float *src) {
  char *q = p;
  if (dt == TIRRT_DTYPE_F32 && stride == 4) {
    memcpy(p, src, (size_t)n * 4);
    return;
  }
  if (dt == TIRRT_DTYPE_BF16) { /* the common bf16 case: the float bit trick is cheaper */
    for (int64_t i = 0; i < n; i++, q += stride) {
      uint16_t v = tirrt_float_to_bf16(src[i]);
      memcpy(q, &v, 2);
    }
    return;
  }
  STORE_FLOAT_ALL(float)
}

void tirrt_store_f64(tirrt_dtype_t dt, void *p, int64_t stride, int64_t n, const double *src) {
  char *q = p;
  if (dt == TIRRT_DTYPE_F64 && stride == 8) {
    memcpy(p, src, (size_t)n * 8);
    return;
  }
  STORE_FLOAT_ALL(double)
}

void tirrt_store_i64(tirrt_dtype_t dt, void *p, int64_t stride, int64_t n, const int64_t *src) {
  char *q = p;
  /* Integers wrap: keep the low bytes (as unsigned, so no implementation-
   * defined signed conversion is involved). */
  switch (dt) {
  case TIRRT_DTYPE_BOOL: STORE_LOOP(uint8_t, (uint8_t)(src[i] != 0));
  case TIRRT_DTYPE_I8:
  case TIRRT_DTYPE_U8: STORE_LOOP(uint8_t, (uint8_t)(uint64_t)src[i]);
  case TIRRT_DTYPE_I16: STORE_LOOP(uint16_t, (uint16_t)(uint64_t)src[i]);
  case TIRRT_DTYPE_I32: STORE_LOOP(uint32_t, (uint32_t)(uint64_t)src[i]);
  case TIRRT_DTYPE_I64:
    if (stride == 8) {
      memcpy(p, src, (size_t)n * 8);
      break;
    }
    STORE_LOOP(int64_t, src[i]);
  case TIRRT_DTYPE_F16: STORE_LOOP(uint16_t, tirrt_double_to_half(i64_to_f64_odd(src[i])));
  case TIRRT_DTYPE_BF16: STORE_LOOP(uint16_t, tirrt_double_to_bf16(i64_to_f64_odd(src[i])));
  case TIRRT_DTYPE_F32: STORE_LOOP(float, (float)src[i]); /* one correct rounding */
  case TIRRT_DTYPE_F64: STORE_LOOP(double, (double)src[i]);
  default: break;
  }
}

/* ------------------------------------------------------------ views */

tirrt_view_t tirrt_view_contiguous(const tirrt_tensor_desc_t *desc, void *data) {
  tirrt_view_t v;
  memset(&v, 0, sizeof v);
  v.dtype = desc->dtype;
  v.rank = desc->rank;
  v.data = data;
  int64_t s = 1;
  for (int32_t d = desc->rank - 1; d >= 0; d--) {
    v.shape[d] = desc->shape[d];
    v.strides[d] = s;
    if (desc->shape[d] > 0) s *= desc->shape[d]; /* a 0 dim keeps the others' strides meaningful */
  }
  return v;
}

int64_t tirrt_view_numel(const tirrt_view_t *v) {
  int64_t n = 1;
  for (int32_t d = 0; d < v->rank; d++) n *= v->shape[d];
  return n;
}

bool tirrt_view_is_contiguous(const tirrt_view_t *v) {
  if (tirrt_view_numel(v) == 0) return true; /* nothing is addressed */
  int64_t s = 1;
  for (int32_t d = v->rank - 1; d >= 0; d--) {
    if (v->shape[d] != 1 && v->strides[d] != s) return false; /* a size-1 dim's stride is free */
    s *= v->shape[d];
  }
  return true;
}

tirrt_status_t tirrt_view_check(const tirrt_view_t *v, const char *op, const char *what) {
  if (!v) return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s is missing", op, what);
  if ((unsigned)v->dtype >= (unsigned)TIRRT_DTYPE_COUNT)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s has an invalid dtype %d", op,
                             what, (int)v->dtype);
  if (v->rank < 0 || v->rank > TIRRT_MAX_RANK)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s has rank %" PRId32
                             " outside [0, %d]", op, what, v->rank, TIRRT_MAX_RANK);
  int64_t extent = 1;
  bool empty = false;
  for (int32_t d = 0; d < v->rank; d++) {
    if (v->shape[d] < 0 || (v->shape[d] > 0 && !tirrt_mul_nonneg(extent, v->shape[d], &extent))) {
      char sh[TIRRT_SHAPE_STR_MAX];
      tirrt_format_shape(v->shape, v->rank, sh, sizeof sh);
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s has a bad shape %s", op,
                               what, sh);
    }
    if (v->shape[d] == 0) empty = true;
  }
  if (!empty && !v->data)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: %s has no data", op, what);
  return NULL;
}

tirrt_status_t tirrt_view_broadcast_to(const tirrt_view_t *v, int32_t rank, const int64_t *shape,
                                       tirrt_view_t *out) {
  tirrt_view_t r;
  memset(&r, 0, sizeof r);
  r.dtype = v->dtype;
  r.rank = rank;
  r.data = v->data;
  int32_t lead = rank - v->rank;
  bool ok = lead >= 0 && rank <= TIRRT_MAX_RANK;
  for (int32_t d = 0; ok && d < rank; d++) {
    r.shape[d] = shape[d];
    if (d < lead) continue; /* a new leading dim: stride 0 */
    int64_t s = v->shape[d - lead];
    if (s == shape[d]) r.strides[d] = v->strides[d - lead];
    else if (s != 1) ok = false; /* only size-1 dims grow (to any size, 0 included) */
  }
  if (!ok) {
    char a[TIRRT_SHAPE_STR_MAX], b[TIRRT_SHAPE_STR_MAX];
    tirrt_format_shape(v->shape, v->rank, a, sizeof a);
    tirrt_format_shape(shape, rank, b, sizeof b);
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "cannot broadcast shape %s to %s", a, b);
  }
  *out = r;
  return NULL;
}

/* ------------------------------------------------------------ the iterator */

void tirrt_iter_init(tirrt_iter_t *it, int32_t nops, const tirrt_view_t *const *views) {
  const tirrt_view_t *v0 = views[0];
  memset(it, 0, sizeof *it);
  it->nops = nops;
  it->numel = 1;
  int32_t r = 0;
  for (int32_t d = 0; d < v0->rank; d++) {
    int64_t s = v0->shape[d];
    it->numel *= s;
    if (s == 1) continue; /* contributes nothing to any address */
    it->shape[r] = s;
    for (int32_t k = 0; k < nops; k++)
      it->bstrides[k][r] = views[k]->strides[d] * (int64_t)tirrt_dtype_size(views[k]->dtype);
    r++;
  }
  /* Merge dim d into the run before it when every operand steps through the
   * pair as through one dim.  Only neighbours merge, so the order stays
   * row-major (gather/scatter rely on that). */
  int32_t w = 0;
  for (int32_t d = 1; d < r; d++) {
    bool merge = true;
    for (int32_t k = 0; k < nops; k++)
      if (it->bstrides[k][w] != it->bstrides[k][d] * it->shape[d]) merge = false;
    if (merge) {
      it->shape[w] *= it->shape[d];
      for (int32_t k = 0; k < nops; k++) it->bstrides[k][w] = it->bstrides[k][d];
    } else {
      w++;
      it->shape[w] = it->shape[d];
      for (int32_t k = 0; k < nops; k++) it->bstrides[k][w] = it->bstrides[k][d];
    }
  }
  if (r == 0) { /* a scalar, or all dims of size 1 */
    it->shape[0] = 1;
    for (int32_t k = 0; k < nops; k++) it->bstrides[k][0] = 0;
    w = 0;
  }
  it->rank = w + 1;
  if (it->numel == 0) { /* one empty run: a do/while loop does nothing and stops */
    it->rank = 1;
    it->shape[0] = 0;
  }
  it->n = it->numel == 0 ? 0 : it->shape[it->rank - 1];
  for (int32_t k = 0; k < nops; k++) {
    it->base[k] = views[k]->data;
    it->ptr[k] = views[k]->data;
    it->step[k] = it->bstrides[k][it->rank - 1];
  }
}

bool tirrt_iter_next(tirrt_iter_t *it) {
  /* Offsets are tracked as integers and turned into pointers only when they
   * address an element, so no pointer ever points outside its buffer. */
  for (int32_t d = it->rank - 2; d >= 0; d--) {
    if (++it->index[d] < it->shape[d]) {
      for (int32_t k = 0; k < it->nops; k++) {
        it->off[k] += it->bstrides[k][d];
        it->ptr[k] = it->base[k] + it->off[k];
      }
      return true;
    }
    it->index[d] = 0;
    for (int32_t k = 0; k < it->nops; k++) it->off[k] -= it->bstrides[k][d] * (it->shape[d] - 1);
  }
  return false;
}

/* ------------------------------------------------------------ gather / scatter */

#define GATHER(T, LOAD)                                                      \
  if (tirrt_view_numel(v) == 0) return;                                      \
  tirrt_iter_t it;                                                           \
  const tirrt_view_t *vs[1] = {v};                                           \
  tirrt_iter_init(&it, 1, vs);                                               \
  do {                                                                       \
    LOAD(v->dtype, it.ptr[0], it.step[0], it.n, buf);                        \
    buf += it.n;                                                             \
  } while (tirrt_iter_next(&it))

void tirrt_view_gather_f32(const tirrt_view_t *v, float *buf) { GATHER(float, tirrt_load_f32); }
void tirrt_view_gather_f64(const tirrt_view_t *v, double *buf) { GATHER(double, tirrt_load_f64); }
void tirrt_view_gather_i64(const tirrt_view_t *v, int64_t *buf) { GATHER(int64_t, tirrt_load_i64); }
void tirrt_view_scatter_f32(const float *buf, const tirrt_view_t *v) { GATHER(float, tirrt_store_f32); }
void tirrt_view_scatter_f64(const double *buf, const tirrt_view_t *v) { GATHER(double, tirrt_store_f64); }
void tirrt_view_scatter_i64(const int64_t *buf, const tirrt_view_t *v) { GATHER(int64_t, tirrt_store_i64); }

/* ------------------------------------------------------------ copy / cast */

enum { BLOCK = 512 };

/* Same-dtype copy: bytes only, whole runs with memcpy when both are dense. */
static void copy_bytes(tirrt_iter_t *it, size_t es) {
  do {
    char *d = it->ptr[0];
    const char *s = it->ptr[1];
    int64_t ds = it->step[0], ss = it->step[1];
    if (ds == (int64_t)es && ss == (int64_t)es) {
      memcpy(d, s, (size_t)it->n * es);
      continue;
    }
    switch (es) { /* a constant size lets the compiler turn memcpy into a move */
    case 1: for (int64_t i = 0; i < it->n; i++) memcpy(d + i * ds, s + i * ss, 1); break;
    case 2: for (int64_t i = 0; i < it->n; i++) memcpy(d + i * ds, s + i * ss, 2); break;
    case 4: for (int64_t i = 0; i < it->n; i++) memcpy(d + i * ds, s + i * ss, 4); break;
    default: for (int64_t i = 0; i < it->n; i++) memcpy(d + i * ds, s + i * ss, 8); break;
    }
  } while (tirrt_iter_next(it));
}

static bool is_float_dtype(tirrt_dtype_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

tirrt_status_t tirrt_cpu_copy(const tirrt_view_t *src, const tirrt_view_t *dst) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(src, "copy", "source")) || (s = tirrt_view_check(dst, "copy", "destination")))
    return s;
  tirrt_view_t sb;
  if ((s = tirrt_view_broadcast_to(src, dst->rank, dst->shape, &sb))) return tirrt_status_annotate(s, "copy");
  if (tirrt_view_numel(dst) == 0) return NULL;
  const tirrt_view_t *vs[2] = {dst, &sb};
  tirrt_iter_t it;
  tirrt_iter_init(&it, 2, vs);
  if (src->dtype == dst->dtype) {
    copy_bytes(&it, tirrt_dtype_size(dst->dtype));
    return NULL;
  }
  /* Floats go through f64 (exact for f16/bf16/f32), integers through int64
   * (exact); the store then rounds, saturates or wraps once. */
  union {
    double f[BLOCK];
    int64_t i[BLOCK];
  } buf;
  bool fl = is_float_dtype(src->dtype);
  do {
    for (int64_t j = 0; j < it.n; j += BLOCK) {
      int64_t m = it.n - j < BLOCK ? it.n - j : BLOCK;
      const char *ps = it.ptr[1] + j * it.step[1];
      char *pd = it.ptr[0] + j * it.step[0];
      if (fl) {
        tirrt_load_f64(src->dtype, ps, it.step[1], m, buf.f);
        tirrt_store_f64(dst->dtype, pd, it.step[0], m, buf.f);
      } else {
        tirrt_load_i64(src->dtype, ps, it.step[1], m, buf.i);
        tirrt_store_i64(dst->dtype, pd, it.step[0], m, buf.i);
      }
    }
  } while (tirrt_iter_next(&it));
  return NULL;
}

tirrt_view_t tirrt_view_scalar(tirrt_dtype_t dtype, double value, uint64_t *storage) {
  *storage = 0;
  tirrt_store_f64(dtype, storage, 0, 1, &value);
  tirrt_view_t v;
  memset(&v, 0, sizeof v);
  v.dtype = dtype;
  v.data = storage;
  return v;
}
