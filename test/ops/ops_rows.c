/* ops_rows.c — the rows the table-driven op test walks and the cases made
 * from each: the elementwise table (common/tir_ew_table.h, through its
 * data view tir_ew_row), where / masked_fill / cast, the reductions of the
 * same table, and softmax / log_softmax.  A row whose dtype domain says it
 * takes a dtype must be accepted by the IR's infer and the other way
 * round: the table and the IR cannot drift apart unnoticed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_cases.h"
#include "tir_ew.h"
#include "tt.h"

static const TirDType ALL_DT[] = {TIR_BOOL, TIR_I8,  TIR_I16,  TIR_I32, TIR_I64,
                                  TIR_U8,   TIR_F16, TIR_BF16, TIR_F32, TIR_F64};
enum { NDT = sizeof ALL_DT / sizeof *ALL_DT };

#define SH0 {0, {0}, false}
static const Sh UNARY_SHAPES[] = {SH0,          {1, {1}, 0},       {1, {7}, 0},
                                  {2, {3, 5}, 0}, {3, {2, 3, 4}, 1}, {1, {0}, 0},
                                  {3, {3, 0, 2}, 0}, {1, {1031}, 0}};
static const int UNARY_QUICK[] = {0, 4, 5, 7};
static const Sh BINARY_SHAPES[][3] = {
    {SH0, SH0, SH0},
    {{1, {7}, 0}, {1, {7}, 0}, {1, {7}, 0}},
    {{2, {3, 1}, 0}, {2, {1, 5}, 0}, SH0},
    {{1, {5}, 0}, {2, {3, 5}, 0}, {1, {5}, 0}},
    {SH0, {2, {2, 3}, 0}, {2, {2, 3}, 0}},
    {{1, {0}, 0}, {1, {0}, 0}, {1, {0}, 0}},
    {{2, {3, 0}, 0}, {2, {1, 0}, 0}, {2, {3, 0}, 0}},
    {{3, {2, 3, 4}, 1}, {3, {2, 3, 4}, 0}, {1, {4}, 0}},
    {{1, {1031}, 0}, {1, {1031}, 0}, {1, {1031}, 0}},
    {{3, {4, 1, 3}, 0}, {2, {5, 1}, 0}, {3, {4, 5, 3}, 0}},
};
static const int BINARY_QUICK[] = {0, 2, 5, 7, 8};
static const Sh ROW_SHAPES[] = {SH0,          {1, {7}, 0}, {2, {3, 5}, 0}, {3, {2, 3, 4}, 1},
                                {1, {0}, 0}, {2, {3, 0}, 0}, {2, {4, 1031}, 0}};
static const int ROW_QUICK[] = {0, 3, 5, 6};

static const OpsConfig *CFG;

/* The shape indices to run: all, or the quick subset. */
static int pick(int n_all, const int *quick, int n_quick, int i) {
  if (!CFG->quick) return i < n_all ? i : -1;
  return i < n_quick ? quick[i] : -1;
}

static int kind_of(TirDType dt) {
  return tir_dtype_is_float(dt) ? TIR_DK_FLOAT : dt == TIR_BOOL ? TIR_DK_BOOL : TIR_DK_INT;
}

static const char *shape_str(const Operand *ins, int n) {
  static char buf[160];
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s[", i ? ", " : "", tir_dtype_name(ins[i].dt));
    for (int d = 0; d < ins[i].rank; d++)
      at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%lld", d ? "," : "", (long long)ins[i].dims[d]);
    at += (size_t)snprintf(buf + at, sizeof buf - at, "]%s", ins[i].transposed ? "^T" : "");
  }
  return buf;
}

/* ------------------------------------------------------------ elementwise */

static void set_tanh(TirOp *op, const void *ctx) {
  (void)ctx;
  tir_op_set_str(op, "approximate", "tanh");
}
static void set_value(TirOp *op, const void *ctx) { tir_op_set_scalar(op, "value", *(const TirScalar *)ctx); }
static void set_dtype(TirOp *op, const void *ctx) { tir_op_set_dtype(op, "dtype", *(const TirDType *)ctx); }

/* One elementwise case; returns whether infer took it. */
static bool ew_case(const char *name, const OpSpec *spec, const EwRef *er, const Operand *ins, int n,
                    Tally *t) {
  OpsShape r;
  if (!ops_result_type(spec, ins, n, &r)) return false;
  double *ref = malloc(sizeof(double) * (size_t)(r.numel + 1));
  int64_t *iref = malloc(sizeof(int64_t) * (size_t)(r.numel + 1));
  if (ref && iref) {
    ew_reference(er, ins, &r, ref, iref);
    char what[256];
    snprintf(what, sizeof what, "%s(%s)", name, shape_str(ins, n));
    run_case(what, spec, ins, n, &r, ref, iref, NULL, false, t);
  }
  free(ref);
  free(iref);
  return true;
}

