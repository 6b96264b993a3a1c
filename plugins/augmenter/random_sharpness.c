/* random_sharpness: KerasCV RandomSharpness.
 *
 * f ~ U[0, factor) per image (a [lo, hi] factor gives U[lo, hi)). The image
 * (mapped from value_range to [0,255]) is smoothed depthwise with the kernel
 * [[1,1,1],[1,5,1],[1,1,1]] / 13 on the interior only (a VALID convolution,
 * clipped to [0,255]); the 1-pixel border keeps the original. Then
 *   out = clip(orig + f (smoothed - orig), 0, 255)
 * and the result is mapped back. Despite the name this is a mild blur
 * (f = 0 is the identity), faithfully to KerasCV. Boxes are untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/plugin.h>
#include <kcv/registry.h>

typedef struct sharp_config {
	kcv_floats factor;
	kcv_floats value_range;
} sharp_config;

typedef struct sharp_priv {
	double lo, hi;    /* factor range */
	float vlo, vhi;   /* value_range */
	int map_range;    /* value_range is not [0,255] */
	float *rows;      /* 2 saved original rows */
	size_t rows_cap;  /* floats */
	char path[256];
} sharp_priv;

static const kcv_option sharp_options[] = {
	{.name = "factor",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(sharp_config, factor),
	 .def = "0.1",
	 .min = 0,
	 .max = 1,
	 .min_items = 1,
	 .max_items = 2,
	 .doc = "f: blend weight ~ U[0,f); [lo, hi]: U[lo,hi) (0 = unchanged, 1 = smoothed)"},
	{.name = "value_range",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(sharp_config, value_range),
	 .def = "[0, 255]",
	 .min_items = 2,
	 .max_items = 2,
	 .doc = "[low, high] of the pixel values the layer sees",
	 .flags = KCV_OPT_ASCENDING},
	{0},
};

static kcv_status sharp_create(void *priv, const void *config, const kcv_context *ctx,
                               kcv_error *err)
{
	sharp_priv *p = priv;
	const sharp_config *c = config;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");
	/* 2 increasing values: checked by the schema */
	p->vlo = (float)c->value_range.v[0];
	p->vhi = (float)c->value_range.v[1];
	p->map_range = !(p->vlo == 0.0f && p->vhi == 255.0f);
	if (c->factor.n == 0)
		return kcv_error_option(err, ctx, "factor", "expected a number or [low, high]");
	if (c->factor.n == 2) {
		if (c->factor.v[0] > c->factor.v[1])
			return kcv_error_option(err, ctx, "factor",
			                    "lower bound must not exceed upper bound (got [%g, %g])",
			                    c->factor.v[0], c->factor.v[1]);
		p->lo = c->factor.v[0];
		p->hi = c->factor.v[1];
	} else {
		p->lo = 0.0;
		p->hi = c->factor.v[0];
	}
	return KCV_OK;
}

static void sharp_destroy(void *priv)
{
	sharp_priv *p = priv;
	free(p->rows);
	p->rows = NULL;
}

static void map_values(float *px, size_t n, float scale, float offset_in, float offset_out)
{
	for (size_t i = 0; i < n; i++)
		px[i] = (px[i] - offset_in) * scale + offset_out;
}

static inline float clip255(float x)
{
	return x < 0.0f ? 0.0f : (x > 255.0f ? 255.0f : x);
}

/* Output row `cur` (in place) from the original rows above/at/below it.
 * n = 3 * width floats; only elements 3..n-4 (interior pixels) change. */
static void blur_row(float *restrict out, const float *restrict up,
                     const float *restrict mid, const float *restrict down, size_t n,
                     float f)
{
	const float k = 1.0f / 13.0f;
	size_t i = 3;
	/* Blocks of 8 so that gcc vectorises at -O2. */
	for (; i + 8 + 3 <= n; i += 8) {
		for (int j = 0; j < 8; j++) {
			size_t e = i + j;
			float sum = up[e - 3] + up[e] + up[e + 3] + mid[e - 3] + 5.0f * mid[e] +
			            mid[e + 3] + down[e - 3] + down[e] + down[e + 3];
			float sm = clip255(sum * k);
			out[e] = clip255(mid[e] + f * (sm - mid[e]));
		}
	}
	for (; i + 3 < n; i++) {
		float sum = up[i - 3] + up[i] + up[i + 3] + mid[i - 3] + 5.0f * mid[i] +
		            mid[i + 3] + down[i - 3] + down[i] + down[i + 3];
		float sm = clip255(sum * k);
		out[i] = clip255(mid[i] + f * (sm - mid[i]));
	}
}

static kcv_status sharp_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	sharp_priv *p = priv;
	float f = (float)kcv_rng_range(rng, p->lo, p->hi);
	if (!s->pixels || s->width < 3 || s->height < 3 || (p->lo == 0 && p->hi == 0))
		return KCV_OK;
	int w = s->width, h = s->height;
	size_t n = (size_t)w * 3;
	if (p->rows_cap < 2 * n) {
		float *rows = realloc(p->rows, 2 * n * sizeof(float));
		if (!rows)
			return KCV_ERROR(err, KCV_ERR_NOMEM, s->id, p->path,
			                 "out of memory for a %d-pixel row", w);
		p->rows = rows;
		p->rows_cap = 2 * n;
	}
	float *px = s->pixels;
	if (p->map_range)
		map_values(px, n * h, 255.0f / (p->vhi - p->vlo), p->vlo, 0.0f);
	/* prev holds original row y-1, cur original row y; row y+1 is still
	 * untouched in the image when row y is written. */
	float *prev = p->rows, *cur = p->rows + n;
	memcpy(prev, px, n * sizeof(float));
	for (int y = 1; y < h - 1; y++) {
		float *row = px + (size_t)y * n;
		memcpy(cur, row, n * sizeof(float));
		blur_row(row, prev, cur, row + n, n, f);
		float *t = prev;
		prev = cur;
		cur = t;
	}
	if (p->map_range)
		map_values(px, n * h, (p->vhi - p->vlo) / 255.0f, 0.0f, p->vlo);
	return KCV_OK;
}

static const kcv_augmenter_vtable sharp_vtable = {.apply = sharp_apply};

static const kcv_component sharp_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "random_sharpness",
	.summary = "blend with a 3x3 smoothing of the image (KerasCV RandomSharpness; blurs)",
	.options = sharp_options,
	.config_size = sizeof(sharp_config),
	.priv_size = sizeof(sharp_priv),
	.create = sharp_create,
	.destroy = sharp_destroy,
	.vtable = &sharp_vtable,
};

static const kcv_component *const components[] = {&sharp_component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "random_sharpness",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "KerasCV RandomSharpness augmenter",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
