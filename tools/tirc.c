/* tirc.c — the tirc driver: parses a .tir file, runs the pass pipeline and
 * emits the result (spec §8).  Exit codes: 0 ok, 1 bad input, 2 bad usage or
 * an unsupported request, 3 internal error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include "codegen.h"
#include "ir.h"
#include "passes.h"
#include "tirc_compile.h"
#include "tirrt.h"

#ifndef TIRC_VERSION
#define TIRC_VERSION "0.0.0"
#endif
#ifndef TIRC_COMMON_INCLUDE
#define TIRC_COMMON_INCLUDE "."
#endif
#ifndef TIRC_RUNTIME_INCLUDE
#define TIRC_RUNTIME_INCLUDE "."
#define TIRC_RUNTIME_LIB "libtirrt.a"
#define TIRC_EXE_LIBS "-lopenblas -lcjson -lm"
#endif

static const char USAGE[] =
    "usage: tirc FILE.tir [-o OUT] [--emit=exe|lib|c|ir] [--target=cuda|cpu]\n"
    "            [--arch=sm_80|sm_86|sm_89|sm_90] [--passes=P1,P2,...]\n"
    "            [--dump-ir[=P1,P2,...]] [--sdpa-kernel=flash|mem_efficient|math]\n"
    "            [--explain-kernels] [--remarks] [--time-passes] [-O0|-O1]\n"
    "       tirc run FILE.tir [program options...]\n"
    "       tirc --help | --version | --list-passes\n";

static const char HELP[] =
    "\n"
    "Compiles a TIR tensor program (see docs/ and the language spec).\n"
    "\n"
    "  -o OUT               write the output to OUT (default: stdout for ir/c)\n"
    "  --emit=KIND          exe (default), lib, c, or ir (the IR after the pipeline)\n"
    "  --target=T           cuda or cpu (default: cuda when built with CUDA and a\n"
    "                       GPU is present, else cpu)\n"
    "  --arch=SM            GPU architecture for code and kernel selection (default:\n"
    "                       the GPU's when there is one, else sm_80)\n"
    "  --passes=LIST        run exactly these passes (an empty list runs none)\n"
    "  --dump-ir[=LIST]     print the IR to stderr after every pass (or those listed),\n"
    "                       each under `// ----- IR after NAME -----`\n"
    "  --sdpa-kernel=K      force flash, mem_efficient or math for every sdpa\n"
    "  --explain-kernels    say why each faster attention kernel was rejected\n"
    "  --remarks            say why each softmax was not fused into attention\n"
    "  --time-passes        print each compile phase's time to stderr (parse, every\n"
    "                       pass, the verifier, lowering, CUDA kernels, C compiler)\n"
    "  -O0                  run no optimizing pass;  -O1 (default) the full pipeline\n"
    "  --list-passes        list the passes and exit\n";

/* The driver's own options around the pipeline's (tirc_compile.h). */
typedef struct {
  const char *input, *output, *emit;
  bool dump;
  tirc_compile_options_t c;
} Options;

/* --time-passes: the one table a run of the driver fills. */
static TirTimings timings;

static int usage_error(const char *fmt, const char *arg) {
  fputs("tirc: error: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\n", stderr);
  fputs(USAGE, stderr);
  return TIR_ERR_USAGE;
}

/* Every failure says what happened, even running out of memory. */
static int oom_error(void) {
  fputs("tirc: error: out of memory\n", stderr);
  return TIR_ERR_INTERNAL;
}

static bool one_of(const char *s, const char *const *list) {
  for (; *list; list++)
    if (strcmp(s, *list) == 0) return true;
  return false;
}

