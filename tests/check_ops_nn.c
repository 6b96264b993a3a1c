/* Network ops against double-precision loops, gradients by finite
 * differences: batch_norm (inference, training), group_norm, max_pool,
 * upsample_nearest, concat, transpose, reshape, matmul. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>

#include "ops_check.h"

static long numel(const kcv_shape *s)
{
	return (long)kcv_shape_numel(s);
}

/* ---- batch norm ----------------------------------------------------------- */

typedef struct norm_case {
	double eps;
	int training, groups;
} norm_case;

static void ref_bn(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	const norm_case *nc = ctx;
	long c = s[0].d[s[0].rank - 1], rows = numel(&s[0]) / c;
	const double *x = in[0], *gamma = in[1], *beta = in[2];
	for (long k = 0; k < c; k++) {
		double mean = in[3][k], var = in[4][k];
		if (nc->training) {
			mean = var = 0;
			for (long r = 0; r < rows; r++)
				mean += x[r * c + k];
			mean /= (double)rows;
			for (long r = 0; r < rows; r++)
				var += (x[r * c + k] - mean) * (x[r * c + k] - mean);
			var /= (double)rows;
		}
		for (long r = 0; r < rows; r++)
			out[r * c + k] = (x[r * c + k] - mean) / sqrt(var + nc->eps) * gamma[k] + beta[k];
	}
}

/* follow: kcv_op_batch_norm_train, which follows the graph's training mode
 * (set to `training`): batch statistics (mean and var get no gradient) in
 * training, the running ones (differentiable) otherwise. */
static void bn_case_mode(const char *label, kcv_shape xs, int training, float eps, int follow)
{
	ot t;
	ot_begin(&t, label, (uint64_t)numel(&xs) + (uint64_t)training + 7u * (uint64_t)follow);
	int c = (int)xs.d[xs.rank - 1];
	kcv_node x = ot_leaf(&t, xs, 1, -2, 3);
	kcv_node gamma = ot_leaf(&t, ot_shape(1, c), 1, 0.5, 1.5);
	kcv_node beta = ot_leaf(&t, ot_shape(1, c), 1, -1, 1);
	/* inference: the statistics get gradients too */
	kcv_node mean = ot_leaf(&t, ot_shape(1, c), !training, -0.5, 0.5);
	kcv_node var = ot_leaf(&t, ot_shape(1, c), !training, 0.5, 2);
	norm_case nc = {eps, training, 0};
	kcv_node y;
	if (follow) {
		kcv_graph_set_training(t.g, training);
		y = kcv_op_batch_norm_train(t.g, x, gamma, beta, mean, var, eps, 0.1f);
	} else {
		y = kcv_op_batch_norm(t.g, x, gamma, beta, mean, var, eps, training);
	}
	ot_check(&t, y, xs, ref_bn, &nc);
}

static void bn_case(const char *label, kcv_shape xs, int training, float eps)
{
	bn_case_mode(label, xs, training, eps, 0);
}

START_TEST(test_batch_norm)
{
	bn_case("bn inference 4d", ot_shape(4, 2, 3, 4, 5), 0, 1e-3f);
	bn_case("bn inference 2d", ot_shape(2, 7, 3), 0, 1e-5f);
	bn_case("bn training 4d", ot_shape(4, 2, 3, 5, 4), 1, 1e-3f);
	bn_case("bn training 2d", ot_shape(2, 9, 3), 1, 1e-5f);
}
END_TEST

START_TEST(test_batch_norm_follow)
{
	bn_case_mode("bn follow, training mode", ot_shape(4, 2, 3, 5, 4), 1, 1e-3f, 1);
	bn_case_mode("bn follow, inference mode", ot_shape(4, 2, 3, 4, 5), 0, 1e-3f, 1);
}
END_TEST

/* Each training-mode forward pass moves the running statistics as torch's
 * BatchNorm2d does (momentum 0.3 here; the variance unbiased); inference mode
 * leaves them alone and normalises with them. */
