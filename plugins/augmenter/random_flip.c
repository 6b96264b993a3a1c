/* random_flip: KerasCV RandomFlip; random_transpose: the missing generator of
 * the 8 symmetries of a square (with both flips it gives every rotation by 90
 * degrees and every mirror).
 *
 * Each enabled axis flips when u ~ U[0,1) > 0.5, one draw per enabled axis,
 * horizontal first. Boxes (xyxy pixels) are mirrored, x1' = W - x2 and
 * x2' = W - x1 (vertically y1' = H - y2, y2' = H - y1), then clipped to the
 * image. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <kcv/plugin.h>
#include <kcv/registry.h>

enum flip_mode { MODE_HORIZONTAL = 0, MODE_VERTICAL, MODE_BOTH };

typedef struct flip_config {
	int mode;
} flip_config;

typedef struct flip_priv {
	int horizontal, vertical;
	char path[256];
} flip_priv;

static const char *const mode_names[] = {"horizontal", "vertical", "horizontal_and_vertical",
                                         NULL};

static const kcv_option flip_options[] = {
	{.name = "mode",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(flip_config, mode),
	 .def = "\"horizontal\"",
	 .choices = mode_names,
	 .doc = "axes that may flip, each with probability 0.5"},
	{0},
};

static kcv_status flip_create(void *priv, const void *config, const kcv_context *ctx,
                              kcv_error *err)
{
	flip_priv *p = priv;
	const flip_config *c = config;
	p->horizontal = c->mode == MODE_HORIZONTAL || c->mode == MODE_BOTH;
	p->vertical = c->mode == MODE_VERTICAL || c->mode == MODE_BOTH;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");
	return KCV_OK;
}

/* Mirror every row: pixel x swaps with pixel W-1-x. */
static void flip_pixels_horizontal(float *px, int w, int h)
{
	for (int y = 0; y < h; y++) {
		float *row = px + (size_t)y * w * 3;
		for (int a = 0, b = w - 1; a < b; a++, b--) {
			float *pa = row + 3 * a, *pb = row + 3 * b;
			for (int c = 0; c < 3; c++) {
				float t = pa[c];
				pa[c] = pb[c];
				pb[c] = t;
			}
		}
	}
}

/* Swap row y with row H-1-y. */
static void flip_pixels_vertical(float *px, int w, int h)
{
	size_t n = (size_t)w * 3;
	for (int a = 0, b = h - 1; a < b; a++, b--) {
		float *ra = px + (size_t)a * n, *rb = px + (size_t)b * n;
		for (size_t i = 0; i < n; i++) {
			float t = ra[i];
			ra[i] = rb[i];
			rb[i] = t;
		}
	}
}

static kcv_status flip_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	flip_priv *p = priv;
	if (s->boxes.count && s->boxes.format != KCV_BOX_XYXY)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, s->id, p->path,
		                 "boxes must arrive in xyxy pixels");
	int fh = p->horizontal && kcv_rng_uniform(rng) > 0.5;
	int fv = p->vertical && kcv_rng_uniform(rng) > 0.5;
	if (!fh && !fv)
		return KCV_OK;
	float w = (float)s->width, h = (float)s->height;
	float *b = s->boxes.coords;
	for (size_t i = 0; i < s->boxes.count; i++, b += 4) {
		if (fh) {
			float x1 = b[0];
			b[0] = w - b[2];
			b[2] = w - x1;
		}
		if (fv) {
			float y1 = b[1];
			b[1] = h - b[3];
			b[3] = h - y1;
		}
	}
	kcv_boxes_clip(&s->boxes, w, h);
	if (s->pixels) {
		if (fh)
			flip_pixels_horizontal(s->pixels, s->width, s->height);
		if (fv)
			flip_pixels_vertical(s->pixels, s->width, s->height);
	}
	return KCV_OK;
}

static const kcv_augmenter_vtable flip_vtable = {.apply = flip_apply};

static const kcv_component flip_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "random_flip",
	.summary = "flip images and boxes horizontally and/or vertically (KerasCV RandomFlip)",
	.options = flip_options,
	.config_size = sizeof(flip_config),
	.priv_size = sizeof(flip_priv),
	.create = flip_create,
	.destroy = NULL,
	.vtable = &flip_vtable,
};

/* ---- random_transpose ---------------------------------------------------- */

typedef struct transpose_config {
	double probability;
} transpose_config;

typedef struct transpose_priv {
	double probability;
	char path[256];
} transpose_priv;

static const kcv_option transpose_options[] = {
	{.name = "probability",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(transpose_config, probability),
	 .def = "0.5",
	 .min = 0,
	 .max = 1,
	 .doc = "chance that an image is transposed (x and y swapped)"},
	{0},
};

static kcv_status transpose_create(void *priv, const void *config, const kcv_context *ctx,
                                   kcv_error *err)
{
	transpose_priv *p = priv;
	p->probability = ((const transpose_config *)config)->probability;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");
	if (ctx && ctx->image_width != ctx->image_height)
		return kcv_error_option(err, ctx, NULL,
		                        "random_transpose needs square images (image_size is %dx%d)",
		                        ctx->image_height, ctx->image_width);
	return KCV_OK;
}

/* Swap pixel (x, y) with pixel (y, x) of a square image. */
static void transpose_pixels(float *px, int n)
{
	for (int y = 0; y < n; y++)
		for (int x = y + 1; x < n; x++) {
			float *a = px + ((size_t)y * n + x) * 3, *b = px + ((size_t)x * n + y) * 3;
			for (int c = 0; c < 3; c++) {
				float t = a[c];
				a[c] = b[c];
				b[c] = t;
			}
		}
}

static kcv_status transpose_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	transpose_priv *p = priv;
	if (s->boxes.count && s->boxes.format != KCV_BOX_XYXY)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, s->id, p->path,
		                 "boxes must arrive in xyxy pixels");
	if (s->width != s->height)
		return KCV_ERROR(err, KCV_ERR_INVALID, s->id, p->path,
		                 "random_transpose needs square images, got %dx%d", s->width,
		                 s->height);
	if (!(kcv_rng_uniform(rng) < p->probability))
		return KCV_OK;
	float *b = s->boxes.coords;
	for (size_t i = 0; i < s->boxes.count; i++, b += 4) {
		float t = b[0];
		b[0] = b[1];
		b[1] = t;
		t = b[2];
		b[2] = b[3];
		b[3] = t;
	}
	if (s->pixels)
		transpose_pixels(s->pixels, s->width);
	return KCV_OK;
}

static const kcv_augmenter_vtable transpose_vtable = {.apply = transpose_apply};

static const kcv_component transpose_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "random_transpose",
	.summary = "swap x and y of square images and boxes (with random_flip: all 8 "
	           "rotations and mirrors)",
	.options = transpose_options,
	.config_size = sizeof(transpose_config),
	.priv_size = sizeof(transpose_priv),
	.create = transpose_create,
	.destroy = NULL,
	.vtable = &transpose_vtable,
};

static const kcv_component *const components[] = {&flip_component, &transpose_component,
                                                   NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "random_flip",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "KerasCV RandomFlip augmenter",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
