/* Check suite for core/optim.c and core/schedule.c: SGD (momentum, Nesterov,
 * weight decay) and AdamW against hand-computed and double-precision
 * references, global_clipnorm, schedules at their boundaries, state save and
 * restore, and an oracle against PyTorch when it is installed. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcv/optim.h>
#include <kcv/rng.h>
#include <kcv/safetensors.h>

#define PYTHON "/usr/bin/python3"
/* float32 results against double references: relative to max(|ref|, 1) */
#define REL_TOL 2e-6

static const kcv_schedule constant_01 = {.kind = KCV_SCHEDULE_CONSTANT, .lr = 0.1};

static kcv_optim *optim_new_ok(const kcv_optim_params *p, const kcv_schedule *s)
{
	kcv_error err;
	kcv_error_clear(&err);
	kcv_optim *o = kcv_optim_new(p, s, &err);
	ck_assert_msg(o != NULL, "%s", err.text);
	return o;
}

static void step_ok(kcv_optim *o, kcv_optim_report *rep)
{
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_msg(kcv_optim_step(o, rep, &err) == KCV_OK, "%s", err.text);
}

static void add_ok(kcv_optim *o, const char *name, float *w, float *g, size_t n)
{
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_msg(kcv_optim_add_param(o, name, w, g, n, &err) == KCV_OK, "%s", err.text);
}

static void assert_close(double got, double want, double tol, const char *what, int i)
{
	double scale = fabs(want) > 1.0 ? fabs(want) : 1.0;
	ck_assert_msg(fabs(got - want) <= tol * scale, "%s[%d]: got %.9g, want %.9g", what, i,
	              got, want);
}

/* ---- hand-computed sequences ------------------------------------------------- */

START_TEST(test_sgd_momentum_hand)
{
	/* w = 1, g = 1 every step, lr 0.1, momentum 0.9 (Keras):
	 * v1 = -0.1, w1 = 0.9; v2 = -0.19, w2 = 0.71; v3 = -0.271, w3 = 0.439 */
	float w = 1.0f, g = 1.0f;
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .momentum = 0.9};
	kcv_optim *o = optim_new_ok(&p, &constant_01);
	add_ok(o, "w", &w, &g, 1);
	const double want[3] = {0.9, 0.71, 0.439};
	for (int s = 0; s < 3; s++) {
		step_ok(o, NULL);
		assert_close(w, want[s], 1e-6, "w", s);
	}
	/* new buffers, same state: the momentum carries over */
	float w2 = 1.0f, g2 = 0.0f, w_before = w;
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_optim_set_buffers(o, "w", &w2, &g2, 1, &err), KCV_OK);
	step_ok(o, NULL);
	assert_close(w2, 1.0 - 0.2439, 1e-6, "w2", 0); /* v4 = 0.9 * -0.271 */
	ck_assert(w == w_before); /* the old buffer is no longer touched */
	kcv_optim_slot slot;
	ck_assert_uint_eq(kcv_optim_slot_count(o), 1);
	ck_assert_int_eq(kcv_optim_slot_at(o, 0, &slot), KCV_OK);
	ck_assert_str_eq(slot.name, "w/momentum");
	assert_close(slot.data[0], -0.2439, 1e-6, "v", 0);
	ck_assert_int_eq(kcv_optim_step_count(o), 4);
	kcv_optim_free(o);
}
END_TEST

START_TEST(test_sgd_nesterov_hand)
{
	/* v1 = -0.1, w1 = 1 + 0.9 * -0.1 - 0.1 = 0.81;
	 * v2 = -0.19, w2 = 0.81 - 0.171 - 0.1 = 0.539 */
	float w = 1.0f, g = 1.0f;
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .momentum = 0.9, .nesterov = 1};
	kcv_optim *o = optim_new_ok(&p, &constant_01);
	add_ok(o, "w", &w, &g, 1);
	step_ok(o, NULL);
	assert_close(w, 0.81, 1e-6, "w", 1);
	step_ok(o, NULL);
	assert_close(w, 0.539, 1e-6, "w", 2);
	kcv_optim_free(o);
}
END_TEST

START_TEST(test_sgd_weight_decay_hand)
{
	/* plain SGD, wd 0.5, lr 0.1, g = 0: w <- w - 0.1 * 0.5 w = 0.95 w */
	float w = 2.0f, g = 0.0f;
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .weight_decay = 0.5};
	kcv_optim *o = optim_new_ok(&p, &constant_01);
	add_ok(o, "w", &w, &g, 1);
	ck_assert_uint_eq(kcv_optim_slot_count(o), 0);
	step_ok(o, NULL);
	assert_close(w, 1.9, 1e-6, "w", 1);
	step_ok(o, NULL);
	assert_close(w, 1.805, 1e-6, "w", 2);
	kcv_optim_free(o);
}
END_TEST

