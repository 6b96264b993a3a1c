/* Check suite for the augmenter plugins random_flip and random_choice /
 * sequence, and for the determinism of every augmenter. Colour augmenters
 * are in check_color.c, geometric ones in check_geometry.c. Each test
 * compares with an oracle written here (hand-computed values, replicated rng
 * draws) rather than with the code under test. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/kcv.h>

#include "augment_util.h"
#include "harness.h"

/* ---- helpers --------------------------------------------------------------- */

/* A seed whose first n uniforms are > 0.5 exactly where want[i] is set. */
static uint64_t seed_with(const int *want, int n)
{
	for (uint64_t seed = 1;; seed++) {
		kcv_rng r;
		kcv_rng_seed(&r, seed, 0, 0, 0);
		int ok = 1;
		for (int i = 0; i < n && ok; i++)
			ok = (kcv_rng_uniform(&r) > 0.5) == (want[i] != 0);
		if (ok)
			return seed;
	}
}
/* ---- random_flip ----------------------------------------------------------- */

START_TEST(test_flip_horizontal)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *flip = aug_new(reg, "{\"plugin\": \"random_flip\", \"mode\": \"horizontal\"}");
	const float boxes[] = {5, 6, 20, 30, 0, 0, 64, 48, 40.5f, 1, 63, 2};
	kcv_sample a = {0}, orig = {0};
	harness_sample(&a, 64, 48, boxes, 3);
	copy_sample(&orig, &a);
	const int yes = 1, no = 0;
	kcv_rng rng;
	kcv_rng_seed(&rng, seed_with(&yes, 1), 0, 0, 0);
	kcv_rng again = rng;
	apply_ok(flip, &a, &rng);
	ck_assert_uint_eq(a.boxes.count, 3);
	for (size_t i = 0; i < 3; i++) {
		const float *o = orig.boxes.coords + 4 * i, *f = a.boxes.coords + 4 * i;
		ck_assert_float_eq(f[0], 64 - o[2]);
		ck_assert_float_eq(f[2], 64 - o[0]);
		ck_assert_float_eq(f[1], o[1]);
		ck_assert_float_eq(f[3], o[3]);
		ck_assert_int_eq(a.boxes.classes[i], orig.boxes.classes[i]);
	}
	for (int y = 0; y < 48; y++)
		for (int x = 0; x < 64; x++)
			for (int c = 0; c < 3; c++)
				ck_assert_float_eq(px(&a, x, y, c), px(&orig, 63 - x, y, c));
	/* flipping again with the same draw restores the input exactly */
	apply_ok(flip, &a, &again);
	ck_assert(memcmp(a.pixels, orig.pixels, nfloats(&a) * sizeof(float)) == 0);
	ck_assert(memcmp(a.boxes.coords, orig.boxes.coords, 12 * sizeof(float)) == 0);
	/* u <= 0.5: nothing changes */
	kcv_rng_seed(&rng, seed_with(&no, 1), 0, 0, 0);
	apply_ok(flip, &a, &rng);
	ck_assert(memcmp(a.pixels, orig.pixels, nfloats(&a) * sizeof(float)) == 0);
	kcv_sample_release(&a);
	kcv_sample_release(&orig);
	kcv_instance_free(flip);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_transpose)
{
	kcv_registry *reg = harness_registry();
	kcv_context sq = harness_context(reg, 40, 40);
	kcv_instance *tr = harness_new(reg, KCV_KIND_AUGMENTER,
	                               "{\"plugin\": \"random_transpose\", \"probability\": 1}", &sq);
	kcv_instance *never = harness_new(
		reg, KCV_KIND_AUGMENTER, "{\"plugin\": \"random_transpose\", \"probability\": 0}", &sq);
	/* a pipeline of non-square images is refused when the augmenter is made */
	const char *why = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                                    "{\"plugin\": \"random_transpose\"}", NULL);
	assert_contains(why, "random_transpose needs square images (image_size is 48x64)");
	const float boxes[] = {5, 6, 20, 30, 0, 0, 40, 40, 10.5f, 1, 39, 2};
	kcv_sample a = {0}, orig = {0};
	harness_sample(&a, 40, 40, boxes, 3);
	copy_sample(&orig, &a);
	kcv_rng rng;
	kcv_rng_seed(&rng, 7, 0, 0, 0);
	apply_ok(never, &a, &rng);
	ck_assert(memcmp(a.pixels, orig.pixels, nfloats(&a) * sizeof(float)) == 0);
	apply_ok(tr, &a, &rng);
	for (size_t i = 0; i < 3; i++) {
		const float *o = orig.boxes.coords + 4 * i, *t = a.boxes.coords + 4 * i;
		ck_assert_float_eq(t[0], o[1]);
		ck_assert_float_eq(t[1], o[0]);
		ck_assert_float_eq(t[2], o[3]);
		ck_assert_float_eq(t[3], o[2]);
	}
	for (int y = 0; y < 40; y++)
		for (int x = 0; x < 40; x++)
			for (int c = 0; c < 3; c++)
				ck_assert_float_eq(px(&a, x, y, c), px(&orig, y, x, c));
	/* non-square images are refused with the component's path */
	kcv_sample wide = {0};
	harness_sample(&wide, 40, 30, boxes, 1);
	kcv_error err = {0};
	char msg[1400];
	ck_assert_int_eq(kcv_augmenter_apply(tr, &wide, &rng, &err), KCV_ERR_INVALID);
	assert_contains(kcv_error_format(&err, msg, sizeof(msg)), "needs square images, got 40x30");
	kcv_sample_release(&wide);
	kcv_sample_release(&a);
	kcv_sample_release(&orig);
	kcv_instance_free(tr);
	kcv_instance_free(never);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_flip_vertical_and_both)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *v = aug_new(reg, "{\"plugin\": \"random_flip\", \"mode\": \"vertical\"}");
	kcv_instance *hv =
		aug_new(reg, "{\"plugin\": \"random_flip\", \"mode\": \"horizontal_and_vertical\"}");
	const float box[] = {5, 6, 20, 15};
	kcv_sample a = {0}, orig = {0};
	harness_sample(&orig, 31, 17, box, 1);
	const int yes[2] = {1, 1}, hno_vyes[2] = {0, 1};
	kcv_rng rng;
	/* vertical */
	copy_sample(&a, &orig);
	kcv_rng_seed(&rng, seed_with(yes, 1), 0, 0, 0);
	apply_ok(v, &a, &rng);
	ck_assert_float_eq(a.boxes.coords[1], 17 - 15.0f);
	ck_assert_float_eq(a.boxes.coords[3], 17 - 6.0f);
	ck_assert_float_eq(a.boxes.coords[0], 5);
	for (int y = 0; y < 17; y++)
		for (int x = 0; x < 31; x++)
			ck_assert_float_eq(px(&a, x, y, 1), px(&orig, x, 16 - y, 1));
	kcv_sample_release(&a);
	/* both: first draw horizontal, second vertical */
	copy_sample(&a, &orig);
	kcv_rng_seed(&rng, seed_with(yes, 2), 0, 0, 0);
	apply_ok(hv, &a, &rng);
	const float want[4] = {31 - 20.0f, 17 - 15.0f, 31 - 5.0f, 17 - 6.0f};
	for (int k = 0; k < 4; k++)
		ck_assert_float_eq(a.boxes.coords[k], want[k]);
	ck_assert_float_eq(px(&a, 0, 0, 2), px(&orig, 30, 16, 2));
	kcv_sample_release(&a);
	copy_sample(&a, &orig);
	kcv_rng_seed(&rng, seed_with(hno_vyes, 2), 0, 0, 0);
	apply_ok(hv, &a, &rng);
	ck_assert_float_eq(a.boxes.coords[0], 5);
	ck_assert_float_eq(a.boxes.coords[1], 17 - 15.0f);
	kcv_sample_release(&a);
	kcv_sample_release(&orig);
	kcv_instance_free(v);
	kcv_instance_free(hv);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_flip_rate_and_clip)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *flip = aug_new(reg, "{\"plugin\": \"random_flip\"}");
	/* a box sticking out of the image is clipped after mirroring */
	const float box[] = {-5, 2, 10, 8};
	kcv_sample s = {0};
	harness_sample(&s, 8, 8, NULL, 0);
	int flips = 0, n = 4000;
	for (int i = 0; i < n; i++) {
		kcv_error err = {0};
		kcv_boxes_clear(&s.boxes);
		ck_assert_int_eq(kcv_boxes_push(&s.boxes, box, 0, 0, 0, &err), KCV_OK);
		kcv_rng rng;
		kcv_rng_seed(&rng, 100, (uint64_t)i, 0, 0);
		apply_ok(flip, &s, &rng);
		ck_assert_uint_eq(s.boxes.count, 1);
		if (s.boxes.coords[0] != -5) {
			flips++;
			ck_assert_float_eq(s.boxes.coords[0], 0);
			ck_assert_float_eq(s.boxes.coords[2], 8);
		}
	}
	/* binomial(4000, 0.5): sd = 31.6; allow 5 sd */
	ck_assert_msg(abs(flips - n / 2) < 160, "%d flips of %d", flips, n);
	const kcv_registry *r = reg;
	assert_contains(harness_new_fails(r, KCV_KIND_AUGMENTER,
	                                  "{\"plugin\": \"random_flip\", \"mode\": \"diagonal\"}",
	                                  NULL),
	                "test.mode");
	kcv_sample_release(&s);
	kcv_instance_free(flip);
	kcv_registry_free(reg);
}
END_TEST
/* ---- random_choice ---------------------------------------------------------- */

