/* conv2d: x [N,H,W,Cin] (NHWC) with weights [KH,KW,Cin/groups,Cout] (HWIO),
 * optional bias [Cout], stride, dilation, explicit or TF "same" padding,
 * groups and a fused ReLU.
 *
 * This file holds the geometry, the op's definition and the OpenBLAS path.
 * Where the CPU has AVX-512, ungrouped convolutions take kcv's own path
 * instead (conv2d_fast.c: im2col in cache-sized blocks on kcv's GEMMs, dX as
 * a gather by stride phase; conv2d_winograd.c: Winograd F(2x2, 3x3) for the
 * 3x3 stride-1 ones); the rest runs here.
 *
 * The output rows (one per output pixel, N*OH*OW of them) are a matrix
 * product: out[rows, Cout] = col[rows, KH*KW*Cin/g] x W[KH*KW*Cin/g, Cout]
 * per group. A 1x1, stride-1, unpadded convolution is that product on x
 * itself (one sgemm); any other builds `col` (im2col) for a tile of rows at a
 * time, so the buffer stays under COL_BYTES. Bias and ReLU run as one pass
 * over each output tile.
 *
 * Backward, per tile of rows: dY masked by the ReLU (out > 0), db = column
 * sums of dY, dW += col^T dY, dcol = dY W^T added back into dX (col2im).
 * The pool's threads each run single-threaded OpenBLAS on their own share
 * (rows in the forward pass and for dX, output channels for dW); OpenBLAS's
 * own threads stay off (the graph sets them to 1), so cores never idle in
 * OpenBLAS's spin-waits while kcv copies, nor oversubscribe. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "defs-impl.h"
#include "kernel-impl.h"

#ifndef KCV_CONV_COL_BYTES
#define KCV_CONV_COL_BYTES ((int64_t)8 << 20)
#endif
#define COL_BYTES KCV_CONV_COL_BYTES /* per column buffer */
#define BLOCK 64

typedef kcv_conv_geom conv_geom;

static int64_t at_least_1(int v)
{
	return v > 0 ? v : 1;
}

/* TF "same": out = ceil(in/s), total pad = max((out-1)*s + (k-1)*d + 1 - in, 0),
 * the odd pixel at the end. */
static void same_pad(int64_t in, int64_t k, int64_t s, int64_t d, int64_t *before,
                     int64_t *after)
{
	int64_t out = (in + s - 1) / s;
	int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
	if (total < 0)
		total = 0;
	*before = total / 2;
	*after = total - *before;
}

