/* io_safetensors.c — test_io: the .safetensors reader and writer (round
 * trips of every dtype, a hostile corpus, writer errors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_common.h"

/* ---- .safetensors ------------------------------------------------------- */

void test_st_roundtrip(void) {
  /* One tensor per (dtype, shape) pair, all in one file. */
  enum { N = TIRRT_DTYPE_COUNT * N_SHAPES };
  char *names[N];
  tirrt_tensor_desc_t descs[N];
  void *datas[N];
  for (int t = 0; t < TIRRT_DTYPE_COUNT; t++) {
    for (size_t si = 0; si < N_SHAPES; si++) {
      size_t i = (size_t)t * N_SHAPES + si;
      names[i] = malloc(32);
      /* Include characters JSON must escape. */
      snprintf(names[i], 32, "%s.\"s\\%zu", tirrt_dtype_name((tirrt_dtype_t)t), si);
      memset(&descs[i], 0, sizeof descs[i]);
      descs[i].dtype = (tirrt_dtype_t)t;
      descs[i].rank = shapes[si].rank;
      memcpy(descs[i].shape, shapes[si].shape, sizeof descs[i].shape);
      datas[i] = random_data(descs[i].dtype, nbytes_of(&descs[i]));
    }
  }
  void *img = NULL;
  size_t len = 0;
  EXPECT_OK(tirrt_safetensors_write_memory(N, (const char *const *)names, descs,
                                           (const void *const *)datas, &img,
                                           &len),
            "st write");
  if (img) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | ((uint8_t *)img)[i];
    CHECK_MSG(n % 8 == 0, "header padded to 8 (%llu)", (unsigned long long)n);
  }
  char path[300];
  path_in_tmp(path, sizeof path, "rt.safetensors");
  EXPECT_OK(tirrt_safetensors_write(path, N, (const char *const *)names, descs,
                                    (const void *const *)datas),
            "st write file");
  for (int pass = 0; pass < 2; pass++) {
    tirrt_safetensors_t *f = NULL;
    if (pass == 0)
      EXPECT_OK(tirrt_safetensors_open_memory(img, len, "rt", &f), "st open");
    else
      EXPECT_OK(tirrt_safetensors_open(path, &f), "st open file");
    if (!f) continue;
    CHECK_MSG(tirrt_safetensors_count(f) == N, "count");
    int ok_get = 1, ok_find = 1;
    for (size_t i = 0; i < N; i++) {
      const char *name = NULL;
      tirrt_tensor_desc_t d;
      const void *p = NULL;
      tirrt_status_t s = tirrt_safetensors_get(f, i, &name, &d, &p);
      ok_get &= !s && strcmp(name, names[i]) == 0 && same_desc(&d, &descs[i]) &&
                memcmp(p, datas[i], nbytes_of(&d)) == 0;
      tirrt_status_free(s);
      s = tirrt_safetensors_find(f, names[i], &d, &p);
      ok_find &= !s && same_desc(&d, &descs[i]) &&
                 memcmp(p, datas[i], nbytes_of(&d)) == 0;
      tirrt_status_free(s);
    }
    CHECK_MSG(ok_get, "st get round trip (pass %d)", pass);
    CHECK_MSG(ok_find, "st find round trip (pass %d)", pass);
    EXPECT_ERR(tirrt_safetensors_find(f, "nope", NULL, NULL),
               TIRRT_STATUS_NOT_FOUND, "no tensor named 'nope'", "find miss");
    EXPECT_ERR(tirrt_safetensors_get(f, N, NULL, NULL, NULL),
               TIRRT_STATUS_NOT_FOUND, "out of range", "get out of range");
    tirrt_safetensors_close(f);
  }
  free(img);
  for (size_t i = 0; i < N; i++) {
    free(names[i]);
    free(datas[i]);
  }

  /* An empty file (no tensors) round-trips too. */
  img = NULL;
  EXPECT_OK(tirrt_safetensors_write_memory(0, NULL, NULL, NULL, &img, &len),
            "st write empty");
  tirrt_safetensors_t *f = NULL;
  EXPECT_OK(tirrt_safetensors_open_memory(img, len, NULL, &f), "st open empty");
  CHECK_MSG(f && tirrt_safetensors_count(f) == 0, "empty count");
  tirrt_safetensors_close(f);
  free(img);

  /* Metadata, BOOL normalization and header padding written by others. */
  const char *json =
      "{\"__metadata__\":{\"format\":\"pt\",\"k\":\"v\"},"
      "\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]},"
      "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[3,3]}}    ";
  uint8_t bools[3] = {0, 7, 1};
  uint8_t *b = make_st(json, UINT64_MAX, bools, 3, &len);
  f = NULL;
  EXPECT_OK(tirrt_safetensors_open_memory(b, len, "meta", &f), "metadata");
  if (f) {
    const char *fmt = tirrt_safetensors_metadata(f, "format");
    CHECK_MSG(fmt && strcmp(fmt, "pt") == 0, "metadata value");
    CHECK_MSG(tirrt_safetensors_metadata(f, "nope") == NULL, "metadata miss");
    CHECK_MSG(tirrt_safetensors_count(f) == 2, "metadata is not a tensor");
    const uint8_t *p = NULL;
    tirrt_safetensors_find(f, "m", NULL, (const void **)&p);
    CHECK_MSG(p && p[0] == 0 && p[1] == 1 && p[2] == 1, "BOOL normalized");
  }
  tirrt_safetensors_close(f);
  free(b);
}