START_TEST(test_batch_norm_running)
{
	enum { N = 2, H = 3, W = 2, C = 3, M = N * H * W };
	kcv_graph *g = ot_graph(2);
	kcv_node x = kcv_graph_input(g, "x", kcv_shape_4d(N, H, W, C));
	int64_t d1[1] = {C};
	kcv_node gamma = kcv_graph_param(g, "bn.weight", kcv_shape_make(1, d1), KCV_PARAM_TRAINABLE);
	kcv_node beta = kcv_graph_param(g, "bn.bias", kcv_shape_make(1, d1), KCV_PARAM_TRAINABLE);
	kcv_node mean = kcv_graph_param(g, "bn.running_mean", kcv_shape_make(1, d1), 0);
	kcv_node var = kcv_graph_param(g, "bn.running_var", kcv_shape_make(1, d1), 0);
	kcv_node y = kcv_op_batch_norm_train(g, x, gamma, beta, mean, var, 1e-5f, 0.3f);
	kcv_graph_mark_output(g, y);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_compile(g, &err), KCV_OK);
	float *xd = kcv_graph_data(g, x);
	for (int i = 0; i < M * C; i++)
		xd[i] = (float)((i * 37 % 23) * 0.25 - 2.0 + (i % C));
	for (int k = 0; k < C; k++) {
		kcv_graph_data(g, gamma)[k] = 1.0f + 0.5f * (float)k;
		kcv_graph_data(g, beta)[k] = -0.25f * (float)k;
		kcv_graph_data(g, mean)[k] = 0.5f;
		kcv_graph_data(g, var)[k] = 2.0f;
	}
	double bm[C], bv[C], rm[C], rv[C];
	for (int k = 0; k < C; k++) {
		double s = 0, s2 = 0;
		for (int r = 0; r < M; r++)
			s += xd[r * C + k];
		bm[k] = s / M;
		for (int r = 0; r < M; r++)
			s2 += (xd[r * C + k] - bm[k]) * (xd[r * C + k] - bm[k]);
		bv[k] = s2 / (M - 1); /* unbiased */
		rm[k] = 0.5;
		rv[k] = 2.0;
	}
	kcv_graph_set_training(g, 1);
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
		for (int k = 0; k < C; k++) {
			rm[k] = 0.7 * rm[k] + 0.3 * bm[k];
			rv[k] = 0.7 * rv[k] + 0.3 * bv[k];
			ck_assert_double_eq_tol(kcv_graph_data(g, mean)[k], rm[k], 1e-5);
			ck_assert_double_eq_tol(kcv_graph_data(g, var)[k], rv[k], 1e-5);
		}
		/* the output used the batch statistics (biased variance) */
		double want = (xd[0] - bm[0]) / sqrt(bv[0] * (M - 1) / M + 1e-5);
		ck_assert_double_eq_tol(kcv_graph_data(g, y)[0], want, 1e-5);
	}
	kcv_graph_set_training(g, 0);
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	for (int k = 0; k < C; k++) {
		ck_assert_double_eq_tol(kcv_graph_data(g, mean)[k], rm[k], 1e-5);
		ck_assert_double_eq_tol(kcv_graph_data(g, var)[k], rv[k], 1e-5);
		double want = (xd[C + k] - rm[k]) / sqrt(rv[k] + 1e-5) * (1.0 + 0.5 * k) - 0.25 * k;
		ck_assert_double_eq_tol(kcv_graph_data(g, y)[C + k], want, 1e-5);
	}
	ot_expect_error(g, kcv_op_batch_norm_train(g, x, gamma, beta, mean, var, 1e-5f, 1.5f),
	                "momentum must be in [0, 1]");
	kcv_graph_free(g);
}
END_TEST

/* Large offsets and many rows: the statistics stay accurate (shifted sums in
 * double, chunked). */
