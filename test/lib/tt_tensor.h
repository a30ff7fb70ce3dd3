/* tt_tensor.h — dtypes, tolerances, comparisons and guarded strided
 * tensors for the C tests (test/lib, target tirc_testlib).
 *
 * Elements of every tirrt dtype are loaded and stored as long double,
 * decoded here independently of the runtime (f16/bf16 by ldexp of the bit
 * fields, encoded by binary search over the ordered bit patterns): long
 * double holds every int64 exactly on x86-64, so one path serves the exact
 * integer checks and the float64 references.  Tensors are host buffers
 * with guard bytes around them; every layout the kernels must handle
 * (contiguous, transposed, sliced, expanded, swapped) is one enum away, and
 * the storage is a plain byte buffer a GPU test can copy to the device. */
#ifndef TIRC_TEST_TT_TENSOR_H
#define TIRC_TEST_TT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "tirrt_cpu.h"
#include "tt.h"

/* ------------------------------------------------------------ dtypes */

extern const tirrt_dtype_t TT_ALL[10];   /* every dtype */
extern const tirrt_dtype_t TT_FLOATS[4]; /* f16 bf16 f32 f64 */
extern const tirrt_dtype_t TT_INTS[5];   /* i8 i16 i32 i64 u8 */

bool tt_is_float(tirrt_dtype_t dt);
const char *tt_dtype_name(tirrt_dtype_t dt);
size_t tt_dtype_size(tirrt_dtype_t dt);

/* The bound on ||out - ref|| / ||ref|| for a float result of dtype dt
 * against a reference computed exactly (or in f64) from the same inputs;
 * 0 for integers and bool, which must match exactly.  One table for all
 * tests; the derivation is at its definition. */
double tt_tol(tirrt_dtype_t dt);

long double tt_half_decode(uint16_t h);
long double tt_bf16_decode(uint16_t b);
/* Round to nearest even; x beyond the largest finite value rounds to inf
 * at the IEEE point (max + half an ulp). */
uint16_t tt_half_encode(long double x);
uint16_t tt_bf16_encode(long double x);
/* The value of the positive f16 (bf16 when bf) pattern p, the inf pattern
 * standing for max + ulp: the midpoints between neighbours follow. */
long double tt_narrow_value(bool bf, unsigned p);

/* Element load/store of any dtype.  tt_store takes x already in range for
 * integer dtypes (it truncates); bool stores x != 0. */
long double tt_load(tirrt_dtype_t dt, const void *p);
void tt_store(tirrt_dtype_t dt, void *p, long double x);

/* The representable range of an integer dtype (bool: 0..1). */
void tt_int_range(tirrt_dtype_t dt, long double *lo, long double *hi);
/* Whether long double keeps 64 mantissa bits (false under valgrind, whose
 * x87 emulation has 53): int64 references beyond 2^53 are exact only then. */
bool tt_ld64(void);
/* The range random integers of dt are drawn from: tt_int_range, but
 * int64 within +-2^53 where long double keeps only 53 bits (valgrind's
 * x87 emulation), so references stay exact. */
void tt_rand_range(tirrt_dtype_t dt, long double *lo, long double *hi);
/* An int64 wrapped to dt's width (two's complement). */
int64_t tt_wrap_to(tirrt_dtype_t dt, int64_t v);
/* The exact value converting exact value x of dtype src to dst gives
 * (tirrt_cpu_copy's documented rules: floats round to nearest even, float
 * to int truncates and saturates with NaN -> 0, int to int wraps). */
long double tt_convert(long double x, tirrt_dtype_t src, tirrt_dtype_t dst);

/* Fills n contiguous elements at p with fresh random data, never 0 (so an
 * unwritten or zeroed output cannot pass): floats uniform in [lo, hi)
 * rounded to dt, redrawn when that gives 0; integers uniform in [lo, hi]
 * clipped to dt, redrawn on 0 when the range holds anything else; bool
 * 0/1 (a mask), since a bool without 0 would test nothing. */
