/* tirrt.h — the public C API of the tirc runtime library (tirrt).
 *
 * The runtime loads inputs and parameters for compiled tirc programs and
 * writes their outputs (.npy and .safetensors, see spec §9).  It never
 * depends on the compiler.  This header grows as devices, tensors and
 * kernels are added.
 *
 * Conventions (they hold for every function in this header):
 *  - Everything is prefixed `tirrt_`; handle types are opaque.
 *  - A function that can fail returns a tirrt_status_t.  NULL means OK; any
 *    other value is owned by the caller, who must call tirrt_status_free()
 *    exactly once (tirrt_status_annotate() consumes its argument instead).
 *  - Out-parameters come last.  On failure they are left untouched unless a
 *    function says otherwise.
 *  - Ownership: a `void **out_data` buffer is allocated with malloc() and
 *    belongs to the caller, who releases it with free().  A `const` pointer
 *    handed out by a handle (a name, tensor data) is borrowed: it stays valid
 *    until that handle is closed.  Input pointers are only borrowed for the
 *    duration of the call.
 *  - Library code never exits or aborts on bad input; bad files produce an
 *    error status whose message names the file and the problem.
 *  - Tensor data is dense, row-major (C order), little-endian.  Bool elements
 *    are one byte each, always 0 or 1 when produced by this library.
 */
#ifndef TIRRT_H
#define TIRRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TIRRT_PRINTF(fmt_index, first_arg) \
  __attribute__((format(printf, fmt_index, first_arg)))
#else
#define TIRRT_PRINTF(fmt_index, first_arg)
#endif

/* ------------------------------------------------------------------------ */
/* Status                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum tirrt_status_code_e {
  TIRRT_STATUS_OK = 0,
  TIRRT_STATUS_INVALID_ARGUMENT, /* bad user input: a malformed file, a bad shape */
  TIRRT_STATUS_OUT_OF_MEMORY,
  TIRRT_STATUS_NOT_FOUND,        /* a missing file, tensor or key */
  TIRRT_STATUS_UNAVAILABLE,      /* a resource is absent, e.g. no GPU */
  TIRRT_STATUS_INTERNAL,         /* a bug in tirrt */
  TIRRT_STATUS_IO,               /* the operating system refused a read or write */
  TIRRT_STATUS_UNIMPLEMENTED,    /* valid input this build cannot handle */
} tirrt_status_code_t;

/* NULL is OK.  A non-NULL status carries a code and a message. */
typedef struct tirrt_status_s *tirrt_status_t;

/* The code of `status` (TIRRT_STATUS_OK for NULL). */
tirrt_status_code_t tirrt_status_code(tirrt_status_t status);
/* The message of `status` ("OK" for NULL); valid until the status is freed. */
const char *tirrt_status_message(tirrt_status_t status);
/* A short name for a code, e.g. "INVALID_ARGUMENT". */
const char *tirrt_status_code_name(tirrt_status_code_t code);
/* Releases `status`; NULL is allowed. */
void tirrt_status_free(tirrt_status_t status);
/* Returns a status with the same code whose message is the formatted prefix,
 * ": ", and the old message.  Consumes `status`; NULL in gives NULL out. */
tirrt_status_t tirrt_status_annotate(tirrt_status_t status, const char *fmt, ...)
    TIRRT_PRINTF(2, 3);

/* ------------------------------------------------------------------------ */
/* Element types and tensor descriptions                                     */
/* ------------------------------------------------------------------------ */

/* The order matches the compiler's dtype enum; do not reorder. */
typedef enum tirrt_dtype_e {
  TIRRT_DTYPE_BOOL = 0,
  TIRRT_DTYPE_I8,
  TIRRT_DTYPE_I16,
  TIRRT_DTYPE_I32,
  TIRRT_DTYPE_I64,
  TIRRT_DTYPE_U8,
  TIRRT_DTYPE_F16,
  TIRRT_DTYPE_BF16,
  TIRRT_DTYPE_F32,
  TIRRT_DTYPE_F64,
  TIRRT_DTYPE_COUNT
} tirrt_dtype_t;

