/* kcv cocoeval: evaluate a COCO results file against a COCO annotation file
 * with pycocotools' numbers (libkcv's kcv_cocoeval) and print its summary. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
	"Usage: kcv cocoeval --gt GT.json --dt DT.json [--json] [--per-class] [--threads N]\n\n"
	"Evaluate detections exactly as pycocotools' COCOeval(iouType=\"bbox\") does:\n"
	"GT.json is a COCO annotation file (images, categories, annotations with id,\n"
	"image_id, category_id, bbox [x,y,w,h], area and iscrowd), DT.json a COCO results\n"
	"file ([{\"image_id\", \"category_id\", \"bbox\", \"score\"}, ...]). Prints\n"
	"pycocotools' 12-line summary; -1 means undefined (no ground truth).\n\n"
	"  --per-class  also print AP (IoU=.50:.95) and AP50 of each category\n"
	"  --json       print one JSON object instead: {\"stats\": {\"AP\": ..., ...},\n"
	"               \"per_category\": {\"<id>\": {\"AP\": ..., \"AP50\": ...}, ...}}\n"
	"  --threads N  evaluate N categories at a time (same results; default 1)\n\n"
	"Detections of categories GT.json does not list are ignored (as pycocotools\n"
	"does, with a warning); a detection of an image GT.json does not list is an\n"
	"error. An empty DT.json ([]) gives 0 wherever there is ground truth.\n";

typedef struct cocoeval_args {
	const char *gt, *dt;
	int json, per_class;
	long threads;
} cocoeval_args;

static int parse(int argc, char **argv, cocoeval_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(help, stdout);
			return -1;
		} else if (strcmp(s, "--gt") == 0 && next) {
			a->gt = argv[++i];
		} else if (strcmp(s, "--dt") == 0 && next) {
			a->dt = argv[++i];
		} else if (strcmp(s, "--json") == 0) {
			a->json = 1;
		} else if (strcmp(s, "--per-class") == 0) {
			a->per_class = 1;
		} else if (strcmp(s, "--threads") == 0 && next) {
			if (cli_parse_long(argv[++i], 1, 1024, &a->threads))
				return cli_usage_error("cocoeval", "--threads expects 1 to 1024, got \"%s\"",
				                       argv[i]);
		} else {
			return cli_usage_error("cocoeval", "unknown or incomplete option \"%s\"", s);
		}
	}
	if (!a->gt || !a->dt)
		return cli_usage_error("cocoeval", "--gt and --dt are required");
	return 0;
}

/* The lines of pycocotools' summarize(), in its order and layout. */
static void print_summary(const kcv_cocoeval *ev)
{
	static const struct {
		int ap;
		const char *iou, *area;
		int max_dets;
	} lines[KCV_COCO_STAT_COUNT] = {
		{1, "0.50:0.95", "all", 100},   {1, "0.50", "all", 100},
		{1, "0.75", "all", 100},        {1, "0.50:0.95", "small", 100},
		{1, "0.50:0.95", "medium", 100}, {1, "0.50:0.95", "large", 100},
		{0, "0.50:0.95", "all", 1},     {0, "0.50:0.95", "all", 10},
		{0, "0.50:0.95", "all", 100},   {0, "0.50:0.95", "small", 100},
		{0, "0.50:0.95", "medium", 100}, {0, "0.50:0.95", "large", 100},
	};
	for (int i = 0; i < KCV_COCO_STAT_COUNT; i++)
		printf(" %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
		       lines[i].ap ? "Average Precision" : "Average Recall",
		       lines[i].ap ? "(AP)" : "(AR)", lines[i].iou, lines[i].area, lines[i].max_dets,
		       kcv_cocoeval_stat(ev, (kcv_coco_stat)i));
}

