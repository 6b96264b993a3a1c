/* Reductions (sum, mean over each axis, keepdims, over everything, long
 * sums that split into chunks) and gather_rows against double-precision
 * loops; and reproducibility: the same graph gives bit-identical values and
 * gradients run after run, and (for kcv's own kernels) for any thread
 * count. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>

#include "ops_check.h"

static long numel(const kcv_shape *s)
{
	return (long)kcv_shape_numel(s);
}

/* ---- sum / mean ----------------------------------------------------------------- */

typedef struct red_case {
	int axis, mean; /* axis resolved, or KCV_AXIS_ALL */
} red_case;

static void red_split(const red_case *rc, const kcv_shape *s, long *outer, long *n, long *inner)
{
	*outer = *inner = 1;
	*n = numel(s);
	if (rc->axis == KCV_AXIS_ALL)
		return;
	*n = s->d[rc->axis];
	for (int i = 0; i < rc->axis; i++)
		*outer *= s->d[i];
	for (int i = rc->axis + 1; i < s->rank; i++)
		*inner *= s->d[i];
}

static void ref_reduce(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	long outer, n, inner;
	red_split(ctx, &s[0], &outer, &n, &inner);
	for (long o = 0; o < outer; o++)
		for (long i = 0; i < inner; i++) {
			double sum = 0;
			for (long k = 0; k < n; k++)
				sum += in[0][(o * n + k) * inner + i];
			out[o * inner + i] = ((const red_case *)ctx)->mean ? sum / (double)n : sum;
		}
}

static void ref_reduce_grads(const void *ctx, const double *const *in, const kcv_shape *s,
                             const double *r, double **grad)
{
	long outer, n, inner;
	red_split(ctx, &s[0], &outer, &n, &inner);
	for (long o = 0; o < outer; o++)
		for (long k = 0; k < n; k++)
			for (long i = 0; i < inner; i++)
				grad[0][(o * n + k) * inner + i] =
					r[o * inner + i] / (((const red_case *)ctx)->mean ? (double)n : 1.0);
}

static kcv_shape reduced(const kcv_shape *s, int axis, int keepdims)
{
	kcv_shape o = {0};
	if (axis == KCV_AXIS_ALL) {
		o.rank = keepdims ? s->rank : 1;
		for (int i = 0; i < o.rank; i++)
			o.d[i] = 1;
		return o;
	}
	for (int i = 0; i < s->rank; i++)
		if (i != axis || keepdims)
			o.d[o.rank++] = i == axis ? 1 : s->d[i];
	if (o.rank == 0)
		o.rank = 1, o.d[0] = 1;
	return o;
}

static void reduce_case(kcv_shape s, int axis, int given_axis, int mean, int keepdims, int big)
{
	char label[64];
	snprintf(label, sizeof(label), "%s axis %d keepdims %d", mean ? "mean" : "sum", given_axis,
	         keepdims);
	ot t;
	ot_begin(&t, label, (uint64_t)(axis * 4 + mean * 2 + keepdims));
	kcv_node x = ot_leaf(&t, s, 1, -1, 1);
	kcv_node y = mean ? kcv_op_mean(t.g, x, given_axis, keepdims)
	                  : kcv_op_sum(t.g, x, given_axis, keepdims);
	red_case rc = {axis, mean};
	if (big) {
		t.fwd_atol = 1e-4; /* thousands of values summed into one float */
		ot_check_grads(&t, y, reduced(&s, axis, keepdims), ref_reduce, ref_reduce_grads, &rc);
	} else {
		ot_check(&t, y, reduced(&s, axis, keepdims), ref_reduce, &rc);
	}
}

START_TEST(test_reduce_axes)
{
	kcv_shape s = ot_shape(3, 2, 3, 5);
	for (int mean = 0; mean < 2; mean++)
		for (int keep = 0; keep < 2; keep++) {
			for (int axis = 0; axis < 3; axis++)
				reduce_case(s, axis, axis, mean, keep, 0);
			reduce_case(s, 2, -1, mean, keep, 0);
			reduce_case(s, KCV_AXIS_ALL, KCV_AXIS_ALL, mean, keep, 0);
		}
	reduce_case(ot_shape(1, 7), 0, 0, 0, 0, 0); /* to a single value */
	reduce_case(ot_shape(4, 2, 3, 4, 3), 1, 1, 1, 0, 0);
}
END_TEST

