/* The bfloat16 convolutions (kcv_graph_set_precision(KCV_PRECISION_BF16))
 * against a double-precision loop on the bfloat16-rounded operands: the
 * output, dX, dW, db and the residual's gradient of conv2d with bias,
 * residual, ReLU, stride, dilation and "same" padding. The tolerance is that
 * of float32 accumulation (2e-5 of the sum of the terms' magnitudes), far
 * below bfloat16's rounding, so a float32 run fails it (checked too); the
 * same with x, w and b used by two convolutions, so that each gradient is
 * added to one another op wrote. Also:
 * against float32 the outputs stay within bfloat16's error; convolutions too
 * small for bfloat16 to pay, and a graph switched back to float32, give
 * float32's results bit for bit.
 *
 * Skipped (exit 77) where this build has no oneDNN or the CPU no bfloat16
 * units: kcv_precision_check says why. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>

typedef struct bcase {
	const char *label;
	int n, h, w, cin, cout, k, stride, dilation, pad, same, bias, relu, res;
} bcase;

/* each one on the bfloat16 path (conv2d_bf16.c's worth_it) */
static const bcase cases[] = {
	{"3x3 s1 bias relu", 2, 10, 9, 32, 64, 3, 1, 1, 1, 0, 1, 1, 0},
	{"3x3 s1 odd channels", 2, 8, 8, 17, 65, 3, 1, 1, 1, 0, 1, 0, 0},
	{"1x1 residual relu", 2, 7, 6, 128, 128, 1, 1, 1, 0, 0, 0, 1, 1},
	{"3x3 s2 same", 2, 11, 10, 16, 64, 3, 2, 1, 0, 1, 1, 0, 0},
	{"7x7 s2 stem", 2, 20, 20, 3, 64, 7, 2, 1, 3, 0, 0, 1, 0},
	{"3x3 dilation 2", 1, 12, 12, 16, 64, 3, 1, 2, 2, 0, 1, 0, 0},
};
/* each one on the float32 path: too few products or channels, or a strided 1x1 */
static const bcase small[] = {
	{"3x3 16 channels", 2, 8, 8, 16, 16, 3, 1, 1, 1, 0, 1, 1, 0},
	{"1x1 64 channels", 2, 8, 8, 64, 256, 1, 1, 1, 0, 0, 1, 0, 0},
	{"1x1 s2 downsample", 2, 9, 9, 256, 256, 1, 2, 1, 0, 0, 0, 0, 0},
};
#define N_CASES ((int)(sizeof(cases) / sizeof(cases[0])))

static float rnd(uint64_t *s, float lo, float hi)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return lo + (hi - lo) * (float)((*s >> 40) / 16777216.0);
}

/* bfloat16 rounding (nearest even) of a float, as a float. */
static double bf(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	u += 0x7fffu + ((u >> 16) & 1u);
	u &= 0xffff0000u;
	float r;
	memcpy(&r, &u, sizeof(r));
	return r;
}

typedef struct run {
	kcv_graph *g;
	kcv_node x, w, b, res, r, y;
	kcv_node r2, y2, r3; /* shared: the second convolution, the residual's own use */
	int oh, ow;
} run;

/* loss = sum(y * r), so dY = r. With `shared`, plus sum(y2 * r2) of a second
 * convolution of the same x, w and b (without the residual), and sum(res *
 * r3): dX, dW, db and the residual's gradient each come from two places, so
 * the bf16 backward adds to a gradient another op wrote. */
