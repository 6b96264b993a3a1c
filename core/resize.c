/* Bilinear image resize with half-pixel centres and no antialiasing: the
 * arithmetic of tf.image.resize(method="bilinear") (TensorFlow's
 * resize_bilinear_op with half_pixel_centers=True), which is what
 * keras.layers.Resizing uses.
 *
 * For output coordinate d along an axis of input size n and output size m:
 *   scale = n / m (float), s = (d + 0.5) * scale - 0.5,
 *   lower = max(floor(s), 0), upper = min(ceil(s), n - 1), lerp = s - floor(s),
 * and a pixel is top + (bottom - top) * ylerp with
 *   top = tl + (tr - tl) * xlerp, bottom = bl + (br - bl) * xlerp.
 *
 * The image is processed row by row: each source row that is needed is
 * interpolated horizontally once (per-column index/weight tables), cached in
 * one of two row buffers, and output rows are vertical blends of two cached
 * rows. The blend loops work in blocks of 8 so that gcc vectorises them at
 * -O2. The result is bit-identical to the direct per-pixel formula. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/image.h>

/* Stack space for tables and row buffers before falling back to malloc. */
#define STACK_BYTES (64 * 1024)
#define BLOCK 8

typedef struct axis_weight {
	int lower, upper;
	float lerp;
} axis_weight;

static float axis_scale(int in, int out)
{
	return (float)in / (float)out;
}

static axis_weight axis_at(int d, float scale, int in)
{
	axis_weight a;
	float s = ((float)d + 0.5f) * scale - 0.5f;
	float f = floorf(s);
	int lo = (int)f, hi = (int)ceilf(s);
	a.lower = lo < 0 ? 0 : lo;
	a.upper = hi > in - 1 ? in - 1 : hi;
	a.lerp = s - f;
	return a;
}

/* Column tables: element offsets of the left and right source pixels
 * (already multiplied by the channel count) and the x weight. */
typedef struct col_table {
	int *left;
	int *right;
	float *lerp;
} col_table;

static void col_table_fill(col_table *t, int sw, int dw, int channels)
{
	float scale = axis_scale(sw, dw);
	for (int x = 0; x < dw; x++) {
		axis_weight a = axis_at(x, scale, sw);
		t->left[x] = a.lower * channels;
		t->right[x] = a.upper * channels;
		t->lerp[x] = a.lerp;
	}
}

/* Horizontal pass of one float source row into `out` (dw * channels). */
static void hrow_f32(const float *restrict row, const col_table *t, int dw, int channels,
                     float *restrict out)
{
	if (channels == 3) {
		for (int x = 0; x < dw; x++) {
			const float *l = row + t->left[x], *r = row + t->right[x];
			float w = t->lerp[x];
			out[3 * x + 0] = l[0] + (r[0] - l[0]) * w;
			out[3 * x + 1] = l[1] + (r[1] - l[1]) * w;
			out[3 * x + 2] = l[2] + (r[2] - l[2]) * w;
		}
		return;
	}
	for (int x = 0; x < dw; x++) {
		const float *l = row + t->left[x], *r = row + t->right[x];
		float w = t->lerp[x];
		for (int c = 0; c < channels; c++)
			out[channels * x + c] = l[c] + (r[c] - l[c]) * w;
	}
}

/* Same from 8-bit pixels (converted exactly to float first). */
static void hrow_u8(const uint8_t *restrict row, const col_table *t, int dw, int channels,
                    float *restrict out)
{
	if (channels == 3) {
		for (int x = 0; x < dw; x++) {
			const uint8_t *l = row + t->left[x], *r = row + t->right[x];
			float w = t->lerp[x];
			float l0 = l[0], l1 = l[1], l2 = l[2];
			out[3 * x + 0] = l0 + ((float)r[0] - l0) * w;
			out[3 * x + 1] = l1 + ((float)r[1] - l1) * w;
			out[3 * x + 2] = l2 + ((float)r[2] - l2) * w;
		}
		return;
	}
	for (int x = 0; x < dw; x++) {
		const uint8_t *l = row + t->left[x], *r = row + t->right[x];
		float w = t->lerp[x];
		for (int c = 0; c < channels; c++) {
			float lc = l[c];
			out[channels * x + c] = lc + ((float)r[c] - lc) * w;
		}
	}
}

/* out = a + (b - a) * w over n floats. */
static void vblend(float *restrict out, const float *restrict a, const float *restrict b,
                   float w, size_t n)
{
	size_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK)
		for (int k = 0; k < BLOCK; k++)
			out[i + k] = a[i + k] + (b[i + k] - a[i + k]) * w;
	for (; i < n; i++)
		out[i] = a[i] + (b[i] - a[i]) * w;
}

/* The source, either float or 8-bit. */
typedef struct src_image {
	const float *f32;
	const uint8_t *u8;
	int w, h, channels;
} src_image;

