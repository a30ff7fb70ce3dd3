/* test_io.c — unit tests for the tirrt status API, tensor descriptions and
 * the .npy / .safetensors readers and writers: round trips of every dtype,
 * hand-built headers (npy 1.0/2.0/3.0, big-endian, Fortran order, bf16 as
 * '<V2'), and a hostile corpus generated here (truncations, lying lengths,
 * overflowing shapes, bad JSON, ...) that must each yield an error status
 * with a recognizable message.  The .safetensors cases are in
 * io_safetensors.c.  The last line is "N passed, M failed". */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_common.h"

/* Consumes `s`; checks it is OK. */
void expect_ok_at(tirrt_status_t s, const char *what, int line) {
  if (!s) {
    tt_passed++;
    return;
  }
  tt_failed++;
  printf("FAIL line %d: %s: unexpected error [%s] %s\n", line, what,
          tirrt_status_code_name(tirrt_status_code(s)),
          tirrt_status_message(s));
  tirrt_status_free(s);
}

/* Consumes `s`; checks it is an error with `code` whose message contains
 * `needle`. */
void expect_err_at(tirrt_status_t s, tirrt_status_code_t code,
                          const char *needle, const char *what, int line) {
  if (!s) {
    tt_failed++;
    printf("FAIL line %d: %s: expected an error containing '%s'\n",
            line, what, needle);
    return;
  }
  const char *msg = tirrt_status_message(s);
  if (tirrt_status_code(s) == code && strstr(msg, needle)) {
    tt_passed++;
  } else {
    tt_failed++;
    printf("FAIL line %d: %s: got [%s] '%s', want [%s] '...%s...'\n",
            line, what, tirrt_status_code_name(tirrt_status_code(s)), msg,
            tirrt_status_code_name(code), needle);
  }
  tirrt_status_free(s);
}

/* ---- helpers ------------------------------------------------------------ */

void *random_data(tirrt_dtype_t t, size_t nbytes) {
  uint8_t *p = malloc(nbytes ? nbytes : 1);
  for (size_t i = 0; i < nbytes; i++)
    p[i] = t == TIRRT_DTYPE_BOOL ? (uint8_t)(tt_rng_u64() & 1) : (uint8_t)tt_rng_u64();
  return p;
}

tirrt_tensor_desc_t mkdesc(tirrt_dtype_t t, int rank, ...) {
  tirrt_tensor_desc_t d;
  memset(&d, 0, sizeof d);
  d.dtype = t;
  d.rank = rank;
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) d.shape[i] = va_arg(ap, int64_t);
  va_end(ap);
  return d;
}

int same_desc(const tirrt_tensor_desc_t *a, const tirrt_tensor_desc_t *b) {
  if (a->dtype != b->dtype || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

size_t nbytes_of(const tirrt_tensor_desc_t *d) {
  size_t n = 0;
  tirrt_status_t s = tirrt_tensor_desc_check(d, NULL, &n);
  tirrt_status_free(s);
  return n;
}

/* A .npy image from a major version, a header dict and data bytes.  The
 * dict is padded with spaces and a newline to 64 bytes like numpy does. */
uint8_t *make_npy(int major, const char *dict, const void *data,
                         size_t data_len, size_t *out_len) {
  size_t prefix = major == 1 ? 10 : 12;
  size_t dlen = strlen(dict);
  size_t total = (prefix + dlen + 1 + 63) / 64 * 64;
  size_t hlen = total - prefix;
  uint8_t *b = malloc(total + data_len + 1);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (uint8_t)major;
  b[7] = 0;
  for (size_t i = 0; i < prefix - 8; i++) b[8 + i] = (uint8_t)(hlen >> (8 * i));
  memcpy(b + prefix, dict, dlen);
  memset(b + prefix + dlen, ' ', hlen - dlen - 1);
  b[total - 1] = '\n';
  if (data_len) memcpy(b + total, data, data_len);
  *out_len = total + data_len;
  return b;
}

/* A .safetensors image: the header length field is `n_override` unless it
 * is UINT64_MAX, in which case it is strlen(json). */
uint8_t *make_st(const char *json, uint64_t n_override, const void *data,
                        size_t data_len, size_t *out_len) {
  size_t jlen = strlen(json);
  uint64_t n = n_override == UINT64_MAX ? jlen : n_override;
  uint8_t *b = malloc(8 + jlen + data_len + 1);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
  memcpy(b + 8, json, jlen);
  if (data_len) memcpy(b + 8 + jlen, data, data_len);
  *out_len = 8 + jlen + data_len;
  return b;
}

/* True if `needle` occurs in the `len` bytes at `hay`. */
int contains(const void *hay, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp((const char *)hay + i, needle, n) == 0) return 1;
  return 0;
}

char tmpdir[256];

void path_in_tmp(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmpdir, name);
}


