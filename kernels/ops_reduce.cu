/* ops_reduce.cu — the reducing op kernels of the CUDA target (tirk_ops.h):
 * reduce (sum, mean, amax, amin over any set of dims), softmax and
 * log_softmax along any dim, layer_norm and rms_norm, and the plain
 * integer matmul.
 *
 * Reductions run one "group" of threads per output (a row, for softmax
 * and the norms): a warp when the reduced extent is short, a whole block
 * when it is long, combining the lanes' partial results as a tree, so the
 * result does not depend on scheduling and long sums lose little to
 * rounding.  The group walks the reduced dims through their own collapsed
 * index space, so any set of dims (the last one or not, strided or not)
 * takes the same path.  When the innermost dim of x is kept (reducing over
 * leading dims), neighbouring lanes take neighbouring outputs instead, so
 * their reads are coalesced (reduce_cols_kernel).  Accumulators follow the CPU: f64 for float
 * inputs, int64 (wrapping) for integers. */
#include <float.h>
#include <math.h>

#include "ops_common.cuh"

/* ------------------------------------------------------------ group reductions */

enum { BLOCK = 256 };

/* The combine step of each reduction; NaN wins amax/amin (torch). */
__device__ __forceinline__ double red_combine(int op, double a, double b) {
  switch (op) {
  case TIRK_RED_AMAX: return (b > a || b != b) ? b : a;
  case TIRK_RED_AMIN: return (b < a || b != b) ? b : a;
  default: return a + b;
  }
}
__device__ __forceinline__ int64_t red_combine(int op, int64_t a, int64_t b) {
  switch (op) {
  case TIRK_RED_AMAX: return b > a ? b : a;
  case TIRK_RED_AMIN: return b < a ? b : a;
  default: return ops_wrap64((uint64_t)a + (uint64_t)b);
  }
}
__device__ __forceinline__ double red_identity(int op, double) {
  return op == TIRK_RED_AMAX ? -INFINITY : op == TIRK_RED_AMIN ? INFINITY : 0.0;
}
__device__ __forceinline__ int64_t red_identity(int op, int64_t) {
  return op == TIRK_RED_AMAX ? INT64_MIN : op == TIRK_RED_AMIN ? INT64_MAX : 0;
}

/* Combines v over the G threads of a group: G = 32 (a warp) or BLOCK (the
 * whole block; every thread of the block must call it).  The result is in
 * every thread of the group. */
template <int G, typename T>
__device__ __forceinline__ T group_reduce(int op, T v, T *smem) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = red_combine(op, v, (T)__shfl_xor_sync(0xffffffffu, v, o));
  if (G == 32) return v;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads(); /* smem may still be read by a previous call */
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = smem[0];
  for (int w = 1; w < G / 32; w++) v = red_combine(op, v, smem[w]);
  return v;
}

/* The lane of this thread in its group and the grid's stride in groups
 * (BLOCK / G groups per block).  Kernels loop over whole blocks of groups
 * so every thread of a block runs the same iterations (G = BLOCK
 * synchronizes inside); a group past the end takes part but stores
 * nothing. */
#define GROUP_SETUP(G)                 \
  const int lane = threadIdx.x % (G);  \
  const int64_t gstride = (int64_t)gridDim.x * (BLOCK / (G))

__device__ __forceinline__ float m_exp_ct(float x) { return expf(x); }
__device__ __forceinline__ double m_exp_ct(double x) { return exp(x); }

template <int DT> struct red_acc { typedef int64_t type; };
template <> struct red_acc<TIRK_F16> { typedef double type; };
template <> struct red_acc<TIRK_BF16> { typedef double type; };
template <> struct red_acc<TIRK_F32> { typedef double type; };
template <> struct red_acc<TIRK_F64> { typedef double type; };

/* The accumulator written to out (dtype odt): mean divides in f64 (0/0 is
 * NaN), floats store from f64, integers from int64 (wrapping). */
