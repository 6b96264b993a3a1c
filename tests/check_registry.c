/* The plugin registry: discovery, ABI check, load errors, lookups. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcv/kcv.h>

static char builddir[4096];

static void setup(void)
{
	const char *b = getenv("KCV_TOP_BUILDDIR");
	snprintf(builddir, sizeof(builddir), "%s", b ? b : ".");
}

/* Load a registry from one folder only; returns NULL and fills msg on error. */
static kcv_registry *load_only(const char *sub, char *msg, size_t size)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", builddir, sub);
	kcv_registry_params p = {.plugin_path = path, .system_path = "", .no_env = 1};
	kcv_error err = {0};
	kcv_registry *reg = kcv_registry_new(&p, &err);
	kcv_error_format(&err, msg, size);
	return reg;
}

START_TEST(test_builtin_plugins_found)
{
	char msg[1500];
	kcv_registry *reg = load_only("plugins", msg, sizeof(msg));
	ck_assert_msg(reg != NULL, "%s", msg);
	const char *datasets[] = {"pascal_voc", "synthetic_shapes"};
	const char *augs[] = {"random_flip", "random_color_jitter", "random_sharpness",
	                      "random_choice", "sequence", "jittered_resize", "random_crop"};
	for (size_t i = 0; i < 2; i++)
		ck_assert_ptr_nonnull(kcv_registry_find(reg, KCV_KIND_DATASET, datasets[i]));
	for (size_t i = 0; i < 7; i++)
		ck_assert_ptr_nonnull(kcv_registry_find(reg, KCV_KIND_AUGMENTER, augs[i]));
	/* kind matters */
	ck_assert_ptr_null(kcv_registry_find(reg, KCV_KIND_DATASET, "random_flip"));
	const char *file = NULL;
	const kcv_plugin_desc *d = NULL;
	ck_assert_ptr_nonnull(kcv_registry_at(reg, 0, &file, &d));
	ck_assert_ptr_nonnull(strstr(file, ".so"));
	ck_assert_uint_eq(d->abi_major, KCV_PLUGIN_ABI_MAJOR);
	char names[512];
	kcv_registry_names(reg, KCV_KIND_DATASET, names, sizeof(names));
	ck_assert_str_eq(names, "pascal_voc, synthetic_shapes");
	kcv_registry_names(reg, KCV_KIND_METRIC, names, sizeof(names));
	ck_assert_str_eq(names, "coco_map, coco_recall, voc_ap");
	kcv_registry_names(reg, KCV_KIND_DECODER, names, sizeof(names));
	ck_assert_str_eq(names, "nms, soft_nms");
	kcv_registry_free(reg);
}
END_TEST

START_TEST(test_abi_mismatch)
{
	char msg[1500];
	kcv_registry *reg = load_only("tests/plugins/abi", msg, sizeof(msg));
	ck_assert_ptr_null(reg);
	ck_assert_msg(strstr(msg, "bad_abi.so") && strstr(msg, "plugin ABI 999.0 is not supported"),
	              "%s", msg);
}
END_TEST

START_TEST(test_missing_symbol)
{
	char msg[1500];
	kcv_registry *reg = load_only("tests/plugins/nosym", msg, sizeof(msg));
	ck_assert_ptr_null(reg);
	ck_assert_msg(strstr(msg, "no_symbol.so") &&
	                  strstr(msg, "not a kcv plugin: it does not export kcv_plugin_describe()"),
	              "%s", msg);
}
END_TEST

START_TEST(test_duplicate_names_both_files)
{
	char msg[1500];
	kcv_registry *reg = load_only("tests/plugins/dup", msg, sizeof(msg));
	ck_assert_ptr_null(reg);
	ck_assert_msg(strstr(msg, "duplicate augmenter plugin \"dup_test\"") &&
	                  strstr(msg, "dup_a.so") && strstr(msg, "dup_b.so"),
	              "%s", msg);
}
END_TEST

START_TEST(test_dlopen_failure_has_dlerror)
{
	char dir[] = "/tmp/kcv-reg-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char file[256];
	snprintf(file, sizeof(file), "%s/garbage.so", dir);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an ELF file\n", f);
	fclose(f);
	kcv_registry_params p = {.plugin_path = dir, .system_path = "", .no_env = 1};
	kcv_error err = {0};
	kcv_registry *reg = kcv_registry_new(&p, &err);
	char msg[1500];
	kcv_error_format(&err, msg, sizeof(msg));
	unlink(file);
	rmdir(dir);
	ck_assert_ptr_null(reg);
	/* dlerror's own words ("invalid ELF header" or "file too short") */
	ck_assert_msg(strstr(msg, "garbage.so") && strstr(msg, "cannot load plugin") &&
	                  (strstr(msg, "ELF") || strstr(msg, "too short")) && strstr(msg, "ldd"),
	              "%s", msg);
}
END_TEST

