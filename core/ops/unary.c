/* Unary elementwise ops: affine, relu, sigmoid, log_sigmoid, exp, log, abs,
 * square, sqrt, pow, smooth_l1, stop_gradient. Backward reads the output
 * where that is enough (relu, sigmoid, log_sigmoid, exp, sqrt), so the
 * planner may free the input early. */
#include <math.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

typedef enum ukind {
	U_AFFINE,
	U_RELU,
	U_SIGMOID,
	U_LOG_SIGMOID,
	U_EXP,
	U_LOG,
	U_ABS,
	U_SQUARE,
	U_SQRT,
	U_POW,
	U_SMOOTH_L1,
	U_COPY
} ukind;

typedef struct ujob {
	ukind k;
	float a, b;        /* the scalar parameters */
	const float *x, *y; /* forward input and output (backward: as declared) */
	float *out;        /* forward: y; backward: dx */
	const float *dy;
	int acc;
} ujob;

static inline float sigmoid(float x)
{
	if (x >= 0)
		return 1.0f / (1.0f + expf(-x));
	float e = expf(x);
	return e / (1.0f + e);
}

static void forward_range(void *ctx, size_t lo, size_t hi)
{
	const ujob *j = ctx;
	const float *restrict x = j->x;
	float *restrict y = j->out;
	const float a = j->a, b = j->b;
	switch (j->k) {
	case U_AFFINE:
		for (size_t i = lo; i < hi; i++)
			y[i] = x[i] * a + b;
		break;
	case U_RELU:
		for (size_t i = lo; i < hi; i++)
			y[i] = x[i] > 0.0f ? x[i] : 0.0f;
		break;
	case U_SIGMOID:
		for (size_t i = lo; i < hi; i++)
			y[i] = sigmoid(x[i]);
		break;
	case U_LOG_SIGMOID: /* min(x,0) - log1p(exp(-|x|)) */
		for (size_t i = lo; i < hi; i++)
			y[i] = fminf(x[i], 0.0f) - log1pf(expf(-fabsf(x[i])));
		break;
	case U_EXP:
		for (size_t i = lo; i < hi; i++)
			y[i] = expf(x[i]);
		break;
	case U_LOG:
		for (size_t i = lo; i < hi; i++)
			y[i] = logf(x[i]);
		break;
	case U_ABS:
		for (size_t i = lo; i < hi; i++)
			y[i] = fabsf(x[i]);
		break;
	case U_SQUARE:
		for (size_t i = lo; i < hi; i++)
			y[i] = x[i] * x[i];
		break;
	case U_SQRT:
		for (size_t i = lo; i < hi; i++)
			y[i] = sqrtf(x[i]);
		break;
	case U_POW: /* x < 0 counts as 0 */
		for (size_t i = lo; i < hi; i++)
			y[i] = powf(fmaxf(x[i], 0.0f), a);
		break;
	case U_SMOOTH_L1: /* 0.5 d^2 if |d| < cutoff else |d| - 0.5 (KerasCV) */
		for (size_t i = lo; i < hi; i++) {
			float d = fabsf(x[i]);
			y[i] = d < a ? 0.5f * d * d : d - 0.5f;
		}
		break;
	case U_COPY:
		memcpy(y + lo, x + lo, (hi - lo) * sizeof(float));
		break;
	}
}

/* dx[i] = or += EXPR for i in [lo, hi) */
#define GRAD_LOOP(EXPR)                                                                  \
	do {                                                                                 \
		if (j->acc) {                                                                    \
			for (size_t i = lo; i < hi; i++)                                             \
				dx[i] += (EXPR);                                                         \
		} else {                                                                         \
			for (size_t i = lo; i < hi; i++)                                             \
				dx[i] = (EXPR);                                                          \
		}                                                                                \
	} while (0)

static inline float pow_grad(float x, float g)
{
	if (x > 0.0f)
		return g * powf(x, g - 1.0f);
	return g == 1.0f ? 1.0f : 0.0f;
}

/* Both operands are loaded unconditionally, so the loop vectorises to a
 * compare and a blend (a load inside the ?: kept it scalar). */
static inline float relu_grad(float y, float dy)
{
	return y > 0.0f ? dy : 0.0f;
}

static inline float smooth_l1_grad(float d, float cutoff)
{
	if (fabsf(d) < cutoff)
		return d;
	return d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f;
}

