/* max_pool over H and W of x [N,H,W,C]: square kernel, stride (0 = the
 * kernel size), symmetric padding that counts as -inf. Output size
 * floor((H + 2 pad - kernel) / stride) + 1, as torch. Backward finds the
 * argmax of each window again (the first maximum, row-major, as torch), then
 * each input row gathers the gradients of the windows that picked it: no
 * races, and a fixed order of additions. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

typedef struct pool_geom {
	int64_t n, h, w, c, oh, ow;
	int k, s, p;
} pool_geom;

static int pool_stride(const kcv_op_pool_params *p)
{
	return p->stride > 0 ? p->stride : p->kernel;
}

static kcv_status pool_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                             char *msg, size_t msg_size)
{
	const kcv_op_pool_params *p = params;
	const kcv_shape *x = &in[0];
	char b1[128];
	if (x->rank != 4) {
		snprintf(msg, msg_size, "max_pool: needs x [N, H, W, C], got %s",
		         kcv_shape_format(x, b1, sizeof(b1)));
		return KCV_ERR_INVALID;
	}
	if (p->kernel < 1 || p->stride < 0 || p->pad < 0 || p->pad >= p->kernel) {
		snprintf(msg, msg_size,
		         "max_pool: kernel %d, stride %d, pad %d: need kernel >= 1, stride >= 0 and "
		         "0 <= pad < kernel",
		         p->kernel, p->stride, p->pad);
		return KCV_ERR_INVALID;
	}
	int64_t s = pool_stride(p);
	int64_t hp = x->d[1] + 2 * p->pad, wp = x->d[2] + 2 * p->pad;
	if (hp < p->kernel || wp < p->kernel) {
		snprintf(msg, msg_size, "max_pool: kernel %d is larger than the padded input %lldx%lld",
		         p->kernel, (long long)hp, (long long)wp);
		return KCV_ERR_INVALID;
	}
	*out = kcv_shape_4d(x->d[0], (hp - p->kernel) / s + 1, (wp - p->kernel) / s + 1, x->d[3]);
	return KCV_OK;
}

static void geom_of(pool_geom *g, const kcv_op_call *c)
{
	const kcv_op_pool_params *p = c->params;
	const kcv_shape *x = &c->in_shape[0], *y = &c->out_shape;
	*g = (pool_geom){x->d[0], x->d[1], x->d[2], x->d[3], y->d[1], y->d[2],
	                 p->kernel, pool_stride(p), p->pad};
}

/* The valid kernel offsets [*k0, *k1) for output index o along an axis. */
static void window(const pool_geom *g, int64_t o, int64_t size, int64_t *start, int64_t *k0,
                   int64_t *k1)
{
	*start = o * g->s - g->p;
	*k0 = *start < 0 ? -*start : 0;
	*k1 = size - *start < g->k ? size - *start : g->k;
}

typedef struct pool_job {
	pool_geom g;
	const float *x, *y, *dy;
	float *out;   /* y or dx */
	int32_t *arg; /* backward: argmax per output value */
	int acc;
} pool_job;

/* forward: output rows (n, oy) */
static void pool_rows(void *ctx, size_t lo, size_t hi)
{
	const pool_job *j = ctx;
	const pool_geom *g = &j->g;
	for (size_t r = lo; r < hi; r++) {
		int64_t n = (int64_t)r / g->oh, oy = (int64_t)r % g->oh, y0, ky0, ky1;
		window(g, oy, g->h, &y0, &ky0, &ky1);
		for (int64_t ox = 0; ox < g->ow; ox++) {
			int64_t x0, kx0, kx1;
			window(g, ox, g->w, &x0, &kx0, &kx1);
			float *restrict o = j->out + ((int64_t)r * g->ow + ox) * g->c;
			for (int64_t c = 0; c < g->c; c++)
				o[c] = -INFINITY;
			for (int64_t ky = ky0; ky < ky1; ky++)
				for (int64_t kx = kx0; kx < kx1; kx++) {
					const float *restrict v =
						j->x + ((n * g->h + y0 + ky) * g->w + x0 + kx) * g->c;
					for (int64_t c = 0; c < g->c; c++)
						o[c] = v[c] > o[c] ? v[c] : o[c];
				}
		}
	}
}

/* backward, phase 1: the argmax (pixel index in the image) of every output
 * value: the first window position whose value equals the forward maximum,
 * row-major, as torch. Output rows (n, oy). */