/* The TIR spelling ("bool", "i8", ..., "f64"); "?" for an invalid value. */
const char *tirrt_dtype_name(tirrt_dtype_t dtype);
/* Bytes per element (1, 2, 4 or 8); 0 for an invalid value. */
size_t tirrt_dtype_size(tirrt_dtype_t dtype);
/* Parses a TIR spelling; NOT_FOUND for anything else. */
tirrt_status_t tirrt_dtype_from_name(const char *name, tirrt_dtype_t *out_dtype);

#define TIRRT_MAX_RANK 16

/* The type of a dense row-major tensor.  rank 0 is a scalar (one element);
 * shape[i] for i >= rank is ignored.  Shapes may contain 0. */
typedef struct tirrt_tensor_desc_s {
  tirrt_dtype_t dtype;
  int32_t rank;
  int64_t shape[TIRRT_MAX_RANK];
} tirrt_tensor_desc_t;

/* Validates `desc` (known dtype, 0 <= rank <= TIRRT_MAX_RANK, dims >= 0, and
 * the product of the non-zero dims times the element size fits in int64, so
 * every stride is representable) and gives its element and byte counts.
 * Either out-parameter may be NULL. */
tirrt_status_t tirrt_tensor_desc_check(const tirrt_tensor_desc_t *desc,
                                       int64_t *out_numel, size_t *out_nbytes);
/* Writes the TIR type of `desc`, e.g. "f32[2, 3]", like snprintf (returns the
 * length it wanted, always NUL-terminates when size > 0). */
int tirrt_tensor_desc_format(const tirrt_tensor_desc_t *desc, char *buf,
                             size_t size);

/* ------------------------------------------------------------------------ */
/* Bounded file reads                                                        */
/* ------------------------------------------------------------------------ */
/*
 * A file read in pieces, for formats whose header says how many bytes
 * follow (the .npy and .safetensors readers use it).  A reader reads the
 * header, then at most what the header promises, then checks the file ends:
 * /dev/zero, a FIFO or a file that lies about its size then costs at most
 * the (validated) promise and ends in an error, never in an endless read.
 */
typedef struct {
  int fd;
  const char *path; /* borrowed; names the file in messages */
  int64_t size;     /* a regular file's size when opened, else -1 (pipes, devices) */
  uint64_t offset;  /* bytes read so far */
} tirrt_reader_t;

/* Opens `path` for reading (a directory is an error). */
tirrt_status_t tirrt_reader_open(const char *path, tirrt_reader_t *out_reader);
/* Reads up to n bytes into buf, stopping early only at the end of the file;
 * *out_got says how many were read. */
tirrt_status_t tirrt_reader_read(tirrt_reader_t *reader, void *buf, size_t n,
                                 size_t *out_got);
/* The same into a malloc'd buffer (one spare byte after the end, set to
 * NUL).  The buffer grows as bytes arrive, so a short file never costs the
 * n it was asked for. */
tirrt_status_t tirrt_reader_read_alloc(tirrt_reader_t *reader, size_t n,
                                       void **out_buf, size_t *out_got);
/* A file format's header of exactly n bytes, into a malloc'd buffer as
 * above; a file that ends first is "PATH: truncated: header length N runs
 * past the end of the file". */
tirrt_status_t tirrt_reader_read_header(tirrt_reader_t *reader, uint64_t n, void **out_buf);
/* *out_at_end = 1 when the file has no more bytes (reads at most one). */
tirrt_status_t tirrt_reader_at_end(tirrt_reader_t *reader, int *out_at_end);
/* NULL is allowed. */
void tirrt_reader_close(tirrt_reader_t *reader);

/* ------------------------------------------------------------------------ */
/* .npy files (NumPy format versions 1.0, 2.0 and 3.0)                       */
/* ------------------------------------------------------------------------ */
/*
 * Supported descr strings: '|b1' (bool), 'i1' 'i2' 'i4' 'i8', 'u1', 'f2',
 * 'f4', 'f8' in either byte order ('<', '>', and '|' for one-byte types);
 * big-endian data is byte-swapped to little-endian on read.
 *
 * bf16: NumPy has no bfloat16.  ml_dtypes' bfloat16 arrays are saved by
 * np.save with descr '<V2' (raw two-byte records) and are loaded back with
 * `np.load(f).view(ml_dtypes.bfloat16)`.  tirrt follows that convention: a
 * 2-byte void descr ('<V2' or '|V2') reads as bf16, and bf16 is written as
 * '<V2'.  Other void sizes, structured dtypes and object arrays are rejected.
 *
 * fortran_order: True is accepted; the data is transposed to C order on read.
 * Bool bytes other than 0 read as 1.  The file must hold exactly the bytes
 * the header promises: truncated files and trailing bytes are errors.  The
 * header (the dict and its padding) may be at most 1 MiB (numpy writes well
 * under 1 KiB), and a file is read no further than the header promises.
 */

