/* timing.c — the compile-time table of timing.h. */
#define _POSIX_C_SOURCE 200809L
#include "timing.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

double tir_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void tir_timing_add(TirTimings *t, const char *name, double ms, const char *detail, ...) {
  if (!t) return;
  TirTimingRow *r = NULL;
  for (int i = 0; i < t->n && !r; i++)
    if (strcmp(t->row[i].name, name) == 0) r = &t->row[i];
  if (!r && t->n < TIR_TIMING_ROWS) {
    r = &t->row[t->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", t->n == TIR_TIMING_ROWS ? "other" : name);
  } else if (!r) {
    r = &t->row[TIR_TIMING_ROWS - 1];
  }
  r->ms += ms;
  r->runs++;
  if (detail) {
    va_list ap;
    va_start(ap, detail);
    vsnprintf(r->detail, sizeof r->detail, detail, ap);
    va_end(ap);
  }
}

double tir_timing_total(const TirTimings *t) {
  double s = 0;
  for (int i = 0; t && i < t->n; i++) s += t->row[i].ms;
  return s;
}

void tir_timing_print(FILE *f, const TirTimings *t) {
  double total = tir_timing_total(t);
  fprintf(f, "// ----- compile time -----\n");
  fprintf(f, "//  %10s  %6s  %-18s %s\n", "ms", "share", "phase", "");
  for (int i = 0; t && i < t->n; i++) {
    const TirTimingRow *r = &t->row[i];
    char name[48];
    if (r->runs > 1)
      snprintf(name, sizeof name, "%s (x%d)", r->name, r->runs);
    else
      snprintf(name, sizeof name, "%s", r->name);
    fprintf(f, "//  %10.2f  %5.1f%%  %-18s %s\n", r->ms, total > 0 ? 100 * r->ms / total : 0.0, name,
            r->detail);
  }
  fprintf(f, "//  %10.2f  %5.1f%%  total\n", total, total > 0 ? 100.0 : 0.0);
}