/* Long sums: split into fixed chunks, summed in double. */
START_TEST(test_reduce_long)
{
	reduce_case(ot_shape(2, 300, 101), KCV_AXIS_ALL, KCV_AXIS_ALL, 0, 0, 1);
	reduce_case(ot_shape(2, 20000, 3), 0, 0, 1, 0, 1);
	reduce_case(ot_shape(2, 3, 20000), 1, 1, 0, 1, 1);
	reduce_case(ot_shape(3, 40, 500, 7), 1, 1, 0, 0, 1);
}
END_TEST

START_TEST(test_reduce_errors)
{
	kcv_graph *g = ot_graph(1);
	kcv_node x = kcv_graph_input(g, "x", ot_shape(2, 3, 4));
	ot_expect_error(g, kcv_op_sum(g, x, 2, 0), "sum: axis 2 is out of range for shape [3, 4]");
	kcv_graph_free(g);
}
END_TEST

/* ---- gather_rows ---------------------------------------------------------------- */

static void ref_gather(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	long rows = s[0].d[0], cols = s[0].d[1];
	for (long k = 0; k < s[1].d[0]; k++) {
		double v = in[1][k];
		long r = v >= 0 && v < (double)rows ? (long)v : -1;
		for (long c = 0; c < cols; c++)
			out[k * cols + c] = r < 0 ? 0 : in[0][r * cols + c];
	}
}

START_TEST(test_gather_rows)
{
	ot t;
	ot_begin(&t, "gather_rows", 1);
	kcv_node x = ot_leaf(&t, ot_shape(2, 6, 5), 1, -1, 1);
	kcv_node idx = ot_leaf(&t, ot_shape(1, 9), 0, 0, 0);
	static const double iv[9] = {0, 5, 2, 2, -1, 6, 3, 2, 5};
	ot_set(&t, 1, iv);
	ot_check(&t, kcv_op_gather_rows(t.g, x, idx), ot_shape(2, 9, 5), ref_gather, NULL);

	ot_begin(&t, "gather_rows wide", 2);
	x = ot_leaf(&t, ot_shape(2, 4, 150), 1, -1, 1);
	idx = ot_leaf(&t, ot_shape(1, 5), 0, 0, 0);
	static const double iv2[5] = {3, 3, 1, 0, 3};
	ot_set(&t, 1, iv2);
	ot_check(&t, kcv_op_gather_rows(t.g, x, idx), ot_shape(2, 5, 150), ref_gather, NULL);

	kcv_graph *g = ot_graph(1);
	x = kcv_graph_input(g, "x", ot_shape(3, 2, 3, 4));
	idx = kcv_graph_input(g, "i", ot_shape(1, 2));
	ot_expect_error(g, kcv_op_gather_rows(g, x, idx), "gather_rows: needs x [R, C]");
	kcv_graph_free(g);
}
END_TEST

/* ---- reproducibility ------------------------------------------------------------ */

typedef struct run_out {
	float *value, *grad[4];
	long nv, ng[4];
} run_out;

/* A small detector-like graph: conv + batch norm (training) + pool +
 * upsample + skip add + group norm + bce + reductions. use_conv = 0 leaves
 * out OpenBLAS, whose results may depend on its thread count. */
