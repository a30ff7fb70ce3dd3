/* test_io_files.c — the .npy and .safetensors readers on files that are not
 * plain files, or that lie: /dev/zero, FIFOs that never end or end early,
 * headers longer than the limit; and, on regular files, the same messages as
 * the in-memory readers give for the same bytes.
 *
 * A reader that reads to the end of an endless stream would hang this test
 * or eat the machine, so every stream read runs in a child process under
 * alarm() and (without ASan, which needs the address space) a 1 GiB
 * address-space limit: reading forever fails the test instead. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tirrt.h"
#include "tt.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static char tmpdir[256];

#define check(ok, what) CHECK_MSG(ok, "%s", what)

/* 0 when `s` is an error whose message contains `needle` (NULL: s is OK);
 * consumes s. */
static int expect(tirrt_status_t s, const char *needle) {
  const char *msg = tirrt_status_message(s);
  int ok = needle ? s && strstr(msg, needle) != NULL : s == NULL;
  if (!ok) printf("  got '%s', want '%s'\n", s ? msg : "OK", needle ? needle : "OK");
  tirrt_status_free(s);
  return ok ? 0 : 1;
}

/* ---- images ------------------------------------------------------------- */

static const char NPY_DICT[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

/* A version-1 .npy header (prefix, dict, padding) for NPY_DICT; 128 bytes. */
static size_t npy_header(uint8_t *b) {
  size_t dlen = strlen(NPY_DICT), total = (10 + dlen + 1 + 63) / 64 * 64, hlen = total - 10;
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (uint8_t)hlen;
  b[9] = 0;
  memcpy(b + 10, NPY_DICT, dlen);
  memset(b + 10 + dlen, ' ', hlen - dlen - 1);
  b[total - 1] = '\n';
  return total;
}

static const char ST_JSON[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

/* A safetensors header (length and JSON) for ST_JSON. */
static size_t st_header(uint8_t *b) {
  size_t n = strlen(ST_JSON);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)n >> (8 * i));
  memcpy(b + 8, ST_JSON, n);
  return 8 + n;
}

/* ---- bounded children --------------------------------------------------- */

typedef int (*reader_fn)(const char *path);

/* Runs fn(path) in a child under the limits above; true when it returned 0. */
static int run_bounded(reader_fn fn, const char *path) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
#ifndef UNDER_ASAN
    struct rlimit lim = {(rlim_t)1 << 30, (rlim_t)1 << 30};
    setrlimit(RLIMIT_AS, &lim);
#endif
    int rc = fn(path);
    fflush(stdout);
    _exit(rc);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return 0;
  if (WIFSIGNALED(status))
    printf("  the reader died of signal %d%s\n", WTERMSIG(status),
           WTERMSIG(status) == SIGALRM ? " (it read for 20 s: an endless read)" : "");
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A writer child for the FIFO at `path`: writes `len` bytes, then zeros
 * forever when `endless` (until the reader closes: SIGPIPE), else closes. */
static pid_t fifo_writer(const char *path, const uint8_t *bytes, size_t len, int endless) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  signal(SIGPIPE, SIG_DFL);
  int fd = open(path, O_WRONLY);
  if (fd < 0) _exit(1);
  while (len > 0) {
    ssize_t k = write(fd, bytes, len);
    if (k <= 0) _exit(0);
    bytes += k;
    len -= (size_t)k;
  }
  static const uint8_t zeros[65536];
  while (endless)
    if (write(fd, zeros, sizeof zeros) <= 0) _exit(0);
  close(fd);
  _exit(0);
}

/* Feeds `bytes` (then zeros forever when `endless`) through a FIFO to fn. */
static int through_fifo(reader_fn fn, const uint8_t *bytes, size_t len, int endless) {
  char path[300];
  snprintf(path, sizeof path, "%s/stream", tmpdir);
  unlink(path);
  if (mkfifo(path, 0600) != 0) {
    perror("mkfifo");
    return 0;
  }
  pid_t w = fifo_writer(path, bytes, len, endless);
  int ok = run_bounded(fn, path);
  if (w > 0) {
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
  }
  unlink(path);
  return ok;
}

/* ---- readers run in the children ---------------------------------------- */

static const char *want; /* the message the next child must see (NULL: OK) */

