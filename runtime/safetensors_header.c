/* safetensors_header.c — validation of a .safetensors file's length and
 * JSON header (see safetensors.c for the format and the checks' reasons):
 * the lexical prescan before cJSON, each tensor entry, the data layout
 * (covered exactly, no overlaps or holes) and the metadata map. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "safetensors_internal.h"

/* The format's own limit (the reference implementation uses the same). */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Root object -> tensor entry -> shape array is 3 levels. */
#define ST_MAX_DEPTH 16
/* Largest integer a double holds exactly; cJSON stores numbers as doubles. */
#define ST_MAX_INT 9007199254740992.0 /* 2^53 */

const char *const tirrt_st_dtype_names[TIRRT_DTYPE_COUNT] = {
    [TIRRT_DTYPE_BOOL] = "BOOL", [TIRRT_DTYPE_I8] = "I8",
    [TIRRT_DTYPE_I16] = "I16",   [TIRRT_DTYPE_I32] = "I32",
    [TIRRT_DTYPE_I64] = "I64",   [TIRRT_DTYPE_U8] = "U8",
    [TIRRT_DTYPE_F16] = "F16",   [TIRRT_DTYPE_BF16] = "BF16",
    [TIRRT_DTYPE_F32] = "F32",   [TIRRT_DTYPE_F64] = "F64",
};

/* "FILE: tensor 'NAME': MESSAGE" with the name made safe to print. */
static tirrt_status_t st_tensor_error(const char *file, const char *tensor,
                                      const char *fmt, ...)
    TIRRT_PRINTF(3, 4);
static tirrt_status_t st_tensor_error(const char *file, const char *tensor,
                                      const char *fmt, ...) {
  char msg[1024], q[TIRRT_QUOTE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                           "%s: tensor '%s': %s", file,
                           tirrt_quote(tensor, strlen(tensor), q), msg);
}

static bool st_isdigit(uint8_t c) { return c >= '0' && c <= '9'; }

/* The lexical pass described at the top of the file. */
static tirrt_status_t st_prescan(const uint8_t *h, size_t n, const char *file) {
  if (!tirrt_utf8_valid(h, n))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: header is not valid UTF-8", file);
  bool in_string = false;
  int depth = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = h[i];
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\') {
        if (i + 5 < n && h[i + 1] == 'u' && memcmp(h + i + 2, "0000", 4) == 0)
          return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                   "%s: header has a NUL character (\\u0000) "
                                   "in a string at byte %zu",
                                   file, i);
        i++; /* skip the escaped character (a quote must not end the string) */
      } else if (c < 0x20) {
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "%s: header has a control byte 0x%02x in a "
                                 "string at byte %zu",
                                 file, c, i);
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '{':
      case '[':
        if (++depth > ST_MAX_DEPTH)
          return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                   "%s: header JSON is nested deeper than %d "
                                   "levels",
                                   file, ST_MAX_DEPTH);
        break;
      case '}':
      case ']': depth--; break;
      case ' ':
      case '\t':
      case '\n':
      case '\r': break;
      case '.':
      case 'e':
      case 'E':
        if (c == '.' || (i > 0 && st_isdigit(h[i - 1])))
          return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                   "%s: header has a non-integer number at "
                                   "byte %zu (all numbers must be integers)",
                                   file, i);
        break;
      default:
        if (c < 0x20)
          return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                   "%s: header has a %s byte 0x%02x at byte %zu",
                                   file, c ? "control" : "NUL", c, i);
    }
  }
  return NULL;
}

/* A JSON number that is an exact non-negative integer. */
static bool st_uint(const cJSON *item, uint64_t *out) {
  if (!cJSON_IsNumber(item)) return false;
  double v = item->valuedouble;
  if (!(v >= 0.0 && v < ST_MAX_INT) || v != (double)(uint64_t)v) return false;
  *out = (uint64_t)v;
  return true;
}

