/* util.c — hashing and a string-keyed open-addressing map used for value
 * names, symbol interning and the printer's name uniquing. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

uint64_t tir_hash_bytes(const void *p, size_t n, uint64_t seed) {
  /* FNV-1a with a final mix; good enough for names and op keys. */
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull ^ seed;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

typedef struct {
  char *key; /* NULL: empty slot */
  size_t len;
  uint64_t hash;
  void *val;
} Slot;

struct TirStrMap {
  Slot *slots;
  size_t cap, count;
};

TirStrMap *tir_strmap_new(void) {
  TirStrMap *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->cap = 16;
  m->slots = calloc(m->cap, sizeof *m->slots);
  if (!m->slots) {
    free(m);
    return NULL;
  }
  return m;
}

void tir_strmap_free(TirStrMap *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
  free(m->slots);
  free(m);
}

static Slot *find(const TirStrMap *m, const char *key, size_t len, uint64_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot *s = &m->slots[i];
    if (!s->key) return s;
    if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s;
  }
}

void *tir_strmap_get(const TirStrMap *m, const char *key, size_t len) {
  Slot *s = find(m, key, len, tir_hash_bytes(key, len, 0));
  return s->key ? s->val : NULL;
}

static bool grow(TirStrMap *m) {
  size_t ncap = m->cap * 2;
  Slot *ns = calloc(ncap, sizeof *ns);
  if (!ns) return false;
  Slot *old = m->slots;
  size_t ocap = m->cap;
  m->slots = ns;
  m->cap = ncap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].key) *find(m, old[i].key, old[i].len, old[i].hash) = old[i];
  free(old);
  return true;
}

bool tir_strmap_put(TirStrMap *m, const char *key, size_t len, void *val) {
  if ((m->count + 1) * 4 > m->cap * 3 && !grow(m)) return false;
  uint64_t h = tir_hash_bytes(key, len, 0);
  Slot *s = find(m, key, len, h);
  if (s->key) {
    s->val = val;
    return true;
  }
  s->key = malloc(len + 1);
  if (!s->key) return false;
  memcpy(s->key, key, len);
  s->key[len] = 0;
  s->len = len;
  s->hash = h;
  s->val = val;
  m->count++;
  return true;
}
