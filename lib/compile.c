/* compile.c — the one compile pipeline (tirc_compile.h), shared by the tirc
 * driver and libtirc: the defaults, then parse -> passes -> lower -> CUDA
 * kernel fusion.  Writing it once keeps the driver's output and the torch
 * backend's modules the same program for the same options. */
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "passes.h"
#include "tirc_compile.h"
#include "tirc_internal.h"
#include "tirrt.h"

tirc_compile_options_t tirc_compile_defaults(void) {
  return (tirc_compile_options_t){.target = "cpu", .arch = "sm_80", .opt_level = 1};
}

void tirc_compile_defaults_for_host(tirc_compile_options_t *o) {
  /* The runtime reports no GPU in a CPU-only build, so no #ifdef here. */
  int n = 0, v = 0;
  tirrt_status_free(tirrt_cuda_device_count(&n));
  if (n <= 0) return;
  o->target = "cuda";
  tirrt_status_t s = tirrt_cuda_compute_capability(0, &v);
  if (s) {
    tirrt_status_free(s);
    return;
  }
  o->arch = v >= 90 ? "sm_90" : v >= 89 ? "sm_89" : v >= 86 ? "sm_86" : "sm_80";
}

TirStatus tirc_compile(const char *path, const char *text, size_t len, const char *name,
                       const tirc_compile_options_t *o, TirDiag *diag, TirModule **out_module,
                       TirCodegen **out_cg) {
  *out_module = NULL;
  *out_cg = NULL;
  /* Callers check values in their own words first; this guards the rest. */
  const struct {
    TircOption opt;
    const char *name, *value;
  } v[] = {{TIRC_OPTION_TARGET, "target", o->target},
           {TIRC_OPTION_ARCH, "arch", o->arch},
           {TIRC_OPTION_SDPA_KERNEL, "sdpa_kernel", o->sdpa_kernel}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    if (v[i].opt == TIRC_OPTION_SDPA_KERNEL && !v[i].value) continue; /* NULL: choose per sdpa */
    if (!tirc_option_valid(v[i].opt, v[i].value)) {
      tir_diag_error(diag, TIR_LOC_UNKNOWN, "unknown %s '%.64s' (expected %s)", v[i].name,
                     v[i].value ? v[i].value : "(null)", tirc_option_choices(v[i].opt));
      return TIR_ERR_USAGE;
    }
  }
  if (o->opt_level != 0 && o->opt_level != 1) {
    tir_diag_error(diag, TIR_LOC_UNKNOWN, "unknown optimization level %d (expected 0|1)",
                   o->opt_level);
    return TIR_ERR_USAGE;
  }

  TirParseOptions po = {.loader = tirc_load_const};
  TirModule *m = NULL;
  double t0 = tir_now_ms();
  TirStatus rc = path ? tir_parse_file(path, diag, &po, &m)
                      : tir_parse(name ? name : "<string>", text, len, diag, &po, &m);
  tir_timing_add(o->timings, "parse", tir_now_ms() - t0, NULL);
  if (rc != TIR_OK) return rc;
  TirPassOptions popts = {.diag = diag,
                          .target = o->target,
                          .arch = o->arch,
                          .sdpa_kernel = o->sdpa_kernel,
                          .explain_kernels = o->explain_kernels,
                          .remarks = o->remarks,
                          .verify_each = true,
                          .dump = o->dump,
                          .dump_filter = o->dump_filter,
                          .timings = o->timings};
  const char *pipeline = o->passes             ? o->passes
                         : o->opt_level == 0 ? tir_o0_pipeline()
                                             : tir_default_pipeline();
  TirCodegen *cg = NULL;
  rc = tir_run_pipeline(m, pipeline, &popts);
  if (rc == TIR_OK && !o->ir_only) {
    t0 = tir_now_ms();
    rc = tir_codegen_lower(m, diag, &cg);
    tir_timing_add(o->timings, "lower", tir_now_ms() - t0, NULL);
  }
  if (rc == TIR_OK && cg && strcmp(o->target, "cuda") == 0) {
    /* The generated kernels go into the table (NVRTC, cached on disk). */
    TirCudaFuseOptions fo = {.arch = atoi(o->arch + 3), .timings = o->timings};
    rc = tir_codegen_fuse_cuda(cg, &fo, diag);
  }
  if (rc != TIR_OK) {
    tir_codegen_free(cg);
    tir_module_free(m);
    return rc;
  }
  *out_module = m;
  *out_cg = cg;
  return TIR_OK;
}
