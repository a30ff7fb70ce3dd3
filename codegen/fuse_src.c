/* fuse_src.c — writes the CUDA C++ source of one planned fused kernel
 * (see fuse_plan.c for what a run is, tirrt.h for the launch contract).
 *
 * The generated code computes exactly what the CPU kernels compute
 * (runtime/cpu_*.c), instruction by instruction:
 *  - every value lives in a register of its compute type (float for
 *    f16/bf16/f32, double for f64, long long for integers and bool) and is
 *    rounded to its own dtype after each instruction, as the CPU rounds when
 *    it stores it (so fusing changes no result bit);
 *  - integer arithmetic wraps in 64 bits, then to the dtype;
 *  - casts follow tirrt_cpu_copy: float to integer truncates and
 *    saturates (NaN gives 0), int64 to f16/bf16 rounds once (via round to
 *    odd), anything to bool is != 0;
 *  - the math is written with the same formulas and constants (gelu through
 *    erfc, sigmoid split at 0, ...) and NVRTC runs without fast math and
 *    without FMA contraction, which the CPU build does not do either.
 * Reductions accumulate in f32 (f64 for f64, int64 for integers) with a
 * fixed-order block reduction, so they match the CPU up to rounding.
 *
 * The source includes no header (NVRTC provides the math functions); the
 * text of common/tir_dtype.h, tir_ew_table.h and tir_ew.h comes first
 * (embedded at build time), so the op formulas are the very lines the CPU,
 * the library kernels and the constant folder compile.  The
 * parameter struct is declared from the host's field list and checked with
 * static_asserts against the host layout, so a drift fails the compile. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"
#include "tir_ew.h"

/* ------------------------------------------------------------ text buffer */

typedef struct {
  char *p;
  size_t n, cap;
  bool oom;
} Buf;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(Buf *b, const char *fmt, ...) {
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

/* ------------------------------------------------------------ the parameter struct */

/* The launch parameters, field by field as in tirrt.h.  NVRTC has no
 * offsetof, so the generated declaration is checked by static_assert on
 * each member's size and on the struct's size and alignment: with the same
 * sizes and alignments, sequential layout gives the same offsets. */
#define R_ TIRRT_FUSED_MAX_RANK
#define O_ TIRRT_FUSED_MAX_OPERANDS
#define MEMBER_SIZE(f) sizeof(((tirrt_fused_params_t *)0)->f)
_Static_assert(sizeof(int64_t) == sizeof(long long) && sizeof(int32_t) == sizeof(int),
               "the generated struct spells int64_t as long long and int32_t as int");
static const struct {
  const char *decl, *name;
  size_t size, offset;
} FIELDS[] = {
    {"long long numel", "numel", MEMBER_SIZE(numel), offsetof(tirrt_fused_params_t, numel)},
    {"int rank", "rank", MEMBER_SIZE(rank), offsetof(tirrt_fused_params_t, rank)},
    {"int n_operands", "n_operands", MEMBER_SIZE(n_operands), offsetof(tirrt_fused_params_t, n_operands)},
    {"long long shape[TK_MAXR]", "shape", MEMBER_SIZE(shape), offsetof(tirrt_fused_params_t, shape)},
    {"long long strides[TK_MAXOPS][TK_MAXR]", "strides", MEMBER_SIZE(strides),
     offsetof(tirrt_fused_params_t, strides)},
    {"void *data[TK_MAXOPS]", "data", MEMBER_SIZE(data), offsetof(tirrt_fused_params_t, data)},
};
_Static_assert(sizeof(tirrt_fused_params_t) == 8 + 4 + 4 + 8 * R_ + 8 * R_ * O_ + sizeof(void *) * O_,
               "tirrt_fused_params_t gained a field: add it to FIELDS");

static void struct_decl(Buf *b) {
  put(b, "#define TK_MAXR %d\n#define TK_MAXOPS %d\n", R_, O_);
  put(b, "typedef struct tirrt_fused_params_s {\n");
  for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS; i++)
    put(b, "  %s; /* at byte %zu */\n", FIELDS[i].decl, FIELDS[i].offset);
  put(b, "} tirrt_fused_params_t;\n");
  put(b, "static_assert(sizeof(tirrt_fused_params_t) == %zu && alignof(tirrt_fused_params_t) == %zu,\n"
         "              \"the parameter struct differs from tirrt.h\");\n",
      sizeof(tirrt_fused_params_t), _Alignof(tirrt_fused_params_t));
  for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS; i++)
    put(b, "static_assert(sizeof(tirrt_fused_params_t::%s) == %zu, \"the parameter struct differs\");\n",
        FIELDS[i].name, FIELDS[i].size);
}


/* ------------------------------------------------------------ dtypes */

static bool is_float(int32_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

/* Bytes per element (codegen does not link the runtime's tirrt_dtype_size). */
static size_t elem_size(int32_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_BOOL: case TIRRT_DTYPE_U8: case TIRRT_DTYPE_I8: return 1;
  case TIRRT_DTYPE_I16: case TIRRT_DTYPE_F16: case TIRRT_DTYPE_BF16: return 2;
  case TIRRT_DTYPE_I32: case TIRRT_DTYPE_F32: return 4;
  default: return 8;
  }
}

/* The register type of a dtype. */
static const char *ctype(int32_t dt) {
  return dt == TIRRT_DTYPE_F64 ? "double" : is_float(dt) ? "float" : "long long";
}

/* The dtype whose storage is a compute type (for casts out of one). */
static int32_t ctype_dtype(int32_t dt) {
  return dt == TIRRT_DTYPE_F64 ? TIRRT_DTYPE_F64 : is_float(dt) ? TIRRT_DTYPE_F32 : TIRRT_DTYPE_I64;
}

