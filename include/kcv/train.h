/* kcv — running a pipeline: train (fit), evaluate and predict.
 *
 * These are what `kcv run`, `kcv evaluate` and `kcv predict` call. Human
 * output (progress, summaries) goes to params->log; results come back as a
 * JSON object for --json. Everything a run writes goes under params->out_dir:
 *   checkpoints/last.safetensors, checkpoints/best.safetensors
 *   logs/train/, logs/validation/  TensorBoard event files
 *   history.csv                    one row per epoch
 *   predictions/                   detections.json and pictures
 * A checkpoint holds the model's parameters, the optimiser's state, the
 * epoch, step and data position, the callbacks' state and the resolved
 * pipeline, and is written atomically. */
#ifndef KCV_TRAIN_H
#define KCV_TRAIN_H

#include <signal.h>
#include <stdio.h>

#include <kcv/common.h>
#include <kcv/error.h>
#include <kcv/pipeline.h>

KCV_BEGIN_DECLS

struct json_t;

typedef struct kcv_run_params {
	const char *out_dir;      /* run, predict: where to write (NULL: nothing written) */
	const char *resume;       /* run: checkpoint to continue from */
	const char *weights;      /* evaluate, predict: checkpoint or reference weights */
	FILE *log;                /* human output; NULL = stderr */
	int quiet;                /* no progress bars */
	/* Set (to non-zero) from a signal handler to stop: the step finishes, a
	 * checkpoint is written and kcv_train_run returns KCV_ERR_CANCELLED. */
	volatile sig_atomic_t *stop;
} kcv_run_params;

/* Train as the pipeline says, then evaluate and predict. *result (may be
 * NULL) receives {"history": [{epoch row}...], "metrics": {...},
 * "stopped": "completed"|"early_stopping"|"interrupted", "checkpoint": path}. */
KCV_API kcv_status kcv_train_run(const kcv_pipeline *p, const kcv_run_params *params,
                                 struct json_t **result, kcv_error *err) KCV_WARN_UNUSED;

/* Metrics of params->weights on the evaluate split:
 * {"metrics": {"<metric plugin>": {"AP": .., ...}}, "images": n}. */
KCV_API kcv_status kcv_evaluate(const kcv_pipeline *p, const kcv_run_params *params,
                                struct json_t **result, kcv_error *err) KCV_WARN_UNUSED;

/* Detections of params->weights on image files, or on tensor `images` of a
 * safetensors file (N,H,W,3 float32 0..255 at the model's size) when
 * input_tensor is given: {"detections": [{"image", "category_id",
 * "category", "bbox": [x,y,w,h], "score"}...]}, boxes in the input's pixels.
 * With out_dir: detections.json (COCO results) and one picture per image. */
KCV_API kcv_status kcv_predict(const kcv_pipeline *p, const kcv_run_params *params,
                               const char *const *images, size_t num_images,
                               const char *input_tensor, struct json_t **result,
                               kcv_error *err) KCV_WARN_UNUSED;

/* kcv bench: the model's speed on one batch of the pipeline's training data,
 * the same batch every step (data loading is not timed). */
typedef struct kcv_bench_params {
	int steps;          /* timed steps; 0 = 10 */
	int warmup;         /* untimed steps first (< 0: 2) */
	int inference_only; /* skip the train step */
	int profile;        /* print the per-op time of each part to log */
	FILE *log;          /* NULL = stderr */
} kcv_bench_params;

/* *result: {"train_images_per_s", "inference_images_per_s" (decoder
 * included), "gflops" (achieved, train step counted as 3 forwards),
 * "peak_rss_mb", "batch_size", "threads", "image_size",
 * "forward_gflop_per_image"}. */
KCV_API kcv_status kcv_bench(const kcv_pipeline *p, const kcv_bench_params *params,
                             struct json_t **result, kcv_error *err) KCV_WARN_UNUSED;

/* For parity tests: the first `steps` training steps as kcv run takes them
 * (the next augmented batch of data.train, targets, forward, backward, one
 * optimiser step with the pipeline's optimiser and schedule), from freshly
 * initialised parameters, written to the safetensors file `path`:
 *   init.<param>                   every parameter before the first step
 * and for each step s (0-based):
 *   step<s>.images                 [N,H,W,3] as fed
 *   step<s>.gt_boxes, .gt_classes  [N,M,4] xyxy pixels, [N,M] (-1: padding)
 *   step<s>.indices                [N] dataset indices of the images
 *   step<s>.anchor_classes         [N,A] encoder classes (-1 background,
 *                                  -2 ignored)
 *   step<s>.cls_targets, .cls_weights, .box_targets, .box_weights
 *                                  the loss graph's inputs ([N,A,C], [N,A],
 *                                  [N,A,4], [N,A])
 *   step<s>.class_logits, .box_deltas  the detector's outputs
 *   step<s>.losses                 [3]: total, classification, box
 *   step<s>.grad.<param>           gradient of every trained parameter
 *   step<s>.lr, .grad_norm, .clip_scale  what the optimiser step used
 *   step<s>.after.<param>          every parameter after the step
 * Metadata: "steps" and "pipeline" (the resolved pipeline). */
KCV_API kcv_status kcv_train_trace(const kcv_pipeline *p, int steps, const char *path,
                                   kcv_error *err) KCV_WARN_UNUSED;

KCV_END_DECLS

#endif /* KCV_TRAIN_H */
