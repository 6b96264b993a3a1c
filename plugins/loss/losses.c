/* The losses plugin: focal_loss (classification), smooth_l1_loss, l1_loss
 * and giou_loss (box regression). Each builds, from predictions [N,A,K],
 * targets [N,A,K] and per-anchor weights [N,A], the per-image losses
 *     out[n] = sum_a weights[n,a] * l(predictions[n,a,:], targets[n,a,:])
 * of shape [N]. The trainer chooses the weights (KerasCV: 1/N_pos of the
 * image for positives, and for negatives in the focal loss; 0 for ignored
 * anchors). Every l is finite for finite inputs, with a finite gradient,
 * so anchors of weight 0 contribute exactly 0 whatever they hold.
 * docs/losses-and-decoders.md describes the options and formulas. */
#include <stddef.h>
#include <stdio.h>

#include <kcv/graph.h>
#include <kcv/plugin.h>

#include "losses-impl.h"

/* ---- options ------------------------------------------------------------- */

typedef struct focal_config {
	double alpha, gamma;
	int from_logits;
	double label_smoothing;
} focal_config;

typedef struct smooth_l1_config {
	double l1_cutoff;
	int reduction;
} smooth_l1_config;

typedef struct l1_config {
	int reduction;
} l1_config;

typedef struct giou_config {
	int box_coding;
	kcv_floats box_variance;
	double decode_clamp;
} giou_config;

static const char *const reduction_choices[] = {"mean", "sum", NULL};
static const char *const coding_choices[] = {"top_left", "center", NULL};

static const kcv_option focal_options[] = {
	{.name = "alpha",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(focal_config, alpha),
	 .def = "0.25",
	 .min = -1,
	 .max = 1,
	 .doc = "weight of the positive targets (y == 1), 1 - alpha for the others; "
	        "negative: no balancing (torchvision's -1)"},
	{.name = "gamma",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(focal_config, gamma),
	 .def = "2.0",
	 .min = 0,
	 .max = 100,
	 .doc = "focusing exponent of (1 - p_t); 0 gives alpha-balanced cross-entropy"},
	{.name = "from_logits",
	 .type = KCV_OPT_BOOL,
	 .offset = offsetof(focal_config, from_logits),
	 .def = "true",
	 .doc = "predictions are logits (exact, stable sigmoid cross-entropy); false: "
	        "probabilities, clipped to [1e-7, 1 - 1e-7] as Keras"},
	{.name = "label_smoothing",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(focal_config, label_smoothing),
	 .def = "0",
	 .min = 0,
	 .max = 1,
	 .doc = "targets become y (1 - ls) + ls / 2 in the cross-entropy and p_t; alpha "
	        "still goes by the raw target"},
	{0},
};

static const kcv_option smooth_l1_options[] = {
	{.name = "l1_cutoff",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(smooth_l1_config, l1_cutoff),
	 .def = "1.0",
	 .min = 0,
	 .max = 1e6,
	 .doc = "0.5 d^2 below it, |d| - 0.5 from it on (KerasCV; continuous at 1 only)"},
	{.name = "reduction",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(smooth_l1_config, reduction),
	 .def = "\"mean\"",
	 .choices = reduction_choices,
	 .doc = "over the 4 coordinates: \"mean\" (KerasCV) or \"sum\""},
	{0},
};

static const kcv_option l1_options[] = {
	{.name = "reduction",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(l1_config, reduction),
	 .def = "\"sum\"",
	 .choices = reduction_choices,
	 .doc = "over the 4 coordinates: \"sum\" (torchvision RetinaNet) or \"mean\""},
	{0},
};

static const kcv_option giou_options[] = {
	{.name = "box_coding",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(giou_config, box_coding),
	 .def = "\"center\"",
	 .choices = coding_choices,
	 .doc = "how the detector encodes deltas (must match its box_coding): \"center\" "
	        "(torchvision, KerasCV >= 0.4) or \"top_left\" (KerasCV 0.3)"},
	{.name = "box_variance",
	 .type = KCV_OPT_FLOATS,
	 .offset = offsetof(giou_config, box_variance),
	 .def = "[0.1, 0.1, 0.2, 0.2]",
	 .min = 0,
	 .max = 1e3,
	 .min_items = 4,
	 .max_items = 4,
	 .doc = "the detector's box_variance: deltas are multiplied by it to decode "
	        "(torchvision RetinaNet: [1, 1, 1, 1])"},
	{.name = "decode_clamp",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(giou_config, decode_clamp),
	 .def = "4.135166556742356",
	 .min = 0,
	 .max = 80,
	 .doc = "cap on the scaled dw, dh before exp, as the detector's (ln(1000/16)); 0: none"},
	{0},
};

/* ---- create --------------------------------------------------------------- */

static void priv_init(loss_priv *p, const char *name, const kcv_context *ctx)
{
	p->name = name;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : name);
	snprintf(p->source, sizeof(p->source), "%s", ctx && ctx->source ? ctx->source : "");
}

static kcv_status focal_create(void *priv, const void *config, const kcv_context *ctx,
                               kcv_error *err)
{
	loss_priv *p = priv;
	const focal_config *c = config;
	priv_init(p, "focal_loss", ctx);
	p->focal = (kcv_focal_params){.alpha = (float)c->alpha, .gamma = (float)c->gamma,
	                              .label_smoothing = (float)c->label_smoothing,
	                              .from_logits = c->from_logits};
	return KCV_OK;
}

static kcv_status smooth_l1_create(void *priv, const void *config, const kcv_context *ctx,
                                   kcv_error *err)
{
	loss_priv *p = priv;
	const smooth_l1_config *c = config;
	priv_init(p, "smooth_l1_loss", ctx);
	if (!(c->l1_cutoff > 0))
		return kcv_error_option(err, ctx, "l1_cutoff", "must be > 0, got %g", c->l1_cutoff);
	p->cutoff = (float)c->l1_cutoff;
	p->reduction = c->reduction;
	return KCV_OK;
}

