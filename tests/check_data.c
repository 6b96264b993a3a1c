/* The loader: batching, order, determinism across worker counts, bad
 * samples. Uses the synthetic_shapes and pascal_voc plugins. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcv/kcv.h>

static kcv_registry *reg;
static char dir[64];

static void setup(void)
{
	kcv_error err = {0};
	reg = kcv_registry_new(NULL, &err);
	ck_assert_msg(reg != NULL, "%s", err.text);
	snprintf(dir, sizeof(dir), "/tmp/kcv-data-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	kcv_registry_free(reg);
}

static kcv_pipeline *pipeline(const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/p.json", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	kcv_error err = {0};
	kcv_pipeline *p = kcv_pipeline_load(path, NULL, 0, reg, &err);
	char msg[1500];
	ck_assert_msg(p != NULL, "%s", kcv_error_format(&err, msg, sizeof(msg)));
	return p;
}

static kcv_loader *loader(const kcv_pipeline *p, const kcv_instance *ds, int workers, int bs,
                          int shuffle, int drop, int augment)
{
	kcv_context ctx = kcv_pipeline_context(p);
	ctx.path = "data.augment";
	kcv_loader_params lp = {.batch_size = bs, .workers = workers, .prefetch = 3,
	                        .shuffle = shuffle, .drop_remainder = drop,
	                        .skip_bad = kcv_pipeline_skip_bad(p),
	                        .seed = kcv_pipeline_seed(p), .box_format = ctx.box_format};
	kcv_error err = {0};
	kcv_loader *l = kcv_loader_new(ds, augment ? kcv_pipeline_augment_spec(p) : NULL, &ctx, &lp,
	                               &err);
	char msg[1500];
	ck_assert_msg(l != NULL, "%s", kcv_error_format(&err, msg, sizeof(msg)));
	return l;
}

#define SHAPES(n)                                                                         \
	"{\"image_size\": [48, 64], \"bounding_box_format\": \"center_xywh\", \"data\": {"   \
	"\"train\": {\"plugin\": \"synthetic_shapes\", \"size\": " #n "}, \"augment\": "    \
	"{\"plugin\": \"random_choice\", \"layers\": [{\"plugin\": \"random_flip\", \"mode\": " \
	"\"horizontal_and_vertical\"}, {\"plugin\": \"random_color_jitter\", "              \
	"\"brightness_factor\": 0.2, \"hue_factor\": 0.1}, {\"plugin\": \"random_sharpness\"}]}}}"

/* Everything of one epoch, flattened, for comparisons. */
typedef struct epoch_dump {
	size_t n_images, n_batches;
	int sizes[64];
	int64_t indices[256];
	float *pixels;
	float boxes[4096];
	size_t n_boxes;
} epoch_dump;

static void run_epoch(kcv_loader *l, uint64_t epoch, epoch_dump *d)
{
	memset(d, 0, sizeof(*d) - 0);
	kcv_error err = {0};
	ck_assert_int_eq(kcv_loader_start(l, epoch, &err), KCV_OK);
	const kcv_batch *b;
	size_t plane = 0;
	while ((b = kcv_loader_next(l, &err)) != NULL) {
		plane = (size_t)b->width * b->height * 3;
		d->pixels = realloc(d->pixels, (d->n_images + (size_t)b->n) * plane * sizeof(float));
		memcpy(d->pixels + d->n_images * plane, b->images, (size_t)b->n * plane * sizeof(float));
		for (int i = 0; i < b->n; i++) {
			d->indices[d->n_images + (size_t)i] = b->indices[i];
			ck_assert_int_eq(b->boxes[i].format, KCV_BOX_CENTER_XYWH);
			for (size_t k = 0; k < b->boxes[i].count * 4 && d->n_boxes < 4096; k++)
				d->boxes[d->n_boxes++] = b->boxes[i].coords[k];
		}
		d->sizes[d->n_batches++] = b->n;
		d->n_images += (size_t)b->n;
	}
	ck_assert_msg(err.code == 0, "%s", err.text);
}