static int parse_args(int argc, char **argv, Options *o) {
  static const char *const EMITS[] = {"exe", "lib", "c", "ir", NULL};
  /* --target, --arch and --sdpa-kernel: the list libtirc checks too. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-o") == 0) {
      if (++i == argc) return usage_error("%s needs an argument", "-o");
      o->output = argv[i];
    } else if (strncmp(a, "--emit=", 7) == 0) {
      o->emit = a + 7;
      if (!one_of(o->emit, EMITS)) return usage_error("unknown --emit kind '%s'", o->emit);
    } else if (strncmp(a, "--target=", 9) == 0) {
      o->c.target = a + 9;
      if (!tirc_option_valid(TIRC_OPTION_TARGET, o->c.target))
        return usage_error("unknown --target '%s'", o->c.target);
    } else if (strncmp(a, "--arch=", 7) == 0) {
      o->c.arch = a + 7;
      if (!tirc_option_valid(TIRC_OPTION_ARCH, o->c.arch))
        return usage_error("unknown --arch '%s'", o->c.arch);
    } else if (strncmp(a, "--passes=", 9) == 0) {
      o->c.passes = a + 9;
    } else if (strcmp(a, "--dump-ir") == 0) {
      o->dump = true;
      o->c.dump_filter = NULL;
    } else if (strncmp(a, "--dump-ir=", 10) == 0) {
      o->dump = true;
      o->c.dump_filter = a + 10;
    } else if (strncmp(a, "--sdpa-kernel=", 14) == 0) {
      o->c.sdpa_kernel = a + 14;
      if (!tirc_option_valid(TIRC_OPTION_SDPA_KERNEL, o->c.sdpa_kernel))
        return usage_error("unknown --sdpa-kernel '%s'", o->c.sdpa_kernel);
    } else if (strcmp(a, "--explain-kernels") == 0) {
      o->c.explain_kernels = true;
    } else if (strcmp(a, "--remarks") == 0) {
      o->c.remarks = true;
    } else if (strcmp(a, "--time-passes") == 0) {
      o->c.timings = &timings;
    } else if (strcmp(a, "-O0") == 0) {
      o->c.opt_level = 0;
    } else if (strcmp(a, "-O1") == 0) {
      o->c.opt_level = 1;
    } else if (a[0] == '-' && a[1] != 0) {
      return usage_error("unknown option '%s'", a);
    } else if (o->input) {
      return usage_error("more than one input file ('%s')", a);
    } else {
      o->input = a;
    }
  }
  if (!o->input) return usage_error("%s", "no input file");
  return 0;
}

/* The pipeline (tirc_compile.h) on the input; --emit=ir stops after the
 * passes, everything else also lowers (and fuses for cuda) into *cg. */
static int front(const Options *o, TirDiag *diag, bool ir_only, TirModule **m, TirCodegen **cg) {
  tirc_compile_options_t c = o->c;
  c.dump = o->dump ? stderr : NULL;
  c.ir_only = ir_only;
  return (int)tirc_compile(o->input, NULL, 0, NULL, &c, diag, m, cg);
}

/* The default output name: the input's base name without `.tir`, as
 * `NAME` for executables and `libNAME.so` for libraries. */
static char *default_out_name(const char *input, bool lib) {
  const char *base = strrchr(input, '/');
  base = base ? base + 1 : input;
  size_t n = strlen(base);
  if (n > 4 && strcmp(base + n - 4, ".tir") == 0) n -= 4;
  char *s = malloc(n + 8);
  if (s) snprintf(s, n + 8, "%s%.*s%s", lib ? "lib" : "", (int)n, base, lib ? ".so" : "");
  return s;
}

/* Writes the generated C to a temporary file and compiles it against the
 * runtime with the system C compiler ($CC, else cc): an executable, or a
 * shared library exporting `tirc_program` (load it with dlopen and run it
 * with tirrt_program_create / tirrt_program_run). */
static int build_binary(const Options *o, const TirCodegen *cg, bool lib) {
  char dir[] = "/tmp/tirc-XXXXXX", csrc[64];
  if (!mkdtemp(dir)) {
    fprintf(stderr, "tirc: error: cannot create a temporary directory: %s\n", strerror(errno));
    return TIR_ERR_INTERNAL;
  }
  snprintf(csrc, sizeof csrc, "%s/program.c", dir);
  char *out = o->output ? NULL : default_out_name(o->input, lib);
  const char *exe = o->output ? o->output : out;
  if (!exe) {
    rmdir(dir);
    return oom_error();
  }
  FILE *f = fopen(csrc, "w");
  int rc = TIR_ERR_INTERNAL;
  if (!f) fprintf(stderr, "tirc: error: cannot create %s: %s\n", csrc, strerror(errno));
  double t0 = tir_now_ms();
  bool emitted = f && tir_codegen_emit_c(cg, o->input, !lib, f) == TIR_OK;
  tir_timing_add(o->c.timings, "emit-c", tir_now_ms() - t0, NULL);
  if (emitted && fclose(f) == 0) {
    f = NULL;
    t0 = tir_now_ms();
    const char *cc = getenv("CC");
    pid_t pid = fork();
    if (pid == 0) {
      execlp("sh", "sh", "-c",
             "exec ${0} $6 -O1 -w -I\"$1\" -I\"$7\" \"$2\" \"$3\" $4 -o \"$5\"",
             cc && *cc ? cc : "cc", TIRC_RUNTIME_INCLUDE, csrc, TIRC_RUNTIME_LIB, TIRC_EXE_LIBS,
             exe, lib ? "-shared -fPIC" : "", TIRC_COMMON_INCLUDE, (char *)NULL);
      _exit(127);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      rc = TIR_OK;
    tir_timing_add(o->c.timings, "cc", tir_now_ms() - t0, "%s", cc && *cc ? cc : "cc");
    if (rc != TIR_OK)
      fprintf(stderr, "tirc: error: the C compiler failed on the generated program\n");
  }
  if (f) fclose(f);
  unlink(csrc);
  rmdir(dir);
  free(out);
  return rc;
}

static int compile(const Options *o) {
  TirDiag *diag = tir_diag_new(stderr, 0);
  if (!diag) return oom_error();
  TirModule *m = NULL;
  TirCodegen *cg = NULL;
  int rc = front(o, diag, strcmp(o->emit, "ir") == 0, &m, &cg);
  if (rc != TIR_OK) goto done;
  if (strcmp(o->emit, "exe") == 0 || strcmp(o->emit, "lib") == 0) {
    rc = build_binary(o, cg, strcmp(o->emit, "lib") == 0);
    goto done;
  }
  FILE *out = stdout;
  if (o->output && !(out = fopen(o->output, "w"))) {
    fprintf(stderr, "tirc: error: cannot open '%s': %s\n", o->output, strerror(errno));
    rc = TIR_ERR_INPUT;
    goto done;
  }
  double t0 = tir_now_ms();
  if (cg) rc = (int)tir_codegen_emit_c(cg, o->input, true, out);
  else tir_print_module(out, m);
  tir_timing_add(o->c.timings, cg ? "emit-c" : "print", tir_now_ms() - t0, NULL);
  if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) {
    fprintf(stderr, "tirc: error: writing the output failed: %s\n", strerror(errno));
    rc = TIR_ERR_INPUT;
  }
done:
  if (o->c.timings) tir_timing_print(stderr, o->c.timings);
  tir_codegen_free(cg);
  tir_module_free(m);
  tir_diag_free(diag);
  return rc;
}

/* tirc run FILE.tir [program options...]: compiles with the default pipeline
 * and runs the program in this process (the same runtime a compiled
 * executable links), passing the remaining options to it. */
static int run(int argc, char **argv, const Options *defaults) {
  /* Compiler options may come before FILE (`tirc run -O0 model.tir ...`). */
  int file = 2;
  while (file < argc && argv[file][0] == '-') file++;
  if (file >= argc) {
    fputs("tirc: error: usage: tirc run [compiler options] FILE.tir [program options...]\n",
          stderr);
    return TIR_ERR_USAGE;
  }
  Options o = *defaults;
  char *saved = argv[file];
  argv[file] = "x.tir"; /* a placeholder input while parsing the options before it */
  int rc = parse_args(file, argv + 1, &o); /* argv[1] ("run") stands in for argv[0] */
  argv[file] = saved;
  if (rc) return rc;
  o.input = argv[file];
  TirDiag *diag = tir_diag_new(stderr, 0);
  if (!diag) return oom_error();
  TirModule *m = NULL;
  TirCodegen *cg = NULL;
  rc = front(&o, diag, false, &m, &cg);
  if (o.c.timings) tir_timing_print(stderr, o.c.timings);
  if (rc == TIR_OK) /* the program sees FILE as its name */
    rc = tirrt_main(tir_codegen_def(cg), argc - file, argv + file);
  tir_codegen_free(cg);
  tir_module_free(m);
  tir_diag_free(diag);
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
    fputs(USAGE, stdout);
    fputs(HELP, stdout);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
    printf("tirc %s (TIR language version 1)\n", TIRC_VERSION);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "--list-passes") == 0) {
    for (int i = 0; i < tir_pass_count(); i++)
      printf("%-16s %s\n", tir_pass_info(i)->name, tir_pass_info(i)->description);
    return 0;
  }
  Options o = {.emit = "exe", .c = tirc_compile_defaults()};
  tirc_compile_defaults_for_host(&o.c); /* spec §8: cuda when there is a GPU */
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return run(argc, argv, &o);
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  return compile(&o);
}
