/* test_fuse_cuda.c — tests of the CUDA kernel generation
 * (tir_codegen_fuse_cuda): which instruction runs become kernels and with
 * which operands, that every kernel compiles with NVRTC for sm_80 and
 * sm_90, that the on-disk cache hits and survives corrupt entries, that the
 * runtime accepts the tables, and that --emit=c output with kernels is
 * valid C.  Without the CUDA toolkit only the planning is tested (with
 * sources_only) and the error of a real compilation.
 *
 *   test_fuse_cuda                    the unit tests
 *   test_fuse_cuda --corpus PATH...   compiles every kernel of every .tir
 *                                     file under PATH (files, directories)
 *                                     for sm_80 and sm_90, cache off; files
 *                                     that do not parse or compile (negative
 *                                     tests) are skipped.  Fails on any
 *                                     NVRTC error.
 * Prints `N passed, M failed` last. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen.h"
#include "codegen_internal.h"
#include "frontend.h"
#include "passes.h"
#include "tirc_internal.h"

#include "tt.h"

#ifdef TIRC_HAVE_CUDA
static const bool have_cuda = true;
#else
static const bool have_cuda = false;
#endif

/* ------------------------------------------------------------ helpers */

typedef struct {
  TirModule *m;
  TirCodegen *cg;
  TirDiag *diag;
  char *errs;
  size_t nerrs;
  FILE *err;
} Prog;

static void prog_free(Prog *p) {
  tir_codegen_free(p->cg);
  tir_module_free(p->m);
  if (p->diag) tir_diag_free(p->diag);
  if (p->err) fclose(p->err);
  free(p->errs);
  memset(p, 0, sizeof *p);
}

/* Parses, runs `pipeline` (NULL: the default one) and lowers; diagnostics
 * are collected in p->errs.  TIR_OK or the failing stage's status. */
static TirStatus prog_load(Prog *p, const char *name, const char *text, const char *pipeline) {
  memset(p, 0, sizeof *p);
  p->err = open_memstream(&p->errs, &p->nerrs);
  p->diag = tir_diag_new(p->err, 0);
  TirParseOptions po = {.loader = tirc_load_const};
  TirStatus st = tir_parse(name, text, strlen(text), p->diag, &po, &p->m);
  if (st != TIR_OK) return st;
  TirPassOptions opts = {.diag = p->diag, .target = "cuda", .arch = "sm_80", .verify_each = true};
  st = tir_run_pipeline(p->m, pipeline ? pipeline : tir_default_pipeline(), &opts);
  if (st != TIR_OK) return st;
  return tir_codegen_lower(p->m, p->diag, &p->cg);
}

static const char *errs(Prog *p) {
  fflush(p->err);
  return p->errs ? p->errs : "";
}

/* Plans (sources only) a program given as text, with no passes. */
static const tirrt_program_def_t *plan(Prog *p, const char *text) {
  if (prog_load(p, "test.tir", text, "") != TIR_OK) {
    fprintf(stderr, "cannot load test program:\n%s\n", errs(p));
    return NULL;
  }
  TirCudaFuseOptions o = {.arch = 80, .sources_only = true};
  if (tir_codegen_fuse_cuda(p->cg, &o, p->diag) != TIR_OK) {
    fprintf(stderr, "fuse failed:\n%s\n", errs(p));
    return NULL;
  }
  return tir_codegen_def(p->cg);
}

/* The value index of a named value ("%name" without the %). */
static int32_t value(const tirrt_program_def_t *d, const char *name) {
  for (int32_t v = 0; v < d->n_values; v++)
    if (strcmp(d->values[v].name, name) == 0) return v;
  return -2;
}

/* The instruction index making a named value. */
static int32_t inst_of(const tirrt_program_def_t *d, const char *name) {
  int32_t v = value(d, name);
  for (int32_t i = 0; i < d->n_insts; i++)
    if (d->insts[i].out == v) return i;
  return -2;
}

