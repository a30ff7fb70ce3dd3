/* nvrtc.c — compiles generated kernel sources with NVRTC, through an
 * on-disk cache (see codegen.h for where it lives and how to turn it off).
 *
 * One NVRTC compilation for sm_XX yields both the cubin and the PTX (the
 * same PTX a compute_XX compilation gives); a second, PTX-only compilation
 * runs only if this NVRTC does not hand out PTX for a real architecture.
 *
 * Cache entries are named by a SHA-256 of everything that determines the
 * output (source, options, architecture, NVRTC version) and hold a header
 * with that key, the two lengths and a SHA-256 of the payload: a truncated,
 * corrupt or foreign file is ignored (and rewritten), never trusted.
 * Entries are written to a temporary file and renamed into place, so
 * concurrent compilers see either nothing or a whole entry.  Cache failures
 * only cost a recompilation. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "codegen_internal.h"

/* ------------------------------------------------------------ SHA-256 */

/* libcrypto computes the digests (the keys do not depend on how, so the
 * cache written by earlier builds stays valid). */
void tir_sha256_init(TirSha256 *s) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(c);
    c = NULL;
  }
  s->ctx = c;
}

void tir_sha256_update(TirSha256 *s, const void *data, size_t n) {
  if (s->ctx && n && EVP_DigestUpdate(s->ctx, data, n) != 1) {
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
  }
}

bool tir_sha256_final(TirSha256 *s, uint8_t digest[32]) {
  unsigned int len = 0;
  bool ok = s->ctx && EVP_DigestFinal_ex(s->ctx, digest, &len) == 1 && len == 32;
  EVP_MD_CTX_free(s->ctx);
  s->ctx = NULL;
  if (!ok) memset(digest, 0, 32);
  return ok;
}

#ifdef TIRC_HAVE_NVRTC
#include <nvrtc.h>
#endif

static atomic_long compiles;

long tir_codegen_nvrtc_compile_count(void) { return atomic_load(&compiles); }

static char *concat(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  char *s = malloc(na + nb + 1);
  if (!s) return NULL;
  memcpy(s, a, na);
  memcpy(s + na, b, nb + 1);
  return s;
}

char *tir_cuda_cache_dir(const char *option) {
  const char *o = option ? option : getenv("TIRC_CACHE_DIR");
  if (o) return *o && strcmp(o, "off") != 0 ? concat(o, "") : NULL;
  const char *x = getenv("XDG_CACHE_HOME");
  if (x && *x) return concat(x, "/tirc");
  const char *h = getenv("HOME");
  if (h && *h) return concat(h, "/.cache/tirc");
  return NULL;
}

#ifdef TIRC_HAVE_NVRTC

/* Everything but the architecture.  No fast math and no FMA contraction:
 * results must match the CPU kernels operation for operation. */
static const char *const OPTIONS[] = {"-default-device", "--std=c++17", "--fmad=false"};
enum { N_OPTIONS = sizeof OPTIONS / sizeof *OPTIONS };

/* ------------------------------------------------------------ the cache */

static const char MAGIC[8] = {'T', 'I', 'R', 'C', 'K', 'R', 'N', '1'};
enum { HEADER = 8 + 32 + 8 + 8 + 32 };

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void payload_hash(const void *cubin, size_t nc, const char *ptx, size_t np, uint8_t out[32]) {
  TirSha256 s;
  tir_sha256_init(&s);
  tir_sha256_update(&s, cubin, nc);
  tir_sha256_update(&s, ptx, np);
  tir_sha256_final(&s, out);
}

/* `dir` and its missing parents; false if it still is not a directory. */
static bool make_dirs(const char *dir) {
  char *p = concat(dir, "");
  if (!p) return false;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    mkdir(p, 0755); /* errors show in the final check */
    *s = '/';
  }
  mkdir(p, 0755);
  struct stat st;
  bool ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
  free(p);
  return ok;
}

static char *entry_path(const char *dir, const uint8_t key[32]) {
  char name[80];
  int n = snprintf(name, sizeof name, "/");
  for (int i = 0; i < 32; i++) n += snprintf(name + n, sizeof name - (size_t)n, "%02x", key[i]);
  snprintf(name + n, sizeof name - (size_t)n, ".kernel");
  return concat(dir, name);
}

