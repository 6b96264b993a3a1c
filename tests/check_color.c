/* Check suite for the colour augmenter plugins random_color_jitter and
 * random_sharpness, each compared with a double-precision reference of the
 * KerasCV / TensorFlow computation written here. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/kcv.h>

#include "augment_util.h"
#include "harness.h"

/* ---- random_color_jitter --------------------------------------------------- */

/* TF's rgb_to_hsv / hsv_to_rgb (adjust_saturation_op.cc), in double. */
static void ref_rgb_to_hsv(double r, double g, double b, double *h, double *s, double *v)
{
	double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b)), range = mx - mn;
	*v = mx;
	*s = mx > 0 ? range / mx : 0;
	double hh;
	if (range <= 0)
		hh = 0;
	else if (r == mx)
		hh = (g - b) / (6 * range);
	else if (g == mx)
		hh = (b - r) / (6 * range) + 2.0 / 6;
	else
		hh = (r - g) / (6 * range) + 4.0 / 6;
	*h = hh < 0 ? hh + 1 : hh;
}

static void ref_hsv_to_rgb(double h, double s, double v, double *r, double *g, double *b)
{
	double c = s * v, m = v - c, dh = h * 6;
	int cat = (int)dh;
	double fm = dh;
	while (fm <= 0)
		fm += 2;
	while (fm >= 2)
		fm -= 2;
	double x = c * (1 - fabs(fm - 1));
	double rr = 0, gg = 0, bb = 0;
	switch (cat) {
	case 0: rr = c, gg = x; break;
	case 1: rr = x, gg = c; break;
	case 2: gg = c, bb = x; break;
	case 3: gg = x, bb = c; break;
	case 4: rr = x, bb = c; break;
	case 5: rr = c, bb = x; break;
	default: break;
	}
	*r = rr + m, *g = gg + m, *b = bb + m;
}

static double clip255d(double x)
{
	return x < 0 ? 0 : (x > 255 ? 255 : x);
}

enum { OP_SAT = 1, OP_HUE = 2 };

/* Expected pixel after saturation (multiplier m) and/or hue (delta), each a
 * separate HSV round trip as in KerasCV. */
static void ref_sat_hue(const float *in, double m, double delta, int ops, double out[3])
{
	double r = in[0], g = in[1], b = in[2], h, s, v;
	if (ops & OP_SAT) {
		ref_rgb_to_hsv(r, g, b, &h, &s, &v);
		s = fmin(fmax(s * m, 0), 1);
		ref_hsv_to_rgb(h, s, v, &r, &g, &b);
	}
	if (ops & OP_HUE) {
		ref_rgb_to_hsv(r / 255, g / 255, b / 255, &h, &s, &v);
		h = fmod(h + delta, 1.0);
		if (h < 0)
			h += 1;
		ref_hsv_to_rgb(h, s, v, &r, &g, &b);
		r = clip255d(r * 255), g = clip255d(g * 255), b = clip255d(b * 255);
	}
	out[0] = r, out[1] = g, out[2] = b;
}

