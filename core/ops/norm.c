/* Normalisation over channels-last tensors: batch_norm (inference with the
 * running statistics, training with batch statistics, or either as the
 * graph's training mode says, then updating the running statistics) and
 * group_norm.
 *
 * Both are one computation: x is seen as `nimg` images of `per_img` rows of
 * C channels, and each statistic covers one (image, channel group). Batch
 * norm is one image with C groups of one channel; group norm is N images with
 * G groups. Then
 *   y  = (x - mu) * k2 + k3            (k2 = invstd * gamma, k3 = beta)
 *   dx = k1 * dy + k2 * (x - mu) + k3  (batch statistics; k1 dy alone for the
 *                                       running statistics)
 * with per-(image, channel) coefficients, so one pass kernel serves all.
 *
 * Statistics and gradient sums are per-(image, channel) sums in double over
 * fixed row chunks (shifted by a sample of each group for accuracy), summed
 * in chunk order and then over the channels of a group in channel order: the
 * same result for any thread count. Backward recomputes the statistics from
 * x rather than keeping them. */
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
	int64_t c, per_img, nimg;
	const float *mu, *k1, *k2, *k3; /* [image][C] */
	int acc;
	int stats;         /* sums of (x - mu), (x - mu)^2; else of dy, dy * (x - mu) */
	int64_t cpi, chunk; /* chunks per image, rows per chunk */
	double *part;       /* [image][chunk][2][C] */
} nrm_job;

typedef struct nrm_state {
	nrm_job j;
	int64_t groups, cg;    /* groups per image, channels per group */
	double m;              /* values per statistic */
	double *s1, *s2;       /* sums [image][C] */
	double *mean, *invstd; /* [image][group] */
	float *mu, *k1, *k2, *k3;
} nrm_state;

/* Bump allocation from the scratch buffer. */
static void *take(char **p, size_t bytes)
{
	void *r = *p;
	*p += kcv_align64(bytes);
	return r;
}

static int64_t max_parts(int64_t nimg)
{
	return nimg > MAX_CHUNKS ? nimg : MAX_CHUNKS;
}

static size_t state_bytes(int64_t nimg, int64_t c, int64_t groups)
{
	return kcv_align64((size_t)(max_parts(nimg) * 2 * c) * sizeof(double)) +
	       2 * kcv_align64((size_t)(nimg * c) * sizeof(double)) +
	       2 * kcv_align64((size_t)(nimg * groups) * sizeof(double)) +
	       4 * kcv_align64((size_t)(nimg * c) * sizeof(float));
}

static void state_init(nrm_state *s, const kcv_op_call *c, void *scratch, int64_t nimg,
                       int64_t groups)
{
	const kcv_shape *xs = &c->in_shape[0];
	int64_t C = xs->d[xs->rank - 1];
	char *sp = scratch;
	memset(s, 0, sizeof(*s));
	s->j.x = c->in[0];
	s->j.c = C;
	s->j.nimg = nimg;
	s->j.per_img = kcv_shape_numel(xs) / C / nimg;
	s->groups = groups;
	s->cg = C / groups;
	s->m = (double)(s->j.per_img * s->cg);
	s->j.part = take(&sp, (size_t)(max_parts(nimg) * 2 * C) * sizeof(double));
	s->s1 = take(&sp, (size_t)(nimg * C) * sizeof(double));
	s->s2 = take(&sp, (size_t)(nimg * C) * sizeof(double));
	s->mean = take(&sp, (size_t)(nimg * groups) * sizeof(double));
	s->invstd = take(&sp, (size_t)(nimg * groups) * sizeof(double));
	s->mu = take(&sp, (size_t)(nimg * C) * sizeof(float));
	s->k1 = take(&sp, (size_t)(nimg * C) * sizeof(float));
	s->k2 = take(&sp, (size_t)(nimg * C) * sizeof(float));
	s->k3 = take(&sp, (size_t)(nimg * C) * sizeof(float));
	s->j.mu = s->mu;
	s->j.k1 = s->k1;
	s->j.k2 = s->k2;
	s->j.k3 = s->k3;
}

