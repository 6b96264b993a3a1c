/* conv2d on kcv's AVX-512 GEMMs (gemm.c): the path of ungrouped
 * convolutions where the CPU has AVX-512; conv2d.c keeps the OpenBLAS path
 * for the rest.
 *
 * Everything runs in blocks of output rows small enough that a block's
 * column matrix stays in the core's L2 cache between being built and being
 * multiplied: each of the pool's threads takes a contiguous share of the
 * blocks and owns a column buffer.
 *
 * Forward: per block, im2col (none for a 1x1 stride-1 unpadded
 * convolution), C = col x W with W packed once, then bias, residual and
 * ReLU while the rows are hot.
 *
 * dX: the transposed convolution, as a gather instead of col2im's scatter.
 * The input pixels split into stride_h x stride_w phases (one for stride 1);
 * within a phase, every pixel reads the same kernel taps, so
 *   dX[phase rows] = gather(dY)[rows, taps*Cout] x W_phase^T[taps*Cout, Cin]
 * with W_phase^T packed once per phase. Each dX pixel is written by exactly
 * one row of one product: no races, no col2im, no zeroing pass.
 *
 * dW: col^T dY, a sum over the output rows (gemm.c's TN kernel). The rows
 * split into a number of parts fixed by the shape, each summed into its own
 * partial dW, then the partials are added in order; a large K splits into
 * slices. The split never depends on the thread count, so results are
 * bit-identical for any number of threads.
 *
 * A fused ReLU masks dY once into a scratch buffer that dW, dX, the bias and
 * the residual all read. The 3x3 stride-1 convolutions run on Winograd
 * F(2x2, 3x3) instead (conv2d_winograd.c), with the same masked dY, bias and
 * residual passes. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "kernel-impl.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")
/* keep the short copies inline: no memcpy/memset calls for 64-byte runs */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#define MAX_PARTS 16            /* threads that get their own buffers */
#define COLBUF ((int64_t)65536) /* floats of one thread's column block */
#define MAX_BLOCK_ROWS 1008     /* a multiple of 12 */
#define DIRECT_ROWS 240         /* rows per block without a column matrix */
#define DW_MAX_SPLITS 8
#define DW_MIN_SPLIT_ROWS 256
#define DW_TASKS 8            /* aim: this many dW tasks (slices x splits) */
#define DB_CHUNK 1024         /* rows per partial bias sum */
#define MAX_TAPS 16           /* kernel height or width of the fast path */
#define PREFETCH_BYTES 1024   /* how far ahead im2col prefetches its source rows */
#define MAX_STRIDE 4

int kcv_conv_fast_ok(const kcv_conv_geom *g)
{
	return g->groups == 1 && g->kh <= MAX_TAPS && g->kw <= MAX_TAPS && g->sh <= MAX_STRIDE &&
	       g->sw <= MAX_STRIDE && kcv_gemm_fast();
}

/* ---- small copies ------------------------------------------------------- */

static inline __mmask16 tail_mask(int64_t n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

static inline void copy_floats(float *restrict dst, const float *restrict src, int64_t n)
{
	int64_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
	if (i < n) {
		__mmask16 m = tail_mask(n - i);
		_mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
	}
}

static inline void add_floats(float *restrict dst, const float *restrict src, int64_t n)
{
	int64_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
	if (i < n) {
		__mmask16 m = tail_mask(n - i);
		__m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + i), _mm512_maskz_loadu_ps(m, src + i));
		_mm512_mask_storeu_ps(dst + i, m, v);
	}
}

static inline void zero_floats(float *dst, int64_t n)
{
	int64_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i, _mm512_setzero_ps());
	if (i < n)
		_mm512_mask_storeu_ps(dst + i, tail_mask(n - i), _mm512_setzero_ps());
}

/* Hint the cache at what a streaming read will reach next (a hint: the
 * address may lie past the data). */
static inline void prefetch_ahead(const float *p)
{
	_mm_prefetch((const char *)((uintptr_t)p + PREFETCH_BYTES), _MM_HINT_T0);
}

/* ---- block sizes and the scratch layout ---------------------------------- */

/* Rows per block for a column matrix of k floats a row: a multiple of the
 * GEMM kernels' 12 rows. */
static int64_t block_rows(int64_t k)
{
	int64_t r = COLBUF / k / 12 * 12;
	return r < 12 ? 12 : r > MAX_BLOCK_ROWS ? MAX_BLOCK_ROWS : r;
}

