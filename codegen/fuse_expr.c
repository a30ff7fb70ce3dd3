/* fuse_expr.c — the per-instruction part of a fused kernel's CUDA source
 * (see fuse_src.c for the rules the generated code follows): the text
 * buffer, dtype conversions and rounding spelled in CUDA, loads and stores
 * of operands, and one `const CT vN = ...;` line per instruction, with the
 * elementwise ops as calls of common/tir_ew.h's row functions. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_gen.h"
#include "tir_ew.h"

/* ------------------------------------------------------------ text buffer */

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
void tir_fs_put(Buf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (need < 0) {
    b->oom = true;
    return;
  }
  if (b->n + (size_t)need + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + (size_t)need + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = nc;
  }
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)need + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)need;
}

/* An exact double constant. */
void tir_fs_dbl(Buf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  tir_fs_put(b, "__longlong_as_double(0x%016" PRIx64 "ull) /* %.17g */", u, v);
}

/* `e` (a register of dtype `from`'s compute type) converted to dtype `to`,
 * as tirrt_cpu_copy converts. */
void tir_fs_cast(Buf *b, int32_t from, int32_t to, const char *e) {
  bool ff = is_float(from), f64 = from == TIRRT_DTYPE_F64;
  if (from == to || (!ff && to == TIRRT_DTYPE_I64)) {
    tir_fs_put(b, "(%s)", e);
    return;
  }
  static const struct {
    const char *lo, *hi1, *loi, *hii;
  } SAT[] = {
      [TIRRT_DTYPE_I8] = {"-128.0", "128.0", "-128ll", "127ll"},
      [TIRRT_DTYPE_I16] = {"-32768.0", "32768.0", "-32768ll", "32767ll"},
      [TIRRT_DTYPE_I32] = {"-2147483648.0", "2147483648.0", "(-2147483647ll - 1)", "2147483647ll"},
      [TIRRT_DTYPE_I64] = {"-9223372036854775808.0", "9223372036854775808.0",
                           "(-9223372036854775807ll - 1)", "9223372036854775807ll"},
      [TIRRT_DTYPE_U8] = {"0.0", "256.0", "0ll", "255ll"},
  };
  switch (to) {
  case TIRRT_DTYPE_BOOL: tir_fs_put(b, "(long long)((%s) != 0)", e); return;
  case TIRRT_DTYPE_I8: case TIRRT_DTYPE_I16: case TIRRT_DTYPE_I32: case TIRRT_DTYPE_I64:
  case TIRRT_DTYPE_U8:
    if (ff) {
      const char *sfx = f64 ? "" : "f";
      tir_fs_put(b, "tk_sat%s((%s), %s%s, %s%s, %s, %s)", f64 ? "d" : "f", e, SAT[to].lo, sfx, SAT[to].hi1,
          sfx, SAT[to].loi, SAT[to].hii);
    } else {
      tir_fs_put(b, "%s(%s)", to == TIRRT_DTYPE_I8 ? "tk_w8" : to == TIRRT_DTYPE_I16 ? "tk_w16"
                       : to == TIRRT_DTYPE_I32 ? "tk_w32" : "tk_wu8", e);
    }
    return;
  case TIRRT_DTYPE_F16:
  case TIRRT_DTYPE_BF16: {
    bool h = to == TIRRT_DTYPE_F16;
    if (f64) tir_fs_put(b, "%s(tir_cv_f64_to_%s(%s))", h ? "tk_h2f" : "tk_bf2f", h ? "f16" : "bf16", e);
    else if (ff) tir_fs_put(b, "%s((float)(%s))", h ? "tk_rh" : "tk_rbf", e);
    else tir_fs_put(b, "%s(tk_i2f_odd(%s))", h ? "tk_rh" : "tk_rbf", e);
    return;
  }
  case TIRRT_DTYPE_F32: tir_fs_put(b, "(float)(%s)", e); return;
  default: tir_fs_put(b, "(double)(%s)", e); return;
  }
}