/* ---- status, dtypes, descriptions ---------------------------------------- */

static void test_status_and_dtypes(void) {
  CHECK_MSG(tirrt_status_code(NULL) == TIRRT_STATUS_OK, "NULL is OK");
  CHECK_MSG(strcmp(tirrt_status_message(NULL), "OK") == 0, "NULL message");
  tirrt_status_free(NULL);
  CHECK_MSG(tirrt_status_annotate(NULL, "x") == NULL, "annotate NULL");

  static const char *names[] = {"bool", "i8",  "i16",  "i32", "i64",
                                "u8",   "f16", "bf16", "f32", "f64"};
  static const size_t sizes[] = {1, 1, 2, 4, 8, 1, 2, 2, 4, 8};
  for (int t = 0; t < TIRRT_DTYPE_COUNT; t++) {
    CHECK_MSG(strcmp(tirrt_dtype_name((tirrt_dtype_t)t), names[t]) == 0,
          "dtype name %d", t);
    CHECK_MSG(tirrt_dtype_size((tirrt_dtype_t)t) == sizes[t], "dtype size %d", t);
    tirrt_dtype_t back = TIRRT_DTYPE_COUNT;
    EXPECT_OK(tirrt_dtype_from_name(names[t], &back), "dtype_from_name");
    CHECK_MSG(back == (tirrt_dtype_t)t, "dtype_from_name %s", names[t]);
  }
  CHECK_MSG(tirrt_dtype_size(TIRRT_DTYPE_COUNT) == 0, "invalid dtype size");
  CHECK_MSG(strcmp(tirrt_dtype_name((tirrt_dtype_t)-1), "?") == 0, "bad name");
  tirrt_dtype_t t;
  tirrt_status_t s = tirrt_dtype_from_name("float", &t);
  s = tirrt_status_annotate(s, "binding %s", "x");
  EXPECT_ERR(s, TIRRT_STATUS_NOT_FOUND, "binding x: unknown dtype 'float'",
             "annotate keeps code and prefixes");

  tirrt_tensor_desc_t d = mkdesc(TIRRT_DTYPE_F32, 2, (int64_t)3, (int64_t)5);
  int64_t numel = 0;
  size_t nb = 0;
  EXPECT_OK(tirrt_tensor_desc_check(&d, &numel, &nb), "desc check");
  CHECK_MSG(numel == 15 && nb == 60, "numel %lld nbytes %zu", (long long)numel, nb);
  char buf[64];
  tirrt_tensor_desc_format(&d, buf, sizeof buf);
  CHECK_MSG(strcmp(buf, "f32[3, 5]") == 0, "format '%s'", buf);
  d = mkdesc(TIRRT_DTYPE_F32, 0);
  EXPECT_OK(tirrt_tensor_desc_check(&d, &numel, &nb), "scalar");
  CHECK_MSG(numel == 1 && nb == 4, "scalar numel");
  tirrt_tensor_desc_format(&d, buf, sizeof buf);
  CHECK_MSG(strcmp(buf, "f32[]") == 0, "format '%s'", buf);

  d = mkdesc(TIRRT_DTYPE_F32, 2, (int64_t)1 << 30, (int64_t)1 << 30);
  EXPECT_OK(tirrt_tensor_desc_check(&d, &numel, NULL), "2^62 bytes fits");
  d = mkdesc(TIRRT_DTYPE_F64, 2, (int64_t)1 << 30, (int64_t)1 << 30);
  EXPECT_ERR(tirrt_tensor_desc_check(&d, NULL, NULL), INVALID, "overflows",
             "2^63 bytes");
  d = mkdesc(TIRRT_DTYPE_I8, 3, (int64_t)1 << 40, (int64_t)0, (int64_t)1 << 40);
  EXPECT_ERR(tirrt_tensor_desc_check(&d, NULL, NULL), INVALID, "overflows",
             "zero dim does not hide an overflowing stride");
  d = mkdesc(TIRRT_DTYPE_I8, 2, (int64_t)4, (int64_t)-1);
  EXPECT_ERR(tirrt_tensor_desc_check(&d, NULL, NULL), INVALID, "negative",
             "negative dim");
  d = mkdesc(TIRRT_DTYPE_I8, 0);
  d.rank = 17;
  EXPECT_ERR(tirrt_tensor_desc_check(&d, NULL, NULL), INVALID, "rank 17",
             "rank 17");
  d.rank = 0;
  d.dtype = (tirrt_dtype_t)42;
  EXPECT_ERR(tirrt_tensor_desc_check(&d, NULL, NULL), INVALID, "dtype",
             "bad dtype");
}

