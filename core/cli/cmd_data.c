/* kcv data: look at, check, time and export the data half of a pipeline. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/draw.h>

#include "cli.h"

static const char help[] =
	"Usage: kcv data PIPELINE.json [--split train|validation|test] ACTION [--json]\n"
	"                [--set key.path=value]...\n\n"
	"Actions:\n"
	"  --stats            images and objects per class (difficult ones counted apart)\n"
	"  --show N --out F   a grid of N images as the model sees them (after augmentation\n"
	"                     on the train split; --no-augment to turn it off), boxes and\n"
	"                     class names drawn, written as the JPEG file F\n"
	"  --check            decode every image and annotation; list every problem\n"
	"                     (exit status 1 if there is any)\n"
	"  --bench            images/s of decode + augment + batch with the pipeline's workers\n"
	"                     (--seconds S: run at least S seconds, default 3)\n"
	"  --export-voc DIR   write the split as a VOCdevkit folder (--year Y, --limit N)\n";

typedef struct data_args {
	cli_pipeline_args pa;
	const char *split;
	const char *out;
	const char *export_dir;
	int stats, check, bench, json, no_augment;
	long show;
	long limit;
	long year;
	double seconds;
} data_args;

/* ---- --stats ---------------------------------------------------------------- */

static int do_stats(const data_args *a, const kcv_instance *ds, kcv_error *err)
{
	size_t n = kcv_dataset_size(ds), nc = kcv_dataset_num_classes(ds);
	size_t *objects = calloc(nc + 1, sizeof(size_t));
	size_t *difficult = calloc(nc + 1, sizeof(size_t));
	kcv_sample s = {0};
	int rc = CLI_OK;
	if (!objects || !difficult) {
		KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		rc = cli_fail(err);
		goto out;
	}
	size_t total = 0, total_difficult = 0;
	for (size_t i = 0; i < n; i++) {
		kcv_boxes_clear(&s.boxes);
		if (kcv_dataset_get(ds, i, KCV_GET_NO_PIXELS, &s, NULL, err) != KCV_OK) {
			rc = cli_fail(err);
			goto out;
		}
		for (size_t b = 0; b < s.boxes.count; b++) {
			size_t c = (size_t)s.boxes.classes[b];
			if (c >= nc)
				continue;
			objects[c]++;
			difficult[c] += s.boxes.difficult[b];
			total++;
			total_difficult += s.boxes.difficult[b];
		}
	}
	if (a->json) {
		json_t *root = json_object(), *classes = json_object();
		json_object_set_new(root, "split", json_string(a->split));
		json_object_set_new(root, "images", json_integer((json_int_t)n));
		for (size_t c = 0; c < nc; c++) {
			json_t *o = json_object();
			json_object_set_new(o, "objects", json_integer((json_int_t)objects[c]));
			json_object_set_new(o, "difficult", json_integer((json_int_t)difficult[c]));
			json_object_set_new(classes, kcv_dataset_class_name(ds, c), o);
		}
		json_object_set_new(root, "classes", classes);
		char *text = json_dumps(root, JSON_PRESERVE_ORDER);
		json_decref(root);
		if (text)
			puts(text);
		free(text);
	} else {
		fprintf(stderr, "%s: %zu images, %zu objects (%zu difficult)\n", a->split, n, total,
		        total_difficult);
		fprintf(stderr, "  %-16s %8s %10s\n", "class", "objects", "difficult");
		for (size_t c = 0; c < nc; c++)
			fprintf(stderr, "  %-16s %8zu %10zu\n", kcv_dataset_class_name(ds, c), objects[c],
			        difficult[c]);
	}
out:
	kcv_sample_release(&s);
	free(objects);
	free(difficult);
	return rc;
}

/* ---- --check ---------------------------------------------------------------- */

typedef struct check_state {
	size_t problems;
	json_t *list; /* with --json */
} check_state;

static void check_report(void *user, const char *file, const char *message)
{
	check_state *cs = user;
	cs->problems++;
	if (cs->list) {
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(file ? file : ""));
		json_object_set_new(o, "message", json_string(message ? message : ""));
		json_array_append_new(cs->list, o);
	}
	fprintf(stderr, "%s: %s\n", file ? file : "(dataset)", message ? message : "");
}

