/* The metric plugins: voc_ap on hand-computed cases (11-point and area,
 * difficult objects, duplicates, a class without detections, +1 pixels),
 * and coco_map / coco_recall fed batch by batch against pycocotools'
 * numbers and against libkcv's kcv_cocoeval (the code of kcv cocoeval). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers --------------------------------------------------------------- */

typedef struct box_spec {
	int image;
	int cls;
	float x1, y1, x2, y2;
	float score; /* detections */
	int difficult;
} box_spec;

#define MAX_IMAGES 64

/* One batch of n images built from lists of boxes (terminated by image -1). */
typedef struct batch {
	kcv_boxes gt[MAX_IMAGES];
	kcv_detections dt[MAX_IMAGES];
	size_t n;
} batch;

static void det_push(kcv_detections *d, const float box[4], float score, int32_t cls)
{
	if (d->count == d->capacity) {
		d->capacity = d->capacity ? 2 * d->capacity : 16;
		d->boxes = realloc(d->boxes, d->capacity * 4 * sizeof(float));
		d->scores = realloc(d->scores, d->capacity * sizeof(float));
		d->classes = realloc(d->classes, d->capacity * sizeof(int32_t));
		ck_assert(d->boxes && d->scores && d->classes);
	}
	memcpy(d->boxes + 4 * d->count, box, 4 * sizeof(float));
	d->scores[d->count] = score;
	d->classes[d->count] = cls;
	d->count++;
}

static void batch_build(batch *b, size_t num_images, const box_spec *gt, const box_spec *dt)
{
	memset(b, 0, sizeof(*b));
	b->n = num_images;
	for (const box_spec *s = gt; s && s->image >= 0; s++) {
		float c[4] = {s->x1, s->y1, s->x2, s->y2};
		ck_assert(kcv_boxes_push(&b->gt[s->image], c, s->cls, s->difficult, 0, NULL) == KCV_OK);
	}
	for (const box_spec *s = dt; s && s->image >= 0; s++) {
		float c[4] = {s->x1, s->y1, s->x2, s->y2};
		det_push(&b->dt[s->image], c, s->score, s->cls);
	}
}

static void batch_release(batch *b)
{
	for (size_t i = 0; i < MAX_IMAGES; i++) {
		kcv_boxes_release(&b->gt[i]);
		free(b->dt[i].boxes);
		free(b->dt[i].scores);
		free(b->dt[i].classes);
	}
	memset(b, 0, sizeof(*b));
}

static const kcv_metric_vtable *metric_vt(const kcv_instance *m)
{
	return kcv_instance_component(m)->vtable;
}

/* Feed images [first, first + n) of b. */
static void metric_update(kcv_instance *m, const batch *b, size_t first, size_t n)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_status st = metric_vt(m)->update(kcv_instance_priv(m), b->gt + first, b->dt + first, n,
	                                     &err);
	ck_assert_msg(st == KCV_OK, "update: %s", kcv_error_format(&err, msg, sizeof(msg)));
}

#define MAX_VALUES 256

static size_t metric_result(kcv_instance *m, kcv_metric_value *v)
{
	kcv_error err = {0};
	char msg[1400];
	size_t n = 0;
	kcv_status st = metric_vt(m)->result(kcv_instance_priv(m), v, MAX_VALUES, &n, &err);
	ck_assert_msg(st == KCV_OK, "result: %s", kcv_error_format(&err, msg, sizeof(msg)));
	ck_assert_uint_le(n, MAX_VALUES);
	return n;
}

static double value_of(const kcv_metric_value *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	ck_abort_msg("no value \"%s\"", name);
	return NAN;
}

#define ck_assert_near(a, b, tol)                                                          \
	ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.12g, expected %.12g", #a, \
	              (double)(a), (double)(b))

