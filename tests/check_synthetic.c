/* The dataset plugin synthetic_shapes: determinism, object counts and
 * classes, tight boxes, option errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- synthetic_shapes -------------------------------------------------------------- */

static kcv_instance *shapes_new(const kcv_registry *reg, const char *extra, int size,
                                const char *split)
{
	char json[512];
	snprintf(json, sizeof(json), "{\"plugin\": \"synthetic_shapes\", \"size\": 1000%s%s}",
	         extra ? ", " : "", extra ? extra : "");
	kcv_context ctx = harness_context(reg, size, size);
	if (split)
		ctx.split = split;
	return harness_new(reg, KCV_KIND_DATASET, json, &ctx);
}

static int samples_equal(const kcv_sample *a, const kcv_sample *b)
{
	if (a->width != b->width || a->height != b->height || a->boxes.count != b->boxes.count)
		return 0;
	if (memcmp(a->boxes.coords, b->boxes.coords, a->boxes.count * 4 * sizeof(float)) ||
	    memcmp(a->boxes.classes, b->boxes.classes, a->boxes.count * sizeof(int32_t)))
		return 0;
	return !a->pixels || !b->pixels ||
	       memcmp(a->pixels, b->pixels, (size_t)a->width * a->height * 3 * sizeof(float)) == 0;
}

START_TEST(shapes_deterministic)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *ds = shapes_new(reg, NULL, 96, NULL);
	kcv_instance *again = shapes_new(reg, NULL, 96, NULL);
	kcv_instance *val = shapes_new(reg, NULL, 96, "validation");
	kcv_instance *seeded = shapes_new(reg, "\"seed\": 5", 96, NULL);
	ck_assert_int_eq(kcv_dataset_size(ds), 1000);
	ck_assert_int_eq(kcv_dataset_num_classes(ds), 6);
	ck_assert_str_eq(kcv_dataset_class_name(ds, 0), "circle");
	ck_assert_str_eq(kcv_dataset_class_name(ds, 5), "star");
	kcv_sample a = {0}, b = {0}, c = {0};
	harness_get(ds, 7, 0, &a);
	harness_get(again, 7, 0, &b);
	ck_assert(samples_equal(&a, &b));
	harness_get(ds, 7, 0, &b); /* the same instance again, reusing the buffers */
	ck_assert(samples_equal(&a, &b));
	harness_get(ds, 7, KCV_GET_NO_PIXELS, &c); /* annotations do not depend on pixels */
	ck_assert(samples_equal(&a, &c));
	ck_assert_str_eq(a.id, "train_000007");
	harness_get(ds, 8, 0, &b);
	ck_assert(!samples_equal(&a, &b));
	harness_get(val, 7, 0, &b);
	ck_assert(!samples_equal(&a, &b));
	harness_get(seeded, 7, 0, &b);
	ck_assert(!samples_equal(&a, &b));
	kcv_sample_release(&a);
	kcv_sample_release(&b);
	kcv_sample_release(&c);
	kcv_instance_free(ds);
	kcv_instance_free(again);
	kcv_instance_free(val);
	kcv_instance_free(seeded);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(shapes_counts_and_classes)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *ds = shapes_new(reg, NULL, 128, NULL);
	kcv_instance *few = shapes_new(reg, "\"min_objects\": 2, \"max_objects\": 3", 128, NULL);
	int classes[6] = {0}, lo = 100, hi = 0;
	kcv_sample s = {0};
	for (size_t i = 0; i < 200; i++) {
		harness_get(ds, i, 0, &s);
		int n = (int)s.boxes.count;
		lo = n < lo ? n : lo;
		hi = n > hi ? n : hi;
		for (size_t k = 0; k < s.boxes.count; k++) {
			const float *b = s.boxes.coords + 4 * k;
			classes[s.boxes.classes[k]]++;
			ck_assert(b[0] >= 0 && b[1] >= 0 && b[2] <= 128 && b[3] <= 128);
			ck_assert(b[2] > b[0] && b[3] > b[1]);
			for (int j = 0; j < 4; j++)
				ck_assert(b[j] == floorf(b[j]));
			/* object side 12%..45% of 128 px, aspect up to 1.25 */
			const double most = 0.45 * 128 * 1.12 + 1;
			ck_assert(b[2] - b[0] <= most && b[3] - b[1] <= most);
		}
		for (size_t k = 0; k < (size_t)128 * 128 * 3; k += 101)
			ck_assert(s.pixels[k] >= 0 && s.pixels[k] <= 255);
		harness_get(few, i, KCV_GET_NO_PIXELS, &s);
		ck_assert(s.boxes.count >= 2 && s.boxes.count <= 3);
	}
	ck_assert_int_ge(lo, 1);
	ck_assert_int_le(hi, 8);
	ck_assert_int_gt(hi, lo);
	for (int c = 0; c < 6; c++)
		ck_assert_msg(classes[c] > 0, "class %d never appears", c);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	kcv_instance_free(few);
	kcv_registry_free(reg);
}
END_TEST

