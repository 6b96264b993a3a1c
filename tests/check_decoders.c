/* The decoder plugins (nms, soft_nms) driven through the registry on hand
 * cases: the strict thresholds (score > confidence, IoU > iou_threshold),
 * ties, per-class and total limits, boxes of area 0, class-agnostic NMS,
 * one class per anchor or all, top k per level, clipping and small boxes,
 * Soft-NMS's gaussian and linear decays, bad options and bad inputs.
 *
 * With arguments it is the driver of tests/decoders_parity.sh:
 *   check_decoders --run 'SPEC' IN.safetensors OUT.safetensors
 * reads boxes [A,4] (xyxy), scores [A,C], levels [L] (anchors per level) and
 * size [2] (width, height) from IN and writes count [1] and, when count > 0,
 * boxes [D,4], scores [D] and classes [D] to OUT;
 *   check_decoders --bench
 * times both decoders on 49,104 anchors x 20 classes (VOC at 512x512). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kcv/kcv.h>

#include "plugin_check.h"

/* ---- running a decoder (no Check macros: the driver mode uses these too) -- */

static kcv_instance *dec_create(const kcv_registry *reg, const char *json, kcv_error *err)
{
	return plugin_check_instance(reg, KCV_KIND_DECODER, "model.decoder", 512, json, err);
}

static kcv_status dec_run(kcv_instance *inst, const float *boxes, const float *scores, int a,
                          int c, const int *levels, int num_levels, int width, int height,
                          kcv_detections *out, kcv_error *err)
{
	kcv_decoder_input in = {.boxes = boxes, .scores = scores, .num_anchors = a,
	                        .num_classes = c, .num_levels = num_levels,
	                        .level_anchors = levels, .width = width, .height = height};
	const kcv_decoder_vtable *vt = kcv_instance_component(inst)->vtable;
	kcv_detections_clear(out);
	return vt->decode(kcv_instance_priv(inst), &in, out, err);
}

/* ---- driver mode ------------------------------------------------------------ */

static float *read_all(const kcv_weights *w, const char *name, kcv_tensor_info *info)
{
	kcv_error err = {0};
	if (kcv_weights_find(w, name, info) != 0) {
		fprintf(stderr, "check_decoders: no tensor \"%s\"\n", name);
		return NULL;
	}
	float *d = malloc(info->numel ? info->numel * sizeof(float) : 1);
	if (d && kcv_weights_read_f32(w, name, d, info->numel, &err)) {
		fprintf(stderr, "check_decoders: %s\n", err.text);
		free(d);
		return NULL;
	}
	return d;
}

static int run_driver(const char *spec, const char *in_path, const char *out_path)
{
	kcv_error err = {0};
	char msg[1400];
	int rc = 1, levels[64];
	float *boxes = NULL, *scores = NULL, *lv = NULL, *size = NULL, *cls = NULL;
	kcv_detections det = {0};
	kcv_weights_writer *wr = NULL;
	kcv_instance *inst = NULL;
	kcv_tensor_info bi, si, li, zi;
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	kcv_weights *in = reg ? kcv_weights_open(in_path, &err) : NULL;
	if (!in)
		goto fail;
	if (!(boxes = read_all(in, "boxes", &bi)) || !(scores = read_all(in, "scores", &si)) ||
	    !(lv = read_all(in, "levels", &li)) || !(size = read_all(in, "size", &zi)))
		goto done;
	if (bi.rank != 2 || si.rank != 2 || li.numel > 64 || zi.numel != 2) {
		fprintf(stderr, "check_decoders: bad shapes\n");
		goto done;
	}
	for (size_t i = 0; i < li.numel; i++)
		levels[i] = (int)lv[i];
	if (!(inst = dec_create(reg, spec, &err)) ||
	    dec_run(inst, boxes, scores, (int)si.dims[0], (int)si.dims[1], levels, (int)li.numel,
	            (int)size[0], (int)size[1], &det, &err))
		goto fail;
	float count = (float)det.count;
	cls = malloc((det.count ? det.count : 1) * sizeof(float));
	if (!cls)
		goto done;
	for (size_t i = 0; i < det.count; i++)
		cls[i] = (float)det.classes[i];
	int64_t one = 1, d4[2] = {(int64_t)det.count, 4}, dn = (int64_t)det.count;
	if (!(wr = kcv_weights_writer_new(&err)) ||
	    kcv_weights_writer_add(wr, "count", &count, 1, &one, &err) ||
	    (det.count && (kcv_weights_writer_add(wr, "boxes", det.boxes, 2, d4, &err) ||
	                   kcv_weights_writer_add(wr, "scores", det.scores, 1, &dn, &err) ||
	                   kcv_weights_writer_add(wr, "classes", cls, 1, &dn, &err))) ||
	    kcv_weights_writer_save(wr, out_path, &err))
		goto fail;
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "check_decoders: %s\n", kcv_error_format(&err, msg, sizeof(msg)));
done:
	kcv_weights_writer_free(wr);
	kcv_detections_release(&det);
	kcv_instance_free(inst);
	kcv_weights_free(in);
	kcv_registry_free(reg);
	free(boxes), free(scores), free(lv), free(size), free(cls);
	return rc;
}