/* voc_ap with `options` (JSON members) on one batch; returns the values. */
static size_t voc_run(const char *options, size_t num_images, const box_spec *gt,
                      const box_spec *dt, kcv_metric_value *v)
{
	kcv_registry *reg = harness_registry();
	char json[512];
	snprintf(json, sizeof(json), "{\"plugin\": \"voc_ap\"%s%s}", options ? ", " : "",
	         options ? options : "");
	kcv_instance *m = harness_new(reg, KCV_KIND_METRIC, json, NULL);
	batch b;
	batch_build(&b, num_images, gt, dt);
	metric_update(m, &b, 0, num_images);
	size_t n = metric_result(m, v);
	batch_release(&b);
	kcv_instance_free(m);
	kcv_registry_free(reg);
	return n;
}

/* ---- voc_ap ------------------------------------------------------------------ */

#define END {-1, 0, 0, 0, 0, 0, 0, 0}

/* Two objects; detections TP 0.9, FP 0.8, TP 0.7: rec .5 .5 1, prec 1 .5 2/3.
 * 11-point: t = 0..0.5 give 1, t = 0.6..1 give 2/3: (6 + 10/3) / 11 = 28/33.
 * Area: 0.5 * 1 + 0.5 * 2/3 = 5/6. */
static const box_spec basic_gt[] = {{0, 0, 0, 0, 10, 10, 0, 0}, {0, 0, 20, 20, 30, 30, 0, 0}, END};
static const box_spec basic_dt[] = {{0, 0, 0, 0, 10, 10, 0.9f, 0},
                                    {0, 0, 50, 50, 60, 60, 0.8f, 0},
                                    {0, 0, 20, 20, 30, 30, 0.7f, 0},
                                    END};

START_TEST(voc_11point_and_area)
{
	kcv_metric_value v[MAX_VALUES];
	size_t n = voc_run("\"method\": \"11point\", \"pixel_plus_one\": false", 1, basic_gt,
	                   basic_dt, v);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[0].name, "mAP");
	ck_assert_str_eq(v[1].name, "AP/0");
	ck_assert_near(v[1].value, 28.0 / 33.0, 1e-12);
	ck_assert_near(v[0].value, 28.0 / 33.0, 1e-12);
	n = voc_run("\"method\": \"area\", \"pixel_plus_one\": false", 1, basic_gt, basic_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 5.0 / 6.0, 1e-12);
	/* the default is 11-point with +1 pixels: the same here (exact overlaps) */
	n = voc_run(NULL, 1, basic_gt, basic_dt, v);
	ck_assert_near(value_of(v, n, "mAP"), 28.0 / 33.0, 1e-12);
}
END_TEST

/* A difficult object: the detection on it (0.9) is ignored, neither TP nor
 * FP; npos = 1. Outcomes FP 0.95, ignored 0.9, TP 0.8, FP 0.7: rec 0 0 1 1,
 * prec 0 (0/0) .5 1/3: both methods give 0.5. Counting the difficult object
 * as ground truth would give another value. */
static const box_spec diff_gt[] = {{0, 0, 0, 0, 10, 10, 0, 0}, {0, 0, 20, 20, 30, 30, 0, 1}, END};
static const box_spec diff_dt[] = {{0, 0, 100, 100, 110, 110, 0.95f, 0},
                                   {0, 0, 20, 20, 30, 30, 0.9f, 0},
                                   {0, 0, 0, 0, 10, 10, 0.8f, 0},
                                   {0, 0, 60, 60, 70, 70, 0.7f, 0},
                                   END};

START_TEST(voc_difficult_ignored)
{
	kcv_metric_value v[MAX_VALUES];
	size_t n = voc_run("\"method\": \"11point\"", 1, diff_gt, diff_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 0.5, 1e-12);
	n = voc_run("\"method\": \"area\"", 1, diff_gt, diff_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 0.5, 1e-12);
}
END_TEST

/* Class 0: one object found three times (0.9 exact, 0.8 exact, 0.7 IoU .81):
 * TP then two duplicates, AP 1. Class 1: an object in image 1, no
 * detections: AP 0. Class 2: detections only: AP -1, left out of the mean.
 * mAP = (1 + 0) / 2. */