/* Reads the .npy file at `path`; on success *out_data is a malloc'd buffer of
 * tirrt_tensor_desc_check(out_desc) bytes (non-NULL even when empty). */
tirrt_status_t tirrt_npy_read(const char *path, tirrt_tensor_desc_t *out_desc,
                              void **out_data);
/* The same for a file image in memory; `name` (may be NULL) is used in
 * error messages in place of the path. */
tirrt_status_t tirrt_npy_read_memory(const void *bytes, size_t size,
                                     const char *name,
                                     tirrt_tensor_desc_t *out_desc,
                                     void **out_data);
/* Writes `data` (dense, little-endian, nbytes of `desc`) as a .npy file:
 * format 1.0, or 2.0 if the header would not fit, padded to 64 bytes. */
tirrt_status_t tirrt_npy_write(const char *path, const tirrt_tensor_desc_t *desc,
                               const void *data);
/* The same into a malloc'd buffer (*out_bytes, *out_size). */
tirrt_status_t tirrt_npy_write_memory(const tirrt_tensor_desc_t *desc,
                                      const void *data, void **out_bytes,
                                      size_t *out_size);

/* ------------------------------------------------------------------------ */
/* .safetensors files                                                        */
/* ------------------------------------------------------------------------ */
/*
 * Layout: an 8-byte little-endian header length N (at most 100 MB), N bytes
 * of UTF-8 JSON, then the data.  Dtypes: BOOL U8 I8 I16 I32 I64 F16 BF16
 * F32 F64.  The reader validates the whole header on open: every entry has
 * exactly `dtype`, `shape` and `data_offsets` (unknown fields are errors);
 * numbers are integers in [0, 2^53) (cJSON holds numbers as doubles; "1.0"
 * and "1e3" are rejected); the offsets match the shape; non-empty tensors
 * neither overlap nor leave gaps and together cover the data section exactly
 * (as the format requires; empty tensors may sit at any offset in bounds);
 * `__metadata__`, if present, maps strings to strings; keys are unique; the
 * header is UTF-8 without NUL characters and nests at most 16 levels.
 *
 * The file is read into memory once (not mmap'd: a file truncated under a
 * mapping would kill the process with SIGBUS): the 8-byte length, the
 * header, then exactly the data the header describes, and the file must end
 * there (so a FIFO or /dev/zero is an error, not an endless read).  Data
 * pointers point into that copy and are valid until close.  They are only as aligned as
 * the file makes them (writers, including ours, pad the header to 8 bytes);
 * copy with memcpy when alignment matters.  BOOL bytes other than 0 read as 1.
 */
typedef struct tirrt_safetensors_s tirrt_safetensors_t;

tirrt_status_t tirrt_safetensors_open(const char *path,
                                      tirrt_safetensors_t **out_file);
/* Parses a file image in memory.  The bytes are copied, so the caller may
 * release them right away.  `name` (may be NULL) names it in messages. */
tirrt_status_t tirrt_safetensors_open_memory(const void *bytes, size_t size,
                                             const char *name,
                                             tirrt_safetensors_t **out_file);
/* NULL is allowed. */
void tirrt_safetensors_close(tirrt_safetensors_t *file);

/* Number of tensors; they are indexed in header order. */
size_t tirrt_safetensors_count(const tirrt_safetensors_t *file);
/* Tensor `index`: its name, description and data (borrowed).  Any of the
 * out-parameters may be NULL.  NOT_FOUND if index >= count. */
tirrt_status_t tirrt_safetensors_get(const tirrt_safetensors_t *file,
                                     size_t index, const char **out_name,
                                     tirrt_tensor_desc_t *out_desc,
                                     const void **out_data);
