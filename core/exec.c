/* Running a compiled graph: the forward steps in creation order, the
 * backward steps in the order autodiff.c fixed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/image.h>

#include "graph-impl.h"
#include "util-impl.h"

kcv_status kcv_graph_compile(kcv_graph *g, kcv_error *err)
{
	if (kcv_graph_status(g, err))
		return g->err.code;
	if (g->compiled)
		return KCV_OK;
	kcv_status st = kcv_graph_plan(g, err);
	if (st)
		return st;
	g->compiled = 1;
	return KCV_OK;
}

static void fill_call(const kcv_graph *g, const gnode *nd, kcv_op_call *c)
{
	memset(c, 0, sizeof(*c));
	c->n_in = nd->n_in;
	for (int i = 0; i < nd->n_in; i++) {
		const gnode *in = &g->nodes[nd->in[i]];
		c->in[i] = in->data;
		c->in_shape[i] = in->shape;
	}
	c->out = nd->data;
	c->out_shape = nd->shape;
	c->params = nd->params;
	c->scratch = g->scratch;
	c->pool = g->pool;
	c->training = g->training;
	c->bf16 = g->bf16;
	c->node = (size_t)(nd - g->nodes);
}

/* Profiling: the time of one op run, by op kind and by node. */
static void record(kcv_graph *g, size_t node, int pass, double ms)
{
	kcv_op op = g->nodes[node].op;
	g->prof_ms[op][pass] += ms;
	g->prof_calls[op][pass]++;
	if (g->prof_node)
		g->prof_node[2 * node + (size_t)pass] += ms;
}

kcv_status kcv_graph_forward(kcv_graph *g, kcv_error *err)
{
	if (!g->compiled)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, "graph", NULL, "forward before compile");
	/* the ops split work over the pool; OpenBLAS runs inside their tasks */
	kcv_blas_set_threads(1);
	for (size_t k = 0; k < g->n; k++) {
		const gnode *nd = &g->nodes[k];
		if (nd->kind != NODE_OP)
			continue;
		const kcv_op_def *def = kcv_op_get(nd->op);
		if (def->flags & KCV_OPF_VIEW)
			continue;
		kcv_op_call c;
		fill_call(g, nd, &c);
		double t0 = g->profiling ? kcv_now() : 0;
		def->forward(&c);
		if (g->profiling)
			record(g, k, 0, 1e3 * (kcv_now() - t0));
	}
	g->ran_forward = 1;
	return KCV_OK;
}

kcv_status kcv_graph_run_backward(kcv_graph *g, kcv_error *err)
{
	if (!g->compiled || g->loss < 0)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, "graph", NULL,
		                 "backward needs kcv_graph_backward before compile");
	if (!g->ran_forward)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, "graph", NULL, "backward before forward");
	g->nodes[g->loss].grad[0] = 1.0f;
	for (size_t j = 0; j < g->n_bsteps; j++) {
		const bstep *b = &g->bsteps[j];
		const gnode *nd = &g->nodes[b->node];
		const kcv_op_def *def = kcv_op_get(nd->op);
		kcv_op_grad_call c;
		memset(&c, 0, sizeof(c));
		fill_call(g, nd, &c.fwd);
		c.d_out = nd->grad;
		for (int i = 0; i < nd->n_in; i++) {
			c.d_in[i] = b->mode[i] >= 0 ? g->nodes[nd->in[i]].grad : NULL;
			c.accumulate[i] = b->mode[i] == 1;
		}
		c.scratch = g->scratch;
		double t0 = g->profiling ? kcv_now() : 0;
		def->backward(&c);
		if (g->profiling)
			record(g, (size_t)b->node, 1, 1e3 * (kcv_now() - t0));
	}
	g->ran_forward = 0;
	return KCV_OK;
}

void kcv_graph_set_training(kcv_graph *g, int on)
{
	g->training = on != 0;
}

int kcv_graph_training(const kcv_graph *g)
{
	return g->training;
}

kcv_status kcv_graph_set_precision(kcv_graph *g, kcv_precision precision, kcv_error *err)
{
	if (precision == KCV_PRECISION_FLOAT32) {
		kcv_pool_set_runner(g->pool, NULL, NULL);
		kcv_bf16_free(g->bf16);
		g->bf16 = NULL;
		return KCV_OK;
	}
	if (precision != KCV_PRECISION_BF16)
		return KCV_ERROR(err, KCV_ERR_INVALID, "graph", NULL, "unknown precision %d",
		                 (int)precision);
	if (g->bf16)
		return KCV_OK;
	char why[256];
	g->bf16 = kcv_bf16_new(g->threads, why, sizeof(why));
	if (!g->bf16)
		return KCV_ERROR(err, KCV_ERR_UNSUPPORTED, "graph", NULL, "bfloat16: %s", why);
	kcv_pool_set_runner(g->pool, kcv_bf16_pool_run, g->bf16);
	return KCV_OK;
}

