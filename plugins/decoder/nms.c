/* The nms plugin: two decoders from per-anchor boxes and class
 * probabilities to final detections.
 *   nms       greedy non-maximum suppression: KerasCV's NmsPredictionDecoder
 *             (one class per anchor, per-class NMS, 100 per class and in all)
 *             or torchvision RetinaNet's postprocess_detections (every
 *             (anchor, class) pair, top k per level, clipping, batched NMS);
 *   soft_nms  Soft-NMS (Bodla et al. 2017): overlapping boxes lose score
 *             instead of being removed.
 * docs/losses-and-decoders.md describes the options and the exact rules. */
#include <stddef.h>
#include <stdio.h>

#include <kcv/plugin.h>

#include "nms-impl.h"

typedef struct nms_config {
	double confidence_threshold, iou_threshold;
	int64_t max_detections, max_detections_per_class, pre_nms_topk;
	int one_class_per_anchor, class_agnostic, clip_boxes;
	double min_box_size;
} nms_config;

typedef struct soft_config {
	int method;
	double sigma, iou_threshold, confidence_threshold, score_threshold;
	int64_t max_detections, pre_nms_topk;
	int one_class_per_anchor, class_agnostic, clip_boxes;
	double min_box_size;
} soft_config;

typedef struct nms_priv {
	nms_settings s;
	nms_work w;
	int soft;
	char path[256];
	char source[256];
} nms_priv;

#define COMMON_OPTIONS(cfg, conf_doc)                                                      \
	{.name = "confidence_threshold",                                                       \
	 .type = KCV_OPT_FLOAT,                                                                \
	 .offset = offsetof(cfg, confidence_threshold),                                        \
	 .def = "0.05",                                                                        \
	 .min = 0,                                                                             \
	 .max = 1,                                                                             \
	 .doc = conf_doc},                                                                     \
	{.name = "max_detections",                                                             \
	 .type = KCV_OPT_INT,                                                                  \
	 .offset = offsetof(cfg, max_detections),                                              \
	 .def = "100",                                                                         \
	 .min = 0,                                                                             \
	 .max = 1e9,                                                                           \
	 .doc = "detections per image at most (0 = unlimited; torchvision: 300)"},             \
	{.name = "pre_nms_topk",                                                               \
	 .type = KCV_OPT_INT,                                                                  \
	 .offset = offsetof(cfg, pre_nms_topk),                                                \
	 .def = "0",                                                                           \
	 .min = 0,                                                                             \
	 .max = 1e9,                                                                           \
	 .doc = "keep the k best candidates of each level (torchvision: 1000; 0 = all)"},      \
	{.name = "one_class_per_anchor",                                                       \
	 .type = KCV_OPT_BOOL,                                                                 \
	 .offset = offsetof(cfg, one_class_per_anchor),                                        \
	 .def = "true",                                                                        \
	 .doc = "true: an anchor competes with its best class only (KerasCV); false: every "  \
	        "(anchor, class) above the threshold (torchvision)"},                          \
	{.name = "class_agnostic",                                                             \
	 .type = KCV_OPT_BOOL,                                                                 \
	 .offset = offsetof(cfg, class_agnostic),                                              \
	 .def = "false",                                                                       \
	 .doc = "one suppression over all classes instead of one per class"},                  \
	{.name = "clip_boxes",                                                                 \
	 .type = KCV_OPT_BOOL,                                                                 \
	 .offset = offsetof(cfg, clip_boxes),                                                  \
	 .def = "false",                                                                       \
	 .doc = "clip boxes to the image first (torchvision: true; KerasCV: false)"},          \
	{.name = "min_box_size",                                                               \
	 .type = KCV_OPT_FLOAT,                                                                \
	 .offset = offsetof(cfg, min_box_size),                                                \
	 .def = "0",                                                                           \
	 .min = 0,                                                                             \
	 .max = 1e6,                                                                           \
	 .doc = "drop boxes narrower or lower than this, in pixels (0 = keep all)"}

static const kcv_option nms_options[] = {
	COMMON_OPTIONS(nms_config, "a candidate needs a score above it (strictly)"),
	{.name = "iou_threshold",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(nms_config, iou_threshold),
	 .def = "0.5",
	 .min = 0,
	 .max = 1,
	 .doc = "a box overlapping a kept one of its class by more than this (IoU) is removed"},
	{.name = "max_detections_per_class",
	 .type = KCV_OPT_INT,
	 .offset = offsetof(nms_config, max_detections_per_class),
	 .def = "100",
	 .min = 0,
	 .max = 1e9,
	 .doc = "detections of one class at most (0 = unlimited, as torchvision)"},
	{0},
};