static tirrt_status_t st_parse_entry(const cJSON *obj, const char *file,
                                     size_t data_size, st_entry_t *e) {
  const char *tn = obj->string;
  if (!cJSON_IsObject(obj))
    return st_tensor_error(file, tn, "entry is not a JSON object");
  const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
  for (const cJSON *c = obj->child; c; c = c->next) {
    const cJSON **slot = strcmp(c->string, "dtype") == 0    ? &dtype
                         : strcmp(c->string, "shape") == 0  ? &shape
                         : strcmp(c->string, "data_offsets") == 0 ? &offsets
                                                                  : NULL;
    char q[TIRRT_QUOTE_MAX];
    if (!slot)
      return st_tensor_error(file, tn, "unknown field '%s'",
                             tirrt_quote(c->string, strlen(c->string), q));
    if (*slot)
      return st_tensor_error(file, tn, "duplicate field '%s'", c->string);
    *slot = c;
  }
  if (!dtype) return st_tensor_error(file, tn, "missing field 'dtype'");
  if (!shape) return st_tensor_error(file, tn, "missing field 'shape'");
  if (!offsets) return st_tensor_error(file, tn, "missing field 'data_offsets'");

  if (!cJSON_IsString(dtype))
    return st_tensor_error(file, tn, "'dtype' is not a string");
  int t = 0;
  while (t < TIRRT_DTYPE_COUNT && strcmp(dtype->valuestring, tirrt_st_dtype_names[t]))
    t++;
  if (t == TIRRT_DTYPE_COUNT) {
    char q[TIRRT_QUOTE_MAX];
    return st_tensor_error(
        file, tn,
        "unsupported dtype '%s' (supported: BOOL U8 I8 I16 I32 I64 F16 BF16 "
        "F32 F64)",
        tirrt_quote(dtype->valuestring, strlen(dtype->valuestring), q));
  }
  e->desc.dtype = (tirrt_dtype_t)t;

  if (!cJSON_IsArray(shape))
    return st_tensor_error(file, tn, "'shape' is not an array");
  int rank = 0;
  for (const cJSON *d = shape->child; d; d = d->next, rank++) {
    if (rank == TIRRT_MAX_RANK)
      return st_tensor_error(file, tn, "rank exceeds the maximum of %d",
                             TIRRT_MAX_RANK);
    uint64_t v;
    if (!st_uint(d, &v))
      return st_tensor_error(file, tn,
                             "'shape' entries must be integers in [0, 2^53)");
    e->desc.shape[rank] = (int64_t)v;
  }
  e->desc.rank = rank;
  size_t nbytes;
  tirrt_status_t s = tirrt_tensor_desc_check(&e->desc, NULL, &nbytes);
  if (s) { /* dims are non-negative here, so this is an overflow */
    tirrt_status_free(s);
    char shp[TIRRT_SHAPE_STR_MAX];
    tirrt_format_shape(e->desc.shape, rank, shp, sizeof shp);
    return st_tensor_error(file, tn,
                           "shape %s of %s is too large (its size in bytes "
                           "overflows int64)",
                           shp, tirrt_st_dtype_names[t]);
  }

  const cJSON *b = cJSON_IsArray(offsets) ? offsets->child : NULL;
  const cJSON *en = b ? b->next : NULL;
  if (!b || !en || en->next)
    return st_tensor_error(file, tn, "'data_offsets' is not an array of two "
                                     "integers");
  if (!st_uint(b, &e->begin) || !st_uint(en, &e->end))
    return st_tensor_error(file, tn,
                           "'data_offsets' entries must be integers in "
                           "[0, 2^53)");
  if (e->begin > e->end)
    return st_tensor_error(file, tn,
                           "data_offsets [%" PRIu64 ", %" PRIu64
                           "]: begin is after end",
                           e->begin, e->end);
  if (e->end > data_size)
    return st_tensor_error(file, tn,
                           "data_offsets [%" PRIu64 ", %" PRIu64
                           "] run past the end of the data (%zu bytes)",
                           e->begin, e->end, data_size);
  if (e->end - e->begin != nbytes) {
    char shp[TIRRT_SHAPE_STR_MAX];
    tirrt_format_shape(e->desc.shape, rank, shp, sizeof shp);
    return st_tensor_error(file, tn,
                           "data_offsets [%" PRIu64 ", %" PRIu64
                           "] do not match shape %s of %s (%zu bytes)",
                           e->begin, e->end, shp, tirrt_st_dtype_names[t], nbytes);
  }
  return NULL;
}

static int st_cmp_name(const void *a, const void *b) {
  return strcmp((*(st_entry_t *const *)a)->name, (*(st_entry_t *const *)b)->name);
}

