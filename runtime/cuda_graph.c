/* cuda_graph.c — CUDA graphs of program runs, and what makes a run
 * capturable: scratch memory that outlives the capture (an arena per
 * graph) and range checks read once at the run's end instead of a sync
 * per check.
 *
 * Why: a run of a model is hundreds of small launches, and on a fast GPU
 * the host's launch cost (several microseconds each, plus the executor's
 * bookkeeping) is longer than the GPU's work.  A graph replays them all
 * with one launch.  The core (program.c) decides when to record and keys
 * each graph by everything a run's launches depend on (shapes, data
 * pointers, options); this file records, keeps and replays them.
 *
 * Safety rests on two facts of the runtime: runs on one GPU take turns
 * and each ends with a sync, so no two runs' work is ever in flight at
 * once.  Hence a graph may share the context's fixed buffers (GEMM
 * workspace, check slots) and the program's pool buffers (kept for the
 * program's lifetime) with eager runs; only scratch memory, which the
 * caching allocator would hand to others, is kept per graph. */
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "tirk_ops.h"

/* ------------------------------------------------------------ scratch */

typedef struct {
  void *p;
  size_t size;
  bool used;
} ArenaBlock;

struct tirrt_cuda_arena_s {
  ArenaBlock *blocks;
  int n, cap;
  cudaStream_t run_stream; /* the run's stream, restored when the capture ends */
};

static void arena_free(tirrt_cuda_ctx_t *c, struct tirrt_cuda_arena_s *a) {
  if (!a) return;
  for (int i = 0; i < a->n; i++) tirrt_cuda_free(c, a->blocks[i].p);
  free(a->blocks);
  free(a);
}

tirrt_status_t tirrt_cuda_scratch(tirrt_cuda_ctx_t *c, size_t bytes, void **out) {
  struct tirrt_cuda_arena_s *a = c->arena;
  if (!a) return tirrt_cuda_alloc(c, bytes, out);
  /* Reuse within the capture is safe: its launches are recorded in order
   * on one stream, so they replay in that order too. */
  int best = -1;
  for (int i = 0; i < a->n; i++)
    if (!a->blocks[i].used && a->blocks[i].size >= bytes &&
        (best < 0 || a->blocks[i].size < a->blocks[best].size))
      best = i;
  if (best < 0) {
    if (a->n == a->cap) {
      int nc = a->cap ? 2 * a->cap : 8;
      ArenaBlock *nb = realloc(a->blocks, (size_t)nc * sizeof *nb);
      if (!nb) return tirrt_oom_status();
      a->blocks = nb;
      a->cap = nc;
    }
    void *p = NULL;
    tirrt_status_t s = tirrt_cuda_alloc(c, bytes, &p);
    if (s) return s;
    a->blocks[a->n] = (ArenaBlock){p, bytes, false};
    best = a->n++;
  }
  a->blocks[best].used = true;
  *out = a->blocks[best].p;
  return NULL;
}

void tirrt_cuda_scratch_free(tirrt_cuda_ctx_t *c, void *p) {
  if (!p) return;
  struct tirrt_cuda_arena_s *a = c->arena;
  if (!a) {
    tirrt_cuda_free(c, p);
    return;
  }
  for (int i = 0; i < a->n; i++)
    if (a->blocks[i].p == p) a->blocks[i].used = false;
}

/* ------------------------------------------------------------ range checks */

int64_t *tirrt_cuda_check_slot(tirrt_cuda_ctx_t *c, tirrt_cuda_check_t how) {
  if (c->n_checks >= TIRRT_CUDA_MAX_CHECKS) return NULL;
  c->checks[c->n_checks] = how;
  return c->check_dev + c->n_checks++;
}

tirrt_status_t tirrt_cuda_checks_fetch(tirrt_cuda_ctx_t *c) {
  if (c->n_checks == 0) return NULL;
  TIRRT_CUDA_CHECK(cudaMemcpyAsync(c->check_host, c->check_dev, (size_t)c->n_checks * sizeof(int64_t),
                                   cudaMemcpyDeviceToHost, c->stream));
  return NULL;
}