/* Looks a tensor up by name (binary search); NOT_FOUND if absent. */
tirrt_status_t tirrt_safetensors_find(const tirrt_safetensors_t *file,
                                      const char *name,
                                      tirrt_tensor_desc_t *out_desc,
                                      const void **out_data);
/* The `__metadata__` value for `key`, or NULL if absent (borrowed). */
const char *tirrt_safetensors_metadata(const tirrt_safetensors_t *file,
                                       const char *key);

/* Writes `count` tensors in the given order, without metadata.  Names must
 * be distinct, valid UTF-8 without NUL, and not "__metadata__". */
tirrt_status_t tirrt_safetensors_write(const char *path, size_t count,
                                       const char *const *names,
                                       const tirrt_tensor_desc_t *descs,
                                       const void *const *datas);
/* The same into a malloc'd buffer (*out_bytes, *out_size). */
tirrt_status_t tirrt_safetensors_write_memory(size_t count,
                                              const char *const *names,
                                              const tirrt_tensor_desc_t *descs,
                                              const void *const *datas,
                                              void **out_bytes,
                                              size_t *out_size);

/* ------------------------------------------------------------------------ */
/* Programs.                                                                  */
/*                                                                            */
/* A compiled tirc program is a table: values (arguments, constants and       */
/* results of instructions), the dim expressions of their shapes, and the     */
/* instructions in order.  tirc writes these tables as C (the generated       */
/* program is the tables plus `main` calling tirrt_main) or builds them in    */
/* memory (the embedding API).  The tables are borrowed by the runtime for    */
/* the lifetime of a tirrt_program_t.                                         */
/* ------------------------------------------------------------------------ */

#define TIRRT_PROGRAM_ABI 4

/* Operation numbers of the UNARY, BINARY and REDUCE instructions: the rows
 * of the one elementwise op table (common/tir_ew_table.h, macros only), in
 * its order, so that the compiler, this runtime, the CUDA kernels and the
 * generated kernels number them alike.  A program compiled against this
 * header needs common/ on its include path as well (tirc --emit=exe passes
 * both). */
#include "tir_ew_table.h"
#define TIRRT_OP_ROW_UN_(E, ...) TIRRT_UN_##E,
#define TIRRT_OP_ROW_BIN_(E, ...) TIRRT_BIN_##E,
#define TIRRT_OP_ROW_RED_(E, name) TIRRT_RED_##E,
#define TIRRT_OP_ROW_ONE_(...) +1
typedef enum { TIR_EW_UNARY_ROWS(TIRRT_OP_ROW_UN_) } tirrt_unop_t;
typedef enum { TIR_EW_BINARY_ROWS(TIRRT_OP_ROW_BIN_) } tirrt_binop_t;
typedef enum { TIR_EW_REDUCE_ROWS(TIRRT_OP_ROW_RED_) } tirrt_redop_t;
/* How many there are (outside the enums, so switches need no case for them). */
enum {
  TIRRT_UN_COUNT = 0 TIR_EW_UNARY_ROWS(TIRRT_OP_ROW_ONE_),
  TIRRT_BIN_COUNT = 0 TIR_EW_BINARY_ROWS(TIRRT_OP_ROW_ONE_),
  TIRRT_RED_COUNT = 0 TIR_EW_REDUCE_ROWS(TIRRT_OP_ROW_ONE_)
};
#undef TIRRT_OP_ROW_UN_
#undef TIRRT_OP_ROW_BIN_
#undef TIRRT_OP_ROW_RED_
#undef TIRRT_OP_ROW_ONE_

/* The activation a LINEAR instruction applies to its result (the compiler
 * folds linear + gelu(tanh) of a result nothing else reads into one
 * instruction; the result equals running the two). */
typedef enum { TIRRT_ACT_NONE = 0, TIRRT_ACT_GELU_TANH = 1, TIRRT_ACT_COUNT } tirrt_act_t;

/* The attention kernel of an SDPA instruction: the compiler's choice
 * (common/sdpa_select.h), or ANY when the program left it open and the GPU
 * runtime applies the same rule. */
typedef enum {
  TIRRT_SDPA_ANY = 0, TIRRT_SDPA_FLASH = 1, TIRRT_SDPA_MEM_EFFICIENT = 2, TIRRT_SDPA_MATH = 3,
  TIRRT_SDPA_KERNEL_COUNT
} tirrt_sdpa_kernel_t;

