/* npy.c — reader and writer for NumPy .npy files (format 1.0, 2.0, 3.0).
 *
 * A .npy file is: the magic "\x93NUMPY", a major and a minor version byte, a
 * little-endian header length (2 bytes in 1.0, 4 bytes in 2.0/3.0), a Python
 * dict literal with exactly the keys 'descr', 'fortran_order' and 'shape',
 * padding, and then the raw array data.  The reader accepts only that dict
 * shape (no general Python evaluation) and checks every size against the
 * bytes actually present before it allocates anything for the data.  Files
 * are read in bounded steps (prefix, dict, then exactly the data the header
 * promises) and must end there, so a stream never reads forever. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* What the header says, once validated. */
typedef struct {
  tirrt_tensor_desc_t desc;
  bool big_endian;
  bool fortran_order;
  size_t data_offset; /* where the data starts in the file */
  size_t nbytes;      /* how many data bytes the header promises */
} npy_header_t;

/* ---- descr table -------------------------------------------------------- */

typedef struct {
  const char *kind; /* descr without the byte-order character */
  tirrt_dtype_t dtype;
} npy_kind_t;

static const npy_kind_t npy_kinds[] = {
    {"b1", TIRRT_DTYPE_BOOL}, {"i1", TIRRT_DTYPE_I8},  {"i2", TIRRT_DTYPE_I16},
    {"i4", TIRRT_DTYPE_I32},  {"i8", TIRRT_DTYPE_I64}, {"u1", TIRRT_DTYPE_U8},
    {"f2", TIRRT_DTYPE_F16},  {"f4", TIRRT_DTYPE_F32}, {"f8", TIRRT_DTYPE_F64},
    {"V2", TIRRT_DTYPE_BF16}, /* see the bf16 note in tirrt.h */
};

/* The descr we write for each dtype (index = dtype). */
static const char *const npy_descr_out[TIRRT_DTYPE_COUNT] = {
    [TIRRT_DTYPE_BOOL] = "|b1", [TIRRT_DTYPE_I8] = "|i1",
    [TIRRT_DTYPE_I16] = "<i2",  [TIRRT_DTYPE_I32] = "<i4",
    [TIRRT_DTYPE_I64] = "<i8",  [TIRRT_DTYPE_U8] = "|u1",
    [TIRRT_DTYPE_F16] = "<f2",  [TIRRT_DTYPE_BF16] = "<V2",
    [TIRRT_DTYPE_F32] = "<f4",  [TIRRT_DTYPE_F64] = "<f8",
};

#define NPY_SUPPORTED \
  "supported: |b1, i1, i2, i4, i8, u1, f2, f4, f8, and <V2 for bf16"

/* ---- the header dict parser --------------------------------------------- */

/* ASCII classes; <ctype.h> depends on the locale. */
static bool npy_isdigit(char c) { return c >= '0' && c <= '9'; }
static bool npy_isident(char c) {
  return npy_isdigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         c == '_';
}

typedef struct {
  const char *p, *end;
  const char *name; /* file name for messages */
} npy_parser_t;

static tirrt_status_t npy_syntax(const npy_parser_t *ps, const char *what) {
  char q[TIRRT_QUOTE_MAX];
  size_t left = (size_t)(ps->end - ps->p);
  return tirrt_make_status(
      TIRRT_STATUS_INVALID_ARGUMENT,
      "%s: malformed .npy header: %s at \"%s\"", ps->name, what,
      left ? tirrt_quote(ps->p, left < 24 ? left : 24, q) : "<end>");
}

static void npy_skip_ws(npy_parser_t *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
                             *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\f'))
    ps->p++;
}

static bool npy_accept(npy_parser_t *ps, char c) {
  npy_skip_ws(ps);
  if (ps->p < ps->end && *ps->p == c) {
    ps->p++;
    return true;
  }
  return false;
}

