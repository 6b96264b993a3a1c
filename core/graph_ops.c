/* The public op constructors: check arguments, pack the op's parameters and
 * add the node (shapes are inferred by each op's own rule). */
#include <math.h>
#include <string.h>

#include "graph-impl.h"

static int resolve_axis(const kcv_graph *g, kcv_node x, int axis)
{
	if (x < 0 || (size_t)x >= g->n)
		return axis;
	int r = g->nodes[x].shape.rank;
	return axis < 0 ? axis + r : axis;
}

static kcv_node conv(kcv_graph *g, kcv_node x, kcv_node w, kcv_node b, kcv_node residual,
                     const kcv_conv2d_params *p)
{
	kcv_conv2d_params q = p ? *p : (kcv_conv2d_params){0};
	if (!q.stride_h)
		q.stride_h = 1;
	if (!q.stride_w)
		q.stride_w = 1;
	if (!q.dilation_h)
		q.dilation_h = 1;
	if (!q.dilation_w)
		q.dilation_w = 1;
	if (!q.groups)
		q.groups = 1;
	if (q.stride_h < 0 || q.stride_w < 0 || q.dilation_h < 0 || q.dilation_w < 0 ||
	    q.groups < 0 || q.pad_top < 0 || q.pad_bottom < 0 || q.pad_left < 0 || q.pad_right < 0)
		return kcv_graph_fail(g, "conv2d: negative stride, dilation, groups or padding");
	_Static_assert(sizeof(kcv_op_conv_params) <= KCV_OP_PARAMS_SIZE, "conv params too big");
	kcv_op_conv_params cp = {q, b >= 0, residual >= 0};
	kcv_node in[4] = {x, w};
	int n = 2;
	if (b >= 0)
		in[n++] = b;
	if (residual >= 0)
		in[n++] = residual;
	return kcv_graph_add_op(g, KCV_OP_CONV2D, n, in, &cp, sizeof(cp));
}

kcv_node kcv_op_conv2d(kcv_graph *g, kcv_node x, kcv_node w, kcv_node b,
                       const kcv_conv2d_params *p)
{
	return conv(g, x, w, b, -1, p);
}

kcv_node kcv_op_conv2d_residual(kcv_graph *g, kcv_node x, kcv_node w, kcv_node b,
                                kcv_node residual, const kcv_conv2d_params *p)
{
	if (residual < 0)
		return kcv_graph_fail(g, "conv2d_residual: no residual input");
	return conv(g, x, w, b, residual, p);
}

kcv_node kcv_op_batch_norm(kcv_graph *g, kcv_node x, kcv_node gamma, kcv_node beta,
                           kcv_node mean, kcv_node var, float eps, int training)
{
	kcv_op_norm_params q = {.eps = eps, .training = training};
	kcv_node in[5] = {x, gamma, beta, mean, var};
	return kcv_graph_add_op(g, KCV_OP_BATCH_NORM, 5, in, &q, sizeof(q));
}

kcv_node kcv_op_batch_norm_train(kcv_graph *g, kcv_node x, kcv_node gamma, kcv_node beta,
                                 kcv_node mean, kcv_node var, float eps, float momentum)
{
	if (!(momentum >= 0 && momentum <= 1))
		return kcv_graph_fail(g, "batch_norm: momentum must be in [0, 1], got %g",
		                      (double)momentum);
	kcv_op_norm_params q = {.eps = eps, .training = KCV_BN_FOLLOW, .momentum = momentum};
	kcv_node in[5] = {x, gamma, beta, mean, var};
	return kcv_graph_add_op(g, KCV_OP_BATCH_NORM, 5, in, &q, sizeof(q));
}

kcv_node kcv_op_group_norm(kcv_graph *g, kcv_node x, kcv_node gamma, kcv_node beta, int groups,
                           float eps)
{
	kcv_op_norm_params q = {.eps = eps, .groups = groups};
	kcv_node in[3] = {x, gamma, beta};
	return kcv_graph_add_op(g, KCV_OP_GROUP_NORM, 3, in, &q, sizeof(q));
}

kcv_node kcv_op_max_pool(kcv_graph *g, kcv_node x, int kernel, int stride, int pad)
{
	kcv_op_pool_params q = {kernel, stride, pad};
	return kcv_graph_add_op(g, KCV_OP_MAX_POOL, 1, &x, &q, sizeof(q));
}

kcv_node kcv_op_upsample_nearest(kcv_graph *g, kcv_node x, int out_h, int out_w)
{
	kcv_op_resize_params q = {out_h, out_w};
	return kcv_graph_add_op(g, KCV_OP_UPSAMPLE_NEAREST, 1, &x, &q, sizeof(q));
}

