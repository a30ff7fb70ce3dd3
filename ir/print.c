/* print.c — the canonical printer of spec §6.
 *
 * Every op is written `%r = name(operands, attrs) : type` with its full
 * result type and its attributes in the schema's order.  Attributes at their
 * default are left out, except for ops flagged PRINT_ALL_ATTRS (sdpa).
 * Floats use the shortest decimal that reads back to the same value, so
 * printing is a fixed point: parse(print(x)) prints identically. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ------------------------------------------------------------ numbers */

int tir_format_double(char *buf, size_t n, double v) {
  if (isnan(v)) return snprintf(buf, n, "nan");
  if (isinf(v)) return snprintf(buf, n, v > 0 ? "inf" : "-inf");
  for (int p = 1; p <= 17; p++) {
    int len = snprintf(buf, n, "%.*g", p, v);
    if (strtod(buf, NULL) == v) return len;
  }
  return snprintf(buf, n, "%.17g", v);
}

static bool same_as(double parsed, double v, TirDType t) {
  switch (t) {
  case TIR_F32: return (float)parsed == (float)v;
  case TIR_F16: return tir_f32_to_f16((float)parsed) == tir_f32_to_f16((float)v);
  case TIR_BF16: return tir_f32_to_bf16((float)parsed) == tir_f32_to_bf16((float)v);
  default: return parsed == v;
  }
}

int tir_format_float_as(char *buf, size_t n, double v, TirDType t) {
  if (isnan(v) || isinf(v) || t == TIR_F64 || !tir_dtype_is_float(t))
    return tir_format_double(buf, n, v);
  for (int p = 1; p <= 17; p++) {
    int len = snprintf(buf, n, "%.*g", p, v);
    if (same_as(strtod(buf, NULL), v, t)) return len;
  }
  return snprintf(buf, n, "%.17g", v);
}

/* ------------------------------------------------------------ types */

void tir_type_print(FILE *f, const TirType *t) {
  fprintf(f, "%s[", tir_dtype_name(t->dtype));
  for (int i = 0; i < t->rank; i++) {
    if (i) fputs(", ", f);
    tir_dim_print(f, t->dims[i]);
  }
  fputc(']', f);
}

int tir_type_snprint(char *buf, size_t n, const TirType *t) {
  int len = snprintf(buf, n, "%s[", tir_dtype_name(t->dtype));
  for (int i = 0; i < t->rank; i++) {
    size_t at = (size_t)len < n ? (size_t)len : n;
    if (i) len += snprintf(buf + at, n - at, ", "), at = (size_t)len < n ? (size_t)len : n;
    len += tir_dim_snprint(buf + at, n - at, t->dims[i]);
  }
  size_t at = (size_t)len < n ? (size_t)len : n;
  len += snprintf(buf + at, n - at, "]");
  return len;
}

static void print_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* ------------------------------------------------------------ names */

typedef struct {
  const char **names; /* by value id */
  TirStrMap *taken;
  unsigned counter;
  size_t n_alloc; /* malloc'd names, freed with the namer */
  char **allocs;
} Namer;

static void namer_keep(Namer *nm, char *s) {
  char **a = realloc(nm->allocs, (nm->n_alloc + 1) * sizeof *a);
  if (!a) return; /* leak on OOM rather than crash */
  nm->allocs = a;
  nm->allocs[nm->n_alloc++] = s;
}

static void claim(Namer *nm, const TirValue *v) {
  if (v->name && !tir_strmap_get(nm->taken, v->name, strlen(v->name)))
    tir_strmap_put(nm->taken, v->name, strlen(v->name), (void *)v);
}

static void assign(Namer *nm, const TirValue *v) {
  if (v->name && tir_strmap_get(nm->taken, v->name, strlen(v->name)) == v) {
    nm->names[v->id] = v->name;
    return;
  }
  /* A hint that is taken (or none): hint_1, hint_2, ... or 0, 1, 2, ... */
  const char *base = v->name;
  size_t blen = base ? strlen(base) : 0;
  for (;;) {
    char *s = malloc(blen + 24);
    if (!s) {
      nm->names[v->id] = "?";
      return;
    }
    if (base) snprintf(s, blen + 24, "%s_%u", base, ++nm->counter);
    else snprintf(s, blen + 24, "%u", nm->counter++);
    if (!tir_strmap_get(nm->taken, s, strlen(s))) {
      tir_strmap_put(nm->taken, s, strlen(s), (void *)v);
      namer_keep(nm, s);
      nm->names[v->id] = s;
      return;
    }
    free(s);
  }
}