kcv_status kcv_precision_check(kcv_precision precision, kcv_error *err)
{
	if (precision != KCV_PRECISION_BF16)
		return KCV_OK;
	char why[256];
	kcv_bf16 *b = kcv_bf16_new(1, why, sizeof(why));
	if (!b)
		return KCV_ERROR(err, KCV_ERR_UNSUPPORTED, "graph", NULL, "bfloat16: %s", why);
	kcv_bf16_free(b);
	return KCV_OK;
}

kcv_precision kcv_graph_precision(const kcv_graph *g)
{
	return g->bf16 ? KCV_PRECISION_BF16 : KCV_PRECISION_FLOAT32;
}

void kcv_graph_set_profiling(kcv_graph *g, int on)
{
	g->profiling = on;
	free(g->prof_node);
	g->prof_node = NULL;
	if (on) {
		memset(g->prof_ms, 0, sizeof(g->prof_ms));
		memset(g->prof_calls, 0, sizeof(g->prof_calls));
		/* per node too when memory allows (the kinds' table does not need it) */
		g->prof_node = calloc(2 * (g->n ? g->n : 1), sizeof(double));
	}
}

/* "conv2d head.cls.0.weight [8,64,64,256] -> [8,64,64,256]": the op, its
 * first parameter input (which layer it is; for ops without one, the first
 * named input), the shapes. */
static void describe(const kcv_graph *g, size_t k, char *buf, size_t size)
{
	const gnode *nd = &g->nodes[k];
	const char *name = NULL;
	for (int i = 0; i < nd->n_in && !name; i++)
		if (g->nodes[nd->in[i]].kind == NODE_PARAM)
			name = g->nodes[nd->in[i]].name;
	for (int i = 0; i < nd->n_in && !name; i++)
		name = g->nodes[nd->in[i]].name;
	char in[96], out[96];
	kcv_shape_format(&g->nodes[nd->in[0]].shape, in, sizeof(in));
	kcv_shape_format(&nd->shape, out, sizeof(out));
	snprintf(buf, size, "%s %s %s -> %s", kcv_op_get(nd->op)->name, name ? name : "", in, out);
}

#define PROFILE_TOP 15

void kcv_graph_print_profile(const kcv_graph *g, void *stream)
{
	FILE *f = stream ? stream : stderr;
	double total = 0;
	for (int op = 0; op < KCV_OP_COUNT; op++)
		total += g->prof_ms[op][0] + g->prof_ms[op][1];
	fprintf(f, "%-20s %-8s %10s %10s %7s\n", "op", "pass", "calls", "ms", "share");
	for (int op = 0; op < KCV_OP_COUNT; op++)
		for (int p = 0; p < 2; p++)
			if (g->prof_calls[op][p])
				fprintf(f, "%-20s %-8s %10llu %10.1f %6.1f%%\n", kcv_op_get((kcv_op)op)->name,
				        p ? "backward" : "forward", (unsigned long long)g->prof_calls[op][p],
				        g->prof_ms[op][p], total > 0 ? 100.0 * g->prof_ms[op][p] / total : 0.0);
	if (!g->prof_node || total <= 0)
		return;
	/* the slowest single nodes: where a kind's time comes from */
	size_t top[PROFILE_TOP];
	int nt = 0;
	for (size_t i = 0; i < 2 * g->n; i++) {
		if (g->prof_node[i] <= 0)
			continue;
		int at = nt < PROFILE_TOP ? nt++ : PROFILE_TOP;
		while (at > 0 && g->prof_node[top[at - 1]] < g->prof_node[i]) {
			if (at < PROFILE_TOP)
				top[at] = top[at - 1];
			at--;
		}
		if (at < PROFILE_TOP)
			top[at] = i;
	}
	fprintf(f, "slowest nodes:\n%-8s %10s %7s  %s\n", "pass", "ms", "share", "node");
	for (int i = 0; i < nt; i++) {
		char what[320];
		describe(g, top[i] / 2, what, sizeof(what));
		fprintf(f, "%-8s %10.1f %6.1f%%  %s\n", top[i] % 2 ? "backward" : "forward",
		        g->prof_node[top[i]], 100.0 * g->prof_node[top[i]] / total, what);
	}
}