kcv_node kcv_op_concat(kcv_graph *g, int n, const kcv_node *xs, int axis)
{
	if (n < 1 || n > KCV_OP_MAX_IN)
		return kcv_graph_fail(g, "concat: %d inputs (1 to %d)", n, KCV_OP_MAX_IN);
	kcv_op_axis_params q = {.axis = resolve_axis(g, xs[0], axis)};
	return kcv_graph_add_op(g, KCV_OP_CONCAT, n, xs, &q, sizeof(q));
}

kcv_node kcv_op_reshape(kcv_graph *g, kcv_node x, int rank, const int64_t *dims)
{
	if (rank < 1 || rank > KCV_MAX_DIMS)
		return kcv_graph_fail(g, "reshape: rank %d is not in [1, %d]", rank, KCV_MAX_DIMS);
	kcv_shape target = kcv_shape_make(rank, dims);
	_Static_assert(sizeof(kcv_shape) <= KCV_OP_PARAMS_SIZE, "shape too big");
	return kcv_graph_add_op(g, KCV_OP_RESHAPE, 1, &x, &target, sizeof(target));
}

kcv_node kcv_op_transpose(kcv_graph *g, kcv_node x, int rank, const int *perm)
{
	if (rank < 1 || rank > KCV_MAX_DIMS)
		return kcv_graph_fail(g, "transpose: rank %d is not in [1, %d]", rank, KCV_MAX_DIMS);
	kcv_op_axis_params q = {.axis = rank};
	memcpy(q.perm, perm, (size_t)rank * sizeof(int));
	return kcv_graph_add_op(g, KCV_OP_TRANSPOSE, 1, &x, &q, sizeof(q));
}

kcv_node kcv_op_matmul(kcv_graph *g, kcv_node a, kcv_node b, int trans_a, int trans_b)
{
	kcv_op_axis_params q = {.trans_a = trans_a, .trans_b = trans_b};
	kcv_node in[2] = {a, b};
	return kcv_graph_add_op(g, KCV_OP_MATMUL, 2, in, &q, sizeof(q));
}

static kcv_node binary(kcv_graph *g, kcv_op op, kcv_node a, kcv_node b)
{
	kcv_node in[2] = {a, b};
	return kcv_graph_add_op(g, op, 2, in, NULL, 0);
}

kcv_node kcv_op_add(kcv_graph *g, kcv_node a, kcv_node b) { return binary(g, KCV_OP_ADD, a, b); }
kcv_node kcv_op_sub(kcv_graph *g, kcv_node a, kcv_node b) { return binary(g, KCV_OP_SUB, a, b); }
kcv_node kcv_op_mul(kcv_graph *g, kcv_node a, kcv_node b) { return binary(g, KCV_OP_MUL, a, b); }
kcv_node kcv_op_div(kcv_graph *g, kcv_node a, kcv_node b) { return binary(g, KCV_OP_DIV, a, b); }
kcv_node kcv_op_maximum(kcv_graph *g, kcv_node a, kcv_node b)
{
	return binary(g, KCV_OP_MAXIMUM, a, b);
}
kcv_node kcv_op_bce_logits(kcv_graph *g, kcv_node logits, kcv_node targets)
{
	return binary(g, KCV_OP_BCE_LOGITS, logits, targets);
}
kcv_node kcv_op_div_no_nan(kcv_graph *g, kcv_node a, kcv_node b)
{
	return binary(g, KCV_OP_DIV_NO_NAN, a, b);
}
kcv_node kcv_op_focal_loss(kcv_graph *g, kcv_node x, kcv_node targets, const kcv_focal_params *p)
{
	if (!p)
		return kcv_graph_fail(g, "focal_loss: no parameters");
	if (!(p->gamma >= 0) || !(p->label_smoothing >= 0 && p->label_smoothing <= 1) ||
	    !(p->alpha <= 1))
		return kcv_graph_fail(g, "focal_loss: needs gamma >= 0, alpha <= 1 and label_smoothing "
		                         "in [0, 1], got gamma %g, alpha %g, label_smoothing %g",
		                      (double)p->gamma, (double)p->alpha, (double)p->label_smoothing);
	_Static_assert(sizeof(kcv_focal_params) <= KCV_OP_PARAMS_SIZE, "focal params too big");
	kcv_node in[2] = {x, targets};
	return kcv_graph_add_op(g, KCV_OP_FOCAL_LOSS, 2, in, p, sizeof(*p));
}
kcv_node kcv_op_giou_loss(kcv_graph *g, kcv_node a, kcv_node b, const kcv_giou_params *p)
{
	kcv_giou_params q = p ? *p : (kcv_giou_params){0};
	if (q.input < KCV_GIOU_BOXES || q.input > KCV_GIOU_DELTAS_TOP_LEFT)
		return kcv_graph_fail(g, "giou_loss: unknown input kind %d", q.input);
	if (!(q.clamp >= 0))
		return kcv_graph_fail(g, "giou_loss: clamp must be >= 0, got %g", (double)q.clamp);
	for (int i = 0; i < 4; i++) {
		if (!isfinite(q.variance[i]))
			return kcv_graph_fail(g, "giou_loss: variance %d is not finite", i);
		if (q.variance[i] == 0)
			q.variance[i] = 1;
	}
	_Static_assert(sizeof(kcv_giou_params) <= KCV_OP_PARAMS_SIZE, "giou params too big");
	kcv_node in[2] = {a, b};
	return kcv_graph_add_op(g, KCV_OP_GIOU_LOSS, 2, in, &q, sizeof(q));
}
kcv_node kcv_op_gather_rows(kcv_graph *g, kcv_node x, kcv_node idx)
{
	return binary(g, KCV_OP_GATHER_ROWS, x, idx);
}

