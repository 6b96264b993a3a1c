/* ResNet backbones in torchvision's layout (v1.5: the stride sits on the
 * 3x3 convolution), giving C2..C5 at strides 4, 8, 16, 32.
 *
 * resnet18/34/50/101: batch norm is frozen, as in torchvision's detection
 * models (FrozenBatchNorm2d): with trainable: false it is folded into the
 * convolutions at load, so the frozen backbone is a chain of conv+bias
 * (+ReLU) with no gradients and no saved activations; with trainable: true
 * the convolutions train and batch norm stays a separate frozen op.
 *
 * resnet_custom: the same building blocks with the depths, widths, stem and
 * norm chosen by options; with group norm (statistics of each image, the
 * same in training and inference) it trains from scratch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>
#include <kcv/plugin.h>

#include "resnet-impl.h"

static const char *const norm_choices[] = {"none", "imagenet", "caffe", NULL};

#define COMMON_OPTIONS(weights_doc, trainable_doc, trainable_default)                       \
	{.name = "weights",                                                                     \
	 .type = KCV_OPT_STRING,                                                                \
	 .offset = offsetof(resnet_config, weights),                                            \
	 .def = "\"none\"",                                                                     \
	 .doc = weights_doc},                                                                   \
	{.name = "trainable",                                                                   \
	 .type = KCV_OPT_BOOL,                                                                  \
	 .offset = offsetof(resnet_config, trainable),                                          \
	 .def = trainable_default,                                                              \
	 .doc = trainable_doc},                                                                 \
	{.name = "input_normalization",                                                         \
	 .type = KCV_OPT_ENUM,                                                                  \
	 .offset = offsetof(resnet_config, input_normalization),                                \
	 .def = "\"imagenet\"",                                                                 \
	 .choices = norm_choices,                                                               \
	 .doc = "for 0..255 RGB input: imagenet = (x/255 - mean)/std (torchvision and timm "    \
	        "weights), caffe = BGR minus the mean (Keras), none = as is"}

static const kcv_option resnet_options[] = {
	COMMON_OPTIONS("\"none\" (random init), \"imagenet\" (<name>_imagenet.safetensors in "
	               "$KCV_WEIGHTS_DIR) or a safetensors file with torchvision key names",
	               "train the convolutions (batch norm stays frozen); false folds batch norm "
	               "at load",
	               "false"),
	{.name = "bn_eps",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(resnet_config, bn_eps),
	 .def = "1e-5",
	 .min = 0,
	 .max = 1,
	 .doc = "batch-norm epsilon the weights were trained with (torchvision: 1e-5)"},
	{0},
};

static const char *const block_choices[] = {"basic", "bottleneck", NULL};
static const char *const stem_choices[] = {"conv7", "conv3", "conv3_pool", NULL};
static const char *const layer_norm_choices[] = {"batch_frozen", "group", "batch", NULL};

static const kcv_option custom_options[] = {
	COMMON_OPTIONS("\"none\" (random init) or a safetensors file with torchvision key names",
	               "train the backbone (convolutions and group norm; batch norm stays frozen)",
	               "true"),
	{.name = "block",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(resnet_config, block),
	 .def = "\"basic\"",
	 .choices = block_choices,
	 .doc = "basic = two 3x3 convolutions; bottleneck = 1x1, 3x3, 1x1 with width/4 inside"},
	{.name = "depths",
	 .type = KCV_OPT_INTS,
	 .offset = offsetof(resnet_config, depths),
	 .def = "[1, 1, 1, 1]",
	 .min = 1,
	 .max = 64,
	 .min_items = 4,
	 .max_items = 4,
	 .doc = "residual blocks in each of the 4 stages (C2..C5)"},
	{.name = "widths",
	 .type = KCV_OPT_INTS,
	 .offset = offsetof(resnet_config, widths),
	 .def = "[32, 64, 128, 256]",
	 .min = 1,
	 .max = 8192,
	 .min_items = 4,
	 .max_items = 4,
	 .doc = "output channels of each stage: the channels of C2..C5"},
	{.name = "stem_width",
	 .type = KCV_OPT_INT,
	 .offset = offsetof(resnet_config, stem_width),
	 .def = "32",
	 .min = 1,
	 .max = 8192,
	 .doc = "channels after the stem (conv3: the first convolution has half)"},
	{.name = "stem",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(resnet_config, stem),
	 .def = "\"conv3\"",
	 .choices = stem_choices,
	 .doc = "conv7 = 7x7/2 convolution + 3x3/2 max pool (torchvision); conv3 = two 3x3/2 "
	        "convolutions; conv3_pool = 3x3/2 convolution + 3x3/2 max pool"},
	{.name = "norm",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(resnet_config, norm),
	 .def = "\"group\"",
	 .choices = layer_norm_choices,
	 .doc = "after each convolution: group = group norm (the same in training and "
	        "inference); batch = batch norm as torch's BatchNorm2d (batch statistics in "
	        "training, running averages kept for inference); batch_frozen = batch norm with "
	        "its running statistics only (pretrained weights)"},
	{.name = "norm_groups",
	 .type = KCV_OPT_INT,
	 .offset = offsetof(resnet_config, norm_groups),
	 .def = "8",
	 .min = 1,
	 .max = 1024,
	 .doc = "groups of each group norm (every norm's channels must split evenly)"},
	{.name = "norm_momentum",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(resnet_config, norm_momentum),
	 .def = "0.1",
	 .min = 0,
	 .max = 1,
	 .doc = "norm batch: weight of each batch in the running averages (torch: 0.1)"},
	{.name = "norm_eps",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(resnet_config, bn_eps),
	 .def = "1e-5",
	 .min = 0,
	 .max = 1,
	 .doc = "epsilon of the norms (torchvision: 1e-5)"},
	{.name = "zero_init_residual",
	 .type = KCV_OPT_BOOL,
	 .offset = offsetof(resnet_config, zero_init_residual),
	 .def = "false",
	 .doc = "random init: the last norm of each residual branch starts with gamma 0, so "
	        "every block starts as the identity (torchvision's zero_init_residual)"},
	{0},
};

static const resnet_arch arch_resnet18 = {.name = "resnet18", .blocks = {2, 2, 2, 2},
                                          .widths = {64, 128, 256, 512}, .stem_width = 64,
                                          .imagenet = 1};
static const resnet_arch arch_resnet34 = {.name = "resnet34", .blocks = {3, 4, 6, 3},
                                          .widths = {64, 128, 256, 512}, .stem_width = 64,
                                          .imagenet = 1};
static const resnet_arch arch_resnet50 = {.name = "resnet50", .bottleneck = 1,
                                          .blocks = {3, 4, 6, 3},
                                          .widths = {256, 512, 1024, 2048}, .stem_width = 64,
                                          .imagenet = 1};
static const resnet_arch arch_resnet101 = {.name = "resnet101", .bottleneck = 1,
                                           .blocks = {3, 4, 23, 3},
                                           .widths = {256, 512, 1024, 2048}, .stem_width = 64,
                                           .imagenet = 1};

static kcv_status create_common(void *priv, const void *config, const kcv_context *ctx,
                                const resnet_arch *arch, kcv_error *err)
{
	resnet_priv *p = priv;
	p->cfg = *(const resnet_config *)config;
	p->arch = *arch;
	p->norm_scale = p->norm_shift = -1;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : arch->name);
	snprintf(p->source, sizeof(p->source), "%s", ctx && ctx->source ? ctx->source : "");
	/* fail early on weights that cannot be found */
	char file[4096];
	return resnet_weights_file(p, file, sizeof(file), err);
}

