/* ops_cases.h — the table-driven op test's pieces (test_backend_ops.c):
 * one-op programs run on a backend (ops_backends.c) and the cases, their
 * float64 references and the comparison (ops_cases.c). */
#ifndef TIRC_TEST_OPS_CASES_H
#define TIRC_TEST_OPS_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir.h"

typedef struct {
  uint64_t seed;    /* 0: a fresh seed, printed */
  bool quick;       /* fewer shapes (the GPU quick set) */
  const char *only; /* run only the op of this name */
} OpsConfig;

int ops_run_all(const OpsConfig *cfg);

/* ------------------------------------------------------------ backends */

typedef enum { BK_FOLD, BK_CPU, BK_CUDA, BK_CUDA_GEN, BK_COUNT } Backend;
extern const char *const BACKEND_NAME[BK_COUNT];

enum { OPS_MAX_IN = 3, OPS_MAX_RANK = 4 };

typedef struct {
  TirDType dt;
  int rank;
  int64_t dims[OPS_MAX_RANK];
  const void *data;  /* dense row-major, in dt */
  bool transposed;   /* runs: passed with its last two dims swapped, and a
                        transpose in the program gives this operand back */
} Operand;

/* The op and its attributes (set may be NULL). */
typedef struct {
  TirOpKind kind;
  void (*set)(TirOp *op, const void *ctx);
  const void *ctx;
} OpSpec;

typedef enum {
  RUN_OK,       /* *out_data holds the result */
  RUN_REJECTED, /* infer rejects the op for these operands: not a case */
  RUN_DECLINED, /* the backend does not take it (the folder left it) */
  RUN_FAILED,   /* an error status; the message is in err */
} RunResult;

/* Whether the machine has a GPU (asked once). */
bool ops_have_gpu(void);

/* The result of op over these operands: dtype and static shape (false:
 * infer rejects the op). */
typedef struct {
  TirDType dt;
  int rank;
  int64_t dims[OPS_MAX_RANK];
  int64_t numel;
} OpsShape;
bool ops_result_type(const OpSpec *op, const Operand *ins, int n, OpsShape *out);

/* Runs op on backend b.  *out_data (malloc'd, dense, numel * size bytes of
 * the result type; NULL for an empty result) on RUN_OK.  *out_fused says
 * whether BK_CUDA_GEN ran the op as a generated kernel. */
RunResult ops_run(Backend b, const OpSpec *op, const Operand *ins, int n, void **out_data,
                  bool *out_fused, char *err, size_t n_err);

/* ------------------------------------------------------------ cases (ops_cases.c) */

typedef enum { VAL_PLAIN, VAL_POSITIVE } ValueKind;
/* n fresh random values of dt (malloc'd), with dt's edge values (±0, ±inf,
 * nan, extremes) at random positions when `edges` and n >= 4. */
void *make_values(TirDType dt, int64_t n, ValueKind kind, bool edges);

typedef struct {
  int rank;
  int64_t d[OPS_MAX_RANK];
  bool t; /* a transposed operand */
} Sh;
int64_t sh_numel(const Sh *s);
Operand operand(TirDType dt, const Sh *s, const void *data);
/* The offset in o (dense, broadcast to r) of r's element e. */
int64_t bcast_offset(const Operand *o, const OpsShape *r, int64_t e);

typedef struct {
  int cases, compared[BK_COUNT], declined[BK_COUNT], fused;
} Tally;

/* Runs op on every backend and compares with the reference: ref (floats)
 * or iref (integer and bool results); scale[e], when given, is what
 * element e's error is relative to.  expect_error: there is no defined
 * value, and every backend that takes the op must report an error. */
void run_case(const char *what, const OpSpec *op, const Operand *ins, int n, const OpsShape *r,
              const double *ref, const int64_t *iref, const double *scale, bool expect_error, Tally *t);

/* One line for an op: its cases and how many each backend compared. */
void ops_report(const char *name, const Tally *t);

/* The reduction rows and softmax / log_softmax (ops_reduce.c), over these
 * dtypes and shapes (the quick subset: the indices in quick). */
void ops_reduction_rows(const OpsConfig *cfg, const TirDType *dts, int ndt, const Sh *shapes, int n_shapes,
                        const int *quick, int n_quick);
void ops_softmax_rows(const OpsConfig *cfg, const TirDType *dts, int ndt, const Sh *shapes, int n_shapes,
                      const int *quick, int n_quick);

typedef enum { EW_UNARY, EW_BINARY, EW_WHERE, EW_MASKED_FILL, EW_CAST } EwForm;
typedef struct {
  EwForm form;
  int op;        /* TIR_EW_UN_* or TIR_EW_BIN_* */
  double fill;   /* masked_fill's value */
  int64_t ifill;
} EwRef;
/* The reference of an elementwise op over ins, rounded once to r's dtype. */
void ew_reference(const EwRef *er, const Operand *ins, const OpsShape *r, double *ref, int64_t *iref);

#endif /* TIRC_TEST_OPS_CASES_H */
