/* random_color_jitter: KerasCV RandomColorJitter.
 *
 * Maps value_range to [0,255], applies brightness -> contrast -> saturation
 * -> hue, each with its own factor drawn per image (in that order), and maps
 * back. Boxes are untouched. An op whose option is absent, or whose range
 * makes it the identity, is skipped and draws nothing.
 *
 *   brightness  delta ~ U[lo,hi) * 255 added to every channel, clip [0,255];
 *               a number f means [-f, f] (keras.layers.RandomBrightness)
 *   contrast    c ~ U[1-lo, 1+hi); per-channel mean mu over HxW;
 *               x' = (x - mu) c + mu, clip [0,255]; a number f means [f, f]
 *               (keras.layers.RandomContrast)
 *   saturation  s ~ U[lo,hi), m = s / (1 - s); S' = clamp(S m, 0, 1) in HSV
 *               (tf.image.adjust_saturation); a number f means [0, f].
 *               s = 0.5 is the identity, so small factors are near grayscale
 *   hue         f ~ U[lo,hi), then u ~ U[0,1): negative when u < 0.5;
 *               delta = +-f/2, H' = (H + delta) mod 1 (tf.image.adjust_hue);
 *               a number f means [0, f]
 *
 * Saturation alone scales the chroma directly (x' = V - (V - x) S'/S, the
 * closed form of the HSV round trip); with hue one HSV round trip per pixel
 * does both. */
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kcv/plugin.h>
#include <kcv/registry.h>

typedef struct jitter_config {
	kcv_floats value_range;
	kcv_floats brightness;
	kcv_floats contrast;
	kcv_floats saturation;
	kcv_floats hue;
} jitter_config;

typedef struct factor_range {
	int on;
	double lo, hi;
} factor_range;

typedef struct jitter_priv {
	float vlo, vhi;   /* value_range */
	int map_range;    /* value_range is not [0,255] */
	factor_range brightness; /* fraction of 255 */
	factor_range contrast;   /* multiplier */
	factor_range saturation; /* s, before s / (1 - s) */
	factor_range hue;        /* f, before the sign and the halving */
	char path[256];
} jitter_priv;

static const kcv_option jitter_options[] = {
	{.name = "value_range",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(jitter_config, value_range),
	 .def = "[0, 255]",
	 .min_items = 2,
	 .max_items = 2,
	 .doc = "[low, high] of the pixel values the layer sees"},
	{.name = "brightness_factor",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(jitter_config, brightness),
	 .min = -1,
	 .max = 1,
	 .min_items = 1,
	 .max_items = 2,
	 .doc = "f: add U[-f,f)*255; [lo, hi]: add U[lo,hi)*255; absent: off"},
	{.name = "contrast_factor",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(jitter_config, contrast),
	 .min = 0,
	 .max = 1,
	 .min_items = 1,
	 .max_items = 2,
	 .doc = "f: contrast x U[1-f,1+f); [lo, hi]: x U[1-lo,1+hi); absent: off"},
	{.name = "saturation_factor",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(jitter_config, saturation),
	 .min = 0,
	 .max = 1,
	 .min_items = 1,
	 .max_items = 2,
	 .doc = "f: s ~ U[0,f), [lo, hi]: U[lo,hi); saturation x s/(1-s) (0.5 = none, 0 = gray)"},
	{.name = "hue_factor",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(jitter_config, hue),
	 .min = 0,
	 .max = 1,
	 .min_items = 1,
	 .max_items = 2,
	 .doc = "f: hue shift +-U[0,f)/2 of the circle; [lo, hi]: +-U[lo,hi)/2; absent: off"},
	{0},
};

/* Record an invalid-option error at "<component path>.<option>". */
static kcv_status option_error(kcv_error *err, const kcv_context *ctx, const char *option,
                               const char *fmt, ...) KCV_PRINTF(4, 5);
static kcv_status option_error(kcv_error *err, const kcv_context *ctx, const char *option,
                               const char *fmt, ...)
{
	char path[256], text[512];
	const char *base = ctx && ctx->path ? ctx->path : "";
	snprintf(path, sizeof(path), "%s%s%s", base, *base ? "." : "", option);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return KCV_ERROR(err, KCV_ERR_INVALID, ctx ? ctx->source : NULL, path, "%s", text);
}

/* A [lo, hi] option: lo must not exceed hi. */
static kcv_status check_pair(const kcv_floats *f, const kcv_context *ctx, const char *name,
                             kcv_error *err)
{
	if (f->n == 2 && f->v[0] > f->v[1])
		return option_error(err, ctx, name,
		                    "lower bound must not exceed upper bound (got [%g, %g])",
		                    f->v[0], f->v[1]);
	return KCV_OK;
}

