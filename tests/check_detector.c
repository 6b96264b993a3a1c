/* The retinanet detector plugin: anchors (KerasCV's at 512x512 with the
 * base sizes of the reference, torchvision's rounded ones, odd input sizes),
 * the label encoder on hand-computed cases (IoU thresholds at their exact
 * boundaries, the ignore band, low-quality matches with ties, empty and
 * invalid ground truth), the box coder (round trips in both codings, the
 * exp clamp, clipping), the graph (parameter names, shapes, trainability,
 * initialisation, a forward pass) and option errors naming their JSON path.
 * torchvision parity of all of it is in tests/detector_parity.sh. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/kcv.h>

#define BACKBONE "\"backbone\": {\"plugin\": \"resnet18\"}"
/* torchvision's retinanet_resnet50_fpn anchors and coder */
#define TV_OPTIONS                                                                            \
	"\"ratio_definition\": \"h/w\", \"anchor_order\": \"ratio_major\", \"anchor_offset\": 0, " \
	"\"anchor_clip\": false, \"anchor_rounding\": \"torchvision\", \"box_variance\": [1, 1, "  \
	"1, 1], \"clip_boxes\": true, \"low_quality_matches\": true"

#define ck_assert_near(a, b, tol)                                                              \
	ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.9g, expected %.9g", #a, \
	              (double)(a), (double)(b))

typedef struct det {
	kcv_registry *reg;
	kcv_instance *inst;
	const kcv_detector_vtable *vt;
	void *priv;
	kcv_graph *g;
	kcv_node images;
	kcv_detector_outputs out;
	int width, height;
} det;

static kcv_context context(const kcv_registry *reg, int width, int height)
{
	return (kcv_context){.registry = reg, .source = "test.json", .path = "model", .seed = 1,
	                     .threads = 1, .image_width = width, .image_height = height,
	                     .box_format = KCV_BOX_XYXY, .split = "train"};
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(j != NULL, "test JSON does not parse: %s: %s", text, je.text);
	return j;
}

/* Create the detector from `json` and build it for n images of w x h. */
static void det_open(det *d, const char *json, int w, int h, int n)
{
	kcv_error err = {0};
	char msg[1400];
	memset(d, 0, sizeof(*d));
	d->reg = kcv_registry_new(NULL, &err);
	ck_assert_msg(d->reg != NULL, "registry: %s", kcv_error_format(&err, msg, sizeof(msg)));
	kcv_context ctx = context(d->reg, w, h);
	json_t *spec = parse(json);
	d->inst = kcv_instance_new(d->reg, KCV_KIND_DETECTOR, spec, &ctx, &err);
	json_decref(spec);
	ck_assert_msg(d->inst != NULL, "%s: %s", json, kcv_error_format(&err, msg, sizeof(msg)));
	d->vt = kcv_instance_component(d->inst)->vtable;
	d->priv = kcv_instance_priv(d->inst);
	kcv_graph_params gp = {.threads = 1};
	d->g = kcv_graph_new(&gp, &err);
	ck_assert(d->g != NULL);
	d->images = kcv_graph_input(d->g, "images", kcv_shape_4d(n, h, w, 3));
	d->width = w;
	d->height = h;
	ck_assert_msg(d->vt->build(d->priv, d->g, d->images, w, h, &d->out, &err) == KCV_OK,
	              "build: %s", kcv_error_format(&err, msg, sizeof(msg)));
}

static void det_close(det *d)
{
	kcv_graph_free(d->g);
	kcv_instance_free(d->inst);
	kcv_registry_free(d->reg);
	memset(d, 0, sizeof(*d));
}

/* The anchors as the box coder sees them: zero deltas decoded (caller frees). */
static float *det_anchors(det *d)
{
	int A = d->out.num_anchors;
	float *zeros = calloc((size_t)A * 4, sizeof(float)), *a = malloc((size_t)A * 4 * sizeof(float));
	ck_assert(zeros && a);
	kcv_error err = {0};
	ck_assert(d->vt->decode_boxes(d->priv, zeros, A, d->width, d->height, a, &err) == KCV_OK);
	free(zeros);
	return a;
}

/* Encode m xyxy boxes; classes and targets are allocated (caller frees). */
static void det_encode(det *d, const float *boxes, const int32_t *classes, size_t m,
                       int32_t **cls, float **tgt)
{
	int A = d->out.num_anchors;
	kcv_boxes gt = {0};
	kcv_error err = {0};
	char msg[1400];
	for (size_t i = 0; i < m; i++)
		ck_assert(kcv_boxes_push(&gt, boxes + 4 * i, classes[i], 0, 0, &err) == KCV_OK);
	*cls = malloc((size_t)A * sizeof(int32_t));
	*tgt = malloc((size_t)A * 4 * sizeof(float));
	ck_assert(*cls && *tgt);
	kcv_targets t = {.num_anchors = A, .box_targets = *tgt, .classes = *cls};
	ck_assert_msg(d->vt->encode(d->priv, &gt, d->width, d->height, &t, &err) == KCV_OK,
	              "encode: %s", kcv_error_format(&err, msg, sizeof(msg)));
	for (int a = 0; a < 4 * A; a++)
		ck_assert_msg(isfinite((*tgt)[a]), "box target %d is %g", a, (double)(*tgt)[a]);
	kcv_boxes_release(&gt);
}

/* ---- anchors ------------------------------------------------------------------ */