/* One phase of dX: the taps that reach pixels (py + sh*t, px + sw*u), and
 * where (oy = t + offy, ox = u + offx) they read dY. Taps are in order of
 * ascending offset, so neighbouring taps read neighbouring pixels. */
typedef struct dx_phase {
	int py, px, ny, nx;
	int ky[MAX_TAPS], kx[MAX_TAPS];
	int64_t offy[MAX_TAPS], offx[MAX_TAPS];
	int contiguous;           /* offx consecutive: one copy per tap row */
	int64_t t, u, rows;       /* T, U, N*T*U */
	int64_t kp;               /* taps * Cout: the gathered row */
	int64_t rb, blocks;       /* rows per block, blocks */
	int64_t packed;           /* floats into the packed weights */
} dx_phase;

/* Floor division and modulo for a possibly negative a (b > 0). */
static int64_t fdiv(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static void taps_of(int64_t p, int64_t pad, int64_t k, int64_t d, int64_t s, int *n, int *tap,
                    int64_t *off)
{
	*n = 0;
	for (int64_t q = k - 1; q >= 0; q--) { /* descending q: ascending offsets */
		int64_t num = p + pad - q * d;
		if (num - fdiv(num, s) * s != 0)
			continue;
		tap[*n] = (int)q;
		off[*n] = fdiv(num, s);
		(*n)++;
	}
}

typedef struct fwd_plan {
	int64_t rb, blocks, buf; /* rows per block, blocks, floats per thread */
	size_t wp_off, col_off, bytes;
} fwd_plan;

static void fwd_plan_make(const kcv_conv_geom *g, fwd_plan *p)
{
	p->rb = g->direct ? DIRECT_ROWS : block_rows(g->k);
	p->blocks = (g->m + p->rb - 1) / p->rb;
	p->buf = g->direct ? 0 : p->rb * g->k;
	p->wp_off = 0;
	p->col_off = kcv_align64(kcv_gemm_packed_b_floats(g->k, g->cout) * sizeof(float));
	p->bytes = p->col_off + MAX_PARTS * kcv_align64((size_t)p->buf * sizeof(float));
}

typedef struct bwd_plan {
	/* dX */
	int nphases;
	dx_phase ph[MAX_STRIDE * MAX_STRIDE];
	int64_t kp_max, dx_tasks;
	/* dW */
	int64_t kslice, nslices, splits, split_rows, rbw, dw_tasks;
	int dw_trans; /* Cout <= 16: vectors along K, C transposed */
	/* the bias */
	int64_t db_chunks;
	/* per-thread floats: column block, dX block */
	int64_t buf, dxbuf;
	size_t mask_off, db_off, common_end, wp_off, wtmp_off, part_off, thread_off, bytes;
} bwd_plan;

static void bwd_plan_make(const kcv_conv_geom *g, bwd_plan *p)
{
	memset(p, 0, sizeof(*p));
	/* dX phases */
	int64_t packed = 0;
	p->nphases = (int)(g->sh * g->sw);
	for (int i = 0; i < p->nphases; i++) {
		dx_phase *f = &p->ph[i];
		f->py = (int)(i / g->sw);
		f->px = (int)(i % g->sw);
		taps_of(f->py, g->pt, g->kh, g->dh, g->sh, &f->ny, f->ky, f->offy);
		taps_of(f->px, g->pl, g->kw, g->dw, g->sw, &f->nx, f->kx, f->offx);
		f->contiguous = 1;
		for (int b = 1; b < f->nx; b++)
			if (f->offx[b] != f->offx[b - 1] + 1)
				f->contiguous = 0;
		f->t = f->py < g->h ? (g->h - f->py + g->sh - 1) / g->sh : 0;
		f->u = f->px < g->w ? (g->w - f->px + g->sw - 1) / g->sw : 0;
		f->rows = g->n * f->t * f->u;
		f->kp = (int64_t)f->ny * f->nx * g->cout;
		f->rb = f->kp ? block_rows(f->kp) : MAX_BLOCK_ROWS;
		f->blocks = (f->rows + f->rb - 1) / f->rb;
		f->packed = packed;
		packed += (int64_t)kcv_gemm_packed_b_floats(f->kp, g->cin);
		p->kp_max = kcv_max64(p->kp_max, f->kp);
		p->dx_tasks += f->blocks;
	}
	int strided = p->nphases > 1;
	int64_t rbx = 0;
	for (int i = 0; i < p->nphases; i++)
		rbx = kcv_max64(rbx, p->ph[i].rb);
	p->dxbuf = strided ? rbx * g->cin : 0;
	p->buf = 0;
	for (int i = 0; i < p->nphases; i++)
		p->buf = kcv_max64(p->buf, p->ph[i].rb * p->ph[i].kp);
	/* dW: slices of K (so a slice of dW stays in cache), splits of the rows */
	p->dw_trans = g->cout <= 16;
	int64_t per = COLBUF / kcv_max64(g->cout, 1) / 12 * 12;
	p->kslice = per < 12 ? 12 : per >= g->k ? g->k : per;
	p->nslices = (g->k + p->kslice - 1) / p->kslice;
	int64_t want = (DW_TASKS + p->nslices - 1) / p->nslices;
	p->splits = kcv_max64(1, kcv_min64(kcv_min64(want, DW_MAX_SPLITS), g->m / DW_MIN_SPLIT_ROWS));
	p->split_rows = (g->m + p->splits - 1) / p->splits;
	p->rbw = kcv_min64(MAX_BLOCK_ROWS, kcv_max64(16, COLBUF / p->kslice));
	p->dw_tasks = p->nslices * p->splits;
	if (!g->direct)
		p->buf = kcv_max64(p->buf, p->rbw * p->kslice);
	/* the bias */
	p->db_chunks = (g->m + DB_CHUNK - 1) / DB_CHUNK;
	/* the layout */
	size_t off = 0, f = sizeof(float);
	p->mask_off = off;
	off += g->relu ? kcv_align64((size_t)(g->m * g->cout) * f) : 0;
	p->db_off = off;
	off += g->bias ? kcv_align64((size_t)(p->db_chunks * g->cout) * sizeof(double)) : 0;
	p->common_end = off; /* what follows serves the im2col path only */
	p->wp_off = off;
	off += kcv_align64((size_t)packed * f);
	p->wtmp_off = off;
	off += kcv_align64((size_t)(p->kp_max * g->cin) * f);
	p->part_off = off;
	off += p->splits > 1 ? kcv_align64((size_t)(p->splits * g->k * g->cout) * f) : 0;
	p->thread_off = off;
	off += MAX_PARTS * (kcv_align64((size_t)p->buf * f) + kcv_align64((size_t)p->dxbuf * f));
	p->bytes = off;
}

size_t kcv_conv_fast_scratch(const kcv_conv_geom *g, int backward)
{
	int wino = kcv_conv_wino_ok(g);
	if (!backward) {
		if (wino)
			return kcv_conv_wino_scratch(g, 0);
		fwd_plan p;
		fwd_plan_make(g, &p);
		return p.bytes;
	}
	bwd_plan p;
	bwd_plan_make(g, &p);
	return wino ? p.common_end + kcv_conv_wino_scratch(g, 1) : p.bytes;
}

/* ---- im2col ---------------------------------------------------------------- */

/* Columns [k0, k1) of the column rows [r0, r0 + rows) into dst (row stride
 * k1 - k0). */
static void im2col(const kcv_conv_geom *g, const float *x, int64_t r0, int64_t rows, int64_t k0,
                   int64_t k1, float *dst)
{
	const int64_t cin = g->cin, kl = k1 - k0;
	const int whole = k0 == 0 && k1 == g->k && g->dw == 1;
	kcv_pos3 pos = kcv_pos3_at(r0, g->oh, g->ow);
	for (int64_t rr = 0; rr < rows; rr++, kcv_pos3_next(&pos)) {
		int64_t n = pos.n, oy = pos.y, ox = pos.x;
		int64_t iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
		const float *img = x + n * g->h * g->w * cin;
		float *d = dst + rr * kl;
		if (whole) {
			for (int64_t ky = 0; ky < g->kh; ky++, d += g->kw * cin) {
				int64_t iy = iy0 + ky * g->dh;
				if (iy < 0 || iy >= g->h) {
					zero_floats(d, g->kw * cin);
					continue;
				}
				const float *row = img + iy * g->w * cin;
				/* the row further on: the source streams from memory */
				prefetch_ahead(row + (ix0 + g->kw) * cin);
				if (ix0 >= 0 && ix0 + g->kw <= g->w) {
					copy_floats(d, row + ix0 * cin, g->kw * cin);
					continue;
				}
				for (int64_t kx = 0; kx < g->kw; kx++) {
					int64_t ix = ix0 + kx;
					if (ix < 0 || ix >= g->w)
						zero_floats(d + kx * cin, cin);
					else
						copy_floats(d + kx * cin, row + ix * cin, cin);
				}
			}
			continue;
		}
		for (int64_t q = k0 / cin; q * cin < k1; q++) {
			int64_t ky = q / g->kw, kx = q % g->kw;
			int64_t c0 = kcv_max64(k0 - q * cin, 0), c1 = kcv_min64(k1 - q * cin, cin);
			int64_t iy = iy0 + ky * g->dh, ix = ix0 + kx * g->dw;
			if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
				zero_floats(d, c1 - c0);
			else
				copy_floats(d, img + (iy * g->w + ix) * cin + c0, c1 - c0);
			d += c1 - c0;
		}
	}
}

/* ---- forward -------------------------------------------------------------- */

/* out rows (+ bias) (+ residual), then ReLU. */
static void epilogue(float *out, int64_t rows, int64_t cout, const float *bias, const float *res,
                     int relu)
{
	const __m512 zero = _mm512_setzero_ps();
	for (int64_t r = 0; r < rows; r++) {
		float *o = out + r * cout;
		const float *q = res ? res + r * cout : NULL;
		for (int64_t c = 0; c < cout; c += 16) {
			__mmask16 m = tail_mask(cout - c);
			__m512 v = _mm512_maskz_loadu_ps(m, o + c);
			if (bias)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + c));
			if (q)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, q + c));
			if (relu)
				v = _mm512_max_ps(v, zero);
			_mm512_mask_storeu_ps(o + c, m, v);
		}
	}
}

