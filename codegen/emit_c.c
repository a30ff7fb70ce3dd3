/* emit_c.c — writes a program table as a C translation unit.
 *
 * The output includes only the runtime's public header.  Constants are
 * string literals of hex escapes (compilers read those far faster than
 * initializer lists), 16-byte aligned so kernels may load them directly.
 * Generated CUDA kernels are written with their cubin, PTX and source:
 * short texts as readable string literals, long ones and binaries as
 * literals of hex escapes too.  Those exceed the 4095 characters ISO C
 * promises for a literal (-Wpedantic says so); gcc and clang take any
 * length, and an initializer list compiles ~15x slower. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "codegen.h"

static void c_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\%03o", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void c_double(FILE *f, double v) {
  if (isnan(v)) fputs("NAN", f);
  else if (isinf(v)) fputs(v > 0 ? "INFINITY" : "-INFINITY", f);
  else fprintf(f, "%.17g", v);
}

static void int_array(FILE *f, const char *name, const int32_t *v, int32_t n) {
  fprintf(f, "static const int32_t %s[] = {", name);
  for (int32_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", v[i]);
  if (n == 0) fputs("0", f);
  fputs("};\n", f);
}

/* `n` bytes as a string literal of hex escapes (NUL-terminated, as every
 * literal is): gcc reads a cubin this way about 15x faster than as an
 * initializer list (0.6 s against 9 s for 8 MB), which was most of a
 * model's compile time with a warm kernel cache. */
static void byte_array(FILE *f, const char *name, const void *data, uint64_t n) {
  const unsigned char *p = data;
  fprintf(f, "static const _Alignas(16) char %s[] =", name);
  for (uint64_t i = 0; i < n; i++) {
    if (i % 64 == 0) fputs("\n  \"", f);
    fprintf(f, "\\x%02x", p[i]);
    if (i % 64 == 63 || i + 1 == n) fputc('"', f);
  }
  fputs(n == 0 ? " \"\";\n" : ";\n", f);
}

/* A NUL-terminated text, as a literal when short enough, else as an array. */
static void text(FILE *f, const char *name, const char *s) {
  size_t n = strlen(s);
  if (n > 4000) {
    byte_array(f, name, s, n);
    return;
  }
  fprintf(f, "static const char %s[] =", name);
  for (const char *line = s; *line;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
    fputs("\n  \"", f);
    for (size_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char)line[i];
      if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
      else if (c == '\n') fputs("\\n", f);
      else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\%03o", c);
      else fputc(c, f);
    }
    fputc('"', f);
    line += len;
  }
  fputs(n ? ";\n" : " \"\";\n", f);
}

/* The first kernel with k's binaries and source (the runs of repeated
 * layers share them: written once). */
static int32_t same_code(const tirrt_program_def_t *d, int32_t k) {
  const tirrt_kernel_def_t *kd = &d->kernels[k];
  for (int32_t j = 0; j < k; j++) {
    const tirrt_kernel_def_t *o = &d->kernels[j];
    if (o->cubin == kd->cubin && o->ptx == kd->ptx && o->source == kd->source) return j;
  }
  return k;
}

static void kernels(FILE *f, const tirrt_program_def_t *d) {
  for (int32_t k = 0; k < d->n_kernels; k++) {
    const tirrt_kernel_def_t *kd = &d->kernels[k];
    char name[48];
    snprintf(name, sizeof name, "k%d_in", k);
    int_array(f, name, kd->in, kd->n_in);
    snprintf(name, sizeof name, "k%d_out", k);
    int_array(f, name, kd->out, kd->n_out);
    if (same_code(d, k) != k) continue; /* written with the first kernel of this code */
    if (kd->cubin) {
      snprintf(name, sizeof name, "k%d_cubin", k);
      byte_array(f, name, kd->cubin, kd->cubin_size);
    }
    if (kd->ptx) {
      snprintf(name, sizeof name, "k%d_ptx", k);
      text(f, name, kd->ptx);
    }
    if (kd->source) {
      snprintf(name, sizeof name, "k%d_source", k);
      text(f, name, kd->source);
    }
  }
  fputs("static const tirrt_kernel_def_t kernels[] = {\n", f);
  for (int32_t k = 0; k < d->n_kernels; k++) {
    const tirrt_kernel_def_t *kd = &d->kernels[k];
    fputs("  {.name = ", f);
    c_string(f, kd->name);
    fprintf(f, ", .kind = %d, .first_inst = %d, .n_insts = %d, .space = %d,\n", kd->kind,
            kd->first_inst, kd->n_insts, kd->space);
    fprintf(f, "   .n_in = %d, .in = k%d_in, .n_out = %d, .out = k%d_out, .block_size = %d, .arch = %d,\n",
            kd->n_in, k, kd->n_out, k, kd->block_size, kd->arch);
    int32_t c = same_code(d, k);
    if (kd->cubin) fprintf(f, "   .cubin = k%d_cubin, .cubin_size = %" PRIu64 "u,", c, kd->cubin_size);
    else fputs("   .cubin = 0, .cubin_size = 0,", f);
    if (kd->ptx) fprintf(f, " .ptx = (const char *)k%d_ptx,", c);
    if (kd->source) fprintf(f, " .source = (const char *)k%d_source", c);
    fputs("},\n", f);
  }
  fputs("};\n", f);
}

