/* Optimisers over registered float32 buffers: SGD (Keras semantics) and
 * AdamW (torch semantics), Keras global_clipnorm, checkpointable state.
 *
 * The kernels process blocks of BLOCK elements with a fixed-count inner loop,
 * which gcc -O2 vectorises (SLP) without needing -O3, then a scalar tail.
 * Single-threaded for now. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/optim.h>

#include "util-impl.h"

#define BLOCK 8
#define SRC "[optimizer]"

typedef struct param {
	char *name;
	float *w;
	float *g;
	size_t n;
	float *slot[2];     /* SGD: momentum; AdamW: m, v */
	char *slot_name[2];
} param;

struct kcv_optim {
	kcv_optim_params p; /* defaults filled in */
	kcv_schedule sched;
	double lr_scale;
	int64_t step;
	int nslots; /* state buffers per parameter: 0, 1 or 2 */
	param *params;
	size_t count, cap;
};

/* ---- creation --------------------------------------------------------------- */

static kcv_status check_params(kcv_optim_params *p, kcv_error *err)
{
	if (p->kind != KCV_OPTIM_SGD && p->kind != KCV_OPTIM_ADAMW)
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "unknown optimizer kind %d",
		                 (int)p->kind);
	if (!(p->weight_decay >= 0.0 && isfinite(p->weight_decay)))
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
		                 "weight_decay %g must be finite and >= 0", p->weight_decay);
	if (!(p->global_clipnorm >= 0.0 && isfinite(p->global_clipnorm)))
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
		                 "global_clipnorm %g must be finite and >= 0 (0 = off)",
		                 p->global_clipnorm);
	if (p->kind == KCV_OPTIM_SGD) {
		if (!(p->momentum >= 0.0 && p->momentum < 1.0))
			return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "momentum %g outside [0,1)",
			                 p->momentum);
		if (p->nesterov && p->momentum == 0.0)
			return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
			                 "nesterov needs a momentum > 0");
		return KCV_OK;
	}
	if (p->beta1 == 0.0)
		p->beta1 = 0.9;
	if (p->beta2 == 0.0)
		p->beta2 = 0.999;
	if (p->eps == 0.0)
		p->eps = 1e-8;
	if (!(p->beta1 > 0.0 && p->beta1 < 1.0))
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "beta1 %g outside (0,1)", p->beta1);
	if (!(p->beta2 > 0.0 && p->beta2 < 1.0))
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "beta2 %g outside (0,1)", p->beta2);
	if (!(p->eps > 0.0 && isfinite(p->eps)))
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "eps %g must be > 0", p->eps);
	if (p->momentum != 0.0 || p->nesterov)
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
		                 "momentum and nesterov are SGD options, not AdamW ones");
	return KCV_OK;
}

kcv_optim *kcv_optim_new(const kcv_optim_params *params, const kcv_schedule *schedule,
                         kcv_error *err)
{
	if (!params) {
		KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "no optimizer parameters");
		return NULL;
	}
	kcv_optim_params p = *params;
	if (check_params(&p, err) != KCV_OK || kcv_schedule_check(schedule, err) != KCV_OK)
		return NULL;
	kcv_optim *o = calloc(1, sizeof(*o));
	if (!o) {
		KCV_ERROR(err, KCV_ERR_NOMEM, SRC, NULL, "out of memory");
		return NULL;
	}
	o->p = p;
	o->sched = *schedule;
	o->lr_scale = 1.0;
	if (p.kind == KCV_OPTIM_ADAMW)
		o->nslots = 2;
	else
		o->nslots = p.momentum > 0.0 ? 1 : 0;
	return o;
}

static void param_clear(param *q)
{
	free(q->name);
	for (int s = 0; s < 2; s++) {
		free(q->slot[s]);
		free(q->slot_name[s]);
	}
}

void kcv_optim_free(kcv_optim *opt)
{
	if (!opt)
		return;
	for (size_t i = 0; i < opt->count; i++)
		param_clear(&opt->params[i]);
	free(opt->params);
	free(opt);
}

/* Zeroed float buffer, 64-byte aligned. */
static float *alloc_state(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
	float *f = aligned_alloc(64, bytes);
	if (f)
		memset(f, 0, bytes);
	return f;
}

