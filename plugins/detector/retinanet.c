/* RetinaNet (Lin et al. 2017) on a backbone it creates itself: a feature
 * pyramid on C3..C5 with extra levels P6/P7, a classification and a box head
 * shared across the levels, the anchors, the label encoder and the box
 * coder.
 *
 * The defaults are KerasCV's structure (v0.3.4: P6 from C5 with TF "same"
 * padding, 3 head convolutions with orthogonal kernels, scale-major anchors
 * with w/h ratios centred on their cells and clipped to the image), except
 * that boxes are coded in centre form (the paper's, torchvision's and
 * KerasCV's from v0.4); every difference from torchvision's
 * retinanet_resnet50_fpn is an option (pipelines/torchvision_retinanet.json
 * sets them all). The FPN is initialised as torchvision's (kaiming uniform,
 * a = 1, zero bias), not with Keras's glorot uniform.
 *
 * Graph parameter names (kernels HWIO):
 *   fpn.inner.{0,1,2}.{weight,bias}   1x1 laterals on C3, C4, C5
 *   fpn.layer.{0,1,2}.{weight,bias}   3x3 outputs P3, P4, P5
 *   fpn.p6.*, fpn.p7.*                3x3 stride 2
 *   head.{cls,box}.conv.{i}.*         3x3 head convolutions (no bias with
 *   head.{cls,box}.norm.{i}.*         GroupNorm after them: head_norm "group")
 *   head.cls.logits.*, head.box.deltas.*
 * Only the layers the levels min_level..max_level need are built. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "retinanet-impl.h"

static const char *const p6_choices[] = {"c5", "p5", NULL};
static const char *const padding_choices[] = {"same", "symmetric", NULL};
static const char *const norm_choices[] = {"none", "group", NULL};
static const char *const init_choices[] = {"orthogonal", "normal", NULL};
static const char *const ratio_choices[] = {"w/h", "h/w", NULL};
static const char *const order_choices[] = {"scale_major", "ratio_major", NULL};
static const char *const rounding_choices[] = {"none", "torchvision", NULL};
static const char *const coding_choices[] = {"center", "top_left", NULL};

#define OPT(field) .offset = offsetof(rn_config, field)

static const kcv_option rn_options[] = {
	{.name = "classes", .type = KCV_OPT_INT, OPT(classes), .min = 1, .max = 100000,
	 .doc = "number of object classes (no background class)", .flags = KCV_OPT_REQUIRED},
	{.name = "backbone", .type = KCV_OPT_JSON, OPT(backbone),
	 .doc = "backbone spec, e.g. {\"plugin\": \"resnet50\", \"weights\": \"imagenet\"}; "
	        "its C3..C5 feed the pyramid",
	 .flags = KCV_OPT_REQUIRED},
	{.name = "min_level", .type = KCV_OPT_INT, OPT(min_level), .def = "3", .min = 3, .max = 7,
	 .doc = "finest pyramid level with heads (P3: stride 8)"},
	{.name = "max_level", .type = KCV_OPT_INT, OPT(max_level), .def = "7", .min = 3, .max = 7,
	 .doc = "coarsest pyramid level with heads (P7: stride 128; 5 = no P6/P7)"},
	{.name = "fpn_channels", .type = KCV_OPT_INT, OPT(fpn_channels), .def = "256", .min = 1,
	 .max = 4096, .doc = "channels of the pyramid levels"},
	{.name = "head_channels", .type = KCV_OPT_INT, OPT(head_channels), .def = "0", .min = 0,
	 .max = 4096, .doc = "channels of the head convolutions (0 = fpn_channels)"},
	{.name = "head_convs", .type = KCV_OPT_INT, OPT(head_convs), .def = "3", .min = 0,
	 .max = RN_MAX_CONVS,
	 .doc = "3x3 convolutions (+ReLU) in each head before its last (KerasCV 3, torchvision 4)"},
	{.name = "p6_input", .type = KCV_OPT_ENUM, OPT(p6_input), .def = "\"c5\"",
	 .choices = p6_choices, .doc = "what P6 is computed from: c5 (KerasCV) or p5 (torchvision v1)"},
	{.name = "extra_padding", .type = KCV_OPT_ENUM, OPT(extra_padding), .def = "\"same\"",
	 .choices = padding_choices,
	 .doc = "padding of the stride-2 P6/P7 convolutions: same (TF, bottom/right) or "
	        "symmetric (1 each side, torchvision)"},
	{.name = "head_norm", .type = KCV_OPT_ENUM, OPT(head_norm), .def = "\"none\"",
	 .choices = norm_choices,
	 .doc = "none, or group: conv without bias, GroupNorm, ReLU (torchvision v2 heads)"},
	{.name = "head_norm_groups", .type = KCV_OPT_INT, OPT(head_norm_groups), .def = "32",
	 .min = 1, .max = 4096, .doc = "GroupNorm groups (head_norm \"group\")"},
	{.name = "head_init", .type = KCV_OPT_ENUM, OPT(head_init), .def = "\"orthogonal\"",
	 .choices = init_choices,
	 .doc = "head kernels: orthogonal (KerasCV, gain 1) or normal (N(0, 0.01), torchvision)"},
	{.name = "prior_probability", .type = KCV_OPT_FLOAT, OPT(prior_probability), .def = "0.01",
	 .min = 1e-6, .max = 0.999999,
	 .doc = "initial foreground probability: class bias -ln((1 - p) / p)"},
	{.name = "anchor_sizes", .type = KCV_OPT_FLOATS, OPT(anchor_sizes), .min = 1e-3, .max = 1e6,
	 .max_items = 5,
	 .doc = "anchor size per level, one per level from min_level (default 4 x stride: "
	        "[32, 64, 128, 256, 512] for P3..P7)"},
	{.name = "anchor_scales", .type = KCV_OPT_FLOATS, OPT(anchor_scales),
	 .def = "[1, 1.2599210498948732, 1.5874010519681994]", .min = 1e-3, .max = 1e3,
	 .min_items = 1, .max_items = 8, .doc = "scales of each size (default 2^0, 2^(1/3), 2^(2/3))"},
	{.name = "anchor_ratios", .type = KCV_OPT_FLOATS, OPT(anchor_ratios), .def = "[0.5, 1, 2]",
	 .min = 1e-3, .max = 1e3, .min_items = 1, .max_items = 8,
	 .doc = "aspect ratios (see ratio_definition)"},
	{.name = "ratio_definition", .type = KCV_OPT_ENUM, OPT(ratio_definition), .def = "\"w/h\"",
	 .choices = ratio_choices, .doc = "what a ratio means: w/h (KerasCV) or h/w (torchvision)"},
	{.name = "anchor_order", .type = KCV_OPT_ENUM, OPT(anchor_order), .def = "\"scale_major\"",
	 .choices = order_choices,
	 .doc = "anchors of a location: scale_major (KerasCV, k = scale * #ratios + ratio) or "
	        "ratio_major (torchvision, k = ratio * #scales + scale)"},
	{.name = "anchor_offset", .type = KCV_OPT_FLOAT, OPT(anchor_offset), .def = "0.5", .min = 0,
	 .max = 1,
	 .doc = "anchor centres at (i + offset) x stride (KerasCV 0.5, torchvision 0); the stride "
	        "of level l is 2^l (torchvision: image size // grid, the same for sizes that are "
	        "multiples of 2^max_level)"},
	{.name = "anchor_clip", .type = KCV_OPT_BOOL, OPT(anchor_clip), .def = "true",
	 .doc = "clip anchors to the image (KerasCV; torchvision does not)"},
	{.name = "anchor_rounding", .type = KCV_OPT_ENUM, OPT(anchor_rounding), .def = "\"none\"",
	 .choices = rounding_choices,
	 .doc = "none, or torchvision: sizes truncated to integers (int(size x scale)) and base "
	        "anchors rounded as torchvision's AnchorGenerator"},
	{.name = "box_coding", .type = KCV_OPT_ENUM, OPT(box_coding), .def = "\"center\"",
	 .choices = coding_choices,
	 .doc = "box deltas from the centres (paper, torchvision, KerasCV >= 0.4) or from the "
	        "top-left corners (KerasCV 0.3)"},
	{.name = "box_variance", .type = KCV_OPT_FLOATS, OPT(box_variance),
	 .def = "[0.1, 0.1, 0.2, 0.2]", .min = 1e-6, .max = 1e6, .min_items = 4, .max_items = 4,
	 .doc = "deltas are divided by these on encode (torchvision: [1, 1, 1, 1])"},
	{.name = "decode_clamp", .type = KCV_OPT_FLOAT, OPT(decode_clamp),
	 .def = "4.135166556742356", .min = 0, .max = 80,
	 .doc = "clamp of the log size deltas before exp on decode (ln(1000/16)); 0 = none"},
	{.name = "clip_boxes", .type = KCV_OPT_BOOL, OPT(clip_boxes), .def = "false",
	 .doc = "clip decoded boxes to the image (torchvision)"},
	{.name = "positive_iou", .type = KCV_OPT_FLOAT, OPT(positive_iou), .def = "0.5", .min = 0,
	 .max = 1, .doc = "anchors with IoU >= this are positives"},
	{.name = "negative_iou", .type = KCV_OPT_FLOAT, OPT(negative_iou), .def = "0.4", .min = 0,
	 .max = 1, .doc = "anchors with IoU < this are background; in between they are ignored"},
	{.name = "low_quality_matches", .type = KCV_OPT_BOOL, OPT(low_quality_matches),
	 .def = "false",
	 .doc = "each object's best anchors (ties included) become positives whatever their IoU "
	        "(torchvision's Matcher)"},
	{0},
};

static void rn_destroy(void *priv)
{
	rn_priv *p = priv;
	rn_anchors_free(p);
	kcv_instance_free(p->backbone);
	p->backbone = NULL;
}

static rn_conv *add_conv(rn_priv *p, const char *name, int k, int cin, int cout, int has_bias,
                         int init)
{
	rn_conv *c = &p->convs[p->num_convs++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->k = k;
	c->cin = cin;
	c->cout = cout;
	c->has_bias = has_bias;
	c->init = init;
	return c;
}

/* The FPN layers the levels min_level..max_level need: laterals from the
 * finest needed level to C5 (the top-down path), output convolutions of the
 * needed P3..P5, P6 and P7. C3..C5 channels are filled in at build. */