START_TEST(test_batches_cover_the_epoch)
{
	kcv_pipeline *p = pipeline(SHAPES(10));
	kcv_error err = {0};
	kcv_instance *ds = kcv_pipeline_dataset_new(p, "train", &err);
	ck_assert_ptr_nonnull(ds);
	kcv_loader *l = loader(p, ds, 2, 4, 1, 0, 1);
	ck_assert_uint_eq(kcv_loader_num_batches(l), 3);
	epoch_dump d;
	run_epoch(l, 0, &d);
	ck_assert_uint_eq(d.n_batches, 3);
	ck_assert_int_eq(d.sizes[0], 4);
	ck_assert_int_eq(d.sizes[1], 4);
	ck_assert_int_eq(d.sizes[2], 2);
	int seen[10] = {0}, identity = 1;
	for (size_t i = 0; i < 10; i++) {
		seen[d.indices[i]]++;
		identity &= d.indices[i] == (int64_t)i;
	}
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(seen[i], 1);
	ck_assert_msg(!identity, "a shuffled epoch came out in order");
	int64_t first[10];
	memcpy(first, d.indices, sizeof(first));
	free(d.pixels);
	run_epoch(l, 1, &d);
	ck_assert_msg(memcmp(first, d.indices, sizeof(first)) != 0, "epochs 0 and 1 have one order");
	free(d.pixels);
	kcv_loader_free(l);

	l = loader(p, ds, 2, 4, 0, 1, 0);
	ck_assert_uint_eq(kcv_loader_num_batches(l), 2);
	run_epoch(l, 0, &d);
	ck_assert_uint_eq(d.n_images, 8);
	for (size_t i = 0; i < 8; i++)
		ck_assert_int_eq(d.indices[i], (int64_t)i);
	free(d.pixels);
	kcv_loader_free(l);
	kcv_instance_free(ds);
	kcv_pipeline_free(p);
}
END_TEST

START_TEST(test_same_result_for_any_worker_count)
{
	kcv_pipeline *p = pipeline(SHAPES(24));
	kcv_error err = {0};
	kcv_instance *ds = kcv_pipeline_dataset_new(p, "train", &err);
	ck_assert_ptr_nonnull(ds);
	epoch_dump a, b;
	kcv_loader *l1 = loader(p, ds, 1, 5, 1, 0, 1);
	run_epoch(l1, 3, &a);
	kcv_loader_free(l1);
	kcv_loader *l3 = loader(p, ds, 3, 5, 1, 0, 1);
	run_epoch(l3, 3, &b);
	ck_assert_uint_eq(a.n_images, 24);
	ck_assert_uint_eq(b.n_images, 24);
	ck_assert(memcmp(a.indices, b.indices, sizeof(a.indices)) == 0);
	ck_assert_uint_eq(a.n_boxes, b.n_boxes);
	ck_assert(memcmp(a.boxes, b.boxes, a.n_boxes * sizeof(float)) == 0);
	ck_assert(memcmp(a.pixels, b.pixels, 24 * 48 * 64 * 3 * sizeof(float)) == 0);
	free(b.pixels);
	/* abandon an epoch half-way, start another: no deadlock, same content */
	ck_assert_int_eq(kcv_loader_start(l3, 3, &err), KCV_OK);
	ck_assert_ptr_nonnull(kcv_loader_next(l3, &err));
	run_epoch(l3, 3, &b);
	ck_assert(memcmp(a.pixels, b.pixels, 24 * 48 * 64 * 3 * sizeof(float)) == 0);
	free(a.pixels);
	free(b.pixels);
	kcv_loader_free(l3);
	kcv_instance_free(ds);
	kcv_pipeline_free(p);
}
END_TEST

