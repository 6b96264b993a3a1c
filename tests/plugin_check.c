#include "plugin_check.h"

#include <check.h>
#include <jansson.h>
#include <string.h>

kcv_instance *plugin_check_instance(const kcv_registry *reg, kcv_kind kind, const char *path,
                                    int size, const char *json, kcv_error *err)
{
	json_error_t je;
	json_t *spec = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	if (!spec) {
		KCV_ERROR(err, KCV_ERR_INVALID, "test", NULL, "spec does not parse: %s", je.text);
		return NULL;
	}
	kcv_context ctx = {.registry = reg, .source = "test.json", .path = path, .seed = 1,
	                   .threads = 1, .image_width = size, .image_height = size};
	kcv_instance *inst = kcv_instance_new(reg, kind, spec, &ctx, err);
	json_decref(spec);
	return inst;
}

void plugin_check_option_error(kcv_kind kind, const char *at, int size, const char *json,
                               const char *path, const char *text)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	ck_assert_ptr_nonnull(reg);
	kcv_instance *inst = plugin_check_instance(reg, kind, at, size, json, &err);
	if (inst)
		kcv_instance_free(inst);
	ck_assert_msg(inst == NULL, "%s was accepted", json);
	kcv_error_format(&err, msg, sizeof(msg));
	ck_assert_msg(strcmp(err.path, path) == 0, "%s: path \"%s\", expected \"%s\" (%s)", json,
	              err.path, path, msg);
	ck_assert_msg(strstr(err.text, text) != NULL, "%s: \"%s\" lacks \"%s\"", json, msg, text);
	ck_assert_msg(strchr(msg, '\n') == NULL, "not one line: %s", msg);
	kcv_registry_free(reg);
}