static void fpn_layers(rn_priv *p)
{
	const rn_config *c = &p->cfg;
	int lo = (int)c->min_level, hi = (int)c->max_level, f = (int)c->fpn_channels;
	int need_p[8] = {0};
	for (int l = lo; l <= hi; l++)
		need_p[l] = 1;
	if (hi >= 6 && c->p6_input == P6_FROM_P5)
		need_p[5] = 1;
	int finest = 6;
	for (int l = 5; l >= 3; l--)
		if (need_p[l])
			finest = l;
	char name[40];
	for (int l = finest; l <= 5; l++) {
		snprintf(name, sizeof(name), "fpn.inner.%d", l - 3);
		rn_conv *cv = add_conv(p, name, 1, 0, f, 1, INIT_FPN);
		snprintf(cv->tv[0], sizeof(cv->tv[0]), "backbone.fpn.inner_blocks.%d.0", l - 3);
		snprintf(cv->tv[1], sizeof(cv->tv[1]), "backbone.fpn.inner_blocks.%d", l - 3);
	}
	for (int l = finest; l <= 5; l++) {
		if (!need_p[l])
			continue;
		snprintf(name, sizeof(name), "fpn.layer.%d", l - 3);
		rn_conv *cv = add_conv(p, name, 3, f, f, 1, INIT_FPN);
		snprintf(cv->tv[0], sizeof(cv->tv[0]), "backbone.fpn.layer_blocks.%d.0", l - 3);
		snprintf(cv->tv[1], sizeof(cv->tv[1]), "backbone.fpn.layer_blocks.%d", l - 3);
	}
	if (hi >= 6) {
		rn_conv *cv = add_conv(p, "fpn.p6", 3, c->p6_input == P6_FROM_P5 ? f : 0, f, 1, INIT_FPN);
		snprintf(cv->tv[0], sizeof(cv->tv[0]), "backbone.fpn.extra_blocks.p6");
	}
	if (hi >= 7) {
		rn_conv *cv = add_conv(p, "fpn.p7", 3, f, f, 1, INIT_FPN);
		snprintf(cv->tv[0], sizeof(cv->tv[0]), "backbone.fpn.extra_blocks.p7");
	}
}

