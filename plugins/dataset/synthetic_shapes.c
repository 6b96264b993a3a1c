/* Dataset "synthetic_shapes": the quickstart's images, made on the fly with no
 * downloads. Each image is a function of (seed, split, index) only: two RNG
 * streams are seeded from them, one for the geometry (object count, shape,
 * size, place) and one for the appearance (background, colours), so that
 * annotations come out the same with or without pixels.
 *
 * Objects: 6 classes by shape, side min_size..max_size of the image side,
 * aspect 0.8-1.25, fully inside the image. Overlaps are allowed, but a new
 * object that would leave an earlier one less than 60% visible is drawn
 * again (an object-id mask tracks who is on top of each pixel). A pixel
 * belongs to an object's mask when at least half of its 4x4 subsamples are
 * inside; the box is the tight integer box of the object's full mask. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/kcv.h>
#include <kcv/plugin.h>

#include "shapes_raster.h"

#define NAME "synthetic_shapes"
#define SOURCE "[" NAME "]"
#define MAX_OBJECTS 64
#define MIN_VISIBLE 0.6
#define MIN_AREA 16 /* pixels: smaller shapes are drawn again */
#define TRIES_PER_OBJECT 40
#define COLOUR_DISTANCE 80.0
#define COLOUR_TRIES 32

typedef struct syn_config {
	int64_t size;
	int64_t seed;
	int64_t min_objects, max_objects;
	double min_size, max_size;
} syn_config;

typedef struct syn_priv {
	size_t size;
	uint64_t seed, stream;
	int min_objects, max_objects;
	double min_size, max_size;
	int width, height;
	char split[32];
} syn_priv;

/* ---- create ---------------------------------------------------------------- */

/* A stream word per split, so that train and validation never share images. */
static uint64_t split_stream(const char *split)
{
	if (strcmp(split, "train") == 0)
		return 1;
	if (strcmp(split, "validation") == 0)
		return 2;
	if (strcmp(split, "test") == 0)
		return 3;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const unsigned char *c = (const unsigned char *)split; *c; c++)
		h = (h ^ *c) * 1099511628211ULL;
	return h | (1ULL << 63);
}

static kcv_status syn_create(void *priv, const void *config, const kcv_context *ctx,
                             kcv_error *err)
{
	syn_priv *p = priv;
	const syn_config *c = config;
	char path[256];
	snprintf(path, sizeof(path), "%s", ctx->path ? ctx->path : NAME);
	if (c->min_objects > c->max_objects)
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, path,
		                 "min_objects (%lld) is larger than max_objects (%lld)",
		                 (long long)c->min_objects, (long long)c->max_objects);
	if (c->min_size > c->max_size)
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, path,
		                 "min_size (%g) is larger than max_size (%g)", c->min_size,
		                 c->max_size);
	if (ctx->image_width < 8 || ctx->image_height < 8)
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, path,
		                 "the pipeline's image size %dx%d is too small (8x8 at least)",
		                 ctx->image_width, ctx->image_height);
	const char *split = ctx->split && ctx->split[0] ? ctx->split : "train";
	p->size = (size_t)c->size;
	p->seed = c->seed ? (uint64_t)c->seed : ctx->seed;
	p->stream = split_stream(split);
	p->min_objects = (int)c->min_objects;
	p->max_objects = (int)c->max_objects;
	p->min_size = c->min_size;
	p->max_size = c->max_size;
	p->width = ctx->image_width;
	p->height = ctx->image_height;
	snprintf(p->split, sizeof(p->split), "%s", split);
	return KCV_OK;
}

static size_t syn_size(const void *priv)
{
	return ((const syn_priv *)priv)->size;
}

static size_t syn_num_classes(const void *priv)
{
	(void)priv;
	return SHAPE_SPEC_COUNT;
}

static const char *syn_class_name(const void *priv, size_t i)
{
	(void)priv;
	return i < SHAPE_SPEC_COUNT ? shape_spec_name((shape_spec_kind)i) : NULL;
}

/* ---- one image --------------------------------------------------------------- */

/* Per-call working state (get() is MT-safe: nothing shared is written). */
typedef struct scene {
	const syn_priv *p;
	kcv_sample *s;       /* pixels NULL-equivalent when not painting */
	int paint;
	uint8_t *ids;        /* width x height: 0 background, else object number */
	uint8_t *cov;        /* coverage of the shape being placed */
	int placed;
	long area[MAX_OBJECTS + 1];    /* full mask of each object */
	long visible[MAX_OBJECTS + 1]; /* of which still on top */
	long lost[MAX_OBJECTS + 1];
} scene;

