/* Test helpers for the op suites: see ops_check.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/error.h>

#include "ops_check.h"

kcv_shape ot_shape(int rank, ...)
{
	kcv_shape s = {0};
	va_list ap;
	va_start(ap, rank);
	s.rank = rank;
	for (int i = 0; i < rank; i++)
		s.d[i] = va_arg(ap, int);
	va_end(ap);
	return s;
}

kcv_graph *ot_graph(int threads)
{
	kcv_error err = {0};
	kcv_graph_params p = {.threads = threads};
	kcv_graph *g = kcv_graph_new(&p, &err);
	ck_assert_msg(g != NULL, "kcv_graph_new: %s", err.text);
	return g;
}

void ot_expect_error(kcv_graph *g, kcv_node got, const char *needle)
{
	kcv_error err = {0};
	ck_assert_int_eq(got, -1);
	ck_assert_int_ne(kcv_graph_status(g, &err), KCV_OK);
	ck_assert_msg(strstr(err.text, needle), "error \"%s\" lacks \"%s\"", err.text, needle);
}

void ot_begin(ot *t, const char *label, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->label = label;
	t->threads = 2;
	t->fwd_atol = 1e-5;
	t->fwd_rtol = 1e-5;
	t->grad_atol = 1e-4;
	t->grad_rtol = 1e-3;
	t->eps = 1e-5;
	kcv_rng_seed(&t->rng, seed, 7, 0, 0);
}

kcv_node ot_leaf_gap(ot *t, kcv_shape s, int trainable, double lo, double hi, double gap)
{
	ck_assert_int_lt(t->n, OT_MAX);
	if (!t->g)
		t->g = ot_graph(t->threads);
	int i = t->n++;
	char name[16];
	snprintf(name, sizeof(name), "in%d", i);
	t->leaf[i] = trainable ? kcv_graph_param(t->g, name, s, KCV_PARAM_TRAINABLE)
	                       : kcv_graph_input(t->g, name, s);
	t->shape[i] = s;
	t->trainable[i] = trainable;
	int64_t n = kcv_shape_numel(&s);
	t->val[i] = malloc((size_t)n * sizeof(double));
	ck_assert_ptr_nonnull(t->val[i]);
	for (int64_t e = 0; e < n; e++) {
		double v;
		do
			v = kcv_rng_range(&t->rng, lo, hi);
		while (fabs(v) < gap);
		t->val[i][e] = (float)v;
	}
	return t->leaf[i];
}

kcv_node ot_leaf(ot *t, kcv_shape s, int trainable, double lo, double hi)
{
	return ot_leaf_gap(t, s, trainable, lo, hi, 0);
}

void ot_set(ot *t, int i, const double *v)
{
	int64_t n = kcv_shape_numel(&t->shape[i]);
	for (int64_t e = 0; e < n; e++)
		t->val[i][e] = (float)v[e];
}

static double loss_of(const ot *t, ot_ref ref, const void *ctx, const double *r, double *buf,
                      int64_t n)
{
	ref(ctx, (const double *const *)t->val, t->shape, buf);
	double l = 0;
	for (int64_t j = 0; j < n; j++)
		l += buf[j] * r[j];
	return l;
}

static int close_to(double a, double b, double atol, double rtol)
{
	return fabs(a - b) <= atol + rtol * fabs(b);
}

/* Build the loss, compile, fill, run. Returns R's values (caller frees). */
static double *run_graph(ot *t, kcv_node out, kcv_shape want)
{
	kcv_error err = {0};
	char buf[1500], s1[128], s2[128];
	ck_assert_msg(out >= 0 && kcv_graph_status(t->g, &err) == KCV_OK, "%s: build: %s", t->label,
	              kcv_error_format(&err, buf, sizeof(buf)));
	kcv_shape got = kcv_graph_shape(t->g, out);
	ck_assert_msg(kcv_shape_equal(&got, &want), "%s: shape %s, want %s", t->label,
	              kcv_shape_format(&got, s1, sizeof(s1)), kcv_shape_format(&want, s2, sizeof(s2)));
	kcv_node r = kcv_graph_input(t->g, "R", want);
	kcv_node loss = kcv_op_sum(t->g, kcv_op_mul(t->g, out, r), KCV_AXIS_ALL, 0);
	ck_assert_int_eq(kcv_graph_mark_output(t->g, out), KCV_OK);
	ck_assert_msg(kcv_graph_backward(t->g, loss, &err) == KCV_OK, "%s: backward: %s", t->label,
	              kcv_error_format(&err, buf, sizeof(buf)));
	ck_assert_msg(kcv_graph_compile(t->g, &err) == KCV_OK, "%s: compile: %s", t->label,
	              kcv_error_format(&err, buf, sizeof(buf)));
	for (int i = 0; i < t->n; i++) {
		float *d = kcv_graph_data(t->g, t->leaf[i]);
		int64_t n = kcv_shape_numel(&t->shape[i]);
		for (int64_t e = 0; e < n; e++)
			d[e] = (float)t->val[i][e];
	}
	int64_t n = kcv_shape_numel(&want);
	double *rv = malloc((size_t)n * sizeof(double));
	float *rd = kcv_graph_data(t->g, r);
	ck_assert_ptr_nonnull(rv);
	for (int64_t j = 0; j < n; j++)
		rd[j] = (float)kcv_rng_range(&t->rng, -1, 1), rv[j] = rd[j];
	ck_assert_msg(kcv_graph_forward(t->g, &err) == KCV_OK, "%s: forward: %s", t->label, err.text);
	ck_assert_msg(kcv_graph_run_backward(t->g, &err) == KCV_OK, "%s: run_backward: %s", t->label,
	              err.text);
	return rv;
}