/* A Python string literal without escapes, copied into buf (cap bytes). */
static tirrt_status_t npy_string(npy_parser_t *ps, char *buf, size_t cap) {
  npy_skip_ws(ps);
  if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
    return npy_syntax(ps, "expected a string");
  char quote = *ps->p++;
  size_t n = 0;
  while (ps->p < ps->end && *ps->p != quote) {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20 || c >= 0x7F || c == '\\')
      return npy_syntax(ps, "unsupported character in a string");
    if (n + 1 >= cap) return npy_syntax(ps, "string too long");
    buf[n++] = (char)c;
    ps->p++;
  }
  if (ps->p >= ps->end) return npy_syntax(ps, "unterminated string");
  ps->p++;
  buf[n] = '\0';
  return NULL;
}

static tirrt_status_t npy_descr(npy_parser_t *ps, npy_header_t *h) {
  npy_skip_ws(ps);
  if (ps->p < ps->end && (*ps->p == '[' || *ps->p == '{'))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: structured dtypes are not supported (%s)",
                             ps->name, NPY_SUPPORTED);
  char d[32];
  tirrt_status_t s = npy_string(ps, d, sizeof d);
  if (s) return s;
  char q[TIRRT_QUOTE_MAX];
  char order = d[0];
  const char *kind = order ? d + 1 : d;
  for (size_t i = 0; i < sizeof npy_kinds / sizeof npy_kinds[0]; i++) {
    if (strcmp(kind, npy_kinds[i].kind) != 0) continue;
    tirrt_dtype_t t = npy_kinds[i].dtype;
    size_t es = tirrt_dtype_size(t);
    /* One-byte types have no byte order; numpy writes '|' but '<' and '>'
     * mean the same.  Void records have no byte order at all, so '>V2' is
     * not something numpy writes.  Multi-byte numbers need '<' or '>'. */
    bool ok = t == TIRRT_DTYPE_BF16 ? (order == '<' || order == '|')
              : es == 1 ? (order == '<' || order == '>' || order == '|')
                        : (order == '<' || order == '>');
    if (!ok) break;
    h->desc.dtype = t;
    h->big_endian = order == '>' && es > 1;
    return NULL;
  }
  if (strchr(d, 'O'))
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: object arrays (pickled data) are not "
                             "supported",
                             ps->name);
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                           "%s: unsupported dtype: descr '%s' (%s)", ps->name,
                           tirrt_quote(d, strlen(d), q), NPY_SUPPORTED);
}

static tirrt_status_t npy_bool(npy_parser_t *ps, bool *out) {
  npy_skip_ws(ps);
  size_t left = (size_t)(ps->end - ps->p);
  if (left >= 4 && memcmp(ps->p, "True", 4) == 0) {
    ps->p += 4;
    *out = true;
  } else if (left >= 5 && memcmp(ps->p, "False", 5) == 0) {
    ps->p += 5;
    *out = false;
  } else {
    return npy_syntax(ps, "'fortran_order' must be True or False");
  }
  /* "Truex" is a different identifier. */
  if (ps->p < ps->end && (npy_isident(*ps->p)))
    return npy_syntax(ps, "'fortran_order' must be True or False");
  return NULL;
}

/* A non-negative Python int literal (an 'L' suffix, from Python 2, is
 * accepted).  Leading zeros are a Python syntax error, so they are here. */
static tirrt_status_t npy_dim(npy_parser_t *ps, int64_t *out) {
  npy_skip_ws(ps);
  if (ps->p < ps->end && *ps->p == '-')
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: shape has a negative dimension", ps->name);
  if (ps->p >= ps->end || !npy_isdigit(*ps->p))
    return npy_syntax(ps, "expected a dimension");
  const char *start = ps->p;
  int64_t v = 0;
  while (ps->p < ps->end && npy_isdigit(*ps->p)) {
    int digit = *ps->p - '0';
    if (v > (INT64_MAX - digit) / 10)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: shape dimension is too large (overflows "
                               "int64)",
                               ps->name);
    v = v * 10 + digit;
    ps->p++;
  }
  if (ps->p - start > 1 && *start == '0')
    return npy_syntax(ps, "dimension with a leading zero");
  if (ps->p < ps->end && (*ps->p == 'L' || *ps->p == 'l')) ps->p++;
  if (ps->p < ps->end && (npy_isident(*ps->p) ||
                          *ps->p == '.'))
    return npy_syntax(ps, "dimensions must be integers");
  *out = v;
  return NULL;
}

