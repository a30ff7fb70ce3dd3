/* cpu_kernels.h — what the files of test_cpu_kernels share: the entry
 * point of each themed file, the argument shape most cases use, and the
 * operand spec of binary ops and matmul.  Everything else (checks, random
 * data, dtypes, guarded tensors, references) is test/lib. */
#ifndef TIRC_TEST_CPU_KERNELS_H
#define TIRC_TEST_CPU_KERNELS_H

#include "tirrt_cpu.h"
#include "tt_ref.h"

static const int64_t SH3[] = {3, 5, 7};

/* One operand: its rank, shape and layout (TT_LAY_*). */
typedef struct {
  int rank;
  const int64_t *shape;
  int lay;
} spec_t;

/* cpu_elementwise.c */
void test_unary(void);
void test_binary(void);
void test_where(void);
void test_cast(void);
/* cpu_reduce_norm.c */
void test_reduce(void);
void test_softmax(void);
void test_norms(void);
/* cpu_matmul_misc.c */
void test_matmul(void);
void test_linear(void);
void test_sources(void);
void test_tri(void);
void test_embedding(void);
void test_concat(void);

#endif
