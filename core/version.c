#include <kcv/version.h>

const char *kcv_version(void)
{
	return KCV_VERSION_STRING;
}