static void head_layers(rn_priv *p, const char *short_name, const char *tv_name, int outputs,
                        const char *last, const char *tv_last, int last_init)
{
	const rn_config *c = &p->cfg;
	int norm = c->head_norm == NORM_GROUP, ch = p->head_channels, cin = (int)c->fpn_channels;
	char name[40];
	for (int i = 0; i < (int)c->head_convs; i++) {
		snprintf(name, sizeof(name), "head.%s.conv.%d", short_name, i);
		rn_conv *cv = add_conv(p, name, 3, cin, ch, !norm, INIT_HEAD);
		snprintf(cv->tv[0], sizeof(cv->tv[0]), "head.%s.conv.%d.0", tv_name, i);
		if (norm) {
			snprintf(cv->norm, sizeof(cv->norm), "head.%s.norm.%d", short_name, i);
			snprintf(cv->tv_norm, sizeof(cv->tv_norm), "head.%s.conv.%d.1", tv_name, i);
		} else {
			snprintf(cv->tv[1], sizeof(cv->tv[1]), "head.%s.conv.%d", tv_name, 2 * i);
		}
		cin = ch;
	}
	snprintf(name, sizeof(name), "head.%s.%s", short_name, last);
	rn_conv *cv = add_conv(p, name, 3, cin, outputs, 1, last_init);
	snprintf(cv->tv[0], sizeof(cv->tv[0]), "head.%s.%s", tv_name, tv_last);
}