static kcv_status jitter_create(void *priv, const void *config, const kcv_context *ctx,
                                kcv_error *err)
{
	jitter_priv *p = priv;
	const jitter_config *c = config;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");

	if (c->value_range.n != 2 || !(c->value_range.v[0] < c->value_range.v[1]))
		return option_error(err, ctx, "value_range",
		                    "lower bound must be below upper bound");
	p->vlo = (float)c->value_range.v[0];
	p->vhi = (float)c->value_range.v[1];
	p->map_range = !(p->vlo == 0.0f && p->vhi == 255.0f);

	const kcv_floats *b = &c->brightness;
	if (check_pair(b, ctx, "brightness_factor", err))
		return KCV_ERR_INVALID;
	if (b->n == 1) {
		p->brightness.lo = -fabs(b->v[0]);
		p->brightness.hi = fabs(b->v[0]);
	} else if (b->n == 2) {
		p->brightness.lo = b->v[0];
		p->brightness.hi = b->v[1];
	}
	p->brightness.on = b->n && !(p->brightness.lo == 0 && p->brightness.hi == 0);

	const kcv_floats *ct = &c->contrast;
	if (ct->n) {
		double lower = ct->v[0], upper = ct->n == 2 ? ct->v[1] : ct->v[0];
		p->contrast.lo = 1.0 - lower;
		p->contrast.hi = 1.0 + upper;
		p->contrast.on = !(lower == 0 && upper == 0);
	}

	const kcv_floats *s = &c->saturation;
	if (check_pair(s, ctx, "saturation_factor", err))
		return KCV_ERR_INVALID;
	if (s->n) {
		p->saturation.lo = s->n == 2 ? s->v[0] : 0.0;
		p->saturation.hi = s->n == 2 ? s->v[1] : s->v[0];
		p->saturation.on = !(p->saturation.lo == 0.5 && p->saturation.hi == 0.5);
	}

	const kcv_floats *h = &c->hue;
	if (check_pair(h, ctx, "hue_factor", err))
		return KCV_ERR_INVALID;
	if (h->n) {
		p->hue.lo = h->n == 2 ? h->v[0] : 0.0;
		p->hue.hi = h->n == 2 ? h->v[1] : h->v[0];
		p->hue.on = !(p->hue.lo == 0 && p->hue.hi == 0);
	}
	return KCV_OK;
}

static inline float clip255(float x)
{
	return x < 0.0f ? 0.0f : (x > 255.0f ? 255.0f : x);
}

/* TF's rgb_to_hsv: V = max, S = (max - min) / max (0 when max = 0),
 * H in [0,1) from the sector of the largest channel (0 when gray). */
static inline void rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v)
{
	float mx = fmaxf(r, fmaxf(g, b));
	float mn = fminf(r, fminf(g, b));
	float range = mx - mn;
	*v = mx;
	*s = mx > 0.0f ? range / mx : 0.0f;
	if (range <= 0.0f) {
		*h = 0.0f;
		return;
	}
	float norm = 1.0f / (6.0f * range);
	float hh;
	if (r == mx)
		hh = norm * (g - b);
	else if (g == mx)
		hh = norm * (b - r) + 2.0f / 6.0f;
	else
		hh = norm * (r - g) + 4.0f / 6.0f;
	*h = hh < 0.0f ? hh + 1.0f : hh;
}

/* Inverse: channel n (R 5, G 3, B 1) is V - C max(0, min(k, 4 - k, 1)) with
 * k = (n + 6H) mod 6 and chroma C = S V. */
static inline float hsv_channel(float n, float h6, float c, float v)
{
	float k = n + h6;
	if (k >= 6.0f)
		k -= 6.0f;
	float t = fminf(k, 4.0f - k);
	t = fminf(fmaxf(t, 0.0f), 1.0f);
	return v - c * t;
}

/* Per-image parameters drawn from the rng. */
typedef struct jitter_draw {
	float delta;    /* brightness, in 0..255 units */
	float contrast; /* multiplier */
	float sat;      /* saturation multiplier m */
	float hue;      /* signed hue delta, fraction of the circle */
} jitter_draw;

static jitter_draw jitter_sample(const jitter_priv *p, kcv_rng *rng)
{
	jitter_draw d = {0.0f, 1.0f, 1.0f, 0.0f};
	if (p->brightness.on)
		d.delta = (float)(kcv_rng_range(rng, p->brightness.lo, p->brightness.hi) * 255.0);
	if (p->contrast.on)
		d.contrast = (float)kcv_rng_range(rng, p->contrast.lo, p->contrast.hi);
	if (p->saturation.on) {
		double s = kcv_rng_range(rng, p->saturation.lo, p->saturation.hi);
		d.sat = s < 1.0 - 1e-7 ? (float)(s / (1.0 - s)) : 1e7f;
	}
	if (p->hue.on) {
		double f = kcv_rng_range(rng, p->hue.lo, p->hue.hi);
		double u = kcv_rng_uniform(rng);
		d.hue = (float)((u < 0.5 ? -f : f) * 0.5);
	}
	return d;
}

