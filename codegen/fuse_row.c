/* fuse_row.c — the body of a fused ROWWISE kernel (a softmax, norm or
 * reduction over the last dim with its prologue and epilogue): the passes
 * over a row with their block reductions, the register cache of the row,
 * the vector variant, and its alignment test.  Instructions are emitted by
 * fuse_expr.c; fuse_src.c assembles the source. */
#include <stdlib.h>
#include <string.h>

#include "fuse_gen.h"

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
  tir_fs_put(&g->b, "%sI o[TK_NOPS];\n%s#pragma unroll\n%sfor (int k = 0; k < TK_NOPS; ++k) o[k] = ro[k] + j * ls[k];\n",
      g->ind, g->ind, g->ind);
  if (w->has_arange) tir_fs_put(&g->b, "%sconst I lin = row * n + j;\n", g->ind);
}

static void end_body(Gen *g, const bool *saved_avail, const bool *saved_loaded) {
  memcpy(g->avail, saved_avail, (size_t)g->def->n_values * sizeof(bool));
  memcpy(g->loaded, saved_loaded, sizeof g->loaded);
  g->offs = "ro";
  g->inpfx = "rin";
}

static void prologue(Gen *g, const Row *w, bool do_store) {
  for (int32_t i = g->pl->first; i < g->pl->row; i++) tir_fs_emit_inst(g, i, do_store);
  (void)w;
}

/* Makes x available in an element body: from the register cache, or by
 * recomputing the prologue (a load when x is an input). */
