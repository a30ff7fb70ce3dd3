/* tirc.c — the embedding API (see tirc.h): parse, optimize and lower TIR in
 * process, then run the program table with the runtime on the caller's
 * buffers.  Diagnostics are captured into strings instead of stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "tirc.h"
#include "tirc_compile.h"
#include "tirrt.h"

#ifndef TIRC_VERSION
#define TIRC_VERSION "0.0.0"
#endif

struct tirc_module_s {
  TirModule *m;
  TirCodegen *cg;
  tirrt_program_t *prog;
  char *ir, *dump, *timings;
  bool graphs; /* tirc_module_set_cuda_graphs(m, 1) */
};

const char *tirc_version(void) { return TIRC_VERSION; }
void tirc_free(void *p) { free(p); }

int tirc_cuda_device_count(void) {
  int n = 0;
  tirrt_status_free(tirrt_cuda_device_count(&n));
  return n;
}

static void set_error(char **out, const char *msg) {
  if (out) *out = strdup(msg && *msg ? msg : "unknown error");
}

static int status_error(tirrt_status_t s, char **out_error) {
  tirrt_status_code_t c = tirrt_status_code(s);
  set_error(out_error, tirrt_status_message(s));
  tirrt_status_free(s);
  return c == TIRRT_STATUS_INVALID_ARGUMENT || c == TIRRT_STATUS_NOT_FOUND ? 1
         : c == TIRRT_STATUS_UNIMPLEMENTED || c == TIRRT_STATUS_UNAVAILABLE ? 2
                                                                           : 3;
}

void tirc_module_free(tirc_module_t *mod) {
  if (!mod) return;
  tirrt_program_free(mod->prog);
  tir_codegen_free(mod->cg);
  tir_module_free(mod->m);
  free(mod->ir);
  free(mod->dump);
  free(mod->timings);
  free(mod);
}

/* A bad argument from the caller: a message and 2 (bad usage). */
static int arg_error(char **out_error, const char *fn, const char *what) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s: %s", fn, what);
  set_error(out_error, msg);
  return 2;
}

/* The option values the tirc driver accepts, checked by the same code
 * (lib/options.c); NULL means the default. */
static int check_options(const tirc_options_t *o, char **out_error) {
  const struct {
    TircOption opt;
    const char *name, *value;
  } v[] = {{TIRC_OPTION_TARGET, "target", o->target},
           {TIRC_OPTION_ARCH, "arch", o->arch},
           {TIRC_OPTION_SDPA_KERNEL, "sdpa_kernel", o->sdpa_kernel}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    if (!v[i].value || tirc_option_valid(v[i].opt, v[i].value)) continue;
    char msg[300];
    snprintf(msg, sizeof msg, "unknown %s '%.64s' (expected %s)", v[i].name, v[i].value,
             tirc_option_choices(v[i].opt));
    set_error(out_error, msg);
    return 2;
  }
  return 0;
}