/* ---- pass kernels --------------------------------------------------------- */

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
		if (!k2 && j->acc) {
			for (int64_t c = 0; c < C; c++)
				o[c] += k1[c] * dy[c];
		} else if (!k2) {
			for (int64_t c = 0; c < C; c++)
				o[c] = k1[c] * dy[c];
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
	kcv_ops_parallel(pool, (size_t)(j->nimg * j->per_img), grain, apply_rows, j);
}

static void sums_chunk(void *ctx, size_t t)
{
	const nrm_job *j = ctx;
	const int64_t C = j->c, img = (int64_t)t / j->cpi, q = (int64_t)t % j->cpi;
	double *a1 = j->part + (int64_t)t * 2 * C, *a2 = a1 + C;
	memset(a1, 0, (size_t)(2 * C) * sizeof(double));
	int64_t r0 = img * j->per_img + q * j->chunk, r1 = (img + 1) * j->per_img;
	if (r0 + j->chunk < r1)
		r1 = r0 + j->chunk;
	const float *mu = j->mu + img * C;
	for (int64_t r = r0; r < r1; r++) {
		const float *x = j->x + r * C;
		if (j->stats) {
			for (int64_t c = 0; c < C; c++) {
				double u = x[c] - mu[c];
				a1[c] += u;
				a2[c] += u * u;
			}
		} else {
			const float *dy = j->dy + r * C;
			for (int64_t c = 0; c < C; c++) {
				a1[c] += dy[c];
				a2[c] += (double)dy[c] * (x[c] - mu[c]);
			}
		}
	}
}

/* Per-(image, channel) sums into s1, s2 (see nrm_job.stats). */
static void image_sums(kcv_pool *pool, nrm_state *s)
{
	nrm_job *j = &s->j;
	const int64_t C = j->c;
	int64_t cpi = (j->per_img + CHUNK_ROWS - 1) / CHUNK_ROWS, cap = MAX_CHUNKS / j->nimg;
	if (cap < 1)
		cap = 1;
	j->cpi = cpi < cap ? cpi : cap;
	j->chunk = (j->per_img + j->cpi - 1) / j->cpi;
	kcv_pool_run(pool, (size_t)(j->nimg * j->cpi), sums_chunk, j);
	for (int64_t i = 0; i < j->nimg; i++)
		for (int64_t c = 0; c < C; c++) {
			double u = 0, v = 0;
			for (int64_t q = 0; q < j->cpi; q++) {
				const double *p = j->part + (i * j->cpi + q) * 2 * C;
				u += p[c];
				v += p[C + c];
			}
			s->s1[i * C + c] = u;
			s->s2[i * C + c] = v;
		}
}

/* Batch statistics: mean and invstd per (image, group); mu = the means. */
static void batch_stats(kcv_pool *pool, nrm_state *s, float eps)
{
	const int64_t C = s->j.c, G = s->groups, cg = s->cg;
	for (int64_t i = 0; i < s->j.nimg; i++) /* the shift: a sample of each group */
		for (int64_t c = 0; c < C; c++)
			s->mu[i * C + c] = s->j.x[i * s->j.per_img * C + c / cg * cg];
	s->j.stats = 1;
	image_sums(pool, s);
	s->j.stats = 0;
	for (int64_t i = 0; i < s->j.nimg; i++)
		for (int64_t g = 0; g < G; g++) {
			double u = 0, v = 0;
			for (int64_t c = g * cg; c < (g + 1) * cg; c++)
				u += s->s1[i * C + c], v += s->s2[i * C + c];
			double m1 = u / s->m, var = v / s->m - m1 * m1;
			s->mean[i * G + g] = s->mu[i * C + g * cg] + m1;
			s->invstd[i * G + g] = 1.0 / sqrt((var > 0 ? var : 0) + (double)eps);
		}
	for (int64_t i = 0; i < s->j.nimg; i++)
		for (int64_t c = 0; c < C; c++)
			s->mu[i * C + c] = (float)s->mean[i * G + c / cg];
}