static const char *storage(int32_t dt, bool for_store) {
  switch (dt) {
  case TIRRT_DTYPE_BOOL: case TIRRT_DTYPE_U8: return "unsigned char";
  case TIRRT_DTYPE_I8: return for_store ? "unsigned char" : "signed char";
  case TIRRT_DTYPE_I16: return for_store ? "unsigned short" : "short";
  case TIRRT_DTYPE_I32: return for_store ? "unsigned int" : "int";
  case TIRRT_DTYPE_I64: return "long long";
  case TIRRT_DTYPE_F16: case TIRRT_DTYPE_BF16: return "unsigned short";
  case TIRRT_DTYPE_F32: return "float";
  default: return "double";
  }
}

/* An exact double constant. */
static void dbl(Buf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  put(b, "__longlong_as_double(0x%016" PRIx64 "ull) /* %.17g */", u, v);
}

/* `e` (a register of dtype `from`'s compute type) converted to dtype `to`,
 * as tirrt_cpu_copy converts. */
static void cast(Buf *b, int32_t from, int32_t to, const char *e) {
  bool ff = is_float(from), f64 = from == TIRRT_DTYPE_F64;
  if (from == to || (!ff && to == TIRRT_DTYPE_I64)) {
    put(b, "(%s)", e);
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
  case TIRRT_DTYPE_BOOL: put(b, "(long long)((%s) != 0)", e); return;
  case TIRRT_DTYPE_I8: case TIRRT_DTYPE_I16: case TIRRT_DTYPE_I32: case TIRRT_DTYPE_I64:
  case TIRRT_DTYPE_U8:
    if (ff) {
      const char *sfx = f64 ? "" : "f";
      put(b, "tk_sat%s((%s), %s%s, %s%s, %s, %s)", f64 ? "d" : "f", e, SAT[to].lo, sfx, SAT[to].hi1,
          sfx, SAT[to].loi, SAT[to].hii);
    } else {
      put(b, "%s(%s)", to == TIRRT_DTYPE_I8 ? "tk_w8" : to == TIRRT_DTYPE_I16 ? "tk_w16"
                       : to == TIRRT_DTYPE_I32 ? "tk_w32" : "tk_wu8", e);
    }
    return;
  case TIRRT_DTYPE_F16:
  case TIRRT_DTYPE_BF16: {
    bool h = to == TIRRT_DTYPE_F16;
    if (f64) put(b, "%s(tir_cv_f64_to_%s(%s))", h ? "tk_h2f" : "tk_bf2f", h ? "f16" : "bf16", e);
    else if (ff) put(b, "%s((float)(%s))", h ? "tk_rh" : "tk_rbf", e);
    else put(b, "%s(tk_i2f_odd(%s))", h ? "tk_rh" : "tk_rbf", e);
    return;
  }
  case TIRRT_DTYPE_F32: put(b, "(float)(%s)", e); return;
  default: put(b, "(double)(%s)", e); return;
  }
}

/* An arithmetic result of dtype dt's compute type rounded to dt. */
static void rounded(Buf *b, int32_t dt, const char *e) {
  switch (dt) {
  case TIRRT_DTYPE_F16: put(b, "tk_rh(%s)", e); return;
  case TIRRT_DTYPE_BF16: put(b, "tk_rbf(%s)", e); return;
  case TIRRT_DTYPE_F32: case TIRRT_DTYPE_F64: case TIRRT_DTYPE_I64: put(b, "%s", e); return;
  default: cast(b, TIRRT_DTYPE_I64, dt, e); return;
  }
}

/* ------------------------------------------------------------ instructions */

typedef struct {
  Buf b;
  const tirrt_program_def_t *def;
  const TirFusePlan *pl;
  int32_t *opnd;   /* per value: operand index, -1 */
  bool *avail;     /* per value: register v<N> is in scope */
  bool loaded[TIRRT_FUSED_MAX_OPERANDS]; /* input k is in scope as <inpfx>k */
  const char *offs;  /* the offsets array of the current scope: o or ro */
  const char *inpfx; /* input register prefix of the current scope */
  const char *guard; /* prefix of stores ("" or a thread-0 test) */
  const char *ind;   /* indentation */
  bool vec;          /* a vector body: operands are va<k>.v[u] / vo<k>.v[u] */
  bool stored[TIRRT_FUSED_MAX_OPERANDS]; /* vector body: output k was written */
  bool vec_row;      /* row_kernel writes the vector variant (tk_runv) */
  const char *ci;    /* the register cache's index in a row body: t or u */
} Gen;

static int32_t DT(const Gen *g, int32_t v) { return g->def->values[v].dtype; }

