/* Pipelines: parsing, validation messages, ${VAR} expansion, --set. */
#include <check.h>
#include <jansson.h>
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
	snprintf(dir, sizeof(dir), "/tmp/kcv-pipe-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	kcv_registry_free(reg);
}

/* Write text to <dir>/<name> and return the path (static buffer). */
static const char *write_pipeline(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static const char *load_error(const char *text, const char *const *sets, size_t n)
{
	static char msg[1500];
	const char *path = write_pipeline("p.json", text);
	kcv_error err = {0};
	kcv_pipeline *p = kcv_pipeline_load(path, sets, n, reg, &err);
	ck_assert_msg(p == NULL, "expected an error for %s", text);
	kcv_error_format(&err, msg, sizeof(msg));
	/* strip the temp folder so that messages compare */
	const char *s = strstr(msg, "p.json");
	return s ? s : msg;
}

static kcv_pipeline *load_ok(const char *text, const char *const *sets, size_t n)
{
	const char *path = write_pipeline("p.json", text);
	kcv_error err = {0};
	kcv_pipeline *p = kcv_pipeline_load(path, sets, n, reg, &err);
	char msg[1500];
	ck_assert_msg(p != NULL, "%s", kcv_error_format(&err, msg, sizeof(msg)));
	return p;
}

#define SYN "{\"plugin\": \"synthetic_shapes\", \"size\": 10}"

START_TEST(test_syntax_error_has_line_and_column)
{
	const char *m = load_error("{\n  \"seed\": 1,\n  \"data\": {\"train\": " SYN ",}\n}\n", NULL, 0);
	ck_assert_msg(strncmp(m, "p.json:3:", 9) == 0, "%s", m);
	m = load_error("{\"seed\": 1, \"seed\": 2, \"data\": {}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json:1:") && strstr(m, "duplicate"), "%s", m);
	m = load_error("[1, 2]", NULL, 0);
	ck_assert_msg(strstr(m, "a pipeline is a JSON object"), "%s", m);
}
END_TEST

START_TEST(test_semantic_errors_name_the_path)
{
	const char *m = load_error("{\"datta\": {}}", NULL, 0);
	ck_assert_str_eq(m, "p.json: datta: unknown option \"datta\" for the pipeline (did you mean \"data\"?)");
	m = load_error("{\"data\": {\"train\": " SYN ", \"batch_size\": \"eight\"}}", NULL, 0);
	ck_assert_str_eq(m, "p.json: data.batch_size: expected an integer, got string \"eight\"");
	m = load_error("{\"data\": {\"train\": " SYN ", \"batch_size\": 0}}", NULL, 0);
	ck_assert_str_eq(m, "p.json: data.batch_size: expected an integer in [1, 65536], got 0");
	m = load_error("{\"bounding_box_format\": \"xwyh\", \"data\": {\"train\": " SYN "}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json: bounding_box_format: expected one of \"xyxy\"") &&
	                  strstr(m, "(did you mean \"xywh\"?)"),
	              "%s", m);
	m = load_error("{\"image_size\": [512], \"data\": {\"train\": " SYN "}}", NULL, 0);
	ck_assert_str_eq(m, "p.json: image_size: expected 2 values, got 1");
	m = load_error("{\"data\": {\"train\": {\"plugin\": \"synthetic_shapes\", \"sizes\": 3}}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json: data.train.sizes: unknown option \"sizes\" for "
	                        "synthetic_shapes (did you mean \"size\"?)"),
	              "%s", m);
	m = load_error("{\"data\": {\"train\": {\"plugin\": \"pascal_vco\", \"root\": \"/x\"}}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json: data.train.plugin: unknown dataset plugin \"pascal_vco\" "
	                        "(did you mean \"pascal_voc\"? datasets: pascal_voc, synthetic_shapes)"),
	              "%s", m);
	m = load_error("{\"data\": {\"batch_size\": 2}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json: data: no dataset"), "%s", m);
	m = load_error("{\"data\": {\"train\": " SYN ", \"augment\": {\"plugin\": \"random_choice\", "
	               "\"layers\": [{\"plugin\": \"random_flip\", \"mode\": 3}]}}}",
	               NULL, 0);
	ck_assert_msg(strstr(m, "p.json: data.augment.layers.0.mode: expected one of"), "%s", m);
	m = load_error("{\"data\": {\"train\": " SYN "}, \"model\": {\"plugin\": \"retinet\"}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json: model.plugin: unknown detector plugin \"retinet\""), "%s", m);
	m = load_error("{\"data\": {\"train\": " SYN "}, \"model\": {\"plugin\": \"retinanet\"}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json: model.classes: missing required option \"classes\" for retinanet"),
	              "%s", m);
	m = load_error("{\"data\": {\"train\": " SYN "}, \"model\": {\"plugin\": \"retinanet\", "
	               "\"classes\": 6, \"backbone\": {\"plugin\": \"resnet18\"}, "
	               "\"decoder\": {\"plugin\": \"nms\", \"iou_treshold\": 0.5}}}",
	               NULL, 0);
	ck_assert_msg(strstr(m, "p.json: model.decoder.iou_treshold: unknown option \"iou_treshold\" for nms "
	                        "(did you mean \"iou_threshold\"?)"),
	              "%s", m);
}
END_TEST