static const box_spec dup_gt[] = {{0, 0, 0, 0, 10, 10, 0, 0}, {1, 1, 0, 0, 10, 10, 0, 0}, END};
static const box_spec dup_dt[] = {{0, 0, 0, 0, 10, 10, 0.9f, 0},
                                  {0, 0, 0, 0, 10, 10, 0.8f, 0},
                                  {0, 0, 1, 1, 10, 10, 0.7f, 0},
                                  {1, 2, 0, 0, 10, 10, 0.6f, 0},
                                  END};

START_TEST(voc_duplicates_and_missing_classes)
{
	kcv_metric_value v[MAX_VALUES];
	for (int area = 0; area < 2; area++) {
		size_t n = voc_run(area ? "\"method\": \"area\"" : NULL, 2, dup_gt, dup_dt, v);
		ck_assert_uint_eq(n, 4);
		ck_assert_near(value_of(v, n, "AP/0"), 1.0, 1e-12);
		ck_assert_near(value_of(v, n, "AP/1"), 0.0, 1e-12);
		ck_assert_near(value_of(v, n, "AP/2"), -1.0, 1e-12);
		ck_assert_near(value_of(v, n, "mAP"), 0.5, 1e-12);
	}
}
END_TEST

/* The devkit takes the best overlap among ALL objects, detected or not: the
 * 0.8 detection overlaps the detected G1 (.818) more than the free G2
 * (.667), so it is a duplicate (COCO would match G2). Then as the basic
 * case: 28/33 and 5/6. */
static const box_spec all_gt[] = {{0, 0, 0, 0, 10, 10, 0, 0}, {0, 0, 3, 0, 13, 10, 0, 0}, END};
static const box_spec all_dt[] = {{0, 0, 0, 0, 10, 10, 0.9f, 0},
                                  {0, 0, 1, 0, 11, 10, 0.8f, 0},
                                  {0, 0, 3, 0, 13, 10, 0.7f, 0},
                                  END};

START_TEST(voc_max_overlap_over_all_objects)
{
	kcv_metric_value v[MAX_VALUES];
	size_t n = voc_run("\"pixel_plus_one\": false", 1, all_gt, all_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 28.0 / 33.0, 1e-12);
	n = voc_run("\"pixel_plus_one\": false, \"method\": \"area\"", 1, all_gt, all_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 5.0 / 6.0, 1e-12);
}
END_TEST

/* Inclusive pixels: [0,0,9,9] is 10x10 and [0,0,9,4] 10x5, IoU 50/100 = 0.5
 * (a match at >= 0.5); continuous boxes give 36/81 (no match). */
static const box_spec px_gt[] = {{0, 0, 0, 0, 9, 9, 0, 0}, END};
static const box_spec px_dt[] = {{0, 0, 0, 0, 9, 4, 0.9f, 0}, END};

START_TEST(voc_pixel_plus_one)
{
	kcv_metric_value v[MAX_VALUES];
	size_t n = voc_run(NULL, 1, px_gt, px_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 1.0, 1e-12);
	n = voc_run("\"pixel_plus_one\": false", 1, px_gt, px_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 0.0, 1e-12);
	n = voc_run("\"pixel_plus_one\": false, \"iou_threshold\": 0.4", 1, px_gt, px_dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 1.0, 1e-12);
}
END_TEST

/* 10 objects, 3 found (rec .1 .2 .3, prec 1): the recall points 0, .1, .2
 * and .3 (3/10 == 0.3) reach precision 1: 11-point AP = 4/11; area = 0.3. */
START_TEST(voc_11point_recall_boundaries)
{
	box_spec gt[11], dt[4];
	for (int i = 0; i < 10; i++)
		gt[i] = (box_spec){0, 0, 20.0f * i, 0, 20.0f * i + 10, 10, 0, 0};
	gt[10] = (box_spec)END;
	for (int i = 0; i < 3; i++)
		dt[i] = (box_spec){0, 0, 20.0f * i, 0, 20.0f * i + 10, 10, 0.9f - 0.1f * i, 0};
	dt[3] = (box_spec)END;
	kcv_metric_value v[MAX_VALUES];
	size_t n = voc_run(NULL, 1, gt, dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 4.0 / 11.0, 1e-12);
	n = voc_run("\"method\": \"area\"", 1, gt, dt, v);
	ck_assert_near(value_of(v, n, "AP/0"), 0.3, 1e-12);
}
END_TEST

