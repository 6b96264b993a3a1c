/* random_crop: crop a random window and resize it back to the input size
 * (a RandomResizedCrop for detection, so that batches keep one size).
 *
 * Per image: when rate < 1, u ~ U[0,1) is drawn and the image is left as it
 * is when u >= rate. Then up to 10 attempts, each drawing
 *   a ~ U[scale)  (fraction of the image area)
 *   r = exp(U[log ratio_lo, log ratio_hi))  (width / height)
 *   w = round(sqrt(a W H r)), h = round(sqrt(a W H / r))
 * and, when 1 <= w <= W and 1 <= h <= H, x0 ~ U{0..W-w}, y0 ~ U{0..H-h}.
 * Boxes are mapped with the window, x' = (x - x0) W / w and
 * y' = (y - y0) H / h, clipped to the image and removed when their clipped
 * area is 0 or below min_visibility of their area before clipping. An
 * attempt whose window does not fit, or that would remove every box of an
 * image that has boxes, is retried; after 10 failed attempts the image is
 * left unchanged. The window is resized bilinearly to W x H. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <kcv/plugin.h>
#include <kcv/registry.h>

#define MAX_ATTEMPTS 10

typedef struct crop_config {
	kcv_floats scale;
	kcv_floats ratio;
	double rate;
	double min_visibility;
} crop_config;

typedef struct crop_priv {
	double scale_lo, scale_hi;
	double log_ratio_lo, log_ratio_hi;
	double rate;
	float min_visibility;
	float *scratch;     /* the window, contiguous */
	size_t scratch_cap; /* floats */
	char path[256];
} crop_priv;

static const kcv_option crop_options[] = {
	{.name = "scale",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(crop_config, scale),
	 .def = "[0.3, 1.0]",
	 .min = 0,
	 .max = 1,
	 .min_items = 2,
	 .max_items = 2,
	 .doc = "[low, high] of the window area as a fraction of the image area"},
	{.name = "ratio",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(crop_config, ratio),
	 .def = "[0.75, 1.3333333333333333]",
	 .min = 0,
	 .max = 100,
	 .min_items = 2,
	 .max_items = 2,
	 .doc = "[low, high] of the window aspect ratio (width / height), log-uniform"},
	{.name = "rate",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(crop_config, rate),
	 .def = "1.0",
	 .min = 0,
	 .max = 1,
	 .doc = "probability of cropping an image"},
	{.name = "min_visibility",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(crop_config, min_visibility),
	 .def = "0.3",
	 .min = 0,
	 .max = 1,
	 .doc = "remove boxes keeping less than this fraction of their area"},
	{0},
};

static kcv_status check_range(const kcv_floats *f, const kcv_context *ctx, const char *name,
                              kcv_error *err)
{
	if (f->n != 2)
		return kcv_error_option(err, ctx, name, "expected [low, high]");
	if (!(f->v[0] > 0))
		return kcv_error_option(err, ctx, name, "lower bound must be above 0");
	if (f->v[0] > f->v[1])
		return kcv_error_option(err, ctx, name,
		                    "lower bound must not exceed upper bound (got [%g, %g])",
		                    f->v[0], f->v[1]);
	return KCV_OK;
}

static kcv_status crop_create(void *priv, const void *config, const kcv_context *ctx,
                              kcv_error *err)
{
	crop_priv *p = priv;
	const crop_config *c = config;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");
	if (check_range(&c->scale, ctx, "scale", err) || check_range(&c->ratio, ctx, "ratio", err))
		return KCV_ERR_INVALID;
	p->scale_lo = c->scale.v[0];
	p->scale_hi = c->scale.v[1];
	p->log_ratio_lo = log(c->ratio.v[0]);
	p->log_ratio_hi = log(c->ratio.v[1]);
	p->rate = c->rate;
	p->min_visibility = (float)c->min_visibility;
	return KCV_OK;
}

static void crop_destroy(void *priv)
{
	crop_priv *p = priv;
	kcv_aligned_free(p->scratch);
	p->scratch = NULL;
}

static inline float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

/* The affine map of a window: x' = x sx - ox, y' = y sy - oy into w x h. */
typedef struct window_map {
	float sx, sy, ox, oy, w, h;
} window_map;

