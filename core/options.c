/* Option schemas: validate a JSON object against a component's kcv_option
 * table and fill its config struct. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options-impl.h"
#include "util-impl.h"

struct kcv_option_store {
	void *ptr;
	struct kcv_option_store *next;
};

void kcv_option_store_free(kcv_option_store *s)
{
	while (s) {
		kcv_option_store *n = s->next;
		free(s->ptr);
		free(s);
		s = n;
	}
}

static void *store_alloc(kcv_option_store **store, size_t size)
{
	kcv_option_store *s = malloc(sizeof(*s));
	void *p = calloc(1, size ? size : 1);
	if (!s || !p) {
		free(s);
		free(p);
		return NULL;
	}
	s->ptr = p;
	s->next = *store;
	*store = s;
	return p;
}

static char *store_strdup(kcv_option_store **store, const char *str)
{
	size_t n = strlen(str) + 1;
	char *p = store_alloc(store, n);
	if (p)
		memcpy(p, str, n);
	return p;
}

const char *kcv_option_type_name(kcv_option_type t)
{
	switch (t) {
	case KCV_OPT_BOOL: return "boolean";
	case KCV_OPT_INT: return "integer";
	case KCV_OPT_FLOAT: return "number";
	case KCV_OPT_STRING: return "string";
	case KCV_OPT_ENUM: return "enum";
	case KCV_OPT_FLOATS: return "number[]";
	case KCV_OPT_INTS: return "integer[]";
	case KCV_OPT_STRINGS: return "string[]";
	case KCV_OPT_JSON: return "json";
	default: return "none";
	}
}

void kcv_json_describe(const json_t *v, char *buf, size_t size)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: snprintf(buf, size, "an object"); break;
	case JSON_ARRAY: snprintf(buf, size, "an array"); break;
	case JSON_STRING: snprintf(buf, size, "string \"%.60s\"", json_string_value(v)); break;
	case JSON_INTEGER: snprintf(buf, size, "integer %lld", (long long)json_integer_value(v)); break;
	case JSON_REAL: snprintf(buf, size, "number %g", json_real_value(v)); break;
	case JSON_TRUE: snprintf(buf, size, "true"); break;
	case JSON_FALSE: snprintf(buf, size, "false"); break;
	default: snprintf(buf, size, "null"); break;
	}
}

const char *kcv_path_join(char *buf, size_t size, const char *path, const char *key)
{
	if (path && path[0])
		snprintf(buf, size, "%s.%s", path, key);
	else
		snprintf(buf, size, "%s", key);
	return buf;
}

const char *kcv_path_index(char *buf, size_t size, const char *path, size_t index)
{
	snprintf(buf, size, "%s.%zu", path ? path : "", index);
	return buf;
}

/* Context of one apply call, for messages. */
typedef struct apply_ctx {
	const char *owner, *source;
	kcv_option_store **store;
	kcv_error *err;
} apply_ctx;

static int type_error(const apply_ctx *c, const char *path, const char *expected,
                      const json_t *got, const char *original)
{
	char desc[128];
	kcv_json_describe(got, desc, sizeof(desc));
	if (original)
		return KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path,
		                 "expected %s, got %s (from \"%s\")", expected, desc, original);
	return KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path, "expected %s, got %s",
	                 expected, desc);
}

/* Resolve ${...} in a string value for an option of type t. Returns a new
 * reference to the value to use (maybe `v` itself), or NULL on error.
 * *original receives the unexpanded text when expansion happened. */