static tirrt_status_t npy_shape(npy_parser_t *ps, npy_header_t *h) {
  if (!npy_accept(ps, '('))
    return npy_syntax(ps, "'shape' must be a tuple");
  int rank = 0;
  bool comma = false;
  while (!npy_accept(ps, ')')) {
    if (rank > 0 && !comma) return npy_syntax(ps, "expected ',' or ')'");
    if (rank == TIRRT_MAX_RANK)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: rank exceeds the maximum of %d", ps->name,
                               TIRRT_MAX_RANK);
    tirrt_status_t s = npy_dim(ps, &h->desc.shape[rank]);
    if (s) return s;
    rank++;
    comma = npy_accept(ps, ',');
  }
  /* "(3)" is the int 3, not a tuple. */
  if (rank == 1 && !comma)
    return npy_syntax(ps, "'shape' must be a tuple (write (n,) for rank 1)");
  h->desc.rank = rank;
  return NULL;
}

static tirrt_status_t npy_parse_dict(npy_parser_t *ps, npy_header_t *h) {
  enum { DESCR = 1, FORTRAN = 2, SHAPE = 4 };
  unsigned seen = 0;
  if (!npy_accept(ps, '{'))
    return npy_syntax(ps, "the header is not a dict");
  while (!npy_accept(ps, '}')) {
    char key[32];
    char q[TIRRT_QUOTE_MAX];
    tirrt_status_t s = npy_string(ps, key, sizeof key);
    if (s) return s;
    unsigned bit = strcmp(key, "descr") == 0           ? DESCR
                   : strcmp(key, "fortran_order") == 0 ? FORTRAN
                   : strcmp(key, "shape") == 0         ? SHAPE
                                                       : 0;
    if (!bit)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: unknown key '%s' in the .npy header",
                               ps->name, tirrt_quote(key, strlen(key), q));
    if (seen & bit)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: duplicate key '%s' in the .npy header",
                               ps->name, key);
    seen |= bit;
    if (!npy_accept(ps, ':')) return npy_syntax(ps, "expected ':'");
    s = bit == DESCR     ? npy_descr(ps, h)
        : bit == FORTRAN ? npy_bool(ps, &h->fortran_order)
                         : npy_shape(ps, h);
    if (s) return s;
    if (npy_accept(ps, ',')) continue;
    if (!npy_accept(ps, '}')) return npy_syntax(ps, "expected ',' or '}'");
    break;
  }
  npy_skip_ws(ps); /* numpy pads with spaces and a final newline */
  if (ps->p != ps->end)
    return npy_syntax(ps, "unexpected text after the header dict");
  static const char *const names[] = {"descr", "fortran_order", "shape"};
  for (int i = 0; i < 3; i++)
    if (!(seen & (1u << i)))
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "%s: missing key '%s' in the .npy header",
                               ps->name, names[i]);
  return NULL;
}

/* The largest header (dict and padding) we read.  numpy writes well under
 * 1 KiB for any rank we accept; the bound keeps a hostile v2/v3 length from
 * costing more than this before the dict is even looked at. */
#define NPY_MAX_HEADER ((uint64_t)1 << 20)
#define NPY_UNKNOWN_SIZE UINT64_MAX

/* Checks the magic, the version and the header length in the first n bytes
 * (fewer than the prefix only when the file is that short).  `total` is the
 * file's size, or NPY_UNKNOWN_SIZE for a stream.  Sets *prefix (the bytes
 * before the dict) and *hlen (the dict's length). */