/* VOC-like input at 512x512: 49,104 anchors over 5 levels, 20 classes, a
 * few hundred confident anchors around 30 objects and sigmoid noise. */
static int run_bench(void)
{
	enum { A = 49104, C = 20 };
	static const int levels[5] = {36864, 9216, 2304, 576, 144};
	float *boxes = malloc((size_t)A * 4 * sizeof(float));
	float *scores = malloc((size_t)A * C * sizeof(float));
	if (!boxes || !scores)
		return 1;
	kcv_rng rng;
	kcv_rng_seed(&rng, 3, 0, 0, 0);
	for (int i = 0; i < A; i++) {
		float cx = (float)kcv_rng_range(&rng, 0, 512), cy = (float)kcv_rng_range(&rng, 0, 512);
		float w = (float)kcv_rng_range(&rng, 16, 300), h = (float)kcv_rng_range(&rng, 16, 300);
		boxes[4 * i] = cx - w / 2, boxes[4 * i + 1] = cy - h / 2;
		boxes[4 * i + 2] = cx + w / 2, boxes[4 * i + 3] = cy + h / 2;
		for (int c = 0; c < C; c++) /* logits around -5: most below 0.05 */
			scores[(size_t)i * C + c] =
			    1.0f / (1.0f + expf(-(float)(kcv_rng_normal(&rng) * 1.5 - 5)));
	}
	static const char *specs[] = {
		"{\"plugin\": \"nms\"}",
		"{\"plugin\": \"nms\", \"one_class_per_anchor\": false, \"pre_nms_topk\": 1000, "
		"\"max_detections\": 300, \"max_detections_per_class\": 0, \"clip_boxes\": true}",
		"{\"plugin\": \"nms\", \"one_class_per_anchor\": false, \"confidence_threshold\": 0.01, "
		"\"max_detections_per_class\": 0, \"max_detections\": 0}",
		"{\"plugin\": \"soft_nms\"}",
		"{\"plugin\": \"soft_nms\", \"one_class_per_anchor\": false, \"pre_nms_topk\": 1000}",
	};
	kcv_error err = {0};
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	kcv_detections det = {0};
	int rc = reg ? 0 : 1;
	for (size_t s = 0; !rc && s < sizeof(specs) / sizeof(specs[0]); s++) {
		kcv_instance *inst = dec_create(reg, specs[s], &err);
		if (!inst) {
			rc = 1;
			break;
		}
		struct timespec t0, t1;
		int reps = 5;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int r = 0; r < reps && !rc; r++)
			rc = dec_run(inst, boxes, scores, A, C, levels, 5, 512, 512, &det, &err) != KCV_OK;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
		ms /= reps;
		printf("%-140s %8.2f ms/image, %zu detections\n", specs[s], ms, det.count);
		kcv_instance_free(inst);
	}
	if (rc)
		fprintf(stderr, "check_decoders: %s\n", err.text);
	kcv_detections_release(&det);
	kcv_registry_free(reg);
	free(boxes);
	free(scores);
	return rc;
}

/* ---- Check helpers ------------------------------------------------------------ */

typedef struct dcase {
	kcv_registry *reg;
	kcv_instance *inst;
	kcv_detections det;
} dcase;