static void acquire_x(Gen *g, const Row *w, bool cached, char xr[32]) {
  int32_t xd = DT(g, w->x);
  if (cached && w->use_cache) {
    tir_fs_put(&g->b, "%sconst %s v%d = xc[%s];\n", g->ind, ctype(xd), LV(g, w->x), g->ci);
    g->avail[w->x] = true;
  } else if (w->x_inner) {
    prologue(g, w, false);
  }
  tir_fs_ref(g, w->x, xr);
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
    tir_fs_ref(g, w->x, xr);
    if (cached && w->use_cache) tir_fs_put(&g->b, "%sxc[%s] = %s;\n", g->ind, g->ci, xr);
    switch (R->op) {
    case TIRRT_OP_SOFTMAX: tir_fs_put(&g->b, "%sa0 = TkMax::f(a0, (%s)%s);\n", g->ind, T, xr); break;
    case TIRRT_OP_LAYER_NORM: tir_fs_put(&g->b, "%sa0 += (%s)%s;\n", g->ind, T, xr); break;
    case TIRRT_OP_RMS_NORM:
      tir_fs_put(&g->b, "%s{ const %s dv = (%s)%s; a0 += dv * dv; }\n", g->ind, T, T, xr);
      break;
    default: { /* REDUCE */
      int32_t ad = ctype_dtype(DT(g, w->x));
      const char *A = ctype(ad);
      if (R->a.reduce.fn == TIRRT_RED_AMAX || R->a.reduce.fn == TIRRT_RED_AMIN)
        tir_fs_put(&g->b, "%sa0 = %s::f(a0, (%s)%s);\n", g->ind, R->a.reduce.fn == TIRRT_RED_AMAX ? "TkMax" : "TkMin", A, xr);
      else if (ad == TIRRT_DTYPE_I64) tir_fs_put(&g->b, "%sa0 = tk_wadd(a0, %s);\n", g->ind, xr);
      else tir_fs_put(&g->b, "%sa0 += (%s)%s;\n", g->ind, A, xr);
    }
    }
  } else if (pass == PASS2) {
    acquire_x(g, w, cached, xr);
    if (R->op == TIRRT_OP_SOFTMAX) tir_fs_put(&g->b, "%sa1 += exp%s((%s)%s - mx);\n", g->ind, s, T, xr);
    else tir_fs_put(&g->b, "%s{ const %s dv = (%s)%s - mean; a1 += dv * dv; }\n", g->ind, T, T, xr);
  } else {
    /* Prologue values other than x are recomputed (stores off); x alone
     * comes from the cache when there is one. */
    bool full = w->final_needs_pro;
    if (full) prologue(g, w, false);
    if (w->final_needs_x) {
      if (full) tir_fs_ref(g, w->x, xr);
      else acquire_x(g, w, cached, xr);
    }
    if (R->op != TIRRT_OP_REDUCE) {
      Buf e = {0};
      if (R->op == TIRRT_OP_SOFTMAX) {
        if (R->a.softmax.log) tir_fs_put(&e, "(%s)%s - lse", T, xr);
        else tir_fs_put(&e, "exp%s((%s)%s - mx) * inv", s, T, xr);
      } else {
        char wr[32], br[32];
        tir_fs_put(&g->b, "%s%s y = ", g->ind, T);
        if (R->op == TIRRT_OP_LAYER_NORM) tir_fs_put(&g->b, "((%s)%s - mean) * rstd;\n", T, xr);
        else tir_fs_put(&g->b, "(%s)%s * rstd;\n", T, xr);
        if (R->n_in > 1) {
          tir_fs_ref(g, R->in[1], wr);
          tir_fs_put(&g->b, "%sy = y * (%s)%s;\n", g->ind, T, wr);
        }
        if (R->n_in > 2) {
          tir_fs_ref(g, R->in[2], br);
          tir_fs_put(&g->b, "%sy = y + (%s)%s;\n", g->ind, T, br);
        }
        tir_fs_put(&e, "y");
      }
      int32_t od = DT(g, R->out);
      tir_fs_put(&g->b, "%sconst %s v%d = ", g->ind, ctype(od), LV(g, R->out));
      if (!e.oom && e.p) tir_fs_cast(&g->b, w->t64 ? TIRRT_DTYPE_F64 : TIRRT_DTYPE_F32, od, e.p);
      else g->b.oom = true;
      tir_fs_put(&g->b, ";\n");
      free(e.p);
      g->avail[R->out] = true;
      char name[32];
      snprintf(name, sizeof name, "v%d", LV(g, R->out));
      tir_fs_store(g, R->out, name);
    }
    for (int32_t i = g->pl->row + 1; i < w->end; i++)
      if (!w->row_scalar[i - g->pl->first]) tir_fs_emit_inst(g, i, true);
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
    tir_fs_put(&g->b, "%sTkVec<%s> va%d;\n%stk_vload(va%d, (const %s *)p.data[%d] + ro[%d], j0, ls[%d] != 0);\n", ind,
        st, k, ind, k, st, k, k, k);
  }
  Buf outer = g->b;
  memset(&g->b, 0, sizeof g->b);
  memset(g->stored, 0, sizeof g->stored);
  tir_fs_put(&g->b, "%s#pragma unroll\n%sfor (int u = 0; u < TK_VEC; ++u) {\n%s  const I j = j0 + (I)u;\n", ind, ind, ind);
  char inner_ind[32];
  snprintf(inner_ind, sizeof inner_ind, "%s  ", ind);
  g->ind = inner_ind;
  g->vec = true;
  g->ci = "u";
  body(g, w, pass, cached);
  g->vec = false;
  g->ci = "t";
  g->ind = ind;
  tir_fs_put(&g->b, "%s}\n", ind);
  Buf inner = g->b;
  g->b = outer;
  if (inner.oom) g->b.oom = true;
  for (int32_t k = 0; k < pl->n_out; k++)
    if (g->stored[pl->n_in + k])
      tir_fs_put(&g->b, "%sTkVec<%s> vo%d;\n", ind, storage(DT(g, pl->out[k]), true), pl->n_in + k);
  if (inner.p) tir_fs_put(&g->b, "%s", inner.p);
  free(inner.p);
  for (int32_t k = 0; k < pl->n_out; k++)
    if (g->stored[pl->n_in + k])
      tir_fs_put(&g->b, "%stk_vstore(vo%d, (%s *)p.data[%d] + ro[%d], j0);\n", ind, pl->n_in + k,
          storage(DT(g, pl->out[k]), true), pl->n_in + k, pl->n_in + k);
}