static kcv_status geom_make(conv_geom *g, const kcv_shape *in, int n_in,
                            const kcv_conv2d_params *p, char *msg, size_t msg_size)
{
	const kcv_shape *x = &in[0], *w = &in[1];
	char b1[128], b2[128];
	memset(g, 0, sizeof(*g));
	if (x->rank != 4 || w->rank != 4) {
		snprintf(msg, msg_size,
		         "conv2d: needs x [N, H, W, Cin] and weights [KH, KW, Cin/groups, Cout], got %s "
		         "and %s",
		         kcv_shape_format(x, b1, sizeof(b1)), kcv_shape_format(w, b2, sizeof(b2)));
		return KCV_ERR_INVALID;
	}
	g->n = x->d[0], g->h = x->d[1], g->w = x->d[2], g->cin = x->d[3];
	g->kh = w->d[0], g->kw = w->d[1], g->cin_g = w->d[2], g->cout = w->d[3];
	g->sh = at_least_1(p->stride_h), g->sw = at_least_1(p->stride_w);
	g->dh = at_least_1(p->dilation_h), g->dw = at_least_1(p->dilation_w);
	g->groups = at_least_1(p->groups);
	const kcv_op_conv_params *cp = (const kcv_op_conv_params *)p;
	g->relu = p->relu != 0;
	g->bias = cp->has_bias;
	g->res = cp->has_residual ? 2 + cp->has_bias : -1;
	if (n_in != 2 + cp->has_bias + cp->has_residual) {
		snprintf(msg, msg_size, "conv2d: %d inputs, expected %d", n_in,
		         2 + cp->has_bias + cp->has_residual);
		return KCV_ERR_INVALID;
	}
	if (g->cin_g * g->groups != g->cin) {
		if (g->groups == 1)
			snprintf(msg, msg_size, "conv2d: input has %lld channels but the weights expect %lld",
			         (long long)g->cin, (long long)g->cin_g);
		else
			snprintf(msg, msg_size,
			         "conv2d: input has %lld channels but the weights expect %lld (%lld per "
			         "group x %lld groups)",
			         (long long)g->cin, (long long)(g->cin_g * g->groups), (long long)g->cin_g,
			         (long long)g->groups);
		return KCV_ERR_INVALID;
	}
	if (g->cout % g->groups != 0) {
		snprintf(msg, msg_size, "conv2d: %lld output channels do not split into %lld groups",
		         (long long)g->cout, (long long)g->groups);
		return KCV_ERR_INVALID;
	}
	if (g->bias && (in[2].rank != 1 || in[2].d[0] != g->cout)) {
		snprintf(msg, msg_size, "conv2d: bias has shape %s but the weights have %lld outputs",
		         kcv_shape_format(&in[2], b1, sizeof(b1)), (long long)g->cout);
		return KCV_ERR_INVALID;
	}
	int64_t pb, pr;
	if (p->same) {
		same_pad(g->h, g->kh, g->sh, g->dh, &g->pt, &pb);
		same_pad(g->w, g->kw, g->sw, g->dw, &g->pl, &pr);
	} else {
		g->pt = p->pad_top, pb = p->pad_bottom, g->pl = p->pad_left, pr = p->pad_right;
	}
	int64_t eh = (g->kh - 1) * g->dh + 1, ew = (g->kw - 1) * g->dw + 1;
	int64_t hp = g->h + g->pt + pb, wp = g->w + g->pl + pr;
	if (hp < eh || wp < ew) {
		snprintf(msg, msg_size,
		         "conv2d: the %lldx%lld kernel (dilation %lldx%lld) does not fit the padded "
		         "%lldx%lld input",
		         (long long)g->kh, (long long)g->kw, (long long)g->dh, (long long)g->dw,
		         (long long)hp, (long long)wp);
		return KCV_ERR_INVALID;
	}
	g->oh = (hp - eh) / g->sh + 1;
	g->ow = (wp - ew) / g->sw + 1;
	g->cout_g = g->cout / g->groups;
	g->k = g->kh * g->kw * g->cin_g;
	g->m = g->n * g->oh * g->ow;
	g->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && pb == 0 &&
	            g->pl == 0 && pr == 0;
	if (g->res >= 0) {
		kcv_shape o = kcv_shape_4d(g->n, g->oh, g->ow, g->cout);
		if (!kcv_shape_equal(&in[g->res], &o)) {
			snprintf(msg, msg_size, "conv2d: the residual has shape %s, the output %s",
			         kcv_shape_format(&in[g->res], b1, sizeof(b1)),
			         kcv_shape_format(&o, b2, sizeof(b2)));
			return KCV_ERR_INVALID;
		}
	}
	return KCV_OK;
}

static void geom_of(conv_geom *g, const kcv_op_call *c)
{
	char msg[8];
	kcv_status st = geom_make(g, c->in_shape, c->n_in, c->params, msg, sizeof(msg));
	KCV_ASSERT(st == KCV_OK);
}

static int64_t clamp_rows(int64_t rows, int64_t per_row_floats)
{
	int64_t t = COL_BYTES / (per_row_floats * (int64_t)sizeof(float));
	if (t < 1)
		t = 1;
	return t < rows ? t : rows;
}