static int do_check(const data_args *a, const kcv_instance *ds)
{
	size_t n = kcv_dataset_size(ds);
	check_state cs = {0, a->json ? json_array() : NULL};
	kcv_report rep = {check_report, &cs};
	kcv_sample s = {0};
	size_t bad_images = 0;
	kcv_progress *bar = kcv_progress_new("check", n, NULL);
	for (size_t i = 0; i < n; i++) {
		kcv_error err = {0};
		size_t before = cs.problems;
		kcv_boxes_clear(&s.boxes);
		if (kcv_dataset_get(ds, i, KCV_GET_CHECK, &s, &rep, &err) != KCV_OK &&
		    cs.problems == before) {
			/* an error the dataset did not report itself */
			char msg[1500];
			kcv_error_format(&err, msg, sizeof(msg));
			check_report(&cs, NULL, msg);
		}
		if (cs.problems != before)
			bad_images++;
		if (bar)
			kcv_progress_update(bar, i + 1, NULL);
	}
	if (bar) {
		kcv_progress_finish(bar, NULL);
		kcv_progress_free(bar);
	}
	kcv_sample_release(&s);
	if (cs.list) {
		json_t *root = json_object();
		json_object_set_new(root, "split", json_string(a->split));
		json_object_set_new(root, "images", json_integer((json_int_t)n));
		json_object_set_new(root, "bad_images", json_integer((json_int_t)bad_images));
		json_object_set_new(root, "problems", cs.list);
		char *text = json_dumps(root, JSON_PRESERVE_ORDER);
		json_decref(root);
		if (text)
			puts(text);
		free(text);
	}
	if (cs.problems) {
		fprintf(stderr, "kcv: %s: %zu problem%s in %zu of %zu images\n", a->split, cs.problems,
		        cs.problems == 1 ? "" : "s", bad_images, n);
		return CLI_USER_ERROR;
	}
	fprintf(stderr, "kcv: %s: %zu images checked, no problems\n", a->split, n);
	return CLI_OK;
}

/* ---- loader-based actions ----------------------------------------------------- */

static kcv_loader *make_loader(const data_args *a, const kcv_pipeline *p, const kcv_instance *ds,
                               int batch_size, size_t limit, kcv_error *err)
{
	kcv_context ctx = kcv_pipeline_context(p);
	ctx.path = "data.augment";
	ctx.split = "train";
	const json_t *aug = NULL;
	if (!a->no_augment && strcmp(a->split, "train") == 0)
		aug = kcv_pipeline_augment_spec(p);
	kcv_loader_params lp = {
		.batch_size = batch_size,
		.workers = kcv_pipeline_workers(p),
		.prefetch = kcv_pipeline_prefetch(p),
		.shuffle = kcv_pipeline_shuffle(p),
		.skip_bad = kcv_pipeline_skip_bad(p),
		.seed = kcv_pipeline_seed(p),
		.box_format = ctx.box_format,
		.limit = limit,
	};
	return kcv_loader_new(ds, aug, &ctx, &lp, err);
}

static void report_clipped(const kcv_loader *l)
{
	size_t c = kcv_loader_clipped(l), s = kcv_loader_skipped(l);
	if (c)
		kcv_log("data", KCV_LOG_WARNING,
		        "%zu box%s reached outside %s image and %s clipped to it (kcv data --check "
		        "lists them)",
		        c, c == 1 ? "" : "es", c == 1 ? "its" : "their", c == 1 ? "was" : "were");
	if (s)
		kcv_log("data", KCV_LOG_WARNING, "%zu bad sample%s skipped (on_bad_sample: skip)", s,
		        s == 1 ? "" : "s");
}