/* The register holding value v, loading it first when it is an input. */
static void ref(Gen *g, int32_t v, char out[32]) {
  if (g->avail[v]) {
    snprintf(out, 32, "v%d", v);
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
  put(&g->b, "%sconst %s %s = ", g->ind, ctype(dt), out);
  switch (dt) {
  case TIRRT_DTYPE_BOOL: put(&g->b, "(long long)(%s != 0);\n", at); break;
  case TIRRT_DTYPE_F16: put(&g->b, "tk_h2f(%s);\n", at); break;
  case TIRRT_DTYPE_BF16: put(&g->b, "tk_bf2f(%s);\n", at); break;
  default: put(&g->b, "(%s)%s;\n", ctype(dt), at); break;
  }
}

/* Stores register e (always a v<N> register of value v, already rounded to
 * v's dtype) into output operand v at the current offsets. */
static void store(Gen *g, int32_t v, const char *e) {
  int32_t k = g->opnd[v], dt = DT(g, v);
  if (k < g->pl->n_in) return; /* not an output */
  if (g->vec) {
    put(&g->b, "%svo%d.v[u] = ", g->ind, k);
    g->stored[k] = true;
  }
  else put(&g->b, "%s%s((%s *)p.data[%d])[%s[%d]] = ", g->ind, g->guard, storage(dt, true), k, g->offs, k);
  switch (dt) {
  case TIRRT_DTYPE_BOOL: put(&g->b, "(unsigned char)((%s) != 0);\n", e); break;
  case TIRRT_DTYPE_F16: put(&g->b, "tk_f2h(%s);\n", e); break;
  case TIRRT_DTYPE_BF16: put(&g->b, "tk_bfbits(%s);\n", e); break; /* e is a rounded register */
  case TIRRT_DTYPE_F32: case TIRRT_DTYPE_F64: case TIRRT_DTYPE_I64: put(&g->b, "%s;\n", e); break;
  default: put(&g->b, "(%s)(unsigned long long)(%s);\n", storage(dt, true), e); break;
  }
}

/* A call of the common op table's scalar function for a value of dtype
 * dt (common/tir_ew.h, embedded in front of every source): tir_ewf_* for
 * f32 compute, tir_ewd_* for f64, tir_ewi_* for integers — the functions
 * the CPU, the library kernels and the folder call. */
static void ew_call(Buf *e, int arity, int op, int32_t dt, const char *a, const char *b) {
  const char *pfx = dt == TIRRT_DTYPE_F64 ? "tir_ewd_" : is_float(dt) ? "tir_ewf_" : "tir_ewi_";
  if (arity == 1) put(e, "%s%s(%s)", pfx, tir_ew_row(1, op)->name, a);
  else put(e, "%s%s(%s, %s)", pfx, tir_ew_row(2, op)->name, a, b);
}

/* Emits `const CT vN = ...;` for instruction i (and its store when asked). */
static void emit_inst(Gen *g, int32_t i, bool do_store) {
  const tirrt_inst_t *in = &g->def->insts[i];
  char a[3][32];
  for (int32_t k = 0; k < in->n_in && k < 3; k++) ref(g, in->in[k], a[k]);
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
    if (tir_ew_row(arity, op)->result == TIR_EW_RES_BOOL) put(&r, "(long long)%s", e.p);
    else rounded(&r, od, e.p);
    break;
  }
  case TIRRT_OP_WHERE: put(&r, "(%s != 0 ? %s : %s)", a[0], a[1], a[2]); break;
  case TIRRT_OP_MASKED_FILL:
    dbl(&e, in->a.fill.value);
    put(&r, "(%s != 0 ? ", a[1]);
    if (!e.oom) cast(&r, TIRRT_DTYPE_F64, od, e.p);
    put(&r, " : %s)", a[0]);
    break;
  case TIRRT_OP_CAST: cast(&r, xd, od, a[0]); break;
  case TIRRT_OP_COPY: put(&r, "%s", a[0]); break;
  case TIRRT_OP_FULL:
    dbl(&e, in->a.fill.value);
    if (!e.oom) cast(&r, TIRRT_DTYPE_F64, od, e.p);
    break;
  case TIRRT_OP_ARANGE:
    put(&e, "tk_wadd(%" PRId64 "ll, tk_wmul((long long)lin, %" PRId64 "ll))",
        g->def->dims[in->a.arange.start].value, g->def->dims[in->a.arange.step].value);
    if (!e.oom) cast(&r, TIRRT_DTYPE_I64, od, e.p);
    break;
  default: put(&r, "0 /* not fusable */"); break;
  }
  if (e.oom || r.oom || !r.p) g->b.oom = true;
  else {
    put(&g->b, "%sconst %s v%d = %s;\n", g->ind, ctype(od), in->out, r.p);
    g->avail[in->out] = true;
    if (do_store) {
      char name[32];
      snprintf(name, sizeof name, "v%d", in->out);
      store(g, in->out, name);
    }
  }
  free(e.p);
  free(r.p);
}

/* ------------------------------------------------------------ row kernels */

enum { PASS1, PASS2, FINAL };

/* What a ROWWISE kernel needs to know about its run. */
typedef struct {
  const tirrt_inst_t *R; /* the row instruction */
  int32_t x;             /* its input: the row */
  int32_t end;           /* one past the run's last instruction */
  bool *row_scalar;      /* per instruction of the run (epilogue only) */
  bool x_inner;          /* x is made by the prologue */
  bool final_needs_x, final_needs_pro, has_final, use_cache, has_arange;
  const char *T;         /* statistics type: float or double */
  bool t64;
} Row;

static bool made_in(const Gen *g, int32_t v, int32_t from, int32_t to) {
  for (int32_t i = from; i < to; i++)
    if (g->def->insts[i].out == v) return true;
  return false;
}

static bool same_dims(const Gen *g, int32_t a, int32_t b) {
  const tirrt_value_def_t *x = &g->def->values[a], *y = &g->def->values[b];
  if (x->rank != y->rank) return false;
  for (int32_t d = 0; d < x->rank; d++)
    if (x->dims[d] != y->dims[d]) return false;
  return true;
}

/* Starts an element body: offsets at element j of the row, and a fresh
 * scope for registers and loads (restored by end_body). */
static void begin_body(Gen *g, const Row *w, bool *saved_avail, bool *saved_loaded) {
  memcpy(saved_avail, g->avail, (size_t)g->def->n_values * sizeof(bool));
  memcpy(saved_loaded, g->loaded, sizeof g->loaded);
  memset(g->loaded, 0, sizeof g->loaded);
  g->offs = "o";
  g->inpfx = "in";
  g->guard = "";
  put(&g->b, "%sI o[TK_NOPS];\n%s#pragma unroll\n%sfor (int k = 0; k < TK_NOPS; ++k) o[k] = ro[k] + j * ls[k];\n",
      g->ind, g->ind, g->ind);
  if (w->has_arange) put(&g->b, "%sconst I lin = row * n + j;\n", g->ind);
}

