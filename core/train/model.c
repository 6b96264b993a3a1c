/* A pipeline's detector and losses in one graph, fed batch by batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/log.h>
#include <kcv/safetensors.h>

#include "../util-impl.h"
#include "model-impl.h"

#define CKPT_FORMAT "kcv-checkpoint"

void kcv_model_free(kcv_model *m)
{
	if (!m)
		return;
	kcv_graph_free(m->g);
	kcv_instance_free(m->cls_loss);
	kcv_instance_free(m->box_loss);
	kcv_instance_free(m->det);
	free(m->enc_boxes);
	free(m->enc_classes);
	free(m->dec_boxes);
	free(m->dec_scores);
	free(m);
}

static kcv_status build_losses(kcv_model *m, const kcv_run_config *rc, kcv_error *err)
{
	const char *src = kcv_pipeline_file(m->p);
	const kcv_registry *reg = kcv_pipeline_registry(m->p);
	kcv_context ctx = kcv_pipeline_context(m->p);
	if (!rc->has_losses)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "losses",
		                 "this command needs a losses section ({\"classification\": ..., "
		                 "\"box\": ...})");
	ctx.path = "losses.classification";
	m->cls_loss = kcv_instance_new(reg, KCV_KIND_LOSS, rc->losses.classification, &ctx, err);
	if (!m->cls_loss)
		return err->code ? err->code : KCV_ERR_INVALID;
	ctx.path = "losses.box";
	m->box_loss = kcv_instance_new(reg, KCV_KIND_LOSS, rc->losses.box, &ctx, err);
	if (!m->box_loss)
		return err->code ? err->code : KCV_ERR_INVALID;

	int64_t n = m->batch, a = m->out.num_anchors, c = m->out.num_classes;
	int64_t d3c[3] = {n, a, c}, d3b[3] = {n, a, 4}, d2[2] = {n, a};
	m->cls_t = kcv_graph_input(m->g, "targets.classes", kcv_shape_make(3, d3c));
	m->cls_w = kcv_graph_input(m->g, "targets.class_weights", kcv_shape_make(2, d2));
	m->box_t = kcv_graph_input(m->g, "targets.boxes", kcv_shape_make(3, d3b));
	m->box_w = kcv_graph_input(m->g, "targets.box_weights", kcv_shape_make(2, d2));
	const kcv_loss_vtable *cv = kcv_instance_component(m->cls_loss)->vtable;
	const kcv_loss_vtable *bv = kcv_instance_component(m->box_loss)->vtable;
	kcv_node cls = -1, box = -1;
	kcv_status st = cv->build(kcv_instance_priv(m->cls_loss), m->g, m->out.class_logits,
	                          m->cls_t, m->cls_w, &cls, err);
	if (st)
		return st;
	st = bv->build(kcv_instance_priv(m->box_loss), m->g, m->out.box_deltas, m->box_t, m->box_w,
	               &box, err);
	if (st)
		return st;
	m->cls_sum = kcv_op_sum(m->g, cls, KCV_AXIS_ALL, 0);
	m->box_sum = kcv_op_sum(m->g, box, KCV_AXIS_ALL, 0);
	m->total = kcv_op_add(m->g, m->cls_sum, m->box_sum);
	st = kcv_graph_status(m->g, err);
	if (st)
		return st;
	kcv_shape s = kcv_graph_shape(m->g, m->total);
	if (kcv_shape_numel(&s) != 1)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "losses",
		                 "the losses must give one value per image");
	kcv_graph_mark_output(m->g, m->cls_sum);
	kcv_graph_mark_output(m->g, m->box_sum);
	kcv_graph_mark_output(m->g, m->total);
	return KCV_OK;
}

kcv_model *kcv_model_new(const kcv_pipeline *p, int batch, int with_loss, int train,
                         kcv_error *err)
{
	const kcv_run_config *rc = kcv_pipeline_run_config(p);
	const char *src = kcv_pipeline_file(p);
	const json_t *spec = kcv_pipeline_model_spec(p);
	if (!spec) {
		KCV_ERROR(err, KCV_ERR_INVALID, src, "model",
		          "this pipeline has no model section: nothing to train, evaluate or predict");
		return NULL;
	}
	kcv_model *m = calloc(1, sizeof(*m));
	if (!m) {
		KCV_ERROR(err, KCV_ERR_NOMEM, src, NULL, "out of memory");
		return NULL;
	}
	m->p = p;
	m->batch = batch;
	m->train = train;
	m->with_loss = with_loss || train;
	kcv_context ctx = kcv_pipeline_context(p);
	ctx.path = "model";
	m->width = ctx.image_width;
	m->height = ctx.image_height;
	m->det = kcv_instance_new(kcv_pipeline_registry(p), KCV_KIND_DETECTOR, spec, &ctx, err);
	if (!m->det)
		goto fail;
	m->dvt = kcv_instance_component(m->det)->vtable;
	m->dpriv = kcv_instance_priv(m->det);
	kcv_graph_params gp = {.threads = kcv_pipeline_threads(p)};
	m->g = kcv_graph_new(&gp, err);
	if (!m->g)
		goto fail;
	m->images = kcv_graph_input(m->g, "images", kcv_shape_4d(batch, m->height, m->width, 3));
	if (m->dvt->build(m->dpriv, m->g, m->images, m->width, m->height, &m->out, err) != KCV_OK)
		goto fail;
	if (kcv_graph_status(m->g, err) != KCV_OK)
		goto fail;
	m->num_classes = m->out.num_classes;
	kcv_graph_mark_output(m->g, m->out.box_deltas);
	kcv_graph_mark_output(m->g, m->out.class_logits);
	if (m->with_loss && build_losses(m, rc, err) != KCV_OK)
		goto fail;
	if (train && kcv_graph_backward(m->g, m->total, err) != KCV_OK)
		goto fail;
	if (kcv_graph_compile(m->g, err) != KCV_OK)
		goto fail;
	kcv_graph_set_training(m->g, train);
	if (kcv_graph_set_precision(m->g, (kcv_precision)kcv_pipeline_precision(p), err) != KCV_OK)
		goto fail;
	size_t a = (size_t)m->out.num_anchors, c = (size_t)m->out.num_classes;
	m->enc_boxes = malloc((size_t)batch * a * 4 * sizeof(float));
	m->enc_classes = malloc((size_t)batch * a * sizeof(int32_t));
	m->dec_boxes = malloc(a * 4 * sizeof(float));
	m->dec_scores = malloc(a * c * sizeof(float));
	if (!m->enc_boxes || !m->enc_classes || !m->dec_boxes || !m->dec_scores) {
		KCV_ERROR(err, KCV_ERR_NOMEM, src, "model", "out of memory for %zu anchors", a);
		goto fail;
	}
	return m;
fail:
	if (err && !err->code)
		KCV_ERROR(err, KCV_ERR_INTERNAL, src, "model", "building the model failed");
	kcv_model_free(m);
	return NULL;
}

kcv_status kcv_model_init(kcv_model *m, kcv_error *err)
{
	return m->dvt->load(m->dpriv, m->g, NULL, err);
}

kcv_status kcv_model_save_params(const kcv_model *m, kcv_weights_writer *wr, kcv_error *err)
{
	for (size_t i = 0;; i++) {
		kcv_node x = kcv_graph_param_at(m->g, i);
		if (x < 0)
			break;
		kcv_shape s = kcv_graph_shape(m->g, x);
		kcv_status st = kcv_weights_writer_add(wr, kcv_graph_name(m->g, x),
		                                       kcv_graph_data(m->g, x), s.rank, s.d, err);
		if (st)
			return st;
	}
	return KCV_OK;
}

kcv_status kcv_model_load_params(kcv_model *m, const kcv_weights *w, kcv_error *err)
{
	const char *path = kcv_weights_path(w);
	size_t found = 0;
	for (size_t i = 0;; i++) {
		kcv_node x = kcv_graph_param_at(m->g, i);
		if (x < 0)
			break;
		const char *name = kcv_graph_name(m->g, x);
		kcv_shape s = kcv_graph_shape(m->g, x);
		kcv_tensor_info info;
		if (kcv_weights_find(w, name, &info) != 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, path, name,
			                 "the checkpoint has no tensor \"%s\": it was written for "
			                 "another model (check the pipeline's model section)",
			                 name);
		int same = info.rank == s.rank;
		for (int d = 0; same && d < s.rank; d++)
			same = info.dims[d] == s.d[d];
		if (!same) {
			char want[96];
			return KCV_ERROR(err, KCV_ERR_INVALID, path, name,
			                 "tensor \"%s\" has another shape than the model's %s: the "
			                 "checkpoint was written for another model",
			                 name, kcv_shape_format(&s, want, sizeof(want)));
		}
		kcv_status st = kcv_weights_read_f32(w, name, kcv_graph_data(m->g, x),
		                                     (size_t)kcv_shape_numel(&s), err);
		if (st)
			return st;
		found++;
	}
	/* every tensor outside the optimiser's state must belong to the model */
	size_t model_tensors = 0;
	for (size_t i = 0; i < kcv_weights_count(w); i++) {
		kcv_tensor_info info;
		if (kcv_weights_info_at(w, i, &info) == KCV_OK &&
		    strncmp(info.name, "optimizer/", 10) != 0)
			model_tensors++;
	}
	if (model_tensors != found) {
		for (size_t i = 0; i < kcv_weights_count(w); i++) {
			kcv_tensor_info info;
			if (kcv_weights_info_at(w, i, &info) != KCV_OK ||
			    strncmp(info.name, "optimizer/", 10) == 0)
				continue;
			if (kcv_graph_find(m->g, info.name) < 0)
				return KCV_ERROR(err, KCV_ERR_INVALID, path, info.name,
				                 "unexpected tensor \"%s\": the checkpoint was written for "
				                 "another model",
				                 info.name);
		}
	}
	return KCV_OK;
}