typedef struct fwd_job {
	const kcv_conv_geom *g;
	const fwd_plan *p;
	const float *x, *bias, *res, *wp;
	float *out;
	char *bufs;
	int64_t parts;
	_Atomic size_t next; /* the next block to claim */
} fwd_job;

/* Each part claims blocks one at a time until none is left, so a thread the
 * machine slows down takes fewer (blocks write disjoint rows: the result does
 * not depend on who ran which). */
static void fwd_part(void *ctx, size_t t)
{
	fwd_job *j = ctx;
	const kcv_conv_geom *g = j->g;
	float *col = (float *)(j->bufs + t * kcv_align64((size_t)j->p->buf * sizeof(float)));
	for (size_t b; (b = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) <
	               (size_t)j->p->blocks;) {
		int64_t r0 = (int64_t)b * j->p->rb, rows = kcv_min64(j->p->rb, g->m - r0);
		const float *a = j->x + r0 * g->cin;
		int64_t lda = g->cin;
		if (!g->direct) {
			im2col(g, j->x, r0, rows, 0, g->k, col);
			a = col;
			lda = g->k;
		}
		float *o = j->out + r0 * g->cout;
		kcv_gemm_nn(rows, g->cout, g->k, a, lda, NULL, 0, j->wp, o, g->cout, 0);
		if (j->bias || j->res || g->relu)
			epilogue(o, rows, g->cout, j->bias, j->res ? j->res + r0 * g->cout : NULL, g->relu);
	}
}