START_TEST(test_adamw_hand)
{
	/* step 1, g = 1: m = 0.1, v = 0.001, m^ = v^ = 1, so
	 * w = 1 * (1 - 0.1 * 0.1) - 0.1 * 1 / (1 + 1e-8) = 0.89 (to 1e-9) */
	float w = 1.0f, g = 1.0f;
	kcv_optim_params p = {.kind = KCV_OPTIM_ADAMW, .weight_decay = 0.1};
	kcv_optim *o = optim_new_ok(&p, &constant_01);
	add_ok(o, "w", &w, &g, 1);
	step_ok(o, NULL);
	assert_close(w, 0.89, 1e-6, "w", 1);
	ck_assert_uint_eq(kcv_optim_slot_count(o), 2);
	kcv_optim_slot m, v;
	ck_assert_int_eq(kcv_optim_slot_at(o, 0, &m), KCV_OK);
	ck_assert_int_eq(kcv_optim_slot_at(o, 1, &v), KCV_OK);
	ck_assert_str_eq(m.name, "w/adam_m");
	ck_assert_str_eq(v.name, "w/adam_v");
	assert_close(m.data[0], 0.1, 1e-7, "m", 0);
	assert_close(v.data[0], 0.001, 1e-7, "v", 0);
	/* constant gradient: every later step also moves by lr (m^ = v^ = 1) */
	step_ok(o, NULL);
	assert_close(w, 0.89 * 0.99 - 0.1, 1e-6, "w", 2);
	kcv_optim_free(o);
}
END_TEST

/* ---- multi-step against double-precision references --------------------------- */

#define NP 2
static const size_t sizes[NP] = {37, 10}; /* not multiples of the block size */
#define NSTEP 6

/* Deterministic parameters and per-step gradients. */
static void make_data(double *w0, double g[NSTEP][64], size_t total, uint64_t seed)
{
	kcv_rng rng;
	kcv_rng_seed(&rng, seed, 1, 2, 3);
	for (size_t i = 0; i < total; i++)
		w0[i] = kcv_rng_range(&rng, -1.0, 1.0);
	for (int s = 0; s < NSTEP; s++)
		for (size_t i = 0; i < total; i++)
			g[s][i] = kcv_rng_normal(&rng) * 0.5;
}

typedef struct ref_cfg {
	kcv_optim_params p;
	kcv_schedule sched;
} ref_cfg;

/* The documented formulas in double precision, over the concatenation of all
 * parameters (clipping uses the global norm). */
static void reference(const ref_cfg *c, const double *w0, double g[NSTEP][64], size_t total,
                      double *w)
{
	double v[64] = {0}, m[64] = {0}, a[64] = {0};
	double b1 = c->p.beta1 ? c->p.beta1 : 0.9, b2 = c->p.beta2 ? c->p.beta2 : 0.999;
	double eps = c->p.eps ? c->p.eps : 1e-8, wd = c->p.weight_decay, mom = c->p.momentum;
	memcpy(w, w0, total * sizeof(double));
	for (int s = 0; s < NSTEP; s++) {
		double lr = kcv_schedule_lr(&c->sched, s);
		double norm = 0.0;
		for (size_t i = 0; i < total; i++)
			norm += g[s][i] * g[s][i];
		norm = sqrt(norm);
		double scale = 1.0;
		if (c->p.global_clipnorm > 0)
			scale = c->p.global_clipnorm / fmax(norm, c->p.global_clipnorm);
		for (size_t i = 0; i < total; i++) {
			double gi = g[s][i] * scale;
			if (c->p.kind == KCV_OPTIM_SGD) {
				gi += wd * w[i];
				if (mom == 0.0) {
					w[i] -= lr * gi;
				} else {
					v[i] = mom * v[i] - lr * gi;
					w[i] += c->p.nesterov ? mom * v[i] - lr * gi : v[i];
				}
			} else {
				int t = s + 1;
				w[i] -= lr * wd * w[i];
				m[i] = b1 * m[i] + (1 - b1) * gi;
				a[i] = b2 * a[i] + (1 - b2) * gi * gi;
				w[i] -= lr / (1 - pow(b1, t)) * m[i] /
				        (sqrt(a[i]) / sqrt(1 - pow(b2, t)) + eps);
			}
		}
	}
}

static void run_against_reference(const ref_cfg *c, double tol)
{
	double w0[64], g[NSTEP][64], want[64];
	size_t total = sizes[0] + sizes[1];
	make_data(w0, g, total, 42);
	reference(c, w0, g, total, want);

	float w[64], gf[64];
	for (size_t i = 0; i < total; i++)
		w[i] = (float)w0[i];
	kcv_optim *o = optim_new_ok(&c->p, &c->sched);
	add_ok(o, "a", w, gf, sizes[0]);
	add_ok(o, "b", w + sizes[0], gf + sizes[0], sizes[1]);
	for (int s = 0; s < NSTEP; s++) {
		for (size_t i = 0; i < total; i++)
			gf[i] = (float)g[s][i];
		kcv_optim_report rep;
		step_ok(o, &rep);
		ck_assert_int_eq(rep.step, s);
		assert_close(rep.lr, kcv_schedule_lr(&c->sched, s), 1e-12, "lr", s);
	}
	for (size_t i = 0; i < total; i++)
		assert_close(w[i], want[i], tol, "w", (int)i);
	kcv_optim_free(o);
}