static json_t *resolve(const apply_ctx *c, kcv_option_type t, json_t *v, const char *path,
                       char **original)
{
	*original = NULL;
	if (!json_is_string(v) || !strstr(json_string_value(v), "${"))
		return json_incref(v);
	char *text = kcv_expand_at(json_string_value(v), c->source, path, c->err);
	if (!text)
		return NULL;
	*original = kcv_strdup(json_string_value(v));
	json_t *out = NULL;
	if (t == KCV_OPT_BOOL || t == KCV_OPT_INT || t == KCV_OPT_FLOAT || t == KCV_OPT_INTS ||
	    t == KCV_OPT_FLOATS) {
		out = json_loads(text, JSON_DECODE_ANY, NULL);
		if (out && !json_is_number(out) && !json_is_boolean(out)) {
			json_decref(out);
			out = NULL;
		}
	}
	if (!out)
		out = json_string(text);
	free(text);
	if (!out) {
		free(*original);
		*original = NULL;
		KCV_ERROR(c->err, KCV_ERR_NOMEM, c->source, path, "out of memory");
	}
	return out;
}

static int check_range(const apply_ctx *c, const kcv_option *o, const char *path, double x,
                       int integer, const char *original)
{
	if (!(o->min < o->max))
		return 0;
	if (x >= o->min && x <= o->max && !isnan(x))
		return 0;
	const char *from = original ? " (from \"" : "";
	if (integer)
		return KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path,
		                 "expected an integer in [%lld, %lld], got %lld%s%s%s",
		                 (long long)o->min, (long long)o->max, (long long)x, from,
		                 original ? original : "", original ? "\")" : "");
	return KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path,
	                 "expected a number in [%g, %g], got %g%s%s%s", o->min, o->max, x, from,
	                 original ? original : "", original ? "\")" : "");
}

/* Convert one scalar of an option into *out (type given by `t`, which is the
 * element type for arrays). */
static int convert_scalar(const apply_ctx *c, const kcv_option *o, kcv_option_type t,
                          const json_t *v, const char *path, const char *original, void *out)
{
	switch (t) {
	case KCV_OPT_BOOL:
		if (!json_is_boolean(v))
			return type_error(c, path, "true or false", v, original);
		*(int *)out = json_is_true(v);
		return 0;
	case KCV_OPT_INT: {
		if (!json_is_integer(v))
			return type_error(c, path, "an integer", v, original);
		json_int_t x = json_integer_value(v);
		if (check_range(c, o, path, (double)x, 1, original))
			return -1;
		*(int64_t *)out = (int64_t)x;
		return 0;
	}
	case KCV_OPT_FLOAT: {
		if (!json_is_number(v))
			return type_error(c, path, "a number", v, original);
		double x = json_number_value(v);
		if (!isfinite(x))
			return type_error(c, path, "a finite number", v, original);
		if (check_range(c, o, path, x, 0, original))
			return -1;
		*(double *)out = x;
		return 0;
	}
	case KCV_OPT_STRING: {
		if (!json_is_string(v))
			return type_error(c, path, "a string", v, original);
		char *s = store_strdup(c->store, json_string_value(v));
		if (!s)
			return KCV_ERROR(c->err, KCV_ERR_NOMEM, c->source, path, "out of memory");
		*(const char **)out = s;
		return 0;
	}
	case KCV_OPT_ENUM: {
		char list[512] = "";
		size_t n = 0;
		for (const char *const *ch = o->choices; ch && *ch; ch++, n++) {
			if (json_is_string(v) && kcv_strcaseeq(json_string_value(v), *ch)) {
				*(int *)out = (int)n;
				return 0;
			}
			size_t len = strlen(list);
			snprintf(list + len, sizeof(list) - len, "%s\"%s\"", n ? ", " : "", *ch);
		}
		if (json_is_string(v)) {
			const char *s = kcv_suggest(json_string_value(v), o->choices, n);
			char desc[128];
			kcv_json_describe(v, desc, sizeof(desc));
			if (s)
				return KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path,
				                 "expected one of %s, got %s (did you mean \"%s\"?)", list,
				                 desc, s);
		}
		char expected[600];
		snprintf(expected, sizeof(expected), "one of %s", list);
		return type_error(c, path, expected, v, original);
	}
	default:
		return KCV_ERROR(c->err, KCV_ERR_INTERNAL, c->source, path,
		                 "option '%s' of %s has an unsupported type %d", o->name, c->owner,
		                 (int)t);
	}
}

