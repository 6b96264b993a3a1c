/* Numpy broadcasting for the binary ops (add, sub, mul, div, maximum,
 * bce_logits, div_no_nan): shape rule, forward, and the backward that sums
 * each gradient over the axes its input was broadcast along.
 *
 * Shapes are aligned on their trailing axes; axes of size 1 stretch. Runs of
 * adjacent axes that broadcast the same way are merged first, so a [C] bias
 * over [N,H,W,C] is two axes ([NHW] broadcast, [C] not) and the innermost
 * axis is always contiguous (stride 1) or broadcast (stride 0) for each
 * input: the row kernels then run over contiguous memory. */
#include <stdio.h>
#include <string.h>

#include "kernel-impl.h"

/* A broadcast iteration over the output, axes merged. */
typedef struct bplan {
	int rank;
	int64_t d[KCV_MAX_DIMS];
	int64_t s[2][KCV_MAX_DIMS]; /* element strides of a and b; 0 = broadcast */
	int64_t numel;
} bplan;

/* Dimension i of s aligned to an output of rank r (1 when s is shorter). */
static int64_t dim_at(const kcv_shape *s, int r, int i)
{
	int j = i - (r - s->rank);
	return j >= 0 ? s->d[j] : 1;
}

static void plan_make(bplan *p, const kcv_shape *a, const kcv_shape *b, const kcv_shape *out)
{
	int has[KCV_MAX_DIMS][2];
	memset(p, 0, sizeof(*p));
	p->numel = kcv_shape_numel(out);
	int r = out->rank, k = 0;
	for (int i = 0; i < r; i++) {
		int64_t od = out->d[i];
		if (od == 1)
			continue;
		int h0 = dim_at(a, r, i) == od, h1 = dim_at(b, r, i) == od;
		if (k > 0 && has[k - 1][0] == h0 && has[k - 1][1] == h1) {
			p->d[k - 1] *= od;
			continue;
		}
		has[k][0] = h0;
		has[k][1] = h1;
		p->d[k++] = od;
	}
	if (k == 0) {
		p->d[0] = 1;
		has[0][0] = has[0][1] = 1;
		k = 1;
	}
	p->rank = k;
	for (int t = 0; t < 2; t++) {
		int64_t stride = 1;
		for (int i = k - 1; i >= 0; i--) {
			p->s[t][i] = has[i][t] ? stride : 0;
			if (has[i][t])
				stride *= p->d[i];
		}
	}
}

typedef struct map_job {
	const bplan *p;
	kcv_bcast_row row;
	const float *d, *a, *b;
	float *out;
	int acc;
} map_job;

static void map_range(void *ctx, size_t lo, size_t hi)
{
	const map_job *j = ctx;
	const bplan *p = j->p;
	int last = p->rank - 1;
	int64_t c[KCV_MAX_DIMS], oa = 0, ob = 0, idx = (int64_t)lo;
	for (int g = last; g >= 0; g--) {
		c[g] = idx % p->d[g];
		idx /= p->d[g];
		oa += c[g] * p->s[0][g];
		ob += c[g] * p->s[1][g];
	}
	const int64_t L = p->d[last], sa = p->s[0][last], sb = p->s[1][last];
	for (int64_t pos = (int64_t)lo; pos < (int64_t)hi;) {
		int64_t n = L - c[last];
		if (n > (int64_t)hi - pos)
			n = (int64_t)hi - pos;
		j->row(j->d ? j->d + pos : NULL, j->a + oa, (size_t)sa, j->b + ob, (size_t)sb,
		       j->out + pos, (size_t)n, j->acc);
		pos += n;
		c[last] += n;
		oa += n * sa;
		ob += n * sb;
		if (c[last] < L)
			continue;
		oa -= L * sa;
		ob -= L * sb;
		c[last] = 0;
		for (int g = last - 1; g >= 0; g--) {
			oa += p->s[0][g];
			ob += p->s[1][g];
			if (++c[g] < p->d[g])
				break;
			oa -= p->d[g] * p->s[0][g];
			ob -= p->d[g] * p->s[1][g];
			c[g] = 0;
		}
	}
}

static void map_run(kcv_pool *pool, const bplan *p, kcv_bcast_row row, const float *d,
                    const float *a, const float *b, float *out, int acc)
{
	map_job j = {p, row, d, a, b, out, acc};
	kcv_ops_parallel(pool, (size_t)p->numel, KCV_GRAIN, map_range, &j);
}

kcv_status kcv_binary_infer(const kcv_binary_def *def, const kcv_shape *in, int n_in,
                            kcv_shape *out, char *msg, size_t msg_size)
{
	const kcv_shape *a = &in[0], *b = &in[1];
	int r = a->rank > b->rank ? a->rank : b->rank;
	out->rank = r;
	for (int i = 0; i < r; i++) {
		int64_t x = dim_at(a, r, i), y = dim_at(b, r, i);
		if (x != y && x != 1 && y != 1) {
			char sa[128], sb[128];
			snprintf(msg, msg_size, "%s: shapes %s and %s do not broadcast (axis %d: %lld vs %lld)",
			         def->name, kcv_shape_format(a, sa, sizeof(sa)),
			         kcv_shape_format(b, sb, sizeof(sb)), i, (long long)x, (long long)y);
			return KCV_ERR_INVALID;
		}
		out->d[i] = x > y ? x : y;
	}
	return KCV_OK;
}

