/* conv2d against a plain double-precision loop: the 1x1 sgemm path and the
 * im2col path, stride, dilation, groups, asymmetric and "same" padding,
 * bias and fused ReLU; gradients by finite differences on small shapes, and
 * against reference gradient loops on shapes that span several column
 * tiles. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>

#include "ops_check.h"

typedef struct conv_case {
	kcv_conv2d_params p;
	int bias;
	int residual; /* kcv_op_conv2d_residual: an extra input added before the ReLU */
} conv_case;

typedef struct cgeom {
	int n, h, w, cin, kh, kw, cout, sh, sw, dh, dw, pt, pl, oh, ow, cin_g, cout_g;
} cgeom;

static int one(int v)
{
	return v > 0 ? v : 1;
}

/* TF "same" along one axis, written from the definition. */
static void same_axis(int in, int k, int s, int d, int *out, int *before)
{
	*out = (in + s - 1) / s;
	int total = (*out - 1) * s + (k - 1) * d + 1 - in;
	*before = total > 0 ? total / 2 : 0;
}

static cgeom geom(const conv_case *c, const kcv_shape *x, const kcv_shape *w)
{
	const kcv_conv2d_params *p = &c->p;
	cgeom g = {(int)x->d[0], (int)x->d[1], (int)x->d[2], (int)x->d[3], (int)w->d[0],
	           (int)w->d[1], (int)w->d[3], one(p->stride_h), one(p->stride_w),
	           one(p->dilation_h), one(p->dilation_w), p->pad_top, p->pad_left, 0, 0,
	           (int)w->d[2], (int)w->d[3] / one(p->groups)};
	if (p->same) {
		same_axis(g.h, g.kh, g.sh, g.dh, &g.oh, &g.pt);
		same_axis(g.w, g.kw, g.sw, g.dw, &g.ow, &g.pl);
	} else {
		g.oh = (g.h + p->pad_top + p->pad_bottom - ((g.kh - 1) * g.dh + 1)) / g.sh + 1;
		g.ow = (g.w + p->pad_left + p->pad_right - ((g.kw - 1) * g.dw + 1)) / g.sw + 1;
	}
	return g;
}

/* Pre-activation (no ReLU) into out. */
static void conv_pre(const conv_case *c, const double *const *in, const kcv_shape *s,
                     double *out)
{
	cgeom g = geom(c, &s[0], &s[1]);
	const double *x = in[0], *w = in[1], *b = c->bias ? in[2] : NULL;
	for (int n = 0; n < g.n; n++)
		for (int oy = 0; oy < g.oh; oy++)
			for (int ox = 0; ox < g.ow; ox++)
				for (int co = 0; co < g.cout; co++) {
					int grp = co / g.cout_g;
					double sum = b ? b[co] : 0;
					for (int ky = 0; ky < g.kh; ky++)
						for (int kx = 0; kx < g.kw; kx++) {
							int iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
							if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
								continue;
							for (int ci = 0; ci < g.cin_g; ci++)
								sum += x[((n * g.h + iy) * g.w + ix) * g.cin + grp * g.cin_g + ci] *
								       w[((ky * g.kw + kx) * g.cin_g + ci) * g.cout + co];
						}
					out[((n * g.oh + oy) * g.ow + ox) * g.cout + co] = sum;
				}
}

static void ref_conv(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	const conv_case *c = ctx;
	conv_pre(c, in, s, out);
	cgeom g = geom(c, &s[0], &s[1]);
	long m = (long)g.n * g.oh * g.ow * g.cout;
	if (c->residual)
		for (long j = 0; j < m; j++)
			out[j] += in[2 + c->bias][j];
	if (!c->p.relu)
		return;
	for (long j = 0; j < m; j++)
		out[j] = out[j] > 0 ? out[j] : 0;
}

