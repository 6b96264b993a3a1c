/* Built twice (dup_a.so, dup_b.so): the same augmenter name in two files. */
#include <kcv/plugin.h>

static kcv_status create(void *priv, const void *cfg, const kcv_context *ctx, kcv_error *err)
{
	return KCV_OK;
}

static kcv_status apply(void *priv, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	return KCV_OK;
}

static const kcv_augmenter_vtable vt = {apply};
static const kcv_option opts[] = {{0}};
static const kcv_component comp = {
	.kind = KCV_KIND_AUGMENTER,
	.name = "dup_test",
	.summary = "does nothing",
	.options = opts,
	.create = create,
	.vtable = &vt,
};
static const kcv_component *const comps[] = {&comp, NULL};
static const kcv_plugin_desc desc = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "dup",
	.version = "0.0",
	.components = comps,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &desc;
}
