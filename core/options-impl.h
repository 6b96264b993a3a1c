/* Private: option schemas applied to JSON, nearest-name suggestions. */
#ifndef KCV_OPTIONS_IMPL_H
#define KCV_OPTIONS_IMPL_H

#include <jansson.h>

#include <kcv/plugin.h>

/* Allocations that back string and array option values. */
typedef struct kcv_option_store kcv_option_store;
void kcv_option_store_free(kcv_option_store *store);

/* Validate the JSON object `obj` against `schema` and fill `config` (zeroed,
 * the component's config struct) with defaults and the given values.
 * Keys listed in `skip` (NULL-terminated, may be NULL) are ignored. ${VAR}
 * expressions in strings are expanded and written back into `obj` (numbers
 * and booleans parsed where the option is one), so that a validated document
 * is resolved. `owner` names the component in messages ("pascal_voc"),
 * `source` the file and `path` the object's dotted path. On success *store
 * (may be NULL on entry) receives the allocations, freed with
 * kcv_option_store_free. */
kcv_status kcv_options_apply(const kcv_option *schema, json_t *obj, const char *const *skip,
                             void *config, kcv_option_store **store, const char *owner,
                             const char *source, const char *path, kcv_error *err);

/* A JSON type name for messages: "string \"abc\"", "integer 3", "object". */
void kcv_json_describe(const json_t *v, char *buf, size_t size);
/* "path.key" / "path.3" into buf. */
const char *kcv_path_join(char *buf, size_t size, const char *path, const char *key);
const char *kcv_path_index(char *buf, size_t size, const char *path, size_t index);

/* The candidate closest to `name` by edit distance if it is close enough to
 * be a likely typo, else NULL. */
const char *kcv_suggest(const char *name, const char *const *candidates, size_t count);

/* Expand ${...} in a string with the error naming source and path. Returns a
 * malloc'ed string or NULL (error set). */
char *kcv_expand_at(const char *text, const char *source, const char *path, kcv_error *err);

/* Type names of the options for `kcv plugins`. */
const char *kcv_option_type_name(kcv_option_type t);

#endif
