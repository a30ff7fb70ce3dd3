/* diag.c — diagnostics: `file:line:col: error: message`, then the source
 * line and a caret under the column.  Long lines are shown as a window
 * around the caret so a megabyte-long line prints a readable excerpt. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct {
  char *name, *text; /* copies, owned by the diag */
  size_t len;
  size_t *line_starts; /* built on first use */
  size_t n_lines;
} Source;

struct TirDiag {
  FILE *out, *remarks;
  int max_errors, errors;
  Source *src;
  int n_src, cap_src;
};

TirDiag *tir_diag_new(FILE *out, int max_errors) {
  TirDiag *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->out = out;
  d->max_errors = max_errors > 0 ? max_errors : 20;
  return d;
}

void tir_diag_free(TirDiag *d) {
  if (!d) return;
  for (int i = 0; i < d->n_src; i++) {
    free(d->src[i].line_starts);
    free(d->src[i].name);
    free(d->src[i].text);
  }
  free(d->src);
  free(d);
}

int32_t tir_diag_add_source(TirDiag *d, const char *name, const char *text, size_t len) {
  if (d->n_src == d->cap_src) {
    int nc = d->cap_src ? d->cap_src * 2 : 4;
    Source *ns = realloc(d->src, (size_t)nc * sizeof *ns);
    if (!ns) return -1;
    d->src = ns;
    d->cap_src = nc;
  }
  /* Copies, so a caller may free its buffer (say, after a failed parse)
   * while diagnostics may still point into it. */
  char *n = malloc(strlen(name) + 1), *t = malloc(len + 1);
  if (!n || !t) {
    free(n);
    free(t);
    return -1;
  }
  memcpy(n, name, strlen(name) + 1);
  memcpy(t, text, len);
  t[len] = 0;
  d->src[d->n_src] = (Source){n, t, len, NULL, 0};
  return d->n_src++;
}

const char *tir_diag_source_name(const TirDiag *d, int32_t file) {
  return file >= 0 && file < d->n_src ? d->src[file].name : NULL;
}

int tir_diag_error_count(const TirDiag *d) { return d->errors; }

void tir_diag_set_remark_stream(TirDiag *d, FILE *f) { d->remarks = f; }

static bool index_lines(Source *s) {
  if (s->line_starts) return true;
  size_t n = 1;
  for (size_t i = 0; i < s->len; i++) n += s->text[i] == '\n';
  s->line_starts = malloc(n * sizeof(size_t));
  if (!s->line_starts) return false;
  s->line_starts[0] = 0;
  size_t k = 1;
  for (size_t i = 0; i < s->len; i++)
    if (s->text[i] == '\n') s->line_starts[k++] = i + 1;
  s->n_lines = n;
  return true;
}

enum { WINDOW = 100 }; /* bytes shown on each side of the caret */

static void show_line(FILE *out, Source *s, TirLoc loc) {
  if (loc.line <= 0 || !index_lines(s) || (size_t)loc.line > s->n_lines) return;
  size_t start = s->line_starts[loc.line - 1];
  size_t end = start;
  while (end < s->len && s->text[end] != '\n') end++;
  if (end > start && s->text[end - 1] == '\r') end--;
  size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
  if (col > end - start) col = end - start;
  size_t from = col > WINDOW ? col - WINDOW : 0;
  size_t to = end - start - col > WINDOW ? col + WINDOW : end - start;
  const char *line = s->text + start;
  const char *pre = from > 0 ? "..." : "";
  fputs(pre, out);
  for (size_t i = from; i < to; i++) {
    unsigned char c = (unsigned char)line[i];
    /* Control bytes (NUL among them) would garble a terminal. */
    fputc(c == '\t' || c >= 0x20 ? c : '?', out);
  }
  if (to < end - start) fputs("...", out);
  fputc('\n', out);
  fputs(from > 0 ? "   " : "", out);
  for (size_t i = from; i < col; i++) fputc(line[i] == '\t' ? '\t' : ' ', out);
  fputs("^\n", out);
}

static void emit(TirDiag *d, FILE *out, TirLoc loc, const char *kind, const char *fmt, va_list ap) {
  if (!out) return;
  Source *s = loc.file >= 0 && loc.file < d->n_src ? &d->src[loc.file] : NULL;
  if (s && loc.line > 0)
    fprintf(out, "%s:%d:%d: %s: ", s->name, loc.line, loc.col > 0 ? loc.col : 1, kind);
  else if (s)
    fprintf(out, "%s: %s: ", s->name, kind);
  else
    fprintf(out, "tirc: %s: ", kind);
  vfprintf(out, fmt, ap);
  fputc('\n', out);
  if (s) show_line(out, s, loc);
}

void tir_diag_error(TirDiag *d, TirLoc loc, const char *fmt, ...) {
  d->errors++;
  if (d->errors > d->max_errors) {
    if (d->errors == d->max_errors + 1 && d->out)
      fprintf(d->out, "tirc: note: too many errors; further errors are not shown\n");
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  emit(d, d->out, loc, "error", fmt, ap);
  va_end(ap);
}

void tir_diag_warning(TirDiag *d, TirLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(d, d->out, loc, "warning", fmt, ap);
  va_end(ap);
}

void tir_diag_note(TirDiag *d, TirLoc loc, const char *fmt, ...) {
  if (d->errors > d->max_errors) return;
  va_list ap;
  va_start(ap, fmt);
  emit(d, d->out, loc, "note", fmt, ap);
  va_end(ap);
}

void tir_diag_remark(TirDiag *d, TirLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(d, d->remarks ? d->remarks : d->out, loc, "remark", fmt, ap);
  va_end(ap);
}
