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
 * the header promises: truncated files and trailing bytes are errors.
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
 * The whole file is read into memory once (not mmap'd: a file truncated
 * under a mapping would kill the process with SIGBUS).  Data pointers point
 * into that copy and are valid until close.  They are only as aligned as
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

#ifdef __cplusplus
}
#endif

#endif /* TIRRT_H */