static void normalize(nrm_state *s, const kcv_op_call *c, const float *gamma, const float *beta)
{
	const int64_t C = s->j.c, G = s->groups;
	for (int64_t i = 0; i < s->j.nimg; i++)
		for (int64_t k = 0; k < C; k++) {
			s->k2[i * C + k] = (float)(s->invstd[i * G + k / s->cg] * gamma[k]);
			s->k3[i * C + k] = beta[k];
		}
	s->j.out = c->out;
	apply(c->pool, &s->j);
}

static void write_grad(float *dst, int64_t c, double v, int acc)
{
	dst[c] = (float)(acc ? dst[c] + v : v);
}

/* gamma/beta gradients from the sums of dy and dy * (x - mu). */
static void affine_grads(const nrm_state *s, const kcv_op_grad_call *c)
{
	const int64_t C = s->j.c, G = s->groups;
	for (int64_t k = 0; k < C; k++) {
		double dg = 0, db = 0;
		for (int64_t i = 0; i < s->j.nimg; i++) {
			dg += s->invstd[i * G + k / s->cg] * s->s2[i * C + k];
			db += s->s1[i * C + k];
		}
		if (c->d_in[1])
			write_grad(c->d_in[1], k, dg, c->accumulate[1]);
		if (c->d_in[2])
			write_grad(c->d_in[2], k, db, c->accumulate[2]);
	}
}

/* dx through batch statistics. */
static void batch_dx(nrm_state *s, const kcv_op_grad_call *c, const float *gamma)
{
	const int64_t C = s->j.c, G = s->groups, cg = s->cg;
	for (int64_t i = 0; i < s->j.nimg; i++)
		for (int64_t g = 0; g < G; g++) {
			double a = 0, b = 0, is = s->invstd[i * G + g];
			for (int64_t k = g * cg; k < (g + 1) * cg; k++)
				a += gamma[k] * s->s1[i * C + k], b += gamma[k] * s->s2[i * C + k];
			for (int64_t k = g * cg; k < (g + 1) * cg; k++) {
				s->k1[i * C + k] = (float)(is * gamma[k]);
				s->k2[i * C + k] = (float)(-is * is * is * b / s->m);
				s->k3[i * C + k] = (float)(-is * a / s->m);
			}
		}
	s->j.out = c->d_in[0];
	s->j.acc = c->accumulate[0];
	apply(c->fwd.pool, &s->j);
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
	int64_t c = in[0].d[in[0].rank - 1];
	return state_bytes(1, c, c);
}

/* Whether this run normalises with the batch's statistics. */
static int bn_batch(const kcv_op_call *c)
{
	const kcv_op_norm_params *p = c->params;
	return p->training == KCV_BN_BATCH || (p->training == KCV_BN_FOLLOW && c->training);
}

static void bn_setup(nrm_state *s, const kcv_op_call *c, void *scratch)
{
	const kcv_op_norm_params *p = c->params;
	int64_t C = c->in_shape[0].d[c->in_shape[0].rank - 1];
	state_init(s, c, scratch, 1, C);
	if (bn_batch(c)) {
		batch_stats(c->pool, s, p->eps);
		return;
	}
	for (int64_t k = 0; k < C; k++) {
		s->mean[k] = c->in[3][k];
		s->invstd[k] = 1.0 / sqrt((double)c->in[4][k] + (double)p->eps);
		s->mu[k] = c->in[3][k];
	}
}

/* The running-average update of a training-mode forward pass (torch's
 * BatchNorm: the variance unbiased). mean and var are parameters: the op
 * writes them in place. */
