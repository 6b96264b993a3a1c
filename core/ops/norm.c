/* Normalisation over channels-last tensors: batch_norm (inference with the
 * running statistics, training with batch statistics) and group_norm.
 *
 * Both are written as y = (x - mu) * k2 + k3 with per-(image, channel)
 * coefficients, and their input gradients as dx = k1 * dy + k2 * (x - mu) +
 * k3, so one pass kernel serves all four. Statistics are sums in double over
 * fixed row chunks (shifted by a sample value for accuracy), combined in
 * chunk order: the same result for any thread count. Backward recomputes the
 * statistics from x rather than keeping them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

#define CHUNK_ROWS 256
#define MAX_CHUNKS 64

typedef struct nrm_job {
	const float *x, *dy;
	float *out;
	int64_t rows, c, per_img;           /* rows of C values; rows per image */
	const float *mu, *is, *k1, *k2, *k3; /* [image][C] */
	int acc;
	/* channel sums */
	int stats;     /* 1: sums of (x - mu) and its square; 0: of dy and dy*xhat */
	int64_t chunk; /* rows per chunk */
	double *part;  /* [chunks][2][C] */
	/* group norm */
	int64_t groups;
	const float *gamma;
	double *gstat; /* [N * groups][2] */
} nrm_job;

/* Bump allocation from the scratch buffer, 64-byte aligned. */
static void *take(char **p, size_t bytes)
{
	void *r = *p;
	*p += (bytes + 63) & ~(size_t)63;
	return r;
}

static int64_t n_chunks(int64_t rows)
{
	int64_t n = (rows + CHUNK_ROWS - 1) / CHUNK_ROWS;
	return n > MAX_CHUNKS ? MAX_CHUNKS : n;
}

/* ---- shared kernels ------------------------------------------------------- */

/* out = [k1 dy +] k2 (x - mu) + k3 over rows [lo, hi); k2 NULL: k1 dy only */
static void apply_rows(void *ctx, size_t lo, size_t hi)
{
	const nrm_job *j = ctx;
	const int64_t C = j->c;
	for (size_t r = lo; r < hi; r++) {
		int64_t off = (int64_t)r / j->per_img * C;
		const float *restrict x = j->x + (int64_t)r * C, *restrict mu = j->mu + off;
		const float *restrict k1 = j->k1 + off, *restrict k2 = j->k2 ? j->k2 + off : NULL;
		const float *restrict k3 = j->k3 + off;
		float *restrict o = j->out + (int64_t)r * C;
		if (!j->dy) {
			for (int64_t c = 0; c < C; c++)
				o[c] = (x[c] - mu[c]) * k2[c] + k3[c];
			continue;
		}
		const float *restrict dy = j->dy + (int64_t)r * C;
		if (!k2) {
			for (int64_t c = 0; c < C; c++)
				o[c] = j->acc ? o[c] + k1[c] * dy[c] : k1[c] * dy[c];
		} else if (j->acc) {
			for (int64_t c = 0; c < C; c++)
				o[c] += k1[c] * dy[c] + k2[c] * (x[c] - mu[c]) + k3[c];
		} else {
			for (int64_t c = 0; c < C; c++)
				o[c] = k1[c] * dy[c] + k2[c] * (x[c] - mu[c]) + k3[c];
		}
	}
}

static void apply(kcv_pool *pool, nrm_job *j)
{
	size_t grain = (size_t)(j->c >= KCV_GRAIN ? 1 : KCV_GRAIN / j->c);
	kcv_ops_parallel(pool, (size_t)j->rows, grain, apply_rows, j);
}

static void sums_chunk(void *ctx, size_t t)
{
	const nrm_job *j = ctx;
	const int64_t C = j->c;
	double *a1 = j->part + (int64_t)t * 2 * C, *a2 = a1 + C;
	memset(a1, 0, (size_t)(2 * C) * sizeof(double));
	int64_t r0 = (int64_t)t * j->chunk, r1 = r0 + j->chunk < j->rows ? r0 + j->chunk : j->rows;
	for (int64_t r = r0; r < r1; r++) {
		int64_t off = r / j->per_img * C;
		const float *x = j->x + r * C, *mu = j->mu + off;
		if (j->stats) {
			for (int64_t c = 0; c < C; c++) {
				double u = x[c] - mu[c];
				a1[c] += u;
				a2[c] += u * u;
			}
		} else {
			const float *dy = j->dy + r * C, *is = j->is + off;
			for (int64_t c = 0; c < C; c++) {
				a1[c] += dy[c];
				a2[c] += (double)dy[c] * ((x[c] - mu[c]) * is[c]);
			}
		}
	}
}

