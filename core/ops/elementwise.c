/* Binary elementwise ops with numpy broadcasting: add, sub, mul, div,
 * maximum. The broadcasting itself (iteration, summing gradients over the
 * broadcast axes) is in broadcast.c; this file holds the formulas. */
#include "defs-impl.h"
#include "kernel-impl.h"

static inline float f_add(const float *d, size_t i, float a, float b)
{
	return a + b;
}
static inline float f_sub(const float *d, size_t i, float a, float b)
{
	return a - b;
}
static inline float f_mul(const float *d, size_t i, float a, float b)
{
	return a * b;
}
static inline float f_div(const float *d, size_t i, float a, float b)
{
	return a / b;
}
static inline float f_max(const float *d, size_t i, float a, float b)
{
	return a >= b ? a : b;
}
KCV_BCAST_ROW(add_row, f_add)
KCV_BCAST_ROW(sub_row, f_sub)
KCV_BCAST_ROW(mul_row, f_mul)
KCV_BCAST_ROW(div_row, f_div)
KCV_BCAST_ROW(max_row, f_max)

/* d(a*b)/da = b, d(a*b)/db = a */
static inline float g_mul_a(const float *d, size_t i, float a, float b)
{
	return d[i] * b;
}
static inline float g_mul_b(const float *d, size_t i, float a, float b)
{
	return d[i] * a;
}
/* d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 */
static inline float g_div_a(const float *d, size_t i, float a, float b)
{
	return d[i] / b;
}
static inline float g_div_b(const float *d, size_t i, float a, float b)
{
	return -d[i] * (a / b) / b;
}
/* maximum: the larger input gets the gradient; a tie splits it (as torch) */
static inline float g_max_a(const float *d, size_t i, float a, float b)
{
	return a > b ? d[i] : a == b ? 0.5f * d[i] : 0.0f;
}
static inline float g_max_b(const float *d, size_t i, float a, float b)
{
	return b > a ? d[i] : a == b ? 0.5f * d[i] : 0.0f;
}
KCV_BCAST_ROW(mul_grad_a, g_mul_a)
KCV_BCAST_ROW(mul_grad_b, g_mul_b)
KCV_BCAST_ROW(div_grad_a, g_div_a)
KCV_BCAST_ROW(div_grad_b, g_div_b)
KCV_BCAST_ROW(max_grad_a, g_max_a)
KCV_BCAST_ROW(max_grad_b, g_max_b)

static const kcv_binary_def add_bin = {"add", add_row, {NULL, NULL}, {1.0f, 1.0f}};
static const kcv_binary_def sub_bin = {"sub", sub_row, {NULL, NULL}, {1.0f, -1.0f}};
static const kcv_binary_def mul_bin = {"mul", mul_row, {mul_grad_a, mul_grad_b}, {0, 0}};
static const kcv_binary_def div_bin = {"div", div_row, {div_grad_a, div_grad_b}, {0, 0}};
static const kcv_binary_def max_bin = {"maximum", max_row, {max_grad_a, max_grad_b}, {0, 0}};

KCV_BINARY_OP_DEF(add, add_bin, 0u);
KCV_BINARY_OP_DEF(sub, sub_bin, 0u);
KCV_BINARY_OP_DEF(mul, mul_bin, 3u);
KCV_BINARY_OP_DEF(div, div_bin, 3u);
KCV_BINARY_OP_DEF(maximum, max_bin, 3u);
