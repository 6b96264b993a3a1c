/* Loss building blocks: with broadcasting, bce_logits (binary cross-entropy
 * on logits, stable for any |x|) and div_no_nan (a / b, 0 where b == 0);
 * fused per-row losses over the last axis, focal_loss (sigmoid focal loss
 * summed over classes) and giou_loss (1 - GIoU of boxes or of box deltas). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

/* max(x,0) - x*t + log1p(exp(-|x|)): no overflow for any x */
static inline float f_bce(const float *d, size_t i, float x, float t)
{
	return fmaxf(x, 0.0f) - x * t + log1pf(expf(-fabsf(x)));
}
/* d/dx = sigmoid(x) - t, computed without overflow */
static inline float g_bce_x(const float *d, size_t i, float x, float t)
{
	float e = expf(-fabsf(x));
	float s = x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
	return d[i] * (s - t);
}
/* d/dt = -x */
static inline float g_bce_t(const float *d, size_t i, float x, float t)
{
	return -d[i] * x;
}
KCV_BCAST_ROW(bce_row, f_bce)
KCV_BCAST_ROW(bce_grad_x, g_bce_x)
KCV_BCAST_ROW(bce_grad_t, g_bce_t)

static inline float f_dnn(const float *d, size_t i, float a, float b)
{
	return b == 0.0f ? 0.0f : a / b;
}
static inline float g_dnn_a(const float *d, size_t i, float a, float b)
{
	return b == 0.0f ? 0.0f : d[i] / b;
}
static inline float g_dnn_b(const float *d, size_t i, float a, float b)
{
	return b == 0.0f ? 0.0f : -d[i] * (a / b) / b;
}
KCV_BCAST_ROW(dnn_row, f_dnn)
KCV_BCAST_ROW(dnn_grad_a, g_dnn_a)
KCV_BCAST_ROW(dnn_grad_b, g_dnn_b)

static const kcv_binary_def bce_bin = {"bce_logits", bce_row, {bce_grad_x, bce_grad_t}, {0, 0}};
static const kcv_binary_def dnn_bin = {"div_no_nan", dnn_row, {dnn_grad_a, dnn_grad_b}, {0, 0}};

KCV_BINARY_OP_DEF(bce_logits, bce_bin, 3u);
KCV_BINARY_OP_DEF(div_no_nan, dnn_bin, 3u);

/* ---- focal_loss and giou_loss: a loss per row of the last axis ----------- */

/* x and y of the same shape [..., K] (K = 4 for giou) to [...] ([1] for rank 1). */
static kcv_status row_infer(const char *name, int64_t k, const kcv_shape *in, kcv_shape *out,
                            char *msg, size_t msg_size)
{
	char sa[128], sb[128];
	if (!kcv_shape_equal(&in[0], &in[1])) {
		snprintf(msg, msg_size, "%s: inputs %s and %s differ in shape", name,
		         kcv_shape_format(&in[0], sa, sizeof(sa)),
		         kcv_shape_format(&in[1], sb, sizeof(sb)));
		return KCV_ERR_INVALID;
	}
	if (in[0].rank < 1 || (k > 0 ? in[0].d[in[0].rank - 1] != k : in[0].d[in[0].rank - 1] < 1)) {
		snprintf(msg, msg_size, "%s: input %s must have a last axis of %s%lld", name,
		         kcv_shape_format(&in[0], sa, sizeof(sa)), k > 0 ? "" : "at least ",
		         (long long)(k > 0 ? k : 1));
		return KCV_ERR_INVALID;
	}
	*out = in[0];
	if (out->rank == 1)
		out->d[0] = 1;
	else
		out->rank--;
	return KCV_OK;
}

typedef struct row_job {
	const void *params;
	const float *a, *b;
	float *out;       /* forward: one value per row */
	const float *dy;  /* backward: the rows' gradients */
	float *da, *db;   /* backward: NULL when not wanted */
	int acc_a, acc_b;
	int64_t k;        /* row length */
} row_job;