START_TEST(test_jitter_brightness)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *j1 =
		aug_new(reg, "{\"plugin\": \"random_color_jitter\", \"brightness_factor\": 0.3}");
	kcv_instance *j2 = aug_new(
		reg, "{\"plugin\": \"random_color_jitter\", \"brightness_factor\": [0.1, 0.2]}");
	const float box[] = {1, 2, 30, 40};
	for (uint64_t seed = 0; seed < 6; seed++) {
		kcv_sample s = {0}, orig = {0};
		harness_sample(&orig, 40, 30, box, 1);
		copy_sample(&s, &orig);
		kcv_rng rng, copy;
		kcv_rng_seed(&rng, seed, 1, 0, 0);
		copy = rng;
		kcv_instance *j = seed % 2 ? j2 : j1;
		double delta = (seed % 2 ? kcv_rng_range(&copy, 0.1, 0.2)
		                         : kcv_rng_range(&copy, -0.3, 0.3)) * 255.0;
		apply_ok(j, &s, &rng);
		for (size_t i = 0; i < nfloats(&s); i++)
			ck_assert_msg(fabs(s.pixels[i] - clip255d(orig.pixels[i] + delta)) < 1e-3,
			              "seed %llu at %zu", (unsigned long long)seed, i);
		ck_assert(memcmp(s.boxes.coords, box, sizeof(box)) == 0);
		/* the rng advanced by exactly the draws of the enabled ops */
		ck_assert(memcmp(&rng, &copy, sizeof(rng)) == 0);
		kcv_sample_release(&s);
		kcv_sample_release(&orig);
	}
	kcv_instance_free(j1);
	kcv_instance_free(j2);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_jitter_contrast)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *j =
		aug_new(reg, "{\"plugin\": \"random_color_jitter\", \"contrast_factor\": 0.5}");
	for (uint64_t seed = 0; seed < 4; seed++) {
		kcv_sample s = {0}, orig = {0};
		harness_sample(&orig, 37, 29, NULL, 0);
		copy_sample(&s, &orig);
		kcv_rng rng, copy;
		kcv_rng_seed(&rng, seed, 2, 0, 0);
		copy = rng;
		double c = kcv_rng_range(&copy, 0.5, 1.5), mean[3] = {0, 0, 0};
		size_t np = (size_t)s.width * s.height;
		for (size_t i = 0; i < np; i++)
			for (int k = 0; k < 3; k++)
				mean[k] += orig.pixels[3 * i + k] / (double)np;
		apply_ok(j, &s, &rng);
		for (size_t i = 0; i < nfloats(&s); i++) {
			double mu = mean[i % 3];
			double want = clip255d((orig.pixels[i] - mu) * c + mu);
			ck_assert_msg(fabs(s.pixels[i] - want) < 5e-3, "%zu: %g vs %g", i, s.pixels[i],
			              want);
		}
		kcv_sample_release(&s);
		kcv_sample_release(&orig);
	}
	kcv_instance_free(j);
	kcv_registry_free(reg);
}
END_TEST

/* Saturation and/or hue against the double reference over a few seeds. */
static void check_sat_hue(const kcv_registry *reg, const char *json, int ops, double sat_lo,
                          double sat_hi, double hue_hi)
{
	kcv_instance *j = aug_new(reg, json);
	for (uint64_t seed = 0; seed < 8; seed++) {
		kcv_sample s = {0}, orig = {0};
		harness_sample(&orig, 23, 19, NULL, 0);
		/* a few gray and saturated pixels for the edge cases */
		for (int c = 0; c < 3; c++) {
			orig.pixels[c] = 77;
			orig.pixels[3 + c] = c == 1 ? 255 : 0;
			orig.pixels[6 + c] = 0;
		}
		copy_sample(&s, &orig);
		kcv_rng rng, copy;
		kcv_rng_seed(&rng, seed, 3, 0, 0);
		copy = rng;
		double m = 1, delta = 0;
		if (ops & OP_SAT) {
			double sv = kcv_rng_range(&copy, sat_lo, sat_hi);
			m = sv / (1 - sv);
		}
		if (ops & OP_HUE) {
			double f = kcv_rng_range(&copy, 0, hue_hi);
			delta = (kcv_rng_uniform(&copy) < 0.5 ? -f : f) / 2;
		}
		apply_ok(j, &s, &rng);
		for (size_t i = 0; i < nfloats(&s) / 3; i++) {
			double want[3];
			ref_sat_hue(orig.pixels + 3 * i, m, delta, ops, want);
			for (int k = 0; k < 3; k++)
				ck_assert_msg(fabs(s.pixels[3 * i + k] - want[k]) < 0.02,
				              "%s seed %llu pixel %zu ch %d: %g vs %g", json,
				              (unsigned long long)seed, i, k, s.pixels[3 * i + k], want[k]);
		}
		kcv_sample_release(&s);
		kcv_sample_release(&orig);
	}
	kcv_instance_free(j);
}

