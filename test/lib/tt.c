/* tt.c — check counting, labels, the random number generator and the
 * run's seed for the C tests (see tt.h).  libc only, so tests of the IR
 * alone can use it too. */
#include "tt.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int tt_passed, tt_failed;

bool tt_check_at(const char *file, int line, bool ok, const char *fmt, ...) {
  if (ok) {
    tt_passed++;
    return true;
  }
  tt_failed++;
  /* stdout, not stderr: the failure lands among the test's own progress
   * lines in the order it happened. */
  printf("%s:%d: FAIL: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  return false;
}

int tt_summary(void) {
  printf("%d passed, %d failed\n", tt_passed, tt_failed);
  fflush(stdout);
  return tt_failed != 0;
}

const char *tt_label(const char *fmt, ...) {
  static char bufs[4][256];
  static int next;
  char *b = bufs[next];
  next = (next + 1) % 4;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof bufs[0], fmt, ap);
  va_end(ap);
  return b;
}

tt_rng_t tt_rng = {0x9E3779B97F4A7C15ull};

uint64_t tt_rng_u64_r(tt_rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double tt_rng_unif_r(tt_rng_t *r) { return (double)(tt_rng_u64_r(r) >> 11) * 0x1p-53; }

uint64_t tt_rng_u64(void) { return tt_rng_u64_r(&tt_rng); }
double tt_rng_unif(double lo, double hi) { return lo + (hi - lo) * tt_rng_unif_r(&tt_rng); }

double tt_rng_normal(void) {
  double u = tt_rng_unif_r(&tt_rng), w = tt_rng_unif_r(&tt_rng);
  return sqrt(-2.0 * log(u + 0x1p-60)) * cos(6.283185307179586 * w);
}

int64_t tt_rng_int(int64_t lo, int64_t hi) {
  uint64_t span = (uint64_t)hi - (uint64_t)lo + 1u; /* 0: all of int64 */
  uint64_t r = span ? tt_rng_u64() % span : tt_rng_u64();
  return (int64_t)((uint64_t)lo + r); /* modulo 2^64, as gcc and clang define it */
}

double tt_rng_nonzero(double lo, double hi) {
  for (;;) { /* a zero is one draw in 2^53 at worst; redraw */
    double x = tt_rng_unif(lo, hi);
    if (x != 0) return x;
  }
}

uint64_t tt_seed(const char *name, int argc, char **argv, bool fresh, uint64_t fixed) {
  uint64_t seed = fixed;
  const char *src = NULL;
  for (int i = 1; argv && i < argc; i++)
    if (strncmp(argv[i], "--seed=", 7) == 0) src = argv[i] + 7;
  if (!src) src = getenv("TIRC_TEST_SEED");
  if (src && *src) seed = strtoull(src, NULL, 0);
  else if (fresh) seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
  tt_rng.s = seed;
  printf("%s: seed %" PRIu64 " (TIRC_TEST_SEED=%" PRIu64 " repeats this run)\n", name, seed, seed);
  fflush(stdout);
  return seed;
}
