/* tir_ew.h — the scalar functions of every elementwise op, made from the
 * rows of tir_ew_table.h: tir_ewf_NAME (float), tir_ewd_NAME (double) and,
 * for ops defined on integers, tir_ewi_NAME (int64).  The constant folder,
 * the CPU kernels, the CUDA library kernels and the NVRTC-compiled fused
 * kernels (which get this text, with tir_dtype.h and tir_ew_table.h,
 * embedded at build time) all call these, so they compute the same lines.
 *
 * Also the op numbers (TIR_EW_UN_*, TIR_EW_BIN_*, TIR_EW_RED_*), the rows
 * as data (tir_ew_row) and evaluation of any row by number in f32, f64 or
 * int64 (tir_ew_unary_f64, ...), for the folder and table-driven tests. */
#ifndef TIR_COMMON_EW_H
#define TIR_COMMON_EW_H

#ifndef __CUDACC_RTC__ /* NVRTC gets the two headers' text in front of this one */
#include <stdbool.h>
#include "tir_dtype.h"
#include "tir_ew_table.h"
#endif

/* ------------------------------------------------------------ op numbers */

enum {
#define TIR_EW_ENUM_(E, ...) TIR_EW_UN_##E,
  TIR_EW_UNARY_ROWS(TIR_EW_ENUM_)
#undef TIR_EW_ENUM_
  TIR_EW_UN_COUNT
};
enum {
#define TIR_EW_ENUM_(E, ...) TIR_EW_BIN_##E,
  TIR_EW_BINARY_ROWS(TIR_EW_ENUM_)
#undef TIR_EW_ENUM_
  TIR_EW_BIN_COUNT
};
enum {
#define TIR_EW_ENUM_(E, name) TIR_EW_RED_##E,
  TIR_EW_REDUCE_ROWS(TIR_EW_ENUM_)
#undef TIR_EW_ENUM_
  TIR_EW_RED_COUNT
};

enum { TIR_EW_DOM_FLOAT, TIR_EW_DOM_NUM, TIR_EW_DOM_ALL, TIR_EW_DOM_BOOL };
enum { TIR_EW_RES_SAME, TIR_EW_RES_BOOL };

/* ------------------------------------------------------------ generic math
 * One name per function for float and double: float arguments stay in
 * float (expf, ...), as the f32 compute type requires. */
#ifdef __cplusplus
#define TIR_EW_MATH1_(NAME, FN)                                  \
  TIR_HD TIR_INLINE float NAME(float x) { return FN##f(x); }  \
  TIR_HD TIR_INLINE double NAME(double x) { return FN(x); }
TIR_EW_MATH1_(tir_exp, exp)
TIR_EW_MATH1_(tir_log, log)
TIR_EW_MATH1_(tir_sqrt, sqrt)
TIR_EW_MATH1_(tir_tanh, tanh)
TIR_EW_MATH1_(tir_erf, erf)
TIR_EW_MATH1_(tir_erfc, erfc)
TIR_EW_MATH1_(tir_sin, sin)
TIR_EW_MATH1_(tir_cos, cos)
TIR_EW_MATH1_(tir_fabs, fabs)
#undef TIR_EW_MATH1_
TIR_HD TIR_INLINE float tir_pow(float a, float b) { return powf(a, b); }
TIR_HD TIR_INLINE double tir_pow(double a, double b) { return pow(a, b); }
#else
#define tir_exp(x) _Generic((x), float: expf, default: exp)(x)
#define tir_log(x) _Generic((x), float: logf, default: log)(x)
#define tir_sqrt(x) _Generic((x), float: sqrtf, default: sqrt)(x)
#define tir_tanh(x) _Generic((x), float: tanhf, default: tanh)(x)
#define tir_erf(x) _Generic((x), float: erff, default: erf)(x)
#define tir_erfc(x) _Generic((x), float: erfcf, default: erfc)(x)
#define tir_sin(x) _Generic((x), float: sinf, default: sin)(x)
#define tir_cos(x) _Generic((x), float: cosf, default: cos)(x)
#define tir_fabs(x) _Generic((x), float: fabsf, default: fabs)(x)
#define tir_pow(a, b) _Generic((a), float: powf, default: pow)(a, b)
#endif

/* ------------------------------------------------------------ helpers of the formulas */

/* sigmoid with exp of a non-positive argument only: 1/(1+e^-x) for x >= 0,
 * e^x/(1+e^x) below, so large |x| neither overflows nor loses the tiny side. */
#define TIR_EW_SIGMOID_(NAME, T)                          \
  TIR_HD TIR_INLINE T NAME(T x) {                      \
    if (x >= 0) return (T)1 / ((T)1 + tir_exp(-x));       \
    T e = tir_exp(x);                                     \
    return e / ((T)1 + e);                                \
  }
#ifdef __cplusplus
TIR_EW_SIGMOID_(tir_ew_sigmoid, float)
TIR_EW_SIGMOID_(tir_ew_sigmoid, double)
#else
TIR_EW_SIGMOID_(tir_ew_sigmoid_f, float)
TIR_EW_SIGMOID_(tir_ew_sigmoid_d, double)
#define tir_ew_sigmoid(x) _Generic((x), float: tir_ew_sigmoid_f, default: tir_ew_sigmoid_d)(x)
#endif
#undef TIR_EW_SIGMOID_

/* base^e wrapping like repeated multiplication; for e < 0 the integer part
 * of the true power: 1 for base 1, +-1 for base -1, else 0 (torch's rule
 * for integer tensors; base 0 gives 0 like a division by zero). */
TIR_HD TIR_INLINE int64_t tir_ew_ipow(int64_t base, int64_t e) {
  if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)base;
  while (e > 0) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return tir_cv_wrap64(r);
}