static tirrt_status_t npy_parse_prefix(const uint8_t *b, size_t n,
                                       uint64_t total, const char *name,
                                       size_t *prefix, uint64_t *hlen) {
  size_t cmp = n < sizeof npy_magic ? n : sizeof npy_magic;
  if (memcmp(b, npy_magic, cmp) != 0)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: not a .npy file (bad magic)", name);
  if (n < 8)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: %zu bytes is too short for a "
                             ".npy header",
                             name, n);
  unsigned major = b[6], minor = b[7];
  if (major < 1 || major > 3 || minor != 0)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: unsupported .npy format version %u.%u "
                             "(supported: 1.0, 2.0, 3.0)",
                             name, major, minor);
  *prefix = major == 1 ? 10 : 12;
  if (n < *prefix)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: %zu bytes is too short for a "
                             ".npy header",
                             name, n);
  *hlen = major == 1 ? (uint64_t)b[8] | (uint64_t)b[9] << 8
                     : (uint64_t)b[8] | (uint64_t)b[9] << 8 |
                           (uint64_t)b[10] << 16 | (uint64_t)b[11] << 24;
  if (total != NPY_UNKNOWN_SIZE && *hlen > total - *prefix)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: header length %" PRIu64
                             " runs past the end of the file (%" PRIu64
                             " bytes)",
                             name, *hlen, total);
  if (*hlen > NPY_MAX_HEADER)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: header length %" PRIu64 " exceeds the limit "
                             "of %" PRIu64 " bytes",
                             name, *hlen, NPY_MAX_HEADER);
  return NULL;
}

/* Parses the dict (hlen bytes at `dict`) and sets h->desc, h->nbytes and
 * h->data_offset. */
static tirrt_status_t npy_parse_header(const uint8_t *dict, uint64_t hlen,
                                       size_t prefix, const char *name,
                                       npy_header_t *h) {
  npy_parser_t ps = {(const char *)dict, (const char *)dict + hlen, name};
  tirrt_status_t s = npy_parse_dict(&ps, h);
  if (s) return s;
  s = tirrt_tensor_desc_check(&h->desc, NULL, &h->nbytes);
  if (s) return tirrt_status_annotate(s, "%s", name);
  h->data_offset = prefix + (size_t)hlen;
  return NULL;
}

/* The data must be exactly what the header promises.  `have` is how many
 * bytes follow the header (UINT64_MAX: more than promised, count unknown). */
static tirrt_status_t npy_check_data_size(const npy_header_t *h, uint64_t have,
                                          const char *name) {
  if (have < h->nbytes)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: header promises %zu bytes of "
                             "data, file has %" PRIu64,
                             name, h->nbytes, have);
  if (have == UINT64_MAX)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: trailing bytes: header promises %zu bytes "
                             "of data, the file has more",
                             name, h->nbytes);
  if (have > h->nbytes)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: %" PRIu64 " trailing bytes: header promises "
                             "%zu bytes of data, file has %" PRIu64,
                             name, have - h->nbytes, h->nbytes, have);
  return NULL;
}

/* Validates a whole image in memory; allocates nothing. */
static tirrt_status_t npy_parse(const uint8_t *b, size_t n, const char *name,
                                npy_header_t *h) {
  memset(h, 0, sizeof *h);
  size_t prefix = 0;
  uint64_t hlen = 0;
  tirrt_status_t s = npy_parse_prefix(b, n, n, name, &prefix, &hlen);
  if (!s) s = npy_parse_header(b + prefix, hlen, prefix, name, h);
  if (!s) s = npy_check_data_size(h, n - h->data_offset, name);
  return s;
}

/* Copies Fortran-ordered `src` into C-ordered `dst`.  Walks the destination
 * in order with an odometer over the index, keeping the source offset (in
 * elements) up to date incrementally. */
static void npy_fortran_to_c(const uint8_t *src, uint8_t *dst,
                             const tirrt_tensor_desc_t *d, size_t es) {
  int r = d->rank;
  int64_t numel = 1, fstride[TIRRT_MAX_RANK], idx[TIRRT_MAX_RANK] = {0};
  for (int k = 0; k < r; k++) {
    fstride[k] = numel;
    numel *= d->shape[k];
  }
  int64_t off = 0;
  for (int64_t i = 0; i < numel; i++) {
    memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
    for (int k = r - 1; k >= 0; k--) {
      off += fstride[k];
      if (++idx[k] < d->shape[k]) break;
      off -= fstride[k] * d->shape[k];
      idx[k] = 0;
    }
  }
}

/* Turns validated data (`src`, h->nbytes bytes) into a C-ordered
 * little-endian buffer.  If `owned` is non-NULL it is the malloc'd block
 * holding `src`, which is reused (or freed). */
