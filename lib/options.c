/* options.c — the one check of compile option values, shared by the tirc
 * driver (--target, --arch, --sdpa-kernel) and libtirc (tirc_options_t), so
 * that both accept exactly the same set (spec §8). */
#include <string.h>

#include "tirc_internal.h"

static const char *const TARGETS[] = {"cpu", "cuda", NULL};
static const char *const ARCHS[] = {"sm_80", "sm_86", "sm_89", "sm_90", NULL};
static const char *const KERNELS[] = {"flash", "mem_efficient", "math", NULL};

static const char *const *choices(TircOption opt) {
  return opt == TIRC_OPTION_TARGET ? TARGETS : opt == TIRC_OPTION_ARCH ? ARCHS : KERNELS;
}

bool tirc_option_valid(TircOption opt, const char *value) {
  if (!value) return false;
  for (const char *const *c = choices(opt); *c; c++)
    if (strcmp(value, *c) == 0) return true;
  return false;
}

const char *tirc_option_choices(TircOption opt) {
  return opt == TIRC_OPTION_TARGET ? "cpu|cuda"
         : opt == TIRC_OPTION_ARCH ? "sm_80|sm_86|sm_89|sm_90"
                                   : "flash|mem_efficient|math";
}