tirrt_status_t tirrt_cuda_check_error(const tirrt_cuda_check_t *k, int64_t v) {
  if (k->kind == TIRRT_CHECK_EMBEDDING) {
    if (v == TIRK_EMBEDDING_OK) return NULL;
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "embedding: index %lld is out of range for a table of %lld rows",
                             (long long)v, (long long)k->a);
  }
  if (v == INT64_MAX) return NULL;
  int64_t b = v / (k->a + 1), blk = v % (k->a + 1) - 1;
  if (blk < 0)
    return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                             "paged_sdpa: kv_lens[%lld] is outside [0, %lld] (blocks x page size)",
                             (long long)b, (long long)(k->a * k->c));
  return tirrt_make_status(TIRRT_STATUS_INVALID_ARGUMENT,
                           "paged_sdpa: block_table[%lld, %lld] is not a page of the cache "
                           "(%lld pages)",
                           (long long)b, (long long)blk, (long long)k->b);
}

tirrt_status_t tirrt_cuda_checks_read(tirrt_cuda_ctx_t *c) {
  int n = c->n_checks;
  c->n_checks = 0;
  for (int i = 0; i < n; i++) {
    tirrt_status_t s = tirrt_cuda_check_error(&c->checks[i], c->check_host[i]);
    if (s) return s;
  }
  return NULL;
}

/* ------------------------------------------------------------ graphs */

/* A program keeps this many graphs; the least recently used goes first. */
enum { MAX_GRAPHS = 8 };

typedef struct {
  void *key;
  size_t key_bytes;
  cudaGraphExec_t exec;
  struct tirrt_cuda_arena_s *arena;
  tirrt_tensor_desc_t *descs;
  int32_t n_results;
  int n_checks;
  tirrt_cuda_check_t *checks; /* how to read the slots its checks write */
  uint64_t used; /* LRU stamp */
} Graph;

struct tirrt_cuda_graphs_s {
  Graph g[MAX_GRAPHS];
  int n;
  uint64_t clock;
};

static void graph_free(tirrt_cuda_ctx_t *c, Graph *g) {
  if (g->exec) cudaGraphExecDestroy(g->exec);
  arena_free(c, g->arena);
  free(g->key);
  free(g->descs);
  free(g->checks);
  memset(g, 0, sizeof *g);
}

void tirrt_cuda_graphs_free(int device, tirrt_cuda_graphs_t *t) {
  if (!t) return;
  tirrt_cuda_ctx_t *c = NULL;
  tirrt_status_t s = tirrt_cuda_ctx_get(device, &c);
  if (s) { /* cannot happen for a device that ran: leak rather than crash */
    tirrt_status_free(s);
    free(t);
    return;
  }
  for (int i = 0; i < t->n; i++) graph_free(c, &t->g[i]);
  free(t);
}

tirrt_status_t tirrt_cuda_graph_launch(tirrt_cuda_ctx_t *c, tirrt_cuda_graphs_t *t, const void *key,
                                       size_t key_bytes, tirrt_tensor_desc_t *out_descs,
                                       int32_t n_results, bool *hit) {
  *hit = false;
  if (!t) return NULL;
  for (int i = 0; i < t->n; i++) {
    Graph *g = &t->g[i];
    if (g->key_bytes != key_bytes || memcmp(g->key, key, key_bytes) || g->n_results != n_results)
      continue;
    /* Its checks write the slots they wrote when recorded. */
    c->n_checks = g->n_checks;
    memcpy(c->checks, g->checks, (size_t)g->n_checks * sizeof *g->checks);
    TIRRT_CUDA_CHECK(cudaGraphLaunch(g->exec, c->stream));
    memcpy(out_descs, g->descs, (size_t)n_results * sizeof *out_descs);
    g->used = ++t->clock;
    *hit = true;
    return NULL;
  }
  return NULL;
}

