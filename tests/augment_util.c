/* Helpers shared by the augmenter test programs (see augment_util.h). */
#include <check.h>
#include <string.h>

#include "augment_util.h"
#include "harness.h"

kcv_instance *aug_new(const kcv_registry *reg, const char *json)
{
	return harness_new(reg, KCV_KIND_AUGMENTER, json, NULL);
}

void apply_ok(kcv_instance *aug, kcv_sample *s, kcv_rng *rng)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_status st = kcv_augmenter_apply(aug, s, rng, &err);
	ck_assert_msg(st == KCV_OK, "apply: %s", kcv_error_format(&err, msg, sizeof(msg)));
}

void copy_sample(kcv_sample *dst, const kcv_sample *src)
{
	kcv_error err = {0};
	ck_assert_int_eq(kcv_sample_copy(dst, src, &err), KCV_OK);
}

size_t nfloats(const kcv_sample *s)
{
	return (size_t)s->width * s->height * 3;
}

float px(const kcv_sample *s, int x, int y, int c)
{
	return s->pixels[((size_t)y * s->width + x) * 3 + c];
}

void assert_contains(const char *msg, const char *part)
{
	ck_assert_msg(strstr(msg, part) != NULL, "message \"%s\" lacks \"%s\"", msg, part);
}
