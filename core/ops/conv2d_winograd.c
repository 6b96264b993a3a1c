/* Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions (AVX-512): 16
 * products of [tiles, Cin] x [Cin, Cout] per 2x2 output tile instead of 36
 * multiply-adds per pixel and channel pair, 2.25x fewer FLOPs, in the three
 * passes of training:
 *
 *   forward  Y  = A^T [U . V] A,  U = G g G^T (weights), V = B^T d B (input)
 *   dX       the same on dY with the weights flipped and Cin, Cout swapped
 *            (a stride-1 transposed convolution is a convolution), padding
 *            2 - pad;
 *   dW       dU = sum over tiles of V^T dM with dM = A dY A^T, then
 *            dW = G^T dU G.
 *
 * Tiles (2x2 outputs, 4x4 inputs) run in blocks small enough that a block's
 * transformed input V [tiles][16][Cin] and products M [tiles][16][Cout] stay
 * in the core's L2 cache (tile-major: each transform writes or reads one
 * contiguous run per tile; product xi reads rows 16*Cin apart); the pool's
 * threads claim blocks one at a time. The products use kcv's GEMMs
 * (gemm.c). dW sums over the tiles in parts fixed by the shape, then adds
 * the parts in order, so results never depend on the thread count.
 *
 * F(2x2, 3x3)'s matrices have entries 0, +-1 and +-1/2: the transforms are
 * adds, and the results differ from the direct sum by rounding only (a few
 * ulp of the partial sums). */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "kernel-impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")

#define MAX_PARTS 16
#define BLOCK_FLOATS ((int64_t)131072) /* V + M of one block, floats */
#define MAX_TILES 240
#define DW_MAX_SPLITS 8
#define DW_MIN_SPLIT_TILES 128
#define PREFETCH_BYTES 1024