static void end_body(Gen *g, const bool *saved_avail, const bool *saved_loaded) {
  memcpy(g->avail, saved_avail, (size_t)g->def->n_values * sizeof(bool));
  memcpy(g->loaded, saved_loaded, sizeof g->loaded);
  g->offs = "ro";
  g->inpfx = "rin";
}

static void prologue(Gen *g, const Row *w, bool do_store) {
  for (int32_t i = g->pl->first; i < g->pl->row; i++) emit_inst(g, i, do_store);
  (void)w;
}

/* Makes x available in an element body: from the register cache, or by
 * recomputing the prologue (a load when x is an input). */
static void acquire_x(Gen *g, const Row *w, bool cached, char xr[32]) {
  int32_t xd = DT(g, w->x);
  if (cached && w->use_cache) {
    put(&g->b, "%sconst %s v%d = xc[%s];\n", g->ind, ctype(xd), w->x, g->ci);
    g->avail[w->x] = true;
  } else if (w->x_inner) {
    prologue(g, w, false);
  }
  ref(g, w->x, xr);
}

static void body(Gen *g, const Row *w, int pass, bool cached) {
  bool *sa = malloc((size_t)g->def->n_values * sizeof(bool) + 1);
  bool sl[TIRRT_FUSED_MAX_OPERANDS];
  if (!sa) {
    g->b.oom = true;
    return;
  }
  begin_body(g, w, sa, sl);
  const tirrt_inst_t *R = w->R;
  const char *T = w->T, *s = w->t64 ? "" : "f";
  char xr[32];
  if (pass == PASS1) {
    prologue(g, w, true);
    ref(g, w->x, xr);
    if (cached && w->use_cache) put(&g->b, "%sxc[%s] = %s;\n", g->ind, g->ci, xr);
    switch (R->op) {
    case TIRRT_OP_SOFTMAX: put(&g->b, "%sa0 = TkMax::f(a0, (%s)%s);\n", g->ind, T, xr); break;
    case TIRRT_OP_LAYER_NORM: put(&g->b, "%sa0 += (%s)%s;\n", g->ind, T, xr); break;
    case TIRRT_OP_RMS_NORM:
      put(&g->b, "%s{ const %s dv = (%s)%s; a0 += dv * dv; }\n", g->ind, T, T, xr);
      break;
    default: { /* REDUCE */
      int32_t ad = ctype_dtype(DT(g, w->x));
      const char *A = ctype(ad);
      if (R->a.reduce.fn == TIRRT_RED_AMAX || R->a.reduce.fn == TIRRT_RED_AMIN)
        put(&g->b, "%sa0 = %s::f(a0, (%s)%s);\n", g->ind, R->a.reduce.fn == TIRRT_RED_AMAX ? "TkMax" : "TkMin", A, xr);
      else if (ad == TIRRT_DTYPE_I64) put(&g->b, "%sa0 = tk_wadd(a0, %s);\n", g->ind, xr);
      else put(&g->b, "%sa0 += (%s)%s;\n", g->ind, A, xr);
    }
    }
  } else if (pass == PASS2) {
    acquire_x(g, w, cached, xr);
    if (R->op == TIRRT_OP_SOFTMAX) put(&g->b, "%sa1 += exp%s((%s)%s - mx);\n", g->ind, s, T, xr);
    else put(&g->b, "%s{ const %s dv = (%s)%s - mean; a1 += dv * dv; }\n", g->ind, T, T, xr);
  } else {
    /* Prologue values other than x are recomputed (stores off); x alone
     * comes from the cache when there is one. */
    bool full = w->final_needs_pro;
    if (full) prologue(g, w, false);
    if (w->final_needs_x) {
      if (full) ref(g, w->x, xr);
      else acquire_x(g, w, cached, xr);
    }
    if (R->op != TIRRT_OP_REDUCE) {
      Buf e = {0};
      if (R->op == TIRRT_OP_SOFTMAX) {
        if (R->a.softmax.log) put(&e, "(%s)%s - lse", T, xr);
        else put(&e, "exp%s((%s)%s - mx) * inv", s, T, xr);
      } else {
        char wr[32], br[32];
        put(&g->b, "%s%s y = ", g->ind, T);
        if (R->op == TIRRT_OP_LAYER_NORM) put(&g->b, "((%s)%s - mean) * rstd;\n", T, xr);
        else put(&g->b, "(%s)%s * rstd;\n", T, xr);
        if (R->n_in > 1) {
          ref(g, R->in[1], wr);
          put(&g->b, "%sy = y * (%s)%s;\n", g->ind, T, wr);
        }
        if (R->n_in > 2) {
          ref(g, R->in[2], br);
          put(&g->b, "%sy = y + (%s)%s;\n", g->ind, T, br);
        }
        put(&e, "y");
      }
      int32_t od = DT(g, R->out);
      put(&g->b, "%sconst %s v%d = ", g->ind, ctype(od), R->out);
      if (!e.oom && e.p) cast(&g->b, w->t64 ? TIRRT_DTYPE_F64 : TIRRT_DTYPE_F32, od, e.p);
      else g->b.oom = true;
      put(&g->b, ";\n");
      free(e.p);
      g->avail[R->out] = true;
      char name[32];
      snprintf(name, sizeof name, "v%d", R->out);
      store(g, R->out, name);
    }
    for (int32_t i = g->pl->row + 1; i < w->end; i++)
      if (!w->row_scalar[i - g->pl->first]) emit_inst(g, i, true);
  }
  end_body(g, sa, sl);
  free(sa);
}