/* Reference gradients of sum(conv(x) * r): the adjoint loops. */
static void ref_conv_grads(const void *ctx, const double *const *in, const kcv_shape *s,
                           const double *r, double **grad)
{
	const conv_case *c = ctx;
	cgeom g = geom(c, &s[0], &s[1]);
	long m = (long)g.n * g.oh * g.ow * g.cout;
	double *pre = malloc((size_t)m * sizeof(double));
	conv_pre(c, in, s, pre);
	const double *x = in[0], *w = in[1];
	for (int n = 0; n < g.n; n++)
		for (int oy = 0; oy < g.oh; oy++)
			for (int ox = 0; ox < g.ow; ox++)
				for (int co = 0; co < g.cout; co++) {
					long o = ((n * g.oh + oy) * (long)g.ow + ox) * g.cout + co;
					double d = c->p.relu && pre[o] <= 0 ? 0 : r[o];
					if (d == 0)
						continue;
					int grp = co / g.cout_g;
					if (c->bias && grad[2])
						grad[2][co] += d;
					for (int ky = 0; ky < g.kh; ky++)
						for (int kx = 0; kx < g.kw; kx++) {
							int iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
							if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
								continue;
							for (int ci = 0; ci < g.cin_g; ci++) {
								long xi = ((n * g.h + iy) * (long)g.w + ix) * g.cin + grp * g.cin_g + ci;
								long wi = ((ky * g.kw + kx) * (long)g.cin_g + ci) * g.cout + co;
								if (grad[0])
									grad[0][xi] += w[wi] * d;
								if (grad[1])
									grad[1][wi] += x[xi] * d;
							}
						}
				}
	free(pre);
}

/* Build and check one convolution: x [n,h,w,cin], weights [kh,kw,cin/g,cout]. */
static void run_case(const char *label, int n, int h, int w, int cin, int kh, int kw, int cout,
                     const conv_case *c, int big)
{
	ot t;
	ot_begin(&t, label, (uint64_t)(h * 131 + w * 17 + cin * 7 + cout));
	kcv_shape xs = ot_shape(4, n, h, w, cin), ws = ot_shape(4, kh, kw, cin / one(c->p.groups), cout);
	kcv_node x = ot_leaf(&t, xs, 1, -1, 1);
	kcv_node wt = ot_leaf(&t, ws, 1, -0.5, 0.5);
	kcv_node b = c->bias ? ot_leaf(&t, ot_shape(1, cout), 1, -0.5, 0.5) : -1;
	cgeom g = geom(c, &xs, &ws);
	kcv_shape want = ot_shape(4, n, g.oh, g.ow, cout);
	kcv_node y;
	if (c->residual) {
		kcv_node r = ot_leaf(&t, want, 1, -1, 1);
		y = kcv_op_conv2d_residual(t.g, x, wt, b, r, &c->p);
	} else {
		y = kcv_op_conv2d(t.g, x, wt, b, &c->p);
	}
	if (big) {
		t.grad_atol = 1e-3; /* sums over thousands of rows in float */
		ot_check_grads(&t, y, want, ref_conv, ref_conv_grads, c);
	} else {
		ot_check(&t, y, want, ref_conv, c);
	}
}

START_TEST(test_conv_1x1_sgemm)
{
	conv_case a = {.bias = 1};
	run_case("1x1 bias", 2, 5, 7, 8, 1, 1, 6, &a, 0);
	conv_case b = {.p.relu = 1};
	run_case("1x1 relu", 2, 3, 5, 4, 1, 1, 7, &b, 0);
	conv_case c = {.bias = 1, .p.relu = 1, .p.groups = 2};
	run_case("1x1 groups 2 relu", 2, 3, 4, 6, 1, 1, 4, &c, 0);
	/* 1x1 from <= 4 channels into <= 32: one or two vectors per pixel, 8
	 * pixels of a row at a time, over many threads' ranges (the input
	 * normalisation's 3 -> 3; 20 outputs: a masked second vector) */
	conv_case d = {.bias = 1};
	run_case("1x1 3 -> 3 bias, many pixels", 3, 37, 41, 3, 1, 1, 3, &d, 0);
	conv_case e = {.bias = 1, .residual = 1, .p.relu = 1};
	run_case("1x1 4 -> 20 bias residual relu", 2, 19, 23, 4, 1, 1, 20, &e, 0);
	conv_case f = {.p.relu = 1};
	run_case("1x1 2 -> 16 relu", 2, 9, 13, 2, 1, 1, 16, &f, 0);
}
END_TEST

