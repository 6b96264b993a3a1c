/* conv2d in bfloat16 through oneDNN (kcv_graph_set_precision(g,
 * KCV_PRECISION_BF16)): the mixed-precision path.
 *
 * What is bfloat16 and what is not:
 * - a convolution's input x and its weights are rounded to bfloat16 (round to
 *   nearest even) as it runs; the master weights, the optimiser and the
 *   activations kcv stores between ops stay float32;
 * - oneDNN multiplies in bfloat16 and accumulates in float32, and writes the
 *   output (bias, residual and ReLU fused) in float32;
 * - backward: dY (ReLU-masked) is rounded to bfloat16; dX, dW and db come out
 *   in float32 and are written or added as the graph asks.
 * Only the convolutions change, and only those where bfloat16 is faster
 * (worth_it below): every other op runs in float32 as always.
 *
 * oneDNN picks its kernels by CPU: AMX tiles where present, avx512_bf16's
 * dot products otherwise. kcv_bf16_new refuses a CPU with neither (oneDNN
 * would emulate bfloat16, slower than float32) and a node for which oneDNN
 * offers only its reference kernel; such a node runs kcv's float32 path.
 *
 * Threads: oneDNN runs on OpenMP, and while the graph is in bfloat16 so do
 * all of kcv's loops, this file's included: the graph hands its pool's jobs
 * to kcv_bf16_pool_run. One set of threads, the graph's count of them. With
 * kcv's pool next to OpenMP's, each set's spin-wait after a job took cores
 * from the other's next one (the quickstart's train step ran 30% slower). */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel-impl.h"

#ifdef KCV_HAVE_DNNL
#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

/* One conv2d node's oneDNN objects, made when it first runs. */
typedef struct bf16_node {
	int state; /* 0: not tried, 1: oneDNN, -1: the float32 path */
	dnnl_primitive_desc_t fwd_pd;
	dnnl_primitive_t fwd, bwd_d, bwd_w;
	dnnl_primitive_t w_fwd, w_bwd; /* reorders: master weights -> each one's bf16 */
	dnnl_primitive_t dw_out[2];    /* diff weights -> HWIO float32: store, add */
	dnnl_memory_t wf, wb, dw;      /* owned: bf16 weights (fwd, bwd data), diff weights */
	int bwd_state;                 /* 0: not tried, 1: ready, -1: the float32 path */
} bf16_node;

struct kcv_bf16 {
	dnnl_engine_t engine;
	dnnl_stream_t stream;
	int threads;
	bf16_node *nodes; /* by node index, grown as nodes run */
	size_t n_nodes;
	void *buf[3]; /* x in bf16, dY in bf16, a float32 dX to add */
	size_t buf_bytes[3];
	float *db;    /* db before it is written or added */
	size_t db_floats;
};

enum { BUF_X = 0, BUF_DY = 1, BUF_DX = 2 };

kcv_bf16 *kcv_bf16_new(int threads, char *why, size_t why_size)
{
	dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
	if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) {
		snprintf(why, why_size,
		         "this CPU has no bfloat16 units (avx512_bf16 or AMX), so oneDNN would only "
		         "emulate bfloat16");
		return NULL;
	}
	kcv_bf16 *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	b->threads = threads;
	if (dnnl_engine_create(&b->engine, dnnl_cpu, 0) != dnnl_success ||
	    dnnl_stream_create(&b->stream, b->engine, dnnl_stream_default_flags) != dnnl_success) {
		snprintf(why, why_size, "oneDNN could not make a CPU engine");
		kcv_bf16_free(b);
		return NULL;
	}
	return b;
}

static void node_clear(bf16_node *nd)
{
	dnnl_primitive_t *p[] = {&nd->fwd, &nd->bwd_d, &nd->bwd_w, &nd->w_fwd,
	                         &nd->w_bwd, &nd->dw_out[0], &nd->dw_out[1]};
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (*p[i])
			dnnl_primitive_destroy(*p[i]);
	dnnl_memory_t *m[] = {&nd->wf, &nd->wb, &nd->dw};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (*m[i])
			dnnl_memory_destroy(*m[i]);
	if (nd->fwd_pd)
		dnnl_primitive_desc_destroy(nd->fwd_pd);
	memset(nd, 0, sizeof(*nd));
}

