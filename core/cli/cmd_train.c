/* kcv run, kcv evaluate, kcv predict: a pipeline's detector trained, measured
 * and used. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char run_help[] =
	"Usage: kcv run PIPELINE.json [--out DIR] [--resume CKPT] [--json] [--quiet]\n"
	"               [--set key.path=value]...\n\n"
	"Train the pipeline's model (train.epochs of train.steps_per_epoch batches, the\n"
	"validation loss after each epoch, the callbacks), then compute the evaluate\n"
	"metrics and draw predict.images predictions. Everything goes under DIR\n"
	"(default runs/<pipeline name>): checkpoints/last.safetensors and best.safetensors,\n"
	"logs/ (TensorBoard: tensorboard --logdir DIR/logs), history.csv, predictions/.\n\n"
	"Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes\n"
	"checkpoints/last.safetensors and stops (exit status 130); --resume that file\n"
	"continues where it stopped, with the optimiser, schedule and data order.\n\n"
	"  --json   end with one JSON object: {\"history\": [...], \"metrics\": {...},\n"
	"           \"stopped\": completed|early_stopping|interrupted, ...}\n";

static const char evaluate_help[] =
	"Usage: kcv evaluate PIPELINE.json --weights CKPT [--json] [--quiet]\n"
	"                    [--set key.path=value]...\n\n"
	"Compute the pipeline's evaluate.metrics on evaluate.split with the weights of\n"
	"CKPT (a kcv checkpoint, or a weight file in the detector's reference layout).\n"
	"The decoder is the pipeline's model.decoder: swap it without retraining, e.g.\n"
	"  --set model.decoder.iou_threshold=0.6\n"
	"  --set 'model.decoder={\"plugin\": \"soft_nms\"}'\n\n"
	"  --json   {\"metrics\": {\"<metric plugin>\": {\"AP\": .., \"AP50\": .., ...}}}\n";

static const char predict_help[] =
	"Usage: kcv predict PIPELINE.json --weights CKPT [--out DIR] [--json] [--quiet]\n"
	"                   [--set key.path=value]... (IMAGE.jpg... | --input-tensor FILE)\n\n"
	"Detect objects in JPEG images (brought to the pipeline's image_size like the\n"
	"training data; boxes reported in the image's own pixels), or in tensor \"images\"\n"
	"of a safetensors file (N,H,W,3 float32 on the 0..255 scale, already at the\n"
	"model's size). --out DIR writes detections.json (COCO results format) and each\n"
	"image with its boxes, class names and scores drawn.\n\n"
	"  --json   {\"detections\": [{\"image\", \"category_id\" (0-based), \"category\",\n"
	"           \"bbox\": [x, y, w, h], \"score\"}...]}\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	if (stop_requested) {
		/* a second signal: stop now */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	stop_requested = 1;
}

typedef enum { MODE_RUN, MODE_EVALUATE, MODE_PREDICT } mode;

static int print_json(json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	if (!text)
		return CLI_INTERNAL_ERROR;
	fputs(text, stdout);
	fputc('\n', stdout);
	free(text);
	return CLI_OK;
}

