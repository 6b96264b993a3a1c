/* train_tool: writes kcv_train_trace of a pipeline for tests/train_parity.sh.
 *
 *   train_tool PIPELINE.json STEPS OUT.safetensors [key.path=value ...]
 *
 * The overrides are applied as `kcv run --set` does. Exit status 0 on
 * success, 1 with the error on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>

#include <kcv/kcv.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: train_tool PIPELINE.json STEPS OUT.safetensors [key=value ...]\n");
		return 2;
	}
	kcv_error err = {0};
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	kcv_pipeline *p = reg ? kcv_pipeline_load(argv[1], (const char *const *)argv + 4,
	                                          (size_t)(argc - 4), reg, &err)
	                      : NULL;
	kcv_status st = p ? kcv_train_trace(p, atoi(argv[2]), argv[3], &err) : KCV_ERR_INVALID;
	if (st) {
		char buf[2048];
		fprintf(stderr, "train_tool: %s\n", kcv_error_format(&err, buf, sizeof(buf)));
	}
	kcv_pipeline_free(p);
	kcv_registry_free(reg);
	return st ? 1 : 0;
}
