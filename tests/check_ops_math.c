/* Elementwise and reduction ops against double-precision loops, gradients by
 * finite differences: binary ops with numpy broadcasting (same shape, [C]
 * bias, scalar, both sides broadcast), unary ops, bce_logits, div_no_nan,
 * the fused focal_loss and giou_loss, and stop_gradient. Reductions and gather are in check_ops_reduce.c. */
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

/* ---- binary ops with broadcasting --------------------------------------------- */

typedef enum bop { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_BCE, B_DNN } bop;

static double bop_apply(bop op, double a, double b)
{
	switch (op) {
	case B_ADD:
		return a + b;
	case B_SUB:
		return a - b;
	case B_MUL:
		return a * b;
	case B_DIV:
		return a / b;
	case B_MAX:
		return a > b ? a : b;
	case B_BCE:
		return fmax(a, 0) - a * b + log1p(exp(-fabs(a)));
	case B_DNN:
		return b == 0 ? 0 : a / b;
	}
	return 0;
}

static kcv_shape bshape(const kcv_shape *a, const kcv_shape *b)
{
	kcv_shape o = {a->rank > b->rank ? a->rank : b->rank, {0}};
	for (int i = 0; i < o.rank; i++) {
		int ia = i - (o.rank - a->rank), ib = i - (o.rank - b->rank);
		long da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
		o.d[i] = da > db ? da : db;
	}
	return o;
}

/* Offset into s of output coordinates c (rank r), broadcasting. */
static long boff(const kcv_shape *s, int r, const long *c)
{
	long off = 0;
	for (int i = 0; i < s->rank; i++) {
		long ci = s->d[i] == 1 ? 0 : c[i + r - s->rank];
		off = off * s->d[i] + ci;
	}
	return off;
}

static void ref_binary(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	bop op = *(const bop *)ctx;
	kcv_shape o = bshape(&s[0], &s[1]);
	long c[6] = {0}, n = numel(&o);
	for (long e = 0; e < n; e++) {
		out[e] = bop_apply(op, in[0][boff(&s[0], o.rank, c)], in[1][boff(&s[1], o.rank, c)]);
		for (int k = o.rank - 1; k >= 0 && ++c[k] == o.d[k]; k--)
			c[k] = 0;
	}
}

static kcv_node make_binary(kcv_graph *g, bop op, kcv_node a, kcv_node b)
{
	switch (op) {
	case B_ADD:
		return kcv_op_add(g, a, b);
	case B_SUB:
		return kcv_op_sub(g, a, b);
	case B_MUL:
		return kcv_op_mul(g, a, b);
	case B_DIV:
		return kcv_op_div(g, a, b);
	case B_MAX:
		return kcv_op_maximum(g, a, b);
	case B_BCE:
		return kcv_op_bce_logits(g, a, b);
	case B_DNN:
		return kcv_op_div_no_nan(g, a, b);
	}
	return -1;
}

/* The broadcasting patterns every binary op is checked on. */
static const int patterns[][2][5] = {
	/* rank, dims... for a and b */
	{{3, 2, 3, 4}, {3, 2, 3, 4}},       /* same shape */
	{{4, 2, 3, 2, 5}, {1, 5}},          /* [C] bias */
	{{1, 5}, {3, 2, 3, 5}},             /* bias on the left */
	{{2, 3, 5}, {1, 1}},                /* scalar */
	{{3, 2, 1, 4}, {2, 3, 1}},          /* both broadcast */
	{{4, 2, 3, 1, 5}, {3, 3, 4, 1}},    /* several runs of broadcast axes */
	{{2, 2, 1}, {2, 2, 3}},             /* per-row */
};

static kcv_shape pat_shape(const int *p)
{
	kcv_shape s = {p[0], {0}};
	for (int i = 0; i < p[0]; i++)
		s.d[i] = p[i + 1];
	return s;
}

static void binary_case(const char *label, bop op, int pat, double blo, double bhi, double gap)
{
	ot t;
	ot_begin(&t, label, (uint64_t)(op * 16 + pat));
	kcv_shape as = pat_shape(patterns[pat][0]), bs = pat_shape(patterns[pat][1]);
	kcv_node a = ot_leaf(&t, as, 1, -2, 2);
	kcv_node b = ot_leaf_gap(&t, bs, 1, blo, bhi, gap);
	ot_check(&t, make_binary(t.g, op, a, b), bshape(&as, &bs), ref_binary, &op);
}