static size_t row_grain(int64_t k)
{
	size_t g = KCV_GRAIN / (size_t)(k > 0 ? k : 1);
	return g ? g : 1;
}

/* q^gamma for q >= 0 with the common exponents exact and fast. */
static inline float qpow(float q, float gamma)
{
	if (gamma == 2.0f)
		return q * q;
	if (gamma == 1.0f)
		return q;
	if (gamma == 0.0f)
		return 1.0f;
	return powf(q, gamma);
}

/* One element of the focal loss; its derivative in *grad when grad != NULL. */
static inline float focal_elem(const kcv_focal_params *p, float x, float t, float *grad)
{
	const float ls = p->label_smoothing, gamma = p->gamma;
	const float y = ls > 0.0f ? t * (1.0f - ls) + 0.5f * ls : t;
	const float at = p->alpha < 0.0f ? 1.0f : t == 1.0f ? p->alpha : 1.0f - p->alpha;
	float pr, pm, ce, dq, dce;
	if (p->from_logits) {
		/* p = sigmoid(x) and 1 - p from one exp and one division; CE =
		 * y softplus(-x) + (1 - y) softplus(x), their common log1p(e) as
		 * log(u) + (1 + e - u) / u with u = fl(1 + e): within 2 ulp, and
		 * cheaper than log1pf */
		float e = expf(-fabsf(x)), u = 1.0f + e, sp = 1.0f / u, sn = e * sp;
		float l1p = logf(u) + (e - (u - 1.0f)) * sp;
		pr = x >= 0.0f ? sp : sn;
		pm = x >= 0.0f ? sn : sp;
		ce = y * fmaxf(-x, 0.0f) + (1.0f - y) * fmaxf(x, 0.0f) + l1p;
		dq = (1.0f - 2.0f * y) * pr * pm;
		dce = (1.0f - y) * pr - y * pm;
	} else {
		const float eps = 1e-7f, hi = 1.0f - eps;
		float c = fminf(fmaxf(x, eps), hi);
		pr = fminf(fmaxf(x, 0.0f), 1.0f);
		pm = 1.0f - pr;
		ce = -(y * logf(c + eps) + (1.0f - y) * logf(1.0f - c + eps));
		dq = x >= 0.0f && x <= 1.0f ? 1.0f - 2.0f * y : 0.0f;
		dce = x >= eps && x <= hi ? (1.0f - y) / (1.0f - c + eps) - y / (c + eps) : 0.0f;
	}
	const float q = y * pm + (1.0f - y) * pr; /* 1 - p_t */
	const float qg = qpow(q, gamma);
	if (grad) {
		float t1 = gamma != 0.0f && q > 0.0f ? gamma * (qpow(q, gamma - 1.0f) * dq) * ce : 0.0f;
		*grad = at * (t1 + qg * dce);
	}
	return at * qg * ce;
}

/* ---- the focal loss 4 elements at a time --------------------------------------
 * With logits and an integer gamma in [0, 4] (every detector's case): GCC /
 * Clang vector extensions of 16 bytes (SSE2 or NEON, always there), with
 * expf and log1pf as polynomials, Cephes' expf and the atanh series of
 * log1p, both within 2 ulp. Other cases take focal_elem. */
