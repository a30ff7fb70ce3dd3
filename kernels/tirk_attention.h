/* tirk_attention.h — the CUDA attention kernels of tirc (spec §5 `sdpa`):
 * a fused, tiled "mem_efficient" kernel and the cuBLAS-based "math"
 * fallback.  Both compute exactly the function of the CPU kernel
 * tirrt_cpu_sdpa (runtime/cpu_sdpa.c), including its dropout mask.
 *
 * Shapes (batch dims "..." broadcast NumPy-style between q, k and v):
 *   q [..., Hq, L, E], k [..., Hk, S, E], v [..., Hk, S, Ev]
 *   out [..., Hq, L, Ev] (the broadcast batch shape, q's dtype, any strides)
 *   mask NULL, or bool (true = attend) / float (added to the scaled scores)
 *     of any float dtype, broadcastable to [..., Hq, L, S] through its
 *     shape (size-1 or missing dims broadcast; strides of those are ignored).
 *     A float mask value <= -1e30 (<= -65504 for an f16 mask) counts as -inf.
 *   lse NULL or dense row-major f32 [..., Hq, L] (batch dims = out's):
 *     the natural-log logsumexp of each row of scaled+masked scores
 *     (before dropout); -inf for a fully masked row, whose output is 0.
 * Dropout (p > 0) acts on the probabilities: element (b, h, i, j) with
 * row-major index n = ((b * Hq + h) * L + i) * S + j in [..., Hq, L, S]
 * (b = the row-major index in the broadcast batch shape) is kept iff
 * tirrt_dropout_keep(seed, stream, n, p) (Philox-4x32-10, cpu_random.c);
 * kept values are scaled by (float)(1 / (1 - p)).
 * Causal: key j is visible to query i iff j <= i (top-left) or
 * j <= i + S - L (bottom_right).  GQA: query head h reads kv head
 * h / (Hq / Hk); the kv heads are never repeated in memory.
 * Window (window = W > 0, sdpa's window=): key j is visible to query i
 * only if j > i' - W, i' = i (top-left) or i + S - L (bottom_right, the
 * same flag as causal's, which applies with or without is_causal); with
 * is_causal it is sliding-window causal attention.  The mask is not used
 * outside the window (any value there, +inf included, is ignored).  Every
 * kernel skips the key tiles that lie wholly before the window of all of
 * a CTA's rows.  Softcap (softcap = C > 0, sdpa's softcap=): the scaled
 * scores s = scale * q.k become C * tanh(s / C) before the mask is added
 * (tanhf in f32 and tanh in f64 for math and the f32 kernel; the 16-bit
 * fused kernels use a branch-free tanh whose absolute error, about
 * C * 2^-22, is far below their 16-bit rounding of the probabilities).  Causal, window and mask combine by
 * conjunction; a row that sees no key gives 0 and lse -inf.
 *
 * Like every tirk function these never allocate, never synchronize and
 * return TIRK_OK or an error (tirk.h). */
#ifndef TIRK_ATTENTION_H
#define TIRK_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>

#include "tirk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  tirk_view_t q, k, v, out;
  const tirk_view_t *mask; /* NULL, bool or float */
  float *lse;              /* NULL or dense [..., Hq, L] f32 device memory */
  double scale;            /* already resolved (1/sqrt(E) by default); finite */
  double dropout_p;        /* >= 0; >= 1 drops everything */
  int is_causal, bottom_right, enable_gqa;
  int exact_mask; /* a float mask is added as written: only -inf masks */
  uint64_t seed, stream;   /* dropout randomness (see above) */
  int64_t window;          /* 0: none; W > 0: sliding window (see above) */
  double softcap;          /* 0: none; C > 0 (finite): logit soft-capping */
} tirk_sdpa_args_t;

