/* The static graph: nodes, leaves, op creation with shape inference, and
 * accessors. Autodiff is in autodiff.c, memory planning in plan.c, running
 * in exec.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/image.h>

#include "graph-impl.h"
#include "util-impl.h"

kcv_graph *kcv_graph_new(const kcv_graph_params *params, kcv_error *err)
{
	kcv_graph *g = calloc(1, sizeof(*g));
	if (!g) {
		KCV_ERROR(err, KCV_ERR_NOMEM, "graph", NULL, "out of memory");
		return NULL;
	}
	g->threads = params && params->threads > 0 ? params->threads : kcv_cpu_count();
	g->pool = kcv_pool_new(g->threads);
	g->loss = -1;
	if (!g->pool) {
		KCV_ERROR(err, KCV_ERR_NOMEM, "graph", NULL, "cannot start %d threads", g->threads);
		free(g);
		return NULL;
	}
	return g;
}

void kcv_graph_free(kcv_graph *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		free(g->nodes[i].name);
	free(g->nodes);
	free(g->bsteps);
	free(g->stores);
	kcv_aligned_free(g->arena);
	kcv_aligned_free(g->persistent);
	kcv_aligned_free(g->scratch);
	kcv_pool_free(g->pool);
	kcv_bf16_free(g->bf16);
	free(g->prof_node);
	free(g);
}

kcv_status kcv_graph_status(const kcv_graph *g, kcv_error *err)
{
	if (g->err.code && err && !err->code)
		*err = g->err;
	return g->err.code;
}

int kcv_graph_threads(const kcv_graph *g)
{
	return g->threads;
}

kcv_node kcv_graph_fail(kcv_graph *g, const char *fmt, ...)
{
	if (g->err.code)
		return -1;
	char text[sizeof(g->err.text)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	KCV_ERROR(&g->err, KCV_ERR_INVALID, "graph", NULL, "%s", text);
	return -1;
}

static kcv_node new_node(kcv_graph *g, node_kind kind, const char *name, kcv_shape shape)
{
	if (g->err.code)
		return -1;
	if (g->compiled)
		return kcv_graph_fail(g, "the graph is compiled: no more nodes");
	if (shape.rank < 1 || shape.rank > KCV_MAX_DIMS)
		return kcv_graph_fail(g, "%s: rank %d is not in [1, %d]", name ? name : "node",
		                      shape.rank, KCV_MAX_DIMS);
	for (int i = 0; i < shape.rank; i++)
		if (shape.d[i] <= 0) {
			char buf[128];
			return kcv_graph_fail(g, "%s: shape %s has an empty dimension",
			                      name ? name : "node", kcv_shape_format(&shape, buf, sizeof(buf)));
		}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		gnode *nn = realloc(g->nodes, cap * sizeof(gnode));
		if (!nn)
			return kcv_graph_fail(g, "out of memory");
		g->nodes = nn;
		g->cap = cap;
	}
	gnode *n = &g->nodes[g->n];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->shape = shape;
	n->storage = -1;
	n->grad_storage = -1;
	if (name) {
		n->name = kcv_strdup(name);
		if (!n->name)
			return kcv_graph_fail(g, "out of memory");
	}
	return (kcv_node)g->n++;
}

kcv_node kcv_graph_input(kcv_graph *g, const char *name, kcv_shape shape)
{
	return new_node(g, NODE_INPUT, name, shape);
}

kcv_node kcv_graph_param(kcv_graph *g, const char *name, kcv_shape shape, unsigned flags)
{
	kcv_node id = new_node(g, NODE_PARAM, name, shape);
	if (id >= 0) {
		g->nodes[id].trainable = (flags & KCV_PARAM_TRAINABLE) != 0;
		g->nodes[id].requires_grad = g->nodes[id].trainable;
	}
	return id;
}

kcv_node kcv_graph_add_op(kcv_graph *g, kcv_op op, int n_in, const kcv_node *in,
                          const void *params, size_t params_size)
{
	const kcv_op_def *def = kcv_op_get(op);
	if (g->err.code)
		return -1;
	if (!def)
		return kcv_graph_fail(g, "op %d is not implemented", (int)op);
	if (n_in < def->min_in || n_in > def->max_in)
		return kcv_graph_fail(g, "%s takes %d to %d inputs, got %d", def->name, def->min_in,
		                      def->max_in, n_in);
	KCV_ASSERT(params_size <= KCV_OP_PARAMS_SIZE);
	kcv_shape shapes[KCV_OP_MAX_IN];
	int requires = 0;
	for (int i = 0; i < n_in; i++) {
		if (in[i] < 0 || (size_t)in[i] >= g->n)
			return kcv_graph_fail(g, "%s: input %d is not a node of this graph (%d)",
			                      def->name, i, (int)in[i]);
		shapes[i] = g->nodes[in[i]].shape;
		requires |= g->nodes[in[i]].requires_grad;
	}
	kcv_shape out = {0};
	char msg[512] = "";
	if (def->infer(shapes, n_in, params, &out, msg, sizeof(msg)) != KCV_OK)
		return kcv_graph_fail(g, "%s", msg[0] ? msg : def->name);
	kcv_node id = new_node(g, NODE_OP, def->name, out);
	if (id < 0)
		return -1;
	gnode *n = &g->nodes[id];
	n->op = op;
	n->n_in = n_in;
	memcpy(n->in, in, (size_t)n_in * sizeof(kcv_node));
	if (params && params_size)
		memcpy(n->params, params, params_size);
	n->requires_grad = requires && !(def->flags & KCV_OPF_NO_BACKWARD);
	return id;
}

kcv_status kcv_graph_mark_output(kcv_graph *g, kcv_node x)
{
	if (x < 0 || (size_t)x >= g->n)
		return kcv_graph_fail(g, "mark_output: %d is not a node", (int)x) < 0 ? KCV_ERR_INVALID
		                                                                       : KCV_OK;
	g->nodes[x].is_output = 1;
	return KCV_OK;
}

static gnode *node_at(const kcv_graph *g, kcv_node x)
{
	return x >= 0 && (size_t)x < g->n ? &g->nodes[x] : NULL;
}

float *kcv_graph_data(kcv_graph *g, kcv_node x)
{
	gnode *n = node_at(g, x);
	return n && g->compiled ? n->data : NULL;
}

float *kcv_graph_grad(kcv_graph *g, kcv_node param)
{
	gnode *n = node_at(g, param);
	return n && g->compiled ? n->grad : NULL;
}

kcv_shape kcv_graph_shape(const kcv_graph *g, kcv_node x)
{
	gnode *n = node_at(g, x);
	kcv_shape s = {0};
	return n ? n->shape : s;
}

const char *kcv_graph_name(const kcv_graph *g, kcv_node x)
{
	gnode *n = node_at(g, x);
	return n ? n->name : NULL;
}

kcv_node kcv_graph_param_at(const kcv_graph *g, size_t i)
{
	for (size_t k = 0; k < g->n; k++)
		if (g->nodes[k].kind == NODE_PARAM && i-- == 0)
			return (kcv_node)k;
	return -1;
}

int kcv_graph_param_trainable(const kcv_graph *g, kcv_node param)
{
	gnode *n = node_at(g, param);
	return n && n->kind == NODE_PARAM && n->trainable;
}

kcv_node kcv_graph_find(const kcv_graph *g, const char *name)
{
	for (size_t k = 0; k < g->n; k++)
		if (g->nodes[k].kind != NODE_OP && g->nodes[k].name && strcmp(g->nodes[k].name, name) == 0)
			return (kcv_node)k;
	return -1;
}

size_t kcv_graph_arena_bytes(const kcv_graph *g)
{
	return g->arena_bytes;
}

size_t kcv_graph_persistent_bytes(const kcv_graph *g)
{
	return g->persistent_bytes;
}

static double node_flops(const kcv_graph *g, const gnode *n)
{
	const kcv_op_def *def = kcv_op_get(n->op);
	if (!def->flops)
		return 0;
	kcv_shape in[KCV_OP_MAX_IN];
	for (int i = 0; i < n->n_in; i++)
		in[i] = g->nodes[n->in[i]].shape;
	return def->flops(in, n->n_in, n->params, &n->shape);
}

double kcv_graph_forward_flops(const kcv_graph *g)
{
	double total = 0;
	for (size_t k = 0; k < g->n; k++)
		if (g->nodes[k].kind == NODE_OP)
			total += node_flops(g, &g->nodes[k]);
	return total;
}

double kcv_graph_backward_flops(const kcv_graph *g)
{
	double total = 0;
	for (size_t j = 0; j < g->n_bsteps; j++) {
		const gnode *n = &g->nodes[g->bsteps[j].node];
		int grads = 0; /* the gradients of the first two inputs (x, w) */
		for (int i = 0; i < n->n_in && i < 2; i++)
			grads += g->bsteps[j].mode[i] >= 0;
		total += grads * node_flops(g, n);
	}
	return total;
}