#define FV 4
typedef float vf __attribute__((vector_size(FV * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(FV * sizeof(int32_t))));

static inline vf vsplat(float v)
{
	return (vf){v, v, v, v};
}

/* m ? a : b, lane by lane (m: all ones or zero) */
static inline vf vsel(vi m, vf a, vf b)
{
	return (vf)((m & (vi)a) | (~m & (vi)b));
}

/* exp(v) for v <= 0; below -87 as at -87 (a result under 1.7e-38 either way) */
static inline vf vexp_neg(vf v)
{
	v = vsel(v > vsplat(-87.0f), v, vsplat(-87.0f));
	vi n = __builtin_convertvector(v * 1.44269504088896341f - 0.5f, vi); /* round */
	vf fn = __builtin_convertvector(n, vf);
	vf r = v - fn * 0.693359375f;
	r = r - fn * -2.12194440e-4f;
	vf y = r * 1.9875691500e-4f + 1.3981999507e-3f;
	y = y * r + 8.3334519073e-3f;
	y = y * r + 4.1665795894e-2f;
	y = y * r + 1.6666665459e-1f;
	y = y * r + 5.0000001201e-1f;
	y = y * r * r + r + 1.0f;
	vi bits = (n + 127) << 23; /* 2^n, n in [-126, 0] */
	return y * (vf)bits;
}

/* log1p(e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) <= 1/3 */
static inline vf vlog1p_unit(vf e)
{
	vf s = e / (e + 2.0f), z = s * s;
	vf y = z * (1.0f / 15) + 1.0f / 13;
	y = y * z + 1.0f / 11;
	y = y * z + 1.0f / 9;
	y = y * z + 1.0f / 7;
	y = y * z + 1.0f / 5;
	y = y * z + 1.0f / 3;
	y = y * z + 1.0f;
	return 2.0f * s * y;
}

typedef struct vfocal_params {
	float a1, a0; /* alpha_t where t == 1, elsewhere */
	float ls;
	int g;        /* gamma */
} vfocal_params;

/* focal_elem from logits, FV lanes. */
static inline vf vfocal(const vfocal_params *p, vf x, vf t, vf *grad)
{
	const vf zero = vsplat(0.0f);
	vf y = t * (1.0f - p->ls) + 0.5f * p->ls;
	vf at = vsel(t == vsplat(1.0f), vsplat(p->a1), vsplat(p->a0));
	vi pos = x >= zero;
	vf ax = vsel(pos, x, -x);
	vf e = vexp_neg(-ax), sp = 1.0f / (e + 1.0f), sn = e * sp;
	vf pr = vsel(pos, sp, sn), pm = vsel(pos, sn, sp);
	vf ce = y * vsel(pos, zero, ax) + (1.0f - y) * vsel(pos, ax, zero) + vlog1p_unit(e);
	vf q = y * pm + (1.0f - y) * pr;
	vf qg = vsplat(1.0f), qg1 = qg; /* q^gamma, q^(gamma - 1) */
	for (int i = 0; i < p->g; i++) {
		qg1 = qg;
		qg = qg * q;
	}
	if (grad) {
		vf dq = (1.0f - 2.0f * y) * pr * pm;
		vf dce = (1.0f - y) * pr - y * pm;
		*grad = at * ((float)p->g * qg1 * dq * ce + qg * dce);
	}
	return at * qg * ce;
}

/* The vector path applies: logits, gamma an integer in [0, 4]. */
static int vfocal_setup(const kcv_focal_params *p, vfocal_params *v)
{
	if (!p->from_logits || !(p->gamma >= 0 && p->gamma <= 4) || p->gamma != floorf(p->gamma))
		return 0;
	v->a1 = p->alpha < 0 ? 1.0f : p->alpha;
	v->a0 = p->alpha < 0 ? 1.0f : 1.0f - p->alpha;
	v->ls = p->label_smoothing;
	v->g = (int)p->gamma;
	return 1;
}

/* Lanes [0, n) of a block from x and t (the rest 0). */
static inline void vload(const float *x, const float *t, int64_t n, vf *xv, vf *tv)
{
	if (n == FV) {
		memcpy(xv, x, sizeof(*xv));
		memcpy(tv, t, sizeof(*tv));
		return;
	}
	*xv = *tv = vsplat(0.0f);
	memcpy(xv, x, (size_t)n * sizeof(float));
	memcpy(tv, t, (size_t)n * sizeof(float));
}

static void focal_fwd_range(void *ctx, size_t lo, size_t hi)
{
	const row_job *j = ctx;
	const kcv_focal_params p = *(const kcv_focal_params *)j->params; /* not aliased by out */
	const int64_t k = j->k;
	vfocal_params vp;
	const int vec = vfocal_setup(&p, &vp);
	for (size_t r = lo; r < hi; r++) {
		const float *restrict x = j->a + (int64_t)r * k, *restrict t = j->b + (int64_t)r * k;
		double s = 0;
		if (vec) {
			for (int64_t c = 0; c < k; c += FV) {
				int64_t n = k - c < FV ? k - c : FV;
				vf xv, tv;
				vload(x + c, t + c, n, &xv, &tv);
				vf v = vfocal(&vp, xv, tv, NULL);
				for (int64_t l = 0; l < n; l++)
					s += v[l];
			}
		} else {
			for (int64_t c = 0; c < k; c++)
				s += focal_elem(&p, x[c], t[c], NULL);
		}
		j->out[r] = (float)s;
	}
}

static void focal_bwd_range(void *ctx, size_t lo, size_t hi)
{
	const row_job *j = ctx;
	const kcv_focal_params p = *(const kcv_focal_params *)j->params;
	const int64_t k = j->k;
	vfocal_params vp;
	const int vec = vfocal_setup(&p, &vp), acc = j->acc_a;
	const float *restrict x = j->a + (int64_t)lo * k, *restrict t = j->b + (int64_t)lo * k;
	float *restrict dx = j->da + (int64_t)lo * k;
	for (size_t r = lo; r < hi; r++, x += k, t += k, dx += k) {
		const float d = j->dy[r];
		if (vec) {
			for (int64_t c = 0; c < k; c += FV) {
				int64_t n = k - c < FV ? k - c : FV;
				vf xv, tv, g;
				vload(x + c, t + c, n, &xv, &tv);
				vfocal(&vp, xv, tv, &g);
				g *= d;
				for (int64_t l = 0; l < n; l++)
					dx[c + l] = acc ? dx[c + l] + g[l] : g[l];
			}
			continue;
		}
		for (int64_t c = 0; c < k; c++) {
			float g;
			focal_elem(&p, x[c], t[c], &g);
			dx[c] = acc ? dx[c] + d * g : d * g;
		}
	}
}

static int64_t rows_of(const kcv_shape *in, int64_t *k)
{
	*k = in->d[in->rank - 1];
	return *k > 0 ? kcv_shape_numel(in) / *k : 0;
}

static kcv_status focal_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                              char *msg, size_t msg_size)
{
	return row_infer("focal_loss", 0, in, out, msg, msg_size);
}

