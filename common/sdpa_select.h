/* sdpa_select.h — the one rule that picks the attention kernel (spec §7),
 * header-only so that both the compiler's select-kernel pass and the GPU
 * runtime (for programs that left the kernel open) apply the same rule.
 * Uses only libc.  The kernel numbers equal tirrt_sdpa_kernel_t's (1 flash,
 * 2 mem_efficient, 3 math). */
#ifndef TIR_SDPA_SELECT_H
#define TIR_SDPA_SELECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
  TIR_SDPA_SEL_FLASH = 1,
  TIR_SDPA_SEL_MEM_EFFICIENT = 2,
  TIR_SDPA_SEL_MATH = 3,
} tir_sdpa_sel_kernel_t;

/* The element type classes the rule distinguishes. */
typedef enum { TIR_SDPA_DT_HALF, TIR_SDPA_DT_F32, TIR_SDPA_DT_OTHER } tir_sdpa_dt_class_t;

/* What the rule looks at.  Head dims are -1 when not known (symbolic at
 * compile time).  Dropout and GQA are taken by every kernel; they are
 * inputs so that a kernel that stops taking them changes only this file.
 * sdpa's window= and softcap= are taken by every kernel and every flash
 * path too (kernels/tirk_attention.h), so they are not inputs. */
typedef struct {
  int dt_class;           /* tir_sdpa_dt_class_t of q, k, v */
  const char *dtype_name; /* for messages, e.g. "f32" */
  int64_t e, ev;          /* q/k and v head dims, -1 unknown */
  bool has_mask;          /* an explicit mask operand (causal is not one) */
  bool key_mask;          /* that mask is per key: its query axis (second-last
                           * dim) is 1 or absent, e.g. [B, 1, 1, S] padding */
  double dropout_p;
  bool enable_gqa;
  int cc;                 /* target compute capability, e.g. 80 for sm_80 */
} tir_sdpa_problem_t;

#define TIR_SDPA_WHY_MAX 160

static inline const char *tir_sdpa_kernel_name(int kernel) {
  return kernel == TIR_SDPA_SEL_FLASH ? "flash"
         : kernel == TIR_SDPA_SEL_MEM_EFFICIENT ? "mem_efficient"
         : kernel == TIR_SDPA_SEL_MATH ? "math" : "?";
}

/* Why `kernel` cannot run p (a static string or `why`, which must hold
 * TIR_SDPA_WHY_MAX bytes); NULL when it can. */
static inline const char *tir_sdpa_reject(const tir_sdpa_problem_t *p, int kernel, char *why) {
  bool half = p->dt_class == TIR_SDPA_DT_HALF, known = p->e >= 0 && p->ev >= 0;
  long long e = (long long)p->e, ev = (long long)p->ev;
  switch (kernel) {
  case TIR_SDPA_SEL_FLASH:
    if (!half)
      return snprintf(why, TIR_SDPA_WHY_MAX, "flash needs f16 or bf16, not %s", p->dtype_name), why;
    if (!known) return "flash needs a constant head dim";
    if (e % 8 || ev % 8 || e > 256 || ev > 256)
      return snprintf(why, TIR_SDPA_WHY_MAX, "flash needs head dims that are multiples of 8 and "
                      "at most 256 (q/k: %lld, v: %lld)", e, ev), why;
    if (p->cc < 80) return snprintf(why, TIR_SDPA_WHY_MAX, "flash needs sm_80 or newer (sm_%d)", p->cc), why;
    if (p->has_mask && !p->key_mask)
      return "flash takes only causal and key masks (this mask varies along the query axis)";
    return NULL;
  case TIR_SDPA_SEL_MEM_EFFICIENT: {
    if (!half && p->dt_class != TIR_SDPA_DT_F32)
      return snprintf(why, TIR_SDPA_WHY_MAX, "mem_efficient needs f16, bf16 or f32, not %s",
                      p->dtype_name), why;
    if (!known) return "mem_efficient needs a constant head dim";
    int mult = half ? 8 : 4;
    if (e % mult || ev % mult)
      return snprintf(why, TIR_SDPA_WHY_MAX, "mem_efficient needs %s head dims that are multiples "
                      "of %d (q/k: %lld, v: %lld)", p->dtype_name, mult, e, ev), why;
    /* The kernel keeps a row of q and of the output in registers. */
    if (e > 256 || ev > 256)
      return snprintf(why, TIR_SDPA_WHY_MAX, "mem_efficient needs head dims of at most 256 "
                      "(q/k: %lld, v: %lld)", e, ev), why;
    return NULL;
  }
  default: return NULL; /* math takes everything */
  }
}

/* The fastest kernel that can run p: flash, then mem_efficient, then math.
 * why[k - 1] gets the rejection of kernel k for each kernel passed over
 * (why may be NULL; else it holds 3 buffers of TIR_SDPA_WHY_MAX bytes and
 * reason[k - 1] points at the message or is NULL). */
static inline int tir_sdpa_select(const tir_sdpa_problem_t *p, char (*why)[TIR_SDPA_WHY_MAX],
                                  const char **reason) {
  char scratch[TIR_SDPA_WHY_MAX];
  for (int k = TIR_SDPA_SEL_FLASH; k < TIR_SDPA_SEL_MATH; k++) {
    const char *r = tir_sdpa_reject(p, k, why ? why[k - 1] : scratch);
    if (reason) reason[k - 1] = r;
    if (!r) return k;
  }
  if (reason) reason[TIR_SDPA_SEL_MATH - 1] = NULL;
  return TIR_SDPA_SEL_MATH;
}

#endif /* TIR_SDPA_SELECT_H */