/* Reads a valid entry for `key`; false (and nothing allocated) otherwise. */
static bool cache_read(const char *dir, const uint8_t key[32], TirCudaBinary *out) {
  char *path = entry_path(dir, key);
  FILE *f = path ? fopen(path, "rb") : NULL;
  free(path);
  if (!f) return false;
  uint8_t h[HEADER], check[32];
  uint8_t *cubin = NULL;
  char *ptx = NULL;
  bool ok = fread(h, 1, HEADER, f) == HEADER && memcmp(h, MAGIC, 8) == 0 &&
            memcmp(h + 8, key, 32) == 0;
  uint64_t nc = ok ? get_u64(h + 40) : 0, np = ok ? get_u64(h + 48) : 0;
  ok = ok && nc > 0 && nc < (1u << 30) && np < (1u << 30); /* sane sizes before allocating */
  if (ok) {
    cubin = malloc((size_t)nc);
    ptx = malloc((size_t)np + 1);
    ok = cubin && ptx && fread(cubin, 1, (size_t)nc, f) == nc && fread(ptx, 1, (size_t)np, f) == np &&
         fgetc(f) == EOF; /* no trailing bytes */
  }
  if (ok) {
    ptx[np] = 0;
    payload_hash(cubin, (size_t)nc, ptx, (size_t)np, check);
    ok = memcmp(check, h + 56, 32) == 0 && strlen(ptx) == np;
  }
  fclose(f);
  if (!ok) {
    free(cubin);
    free(ptx);
    return false;
  }
  out->cubin = cubin;
  out->cubin_size = (size_t)nc;
  out->ptx = ptx;
  return true;
}

static void cache_write(const char *dir, const uint8_t key[32], const TirCudaBinary *bin) {
  static atomic_long serial;
  if (!make_dirs(dir)) return;
  char *path = entry_path(dir, key);
  char suffix[64];
  snprintf(suffix, sizeof suffix, ".tmp.%ld.%ld", (long)getpid(), atomic_fetch_add(&serial, 1));
  char *tmp = path ? concat(path, suffix) : NULL;
  FILE *f = tmp ? fopen(tmp, "wb") : NULL;
  if (f) {
    size_t np = strlen(bin->ptx);
    uint8_t h[HEADER];
    memcpy(h, MAGIC, 8);
    memcpy(h + 8, key, 32);
    put_u64(h + 40, bin->cubin_size);
    put_u64(h + 48, np);
    payload_hash(bin->cubin, bin->cubin_size, bin->ptx, np, h + 56);
    bool ok = fwrite(h, 1, HEADER, f) == HEADER &&
              fwrite(bin->cubin, 1, bin->cubin_size, f) == bin->cubin_size &&
              fwrite(bin->ptx, 1, np, f) == np;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
  }
  free(tmp);
  free(path);
}

/* ------------------------------------------------------------ NVRTC */

static char *nvrtc_error(const char *name, const char *call, nvrtcResult r, nvrtcProgram prog) {
  size_t n = 0;
  char *log = NULL;
  if (prog && nvrtcGetProgramLogSize(prog, &n) == NVRTC_SUCCESS && n > 0 && (log = malloc(n)))
    if (nvrtcGetProgramLog(prog, log) != NVRTC_SUCCESS) log[0] = 0;
  const char *what = nvrtcGetErrorString(r);
  size_t len = strlen(name) + strlen(call) + strlen(what) + (log ? strlen(log) : 0) + 64;
  char *msg = malloc(len);
  if (msg) snprintf(msg, len, "NVRTC could not compile %s (%s): %s%s%s", name, call, what,
                    log && *log ? "\n" : "", log ? log : "");
  free(log);
  return msg;
}

/* The NVRTC check: a failed call sets *err to its name, NVRTC's message
 * and the program's log, destroys the program, and returns the result from
 * the enclosing function. */