static double focal_flops(const kcv_shape *in, int n_in, const void *params,
                          const kcv_shape *out)
{
	return 20.0 * (double)kcv_shape_numel(&in[0]);
}

static void focal_forward(const kcv_op_call *c)
{
	row_job j = {.params = c->params, .a = c->in[0], .b = c->in[1], .out = c->out};
	int64_t rows = rows_of(&c->in_shape[0], &j.k);
	kcv_ops_parallel(c->pool, (size_t)rows, row_grain(j.k), focal_fwd_range, &j);
}

static void focal_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	size_t n = (size_t)kcv_shape_numel(&f->in_shape[1]);
	if (c->d_in[1]) /* targets are constants */
		kcv_ops_zero_grad(c->d_in[1], n, c->accumulate[1]);
	if (!c->d_in[0])
		return;
	row_job j = {.params = f->params, .a = f->in[0], .b = f->in[1], .dy = c->d_out,
	             .da = c->d_in[0], .acc_a = c->accumulate[0]};
	int64_t rows = rows_of(&f->in_shape[0], &j.k);
	kcv_ops_parallel(f->pool, (size_t)rows, row_grain(j.k), focal_bwd_range, &j);
}

const kcv_op_def kcv_op_def_focal_loss = {
	.name = "focal_loss",
	.min_in = 2,
	.max_in = 2,
	.bwd_needs_in = 3u,
	.infer = focal_infer,
	.flops = focal_flops,
	.forward = focal_forward,
	.backward = focal_backward,
};

