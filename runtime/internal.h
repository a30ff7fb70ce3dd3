/* internal.h — helpers shared by the tirrt sources (status construction,
 * whole-file I/O, checked arithmetic, message formatting).  Not part of the
 * public API: nothing outside runtime/ may include it. */
#ifndef TIRRT_INTERNAL_H
#define TIRRT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tirrt.h"

/* A new status with a formatted message.  `code` must not be OK.  Never
 * fails: when memory runs out it returns a static OUT_OF_MEMORY status. */
tirrt_status_t tirrt_make_status(tirrt_status_code_t code, const char *fmt, ...)
    TIRRT_PRINTF(2, 3);
/* A status for a failed system call: the code follows errno (ENOENT ->
 * NOT_FOUND, ENOMEM -> OUT_OF_MEMORY, else IO) and the message ends with
 * strerror(err). */
tirrt_status_t tirrt_errno_status(int err, const char *fmt, ...)
    TIRRT_PRINTF(2, 3);
/* The shared out-of-memory status (freeing it is a no-op). */
tirrt_status_t tirrt_oom_status(void);

/* Writes the concatenation of `count` parts to `path`; on failure the file is
 * removed so no half-written output is left behind. */
tirrt_status_t tirrt_write_file(const char *path, size_t count,
                                const void *const *parts, const size_t *sizes);

/* a * b for non-negative operands; false on int64 overflow. */
bool tirrt_mul_nonneg(int64_t a, int64_t b, int64_t *out);

/* Byte-swaps `count` elements of `elem_size` bytes (2, 4 or 8) in place. */
void tirrt_byteswap(void *data, size_t count, size_t elem_size);

/* Maps every nonzero byte to 1. */
void tirrt_normalize_bool(uint8_t *data, size_t count);

/* Formats "[d0, d1, ...]" like snprintf. */
int tirrt_format_shape(const int64_t *shape, int rank, char *buf, size_t size);
#define TIRRT_SHAPE_STR_MAX (TIRRT_MAX_RANK * 22 + 4)

/* Copies up to `len` bytes of an untrusted name into `buf` for an error
 * message: control bytes become '?', and long names are cut (at a UTF-8
 * boundary) and end in "...".  Returns buf. */
#define TIRRT_QUOTE_MAX 128
const char *tirrt_quote(const char *s, size_t len, char buf[TIRRT_QUOTE_MAX]);

/* True if bytes [s, s+len) are valid UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF). */
bool tirrt_utf8_valid(const uint8_t *s, size_t len);

/* Evaluates every dim node of d, in order (a node's operands come before
 * it), from the symbols sym[k] that are bound[k]: dim[i] and dim_ok[i]; a
 * node that uses an unbound symbol, divides by zero or overflows is not ok.
 * (bind.c; the programs' CLI uses it to size --random-inputs.) */
void tirrt_eval_dim_nodes(const tirrt_program_def_t *d, const int64_t *sym, const bool *bound,
                          int64_t *dim, bool *dim_ok);

#endif /* TIRRT_INTERNAL_H */