/* A vector body: the TK_VEC elements of the row from j0 on.  Every input
 * is loaded as a TkVec first (those a pass does not read are dead code);
 * the outputs the body writes are stored as TkVecs after it. */
static void vec_body(Gen *g, const Row *w, int pass, bool cached) {
  const TirFusePlan *pl = g->pl;
  const char *ind = g->ind;
  for (int32_t k = 0; k < pl->n_in; k++) {
    const char *st = storage(DT(g, pl->in[k]), false);
    put(&g->b, "%sTkVec<%s> va%d;\n%stk_vload(va%d, (const %s *)p.data[%d] + ro[%d], j0, ls[%d] != 0);\n", ind,
        st, k, ind, k, st, k, k, k);
  }
  Buf outer = g->b;
  memset(&g->b, 0, sizeof g->b);
  memset(g->stored, 0, sizeof g->stored);
  put(&g->b, "%s#pragma unroll\n%sfor (int u = 0; u < TK_VEC; ++u) {\n%s  const I j = j0 + (I)u;\n", ind, ind, ind);
  char inner_ind[32];
  snprintf(inner_ind, sizeof inner_ind, "%s  ", ind);
  g->ind = inner_ind;
  g->vec = true;
  g->ci = "u";
  body(g, w, pass, cached);
  g->vec = false;
  g->ci = "t";
  g->ind = ind;
  put(&g->b, "%s}\n", ind);
  Buf inner = g->b;
  g->b = outer;
  if (inner.oom) g->b.oom = true;
  for (int32_t k = 0; k < pl->n_out; k++)
    if (g->stored[pl->n_in + k])
      put(&g->b, "%sTkVec<%s> vo%d;\n", ind, storage(DT(g, pl->out[k]), true), pl->n_in + k);
  if (inner.p) put(&g->b, "%s", inner.p);
  free(inner.p);
  for (int32_t k = 0; k < pl->n_out; k++)
    if (g->stored[pl->n_in + k])
      put(&g->b, "%stk_vstore(vo%d, (%s *)p.data[%d] + ro[%d], j0);\n", ind, pl->n_in + k,
          storage(DT(g, pl->out[k]), true), pl->n_in + k, pl->n_in + k);
}

/* The loops of a pass over a row.  Scalar: TK_VPT elements per thread are
 * cached in registers (the unrolled loop), the rest recomputed.  Vector
 * (g->vec_row): the first TK_VEC-element chunk of each thread is cached
 * (TK_VEC == TK_VPT), the rest recomputed. */
static void loops(Gen *g, const Row *w, int pass) {
  bool v = g->vec_row;
  void (*each)(Gen *, const Row *, int, bool) = v ? vec_body : body;
  put(&g->b, "%s", v ? "    {\n      const I j0 = (I)threadIdx.x * (I)TK_VEC;\n      if (j0 < n) {\n"
                     : "    #pragma unroll\n    for (int t = 0; t < TK_VPT; ++t) {\n"
                       "      const I j = (I)threadIdx.x + (I)(t * TK_BS);\n      if (j < n) {\n");
  g->ind = "        ";
  each(g, w, pass, true);
  put(&g->b, "      }\n    }\n");
  put(&g->b, "%s", v ? "    for (I j0 = ((I)threadIdx.x + (I)TK_BS) * (I)TK_VEC; j0 < n; j0 += (I)(TK_BS * TK_VEC)) {\n"
                     : "    for (I j = (I)threadIdx.x + (I)(TK_VPT * TK_BS); j < n; j += (I)TK_BS) {\n");
  g->ind = "      ";
  each(g, w, pass, false);
  put(&g->b, "    }\n");
  g->ind = "    ";
}

static double dtype_eps(int32_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_F16: return 0.0009765625;
  case TIRRT_DTYPE_BF16: return 0.0078125;
  case TIRRT_DTYPE_F32: return 1.1920928955078125e-07; /* FLT_EPSILON */
  default: return 2.220446049250313080847e-16;          /* DBL_EPSILON */
  }
}