static void bn_update_running(const nrm_state *s, const kcv_op_call *c)
{
	const kcv_op_norm_params *p = c->params;
	double mom = p->momentum, unbias = s->m > 1 ? s->m / (s->m - 1) : 1.0;
	float *mean = (float *)c->in[3], *var = (float *)c->in[4];
	for (int64_t k = 0; k < s->j.c; k++) {
		double is = s->invstd[k], bvar = 1.0 / (is * is) - (double)p->eps;
		if (bvar < 0)
			bvar = 0;
		mean[k] = (float)((1 - mom) * mean[k] + mom * s->mean[k]);
		var[k] = (float)((1 - mom) * var[k] + mom * bvar * unbias);
	}
}

static void bn_forward(const kcv_op_call *c)
{
	const kcv_op_norm_params *p = c->params;
	nrm_state s;
	bn_setup(&s, c, c->scratch);
	normalize(&s, c, c->in[1], c->in[2]);
	if (p->training == KCV_BN_FOLLOW && c->training)
		bn_update_running(&s, c);
}

static void bn_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	nrm_state s;
	bn_setup(&s, f, c->scratch);
	const int64_t C = s.j.c;
	const float *gamma = f->in[1];
	s.j.dy = c->d_out;
	const int batch = bn_batch(f);
	if (batch || c->d_in[1] || c->d_in[2] || c->d_in[3] || c->d_in[4]) {
		image_sums(f->pool, &s);
		affine_grads(&s, c);
	}
	if (batch) {
		kcv_ops_zero_grad(c->d_in[3], (size_t)C, c->accumulate[3]);
		kcv_ops_zero_grad(c->d_in[4], (size_t)C, c->accumulate[4]);
		if (c->d_in[0])
			batch_dx(&s, c, gamma);
		return;
	}
	for (int64_t k = 0; k < C; k++) { /* running statistics: y is affine in x, mean, var */
		double is = s.invstd[k], g = gamma[k] * is;
		if (c->d_in[3])
			write_grad(c->d_in[3], k, -g * s.s1[k], c->accumulate[3]);
		if (c->d_in[4])
			write_grad(c->d_in[4], k, -0.5 * g * is * is * s.s2[k], c->accumulate[4]);
		s.k1[k] = (float)g;
	}
	if (!c->d_in[0])
		return;
	s.j.k2 = NULL;
	s.j.out = c->d_in[0];
	s.j.acc = c->accumulate[0];
	apply(f->pool, &s.j);
}

static double norm_flops(const kcv_shape *in, int n_in, const void *params,
                         const kcv_shape *out)
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
	.flops = norm_flops,
	.forward = bn_forward,
	.backward = bn_backward,
};

/* ---- group norm, one image per task (AVX-512) -------------------------------
 *
 * With a few images or more, each image is one task: its statistics, then
 * its normalisation while it is still in cache. Per-channel sums run in
 * double over the image's rows in order (vector lanes = channels), then over
 * the channels of a group in order. Backward takes the four sums it needs
 * in one pass over x and dy: sum u, u^2, dy, dy*u with u = x - shift (a
 * sample of the group, for accuracy), so that
 *   mean = shift + sum(u)/m,  var = sum(u^2)/m - (sum(u)/m)^2,
 *   sum dy*(x - mean) = sum(dy*u) - sum(u)/m * sum(dy). */

#define GN_MIN_IMAGES 2
#define GN_CB 32  /* channels per block of accumulators */
#define GN_RUN 16 /* rows summed in float before the double sums */

static int gn_per_image(int64_t nimg)
{
	return nimg >= GN_MIN_IMAGES && kcv_gemm_fast();
}

