/* cuda_exec.c — the GPU side of the program executor: one library kernel
 * call per instruction (kernels/tirk_ops.h, tirk_attention.h, cuBLASLt for
 * GEMMs), and the loading and launching of the generated kernels that
 * replace runs of instructions (the launch contract is in tirrt.h).
 * Inputs are broadcast to the output's shape here (stride 0), so the
 * kernels see views of one shape.  The attention kernel is the one the
 * program records (the compiler's choice); only a program that left it
 * open gets the same rule applied here (common/sdpa_select.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "sdpa_select.h"
#include "tirk_attention.h"
#include "tirk_ops.h"

/* in broadcast to out's shape, as a kernel view. */
static tirrt_status_t bcast(const tirrt_view_t *in, const tirrt_view_t *out, tirk_view_t *t) {
  tirrt_view_t b;
  tirrt_status_t s = tirrt_view_broadcast_to(in, out->rank, out->shape, &b);
  if (s) return s;
  *t = tirrt_tirk_view(&b);
  return NULL;
}

tirrt_status_t tirrt_cuda_copy(tirrt_cuda_ctx_t *c, const tirrt_view_t *src,
                               const tirrt_view_t *dst) {
  tirk_view_t ts, td = tirrt_tirk_view(dst);
  tirrt_status_t s = bcast(src, dst, &ts);
  if (s) return s;
  TIRRT_TIRK_CHECK(tirk_copy(&ts, &td, c->stream), "copy");
  return NULL;
}

tirrt_status_t tirrt_cuda_dense_copy(tirrt_cuda_ctx_t *c, const tirrt_view_t *v,
                                     tirrt_view_t *out, void **mem) {
  tirrt_tensor_desc_t d = {.dtype = v->dtype, .rank = v->rank};
  memcpy(d.shape, v->shape, sizeof d.shape);
  size_t bytes;
  tirrt_status_t s = tirrt_tensor_desc_check(&d, NULL, &bytes);
  if (!s) s = tirrt_cuda_scratch(c, bytes, mem);
  if (s) return s;
  *out = tirrt_view_contiguous(&d, *mem);
  return tirrt_cuda_copy(c, v, out);
}

/* ------------------------------------------------------------ attention */

_Static_assert((int)TIRRT_SDPA_FLASH == (int)TIR_SDPA_SEL_FLASH &&
                   (int)TIRRT_SDPA_MEM_EFFICIENT == (int)TIR_SDPA_SEL_MEM_EFFICIENT &&
                   (int)TIRRT_SDPA_MATH == (int)TIR_SDPA_SEL_MATH,
               "the program's kernel numbers are the shared rule's");

/* The kernel for an sdpa that left it open (a program built without
 * select-kernel): the compiler's rule (common/sdpa_select.h), for this
 * GPU and these operands. */
static int open_choice(const tirrt_cuda_ctx_t *c, const tirrt_view_t *q, const tirrt_view_t *v,
                       const tirrt_view_t *mask, const tirrt_sdpa_params_t *prm) {
  tirrt_dtype_t dt = q->dtype;
  tir_sdpa_problem_t p = {
      .dt_class = dt == TIRRT_DTYPE_F16 || dt == TIRRT_DTYPE_BF16 ? TIR_SDPA_DT_HALF
                  : dt == TIRRT_DTYPE_F32                        ? TIR_SDPA_DT_F32
                                                                 : TIR_SDPA_DT_OTHER,
      .dtype_name = tirrt_dtype_name(dt),
      .e = q->shape[q->rank - 1],
      .ev = v->shape[v->rank - 1],
      .has_mask = mask != NULL,
      /* per key: the mask's query axis (second-last dim) is 1 or absent */
      .key_mask = mask && (mask->rank < 2 || mask->shape[mask->rank - 2] == 1),
      .dropout_p = prm->dropout_p,
      .enable_gqa = prm->enable_gqa,
      .cc = c->cc};
  return tir_sdpa_select(&p, NULL, NULL);
}

