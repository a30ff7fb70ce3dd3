/* attention_internal.cuh — what the attention kernel files share
 * (attention.cu (math fallback, prep) and attention_mem_efficient.cu (mem_efficient); flash.cu: the flash dispatcher and
 * split-KV decoding; flash_sm90.cu: the Hopper wgmma kernel): the problem
 * description every kernel takes by value, its validation, and the device
 * helpers (Philox dropout, masks, 16-bit packing, mma.sync, cp.async). */
#ifndef TIRK_ATTENTION_INTERNAL_CUH
#define TIRK_ATTENTION_INTERNAL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

#include "tirk.h"
#include "tirk_attention.h"
#include "tirk_internal.h"

/* ------------------------------------------------------------ the problem */

enum { A_Q, A_K, A_V, A_M, A_O, A_N };
enum { MK_NONE, MK_BOOL, MK_FLOAT };

/* Everything a kernel needs, passed by value (about 1 KB of parameters).
 * Every tensor's strides are expressed over one index space: broadcast
 * batch dims, head, row, column; broadcast dims have stride 0. */
typedef struct {
  int nbd;
  int64_t bshape[TIRK_MAX_RANK];
  int64_t bstride[A_N][TIRK_MAX_RANK];
  int64_t hs[A_N], rs[A_N], cs[A_N];
  int64_t nbatch, Hq, Hk, G, L, S, E, Ev;
  const void *ptr[A_N];
  float *lse;
  int dtype, mdtype, mask_kind;
  double mthresh;        /* a float mask value <= this is masked */
  float scale, scale_log2; /* scale, scale * log2(e) */
  double scale_d;
  int dropout;           /* p > 0 */
  uint32_t pthresh;      /* keep iff (w >> 8) >= pthresh = ceil(p * 2^24) */
  float dscale;          /* (float)(1 / (1 - p)), 0 for p >= 1 */
  double dscale_d;
  int causal;
  int64_t causal_off;    /* key j visible to row i iff j <= i + causal_off */
  int64_t window;        /* > 0: and only iff j > i + causal_off - window */
  float softcap;         /* > 0: scaled scores s become softcap * tanh(s / softcap) */
  float cap_k;           /* -2 * log2(e) / softcap (capped_fast) */
  double softcap_d;      /* the same in f64 (the math kernel's f64 rows) */
  uint64_t seed, stream;
  int fast;              /* q, k, v tiles can be copied 16 bytes at a time */
} prob_t;

/* Validates the arguments (the same rules as tirrt_cpu_sdpa) and fills c.
 * *empty is 1 when there is nothing to compute, 2 when only lse must be
 * written (Ev = 0).  Defined in attention.cu. */
tirk_err_t tirk_sdpa_prep(const tirk_sdpa_args_t *a, prob_t *c, int *empty);
/* Writes the outputs of an empty problem (lse = -inf when Ev = 0). */
tirk_err_t tirk_sdpa_finish_empty(const prob_t &p, int empty, cudaStream_t st);

/* ------------------------------------------------------------ device helpers */

#define LOG2E_F 1.4426950408889634f
#define LN2_F 0.6931471805599453f

/* Offsets of each tensor's (batch b) element (0, 0, 0) in elements. */
static __device__ __forceinline__ void batch_offsets(const prob_t &p, int64_t b, int64_t off[A_N]) {
  for (int t = 0; t < A_N; t++) off[t] = 0;
  for (int d = p.nbd - 1; d >= 0; d--) {
    int64_t n = p.bshape[d], i = b % n;
    b /= n;
    for (int t = 0; t < A_N; t++) off[t] += i * p.bstride[t][d];
  }
}

/* Philox-4x32-10 exactly as tirrt_philox4x32 (cpu_random.c). */
static __device__ __forceinline__ uint4 philox(uint64_t seed, uint64_t hi, uint64_t lo) {
  uint32_t c0 = (uint32_t)lo, c1 = (uint32_t)(lo >> 32), c2 = (uint32_t)hi, c3 = (uint32_t)(hi >> 32);
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return make_uint4(c0, c1, c2, c3);
}
static __device__ __forceinline__ uint32_t pick(uint4 w, unsigned i) {
  return i == 0 ? w.x : i == 1 ? w.y : i == 2 ? w.z : w.w;
}
/* tirrt_dropout_keep for the element of row-major index n. */
static __device__ __forceinline__ bool keep_one(const prob_t &p, uint64_t n) {
  uint4 w = philox(p.seed, p.stream, n >> 2);
  return (pick(w, (unsigned)(n & 3)) >> 8) >= p.pthresh;
}
/* The same for n and n + 1, one Philox call when they share a block. */
static __device__ __forceinline__ void keep_two(const prob_t &p, uint64_t n, bool *k0, bool *k1) {
  uint4 w = philox(p.seed, p.stream, n >> 2);
  *k0 = (pick(w, (unsigned)(n & 3)) >> 8) >= p.pthresh;
  if ((n & 3) != 3) {
    *k1 = (pick(w, (unsigned)((n + 1) & 3)) >> 8) >= p.pthresh;
  } else {
    *k1 = keep_one(p, n + 1);
  }
}