typedef struct gn_img {
	const float *x, *dy, *gamma, *beta;
	float *out;            /* y or dx */
	int64_t C, G, cg, rows;
	float eps;
	int acc, backward;
	double *sums;          /* [image][4][C] */
	double *invstd;        /* [image][G] */
	float *coef;           /* [image][4][C]: shift/mu, k1, k2, k3 */
} gn_img;

static size_t gn_img_bytes(int64_t nimg, int64_t c, int64_t groups)
{
	return kcv_align64((size_t)(nimg * 4 * c) * sizeof(double)) +
	       kcv_align64((size_t)(nimg * groups) * sizeof(double)) +
	       kcv_align64((size_t)(nimg * 4 * c) * sizeof(float));
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512vl,avx512dq")))

static inline __mmask16 AVX512 mask16(int64_t n)
{
	return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* Widen 16 floats into two 8-double vectors and add them to acc[0..1]. */
static inline void AVX512 add_wide(__m512d *acc, __m512 v)
{
	acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
	acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

/* Sums of channels [c0, c0 + 32) over the image's rows: u, u^2 and, with
 * dy, dy and dy*u, into sums[q][c]. Runs of GN_RUN rows sum in float, the
 * runs in double. Inlined with a constant dy or not, so that the sums stay in
 * registers. */
AVX512 static inline __attribute__((always_inline)) void
gn_sums_body(const gn_img *j, const float *x, const float *dy, const float *shift, int64_t c0,
             double *sums)
{
	const int64_t C = j->C, w = C - c0 < GN_CB ? C - c0 : GN_CB;
	const int nq = dy ? 4 : 2;
	__m512d a[4][4];
#pragma GCC unroll 4
	for (int q = 0; q < 4; q++)
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++)
			a[q][v] = _mm512_setzero_pd();
	__mmask16 m0 = mask16(w), m1 = mask16(w - 16);
	const __m512 s0 = _mm512_maskz_loadu_ps(m0, shift + c0);
	const __m512 s1 = _mm512_maskz_loadu_ps(m1, shift + c0 + 16);
	for (int64_t r0 = 0; r0 < j->rows; r0 += GN_RUN) {
		int64_t r1 = r0 + GN_RUN < j->rows ? r0 + GN_RUN : j->rows;
		__m512 f[4][2];
#pragma GCC unroll 4
		for (int q = 0; q < 4; q++)
			f[q][0] = f[q][1] = _mm512_setzero_ps();
		for (int64_t r = r0; r < r1; r++) {
			const float *xr = x + r * C + c0;
			__m512 u0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m0, xr), s0);
			__m512 u1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m1, xr + 16), s1);
			f[0][0] = _mm512_add_ps(f[0][0], u0);
			f[0][1] = _mm512_add_ps(f[0][1], u1);
			f[1][0] = _mm512_fmadd_ps(u0, u0, f[1][0]);
			f[1][1] = _mm512_fmadd_ps(u1, u1, f[1][1]);
			if (dy) {
				const float *dr = dy + r * C + c0;
				__m512 d0 = _mm512_maskz_loadu_ps(m0, dr), d1 = _mm512_maskz_loadu_ps(m1, dr + 16);
				f[2][0] = _mm512_add_ps(f[2][0], d0);
				f[2][1] = _mm512_add_ps(f[2][1], d1);
				f[3][0] = _mm512_fmadd_ps(d0, u0, f[3][0]);
				f[3][1] = _mm512_fmadd_ps(d1, u1, f[3][1]);
			}
		}
#pragma GCC unroll 4
		for (int q = 0; q < nq; q++) {
			add_wide(&a[q][0], f[q][0]);
			add_wide(&a[q][2], f[q][1]);
		}
	}
	double tmp[GN_CB];
#pragma GCC unroll 4
	for (int q = 0; q < nq; q++) {
#pragma GCC unroll 4
		for (int v = 0; v < 4; v++)
			_mm512_storeu_pd(tmp + 8 * v, a[q][v]);
		memcpy(sums + q * C + c0, tmp, (size_t)w * sizeof(double));
	}
}

