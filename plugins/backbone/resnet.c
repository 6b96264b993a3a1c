/* ResNet backbones in torchvision's layout (v1.5: the stride sits on the
 * 3x3 convolution), giving C2..C5 at strides 4, 8, 16, 32.
 *
 * Batch norm is frozen, as in torchvision's detection models
 * (FrozenBatchNorm2d): with trainable: false it is folded into the
 * convolutions at load, so the frozen backbone is a chain of conv+bias
 * (+ReLU) with no gradients and no saved activations; with trainable: true
 * the convolutions train and batch norm stays a separate frozen op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>
#include <kcv/plugin.h>

#include "resnet-impl.h"

static const char *const norm_choices[] = {"none", "imagenet", "caffe", NULL};

static const kcv_option resnet_options[] = {
	{.name = "weights",
	 .type = KCV_OPT_STRING,
	 .offset = offsetof(resnet_config, weights),
	 .def = "\"none\"",
	 .doc = "\"none\" (random init), \"imagenet\" (<name>_imagenet.safetensors in "
	        "$KCV_WEIGHTS_DIR) or a safetensors file with torchvision key names"},
	{.name = "trainable",
	 .type = KCV_OPT_BOOL,
	 .offset = offsetof(resnet_config, trainable),
	 .def = "false",
	 .doc = "train the convolutions (batch norm stays frozen); false folds batch norm at load"},
	{.name = "input_normalization",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(resnet_config, input_normalization),
	 .def = "\"imagenet\"",
	 .choices = norm_choices,
	 .doc = "for 0..255 RGB input: imagenet = (x/255 - mean)/std (torchvision and timm "
	        "weights), caffe = BGR minus the mean (Keras), none = as is"},
	{.name = "bn_eps",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(resnet_config, bn_eps),
	 .def = "1e-5",
	 .min = 0,
	 .max = 1,
	 .doc = "batch-norm epsilon the weights were trained with (torchvision: 1e-5)"},
	{0},
};

static const resnet_arch arch_resnet18 = {"resnet18", 0, {2, 2, 2, 2}};
static const resnet_arch arch_resnet34 = {"resnet34", 0, {3, 4, 6, 3}};
static const resnet_arch arch_resnet50 = {"resnet50", 1, {3, 4, 6, 3}};
static const resnet_arch arch_resnet101 = {"resnet101", 1, {3, 4, 23, 3}};

static kcv_status create_common(void *priv, const void *config, const kcv_context *ctx,
                                const resnet_arch *arch, kcv_error *err)
{
	resnet_priv *p = priv;
	p->cfg = *(const resnet_config *)config;
	p->arch = arch;
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
	u->gamma = u->beta = u->mean = u->var = -1;
	return u;
}

static kcv_node param(kcv_graph *g, const char *key, const char *suffix, int rank,
                      const int64_t *dims, unsigned flags)
{
	char name[96];
	snprintf(name, sizeof(name), "%s.%s", key, suffix);
	return kcv_graph_param(g, name, kcv_shape_make(rank, dims), flags);
}

/* conv (k x k, stride, pad k/2) + frozen batch norm (+ residual) (+ ReLU).
 * Frozen, it is one conv op with bias, residual and ReLU fused. */
static kcv_node conv_bn(resnet_priv *p, kcv_graph *g, kcv_node x, const char *conv_key,
                        const char *bn_key, int k, int cin, int cout, int stride, int relu,
                        kcv_node residual)
{
	conv_unit *u = add_unit(p);
	if (!u)
		return -1;
	snprintf(u->conv_key, sizeof(u->conv_key), "%s", conv_key);
	snprintf(u->bn_key, sizeof(u->bn_key), "%s", bn_key);
	u->kh = u->kw = k;
	u->cin = cin;
	u->cout = cout;
	int64_t wd[4] = {k, k, cin, cout}, cd[1] = {cout};
	kcv_conv2d_params cp = {.stride_h = stride, .stride_w = stride, .pad_top = k / 2,
	                        .pad_bottom = k / 2, .pad_left = k / 2, .pad_right = k / 2};
	if (!p->cfg.trainable) {
		u->w = param(g, conv_key, "weight", 4, wd, 0);
		u->b = param(g, conv_key, "bias", 1, cd, 0);
		cp.relu = relu;
		if (residual >= 0)
			return kcv_op_conv2d_residual(g, x, u->w, u->b, residual, &cp);
		return kcv_op_conv2d(g, x, u->w, u->b, &cp);
	}
	u->w = param(g, conv_key, "weight", 4, wd, KCV_PARAM_TRAINABLE);
	u->b = -1;
	u->gamma = param(g, bn_key, "weight", 1, cd, 0);
	u->beta = param(g, bn_key, "bias", 1, cd, 0);
	u->mean = param(g, bn_key, "running_mean", 1, cd, 0);
	u->var = param(g, bn_key, "running_var", 1, cd, 0);
	kcv_node y = kcv_op_conv2d(g, x, u->w, -1, &cp);
	y = kcv_op_batch_norm(g, y, u->gamma, u->beta, u->mean, u->var, (float)p->cfg.bn_eps, 0);
	if (residual >= 0)
		y = kcv_op_add(g, y, residual);
	return relu ? kcv_op_relu(g, y) : y;
}