__device__ __forceinline__ void red_store(int op, int odt, void *out, int64_t off, double acc, int64_t count) {
  if (op == TIRK_RED_MEAN) acc = count == 0 ? (double)NAN : acc / (double)count;
  ops_st_f64(odt, out, off, acc);
}
__device__ __forceinline__ void red_store(int op, int odt, void *out, int64_t off, int64_t acc, int64_t count) {
  if (op == TIRK_RED_MEAN) ops_st_f64(odt, out, off, count == 0 ? (double)NAN : (double)acc / (double)count);
  else ops_st_i64(odt, out, off, acc);
}

/* oix: the kept dims (operand 0 out, 1 x); rix: the reduced dims (x). */
template <int DT, int G>
__global__ void reduce_group_kernel(ops_index_t oix, int64_t nout, ops_index_t rix, int64_t count, int op,
                                    int odt, void *out, const void *x) {
  typedef typename red_acc<DT>::type A;
  __shared__ A smem[BLOCK / 32];
  GROUP_SETUP(G);
  for (int64_t g0 = (int64_t)blockIdx.x * (BLOCK / G); g0 < nout; g0 += gstride) {
    int64_t g = g0 + threadIdx.x / G;
    bool live = g < nout;
    int64_t off[2] = {0, 0};
    if (live) ops_offsets<2, uint64_t>(oix, (uint64_t)g, off);
    A acc = red_identity(op, A());
    for (int64_t r = live ? lane : count; r < count; r += G) {
      int64_t xo[1];
      ops_offsets<1, uint64_t>(rix, (uint64_t)r, xo);
      acc = red_combine(op, acc, ops_ld<A>(DT, x, off[1] + xo[0]));
    }
    acc = group_reduce<G>(op, acc, smem);
    if (live && lane == 0) red_store(op, odt, out, off[0], acc, count);
  }
}

/* Reductions over leading dims (x's innermost dim kept): a block takes 32
 * neighbouring outputs, one per lane, so a warp reads 32 neighbouring
 * elements at a time; its 8 warps take every 8th reduced element, and the
 * 8 partial results are combined in a fixed order. */
enum { COL_SLICES = BLOCK / 32 };

template <int DT>
__global__ void reduce_cols_kernel(ops_index_t oix, int64_t nout, ops_index_t rix, int64_t count, int op,
                                   int odt, void *out, const void *x) {
  typedef typename red_acc<DT>::type A;
  __shared__ A part[COL_SLICES][32];
  const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
  for (int64_t t0 = (int64_t)blockIdx.x * 32; t0 < nout; t0 += (int64_t)gridDim.x * 32) {
    int64_t g = t0 + tx;
    bool live = g < nout;
    int64_t off[2] = {0, 0};
    if (live) ops_offsets<2, uint64_t>(oix, (uint64_t)g, off);
    A acc = red_identity(op, A());
    for (int64_t r = live ? ty : count; r < count; r += COL_SLICES) {
      int64_t xo[1];
      ops_offsets<1, uint64_t>(rix, (uint64_t)r, xo);
      acc = red_combine(op, acc, ops_ld<A>(DT, x, off[1] + xo[0]));
    }
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0) {
      for (int k = 1; k < COL_SLICES; k++) acc = red_combine(op, acc, part[k][tx]);
      if (live) red_store(op, odt, out, off[0], acc, count);
    }
    __syncthreads(); /* part is rewritten by the next tile */
  }
}

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

