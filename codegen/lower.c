/* lower.c — IR to the runtime's program table (see codegen.h).
 *
 * Values are numbered arguments first, then each op's result in program
 * order.  Dims become a node list (shared nodes for equal dims, since dims
 * are interned).  Each op becomes one instruction (a linear and the
 * gelu(tanh) that alone reads it become one); shape ops become view
 * instructions the runtime executes without copying when it can. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "codegen_internal.h"
#include "tir_ew.h"

/* A growable array of fixed-size items. */
typedef struct {
  void *p;
  int32_t n, cap;
  size_t size;
} Vec;

static void *vec_push(Vec *v) {
  if (v->n == v->cap) {
    int32_t nc = v->cap ? 2 * v->cap : 32;
    void *np = realloc(v->p, (size_t)nc * v->size);
    if (!np) return NULL;
    v->p = np;
    v->cap = nc;
  }
  void *item = (char *)v->p + (size_t)v->n * v->size;
  memset(item, 0, v->size);
  v->n++;
  return item;
}

struct TirCodegen {
  tirrt_program_def_t def;
  Vec syms, dims, values, insts, args, results;
  Vec ints;              /* every int32 list (value dims, instruction inputs), owned */
  Vec owned;             /* other blocks the table points to (generated kernels), owned */
  TirStrMap *dim_index;  /* TirDim pointer bytes -> node index + 1 */
  TirStrMap *sym_index;  /* symbol name -> index + 1 */
  int32_t *value_of;     /* TirValue id -> value index, -1 */
  TirModule *m;
  TirDiag *diag;
  int64_t stream; /* per random op: dropout streams, fixed at compile time */
  bool oom;
};

static int32_t *int_list(TirCodegen *cg, int32_t n) {
  int32_t **slot = vec_push(&cg->ints);
  if (!slot || !(*slot = calloc((size_t)(n ? n : 1), sizeof(int32_t)))) {
    cg->oom = true;
    return NULL;
  }
  return *slot;
}

static int32_t add_node(TirCodegen *cg, int32_t op, int32_t a, int32_t b, int64_t value) {
  tirrt_dim_node_t *n = vec_push(&cg->dims);
  if (!n) {
    cg->oom = true;
    return 0;
  }
  *n = (tirrt_dim_node_t){op, a, b, value};
  return cg->dims.n - 1;
}

/* The node index of an interned dim, building its expression once. */
static int32_t dim_node(TirCodegen *cg, const TirDim *d) {
  intptr_t hit = (intptr_t)tir_strmap_get(cg->dim_index, (const char *)&d, sizeof d);
  if (hit) return (int32_t)hit - 1;
  int32_t n = 0;
  switch (d->kind) {
  case TIR_DIM_CONST: n = add_node(cg, TIRRT_DIM_CONST, 0, 0, d->value); break;
  case TIR_DIM_SYM: {
    intptr_t s = (intptr_t)tir_strmap_get(cg->sym_index, d->sym, strlen(d->sym));
    if (!s) {
      const char **slot = vec_push(&cg->syms);
      if (!slot) {
        cg->oom = true;
        return 0;
      }
      *slot = d->sym;
      s = cg->syms.n;
      tir_strmap_put(cg->sym_index, d->sym, strlen(d->sym), (void *)s);
    }
    n = add_node(cg, TIRRT_DIM_SYM, 0, 0, s - 1);
    break;
  }
  case TIR_DIM_MUL: /* coefficient * atoms */
    n = dim_node(cg, d->args[0]);
    for (int i = 1; i < d->nargs; i++) n = add_node(cg, TIRRT_DIM_MUL, n, dim_node(cg, d->args[i]), 0);
    if (d->value != 1) n = add_node(cg, TIRRT_DIM_MUL, n, add_node(cg, TIRRT_DIM_CONST, 0, 0, d->value), 0);
    break;
  case TIR_DIM_ADD: /* constant + terms */
    n = dim_node(cg, d->args[0]);
    for (int i = 1; i < d->nargs; i++) n = add_node(cg, TIRRT_DIM_ADD, n, dim_node(cg, d->args[i]), 0);
    if (d->value) n = add_node(cg, TIRRT_DIM_ADD, n, add_node(cg, TIRRT_DIM_CONST, 0, 0, d->value), 0);
    break;
  case TIR_DIM_FLOORDIV: {
    int32_t a = dim_node(cg, d->args[0]), b = dim_node(cg, d->args[1]);
    n = add_node(cg, TIRRT_DIM_FLOORDIV, a, b, 0);
    break;
  }
  }
  tir_strmap_put(cg->dim_index, (const char *)&d, sizeof d, (void *)(intptr_t)(n + 1));
  return n;
}