static inline __mmask16 tail_mask(int64_t n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

int kcv_conv_wino_ok(const kcv_conv_geom *g)
{
	return g->groups == 1 && g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 &&
	       g->dw == 1 && g->pt <= 2 && g->pl <= 2 && g->cin >= 16 && g->cout >= 16 &&
	       kcv_gemm_fast();
}

/* One Winograd convolution: input [n, ih, iw, ci] padded by (pt, pl) on the
 * top and left, output [n, oh, ow, co]. */
typedef struct wino_dims {
	int64_t n, ih, iw, ci, oh, ow, co, pt, pl;
	int64_t th, tw, tiles; /* tile rows, tile columns, all tiles */
	int64_t tb, blocks;    /* tiles per block, blocks */
} wino_dims;

static void dims_make(wino_dims *d, int64_t n, int64_t ih, int64_t iw, int64_t ci, int64_t oh,
                      int64_t ow, int64_t co, int64_t pt, int64_t pl)
{
	d->n = n, d->ih = ih, d->iw = iw, d->ci = ci, d->oh = oh, d->ow = ow, d->co = co;
	d->pt = pt, d->pl = pl;
	d->th = (oh + 1) / 2;
	d->tw = (ow + 1) / 2;
	d->tiles = n * d->th * d->tw;
	int64_t tb = BLOCK_FLOATS / (16 * (ci + co)) / 12 * 12; /* whole GEMM tiles */
	d->tb = tb < 12 ? 12 : tb > MAX_TILES ? MAX_TILES : tb;
	d->blocks = (d->tiles + d->tb - 1) / d->tb;
}

/* The forward convolution and dX as convolutions. */
static void dims_forward(const kcv_conv_geom *g, wino_dims *d)
{
	dims_make(d, g->n, g->h, g->w, g->cin, g->oh, g->ow, g->cout, g->pt, g->pl);
}

static void dims_dx(const kcv_conv_geom *g, wino_dims *d)
{
	dims_make(d, g->n, g->oh, g->ow, g->cout, g->h, g->w, g->cin, 2 - g->pt, 2 - g->pl);
}

static int64_t thread_floats(const wino_dims *d)
{
	return 16 * d->tb * (d->ci + d->co);
}

/* The layout: packed U (or dU parts), the unpacked transform, per-thread
 * blocks. */
typedef struct wino_plan {
	wino_dims d;
	int64_t splits, split_tiles; /* dW */
	size_t u_off, tmp_off, thread_off, thread_bytes, bytes;
} wino_plan;

static void plan_make(const kcv_conv_geom *g, int pass, wino_plan *p)
{
	memset(p, 0, sizeof(*p));
	if (pass == 1)
		dims_dx(g, &p->d);
	else
		dims_forward(g, &p->d);
	const wino_dims *d = &p->d;
	size_t f = sizeof(float), u;
	if (pass == 2) { /* dW: parts of dU */
		p->splits = kcv_max64(1, kcv_min64(DW_MAX_SPLITS, d->tiles / DW_MIN_SPLIT_TILES));
		p->split_tiles = (d->tiles + p->splits - 1) / p->splits;
		u = (size_t)(p->splits * 16 * d->ci * d->co) * f;
	} else {
		u = 16 * kcv_gemm_packed_b_floats(d->ci, d->co) * f;
	}
	p->u_off = 0;
	p->tmp_off = kcv_align64(u);
	p->thread_off = p->tmp_off + (pass == 2 ? 0 : kcv_align64((size_t)(16 * d->ci * d->co) * f));
	p->thread_bytes = kcv_align64((size_t)thread_floats(d) * f);
	p->bytes = p->thread_off + MAX_PARTS * p->thread_bytes;
}

size_t kcv_conv_wino_scratch(const kcv_conv_geom *g, int backward)
{
	wino_plan p;
	plan_make(g, 0, &p);
	if (!backward)
		return p.bytes;
	size_t b = 0;
	for (int pass = 1; pass <= 2; pass++) {
		plan_make(g, pass, &p);
		b = p.bytes > b ? p.bytes : b;
	}
	return b;
}

/* ---- transforms --------------------------------------------------------------- */

/* U[xi][i][o] = (G g G^T) for g = the 3x3 kernel of (i, o), rows i in
 * [lo, hi) of ci, o < co columns: w[ky][kx][i][o], or for dX (flip) the
 * flipped kernel with the channels swapped, w[2-ky][2-kx][o][i].
 * Vectorised over o. */
typedef struct wt_job {
	const float *w;
	int64_t cin, cout, ci, co;
	int flip;
	float *u;
} wt_job;

static void weights_transform(void *ctx, size_t lo, size_t hi)
{
	const wt_job *j = ctx;
	const float *w = j->w;
	const int64_t cin = j->cin, cout = j->cout, ci = j->ci, co = j->co;
	const int flip = j->flip;
	float *u = j->u;
	for (int64_t i = (int64_t)lo; i < (int64_t)hi; i++)
		for (int64_t o = 0; o < co; o += 16) {
			__mmask16 m = tail_mask(co - o);
			__m512 g[3][3];
			for (int ky = 0; ky < 3; ky++)
				for (int kx = 0; kx < 3; kx++) {
					if (!flip) { /* forward: w[ky][kx][i][o] */
						g[ky][kx] = _mm512_maskz_loadu_ps(m, w + ((ky * 3 + kx) * cin + i) * cout + o);
						continue;
					}
					/* dX: kernel (i = a cout index, o = a cin index), flipped:
					 * w[2-ky][2-kx][o][i], o strided by cout */
					const float *src = w + (((2 - ky) * 3 + (2 - kx)) * cin + o) * cout + i;
					__m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7,
					                                                  6, 5, 4, 3, 2, 1, 0),
					                                 _mm512_set1_epi32((int)cout));
					g[ky][kx] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, src, 4);
				}
			const __m512 h = _mm512_set1_ps(0.5f);
			__m512 p[4][3];
			for (int kx = 0; kx < 3; kx++) {
				p[0][kx] = g[0][kx];
				p[1][kx] = _mm512_mul_ps(h, _mm512_add_ps(_mm512_add_ps(g[0][kx], g[1][kx]), g[2][kx]));
				p[2][kx] = _mm512_mul_ps(h, _mm512_add_ps(_mm512_sub_ps(g[0][kx], g[1][kx]), g[2][kx]));
				p[3][kx] = g[2][kx];
			}
			for (int a = 0; a < 4; a++) {
				__m512 r[4];
				r[0] = p[a][0];
				r[1] = _mm512_mul_ps(h, _mm512_add_ps(_mm512_add_ps(p[a][0], p[a][1]), p[a][2]));
				r[2] = _mm512_mul_ps(h, _mm512_add_ps(_mm512_sub_ps(p[a][0], p[a][1]), p[a][2]));
				r[3] = p[a][2];
				for (int b = 0; b < 4; b++)
					_mm512_mask_storeu_ps(u + ((4 * a + b) * ci + i) * co + o, m, r[b]);
			}
		}
}