static void check_forward(ot *t, kcv_node out, int64_t n, const double *want)
{
	const float *y = kcv_graph_data(t->g, out);
	for (int64_t j = 0; j < n; j++) {
		int ok = close_to(y[j], want[j], t->fwd_atol, t->fwd_rtol) ||
		         (isinf(want[j]) && y[j] == want[j]);
		if (!ok) /* not ck_assert: each passing check costs a syscall */
			ck_abort_msg("%s: forward [%lld] = %.9g, reference %.9g", t->label, (long long)j,
			             (double)y[j], want[j]);
	}
}

static void finish(ot *t, double *rv, double *buf)
{
	free(rv);
	free(buf);
	for (int i = 0; i < t->n; i++)
		free(t->val[i]);
	kcv_graph_free(t->g);
	t->g = NULL;
}

void ot_check(ot *t, kcv_node out, kcv_shape want, ot_ref ref, const void *ctx)
{
	double *rv = run_graph(t, out, want);
	int64_t n = kcv_shape_numel(&want);
	double *buf = malloc((size_t)n * sizeof(double));
	ck_assert_ptr_nonnull(buf);
	ref(ctx, (const double *const *)t->val, t->shape, buf);
	check_forward(t, out, n, buf);
	for (int i = 0; i < t->n; i++) {
		if (!t->trainable[i])
			continue;
		const float *g = kcv_graph_grad(t->g, t->leaf[i]);
		ck_assert_msg(g != NULL, "%s: leaf %d has no gradient", t->label, i);
		int64_t m = kcv_shape_numel(&t->shape[i]);
		for (int64_t e = 0; e < m; e++) {
			double v = t->val[i][e];
			t->val[i][e] = v + t->eps;
			double lp = loss_of(t, ref, ctx, rv, buf, n);
			t->val[i][e] = v - t->eps;
			double lm = loss_of(t, ref, ctx, rv, buf, n);
			t->val[i][e] = v;
			double num = (lp - lm) / (2 * t->eps);
			if (!close_to(g[e], num, t->grad_atol, t->grad_rtol))
				ck_abort_msg("%s: d/d in%d [%lld] = %.8g, finite difference %.8g", t->label, i,
				             (long long)e, (double)g[e], num);
		}
	}
	finish(t, rv, buf);
}

void ot_check_grads(ot *t, kcv_node out, kcv_shape want, ot_ref ref, ot_grad_ref grads,
                    const void *ctx)
{
	double *rv = run_graph(t, out, want);
	int64_t n = kcv_shape_numel(&want);
	double *buf = malloc((size_t)n * sizeof(double));
	ck_assert_ptr_nonnull(buf);
	ref(ctx, (const double *const *)t->val, t->shape, buf);
	check_forward(t, out, n, buf);
	double *gr[OT_MAX] = {0};
	for (int i = 0; i < t->n; i++)
		if (t->trainable[i])
			gr[i] = calloc((size_t)kcv_shape_numel(&t->shape[i]), sizeof(double));
	grads(ctx, (const double *const *)t->val, t->shape, rv, gr);
	for (int i = 0; i < t->n; i++) {
		if (!gr[i])
			continue;
		const float *g = kcv_graph_grad(t->g, t->leaf[i]);
		int64_t m = kcv_shape_numel(&t->shape[i]);
		for (int64_t e = 0; e < m; e++)
			if (!close_to(g[e], gr[i][e], t->grad_atol, t->grad_rtol))
				ck_abort_msg("%s: d/d in%d [%lld] = %.8g, reference %.8g", t->label, i,
				             (long long)e, (double)g[e], gr[i][e]);
		free(gr[i]);
	}
	finish(t, rv, buf);
}
