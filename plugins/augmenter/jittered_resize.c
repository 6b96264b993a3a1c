/* jittered_resize: KerasCV JitteredResize, the usual detection scale jitter.
 *
 * Per image: s ~ U[scale_factor), then ux, uy ~ U[0,1) (always drawn).
 * With target T = (tw, th) and input (W, H):
 *   scaled target  (round(tw s), round(th s))
 *   scale          min(round(tw s) / W, round(th s) / H)  (keeps the aspect)
 *   resized        (nw, nh) = (round(W scale), round(H scale)), at least 1
 *   offset         ox = floor(max(nw - tw, 0) ux), oy likewise
 * The image is resized bilinearly to nw x nh, the window [ox, ox+tw) x
 * [oy, oy+th) is cut out, and whatever falls outside the resized image
 * (bottom/right) is filled with fill_value. round() is half-to-even, as
 * tf.round. Boxes follow: x' = x nw/W - ox, y' = y nh/H - oy, clipped to the
 * output, and removed when their clipped area is 0 or below min_visibility
 * of their area before clipping. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <kcv/plugin.h>
#include <kcv/registry.h>

typedef struct jr_config {
	kcv_ints target_size;
	kcv_floats scale_factor;
	double fill_value;
	double min_visibility;
} jr_config;

typedef struct jr_priv {
	int tw, th;
	double lo, hi;
	float fill;
	float min_visibility;
	float *scratch;      /* the resized image before the crop */
	size_t scratch_cap;  /* floats */
	char path[256];
} jr_priv;

static const kcv_option jr_options[] = {
	{.name = "target_size",
	 .type = KCV_OPT_INTS,
	 .offset = offsetof(jr_config, target_size),
	 .min = 1,
	 .max = 65535,
	 .min_items = 2,
	 .max_items = 2,
	 .doc = "[width, height] of the output; default: the pipeline image_size"},
	{.name = "scale_factor",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(jr_config, scale_factor),
	 .def = "[0.8, 1.25]",
	 .min = 0,
	 .max = 100,
	 .min_items = 2,
	 .max_items = 2,
	 .doc = "[low, high]: the longer side fits target x U[low,high)"},
	{.name = "fill_value",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(jr_config, fill_value),
	 .def = "0",
	 .min = 0,
	 .max = 255,
	 .doc = "value (0..255) of the padding at the bottom and right"},
	{.name = "min_visibility",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(jr_config, min_visibility),
	 .def = "0",
	 .min = 0,
	 .max = 1,
	 .doc = "remove boxes keeping less than this fraction of their area (0: any area)"},
	{0},
};

static kcv_status jr_create(void *priv, const void *config, const kcv_context *ctx,
                            kcv_error *err)
{
	jr_priv *p = priv;
	const jr_config *c = config;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");
	if (c->target_size.n == 2) {
		p->tw = (int)c->target_size.v[0];
		p->th = (int)c->target_size.v[1];
	} else if (c->target_size.n == 0) {
		p->tw = ctx ? ctx->image_width : 0;
		p->th = ctx ? ctx->image_height : 0;
	}
	if (c->target_size.n == 0 && (p->tw <= 0 || p->th <= 0))
		return kcv_error_option(err, ctx, "target_size",
		                    "not set and the pipeline has no image_size to default to");
	if (p->tw <= 0 || p->th <= 0 || p->tw > 65535 || p->th > 65535)
		return kcv_error_option(err, ctx, "target_size",
		                    "expected [width, height] of integers in [1, 65535]");
	if (c->scale_factor.n != 2)
		return kcv_error_option(err, ctx, "scale_factor", "expected [low, high]");
	p->lo = c->scale_factor.v[0];
	p->hi = c->scale_factor.v[1];
	if (!(p->lo > 0))
		return kcv_error_option(err, ctx, "scale_factor", "lower bound must be above 0");
	if (p->lo > p->hi)
		return kcv_error_option(err, ctx, "scale_factor",
		                    "lower bound must not exceed upper bound (got [%g, %g])", p->lo,
		                    p->hi);
	p->fill = (float)c->fill_value;
	p->min_visibility = (float)c->min_visibility;
	return KCV_OK;
}

static void jr_destroy(void *priv)
{
	jr_priv *p = priv;
	kcv_aligned_free(p->scratch);
	p->scratch = NULL;
}

static inline float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

/* x' = x sx - ox, y' = y sy - oy; clip to [0,w]x[0,h]; remove boxes whose
 * clipped area is 0 or below min_vis of the unclipped one. */
