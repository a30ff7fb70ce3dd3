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

#include <cjson/cJSON.h>

#include "internal.h"

/* The format's own limit (the reference implementation uses the same). */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Root object -> tensor entry -> shape array is 3 levels. */
#define ST_MAX_DEPTH 16
/* Largest integer a double holds exactly; cJSON stores numbers as doubles. */
#define ST_MAX_INT 9007199254740992.0 /* 2^53 */

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

static const char *const st_dtype_names[TIRRT_DTYPE_COUNT] = {
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
  while (t < TIRRT_DTYPE_COUNT && strcmp(dtype->valuestring, st_dtype_names[t]))
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
                           shp, st_dtype_names[t]);
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
                           e->begin, e->end, shp, st_dtype_names[t], nbytes);
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

static int st_cmp_str(const void *a, const void *b) {
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
  qsort(keys, f->meta_count, sizeof *keys, st_cmp_str);
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
static tirrt_status_t st_parse_length(const uint8_t *b, size_t n, size_t total,
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
static tirrt_status_t st_parse_header(tirrt_safetensors_t *f, const uint8_t *h,
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
  if ((s = st_parse_length(b, got, total, file, &n))) return s;
  void *h = NULL;
  if ((s = tirrt_reader_read_header(r, n, &h))) return s;
  /* A regular file's size settles the layout before any data is read. */
  f->data_size = total == ST_UNKNOWN_SIZE ? ST_UNKNOWN_SIZE : total - 8 - (size_t)n;
  s = st_parse_header(f, h, (size_t)n, file);
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
  tirrt_status_t s = st_parse_length(b, size, size, file, &n);
  if (s) return s;
  tirrt_safetensors_t *f = calloc(1, sizeof *f);
  if (!f) return tirrt_oom_status();
  f->data_size = size - 8 - (size_t)n;
  s = st_parse_header(f, b + 8, (size_t)n, file);
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

/* ---- writer ------------------------------------------------------------- */

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
              st_dtype_names[descs[i].dtype]);
      for (int d = 0; d < descs[i].rank; d++)
        st_putf(sb, "%s%" PRId64, d ? "," : "", descs[i].shape[d]);
      st_putf(sb, "],\"data_offsets\":[%" PRIu64 ",", offset);
      offset += nbytes;
      st_putf(sb, "%" PRIu64 "]}", offset);
    }
  }
  if (!s && count > 1) {
    qsort(sorted, count, sizeof *sorted, st_cmp_str);
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
