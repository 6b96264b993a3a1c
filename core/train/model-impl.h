/* Private: a pipeline's detector built into a graph for one batch size, with
 * its losses (when training or measuring a loss), fed batch by batch. */
#ifndef KCV_MODEL_IMPL_H
#define KCV_MODEL_IMPL_H

#include <kcv/graph.h>
#include <kcv/image.h>
#include <kcv/optim.h>
#include <kcv/pipeline.h>
#include <kcv/plugin.h>
#include <kcv/registry.h>

#include "../pipeline-impl.h"

typedef struct kcv_model {
	const kcv_pipeline *p;
	kcv_instance *det;
	const kcv_detector_vtable *dvt;
	void *dpriv;
	kcv_instance *cls_loss, *box_loss;
	kcv_graph *g;
	int batch, width, height, num_classes;
	int train, with_loss;
	kcv_detector_outputs out;
	kcv_node images, cls_t, cls_w, box_t, box_w, cls_sum, box_sum, total;
	/* per-image encoding scratch: batch x A */
	float *enc_boxes;
	int32_t *enc_classes;
	/* decoding scratch: A x 4 boxes, A x C scores */
	float *dec_boxes, *dec_scores;
	int fed;            /* images of the current batch */
	double positives;   /* positive anchors in the current batch */
} kcv_model;

/* Build the detector of pipeline `p` for batches of `batch` images at the
 * pipeline's image size. with_loss: add the loss graph (targets fed by
 * kcv_model_feed); train: derive the backward pass too. Parameters are not
 * initialised: call kcv_model_init or kcv_model_load. */
kcv_model *kcv_model_new(const kcv_pipeline *p, int batch, int with_loss, int train,
                         kcv_error *err);
void kcv_model_free(kcv_model *m);
/* Fresh parameters: heads from the detector's initialisation, the backbone
 * from its `weights` option. */
kcv_status kcv_model_init(kcv_model *m, kcv_error *err);
/* Parameters from a file: a kcv checkpoint (every graph parameter by name) or
 * a reference-layout weight file handed to the detector's loader. */
kcv_status kcv_model_load(kcv_model *m, const char *path, kcv_error *err);
/* Feed a batch (images, and targets when the model has losses). Short
 * batches are padded with zero images that count for nothing. */
kcv_status kcv_model_feed(kcv_model *m, const kcv_batch *b, kcv_error *err);
/* Feed n images (N,H,W,3 at the model's size) without targets. */
kcv_status kcv_model_feed_images(kcv_model *m, const float *images, int n, kcv_error *err);
/* Losses of the last forward: total, classification and box sums. */
void kcv_model_losses(const kcv_model *m, double *total, double *cls, double *box);
/* Decode image i of the last forward into detections (cleared first). */
kcv_status kcv_model_detect(kcv_model *m, int i, kcv_instance *decoder, kcv_detections *out,
                            kcv_error *err);
/* Register every trainable parameter with an optimiser. */
kcv_status kcv_model_register(kcv_model *m, kcv_optim *opt, kcv_error *err);
/* Add every parameter to a checkpoint writer (buffers borrowed until save). */
kcv_status kcv_model_save_params(const kcv_model *m, kcv_weights_writer *wr, kcv_error *err);
/* Restore what kcv_model_save_params wrote. */
kcv_status kcv_model_load_params(kcv_model *m, const kcv_weights *w, kcv_error *err);

#endif