/* ---- forward: 1x1 from image channels to few channels ------------------------
 *
 * 1x1 convolutions of at most 4 input channels into at most 32 (the input
 * normalisation's 3 -> 3): a GEMM would fill a few of its 32 lanes per row,
 * so each output pixel is one or two vectors of Cout accumulators instead
 * (1.2-1.4x faster on the quickstart's input; a 3x3 stem convolution from 3
 * channels was 1.15x slower this way than im2col + GEMM, and 8 pixels at a
 * time sharing the weight loads no faster than one), summed over the
 * channels in order
 * (bias, residual and ReLU after: the same roundings as the GEMM path's
 * epilogue). Rows are independent: any thread count gives the same bits. */

#define SMALL_MAX_CIN 4
#define SMALL_MAX_COUT 32

static int small_ok(const kcv_conv_geom *g)
{
	return g->kh == 1 && g->kw == 1 && g->cin <= SMALL_MAX_CIN && g->cout <= SMALL_MAX_COUT;
}

static void small_rows(void *ctx, size_t lo, size_t hi)
{
	const fwd_job *j = ctx;
	const kcv_conv_geom *g = j->g;
	const int64_t cin = g->cin, cout = g->cout;
	const __mmask16 mk[2] = {tail_mask(cout), cout > 16 ? tail_mask(cout - 16) : 0};
	const __m512 zero = _mm512_setzero_ps();
	kcv_pos3 pos = kcv_pos3_at((int64_t)lo, g->oh, g->ow);
	for (int64_t r = (int64_t)lo; r < (int64_t)hi; r++, kcv_pos3_next(&pos)) {
		__m512 acc[2] = {zero, zero};
		int64_t iy = pos.y * g->sh - g->pt, ix = pos.x * g->sw - g->pl;
		if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) { /* else a padding pixel */
			const float *xp = j->x + ((pos.n * g->h + iy) * g->w + ix) * cin;
			for (int64_t ci = 0; ci < cin; ci++) {
				__m512 xv = _mm512_set1_ps(xp[ci]);
				for (int h = 0; h < 2 && mk[h]; h++)
					acc[h] = _mm512_fmadd_ps(
						xv, _mm512_maskz_loadu_ps(mk[h], j->wp + ci * cout + 16 * h), acc[h]);
			}
		}
		float *o = j->out + r * cout;
		const float *q = j->res ? j->res + r * cout : NULL;
		for (int h = 0; h < 2 && mk[h]; h++) {
			__m512 v = acc[h];
			if (j->bias)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk[h], j->bias + 16 * h));
			if (q)
				v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk[h], q + 16 * h));
			if (g->relu)
				v = _mm512_max_ps(v, zero);
			/* masked stores are slow on some CPUs (AMD Zen 4): a full vector
			 * spills into the next pixels' channels, which their own stores
			 * overwrite (pixels go in order); masked only where the spill
			 * would leave this range (another thread's) */
			if (r * cout + 16 * (h + 1) <= (int64_t)hi * cout)
				_mm512_storeu_ps(o + 16 * h, v);
			else
				_mm512_mask_storeu_ps(o + 16 * h, mk[h], v);
		}
	}
}

