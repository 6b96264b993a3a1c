/* kcv — pipelines: a JSON file that wires components together.
 *
 * Loading parses the file (syntax errors carry file:line:column), applies
 * --set overrides, and validates every section against the registry and the
 * schemas of the plugins it names, before anything runs. ${VAR} and
 * ${VAR:-default} in strings expand from the environment when validated;
 * where an option is a number or a boolean the expanded text is parsed as
 * one. */
#ifndef KCV_PIPELINE_H
#define KCV_PIPELINE_H

#include <kcv/common.h>
#include <kcv/error.h>
#include <kcv/plugin.h>
#include <kcv/registry.h>

KCV_BEGIN_DECLS

typedef struct kcv_pipeline kcv_pipeline;

/* Load, apply overrides ("key.path=value", the value parsed as JSON when it
 * parses, else taken as a string) and validate. Caller frees. */
KCV_API kcv_pipeline *kcv_pipeline_load(const char *file, const char *const *sets,
                                        size_t num_sets, const kcv_registry *reg,
                                        kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_pipeline_free(kcv_pipeline *p);

KCV_API const char *kcv_pipeline_file(const kcv_pipeline *p);
KCV_API const char *kcv_pipeline_name(const kcv_pipeline *p);
KCV_API uint64_t kcv_pipeline_seed(const kcv_pipeline *p);
/* Resolved thread count (0 in the file means the number of cores). */
KCV_API int kcv_pipeline_threads(const kcv_pipeline *p);
/* The precision the model runs in (a kcv_precision): "precision" in the
 * file, or float32 where that asked for bf16 and this build or CPU has none
 * (kcv_pipeline_load then logs why, once, as a warning). */
KCV_API int kcv_pipeline_precision(const kcv_pipeline *p);
KCV_API int kcv_pipeline_batch_size(const kcv_pipeline *p);
/* Loader settings: worker threads (resolved) and batches decoded ahead. */
KCV_API int kcv_pipeline_workers(const kcv_pipeline *p);
KCV_API int kcv_pipeline_prefetch(const kcv_pipeline *p);
/* data.shuffle and data.drop_remainder. */
KCV_API int kcv_pipeline_shuffle(const kcv_pipeline *p);
KCV_API int kcv_pipeline_drop_remainder(const kcv_pipeline *p);
/* on_bad_sample: 0 = error, 1 = skip. */
KCV_API int kcv_pipeline_skip_bad(const kcv_pipeline *p);
/* A context for components of this pipeline (path and split left NULL). */
KCV_API kcv_context kcv_pipeline_context(const kcv_pipeline *p);
/* The resolved document (borrowed): overrides applied, variables expanded. */
KCV_API const struct json_t *kcv_pipeline_json(const kcv_pipeline *p);
/* Serialise the resolved pipeline (caller frees with free()). */
KCV_API char *kcv_pipeline_dump(const kcv_pipeline *p);

/* Names of data splits the pipeline defines ("train", "validation", "test"):
 * returns the spec (borrowed) or NULL. */
KCV_API const struct json_t *kcv_pipeline_split(const kcv_pipeline *p, const char *split);
/* Create the dataset of a split. Caller frees. */
KCV_API kcv_instance *kcv_pipeline_dataset_new(const kcv_pipeline *p, const char *split,
                                               kcv_error *err) KCV_WARN_UNUSED;
/* The augmenter spec (data.augment), borrowed; NULL when none. */
KCV_API const struct json_t *kcv_pipeline_augment_spec(const kcv_pipeline *p);
/* Create the augmenter chain (data.augment; NULL with no error when none).
 * Caller frees. */
KCV_API kcv_instance *kcv_pipeline_augmenter_new(const kcv_pipeline *p,
                                                 kcv_error *err) KCV_WARN_UNUSED;

/* Create the detector (model, without its decoder), which creates its
 * backbone: this finds missing weight files. NULL with no error when the
 * pipeline has no model. Caller frees. */
KCV_API kcv_instance *kcv_pipeline_detector_new(const kcv_pipeline *p,
                                                kcv_error *err) KCV_WARN_UNUSED;
/* Expand ${VAR} and ${VAR:-default} in text (caller frees). An unset
 * variable without a default is an error naming it. */
KCV_API char *kcv_expand_vars(const char *text, kcv_error *err) KCV_WARN_UNUSED;

KCV_END_DECLS

#endif /* KCV_PIPELINE_H */
