/* A plugin built for a future ABI: the registry must refuse it. */
#include <kcv/plugin.h>

static const kcv_plugin_desc desc = {
	.abi_major = 999,
	.abi_minor = 0,
	.name = "bad_abi",
	.version = "0.0",
	.components = NULL, /* never read: the ABI check comes first */
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);
const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &desc;
}
