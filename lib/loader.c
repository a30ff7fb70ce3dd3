/* loader.c — reads const(file=..., key=...) tensors for the front end
 * through the runtime's validated safetensors reader.  Shared by the tirc
 * driver and the embedding API. */
#include <stdlib.h>
#include <string.h>

#include "tirc_internal.h"
#include "tirrt.h"

TirStatus tirc_load_const(void *ctx, const char *path, const char *key, TirDType *dtype, int *rank,
                          int64_t dims[TIR_MAX_RANK], void **data, size_t *nbytes, char *err,
                          size_t errlen) {
  (void)ctx;
  tirrt_safetensors_t *st = NULL;
  tirrt_tensor_desc_t desc;
  const void *src = NULL;
  size_t n = 0;
  tirrt_status_t s = tirrt_safetensors_open(path, &st);
  if (!s) s = tirrt_safetensors_find(st, key, &desc, &src);
  if (!s) s = tirrt_tensor_desc_check(&desc, NULL, &n);
  void *copy = NULL;
  if (!s && !(copy = malloc(n ? n : 1))) {
    snprintf(err, errlen, "out of memory reading %zu bytes", n);
    tirrt_safetensors_close(st);
    return TIR_ERR_INTERNAL;
  }
  if (s) {
    snprintf(err, errlen, "%s", tirrt_status_message(s));
    tirrt_status_free(s);
    tirrt_safetensors_close(st);
    return TIR_ERR_INPUT;
  }
  if (n) memcpy(copy, src, n);
  /* The runtime's dtype enum has the compiler's order (see tirrt.h). */
  *dtype = (TirDType)desc.dtype;
  *rank = desc.rank;
  for (int i = 0; i < desc.rank; i++) dims[i] = desc.shape[i];
  *data = copy;
  *nbytes = n;
  tirrt_safetensors_close(st);
  return TIR_OK;
}