START_TEST(test_batch_norm_big)
{
	ot t;
	ot_begin(&t, "bn training 40000 rows, mean 100", 3);
	kcv_shape xs = ot_shape(2, 40000, 3);
	kcv_node x = ot_leaf(&t, xs, 0, 99, 101);
	kcv_node gamma = ot_leaf(&t, ot_shape(1, 3), 1, 0.5, 1.5);
	kcv_node beta = ot_leaf(&t, ot_shape(1, 3), 1, -1, 1);
	kcv_node mean = ot_leaf(&t, ot_shape(1, 3), 0, 0, 0);
	kcv_node var = ot_leaf(&t, ot_shape(1, 3), 0, 1, 1);
	norm_case nc = {1e-5, 1, 0};
	kcv_node y = kcv_op_batch_norm(t.g, x, gamma, beta, mean, var, 1e-5f, 1);
	t.fwd_atol = t.fwd_rtol = 2e-4; /* x - mean loses float digits at |x| ~ 100 */
	ot_check(&t, y, xs, ref_bn, &nc);
}
END_TEST

/* ---- group norm ----------------------------------------------------------- */

static void ref_gn(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	const norm_case *nc = ctx;
	long n = s[0].d[0], c = s[0].d[s[0].rank - 1], hw = numel(&s[0]) / (n * c);
	long cg = c / nc->groups;
	const double *x = in[0], *gamma = in[1], *beta = in[2];
	for (long i = 0; i < n; i++)
		for (long g = 0; g < nc->groups; g++) {
			double mean = 0, var = 0, m = (double)(hw * cg);
			for (long p = 0; p < hw; p++)
				for (long k = g * cg; k < (g + 1) * cg; k++)
					mean += x[(i * hw + p) * c + k];
			mean /= m;
			for (long p = 0; p < hw; p++)
				for (long k = g * cg; k < (g + 1) * cg; k++) {
					double d = x[(i * hw + p) * c + k] - mean;
					var += d * d;
				}
			var /= m;
			for (long p = 0; p < hw; p++)
				for (long k = g * cg; k < (g + 1) * cg; k++) {
					long at = (i * hw + p) * c + k;
					out[at] = (x[at] - mean) / sqrt(var + nc->eps) * gamma[k] + beta[k];
				}
		}
}

static void gn_case(const char *label, kcv_shape xs, int groups)
{
	ot t;
	ot_begin(&t, label, (uint64_t)numel(&xs) * 3 + (uint64_t)groups);
	int c = (int)xs.d[xs.rank - 1];
	kcv_node x = ot_leaf(&t, xs, 1, -2, 3);
	kcv_node gamma = ot_leaf(&t, ot_shape(1, c), 1, 0.5, 1.5);
	kcv_node beta = ot_leaf(&t, ot_shape(1, c), 1, -1, 1);
	norm_case nc = {1e-5, 0, groups};
	ot_check(&t, kcv_op_group_norm(t.g, x, gamma, beta, groups, 1e-5f), xs, ref_gn, &nc);
}

START_TEST(test_group_norm)
{
	gn_case("gn 3 groups", ot_shape(4, 2, 3, 4, 6), 3);
	gn_case("gn 1 group", ot_shape(4, 2, 3, 3, 4), 1);
	gn_case("gn instance (groups = C)", ot_shape(4, 2, 5, 3, 3), 3);
	gn_case("gn rank 2", ot_shape(2, 3, 8), 2);
}
END_TEST

START_TEST(test_norm_errors)
{
	kcv_graph *g = ot_graph(1);
	kcv_node x = kcv_graph_input(g, "x", kcv_shape_4d(1, 2, 2, 30));
	kcv_node v = kcv_graph_param(g, "v", ot_shape(1, 30), 0);
	ot_expect_error(g, kcv_op_group_norm(g, x, v, v, 32, 1e-5f),
	                "30 channels do not split into 32 groups");
	kcv_graph_free(g);
	g = ot_graph(1);
	x = kcv_graph_input(g, "x", kcv_shape_4d(1, 2, 2, 30));
	v = kcv_graph_param(g, "v", ot_shape(1, 30), 0);
	kcv_node w = kcv_graph_param(g, "w", ot_shape(1, 31), 0);
	ot_expect_error(g, kcv_op_batch_norm(g, x, v, v, w, v, 1e-5f, 0),
	                "mean has shape [31] but x has 30 channels");
	kcv_graph_free(g);
}
END_TEST