static const char *const OPCODE[TIRRT_OP_COUNT] = {
    "UNARY", "BINARY", "WHERE", "MASKED_FILL", "CAST", "REDUCE", "SOFTMAX", "LAYER_NORM",
    "RMS_NORM", "MATMUL", "LINEAR", "RESHAPE", "PERMUTE", "EXPAND", "SLICE", "CONCAT", "COPY",
    "ARANGE", "FULL", "TRI", "EMBEDDING", "DROPOUT", "SDPA"};

/* One instruction as a designated initializer: the opcode's member of the
 * attribute union by name (tirrt.h), so the table reads like the program. */
static void inst(FILE *f, const tirrt_inst_t *in, int32_t i) {
  const tirrt_inst_attrs_t *a = &in->a;
  fprintf(f, "  {.op = TIRRT_OP_%s, .out = %d, .n_in = %d, .in = i%d_in", OPCODE[in->op], in->out,
          in->n_in, i);
  switch (in->op) {
  case TIRRT_OP_UNARY: fprintf(f, ", .a.unary = {.fn = %d}", a->unary.fn); break;
  case TIRRT_OP_BINARY: fprintf(f, ", .a.binary = {.fn = %d}", a->binary.fn); break;
  case TIRRT_OP_MASKED_FILL: case TIRRT_OP_FULL:
    fputs(", .a.fill = {.value = ", f);
    c_double(f, a->fill.value);
    fputs("}", f);
    break;
  case TIRRT_OP_REDUCE:
    fprintf(f, ", .a.reduce = {.fn = %d, .dims_mask = 0x%xu}", a->reduce.fn, (unsigned)a->reduce.dims_mask);
    break;
  case TIRRT_OP_SOFTMAX:
    fprintf(f, ", .a.softmax = {.dim = %d, .log = %d}", a->softmax.dim, a->softmax.log);
    break;
  case TIRRT_OP_LAYER_NORM: case TIRRT_OP_RMS_NORM:
    fprintf(f, ", .a.norm = {.ndims = %d, .eps = ", a->norm.ndims);
    c_double(f, a->norm.eps);
    fputs("}", f);
    break;
  case TIRRT_OP_LINEAR:
    if (a->linear.act == TIRRT_ACT_GELU_TANH) fputs(", .a.linear = {.act = TIRRT_ACT_GELU_TANH}", f);
    break;
  case TIRRT_OP_PERMUTE: {
    int last = TIRRT_MAX_RANK - 1;
    while (last > 0 && a->permute.perm[last] == 0) last--;
    fputs(", .a.permute = {.perm = {", f);
    for (int k = 0; k <= last; k++) fprintf(f, "%s%d", k ? ", " : "", a->permute.perm[k]);
    fputs("}}", f);
    break;
  }
  case TIRRT_OP_SLICE:
    fprintf(f, ", .a.slice = {.dim = %d, .start = %d, .step = %d}", a->slice.dim, a->slice.start,
            a->slice.step);
    break;
  case TIRRT_OP_CONCAT: fprintf(f, ", .a.concat = {.dim = %d}", a->concat.dim); break;
  case TIRRT_OP_ARANGE:
    fprintf(f, ", .a.arange = {.start = %d, .step = %d}", a->arange.start, a->arange.step);
    break;
  case TIRRT_OP_TRI:
    fprintf(f, ", .a.tri = {.diagonal = INT64_C(%" PRId64 "), .upper = %d}", a->tri.diagonal,
            a->tri.upper);
    break;
  case TIRRT_OP_DROPOUT:
    fputs(", .a.dropout = {.p = ", f);
    c_double(f, a->dropout.p);
    fprintf(f, ", .stream = INT64_C(%" PRId64 ")}", a->dropout.stream);
    break;
  case TIRRT_OP_SDPA:
  case TIRRT_OP_PAGED_SDPA:
    fputs(",\n   .a.sdpa = {.scale = ", f);
    c_double(f, a->sdpa.scale);
    fputs(", .dropout_p = ", f);
    c_double(f, a->sdpa.dropout_p);
    fprintf(f, ", .is_causal = %d, .bottom_right = %d, .enable_gqa = %d, .exact_mask = %d, "
               ".window = INT64_C(%" PRId64 "), .softcap = ",
            a->sdpa.is_causal, a->sdpa.bottom_right, a->sdpa.enable_gqa, a->sdpa.exact_mask,
            a->sdpa.window);
    c_double(f, a->sdpa.softcap);
    fprintf(f, ", .stream = INT64_C(%" PRId64 "), .kernel = %d}", a->sdpa.stream, a->sdpa.kernel);
    break;
  default: break; /* no attributes */
  }
  fputs("},\n", f);
}