/* ---- .npy --------------------------------------------------------------- */

static void test_npy_roundtrip(void) {
  for (int t = 0; t < TIRRT_DTYPE_COUNT; t++) {
    for (size_t si = 0; si < N_SHAPES; si++) {
      tirrt_tensor_desc_t d;
      memset(&d, 0, sizeof d);
      d.dtype = (tirrt_dtype_t)t;
      d.rank = shapes[si].rank;
      memcpy(d.shape, shapes[si].shape, sizeof d.shape);
      size_t nb = nbytes_of(&d);
      void *data = random_data(d.dtype, nb);

      void *img = NULL;
      size_t len = 0;
      EXPECT_OK(tirrt_npy_write_memory(&d, data, &img, &len), "npy write");
      if (img) {
        const uint8_t *b = img;
        size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
        CHECK_MSG(b[6] == 1 && b[7] == 0 && (10 + hl) % 64 == 0 &&
                  b[10 + hl - 1] == '\n' && len == 10 + hl + nb,
              "npy header layout dtype %d shape %zu", t, si);
      }
      tirrt_tensor_desc_t got;
      void *out = NULL;
      EXPECT_OK(tirrt_npy_read_memory(img, len, "rt.npy", &got, &out),
                "npy read");
      CHECK_MSG(out && same_desc(&d, &got) && memcmp(out, data, nb) == 0,
            "npy round trip dtype %d shape %zu", t, si);
      free(out);
      out = NULL;

      char path[300];
      path_in_tmp(path, sizeof path, "rt.npy");
      EXPECT_OK(tirrt_npy_write(path, &d, data), "npy write file");
      EXPECT_OK(tirrt_npy_read(path, &got, &out), "npy read file");
      CHECK_MSG(out && same_desc(&d, &got) && memcmp(out, data, nb) == 0,
            "npy file round trip dtype %d shape %zu", t, si);
      free(out);
      free(img);
      free(data);
    }
  }
}