void kcv_bf16_free(kcv_bf16 *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_nodes; i++)
		node_clear(&b->nodes[i]);
	free(b->nodes);
	for (int i = 0; i < 3; i++)
		free(b->buf[i]);
	free(b->db);
	if (b->stream)
		dnnl_stream_destroy(b->stream);
	if (b->engine)
		dnnl_engine_destroy(b->engine);
	free(b);
}

/* Node `node`'s state, the table grown to hold it; NULL when out of memory. */
static bf16_node *node_get(kcv_bf16 *b, size_t node)
{
	if (node >= b->n_nodes) {
		size_t n = node + 64;
		bf16_node *t = realloc(b->nodes, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + b->n_nodes, 0, (n - b->n_nodes) * sizeof(*t));
		b->nodes = t;
		b->n_nodes = n;
	}
	return &b->nodes[node];
}

/* A reusable buffer of at least `bytes`; NULL when out of memory. */
static void *buf_get(kcv_bf16 *b, int i, size_t bytes)
{
	if (b->buf_bytes[i] >= bytes)
		return b->buf[i];
	free(b->buf[i]);
	b->buf[i] = NULL;
	b->buf_bytes[i] = 0;
	if (posix_memalign(&b->buf[i], 64, bytes) != 0) {
		b->buf[i] = NULL;
		return NULL;
	}
	b->buf_bytes[i] = bytes;
	return b->buf[i];
}

/* ---- rounding to bfloat16 --------------------------------------------------- */

typedef struct round_job {
	const float *x;
	const float *y; /* the ReLU's output: where y <= 0, x counts as 0; or NULL */
	uint16_t *out;
	float *res;     /* also the masked x in float32 (written or added), or NULL */
	int res_add;
} round_job;

/* The backend exists only on CPUs with avx512_bf16 (kcv_bf16_new), so the
 * rounding uses its vcvtneps2bf16 (round to nearest even, NaN kept quiet),
 * 16 floats at a time. */
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

BF16_TARGET static inline void round16(const round_job *j, size_t i, __mmask16 k)
{
	__m512 v = _mm512_maskz_loadu_ps(k, j->x + i);
	if (j->y)
		v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(k, j->y + i),
		                                           _mm512_setzero_ps(), _CMP_GT_OQ),
		                        v);
	if (j->res) {
		__m512 r = j->res_add ? _mm512_add_ps(_mm512_maskz_loadu_ps(k, j->res + i), v) : v;
		if (k == 0xffff)
			_mm512_storeu_ps(j->res + i, r);
		else
			_mm512_mask_storeu_ps(j->res + i, k, r);
	}
	__m256i h = (__m256i)_mm512_cvtneps_pbh(v);
	if (k == 0xffff)
		_mm256_storeu_si256((__m256i *)(j->out + i), h);
	else
		_mm256_mask_storeu_epi16(j->out + i, k, h);
}

/* Masked loads and stores only for the tail: they are slow on some CPUs. */
BF16_TARGET static void round_range(void *ctx, size_t lo, size_t hi)
{
	const round_job *j = ctx;
	size_t i = lo;
	for (; i + 16 <= hi; i += 16)
		round16(j, i, 0xffff);
	if (i < hi)
		round16(j, i, (__mmask16)((1u << (hi - i)) - 1));
}

void kcv_bf16_pool_run(void *rctx, size_t n, kcv_pool_fn fn, void *ctx)
{
	const kcv_bf16 *b = rctx;
#pragma omp parallel num_threads(b->threads)
	{
		size_t lo, hi;
		kcv_pool_chunk(n, (size_t)omp_get_num_threads(), (size_t)omp_get_thread_num(), &lo, &hi);
		for (size_t i = lo; i < hi; i++)
			fn(ctx, i);
	}
}