/* Dim expression nodes; a node refers only to earlier nodes. */
typedef enum {
  TIRRT_DIM_CONST,    /* value */
  TIRRT_DIM_SYM,      /* symbol number `value` */
  TIRRT_DIM_ADD,      /* a + b */
  TIRRT_DIM_SUB,      /* a - b */
  TIRRT_DIM_MUL,      /* a * b */
  TIRRT_DIM_FLOORDIV, /* floor(a / b) */
} tirrt_dim_op_t;

typedef struct tirrt_dim_node_s {
  int32_t op; /* tirrt_dim_op_t */
  int32_t a, b;
  int64_t value;
} tirrt_dim_node_t;

typedef enum {
  TIRRT_VALUE_ARG,   /* bound from the caller (or --in / --params) */
  TIRRT_VALUE_CONST, /* data in the table */
  TIRRT_VALUE_TEMP,  /* produced by an instruction */
} tirrt_value_kind_t;

typedef struct tirrt_value_def_s {
  const char *name;     /* argument name (without %), or a name for messages */
  int32_t dtype;        /* tirrt_dtype_t */
  int32_t rank;
  const int32_t *dims;  /* rank dim-node indices */
  int32_t kind;         /* tirrt_value_kind_t */
  const void *data;     /* CONST: dense row-major bytes */
  uint64_t nbytes;      /* CONST: size of data */
} tirrt_value_def_t;

/* Instruction opcodes, with their inputs and the member of the attribute
 * union tirrt_inst_t.a they use ("-": none). */
typedef enum {
  TIRRT_OP_UNARY,       /* in x; a.unary */
  TIRRT_OP_BINARY,      /* in a, b; a.binary */
  TIRRT_OP_WHERE,       /* in cond, a, b; - */
  TIRRT_OP_MASKED_FILL, /* in x, mask; a.fill */
  TIRRT_OP_CAST,        /* in x (dtype from the output); - */
  TIRRT_OP_REDUCE,      /* in x; a.reduce */
  TIRRT_OP_SOFTMAX,     /* in x; a.softmax */
  TIRRT_OP_LAYER_NORM,  /* in x [, w [, b]]; a.norm */
  TIRRT_OP_RMS_NORM,    /* in x [, w]; a.norm (ndims unused) */
  TIRRT_OP_MATMUL,      /* in a, b; - */
  TIRRT_OP_LINEAR,      /* in x, w [, b]; a.linear */
  TIRRT_OP_RESHAPE,     /* in x: a view when strides allow, else a copy
                           (also squeeze and unsqueeze); - */
  TIRRT_OP_PERMUTE,     /* in x; a.permute */
  TIRRT_OP_EXPAND,      /* in x (broadcast to the output shape); - */
  TIRRT_OP_SLICE,       /* in x; a.slice */
  TIRRT_OP_CONCAT,      /* in x1..xn; a.concat */
  TIRRT_OP_COPY,        /* in x: a contiguous copy when x is not contiguous; - */
  TIRRT_OP_ARANGE,      /* a.arange */
  TIRRT_OP_FULL,        /* a.fill */
  TIRRT_OP_TRI,         /* in x; a.tri */
  TIRRT_OP_EMBEDDING,   /* in weight, indices; - */
  TIRRT_OP_DROPOUT,     /* in x; a.dropout */
  TIRRT_OP_SDPA,        /* in q, k, v [, mask]; a.sdpa */
  TIRRT_OP_PAGED_SDPA,  /* in q, k_cache, v_cache, block_table, kv_lens; a.sdpa (scale,
                           is_causal, enable_gqa, window, softcap; bottom_right = 1) */
  TIRRT_OP_COUNT
} tirrt_opcode_t;

/* The attributes of one instruction, one struct per opcode family.  Dims
 * (dim, perm[], dims_mask) are already normalized to [0, rank); start and
 * step fields are dim-node indices, evaluated per run.  Members an opcode
 * does not use are zero. */