static int do_show(const data_args *a, const kcv_pipeline *p, const kcv_instance *ds,
                   kcv_error *err)
{
	size_t n = kcv_dataset_size(ds);
	int count = (int)(a->show < (long)n ? a->show : (long)n);
	if (count <= 0) {
		KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(p), NULL, "the %s split is empty",
		          a->split);
		return cli_fail(err);
	}
	kcv_loader *l = make_loader(a, p, ds, count, 0, err);
	if (!l)
		return cli_fail(err);
	const kcv_batch *b = NULL;
	if (kcv_loader_start(l, 0, err) == KCV_OK)
		b = kcv_loader_next(l, err);
	if (!b) {
		kcv_loader_free(l);
		if (!err->code)
			KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(p), NULL, "no images to show");
		return cli_fail(err);
	}
	int cols = (int)ceil(sqrt((double)b->n)), rows = (b->n + cols - 1) / cols, gap = 4;
	kcv_canvas c = {NULL, cols * b->width + (cols + 1) * gap, rows * b->height + (rows + 1) * gap};
	c.rgb = malloc((size_t)c.width * c.height * 3);
	if (!c.rgb) {
		kcv_loader_free(l);
		KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		return cli_fail(err);
	}
	memset(c.rgb, 40, (size_t)c.width * c.height * 3);
	int scale = b->width >= 384 ? 2 : 1;
	kcv_status st = KCV_OK;
	for (int i = 0; i < b->n && !st; i++) {
		int x0 = gap + (i % cols) * (b->width + gap), y0 = gap + (i / cols) * (b->height + gap);
		kcv_draw_blit_float(&c, x0, y0, b->images + (size_t)i * b->width * b->height * 3,
		                    b->width, b->height);
		kcv_boxes boxes = {0};
		st = kcv_boxes_copy(&boxes, &b->boxes[i], err);
		if (!st)
			st = kcv_boxes_set_format(&boxes, KCV_BOX_XYXY, (float)b->width, (float)b->height, err);
		for (size_t k = 0; !st && k < boxes.count; k++) {
			const float *q = boxes.coords + 4 * k;
			uint8_t col[3];
			kcv_draw_class_color(boxes.classes[k], col);
			kcv_draw_box(&c, x0 + q[0], y0 + q[1], x0 + q[2], y0 + q[3], boxes.difficult[k] ? 1 : 2,
			             col);
			const char *name = kcv_dataset_class_name(ds, (size_t)boxes.classes[k]);
			char label[96];
			snprintf(label, sizeof(label), "%s%s", name ? name : "?",
			         boxes.difficult[k] ? " (difficult)" : "");
			kcv_draw_label(&c, x0 + (int)q[0], y0 + (int)q[1], label, scale, col);
		}
		kcv_boxes_release(&boxes);
		/* the image id in the corner */
		uint8_t dark[3] = {0, 0, 0};
		kcv_draw_label(&c, x0, y0 + b->height - 7 * scale - 2, b->ids[i], scale, dark);
	}
	if (!st)
		st = kcv_jpeg_write_file(a->out, c.rgb, c.width, c.height, 90, err);
	int shown = b->n;
	report_clipped(l);
	kcv_loader_free(l);
	free(c.rgb);
	if (st)
		return cli_fail(err);
	fprintf(stderr, "kcv: wrote %s (%d images of the %s split, %dx%d)\n", a->out, shown, a->split,
	        c.width, c.height);
	return CLI_OK;
}

static int do_bench(const data_args *a, const kcv_pipeline *p, const kcv_instance *ds,
                    kcv_error *err)
{
	int bs = kcv_pipeline_batch_size(p);
	kcv_loader *l = make_loader(a, p, ds, bs, (size_t)a->limit, err);
	if (!l)
		return cli_fail(err);
	size_t images = 0, batches = 0;
	double t0 = cli_now(), t = 0;
	uint64_t epoch = 0;
	kcv_progress *bar = kcv_progress_new("bench", 0, NULL);
	do {
		if (kcv_loader_start(l, epoch++, err) != KCV_OK)
			break;
		const kcv_batch *b;
		while ((b = kcv_loader_next(l, err)) != NULL) {
			images += (size_t)b->n;
			batches++;
			if (bar) {
				char sfx[64];
				snprintf(sfx, sizeof(sfx), "%.1f img/s", images / (cli_now() - t0));
				kcv_progress_update(bar, images, sfx);
			}
		}
		if (err->code)
			break;
		t = cli_now() - t0;
	} while (t < a->seconds && images > 0);
	if (bar) {
		kcv_progress_finish(bar, NULL);
		kcv_progress_free(bar);
	}
	int workers = kcv_pipeline_workers(p);
	report_clipped(l);
	kcv_loader_free(l);
	if (err->code)
		return cli_fail(err);
	kcv_context ctx = kcv_pipeline_context(p);
	double rate = t > 0 ? (double)images / t : 0;
	if (a->json) {
		printf("{\"split\": \"%s\", \"images\": %zu, \"batches\": %zu, \"seconds\": %.3f, "
		       "\"images_per_s\": %.1f, \"workers\": %d, \"batch_size\": %d, "
		       "\"image_size\": [%d, %d], \"augment\": %s}\n",
		       a->split, images, batches, t, rate, workers, bs, ctx.image_height,
		       ctx.image_width,
		       (!a->no_augment && strcmp(a->split, "train") == 0 && kcv_pipeline_augment_spec(p))
		           ? "true"
		           : "false");
	} else {
		fprintf(stderr, "kcv: %s: %zu images in %.2f s: %.1f images/s (%d workers, batch %d, %dx%d)\n",
		        a->split, images, t, rate, workers, bs, ctx.image_width, ctx.image_height);
	}
	return CLI_OK;
}