static kcv_status check_options(rn_priv *p, const kcv_context *ctx, kcv_error *err)
{
	const rn_config *c = &p->cfg;
	if (c->min_level > c->max_level)
		return kcv_error_option(err, ctx, "max_level",
		                        "max_level (%lld) must not be below min_level (%lld)",
		                        (long long)c->max_level, (long long)c->min_level);
	if (c->negative_iou > c->positive_iou)
		return kcv_error_option(err, ctx, "negative_iou",
		                        "negative_iou (%g) must not exceed positive_iou (%g)",
		                        c->negative_iou, c->positive_iou);
	if (c->head_norm == NORM_GROUP && p->head_channels % c->head_norm_groups != 0)
		return kcv_error_option(err, ctx, "head_norm_groups",
		                        "%lld groups do not divide the %d head channels",
		                        (long long)c->head_norm_groups, p->head_channels);
	if (!c->backbone || !json_is_object(c->backbone))
		return kcv_error_option(err, ctx, "backbone",
		                        "expected a backbone spec such as {\"plugin\": \"resnet50\"}");
	return KCV_OK;
}

static kcv_status rn_create(void *priv, const void *config, const kcv_context *ctx,
                            kcv_error *err)
{
	rn_priv *p = priv;
	p->cfg = *(const rn_config *)config;
	atomic_init(&p->num_sets, 0);
	const char *path = ctx && ctx->path ? ctx->path : "retinanet";
	snprintf(p->path, sizeof(p->path), "%s", path);
	snprintf(p->source, sizeof(p->source), "%s", ctx && ctx->source ? ctx->source : "");
	snprintf(p->bb_path, sizeof(p->bb_path), "%s.backbone", path);
	p->seed = ctx ? ctx->seed : 0;
	p->num_levels = (int)(p->cfg.max_level - p->cfg.min_level + 1);
	p->head_channels = (int)(p->cfg.head_channels ? p->cfg.head_channels : p->cfg.fpn_channels);
	if (!ctx || !ctx->registry)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		                 "no registry to create the backbone");
	kcv_status st = check_options(p, ctx, err);
	if (!st)
		st = rn_cells_init(p, ctx, err);
	if (st)
		return st;

	fpn_layers(p);
	int cls_out = p->num_cell * (int)p->cfg.classes;
	head_layers(p, "cls", "classification_head", cls_out, "logits", "cls_logits",
	            INIT_CLS_LOGITS);
	head_layers(p, "box", "regression_head", p->num_cell * 4, "deltas", "bbox_reg",
	            INIT_BOX_DELTAS);

	kcv_context child = *ctx;
	child.path = p->bb_path;
	p->backbone = kcv_instance_new(ctx->registry, KCV_KIND_BACKBONE, p->cfg.backbone, &child, err);
	if (!p->backbone)
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->bb_path, "cannot create the backbone");
	p->bb_vt = kcv_instance_component(p->backbone)->vtable;
	return KCV_OK;
}

