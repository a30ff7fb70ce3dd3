/* gpu_ops_lib.c — test_gpu_ops' machinery: host/device tensor pairs with
 * random contents in a geometry, the comparison of the CPU kernel's output
 * buffer with the GPU kernel's, and the per-family counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "gpu_ops.h"

/* ------------------------------------------------------------ buffers and views */

const char *const layout_names[L_COUNT] = {"contig", "trans", "slice", "bcast"};

static buf_t *live[64];
static int nlive;
int cuda_broken;

size_t esize(int dt) { return tirrt_dtype_size((tirrt_dtype_t)dt); }
bool is_float(int dt) { return dt == TIRK_F16 || dt == TIRK_BF16 || dt == TIRK_F32 || dt == TIRK_F64; }

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of host memory\n");
    exit(1);
  }
  return p;
}

static buf_t *buf_new(int dt, int64_t n) {
  buf_t *b = xmalloc(sizeof *b);
  b->dt = dt;
  b->bytes = (size_t)(n > 0 ? n : 1) * esize(dt);
  b->h = xmalloc(b->bytes);
  if (cudaMalloc((void **)&b->d, b->bytes) != cudaSuccess) {
    fprintf(stderr, "cudaMalloc failed\n");
    exit(1);
  }
  live[nlive++] = b;
  return b;
}

void upload(buf_t *b) {
  if (cudaMemcpy(b->d, b->h, b->bytes, cudaMemcpyHostToDevice) != cudaSuccess) cuda_broken = 1;
}

void free_live(void) {
  for (int i = 0; i < nlive; i++) {
    cudaFree(live[i]->d);
    free(live[i]->h);
    free(live[i]);
  }
  nlive = 0;
}

/* One random value of dtype dt stored at element i of p. */
static double frange_lo = -4, frange_hi = 4;
int64_t irange_lo = -100, irange_hi = 100;
static void fill_one(int dt, void *p, int64_t i, int kind) {
  char *q = (char *)p + (size_t)i * esize(dt);
  if (dt == TIRK_BOOL || kind == FILL_BOOL) {
    int64_t v = (int64_t)(tt_rng_u64() >> 63);
    tirrt_store_i64((tirrt_dtype_t)dt, q, 0, 1, &v);
    return;
  }
  if (is_float(dt)) {
    double v;
    if (kind == FILL_SPECIAL) {
      static const double sp[] = {NAN, INFINITY, -INFINITY, 1e10, -1e10, 3e38, -3e38, 70000.0, -70000.0,
                                  2.5, -2.5, 0.5, -0.5, 127.5, 128.0, -128.5, 255.5, 256.0, 32767.9,
                                  -32768.5, 2147483648.0, -2147483649.0, 9.3e18, -9.3e18, 1e-6, -1e-40};
      uint64_t r = tt_rng_u64() % 4;
      v = r == 0 ? sp[tt_rng_u64() % (sizeof sp / sizeof sp[0])] : tt_rng_unif(-300, 300);
    } else if (kind == FILL_RANGE) {
      v = tt_rng_unif(frange_lo, frange_hi);
    } else {
      v = tt_rng_unif(-4, 4);
    }
    if (v == 0) v = 0.25;
    tirrt_store_f64((tirrt_dtype_t)dt, q, 0, 1, &v);
    return;
  }
  int64_t v;
  if (kind == FILL_RANGE) v = irange_lo + (int64_t)(tt_rng_u64() % (uint64_t)(irange_hi - irange_lo + 1));
  else v = (int64_t)tt_rng_u64(); /* wraps to the dtype: the full range */
  if (kind != FILL_RANGE && (v & 0xff) == 0) v |= 1; /* never 0 in any width */
  tirrt_store_i64((tirrt_dtype_t)dt, q, 0, 1, &v);
}

/* A tensor of `shape` with a geometry: contiguous, transposed (last two
 * dims swapped in memory), sliced (every other element of a twice-as-long
 * last dim, offset 1), or broadcast (dims in bmask have stride 0). */
ten_t make(int dt, int rank, const int64_t *shape, int layout, uint32_t bmask, int kind) {
  ten_t t;
  memset(&t, 0, sizeof t);
  t.dt = dt;
  t.rank = rank;
  memcpy(t.shape, shape, sizeof(int64_t) * (size_t)rank);
  if (layout == L_TRANS && rank < 2) layout = L_CONTIG;
  int64_t s = 1;
  if (layout == L_TRANS) {
    int64_t bs[TIRK_MAX_RANK], bshape[TIRK_MAX_RANK];
    memcpy(bshape, shape, sizeof(int64_t) * (size_t)rank);
    bshape[rank - 2] = shape[rank - 1], bshape[rank - 1] = shape[rank - 2];
    for (int d = rank - 1; d >= 0; d--) bs[d] = s, s *= bshape[d] > 0 ? bshape[d] : 1;
    memcpy(t.strides, bs, sizeof(int64_t) * (size_t)rank);
    t.strides[rank - 2] = bs[rank - 1], t.strides[rank - 1] = bs[rank - 2];
  } else {
    for (int d = rank - 1; d >= 0; d--) {
      if (layout == L_BCAST && ((bmask >> d) & 1)) {
        t.strides[d] = 0;
        continue;
      }
      int64_t ext = shape[d] > 0 ? shape[d] : 1;
      if (layout == L_SLICE && d == rank - 1) t.strides[d] = 2, s = 2 * ext;
      else t.strides[d] = s, s *= ext;
    }
    if (layout == L_SLICE) t.off = 1;
  }
  int64_t extent = t.off + 1;
  for (int d = 0; d < rank; d++)
    if (shape[d] > 1) extent += (shape[d] - 1) * t.strides[d];
  t.b = buf_new(dt, extent + 1);
  for (int64_t i = 0; i < (int64_t)(t.b->bytes / esize(dt)); i++) fill_one(dt, t.b->h, i, kind);
  upload(t.b);
  return t;
}

