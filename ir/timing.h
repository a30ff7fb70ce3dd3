/* timing.h — compile-time accounting (`tirc --time-passes`, libtirc's
 * time_passes option): each phase of a compile adds its wall time under a
 * name; repeated names (a pass run twice, the verifier after every pass)
 * accumulate.  A NULL TirTimings* turns every call into a no-op, so the
 * phases call these unconditionally. */
#ifndef TIR_TIMING_H
#define TIR_TIMING_H

#include <stdio.h>

enum { TIR_TIMING_ROWS = 48 };

typedef struct {
  char name[32];
  char detail[96]; /* the last detail given for this name ("38 kernels, 4 distinct") */
  double ms;
  int runs;
} TirTimingRow;

typedef struct {
  int n;
  TirTimingRow row[TIR_TIMING_ROWS];
} TirTimings;

/* A monotonic clock in milliseconds. */
double tir_now_ms(void);

/* Adds `ms` under `name` (a new row in first-seen order, or the existing
 * one); `detail` (printf format, may be NULL) replaces the row's detail.
 * Rows past TIR_TIMING_ROWS go into a last "other" row. */
void tir_timing_add(TirTimings *t, const char *name, double ms, const char *detail, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The total over all rows, in ms. */
double tir_timing_total(const TirTimings *t);

/* Prints the table: one row per phase with its ms, share of the total, run
 * count when above one, and detail; then the total. */
void tir_timing_print(FILE *f, const TirTimings *t);

#endif /* TIR_TIMING_H */