/* ---- oneDNN set-up ------------------------------------------------------------ */

static int ok(dnnl_status_t s)
{
	return s == dnnl_success;
}

/* The descriptors of one node: x and dY in bf16 NHWC, y in float32 NHWC, the
 * master weights float32 HWIO, the bias float32. */
typedef struct conv_mds {
	dnnl_memory_desc_t x16, y32, y16, x32, w32, w16any, w32any, bias;
	dnnl_dims_t stride, dil, pad_l, pad_r;
} conv_mds;

static int mds_make(const kcv_conv_geom *g, conv_mds *d)
{
	dnnl_dims_t xd = {g->n, g->cin, g->h, g->w}, yd = {g->n, g->cout, g->oh, g->ow};
	dnnl_dims_t wd = {g->cout, g->cin, g->kh, g->kw}, bd = {g->cout};
	d->stride[0] = g->sh, d->stride[1] = g->sw;
	d->dil[0] = g->dh - 1, d->dil[1] = g->dw - 1;
	d->pad_l[0] = g->pt, d->pad_l[1] = g->pl;
	/* the padding that makes oneDNN's output size ours (explicit padding that
	 * the stride leaves unused is dropped) */
	d->pad_r[0] = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1 - g->h - g->pt;
	d->pad_r[1] = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1 - g->w - g->pl;
	if (d->pad_r[0] < 0 || d->pad_r[1] < 0)
		return 0;
	return ok(dnnl_memory_desc_init_by_tag(&d->x16, 4, xd, dnnl_bf16, dnnl_nhwc)) &&
	       ok(dnnl_memory_desc_init_by_tag(&d->x32, 4, xd, dnnl_f32, dnnl_nhwc)) &&
	       ok(dnnl_memory_desc_init_by_tag(&d->y32, 4, yd, dnnl_f32, dnnl_nhwc)) &&
	       ok(dnnl_memory_desc_init_by_tag(&d->y16, 4, yd, dnnl_bf16, dnnl_nhwc)) &&
	       ok(dnnl_memory_desc_init_by_tag(&d->w32, 4, wd, dnnl_f32, dnnl_hwio)) &&
	       ok(dnnl_memory_desc_init_by_tag(&d->w16any, 4, wd, dnnl_bf16, dnnl_format_tag_any)) &&
	       ok(dnnl_memory_desc_init_by_tag(&d->w32any, 4, wd, dnnl_f32, dnnl_format_tag_any)) &&
	       ok(dnnl_memory_desc_init_by_tag(&d->bias, 1, bd, dnnl_f32, dnnl_x));
}

/* oneDNN's reference kernels are slower than kcv's float32 ones. */
static int is_ref(const_dnnl_primitive_desc_t pd)
{
	const char *impl = NULL;
	if (!ok(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl)) || !impl)
		return 1;
	return strncmp(impl, "ref", 3) == 0;
}

static int prim_make(dnnl_primitive_desc_t pd, dnnl_primitive_t *prim)
{
	int good = !is_ref(pd) && ok(dnnl_primitive_create(prim, pd));
	if (!good)
		*prim = NULL;
	return good;
}

/* A reorder from src to dst (adding to dst when add). */
static int reorder_make(kcv_bf16 *b, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                        int add, dnnl_primitive_t *prim)
{
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	int good = 1;
	if (add) {
		good = ok(dnnl_primitive_attr_create(&attr)) && ok(dnnl_post_ops_create(&po)) &&
		       ok(dnnl_post_ops_append_sum(po, 1.0f)) &&
		       ok(dnnl_primitive_attr_set_post_ops(attr, po));
	}
	dnnl_primitive_desc_t pd = NULL;
	good = good && ok(dnnl_reorder_primitive_desc_create(&pd, src, b->engine, dst, b->engine, attr));
	good = good && ok(dnnl_primitive_create(prim, pd));
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (!good)
		*prim = NULL;
	return good;
}

