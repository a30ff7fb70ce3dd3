/* cpu_misc.c — the remaining CPU kernels: arange and fill (sources), tri
 * (tril/triu), embedding (row gather with checked indices) and concat.
 * They move elements without arithmetic, so most of them copy bytes
 * through views (tirrt_cpu_copy with equal dtypes is a byte copy). */
#include <inttypes.h>
#include <string.h>

#include "internal.h"
#include "tirrt_cpu.h"

enum { BLOCK = 512 };

tirrt_status_t tirrt_cpu_arange(int64_t start, int64_t step, const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(out, "arange", "the output"))) return s;
  if (out->rank != 1)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "arange: the output has rank %d, not 1",
                             (int)out->rank);
  int64_t n = out->shape[0], st = out->strides[0] * (int64_t)tirrt_dtype_size(out->dtype);
  int64_t buf[BLOCK];
  for (int64_t j = 0; j < n; j += BLOCK) {
    int64_t m = n - j < BLOCK ? n - j : BLOCK;
    /* start + i * step in int64 (wrapping, through unsigned), then
     * converted once to the output dtype. */
    for (int64_t i = 0; i < m; i++) {
      uint64_t u = (uint64_t)start + (uint64_t)(j + i) * (uint64_t)step;
      buf[i] = u <= (uint64_t)INT64_MAX ? (int64_t)u
                                        : (int64_t)(u - (uint64_t)INT64_MAX - 1u) + INT64_MIN;
    }
    tirrt_store_i64(out->dtype, (char *)out->data + j * st, st, m, buf);
  }
  return NULL;
}

tirrt_status_t tirrt_cpu_fill(double value, const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(out, "fill", "the output"))) return s;
  /* The value converted once, then broadcast by the copy. */
  uint64_t storage;
  tirrt_view_t v = tirrt_view_scalar(out->dtype, value, &storage);
  return tirrt_cpu_copy(&v, out);
}

/* ------------------------------------------------------------ tri */

tirrt_status_t tirrt_cpu_tri(const tirrt_view_t *x, int64_t diagonal, bool upper,
                             const tirrt_view_t *out) {
  const char *name = upper ? "triu" : "tril";
  tirrt_status_t s;
  if ((s = tirrt_view_check(x, name, "the input")) || (s = tirrt_view_check(out, name, "the output")))
    return s;
  if (x->rank < 2 || x->dtype != out->dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: needs a rank >= 2 input of the output's dtype",
                             name);
  tirrt_view_t xb;
  if ((s = tirrt_view_broadcast_to(x, out->rank, out->shape, &xb)) || out->rank != x->rank) {
    tirrt_status_free(s);
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "%s: input and output shapes differ", name);
  }
  if (tirrt_view_numel(out) == 0) return NULL;
  int32_t r = out->rank;
  int64_t rows = out->shape[r - 2], cols = out->shape[r - 1];
  size_t es = tirrt_dtype_size(out->dtype);
  int64_t xr = xb.strides[r - 2] * (int64_t)es, xc = xb.strides[r - 1] * (int64_t)es;
  int64_t orr = out->strides[r - 2] * (int64_t)es, oc = out->strides[r - 1] * (int64_t)es;
  /* Iterate the batch dims; each matrix is walked here. */
  tirrt_view_t ob = *out;
  ob.rank = xb.rank = r - 2;
  const tirrt_view_t *vs[2] = {&ob, &xb};
  tirrt_iter_t it;
  tirrt_iter_init(&it, 2, vs);
  do {
    for (int64_t b = 0; b < it.n; b++) {
      char *po = it.ptr[0] + b * it.step[0];
      const char *px = it.ptr[1] + b * it.step[1];
      for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < cols; j++) {
          /* j - i cannot overflow: both are in [0, 2^63). Comparing with
           * any diagonal is exact. */
          int64_t d = j - i;
          bool keep = upper ? d >= diagonal : d <= diagonal;
          char *o = po + i * orr + j * oc;
          if (keep) memcpy(o, px + i * xr + j * xc, es);
          else memset(o, 0, es); /* zero bits are 0 (+0.0) in every dtype */
        }
      }
    }
  } while (tirrt_iter_next(&it));
  return NULL;
}

/* ------------------------------------------------------------ embedding */