static int compile(const char *path, const char *text, size_t len, const char *name,
                   const tirc_options_t *o, tirc_module_t **out, char **out_error) {
  tirc_options_t defaults = {0};
  if (!o) o = &defaults;
  int bad = check_options(o, out_error);
  if (bad) return bad;
  char *errbuf = NULL, *dumpbuf = NULL;
  size_t errlen = 0, dumplen = 0;
  FILE *errs = open_memstream(&errbuf, &errlen);
  FILE *dump = o->dump_ir ? open_memstream(&dumpbuf, &dumplen) : NULL;
  TirDiag *diag = errs ? tir_diag_new(errs, 0) : NULL;
  tirc_module_t *mod = calloc(1, sizeof *mod);
  int rc = 3;
  if (!errs || !diag || !mod || (o->dump_ir && !dump)) goto done;
  /* libtirc's options on the shared defaults (tirc_compile.h): NULL keeps one. */
  tirc_compile_options_t co = tirc_compile_defaults();
  if (o->target) co.target = o->target;
  if (o->arch) co.arch = o->arch;
  co.passes = o->passes;
  co.sdpa_kernel = o->sdpa_kernel;
  co.dump = dump;
  TirTimings timings = {0};
  if (o->time_passes) co.timings = &timings;
  rc = (int)tirc_compile(path, text, len, name, &co, diag, &mod->m, &mod->cg);
  if (rc) goto done;
  char *irbuf = NULL;
  size_t irlen = 0;
  FILE *irs = open_memstream(&irbuf, &irlen);
  if (!irs) {
    rc = 3;
    goto done;
  }
  tir_print_module(irs, mod->m);
  fclose(irs);
  mod->ir = irbuf;
  double t0 = tir_now_ms();
  tirrt_status_t s = tirrt_program_create(tir_codegen_def(mod->cg), &mod->prog);
  tir_timing_add(co.timings, "load", tir_now_ms() - t0, "the runtime program");
  if (co.timings) {
    size_t tlen = 0;
    FILE *ts = open_memstream(&mod->timings, &tlen);
    if (ts) {
      tir_timing_print(ts, co.timings);
      fclose(ts);
    }
  }
  if (s) {
    fprintf(errs, "internal error: the runtime rejected the lowered program: %s\n",
            tirrt_status_message(s));
    tirrt_status_free(s);
    rc = 3;
  }
done:
  if (diag) tir_diag_free(diag);
  if (errs) fclose(errs);
  if (dump) {
    fclose(dump);
    if (mod) mod->dump = dumpbuf;
    else free(dumpbuf);
  }
  if (rc) {
    set_error(out_error, errbuf && *errbuf ? errbuf : "out of memory");
    tirc_module_free(mod);
  } else {
    *out = mod;
  }
  free(errbuf);
  return rc;
}

int tirc_compile_string(const char *text, size_t len, const char *name, const tirc_options_t *o,
                        tirc_module_t **out, char **out_error) {
  if (!text) return arg_error(out_error, "tirc_compile_string", "text is NULL");
  if (!out) return arg_error(out_error, "tirc_compile_string", "out_module is NULL");
  return compile(NULL, text, len, name, o, out, out_error);
}

int tirc_compile_file(const char *path, const tirc_options_t *o, tirc_module_t **out,
                      char **out_error) {
  if (!path) return arg_error(out_error, "tirc_compile_file", "path is NULL");
  if (!out) return arg_error(out_error, "tirc_compile_file", "out_module is NULL");
  return compile(path, NULL, 0, NULL, o, out, out_error);
}

int tirc_module_num_inputs(const tirc_module_t *mod) {
  return mod ? tir_codegen_def(mod->cg)->n_args : -1;
}
int tirc_module_num_outputs(const tirc_module_t *mod) {
  return mod ? tir_codegen_def(mod->cg)->n_results : -1;
}
const char *tirc_module_input_name(const tirc_module_t *mod, int i) {
  if (!mod) return NULL;
  const tirrt_program_def_t *d = tir_codegen_def(mod->cg);
  return i >= 0 && i < d->n_args ? d->values[d->args[i]].name : NULL;
}
const char *tirc_module_ir(const tirc_module_t *mod) { return mod ? mod->ir : NULL; }
const char *tirc_module_timings(const tirc_module_t *mod) { return mod ? mod->timings : NULL; }
const char *tirc_module_dump(const tirc_module_t *mod) {
  return !mod ? NULL : mod->dump ? mod->dump : "";
}

/* ------------------------------------------------------------ tensors */

static const struct {
  uint8_t code, bits;
  tirrt_dtype_t dt;
} DT[] = {{6, 8, TIRRT_DTYPE_BOOL}, {0, 8, TIRRT_DTYPE_I8},   {0, 16, TIRRT_DTYPE_I16},
          {0, 32, TIRRT_DTYPE_I32}, {0, 64, TIRRT_DTYPE_I64}, {1, 8, TIRRT_DTYPE_U8},
          {2, 16, TIRRT_DTYPE_F16}, {4, 16, TIRRT_DTYPE_BF16}, {2, 32, TIRRT_DTYPE_F32},
          {2, 64, TIRRT_DTYPE_F64}};