/* The fused shortcut of a residual block: relu(conv(x) + b + r). */
START_TEST(test_conv_residual)
{
	conv_case a = {.bias = 1, .residual = 1, .p.relu = 1};
	run_case("1x1 bias residual relu", 2, 4, 5, 6, 1, 1, 8, &a, 0);
	conv_case b = {.residual = 1, .p = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1,
	                                    .pad_right = 1, .relu = 1}};
	run_case("3x3 residual relu (no bias)", 2, 5, 4, 3, 3, 3, 4, &b, 0);
	conv_case c = {.bias = 1, .residual = 1, .p = {.stride_h = 2, .stride_w = 2, .same = 1}};
	run_case("3x3 stride 2 same residual", 1, 7, 6, 3, 3, 3, 5, &c, 0);
	kcv_graph *g = ot_graph(1);
	kcv_node x = kcv_graph_input(g, "x", kcv_shape_4d(1, 4, 4, 2));
	kcv_node w = kcv_graph_input(g, "w", kcv_shape_4d(1, 1, 2, 3));
	kcv_node r = kcv_graph_input(g, "r", kcv_shape_4d(1, 4, 4, 2));
	ot_expect_error(g, kcv_op_conv2d_residual(g, x, w, -1, r, NULL), "residual has shape");
	kcv_graph_free(g);
}
END_TEST

START_TEST(test_conv_im2col)
{
	conv_case a = {.bias = 1, .p = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
	                                .relu = 1}};
	run_case("3x3 pad 1 bias relu", 2, 6, 5, 3, 3, 3, 4, &a, 0);
	conv_case b = {.bias = 0};
	run_case("3x3 valid", 1, 5, 6, 2, 3, 3, 3, &b, 0);
	conv_case c = {.bias = 1, .p.stride_h = 2, .p.stride_w = 2};
	run_case("1x1 stride 2 (im2col)", 2, 7, 6, 3, 1, 1, 4, &c, 0);
	conv_case d = {.bias = 1, .p = {.stride_h = 2, .stride_w = 2, .pad_top = 3, .pad_bottom = 3,
	                                .pad_left = 3, .pad_right = 3, .relu = 1}};
	run_case("7x7 stride 2 stem", 1, 11, 10, 3, 7, 7, 4, &d, 0);
}
END_TEST

START_TEST(test_conv_stride_same)
{
	conv_case a = {.bias = 1, .p = {.stride_h = 2, .stride_w = 2, .same = 1}};
	run_case("3x3 stride 2 same odd", 2, 7, 9, 3, 3, 3, 5, &a, 0);
	conv_case b = {.p = {.stride_h = 2, .stride_w = 2, .same = 1, .relu = 1}};
	run_case("2x2 stride 2 same even", 2, 6, 8, 2, 2, 2, 3, &b, 0);
	conv_case c = {.bias = 1, .p = {.same = 1}};
	run_case("4x4 stride 1 same (pad 1/2)", 1, 5, 6, 2, 4, 4, 3, &c, 0);
	conv_case d = {.bias = 1,
	               .p = {.stride_h = 2, .stride_w = 1, .dilation_h = 1, .dilation_w = 2, .same = 1}};
	run_case("5x3 stride 2x1 dilation 1x2 same", 1, 9, 8, 2, 5, 3, 3, &d, 0);
}
END_TEST