static void row_kernel(Gen *g) {
  const TirFusePlan *pl = g->pl;
  const tirrt_program_def_t *d = g->def;
  Row w;
  memset(&w, 0, sizeof w);
  w.R = &d->insts[pl->row];
  w.x = w.R->in[0];
  w.end = pl->first + pl->n;
  w.row_scalar = calloc((size_t)pl->n, sizeof(bool));
  if (!w.row_scalar) {
    g->b.oom = true;
    return;
  }
  w.x_inner = made_in(g, w.x, pl->first, pl->row);
  bool reduce = w.R->op == TIRRT_OP_REDUCE;
  w.final_needs_x = !reduce;
  w.has_final = !reduce;
  for (int32_t i = pl->first; i < w.end; i++) w.has_arange |= d->insts[i].op == TIRRT_OP_ARANGE;
  /* Row instruction inputs besides x (norm weights) read in the final pass. */
  for (int32_t k = 1; k < w.R->n_in; k++)
    if (made_in(g, w.R->in[k], pl->first, pl->row)) w.final_needs_pro = true;
  for (int32_t i = pl->row + 1; i < w.end; i++) {
    const tirrt_inst_t *in = &d->insts[i];
    w.row_scalar[i - pl->first] = !same_dims(g, in->out, w.x);
    if (w.row_scalar[i - pl->first]) continue;
    w.has_final = true;
    for (int32_t k = 0; k < in->n_in; k++) {
      if (in->in[k] == w.x) w.final_needs_x = true;
      else if (made_in(g, in->in[k], pl->first, pl->row)) w.final_needs_pro = true;
    }
  }
  w.use_cache = w.R->op == TIRRT_OP_SOFTMAX || w.R->op == TIRRT_OP_LAYER_NORM ||
                (w.has_final && w.final_needs_x && !w.final_needs_pro);
  int32_t xd = DT(g, w.x);
  w.t64 = xd == TIRRT_DTYPE_F64 || DT(g, w.R->out) == TIRRT_DTYPE_F64;
  for (int32_t k = 1; k < w.R->n_in; k++) w.t64 |= DT(g, w.R->in[k]) == TIRRT_DTYPE_F64;
  if (reduce) w.t64 = xd == TIRRT_DTYPE_F64;
  w.T = w.t64 ? "double" : "float";
  const char *T = w.T, *s = w.t64 ? "" : "f";

  put(&g->b, "template <typename I, int R> __device__ __forceinline__ void %s(const tirrt_fused_params_t &p) {\n"
             "  const int r = p.rank;\n"
             "  const I n = (I)tk_last<R>(p.shape, r);\n", g->vec_row ? "tk_runv" : "tk_run");
  put(&g->b, "  const I rows = (I)(p.numel / tk_last<R>(p.shape, r));\n"
             "  I ls[TK_NOPS];\n"
             "#pragma unroll\n"
             "  for (int k = 0; k < TK_NOPS; ++k) ls[k] = (I)tk_last<R>(p.strides[k], r);\n"
             "  for (I row = (I)blockIdx.x; row < rows; row += (I)gridDim.x) {\n"
             "    I ro[TK_NOPS];\n"
             "    tk_offsets<I, R>(p, row, r - 1, ro);\n");
  g->ind = "    ";
  g->offs = "ro";
  g->inpfx = "rin";
  if (w.use_cache) put(&g->b, "    %s xc[TK_VPT];\n", ctype(xd));
  int32_t od = DT(g, w.R->out);
  switch (w.R->op) {
  case TIRRT_OP_SOFTMAX:
    put(&g->b, "    %s a0 = -(%s)TK_INF, a1 = 0;\n", T, T);
    loops(g, &w, PASS1);
    put(&g->b, "    const %s mx = tk_block_reduce<%s, TkMax>(a0);\n", T, T);
    loops(g, &w, PASS2);
    put(&g->b, "    const %s sum = tk_block_reduce<%s, TkSum>(a1);\n", T, T);
    if (w.R->a.softmax.log) put(&g->b, "    const %s lse = mx + log%s(sum);\n", T, s);
    else put(&g->b, "    const %s inv = (%s)1 / sum;\n", T, T);
    break;
  case TIRRT_OP_LAYER_NORM:
  case TIRRT_OP_RMS_NORM: {
    bool ln = w.R->op == TIRRT_OP_LAYER_NORM;
    double eps = w.R->a.norm.eps < 0 && !ln ? dtype_eps(xd) : w.R->a.norm.eps;
    put(&g->b, "    %s a0 = 0, a1 = 0;\n", T);
    loops(g, &w, PASS1);
    if (ln) {
      put(&g->b, "    const %s mean = tk_block_reduce<%s, TkSum>(a0) / (%s)n;\n", T, T, T);
      loops(g, &w, PASS2);
      put(&g->b, "    const %s var = tk_block_reduce<%s, TkSum>(a1) / (%s)n;\n", T, T, T);
    } else {
      put(&g->b, "    (void)a1;\n    const %s var = tk_block_reduce<%s, TkSum>(a0) / (%s)n;\n", T, T, T);
    }
    put(&g->b, "    const %s rstd = (%s)1 / sqrt%s(var + (%s)", T, T, s, T);
    dbl(&g->b, eps);
    put(&g->b, ");\n");
    break;
  }
  default: {
    int32_t ad = ctype_dtype(xd);
    const char *A = ctype(ad);
    int64_t op = w.R->a.reduce.fn;
    const char *init = "0";
    if (op == TIRRT_RED_AMAX)
      init = ad == TIRRT_DTYPE_I64 ? "(-9223372036854775807ll - 1)" : ad == TIRRT_DTYPE_F64 ? "-(double)TK_INF" : "-TK_INF";
    else if (op == TIRRT_RED_AMIN)
      init = ad == TIRRT_DTYPE_I64 ? "9223372036854775807ll" : ad == TIRRT_DTYPE_F64 ? "(double)TK_INF" : "TK_INF";
    put(&g->b, "    %s a0 = %s;\n", A, init);
    loops(g, &w, PASS1);
    const char *opname = op == TIRRT_RED_AMAX ? "TkMax" : op == TIRRT_RED_AMIN ? "TkMin"
                         : ad == TIRRT_DTYPE_I64 ? "TkWSum" : "TkSum";
    put(&g->b, "    const %s acc = tk_block_reduce<%s, %s>(a0);\n", A, A, opname);
    put(&g->b, "    const %s v%d = ", ctype(od), w.R->out);
    if (op == TIRRT_RED_MEAN && ad == TIRRT_DTYPE_I64) cast(&g->b, TIRRT_DTYPE_F64, od, "(double)acc / (double)n");
    else if (op == TIRRT_RED_MEAN) cast(&g->b, ad, od, ad == TIRRT_DTYPE_F64 ? "acc / (double)n" : "acc / (float)n");
    else cast(&g->b, ad, od, "acc");
    put(&g->b, ";\n");
    g->avail[w.R->out] = true;
    /* Row scalars: every thread computes them, thread 0 writes them. */
    g->guard = "if (threadIdx.x == 0) ";
    char name[32];
    snprintf(name, sizeof name, "v%d", w.R->out);
    store(g, w.R->out, name);
    for (int32_t i = pl->row + 1; i < w.end; i++)
      if (w.row_scalar[i - pl->first]) emit_inst(g, i, true);
    g->guard = "";
    if (!w.has_final) put(&g->b, "    (void)n;\n");
    break;
  }
  }
  if (w.has_final) loops(g, &w, FINAL);
  put(&g->b, "  }\n}\n");
  free(w.row_scalar);
}