static bool to_desc(const tirc_dltensor_t *t, tirrt_tensor_desc_t *d, char *err, size_t n) {
  if (t->device.device_type != 1 && t->device.device_type != 2) {
    snprintf(err, n, "only CPU and CUDA tensors (DLPack device types 1 and 2) are supported, "
             "got device type %d", t->device.device_type);
    return false;
  }
  if (t->ndim < 0 || t->ndim > TIRRT_MAX_RANK || (t->ndim && !t->shape) || t->dtype.lanes != 1) {
    snprintf(err, n, "unsupported tensor (ndim %d, lanes %d)", t->ndim, t->dtype.lanes);
    return false;
  }
  size_t k = 0;
  while (k < sizeof DT / sizeof DT[0] && !(DT[k].code == t->dtype.code && DT[k].bits == t->dtype.bits)) k++;
  if (k == sizeof DT / sizeof DT[0]) {
    snprintf(err, n, "unsupported DLPack dtype (code %d, bits %d)", t->dtype.code, t->dtype.bits);
    return false;
  }
  d->dtype = DT[k].dt;
  d->rank = t->ndim;
  for (int i = 0; i < t->ndim; i++) d->shape[i] = t->shape[i];
  return true;
}

/* A tensor with elements needs data (to_desc has checked the rest). */
static bool has_data(const tirc_dltensor_t *t, const tirrt_tensor_desc_t *d, char *err, size_t n) {
  size_t bytes = 0;
  tirrt_status_t s = tirrt_tensor_desc_check(d, NULL, &bytes);
  if (s) {
    snprintf(err, n, "%s", tirrt_status_message(s));
    tirrt_status_free(s);
    return false;
  }
  if (!t->data && bytes) {
    snprintf(err, n, "data is NULL for %zu bytes", bytes);
    return false;
  }
  return true;
}

static bool contiguous(const tirc_dltensor_t *t) {
  if (!t->strides) return true;
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] == 0) return true; /* no element to read: any strides (torch gives arbitrary ones) */
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->strides[i] != s) return false;
    s *= t->shape[i];
  }
  return true;
}

static void *base(const tirc_dltensor_t *t) { return (char *)t->data + t->byte_offset; }

/* Descriptions and dense data for the inputs; strided ones are copied (owned
 * entries in *owned). */
static int gather_inputs(tirc_module_t *mod, const tirc_dltensor_t *in, int n,
                         tirrt_tensor_desc_t *descs, const void **datas, void **owned,
                         char **out_error) {
  if (n != tirc_module_num_inputs(mod)) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %d inputs, got %d", tirc_module_num_inputs(mod), n);
    set_error(out_error, msg);
    return 2;
  }
  for (int i = 0; i < n; i++) {
    char msg[200];
    if (!to_desc(&in[i], &descs[i], msg, sizeof msg) || !has_data(&in[i], &descs[i], msg, sizeof msg)) {
      char full[300];
      snprintf(full, sizeof full, "input %s: %s", tirc_module_input_name(mod, i), msg);
      set_error(out_error, full);
      return 1;
    }
    datas[i] = base(&in[i]);
    if (contiguous(&in[i])) continue;
    if (in[i].device.device_type == 2) {
      char full[300];
      snprintf(full, sizeof full, "input %s: CUDA tensors must be contiguous (strided CUDA "
               "inputs are not supported yet)", tirc_module_input_name(mod, i));
      set_error(out_error, full);
      return 2;
    }
    size_t bytes;
    tirrt_status_t s = tirrt_tensor_desc_check(&descs[i], NULL, &bytes);
    if (!s && !(owned[i] = malloc(bytes ? bytes : 1))) return set_error(out_error, "out of memory"), 3;
    if (!s) s = tirrt_copy_strided(&descs[i], datas[i], in[i].strides, owned[i], NULL);
    if (s) return status_error(s, out_error);
    datas[i] = owned[i];
  }
  return 0;
}