/* V = B^T x B for one tile and 16 channels, into v[4a+b] (stride vs). */
static inline __attribute__((always_inline)) void tile_in(const __m512 x[4][4], float *v,
                                                          int64_t vs, __mmask16 m)
{
	__m512 r[4][4]; /* B^T x */
#pragma GCC unroll 4
	for (int j = 0; j < 4; j++) {
		r[0][j] = _mm512_sub_ps(x[0][j], x[2][j]);
		r[1][j] = _mm512_add_ps(x[1][j], x[2][j]);
		r[2][j] = _mm512_sub_ps(x[2][j], x[1][j]);
		r[3][j] = _mm512_sub_ps(x[1][j], x[3][j]);
	}
#pragma GCC unroll 4
	for (int a = 0; a < 4; a++) { /* (B^T x) B */
		float *o = v + 4 * a * vs;
		_mm512_mask_storeu_ps(o, m, _mm512_sub_ps(r[a][0], r[a][2]));
		_mm512_mask_storeu_ps(o + vs, m, _mm512_add_ps(r[a][1], r[a][2]));
		_mm512_mask_storeu_ps(o + 2 * vs, m, _mm512_sub_ps(r[a][2], r[a][1]));
		_mm512_mask_storeu_ps(o + 3 * vs, m, _mm512_sub_ps(r[a][1], r[a][3]));
	}
}

/* V[xi][t][c] for the block's tiles [t0, t0 + nt). Pixels outside the
 * input read as 0 through the load masks (their addresses are clamped into
 * the image), so border tiles take the same straight path. */
static void input_transform(const wino_dims *d, const float *in, int64_t t0, int64_t nt, float *v)
{
	const int64_t ci = d->ci, vs = ci, row = d->iw * ci;
	kcv_pos3 pos = kcv_pos3_at(t0, d->th, d->tw);
	for (int64_t t = 0; t < nt; t++, kcv_pos3_next(&pos)) {
		int64_t iy0 = 2 * pos.y - d->pt, ix0 = 2 * pos.x - d->pl;
		const float *img = in + pos.n * d->ih * row;
		const float *rp[4];
		int64_t cx[4];
		__mmask16 rv[4], cv[4];
		for (int i = 0; i < 4; i++) {
			int64_t iy = iy0 + i, ix = ix0 + i;
			int oky = iy >= 0 && iy < d->ih, okx = ix >= 0 && ix < d->iw;
			rp[i] = img + (oky ? iy : 0) * row;
			rv[i] = oky ? 0xffff : 0;
			cx[i] = (okx ? ix : 0) * ci;
			cv[i] = okx ? 0xffff : 0;
		}
		for (int i = 0; i < 4; i++) /* the rows further on: they stream from memory */
			_mm_prefetch((const char *)((uintptr_t)(rp[i] + cx[3]) + PREFETCH_BYTES), _MM_HINT_T0);
		float *dst = v + t * 16 * ci;
		for (int64_t c = 0; c < ci; c += 16) {
			__mmask16 m = tail_mask(ci - c);
			__m512 x[4][4];
#pragma GCC unroll 4
			for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
				for (int j = 0; j < 4; j++)
					x[i][j] = _mm512_maskz_loadu_ps(m & rv[i] & cv[j], rp[i] + cx[j] + c);
			tile_in(x, dst + c, vs, m);
		}
	}
}

