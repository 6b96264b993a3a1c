/* Learning-rate schedules: constant, piecewise constant (Keras
 * PiecewiseConstantDecay), cosine (Keras CosineDecay), optional linear
 * warm-up. */
#include <math.h>

#include <kcv/optim.h>

static int rate_ok(double x)
{
	return isfinite(x) && x >= 0.0;
}

const char *kcv_schedule_kind_name(kcv_schedule_kind kind)
{
	switch (kind) {
	case KCV_SCHEDULE_CONSTANT: return "constant";
	case KCV_SCHEDULE_STEP: return "step";
	case KCV_SCHEDULE_COSINE: return "cosine";
	}
	return NULL;
}

kcv_status kcv_schedule_check(const kcv_schedule *s, kcv_error *err)
{
	const char *src = "[schedule]";
	if (!s)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL, "no schedule");
	if (s->warmup_steps < 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL, "warmup_steps %lld is negative",
		                 (long long)s->warmup_steps);
	if (!rate_ok(s->warmup_lr_start))
		return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
		                 "warmup_lr_start %g must be finite and >= 0", s->warmup_lr_start);
	switch (s->kind) {
	case KCV_SCHEDULE_CONSTANT:
		if (!rate_ok(s->lr))
			return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
			                 "lr %g must be finite and >= 0", s->lr);
		return KCV_OK;
	case KCV_SCHEDULE_STEP:
		if (s->n_boundaries < 0 || s->n_boundaries > KCV_SCHEDULE_MAX_BOUNDARIES)
			return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
			                 "step schedule: %d boundaries, expected 0 to %d",
			                 s->n_boundaries, KCV_SCHEDULE_MAX_BOUNDARIES);
		for (int i = 0; i < s->n_boundaries; i++) {
			if (s->boundaries[i] < 0 || (i > 0 && s->boundaries[i] <= s->boundaries[i - 1]))
				return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
				                 "step schedule: boundaries must be >= 0 and strictly "
				                 "increasing (boundaries[%d] = %lld)",
				                 i, (long long)s->boundaries[i]);
		}
		for (int i = 0; i <= s->n_boundaries; i++) {
			if (!rate_ok(s->values[i]))
				return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
				                 "step schedule: values[%d] = %g must be finite and >= 0", i,
				                 s->values[i]);
		}
		return KCV_OK;
	case KCV_SCHEDULE_COSINE:
		if (!rate_ok(s->lr))
			return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
			                 "lr %g must be finite and >= 0", s->lr);
		if (s->decay_steps <= 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
			                 "cosine schedule: decay_steps %lld must be > 0",
			                 (long long)s->decay_steps);
		if (!(s->alpha >= 0.0 && s->alpha <= 1.0))
			return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL,
			                 "cosine schedule: alpha %g outside [0,1]", s->alpha);
		return KCV_OK;
	}
	return KCV_ERROR(err, KCV_ERR_INVALID, src, NULL, "unknown schedule kind %d", (int)s->kind);
}

/* The schedule without warm-up. */
static double base_lr(const kcv_schedule *s, int64_t t)
{
	switch (s->kind) {
	case KCV_SCHEDULE_CONSTANT:
		return s->lr;
	case KCV_SCHEDULE_STEP: {
		int i = 0;
		while (i < s->n_boundaries && t > s->boundaries[i])
			i++;
		return s->values[i];
	}
	case KCV_SCHEDULE_COSINE: {
		double frac = (double)(t < s->decay_steps ? t : s->decay_steps) / (double)s->decay_steps;
		double cosine = 0.5 * (1.0 + cos(M_PI * frac));
		return s->lr * ((1.0 - s->alpha) * cosine + s->alpha);
	}
	}
	return 0.0;
}

double kcv_schedule_lr(const kcv_schedule *s, int64_t step)
{
	if (step < 0)
		step = 0;
	if (s->warmup_steps > 0 && step < s->warmup_steps) {
		double target = base_lr(s, 0);
		return s->warmup_lr_start +
		       (target - s->warmup_lr_start) * (double)step / (double)s->warmup_steps;
	}
	return base_lr(s, step - s->warmup_steps);
}
