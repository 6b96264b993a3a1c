/* matmul: the product of the last two axes, optionally transposed, batched
 * over the leading axes. The leading axes must match, or one side is a plain
 * matrix shared by every batch (then a non-transposed batched a folds into
 * one sgemm). OpenBLAS runs on the calling thread's side only. */
#include <cblas.h>
#include <stdio.h>

#include "defs-impl.h"
#include "kernel-impl.h"

typedef struct mm_geom {
	int64_t m, n, k;
	int64_t batch, ba, bb; /* batches of the output, a and b (1 = shared) */
	int ta, tb;
} mm_geom;

static int64_t lead(const kcv_shape *s)
{
	return kcv_ops_outer(s, s->rank - 2);
}

static kcv_status mm_geom_make(mm_geom *g, const kcv_shape *a, const kcv_shape *b,
                               const kcv_op_axis_params *p, kcv_shape *out, char *msg,
                               size_t msg_size)
{
	char b1[128], b2[128];
	kcv_shape_format(a, b1, sizeof(b1));
	kcv_shape_format(b, b2, sizeof(b2));
	if (a->rank < 2 || b->rank < 2) {
		snprintf(msg, msg_size, "matmul: needs matrices (rank >= 2), got %s and %s", b1, b2);
		return KCV_ERR_INVALID;
	}
	g->ta = p->trans_a != 0;
	g->tb = p->trans_b != 0;
	int64_t a0 = a->d[a->rank - 2], a1 = a->d[a->rank - 1];
	int64_t b0 = b->d[b->rank - 2], b1d = b->d[b->rank - 1];
	g->m = g->ta ? a1 : a0;
	g->k = g->ta ? a0 : a1;
	g->n = g->tb ? b0 : b1d;
	int64_t kb = g->tb ? b1d : b0;
	if (kb != g->k) {
		snprintf(msg, msg_size, "matmul: a %s%s has %lld columns but b %s%s has %lld rows", b1,
		         g->ta ? "^T" : "", (long long)g->k, b2, g->tb ? "^T" : "", (long long)kb);
		return KCV_ERR_INVALID;
	}
	const kcv_shape *big = a->rank >= b->rank ? a : b;
	int same = a->rank == b->rank;
	for (int i = 0; same && i < a->rank - 2; i++)
		same = a->d[i] == b->d[i];
	if (!same && a->rank != 2 && b->rank != 2) {
		snprintf(msg, msg_size, "matmul: the batch axes of %s and %s differ", b1, b2);
		return KCV_ERR_INVALID;
	}
	g->ba = lead(a);
	g->bb = lead(b);
	g->batch = lead(big);
	if (out) {
		*out = *big;
		out->d[out->rank - 2] = g->m;
		out->d[out->rank - 1] = g->n;
	}
	/* a batched, non-transposed a times one shared b: one tall product */
	if (b->rank == 2 && !g->ta && g->ba > 1) {
		g->m *= g->ba;
		g->batch = g->ba = 1;
	}
	return KCV_OK;
}

static kcv_status matmul_infer(const kcv_shape *in, int n_in, const void *params,
                               kcv_shape *out, char *msg, size_t msg_size)
{
	mm_geom g;
	return mm_geom_make(&g, &in[0], &in[1], params, out, msg, msg_size);
}

static void gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
	            (blasint)m, (blasint)n, (blasint)k, 1.0f, a, (blasint)lda, b, (blasint)ldb, beta, c,
	            (blasint)ldc);
}

static void matmul_forward(const kcv_op_call *c)
{
	mm_geom g;
	char msg[8];
	mm_geom_make(&g, &c->in_shape[0], &c->in_shape[1], c->params, NULL, msg, sizeof(msg));
	for (int64_t i = 0; i < g.batch; i++) {
		const float *a = c->in[0] + (g.ba > 1 ? i : 0) * g.m * g.k;
		const float *b = c->in[1] + (g.bb > 1 ? i : 0) * g.k * g.n;
		gemm(g.ta, g.tb, g.m, g.n, g.k, a, g.ta ? g.m : g.k, b, g.tb ? g.k : g.n, 0.0f,
		     c->out + i * g.m * g.n, g.n);
	}
}

static void matmul_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	mm_geom g;
	char msg[8];
	mm_geom_make(&g, &f->in_shape[0], &f->in_shape[1], f->params, NULL, msg, sizeof(msg));
	const int64_t m = g.m, n = g.n, k = g.k;
	for (int64_t i = 0; i < g.batch; i++) {
		const float *a = f->in[0] + (g.ba > 1 ? i : 0) * m * k;
		const float *b = f->in[1] + (g.bb > 1 ? i : 0) * k * n;
		const float *dc = c->d_out + i * m * n;
		if (c->d_in[0]) {
			float *da = c->d_in[0] + (g.ba > 1 ? i : 0) * m * k;
			float beta = c->accumulate[0] || (g.ba == 1 && i > 0) ? 1.0f : 0.0f;
			if (!g.ta) /* dA [m,k] = dC op(B)^T */
				gemm(0, !g.tb, m, k, n, dc, n, b, g.tb ? k : n, beta, da, k);
			else       /* dA^T [k,m] = op(B) dC^T */
				gemm(g.tb, 1, k, m, n, b, g.tb ? k : n, dc, n, beta, da, m);
		}
		if (c->d_in[1]) {
			float *db = c->d_in[1] + (g.bb > 1 ? i : 0) * k * n;
			float beta = c->accumulate[1] || (g.bb == 1 && i > 0) ? 1.0f : 0.0f;
			if (!g.tb) /* dB [k,n] = op(A)^T dC */
				gemm(!g.ta, 0, k, n, m, a, g.ta ? m : k, dc, n, beta, db, n);
			else       /* dB^T [n,k] = dC^T op(A) */
				gemm(1, g.ta, n, k, m, dc, n, a, g.ta ? m : k, beta, db, k);
		}
	}
}

static double matmul_flops(const kcv_shape *in, int n_in, const void *params,
                           const kcv_shape *out)
{
	mm_geom g;
	char msg[8];
	if (mm_geom_make(&g, &in[0], &in[1], params, NULL, msg, sizeof(msg)) != KCV_OK)
		return 0;
	return 2.0 * (double)g.batch * (double)g.m * (double)g.n * (double)g.k;
}

const kcv_op_def kcv_op_def_matmul = {
	.name = "matmul",
	.min_in = 2,
	.max_in = 2,
	.bwd_needs_in = 3u,
	.infer = matmul_infer,
	.flops = matmul_flops,
	.forward = matmul_forward,
	.backward = matmul_backward,
};