extern "C" tirk_err_t tirk_reduce(int op, const tirk_view_t *x, uint32_t dims_mask, const tirk_view_t *out,
                                  cudaStream_t stream) {
  if (op < 0 || op >= TIRK_RED_COUNT) return tirk_fail(TIRK_ERR_ARGS, "reduce: unknown op %d", op);
  if (!ops_view_ok(x) || !ops_view_ok(out) || out->rank != x->rank)
    return tirk_fail(TIRK_ERR_ARGS, "reduce: invalid views");
  if (x->rank < 32 && (dims_mask >> x->rank) != 0)
    return tirk_fail(TIRK_ERR_ARGS, "reduce: dims mask 0x%x beyond rank %d", dims_mask, x->rank);
  int r = x->rank;
  int64_t kshape[TIRK_MAX_RANK], kx[TIRK_MAX_RANK], ko[TIRK_MAX_RANK], rshape[TIRK_MAX_RANK], rx[TIRK_MAX_RANK];
  int nk = 0, nr = 0;
  int64_t kept_inner = INT64_MAX, red_inner = INT64_MAX; /* smallest strides of x on each side */
  bool empty_dim = false;
  for (int d = 0; d < r; d++) {
    bool red = (dims_mask >> d) & 1u;
    if (out->shape[d] != (red ? 1 : x->shape[d])) return tirk_fail(TIRK_ERR_ARGS, "reduce: output shape");
    if (red) {
      rshape[nr] = x->shape[d], rx[nr++] = x->strides[d];
      if (x->shape[d] == 0) empty_dim = true;
      if (x->shape[d] > 1 && abs64(x->strides[d]) < red_inner) red_inner = abs64(x->strides[d]);
    } else {
      kshape[nk] = x->shape[d], kx[nk] = x->strides[d], ko[nk++] = out->strides[d];
      if (x->shape[d] > 1 && abs64(x->strides[d]) < kept_inner) kept_inner = abs64(x->strides[d]);
    }
  }
  if (op == TIRK_RED_MEAN && !ops_is_float(out->dtype))
    return tirk_fail(TIRK_ERR_ARGS, "mean: the output must be a float");
  if ((op == TIRK_RED_AMAX || op == TIRK_RED_AMIN) && (out->dtype != x->dtype || empty_dim))
    return tirk_fail(TIRK_ERR_ARGS, "amax/amin: output dtype differs or a reduced dim is empty");
  ops_index_t oix, rix;
  const int64_t *ost[2] = {ko, kx}, *rst[1] = {rx};
  int64_t nout = ops_index_build(&oix, 2, nk, kshape, ost);
  int64_t count = ops_index_build(&rix, 1, nr, rshape, rst);
  if (nout == 0) return TIRK_OK;
  /* Outputs laid out along x's innermost dim: the column kernel reads
   * coalesced.  Otherwise a group per output: a warp for short
   * reductions, a block for long ones. */
  if (nout >= 64 && kept_inner < red_inner) {
    unsigned g = ops_blocks(nout, 32);
    OPS_ALL_DTYPES(x->dtype, reduce_cols_kernel<DT><<<g, BLOCK, 0, stream>>>(oix, nout, rix, count, op,
                                                                            out->dtype, out->data, x->data));
  } else if (count <= 1024) {
    unsigned g = ops_blocks(nout, BLOCK / 32);
    OPS_ALL_DTYPES(x->dtype, reduce_group_kernel<DT, 32><<<g, BLOCK, 0, stream>>>(
                                 oix, nout, rix, count, op, out->dtype, out->data, x->data));
  } else {
    unsigned g = ops_blocks(nout, 1);
    OPS_ALL_DTYPES(x->dtype, reduce_group_kernel<DT, BLOCK><<<g, BLOCK, 0, stream>>>(
                                 oix, nout, rix, count, op, out->dtype, out->data, x->data));
  }
  return tirk_check_launch();
}

/* ------------------------------------------------------------ softmax */

/* rowix: every dim but `dim` (operand 0 out, 1 x); a row has n elements
 * xs / os apart.  Three passes over the row (max, sum of exp, write),
 * the second and third mostly from L2. */