typedef struct out_args {
	const float *bias, *res;
	int relu, acc;
} out_args;

/* Y = A^T M A for the block's tiles, then bias, residual, ReLU (forward) or
 * the sum with what out holds (dX, accumulate); pixels past the output's
 * edge are masked off (their addresses clamped to the tile's first). */
static void output_transform(const wino_dims *d, const float *mm, int64_t t0, int64_t nt,
                             float *out, const out_args *oa)
{
	const int64_t co = d->co, ms = co;
	const __m512 zero = _mm512_setzero_ps();
	const float *bias = oa->bias, *res = oa->res;
	const int relu = oa->relu, acc = oa->acc;
	kcv_pos3 pos = kcv_pos3_at(t0, d->th, d->tw);
	for (int64_t t = 0; t < nt; t++, kcv_pos3_next(&pos)) {
		int64_t oy = 2 * pos.y, ox = 2 * pos.x;
		int64_t pix = (pos.n * d->oh + oy) * d->ow + ox;
		int64_t at[2][2];
		__mmask16 pv[2][2];
		for (int a = 0; a < 2; a++)
			for (int b = 0; b < 2; b++) {
				int ok = oy + a < d->oh && ox + b < d->ow;
				at[a][b] = (ok ? pix + a * d->ow + b : pix) * co;
				pv[a][b] = ok ? 0xffff : 0;
			}
		const float *src = mm + t * 16 * co;
		for (int64_t c = 0; c < co; c += 16) {
			__mmask16 m = tail_mask(co - c);
			__m512 x[4][4];
#pragma GCC unroll 4
			for (int a = 0; a < 4; a++)
#pragma GCC unroll 4
				for (int b = 0; b < 4; b++)
					x[a][b] = _mm512_maskz_loadu_ps(m, src + (4 * a + b) * ms + c);
			__m512 s[2][4]; /* A^T M */
#pragma GCC unroll 4
			for (int b = 0; b < 4; b++) {
				s[0][b] = _mm512_add_ps(_mm512_add_ps(x[0][b], x[1][b]), x[2][b]);
				s[1][b] = _mm512_sub_ps(_mm512_sub_ps(x[1][b], x[2][b]), x[3][b]);
			}
			__m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + c) : zero;
#pragma GCC unroll 2
			for (int a = 0; a < 2; a++) {
				__m512 y[2] = {_mm512_add_ps(_mm512_add_ps(s[a][0], s[a][1]), s[a][2]),
				               _mm512_sub_ps(_mm512_sub_ps(s[a][1], s[a][2]), s[a][3])};
#pragma GCC unroll 2
				for (int b = 0; b < 2; b++) {
					__mmask16 k = m & pv[a][b];
					float *o = out + at[a][b] + c;
					__m512 v = _mm512_add_ps(y[b], bv);
					if (res)
						v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res + at[a][b] + c));
					if (relu)
						v = _mm512_max_ps(v, zero);
					if (acc)
						v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, o));
					_mm512_mask_storeu_ps(o, k, v);
				}
			}
		}
	}
}

/* dM[xi][t][c] = A dY A^T for the block's tiles; outputs past the edge
 * count as 0. */