START_TEST(test_sgd_reference)
{
	ref_cfg c = {.p = {.kind = KCV_OPTIM_SGD}, .sched = constant_01};
	run_against_reference(&c, REL_TOL);
	c.p.momentum = 0.9;
	run_against_reference(&c, REL_TOL);
	c.p.nesterov = 1;
	run_against_reference(&c, REL_TOL);
	c.p.weight_decay = 1e-2;
	run_against_reference(&c, REL_TOL);
	c.p.nesterov = 0;
	run_against_reference(&c, REL_TOL);
	/* a step schedule changes the rate between steps */
	c.sched = (kcv_schedule){.kind = KCV_SCHEDULE_STEP,
	                         .n_boundaries = 2,
	                         .boundaries = {1, 3},
	                         .values = {0.1, 0.05, 0.01}};
	run_against_reference(&c, REL_TOL);
}
END_TEST

START_TEST(test_adamw_reference)
{
	ref_cfg c = {.p = {.kind = KCV_OPTIM_ADAMW}, .sched = {.kind = KCV_SCHEDULE_CONSTANT,
	                                                        .lr = 1e-2}};
	run_against_reference(&c, REL_TOL);
	c.p.weight_decay = 0.05;
	run_against_reference(&c, REL_TOL);
	c.p.beta1 = 0.8;
	c.p.beta2 = 0.99;
	c.p.eps = 1e-6;
	run_against_reference(&c, REL_TOL);
	c.sched = (kcv_schedule){.kind = KCV_SCHEDULE_COSINE, .lr = 1e-2, .decay_steps = 4,
	                         .alpha = 0.1, .warmup_steps = 2, .warmup_lr_start = 1e-3};
	run_against_reference(&c, REL_TOL);
}
END_TEST

START_TEST(test_clipnorm_reference)
{
	/* the gradients have a norm of about 0.5 * sqrt(47) = 3.4: 1 clips, 100 not */
	ref_cfg c = {.p = {.kind = KCV_OPTIM_SGD, .momentum = 0.9, .global_clipnorm = 1.0},
	             .sched = constant_01};
	run_against_reference(&c, REL_TOL);
	c.p.global_clipnorm = 100.0;
	run_against_reference(&c, REL_TOL);
	c.p = (kcv_optim_params){.kind = KCV_OPTIM_ADAMW, .global_clipnorm = 0.5,
	                         .weight_decay = 0.01};
	run_against_reference(&c, REL_TOL);
}
END_TEST

/* ---- clipnorm ------------------------------------------------------------------ */

START_TEST(test_clipnorm_scale)
{
	/* two buffers; the norm over both is 5 (3-4-5); clipnorm 1 scales by 0.2 */
	float a[1] = {0}, ga[1] = {3}, b[1] = {0}, gb[1] = {4};
	kcv_schedule lr1 = {.kind = KCV_SCHEDULE_CONSTANT, .lr = 1.0};
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .global_clipnorm = 1.0};
	kcv_optim *o = optim_new_ok(&p, &lr1);
	add_ok(o, "a", a, ga, 1);
	add_ok(o, "b", b, gb, 1);
	ck_assert(fabs(kcv_optim_grad_norm(o) - 5.0) < 1e-12);
	kcv_optim_report rep;
	step_ok(o, &rep);
	ck_assert(fabs(rep.grad_norm - 5.0) < 1e-12);
	ck_assert(fabs(rep.clip_scale - 0.2) < 1e-12);
	assert_close(a[0], -0.6, 1e-7, "a", 0);
	assert_close(b[0], -0.8, 1e-7, "b", 0);
	ck_assert(ga[0] == 3.0f && gb[0] == 4.0f); /* gradients left alone */
	kcv_optim_free(o);

	/* clipnorm above the norm: no scaling */
	a[0] = b[0] = 0;
	p.global_clipnorm = 10.0;
	o = optim_new_ok(&p, &lr1);
	add_ok(o, "a", a, ga, 1);
	add_ok(o, "b", b, gb, 1);
	step_ok(o, &rep);
	ck_assert(rep.clip_scale == 1.0);
	ck_assert(a[0] == -3.0f && b[0] == -4.0f);
	kcv_optim_free(o);

	/* clipnorm exactly the norm: scale 1 */
	p.global_clipnorm = 5.0;
	o = optim_new_ok(&p, &lr1);
	add_ok(o, "a", a, ga, 1);
	add_ok(o, "b", b, gb, 1);
	step_ok(o, &rep);
	ck_assert(rep.clip_scale == 1.0);
	kcv_optim_free(o);
}
END_TEST