static void argmax_rows(void *ctx, size_t lo, size_t hi)
{
	const pool_job *j = ctx;
	const pool_geom *g = &j->g;
	for (size_t r = lo; r < hi; r++) {
		int64_t n = (int64_t)r / g->oh, oy = (int64_t)r % g->oh, y0, ky0, ky1;
		window(g, oy, g->h, &y0, &ky0, &ky1);
		for (int64_t ox = 0; ox < g->ow; ox++) {
			int64_t x0, kx0, kx1;
			window(g, ox, g->w, &x0, &kx0, &kx1);
			int64_t at = ((int64_t)r * g->ow + ox) * g->c;
			const float *restrict y = j->y + at;
			int32_t *restrict arg = j->arg + at;
			for (int64_t c = 0; c < g->c; c++)
				arg[c] = -1;
			for (int64_t ky = ky0; ky < ky1; ky++)
				for (int64_t kx = kx0; kx < kx1; kx++) {
					int32_t pix = (int32_t)((y0 + ky) * g->w + x0 + kx);
					const float *restrict v = j->x + (n * g->h * g->w + pix) * g->c;
					for (int64_t c = 0; c < g->c; c++)
						arg[c] = arg[c] < 0 && v[c] == y[c] ? pix : arg[c];
				}
		}
	}
}

/* backward, phase 2: each input row (n, iy) gathers dy from the windows
 * that contain it and picked it, in window order: no races, fixed order. */
static void gather_rows(void *ctx, size_t lo, size_t hi)
{
	const pool_job *j = ctx;
	const pool_geom *g = &j->g;
	for (size_t r = lo; r < hi; r++) {
		int64_t n = (int64_t)r / g->h, iy = (int64_t)r % g->h;
		float *dx = j->out + (int64_t)r * g->w * g->c;
		if (!j->acc)
			memset(dx, 0, (size_t)(g->w * g->c) * sizeof(float));
		/* windows oy with oy*s - p <= iy < oy*s - p + k */
		int64_t oy0 = iy + g->p - g->k + 1 > 0 ? (iy + g->p - g->k + g->s) / g->s : 0;
		int64_t oy1 = (iy + g->p) / g->s;
		if (oy1 >= g->oh)
			oy1 = g->oh - 1;
		for (int64_t oy = oy0; oy <= oy1; oy++)
			for (int64_t ix = 0; ix < g->w; ix++) {
				int64_t ox0 = ix + g->p - g->k + 1 > 0 ? (ix + g->p - g->k + g->s) / g->s : 0;
				int64_t ox1 = (ix + g->p) / g->s;
				if (ox1 >= g->ow)
					ox1 = g->ow - 1;
				int32_t pix = (int32_t)(iy * g->w + ix);
				float *restrict d = dx + ix * g->c;
				for (int64_t ox = ox0; ox <= ox1; ox++) {
					int64_t at = ((n * g->oh + oy) * g->ow + ox) * g->c;
					const int32_t *restrict arg = j->arg + at;
					const float *restrict dy = j->dy + at;
					for (int64_t c = 0; c < g->c; c++)
						d[c] += arg[c] == pix ? dy[c] : 0.0f;
				}
			}
	}
}

static size_t row_grain(int64_t work)
{
	return (size_t)(work >= KCV_GRAIN ? 1 : KCV_GRAIN / work);
}

static void pool_forward(const kcv_op_call *c)
{
	pool_job j = {.x = c->in[0], .out = c->out};
	geom_of(&j.g, c);
	kcv_ops_parallel(c->pool, (size_t)(j.g.n * j.g.oh),
	                 row_grain(j.g.ow * j.g.c * j.g.k * j.g.k), pool_rows, &j);
}

static void pool_backward(const kcv_op_grad_call *c)
{
	if (!c->d_in[0])
		return;
	pool_job j = {.x = c->fwd.in[0], .y = c->fwd.out, .dy = c->d_out, .out = c->d_in[0],
	              .acc = c->accumulate[0], .arg = c->scratch};
	geom_of(&j.g, &c->fwd);
	const pool_geom *g = &j.g;
	kcv_ops_parallel(c->fwd.pool, (size_t)(g->n * g->oh), row_grain(g->ow * g->c * g->k * g->k),
	                 argmax_rows, &j);
	int64_t per = (g->k + g->s - 1) / g->s;
	kcv_ops_parallel(c->fwd.pool, (size_t)(g->n * g->h), row_grain(g->w * g->c * per * per),
	                 gather_rows, &j);
}

static size_t pool_scratch(const kcv_shape *in, int n_in, const void *params,
                           const kcv_shape *out, int backward)
{
	return backward ? (size_t)kcv_shape_numel(out) * sizeof(int32_t) : 0;
}

static double pool_flops(const kcv_shape *in, int n_in, const void *params, const kcv_shape *out)
{
	const kcv_op_pool_params *p = params;
	return (double)kcv_shape_numel(out) * p->kernel * p->kernel;
}

const kcv_op_def kcv_op_def_max_pool = {
	.name = "max_pool",
	.min_in = 1,
	.max_in = 1,
	.bwd_needs_in = 1u,
	.bwd_needs_out = 1, /* the maxima, to find the argmax */
	.infer = pool_infer,
	.scratch = pool_scratch,
	.flops = pool_flops,
	.forward = pool_forward,
	.backward = pool_backward,
};
