/* Test harness for plugins: load the registry from the build tree, create a
 * component from a JSON spec, push samples through it. Every function fails
 * the current Check test (ck_abort_msg) on error, printing kcv's message. */
#ifndef KCV_TEST_HARNESS_H
#define KCV_TEST_HARNESS_H

#include <check.h>

#include <kcv/kcv.h>

/* The registry of the build tree (KCV_PLUGIN_PATH set by make check). */
kcv_registry *harness_registry(void);

/* A default context: seed 1, 1 thread, image 64x48, xywh, split "train",
 * base_dir the tests source folder. */
kcv_context harness_context(const kcv_registry *reg, int width, int height);

/* Create a component of `kind` from JSON text such as
 * "{\"plugin\": \"random_flip\", \"mode\": \"horizontal\"}". ctx may be NULL
 * (harness_context(reg, 64, 48)). */
kcv_instance *harness_new(const kcv_registry *reg, kcv_kind kind, const char *json,
                          const kcv_context *ctx);

/* Expect creation to fail; returns the formatted error message (static
 * buffer of the harness, valid until the next call). */
const char *harness_new_fails(const kcv_registry *reg, kcv_kind kind, const char *json,
                              const kcv_context *ctx);

/* A sample of width x height with a deterministic gradient + noise image and
 * the given xyxy boxes (n boxes, classes 0..n-1). Release with
 * kcv_sample_release. */
void harness_sample(kcv_sample *s, int width, int height, const float *xyxy, size_t n);

/* kcv_dataset_get of item i of the dataset ds into s, which must succeed. */
void harness_get(const kcv_instance *ds, size_t i, unsigned flags, kcv_sample *s);

#endif