START_TEST(test_nonfinite_gradient)
{
	float w[3] = {1, 2, 3}, g[3] = {1, NAN, 1};
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .momentum = 0.9};
	kcv_optim *o = optim_new_ok(&p, &constant_01);
	add_ok(o, "w", w, g, 3);
	kcv_error err;
	kcv_error_clear(&err);
	kcv_optim_report rep;
	ck_assert_int_eq(kcv_optim_step(o, &rep, &err), KCV_ERR_INVALID);
	ck_assert(isnan(rep.grad_norm));
	ck_assert_ptr_nonnull(strstr(err.text, "gradient norm is nan"));
	ck_assert(w[0] == 1 && w[1] == 2 && w[2] == 3);
	ck_assert_int_eq(kcv_optim_step_count(o), 0);
	g[1] = INFINITY;
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_optim_step(o, NULL, &err), KCV_ERR_INVALID);
	g[1] = 1;
	step_ok(o, NULL);
	ck_assert_int_eq(kcv_optim_step_count(o), 1);
	kcv_optim_free(o);
}
END_TEST

/* ---- learning rate ----------------------------------------------------------------- */

START_TEST(test_lr_scale)
{
	float w = 0, g = 1;
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD};
	kcv_optim *o = optim_new_ok(&p, &constant_01);
	add_ok(o, "w", &w, &g, 1);
	ck_assert(kcv_optim_lr_scale(o) == 1.0);
	ck_assert(fabs(kcv_optim_lr(o) - 0.1) < 1e-15);
	kcv_optim_set_lr_scale(o, 0.1);
	ck_assert(fabs(kcv_optim_lr(o) - 0.01) < 1e-15);
	kcv_optim_report rep;
	step_ok(o, &rep);
	ck_assert(fabs(rep.lr - 0.01) < 1e-15);
	assert_close(w, -0.01, 1e-7, "w", 0);
	kcv_optim_set_lr_scale(o, -1.0); /* ignored */
	kcv_optim_set_lr_scale(o, NAN);  /* ignored */
	ck_assert(kcv_optim_lr_scale(o) == 0.1);
	kcv_optim_free(o);
}
END_TEST

START_TEST(test_schedule_constant)
{
	kcv_schedule s = {.kind = KCV_SCHEDULE_CONSTANT, .lr = 0.1};
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_OK);
	ck_assert(kcv_schedule_lr(&s, 0) == 0.1);
	ck_assert(kcv_schedule_lr(&s, 1000000) == 0.1);
	ck_assert(kcv_schedule_lr(&s, -5) == 0.1);
	ck_assert_str_eq(kcv_schedule_kind_name(KCV_SCHEDULE_CONSTANT), "constant");
	ck_assert_str_eq(kcv_schedule_kind_name(KCV_SCHEDULE_STEP), "step");
	ck_assert_str_eq(kcv_schedule_kind_name(KCV_SCHEDULE_COSINE), "cosine");
	ck_assert_ptr_null(kcv_schedule_kind_name((kcv_schedule_kind)7));
}
END_TEST

START_TEST(test_schedule_step)
{
	/* Keras PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1]) */
	kcv_schedule s = {.kind = KCV_SCHEDULE_STEP,
	                  .n_boundaries = 2,
	                  .boundaries = {100, 200},
	                  .values = {1.0, 0.5, 0.1}};
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_OK);
	ck_assert(kcv_schedule_lr(&s, 0) == 1.0);
	ck_assert(kcv_schedule_lr(&s, 100) == 1.0); /* step <= boundary */
	ck_assert(kcv_schedule_lr(&s, 101) == 0.5);
	ck_assert(kcv_schedule_lr(&s, 200) == 0.5);
	ck_assert(kcv_schedule_lr(&s, 201) == 0.1);
	ck_assert(kcv_schedule_lr(&s, 1 << 30) == 0.1);
	s.n_boundaries = 0;
	ck_assert(kcv_schedule_lr(&s, 500) == 1.0);
}
END_TEST

START_TEST(test_schedule_cosine)
{
	/* Keras CosineDecay(1.0, decay_steps=100, alpha=0.1) */
	kcv_schedule s = {.kind = KCV_SCHEDULE_COSINE, .lr = 1.0, .decay_steps = 100, .alpha = 0.1};
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_OK);
	ck_assert(fabs(kcv_schedule_lr(&s, 0) - 1.0) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 50) - 0.55) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 100) - 0.1) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 1000) - 0.1) < 1e-15);
	/* 25%: 0.9 * 0.5 * (1 + cos(pi/4)) + 0.1 */
	ck_assert(fabs(kcv_schedule_lr(&s, 25) - (0.45 * (1 + sqrt(0.5)) + 0.1)) < 1e-15);
	s.alpha = 0.0;
	ck_assert(fabs(kcv_schedule_lr(&s, 100)) < 1e-15);
}
END_TEST