/* ------------------------------------------------------------ the row functions
 * `typedef ... T` names the compute type for the formula; (void)(T)0 keeps
 * rows that do not spell T free of an unused-typedef warning.  Predicates
 * return int (0 or 1). */
#define TIR_EW_RT_SAME(T) T
#define TIR_EW_RT_BOOL(T) int
#define TIR_EW_INT_FLOAT(...)
#define TIR_EW_INT_NUM(...) __VA_ARGS__
#define TIR_EW_INT_ALL(...) __VA_ARGS__

#define TIR_EW_DEF_UNARY_(E, name, DOM, RES, IR, IRF, LANG, FF, IF)                                    \
  TIR_HD TIR_INLINE TIR_EW_RT_##RES(float) tir_ewf_##name(float x) {                         \
    typedef float T;                                                                            \
    (void)(T)0;                                                                                 \
    return FF;                                                                                  \
  }                                                                                             \
  TIR_HD TIR_INLINE TIR_EW_RT_##RES(double) tir_ewd_##name(double x) {                       \
    typedef double T;                                                                           \
    (void)(T)0;                                                                                 \
    return FF;                                                                                  \
  }                                                                                             \
  TIR_EW_INT_##DOM(TIR_HD TIR_INLINE TIR_EW_RT_##RES(int64_t) tir_ewi_##name(int64_t x) {   \
    return IF;                                                                                  \
  })
#define TIR_EW_DEF_BINARY_(E, name, DOM, RES, IR, IRF, LANG, FF, IF)                                   \
  TIR_HD TIR_INLINE TIR_EW_RT_##RES(float) tir_ewf_##name(float a, float b) {                \
    typedef float T;                                                                            \
    (void)(T)0;                                                                                 \
    return FF;                                                                                  \
  }                                                                                             \
  TIR_HD TIR_INLINE TIR_EW_RT_##RES(double) tir_ewd_##name(double a, double b) {             \
    typedef double T;                                                                           \
    (void)(T)0;                                                                                 \
    return FF;                                                                                  \
  }                                                                                             \
  TIR_EW_INT_##DOM(TIR_HD TIR_INLINE TIR_EW_RT_##RES(int64_t) tir_ewi_##name(int64_t a,     \
                                                                                int64_t b) {   \
    return IF;                                                                                  \
  })
TIR_EW_UNARY_ROWS(TIR_EW_DEF_UNARY_)
TIR_EW_BINARY_ROWS(TIR_EW_DEF_BINARY_)
#undef TIR_EW_DEF_UNARY_
#undef TIR_EW_DEF_BINARY_

#ifndef __CUDACC_RTC__
/* ------------------------------------------------------------ rows as data */

typedef struct {
  const char *name; /* the runtime's spelling (gelu's tanh form is gelu_tanh) */
  int arity;        /* 1 or 2 */
  int domain;       /* TIR_EW_DOM_*: what the kernels take */
  int result;       /* TIR_EW_RES_* */
  int lang;         /* TIR_EW_DOM_*: what TIR accepts (infer) */
} tir_ew_row_t;

/* Row op of the unary (arity 1) or binary (2) table; NULL outside them. */
static inline const tir_ew_row_t *tir_ew_row(int arity, int op) {
#define TIR_EW_DATA1_(E, name, DOM, RES, IR, IRF, LANG, FF, IF) {#name, 1, TIR_EW_DOM_##DOM, TIR_EW_RES_##RES, TIR_EW_DOM_##LANG},
#define TIR_EW_DATA2_(E, name, DOM, RES, IR, IRF, LANG, FF, IF) {#name, 2, TIR_EW_DOM_##DOM, TIR_EW_RES_##RES, TIR_EW_DOM_##LANG},
  static const tir_ew_row_t un[] = {TIR_EW_UNARY_ROWS(TIR_EW_DATA1_)};
  static const tir_ew_row_t bin[] = {TIR_EW_BINARY_ROWS(TIR_EW_DATA2_)};
#undef TIR_EW_DATA1_
#undef TIR_EW_DATA2_
  if (arity == 1 && op >= 0 && op < TIR_EW_UN_COUNT) return &un[op];
  if (arity == 2 && op >= 0 && op < TIR_EW_BIN_COUNT) return &bin[op];
  return 0;
}

