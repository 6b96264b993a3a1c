/* Private to the losses plugin: the state of its components and the graph
 * pieces they share. losses.c holds the descriptor, option tables and
 * create(); focal.c and box_losses.c build the graphs. */
#ifndef KCV_LOSSES_IMPL_H
#define KCV_LOSSES_IMPL_H

#include <kcv/graph.h>
#include <kcv/plugin.h>

/* Reductions over the K axis, in the order of the "reduction" choices. */
enum { LOSS_REDUCE_MEAN = 0, LOSS_REDUCE_SUM };

/* Box codings, in the order of the "box_coding" choices. */
enum { LOSS_CODING_TOP_LEFT = 0, LOSS_CODING_CENTER };

typedef struct loss_priv {
	const char *name;      /* the component, for messages */
	char path[256];        /* JSON path */
	char source[256];      /* pipeline file */
	kcv_focal_params focal; /* focal_loss */
	kcv_giou_params giou;  /* giou_loss */
	float cutoff;          /* smooth_l1_loss */
	int reduction;         /* smooth_l1_loss, l1_loss */
} loss_priv;

/* Check predictions [N,A,K] (K == k when k > 0), targets of the same shape
 * and weights [N,A]; an error names the component and the shapes. */
kcv_status loss_check_inputs(const loss_priv *p, kcv_graph *g, kcv_node pred, kcv_node targets,
                             kcv_node weights, int64_t k, kcv_error *err);
/* out[n] = sum_a weights[n,a] * per_anchor[n,a]; then the graph's status. */
kcv_status loss_finish(const loss_priv *p, kcv_graph *g, kcv_node per_anchor, kcv_node weights,
                       kcv_node *out, kcv_error *err);

kcv_status focal_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                       kcv_node weights, kcv_node *out, kcv_error *err);
kcv_status smooth_l1_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                           kcv_node weights, kcv_node *out, kcv_error *err);
kcv_status l1_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                    kcv_node weights, kcv_node *out, kcv_error *err);
kcv_status giou_build(void *priv, kcv_graph *g, kcv_node pred, kcv_node targets,
                      kcv_node weights, kcv_node *out, kcv_error *err);

#endif