START_TEST(anchors_kerascv_512)
{
	det d;
	det_open(&d, "{\"plugin\": \"retinanet\", \"classes\": 20, " BACKBONE "}", 512, 512, 1);
	static const int counts[5] = {64 * 64 * 9, 32 * 32 * 9, 16 * 16 * 9, 8 * 8 * 9, 4 * 4 * 9};
	ck_assert_int_eq(d.out.num_anchors, 49104);
	ck_assert_int_eq(d.out.num_classes, 20);
	ck_assert_int_eq(d.out.num_levels, 5);
	for (int l = 0; l < 5; l++) {
		ck_assert_int_eq(d.out.level_anchors[l], counts[l]);
		ck_assert_int_eq(d.out.level_strides[l], 8 << l);
	}
	kcv_shape cs = kcv_graph_shape(d.g, d.out.class_logits);
	kcv_shape bs = kcv_graph_shape(d.g, d.out.box_deltas);
	ck_assert(cs.rank == 3 && cs.d[0] == 1 && cs.d[1] == 49104 && cs.d[2] == 20);
	ck_assert(bs.rank == 3 && bs.d[0] == 1 && bs.d[1] == 49104 && bs.d[2] == 4);
	float *a = det_anchors(&d);
	/* P3, row 10, column 20: centre (164, 84); k = 3 * scale + ratio, ratio = w/h */
	const double scales[3] = {1, 1.2599210498948732, 1.5874010519681994}, ratios[3] = {0.5, 1, 2};
	for (int k = 0; k < 9; k++) {
		const float *b = a + 4 * ((10 * 64 + 20) * 9 + k);
		double s = 32 * scales[k / 3], r = ratios[k % 3];
		double w = s * sqrt(r), h = s / sqrt(r);
		ck_assert_near(b[0], 164 - w / 2, 1e-3);
		ck_assert_near(b[1], 84 - h / 2, 1e-3);
		ck_assert_near(b[2], 164 + w / 2, 1e-3);
		ck_assert_near(b[3], 84 + h / 2, 1e-3);
	}
	/* the reference's base sizes 32 / 40.32 / 50.80 */
	const float *b = a + 4 * ((10 * 64 + 20) * 9 + 4);
	ck_assert_near(b[2] - b[0], 40.32, 0.005);
	b = a + 4 * ((10 * 64 + 20) * 9 + 7);
	ck_assert_near(b[3] - b[1], 50.80, 0.005);
	/* clipping: P3's first anchor (centre (4, 4), 22.6 x 45.3) and P7's, 512 x 512 */
	ck_assert_near(a[0], 0, 0);
	ck_assert_near(a[1], 0, 0);
	ck_assert_near(a[2], 4 + 16 * sqrt(0.5), 1e-3);
	ck_assert_near(a[3], 4 + 16 / sqrt(0.5), 1e-3);
	const float *p7 = a + 4 * (49104 - 144 + 4); /* P7 (0, 0), scale 1 ratio 1 */
	ck_assert_near(p7[0], 0, 0);
	ck_assert_near(p7[1], 0, 0);
	ck_assert_near(p7[2], 64 + 322.54, 0.01);
	ck_assert_near(p7[3], 64 + 322.54, 0.01);
	/* P7 (3, 3): centre 448, 512 x 2^(2/3), w/h 2: 1149 x 575 */
	const float *last = a + 4 * (49104 - 1);
	ck_assert_near(last[0], 0, 0);
	ck_assert_near(last[1], 448 - 512 * 1.5874010519681994 / sqrt(2) / 2, 1e-3);
	ck_assert_near(last[2], 512, 0);
	ck_assert_near(last[3], 512, 0);
	for (int i = 0; i < 49104 * 4; i++)
		ck_assert(a[i] >= 0 && a[i] <= 512);
	free(a);
	det_close(&d);
}
END_TEST

START_TEST(anchors_unclipped_base_sizes)
{
	det d;
	det_open(&d,
	         "{\"plugin\": \"retinanet\", \"classes\": 2, \"anchor_clip\": false, " BACKBONE "}",
	         512, 512, 1);
	float *a = det_anchors(&d);
	/* sqrt(w h) of every level and scale: the reference's table */
	static const double sizes[5][3] = {{32, 40.32, 50.80},
	                                   {64, 80.63, 101.59},
	                                   {128, 161.27, 203.19},
	                                   {256, 322.54, 406.37},
	                                   {512, 645.08, 812.75}};
	static const double ratios[3] = {0.5, 1, 2};
	int start = 0;
	for (int l = 0; l < 5; l++) {
		int grid = 64 >> l;
		for (int k = 0; k < 9; k++) {
			const float *b = a + 4 * (start + k);
			double w = b[2] - b[0], h = b[3] - b[1];
			ck_assert_near(sqrt(w * h), sizes[l][k / 3], 0.006);
			ck_assert_near(w / h, ratios[k % 3], 1e-4);
			/* centred on cell (0, 0): (0.5 stride, 0.5 stride) */
			ck_assert_near((b[0] + b[2]) / 2, 4 << l, 1e-3);
		}
		start += grid * grid * 9;
	}
	free(a);
	det_close(&d);
}
END_TEST