static void dcase_new(dcase *d, const char *json)
{
	kcv_error err = {0};
	char msg[1400];
	memset(d, 0, sizeof(*d));
	d->reg = kcv_registry_new(NULL, &err);
	ck_assert_msg(d->reg != NULL, "registry: %s", kcv_error_format(&err, msg, sizeof(msg)));
	d->inst = dec_create(d->reg, json, &err);
	ck_assert_msg(d->inst != NULL, "%s: %s", json, kcv_error_format(&err, msg, sizeof(msg)));
}

static void dcase_free(dcase *d)
{
	kcv_detections_release(&d->det);
	kcv_instance_free(d->inst);
	kcv_registry_free(d->reg);
}

/* Decode a (boxes, scores) set with one level, image 100 x 100. */
static const kcv_detections *decode(dcase *d, const float *boxes, const float *scores, int a,
                                    int c)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_status st = dec_run(d->inst, boxes, scores, a, c, NULL, 0, 100, 100, &d->det, &err);
	ck_assert_msg(st == KCV_OK, "decode: %s", kcv_error_format(&err, msg, sizeof(msg)));
	for (size_t i = 1; i < d->det.count; i++)
		ck_assert_msg(d->det.scores[i] <= d->det.scores[i - 1], "not sorted at %zu", i);
	return &d->det;
}

/* One-shot: decode with a fresh instance of json; the result in *out (the
 * caller releases it). */
static void decode_once(const char *json, const float *boxes, const float *scores, int a, int c,
                        kcv_detections *out)
{
	dcase d;
	dcase_new(&d, json);
	decode(&d, boxes, scores, a, c);
	*out = d.det;
	memset(&d.det, 0, sizeof(d.det));
	dcase_free(&d);
}

/* Expect detections: n of them, as (box index into `boxes`, score, class). */
typedef struct want {
	int box;
	float score;
	int cls;
} want;

static void expect(const kcv_detections *det, const float *boxes, const want *w, size_t n,
                   const char *what)
{
	ck_assert_msg(det->count == n, "%s: %zu detections, expected %zu", what, det->count, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(memcmp(det->boxes + 4 * i, boxes + 4 * w[i].box, 4 * sizeof(float)) == 0,
		              "%s: detection %zu has box [%g %g %g %g], expected box %d", what, i,
		              (double)det->boxes[4 * i], (double)det->boxes[4 * i + 1],
		              (double)det->boxes[4 * i + 2], (double)det->boxes[4 * i + 3], w[i].box);
		ck_assert_msg(fabsf(det->scores[i] - w[i].score) <= 1e-6f * fabsf(w[i].score),
		              "%s: detection %zu score %.9g, expected %.9g", what, i,
		              (double)det->scores[i], (double)w[i].score);
		ck_assert_msg(det->classes[i] == w[i].cls, "%s: detection %zu class %d, expected %d",
		              what, i, det->classes[i], w[i].cls);
	}
}

/* ---- nms ------------------------------------------------------------------------ */

START_TEST(test_thresholds_strict)
{
	/* scores exactly at the confidence threshold are out, just above are in */
	const float boxes[12] = {0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50};
	const float scores[3] = {0.05f, 0.0500001f, 0.5f};
	kcv_detections det;
	decode_once("{\"plugin\": \"nms\"}", boxes, scores, 3, 1, &det);
	expect(&det, boxes, (want[]){{2, 0.5f, 0}, {1, 0.0500001f, 0}}, 2, "confidence 0.05");
	kcv_detections_release(&det);
	/* IoU exactly 0.5 ([0,0,2,1] and [0,0,1,1]: 1 / 2) is not above 0.5 */
	const float b2[8] = {0, 0, 2, 1, 0, 0, 1, 1};
	const float s2[2] = {0.9f, 0.8f};
	decode_once("{\"plugin\": \"nms\", \"iou_threshold\": 0.5}", b2, s2, 2, 1, &det);
	expect(&det, b2, (want[]){{0, 0.9f, 0}, {1, 0.8f, 0}}, 2, "IoU 0.5 at 0.5");
	kcv_detections_release(&det);
	decode_once("{\"plugin\": \"nms\", \"iou_threshold\": 0.49}", b2, s2, 2, 1, &det);
	expect(&det, b2, (want[]){{0, 0.9f, 0}}, 1, "IoU 0.5 at 0.49");
	kcv_detections_release(&det);
	/* confidence 0: a score of 0 is not a candidate */
	const float s3[2] = {0, 0.25f};
	decode_once("{\"plugin\": \"nms\", \"confidence_threshold\": 0}", boxes, s3, 2, 1, &det);
	expect(&det, boxes, (want[]){{1, 0.25f, 0}}, 1, "confidence 0");
	kcv_detections_release(&det);
}
END_TEST