kcv_status kcv_model_load(kcv_model *m, const char *path, kcv_error *err)
{
	kcv_weights *w = kcv_weights_open(path, err);
	if (!w)
		return err->code ? err->code : KCV_ERR_IO;
	kcv_status st;
	const char *format = kcv_weights_metadata(w, "format");
	if (format && strcmp(format, CKPT_FORMAT) == 0)
		st = kcv_model_load_params(m, w, err);
	else
		st = m->dvt->load(m->dpriv, m->g, w, err);
	kcv_weights_free(w);
	return st;
}

kcv_status kcv_model_register(kcv_model *m, kcv_optim *opt, kcv_error *err)
{
	for (size_t i = 0;; i++) {
		kcv_node x = kcv_graph_param_at(m->g, i);
		if (x < 0)
			break;
		if (!kcv_graph_param_trainable(m->g, x))
			continue;
		kcv_shape s = kcv_graph_shape(m->g, x);
		float *grad = kcv_graph_grad(m->g, x);
		if (!grad)
			continue; /* trainable but not reached by the loss */
		kcv_status st = kcv_optim_add_param(opt, kcv_graph_name(m->g, x), kcv_graph_data(m->g, x),
		                                    grad, (size_t)kcv_shape_numel(&s), err);
		if (st)
			return st;
	}
	return KCV_OK;
}