/* Streaming: image by image, and reset. */
START_TEST(voc_streaming_and_reset)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *m = harness_new(reg, KCV_KIND_METRIC, "{\"plugin\": \"voc_ap\"}", NULL);
	batch b;
	batch_build(&b, 2, dup_gt, dup_dt);
	kcv_metric_value v[MAX_VALUES];
	metric_update(m, &b, 0, 1);
	metric_update(m, &b, 1, 1);
	size_t n = metric_result(m, v);
	ck_assert_near(value_of(v, n, "mAP"), 0.5, 1e-12);
	metric_vt(m)->reset(kcv_instance_priv(m));
	n = metric_result(m, v);
	ck_assert_uint_eq(n, 1);
	ck_assert_near(value_of(v, n, "mAP"), -1.0, 0);
	batch_release(&b);
	kcv_instance_free(m);
	kcv_registry_free(reg);
}
END_TEST

/* ---- coco_map / coco_recall ------------------------------------------------- */

/* A pycocotools case of the shared test data, or NULL (skipped). */
static json_t *load_case(const char *name, const char *file)
{
	const char *shared = getenv("KCV_SHARED_DIR");
	char path[1200];
	snprintf(path, sizeof(path), "%s/testdata/cocoeval/%s/%s",
	         shared && shared[0] ? shared : "/work/shared", name, file);
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "check_metrics: %s not found: test skipped\n", path);
		return NULL;
	}
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	ck_assert_msg(j != NULL, "%s: %s", path, je.text);
	return j;
}

/* A COCO case as batches: image i of the sorted image ids -> batch image i;
 * crowd annotations become difficult boxes. Category ids are class ids. */
static void coco_case_batch(json_t *gt, json_t *dt, batch *b, int64_t *ids)
{
	memset(b, 0, sizeof(*b));
	json_t *images = json_object_get(gt, "images");
	b->n = json_array_size(images);
	ck_assert_uint_le(b->n, MAX_IMAGES);
	for (size_t i = 0; i < b->n; i++)
		ids[i] = json_integer_value(json_object_get(json_array_get(images, i), "id"));
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(gt, "annotations"), i, a) {
		int64_t img = json_integer_value(json_object_get(a, "image_id"));
		size_t k = 0;
		while (k < b->n && ids[k] != img)
			k++;
		ck_assert_uint_lt(k, b->n);
		json_t *bb = json_object_get(a, "bbox");
		double x = json_number_value(json_array_get(bb, 0)),
		       y = json_number_value(json_array_get(bb, 1));
		float c[4] = {(float)x, (float)y, (float)(x + json_number_value(json_array_get(bb, 2))),
		              (float)(y + json_number_value(json_array_get(bb, 3)))};
		ck_assert(kcv_boxes_push(&b->gt[k], c,
		                         (int32_t)json_integer_value(json_object_get(a, "category_id")),
		                         json_integer_value(json_object_get(a, "iscrowd")) != 0, 0,
		                         NULL) == KCV_OK);
	}
	json_array_foreach(dt, i, a) {
		int64_t img = json_integer_value(json_object_get(a, "image_id"));
		size_t k = 0;
		while (k < b->n && ids[k] != img)
			k++;
		ck_assert_uint_lt(k, b->n);
		json_t *bb = json_object_get(a, "bbox");
		double x = json_number_value(json_array_get(bb, 0)),
		       y = json_number_value(json_array_get(bb, 1));
		float c[4] = {(float)x, (float)y, (float)(x + json_number_value(json_array_get(bb, 2))),
		              (float)(y + json_number_value(json_array_get(bb, 3)))};
		det_push(&b->dt[k], c, (float)json_number_value(json_object_get(a, "score")),
		         (int32_t)json_integer_value(json_object_get(a, "category_id")));
	}
}