static kcv_node unary(kcv_graph *g, kcv_op op, kcv_node x, float a, float b)
{
	kcv_op_scalar_params q = {a, b};
	return kcv_graph_add_op(g, op, 1, &x, &q, sizeof(q));
}

kcv_node kcv_op_affine(kcv_graph *g, kcv_node x, float scale, float shift)
{
	return unary(g, KCV_OP_AFFINE, x, scale, shift);
}
kcv_node kcv_op_relu(kcv_graph *g, kcv_node x) { return unary(g, KCV_OP_RELU, x, 0, 0); }
kcv_node kcv_op_sigmoid(kcv_graph *g, kcv_node x) { return unary(g, KCV_OP_SIGMOID, x, 0, 0); }
kcv_node kcv_op_log_sigmoid(kcv_graph *g, kcv_node x)
{
	return unary(g, KCV_OP_LOG_SIGMOID, x, 0, 0);
}
kcv_node kcv_op_exp(kcv_graph *g, kcv_node x) { return unary(g, KCV_OP_EXP, x, 0, 0); }
kcv_node kcv_op_log(kcv_graph *g, kcv_node x) { return unary(g, KCV_OP_LOG, x, 0, 0); }
kcv_node kcv_op_abs(kcv_graph *g, kcv_node x) { return unary(g, KCV_OP_ABS, x, 0, 0); }
kcv_node kcv_op_square(kcv_graph *g, kcv_node x) { return unary(g, KCV_OP_SQUARE, x, 0, 0); }
kcv_node kcv_op_sqrt(kcv_graph *g, kcv_node x) { return unary(g, KCV_OP_SQRT, x, 0, 0); }
kcv_node kcv_op_pow(kcv_graph *g, kcv_node x, float gamma)
{
	if (!(gamma > 0))
		return kcv_graph_fail(g, "pow: gamma must be > 0, got %g", (double)gamma);
	return unary(g, KCV_OP_POW, x, gamma, 0);
}
kcv_node kcv_op_smooth_l1(kcv_graph *g, kcv_node d, float cutoff)
{
	if (!(cutoff > 0))
		return kcv_graph_fail(g, "smooth_l1: cutoff must be > 0, got %g", (double)cutoff);
	return unary(g, KCV_OP_SMOOTH_L1, d, cutoff, 0);
}
kcv_node kcv_op_stop_gradient(kcv_graph *g, kcv_node x)
{
	return unary(g, KCV_OP_STOP_GRADIENT, x, 0, 0);
}

static kcv_node reduce(kcv_graph *g, kcv_op op, kcv_node x, int axis, int keepdims)
{
	kcv_op_reduce_params q = {axis == KCV_AXIS_ALL ? KCV_AXIS_ALL : resolve_axis(g, x, axis),
	                          keepdims ? 1 : 0};
	return kcv_graph_add_op(g, op, 1, &x, &q, sizeof(q));
}

kcv_node kcv_op_sum(kcv_graph *g, kcv_node x, int axis, int keepdims)
{
	return reduce(g, KCV_OP_SUM, x, axis, keepdims);
}

kcv_node kcv_op_mean(kcv_graph *g, kcv_node x, int axis, int keepdims)
{
	return reduce(g, KCV_OP_MEAN, x, axis, keepdims);
}