START_TEST(test_ties)
{
	/* equal scores: the lower anchor first, and it wins an overlap */
	const float boxes[16] = {0, 0, 10, 10, 50, 50, 60, 60, 1, 0, 11, 10, 70, 70, 80, 80};
	const float scores[4] = {0.7f, 0.7f, 0.7f, 0.9f};
	kcv_detections det;
	decode_once("{\"plugin\": \"nms\"}", boxes, scores, 4, 1, &det);
	expect(&det, boxes, (want[]){{3, 0.9f, 0}, {0, 0.7f, 0}, {1, 0.7f, 0}}, 3, "ties");
	kcv_detections_release(&det);
	/* one anchor, equal class scores: the first class (tf.argmax) */
	const float s2[3] = {0.3f, 0.6f, 0.6f};
	decode_once("{\"plugin\": \"nms\"}", boxes, s2, 1, 3, &det);
	expect(&det, boxes, (want[]){{0, 0.6f, 1}}, 1, "argmax tie");
	kcv_detections_release(&det);
}
END_TEST

/* Eight separate boxes: classes 0,0,0,0,0,1,1,1 with falling scores. */
static const float sep_boxes[32] = {0,  0,  5,  5,  10, 10, 15, 15, 20, 20, 25,
                                    25, 30, 30, 35, 35, 40, 40, 45, 45, 50, 50,
                                    55, 55, 60, 60, 65, 65, 70, 70, 75, 75};

static void sep_scores(float *s)
{
	static const float v[8] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.85f, 0.75f, 0.65f};
	for (int i = 0; i < 8; i++) {
		s[2 * i] = i < 5 ? v[i] : 0.01f;
		s[2 * i + 1] = i < 5 ? 0.01f : v[i];
	}
}

START_TEST(test_limits)
{
	float s[16];
	sep_scores(s);
	kcv_detections det;
	decode_once("{\"plugin\": \"nms\", \"max_detections_per_class\": 2}", sep_boxes, s, 8, 2,
	            &det);
	expect(&det, sep_boxes, (want[]){{0, 0.9f, 0}, {5, 0.85f, 1}, {1, 0.8f, 0}, {6, 0.75f, 1}},
	       4, "2 per class");
	kcv_detections_release(&det);
	decode_once("{\"plugin\": \"nms\", \"max_detections\": 3}", sep_boxes, s, 8, 2, &det);
	expect(&det, sep_boxes, (want[]){{0, 0.9f, 0}, {5, 0.85f, 1}, {1, 0.8f, 0}}, 3, "3 in all");
	kcv_detections_release(&det);
	decode_once("{\"plugin\": \"nms\", \"max_detections\": 0, \"max_detections_per_class\": 0}",
	            sep_boxes, s, 8, 2, &det);
	ck_assert_uint_eq(det.count, 8);
	kcv_detections_release(&det);
	/* the per-class limit counts kept boxes only: a suppressed box does not use it */
	const float ov[12] = {0, 0, 10, 10, 0, 0, 10, 9, 30, 30, 40, 40};
	const float so[3] = {0.9f, 0.8f, 0.7f};
	decode_once("{\"plugin\": \"nms\", \"max_detections_per_class\": 2}", ov, so, 3, 1, &det);
	expect(&det, ov, (want[]){{0, 0.9f, 0}, {2, 0.7f, 0}}, 2, "suppressed does not count");
	kcv_detections_release(&det);
}
END_TEST