kcv_status kcv_model_feed_images(kcv_model *m, const float *images, int n, kcv_error *err)
{
	if (n < 0 || n > m->batch)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, NULL, NULL, "%d images for a batch of %d", n,
		                 m->batch);
	size_t plane = (size_t)m->width * m->height * 3;
	float *dst = kcv_graph_data(m->g, m->images);
	if (n)
		memcpy(dst, images, (size_t)n * plane * sizeof(float));
	memset(dst + (size_t)n * plane, 0, (size_t)(m->batch - n) * plane * sizeof(float));
	m->fed = n;
	return KCV_OK;
}

/* Targets and weights of the loss graph (see the losses section's doc):
 * per image, weights are 1 / max(N_pos, min_positives) (0 when that is 0),
 * times 1 / images for a batch mean, times the loss's weight; classification
 * counts every anchor but the ignored ones, boxes only the positives. */
static kcv_status feed_targets(kcv_model *m, const kcv_batch *b, kcv_error *err)
{
	const kcv_losses_cfg *lc = &kcv_pipeline_run_config(m->p)->losses;
	int64_t a = m->out.num_anchors, c = m->out.num_classes;
	float *ct = kcv_graph_data(m->g, m->cls_t), *cw = kcv_graph_data(m->g, m->cls_w);
	float *bt = kcv_graph_data(m->g, m->box_t), *bw = kcv_graph_data(m->g, m->box_w);
	memset(ct, 0, (size_t)(m->batch * a * c) * sizeof(float));
	memset(cw, 0, (size_t)(m->batch * a) * sizeof(float));
	memset(bt, 0, (size_t)(m->batch * a * 4) * sizeof(float));
	memset(bw, 0, (size_t)(m->batch * a) * sizeof(float));
	kcv_boxes xyxy = {0};
	double scale_batch = lc->batch_reduction == 1 && b->n > 0 ? 1.0 / b->n : 1.0;
	m->positives = 0;
	kcv_status st = KCV_OK;
	for (int i = 0; i < b->n; i++) {
		kcv_targets t = {.num_anchors = (int)a,
		                 .box_targets = m->enc_boxes + (size_t)i * a * 4,
		                 .classes = m->enc_classes + (size_t)i * a};
		const kcv_boxes *gt = &b->boxes[i];
		if (gt->format != KCV_BOX_XYXY) {
			if ((st = kcv_boxes_copy(&xyxy, gt, err)) != KCV_OK ||
			    (st = kcv_boxes_set_format(&xyxy, KCV_BOX_XYXY, (float)b->width,
			                               (float)b->height, err)) != KCV_OK)
				break;
			gt = &xyxy;
		}
		st = m->dvt->encode(m->dpriv, gt, m->width, m->height, &t, err);
		if (st)
			break;
		int64_t npos = 0;
		for (int64_t k = 0; k < a; k++)
			npos += t.classes[k] >= 0;
		m->positives += (double)npos;
		double denom = (double)(npos > lc->min_positives ? npos : lc->min_positives);
		if (denom <= 0)
			continue; /* KerasCV: an image without positives adds nothing */
		float wc = (float)(lc->classification_weight * scale_batch / denom);
		float wb = (float)(lc->box_weight * scale_batch / denom);
		for (int64_t k = 0; k < a; k++) {
			int32_t cls = t.classes[k];
			size_t row = (size_t)i * a + k;
			if (cls == KCV_TARGET_IGNORE)
				continue;
			cw[row] = wc;
			if (cls < 0)
				continue;
			if (cls >= c) {
				st = KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(m->p), "model.classes",
				               "image %s has class id %d but the model has %d classes",
				               b->ids[i], cls, (int)c);
				goto done;
			}
			ct[row * c + cls] = 1.0f;
			bw[row] = wb;
			memcpy(bt + row * 4, t.box_targets + k * 4, 4 * sizeof(float));
		}
	}
