/* kcv — the plugin registry and component instances.
 *
 * The registry dlopens every plugin found, in this order:
 *   1. each folder of KCV_PLUGIN_PATH (colon-separated),
 *   2. KCV_PLUGIN_SYSTEM_PATH if set (empty means none), else the built-in
 *      plugin folder (the build tree's plugins/ when run from it, or the
 *      installed $(pkglibdir)).
 * Folders are scanned up to 3 levels deep, .libs/ included. A registry is
 * frozen after kcv_registry_new returns: it is MT-safe for lookups. */
#ifndef KCV_REGISTRY_H
#define KCV_REGISTRY_H

#include <kcv/common.h>
#include <kcv/error.h>
#include <kcv/plugin.h>

KCV_BEGIN_DECLS

typedef struct kcv_registry_params {
	const char *plugin_path;   /* NULL: getenv("KCV_PLUGIN_PATH") */
	const char *system_path;   /* NULL: KCV_PLUGIN_SYSTEM_PATH or built-in */
	int no_env;                /* 1: ignore the environment entirely */
} kcv_registry_params;

/* Scan and load plugins. Caller frees. */
KCV_API kcv_registry *kcv_registry_new(const kcv_registry_params *params,
                                       kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_registry_free(kcv_registry *reg);

/* Register a component linked into the program (tests, embedders). */
KCV_API kcv_status kcv_registry_add(kcv_registry *reg, const kcv_plugin_desc *desc,
                                    const char *file, kcv_error *err) KCV_WARN_UNUSED;

/* Look up a component; NULL when absent. */
KCV_API const kcv_component *kcv_registry_find(const kcv_registry *reg, kcv_kind kind,
                                               const char *name);
/* Iterate: i from 0 while it returns non-NULL. file/plugin receive borrowed
 * strings (may be NULL pointers). */
KCV_API const kcv_component *kcv_registry_at(const kcv_registry *reg, size_t i,
                                             const char **file,
                                             const kcv_plugin_desc **plugin);
/* "a, b, c" of the names of one kind, into buf ("none" when empty). */
KCV_API const char *kcv_registry_names(const kcv_registry *reg, kcv_kind kind, char *buf,
                                       size_t size);
/* The folder the built-in plugins come from. */
KCV_API const char *kcv_registry_default_dir(void);

/* Validate a component spec (a JSON object with "plugin" and options) of the
 * given kind against the registry and the component's schema, and create it.
 * ctx->path names the spec in messages. Caller frees. */
KCV_API kcv_instance *kcv_instance_new(const kcv_registry *reg, kcv_kind kind,
                                       const struct json_t *spec, const kcv_context *ctx,
                                       kcv_error *err) KCV_WARN_UNUSED;
/* Validate only (no create). */
KCV_API kcv_status kcv_instance_validate(const kcv_registry *reg, kcv_kind kind,
                                         const struct json_t *spec,
                                         const kcv_context *ctx,
                                         kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_instance_free(kcv_instance *inst);

KCV_API const kcv_component *kcv_instance_component(const kcv_instance *inst);
KCV_API void *kcv_instance_priv(const kcv_instance *inst);
KCV_API const void *kcv_instance_config(const kcv_instance *inst);
/* The JSON path it was created from ("data.augment.layers.1"). */
KCV_API const char *kcv_instance_path(const kcv_instance *inst);

/* Convenience wrappers for the two data kinds. */
KCV_API kcv_status kcv_augmenter_apply(kcv_instance *aug, kcv_sample *s, kcv_rng *rng,
                                       kcv_error *err) KCV_WARN_UNUSED;
KCV_API size_t kcv_dataset_size(const kcv_instance *ds);
KCV_API size_t kcv_dataset_num_classes(const kcv_instance *ds);
KCV_API const char *kcv_dataset_class_name(const kcv_instance *ds, size_t i);
KCV_API kcv_status kcv_dataset_get(const kcv_instance *ds, size_t index, unsigned flags,
                                   kcv_sample *out, const kcv_report *report,
                                   kcv_error *err) KCV_WARN_UNUSED;

/* Write the first `limit` samples (0 = all) of a dataset as a VOCdevkit
 * folder that the pascal_voc dataset reads back: <dir>/VOC<year>/JPEGImages,
 * Annotations and ImageSets/Main/<split_file>.txt. Images are written as
 * they come from the dataset (JPEG, quality 100, 4:4:4), boxes in pixels (integers
 * when they are integral). Ids are the samples' ids, or 6-digit indices. */
KCV_API kcv_status kcv_dataset_export_voc(const kcv_instance *ds, const char *dir, int year,
                                          const char *split_file, size_t limit,
                                          kcv_error *err) KCV_WARN_UNUSED;

KCV_END_DECLS

#endif /* KCV_REGISTRY_H */