static kcv_node block(resnet_priv *p, kcv_graph *g, kcv_node x, int stage, int b, int cin,
                      int planes, int stride)
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
	int out_c = p->arch->bottleneck ? planes * 4 : planes;
	/* the shortcut first: the block's last convolution adds it and applies
	 * the ReLU in the same pass */
	kcv_node id = x;
	if (stride != 1 || cin != out_c)
		id = conv_bn(p, g, x, dk, dn, 1, cin, out_c, stride, 0, -1);
	kcv_node y;
	if (p->arch->bottleneck) {
		y = conv_bn(p, g, x, k1, n1, 1, cin, planes, 1, 1, -1);
		y = conv_bn(p, g, y, k2, n2, 3, planes, planes, stride, 1, -1);
		return conv_bn(p, g, y, k3, n3, 1, planes, out_c, 1, 1, id);
	}
	y = conv_bn(p, g, x, k1, n1, 3, cin, planes, stride, 1, -1);
	return conv_bn(p, g, y, k2, n2, 3, planes, planes, 1, 1, id);
}

static kcv_node normalise(resnet_priv *p, kcv_graph *g, kcv_node x)
{
	if (p->cfg.input_normalization == NORM_NONE)
		return x;
	int64_t d3[1] = {3};
	p->norm_scale = kcv_graph_param(g, "input_norm.scale", kcv_shape_make(1, d3), 0);
	p->norm_shift = kcv_graph_param(g, "input_norm.shift", kcv_shape_make(1, d3), 0);
	if (p->cfg.input_normalization == NORM_CAFFE) {
		/* RGB -> BGR, minus the BGR mean: out[c] = x[2-c] - mean[c] */
		int64_t d[2] = {-1, 3};
		kcv_node flat = kcv_op_reshape(g, x, 2, d);
		int64_t pd[2] = {3, 3};
		kcv_node perm = kcv_graph_param(g, "input_norm.bgr", kcv_shape_make(2, pd), 0);
		kcv_node bgr = kcv_op_matmul(g, flat, perm, 0, 0);
		kcv_shape xs = kcv_graph_shape(g, x);
		x = kcv_op_reshape(g, bgr, xs.rank, xs.d);
	}
	return kcv_op_add(g, kcv_op_mul(g, x, p->norm_scale), p->norm_shift);
}

static kcv_status build(void *priv, kcv_graph *g, kcv_node images, kcv_feature_maps *out,
                        kcv_error *err)
{
	resnet_priv *p = priv;
	p->n_units = 0;
	kcv_node x = normalise(p, g, images);
	x = conv_bn(p, g, x, "conv1", "bn1", 7, 3, 64, 2, 1, -1);
	x = kcv_op_max_pool(g, x, 3, 2, 1);
	int cin = 64;
	memset(out, 0, sizeof(*out));
	for (int s = 0; s < 4; s++) {
		int planes = 64 << s;
		for (int b = 0; b < p->arch->blocks[s]; b++) {
			x = block(p, g, x, s + 1, b, cin, planes, b == 0 && s > 0 ? 2 : 1);
			cin = p->arch->bottleneck ? planes * 4 : planes;
		}
		out->maps[s] = x;
		out->strides[s] = 4 << s;
		out->channels[s] = cin;
		snprintf(out->names[s], sizeof(out->names[s]), "C%d", s + 2);
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
	if (p->norm_scale >= 0) {
		float *sc = kcv_graph_data(g, p->norm_scale), *sh = kcv_graph_data(g, p->norm_shift);
		if (p->cfg.input_normalization == NORM_IMAGENET) {
			static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
			for (int c = 0; c < 3; c++) {
				sc[c] = 1.0f / (255.0f * std[c]);
				sh[c] = -mean[c] / std[c];
			}
		} else {
			static const float bgr_mean[3] = {103.939f, 116.779f, 123.68f};
			float *perm = kcv_graph_data(g, kcv_graph_find(g, "input_norm.bgr"));
			memset(perm, 0, 9 * sizeof(float));
			for (int c = 0; c < 3; c++) {
				perm[(2 - c) * 3 + c] = 1.0f; /* out[c] = in[2-c] */
				sc[c] = 1.0f;
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

#define COMPONENT(arch_name, text)                                                          \
	static const kcv_component comp_##arch_name = {                                         \
		.kind = KCV_KIND_BACKBONE,                                                          \
		.name = #arch_name,                                                                 \
		.summary = text,                                                                    \
		.options = resnet_options,                                                          \
		.config_size = sizeof(resnet_config),                                               \
		.priv_size = sizeof(resnet_priv),                                                   \
		.create = create_##arch_name,                                                       \
		.destroy = destroy,                                                                 \
		.vtable = &vtable,                                                                  \
	};
COMPONENT(resnet18, "ResNet-18 (torchvision layout), C2..C5")
COMPONENT(resnet34, "ResNet-34 (torchvision layout), C2..C5")
COMPONENT(resnet50, "ResNet-50 v1.5 (torchvision layout), C2..C5")
COMPONENT(resnet101, "ResNet-101 v1.5 (torchvision layout), C2..C5")

static const kcv_component *const components[] = {&comp_resnet18, &comp_resnet34,
                                                   &comp_resnet50, &comp_resnet101, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "resnet",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "ResNet-18/34/50/101 backbones with torchvision weights",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