static int read_npy(const char *path) {
  tirrt_tensor_desc_t d;
  void *data = NULL;
  tirrt_status_t s = tirrt_npy_read(path, &d, &data);
  int ok = !s && !want ? d.rank == 2 && d.shape[0] == 2 && d.shape[1] == 3 : 1;
  free(data);
  return expect(s, want) || !ok;
}

static int read_st(const char *path) {
  tirrt_safetensors_t *f = NULL;
  tirrt_status_t s = tirrt_safetensors_open(path, &f);
  int ok = !s && !want ? tirrt_safetensors_count(f) == 1 : 1;
  tirrt_safetensors_close(f);
  return expect(s, want) || !ok;
}

static void test_devices(void) {
  want = "/dev/zero: not a .npy file (bad magic)";
  check(run_bounded(read_npy, "/dev/zero"), "npy from /dev/zero: an error, not an endless read");
  want = "/dev/zero: header is not a JSON object";
  check(run_bounded(read_st, "/dev/zero"), "safetensors from /dev/zero");
  want = "/dev/null: truncated: 0 bytes";
  check(run_bounded(read_npy, "/dev/null"), "npy from /dev/null");
  check(run_bounded(read_st, "/dev/null"), "safetensors from /dev/null");
}

static void test_npy_streams(void) {
  uint8_t b[128 + 24 + 8];
  size_t h = npy_header(b);
  memset(b + h, 0, 24);
  want = NULL;
  check(through_fifo(read_npy, b, h + 24, 0), "npy through a FIFO");
  want = "stream: trailing bytes: header promises 24 bytes of data, the file has more";
  check(through_fifo(read_npy, b, h + 24, 1), "npy: a FIFO that never ends");
  want = "stream: truncated: header promises 24 bytes of data, file has 8";
  check(through_fifo(read_npy, b, h + 8, 0), "npy: a FIFO that ends early");
  want = "stream: truncated: header length 118 runs past the end of the file (40 bytes)";
  check(through_fifo(read_npy, b, 40, 0), "npy: a FIFO that ends in the header");
  /* Version 2 with a 4 GiB header length, then zeros forever. */
  uint8_t v2[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xF0, 0xFF, 0xFF, 0xFF};
  want = "stream: header length 4294967280 exceeds the limit of 1048576 bytes";
  check(through_fifo(read_npy, v2, sizeof v2, 1), "npy: a huge header length on a stream");
}

static void test_st_streams(void) {
  uint8_t b[8 + sizeof ST_JSON + 8];
  size_t h = st_header(b);
  memset(b + h, 0, 8);
  want = NULL;
  check(through_fifo(read_st, b, h + 8, 0), "safetensors through a FIFO");
  want = "stream: trailing bytes: the file goes on after the 8 bytes of data the tensors cover";
  check(through_fifo(read_st, b, h + 8, 1), "safetensors: a FIFO that never ends");
  want = "stream: truncated: the tensors need 8 bytes of data, the file has 4";
  check(through_fifo(read_st, b, h + 4, 0), "safetensors: a FIFO that ends early");
  /* A header length at the 100 MB limit, and 10 bytes of it. */
  uint8_t big[18] = {0x00, 0xE1, 0xF5, 0x05, 0, 0, 0, 0, '{'};
  want = "stream: truncated: header length 100000000 runs past the end of the file (18 bytes)";
  check(through_fifo(read_st, big, sizeof big, 0), "safetensors: a stream shorter than its header");
}

/* ---- regular files: the messages of the in-memory readers ---------------- */