START_TEST(test_variables_expand_and_convert)
{
	setenv("KCV_TEST_BATCH", "4", 1);
	setenv("KCV_TEST_EMPTY", "", 1);
	unsetenv("KCV_TEST_UNSET");
	kcv_pipeline *p = load_ok(
		"{\"name\": \"run-${KCV_TEST_BATCH}-${KCV_TEST_UNSET:-x}\", \"seed\": \"${KCV_TEST_UNSET:-7}\","
		" \"data\": {\"train\": {\"plugin\": \"synthetic_shapes\", \"size\": \"${KCV_TEST_EMPTY:-12}\"},"
		" \"batch_size\": \"${KCV_TEST_BATCH}\", \"shuffle\": \"${KCV_TEST_UNSET:-false}\"}}",
		NULL, 0);
	ck_assert_str_eq(kcv_pipeline_name(p), "run-4-x");
	ck_assert_uint_eq(kcv_pipeline_seed(p), 7);
	ck_assert_int_eq(kcv_pipeline_batch_size(p), 4);
	ck_assert_int_eq(kcv_pipeline_shuffle(p), 0);
	/* the resolved document holds typed values */
	const json_t *doc = kcv_pipeline_json(p);
	ck_assert(json_is_integer(json_object_get(json_object_get(doc, "data"), "batch_size")));
	kcv_error err = {0};
	kcv_instance *ds = kcv_pipeline_dataset_new(p, "train", &err);
	ck_assert_ptr_nonnull(ds);
	ck_assert_uint_eq(kcv_dataset_size(ds), 12);
	kcv_instance_free(ds);
	kcv_pipeline_free(p);

	const char *m = load_error("{\"data\": {\"train\": {\"plugin\": \"pascal_voc\", \"root\": "
	                           "\"${KCV_TEST_UNSET}/x\"}}}",
	                           NULL, 0);
	ck_assert_str_eq(m, "p.json: data.train.root: environment variable KCV_TEST_UNSET is not set "
	                    "(set it, or write ${KCV_TEST_UNSET:-default})");
	m = load_error("{\"data\": {\"train\": " SYN ", \"batch_size\": \"${KCV_TEST_UNSET:-many}\"}}",
	               NULL, 0);
	ck_assert_str_eq(m, "p.json: data.batch_size: expected an integer, got string \"many\" "
	                    "(from \"${KCV_TEST_UNSET:-many}\")");
	m = load_error("{\"name\": \"${BROKEN\", \"data\": {\"train\": " SYN "}}", NULL, 0);
	ck_assert_msg(strstr(m, "p.json: name: bad variable reference"), "%s", m);
	/* without ${...}, a quoted number is still a type error */
	m = load_error("{\"data\": {\"train\": " SYN ", \"batch_size\": \"4\"}}", NULL, 0);
	ck_assert_str_eq(m, "p.json: data.batch_size: expected an integer, got string \"4\"");
	unsetenv("KCV_TEST_BATCH");
	unsetenv("KCV_TEST_EMPTY");
}
END_TEST