/* ---- max pool --------------------------------------------------------------- */

static void ref_pool(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	const int *p = ctx; /* kernel, stride, pad */
	int k = p[0], st = p[1] ? p[1] : p[0], pad = p[2];
	long n = s[0].d[0], h = s[0].d[1], w = s[0].d[2], c = s[0].d[3];
	long oh = (h + 2 * pad - k) / st + 1, ow = (w + 2 * pad - k) / st + 1;
	for (long i = 0; i < n; i++)
		for (long oy = 0; oy < oh; oy++)
			for (long ox = 0; ox < ow; ox++)
				for (long ch = 0; ch < c; ch++) {
					double m = -INFINITY;
					for (long ky = 0; ky < k; ky++)
						for (long kx = 0; kx < k; kx++) {
							long iy = oy * st - pad + ky, ix = ox * st - pad + kx;
							if (iy >= 0 && iy < h && ix >= 0 && ix < w)
								m = fmax(m, in[0][((i * h + iy) * w + ix) * c + ch]);
						}
					out[((i * oh + oy) * ow + ox) * c + ch] = m;
				}
}

static void pool_case(const char *label, kcv_shape xs, int k, int st, int pad, int oh, int ow)
{
	ot t;
	ot_begin(&t, label, (uint64_t)(k * 100 + st * 10 + pad));
	kcv_node x = ot_leaf(&t, xs, 1, -1, 1);
	/* distinct values 0.01 apart, shuffled: no near-ties for the differences */
	long n = numel(&xs);
	double *v = malloc((size_t)n * sizeof(double));
	for (long i = 0; i < n; i++)
		v[i] = 0.01 * (double)i - 0.005 * (double)n;
	for (long i = n - 1; i > 0; i--) {
		long j = (long)kcv_rng_below(&t.rng, (uint64_t)i + 1);
		double tmp = v[i];
		v[i] = v[j];
		v[j] = tmp;
	}
	ot_set(&t, 0, v);
	free(v);
	int p[3] = {k, st, pad};
	ot_check(&t, kcv_op_max_pool(t.g, x, k, st, pad), ot_shape(4, (int)xs.d[0], oh, ow, (int)xs.d[3]),
	         ref_pool, p);
}

START_TEST(test_max_pool)
{
	pool_case("pool 3/2/1 odd", ot_shape(4, 2, 7, 6, 3), 3, 2, 1, 4, 3);
	pool_case("pool 2/2/0", ot_shape(4, 1, 6, 8, 4), 2, 2, 0, 3, 4);
	pool_case("pool 3/1/1 overlapping", ot_shape(4, 2, 5, 4, 2), 3, 1, 1, 5, 4);
	pool_case("pool 2/default stride, 17 channels", ot_shape(4, 1, 5, 4, 17), 2, 0, 0, 2, 2);
}
END_TEST

/* Ties: the gradient goes to the first maximum of the window (row-major), as
 * torch does. */
