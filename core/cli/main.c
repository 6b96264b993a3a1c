/* kcv: the command-line program (thin: parses argv, calls libkcv). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"Usage: kcv COMMAND [ARGS...]\n"
	"\n"
	"Train and run object detectors from JSON pipelines.\n"
	"\n"
	"Commands:\n"
	"  run PIPELINE.json [--out DIR] [--resume CKPT] [--json] [--set key.path=value]...\n"
	"        train, then evaluate and predict as the pipeline says\n"
	"  evaluate PIPELINE.json --weights CKPT [--json] [--set key.path=value]...\n"
	"        metrics of a trained model on the pipeline's evaluation split\n"
	"  predict PIPELINE.json --weights CKPT [--out DIR] [--json] (IMAGE... | --input-tensor F)\n"
	"        detect objects in images with a trained model\n"
	"  bench PIPELINE.json [--steps N] [--profile] [--json] [--set key.path=value]...\n"
	"        train-step and inference speed of the pipeline's model\n"
	"  validate PIPELINE.json [--set key.path=value]...\n"
	"        check a pipeline and everything it names; run nothing\n"
	"  plugins [--json]\n"
	"        list the plugins found, with their options\n"
	"  data PIPELINE.json [--split S] (--stats | --show N --out FILE.jpg | --check |\n"
	"       --bench | --export-voc DIR) [--json] [--set key.path=value]...\n"
	"        look at, check and time the data half of a pipeline\n"
	"  features --backbone NAME [--weights FILE] --input IN.safetensors --out OUT.safetensors\n"
	"        run a backbone on a tensor of images and write C2..C5\n"
	"  cocoeval --gt GT.json --dt DT.json [--json] [--per-class] [--threads N]\n"
	"        COCO bbox evaluation with pycocotools' numbers (AP, AP50, ..., AR100)\n"
	"\n"
	"Options:\n"
	"  -h, --help     this help (kcv COMMAND --help for a command)\n"
	"  -V, --version  the version\n"
	"\n"
	"Environment:\n"
	"  KCV_PLUGIN_PATH   colon-separated folders (or files) with more plugins\n"
	"  KCV_LOG           error, warning, info (default) or debug\n"
	"  KCV_THREADS       threads when the pipeline says \"threads\": 0\n"
	"\n"
	"Exit status: 0 success, 1 bad input (a one-line message says what), 2 internal error,\n"
	"130 a run stopped by Ctrl-C (after writing its checkpoint).\n";

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return CLI_USER_ERROR;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("kcv %s (plugin ABI %d.%d, OpenBLAS %s kernels)\n", kcv_version(),
		       KCV_PLUGIN_ABI_MAJOR, KCV_PLUGIN_ABI_MINOR, kcv_blas_corename());
		return CLI_OK;
	}
	if (strcmp(cmd, "plugins") == 0)
		return cmd_plugins(argc - 1, argv + 1);
	if (strcmp(cmd, "validate") == 0)
		return cmd_validate(argc - 1, argv + 1);
	if (strcmp(cmd, "data") == 0)
		return cmd_data(argc - 1, argv + 1);
	if (strcmp(cmd, "features") == 0)
		return cmd_features(argc - 1, argv + 1);
	if (strcmp(cmd, "cocoeval") == 0)
		return cmd_cocoeval(argc - 1, argv + 1);
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "evaluate") == 0)
		return cmd_evaluate(argc - 1, argv + 1);
	if (strcmp(cmd, "predict") == 0)
		return cmd_predict(argc - 1, argv + 1);
	fprintf(stderr, "kcv: unknown command \"%s\" (commands: run, evaluate, predict, bench, validate, plugins, data, features, cocoeval; see kcv --help)\n",
	        cmd);
	return CLI_USER_ERROR;
}