static void grad_transform(const wino_dims *d, const float *dy, int64_t t0, int64_t nt, float *dm)
{
	const int64_t co = d->co, ms = co;
	const __m512 zero = _mm512_setzero_ps();
	kcv_pos3 pos = kcv_pos3_at(t0, d->th, d->tw);
	for (int64_t t = 0; t < nt; t++, kcv_pos3_next(&pos)) {
		int64_t oy = 2 * pos.y, ox = 2 * pos.x;
		int64_t pix = (pos.n * d->oh + oy) * d->ow + ox;
		int64_t at[2][2];
		__mmask16 pv[2][2];
		for (int a = 0; a < 2; a++)
			for (int b = 0; b < 2; b++) {
				int ok = oy + a < d->oh && ox + b < d->ow;
				at[a][b] = (ok ? pix + a * d->ow + b : pix) * co;
				pv[a][b] = ok ? 0xffff : 0;
			}
		float *dst = dm + t * 16 * co;
		for (int64_t c = 0; c < co; c += 16) {
			__mmask16 m = tail_mask(co - c);
			__m512 g[2][2];
#pragma GCC unroll 2
			for (int a = 0; a < 2; a++)
#pragma GCC unroll 2
				for (int b = 0; b < 2; b++)
					g[a][b] = _mm512_maskz_loadu_ps(m & pv[a][b], dy + at[a][b] + c);
			__m512 r[4][2]; /* A g */
#pragma GCC unroll 2
			for (int b = 0; b < 2; b++) {
				r[0][b] = g[0][b];
				r[1][b] = _mm512_add_ps(g[0][b], g[1][b]);
				r[2][b] = _mm512_sub_ps(g[0][b], g[1][b]);
				r[3][b] = _mm512_sub_ps(zero, g[1][b]);
			}
#pragma GCC unroll 4
			for (int i = 0; i < 4; i++) { /* (A g) A^T */
				float *o = dst + 4 * i * ms + c;
				_mm512_mask_storeu_ps(o, m, r[i][0]);
				_mm512_mask_storeu_ps(o + ms, m, _mm512_add_ps(r[i][0], r[i][1]));
				_mm512_mask_storeu_ps(o + 2 * ms, m, _mm512_sub_ps(r[i][0], r[i][1]));
				_mm512_mask_storeu_ps(o + 3 * ms, m, _mm512_sub_ps(zero, r[i][1]));
			}
		}
	}
}

/* ---- forward and dX ----------------------------------------------------------- */

typedef struct conv_job {
	const wino_dims *d;
	const float *in, *up;
	float *out;
	char *bufs;
	size_t thread_bytes;
	out_args oa;
	int64_t parts;
	_Atomic size_t next; /* the next block to claim */
} conv_job;

/* Each part claims blocks one at a time until none is left, so a thread the
 * machine slows down takes fewer (blocks write disjoint outputs: the result
 * does not depend on who ran which). */
static void conv_part(void *ctx, size_t t)
{
	conv_job *j = ctx;
	const wino_dims *d = j->d;
	float *v = (float *)(j->bufs + t * j->thread_bytes);
	float *mm = v + 16 * d->tb * d->ci;
	const size_t ps = kcv_gemm_packed_b_floats(d->ci, d->co);
	for (size_t b; (b = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) <
	               (size_t)d->blocks;) {
		int64_t t0 = (int64_t)b * d->tb, nt = kcv_min64(d->tb, d->tiles - t0);
		input_transform(d, j->in, t0, nt, v);
		for (int xi = 0; xi < 16; xi++)
			kcv_gemm_nn(nt, d->co, d->ci, v + xi * d->ci, 16 * d->ci, NULL, 0, j->up + xi * ps,
			            mm + xi * d->co, 16 * d->co, 0);
		output_transform(d, mm, t0, nt, j->out, &j->oa);
	}
}

