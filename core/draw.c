/* Drawing on 8-bit RGB canvases: filled rectangles, box outlines, 5x7 text,
 * labels, class colours and float-image blits. Everything clips to the
 * canvas; nothing writes outside c->rgb[0 .. width*height*3). */
#include <math.h>
#include <string.h>

#include <kcv/draw.h>

#include "draw-impl.h"

/* Glyph advance in font pixels: the glyph and a 1-pixel gap. */
#define GLYPH_ADVANCE (KCV_FONT_WIDTH + 1)
/* Largest text scale (keeps pixel arithmetic far from int overflow). */
#define MAX_SCALE 1024

static int canvas_ok(const kcv_canvas *c)
{
	return c && c->rgb && c->width > 0 && c->height > 0;
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

static long long clampll(long long v, long long lo, long long hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

static int clamp_scale(int scale)
{
	return scale < 1 ? 1 : (scale > MAX_SCALE ? MAX_SCALE : scale);
}

void kcv_draw_class_color(int i, uint8_t rgb[3])
{
	/* Golden-ratio hue steps spread any number of classes around the
	 * wheel. The classes closest in hue are 13 and 21 apart (Fibonacci
	 * numbers, both odd), so odd classes are darker and fully saturated:
	 * the first 32 colours are then at least 60 apart (L1 in RGB). */
	unsigned u = (unsigned)i;
	double h = fmod((double)u * 0.618033988749894848, 1.0) * 6.0;
	double s = (u % 2) ? 1.0 : 0.85, v = (u % 2) ? 0.72 : 0.95;
	int sector = (int)h;
	double f = h - sector;
	double p = v * (1.0 - s), q = v * (1.0 - s * f), t = v * (1.0 - s * (1.0 - f));
	double r, g, b;
	switch (sector % 6) {
	case 0: r = v, g = t, b = p; break;
	case 1: r = q, g = v, b = p; break;
	case 2: r = p, g = v, b = t; break;
	case 3: r = p, g = q, b = v; break;
	case 4: r = t, g = p, b = v; break;
	default: r = v, g = p, b = q; break;
	}
	rgb[0] = (uint8_t)lround(r * 255.0);
	rgb[1] = (uint8_t)lround(g * 255.0);
	rgb[2] = (uint8_t)lround(b * 255.0);
}

/* Fill with 64-bit bounds so callers may pass far-off coordinates. */
static void fill_ll(kcv_canvas *c, long long x0, long long y0, long long x1, long long y1,
                    const uint8_t rgb[3])
{
	if (!canvas_ok(c) || !rgb)
		return;
	x0 = clampll(x0, 0, c->width), x1 = clampll(x1, 0, c->width);
	y0 = clampll(y0, 0, c->height), y1 = clampll(y1, 0, c->height);
	for (long long y = y0; y < y1; y++) {
		uint8_t *p = c->rgb + ((size_t)y * (size_t)c->width + (size_t)x0) * 3;
		for (long long x = x0; x < x1; x++, p += 3) {
			p[0] = rgb[0];
			p[1] = rgb[1];
			p[2] = rgb[2];
		}
	}
}

void kcv_draw_fill(kcv_canvas *c, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
	fill_ll(c, x0, y0, x1, y1, rgb);
}

/* Round a pixel coordinate, clamped to [0, limit]. */
static int round_coord(float v, int limit)
{
	if (v < 0.0f)
		return 0;
	if (v > (float)limit)
		return limit;
	return clampi((int)lroundf(v), 0, limit);
}

void kcv_draw_box(kcv_canvas *c, float x1, float y1, float x2, float y2, int thickness,
                  const uint8_t rgb[3])
{
	if (!canvas_ok(c) || !rgb)
		return;
	if (isnan(x1) || isnan(y1) || isnan(x2) || isnan(y2))
		return;
	if (x1 > x2) {
		float t = x1;
		x1 = x2, x2 = t;
	}
	if (y1 > y2) {
		float t = y1;
		y1 = y2, y2 = t;
	}
	/* The box covers pixels [l, r) x [t, b), clamped to the canvas so that
	 * a box running off an edge is drawn along that edge. */
	int l = round_coord(x1, c->width), r = round_coord(x2, c->width);
	int t = round_coord(y1, c->height), b = round_coord(y2, c->height);
	if (r <= l || b <= t)
		return;
	int th = thickness < 1 ? 1 : thickness;
	if (th > r - l || th > b - t) { /* thicker than the box: solid */
		kcv_draw_fill(c, l, t, r, b, rgb);
		return;
	}
	kcv_draw_fill(c, l, t, r, t + th, rgb);          /* top */
	kcv_draw_fill(c, l, b - th, r, b, rgb);          /* bottom */
	kcv_draw_fill(c, l, t + th, l + th, b - th, rgb); /* left */
	kcv_draw_fill(c, r - th, t + th, r, b - th, rgb); /* right */
}

/* Next glyph of a UTF-8 string: printable ASCII as is, anything else '?'
 * (one per code point: continuation bytes are skipped). Returns 0 at the
 * end. */
static int next_glyph(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	while (*p >= 0x80 && *p < 0xc0)
		p++;
	if (!*p) {
		*s = (const char *)p;
		return 0;
	}
	int ch = *p++;
	*s = (const char *)p;
	return ch >= KCV_FONT_FIRST && ch <= KCV_FONT_LAST ? ch : '?';
}

static long long text_width_ll(const char *text, int scale)
{
	long long n = 0;
	if (!text)
		return 0;
	while (next_glyph(&text))
		n++;
	return n > 0 ? (n * GLYPH_ADVANCE - 1) * clamp_scale(scale) : 0;
}

int kcv_draw_text_width(const char *text, int scale)
{
	long long w = text_width_ll(text, scale);
	return w > 0x7fffffff ? 0x7fffffff : (int)w;
}

int kcv_draw_text(kcv_canvas *c, int x, int y, const char *text, int scale,
                  const uint8_t rgb[3])
{
	int width = kcv_draw_text_width(text, scale);
	if (!canvas_ok(c) || !rgb || !text)
		return width;
	long long s = clamp_scale(scale);
	long long gx = x;
	if ((long long)y >= c->height || (long long)y + KCV_FONT_HEIGHT * s <= 0)
		return width;
	int ch;
	while ((ch = next_glyph(&text)) != 0 && gx < c->width) {
		if (gx + KCV_FONT_WIDTH * s > 0) {
			const uint8_t *rows = kcv_font_glyph(ch);
			for (int row = 0; row < KCV_FONT_HEIGHT; row++) {
				long long py = (long long)y + row * s;
				for (int col = 0; col < KCV_FONT_WIDTH; col++) {
					if (!(rows[row] & (1u << (KCV_FONT_WIDTH - 1 - col))))
						continue;
					long long px = gx + col * s;
					fill_ll(c, px, py, px + s, py + s, rgb);
				}
			}
		}
		gx += GLYPH_ADVANCE * s;
	}
	return width;
}

void kcv_draw_label(kcv_canvas *c, int x, int y, const char *text, int scale,
                    const uint8_t bg[3])
{
	if (!canvas_ok(c) || !bg || !text)
		return;
	int s = clamp_scale(scale);
	long long pad = s;
	long long w = text_width_ll(text, s) + 2 * pad;
	long long h = (long long)KCV_FONT_HEIGHT * s + 2 * pad;
	long long top = (long long)y - h >= 0 ? (long long)y - h : y;
	long long left = x;
	/* Keep it on the canvas horizontally when it fits. */
	if (left + w > c->width)
		left = c->width - w;
	if (left < 0)
		left = 0;
	fill_ll(c, left, top, left + w, top + h, bg);
	/* Black on light backgrounds, white on dark ones (Rec. 601 luma). */
	double luma = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2];
	static const uint8_t black[3] = { 0, 0, 0 }, white[3] = { 255, 255, 255 };
	long long tx = left + pad, ty = top + pad;
	if (tx > 0x7fffffff || ty > 0x7fffffff || ty < -0x7fffffff)
		return;
	kcv_draw_text(c, (int)tx, (int)ty, text, s, luma >= 128.0 ? black : white);
}

static uint8_t to_byte(float v)
{
	if (!(v > 0.0f)) /* also NaN */
		return 0;
	if (v >= 255.0f)
		return 255;
	return (uint8_t)lroundf(v);
}

void kcv_draw_blit_float(kcv_canvas *c, int x, int y, const float *src, int w, int h)
{
	if (!canvas_ok(c) || !src || w <= 0 || h <= 0)
		return;
	long long x0 = clampll(x, 0, c->width), x1 = clampll((long long)x + w, 0, c->width);
	long long y0 = clampll(y, 0, c->height), y1 = clampll((long long)y + h, 0, c->height);
	for (long long cy = y0; cy < y1; cy++) {
		const float *s = src + ((size_t)(cy - y) * (size_t)w + (size_t)(x0 - x)) * 3;
		uint8_t *d = c->rgb + ((size_t)cy * (size_t)c->width + (size_t)x0) * 3;
		for (long long cx = x0; cx < x1; cx++) {
			*d++ = to_byte(*s++);
			*d++ = to_byte(*s++);
			*d++ = to_byte(*s++);
		}
	}
}