static const char *value_name(TirCodegen *cg, const TirValue *v) {
  if (v->name) return v->name;
  char buf[32];
  snprintf(buf, sizeof buf, "%%%u", (unsigned)v->id);
  return tir_arena_strndup(cg->m->arena, buf, strlen(buf));
}

static int32_t add_value(TirCodegen *cg, const TirValue *v, int32_t kind) {
  tirrt_value_def_t *vd = vec_push(&cg->values);
  int32_t *dims = int_list(cg, v->type.rank);
  if (!vd || !dims) {
    cg->oom = true;
    return 0;
  }
  for (int k = 0; k < v->type.rank; k++) dims[k] = dim_node(cg, v->type.dims[k]);
  vd->name = value_name(cg, v);
  vd->dtype = (int32_t)v->type.dtype; /* the runtime's dtype order is the compiler's */
  vd->rank = v->type.rank;
  vd->dims = dims;
  vd->kind = kind;
  if (kind == TIRRT_VALUE_CONST) {
    vd->data = v->def->data;
    vd->nbytes = v->def->data_bytes;
  }
  cg->value_of[v->id] = cg->values.n - 1;
  return cg->values.n - 1;
}

/* A dim attribute as an index in [0, rank).  Torch lets dims 0 and -1 name
 * the one wrapped dim of a 0-d tensor (x.sum(0), softmax(x, -1)); that
 * gives 0 here, and callers that build masks must treat rank 0 apart. */
static int norm_dim(int64_t d, int rank) {
  if (rank == 0) return 0;
  return (int)(d < 0 ? d + rank : d);
}

/* The op table's row for an elementwise IR op (common/tir_ew_table.h):
 * the row spelled like the op, or for an op with an `approximate` variant
 * other than "none" (gelu's "tanh") the row <name>_<variant>.  The row
 * order is the runtime's op numbering (asserted in runtime/), so a row
 * added to the table lowers with no edit here.  NULL for other ops. */
static const tir_ew_row_t *ew_row(const TirOp *op, int *arity, int *fn) {
  const TirOpSchema *s = tir_op_schema(op->kind);
  const char *name = s->name, *variant = "none";
  if (tir_schema_attr_index(s, "approximate", strlen("approximate")) >= 0)
    variant = tir_op_attr_str(op, "approximate");
  if (strcmp(variant, "none") == 0) return tir_ew_row_named(name, arity, fn);
  char full[64];
  int n = snprintf(full, sizeof full, "%s_%s", name, variant);
  if (n < 0 || (size_t)n >= sizeof full) return NULL;
  return tir_ew_row_named(full, arity, fn);
}

/* The reduction (TIR_EW_RED_*, the runtime's tirrt_redop_t) an IR op
 * named like a row of TIR_EW_REDUCE_ROWS computes, or -1. */
static int reduce_fn(const TirOp *op) {
#define RED_NAME_(E, name) #name,
  static const char *const names[] = {TIR_EW_REDUCE_ROWS(RED_NAME_)};
#undef RED_NAME_
  const char *name = tir_op_schema(op->kind)->name;
  for (int r = 0; r < TIR_EW_RED_COUNT; r++)
    if (strcmp(names[r], name) == 0) return r;
  return -1;
}

/* The slice start as a dim, resolved like shape inference does. */
static int32_t slice_start(TirCodegen *cg, const TirOp *op, int dim) {
  const TirDim *size = op->operands[0].value->type.dims[dim];
  if (!tir_op_has_attr(op, "start")) return dim_node(cg, tir_dim_const(cg->m, 0));
  const TirDim *start = tir_op_attr_dim(op, "start");
  int64_t s, n;
  if (tir_dim_is_const(start, &s) && tir_dim_is_const(size, &n)) {
    if (s < 0) s += n;
    s = s < 0 ? 0 : s > n ? n : s;
    return dim_node(cg, tir_dim_const(cg->m, s));
  }
  if (tir_dim_is_const(start, &s) && s < 0) start = tir_dim_add(cg->m, size, start, NULL);
  if (!start) {
    cg->oom = true;
    return 0;
  }
  return dim_node(cg, start);
}

/* Fills one instruction for op; returns false (after a diagnostic) when the
 * runtime has no instruction for it. */
