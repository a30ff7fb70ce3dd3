/* cpu_parallel.h — OpenMP for the CPU kernels, and the build without it.
 *
 * The rule that keeps results reproducible: a parallel loop hands out whole
 * rows (or query blocks), and each is computed by one thread in the same
 * order as the single-threaded code, so the thread count never changes a
 * bit of the output.  The rule that keeps threads from oversubscribing the
 * cores: nothing inside a parallel region calls BLAS (OpenBLAS has its own
 * pool; the GEMMs run between our regions), see docs/runtime.md. */
#ifndef TIRRT_CPU_PARALLEL_H
#define TIRRT_CPU_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
/* TIRRT_OMP("omp parallel for") etc.: a pragma that vanishes without
 * OpenMP, where the loop then runs on the calling thread. */
#define TIRRT_OMP(x) _Pragma(x)
static inline int tirrt_max_threads(void) { return omp_get_max_threads(); }
static inline int tirrt_thread_num(void) { return omp_get_thread_num(); }
#else
#define TIRRT_OMP(x)
static inline int tirrt_max_threads(void) { return 1; }
static inline int tirrt_thread_num(void) { return 0; }
#endif

/* Below this many elements of work a parallel region costs more than it
 * saves (waking the pool is microseconds). */
enum { TIRRT_PAR_MIN_WORK = 1 << 15 };

#endif
