/* status.c — tirrt_status_t: NULL for OK, else a heap object holding a code
 * and a message.  The message lives in the same allocation as the object, so
 * one free() releases both.  A static object stands in when memory runs out,
 * so reporting an error never itself fails. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct tirrt_status_s {
  tirrt_status_code_t code;
  const char *message;
};

static struct tirrt_status_s oom_status = {TIRRT_STATUS_OUT_OF_MEMORY,
                                           "out of memory"};

tirrt_status_t tirrt_oom_status(void) { return &oom_status; }

/* Builds a status from a prefix (may be empty), a formatted part and a
 * suffix (may be empty). */
static tirrt_status_t make_status_v(tirrt_status_code_t code,
                                    const char *prefix, const char *suffix,
                                    const char *fmt, va_list ap) {
  assert(code != TIRRT_STATUS_OK);
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0; /* an encoding error: keep the prefix and suffix */
  size_t plen = strlen(prefix), slen = strlen(suffix);
  size_t total = sizeof(struct tirrt_status_s) + plen + (size_t)n + slen + 1;
  struct tirrt_status_s *s = malloc(total);
  if (!s) return &oom_status;
  char *msg = (char *)(s + 1);
  memcpy(msg, prefix, plen);
  if (n > 0) vsnprintf(msg + plen, (size_t)n + 1, fmt, ap);
  memcpy(msg + plen + (size_t)n, suffix, slen + 1);
  s->code = code;
  s->message = msg;
  return s;
}

tirrt_status_t tirrt_make_status(tirrt_status_code_t code, const char *fmt,
                                 ...) {
  va_list ap;
  va_start(ap, fmt);
  tirrt_status_t s = make_status_v(code, "", "", fmt, ap);
  va_end(ap);
  return s;
}

tirrt_status_t tirrt_errno_status(int err, const char *fmt, ...) {
  tirrt_status_code_t code = TIRRT_STATUS_IO;
  if (err == ENOENT) code = TIRRT_STATUS_NOT_FOUND;
  if (err == ENOMEM) code = TIRRT_STATUS_OUT_OF_MEMORY;
  char suffix[160];
  snprintf(suffix, sizeof suffix, ": %s", strerror(err));
  va_list ap;
  va_start(ap, fmt);
  tirrt_status_t s = make_status_v(code, "", suffix, fmt, ap);
  va_end(ap);
  return s;
}

tirrt_status_code_t tirrt_status_code(tirrt_status_t status) {
  return status ? status->code : TIRRT_STATUS_OK;
}

const char *tirrt_status_message(tirrt_status_t status) {
  return status ? status->message : "OK";
}

const char *tirrt_status_code_name(tirrt_status_code_t code) {
  switch (code) {
    case TIRRT_STATUS_OK: return "OK";
    case TIRRT_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case TIRRT_STATUS_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case TIRRT_STATUS_NOT_FOUND: return "NOT_FOUND";
    case TIRRT_STATUS_UNAVAILABLE: return "UNAVAILABLE";
    case TIRRT_STATUS_INTERNAL: return "INTERNAL";
    case TIRRT_STATUS_IO: return "IO";
    case TIRRT_STATUS_UNIMPLEMENTED: return "UNIMPLEMENTED";
  }
  return "UNKNOWN";
}

void tirrt_status_free(tirrt_status_t status) {
  if (status && status != &oom_status) free(status);
}

tirrt_status_t tirrt_status_annotate(tirrt_status_t status, const char *fmt,
                                     ...) {
  if (!status) return NULL;
  /* The out-of-memory status keeps its plain message: annotating it would
   * need the memory we do not have. */
  if (status == &oom_status) return status;
  char *old = (char *)status->message; /* lives inside `status` */
  size_t olen = strlen(old);
  char *suffix = malloc(olen + 3);
  if (!suffix) return status;
  suffix[0] = ':';
  suffix[1] = ' ';
  memcpy(suffix + 2, old, olen + 1);
  va_list ap;
  va_start(ap, fmt);
  tirrt_status_t s = make_status_v(status->code, "", suffix, fmt, ap);
  va_end(ap);
  free(suffix);
  if (s == &oom_status) return status; /* keep the original error */
  tirrt_status_free(status);
  return s;
}