static void build_run(run *rn, const bcase *c, kcv_precision prec, int shared)
{
	kcv_error err = {0};
	kcv_graph_params gp = {.threads = 2};
	rn->g = kcv_graph_new(&gp, &err);
	ck_assert_ptr_nonnull(rn->g);
	kcv_graph *g = rn->g;
	kcv_conv2d_params p = {.stride_h = c->stride, .stride_w = c->stride,
	                       .dilation_h = c->dilation, .dilation_w = c->dilation,
	                       .pad_top = c->pad, .pad_bottom = c->pad, .pad_left = c->pad,
	                       .pad_right = c->pad, .same = c->same, .relu = c->relu};
	int ke = (c->k - 1) * c->dilation + 1;
	rn->oh = c->same ? (c->h + c->stride - 1) / c->stride : (c->h + 2 * c->pad - ke) / c->stride + 1;
	rn->ow = c->same ? (c->w + c->stride - 1) / c->stride : (c->w + 2 * c->pad - ke) / c->stride + 1;
	kcv_shape ys = kcv_shape_4d(c->n, rn->oh, rn->ow, c->cout);
	rn->x = kcv_graph_param(g, "x", kcv_shape_4d(c->n, c->h, c->w, c->cin), KCV_PARAM_TRAINABLE);
	rn->w = kcv_graph_param(g, "w", kcv_shape_4d(c->k, c->k, c->cin, c->cout),
	                        KCV_PARAM_TRAINABLE);
	int64_t bd[1] = {c->cout};
	rn->b = c->bias ? kcv_graph_param(g, "b", kcv_shape_make(1, bd), KCV_PARAM_TRAINABLE) : -1;
	rn->res = c->res ? kcv_graph_param(g, "res", ys, KCV_PARAM_TRAINABLE) : -1;
	rn->r = kcv_graph_input(g, "r", ys);
	rn->y = c->res ? kcv_op_conv2d_residual(g, rn->x, rn->w, rn->b, rn->res, &p)
	               : kcv_op_conv2d(g, rn->x, rn->w, rn->b, &p);
	kcv_graph_mark_output(g, rn->y);
	kcv_node loss = kcv_op_sum(g, kcv_op_mul(g, rn->y, rn->r), KCV_AXIS_ALL, 0);
	rn->r2 = rn->y2 = rn->r3 = -1;
	if (shared) {
		rn->r2 = kcv_graph_input(g, "r2", ys);
		rn->y2 = kcv_op_conv2d(g, rn->x, rn->w, rn->b, &p);
		kcv_graph_mark_output(g, rn->y2);
		loss = kcv_op_add(g, loss, kcv_op_sum(g, kcv_op_mul(g, rn->y2, rn->r2), KCV_AXIS_ALL, 0));
		if (c->res) {
			rn->r3 = kcv_graph_input(g, "r3", ys);
			loss = kcv_op_add(g, loss,
			                  kcv_op_sum(g, kcv_op_mul(g, rn->res, rn->r3), KCV_AXIS_ALL, 0));
		}
	}
	ck_assert_int_eq(kcv_graph_backward(g, loss, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_compile(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_set_precision(g, prec, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_precision(g), prec);
	uint64_t s = 12345;
	kcv_node leaves[7] = {rn->x, rn->w, rn->b, rn->res, rn->r, rn->r2, rn->r3};
	float lo[7] = {-2, -0.3f, -0.5f, -1, -1, -1, -1}, hi[7] = {2, 0.3f, 0.5f, 1, 1, 1, 1};
	for (int i = 0; i < 7; i++) {
		if (leaves[i] < 0)
			continue;
		kcv_shape sh = kcv_graph_shape(g, leaves[i]);
		float *d = kcv_graph_data(g, leaves[i]);
		for (int64_t j = 0; j < kcv_shape_numel(&sh); j++)
			d[j] = rnd(&s, lo[i], hi[i]);
	}
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
}

static void build(run *rn, const bcase *c, kcv_precision prec)
{
	build_run(rn, c, prec, 0);
}

/* The reference on bfloat16-rounded x, w and dY (masked by the bf16 run's
 * ReLU); `scale` gets the sum of the terms' magnitudes of each value. */
typedef struct ref {
	double *y, *ys, *dx, *dxs, *dw, *dws, *db, *dbs, *dres;
} ref;

static void reference(const run *rn, const bcase *c, ref *o)
{
	kcv_graph *g = rn->g;
	const float *x = kcv_graph_data(g, rn->x), *w = kcv_graph_data(g, rn->w);
	const float *b = c->bias ? kcv_graph_data(g, rn->b) : NULL;
	const float *res = c->res ? kcv_graph_data(g, rn->res) : NULL;
	const float *r = kcv_graph_data(g, rn->r), *y = kcv_graph_data(g, rn->y);
	int oh = rn->oh, ow = rn->ow, ke = (c->k - 1) * c->dilation + 1;
	int pt = c->pad, pl = c->pad;
	if (c->same) {
		int th = (oh - 1) * c->stride + ke - c->h, tw = (ow - 1) * c->stride + ke - c->w;
		pt = th > 0 ? th / 2 : 0;
		pl = tw > 0 ? tw / 2 : 0;
	}
	size_t ny = (size_t)c->n * oh * ow * c->cout, nx = (size_t)c->n * c->h * c->w * c->cin;
	size_t nw = (size_t)c->k * c->k * c->cin * c->cout;
	o->y = calloc(ny, sizeof(double)), o->ys = calloc(ny, sizeof(double));
	o->dx = calloc(nx, sizeof(double)), o->dxs = calloc(nx, sizeof(double));
	o->dw = calloc(nw, sizeof(double)), o->dws = calloc(nw, sizeof(double));
	o->db = calloc((size_t)c->cout, sizeof(double)), o->dbs = calloc((size_t)c->cout, sizeof(double));
	o->dres = calloc(ny, sizeof(double));
	for (int n = 0; n < c->n; n++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++)
				for (int co = 0; co < c->cout; co++) {
					size_t yi = (((size_t)n * oh + oy) * ow + ox) * c->cout + co;
					double acc = b ? b[co] : 0, mag = b ? fabs(b[co]) : 0;
					int on = !c->relu || y[yi] > 0;
					double dyf = on ? r[yi] : 0, dyr = bf((float)dyf);
					o->dres[yi] = dyf;
					o->db[co] += dyr;
					o->dbs[co] += fabs(dyr);
					for (int ky = 0; ky < c->k; ky++)
						for (int kx = 0; kx < c->k; kx++) {
							int iy = oy * c->stride - pt + ky * c->dilation;
							int ix = ox * c->stride - pl + kx * c->dilation;
							if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
								continue;
							for (int ci = 0; ci < c->cin; ci++) {
								size_t xi = (((size_t)n * c->h + iy) * c->w + ix) * c->cin + ci;
								size_t wi = (((size_t)ky * c->k + kx) * c->cin + ci) * c->cout + co;
								double xv = bf(x[xi]), wv = bf(w[wi]);
								acc += xv * wv;
								mag += fabs(xv * wv);
								o->dx[xi] += dyr * wv;
								o->dxs[xi] += fabs(dyr * wv);
								o->dw[wi] += dyr * xv;
								o->dws[wi] += fabs(dyr * xv);
							}
						}
					if (res)
						acc += res[yi], mag += fabs(res[yi]);
					o->y[yi] = c->relu && acc < 0 ? 0 : acc;
					o->ys[yi] = mag;
				}
}

static void ref_free(ref *o)
{
	free(o->y), free(o->ys), free(o->dx), free(o->dxs), free(o->dw), free(o->dws);
	free(o->db), free(o->dbs), free(o->dres);
}

/* Elements of got outside |got - want| <= 2e-5 * scale + 1e-6 (scale NULL:
 * |want|). */
static long misses(const char *what, const bcase *c, const float *got, const double *want,
                   const double *scale, size_t n, int report)
{
	long bad = 0;
	for (size_t i = 0; i < n; i++) {
		double s = scale ? scale[i] : fabs(want[i]);
		if (fabs(got[i] - want[i]) > 2e-5 * s + 1e-6) {
			if (report && bad < 3)
				fprintf(stderr, "%s %s[%zu]: %.8g, want %.8g (scale %.3g)\n", c->label, what,
				        i, (double)got[i], want[i], s);
			bad++;
		}
	}
	return bad;
}

static size_t count(const run *rn, kcv_node v)
{
	kcv_shape s = kcv_graph_shape(rn->g, v);
	return (size_t)kcv_shape_numel(&s);
}

START_TEST(test_against_rounded_reference)
{
	const bcase *c = &cases[_i];
	run rn;
	build(&rn, c, KCV_PRECISION_BF16);
	ref o;
	reference(&rn, c, &o);
	kcv_graph *g = rn.g;
	ck_assert_int_eq(misses("y", c, kcv_graph_data(g, rn.y), o.y, o.ys, count(&rn, rn.y), 1), 0);
	ck_assert_int_eq(misses("dx", c, kcv_graph_grad(g, rn.x), o.dx, o.dxs, count(&rn, rn.x), 1), 0);
	ck_assert_int_eq(misses("dw", c, kcv_graph_grad(g, rn.w), o.dw, o.dws, count(&rn, rn.w), 1), 0);
	if (c->bias)
		ck_assert_int_eq(misses("db", c, kcv_graph_grad(g, rn.b), o.db, o.dbs, (size_t)c->cout, 1),
		                 0);
	if (c->res)
		ck_assert_int_eq(
		    misses("dres", c, kcv_graph_grad(g, rn.res), o.dres, NULL, count(&rn, rn.y), 1), 0);
	/* the tolerance tells the two precisions apart: float32 misses it */
	run f;
	build(&f, c, KCV_PRECISION_FLOAT32);
	ck_assert_int_gt(misses("y", c, kcv_graph_data(f.g, f.y), o.y, o.ys, count(&f, f.y), 0), 0);
	ck_assert_int_gt(misses("dw", c, kcv_graph_grad(f.g, f.w), o.dw, o.dws, count(&f, f.w), 0), 0);
	ref_free(&o);
	kcv_graph_free(f.g);
	kcv_graph_free(g);
}
END_TEST

/* Gradients added to ones another op wrote: the sums of both
 * convolutions' references (and the residual's own r3). */
START_TEST(test_accumulated_gradients)
{
	const bcase c = {"3x3 residual relu, x and w used twice", 2, 8, 8, 32, 64, 3, 1, 1, 1, 0, 1, 1, 1};
	bcase c2 = c;
	c2.res = 0;
	run rn;
	build_run(&rn, &c, KCV_PRECISION_BF16, 1);
	run rn2 = rn;
	rn2.r = rn.r2, rn2.y = rn.y2, rn2.res = -1;
	ref o1, o2;
	reference(&rn, &c, &o1);
	reference(&rn2, &c2, &o2);
	kcv_graph *g = rn.g;
	size_t nx = count(&rn, rn.x), nw = count(&rn, rn.w), ny = count(&rn, rn.y);
	double *want = malloc(nx * sizeof(double)), *scale = malloc(nx * sizeof(double));
	double *wantw = malloc(nw * sizeof(double)), *scalew = malloc(nw * sizeof(double));
	double *wantr = malloc(ny * sizeof(double));
	double wantb[64], scaleb[64];
	for (size_t i = 0; i < nx; i++)
		want[i] = o1.dx[i] + o2.dx[i], scale[i] = o1.dxs[i] + o2.dxs[i];
	for (size_t i = 0; i < nw; i++)
		wantw[i] = o1.dw[i] + o2.dw[i], scalew[i] = o1.dws[i] + o2.dws[i];
	for (int k = 0; k < c.cout; k++)
		wantb[k] = o1.db[k] + o2.db[k], scaleb[k] = o1.dbs[k] + o2.dbs[k];
	const float *r3 = kcv_graph_data(g, rn.r3);
	for (size_t i = 0; i < ny; i++)
		wantr[i] = o1.dres[i] + r3[i];
	ck_assert_int_eq(misses("y2", &c, kcv_graph_data(g, rn.y2), o2.y, o2.ys, ny, 1), 0);
	ck_assert_int_eq(misses("dx", &c, kcv_graph_grad(g, rn.x), want, scale, nx, 1), 0);
	ck_assert_int_eq(misses("dw", &c, kcv_graph_grad(g, rn.w), wantw, scalew, nw, 1), 0);
	ck_assert_int_eq(misses("db", &c, kcv_graph_grad(g, rn.b), wantb, scaleb, (size_t)c.cout, 1), 0);
	ck_assert_int_eq(misses("dres", &c, kcv_graph_grad(g, rn.res), wantr, NULL, ny, 1), 0);
	free(want), free(scale), free(wantw), free(scalew), free(wantr);
	ref_free(&o1);
	ref_free(&o2);
	kcv_graph_free(g);
}
END_TEST

/* Relative L2 distance of a and b, over b's norm. */
static double rel_l2(const float *a, const float *b, size_t n)
{
	double d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		s += (double)b[i] * b[i];
	}
	return sqrt(d / (s > 0 ? s : 1));
}

START_TEST(test_close_to_float32)
{
	const bcase *c = &cases[_i];
	run h, f;
	build(&h, c, KCV_PRECISION_BF16);
	build(&f, c, KCV_PRECISION_FLOAT32);
	kcv_node v[] = {h.y, h.x, h.w}, fv[] = {f.y, f.x, f.w};
	for (int i = 0; i < 3; i++) {
		const float *a = i ? kcv_graph_grad(h.g, v[i]) : kcv_graph_data(h.g, v[i]);
		const float *b = i ? kcv_graph_grad(f.g, fv[i]) : kcv_graph_data(f.g, fv[i]);
		double e = rel_l2(a, b, count(&h, v[i]));
		/* bfloat16 keeps 8 significant bits: about 2^-9 per operand; the
		 * gradients also see the ReLU's mask flip where outputs are near 0 */
		double most = i == 0 ? 1e-2 : 1e-1;
		ck_assert_msg(e < most && e > 1e-5, "%s: value %d: relative L2 error %g", c->label, i, e);
	}
	kcv_graph_free(h.g);
	kcv_graph_free(f.g);
}
END_TEST

/* y, dX and dW of two runs bit for bit; frees both. */
static void assert_same_free(run *a, run *b)
{
	ck_assert_mem_eq(kcv_graph_data(a->g, a->y), kcv_graph_data(b->g, b->y),
	                 count(a, a->y) * sizeof(float));
	ck_assert_mem_eq(kcv_graph_grad(a->g, a->x), kcv_graph_grad(b->g, b->x),
	                 count(a, a->x) * sizeof(float));
	ck_assert_mem_eq(kcv_graph_grad(a->g, a->w), kcv_graph_grad(b->g, b->w),
	                 count(a, a->w) * sizeof(float));
	kcv_graph_free(a->g);
	kcv_graph_free(b->g);
}

/* Small convolutions keep float32: bit for bit a float32 graph's results. */
START_TEST(test_small_stay_float32)
{
	run h, f;
	build(&h, &small[_i], KCV_PRECISION_BF16);
	build(&f, &small[_i], KCV_PRECISION_FLOAT32);
	assert_same_free(&h, &f);
}
END_TEST

START_TEST(test_back_to_float32)
{
	const bcase *c = &cases[0];
	run h, f;
	build(&h, c, KCV_PRECISION_BF16);
	build(&f, c, KCV_PRECISION_FLOAT32);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_set_precision(h.g, KCV_PRECISION_FLOAT32, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_precision(h.g), KCV_PRECISION_FLOAT32);
	ck_assert_int_eq(kcv_graph_forward(h.g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(h.g, &err), KCV_OK);
	assert_same_free(&h, &f);
}
END_TEST

START_TEST(test_unknown_precision)
{
	kcv_error err = {0};
	kcv_graph_params gp = {.threads = 1};
	kcv_graph *g = kcv_graph_new(&gp, &err);
	ck_assert_int_eq(kcv_graph_set_precision(g, (kcv_precision)7, &err), KCV_ERR_INVALID);
	ck_assert_int_eq(kcv_graph_precision(g), KCV_PRECISION_FLOAT32);
	kcv_graph_free(g);
}
END_TEST

static Suite *bf16_suite(void)
{
	Suite *s = suite_create("bf16");
	TCase *tc = tcase_create("conv2d");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_against_rounded_reference, 0, N_CASES);
	tcase_add_test(tc, test_accumulated_gradients);
	tcase_add_loop_test(tc, test_close_to_float32, 0, N_CASES);
	tcase_add_loop_test(tc, test_small_stay_float32, 0, (int)(sizeof(small) / sizeof(small[0])));
	tcase_add_test(tc, test_back_to_float32);
	tcase_add_test(tc, test_unknown_precision);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	kcv_error why = {0};
	if (kcv_precision_check(KCV_PRECISION_BF16, &why) != KCV_OK) {
		printf("skipped: %s\n", why.text);
		return 77;
	}
	SRunner *sr = srunner_create(bf16_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
