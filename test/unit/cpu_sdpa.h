/* cpu_sdpa.h — what the two files of test_cpu_sdpa share: padded and
 * permuted test tensors over runtime views, with the gap sentinel that
 * tells a write outside the view. */
#ifndef TIRC_TEST_CPU_SDPA_H
#define TIRC_TEST_CPU_SDPA_H

#include <stdbool.h>

#include "tirrt_cpu.h"
#include "tt_ref.h"

typedef struct {
  tirrt_view_t v;
  void *buf;
  size_t nbytes;
} tens_t;

tens_t tens_make(tirrt_dtype_t dt, int rank, const int64_t *shape, const int *perm, int pad);
void tens_free(tens_t *t);
int64_t numel_of(const tirrt_view_t *v);
void poison(const tirrt_view_t *v);
bool gaps_intact(const tens_t *t);

/* cpu_sdpa_dropout.c */
void test_philox(void);
void test_dropout_kernel(uint64_t seed);
void test_sdpa_dropout(uint64_t seed);

#endif