static bool lower_op(TirCodegen *cg, TirOp *op, tirrt_inst_t *in) {
  TirOpKind k = op->kind;
  const TirType *x = op->n_operands ? &op->operands[0].value->type : NULL;
  const TirOpSchema *s = tir_op_schema(k);
  int arity, fn, red;
  if (ew_row(op, &arity, &fn)) {
    in->op = arity == 1 ? TIRRT_OP_UNARY : TIRRT_OP_BINARY;
    if (arity == 1) in->a.unary.fn = fn;
    else in->a.binary.fn = fn;
  } else if ((red = reduce_fn(op)) >= 0) {
    in->op = TIRRT_OP_REDUCE;
    in->a.reduce.fn = red;
    /* A 0-d input reduces nothing (its one element is the result,
     * whatever dims say): an empty mask. */
    const TirAttr *d = tir_op_attr_c(op, "dims");
    uint32_t mask = 0;
    if (x->rank == 0)
      mask = 0;
    else if (d->kind == TIR_ATTR_INTS && d->ints.n > 0)
      for (int i = 0; i < d->ints.n; i++) mask |= 1u << norm_dim(d->ints.v[i], x->rank);
    else
      mask = (uint32_t)((1ull << x->rank) - 1);
    in->a.reduce.dims_mask = mask;
  } else {
    switch (k) {
    case TIR_OP_WHERE: in->op = TIRRT_OP_WHERE; break;
    case TIR_OP_MASKED_FILL:
      in->op = TIRRT_OP_MASKED_FILL;
      in->a.fill.value = tir_op_attr_float(op, "value");
      break;
    case TIR_OP_CAST: in->op = TIRRT_OP_CAST; break;
    case TIR_OP_SOFTMAX: case TIR_OP_LOG_SOFTMAX:
      in->op = TIRRT_OP_SOFTMAX;
      in->a.softmax.dim = norm_dim(tir_op_attr_int(op, "dim"), x->rank);
      in->a.softmax.log = k == TIR_OP_LOG_SOFTMAX;
      break;
    case TIR_OP_LAYER_NORM:
      in->op = TIRRT_OP_LAYER_NORM;
      in->a.norm.ndims = (int32_t)tir_op_attr_int(op, "dims");
      in->a.norm.eps = tir_op_attr_float(op, "eps");
      break;
    case TIR_OP_RMS_NORM:
      in->op = TIRRT_OP_RMS_NORM;
      in->a.norm.eps = tir_op_has_attr(op, "eps") ? tir_op_attr_float(op, "eps") : -1;
      break;
    case TIR_OP_MATMUL: in->op = TIRRT_OP_MATMUL; break;
    case TIR_OP_LINEAR: in->op = TIRRT_OP_LINEAR; break; /* the activation: lower_linear_act */
    case TIR_OP_RESHAPE: case TIR_OP_UNSQUEEZE: case TIR_OP_SQUEEZE: in->op = TIRRT_OP_RESHAPE; break;
    case TIR_OP_PERMUTE: case TIR_OP_TRANSPOSE: {
      int64_t perm[TIR_MAX_RANK];
      bool ok = tir_op_permutation(op, perm);
      assert(ok); /* the verifier checked the attributes */
      (void)ok;
      in->op = TIRRT_OP_PERMUTE;
      for (int i = 0; i < x->rank; i++) in->a.permute.perm[i] = (int32_t)perm[i];
      break;
    }
    case TIR_OP_EXPAND: in->op = TIRRT_OP_EXPAND; break;
    case TIR_OP_SLICE: {
      int dim = norm_dim(tir_op_attr_int(op, "dim"), x->rank);
      in->op = TIRRT_OP_SLICE;
      in->a.slice.dim = dim;
      in->a.slice.start = slice_start(cg, op, dim);
      in->a.slice.step = dim_node(cg, tir_op_attr_dim(op, "step"));
      break;
    }
    case TIR_OP_CONCAT:
      in->op = TIRRT_OP_CONCAT;
      in->a.concat.dim = norm_dim(tir_op_attr_int(op, "dim"), x->rank);
      break;
    case TIR_OP_CONTIGUOUS: case TIR_OP_CLONE: in->op = TIRRT_OP_COPY; break;
    case TIR_OP_ARANGE:
      in->op = TIRRT_OP_ARANGE;
      in->a.arange.start = dim_node(cg, tir_op_attr_dim(op, "start"));
      in->a.arange.step = dim_node(cg, tir_op_attr_dim(op, "step"));
      break;
    case TIR_OP_FULL:
      in->op = TIRRT_OP_FULL;
      in->a.fill.value = tir_op_attr_float(op, "value");
      break;
    case TIR_OP_TRIL: case TIR_OP_TRIU:
      in->op = TIRRT_OP_TRI;
      in->a.tri.diagonal = tir_op_attr_int(op, "diagonal");
      in->a.tri.upper = k == TIR_OP_TRIU;
      break;
    case TIR_OP_EMBEDDING: in->op = TIRRT_OP_EMBEDDING; break;
    case TIR_OP_DROPOUT:
      if (tir_op_attr_bool(op, "training") && tir_op_attr_float(op, "p") > 0) {
        in->op = TIRRT_OP_DROPOUT;
        in->a.dropout.p = tir_op_attr_float(op, "p");
        in->a.dropout.stream = cg->stream++;
      } else {
        in->op = TIRRT_OP_COPY; /* inference: identity */
      }
      break;
    case TIR_OP_SDPA:
      in->op = TIRRT_OP_SDPA;
      in->a.sdpa.scale = tir_op_has_attr(op, "scale") ? tir_op_attr_float(op, "scale") : NAN;
      in->a.sdpa.dropout_p = tir_op_attr_float(op, "dropout_p");
      in->a.sdpa.is_causal = tir_op_attr_bool(op, "is_causal");
      in->a.sdpa.bottom_right = strcmp(tir_op_attr_str(op, "causal_align"), "bottom_right") == 0;
      in->a.sdpa.enable_gqa = tir_op_attr_bool(op, "enable_gqa");
      in->a.sdpa.stream = cg->stream++;
      in->a.sdpa.exact_mask = tir_op_has_attr(op, "exact_mask") && tir_op_attr_bool(op, "exact_mask");
      in->a.sdpa.window = tir_op_has_attr(op, "window") ? tir_op_attr_int(op, "window") : 0;
      in->a.sdpa.softcap = tir_op_has_attr(op, "softcap") ? tir_op_attr_float(op, "softcap") : 0;
      in->a.sdpa.kernel = TIRRT_SDPA_ANY; /* no choice recorded: the GPU runtime applies the rule */
      if (tir_op_has_attr(op, "kernel")) { /* select-kernel's choice, for the GPU */
        const char *k = tir_op_attr_str(op, "kernel");
        in->a.sdpa.kernel = strcmp(k, "flash") == 0 ? TIRRT_SDPA_FLASH
                            : strcmp(k, "mem_efficient") == 0 ? TIRRT_SDPA_MEM_EFFICIENT
                                                              : TIRRT_SDPA_MATH;
      }
      break;
    case TIR_OP_PAGED_SDPA:
      in->op = TIRRT_OP_PAGED_SDPA;
      in->a.sdpa.scale = tir_op_has_attr(op, "scale") ? tir_op_attr_float(op, "scale") : NAN;
      in->a.sdpa.is_causal = tir_op_attr_bool(op, "is_causal");
      in->a.sdpa.bottom_right = 1; /* the query rows are each sequence's last L positions */
      in->a.sdpa.enable_gqa = tir_op_attr_bool(op, "enable_gqa");
      in->a.sdpa.window = tir_op_has_attr(op, "window") ? tir_op_attr_int(op, "window") : 0;
      in->a.sdpa.softcap = tir_op_has_attr(op, "softcap") ? tir_op_attr_float(op, "softcap") : 0;
      in->a.sdpa.kernel = TIRRT_SDPA_ANY;
      break;
    default:
      tir_diag_error(cg->diag, op->loc, "codegen: '%s' has no runtime instruction", s->name);
      return false;
    }
  }
  return true;
}