static int run_mode(mode md, int argc, char **argv)
{
	const char *name = md == MODE_RUN ? "run" : md == MODE_EVALUATE ? "evaluate" : "predict";
	const char *help = md == MODE_RUN ? run_help : md == MODE_EVALUATE ? evaluate_help
	                                                                  : predict_help;
	cli_pipeline_args pa = {0};
	kcv_run_params rp = {0};
	int json = 0, bad = 0;
	const char *tensor = NULL;
	const char **images = calloc((size_t)argc, sizeof(*images));
	size_t num_images = 0;
	int rc = CLI_OK;
	if (!images)
		return CLI_INTERNAL_ERROR;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(help, stdout);
			goto out;
		}
		if (cli_take_set(argc, argv, &i, &pa, &bad))
			continue;
		int takes = (!strcmp(a, "--out") && md != MODE_EVALUATE) ||
		            (!strcmp(a, "--resume") && md == MODE_RUN) ||
		            (!strcmp(a, "--weights") && md != MODE_RUN) ||
		            (!strcmp(a, "--input-tensor") && md == MODE_PREDICT);
		if (takes) {
			if (i + 1 >= argc) {
				rc = cli_usage_error(name, "%s needs a value", a);
				goto out;
			}
			const char *v = argv[++i];
			if (!strcmp(a, "--out"))
				rp.out_dir = v;
			else if (!strcmp(a, "--resume"))
				rp.resume = v;
			else if (!strcmp(a, "--weights"))
				rp.weights = v;
			else
				tensor = v;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			rp.quiet = 1;
		} else if (a[0] == '-' && a[1]) {
			rc = cli_usage_error(name, "unknown option \"%s\"", a);
			goto out;
		} else if (!pa.file) {
			pa.file = a;
		} else if (md == MODE_PREDICT) {
			images[num_images++] = a;
		} else {
			rc = cli_usage_error(name, "unexpected argument \"%s\"", a);
			goto out;
		}
	}
	if (bad) {
		rc = cli_usage_error(name, "--set needs key.path=value");
		goto out;
	}
	if (!pa.file) {
		rc = cli_usage_error(name, "which pipeline?");
		goto out;
	}
	if (md != MODE_RUN && !rp.weights) {
		rc = cli_usage_error(name, "--weights CHECKPOINT is required");
		goto out;
	}
	if (md == MODE_PREDICT && !tensor && num_images == 0) {
		rc = cli_usage_error(name, "no input: give IMAGE files or --input-tensor FILE");
		goto out;
	}
	if (md == MODE_PREDICT && tensor && num_images) {
		rc = cli_usage_error(name, "give IMAGE files or --input-tensor, not both");
		goto out;
	}

	if (md == MODE_RUN) {
		/* from here on a signal stops the run cleanly (even before the first
		 * step: that step still runs, then the checkpoint is written) */
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	kcv_error err = {0};
	kcv_registry *reg = cli_registry(&err);
	kcv_pipeline *p = reg ? kcv_pipeline_load(pa.file, pa.sets, pa.num_sets, reg, &err) : NULL;
	json_t *result = NULL;
	char outdir[4096];
	kcv_status st = p ? KCV_OK : (err.code ? err.code : KCV_ERR_INVALID);
	if (!st && md == MODE_RUN) {
		if (!rp.out_dir) {
			snprintf(outdir, sizeof(outdir), "runs/%s", kcv_pipeline_name(p));
			rp.out_dir = outdir;
		}
		rp.stop = &stop_requested;
		double t0 = cli_now();
		st = kcv_train_run(p, &rp, json ? &result : NULL, &err);
		if (!st)
			fprintf(stderr, "kcv: run finished in %.1f s; everything is in %s\n",
			        cli_now() - t0, rp.out_dir);
	} else if (!st && md == MODE_EVALUATE) {
		st = kcv_evaluate(p, &rp, &result, &err);
		if (!st && !json) {
			const char *mk;
			json_t *mv;
			json_object_foreach(json_object_get(result, "metrics"), mk, mv) {
				const char *k;
				json_t *v;
				fprintf(stdout, "%s:\n", mk);
				json_object_foreach(mv, k, v)
					fprintf(stdout, "  %-12s %.4f\n", k, json_number_value(v));
			}
		}
	} else if (!st) {
		st = kcv_predict(p, &rp, images, num_images, tensor, &result, &err);
		if (!st && !json) {
			size_t n = json_array_size(json_object_get(result, "detections"));
			fprintf(stderr, "kcv: %zu detections%s%s\n", n, rp.out_dir ? " written to " : "",
			        rp.out_dir ? rp.out_dir : "");
		}
	}
	if (st == KCV_ERR_CANCELLED) {
		char msg[2048];
		fprintf(stderr, "kcv: %s\n", kcv_error_format(&err, msg, sizeof(msg)));
		rc = 130;
	} else if (st) {
		rc = cli_fail(&err);
	} else if (json && result) {
		rc = print_json(result);
	}
	json_decref(result);
	kcv_pipeline_free(p);
	kcv_registry_free(reg);
out:
	free(images);
	free(pa.sets);
	return rc;
}

int cmd_run(int argc, char **argv) { return run_mode(MODE_RUN, argc, argv); }
int cmd_evaluate(int argc, char **argv) { return run_mode(MODE_EVALUATE, argc, argv); }
int cmd_predict(int argc, char **argv) { return run_mode(MODE_PREDICT, argc, argv); }
