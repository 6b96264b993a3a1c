/* Test helpers for the op suites (check_ops_*.c): build a graph through the
 * public API, run forward and backward, and compare with a double-precision
 * reference loop and with central finite differences of that reference.
 *
 *   ot t;
 *   ot_begin(&t, "conv 3x3", seed);
 *   kcv_node x = ot_leaf(&t, shape, 1, -1, 1);  (trainable: gets a gradient)
 *   kcv_node y = kcv_op_...(t.g, x, ...);
 *   ot_check(&t, y, expected_shape, ref, ctx);
 *
 * The loss is sum(y * R) for a fixed random R, so the gradient of leaf i is
 * checked against (L(v + eps) - L(v - eps)) / 2eps with L = sum(ref(v) * R),
 * all in double. Failures abort the current Check test with the case label,
 * the leaf, the index and both values. */
#ifndef KCV_TEST_OPS_CHECK_H
#define KCV_TEST_OPS_CHECK_H

#include <check.h>

#include <kcv/graph.h>
#include <kcv/rng.h>

#define OT_MAX 8

/* The reference: out (numel of the expected shape) from the leaves' values,
 * in the order they were created. */
typedef void (*ot_ref)(const void *ctx, const double *const *in, const kcv_shape *shape,
                       double *out);

typedef struct ot {
	kcv_graph *g;
	const char *label;
	int n;
	kcv_node leaf[OT_MAX];
	kcv_shape shape[OT_MAX];
	int trainable[OT_MAX];
	double *val[OT_MAX]; /* float-representable values */
	kcv_rng rng;
	/* tolerances (defaults set by ot_begin) */
	double fwd_atol, fwd_rtol, grad_atol, grad_rtol, eps;
	int threads;
} ot;

/* Threads: 2 unless t->threads is changed before the first leaf. */
void ot_begin(ot *t, const char *label, uint64_t seed);
/* A leaf of uniform values in [lo, hi]: a trainable parameter or an input. */
kcv_node ot_leaf(ot *t, kcv_shape s, int trainable, double lo, double hi);
/* The same, with |v| >= gap (keeps values away from a kink at 0). */
kcv_node ot_leaf_gap(ot *t, kcv_shape s, int trainable, double lo, double hi, double gap);
/* Overwrite leaf i's values (rounded to float). */
void ot_set(ot *t, int i, const double *v);
/* Check forward and every trainable leaf's gradient, then free the graph. */
void ot_check(ot *t, kcv_node out, kcv_shape want, ot_ref ref, const void *ctx);
/* Like ot_check, without finite differences: the gradients are compared with
 * reference gradients grad[i] (NULL: not checked) of L = sum(out * R); R is
 * passed to `grads` to compute them. For shapes too big for differences. */
typedef void (*ot_grad_ref)(const void *ctx, const double *const *in, const kcv_shape *shape,
                            const double *r, double **grad);
void ot_check_grads(ot *t, kcv_node out, kcv_shape want, ot_ref ref, ot_grad_ref grads,
                    const void *ctx);

/* Shorthands. */
kcv_shape ot_shape(int rank, ...);
kcv_graph *ot_graph(int threads);
/* Expect the last op to have failed with a message containing `needle`. */
void ot_expect_error(kcv_graph *g, kcv_node got, const char *needle);

#endif
