/* ir.h — the TIR intermediate representation: dtypes, symbolic dims, types,
 * attributes, values, ops, functions and modules, plus the builder, shape
 * inference, verifier, printer and diagnostics that work on them.
 *
 * Ownership: a TirModule owns everything reachable from it (one arena per
 * module); nothing here is freed individually. Library code never exits on
 * bad input: it reports through a TirDiag and returns a TirStatus. Internal
 * invariants are assert()s.  This library depends on libc only.
 */
#ifndef TIR_IR_H
#define TIR_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "timing.h"

/* ---------------------------------------------------------------- status */
/* The values double as the tirc exit codes of spec §8. */
typedef enum {
  TIR_OK = 0,
  TIR_ERR_INPUT = 1,    /* bad user input; a diagnostic was emitted */
  TIR_ERR_USAGE = 2,    /* bad usage / unsupported request */
  TIR_ERR_INTERNAL = 3, /* a bug or an out-of-memory condition */
} TirStatus;

/* ---------------------------------------------------------------- arena */
typedef struct TirArena TirArena;
TirArena *tir_arena_new(void);
void tir_arena_free(TirArena *a);
/* Zeroed, 16-byte aligned.  Returns NULL only when malloc fails or n is absurd. */
void *tir_arena_alloc(TirArena *a, size_t n);
char *tir_arena_strndup(TirArena *a, const char *s, size_t n);
size_t tir_arena_bytes(const TirArena *a); /* total bytes handed out */

/* ---------------------------------------------------------------- strings */
/* Open-addressing map from byte strings to pointers (for names, interning). */
typedef struct TirStrMap TirStrMap;
TirStrMap *tir_strmap_new(void);
void tir_strmap_free(TirStrMap *m);
void *tir_strmap_get(const TirStrMap *m, const char *key, size_t len);
/* Returns false on out-of-memory.  The key bytes are copied. */
bool tir_strmap_put(TirStrMap *m, const char *key, size_t len, void *val);
uint64_t tir_hash_bytes(const void *p, size_t n, uint64_t seed);

/* ---------------------------------------------------------------- locations and diagnostics */
typedef struct {
  int32_t file; /* index of a source registered with tir_diag_add_source; -1 unknown */
  int32_t line; /* 1-based; 0 unknown */
  int32_t col;  /* 1-based, in bytes */
} TirLoc;
#define TIR_LOC_UNKNOWN ((TirLoc){-1, 0, 0})

typedef struct TirDiag TirDiag;
/* Diagnostics go to `out` as `file:line:col: error: message`, then the source
 * line and a caret.  After max_errors errors, further ones are counted but not
 * printed (0 means 20). */
TirDiag *tir_diag_new(FILE *out, int max_errors);
void tir_diag_free(TirDiag *d);
/* Registers a source buffer; the diag keeps its own copy of name and text.
 * Returns the file index for TirLoc, or -1 on out-of-memory. */