/* Kernel k covers exactly the instructions making names first..last. */
static bool covers(const tirrt_program_def_t *d, int32_t k, const char *first, const char *last) {
  if (k >= d->n_kernels) return false;
  const tirrt_kernel_def_t *kd = &d->kernels[k];
  return kd->first_inst == inst_of(d, first) && kd->first_inst + kd->n_insts - 1 == inst_of(d, last);
}

/* The operand list of kernel k equals the space-separated names. */
static bool list_is(const tirrt_program_def_t *d, const int32_t *v, int32_t n, const char *names) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", names);
  int32_t i = 0;
  for (char *s = strtok(buf, " "); s; s = strtok(NULL, " "), i++)
    if (i >= n || v[i] != value(d, s)) return false;
  return i == n;
}

static bool ins_are(const tirrt_program_def_t *d, int32_t k, const char *names) {
  return k < d->n_kernels && list_is(d, d->kernels[k].in, d->kernels[k].n_in, names);
}
static bool outs_are(const tirrt_program_def_t *d, int32_t k, const char *names) {
  return k < d->n_kernels && list_is(d, d->kernels[k].out, d->kernels[k].n_out, names);
}

/* ------------------------------------------------------------ planning */

static void test_gelu_mlp(void) {
  Prog p;
  const tirrt_program_def_t *d = plan(&p,
      "func @main(%x: f16[B, 64], %w1: f16[256, 64], %b1: f16[256], %w2: f16[64, 256], %s: f16[256]) -> (f16[B, 64]) {\n"
      "  %h = linear(%x, %w1, %b1)\n"
      "  %g = gelu(%h)\n"
      "  %gs = mul(%g, %s)\n"
      "  %gc = cast(%gs, dtype=f32)\n"
      "  %gr = relu(%gc)\n"
      "  %gb = cast(%gr, dtype=f16)\n"
      "  %y = linear(%gb, %w2)\n"
      "  %z = add(%y, %x)\n"
      "  return %z\n}\n");
  CHECK(d && d->n_kernels == 2);
  if (d && d->n_kernels == 2) {
    CHECK(d->kernels[0].kind == TIRRT_KERNEL_ELEMENTWISE);
    CHECK(covers(d, 0, "g", "gb"));
    CHECK(ins_are(d, 0, "h s"));
    CHECK(outs_are(d, 0, "gb"));
    CHECK(d->kernels[0].space == value(d, "g"));
    CHECK(covers(d, 1, "z", "z")); /* a run of one cheap instruction is a kernel too */
    CHECK(ins_are(d, 1, "y x") && outs_are(d, 1, "z"));
    CHECK(d->target == TIRRT_DEVICE_CUDA);
    /* Named by a hash of the source: tirk_fused_ and 16 hex digits. */
    CHECK(d->kernels[0].name && strncmp(d->kernels[0].name, "tirk_fused_", 11) == 0 &&
          strlen(d->kernels[0].name) == 27);
    CHECK(d->kernels[0].source && strstr(d->kernels[0].source, d->kernels[0].name));
    CHECK(strcmp(d->kernels[0].name, d->kernels[1].name) != 0);
    /* The gelu is the op table's f32 row function, rounded to f16, in the
     * kernel body (the embedded common headers make tir_ewf_* by token
     * pasting, so this text only comes from the generated code). */
    const char *body = d->kernels[0].source ? strstr(d->kernels[0].source, "void tk_run(") : NULL;
    CHECK(body && strstr(body, "= tk_rh(tir_ewf_gelu(in0));"));
  }
  prog_free(&p);
}

static void test_softmax_casts(void) {
  Prog p;
  const tirrt_program_def_t *d = plan(&p,
      "func @main(%a: bf16[B, H, T, T], %m: bf16[T, T]) -> (bf16[B, H, T, T]) {\n"
      "  %a1 = add(%a, %m)\n"
      "  %a2 = cast(%a1, dtype=f32)\n"
      "  %a3 = softmax(%a2, dim=-1)\n"
      "  %a4 = cast(%a3, dtype=bf16)\n"
      "  return %a4\n}\n");
  CHECK(d && d->n_kernels == 1);
  if (d && d->n_kernels == 1) {
    CHECK(d->kernels[0].kind == TIRRT_KERNEL_ROWWISE);
    CHECK(covers(d, 0, "a1", "a4"));
    CHECK(ins_are(d, 0, "a m") && outs_are(d, 0, "a4"));
    CHECK(d->kernels[0].space == value(d, "a2"));
    CHECK(d->kernels[0].block_size == 256); /* T is symbolic */
  }
  prog_free(&p);
}

