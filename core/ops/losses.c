/* Loss building blocks with broadcasting: bce_logits (binary cross-entropy
 * on logits, stable for any |x|) and div_no_nan (a / b, 0 where b == 0). */
#include <math.h>

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