START_TEST(test_binary_broadcast)
{
	static const char *names[] = {"add", "sub", "mul", "div", "maximum"};
	for (int op = B_ADD; op <= B_MAX; op++)
		for (int p = 0; p < (int)(sizeof(patterns) / sizeof(patterns[0])); p++) {
			char label[64];
			snprintf(label, sizeof(label), "%s pattern %d", names[op], p);
			binary_case(label, (bop)op, p, -2, 2, op == B_DIV ? 0.5 : 0);
		}
}
END_TEST

START_TEST(test_binary_errors)
{
	kcv_graph *g = ot_graph(1);
	kcv_node a = kcv_graph_input(g, "a", ot_shape(3, 2, 3, 4));
	kcv_node b = kcv_graph_input(g, "b", ot_shape(2, 2, 4));
	ot_expect_error(g, kcv_op_mul(g, a, b), "mul: shapes [2, 3, 4] and [2, 4] do not broadcast");
	kcv_graph_free(g);
}
END_TEST

/* ---- losses ------------------------------------------------------------------- */

START_TEST(test_bce_logits)
{
	for (int p = 0; p < 3; p++) {
		ot t;
		ot_begin(&t, "bce_logits", (uint64_t)p);
		kcv_shape xs = pat_shape(patterns[p][0]), ts = pat_shape(patterns[p][1]);
		kcv_node x = ot_leaf(&t, xs, 1, -8, 8), tg = ot_leaf(&t, ts, 1, 0, 1);
		bop op = B_BCE;
		ot_check(&t, kcv_op_bce_logits(t.g, x, tg), bshape(&xs, &ts), ref_binary, &op);
	}
	/* large |x|: finite values and gradients */
	ot t;
	ot_begin(&t, "bce_logits large |x|", 9);
	static const double xv[8] = {-1e4, -100, -30, -0.5, 0.5, 30, 100, 1e4};
	static const double tv[8] = {0, 1, 0, 1, 0, 1, 0, 1};
	kcv_node x = ot_leaf(&t, ot_shape(1, 8), 1, 0, 0), tg = ot_leaf(&t, ot_shape(1, 8), 1, 0, 0);
	ot_set(&t, 0, xv);
	ot_set(&t, 1, tv);
	bop op = B_BCE;
	ot_check(&t, kcv_op_bce_logits(t.g, x, tg), ot_shape(1, 8), ref_binary, &op);
}
END_TEST