/* Rows per tile: forward bounds the column buffer; backward also the
 * ReLU-masked dY tile. */
static int64_t tile_rows(const conv_geom *g, int backward)
{
	int64_t t = g->m;
	if (!g->direct)
		t = clamp_rows(t, g->k);
	if (backward && g->relu)
		t = clamp_rows(t, g->cout);
	return t;
}

static size_t conv_scratch(const kcv_shape *in, int n_in, const void *params,
                           const kcv_shape *out, int backward)
{
	conv_geom g;
	char msg[8];
	if (geom_make(&g, in, n_in, params, msg, sizeof(msg)) != KCV_OK)
		return 0;
	if (kcv_conv_fast_ok(&g))
		return kcv_conv_fast_scratch(&g, backward);
	size_t t = (size_t)tile_rows(&g, backward), f = sizeof(float);
	if (!backward)
		return g.direct ? 0 : kcv_align64(t * (size_t)g.k * f);
	size_t bytes = kcv_align64((size_t)g.cout * sizeof(double));
	if (!g.direct)
		bytes += 2 * kcv_align64(t * (size_t)g.k * f);
	if (g.relu)
		bytes += kcv_align64(t * (size_t)g.cout * f);
	return bytes;
}

static kcv_status conv_infer(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
                             char *msg, size_t msg_size)
{
	conv_geom g;
	kcv_status st = geom_make(&g, in, n_in, params, msg, msg_size);
	if (st == KCV_OK)
		*out = kcv_shape_4d(g.n, g.oh, g.ow, g.cout);
	return st;
}

static double conv_flops(const kcv_shape *in, int n_in, const void *params,
                         const kcv_shape *out)
{
	conv_geom g;
	char msg[8];
	if (geom_make(&g, in, n_in, params, msg, sizeof(msg)) != KCV_OK)
		return 0;
	return 2.0 * (double)g.m * (double)g.k * (double)g.cout;
}

/* ---- im2col / col2im ------------------------------------------------------ */

typedef struct col_job {
	const conv_geom *g;
	const float *x;
	float *col;        /* im2col: [rows][k] */
	const float *dcol; /* col2im: [rows][k] */
	float *dx;
	int64_t r0, rows, grp;
	int64_t row0; /* col2im: the first input row of the tile */
} col_job;

static void im2col_rows(void *ctx, size_t lo, size_t hi)
{
	const col_job *j = ctx;
	const conv_geom *g = j->g;
	const int64_t cg = g->cin_g, hw = g->oh * g->ow;
	const int whole = g->dw == 1 && g->groups == 1;
	for (int64_t rr = (int64_t)lo; rr < (int64_t)hi; rr++) {
		int64_t r = j->r0 + rr, n = r / hw, oy = r % hw / g->ow, ox = r % g->ow;
		int64_t iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
		float *dst = j->col + rr * g->k;
		for (int64_t ky = 0; ky < g->kh; ky++) {
			int64_t iy = iy0 + ky * g->dh;
			if (iy < 0 || iy >= g->h) {
				memset(dst, 0, (size_t)(g->kw * cg) * sizeof(float));
				dst += g->kw * cg;
				continue;
			}
			const float *row = j->x + (n * g->h + iy) * g->w * g->cin + j->grp * cg;
			if (whole && ix0 >= 0 && ix0 + g->kw <= g->w) {
				memcpy(dst, row + ix0 * g->cin, (size_t)(g->kw * cg) * sizeof(float));
				dst += g->kw * cg;
				continue;
			}
			for (int64_t kx = 0; kx < g->kw; kx++, dst += cg) {
				int64_t ix = ix0 + kx * g->dw;
				if (ix < 0 || ix >= g->w)
					memset(dst, 0, (size_t)cg * sizeof(float));
				else
					memcpy(dst, row + ix * g->cin, (size_t)cg * sizeof(float));
			}
		}
	}
}