/* Operands of dtypes dts over shapes sh, fresh values each. */
static void make_operands(int n, const TirDType *dts, const Sh *sh, const ValueKind *vk, Operand *ins,
                          void **bufs) {
  for (int i = 0; i < n; i++) {
    bufs[i] = make_values(dts[i], sh_numel(&sh[i]), vk[i], true);
    ins[i] = operand(dts[i], &sh[i], bufs[i]);
  }
}

static ValueKind domain_kind(const char *name, int operand_index) {
  bool positive = (strcmp(name, "log") == 0 || strcmp(name, "sqrt") == 0 || strcmp(name, "rsqrt") == 0 ||
                   (strcmp(name, "pow") == 0 && operand_index == 0));
  return positive ? VAL_POSITIVE : VAL_PLAIN;
}

static void ew_rows(int arity) {
  int count = arity == 1 ? TIR_EW_UN_COUNT : TIR_EW_BIN_COUNT;
  for (int op = 0; op < count; op++) {
    const tir_ew_row_t *row = tir_ew_row(arity, op);
    if (CFG->only && strcmp(CFG->only, row->name) != 0) continue;
    OpSpec spec = {0};
    int k = tir_op_kind_from_name(row->name, strlen(row->name));
    if (k >= 0) spec.kind = (TirOpKind)k;
    else if (strcmp(row->name, "gelu_tanh") == 0) spec.kind = TIR_OP_GELU, spec.set = set_tanh;
    else {
      CHECK_MSG(false, "elementwise row %s has no IR op", row->name);
      continue;
    }
    Tally t = {0};
    EwRef er = {.form = arity == 1 ? EW_UNARY : EW_BINARY, .op = op};
    for (int d = 0; d < NDT; d++) {
      TirDType dts[2] = {ALL_DT[d], ALL_DT[d]};
      ValueKind vk[2] = {domain_kind(row->name, 0), domain_kind(row->name, 1)};
      bool takes = tir_ew_lang_takes(row, kind_of(ALL_DT[d]));
      for (int i = 0;; i++) {
        int s = arity == 1 ? pick(TT_COUNT(UNARY_SHAPES), UNARY_QUICK, TT_COUNT(UNARY_QUICK), i)
                           : pick(TT_COUNT(BINARY_SHAPES), BINARY_QUICK, TT_COUNT(BINARY_QUICK), i);
        if (s < 0) break;
        const Sh *sh = arity == 1 ? &UNARY_SHAPES[s] : BINARY_SHAPES[s];
        Operand ins[2];
        void *bufs[2] = {NULL, NULL};
        make_operands(arity, dts, sh, vk, ins, bufs);
        bool took = ew_case(row->name, &spec, &er, ins, arity, &t);
        if (i == 0)
          CHECK_MSG(took == takes, "%s on %s: the op table's LANG says %s, infer %s", row->name,
                    tir_dtype_name(ALL_DT[d]), takes ? "yes" : "no", took ? "accepts" : "rejects");
        for (int j = 0; j < arity; j++) free(bufs[j]);
        if (!took) break;
      }
    }
    ops_report(row->name, &t);
  }
}

static void where_rows(void) {
  if (CFG->only && strcmp(CFG->only, "where") != 0) return;
  Tally t = {0};
  OpSpec spec = {.kind = TIR_OP_WHERE};
  EwRef er = {.form = EW_WHERE};
  for (int d = 0; d < NDT; d++)
    for (int i = 0;; i++) {
      int s = pick(TT_COUNT(BINARY_SHAPES), BINARY_QUICK, TT_COUNT(BINARY_QUICK), i);
      if (s < 0) break;
      TirDType dts[3] = {TIR_BOOL, ALL_DT[d], ALL_DT[d]};
      ValueKind vk[3] = {VAL_PLAIN, VAL_PLAIN, VAL_PLAIN};
      Operand ins[3];
      void *bufs[3];
      make_operands(3, dts, BINARY_SHAPES[s], vk, ins, bufs);
      bool took = ew_case("where", &spec, &er, ins, 3, &t);
      CHECK_MSG(took, "where(%s) rejected", shape_str(ins, 3));
      for (int j = 0; j < 3; j++) free(bufs[j]);
    }
  ops_report("where", &t);
}

