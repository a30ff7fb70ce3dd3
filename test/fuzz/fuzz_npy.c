/* fuzz_npy.c — libFuzzer target for the in-memory .npy reader.  Any input
 * must give either a valid tensor (whose size matches its description and
 * which survives a write/read round trip) or an error status, never a crash.
 * Seeds: test/fuzz/corpus/npy/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tirrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tirrt_tensor_desc_t desc;
  void *out = NULL;
  tirrt_status_t s = tirrt_npy_read_memory(data, size, "fuzz.npy", &desc, &out);
  if (s) {
    /* Every error must carry a message that names the input. */
    if (strncmp(tirrt_status_message(s), "fuzz.npy: ", 10) != 0) abort();
    tirrt_status_free(s);
    return 0;
  }
  size_t nbytes = 0;
  tirrt_status_t c = tirrt_tensor_desc_check(&desc, NULL, &nbytes);
  if (c || nbytes > size) abort(); /* accepted data must fit in the input */
  /* Touch every byte so ASan sees the whole buffer. */
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < nbytes; i++) sink ^= ((uint8_t *)out)[i];
  (void)sink;
  /* Writing what we read and reading it back must reproduce it. */
  void *img = NULL;
  size_t len = 0;
  if (tirrt_npy_write_memory(&desc, out, &img, &len)) abort();
  tirrt_tensor_desc_t d2;
  void *out2 = NULL;
  if (tirrt_npy_read_memory(img, len, "again", &d2, &out2)) abort();
  if (d2.dtype != desc.dtype || d2.rank != desc.rank ||
      memcmp(d2.shape, desc.shape, sizeof(int64_t) * (size_t)desc.rank) != 0 ||
      memcmp(out, out2, nbytes) != 0)
    abort();
  free(out2);
  free(img);
  free(out);
  return 0;
}
