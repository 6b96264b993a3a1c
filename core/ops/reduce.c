/* Reductions: sum and mean over one axis (keepdims or not) or over all
 * elements (KCV_AXIS_ALL: shape [1], or all ones with keepdims). Sums are
 * taken in double in a fixed order (parallel.c). */
#include <stdio.h>

#include "defs-impl.h"
#include "kernel-impl.h"

/* The reduction as [outer, n, inner] -> [outer, inner]. */
static void split(const kcv_shape *x, const kcv_op_reduce_params *p, int64_t *outer, int64_t *n,
                  int64_t *inner)
{
	if (p->axis == KCV_AXIS_ALL) {
		*outer = *inner = 1;
		*n = kcv_shape_numel(x);
		return;
	}
	int axis = p->axis < 0 ? p->axis + x->rank : p->axis;
	*outer = kcv_ops_outer(x, axis);
	*n = x->d[axis];
	*inner = kcv_ops_inner(x, axis);
}

static kcv_status reduce_infer(const char *name, const kcv_shape *in, const void *params,
                               kcv_shape *out, char *msg, size_t msg_size)
{
	const kcv_op_reduce_params *p = params;
	const kcv_shape *x = &in[0];
	if (p->axis == KCV_AXIS_ALL) {
		out->rank = p->keepdims ? x->rank : 1;
		for (int i = 0; i < out->rank; i++)
			out->d[i] = 1;
		return KCV_OK;
	}
	int axis = p->axis < 0 ? p->axis + x->rank : p->axis;
	if (axis < 0 || axis >= x->rank) {
		char buf[128];
		snprintf(msg, msg_size, "%s: axis %d is out of range for shape %s", name, p->axis,
		         kcv_shape_format(x, buf, sizeof(buf)));
		return KCV_ERR_INVALID;
	}
	out->rank = 0;
	for (int i = 0; i < x->rank; i++) {
		if (i != axis)
			out->d[out->rank++] = x->d[i];
		else if (p->keepdims)
			out->d[out->rank++] = 1;
	}
	if (out->rank == 0) {
		out->rank = 1;
		out->d[0] = 1;
	}
	return KCV_OK;
}

static kcv_status sum_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                            char *msg, size_t msg_size)
{
	return reduce_infer("sum", in, params, out, msg, msg_size);
}

static kcv_status mean_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                             char *msg, size_t msg_size)
{
	return reduce_infer("mean", in, params, out, msg, msg_size);
}

static size_t reduce_scratch(const kcv_shape *in, int n_in, const void *params,
                             const kcv_shape *out, int backward)
{
	if (backward)
		return 0;
	int64_t outer, n, inner;
	split(&in[0], params, &outer, &n, &inner);
	return kcv_ops_reduce_scratch(outer, n, inner);
}

static double reduce_flops(const kcv_shape *in, int n_in, const void *params,
                           const kcv_shape *out)
{
	return (double)kcv_shape_numel(&in[0]);
}

static void reduce_forward(const kcv_op_call *c, int mean)
{
	int64_t outer, n, inner;
	split(&c->in_shape[0], c->params, &outer, &n, &inner);
	kcv_ops_reduce(c->pool, c->in[0], outer, n, inner, mean ? 1.0f / (float)n : 1.0f, c->out, 0,
	               c->scratch);
}

/* Backward: dx[o, k, i] = scale * dy[o, i], over rows r = o * n + k. */
typedef struct spread_job {
	const float *dy;
	float *dx;
	int64_t n, inner;
	float scale;
	int acc;
} spread_job;

static void spread_rows(void *ctx, size_t lo, size_t hi)
{
	const spread_job *j = ctx;
	const float s = j->scale;
	if (j->inner == 1) { /* runs of one value */
		for (int64_t r = (int64_t)lo; r < (int64_t)hi;) {
			int64_t o = r / j->n, end = (o + 1) * j->n < (int64_t)hi ? (o + 1) * j->n : (int64_t)hi;
			const float v = s * j->dy[o];
			float *restrict dst = j->dx;
			if (j->acc)
				for (; r < end; r++)
					dst[r] += v;
			else
				for (; r < end; r++)
					dst[r] = v;
		}
		return;
	}
	int64_t o = (int64_t)lo / j->n, k = (int64_t)lo % j->n;
	for (int64_t r = (int64_t)lo; r < (int64_t)hi; r++) {
		const float *restrict src = j->dy + o * j->inner;
		float *restrict dst = j->dx + r * j->inner;
		if (j->acc) {
			for (int64_t i = 0; i < j->inner; i++)
				dst[i] += s * src[i];
		} else {
			for (int64_t i = 0; i < j->inner; i++)
				dst[i] = s * src[i];
		}
		if (++k == j->n)
			k = 0, o++;
	}
}

static void reduce_backward(const kcv_op_grad_call *c, int mean)
{
	if (!c->d_in[0])
		return;
	int64_t outer, n, inner;
	split(&c->fwd.in_shape[0], c->fwd.params, &outer, &n, &inner);
	spread_job j = {c->d_out, c->d_in[0], n, inner, mean ? 1.0f / (float)n : 1.0f,
	                c->accumulate[0]};
	size_t grain = (size_t)(inner >= KCV_GRAIN ? 1 : KCV_GRAIN / inner);
	kcv_ops_parallel(c->fwd.pool, (size_t)(outer * n), grain, spread_rows, &j);
}

static void sum_forward(const kcv_op_call *c)
{
	reduce_forward(c, 0);
}
static void sum_backward(const kcv_op_grad_call *c)
{
	reduce_backward(c, 0);
}
static void mean_forward(const kcv_op_call *c)
{
	reduce_forward(c, 1);
}
static void mean_backward(const kcv_op_grad_call *c)
{
	reduce_backward(c, 1);
}

const kcv_op_def kcv_op_def_sum = {
	.name = "sum",
	.min_in = 1,
	.max_in = 1,
	.infer = sum_infer,
	.scratch = reduce_scratch,
	.flops = reduce_flops,
	.forward = sum_forward,
	.backward = sum_backward,
};

const kcv_op_def kcv_op_def_mean = {
	.name = "mean",
	.min_in = 1,
	.max_in = 1,
	.infer = mean_infer,
	.scratch = reduce_scratch,
	.flops = reduce_flops,
	.forward = mean_forward,
	.backward = mean_backward,
};
