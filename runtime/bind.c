/* bind.c — the program executor's symbol binding and shapes: binds the
 * symbols from the arguments' shapes (solving affine dims), evaluates the
 * dim expressions, checks every argument's shape with a clear message,
 * binds the arguments' and constants' views, checks the caller's result
 * buffers, and answers result-shape queries without running. */
#include <stdio.h>
#include <stdlib.h>

#include "program_internal.h"

/* ------------------------------------------------------------ binding */

static int64_t floordiv64(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

void tirrt_eval_dim_nodes(const tirrt_program_def_t *d, const int64_t *sym, const bool *bound,
                          int64_t *dim, bool *dim_ok) {
  for (int32_t i = 0; i < d->n_dims; i++) {
    const tirrt_dim_node_t *n = &d->dims[i];
    int64_t a = 0, b = 0, v = 0;
    bool ok = true;
    if (n->op >= TIRRT_DIM_ADD) {
      ok = dim_ok[n->a] && dim_ok[n->b];
      a = dim[n->a];
      b = dim[n->b];
    }
    switch (n->op) {
    case TIRRT_DIM_CONST: v = n->value; break;
    case TIRRT_DIM_SYM: ok = bound[n->value]; v = sym[n->value]; break;
    case TIRRT_DIM_ADD: ok = ok && !__builtin_add_overflow(a, b, &v); break;
    case TIRRT_DIM_SUB: ok = ok && !__builtin_sub_overflow(a, b, &v); break;
    case TIRRT_DIM_MUL: ok = ok && !__builtin_mul_overflow(a, b, &v); break;
    case TIRRT_DIM_FLOORDIV:
      ok = ok && b != 0 && !(a == INT64_MIN && b == -1);
      if (ok) v = floordiv64(a, b);
      break;
    }
    dim[i] = v;
    dim_ok[i] = ok;
  }
}

/* Evaluates every dim node once the symbols are bound. */
static void eval_dims(Run *r) { tirrt_eval_dim_nodes(r->p->def, r->sym, r->sym_bound, r->dim, r->dim_ok); }

/* Appends dim node n as an expression ("2*s + 1") to buf at *len, in
 * parentheses where its precedence is below `prec` (0 sums, 1 products,
 * 2 operands of a division). */
static void format_dim(const tirrt_program_def_t *d, int32_t n, int prec, char *buf, size_t size,
                       size_t *len) {
  const tirrt_dim_node_t *x = &d->dims[n];
  int mine = x->op == TIRRT_DIM_ADD || x->op == TIRRT_DIM_SUB ? 0 : x->op >= TIRRT_DIM_MUL ? 1 : 2;
  static const char *const OPS[] = {"", "", " + ", " - ", "*", "/"};
#define PUT(...)                                                                       \
  do {                                                                                 \
    if (*len < size) {                                                                 \
      int w = snprintf(buf + *len, size - *len, __VA_ARGS__);                          \
      *len = w < 0 ? size : *len + (size_t)w < size ? *len + (size_t)w : size - 1;    \
    }                                                                                  \
  } while (0)
  if (mine < prec) PUT("(");
  if (x->op == TIRRT_DIM_CONST) PUT("%lld", (long long)x->value);
  else if (x->op == TIRRT_DIM_SYM) PUT("%s", d->syms[x->value]);
  else if (x->op == TIRRT_DIM_MUL && d->dims[x->b].op == TIRRT_DIM_CONST) { /* "2*s", not "s*2" */
    format_dim(d, x->b, 1, buf, size, len);
    PUT("*");
    format_dim(d, x->a, 1, buf, size, len);
  } else {
    format_dim(d, x->a, mine, buf, size, len);
    PUT("%s", OPS[x->op]);
    format_dim(d, x->b, mine + (x->op != TIRRT_DIM_ADD && x->op != TIRRT_DIM_MUL), buf, size, len);
  }
  if (mine < prec) PUT(")");
#undef PUT
}

/* A symbol of dim node n that is not bound yet, or -1. */
static int32_t unbound_sym(const Run *r, int32_t n) {
  const tirrt_dim_node_t *x = &r->p->def->dims[n];
  if (x->op == TIRRT_DIM_SYM) return r->sym_bound[x->value] ? -1 : (int32_t)x->value;
  if (x->op == TIRRT_DIM_CONST) return -1;
  int32_t s = unbound_sym(r, x->a);
  return s >= 0 ? s : unbound_sym(r, x->b);
}

/* The shape of value v from its dims; fails naming the unbound symbol. */
tirrt_status_t bind_value_shape(Run *r, int32_t v, tirrt_tensor_desc_t *desc) {
  const tirrt_program_def_t *d = r->p->def;
  const tirrt_value_def_t *vd = &d->values[v];
  desc->dtype = (tirrt_dtype_t)vd->dtype;
  desc->rank = vd->rank;
  for (int32_t k = 0; k < vd->rank; k++) {
    int32_t n = vd->dims[k];
    if (!r->dim_ok[n]) {
      int32_t sym = unbound_sym(r, n);
      if (sym < 0) /* bound, but the expression overflows or divides by 0 */
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "dim %d of %s cannot be evaluated for these inputs", k, vd->name);
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "the shape of %s depends on the symbol %s, which the inputs' "
                               "shapes do not determine", vd->name, d->syms[sym]);
    }
    if (r->dim[n] < 0)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "the shape of %s has a negative dim (%lld) for these inputs",
                               vd->name, (long long)r->dim[n]);
    desc->shape[k] = r->dim[n];
  }
  return tirrt_tensor_desc_check(desc, NULL, NULL);
}

