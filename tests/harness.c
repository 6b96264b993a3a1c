/* Test harness for plugins (see harness.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

kcv_registry *harness_registry(void)
{
	kcv_error err = {0};
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	char msg[1400];
	ck_assert_msg(reg != NULL, "registry: %s", kcv_error_format(&err, msg, sizeof(msg)));
	return reg;
}

kcv_context harness_context(const kcv_registry *reg, int width, int height)
{
	const char *src = getenv("KCV_TEST_SRCDIR");
	return (kcv_context){
		.registry = reg,
		.source = "test",
		.path = "test",
		.seed = 1,
		.threads = 1,
		.image_width = width,
		.image_height = height,
		.box_format = KCV_BOX_XYWH,
		.split = "train",
		.base_dir = src ? src : ".",
	};
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(j != NULL, "test JSON does not parse: %s: %s", text, je.text);
	return j;
}

kcv_instance *harness_new(const kcv_registry *reg, kcv_kind kind, const char *json,
                          const kcv_context *ctx)
{
	kcv_context c = ctx ? *ctx : harness_context(reg, 64, 48);
	json_t *spec = parse(json);
	kcv_error err = {0};
	kcv_instance *inst = kcv_instance_new(reg, kind, spec, &c, &err);
	json_decref(spec);
	char msg[1400];
	ck_assert_msg(inst != NULL, "creating %s: %s", json, kcv_error_format(&err, msg, sizeof(msg)));
	return inst;
}

static char fail_msg[1400];

const char *harness_new_fails(const kcv_registry *reg, kcv_kind kind, const char *json,
                              const kcv_context *ctx)
{
	kcv_context c = ctx ? *ctx : harness_context(reg, 64, 48);
	json_t *spec = parse(json);
	kcv_error err = {0};
	kcv_instance *inst = kcv_instance_new(reg, kind, spec, &c, &err);
	json_decref(spec);
	if (inst) {
		kcv_instance_free(inst);
		ck_abort_msg("expected creating %s to fail", json);
	}
	ck_assert_int_ne(err.code, 0);
	return kcv_error_format(&err, fail_msg, sizeof(fail_msg));
}

void harness_sample(kcv_sample *s, int width, int height, const float *xyxy, size_t n)
{
	kcv_error err = {0};
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(kcv_sample_resize_buffer(s, width, height, &err), KCV_OK);
	kcv_rng rng;
	kcv_rng_seed(&rng, 42, (uint64_t)width, (uint64_t)height, 0);
	for (int y = 0; y < height; y++)
		for (int x = 0; x < width; x++)
			for (int c = 0; c < 3; c++) {
				float v = 255.0f * (float)(x + y + 7 * c) / (float)(width + height + 14);
				v += (float)kcv_rng_range(&rng, -10, 10);
				s->pixels[((size_t)y * width + x) * 3 + c] = fminf(fmaxf(v, 0.0f), 255.0f);
			}
	s->boxes.format = KCV_BOX_XYXY;
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(kcv_boxes_push(&s->boxes, xyxy + 4 * i, (int32_t)i, 0, 0, &err), KCV_OK);
	snprintf(s->id, sizeof(s->id), "harness");
}

void harness_get(const kcv_instance *ds, size_t i, unsigned flags, kcv_sample *s)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_status st = kcv_dataset_get(ds, i, flags, s, NULL, &err);
	ck_assert_msg(st == KCV_OK, "get %zu: %s", i, kcv_error_format(&err, msg, sizeof(msg)));
}