/* ------------------------------------------------------------ elementwise kernels */

/* Whether the run computes an arange (its body then needs `lin`). */
static bool has_arange(const Gen *g) {
  for (int32_t i = g->pl->first; i < g->pl->first + g->pl->n; i++)
    if (g->def->insts[i].op == TIRRT_OP_ARANGE) return true;
  return false;
}

static void elementwise_kernel(Gen *g) {
  const TirFusePlan *pl = g->pl;
  bool arange = has_arange(g);
  put(&g->b, "template <typename I, int R> __device__ __forceinline__ void tk_run(const tirrt_fused_params_t &p) {\n"
             "  const I numel = (I)p.numel;\n"
             "  for (I i = (I)blockIdx.x * (I)TK_BS + (I)threadIdx.x; i < numel; i += (I)gridDim.x * (I)TK_BS) {\n"
             "    I o[TK_NOPS];\n"
             "    tk_offsets<I, R>(p, i, p.rank, o);\n");
  if (arange) put(&g->b, "    const I lin = i;\n");
  g->ind = "    ";
  g->offs = "o";
  g->inpfx = "in";
  for (int32_t i = pl->first; i < pl->first + pl->n; i++) emit_inst(g, i, true);
  put(&g->b, "  }\n}\n");
}

/* The flat row kernel's test for its vector variant (tk_runv): rows of a
 * multiple of TK_VEC elements, and every operand either constant along the
 * row (stride 0: one element read per row) or contiguous along it with
 * rows starting at multiples of TK_VEC elements and data aligned for a
 * TkVec access.  The first TK_VEC elements of each thread are its cache. */
static void row_vec_check(Gen *g) {
  const TirFusePlan *pl = g->pl;
  put(&g->b, "static_assert(TK_VEC == TK_VPT, \"a thread caches one vector\");\n"
             "__device__ __forceinline__ bool tk_vec_ok(const tirrt_fused_params_t &p) {\n"
             "  const int r = p.rank;\n"
             "  if (r > 3 || tk_last<3>(p.shape, r) %% TK_VEC) return false;\n");
  for (int32_t k = 0; k < pl->n_in + pl->n_out; k++) {
    int32_t v = k < pl->n_in ? pl->in[k] : pl->out[k - pl->n_in];
    size_t es = elem_size(DT(g, v)), a = TIRRT_FUSED_VEC * es;
    if (a > 16) a = 16;
    put(&g->b, "  { const long long ls = tk_last<3>(p.strides[%d], r);\n"
               "    if (ls != 0 && (ls != 1 || (unsigned long long)p.data[%d] %% %zuull || (r > 1 && p.strides[%d][0] %% TK_VEC) ||\n"
               "                    (r > 2 && p.strides[%d][1] %% TK_VEC))) return false; }\n",
        k, k, a, k, k);
  }
  put(&g->b, "  return true;\n}\n");
}

/* Forgets every register and load (between the bodies of one source). */
static void fresh_scope(Gen *g) {
  memset(g->avail, 0, (size_t)g->def->n_values * sizeof(bool));
  memset(g->loaded, 0, sizeof g->loaded);
}

/* The flat elementwise kernel, for the common launch where the merged
 * iteration space is one dim, every operand is contiguous (stride 1) or a
 * broadcast scalar (stride 0), unit-stride operands are aligned to their
 * TK_VEC-element vectors, and indices fit 32 bits (the executor checks all
 * of that).  Each thread moves TK_VEC elements per operand with 16-byte
 * accesses: with one 2-byte access per thread too few bytes are in flight
 * to reach the memory bandwidth.  The tail (numel % TK_VEC) runs the
 * scalar body. */
static void elementwise_flat(Gen *g) {
  const TirFusePlan *pl = g->pl;
  bool arange = has_arange(g);
  put(&g->b, "__device__ __forceinline__ void tk_flat(const tirrt_fused_params_t &p) {\n"
             "  const int numel = (int)p.numel, nvec = numel / TK_VEC;\n"
             "  for (int q = (int)(blockIdx.x * TK_BS + threadIdx.x); q < nvec; q += (int)(gridDim.x * TK_BS)) {\n"
             "    const int i0 = q * TK_VEC;\n");
  for (int32_t k = 0; k < pl->n_in; k++) {
    const char *st = storage(DT(g, pl->in[k]), false);
    put(&g->b, "    TkVec<%s> va%d;\n    tk_vload(va%d, (const %s *)p.data[%d], i0, p.strides[%d][0] != 0);\n",
        st, k, k, st, k, k);
  }
  for (int32_t j = 0; j < pl->n_out; j++)
    put(&g->b, "    TkVec<%s> vo%d;\n", storage(DT(g, pl->out[j]), true), pl->n_in + j);
  put(&g->b, "#pragma unroll\n    for (int u = 0; u < TK_VEC; ++u) {\n");
  if (arange) put(&g->b, "      const int lin = i0 + u;\n");
  fresh_scope(g);
  g->vec = true;
  g->ind = "      ";
  for (int32_t i = pl->first; i < pl->first + pl->n; i++) emit_inst(g, i, true);
  g->vec = false;
  put(&g->b, "    }\n");
  for (int32_t j = 0; j < pl->n_out; j++)
    put(&g->b, "    tk_vstore(vo%d, (%s *)p.data[%d], i0);\n", pl->n_in + j, storage(DT(g, pl->out[j]), true),
        pl->n_in + j);
  put(&g->b, "  }\n"
             "  for (int i = nvec * TK_VEC + (int)(blockIdx.x * TK_BS + threadIdx.x); i < numel; i += (int)(gridDim.x * TK_BS)) {\n"
             "    int o[TK_NOPS];\n"
             "#pragma unroll\n"
             "    for (int k = 0; k < TK_NOPS; ++k) o[k] = i * (int)p.strides[k][0];\n");
  if (arange) put(&g->b, "    const int lin = i;\n");
  fresh_scope(g);
  g->ind = "    ";
  g->offs = "o";
  g->inpfx = "in";
  for (int32_t i = pl->first; i < pl->first + pl->n; i++) emit_inst(g, i, true);
  put(&g->b, "  }\n}\n");
}