START_TEST(test_choice_uniform)
{
	kcv_registry *reg = harness_registry();
	/* three brightness shifts with fixed deltas tell which layer ran */
	kcv_instance *ch = aug_new(
		reg, "{\"plugin\": \"random_choice\", \"layers\": ["
		     "{\"plugin\": \"random_color_jitter\", \"brightness_factor\": [0.1, 0.1]},"
		     "{\"plugin\": \"random_color_jitter\", \"brightness_factor\": [0.2, 0.2]},"
		     "{\"plugin\": \"random_color_jitter\", \"brightness_factor\": [-0.1, -0.1]}]}");
	const float want[3] = {100 + 25.5f, 100 + 51.0f, 100 - 25.5f};
	int counts[3] = {0, 0, 0}, n = 3000;
	kcv_sample s = {0};
	harness_sample(&s, 4, 4, NULL, 0);
	for (int i = 0; i < n; i++) {
		for (size_t k = 0; k < nfloats(&s); k++)
			s.pixels[k] = 100;
		kcv_rng rng, copy;
		kcv_rng_seed(&rng, 77, (uint64_t)i, 0, 0);
		copy = rng;
		int expect = (int)kcv_rng_below(&copy, 3);
		apply_ok(ch, &s, &rng);
		int got = -1;
		for (int k = 0; k < 3; k++)
			if (fabsf(s.pixels[0] - want[k]) < 1e-3f)
				got = k;
		ck_assert_int_eq(got, expect);
		counts[got]++;
	}
	double chi2 = 0;
	for (int k = 0; k < 3; k++)
		chi2 += (counts[k] - n / 3.0) * (counts[k] - n / 3.0) / (n / 3.0);
	/* 2 degrees of freedom: P(chi2 > 13.8) = 0.001 */
	ck_assert_msg(chi2 < 13.8, "counts %d %d %d", counts[0], counts[1], counts[2]);
	kcv_sample_release(&s);
	kcv_instance_free(ch);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_choice_errors)
{
	kcv_registry *reg = harness_registry();
	static const struct {
		const char *json, *part;
	} cases[] = {
		{"{\"plugin\": \"random_choice\", \"layers\": []}", "test.layers: expected a non-empty"},
		{"{\"plugin\": \"random_choice\", \"layers\": {\"plugin\": \"random_flip\"}}",
		 "test.layers: expected a non-empty array"},
		{"{\"plugin\": \"random_choice\", \"layers\": null}", "test.layers"},
		{"{\"plugin\": \"random_choice\"}", "test.layers"},
		{"{\"plugin\": \"random_choice\", \"layers\": [{\"plugin\": \"random_flip\"}, 3]}",
		 "test.layers.1: expected an augmenter spec"},
		{"{\"plugin\": \"random_choice\", \"layers\": [{\"plugin\": \"random_flip\", "
		 "\"mode\": \"diagonal\"}]}",
		 "test.layers.0.mode"},
		{"{\"plugin\": \"random_choice\", \"layers\": [{\"plugin\": \"random_flip\"}, "
		 "{\"plugin\": \"random_color_jitter\", \"value_range\": [1, 0]}]}",
		 "test.layers.1.value_range: expected increasing values"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_contains(harness_new_fails(reg, KCV_KIND_AUGMENTER, cases[i].json, NULL),
		                cases[i].part);
	/* nesting works */
	kcv_instance *nested = aug_new(
		reg, "{\"plugin\": \"random_choice\", \"layers\": [{\"plugin\": \"random_choice\", "
		     "\"layers\": [{\"plugin\": \"random_flip\"}]}]}");
	kcv_sample s = {0};
	harness_sample(&s, 8, 8, NULL, 0);
	kcv_rng rng;
	kcv_rng_seed(&rng, 3, 0, 0, 0);
	apply_ok(nested, &s, &rng);
	kcv_sample_release(&s);
	kcv_instance_free(nested);
	kcv_registry_free(reg);
}
END_TEST
/* ---- determinism ----------------------------------------------------------- */

START_TEST(test_determinism)
{
	kcv_registry *reg = harness_registry();
	const char *specs[] = {
		"{\"plugin\": \"random_flip\", \"mode\": \"horizontal_and_vertical\"}",
		"{\"plugin\": \"random_color_jitter\", \"brightness_factor\": 0.1, "
		"\"contrast_factor\": 0.1, \"saturation_factor\": 0.1, \"hue_factor\": 0.1}",
		"{\"plugin\": \"random_sharpness\"}",
		"{\"plugin\": \"jittered_resize\", \"target_size\": [50, 40]}",
		"{\"plugin\": \"random_crop\"}",
		"{\"plugin\": \"random_choice\", \"layers\": [{\"plugin\": \"random_flip\"}, "
		"{\"plugin\": \"random_crop\"}, {\"plugin\": \"random_sharpness\"}]}",
	};
	const float boxes[] = {3, 4, 30, 20, 10, 10, 50, 40};
	for (size_t k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
		kcv_instance *a = aug_new(reg, specs[k]);
		kcv_instance *b = aug_new(reg, specs[k]);
		for (uint64_t seed = 0; seed < 8; seed++) {
			kcv_sample sa = {0}, sb = {0};
			harness_sample(&sa, 61, 47, boxes, 2);
			copy_sample(&sb, &sa);
			kcv_rng ra, rb;
			kcv_rng_seed(&ra, seed, 14, 0, 0);
			kcv_rng_seed(&rb, seed, 14, 0, 0);
			apply_ok(a, &sa, &ra);
			apply_ok(b, &sb, &rb);
			ck_assert_int_eq(sa.width, sb.width);
			ck_assert_int_eq(sa.height, sb.height);
			ck_assert(memcmp(sa.pixels, sb.pixels, nfloats(&sa) * sizeof(float)) == 0);
			ck_assert_uint_eq(sa.boxes.count, sb.boxes.count);
			ck_assert(memcmp(sa.boxes.coords, sb.boxes.coords,
			                 sa.boxes.count * 4 * sizeof(float)) == 0);
			ck_assert(memcmp(&ra, &rb, sizeof(ra)) == 0);
			kcv_sample_release(&sa);
			kcv_sample_release(&sb);
		}
		kcv_instance_free(a);
		kcv_instance_free(b);
	}
	kcv_registry_free(reg);
}
END_TEST

/* sequence applies every layer in order on one continuing rng stream: the
 * same as applying the layers one after the other by hand. */
START_TEST(test_sequence_applies_all_in_order)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *seq = aug_new(
		reg, "{\"plugin\": \"sequence\", \"layers\": [{\"plugin\": \"random_color_jitter\", "
		     "\"brightness_factor\": 0.3}, {\"plugin\": \"random_flip\", \"mode\": "
		     "\"horizontal_and_vertical\"}, {\"plugin\": \"random_sharpness\", \"factor\": 0.9}]}");
	kcv_instance *a = aug_new(reg, "{\"plugin\": \"random_color_jitter\", \"brightness_factor\": 0.3}");
	kcv_instance *b = aug_new(reg, "{\"plugin\": \"random_flip\", \"mode\": \"horizontal_and_vertical\"}");
	kcv_instance *c = aug_new(reg, "{\"plugin\": \"random_sharpness\", \"factor\": 0.9}");
	const float box[4] = {2, 3, 9, 7};
	int changed = 0;
	for (uint64_t seed = 0; seed < 16; seed++) {
		kcv_sample s1 = {0}, s2 = {0}, orig = {0};
		harness_sample(&s1, 13, 11, box, 1);
		harness_sample(&s2, 13, 11, box, 1);
		harness_sample(&orig, 13, 11, box, 1);
		kcv_rng r1, r2;
		kcv_rng_seed(&r1, seed, 1, 2, 3);
		r2 = r1;
		apply_ok(seq, &s1, &r1);
		apply_ok(a, &s2, &r2);
		apply_ok(b, &s2, &r2);
		apply_ok(c, &s2, &r2);
		ck_assert(memcmp(s1.pixels, s2.pixels, 13 * 11 * 3 * sizeof(float)) == 0);
		ck_assert_uint_eq(s1.boxes.count, 1);
		ck_assert(memcmp(s1.boxes.coords, s2.boxes.coords, 4 * sizeof(float)) == 0);
		ck_assert(r1.s[0] == r2.s[0] && r1.s[3] == r2.s[3]);
		changed += memcmp(s1.pixels, orig.pixels, 13 * 11 * 3 * sizeof(float)) != 0;
		kcv_sample_release(&s1);
		kcv_sample_release(&s2);
		kcv_sample_release(&orig);
	}
	ck_assert_int_eq(changed, 16);
	assert_contains(harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                                  "{\"plugin\": \"sequence\", \"layers\": []}", NULL),
	                "test.layers: expected a non-empty array");
	kcv_instance_free(seq);
	kcv_instance_free(a);
	kcv_instance_free(b);
	kcv_instance_free(c);
	kcv_registry_free(reg);
}
END_TEST

static Suite *augment_suite(void)
{
	Suite *s = suite_create("augment");
	TCase *tc;

	tc = tcase_create("random_flip");
	tcase_add_test(tc, test_flip_horizontal);
	tcase_add_test(tc, test_flip_vertical_and_both);
	tcase_add_test(tc, test_flip_rate_and_clip);
	tcase_add_test(tc, test_transpose);
	suite_add_tcase(s, tc);

	tc = tcase_create("random_choice");
	tcase_add_test(tc, test_choice_uniform);
	tcase_add_test(tc, test_choice_errors);
	tcase_add_test(tc, test_sequence_applies_all_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("determinism");
	tcase_add_test(tc, test_determinism);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(augment_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
