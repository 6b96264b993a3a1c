/* The box regression losses, per anchor over its 4 deltas:
 *   smooth_l1_loss  KerasCV's SmoothL1Loss: 0.5 d^2 if |d| < cutoff else
 *                   |d| - 0.5, averaged (or summed) over the coordinates;
 *   l1_loss         torchvision RetinaNet v1: |d| summed (or averaged);
 *   giou_loss       torchvision RetinaNet v2: 1 - GIoU of the boxes the
 *                   predicted and target deltas decode to (one fused core op,
 *                   kcv_op_giou_loss, on a unit anchor). */
#include <kcv/graph.h>
#include <kcv/plugin.h>

#include "losses-impl.h"

static kcv_node reduce_k(const loss_priv *p, kcv_graph *g, kcv_node x)
{
	return p->reduction == LOSS_REDUCE_SUM ? kcv_op_sum(g, x, -1, 0) : kcv_op_mean(g, x, -1, 0);
}

kcv_status smooth_l1_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                           kcv_node weights, kcv_node *out, kcv_error *err)
{
	const loss_priv *p = priv;
	kcv_status st = loss_check_inputs(p, g, pred, targets, weights, 0, err);
	if (st)
		return st;
	kcv_node d = kcv_op_sub(g, targets, pred);
	kcv_node per_anchor = reduce_k(p, g, kcv_op_smooth_l1(g, d, p->cutoff));
	return loss_finish(p, g, per_anchor, weights, out, err);
}

kcv_status l1_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                    kcv_node weights, kcv_node *out, kcv_error *err)
{
	const loss_priv *p = priv;
	kcv_status st = loss_check_inputs(p, g, pred, targets, weights, 0, err);
	if (st)
		return st;
	kcv_node per_anchor = reduce_k(p, g, kcv_op_abs(g, kcv_op_sub(g, targets, pred)));
	return loss_finish(p, g, per_anchor, weights, out, err);
}

kcv_status giou_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                      kcv_node weights, kcv_node *out, kcv_error *err)
{
	const loss_priv *p = priv;
	kcv_status st = loss_check_inputs(p, g, pred, targets, weights, 4, err);
	if (st)
		return st;
	kcv_node per_anchor = kcv_op_giou_loss(g, pred, targets, &p->giou);
	return loss_finish(p, g, per_anchor, weights, out, err);
}