START_TEST(anchors_torchvision)
{
	det d;
	det_open(&d, "{\"plugin\": \"retinanet\", \"classes\": 2, " TV_OPTIONS ", " BACKBONE "}", 512,
	         512, 1);
	ck_assert_int_eq(d.out.num_anchors, 49104);
	/* torchvision's AnchorGenerator cell anchors (ratio-major, h/w, rounded
	 * half to even: 50.5 -> 50, 80.5 -> 80, 322.5 -> 322) */
	static const float p3[9][4] = {{-23, -11, 23, 11}, {-28, -14, 28, 14}, {-35, -18, 35, 18},
	                               {-16, -16, 16, 16}, {-20, -20, 20, 20}, {-25, -25, 25, 25},
	                               {-11, -23, 11, 23}, {-14, -28, 14, 28}, {-18, -35, 18, 35}};
	static const float p4_scale2_ratio1[4] = {-50, -50, 50, 50};
	static const float p6_scale1[3][4] = {
		{-228, -114, 228, 114}, {-161, -161, 161, 161}, {-114, -228, 114, 228}};
	static const float p7[9][4] = {{-362, -181, 362, 181}, {-456, -228, 456, 228},
	                               {-574, -287, 574, 287}, {-256, -256, 256, 256},
	                               {-322, -322, 322, 322}, {-406, -406, 406, 406},
	                               {-181, -362, 181, 362}, {-228, -456, 228, 456},
	                               {-287, -574, 287, 574}};
	float *a = det_anchors(&d);
	/* P3 row 5, column 6: shift (48, 40), no offset */
	for (int k = 0; k < 9; k++) {
		const float *b = a + 4 * ((5 * 64 + 6) * 9 + k);
		ck_assert_near(b[0], 48 + p3[k][0], 0);
		ck_assert_near(b[1], 40 + p3[k][1], 0);
		ck_assert_near(b[2], 48 + p3[k][2], 0);
		ck_assert_near(b[3], 40 + p3[k][3], 0);
	}
	const float *b = a + 4 * (36864 + (4 * 32 + 4) * 9 + 5); /* P4 (4, 4), ratio 1, scale 2 */
	for (int c = 0; c < 4; c++)
		ck_assert_near(b[c], 64 + p4_scale2_ratio1[c], 0);
	for (int r = 0; r < 3; r++) { /* P6 (4, 4): shift (256, 256) */
		b = a + 4 * (36864 + 9216 + 2304 + (4 * 8 + 4) * 9 + 3 * r + 1);
		for (int c = 0; c < 4; c++)
			ck_assert_near(b[c], 256 + p6_scale1[r][c], 0);
	}
	for (int k = 0; k < 9; k++) { /* P7 (3, 2): shift (256, 384); clipped only as boxes */
		b = a + 4 * (49104 - 144 + (3 * 4 + 2) * 9 + k);
		ck_assert_near(b[0], fmaxf(256 + p7[k][0], 0), 0);
		ck_assert_near(b[1], fminf(fmaxf(384 + p7[k][1], 0), 512), 0);
		ck_assert_near(b[2], fminf(256 + p7[k][2], 512), 0);
		ck_assert_near(b[3], fminf(384 + p7[k][3], 512), 0);
	}
	free(a);
	det_close(&d);
}
END_TEST

START_TEST(anchors_odd_size)
{
	/* 300 x 200: C3..C5 38x25, 19x13, 10x7 (conv and pooling arithmetic),
	 * P6 5x4, P7 3x2 */
	det d;
	det_open(&d, "{\"plugin\": \"retinanet\", \"classes\": 3, " BACKBONE "}", 300, 200, 2);
	static const int cells[5] = {38 * 25, 19 * 13, 10 * 7, 5 * 4, 3 * 2};
	int total = 0;
	for (int l = 0; l < 5; l++) {
		ck_assert_int_eq(d.out.level_anchors[l], cells[l] * 9);
		total += cells[l] * 9;
	}
	ck_assert_int_eq(d.out.num_anchors, total);
	ck_assert_int_eq(total, 11637);
	kcv_shape cs = kcv_graph_shape(d.g, d.out.class_logits);
	ck_assert(cs.d[0] == 2 && cs.d[1] == total && cs.d[2] == 3);
	float *a = det_anchors(&d);
	/* the last P3 location: row 24, column 37, centre (300, 196): clipped */
	const float *b = a + 4 * ((24 * 38 + 37) * 9 + 4);
	ck_assert_near(b[0], 300 - 20.159, 1e-3);
	ck_assert_near(b[2], 300, 0);
	ck_assert_near(b[3], 200, 0);
	free(a);
	/* the symmetric padding and P6 from P5 give the same grids */
	det e;
	det_open(&e,
	         "{\"plugin\": \"retinanet\", \"classes\": 3, \"p6_input\": \"p5\", "
	         "\"extra_padding\": \"symmetric\", " BACKBONE "}",
	         300, 200, 1);
	ck_assert_int_eq(e.out.num_anchors, total);
	det_close(&e);
	/* a second graph of another size on the same instance: the encoder
	 * keeps the anchors of both sizes */
	kcv_error err = {0};
	kcv_graph_params gp = {.threads = 1};
	kcv_graph *g2 = kcv_graph_new(&gp, &err);
	kcv_node im2 = kcv_graph_input(g2, "images", kcv_shape_4d(1, 128, 128, 3));
	kcv_detector_outputs o2;
	ck_assert(d.vt->build(d.priv, g2, im2, 128, 128, &o2, &err) == KCV_OK);
	ck_assert_int_eq(o2.num_anchors, 9 * 341);
	int32_t *cls;
	float *t;
	float box[4] = {100, 50, 200, 150};
	det_encode(&d, box, (int32_t[]){1}, 1, &cls, &t); /* 300 x 200 */
	free(cls);
	free(t);
	d.width = d.height = 128;
	d.out.num_anchors = o2.num_anchors;
	float small[4] = {10, 10, 60, 60};
	det_encode(&d, small, (int32_t[]){2}, 1, &cls, &t);
	int positives = 0;
	for (int i = 0; i < o2.num_anchors; i++)
		positives += cls[i] == 2;
	ck_assert_int_gt(positives, 0);
	free(cls);
	free(t);
	kcv_graph_free(g2);
	det_close(&d);
}
END_TEST