kcv_status kcv_optim_add_param(kcv_optim *opt, const char *name, float *param_buf,
                               float *grad, size_t n, kcv_error *err)
{
	if (!name || !name[0])
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "a parameter needs a name");
	if (!param_buf || !grad || n == 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
		                 "parameter %s: needs a parameter and a gradient buffer of n > 0 "
		                 "floats",
		                 name);
	if (n > SIZE_MAX / sizeof(float) - 64)
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "parameter %s: too large", name);
	for (size_t i = 0; i < opt->count; i++)
		if (strcmp(opt->params[i].name, name) == 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
			                 "parameter %s: registered twice", name);
	if (opt->count == opt->cap) {
		size_t cap = opt->cap ? 2 * opt->cap : 32;
		param *np = realloc(opt->params, cap * sizeof(*np));
		if (!np)
			return KCV_ERROR(err, KCV_ERR_NOMEM, SRC, NULL, "out of memory");
		opt->params = np;
		opt->cap = cap;
	}
	static const char *const suffix[2][2] = {{"momentum", NULL}, {"adam_m", "adam_v"}};
	const int row = opt->p.kind == KCV_OPTIM_ADAMW ? 1 : 0;
	param q;
	memset(&q, 0, sizeof(q));
	q.name = kcv_strdup(name);
	q.w = param_buf;
	q.g = grad;
	q.n = n;
	int bad = !q.name;
	for (int s = 0; s < opt->nslots && !bad; s++) {
		q.slot[s] = alloc_state(n);
		q.slot_name[s] = kcv_strdup_printf("%s/%s", name, suffix[row][s]);
		bad = !q.slot[s] || !q.slot_name[s];
	}
	if (bad) {
		param_clear(&q);
		return KCV_ERROR(err, KCV_ERR_NOMEM, SRC, NULL,
		                 "parameter %s: out of memory for %zu floats of state", name, n);
	}
	opt->params[opt->count++] = q;
	return KCV_OK;
}

kcv_status kcv_optim_set_buffers(kcv_optim *opt, const char *name, float *param_buf,
                                 float *grad, size_t n, kcv_error *err)
{
	param *q = NULL;
	for (size_t i = 0; name && i < opt->count && !q; i++)
		if (strcmp(opt->params[i].name, name) == 0)
			q = &opt->params[i];
	if (!q)
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "parameter %s: not registered",
		                 name ? name : "(null)");
	if (!param_buf || !grad)
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL, "parameter %s: NULL buffer", name);
	if (n != q->n)
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
		                 "parameter %s: registered with %zu floats, new buffers have %zu",
		                 name, q->n, n);
	q->w = param_buf;
	q->g = grad;
	return KCV_OK;
}

/* ---- kernels ----------------------------------------------------------------- */

/* Sum of squares in double; BLOCK partial sums keep it vectorisable. */
static double sum_squares(const float *restrict g, size_t n)
{
	double acc[BLOCK] = {0};
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		for (int k = 0; k < BLOCK; k++)
			acc[k] += (double)g[i + k] * (double)g[i + k];
	double s = 0.0;
	for (; i < n; i++)
		s += (double)g[i] * (double)g[i];
	for (int k = 0; k < BLOCK; k++)
		s += acc[k];
	return s;
}

/* w <- w - lr * (s g + wd w) */
static void sgd_plain(float *restrict w, const float *restrict g, size_t n, float lr,
                      float scale, float wd)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		for (int k = 0; k < BLOCK; k++) {
			float gi = g[i + k] * scale + wd * w[i + k];
			w[i + k] -= lr * gi;
		}
	for (; i < n; i++) {
		float gi = g[i] * scale + wd * w[i];
		w[i] -= lr * gi;
	}
}

/* Keras: v <- m v - lr g; w <- w + v */
static void sgd_momentum(float *restrict w, const float *restrict g, float *restrict v,
                         size_t n, float lr, float scale, float wd, float m)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		for (int k = 0; k < BLOCK; k++) {
			float gi = g[i + k] * scale + wd * w[i + k];
			float vi = m * v[i + k] - lr * gi;
			v[i + k] = vi;
			w[i + k] += vi;
		}
	for (; i < n; i++) {
		float gi = g[i] * scale + wd * w[i];
		float vi = m * v[i] - lr * gi;
		v[i] = vi;
		w[i] += vi;
	}
}

/* Keras Nesterov: v <- m v - lr g; w <- w + m v - lr g */
static void sgd_nesterov(float *restrict w, const float *restrict g, float *restrict v,
                         size_t n, float lr, float scale, float wd, float m)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		for (int k = 0; k < BLOCK; k++) {
			float gi = g[i + k] * scale + wd * w[i + k];
			float vi = m * v[i + k] - lr * gi;
			v[i + k] = vi;
			w[i + k] += m * vi - lr * gi;
		}
	for (; i < n; i++) {
		float gi = g[i] * scale + wd * w[i];
		float vi = m * v[i] - lr * gi;
		v[i] = vi;
		w[i] += m * vi - lr * gi;
	}
}