/* A box from 4 deltas (or a box as is) and, per coordinate j, its
 * derivatives by the location delta (j % 2) and the size delta (2 + j % 2). */
typedef struct dbox {
	double c[4];
	double jl[4], js[4];
} dbox;

static void giou_decode(const kcv_giou_params *p, const float *d, dbox *b)
{
	if (p->input == KCV_GIOU_BOXES) {
		for (int j = 0; j < 4; j++) {
			b->c[j] = d[j];
			b->jl[j] = j < 2 ? 1 : 0;
			b->js[j] = j < 2 ? 0 : 1;
		}
		return;
	}
	const double cap = p->clamp > 0 && p->clamp < 80 ? p->clamp : 80;
	for (int k = 0; k < 2; k++) {
		double v = p->variance[k], vs = p->variance[k + 2];
		double s = (double)d[k] * v, z = (double)d[k + 2] * vs;
		int pass = z <= cap;
		double w = exp(pass ? z : cap), dw = pass ? w * vs : 0;
		b->jl[k] = b->jl[k + 2] = v;
		if (p->input == KCV_GIOU_DELTAS_CENTER) {
			b->c[k] = s - 0.5 * w;
			b->c[k + 2] = s + 0.5 * w;
			b->js[k] = -0.5 * dw;
			b->js[k + 2] = 0.5 * dw;
		} else {
			b->c[k] = s;
			b->c[k + 2] = s + w;
			b->js[k] = 0;
			b->js[k + 2] = dw;
		}
	}
}

/* g routed to the larger (max) or smaller (min) of u and v; halves on a tie. */
static inline void route(int want_max, double u, double v, double g, double *gu, double *gv)
{
	if (u == v) {
		*gu += 0.5 * g;
		*gv += 0.5 * g;
	} else if ((u > v) == (want_max != 0)) {
		*gu += g;
	} else {
		*gv += g;
	}
}

/* 1 - GIoU of xyxy boxes a and b (torchvision's formula, eps 1e-7); with
 * ga/gb, the loss's derivatives by each coordinate. */
static double giou_box(const double *a, const double *b, double *ga, double *gb)
{
	const double eps = 1e-7;
	double ix1 = fmax(a[0], b[0]), iy1 = fmax(a[1], b[1]);
	double ix2 = fmin(a[2], b[2]), iy2 = fmin(a[3], b[3]);
	double iw = ix2 - ix1, ih = iy2 - iy1;
	int overlap = ix2 > ix1 && iy2 > iy1;
	double inter = overlap ? iw * ih : 0;
	double wa = a[2] - a[0], ha = a[3] - a[1], wb = b[2] - b[0], hb = b[3] - b[1];
	double uni = wa * ha + wb * hb - inter;
	double cx1 = fmin(a[0], b[0]), cy1 = fmin(a[1], b[1]);
	double cx2 = fmax(a[2], b[2]), cy2 = fmax(a[3], b[3]);
	double cw = cx2 - cx1, ch = cy2 - cy1, area_c = cw * ch;
	double loss = 1 - (inter / (uni + eps) - (area_c - uni) / (area_c + eps));
	if (!ga)
		return loss;
	/* giou = I/(U+e) - (C-U)/(C+e), U = Aa + Ab - I; L = 1 - giou */
	double g_u = -inter / ((uni + eps) * (uni + eps)) + 1 / (area_c + eps);
	double d_area = -g_u;                   /* dL/dAa = dL/dAb */
	double d_inter = -(1 / (uni + eps) - g_u); /* dL/dI */
	double d_c = (uni + eps) / ((area_c + eps) * (area_c + eps)); /* dL/dC */
	for (int j = 0; j < 4; j++)
		ga[j] = gb[j] = 0;
	ga[0] -= d_area * ha, ga[2] += d_area * ha, ga[1] -= d_area * wa, ga[3] += d_area * wa;
	gb[0] -= d_area * hb, gb[2] += d_area * hb, gb[1] -= d_area * wb, gb[3] += d_area * wb;
	if (overlap) {
		route(1, a[0], b[0], -d_inter * ih, &ga[0], &gb[0]);
		route(1, a[1], b[1], -d_inter * iw, &ga[1], &gb[1]);
		route(0, a[2], b[2], d_inter * ih, &ga[2], &gb[2]);
		route(0, a[3], b[3], d_inter * iw, &ga[3], &gb[3]);
	}
	route(0, a[0], b[0], -d_c * ch, &ga[0], &gb[0]);
	route(0, a[1], b[1], -d_c * cw, &ga[1], &gb[1]);
	route(1, a[2], b[2], d_c * ch, &ga[2], &gb[2]);
	route(1, a[3], b[3], d_c * cw, &ga[3], &gb[3]);
	return loss;
}

