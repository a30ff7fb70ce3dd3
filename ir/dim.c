/* dim.c — symbolic dimension expressions.
 *
 * Every dim is kept in one normal form: a polynomial with int64 coefficients
 * whose atoms are symbols or floor divisions that could not be simplified.
 * Nodes are hash-consed per module, so two dims are equal exactly when their
 * pointers are equal (B*T == T*B, (B*T*768)/768 == B*T).  Arithmetic is
 * overflow-checked and the size of an expression is bounded, so hostile
 * input gets an error instead of exponential growth. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

enum { MAX_TERMS = 64, MAX_DEGREE = 16 };

/* ------------------------------------------------------------ interning */

typedef struct TirDimTable {
  const TirDim **slots;
  size_t cap, count;
  uint32_t next_id;
} DimTable;

static uint64_t node_hash(TirDimKind kind, int64_t value, const char *sym, int nargs,
                          const TirDim *const *args) {
  uint64_t h = tir_hash_bytes(&kind, sizeof kind, 0x9e37);
  h = tir_hash_bytes(&value, sizeof value, h);
  if (sym) h = tir_hash_bytes(sym, strlen(sym), h);
  for (int i = 0; i < nargs; i++) h = tir_hash_bytes(&args[i]->id, sizeof args[i]->id, h);
  return h;
}

static bool node_eq(const TirDim *d, TirDimKind kind, int64_t value, const char *sym, int nargs,
                    const TirDim *const *args) {
  if (d->kind != kind || d->value != value || d->nargs != nargs) return false;
  if ((d->sym == NULL) != (sym == NULL) || (sym && strcmp(d->sym, sym) != 0)) return false;
  for (int i = 0; i < nargs; i++)
    if (d->args[i] != args[i]) return false;
  return true;
}

static DimTable *table(TirModule *m) {
  if (!m->dims) {
    DimTable *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = 256;
    t->slots = calloc(t->cap, sizeof *t->slots);
    if (!t->slots) {
      free(t);
      return NULL;
    }
    m->dims = t;
  }
  return m->dims;
}

/* Called from tir_module_free. */
void tir_dim_table_free(struct TirDimTable *t);
void tir_dim_table_free(struct TirDimTable *t) {
  if (!t) return;
  free(t->slots);
  free(t);
}