/* An arithmetic result of dtype dt's compute type rounded to dt. */
static void rounded(Buf *b, int32_t dt, const char *e) {
  switch (dt) {
  case TIRRT_DTYPE_F16: tir_fs_put(b, "tk_rh(%s)", e); return;
  case TIRRT_DTYPE_BF16: tir_fs_put(b, "tk_rbf(%s)", e); return;
  case TIRRT_DTYPE_F32: case TIRRT_DTYPE_F64: case TIRRT_DTYPE_I64: tir_fs_put(b, "%s", e); return;
  default: tir_fs_cast(b, TIRRT_DTYPE_I64, dt, e); return;
  }
}
/* ------------------------------------------------------------ instructions */

/* The register holding value v, loading it first when it is an input. */
void tir_fs_ref(Gen *g, int32_t v, char out[32]) {
  if (g->avail[v]) {
    snprintf(out, 32, "v%d", LV(g, v));
    return;
  }
  int32_t k = g->opnd[v];
  assert(k >= 0 && k < g->pl->n_in); /* planning: a value not made in scope is an input */
  snprintf(out, 32, "%s%d", g->inpfx, k);
  if (g->loaded[k]) return;
  g->loaded[k] = true;
  int32_t dt = DT(g, v);
  const char *st = storage(dt, false);
  char at[96];
  if (g->vec) snprintf(at, sizeof at, "va%d.v[u]", k);
  else snprintf(at, sizeof at, "((const %s *)p.data[%d])[%s[%d]]", st, k, g->offs, k);
  tir_fs_put(&g->b, "%sconst %s %s = ", g->ind, ctype(dt), out);
  switch (dt) {
  case TIRRT_DTYPE_BOOL: tir_fs_put(&g->b, "(long long)(%s != 0);\n", at); break;
  case TIRRT_DTYPE_F16: tir_fs_put(&g->b, "tk_h2f(%s);\n", at); break;
  case TIRRT_DTYPE_BF16: tir_fs_put(&g->b, "tk_bf2f(%s);\n", at); break;
  default: tir_fs_put(&g->b, "(%s)%s;\n", ctype(dt), at); break;
  }
}

/* Stores register e (always a v<N> register of value v, already rounded to
 * v's dtype) into output operand v at the current offsets. */
void tir_fs_store(Gen *g, int32_t v, const char *e) {
  int32_t k = g->opnd[v], dt = DT(g, v);
  if (k < g->pl->n_in) return; /* not an output */
  if (g->vec) {
    tir_fs_put(&g->b, "%svo%d.v[u] = ", g->ind, k);
    g->stored[k] = true;
  }
  else tir_fs_put(&g->b, "%s%s((%s *)p.data[%d])[%s[%d]] = ", g->ind, g->guard, storage(dt, true), k, g->offs, k);
  switch (dt) {
  case TIRRT_DTYPE_BOOL: tir_fs_put(&g->b, "(unsigned char)((%s) != 0);\n", e); break;
  case TIRRT_DTYPE_F16: tir_fs_put(&g->b, "tk_f2h(%s);\n", e); break;
  case TIRRT_DTYPE_BF16: tir_fs_put(&g->b, "tk_bfbits(%s);\n", e); break; /* e is a rounded register */
  case TIRRT_DTYPE_F32: case TIRRT_DTYPE_F64: case TIRRT_DTYPE_I64: tir_fs_put(&g->b, "%s;\n", e); break;
  default: tir_fs_put(&g->b, "(%s)(unsigned long long)(%s);\n", storage(dt, true), e); break;
  }
}

/* A call of the common op table's scalar function for a value of dtype
 * dt (common/tir_ew.h, embedded in front of every source): tir_ewf_* for
 * f32 compute, tir_ewd_* for f64, tir_ewi_* for integers — the functions
 * the CPU, the library kernels and the folder call. */