typedef struct {
  const char *json;
  size_t data_len;
  const char *needle;
} st_case_t;

void test_st_hostile(void) {
  static const st_case_t cases[] = {
      {"[1, 2]", 0, "not a JSON object (it must start with '{')"},
      {" {}", 0, "must start with '{'"},
      {"", 0, "must start with '{'"},
      {"{", 0, "not valid JSON"},
      {"{\"a\":}", 0, "not valid JSON"},
      {"{} x", 0, "text after the JSON object"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       8, "duplicate tensor name 'a'"},
      {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
       "\"data_offsets\":[0,4]}}",
       4, "tensor 'a': duplicate field 'dtype'"},
      {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
       "missing field 'shape'"},
      {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
       "missing field 'dtype'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
       "missing field 'data_offsets'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
       "\"x\":1}}",
       4, "unknown field 'x'"},
      {"{\"a\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
       "unsupported dtype 'U16'"},
      {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
       "unsupported dtype 'f32'"},
      {"{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
       "'dtype' is not a string"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
       "'shape' is not an array"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
       "'shape' entries must be integers"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
       "'shape' entries must be integers"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
       "non-integer number"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4,
       "non-integer number"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740993],"
       "\"data_offsets\":[0,4]}}",
       4, "[0, 2^53)"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
       "\"data_offsets\":[0,4]}}",
       4, "overflows int64"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
       "\"data_offsets\":[0,4]}}",
       4, "rank exceeds"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4,
       "data_offsets [0, 8] run past the end of the data (4 bytes)"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
       "begin is after end"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
       "array of two integers"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4,
       "array of two integers"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4,
       "'data_offsets' entries must be integers"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
       "tensor 'a': data_offsets [0, 20] do not match shape [2, 3] of F32 (24 "
       "bytes)"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
       12, "tensors 'a' [0, 8] and 'b' [4, 12] overlap"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
       8, "overlap"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
       12, "data bytes [4, 8) belong to no tensor"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9,
       "5 trailing bytes"},
      {"{\"a\":[1,[2,[3,[4,[5,[6,[7,[8,[9,[10,[11,[12,[13,[14,[15,[16,[17]]]]]]]]"
       "]]]]]]]]]}",
       0, "nested deeper than 16 levels"},
      {"{\"a\":5}", 0, "tensor 'a': entry is not a JSON object"},
      {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       4, "NUL character (\\u0000)"},
      {"{\"a\\\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,9]}}",
       4, "run past the end"}, /* an escaped backslash, not a NUL */
      {"{\"\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
       "not valid UTF-8"},
      {"{\"\xc0\x80\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       4, "not valid UTF-8"}, /* overlong NUL */
      {"{\"a\x01\":{}}", 0, "control byte 0x01 in a string"},
      {"{\"__metadata__\":[]}", 0, "'__metadata__' is not a JSON object"},
      {"{\"__metadata__\":{\"k\":1}}", 0,
       "'__metadata__' value for 'k' is not a string"},
      {"{\"__metadata__\":{},\"__metadata__\":{}}", 0,
       "duplicate key '__metadata__'"},
      {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0,
       "duplicate '__metadata__' key 'k'"},
      {"{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "is not a string"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}} {}", 4,
       "text after the JSON object"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}", 4,
       "not valid JSON"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}\x0c}", 4,
       "control byte 0x0c"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t *data = calloc(1, cases[i].data_len + 1);
    size_t len;
    uint8_t *b = make_st(cases[i].json, UINT64_MAX, data, cases[i].data_len,
                         &len);
    tirrt_safetensors_t *f = (tirrt_safetensors_t *)0x1;
    EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "bad.safetensors", &f),
               INVALID, cases[i].needle, cases[i].json);
    CHECK_MSG(f == (tirrt_safetensors_t *)0x1, "out untouched on error");
    free(b);
    free(data);
  }

  /* The message format promised in the brief, byte for byte. */
  {
    size_t len;
    uint8_t zeros[100] = {0};
    uint8_t *b = make_st(
        "{\"h.0.attn.bias\":{\"dtype\":\"F32\",\"shape\":[1,1,1024,1024],"
        "\"data_offsets\":[0,100]}}",
        UINT64_MAX, zeros, sizeof zeros, &len);
    tirrt_safetensors_t *f = NULL;
    tirrt_status_t s =
        tirrt_safetensors_open_memory(b, len, "model.safetensors", &f);
    CHECK_MSG(s && strcmp(tirrt_status_message(s),
                      "model.safetensors: tensor 'h.0.attn.bias': "
                      "data_offsets [0, 100] do not match shape "
                      "[1, 1, 1024, 1024] of F32 (4194304 bytes)") == 0,
          "exact message: %s", tirrt_status_message(s));
    tirrt_status_free(s);
    free(b);
  }

  /* Header length lies, deep nesting, NUL bytes, truncations. */
  const char *good_json =
      "{\"w\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
  size_t len;
  uint8_t *good = make_st(good_json, UINT64_MAX, "\1\0\2\0", 4, &len);
  tirrt_safetensors_t *f = NULL;
  EXPECT_OK(tirrt_safetensors_open_memory(good, len, "good", &f), "good st");
  tirrt_safetensors_close(f);
  uint8_t *b = make_st(good_json, len, "\1\0\2\0", 4, &len);
  EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "l", &f), INVALID,
             "truncated: header length", "length past the end");
  free(b);
  b = make_st(good_json, 200000000, "\1\0\2\0", 4, &len);
  EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "l", &f), INVALID,
             "exceeds the limit", "length over the cap");
  free(b);
  b = make_st(good_json, UINT64_MAX - 1, "\1\0\2\0", 4, &len);
  EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "l", &f), INVALID,
             "exceeds the limit", "length near 2^64");
  free(b);
  b = make_st(good_json, 10, "\1\0\2\0", 4, &len); /* cuts the JSON */
  EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "l", &f), INVALID,
             "not valid JSON", "length too short");
  free(b);
  b = make_st(good_json, UINT64_MAX, "\1\0\2\0", 4, &len);
  b[8 + 10] = '\0';
  EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "z", &f), INVALID,
             "control byte 0x00", "raw NUL in a string");
  b[8 + 10] = '"';
  b[8 + 5] = '\0';
  EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "z", &f), INVALID,
             "NUL byte 0x00", "raw NUL outside strings");
  free(b);
  {
    /* 100000 levels of nesting must not recurse. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 8);
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (size_t i = 0; i < depth; i++) deep[n++] = '[';
    for (size_t i = 0; i < depth; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    b = make_st(deep, UINT64_MAX, "", 0, &len);
    EXPECT_ERR(tirrt_safetensors_open_memory(b, len, "deep", &f), INVALID,
               "nested deeper", "deeply nested JSON");
    free(b);
    free(deep);
  }
  /* Every truncation of a valid file fails cleanly. */
  size_t good_len;
  free(good);
  good = make_st(good_json, UINT64_MAX, "\1\0\2\0", 4, &good_len);
  int all = 1;
  for (size_t n = 0; n < good_len; n++) {
    f = NULL;
    tirrt_status_t s = tirrt_safetensors_open_memory(good, n, "t", &f);
    all &= s != NULL && f == NULL &&
           strncmp(tirrt_status_message(s), "t: ", 3) == 0;
    tirrt_status_free(s);
  }
  CHECK_MSG(all, "every truncation of a valid .safetensors fails");
  free(good);

  /* Files: missing, a directory. */
  char path[300];
  path_in_tmp(path, sizeof path, "missing.safetensors");
  EXPECT_ERR(tirrt_safetensors_open(path, &f), TIRRT_STATUS_NOT_FOUND,
             "missing.safetensors: cannot open", "missing file");
  EXPECT_ERR(tirrt_safetensors_open(tmpdir, &f), INVALID, "is a directory",
             "directory");
}

