/* cli.c — the command line of compiled tirc programs (spec §9):
 *   ./model [--device=cpu|cuda[:N]] [--params=FILE.safetensors] [--in NAME=FILE.npy]...
 *           [--out DIR] [--bench=N] [--seed=N] [--random-inputs] [--dim NAME=N]...
 *           [--allow-tf32] [--cuda-graphs]
 * The default device is the program's target (tirc --target) when that
 * device is present, else the CPU (with a note on stderr).
 * Inputs bind by argument name; outputs go to DIR/out0.npy, ... in return
 * order (without --out, a one-line summary of each is printed instead).
 * Exit codes: 0 ok, 1 bad input (files, shapes, dtypes), 2 bad usage,
 * 3 internal error. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "tirrt.h"
#include "tirrt_cpu.h"

enum { EXIT_OK = 0, EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

typedef struct {
  const char *name, *path;
} Binding;

typedef struct {
  const char *device, *params, *out_dir;
  Binding in[256], dims[64];
  int n_in, n_dims;
  long bench;
  uint64_t seed;
  int random_inputs, allow_tf32, device_index, graphs;
} Cli;

static const char USAGE[] =
    "usage: %s [--device=cpu|cuda[:N]] [--params=FILE.safetensors] [--in NAME=FILE.npy]...\n"
    "          [--out DIR] [--bench=N] [--seed=N] [--random-inputs] [--dim NAME=N]...\n"
    "          [--allow-tf32] [--cuda-graphs]\n";

static int usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  fprintf(stderr, USAGE, prog);
  return EXIT_USAGE;
}

static int status_exit(const char *prog, tirrt_status_t s) {
  tirrt_status_code_t c = tirrt_status_code(s);
  fprintf(stderr, "%s: error: %s\n", prog, tirrt_status_message(s));
  tirrt_status_free(s);
  return c == TIRRT_STATUS_INVALID_ARGUMENT || c == TIRRT_STATUS_NOT_FOUND || c == TIRRT_STATUS_IO
             ? EXIT_INPUT
         : c == TIRRT_STATUS_UNAVAILABLE || c == TIRRT_STATUS_UNIMPLEMENTED ? EXIT_USAGE
                                                                            : EXIT_INTERNAL;
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (!*s || *end || errno || *s == '-') return false;
  *out = v;
  return true;
}

/* "--opt=value" or "--opt value"; returns the value or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt) {
  size_t n = strlen(opt);
  if (strncmp(argv[*i], opt, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] == 0 && *i + 1 < argc) return argv[++*i];
  return NULL;
}

static int parse_cli(int argc, char **argv, Cli *c) {
  const char *prog = argv[0];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    uint64_t u;
    if (strcmp(a, "--help") == 0) {
      printf(USAGE, prog);
      return -1; /* done, successfully */
    } else if ((v = opt_value(argc, argv, &i, "--device"))) {
      uint64_t ix = 0;
      if (strcmp(v, "cpu") != 0 && strcmp(v, "cuda") != 0 &&
          !(strncmp(v, "cuda:", 5) == 0 && parse_u64(v + 5, &ix) && ix < 64))
        return usage(prog, "unknown --device '%s'", v);
      c->device = strncmp(v, "cuda", 4) == 0 ? "cuda" : "cpu";
      c->device_index = (int)ix;
    } else if (strcmp(a, "--allow-tf32") == 0) {
      c->allow_tf32 = 1;
    } else if (strcmp(a, "--cuda-graphs") == 0) {
      c->graphs = 1;
    } else if ((v = opt_value(argc, argv, &i, "--params"))) {
      c->params = v;
    } else if ((v = opt_value(argc, argv, &i, "--in")) || (v = opt_value(argc, argv, &i, "--dim"))) {
      bool is_in = strncmp(a, "--in", 4) == 0;
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) return usage(prog, "expected NAME=VALUE, got '%s'", v);
      Binding *b = is_in ? (c->n_in < 256 ? &c->in[c->n_in++] : NULL)
                         : (c->n_dims < 64 ? &c->dims[c->n_dims++] : NULL);
      if (!b) return usage(prog, "too many %s options", is_in ? "--in" : "--dim");
      char *name = strndup(v, (size_t)(eq - v));
      if (!name) {
        fprintf(stderr, "%s: error: out of memory parsing the command line\n", prog);
        return EXIT_INTERNAL;
      }
      *b = (Binding){name, eq + 1};
    } else if ((v = opt_value(argc, argv, &i, "--out"))) {
      c->out_dir = v;
    } else if ((v = opt_value(argc, argv, &i, "--bench"))) {
      if (!parse_u64(v, &u) || u == 0 || u > 1000000) return usage(prog, "bad --bench '%s'", v);
      c->bench = (long)u;
    } else if ((v = opt_value(argc, argv, &i, "--seed"))) {
      if (!parse_u64(v, &u)) return usage(prog, "bad --seed '%s'", v);
      c->seed = u;
    } else if (strcmp(a, "--random-inputs") == 0) {
      c->random_inputs = 1;
    } else {
      return usage(prog, "unknown option '%s'", a);
    }
  }
  return EXIT_OK;
}