tirrt_status_t tirrt_cuda_graph_begin(tirrt_cuda_ctx_t *c) {
  if (c->arena || c->n_checks)
    return tirrt_make_status(TIRRT_STATUS_INTERNAL, "a capture must start a run");
  /* The capture records on a stream of its own: the legacy default
   * stream (a caller's usual one) cannot be captured.  The graph is then
   * launched on the run's stream, which orders it after the caller's
   * work. */
  if (!c->capture_stream)
    TIRRT_CUDA_CHECK(cudaStreamCreateWithFlags(&c->capture_stream, cudaStreamNonBlocking));
  struct tirrt_cuda_arena_s *a = calloc(1, sizeof *a);
  if (!a) return tirrt_oom_status();
  a->run_stream = c->stream;
  c->stream = c->capture_stream;
  tirrt_status_t s = tirrt_cuda_set_blas_stream(c);
  cudaError_t e = s ? cudaSuccess : cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed);
  if (s || e != cudaSuccess) {
    cudaGetLastError();
    c->stream = a->run_stream;
    tirrt_status_free(tirrt_cuda_set_blas_stream(c));
    free(a);
    return s ? s : tirrt_cuda_status(e, "cudaStreamBeginCapture", __FILE__, __LINE__);
  }
  c->arena = a;
  return NULL;
}

tirrt_status_t tirrt_cuda_graph_end(tirrt_cuda_ctx_t *c, tirrt_cuda_graphs_t **table,
                                    const void *key, size_t key_bytes,
                                    const tirrt_tensor_desc_t *out_descs, int32_t n_results,
                                    bool ok) {
  struct tirrt_cuda_arena_s *a = c->arena;
  if (!a) return tirrt_make_status(TIRRT_STATUS_INTERNAL, "no capture to end");
  cudaGraph_t graph = NULL;
  cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
  c->arena = NULL;
  c->stream = a->run_stream;
  tirrt_status_t s = tirrt_cuda_set_blas_stream(c);
  Graph g;
  memset(&g, 0, sizeof g);
  g.arena = a;
  if (!s && e != cudaSuccess) s = tirrt_cuda_status(e, "cudaStreamEndCapture", __FILE__, __LINE__);
  if (!s && ok) {
    e = cudaGraphInstantiate(&g.exec, graph, 0);
    if (e != cudaSuccess) s = tirrt_cuda_status(e, "cudaGraphInstantiate", __FILE__, __LINE__);
  }
  if (graph) cudaGraphDestroy(graph);
  if (!s && ok) {
    g.key = malloc(key_bytes ? key_bytes : 1);
    g.descs = malloc(((size_t)n_results + 1) * sizeof *g.descs);
    g.checks = malloc(((size_t)c->n_checks + 1) * sizeof *g.checks);
    if (!*table) *table = calloc(1, sizeof **table);
    if (!g.key || !g.descs || !g.checks || !*table) s = tirrt_oom_status();
  }
  if (s || !ok) { /* nothing ran; the core runs the work again without a graph */
    cudaGetLastError();
    c->n_checks = 0;
    graph_free(c, &g);
    return s;
  }
  memcpy(g.key, key, key_bytes);
  g.key_bytes = key_bytes;
  memcpy(g.descs, out_descs, (size_t)n_results * sizeof *g.descs);
  g.n_results = n_results;
  g.n_checks = c->n_checks;
  memcpy(g.checks, c->checks, (size_t)c->n_checks * sizeof *g.checks);
  tirrt_cuda_graphs_t *t = *table;
  g.used = ++t->clock;
  int slot = t->n;
  if (t->n == MAX_GRAPHS) { /* the least recently used makes room */
    slot = 0;
    for (int i = 1; i < t->n; i++)
      if (t->g[i].used < t->g[slot].used) slot = i;
    graph_free(c, &t->g[slot]);
  } else {
    t->n++;
  }
  t->g[slot] = g;
  TIRRT_CUDA_CHECK(cudaGraphLaunch(t->g[slot].exec, c->stream));
  return NULL;
}