/* The loops of a pass over a row.  Scalar: TK_VPT elements per thread are
 * cached in registers (the unrolled loop), the rest recomputed.  Vector
 * (g->vec_row): the first TK_VEC-element chunk of each thread is cached
 * (TK_VEC == TK_VPT), the rest recomputed. */
static void loops(Gen *g, const Row *w, int pass) {
  bool v = g->vec_row;
  void (*each)(Gen *, const Row *, int, bool) = v ? vec_body : body;
  tir_fs_put(&g->b, "%s", v ? "    {\n      const I j0 = (I)threadIdx.x * (I)TK_VEC;\n      if (j0 < n) {\n"
                     : "    #pragma unroll\n    for (int t = 0; t < TK_VPT; ++t) {\n"
                       "      const I j = (I)threadIdx.x + (I)(t * TK_BS);\n      if (j < n) {\n");
  g->ind = "        ";
  each(g, w, pass, true);
  tir_fs_put(&g->b, "      }\n    }\n");
  tir_fs_put(&g->b, "%s", v ? "    for (I j0 = ((I)threadIdx.x + (I)TK_BS) * (I)TK_VEC; j0 < n; j0 += (I)(TK_BS * TK_VEC)) {\n"
                     : "    for (I j = (I)threadIdx.x + (I)(TK_VPT * TK_BS); j < n; j += (I)TK_BS) {\n");
  g->ind = "      ";
  each(g, w, pass, false);
  tir_fs_put(&g->b, "    }\n");
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

void tir_fs_row_kernel(Gen *g) {
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

  tir_fs_put(&g->b, "template <typename I, int R> __device__ __forceinline__ void %s(const tirrt_fused_params_t &p) {\n"
             "  const int r = p.rank;\n"
             "  const I n = (I)tk_last<R>(p.shape, r);\n", g->vec_row ? "tk_runv" : "tk_run");
  tir_fs_put(&g->b, "  const I rows = (I)(p.numel / tk_last<R>(p.shape, r));\n"
             "  I ls[TK_NOPS];\n"
             "#pragma unroll\n"
             "  for (int k = 0; k < TK_NOPS; ++k) ls[k] = (I)tk_last<R>(p.strides[k], r);\n"
             "  for (I row = (I)blockIdx.x; row < rows; row += (I)gridDim.x) {\n"
             "    I ro[TK_NOPS];\n"
             "    tk_offsets<I, R>(p, row, r - 1, ro);\n");
  g->ind = "    ";
  g->offs = "ro";
  g->inpfx = "rin";
  if (w.use_cache) tir_fs_put(&g->b, "    %s xc[TK_VPT];\n", ctype(xd));
  int32_t od = DT(g, w.R->out);
  switch (w.R->op) {
  case TIRRT_OP_SOFTMAX:
    tir_fs_put(&g->b, "    %s a0 = -(%s)TK_INF, a1 = 0;\n", T, T);
    loops(g, &w, PASS1);
    tir_fs_put(&g->b, "    const %s mx = tk_block_reduce<%s, TkMax>(a0);\n", T, T);
    loops(g, &w, PASS2);
    tir_fs_put(&g->b, "    const %s sum = tk_block_reduce<%s, TkSum>(a1);\n", T, T);
    if (w.R->a.softmax.log) tir_fs_put(&g->b, "    const %s lse = mx + log%s(sum);\n", T, s);
    else tir_fs_put(&g->b, "    const %s inv = (%s)1 / sum;\n", T, T);
    break;
  case TIRRT_OP_LAYER_NORM:
  case TIRRT_OP_RMS_NORM: {
    bool ln = w.R->op == TIRRT_OP_LAYER_NORM;
    double eps = w.R->a.norm.eps < 0 && !ln ? dtype_eps(xd) : w.R->a.norm.eps;
    tir_fs_put(&g->b, "    %s a0 = 0, a1 = 0;\n", T);
    loops(g, &w, PASS1);
    if (ln) {
      tir_fs_put(&g->b, "    const %s mean = tk_block_reduce<%s, TkSum>(a0) / (%s)n;\n", T, T, T);
      loops(g, &w, PASS2);
      tir_fs_put(&g->b, "    const %s var = tk_block_reduce<%s, TkSum>(a1) / (%s)n;\n", T, T, T);
    } else {
      tir_fs_put(&g->b, "    (void)a1;\n    const %s var = tk_block_reduce<%s, TkSum>(a0) / (%s)n;\n", T, T, T);
    }
    tir_fs_put(&g->b, "    const %s rstd = (%s)1 / sqrt%s(var + (%s)", T, T, s, T);
    tir_fs_dbl(&g->b, eps);
    tir_fs_put(&g->b, ");\n");
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
    tir_fs_put(&g->b, "    %s a0 = %s;\n", A, init);
    loops(g, &w, PASS1);
    const char *opname = op == TIRRT_RED_AMAX ? "TkMax" : op == TIRRT_RED_AMIN ? "TkMin"
                         : ad == TIRRT_DTYPE_I64 ? "TkWSum" : "TkSum";
    tir_fs_put(&g->b, "    const %s acc = tk_block_reduce<%s, %s>(a0);\n", A, A, opname);
    tir_fs_put(&g->b, "    const %s v%d = ", ctype(od), LV(g, w.R->out));
    if (op == TIRRT_RED_MEAN && ad == TIRRT_DTYPE_I64) tir_fs_cast(&g->b, TIRRT_DTYPE_F64, od, "(double)acc / (double)n");
    else if (op == TIRRT_RED_MEAN) tir_fs_cast(&g->b, ad, od, ad == TIRRT_DTYPE_F64 ? "acc / (double)n" : "acc / (float)n");
    else tir_fs_cast(&g->b, ad, od, "acc");
    tir_fs_put(&g->b, ";\n");
    g->avail[w.R->out] = true;
    /* Row scalars: every thread computes them, thread 0 writes them. */
    g->guard = "if (threadIdx.x == 0) ";
    char name[32];
    snprintf(name, sizeof name, "v%d", LV(g, w.R->out));
    tir_fs_store(g, w.R->out, name);
    for (int32_t i = pl->row + 1; i < w.end; i++)
      if (w.row_scalar[i - pl->first]) tir_fs_emit_inst(g, i, true);
    g->guard = "";
    if (!w.has_final) tir_fs_put(&g->b, "    (void)n;\n");
    break;
  }
  }
  if (w.has_final) loops(g, &w, FINAL);
  tir_fs_put(&g->b, "  }\n}\n");
  free(w.row_scalar);
}

/* The flat row kernel's test for its vector variant (tk_runv): rows of a
 * multiple of TK_VEC elements, and every operand either constant along the
 * row (stride 0: one element read per row) or contiguous along it with
 * rows starting at multiples of TK_VEC elements and data aligned for a
 * TkVec access.  The first TK_VEC elements of each thread are its cache. */
void tir_fs_row_vec_check(Gen *g) {
  const TirFusePlan *pl = g->pl;
  tir_fs_put(&g->b, "static_assert(TK_VEC == TK_VPT, \"a thread caches one vector\");\n"
             "__device__ __forceinline__ bool tk_vec_ok(const tirrt_fused_params_t &p) {\n"
             "  const int r = p.rank;\n"
             "  if (r > 3 || tk_last<3>(p.shape, r) %% TK_VEC) return false;\n");
  for (int32_t k = 0; k < pl->n_in + pl->n_out; k++) {
    int32_t v = k < pl->n_in ? pl->in[k] : pl->out[k - pl->n_in];
    size_t es = elem_size(DT(g, v)), a = TIRRT_FUSED_VEC * es;
    if (a > 16) a = 16;
    tir_fs_put(&g->b, "  { const long long ls = tk_last<3>(p.strides[%d], r);\n"
               "    if (ls != 0 && (ls != 1 || (unsigned long long)p.data[%d] %% %zuull || (r > 1 && p.strides[%d][0] %% TK_VEC) ||\n"
               "                    (r > 2 && p.strides[%d][1] %% TK_VEC))) return false; }\n",
        k, k, a, k, k);
  }
  tir_fs_put(&g->b, "  return true;\n}\n");
}