static kcv_status l1_create(void *priv, const void *config, const kcv_context *ctx,
                            kcv_error *err)
{
	loss_priv *p = priv;
	priv_init(p, "l1_loss", ctx);
	p->reduction = ((const l1_config *)config)->reduction;
	return KCV_OK;
}

static kcv_status giou_create(void *priv, const void *config, const kcv_context *ctx,
                              kcv_error *err)
{
	loss_priv *p = priv;
	const giou_config *c = config;
	priv_init(p, "giou_loss", ctx);
	p->giou.input = c->box_coding == LOSS_CODING_CENTER ? KCV_GIOU_DELTAS_CENTER
	                                                    : KCV_GIOU_DELTAS_TOP_LEFT;
	for (size_t i = 0; i < 4; i++) {
		if (!(c->box_variance.v[i] > 0))
			return kcv_error_option(err, ctx, "box_variance",
			                        "item %zu must be > 0, got %g", i, c->box_variance.v[i]);
		p->giou.variance[i] = (float)c->box_variance.v[i];
	}
	p->giou.clamp = (float)c->decode_clamp;
	return KCV_OK;
}

/* ---- shared graph pieces ------------------------------------------------- */

kcv_status loss_check_inputs(const loss_priv *p, kcv_graph *g, kcv_node pred, kcv_node targets,
                             kcv_node weights, int64_t k, kcv_error *err)
{
	kcv_status st = kcv_graph_status(g, err);
	if (st)
		return st;
	if (pred < 0 || targets < 0 || weights < 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
		                 "%s: predictions, targets and weights are all needed", p->name);
	kcv_shape ps = kcv_graph_shape(g, pred), ts = kcv_graph_shape(g, targets);
	kcv_shape ws = kcv_graph_shape(g, weights);
	char a[128], b[128];
	kcv_shape_format(&ps, a, sizeof(a));
	if (ps.rank != 3 || ps.d[2] < 1)
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
		                 "%s: predictions must be [N, A, K], got %s", p->name, a);
	if (k > 0 && ps.d[2] != k)
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
		                 "%s: predictions must be [N, A, %lld] (box deltas), got %s", p->name,
		                 (long long)k, a);
	if (!kcv_shape_equal(&ps, &ts))
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
		                 "%s: targets %s differ from predictions %s", p->name,
		                 kcv_shape_format(&ts, b, sizeof(b)), a);
	if (ws.rank != 2 || ws.d[0] != ps.d[0] || ws.d[1] != ps.d[1])
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
		                 "%s: weights must be [%lld, %lld] for predictions %s, got %s", p->name,
		                 (long long)ps.d[0], (long long)ps.d[1], a,
		                 kcv_shape_format(&ws, b, sizeof(b)));
	return KCV_OK;
}

kcv_status loss_finish(const loss_priv *p, kcv_graph *g, kcv_node per_anchor, kcv_node weights,
                       kcv_node *out, kcv_error *err)
{
	kcv_node o = kcv_op_sum(g, kcv_op_mul(g, per_anchor, weights), 1, 0);
	kcv_error e = {0};
	if (kcv_graph_status(g, &e))
		return KCV_ERROR(err, e.code, p->source, p->path, "%s: %s", p->name, e.text);
	*out = o;
	return KCV_OK;
}

/* ---- descriptor ------------------------------------------------------------ */

static const kcv_loss_vtable focal_vt = {.build = focal_build};
static const kcv_loss_vtable smooth_l1_vt = {.build = smooth_l1_build};
static const kcv_loss_vtable l1_vt = {.build = l1_build};
static const kcv_loss_vtable giou_vt = {.build = giou_build};

static const kcv_component comp_focal = {
	.kind = KCV_KIND_LOSS,
	.name = "focal_loss",
	.summary = "sigmoid focal loss summed over classes (KerasCV FocalLoss)",
	.options = focal_options,
	.config_size = sizeof(focal_config),
	.priv_size = sizeof(loss_priv),
	.create = focal_create,
	.vtable = &focal_vt,
};
static const kcv_component comp_smooth_l1 = {
	.kind = KCV_KIND_LOSS,
	.name = "smooth_l1_loss",
	.summary = "smooth L1 of the box deltas, mean over the 4 coordinates (KerasCV SmoothL1Loss)",
	.options = smooth_l1_options,
	.config_size = sizeof(smooth_l1_config),
	.priv_size = sizeof(loss_priv),
	.create = smooth_l1_create,
	.vtable = &smooth_l1_vt,
};
static const kcv_component comp_l1 = {
	.kind = KCV_KIND_LOSS,
	.name = "l1_loss",
	.summary = "L1 of the box deltas, summed over the 4 coordinates (torchvision RetinaNet)",
	.options = l1_options,
	.config_size = sizeof(l1_config),
	.priv_size = sizeof(loss_priv),
	.create = l1_create,
	.vtable = &l1_vt,
};
static const kcv_component comp_giou = {
	.kind = KCV_KIND_LOSS,
	.name = "giou_loss",
	.summary = "1 - generalized IoU of the decoded boxes (torchvision RetinaNet v2)",
	.options = giou_options,
	.config_size = sizeof(giou_config),
	.priv_size = sizeof(loss_priv),
	.create = giou_create,
	.vtable = &giou_vt,
};

static const kcv_component *const components[] = {&comp_focal, &comp_smooth_l1, &comp_l1,
                                                  &comp_giou, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "losses",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "detection losses: focal, smooth L1, L1, GIoU",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
