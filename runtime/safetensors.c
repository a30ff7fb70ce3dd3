/* safetensors.c — reader and writer for .safetensors files.
 *
 * Layout: u64 little-endian N, N bytes of JSON (an object mapping tensor
 * names to {"dtype", "shape", "data_offsets"}, plus an optional
 * "__metadata__" string map), then the data section, which the tensors must
 * cover exactly, without overlaps or holes.
 *
 * The reader validates the entire header before handing anything out, and
 * reads files in bounded steps: the length, the header (at most 100 MB),
 * then exactly the data the tensors cover, after which the file must end
 * (so a FIFO or /dev/zero is an error, never an endless read).  A cheap lexical pass runs before
 * cJSON: it rejects what cJSON would accept but the format forbids (invalid
 * UTF-8, "\u0000" in names, which would silently truncate them, fractional
 * numbers) and bounds the nesting depth, so cJSON never recurses deeply. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors_internal.h"

/* Bool bytes other than 0 mean true; make them 1 (see tirrt.h). */
static void st_normalize_bools(tirrt_safetensors_t *f) {
  for (size_t i = 0; i < f->count; i++) {
    const st_entry_t *e = &f->entries[i];
    if (e->desc.dtype == TIRRT_DTYPE_BOOL)
      tirrt_normalize_bool(f->data + e->begin, e->end - e->begin);
  }
}

void tirrt_safetensors_close(tirrt_safetensors_t *f) {
  if (!f) return;
  free(f->data);
  free(f->entries);
  free(f->by_name);
  free(f->meta);
  free(f->strings);
  free(f);
}

/* Reads the length, the header, then exactly the data the header's tensors
 * cover, and checks the file ends there (see tirrt_reader_t). */
static tirrt_status_t st_read_file(tirrt_reader_t *r, tirrt_safetensors_t *f) {
  const char *file = r->path;
  uint8_t b[8];
  size_t got = 0;
  tirrt_status_t s = tirrt_reader_read(r, b, 8, &got);
  if (s) return s;
  size_t total = got < 8 ? got
                 : r->size >= 0 && (uint64_t)r->size < ST_UNKNOWN_SIZE ? (size_t)r->size
                                                                         : ST_UNKNOWN_SIZE;
  uint64_t n = 0;
  if ((s = tirrt_st_parse_length(b, got, total, file, &n))) return s;
  void *h = NULL;
  if ((s = tirrt_reader_read_header(r, n, &h))) return s;
  /* A regular file's size settles the layout before any data is read. */
  f->data_size = total == ST_UNKNOWN_SIZE ? ST_UNKNOWN_SIZE : total - 8 - (size_t)n;
  s = tirrt_st_parse_header(f, h, (size_t)n, file);
  free(h);
  if (s) return s;
  void *data = NULL;
  if ((s = tirrt_reader_read_alloc(r, f->data_size, &data, &got))) return s;
  f->data = data;
  int at_end = 0;
  if (got < f->data_size)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: the tensors need %zu bytes of "
                             "data, the file has %zu",
                             file, f->data_size, got);
  if ((s = tirrt_reader_at_end(r, &at_end))) return s;
  if (!at_end) /* a stream, or a file that grew while we read it */
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: trailing bytes: the file goes on after the "
                             "%zu bytes of data the tensors cover",
                             file, f->data_size);
  st_normalize_bools(f);
  return NULL;
}

tirrt_status_t tirrt_safetensors_open(const char *path,
                                      tirrt_safetensors_t **out_file) {
  if (!path || !out_file)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_safetensors_open: NULL argument");
  tirrt_reader_t r;
  tirrt_status_t s = tirrt_reader_open(path, &r);
  if (s) return s;
  tirrt_safetensors_t *f = calloc(1, sizeof *f);
  s = f ? st_read_file(&r, f) : tirrt_oom_status();
  tirrt_reader_close(&r);
  if (s) {
    tirrt_safetensors_close(f);
    return s;
  }
  *out_file = f;
  return NULL;
}

tirrt_status_t tirrt_safetensors_open_memory(const void *bytes, size_t size,
                                             const char *name,
                                             tirrt_safetensors_t **out_file) {
  if ((!bytes && size) || !out_file)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_safetensors_open_memory: NULL argument");
  const char *file = name ? name : "<memory>";
  const uint8_t *b = bytes ? bytes : (const uint8_t *)"";
  uint64_t n = 0;
  tirrt_status_t s = tirrt_st_parse_length(b, size, size, file, &n);
  if (s) return s;
  tirrt_safetensors_t *f = calloc(1, sizeof *f);
  if (!f) return tirrt_oom_status();
  f->data_size = size - 8 - (size_t)n;
  s = tirrt_st_parse_header(f, b + 8, (size_t)n, file);
  /* Only the data is copied: the header lives on in the parsed tables. */
  if (!s && !(f->data = malloc(f->data_size ? f->data_size : 1))) s = tirrt_oom_status();
  if (s) {
    tirrt_safetensors_close(f);
    return s;
  }
  if (f->data_size) memcpy(f->data, b + 8 + n, f->data_size);
  st_normalize_bools(f);
  *out_file = f;
  return NULL;
}

size_t tirrt_safetensors_count(const tirrt_safetensors_t *f) {
  return f ? f->count : 0;
}

static void st_out(const tirrt_safetensors_t *f, const st_entry_t *e,
                   tirrt_tensor_desc_t *out_desc, const void **out_data) {
  if (out_desc) *out_desc = e->desc;
  if (out_data) *out_data = f->data + e->begin;
}

tirrt_status_t tirrt_safetensors_get(const tirrt_safetensors_t *f, size_t index,
                                     const char **out_name,
                                     tirrt_tensor_desc_t *out_desc,
                                     const void **out_data) {
  if (!f)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_safetensors_get: NULL file");
  if (index >= f->count)
    return tirrt_make_status(TIRRT_STATUS_NOT_FOUND,
                             "tensor index %zu out of range (%zu tensors)",
                             index, f->count);
  if (out_name) *out_name = f->entries[index].name;
  st_out(f, &f->entries[index], out_desc, out_data);
  return NULL;
}

tirrt_status_t tirrt_safetensors_find(const tirrt_safetensors_t *f,
                                      const char *name,
                                      tirrt_tensor_desc_t *out_desc,
                                      const void **out_data) {
  if (!f || !name)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_safetensors_find: NULL argument");
  size_t lo = 0, hi = f->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, f->by_name[mid]->name);
    if (c == 0) {
      st_out(f, f->by_name[mid], out_desc, out_data);
      return NULL;
    }
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  char q[TIRRT_QUOTE_MAX];
  return tirrt_make_status(TIRRT_STATUS_NOT_FOUND, "no tensor named '%s'",
                           tirrt_quote(name, strlen(name), q));
}

const char *tirrt_safetensors_metadata(const tirrt_safetensors_t *f,
                                       const char *key) {
  if (!f || !key) return NULL;
  for (size_t i = 0; i < f->meta_count; i++)
    if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
  return NULL;
}