AVX512 static void gn_stat_sums(const gn_img *j, const float *x, const float *shift,
                                int64_t c0, double *sums)
{
	gn_sums_body(j, x, NULL, shift, c0, sums);
}

AVX512 static void gn_grad_sums(const gn_img *j, const float *x, const float *dy,
                                const float *shift, int64_t c0, double *sums)
{
	gn_sums_body(j, x, dy, shift, c0, sums);
}

/* out = [k1 dy +] k2 (x - mu) + k3 (+ out) over the image's rows, last row
 * first: the rows the sums read last are the ones still in cache. */
AVX512 static void gn_apply(const gn_img *j, const float *x, const float *dy, float *out,
                            const float *coef)
{
	const int64_t C = j->C;
	const float *mu = coef, *k1 = coef + C, *k2 = coef + 2 * C, *k3 = coef + 3 * C;
	for (int64_t r = j->rows - 1; r >= 0; r--) {
		const float *xr = x + r * C;
		float *o = out + r * C;
		for (int64_t c = 0; c < C; c += 16) {
			__mmask16 m = mask16(C - c);
			__m512 u = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + c), _mm512_maskz_loadu_ps(m, mu + c));
			__m512 v = _mm512_fmadd_ps(u, _mm512_maskz_loadu_ps(m, k2 + c), _mm512_maskz_loadu_ps(m, k3 + c));
			if (dy)
				v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, dy + r * C + c),
				                    _mm512_maskz_loadu_ps(m, k1 + c), v);
			if (j->acc)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, o + c));
			_mm512_mask_storeu_ps(o + c, m, v);
		}
	}
}

static void gn_image(void *ctx, size_t i)
{
	const gn_img *j = ctx;
	const int64_t C = j->C, G = j->G, cg = j->cg;
	const float *x = j->x + (int64_t)i * j->rows * C;
	const float *dy = j->backward ? j->dy + (int64_t)i * j->rows * C : NULL;
	double *sums = j->sums + (int64_t)i * 4 * C, *invstd = j->invstd + (int64_t)i * G;
	float *coef = j->coef + (int64_t)i * 4 * C;
	for (int64_t c = 0; c < C; c++) /* the shift: the group's first value */
		coef[c] = x[c / cg * cg];
	for (int64_t c0 = 0; c0 < C; c0 += GN_CB) {
		if (dy)
			gn_grad_sums(j, x, dy, coef, c0, sums);
		else
			gn_stat_sums(j, x, coef, c0, sums);
	}
	const double m = (double)(j->rows * cg);
	for (int64_t g = 0; g < G; g++) {
		double u = 0, v = 0, a = 0, b = 0;
		for (int64_t c = g * cg; c < (g + 1) * cg; c++)
			u += sums[c], v += sums[C + c];
		double mu = u / m, var = v / m - mu * mu;
		double is = 1.0 / sqrt((var > 0 ? var : 0) + (double)j->eps);
		double mean = coef[g * cg] + mu;
		invstd[g] = is;
		if (!j->backward) {
			for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
				coef[c] = (float)mean;
				coef[2 * C + c] = (float)(is * j->gamma[c]);
				coef[3 * C + c] = j->beta[c];
			}
			continue;
		}
		for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
			sums[3 * C + c] -= mu * sums[2 * C + c]; /* sum dy (x - mean) */
			a += j->gamma[c] * sums[2 * C + c];
			b += j->gamma[c] * sums[3 * C + c];
		}
		for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
			coef[c] = (float)mean;
			coef[C + c] = (float)(is * j->gamma[c]);
			coef[2 * C + c] = (float)(-is * is * is * b / m);
			coef[3 * C + c] = (float)(-is * a / m);
		}
	}
	if (j->out)
		gn_apply(j, x, dy, j->out + (int64_t)i * j->rows * C, coef);
}
#else
static void gn_image(void *ctx, size_t i)
{
	(void)ctx, (void)i; /* not reached: gn_per_image() is 0 */
}
#endif