static tirrt_status_t npy_extract(const uint8_t *src, uint8_t *owned,
                                  const npy_header_t *h, const char *name,
                                  void **out_data) {
  size_t es = tirrt_dtype_size(h->desc.dtype);
  size_t numel = h->nbytes / es;
  bool transpose = h->fortran_order && h->desc.rank > 1 && numel > 1;
  uint8_t *data;
  if (owned && !transpose && src == owned) {
    data = owned;
  } else {
    data = malloc(h->nbytes ? h->nbytes : 1);
    if (!data) {
      free(owned);
      return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                               "%s: out of memory for %zu bytes of data", name,
                               h->nbytes);
    }
    if (transpose)
      npy_fortran_to_c(src, data, &h->desc, es);
    else if (h->nbytes)
      memcpy(data, src, h->nbytes);
    free(owned);
  }
  if (h->big_endian) tirrt_byteswap(data, numel, es);
  if (h->desc.dtype == TIRRT_DTYPE_BOOL) tirrt_normalize_bool(data, numel);
  *out_data = data;
  return NULL;
}

tirrt_status_t tirrt_npy_read_memory(const void *bytes, size_t size,
                                     const char *name,
                                     tirrt_tensor_desc_t *out_desc,
                                     void **out_data) {
  if (!name) name = "<memory>";
  if ((!bytes && size) || !out_desc || !out_data)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_npy_read_memory: NULL argument");
  npy_header_t h;
  const uint8_t *b = bytes ? bytes : (const uint8_t *)"";
  tirrt_status_t s = npy_parse(b, size, name, &h);
  if (s) return s;
  s = npy_extract(b + h.data_offset, NULL, &h, name, out_data);
  if (s) return s;
  *out_desc = h.desc;
  return NULL;
}

/* Reads a file in three bounded steps (prefix, dict, data) and checks that
 * it ends where the header says; see tirrt_reader_t.  Messages match the
 * in-memory reader's for the same bytes. */
static tirrt_status_t npy_read_file(tirrt_reader_t *r, npy_header_t *h,
                                    void **out_data) {
  const char *path = r->path;
  memset(h, 0, sizeof *h);
  uint8_t head[12] = {0};
  size_t got = 0, more = 0;
  tirrt_status_t s = tirrt_reader_read(r, head, 8, &got);
  /* The length field is 2 bytes in version 1.0, else 4. */
  if (!s && got == 8) s = tirrt_reader_read(r, head + 8, head[6] == 1 ? 2 : 4, &more);
  if (s) return s;
  got += more;
  bool short_file = got < (head[6] == 1 ? 10u : 12u);
  uint64_t total = short_file ? got : r->size >= 0 ? (uint64_t)r->size : NPY_UNKNOWN_SIZE;
  size_t prefix = 0;
  uint64_t hlen = 0;
  if ((s = npy_parse_prefix(head, got, total, path, &prefix, &hlen))) return s;
  void *dict = NULL;
  if ((s = tirrt_reader_read_header(r, hlen, &dict))) return s;
  s = npy_parse_header(dict, hlen, prefix, path, h);
  free(dict);
  if (s) return s;
  /* A regular file's size settles truncation and trailing bytes before
   * anything is allocated for the data. */
  if (r->size >= 0 && (s = npy_check_data_size(
                           h, (uint64_t)r->size - h->data_offset, path)))
    return s;
  void *data = NULL;
  size_t data_got = 0;
  if ((s = tirrt_reader_read_alloc(r, h->nbytes, &data, &data_got))) return s;
  int at_end = 0;
  if (data_got < h->nbytes) s = npy_check_data_size(h, data_got, path);
  else if (!(s = tirrt_reader_at_end(r, &at_end)) && !at_end)
    s = npy_check_data_size(h, UINT64_MAX, path); /* it grew, or a stream */
  if (s) {
    free(data);
    return s;
  }
  return npy_extract(data, data, h, path, out_data); /* takes `data` */
}

tirrt_status_t tirrt_npy_read(const char *path, tirrt_tensor_desc_t *out_desc,
                              void **out_data) {
  if (!path || !out_desc || !out_data)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_npy_read: NULL argument");
  tirrt_reader_t r;
  tirrt_status_t s = tirrt_reader_open(path, &r);
  if (s) return s;
  npy_header_t h;
  s = npy_read_file(&r, &h, out_data);
  tirrt_reader_close(&r);
  if (s) return s;
  *out_desc = h.desc;
  return NULL;
}