static const TirDim *intern(TirModule *m, TirDimKind kind, int64_t value, const char *sym,
                            int nargs, const TirDim *const *args) {
  DimTable *t = table(m);
  if (!t) return NULL;
  uint64_t h = node_hash(kind, value, sym, nargs, args);
  size_t mask = t->cap - 1, i = h & mask;
  for (; t->slots[i]; i = (i + 1) & mask)
    if (t->slots[i]->hash == h && node_eq(t->slots[i], kind, value, sym, nargs, args))
      return t->slots[i];
  TirDim *d = tir_arena_alloc(m->arena, sizeof *d);
  if (!d) return NULL;
  d->kind = kind;
  d->value = value;
  d->nargs = nargs;
  d->hash = h;
  d->id = t->next_id++;
  if (sym && !(d->sym = tir_arena_strndup(m->arena, sym, strlen(sym)))) return NULL;
  if (nargs) {
    const TirDim **a = tir_arena_alloc(m->arena, (size_t)nargs * sizeof *a);
    if (!a) return NULL;
    memcpy(a, args, (size_t)nargs * sizeof *a);
    d->args = a;
  }
  t->slots[i] = d;
  if (++t->count * 2 > t->cap) {
    size_t ncap = t->cap * 2;
    const TirDim **ns = calloc(ncap, sizeof *ns);
    if (!ns) return NULL;
    for (size_t j = 0; j < t->cap; j++) {
      const TirDim *e = t->slots[j];
      if (!e) continue;
      size_t k = e->hash & (ncap - 1);
      while (ns[k]) k = (k + 1) & (ncap - 1);
      ns[k] = e;
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
  }
  return d;
}

const TirDim *tir_dim_const(TirModule *m, int64_t v) {
  return intern(m, TIR_DIM_CONST, v, NULL, 0, NULL);
}

const TirDim *tir_dim_sym(TirModule *m, const char *name, size_t len) {
  char buf[256];
  if (len >= sizeof buf) return NULL;
  memcpy(buf, name, len);
  buf[len] = 0;
  return intern(m, TIR_DIM_SYM, 0, buf, 0, NULL);
}

bool tir_dim_is_const(const TirDim *d, int64_t *v) {
  if (d->kind != TIR_DIM_CONST) return false;
  if (v) *v = d->value;
  return true;
}

/* ------------------------------------------------------------ polynomials */

typedef struct {
  int64_t coef;
  int deg;
  const TirDim *atoms[MAX_DEGREE]; /* sorted by id */
} Term;

typedef struct {
  int n;
  Term t[MAX_TERMS]; /* sorted by mono_cmp; the constant term (deg 0) last */
} Poly;

static int mono_cmp(const Term *a, const Term *b) {
  /* Higher degree first; then atom ids lexicographically. */
  if (a->deg != b->deg) return a->deg > b->deg ? -1 : 1;
  for (int i = 0; i < a->deg; i++)
    if (a->atoms[i] != b->atoms[i]) return a->atoms[i]->id < b->atoms[i]->id ? -1 : 1;
  return 0;
}

static const char *E_OVERFLOW = "dim arithmetic overflows int64";
static const char *E_COMPLEX = "dim expression too complex";
static const char *E_DIV0 = "division by zero in dim expression";
static const char *E_NOMEM = "out of memory";

/* Adds c * mono to p, keeping it sorted and free of zero terms. */
static bool poly_add_term(Poly *p, const Term *term, const char **err) {
  if (term->coef == 0) return true;
  int lo = 0, hi = p->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    int c = mono_cmp(&p->t[mid], term);
    if (c == 0) {
      int64_t s;
      if (__builtin_add_overflow(p->t[mid].coef, term->coef, &s)) {
        *err = E_OVERFLOW;
        return false;
      }
      if (s == 0) {
        memmove(&p->t[mid], &p->t[mid + 1], (size_t)(p->n - mid - 1) * sizeof(Term));
        p->n--;
      } else {
        p->t[mid].coef = s;
      }
      return true;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  if (p->n == MAX_TERMS) {
    *err = E_COMPLEX;
    return false;
  }
  memmove(&p->t[lo + 1], &p->t[lo], (size_t)(p->n - lo) * sizeof(Term));
  p->t[lo] = *term;
  p->n++;
  return true;
}

static void to_poly(const TirDim *d, Poly *p) {
  p->n = 0;
  Term t = {0};
  switch (d->kind) {
  case TIR_DIM_CONST:
    if (d->value) {
      t.coef = d->value;
      p->t[p->n++] = t;
    }
    return;
  case TIR_DIM_SYM:
  case TIR_DIM_FLOORDIV:
    t.coef = 1;
    t.deg = 1;
    t.atoms[0] = d;
    p->t[p->n++] = t;
    return;
  case TIR_DIM_MUL:
    t.coef = d->value;
    t.deg = d->nargs;
    memcpy(t.atoms, d->args, (size_t)d->nargs * sizeof(TirDim *));
    p->t[p->n++] = t;
    return;
  case TIR_DIM_ADD:
    for (int i = 0; i < d->nargs; i++) {
      Poly q;
      to_poly(d->args[i], &q);
      p->t[p->n++] = q.t[0]; /* already sorted in the node */
    }
    if (d->value) {
      t.coef = d->value;
      p->t[p->n++] = t;
    }
    return;
  }
}

static const TirDim *term_node(TirModule *m, const Term *t) {
  if (t->deg == 0) return tir_dim_const(m, t->coef);
  if (t->deg == 1 && t->coef == 1) return t->atoms[0];
  return intern(m, TIR_DIM_MUL, t->coef, NULL, t->deg, t->atoms);
}

static const TirDim *from_poly(TirModule *m, const Poly *p, const char **err) {
  if (p->n == 0) return tir_dim_const(m, 0);
  int64_t c = 0;
  int n = p->n;
  if (p->t[n - 1].deg == 0) c = p->t[--n].coef;
  if (n == 0) return tir_dim_const(m, c);
  const TirDim *terms[MAX_TERMS];
  for (int i = 0; i < n; i++)
    if (!(terms[i] = term_node(m, &p->t[i]))) {
      *err = E_NOMEM;
      return NULL;
    }
  if (n == 1 && c == 0) return terms[0];
  const TirDim *r = intern(m, TIR_DIM_ADD, c, NULL, n, terms);
  if (!r) *err = E_NOMEM;
  return r;
}

static bool term_mul(const Term *a, const Term *b, Term *out, const char **err) {
  if (a->deg + b->deg > MAX_DEGREE) {
    *err = E_COMPLEX;
    return false;
  }
  if (__builtin_mul_overflow(a->coef, b->coef, &out->coef)) {
    *err = E_OVERFLOW;
    return false;
  }
  /* Merge two sorted atom lists. */
  int i = 0, j = 0, k = 0;
  while (i < a->deg || j < b->deg) {
    if (j == b->deg || (i < a->deg && a->atoms[i]->id <= b->atoms[j]->id))
      out->atoms[k++] = a->atoms[i++];
    else
      out->atoms[k++] = b->atoms[j++];
  }
  out->deg = k;
  return true;
}

static const char *dummy_err;
#define ERRP(e) ((e) ? (e) : &dummy_err)

const TirDim *tir_dim_add(TirModule *m, const TirDim *a, const TirDim *b, const char **err) {
  err = ERRP(err);
  Poly p, q;
  to_poly(a, &p);
  to_poly(b, &q);
  for (int i = 0; i < q.n; i++)
    if (!poly_add_term(&p, &q.t[i], err)) return NULL;
  return from_poly(m, &p, err);
}

static bool poly_scale(Poly *p, int64_t s, const char **err) {
  for (int i = 0; i < p->n; i++)
    if (__builtin_mul_overflow(p->t[i].coef, s, &p->t[i].coef)) {
      *err = E_OVERFLOW;
      return false;
    }
  return true;
}

const TirDim *tir_dim_sub(TirModule *m, const TirDim *a, const TirDim *b, const char **err) {
  err = ERRP(err);
  Poly p, q;
  to_poly(a, &p);
  to_poly(b, &q);
  if (!poly_scale(&q, -1, err)) return NULL;
  for (int i = 0; i < q.n; i++)
    if (!poly_add_term(&p, &q.t[i], err)) return NULL;
  return from_poly(m, &p, err);
}

const TirDim *tir_dim_mul(TirModule *m, const TirDim *a, const TirDim *b, const char **err) {
  err = ERRP(err);
  Poly p, q, r;
  to_poly(a, &p);
  to_poly(b, &q);
  r.n = 0;
  for (int i = 0; i < p.n; i++)
    for (int j = 0; j < q.n; j++) {
      Term t;
      if (!term_mul(&p.t[i], &q.t[j], &t, err) || !poly_add_term(&r, &t, err)) return NULL;
    }
  return from_poly(m, &r, err);
}

static int64_t floordiv64(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Exact division of every term of p by the single term d; false if some term
 * is not divisible. */
static bool poly_div_exact(const Poly *p, const Term *d, Poly *out) {
  out->n = 0;
  for (int i = 0; i < p->n; i++) {
    const Term *t = &p->t[i];
    if (t->coef % d->coef != 0) return false;
    Term q = {.coef = t->coef / d->coef, .deg = 0};
    /* Remove d's atoms (a sub-multiset) from t's atoms. */
    int j = 0;
    for (int k = 0; k < t->deg; k++) {
      if (j < d->deg && t->atoms[k] == d->atoms[j]) j++;
      else q.atoms[q.deg++] = t->atoms[k];
    }
    if (j != d->deg) return false;
    out->t[out->n++] = q;
  }
  /* Quotient terms of distinct monomials stay distinct, but their order may
   * change when degrees shift; re-sort. */
  for (int i = 1; i < out->n; i++)
    for (int k = i; k > 0 && mono_cmp(&out->t[k - 1], &out->t[k]) > 0; k--) {
      Term tmp = out->t[k];
      out->t[k] = out->t[k - 1];
      out->t[k - 1] = tmp;
    }
  return true;
}

const TirDim *tir_dim_floordiv(TirModule *m, const TirDim *a, const TirDim *b, const char **err) {
  err = ERRP(err);
  int64_t x, y;
  if (tir_dim_is_const(b, &y)) {
    if (y == 0) {
      *err = E_DIV0;
      return NULL;
    }
    if (y == 1) return a;
    if (tir_dim_is_const(a, &x)) {
      if (x == INT64_MIN && y == -1) {
        *err = E_OVERFLOW;
        return NULL;
      }
      return tir_dim_const(m, floordiv64(x, y));
    }
  }
  if (tir_dim_is_const(a, &x) && x == 0) return a;
  if (a == b) return tir_dim_const(m, 1);
  Poly p, q, r;
  to_poly(a, &p);
  to_poly(b, &q);
  if (q.n == 1 && poly_div_exact(&p, &q.t[0], &r)) return from_poly(m, &r, err);
  const TirDim *args[2] = {a, b};
  const TirDim *d = intern(m, TIR_DIM_FLOORDIV, 0, NULL, 2, args);
  if (!d) *err = E_NOMEM;
  return d;
}

/* ------------------------------------------------------------ queries */

typedef struct {
  const TirDim *seen[64];
  int n;
  void (*fn)(void *, const TirDim *);
  void *ctx;
} SymWalk;

static void walk_syms(const TirDim *d, SymWalk *w) {
  if (d->kind == TIR_DIM_SYM) {
    for (int i = 0; i < w->n; i++)
      if (w->seen[i] == d) return;
    if (w->n < 64) w->seen[w->n++] = d;
    w->fn(w->ctx, d);
    return;
  }
  for (int i = 0; i < d->nargs; i++) walk_syms(d->args[i], w);
}

void tir_dim_for_each_sym(const TirDim *d, void (*fn)(void *ctx, const TirDim *sym), void *ctx) {
  SymWalk w = {.n = 0, .fn = fn, .ctx = ctx};
  walk_syms(d, &w);
}

bool tir_dim_eval(const TirDim *d, bool (*lookup)(void *ctx, const char *sym, int64_t *v),
                  void *ctx, int64_t *out) {
  int64_t acc, v;
  switch (d->kind) {
  case TIR_DIM_CONST: *out = d->value; return true;
  case TIR_DIM_SYM: return lookup(ctx, d->sym, out);
  case TIR_DIM_MUL:
    acc = d->value;
    for (int i = 0; i < d->nargs; i++)
      if (!tir_dim_eval(d->args[i], lookup, ctx, &v) || __builtin_mul_overflow(acc, v, &acc))
        return false;
    *out = acc;
    return true;
  case TIR_DIM_ADD:
    acc = d->value;
    for (int i = 0; i < d->nargs; i++)
      if (!tir_dim_eval(d->args[i], lookup, ctx, &v) || __builtin_add_overflow(acc, v, &acc))
        return false;
    *out = acc;
    return true;
  case TIR_DIM_FLOORDIV: {
    int64_t n, q;
    if (!tir_dim_eval(d->args[0], lookup, ctx, &n) || !tir_dim_eval(d->args[1], lookup, ctx, &q))
      return false;
    if (q == 0 || (n == INT64_MIN && q == -1)) return false;
    *out = floordiv64(n, q);
    return true;
  }
  }
  return false;
}

/* ------------------------------------------------------------ printing */

typedef struct {
  FILE *f;
  char *buf;
  size_t cap, len; /* len counts what was wanted, like snprintf */
} Out;

static void out_s(Out *o, const char *s) {
  size_t n = strlen(s);
  if (o->f) {
    fputs(s, o->f);
  } else {
    for (size_t i = 0; i < n; i++)
      if (o->len + i + 1 < o->cap) o->buf[o->len + i] = s[i];
  }
  o->len += n;
}

static void out_i(Out *o, int64_t v) {
  char b[32];
  snprintf(b, sizeof b, "%lld", (long long)v);
  out_s(o, b);
}

static void print_dim(Out *o, const TirDim *d);

/* A product of atoms with coefficient magnitude `c` (sign printed by caller). */
static void print_mono(Out *o, int64_t c, int nargs, const TirDim *const *args) {
  bool first = true;
  if (c != 1) {
    out_i(o, c);
    first = false;
  }
  for (int i = 0; i < nargs; i++) {
    if (!first) out_s(o, "*");
    bool paren = args[i]->kind == TIR_DIM_FLOORDIV && (nargs > 1 || c != 1);
    if (paren) out_s(o, "(");
    print_dim(o, args[i]);
    if (paren) out_s(o, ")");
    first = false;
  }
}

static void print_term(Out *o, const TirDim *t, bool lead) {
  int64_t c = t->kind == TIR_DIM_MUL ? t->value : 1;
  bool neg = c < 0;
  if (neg) out_s(o, "-");
  else if (!lead) out_s(o, "+");
  /* |INT64_MIN| does not fit; such a coefficient cannot be built anyway
   * because negation is overflow-checked. */
  uint64_t mag = neg ? (uint64_t)0 - (uint64_t)c : (uint64_t)c;
  if (t->kind == TIR_DIM_MUL) print_mono(o, (int64_t)mag, t->nargs, t->args);
  else print_dim(o, t);
}

static void print_dim(Out *o, const TirDim *d) {
  switch (d->kind) {
  case TIR_DIM_CONST: out_i(o, d->value); return;
  case TIR_DIM_SYM: out_s(o, d->sym); return;
  case TIR_DIM_MUL: print_term(o, d, true); return;
  case TIR_DIM_ADD: {
    /* Positive terms first reads naturally: S-L rather than -L+S. */
    bool lead = true;
    for (int pass = 0; pass < 2; pass++)
      for (int i = 0; i < d->nargs; i++) {
        const TirDim *t = d->args[i];
        bool neg = t->kind == TIR_DIM_MUL && t->value < 0;
        if (neg != (pass == 1)) continue;
        print_term(o, t, lead);
        lead = false;
      }
    if (d->value > 0) {
      out_s(o, "+");
      out_i(o, d->value);
    } else if (d->value < 0) {
      out_i(o, d->value);
    }
    return;
  }
  case TIR_DIM_FLOORDIV: {
    const TirDim *n = d->args[0], *q = d->args[1];
    bool pn = n->kind == TIR_DIM_ADD || (n->kind == TIR_DIM_CONST && n->value < 0);
    bool pq = q->kind != TIR_DIM_SYM && !(q->kind == TIR_DIM_CONST && q->value >= 0);
    if (pn) out_s(o, "(");
    print_dim(o, n);
    if (pn) out_s(o, ")");
    out_s(o, "/");
    if (pq) out_s(o, "(");
    print_dim(o, q);
    if (pq) out_s(o, ")");
    return;
  }
  }
}

void tir_dim_print(FILE *f, const TirDim *d) {
  Out o = {.f = f};
  print_dim(&o, d);
}

int tir_dim_snprint(char *buf, size_t n, const TirDim *d) {
  Out o = {.buf = buf, .cap = n};
  print_dim(&o, d);
  if (n) buf[o.len < n ? o.len : n - 1] = 0;
  return (int)o.len;
}