static int st_cmp_offset(const void *a, const void *b) {
  const st_entry_t *x = *(st_entry_t *const *)a, *y = *(st_entry_t *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* Tensors must tile the data section: sorted by offset, each non-empty one
 * starts where the previous one ended, and the last ends at the end.  Empty
 * tensors occupy no bytes and are exempt. */
static tirrt_status_t st_check_layout(tirrt_safetensors_t *f, const char *file) {
  st_entry_t **order = malloc((f->count ? f->count : 1) * sizeof *order);
  if (!order) return tirrt_oom_status();
  for (size_t i = 0; i < f->count; i++) order[i] = &f->entries[i];
  qsort(order, f->count, sizeof *order, st_cmp_offset);
  uint64_t cursor = 0;
  const st_entry_t *prev = NULL;
  tirrt_status_t s = NULL;
  char q1[TIRRT_QUOTE_MAX], q2[TIRRT_QUOTE_MAX];
  for (size_t i = 0; i < f->count && !s; i++) {
    const st_entry_t *e = order[i];
    if (e->begin == e->end) continue;
    if (e->begin < cursor) {
      s = tirrt_make_status(
          TIRRT_STATUS_INVALID_ARGUMENT,
          "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64
          ", %" PRIu64 "] overlap",
          file, tirrt_quote(prev->name, strlen(prev->name), q1), prev->begin,
          prev->end, tirrt_quote(e->name, strlen(e->name), q2), e->begin,
          e->end);
    } else if (e->begin > cursor) {
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "%s: data bytes [%" PRIu64 ", %" PRIu64
                            ") belong to no tensor (the format forbids gaps)",
                            file, cursor, e->begin);
    }
    cursor = e->end;
    prev = e;
  }
  if (!s && f->data_size == ST_UNKNOWN_SIZE)
    f->data_size = (size_t)cursor; /* a stream: the data is what they cover */
  else if (!s && cursor != f->data_size)
    s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                          "%s: %" PRIu64 " trailing bytes: the data section "
                          "has %zu bytes but the tensors end at %" PRIu64,
                          file, (uint64_t)f->data_size - cursor, f->data_size,
                          cursor);
  free(order);
  return s;
}

int tirrt_st_cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Metadata keys must be unique too.  A hostile header can hold millions of
 * keys, so sort a copy rather than compare all pairs. */
static tirrt_status_t st_check_meta_keys(const tirrt_safetensors_t *f,
                                         const char *file) {
  if (f->meta_count < 2) return NULL;
  const char **keys = malloc(f->meta_count * sizeof *keys);
  if (!keys) return tirrt_oom_status();
  for (size_t i = 0; i < f->meta_count; i++) keys[i] = f->meta[2 * i];
  qsort(keys, f->meta_count, sizeof *keys, tirrt_st_cmp_str);
  tirrt_status_t s = NULL;
  for (size_t i = 1; i < f->meta_count && !s; i++) {
    if (strcmp(keys[i - 1], keys[i]) == 0) {
      char q[TIRRT_QUOTE_MAX];
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "%s: duplicate '__metadata__' key '%s'", file,
                            tirrt_quote(keys[i], strlen(keys[i]), q));
    }
  }
  free(keys);
  return s;
}

/* Copies `s` into the string block at *pos and returns the copy. */
static const char *st_intern(char *block, size_t *pos, const char *s) {
  size_t n = strlen(s) + 1;
  char *dst = block + *pos;
  memcpy(dst, s, n);
  *pos += n;
  return dst;
}

