/* Layout ops: concat, reshape (a view: shape rule only, the engine aliases
 * the buffers) and transpose. */
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

/* ---- concat --------------------------------------------------------------- */

static int concat_axis(const kcv_op_axis_params *p, int rank)
{
	return p->axis < 0 ? p->axis + rank : p->axis;
}

static kcv_status concat_infer(const kcv_shape *in, int n_in, const void *params,
                               kcv_shape *out, char *msg, size_t msg_size)
{
	char b1[128], b2[128];
	int axis = concat_axis(params, in[0].rank);
	if (axis < 0 || axis >= in[0].rank) {
		snprintf(msg, msg_size, "concat: axis %d is out of range for shape %s",
		         ((const kcv_op_axis_params *)params)->axis,
		         kcv_shape_format(&in[0], b1, sizeof(b1)));
		return KCV_ERR_INVALID;
	}
	*out = in[0];
	for (int i = 1; i < n_in; i++) {
		int ok = in[i].rank == in[0].rank;
		for (int k = 0; ok && k < in[0].rank; k++)
			ok = k == axis || in[i].d[k] == in[0].d[k];
		if (!ok) {
			snprintf(msg, msg_size,
			         "concat: input %d has shape %s but input 0 has %s (only axis %d may differ)", i,
			         kcv_shape_format(&in[i], b1, sizeof(b1)),
			         kcv_shape_format(&in[0], b2, sizeof(b2)), axis);
			return KCV_ERR_INVALID;
		}
		out->d[axis] += in[i].d[axis];
	}
	return KCV_OK;
}

typedef struct concat_job {
	int n;
	const float *in[KCV_OP_MAX_IN];
	float *part[KCV_OP_MAX_IN]; /* backward: d_in (NULL = not wanted) */
	int acc[KCV_OP_MAX_IN];
	int64_t w[KCV_OP_MAX_IN];   /* values per outer index of each input */
	int64_t total;
	const float *whole_in;      /* backward: d_out */
	float *whole;               /* forward: out */
} concat_job;

static void concat_rows(void *ctx, size_t lo, size_t hi)
{
	const concat_job *j = ctx;
	for (size_t o = lo; o < hi; o++) {
		int64_t off = (int64_t)o * j->total;
		for (int i = 0; i < j->n; i++) {
			int64_t w = j->w[i], at = (int64_t)o * w;
			if (j->whole) {
				memcpy(j->whole + off, j->in[i] + at, (size_t)w * sizeof(float));
			} else if (j->part[i]) {
				const float *restrict s = j->whole_in + off;
				float *restrict d = j->part[i] + at;
				if (j->acc[i])
					for (int64_t e = 0; e < w; e++)
						d[e] += s[e];
				else
					memcpy(d, s, (size_t)w * sizeof(float));
			}
			off += w;
		}
	}
}

static void concat_setup(concat_job *j, const kcv_op_call *c)
{
	memset(j, 0, sizeof(*j));
	int axis = concat_axis(c->params, c->out_shape.rank);
	int64_t inner = kcv_ops_inner(&c->out_shape, axis);
	j->n = c->n_in;
	for (int i = 0; i < c->n_in; i++) {
		j->in[i] = c->in[i];
		j->w[i] = c->in_shape[i].d[axis] * inner;
		j->total += j->w[i];
	}
}

static void concat_run(concat_job *j, const kcv_op_call *c)
{
	int axis = concat_axis(c->params, c->out_shape.rank);
	int64_t outer = kcv_ops_outer(&c->out_shape, axis);
	size_t grain = (size_t)(j->total >= KCV_GRAIN ? 1 : KCV_GRAIN / j->total);
	kcv_ops_parallel(c->pool, (size_t)outer, grain, concat_rows, j);
}

static void concat_forward(const kcv_op_call *c)
{
	concat_job j;
	concat_setup(&j, c);
	j.whole = c->out;
	concat_run(&j, c);
}

static void concat_backward(const kcv_op_grad_call *c)
{
	concat_job j;
	concat_setup(&j, &c->fwd);
	j.whole_in = c->d_out;
	for (int i = 0; i < c->fwd.n_in; i++) {
		j.part[i] = c->d_in[i];
		j.acc[i] = c->accumulate[i];
	}
	concat_run(&j, &c->fwd);
}

const kcv_op_def kcv_op_def_concat = {
	.name = "concat",
	.min_in = 1,
	.max_in = KCV_OP_MAX_IN,
	.infer = concat_infer,
	.forward = concat_forward,
	.backward = concat_backward,
};

/* ---- reshape (a view) ----------------------------------------------------- */

static kcv_status reshape_infer(const kcv_shape *in, int n_in, const void *params,
                                kcv_shape *out, char *msg, size_t msg_size)
{
	const kcv_shape *t = params;
	char b1[128], b2[128];
	int64_t known = 1, n = kcv_shape_numel(&in[0]);
	int free_axis = -1;
	int ok = t->rank >= 1 && t->rank <= KCV_MAX_DIMS;
	for (int i = 0; ok && i < t->rank; i++) {
		if (t->d[i] == -1 && free_axis < 0)
			free_axis = i;
		else if (t->d[i] > 0)
			known *= t->d[i];
		else
			ok = 0;
	}
	*out = *t;
	if (ok && free_axis >= 0) {
		ok = n % known == 0;
		out->d[free_axis] = ok ? n / known : 0;
	} else if (ok) {
		ok = known == n;
	}
	if (!ok) {
		snprintf(msg, msg_size, "reshape: cannot view %s (%lld values) as %s",
		         kcv_shape_format(&in[0], b1, sizeof(b1)), (long long)n,
		         kcv_shape_format(t, b2, sizeof(b2)));
		return KCV_ERR_INVALID;
	}
	return KCV_OK;
}