static const char *const stat_keys[12] = {"AP",   "AP50", "AP75",  "APs", "APm", "APl",
                                          "AR1",  "AR10", "AR100", "ARs", "ARm", "ARl"};

/* edge-over-maxdets has integer boxes and distinct scores, so float boxes
 * and scores change nothing: fed one image per update, coco_map must give
 * pycocotools' numbers (expected.json) within 1e-6. */
START_TEST(coco_map_streaming_matches_pycocotools)
{
	json_t *gt = load_case("edge-over-maxdets", "gt.json");
	if (!gt)
		return;
	json_t *dt = load_case("edge-over-maxdets", "dt.json");
	json_t *exp = load_case("edge-over-maxdets", "expected.json");
	batch b;
	int64_t ids[MAX_IMAGES];
	coco_case_batch(gt, dt, &b, ids);
	kcv_registry *reg = harness_registry();
	kcv_instance *m = harness_new(reg, KCV_KIND_METRIC,
	                              "{\"plugin\": \"coco_map\", \"difficult_as_crowd\": true}", NULL);
	for (size_t i = 0; i < b.n; i++)
		metric_update(m, &b, i, 1);
	kcv_metric_value v[MAX_VALUES];
	size_t n = metric_result(m, v);
	json_t *stats = json_object_get(exp, "stats");
	for (int s = 0; s < 12; s++) {
		ck_assert_str_eq(v[s].name, stat_keys[s]);
		ck_assert_near(v[s].value, json_real_value(json_object_get(stats, stat_keys[s])), 1e-6);
	}
	const char *key;
	json_t *c;
	json_object_foreach(json_object_get(exp, "per_category"), key, c) {
		double want = json_real_value(json_object_get(c, "AP"));
		char name[48];
		snprintf(name, sizeof(name), "AP/%s", key);
		/* category 3 has no box at all here: pycocotools gives -1, and the
		 * plugin, which never saw the class, has no entry */
		int found = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, name) == 0) {
				ck_assert_near(v[i].value, want, 1e-6);
				found = 1;
			}
		ck_assert(found || want == -1.0);
	}
	/* coco_recall at 100 and 10 are pycocotools' AR100 and AR10 */
	const char *recalls[2][2] = {{"100", "AR100"}, {"10", "AR10"}};
	for (int r = 0; r < 2; r++) {
		char json[160];
		snprintf(json, sizeof(json),
		         "{\"plugin\": \"coco_recall\", \"max_detections\": %s, "
		         "\"difficult_as_crowd\": true}",
		         recalls[r][0]);
		kcv_instance *rm = harness_new(reg, KCV_KIND_METRIC, json, NULL);
		metric_update(rm, &b, 0, b.n);
		size_t rn = metric_result(rm, v);
		ck_assert_uint_eq(rn, 1);
		ck_assert_str_eq(v[0].name, recalls[r][1]);
		ck_assert_near(v[0].value, json_real_value(json_object_get(stats, recalls[r][1])), 1e-6);
		kcv_instance_free(rm);
	}
	kcv_instance_free(m);
	kcv_registry_free(reg);
	batch_release(&b);
	json_decref(gt);
	json_decref(dt);
	json_decref(exp);
}
END_TEST

/* random-crowd (60 images, crowd, 8 classes): coco_map fed in uneven
 * batches, with 1 or 3 threads, gives exactly (bit for bit) what
 * kcv_cocoeval gives on the same boxes added at once, as kcv cocoeval does. */