START_TEST(test_area_zero)
{
	/* a point and a line inside a box, and the same point twice: IoU 0 */
	const float boxes[16] = {5, 5, 5, 5, 0, 0, 10, 10, 5, 5, 5, 5, 2, 3, 8, 3};
	const float scores[4] = {0.9f, 0.8f, 0.7f, 0.6f};
	kcv_detections det;
	decode_once("{\"plugin\": \"nms\", \"iou_threshold\": 0}", boxes, scores, 4, 1, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {1, 0.8f, 0}, {2, 0.7f, 0}, {3, 0.6f, 0}}, 4,
	       "area 0");
	kcv_detections_release(&det);
	/* an inverted box (x2 < x1) has a negative area: IoU 0 too */
	const float inv[8] = {10, 0, 0, 10, 0, 0, 10, 10};
	decode_once("{\"plugin\": \"nms\", \"iou_threshold\": 0}", inv, scores, 2, 1, &det);
	ck_assert_uint_eq(det.count, 2);
	kcv_detections_release(&det);
}
END_TEST

START_TEST(test_class_agnostic)
{
	/* two anchors on nearly the same box, different classes */
	const float boxes[8] = {0, 0, 10, 10, 0, 0, 10, 9};
	const float scores[4] = {0.9f, 0.1f, 0.2f, 0.8f};
	kcv_detections det;
	decode_once("{\"plugin\": \"nms\"}", boxes, scores, 2, 2, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {1, 0.8f, 1}}, 2, "per class");
	kcv_detections_release(&det);
	decode_once("{\"plugin\": \"nms\", \"class_agnostic\": true}", boxes, scores, 2, 2, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}}, 1, "agnostic");
	kcv_detections_release(&det);
	/* agnostic with a per-class limit: a kept box of a full class still
	 * suppresses (box 1, class 0, is kept by NMS but over the limit) */
	const float b3[12] = {0, 0, 10, 10, 20, 0, 30, 10, 20, 0, 30, 9};
	const float s3[6] = {0.9f, 0.0f, 0.8f, 0.0f, 0.0f, 0.7f};
	decode_once("{\"plugin\": \"nms\", \"class_agnostic\": true, \"max_detections_per_class\": 1}",
	            b3, s3, 3, 2, &det);
	expect(&det, b3, (want[]){{0, 0.9f, 0}}, 1, "agnostic, full class suppresses");
	kcv_detections_release(&det);
}
END_TEST

START_TEST(test_one_class_per_anchor)
{
	const float boxes[4] = {0, 0, 10, 10};
	const float scores[3] = {0.6f, 0.55f, 0.02f};
	kcv_detections det;
	decode_once("{\"plugin\": \"nms\"}", boxes, scores, 1, 3, &det);
	expect(&det, boxes, (want[]){{0, 0.6f, 0}}, 1, "KerasCV: best class only");
	kcv_detections_release(&det);
	decode_once("{\"plugin\": \"nms\", \"one_class_per_anchor\": false}", boxes, scores, 1, 3,
	            &det);
	expect(&det, boxes, (want[]){{0, 0.6f, 0}, {0, 0.55f, 1}}, 2, "torchvision: every class");
	kcv_detections_release(&det);
	/* the best class below the threshold: nothing */
	const float low[3] = {0.04f, 0.03f, 0.01f};
	decode_once("{\"plugin\": \"nms\"}", boxes, low, 1, 3, &det);
	ck_assert_uint_eq(det.count, 0);
	kcv_detections_release(&det);
}
END_TEST

START_TEST(test_levels_topk_clip)
{
	/* 5 anchors in 2 levels (3 + 2); top 2 per level */
	const float boxes[20] = {0, 0, 10, 10, 20, 0, 30, 10, 40, 0, 50, 10,
	                         -5, 60, 10, 80, 20, 60, 40, 120};
	const float scores[5] = {0.3f, 0.5f, 0.4f, 0.2f, 0.6f};
	const int levels[2] = {3, 2};
	dcase d;
	dcase_new(&d, "{\"plugin\": \"nms\", \"pre_nms_topk\": 2}");
	kcv_error err = {0};
	ck_assert_int_eq(dec_run(d.inst, boxes, scores, 5, 1, levels, 2, 100, 100, &d.det, &err),
	                 KCV_OK);
	expect(&d.det, boxes, (want[]){{4, 0.6f, 0}, {1, 0.5f, 0}, {2, 0.4f, 0}, {3, 0.2f, 0}}, 4,
	       "top 2 per level");
	/* the same instance again: the same answer */
	ck_assert_int_eq(dec_run(d.inst, boxes, scores, 5, 1, levels, 2, 100, 100, &d.det, &err),
	                 KCV_OK);
	ck_assert_uint_eq(d.det.count, 4);
	dcase_free(&d);
	/* clipping to 100 x 100 and a minimum size of 12: box 3 becomes
	 * [0, 60, 10, 80] (10 wide: dropped), box 4 [20, 60, 40, 100] */
	dcase_new(&d, "{\"plugin\": \"nms\", \"clip_boxes\": true, \"min_box_size\": 12}");
	ck_assert_int_eq(dec_run(d.inst, boxes, scores, 5, 1, levels, 2, 100, 100, &d.det, &err),
	                 KCV_OK);
	const float clipped[4] = {20, 60, 40, 100};
	ck_assert_uint_eq(d.det.count, 1);
	ck_assert(memcmp(d.det.boxes, clipped, sizeof(clipped)) == 0);
	dcase_free(&d);
}
END_TEST

