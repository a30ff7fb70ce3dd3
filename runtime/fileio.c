/* fileio.c — bounded file reads and whole-file writes with POSIX calls.
 *
 * Readers never slurp a file of unknown size: a format's header says how
 * many bytes follow, so they read the header, then exactly what it promises,
 * then check that the file ends there.  That way /dev/zero, a FIFO that
 * never closes, or a file whose header lies cost no more memory than the
 * header's (validated) promise and the bytes actually present, and end in
 * an error instead of an endless read. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The first buffer for a read of unknown length (pipes, devices); it doubles
 * as bytes arrive, so a short stream never allocates a lying header's size. */
#define READER_FIRST_CHUNK ((size_t)1 << 16)

tirrt_status_t tirrt_reader_open(const char *path, tirrt_reader_t *out) {
  if (!path || !out)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_reader_open: NULL argument");
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return tirrt_errno_status(errno, "%s: cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return tirrt_errno_status(err, "%s: cannot stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: is a directory", path);
  }
  *out = (tirrt_reader_t){.fd = fd,
                          .path = path,
                          .size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1,
                          .offset = 0};
  return NULL;
}

void tirrt_reader_close(tirrt_reader_t *r) {
  if (r && r->fd >= 0) close(r->fd);
  if (r) r->fd = -1;
}

tirrt_status_t tirrt_reader_read(tirrt_reader_t *r, void *buf, size_t n,
                                 size_t *out_got) {
  if (!r || (!buf && n) || !out_got)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_reader_read: NULL argument");
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(r->fd, (uint8_t *)buf + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return tirrt_errno_status(errno, "%s: read failed", r->path);
    if (k == 0) break; /* end of file */
    got += (size_t)k;
    r->offset += (uint64_t)k;
  }
  *out_got = got;
  return NULL;
}

tirrt_status_t tirrt_reader_read_alloc(tirrt_reader_t *r, size_t n,
                                       void **out_buf, size_t *out_got) {
  if (!r || !out_buf || !out_got)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_reader_read_alloc: NULL argument");
  if (n == SIZE_MAX)
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "%s: %zu bytes is too large for memory", r->path, n);
  /* A regular file can be checked against its size up front: never allocate
   * more than it holds (it could grow meanwhile; the loop copes). */
  size_t cap = n;
  if (r->size >= 0) {
    uint64_t left = (uint64_t)r->size > r->offset ? (uint64_t)r->size - r->offset : 0;
    if (left < cap) cap = (size_t)left;
  } else if (cap > READER_FIRST_CHUNK) {
    cap = READER_FIRST_CHUNK;
  }
  uint8_t *buf = malloc(cap + 1); /* +1: a spare byte for a terminating NUL */
  if (!buf)
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "%s: out of memory for %zu bytes", r->path, cap);
  size_t got = 0;
  for (;;) {
    size_t k = 0;
    tirrt_status_t s = tirrt_reader_read(r, buf + got, cap - got, &k);
    if (s) {
      free(buf);
      return s;
    }
    got += k;
    if (got < cap || cap == n) break; /* end of file, or all that was asked */
    /* Double (from one chunk: /proc files claim size 0), up to n. */
    size_t grow = cap < READER_FIRST_CHUNK ? READER_FIRST_CHUNK : cap > n / 2 ? n : cap * 2;
    if (grow > n) grow = n;
    uint8_t *nb = realloc(buf, grow + 1);
    if (!nb) {
      free(buf);
      return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                               "%s: out of memory for %zu bytes", r->path, grow);
    }
    buf = nb;
    cap = grow;
  }
  buf[got] = '\0';
  *out_buf = buf;
  *out_got = got;
  return NULL;
}

tirrt_status_t tirrt_reader_read_header(tirrt_reader_t *r, uint64_t n, void **out_buf) {
  size_t got = 0;
  tirrt_status_t s = tirrt_reader_read_alloc(r, (size_t)n, out_buf, &got);
  if (s) return s;
  if (got < n) {
    free(*out_buf);
    *out_buf = NULL;
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "%s: truncated: header length %" PRIu64
                             " runs past the end of the file (%" PRIu64 " bytes)",
                             r->path, n, r->offset);
  }
  return NULL;
}

tirrt_status_t tirrt_reader_at_end(tirrt_reader_t *r, int *out_at_end) {
  if (!r || !out_at_end)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_reader_at_end: NULL argument");
  /* One byte tells: reading more than that would be the endless read this
   * file exists to avoid.  The byte, if any, is counted in r->offset. */
  uint8_t byte;
  size_t got = 0;
  tirrt_status_t s = tirrt_reader_read(r, &byte, 1, &got);
  if (s) return s;
  *out_at_end = got == 0;
  return NULL;
}

tirrt_status_t tirrt_write_file(const char *path, size_t count,
                                const void *const *parts, const size_t *sizes) {
  if (!path)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_write_file: NULL path");
  int fd;
  do {
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return tirrt_errno_status(errno, "%s: cannot create", path);
  for (size_t i = 0; i < count; i++) {
    const uint8_t *p = parts[i];
    size_t left = sizes[i];
    while (left > 0) {
      ssize_t put = write(fd, p, left);
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0) {
        int err = put < 0 ? errno : EIO;
        close(fd);
        unlink(path);
        return tirrt_errno_status(err, "%s: write failed", path);
      }
      p += put;
      left -= (size_t)put;
    }
  }
  /* close() can report a delayed write error (NFS, full disk). */
  if (close(fd) != 0) {
    int err = errno;
    unlink(path);
    return tirrt_errno_status(err, "%s: write failed", path);
  }
  return NULL;
}