/* Box gradient g to delta gradient out (or +=). */
static inline void giou_chain(const dbox *b, const double *g, float d, float *out, int acc)
{
	double gd[4];
	for (int k = 0; k < 2; k++) {
		gd[k] = g[k] * b->jl[k] + g[k + 2] * b->jl[k + 2];
		gd[k + 2] = g[k] * b->js[k] + g[k + 2] * b->js[k + 2];
	}
	for (int j = 0; j < 4; j++)
		out[j] = acc ? out[j] + (float)(d * gd[j]) : (float)(d * gd[j]);
}

static void giou_range(void *ctx, size_t lo, size_t hi)
{
	const row_job *j = ctx;
	const kcv_giou_params *p = j->params;
	for (size_t r = lo; r < hi; r++) {
		dbox a, b;
		giou_decode(p, j->a + 4 * r, &a);
		giou_decode(p, j->b + 4 * r, &b);
		if (!j->dy) {
			j->out[r] = (float)giou_box(a.c, b.c, NULL, NULL);
			continue;
		}
		double ga[4], gb[4];
		giou_box(a.c, b.c, ga, gb);
		if (j->da)
			giou_chain(&a, ga, j->dy[r], j->da + 4 * r, j->acc_a);
		if (j->db)
			giou_chain(&b, gb, j->dy[r], j->db + 4 * r, j->acc_b);
	}
}

static kcv_status giou_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                             char *msg, size_t msg_size)
{
	return row_infer("giou_loss", 4, in, out, msg, msg_size);
}

static double giou_flops(const kcv_shape *in, int n_in, const void *params,
                         const kcv_shape *out)
{
	return 60.0 * (double)kcv_shape_numel(out);
}

static void giou_forward(const kcv_op_call *c)
{
	row_job j = {.params = c->params, .a = c->in[0], .b = c->in[1], .out = c->out, .k = 4};
	size_t rows = (size_t)kcv_shape_numel(&c->in_shape[0]) / 4;
	kcv_ops_parallel(c->pool, rows, row_grain(4), giou_range, &j);
}

static void giou_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	if (!c->d_in[0] && !c->d_in[1])
		return;
	row_job j = {.params = f->params, .a = f->in[0], .b = f->in[1], .dy = c->d_out,
	             .da = c->d_in[0], .db = c->d_in[1], .acc_a = c->accumulate[0],
	             .acc_b = c->accumulate[1], .k = 4};
	size_t rows = (size_t)kcv_shape_numel(&f->in_shape[0]) / 4;
	kcv_ops_parallel(f->pool, rows, row_grain(4), giou_range, &j);
}

const kcv_op_def kcv_op_def_giou_loss = {
	.name = "giou_loss",
	.min_in = 2,
	.max_in = 2,
	.bwd_needs_in = 3u,
	.infer = giou_infer,
	.flops = giou_flops,
	.forward = giou_forward,
	.backward = giou_backward,
};