int tirc_module_output_shapes(tirc_module_t *mod, const tirc_dltensor_t *inputs, int n_inputs,
                              tirc_dldtype_t *out_dtypes, int32_t *out_ndims,
                              int64_t (*out_shapes)[16], char **out_error) {
  static const char FN[] = "tirc_module_output_shapes";
  if (!mod) return arg_error(out_error, FN, "module is NULL");
  if (!inputs && n_inputs > 0) return arg_error(out_error, FN, "inputs is NULL");
  if (!out_dtypes || !out_ndims || !out_shapes)
    return arg_error(out_error, FN, "an out-parameter (dtypes, ndims or shapes) is NULL");
  int n = tirc_module_num_inputs(mod), nr = tirc_module_num_outputs(mod);
  tirrt_tensor_desc_t *descs = calloc((size_t)n + 1, sizeof *descs);
  tirrt_tensor_desc_t *res = calloc((size_t)nr + 1, sizeof *res);
  int rc = 3;
  char msg[200];
  if (!descs || !res) goto done;
  rc = 2;
  if (n_inputs != n) {
    snprintf(msg, sizeof msg, "expected %d inputs, got %d", n, n_inputs);
    set_error(out_error, msg);
    goto done;
  }
  rc = 1;
  for (int i = 0; i < n; i++)
    if (!to_desc(&inputs[i], &descs[i], msg, sizeof msg)) {
      set_error(out_error, msg);
      goto done;
    }
  tirrt_status_t s = tirrt_program_result_descs(mod->prog, descs, res);
  if (s) {
    rc = status_error(s, out_error);
    goto done;
  }
  for (int j = 0; j < nr; j++) {
    for (size_t k = 0; k < sizeof DT / sizeof DT[0]; k++)
      if (DT[k].dt == res[j].dtype) out_dtypes[j] = (tirc_dldtype_t){DT[k].code, DT[k].bits, 1};
    out_ndims[j] = res[j].rank;
    for (int k = 0; k < res[j].rank; k++) out_shapes[j][k] = res[j].shape[k];
  }
  rc = 0;
done:
  free(descs);
  free(res);
  return rc;
}

/* 0 when the caller's output tensor has the result's dtype and shape. */
static int check_output(const tirc_dltensor_t *t, const tirrt_tensor_desc_t *res, int j,
                        char **out_error) {
  tirrt_tensor_desc_t want;
  char msg[400], a[160], b[160];
  if (!to_desc(t, &want, msg, sizeof msg)) {
    set_error(out_error, msg);
    return 1;
  }
  bool same = want.dtype == res->dtype && want.rank == res->rank;
  for (int k = 0; same && k < want.rank; k++) same = want.shape[k] == res->shape[k];
  if (same) return 0;
  tirrt_tensor_desc_format(res, a, sizeof a);
  tirrt_tensor_desc_format(&want, b, sizeof b);
  snprintf(msg, sizeof msg, "output %d is %s but the buffer given is %s", j, a, b);
  set_error(out_error, msg);
  return 1;
}

/* Where a call's tensors live: all on the CPU, or all on one GPU. */
static int run_device(const tirc_dltensor_t *in, int n, const tirc_dltensor_t *out, int nr,
                      tirrt_run_options_t *ro, char **out_error) {
  int type = -1, id = 0;
  for (int i = 0; i < n + nr; i++) {
    const tirc_dltensor_t *t = i < n ? &in[i] : &out[i - n];
    if (type < 0) type = t->device.device_type, id = t->device.device_id;
    if (t->device.device_type != type || (type == 2 && t->device.device_id != id)) {
      set_error(out_error, "all inputs and outputs must be on the same device");
      return 2;
    }
  }
  if (type == 2) {
    ro->device = TIRRT_DEVICE_CUDA;
    ro->device_index = id;
    ro->device_pointers = 1;
  }
  return 0;
}

void tirc_module_set_cuda_graphs(tirc_module_t *mod, int on) {
  if (mod) mod->graphs = on != 0;
}

int tirc_module_cuda_graphs_recorded(const tirc_module_t *mod) {
  return mod ? tirrt_program_graphs_recorded(mod->prog) : 0;
}

int tirc_module_run(tirc_module_t *mod, const tirc_dltensor_t *inputs, int n_inputs,
                    const tirc_dltensor_t *outputs, int n_outputs, uint64_t seed,
                    char **out_error) {
  return tirc_module_run_on_stream(mod, inputs, n_inputs, outputs, n_outputs, seed, NULL,
                                   out_error);
}

