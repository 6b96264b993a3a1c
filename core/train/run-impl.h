/* Private: pieces shared by fit, evaluate and predict. */
#ifndef KCV_RUN_IMPL_H
#define KCV_RUN_IMPL_H

#include <jansson.h>
#include <kcv/loader.h>
#include <kcv/log.h>
#include <kcv/train.h>

#include "model-impl.h"

/* The decoder (model.decoder, default {"plugin": "nms"}) and the evaluate
 * metrics of a pipeline. */
typedef struct kcv_evaluator {
	kcv_instance *decoder;
	int num_metrics;
	kcv_instance *metrics[KCV_MAX_METRICS];
	char names[KCV_MAX_METRICS][64];
	kcv_detections *dets; /* one per image of a batch */
	int batch;
} kcv_evaluator;

kcv_status kcv_evaluator_init(kcv_evaluator *ev, const kcv_pipeline *p, int batch,
                              kcv_error *err);
void kcv_evaluator_release(kcv_evaluator *ev);
kcv_instance *kcv_decoder_new(const kcv_pipeline *p, kcv_error *err);

/* What one pass over a split measured. */
typedef struct kcv_eval_result {
	double loss, cls_loss, box_loss; /* per batch, averaged; NAN without losses */
	size_t images;
	json_t *metrics; /* {"coco_map": {"AP": ..}}; NULL without metrics */
} kcv_eval_result;

/* Run `steps` batches (0 = all) of `loader` (epoch `epoch`) through the model:
 * losses when the model has them, metrics when `ev` has any (and
 * with_metrics). label names the progress bar; NULL for none. */
kcv_status kcv_eval_pass(kcv_model *m, kcv_loader *loader, uint64_t epoch, int64_t steps,
                         kcv_evaluator *ev, int with_metrics, const char *label, FILE *log,
                         kcv_eval_result *out, kcv_error *err);

/* A loader over a split of the pipeline; augment only when asked. *ds
 * receives the dataset (caller frees after the loader). */
kcv_loader *kcv_split_loader(const kcv_pipeline *p, const char *split, int augment,
                             int shuffle, kcv_instance **ds, kcv_error *err);

/* Checkpoints. `state` is a JSON object stored as metadata "state". */
#define KCV_CHECKPOINT_FORMAT "kcv-checkpoint"
kcv_status kcv_checkpoint_save(const kcv_model *m, const kcv_optim *opt, const json_t *state,
                               const char *path, kcv_error *err);
/* Load parameters and optimiser state; *state receives the metadata (caller
 * decrefs). */
kcv_status kcv_checkpoint_load(kcv_model *m, kcv_optim *opt, const char *path,
                               json_t **state, kcv_error *err);

/* Draw detections on an image and write it as JPEG. */
kcv_status kcv_draw_detections(const char *path, const float *pixels, int width, int height,
                               const kcv_detections *d, float sx, float sy, double min_score,
                               const kcv_instance *dataset, int num_classes, kcv_error *err);

FILE *kcv_run_log(const kcv_run_params *rp);

/* Predict the first `count` images of a split with a built model and draw
 * them into <out_dir>/predictions (with detections.json). */
kcv_status kcv_predict_split(kcv_evaluator *ev, kcv_model *m, const kcv_pipeline *p,
                             const kcv_run_params *rp, const char *split, size_t count,
                             json_t **result, kcv_error *err);

#endif