START_TEST(test_max_pool_ties)
{
	kcv_graph *g = ot_graph(2);
	kcv_node x = kcv_graph_param(g, "x", kcv_shape_4d(1, 4, 4, 1), KCV_PARAM_TRAINABLE);
	kcv_node y = kcv_op_max_pool(g, x, 2, 1, 0);
	kcv_node loss = kcv_op_sum(g, y, KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_backward(g, loss, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_compile(g, &err), KCV_OK);
	memset(kcv_graph_data(g, x), 0, 16 * sizeof(float));
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
	const float *gx = kcv_graph_grad(g, x);
	for (int i = 0; i < 16; i++)
		ck_assert_float_eq(gx[i], i / 4 < 3 && i % 4 < 3 ? 1.0f : 0.0f);
	kcv_graph_free(g);
}
END_TEST

/* ---- upsample ----------------------------------------------------------------- */

static void ref_up(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	const int *o = ctx;
	long n = s[0].d[0], h = s[0].d[1], w = s[0].d[2], c = s[0].d[3];
	for (long i = 0; i < n; i++)
		for (long y = 0; y < o[0]; y++)
			for (long x = 0; x < o[1]; x++)
				for (long k = 0; k < c; k++)
					out[((i * o[0] + y) * o[1] + x) * c + k] =
						in[0][((i * h + y * h / o[0]) * w + x * w / o[1]) * c + k];
}

START_TEST(test_upsample)
{
	static const int sizes[][2] = {{8, 10}, {7, 9}, {2, 3}, {4, 5}};
	for (int i = 0; i < 4; i++) {
		ot t;
		ot_begin(&t, "upsample_nearest", (uint64_t)i);
		kcv_node x = ot_leaf(&t, ot_shape(4, 2, 4, 5, 3), 1, -1, 1);
		ot_check(&t, kcv_op_upsample_nearest(t.g, x, sizes[i][0], sizes[i][1]),
		         ot_shape(4, 2, sizes[i][0], sizes[i][1], 3), ref_up, sizes[i]);
	}
}
END_TEST

/* ---- concat, transpose, reshape ----------------------------------------------- */

static void ref_concat(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	const int *c = ctx; /* n inputs, axis */
	int axis = c[1];
	long outer = 1, inner = 1, pos = 0;
	for (int i = 0; i < axis; i++)
		outer *= s[0].d[i];
	for (int i = axis + 1; i < s[0].rank; i++)
		inner *= s[0].d[i];
	for (long o = 0; o < outer; o++)
		for (int k = 0; k < c[0]; k++) {
			long w = s[k].d[axis] * inner;
			memcpy(out + pos, in[k] + o * w, (size_t)w * sizeof(double));
			pos += w;
		}
}

START_TEST(test_concat)
{
	ot t;
	ot_begin(&t, "concat channels", 1);
	kcv_node xs[3] = {ot_leaf(&t, ot_shape(4, 2, 3, 2, 4), 1, -1, 1),
	                  ot_leaf(&t, ot_shape(4, 2, 3, 2, 1), 1, -1, 1),
	                  ot_leaf(&t, ot_shape(4, 2, 3, 2, 3), 1, -1, 1)};
	int c1[2] = {3, 3};
	ot_check(&t, kcv_op_concat(t.g, 3, xs, -1), ot_shape(4, 2, 3, 2, 8), ref_concat, c1);

	ot_begin(&t, "concat axis 1", 2);
	kcv_node ys[2] = {ot_leaf(&t, ot_shape(3, 2, 3, 5), 1, -1, 1),
	                  ot_leaf(&t, ot_shape(3, 2, 4, 5), 1, -1, 1)};
	int c2[2] = {2, 1};
	ot_check(&t, kcv_op_concat(t.g, 2, ys, 1), ot_shape(3, 2, 7, 5), ref_concat, c2);

	ot_begin(&t, "concat axis 0, same input twice", 3);
	kcv_node z = ot_leaf(&t, ot_shape(2, 3, 4), 1, -1, 1);
	kcv_node zs[2] = {z, z};
	kcv_graph *g = t.g;
	kcv_node y = kcv_op_concat(g, 2, zs, 0);
	/* d/dz sums both copies: check through sum(y * R) by hand */
	kcv_node r = kcv_graph_input(g, "R", ot_shape(2, 6, 4));
	kcv_node loss = kcv_op_sum(g, kcv_op_mul(g, y, r), KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_backward(g, loss, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_compile(g, &err), KCV_OK);
	float *zd = kcv_graph_data(g, z), *rd = kcv_graph_data(g, r);
	for (int i = 0; i < 24; i++)
		rd[i] = (float)i, zd[i % 12] = (float)i;
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
	for (int i = 0; i < 12; i++)
		ck_assert_float_eq(kcv_graph_grad(g, z)[i], (float)(i + i + 12));
	kcv_graph_free(g);
	free(t.val[0]);
}
END_TEST

static void ref_transpose(const void *ctx, const double *const *in, const kcv_shape *s,
                          double *out)
{
	const int *perm = ctx;
	int r = s[0].rank;
	long n = numel(&s[0]), stride[6], od[6], c[6] = {0};
	for (int a = r - 1, st = 1; a >= 0; a--)
		stride[a] = st, st *= (int)s[0].d[a];
	for (int k = 0; k < r; k++)
		od[k] = s[0].d[perm[k]];
	for (long e = 0; e < n; e++) {
		long src = 0;
		for (int k = 0; k < r; k++)
			src += c[k] * stride[perm[k]];
		out[e] = in[0][src];
		for (int k = r - 1; k >= 0 && ++c[k] == od[k]; k--)
			c[k] = 0;
	}
}

START_TEST(test_transpose)
{
	static const int perms[][4] = {{0, 3, 1, 2}, {3, 2, 1, 0}, {1, 0, 2, 3}, {0, 2, 1, 3}};
	for (int i = 0; i < 4; i++) {
		ot t;
		ot_begin(&t, "transpose 4d", (uint64_t)i);
		kcv_shape xs = ot_shape(4, 2, 3, 4, 5), want = xs;
		for (int k = 0; k < 4; k++)
			want.d[k] = xs.d[perms[i][k]];
		kcv_node x = ot_leaf(&t, xs, 1, -1, 1);
		ot_check(&t, kcv_op_transpose(t.g, x, 4, perms[i]), want, ref_transpose, perms[i]);
	}
	ot t;
	ot_begin(&t, "transpose 2d", 9);
	static const int p2[2] = {1, 0};
	kcv_node x = ot_leaf(&t, ot_shape(2, 5, 7), 1, -1, 1);
	ot_check(&t, kcv_op_transpose(t.g, x, 2, p2), ot_shape(2, 7, 5), ref_transpose, p2);
}
END_TEST

static void ref_identity(const void *ctx, const double *const *in, const kcv_shape *s,
                         double *out)
{
	memcpy(out, in[0], (size_t)numel(&s[0]) * sizeof(double));
}

START_TEST(test_reshape)
{
	ot t;
	ot_begin(&t, "reshape view", 4);
	kcv_node x = ot_leaf(&t, ot_shape(4, 2, 3, 4, 6), 1, -1, 1);
	kcv_node y = kcv_op_reshape(t.g, x, 2, (int64_t[]){-1, 6});
	ot_check(&t, y, ot_shape(2, 24, 6), ref_identity, NULL);
	kcv_graph *g = ot_graph(1);
	x = kcv_graph_input(g, "x", ot_shape(2, 4, 6));
	ot_expect_error(g, kcv_op_reshape(g, x, 2, (int64_t[]){5, -1}), "reshape: cannot view");
	kcv_graph_free(g);
}
END_TEST

/* ---- matmul ------------------------------------------------------------------- */

typedef struct mm_case {
	int ta, tb;
} mm_case;

static void ref_mm(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	const mm_case *mc = ctx;
	const kcv_shape *a = &s[0], *b = &s[1];
	long m = mc->ta ? a->d[a->rank - 1] : a->d[a->rank - 2];
	long k = mc->ta ? a->d[a->rank - 2] : a->d[a->rank - 1];
	long n = mc->tb ? b->d[b->rank - 2] : b->d[b->rank - 1];
	long ba = numel(a) / (m * k), bb = numel(b) / (k * n), batch = ba > bb ? ba : bb;
	for (long t = 0; t < batch; t++) {
		const double *A = in[0] + (ba > 1 ? t : 0) * m * k, *B = in[1] + (bb > 1 ? t : 0) * k * n;
		for (long i = 0; i < m; i++)
			for (long j = 0; j < n; j++) {
				double sum = 0;
				for (long q = 0; q < k; q++)
					sum += (mc->ta ? A[q * m + i] : A[i * k + q]) * (mc->tb ? B[j * k + q] : B[q * n + j]);
				out[(t * m + i) * n + j] = sum;
			}
	}
}

static void mm_case_run(const char *label, kcv_shape as, kcv_shape bs, int ta, int tb,
                        kcv_shape want)
{
	ot t;
	ot_begin(&t, label, (uint64_t)(numel(&as) + 3 * numel(&bs) + ta * 2 + tb));
	kcv_node a = ot_leaf(&t, as, 1, -1, 1), b = ot_leaf(&t, bs, 1, -1, 1);
	mm_case mc = {ta, tb};
	ot_check(&t, kcv_op_matmul(t.g, a, b, ta, tb), want, ref_mm, &mc);
}

START_TEST(test_matmul)
{
	mm_case_run("mm", ot_shape(2, 4, 5), ot_shape(2, 5, 3), 0, 0, ot_shape(2, 4, 3));
	mm_case_run("mm ta", ot_shape(2, 5, 4), ot_shape(2, 5, 3), 1, 0, ot_shape(2, 4, 3));
	mm_case_run("mm tb", ot_shape(2, 4, 5), ot_shape(2, 3, 5), 0, 1, ot_shape(2, 4, 3));
	mm_case_run("mm ta tb", ot_shape(2, 5, 4), ot_shape(2, 3, 5), 1, 1, ot_shape(2, 4, 3));
	mm_case_run("batched", ot_shape(4, 2, 3, 4, 5), ot_shape(4, 2, 3, 5, 2), 0, 0,
	            ot_shape(4, 2, 3, 4, 2));
	mm_case_run("batched ta tb", ot_shape(3, 2, 5, 4), ot_shape(3, 2, 3, 5), 1, 1,
	            ot_shape(3, 2, 4, 3));
	mm_case_run("batched a, shared b (folded)", ot_shape(3, 3, 4, 5), ot_shape(2, 5, 2), 0, 0,
	            ot_shape(3, 3, 4, 2));
	mm_case_run("batched a ta, shared b tb", ot_shape(3, 3, 5, 4), ot_shape(2, 2, 5), 1, 1,
	            ot_shape(3, 3, 4, 2));
	mm_case_run("shared a, batched b", ot_shape(2, 4, 5), ot_shape(3, 3, 5, 2), 0, 0,
	            ot_shape(3, 3, 4, 2));
	kcv_graph *g = ot_graph(1);
	kcv_node a = kcv_graph_input(g, "a", ot_shape(2, 4, 5));
	kcv_node b = kcv_graph_input(g, "b", ot_shape(2, 4, 5));
	ot_expect_error(g, kcv_op_matmul(g, a, b, 0, 0), "has 5 columns but b [4, 5] has 4 rows");
	kcv_graph_free(g);
}
END_TEST

static Suite *nn_suite(void)
{
	Suite *s = suite_create("ops_nn");
	TCase *tc = tcase_create("norm");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_batch_norm);
	tcase_add_test(tc, test_batch_norm_big);
	tcase_add_test(tc, test_batch_norm_follow);
	tcase_add_test(tc, test_batch_norm_running);
	tcase_add_test(tc, test_group_norm);
	tcase_add_test(tc, test_norm_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("spatial");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_max_pool);
	tcase_add_test(tc, test_max_pool_ties);
	tcase_add_test(tc, test_upsample);
	suite_add_tcase(s, tc);
	tc = tcase_create("layout");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_concat);
	tcase_add_test(tc, test_transpose);
	tcase_add_test(tc, test_reshape);
	tcase_add_test(tc, test_matmul);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(nn_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
