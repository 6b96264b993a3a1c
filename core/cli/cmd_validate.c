/* kcv validate PIPELINE: check everything, run nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
	"Usage: kcv validate PIPELINE.json [--set key.path=value]...\n\n"
	"Parse the pipeline, apply the overrides, check every section against the\n"
	"options of the plugins it names, and open its datasets. Runs nothing.\n";

int cmd_validate(int argc, char **argv)
{
	cli_pipeline_args pa = {0};
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(help, stdout);
			free(pa.sets);
			return CLI_OK;
		}
		if (cli_take_set(argc, argv, &i, &pa, &bad))
			continue;
		if (argv[i][0] == '-' || pa.file) {
			free(pa.sets);
			return cli_usage_error("validate", "unexpected argument \"%s\"", argv[i]);
		}
		pa.file = argv[i];
	}
	if (bad || !pa.file) {
		free(pa.sets);
		return cli_usage_error("validate", bad ? "--set needs key.path=value" : "which pipeline?");
	}
	kcv_error err = {0};
	int rc = CLI_OK;
	kcv_pipeline *p = NULL;
	kcv_registry *reg = cli_registry(&err);
	if (!reg)
		goto fail;
	p = kcv_pipeline_load(pa.file, pa.sets, pa.num_sets, reg, &err);
	if (!p)
		goto fail;
	static const char *const splits[] = {"train", "validation", "test"};
	char summary[512] = "";
	for (int i = 0; i < 3; i++) {
		if (!kcv_pipeline_split(p, splits[i]))
			continue;
		kcv_instance *ds = kcv_pipeline_dataset_new(p, splits[i], &err);
		if (!ds)
			goto fail;
		size_t n = strlen(summary);
		snprintf(summary + n, sizeof(summary) - n, "%s%s: %zu images", n ? ", " : "",
		         splits[i], kcv_dataset_size(ds));
		kcv_instance_free(ds);
	}
	kcv_instance *det = kcv_pipeline_detector_new(p, &err);
	if (!det && err.code)
		goto fail;
	kcv_instance_free(det);
	fprintf(stderr, "kcv: %s is valid (%s)\n", pa.file, summary);
	goto out;
fail:
	rc = cli_fail(&err);
out:
	kcv_pipeline_free(p);
	kcv_registry_free(reg);
	free(pa.sets);
	return rc;
}