/* Per-channel s1, s2 over all rows (see nrm_job.stats). */
static void channel_sums(kcv_pool *pool, nrm_job *j, double *s1, double *s2)
{
	int64_t nch = n_chunks(j->rows), C = j->c;
	j->chunk = (j->rows + nch - 1) / nch;
	kcv_pool_run(pool, (size_t)nch, sums_chunk, j);
	for (int64_t c = 0; c < C; c++) {
		double u = 0, v = 0;
		for (int64_t t = 0; t < nch; t++) {
			u += j->part[t * 2 * C + c];
			v += j->part[t * 2 * C + C + c];
		}
		s1[c] = u;
		s2[c] = v;
	}
}

static void write_grad(float *dst, const double *src, int64_t n, double scale, int acc)
{
	if (!dst)
		return;
	for (int64_t i = 0; i < n; i++)
		dst[i] = (float)(acc ? dst[i] + scale * src[i] : scale * src[i]);
}

/* ---- batch norm ----------------------------------------------------------- */

static kcv_status check_vec(const char *op, const char *what, const kcv_shape *v, int64_t c,
                            char *msg, size_t msg_size)
{
	if (v->rank == 1 && v->d[0] == c)
		return KCV_OK;
	char b[128];
	snprintf(msg, msg_size, "%s: %s has shape %s but x has %lld channels", op, what,
	         kcv_shape_format(v, b, sizeof(b)), (long long)c);
	return KCV_ERR_INVALID;
}

static kcv_status bn_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                           char *msg, size_t msg_size)
{
	static const char *const names[] = {"x", "gamma", "beta", "mean", "var"};
	const kcv_op_norm_params *p = params;
	int64_t c = in[0].d[in[0].rank - 1];
	for (int i = 1; i < 5; i++)
		if (check_vec("batch_norm", names[i], &in[i], c, msg, msg_size))
			return KCV_ERR_INVALID;
	if (!(p->eps >= 0)) {
		snprintf(msg, msg_size, "batch_norm: eps must be >= 0, got %g", (double)p->eps);
		return KCV_ERR_INVALID;
	}
	*out = in[0];
	return KCV_OK;
}

static size_t bn_scratch(const kcv_shape *in, int n_in, const void *params, const kcv_shape *out,
                         int backward)
{
	size_t c = (size_t)in[0].d[in[0].rank - 1];
	return (size_t)MAX_CHUNKS * 2 * c * sizeof(double) + 4 * c * sizeof(double) +
	       5 * c * sizeof(float) + 16 * 64;
}

typedef struct bn_state {
	nrm_job j;
	double *mean, *invstd; /* [C] */
	float *mu, *is, *k1, *k2, *k3;
	char *rest;
} bn_state;

/* Set up the job and the statistics (batch ones when training). */
static void bn_setup(bn_state *s, const kcv_op_call *c, void *scratch)
{
	const kcv_op_norm_params *p = c->params;
	int64_t C = c->in_shape[0].d[c->in_shape[0].rank - 1];
	int64_t rows = kcv_shape_numel(&c->in_shape[0]) / C;
	char *sp = scratch;
	memset(s, 0, sizeof(*s));
	s->j.part = take(&sp, (size_t)(MAX_CHUNKS * 2 * C) * sizeof(double));
	s->mean = take(&sp, (size_t)C * sizeof(double));
	s->invstd = take(&sp, (size_t)C * sizeof(double));
	s->mu = take(&sp, (size_t)C * sizeof(float));
	s->is = take(&sp, (size_t)C * sizeof(float));
	s->k1 = take(&sp, (size_t)C * sizeof(float));
	s->k2 = take(&sp, (size_t)C * sizeof(float));
	s->k3 = take(&sp, (size_t)C * sizeof(float));
	s->rest = sp;
	s->j.x = c->in[0];
	s->j.rows = rows;
	s->j.c = C;
	s->j.per_img = rows;
	if (p->training) {
		double *s1 = (double *)s->rest, *s2 = s1 + C;
		for (int64_t k = 0; k < C; k++)
			s->mu[k] = c->in[0][k]; /* the shift */
		s->j.mu = s->mu;
		s->j.stats = 1;
		channel_sums(c->pool, &s->j, s1, s2);
		for (int64_t k = 0; k < C; k++) {
			double m1 = s1[k] / (double)rows, var = s2[k] / (double)rows - m1 * m1;
			s->mean[k] = s->mu[k] + m1;
			s->invstd[k] = 1.0 / sqrt((var > 0 ? var : 0) + (double)p->eps);
		}
	} else {
		for (int64_t k = 0; k < C; k++) {
			s->mean[k] = c->in[3][k];
			s->invstd[k] = 1.0 / sqrt((double)c->in[4][k] + (double)p->eps);
		}
	}
	for (int64_t k = 0; k < C; k++) {
		s->mu[k] = (float)s->mean[k];
		s->is[k] = (float)s->invstd[k];
	}
	s->j.mu = s->mu;
	s->j.is = s->is;
	s->j.stats = 0;
}