static void ew_call(Buf *e, int arity, int op, int32_t dt, const char *a, const char *b) {
  const char *pfx = dt == TIRRT_DTYPE_F64 ? "tir_ewd_" : is_float(dt) ? "tir_ewf_" : "tir_ewi_";
  if (arity == 1) tir_fs_put(e, "%s%s(%s)", pfx, tir_ew_row(1, op)->name, a);
  else tir_fs_put(e, "%s%s(%s, %s)", pfx, tir_ew_row(2, op)->name, a, b);
}

/* Emits `const CT vN = ...;` for instruction i (and its store when asked). */
void tir_fs_emit_inst(Gen *g, int32_t i, bool do_store) {
  const tirrt_inst_t *in = &g->def->insts[i];
  char a[3][32];
  for (int32_t k = 0; k < in->n_in && k < 3; k++) tir_fs_ref(g, in->in[k], a[k]);
  int32_t od = DT(g, in->out), xd = in->n_in ? DT(g, in->in[0]) : od;
  Buf e = {0}, r = {0};
  switch (in->op) {
  case TIRRT_OP_UNARY:
  case TIRRT_OP_BINARY: {
    int arity = in->op == TIRRT_OP_UNARY ? 1 : 2;
    int op = (int)(arity == 1 ? in->a.unary.fn : in->a.binary.fn);
    ew_call(&e, arity, op, xd, a[0], a[1]);
    if (e.oom) break;
    /* Predicates give 0 or 1; the rest is rounded to its dtype. */
    if (tir_ew_row(arity, op)->result == TIR_EW_RES_BOOL) tir_fs_put(&r, "(long long)%s", e.p);
    else rounded(&r, od, e.p);
    break;
  }
  case TIRRT_OP_WHERE: tir_fs_put(&r, "(%s != 0 ? %s : %s)", a[0], a[1], a[2]); break;
  case TIRRT_OP_MASKED_FILL:
    tir_fs_dbl(&e, in->a.fill.value);
    tir_fs_put(&r, "(%s != 0 ? ", a[1]);
    if (!e.oom) tir_fs_cast(&r, TIRRT_DTYPE_F64, od, e.p);
    tir_fs_put(&r, " : %s)", a[0]);
    break;
  case TIRRT_OP_CAST: tir_fs_cast(&r, xd, od, a[0]); break;
  case TIRRT_OP_COPY: tir_fs_put(&r, "%s", a[0]); break;
  case TIRRT_OP_FULL:
    tir_fs_dbl(&e, in->a.fill.value);
    if (!e.oom) tir_fs_cast(&r, TIRRT_DTYPE_F64, od, e.p);
    break;
  case TIRRT_OP_ARANGE:
    tir_fs_put(&e, "tk_wadd(%" PRId64 "ll, tk_wmul((long long)lin, %" PRId64 "ll))",
        g->def->dims[in->a.arange.start].value, g->def->dims[in->a.arange.step].value);
    if (!e.oom) tir_fs_cast(&r, TIRRT_DTYPE_I64, od, e.p);
    break;
  default: tir_fs_put(&r, "0 /* not fusable */"); break;
  }
  if (e.oom || r.oom || !r.p) g->b.oom = true;
  else {
    tir_fs_put(&g->b, "%sconst %s v%d = %s;\n", g->ind, ctype(od), LV(g, in->out), r.p);
    g->avail[in->out] = true;
    if (do_store) {
      char name[32];
      snprintf(name, sizeof name, "v%d", LV(g, in->out));
      tir_fs_store(g, in->out, name);
    }
  }
  free(e.p);
  free(r.p);
}

/* Forgets every register and load (between the bodies of one source). */
void tir_fs_fresh_scope(Gen *g) {
  memset(g->avail, 0, (size_t)g->def->n_values * sizeof(bool));
  memset(g->loaded, 0, sizeof g->loaded);
}
