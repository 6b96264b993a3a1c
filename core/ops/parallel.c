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

/* ---- streaming elementwise passes ------------------------------------------ */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KCV_AVX512_KERNELS 1
#define AVX512 __attribute__((target("avx512f")))

static inline __mmask16 AVX512 tail_mask(size_t n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}
#endif

typedef struct stream_job {
	float *dst;
	const float *a, *b;
	float scale;
	int acc;
	int avx512;
} stream_job;

#ifdef KCV_AVX512_KERNELS
AVX512 static void scale_avx512(const stream_job *j, size_t lo, size_t hi)
{
	const __m512 k = _mm512_set1_ps(j->scale);
	for (size_t i = lo; i < hi; i += 16) {
		__mmask16 m = tail_mask(hi - i);
		__m512 v = _mm512_mul_ps(k, _mm512_maskz_loadu_ps(m, j->a + i));
		if (j->acc)
			v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, j->dst + i), v);
		_mm512_mask_storeu_ps(j->dst + i, m, v);
	}
}

AVX512 static void relu_avx512(const stream_job *j, size_t lo, size_t hi)
{
	const __m512 zero = _mm512_setzero_ps();
	for (size_t i = lo; i < hi; i += 16) {
		__mmask16 m = tail_mask(hi - i);
		/* max(x, 0) gives 0 for NaN and -0, as x > 0 ? x : 0 */
		_mm512_mask_storeu_ps(j->dst + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, j->a + i), zero));
	}
}

AVX512 static void relu_grad_avx512(const stream_job *j, size_t lo, size_t hi)
{
	const __m512 zero = _mm512_setzero_ps();
	for (size_t i = lo; i < hi; i += 16) {
		__mmask16 m = tail_mask(hi - i);
		__mmask16 pos = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, j->a + i), zero,
		                                        _CMP_GT_OQ);
		__m512 v = _mm512_maskz_loadu_ps(pos, j->b + i);
		if (j->acc)
			v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, j->dst + i), v);
		_mm512_mask_storeu_ps(j->dst + i, m, v);
	}
}
#endif

static void scale_range(void *ctx, size_t lo, size_t hi)
{
	const stream_job *j = ctx;
	float *restrict d = j->dst;
	const float *restrict s = j->a;
	const float k = j->scale;
	if (!j->acc && k == 1.0f) {
		memcpy(d + lo, s + lo, (hi - lo) * sizeof(float));
		return;
	}
#ifdef KCV_AVX512_KERNELS
	if (j->avx512) {
		scale_avx512(j, lo, hi);
		return;
	}
#endif
	if (j->acc) {
		for (size_t i = lo; i < hi; i++)
			d[i] += k * s[i];
	} else {
		for (size_t i = lo; i < hi; i++)
			d[i] = k * s[i];
	}
}

static void relu_range(void *ctx, size_t lo, size_t hi)
{
	const stream_job *j = ctx;
#ifdef KCV_AVX512_KERNELS
	if (j->avx512) {
		relu_avx512(j, lo, hi);
		return;
	}
#endif
	float *restrict d = j->dst;
	const float *restrict x = j->a;
	for (size_t i = lo; i < hi; i++) {
		float v = x[i];
		d[i] = v > 0.0f ? v : 0.0f;
	}
}

static void relu_grad_range(void *ctx, size_t lo, size_t hi)
{
	const stream_job *j = ctx;
#ifdef KCV_AVX512_KERNELS
	if (j->avx512) {
		relu_grad_avx512(j, lo, hi);
		return;
	}
#endif
	float *restrict d = j->dst;
	const float *restrict y = j->a, *restrict dy = j->b;
	for (size_t i = lo; i < hi; i++) {
		float v = y[i] > 0.0f ? dy[i] : 0.0f;
		d[i] = j->acc ? d[i] + v : v;
	}
}

static int fast_kernels(void)
{
	return kcv_gemm_fast();
}

void kcv_ops_scale(kcv_pool *pool, float *dst, const float *src, size_t n, float scale,
                   int accumulate)
{
	stream_job j = {dst, src, NULL, scale, accumulate, fast_kernels()};
	kcv_ops_parallel(pool, n, 4 * KCV_GRAIN, scale_range, &j);
}

void kcv_ops_relu(kcv_pool *pool, float *dst, const float *src, size_t n)
{
	stream_job j = {dst, src, NULL, 0.0f, 0, fast_kernels()};
	kcv_ops_parallel(pool, n, 4 * KCV_GRAIN, relu_range, &j);
}

void kcv_ops_relu_grad(kcv_pool *pool, float *dx, const float *y, const float *dy, size_t n,
                       int accumulate)
{
	stream_job j = {dx, y, dy, 0.0f, accumulate, fast_kernels()};
	kcv_ops_parallel(pool, n, 4 * KCV_GRAIN, relu_grad_range, &j);
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