/* Deterministic inputs for demos and benchmarks: floats uniform in [-1, 1),
 * integers uniform in [0, 16), bools fair coins, from Philox keyed by the
 * seed and the argument's position. */
static tirrt_status_t fill_random(const tirrt_tensor_desc_t *d, void *data, uint64_t seed,
                                  uint64_t arg, const char *name) {
  int64_t n = 0;
  tirrt_status_t s = tirrt_tensor_desc_check(d, &n, NULL);
  if (s) return s;
  tirrt_view_t v = tirrt_view_contiguous(d, data);
  tirrt_tensor_desc_t f64 = *d;
  f64.dtype = TIRRT_DTYPE_F64;
  /* The values go through f64 scratch; without it the input would be left
   * uninitialized, so failing here must fail the run. */
  double *tmp = (uint64_t)n <= SIZE_MAX / sizeof(double) ? malloc((size_t)(n ? n : 1) * sizeof *tmp)
                                                          : NULL;
  if (!tmp)
    return tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                             "out of memory for %" PRId64 " random values of input '%s'", n, name);
  for (int64_t i = 0; i < n; i++) {
    uint32_t w[4];
    tirrt_philox4x32(seed, 0x7175ull << 32 | arg, (uint64_t)i, w);
    double u = (w[0] >> 8) * (1.0 / 16777216.0);
    if (d->dtype == TIRRT_DTYPE_BOOL) tmp[i] = u < 0.5;
    else if (d->dtype == TIRRT_DTYPE_F16 || d->dtype == TIRRT_DTYPE_BF16 || d->dtype == TIRRT_DTYPE_F32 || d->dtype == TIRRT_DTYPE_F64)
      tmp[i] = 2 * u - 1;
    else tmp[i] = floor(u * 16);
  }
  tirrt_view_t src = tirrt_view_contiguous(&f64, tmp);
  tirrt_cpu_copy(&src, &v);
  free(tmp);
  return NULL;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* --bench: warm up (first-touch page faults, pool growth, GPU module
 * loads), then time N runs and print the median.  On a GPU the inputs are
 * uploaded once and the results stay on the device, so the time is the
 * program's own; with --cuda-graphs the warm-up records the run in a CUDA
 * graph (tirrt.h) and the timed runs replay it. */
static tirrt_status_t bench(tirrt_program_t *p, const tirrt_program_def_t *d,
                            const tirrt_run_options_t *ro, long n,
                            const tirrt_tensor_desc_t *descs, const void *const *datas) {
  int32_t na = d->n_args, nr = d->n_results;
  bool gpu = ro->device == TIRRT_DEVICE_CUDA;
  tirrt_run_options_t o = *ro;
  double *t = malloc((size_t)n * sizeof *t);
  void **dargs = calloc((size_t)na + 1, sizeof *dargs);
  void **dres = calloc((size_t)nr + 1, sizeof *dres);
  tirrt_tensor_desc_t *rdesc = calloc((size_t)nr + 1, sizeof *rdesc);
  void **rdata = calloc((size_t)nr + 1, sizeof *rdata);
  tirrt_status_t s = NULL;
  uint64_t peak = 0;
  if (!t || !dargs || !dres || !rdesc || !rdata) {
    s = tirrt_oom_status();
    goto done;
  }
  if (gpu) {
    o.device_pointers = 1;
    for (int32_t a = 0; a < na && !s; a++) {
      size_t bytes = 0;
      s = tirrt_tensor_desc_check(&descs[a], NULL, &bytes);
      if (!s) s = tirrt_cuda_malloc(ro->device_index, bytes, &dargs[a]);
      if (!s) s = tirrt_cuda_copy_bytes(ro->device_index, dargs[a], datas[a], bytes,
                                        TIRRT_COPY_HOST_TO_DEVICE);
    }
    if (!s) s = tirrt_program_result_descs(p, descs, rdesc);
    for (int32_t j = 0; j < nr && !s; j++) {
      size_t bytes = 0;
      s = tirrt_tensor_desc_check(&rdesc[j], NULL, &bytes);
      if (!s) s = tirrt_cuda_malloc(ro->device_index, bytes, &dres[j]);
    }
    if (s) goto done;
  }
  for (long it = -3; it < n; it++) {
    double t0 = now_ms();
    s = tirrt_program_execute(p, &o, descs, gpu ? (const void *const *)dargs : datas,
                              gpu ? dres : NULL, rdesc, rdata, &peak);
    double t1 = now_ms();
    if (s) goto done;
    if (it >= 0) t[it] = t1 - t0;
    if (!gpu)
      for (int32_t j = 0; j < nr; j++) free(rdata[j]), rdata[j] = NULL;
  }
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  char dev[300] = "CPU";
  if (gpu) tirrt_status_free(tirrt_cuda_describe(ro->device_index, dev, sizeof dev));
  printf("bench: median %.3f ms over %ld runs (min %.3f, max %.3f) on %s%s; peak intermediate "
         "memory %.2f MiB\n", t[n / 2], n, t[0], t[n - 1], dev,
         !gpu || !o.cuda_graphs                    ? ""
         : tirrt_program_graphs_recorded(p) > 0    ? " (CUDA graph)"
         : tirrt_program_graphs_recorded(p) < 0    ? " (no CUDA graph: it could not be recorded)"
                                                   : "",
         peak / 1048576.0);
done:
  for (int32_t a = 0; gpu && dargs && a < na; a++) tirrt_cuda_release(ro->device_index, dargs[a]);
  for (int32_t j = 0; gpu && dres && j < nr; j++) tirrt_cuda_release(ro->device_index, dres[j]);
  free(t);
  free(dargs);
  free(dres);
  free(rdesc);
  free(rdata);
  return s;
}

