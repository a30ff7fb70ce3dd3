/* cpu_backend.c — the CPU backend of the program executor (backend.h):
 * host memory, and each non-view instruction decoded from its named
 * fields (tirrt.h) into one call of the CPU kernels (tirrt_cpu.h).  Always
 * present; also the path a CUDA-target program takes on a machine without
 * a GPU (its generated kernels are ignored). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"

/* tirrt_cpu.h: one decoding of the sdpa instruction for every backend. */
tirrt_sdpa_params_t tirrt_sdpa_params_of(const tirrt_inst_t *inst, int64_t e, uint64_t seed) {
  double scale = inst->a.sdpa.scale;
  /* E = 0: every score is the empty sum 0 whatever the scale (torch's
   * 1/sqrt(0) = inf scales an empty q); any finite scale gives that. */
  if (isnan(scale)) scale = e > 0 ? 1.0 / sqrt((double)e) : 1.0;
  return (tirrt_sdpa_params_t){.scale = scale,
                               .dropout_p = inst->a.sdpa.dropout_p,
                               .is_causal = inst->a.sdpa.is_causal != 0,
                               .bottom_right = inst->a.sdpa.bottom_right != 0,
                               .enable_gqa = inst->a.sdpa.enable_gqa != 0,
                               .exact_mask = inst->a.sdpa.exact_mask != 0,
                               .window = inst->a.sdpa.window,
                               .softcap = inst->a.sdpa.softcap,
                               .seed = seed,
                               .stream = (uint64_t)inst->a.sdpa.stream};
}

static tirrt_status_t cpu_alloc(void *run, size_t bytes, void **out) {
  (void)run;
  if (!(*out = malloc(bytes ? bytes : 1)))
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "out of memory allocating %zu bytes for an intermediate", bytes);
  return NULL;
}

static void cpu_free(void *run, void *p) {
  (void)run;
  free(p);
}

static void cpu_release(int32_t device, void *p) {
  (void)device;
  free(p);
}

static tirrt_status_t cpu_move(void *run, void *dst, const void *src, size_t bytes) {
  (void)run;
  if (bytes) memcpy(dst, src, bytes);
  return NULL;
}

static tirrt_status_t cpu_copy(void *run, const tirrt_view_t *src, const tirrt_view_t *dst) {
  (void)run;
  return tirrt_cpu_copy(src, dst);
}

static bool cpu_supports(const tirrt_inst_t *inst) {
  return inst->op >= 0 && inst->op < TIRRT_OP_COUNT;
}

#define IN(k) (ins[k])
#define OPT(k) (inst->n_in > (k) ? ins[k] : NULL)

static tirrt_status_t cpu_run(void *run, const tirrt_exec_env_t *env, const tirrt_inst_t *inst,
                              const tirrt_view_t *const *ins, const tirrt_view_t *out) {
  (void)run;
  const tirrt_inst_attrs_t *a = &inst->a;
  switch (inst->op) {
  case TIRRT_OP_UNARY: return tirrt_cpu_unary((tirrt_unop_t)a->unary.fn, IN(0), out);
  case TIRRT_OP_BINARY: return tirrt_cpu_binary((tirrt_binop_t)a->binary.fn, IN(0), IN(1), out);
  case TIRRT_OP_WHERE: return tirrt_cpu_where(IN(0), IN(1), IN(2), out);
  case TIRRT_OP_MASKED_FILL: return tirrt_cpu_masked_fill(IN(0), IN(1), a->fill.value, out);
  case TIRRT_OP_CAST: return tirrt_cpu_copy(IN(0), out);
  case TIRRT_OP_REDUCE:
    return tirrt_cpu_reduce((tirrt_redop_t)a->reduce.fn, IN(0), a->reduce.dims_mask, out);
  case TIRRT_OP_SOFTMAX: return tirrt_cpu_softmax(IN(0), a->softmax.dim, a->softmax.log != 0, out);
  case TIRRT_OP_LAYER_NORM:
    return tirrt_cpu_layer_norm(IN(0), OPT(1), OPT(2), a->norm.ndims, a->norm.eps, out);
  case TIRRT_OP_RMS_NORM: return tirrt_cpu_rms_norm(IN(0), OPT(1), a->norm.eps, out);
  case TIRRT_OP_MATMUL: return tirrt_cpu_matmul(IN(0), IN(1), out);
  case TIRRT_OP_LINEAR: {
    tirrt_status_t s = tirrt_cpu_linear(IN(0), IN(1), OPT(2), out);
    /* The activation in place: exactly what a separate gelu would give. */
    if (!s && a->linear.act == TIRRT_ACT_GELU_TANH) s = tirrt_cpu_unary(TIRRT_UN_GELU_TANH, out, out);
    return s;
  }
  case TIRRT_OP_CONCAT: {
    tirrt_view_t cat[64];
    if (inst->n_in > 64)
      return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED, "concat of more than 64 inputs");
    for (int32_t k = 0; k < inst->n_in; k++) cat[k] = *IN(k);
    return tirrt_cpu_concat(inst->n_in, cat, a->concat.dim, out);
  }
  case TIRRT_OP_ARANGE:
    return tirrt_cpu_arange(env->dim[a->arange.start], env->dim[a->arange.step], out);
  case TIRRT_OP_FULL: return tirrt_cpu_fill(a->fill.value, out);
  case TIRRT_OP_TRI: return tirrt_cpu_tri(IN(0), a->tri.diagonal, a->tri.upper != 0, out);
  case TIRRT_OP_EMBEDDING: return tirrt_cpu_embedding(IN(0), IN(1), out);
  case TIRRT_OP_DROPOUT:
    return tirrt_cpu_dropout(IN(0), a->dropout.p, env->seed, (uint64_t)a->dropout.stream, out);
  case TIRRT_OP_SDPA: {
    tirrt_sdpa_params_t prm = tirrt_sdpa_params_of(inst, IN(0)->shape[IN(0)->rank - 1], env->seed);
    return tirrt_cpu_sdpa(IN(0), IN(1), IN(2), OPT(3), &prm, out, NULL);
  }
  case TIRRT_OP_PAGED_SDPA: {
    tirrt_sdpa_params_t prm = tirrt_sdpa_params_of(inst, IN(0)->shape[3], env->seed);
    return tirrt_cpu_paged_sdpa(IN(0), IN(1), IN(2), IN(3), IN(4), &prm, out);
  }
  default:
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "opcode %d not handled", inst->op);
  }
}

static const tirrt_backend_t CPU = {
    .name = "cpu",
    .device_memory = false,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .release = cpu_release,
    .upload = cpu_move,
    .download = cpu_move,
    .copy = cpu_copy,
    .supports = cpu_supports,
    .run = cpu_run,
};

const tirrt_backend_t *tirrt_backend_cpu(void) { return &CPU; }