static void bn_forward(const kcv_op_call *c)
{
	bn_state s;
	bn_setup(&s, c, c->scratch);
	const float *gamma = c->in[1], *beta = c->in[2];
	for (int64_t k = 0; k < s.j.c; k++) {
		s.k2[k] = (float)(gamma[k] * s.invstd[k]);
		s.k3[k] = beta[k];
		s.k1[k] = 0;
	}
	s.j.out = c->out;
	s.j.k1 = s.k1;
	s.j.k2 = s.k2;
	s.j.k3 = s.k3;
	apply(c->pool, &s.j);
}

static void bn_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	const kcv_op_norm_params *p = f->params;
	bn_state s;
	bn_setup(&s, f, c->scratch);
	const int64_t C = s.j.c, M = s.j.rows;
	const float *gamma = f->in[1];
	double *s1 = (double *)s.rest, *s2 = s1 + C; /* sum dy, sum dy * xhat */
	int need_sums = p->training || c->d_in[1] || c->d_in[2] || c->d_in[3] || c->d_in[4];
	if (need_sums) {
		s.j.dy = c->d_out;
		channel_sums(f->pool, &s.j, s1, s2);
	}
	write_grad(c->d_in[1], s2, C, 1.0, c->accumulate[1]);
	write_grad(c->d_in[2], s1, C, 1.0, c->accumulate[2]);
	if (p->training) {
		kcv_ops_zero_grad(c->d_in[3], (size_t)C, c->accumulate[3]);
		kcv_ops_zero_grad(c->d_in[4], (size_t)C, c->accumulate[4]);
	} else if (need_sums) {
		for (int64_t k = 0; k < C; k++) { /* dmean, dvar into the spare sums */
			double g = gamma[k] * s.invstd[k];
			s1[k] *= -g;
			s2[k] *= -0.5 * g * s.invstd[k];
		}
		write_grad(c->d_in[3], s1, C, 1.0, c->accumulate[3]);
		write_grad(c->d_in[4], s2, C, 1.0, c->accumulate[4]);
	}
	if (!c->d_in[0])
		return;
	for (int64_t k = 0; k < C; k++) {
		double g = gamma[k] * s.invstd[k];
		s.k1[k] = (float)g;
		s.k2[k] = p->training ? (float)(-g * s.invstd[k] * s2[k] / (double)M) : 0.0f;
		s.k3[k] = p->training ? (float)(-g * s1[k] / (double)M) : 0.0f;
	}
	s.j.dy = c->d_out;
	s.j.out = c->d_in[0];
	s.j.acc = c->accumulate[0];
	s.j.k1 = s.k1;
	s.j.k2 = p->training ? s.k2 : NULL;
	s.j.k3 = s.k3;
	apply(f->pool, &s.j);
}

static double bn_flops(const kcv_shape *in, int n_in, const void *params, const kcv_shape *out)
{
	return 2.0 * (double)kcv_shape_numel(out);
}

const kcv_op_def kcv_op_def_batch_norm = {
	.name = "batch_norm",
	.min_in = 5,
	.max_in = 5,
	.bwd_needs_in = 1u | 2u | 8u | 16u, /* x, gamma, mean, var */
	.infer = bn_infer,
	.scratch = bn_scratch,
	.flops = bn_flops,
	.forward = bn_forward,
	.backward = bn_backward,
};