START_TEST(levels_subset)
{
	/* the quickstart's P3..P5: no P6/P7 layers, sizes given per level */
	det d;
	det_open(&d,
	         "{\"plugin\": \"retinanet\", \"classes\": 4, \"max_level\": 5, \"anchor_sizes\": "
	         "[16, 32, 64], \"anchor_scales\": [1], \"anchor_ratios\": [1, 2], " BACKBONE "}",
	         128, 96, 1);
	ck_assert_int_eq(d.out.num_levels, 3);
	ck_assert_int_eq(d.out.num_anchors, 2 * (16 * 12 + 8 * 6 + 4 * 3));
	ck_assert(kcv_graph_find(d.g, "fpn.p6.weight") < 0);
	ck_assert(kcv_graph_find(d.g, "fpn.p7.weight") < 0);
	ck_assert(kcv_graph_find(d.g, "fpn.layer.2.weight") >= 0);
	float *a = det_anchors(&d);
	ck_assert_near(a[4 * 11 + 2] - a[4 * 11 + 0], 16 * sqrt(2), 1e-3); /* (0, 5), w/h = 2 */
	const float *p5 = a + 4 * (2 * (16 * 12 + 8 * 6) + 2 * 5);      /* P5 (1, 1), ratio 1 */
	ck_assert_near(p5[0], 48 - 32, 1e-4);
	ck_assert_near(p5[3], 48 + 32, 1e-4);
	free(a);
	det_close(&d);
	/* only P6..P7, from C5 */
	det_open(&d, "{\"plugin\": \"retinanet\", \"classes\": 1, \"min_level\": 6, " BACKBONE "}",
	         256, 256, 1);
	ck_assert_int_eq(d.out.num_anchors, 9 * (4 * 4 + 2 * 2));
	ck_assert_int_eq(d.out.level_strides[0], 64);
	ck_assert(kcv_graph_find(d.g, "fpn.inner.0.weight") < 0);
	ck_assert(kcv_graph_find(d.g, "fpn.p6.weight") >= 0);
	det_close(&d);
}
END_TEST

/* ---- label encoder --------------------------------------------------------------- */

/* One anchor per location at P5 (stride 32, size 32, centred, unclipped) on
 * a 64 x 64 image: anchors [0,0,32,32], [32,0,64,32], [0,32,32,64],
 * [32,32,64,64]. */
#define GRID4                                                                              \
	"{\"plugin\": \"retinanet\", \"classes\": 3, \"min_level\": 5, \"max_level\": 5, "     \
	"\"anchor_sizes\": [32], \"anchor_scales\": [1], \"anchor_ratios\": [1], "            \
	"\"anchor_clip\": false, " BACKBONE

START_TEST(encode_thresholds)
{
	det d;
	det_open(&d, GRID4 "}", 64, 64, 1);
	ck_assert_int_eq(d.out.num_anchors, 4);
	int32_t *cls;
	float *t;
	/* IoU exactly 0.5 (512 / 1024): positive */
	float half[4] = {0, 0, 32, 16};
	det_encode(&d, half, (int32_t[]){2}, 1, &cls, &t);
	ck_assert_int_eq(cls[0], 2);
	ck_assert_int_eq(cls[1], KCV_TARGET_BACKGROUND);
	ck_assert_int_eq(cls[2], KCV_TARGET_BACKGROUND);
	/* centre coding, variance 0.1/0.2: dy = (8 - 16) / 32 / 0.1, dh = ln(0.5) / 0.2 */
	ck_assert_near(t[0], 0, 1e-6);
	ck_assert_near(t[1], -2.5, 1e-5);
	ck_assert_near(t[2], 0, 1e-6);
	ck_assert_near(t[3], log(0.5) / 0.2, 1e-5);
	for (int i = 4; i < 16; i++)
		ck_assert(t[i] == 0);
	free(cls);
	free(t);
	/* IoU exactly 0.4f (12.8f / 32): ignored, not background */
	float forty[4] = {0, 0, 32, 12.8f};
	det_encode(&d, forty, (int32_t[]){1}, 1, &cls, &t);
	ck_assert_int_eq(cls[0], KCV_TARGET_IGNORE);
	ck_assert(t[0] == 0 && t[1] == 0 && t[2] == 0 && t[3] == 0);
	free(cls);
	free(t);
	/* just below 0.4: background; 0.45: ignored; 0.4999: ignored */
	float below[4] = {0, 0, 32, 12.7f}, band[4] = {0, 0, 32, 14.4f}, almost[4] = {0, 0, 32, 15.99f};
	det_encode(&d, below, (int32_t[]){1}, 1, &cls, &t);
	ck_assert_int_eq(cls[0], KCV_TARGET_BACKGROUND);
	free(cls);
	free(t);
	det_encode(&d, band, (int32_t[]){1}, 1, &cls, &t);
	ck_assert_int_eq(cls[0], KCV_TARGET_IGNORE);
	free(cls);
	free(t);
	det_encode(&d, almost, (int32_t[]){1}, 1, &cls, &t);
	ck_assert_int_eq(cls[0], KCV_TARGET_IGNORE);
	free(cls);
	free(t);
	/* two objects: each anchor takes its best; the first wins a tie */
	float two[8] = {0, 0, 32, 32, 32, 32, 64, 64}, tie[8] = {0, 0, 32, 20, 0, 12, 32, 32};
	det_encode(&d, two, (int32_t[]){0, 1}, 2, &cls, &t);
	ck_assert(cls[0] == 0 && cls[3] == 1 && cls[1] == -1 && cls[2] == -1);
	free(cls);
	free(t);
	det_encode(&d, tie, (int32_t[]){2, 1}, 2, &cls, &t); /* both IoU 0.625 */
	ck_assert_int_eq(cls[0], 2);
	ck_assert_near(t[1], (10 - 16) / 32.0 / 0.1, 1e-5); /* encoded against the first */
	free(cls);
	free(t);
	det_close(&d);
}
END_TEST

