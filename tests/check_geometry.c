/* Check suite for the geometry: the bilinear resize (core/resize.c) and the
 * augmenter plugins jittered_resize and random_crop. Each test compares with
 * an oracle written here (a double-precision resize, the documented window
 * search replicated) rather than with the code under test. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/kcv.h>

#include "augment_util.h"
#include "harness.h"

/* ---- helpers --------------------------------------------------------------- */

/* A black image with white (255) rectangles, each also pushed as a box. */
static void rect_sample(kcv_sample *s, int w, int h, const float *rects, size_t n)
{
	kcv_error err = {0};
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(kcv_sample_resize_buffer(s, w, h, &err), KCV_OK);
	memset(s->pixels, 0, nfloats(s) * sizeof(float));
	for (size_t i = 0; i < n; i++) {
		const float *r = rects + 4 * i;
		for (int y = (int)r[1]; y < (int)r[3]; y++)
			for (int x = (int)r[0]; x < (int)r[2]; x++)
				for (int c = 0; c < 3; c++)
					s->pixels[((size_t)y * w + x) * 3 + c] = 255.0f;
		ck_assert_int_eq(kcv_boxes_push(&s->boxes, r, (int32_t)i, 0, 0, &err), KCV_OK);
	}
	s->boxes.format = KCV_BOX_XYXY;
}

/* Bounds [x0, y0, x1, y1] (pixel edges) of pixels brighter than half; returns
 * how many there are. */
static size_t white_bounds(const kcv_sample *s, float out[4])
{
	size_t n = 0;
	out[0] = out[1] = 1e9f;
	out[2] = out[3] = -1e9f;
	for (int y = 0; y < s->height; y++)
		for (int x = 0; x < s->width; x++)
			if (px(s, x, y, 0) > 127.5f) {
				n++;
				out[0] = fminf(out[0], (float)x);
				out[1] = fminf(out[1], (float)y);
				out[2] = fmaxf(out[2], (float)x + 1);
				out[3] = fmaxf(out[3], (float)y + 1);
			}
	return n;
}

/* The white region must be tightly bounded by the single remaining box. */
static void check_box_tracks_rect(const kcv_sample *s, uint64_t seed)
{
	float wb[4];
	size_t n = white_bounds(s, wb);
	if (s->boxes.count == 0) {
		ck_assert_msg(n == 0, "seed %llu: box removed but %zu white pixels remain",
		              (unsigned long long)seed, n);
		return;
	}
	ck_assert_uint_eq(s->boxes.count, 1);
	const float *b = s->boxes.coords;
	if (n == 0) {
		/* a sliver thinner than half a pixel renders below the threshold */
		ck_assert_msg(b[2] - b[0] < 1.5f || b[3] - b[1] < 1.5f,
		              "seed %llu: box [%g %g %g %g] but no white pixels",
		              (unsigned long long)seed, b[0], b[1], b[2], b[3]);
		return;
	}
	for (int k = 0; k < 4; k++)
		ck_assert_msg(fabsf(b[k] - wb[k]) <= 1.5f,
		              "seed %llu: box [%g %g %g %g] vs white [%g %g %g %g]",
		              (unsigned long long)seed, b[0], b[1], b[2], b[3], wb[0], wb[1], wb[2],
		              wb[3]);
}
/* ---- resize ---------------------------------------------------------------- */

/* tf.image.resize bilinear, half-pixel centres, in double. */
static double ref_resize(const float *src, int sw, int sh, int ch, int dw, int dh, int x, int y,
                         int c)
{
	/* sample positions in float, as TensorFlow computes them */
	float scx = (float)sw / (float)dw, scy = (float)sh / (float)dh;
	double fx = ((float)x + 0.5f) * scx - 0.5f;
	double fy = ((float)y + 0.5f) * scy - 0.5f;
	int xl = (int)floor(fx), yl = (int)floor(fy);
	int xh = (int)ceil(fx), yh = (int)ceil(fy);
	double lx = fx - xl, ly = fy - yl;
	xl = xl < 0 ? 0 : xl;
	yl = yl < 0 ? 0 : yl;
	xh = xh > sw - 1 ? sw - 1 : xh;
	yh = yh > sh - 1 ? sh - 1 : yh;
#define AT(X, Y) ((double)src[((size_t)(Y) * sw + (X)) * ch + c])
	double top = AT(xl, yl) + (AT(xh, yl) - AT(xl, yl)) * lx;
	double bot = AT(xl, yh) + (AT(xh, yh) - AT(xl, yh)) * lx;
#undef AT
	return top + (bot - top) * ly;
}