static const char *const DTYPE[] = {
    "TIRRT_DTYPE_BOOL", "TIRRT_DTYPE_I8",   "TIRRT_DTYPE_I16",  "TIRRT_DTYPE_I32",
    "TIRRT_DTYPE_I64",  "TIRRT_DTYPE_U8",   "TIRRT_DTYPE_F16",  "TIRRT_DTYPE_BF16",
    "TIRRT_DTYPE_F32",  "TIRRT_DTYPE_F64"};

TirStatus tir_codegen_emit_c(const TirCodegen *cg, const char *source_name, bool with_main,
                             FILE *f) {
  const tirrt_program_def_t *d = tir_codegen_def(cg);
  fputs("/* Generated by tirc from ", f);
  fputs(source_name ? source_name : "a module", f);
  fputs(": the program table the tirc runtime executes. Do not edit. */\n", f);
  fputs("#include <math.h>\n#include <stdint.h>\n\n#include \"tirrt.h\"\n\n", f);

  fputs("static const char *const syms[] = {", f);
  for (int32_t i = 0; i < d->n_syms; i++) {
    if (i) fputs(", ", f);
    c_string(f, d->syms[i]);
  }
  fputs(d->n_syms ? "};\n" : "0};\n", f);

  fputs("static const tirrt_dim_node_t dims[] = {\n", f);
  for (int32_t i = 0; i < d->n_dims; i++)
    fprintf(f, "  {%d, %d, %d, INT64_C(%" PRId64 ")},\n", d->dims[i].op, d->dims[i].a, d->dims[i].b,
            d->dims[i].value);
  fputs(d->n_dims ? "};\n" : "  {0, 0, 0, 0}};\n", f);

  for (int32_t v = 0; v < d->n_values; v++) {
    const tirrt_value_def_t *vd = &d->values[v];
    char name[32];
    snprintf(name, sizeof name, "v%d_dims", v);
    int_array(f, name, vd->dims, vd->rank);
    if (vd->kind != TIRRT_VALUE_CONST) continue;
    fprintf(f, "static const _Alignas(16) char v%d_data[] =", v);
    const unsigned char *p = vd->data;
    for (uint64_t i = 0; i < vd->nbytes; i++) {
      if (i % 32 == 0) fputs("\n  \"", f);
      fprintf(f, "\\x%02x", p[i]);
      if (i % 32 == 31 || i + 1 == vd->nbytes) fputc('"', f);
    }
    if (vd->nbytes == 0) fputs(" \"\"", f);
    fputs(";\n", f);
  }
  fputs("static const tirrt_value_def_t values[] = {\n", f);
  for (int32_t v = 0; v < d->n_values; v++) {
    const tirrt_value_def_t *vd = &d->values[v];
    fputs("  {", f);
    c_string(f, vd->name);
    fprintf(f, ", %s, %d, v%d_dims, %d, ", DTYPE[vd->dtype], vd->rank, v, vd->kind);
    if (vd->kind == TIRRT_VALUE_CONST) fprintf(f, "v%d_data, %" PRIu64 "u},\n", v, vd->nbytes);
    else fputs("0, 0},\n", f);
  }
  fputs("};\n", f);

  for (int32_t i = 0; i < d->n_insts; i++) {
    char name[32];
    snprintf(name, sizeof name, "i%d_in", i);
    int_array(f, name, d->insts[i].in, d->insts[i].n_in);
  }
  fputs("static const tirrt_inst_t insts[] = {\n", f);
  for (int32_t i = 0; i < d->n_insts; i++) inst(f, &d->insts[i], i);
  if (d->n_insts == 0) fputs("  {.op = 0}\n", f);
  fputs("};\n", f);
  int_array(f, "args", d->args, d->n_args);
  int_array(f, "results", d->results, d->n_results);
  if (d->n_kernels > 0) kernels(f, d);

  fputs("\nconst tirrt_program_def_t tirc_program = {\n  TIRRT_PROGRAM_ABI, ", f);
  c_string(f, d->name);
  fprintf(f, ",\n  %d, syms, %d, dims, %d, values, %d, args, %d, insts, %d, results,\n  %d, %s, %d};\n",
          d->n_syms, d->n_dims, d->n_values, d->n_args, d->n_insts, d->n_results, d->n_kernels,
          d->n_kernels > 0 ? "kernels" : "0", d->target);
  if (with_main)
    fputs("\nint main(int argc, char **argv) { return tirrt_main(&tirc_program, argc, argv); }\n", f);
  return ferror(f) ? TIR_ERR_INTERNAL : TIR_OK;
}