static int do_export(const data_args *a, const kcv_instance *ds, kcv_error *err)
{
	const char *file = strcmp(a->split, "validation") == 0 ? "val" : a->split;
	if (kcv_dataset_export_voc(ds, a->export_dir, (int)a->year, file, (size_t)a->limit, err))
		return cli_fail(err);
	fprintf(stderr, "kcv: wrote %s/VOC%ld (%s split: ImageSets/Main/%s.txt)\n", a->export_dir,
	        a->year, a->split, file);
	return CLI_OK;
}

/* ---- argument parsing ----------------------------------------------------------- */

static int parse_args(int argc, char **argv, data_args *a)
{
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(help, stdout);
			return -1;
		} else if (cli_take_set(argc, argv, &i, &a->pa, &bad)) {
			if (bad)
				return cli_usage_error("data", "--set needs key.path=value");
		} else if (strcmp(s, "--split") == 0 && next) {
			a->split = argv[++i];
		} else if (strcmp(s, "--stats") == 0) {
			a->stats = 1;
		} else if (strcmp(s, "--check") == 0) {
			a->check = 1;
		} else if (strcmp(s, "--bench") == 0) {
			a->bench = 1;
		} else if (strcmp(s, "--json") == 0) {
			a->json = 1;
		} else if (strcmp(s, "--no-augment") == 0) {
			a->no_augment = 1;
		} else if (strcmp(s, "--show") == 0 && next) {
			if (cli_parse_long(argv[++i], 1, 1024, &a->show))
				return cli_usage_error("data", "--show expects a number of images in [1, 1024], got \"%s\"", argv[i]);
		} else if (strcmp(s, "--out") == 0 && next) {
			a->out = argv[++i];
		} else if (strcmp(s, "--export-voc") == 0 && next) {
			a->export_dir = argv[++i];
		} else if (strcmp(s, "--limit") == 0 && next) {
			if (cli_parse_long(argv[++i], 0, 1L << 40, &a->limit))
				return cli_usage_error("data", "--limit expects a count, got \"%s\"", argv[i]);
		} else if (strcmp(s, "--year") == 0 && next) {
			if (cli_parse_long(argv[++i], 1900, 9999, &a->year))
				return cli_usage_error("data", "--year expects a year, got \"%s\"", argv[i]);
		} else if (strcmp(s, "--seconds") == 0 && next) {
			char *end;
			a->seconds = strtod(argv[++i], &end);
			if (*end || !(a->seconds >= 0 && a->seconds <= 3600))
				return cli_usage_error("data", "--seconds expects a duration in [0, 3600], got \"%s\"", argv[i]);
		} else if (s[0] == '-') {
			return cli_usage_error("data", "unknown or incomplete option \"%s\"", s);
		} else if (!a->pa.file) {
			a->pa.file = s;
		} else {
			return cli_usage_error("data", "unexpected argument \"%s\"", s);
		}
	}
	if (!a->pa.file)
		return cli_usage_error("data", "which pipeline?");
	int actions = a->stats + a->check + a->bench + (a->show > 0) + (a->export_dir != NULL);
	if (actions != 1)
		return cli_usage_error("data", "give exactly one of --stats, --show N, --check, --bench, --export-voc DIR");
	if (a->show > 0 && !a->out)
		return cli_usage_error("data", "--show needs --out FILE.jpg");
	if (strcmp(a->split, "val") == 0)
		a->split = "validation";
	if (strcmp(a->split, "train") && strcmp(a->split, "validation") && strcmp(a->split, "test"))
		return cli_usage_error("data", "--split must be train, validation or test, got \"%s\"", a->split);
	return 0;
}

int cmd_data(int argc, char **argv)
{
	data_args a = {.split = "train", .year = 2007, .seconds = 3.0};
	int prc = parse_args(argc, argv, &a);
	if (prc != 0) {
		free(a.pa.sets);
		return prc < 0 ? CLI_OK : prc;
	}
	kcv_error err = {0};
	int rc;
	kcv_pipeline *p = NULL;
	kcv_instance *ds = NULL;
	kcv_registry *reg = cli_registry(&err);
	if (!reg || !(p = kcv_pipeline_load(a.pa.file, a.pa.sets, a.pa.num_sets, reg, &err)) ||
	    !(ds = kcv_pipeline_dataset_new(p, a.split, &err))) {
		rc = cli_fail(&err);
		goto out;
	}
	if (a.stats)
		rc = do_stats(&a, ds, &err);
	else if (a.check)
		rc = do_check(&a, ds);
	else if (a.bench)
		rc = do_bench(&a, p, ds, &err);
	else if (a.export_dir)
		rc = do_export(&a, ds, &err);
	else
		rc = do_show(&a, p, ds, &err);
out:
	kcv_instance_free(ds);
	kcv_pipeline_free(p);
	kcv_registry_free(reg);
	free(a.pa.sets);
	return rc;
}