/* An output: contiguous or sliced, both copies poisoned with 0xFF. */
ten_t out_new(int dt, int rank, const int64_t *shape, bool sliced) {
  ten_t t = make(dt, rank, shape, sliced ? L_SLICE : L_CONTIG, 0, FILL_NORMAL);
  memset(t.b->h, 0xFF, t.b->bytes);
  upload(t.b);
  return t;
}

tirrt_view_t hv(const ten_t *t) {
  tirrt_view_t v;
  memset(&v, 0, sizeof v);
  v.dtype = (tirrt_dtype_t)t->dt;
  v.rank = t->rank;
  memcpy(v.shape, t->shape, sizeof v.shape);
  memcpy(v.strides, t->strides, sizeof v.strides);
  v.data = t->b->h + t->off * (int64_t)esize(t->dt);
  return v;
}

tirk_view_t dv(const ten_t *t) {
  tirk_view_t v;
  memset(&v, 0, sizeof v);
  v.dtype = t->dt;
  v.rank = t->rank;
  memcpy(v.shape, t->shape, sizeof v.shape);
  memcpy(v.strides, t->strides, sizeof v.strides);
  v.data = t->b->d + t->off * (int64_t)esize(t->dt);
  return v;
}

/* ------------------------------------------------------------ comparison and bookkeeping */

family_t fam;
int total_pass, total_fail;

void family_begin(const char *name) {
  memset(&fam, 0, sizeof fam);
  fam.name = name;
}

void family_end(void) {
  printf("%-14s cases %5d  failed %3d  max rel err %.3g\n", fam.name, fam.pass + fam.fail, fam.fail, fam.maxerr);
  fflush(stdout);
  total_pass += fam.pass;
  total_fail += fam.fail;
}

/* The library's bound (tt_tol), 0 (exact) for integers and bool. */
double tol_of(int dt) { return tt_tol((tirrt_dtype_t)dt); }

static double ld(int dt, const unsigned char *p, size_t i) {
  double v;
  tirrt_load_f64((tirrt_dtype_t)dt, p + i * esize(dt), 0, 1, &v);
  return v;
}

/* The whole buffer of o: the CPU's copy (host) against the GPU's.  tol 0
 * means exact. Returns the error (inf for a mismatch of bits or class). */
static double compare(const ten_t *o, const unsigned char *g, double tol) {
  size_t es = esize(o->dt), n = o->b->bytes / es;
  const unsigned char *c = o->b->h;
  if (!is_float(o->dt)) return memcmp(c, g, o->b->bytes) ? INFINITY : 0;
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < n; i++) {
    double a = ld(o->dt, c, i), b = ld(o->dt, g, i);
    if (isnan(a) || isnan(b)) {
      if (isnan(a) != isnan(b)) return INFINITY;
      continue;
    }
    if (tol == 0) {
      if (memcmp(c + i * es, g + i * es, es) != 0) return INFINITY;
      continue;
    }
    if (isinf(a) || isinf(b)) {
      if (a != b) return INFINITY;
      continue;
    }
    d2 += (a - b) * (a - b);
    r2 += a * a;
  }
  return r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
}

/* Ends a case: compares the statuses (both fail, or both succeed and the
 * outputs agree within tol), frees its buffers. */
void finish(const char *desc, tirrt_status_t st, tirk_err_t e, const ten_t *o, double tol) {
  bool ok;
  double err = 0;
  cudaError_t ce = cudaDeviceSynchronize();
  if (ce != cudaSuccess) {
    printf("  FAIL %s %s: CUDA error %s\n", fam.name, desc, cudaGetErrorString(ce));
    cuda_broken = 1;
    ok = false;
  } else if (st || e != TIRK_OK) {
    ok = st && e != TIRK_OK;
    if (!ok)
      printf("  FAIL %s %s: cpu %s / gpu %d %s\n", fam.name, desc, st ? tirrt_status_message(st) : "ok", (int)e,
             e ? tirk_last_message() : "");
  } else {
    unsigned char *g = xmalloc(o->b->bytes);
    if (cudaMemcpy(g, o->b->d, o->b->bytes, cudaMemcpyDeviceToHost) != cudaSuccess) cuda_broken = 1;
    err = compare(o, g, tol);
    free(g);
    ok = err <= tol;
    if (!ok) printf("  FAIL %s %s: error %.3g (bound %.3g)\n", fam.name, desc, err, tol);
    else if (err > fam.maxerr) fam.maxerr = err;
  }
  if (st) tirrt_status_free(st);
  if (ok) fam.pass++;
  else fam.fail++;
  free_live();
  if (cuda_broken) {
    printf("CUDA failed; stopping\n");
    exit(1);
  }
}

/* ------------------------------------------------------------ shapes */

const shape_t shapes_full[8] = {{1, {1}}, {1, {7}}, {1, {33}}, {1, {1000}}, {1, {4097}},
                                {2, {33, 65}}, {3, {4, 7, 33}}, {3, {3, 0, 5}}};
const shape_t shapes_quick[3] = {{1, {7}}, {2, {33, 65}}, {3, {3, 0, 5}}};
const shape_t *shapes = shapes_full;
int nshapes = 8;

const char *dtn(int dt) { return tirrt_dtype_name((tirrt_dtype_t)dt); }

/* Broadcast mask for a shape: dim 0 (or the only dim) of size > 1. */
uint32_t bmask_of(const shape_t *sh) { return sh->rank >= 2 ? 1u : 1u; }