static tirrt_status_t sdpa(tirrt_cuda_ctx_t *c, const tirrt_exec_env_t *env,
                           const tirrt_inst_t *inst, const tirrt_view_t *const *ins,
                           const tirrt_view_t *out) {
  const tirrt_view_t *q = ins[0], *k = ins[1], *v = ins[2];
  tirrt_sdpa_params_t prm = tirrt_sdpa_params_of(inst, q->shape[q->rank - 1], env->seed);
  /* No keys: every row attends to nothing and is 0 (as on the CPU); the
   * kernels need not take S = 0. */
  if (k->shape[k->rank - 2] == 0) {
    tirk_view_t to = tirrt_tirk_view(out);
    TIRRT_TIRK_CHECK(tirk_fill(0.0, &to, c->stream), "sdpa");
    return NULL;
  }
  tirk_sdpa_args_t a;
  memset(&a, 0, sizeof a);
  a.q = tirrt_tirk_view(q);
  a.k = tirrt_tirk_view(k);
  a.v = tirrt_tirk_view(v);
  a.out = tirrt_tirk_view(out);
  a.scale = prm.scale;
  a.dropout_p = prm.dropout_p;
  a.is_causal = prm.is_causal;
  a.bottom_right = prm.bottom_right;
  a.enable_gqa = prm.enable_gqa;
  a.exact_mask = prm.exact_mask;
  a.window = prm.window; /* every CUDA kernel takes both (tirk_attention.h) */
  a.softcap = prm.softcap;
  a.seed = prm.seed;
  a.stream = prm.stream;
  tirk_view_t mask;
  tirrt_status_t s = NULL;
  if (inst->n_in > 3) {
    /* The mask broadcast to [..., Hq, L, S] (out's batch dims). */
    tirrt_view_t shape = *out;
    shape.shape[out->rank - 1] = k->shape[k->rank - 2];
    if ((s = bcast(ins[3], &shape, &mask))) return s;
    a.mask = &mask;
  }
  int which = inst->a.sdpa.kernel;
  if (which < TIRRT_SDPA_FLASH || which > TIRRT_SDPA_MATH)
    which = open_choice(c, q, v, inst->n_in > 3 ? ins[3] : NULL, &prm);
  static const char *const NAME[4] = {"", "sdpa (flash)", "sdpa (mem_efficient)", "sdpa (math)"};
  void *mem[3] = {NULL, NULL, NULL};
  /* The chosen kernel, and once more on dense copies of q, k and v when it
   * refuses their layout (a pre-transposed k, say): data movement, not a
   * second choice of kernel. */
  for (int attempt = 0; attempt < 2; attempt++) {
    tirk_err_t e;
    if (which == TIRRT_SDPA_FLASH) {
      size_t ws = tirk_sdpa_flash_workspace(&a);
      void *w = NULL;
      if (ws && (s = tirrt_cuda_scratch(c, ws, &w))) goto done;
      e = tirk_sdpa_flash(&a, w, c->stream);
      tirrt_cuda_scratch_free(c, w);
    } else if (which == TIRRT_SDPA_MEM_EFFICIENT) {
      e = tirk_sdpa_mem_efficient(&a, c->stream);
    } else {
      size_t ws = tirk_sdpa_math_workspace(&a);
      void *w = NULL;
      if ((s = tirrt_cuda_scratch(c, ws, &w))) goto done;
      e = tirk_sdpa_math(&a, c->blas, w, c->stream);
      tirrt_cuda_scratch_free(c, w);
    }
    if (e == TIRK_OK) goto done;
    if (e != TIRK_ERR_UNSUPPORTED || attempt == 1) {
      s = tirrt_tirk_status(e, NAME[which]);
      goto done;
    }
    tirrt_view_t dq, dk, dv;
    if ((s = tirrt_cuda_dense_copy(c, q, &dq, &mem[0])) ||
        (s = tirrt_cuda_dense_copy(c, k, &dk, &mem[1])) ||
        (s = tirrt_cuda_dense_copy(c, v, &dv, &mem[2])))
      goto done;
    a.q = tirrt_tirk_view(&dq);
    a.k = tirrt_tirk_view(&dk);
    a.v = tirrt_tirk_view(&dv);
  }
done:
  for (int i = 0; i < 3; i++) tirrt_cuda_scratch_free(c, mem[i]);
  return s;
}

