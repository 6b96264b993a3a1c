/* A small network (two convolutions + a loss) trained with SGD for a few
 * steps matches PyTorch step by step: the loss of each step and the weights
 * after the last one within 1e-4 relative. The oracle (train_parity.py) runs
 * through Debian's python3-torch; without it the test is skipped. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>
#include <kcv/kcv.h>
#include <kcv/optim.h>
#include <kcv/safetensors.h>

#define STEPS 6

static const char *const names[4] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"};

static double max_rel(const float *a, const float *b, size_t n)
{
	double diff = 0, scale = 1e-12;
	for (size_t i = 0; i < n; i++) {
		diff = fmax(diff, fabs((double)a[i] - b[i]));
		scale = fmax(scale, fabs((double)b[i]));
	}
	return diff / scale;
}

START_TEST(test_sgd_matches_pytorch)
{
	const char *py = getenv("KCV_PYTHON") ? getenv("KCV_PYTHON") : "/usr/bin/python3";
	char cmd[4096], dir[] = "/tmp/kcv-train-XXXXXX";
	snprintf(cmd, sizeof(cmd), "%s -c 'import torch, numpy' 2>/dev/null", py);
	if (system(cmd) != 0) {
		fprintf(stderr, "SKIP: %s has no torch (apt-get install python3-torch)\n", py);
		return;
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "%s '%s/train_parity.py' '%s' %d", py, getenv("KCV_TEST_SRCDIR"), dir,
	         STEPS);
	ck_assert_int_eq(system(cmd), 0);
	char path[256];
	kcv_error err = {0};
	snprintf(path, sizeof(path), "%s/init.safetensors", dir);
	kcv_weights *init = kcv_weights_open(path, &err);
	ck_assert_msg(init != NULL, "%s", err.text);
	snprintf(path, sizeof(path), "%s/final.safetensors", dir);
	kcv_weights *final = kcv_weights_open(path, &err);
	ck_assert_msg(final != NULL, "%s", err.text);

	kcv_graph_params gp = {.threads = 2};
	kcv_graph *g = kcv_graph_new(&gp, &err);
	ck_assert_ptr_nonnull(g);
	kcv_node x = kcv_graph_input(g, "x", kcv_shape_4d(2, 9, 11, 3));
	kcv_node t = kcv_graph_input(g, "target", kcv_shape_4d(2, 5, 6, 4));
	kcv_node p[4];
	p[0] = kcv_graph_param(g, names[0], kcv_shape_4d(3, 3, 3, 8), KCV_PARAM_TRAINABLE);
	p[1] = kcv_graph_param(g, names[1], kcv_shape_make(1, (int64_t[]){8}), KCV_PARAM_TRAINABLE);
	p[2] = kcv_graph_param(g, names[2], kcv_shape_4d(3, 3, 8, 4), KCV_PARAM_TRAINABLE);
	p[3] = kcv_graph_param(g, names[3], kcv_shape_make(1, (int64_t[]){4}), KCV_PARAM_TRAINABLE);
	kcv_conv2d_params c1 = {.stride_h = 2, .stride_w = 2, .pad_top = 1, .pad_bottom = 1,
	                        .pad_left = 1, .pad_right = 1, .relu = 1};
	kcv_conv2d_params c2 = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
	kcv_node h = kcv_op_conv2d(g, x, p[0], p[1], &c1);
	kcv_node y = kcv_op_conv2d(g, h, p[2], p[3], &c2);
	kcv_node loss = kcv_op_mean(g, kcv_op_square(g, kcv_op_sub(g, y, t)), KCV_AXIS_ALL, 0);
	ck_assert_int_eq(kcv_graph_mark_output(g, loss), KCV_OK);
	ck_assert_msg(kcv_graph_backward(g, loss, &err) == KCV_OK, "%s", err.text);
	ck_assert_msg(kcv_graph_compile(g, &err) == KCV_OK, "%s", err.text);
	kcv_schedule sched = {.kind = KCV_SCHEDULE_CONSTANT, .lr = 0.05};
	kcv_optim_params op = {.kind = KCV_OPTIM_SGD, .momentum = 0.9};
	kcv_optim *opt = kcv_optim_new(&op, &sched, &err);
	ck_assert_ptr_nonnull(opt);
	for (int i = 0; i < 4; i++) {
		kcv_shape s = kcv_graph_shape(g, p[i]);
		size_t n = (size_t)kcv_shape_numel(&s);
		ck_assert_int_eq(kcv_weights_read_f32(init, names[i], kcv_graph_data(g, p[i]), n, &err), KCV_OK);
		ck_assert_int_eq(kcv_optim_add_param(opt, names[i], kcv_graph_data(g, p[i]),
		                                     kcv_graph_grad(g, p[i]), n, &err), KCV_OK);
	}
	ck_assert_int_eq(kcv_weights_read_f32(init, "x", kcv_graph_data(g, x), 2 * 9 * 11 * 3, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_read_f32(init, "target", kcv_graph_data(g, t), 2 * 5 * 6 * 4, &err), KCV_OK);
	float want_losses[STEPS];
	ck_assert_int_eq(kcv_weights_read_f32(final, "losses", want_losses, STEPS, &err), KCV_OK);
	for (int step = 0; step < STEPS; step++) {
		ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
		float l = kcv_graph_data(g, loss)[0];
		ck_assert_msg(fabs(l - want_losses[step]) <= 1e-4 * fabs(want_losses[step]),
		              "step %d: loss %.8g, PyTorch %.8g", step, l, want_losses[step]);
		ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
		ck_assert_int_eq(kcv_optim_step(opt, NULL, &err), KCV_OK);
	}
	for (int i = 0; i < 4; i++) {
		kcv_shape s = kcv_graph_shape(g, p[i]);
		size_t n = (size_t)kcv_shape_numel(&s);
		float *want = malloc(n * sizeof(float));
		ck_assert_int_eq(kcv_weights_read_f32(final, names[i], want, n, &err), KCV_OK);
		double rel = max_rel(kcv_graph_data(g, p[i]), want, n);
		ck_assert_msg(rel <= 1e-4, "%s after %d steps: max relative error %g", names[i], STEPS, rel);
		free(want);
	}
	kcv_optim_free(opt);
	kcv_graph_free(g);
	kcv_weights_free(init);
	kcv_weights_free(final);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *train_suite(void)
{
	Suite *s = suite_create("train");
	TCase *tc = tcase_create("pytorch_parity");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sgd_matches_pytorch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(train_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
