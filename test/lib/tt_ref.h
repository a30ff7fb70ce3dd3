/* tt_ref.h — float64 (long double where exactness matters) references
 * shared by the C tests: matmul, softmax, layer/rms norm over guarded
 * tensors (tt_t), and unfused attention over runtime views.  They compute
 * the textbook definition from the decoded inputs, never through the
 * runtime, so a test compares the kernel with the math, not with itself. */
#ifndef TIRC_TEST_TT_REF_H
#define TIRC_TEST_TT_REF_H

#include "tirrt_cpu.h"
#include "tt_tensor.h"

/* out = a @ b (+ bias over the last dim; bias of shape [1] broadcasts),
 * batch dims broadcast as out's shape says; integers wrap to out's dtype.
 * ref: out's elements row-major. */
void tt_ref_matmul(const tt_t *a, const tt_t *b, const tt_t *bias, const tt_t *out, long double *ref);

/* softmax (log_softmax when log) of x along dim (negative counts from the
 * end); a row of all -inf gives NaN, as torch does.  ref: x's elements
 * row-major. */
void tt_ref_softmax(const tt_t *x, int dim, bool log, long double *ref);

/* layer_norm (rms_norm when rms: no mean, no bias) of x over its last nd
 * dims with optional w and b of those dims.  eps < 0 means the runtime's
 * default: the dtype's machine epsilon. */
void tt_ref_norm(bool rms, const tt_t *x, int nd, const tt_t *w, const tt_t *b, double eps, long double *ref);
double tt_norm_default_eps(tirrt_dtype_t dt);

/* Unfused attention in float64 on the values the kernel sees.  For each
 * (batch..., h, i) it materializes the whole score row, then softmax (a
 * fully masked row gives 0 and lse -inf), then dropout with
 * tirrt_dropout_keep on the normalized probabilities, then P @ V.  R is the
 * broadcast rank and bshape its batch dims; out is [batch..., Hq, L, Ev]
 * row-major, lse [batch..., Hq, L]; dead marks fully masked rows. */
void tt_ref_sdpa(const tirrt_view_t *q, const tirrt_view_t *k, const tirrt_view_t *v, const tirrt_view_t *mask,
                 const tirrt_sdpa_params_t *pr, int R, const int64_t *bshape, double *out, double *lse,
                 uint8_t *dead);

/* Element access of runtime views for references: the row-major element
 * `flat` of v, and the element at a full index of a broadcast space of
 * rank R (right-aligned; dims of size 1 read index 0). */
int64_t tt_view_off(const tirrt_view_t *v, int64_t flat);
int64_t tt_bcast_off(const tirrt_view_t *v, int R, const int64_t *idx);
double tt_view_get(const tirrt_view_t *v, int64_t off);
void tt_view_set(const tirrt_view_t *v, int64_t off, double x);

#endif