/* The declared shape of argument `v` from the symbols that --dim and the
 * bound inputs gave, for --random-inputs. */
/* An input's shape from the evaluated dim nodes (--dim symbols; `s+1` and
 * `2*s` too). */
static tirrt_status_t random_shape(const tirrt_program_def_t *d, int32_t v, const int64_t *dim,
                                   const bool *dim_ok, tirrt_tensor_desc_t *out) {
  const tirrt_value_def_t *vd = &d->values[v];
  out->dtype = (tirrt_dtype_t)vd->dtype;
  out->rank = vd->rank;
  for (int32_t k = 0; k < vd->rank; k++) {
    out->shape[k] = dim[vd->dims[k]];
    if (!dim_ok[vd->dims[k]]) {
      return tirrt_make_status(TIRRT_STATUS_UNIMPLEMENTED,
                               "--random-inputs: give the sizes of %s's dims with --dim NAME=N",
                               vd->name);
    }
  }
  return tirrt_tensor_desc_check(out, NULL, NULL);
}

/* A failed allocation: say so (exit 3, like any resource failure). */
static int oom_exit(const char *prog, const char *what) {
  fprintf(stderr, "%s: error: out of memory for %s\n", prog, what);
  return EXIT_INTERNAL;
}

/* Each input may be given once: by one --in, or by the --params file.  A
 * second binding would silently win or lose, so it is an error naming the
 * input.  Also rejects unknown --in names and bad or repeated --dim. */
static int check_bindings(const char *prog, const tirrt_program_def_t *def, const Cli *c,
                          const tirrt_safetensors_t *params, int64_t *sym, bool *bound) {
  int32_t na = def->n_args;
  for (int i = 0; i < c->n_in; i++) {
    bool known = false;
    for (int32_t a = 0; a < na; a++) known |= strcmp(def->values[def->args[a]].name, c->in[i].name) == 0;
    if (!known) return usage(prog, "--in: the program has no input named '%s'", c->in[i].name);
    for (int j = 0; j < i; j++)
      if (strcmp(c->in[j].name, c->in[i].name) == 0) {
        fprintf(stderr, "%s: error: input '%s' is given twice (--in %s=%s and --in %s=%s)\n", prog,
                c->in[i].name, c->in[j].name, c->in[j].path, c->in[i].name, c->in[i].path);
        return EXIT_INPUT;
      }
    if (params) {
      tirrt_status_t s = tirrt_safetensors_find(params, c->in[i].name, NULL, NULL);
      bool in_params = !s;
      tirrt_status_free(s);
      if (in_params) {
        fprintf(stderr, "%s: error: input '%s' is given twice (--in %s=%s and the tensor '%s' "
                        "of --params %s)\n", prog, c->in[i].name, c->in[i].name, c->in[i].path,
                c->in[i].name, c->params);
        return EXIT_INPUT;
      }
    }
  }
  for (int i = 0; i < c->n_dims; i++) {
    int32_t k = 0;
    uint64_t u;
    while (k < def->n_syms && strcmp(def->syms[k], c->dims[i].name) != 0) k++;
    if (k == def->n_syms || !parse_u64(c->dims[i].path, &u) || u > INT64_MAX)
      return usage(prog, "--dim: no symbol '%s' or a bad size", c->dims[i].name);
    if (bound[k]) return usage(prog, "--dim %s is given twice", c->dims[i].name);
    sym[k] = (int64_t)u;
    bound[k] = true;
  }
  return EXIT_OK;
}

