/* ops_backends.c — one-op programs on each backend for the table-driven
 * op test: the constant folder on constant operands, and the CPU runtime,
 * the CUDA library kernels and the generated CUDA kernels on a program
 * whose operands are arguments (so that nothing folds before it runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "fold.h"
#include "ops_cases.h"
#include "tirrt.h"

const char *const BACKEND_NAME[BK_COUNT] = {"fold", "cpu", "cuda", "cuda-gen"};

static TirDiag *quiet_diag(void) {
  /* Rejected dtype combinations are expected: keep infer's errors quiet. */
  static FILE *null;
  if (!null) null = fopen("/dev/null", "w");
  return tir_diag_new(null ? null : stderr, 0);
}

bool ops_have_gpu(void) {
  static int have = -1;
  if (have < 0) {
    int n = 0;
    tirrt_status_t s = tirrt_cuda_device_count(&n);
    tirrt_status_free(s);
    have = n > 0;
  }
  return have != 0;
}

static TirType type_of(TirModule *m, const Operand *o, bool swapped) {
  TirType t = {.dtype = o->dt, .rank = o->rank};
  for (int d = 0; d < o->rank; d++) {
    int dd = d;
    if (swapped && d >= o->rank - 2) dd = 2 * o->rank - 3 - d; /* r-2 <-> r-1 */
    t.dims[d] = tir_dim_const(m, o->dims[dd]);
  }
  return t;
}

/* The data of o with its last two dims swapped (a malloc'd copy). */
static void *swap_last2(const Operand *o) {
  size_t es = tir_dtype_size(o->dt);
  int64_t r = o->dims[o->rank - 2], c = o->dims[o->rank - 1], outer = 1;
  for (int d = 0; d < o->rank - 2; d++) outer *= o->dims[d];
  size_t n = (size_t)(outer * r * c);
  char *t = malloc(n ? n * es : 1);
  if (!t) return NULL;
  for (int64_t b = 0; b < outer; b++)
    for (int64_t i = 0; i < r; i++)
      for (int64_t j = 0; j < c; j++)
        memcpy(t + ((b * c + j) * r + i) * (int64_t)es, (const char *)o->data + ((b * r + i) * c + j) * (int64_t)es,
               es);
  return t;
}

/* @main(args or consts) { y = op(...); return y }, inferred.  NULL when
 * infer rejects it; *out_op is the op. */
static TirModule *build(const OpSpec *spec, const Operand *ins, int n, bool consts, TirDiag *diag,
                        TirOp **out_op) {
  TirModule *m = tir_module_new();
  if (!m) return NULL;
  TirFunc *f = tir_func_new(m, "main", TIR_LOC_UNKNOWN);
  TirValue *vals[OPS_MAX_IN];
  for (int i = 0; i < n; i++) {
    bool swap = !consts && ins[i].transposed && ins[i].rank >= 2;
    TirType t = type_of(m, &ins[i], swap);
    if (consts) {
      TirOp *c = tir_const_new(m, &t, ins[i].data, TIR_LOC_UNKNOWN);
      tir_op_append(f, c);
      vals[i] = c->result;
      continue;
    }
    char name[8];
    snprintf(name, sizeof name, "a%d", i);
    vals[i] = tir_func_add_arg(f, name, &t);
    if (swap) {
      TirOp *tr = tir_op_new(m, TIR_OP_TRANSPOSE, &vals[i], 1, TIR_LOC_UNKNOWN);
      tir_op_set_int(tr, "dim0", ins[i].rank - 2);
      tir_op_set_int(tr, "dim1", ins[i].rank - 1);
      tir_op_append(f, tr);
      if (tir_infer_op(m, tr, diag) != TIR_OK) {
        tir_module_free(m);
        return NULL;
      }
      vals[i] = tr->result;
    }
  }
  TirOp *op = tir_op_new(m, spec->kind, vals, n, TIR_LOC_UNKNOWN);
  if (spec->set) spec->set(op, spec->ctx);
  tir_op_append(f, op);
  if (tir_infer_op(m, op, diag) != TIR_OK) {
    tir_module_free(m);
    return NULL;
  }
  TirValue *y = op->result;
  tir_op_append(f, tir_op_new(m, TIR_OP_RETURN, &y, 1, TIR_LOC_UNKNOWN));
  tir_func_set_results(f, &y->type, 1);
  *out_op = op;
  return m;
}

bool ops_result_type(const OpSpec *op, const Operand *ins, int n, OpsShape *out) {
  TirDiag *diag = quiet_diag();
  TirOp *o = NULL;
  TirModule *m = build(op, ins, n, true, diag, &o);
  bool ok = m && o->result->type.rank <= OPS_MAX_RANK;
  if (ok) {
    const TirType *t = &o->result->type;
    out->dt = t->dtype;
    out->rank = t->rank;
    out->numel = 1;
    for (int d = 0; d < t->rank; d++) {
      if (!tir_dim_is_const(t->dims[d], &out->dims[d])) ok = false;
      out->numel *= out->dims[d];
    }
  }
  tir_module_free(m);
  tir_diag_free(diag);
  return ok;
}