static const char *const method_choices[] = {"gaussian", "linear", NULL};

static const kcv_option soft_options[] = {
	COMMON_OPTIONS(soft_config, "a candidate needs a score above it (strictly), before decay"),
	{.name = "method",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(soft_config, method),
	 .def = "\"gaussian\"",
	 .choices = method_choices,
	 .doc = "score decay: gaussian exp(-IoU^2 / sigma), or linear (1 - IoU) above "
	        "iou_threshold"},
	{.name = "sigma",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(soft_config, sigma),
	 .def = "0.5",
	 .min = 0,
	 .max = 100,
	 .doc = "width of the gaussian decay (> 0)"},
	{.name = "iou_threshold",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(soft_config, iou_threshold),
	 .def = "0.3",
	 .min = 0,
	 .max = 1,
	 .doc = "linear: scores decay where IoU > this"},
	{.name = "score_threshold",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(soft_config, score_threshold),
	 .def = "0.001",
	 .min = 0,
	 .max = 1,
	 .doc = "a box whose decayed score falls below this is dropped"},
	{0},
};

static void priv_init(nms_priv *p, const char *name, const kcv_context *ctx)
{
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : name);
	snprintf(p->source, sizeof(p->source), "%s", ctx && ctx->source ? ctx->source : "");
}

static kcv_status nms_create(void *priv, const void *config, const kcv_context *ctx,
                             kcv_error *err)
{
	nms_priv *p = priv;
	const nms_config *c = config;
	priv_init(p, "nms", ctx);
	p->s = (nms_settings){
		.confidence = (float)c->confidence_threshold,
		.iou = c->iou_threshold,
		.max_total = (size_t)c->max_detections,
		.max_per_class = (size_t)c->max_detections_per_class,
		.pre_topk = (size_t)c->pre_nms_topk,
		.one_class_per_anchor = c->one_class_per_anchor,
		.class_agnostic = c->class_agnostic,
		.clip_boxes = c->clip_boxes,
		.min_size = (float)c->min_box_size,
	};
	return KCV_OK;
}

static kcv_status soft_create(void *priv, const void *config, const kcv_context *ctx,
                              kcv_error *err)
{
	nms_priv *p = priv;
	const soft_config *c = config;
	priv_init(p, "soft_nms", ctx);
	if (!(c->sigma > 0))
		return kcv_error_option(err, ctx, "sigma", "must be > 0, got %g", c->sigma);
	p->soft = 1;
	p->s = (nms_settings){
		.confidence = (float)c->confidence_threshold,
		.iou = c->iou_threshold,
		.max_total = (size_t)c->max_detections,
		.pre_topk = (size_t)c->pre_nms_topk,
		.one_class_per_anchor = c->one_class_per_anchor,
		.class_agnostic = c->class_agnostic,
		.clip_boxes = c->clip_boxes,
		.min_size = (float)c->min_box_size,
		.soft_method = c->method,
		.sigma = c->sigma,
		.score_threshold = c->score_threshold,
	};
	return KCV_OK;
}

static void nms_destroy(void *priv)
{
	nms_work_free(&((nms_priv *)priv)->w);
}

static kcv_status nms_decode(void *priv, const kcv_decoder_input *in, kcv_detections *out,
                             kcv_error *err)
{
	nms_priv *p = priv;
	kcv_status st = nms_gather(&p->s, in, &p->w, p->source, p->path, err);
	if (st)
		return st;
	if (p->soft)
		return nms_soft(&p->s, in->num_classes, &p->w, out, p->source, p->path, err);
	return nms_hard(&p->s, in->num_classes, &p->w, out, p->source, p->path, err);
}

static const kcv_decoder_vtable decoder_vt = {.decode = nms_decode};

static const kcv_component comp_nms = {
	.kind = KCV_KIND_DECODER,
	.name = "nms",
	.summary = "greedy non-maximum suppression, per class (KerasCV, torchvision)",
	.options = nms_options,
	.config_size = sizeof(nms_config),
	.priv_size = sizeof(nms_priv),
	.create = nms_create,
	.destroy = nms_destroy,
	.vtable = &decoder_vt,
};

static const kcv_component comp_soft = {
	.kind = KCV_KIND_DECODER,
	.name = "soft_nms",
	.summary = "Soft-NMS: overlapping boxes lose score (Bodla et al. 2017)",
	.options = soft_options,
	.config_size = sizeof(soft_config),
	.priv_size = sizeof(nms_priv),
	.create = soft_create,
	.destroy = nms_destroy,
	.vtable = &decoder_vt,
};

static const kcv_component *const components[] = {&comp_nms, &comp_soft, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "nms",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "prediction decoders: NMS and Soft-NMS",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