/* FlashAttention-style kernel: one CTA per (batch, query head, tile of
 * query rows) walks the keys in tiles with an online softmax in f32; the
 * L x S scores never reach device memory.  Causal tiles that are fully
 * masked, and tiles before the window, are skipped.
 *  - f16/bf16: tensor cores (mma.sync m16n8k16, f32 accumulation); the
 *    probabilities are rounded to the input dtype before P.V, as in
 *    FlashAttention.  f32: a SIMT kernel with f32 FMAs (no TF32).
 *  - Requires: q, k, v, out of one dtype among f16/bf16/f32; E and Ev
 *    <= 256 (any value 1..256: smaller dims are zero-padded to 32, 64,
 *    128 or 256 in shared memory).  Any strides (including 0 and
 *    transposed layouts) are accepted: when q/k/v have last-dim stride 1,
 *    16-byte aligned data and row/head/batch strides that are multiples of
 *    16 bytes, tiles are copied with cp.async; otherwise with (slower)
 *    element loads.  So the only TIRK_ERR_UNSUPPORTED cases are the dtype
 *    (f64) and head dims > 256.
 * TIRK_ERR_ARGS for inconsistent shapes/dtypes (message in
 * tirk_last_message()). */
tirk_err_t tirk_sdpa_mem_efficient(const tirk_sdpa_args_t *a, cudaStream_t stream);

/* The math fallback: for each batch index, scores = K-major GEMM through
 * cuBLAS (cublasGemmStridedBatchedEx, f32 accumulation; f32 inputs use
 * CUBLAS_COMPUTE_32F_PEDANTIC when the handle allows TF32, so never TF32;
 * f64 in f64) into a workspace, one kernel for scale + softcap + mask +
 * causal + window + softmax + dropout (+ lse) per row, then P.V by a second GEMM written
 * straight into out.  Probabilities are rounded to the input dtype for
 * 16-bit inputs (as PyTorch's math path does).
 *  - Requires: one dtype among f16/bf16/f32/f64 for q, k, v, out; any
 *    head dims; q, k, v and out must each have last-dim stride 1 and a
 *    row stride >= their last dim (cuBLAS leading dimensions), else
 *    TIRK_ERR_UNSUPPORTED (the runtime makes contiguous copies and
 *    retries).  Heads are batched in one cuBLAS call per batch index (per
 *    batch index and kv head with GQA, the kv matrix read with stride 0);
 *    batch dims are looped on the host.
 *  - workspace: tirk_sdpa_math_workspace(a) bytes of device memory
 *    (256-byte aligned), reused for each batch index, so it is
 *    Hq * L * S * (4 or 8, + 2 for 16-bit) bytes, not times the batch.
 * `handle` must be bound to any stream; it is set to `stream` here. */
size_t tirk_sdpa_math_workspace(const tirk_sdpa_args_t *a);
tirk_err_t tirk_sdpa_math(const tirk_sdpa_args_t *a, cublasHandle_t handle, void *workspace,
                          cudaStream_t stream);

/* The flash kernel (spec §7): f16/bf16 q, k, v, out of one dtype; head
 * dims <= 256; dropout, GQA, causal both alignments and lse as above; and
 * a key mask: a mask whose query axis (the second-last dim) is 1, absent
 * or of stride 0 (a broadcast view), such as HF's [B, 1, 1, S] padding
 * mask, [1, 1, S] or [B, Hq, 1, S]; bool or any float
 * dtype (an f32 mask with f16 q is fine), any strides, the thresholds
 * above.  With is_causal too, key j is visible to row i iff both the
 * causal rule and the mask allow it (a float mask is added).  It picks,
 * per call:
 *  - split-KV decoding when few query rows share each key/value head
 *    (L * Hq/Hk <= 8) and S >= 256: keys split over enough CTAs to fill
 *    the GPU, partial results merged by a second kernel through
 *    `workspace` (tirk_sdpa_flash_workspace(a) bytes; NULL is allowed when
 *    that is 0).  Needs E == Ev, a multiple of 8, and 16-byte tile loads;
 *  - on compute capability 9.0, the Hopper kernel (wgmma + TMA, warp
 *    specialized) when E == Ev (multiple of 8) and q/k/v have last-dim
 *    stride 1, 16-byte aligned rows and batch dims that merge into one;
 *  - otherwise the mma.sync kernel of tirk_sdpa_mem_efficient (the sm_80
 *    path), which takes any strides and head dims.
 * Each path takes key masks (the Hopper kernel stages each key tile's mask
 * in shared memory and adds it to the scores; split-KV loads it with the
 * keys, but only a mask shared by all heads — [B, Hq, 1, S] ones go to the
 * other paths; the mma.sync kernel takes any mask), and window and softcap:
 * the Hopper kernel starts its TMA loads at the first tile of the CTA's
 * window and soft-caps with a branch-free tanh of about 2^-22 error;
 * split-KV splits only the keys from row 0's window start.
 * TIRK_ERR_UNSUPPORTED for other dtypes, a mask that varies along the
 * query axis, or head dims > 256. */