int32_t tir_diag_add_source(TirDiag *d, const char *name, const char *text, size_t len);
const char *tir_diag_source_name(const TirDiag *d, int32_t file);
void tir_diag_error(TirDiag *d, TirLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tir_diag_warning(TirDiag *d, TirLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tir_diag_note(TirDiag *d, TirLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A remark (`file:line:col: remark: ...`) goes to the remark stream, which is
 * `out` unless set; remarks do not count as errors. */
void tir_diag_remark(TirDiag *d, TirLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tir_diag_set_remark_stream(TirDiag *d, FILE *f);
int tir_diag_error_count(const TirDiag *d);

/* ---------------------------------------------------------------- dtypes */
typedef enum {
  TIR_BOOL, TIR_I8, TIR_I16, TIR_I32, TIR_I64, TIR_U8,
  TIR_F16, TIR_BF16, TIR_F32, TIR_F64,
  TIR_NUM_DTYPES
} TirDType;

const char *tir_dtype_name(TirDType t);
/* Returns true and sets *out when s[0..n) names a dtype. */
bool tir_dtype_from_name(const char *s, size_t n, TirDType *out);
size_t tir_dtype_size(TirDType t);
bool tir_dtype_is_float(TirDType t); /* f16 bf16 f32 f64 */
bool tir_dtype_is_int(TirDType t);   /* i8..i64 u8 (not bool) */
/* Lowest finite value of a float dtype (e.g. -65504 for f16). */
double tir_dtype_lowest(TirDType t);
/* The value range of an integer or bool dtype as doubles, both ends
 * inclusive (for i64, hi is 2^63 rounded: itself out of range, so compare
 * with < there); false for float dtypes. */
bool tir_dtype_int_range(TirDType t, double *lo, double *hi);

/* Scalar conversions for f16/bf16 storage (round to nearest even).  The
 * f64 ones round once, straight from the double (never through f32, whose
 * rounding could move a value onto an f16/bf16 tie).  NaN stays a quiet NaN
 * of the same sign. */
float tir_f16_to_f32(uint16_t h);
uint16_t tir_f32_to_f16(float f);
float tir_bf16_to_f32(uint16_t h);
uint16_t tir_f32_to_bf16(float f);
uint16_t tir_f64_to_f16(double d);
uint16_t tir_f64_to_bf16(double d);
/* Element i of a dense buffer of dtype t, as double (bool: 0/1). */
double tir_load_f64(TirDType t, const void *data, size_t i);
int64_t tir_load_i64(TirDType t, const void *data, size_t i);
/* Stores v converted to t exactly as the runtime converts (docs/language.md,
 * "Edge cases of arithmetic"): to an integer dtype a float truncates toward
 * zero and saturates to the dtype's range, NaN gives 0; integers wrap to the
 * dtype's width; to bool is v != 0 (NaN is true); to f16/bf16/f32 rounds
 * once to nearest even (an int64 too).  tir_store_f32 is the store of an f32
 * result (what the runtime's f32 compute type writes). */
void tir_store_f64(TirDType t, void *data, size_t i, double v);
void tir_store_f32(TirDType t, void *data, size_t i, float v);
void tir_store_i64(TirDType t, void *data, size_t i, int64_t v);

/* ---------------------------------------------------------------- symbolic dims */
/* A dim is an interned, immutable expression: compare with ==.  Dims are kept
 * in a normal form (a sum of monomials with int64 coefficients; atoms are
 * symbols or floor divisions that could not be simplified), so B*T and T*B
 * are the same pointer. */
typedef enum {
  TIR_DIM_CONST,    /* value */
  TIR_DIM_SYM,      /* sym */
  TIR_DIM_ADD,      /* value (constant term) + sum of args (each non-constant) */
  TIR_DIM_MUL,      /* value (coefficient, != 0, 1 when absent) * product of args (atoms) */
  TIR_DIM_FLOORDIV, /* args[0] / args[1], floor division, not simplifiable */
} TirDimKind;

typedef struct TirDim TirDim;
struct TirDim {
  TirDimKind kind;
  int64_t value;
  const char *sym;
  int nargs;
  const TirDim *const *args;
  uint32_t id;   /* creation order; used to order terms canonically */
  uint64_t hash;
};

typedef struct TirModule TirModule;

/* Constructors return NULL on failure (overflow, division by zero, or an
 * expression too large); *err (if non-NULL) then gets a static message. */
const TirDim *tir_dim_const(TirModule *m, int64_t v);
const TirDim *tir_dim_sym(TirModule *m, const char *name, size_t len);
const TirDim *tir_dim_add(TirModule *m, const TirDim *a, const TirDim *b, const char **err);
const TirDim *tir_dim_sub(TirModule *m, const TirDim *a, const TirDim *b, const char **err);
const TirDim *tir_dim_mul(TirModule *m, const TirDim *a, const TirDim *b, const char **err);
const TirDim *tir_dim_floordiv(TirModule *m, const TirDim *a, const TirDim *b, const char **err);
bool tir_dim_is_const(const TirDim *d, int64_t *v); /* v may be NULL */
/* Calls fn once for each distinct symbol appearing in d. */
void tir_dim_for_each_sym(const TirDim *d, void (*fn)(void *ctx, const TirDim *sym), void *ctx);
/* Prints in a form the parser reads back: `B*T`, `T+1`, `(T+1)/2`. */
void tir_dim_print(FILE *f, const TirDim *d);
/* Writes into buf (always NUL-terminated); returns the length it wanted. */
int tir_dim_snprint(char *buf, size_t n, const TirDim *d);
/* Evaluates with symbol values from lookup; false if a symbol is unbound,
 * a division by zero or an overflow occurs. */
bool tir_dim_eval(const TirDim *d, bool (*lookup)(void *ctx, const char *sym, int64_t *v),
                  void *ctx, int64_t *out);

/* ---------------------------------------------------------------- types */
#define TIR_MAX_RANK 16
typedef struct {
  TirDType dtype;
  int rank;
  const TirDim *dims[TIR_MAX_RANK];
} TirType;

bool tir_type_equal(const TirType *a, const TirType *b);
/* Number of elements when every dim is constant; false otherwise or on
 * overflow (*numel is then untouched). */
bool tir_type_numel(const TirType *t, int64_t *numel);
void tir_type_print(FILE *f, const TirType *t); /* `f32[B, 16, 64]`, `f32[]` */
/* The same into buf, like snprintf (always NUL-terminated when n > 0). */
int tir_type_snprint(char *buf, size_t n, const TirType *t);

/* ---------------------------------------------------------------- attributes */
typedef enum {
  TIR_ATTR_NONE, /* absent */
  TIR_ATTR_INT, TIR_ATTR_FLOAT, TIR_ATTR_BOOL, TIR_ATTR_STR, TIR_ATTR_DTYPE,
  TIR_ATTR_INTS, TIR_ATTR_DIM, TIR_ATTR_DIMS, TIR_ATTR_SCALAR,
} TirAttrKind;

typedef enum { TIR_SCALAR_INT, TIR_SCALAR_FLOAT, TIR_SCALAR_BOOL } TirScalarKind;
typedef struct {
  TirScalarKind kind;
  int64_t i; /* INT and BOOL (0/1) */
  double f;  /* always the value as a double */
} TirScalar;

typedef struct {
  TirAttrKind kind;
  union {
    int64_t i;
    double f;
    bool b;
    const char *s;
    TirDType dtype;
    struct { int n; const int64_t *v; } ints;
    const TirDim *dim;
    struct { int n; const TirDim *const *v; } dims;
    TirScalar scalar;
  };
} TirAttr;

/* ---------------------------------------------------------------- op table */
enum {
  TIR_OPF_ELEMENTWISE = 1u << 0,
  TIR_OPF_UNARY_FLOAT = (1u << 1) | TIR_OPF_ELEMENTWISE,
  TIR_OPF_BINARY = (1u << 2) | TIR_OPF_ELEMENTWISE,      /* arithmetic, same dtype */
  TIR_OPF_COMPARE = (1u << 3) | TIR_OPF_ELEMENTWISE,     /* result bool */
  TIR_OPF_LOGICAL = (1u << 4) | TIR_OPF_ELEMENTWISE,     /* bool x bool -> bool */
  TIR_OPF_COMMUTATIVE = 1u << 5,
  TIR_OPF_REDUCTION = 1u << 6,
  TIR_OPF_VIEW = 1u << 7,            /* a shape op that moves no data in principle */
  TIR_OPF_PRINT_ALL_ATTRS = 1u << 8, /* print attributes even at their default */
  TIR_OPF_TERMINATOR = 1u << 9,
};

typedef enum {
#define X(E, name, mn, mx, fl, spec) TIR_OP_##E,
#include "ops.def"
  TIR_NUM_OPS
} TirOpKind;

#define TIR_MAX_ATTRS 12
typedef struct {
  const char *name;
  TirAttrKind kind;
  bool has_default; /* default in def_* */
  bool optional;    /* may be absent (has_default or `?`) */
  int64_t def_i;    /* INT, BOOL, DIM default */
  double def_f;     /* FLOAT default */
  const char *def_s; /* STR default */
  TirDType def_dtype;
} TirAttrSchema;

typedef struct {
  TirOpKind kind;
  const char *name;
  int min_operands, max_operands; /* max -1: variadic */
  unsigned flags;
  int nattrs;
  TirAttrSchema attrs[TIR_MAX_ATTRS];
} TirOpSchema;

const TirOpSchema *tir_op_schema(TirOpKind k);
/* -1 when unknown.  Also accepts synonyms (`view` for reshape). */
int tir_op_kind_from_name(const char *s, size_t n);
/* Attribute slot index in the schema, -1 when the op has no such attribute. */
int tir_schema_attr_index(const TirOpSchema *s, const char *name, size_t n);

/* ---------------------------------------------------------------- values, ops, functions */
typedef struct TirOp TirOp;
typedef struct TirFunc TirFunc;
typedef struct TirValue TirValue;

typedef struct TirOperand {
  TirValue *value;
  TirOp *owner;
  struct TirOperand *next_use, *prev_use; /* the value's use list */
} TirOperand;

struct TirValue {
  TirType type;
  TirOp *def;        /* defining op; NULL for a function argument */
  int arg_index;     /* for arguments, else -1 */
  const char *name;  /* source name without `%`, or a hint; may be NULL */
  TirOperand *first_use;
  TirFunc *func;
  uint32_t id;       /* unique in the module */
};

struct TirOp {
  TirOpKind kind;
  TirLoc loc;
  int n_operands;
  TirOperand *operands;
  TirValue *result;  /* NULL for return */
  TirAttr *attrs;    /* schema->nattrs slots, kind NONE when absent */
  TirOp *prev, *next;
  TirFunc *func;     /* NULL while not inserted */
  TirModule *module; /* owner, also while detached */
  /* CONST payload: dense row-major bytes of result->type (f16/bf16 as raw
   * 16-bit patterns, bool as bytes 0/1).  Owned by the module. */
  const void *data;
  size_t data_bytes;
  uint32_t id;
};

struct TirFunc {
  const char *name; /* without `@` */
  TirLoc loc;
  int n_args;
  TirValue **args;
  int n_results;
  TirType *result_types;
  TirOp *first, *last;
  TirModule *module;
  TirFunc *next;
};

struct TirModule {
  TirArena *arena;
  TirFunc *first_func, *last_func;
  int n_funcs;
  const char *source_path; /* the .tir file, for resolving const(file=...); may be NULL */
  struct TirDimTable *dims;
  void **owned;            /* malloc'd buffers adopted by the module */
  size_t n_owned, cap_owned;
  uint32_t next_id;
};

TirModule *tir_module_new(void); /* NULL on out-of-memory */
void tir_module_free(TirModule *m);
/* The module frees p (with free()) when it is freed.  False on OOM (p is then
 * freed immediately). */
bool tir_module_adopt(TirModule *m, void *p);
/* The entry function (spec §3): @main, or the only function; NULL if none. */
TirFunc *tir_module_entry(const TirModule *m);
TirFunc *tir_module_find_func(const TirModule *m, const char *name);

TirFunc *tir_func_new(TirModule *m, const char *name, TirLoc loc); /* appended */
TirValue *tir_func_add_arg(TirFunc *f, const char *name, const TirType *type);
void tir_func_set_results(TirFunc *f, const TirType *types, int n);
TirOp *tir_func_return(const TirFunc *f); /* the RETURN op, or NULL */

/* Creates a detached op with `n` operands, its attributes at their defaults
 * (dim defaults as constant dims), and (unless RETURN) a result value whose
 * type is unset until tir_infer_op runs.  Asserts the operand count fits the
 * schema.  NULL only on out-of-memory. */
TirOp *tir_op_new(TirModule *m, TirOpKind kind, TirValue *const *operands, int n, TirLoc loc);
void tir_op_append(TirFunc *f, TirOp *op);
void tir_op_insert_before(TirOp *pos, TirOp *op);
void tir_op_insert_after(TirOp *pos, TirOp *op);
/* Unlinks op from its function and drops its operands' uses; op->result must
 * have no uses left. */
void tir_op_erase(TirOp *op);
void tir_op_set_operand(TirOp *op, int i, TirValue *v);
/* Every use of `from` now uses `to`. */
void tir_value_replace_all_uses(TirValue *from, TirValue *to);
int tir_value_use_count(const TirValue *v);
bool tir_value_has_one_use(const TirValue *v);

/* Attribute access by name; asserts the op's schema has that attribute.
 * The typed getters read an absent attribute as its schema default. */
TirAttr *tir_op_attr(TirOp *op, const char *name);
const TirAttr *tir_op_attr_c(const TirOp *op, const char *name);
bool tir_op_has_attr(const TirOp *op, const char *name); /* present (not NONE) */
int64_t tir_op_attr_int(const TirOp *op, const char *name);   /* INT or BOOL */
double tir_op_attr_float(const TirOp *op, const char *name);  /* FLOAT or SCALAR */
bool tir_op_attr_bool(const TirOp *op, const char *name);
const char *tir_op_attr_str(const TirOp *op, const char *name);
/* A DIM attribute, or its default as a constant dim; NULL when absent with
 * no default. */
const TirDim *tir_op_attr_dim(const TirOp *op, const char *name);
void tir_op_set_int(TirOp *op, const char *name, int64_t v);
void tir_op_set_float(TirOp *op, const char *name, double v);
void tir_op_set_bool(TirOp *op, const char *name, bool v);
void tir_op_set_str(TirOp *op, const char *name, const char *s); /* copied into the arena */
void tir_op_set_dtype(TirOp *op, const char *name, TirDType t);
void tir_op_set_ints(TirOp *op, const char *name, const int64_t *v, int n); /* copied */
void tir_op_set_dim(TirOp *op, const char *name, const TirDim *d);
void tir_op_set_dims(TirOp *op, const char *name, const TirDim *const *v, int n); /* copied */
void tir_op_set_scalar(TirOp *op, const char *name, TirScalar s);
void tir_op_clear_attr(TirOp *op, const char *name);
bool tir_attr_equal(const TirAttr *a, const TirAttr *b);
/* The permutation of a PERMUTE or TRANSPOSE op as output dim -> input dim,
 * normalized to [0, rank); false when its attributes are out of range.  A
 * transpose of a 0-d tensor is the empty permutation. */
bool tir_op_permutation(const TirOp *op, int64_t perm[TIR_MAX_RANK]);

/* A CONST op of `type` holding a copy of `data` (type must be fully static).
 * NULL on out-of-memory. */
TirOp *tir_const_new(TirModule *m, const TirType *type, const void *data, TirLoc loc);
/* A 0-d constant holding v converted to dtype. */
TirOp *tir_const_scalar_new(TirModule *m, TirDType dtype, double v, TirLoc loc);
/* If v is a CONST holding exactly one element (any rank), stores it as double. */
bool tir_value_const_scalar(const TirValue *v, double *out);

/* ---------------------------------------------------------------- inference and verification */
/* Computes op->result->type from operands and attributes (spec §4), checking
 * operand dtypes, ranks, dims and attribute values; reports errors at op->loc.
 * For sdpa it also materializes scale=1/sqrt(E) when E is constant.  CONST
 * keeps its type (checks the payload size).  RETURN checks nothing. */
TirStatus tir_infer_op(TirModule *m, TirOp *op, TirDiag *diag);
/* Structural checks: SSA order and dominance, use lists, schemas, operand
 * counts, const payloads, that each op's stored type equals re-inference, and
 * that each function ends in a return matching its result types. */
TirStatus tir_verify_module(TirModule *m, TirDiag *diag);
/* Broadcast two shapes (NumPy rules; a symbolic dim only matches itself or 1).
 * Returns false if incompatible. */
bool tir_broadcast_shapes(const TirType *a, const TirType *b, TirType *out);

/* ---------------------------------------------------------------- printing */
/* The canonical printer of spec §6.  Values keep their names where unique;
 * others are named from their hint (or `%0`, `%1`...), uniquified. */
void tir_print_module(FILE *f, const TirModule *m);
void tir_print_func(FILE *f, const TirFunc *fn);
/* Shortest decimal that parses back to the same double (`0.125`, `1e-05`,
 * `inf`, `-inf`, `nan`). */
int tir_format_double(char *buf, size_t n, double v);
/* Shortest decimal that parses back to the same value once rounded to dtype. */
int tir_format_float_as(char *buf, size_t n, double v, TirDType t);

#endif /* TIR_IR_H */