static void im2col(kcv_pool *pool, const conv_geom *g, const float *x, float *col, int64_t r0,
                   int64_t rows, int64_t grp)
{
	col_job j = {.g = g, .x = x, .col = col, .r0 = r0, .rows = rows, .grp = grp};
	size_t grain = (size_t)(g->k >= KCV_GRAIN ? 1 : KCV_GRAIN / g->k);
	kcv_ops_parallel(pool, (size_t)rows, grain, im2col_rows, &j);
}

/* Add dcol into dx, gathering per input row (n, iy): each dx pixel sums the
 * column entries that read it, in (ky, kx) order, from this tile's rows
 * only. Tasks own whole input rows, so there are no races, and the order of
 * additions is fixed by the shapes. */
static void col2im_rows(void *ctx, size_t lo, size_t hi)
{
	const col_job *j = ctx;
	const conv_geom *g = j->g;
	const int64_t cg = g->cin_g, r1 = j->r0 + j->rows;
	for (int64_t rr = (int64_t)lo; rr < (int64_t)hi; rr++) {
		int64_t row = j->row0 + rr, n = row / g->h, iy = row % g->h;
		float *drow = j->dx + row * g->w * g->cin + j->grp * cg;
		for (int64_t ky = 0; ky < g->kh; ky++) {
			int64_t ty = iy + g->pt - ky * g->dh;
			if (ty < 0 || ty % g->sh)
				continue;
			int64_t oy = ty / g->sh;
			if (oy >= g->oh)
				continue;
			int64_t rbase = (n * g->oh + oy) * g->ow;
			for (int64_t ix = 0; ix < g->w; ix++) {
				float *restrict d = drow + ix * g->cin;
				for (int64_t kx = 0; kx < g->kw; kx++) {
					int64_t tx = ix + g->pl - kx * g->dw;
					if (tx < 0 || tx % g->sw)
						continue;
					int64_t ox = tx / g->sw, r = rbase + ox;
					if (ox >= g->ow || r < j->r0 || r >= r1)
						continue;
					const float *restrict src =
						j->dcol + (r - j->r0) * g->k + (ky * g->kw + kx) * cg;
					for (int64_t c = 0; c < cg; c++)
						d[c] += src[c];
				}
			}
		}
	}
}

static void col2im(kcv_pool *pool, const conv_geom *g, const float *dcol, float *dx, int64_t r0,
                   int64_t rows, int64_t grp)
{
	/* the input rows this tile's output rows read */
	int64_t hw = g->oh * g->ow, last = r0 + rows - 1;
	int64_t n0 = r0 / hw, oy0 = r0 % hw / g->ow, n1 = last / hw, oy1 = last % hw / g->ow;
	int64_t lo = oy0 * g->sh - g->pt, hi = oy1 * g->sh - g->pt + (g->kh - 1) * g->dh;
	int64_t first = n0 * g->h + (lo > 0 ? lo : 0);
	int64_t end = n1 * g->h + (hi < g->h - 1 ? hi : g->h - 1) + 1;
	if (end <= first)
		return;
	col_job j = {.g = g, .dcol = dcol, .dx = dx, .r0 = r0, .rows = rows, .grp = grp};
	j.row0 = first;
	int64_t work = g->w * g->cin_g * g->kh;
	size_t grain = (size_t)(work >= KCV_GRAIN ? 1 : KCV_GRAIN / work);
	kcv_ops_parallel(pool, (size_t)(end - first), grain, col2im_rows, &j);
}

/* ---- per-row passes: bias + ReLU, ReLU mask, bias gradient ---------------- */

typedef struct row_job {
	const float *res;  /* epilogue: the residual tile, or NULL */
	float *out;        /* epilogue: the output tile; mask: the masked dY */
	const float *y;    /* mask: the forward output tile */
	const float *dy;   /* mask, colsum: the dY tile */
	const float *bias;
	double *sum;       /* colsum: [Cout] */
	int64_t rows, cout;
	int relu;
} row_job;