/* ---- soft_nms --------------------------------------------------------------- */

START_TEST(test_soft_nms)
{
	/* A [0,0,10,10] 0.9; B [0,0,10,5] 0.8, IoU(A, B) = 0.5; C far away 0.7.
	 * gaussian (sigma 0.5): B -> 0.8 exp(-0.25 / 0.5) = 0.485225; picks A, C, B.
	 * linear (threshold 0.3): B -> 0.8 (1 - 0.5) = 0.4. */
	const float boxes[12] = {0, 0, 10, 10, 0, 0, 10, 5, 20, 20, 30, 30};
	const float scores[3] = {0.9f, 0.8f, 0.7f};
	kcv_detections det;
	decode_once("{\"plugin\": \"soft_nms\"}", boxes, scores, 3, 1, &det);
	float gb = (float)(0.8 * exp(-0.5));
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {2, 0.7f, 0}, {1, gb, 0}}, 3, "gaussian");
	kcv_detections_release(&det);
	decode_once("{\"plugin\": \"soft_nms\", \"method\": \"linear\"}", boxes, scores, 3, 1, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {2, 0.7f, 0}, {1, 0.4f, 0}}, 3, "linear");
	kcv_detections_release(&det);
	/* linear below its threshold: no decay */
	decode_once("{\"plugin\": \"soft_nms\", \"method\": \"linear\", \"iou_threshold\": 0.5}", boxes,
	            scores, 3, 1, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {1, 0.8f, 0}, {2, 0.7f, 0}}, 3, "linear at 0.5");
	kcv_detections_release(&det);
	/* the decayed score under score_threshold: dropped */
	decode_once("{\"plugin\": \"soft_nms\", \"score_threshold\": 0.5}", boxes, scores, 3, 1, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {2, 0.7f, 0}}, 2, "score_threshold");
	kcv_detections_release(&det);
	/* a decay that reorders: D overlaps A a lot (IoU 0.9) and falls under E */
	const float b2[12] = {0, 0, 10, 10, 0, 0, 10, 9, 50, 50, 60, 60};
	const float s2[3] = {0.9f, 0.85f, 0.5f};
	decode_once("{\"plugin\": \"soft_nms\", \"max_detections\": 2}", b2, s2, 3, 1, &det);
	expect(&det, b2, (want[]){{0, 0.9f, 0}, {2, 0.5f, 0}}, 2, "reordered, cut at 2");
	kcv_detections_release(&det);
	/* per class: the two classes do not decay each other */
	const float s3[6] = {0.9f, 0.0f, 0.0f, 0.8f, 0.0f, 0.0f};
	decode_once("{\"plugin\": \"soft_nms\"}", boxes, s3, 3, 2, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {1, 0.8f, 1}}, 2, "per class");
	kcv_detections_release(&det);
	decode_once("{\"plugin\": \"soft_nms\", \"class_agnostic\": true}", boxes, s3, 3, 2, &det);
	expect(&det, boxes, (want[]){{0, 0.9f, 0}, {1, gb, 1}}, 2, "agnostic");
	kcv_detections_release(&det);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------- */

static void expect_option_error(const char *json, const char *path, const char *text)
{
	plugin_check_option_error(KCV_KIND_DECODER, "model.decoder", 512, json, path, text);
}

