/* check.h — the unit tests' harness: CHECK counts, reports failures with
 * their location, and CHECK_SUMMARY prints `N passed, M failed` as the last
 * line and gives the exit code. */
#ifndef TIRC_TEST_CHECK_H
#define TIRC_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) passed++;                                                        \
    else {                                                                     \
      failed++;                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)
#define CHECK_SUMMARY() (printf("%d passed, %d failed\n", passed, failed), failed != 0)

#endif
