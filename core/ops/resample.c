/* upsample_nearest: x [N,H,W,C] -> [N,out_h,out_w,C] with source index
 * floor(i * H / out_h) (torch "nearest"; any size, down as well as up).
 * Backward gathers per input row, so each dx value sums its sources in a
 * fixed order. */
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

static kcv_status upsample_infer(const kcv_shape *in, int n_in, const void *params,
                                 kcv_shape *out, char *msg, size_t msg_size)
{
	const kcv_op_resize_params *p = params;
	char b1[128];
	if (in[0].rank != 4) {
		snprintf(msg, msg_size, "upsample_nearest: needs x [N, H, W, C], got %s",
		         kcv_shape_format(&in[0], b1, sizeof(b1)));
		return KCV_ERR_INVALID;
	}
	if (p->out_h < 1 || p->out_w < 1) {
		snprintf(msg, msg_size, "upsample_nearest: output size %dx%d must be positive", p->out_h,
		         p->out_w);
		return KCV_ERR_INVALID;
	}
	*out = kcv_shape_4d(in[0].d[0], p->out_h, p->out_w, in[0].d[3]);
	return KCV_OK;
}

typedef struct up_job {
	const float *src;
	float *dst;
	int64_t h, w, c, oh, ow;
	int acc;
} up_job;

/* forward: output rows (n, oy) */
static void up_rows(void *ctx, size_t lo, size_t hi)
{
	const up_job *j = ctx;
	size_t bytes = (size_t)j->c * sizeof(float);
	for (size_t r = lo; r < hi; r++) {
		int64_t n = (int64_t)r / j->oh, oy = (int64_t)r % j->oh;
		const float *row = j->src + (n * j->h + oy * j->h / j->oh) * j->w * j->c;
		float *dst = j->dst + (int64_t)r * j->ow * j->c;
		for (int64_t ox = 0; ox < j->ow; ox++)
			memcpy(dst + ox * j->c, row + (ox * j->w / j->ow) * j->c, bytes);
	}
}

/* backward: input rows (n, iy); src = d_out, dst = dx */
static void down_rows(void *ctx, size_t lo, size_t hi)
{
	const up_job *j = ctx;
	for (size_t r = lo; r < hi; r++) {
		int64_t n = (int64_t)r / j->h, iy = (int64_t)r % j->h;
		float *dx = j->dst + (int64_t)r * j->w * j->c;
		if (!j->acc)
			memset(dx, 0, (size_t)(j->w * j->c) * sizeof(float));
		for (int64_t oy = (iy * j->oh + j->h - 1) / j->h; oy < j->oh && oy * j->h / j->oh == iy;
		     oy++) {
			const float *dy = j->src + (n * j->oh + oy) * j->ow * j->c;
			for (int64_t ox = 0; ox < j->ow; ox++) {
				float *restrict d = dx + (ox * j->w / j->ow) * j->c;
				const float *restrict s = dy + ox * j->c;
				for (int64_t k = 0; k < j->c; k++)
					d[k] += s[k];
			}
		}
	}
}

static void upsample_forward(const kcv_op_call *c)
{
	const kcv_shape *x = &c->in_shape[0], *y = &c->out_shape;
	up_job j = {c->in[0], c->out, x->d[1], x->d[2], x->d[3], y->d[1], y->d[2], 0};
	int64_t row = j.ow * j.c;
	size_t grain = (size_t)(row >= KCV_GRAIN ? 1 : KCV_GRAIN / row);
	kcv_ops_parallel(c->pool, (size_t)(x->d[0] * j.oh), grain, up_rows, &j);
}

static void upsample_backward(const kcv_op_grad_call *c)
{
	if (!c->d_in[0])
		return;
	const kcv_shape *x = &c->fwd.in_shape[0], *y = &c->fwd.out_shape;
	up_job j = {c->d_out, c->d_in[0], x->d[1], x->d[2], x->d[3], y->d[1], y->d[2],
	            c->accumulate[0]};
	int64_t row = j.ow * j.c * (j.oh + j.h - 1) / j.h;
	size_t grain = (size_t)(row >= KCV_GRAIN ? 1 : KCV_GRAIN / row);
	kcv_ops_parallel(c->fwd.pool, (size_t)(x->d[0] * j.h), grain, down_rows, &j);
}

const kcv_op_def kcv_op_def_upsample_nearest = {
	.name = "upsample_nearest",
	.min_in = 1,
	.max_in = 1,
	.infer = upsample_infer,
	.forward = upsample_forward,
	.backward = upsample_backward,
};