/* Where a checked op (embedding, paged_sdpa) writes its verdict: a check
 * slot, read with every other at the run's end (tirrt_cuda_checks_read);
 * with every slot taken, a flag of its own (*own) that check_done reads
 * back at once, which syncs, so never while capturing a graph. */
static tirrt_status_t check_place(tirrt_cuda_ctx_t *c, tirrt_cuda_check_t how, int64_t **flag,
                                  bool *own) {
  *own = false;
  if ((*flag = tirrt_cuda_check_slot(c, how))) return NULL;
  if (c->arena)
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "more than %d checked ops in a CUDA graph",
                             TIRRT_CUDA_MAX_CHECKS);
  *own = true;
  return tirrt_cuda_alloc(c, sizeof **flag, (void **)flag);
}

/* After the op (s: its launch's status): an own flag read back and freed. */
static tirrt_status_t check_done(tirrt_cuda_ctx_t *c, tirrt_cuda_check_t how, int64_t *flag,
                                 bool own, tirrt_status_t s) {
  if (!own) return s;
  int64_t v = 0;
  if (!s) {
    cudaError_t e = cudaMemcpyAsync(&v, flag, sizeof v, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    s = e != cudaSuccess ? tirrt_cuda_status(e, "reading a check", __FILE__, __LINE__)
                         : tirrt_cuda_check_error(&how, v);
  }
  tirrt_cuda_free(c, flag);
  return s;
}

/* paged_sdpa: the split-KV kernel over the pages; its length and page
 * check like the embedding's. */
static tirrt_status_t paged_sdpa(tirrt_cuda_ctx_t *c, const tirrt_exec_env_t *env,
                                 const tirrt_inst_t *inst, const tirrt_view_t *const *ins,
                                 const tirrt_view_t *out) {
  tirrt_sdpa_params_t prm = tirrt_sdpa_params_of(inst, ins[0]->shape[3], env->seed);
  tirk_paged_args_t a = {.q = tirrt_tirk_view(ins[0]), .k_cache = tirrt_tirk_view(ins[1]),
                         .v_cache = tirrt_tirk_view(ins[2]), .block_table = tirrt_tirk_view(ins[3]),
                         .kv_lens = tirrt_tirk_view(ins[4]), .out = tirrt_tirk_view(out),
                         .scale = prm.scale, .is_causal = prm.is_causal, .window = prm.window,
                         .softcap = prm.softcap};
  tirrt_cuda_check_t how = {.kind = TIRRT_CHECK_PAGED, .a = ins[3]->shape[1], .b = ins[1]->shape[0],
                            .c = ins[1]->shape[2]};
  int64_t *verdict;
  bool own;
  size_t ws = tirk_sdpa_paged_workspace(&a);
  void *w = NULL;
  tirrt_status_t s = check_place(c, how, &verdict, &own);
  if (s) return s;
  if (ws && (s = tirrt_cuda_scratch(c, ws, &w))) return check_done(c, how, verdict, own, s);
  tirk_err_t e = tirk_sdpa_paged(&a, w, verdict, c->stream);
  tirrt_cuda_scratch_free(c, w);
  return check_done(c, how, verdict, own, e == TIRK_OK ? NULL : tirrt_tirk_status(e, "paged_sdpa"));
}

/* ------------------------------------------------------------ one instruction */

/* A linear's activation applied to its finished output in place (the
 * elementwise kernel reads each element before writing it). */
static tirrt_status_t linear_act_after(int32_t act, const tirrt_view_t *out, cudaStream_t st) {
  if (act != TIRRT_ACT_GELU_TANH) return NULL;
  tirk_view_t to = tirrt_tirk_view(out);
  TIRRT_TIRK_CHECK(tirk_unary(TIRRT_UN_GELU_TANH, &to, &to, st), "linear activation");
  return NULL;
}

tirrt_status_t tirrt_cuda_exec(tirrt_cuda_ctx_t *c, const tirrt_exec_env_t *env,
                               const tirrt_inst_t *inst, const tirrt_view_t *const *ins,
                               const tirrt_view_t *out) {
  const tirrt_inst_attrs_t *at = &inst->a;
  cudaStream_t st = c->stream;
  tirk_view_t to = tirrt_tirk_view(out), t0, t1, t2;
  tirrt_status_t s = NULL;
  /* An empty output needs no kernel (its data may be NULL).  Not for
   * reductions: amax over an empty dim is an error even then, which
   * tirk_reduce reports. */
  if (tirrt_view_numel(out) == 0 && inst->op != TIRRT_OP_REDUCE) return NULL;
  /* K = 0: the empty sum of products is 0 (GEMM libraries may refuse
   * k = 0); linear then gives its bias.  As the CPU kernels do. */
  if ((inst->op == TIRRT_OP_MATMUL || inst->op == TIRRT_OP_LINEAR) &&
      ins[0]->shape[ins[0]->rank - 1] == 0) {
    tirk_err_t e = TIRK_OK;
    if (inst->op == TIRRT_OP_LINEAR && inst->n_in > 2) s = tirrt_cuda_copy(c, ins[2], out);
    else if ((e = tirk_fill(0.0, &to, st)) != TIRK_OK) s = tirrt_tirk_status(e, "matmul");
    if (s || inst->op != TIRRT_OP_LINEAR) return s;
    return linear_act_after(at->linear.act, out, st);
  }
  switch (inst->op) {
  case TIRRT_OP_UNARY:
    if ((s = bcast(ins[0], out, &t0))) return s;
    TIRRT_TIRK_CHECK(tirk_unary((int)at->unary.fn, &t0, &to, st), "unary");
    return NULL;
  case TIRRT_OP_BINARY:
    if ((s = bcast(ins[0], out, &t0)) || (s = bcast(ins[1], out, &t1))) return s;
    TIRRT_TIRK_CHECK(tirk_binary((int)at->binary.fn, &t0, &t1, &to, st), "binary");
    return NULL;
  case TIRRT_OP_WHERE:
    if ((s = bcast(ins[0], out, &t0)) || (s = bcast(ins[1], out, &t1)) ||
        (s = bcast(ins[2], out, &t2)))
      return s;
    TIRRT_TIRK_CHECK(tirk_where(&t0, &t1, &t2, &to, st), "where");
    return NULL;
  case TIRRT_OP_MASKED_FILL:
    if ((s = bcast(ins[0], out, &t0)) || (s = bcast(ins[1], out, &t1))) return s;
    TIRRT_TIRK_CHECK(tirk_masked_fill(&t0, &t1, at->fill.value, &to, st), "masked_fill");
    return NULL;
  case TIRRT_OP_CAST:
    return tirrt_cuda_copy(c, ins[0], out);
  case TIRRT_OP_REDUCE: /* out is already the keepdim view (program.c) */
    t0 = tirrt_tirk_view(ins[0]);
    TIRRT_TIRK_CHECK(tirk_reduce((int)at->reduce.fn, &t0, at->reduce.dims_mask, &to, st), "reduce");
    return NULL;
  case TIRRT_OP_SOFTMAX:
    t0 = tirrt_tirk_view(ins[0]);
    TIRRT_TIRK_CHECK(tirk_softmax(&t0, at->softmax.dim, at->softmax.log != 0, &to, st), "softmax");
    return NULL;
  case TIRRT_OP_LAYER_NORM: {
    t0 = tirrt_tirk_view(ins[0]);
    if (inst->n_in > 1) t1 = tirrt_tirk_view(ins[1]);
    if (inst->n_in > 2) t2 = tirrt_tirk_view(ins[2]);
    TIRRT_TIRK_CHECK(tirk_layer_norm(&t0, inst->n_in > 1 ? &t1 : NULL, inst->n_in > 2 ? &t2 : NULL,
                                     at->norm.ndims, at->norm.eps, &to, st),
                     "layer_norm");
    return NULL;
  }
  case TIRRT_OP_RMS_NORM:
    t0 = tirrt_tirk_view(ins[0]);
    if (inst->n_in > 1) t1 = tirrt_tirk_view(ins[1]);
    TIRRT_TIRK_CHECK(tirk_rms_norm(&t0, inst->n_in > 1 ? &t1 : NULL, at->norm.eps, &to, st),
                     "rms_norm");
    return NULL;
  case TIRRT_OP_MATMUL: return tirrt_cuda_matmul(c, ins[0], ins[1], out);
  case TIRRT_OP_LINEAR: {
    const tirrt_view_t *bias = inst->n_in > 2 ? ins[2] : NULL;
    if (at->linear.act != TIRRT_ACT_NONE) {
      /* The activation in cuBLASLt's epilogue when it has one for these
       * operands, else the plain linear and the activation in place. */
      if ((s = tirrt_cuda_linear_act(c, ins[0], ins[1], bias, at->linear.act, out)) == NULL) return NULL;
      if (tirrt_status_code(s) != TIRRT_STATUS_UNIMPLEMENTED) return s;
      tirrt_status_free(s);
    }
    if ((s = tirrt_cuda_linear(c, ins[0], ins[1], bias, out))) return s;
    return linear_act_after(at->linear.act, out, st);
  }
  case TIRRT_OP_CONCAT: {
    /* Each input copied into its slice of the output. */
    int32_t dim = at->concat.dim;
    int64_t off = 0;
    size_t es = tirrt_dtype_size(out->dtype);
    for (int32_t k = 0; k < inst->n_in; k++) {
      tirrt_view_t part = *out;
      part.shape[dim] = ins[k]->shape[dim];
      part.data = (char *)out->data + off * out->strides[dim] * (int64_t)es;
      off += ins[k]->shape[dim];
      if (tirrt_view_numel(&part) == 0) continue;
      if ((s = tirrt_cuda_copy(c, ins[k], &part))) return s;
    }
    return NULL;
  }
  case TIRRT_OP_ARANGE:
    TIRRT_TIRK_CHECK(tirk_arange(env->dim[at->arange.start], env->dim[at->arange.step], &to, st), "arange");
    return NULL;
  case TIRRT_OP_FULL:
    TIRRT_TIRK_CHECK(tirk_fill(at->fill.value, &to, st), "full");
    return NULL;
  case TIRRT_OP_TRI:
    if ((s = bcast(ins[0], out, &t0))) return s;
    TIRRT_TIRK_CHECK(tirk_tri(&t0, at->tri.diagonal, at->tri.upper != 0, &to, st), "tri");
    return NULL;
  case TIRRT_OP_EMBEDDING: {
    t0 = tirrt_tirk_view(ins[0]);
    t1 = tirrt_tirk_view(ins[1]);
    /* An index outside the table is bad input: the kernel writes zeros
     * for it and its verdict where check_place says. */
    tirrt_cuda_check_t how = {.kind = TIRRT_CHECK_EMBEDDING, .a = ins[0]->shape[0]};
    int64_t *flag;
    bool own;
    if ((s = check_place(c, how, &flag, &own))) return s;
    tirk_err_t e = tirk_embedding(&t0, &t1, &to, flag, st);
    return check_done(c, how, flag, own, e == TIRK_OK ? NULL : tirrt_tirk_status(e, "embedding"));
  }
  case TIRRT_OP_DROPOUT:
    if ((s = bcast(ins[0], out, &t0))) return s;
    TIRRT_TIRK_CHECK(tirk_dropout(&t0, at->dropout.p, env->seed, (uint64_t)at->dropout.stream, &to, st),
                     "dropout");
    return NULL;
  case TIRRT_OP_SDPA: return sdpa(c, env, inst, ins, out);
  case TIRRT_OP_PAGED_SDPA: return paged_sdpa(c, env, inst, ins, out);
  default:
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "opcode %d has no GPU kernel", inst->op);
  }
}

