/* arena.c — bump allocator that owns all IR of one module.
 * Chunks grow geometrically; a request larger than a chunk gets a chunk of
 * its own, so huge constants do not waste the rest of a chunk. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct Chunk {
  struct Chunk *next;
  size_t size, used;
  _Alignas(16) unsigned char mem[];
} Chunk;

struct TirArena {
  Chunk *head;
  size_t next_size;
  size_t total;
};

TirArena *tir_arena_new(void) {
  TirArena *a = calloc(1, sizeof *a);
  if (a) a->next_size = 64 * 1024;
  return a;
}

void tir_arena_free(TirArena *a) {
  if (!a) return;
  Chunk *c = a->head;
  while (c) {
    Chunk *n = c->next;
    free(c);
    c = n;
  }
  free(a);
}

void *tir_arena_alloc(TirArena *a, size_t n) {
  if (n > ((size_t)1 << 48)) return NULL;
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  Chunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t size = a->next_size;
    if (n > size / 4) {
      /* Big request: its own chunk, linked behind the current one so the
       * current chunk keeps serving small requests. */
      Chunk *big = malloc(sizeof *big + n);
      if (!big) return NULL;
      big->size = n;
      big->used = n;
      if (c) {
        big->next = c->next;
        c->next = big;
      } else {
        big->next = NULL;
        a->head = big;
      }
      memset(big->mem, 0, n);
      a->total += n;
      return big->mem;
    }
    c = malloc(sizeof *c + size);
    if (!c) return NULL;
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
    if (a->next_size < 8 * 1024 * 1024) a->next_size *= 2;
  }
  void *p = c->mem + c->used;
  c->used += n;
  a->total += n;
  memset(p, 0, n);
  return p;
}

char *tir_arena_strndup(TirArena *a, const char *s, size_t n) {
  char *p = tir_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

size_t tir_arena_bytes(const TirArena *a) { return a->total; }