void tt_fill(tirrt_dtype_t dt, void *p, int64_t n, double lo, double hi);

/* ||out - ref|| / ||ref|| over n doubles (||out - ref|| when ref is 0),
 * skipping positions where both are the same NaN/inf class; a NaN or inf
 * mismatch gives +inf and *bad (when not NULL) its index, else -1. */
double tt_rel_l2(const double *out, const double *ref, int64_t n, int64_t *bad);
/* CHECKs tt_rel_l2(out, ref, n) <= bound, reporting the error, the bound
 * and the first mismatching element under `label`. */
bool tt_check_close_at(const char *file, int line, const char *label, const double *out,
                       const double *ref, int64_t n, double bound);
#define CHECK_CLOSE(label, out, ref, n, bound) \
  tt_check_close_at(__FILE__, __LINE__, label, out, ref, n, bound)

/* ------------------------------------------------------------ statuses */

/* Consume s.  tt_expect_ok: true when s is OK, else a failed check with
 * its message.  tt_expect_error: a check that s is an error whose message
 * contains needle. */
bool tt_expect_ok(tirrt_status_t s, const char *label);
void tt_expect_error(tirrt_status_t s, const char *needle, const char *label);

/* ------------------------------------------------------------ guarded tensors */

/* contiguous, all dims reversed (column-major), a slice with an offset and
 * a step of 2 in the last dim, expanded (even dims have stride 0), and the
 * last two dims swapped (a transposed matrix: BLAS's Trans case). */
enum { TT_LAY_C, TT_LAY_T, TT_LAY_P, TT_LAY_E, TT_LAY_S, TT_NLAY };
extern const char *const tt_lay_name[TT_NLAY];
enum { TT_GUARD = 64 };

typedef struct {
  tirrt_view_t v;
  unsigned char *mem;  /* TT_GUARD + storage + TT_GUARD */
  unsigned char *snap; /* storage right after poisoning */
  size_t nbytes;       /* storage bytes */
} tt_t;

unsigned char *tt_storage(const tt_t *t);
tt_t tt_make(tirrt_dtype_t dt, int rank, const int64_t *shape, int lay);
void tt_free(tt_t *t);
/* Fills the whole storage: floats uniform in [lo, hi], integers uniform in
 * [lo, hi] clipped to the dtype, bool 0/1. */
void tt_rand(tt_t *t, double lo, double hi);
/* NaN in every float element, 0xAB bytes otherwise; remembered, so
 * tt_outside_ok can tell a write outside the view. */
void tt_poison(tt_t *t);

int64_t tt_numel(int rank, const int64_t *shape);
void tt_unravel(int64_t lin, int rank, const int64_t *shape, int64_t *idx);
/* The element of t at index idx of a rank-`rank` shape t broadcasts to. */
unsigned char *tt_ptr(const tt_t *t, int rank, const int64_t *idx);
long double tt_at(const tt_t *t, int rank, const int64_t *idx);
/* Element `lin` (row-major) of t's own shape. */
long double tt_lin(const tt_t *t, int64_t lin);
void tt_set_lin(tt_t *t, int64_t lin, long double x);
/* Guards intact, and storage outside the view unchanged since poisoning. */
bool tt_outside_ok(const tt_t *t);

/* out against ref (row-major over out's shape).  close: relative L2 within
 * bound, NaN/inf exactly where ref has them; exact: every element equal
 * (bool bytes 0/1); result: close with tt_tol for floats, else exact.
 * Each also checks nothing outside the output view was written. */
void tt_expect_close(const char *label, const tt_t *out, const long double *ref, double bound);
void tt_expect_exact(const char *label, const tt_t *out, const long double *ref);
void tt_expect_result(const char *label, const tt_t *out, const long double *ref);
/* A zeroed reference array for out's elements. */
long double *tt_ref_alloc(const tt_t *out);

#endif