static void boxes_affine_clip(kcv_boxes *b, float sx, float sy, float ox, float oy, float w,
                              float h, float min_vis)
{
	for (size_t i = b->count; i-- > 0;) {
		float *c = b->coords + 4 * i;
		float t0 = c[0] * sx - ox, t1 = c[1] * sy - oy;
		float t2 = c[2] * sx - ox, t3 = c[3] * sy - oy;
		float u0 = clampf(t0, 0, w), u1 = clampf(t1, 0, h);
		float u2 = clampf(t2, 0, w), u3 = clampf(t3, 0, h);
		float area = (t2 - t0) * (t3 - t1), kept = (u2 - u0) * (u3 - u1);
		int keep = (u2 - u0) > 0 && (u3 - u1) > 0 && area > 0 && kept >= min_vis * area;
		if (!keep) {
			kcv_boxes_remove(b, i);
			continue;
		}
		c[0] = u0, c[1] = u1, c[2] = u2, c[3] = u3;
	}
}

static int round_even(double x)
{
	return (int)nearbyint(x);
}

/* Copy the window of the resized image into the sample (tw x th), filling
 * what lies outside it. */
static void crop_pad(const float *src, int nw, int nh, int ox, int oy, float *dst, int tw,
                     int th, float fill)
{
	size_t row = (size_t)tw * 3;
	int cw = nw - ox < tw ? nw - ox : tw;
	if (cw < 0)
		cw = 0;
	for (int y = 0; y < th; y++) {
		float *d = dst + (size_t)y * row;
		size_t done = 0;
		if (y + oy < nh && cw > 0) {
			const float *from = src + ((size_t)(y + oy) * nw + ox) * 3;
			memcpy(d, from, (size_t)cw * 3 * sizeof(float));
			done = (size_t)cw * 3;
		}
		for (size_t i = done; i < row; i++)
			d[i] = fill;
	}
}

static kcv_status jr_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	jr_priv *p = priv;
	if (s->boxes.count && s->boxes.format != KCV_BOX_XYXY)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, s->id, p->path,
		                 "boxes must arrive in xyxy pixels");
	double f = kcv_rng_range(rng, p->lo, p->hi);
	double ux = kcv_rng_uniform(rng), uy = kcv_rng_uniform(rng);
	int W = s->width, H = s->height;
	if (W <= 0 || H <= 0)
		return KCV_OK;
	double stw = round_even(p->tw * f), sth = round_even(p->th * f);
	double scale = fmin(stw / W, sth / H);
	int nw = round_even(W * scale), nh = round_even(H * scale);
	if (nw < 1)
		nw = 1;
	if (nh < 1)
		nh = 1;
	int ox = (int)floor((nw > p->tw ? nw - p->tw : 0) * ux);
	int oy = (int)floor((nh > p->th ? nh - p->th : 0) * uy);

	if (s->pixels) {
		size_t need = (size_t)nw * nh * 3;
		if (p->scratch_cap < need) {
			float *buf = kcv_aligned_alloc(need * sizeof(float));
			if (!buf)
				return KCV_ERROR(err, KCV_ERR_NOMEM, s->id, p->path,
				                 "out of memory for a %dx%d image", nw, nh);
			kcv_aligned_free(p->scratch);
			p->scratch = buf;
			p->scratch_cap = need;
		}
		kcv_image_resize_bilinear(s->pixels, W, H, p->scratch, nw, nh, 3);
		kcv_status st = kcv_sample_resize_buffer(s, p->tw, p->th, err);
		if (st)
			return st;
		crop_pad(p->scratch, nw, nh, ox, oy, s->pixels, p->tw, p->th, p->fill);
	} else {
		s->width = p->tw;
		s->height = p->th;
	}
	boxes_affine_clip(&s->boxes, (float)nw / (float)W, (float)nh / (float)H, (float)ox,
	                  (float)oy, (float)p->tw, (float)p->th, p->min_visibility);
	return KCV_OK;
}

static const kcv_augmenter_vtable jr_vtable = {.apply = jr_apply};

static const kcv_component jr_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "jittered_resize",
	.summary = "aspect-preserving random-scale resize, then crop/pad to a fixed size "
	           "(KerasCV JitteredResize)",
	.options = jr_options,
	.config_size = sizeof(jr_config),
	.priv_size = sizeof(jr_priv),
	.create = jr_create,
	.destroy = jr_destroy,
	.vtable = &jr_vtable,
};

static const kcv_component *const components[] = {&jr_component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "jittered_resize",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "KerasCV JitteredResize augmenter",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