static kcv_option_type element_type(kcv_option_type t)
{
	return t == KCV_OPT_FLOATS ? KCV_OPT_FLOAT : t == KCV_OPT_INTS ? KCV_OPT_INT : KCV_OPT_STRING;
}

/* Convert the value `v` of option o, writing the resolved value back into its
 * container (obj[key] or arr[index]) when ${...} expansion changed it. */
static int convert(const apply_ctx *c, const kcv_option *o, json_t *v, json_t *obj,
                   const char *path, void *field)
{
	if (o->type == KCV_OPT_JSON) {
		*(const json_t **)field = v;
		return 0;
	}
	if (o->type == KCV_OPT_FLOATS || o->type == KCV_OPT_INTS || o->type == KCV_OPT_STRINGS) {
		kcv_option_type et = element_type(o->type);
		char *orig = NULL;
		json_t *r = resolve(c, o->type, v, path, &orig);
		if (!r)
			return -1;
		if (orig && obj)
			json_object_set(obj, o->name, r);
		int rc = 0;
		json_t *arr = r;
		size_t n = json_is_array(r) ? json_array_size(r) : 1;
		if ((o->min_items && n < o->min_items) || (o->max_items && n > o->max_items)) {
			if (o->min_items == o->max_items)
				rc = KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path,
				               "expected %zu values, got %zu", o->min_items, n);
			else
				rc = KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path,
				               "expected %zu to %zu values, got %zu", o->min_items,
				               o->max_items ? o->max_items : (size_t)-1, n);
			goto done;
		}
		size_t esize = et == KCV_OPT_FLOAT ? sizeof(double)
		             : et == KCV_OPT_INT  ? sizeof(int64_t)
		                                  : sizeof(char *);
		void *items = store_alloc(c->store, esize * (n ? n : 1));
		if (!items) {
			rc = KCV_ERROR(c->err, KCV_ERR_NOMEM, c->source, path, "out of memory");
			goto done;
		}
		for (size_t i = 0; i < n && rc == 0; i++) {
			char ipath[300];
			kcv_path_index(ipath, sizeof(ipath), path, i);
			json_t *item = json_is_array(arr) ? json_array_get(arr, i) : arr;
			char *iorig = NULL;
			json_t *ri = json_is_array(arr) ? resolve(c, et, item, ipath, &iorig) : json_incref(item);
			if (!ri) {
				rc = -1;
				break;
			}
			if (iorig)
				json_array_set(arr, i, ri);
			rc = convert_scalar(c, o, et, ri, json_is_array(arr) ? ipath : path,
			                    iorig ? iorig : orig, (char *)items + i * esize);
			json_decref(ri);
			free(iorig);
		}
		if (rc == 0 && (o->flags & KCV_OPT_ASCENDING) && et != KCV_OPT_STRING) {
			for (size_t i = 1; i < n && rc == 0; i++) {
				double prev = et == KCV_OPT_FLOAT ? ((double *)items)[i - 1]
				                                  : (double)((int64_t *)items)[i - 1];
				double cur = et == KCV_OPT_FLOAT ? ((double *)items)[i]
				                                 : (double)((int64_t *)items)[i];
				if (!(prev < cur))
					rc = KCV_ERROR(c->err, KCV_ERR_INVALID, c->source, path,
					               "expected increasing values ([low, high] with low < high), "
					               "got %g before %g",
					               prev, cur);
			}
		}
		if (rc == 0) {
			if (o->type == KCV_OPT_FLOATS)
				*(kcv_floats *)field = (kcv_floats){n, items};
			else if (o->type == KCV_OPT_INTS)
				*(kcv_ints *)field = (kcv_ints){n, items};
			else
				*(kcv_strings *)field = (kcv_strings){n, items};
		}
	done:
		json_decref(r);
		free(orig);
		return rc;
	}
	char *orig = NULL;
	json_t *r = resolve(c, o->type, v, path, &orig);
	if (!r)
		return -1;
	if (orig && obj)
		json_object_set(obj, o->name, r);
	int rc = convert_scalar(c, o, o->type, r, path, orig, field);
	json_decref(r);
	free(orig);
	return rc;
}