START_TEST(test_conv_dilation_padding)
{
	conv_case a = {.bias = 1, .p = {.dilation_h = 2, .dilation_w = 2, .pad_top = 2,
	                                .pad_bottom = 1, .pad_left = 0, .pad_right = 2}};
	run_case("3x3 dilation 2 asymmetric pads", 1, 8, 7, 2, 3, 3, 3, &a, 0);
	conv_case b = {.p = {.stride_h = 2, .stride_w = 3, .dilation_h = 2, .dilation_w = 1,
	                     .pad_top = 0, .pad_bottom = 3, .pad_left = 1, .pad_right = 0, .relu = 1}};
	run_case("3x2 stride 2x3 dilation 2x1 pads 0/3/1/0", 2, 9, 10, 3, 3, 2, 2, &b, 0);
}
END_TEST

START_TEST(test_conv_groups)
{
	conv_case a = {.bias = 1, .p = {.groups = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1,
	                                .pad_right = 1}};
	run_case("3x3 groups 2", 2, 6, 6, 4, 3, 3, 6, &a, 0);
	conv_case b = {.bias = 1, .p = {.groups = 3, .stride_h = 2, .stride_w = 2, .same = 1,
	                                .relu = 1}};
	run_case("3x3 groups 3 stride 2 same relu", 2, 7, 5, 6, 3, 3, 3, &b, 0);
}
END_TEST

/* Shapes whose column matrix or masked dY spans several tiles. */
START_TEST(test_conv_tiles)
{
	conv_case a = {.bias = 1, .p = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1,
	                                .relu = 1}};
	run_case("3x3 x32 -> 16, 2 column tiles", 2, 64, 64, 32, 3, 3, 16, &a, 1);
	conv_case b = {.bias = 1, .p.relu = 1};
	run_case("1x1 8 -> 256 relu, 2 mask tiles", 2, 64, 65, 8, 1, 1, 256, &b, 1);
	conv_case c = {.bias = 1, .p = {.groups = 2, .stride_h = 2, .stride_w = 2, .same = 1}};
	run_case("3x3 groups 2 stride 2, 2 tiles", 2, 130, 128, 64, 3, 3, 8, &c, 1);
}
END_TEST

START_TEST(test_conv_errors)
{
	kcv_graph *g = ot_graph(1);
	kcv_node x = kcv_graph_input(g, "x", kcv_shape_4d(1, 8, 8, 64));
	kcv_node w = kcv_graph_param(g, "w", kcv_shape_4d(3, 3, 32, 16), KCV_PARAM_TRAINABLE);
	ot_expect_error(g, kcv_op_conv2d(g, x, w, -1, NULL),
	                "conv2d: input has 64 channels but the weights expect 32");
	kcv_graph_free(g);

	g = ot_graph(1);
	x = kcv_graph_input(g, "x", kcv_shape_4d(1, 8, 8, 64));
	w = kcv_graph_param(g, "w", kcv_shape_4d(3, 3, 32, 16), KCV_PARAM_TRAINABLE);
	kcv_node b = kcv_graph_param(g, "b", ot_shape(1, 8), KCV_PARAM_TRAINABLE);
	kcv_conv2d_params p = {.groups = 2};
	ot_expect_error(g, kcv_op_conv2d(g, x, w, b, &p), "bias has shape [8]");
	kcv_graph_free(g);

	g = ot_graph(1);
	x = kcv_graph_input(g, "x", kcv_shape_4d(1, 2, 2, 3));
	w = kcv_graph_param(g, "w", kcv_shape_4d(3, 3, 3, 4), KCV_PARAM_TRAINABLE);
	ot_expect_error(g, kcv_op_conv2d(g, x, w, -1, NULL), "does not fit");
	kcv_graph_free(g);
}
END_TEST

static Suite *conv_suite(void)
{
	Suite *s = suite_create("ops_conv");
	TCase *tc = tcase_create("conv2d");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_conv_1x1_sgemm);
	tcase_add_test(tc, test_conv_im2col);
	tcase_add_test(tc, test_conv_residual);
	tcase_add_test(tc, test_conv_stride_same);
	tcase_add_test(tc, test_conv_dilation_padding);
	tcase_add_test(tc, test_conv_groups);
	tcase_add_test(tc, test_conv_tiles);
	tcase_add_test(tc, test_conv_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conv_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