void kcv_conv_fast_forward(const kcv_conv_geom *g, const kcv_op_call *c)
{
	if (small_ok(g)) {
		fwd_job j = {.g = g, .x = c->in[0], .bias = g->bias ? c->in[2] : NULL,
		             .res = g->res >= 0 ? c->in[g->res] : NULL, .wp = c->in[1], .out = c->out};
		kcv_ops_parallel(c->pool, (size_t)g->m, (size_t)(1 + 4096 / (g->k * g->cout)),
		                 small_rows, &j);
		return;
	}
	if (kcv_conv_wino_ok(g)) {
		kcv_conv_wino_forward(g, c->pool, c->in[0], c->in[1], g->bias ? c->in[2] : NULL,
		                      g->res >= 0 ? c->in[g->res] : NULL, c->out, c->scratch);
		return;
	}
	fwd_plan p;
	fwd_plan_make(g, &p);
	char *sp = c->scratch;
	float *wp = (float *)(sp + p.wp_off);
	kcv_gemm_pack_b_many(c->pool, c->in[1], g->cout, 0, g->k, g->cout, wp, 0, 1);
	fwd_job j = {.g = g, .p = &p, .x = c->in[0], .bias = g->bias ? c->in[2] : NULL,
	             .res = g->res >= 0 ? c->in[g->res] : NULL, .wp = wp, .out = c->out,
	             .bufs = sp + p.col_off, .parts = kcv_ops_parts(c->pool, p.blocks, MAX_PARTS)};
	atomic_init(&j.next, 0);
	kcv_pool_run(c->pool, (size_t)j.parts, fwd_part, &j);
}

/* ---- backward: the masked dY, the bias and the residual -------------------- */

typedef struct bwd_job {
	const kcv_conv_geom *g;
	const bwd_plan *p;
	const float *x, *w, *y, *dy0; /* forward input, weights, output, incoming dY */
	const float *dy;              /* dY after the ReLU mask */
	const float *wp;              /* packed W_phase^T */
	float *dx, *dw, *mask, *part;
	double *dbpart;
	char *bufs;
	int acc_dx, acc_dw;
	int64_t parts;
	_Atomic size_t next; /* dW: the next task to claim */
} bwd_job;

static void mask_range(void *ctx, size_t lo, size_t hi)
{
	const bwd_job *j = ctx;
	const __m512 zero = _mm512_setzero_ps();
	for (size_t i = lo; i < hi; i += 16) {
		__mmask16 m = tail_mask((int64_t)(hi - i));
		__m512 y = _mm512_maskz_loadu_ps(m, j->y + i);
		__mmask16 pos = _mm512_mask_cmp_ps_mask(m, y, zero, _CMP_GT_OQ);
		_mm512_mask_storeu_ps(j->mask + i, m, _mm512_maskz_loadu_ps(pos, j->dy0 + i));
	}
}