static __device__ __forceinline__ double load_d(const void *base, int dt, int64_t off) {
  switch (dt) {
    case TIRK_BOOL: return ((const unsigned char *)base)[off] ? 1.0 : 0.0;
    case TIRK_F16: return __half2float(((const __half *)base)[off]);
    case TIRK_BF16: return __bfloat162float(((const __nv_bfloat16 *)base)[off]);
    case TIRK_F32: return ((const float *)base)[off];
    default: return ((const double *)base)[off];
  }
}
/* The additive mask value of element (h, i, j) given the batch offset:
 * -inf when masked.  Compared in double so that the -1e30 rule is exact. */
static __device__ __forceinline__ double mask_d(const prob_t &p, int64_t moff, int64_t h, int64_t i, int64_t j) {
  double v = load_d(p.ptr[A_M], p.mdtype, moff + h * p.hs[A_M] + i * p.rs[A_M] + j * p.cs[A_M]);
  if (p.mask_kind == MK_BOOL) return v != 0 ? 0.0 : -INFINITY;
  return v <= p.mthresh ? -INFINITY : v;
}

/* The first key a query row may see: keys before row i's window start
 * i + causal_off - window + 1 are invisible (0 without a window).  A CTA
 * whose first row is i0 skips the key tiles wholly before win_lo(p, i0),
 * the smallest start among its rows. */
static __host__ __device__ __forceinline__ int64_t win_lo(const prob_t &p, int64_t i) {
  if (p.window <= 0) return 0;
  const int64_t lo = i + p.causal_off - p.window + 1;
  return lo > 0 ? lo : 0;
}
/* The same test as a difference, for inner loops: key j is before row i's
 * window iff j - i <= win_d(p) (never without a window).  One CTA-wide
 * constant, so the rows' window starts take no registers. */
static __host__ __device__ __forceinline__ int64_t win_d(const prob_t &p) {
  return p.window > 0 ? p.causal_off - p.window : -((int64_t)1 << 62);
}
/* The scaled score x = s * scale, soft-capped when softcap > 0 (in the
 * natural domain, before any mask; the CPU kernel's order).  tanhf, not
 * tanh.approx: its 2^-11 relative error would move a capped logit of 50
 * by 0.025, far beyond the 16-bit tolerances. */
static __device__ __forceinline__ float capped(const prob_t &p, float x) {
  return p.softcap > 0.f ? p.softcap * tanhf(x / p.softcap) : x;
}

/* The same without tanhf's branches and polynomial, for the 16-bit
 * kernels (the Hopper softmax already runs near the MUFU's limit; inlined
 * tanhf made the mma.sync and split-KV kernels spill):
 * tanh|y| = (1 - e) / (1 + e), e = exp(-2|y|), one ex2 and one fast
 * division.  What the softmax sees is the logit's absolute error, here
 * about softcap * 2^-22 (as tanhf's near saturation; near 0 the relative
 * error grows but not the absolute one), far below the 16-bit roundings of
 * P.  ex2.approx (2^-22) rather than tanh.approx (2^-11).  The f32 and f64
 * kernels keep tanhf / tanh (capped), whose bound is f32's. */
static __device__ __forceinline__ float capped_fast(const prob_t &p, float x) {
  const float e = exp2f(fabsf(x) * p.cap_k);
  return copysignf(p.softcap * __fdividef(1.f - e, 1.f + e), x);
}

template <typename T> static __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }

/* Two floats as one 32-bit register of 16-bit values (lo in the low half). */
template <typename T> static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t r;
  if constexpr (std::is_same<T, __half>::value) {
    __half2 h = __floats2half2_rn(lo, hi);
    memcpy(&r, &h, 4);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    memcpy(&r, &h, 4);
  }
  return r;
}

/* c += a * b on a 16x8x16 tile, f32 accumulators. */
template <typename T>
static __device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same<T, __half>::value) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

static __device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *p) {
  unsigned a = (unsigned)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
static __device__ __forceinline__ void ldsm_x4_t(uint32_t r[4], const void *p) {
  unsigned a = (unsigned)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
/* 16-byte asynchronous copy; src_bytes = 0 zero-fills (ragged tiles). */
static __device__ __forceinline__ void cp_async16(void *dst, const void *src, int src_bytes) {
  unsigned a = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(src), "r"(src_bytes));
}
static __device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> static __device__ __forceinline__ void cp_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

/* The Hopper flash kernel (flash_sm90.cu, built for sm_90a): f16/bf16, no
 * mask or a key mask (p.rs[A_M] == 0), E == Ev <= 256 (multiple of 8), q/k/v layouts a TMA map can
 * describe (last-dim stride 1, 16-byte aligned, batch dims that merge into
 * one).  TIRK_ERR_UNSUPPORTED otherwise.  Call only on a 9.0 device. */
tirk_err_t tirk_flash_sm90(const prob_t &p, cudaStream_t st);

#endif /* TIRK_ATTENTION_INTERNAL_CUH */