/* ---- writer ------------------------------------------------------------- */

/* Formats the header (magic through padding) into `buf` (cap bytes, enough
 * for any rank <= TIRRT_MAX_RANK) and returns its length. */
static size_t npy_format_header(const tirrt_tensor_desc_t *d, char *buf,
                                size_t cap) {
  char shape[TIRRT_SHAPE_STR_MAX + 4];
  size_t n = 0;
  shape[n++] = '(';
  for (int i = 0; i < d->rank; i++)
    n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%" PRId64,
                          i ? ", " : "", d->shape[i]);
  if (d->rank == 1) shape[n++] = ',';
  shape[n++] = ')';
  shape[n] = '\0';
  char dict[TIRRT_SHAPE_STR_MAX + 96];
  int dlen = snprintf(dict, sizeof dict,
                      "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      npy_descr_out[d->dtype], shape);
  assert(dlen > 0 && (size_t)dlen < sizeof dict);
  /* Version 1.0 has a 2-byte header length; fall back to 2.0 when the dict
   * cannot fit (it always fits for rank <= 16, but the rule is numpy's). */
  size_t prefix = 10;
  size_t total = (prefix + (size_t)dlen + 1 + 63) / 64 * 64;
  if (total - prefix > 0xFFFF) {
    prefix = 12;
    total = (prefix + (size_t)dlen + 1 + 63) / 64 * 64;
  }
  assert(total <= cap);
  (void)cap;
  size_t hlen = total - prefix;
  memcpy(buf, npy_magic, 6);
  buf[6] = prefix == 10 ? 1 : 2;
  buf[7] = 0;
  buf[8] = (char)(hlen & 0xFF);
  buf[9] = (char)(hlen >> 8 & 0xFF);
  if (prefix == 12) {
    buf[10] = (char)(hlen >> 16 & 0xFF);
    buf[11] = (char)(hlen >> 24 & 0xFF);
  }
  memcpy(buf + prefix, dict, (size_t)dlen);
  memset(buf + prefix + dlen, ' ', total - prefix - (size_t)dlen - 1);
  buf[total - 1] = '\n';
  return total;
}

#define NPY_HEADER_CAP 1024

static tirrt_status_t npy_check_write(const tirrt_tensor_desc_t *desc,
                                      const void *data, size_t *nbytes) {
  if (!desc)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "NULL tensor description");
  tirrt_status_t s = tirrt_tensor_desc_check(desc, NULL, nbytes);
  if (s) return s;
  if (!data && *nbytes)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "NULL data for a tensor of %zu bytes", *nbytes);
  return NULL;
}

tirrt_status_t tirrt_npy_write(const char *path, const tirrt_tensor_desc_t *desc,
                               const void *data) {
  if (!path)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_npy_write: NULL path");
  size_t nbytes;
  tirrt_status_t s = npy_check_write(desc, data, &nbytes);
  if (s) return tirrt_status_annotate(s, "%s", path);
  char header[NPY_HEADER_CAP];
  size_t hlen = npy_format_header(desc, header, sizeof header);
  const void *parts[2] = {header, data};
  size_t sizes[2] = {hlen, nbytes};
  return tirrt_write_file(path, 2, parts, sizes);
}

tirrt_status_t tirrt_npy_write_memory(const tirrt_tensor_desc_t *desc,
                                      const void *data, void **out_bytes,
                                      size_t *out_size) {
  if (!out_bytes || !out_size)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_npy_write_memory: NULL argument");
  size_t nbytes;
  tirrt_status_t s = npy_check_write(desc, data, &nbytes);
  if (s) return s;
  char header[NPY_HEADER_CAP];
  size_t hlen = npy_format_header(desc, header, sizeof header);
  if (nbytes > SIZE_MAX - hlen)
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "tensor too large for memory");
  uint8_t *buf = malloc(hlen + nbytes);
  if (!buf)
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "out of memory for a %zu-byte .npy image",
                             hlen + nbytes);
  memcpy(buf, header, hlen);
  if (nbytes) memcpy(buf + hlen, data, nbytes);
  *out_bytes = buf;
  *out_size = hlen + nbytes;
  return NULL;
}