typedef struct adamw_coef {
	float decay;     /* 1 - lr * wd */
	float one_m_b1;  /* 1 - beta1 */
	float b2;        /* beta2 */
	float one_m_b2;  /* 1 - beta2 */
	float step_size; /* lr / (1 - beta1^t) */
	float bc2_sqrt;  /* sqrt(1 - beta2^t) */
	float eps;
	float scale;     /* clip factor */
} adamw_coef;

/* torch.optim.AdamW (single-tensor path), same operation order. gcc only
 * vectorises this with -fno-math-errno (sqrtf may set errno; the optimize
 * pragma does not reach the builtin), so at plain -O2 it runs scalar. */
static void adamw_update(float *restrict w, const float *restrict g, float *restrict m,
                         float *restrict v, size_t n, const adamw_coef *c)
{
	const adamw_coef k0 = *c;
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		for (int k = 0; k < BLOCK; k++) {
			float gi = g[i + k] * k0.scale;
			float wi = w[i + k] * k0.decay;
			float mi = m[i + k] + k0.one_m_b1 * (gi - m[i + k]);
			float vi = v[i + k] * k0.b2 + k0.one_m_b2 * gi * gi;
			m[i + k] = mi;
			v[i + k] = vi;
			float denom = sqrtf(vi) / k0.bc2_sqrt + k0.eps;
			w[i + k] = wi - k0.step_size * (mi / denom);
		}
	for (; i < n; i++) {
		float gi = g[i] * k0.scale;
		float wi = w[i] * k0.decay;
		float mi = m[i] + k0.one_m_b1 * (gi - m[i]);
		float vi = v[i] * k0.b2 + k0.one_m_b2 * gi * gi;
		m[i] = mi;
		v[i] = vi;
		float denom = sqrtf(vi) / k0.bc2_sqrt + k0.eps;
		w[i] = wi - k0.step_size * (mi / denom);
	}
}

/* ---- stepping ---------------------------------------------------------------- */

double kcv_optim_grad_norm(const kcv_optim *opt)
{
	double s = 0.0;
	for (size_t i = 0; i < opt->count; i++)
		s += sum_squares(opt->params[i].g, opt->params[i].n);
	return sqrt(s);
}

double kcv_optim_lr(const kcv_optim *opt)
{
	return kcv_schedule_lr(&opt->sched, opt->step) * opt->lr_scale;
}

kcv_status kcv_optim_step(kcv_optim *opt, kcv_optim_report *report, kcv_error *err)
{
	const kcv_optim_params *p = &opt->p;
	double norm = kcv_optim_grad_norm(opt);
	double lr = kcv_optim_lr(opt);
	double scale = 1.0;
	/* Keras clip_by_global_norm: g * clipnorm / max(norm, clipnorm) */
	if (p->global_clipnorm > 0.0 && norm > p->global_clipnorm)
		scale = p->global_clipnorm / norm;
	if (report) {
		report->step = opt->step;
		report->lr = lr;
		report->grad_norm = norm;
		report->clip_scale = scale;
	}
	if (!isfinite(norm))
		return KCV_ERROR(err, KCV_ERR_INVALID, SRC, NULL,
		                 "step %lld: gradient norm is %g; parameters left unchanged",
		                 (long long)opt->step, norm);
	const float flr = (float)lr, fscale = (float)scale, wd = (float)p->weight_decay;
	if (p->kind == KCV_OPTIM_SGD) {
		const float m = (float)p->momentum;
		for (size_t i = 0; i < opt->count; i++) {
			param *q = &opt->params[i];
			if (opt->nslots == 0)
				sgd_plain(q->w, q->g, q->n, flr, fscale, wd);
			else if (p->nesterov)
				sgd_nesterov(q->w, q->g, q->slot[0], q->n, flr, fscale, wd, m);
			else
				sgd_momentum(q->w, q->g, q->slot[0], q->n, flr, fscale, wd, m);
		}
	} else {
		double t = (double)(opt->step + 1);
		double bc1 = 1.0 - pow(p->beta1, t);
		double bc2 = 1.0 - pow(p->beta2, t);
		adamw_coef c = {
			.decay = (float)(1.0 - lr * p->weight_decay),
			.one_m_b1 = (float)(1.0 - p->beta1),
			.b2 = (float)p->beta2,
			.one_m_b2 = (float)(1.0 - p->beta2),
			.step_size = (float)(lr / bc1),
			.bc2_sqrt = (float)sqrt(bc2),
			.eps = (float)p->eps,
			.scale = fscale,
		};
		for (size_t i = 0; i < opt->count; i++) {
			param *q = &opt->params[i];
			adamw_update(q->w, q->g, q->slot[0], q->slot[1], q->n, &c);
		}
	}
	opt->step++;
	return KCV_OK;
}

