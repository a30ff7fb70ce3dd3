/* options.c — the one check of compile option values, shared by the tirc
 * driver (--target, --arch, --sdpa-kernel) and libtirc (tirc_options_t), so
 * that both accept exactly the same set (spec §8).  Each set is written once,
 * as the `a|b|c` string messages print. */
#include <string.h>

#include "tirc_compile.h"

const char *tirc_option_choices(TircOption opt) {
  return opt == TIRC_OPTION_TARGET ? "cpu|cuda"
         : opt == TIRC_OPTION_ARCH ? "sm_80|sm_86|sm_89|sm_90"
                                   : "flash|mem_efficient|math";
}

bool tirc_option_valid(TircOption opt, const char *value) {
  if (!value || !*value) return false;
  size_t n = strlen(value);
  for (const char *c = tirc_option_choices(opt);;) {
    const char *bar = strchr(c, '|');
    size_t len = bar ? (size_t)(bar - c) : strlen(c);
    if (len == n && strncmp(c, value, n) == 0) return true;
    if (!bar) return false;
    c = bar + 1;
  }
}