/* A random shape, always drawing the same number of values from g. */
static void random_shape(const syn_priv *p, kcv_rng *g, shape_spec *sh)
{
	sh->kind = (shape_spec_kind)kcv_rng_below(g, SHAPE_SPEC_COUNT);
	double side = kcv_rng_range(g, p->min_size, p->max_size);
	double aspect = exp(kcv_rng_range(g, log(0.8), log(1.25)));
	double w = side * p->width * sqrt(aspect), h = side * p->height / sqrt(aspect);
	w = fmin(w, p->width);
	h = fmin(h, p->height);
	sh->rx = 0.5 * w;
	sh->ry = 0.5 * h;
	sh->cx = kcv_rng_range(g, sh->rx, p->width - sh->rx);
	sh->cy = kcv_rng_range(g, sh->ry, p->height - sh->ry);
	sh->orientation = (int)kcv_rng_below(g, 4);
	sh->angle = kcv_rng_range(g, 0, 2 * 3.14159265358979323846);
	shape_spec_build(sh);
}

/* A colour at least COLOUR_DISTANCE from the mean of the canvas under the
 * mask (cov >= half). */
static void pick_colour(const scene *sc, int x0, int y0, int w, int h, kcv_rng *a,
                        float rgb[3])
{
	const syn_priv *p = sc->p;
	double sum[3] = {0, 0, 0};
	long n = 0;
	for (int r = 0; r < h; r++) {
		const uint8_t *c = sc->cov + (size_t)r * w;
		const float *px = sc->s->pixels + ((size_t)(y0 + r) * p->width + x0) * 3;
		for (int x = 0; x < w; x++, px += 3) {
			if (c[x] * 2 < SHAPE_SPEC_FULL)
				continue;
			sum[0] += px[0], sum[1] += px[1], sum[2] += px[2];
			n++;
		}
	}
	double mean[3];
	for (int c = 0; c < 3; c++)
		mean[c] = n ? sum[c] / n : 127.5;
	for (int t = 0; t < COLOUR_TRIES; t++) {
		double d2 = 0;
		for (int c = 0; c < 3; c++) {
			rgb[c] = (float)floor(kcv_rng_range(a, 0, 256));
			d2 += (rgb[c] - mean[c]) * (rgb[c] - mean[c]);
		}
		if (d2 >= COLOUR_DISTANCE * COLOUR_DISTANCE)
			return;
	}
	for (int c = 0; c < 3; c++) /* the farthest corner of the RGB cube */
		rgb[c] = mean[c] < 127.5 ? 255.0f : 0.0f;
}

/* Try to place one shape; on success append its box to the sample. Returns
 * 1 placed, 0 rejected, or a negative status. */
static int try_place(scene *sc, kcv_rng *g, kcv_rng *a, kcv_error *err)
{
	const syn_priv *p = sc->p;
	shape_spec sh;
	random_shape(p, g, &sh);
	int x0, y0, x1, y1;
	shape_spec_extent(&sh, p->width, p->height, &x0, &y0, &x1, &y1);
	int w = x1 - x0, h = y1 - y0;
	if (w <= 0 || h <= 0)
		return 0;
	shape_spec_coverage(&sh, x0, y0, w, h, sc->cov);

	long area = 0;
	int bx0 = w, by0 = h, bx1 = -1, by1 = -1;
	memset(sc->lost, 0, sizeof(long) * (size_t)(sc->placed + 1));
	for (int r = 0; r < h; r++) {
		const uint8_t *c = sc->cov + (size_t)r * w;
		const uint8_t *id = sc->ids + (size_t)(y0 + r) * p->width + x0;
		for (int x = 0; x < w; x++) {
			if (c[x] * 2 < SHAPE_SPEC_FULL)
				continue;
			area++;
			sc->lost[id[x]]++;
			bx0 = x < bx0 ? x : bx0, bx1 = x > bx1 ? x : bx1;
			by0 = r < by0 ? r : by0, by1 = r > by1 ? r : by1;
		}
	}
	if (area < MIN_AREA)
		return 0;
	for (int j = 1; j <= sc->placed; j++)
		if (sc->visible[j] - sc->lost[j] < MIN_VISIBLE * sc->area[j])
			return 0;

	int me = ++sc->placed;
	for (int j = 1; j < me; j++)
		sc->visible[j] -= sc->lost[j];
	sc->area[me] = sc->visible[me] = area;
	for (int r = 0; r < h; r++) {
		const uint8_t *c = sc->cov + (size_t)r * w;
		uint8_t *id = sc->ids + (size_t)(y0 + r) * p->width + x0;
		for (int x = 0; x < w; x++)
			if (c[x] * 2 >= SHAPE_SPEC_FULL)
				id[x] = (uint8_t)me;
	}
	if (sc->paint) {
		float rgb[3];
		pick_colour(sc, x0, y0, w, h, a, rgb);
		shape_spec_paint(sc->s->pixels, p->width, x0, y0, w, h, sc->cov, rgb);
	}
	float box[4] = {(float)(x0 + bx0), (float)(y0 + by0), (float)(x0 + bx1 + 1),
	                (float)(y0 + by1 + 1)};
	kcv_status st = kcv_boxes_push(&sc->s->boxes, box, (int32_t)sh.kind, 0, 0, err);
	return st != KCV_OK ? st : 1;
}