START_TEST(coco_map_batches_match_cocoeval)
{
	json_t *gt = load_case("random-crowd", "gt.json");
	if (!gt)
		return;
	json_t *dt = load_case("random-crowd", "dt.json");
	batch b;
	int64_t ids[MAX_IMAGES];
	coco_case_batch(gt, dt, &b, ids);

	/* the reference: the library directly, everything at once */
	kcv_error err = {0};
	kcv_cocoeval *ev = kcv_cocoeval_new(NULL, &err);
	ck_assert(ev != NULL);
	int64_t ann = 1;
	for (size_t i = 0; i < b.n; i++) {
		ck_assert(kcv_cocoeval_add_image(ev, (int64_t)i, &err) == KCV_OK);
		for (size_t j = 0; j < b.gt[i].count; j++) {
			const float *c = b.gt[i].coords + 4 * j;
			kcv_coco_gt g = {.id = ann++, .image_id = (int64_t)i,
			                 .category_id = b.gt[i].classes[j],
			                 .bbox = {c[0], c[1], (double)c[2] - c[0], (double)c[3] - c[1]},
			                 .iscrowd = b.gt[i].difficult[j]};
			g.area = g.bbox[2] * g.bbox[3];
			ck_assert(kcv_cocoeval_add_category(ev, g.category_id, &err) == KCV_OK);
			ck_assert(kcv_cocoeval_add_gt(ev, &g, &err) == KCV_OK);
		}
		for (size_t j = 0; j < b.dt[i].count; j++) {
			const float *c = b.dt[i].boxes + 4 * j;
			kcv_coco_dt d = {.image_id = (int64_t)i, .category_id = b.dt[i].classes[j],
			                 .bbox = {c[0], c[1], (double)c[2] - c[0], (double)c[3] - c[1]},
			                 .score = b.dt[i].scores[j]};
			ck_assert(kcv_cocoeval_add_category(ev, d.category_id, &err) == KCV_OK);
			ck_assert(kcv_cocoeval_add_dt(ev, &d, &err) == KCV_OK);
		}
	}
	ck_assert(kcv_cocoeval_run(ev, &err) == KCV_OK);
	ck_assert(kcv_cocoeval_stat(ev, KCV_COCO_AP) > 0.1);

	kcv_registry *reg = harness_registry();
	for (int threads = 1; threads <= 3; threads += 2) {
		kcv_context ctx = harness_context(reg, 64, 48);
		ctx.threads = threads;
		kcv_instance *m = harness_new(
			reg, KCV_KIND_METRIC, "{\"plugin\": \"coco_map\", \"difficult_as_crowd\": true}", &ctx);
		static const size_t sizes[] = {1, 7, 13, 2, 30, 7};
		size_t at = 0;
		for (size_t s = 0; at < b.n; s++) {
			size_t k = sizes[s % 6] < b.n - at ? sizes[s % 6] : b.n - at;
			metric_update(m, &b, at, k);
			at += k;
		}
		kcv_metric_value v[MAX_VALUES];
		size_t n = metric_result(m, v);
		ck_assert_uint_eq(n, 12 + kcv_cocoeval_num_categories(ev));
		for (int s = 0; s < 12; s++)
			ck_assert_msg(v[s].value == kcv_cocoeval_stat(ev, (kcv_coco_stat)s),
			              "%s: %.17g vs %.17g", v[s].name, v[s].value,
			              kcv_cocoeval_stat(ev, (kcv_coco_stat)s));
		for (size_t k = 0; k < kcv_cocoeval_num_categories(ev); k++)
			ck_assert(v[12 + k].value == kcv_cocoeval_category_ap(ev, k, -1));
		/* results twice, and after a reset, nothing */
		size_t n2 = metric_result(m, v);
		ck_assert_uint_eq(n2, n);
		ck_assert(v[0].value == kcv_cocoeval_stat(ev, KCV_COCO_AP));
		metric_vt(m)->reset(kcv_instance_priv(m));
		n2 = metric_result(m, v);
		ck_assert_uint_eq(n2, 12);
		ck_assert(v[0].value == -1.0);
		kcv_instance_free(m);
	}
	kcv_registry_free(reg);
	kcv_cocoeval_free(ev);
	batch_release(&b);
	json_decref(gt);
	json_decref(dt);
}
END_TEST

