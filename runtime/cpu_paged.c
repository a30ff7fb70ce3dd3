/* cpu_paged.c — attention over a paged KV cache on the CPU (paged_sdpa,
 * docs/language.md): for each sequence its keys and values are gathered
 * from the pages into dense [Hk, S_b, E] buffers, and the sequence runs
 * through the CPU sdpa kernel with the op's flags (bottom-right causal,
 * window, softcap, GQA, scale).  So paged_sdpa computes exactly sdpa's
 * function of the gathered cache, by construction; the CPU is the
 * reference the GPU kernel is tested against, not a fast path. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tirrt_cpu.h"

static int64_t ld_i32(const tirrt_view_t *v, int64_t off) {
  int32_t x;
  memcpy(&x, (const char *)v->data + off * 4, 4);
  return x;
}

static tirrt_status_t bad(const char *fmt, long long a, long long b, long long c) {
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, fmt, a, b, c);
}

/* Rows [0, S) of head h of the paged cache c (k or v) for sequence b, dense
 * into dst [S, D]. */
static void gather(const tirrt_view_t *c, const tirrt_view_t *bt, int64_t b, int64_t h, int64_t S,
                   char *dst) {
  size_t es = tirrt_dtype_size(c->dtype);
  int64_t PS = c->shape[2], D = c->shape[3];
  for (int64_t j = 0; j < S; j++) {
    int64_t page = ld_i32(bt, b * bt->strides[0] + (j / PS) * bt->strides[1]);
    const char *row = (const char *)c->data +
                      (page * c->strides[0] + h * c->strides[1] + (j % PS) * c->strides[2]) * (int64_t)es;
    char *o = dst + j * D * (int64_t)es;
    if (c->strides[3] == 1) {
      memcpy(o, row, (size_t)D * es);
    } else {
      for (int64_t e = 0; e < D; e++) memcpy(o + e * (int64_t)es, row + e * c->strides[3] * (int64_t)es, es);
    }
  }
}

tirrt_status_t tirrt_cpu_paged_sdpa(const tirrt_view_t *q, const tirrt_view_t *k_cache,
                                    const tirrt_view_t *v_cache, const tirrt_view_t *block_table,
                                    const tirrt_view_t *kv_lens, const tirrt_sdpa_params_t *params,
                                    const tirrt_view_t *out) {
  if (!q || !k_cache || !v_cache || !block_table || !kv_lens || !params || !out)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "paged_sdpa: NULL argument");
  if (q->rank != 4 || k_cache->rank != 4 || v_cache->rank != 4 || block_table->rank != 2 ||
      kv_lens->rank != 1 || out->rank != 4 || block_table->dtype != TIRRT_DTYPE_I32 ||
      kv_lens->dtype != TIRRT_DTYPE_I32)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "paged_sdpa: bad operand ranks or dtypes");
  int64_t B = q->shape[0], P = k_cache->shape[0], Hk = k_cache->shape[1], PS = k_cache->shape[2];
  int64_t E = k_cache->shape[3], Ev = v_cache->shape[3], NB = block_table->shape[1];
  size_t es = tirrt_dtype_size(k_cache->dtype);
  /* Lengths and pages first: a bad one is bad input, found before any
   * output is written. */
  int64_t max_s = 0;
  for (int64_t b = 0; b < B; b++) {
    int64_t S = ld_i32(kv_lens, b * kv_lens->strides[0]);
    if (S < 0 || (PS > 0 ? S > NB * PS : S > 0))
      return bad("paged_sdpa: kv_lens[%lld] = %lld is outside [0, %lld] (blocks x page size)",
                 (long long)b, (long long)S, (long long)(NB * PS));
    for (int64_t blk = 0; PS > 0 && blk * PS < S; blk++) {
      int64_t page = ld_i32(block_table, b * block_table->strides[0] + blk * block_table->strides[1]);
      if (page < 0 || page >= P)
        return bad("paged_sdpa: block_table[%lld, %lld] = %lld is not a page of the cache",
                   (long long)b, (long long)blk, (long long)page);
    }
    if (S > max_s) max_s = S;
  }
  char *kb = malloc((size_t)(Hk * max_s * E) * es + 1), *vb = malloc((size_t)(Hk * max_s * Ev) * es + 1);
  tirrt_status_t s = kb && vb ? NULL : tirrt_oom_status();
  for (int64_t b = 0; b < B && !s; b++) {
    int64_t S = ld_i32(kv_lens, b * kv_lens->strides[0]);
    for (int64_t h = 0; h < Hk; h++) {
      gather(k_cache, block_table, b, h, S, kb + h * S * E * (int64_t)es);
      gather(v_cache, block_table, b, h, S, vb + h * S * Ev * (int64_t)es);
    }
    /* sequence b as an sdpa of rank 3: [Hq, L, E] x [Hk, S, E] */
    tirrt_view_t qv = *q, ov = *out, kv, vv;
    qv.rank = ov.rank = 3;
    for (int d = 0; d < 3; d++) {
      qv.shape[d] = q->shape[d + 1], qv.strides[d] = q->strides[d + 1];
      ov.shape[d] = out->shape[d + 1], ov.strides[d] = out->strides[d + 1];
    }
    qv.data = (char *)q->data + b * q->strides[0] * (int64_t)es;
    ov.data = (char *)out->data + b * out->strides[0] * (int64_t)tirrt_dtype_size(out->dtype);
    tirrt_tensor_desc_t kd = {.dtype = k_cache->dtype, .rank = 3, .shape = {Hk, S, E}};
    tirrt_tensor_desc_t vd = {.dtype = v_cache->dtype, .rank = 3, .shape = {Hk, S, Ev}};
    kv = tirrt_view_contiguous(&kd, kb);
    vv = tirrt_view_contiguous(&vd, vb);
    s = tirrt_cpu_sdpa(&qv, &kv, &vv, NULL, params, &ov, NULL);
  }
  free(kb);
  free(vb);
  return s;
}