int tirc_module_run_on_stream(tirc_module_t *mod, const tirc_dltensor_t *inputs, int n_inputs,
                              const tirc_dltensor_t *outputs, int n_outputs, uint64_t seed,
                              void *cuda_stream, char **out_error) {
  static const char FN[] = "tirc_module_run";
  if (!mod) return arg_error(out_error, FN, "module is NULL");
  if (!inputs && n_inputs > 0) return arg_error(out_error, FN, "inputs is NULL");
  if (!outputs && n_outputs > 0) return arg_error(out_error, FN, "outputs is NULL");
  int n = tirc_module_num_inputs(mod), nr = tirc_module_num_outputs(mod);
  tirrt_tensor_desc_t *descs = calloc((size_t)n + 1, sizeof *descs);
  const void **datas = calloc((size_t)n + 1, sizeof *datas);
  void **owned = calloc((size_t)n + 1, sizeof *owned);
  tirrt_tensor_desc_t *rdesc = calloc((size_t)nr + 1, sizeof *rdesc);
  void **rdata = calloc((size_t)nr + 1, sizeof *rdata);
  int rc = 3;
  if (!descs || !datas || !owned || !rdesc || !rdata) goto done;
  if (n_outputs != nr) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected %d outputs, got %d", nr, n_outputs);
    set_error(out_error, msg);
    rc = 2;
    goto done;
  }
  for (int j = 0; j < nr; j++) {
    tirrt_tensor_desc_t d;
    char msg[200], full[300];
    if (!to_desc(&outputs[j], &d, msg, sizeof msg) || !has_data(&outputs[j], &d, msg, sizeof msg)) {
      snprintf(full, sizeof full, "output %d: %s", j, msg);
      set_error(out_error, full);
      rc = 1;
      goto done;
    }
  }
  if ((rc = gather_inputs(mod, inputs, n_inputs, descs, datas, owned, out_error))) goto done;
  tirrt_run_options_t ro = {.device = TIRRT_DEVICE_CPU, .seed = seed, .cuda_stream = cuda_stream,
                            .cuda_graphs = mod->graphs};
  if ((rc = run_device(inputs, n_inputs, outputs, n_outputs, &ro, out_error))) goto done;
  tirrt_status_t s;
  bool all_dense = true;
  for (int j = 0; j < nr; j++) all_dense &= contiguous(&outputs[j]);
  if (ro.device == TIRRT_DEVICE_CUDA || all_dense) {
    /* Results go straight into the caller's dense buffers (the last
     * instruction writes them), once their types are checked. */
    if ((s = tirrt_program_result_descs(mod->prog, descs, rdesc))) {
      rc = status_error(s, out_error);
      goto done;
    }
    void **bufs = calloc((size_t)nr + 1, sizeof *bufs);
    if (!bufs) {
      rc = 3;
      goto done;
    }
    for (int j = 0; j < nr && !rc; j++) {
      if ((rc = check_output(&outputs[j], &rdesc[j], j, out_error))) break;
      if (!all_dense) {
        set_error(out_error, "CUDA outputs must be contiguous");
        rc = 2;
      }
      bufs[j] = base(&outputs[j]);
    }
    if (!rc && (s = tirrt_program_execute(mod->prog, &ro, descs, datas, bufs, rdesc, NULL, NULL)))
      rc = status_error(s, out_error);
    free(bufs);
    goto done;
  }
  if ((s = tirrt_program_execute(mod->prog, &ro, descs, datas, NULL, rdesc, rdata, NULL))) {
    rc = status_error(s, out_error);
    goto done;
  }
  for (int j = 0; j < nr; j++) {
    if ((rc = check_output(&outputs[j], &rdesc[j], j, out_error))) goto done;
    if ((s = tirrt_copy_strided(&rdesc[j], rdata[j], NULL, base(&outputs[j]), outputs[j].strides))) {
      rc = status_error(s, out_error);
      goto done;
    }
  }
  rc = 0;
done:
  for (int i = 0; i < n && owned; i++) free(owned[i]);
  for (int j = 0; j < nr && rdata; j++) free(rdata[j]);
  free(descs);
  free(datas);
  free(owned);
  free(rdesc);
  free(rdata);
  return rc;
}
