/* Memory planning: every value and gradient gets a storage with a live
 * interval over the schedule (forward steps, then backward steps); storages
 * whose intervals do not overlap share arena memory. Views share their
 * input's storage. Parameters, their gradients and inputs are persistent. */
#include <stdlib.h>
#include <string.h>

#include <kcv/image.h>

#include "graph-impl.h"

#define ALIGN 64

static size_t align_up(size_t x)
{
	return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static int new_store(kcv_graph *g, size_t bytes, int first, int persistent)
{
	gstorage *s = &g->stores[g->n_stores];
	memset(s, 0, sizeof(*s));
	s->bytes = align_up(bytes ? bytes : 4);
	s->first = first;
	s->last = first;
	s->persistent = persistent;
	return (int)g->n_stores++;
}

static void use(kcv_graph *g, int store, int step)
{
	gstorage *s = &g->stores[store];
	if (step < s->first)
		s->first = step;
	if (step > s->last)
		s->last = step;
}

static int is_view(const gnode *n)
{
	return n->kind == NODE_OP && (kcv_op_get(n->op)->flags & KCV_OPF_VIEW);
}

typedef struct placed {
	size_t offset, end;
} placed;

static int cmp_placed(const void *a, const void *b)
{
	const placed *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_size_desc(const void *a, const void *b, void *arg)
{
	const gstorage *s = arg;
	int x = *(const int *)a, y = *(const int *)b;
	if (s[x].bytes != s[y].bytes)
		return s[x].bytes > s[y].bytes ? -1 : 1;
	return x - y;
}

/* First fit over the storages already placed that overlap in time. */
static kcv_status place_all(kcv_graph *g, kcv_error *err)
{
	size_t m = 0;
	int *order = malloc(g->n_stores * sizeof(int) + 1);
	int *done = malloc(g->n_stores * sizeof(int) + 1);
	placed *busy = malloc(g->n_stores * sizeof(placed) + 1);
	if (!order || !done || !busy) {
		free(order), free(done), free(busy);
		return KCV_ERROR(err, KCV_ERR_NOMEM, "graph", NULL, "out of memory planning");
	}
	for (size_t i = 0; i < g->n_stores; i++)
		if (!g->stores[i].persistent)
			order[m++] = (int)i;
	qsort_r(order, m, sizeof(int), cmp_size_desc, g->stores);
	size_t ndone = 0, total = 0;
	for (size_t k = 0; k < m; k++) {
		gstorage *s = &g->stores[order[k]];
		size_t nb = 0;
		for (size_t j = 0; j < ndone; j++) {
			const gstorage *o = &g->stores[done[j]];
			if (o->first <= s->last && s->first <= o->last)
				busy[nb++] = (placed){o->offset, o->offset + o->bytes};
		}
		qsort(busy, nb, sizeof(placed), cmp_placed);
		size_t off = 0;
		for (size_t j = 0; j < nb; j++) {
			if (busy[j].offset >= off + s->bytes)
				break;
			if (busy[j].end > off)
				off = busy[j].end;
		}
		s->offset = off;
		if (off + s->bytes > total)
			total = off + s->bytes;
		done[ndone++] = order[k];
	}
	free(order);
	free(done);
	free(busy);
	g->arena_bytes = total;
	return KCV_OK;
}

kcv_status kcv_graph_plan(kcv_graph *g, kcv_error *err)
{
	size_t n = g->n;
	int T = (int)(n + g->n_bsteps);
	g->stores = calloc(2 * n + 1, sizeof(gstorage));
	if (!g->stores)
		return KCV_ERROR(err, KCV_ERR_NOMEM, "graph", NULL, "out of memory");
	/* values */
	for (size_t k = 0; k < n; k++) {
		gnode *nd = &g->nodes[k];
		if (is_view(nd)) {
			nd->storage = g->nodes[nd->in[0]].storage;
			use(g, nd->storage, (int)k);
		} else {
			nd->storage = new_store(g, (size_t)kcv_shape_numel(&nd->shape) * sizeof(float),
			                        (int)k, nd->kind != NODE_OP);
		}
		if (nd->kind == NODE_OP)
			for (int i = 0; i < nd->n_in; i++)
				use(g, g->nodes[nd->in[i]].storage, (int)k);
		if (nd->is_output || (kcv_node)k == g->loss)
			use(g, nd->storage, T);
	}
	/* gradients */
	for (size_t k = 0; k < n; k++) {
		gnode *nd = &g->nodes[k];
		int param = nd->kind == NODE_PARAM && nd->trainable;
		if (!nd->needs_grad && !param)
			continue;
		if (is_view(nd))
			nd->grad_storage = g->nodes[nd->in[0]].grad_storage;
		else
			nd->grad_storage = new_store(g, (size_t)kcv_shape_numel(&nd->shape) * sizeof(float),
			                             T, param);
	}
	if (g->loss >= 0) {
		gstorage *ls = &g->stores[g->nodes[g->loss].grad_storage];
		ls->written = 1;
		use(g, g->nodes[g->loss].grad_storage, (int)n);
	}
	for (size_t j = 0; j < g->n_bsteps; j++) {
		bstep *b = &g->bsteps[j];
		gnode *nd = &g->nodes[b->node];
		const kcv_op_def *def = kcv_op_get(nd->op);
		int step = (int)(n + j);
		use(g, nd->grad_storage, step);
		for (int i = 0; i < nd->n_in; i++) {
			gnode *in = &g->nodes[nd->in[i]];
			if (def->bwd_needs_in & (1u << i))
				use(g, in->storage, step);
			if (b->mode[i] < 0)
				continue;
			gstorage *gs = &g->stores[in->grad_storage];
			b->mode[i] = gs->written ? 1 : 0;
			gs->written = 1;
			use(g, in->grad_storage, step);
		}
		if (def->bwd_needs_out)
			use(g, nd->storage, step);
	}
	kcv_status st = place_all(g, err);
	if (st)
		return st;
	/* persistent block */
	size_t pbytes = 0;
	for (size_t i = 0; i < g->n_stores; i++)
		if (g->stores[i].persistent) {
			g->stores[i].offset = pbytes;
			pbytes += g->stores[i].bytes;
		}
	g->persistent_bytes = pbytes;
	g->persistent = kcv_aligned_alloc(pbytes ? pbytes : ALIGN);
	g->arena = kcv_aligned_alloc(g->arena_bytes ? g->arena_bytes : ALIGN);
	if (!g->persistent || !g->arena)
		return KCV_ERROR(err, KCV_ERR_NOMEM, "graph", NULL,
		                 "out of memory: the graph needs %zu MB of activations and %zu MB of "
		                 "parameters",
		                 g->arena_bytes >> 20, pbytes >> 20);
	memset(g->persistent, 0, pbytes);
	for (size_t i = 0; i < g->n_stores; i++) {
		gstorage *s = &g->stores[i];
		s->ptr = (float *)((char *)(s->persistent ? g->persistent : g->arena) + s->offset);
	}
	for (size_t k = 0; k < n; k++) {
		gnode *nd = &g->nodes[k];
		nd->data = g->stores[nd->storage].ptr;
		nd->grad = nd->grad_storage >= 0 ? g->stores[nd->grad_storage].ptr : NULL;
	}
	/* one scratch buffer, the largest any step asks for */
	size_t scratch = 0;
	for (size_t k = 0; k < n; k++) {
		gnode *nd = &g->nodes[k];
		if (nd->kind != NODE_OP)
			continue;
		const kcv_op_def *def = kcv_op_get(nd->op);
		if (!def->scratch)
			continue;
		kcv_shape in[KCV_OP_MAX_IN];
		for (int i = 0; i < nd->n_in; i++)
			in[i] = g->nodes[nd->in[i]].shape;
		size_t f = def->scratch(in, nd->n_in, nd->params, &nd->shape, 0);
		size_t b = nd->needs_grad ? def->scratch(in, nd->n_in, nd->params, &nd->shape, 1) : 0;
		if (f > scratch)
			scratch = f;
		if (b > scratch)
			scratch = b;
	}
	g->scratch_bytes = align_up(scratch);
	g->scratch = kcv_aligned_alloc(g->scratch_bytes ? g->scratch_bytes : ALIGN);
	if (!g->scratch)
		return KCV_ERROR(err, KCV_ERR_NOMEM, "graph", NULL, "out of memory for %zu MB of scratch",
		                 g->scratch_bytes >> 20);
	return KCV_OK;
}
