/* An out-of-tree kcv plugin: an augmenter that turns an image to grayscale
 * with probability `rate`. Build it with the Makefile next to this file
 * against an installed kcv (pkg-config kcv), then put the .so in a folder of
 * KCV_PLUGIN_PATH or in `pkg-config --variable=plugindir kcv`. */
#include <kcv/kcv.h>

typedef struct config {
	double rate;
	int keep_luma; /* 1: ITU-R BT.601 luma; 0: plain average */
} config;

typedef struct state {
	config cfg;
} state;

static const kcv_option options[] = {
	{.name = "rate", .type = KCV_OPT_FLOAT, .offset = offsetof(config, rate), .def = "0.5",
	 .min = 0.0, .max = 1.0, .doc = "probability that an image becomes grayscale"},
	{.name = "luma", .type = KCV_OPT_BOOL, .offset = offsetof(config, keep_luma), .def = "true",
	 .doc = "weight R, G, B as BT.601 luma (else a plain average)"},
	{0},
};

static kcv_status create(void *priv, const void *cfg, const kcv_context *ctx, kcv_error *err)
{
	(void)ctx;
	(void)err;
	state *s = priv;
	s->cfg = *(const config *)cfg;
	return KCV_OK;
}

/* Boxes do not move: nothing to do for them. */
static kcv_status apply(void *priv, kcv_sample *sample, kcv_rng *rng, kcv_error *err)
{
	(void)err;
	const state *s = priv;
	if (kcv_rng_uniform(rng) >= s->cfg.rate)
		return KCV_OK;
	float wr = 0.299f, wg = 0.587f, wb = 0.114f;
	if (!s->cfg.keep_luma)
		wr = wg = wb = 1.0f / 3.0f;
	size_t n = (size_t)sample->width * (size_t)sample->height;
	for (size_t i = 0; i < n; i++) {
		float *p = sample->pixels + 3 * i;
		float y = wr * p[0] + wg * p[1] + wb * p[2];
		p[0] = p[1] = p[2] = y;
	}
	return KCV_OK;
}

static const kcv_augmenter_vtable vtable = {.apply = apply};

static const kcv_component component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "random_grayscale",
	.summary = "turn images to grayscale with probability rate (example plugin)",
	.options = options,
	.config_size = sizeof(config),
	.priv_size = sizeof(state),
	.create = create,
	.vtable = &vtable,
};

static const kcv_component *const components[] = {&component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "random_grayscale",
	.version = "1.0.0",
	.license = "MIT",
	.summary = "example out-of-tree augmenter",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