/* ---- group norm ----------------------------------------------------------- */

static kcv_status gn_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                           char *msg, size_t msg_size)
{
	const kcv_op_norm_params *p = params;
	char b[128];
	int64_t c = in[0].d[in[0].rank - 1];
	if (in[0].rank < 2) {
		snprintf(msg, msg_size, "group_norm: needs x [N, ..., C], got %s",
		         kcv_shape_format(&in[0], b, sizeof(b)));
		return KCV_ERR_INVALID;
	}
	if (p->groups < 1 || c % p->groups != 0) {
		snprintf(msg, msg_size, "group_norm: %lld channels do not split into %d groups",
		         (long long)c, p->groups);
		return KCV_ERR_INVALID;
	}
	if (check_vec("group_norm", "gamma", &in[1], c, msg, msg_size) ||
	    check_vec("group_norm", "beta", &in[2], c, msg, msg_size))
		return KCV_ERR_INVALID;
	if (!(p->eps >= 0)) {
		snprintf(msg, msg_size, "group_norm: eps must be >= 0, got %g", (double)p->eps);
		return KCV_ERR_INVALID;
	}
	*out = in[0];
	return KCV_OK;
}

static size_t gn_scratch(const kcv_shape *in, int n_in, const void *params, const kcv_shape *out,
                         int backward)
{
	const kcv_op_norm_params *p = params;
	size_t n = (size_t)in[0].d[0], c = (size_t)in[0].d[in[0].rank - 1];
	return (size_t)MAX_CHUNKS * 2 * c * sizeof(double) + 2 * c * sizeof(double) +
	       4 * n * (size_t)p->groups * sizeof(double) + 5 * n * c * sizeof(float) + 16 * 64;
}

/* Per (image, group) t: stats = sums of (x - x0), (x - x0)^2; else sums of
 * dy*gamma and dy*gamma*(x - mu). Written to gstat[2t], gstat[2t+1]. */
static void gn_group_sums(void *ctx, size_t t)
{
	const nrm_job *j = ctx;
	int64_t n = (int64_t)t / j->groups, g = (int64_t)t % j->groups, cg = j->c / j->groups;
	const float *x = j->x + n * j->per_img * j->c + g * cg;
	const float *dy = j->dy ? j->dy + n * j->per_img * j->c + g * cg : NULL;
	const float *gamma = j->gamma + g * cg;
	double s1 = 0, s2 = 0;
	float x0 = j->stats ? x[0] : j->mu[n * j->c + g * cg];
	for (int64_t r = 0; r < j->per_img; r++, x += j->c) {
		if (j->stats) {
			for (int64_t c = 0; c < cg; c++) {
				double u = x[c] - x0;
				s1 += u;
				s2 += u * u;
			}
		} else {
			for (int64_t c = 0; c < cg; c++) {
				double d = (double)dy[c] * gamma[c];
				s1 += d;
				s2 += d * (x[c] - x0);
			}
			dy += j->c;
		}
	}
	j->gstat[2 * t] = s1;
	j->gstat[2 * t + 1] = s2;
}

typedef struct gn_state {
	nrm_job j;
	double *mean, *invstd, *s1, *s2;
	float *mu, *is, *k1, *k2, *k3; /* [N][C] */
	int64_t n, m;                  /* images, values per group */
} gn_state;