START_TEST(test_boxes_follow_the_pipeline_format)
{
	kcv_pipeline *p = pipeline(SHAPES(6));
	kcv_error err = {0};
	kcv_instance *ds = kcv_pipeline_dataset_new(p, "train", &err);
	ck_assert_ptr_nonnull(ds);
	kcv_loader *l = loader(p, ds, 2, 6, 0, 0, 0);
	ck_assert_int_eq(kcv_loader_start(l, 0, &err), KCV_OK);
	const kcv_batch *b = kcv_loader_next(l, &err);
	ck_assert_ptr_nonnull(b);
	kcv_sample s = {0};
	for (int i = 0; i < b->n; i++) {
		kcv_boxes_clear(&s.boxes);
		ck_assert_int_eq(kcv_dataset_get(ds, (size_t)b->indices[i], 0, &s, NULL, &err), KCV_OK);
		ck_assert_int_eq(kcv_boxes_set_format(&s.boxes, KCV_BOX_CENTER_XYWH, 64, 48, &err), KCV_OK);
		ck_assert_uint_eq(s.boxes.count, b->boxes[i].count);
		for (size_t k = 0; k < s.boxes.count * 4; k++)
			ck_assert_float_eq_tol(s.boxes.coords[k], b->boxes[i].coords[k], 1e-4);
		ck_assert(memcmp(s.pixels, b->images + (size_t)i * 48 * 64 * 3, 48 * 64 * 3 * 4) == 0);
	}
	kcv_sample_release(&s);
	ck_assert_ptr_null(kcv_loader_next(l, &err));
	ck_assert_int_eq(err.code, 0);
	kcv_loader_free(l);
	kcv_instance_free(ds);
	kcv_pipeline_free(p);
}
END_TEST

/* A VOC copy with one truncated JPEG. */
static void make_bad_voc(void)
{
	const char *shared = getenv("KCV_SHARED_DIR");
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "set -e; s='%s/data/voc2007-mini/VOCdevkit/VOC2007'; d='%s/VOCdevkit/VOC2007';"
	         "mkdir -p \"$d/ImageSets/Main\" \"$d/Annotations\" \"$d/JPEGImages\";"
	         "head -n 6 \"$s/ImageSets/Main/train.txt\" > \"$d/ImageSets/Main/train.txt\";"
	         "for i in $(cat \"$d/ImageSets/Main/train.txt\"); do cp \"$s/Annotations/$i.xml\" \"$d/Annotations/\";"
	         " cp \"$s/JPEGImages/$i.jpg\" \"$d/JPEGImages/\"; done;"
	         "i=$(sed -n 3p \"$d/ImageSets/Main/train.txt\"); f=\"$d/JPEGImages/$i.jpg\";"
	         "n=$(stat -c %%s \"$f\"); head -c $((n / 2)) \"$s/JPEGImages/$i.jpg\" > \"$f\"",
	         shared ? shared : "/work/shared", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_bad_sample_error_or_skip)
{
	make_bad_voc();
	char text[1024];
	for (int skip = 0; skip < 2; skip++) {
		snprintf(text, sizeof(text),
		         "{\"image_size\": [64, 64], \"data\": {\"train\": {\"plugin\": \"pascal_voc\", "
		         "\"root\": \"%s/VOCdevkit\"}, \"on_bad_sample\": \"%s\"}}",
		         dir, skip ? "skip" : "error");
		kcv_pipeline *p = pipeline(text);
		kcv_error err = {0};
		kcv_instance *ds = kcv_pipeline_dataset_new(p, "train", &err);
		ck_assert_msg(ds != NULL, "%s", err.text);
		kcv_loader *l = loader(p, ds, 2, 6, 0, 0, 0);
		ck_assert_int_eq(kcv_loader_start(l, 0, &err), KCV_OK);
		const kcv_batch *b = kcv_loader_next(l, &err);
		if (skip) {
			ck_assert_ptr_nonnull(b);
			ck_assert_int_eq(b->n, 5);
			ck_assert_uint_eq(kcv_loader_skipped(l), 1);
			for (int i = 0; i < 5; i++)
				ck_assert_int_ne(b->indices[i], 2);
		} else {
			ck_assert_ptr_null(b);
			char msg[1500];
			kcv_error_format(&err, msg, sizeof(msg));
			ck_assert_msg(strstr(msg, ".jpg") != NULL, "error does not name the file: %s", msg);
		}
		kcv_loader_free(l);
		kcv_instance_free(ds);
		kcv_pipeline_free(p);
	}
}
END_TEST