/* ------------------------------------------------------------ generated kernels */

static dim3 dim3_of(unsigned x) {
  dim3 d = {x, 1, 1};
  return d;
}

struct tirrt_cuda_module_s {
  cudaLibrary_t library;
  cudaKernel_t kernel;
  cudaKernel_t flat; /* <name>_flat, or NULL (see tirrt.h) */
};

tirrt_status_t tirrt_cuda_module_load(tirrt_cuda_ctx_t *c, const tirrt_kernel_def_t *k,
                                      tirrt_cuda_module_t **out) {
  tirrt_cuda_module_t *m = calloc(1, sizeof *m);
  if (!m) return tirrt_oom_status();
  /* A cubin runs on GPUs of its major version with an equal or higher
   * minor; anything else JIT-compiles the PTX. */
  cudaError_t e = cudaErrorNoKernelImageForDevice;
  if (k->cubin && k->arch / 10 == c->cc / 10 && k->arch <= c->cc)
    e = cudaLibraryLoadData(&m->library, k->cubin, NULL, NULL, 0, NULL, NULL, 0);
  if (e != cudaSuccess && k->ptx) {
    cudaGetLastError();
    e = cudaLibraryLoadData(&m->library, k->ptx, NULL, NULL, 0, NULL, NULL, 0);
  }
  if (e == cudaSuccess) e = cudaLibraryGetKernel(&m->kernel, m->library, k->name);
  if (e == cudaSuccess) {
    char flat[128];
    int n = snprintf(flat, sizeof flat, "%s%s", k->name, TIRRT_FUSED_FLAT_SUFFIX);
    if (n > 0 && (size_t)n < sizeof flat && cudaLibraryGetKernel(&m->flat, m->library, flat) != cudaSuccess) {
      cudaGetLastError(); /* optional: modules of older tircs have none */
      m->flat = NULL;
    }
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (m->library) cudaLibraryUnload(m->library);
    free(m);
    return tirrt_cuda_status(e, "loading a generated kernel", __FILE__, __LINE__);
  }
  *out = m;
  return NULL;
}