START_TEST(test_schedule_warmup)
{
	/* 10 warm-up steps from 0.01 to 1.0, then cosine over 100 steps to 0 */
	kcv_schedule s = {.kind = KCV_SCHEDULE_COSINE, .lr = 1.0, .decay_steps = 100,
	                  .warmup_steps = 10, .warmup_lr_start = 0.01};
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_OK);
	ck_assert(fabs(kcv_schedule_lr(&s, 0) - 0.01) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 5) - 0.505) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 9) - (0.01 + 0.99 * 0.9)) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 10) - 1.0) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 60) - 0.5) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&s, 110)) < 1e-15);
	/* warm-up in front of a step schedule targets values[0]; boundaries
	 * count from the end of the warm-up */
	kcv_schedule st = {.kind = KCV_SCHEDULE_STEP,
	                   .n_boundaries = 1,
	                   .boundaries = {5},
	                   .values = {0.2, 0.02},
	                   .warmup_steps = 4,
	                   .warmup_lr_start = 0.0};
	ck_assert(fabs(kcv_schedule_lr(&st, 0)) < 1e-15);
	ck_assert(fabs(kcv_schedule_lr(&st, 2) - 0.1) < 1e-15);
	ck_assert(kcv_schedule_lr(&st, 4) == 0.2);
	ck_assert(kcv_schedule_lr(&st, 9) == 0.2);
	ck_assert(kcv_schedule_lr(&st, 10) == 0.02);
}
END_TEST

START_TEST(test_schedule_check)
{
	kcv_error err;
	kcv_schedule s = {.kind = KCV_SCHEDULE_STEP, .n_boundaries = 2, .boundaries = {5, 5},
	                  .values = {1, 1, 1}};
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_schedule_check(&s, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "strictly increasing"));
	s.n_boundaries = KCV_SCHEDULE_MAX_BOUNDARIES + 1;
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_ERR_INVALID);
	s = (kcv_schedule){.kind = KCV_SCHEDULE_STEP, .n_boundaries = 1, .boundaries = {3},
	                   .values = {1, NAN}};
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_ERR_INVALID);
	s = (kcv_schedule){.kind = KCV_SCHEDULE_COSINE, .lr = 1, .decay_steps = 0};
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_schedule_check(&s, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "decay_steps"));
	s.decay_steps = 10;
	s.alpha = 1.5;
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_ERR_INVALID);
	s.alpha = 0;
	s.warmup_steps = -1;
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_ERR_INVALID);
	s = (kcv_schedule){.kind = KCV_SCHEDULE_CONSTANT, .lr = -0.1};
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_ERR_INVALID);
	s = (kcv_schedule){.kind = (kcv_schedule_kind)9};
	ck_assert_int_eq(kcv_schedule_check(&s, NULL), KCV_ERR_INVALID);
	ck_assert_int_eq(kcv_schedule_check(NULL, NULL), KCV_ERR_INVALID);
}
END_TEST

/* ---- creation errors ------------------------------------------------------------- */

START_TEST(test_param_errors)
{
	kcv_error err;
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .nesterov = 1};
	kcv_error_clear(&err);
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, &err));
	ck_assert_ptr_nonnull(strstr(err.text, "nesterov"));
	p = (kcv_optim_params){.kind = KCV_OPTIM_SGD, .momentum = 1.0};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	p = (kcv_optim_params){.kind = KCV_OPTIM_SGD, .weight_decay = -1};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	p = (kcv_optim_params){.kind = KCV_OPTIM_SGD, .global_clipnorm = -1};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	p = (kcv_optim_params){.kind = KCV_OPTIM_ADAMW, .beta1 = 1.0};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	p = (kcv_optim_params){.kind = KCV_OPTIM_ADAMW, .beta2 = -0.5};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	p = (kcv_optim_params){.kind = KCV_OPTIM_ADAMW, .eps = -1};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	p = (kcv_optim_params){.kind = KCV_OPTIM_ADAMW, .momentum = 0.9};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	p = (kcv_optim_params){.kind = (kcv_optim_kind)5};
	ck_assert_ptr_null(kcv_optim_new(&p, &constant_01, NULL));
	ck_assert_ptr_null(kcv_optim_new(NULL, &constant_01, NULL));
	kcv_schedule bad = {.kind = KCV_SCHEDULE_COSINE, .lr = 1};
	p = (kcv_optim_params){.kind = KCV_OPTIM_SGD};
	ck_assert_ptr_null(kcv_optim_new(&p, &bad, NULL));

	kcv_optim *o = optim_new_ok(&p, &constant_01);
	float w[2], g[2];
	add_ok(o, "w", w, g, 2);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_optim_add_param(o, "w", w, g, 2, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "parameter w: registered twice"));
	ck_assert_int_eq(kcv_optim_add_param(o, "x", w, g, 0, NULL), KCV_ERR_INVALID);
	ck_assert_int_eq(kcv_optim_add_param(o, "x", NULL, g, 2, NULL), KCV_ERR_INVALID);
	ck_assert_int_eq(kcv_optim_add_param(o, "", w, g, 2, NULL), KCV_ERR_INVALID);
	kcv_optim_slot slot;
	ck_assert_int_eq(kcv_optim_slot_at(o, 0, &slot), KCV_ERR_INVALID); /* no state */
	float w3[3], g3[3];
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_optim_set_buffers(o, "w", w3, g3, 3, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "parameter w: registered with 2 floats"));
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_optim_set_buffers(o, "v", w3, g3, 2, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "parameter v: not registered"));
	ck_assert_int_eq(kcv_optim_set_buffers(o, "w", NULL, g3, 2, NULL), KCV_ERR_INVALID);
	kcv_optim_free(o);
	kcv_optim_free(NULL);
}
END_TEST