static int64_t numel_of(const TirType *t) {
  int64_t n = 1, v = 0;
  for (int d = 0; d < t->rank; d++) n *= tir_dim_is_const(t->dims[d], &v) ? v : 0;
  return n;
}

static RunResult fold(const OpSpec *spec, const Operand *ins, int n, void **out_data, char *err,
                      size_t n_err) {
  TirDiag *diag = quiet_diag();
  TirOp *op = NULL;
  TirModule *m = build(spec, ins, n, true, diag, &op);
  RunResult r = RUN_REJECTED;
  if (m) {
    TirStatus st = TIR_OK;
    TirOp *c = tir_fold_op(m, op, &st);
    size_t bytes = (size_t)numel_of(&op->result->type) * tir_dtype_size(op->result->type.dtype);
    if (st != TIR_OK) {
      snprintf(err, n_err, "the folder failed (status %d)", (int)st);
      r = RUN_FAILED;
    } else if (!c) {
      r = RUN_DECLINED;
    } else if (c->data_bytes != bytes) {
      snprintf(err, n_err, "the folder made %zu bytes, not %zu", c->data_bytes, bytes);
      r = RUN_FAILED;
    } else {
      *out_data = bytes ? malloc(bytes) : NULL;
      if (bytes) memcpy(*out_data, c->data, bytes);
      r = RUN_OK;
    }
  }
  tir_module_free(m);
  tir_diag_free(diag);
  return r;
}

static RunResult run(Backend b, const OpSpec *spec, const Operand *ins, int n, void **out_data,
                     bool *out_fused, char *err, size_t n_err) {
  TirDiag *diag = quiet_diag();
  TirOp *op = NULL;
  TirModule *m = build(spec, ins, n, false, diag, &op);
  if (!m) {
    tir_diag_free(diag);
    return RUN_REJECTED;
  }
  RunResult r = RUN_FAILED;
  TirCodegen *cg = NULL;
  tirrt_program_t *prog = NULL;
  tirrt_status_t s = NULL;
  tirrt_tensor_desc_t descs[OPS_MAX_IN], rd;
  const void *datas[OPS_MAX_IN] = {NULL};
  void *swapped[OPS_MAX_IN] = {NULL};
  void *result = NULL;
  if (tir_codegen_lower(m, diag, &cg) != TIR_OK) {
    snprintf(err, n_err, "lowering failed");
    goto done;
  }
  if (b == BK_CUDA_GEN) {
    int cc = 0;
    tirrt_status_free(tirrt_cuda_compute_capability(0, &cc));
    TirCudaFuseOptions fo = {.arch = cc >= 90 ? 90 : 80};
    if (tir_codegen_fuse_cuda(cg, &fo, diag) != TIR_OK) {
      snprintf(err, n_err, "CUDA fusion failed");
      goto done;
    }
    *out_fused = tir_codegen_def(cg)->n_kernels > 0;
  }
  if ((s = tirrt_program_create(tir_codegen_def(cg), &prog))) goto done;
  for (int i = 0; i < n; i++) {
    bool swap = ins[i].transposed && ins[i].rank >= 2;
    descs[i] = (tirrt_tensor_desc_t){.dtype = (tirrt_dtype_t)ins[i].dt, .rank = ins[i].rank};
    for (int d = 0; d < ins[i].rank; d++) descs[i].shape[d] = ins[i].dims[d];
    if (swap) {
      descs[i].shape[ins[i].rank - 2] = ins[i].dims[ins[i].rank - 1];
      descs[i].shape[ins[i].rank - 1] = ins[i].dims[ins[i].rank - 2];
      if (!(swapped[i] = swap_last2(&ins[i]))) {
        snprintf(err, n_err, "out of memory");
        goto done;
      }
    }
    datas[i] = swap ? swapped[i] : ins[i].data;
  }
  tirrt_run_options_t opts = {.device = b == BK_CPU ? TIRRT_DEVICE_CPU : TIRRT_DEVICE_CUDA};
  if ((s = tirrt_program_execute(prog, &opts, descs, datas, NULL, &rd, &result, NULL))) goto done;
  *out_data = result;
  result = NULL;
  r = RUN_OK;
done:
  if (s) snprintf(err, n_err, "%s", tirrt_status_message(s));
  tirrt_status_free(s);
  free(result);
  for (int i = 0; i < n; i++) free(swapped[i]);
  tirrt_program_free(prog);
  tir_codegen_free(cg);
  tir_module_free(m);
  tir_diag_free(diag);
  return r;
}

RunResult ops_run(Backend b, const OpSpec *op, const Operand *ins, int n, void **out_data,
                  bool *out_fused, char *err, size_t n_err) {
  *out_data = NULL;
  *out_fused = false;
  err[0] = 0;
  if (b == BK_FOLD) return fold(op, ins, n, out_data, err, n_err);
  if (b != BK_CPU && !ops_have_gpu()) return RUN_DECLINED;
  return run(b, op, ins, n, out_data, out_fused, err, n_err);
}