void tirrt_cuda_module_free(tirrt_cuda_module_t *m) {
  if (!m) return;
  cudaLibraryUnload(m->library);
  free(m);
}

/* Whether the merged launch p may use the kernel's flat entry point (the
 * conditions are in tirrt.h). */
static bool flat_launch(const tirrt_fused_params_t *p, bool rowwise, const tirrt_view_t *const *ins,
                        const tirrt_view_t *const *outs, int32_t n_in) {
  const int64_t lim = 0x7fffffff;
  if (rowwise ? p->rank > 3 : p->rank != 1) return false;
  /* The grid-stride loops step past the end by up to a grid of blocks. */
  if (p->numel > lim / 2) return false;
  for (int32_t j = 0; j < p->n_operands; j++) {
    int64_t span = 0;
    for (int32_t d = 0; d < p->rank; d++) {
      if (p->strides[j][d] < 0) return false;
      if (p->strides[j][d] > lim / (p->shape[d] > 1 ? p->shape[d] : 1)) return false;
      span += (p->shape[d] - 1) * p->strides[j][d];
      if (span > lim / 2) return false;
    }
    if (rowwise) continue;
    if (p->strides[j][0] > 1) return false;
    if (p->strides[j][0] == 1) {
      const tirrt_view_t *v = j < n_in ? ins[j] : outs[j - n_in];
      size_t a = TIRRT_FUSED_VEC * tirrt_dtype_size(v->dtype);
      if (a > 16) a = 16;
      if ((uintptr_t)p->data[j] % a) return false;
    }
  }
  return true;
}