/* ------------------------------------------------------------ the source */

static const char *const OPNAME[] = {
    "unary", "binary", "where", "masked_fill", "cast", "reduce", "softmax", "layer_norm",
    "rms_norm", "matmul", "linear", "reshape", "permute", "expand", "slice", "concat",
    "copy", "arange", "full", "tri", "embedding", "dropout", "sdpa"};

char *tir_fuse_source(const tirrt_program_def_t *def, const TirFusePlan *plan, const char *name) {
  Gen g;
  memset(&g, 0, sizeof g);
  g.def = def;
  g.pl = plan;
  g.guard = "";
  g.ci = "t";
  g.ind = "    ";
  g.offs = "o";
  g.inpfx = "in";
  g.opnd = malloc(((size_t)def->n_values + 1) * sizeof *g.opnd);
  g.avail = calloc((size_t)def->n_values + 1, sizeof *g.avail);
  if (!g.opnd || !g.avail) {
    free(g.opnd);
    free(g.avail);
    return NULL;
  }
  for (int32_t v = 0; v < def->n_values; v++) g.opnd[v] = -1;
  for (int32_t k = 0; k < plan->n_in; k++) g.opnd[plan->in[k]] = k;
  for (int32_t k = 0; k < plan->n_out; k++) g.opnd[plan->out[k]] = plan->n_in + k;

  Buf *b = &g.b;
  /* No file name here: the source is the cache key, and equal kernels of
   * different files should share an entry. */
  put(b, "// Generated by tirc: %s kernel %s for instructions [%d, %d).\n",
      plan->kind == TIRRT_KERNEL_ROWWISE ? "row-wise" : "elementwise", name, plan->first,
      plan->first + plan->n);
  for (int32_t i = plan->first; i < plan->first + plan->n; i++) {
    const tirrt_inst_t *in = &def->insts[i];
    put(b, "//   v%d = %s", in->out, in->op >= 0 && in->op < TIRRT_OP_COUNT ? OPNAME[in->op] : "?");
    if (in->op == TIRRT_OP_UNARY || in->op == TIRRT_OP_BINARY || in->op == TIRRT_OP_REDUCE)
      put(b, "#%d", in->op == TIRRT_OP_UNARY    ? in->a.unary.fn
                    : in->op == TIRRT_OP_BINARY ? in->a.binary.fn
                                                : in->a.reduce.fn);
    for (int32_t k = 0; k < in->n_in; k++) put(b, "%sv%d", k ? ", " : "(", in->in[k]);
    put(b, "%s  [%s]\n", in->n_in ? ")" : "()", def->values[in->out].name);
  }
  put(b, "// Operands: inputs");
  for (int32_t k = 0; k < plan->n_in; k++) put(b, " v%d", plan->in[k]);
  put(b, "; outputs");
  for (int32_t k = 0; k < plan->n_out; k++) put(b, " v%d", plan->out[k]);
  put(b, ".\n#define TK_BS %d\n#define TK_VPT %d\n#define TK_VEC %d\n#define TK_NOPS %d\n", plan->block_size,
      TIR_FUSE_VPT, TIRRT_FUSED_VEC, plan->n_in + plan->n_out);
  struct_decl(b);
  for (size_t i = 0; i < tir_common_src_count; i++) put(b, "%s", tir_common_src[i]);
  for (size_t i = 0; i < tir_fuse_preamble_count; i++) put(b, "%s", tir_fuse_preamble[i]);
  bool row = plan->kind == TIRRT_KERNEL_ROWWISE;
  if (row) {
    row_kernel(&g);
    fresh_scope(&g);
    g.vec_row = true;
    row_kernel(&g);
    g.vec_row = false;
    row_vec_check(&g);
  } else {
    elementwise_kernel(&g);
    elementwise_flat(&g);
  }
  /* Two entry points: the general one takes any rank and 64-bit indices;
   * <name>_flat (tirrt.h: TIRRT_FUSED_FLAT_SUFFIX) takes the launches the
   * executor has checked are flat (see elementwise_flat; for a row kernel:
   * at most two dims besides the row, 32-bit indices).  It is a kernel of its
   * own so its few registers are not held hostage by the general path's
   * (hoisted strides of every operand and dim: over 200 registers for a
   * residual add + layer_norm, 2 blocks per SM).  Its launch bounds ask
 * for half occupancy (at most 64 registers), which the row kernels do not
 * reach on their own (122 registers for that layer_norm, 56 when asked,
 * without spills). */
  put(b, "extern \"C\" __global__ void __launch_bounds__(TK_BS) %s(const __grid_constant__ tirrt_fused_params_t p) {\n"
         "  if (tk_fits32(p)) tk_run<int, TK_MAXR>(p);\n  else tk_run<long long, TK_MAXR>(p);\n}\n", name);
  put(b, "extern \"C\" __global__ void __launch_bounds__(TK_BS, 1024 / TK_BS) %s" TIRRT_FUSED_FLAT_SUFFIX
         "(const __grid_constant__ tirrt_fused_params_t p) {\n  %s\n}\n",
      name, row ? "if (tk_vec_ok(p)) tk_runv<int, 3>(p);\n  else tk_run<int, 3>(p);" : "tk_flat(p);");
  free(g.opnd);
  free(g.avail);
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  return b->p;
}