typedef union tirrt_inst_attrs_u {
  struct { int32_t fn; } unary;                  /* tirrt_unop_t */
  struct { int32_t fn; } binary;                 /* tirrt_binop_t */
  struct { double value; } fill;                 /* MASKED_FILL, FULL */
  struct { int32_t fn; uint32_t dims_mask; } reduce; /* tirrt_redop_t; bit k: reduce dim k */
  struct { int32_t dim; int32_t log; } softmax;  /* log: log_softmax */
  struct { int32_t ndims; double eps; } norm;    /* ndims: trailing dims normalized (layer_norm);
                                                    eps < 0: the dtype's epsilon (rms_norm) */
  struct { int32_t act; } linear;                /* tirrt_act_t, applied after the bias */
  struct { int32_t perm[TIRRT_MAX_RANK]; } permute; /* output dim k is input dim perm[k] */
  struct { int32_t dim, start, step; } slice;    /* start, step: dim nodes */
  struct { int32_t dim; } concat;
  struct { int32_t start, step; } arange;        /* dim nodes */
  struct { int64_t diagonal; int32_t upper; } tri; /* upper: triu, else tril */
  struct { double p; int64_t stream; } dropout;  /* stream: the op's random stream */
  struct {
    double scale;       /* NaN: 1/sqrt(E) */
    double dropout_p;
    int32_t is_causal, bottom_right, enable_gqa;
    int32_t exact_mask; /* a float mask is added as written (docs/language.md) */
    int64_t window;     /* > 0: key j visible only if j > i' - window (i' aligned as causal) */
    double softcap;     /* > 0: scores become softcap * tanh(score / softcap) */
    int64_t stream;     /* dropout's random stream */
    int32_t kernel;     /* tirrt_sdpa_kernel_t */
  } sdpa;
} tirrt_inst_attrs_t;

typedef struct tirrt_inst_s {
  int32_t op;         /* tirrt_opcode_t */
  int32_t out;        /* value index */
  int32_t n_in;
  const int32_t *in;  /* value indices */
  tirrt_inst_attrs_t a;
} tirrt_inst_t;

/* Generated CUDA kernels (the CUDA target).  tirc fuses runs of
 * instructions (elementwise, broadcast, views, and row-wise reductions,
 * softmax and norms) into one CUDA kernel each, compiled by NVRTC at tirc
 * time.  On a GPU the executor launches the kernel in place of the
 * instructions [first_inst, first_inst + n_insts); on the CPU it runs those
 * instructions and ignores the kernel, so one program runs on both.
 *
 * Launch contract.  The kernel is `extern "C" __global__ void NAME(
 * tirrt_fused_params_t p)` (the generated source declares the same struct).
 * The iteration space is the shape of value `space`.  The executor fills
 * data[] with the inputs (in[] order) then the outputs (out[] order), and
 * strides[k] with operand k's strides broadcast to the iteration space (0
 * on broadcast dims; an output of a row reduction has stride 0 on the last
 * dim).  ELEMENTWISE: the executor may merge dims that are contiguous for
 * every operand and drop size-1 dims, so rank is 1..TIRRT_FUSED_MAX_RANK
 * and the kernel must not assume the original rank; grid = any, block =
 * block_size, the kernel walks [0, numel) with a grid-stride loop.
 * ROWWISE: the last dim of the iteration space is the reduced axis and is
 * never merged (its length is shape[rank - 1]); the kernel processes one
 * row per block of block_size threads, grid-stride over rows
 * (numel / shape[rank-1] of them).
 * A module may also export `<name>` TIRRT_FUSED_FLAT_SUFFIX, the same kernel
 * for flat launches only, which the executor uses when it can: every index
 * and offset below 2^31, and ELEMENTWISE: rank 1, every stride 0 or 1, each
 * unit-stride operand's data aligned to min(16, TIRRT_FUSED_VEC * element
 * size) bytes, grid = any (each thread takes TIRRT_FUSED_VEC consecutive
 * elements); ROWWISE: rank <= 3, strides >= 0. */
#define TIRRT_FUSED_FLAT_SUFFIX "_flat"
#define TIRRT_FUSED_VEC 8
#define TIRRT_FUSED_MAX_OPERANDS 24
#define TIRRT_FUSED_MAX_RANK 8
typedef struct tirrt_fused_params_s {
  int64_t numel;
  int32_t rank;
  int32_t n_operands;
  int64_t shape[TIRRT_FUSED_MAX_RANK];
  int64_t strides[TIRRT_FUSED_MAX_OPERANDS][TIRRT_FUSED_MAX_RANK];
  void *data[TIRRT_FUSED_MAX_OPERANDS];
} tirrt_fused_params_t;