#define CREATE(name)                                                                        \
	static kcv_status create_##name(void *priv, const void *cfg, const kcv_context *ctx,   \
	                                kcv_error *err)                                         \
	{                                                                                       \
		return create_common(priv, cfg, ctx, &arch_##name, err);                            \
	}
CREATE(resnet18)
CREATE(resnet34)
CREATE(resnet50)
CREATE(resnet101)

/* Every norm's channel count must split into the groups. */
static kcv_status check_groups(const resnet_arch *a, const kcv_context *ctx, kcv_error *err)
{
	if (a->norm != LAYER_GROUP)
		return KCV_OK;
	int g = a->groups;
	if (a->stem_width % g || (a->stem == STEM_CONV3 && (a->stem_width / 2) % g))
		return kcv_error_option(err, ctx, "stem_width",
		                        "%d channels%s do not split into %d norm groups (norm_groups)",
		                        a->stem_width, a->stem == STEM_CONV3 ? " (and half of them)" : "",
		                        g);
	for (int s = 0; s < 4; s++) {
		int w = a->widths[s], inner = a->bottleneck ? w / 4 : w;
		if (w % g || inner % g)
			return kcv_error_option(err, ctx, "widths",
			                        "stage %d: %d channels%s do not split into %d norm groups "
			                        "(norm_groups)",
			                        s + 1, a->bottleneck ? inner : w,
			                        a->bottleneck ? " (width/4, inside the bottleneck)" : "", g);
	}
	return KCV_OK;
}

static kcv_status create_resnet_custom(void *priv, const void *config, const kcv_context *ctx,
                                       kcv_error *err)
{
	const resnet_config *c = config;
	resnet_arch a = {.name = "resnet_custom"};
	a.bottleneck = c->block == BLOCK_BOTTLENECK;
	for (int s = 0; s < 4; s++) {
		a.blocks[s] = (int)c->depths.v[s];
		a.widths[s] = (int)c->widths.v[s];
		if (a.bottleneck && a.widths[s] % 4)
			return kcv_error_option(err, ctx, "widths",
			                        "bottleneck stages need widths divisible by 4 (the 3x3 "
			                        "convolution has width/4 channels), stage %d has %d",
			                        s + 1, a.widths[s]);
	}
	a.stem = c->stem;
	a.stem_width = (int)c->stem_width;
	if (a.stem == STEM_CONV3 && a.stem_width < 2)
		return kcv_error_option(err, ctx, "stem_width",
		                        "the conv3 stem needs at least 2 channels (its first "
		                        "convolution has half), got %d",
		                        a.stem_width);
	a.norm = c->norm;
	a.groups = (int)c->norm_groups;
	a.momentum = c->norm_momentum;
	a.zero_init_residual = c->zero_init_residual;
	kcv_status st = check_groups(&a, ctx, err);
	if (st)
		return st;
	return create_common(priv, config, ctx, &a, err);
}

static void destroy(void *priv)
{
	resnet_priv *p = priv;
	free(p->units);
	p->units = NULL;
}

static conv_unit *add_unit(resnet_priv *p)
{
	if (p->n_units == p->cap_units) {
		size_t cap = p->cap_units ? p->cap_units * 2 : 64;
		conv_unit *nu = realloc(p->units, cap * sizeof(conv_unit));
		if (!nu)
			return NULL;
		p->units = nu;
		p->cap_units = cap;
	}
	conv_unit *u = &p->units[p->n_units++];
	memset(u, 0, sizeof(*u));
	u->b = u->gamma = u->beta = u->mean = u->var = -1;
	return u;
}

static kcv_node param(kcv_graph *g, const char *key, const char *suffix, int rank,
                      const int64_t *dims, unsigned flags)
{
	char name[96];
	snprintf(name, sizeof(name), "%s.%s", key, suffix);
	return kcv_graph_param(g, name, kcv_shape_make(rank, dims), flags);
}

/* conv (k x k, stride, pad k/2) + norm (+ residual) (+ ReLU). Frozen batch
 * norm, not trainable, is one conv op with bias, residual and ReLU fused.
 * `last`: the residual branch's last norm (zero_init_residual). */
static kcv_node conv_norm(resnet_priv *p, kcv_graph *g, kcv_node x, const char *conv_key,
                          const char *bn_key, int k, int cin, int cout, int stride, int relu,
                          kcv_node residual, int last)
{
	conv_unit *u = add_unit(p);
	if (!u)
		return -1;
	snprintf(u->conv_key, sizeof(u->conv_key), "%s", conv_key);
	snprintf(u->bn_key, sizeof(u->bn_key), "%s", bn_key);
	u->kh = u->kw = k;
	u->cin = cin;
	u->cout = cout;
	u->last = last;
	int64_t wd[4] = {k, k, cin, cout}, cd[1] = {cout};
	kcv_conv2d_params cp = {.stride_h = stride, .stride_w = stride, .pad_top = k / 2,
	                        .pad_bottom = k / 2, .pad_left = k / 2, .pad_right = k / 2};
	unsigned train = p->cfg.trainable ? KCV_PARAM_TRAINABLE : 0;
	if (!p->cfg.trainable && p->arch.norm != LAYER_GROUP) {
		u->w = param(g, conv_key, "weight", 4, wd, 0);
		u->b = param(g, conv_key, "bias", 1, cd, 0);
		cp.relu = relu;
		if (residual >= 0)
			return kcv_op_conv2d_residual(g, x, u->w, u->b, residual, &cp);
		return kcv_op_conv2d(g, x, u->w, u->b, &cp);
	}
	u->w = param(g, conv_key, "weight", 4, wd, train);
	kcv_node y = kcv_op_conv2d(g, x, u->w, -1, &cp);
	if (p->arch.norm == LAYER_GROUP) {
		u->gamma = param(g, bn_key, "weight", 1, cd, train);
		u->beta = param(g, bn_key, "bias", 1, cd, train);
		y = kcv_op_group_norm(g, y, u->gamma, u->beta, p->arch.groups, (float)p->cfg.bn_eps);
	} else if (p->arch.norm == LAYER_BATCH) {
		u->gamma = param(g, bn_key, "weight", 1, cd, train);
		u->beta = param(g, bn_key, "bias", 1, cd, train);
		u->mean = param(g, bn_key, "running_mean", 1, cd, 0);
		u->var = param(g, bn_key, "running_var", 1, cd, 0);
		y = kcv_op_batch_norm_train(g, y, u->gamma, u->beta, u->mean, u->var,
		                            (float)p->cfg.bn_eps, (float)p->arch.momentum);
	} else {
		u->gamma = param(g, bn_key, "weight", 1, cd, 0);
		u->beta = param(g, bn_key, "bias", 1, cd, 0);
		u->mean = param(g, bn_key, "running_mean", 1, cd, 0);
		u->var = param(g, bn_key, "running_var", 1, cd, 0);
		y = kcv_op_batch_norm(g, y, u->gamma, u->beta, u->mean, u->var, (float)p->cfg.bn_eps,
		                      0);
	}
	if (residual >= 0)
		y = kcv_op_add(g, y, residual);
	return relu ? kcv_op_relu(g, y) : y;
}

static kcv_node block(resnet_priv *p, kcv_graph *g, kcv_node x, int stage, int b, int cin,
                      int out_c, int stride)
{
	char k1[48], k2[48], k3[48], n1[48], n2[48], n3[48], dk[48], dn[48];
	snprintf(k1, sizeof(k1), "layer%d.%d.conv1", stage, b);
	snprintf(k2, sizeof(k2), "layer%d.%d.conv2", stage, b);
	snprintf(k3, sizeof(k3), "layer%d.%d.conv3", stage, b);
	snprintf(n1, sizeof(n1), "layer%d.%d.bn1", stage, b);
	snprintf(n2, sizeof(n2), "layer%d.%d.bn2", stage, b);
	snprintf(n3, sizeof(n3), "layer%d.%d.bn3", stage, b);
	snprintf(dk, sizeof(dk), "layer%d.%d.downsample.0", stage, b);
	snprintf(dn, sizeof(dn), "layer%d.%d.downsample.1", stage, b);
	/* the shortcut first: the block's last convolution adds it and applies
	 * the ReLU in the same pass */
	kcv_node id = x;
	if (stride != 1 || cin != out_c)
		id = conv_norm(p, g, x, dk, dn, 1, cin, out_c, stride, 0, -1, 0);
	kcv_node y;
	if (p->arch.bottleneck) {
		int planes = out_c / 4;
		y = conv_norm(p, g, x, k1, n1, 1, cin, planes, 1, 1, -1, 0);
		y = conv_norm(p, g, y, k2, n2, 3, planes, planes, stride, 1, -1, 0);
		return conv_norm(p, g, y, k3, n3, 1, planes, out_c, 1, 1, id, 1);
	}
	y = conv_norm(p, g, x, k1, n1, 3, cin, out_c, stride, 1, -1, 0);
	return conv_norm(p, g, y, k2, n2, 3, out_c, out_c, 1, 1, id, 1);
}

/* The input normalisation as one 1x1 convolution (a single pass over the
 * images): imagenet = a diagonal of 1/(255 std) plus -mean/std, caffe = the
 * RGB -> BGR permutation plus -mean. The off-diagonal zeros add exact zeros,
 * so the result is x * scale + shift, bit for bit. */
static kcv_node normalise(resnet_priv *p, kcv_graph *g, kcv_node x)
{
	if (p->cfg.input_normalization == NORM_NONE)
		return x;
	int64_t d3[1] = {3};
	p->norm_scale = kcv_graph_param(g, "input_norm.weight", kcv_shape_4d(1, 1, 3, 3), 0);
	p->norm_shift = kcv_graph_param(g, "input_norm.bias", kcv_shape_make(1, d3), 0);
	kcv_conv2d_params cp = {0};
	return kcv_op_conv2d(g, x, p->norm_scale, p->norm_shift, &cp);
}

/* The stride-4 stem: "conv1"/"bn1" (and "conv2"/"bn2" for conv3). */
static kcv_node stem(resnet_priv *p, kcv_graph *g, kcv_node x)
{
	int w = p->arch.stem_width;
	switch (p->arch.stem) {
	case STEM_CONV3:
		x = conv_norm(p, g, x, "conv1", "bn1", 3, 3, w / 2, 2, 1, -1, 0);
		return conv_norm(p, g, x, "conv2", "bn2", 3, w / 2, w, 2, 1, -1, 0);
	case STEM_CONV3_POOL:
		x = conv_norm(p, g, x, "conv1", "bn1", 3, 3, w, 2, 1, -1, 0);
		return kcv_op_max_pool(g, x, 3, 2, 1);
	default:
		x = conv_norm(p, g, x, "conv1", "bn1", 7, 3, w, 2, 1, -1, 0);
		return kcv_op_max_pool(g, x, 3, 2, 1);
	}
}

static kcv_status build(void *priv, kcv_graph *g, kcv_node images, kcv_feature_maps *out,
                        kcv_error *err)
{
	resnet_priv *p = priv;
	p->n_units = 0;
	kcv_node x = stem(p, g, normalise(p, g, images));
	int cin = p->arch.stem_width;
	memset(out, 0, sizeof(*out));
	for (int s = 0; s < 4; s++) {
		int width = p->arch.widths[s];
		for (int b = 0; b < p->arch.blocks[s]; b++) {
			x = block(p, g, x, s + 1, b, cin, width, b == 0 && s > 0 ? 2 : 1);
			cin = width;
		}
		out->maps[s] = x;
		out->strides[s] = 4 << s;
		out->channels[s] = cin;
		memcpy(out->names[s], "C2\0", 3); /* "C2".."C5" */
		out->names[s][1] = (char)('2' + s);
	}
	out->count = 4;
	kcv_status st = kcv_graph_status(g, err);
	if (st)
		return st;
	if (!p->units)
		return KCV_ERROR(err, KCV_ERR_NOMEM, p->source, p->path, "out of memory");
	return KCV_OK;
}

/* Fill the normalisation constants and the weights (after compile): from `w`
 * under `prefix` when given (a detector checkpoint), else from the `weights`
 * option, else a random initialisation. */
static kcv_status load(void *priv, kcv_graph *g, const kcv_weights *w, const char *prefix,
                       kcv_error *err)
{
	resnet_priv *p = priv;
	if (p->norm_scale >= 0) { /* HWIO [1,1,3,3]: w[ci * 3 + co] */
		float *wt = kcv_graph_data(g, p->norm_scale), *sh = kcv_graph_data(g, p->norm_shift);
		memset(wt, 0, 9 * sizeof(float));
		if (p->cfg.input_normalization == NORM_IMAGENET) {
			static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
			for (int c = 0; c < 3; c++) {
				wt[c * 3 + c] = 1.0f / (255.0f * std[c]);
				sh[c] = -mean[c] / std[c];
			}
		} else {
			static const float bgr_mean[3] = {103.939f, 116.779f, 123.68f};
			for (int c = 0; c < 3; c++) {
				wt[(2 - c) * 3 + c] = 1.0f; /* out[c] = in[2-c] */
				sh[c] = -bgr_mean[c];
			}
		}
	}
	if (w)
		return resnet_load(p, g, w, prefix ? prefix : "", err);
	char file[4096];
	kcv_status st = resnet_weights_file(p, file, sizeof(file), err);
	if (st)
		return st;
	if (!file[0]) {
		resnet_init_random(p, g, 0x5eed);
		return KCV_OK;
	}
	kcv_weights *own = kcv_weights_open(file, err);
	if (!own)
		return err && err->code ? err->code : KCV_ERR_IO;
	st = resnet_load(p, g, own, "", err);
	kcv_weights_free(own);
	return st;
}

static const kcv_backbone_vtable vtable = {.build = build, .load = load};

#define COMPONENT(arch_name, opts, text)                                                    \
	static const kcv_component comp_##arch_name = {                                         \
		.kind = KCV_KIND_BACKBONE,                                                          \
		.name = #arch_name,                                                                 \
		.summary = text,                                                                    \
		.options = opts,                                                                    \
		.config_size = sizeof(resnet_config),                                               \
		.priv_size = sizeof(resnet_priv),                                                   \
		.create = create_##arch_name,                                                       \
		.destroy = destroy,                                                                 \
		.vtable = &vtable,                                                                  \
	};
COMPONENT(resnet18, resnet_options, "ResNet-18 (torchvision layout), C2..C5")
COMPONENT(resnet34, resnet_options, "ResNet-34 (torchvision layout), C2..C5")
COMPONENT(resnet50, resnet_options, "ResNet-50 v1.5 (torchvision layout), C2..C5")
COMPONENT(resnet101, resnet_options, "ResNet-101 v1.5 (torchvision layout), C2..C5")
COMPONENT(resnet_custom, custom_options,
          "ResNet of chosen depths, widths, stem and norm (group norm: trains from scratch), "
          "C2..C5")

static const kcv_component *const components[] = {&comp_resnet18, &comp_resnet34,
                                                   &comp_resnet50, &comp_resnet101,
                                                   &comp_resnet_custom, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "resnet",
	.version = "0.2.0",
	.license = "MIT",
	.summary = "ResNet-18/34/50/101 backbones with torchvision weights, and resnet_custom",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