static bool namer_init(Namer *nm, const TirFunc *fn) {
  memset(nm, 0, sizeof *nm);
  nm->names = calloc(fn->module->next_id + 1, sizeof *nm->names);
  nm->taken = tir_strmap_new();
  if (!nm->names || !nm->taken) return false;
  for (int i = 0; i < fn->n_args; i++) claim(nm, fn->args[i]);
  for (const TirOp *op = fn->first; op; op = op->next)
    if (op->result) claim(nm, op->result);
  for (int i = 0; i < fn->n_args; i++) assign(nm, fn->args[i]);
  for (const TirOp *op = fn->first; op; op = op->next)
    if (op->result) assign(nm, op->result);
  return true;
}

static void namer_free(Namer *nm) {
  for (size_t i = 0; i < nm->n_alloc; i++) free(nm->allocs[i]);
  free(nm->allocs);
  free(nm->names);
  tir_strmap_free(nm->taken);
}

static const char *name_of(const Namer *nm, const TirValue *v) {
  const char *s = v->id <= v->func->module->next_id ? nm->names[v->id] : NULL;
  return s ? s : "<undefined>";
}

/* ------------------------------------------------------------ attributes */

static bool at_default(const TirAttrSchema *s, const TirAttr *a, TirModule *m) {
  if (!s->has_default || a->kind != s->kind) return false;
  switch (a->kind) {
  case TIR_ATTR_INT: return a->i == s->def_i;
  case TIR_ATTR_BOOL: return a->b == (s->def_i != 0);
  case TIR_ATTR_FLOAT: return a->f == s->def_f && signbit(a->f) == signbit(s->def_f);
  case TIR_ATTR_STR: return strcmp(a->s, s->def_s) == 0;
  case TIR_ATTR_DTYPE: return a->dtype == s->def_dtype;
  case TIR_ATTR_DIM: return a->dim == tir_dim_const(m, s->def_i);
  default: return false;
  }
}

static void print_attr_value(FILE *f, const TirAttr *a) {
  char buf[64];
  switch (a->kind) {
  case TIR_ATTR_NONE: break;
  case TIR_ATTR_INT: fprintf(f, "%lld", (long long)a->i); break;
  case TIR_ATTR_FLOAT:
    tir_format_double(buf, sizeof buf, a->f);
    fputs(buf, f);
    break;
  case TIR_ATTR_BOOL: fputs(a->b ? "true" : "false", f); break;
  case TIR_ATTR_STR: print_string(f, a->s); break;
  case TIR_ATTR_DTYPE: fputs(tir_dtype_name(a->dtype), f); break;
  case TIR_ATTR_INTS:
    fputc('[', f);
    for (int i = 0; i < a->ints.n; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)a->ints.v[i]);
    fputc(']', f);
    break;
  case TIR_ATTR_DIM: tir_dim_print(f, a->dim); break;
  case TIR_ATTR_DIMS:
    fputc('[', f);
    for (int i = 0; i < a->dims.n; i++) {
      if (i) fputs(", ", f);
      tir_dim_print(f, a->dims.v[i]);
    }
    fputc(']', f);
    break;
  case TIR_ATTR_SCALAR:
    if (a->scalar.kind == TIR_SCALAR_BOOL) fputs(a->scalar.i ? "true" : "false", f);
    else if (a->scalar.kind == TIR_SCALAR_INT) fprintf(f, "%lld", (long long)a->scalar.i);
    else {
      tir_format_double(buf, sizeof buf, a->scalar.f);
      fputs(buf, f);
    }
    break;
  }
}

/* ------------------------------------------------------------ constants */