static void epilogue_rows(void *ctx, size_t lo, size_t hi)
{
	const row_job *j = ctx;
	for (size_t r = lo; r < hi; r++) {
		float *restrict o = j->out + (int64_t)r * j->cout;
		const float *restrict b = j->bias;
		if (j->res) {
			const float *restrict q = j->res + (int64_t)r * j->cout;
			for (int64_t c = 0; c < j->cout; c++) {
				float v = o[c] + (b ? b[c] : 0.0f) + q[c];
				o[c] = j->relu && v < 0.0f ? 0.0f : v;
			}
		} else if (b && j->relu) {
			for (int64_t c = 0; c < j->cout; c++) {
				float v = o[c] + b[c];
				o[c] = v > 0.0f ? v : 0.0f;
			}
		} else if (b) {
			for (int64_t c = 0; c < j->cout; c++)
				o[c] += b[c];
		} else {
			for (int64_t c = 0; c < j->cout; c++)
				o[c] = o[c] > 0.0f ? o[c] : 0.0f;
		}
	}
}

static void mask_rows(void *ctx, size_t lo, size_t hi)
{
	const row_job *j = ctx;
	const float *restrict y = j->y, *restrict dy = j->dy;
	float *restrict o = j->out;
	for (size_t i = lo * (size_t)j->cout; i < hi * (size_t)j->cout; i++)
		o[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static void colsum_block(void *ctx, size_t t)
{
	const row_job *j = ctx;
	int64_t c0 = (int64_t)t * BLOCK, w = j->cout - c0 < BLOCK ? j->cout - c0 : BLOCK;
	double *acc = j->sum + c0;
	for (int64_t r = 0; r < j->rows; r++) {
		const float *p = j->dy + r * j->cout + c0;
		for (int64_t c = 0; c < w; c++)
			acc[c] += p[c];
	}
}

static size_t row_grain(int64_t cout)
{
	return (size_t)(cout >= KCV_GRAIN ? 1 : KCV_GRAIN / cout);
}

/* ---- forward / backward --------------------------------------------------- */

static void sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
	            (blasint)m, (blasint)n, (blasint)k, 1.0f, a, (blasint)lda, b, (blasint)ldb, beta, c,
	            (blasint)ldc);
}

/* Work of the pool's threads: each thread runs whole (im2col, sgemm,
 * epilogue) pieces on single-threaded OpenBLAS, so no core waits for
 * another and the column buffer stays in that core's cache. */
typedef struct part_job {
	const conv_geom *g;
	const float *x, *w, *bias, *dy, *res;
	float *out, *col, *dw, *dx;
	int64_t r0, rows;  /* the tile */
	int64_t cap;       /* forward: column rows per thread */
	int64_t grp;
	int64_t parts;
	float beta;
} part_job;

static void forward_part(void *ctx, size_t t)
{
	const part_job *j = ctx;
	const conv_geom *g = j->g;
	size_t lo, hi;
	kcv_pool_chunk((size_t)j->rows, (size_t)j->parts, t, &lo, &hi);
	if (hi <= lo)
		return;
	int64_t r0 = j->r0 + (int64_t)lo, rows = (int64_t)(hi - lo);
	float *col = j->col ? j->col + (int64_t)t * j->cap * g->k : NULL;
	for (int64_t grp = 0; grp < g->groups; grp++) {
		const float *a = j->x + r0 * g->cin + grp * g->cin_g;
		int64_t lda = g->cin;
		if (!g->direct) {
			col_job cj = {.g = g, .x = j->x, .col = col, .r0 = r0, .rows = rows, .grp = grp};
			im2col_rows(&cj, 0, (size_t)rows);
			a = col;
			lda = g->k;
		}
		sgemm(0, 0, rows, g->cout_g, g->k, a, lda, j->w + grp * g->cout_g, g->cout, 0.0f,
		      j->out + r0 * g->cout + grp * g->cout_g, g->cout);
	}
	if (g->bias || g->relu || g->res >= 0) {
		row_job rj = {.out = j->out + r0 * g->cout, .bias = j->bias, .cout = g->cout,
		              .relu = g->relu, .res = j->res ? j->res + r0 * g->cout : NULL};
		epilogue_rows(&rj, 0, (size_t)rows);
	}
}