enum { SOLVE_NONE, SOLVE_BOUND, SOLVE_NOFIT };

/* Solves "dim node n == want" for the one unbound symbol in it when n is
 * an affine chain of known operands around it (s + c, c - s, k*s,
 * (s + c)*k, a*b with a known, ...): peels one known operand per step,
 * inverting it.  SOLVE_BOUND binds the symbol; SOLVE_NONE: nothing to
 * solve now (n is known, has two unknowns, or a floor division);
 * SOLVE_NOFIT: no whole number >= 0 gives `want`. */
static int solve_dim(Run *r, int32_t n, int64_t want) {
  const tirrt_program_def_t *d = r->p->def;
  for (;;) {
    const tirrt_dim_node_t *x = &d->dims[n];
    if (r->dim_ok[n]) return SOLVE_NONE; /* known: checked against the input later */
    bool ka = x->op >= TIRRT_DIM_ADD && r->dim_ok[x->a], kb = x->op >= TIRRT_DIM_ADD && r->dim_ok[x->b];
    int64_t a = ka ? r->dim[x->a] : 0, b = kb ? r->dim[x->b] : 0, next;
    switch (x->op) {
    case TIRRT_DIM_SYM:
      if (r->sym_bound[x->value]) return SOLVE_NONE;
      if (want < 0) return SOLVE_NOFIT;
      r->sym_bound[x->value] = true;
      r->sym[x->value] = want;
      return SOLVE_BOUND;
    case TIRRT_DIM_ADD: /* a + u = want, or u + b = want */
      if (!ka && !kb) return SOLVE_NONE;
      if (__builtin_sub_overflow(want, ka ? a : b, &next)) return SOLVE_NOFIT;
      n = ka ? x->b : x->a;
      break;
    case TIRRT_DIM_SUB: /* a - u = want, or u - b = want */
      if (!ka && !kb) return SOLVE_NONE;
      if (ka ? __builtin_sub_overflow(a, want, &next) : __builtin_add_overflow(want, b, &next))
        return SOLVE_NOFIT;
      n = ka ? x->b : x->a;
      break;
    case TIRRT_DIM_MUL: { /* k * u = want */
      if (!ka && !kb) return SOLVE_NONE;
      int64_t k = ka ? a : b;
      if (k == 0) return want == 0 ? SOLVE_NONE : SOLVE_NOFIT; /* any u, or none */
      if (want % k != 0) return SOLVE_NOFIT;
      next = want / k;
      n = ka ? x->b : x->a;
      break;
    }
    default: return SOLVE_NONE; /* a floor division has many solutions */
    }
    want = next;
  }
}

/* Binds symbols from the arguments, then checks every argument's shape.
 * A dim that is a bare symbol binds it; then dims that are expressions
 * solve their one unknown symbol, repeatedly (one bound symbol can make
 * another dim solvable), and last every dim is checked against its
 * declared expression. */
