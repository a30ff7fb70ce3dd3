/* ir_internal.h — helpers shared inside ir/ (not part of the public API). */
#ifndef TIR_IR_INTERNAL_H
#define TIR_IR_INTERNAL_H

#include "ir.h"

/* A type's printed form for messages.  Returned by value so a call can be
 * passed straight to printf: the temporary lives until the end of the full
 * expression (C11 6.2.4p8). */
typedef struct {
  char s[320];
} TStr;

static inline TStr tstr(const TirType *t) {
  TStr r;
  tir_type_snprint(r.s, sizeof r.s, t);
  return r;
}

#endif