static void print_per_class(const kcv_cocoeval *ev, const cli_coco_info *info)
{
	printf("\nPer category (area=all, maxDets=100; -1: no ground truth):\n");
	printf("%10s %8s %8s  %s\n", "id", "AP", "AP50", "name");
	for (size_t k = 0; k < kcv_cocoeval_num_categories(ev); k++) {
		const char *name = k < info->num_categories && info->category_names[k]
		                       ? info->category_names[k]
		                       : "";
		printf("%10lld %8.3f %8.3f  %s\n", (long long)kcv_cocoeval_category_id(ev, k),
		       kcv_cocoeval_category_ap(ev, k, -1), kcv_cocoeval_category_ap(ev, k, 0.5), name);
	}
}

static int print_json(const kcv_cocoeval *ev)
{
	json_t *root = json_object(), *stats = json_object(), *per = json_object();
	if (!root || !stats || !per) {
		json_decref(root);
		json_decref(stats);
		json_decref(per);
		return -1;
	}
	json_object_set_new(root, "stats", stats);
	json_object_set_new(root, "per_category", per);
	for (int i = 0; i < KCV_COCO_STAT_COUNT; i++)
		json_object_set_new(stats, kcv_coco_stat_name((kcv_coco_stat)i),
		                    json_real(kcv_cocoeval_stat(ev, (kcv_coco_stat)i)));
	for (size_t k = 0; k < kcv_cocoeval_num_categories(ev); k++) {
		char key[32];
		snprintf(key, sizeof(key), "%lld", (long long)kcv_cocoeval_category_id(ev, k));
		json_t *c = json_object();
		json_object_set_new(c, "AP", json_real(kcv_cocoeval_category_ap(ev, k, -1)));
		json_object_set_new(c, "AP50", json_real(kcv_cocoeval_category_ap(ev, k, 0.5)));
		json_object_set_new(per, key, c);
	}
	int rc = json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER |
	                                      JSON_REAL_PRECISION(17));
	fputc('\n', stdout);
	json_decref(root);
	return rc;
}

int cmd_cocoeval(int argc, char **argv)
{
	cocoeval_args a = {.threads = 1};
	int prc = parse(argc, argv, &a);
	if (prc)
		return prc < 0 ? CLI_OK : prc;
	kcv_error err = {0};
	cli_coco_info info = {0};
	kcv_cocoeval_params params = {.threads = (int)a.threads};
	kcv_cocoeval *ev = kcv_cocoeval_new(&params, &err);
	int rc = CLI_OK;
	size_t skipped = 0;
	if (!ev)
		goto fail;
	double t0 = cli_now();
	if (cli_coco_load_gt(ev, a.gt, &info, &err) ||
	    cli_coco_load_dt(ev, a.dt, &info, &skipped, &err))
		goto fail;
	double t1 = cli_now();
	if (kcv_cocoeval_num_dt(ev) == 0 && skipped == 0)
		kcv_log("cocoeval", KCV_LOG_WARNING,
		        "%s holds no detections: AP and AR are 0 wherever there is ground truth "
		        "(pycocotools' loadRes fails on an empty list)",
		        a.dt);
	if (skipped)
		kcv_log("cocoeval", KCV_LOG_WARNING,
		        "%zu detection(s) have a category_id that %s does not list; they are ignored, "
		        "as pycocotools ignores them",
		        skipped, a.gt);
	if (kcv_cocoeval_run(ev, &err) != KCV_OK)
		goto fail;
	kcv_log("cocoeval", KCV_LOG_DEBUG, "read %.3f s, evaluated %.3f s (%zu gt, %zu dt)",
	        t1 - t0, cli_now() - t1, kcv_cocoeval_num_gt(ev), kcv_cocoeval_num_dt(ev));
	if (a.json) {
		if (print_json(ev)) {
			KCV_ERROR(&err, KCV_ERR_IO, "stdout", NULL, "cannot write the JSON result");
			goto fail;
		}
	} else {
		print_summary(ev);
		if (a.per_class)
			print_per_class(ev, &info);
	}
	goto out;
fail:
	rc = cli_fail(&err);
out:
	kcv_cocoeval_free(ev);
	cli_coco_info_release(&info);
	return rc;
}