typedef enum { TIRRT_KERNEL_ELEMENTWISE = 0, TIRRT_KERNEL_ROWWISE = 1 } tirrt_kernel_kind_t;

typedef struct tirrt_kernel_def_s {
  const char *name;          /* entry point */
  int32_t kind;              /* tirrt_kernel_kind_t */
  int32_t first_inst, n_insts;
  int32_t space;             /* value index: its shape is the iteration space */
  int32_t n_in;
  const int32_t *in;         /* values read */
  int32_t n_out;
  const int32_t *out;        /* values written (all other values of the run stay in registers) */
  int32_t block_size;        /* threads per block */
  int32_t arch;              /* the cubin's target, e.g. 90 for sm_90 */
  const void *cubin;         /* may be NULL */
  uint64_t cubin_size;
  const char *ptx;           /* NUL-terminated PTX, for GPUs the cubin does not fit (may be NULL) */
  const char *source;        /* the CUDA source, for messages and --emit=c (may be NULL) */
} tirrt_kernel_def_t;

typedef struct tirrt_program_def_s {
  int32_t abi;                  /* TIRRT_PROGRAM_ABI */
  const char *name;             /* for messages (the .tir file) */
  int32_t n_syms;
  const char *const *syms;      /* symbol names */
  int32_t n_dims;
  const tirrt_dim_node_t *dims;
  int32_t n_values;
  const tirrt_value_def_t *values;
  int32_t n_args;
  const int32_t *args;          /* value indices, in signature order */
  int32_t n_insts;
  const tirrt_inst_t *insts;
  int32_t n_results;
  const int32_t *results;       /* value indices, in return order */
  int32_t n_kernels;            /* generated CUDA kernels (0 for the CPU target) */
  const tirrt_kernel_def_t *kernels; /* sorted by first_inst, ranges disjoint */
  int32_t target;               /* tirrt_device_kind_t the program was compiled for: its
                                   default device when that device is present */
} tirrt_program_def_t;

typedef struct tirrt_program_s tirrt_program_t;

/* Checks the tables (indices in range, dims acyclic, opcodes known, each
 * instruction's input count and every attribute that indexes something:
 * dims, dim nodes, permutations, masks, operation and kernel numbers) and
 * prepares the liveness plan. */
tirrt_status_t tirrt_program_create(const tirrt_program_def_t *def,
                                    tirrt_program_t **out_program);
void tirrt_program_free(tirrt_program_t *program);

/* Runs the program on the CPU.  args[i] is the i-th argument (desc + data,
 * borrowed); each argument's dtype must equal the declared one and its shape
 * fit the declared shape, binding the symbols.  On success, out_results[j]
 * is the j-th result: desc and a malloc'd dense buffer the caller frees.
 * `seed` drives dropout.  *out_peak_bytes (may be NULL) gets the peak of
 * intermediate memory. */
tirrt_status_t tirrt_program_run(tirrt_program_t *program, const tirrt_tensor_desc_t *arg_descs,
                                 const void *const *arg_datas, uint64_t seed,
                                 tirrt_tensor_desc_t *out_result_descs, void **out_result_datas,
                                 uint64_t *out_peak_bytes);

/* The result shapes for these arguments, without running (binds and checks
 * the arguments like tirrt_program_run; arg_datas are not read). */
tirrt_status_t tirrt_program_result_descs(const tirrt_program_t *program,
                                          const tirrt_tensor_desc_t *arg_descs,
                                          tirrt_tensor_desc_t *out_result_descs);

/* ------------------------------------------------------------------------ */
/* Devices and running                                                        */
/* ------------------------------------------------------------------------ */

typedef enum { TIRRT_DEVICE_CPU = 0, TIRRT_DEVICE_CUDA = 1 } tirrt_device_kind_t;

/* Number of usable CUDA GPUs: 0 without a driver or GPU, and in a build
 * without the CUDA toolkit.  Never fails. */
