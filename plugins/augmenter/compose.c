/* Augmenters made of augmenters.
 *
 * random_choice (KerasCV RandomChoice): `layers` is a non-empty JSON array of
 * augmenter specs, each an object with "plugin" and its options. Per image
 * i = kcv_rng_below(rng, n) is drawn and only layer i is applied, with the
 * same rng (so each layer has p = 1/n).
 *
 * sequence (KerasCV's Augmenter([...])): the same `layers`, all applied in
 * order, each with the same rng stream continuing. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <kcv/plugin.h>
#include <kcv/registry.h>

typedef struct choice_config {
	const json_t *layers;
} choice_config;

typedef struct choice_priv {
	size_t n;                /* children created */
	kcv_instance **children; /* n */
	char **paths;            /* n, "<path>.layers.<i>", owned */
	char path[256];
} choice_priv;

static const kcv_option choice_options[] = {
	{.name = "layers",
	 .type = KCV_OPT_JSON,
	 .offset = offsetof(choice_config, layers),
	 .doc = "non-empty array of augmenter specs; one is applied per image, uniformly",
	 .flags = KCV_OPT_REQUIRED},
	{0},
};

static const kcv_option sequence_options[] = {
	{.name = "layers",
	 .type = KCV_OPT_JSON,
	 .offset = offsetof(choice_config, layers),
	 .doc = "non-empty array of augmenter specs, all applied in order",
	 .flags = KCV_OPT_REQUIRED},
	{0},
};

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static void choice_destroy(void *priv)
{
	choice_priv *p = priv;
	for (size_t i = 0; i < p->n; i++)
		kcv_instance_free(p->children[i]);
	if (p->paths) {
		/* paths may outnumber children when a child failed to create */
		for (size_t i = 0; p->paths[i]; i++)
			free(p->paths[i]);
	}
	free(p->children);
	free(p->paths);
	p->children = NULL;
	p->paths = NULL;
	p->n = 0;
}

static kcv_status choice_create(void *priv, const void *config, const kcv_context *ctx,
                                kcv_error *err)
{
	choice_priv *p = priv;
	const choice_config *c = config;
	const char *base = ctx && ctx->path ? ctx->path : "";
	snprintf(p->path, sizeof(p->path), "%s", base);
	char lpath[256], ipath[300];
	snprintf(lpath, sizeof(lpath), "%s%slayers", base, *base ? "." : "");

	if (!ctx || !ctx->registry)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, NULL, base, "no registry to create layers");
	if (!c->layers || !json_is_array(c->layers))
		return kcv_error_option(err, ctx, "layers",
		                        "expected a non-empty array of augmenter specs, got %s",
		                        c->layers ? json_kind(c->layers) : "nothing");
	size_t n = json_array_size(c->layers);
	if (n == 0)
		return kcv_error_option(err, ctx, "layers",
		                        "expected a non-empty array of augmenter specs, got []");
	for (size_t i = 0; i < n; i++) {
		const json_t *spec = json_array_get(c->layers, i);
		if (!json_is_object(spec)) {
			snprintf(ipath, sizeof(ipath), "layers.%zu", i);
			return kcv_error_option(err, ctx, ipath,
			                        "expected an augmenter spec such as {\"plugin\": "
			                        "\"random_flip\"}, got %s",
			                        json_kind(spec));
		}
	}

	p->children = calloc(n, sizeof(*p->children));
	p->paths = calloc(n + 1, sizeof(*p->paths));
	if (!p->children || !p->paths)
		return KCV_ERROR(err, KCV_ERR_NOMEM, ctx ? ctx->source : NULL, base,
		                 "out of memory");
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(NULL, 0, "%s.%zu", lpath, i);
		p->paths[i] = malloc((size_t)len + 1);
		if (!p->paths[i])
			return KCV_ERROR(err, KCV_ERR_NOMEM, ctx ? ctx->source : NULL, base,
			                 "out of memory");
		snprintf(p->paths[i], (size_t)len + 1, "%s.%zu", lpath, i);
	}
	for (size_t i = 0; i < n; i++) {
		kcv_context child = *ctx;
		child.path = p->paths[i];
		kcv_instance *inst = kcv_instance_new(ctx->registry, KCV_KIND_AUGMENTER,
		                                      json_array_get(c->layers, i), &child, err);
		if (!inst) {
			/* Make sure an error is recorded even if the callee forgot. */
			return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, p->paths[i],
			                 "cannot create this augmenter");
		}
		p->children[p->n++] = inst;
	}
	return KCV_OK;
}

static kcv_status choice_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	choice_priv *p = priv;
	if (p->n == 0)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, s->id, p->path, "no layers");
	uint64_t i = kcv_rng_below(rng, p->n);
	return kcv_augmenter_apply(p->children[i], s, rng, err);
}

static kcv_status sequence_apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	choice_priv *p = priv;
	for (size_t i = 0; i < p->n; i++) {
		kcv_status st = kcv_augmenter_apply(p->children[i], s, rng, err);
		if (st)
			return st;
	}
	return KCV_OK;
}

static const kcv_augmenter_vtable choice_vtable = {.apply = choice_apply};
static const kcv_augmenter_vtable sequence_vtable = {.apply = sequence_apply};

static const kcv_component choice_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "random_choice",
	.summary = "apply one augmenter picked uniformly per image (KerasCV RandomChoice)",
	.options = choice_options,
	.config_size = sizeof(choice_config),
	.priv_size = sizeof(choice_priv),
	.create = choice_create,
	.destroy = choice_destroy,
	.vtable = &choice_vtable,
};

/* The same state and creation as random_choice; only apply differs. */
static const kcv_component sequence_component = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "sequence",
	.summary = "apply several augmenters in order (KerasCV Augmenter)",
	.options = sequence_options,
	.config_size = sizeof(choice_config),
	.priv_size = sizeof(choice_priv),
	.create = choice_create,
	.destroy = choice_destroy,
	.vtable = &sequence_vtable,
};

static const kcv_component *const components[] = {&choice_component, &sequence_component,
                                                   NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "compose",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "augmenters made of augmenters: random_choice and sequence",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
