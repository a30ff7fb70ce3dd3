/* tt.h — the C tests' common library (test/lib, target tirc_testlib).
 *
 * Counting checks (CHECK / CHECK_MSG, failures reported with file:line, the
 * closing `N passed, M failed` line that ctest and scripts read), one seeded
 * random number generator (splitmix64) with the seed taken from argv or
 * TIRC_TEST_SEED and printed, so a failing run can be repeated, and printf
 * labels.  The dtype codec, tolerances, comparisons and strided tensors are
 * in tt_tensor.h; the float64 references in tt_ref.h. */
#ifndef TIRC_TEST_TT_H
#define TIRC_TEST_TT_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TT_PRINTF(f, a)
#endif

#define TT_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------------ checks */

/* The counters; tests that decide pass/fail in a loop of their own may
 * bump them directly, but tt_check_at is the usual way. */
extern int tt_passed, tt_failed;

/* Counts one check; on failure prints "file:line: FAIL: <message>".
 * Returns ok, so a test can stop following a broken path. */
bool tt_check_at(const char *file, int line, bool ok, const char *fmt, ...) TT_PRINTF(4, 5);

#define CHECK(cond) tt_check_at(__FILE__, __LINE__, (cond) != 0, "%s", #cond)
#define CHECK_MSG(cond, ...) tt_check_at(__FILE__, __LINE__, (cond) != 0, __VA_ARGS__)

/* Prints "N passed, M failed" (the last line of every test) and returns
 * the exit code: 0 when nothing failed, else 1. */
int tt_summary(void);
#define CHECK_SUMMARY() tt_summary()

/* printf into one of a few rotating static buffers: a label that lives
 * until a few more labels are made (enough for a call's arguments). */
const char *tt_label(const char *fmt, ...) TT_PRINTF(1, 2);

/* ------------------------------------------------------------ random numbers */

/* splitmix64: any seed (0 included) gives a full-period stream.  A test
 * wanting an independent stream (a per-case one, the judge's per-program
 * one) keeps its own tt_rng_t; everything else draws from tt_rng. */
typedef struct {
  uint64_t s;
} tt_rng_t;
extern tt_rng_t tt_rng;

uint64_t tt_rng_u64_r(tt_rng_t *r);
double tt_rng_unif_r(tt_rng_t *r); /* [0, 1) with 53 random bits */

uint64_t tt_rng_u64(void);
double tt_rng_unif(double lo, double hi);      /* [lo, hi) */
double tt_rng_normal(void);                    /* mean 0, variance 1 (Box-Muller) */
int64_t tt_rng_int(int64_t lo, int64_t hi);    /* [lo, hi] inclusive, any range */
double tt_rng_nonzero(double lo, double hi);   /* uniform in [lo, hi), never 0 */

/* The run's seed: `--seed=N` in argv (argv may be NULL), else the
 * environment's TIRC_TEST_SEED, else `fixed` when !fresh or a fresh one
 * from the clock when fresh.  Seeds tt_rng, prints
 * "<name>: seed N (TIRC_TEST_SEED=N repeats this run)" and returns it. */
uint64_t tt_seed(const char *name, int argc, char **argv, bool fresh, uint64_t fixed);

#endif