/* Where bfloat16 pays on avx512_bf16 (measured per layer on ResNet50-FPN
 * and the quickstart's network, BENCHMARKS.md): convolutions with at least
 * 128 products per output value and 64 output channels; 1x1 ones only at
 * stride 1 with 128 channels or more on both sides. The others are bound by
 * memory, where rounding the input to bfloat16 costs more than the products
 * gain, and keep kcv's float32 kernels. A rule of shapes alone, so a run is
 * reproducible. */
static int worth_it(const kcv_conv_geom *g)
{
	if (g->kh * g->kw == 1)
		return g->sh == 1 && g->sw == 1 && g->cin >= 128 && g->cout >= 128;
	return g->k >= 128 && g->cout >= 64;
}

static int fwd_make(kcv_bf16 *b, bf16_node *nd, const kcv_conv_geom *g)
{
	conv_mds d;
	if (g->groups != 1 || !worth_it(g) || !mds_make(g, &d))
		return 0;
	dnnl_convolution_desc_t cd;
	if (!ok(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training,
	                                            dnnl_convolution_direct, &d.x16, &d.w16any,
	                                            g->bias ? &d.bias : NULL, &d.y32, d.stride,
	                                            d.dil, d.pad_l, d.pad_r)))
		return 0;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	int good = ok(dnnl_primitive_attr_create(&attr)) && ok(dnnl_post_ops_create(&po));
	if (good && g->res >= 0)
		good = ok(dnnl_post_ops_append_sum(po, 1.0f));
	if (good && g->relu)
		good = ok(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
	good = good && ok(dnnl_primitive_attr_set_post_ops(attr, po));
	good = good && ok(dnnl_primitive_desc_create(&nd->fwd_pd, &cd, attr, b->engine, NULL));
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (!good) {
		nd->fwd_pd = NULL;
		return 0;
	}
	const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(nd->fwd_pd, dnnl_query_weights_md, 0);
	return prim_make(nd->fwd_pd, &nd->fwd) &&
	       ok(dnnl_memory_create(&nd->wf, wmd, b->engine, DNNL_MEMORY_ALLOCATE)) &&
	       reorder_make(b, &d.w32, wmd, 0, &nd->w_fwd);
}

static int bwd_make(kcv_bf16 *b, bf16_node *nd, const kcv_conv_geom *g)
{
	conv_mds d;
	if (!mds_make(g, &d))
		return 0;
	dnnl_convolution_desc_t dd, wd;
	dnnl_primitive_desc_t dpd = NULL, wpd = NULL;
	int good = ok(dnnl_dilated_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &d.x32,
	                                                        &d.w16any, &d.y16, d.stride, d.dil,
	                                                        d.pad_l, d.pad_r)) &&
	           ok(dnnl_primitive_desc_create(&dpd, &dd, NULL, b->engine, nd->fwd_pd)) &&
	           prim_make(dpd, &nd->bwd_d);
	if (good) {
		const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0);
		good = ok(dnnl_memory_create(&nd->wb, wmd, b->engine, DNNL_MEMORY_ALLOCATE)) &&
		       reorder_make(b, &d.w32, wmd, 0, &nd->w_bwd);
	}
	good = good &&
	       ok(dnnl_dilated_convolution_backward_weights_desc_init(
	           &wd, dnnl_convolution_direct, &d.x16, &d.w32any, g->bias ? &d.bias : NULL, &d.y16,
	           d.stride, d.dil, d.pad_l, d.pad_r)) &&
	       ok(dnnl_primitive_desc_create(&wpd, &wd, NULL, b->engine, nd->fwd_pd)) &&
	       prim_make(wpd, &nd->bwd_w);
	if (good) {
		const dnnl_memory_desc_t *dwmd =
		    dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0);
		good = ok(dnnl_memory_create(&nd->dw, dwmd, b->engine, DNNL_MEMORY_ALLOCATE)) &&
		       reorder_make(b, dwmd, &d.w32, 0, &nd->dw_out[0]) &&
		       reorder_make(b, dwmd, &d.w32, 1, &nd->dw_out[1]);
	}
	if (dpd)
		dnnl_primitive_desc_destroy(dpd);
	if (wpd)
		dnnl_primitive_desc_destroy(wpd);
	return good;
}