tirrt_status_t tirrt_cuda_launch_fused(tirrt_cuda_ctx_t *c, tirrt_cuda_module_t *m,
                                       const tirrt_kernel_def_t *k, const tirrt_view_t *const *ins,
                                       const tirrt_view_t *const *outs, const tirrt_view_t *space) {
  int32_t nops = k->n_in + k->n_out, rank = space->rank;
  int64_t numel = tirrt_view_numel(space);
  bool rowwise = k->kind == TIRRT_KERNEL_ROWWISE;
  /* Empty rows still owe their reductions a value (or an error): the
   * instructions handle that. */
  if (numel == 0) return rowwise ? tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "empty rows") : NULL;
  if (rowwise && rank == 0)
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "row kernel over a scalar");
  /* Every operand's strides broadcast to the iteration space. */
  int64_t st[TIRRT_FUSED_MAX_OPERANDS][TIRRT_MAX_RANK];
  tirrt_fused_params_t p;
  memset(&p, 0, sizeof p);
  for (int32_t j = 0; j < nops; j++) {
    const tirrt_view_t *v = j < k->n_in ? ins[j] : outs[j - k->n_in];
    tirrt_view_t b;
    tirrt_status_t s = tirrt_view_broadcast_to(v, rank, space->shape, &b);
    if (s) return s;
    memcpy(st[j], b.strides, sizeof st[j]);
    p.data[j] = v->data;
  }
  /* Drop size-1 dims and merge dims contiguous for every operand (a row
   * kernel keeps its last dim apart). */
  int64_t shp[TIRRT_MAX_RANK];
  int32_t n = 0, keep = rowwise ? rank - 1 : rank;
  for (int32_t d = 0; d < keep; d++) {
    if (space->shape[d] == 1) continue;
    bool merge = n > 0;
    for (int32_t j = 0; j < nops && merge; j++)
      merge = st[j][n - 1] == st[j][d] * space->shape[d];
    if (merge) {
      shp[n - 1] *= space->shape[d];
      for (int32_t j = 0; j < nops; j++) st[j][n - 1] = st[j][d];
    } else {
      shp[n] = space->shape[d];
      for (int32_t j = 0; j < nops; j++) st[j][n] = st[j][d];
      n++;
    }
  }
  if (rowwise) {
    shp[n] = space->shape[rank - 1];
    for (int32_t j = 0; j < nops; j++) st[j][n] = st[j][rank - 1];
    n++;
  }
  if (n == 0) {
    shp[0] = 1;
    for (int32_t j = 0; j < nops; j++) st[j][0] = 0;
    n = 1;
  }
  if (n > TIRRT_FUSED_MAX_RANK)
    return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "iteration space of rank %d", n);
  p.numel = numel;
  p.rank = n;
  p.n_operands = nops;
  for (int32_t d = 0; d < n; d++) {
    p.shape[d] = shp[d];
    for (int32_t j = 0; j < nops; j++) p.strides[j][d] = st[j][d];
  }
  bool flat = m->flat && flat_launch(&p, rowwise, ins, outs, k->n_in);
  int64_t per_block = rowwise ? 1 : (int64_t)k->block_size * (flat ? TIRRT_FUSED_VEC : 1);
  int64_t work = rowwise ? numel / shp[n - 1] : (numel + per_block - 1) / per_block;
  int64_t cap = (int64_t)c->sm_count * (rowwise ? 64 : 16);
  unsigned grid = (unsigned)(work < cap ? (work > 0 ? work : 1) : cap);
  void *args[] = {&p};
  TIRRT_CUDA_CHECK(cudaLaunchKernel((const void *)(flat ? m->flat : m->kernel), dim3_of(grid),
                                    dim3_of((unsigned)k->block_size), args, 0, c->stream));
  return NULL;
}