/* ---- state save / restore ------------------------------------------------------ */

static void tmp_path(char *dir, size_t dsize, char *file, size_t fsize)
{
	const char *base = getenv("TMPDIR");
	snprintf(dir, dsize, "%s/kcv-optim-XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, fsize, "%s/state.safetensors", dir);
}

/* 6 steps straight through equal 3 steps, save, restore into a new optimiser,
 * 3 more steps, bit for bit. */
static void check_resume(const kcv_optim_params *p)
{
	enum { N = 29 };
	float w1[N], w2[N], g[N];
	kcv_rng rng;
	kcv_rng_seed(&rng, 7, 0, 0, 0);
	for (int i = 0; i < N; i++)
		w1[i] = w2[i] = (float)kcv_rng_range(&rng, -1, 1);
	float grads[6][N];
	for (int s = 0; s < 6; s++)
		for (int i = 0; i < N; i++)
			grads[s][i] = (float)kcv_rng_normal(&rng);
	kcv_schedule sched = {.kind = KCV_SCHEDULE_COSINE, .lr = 0.05, .decay_steps = 5,
	                      .warmup_steps = 2, .warmup_lr_start = 0.001};

	kcv_optim *a = optim_new_ok(p, &sched);
	add_ok(a, "layer.w", w1, g, N);
	kcv_optim_set_lr_scale(a, 0.5);
	for (int s = 0; s < 6; s++) {
		memcpy(g, grads[s], sizeof(g));
		step_ok(a, NULL);
	}
	kcv_optim_free(a);

	char dir[600], file[700];
	tmp_path(dir, sizeof(dir), file, sizeof(file));
	kcv_error err;
	kcv_error_clear(&err);
	kcv_optim *b = optim_new_ok(p, &sched);
	add_ok(b, "layer.w", w2, g, N);
	kcv_optim_set_lr_scale(b, 0.5);
	for (int s = 0; s < 3; s++) {
		memcpy(g, grads[s], sizeof(g));
		step_ok(b, NULL);
	}
	kcv_weights_writer *wr = kcv_weights_writer_new(&err);
	ck_assert_int_eq(kcv_optim_state_save(b, wr, "optim.", &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_save(wr, file, &err), KCV_OK);
	kcv_weights_writer_free(wr);
	kcv_optim_free(b);

	kcv_optim *c = optim_new_ok(p, &sched);
	add_ok(c, "layer.w", w2, g, N);
	kcv_weights *wf = kcv_weights_open(file, &err);
	ck_assert_msg(wf != NULL, "%s", err.text);
	ck_assert_str_eq(kcv_weights_metadata(wf, "optim.step"), "3");
	ck_assert_int_eq(kcv_optim_state_load(c, wf, "optim.", &err), KCV_OK);
	ck_assert_int_eq(kcv_optim_step_count(c), 3);
	ck_assert(kcv_optim_lr_scale(c) == 0.5);
	/* a different prefix is missing: error names the file */
	kcv_optim *d = optim_new_ok(p, &sched);
	add_ok(d, "layer.w", w2, g, N);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_optim_state_load(d, wf, "other.", &err), KCV_ERR_INVALID);
	ck_assert_str_eq(err.source, file);
	kcv_optim_free(d);
	kcv_weights_free(wf);
	for (int s = 3; s < 6; s++) {
		memcpy(g, grads[s], sizeof(g));
		step_ok(c, NULL);
	}
	kcv_optim_free(c);
	ck_assert_int_eq(memcmp(w1, w2, sizeof(w1)), 0);
	unlink(file);
	rmdir(dir);
}

START_TEST(test_state_resume)
{
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .momentum = 0.9, .nesterov = 1};
	check_resume(&p);
	p = (kcv_optim_params){.kind = KCV_OPTIM_ADAMW, .weight_decay = 0.01,
	                       .global_clipnorm = 2.0};
	check_resume(&p);
	p = (kcv_optim_params){.kind = KCV_OPTIM_SGD};
	check_resume(&p);
}
END_TEST