/* Binds arguments from --in files and the --params file; their shapes bind
 * symbols for random inputs.  Arguments bound by neither stay NULL. */
static int bind_files(const char *prog, const tirrt_program_def_t *def, const Cli *c,
                      const tirrt_safetensors_t *params, tirrt_tensor_desc_t *descs,
                      void **datas, int64_t *sym, bool *bound) {
  for (int32_t a = 0; a < def->n_args; a++) {
    const tirrt_value_def_t *vd = &def->values[def->args[a]];
    const char *path = NULL;
    for (int i = 0; i < c->n_in; i++)
      if (strcmp(c->in[i].name, vd->name) == 0) path = c->in[i].path;
    tirrt_status_t s;
    if (path) {
      s = tirrt_npy_read(path, &descs[a], &datas[a]);
    } else if (params) {
      const void *src;
      s = tirrt_safetensors_find(params, vd->name, &descs[a], &src);
      if (s && tirrt_status_code(s) == TIRRT_STATUS_NOT_FOUND) {
        tirrt_status_free(s);
        continue;
      }
      size_t bytes = 0;
      if (!s) s = tirrt_tensor_desc_check(&descs[a], NULL, &bytes);
      if (!s && !(datas[a] = malloc(bytes ? bytes : 1)))
        s = tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY, "out of memory for %zu bytes of input '%s'",
                              bytes, vd->name);
      if (!s) memcpy(datas[a], src, bytes);
    } else {
      continue;
    }
    if (s) return status_exit(prog, s);
    for (int32_t k = 0; k < vd->rank && k < descs[a].rank; k++) {
      const tirrt_dim_node_t *n = &def->dims[vd->dims[k]];
      if (n->op == TIRRT_DIM_SYM && !bound[n->value]) sym[n->value] = descs[a].shape[k], bound[n->value] = true;
    }
  }
  return EXIT_OK;
}

/* Fills the arguments no file bound (--random-inputs), or names the first. */
static int bind_random(const char *prog, const tirrt_program_def_t *def, const Cli *c,
                       tirrt_tensor_desc_t *descs, void **datas, const int64_t *sym,
                       const bool *bound) {
  int64_t *dim = calloc((size_t)def->n_dims + 1, sizeof *dim);
  bool *dim_ok = calloc((size_t)def->n_dims + 1, sizeof *dim_ok);
  if (!dim || !dim_ok) {
    free(dim);
    free(dim_ok);
    return oom_exit(prog, "the dims");
  }
  tirrt_eval_dim_nodes(def, sym, bound, dim, dim_ok);
  int rc = EXIT_OK;
  for (int32_t a = 0; a < def->n_args && rc == EXIT_OK; a++) {
    if (datas[a]) continue;
    const tirrt_value_def_t *vd = &def->values[def->args[a]];
    if (!c->random_inputs) {
      fprintf(stderr, "%s: error: input '%s' is not bound (use --in %s=FILE.npy, --params, or "
                      "--random-inputs)\n", prog, vd->name, vd->name);
      rc = EXIT_USAGE;
      break;
    }
    size_t bytes = 0;
    tirrt_status_t s = random_shape(def, def->args[a], dim, dim_ok, &descs[a]);
    if (!s) s = tirrt_tensor_desc_check(&descs[a], NULL, &bytes);
    if (!s && !(datas[a] = malloc(bytes ? bytes : 1)))
      s = tirrt_make_status(TIRRT_STATUS_OUT_OF_MEMORY,
                            "out of memory for %zu bytes of random input '%s'", bytes, vd->name);
    if (!s) s = fill_random(&descs[a], datas[a], c->seed, (uint64_t)a, vd->name);
    if (s) rc = status_exit(prog, s);
  }
  free(dim);
  free(dim_ok);
  return rc;
}

/* Runs (after --bench, if asked) and writes or summarizes the results;
 * any number of them. */