size_t tirk_sdpa_flash_workspace(const tirk_sdpa_args_t *a);
tirk_err_t tirk_sdpa_flash(const tirk_sdpa_args_t *a, void *workspace, cudaStream_t stream);
/* Test hook: 0 = automatic; 1 = the Hopper kernel only, 2 = split-KV only
 * (for any L * Hq/Hk <= 64 and any S), 3 = the mma.sync kernel only; a
 * forced path that cannot take the problem returns TIRK_ERR_UNSUPPORTED.
 * Process-wide, not thread-safe. */
void tirk_sdpa_flash_set_path(int path);
/* Benchmark hook for the Hopper kernel's tiling: 0 automatic, 1 two
 * consumer warpgroups, 2 the same with ping-pong, 3 three (head dims <= 64
 * only; otherwise like 0).  Process-wide, not thread-safe. */
void tirk_sdpa_flash_set_config(int config);

/* Tuning hook for benchmarks (not for the runtime): 0 = automatic tile
 * choice; for 16-bit inputs 1 = 64-row CTAs (one 16-row tile per warp),
 * 2 = 128-row CTAs (two per warp, head dims <= 128).  Process-wide, not
 * thread-safe. */
void tirk_sdpa_set_config(int config);

/* Attention over a paged KV cache (paged_sdpa, docs/language.md; the
 * function of tirrt_cpu_paged_sdpa): q [B, Hq, L, E], k_cache [P, Hk, PS,
 * E], v_cache [P, Hk, PS, Ev], block_table i32[B, NB], kv_lens i32[B],
 * out [B, Hq, L, Ev]; any strides.  Key j of sequence b is row j % PS of
 * page block_table[b, j / PS], j < kv_lens[b]; the query rows are the last
 * L positions (causal and window bottom-right).  f16, bf16 or f32, head
 * dims up to 256, Hq a multiple of Hk.  The split-KV decode kernel reads
 * the pages in place.  *verdict (device memory) gets INT64_MAX when every
 * length is in [0, NB * PS] and every page id a sequence uses is in
 * [0, P), else the smallest code b * (NB + 1) (kv_lens[b] bad) or
 * b * (NB + 1) + 1 + blk (block_table[b, blk] bad); the kernel never
 * reads outside the cache either way (a bad sequence has no keys).
 * workspace: tirk_sdpa_paged_workspace(a) bytes. */
typedef struct {
  tirk_view_t q, k_cache, v_cache, block_table, kv_lens, out;
  double scale;   /* resolved */
  int is_causal;  /* bottom-right */
  int64_t window; /* 0 none */
  double softcap; /* 0 none */
} tirk_paged_args_t;
size_t tirk_sdpa_paged_workspace(const tirk_paged_args_t *a);
tirk_err_t tirk_sdpa_paged(const tirk_paged_args_t *a, void *workspace, int64_t *verdict,
                           cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* TIRK_ATTENTION_H */
