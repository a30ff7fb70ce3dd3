/* dtype.c — element types and tensor descriptions: names, sizes, and the
 * one overflow-checked size computation every reader and writer uses. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "tir_dtype.h"

/* The runtime's dtype numbers (public, in tirrt.h) are the common table's. */
#define CHECK_ROW(E, sp, n, k) \
  _Static_assert((int)TIRRT_DTYPE_##E == TIR_DT_##E, "tirrt_dtype_t differs from tir_dtype.h");
TIR_DTYPE_ROWS(CHECK_ROW)
#undef CHECK_ROW
_Static_assert((int)TIRRT_DTYPE_COUNT == TIR_DT_COUNT, "tirrt_dtype_t differs from tir_dtype.h");

static const struct {
  const char *name;
  size_t size;
} dtype_info[TIRRT_DTYPE_COUNT] = {
#define ROW(E, sp, n, k) [TIRRT_DTYPE_##E] = {#sp, n},
    TIR_DTYPE_ROWS(ROW)
#undef ROW
};

static int dtype_ok(tirrt_dtype_t t) {
  /* Compare as unsigned: an enum may be signed, and garbage may be negative. */
  return (unsigned)t < (unsigned)TIRRT_DTYPE_COUNT;
}

const char *tirrt_dtype_name(tirrt_dtype_t dtype) {
  return dtype_ok(dtype) ? dtype_info[dtype].name : "?";
}

size_t tirrt_dtype_size(tirrt_dtype_t dtype) {
  return dtype_ok(dtype) ? dtype_info[dtype].size : 0;
}

tirrt_status_t tirrt_dtype_from_name(const char *name,
                                     tirrt_dtype_t *out_dtype) {
  if (!name || !out_dtype)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_dtype_from_name: NULL argument");
  for (int t = 0; t < TIRRT_DTYPE_COUNT; t++) {
    if (strcmp(name, dtype_info[t].name) == 0) {
      *out_dtype = (tirrt_dtype_t)t;
      return NULL;
    }
  }
  char q[TIRRT_QUOTE_MAX];
  return tirrt_make_status(TIRRT_STATUS_NOT_FOUND, "unknown dtype '%s'",
                           tirrt_quote(name, strlen(name), q));
}

tirrt_status_t tirrt_tensor_desc_check(const tirrt_tensor_desc_t *desc,
                                       int64_t *out_numel, size_t *out_nbytes) {
  if (!desc)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tensor description is NULL");
  if (!dtype_ok(desc->dtype))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "invalid dtype value %d", (int)desc->dtype);
  if (desc->rank < 0 || desc->rank > TIRRT_MAX_RANK)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "rank %" PRId32 " is outside [0, %d]", desc->rank,
                             TIRRT_MAX_RANK);
  /* `extent` multiplies the non-zero dims: a zero dim makes the tensor empty
   * but strides are still products of the other dims and must not overflow. */
  int64_t numel = 1, extent = 1;
  char shape[TIRRT_SHAPE_STR_MAX];
  for (int i = 0; i < desc->rank; i++) {
    int64_t d = desc->shape[i];
    if (d < 0) {
      tirrt_format_shape(desc->shape, desc->rank, shape, sizeof shape);
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "shape %s has a negative dimension", shape);
    }
    if (d == 0) {
      numel = 0;
      continue;
    }
    if (!tirrt_mul_nonneg(extent, d, &extent)) goto overflow;
  }
  int64_t bytes_extent;
  if (!tirrt_mul_nonneg(extent, (int64_t)dtype_info[desc->dtype].size,
                        &bytes_extent) ||
      (uint64_t)bytes_extent > (uint64_t)SIZE_MAX)
    goto overflow;
  if (numel != 0) numel = extent;
  if (out_numel) *out_numel = numel;
  if (out_nbytes) *out_nbytes = (size_t)numel * dtype_info[desc->dtype].size;
  return NULL;
overflow:
  tirrt_format_shape(desc->shape, desc->rank, shape, sizeof shape);
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                           "shape %s of %s is too large: its size in bytes "
                           "overflows int64",
                           shape, dtype_info[desc->dtype].name);
}

int tirrt_tensor_desc_format(const tirrt_tensor_desc_t *desc, char *buf,
                             size_t size) {
  char shape[TIRRT_SHAPE_STR_MAX];
  int rank = desc->rank < 0 ? 0
             : desc->rank > TIRRT_MAX_RANK ? TIRRT_MAX_RANK
                                           : (int)desc->rank;
  tirrt_format_shape(desc->shape, rank, shape, sizeof shape);
  return snprintf(buf, size, "%s%s", tirrt_dtype_name(desc->dtype), shape);
}