/* Library details: thresholds, -1 without ground truth, errors. */
START_TEST(cocoeval_api_edges)
{
	kcv_error err = {0};
	kcv_cocoeval_params bad = {.num_max_dets = 2, .max_dets = {10, 5}};
	ck_assert(kcv_cocoeval_new(&bad, &err) == NULL);
	ck_assert_int_eq(err.code, KCV_ERR_INVALID);

	kcv_error_clear(&err);
	kcv_cocoeval *ev = kcv_cocoeval_new(NULL, &err);
	ck_assert(ev != NULL);
	/* nothing added: every statistic is -1 */
	ck_assert(kcv_cocoeval_run(ev, &err) == KCV_OK);
	for (int s = 0; s < KCV_COCO_STAT_COUNT; s++)
		ck_assert(kcv_cocoeval_stat(ev, (kcv_coco_stat)s) == -1.0);
	/* one perfect detection */
	ck_assert(kcv_cocoeval_add_image(ev, 5, &err) == KCV_OK);
	ck_assert(kcv_cocoeval_add_category(ev, 1, &err) == KCV_OK);
	kcv_coco_gt g = {.id = 1, .image_id = 5, .category_id = 1, .bbox = {0, 0, 50, 50},
	                 .area = 2500};
	kcv_coco_dt d = {.image_id = 5, .category_id = 1, .bbox = {0, 0, 50, 50}, .score = 0.5};
	ck_assert(kcv_cocoeval_add_gt(ev, &g, &err) == KCV_OK);
	ck_assert(kcv_cocoeval_add_dt(ev, &d, &err) == KCV_OK);
	ck_assert(kcv_cocoeval_run(ev, &err) == KCV_OK);
	/* precision is tp / (tp + fp + eps): 1 - 2e-16 */
	ck_assert_near(kcv_cocoeval_stat(ev, KCV_COCO_AP), 1.0, 1e-12);
	ck_assert(kcv_cocoeval_stat(ev, KCV_COCO_APS) == -1.0); /* a medium object */
	ck_assert_near(kcv_cocoeval_stat(ev, KCV_COCO_APM), 1.0, 1e-12);
	ck_assert(kcv_cocoeval_stat(ev, KCV_COCO_AR100) == 1.0);
	ck_assert_near(kcv_cocoeval_summarize(ev, 1, 0.9, KCV_COCO_AREA_ALL, 100), 1.0, 1e-12);
	ck_assert(kcv_cocoeval_summarize(ev, 1, 0.42, KCV_COCO_AREA_ALL, 100) == -1.0);
	ck_assert(kcv_cocoeval_summarize(ev, 0, -1, KCV_COCO_AREA_ALL, 7) == -1.0);
	ck_assert_str_eq(kcv_coco_stat_name(KCV_COCO_ARL), "ARl");
	/* non-finite numbers and unknown images */
	kcv_coco_dt nan_dt = d;
	nan_dt.score = NAN;
	ck_assert(kcv_cocoeval_add_dt(ev, &nan_dt, &err) == KCV_ERR_INVALID);
	kcv_error_clear(&err);
	kcv_coco_dt lost = d;
	lost.image_id = 6;
	ck_assert(kcv_cocoeval_add_dt(ev, &lost, &err) == KCV_OK);
	ck_assert(kcv_cocoeval_run(ev, &err) == KCV_ERR_INVALID);
	ck_assert_msg(strstr(err.text, "image_id 6 is not an image") != NULL, "%s", err.text);
	kcv_cocoeval_free(ev);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *voc = tcase_create("voc_ap");
	tcase_add_test(voc, voc_11point_and_area);
	tcase_add_test(voc, voc_difficult_ignored);
	tcase_add_test(voc, voc_duplicates_and_missing_classes);
	tcase_add_test(voc, voc_max_overlap_over_all_objects);
	tcase_add_test(voc, voc_pixel_plus_one);
	tcase_add_test(voc, voc_11point_recall_boundaries);
	tcase_add_test(voc, voc_streaming_and_reset);
	suite_add_tcase(s, voc);
	TCase *coco = tcase_create("coco");
	tcase_add_test(coco, coco_map_streaming_matches_pycocotools);
	tcase_add_test(coco, coco_map_batches_match_cocoeval);
	tcase_add_test(coco, cocoeval_api_edges);
	tcase_set_timeout(coco, 60);
	suite_add_tcase(s, coco);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
