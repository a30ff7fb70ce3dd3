/* frontend.c — the front end's entry points (tir_parse, tir_parse_file) and
 * the syntax-node constructors the grammar actions use.  Owns the per-parse
 * state: the scanner, a scratch arena for syntax nodes, and the recovery
 * point for out-of-memory conditions deep inside the generated code.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fe_internal.h"
#include "parser.h"
#define YYSTYPE TIR_YYSTYPE
#define YYLTYPE TIR_YYLTYPE
#include "lexer.h"

/* ------------------------------------------------------------ nodes */

_Noreturn void fe_fatal(FeParser *P, const char *msg) {
  P->fatal_msg = msg;
  longjmp(P->fatal, 1);
}

TirLoc fe_loc(const FeParser *P, int line, int col) { return (TirLoc){P->file, line, col}; }

FeNode *fe_node(FeParser *P, FeNodeKind kind, TirLoc loc) {
  FeNode *n = tir_arena_alloc(P->scratch, sizeof *n);
  if (!n) fe_fatal(P, "out of memory");
  n->kind = kind;
  n->loc = loc;
  n->depth = 1;
  return n;
}

FeNode *fe_text_node(FeParser *P, FeNodeKind kind, TirLoc loc, const char *s, size_t len) {
  FeNode *n = fe_node(P, kind, loc);
  if (!(n->text = tir_arena_strndup(P->scratch, s, len))) fe_fatal(P, "out of memory");
  n->len = len;
  return n;
}

FeNode *fe_list(FeParser *P, TirLoc loc) { return fe_node(P, N_LIST, loc); }

/* Expressions deeper than FE_MAX_NEST (e.g. a sum of 10^5 terms, which
 * nests to the left) are refused so that build.c may recurse freely. */
static bool depth_ok(FeParser *P, FeNode *n, int depth) {
  if (depth > FE_MAX_NEST) {
    tir_diag_error(P->diag, n->loc, "expression nested deeper than %d levels", FE_MAX_NEST);
    return false;
  }
  n->depth = depth;
  return true;
}

FeNode *fe_append(FeParser *P, FeNode *list, FeNode *item) {
  if (item->depth + 1 > list->depth && !depth_ok(P, list, item->depth + 1)) return NULL;
  if (list->tail) list->tail->next = item;
  else list->head = item;
  list->tail = item;
  list->count++;
  return list;
}

FeNode *fe_bin(FeParser *P, int op, FeNode *a, FeNode *b, TirLoc loc) {
  FeNode *n = fe_node(P, N_BIN, loc);
  n->op = op;
  n->lhs = a;
  n->rhs = b;
  return depth_ok(P, n, 1 + (a->depth > b->depth ? a->depth : b->depth)) ? n : NULL;
}

FeNode *fe_neg(FeParser *P, FeNode *a, TirLoc loc) {
  FeNode *n = fe_node(P, N_NEG, loc);
  n->lhs = a;
  return depth_ok(P, n, a->depth + 1) ? n : NULL;
}

FeNode *fe_kv(FeParser *P, FeNode *key, FeNode *value) {
  FeNode *n = fe_text_node(P, N_KV, key->loc, key->text, key->len);
  n->lhs = value;
  return n;
}

FeNode *fe_type(FeParser *P, FeNode *dtype, FeNode *dims) {
  FeNode *n = fe_text_node(P, N_TYPE, dtype->loc, dtype->text, dtype->len);
  n->lhs = dims;
  return n;
}

/* ------------------------------------------------------------ parsing */

/* setjmp lives in its own frame, whose locals are not changed after it. */
static int run_parser(FeParser *P, yyscan_t scanner) {
  if (setjmp(P->fatal)) return -1;
  return tir_yyparse(scanner);
}

TirStatus tir_parse(const char *filename, const char *text, size_t len, TirDiag *diag,
                    const TirParseOptions *opts, TirModule **out) {
  *out = NULL;
  if (!filename) filename = "<input>";
  int errors0 = tir_diag_error_count(diag);
  FeParser P;
  memset(&P, 0, sizeof P);
  P.diag = diag;
  P.opts = opts;
  P.filename = filename;
  P.file = tir_diag_add_source(diag, filename, text, len);
  P.line = P.col = 1;
  if (len > FE_MAX_INPUT) {
    tir_diag_error(diag, fe_loc(&P, 0, 0), "input too large (%zu bytes; the limit is %zu)", len,
                   FE_MAX_INPUT);
    return TIR_ERR_INPUT;
  }
  TirStatus st = TIR_ERR_INTERNAL;
  yyscan_t scanner = NULL;
  P.m = tir_module_new();
  P.scratch = tir_arena_new();
  if (!P.m || !P.scratch || !(P.funcs = tir_strmap_new()) ||
      !(P.m->source_path = tir_arena_strndup(P.m->arena, filename, strlen(filename))) ||
      tir_yylex_init_extra(&P, &scanner) != 0) {
    P.fatal_msg = "out of memory";
    goto done;
  }
  /* Copies the text (flex needs two NUL bytes after it). */
  if (!tir_yy_scan_bytes(text ? text : "", (int)len, scanner)) {
    P.fatal_msg = "out of memory";
    goto done;
  }
  if (run_parser(&P, scanner) == 0) fe_finish(&P);
done:
  if (scanner) tir_yylex_destroy(scanner);
  fe_cleanup_func(&P);
  tir_strmap_free(P.funcs);
  free(P.sbuf);
  tir_arena_free(P.scratch);
  if (P.fatal_msg) {
    tir_diag_error(diag, fe_loc(&P, 0, 0), "%s", P.fatal_msg);
  } else if (tir_diag_error_count(diag) == errors0) {
    *out = P.m;
    return TIR_OK;
  } else {
    st = TIR_ERR_INPUT;
  }
  tir_module_free(P.m);
  return st;
}

TirStatus tir_parse_file(const char *path, TirDiag *diag, const TirParseOptions *opts,
                         TirModule **out) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int err = 0;
  if (!f) err = errno;
  /* Read in chunks rather than trusting the file size: pipes and
   * /dev/stdin have none. */
  while (!err) {
    if (len == cap) {
      if (cap >= FE_MAX_INPUT) {
        err = EFBIG;
        break;
      }
      cap = cap ? cap * 2 : 65536;
      char *nb = realloc(buf, cap);
      if (!nb) {
        err = ENOMEM;
        break;
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) err = errno ? errno : EIO;
      break;
    }
  }
  if (f) fclose(f);
  if (err) {
    free(buf);
    char msg[128];
    if (strerror_r(err, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "error %d", err);
    int32_t file = tir_diag_add_source(diag, path, "", 0);
    tir_diag_error(diag, (TirLoc){file, 0, 0}, "cannot read: %s", msg);
    return TIR_ERR_INPUT;
  }
  /* The diag keeps its own copy of the text for later diagnostics. */
  TirStatus st = tir_parse(path, buf ? buf : "", len, diag, opts, out);
  free(buf);
  return st;
}
