/* build_internal.h — what build.c (functions, constants, ops) and
 * build_attrs.c (an op's items: operands vs attributes, and attribute
 * conversion against the schema) share.  Private to frontend/. */
#ifndef TIR_BUILD_INTERNAL_H
#define TIR_BUILD_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fe_internal.h"

#define ERR(loc, ...) tir_diag_error(P->diag, (loc), __VA_ARGS__)
/* Names in messages are cut to a readable length. */
#define NL(n) ((int)((n)->len > 64 ? 64 : (n)->len)), (n)->text

static inline void *scratch(FeParser *P, size_t n) {
  void *p = tir_arena_alloc(P->scratch, n ? n : 1);
  if (!p) fe_fatal(P, "out of memory");
  return p;
}

/* Type as text, for messages. */
typedef struct { char s[160]; } TypeStr;
static inline TypeStr type_str(const TirType *t) {
  TypeStr r = {"?"};
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) return r;
  tir_type_print(f, t);
  if (fclose(f) == 0 && buf) {
    if (n < sizeof r.s) memcpy(r.s, buf, n + 1);
    else snprintf(r.s, sizeof r.s, "%.*s...", (int)sizeof r.s - 4, buf);
  }
  free(buf);
  return r;
}

typedef struct {
  const TirOpSchema *s;
  FeNode **pos; /* positional items */
  int npos;
  FeNode *kv[TIR_MAX_ATTRS]; /* by schema slot */
} Items;


/* build_attrs.c */
bool fe_split_items(FeParser *P, const TirOpSchema *s, const FeNode *items, Items *it);
bool fe_convert_attrs(FeParser *P, const Items *it, const FeNode *opname, TirAttr *out);
void fe_apply_attrs(const Items *it, TirOp *op, const TirAttr *a);

/* build.c */
int fe_get_scalar(FeParser *P, const FeNode *n, TirScalar *out);
const TirDim *fe_to_dim(FeParser *P, const FeNode *n, bool bound);

#endif