/* A synthetic split written as VOC and read back by pascal_voc: the same
 * boxes and classes exactly, the same pixels up to JPEG error. */
START_TEST(test_export_voc_round_trip)
{
	kcv_pipeline *p = pipeline("{\"image_size\": [96, 128], \"data\": {\"validation\": "
	                           "{\"plugin\": \"synthetic_shapes\", \"size\": 8}}}");
	kcv_error err = {0};
	kcv_instance *gen = kcv_pipeline_dataset_new(p, "validation", &err);
	ck_assert_ptr_nonnull(gen);
	char voc[128];
	snprintf(voc, sizeof(voc), "%s/syn", dir);
	ck_assert_int_eq(kcv_dataset_export_voc(gen, voc, 2007, "val", 0, &err), KCV_OK);
	char text[1024];
	snprintf(text, sizeof(text),
	         "{\"image_size\": [96, 128], \"data\": {\"validation\": {\"plugin\": "
	         "\"pascal_voc\", \"root\": \"%s\", \"classes\": [\"circle\", \"square\", "
	         "\"triangle\", \"diamond\", \"plus\", \"star\"]}}}",
	         voc);
	kcv_pipeline *q = pipeline(text);
	kcv_instance *back = kcv_pipeline_dataset_new(q, "validation", &err);
	char msg[1500];
	ck_assert_msg(back != NULL, "%s", kcv_error_format(&err, msg, sizeof(msg)));
	ck_assert_uint_eq(kcv_dataset_size(back), 8);
	kcv_sample a = {0}, b = {0};
	for (size_t i = 0; i < 8; i++) {
		kcv_boxes_clear(&a.boxes);
		kcv_boxes_clear(&b.boxes);
		ck_assert_int_eq(kcv_dataset_get(gen, i, 0, &a, NULL, &err), KCV_OK);
		ck_assert_int_eq(kcv_dataset_get(back, i, 0, &b, NULL, &err), KCV_OK);
		ck_assert_int_eq(kcv_boxes_set_format(&a.boxes, KCV_BOX_XYXY, 128, 96, &err), KCV_OK);
		ck_assert_int_eq(kcv_boxes_set_format(&b.boxes, KCV_BOX_XYXY, 128, 96, &err), KCV_OK);
		ck_assert_uint_eq(a.boxes.count, b.boxes.count);
		for (size_t k = 0; k < a.boxes.count; k++) {
			ck_assert_int_eq(a.boxes.classes[k], b.boxes.classes[k]);
			for (int c = 0; c < 4; c++)
				ck_assert_float_eq(a.boxes.coords[4 * k + c], b.boxes.coords[4 * k + c]);
		}
		double diff = 0;
		for (size_t k = 0; k < 96 * 128 * 3; k++)
			diff += fabs((double)a.pixels[k] - (double)b.pixels[k]);
		diff /= 96.0 * 128 * 3;
		ck_assert_msg(diff < 1.5, "mean pixel difference %g after JPEG", diff);
	}
	kcv_sample_release(&a);
	kcv_sample_release(&b);
	kcv_instance_free(back);
	kcv_instance_free(gen);
	kcv_pipeline_free(q);
	kcv_pipeline_free(p);
}
END_TEST

static Suite *data_suite(void)
{
	Suite *s = suite_create("data");
	TCase *tc = tcase_create("loader");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_batches_cover_the_epoch);
	tcase_add_test(tc, test_same_result_for_any_worker_count);
	tcase_add_test(tc, test_boxes_follow_the_pipeline_format);
	tcase_add_test(tc, test_bad_sample_error_or_skip);
	tcase_add_test(tc, test_export_voc_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(data_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