static kcv_status syn_get(const void *priv, size_t index, unsigned flags, kcv_sample *s,
                          const kcv_report *report, kcv_error *err)
{
	(void)report;
	const syn_priv *p = priv;
	if (index >= p->size)
		return KCV_ERROR(err, KCV_ERR_INVALID, SOURCE, NULL,
		                 "index %zu is out of range (%zu images)", index, p->size);
	kcv_status st;
	size_t npix = (size_t)p->width * p->height;
	scene *sc = calloc(1, sizeof(*sc));
	uint8_t *scratch = malloc(2 * npix);
	if (!sc || !scratch) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, SOURCE, NULL, "out of memory");
		goto done;
	}
	sc->p = p;
	sc->s = s;
	sc->paint = !(flags & KCV_GET_NO_PIXELS);
	sc->ids = scratch;
	sc->cov = scratch + npix;
	memset(sc->ids, 0, npix);

	snprintf(s->id, sizeof(s->id), "%s_%06zu", p->split, index);
	s->index = (int64_t)index;
	s->source_width = p->width;
	s->source_height = p->height;
	s->clipped_boxes = 0;
	kcv_boxes_clear(&s->boxes);
	s->boxes.format = KCV_BOX_XYXY;

	kcv_rng g, a;
	kcv_rng_seed(&g, p->seed, p->stream, (uint64_t)index, 1);
	kcv_rng_seed(&a, p->seed, p->stream, (uint64_t)index, 2);
	if (sc->paint) {
		if ((st = kcv_sample_resize_buffer(s, p->width, p->height, err)) != KCV_OK)
			goto done;
		kcv_shapes_background(s->pixels, p->width, p->height, &a);
	} else if (!s->pixels || s->pixels_capacity >= npix * 3) {
		s->width = p->width;
		s->height = p->height;
	} else if ((st = kcv_sample_resize_buffer(s, p->width, p->height, err)) != KCV_OK) {
		goto done;
	}

	uint64_t choices = (uint64_t)(p->max_objects - p->min_objects + 1);
	int n = p->min_objects + (int)kcv_rng_below(&g, choices);
	for (int tries = 0; sc->placed < n && tries < TRIES_PER_OBJECT * n; tries++) {
		int r = try_place(sc, &g, &a, err);
		if (r < 0) {
			st = (kcv_status)r;
			goto done;
		}
	}
	if (sc->paint)
		kcv_shapes_quantize(s->pixels, npix * 3);
	st = KCV_OK;
done:
	free(scratch);
	free(sc);
	return st;
}

/* ---- descriptor ---------------------------------------------------------------- */

static const kcv_option syn_options[] = {
	{.name = "size", .type = KCV_OPT_INT, .offset = offsetof(syn_config, size),
	 .def = "4000", .min = 1, .max = 1e9, .doc = "images in the split"},
	{.name = "seed", .type = KCV_OPT_INT, .offset = offsetof(syn_config, seed), .def = "0",
	 .min = 0, .max = 9007199254740991.0,
	 .doc = "0: the pipeline seed; each split draws its own images either way"},
	{.name = "min_objects", .type = KCV_OPT_INT, .offset = offsetof(syn_config, min_objects),
	 .def = "1", .min = 0, .max = MAX_OBJECTS, .doc = "fewest objects in an image"},
	{.name = "max_objects", .type = KCV_OPT_INT, .offset = offsetof(syn_config, max_objects),
	 .def = "8", .min = 1, .max = MAX_OBJECTS, .doc = "most objects in an image"},
	{.name = "min_size", .type = KCV_OPT_FLOAT, .offset = offsetof(syn_config, min_size),
	 .def = "0.12", .min = 0.02, .max = 1,
	 .doc = "smallest object side, fraction of the image side"},
	{.name = "max_size", .type = KCV_OPT_FLOAT, .offset = offsetof(syn_config, max_size),
	 .def = "0.45", .min = 0.02, .max = 1,
	 .doc = "largest object side, fraction of the image side"},
	{0},
};

static const kcv_dataset_vtable syn_vtable = {
	.size = syn_size,
	.num_classes = syn_num_classes,
	.class_name = syn_class_name,
	.get = syn_get,
};

static const kcv_component syn_component = {
	.kind = KCV_KIND_DATASET,
	.name = NAME,
	.summary = "generated shapes on noisy backgrounds (6 classes), no download",
	.options = syn_options,
	.config_size = sizeof(syn_config),
	.priv_size = sizeof(syn_priv),
	.create = syn_create,
	.destroy = NULL,
	.vtable = &syn_vtable,
};

static const kcv_component *const syn_components[] = {&syn_component, NULL};

static const kcv_plugin_desc syn_plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = NAME,
	.version = "0.1.0",
	.license = "MIT",
	.summary = "synthetic shapes dataset of the quickstart",
	.components = syn_components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &syn_plugin;
}