START_TEST(test_bad_options)
{
	expect_option_error("{\"plugin\": \"nms\", \"iou_treshold\": 0.5}",
	                    "model.decoder.iou_treshold", "iou_threshold");
	expect_option_error("{\"plugin\": \"nms\", \"iou_threshold\": 1.5}",
	                    "model.decoder.iou_threshold", "1.5");
	expect_option_error("{\"plugin\": \"nms\", \"max_detections\": -1}",
	                    "model.decoder.max_detections", "-1");
	expect_option_error("{\"plugin\": \"nms\", \"max_detections\": 2.5}",
	                    "model.decoder.max_detections", "2.5");
	expect_option_error("{\"plugin\": \"nms\", \"sigma\": 0.5}", "model.decoder.sigma", "sigma");
	expect_option_error("{\"plugin\": \"soft_nms\", \"sigma\": 0}", "model.decoder.sigma",
	                    "must be > 0, got 0");
	expect_option_error("{\"plugin\": \"soft_nms\", \"method\": \"cubic\"}",
	                    "model.decoder.method", "cubic");
	expect_option_error("{\"plugin\": \"soft_nms\", \"max_detections_per_class\": 5}",
	                    "model.decoder.max_detections_per_class", "max_detections_per_class");
}
END_TEST

START_TEST(test_bad_inputs)
{
	dcase d;
	dcase_new(&d, "{\"plugin\": \"nms\"}");
	const float boxes[8] = {0, 0, 1, 1, 0, 0, 1, 1}, scores[2] = {0.5f, 0.5f};
	kcv_error err = {0};
	char msg[1400];
	const int levels[2] = {1, 2};
	ck_assert_int_eq(dec_run(d.inst, boxes, scores, 2, 1, levels, 2, 10, 10, &d.det, &err),
	                 KCV_ERR_INVALID);
	ck_assert_str_eq(kcv_error_format(&err, msg, sizeof(msg)),
	                 "test.json: model.decoder: decoder input: the levels hold 3 anchors, not 2");
	kcv_error_clear(&err);
	ck_assert_int_eq(dec_run(d.inst, boxes, scores, 2, 0, NULL, 0, 10, 10, &d.det, &err),
	                 KCV_ERR_INVALID);
	ck_assert_str_eq(kcv_error_format(&err, msg, sizeof(msg)),
	                 "test.json: model.decoder: decoder input: 2 anchors and 0 classes");
	kcv_error_clear(&err);
	ck_assert_int_eq(dec_run(d.inst, NULL, scores, 2, 1, NULL, 0, 10, 10, &d.det, &err),
	                 KCV_ERR_INVALID);
	ck_assert_str_eq(err.text, "decoder input without boxes");
	/* no anchors at all: no detections, no error */
	ck_assert_int_eq(dec_run(d.inst, NULL, NULL, 0, 1, NULL, 0, 10, 10, &d.det, &err), KCV_OK);
	ck_assert_uint_eq(d.det.count, 0);
	/* NaN scores are never candidates; NaN boxes do not crash */
	const float nb[8] = {NAN, 0, 1, 1, 0, 0, 1, 1}, ns[2] = {0.9f, NAN};
	ck_assert_int_eq(dec_run(d.inst, nb, ns, 2, 1, NULL, 0, 10, 10, &d.det, &err), KCV_OK);
	ck_assert_uint_eq(d.det.count, 1);
	dcase_free(&d);
}
END_TEST

static Suite *decoders_suite(void)
{
	Suite *s = suite_create("decoders");
	TCase *tc = tcase_create("nms");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_thresholds_strict);
	tcase_add_test(tc, test_ties);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_area_zero);
	tcase_add_test(tc, test_class_agnostic);
	tcase_add_test(tc, test_one_class_per_anchor);
	tcase_add_test(tc, test_levels_topk_clip);
	suite_add_tcase(s, tc);
	tc = tcase_create("soft_nms");
	tcase_add_test(tc, test_soft_nms);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_bad_inputs);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--run") == 0)
		return run_driver(argv[2], argv[3], argv[4]);
	if (argc == 2 && strcmp(argv[1], "--bench") == 0)
		return run_bench();
	if (argc > 1) {
		fprintf(stderr, "usage: check_decoders [--run SPEC IN.safetensors OUT.safetensors | "
		                "--bench]\n");
		return 2;
	}
	SRunner *sr = srunner_create(decoders_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