tirrt_status_t tirrt_cuda_device_count(int *out_count);
/* "NAME (sm_XY, N SMs)" of GPU `device`, like snprintf into buf. */
tirrt_status_t tirrt_cuda_describe(int device, char *buf, size_t size);
/* GPU `device`'s compute capability as major * 10 + minor (90 for sm_90). */
tirrt_status_t tirrt_cuda_compute_capability(int device, int *out_cc);
/* Device memory from the runtime's caching allocator (UNAVAILABLE without a
 * GPU).  Release it with tirrt_cuda_release on the same device. */
tirrt_status_t tirrt_cuda_malloc(int device, size_t bytes, void **out_ptr);
void tirrt_cuda_release(int device, void *ptr);
enum { TIRRT_COPY_HOST_TO_DEVICE = 0, TIRRT_COPY_DEVICE_TO_HOST = 1, TIRRT_COPY_DEVICE_TO_DEVICE = 2 };
/* Copies bytes between host and device memory; returns when done. */
tirrt_status_t tirrt_cuda_copy_bytes(int device, void *dst, const void *src, size_t bytes,
                                     int direction);

typedef struct tirrt_run_options_s {
  int32_t device;          /* tirrt_device_kind_t */
  int32_t device_index;    /* CUDA ordinal */
  uint64_t seed;           /* drives dropout */
  int32_t allow_tf32;      /* CUDA: f32 GEMMs may use TF32 tensor cores */
  int32_t device_pointers; /* CUDA: argument data and result buffers are device memory */
  void *cuda_stream;       /* CUDA: a cudaStream_t to run on (NULL: the runtime's own);
                              the run still returns only when its work is done */
  int32_t cuda_graphs;     /* CUDA with device_pointers: record runs in CUDA graphs and
                              replay them (see below) */
} tirrt_run_options_t;

/* Runs the program on opts' device.  Arguments as for tirrt_program_run
 * (host memory, or device memory with device_pointers).  Results: when
 * result_buffers is NULL, out_result_datas[j] gets a malloc'd dense host
 * buffer the caller frees (not allowed with device_pointers); otherwise
 * result j is written dense into result_buffers[j] (host or device memory
 * like the arguments), which the caller sized from
 * tirrt_program_result_descs, and out_result_datas may be NULL.
 * out_result_descs gets the result types.  A CUDA run of a program also
 * works when it was compiled for the CPU: every instruction has a GPU
 * kernel; generated kernels only make it faster. */
/* CUDA graphs (opts->cuda_graphs): a run is keyed by everything its
 * launches depend on (argument types and shapes, argument and result data
 * pointers, TF32, and the seed when the program draws random numbers).
 * The second run with a key seen before is recorded in a CUDA graph, and
 * later runs with that key replay it: one launch instead of one per
 * instruction, with the same results (the same kernels on the same
 * memory).  A program keeps a few graphs (the most recently used); a key
 * that never repeats costs nothing but its hash.  Outputs stay the
 * caller's buffers; nothing is aliased. */
tirrt_status_t tirrt_program_execute(tirrt_program_t *program, const tirrt_run_options_t *opts,
                                     const tirrt_tensor_desc_t *arg_descs,
                                     const void *const *arg_datas, void *const *result_buffers,
                                     tirrt_tensor_desc_t *out_result_descs, void **out_result_datas,
                                     uint64_t *out_peak_bytes);

/* How many CUDA graphs the program has recorded; -1 when recording failed
 * (the program then runs without graphs). */
int32_t tirrt_program_graphs_recorded(const tirrt_program_t *program);

/* Copies a strided tensor into another of the same dtype and shape (strides
 * in elements; NULL means row-major contiguous). */
tirrt_status_t tirrt_copy_strided(const tirrt_tensor_desc_t *desc, const void *src,
                                  const int64_t *src_strides, void *dst,
                                  const int64_t *dst_strides);

/* The command line of a compiled program (spec §9): binds inputs from --in
 * and --params, runs, writes DIR/outN.npy, and handles --bench, --seed,
 * --device, --random-inputs and --dim.  Returns the process exit code
 * (0 ok, 1 bad input, 2 bad usage, 3 internal error). */
int tirrt_main(const tirrt_program_def_t *def, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* TIRRT_H */