static void src_hrow(const src_image *src, int y, const col_table *t, int dw, float *out)
{
	size_t stride = (size_t)src->w * src->channels;
	if (src->f32)
		hrow_f32(src->f32 + (size_t)y * stride, t, dw, src->channels, out);
	else
		hrow_u8(src->u8 + (size_t)y * stride, t, dw, src->channels, out);
}

static float src_at(const src_image *src, int x, int y, int c)
{
	size_t i = ((size_t)y * src->w + x) * src->channels + c;
	return src->f32 ? src->f32[i] : (float)src->u8[i];
}

/* Per-pixel fallback that needs no memory (used only if malloc fails). */
static void resize_direct(const src_image *src, float *dst, int dw, int dh)
{
	float sx = axis_scale(src->w, dw), sy = axis_scale(src->h, dh);
	int ch = src->channels;
	for (int y = 0; y < dh; y++) {
		axis_weight ay = axis_at(y, sy, src->h);
		for (int x = 0; x < dw; x++) {
			axis_weight ax = axis_at(x, sx, src->w);
			for (int c = 0; c < ch; c++) {
				float tl = src_at(src, ax.lower, ay.lower, c);
				float tr = src_at(src, ax.upper, ay.lower, c);
				float bl = src_at(src, ax.lower, ay.upper, c);
				float br = src_at(src, ax.upper, ay.upper, c);
				float top = tl + (tr - tl) * ax.lerp;
				float bottom = bl + (br - bl) * ax.lerp;
				dst[((size_t)y * dw + x) * ch + c] = top + (bottom - top) * ay.lerp;
			}
		}
	}
}

static int find_slot(const int tag[2], int row)
{
	return tag[0] == row ? 0 : (tag[1] == row ? 1 : -1);
}

static void resize_rows(const src_image *src, float *dst, int dw, int dh, void *mem)
{
	size_t row = (size_t)dw * src->channels;
	col_table t;
	t.left = mem;
	t.right = t.left + dw;
	t.lerp = (float *)(t.right + dw);
	float *buf[2];
	buf[0] = t.lerp + dw;
	buf[1] = buf[0] + row;
	int tag[2] = {-1, -1};
	col_table_fill(&t, src->w, dw, src->channels);

	float sy = axis_scale(src->h, dh);
	for (int y = 0; y < dh; y++) {
		axis_weight a = axis_at(y, sy, src->h);
		int lo = find_slot(tag, a.lower), hi = find_slot(tag, a.upper);
		if (lo < 0) {
			lo = hi >= 0 ? 1 - hi : 0;
			src_hrow(src, a.lower, &t, dw, buf[lo]);
			tag[lo] = a.lower;
		}
		if (a.upper == a.lower) {
			hi = lo;
		} else if (hi < 0) {
			hi = 1 - lo;
			src_hrow(src, a.upper, &t, dw, buf[hi]);
			tag[hi] = a.upper;
		}
		const float *rows[2] = {buf[lo], buf[hi]};
		float *out = dst + (size_t)y * row;
		if (rows[0] == rows[1])
			memcpy(out, rows[0], row * sizeof(float));
		else
			vblend(out, rows[0], rows[1], a.lerp, row);
	}
}

static void resize_any(const src_image *src, float *dst, int dw, int dh)
{
	if (src->w <= 0 || src->h <= 0 || dw <= 0 || dh <= 0 || src->channels <= 0)
		return;
	if (src->w == dw && src->h == dh) {
		/* Identity: every weight is 0 and every index exact. */
		size_t n = (size_t)dw * dh * src->channels;
		if (src->f32)
			memcpy(dst, src->f32, n * sizeof(float));
		else
			for (size_t i = 0; i < n; i++)
				dst[i] = src->u8[i];
		return;
	}
	size_t row = (size_t)dw * src->channels;
	size_t bytes = (size_t)dw * (2 * sizeof(int) + sizeof(float)) + 2 * row * sizeof(float);
	_Alignas(64) unsigned char stack[STACK_BYTES];
	void *mem = bytes <= sizeof(stack) ? stack : malloc(bytes);
	if (!mem) {
		resize_direct(src, dst, dw, dh);
		return;
	}
	resize_rows(src, dst, dw, dh, mem);
	if (mem != stack)
		free(mem);
}

void kcv_image_resize_bilinear(const float *src, int sw, int sh, float *dst, int dw, int dh,
                               int channels)
{
	src_image s = {.f32 = src, .u8 = NULL, .w = sw, .h = sh, .channels = channels};
	resize_any(&s, dst, dw, dh);
}

void kcv_image_resize_bilinear_u8(const uint8_t *src, int sw, int sh, float *dst, int dw,
                                  int dh, int channels)
{
	src_image s = {.f32 = NULL, .u8 = src, .w = sw, .h = sh, .channels = channels};
	resize_any(&s, dst, dw, dh);
}