/* Pass 1: value-range mapping and brightness; per-channel sums (for the
 * contrast mean) when `sums` is not NULL. */
static void pass_brightness(const jitter_priv *p, float *px, size_t npix, float delta,
                            double sums[3])
{
	float scale = 255.0f / (p->vhi - p->vlo), vlo = p->vlo;
	int map = p->map_range, bright = p->brightness.on;
	const int rowpix = 256;
	for (size_t start = 0; start < npix; start += rowpix) {
		size_t end = start + rowpix < npix ? start + rowpix : npix;
		float acc[3] = {0, 0, 0};
		for (size_t i = start; i < end; i++) {
			float *q = px + 3 * i;
			for (int c = 0; c < 3; c++) {
				float x = q[c];
				if (map)
					x = (x - vlo) * scale;
				if (bright)
					x = clip255(x + delta);
				q[c] = x;
				acc[c] += x;
			}
		}
		if (sums)
			for (int c = 0; c < 3; c++)
				sums[c] += acc[c];
	}
}

/* Pass 2: contrast, saturation/hue, and mapping back. */
static void pass_color(const jitter_priv *p, float *px, size_t npix, const jitter_draw *d,
                       const float mean[3])
{
	int con = p->contrast.on, sat = p->saturation.on, hue = p->hue.on;
	int map = p->map_range;
	float back = (p->vhi - p->vlo) / 255.0f, vlo = p->vlo;
	float cf = d->contrast, m = d->sat, hd = d->hue;
	for (size_t i = 0; i < npix; i++) {
		float *q = px + 3 * i;
		float r = q[0], g = q[1], b = q[2];
		if (con) {
			r = clip255((r - mean[0]) * cf + mean[0]);
			g = clip255((g - mean[1]) * cf + mean[1]);
			b = clip255((b - mean[2]) * cf + mean[2]);
		}
		if (hue) {
			float h, s, v;
			rgb_to_hsv(r, g, b, &h, &s, &v);
			if (sat)
				s = fminf(fmaxf(s * m, 0.0f), 1.0f);
			h += hd;
			h -= floorf(h);
			if (h >= 1.0f)
				h = 0.0f;
			float h6 = h * 6.0f, c = s * v;
			r = clip255(hsv_channel(5.0f, h6, c, v));
			g = clip255(hsv_channel(3.0f, h6, c, v));
			b = clip255(hsv_channel(1.0f, h6, c, v));
		} else if (sat) {
			float mx = fmaxf(r, fmaxf(g, b));
			float mn = fminf(r, fminf(g, b));
			float range = mx - mn;
			/* S'/S = min(m, 1/S) = min(m, V / range). */
			float k = range > 0.0f ? fminf(m, mx / range) : 0.0f;
			r = mx - (mx - r) * k;
			g = mx - (mx - g) * k;
			b = mx - (mx - b) * k;
		}
		if (map) {
			r = r * back + vlo;
			g = g * back + vlo;
			b = b * back + vlo;
		}
		q[0] = r;
		q[1] = g;
		q[2] = b;
	}
}

static kcv_status jitter_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	const jitter_priv *p = priv;
	jitter_draw d = jitter_sample(p, rng);
	if (!s->pixels || s->width <= 0 || s->height <= 0)
		return KCV_OK;
	size_t npix = (size_t)s->width * s->height;
	double sums[3] = {0, 0, 0};
	float mean[3] = {0, 0, 0};
	int con = p->contrast.on;
	if (p->map_range || p->brightness.on || con)
		pass_brightness(p, s->pixels, npix, d.delta, con ? sums : NULL);
	if (con)
		for (int c = 0; c < 3; c++)
			mean[c] = (float)(sums[c] / (double)npix);
	if (con || p->saturation.on || p->hue.on || p->map_range)
		pass_color(p, s->pixels, npix, &d, mean);
	return KCV_OK;
}

static const kcv_augmenter_vtable jitter_vtable = {.apply = jitter_apply};

static const kcv_component jitter_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "random_color_jitter",
	.summary = "random brightness, contrast, saturation and hue (KerasCV RandomColorJitter)",
	.options = jitter_options,
	.config_size = sizeof(jitter_config),
	.priv_size = sizeof(jitter_priv),
	.create = jitter_create,
	.destroy = NULL,
	.vtable = &jitter_vtable,
};

static const kcv_component *const components[] = {&jitter_component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "random_color_jitter",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "KerasCV RandomColorJitter augmenter",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
