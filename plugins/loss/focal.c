/* focal_loss: the sigmoid focal loss of KerasCV's FocalLoss, summed over the
 * classes, one fused core op (kcv_op_focal_loss) for the A x C elements: its
 * forward and exact backward each make a single pass over the logits. */
#include <kcv/graph.h>
#include <kcv/plugin.h>

#include "losses-impl.h"

kcv_status focal_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                       kcv_node weights, kcv_node *out, kcv_error *err)
{
	const loss_priv *p = priv;
	kcv_status st = loss_check_inputs(p, g, pred, targets, weights, 0, err);
	if (st)
		return st;
	kcv_node per_anchor = kcv_op_focal_loss(g, pred, targets, &p->focal);
	return loss_finish(p, g, per_anchor, weights, out, err);
}