static void conv_forward(const kcv_op_call *c)
{
	conv_geom g;
	geom_of(&g, c);
	if (c->bf16 && kcv_conv_bf16_forward(c->bf16, c->node, &g, c))
		return;
	if (kcv_conv_fast_ok(&g)) {
		kcv_conv_fast_forward(&g, c);
		return;
	}
	int64_t parts = kcv_pool_threads(c->pool);
	int64_t tile = tile_rows(&g, 0);
	/* the scratch holds `tile` column rows: `cap` for each thread */
	int64_t cap = tile / parts > 0 ? tile / parts : 1;
	int64_t step = g.direct ? g.m : cap * parts;
	if (!g.direct && tile < parts)
		parts = 1, cap = tile, step = tile;
	part_job j = {.g = &g, .x = c->in[0], .w = c->in[1], .bias = g.bias ? c->in[2] : NULL,
	              .res = g.res >= 0 ? c->in[g.res] : NULL, .out = c->out,
	              .col = g.direct ? NULL : c->scratch, .cap = cap, .parts = parts};
	for (int64_t r0 = 0; r0 < g.m; r0 += step) {
		j.r0 = r0;
		j.rows = g.m - r0 < step ? g.m - r0 : step;
		kcv_pool_run(c->pool, (size_t)parts, forward_part, &j);
	}
}

/* dW[:, cols of thread t] (+)= col^T dY[:, cols]: split by output channel. */
static void dw_part(void *ctx, size_t t)
{
	const part_job *j = ctx;
	const conv_geom *g = j->g;
	size_t lo, hi;
	kcv_pool_chunk((size_t)g->cout_g, (size_t)j->parts, t, &lo, &hi);
	if (hi <= lo)
		return;
	const float *a = g->direct ? j->x + j->r0 * g->cin + j->grp * g->cin_g : j->col;
	int64_t lda = g->direct ? g->cin : g->k;
	sgemm(1, 0, g->k, (int64_t)(hi - lo), j->rows, a, lda, j->dy + j->grp * g->cout_g + (int64_t)lo,
	      g->cout, j->beta, j->dw + j->grp * g->cout_g + (int64_t)lo, g->cout);
}

/* dX rows (direct) or dcol rows of thread t = dY[rows] W^T: split by row. */
static void dx_part(void *ctx, size_t t)
{
	const part_job *j = ctx;
	const conv_geom *g = j->g;
	size_t lo, hi;
	kcv_pool_chunk((size_t)j->rows, (size_t)j->parts, t, &lo, &hi);
	if (hi <= lo)
		return;
	const float *dyg = j->dy + (int64_t)lo * g->cout + j->grp * g->cout_g;
	const float *wg = j->w + j->grp * g->cout_g;
	if (g->direct)
		sgemm(0, 1, (int64_t)(hi - lo), g->cin_g, g->cout_g, dyg, g->cout, wg, g->cout, j->beta,
		      j->dx + (j->r0 + (int64_t)lo) * g->cin + j->grp * g->cin_g, g->cin);
	else
		sgemm(0, 1, (int64_t)(hi - lo), g->k, g->cout_g, dyg, g->cout, wg, g->cout, 0.0f,
		      j->col + (int64_t)lo * g->k, g->k);
}