static void gn_setup(gn_state *s, const kcv_op_call *c, void *scratch)
{
	const kcv_op_norm_params *p = c->params;
	const kcv_shape *xs = &c->in_shape[0];
	int64_t C = xs->d[xs->rank - 1], N = xs->d[0], G = p->groups;
	char *sp = scratch;
	memset(s, 0, sizeof(*s));
	s->n = N;
	s->j.part = take(&sp, (size_t)(MAX_CHUNKS * 2 * C) * sizeof(double));
	s->s1 = take(&sp, (size_t)C * sizeof(double));
	s->s2 = take(&sp, (size_t)C * sizeof(double));
	s->j.gstat = take(&sp, (size_t)(2 * N * G) * sizeof(double));
	s->mean = take(&sp, (size_t)(N * G) * sizeof(double));
	s->invstd = take(&sp, (size_t)(N * G) * sizeof(double));
	s->mu = take(&sp, (size_t)(N * C) * sizeof(float));
	s->is = take(&sp, (size_t)(N * C) * sizeof(float));
	s->k1 = take(&sp, (size_t)(N * C) * sizeof(float));
	s->k2 = take(&sp, (size_t)(N * C) * sizeof(float));
	s->k3 = take(&sp, (size_t)(N * C) * sizeof(float));
	s->j.x = c->in[0];
	s->j.c = C;
	s->j.rows = kcv_shape_numel(xs) / C;
	s->j.per_img = s->j.rows / N;
	s->j.groups = G;
	s->j.gamma = c->in[1];
	s->m = s->j.per_img * (C / G);
	s->j.stats = 1;
	kcv_pool_run(c->pool, (size_t)(N * G), gn_group_sums, &s->j);
	for (int64_t t = 0; t < N * G; t++) {
		int64_t n = t / G, g = t % G;
		double x0 = c->in[0][n * s->j.per_img * C + g * (C / G)]; /* the shift */
		double m1 = s->j.gstat[2 * t] / (double)s->m;
		double var = s->j.gstat[2 * t + 1] / (double)s->m - m1 * m1;
		s->mean[t] = x0 + m1;
		s->invstd[t] = 1.0 / sqrt((var > 0 ? var : 0) + (double)p->eps);
	}
	for (int64_t n = 0; n < N; n++)
		for (int64_t k = 0; k < C; k++) {
			int64_t t = n * G + k / (C / G);
			s->mu[n * C + k] = (float)s->mean[t];
			s->is[n * C + k] = (float)s->invstd[t];
		}
	s->j.mu = s->mu;
	s->j.is = s->is;
	s->j.stats = 0;
}

static void gn_forward(const kcv_op_call *c)
{
	gn_state s;
	gn_setup(&s, c, c->scratch);
	const float *gamma = c->in[1], *beta = c->in[2];
	int64_t C = s.j.c;
	for (int64_t n = 0; n < s.n; n++)
		for (int64_t k = 0; k < C; k++) {
			s.k2[n * C + k] = s.is[n * C + k] * gamma[k];
			s.k3[n * C + k] = beta[k];
			s.k1[n * C + k] = 0;
		}
	s.j.out = c->out;
	s.j.k1 = s.k1;
	s.j.k2 = s.k2;
	s.j.k3 = s.k3;
	apply(c->pool, &s.j);
}

static void gn_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	gn_state s;
	gn_setup(&s, f, c->scratch);
	const float *gamma = f->in[1];
	const int64_t C = s.j.c, G = s.j.groups;
	s.j.dy = c->d_out;
	if (c->d_in[1] || c->d_in[2]) {
		channel_sums(f->pool, &s.j, s.s1, s.s2);
		write_grad(c->d_in[1], s.s2, C, 1.0, c->accumulate[1]);
		write_grad(c->d_in[2], s.s1, C, 1.0, c->accumulate[2]);
	}
	if (!c->d_in[0])
		return;
	kcv_pool_run(f->pool, (size_t)(s.n * G), gn_group_sums, &s.j);
	for (int64_t n = 0; n < s.n; n++)
		for (int64_t k = 0; k < C; k++) {
			int64_t t = n * G + k / (C / G);
			double is = s.invstd[t], m = (double)s.m;
			s.k1[n * C + k] = (float)(is * gamma[k]);
			s.k2[n * C + k] = (float)(-is * is * is * s.j.gstat[2 * t + 1] / m);
			s.k3[n * C + k] = (float)(-is * s.j.gstat[2 * t] / m);
		}
	s.j.out = c->d_in[0];
	s.j.acc = c->accumulate[0];
	s.j.k1 = s.k1;
	s.j.k2 = s.k2;
	s.j.k3 = s.k3;
	apply(f->pool, &s.j);
}

const kcv_op_def kcv_op_def_group_norm = {
	.name = "group_norm",
	.min_in = 3,
	.max_in = 3,
	.bwd_needs_in = 1u | 2u, /* x, gamma */
	.infer = gn_infer,
	.scratch = gn_scratch,
	.flops = bn_flops,
	.forward = gn_forward,
	.backward = gn_backward,
};
