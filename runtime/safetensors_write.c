/* safetensors_write.c — the .safetensors writer: builds the JSON header
 * (tensors in the order given, data offsets packed, names escaped) and
 * writes it with the tensors' bytes to a file or a memory image. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_internal.h"


/* A growable string; `failed` records an allocation failure so callers can
 * append freely and check once. */
typedef struct {
  char *p;
  size_t len, cap;
  bool failed;
} st_buf_t;

static void st_put(st_buf_t *sb, const char *s, size_t n) {
  if (sb->failed) return;
  if (sb->len + n + 1 > sb->cap) {
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + n + 1) cap *= 2;
    char *p = realloc(sb->p, cap);
    if (!p) {
      sb->failed = true;
      return;
    }
    sb->p = p;
    sb->cap = cap;
  }
  memcpy(sb->p + sb->len, s, n);
  sb->len += n;
  sb->p[sb->len] = '\0';
}

static void st_putf(st_buf_t *sb, const char *fmt, ...) TIRRT_PRINTF(2, 3);
static void st_putf(st_buf_t *sb, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  st_put(sb, tmp, n > 0 ? (size_t)n : 0);
}

/* A JSON string literal; the name is already known to be valid UTF-8. */
static void st_put_json_string(st_buf_t *sb, const char *s) {
  st_put(sb, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      st_put(sb, esc, 2);
    } else if (c < 0x20) {
      st_putf(sb, "\\u%04x", c);
    } else {
      st_put(sb, (const char *)&c, 1);
    }
  }
  st_put(sb, "\"", 1);
}

/* Validates the inputs and builds the 8-byte length plus padded header in
 * `sb`; *out_data_size gets the size of the data section. */
static tirrt_status_t st_build_header(size_t count, const char *const *names,
                                      const tirrt_tensor_desc_t *descs,
                                      const void *const *datas, st_buf_t *sb,
                                      size_t *out_data_size) {
  if (count && (!names || !descs || !datas))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "safetensors writer: NULL argument");
  const char **sorted = malloc((count ? count : 1) * sizeof *sorted);
  if (!sorted) return tirrt_oom_status();
  tirrt_status_t s = NULL;
  uint64_t offset = 0;
  char q[TIRRT_QUOTE_MAX];
  st_put(sb, "\0\0\0\0\0\0\0\0{", 9);
  for (size_t i = 0; i < count && !s; i++) {
    const char *name = names[i];
    size_t nbytes;
    if (!name) {
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "safetensors writer: tensor %zu has a NULL name", i);
    } else if (!tirrt_utf8_valid((const uint8_t *)name, strlen(name))) {
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "safetensors writer: tensor name '%s' is not valid "
                            "UTF-8",
                            tirrt_quote(name, strlen(name), q));
    } else if (strcmp(name, "__metadata__") == 0) {
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "safetensors writer: '__metadata__' is reserved "
                            "and cannot name a tensor");
    } else if ((s = tirrt_tensor_desc_check(&descs[i], NULL, &nbytes))) {
      s = tirrt_status_annotate(s, "safetensors writer: tensor '%s'",
                                tirrt_quote(name, strlen(name), q));
    } else if (!datas[i] && nbytes) {
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "safetensors writer: tensor '%s' has NULL data",
                            tirrt_quote(name, strlen(name), q));
    } else if (nbytes > INT64_MAX - offset) {
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "safetensors writer: total data size overflows");
    } else {
      sorted[i] = name;
      if (i) st_put(sb, ",", 1);
      st_put_json_string(sb, name);
      st_putf(sb, ":{\"dtype\":\"%s\",\"shape\":[",
              tirrt_st_dtype_names[descs[i].dtype]);
      for (int d = 0; d < descs[i].rank; d++)
        st_putf(sb, "%s%" PRId64, d ? "," : "", descs[i].shape[d]);
      st_putf(sb, "],\"data_offsets\":[%" PRIu64 ",", offset);
      offset += nbytes;
      st_putf(sb, "%" PRIu64 "]}", offset);
    }
  }
  if (!s && count > 1) {
    qsort(sorted, count, sizeof *sorted, tirrt_st_cmp_str);
    for (size_t i = 1; i < count && !s; i++)
      if (strcmp(sorted[i - 1], sorted[i]) == 0)
        s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                              "safetensors writer: duplicate tensor name '%s'",
                              tirrt_quote(sorted[i], strlen(sorted[i]), q));
  }
  free(sorted);
  if (s) return s;
  st_put(sb, "}", 1);
  /* Pad with spaces so the data starts 8-byte aligned. */
  while (!sb->failed && sb->len % 8) st_put(sb, " ", 1);
  if (sb->failed) return tirrt_oom_status();
  uint64_t n = sb->len - 8;
  for (int i = 0; i < 8; i++) sb->p[i] = (char)(n >> (8 * i) & 0xFF);
  if (offset > SIZE_MAX - sb->len)
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "safetensors writer: data too large");
  *out_data_size = (size_t)offset;
  return NULL;
}

tirrt_status_t tirrt_safetensors_write(const char *path, size_t count,
                                       const char *const *names,
                                       const tirrt_tensor_desc_t *descs,
                                       const void *const *datas) {
  if (!path)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_safetensors_write: NULL path");
  st_buf_t sb = {0};
  size_t data_size = 0;
  tirrt_status_t s =
      st_build_header(count, names, descs, datas, &sb, &data_size);
  if (s) {
    free(sb.p);
    return tirrt_status_annotate(s, "%s", path);
  }
  const void **parts = malloc((count + 1) * sizeof *parts);
  size_t *sizes = malloc((count + 1) * sizeof *sizes);
  if (!parts || !sizes) {
    free(parts);
    free(sizes);
    free(sb.p);
    return tirrt_oom_status();
  }
  parts[0] = sb.p;
  sizes[0] = sb.len;
  for (size_t i = 0; i < count; i++) {
    tirrt_tensor_desc_check(&descs[i], NULL, &sizes[i + 1]);
    parts[i + 1] = datas[i];
  }
  s = tirrt_write_file(path, count + 1, parts, sizes);
  free(parts);
  free(sizes);
  free(sb.p);
  return s;
}

tirrt_status_t tirrt_safetensors_write_memory(size_t count,
                                              const char *const *names,
                                              const tirrt_tensor_desc_t *descs,
                                              const void *const *datas,
                                              void **out_bytes,
                                              size_t *out_size) {
  if (!out_bytes || !out_size)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_safetensors_write_memory: NULL argument");
  st_buf_t sb = {0};
  size_t data_size = 0;
  tirrt_status_t s =
      st_build_header(count, names, descs, datas, &sb, &data_size);
  if (s) {
    free(sb.p);
    return s;
  }
  uint8_t *buf = realloc(sb.p, sb.len + (data_size ? data_size : 1));
  if (!buf) {
    free(sb.p);
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "out of memory for a %zu-byte safetensors image",
                             sb.len + data_size);
  }
  size_t pos = sb.len;
  for (size_t i = 0; i < count; i++) {
    size_t nbytes;
    tirrt_tensor_desc_check(&descs[i], NULL, &nbytes);
    if (nbytes) memcpy(buf + pos, datas[i], nbytes);
    pos += nbytes;
  }
  *out_bytes = buf;
  *out_size = pos;
  return NULL;
}