/* ---- build ---------------------------------------------------------------- */

typedef struct conv_nodes {
	kcv_node w, b, gamma, beta;
} conv_nodes;

typedef struct build_state {
	rn_priv *p;
	kcv_graph *g;
	conv_nodes nodes[8 + 2 * (RN_MAX_CONVS + 1)];
} build_state;

static int conv_index(const rn_priv *p, const char *name)
{
	for (int i = 0; i < p->num_convs; i++)
		if (strcmp(p->convs[i].name, name) == 0)
			return i;
	return -1;
}

static kcv_node named_param(kcv_graph *g, const char *prefix, const char *suffix, int rank,
                            const int64_t *dims)
{
	char name[64];
	snprintf(name, sizeof(name), "%s.%s", prefix, suffix);
	return kcv_graph_param(g, name, kcv_shape_make(rank, dims), KCV_PARAM_TRAINABLE);
}

static void make_params(build_state *b)
{
	for (int i = 0; i < b->p->num_convs; i++) {
		const rn_conv *c = &b->p->convs[i];
		int64_t wd[4] = {c->k, c->k, c->cin, c->cout}, cd[1] = {c->cout};
		conv_nodes *n = &b->nodes[i];
		n->w = named_param(b->g, c->name, "weight", 4, wd);
		n->b = c->has_bias ? named_param(b->g, c->name, "bias", 1, cd) : -1;
		n->gamma = n->beta = -1;
		if (c->norm[0]) {
			n->gamma = named_param(b->g, c->norm, "weight", 1, cd);
			n->beta = named_param(b->g, c->norm, "bias", 1, cd);
		}
	}
}

/* conv `name` on x: stride 1 with k/2 padding, or stride 2 with the
 * extra_padding rule; then GroupNorm if the layer has one; ReLU if asked. */
static kcv_node conv(build_state *b, const char *name, kcv_node x, int stride, int relu)
{
	int i = conv_index(b->p, name);
	if (i < 0 || x < 0)
		return -1;
	const rn_conv *c = &b->p->convs[i];
	const conv_nodes *n = &b->nodes[i];
	kcv_conv2d_params cp = {.stride_h = stride, .stride_w = stride};
	if (stride == 2 && b->p->cfg.extra_padding == PAD_SAME) {
		cp.same = 1;
	} else {
		cp.pad_top = cp.pad_bottom = cp.pad_left = cp.pad_right = c->k / 2;
	}
	if (n->gamma < 0) {
		cp.relu = relu;
		return kcv_op_conv2d(b->g, x, n->w, n->b, &cp);
	}
	kcv_node y = kcv_op_conv2d(b->g, x, n->w, n->b, &cp);
	y = kcv_op_group_norm(b->g, y, n->gamma, n->beta, (int)b->p->cfg.head_norm_groups, 1e-5f);
	return relu ? kcv_op_relu(b->g, y) : y;
}