static void test_npy_headers(void) {
  /* Versions 2.0 and 3.0 (4-byte header length), and numpy's own spacing. */
  int32_t v[6] = {1, -2, 3, -4, 5, -6};
  const char *dicts[] = {
      "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
      "{\"descr\":\"<i4\",\"fortran_order\":False,\"shape\":(2,3)}",
      "{'shape': (2, 3,), 'fortran_order': False, 'descr': '<i4'}",
      "  {  'descr' : '<i4' ,\n 'fortran_order' : False , 'shape' : ( 2 , 3 ) } ",
      "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }",
  };
  for (int major = 1; major <= 3; major++) {
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
      size_t len;
      uint8_t *b = make_npy(major, dicts[i], v, sizeof v, &len);
      tirrt_tensor_desc_t d;
      void *out = NULL;
      EXPECT_OK(tirrt_npy_read_memory(b, len, "h.npy", &d, &out), dicts[i]);
      CHECK_MSG(out && d.dtype == TIRRT_DTYPE_I32 && d.rank == 2 &&
                d.shape[0] == 2 && d.shape[1] == 3 &&
                memcmp(out, v, sizeof v) == 0,
            "npy v%d dict %zu", major, i);
      free(out);
      free(b);
    }
  }

  /* Big-endian data is byte-swapped. */
  {
    uint8_t be[8] = {0x01, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0xFF, 0xFE};
    size_t len;
    uint8_t *b = make_npy(
        1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", be,
        sizeof be, &len);
    tirrt_tensor_desc_t d;
    void *out = NULL;
    EXPECT_OK(tirrt_npy_read_memory(b, len, "be.npy", &d, &out), "big-endian");
    int32_t *o = out;
    CHECK_MSG(o && o[0] == 0x01020304 && o[1] == -2, "big-endian i4 values");
    free(out);
    free(b);
    double x = -1.5;
    uint8_t xb[8];
    uint64_t bits;
    memcpy(&bits, &x, 8);
    for (int i = 0; i < 8; i++) xb[i] = (uint8_t)(bits >> (56 - 8 * i));
    b = make_npy(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (), }",
                 xb, 8, &len);
    out = NULL;
    EXPECT_OK(tirrt_npy_read_memory(b, len, "be.npy", &d, &out), "big f8");
    CHECK_MSG(out && d.rank == 0 && *(double *)out == -1.5, "big-endian f8");
    free(out);
    free(b);
    uint8_t h[4] = {0x3C, 0x00, 0xC0, 0x00}; /* f16 1.0, -2.0 */
    b = make_npy(1, "{'descr': '>f2', 'fortran_order': False, 'shape': (2,), }",
                 h, 4, &len);
    out = NULL;
    EXPECT_OK(tirrt_npy_read_memory(b, len, "be.npy", &d, &out), "big f2");
    uint16_t *hh = out;
    CHECK_MSG(hh && d.dtype == TIRRT_DTYPE_F16 && hh[0] == 0x3C00 &&
              hh[1] == 0xC000,
          "big-endian f2");
    free(out);
    free(b);
  }

  /* Fortran order is transposed to C order. */
  {
    /* C-order value at (i, j, k) of shape (2, 3, 4) is 100i + 10j + k. */
    int16_t f[24];
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++) f[i + 2 * j + 6 * k] = (int16_t)(100 * i + 10 * j + k);
    size_t len;
    uint8_t *b = make_npy(
        1, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3, 4), }", f,
        sizeof f, &len);
    tirrt_tensor_desc_t d;
    void *out = NULL;
    EXPECT_OK(tirrt_npy_read_memory(b, len, "f.npy", &d, &out), "fortran");
    int ok = out != NULL;
    for (int i = 0; ok && i < 2; i++)
      for (int j = 0; j < 3; j++)
        for (int k = 0; k < 4; k++)
          ok &= ((int16_t *)out)[12 * i + 4 * j + k] == 100 * i + 10 * j + k;
    CHECK_MSG(ok, "fortran (2,3,4) transposed to C order");
    free(out);
    free(b);
    /* Big-endian and Fortran at once, through a file: [[1, 2], [3, 4]]
     * stored column by column as big-endian i4. */
    uint8_t fb[16] = {0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4};
    b = make_npy(2, "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 2), }",
                 fb, sizeof fb, &len);
    char path[300];
    path_in_tmp(path, sizeof path, "fortran.npy");
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, len, fp);
    fclose(fp);
    out = NULL;
    EXPECT_OK(tirrt_npy_read(path, &d, &out), "fortran big-endian file");
    int32_t *o = out;
    CHECK_MSG(o && o[0] == 1 && o[1] == 2 && o[2] == 3 && o[3] == 4,
          "fortran + big-endian (2,2)");
    free(out);
    free(b);
  }

  /* bf16: '<V2' and '|V2' read as bf16, written as '<V2'. */
  {
    uint16_t bf[3] = {0x3F80, 0xC000, 0x7FC0};
    const char *ok_dicts[] = {
        "{'descr': '<V2', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '|V2', 'fortran_order': False, 'shape': (3,), }"};
    for (int i = 0; i < 2; i++) {
      size_t len;
      uint8_t *b = make_npy(1, ok_dicts[i], bf, sizeof bf, &len);
      tirrt_tensor_desc_t d;
      void *out = NULL;
      EXPECT_OK(tirrt_npy_read_memory(b, len, "bf.npy", &d, &out), "V2");
      CHECK_MSG(out && d.dtype == TIRRT_DTYPE_BF16 && memcmp(out, bf, 6) == 0,
            "V2 reads as bf16");
      free(out);
      free(b);
    }
    tirrt_tensor_desc_t d = mkdesc(TIRRT_DTYPE_BF16, 1, (int64_t)3);
    void *img = NULL;
    size_t len = 0;
    EXPECT_OK(tirrt_npy_write_memory(&d, bf, &img, &len), "write bf16");
    CHECK_MSG(img && contains(img, len, "'descr': '<V2'"),
          "bf16 written as <V2");
    free(img);
  }

  /* Bool bytes other than 0 read as 1. */
  {
    uint8_t bb[4] = {0, 1, 2, 255};
    size_t len;
    uint8_t *b = make_npy(
        1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", bb, 4,
        &len);
    tirrt_tensor_desc_t d;
    void *out = NULL;
    EXPECT_OK(tirrt_npy_read_memory(b, len, "b.npy", &d, &out), "bool");
    uint8_t want[4] = {0, 1, 1, 1};
    CHECK_MSG(out && memcmp(out, want, 4) == 0, "bool normalized");
    free(out);
    free(b);
  }
}

