/* fileio.c — whole-file reads and writes with POSIX calls.  Readers take a
 * file in one piece so every size check is against bytes actually present,
 * never against what a header claims. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

tirrt_status_t tirrt_read_file(const char *path, void **out_bytes,
                               size_t *out_size) {
  if (!path || !out_bytes || !out_size)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "tirrt_read_file: NULL argument");
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
  /* A regular file's size is a good first guess; pipes start small.  The
   * loop below grows the buffer if the file turns out longer. */
  size_t cap = 65536;
  if (S_ISREG(st.st_mode) && st.st_size >= 0) {
    if ((unsigned long long)st.st_size >= (unsigned long long)SIZE_MAX / 2) {
      close(fd);
      return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                               "%s: file too large for memory", path);
    }
    cap = (size_t)st.st_size + 1; /* +1: lets us see EOF without growing */
  }
  uint8_t *buf = malloc(cap);
  if (!buf) {
    close(fd);
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "%s: out of memory reading %zu bytes", path, cap);
  }
  size_t len = 0;
  for (;;) {
    if (len == cap) {
      if (cap >= SIZE_MAX / 4) {
        free(buf);
        close(fd);
        return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                                 "%s: file too large for memory", path);
      }
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        close(fd);
        return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                                 "%s: out of memory reading the file", path);
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t got = read(fd, buf + len, cap - len);
    if (got < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      free(buf);
      close(fd);
      return tirrt_errno_status(err, "%s: read failed", path);
    }
    if (got == 0) break;
    len += (size_t)got;
  }
  close(fd);
  /* Keep one spare byte for a terminating NUL (parsers may rely on it). */
  if (len == cap) {
    uint8_t *nb = realloc(buf, cap + 1);
    if (!nb) {
      free(buf);
      return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                               "%s: out of memory reading the file", path);
    }
    buf = nb;
  }
  buf[len] = '\0';
  *out_bytes = buf;
  *out_size = len;
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