START_TEST(test_div_no_nan)
{
	ot t;
	ot_begin(&t, "div_no_nan with zeros (d/da)", 1);
	kcv_node a = ot_leaf(&t, ot_shape(2, 3, 4), 1, -2, 2);
	kcv_node b = ot_leaf_gap(&t, ot_shape(2, 3, 4), 0, -2, 2, 0.5);
	double bv[12];
	memcpy(bv, t.val[1], sizeof(bv));
	bv[0] = bv[5] = bv[11] = 0;
	ot_set(&t, 1, bv);
	bop op = B_DNN;
	ot_check(&t, kcv_op_div_no_nan(t.g, a, b), ot_shape(2, 3, 4), ref_binary, &op);
	for (int p = 0; p < 3; p++)
		binary_case("div_no_nan broadcast", B_DNN, p, -2, 2, 0.5);
	/* b trainable with zeros: the gradient there is 0 (no finite difference) */
	ot_begin(&t, "div_no_nan d/db at zero", 2);
	kcv_graph *g = t.g = ot_graph(2);
	kcv_node aa = kcv_graph_param(g, "a", ot_shape(1, 3), KCV_PARAM_TRAINABLE);
	kcv_node bb = kcv_graph_param(g, "b", ot_shape(1, 3), KCV_PARAM_TRAINABLE);
	kcv_node loss = kcv_op_sum(g, kcv_op_div_no_nan(g, aa, bb), KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_backward(g, loss, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_mark_output(g, loss), KCV_OK);
	ck_assert_int_eq(kcv_graph_compile(g, &err), KCV_OK);
	float *ad = kcv_graph_data(g, aa), *bd = kcv_graph_data(g, bb);
	ad[0] = 1, ad[1] = 2, ad[2] = 3, bd[0] = 0, bd[1] = 2, bd[2] = 0;
	ck_assert_int_eq(kcv_graph_forward(g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(g, &err), KCV_OK);
	ck_assert_float_eq(kcv_graph_data(g, loss)[0], 1.0f);
	const float *ga = kcv_graph_grad(g, aa), *gb = kcv_graph_grad(g, bb);
	ck_assert_float_eq(ga[0], 0.0f);
	ck_assert_float_eq(ga[1], 0.5f);
	ck_assert_float_eq(gb[0], 0.0f);
	ck_assert_float_eq(gb[1], -0.5f);
	ck_assert_float_eq(gb[2], 0.0f);
	kcv_graph_free(g);
}
END_TEST

/* ---- fused per-row losses: focal_loss, giou_loss -------------------------------- */

static double focal_ref_elem(const kcv_focal_params *p, double x, double t)
{
	double ls = p->label_smoothing, y = t * (1 - ls) + 0.5 * ls;
	double at = p->alpha < 0 ? 1 : t == 1 ? p->alpha : 1 - p->alpha;
	double pr, ce;
	if (p->from_logits) {
		pr = 1 / (1 + exp(-x));
		ce = fmax(x, 0) - x * y + log1p(exp(-fabs(x)));
	} else {
		double c = fmin(fmax(x, 1e-7), 1 - 1e-7);
		pr = fmin(fmax(x, 0), 1);
		ce = -(y * log(c + 1e-7) + (1 - y) * log(1 - c + 1e-7));
	}
	double pt = y * pr + (1 - y) * (1 - pr);
	return at * pow(1 - pt, p->gamma) * ce;
}

static void ref_focal(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	long c = s[0].d[s[0].rank - 1], rows = numel(&s[0]) / c;
	for (long r = 0; r < rows; r++) {
		double sum = 0;
		for (long k = 0; k < c; k++)
			sum += focal_ref_elem(ctx, in[0][r * c + k], in[1][r * c + k]);
		out[r] = sum;
	}
}

static void focal_case(const char *label, uint64_t seed, kcv_focal_params p, double lo, double hi)
{
	ot t;
	ot_begin(&t, label, seed);
	kcv_shape s = ot_shape(3, 2, 5, 6);
	kcv_node x = ot_leaf(&t, s, 1, lo, hi);
	kcv_node tg = ot_leaf(&t, s, 0, 0, 1);
	double tv[60];
	for (int e = 0; e < 60; e++) /* binary targets, some rows all zero */
		tv[e] = (e % 6 == e / 6 % 7 && e / 6 % 5 != 4) ? 1 : 0;
	ot_set(&t, 1, tv);
	ot_check(&t, kcv_op_focal_loss(t.g, x, tg, &p), ot_shape(2, 2, 5), ref_focal, &p);
}

START_TEST(test_focal_loss)
{
	focal_case("focal logits", 1, (kcv_focal_params){0.25f, 2, 0, 1}, -6, 6);
	focal_case("focal logits gamma 1.5", 2, (kcv_focal_params){0.25f, 1.5f, 0, 1}, -6, 6);
	focal_case("focal logits gamma 0.5", 3, (kcv_focal_params){0.4f, 0.5f, 0, 1}, -6, 6);
	focal_case("focal logits gamma 0", 4, (kcv_focal_params){0.25f, 0, 0, 1}, -6, 6);
	focal_case("focal logits gamma 1", 11, (kcv_focal_params){0.25f, 1, 0, 1}, -6, 6);
	focal_case("focal logits gamma 3", 12, (kcv_focal_params){0.25f, 3, 0.05f, 1}, -6, 6);
	focal_case("focal logits gamma 4", 13, (kcv_focal_params){0.6f, 4, 0, 1}, -6, 6);
	focal_case("focal logits no alpha", 5, (kcv_focal_params){-1, 2, 0, 1}, -6, 6);
	focal_case("focal logits smoothed", 6, (kcv_focal_params){0.25f, 2, 0.1f, 1}, -6, 6);
	focal_case("focal probabilities", 7, (kcv_focal_params){0.25f, 2, 0, 0}, 0.02, 0.98);
	focal_case("focal probabilities smoothed", 8, (kcv_focal_params){0.25f, 3, 0.2f, 0}, 0.02,
	           0.98);
	/* large |x|: finite values and gradients that match the reference */
	static const kcv_focal_params ps[3] = {{0.25f, 2, 0, 1}, {0.25f, 0.5f, 0, 1},
	                                       {0.25f, 2, 0.1f, 1}};
	for (int k = 0; k < 3; k++) {
		ot t;
		ot_begin(&t, "focal large |x|", 9);
		static const double xv[8] = {-1e4, -100, -30, -0.5, 0.5, 30, 100, 1e4};
		static const double tv[8] = {0, 1, 0, 1, 0, 1, 0, 1};
		kcv_node x = ot_leaf(&t, ot_shape(2, 2, 4), 1, 0, 0);
		kcv_node tg = ot_leaf(&t, ot_shape(2, 2, 4), 0, 0, 0);
		ot_set(&t, 0, xv);
		ot_set(&t, 1, tv);
		ot_check(&t, kcv_op_focal_loss(t.g, x, tg, &ps[k]), ot_shape(1, 2), ref_focal, &ps[k]);
	}
	/* probabilities at 0 and 1 (clipped): finite */
	ot t;
	ot_begin(&t, "focal probabilities at 0 and 1", 10);
	kcv_node x = ot_leaf(&t, ot_shape(1, 4), 0, 0, 0);
	kcv_node tg = ot_leaf(&t, ot_shape(1, 4), 0, 0, 0);
	static const double pv[4] = {0, 1, 0, 1}, qv[4] = {0, 0, 1, 1};
	ot_set(&t, 0, pv);
	ot_set(&t, 1, qv);
	kcv_focal_params pp = {0.25f, 2, 0, 0};
	kcv_node y = kcv_op_focal_loss(t.g, x, tg, &pp);
	kcv_node l = kcv_op_sum(t.g, y, KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_mark_output(t.g, l), KCV_OK);
	ck_assert_int_eq(kcv_graph_compile(t.g, &err), KCV_OK);
	memcpy(kcv_graph_data(t.g, x), (float[]){0, 1, 0, 1}, 4 * sizeof(float));
	memcpy(kcv_graph_data(t.g, tg), (float[]){0, 0, 1, 1}, 4 * sizeof(float));
	ck_assert_int_eq(kcv_graph_forward(t.g, &err), KCV_OK);
	/* p = 0, y = 0 and p = 1, y = 1 cost nothing; the wrong ones cost
	 * alpha_t * 1 * -log(1e-7 + 1e-7) */
	double want = 0.75 * -log(1.1920928955078125e-07 + 1e-7) + 0.25 * -log(2e-7);
	ck_assert_msg(fabs(kcv_graph_data(t.g, l)[0] - want) < 1e-5 * want, "%g vs %g",
	              (double)kcv_graph_data(t.g, l)[0], want);
	for (int i = 0; i < t.n; i++)
		free(t.val[i]);
	kcv_graph_free(t.g);
}
END_TEST

/* Decode deltas against a unit anchor as torchvision / KerasCV 0.3 do. */
static void giou_ref_decode(const kcv_giou_params *p, const double *d, double *b)
{
	if (p->input == KCV_GIOU_BOXES) {
		memcpy(b, d, 4 * sizeof(double));
		return;
	}
	double cap = p->clamp > 0 ? p->clamp : 80;
	for (int k = 0; k < 2; k++) {
		double s = d[k] * p->variance[k], w = exp(fmin(d[k + 2] * p->variance[k + 2], cap));
		b[k] = p->input == KCV_GIOU_DELTAS_CENTER ? s - 0.5 * w : s;
		b[k + 2] = b[k] + w;
	}
}

static void ref_giou(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	long rows = numel(&s[0]) / 4;
	for (long r = 0; r < rows; r++) {
		double a[4], b[4];
		giou_ref_decode(ctx, in[0] + 4 * r, a);
		giou_ref_decode(ctx, in[1] + 4 * r, b);
		double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]), ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
		double inter = iw > 0 && ih > 0 ? iw * ih : 0;
		double u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
		double c = (fmax(a[2], b[2]) - fmin(a[0], b[0])) * (fmax(a[3], b[3]) - fmin(a[1], b[1]));
		out[r] = 1 - (inter / (u + 1e-7) - (c - u) / (c + 1e-7));
	}
}

