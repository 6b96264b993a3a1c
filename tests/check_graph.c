/* The graph engine: autodiff bookkeeping (accumulation, frozen parts, views),
 * memory planning and errors. The ops themselves are tested in check_ops*. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/kcv.h>
#include <kcv/graph.h>

static kcv_graph *new_graph(void)
{
	kcv_error err = {0};
	kcv_graph_params p = {.threads = 2};
	kcv_graph *g = kcv_graph_new(&p, &err);
	ck_assert_msg(g != NULL, "%s", err.text);
	return g;
}

static void compile_ok(kcv_graph *g)
{
	kcv_error err = {0};
	char msg[1500];
	ck_assert_msg(kcv_graph_compile(g, &err) == KCV_OK, "%s", kcv_error_format(&err, msg, sizeof(msg)));
}

static void fill(float *p, size_t n, uint64_t seed)
{
	kcv_rng r;
	kcv_rng_seed(&r, seed, 0, 0, 0);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)kcv_rng_range(&r, -1, 1);
}

/* loss = sum(x*x + x): dloss/dx = 2x + 1, x used by two consumers and twice
 * by one: the gradient must accumulate, not overwrite. */
START_TEST(test_gradient_accumulates_over_uses)
{
	kcv_graph *g = new_graph();
	kcv_node x = kcv_graph_param(g, "x", kcv_shape_4d(2, 3, 5, 7), KCV_PARAM_TRAINABLE);
	kcv_node y = kcv_op_add(g, kcv_op_mul(g, x, x), x);
	kcv_node loss = kcv_op_sum(g, y, KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_backward(g, loss, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_mark_output(g, loss), KCV_OK);
	compile_ok(g);
	float *xd = kcv_graph_data(g, x);
	fill(xd, 210, 1);
	for (int rep = 0; rep < 2; rep++) { /* twice: nothing stale from the first run */
		ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
		ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
		double want = 0;
		const float *gx = kcv_graph_grad(g, x);
		for (int i = 0; i < 210; i++) {
			want += (double)xd[i] * xd[i] + xd[i];
			ck_assert_float_eq_tol(gx[i], 2 * xd[i] + 1, 1e-5);
		}
		ck_assert_float_eq_tol(kcv_graph_data(g, loss)[0], want, 1e-3);
	}
	kcv_graph_free(g);
}
END_TEST

/* A frozen chain feeding a trainable tail: no gradient buffers for the
 * frozen part, and its activations share memory. */
START_TEST(test_frozen_part_and_memory_reuse)
{
	kcv_graph *g = new_graph();
	kcv_node x = kcv_graph_input(g, "x", kcv_shape_4d(4, 16, 16, 8));
	kcv_node h = x;
	for (int i = 0; i < 10; i++)
		h = kcv_op_relu(g, kcv_op_affine(g, h, 0.9f, 0.1f));
	kcv_node w = kcv_graph_param(g, "w", kcv_shape_make(1, (int64_t[]){8}), KCV_PARAM_TRAINABLE);
	kcv_node frozen = kcv_graph_param(g, "frozen", kcv_shape_make(1, (int64_t[]){8}), 0);
	kcv_node y = kcv_op_mul(g, kcv_op_add(g, h, frozen), w);
	kcv_node loss = kcv_op_mean(g, y, KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_backward(g, loss, &err), KCV_OK);
	compile_ok(g);
	size_t act = 4 * 16 * 16 * 8 * sizeof(float);
	/* 20 frozen activations of 32 KB would be 640 KB without reuse */
	ck_assert_msg(kcv_graph_arena_bytes(g) <= 5 * act, "arena %zu bytes for activations of %zu",
	              kcv_graph_arena_bytes(g), act);
	ck_assert_ptr_null(kcv_graph_grad(g, frozen));
	ck_assert_ptr_nonnull(kcv_graph_grad(g, w));
	ck_assert(!kcv_graph_param_trainable(g, frozen));
	ck_assert(kcv_graph_param_trainable(g, w));
	fill(kcv_graph_data(g, x), 4 * 16 * 16 * 8, 2);
	fill(kcv_graph_data(g, w), 8, 3);
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
	/* dloss/dw[c] = mean over the rest of (h + frozen)[c] / 8: recompute h */
	const float *xd = kcv_graph_data(g, x), *gw = kcv_graph_grad(g, w);
	double sum[8] = {0};
	for (int i = 0; i < 4 * 16 * 16; i++)
		for (int c = 0; c < 8; c++) {
			float v = xd[i * 8 + c];
			for (int k = 0; k < 10; k++)
				v = fmaxf(v * 0.9f + 0.1f, 0.0f);
			sum[c] += v;
		}
	for (int c = 0; c < 8; c++)
		ck_assert_float_eq_tol(gw[c], sum[c] / (4.0 * 16 * 16 * 8), 1e-5);
	ck_assert_uint_eq(kcv_graph_param_at(g, 0), w);
	ck_assert_int_eq(kcv_graph_find(g, "frozen"), frozen);
	ck_assert_int_eq(kcv_graph_find(g, "nope"), -1);
	kcv_graph_free(g);
}
END_TEST

/* reshape is a view: the same memory, and gradients flow through it. */
START_TEST(test_reshape_is_a_view)
{
	kcv_graph *g = new_graph();
	kcv_node x = kcv_graph_param(g, "x", kcv_shape_4d(2, 3, 4, 6), KCV_PARAM_TRAINABLE);
	kcv_node r = kcv_op_reshape(g, x, 3, (int64_t[]){2, -1, 2});
	ck_assert_int_eq(kcv_graph_shape(g, r).d[1], 36);
	kcv_node loss = kcv_op_sum(g, kcv_op_square(g, r), KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_backward(g, loss, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_mark_output(g, r), KCV_OK);
	compile_ok(g);
	ck_assert_ptr_eq(kcv_graph_data(g, r), kcv_graph_data(g, x));
	float *xd = kcv_graph_data(g, x);
	fill(xd, 144, 4);
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
	for (int i = 0; i < 144; i++)
		ck_assert_float_eq_tol(kcv_graph_grad(g, x)[i], 2 * xd[i], 1e-6);
	kcv_graph_free(g);
}
END_TEST

START_TEST(test_build_errors)
{
	kcv_graph *g = new_graph();
	kcv_error err = {0};
	kcv_node a = kcv_graph_input(g, "a", kcv_shape_4d(1, 2, 3, 4));
	kcv_node b = kcv_graph_input(g, "b", kcv_shape_4d(1, 2, 3, 5));
	ck_assert_int_eq(kcv_op_add(g, a, b), -1);
	/* the first error wins and later ops fail quietly */
	ck_assert_int_eq(kcv_op_relu(g, a), -1);
	ck_assert_int_ne(kcv_graph_status(g, &err), KCV_OK);
	ck_assert_msg(strstr(err.text, "[1, 2, 3, 4]") || strstr(err.text, "broadcast"), "%s", err.text);
	ck_assert_int_ne(kcv_graph_compile(g, &err), KCV_OK);
	kcv_graph_free(g);

	g = new_graph();
	kcv_node x = kcv_graph_param(g, "x", kcv_shape_4d(1, 2, 2, 1), KCV_PARAM_TRAINABLE);
	kcv_error e2 = {0};
	ck_assert_int_ne(kcv_graph_backward(g, kcv_op_relu(g, x), &e2), KCV_OK);
	ck_assert_msg(strstr(e2.text, "scalar"), "%s", e2.text);
	kcv_node c = kcv_graph_input(g, "c", kcv_shape_make(1, (int64_t[]){3}));
	kcv_error e3 = {0};
	ck_assert_int_ne(kcv_graph_backward(g, kcv_op_sum(g, c, KCV_AXIS_ALL, 0), &e3), KCV_OK);
	ck_assert_msg(strstr(e3.text, "trainable"), "%s", e3.text);
	ck_assert_int_eq(kcv_graph_param(g, "bad", kcv_shape_4d(1, 0, 2, 2), 0), -1);
	kcv_graph_free(g);
}
END_TEST

static Suite *graph_suite(void)
{
	Suite *s = suite_create("graph");
	TCase *tc = tcase_create("autodiff");
	tcase_add_test(tc, test_gradient_accumulates_over_uses);
	tcase_add_test(tc, test_reshape_is_a_view);
	suite_add_tcase(s, tc);
	tc = tcase_create("planning");
	tcase_add_test(tc, test_frozen_part_and_memory_reuse);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_build_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(graph_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