static kcv_node upsample_to(kcv_graph *g, kcv_node x, kcv_node like)
{
	kcv_shape s = kcv_graph_shape(g, like);
	if (x < 0 || like < 0 || s.rank != 4)
		return -1;
	return kcv_op_upsample_nearest(g, x, (int)s.d[1], (int)s.d[2]);
}

/* One head on one level: [N,H,W,F] -> [N, H*W*A, K]. */
static kcv_node head(build_state *b, const char *short_name, const char *last, kcv_node x,
                     int k)
{
	char name[40];
	for (int i = 0; i < (int)b->p->cfg.head_convs; i++) {
		snprintf(name, sizeof(name), "head.%s.conv.%d", short_name, i);
		x = conv(b, name, x, 1, 1);
	}
	snprintf(name, sizeof(name), "head.%s.%s", short_name, last);
	x = conv(b, name, x, 1, 0);
	if (x < 0)
		return -1;
	kcv_shape s = kcv_graph_shape(b->g, x);
	int64_t d[3] = {s.d[0], -1, k};
	return kcv_op_reshape(b->g, x, 3, d);
}

static int find_map(const kcv_feature_maps *fm, const char *name)
{
	for (int i = 0; i < fm->count && i < KCV_MAX_LEVELS; i++)
		if (strcmp(fm->names[i], name) == 0)
			return i;
	return -1;
}

/* The pyramid levels min_level..max_level into levels[0..]. */
static kcv_status pyramid(build_state *b, const kcv_feature_maps *fm, kcv_node *levels,
                          kcv_error *err)
{
	rn_priv *p = b->p;
	const rn_config *c = &p->cfg;
	kcv_node cmap[6] = {-1, -1, -1, -1, -1, -1};
	for (int l = 3; l <= 5; l++) {
		char cname[16];
		snprintf(cname, sizeof(cname), "C%d", l);
		int i = find_map(fm, cname);
		if (i < 0 || fm->strides[i] != 1 << l)
			return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->bb_path,
			                 "the backbone gives no %s at stride %d", cname, 1 << l);
		cmap[l] = fm->maps[i];
		/* the laterals' and P6's input channels come from the backbone */
		char nm[40];
		snprintf(nm, sizeof(nm), "fpn.inner.%d", l - 3);
		int ci = conv_index(p, nm);
		if (ci >= 0)
			p->convs[ci].cin = fm->channels[i];
		if (l == 5 && c->p6_input == P6_FROM_C5 && (ci = conv_index(p, "fpn.p6")) >= 0)
			p->convs[ci].cin = fm->channels[i];
	}
	make_params(b);
	kcv_node m[6] = {-1, -1, -1, -1, -1, -1}, pl[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
	char nm[40];
	for (int l = 5; l >= 3; l--) {
		snprintf(nm, sizeof(nm), "fpn.inner.%d", l - 3);
		if (conv_index(p, nm) < 0)
			break;
		kcv_node lat = conv(b, nm, cmap[l], 1, 0);
		m[l] = l == 5 ? lat : kcv_op_add(b->g, lat, upsample_to(b->g, m[l + 1], lat));
		snprintf(nm, sizeof(nm), "fpn.layer.%d", l - 3);
		if (conv_index(p, nm) >= 0)
			pl[l] = conv(b, nm, m[l], 1, 0);
	}
	if (c->max_level >= 6)
		pl[6] = conv(b, "fpn.p6", c->p6_input == P6_FROM_P5 ? pl[5] : cmap[5], 2, 0);
	if (c->max_level >= 7)
		pl[7] = conv(b, "fpn.p7", kcv_op_relu(b->g, pl[6]), 2, 0);
	for (int l = (int)c->min_level; l <= (int)c->max_level; l++)
		levels[l - c->min_level] = pl[l];
	return kcv_graph_status(b->g, err);
}