tirrt_status_t tirrt_cpu_embedding(const tirrt_view_t *weight, const tirrt_view_t *indices,
                                   const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(weight, "embedding", "the weight")) ||
      (s = tirrt_view_check(indices, "embedding", "the indices")) ||
      (s = tirrt_view_check(out, "embedding", "the output")))
    return s;
  switch (indices->dtype) {
  case TIRRT_DTYPE_I8: case TIRRT_DTYPE_I16: case TIRRT_DTYPE_I32: case TIRRT_DTYPE_I64:
  case TIRRT_DTYPE_U8: break;
  default:
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "embedding: indices of dtype %s",
                             tirrt_dtype_name(indices->dtype));
  }
  /* out = indices.shape ++ weight.shape[1:] */
  int32_t ri = indices->rank, rw = weight->rank - 1;
  bool ok = weight->rank >= 1 && out->dtype == weight->dtype && out->rank == ri + rw;
  for (int32_t d = 0; ok && d < ri; d++) ok = out->shape[d] == indices->shape[d];
  for (int32_t d = 0; ok && d < rw; d++) ok = out->shape[ri + d] == weight->shape[1 + d];
  if (!ok) {
    char a[TIRRT_SHAPE_STR_MAX], b[TIRRT_SHAPE_STR_MAX], c[TIRRT_SHAPE_STR_MAX];
    tirrt_format_shape(weight->shape, weight->rank, a, sizeof a);
    tirrt_format_shape(indices->shape, indices->rank, b, sizeof b);
    tirrt_format_shape(out->shape, out->rank, c, sizeof c);
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "embedding: weight %s %s, indices %s and output %s %s do not fit", a,
                             tirrt_dtype_name(weight->dtype), b, c, tirrt_dtype_name(out->dtype));
  }
  if (tirrt_view_numel(out) == 0 && tirrt_view_numel(indices) == 0) return NULL;
  int64_t V = weight->shape[0];
  size_t es = tirrt_dtype_size(weight->dtype);
  /* The leading part of out walks with the indices; a row is the rest. */
  tirrt_view_t lead = *out, src_row, dst_row;
  lead.rank = ri;
  memset(&src_row, 0, sizeof src_row);
  memset(&dst_row, 0, sizeof dst_row);
  src_row.dtype = dst_row.dtype = weight->dtype;
  src_row.rank = dst_row.rank = rw;
  for (int32_t d = 0; d < rw; d++) {
    src_row.shape[d] = dst_row.shape[d] = weight->shape[1 + d];
    src_row.strides[d] = weight->strides[1 + d];
    dst_row.strides[d] = out->strides[ri + d];
  }
  const tirrt_view_t *vs[2] = {indices, &lead};
  tirrt_iter_t it;
  tirrt_iter_init(&it, 2, vs);
  do {
    for (int64_t i = 0; i < it.n; i++) {
      int64_t idx;
      tirrt_load_i64(indices->dtype, it.ptr[0] + i * it.step[0], 0, 1, &idx);
      if (idx < 0 || idx >= V)
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "embedding: index %" PRId64 " out of range [0, %" PRId64 ")", idx, V);
      if (tirrt_view_numel(&dst_row) == 0) continue;
      src_row.data = (char *)weight->data + idx * weight->strides[0] * (int64_t)es;
      dst_row.data = it.ptr[1] + i * it.step[1];
      if ((s = tirrt_cpu_copy(&src_row, &dst_row))) return s;
    }
  } while (tirrt_iter_next(&it));
  return NULL;
}

/* ------------------------------------------------------------ concat */

tirrt_status_t tirrt_cpu_concat(int32_t n, const tirrt_view_t *inputs, int32_t dim,
                                const tirrt_view_t *out) {
  tirrt_status_t s;
  if ((s = tirrt_view_check(out, "concat", "the output"))) return s;
  int32_t r = out->rank;
  if (dim < 0) dim += r;
  if (r == 0 || dim < 0 || dim >= r || n < 0)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "concat: dim out of range for rank %d",
                             (int)r);
  /* Validate everything before writing anything. */
  int64_t total = 0;
  for (int32_t k = 0; k < n; k++) {
    const tirrt_view_t *in = &inputs[k];
    if ((s = tirrt_view_check(in, "concat", "an input"))) return s;
    if (in->rank == 1 && in->shape[0] == 0 && r != 1) continue; /* torch's legacy empty tensor */
    bool ok = in->rank == r && in->dtype == out->dtype;
    for (int32_t d = 0; ok && d < r; d++) ok = d == dim || in->shape[d] == out->shape[d];
    if (!ok) {
      char a[TIRRT_SHAPE_STR_MAX], b[TIRRT_SHAPE_STR_MAX];
      tirrt_format_shape(in->shape, in->rank, a, sizeof a);
      tirrt_format_shape(out->shape, out->rank, b, sizeof b);
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "concat: input %d (%s %s) does not fit output %s %s along dim %d", (int)k,
                               tirrt_dtype_name(in->dtype), a, tirrt_dtype_name(out->dtype), b, (int)dim);
    }
    total += in->shape[dim];
  }
  if (total != out->shape[dim])
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "concat: inputs add up to %" PRId64 " along dim %d, the output has %" PRId64,
                             total, (int)dim, out->shape[dim]);
  int64_t off = 0;
  size_t es = tirrt_dtype_size(out->dtype);
  for (int32_t k = 0; k < n; k++) {
    const tirrt_view_t *in = &inputs[k];
    if (in->rank != r || in->shape[dim] == 0) continue;
    tirrt_view_t dst = *out;
    dst.shape[dim] = in->shape[dim];
    if (tirrt_view_numel(&dst) > 0) {
      dst.data = (char *)out->data + off * out->strides[dim] * (int64_t)es;
      if ((s = tirrt_cpu_copy(in, &dst))) return s;
    }
    off += in->shape[dim];
  }
  return NULL;
}