static void conv_backward(const kcv_op_grad_call *c)
{
	const kcv_op_call *f = &c->fwd;
	conv_geom g;
	geom_of(&g, f);
	if (f->bf16 && kcv_conv_bf16_backward(f->bf16, f->node, &g, c))
		return;
	if (kcv_conv_fast_ok(&g)) {
		kcv_conv_fast_backward(&g, c);
		return;
	}
	const float *x = f->in[0], *w = f->in[1];
	float *dx = c->d_in[0], *dw = c->d_in[1], *db = g.bias ? c->d_in[2] : NULL;
	int64_t tile = tile_rows(&g, 1), parts = kcv_pool_threads(f->pool);
	char *sp = c->scratch;
	double *dbsum = (double *)sp;
	sp += kcv_align64((size_t)g.cout * sizeof(double));
	float *col = NULL, *dcol = NULL, *mbuf = NULL;
	if (!g.direct) {
		col = (float *)sp;
		sp += kcv_align64((size_t)(tile * g.k) * sizeof(float));
		dcol = (float *)sp;
		sp += kcv_align64((size_t)(tile * g.k) * sizeof(float));
	}
	if (g.relu)
		mbuf = (float *)sp;
	if (db)
		memset(dbsum, 0, (size_t)g.cout * sizeof(double));
	if (dx && !g.direct)
		kcv_ops_zero_grad(dx, (size_t)(g.n * g.h * g.w * g.cin), c->accumulate[0]);
	for (int64_t r0 = 0; r0 < g.m; r0 += tile) {
		int64_t rows = g.m - r0 < tile ? g.m - r0 : tile;
		const float *dy = c->d_out + r0 * g.cout;
		if (g.relu) {
			row_job j = {.out = mbuf, .y = f->out + r0 * g.cout, .dy = dy, .cout = g.cout};
			kcv_ops_parallel(f->pool, (size_t)rows, row_grain(g.cout), mask_rows, &j);
			dy = mbuf;
		}
		if (g.res >= 0 && c->d_in[g.res])
			kcv_ops_scale(f->pool, c->d_in[g.res] + r0 * g.cout, dy, (size_t)(rows * g.cout), 1.0f,
			              c->accumulate[g.res]);
		if (db) {
			row_job j = {.dy = dy, .sum = dbsum, .rows = rows, .cout = g.cout};
			kcv_pool_run(f->pool, (size_t)((g.cout + BLOCK - 1) / BLOCK), colsum_block, &j);
		}
		for (int64_t grp = 0; grp < g.groups; grp++) {
			part_job j = {.g = &g, .x = x, .w = w, .dy = dy, .dw = dw, .dx = dx, .r0 = r0,
			              .rows = rows, .grp = grp, .parts = parts};
			if (dw) {
				if (!g.direct)
					im2col(f->pool, &g, x, col, r0, rows, grp);
				j.col = col;
				j.beta = r0 == 0 && !c->accumulate[1] ? 0.0f : 1.0f;
				kcv_pool_run(f->pool, (size_t)parts, dw_part, &j);
			}
			if (dx) {
				j.col = dcol;
				j.beta = c->accumulate[0] ? 1.0f : 0.0f;
				kcv_pool_run(f->pool, (size_t)parts, dx_part, &j);
				if (!g.direct)
					col2im(f->pool, &g, dcol, dx, r0, rows, grp);
			}
		}
	}
	if (db)
		for (int64_t k = 0; k < g.cout; k++)
			db[k] = c->accumulate[2] ? db[k] + (float)dbsum[k] : (float)dbsum[k];
}

const kcv_op_def kcv_op_def_conv2d = {
	.name = "conv2d",
	.min_in = 2,
	.max_in = 4,
	.bwd_needs_in = 1u | 2u, /* x for dW, w for dX */
	.bwd_needs_out = 1,      /* the fused ReLU's mask */
	.infer = conv_infer,
	.scratch = conv_scratch,
	.flops = conv_flops,
	.forward = conv_forward,
	.backward = conv_backward,
};