tirrt_status_t bind_args(Run *r, const tirrt_tensor_desc_t *descs) {
  const tirrt_program_def_t *d = r->p->def;
  for (int32_t i = 0; i < d->n_args; i++) {
    const tirrt_value_def_t *vd = &d->values[d->args[i]];
    const tirrt_tensor_desc_t *g = &descs[i];
    char got[160];
    tirrt_tensor_desc_format(g, got, sizeof got);
    if ((int32_t)g->dtype != vd->dtype || g->rank != vd->rank)
      return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                               "input %s: expected %s[rank %d], got %s", vd->name,
                               tirrt_dtype_name((tirrt_dtype_t)vd->dtype), vd->rank, got);
    for (int32_t k = 0; k < vd->rank; k++) {
      const tirrt_dim_node_t *n = &d->dims[vd->dims[k]];
      if (n->op != TIRRT_DIM_SYM) continue;
      if (!r->sym_bound[n->value]) {
        r->sym_bound[n->value] = true;
        r->sym[n->value] = g->shape[k];
      } else if (r->sym[n->value] != g->shape[k]) {
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "input %s: dim %d is %lld but %s is already %lld", vd->name, k,
                                 (long long)g->shape[k], d->syms[n->value],
                                 (long long)r->sym[n->value]);
      }
    }
  }
  eval_dims(r);
  for (bool progress = true; progress;) {
    progress = false;
    for (int32_t i = 0; i < d->n_args; i++) {
      const tirrt_value_def_t *vd = &d->values[d->args[i]];
      for (int32_t k = 0; k < vd->rank; k++) {
        int res = solve_dim(r, vd->dims[k], descs[i].shape[k]);
        if (res == SOLVE_BOUND) {
          eval_dims(r); /* at most once per symbol */
          progress = true;
        } else if (res == SOLVE_NOFIT) {
          char e[160];
          size_t len = 0;
          format_dim(d, vd->dims[k], 0, e, sizeof e, &len);
          int32_t sym = unbound_sym(r, vd->dims[k]);
          return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                   "input %s: dim %d is %lld, which the declared %s cannot be "
                                   "for a whole number %s >= 0", vd->name, k,
                                   (long long)descs[i].shape[k], e, sym >= 0 ? d->syms[sym] : "");
        }
      }
    }
  }
  for (int32_t i = 0; i < d->n_args; i++) {
    tirrt_tensor_desc_t want;
    tirrt_status_t s = bind_value_shape(r, d->args[i], &want);
    if (s) return s;
    for (int32_t k = 0; k < want.rank; k++)
      if (want.shape[k] != descs[i].shape[k]) {
        char w[160], g[160], e[160];
        size_t len = 0;
        tirrt_tensor_desc_format(&want, w, sizeof w);
        tirrt_tensor_desc_format(&descs[i], g, sizeof g);
        format_dim(d, d->values[d->args[i]].dims[k], 0, e, sizeof e, &len);
        return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                                 "input %s: shape %s does not fit the declared %s (dim %d is %s)",
                                 d->values[d->args[i]].name, g, w, k, e);
      }
  }
  return NULL;
}

/* Binds the arguments' views: host data as given; on a device backend,
 * device pointers as given or host data uploaded into device buffers. */
tirrt_status_t bind_data(Run *r, const tirrt_run_options_t *o,
                         const tirrt_tensor_desc_t *arg_descs, const void *const *arg_datas,
                         void **uploads) {
  const tirrt_program_def_t *d = r->p->def;
  for (int32_t i = 0; i < d->n_args; i++) {
    tirrt_tensor_desc_t desc = arg_descs[i];
    void *data = (void *)arg_datas[i];
    if (r->dev && !o->device_pointers) {
      size_t bytes;
      tirrt_status_t s = tirrt_tensor_desc_check(&desc, NULL, &bytes);
      if (!s) s = r->be->alloc(r->bs, bytes, &uploads[i]);
      if (!s && bytes) s = r->be->upload(r->bs, uploads[i], data, bytes);
      if (s) return s;
      data = uploads[i];
    }
    r->view[d->args[i]] = tirrt_view_contiguous(&desc, data);
  }
  for (int32_t v = 0; v < d->n_values; v++) {
    const tirrt_value_def_t *vd = &d->values[v];
    if (vd->kind != TIRRT_VALUE_CONST) continue;
    tirrt_tensor_desc_t desc;
    size_t bytes;
    tirrt_status_t s = bind_value_shape(r, v, &desc);
    if (!s) s = tirrt_tensor_desc_check(&desc, NULL, &bytes);
    if (s) return s;
    if (bytes != vd->nbytes)
      return tirrt_make_status(TIRRT_STATUS_INTERNAL, "constant %s has %llu bytes, expected %zu",
                               vd->name, (unsigned long long)vd->nbytes, bytes);
    void *data = (void *)vd->data;
    if (r->be->const_data) data = r->be->const_data(r->p->prep, v);
    r->view[v] = tirrt_view_contiguous(&desc, data);
  }
  return NULL;
}

