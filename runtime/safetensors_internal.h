/* safetensors_internal.h — the parsed .safetensors handle and what its
 * three files share: safetensors_header.c (length and JSON header
 * validation), safetensors.c (reading and lookups), safetensors_write.c
 * (writing).  Private to runtime/. */
#ifndef TIRRT_SAFETENSORS_INTERNAL_H
#define TIRRT_SAFETENSORS_INTERNAL_H

#include <stdint.h>

#include "internal.h"

typedef struct {
  const char *name; /* in the handle's string block */
  tirrt_tensor_desc_t desc;
  uint64_t begin, end; /* relative to the data section */
} st_entry_t;

/* The data size while a stream's header is parsed: not known until the
 * tensors say where they end. */
#define ST_UNKNOWN_SIZE SIZE_MAX

struct tirrt_safetensors_s {
  uint8_t *data;    /* the data section, owned */
  size_t data_size; /* ST_UNKNOWN_SIZE only while parsing a stream's header */
  size_t count;
  st_entry_t *entries;   /* header order */
  st_entry_t **by_name;  /* sorted by name for tirrt_safetensors_find */
  size_t meta_count;
  const char **meta;     /* key, value, key, value, ... */
  char *strings;         /* every name, key and value, NUL-separated */
};

/* The format's dtype names, by tirrt dtype. */
extern const char *const tirrt_st_dtype_names[TIRRT_DTYPE_COUNT];

/* qsort comparison of two `const char *`. */
int tirrt_st_cmp_str(const void *a, const void *b);

/* Checks the 8-byte header length at b (n bytes there, fewer only when the
 * file is that short); `total` is the file's size or ST_UNKNOWN_SIZE. */
tirrt_status_t tirrt_st_parse_length(const uint8_t *b, size_t n, size_t total,
                                     const char *file, uint64_t *out_len);

/* Parses the JSON header (n bytes at h) into f.  f->data_size is the size
 * of the data section, or ST_UNKNOWN_SIZE for a stream (then it becomes
 * where the tensors end). */
tirrt_status_t tirrt_st_parse_header(tirrt_safetensors_t *f, const uint8_t *h,
                                     size_t n, const char *file);

#endif