typedef struct {
  const char *dict; /* NULL: `raw` is the whole file */
  size_t data_len;
  const char *needle;
} npy_case_t;

static void test_npy_hostile(void) {
  static const npy_case_t cases[] = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20,
       "truncated: header promises 24 bytes of data, file has 20"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 25,
       "trailing bytes: header promises 24 bytes of data, file has 25"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8,
       "unsupported dtype: descr '<c8'"},
      {"{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }", 4,
       "unsupported dtype"},
      {"{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", 4,
       "unsupported dtype"},
      {"{'descr': '>V2', 'fortran_order': False, 'shape': (1,), }", 2,
       "unsupported dtype"},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8,
       "object arrays"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", 4,
       "structured dtypes"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (1,)}",
       4, "duplicate key 'shape'"},
      {"{'descr': '<f4', 'shape': (1,), }", 4, "missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False}", 4, "missing key 'shape'"},
      {"{'fortran_order': False, 'shape': (1,)}", 4, "missing key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4,
       "unknown key 'x'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3)}", 12,
       "must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [3]}", 12,
       "must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}", 0,
       "negative dimension"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
       0, "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
       0, "overflows int64"},
      {"{'descr': '|u1', 'fortran_order': False, 'shape': (3037000500, 3037000500)}",
       0, "overflows int64"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': "
       "(1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}",
       4, "rank exceeds"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}", 4,
       "True or False"},
      {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,)}", 4,
       "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4,
       "unexpected text after the header dict"},
      {"['descr', '<f4']", 4, "not a dict"},
      {"", 4, "not a dict"},
      {"{'descr: '<f4', 'fortran_order': False, 'shape': (1,)}", 4,
       "unknown key 'descr: '"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", 4,
       "unsupported dtype: descr '<f4, '"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (03,)}", 12,
       "leading zero"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}", 12,
       "must be integers"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}", 4,
       "expected a dimension"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}", 4,
       "expected ',' or '}'"},
      {"{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}", 4,
       "unsupported character"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4,
       "expected ',' or '}'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t *data = calloc(1, cases[i].data_len + 1);
    size_t len;
    uint8_t *b = make_npy(1, cases[i].dict, data, cases[i].data_len, &len);
    tirrt_tensor_desc_t d;
    void *out = (void *)0x1;
    EXPECT_ERR(tirrt_npy_read_memory(b, len, "bad.npy", &d, &out), INVALID,
               cases[i].needle, cases[i].dict);
    CHECK_MSG(out == (void *)0x1, "out untouched on error");
    free(b);
    free(data);
  }

  /* Raw images: magic, versions, header lengths, NUL bytes. */
  size_t len;
  uint8_t *good = make_npy(
      1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }",
      "\1\0\2\0\3\0", 6, &len);
  tirrt_tensor_desc_t d;
  void *out = NULL;
  EXPECT_OK(tirrt_npy_read_memory(good, len, "good.npy", &d, &out), "good");
  free(out);
  uint8_t *b = malloc(len);

  memcpy(b, good, len);
  b[1] = 'n';
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "m.npy", &d, &out), INVALID,
             "m.npy: not a .npy file (bad magic)", "bad magic");
  memcpy(b, good, len);
  b[6] = 4;
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "v.npy", &d, &out), INVALID,
             "unsupported .npy format version 4.0", "version 4");
  memcpy(b, good, len);
  b[7] = 1;
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "v.npy", &d, &out), INVALID,
             "version 1.1", "version 1.1");
  memcpy(b, good, len);
  b[6] = 0;
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "v.npy", &d, &out), INVALID,
             "version 0.0", "version 0");
  memcpy(b, good, len);
  b[8] = 0xFF;
  b[9] = 0xFF;
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "l.npy", &d, &out), INVALID,
             "header length 65535 runs past the end", "lying header length");
  memcpy(b, good, len);
  b[8] = 20; /* shorter than the dict: cuts it */
  b[9] = 0;
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "l.npy", &d, &out), INVALID,
             "malformed", "short header length");
  memcpy(b, good, len);
  b[6] = 2; /* reads bytes 8..11 as the length: huge */
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "l.npy", &d, &out), INVALID,
             "runs past the end", "v2 lying length");
  memcpy(b, good, len);
  b[20] = '\0'; /* a NUL inside the dict */
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "z.npy", &d, &out), INVALID,
             "malformed", "NUL byte in header");
  memcpy(b, good, len);
  b[len - 8] = '\0'; /* a NUL in the padding */
  EXPECT_ERR(tirrt_npy_read_memory(b, len, "z.npy", &d, &out), INVALID,
             "unexpected text", "NUL byte in padding");

  /* Every truncation of a valid file fails cleanly. */
  int all = 1;
  for (size_t n = 0; n < len; n++) {
    tirrt_status_t s = tirrt_npy_read_memory(good, n, "t.npy", &d, &out);
    all &= s != NULL && strstr(tirrt_status_message(s), "t.npy: ") != NULL;
    tirrt_status_free(s);
  }
  CHECK_MSG(all, "every truncation of a valid .npy fails");
  EXPECT_ERR(tirrt_npy_read_memory(NULL, 0, NULL, &d, &out), INVALID,
             "<memory>: truncated", "empty image");
  free(b);
  free(good);

  /* Files: missing, a directory, writing to a missing directory. */
  char path[300];
  path_in_tmp(path, sizeof path, "missing.npy");
  EXPECT_ERR(tirrt_npy_read(path, &d, &out), TIRRT_STATUS_NOT_FOUND,
             "missing.npy: cannot open", "missing file");
  EXPECT_ERR(tirrt_npy_read(tmpdir, &d, &out), INVALID, "is a directory",
             "directory");
  path_in_tmp(path, sizeof path, "no/such/dir/x.npy");
  tirrt_tensor_desc_t sd = mkdesc(TIRRT_DTYPE_F32, 0);
  float one = 1.0f;
  EXPECT_ERR(tirrt_npy_write(path, &sd, &one), TIRRT_STATUS_NOT_FOUND,
             "cannot create", "write into a missing directory");
  sd.shape[0] = -1;
  sd.rank = 1;
  EXPECT_ERR(tirrt_npy_write(path, &sd, &one), INVALID, "negative",
             "write with a bad shape");
  sd = mkdesc(TIRRT_DTYPE_F32, 1, (int64_t)2);
  EXPECT_ERR(tirrt_npy_write_memory(&sd, NULL, &out, &len), INVALID,
             "NULL data", "write NULL data");
}

int main(int argc, char **argv) {
  tt_seed("test_io", argc, argv, false, 0x9E3779B97F4A7C15ull);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tirrt_test_io.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_status_and_dtypes();
  test_npy_roundtrip();
  test_npy_headers();
  test_npy_hostile();
  test_st_roundtrip();
  test_st_hostile();
  test_st_writer_errors();

  /* Clean up the scratch directory (only the files this test writes). */
  const char *files[] = {"rt.npy", "fortran.npy", "rt.safetensors"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[300];
    path_in_tmp(path, sizeof path, files[i]);
    unlink(path);
  }
  rmdir(tmpdir);

  return CHECK_SUMMARY();
}

