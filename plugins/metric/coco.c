/* coco_map and coco_recall: the COCO bounding-box metrics with pycocotools'
 * numbers, computed by libkcv's kcv_cocoeval (the code behind
 * `kcv cocoeval`) over every image passed to update() since the last reset.
 *
 * Each image of each update() becomes a COCO image (ids 0, 1, 2, ...); its
 * ground-truth boxes (xyxy pixels) become annotations with area = w*h and
 * its detections results; class ids are category ids. Boxes flagged
 * difficult are ordinary ground truth (as in KerasCV) unless
 * difficult_as_crowd makes them COCO crowd regions, which are ignored.
 * Memory grows with the number of boxes. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/cocoeval.h>
#include <kcv/plugin.h>

typedef struct coco_config {
	int difficult_as_crowd;
	int64_t max_detections; /* coco_recall */
} coco_config;

typedef struct coco_priv {
	kcv_cocoeval *ev;
	int recall;        /* coco_recall: one value, AR at max_det */
	int max_det;
	int crowd;         /* difficult boxes are crowd regions */
	int64_t next_image;
	int64_t next_gt_id; /* annotation ids from 1 (pycocotools ignores id 0) */
	uint8_t *seen;      /* classes already declared as categories */
	size_t seen_size;
	kcv_boxes scratch;  /* boxes converted to xyxy */
	char path[256];
} coco_priv;

static const kcv_option map_options[] = {
	{.name = "difficult_as_crowd",
	 .type = KCV_OPT_BOOL,
	 .offset = offsetof(coco_config, difficult_as_crowd),
	 .def = "false",
	 .doc = "treat boxes flagged difficult as COCO crowd regions (ignored); false: ordinary "
	        "ground truth, as KerasCV"},
	{0},
};

static const kcv_option recall_options[] = {
	{.name = "max_detections",
	 .type = KCV_OPT_INT,
	 .offset = offsetof(coco_config, max_detections),
	 .def = "100",
	 .min = 1,
	 .max = 1000000,
	 .doc = "detections kept per image and class (pycocotools maxDets)"},
	{.name = "difficult_as_crowd",
	 .type = KCV_OPT_BOOL,
	 .offset = offsetof(coco_config, difficult_as_crowd),
	 .def = "false",
	 .doc = "treat boxes flagged difficult as COCO crowd regions (ignored)"},
	{0},
};

static kcv_status create_common(coco_priv *p, const coco_config *c, const kcv_context *ctx,
                                int recall, kcv_error *err)
{
	kcv_cocoeval_params params = {.threads = ctx ? ctx->threads : 1};
	p->recall = recall;
	p->crowd = c->difficult_as_crowd;
	p->next_gt_id = 1;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");
	if (recall) {
		p->max_det = (int)c->max_detections;
		params.num_max_dets = 1;
		params.max_dets[0] = p->max_det;
	}
	p->ev = kcv_cocoeval_new(&params, err);
	return p->ev ? KCV_OK : KCV_ERR_INVALID;
}

static kcv_status map_create(void *priv, const void *config, const kcv_context *ctx,
                             kcv_error *err)
{
	return create_common(priv, config, ctx, 0, err);
}

static kcv_status recall_create(void *priv, const void *config, const kcv_context *ctx,
                                kcv_error *err)
{
	return create_common(priv, config, ctx, 1, err);
}

static void coco_destroy(void *priv)
{
	coco_priv *p = priv;
	kcv_cocoeval_free(p->ev);
	free(p->seen);
	kcv_boxes_release(&p->scratch);
}

static void coco_reset(void *priv)
{
	coco_priv *p = priv;
	kcv_cocoeval_reset(p->ev);
	p->next_image = 0;
	p->next_gt_id = 1;
	if (p->seen)
		memset(p->seen, 0, p->seen_size);
}

/* Declare class c as a category the first time it shows up. */
static kcv_status see_class(coco_priv *p, int32_t c, kcv_error *err)
{
	size_t i = (size_t)c;
	if (i >= (1u << 20)) /* a huge id: no bitmap (declaring it twice is harmless) */
		return kcv_cocoeval_add_category(p->ev, c, err);
	if (i >= p->seen_size) {
		size_t n = p->seen_size ? p->seen_size : 64;
		while (n <= i)
			n *= 2;
		uint8_t *s = realloc(p->seen, n);
		if (!s)
			return KCV_ERROR(err, KCV_ERR_NOMEM, p->path, NULL, "out of memory");
		memset(s + p->seen_size, 0, n - p->seen_size);
		p->seen = s;
		p->seen_size = n;
	}
	if (p->seen[i])
		return KCV_OK;
	p->seen[i] = 1;
	return kcv_cocoeval_add_category(p->ev, c, err);
}

/* xyxy (float) to COCO [x, y, w, h] in double; 0 if all are finite. */
static int to_xywh(const float *b, double out[4])
{
	out[0] = b[0];
	out[1] = b[1];
	out[2] = (double)b[2] - (double)b[0];
	out[3] = (double)b[3] - (double)b[1];
	return isfinite(out[0]) && isfinite(out[1]) && isfinite(out[2]) && isfinite(out[3]) ? 0 : -1;
}