/* Fills `f` from the cJSON tree of a prescanned header. */
static tirrt_status_t st_load_tree(tirrt_safetensors_t *f, const cJSON *root,
                                   const char *file) {
  if (!cJSON_IsObject(root))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: header is not a JSON object", file);
  const cJSON *meta = NULL;
  size_t ntensors = 0, nmeta = 0, strbytes = 0;
  for (const cJSON *c = root->child; c; c = c->next) {
    strbytes += strlen(c->string) + 1;
    if (strcmp(c->string, "__metadata__") != 0) {
      ntensors++;
      continue;
    }
    if (meta)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: duplicate key '__metadata__'", file);
    meta = c;
    if (!cJSON_IsObject(meta))
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: '__metadata__' is not a JSON object", file);
    for (const cJSON *m = meta->child; m; m = m->next) {
      char q[TIRRT_QUOTE_MAX];
      if (!cJSON_IsString(m))
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "%s: '__metadata__' value for '%s' is not a "
                                 "string",
                                 file, tirrt_quote(m->string, strlen(m->string), q));
      strbytes += strlen(m->string) + strlen(m->valuestring) + 2;
      nmeta++;
    }
  }
  f->entries = calloc(ntensors ? ntensors : 1, sizeof *f->entries);
  f->by_name = malloc((ntensors ? ntensors : 1) * sizeof *f->by_name);
  f->meta = malloc((nmeta ? 2 * nmeta : 1) * sizeof *f->meta);
  f->strings = malloc(strbytes ? strbytes : 1);
  if (!f->entries || !f->by_name || !f->meta || !f->strings)
    return tirrt_oom_status();
  size_t pos = 0;
  for (const cJSON *c = root->child; c; c = c->next) {
    if (c == meta) continue;
    st_entry_t *e = &f->entries[f->count];
    tirrt_status_t s = st_parse_entry(c, file, f->data_size, e);
    if (s) return s;
    e->name = st_intern(f->strings, &pos, c->string);
    f->by_name[f->count] = e;
    f->count++;
  }
  if (meta) {
    for (const cJSON *m = meta->child; m; m = m->next) {
      f->meta[2 * f->meta_count] = st_intern(f->strings, &pos, m->string);
      f->meta[2 * f->meta_count + 1] =
          st_intern(f->strings, &pos, m->valuestring);
      f->meta_count++;
    }
  }
  qsort(f->by_name, f->count, sizeof *f->by_name, st_cmp_name);
  for (size_t i = 1; i < f->count; i++) {
    if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
      char q[TIRRT_QUOTE_MAX];
      const char *n = f->by_name[i]->name;
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: duplicate tensor name '%s'", file,
                               tirrt_quote(n, strlen(n), q));
    }
  }
  tirrt_status_t s = st_check_meta_keys(f, file);
  if (s) return s;
  return st_check_layout(f, file);
}

/* Checks the 8-byte header length at b (n bytes there, fewer only when the
 * file is that short); `total` is the file's size or ST_UNKNOWN_SIZE. */
tirrt_status_t tirrt_st_parse_length(const uint8_t *b, size_t n, size_t total,
                                     const char *file, uint64_t *out_len) {
  if (n < 8)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: %zu bytes is too short for a "
                             "safetensors file (8-byte header length)",
                             file, n);
  uint64_t len = 0;
  for (int i = 7; i >= 0; i--) len = len << 8 | b[i];
  if (len > ST_MAX_HEADER)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: header length %" PRIu64 " exceeds the "
                             "limit of %" PRIu64 " bytes",
                             file, len, ST_MAX_HEADER);
  if (total != ST_UNKNOWN_SIZE && len > total - 8)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: header length %" PRIu64
                             " runs past the end of the file (%zu bytes)",
                             file, len, total);
  *out_len = len;
  return NULL;
}

/* Parses the JSON header (n bytes at h) into f.  f->data_size is the size
 * of the data section, or ST_UNKNOWN_SIZE for a stream (then it becomes
 * where the tensors end). */
tirrt_status_t tirrt_st_parse_header(tirrt_safetensors_t *f, const uint8_t *h,
                                     size_t n, const char *file) {
  /* The format requires the header to start with '{' (no leading space). */
  if (n == 0 || h[0] != '{')
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: header is not a JSON object (it must start "
                             "with '{')",
                             file);
  tirrt_status_t s = st_prescan(h, n, file);
  if (s) return s;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)h, n, &end, false);
  if (!root) {
    size_t at = end ? (size_t)(end - (const char *)h) : 0;
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: header is not valid JSON (error near byte "
                             "%zu of %zu)",
                             file, at, n);
  }
  /* Only whitespace (normally the space padding) may follow the object. */
  for (const char *p = end; p < (const char *)h + n && !s; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "%s: header has text after the JSON object (at "
                            "byte %td)",
                            file, p - (const char *)h);
  }
  if (!s) s = st_load_tree(f, root, file);
  cJSON_Delete(root);
  return s;
}