static double rgb_distance(const float *a, const float *b)
{
	double d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
	return sqrt(d0 * d0 + d1 * d1 + d2 * d2);
}

/* Single-object scenes: the object's colour O is the box centre's; the
 * background B the mean of a band just outside the box. Each edge line inside
 * the box holds a pixel at least half way to O, and the line just outside it
 * holds none that is (almost) O. */
START_TEST(shapes_boxes_tight)
{
	kcv_registry *reg = harness_registry();
	const int W = 128;
	kcv_instance *ds = shapes_new(reg, "\"min_objects\": 1, \"max_objects\": 1", W, NULL);
	kcv_sample s = {0};
	int checked = 0;
	for (size_t i = 0; i < 100; i++) {
		harness_get(ds, i, 0, &s);
		ck_assert_int_eq(s.boxes.count, 1);
		const float *b = s.boxes.coords;
		int x0 = (int)b[0], y0 = (int)b[1], x1 = (int)b[2], y1 = (int)b[3];
		const float *px = s.pixels;
#define AT(x, y) (px + ((size_t)(y) * W + (x)) * 3)
		const float *o = AT((x0 + x1) / 2, (y0 + y1) / 2);
		float bg[3] = {0, 0, 0};
		int nbg = 0;
		for (int y = y0 - 4; y < y1 + 4; y++)
			for (int x = x0 - 4; x < x1 + 4; x++) {
				int ring = x < x0 - 1 || x > x1 || y < y0 - 1 || y > y1;
				if (!ring || x < 0 || y < 0 || x >= W || y >= W)
					continue;
				for (int c = 0; c < 3; c++)
					bg[c] += AT(x, y)[c];
				nbg++;
			}
		if (nbg < 20)
			continue;
		for (int c = 0; c < 3; c++)
			bg[c] /= nbg;
		double contrast = rgb_distance(o, bg);
		ck_assert_msg(contrast > 40, "image %zu: object and background too close (%g)", i,
		              contrast);
		/* 4 edges: inside line and outside line */
		for (int e = 0; e < 4; e++) {
			double best_in = 1e9, best_out = 1e9;
			int horizontal = e < 2;
			int len = horizontal ? x1 - x0 : y1 - y0;
			int in = e == 0 ? y0 : e == 1 ? y1 - 1 : e == 2 ? x0 : x1 - 1;
			int out = e == 0 ? y0 - 1 : e == 1 ? y1 : e == 2 ? x0 - 1 : x1;
			for (int k = 0; k < len; k++) {
				int a = (horizontal ? x0 : y0) + k;
				const float *pi = horizontal ? AT(a, in) : AT(in, a);
				best_in = fmin(best_in, rgb_distance(pi, o));
				if (out >= 0 && out < W) {
					const float *po = horizontal ? AT(a, out) : AT(out, a);
					best_out = fmin(best_out, rgb_distance(po, o));
				}
			}
			ck_assert_msg(best_in <= 0.8 * contrast, "image %zu edge %d: %g of %g", i,
			              e, best_in, contrast);
			ck_assert_msg(best_out >= 0.1 * contrast,
			              "image %zu edge %d outside: %g of %g", i, e, best_out,
			              contrast);
		}
#undef AT
		checked++;
	}
	ck_assert_int_gt(checked, 80);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(shapes_bad_options)
{
	kcv_registry *reg = harness_registry();
	const char *msg = harness_new_fails(
		reg, KCV_KIND_DATASET,
		"{\"plugin\": \"synthetic_shapes\", \"min_objects\": 5, \"max_objects\": 2}", NULL);
	ck_assert_msg(strstr(msg, "min_objects (5) is larger than max_objects (2)"), "%s", msg);
	msg = harness_new_fails(
		reg, KCV_KIND_DATASET,
		"{\"plugin\": \"synthetic_shapes\", \"min_size\": 0.5, \"max_size\": 0.2}", NULL);
	ck_assert_msg(strstr(msg, "min_size"), "%s", msg);
	kcv_registry_free(reg);
}
END_TEST

static Suite *synthetic_suite(void)
{
	Suite *s = suite_create("synthetic");
	TCase *shapes = tcase_create("synthetic_shapes");
	tcase_set_timeout(shapes, 60);
	tcase_add_test(shapes, shapes_deterministic);
	tcase_add_test(shapes, shapes_counts_and_classes);
	tcase_add_test(shapes, shapes_boxes_tight);
	tcase_add_test(shapes, shapes_bad_options);
	suite_add_tcase(s, shapes);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(synthetic_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