static int run_and_write(const char *prog, tirrt_program_t *p, const tirrt_program_def_t *def,
                         const Cli *c, const tirrt_run_options_t *ro,
                         const tirrt_tensor_desc_t *descs, void **datas) {
  int32_t nr = def->n_results;
  tirrt_tensor_desc_t *rdesc = calloc((size_t)nr + 1, sizeof *rdesc);
  void **rdata = calloc((size_t)nr + 1, sizeof *rdata);
  int rc = EXIT_OK;
  tirrt_status_t s = NULL;
  uint64_t peak = 0;
  if (!rdesc || !rdata) {
    rc = oom_exit(prog, "the results' descriptions");
    goto done;
  }
  if (c->bench > 0) s = bench(p, def, ro, c->bench, descs, (const void *const *)datas);
  if (!s) s = tirrt_program_execute(p, ro, descs, (const void *const *)datas, NULL, rdesc, rdata, &peak);
  if (s) {
    rc = status_exit(prog, s);
    goto done;
  }
  if (c->out_dir && mkdir(c->out_dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: error: cannot create %s: %s\n", prog, c->out_dir, strerror(errno));
    rc = EXIT_INPUT;
  }
  for (int32_t j = 0; j < nr && rc == EXIT_OK; j++) {
    char desc[160];
    tirrt_tensor_desc_format(&rdesc[j], desc, sizeof desc);
    if (c->out_dir) {
      char path[4096];
      if (snprintf(path, sizeof path, "%s/out%d.npy", c->out_dir, (int)j) >= (int)sizeof path) {
        fprintf(stderr, "%s: error: --out directory name is too long\n", prog);
        rc = EXIT_USAGE;
      } else if ((s = tirrt_npy_write(path, &rdesc[j], rdata[j]))) {
        rc = status_exit(prog, s);
      }
    } else if (c->bench == 0) {
      printf("out%d: %s\n", (int)j, desc);
    }
  }
done:
  for (int32_t j = 0; rdata && j < nr; j++) free(rdata[j]);
  free(rdesc);
  free(rdata);
  return rc;
}

int tirrt_main(const tirrt_program_def_t *def, int argc, char **argv) {
  const char *prog = argc > 0 ? argv[0] : "program";
  Cli c = {.device = NULL};
  int rc = parse_cli(argc, argv, &c);
  if (rc) return rc < 0 ? EXIT_OK : rc;
  if (!c.device) {
    int gpus = 0;
    tirrt_status_free(tirrt_cuda_device_count(&gpus));
    c.device = def->target == TIRRT_DEVICE_CUDA && gpus > 0 ? "cuda" : "cpu";
    if (def->target == TIRRT_DEVICE_CUDA && gpus == 0)
      fprintf(stderr, "%s: note: no CUDA GPU found; running on the CPU\n", prog);
  }
  tirrt_run_options_t ro = {.device = strcmp(c.device, "cuda") == 0 ? TIRRT_DEVICE_CUDA
                                                                     : TIRRT_DEVICE_CPU,
                            .device_index = c.device_index,
                            .seed = c.seed,
                            .allow_tf32 = c.allow_tf32, .cuda_graphs = c.graphs};
  tirrt_program_t *p = NULL;
  tirrt_safetensors_t *params = NULL;
  int32_t na = def->n_args, ns = def->n_syms > 0 ? def->n_syms : 0;
  tirrt_tensor_desc_t *descs = calloc((size_t)na + 1, sizeof *descs);
  void **datas = calloc((size_t)na + 1, sizeof *datas);
  int64_t *sym = calloc((size_t)ns + 1, sizeof *sym);
  bool *bound = calloc((size_t)ns + 1, sizeof *bound);
  tirrt_status_t s = NULL;
  if (!descs || !datas || !sym || !bound) {
    rc = oom_exit(prog, "the program's inputs");
  } else if ((s = tirrt_program_create(def, &p)) ||
             (c.params && (s = tirrt_safetensors_open(c.params, &params)))) {
    rc = status_exit(prog, s);
  } else if (!(rc = check_bindings(prog, def, &c, params, sym, bound)) &&
             !(rc = bind_files(prog, def, &c, params, descs, datas, sym, bound)) &&
             !(rc = bind_random(prog, def, &c, descs, datas, sym, bound))) {
    rc = run_and_write(prog, p, def, &c, &ro, descs, datas);
  }
  for (int32_t a = 0; a < na && datas; a++) free(datas[a]);
  for (int i = 0; i < c.n_in; i++) free((char *)c.in[i].name);
  for (int i = 0; i < c.n_dims; i++) free((char *)c.dims[i].name);
  free(descs);
  free(datas);
  free(sym);
  free(bound);
  tirrt_safetensors_close(params);
  tirrt_program_free(p);
  return rc;
}