static void masked_fill_rows(void) {
  if (CFG->only && strcmp(CFG->only, "masked_fill") != 0) return;
  Tally t = {0};
  for (int d = 0; d < NDT; d++) {
    TirDType dt = ALL_DT[d];
    bool fl = tir_dtype_is_float(dt);
    /* A value the dtype holds, and for floats -inf (the masking value). */
    TirScalar vals[2] = {
        fl ? (TirScalar){.kind = TIR_SCALAR_FLOAT, .f = -2.75}
           : (TirScalar){.kind = dt == TIR_BOOL ? TIR_SCALAR_BOOL : TIR_SCALAR_INT, .i = 1, .f = 1},
        fl ? (TirScalar){.kind = TIR_SCALAR_FLOAT, .f = -INFINITY}
           : (TirScalar){.kind = TIR_SCALAR_INT, .i = dt == TIR_U8 ? 200 : -7, .f = dt == TIR_U8 ? 200 : -7}};
    for (int v = 0; v < (dt == TIR_BOOL ? 1 : 2); v++) {
      OpSpec spec = {.kind = TIR_OP_MASKED_FILL, .set = set_value, .ctx = &vals[v]};
      EwRef er = {.form = EW_MASKED_FILL, .fill = vals[v].f, .ifill = vals[v].i};
      for (int i = 0;; i++) {
        int s = pick(TT_COUNT(BINARY_SHAPES), BINARY_QUICK, TT_COUNT(BINARY_QUICK), i);
        if (s < 0) break;
        /* x takes the larger of the first two shapes, the mask the other. */
        const Sh *p = BINARY_SHAPES[s];
        Sh sh[2] = {sh_numel(&p[0]) >= sh_numel(&p[1]) ? p[0] : p[1], sh_numel(&p[0]) >= sh_numel(&p[1]) ? p[1] : p[0]};
        TirDType dts[2] = {dt, TIR_BOOL};
        ValueKind vk[2] = {VAL_PLAIN, VAL_PLAIN};
        Operand ins[2];
        void *bufs[2];
        make_operands(2, dts, sh, vk, ins, bufs);
        ew_case("masked_fill", &spec, &er, ins, 2, &t); /* a mask wider than x is rejected: fine */
        for (int j = 0; j < 2; j++) free(bufs[j]);
      }
    }
  }
  ops_report("masked_fill", &t);
}

static void cast_rows(void) {
  if (CFG->only && strcmp(CFG->only, "cast") != 0) return;
  Tally t = {0};
  static const int CAST_SHAPES[] = {0, 2, 4, 5, 7};
  for (int a = 0; a < NDT; a++)
    for (int b = 0; b < NDT; b++) {
      OpSpec spec = {.kind = TIR_OP_CAST, .set = set_dtype, .ctx = &ALL_DT[b]};
      EwRef er = {.form = EW_CAST};
      for (int i = 0; i < TT_COUNT(CAST_SHAPES) && !(CFG->quick && i > 2); i++) {
        ValueKind vk = VAL_PLAIN;
        Operand x;
        void *buf;
        make_operands(1, &ALL_DT[a], &UNARY_SHAPES[CAST_SHAPES[i]], &vk, &x, &buf);
        bool took = ew_case("cast", &spec, &er, &x, 1, &t);
        CHECK_MSG(took, "cast %s -> %s rejected", tir_dtype_name(ALL_DT[a]), tir_dtype_name(ALL_DT[b]));
        free(buf);
      }
    }
  ops_report("cast", &t);
}

/* ------------------------------------------------------------ reductions */

int ops_run_all(const OpsConfig *cfg) {
  CFG = cfg;
  printf("backends: fold, cpu%s\n", ops_have_gpu() ? ", cuda, cuda-gen" : " (no GPU: cuda and cuda-gen skipped)");
  ew_rows(1);
  ew_rows(2);
  where_rows();
  masked_fill_rows();
  cast_rows();
  ops_reduction_rows(cfg, ALL_DT, NDT, ROW_SHAPES, TT_COUNT(ROW_SHAPES), ROW_QUICK, TT_COUNT(ROW_QUICK));
  ops_softmax_rows(cfg, ALL_DT, NDT, ROW_SHAPES, TT_COUNT(ROW_SHAPES), ROW_QUICK, TT_COUNT(ROW_QUICK));
  return CHECK_SUMMARY();
}