START_TEST(test_resize_2x2_to_4x4)
{
	/* s = (d + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> weights of the
	 * second pixel 0, 0.25, 0.75, 1 along each axis. */
	const float src[4] = {0, 10, 20, 30};
	const uint8_t src8[4] = {0, 10, 20, 30};
	const float want[16] = {0,  2.5f,  7.5f,  10, 5,  7.5f,  12.5f, 15,
	                        15, 17.5f, 22.5f, 25, 20, 22.5f, 27.5f, 30};
	float out[16], out8[16];
	kcv_image_resize_bilinear(src, 2, 2, out, 4, 4, 1);
	kcv_image_resize_bilinear_u8(src8, 2, 2, out8, 4, 4, 1);
	for (int i = 0; i < 16; i++) {
		ck_assert_float_eq(out[i], want[i]);
		ck_assert_float_eq(out8[i], want[i]);
	}
}
END_TEST

START_TEST(test_resize_reference)
{
	const int cases[][5] = {{37, 23, 64, 48, 3}, {100, 80, 31, 17, 3}, {5, 7, 13, 3, 1},
	                        {64, 48, 64, 97, 4}, {3, 1, 1, 5, 3},      {2000, 2, 6000, 3, 3},
	                        {1, 1, 4, 3, 3},     {640, 427, 512, 512, 3}};
	kcv_rng rng;
	kcv_rng_seed(&rng, 5, 0, 0, 0);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		int sw = cases[k][0], sh = cases[k][1], dw = cases[k][2], dh = cases[k][3];
		int ch = cases[k][4];
		size_t ns = (size_t)sw * sh * ch, nd = (size_t)dw * dh * ch;
		float *src = malloc(ns * sizeof(float)), *out = malloc(nd * sizeof(float));
		float *out8 = malloc(nd * sizeof(float));
		uint8_t *src8 = malloc(ns);
		for (size_t i = 0; i < ns; i++) {
			src8[i] = (uint8_t)kcv_rng_below(&rng, 256);
			src[i] = src8[i];
		}
		kcv_image_resize_bilinear(src, sw, sh, out, dw, dh, ch);
		kcv_image_resize_bilinear_u8(src8, sw, sh, out8, dw, dh, ch);
		for (int y = 0; y < dh; y++)
			for (int x = 0; x < dw; x++)
				for (int c = 0; c < ch; c++) {
					double r = ref_resize(src, sw, sh, ch, dw, dh, x, y, c);
					size_t i = ((size_t)y * dw + x) * ch + c;
					ck_assert_msg(fabs(out[i] - r) < 2e-3 && fabs(out8[i] - r) < 2e-3,
					              "case %zu (%d,%d,%d): %g / %g vs %g", k, x, y, c,
					              out[i], out8[i], r);
				}
		free(src);
		free(src8);
		free(out);
		free(out8);
	}
}
END_TEST