typedef struct {
  uintptr_t lo, hi; /* [lo, hi) */
  int32_t index;    /* argument i, or result -1 - j */
} Span;

static int span_cmp(const void *a, const void *b) {
  const Span *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The caller's result buffers: present unless the result has no elements
 * (NULL is then fine), and overlapping no argument and no other result.
 * A result is written while later instructions may still read the
 * arguments, so an overlap would give wrong answers silently.  One sort
 * and a sweep: after sorting by start, a span overlaps an earlier one iff
 * it starts before the largest end seen so far. */
tirrt_status_t bind_check_result_buffers(Run *r, const tirrt_tensor_desc_t *arg_descs,
                                         const void *const *arg_datas,
                                         void *const *result_buffers) {
  const tirrt_program_def_t *d = r->p->def;
  Span *sp = malloc(((size_t)d->n_args + (size_t)d->n_results + 1) * sizeof *sp);
  if (!sp) return tirrt_oom_status();
  int32_t n = 0;
  tirrt_status_t s = NULL;
  for (int32_t j = 0; j < d->n_results && !s; j++) {
    tirrt_tensor_desc_t desc;
    size_t bytes = 0;
    if (!(s = bind_value_shape(r, d->results[j], &desc)))
      s = tirrt_tensor_desc_check(&desc, NULL, &bytes);
    if (!s && bytes && !result_buffers[j])
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT, "result buffer %d is NULL", j);
    if (!s && bytes)
      sp[n++] = (Span){(uintptr_t)result_buffers[j], (uintptr_t)result_buffers[j] + bytes, -1 - j};
  }
  for (int32_t i = 0; i < d->n_args && !s; i++) {
    size_t bytes = 0;
    s = tirrt_tensor_desc_check(&arg_descs[i], NULL, &bytes);
    if (!s && bytes && arg_datas[i])
      sp[n++] = (Span){(uintptr_t)arg_datas[i], (uintptr_t)arg_datas[i] + bytes, i};
  }
  if (!s) qsort(sp, (size_t)n, sizeof *sp, span_cmp);
  int32_t far_any = -1, far_res = -1; /* the spans reaching furthest: any, results */
  for (int32_t k = 0; k < n && !s; k++) {
    int32_t other = sp[k].index < 0 ? far_any : far_res;
    if (other >= 0 && sp[other].hi > sp[k].lo) {
      const Span *a = sp[k].index < 0 ? &sp[k] : &sp[other], *b = a == &sp[k] ? &sp[other] : &sp[k];
      char what[160];
      if (b->index >= 0) snprintf(what, sizeof what, "input %s", d->values[d->args[b->index]].name);
      else snprintf(what, sizeof what, "output %d", -1 - b->index);
      s = tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                            "output %d overlaps %s in memory; outputs must not share memory with "
                            "the inputs or with each other", -1 - a->index, what);
    }
    if (far_any < 0 || sp[k].hi > sp[far_any].hi) far_any = k;
    if (sp[k].index < 0 && (far_res < 0 || sp[k].hi > sp[far_res].hi)) far_res = k;
  }
  free(sp);
  return s;
}

tirrt_status_t tirrt_program_result_descs(const tirrt_program_t *p,
                                          const tirrt_tensor_desc_t *arg_descs,
                                          tirrt_tensor_desc_t *out_descs) {
  const tirrt_program_def_t *d = p->def;
  Run r = {.p = (tirrt_program_t *)p};
  r.sym = calloc((size_t)d->n_syms + 1, sizeof *r.sym);
  r.sym_bound = calloc((size_t)d->n_syms + 1, sizeof *r.sym_bound);
  r.dim = calloc((size_t)d->n_dims + 1, sizeof *r.dim);
  r.dim_ok = calloc((size_t)d->n_dims + 1, sizeof *r.dim_ok);
  tirrt_status_t s = NULL;
  if (!r.sym || !r.sym_bound || !r.dim || !r.dim_ok) s = tirrt_oom_status();
  if (!s) s = bind_args(&r, arg_descs);
  for (int32_t j = 0; !s && j < d->n_results; j++)
    s = bind_value_shape(&r, d->results[j], &out_descs[j]);
  free(r.sym);
  free(r.sym_bound);
  free(r.dim);
  free(r.dim_ok);
  return s;
}