static kcv_status add_ground_truth(coco_priv *p, const kcv_boxes *gt, int64_t image,
                                   kcv_error *err)
{
	const kcv_boxes *b = gt;
	kcv_status st;
	if (gt->count && gt->format != KCV_BOX_XYXY) {
		/* absolute formats convert without the image size; relative ones fail */
		if ((st = kcv_boxes_copy(&p->scratch, gt, err)) != KCV_OK ||
		    (st = kcv_boxes_set_format(&p->scratch, KCV_BOX_XYXY, 0, 0, err)) != KCV_OK)
			return st;
		b = &p->scratch;
	}
	for (size_t i = 0; i < b->count; i++) {
		if (b->classes[i] < 0)
			continue;
		kcv_coco_gt g = {.id = p->next_gt_id++, .image_id = image,
		                 .category_id = b->classes[i]};
		if (to_xywh(b->coords + 4 * i, g.bbox))
			return KCV_ERROR(err, KCV_ERR_INVALID, p->path, NULL,
			                 "image %lld: ground-truth box %zu is not finite", (long long)image,
			                 i);
		g.area = g.bbox[2] * g.bbox[3];
		g.iscrowd = p->crowd && b->difficult && b->difficult[i];
		if ((st = see_class(p, b->classes[i], err)) != KCV_OK ||
		    (st = kcv_cocoeval_add_gt(p->ev, &g, err)) != KCV_OK)
			return st;
	}
	return KCV_OK;
}

static kcv_status coco_update(void *priv, const kcv_boxes *gt, const kcv_detections *dt,
                              size_t num_images, kcv_error *err)
{
	coco_priv *p = priv;
	kcv_status st;
	for (size_t n = 0; n < num_images; n++) {
		int64_t image = p->next_image++;
		if ((st = kcv_cocoeval_add_image(p->ev, image, err)) != KCV_OK)
			return st;
		if (gt && (st = add_ground_truth(p, &gt[n], image, err)) != KCV_OK)
			return st;
		if (!dt)
			continue;
		for (size_t i = 0; i < dt[n].count; i++) {
			if (dt[n].classes[i] < 0)
				continue;
			kcv_coco_dt d = {.image_id = image, .category_id = dt[n].classes[i],
			                 .score = dt[n].scores[i]};
			if (to_xywh(dt[n].boxes + 4 * i, d.bbox) || !isfinite(d.score))
				return KCV_ERROR(err, KCV_ERR_INVALID, p->path, NULL,
				                 "image %lld: detection %zu has a non-finite box or score",
				                 (long long)image, i);
			if ((st = see_class(p, dt[n].classes[i], err)) != KCV_OK ||
			    (st = kcv_cocoeval_add_dt(p->ev, &d, err)) != KCV_OK)
				return st;
		}
	}
	return KCV_OK;
}

static void put(kcv_metric_value *values, size_t capacity, size_t *n, const char *name,
                double v)
{
	if (*n < capacity) {
		snprintf(values[*n].name, sizeof(values[*n].name), "%s", name);
		values[*n].value = v;
	}
	(*n)++;
}

static kcv_status coco_result(void *priv, kcv_metric_value *values, size_t capacity,
                              size_t *count, kcv_error *err)
{
	coco_priv *p = priv;
	kcv_status st = kcv_cocoeval_run(p->ev, err);
	if (st != KCV_OK)
		return st;
	size_t n = 0;
	char name[48];
	if (p->recall) {
		snprintf(name, sizeof(name), "AR%d", p->max_det);
		put(values, capacity, &n, name,
		    kcv_cocoeval_summarize(p->ev, 0, -1, KCV_COCO_AREA_ALL, p->max_det));
	} else {
		for (int s = 0; s < KCV_COCO_STAT_COUNT; s++)
			put(values, capacity, &n, kcv_coco_stat_name((kcv_coco_stat)s),
			    kcv_cocoeval_stat(p->ev, (kcv_coco_stat)s));
		for (size_t k = 0; k < kcv_cocoeval_num_categories(p->ev); k++) {
			snprintf(name, sizeof(name), "AP/%lld",
			         (long long)kcv_cocoeval_category_id(p->ev, k));
			put(values, capacity, &n, name, kcv_cocoeval_category_ap(p->ev, k, -1));
		}
	}
	*count = n;
	return KCV_OK;
}

static const kcv_metric_vtable coco_vtable = {
	.reset = coco_reset,
	.update = coco_update,
	.result = coco_result,
};

static const kcv_component map_component = {
	.kind = KCV_KIND_METRIC,
	.name = "coco_map",
	.summary = "COCO AP, AP50, AP75, APs/m/l, AR1/10/100, ARs/m/l and AP per class, with "
	           "pycocotools' numbers",
	.options = map_options,
	.config_size = sizeof(coco_config),
	.priv_size = sizeof(coco_priv),
	.create = map_create,
	.destroy = coco_destroy,
	.vtable = &coco_vtable,
};

static const kcv_component recall_component = {
	.kind = KCV_KIND_METRIC,
	.name = "coco_recall",
	.summary = "COCO recall at max_detections (pycocotools AR, IoU .50:.95, all areas)",
	.options = recall_options,
	.config_size = sizeof(coco_config),
	.priv_size = sizeof(coco_priv),
	.create = recall_create,
	.destroy = coco_destroy,
	.vtable = &coco_vtable,
};

static const kcv_component *const components[] = {&map_component, &recall_component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "coco",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "COCO detection metrics (pycocotools-identical)",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