static void test_outputs_and_breaks(void) {
  Prog p;
  /* %e is read after the matmul: an output of the first run; %n is only
   * read by the matmul: an output too; the transpose (a view) ends a run. */
  const tirrt_program_def_t *d = plan(&p,
      "func @main(%x: f32[8, 8], %w: f32[8, 8]) -> (f32[8, 8]) {\n"
      "  %e = exp(%x)\n"
      "  %n = neg(%e)\n"
      "  %mm = matmul(%n, %w)\n"
      "  %s = add(%mm, %e)\n"
      "  %t = transpose(%s, dim0=0, dim1=1)\n"
      "  %u = sigmoid(%t)\n"
      "  return %u\n}\n");
  CHECK(d && d->n_kernels == 3);
  if (d && d->n_kernels == 3) {
    CHECK(covers(d, 0, "e", "n") && ins_are(d, 0, "x") && outs_are(d, 0, "e n"));
    CHECK(covers(d, 1, "s", "s") && ins_are(d, 1, "mm e") && outs_are(d, 1, "s"));
    CHECK(covers(d, 2, "u", "u") && ins_are(d, 2, "t") && outs_are(d, 2, "u"));
  }
  prog_free(&p);
}

static void test_norms(void) {
  Prog p;
  /* Residual add, layer_norm, an epilogue; the residual sum is also used
   * later, so it is an output of the prologue. */
  const tirrt_program_def_t *d = plan(&p,
      "func @main(%x: f16[B, 768], %r: f16[B, 768], %g: f16[768], %b: f16[768], %w: f16[768]) -> (f16[B, 768], f16[B, 768]) {\n"
      "  %x1 = add(%x, %r)\n"
      "  %h = layer_norm(%x1, %g, %b, eps=1e-5)\n"
      "  %h2 = mul(%h, %w)\n"
      "  %q = rms_norm(%x1, %w)\n"
      "  return %h2, %q\n}\n");
  CHECK(d && d->n_kernels == 2);
  if (d && d->n_kernels == 2) {
    CHECK(d->kernels[0].kind == TIRRT_KERNEL_ROWWISE && covers(d, 0, "x1", "h2"));
    CHECK(ins_are(d, 0, "x r g b w") && outs_are(d, 0, "x1 h2"));
    CHECK(d->kernels[0].block_size == 128); /* 768 elements in 8 per thread */
    CHECK(d->kernels[1].kind == TIRRT_KERNEL_ROWWISE && covers(d, 1, "q", "q"));
    CHECK(ins_are(d, 1, "x1 w") && outs_are(d, 1, "q"));
  }
  prog_free(&p);
}

static void test_reductions(void) {
  Prog p;
  /* A hand-written RMSNorm: the mean and its row-scalar epilogue (add eps,
   * rsqrt) and the elementwise epilogue are one kernel.  The keepdim=false
   * sum and the sum over dim 0 are left to the library. */
  const tirrt_program_def_t *d = plan(&p,
      "func @main(%x: f32[B, 64], %w: f32[64]) -> (f32[B, 64], f32[B], f32[1, 64]) {\n"
      "  %sq = mul(%x, %x)\n"
      "  %ms = mean(%sq, dims=[-1], keepdim=true)\n"
      "  %me = add(%ms, 1e-6)\n"
      "  %rs = rsqrt(%me)\n"
      "  %y0 = mul(%x, %rs)\n"
      "  %y = mul(%y0, %w)\n"
      "  %s = sum(%x, dims=[-1])\n"
      "  %c = sum(%x, dims=[0], keepdim=true)\n"
      "  return %y, %s, %c\n}\n");
  CHECK(d && d->n_kernels == 1);
  if (d && d->n_kernels >= 1) {
    CHECK(d->kernels[0].kind == TIRRT_KERNEL_ROWWISE && covers(d, 0, "sq", "y"));
    CHECK(outs_are(d, 0, "y"));
    CHECK(d->kernels[0].block_size == 32);
  }
  prog_free(&p);
}