START_TEST(test_missing_folder_is_fine_and_same_file_twice_loads_once)
{
	char path[8400];
	snprintf(path, sizeof(path), "/nonexistent/kcv:%s/plugins:%s/plugins", builddir, builddir);
	kcv_registry_params p = {.plugin_path = path, .system_path = "", .no_env = 1};
	kcv_error err = {0};
	kcv_registry *reg = kcv_registry_new(&p, &err);
	char msg[1500];
	ck_assert_msg(reg != NULL, "%s", kcv_error_format(&err, msg, sizeof(msg)));
	ck_assert_ptr_nonnull(kcv_registry_find(reg, KCV_KIND_DATASET, "pascal_voc"));
	kcv_registry_free(reg);
}
END_TEST

static const char *instance_error(const char *spec_text, kcv_kind kind, char *msg, size_t size)
{
	char err_msg[64];
	kcv_registry *reg = load_only("plugins", err_msg, sizeof(err_msg));
	ck_assert_ptr_nonnull(reg);
	json_t *spec = json_loads(spec_text, 0, NULL);
	ck_assert_ptr_nonnull(spec);
	kcv_context ctx = {.source = "p.json", .path = "data.augment", .image_width = 32,
	                   .image_height = 32, .threads = 1};
	kcv_error err = {0};
	kcv_instance *inst = kcv_instance_new(reg, kind, spec, &ctx, &err);
	ck_assert_ptr_null(inst);
	kcv_error_format(&err, msg, size);
	json_decref(spec);
	kcv_registry_free(reg);
	return msg;
}

START_TEST(test_unknown_plugin_lists_known)
{
	char msg[1500];
	instance_error("{\"plugin\": \"random_flop\"}", KCV_KIND_AUGMENTER, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "p.json: data.augment.plugin: unknown augmenter plugin "
	                          "\"random_flop\" (did you mean \"random_flip\"? augmenters: ") &&
	                  strstr(msg, "random_sharpness"),
	              "%s", msg);
	instance_error("{\"plugin\": \"pascal_voc\"}", KCV_KIND_AUGMENTER, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "\"pascal_voc\" is a dataset plugin, but an augmenter is expected "
	                          "here (augmenters: "),
	              "%s", msg);
	instance_error("{\"mode\": \"horizontal\"}", KCV_KIND_AUGMENTER, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "data.augment.plugin: missing \"plugin\""), "%s", msg);
	instance_error("[1]", KCV_KIND_AUGMENTER, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "data.augment: expected an augmenter: an object like "
	                          "{\"plugin\": \"name\", ...}, got an array"),
	              "%s", msg);
}
END_TEST

START_TEST(test_option_errors_name_the_path)
{
	char msg[1500];
	instance_error("{\"plugin\": \"random_flip\", \"mood\": \"horizontal\"}", KCV_KIND_AUGMENTER,
	               msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "p.json: data.augment.mood: unknown option \"mood\" for "
	                          "random_flip (did you mean \"mode\"?)"),
	              "%s", msg);
	instance_error("{\"plugin\": \"random_flip\", \"mode\": \"sideways\"}", KCV_KIND_AUGMENTER, msg,
	               sizeof(msg));
	ck_assert_msg(strstr(msg, "data.augment.mode: expected one of \"horizontal\""), "%s", msg);
	instance_error("{\"plugin\": \"random_sharpness\", \"factor\": \"much\"}", KCV_KIND_AUGMENTER,
	               msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "data.augment.factor: expected a number, got string \"much\""),
	              "%s", msg);
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("discovery");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_builtin_plugins_found);
	tcase_add_test(tc, test_missing_folder_is_fine_and_same_file_twice_loads_once);
	suite_add_tcase(s, tc);
	tc = tcase_create("load_errors");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_abi_mismatch);
	tcase_add_test(tc, test_missing_symbol);
	tcase_add_test(tc, test_duplicate_names_both_files);
	tcase_add_test(tc, test_dlopen_failure_has_dlerror);
	suite_add_tcase(s, tc);
	tc = tcase_create("instances");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_unknown_plugin_lists_known);
	tcase_add_test(tc, test_option_errors_name_the_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(registry_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
