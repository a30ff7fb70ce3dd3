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
 * static_asserts against the host layout, so a drift fails the compile.
 *
 * This file assembles the source and writes the elementwise kernels;
 * fuse_expr.c emits the instructions, fuse_row.c the ROWWISE bodies. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_gen.h"

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
  tir_fs_put(b, "#define TK_MAXR %d\n#define TK_MAXOPS %d\n", R_, O_);
  tir_fs_put(b, "typedef struct tirrt_fused_params_s {\n");
  for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS; i++)
    tir_fs_put(b, "  %s; /* at byte %zu */\n", FIELDS[i].decl, FIELDS[i].offset);
  tir_fs_put(b, "} tirrt_fused_params_t;\n");
  tir_fs_put(b, "static_assert(sizeof(tirrt_fused_params_t) == %zu && alignof(tirrt_fused_params_t) == %zu,\n"
         "              \"the parameter struct differs from tirrt.h\");\n",
      sizeof(tirrt_fused_params_t), _Alignof(tirrt_fused_params_t));
  for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS; i++)
    tir_fs_put(b, "static_assert(sizeof(tirrt_fused_params_t::%s) == %zu, \"the parameter struct differs\");\n",
        FIELDS[i].name, FIELDS[i].size);
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
  tir_fs_put(&g->b, "template <typename I, int R> __device__ __forceinline__ void tk_run(const tirrt_fused_params_t &p) {\n"
             "  const I numel = (I)p.numel;\n"
             "  for (I i = (I)blockIdx.x * (I)TK_BS + (I)threadIdx.x; i < numel; i += (I)gridDim.x * (I)TK_BS) {\n"
             "    I o[TK_NOPS];\n"
             "    tk_offsets<I, R>(p, i, p.rank, o);\n");
  if (arange) tir_fs_put(&g->b, "    const I lin = i;\n");
  g->ind = "    ";
  g->offs = "o";
  g->inpfx = "in";
  for (int32_t i = pl->first; i < pl->first + pl->n; i++) tir_fs_emit_inst(g, i, true);
  tir_fs_put(&g->b, "  }\n}\n");
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
  tir_fs_put(&g->b, "__device__ __forceinline__ void tk_flat(const tirrt_fused_params_t &p) {\n"
             "  const int numel = (int)p.numel, nvec = numel / TK_VEC;\n"
             "  for (int q = (int)(blockIdx.x * TK_BS + threadIdx.x); q < nvec; q += (int)(gridDim.x * TK_BS)) {\n"
             "    const int i0 = q * TK_VEC;\n");
  for (int32_t k = 0; k < pl->n_in; k++) {
    const char *st = storage(DT(g, pl->in[k]), false);
    tir_fs_put(&g->b, "    TkVec<%s> va%d;\n    tk_vload(va%d, (const %s *)p.data[%d], i0, p.strides[%d][0] != 0);\n",
        st, k, k, st, k, k);
  }
  for (int32_t j = 0; j < pl->n_out; j++)
    tir_fs_put(&g->b, "    TkVec<%s> vo%d;\n", storage(DT(g, pl->out[j]), true), pl->n_in + j);
  tir_fs_put(&g->b, "#pragma unroll\n    for (int u = 0; u < TK_VEC; ++u) {\n");
  if (arange) tir_fs_put(&g->b, "      const int lin = i0 + u;\n");
  tir_fs_fresh_scope(g);
  g->vec = true;
  g->ind = "      ";
  for (int32_t i = pl->first; i < pl->first + pl->n; i++) tir_fs_emit_inst(g, i, true);
  g->vec = false;
  tir_fs_put(&g->b, "    }\n");
  for (int32_t j = 0; j < pl->n_out; j++)
    tir_fs_put(&g->b, "    tk_vstore(vo%d, (%s *)p.data[%d], i0);\n", pl->n_in + j, storage(DT(g, pl->out[j]), true),
        pl->n_in + j);
  tir_fs_put(&g->b, "  }\n"
             "  for (int i = nvec * TK_VEC + (int)(blockIdx.x * TK_BS + threadIdx.x); i < numel; i += (int)(gridDim.x * TK_BS)) {\n"
             "    int o[TK_NOPS];\n"
             "#pragma unroll\n"
             "    for (int k = 0; k < TK_NOPS; ++k) o[k] = i * (int)p.strides[k][0];\n");
  if (arange) tir_fs_put(&g->b, "    const int lin = i;\n");
  tir_fs_fresh_scope(g);
  g->ind = "    ";
  g->offs = "o";
  g->inpfx = "in";
  for (int32_t i = pl->first; i < pl->first + pl->n; i++) tir_fs_emit_inst(g, i, true);
  tir_fs_put(&g->b, "  }\n}\n");
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
  g.local = malloc(((size_t)def->n_values + 1) * sizeof *g.local);
  g.avail = calloc((size_t)def->n_values + 1, sizeof *g.avail);
  if (!g.opnd || !g.local || !g.avail) {
    free(g.opnd);
    free(g.local);
    free(g.avail);
    return NULL;
  }
  for (int32_t v = 0; v < def->n_values; v++) g.opnd[v] = g.local[v] = -1;
  for (int32_t k = 0; k < plan->n_in; k++) g.opnd[plan->in[k]] = k;
  for (int32_t k = 0; k < plan->n_out; k++) g.opnd[plan->out[k]] = plan->n_in + k;
  /* Registers are numbered in the kernel (inputs, then results in order),
   * not by program value: equal runs of different layers give equal
   * sources, compiled once (fuse_cuda.c) and shared in the cache. */
  int32_t nl = 0;
  for (int32_t k = 0; k < plan->n_in; k++)
    if (g.local[plan->in[k]] < 0) g.local[plan->in[k]] = nl++;
  for (int32_t i = plan->first; i < plan->first + plan->n; i++)
    if (g.local[def->insts[i].out] < 0) g.local[def->insts[i].out] = nl++;

  Buf *b = &g.b;
  /* No file name, instruction numbers or value names here: the source is
   * the cache key, and equal kernels of different layers and files should
   * share an entry. */
  tir_fs_put(b, "// Generated by tirc: %s kernel.\n",
      plan->kind == TIRRT_KERNEL_ROWWISE ? "row-wise" : "elementwise");
  for (int32_t i = plan->first; i < plan->first + plan->n; i++) {
    const tirrt_inst_t *in = &def->insts[i];
    tir_fs_put(b, "//   v%d = %s", g.local[in->out], in->op >= 0 && in->op < TIRRT_OP_COUNT ? OPNAME[in->op] : "?");
    if (in->op == TIRRT_OP_UNARY || in->op == TIRRT_OP_BINARY || in->op == TIRRT_OP_REDUCE)
      tir_fs_put(b, "#%d", in->op == TIRRT_OP_UNARY    ? in->a.unary.fn
                    : in->op == TIRRT_OP_BINARY ? in->a.binary.fn
                                                : in->a.reduce.fn);
    for (int32_t k = 0; k < in->n_in; k++) tir_fs_put(b, "%sv%d", k ? ", " : "(", g.local[in->in[k]]);
    tir_fs_put(b, "%s\n", in->n_in ? ")" : "()");
  }
  tir_fs_put(b, "// Operands: inputs");
  for (int32_t k = 0; k < plan->n_in; k++) tir_fs_put(b, " v%d", g.local[plan->in[k]]);
  tir_fs_put(b, "; outputs");
  for (int32_t k = 0; k < plan->n_out; k++) tir_fs_put(b, " v%d", g.local[plan->out[k]]);
  tir_fs_put(b, ".\n#define TK_BS %d\n#define TK_VPT %d\n#define TK_VEC %d\n#define TK_NOPS %d\n", plan->block_size,
      TIR_FUSE_VPT, TIRRT_FUSED_VEC, plan->n_in + plan->n_out);
  struct_decl(b);
  for (size_t i = 0; i < tir_common_src_count; i++) tir_fs_put(b, "%s", tir_common_src[i]);
  for (size_t i = 0; i < tir_fuse_preamble_count; i++) tir_fs_put(b, "%s", tir_fuse_preamble[i]);
  bool row = plan->kind == TIRRT_KERNEL_ROWWISE;
  if (row) {
    tir_fs_row_kernel(&g);
    tir_fs_fresh_scope(&g);
    g.vec_row = true;
    tir_fs_row_kernel(&g);
    g.vec_row = false;
    tir_fs_row_vec_check(&g);
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
  tir_fs_put(b, "extern \"C\" __global__ void __launch_bounds__(TK_BS) %s(const __grid_constant__ tirrt_fused_params_t p) {\n"
         "  if (tk_fits32(p)) tk_run<int, TK_MAXR>(p);\n  else tk_run<long long, TK_MAXR>(p);\n}\n", name);
  tir_fs_put(b, "extern \"C\" __global__ void __launch_bounds__(TK_BS, 1024 / TK_BS) %s" TIRRT_FUSED_FLAT_SUFFIX
         "(const __grid_constant__ tirrt_fused_params_t p) {\n  %s\n}\n",
      name, row ? "if (tk_vec_ok(p)) tk_runv<int, 3>(p);\n  else tk_run<int, 3>(p);" : "tk_flat(p);");
  free(g.opnd);
  free(g.local);
  free(g.avail);
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  return b->p;
}