START_TEST(encode_low_quality)
{
	det d;
	det_open(&d, GRID4 ", \"low_quality_matches\": true}", 64, 64, 1);
	int32_t *cls;
	float *t;
	/* a 16 x 16 object straddling anchors 0 and 1: IoU 128 / 1152 with both,
	 * a tie: both become positives */
	float small[4] = {24, 8, 40, 24};
	det_encode(&d, small, (int32_t[]){1}, 1, &cls, &t);
	ck_assert(cls[0] == 1 && cls[1] == 1 && cls[2] == -1 && cls[3] == -1);
	ck_assert_near(t[0], (32 - 16) / 32.0 / 0.1, 1e-5);
	ck_assert_near(t[4], (32 - 48) / 32.0 / 0.1, 1e-5);
	ck_assert_near(t[2], log(0.5) / 0.2, 1e-5);
	ck_assert_near(t[7], log(0.5) / 0.2, 1e-5);
	free(cls);
	free(t);
	/* object 1's best anchor (0, IoU 0.25) belongs to object 0 (IoU 0.5): it
	 * stays object 0's, as torchvision's Matcher (matches = all_matches) */
	float both[8] = {0, 0, 32, 16, 8, 8, 24, 24};
	det_encode(&d, both, (int32_t[]){0, 2}, 2, &cls, &t);
	ck_assert_int_eq(cls[0], 0);
	ck_assert(cls[1] == -1 && cls[2] == -1 && cls[3] == -1);
	ck_assert_near(t[1], -2.5, 1e-5);
	free(cls);
	free(t);
	det_close(&d);
	/* without low-quality matches the straddling object gets nothing */
	det_open(&d, GRID4 "}", 64, 64, 1);
	det_encode(&d, small, (int32_t[]){1}, 1, &cls, &t);
	ck_assert(cls[0] == -1 && cls[1] == -1);
	free(cls);
	free(t);
	det_close(&d);
}
END_TEST

START_TEST(encode_empty_and_invalid)
{
	det d;
	det_open(&d, GRID4 ", \"low_quality_matches\": true}", 64, 64, 1);
	int32_t *cls;
	float *t;
	det_encode(&d, NULL, NULL, 0, &cls, &t);
	for (int a = 0; a < 4; a++)
		ck_assert_int_eq(cls[a], KCV_TARGET_BACKGROUND);
	free(cls);
	free(t);
	/* no area, inverted, NaN, infinite, padding class -1: all left out */
	float bad[24] = {10, 10, 10, 20, 30, 30, 20, 40, NAN, 0, 10, 10,
	                 0, 0, INFINITY, 32, 0, 0, 32, 32, 5, 5, 5, 5};
	det_encode(&d, bad, (int32_t[]){0, 1, 2, 0, -1, 1}, 6, &cls, &t);
	for (int a = 0; a < 4; a++)
		ck_assert_int_eq(cls[a], KCV_TARGET_BACKGROUND);
	for (int i = 0; i < 16; i++)
		ck_assert(t[i] == 0);
	free(cls);
	free(t);
	/* a class the detector does not have is an error */
	kcv_boxes gt = {0};
	kcv_error err = {0};
	ck_assert(kcv_boxes_push(&gt, (float[]){0, 0, 32, 32}, 3, 0, 0, &err) == KCV_OK);
	int32_t c4[4];
	float t4[16];
	kcv_targets tg = {.num_anchors = 4, .box_targets = t4, .classes = c4};
	ck_assert(d.vt->encode(d.priv, &gt, 64, 64, &tg, &err) == KCV_ERR_INVALID);
	ck_assert_msg(strstr(err.text, "class 3") && strstr(err.text, "3 classes"), "%s", err.text);
	/* a size no graph was built for */
	kcv_error_clear(&err);
	ck_assert(d.vt->encode(d.priv, &gt, 128, 64, &tg, &err) != KCV_OK);
	ck_assert_msg(strstr(err.text, "128x64") != NULL, "%s", err.text);
	/* boxes in another format are converted (xywh here) */
	kcv_boxes_clear(&gt);
	gt.format = KCV_BOX_XYWH;
	ck_assert(kcv_boxes_push(&gt, (float[]){32, 32, 32, 32}, 2, 0, 0, &err) == KCV_OK);
	kcv_error_clear(&err);
	ck_assert(d.vt->encode(d.priv, &gt, 64, 64, &tg, &err) == KCV_OK);
	ck_assert(c4[3] == 2 && c4[0] == -1);
	kcv_boxes_release(&gt);
	det_close(&d);
}
END_TEST

/* ---- box coder ------------------------------------------------------------------ */

static void round_trip(const char *json)
{
	det d;
	det_open(&d, json, 512, 512, 1);
	static const float boxes[5 * 4] = {10,  20,  110, 90,  200, 40,  260, 200, 300.5f, 150.25f,
	                                   340, 181, 40,  160, 500, 500, 0,   0,   512,    512};
	int32_t *cls;
	float *t;
	det_encode(&d, boxes, (int32_t[]){0, 1, 2, 3, 4}, 5, &cls, &t);
	int A = d.out.num_anchors, positives = 0;
	float *dec = malloc((size_t)A * 4 * sizeof(float));
	kcv_error err = {0};
	ck_assert(d.vt->decode_boxes(d.priv, t, A, 512, 512, dec, &err) == KCV_OK);
	for (int a = 0; a < A; a++) {
		if (cls[a] < 0)
			continue;
		positives++;
		const float *g = boxes + 4 * cls[a];
		for (int c = 0; c < 4; c++)
			ck_assert_msg(fabsf(dec[4 * a + c] - g[c]) < 2e-3f, "%s: anchor %d: %g vs %g", json,
			              a, (double)dec[4 * a + c], (double)g[c]);
	}
	ck_assert_int_ge(positives, 5);
	free(dec);
	free(cls);
	free(t);
	det_close(&d);
}