template <int DT, int G>
__global__ void softmax_kernel(ops_index_t rowix, int64_t rows, int64_t n, int64_t xs, int64_t os, bool log,
                               void *out, const void *x) {
  typedef typename ops_ct<DT>::type C; /* f32, or f64 for f64 */
  __shared__ double smem[BLOCK / 32];
  GROUP_SETUP(G);
  for (int64_t g0 = (int64_t)blockIdx.x * (BLOCK / G); g0 < rows; g0 += gstride) {
    int64_t g = g0 + threadIdx.x / G;
    bool live = g < rows;
    int64_t off[2] = {0, 0};
    if (live) ops_offsets<2, uint64_t>(rowix, (uint64_t)g, off);
    int64_t end = live ? n : 0;
    double mx = -INFINITY; /* an f32 or f64 value, exact in double */
    for (int64_t i = lane; i < end; i += G) {
      C v = ops_ld<C>(DT, x, off[1] + i * xs);
      mx = red_combine(TIRK_RED_AMAX, mx, (double)v);
    }
    C m = (C)group_reduce<G>(TIRK_RED_AMAX, mx, smem);
    double sum = 0; /* in f64 like the CPU: long rows stay accurate */
    for (int64_t i = lane; i < end; i += G) sum += (double)m_exp_ct(ops_ld<C>(DT, x, off[1] + i * xs) - m);
    sum = group_reduce<G>(TIRK_RED_SUM, sum, smem);
    if (log) {
      C lse = m + (C)::log(sum);
      for (int64_t i = lane; i < end; i += G)
        ops_st(DT, out, off[0] + i * os, (C)(ops_ld<C>(DT, x, off[1] + i * xs) - lse));
    } else {
      C inv = (C)(1.0 / sum);
      for (int64_t i = lane; i < end; i += G)
        ops_st(DT, out, off[0] + i * os, (C)(m_exp_ct(ops_ld<C>(DT, x, off[1] + i * xs) - m) * inv));
    }
  }
}

extern "C" tirk_err_t tirk_softmax(const tirk_view_t *x, int32_t dim, bool log, const tirk_view_t *out,
                                   cudaStream_t stream) {
  if (!ops_view_ok(x) || !ops_view_ok(out) || !ops_same_shape(x, out) || !ops_is_float(x->dtype) ||
      out->dtype != x->dtype)
    return tirk_fail(TIRK_ERR_ARGS, "softmax: needs float input and output of one shape and dtype");
  int r = x->rank > 0 ? x->rank : 1;
  if (dim < 0) dim += r;
  if (dim < 0 || dim >= r) return tirk_fail(TIRK_ERR_ARGS, "softmax: dim out of range");
  if (ops_numel(x) == 0) return TIRK_OK;
  int64_t n = 1, xs = 0, os = 0, shape[TIRK_MAX_RANK];
  for (int d = 0; d < x->rank; d++) shape[d] = x->shape[d];
  if (x->rank > 0) {
    n = x->shape[dim], xs = x->strides[dim], os = out->strides[dim];
    shape[dim] = 1; /* the row dim drops out of the row index space */
  }
  ops_index_t rowix;
  const int64_t *st[2] = {out->strides, x->strides};
  int64_t rows = ops_index_build(&rowix, 2, x->rank, shape, st);
  if (n <= 1024) {
    unsigned g = ops_blocks(rows, BLOCK / 32);
    OPS_FLOAT_DTYPES(x->dtype, softmax_kernel<DT, 32><<<g, BLOCK, 0, stream>>>(rowix, rows, n, xs, os, log,
                                                                               out->data, x->data));
  } else {
    unsigned g = ops_blocks(rows, 1);
    OPS_FLOAT_DTYPES(x->dtype, softmax_kernel<DT, BLOCK><<<g, BLOCK, 0, stream>>>(rowix, rows, n, xs, os, log,
                                                                                  out->data, x->data));
  }
  return tirk_check_launch();
}

/* ------------------------------------------------------------ layer_norm / rms_norm */