/* Column sums of dY over chunk t's rows, in double. */
static void db_chunk(void *ctx, size_t t)
{
	const bwd_job *j = ctx;
	const int64_t cout = j->g->cout;
	int64_t r0 = (int64_t)t * DB_CHUNK, r1 = kcv_min64(r0 + DB_CHUNK, j->g->m);
	double *acc = j->dbpart + (int64_t)t * cout;
	memset(acc, 0, (size_t)cout * sizeof(double));
	for (int64_t r = r0; r < r1; r++) {
		const float *d = j->dy + r * cout;
		for (int64_t c = 0; c < cout; c += 8) {
			__mmask8 m = (__mmask8)(cout - c >= 8 ? 0xff : (1u << (cout - c)) - 1);
			__m512d a = _mm512_maskz_loadu_pd(m, acc + c);
			__m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, d + c));
			_mm512_mask_storeu_pd(acc + c, m, _mm512_add_pd(a, v));
		}
	}
}

/* ---- backward: dW ------------------------------------------------------------ */

/* Parts claim (split, column slice) tasks one at a time: each task writes
 * its own columns of its own split, so who ran it does not change a bit. */
static void dw_part(void *ctx, size_t t)
{
	bwd_job *j = ctx;
	const kcv_conv_geom *g = j->g;
	const bwd_plan *p = j->p;
	float *col = (float *)(j->bufs + t * (kcv_align64((size_t)p->buf * sizeof(float)) +
	                                      kcv_align64((size_t)p->dxbuf * sizeof(float))));
	for (size_t task; (task = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) <
	                  (size_t)p->dw_tasks;) {
		int64_t s = (int64_t)task / p->nslices, sl = (int64_t)task % p->nslices;
		int64_t k0 = sl * p->kslice, k1 = kcv_min64(k0 + p->kslice, g->k), kl = k1 - k0;
		int64_t m0 = s * p->split_rows, m1 = kcv_min64(m0 + p->split_rows, g->m);
		float *dst = p->splits > 1 ? j->part + s * g->k * g->cout : j->dw;
		int first = p->splits > 1 || !j->acc_dw;
		if (m1 <= m0 && first) { /* an empty split (tiny inputs): zeros */
			for (int64_t k = k0; k < k1; k++)
				zero_floats(dst + k * g->cout, g->cout);
			continue;
		}
		for (int64_t r0 = m0; r0 < m1; r0 += p->rbw, first = 0) {
			int64_t rows = kcv_min64(p->rbw, m1 - r0);
			const float *a = j->x + r0 * g->cin + k0;
			int64_t lda = g->cin;
			if (!g->direct) {
				im2col(g, j->x, r0, rows, k0, k1, col);
				a = col;
				lda = kl;
			}
			const float *d = j->dy + r0 * g->cout;
			if (p->dw_trans)
				kcv_gemm_tn(rows, d, g->cout, g->cout, a, lda, kl, dst + k0 * g->cout, g->cout, 1,
				            first);
			else
				kcv_gemm_tn(rows, a, lda, kl, d, g->cout, g->cout, dst + k0 * g->cout, g->cout, 0,
				            first);
		}
	}
}

static void dw_reduce(void *ctx, size_t lo, size_t hi)
{
	const bwd_job *j = ctx;
	const int64_t n = j->g->k * j->g->cout;
	for (size_t i = lo; i < hi; i += 16) {
		__mmask16 m = tail_mask((int64_t)(hi - i));
		__m512 v = j->acc_dw ? _mm512_maskz_loadu_ps(m, j->dw + i) : _mm512_setzero_ps();
		for (int64_t s = 0; s < j->p->splits; s++)
			v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, j->part + s * n + i));
		_mm512_mask_storeu_ps(j->dw + i, m, v);
	}
}

/* ---- backward: dX ------------------------------------------------------------ */

/* W_phase^T [taps*Cout, Cin] of every phase, packed. */
typedef struct wt_job {
	const kcv_conv_geom *g;
	const dx_phase *f;
	const float *w;
	float *tmp;
} wt_job;

