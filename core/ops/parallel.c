/* Parallel loops and sum reductions shared by the op kernels. The work is
 * split by the shapes alone (fixed chunks), and every sum is taken in a fixed
 * order in double, so results do not depend on the thread count. */
#include <string.h>

#include "kernel-impl.h"

typedef struct range_job {
	kcv_range_fn fn;
	void *ctx;
	size_t n, grain;
} range_job;

static void range_task(void *ctx, size_t i)
{
	const range_job *j = ctx;
	size_t lo = i * j->grain;
	size_t hi = lo + j->grain < j->n ? lo + j->grain : j->n;
	j->fn(j->ctx, lo, hi);
}

void kcv_ops_parallel(kcv_pool *pool, size_t n, size_t grain, kcv_range_fn fn, void *ctx)
{
	if (n == 0)
		return;
	if (grain < 1)
		grain = 1;
	size_t chunks = (n + grain - 1) / grain;
	if (chunks == 1) {
		fn(ctx, 0, n);
		return;
	}
	range_job j = {fn, ctx, n, grain};
	kcv_pool_run(pool, chunks, range_task, &j);
}

int64_t kcv_ops_outer(const kcv_shape *s, int axis)
{
	int64_t n = 1;
	for (int i = 0; i < axis && i < s->rank; i++)
		n *= s->d[i];
	return n;
}

int64_t kcv_ops_inner(const kcv_shape *s, int axis)
{
	int64_t n = 1;
	for (int i = axis + 1; i < s->rank; i++)
		n *= s->d[i];
	return n;
}

/* ---- scaled copies -------------------------------------------------------- */

typedef struct scale_job {
	float *dst;
	const float *src;
	float scale;
	int acc;
} scale_job;

static void scale_range(void *ctx, size_t lo, size_t hi)
{
	const scale_job *j = ctx;
	float *restrict d = j->dst;
	const float *restrict s = j->src;
	const float k = j->scale;
	if (j->acc) {
		for (size_t i = lo; i < hi; i++)
			d[i] += k * s[i];
	} else if (k == 1.0f) {
		memcpy(d + lo, s + lo, (hi - lo) * sizeof(float));
	} else {
		for (size_t i = lo; i < hi; i++)
			d[i] = k * s[i];
	}
}

void kcv_ops_scale(kcv_pool *pool, float *dst, const float *src, size_t n, float scale,
                   int accumulate)
{
	scale_job j = {dst, src, scale, accumulate};
	kcv_ops_parallel(pool, n, 4 * KCV_GRAIN, scale_range, &j);
}

void kcv_ops_zero_grad(float *dst, size_t n, int accumulate)
{
	if (dst && !accumulate)
		memset(dst, 0, n * sizeof(float));
}

/* ---- reductions ----------------------------------------------------------- */

/* Outputs per column block, and the sizes that switch to partial sums. */
#define REDUCE_BLOCK 64
#define SPLIT_MAX_OUT 256
#define SPLIT_CHUNK 4096
#define SPLIT_MAX_CHUNKS 64

typedef struct reduce_job {
	const float *src;
	int64_t outer, n, inner;
	float scale;
	float *dst;
	int acc;
	int64_t nblk;   /* column blocks per outer index */
	int64_t chunk;  /* rows per chunk (split mode) */
	double *part;   /* [chunks][outer * inner] (split mode) */
} reduce_job;

static void store(const reduce_job *j, int64_t at, double sum)
{
	float v = (float)(sum * (double)j->scale);
	if (j->acc)
		j->dst[at] += v;
	else
		j->dst[at] = v;
}

/* Sum of a contiguous run, four interleaved accumulators. */
static double sum_run(const float *p, int64_t n)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	int64_t k = 0;
	for (; k + 4 <= n; k += 4) {
		s0 += p[k];
		s1 += p[k + 1];
		s2 += p[k + 2];
		s3 += p[k + 3];
	}
	for (; k < n; k++)
		s0 += p[k];
	return (s0 + s1) + (s2 + s3);
}