done:
	kcv_boxes_release(&xyxy);
	return st;
}

kcv_status kcv_model_feed(kcv_model *m, const kcv_batch *b, kcv_error *err)
{
	if (b->width != m->width || b->height != m->height)
		return KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(m->p), "image_size",
		                 "batch of %dx%d images for a model built for %dx%d", b->width,
		                 b->height, m->width, m->height);
	kcv_status st = kcv_model_feed_images(m, b->images, b->n, err);
	if (st || !m->with_loss)
		return st;
	return feed_targets(m, b, err);
}

void kcv_model_losses(const kcv_model *m, double *total, double *cls, double *box)
{
	kcv_graph *g = m->g;
	*total = m->with_loss ? kcv_graph_data(g, m->total)[0] : NAN;
	*cls = m->with_loss ? kcv_graph_data(g, m->cls_sum)[0] : NAN;
	*box = m->with_loss ? kcv_graph_data(g, m->box_sum)[0] : NAN;
}

kcv_status kcv_model_detect(kcv_model *m, int i, kcv_instance *decoder, kcv_detections *out,
                            kcv_error *err)
{
	size_t a = (size_t)m->out.num_anchors, c = (size_t)m->out.num_classes;
	const float *deltas = kcv_graph_data(m->g, m->out.box_deltas) + (size_t)i * a * 4;
	const float *logits = kcv_graph_data(m->g, m->out.class_logits) + (size_t)i * a * c;
	kcv_status st = m->dvt->decode_boxes(m->dpriv, deltas, (int)a, m->width, m->height,
	                                     m->dec_boxes, err);
	if (st)
		return st;
	for (size_t k = 0; k < a * c; k++)
		m->dec_scores[k] = 1.0f / (1.0f + expf(-logits[k]));
	kcv_decoder_input in = {
		.boxes = m->dec_boxes,
		.scores = m->dec_scores,
		.num_anchors = (int)a,
		.num_classes = (int)c,
		.num_levels = m->out.num_levels,
		.level_anchors = m->out.level_anchors,
		.width = m->width,
		.height = m->height,
	};
	kcv_detections_clear(out);
	const kcv_decoder_vtable *vt = kcv_instance_component(decoder)->vtable;
	return vt->decode(kcv_instance_priv(decoder), &in, out, err);
}