void kcv_binary_forward(const kcv_binary_def *def, const kcv_op_call *c)
{
	bplan p;
	plan_make(&p, &c->in_shape[0], &c->in_shape[1], &c->out_shape);
	map_run(c->pool, &p, def->forward, NULL, c->in[0], c->in[1], c->out, 0);
}

/* ---- summing a gradient over broadcast axes -------------------------------- */

/* How input x reduces from the output: merged axes, each kept or summed. */
typedef struct rplan {
	int rank, n_sum;
	int64_t d[KCV_MAX_DIMS];
	int keep[KCV_MAX_DIMS];
	int64_t outer, n, inner; /* when n_sum == 1 */
} rplan;

static void rplan_make(rplan *p, const kcv_shape *x, const kcv_shape *out)
{
	memset(p, 0, sizeof(*p));
	int r = out->rank;
	for (int i = 0; i < r; i++) {
		int64_t od = out->d[i];
		if (od == 1)
			continue;
		int keep = dim_at(x, r, i) == od;
		if (p->rank > 0 && p->keep[p->rank - 1] == keep) {
			p->d[p->rank - 1] *= od;
			continue;
		}
		p->keep[p->rank] = keep;
		p->d[p->rank++] = od;
		p->n_sum += !keep;
	}
	p->outer = p->n = p->inner = 1;
	if (p->n_sum != 1)
		return;
	int seen = 0;
	for (int i = 0; i < p->rank; i++) {
		if (!p->keep[i])
			seen = 1, p->n = p->d[i];
		else if (seen)
			p->inner *= p->d[i];
		else
			p->outer *= p->d[i];
	}
}

static size_t rplan_scratch(const rplan *p, const kcv_shape *x)
{
	if (p->n_sum == 1)
		return kcv_ops_reduce_scratch(p->outer, p->n, p->inner);
	return (size_t)kcv_shape_numel(x) * sizeof(double);
}

/* dst (x's shape) = or += scale * sum of g over the summed axes. */
static void reduce_to(kcv_pool *pool, const rplan *p, const kcv_shape *x, const float *g,
                      float scale, float *dst, int acc, void *scratch)
{
	if (p->n_sum == 1) {
		kcv_ops_reduce(pool, g, p->outer, p->n, p->inner, scale, dst, acc, scratch);
		return;
	}
	/* several separate summed runs (rare): one ordered pass in double */
	int64_t nx = kcv_shape_numel(x), total = 1, stride[KCV_MAX_DIMS], c[KCV_MAX_DIMS] = {0};
	double *sum = scratch;
	memset(sum, 0, (size_t)nx * sizeof(double));
	int64_t s = 1;
	for (int i = p->rank - 1; i >= 0; i--) {
		stride[i] = p->keep[i] ? s : 0;
		if (p->keep[i])
			s *= p->d[i];
		total *= p->d[i];
	}
	int64_t off = 0;
	for (int64_t e = 0; e < total; e++) {
		sum[off] += g[e];
		for (int i = p->rank - 1; i >= 0; i--) {
			off += stride[i];
			if (++c[i] < p->d[i])
				break;
			off -= p->d[i] * stride[i];
			c[i] = 0;
		}
	}
	for (int64_t e = 0; e < nx; e++) {
		float v = (float)(sum[e] * (double)scale);
		dst[e] = acc ? dst[e] + v : v;
	}
}

size_t kcv_binary_scratch(const kcv_binary_def *def, const kcv_shape *in, const kcv_shape *out,
                          int backward)
{
	if (!backward)
		return 0;
	size_t best = 0;
	int64_t n = kcv_shape_numel(out);
	for (int x = 0; x < 2; x++) {
		if (kcv_shape_numel(&in[x]) == n)
			continue;
		rplan rp;
		rplan_make(&rp, &in[x], out);
		size_t need = (def->grad[x] ? kcv_align64((size_t)n * sizeof(float)) : 0) +
		              rplan_scratch(&rp, &in[x]);
		if (need > best)
			best = need;
	}
	return best;
}

void kcv_binary_backward(const kcv_binary_def *def, const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	bplan p;
	plan_make(&p, &f->in_shape[0], &f->in_shape[1], &f->out_shape);
	for (int x = 0; x < 2; x++) {
		float *dst = c->d_in[x];
		if (!dst)
			continue;
		int acc = c->accumulate[x];
		const kcv_shape *xs = &f->in_shape[x];
		if (kcv_shape_numel(xs) == p.numel) {
			if (def->grad[x])
				map_run(f->pool, &p, def->grad[x], c->d_out, f->in[0], f->in[1], dst, acc);
			else
				kcv_ops_scale(f->pool, dst, c->d_out, (size_t)p.numel, def->grad_sign[x], acc);
			continue;
		}
		rplan rp;
		rplan_make(&rp, xs, &f->out_shape);
		const float *g = c->d_out;
		float scale = def->grad_sign[x];
		char *scratch = c->scratch;
		if (def->grad[x]) {
			float *tmp = c->scratch;
			map_run(f->pool, &p, def->grad[x], c->d_out, f->in[0], f->in[1], tmp, 0);
			g = tmp;
			scale = 1.0f;
			scratch += kcv_align64((size_t)p.numel * sizeof(float));
		}
		reduce_to(f->pool, &rp, xs, g, scale, dst, acc, scratch);
	}
}