/* rowix: the leading dims (0 out, 1 x); inix: the normalized trailing dims
 * (0 out, 1 x, 2 weight, 3 bias; weight/bias broadcast, stride 0 when
 * absent).  Everything in f64 like the CPU: two passes for the mean and
 * the biased variance (rms: mean is 0, so the variance is mean(x^2)). */
template <int DT, int G>
__global__ void norm_kernel(ops_index_t rowix, int64_t rows, ops_index_t inix, int64_t m, double eps, bool rms,
                            void *out, const void *x, int wdt, const void *w, int bdt, const void *b) {
  __shared__ double smem[BLOCK / 32];
  GROUP_SETUP(G);
  for (int64_t g0 = (int64_t)blockIdx.x * (BLOCK / G); g0 < rows; g0 += gstride) {
    int64_t g = g0 + threadIdx.x / G;
    bool live = g < rows;
    int64_t ro[2] = {0, 0};
    if (live) ops_offsets<2, uint64_t>(rowix, (uint64_t)g, ro);
    int64_t end = live ? m : 0;
    double mean = 0;
    if (!rms) {
      double s = 0;
      for (int64_t i = lane; i < end; i += G) {
        int64_t o[2];
        ops_offsets<2, uint64_t>(inix, (uint64_t)i, o);
        s += ops_ld_f64(DT, x, ro[1] + o[1]);
      }
      mean = group_reduce<G>(TIRK_RED_SUM, s, smem) / (double)m;
    }
    double s2 = 0;
    for (int64_t i = lane; i < end; i += G) {
      int64_t o[2];
      ops_offsets<2, uint64_t>(inix, (uint64_t)i, o);
      double d = ops_ld_f64(DT, x, ro[1] + o[1]) - mean;
      s2 += d * d;
    }
    double var = group_reduce<G>(TIRK_RED_SUM, s2, smem) / (double)m;
    double rstd = 1.0 / sqrt(var + eps);
    for (int64_t i = lane; i < end; i += G) {
      int64_t o[4];
      ops_offsets<4, uint64_t>(inix, (uint64_t)i, o);
      double y = (ops_ld_f64(DT, x, ro[1] + o[1]) - mean) * rstd;
      if (w) y *= ops_ld_f64(wdt, w, o[2]);
      if (b) y += ops_ld_f64(bdt, b, o[3]);
      ops_st_f64(DT, out, ro[0] + o[0], y);
    }
  }
}

/* p (may be NULL) right-aligned to the nd trailing dims of x: its strides
 * there (0 where it broadcasts or is absent).  False if it does not fit. */
static bool param_strides(const tirk_view_t *p, const tirk_view_t *x, int nd, int64_t *st) {
  for (int d = 0; d < nd; d++) st[d] = 0;
  if (!p) return true;
  if (!ops_view_ok(p) || !ops_is_float(p->dtype) || p->rank > nd) return false;
  for (int d = 0; d < nd; d++) {
    int pd = d - (nd - p->rank);
    int64_t want = x->shape[x->rank - nd + d];
    if (pd < 0) continue;
    if (p->shape[pd] == want) st[d] = p->strides[pd];
    else if (p->shape[pd] != 1) return false;
  }
  return true;
}