/* ---- accessors ---------------------------------------------------------------- */

void kcv_optim_set_lr_scale(kcv_optim *opt, double scale)
{
	opt->lr_scale = (isfinite(scale) && scale >= 0.0) ? scale : opt->lr_scale;
}

double kcv_optim_lr_scale(const kcv_optim *opt)
{
	return opt->lr_scale;
}

int64_t kcv_optim_step_count(const kcv_optim *opt)
{
	return opt->step;
}

void kcv_optim_set_step_count(kcv_optim *opt, int64_t step)
{
	opt->step = step < 0 ? 0 : step;
}

size_t kcv_optim_slot_count(const kcv_optim *opt)
{
	return opt->count * (size_t)opt->nslots;
}

kcv_status kcv_optim_slot_at(const kcv_optim *opt, size_t i, kcv_optim_slot *out)
{
	if (opt->nslots == 0 || i >= kcv_optim_slot_count(opt))
		return KCV_ERR_INVALID;
	const param *q = &opt->params[i / (size_t)opt->nslots];
	int s = (int)(i % (size_t)opt->nslots);
	out->name = q->slot_name[s];
	out->data = q->slot[s];
	out->n = q->n;
	return KCV_OK;
}

/* ---- checkpoints ---------------------------------------------------------------- */

kcv_status kcv_optim_state_save(const kcv_optim *opt, kcv_weights_writer *wr,
                                const char *prefix, kcv_error *err)
{
	if (!prefix)
		prefix = "";
	size_t ns = kcv_optim_slot_count(opt);
	for (size_t i = 0; i < ns; i++) {
		kcv_optim_slot s;
		if (kcv_optim_slot_at(opt, i, &s) != KCV_OK)
			return KCV_ERROR(err, KCV_ERR_INTERNAL, SRC, NULL, "slot %zu missing", i);
		char *name = kcv_strdup_printf("%s%s", prefix, s.name);
		if (!name)
			return KCV_ERROR(err, KCV_ERR_NOMEM, SRC, NULL, "out of memory");
		int64_t dim = (int64_t)s.n;
		kcv_status st = kcv_weights_writer_add(wr, name, s.data, 1, &dim, err);
		free(name);
		if (st != KCV_OK)
			return st;
	}
	char key[256], val[64];
	snprintf(key, sizeof(key), "%sstep", prefix);
	snprintf(val, sizeof(val), "%lld", (long long)opt->step);
	kcv_status st = kcv_weights_writer_set_metadata(wr, key, val, err);
	if (st != KCV_OK)
		return st;
	snprintf(key, sizeof(key), "%slr_scale", prefix);
	snprintf(val, sizeof(val), "%.17g", opt->lr_scale);
	return kcv_weights_writer_set_metadata(wr, key, val, err);
}

kcv_status kcv_optim_state_load(kcv_optim *opt, const kcv_weights *w, const char *prefix,
                                kcv_error *err)
{
	if (!prefix)
		prefix = "";
	const char *path = kcv_weights_path(w);
	char key[256];
	snprintf(key, sizeof(key), "%sstep", prefix);
	const char *sv = kcv_weights_metadata(w, key);
	char *end = NULL;
	long long step = sv ? strtoll(sv, &end, 10) : -1;
	if (!sv || !sv[0] || *end != '\0' || step < 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		                 "__metadata__: \"%s\" %s, a step count >= 0 is needed", key,
		                 sv ? "is not an integer" : "is missing");
	snprintf(key, sizeof(key), "%slr_scale", prefix);
	const char *ls = kcv_weights_metadata(w, key);
	double scale = 1.0;
	if (ls) {
		end = NULL;
		scale = strtod(ls, &end);
		if (!ls[0] || *end != '\0' || !isfinite(scale) || scale < 0.0)
			return KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
			                 "__metadata__: \"%s\" = \"%s\" is not a number >= 0", key, ls);
	}
	size_t ns = kcv_optim_slot_count(opt);
	for (size_t i = 0; i < ns; i++) {
		kcv_optim_slot s;
		if (kcv_optim_slot_at(opt, i, &s) != KCV_OK)
			return KCV_ERROR(err, KCV_ERR_INTERNAL, SRC, NULL, "slot %zu missing", i);
		char *name = kcv_strdup_printf("%s%s", prefix, s.name);
		if (!name)
			return KCV_ERROR(err, KCV_ERR_NOMEM, SRC, NULL, "out of memory");
		kcv_status st = kcv_weights_read_f32(w, name, s.data, s.n, err);
		free(name);
		if (st != KCV_OK)
			return st;
	}
	opt->step = (int64_t)step;
	opt->lr_scale = scale;
	return KCV_OK;
}