/* Rows [lo, hi) of W_phase^T: row (tap a, tap b, co) holds w[ky][kx][:][co]. */
static void wt_rows(void *ctx, size_t lo, size_t hi)
{
	const wt_job *j = ctx;
	const kcv_conv_geom *g = j->g;
	for (size_t r = lo; r < hi; r++) {
		int64_t tap = (int64_t)r / g->cout, co = (int64_t)r % g->cout;
		int a = (int)(tap / j->f->nx), b = (int)(tap % j->f->nx);
		const float *wt = j->w + ((int64_t)j->f->ky[a] * g->kw + j->f->kx[b]) * g->cin * g->cout;
		float *d = j->tmp + (int64_t)r * g->cin;
		for (int64_t ci = 0; ci < g->cin; ci++)
			d[ci] = wt[ci * g->cout + co];
	}
}

static void pack_phases(const kcv_conv_geom *g, const bwd_plan *p, kcv_pool *pool,
                        const float *w, float *tmp, float *wp)
{
	for (int i = 0; i < p->nphases; i++) {
		const dx_phase *f = &p->ph[i];
		if (!f->kp)
			continue;
		wt_job j = {g, f, w, tmp};
		kcv_ops_parallel(pool, (size_t)f->kp, (size_t)(1 + 4096 / g->cin), wt_rows, &j);
		kcv_gemm_pack_b_many(pool, tmp, g->cin, 0, f->kp, g->cin, wp + f->packed, 0, 1);
	}
}

/* The gathered dY rows [r0, r0 + rows) of phase f into dst (row stride kp). */
static void gather(const kcv_conv_geom *g, const dx_phase *f, const float *dy, int64_t r0,
                   int64_t rows, float *dst)
{
	const int64_t cout = g->cout;
	kcv_pos3 pos = kcv_pos3_at(r0, f->t, f->u);
	for (int64_t rr = 0; rr < rows; rr++, kcv_pos3_next(&pos)) {
		int64_t n = pos.n, t = pos.y, u = pos.x;
		float *d = dst + rr * f->kp;
		const float *img = dy + n * g->oh * g->ow * cout;
		int64_t ox0 = u + f->offx[0], ox1 = u + f->offx[f->nx - 1];
		int inside = f->contiguous && ox0 >= 0 && ox1 < g->ow;
		for (int a = 0; a < f->ny; a++, d += f->nx * cout) {
			int64_t oy = t + f->offy[a];
			if (oy < 0 || oy >= g->oh) {
				zero_floats(d, f->nx * cout);
				continue;
			}
			const float *row = img + oy * g->ow * cout;
			prefetch_ahead(row + ox1 * cout);
			if (inside) {
				copy_floats(d, row + ox0 * cout, f->nx * cout);
				continue;
			}
			for (int b = 0; b < f->nx; b++) {
				int64_t ox = u + f->offx[b];
				if (ox < 0 || ox >= g->ow)
					zero_floats(d + b * cout, cout);
				else
					copy_floats(d + b * cout, row + ox * cout, cout);
			}
		}
	}
}

static void dx_part(void *ctx, size_t t)
{
	const bwd_job *j = ctx;
	const kcv_conv_geom *g = j->g;
	const bwd_plan *p = j->p;
	size_t lo, hi;
	kcv_pool_chunk((size_t)p->dx_tasks, (size_t)j->parts, t, &lo, &hi);
	char *mine = j->bufs + t * (kcv_align64((size_t)p->buf * sizeof(float)) +
	                            kcv_align64((size_t)p->dxbuf * sizeof(float)));
	float *col = (float *)mine;
	float *tmp = (float *)(mine + kcv_align64((size_t)p->buf * sizeof(float)));
	int64_t task = 0;
	for (int i = 0; i < p->nphases; i++) {
		const dx_phase *f = &p->ph[i];
		for (int64_t b = 0; b < f->blocks; b++, task++) {
			if (task < (int64_t)lo || task >= (int64_t)hi)
				continue;
			int64_t r0 = b * f->rb, rows = kcv_min64(f->rb, f->rows - r0);
			if (p->nphases == 1) { /* stride 1: the rows are dX's pixels in order */
				float *o = j->dx + r0 * g->cin;
				if (!f->kp) {
					if (!j->acc_dx)
						zero_floats(o, rows * g->cin);
					continue;
				}
				gather(g, f, j->dy, r0, rows, col);
				kcv_gemm_nn(rows, g->cin, f->kp, col, f->kp, NULL, 0, j->wp + f->packed, o, g->cin,
				            j->acc_dx);
				continue;
			}
			if (f->kp) {
				gather(g, f, j->dy, r0, rows, col);
				kcv_gemm_nn(rows, g->cin, f->kp, col, f->kp, NULL, 0, j->wp + f->packed, tmp,
				            g->cin, 0);
			}
			kcv_pos3 pos = kcv_pos3_at(r0, f->t, f->u);
			for (int64_t rr = 0; rr < rows; rr++, kcv_pos3_next(&pos)) {
				int64_t n = pos.n, ty = pos.y, u = pos.x;
				int64_t iy = f->py + g->sh * ty, ix = f->px + g->sw * u;
				float *o = j->dx + ((n * g->h + iy) * g->w + ix) * g->cin;
				if (!f->kp) {
					if (!j->acc_dx)
						zero_floats(o, g->cin);
				} else if (j->acc_dx) {
					add_floats(o, tmp + rr * g->cin, g->cin);
				} else {
					copy_floats(o, tmp + rr * g->cin, g->cin);
				}
			}
		}
	}
}

