/* placeholder plugin: being written */
#include <kcv/plugin.h>
static const kcv_component *const components[] = {NULL};
static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR, .abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "nms", .version = "0.0.0", .license = "MIT", .summary = "placeholder",
	.components = components,
};
KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void) { return &plugin; }
