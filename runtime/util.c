/* util.c — small helpers shared by the readers and writers: checked
 * multiplication, byte swapping, bool normalization, and the formatting of
 * shapes and untrusted names for error messages. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

bool tirrt_mul_nonneg(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return false;
  if (a != 0 && b > INT64_MAX / a) return false;
  *out = a * b;
  return true;
}

void tirrt_byteswap(void *data, size_t count, size_t elem_size) {
  uint8_t *p = data;
  for (size_t i = 0; i < count; i++, p += elem_size) {
    for (size_t lo = 0, hi = elem_size - 1; lo < hi; lo++, hi--) {
      uint8_t t = p[lo];
      p[lo] = p[hi];
      p[hi] = t;
    }
  }
}

void tirrt_normalize_bool(uint8_t *data, size_t count) {
  for (size_t i = 0; i < count; i++) data[i] = data[i] != 0;
}

int tirrt_format_shape(const int64_t *shape, int rank, char *buf, size_t size) {
  /* Build in a local buffer large enough for any rank <= TIRRT_MAX_RANK, so
   * the result is exact and then truncated like snprintf. */
  char tmp[TIRRT_SHAPE_STR_MAX];
  size_t n = 0;
  tmp[n++] = '[';
  for (int i = 0; i < rank && i < TIRRT_MAX_RANK; i++) {
    n += (size_t)snprintf(tmp + n, sizeof tmp - n, "%s%" PRId64,
                          i ? ", " : "", shape[i]);
  }
  tmp[n++] = ']';
  tmp[n] = '\0';
  return snprintf(buf, size, "%s", tmp);
}

/* Length of the UTF-8 sequence starting at s[0] if it is valid and fits in
 * `avail` bytes, else 0. */
static size_t utf8_seq_len(const uint8_t *s, size_t avail) {
  uint8_t c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len > avail) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool tirrt_utf8_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t n = utf8_seq_len(s + i, len - i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

const char *tirrt_quote(const char *s, size_t len, char buf[TIRRT_QUOTE_MAX]) {
  const size_t keep = TIRRT_QUOTE_MAX - 4; /* room for "..." and the NUL */
  const uint8_t *u = (const uint8_t *)s;
  size_t i = 0, o = 0;
  while (i < len) {
    size_t n = utf8_seq_len(u + i, len - i);
    if (n == 0) n = 1; /* an invalid byte: replaced below */
    if (o + n > keep) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (n == 1 && (u[i] < 0x20 || u[i] >= 0x7F)) {
      buf[o++] = '?';
    } else {
      memcpy(buf + o, u + i, n);
      o += n;
    }
    i += n;
  }
  buf[o] = '\0';
  return buf;
}