START_TEST(test_giou_loss)
{
	static const struct {
		const char *label;
		kcv_giou_params p;
		double lo, hi;
	} cases[] = {
		{"giou boxes", {KCV_GIOU_BOXES, {0}, 0}, 0, 0},
		{"giou center deltas", {KCV_GIOU_DELTAS_CENTER, {0.1f, 0.1f, 0.2f, 0.2f}, 4.135f}, -4, 4},
		{"giou top-left deltas", {KCV_GIOU_DELTAS_TOP_LEFT, {0.1f, 0.1f, 0.2f, 0.2f}, 4.135f}, -4, 4},
		{"giou center, unit variance", {KCV_GIOU_DELTAS_CENTER, {1, 1, 1, 1}, 0}, -1, 1},
		{"giou center, clamped", {KCV_GIOU_DELTAS_CENTER, {1, 1, 1, 1}, 0.3f}, -1, 1},
	};
	for (int i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		ot t;
		ot_begin(&t, cases[i].label, (uint64_t)i + 20);
		kcv_shape s = ot_shape(3, 2, 9, 4);
		kcv_node a = ot_leaf(&t, s, 1, cases[i].lo, cases[i].hi);
		kcv_node b = ot_leaf(&t, s, 1, cases[i].lo, cases[i].hi);
		if (cases[i].p.input == KCV_GIOU_BOXES) { /* x1 < x2, y1 < y2, overlapping or not */
			for (int k = 0; k < 2; k++) {
				double v[72];
				for (int r = 0; r < 18; r++) {
					double x = kcv_rng_range(&t.rng, 0, 6), y = kcv_rng_range(&t.rng, 0, 6);
					v[4 * r] = x, v[4 * r + 1] = y;
					v[4 * r + 2] = x + kcv_rng_range(&t.rng, 0.5, 4);
					v[4 * r + 3] = y + kcv_rng_range(&t.rng, 0.5, 4);
				}
				ot_set(&t, k, v);
			}
		}
		/* keep the clamp's kink out of the differences */
		for (int k = 0; k < 2 && cases[i].p.clamp > 0; k++)
			for (int e = 2; e < 72; e += (e % 4 == 2 ? 1 : 3))
				if (fabs(t.val[k][e] * cases[i].p.variance[e % 4] - cases[i].p.clamp) < 1e-3)
					t.val[k][e] = (float)(t.val[k][e] + 0.01);
		ot_check(&t, kcv_op_giou_loss(t.g, a, b, &cases[i].p), ot_shape(2, 2, 9), ref_giou,
		         &cases[i].p);
	}
	/* identical boxes: loss 0; a tie on every min/max splits the gradient */
	ot t;
	ot_begin(&t, "giou identical", 30);
	kcv_node a = ot_leaf(&t, ot_shape(2, 1, 4), 1, 0, 0);
	kcv_node b = ot_leaf(&t, ot_shape(2, 1, 4), 0, 0, 0);
	static const double box[4] = {1, 2, 4, 3};
	ot_set(&t, 0, box);
	ot_set(&t, 1, box);
	kcv_giou_params bp = {KCV_GIOU_BOXES, {0}, 0};
	kcv_node y = kcv_op_giou_loss(t.g, a, b, &bp);
	kcv_node l = kcv_op_sum(t.g, y, KCV_AXIS_ALL, 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_graph_backward(t.g, l, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_mark_output(t.g, l), KCV_OK);
	ck_assert_int_eq(kcv_graph_compile(t.g, &err), KCV_OK);
	for (int k = 0; k < 4; k++)
		kcv_graph_data(t.g, a)[k] = kcv_graph_data(t.g, b)[k] = (float)box[k];
	ck_assert_int_eq(kcv_graph_forward(t.g, &err), KCV_OK);
	ck_assert_int_eq(kcv_graph_run_backward(t.g, &err), KCV_OK);
	ck_assert_msg(fabs(kcv_graph_data(t.g, l)[0]) < 1e-6, "loss %g", (double)kcv_graph_data(t.g, l)[0]);
	const float *g = kcv_graph_grad(t.g, a);
	for (int k = 0; k < 4; k++)
		ck_assert_msg(isfinite(g[k]) && fabs(g[k]) < 1e-5, "grad[%d] = %g", k, (double)g[k]);
	for (int i = 0; i < t.n; i++)
		free(t.val[i]);
	kcv_graph_free(t.g);
}
END_TEST

START_TEST(test_row_loss_errors)
{
	kcv_graph *g = ot_graph(1);
	kcv_node a = kcv_graph_input(g, "a", ot_shape(2, 3, 4));
	kcv_node b = kcv_graph_input(g, "b", ot_shape(2, 3, 5));
	kcv_focal_params fp = {0.25f, 2, 0, 1};
	ot_expect_error(g, kcv_op_focal_loss(g, a, b, &fp),
	                "focal_loss: inputs [3, 4] and [3, 5] differ in shape");
	kcv_graph_free(g);
	g = ot_graph(1);
	b = kcv_graph_input(g, "b", ot_shape(2, 3, 5));
	kcv_giou_params gp = {KCV_GIOU_BOXES, {0}, 0};
	ot_expect_error(g, kcv_op_giou_loss(g, b, b, &gp),
	                "giou_loss: input [3, 5] must have a last axis of 4");
	kcv_graph_free(g);
	g = ot_graph(1);
	a = kcv_graph_input(g, "a", ot_shape(2, 3, 4));
	fp.gamma = -1;
	ot_expect_error(g, kcv_op_focal_loss(g, a, a, &fp), "focal_loss: needs gamma >= 0");
	kcv_graph_free(g);
}
END_TEST

/* ---- unary ops ---------------------------------------------------------------- */

typedef enum uop {
	U_AFFINE, U_RELU, U_SIGMOID, U_LOG_SIGMOID, U_EXP, U_LOG, U_ABS, U_SQUARE, U_SQRT, U_POW,
	U_SMOOTH_L1
} uop;

typedef struct ucase {
	uop op;
	double p; /* gamma, cutoff */
} ucase;

static double uop_apply(const ucase *u, double x)
{
	switch (u->op) {
	case U_AFFINE:
		return x * 2.5 - 0.75;
	case U_RELU:
		return x > 0 ? x : 0;
	case U_SIGMOID:
		return 1 / (1 + exp(-x));
	case U_LOG_SIGMOID:
		return fmin(x, 0) - log1p(exp(-fabs(x)));
	case U_EXP:
		return exp(x);
	case U_LOG:
		return log(x);
	case U_ABS:
		return fabs(x);
	case U_SQUARE:
		return x * x;
	case U_SQRT:
		return sqrt(x);
	case U_POW:
		return pow(x, u->p);
	case U_SMOOTH_L1:
		return fabs(x) < u->p ? 0.5 * x * x : fabs(x) - 0.5;
	}
	return 0;
}

static void ref_unary(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	for (long e = 0; e < numel(&s[0]); e++)
		out[e] = uop_apply(ctx, in[0][e]);
}

static kcv_node make_unary(kcv_graph *g, const ucase *u, kcv_node x)
{
	switch (u->op) {
	case U_AFFINE:
		return kcv_op_affine(g, x, 2.5f, -0.75f);
	case U_RELU:
		return kcv_op_relu(g, x);
	case U_SIGMOID:
		return kcv_op_sigmoid(g, x);
	case U_LOG_SIGMOID:
		return kcv_op_log_sigmoid(g, x);
	case U_EXP:
		return kcv_op_exp(g, x);
	case U_LOG:
		return kcv_op_log(g, x);
	case U_ABS:
		return kcv_op_abs(g, x);
	case U_SQUARE:
		return kcv_op_square(g, x);
	case U_SQRT:
		return kcv_op_sqrt(g, x);
	case U_POW:
		return kcv_op_pow(g, x, (float)u->p);
	case U_SMOOTH_L1:
		return kcv_op_smooth_l1(g, x, (float)u->p);
	}
	return -1;
}

START_TEST(test_unary)
{
	static const struct {
		ucase u;
		double lo, hi, gap;
	} cases[] = {
		{{U_AFFINE, 0}, -3, 3, 0},         {{U_RELU, 0}, -2, 2, 0.01},
		{{U_SIGMOID, 0}, -6, 6, 0},        {{U_LOG_SIGMOID, 0}, -30, 30, 0},
		{{U_EXP, 0}, -3, 3, 0},            {{U_LOG, 0}, 0.1, 4, 0},
		{{U_ABS, 0}, -2, 2, 0.01},         {{U_SQUARE, 0}, -2, 2, 0},
		{{U_SQRT, 0}, 0.1, 4, 0},          {{U_POW, 2.0}, 0, 2, 0},
		{{U_POW, 1.5}, 0.05, 2, 0},        {{U_POW, 0.5}, 0.1, 2, 0},
		{{U_SMOOTH_L1, 1.0}, -3, 3, 0.01}, {{U_SMOOTH_L1, 0.5}, -2, 2, 0.01},
	};
	for (int i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		char label[48];
		snprintf(label, sizeof(label), "unary case %d", i);
		ot t;
		ot_begin(&t, label, (uint64_t)i);
		kcv_shape s = ot_shape(3, 3, 5, 7);
		kcv_node x = ot_leaf_gap(&t, s, 1, cases[i].lo, cases[i].hi, cases[i].gap);
		if (cases[i].u.op == U_SMOOTH_L1) /* keep away from the jump at the cutoff */
			for (long e = 0; e < numel(&s); e++)
				if (fabs(fabs(t.val[0][e]) - cases[i].u.p) < 0.01)
					t.val[0][e] *= 1.05;
		ot_check(&t, make_unary(t.g, &cases[i].u, x), s, ref_unary, &cases[i].u);
	}
	/* large |x|: no inf or nan */
	static const double big[6] = {-1e4, -100, -20, 20, 100, 1e4};
	ucase ls = {U_LOG_SIGMOID, 0}, sg = {U_SIGMOID, 0};
	const ucase *us[2] = {&ls, &sg};
	for (int k = 0; k < 2; k++) {
		ot t;
		ot_begin(&t, "log_sigmoid/sigmoid at large |x|", 5);
		kcv_node x = ot_leaf(&t, ot_shape(1, 6), 1, 0, 0);
		ot_set(&t, 0, big);
		ot_check(&t, make_unary(t.g, us[k], x), ot_shape(1, 6), ref_unary, us[k]);
	}
}
END_TEST

/* stop_gradient(x) + x*x: the value of both, the gradient of x*x only. */
static void ref_stop(const void *ctx, const double *const *in, const kcv_shape *s, double *out)
{
	for (long e = 0; e < numel(&s[0]); e++)
		out[e] = in[0][e] + in[0][e] * in[0][e];
}

static void ref_stop_grads(const void *ctx, const double *const *in, const kcv_shape *s,
                           const double *r, double **grad)
{
	for (long e = 0; e < numel(&s[0]); e++)
		grad[0][e] = r[e] * 2 * in[0][e];
}

START_TEST(test_stop_gradient)
{
	ot t;
	ot_begin(&t, "stop_gradient", 1);
	kcv_node x = ot_leaf(&t, ot_shape(2, 4, 5), 1, -1, 1);
	kcv_node y = kcv_op_add(t.g, kcv_op_stop_gradient(t.g, x), kcv_op_square(t.g, x));
	ot_check_grads(&t, y, ot_shape(2, 4, 5), ref_stop, ref_stop_grads, NULL);
}
END_TEST

static Suite *math_suite(void)
{
	Suite *s = suite_create("ops_math");
	TCase *tc = tcase_create("binary");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_binary_broadcast);
	tcase_add_test(tc, test_binary_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("losses");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bce_logits);
	tcase_add_test(tc, test_div_no_nan);
	tcase_add_test(tc, test_focal_loss);
	tcase_add_test(tc, test_giou_loss);
	tcase_add_test(tc, test_row_loss_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("unary");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unary);
	tcase_add_test(tc, test_stop_gradient);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(math_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
