/* Reverse-mode autodiff: which nodes need a gradient, and the order of the
 * backward steps. Gradients flow only to trainable parameters; a frozen part
 * of the graph gets no backward steps at all. */
#include <stdlib.h>
#include <string.h>

#include "graph-impl.h"

kcv_status kcv_graph_backward(kcv_graph *g, kcv_node loss, kcv_error *err)
{
	if (kcv_graph_status(g, err))
		return g->err.code;
	if (g->compiled || g->loss >= 0)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, "graph", NULL,
		                 "kcv_graph_backward must be called once, before compile");
	if (loss < 0 || (size_t)loss >= g->n)
		return KCV_ERROR(err, KCV_ERR_INVALID, "graph", NULL, "the loss is not a node");
	gnode *l = &g->nodes[loss];
	if (kcv_shape_numel(&l->shape) != 1)
		return KCV_ERROR(err, KCV_ERR_INVALID, "graph", NULL,
		                 "the loss must be a scalar (one value), not %lld values",
		                 (long long)kcv_shape_numel(&l->shape));
	if (!l->requires_grad)
		return KCV_ERROR(err, KCV_ERR_INVALID, "graph", NULL,
		                 "the loss does not depend on any trainable parameter");
	/* needs_grad: requires_grad and on a path to the loss */
	l->needs_grad = 1;
	size_t steps = 0;
	for (size_t k = (size_t)loss + 1; k-- > 0;) {
		gnode *n = &g->nodes[k];
		if (!n->needs_grad || n->kind != NODE_OP)
			continue;
		for (int i = 0; i < n->n_in; i++) {
			gnode *in = &g->nodes[n->in[i]];
			if (in->requires_grad)
				in->needs_grad = 1;
		}
		if (!(kcv_op_get(n->op)->flags & KCV_OPF_VIEW))
			steps++;
	}
	g->bsteps = calloc(steps ? steps : 1, sizeof(bstep));
	if (!g->bsteps)
		return KCV_ERROR(err, KCV_ERR_NOMEM, "graph", NULL, "out of memory");
	for (size_t k = (size_t)loss + 1; k-- > 0;) {
		gnode *n = &g->nodes[k];
		if (!n->needs_grad || n->kind != NODE_OP || (kcv_op_get(n->op)->flags & KCV_OPF_VIEW))
			continue;
		bstep *b = &g->bsteps[g->n_bsteps++];
		b->node = (kcv_node)k;
		for (int i = 0; i < KCV_OP_MAX_IN; i++)
			b->mode[i] = i < n->n_in && g->nodes[n->in[i]].needs_grad ? 0 : -1;
	}
	g->loss = loss;
	return KCV_OK;
}