const kcv_op_def kcv_op_def_reshape = {
	.name = "reshape",
	.min_in = 1,
	.max_in = 1,
	.flags = KCV_OPF_VIEW,
	.infer = reshape_infer,
};

/* ---- transpose ------------------------------------------------------------ */

static kcv_status transpose_infer(const kcv_shape *in, int n_in, const void *params,
                                  kcv_shape *out, char *msg, size_t msg_size)
{
	const kcv_op_axis_params *p = params;
	char b1[128];
	if (p->axis != in[0].rank) {
		snprintf(msg, msg_size, "transpose: %d axes given for shape %s", p->axis,
		         kcv_shape_format(&in[0], b1, sizeof(b1)));
		return KCV_ERR_INVALID;
	}
	int seen[KCV_MAX_DIMS] = {0};
	out->rank = in[0].rank;
	for (int k = 0; k < in[0].rank; k++) {
		int a = p->perm[k];
		if (a < 0 || a >= in[0].rank || seen[a]++) {
			snprintf(msg, msg_size, "transpose: the axes are not a permutation of 0..%d",
			         in[0].rank - 1);
			return KCV_ERR_INVALID;
		}
		out->d[k] = in[0].d[a];
	}
	return KCV_OK;
}

/* dst = src with its axes permuted: dst axis k is src axis perm[k]. */
typedef struct permute_job {
	int rank;
	int64_t len[KCV_MAX_DIMS], stride[KCV_MAX_DIMS]; /* per dst axis, merged */
	const float *src;
	float *dst;
	int acc;
} permute_job;

static void permute_range(void *ctx, size_t lo, size_t hi)
{
	const permute_job *j = ctx;
	int last = j->rank - 1;
	int64_t c[KCV_MAX_DIMS], off = 0, idx = (int64_t)lo;
	for (int k = last; k >= 0; k--) {
		c[k] = idx % j->len[k];
		idx /= j->len[k];
		off += c[k] * j->stride[k];
	}
	const int64_t L = j->len[last], s = j->stride[last];
	for (int64_t pos = (int64_t)lo; pos < (int64_t)hi;) {
		int64_t n = L - c[last];
		if (n > (int64_t)hi - pos)
			n = (int64_t)hi - pos;
		const float *restrict src = j->src + off;
		float *restrict dst = j->dst + pos;
		if (s == 1 && !j->acc)
			memcpy(dst, src, (size_t)n * sizeof(float));
		else if (j->acc)
			for (int64_t e = 0; e < n; e++)
				dst[e] += src[e * s];
		else
			for (int64_t e = 0; e < n; e++)
				dst[e] = src[e * s];
		pos += n;
		c[last] += n;
		off += n * s;
		if (c[last] < L)
			continue;
		off -= L * s;
		c[last] = 0;
		for (int k = last - 1; k >= 0; k--) {
			off += j->stride[k];
			if (++c[k] < j->len[k])
				break;
			off -= j->len[k] * j->stride[k];
			c[k] = 0;
		}
	}
}

static void permute(kcv_pool *pool, const float *src, const kcv_shape *ss, const int *perm,
                    float *dst, int acc)
{
	int64_t sst[KCV_MAX_DIMS], s = 1;
	for (int a = ss->rank - 1; a >= 0; a--) {
		sst[a] = s;
		s *= ss->d[a];
	}
	permute_job j = {0, {0}, {0}, src, dst, acc};
	for (int k = 0; k < ss->rank; k++) {
		int64_t len = ss->d[perm[k]], st = sst[perm[k]];
		if (len == 1)
			continue;
		if (j.rank > 0 && j.stride[j.rank - 1] == len * st) {
			j.len[j.rank - 1] *= len;
			j.stride[j.rank - 1] = st;
			continue;
		}
		j.len[j.rank] = len;
		j.stride[j.rank++] = st;
	}
	if (j.rank == 0) {
		j.len[0] = j.stride[0] = 1;
		j.rank = 1;
	}
	kcv_ops_parallel(pool, (size_t)s, KCV_GRAIN, permute_range, &j);
}

static void transpose_forward(const kcv_op_call *c)
{
	const kcv_op_axis_params *p = c->params;
	permute(c->pool, c->in[0], &c->in_shape[0], p->perm, c->out, 0);
}

static void transpose_backward(const kcv_op_grad_call *c)
{
	if (!c->d_in[0])
		return;
	const kcv_op_axis_params *p = c->fwd.params;
	int inv[KCV_MAX_DIMS];
	for (int k = 0; k < c->fwd.out_shape.rank; k++)
		inv[p->perm[k]] = k;
	permute(c->fwd.pool, c->d_out, &c->fwd.out_shape, inv, c->d_in[0], c->accumulate[0]);
}

const kcv_op_def kcv_op_def_transpose = {
	.name = "transpose",
	.min_in = 1,
	.max_in = 1,
	.infer = transpose_infer,
	.forward = transpose_forward,
	.backward = transpose_backward,
};