static kcv_status rn_build(void *priv, kcv_graph *g, kcv_node images, int width, int height,
                           kcv_detector_outputs *out, kcv_error *err)
{
	rn_priv *p = priv;
	kcv_shape is = kcv_graph_shape(g, images);
	if (is.rank != 4 || is.d[3] != 3 || is.d[1] != height || is.d[2] != width)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		                 "images must be [N, %d, %d, 3] (height, width as given to build)",
		                 height, width);
	kcv_feature_maps fm;
	memset(&fm, 0, sizeof(fm));
	kcv_status st = p->bb_vt->build(kcv_instance_priv(p->backbone), g, images, &fm, err);
	if (st)
		return st;
	build_state *b = calloc(1, sizeof(*b));
	if (!b)
		return KCV_ERROR(err, KCV_ERR_NOMEM, p->source, p->path, "out of memory");
	b->p = p;
	b->g = g;
	kcv_node levels[KCV_MAX_LEVELS];
	st = pyramid(b, &fm, levels, err);
	int L = p->num_levels, C = (int)p->cfg.classes;
	kcv_node cls[KCV_MAX_LEVELS], box[KCV_MAX_LEVELS];
	int gh[KCV_MAX_LEVELS], gw[KCV_MAX_LEVELS];
	for (int l = 0; l < L && !st; l++) {
		kcv_shape s = kcv_graph_shape(g, levels[l]);
		gh[l] = (int)s.d[1];
		gw[l] = (int)s.d[2];
		cls[l] = head(b, "cls", "logits", levels[l], C);
		box[l] = head(b, "box", "deltas", levels[l], 4);
	}
	if (!st) {
		out->class_logits = L == 1 ? cls[0] : kcv_op_concat(g, L, cls, 1);
		out->box_deltas = L == 1 ? box[0] : kcv_op_concat(g, L, box, 1);
		st = kcv_graph_status(g, err);
	}
	free(b);
	if (st)
		return st;
	const rn_anchor_set *set = NULL;
	st = rn_anchors_add(p, width, height, gh, gw, &set, err);
	if (st)
		return st;
	kcv_shape cs = kcv_graph_shape(g, out->class_logits);
	if (cs.d[1] != set->num_anchors)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		                 "%lld outputs for %d anchors", (long long)cs.d[1], set->num_anchors);
	out->num_anchors = set->num_anchors;
	out->num_classes = C;
	out->num_levels = L;
	for (int l = 0; l < L; l++) {
		out->level_anchors[l] = set->level_start[l + 1] - set->level_start[l];
		out->level_strides[l] = 1 << (p->cfg.min_level + l);
	}
	return KCV_OK;
}

static const kcv_detector_vtable rn_vtable = {
	.build = rn_build,
	.load = rn_load,
	.encode = rn_encode,
	.decode_boxes = rn_decode_boxes,
};

static const kcv_component rn_component = {
	.kind = KCV_KIND_DETECTOR,
	.name = "retinanet",
	.summary = "RetinaNet: FPN P3-P7 on a backbone's C3..C5, shared class and box heads, "
	           "anchors, label encoder, box coder (KerasCV or torchvision conventions)",
	.options = rn_options,
	.config_size = sizeof(rn_config),
	.priv_size = sizeof(rn_priv),
	.create = rn_create,
	.destroy = rn_destroy,
	.vtable = &rn_vtable,
};

static const kcv_component *const components[] = {&rn_component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "retinanet",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "RetinaNet detector with torchvision-compatible weights",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
