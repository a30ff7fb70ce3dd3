/* manager.c — the pass table (rows of passes.def) and the pass manager:
 * name lookup, the default pipeline, and tir_run_pipeline, which validates
 * a comma-separated pass list, runs it, and dumps/verifies between passes. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static const TirPassInfo PASSES[TIR_NUM_PASSES] = {
#define P(E, name, fn, desc) [TIR_PASS_##E] = {name, fn, desc},
#include "passes.def"
};

int tir_pass_count(void) { return TIR_NUM_PASSES; }

const TirPassInfo *tir_pass_info(int i) {
  return i >= 0 && i < TIR_NUM_PASSES ? &PASSES[i] : NULL;
}

const TirPassInfo *tir_pass_find(const char *name, size_t len) {
  for (int i = 0; i < TIR_NUM_PASSES; i++)
    if (strlen(PASSES[i].name) == len && memcmp(PASSES[i].name, name, len) == 0)
      return &PASSES[i];
  return NULL;
}

/* canonicalize first so cse sees one form of each expression; dce last to
 * sweep what the other two left unused. */
/* canonicalize first so fuse-attention sees one form of each pattern; again
 * after it, to fold the masks it combined; select-kernel last. */
const char *tir_default_pipeline(void) {
  return "canonicalize,cse,fuse-attention,simplify-sdpa,canonicalize,cse,dce,select-kernel";
}

/* -O0: no optimizing pass, but every sdpa still needs its kernel. */
const char *tir_o0_pipeline(void) { return "select-kernel"; }

bool tir_op_is_random(const TirOp *op) {
  switch (op->kind) {
  case TIR_OP_DROPOUT:
    return tir_op_attr_bool(op, "training") && tir_op_attr_float(op, "p") > 0;
  case TIR_OP_SDPA:
    return tir_op_attr_float(op, "dropout_p") > 0;
  default:
    return false;
  }
}

/* ------------------------------------------------------------ list parsing */

/* One element of a comma list: [*s, *s+len). */
typedef struct {
  const char *s;
  size_t len;
} Word;

/* Splits `list` at commas.  Returns the number of words (0 for ""), or -1 on
 * out-of-memory; *out is malloc'd (may be NULL when 0). */
static int split(const char *list, Word **out) {
  *out = NULL;
  if (!*list) return 0;
  size_t n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  if (n > (size_t)INT32_MAX) return -1;
  Word *w = malloc(n * sizeof *w);
  if (!w) return -1;
  size_t k = 0;
  const char *start = list;
  for (const char *p = list;; p++) {
    if (*p == ',' || *p == 0) {
      /* Blanks around a name are forgiven ("cse, dce"). */
      const char *e = p;
      while (start < e && (*start == ' ' || *start == '\t')) start++;
      while (e > start && (e[-1] == ' ' || e[-1] == '\t')) e--;
      w[k++] = (Word){start, (size_t)(e - start)};
      if (!*p) break;
      start = p + 1;
    }
  }
  *out = w;
  return (int)k;
}

static void unknown_pass(TirDiag *d, const Word *w) {
  /* The known names, in table order: the message says what would work. */
  char known[512];
  size_t at = 0;
  known[0] = 0;
  for (int i = 0; i < TIR_NUM_PASSES && at < sizeof known; i++)
    at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", PASSES[i].name);
  /* Pass names come from the command line; cap what we echo back. */
  int shown = w->len > 200 ? 200 : (int)w->len;
  tir_diag_error(d, TIR_LOC_UNKNOWN, "unknown pass '%.*s'%s; known passes: %s", shown, w->s,
                 w->len > 200 ? "..." : "", known);
}

/* Resolves every word; reports each unknown one.  Returns TIR_OK or
 * TIR_ERR_USAGE.  ids may be NULL (validation only). */
static TirStatus resolve(TirDiag *d, const Word *w, int n, const TirPassInfo **ids) {
  TirStatus st = TIR_OK;
  for (int i = 0; i < n; i++) {
    const TirPassInfo *p = tir_pass_find(w[i].s, w[i].len);
    if (!p) {
      unknown_pass(d, &w[i]);
      st = TIR_ERR_USAGE;
    }
    if (ids) ids[i] = p;
  }
  return st;
}

/* ------------------------------------------------------------ the manager */

TirStatus tir_run_pipeline(TirModule *m, const char *passes, const TirPassOptions *opts) {
  TirDiag *own = NULL, *diag = opts->diag;
  if (!diag && !(diag = own = tir_diag_new(stderr, 0))) return TIR_ERR_INTERNAL;
  TirPassOptions o = *opts;
  o.diag = diag;

  Word *words = NULL, *fwords = NULL;
  const TirPassInfo **run = NULL;
  bool *dump_after = NULL; /* by table index */
  TirStatus st = TIR_OK;

  int n = split(passes ? passes : "", &words);
  int nf = o.dump_filter ? split(o.dump_filter, &fwords) : 0;
  if (n < 0 || nf < 0) {
    st = TIR_ERR_INTERNAL;
    goto done;
  }
  run = malloc((size_t)(n ? n : 1) * sizeof *run);
  const TirPassInfo **fids = malloc((size_t)(nf ? nf : 1) * sizeof *fids);
  dump_after = calloc(TIR_NUM_PASSES, sizeof *dump_after);
  if (!run || !fids || !dump_after) {
    free(fids);
    st = TIR_ERR_INTERNAL;
    goto done;
  }
  /* Check both lists in full before running anything, so one typo cannot
   * leave the module half transformed, and every typo is reported at once. */
  TirStatus s1 = resolve(diag, words, n, run);
  TirStatus s2 = resolve(diag, fwords, nf, fids);
  for (int i = 0; i < TIR_NUM_PASSES; i++) dump_after[i] = o.dump_filter == NULL;
  for (int i = 0; i < nf; i++)
    if (fids[i]) dump_after[fids[i] - PASSES] = true;
  free(fids);
  if (s1 != TIR_OK || s2 != TIR_OK) {
    st = TIR_ERR_USAGE;
    goto done;
  }

  for (int i = 0; i < n; i++) {
    const TirPassInfo *p = run[i];
    double t0 = tir_now_ms();
    st = p->run(m, &o);
    tir_timing_add(o.timings, p->name, tir_now_ms() - t0, NULL);
    if (st != TIR_OK) {
      /* A pass that fails says why; make sure something was said. */
      if (tir_diag_error_count(diag) == 0)
        tir_diag_error(diag, TIR_LOC_UNKNOWN, "pass '%s' failed", p->name);
      goto done;
    }
    if (o.dump && dump_after[p - PASSES]) {
      fprintf(o.dump, "// ----- IR after %s -----\n", p->name);
      tir_print_module(o.dump, m);
      fflush(o.dump);
    }
    t0 = tir_now_ms();
    TirStatus vst = o.verify_each ? tir_verify_module(m, diag) : TIR_OK;
    if (o.verify_each) tir_timing_add(o.timings, "verify", tir_now_ms() - t0, "after every pass");
    if (vst != TIR_OK) {
      tir_diag_error(diag, TIR_LOC_UNKNOWN, "internal error: invalid IR after pass '%s'",
                     p->name);
      st = TIR_ERR_INTERNAL;
      goto done;
    }
  }
done:
  free(words);
  free(fwords);
  free(run);
  free(dump_after);
  tir_diag_free(own);
  return st;
}