START_TEST(test_set_overrides)
{
	const char *sets[] = {
		"data.batch_size=3",
		"name=hello world",
		"data.train.size=5",
		"data.augment={\"plugin\": \"random_choice\", \"layers\": [{\"plugin\": \"random_flip\"}]}",
		"data.augment.layers.0.mode=vertical",
		"image_size=[64, 96]",
	};
	kcv_pipeline *p = load_ok("{\"data\": {\"train\": " SYN "}}", sets, 6);
	ck_assert_int_eq(kcv_pipeline_batch_size(p), 3);
	ck_assert_str_eq(kcv_pipeline_name(p), "hello world");
	kcv_context c = kcv_pipeline_context(p);
	ck_assert_int_eq(c.image_height, 64);
	ck_assert_int_eq(c.image_width, 96);
	const json_t *aug = kcv_pipeline_augment_spec(p);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(aug, "layers"), 0), "mode")),
	                 "vertical");
	char *dump = kcv_pipeline_dump(p);
	ck_assert_ptr_nonnull(strstr(dump, "\"batch_size\": 3"));
	free(dump);
	kcv_pipeline_free(p);

	const char *bad1[] = {"data.batch_size"};
	const char *m = load_error("{\"data\": {\"train\": " SYN "}}", bad1, 1);
	ck_assert_msg(strstr(m, "expected key.path=value") , "%s", m);
	const char *bad2[] = {"data.batch_size.x=1"};
	load_error("{\"data\": {\"train\": " SYN ", \"batch_size\": 2}}", bad2, 1);
	const char *bad3[] = {"data.augment.layers.5.mode=vertical"};
	m = load_error("{\"data\": {\"train\": " SYN ", \"augment\": {\"plugin\": \"random_choice\", "
	               "\"layers\": [{\"plugin\": \"random_flip\"}]}}}",
	               bad3, 1);
	ck_assert_msg(strstr(m, "not an index"), "%s", m);
	const char *bad4[] = {"data.batch_size=0"};
	m = load_error("{\"data\": {\"train\": " SYN "}}", bad4, 1);
	ck_assert_msg(strstr(m, "data.batch_size: expected an integer in [1, 65536], got 0"), "%s", m);
}
END_TEST

START_TEST(test_defaults_and_threads)
{
	setenv("KCV_THREADS", "3", 1);
	kcv_pipeline *p = load_ok("{\"data\": {\"validation\": " SYN "}}", NULL, 0);
	ck_assert_str_eq(kcv_pipeline_name(p), "p");
	ck_assert_uint_eq(kcv_pipeline_seed(p), 1);
	ck_assert_int_eq(kcv_pipeline_threads(p), 3);
	ck_assert_int_eq(kcv_pipeline_workers(p), 3);
	ck_assert_int_eq(kcv_pipeline_batch_size(p), 8);
	kcv_context c = kcv_pipeline_context(p);
	ck_assert_int_eq(c.image_width, 512);
	ck_assert_int_eq(c.box_format, KCV_BOX_XYWH);
	ck_assert_ptr_nonnull(kcv_pipeline_split(p, "validation"));
	ck_assert_ptr_null(kcv_pipeline_split(p, "train"));
	kcv_error err = {0};
	ck_assert_ptr_null(kcv_pipeline_dataset_new(p, "train", &err));
	ck_assert_msg(strstr(err.text, "no \"train\" split (it has: validation)"), "%s", err.text);
	kcv_pipeline_free(p);
	setenv("KCV_THREADS", "lots", 1);
	const char *m = load_error("{\"data\": {\"validation\": " SYN "}}", NULL, 0);
	ck_assert_msg(strstr(m, "KCV_THREADS") && strstr(m, "lots"), "%s", m);
	unsetenv("KCV_THREADS");
}
END_TEST

START_TEST(test_missing_file)
{
	kcv_error err = {0};
	ck_assert_ptr_null(kcv_pipeline_load("/nonexistent/p.json", NULL, 0, reg, &err));
	char msg[1500];
	ck_assert_str_eq(kcv_error_format(&err, msg, sizeof(msg)),
	                 "/nonexistent/p.json: cannot open: No such file or directory");
}
END_TEST

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_syntax_error_has_line_and_column);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("validate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_semantic_errors_name_the_path);
	tcase_add_test(tc, test_defaults_and_threads);
	suite_add_tcase(s, tc);
	tc = tcase_create("variables");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_variables_expand_and_convert);
	suite_add_tcase(s, tc);
	tc = tcase_create("overrides");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_set_overrides);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pipeline_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