START_TEST(test_resize_identity)
{
	kcv_rng rng;
	kcv_rng_seed(&rng, 9, 0, 0, 0);
	int w = 33, h = 21;
	size_t n = (size_t)w * h * 3;
	float *src = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
	uint8_t *src8 = malloc(n);
	for (size_t i = 0; i < n; i++) {
		src[i] = (float)kcv_rng_range(&rng, -5, 300);
		src8[i] = (uint8_t)kcv_rng_below(&rng, 256);
	}
	kcv_image_resize_bilinear(src, w, h, out, w, h, 3);
	ck_assert(memcmp(src, out, n * sizeof(float)) == 0);
	kcv_image_resize_bilinear_u8(src8, w, h, out, w, h, 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_float_eq(out[i], (float)src8[i]);
	free(src);
	free(src8);
	free(out);
}
END_TEST
/* ---- jittered_resize ------------------------------------------------------- */

START_TEST(test_jittered_geometry)
{
	kcv_registry *reg = harness_registry();
	/* 100x50 into 80x80 at scale 1: scale = min(80/100, 80/50) = 0.8 -> 80x40,
	 * no offset, rows 40..79 are padding */
	kcv_instance *j = aug_new(reg, "{\"plugin\": \"jittered_resize\", \"target_size\": "
	                               "[80, 80], \"scale_factor\": [1, 1], \"fill_value\": 114}");
	const float box[] = {10, 10, 50, 30};
	kcv_sample s = {0}, orig = {0};
	harness_sample(&orig, 100, 50, box, 1);
	copy_sample(&s, &orig);
	kcv_rng rng;
	kcv_rng_seed(&rng, 1, 0, 0, 0);
	apply_ok(j, &s, &rng);
	ck_assert_int_eq(s.width, 80);
	ck_assert_int_eq(s.height, 80);
	const float want[4] = {8, 8, 40, 24};
	ck_assert_uint_eq(s.boxes.count, 1);
	for (int k = 0; k < 4; k++)
		ck_assert(fabsf(s.boxes.coords[k] - want[k]) < 1e-4f);
	float *ref = malloc(80 * 40 * 3 * sizeof(float));
	kcv_image_resize_bilinear(orig.pixels, 100, 50, ref, 80, 40, 3);
	ck_assert(memcmp(s.pixels, ref, 80 * 40 * 3 * sizeof(float)) == 0);
	for (size_t i = 80 * 40 * 3; i < nfloats(&s); i++)
		ck_assert_float_eq(s.pixels[i], 114);
	free(ref);
	kcv_instance_free(j);

	/* scale 2 into 40x40: 80x40 resized, x offset floor(40 ux) */
	j = aug_new(reg, "{\"plugin\": \"jittered_resize\", \"target_size\": [40, 40], "
	                 "\"scale_factor\": [2, 2]}");
	ref = malloc(80 * 40 * 3 * sizeof(float));
	kcv_image_resize_bilinear(orig.pixels, 100, 50, ref, 80, 40, 3);
	for (uint64_t seed = 0; seed < 10; seed++) {
		copy_sample(&s, &orig);
		kcv_rng copy;
		kcv_rng_seed(&rng, seed, 5, 0, 0);
		copy = rng;
		(void)kcv_rng_range(&copy, 2, 2);
		int ox = (int)floor(40 * kcv_rng_uniform(&copy));
		apply_ok(j, &s, &rng);
		ck_assert_int_eq(s.width, 40);
		ck_assert_int_eq(s.height, 40);
		for (int y = 0; y < 40; y++)
			ck_assert(memcmp(s.pixels + (size_t)y * 40 * 3, ref + ((size_t)y * 80 + ox) * 3,
			                 40 * 3 * sizeof(float)) == 0);
		float x0 = fmaxf(8 - (float)ox, 0), x1 = fminf(40 - (float)ox, 40);
		if (x1 > x0) {
			ck_assert_uint_eq(s.boxes.count, 1);
			ck_assert(fabsf(s.boxes.coords[0] - x0) < 1e-4f);
			ck_assert(fabsf(s.boxes.coords[2] - x1) < 1e-4f);
			ck_assert(fabsf(s.boxes.coords[1] - 8) < 1e-4f);
		} else {
			ck_assert_uint_eq(s.boxes.count, 0);
		}
		kcv_sample_release(&s);
	}
	free(ref);
	kcv_instance_free(j);

	/* the default target is the pipeline image size (64x48 in the harness) */
	j = aug_new(reg, "{\"plugin\": \"jittered_resize\"}");
	copy_sample(&s, &orig);
	apply_ok(j, &s, &rng);
	ck_assert_int_eq(s.width, 64);
	ck_assert_int_eq(s.height, 48);
	kcv_sample_release(&s);
	kcv_sample_release(&orig);
	kcv_instance_free(j);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_jittered_tracks_boxes)
{
	kcv_registry *reg = harness_registry();
	const char *specs[] = {
		"{\"plugin\": \"jittered_resize\", \"target_size\": [64, 64]}",
		"{\"plugin\": \"jittered_resize\", \"target_size\": [96, 64], "
		"\"scale_factor\": [0.5, 2.0]}",
	};
	const float rects[][4] = {{30, 20, 70, 60}, {0, 0, 25, 90}, {90, 50, 120, 90}};
	for (size_t k = 0; k < 2; k++) {
		kcv_instance *j = aug_new(reg, specs[k]);
		for (uint64_t seed = 0; seed < 60; seed++) {
			kcv_sample s = {0};
			rect_sample(&s, 120, 90, rects[seed % 3], 1);
			kcv_rng rng;
			kcv_rng_seed(&rng, seed, 6, k, 0);
			apply_ok(j, &s, &rng);
			check_box_tracks_rect(&s, seed);
			kcv_sample_release(&s);
		}
		kcv_instance_free(j);
	}
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_jittered_min_visibility)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *j = aug_new(reg, "{\"plugin\": \"jittered_resize\", \"target_size\": "
	                               "[50, 50], \"scale_factor\": [1.5, 2.0], "
	                               "\"min_visibility\": 0.5}");
	const float boxes[] = {60, 60, 100, 100, 0, 0, 30, 30, 40, 10, 90, 20};
	int removed = 0, kept = 0;
	for (uint64_t seed = 0; seed < 80; seed++) {
		kcv_sample s = {0};
		harness_sample(&s, 100, 100, boxes, 3);
		kcv_rng rng, copy;
		kcv_rng_seed(&rng, seed, 8, 0, 0);
		copy = rng;
		/* replicate the documented geometry */
		double f = kcv_rng_range(&copy, 1.5, 2.0);
		double ux = kcv_rng_uniform(&copy), uy = kcv_rng_uniform(&copy);
		double st = nearbyint(50 * f), scale = st / 100;
		int nw = (int)nearbyint(100 * scale);
		int ox = (int)floor((nw > 50 ? nw - 50 : 0) * ux);
		int oy = (int)floor((nw > 50 ? nw - 50 : 0) * uy);
		double sc = nw / 100.0;
		apply_ok(j, &s, &rng);
		size_t at = 0;
		for (int b = 0; b < 3; b++) {
			const float *o = boxes + 4 * b;
			double t[4] = {o[0] * sc - ox, o[1] * sc - oy, o[2] * sc - ox, o[3] * sc - oy};
			double u[4] = {fmin(fmax(t[0], 0), 50), fmin(fmax(t[1], 0), 50),
			               fmin(fmax(t[2], 0), 50), fmin(fmax(t[3], 0), 50)};
			double vis = (u[2] - u[0]) * (u[3] - u[1]) / ((t[2] - t[0]) * (t[3] - t[1]));
			if (fabs(vis - 0.5) < 1e-3)
				goto next; /* too close to the threshold to call */
			if (vis >= 0.5) {
				ck_assert_msg(at < s.boxes.count && s.boxes.classes[at] == b,
				              "seed %llu: box %d (visible %.3f) missing",
				              (unsigned long long)seed, b, vis);
				for (int k = 0; k < 4; k++)
					ck_assert(fabs(s.boxes.coords[4 * at + k] - u[k]) < 1e-3);
				at++;
				kept++;
			} else {
				ck_assert_msg(at >= s.boxes.count || s.boxes.classes[at] != b,
				              "seed %llu: box %d (visible %.3f) kept",
				              (unsigned long long)seed, b, vis);
				removed++;
			}
		}
		ck_assert_uint_eq(at, s.boxes.count);
	next:
		kcv_sample_release(&s);
	}
	ck_assert(kept > 10 && removed > 10);
	kcv_instance_free(j);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_jittered_errors)
{
	kcv_registry *reg = harness_registry();
	const char *m;
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"jittered_resize\", \"scale_factor\": [1.2, 0.8]}",
	                      NULL);
	assert_contains(m, "test.scale_factor");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"jittered_resize\", \"scale_factor\": [0, 1]}", NULL);
	assert_contains(m, "test.scale_factor: lower bound must be above 0");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"jittered_resize\", \"target_size\": [0, 10]}", NULL);
	assert_contains(m, "test.target_size");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"jittered_resize\", \"min_visibility\": 1.5}", NULL);
	assert_contains(m, "test.min_visibility");
	kcv_context ctx = harness_context(reg, 0, 0);
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER, "{\"plugin\": \"jittered_resize\"}", &ctx);
	assert_contains(m, "test.target_size: not set");
	kcv_registry_free(reg);
}
END_TEST