#define TIR_NVRTC_CHECK(call, name, prog, err)                \
  do {                                                        \
    nvrtcResult nvrtc_r_ = (call);                            \
    if (nvrtc_r_ != NVRTC_SUCCESS) {                          \
      *(err) = nvrtc_error(name, #call, nvrtc_r_, *(prog));   \
      if (*(prog)) nvrtcDestroyProgram(prog);                 \
      return nvrtc_r_;                                        \
    }                                                         \
  } while (0)

/* One compilation for `gpu_arch` ("sm_90" or "compute_90"). */
static nvrtcResult compile_once(const char *name, const char *source, const char *gpu_arch,
                                nvrtcProgram *prog, char **err) {
  char file[96], arch[48];
  snprintf(file, sizeof file, "%s.cu", name);
  snprintf(arch, sizeof arch, "--gpu-architecture=%s", gpu_arch);
  const char *opts[N_OPTIONS + 1];
  opts[0] = arch;
  for (int i = 0; i < N_OPTIONS; i++) opts[i + 1] = OPTIONS[i];
  *prog = NULL;
  TIR_NVRTC_CHECK(nvrtcCreateProgram(prog, source, file, 0, NULL, NULL), name, prog, err);
  atomic_fetch_add(&compiles, 1);
  TIR_NVRTC_CHECK(nvrtcCompileProgram(*prog, N_OPTIONS + 1, opts), name, prog, err);
  return NVRTC_SUCCESS;
}

static char *get_ptx(nvrtcProgram prog) {
  size_t n = 0;
  char *ptx = NULL;
  if (nvrtcGetPTXSize(prog, &n) == NVRTC_SUCCESS && n > 1 && (ptx = malloc(n))) {
    if (nvrtcGetPTX(prog, ptx) != NVRTC_SUCCESS) {
      free(ptx);
      ptx = NULL;
    } else {
      ptx[n - 1] = 0;
    }
  }
  return ptx;
}

static TirStatus compile(const char *name, const char *source, int arch, TirCudaBinary *out,
                         char **err) {
  char sm[32];
  snprintf(sm, sizeof sm, "sm_%d", arch);
  nvrtcProgram prog;
  if (compile_once(name, source, sm, &prog, err) != NVRTC_SUCCESS) return TIR_ERR_INTERNAL;
  size_t n = 0;
  void *cubin = NULL;
  if (nvrtcGetCUBINSize(prog, &n) == NVRTC_SUCCESS && n > 0 && (cubin = malloc(n)) &&
      nvrtcGetCUBIN(prog, cubin) != NVRTC_SUCCESS) {
    free(cubin);
    cubin = NULL;
  }
  char *ptx = get_ptx(prog);
  nvrtcDestroyProgram(&prog);
  if (cubin && !ptx) { /* this NVRTC keeps PTX to virtual architectures */
    snprintf(sm, sizeof sm, "compute_%d", arch);
    if (compile_once(name, source, sm, &prog, err) != NVRTC_SUCCESS) {
      free(cubin);
      return TIR_ERR_INTERNAL;
    }
    ptx = get_ptx(prog);
    nvrtcDestroyProgram(&prog);
  }
  if (!cubin || !ptx) {
    free(cubin);
    free(ptx);
    *err = concat("NVRTC gave no cubin or PTX for ", name);
    return TIR_ERR_INTERNAL;
  }
  out->cubin = cubin;
  out->cubin_size = n;
  out->ptx = ptx;
  return TIR_OK;
}

static bool arch_supported(int arch) {
  int n = 0;
  if (nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0) return true; /* let NVRTC say */
  int *a = malloc((size_t)n * sizeof *a);
  bool ok = !a;
  if (a && nvrtcGetSupportedArchs(a) == NVRTC_SUCCESS)
    for (int i = 0; i < n; i++) ok |= a[i] == arch;
  else
    ok = true;
  free(a);
  return ok;
}

TirStatus tir_nvrtc_build(const char *name, const char *source, int arch, const char *cache_dir,
                          TirCudaBinary *out, char **err) {
  memset(out, 0, sizeof *out);
  *err = NULL;
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  if (!arch_supported(arch)) {
    char msg[96];
    snprintf(msg, sizeof msg, "NVRTC %d.%d cannot compile for sm_%d", major, minor, arch);
    *err = concat(msg, "");
    return TIR_ERR_USAGE;
  }
  uint8_t key[32];
  if (cache_dir) {
    char head[96];
    int n = snprintf(head, sizeof head, "tirc kernel cache 1|nvrtc %d.%d|sm_%d|", major, minor, arch);
    TirSha256 s;
    tir_sha256_init(&s);
    tir_sha256_update(&s, head, (size_t)n);
    for (int i = 0; i < N_OPTIONS; i++) tir_sha256_update(&s, OPTIONS[i], strlen(OPTIONS[i]) + 1);
    tir_sha256_update(&s, source, strlen(source));
    if (!tir_sha256_final(&s, key)) cache_dir = NULL; /* no key: compile uncached */
    if (cache_dir && cache_read(cache_dir, key, out)) return TIR_OK;
  }
  TirStatus st = compile(name, source, arch, out, err);
  if (st == TIR_OK && cache_dir) cache_write(cache_dir, key, out);
  return st;
}

#else /* no CUDA toolkit */

TirStatus tir_nvrtc_build(const char *name, const char *source, int arch, const char *cache_dir,
                          TirCudaBinary *out, char **err) {
  (void)name;
  (void)source;
  (void)arch;
  (void)cache_dir;
  memset(out, 0, sizeof *out);
  *err = concat("this tirc was built without the CUDA toolkit", "");
  return TIR_ERR_USAGE;
}

#endif
