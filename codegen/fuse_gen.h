/* fuse_gen.h — what the three writers of a fused kernel's CUDA source
 * share (internal to codegen/): the text buffer, the dtype helpers, and the
 * generator state with its per-instruction emission (fuse_expr.c), used by
 * the ROWWISE kernel bodies (fuse_row.c) and the source assembly with the
 * elementwise kernels (fuse_src.c).  See fuse_src.c for what the generated
 * code must compute. */
#ifndef TIR_CODEGEN_FUSE_GEN_H
#define TIR_CODEGEN_FUSE_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codegen_internal.h"

/* ------------------------------------------------------------ text buffer */

/* A growing string; on allocation failure oom is set and later writes are
 * dropped, so callers check once at the end. */
typedef struct {
  char *p;
  size_t n, cap;
  bool oom;
} Buf;

/* Appends printf-formatted text. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
void tir_fs_put(Buf *b, const char *fmt, ...);

/* ------------------------------------------------------------ dtypes */

static inline bool is_float(int32_t dt) {
  return dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 || dt == TIRRT_DTYPE_F32 ||
         dt == TIRRT_DTYPE_F64;
}

/* Bytes per element (codegen does not link the runtime's tirrt_dtype_size). */
static inline size_t elem_size(int32_t dt) {
  switch (dt) {
  case TIRRT_DTYPE_BOOL: case TIRRT_DTYPE_U8: case TIRRT_DTYPE_I8: return 1;
  case TIRRT_DTYPE_I16: case TIRRT_DTYPE_F16: case TIRRT_DTYPE_BF16: return 2;
  case TIRRT_DTYPE_I32: case TIRRT_DTYPE_F32: return 4;
  default: return 8;
  }
}

/* The register type of a dtype. */
static inline const char *ctype(int32_t dt) {
  return dt == TIRRT_DTYPE_F64 ? "double" : is_float(dt) ? "float" : "long long";
}

/* The dtype whose storage is a compute type (for casts out of one). */
static inline int32_t ctype_dtype(int32_t dt) {
  return dt == TIRRT_DTYPE_F64 ? TIRRT_DTYPE_F64 : is_float(dt) ? TIRRT_DTYPE_F32 : TIRRT_DTYPE_I64;
}

static inline const char *storage(int32_t dt, bool for_store) {
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
void tir_fs_dbl(Buf *b, double v);
/* `e` (a register of dtype `from`'s compute type) converted to dtype `to`,
 * as tirrt_cpu_copy converts. */
void tir_fs_cast(Buf *b, int32_t from, int32_t to, const char *e);

/* ------------------------------------------------------------ generator state */

typedef struct {
  Buf b;
  const tirrt_program_def_t *def;
  const TirFusePlan *pl;
  int32_t *opnd;   /* per value: operand index, -1 */
  int32_t *local;  /* per value: N of its register vN (kernel-local numbers, so that
                      equal runs in different layers give equal sources), -1 */
  bool *avail;     /* per value: register v<N> is in scope */
  bool loaded[TIRRT_FUSED_MAX_OPERANDS]; /* input k is in scope as <inpfx>k */
  const char *offs;  /* the offsets array of the current scope: o or ro */
  const char *inpfx; /* input register prefix of the current scope */
  const char *guard; /* prefix of stores ("" or a thread-0 test) */
  const char *ind;   /* indentation */
  bool vec;          /* a vector body: operands are va<k>.v[u] / vo<k>.v[u] */
  bool stored[TIRRT_FUSED_MAX_OPERANDS]; /* vector body: output k was written */
  bool vec_row;      /* tir_fs_row_kernel writes the vector variant (tk_runv) */
  const char *ci;    /* the register cache's index in a row body: t or u */
} Gen;

static inline int32_t DT(const Gen *g, int32_t v) { return g->def->values[v].dtype; }
/* The kernel-local number of value v's register (v<N>). */
static inline int32_t LV(const Gen *g, int32_t v) { return g->local[v]; }

/* The register holding value v, loading it first when it is an input. */
void tir_fs_ref(Gen *g, int32_t v, char out[32]);
/* Stores register e (always a v<N> register of value v, already rounded to
 * v's dtype) into output operand v at the current offsets. */
void tir_fs_store(Gen *g, int32_t v, const char *e);
/* Emits `const CT vN = ...;` for instruction i (and its store when asked). */
void tir_fs_emit_inst(Gen *g, int32_t i, bool do_store);
/* Forgets every register and load (between the bodies of one source). */
void tir_fs_fresh_scope(Gen *g);

/* ------------------------------------------------------------ ROWWISE kernels (fuse_row.c) */

/* The row kernel's body template: tk_run, or tk_runv when g->vec_row. */
void tir_fs_row_kernel(Gen *g);
/* tk_vec_ok, the flat row kernel's test for its vector variant. */
void tir_fs_row_vec_check(Gen *g);

#endif
