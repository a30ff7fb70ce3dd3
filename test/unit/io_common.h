/* io_common.h — what the files of test_io share: status expectations
 * with a status code, builders of hand-made .npy / .safetensors images,
 * the scratch directory and the round-trip shapes. */
#ifndef TIRC_TEST_IO_COMMON_H
#define TIRC_TEST_IO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "tirrt.h"
#include "tt.h"

/* Consume `s`: it is OK / an error with `code` whose message contains
 * `needle`; one counted check each. */
void expect_ok_at(tirrt_status_t s, const char *what, int line);
void expect_err_at(tirrt_status_t s, tirrt_status_code_t code, const char *needle, const char *what, int line);
#define EXPECT_OK(s, what) expect_ok_at((s), (what), __LINE__)
#define EXPECT_ERR(s, code, needle, what) \
  expect_err_at((s), (code), (needle), (what), __LINE__)
#define INVALID TIRRT_STATUS_INVALID_ARGUMENT

void *random_data(tirrt_dtype_t t, size_t nbytes);
tirrt_tensor_desc_t mkdesc(tirrt_dtype_t t, int rank, ...);
int same_desc(const tirrt_tensor_desc_t *a, const tirrt_tensor_desc_t *b);
size_t nbytes_of(const tirrt_tensor_desc_t *d);
uint8_t *make_npy(int major, const char *dict, const void *data,
                         size_t data_len, size_t *out_len);
uint8_t *make_st(const char *json, uint64_t n_override, const void *data,
                        size_t data_len, size_t *out_len);
int contains(const void *hay, size_t len, const char *needle);
void path_in_tmp(char *buf, size_t n, const char *name);

extern char tmpdir[256];

/* The shapes every dtype is round-tripped through. */
typedef struct {
  int rank;
  int64_t shape[TIRRT_MAX_RANK];
} shape_t;
static const shape_t shapes[] = {
    {0, {0}},          {1, {0}},          {1, {1}},
    {1, {7}},          {2, {3, 5}},       {3, {2, 0, 3}},
    {3, {1, 1, 1}},    {4, {2, 3, 1, 5}}, {2, {13, 1}},
    {5, {1, 2, 1, 3, 1}},
    {16, {1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 3, 1, 1, 1, 1, 2}},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

/* io_safetensors.c */
void test_st_roundtrip(void);
void test_st_hostile(void);
void test_st_writer_errors(void);

#endif