START_TEST(test_jitter_saturation_hue)
{
	kcv_registry *reg = harness_registry();
	check_sat_hue(reg, "{\"plugin\": \"random_color_jitter\", \"saturation_factor\": 0.3}",
	              OP_SAT, 0, 0.3, 0);
	check_sat_hue(reg,
	              "{\"plugin\": \"random_color_jitter\", \"saturation_factor\": [0.55, 0.9]}",
	              OP_SAT, 0.55, 0.9, 0);
	check_sat_hue(reg, "{\"plugin\": \"random_color_jitter\", \"hue_factor\": 0.4}", OP_HUE,
	              0, 0, 0.4);
	check_sat_hue(reg,
	              "{\"plugin\": \"random_color_jitter\", \"saturation_factor\": [0.3, 0.7],"
	              " \"hue_factor\": 0.9}",
	              OP_SAT | OP_HUE, 0.3, 0.7, 0.9);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_jitter_grayscale_and_identity)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *gray =
		aug_new(reg, "{\"plugin\": \"random_color_jitter\", \"saturation_factor\": 0}");
	kcv_instance *same = aug_new(reg, "{\"plugin\": \"random_color_jitter\", "
	                                  "\"saturation_factor\": [0.5, 0.5], "
	                                  "\"brightness_factor\": 0, \"hue_factor\": 0}");
	kcv_sample s = {0}, orig = {0};
	harness_sample(&orig, 30, 20, NULL, 0);
	copy_sample(&s, &orig);
	kcv_rng rng;
	kcv_rng_seed(&rng, 4, 0, 0, 0);
	apply_ok(gray, &s, &rng);
	for (size_t i = 0; i < nfloats(&s); i += 3) {
		float mx = fmaxf(orig.pixels[i], fmaxf(orig.pixels[i + 1], orig.pixels[i + 2]));
		ck_assert_float_eq(s.pixels[i], mx);
		ck_assert_float_eq(s.pixels[i + 1], mx);
		ck_assert_float_eq(s.pixels[i + 2], mx);
	}
	copy_sample(&s, &orig);
	apply_ok(same, &s, &rng);
	ck_assert(memcmp(s.pixels, orig.pixels, nfloats(&s) * sizeof(float)) == 0);
	kcv_sample_release(&s);
	kcv_sample_release(&orig);
	kcv_instance_free(gray);
	kcv_instance_free(same);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_jitter_value_range_and_errors)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *j = aug_new(reg, "{\"plugin\": \"random_color_jitter\", "
	                               "\"value_range\": [0, 1], \"brightness_factor\": 0.2}");
	kcv_sample s = {0}, orig = {0};
	harness_sample(&orig, 16, 16, NULL, 0);
	for (size_t i = 0; i < nfloats(&orig); i++)
		orig.pixels[i] /= 255.0f;
	copy_sample(&s, &orig);
	kcv_rng rng, copy;
	kcv_rng_seed(&rng, 11, 0, 0, 0);
	copy = rng;
	double delta = kcv_rng_range(&copy, -0.2, 0.2) * 255;
	apply_ok(j, &s, &rng);
	for (size_t i = 0; i < nfloats(&s); i++)
		ck_assert(fabs(s.pixels[i] - clip255d(orig.pixels[i] * 255.0 + delta) / 255) < 1e-5);
	kcv_sample_release(&s);
	kcv_sample_release(&orig);
	kcv_instance_free(j);

	const char *m;
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"random_color_jitter\", \"value_range\": [255, 0]}",
	                      NULL);
	assert_contains(m, "test.value_range: expected increasing values");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"random_color_jitter\", \"brightness_factor\": 2}",
	                      NULL);
	assert_contains(m, "test.brightness_factor");
	m = harness_new_fails(
		reg, KCV_KIND_AUGMENTER,
		"{\"plugin\": \"random_color_jitter\", \"saturation_factor\": [0.6, 0.2]}", NULL);
	assert_contains(m, "test.saturation_factor");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"random_color_jitter\", \"hue_factor\": [0.1, 0.2, 0.3]}",
	                      NULL);
	assert_contains(m, "test.hue_factor");
	kcv_registry_free(reg);
}
END_TEST