static run_out run_net(int threads, int use_conv)
{
	kcv_graph *g = ot_graph(threads);
	kcv_shape xs = kcv_shape_4d(2, 33, 31, 8);
	kcv_node x = kcv_graph_input(g, "x", xs);
	kcv_node w = kcv_graph_param(g, "w", kcv_shape_4d(3, 3, 8, 8), KCV_PARAM_TRAINABLE);
	kcv_node gamma = kcv_graph_param(g, "gamma", ot_shape(1, 8), KCV_PARAM_TRAINABLE);
	kcv_node beta = kcv_graph_param(g, "beta", ot_shape(1, 8), KCV_PARAM_TRAINABLE);
	kcv_node mean = kcv_graph_param(g, "mean", ot_shape(1, 8), 0);
	kcv_node var = kcv_graph_param(g, "var", ot_shape(1, 8), 0);
	kcv_node t = kcv_graph_input(g, "t", kcv_shape_4d(2, 33, 31, 8));
	kcv_conv2d_params cp = {.same = 1, .relu = 1};
	kcv_node h = use_conv ? kcv_op_conv2d(g, x, w, -1, &cp) : kcv_op_mul(g, x, gamma);
	h = kcv_op_batch_norm(g, h, gamma, beta, mean, var, 1e-5f, 1);
	kcv_node p = kcv_op_max_pool(g, h, 3, 2, 1);
	kcv_node u = kcv_op_upsample_nearest(g, p, 33, 31);
	h = kcv_op_add(g, kcv_op_group_norm(g, kcv_op_add(g, h, u), gamma, beta, 2, 1e-5f), beta);
	kcv_node l = kcv_op_mean(g, kcv_op_bce_logits(g, h, t), KCV_AXIS_ALL, 0);
	l = kcv_op_add(g, l, kcv_op_sum(g, kcv_op_square(g, kcv_op_mean(g, h, 3, 0)), KCV_AXIS_ALL, 0));
	kcv_error err = {0};
	ck_assert_msg(kcv_graph_backward(g, l, &err) == KCV_OK, "%s", err.text);
	ck_assert_int_eq(kcv_graph_mark_output(g, h), KCV_OK);
	ck_assert_msg(kcv_graph_compile(g, &err) == KCV_OK, "%s", err.text);
	kcv_rng rng;
	kcv_rng_seed(&rng, 42, 0, 0, 0);
	kcv_node fill[6] = {x, w, gamma, beta, t, var};
	for (int i = 0; i < 6; i++) {
		kcv_shape s = kcv_graph_shape(g, fill[i]);
		float *d = kcv_graph_data(g, fill[i]);
		for (long e = 0; e < numel(&s); e++)
			d[e] = (float)kcv_rng_range(&rng, i == 4 ? 0 : -1, 1);
	}
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
	run_out r = {0};
	kcv_node leaves[3] = {w, gamma, beta};
	r.nv = numel(&xs);
	r.value = malloc((size_t)r.nv * sizeof(float));
	memcpy(r.value, kcv_graph_data(g, h), (size_t)r.nv * sizeof(float));
	for (int i = 0; i < 3; i++) {
		kcv_shape s = kcv_graph_shape(g, leaves[i]);
		r.ng[i] = numel(&s);
		r.grad[i] = malloc((size_t)r.ng[i] * sizeof(float));
		const float *gr = kcv_graph_grad(g, leaves[i]);
		if (gr)
			memcpy(r.grad[i], gr, (size_t)r.ng[i] * sizeof(float));
		else
			memset(r.grad[i], 0, (size_t)r.ng[i] * sizeof(float));
	}
	kcv_graph_free(g);
	return r;
}

static void same_bits(run_out a, run_out b, const char *what)
{
	ck_assert_msg(memcmp(a.value, b.value, (size_t)a.nv * sizeof(float)) == 0,
	              "%s: values differ", what);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(memcmp(a.grad[i], b.grad[i], (size_t)a.ng[i] * sizeof(float)) == 0,
		              "%s: gradient %d differs", what, i);
	free(a.value);
	free(b.value);
	for (int i = 0; i < 3; i++)
		free(a.grad[i]), free(b.grad[i]);
}

START_TEST(test_bit_identical)
{
	same_bits(run_net(2, 1), run_net(2, 1), "two runs, 2 threads");
	same_bits(run_net(1, 0), run_net(3, 0), "1 vs 3 threads (no BLAS)");
}
END_TEST

static Suite *reduce_suite(void)
{
	Suite *s = suite_create("ops_reduce");
	TCase *tc = tcase_create("reduce");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reduce_axes);
	tcase_add_test(tc, test_reduce_long);
	tcase_add_test(tc, test_reduce_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("gather");
	tcase_add_test(tc, test_gather_rows);
	suite_add_tcase(s, tc);
	tc = tcase_create("reproducibility");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bit_identical);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(reduce_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