static void test_not_fused(void) {
  Prog p;
  /* Dropout needs the seed, a copy alone is left to the executor,
   * softmax over dim 0 is not a row op. */
  const tirrt_program_def_t *d = plan(&p,
      "func @main(%x: f32[4, 16]) -> (f32[4, 16], f32[4, 16], f32[4, 16]) {\n"
      "  %dr = dropout(%x, p=0.1, training=true)\n"
      "  %t = transpose(%x, dim0=0, dim1=1)\n"
      "  %c = contiguous(%t)\n"
      "  %ct = transpose(%c, dim0=0, dim1=1)\n"
      "  %sm = softmax(%x, dim=0)\n"
      "  return %dr, %ct, %sm\n}\n");
  CHECK(d && d->n_kernels == 0);
  prog_free(&p);
}

static void test_operand_limit(void) {
  /* 30 distinct inputs summed in a chain: runs split so that inputs plus
   * outputs never exceed TIRRT_FUSED_MAX_OPERANDS. */
  char text[8192];
  int n = snprintf(text, sizeof text, "func @main(");
  for (int i = 0; i < 30; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%s%%x%d: f32[8]", i ? ", " : "", i);
  n += snprintf(text + n, sizeof text - (size_t)n, ") -> (f32[8]) {\n  %%s1 = add(%%x0, %%x1)\n");
  for (int i = 2; i < 30; i++) n += snprintf(text + n, sizeof text - (size_t)n, "  %%s%d = add(%%s%d, %%x%d)\n", i, i - 1, i);
  snprintf(text + n, sizeof text - (size_t)n, "  return %%s29\n}\n");
  Prog p;
  const tirrt_program_def_t *d = plan(&p, text);
  CHECK(d && d->n_kernels == 2);
  int32_t covered = 0;
  for (int32_t k = 0; d && k < d->n_kernels; k++) {
    CHECK(d->kernels[k].n_in + d->kernels[k].n_out <= TIRRT_FUSED_MAX_OPERANDS);
    covered += d->kernels[k].n_insts;
  }
  CHECK(covered == 29);
  prog_free(&p);
}

/* ------------------------------------------------------------ compiling */

static const char *MIXED =
    "func @main(%x: f16[B, T, 96], %w: f16[96], %i: i32[B, T, 96], %m: bool[T, 96], %d: f64[B, T, 96]) ->\n"
    "    (f16[B, T, 96], i8[B, T, 96], f32[B, T, 1], f64[B, T, 96], f32[B, T, 96], bf16[B, T, 96], i64[B, T, 1],\n"
    "     f16[96], i32[96], u8[96]) {\n"
    "  %ar = arange(start=-40, end=248, step=3, dtype=i64)\n"
    "  %a2 = mul(%ar, %ar)\n"
    "  %ah = cast(%a2, dtype=f16)\n"
    "  %fl = full(shape=[96], value=1e10, dtype=f64)\n"
    "  %fd = cast(%a2, dtype=f64)\n"
    "  %fm = pow(%fd, %fl)\n"
    "  %fh = cast(%fm, dtype=f16)\n"
    "  %fs = sub(%fh, %ah)\n"
    "  %fi = cast(%fs, dtype=i32)\n"
    "  %fu = cast(%fs, dtype=u8)\n"
    "  %xf = cast(%x, dtype=f32)\n"
    "  %ls = log_softmax(%xf, dim=-1)\n"
    "  %lh = cast(%ls, dtype=f16)\n"
    "  %ii = mul(%i, %i)\n"
    "  %ig = gt(%ii, %i)\n"
    "  %ia = logical_and(%ig, %m)\n"
    "  %ic = cast(%ia, dtype=i8)\n"
    "  %in = add(%ic, %ic)\n"
    "  %mx = amax(%xf, dims=[-1], keepdim=true)\n"
    "  %dd = masked_fill(%d, %m, value=-inf)\n"
    "  %dt = gelu(%dd, approximate=\"tanh\")\n"
    "  %df = cast(%dt, dtype=f32)\n"
    "  %dg = silu(%df)\n"
    "  %db = cast(%dg, dtype=bf16)\n"
    "  %is = sum(%i, dims=[-1], keepdim=true)\n"
    "  %r = rms_norm(%x, %w)\n"
    "  %ww = where(%m, %r, %lh)\n"
    "  return %ww, %in, %mx, %dt, %dg, %db, %is, %fs, %fi, %fu\n}\n";

static void test_compile_and_cache(void) {
  if (!have_cuda) {
    Prog p;
    CHECK(prog_load(&p, "mixed.tir", MIXED, "") == TIR_OK);
    TirCudaFuseOptions o = {.arch = 80, .cache_dir = "off"};
    CHECK(p.cg && tir_codegen_fuse_cuda(p.cg, &o, p.diag) == TIR_ERR_USAGE);
    CHECK(strstr(errs(&p), "without the CUDA toolkit") != NULL);
    prog_free(&p);
    return;
  }
  char dir[] = "/tmp/tirc-fuse-test-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  int archs[2] = {80, 90};
  int32_t nk = 0;
  for (int a = 0; a < 2; a++) {
    Prog p;
    CHECK(prog_load(&p, "mixed.tir", MIXED, "") == TIR_OK);
    TirCudaFuseOptions o = {.arch = archs[a], .cache_dir = dir};
    long before = tir_codegen_nvrtc_compile_count();
    TirStatus st = p.cg ? tir_codegen_fuse_cuda(p.cg, &o, p.diag) : TIR_ERR_INTERNAL;
    CHECK(st == TIR_OK);
    if (st != TIR_OK) fprintf(stderr, "%s\n", errs(&p));
    const tirrt_program_def_t *d = tir_codegen_def(p.cg);
    nk = d->n_kernels;
    CHECK(nk >= 5);
    CHECK(d->kernels[0].kind == TIRRT_KERNEL_ELEMENTWISE && d->kernels[0].n_insts == 10);
    CHECK(tir_codegen_nvrtc_compile_count() - before == nk); /* one NVRTC run per kernel */
    for (int32_t k = 0; k < d->n_kernels; k++) {
      const tirrt_kernel_def_t *kd = &d->kernels[k];
      CHECK(kd->cubin && kd->cubin_size > 0 && kd->ptx && strstr(kd->ptx, kd->name));
      CHECK(kd->arch == archs[a]);
    }
    /* The runtime accepts the table (kernel ranges, operands, liveness). */
    tirrt_program_t *rp = NULL;
    tirrt_status_t s = tirrt_program_create(d, &rp);
    CHECK(s == NULL);
    if (s) fprintf(stderr, "program_create: %s\n", tirrt_status_message(s));
    tirrt_status_free(s);
    tirrt_program_free(rp);
    prog_free(&p);
  }
  /* Again: everything comes from the cache. */
  Prog p;
  CHECK(prog_load(&p, "mixed.tir", MIXED, "") == TIR_OK);
  TirCudaFuseOptions o = {.arch = 90, .cache_dir = dir};
  long before = tir_codegen_nvrtc_compile_count();
  CHECK(tir_codegen_fuse_cuda(p.cg, &o, p.diag) == TIR_OK);
  CHECK(tir_codegen_nvrtc_compile_count() == before);
  prog_free(&p);
  /* Damage two entries (truncated, one flipped byte): they are recompiled. */
  DIR *dh = opendir(dir);
  int damaged = 0;
  for (struct dirent *e; dh && (e = readdir(dh)) && damaged < 2;) {
    if (e->d_name[0] == '.') continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (damaged == 0) {
      CHECK(truncate(path, 100) == 0);
    } else {
      FILE *f = fopen(path, "r+b");
      CHECK(f && fseek(f, -5, SEEK_END) == 0);
      int c = f ? fgetc(f) : 0;
      if (f) {
        fseek(f, -5, SEEK_END);
        fputc(c ^ 1, f);
        fclose(f);
      }
    }
    damaged++;
  }
  if (dh) closedir(dh);
  CHECK(damaged == 2);
  long recompiled = 0;
  for (int a = 0; a < 2; a++) {
    CHECK(prog_load(&p, "mixed.tir", MIXED, "") == TIR_OK);
    o.arch = archs[a];
    before = tir_codegen_nvrtc_compile_count();
    CHECK(tir_codegen_fuse_cuda(p.cg, &o, p.diag) == TIR_OK);
    recompiled += tir_codegen_nvrtc_compile_count() - before;
    prog_free(&p);
  }
  CHECK(recompiled == 2);
  /* "off" compiles every time. */
  CHECK(prog_load(&p, "mixed.tir", MIXED, "") == TIR_OK);
  o.cache_dir = "off";
  before = tir_codegen_nvrtc_compile_count();
  CHECK(tir_codegen_fuse_cuda(p.cg, &o, p.diag) == TIR_OK);
  CHECK(tir_codegen_nvrtc_compile_count() - before == nk);

  /* --emit=c with kernels is valid C against the runtime header. */
  char csrc[600];
  snprintf(csrc, sizeof csrc, "%s/program.c", dir);
  FILE *f = fopen(csrc, "w");
  CHECK(f && tir_codegen_emit_c(p.cg, "mixed.tir", true, f) == TIR_OK);
  if (f) fclose(f);
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "cc -std=c11 -fsyntax-only -Werror=int-conversion -I%s -I%s %s",
           TIRC_RUNTIME_INCLUDE, TIRC_COMMON_INCLUDE, csrc);
  CHECK(system(cmd) == 0);
  prog_free(&p);

  /* An architecture NVRTC does not know is a usage error, not a crash. */
  CHECK(prog_load(&p, "mixed.tir", MIXED, "") == TIR_OK);
  o.arch = 12;
  CHECK(tir_codegen_fuse_cuda(p.cg, &o, p.diag) == TIR_ERR_USAGE);
  prog_free(&p);

  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

/* Two equal layers: their runs get one source and one name (registers are
 * numbered in the kernel, not by program value), compile once, and the
 * emitted C holds the binary once. */
static void test_repeated_layers(void) {
  static const char *TWO =
      "func @main(%x: f16[8, 64], %w: f16[64, 64]) -> (f16[8, 64]) {\n"
      "  %a = linear(%x, %w)\n  %b = gelu(%a)\n  %c = mul(%b, %x)\n"
      "  %d = linear(%c, %w)\n  %e = gelu(%d)\n  %f = mul(%e, %c)\n"
      "  return %f\n}\n";
  Prog p;
  const tirrt_program_def_t *d = plan(&p, TWO);
  CHECK(d && d->n_kernels == 2);
  if (d && d->n_kernels == 2) {
    CHECK(strcmp(d->kernels[0].name, d->kernels[1].name) == 0);
    CHECK(d->kernels[0].source == d->kernels[1].source);
    CHECK(d->kernels[0].first_inst != d->kernels[1].first_inst); /* still two launches */
  }
  prog_free(&p);
  if (!have_cuda) return;
  CHECK(prog_load(&p, "two.tir", TWO, "") == TIR_OK);
  TirCudaFuseOptions o = {.arch = 90, .cache_dir = "off"};
  long before = tir_codegen_nvrtc_compile_count();
  CHECK(p.cg && tir_codegen_fuse_cuda(p.cg, &o, p.diag) == TIR_OK);
  CHECK(tir_codegen_nvrtc_compile_count() - before == 1);
  d = tir_codegen_def(p.cg);
  CHECK(d->n_kernels == 2 && d->kernels[0].cubin && d->kernels[0].cubin == d->kernels[1].cubin);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CHECK(f && tir_codegen_emit_c(p.cg, "two.tir", true, f) == TIR_OK);
  if (f) fclose(f);
  CHECK(text && strstr(text, "k0_cubin[]") && !strstr(text, "k1_cubin[]"));
  CHECK(text && strstr(text, ".cubin = k0_cubin") && !strstr(text, ".cubin = k1_cubin"));
  free(text);
  prog_free(&p);
}

/* The cache keys' hash against FIPS 180-2's examples (one and two blocks,
 * and a million bytes fed in odd pieces). */
static void test_sha256(void) {
  static const struct {
    const char *msg, *hex;
  } V[] = {{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
           {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
           {NULL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"}};
  for (int t = 0; t < 3; t++) {
    TirSha256 s;
    uint8_t dg[32];
    char hex[65];
    tir_sha256_init(&s);
    if (V[t].msg) {
      tir_sha256_update(&s, V[t].msg, strlen(V[t].msg));
    } else {
      char a[1000];
      memset(a, 'a', sizeof a);
      for (size_t done = 0, step = 7; done < 1000000; done += step, step = step * 3 % 997 + 1)
        tir_sha256_update(&s, a, done + step > 1000000 ? 1000000 - done : step);
    }
    tir_sha256_final(&s, dg);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    CHECK(strcmp(hex, V[t].hex) == 0);
  }
}

/* ------------------------------------------------------------ the corpus */

typedef struct {
  int files, modules, skipped, kernels, failures;
} Corpus;

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}

static void corpus_module(Corpus *c, const char *path, const char *text) {
  for (int a = 0; a < 2; a++) {
    Prog p;
    if (prog_load(&p, path, text, NULL) != TIR_OK) { /* a negative test, or weights missing */
      if (a == 0) {
        c->skipped++;
        const char *e = errs(&p), *nl = strchr(e, '\n');
        printf("skipped a module of %s: %.*s\n", path, (int)(nl ? nl - e : (ptrdiff_t)strlen(e)), e);
      }
      prog_free(&p);
      return;
    }
    if (a == 0) c->modules++;
    TirCudaFuseOptions o = {.arch = a ? 90 : 80, .cache_dir = "off"};
    if (tir_codegen_fuse_cuda(p.cg, &o, p.diag) != TIR_OK) {
      c->failures++;
      fprintf(stderr, "%s (sm_%d):\n%s\n", path, o.arch, errs(&p));
    } else {
      c->kernels += tir_codegen_def(p.cg)->n_kernels;
    }
    prog_free(&p);
  }
}

/* Splits lit files into modules at `// -----` lines and at split-file's
 * `//--- NAME` lines, like the lit runs do. */
static bool separator(const char *line) {
  return strncmp(line, "// -----", 8) == 0 || strncmp(line, "//--- ", 6) == 0;
}

static void corpus_file(Corpus *c, const char *path) {
  char *text = read_file(path);
  if (!text) return;
  c->files++;
  char *chunk = text;
  for (char *line = text;;) {
    char *nl = strchr(line, '\n');
    bool last = !nl;
    if (last || separator(nl + 1)) {
      if (!last) nl[1] = 0; /* the chunk ends after this newline */
      if (strstr(chunk, "func ")) corpus_module(c, path, chunk);
      if (last) break;
      char *next = strchr(nl + 2, '\n'); /* skip the separator line */
      if (!next) break;
      chunk = line = next + 1;
      continue;
    }
    line = nl + 1;
  }
  free(text);
}

static void corpus_walk(Corpus *c, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".tir") == 0) corpus_file(c, path);
    return;
  }
  DIR *d = opendir(path);
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "Output") == 0) continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    corpus_walk(c, sub);
  }
  closedir(d);
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--corpus") == 0) {
    Corpus c = {0};
    for (int i = 2; i < argc; i++) corpus_walk(&c, argv[i]);
    printf("corpus: %d files, %d modules compiled (%d skipped), %d kernels for sm_80 and sm_90\n",
           c.files, c.modules, c.skipped, c.kernels);
    CHECK(c.failures == 0);
    CHECK(c.kernels > 0);
    return CHECK_SUMMARY();
  }
  test_gelu_mlp();
  test_softmax_casts();
  test_outputs_and_breaks();
  test_norms();
  test_reductions();
  test_not_fused();
  test_operand_limit();
  test_compile_and_cache();
  test_repeated_layers();
  test_sha256();
  return CHECK_SUMMARY();
}