static void gn_img_init(gn_img *j, const kcv_op_call *c, void *scratch)
{
	const kcv_op_norm_params *p = c->params;
	const kcv_shape *xs = &c->in_shape[0];
	int64_t nimg = xs->d[0], C = xs->d[xs->rank - 1];
	char *sp = scratch;
	memset(j, 0, sizeof(*j));
	j->x = c->in[0];
	j->gamma = c->in[1];
	j->beta = c->in[2];
	j->C = C;
	j->G = p->groups;
	j->cg = C / p->groups;
	j->rows = kcv_shape_numel(xs) / C / nimg;
	j->eps = p->eps;
	j->sums = take(&sp, (size_t)(nimg * 4 * C) * sizeof(double));
	j->invstd = take(&sp, (size_t)(nimg * j->G) * sizeof(double));
	j->coef = take(&sp, (size_t)(nimg * 4 * C) * sizeof(float));
}

static void gn_img_forward(const kcv_op_call *c)
{
	gn_img j;
	gn_img_init(&j, c, c->scratch);
	j.out = c->out;
	kcv_pool_run(c->pool, (size_t)c->in_shape[0].d[0], gn_image, &j);
}

static void gn_img_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	gn_img j;
	gn_img_init(&j, f, c->scratch);
	const int64_t nimg = f->in_shape[0].d[0], C = j.C;
	j.backward = 1;
	j.dy = c->d_out;
	j.out = c->d_in[0];
	j.acc = c->accumulate[0];
	kcv_pool_run(f->pool, (size_t)nimg, gn_image, &j);
	for (int64_t k = 0; k < C; k++) { /* gamma, beta: over the images in order */
		double dg = 0, db = 0;
		for (int64_t i = 0; i < nimg; i++) {
			dg += j.invstd[i * j.G + k / j.cg] * j.sums[(i * 4 + 3) * C + k];
			db += j.sums[(i * 4 + 2) * C + k];
		}
		if (c->d_in[1])
			write_grad(c->d_in[1], k, dg, c->accumulate[1]);
		if (c->d_in[2])
			write_grad(c->d_in[2], k, db, c->accumulate[2]);
	}
}

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
	int64_t nimg = in[0].d[0], c = in[0].d[in[0].rank - 1];
	if (gn_per_image(nimg))
		return gn_img_bytes(nimg, c, p->groups);
	return state_bytes(nimg, c, p->groups);
}

static void gn_setup(nrm_state *s, const kcv_op_call *c, void *scratch)
{
	const kcv_op_norm_params *p = c->params;
	state_init(s, c, scratch, c->in_shape[0].d[0], p->groups);
	batch_stats(c->pool, s, p->eps);
}

static void gn_forward(const kcv_op_call *c)
{
	if (gn_per_image(c->in_shape[0].d[0])) {
		gn_img_forward(c);
		return;
	}
	nrm_state s;
	gn_setup(&s, c, c->scratch);
	normalize(&s, c, c->in[1], c->in[2]);
}

static void gn_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	if (gn_per_image(f->in_shape[0].d[0])) {
		gn_img_backward(c);
		return;
	}
	nrm_state s;
	gn_setup(&s, f, c->scratch);
	s.j.dy = c->d_out;
	image_sums(f->pool, &s);
	affine_grads(&s, c);
	if (c->d_in[0])
		batch_dx(&s, c, f->in[1]);
}

const kcv_op_def kcv_op_def_group_norm = {
	.name = "group_norm",
	.min_in = 3,
	.max_in = 3,
	.bwd_needs_in = 1u | 2u, /* x, gamma */
	.infer = gn_infer,
	.scratch = gn_scratch,
	.flops = norm_flops,
	.forward = gn_forward,
	.backward = gn_backward,
};
