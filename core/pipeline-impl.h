/* Private: the parsed run sections of a pipeline (losses, optimizer, train,
 * evaluate, predict), validated with the rest of the pipeline at load time
 * and read by the trainer. */
#ifndef KCV_PIPELINE_IMPL_H
#define KCV_PIPELINE_IMPL_H

#include <jansson.h>
#include <kcv/optim.h>
#include <kcv/pipeline.h>

#include "options-impl.h"

typedef struct kcv_losses_cfg {
	const json_t *classification, *box; /* loss specs */
	double classification_weight, box_weight;
	int batch_reduction;   /* 0 = sum over images (KerasCV), 1 = mean (torchvision) */
	int64_t min_positives; /* divide by max(N_pos, min_positives); 0 = divide_no_nan */
} kcv_losses_cfg;

typedef enum kcv_callback_type {
	KCV_CB_EARLY_STOPPING = 0,
	KCV_CB_REDUCE_LR,
	KCV_CB_CHECKPOINT,
	KCV_CB_TENSORBOARD,
	KCV_CB_COUNT
} kcv_callback_type;

typedef struct kcv_callback_cfg {
	int type;            /* kcv_callback_type */
	const char *monitor; /* "val_loss", "loss", "coco_map.AP", ... */
	int mode;            /* 0 auto, 1 min, 2 max */
	int64_t patience;
	double min_delta;
	double factor;       /* reduce_lr_on_plateau */
	int64_t cooldown;
	double min_lr;
	int save_best;       /* model_checkpoint */
	int save_last;
	int64_t update_freq; /* tensorboard: 0 = per epoch, N = every N steps too */
} kcv_callback_cfg;

#define KCV_MAX_CALLBACKS 8
#define KCV_MAX_METRICS 8

typedef struct kcv_run_config {
	int has_model, has_losses, has_optimizer;
	kcv_losses_cfg losses;
	kcv_optim_params optim;
	kcv_schedule schedule; /* decay_steps 0 = "the whole run", resolved by the trainer */
	double learning_rate;
	/* train */
	int64_t epochs, steps_per_epoch, validation_steps, metrics_every;
	int num_callbacks;
	kcv_callback_cfg callbacks[KCV_MAX_CALLBACKS];
	/* evaluate */
	const char *eval_split;
	int64_t eval_steps;
	int num_metrics;
	const json_t *metrics[KCV_MAX_METRICS];
	/* predict */
	const char *predict_split;
	int64_t predict_images;
	double predict_min_score;
} kcv_run_config;

/* The run's schedule for a run of total_steps optimiser steps: a cosine
 * schedule with decay_steps 0 decays over every step after the warm-up. */
kcv_schedule kcv_run_schedule(const kcv_run_config *rc, int64_t total_steps);

/* Parse and validate the run sections of a resolved pipeline document. */
kcv_status kcv_run_config_parse(json_t *doc, const kcv_registry *reg, const kcv_context *ctx,
                                kcv_run_config *out, kcv_option_store **store,
                                const char *source, kcv_error *err);

/* The run sections of a loaded pipeline. */
const kcv_run_config *kcv_pipeline_run_config(const kcv_pipeline *p);
/* model without "decoder" (the detector's own spec), and model.decoder. */
const json_t *kcv_pipeline_model_spec(const kcv_pipeline *p);
const json_t *kcv_pipeline_decoder_spec(const kcv_pipeline *p);
const kcv_registry *kcv_pipeline_registry(const kcv_pipeline *p);

#endif