static int is_skipped(const char *key, const char *const *skip)
{
	for (; skip && *skip; skip++)
		if (strcmp(key, *skip) == 0)
			return 1;
	return 0;
}

kcv_status kcv_options_apply(const kcv_option *schema, json_t *obj, const char *const *skip,
                             void *config, kcv_option_store **store, const char *owner,
                             const char *source, const char *path, kcv_error *err)
{
	apply_ctx c = {owner, source, store, err};
	char kpath[300];
	if (!json_is_object(obj)) {
		char desc[128];
		kcv_json_describe(obj, desc, sizeof(desc));
		return KCV_ERROR(err, KCV_ERR_INVALID, source, path, "expected an object, got %s",
		                 desc);
	}
	/* unknown keys first: the most common typo */
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		if (is_skipped(key, skip))
			continue;
		const kcv_option *o = schema;
		while (o && o->type != KCV_OPT_NONE && strcmp(o->name, key) != 0)
			o++;
		if (o && o->type != KCV_OPT_NONE)
			continue;
		const char *names[128];
		size_t n = 0;
		for (const kcv_option *p = schema; p && p->type != KCV_OPT_NONE && n < 128; p++)
			names[n++] = p->name;
		const char *s = kcv_suggest(key, names, n);
		kcv_path_join(kpath, sizeof(kpath), path, key);
		if (s)
			return KCV_ERROR(err, KCV_ERR_INVALID, source, kpath,
			                 "unknown option \"%s\" for %s (did you mean \"%s\"?)", key,
			                 owner, s);
		char list[600] = "";
		for (size_t i = 0; i < n; i++) {
			size_t len = strlen(list);
			snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", names[i]);
		}
		return KCV_ERROR(err, KCV_ERR_INVALID, source, kpath,
		                 "unknown option \"%s\" for %s (its options: %s)", key, owner,
		                 n ? list : "none");
	}
	for (const kcv_option *o = schema; o && o->type != KCV_OPT_NONE; o++) {
		void *field = (char *)config + o->offset;
		kcv_path_join(kpath, sizeof(kpath), path, o->name);
		json_t *given = json_object_get(obj, o->name);
		if (given && json_is_null(given) && o->type != KCV_OPT_JSON)
			given = NULL; /* null means "the default" */
		if (!given && (o->flags & KCV_OPT_REQUIRED))
			return KCV_ERROR(err, KCV_ERR_INVALID, source, kpath,
			                 "missing required option \"%s\" for %s (%s)", o->name, owner,
			                 o->doc ? o->doc : "");
		if (given) {
			if (convert(&c, o, given, obj, kpath, field))
				return err ? err->code : KCV_ERR_INVALID;
			continue;
		}
		if (!o->def)
			continue;
		json_error_t je;
		json_t *d = json_loads(o->def, JSON_DECODE_ANY, &je);
		if (!d)
			return KCV_ERROR(err, KCV_ERR_INTERNAL, owner, kpath,
			                 "bad default '%s' in the schema of %s: %s", o->def, owner,
			                 je.text);
		/* a JSON default joins the object, which keeps it alive */
		if (o->type == KCV_OPT_JSON) {
			*(const json_t **)field = d;
			json_object_set_new(obj, o->name, d);
			continue;
		}
		int rc = convert(&c, o, d, NULL, kpath, field);
		json_decref(d);
		if (rc)
			return err && err->code ? err->code : KCV_ERR_INTERNAL;
	}
	return KCV_OK;
}
