/* kcv plugins [--json]: what is installed, with options. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *type_name(kcv_option_type t)
{
	static const char *const names[] = {"none",     "boolean",   "integer",  "number", "string",
	                                    "enum",     "number[]",  "integer[]", "string[]", "json"};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static json_t *option_json(const kcv_option *o)
{
	json_t *j = json_object();
	json_object_set_new(j, "name", json_string(o->name));
	json_object_set_new(j, "type", json_string(type_name(o->type)));
	json_t *def = o->def ? json_loads(o->def, JSON_DECODE_ANY, NULL) : NULL;
	json_object_set_new(j, "default", def ? def : json_null());
	json_object_set_new(j, "required", json_boolean(o->flags & KCV_OPT_REQUIRED));
	if (o->min < o->max) {
		json_object_set_new(j, "min", json_real(o->min));
		json_object_set_new(j, "max", json_real(o->max));
	}
	if (o->choices) {
		json_t *c = json_array();
		for (const char *const *p = o->choices; *p; p++)
			json_array_append_new(c, json_string(*p));
		json_object_set_new(j, "choices", c);
	}
	json_object_set_new(j, "doc", json_string(o->doc ? o->doc : ""));
	return j;
}

static int print_json(const kcv_registry *reg)
{
	json_t *root = json_object(), *arr = json_array();
	const kcv_component *c;
	const char *file;
	const kcv_plugin_desc *d;
	for (size_t i = 0; (c = kcv_registry_at(reg, i, &file, &d)) != NULL; i++) {
		json_t *p = json_object();
		json_object_set_new(p, "kind", json_string(kcv_kind_name(c->kind)));
		json_object_set_new(p, "name", json_string(c->name));
		json_object_set_new(p, "version", json_string(d && d->version ? d->version : ""));
		json_object_set_new(p, "file", file ? json_string(file) : json_null());
		json_object_set_new(p, "summary", json_string(c->summary ? c->summary : ""));
		json_t *opts = json_array();
		for (const kcv_option *o = c->options; o && o->type != KCV_OPT_NONE; o++)
			json_array_append_new(opts, option_json(o));
		json_object_set_new(p, "options", opts);
		json_array_append_new(arr, p);
	}
	json_object_set_new(root, "plugins", arr);
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		return CLI_INTERNAL_ERROR;
	puts(s);
	free(s);
	return CLI_OK;
}

static void print_text(const kcv_registry *reg)
{
	for (int k = 0; k < KCV_KIND_COUNT; k++) {
		const kcv_component *c;
		const char *file;
		const kcv_plugin_desc *d;
		int header = 0;
		for (size_t i = 0; (c = kcv_registry_at(reg, i, &file, &d)) != NULL; i++) {
			if ((int)c->kind != k)
				continue;
			if (!header) {
				const char *kn = kcv_kind_name((kcv_kind)k);
				printf("%s%s%s:\n", k ? "\n" : "", kn, kn[strlen(kn) - 1] == 's' ? "es" : "s");
				header = 1;
			}
			printf("  %s %s - %s\n    %s\n", c->name, d && d->version ? d->version : "",
			       c->summary ? c->summary : "", file ? file : "(built in)");
			for (const kcv_option *o = c->options; o && o->type != KCV_OPT_NONE; o++) {
				printf("      %-20s %-9s", o->name, type_name(o->type));
				if (o->flags & KCV_OPT_REQUIRED)
					printf(" (required)");
				else
					printf(" = %s", o->def ? o->def : "none");
				if (o->choices) {
					printf(" {");
					for (const char *const *p = o->choices; *p; p++)
						printf("%s%s", p == o->choices ? "" : "|", *p);
					printf("}");
				}
				if (o->min < o->max)
					printf(" [%g, %g]", o->min, o->max);
				printf("\n          %s\n", o->doc ? o->doc : "");
			}
		}
	}
}

int cmd_plugins(int argc, char **argv)
{
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("Usage: kcv plugins [--json]\n\nList every plugin found (built in and in "
			       "KCV_PLUGIN_PATH): kind, name, version, file and options.\n");
			return CLI_OK;
		} else
			return cli_usage_error("plugins", "unknown argument \"%s\"", argv[i]);
	}
	kcv_error err = {0};
	kcv_registry *reg = cli_registry(&err);
	if (!reg)
		return cli_fail(&err);
	int rc = CLI_OK;
	if (json)
		rc = print_json(reg);
	else
		print_text(reg);
	kcv_registry_free(reg);
	return rc;
}
