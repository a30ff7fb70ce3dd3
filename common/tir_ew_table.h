/* tir_ew_table.h — the one table of elementwise ops: every unary and binary
 * op's name, what it takes and gives, and its scalar formula, written once.
 * Only macros (ir/ops.def includes it inside enum and array bodies); the
 * functions made from the rows are in tir_ew.h.
 *
 * Row: X(ENUM, name, DOMAIN, RESULT, IR, IRF, LANG, FLOAT_FORMULA, INT_FORMULA)
 *   DOMAIN   what the kernels take (the runtime runs programs built as
 *            tables, not only from TIR): FLOAT: float dtypes only; NUM:
 *            floats and integers (not bool); ALL: every dtype, bool included.
 *   RESULT   SAME: the operand's dtype; BOOL: bool.
 *   IR       OP: an IR op of its own (ir/ops.def's row is made from this
 *            one); NOOP: a runtime variant of another op (gelu's tanh form).
 *   IRF      the IR flags class, which ops.def spells out.
 *   LANG     the dtypes TIR (spec section 4) accepts, which IR infer checks
 *            through this column: DOMAIN's classes, or BOOL (bool only).
 *            Narrower than DOMAIN where torch's meaning differs from the
 *            kernel's: integer `div` is true division in torch (so TIR
 *            rejects it; the kernels truncate), and the spec's float-only
 *            unary ops (the kernels also negate integers).
 *   FLOAT_FORMULA in the operand type T (float for f16/bf16/f32, double
 *            for f64) of x (unary) or a, b (binary), with the tir_* math
 *            names of tir_ew.h (type-generic in C and CUDA).  Constants are
 *            cast to T so f32 stays f32.  Results are rounded to the dtype
 *            once, by the caller's store.
 *   INT_FORMULA in int64_t, wrapping (unsigned arithmetic, tir_cv_wrap64),
 *            for DOMAIN NUM and ALL; unused (0) for FLOAT rows.
 * The row order is the op numbering of the runtime (tirrt_unop_t,
 * tirrt_binop_t, both made from these rows) and the kernels (TIRK_UN_*,
 * TIRK_BIN_*).  To add an op: a row here.  That gives the IR op (ops.def),
 * what infer accepts (LANG), its lowering (codegen/lower.c looks rows up
 * by name), the folder, the CPU and CUDA kernels, the generated kernels and
 * the table-driven op test (test/ops).  Then only its spelling in the
 * front ends that have one (python/tirc/aten_*.py) and docs/language.md. */
#ifndef TIR_COMMON_EW_TABLE_H
#define TIR_COMMON_EW_TABLE_H

/* sigmoid and silu use tir_ew_sigmoid (split at 0: exp of a non-positive
 * argument only, so neither side overflows and the tiny side keeps its
 * digits).  gelu is 0.5x(1 + erf(x/sqrt2)) written 0.5x erfc(-x/sqrt2), and
 * its tanh form 0.5x(1 + tanh(u)) written x sigmoid(2u): 1 + erf and
 * 1 + tanh cancel for negative x and lose most digits in f32.  relu's
 * x < 0 ? 0 : x keeps NaN NaN (and -0 -0), as torch.relu does.  rsqrt is
 * 1 / sqrt (two roundings), not a hardware rsqrt, on every target. */
