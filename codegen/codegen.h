/* codegen.h — lowers the entry function of a module to a tirrt program
 * table (the runtime's execution format, see tirrt.h) and writes it as C.
 *
 * The table is the one interface between the compiler and the runtime: the
 * generated program is this table plus `main` calling tirrt_main, and the
 * embedding API runs the in-memory table directly.  A TirCodegen owns the
 * table and every array in it; the const data it points to is the module's
 * (so the module must outlive it). */
#ifndef TIR_CODEGEN_H
#define TIR_CODEGEN_H

#include <stdio.h>

#include "ir.h"
#include "tirrt.h"

typedef struct TirCodegen TirCodegen;

/* Lowers the entry function.  Errors (an op the CPU runtime cannot run, a
 * module without entry) go to diag at the op's location. */
TirStatus tir_codegen_lower(TirModule *m, TirDiag *diag, TirCodegen **out);
const tirrt_program_def_t *tir_codegen_def(const TirCodegen *cg);
void tir_codegen_free(TirCodegen *cg);

/* Writes the table as a C translation unit defining
 * `const tirrt_program_def_t tirc_program` and, when with_main, a main()
 * that calls tirrt_main. */
TirStatus tir_codegen_emit_c(const TirCodegen *cg, const char *source_name, bool with_main,
                             FILE *out);

#endif