/* ---- random_crop ----------------------------------------------------------- */

typedef struct crop_window {
	int found, x0, y0, w, h;
} crop_window;

/* The documented window search, replicated (rate 1). */
static crop_window crop_oracle(kcv_rng *rng, int W, int H, const float *boxes, size_t n,
                               double slo, double shi, double rlo, double rhi, double minvis)
{
	crop_window cw = {0, 0, 0, W, H};
	for (int attempt = 0; attempt < 10; attempt++) {
		double a = kcv_rng_range(rng, slo, shi) * W * H;
		double r = exp(kcv_rng_range(rng, log(rlo), log(rhi)));
		int w = (int)nearbyint(sqrt(a * r)), h = (int)nearbyint(sqrt(a / r));
		if (w < 1 || h < 1 || w > W || h > H)
			continue;
		int x0 = (int)kcv_rng_below(rng, (uint64_t)(W - w + 1));
		int y0 = (int)kcv_rng_below(rng, (uint64_t)(H - h + 1));
		size_t kept = 0;
		for (size_t i = 0; i < n; i++) {
			const float *b = boxes + 4 * i;
			double iw = fmin(b[2], x0 + w) - fmax(b[0], x0);
			double ih = fmin(b[3], y0 + h) - fmax(b[1], y0);
			if (iw > 0 && ih > 0 && iw * ih >= minvis * (b[2] - b[0]) * (b[3] - b[1]))
				kept++;
		}
		if (n && !kept)
			continue;
		return (crop_window){1, x0, y0, w, h};
	}
	return cw;
}