START_TEST(coder_round_trip)
{
	round_trip("{\"plugin\": \"retinanet\", \"classes\": 5, " BACKBONE "}");
	round_trip("{\"plugin\": \"retinanet\", \"classes\": 5, \"box_coding\": \"top_left\", " BACKBONE
	           "}");
	round_trip("{\"plugin\": \"retinanet\", \"classes\": 5, " TV_OPTIONS ", " BACKBONE "}");
}
END_TEST

START_TEST(coder_top_left_and_clamp)
{
	det d;
	det_open(&d, GRID4 ", \"box_coding\": \"top_left\"}", 64, 64, 1);
	int32_t *cls;
	float *t;
	/* KerasCV 0.3: [(x - xa) / wa, (y - ya) / ha, ln(w / wa), ln(h / ha)] / variance */
	float g[4] = {36, 40, 68, 56}; /* IoU with anchor 3: (28 x 16) / (1024 + 512 - 448) */
	det_encode(&d, g, (int32_t[]){0}, 1, &cls, &t);
	ck_assert_int_eq(cls[3], -2); /* 448 / 1088 = 0.41 */
	free(cls);
	free(t);
	float g2[4] = {36, 34, 68, 66};
	det_encode(&d, g2, (int32_t[]){0}, 1, &cls, &t);
	ck_assert_int_eq(cls[3], 0);
	ck_assert_near(t[12], (36 - 32) / 32.0 / 0.1, 1e-5);
	ck_assert_near(t[13], (34 - 32) / 32.0 / 0.1, 1e-5);
	ck_assert_near(t[14], 0, 1e-6);
	free(cls);
	free(t);
	/* decode: w = exp(min(0.2 dw, clamp)) wa */
	float deltas[16] = {1, 2, 100, -1}, out[16];
	kcv_error err = {0};
	ck_assert(d.vt->decode_boxes(d.priv, deltas, 4, 64, 64, out, &err) == KCV_OK);
	ck_assert_near(out[0], 3.2, 1e-5);
	ck_assert_near(out[1], 6.4, 1e-5);
	ck_assert_near(out[2], 3.2 + 32 * 1000 / 16.0, 1e-2); /* clamped at ln(1000/16) */
	ck_assert_near(out[3], 6.4 + 32 * exp(-0.2), 1e-4);
	det_close(&d);
	/* no clamp; clipping to the image */
	det_open(&d, GRID4 ", \"decode_clamp\": 0, \"clip_boxes\": true}", 64, 64, 1);
	float d2[16] = {0, 0, 10, -0.5f};
	ck_assert(d.vt->decode_boxes(d.priv, d2, 4, 64, 64, out, &err) == KCV_OK);
	ck_assert_near(out[0], 0, 0);
	ck_assert_near(out[2], 64, 0);
	ck_assert_near(out[1], 16 - 16 * exp(-0.1), 1e-4);
	det_close(&d);
	det_open(&d, GRID4 ", \"decode_clamp\": 0}", 64, 64, 1);
	ck_assert(d.vt->decode_boxes(d.priv, d2, 4, 64, 64, out, &err) == KCV_OK);
	ck_assert_near(out[0], 16 - 16 * exp(2.0), 1e-3);
	ck_assert_near(out[2], 16 + 16 * exp(2.0), 1e-3);
	ck_assert(d.vt->decode_boxes(d.priv, d2, 5, 64, 64, out, &err) != KCV_OK);
	det_close(&d);
}
END_TEST

/* ---- graph: names, initialisation, forward ------------------------------------------ */

