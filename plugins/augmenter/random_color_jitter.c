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
	float vlo, vhi;          /* value_range */
	int map_range;           /* value_range is not [0,255] */
	factor_range brightness; /* fraction of 255 */
	factor_range contrast;   /* multiplier */
	factor_range saturation; /* s, before s / (1 - s) */
	factor_range hue;        /* f, before the sign and the halving */
} jitter_priv;

static const kcv_option jitter_options[] = {
	{.name = "value_range",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(jitter_config, value_range),
	 .def = "[0, 255]",
	 .min_items = 2,
	 .max_items = 2,
	 .doc = "[low, high] of the pixel values the layer sees",
	 .flags = KCV_OPT_ASCENDING},
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

/* A [lo, hi] option: lo must not exceed hi. */
static kcv_status check_pair(const kcv_floats *f, const kcv_context *ctx, const char *name,
                             kcv_error *err)
{
	if (f->n == 2 && f->v[0] > f->v[1])
		return kcv_error_option(err, ctx, name,
		                    "lower bound must not exceed upper bound (got [%g, %g])",
		                    f->v[0], f->v[1]);
	return KCV_OK;
}

static kcv_status jitter_create(void *priv, const void *config, const kcv_context *ctx,
                                kcv_error *err)
{
	jitter_priv *p = priv;
	const jitter_config *c = config;
	/* 2 increasing values: checked by the schema */
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

/* Pixels are processed in blocks of BPIX pixels (BLK floats). Every loop
 * below has a fixed trip count and selects instead of branches, so that gcc
 * vectorises it at -O2. */
#define BPIX 8
#define BLK (3 * BPIX)

/* gcc if-converts (and so vectorises) the HSV loop only when FP operations
 * may be speculated; nothing here reads FP exception flags. A region rather
 * than a function attribute, so that the small helpers still inline. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

static inline float maxf(float a, float b)
{
	return a > b ? a : b;
}

static inline float minf(float a, float b)
{
	return a < b ? a : b;
}

static inline float clip255(float x)
{
	return minf(maxf(x, 0.0f), 255.0f);
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

/* What one image needs, resolved once. */
typedef struct jitter_run {
	int map, bright, con, sat, hue;
	float scale, vlo, back; /* value-range mapping there and back */
	float delta, cf, m, hd;
	float mu[BLK];          /* contrast means, repeating R, G, B */
} jitter_run;

/* Pass 1 on one block: map to [0,255], brightness, accumulate. */
static void block_levels(const jitter_run *r, float *restrict q, float *restrict acc)
{
	if (r->map)
		for (int k = 0; k < BLK; k++)
			q[k] = (q[k] - r->vlo) * r->scale;
	if (r->bright)
		for (int k = 0; k < BLK; k++)
			q[k] = clip255(q[k] + r->delta);
	for (int k = 0; k < BLK; k++)
		acc[k] += q[k];
}

/* HSV round trip of BPIX pixels: saturation x m (when sat), hue + hd. */
static void block_hsv(const jitter_run *run, float *restrict r, float *restrict g,
                      float *restrict b)
{
	/* without saturation m = 1 leaves S as it is (S <= 1) */
	const float m = run->sat ? run->m : 1.0f, hd = run->hd;
	/* Written without branches so that gcc vectorises it: selects pick only
	 * operands or constants and all arithmetic runs unconditionally. The
	 * divisor gets a tiny bias instead of a test: for a gray pixel
	 * range = 0, so C = 0 and, as r == max, H = 0 * big = 0. */
	for (int k = 0; k < BPIX; k++) {
		/* TF rgb_to_hsv: V = max, S = range / V, H from the largest channel */
		float mx = maxf(r[k], maxf(g[k], b[k]));
		float mn = minf(r[k], minf(g[k], b[k]));
		float range = mx - mn;
		float norm = 1.0f / (6.0f * range + 1e-30f);
		int rmax = r[k] == mx, gmax = g[k] == mx;
		float a = rmax ? g[k] : (gmax ? b[k] : r[k]);
		float c2 = rmax ? b[k] : (gmax ? r[k] : g[k]);
		float off = rmax ? 0.0f : (gmax ? 2.0f / 6.0f : 4.0f / 6.0f);
		/* H lies in [-1/6, 5/6] before wrapping; with the delta (<= 0.5)
		 * H + 1 lies in (0, 2.5), so truncation is floor: wrap to [0, 1) */
		float h = norm * (a - c2) + off + hd + 1.0f;
		h -= (float)(int)h;
		/* chroma C = S' V = min(S m, 1) V = min(range m, V): no division */
		float h6 = h * 6.0f, c = minf(range * m, mx);
		float tr = 5.0f + h6, tg = 3.0f + h6, tb = 1.0f + h6;
		/* mod 6 by truncation (t > 0); the result is continuous across
		 * the wrap, so rounding at t = 6 does not matter */
		tr -= 6.0f * (float)(int)(tr * (1.0f / 6.0f));
		tg -= 6.0f * (float)(int)(tg * (1.0f / 6.0f));
		tb -= 6.0f * (float)(int)(tb * (1.0f / 6.0f));
		tr = minf(maxf(minf(tr, 4.0f - tr), 0.0f), 1.0f);
		tg = minf(maxf(minf(tg, 4.0f - tg), 0.0f), 1.0f);
		tb = minf(maxf(minf(tb, 4.0f - tb), 0.0f), 1.0f);
		r[k] = clip255(mx - c * tr);
		g[k] = clip255(mx - c * tg);
		b[k] = clip255(mx - c * tb);
	}
}

/* Saturation alone: S' / S = min(m, 1 / S) = min(m, V / range), and every
 * channel moves towards V by that factor (the HSV round trip in closed
 * form: hue and value are unchanged). */
static void block_saturation(float m, float *restrict r, float *restrict g, float *restrict b)
{
	for (int k = 0; k < BPIX; k++) {
		float mx = maxf(r[k], maxf(g[k], b[k]));
		float mn = minf(r[k], minf(g[k], b[k]));
		float range = mx - mn;
		float f = minf(m, mx / range);
		f = range > 0.0f ? f : 0.0f;
		r[k] = mx - (mx - r[k]) * f;
		g[k] = mx - (mx - g[k]) * f;
		b[k] = mx - (mx - b[k]) * f;
	}
}

/* Pass 2 on one block: contrast, saturation/hue, map back. */
static void block_color(const jitter_run *run, float *restrict q)
{
	if (run->con)
		for (int k = 0; k < BLK; k++)
			q[k] = clip255((q[k] - run->mu[k]) * run->cf + run->mu[k]);
	if (run->sat || run->hue) {
		float r[BPIX], g[BPIX], b[BPIX];
		for (int k = 0; k < BPIX; k++) {
			r[k] = q[3 * k];
			g[k] = q[3 * k + 1];
			b[k] = q[3 * k + 2];
		}
		if (run->hue)
			block_hsv(run, r, g, b);
		else
			block_saturation(run->m, r, g, b);
		for (int k = 0; k < BPIX; k++) {
			q[3 * k] = r[k];
			q[3 * k + 1] = g[k];
			q[3 * k + 2] = b[k];
		}
	}
	if (run->map)
		for (int k = 0; k < BLK; k++)
			q[k] = q[k] * run->back + run->vlo;
}

enum pass { PASS_LEVELS = 1, PASS_COLOR = 2, PASS_BOTH = 3 };

/* One pass over px (n floats, a multiple of 3) in whole blocks; the tail
 * goes through a zero-padded local block. PASS_LEVELS also sums each
 * channel into sums[3] (for the contrast means). */
static void for_blocks(const jitter_run *run, float *px, size_t n, enum pass pass,
                       double sums[3])
{
	float acc[BLK] = {0};
	size_t i = 0, nb = 0;
	for (; i + BLK <= n; i += BLK) {
		float *q = px + i;
		if (pass & PASS_LEVELS)
			block_levels(run, q, acc);
		if (pass & PASS_COLOR)
			block_color(run, q);
		if (++nb == 512) { /* keep the float partial sums short */
			for (int k = 0; k < BLK; k++) {
				sums[k % 3] += acc[k];
				acc[k] = 0.0f;
			}
			nb = 0;
		}
	}
	if (i < n) {
		float tail[BLK] = {0}, tacc[BLK] = {0};
		memcpy(tail, px + i, (n - i) * sizeof(float));
		if (pass & PASS_LEVELS)
			block_levels(run, tail, tacc);
		if (pass & PASS_COLOR)
			block_color(run, tail);
		for (size_t k = 0; k < n - i; k++)
			acc[k] += tacc[k];
		memcpy(px + i, tail, (n - i) * sizeof(float));
	}
	for (int k = 0; k < BLK; k++)
		sums[k % 3] += acc[k];
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

static kcv_status jitter_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	const jitter_priv *p = priv;
	jitter_draw d = jitter_sample(p, rng);
	if (!s->pixels || s->width <= 0 || s->height <= 0)
		return KCV_OK;
	jitter_run run = {
		.map = p->map_range,
		.bright = p->brightness.on,
		.con = p->contrast.on,
		.sat = p->saturation.on,
		.hue = p->hue.on,
		.scale = 255.0f / (p->vhi - p->vlo),
		.vlo = p->vlo,
		.back = (p->vhi - p->vlo) / 255.0f,
		.delta = d.delta,
		.cf = d.contrast,
		.m = d.sat,
		.hd = d.hue,
	};
	size_t npix = (size_t)s->width * s->height, n = npix * 3;
	double sums[3] = {0, 0, 0};
	if (run.con) {
		/* the means need the whole image after brightness: two passes */
		for_blocks(&run, s->pixels, n, PASS_LEVELS, sums);
		for (int k = 0; k < BLK; k++)
			run.mu[k] = (float)(sums[k % 3] / (double)npix);
		for_blocks(&run, s->pixels, n, PASS_COLOR, sums);
	} else if (run.map || run.bright || run.sat || run.hue) {
		for_blocks(&run, s->pixels, n, PASS_BOTH, sums);
	}
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