/* The gelu(tanh) that is the only reader of linear op's result, or NULL:
 * the two become one LINEAR instruction with the activation, which saves
 * the intermediate and lets a GPU apply it in the GEMM's epilogue.  The
 * instruction sits at the linear's place and makes the gelu's value; only
 * the gelu read the linear's result, so nothing in between can tell. */
static TirOp *fused_activation(const TirOp *op) {
  const TirOperand *use = op->result ? op->result->first_use : NULL;
  if (op->kind != TIR_OP_LINEAR || !use || use->next_use) return NULL;
  TirOp *g = use->owner;
  if (g->kind != TIR_OP_GELU || g->n_operands != 1 ||
      strcmp(tir_op_attr_str(g, "approximate"), "tanh") != 0)
    return NULL;
  return g;
}

static void cg_free_parts(TirCodegen *cg) {
  for (int32_t i = 0; i < cg->ints.n; i++) free(((int32_t **)cg->ints.p)[i]);
  free(cg->ints.p);
  for (int32_t i = 0; i < cg->owned.n; i++) free(((void **)cg->owned.p)[i]);
  free(cg->owned.p);
  free(cg->syms.p);
  free(cg->dims.p);
  free(cg->values.p);
  free(cg->insts.p);
  free(cg->args.p);
  free(cg->results.p);
  tir_strmap_free(cg->dim_index);
  tir_strmap_free(cg->sym_index);
  free(cg->value_of);
}