static void print_elem(FILE *f, const TirType *t, const void *data, size_t i) {
  char buf[64];
  if (t->dtype == TIR_BOOL || tir_dtype_is_int(t->dtype)) {
    fprintf(f, "%lld", (long long)tir_load_i64(t->dtype, data, i));
    return;
  }
  tir_format_float_as(buf, sizeof buf, tir_load_f64(t->dtype, data, i), t->dtype);
  fputs(buf, f);
}

/* Nested list for dims [d..rank); *idx walks the flat data. */
static void print_nested(FILE *f, const TirType *t, const void *data, int d, size_t *idx) {
  int64_t n = 0;
  tir_dim_is_const(t->dims[d], &n);
  fputc('[', f);
  for (int64_t i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    if (d + 1 == t->rank) print_elem(f, t, data, (*idx)++);
    else print_nested(f, t, data, d + 1, idx);
  }
  fputc(']', f);
}

static void print_const_payload(FILE *f, const TirOp *op) {
  const char *file = tir_op_attr_str(op, "file");
  if (file) {
    fputs("file=", f);
    print_string(f, file);
    const char *key = tir_op_attr_str(op, "key");
    if (key) {
      fputs(", key=", f);
      print_string(f, key);
    }
    return;
  }
  const TirType *t = &op->result->type;
  if (!op->data) {
    fputs("<no data>", f);
    return;
  }
  if (t->rank == 0) {
    print_elem(f, t, op->data, 0);
    return;
  }
  size_t idx = 0;
  print_nested(f, t, op->data, 0, &idx);
}

/* ------------------------------------------------------------ ops and functions */

static void print_op(FILE *f, const TirOp *op, const Namer *nm) {
  const TirOpSchema *s = tir_op_schema(op->kind);
  fputs("  ", f);
  if (op->kind == TIR_OP_RETURN) {
    fputs("return ", f);
    for (int i = 0; i < op->n_operands; i++)
      fprintf(f, "%s%%%s", i ? ", " : "", name_of(nm, op->operands[i].value));
    fputc('\n', f);
    return;
  }
  fprintf(f, "%%%s = %s(", name_of(nm, op->result), s->name);
  bool first = true;
  if (op->kind == TIR_OP_CONST) {
    print_const_payload(f, op);
    first = false;
  }
  for (int i = 0; i < op->n_operands; i++) {
    fprintf(f, "%s%%%s", first ? "" : ", ", name_of(nm, op->operands[i].value));
    first = false;
  }
  if (op->kind != TIR_OP_CONST) {
    for (int i = 0; i < s->nattrs; i++) {
      const TirAttr *a = &op->attrs[i];
      if (a->kind == TIR_ATTR_NONE) continue;
      if (!(s->flags & TIR_OPF_PRINT_ALL_ATTRS) && at_default(&s->attrs[i], a, op->module))
        continue;
      fprintf(f, "%s%s=", first ? "" : ", ", s->attrs[i].name);
      print_attr_value(f, a);
      first = false;
    }
  }
  fputs(") : ", f);
  tir_type_print(f, &op->result->type);
  fputc('\n', f);
}

void tir_print_func(FILE *f, const TirFunc *fn) {
  Namer nm;
  if (!namer_init(&nm, fn)) {
    namer_free(&nm);
    fprintf(f, "// out of memory while printing @%s\n", fn->name);
    return;
  }
  fprintf(f, "func @%s(", fn->name);
  for (int i = 0; i < fn->n_args; i++) {
    fprintf(f, "%s%%%s: ", i ? ", " : "", name_of(&nm, fn->args[i]));
    tir_type_print(f, &fn->args[i]->type);
  }
  fputs(") -> (", f);
  for (int i = 0; i < fn->n_results; i++) {
    if (i) fputs(", ", f);
    tir_type_print(f, &fn->result_types[i]);
  }
  fputs(") {\n", f);
  for (const TirOp *op = fn->first; op; op = op->next) print_op(f, op, &nm);
  fputs("}\n", f);
  namer_free(&nm);
}

void tir_print_module(FILE *f, const TirModule *m) {
  for (const TirFunc *fn = m->first_func; fn; fn = fn->next) {
    if (fn != m->first_func) fputc('\n', f);
    tir_print_func(f, fn);
  }
}