void kcv_conv_fast_backward(const kcv_conv_geom *g, const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	bwd_plan p;
	bwd_plan_make(g, &p);
	char *sp = c->scratch;
	bwd_job j = {.g = g, .p = &p, .x = f->in[0], .w = f->in[1], .y = f->out, .dy0 = c->d_out,
	             .dy = c->d_out, .dx = c->d_in[0], .dw = c->d_in[1],
	             .mask = (float *)(sp + p.mask_off), .part = (float *)(sp + p.part_off),
	             .dbpart = (double *)(sp + p.db_off), .bufs = sp + p.thread_off,
	             .acc_dx = c->accumulate[0], .acc_dw = c->accumulate[1]};
	const size_t total = (size_t)(g->m * g->cout);
	if (g->relu) {
		kcv_ops_parallel(f->pool, total, KCV_GRAIN, mask_range, &j);
		j.dy = j.mask;
	}
	if (g->res >= 0 && c->d_in[g->res])
		kcv_ops_scale(f->pool, c->d_in[g->res], j.dy, total, 1.0f, c->accumulate[g->res]);
	float *db = g->bias ? c->d_in[2] : NULL;
	if (db) {
		kcv_pool_run(f->pool, (size_t)p.db_chunks, db_chunk, &j);
		for (int64_t k = 0; k < g->cout; k++) {
			double s = 0;
			for (int64_t t = 0; t < p.db_chunks; t++)
				s += j.dbpart[t * g->cout + k];
			db[k] = c->accumulate[2] ? db[k] + (float)s : (float)s;
		}
	}
	if (kcv_conv_wino_ok(g)) {
		if (j.dw)
			kcv_conv_wino_dw(g, f->pool, j.x, j.dy, j.dw, j.acc_dw, sp + p.common_end);
		if (j.dx)
			kcv_conv_wino_dx(g, f->pool, j.dy, j.w, j.dx, j.acc_dx, sp + p.common_end);
		return;
	}
	if (j.dw) {
		j.parts = kcv_ops_parts(f->pool, p.dw_tasks, MAX_PARTS);
		atomic_init(&j.next, 0);
		kcv_pool_run(f->pool, (size_t)j.parts, dw_part, &j);
		if (p.splits > 1)
			kcv_ops_parallel(f->pool, (size_t)(g->k * g->cout), KCV_GRAIN, dw_reduce, &j);
	}
	if (j.dx) {
		float *wp = (float *)(sp + p.wp_off);
		pack_phases(g, &p, f->pool, j.w, (float *)(sp + p.wtmp_off), wp);
		j.wp = wp;
		j.parts = kcv_ops_parts(f->pool, p.dx_tasks, MAX_PARTS);
		kcv_pool_run(f->pool, (size_t)j.parts, dx_part, &j);
	}
}

#pragma GCC pop_options

#else /* no AVX-512 path on this compiler or architecture */

int kcv_conv_fast_ok(const kcv_conv_geom *g)
{
	(void)g;
	return 0;
}

size_t kcv_conv_fast_scratch(const kcv_conv_geom *g, int backward)
{
	(void)g, (void)backward;
	return 0;
}

void kcv_conv_fast_forward(const kcv_conv_geom *g, const kcv_op_call *c)
{
	(void)g, (void)c;
}

void kcv_conv_fast_backward(const kcv_conv_geom *g, const kcv_op_grad_call *c)
{
	(void)g, (void)c;
}
#endif