/* inner == 1: outputs [lo, hi) each sum a contiguous run. */
static void reduce_rows(void *ctx, size_t lo, size_t hi)
{
	const reduce_job *j = ctx;
	for (size_t o = lo; o < hi; o++)
		store(j, (int64_t)o, sum_run(j->src + (int64_t)o * j->n, j->n));
}

/* One (outer index, column block): rows summed in order. */
static void reduce_block(void *ctx, size_t t)
{
	const reduce_job *j = ctx;
	int64_t o = (int64_t)t / j->nblk, c0 = ((int64_t)t % j->nblk) * REDUCE_BLOCK;
	int64_t w = j->inner - c0 < REDUCE_BLOCK ? j->inner - c0 : REDUCE_BLOCK;
	double acc[REDUCE_BLOCK] = {0};
	const float *p = j->src + o * j->n * j->inner + c0;
	for (int64_t k = 0; k < j->n; k++, p += j->inner)
		for (int64_t c = 0; c < w; c++)
			acc[c] += p[c];
	for (int64_t c = 0; c < w; c++)
		store(j, o * j->inner + c0 + c, acc[c]);
}

/* Split mode: chunk t of the reduced axis, for every output. */
static void reduce_chunk(void *ctx, size_t t)
{
	const reduce_job *j = ctx;
	int64_t k0 = (int64_t)t * j->chunk;
	int64_t k1 = k0 + j->chunk < j->n ? k0 + j->chunk : j->n;
	double *part = j->part + (int64_t)t * j->outer * j->inner;
	for (int64_t o = 0; o < j->outer; o++) {
		double *acc = part + o * j->inner;
		if (j->inner == 1) {
			acc[0] = sum_run(j->src + o * j->n + k0, k1 - k0);
			continue;
		}
		for (int64_t c = 0; c < j->inner; c++)
			acc[c] = 0;
		for (int64_t k = k0; k < k1; k++) {
			const float *p = j->src + (o * j->n + k) * j->inner;
			for (int64_t c = 0; c < j->inner; c++)
				acc[c] += p[c];
		}
	}
}

static int64_t split_chunks(int64_t outer, int64_t n, int64_t inner)
{
	if (outer * inner > SPLIT_MAX_OUT || n < 2 * SPLIT_CHUNK)
		return 0;
	int64_t c = n / SPLIT_CHUNK;
	return c > SPLIT_MAX_CHUNKS ? SPLIT_MAX_CHUNKS : c;
}

size_t kcv_ops_reduce_scratch(int64_t outer, int64_t n, int64_t inner)
{
	int64_t c = split_chunks(outer, n, inner);
	return (size_t)(c * outer * inner) * sizeof(double);
}

void kcv_ops_reduce(kcv_pool *pool, const float *src, int64_t outer, int64_t n, int64_t inner,
                    float scale, float *dst, int accumulate, void *scratch)
{
	reduce_job j = {src, outer, n, inner, scale, dst, accumulate, 0, 0, NULL};
	int64_t chunks = split_chunks(outer, n, inner);
	if (chunks > 0) {
		j.chunk = (n + chunks - 1) / chunks;
		j.part = scratch;
		kcv_pool_run(pool, (size_t)chunks, reduce_chunk, &j);
		for (int64_t i = 0; i < outer * inner; i++) {
			double s = 0;
			for (int64_t t = 0; t < chunks; t++)
				s += j.part[t * outer * inner + i];
			store(&j, i, s);
		}
	} else if (inner == 1) {
		size_t grain = (size_t)(n >= KCV_GRAIN ? 1 : KCV_GRAIN / n);
		kcv_ops_parallel(pool, (size_t)outer, grain, reduce_rows, &j);
	} else {
		j.nblk = (inner + REDUCE_BLOCK - 1) / REDUCE_BLOCK;
		kcv_pool_run(pool, (size_t)(outer * j.nblk), reduce_block, &j);
	}
}