START_TEST(graph_params_and_init)
{
	det d;
	det_open(&d,
	         "{\"plugin\": \"retinanet\", \"classes\": 3, \"fpn_channels\": 16, \"max_level\": 6, "
	         "\"head_convs\": 2, " BACKBONE "}",
	         96, 64, 2);
	static const struct {
		const char *name;
		int64_t d[4];
		int rank;
	} want[] = {
		{"fpn.inner.0.weight", {1, 1, 128, 16}, 4}, {"fpn.inner.2.bias", {16}, 1},
		{"fpn.layer.1.weight", {3, 3, 16, 16}, 4},  {"fpn.p6.weight", {3, 3, 512, 16}, 4},
		{"head.cls.conv.1.weight", {3, 3, 16, 16}, 4},
		{"head.cls.logits.weight", {3, 3, 16, 27}, 4},
		{"head.cls.logits.bias", {27}, 1},          {"head.box.deltas.weight", {3, 3, 16, 36}, 4},
		{"head.box.conv.0.bias", {16}, 1},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		kcv_node n = kcv_graph_find(d.g, want[i].name);
		ck_assert_msg(n >= 0, "no parameter %s", want[i].name);
		kcv_shape s = kcv_graph_shape(d.g, n), e = kcv_shape_make(want[i].rank, want[i].d);
		ck_assert_msg(kcv_shape_equal(&s, &e), "%s has the wrong shape", want[i].name);
		ck_assert(kcv_graph_param_trainable(d.g, n));
	}
	ck_assert(kcv_graph_find(d.g, "fpn.p7.weight") < 0);
	ck_assert(kcv_graph_find(d.g, "head.cls.conv.2.weight") < 0);
	ck_assert(kcv_graph_find(d.g, "head.cls.norm.0.weight") < 0);
	ck_assert(kcv_graph_find(d.g, "layer1.0.conv1.weight") >= 0); /* the backbone's own */
	kcv_error err = {0};
	char msg[1400];
	ck_assert(kcv_graph_mark_output(d.g, d.out.class_logits) == KCV_OK);
	ck_assert(kcv_graph_mark_output(d.g, d.out.box_deltas) == KCV_OK);
	ck_assert(kcv_graph_compile(d.g, &err) == KCV_OK);
	ck_assert_msg(d.vt->load(d.priv, d.g, NULL, &err) == KCV_OK, "%s",
	              kcv_error_format(&err, msg, sizeof(msg)));
	/* class bias -ln(99), box bias 0, orthogonal head kernels (144 x 16) */
	const float *cb = kcv_graph_data(d.g, kcv_graph_find(d.g, "head.cls.logits.bias"));
	for (int i = 0; i < 27; i++)
		ck_assert_near(cb[i], -log(99.0), 1e-6);
	const float *bb = kcv_graph_data(d.g, kcv_graph_find(d.g, "head.box.deltas.bias"));
	for (int i = 0; i < 36; i++)
		ck_assert(bb[i] == 0);
	const float *w = kcv_graph_data(d.g, kcv_graph_find(d.g, "head.cls.conv.1.weight"));
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++) {
			double dot = 0;
			for (int r = 0; r < 144; r++)
				dot += (double)w[r * 16 + i] * w[r * 16 + j];
			ck_assert_near(dot, i == j, 1e-5);
		}
	/* the logits' kernel (144 x 27): orthonormal columns too */
	const float *lw = kcv_graph_data(d.g, kcv_graph_find(d.g, "head.cls.logits.weight"));
	double n0 = 0;
	for (int r = 0; r < 144; r++)
		n0 += (double)lw[r * 27] * lw[r * 27];
	ck_assert_near(n0, 1, 1e-5);
	/* FPN: kaiming uniform, bound sqrt(3 / 128) for the first lateral */
	const float *fw = kcv_graph_data(d.g, kcv_graph_find(d.g, "fpn.inner.0.weight"));
	float mx = 0;
	for (int i = 0; i < 128 * 16; i++)
		mx = fmaxf(mx, fabsf(fw[i]));
	ck_assert(mx <= sqrtf(3.0f / 128) && mx > 0.9f * sqrtf(3.0f / 128));
	/* a forward pass: finite outputs, the logits near the prior at init */
	float *img = kcv_graph_data(d.g, d.images);
	for (int i = 0; i < 2 * 64 * 96 * 3; i++)
		img[i] = (float)((i * 37) % 256);
	ck_assert(kcv_graph_forward(d.g, &err) == KCV_OK);
	const float *lg = kcv_graph_data(d.g, d.out.class_logits);
	size_t nl = (size_t)2 * d.out.num_anchors * 3;
	for (size_t i = 0; i < nl; i++)
		ck_assert(isfinite(lg[i]));
	det_close(&d);
}
END_TEST

START_TEST(graph_group_norm_and_normal_init)
{
	det d;
	det_open(&d,
	         "{\"plugin\": \"retinanet\", \"classes\": 2, \"fpn_channels\": 32, \"head_channels\": "
	         "16, \"head_norm\": \"group\", \"head_norm_groups\": 4, \"head_init\": \"normal\", "
	         "\"max_level\": 5, " BACKBONE "}",
	         64, 64, 1);
	ck_assert(kcv_graph_find(d.g, "head.cls.conv.0.bias") < 0);
	ck_assert(kcv_graph_find(d.g, "head.box.norm.2.weight") >= 0);
	kcv_node w0 = kcv_graph_find(d.g, "head.cls.conv.0.weight");
	kcv_shape s = kcv_graph_shape(d.g, w0);
	ck_assert(s.d[2] == 32 && s.d[3] == 16);
	kcv_error err = {0};
	ck_assert(kcv_graph_compile(d.g, &err) == KCV_OK);
	ck_assert(d.vt->load(d.priv, d.g, NULL, &err) == KCV_OK);
	const float *w = kcv_graph_data(d.g, w0);
	double ss = 0;
	for (int i = 0; i < 9 * 32 * 16; i++)
		ss += (double)w[i] * w[i];
	ck_assert_near(sqrt(ss / (9 * 32 * 16)), 0.01, 0.001);
	const float *gm = kcv_graph_data(d.g, kcv_graph_find(d.g, "head.cls.norm.1.weight"));
	ck_assert(gm[0] == 1 && gm[15] == 1);
	det_close(&d);
}
END_TEST

