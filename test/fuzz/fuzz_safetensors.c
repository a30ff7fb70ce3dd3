/* fuzz_safetensors.c — libFuzzer target for the in-memory .safetensors
 * reader.  Any input must either open (then every tensor is looked up by
 * index and by name, its bytes are read, and the file survives a write/read
 * round trip) or give an error status, never a crash.
 * Seeds: test/fuzz/corpus/safetensors/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tirrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tirrt_safetensors_t *f = NULL;
  tirrt_status_t s = tirrt_safetensors_open_memory(data, size, "fuzz", &f);
  if (s) {
    if (strncmp(tirrt_status_message(s), "fuzz: ", 6) != 0) abort();
    tirrt_status_free(s);
    return 0;
  }
  size_t n = tirrt_safetensors_count(f);
  const char **names = calloc(n + 1, sizeof *names);
  tirrt_tensor_desc_t *descs = calloc(n + 1, sizeof *descs);
  const void **datas = calloc(n + 1, sizeof *datas);
  if (!names || !descs || !datas) abort();
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < n; i++) {
    if (tirrt_safetensors_get(f, i, &names[i], &descs[i], &datas[i])) abort();
    size_t nbytes = 0;
    if (tirrt_tensor_desc_check(&descs[i], NULL, &nbytes) || nbytes > size)
      abort();
    for (size_t b = 0; b < nbytes; b++) sink ^= ((const uint8_t *)datas[i])[b];
    tirrt_tensor_desc_t d;
    const void *p;
    if (tirrt_safetensors_find(f, names[i], &d, &p) || p != datas[i]) abort();
  }
  (void)sink;
  tirrt_safetensors_metadata(f, "format");
  /* Round trip through the writer. */
  void *img = NULL;
  size_t len = 0;
  if (tirrt_safetensors_write_memory(n, names, descs, datas, &img, &len))
    abort();
  tirrt_safetensors_t *g = NULL;
  if (tirrt_safetensors_open_memory(img, len, "again", &g)) abort();
  if (tirrt_safetensors_count(g) != n) abort();
  tirrt_safetensors_close(g);
  free(img);
  free(names);
  free(descs);
  free(datas);
  tirrt_safetensors_close(f);
  return 0;
}