/* Transform and pack the weights, then run the blocks. */
static void run_conv(const kcv_conv_geom *g, const wino_plan *p, kcv_pool *pool, const float *in,
                     const float *w, int flip, float *out, const out_args *oa, char *scratch)
{
	const wino_dims *d = &p->d;
	float *up = (float *)(scratch + p->u_off), *tmp = (float *)(scratch + p->tmp_off);
	wt_job wj = {w, g->cin, g->cout, d->ci, d->co, flip, tmp};
	kcv_ops_parallel(pool, (size_t)d->ci, (size_t)(1 + 256 / d->co), weights_transform, &wj);
	const size_t ps = kcv_gemm_packed_b_floats(d->ci, d->co);
	kcv_gemm_pack_b_many(pool, tmp, d->co, d->ci * d->co, d->ci, d->co, up, (int64_t)ps, 16);
	conv_job j = {.d = d, .in = in, .up = up, .out = out, .bufs = scratch + p->thread_off,
	              .thread_bytes = p->thread_bytes, .oa = *oa,
	              .parts = kcv_ops_parts(pool, d->blocks, MAX_PARTS)};
	atomic_init(&j.next, 0);
	kcv_pool_run(pool, (size_t)j.parts, conv_part, &j);
}

void kcv_conv_wino_forward(const kcv_conv_geom *g, kcv_pool *pool, const float *x,
                           const float *w, const float *bias, const float *res, float *out,
                           void *scratch)
{
	wino_plan p;
	plan_make(g, 0, &p);
	out_args oa = {.bias = bias, .res = res, .relu = g->relu};
	run_conv(g, &p, pool, x, w, 0, out, &oa, scratch);
}

void kcv_conv_wino_dx(const kcv_conv_geom *g, kcv_pool *pool, const float *dy, const float *w,
                      float *dx, int accumulate, void *scratch)
{
	wino_plan p;
	plan_make(g, 1, &p);
	out_args oa = {.acc = accumulate};
	run_conv(g, &p, pool, dy, w, 1, dx, &oa, scratch);
}

/* ---- dW ------------------------------------------------------------------------ */

typedef struct dw_job {
	const wino_plan *p;
	const float *x, *dy;
	float *du, *dw;
	char *bufs;
	int acc;
	int64_t parts;
	_Atomic size_t next; /* the next split to claim */
} dw_job;

/* Parts claim splits one at a time (each split sums its own tiles into its
 * own dU part, added in split order afterwards: the same bits whoever ran
 * it). */
static void dw_part(void *ctx, size_t t)
{
	dw_job *j = ctx;
	const wino_plan *p = j->p;
	const wino_dims *d = &p->d;
	float *v = (float *)(j->bufs + t * p->thread_bytes);
	float *dm = v + 16 * d->tb * d->ci;
	for (size_t s; (s = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) <
	               (size_t)p->splits;) {
		float *du = j->du + (int64_t)s * 16 * d->ci * d->co;
		int64_t s0 = (int64_t)s * p->split_tiles, s1 = kcv_min64(s0 + p->split_tiles, d->tiles);
		if (s1 <= s0) {
			memset(du, 0, (size_t)(16 * d->ci * d->co) * sizeof(float));
			continue;
		}
		for (int64_t t0 = s0; t0 < s1; t0 += d->tb) {
			int64_t nt = kcv_min64(d->tb, s1 - t0);
			input_transform(d, j->x, t0, nt, v);
			grad_transform(d, j->dy, t0, nt, dm);
			for (int xi = 0; xi < 16; xi++)
				kcv_gemm_tn(nt, v + xi * d->ci, 16 * d->ci, d->ci, dm + xi * d->co, 16 * d->co, d->co,
				            du + xi * d->ci * d->co, d->co, 0, t0 == s0);
		}
	}
}