START_TEST(graph_backward)
{
	/* the shared heads collect the gradients of every level: d(sum of the
	 * logits) / d(logit bias j) = N x the number of locations */
	det d;
	det_open(&d,
	         "{\"plugin\": \"retinanet\", \"classes\": 2, \"fpn_channels\": 8, \"head_convs\": 1, "
	         "\"head_norm\": \"group\", \"head_norm_groups\": 2, " BACKBONE "}",
	         128, 128, 2);
	kcv_error err = {0};
	char msg[1400];
	kcv_node sq = kcv_op_square(d.g, d.out.box_deltas);
	kcv_node loss = kcv_op_add(d.g, kcv_op_sum(d.g, d.out.class_logits, KCV_AXIS_ALL, 0),
	                           kcv_op_sum(d.g, sq, KCV_AXIS_ALL, 0));
	ck_assert_msg(kcv_graph_backward(d.g, loss, &err) == KCV_OK, "%s",
	              kcv_error_format(&err, msg, sizeof(msg)));
	ck_assert(kcv_graph_compile(d.g, &err) == KCV_OK);
	ck_assert(d.vt->load(d.priv, d.g, NULL, &err) == KCV_OK);
	float *img = kcv_graph_data(d.g, d.images);
	for (int i = 0; i < 2 * 128 * 128 * 3; i++)
		img[i] = (float)((i * 53) % 256);
	ck_assert(kcv_graph_forward(d.g, &err) == KCV_OK);
	ck_assert(kcv_graph_run_backward(d.g, &err) == KCV_OK);
	const int locations = 16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1;
	const float *gb = kcv_graph_grad(d.g, kcv_graph_find(d.g, "head.cls.logits.bias"));
	for (int j = 0; j < 18; j++)
		ck_assert_near(gb[j], 2 * locations, 1e-3);
	static const char *const nonzero[] = {"fpn.inner.0.weight", "fpn.p7.weight",
	                                      "head.box.norm.0.weight", "head.box.deltas.bias"};
	for (size_t i = 0; i < 4; i++) {
		kcv_node n = kcv_graph_find(d.g, nonzero[i]);
		const float *gr = kcv_graph_grad(d.g, n);
		ck_assert_msg(gr != NULL, "no gradient for %s", nonzero[i]);
		kcv_shape s = kcv_graph_shape(d.g, n);
		double ss = 0;
		for (int64_t k = 0; k < kcv_shape_numel(&s); k++)
			ss += (double)gr[k] * gr[k];
		ck_assert_msg(ss > 0 && isfinite(ss), "%s: zero or non-finite gradient", nonzero[i]);
	}
	/* the frozen backbone gets none */
	ck_assert(!kcv_graph_param_trainable(d.g, kcv_graph_find(d.g, "layer1.0.conv1.weight")));
	det_close(&d);
}
END_TEST

/* ---- option errors ---------------------------------------------------------------- */

static void expect_error(const char *json, const char *path, const char *text)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	ck_assert(reg != NULL);
	kcv_context ctx = context(reg, 512, 512);
	json_t *spec = parse(json);
	kcv_instance *inst = kcv_instance_new(reg, KCV_KIND_DETECTOR, spec, &ctx, &err);
	json_decref(spec);
	ck_assert_msg(inst == NULL, "%s was accepted", json);
	kcv_error_format(&err, msg, sizeof(msg));
	ck_assert_msg(strcmp(err.path, path) == 0, "%s: path \"%s\", expected \"%s\" (%s)", json,
	              err.path, path, msg);
	ck_assert_msg(strstr(msg, text) != NULL, "%s: \"%s\" not in \"%s\"", json, text, msg);
	ck_assert_msg(strstr(msg, "test.json") != NULL, "no file in \"%s\"", msg);
	kcv_registry_free(reg);
}

START_TEST(option_errors)
{
	expect_error("{\"plugin\": \"retinanet\", " BACKBONE "}", "model.classes", "classes");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"max_level\": 5, \"anchor_sizes\": "
	             "[32, 64], " BACKBONE "}",
	             "model.anchor_sizes", "2 sizes for 3 levels (P3..P5)");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"min_level\": 5, "
	             "\"max_level\": 4, " BACKBONE "}",
	             "model.max_level", "must not be below min_level");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"negative_iou\": 0.6, " BACKBONE "}",
	             "model.negative_iou", "must not exceed positive_iou");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"head_norm\": \"group\", "
	             "\"head_channels\": 48, " BACKBONE "}",
	             "model.head_norm_groups", "32 groups do not divide the 48 head channels");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"box_coding\": \"corner\", " BACKBONE
	             "}",
	             "model.box_coding", "corner");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"box_variance\": [1, 1], " BACKBONE
	             "}",
	             "model.box_variance", "");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 0, " BACKBONE "}", "model.classes", "");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"anchor_scale\": [1], " BACKBONE "}",
	             "model.anchor_scale", "anchor_scales");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"backbone\": \"resnet50\"}",
	             "model.backbone", "backbone spec");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"backbone\": {\"plugin\": "
	             "\"resnet7\"}}",
	             "model.backbone.plugin", "resnet7");
	expect_error("{\"plugin\": \"retinanet\", \"classes\": 2, \"backbone\": {\"plugin\": "
	             "\"resnet18\", \"bn_eps\": -1}}",
	             "model.backbone.bn_eps", "");
}
END_TEST

static Suite *detector_suite(void)
{
	Suite *s = suite_create("detector");
	TCase *anchors = tcase_create("anchors");
	tcase_add_test(anchors, anchors_kerascv_512);
	tcase_add_test(anchors, anchors_unclipped_base_sizes);
	tcase_add_test(anchors, anchors_torchvision);
	tcase_add_test(anchors, anchors_odd_size);
	tcase_add_test(anchors, levels_subset);
	tcase_set_timeout(anchors, 60);
	suite_add_tcase(s, anchors);
	TCase *enc = tcase_create("encoder");
	tcase_add_test(enc, encode_thresholds);
	tcase_add_test(enc, encode_low_quality);
	tcase_add_test(enc, encode_empty_and_invalid);
	suite_add_tcase(s, enc);
	TCase *coder = tcase_create("coder");
	tcase_add_test(coder, coder_round_trip);
	tcase_add_test(coder, coder_top_left_and_clamp);
	tcase_set_timeout(coder, 60);
	suite_add_tcase(s, coder);
	TCase *graph = tcase_create("graph");
	tcase_add_test(graph, graph_params_and_init);
	tcase_add_test(graph, graph_group_norm_and_normal_init);
	tcase_add_test(graph, graph_backward);
	tcase_set_timeout(graph, 60);
	suite_add_tcase(s, graph);
	TCase *opts = tcase_create("options");
	tcase_add_test(opts, option_errors);
	suite_add_tcase(s, opts);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(detector_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