static void backward_range(void *ctx, size_t lo, size_t hi)
{
	const ujob *j = ctx;
	const float *restrict x = j->x, *restrict y = j->y, *restrict dy = j->dy;
	float *restrict dx = j->out;
	const float a = j->a;
	switch (j->k) {
	case U_AFFINE:
		GRAD_LOOP(dy[i] * a);
		break;
	case U_RELU:
		GRAD_LOOP(relu_grad(y[i], dy[i]));
		break;
	case U_SIGMOID:
		GRAD_LOOP(dy[i] * y[i] * (1.0f - y[i]));
		break;
	case U_LOG_SIGMOID: /* sigmoid(-x) = 1 - exp(y) */
		GRAD_LOOP(-dy[i] * expm1f(y[i]));
		break;
	case U_EXP:
		GRAD_LOOP(dy[i] * y[i]);
		break;
	case U_LOG:
		GRAD_LOOP(dy[i] / x[i]);
		break;
	case U_ABS:
		GRAD_LOOP(x[i] > 0.0f ? dy[i] : x[i] < 0.0f ? -dy[i] : 0.0f);
		break;
	case U_SQUARE:
		GRAD_LOOP(2.0f * x[i] * dy[i]);
		break;
	case U_SQRT: /* 0 at 0 rather than inf */
		GRAD_LOOP(y[i] > 0.0f ? 0.5f * dy[i] / y[i] : 0.0f);
		break;
	case U_POW:
		GRAD_LOOP(dy[i] * pow_grad(x[i], a));
		break;
	case U_SMOOTH_L1:
		GRAD_LOOP(dy[i] * smooth_l1_grad(x[i], a));
		break;
	case U_COPY:
		break;
	}
}

static void unary_forward(const kcv_op_call *c, ukind k)
{
	const kcv_op_scalar_params *p = c->params;
	ujob j = {k, p ? p->a : 0, p ? p->b : 0, c->in[0], NULL, c->out, NULL, 0};
	kcv_ops_parallel(c->pool, (size_t)kcv_shape_numel(&c->out_shape), KCV_GRAIN, forward_range,
	                 &j);
}

static void unary_backward(const kcv_op_grad_call *c, ukind k)
{
	if (!c->d_in[0])
		return;
	const kcv_op_scalar_params *p = c->fwd.params;
	ujob j = {k,        p ? p->a : 0, p ? p->b : 0, c->fwd.in[0], c->fwd.out, c->d_in[0],
	          c->d_out, c->accumulate[0]};
	kcv_ops_parallel(c->fwd.pool, (size_t)kcv_shape_numel(&c->fwd.out_shape), KCV_GRAIN,
	                 backward_range, &j);
}

static kcv_status same_shape(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                             char *msg, size_t msg_size)
{
	*out = in[0];
	return KCV_OK;
}

static double numel_flops(const kcv_shape *in, int n_in, const void *params,
                          const kcv_shape *out)
{
	return (double)kcv_shape_numel(out);
}

#define UNARY_DEF(id, kind, needs_in, needs_out)                                         \
	static void id##_forward(const kcv_op_call *c)                                       \
	{                                                                                    \
		unary_forward(c, kind);                                                          \
	}                                                                                    \
	static void id##_backward(const kcv_op_grad_call *c)                                 \
	{                                                                                    \
		unary_backward(c, kind);                                                         \
	}                                                                                    \
	const kcv_op_def kcv_op_def_##id = {                                                 \
		.name = #id,                                                                     \
		.min_in = 1,                                                                     \
		.max_in = 1,                                                                     \
		.bwd_needs_in = (needs_in),                                                      \
		.bwd_needs_out = (needs_out),                                                    \
		.infer = same_shape,                                                             \
		.flops = numel_flops,                                                            \
		.forward = id##_forward,                                                         \
		.backward = id##_backward,                                                       \
	}

UNARY_DEF(affine, U_AFFINE, 0u, 0);
UNARY_DEF(relu, U_RELU, 0u, 1);
UNARY_DEF(sigmoid, U_SIGMOID, 0u, 1);
UNARY_DEF(log_sigmoid, U_LOG_SIGMOID, 0u, 1);
UNARY_DEF(exp, U_EXP, 0u, 1);
UNARY_DEF(log, U_LOG, 1u, 0);
UNARY_DEF(abs, U_ABS, 1u, 0);
UNARY_DEF(square, U_SQUARE, 1u, 0);
UNARY_DEF(sqrt, U_SQRT, 0u, 1);
UNARY_DEF(pow, U_POW, 1u, 0);
UNARY_DEF(smooth_l1, U_SMOOTH_L1, 1u, 0);

/* stop_gradient: a copy that autodiff does not go through */
static void stop_gradient_forward(const kcv_op_call *c)
{
	unary_forward(c, U_COPY);
}
const kcv_op_def kcv_op_def_stop_gradient = {
	.name = "stop_gradient",
	.min_in = 1,
	.max_in = 1,
	.flags = KCV_OPF_NO_BACKWARD,
	.infer = same_shape,
	.forward = stop_gradient_forward,
};