/* ---- running ----------------------------------------------------------------- */

/* Run prim with (arg, md, pointer) triples wrapped as memories. */
typedef struct arg {
	int arg;
	const dnnl_memory_desc_t *md; /* NULL: mem is an owned memory */
	const void *ptr;
	dnnl_memory_t mem;
} arg;

static int run(kcv_bf16 *b, dnnl_primitive_t prim, arg *a, int n)
{
	dnnl_exec_arg_t ea[8];
	int made = 0, good = 1;
	for (int i = 0; i < n && good; i++) {
		if (a[i].md) {
			good = ok(dnnl_memory_create(&a[i].mem, a[i].md, b->engine, (void *)a[i].ptr));
			made = i + 1;
		}
		ea[i].arg = a[i].arg;
		ea[i].memory = a[i].mem;
	}
	if (good) {
		omp_set_num_threads(b->threads);
		good = ok(dnnl_primitive_execute(prim, b->stream, n, ea)) &&
		       ok(dnnl_stream_wait(b->stream));
	}
	for (int i = 0; i < made; i++)
		if (a[i].md && a[i].mem)
			dnnl_memory_destroy(a[i].mem);
	return good;
}

int kcv_conv_bf16_forward(kcv_bf16 *b, size_t node, const kcv_conv_geom *g,
                          const kcv_op_call *c)
{
	bf16_node *nd = node_get(b, node);
	if (!nd)
		return 0;
	if (nd->state == 0) {
		nd->state = fwd_make(b, nd, g) ? 1 : -1;
		if (nd->state < 0)
			node_clear(nd), nd->state = -1;
	}
	if (nd->state < 0)
		return 0;
	size_t nx = (size_t)(g->n * g->h * g->w * g->cin), ny = (size_t)(g->m * g->cout);
	uint16_t *x16 = buf_get(b, BUF_X, nx * sizeof(uint16_t));
	if (!x16)
		return 0;
	conv_mds d;
	mds_make(g, &d);
	round_job xj = {.x = c->in[0], .out = x16};
	kcv_ops_parallel(c->pool, nx, KCV_GRAIN, round_range, &xj);
	arg wr[] = {{DNNL_ARG_FROM, &d.w32, c->in[1], NULL}, {DNNL_ARG_TO, NULL, NULL, nd->wf}};
	if (!run(b, nd->w_fwd, wr, 2))
		return 0;
	if (g->res >= 0 && c->out != c->in[g->res])
		kcv_ops_scale(c->pool, c->out, c->in[g->res], ny, 1.0f, 0);
	arg fa[] = {{DNNL_ARG_SRC, &d.x16, x16, NULL},
	            {DNNL_ARG_WEIGHTS, NULL, NULL, nd->wf},
	            {DNNL_ARG_DST, &d.y32, c->out, NULL},
	            {DNNL_ARG_BIAS, &d.bias, g->bias ? c->in[2] : NULL, NULL}};
	return run(b, nd->fwd, fa, g->bias ? 4 : 3);
}