void tir_codegen_free(TirCodegen *cg) {
  if (!cg) return;
  cg_free_parts(cg);
  free(cg);
}

const tirrt_program_def_t *tir_codegen_def(const TirCodegen *cg) { return &cg->def; }

tirrt_program_def_t *tir_codegen_def_mut(TirCodegen *cg) { return &cg->def; }

bool tir_codegen_own(TirCodegen *cg, void *p) {
  if (!p) return false;
  void **slot = vec_push(&cg->owned);
  if (!slot) {
    free(p);
    return false;
  }
  *slot = p;
  return true;
}

TirStatus tir_codegen_lower(TirModule *m, TirDiag *diag, TirCodegen **out) {
  *out = NULL;
  TirFunc *f = tir_module_entry(m);
  if (!f) {
    tir_diag_error(diag, TIR_LOC_UNKNOWN, "codegen: the module has no entry function");
    return TIR_ERR_INPUT;
  }
  TirCodegen *cg = calloc(1, sizeof *cg);
  if (!cg) return TIR_ERR_INTERNAL;
  cg->m = m;
  cg->diag = diag;
  cg->syms.size = sizeof(const char *);
  cg->dims.size = sizeof(tirrt_dim_node_t);
  cg->values.size = sizeof(tirrt_value_def_t);
  cg->insts.size = sizeof(tirrt_inst_t);
  cg->args.size = cg->results.size = sizeof(int32_t);
  cg->ints.size = sizeof(int32_t *);
  cg->owned.size = sizeof(void *);
  cg->dim_index = tir_strmap_new();
  cg->sym_index = tir_strmap_new();
  cg->value_of = malloc(((size_t)m->next_id + 1) * sizeof *cg->value_of);
  if (!cg->dim_index || !cg->sym_index || !cg->value_of) {
    tir_codegen_free(cg);
    return TIR_ERR_INTERNAL;
  }
  for (uint32_t i = 0; i <= m->next_id; i++) cg->value_of[i] = -1;
  TirStatus st = TIR_OK;
  for (int i = 0; i < f->n_args; i++) {
    int32_t *a = vec_push(&cg->args);
    if (!a) cg->oom = true;
    else *a = add_value(cg, f->args[i], TIRRT_VALUE_ARG);
  }
  for (TirOp *op = f->first; op && !cg->oom; op = op->next) {
    if (op->kind == TIR_OP_RETURN) {
      for (int i = 0; i < op->n_operands; i++) {
        int32_t *r = vec_push(&cg->results);
        if (!r) cg->oom = true;
        else *r = cg->value_of[op->operands[i].value->id];
      }
      continue;
    }
    if (op->kind == TIR_OP_CONST) {
      add_value(cg, op->result, TIRRT_VALUE_CONST);
      continue;
    }
    if (op->result && cg->value_of[op->result->id] >= 0) continue; /* folded into a linear */
    tirrt_inst_t in = {0};
    if (!lower_op(cg, op, &in)) {
      st = TIR_ERR_INPUT;
      continue;
    }
    TirOp *act = fused_activation(op);
    if (act) in.a.linear.act = TIRRT_ACT_GELU_TANH;
    int32_t *ins = int_list(cg, op->n_operands);
    if (!ins) break;
    for (int i = 0; i < op->n_operands; i++) ins[i] = cg->value_of[op->operands[i].value->id];
    in.n_in = op->n_operands;
    in.in = ins;
    in.out = add_value(cg, act ? act->result : op->result, TIRRT_VALUE_TEMP);
    tirrt_inst_t *slot = vec_push(&cg->insts);
    if (!slot) cg->oom = true;
    else *slot = in;
  }
  if (cg->oom) st = TIR_ERR_INTERNAL;
  if (st != TIR_OK) {
    tir_codegen_free(cg);
    return st;
  }
  cg->def = (tirrt_program_def_t){
      .abi = TIRRT_PROGRAM_ABI,
      .name = m->source_path ? m->source_path : "program",
      .n_syms = cg->syms.n, .syms = cg->syms.p,
      .n_dims = cg->dims.n, .dims = cg->dims.p,
      .n_values = cg->values.n, .values = cg->values.p,
      .n_args = cg->args.n, .args = cg->args.p,
      .n_insts = cg->insts.n, .insts = cg->insts.p,
      .n_results = cg->results.n, .results = cg->results.p,
  };
  *out = cg;
  return TIR_OK;
}