/* Map box c; *out receives the clipped box. True when it is kept. */
static int box_map(const float *c, const window_map *m, float min_vis, float out[4])
{
	float t0 = c[0] * m->sx - m->ox, t1 = c[1] * m->sy - m->oy;
	float t2 = c[2] * m->sx - m->ox, t3 = c[3] * m->sy - m->oy;
	out[0] = clampf(t0, 0, m->w), out[1] = clampf(t1, 0, m->h);
	out[2] = clampf(t2, 0, m->w), out[3] = clampf(t3, 0, m->h);
	float area = (t2 - t0) * (t3 - t1), kept = (out[2] - out[0]) * (out[3] - out[1]);
	return (out[2] - out[0]) > 0 && (out[3] - out[1]) > 0 && area > 0 &&
	       kept >= min_vis * area;
}

static size_t boxes_kept(const kcv_boxes *b, const window_map *m, float min_vis)
{
	size_t n = 0;
	float u[4];
	for (size_t i = 0; i < b->count; i++)
		n += box_map(b->coords + 4 * i, m, min_vis, u) ? 1 : 0;
	return n;
}

static void boxes_apply(kcv_boxes *b, const window_map *m, float min_vis)
{
	float u[4];
	for (size_t i = b->count; i-- > 0;) {
		if (!box_map(b->coords + 4 * i, m, min_vis, u))
			kcv_boxes_remove(b, i);
		else
			memcpy(b->coords + 4 * i, u, sizeof(u));
	}
}

static kcv_status crop_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	crop_priv *p = priv;
	if (s->boxes.count && s->boxes.format != KCV_BOX_XYXY)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, s->id, p->path,
		                 "boxes must arrive in xyxy pixels");
	if (p->rate < 1.0 && kcv_rng_uniform(rng) >= p->rate)
		return KCV_OK;
	int W = s->width, H = s->height;
	if (W <= 0 || H <= 0)
		return KCV_OK;
	double area = (double)W * H;
	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		double a = kcv_rng_range(rng, p->scale_lo, p->scale_hi) * area;
		double r = exp(kcv_rng_range(rng, p->log_ratio_lo, p->log_ratio_hi));
		int w = (int)nearbyint(sqrt(a * r)), h = (int)nearbyint(sqrt(a / r));
		if (w < 1 || h < 1 || w > W || h > H)
			continue;
		int x0 = (int)kcv_rng_below(rng, (uint64_t)(W - w + 1));
		int y0 = (int)kcv_rng_below(rng, (uint64_t)(H - h + 1));
		window_map m = {.sx = (float)W / (float)w,
		                .sy = (float)H / (float)h,
		                .w = (float)W,
		                .h = (float)H};
		m.ox = (float)x0 * m.sx;
		m.oy = (float)y0 * m.sy;
		if (s->boxes.count && boxes_kept(&s->boxes, &m, p->min_visibility) == 0)
			continue;
		if (s->pixels && (w != W || h != H)) {
			size_t need = (size_t)w * h * 3;
			if (p->scratch_cap < need) {
				float *buf = kcv_aligned_alloc(need * sizeof(float));
				if (!buf)
					return KCV_ERROR(err, KCV_ERR_NOMEM, s->id, p->path,
					                 "out of memory for a %dx%d window", w, h);
				kcv_aligned_free(p->scratch);
				p->scratch = buf;
				p->scratch_cap = need;
			}
			for (int y = 0; y < h; y++)
				memcpy(p->scratch + (size_t)y * w * 3,
				       s->pixels + ((size_t)(y0 + y) * W + x0) * 3,
				       (size_t)w * 3 * sizeof(float));
			kcv_image_resize_bilinear(p->scratch, w, h, s->pixels, W, H, 3);
		}
		boxes_apply(&s->boxes, &m, p->min_visibility);
		return KCV_OK;
	}
	return KCV_OK;
}

static const kcv_augmenter_vtable crop_vtable = {.apply = crop_apply};

static const kcv_component crop_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "random_crop",
	.summary = "crop a random window (area, aspect jitter) and resize it back",
	.options = crop_options,
	.config_size = sizeof(crop_config),
	.priv_size = sizeof(crop_priv),
	.create = crop_create,
	.destroy = crop_destroy,
	.vtable = &crop_vtable,
};

static const kcv_component *const components[] = {&crop_component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "random_crop",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "random crop-and-resize augmenter for detection",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