static tirk_err_t run_norm(const tirk_view_t *x, const tirk_view_t *w, const tirk_view_t *b, int nd, double eps,
                           bool rms, const tirk_view_t *out, cudaStream_t stream) {
  if (!ops_view_ok(x) || !ops_view_ok(out) || !ops_same_shape(x, out) || !ops_is_float(x->dtype) ||
      out->dtype != x->dtype || nd < 1 || nd > x->rank)
    return tirk_fail(TIRK_ERR_ARGS, "norm: needs float input and output of one shape and dtype");
  int64_t wst[TIRK_MAX_RANK], bst[TIRK_MAX_RANK];
  if (!param_strides(w, x, nd, wst) || !param_strides(b, x, nd, bst))
    return tirk_fail(TIRK_ERR_ARGS, "norm: weight or bias does not fit the normalized shape");
  if (ops_numel(x) == 0) return TIRK_OK;
  int lead = x->rank - nd;
  ops_index_t rowix, inix;
  const int64_t *rst[2] = {out->strides, x->strides};
  int64_t rows = ops_index_build(&rowix, 2, lead, x->shape, rst);
  const int64_t *ist[4] = {out->strides + lead, x->strides + lead, wst, bst};
  int64_t m = ops_index_build(&inix, 4, nd, x->shape + lead, ist);
  int wdt = w ? w->dtype : TIRK_F32, bdt = b ? b->dtype : TIRK_F32;
  const void *wp = w ? w->data : NULL, *bp = b ? b->data : NULL;
  if (m <= 1024) {
    unsigned g = ops_blocks(rows, BLOCK / 32);
    OPS_FLOAT_DTYPES(x->dtype, norm_kernel<DT, 32><<<g, BLOCK, 0, stream>>>(rowix, rows, inix, m, eps, rms,
                                                                            out->data, x->data, wdt, wp, bdt, bp));
  } else {
    unsigned g = ops_blocks(rows, 1);
    OPS_FLOAT_DTYPES(x->dtype, norm_kernel<DT, BLOCK><<<g, BLOCK, 0, stream>>>(
                                   rowix, rows, inix, m, eps, rms, out->data, x->data, wdt, wp, bdt, bp));
  }
  return tirk_check_launch();
}

extern "C" tirk_err_t tirk_layer_norm(const tirk_view_t *x, const tirk_view_t *weight, const tirk_view_t *bias,
                                      int32_t ndims, double eps, const tirk_view_t *out, cudaStream_t stream) {
  return run_norm(x, weight, bias, ndims, eps, false, out, stream);
}

extern "C" tirk_err_t tirk_rms_norm(const tirk_view_t *x, const tirk_view_t *weight, double eps,
                                    const tirk_view_t *out, cudaStream_t stream) {
  if (!ops_view_ok(x)) return tirk_fail(TIRK_ERR_ARGS, "rms_norm: invalid input");
  int nd = weight ? weight->rank : 1;
  /* The weight's shape is the normalized shape itself (no broadcasting). */
  bool ok = nd >= 1 && nd <= x->rank;
  for (int d = 0; ok && weight && d < nd; d++) ok = weight->shape[d] == x->shape[x->rank - nd + d];
  if (!ok) return tirk_fail(TIRK_ERR_ARGS, "rms_norm: the weight is not the trailing shape of the input");
  if (eps < 0) { /* torch's default: the input dtype's machine epsilon */
    switch (x->dtype) {
    case TIRK_F16: eps = 0.0009765625; break;
    case TIRK_BF16: eps = 0.0078125; break;
    case TIRK_F32: eps = FLT_EPSILON; break;
    default: eps = DBL_EPSILON; break;
    }
  }
  return run_norm(x, weight, NULL, nd, eps, true, out, stream);
}

/* ------------------------------------------------------------ integer matmul */

/* One thread per output element; bix: the batch dims (0 out, 1 a, 2 b). */
template <int DT, typename I>
__global__ void matmul_int_kernel(ops_index_t bix, I n, I M, I N, int64_t K, void *out, int64_t ors, int64_t ocs,
                                  const void *a, int64_t ars, int64_t acs, const void *b, int64_t brs,
                                  int64_t bcs) {
  OPS_GRID_LOOP(I, i, n) {
    I t = i / N, j = i - t * N, bt = t / M, r = t - bt * M;
    int64_t off[3];
    ops_offsets<3, I>(bix, bt, off);
    const int64_t pa = off[1] + (int64_t)r * ars, pb = off[2] + (int64_t)j * bcs;
    uint64_t acc = 0; /* wraps like the CPU's int64 loop */
    for (int64_t k = 0; k < K; k++)
      acc += (uint64_t)ops_ld_i64(DT, a, pa + k * acs) * (uint64_t)ops_ld_i64(DT, b, pb + k * brs);
    ops_st_i64(DT, out, off[0] + (int64_t)r * ors + (int64_t)j * ocs, ops_wrap64(acc));
  }
}