/* dW rows [lo, hi) (input channels) = G^T (sum of the parts of dU) G. */
static void dw_finish(void *ctx, size_t lo, size_t hi)
{
	const dw_job *j = ctx;
	const wino_dims *d = &j->p->d;
	const int64_t ci = d->ci, co = d->co, part = 16 * ci * co;
	const __m512 h = _mm512_set1_ps(0.5f);
	for (size_t i = lo; i < hi; i++)
		for (int64_t o = 0; o < co; o += 16) {
			__mmask16 m = tail_mask(co - o);
			__m512 u[4][4];
			for (int xi = 0; xi < 16; xi++) {
				const float *src = j->du + (xi * ci + (int64_t)i) * co + o;
				__m512 v = _mm512_maskz_loadu_ps(m, src);
				for (int64_t s = 1; s < j->p->splits; s++)
					v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, src + s * part));
				u[xi / 4][xi % 4] = v;
			}
			__m512 q[3][4]; /* G^T dU */
			for (int b = 0; b < 4; b++) {
				__m512 s12 = _mm512_mul_ps(h, _mm512_add_ps(u[1][b], u[2][b]));
				q[0][b] = _mm512_add_ps(u[0][b], s12);
				q[1][b] = _mm512_mul_ps(h, _mm512_sub_ps(u[1][b], u[2][b]));
				q[2][b] = _mm512_add_ps(s12, u[3][b]);
			}
			for (int ky = 0; ky < 3; ky++) { /* (G^T dU) G */
				__m512 s12 = _mm512_mul_ps(h, _mm512_add_ps(q[ky][1], q[ky][2]));
				__m512 r[3] = {_mm512_add_ps(q[ky][0], s12),
				               _mm512_mul_ps(h, _mm512_sub_ps(q[ky][1], q[ky][2])),
				               _mm512_add_ps(s12, q[ky][3])};
				for (int kx = 0; kx < 3; kx++) {
					float *dst = j->dw + ((ky * 3 + kx) * ci + (int64_t)i) * co + o;
					__m512 v = r[kx];
					if (j->acc)
						v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, dst));
					_mm512_mask_storeu_ps(dst, m, v);
				}
			}
		}
}

void kcv_conv_wino_dw(const kcv_conv_geom *g, kcv_pool *pool, const float *x, const float *dy,
                      float *dw, int accumulate, void *scratch)
{
	wino_plan p;
	plan_make(g, 2, &p);
	char *sp = scratch;
	dw_job j = {.p = &p, .x = x, .dy = dy, .du = (float *)(sp + p.u_off), .dw = dw,
	            .bufs = sp + p.thread_off, .acc = accumulate,
	            .parts = kcv_ops_parts(pool, p.splits, MAX_PARTS)};
	atomic_init(&j.next, 0);
	kcv_pool_run(pool, (size_t)j.parts, dw_part, &j);
	kcv_ops_parallel(pool, (size_t)g->cin, 16, dw_finish, &j);
}

#pragma GCC pop_options

#else /* no AVX-512 on this compiler or architecture */

int kcv_conv_wino_ok(const kcv_conv_geom *g)
{
	(void)g;
	return 0;
}

size_t kcv_conv_wino_scratch(const kcv_conv_geom *g, int backward)
{
	(void)g, (void)backward;
	return 0;
}

void kcv_conv_wino_forward(const kcv_conv_geom *g, kcv_pool *pool, const float *x,
                           const float *w, const float *bias, const float *res, float *out,
                           void *scratch)
{
	(void)g, (void)pool, (void)x, (void)w, (void)bias, (void)res, (void)out, (void)scratch;
}

void kcv_conv_wino_dx(const kcv_conv_geom *g, kcv_pool *pool, const float *dy, const float *w,
                      float *dx, int accumulate, void *scratch)
{
	(void)g, (void)pool, (void)dy, (void)w, (void)dx, (void)accumulate, (void)scratch;
}

void kcv_conv_wino_dw(const kcv_conv_geom *g, kcv_pool *pool, const float *x, const float *dy,
                      float *dw, int accumulate, void *scratch)
{
	(void)g, (void)pool, (void)x, (void)dy, (void)dw, (void)accumulate, (void)scratch;
}
#endif
