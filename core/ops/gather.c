/* gather_rows: out[k] = x[idx[k]] for x [R, C] and row indices idx [K] given
 * as floats. An index outside [0, R) (or NaN) gives a zero row and no
 * gradient. Backward adds each row of d_out into its row of dx, in the order
 * of k, so repeated indices sum deterministically. */
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

#define COL_BLOCK 64

static kcv_status gather_infer(const kcv_shape *in, int n_in, const void *params,
                               kcv_shape *out, char *msg, size_t msg_size)
{
	char b1[128], b2[128];
	if (in[0].rank != 2 || in[1].rank != 1) {
		snprintf(msg, msg_size, "gather_rows: needs x [R, C] and idx [K], got %s and %s",
		         kcv_shape_format(&in[0], b1, sizeof(b1)), kcv_shape_format(&in[1], b2, sizeof(b2)));
		return KCV_ERR_INVALID;
	}
	out->rank = 2;
	out->d[0] = in[1].d[0];
	out->d[1] = in[0].d[1];
	return KCV_OK;
}

/* The row that idx value v picks, or -1. */
static int64_t row_of(float v, int64_t rows)
{
	if (!(v >= 0.0f) || v >= (float)rows)
		return -1;
	int64_t r = (int64_t)v;
	return r < rows ? r : -1;
}

typedef struct gather_job {
	const float *x, *idx;
	float *out;
	const float *dy;
	int64_t rows, cols, k;
} gather_job;

static void gather_range(void *ctx, size_t lo, size_t hi)
{
	const gather_job *j = ctx;
	size_t bytes = (size_t)j->cols * sizeof(float);
	for (size_t k = lo; k < hi; k++) {
		int64_t r = row_of(j->idx[k], j->rows);
		float *dst = j->out + (int64_t)k * j->cols;
		if (r < 0)
			memset(dst, 0, bytes);
		else
			memcpy(dst, j->x + r * j->cols, bytes);
	}
}

static void gather_forward(const kcv_op_call *c)
{
	gather_job j = {c->in[0], c->in[1], c->out, NULL, c->in_shape[0].d[0], c->in_shape[0].d[1],
	                c->in_shape[1].d[0]};
	size_t grain = (size_t)(j.cols >= KCV_GRAIN ? 1 : KCV_GRAIN / j.cols);
	kcv_ops_parallel(c->pool, (size_t)j.k, grain, gather_range, &j);
}

/* One block of columns, every k in order. */
static void scatter_block(void *ctx, size_t t)
{
	const gather_job *j = ctx;
	int64_t c0 = (int64_t)t * COL_BLOCK;
	int64_t w = j->cols - c0 < COL_BLOCK ? j->cols - c0 : COL_BLOCK;
	for (int64_t k = 0; k < j->k; k++) {
		int64_t r = row_of(j->idx[k], j->rows);
		if (r < 0)
			continue;
		float *restrict dst = j->out + r * j->cols + c0;
		const float *restrict src = j->dy + k * j->cols + c0;
		for (int64_t c = 0; c < w; c++)
			dst[c] += src[c];
	}
}

static void gather_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	kcv_ops_zero_grad(c->d_in[1], (size_t)f->in_shape[1].d[0], c->accumulate[1]);
	if (!c->d_in[0])
		return;
	gather_job j = {NULL, f->in[1], c->d_in[0], c->d_out, f->in_shape[0].d[0],
	                f->in_shape[0].d[1], f->in_shape[1].d[0]};
	kcv_ops_zero_grad(j.out, (size_t)(j.rows * j.cols), c->accumulate[0]);
	kcv_pool_run(f->pool, (size_t)((j.cols + COL_BLOCK - 1) / COL_BLOCK), scatter_block, &j);
}

const kcv_op_def kcv_op_def_gather_rows = {
	.name = "gather_rows",
	.min_in = 2,
	.max_in = 2,
	.bwd_needs_in = 2u, /* idx */
	.infer = gather_infer,
	.forward = gather_forward,
	.backward = gather_backward,
};