/* Whether domain dom (TIR_EW_DOM_*) holds dtype kind TIR_DK_* (tir_dtype.h). */
static inline bool tir_ew_dom_takes(int dom, int kind) {
  if (dom == TIR_EW_DOM_BOOL) return kind == TIR_DK_BOOL;
  return kind == TIR_DK_FLOAT || (kind == TIR_DK_INT && dom != TIR_EW_DOM_FLOAT) ||
         (kind == TIR_DK_BOOL && dom == TIR_EW_DOM_ALL);
}
/* Whether a row's kernels take operands of dtype kind TIR_DK_*. */
static inline bool tir_ew_takes(const tir_ew_row_t *r, int kind) { return tir_ew_dom_takes(r->domain, kind); }
/* Whether TIR accepts the row's op on operands of dtype kind TIR_DK_*. */
static inline bool tir_ew_lang_takes(const tir_ew_row_t *r, int kind) { return tir_ew_dom_takes(r->lang, kind); }

/* The row spelled `name` (*arity and *op set), or NULL. */
static inline const tir_ew_row_t *tir_ew_row_named(const char *name, int *arity, int *op) {
  for (int a = 1; a <= 2; a++)
    for (int k = 0; k < (a == 1 ? (int)TIR_EW_UN_COUNT : (int)TIR_EW_BIN_COUNT); k++) {
      const tir_ew_row_t *r = tir_ew_row(a, k);
      const char *p = r->name, *q = name;
      while (*p && *p == *q) p++, q++;
      if (*p == *q) {
        if (arity) *arity = a;
        if (op) *op = k;
        return r;
      }
    }
  return 0;
}

/* ------------------------------------------------------------ evaluation by op number
 * Any row in f32 or f64 (a predicate gives 0 or 1), or in int64 (false
 * when the row is float-only).  An unknown op gives NaN / false. */
#define TIR_EW_CASE1_(E, name, DOM, RES, IR, IRF, LANG, FF, IF) \
  case TIR_EW_UN_##E: return TIR_EW_PFX_(name)(x);
#define TIR_EW_CASE2_(E, name, DOM, RES, IR, IRF, LANG, FF, IF) \
  case TIR_EW_BIN_##E: return TIR_EW_PFX_(name)(a, b);
#define TIR_EW_ICASE1_(E, name, DOM, RES, IR, IRF, LANG, FF, IF) \
  TIR_EW_INT_##DOM(case TIR_EW_UN_##E: *out = tir_ewi_##name(x); return true;)
#define TIR_EW_ICASE2_(E, name, DOM, RES, IR, IRF, LANG, FF, IF) \
  TIR_EW_INT_##DOM(case TIR_EW_BIN_##E: *out = tir_ewi_##name(a, b); return true;)

#define TIR_EW_PFX_(name) tir_ewf_##name
static inline float tir_ew_unary_f32(int op, float x) {
  switch (op) { TIR_EW_UNARY_ROWS(TIR_EW_CASE1_) default: return (float)NAN; }
}
static inline float tir_ew_binary_f32(int op, float a, float b) {
  switch (op) { TIR_EW_BINARY_ROWS(TIR_EW_CASE2_) default: return (float)NAN; }
}
#undef TIR_EW_PFX_
#define TIR_EW_PFX_(name) tir_ewd_##name
static inline double tir_ew_unary_f64(int op, double x) {
  switch (op) { TIR_EW_UNARY_ROWS(TIR_EW_CASE1_) default: return NAN; }
}
static inline double tir_ew_binary_f64(int op, double a, double b) {
  switch (op) { TIR_EW_BINARY_ROWS(TIR_EW_CASE2_) default: return NAN; }
}
#undef TIR_EW_PFX_
static inline bool tir_ew_unary_i64(int op, int64_t x, int64_t *out) {
  switch (op) { TIR_EW_UNARY_ROWS(TIR_EW_ICASE1_) default: return false; }
}
static inline bool tir_ew_binary_i64(int op, int64_t a, int64_t b, int64_t *out) {
  switch (op) { TIR_EW_BINARY_ROWS(TIR_EW_ICASE2_) default: return false; }
}
#undef TIR_EW_CASE1_
#undef TIR_EW_CASE2_
#undef TIR_EW_ICASE1_
#undef TIR_EW_ICASE2_
#endif /* !__CUDACC_RTC__ */

#endif /* TIR_COMMON_EW_H */
