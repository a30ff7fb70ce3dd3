/* select_kernel.c — the select-kernel pass: sets kernel= on every sdpa by
 * the dispatch rules of spec §7 (flash, then mem_efficient, then math),
 * honours --sdpa-kernel and kernels set by hand (an error when the kernel
 * cannot run the node), and explains rejections with --explain-kernels.
 * The CPU target records the choice the CUDA target would make for --arch.
 * The rule itself is common/sdpa_select.h, shared with the GPU runtime. */
#include <string.h>

#include "passes.h"
#include "sdpa_select.h"

/* The kernels in the order of preference; indices are the shared rule's
 * kernel numbers minus 1. */
typedef enum { K_FLASH, K_MEM_EFFICIENT, K_MATH, K_COUNT } Kernel;
static const char *const KERNEL_NAME[K_COUNT] = {"flash", "mem_efficient", "math"};

static int arch_number(const char *arch) {
  /* "sm_80" -> 80; the driver validated the spelling. */
  int v = 0;
  if (arch && strncmp(arch, "sm_", 3) == 0)
    for (const char *p = arch + 3; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
  return v ? v : 80;
}

/* The sdpa as the shared rule (common/sdpa_select.h) sees it. */
static tir_sdpa_problem_t problem(const TirOp *op, const char *arch) {
  const TirType *q = &op->operands[0].value->type, *v = &op->operands[2].value->type;
  TirDType dt = q->dtype;
  int64_t e = -1, ev = -1;
  if (!tir_dim_is_const(q->dims[q->rank - 1], &e) || !tir_dim_is_const(v->dims[v->rank - 1], &ev))
    e = ev = -1;
  /* A key mask (flash takes it): the mask's query axis, its second-last
   * dim, is absent or the constant 1, as in a [B, 1, 1, S] padding mask. */
  bool key_mask = false;
  if (op->n_operands > 3) {
    const TirType *mt = &op->operands[3].value->type;
    int64_t n = -1;
    key_mask = mt->rank < 2 || (tir_dim_is_const(mt->dims[mt->rank - 2], &n) && n == 1);
  }
  return (tir_sdpa_problem_t){
      .dt_class = dt == TIR_F16 || dt == TIR_BF16 ? TIR_SDPA_DT_HALF
                  : dt == TIR_F32                 ? TIR_SDPA_DT_F32
                                                  : TIR_SDPA_DT_OTHER,
      .dtype_name = tir_dtype_name(dt),
      .e = e,
      .ev = ev,
      .has_mask = op->n_operands > 3,
      .key_mask = key_mask,
      .dropout_p = tir_op_attr_float(op, "dropout_p"),
      .enable_gqa = tir_op_attr_bool(op, "enable_gqa"),
      .cc = arch_number(arch)};
}

static Kernel kernel_from_name(const char *s) {
  for (int k = 0; k < K_COUNT; k++)
    if (s && strcmp(s, KERNEL_NAME[k]) == 0) return (Kernel)k;
  return K_COUNT;
}

TirStatus tir_pass_select_kernel(TirModule *m, const TirPassOptions *opts) {
  TirStatus st = TIR_OK;
  for (TirFunc *f = m->first_func; f; f = f->next)
    for (TirOp *op = f->first; op; op = op->next) {
      if (op->kind != TIR_OP_SDPA) continue;
      char why[K_COUNT][TIR_SDPA_WHY_MAX];
      const char *reason[K_COUNT];
      tir_sdpa_problem_t prob = problem(op, opts->arch);
      for (int k = 0; k < K_COUNT; k++) reason[k] = tir_sdpa_reject(&prob, k + 1, why[k]);
      /* A kernel forced on the command line beats one written by hand. */
      const char *forced = opts->sdpa_kernel;
      bool by_hand = false;
      if (!forced && tir_op_has_attr(op, "kernel")) {
        forced = tir_op_attr_str(op, "kernel");
        by_hand = true;
      }
      const char *source = by_hand ? "kernel=" : "--sdpa-kernel=";
      Kernel pick = K_COUNT;
      if (forced) {
        pick = kernel_from_name(forced);
        if (pick == K_COUNT) {
          tir_diag_error(opts->diag, op->loc, "unknown sdpa kernel '%s'", forced);
          st = TIR_ERR_INPUT;
          continue;
        }
        if (reason[pick]) {
          tir_diag_error(opts->diag, op->loc, "%s%s cannot run this sdpa: %s", source, forced,
                         reason[pick]);
          st = TIR_ERR_INPUT;
          continue;
        }
      } else {
        pick = (Kernel)(tir_sdpa_select(&prob, NULL, NULL) - 1);
      }
      tir_op_set_str(op, "kernel", KERNEL_NAME[pick]);
      if (opts->explain_kernels) {
        if (forced)
          tir_diag_remark(opts->diag, op->loc, "sdpa: kernel=%s (forced by %s)", KERNEL_NAME[pick],
                          by_hand ? "kernel= on the op" : "--sdpa-kernel");
        else
          tir_diag_remark(opts->diag, op->loc, "sdpa: kernel=%s for %s", KERNEL_NAME[pick], opts->arch);
        if (pick == K_FLASH)
          tir_diag_remark(opts->diag, op->loc,
                          "sdpa: note: on %s flash runs %s; split-KV decoding when L * Hq/Hk <= 8 "
                          "and S >= 256 (chosen at run time)", opts->arch,
                          arch_number(opts->arch) >= 90 ? "the wgmma/TMA kernel (sm_90a)"
                                                         : "the mma.sync kernel");
        for (int k = 0; k < (int)pick; k++)
          tir_diag_remark(opts->diag, op->loc, "sdpa: %s rejected: %s", KERNEL_NAME[k], reason[k]);
      } else if (opts->remarks && pick != K_FLASH && !forced) {
        /* --remarks: every attention not on the fastest kernel, and why. */
        tir_diag_remark(opts->diag, op->loc, "attention runs %s, not flash: %s", KERNEL_NAME[pick],
                        reason[K_FLASH]);
      }
    }
  return st;
}