/* ---- random_sharpness ------------------------------------------------------- */

static void check_sharpness(const kcv_sample *orig, const kcv_sample *s, double f)
{
	int w = orig->width, h = orig->height;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++) {
				float o = px(orig, x, y, c), got = px(s, x, y, c);
				if (x == 0 || y == 0 || x == w - 1 || y == h - 1) {
					ck_assert_float_eq(got, o);
					continue;
				}
				double sum = 0;
				for (int dy = -1; dy <= 1; dy++)
					for (int dx = -1; dx <= 1; dx++)
						sum += (dx || dy ? 1 : 5) * (double)px(orig, x + dx, y + dy, c);
				double sm = clip255d(sum / 13);
				double want = clip255d(o + f * (sm - o));
				ck_assert_msg(fabs(got - want) < 1e-3, "(%d,%d,%d): %g vs %g", x, y, c, got,
				              want);
			}
}

START_TEST(test_sharpness)
{
	kcv_registry *reg = harness_registry();
	kcv_instance *fixed =
		aug_new(reg, "{\"plugin\": \"random_sharpness\", \"factor\": [0.6, 0.6]}");
	kcv_instance *def = aug_new(reg, "{\"plugin\": \"random_sharpness\"}");
	const float box[] = {3, 3, 9, 9};
	kcv_sample s = {0}, orig = {0};
	harness_sample(&orig, 41, 27, box, 1);
	copy_sample(&s, &orig);
	kcv_rng rng, copy;
	kcv_rng_seed(&rng, 1, 0, 0, 0);
	apply_ok(fixed, &s, &rng);
	check_sharpness(&orig, &s, 0.6);
	ck_assert(memcmp(s.boxes.coords, box, sizeof(box)) == 0);
	for (uint64_t seed = 0; seed < 3; seed++) {
		copy_sample(&s, &orig);
		kcv_rng_seed(&rng, seed, 9, 0, 0);
		copy = rng;
		double f = kcv_rng_range(&copy, 0, 0.1);
		apply_ok(def, &s, &rng);
		check_sharpness(&orig, &s, f);
	}
	/* tiny images have no interior and stay as they are */
	kcv_sample t = {0}, torig = {0};
	harness_sample(&torig, 2, 5, NULL, 0);
	copy_sample(&t, &torig);
	apply_ok(fixed, &t, &rng);
	ck_assert(memcmp(t.pixels, torig.pixels, nfloats(&t) * sizeof(float)) == 0);
	const char *m = harness_new_fails(
		reg, KCV_KIND_AUGMENTER, "{\"plugin\": \"random_sharpness\", \"factor\": [0.5, 0.2]}",
		NULL);
	assert_contains(m, "test.factor");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"random_sharpness\", \"factor\": 3}", NULL);
	assert_contains(m, "test.factor");
	m = harness_new_fails(reg, KCV_KIND_AUGMENTER,
	                      "{\"plugin\": \"random_sharpness\", \"value_range\": [1, 1]}", NULL);
	assert_contains(m, "test.value_range: expected increasing values");
	kcv_sample_release(&s);
	kcv_sample_release(&orig);
	kcv_sample_release(&t);
	kcv_sample_release(&torig);
	kcv_instance_free(fixed);
	kcv_instance_free(def);
	kcv_registry_free(reg);
}
END_TEST

static Suite *color_suite(void)
{
	Suite *s = suite_create("color");
	TCase *tc;

	tc = tcase_create("random_color_jitter");
	tcase_add_test(tc, test_jitter_brightness);
	tcase_add_test(tc, test_jitter_contrast);
	tcase_add_test(tc, test_jitter_saturation_hue);
	tcase_add_test(tc, test_jitter_grayscale_and_identity);
	tcase_add_test(tc, test_jitter_value_range_and_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("random_sharpness");
	tcase_add_test(tc, test_sharpness);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(color_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