extern "C" tirk_err_t tirk_matmul_int(const tirk_view_t *a, const tirk_view_t *b, const tirk_view_t *out,
                                      cudaStream_t stream) {
  if (!ops_view_ok(a) || !ops_view_ok(b) || !ops_view_ok(out))
    return tirk_fail(TIRK_ERR_ARGS, "matmul_int: invalid views");
  if (a->dtype != b->dtype || a->dtype != out->dtype) return tirk_fail(TIRK_ERR_ARGS, "matmul_int: dtypes differ");
  if (!ops_is_int(a->dtype) || a->dtype == TIRK_BOOL)
    return tirk_fail(TIRK_ERR_UNSUPPORTED, "matmul_int: dtype %d is not an integer dtype", a->dtype);
  tirk_view_t a2 = *a, o2 = *out;
  if (a->rank == 1 && out->rank == 1) { /* a vector times a matrix: one row */
    a2.rank = o2.rank = 2;
    a2.shape[1] = a->shape[0], a2.strides[1] = a->strides[0], a2.shape[0] = 1, a2.strides[0] = 0;
    o2.shape[1] = out->shape[0], o2.strides[1] = out->strides[0], o2.shape[0] = 1, o2.strides[0] = 0;
  }
  int R = o2.rank, nb = R - 2;
  if (a2.rank < 2 || b->rank < 2 || R < a2.rank || R < b->rank)
    return tirk_fail(TIRK_ERR_ARGS, "matmul_int: needs rank >= 2 operands");
  int64_t M = a2.shape[a2.rank - 2], K = a2.shape[a2.rank - 1], N = b->shape[b->rank - 1];
  if (b->shape[b->rank - 2] != K || o2.shape[R - 2] != M || o2.shape[R - 1] != N)
    return tirk_fail(TIRK_ERR_ARGS, "matmul_int: matrix shapes do not fit");
  int64_t ast[TIRK_MAX_RANK], bst[TIRK_MAX_RANK];
  for (int d = 0; d < nb; d++) { /* batch dims right-aligned; size 1 or missing repeats */
    int da = d - (R - a2.rank), db = d - (R - b->rank);
    int64_t ea = da >= 0 ? a2.shape[da] : 1, eb = db >= 0 ? b->shape[db] : 1;
    if ((ea != 1 && ea != o2.shape[d]) || (eb != 1 && eb != o2.shape[d]))
      return tirk_fail(TIRK_ERR_ARGS, "matmul_int: batch dims do not broadcast");
    ast[d] = ea == 1 ? 0 : a2.strides[da];
    bst[d] = eb == 1 ? 0 : b->strides[db];
  }
  int64_t n = ops_numel(&o2);
  if (n == 0) return TIRK_OK;
  ops_index_t bix;
  const int64_t *st[3] = {o2.strides, ast, bst};
  ops_index_build(&bix, 3, nb, o2.shape, st);
  unsigned g = ops_blocks(n, OPS_THREADS);
  OPS_INT_DTYPES(a->dtype, OPS_BY_INDEX(n, matmul_int_kernel<DT, I><<<g, OPS_THREADS, 0, stream>>>(
                                               bix, (I)n, (I)M, (I)N, K, o2.data, o2.strides[R - 2],
                                               o2.strides[R - 1], a2.data, a2.strides[a2.rank - 2],
                                               a2.strides[a2.rank - 1], b->data, b->strides[b->rank - 2],
                                               b->strides[b->rank - 1])));
  return tirk_check_launch();
}