int kcv_conv_bf16_backward(kcv_bf16 *b, size_t node, const kcv_conv_geom *g,
                           const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	if (node >= b->n_nodes || b->nodes[node].state != 1)
		return 0;
	bf16_node *nd = &b->nodes[node];
	if (nd->bwd_state == 0)
		nd->bwd_state = bwd_make(b, nd, g) ? 1 : -1;
	if (nd->bwd_state < 0)
		return 0;
	size_t nx = (size_t)(g->n * g->h * g->w * g->cin), ny = (size_t)(g->m * g->cout);
	float *dx = c->d_in[0], *dw = c->d_in[1], *db = g->bias ? c->d_in[2] : NULL;
	float *dres = g->res >= 0 ? c->d_in[g->res] : NULL;
	/* db comes with dW from oneDNN; frozen weights with a trainable bias
	 * (no model builds them) take the float32 path */
	if (db && !dw)
		return 0;
	uint16_t *dy16 = buf_get(b, BUF_DY, ny * sizeof(uint16_t));
	uint16_t *x16 = dw ? buf_get(b, BUF_X, nx * sizeof(uint16_t)) : NULL;
	float *dxt = dx && c->accumulate[0] ? buf_get(b, BUF_DX, nx * sizeof(float)) : dx;
	if (db && b->db_floats < (size_t)g->cout) {
		free(b->db);
		b->db = malloc((size_t)g->cout * sizeof(float));
		b->db_floats = b->db ? (size_t)g->cout : 0;
	}
	if (!dy16 || (dw && !x16) || (dx && !dxt) || (db && !b->db_floats))
		return 0;
	conv_mds d;
	mds_make(g, &d);
	/* dY through the ReLU's mask, in bf16; the residual's gradient is that dY */
	round_job rj = {.x = c->d_out, .y = g->relu ? f->out : NULL, .out = dy16, .res = dres,
	                .res_add = dres ? c->accumulate[g->res] : 0};
	kcv_ops_parallel(f->pool, ny, KCV_GRAIN, round_range, &rj);
	if (dw) {
		round_job xj = {.x = f->in[0], .out = x16};
		kcv_ops_parallel(f->pool, nx, KCV_GRAIN, round_range, &xj);
		arg wa[] = {{DNNL_ARG_SRC, &d.x16, x16, NULL},
		            {DNNL_ARG_DIFF_DST, &d.y16, dy16, NULL},
		            {DNNL_ARG_DIFF_WEIGHTS, NULL, NULL, nd->dw},
		            {DNNL_ARG_DIFF_BIAS, &d.bias, b->db, NULL}};
		arg oa[] = {{DNNL_ARG_FROM, NULL, NULL, nd->dw}, {DNNL_ARG_TO, &d.w32, dw, NULL}};
		KCV_ASSERT(run(b, nd->bwd_w, wa, db ? 4 : 3));
		KCV_ASSERT(run(b, nd->dw_out[c->accumulate[1] ? 1 : 0], oa, 2));
	}
	if (db)
		for (int64_t k = 0; k < g->cout; k++)
			db[k] = c->accumulate[2] ? db[k] + b->db[k] : b->db[k];
	if (dx) {
		arg wr[] = {{DNNL_ARG_FROM, &d.w32, f->in[1], NULL}, {DNNL_ARG_TO, NULL, NULL, nd->wb}};
		arg da[] = {{DNNL_ARG_DIFF_DST, &d.y16, dy16, NULL},
		            {DNNL_ARG_WEIGHTS, NULL, NULL, nd->wb},
		            {DNNL_ARG_DIFF_SRC, &d.x32, dxt, NULL}};
		KCV_ASSERT(run(b, nd->w_bwd, wr, 2));
		KCV_ASSERT(run(b, nd->bwd_d, da, 3));
		if (dxt != dx)
			kcv_ops_scale(f->pool, dx, dxt, nx, 1.0f, 1);
	}
	return 1;
}

#else /* no oneDNN in this build */

kcv_bf16 *kcv_bf16_new(int threads, char *why, size_t why_size)
{
	(void)threads;
	snprintf(why, why_size,
	         "this kcv was built without oneDNN (on Debian: apt-get install libdnnl-dev, then "
	         "configure again)");
	return NULL;
}

void kcv_bf16_free(kcv_bf16 *b)
{
	(void)b;
}

void kcv_bf16_pool_run(void *rctx, size_t n, kcv_pool_fn fn, void *ctx)
{
	(void)rctx;
	for (size_t i = 0; i < n; i++)
		fn(ctx, i);
}

int kcv_conv_bf16_forward(kcv_bf16 *b, size_t node, const kcv_conv_geom *g,
                          const kcv_op_call *c)
{
	(void)b, (void)node, (void)g, (void)c;
	return 0;
}

int kcv_conv_bf16_backward(kcv_bf16 *b, size_t node, const kcv_conv_geom *g,
                           const kcv_op_grad_call *c)
{
	(void)b, (void)node, (void)g, (void)c;
	return 0;
}

#endif