#define TIR_EW_UNARY_ROWS(X)                                                                    \
  X(NEG, neg, NUM, SAME, OP, UN, FLOAT, -x, tir_cv_wrap64(0u - (uint64_t)x))                    \
  X(ABS, abs, NUM, SAME, OP, UN, FLOAT, tir_fabs(x), x < 0 ? tir_cv_wrap64(0u - (uint64_t)x) : x) \
  X(EXP, exp, FLOAT, SAME, OP, UN, FLOAT, tir_exp(x), 0)                                        \
  X(LOG, log, FLOAT, SAME, OP, UN, FLOAT, tir_log(x), 0)                                        \
  X(SQRT, sqrt, FLOAT, SAME, OP, UN, FLOAT, tir_sqrt(x), 0)                                     \
  X(RSQRT, rsqrt, FLOAT, SAME, OP, UN, FLOAT, (T)1 / tir_sqrt(x), 0)                            \
  X(RECIPROCAL, reciprocal, FLOAT, SAME, OP, UN, FLOAT, (T)1 / x, 0)                            \
  X(TANH, tanh, FLOAT, SAME, OP, UN, FLOAT, tir_tanh(x), 0)                                     \
  X(SIGMOID, sigmoid, FLOAT, SAME, OP, UN, FLOAT, tir_ew_sigmoid(x), 0)                         \
  X(RELU, relu, NUM, SAME, OP, UN, FLOAT, x < 0 ? (T)0 : x, x < 0 ? 0 : x)                      \
  X(SILU, silu, FLOAT, SAME, OP, UN, FLOAT, x * tir_ew_sigmoid(x), 0)                           \
  X(ERF, erf, FLOAT, SAME, OP, UN, FLOAT, tir_erf(x), 0)                                        \
  X(SIN, sin, FLOAT, SAME, OP, UN, FLOAT, tir_sin(x), 0)                                        \
  X(COS, cos, FLOAT, SAME, OP, UN, FLOAT, tir_cos(x), 0)                                        \
  X(GELU, gelu, FLOAT, SAME, OP, GELU, FLOAT, (T)0.5 * x * tir_erfc(-x * (T)0.70710678118654752440), 0) \
  X(GELU_TANH, gelu_tanh, FLOAT, SAME, NOOP, GELU, FLOAT,                                       \
    x * tir_ew_sigmoid((T)2 * (T)0.79788456080286535588 * (x + (T)0.044715 * x * x * x)), 0)    \
  X(LOGICAL_NOT, logical_not, ALL, BOOL, OP, ELEM, BOOL, x == 0, x == 0)

/* maximum/minimum propagate NaN like torch: a wins when it wins or is NaN.
 * Integer division truncates, x / 0 is 0 and INT64_MIN / -1 wraps; pow
 * wraps like repeated multiplication (tir_ew_ipow): a GPU kernel cannot
 * raise, so every target and the folder define these values instead. */
#define TIR_EW_BINARY_ROWS(X)                                                                   \
  X(ADD, add, NUM, SAME, OP, BINC, NUM, a + b, tir_cv_wrap64((uint64_t)a + (uint64_t)b))        \
  X(SUB, sub, NUM, SAME, OP, BIN, NUM, a - b, tir_cv_wrap64((uint64_t)a - (uint64_t)b))         \
  X(MUL, mul, NUM, SAME, OP, BINC, NUM, a * b, tir_cv_wrap64((uint64_t)a * (uint64_t)b))        \
  X(DIV, div, NUM, SAME, OP, BIN, FLOAT, a / b,                                                 \
    b == 0 ? 0 : b == -1 ? tir_cv_wrap64(0u - (uint64_t)a) : a / b)                             \
  X(POW, pow, NUM, SAME, OP, BIN, NUM, tir_pow(a, b), tir_ew_ipow(a, b))                        \
  X(MAXIMUM, maximum, ALL, SAME, OP, BINC, ALL, (a > b || a != a) ? a : b, a > b ? a : b)       \
  X(MINIMUM, minimum, ALL, SAME, OP, BINC, ALL, (a < b || a != a) ? a : b, a < b ? a : b)       \
  X(EQ, eq, ALL, BOOL, OP, CMPC, ALL, a == b, a == b)                                           \
  X(NE, ne, ALL, BOOL, OP, CMPC, ALL, a != b, a != b) /* true for NaN, as in IEEE and torch */  \
  X(LT, lt, ALL, BOOL, OP, CMP, ALL, a < b, a < b)                                              \
  X(LE, le, ALL, BOOL, OP, CMP, ALL, a <= b, a <= b)                                            \
  X(GT, gt, ALL, BOOL, OP, CMP, ALL, a > b, a > b)                                              \
  X(GE, ge, ALL, BOOL, OP, CMP, ALL, a >= b, a >= b)                                            \
  X(LOGICAL_AND, logical_and, ALL, BOOL, OP, LOGC, BOOL, (a != 0) & (b != 0), (a != 0) & (b != 0)) \
  X(LOGICAL_OR, logical_or, ALL, BOOL, OP, LOGC, BOOL, (a != 0) | (b != 0), (a != 0) | (b != 0))

/* Reductions: X(ENUM, name), in the runtime's and the kernels' order. */
#define TIR_EW_REDUCE_ROWS(X) X(SUM, sum) X(MEAN, mean) X(AMAX, amax) X(AMIN, amin)

#endif /* TIR_COMMON_EW_TABLE_H */