void test_st_writer_errors(void) {
  float x[2] = {1, 2};
  tirrt_tensor_desc_t d[2] = {mkdesc(TIRRT_DTYPE_F32, 1, (int64_t)2),
                              mkdesc(TIRRT_DTYPE_F32, 1, (int64_t)2)};
  const void *datas[2] = {x, x};
  const char *dup[2] = {"a", "a"};
  void *img = NULL;
  size_t len;
  EXPECT_ERR(tirrt_safetensors_write_memory(2, dup, d, datas, &img, &len),
             INVALID, "duplicate tensor name 'a'", "writer duplicate");
  const char *meta[2] = {"a", "__metadata__"};
  EXPECT_ERR(tirrt_safetensors_write_memory(2, meta, d, datas, &img, &len),
             INVALID, "reserved", "writer __metadata__");
  const char *bad_utf8[1] = {"\xff"};
  EXPECT_ERR(tirrt_safetensors_write_memory(1, bad_utf8, d, datas, &img, &len),
             INVALID, "not valid UTF-8", "writer bad UTF-8");
  const char *ok[2] = {"a", "b"};
  const void *nulls[2] = {x, NULL};
  EXPECT_ERR(tirrt_safetensors_write_memory(2, ok, d, nulls, &img, &len),
             INVALID, "tensor 'b' has NULL data", "writer NULL data");
  d[1].shape[0] = -2;
  EXPECT_ERR(tirrt_safetensors_write_memory(2, ok, d, datas, &img, &len),
             INVALID, "tensor 'b': shape [-2] has a negative dimension",
             "writer bad shape");
  char path[300];
  path_in_tmp(path, sizeof path, "bad.safetensors");
  EXPECT_ERR(tirrt_safetensors_write(path, 2, ok, d, datas), INVALID,
             "bad.safetensors: safetensors writer", "writer names the file");
  struct stat st;
  CHECK_MSG(stat(path, &st) != 0, "no file left behind by a failed write");
  CHECK_MSG(img == NULL, "no image on failure");
}