START_TEST(test_crop_oracle)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *c = aug_new(reg, "{\"plugin\": \"random_crop\", \"min_visibility\": 0.37}");
	const float boxes[] = {2, 3, 20, 25, 30, 10, 60, 40, 50, 30, 64, 48};
	int changed = 0;
	for (uint64_t seed = 0; seed < 60; seed++) {
		kcv_sample s = {0}, orig = {0};
		harness_sample(&orig, 64, 48, boxes, 3);
		copy_sample(&s, &orig);
		kcv_rng rng, copy;
		kcv_rng_seed(&rng, seed, 10, 0, 0);
		copy = rng;
		crop_window cw = crop_oracle(&copy, 64, 48, boxes, 3, 0.3, 1.0, 0.75, 4.0 / 3, 0.37);
		apply_ok(c, &s, &rng);
		ck_assert_int_eq(s.width, 64);
		ck_assert_int_eq(s.height, 48);
		if (!cw.found) {
			ck_assert(memcmp(s.pixels, orig.pixels, nfloats(&s) * sizeof(float)) == 0);
			kcv_sample_release(&s);
			kcv_sample_release(&orig);
			continue;
		}
		changed += cw.w != 64 || cw.h != 48;
		/* pixels: the window resized back */
		float *win = malloc((size_t)cw.w * cw.h * 3 * sizeof(float));
		float *ref = malloc(nfloats(&s) * sizeof(float));
		for (int y = 0; y < cw.h; y++)
			memcpy(win + (size_t)y * cw.w * 3, orig.pixels + ((size_t)(cw.y0 + y) * 64 + cw.x0) * 3,
			       (size_t)cw.w * 3 * sizeof(float));
		kcv_image_resize_bilinear(win, cw.w, cw.h, ref, 64, 48, 3);
		ck_assert(memcmp(s.pixels, ref, nfloats(&s) * sizeof(float)) == 0);
		free(win);
		free(ref);
		/* boxes: mapped, clipped, filtered by visibility */
		size_t at = 0;
		double sx = 64.0 / cw.w, sy = 48.0 / cw.h;
		for (int b = 0; b < 3; b++) {
			const float *o = boxes + 4 * b;
			double u[4] = {fmax(o[0], cw.x0), fmax(o[1], cw.y0), fmin(o[2], cw.x0 + cw.w),
			               fmin(o[3], cw.y0 + cw.h)};
			double iw = u[2] - u[0], ih = u[3] - u[1];
			double vis = iw > 0 && ih > 0 ? iw * ih / ((o[2] - o[0]) * (o[3] - o[1])) : 0;
			if (vis >= 0.37) {
				ck_assert_msg(at < s.boxes.count && s.boxes.classes[at] == b,
				              "seed %llu box %d", (unsigned long long)seed, b);
				const float *g = s.boxes.coords + 4 * at;
				ck_assert(fabs(g[0] - (u[0] - cw.x0) * sx) < 1e-3);
				ck_assert(fabs(g[1] - (u[1] - cw.y0) * sy) < 1e-3);
				ck_assert(fabs(g[2] - (u[2] - cw.x0) * sx) < 1e-3);
				ck_assert(fabs(g[3] - (u[3] - cw.y0) * sy) < 1e-3);
				at++;
			}
		}
		ck_assert_uint_eq(at, s.boxes.count);
		kcv_sample_release(&s);
		kcv_sample_release(&orig);
	}
	ck_assert(changed > 40);
	kcv_instance_free(c);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_crop_tracks_boxes_and_rate)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *c = aug_new(reg, "{\"plugin\": \"random_crop\", \"min_visibility\": 0}");
	const float rects[][4] = {{30, 20, 70, 60}, {0, 0, 25, 90}, {90, 50, 120, 90}};
	for (uint64_t seed = 0; seed < 60; seed++) {
		kcv_sample s = {0};
		rect_sample(&s, 120, 90, rects[seed % 3], 1);
		kcv_rng rng;
		kcv_rng_seed(&rng, seed, 11, 0, 0);
		apply_ok(c, &s, &rng);
		check_box_tracks_rect(&s, seed);
		kcv_sample_release(&s);
	}
	kcv_instance_free(c);

	/* rate 0: never */
	c = aug_new(reg, "{\"plugin\": \"random_crop\", \"rate\": 0}");
	kcv_sample s = {0}, orig = {0};
	const float box[] = {1, 1, 5, 5};
	harness_sample(&orig, 20, 20, box, 1);
	for (uint64_t seed = 0; seed < 20; seed++) {
		copy_sample(&s, &orig);
		kcv_rng rng;
		kcv_rng_seed(&rng, seed, 12, 0, 0);
		apply_ok(c, &s, &rng);
		ck_assert(memcmp(s.pixels, orig.pixels, nfloats(&s) * sizeof(float)) == 0);
		ck_assert(memcmp(s.boxes.coords, box, sizeof(box)) == 0);
		kcv_sample_release(&s);
	}
	kcv_instance_free(c);

	/* a corner box that must stay whole: never dropped, only kept whole */
	c = aug_new(reg, "{\"plugin\": \"random_crop\", \"scale\": [0.3, 0.3], "
	                 "\"min_visibility\": 1.0}");
	for (uint64_t seed = 0; seed < 40; seed++) {
		copy_sample(&s, &orig);
		kcv_rng rng;
		kcv_rng_seed(&rng, seed, 13, 0, 0);
		apply_ok(c, &s, &rng);
		ck_assert_uint_eq(s.boxes.count, 1);
		const float *b = s.boxes.coords;
		/* whole: the box grows by the zoom factor, both sides alike */
		ck_assert(b[2] - b[0] >= 4 - 1e-3 && b[3] - b[1] >= 4 - 1e-3);
		kcv_sample_release(&s);
	}
	kcv_sample_release(&orig);
	kcv_instance_free(c);

	const char *m;
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"random_crop\", \"scale\": [0.9, 0.5]}", NULL);
	assert_contains(m, "test.scale: lower bound must not exceed upper bound");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"random_crop\", \"ratio\": [0, 2]}", NULL);
	assert_contains(m, "test.ratio: lower bound must be above 0");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER, "{\"plugin\": \"random_crop\", \"rate\": 2}",
	                      NULL);
	assert_contains(m, "test.rate");
	kcv_registry_free(reg);
}
END_TEST

static Suite *geometry_suite(void)
{
	Suite *s = suite_create("geometry");
	TCase *tc;

	tc = tcase_create("resize");
	tcase_add_test(tc, test_resize_2x2_to_4x4);
	tcase_add_test(tc, test_resize_reference);
	tcase_add_test(tc, test_resize_identity);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("jittered_resize");
	tcase_add_test(tc, test_jittered_geometry);
	tcase_add_test(tc, test_jittered_tracks_boxes);
	tcase_add_test(tc, test_jittered_min_visibility);
	tcase_add_test(tc, test_jittered_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("random_crop");
	tcase_add_test(tc, test_crop_oracle);
	tcase_add_test(tc, test_crop_tracks_boxes_and_rate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(geometry_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