START_TEST(test_state_load_errors)
{
	char dir[600], file[700];
	tmp_path(dir, sizeof(dir), file, sizeof(file));
	float w[4] = {0}, g[4] = {0}, other[3] = {0};
	kcv_optim_params p = {.kind = KCV_OPTIM_SGD, .momentum = 0.5};
	kcv_error err;
	kcv_error_clear(&err);
	/* wrong element count */
	kcv_weights_writer *wr = kcv_weights_writer_new(&err);
	int64_t d = 3;
	ck_assert_int_eq(kcv_weights_writer_add(wr, "w/momentum", other, 1, &d, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_set_metadata(wr, "step", "12", &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_save(wr, file, &err), KCV_OK);
	kcv_weights_writer_free(wr);
	kcv_optim *o = optim_new_ok(&p, &constant_01);
	add_ok(o, "w", w, g, 4);
	kcv_weights *wf = kcv_weights_open(file, &err);
	ck_assert_ptr_nonnull(wf);
	ck_assert_int_eq(kcv_optim_state_load(o, wf, NULL, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "tensor w/momentum: the file has 3 elements"));
	kcv_weights_free(wf);

	/* bad step metadata */
	wr = kcv_weights_writer_new(&err);
	ck_assert_int_eq(kcv_weights_writer_set_metadata(wr, "step", "x1", &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_save(wr, file, &err), KCV_OK);
	kcv_weights_writer_free(wr);
	wf = kcv_weights_open(file, &err);
	ck_assert_ptr_nonnull(wf);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_optim_state_load(o, wf, NULL, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "\"step\" is not an integer"));
	kcv_weights_free(wf);
	kcv_optim_free(o);
	unlink(file);
	rmdir(dir);
}
END_TEST

/* ---- PyTorch oracle ------------------------------------------------------------- */

static const char torch_script[] =
	"import struct, sys, torch\n"
	"d, sizes, steps = sys.argv[1], [int(x) for x in sys.argv[2].split(',')], "
	"int(sys.argv[3])\n"
	"n = sum(sizes)\n"
	"raw = open(d + '/in.bin', 'rb').read()\n"
	"vals = list(struct.unpack('<%df' % (n * (steps + 1)), raw))\n"
	"def split(flat):\n"
	"    out, o = [], 0\n"
	"    for s in sizes:\n"
	"        out.append(torch.tensor(flat[o:o + s], dtype=torch.float32)); o += s\n"
	"    return out\n"
	"init = split(vals[:n])\n"
	"grads = [split(vals[n * (k + 1):n * (k + 2)]) for k in range(steps)]\n"
	"cfgs = {\n"
	"  'sgd': lambda ps: torch.optim.SGD(ps, lr=0.1),\n"
	"  'sgd_momentum': lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),\n"
	"  'sgd_nesterov': lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),\n"
	"  'sgd_wd': lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),\n"
	"  'adamw': lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.05),\n"
	"  'adamw_betas': lambda ps: torch.optim.AdamW(ps, lr=0.003, betas=(0.8, 0.99), "
	"eps=1e-6, weight_decay=0.0),\n"
	"}\n"
	"for name, make in cfgs.items():\n"
	"    ps = [torch.nn.Parameter(t.clone()) for t in init]\n"
	"    opt = make(ps)\n"
	"    for k in range(steps):\n"
	"        for p, g in zip(ps, grads[k]):\n"
	"            p.grad = g.clone()\n"
	"        opt.step()\n"
	"    flat = torch.cat([p.detach().flatten() for p in ps]).tolist()\n"
	"    with open(d + '/' + name + '.bin', 'wb') as f:\n"
	"        f.write(struct.pack('<%df' % n, *flat))\n";

typedef struct torch_case {
	const char *name;
	kcv_optim_params p;
	double lr;
} torch_case;

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_torch_oracle)
{
	if (access(PYTHON, X_OK) != 0 ||
	    system(PYTHON " -c 'import torch' >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP test_torch_oracle: %s cannot import torch "
		                "(apt install python3-torch to run it)\n",
		        PYTHON);
		return;
	}
	enum { STEPS = 5 };
	static const size_t psizes[3] = {1003, 64, 7};
	const size_t n = psizes[0] + psizes[1] + psizes[2];
	float *in = malloc((STEPS + 1) * n * sizeof(float));
	kcv_rng rng;
	kcv_rng_seed(&rng, 2024, 0, 0, 0);
	for (size_t i = 0; i < n; i++)
		in[i] = (float)kcv_rng_range(&rng, -1, 1);
	for (size_t i = n; i < (STEPS + 1) * n; i++)
		in[i] = (float)(kcv_rng_normal(&rng) * 0.5);

	char dir[600], path[800], cmd[2600];
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/kcv-torch-XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/in.bin", dir);
	write_file(path, in, (STEPS + 1) * n * sizeof(float));
	snprintf(path, sizeof(path), "%s/oracle.py", dir);
	write_file(path, torch_script, strlen(torch_script));
	snprintf(cmd, sizeof(cmd), "%s '%s' '%s' %zu,%zu,%zu %d", PYTHON, path, dir, psizes[0],
	         psizes[1], psizes[2], STEPS);
	ck_assert_int_eq(system(cmd), 0);

	const torch_case cases[] = {
		{"sgd", {.kind = KCV_OPTIM_SGD}, 0.1},
		{"sgd_momentum", {.kind = KCV_OPTIM_SGD, .momentum = 0.9}, 0.1},
		{"sgd_nesterov", {.kind = KCV_OPTIM_SGD, .momentum = 0.9, .nesterov = 1}, 0.1},
		{"sgd_wd", {.kind = KCV_OPTIM_SGD, .momentum = 0.9, .weight_decay = 0.01}, 0.05},
		{"adamw", {.kind = KCV_OPTIM_ADAMW, .weight_decay = 0.05}, 0.01},
		{"adamw_betas", {.kind = KCV_OPTIM_ADAMW, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6},
		 0.003},
	};
	float *w = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
	float *want = malloc(n * sizeof(float));
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		kcv_schedule s = {.kind = KCV_SCHEDULE_CONSTANT, .lr = cases[c].lr};
		kcv_optim *o = optim_new_ok(&cases[c].p, &s);
		memcpy(w, in, n * sizeof(float));
		size_t off = 0;
		for (int k = 0; k < 3; k++) {
			char name[16];
			snprintf(name, sizeof(name), "p%d", k);
			add_ok(o, name, w + off, g + off, psizes[k]);
			off += psizes[k];
		}
		for (int k = 0; k < STEPS; k++) {
			memcpy(g, in + (size_t)(k + 1) * n, n * sizeof(float));
			step_ok(o, NULL);
		}
		kcv_optim_free(o);
		snprintf(path, sizeof(path), "%s/%s.bin", dir, cases[c].name);
		FILE *f = fopen(path, "rb");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fread(want, sizeof(float), n, f), n);
		fclose(f);
		unlink(path);
		/* relative 1e-6 of max(|w|, max over the initial |w| = ~1) */
		double worst = 0.0;
		for (size_t i = 0; i < n; i++) {
			double scale = fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0;
			double e = fabs((double)w[i] - (double)want[i]) / scale;
			if (e > worst)
				worst = e;
			ck_assert_msg(e <= 1e-6, "%s: w[%zu] = %.9g, torch %.9g", cases[c].name, i,
			              (double)w[i], (double)want[i]);
		}
		fprintf(stderr, "torch oracle %s: worst relative difference %.3g\n", cases[c].name,
		        worst);
	}
	snprintf(path, sizeof(path), "%s/in.bin", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/oracle.py", dir);
	unlink(path);
	rmdir(dir);
	free(in);
	free(w);
	free(g);
	free(want);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------ */

static Suite *optim_suite(void)
{
	Suite *s = suite_create("optim");
	TCase *tc = tcase_create("hand");
	tcase_add_test(tc, test_sgd_momentum_hand);
	tcase_add_test(tc, test_sgd_nesterov_hand);
	tcase_add_test(tc, test_sgd_weight_decay_hand);
	tcase_add_test(tc, test_adamw_hand);
	suite_add_tcase(s, tc);

	tc = tcase_create("reference");
	tcase_add_test(tc, test_sgd_reference);
	tcase_add_test(tc, test_adamw_reference);
	tcase_add_test(tc, test_clipnorm_reference);
	suite_add_tcase(s, tc);

	tc = tcase_create("clipnorm");
	tcase_add_test(tc, test_clipnorm_scale);
	tcase_add_test(tc, test_nonfinite_gradient);
	suite_add_tcase(s, tc);

	tc = tcase_create("schedule");
	tcase_add_test(tc, test_lr_scale);
	tcase_add_test(tc, test_schedule_constant);
	tcase_add_test(tc, test_schedule_step);
	tcase_add_test(tc, test_schedule_cosine);
	tcase_add_test(tc, test_schedule_warmup);
	tcase_add_test(tc, test_schedule_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("params");
	tcase_add_test(tc, test_param_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("state");
	tcase_add_test(tc, test_state_resume);
	tcase_add_test(tc, test_state_load_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("torch");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_torch_oracle);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(optim_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