static int write_file(const char *path, const uint8_t *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  int ok = fwrite(b, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* The file reader and the memory reader (named by the path) agree on b[0..n). */
static int same_npy(const char *path, const uint8_t *b, size_t n) {
  if (!write_file(path, b, n)) return 0;
  tirrt_tensor_desc_t d;
  void *x = NULL, *y = NULL;
  tirrt_status_t s1 = tirrt_npy_read(path, &d, &x), s2 = tirrt_npy_read_memory(b, n, path, &d, &y);
  int ok = (!s1 && !s2) || (s1 && s2 && strcmp(tirrt_status_message(s1), tirrt_status_message(s2)) == 0);
  if (!ok)
    printf("  %zu bytes: file '%s', memory '%s'\n", n, tirrt_status_message(s1),
           tirrt_status_message(s2));
  tirrt_status_free(s1);
  tirrt_status_free(s2);
  free(x);
  free(y);
  return ok;
}

static int same_st(const char *path, const uint8_t *b, size_t n) {
  if (!write_file(path, b, n)) return 0;
  tirrt_safetensors_t *f = NULL, *g = NULL;
  tirrt_status_t s1 = tirrt_safetensors_open(path, &f);
  tirrt_status_t s2 = tirrt_safetensors_open_memory(b, n, path, &g);
  int ok = (!s1 && !s2) || (s1 && s2 && strcmp(tirrt_status_message(s1), tirrt_status_message(s2)) == 0);
  if (!ok)
    printf("  %zu bytes: file '%s', memory '%s'\n", n, tirrt_status_message(s1),
           tirrt_status_message(s2));
  tirrt_status_free(s1);
  tirrt_status_free(s2);
  tirrt_safetensors_close(f);
  tirrt_safetensors_close(g);
  return ok;
}

static void test_regular_files(void) {
  char path[300];
  snprintf(path, sizeof path, "%s/image", tmpdir);
  uint8_t b[200];
  memset(b, 0, sizeof b);
  size_t h = npy_header(b);
  int all = 1;
  for (size_t n = 0; n <= h + 30; n++) all &= same_npy(path, b, n); /* short, exact, trailing */
  b[6] = 2; /* v2: bytes 8..11 as the length */
  all &= same_npy(path, b, h + 24);
  b[6] = 1;
  b[9] = 0xFF; /* a length past the end */
  all &= same_npy(path, b, h + 24);
  check(all, "npy: file and memory readers agree on every truncation and lie");

  memset(b, 0, sizeof b);
  h = st_header(b);
  all = 1;
  for (size_t n = 0; n <= h + 20; n++) all &= same_st(path, b, n);
  b[0] = 0xFF; /* a length past the end */
  all &= same_st(path, b, h + 8);
  b[7] = 0xFF; /* over the limit */
  all &= same_st(path, b, h + 8);
  check(all, "safetensors: file and memory readers agree on every truncation and lie");
  unlink(path);

  /* A dict padded past 1 MiB: too long, in memory as in a file. */
  size_t hlen = ((size_t)1 << 20) + 64, total = 12 + hlen + 24;
  uint8_t *big = calloc(1, total);
  if (!big) return;
  memcpy(big, "\x93NUMPY\x02\x00", 8);
  for (int i = 0; i < 4; i++) big[8 + i] = (uint8_t)(hlen >> (8 * i));
  memcpy(big + 12, NPY_DICT, strlen(NPY_DICT));
  memset(big + 12 + strlen(NPY_DICT), ' ', hlen - strlen(NPY_DICT));
  tirrt_tensor_desc_t d;
  void *x = NULL;
  check(expect(tirrt_npy_read_memory(big, total, "big.npy", &d, &x),
               "big.npy: header length 1048640 exceeds the limit of 1048576 bytes") == 0,
        "npy: a header over the limit");
  free(big);
}

static void test_reader_api(void) {
  tirrt_reader_t r;
  size_t got = 0;
  void *buf = NULL;
  int end = 0;
  check(expect(tirrt_reader_open(NULL, &r), "NULL argument") == 0, "reader_open(NULL)");
  check(expect(tirrt_reader_open("/dev/null", NULL), "NULL argument") == 0, "reader_open(.., NULL)");
  check(expect(tirrt_reader_read(NULL, &end, 1, &got), "NULL argument") == 0, "reader_read(NULL)");
  check(expect(tirrt_reader_read_alloc(NULL, 1, &buf, &got), "NULL argument") == 0, "read_alloc(NULL)");
  check(expect(tirrt_reader_at_end(NULL, &end), "NULL argument") == 0, "at_end(NULL)");
  check(expect(tirrt_reader_open(tmpdir, &r), "is a directory") == 0, "reader on a directory");
  tirrt_reader_close(NULL);
  /* A /proc file claims size 0 yet has bytes: they are still read. */
  if (!tirrt_reader_open("/proc/self/status", &r)) {
    tirrt_status_t s = tirrt_reader_read_alloc(&r, 100000, &buf, &got);
    check(!s && got > 0 && r.size == 0, "a file whose size says 0 is still read");
    tirrt_status_free(s);
    free(buf);
    tirrt_reader_close(&r);
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tirrt_test_io_files.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_reader_api();
  test_devices();
  test_npy_streams();
  test_st_streams();
  test_regular_files();
  rmdir(tmpdir);
  return CHECK_SUMMARY();
}
