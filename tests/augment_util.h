/* Helpers shared by the augmenter test programs (check_augment, check_color,
 * check_geometry), on top of harness.h. Like the harness, every function
 * fails the current Check test on error. */
#ifndef KCV_TEST_AUGMENT_UTIL_H
#define KCV_TEST_AUGMENT_UTIL_H

#include <stddef.h>

#include <kcv/kcv.h>

/* An augmenter from JSON text, with the harness's default context. */
kcv_instance *aug_new(const kcv_registry *reg, const char *json);

/* Apply aug to s with rng; the test fails unless it returns KCV_OK. */
void apply_ok(kcv_instance *aug, kcv_sample *s, kcv_rng *rng);

/* kcv_sample_copy, which must succeed. */
void copy_sample(kcv_sample *dst, const kcv_sample *src);

/* The number of floats in s's image: width * height * 3. */
size_t nfloats(const kcv_sample *s);

/* Channel c of pixel (x, y) of s. */
float px(const kcv_sample *s, int x, int y, int c);

/* The test fails unless msg contains part. */
void assert_contains(const char *msg, const char *part);

#endif
