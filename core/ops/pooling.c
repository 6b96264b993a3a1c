/* max_pool over H and W of x [N,H,W,C]: square kernel, stride (0 = the
 * kernel size), symmetric padding that counts as -inf. Output size
 * floor((H + 2 pad - kernel) / stride) + 1, as torch. Backward recomputes the
 * argmax (the first maximum in the window, row-major, as torch) and adds the
 * gradient there; tasks own whole channel blocks of one image, so there are
 * no races and the order of additions is fixed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

#define CH_BLOCK 16

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
	const float *x, *dy;
	float *out; /* y or dx */
	int acc;
	int64_t nblk;
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

/* backward: one image and one block of channels */
static void pool_grad_block(void *ctx, size_t t)
{
	const pool_job *j = ctx;
	const pool_geom *g = &j->g;
	int64_t n = (int64_t)t / j->nblk, c0 = ((int64_t)t % j->nblk) * CH_BLOCK;
	int64_t cw = g->c - c0 < CH_BLOCK ? g->c - c0 : CH_BLOCK;
	float *dx = j->out + n * g->h * g->w * g->c + c0;
	if (!j->acc)
		for (int64_t i = 0; i < g->h * g->w; i++)
			memset(dx + i * g->c, 0, (size_t)cw * sizeof(float));
	for (int64_t oy = 0; oy < g->oh; oy++) {
		int64_t y0, ky0, ky1;
		window(g, oy, g->h, &y0, &ky0, &ky1);
		for (int64_t ox = 0; ox < g->ow; ox++) {
			int64_t x0, kx0, kx1;
			window(g, ox, g->w, &x0, &kx0, &kx1);
			float best[CH_BLOCK];
			int64_t at[CH_BLOCK];
			for (int64_t c = 0; c < cw; c++)
				best[c] = -INFINITY, at[c] = -1;
			for (int64_t ky = ky0; ky < ky1; ky++)
				for (int64_t kx = kx0; kx < kx1; kx++) {
					int64_t pix = (y0 + ky) * g->w + x0 + kx;
					const float *v = j->x + (n * g->h * g->w + pix) * g->c + c0;
					for (int64_t c = 0; c < cw; c++)
						if (v[c] > best[c])
							best[c] = v[c], at[c] = pix;
				}
			const float *dy = j->dy + ((n * g->oh + oy) * g->ow + ox) * g->c + c0;
			for (int64_t c = 0; c < cw; c++)
				if (at[c] >= 0)
					dx[at[c] * g->c + c] += dy[c];
		}
	}
}

static void pool_forward(const kcv_op_call *c)
{
	pool_job j = {.x = c->in[0], .out = c->out};
	geom_of(&j.g, c);
	int64_t work = j.g.ow * j.g.c * j.g.k * j.g.k;
	size_t grain = (size_t)(work >= KCV_GRAIN ? 1 : KCV_GRAIN / work);
	kcv_ops_parallel(c->pool, (size_t)(j.g.n * j.g.oh), grain, pool_rows, &j);
}

static void pool_backward(const kcv_op_grad_call *c)
{
	if (!c->d_in[0])
		return;
	pool_job j = {.x = c->fwd.in[0], .dy = c->d_out, .out = c->d_in[0], .acc = c->accumulate[0]};
	geom_of(&j.g, &c->fwd);
	j.nblk = (j.g.c + CH_BLOCK - 1) / CH_BLOCK;
	kcv_pool_run(c->fwd.pool, (size_t)(j.g.n * j.nblk), pool_grad_block, &j);
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
	.infer = pool_infer,
	.flops = pool_flops,
	.forward = pool_forward,
	.backward = pool_backward,
};
