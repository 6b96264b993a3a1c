/* kcv bench PIPELINE: train-step and inference speed of a pipeline's model. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
	"Usage: kcv bench PIPELINE.json [--steps N] [--warmup N] [--inference] [--profile]\n"
	"                 [--json] [--set key.path=value]...\n\n"
	"Time the pipeline's model at its image_size and batch_size on one batch of its\n"
	"training data (the same batch each step; data loading is not timed): a train\n"
	"step (forward, backward, optimiser update) and inference (forward and the\n"
	"decoder). Weights are the model's initialisation (ImageNet backbones need\n"
	"their file). --profile prints the time of each op.\n\n"
	"  --json  {\"train_images_per_s\", \"inference_images_per_s\", \"gflops\" (the train\n"
	"          step's, or inference's with --inference), \"inference_gflops\",\n"
	"          \"peak_rss_mb\", \"forward_gflop_per_image\", \"train_gflop_per_image\",\n"
	"          \"precision\" (the one it ran in), ...}\n";

int cmd_bench(int argc, char **argv)
{
	cli_pipeline_args pa = {0};
	kcv_bench_params bp = {.warmup = -1};
	int json = 0, bad = 0, rc = CLI_OK;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		long v;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(help, stdout);
			free(pa.sets);
			return CLI_OK;
		}
		if (cli_take_set(argc, argv, &i, &pa, &bad))
			continue;
		if (!strcmp(a, "--steps") || !strcmp(a, "--warmup")) {
			if (i + 1 >= argc || cli_parse_long(argv[i + 1], a[2] == 's' ? 1 : 0, 100000, &v)) {
				free(pa.sets);
				return cli_usage_error("bench", "%s needs a number (%s)", a,
				                       a[2] == 's' ? "1 to 100000" : "0 to 100000");
			}
			i++;
			if (a[2] == 's')
				bp.steps = (int)v;
			else
				bp.warmup = (int)v;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--inference")) {
			bp.inference_only = 1;
		} else if (!strcmp(a, "--profile")) {
			bp.profile = 1;
		} else if (a[0] == '-' || pa.file) {
			free(pa.sets);
			return cli_usage_error("bench", "unexpected argument \"%s\"", a);
		} else {
			pa.file = a;
		}
	}
	if (bad || !pa.file) {
		free(pa.sets);
		return cli_usage_error("bench", bad ? "--set needs key.path=value" : "which pipeline?");
	}
	kcv_error err = {0};
	kcv_registry *reg = cli_registry(&err);
	kcv_pipeline *p = reg ? kcv_pipeline_load(pa.file, pa.sets, pa.num_sets, reg, &err) : NULL;
	json_t *res = NULL;
	if (!p || kcv_bench(p, &bp, &res, &err) != KCV_OK) {
		rc = cli_fail(&err);
	} else if (json) {
		char *text = json_dumps(res, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
		if (text)
			puts(text);
		free(text);
	} else {
		json_t *t = json_object_get(res, "train_images_per_s");
		if (json_is_number(t))
			printf("train step:  %8.2f images/s, %.1f GFLOP/s (%.2f GFLOP per image)\n",
			       json_number_value(t), json_number_value(json_object_get(res, "gflops")),
			       json_number_value(json_object_get(res, "train_gflop_per_image")));
		printf("inference:   %8.2f images/s, %.1f GFLOP/s (%.2f GFLOP per image forward; "
		       "decoder included)\n",
		       json_number_value(json_object_get(res, "inference_images_per_s")),
		       json_number_value(json_object_get(res, "inference_gflops")),
		       json_number_value(json_object_get(res, "forward_gflop_per_image")));
		printf("peak RSS:    %8.0f MB\n", json_number_value(json_object_get(res, "peak_rss_mb")));
		printf("precision:   %s\n", json_string_value(json_object_get(res, "precision")));
	}
	json_decref(res);
	kcv_pipeline_free(p);
	kcv_registry_free(reg);
	free(pa.sets);
	return rc;
}
