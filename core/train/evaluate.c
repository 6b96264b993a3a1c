/* Evaluation: losses and metrics over a split, with the pipeline's decoder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util-impl.h"
#include "run-impl.h"

FILE *kcv_run_log(const kcv_run_params *rp)
{
	return rp && rp->log ? rp->log : stderr;
}

kcv_instance *kcv_decoder_new(const kcv_pipeline *p, kcv_error *err)
{
	const json_t *spec = kcv_pipeline_decoder_spec(p);
	json_t *def = NULL;
	if (!spec)
		spec = def = json_pack("{s:s}", "plugin", "nms");
	kcv_context ctx = kcv_pipeline_context(p);
	ctx.path = "model.decoder";
	kcv_instance *d = kcv_instance_new(kcv_pipeline_registry(p), KCV_KIND_DECODER, spec, &ctx,
	                                   err);
	json_decref(def);
	return d;
}

kcv_status kcv_evaluator_init(kcv_evaluator *ev, const kcv_pipeline *p, int batch,
                              kcv_error *err)
{
	memset(ev, 0, sizeof(*ev));
	const kcv_run_config *rc = kcv_pipeline_run_config(p);
	ev->decoder = kcv_decoder_new(p, err);
	if (!ev->decoder)
		return err->code ? err->code : KCV_ERR_INVALID;
	ev->dets = calloc((size_t)batch, sizeof(*ev->dets));
	if (!ev->dets)
		return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
	ev->batch = batch;
	kcv_context ctx = kcv_pipeline_context(p);
	for (int i = 0; i < rc->num_metrics; i++) {
		char path[64];
		snprintf(path, sizeof(path), "evaluate.metrics.%d", i);
		ctx.path = path;
		ev->metrics[i] = kcv_instance_new(kcv_pipeline_registry(p), KCV_KIND_METRIC,
		                                  rc->metrics[i], &ctx, err);
		if (!ev->metrics[i])
			return err->code ? err->code : KCV_ERR_INVALID;
		ev->num_metrics++;
		const char *name = kcv_instance_component(ev->metrics[i])->name;
		snprintf(ev->names[i], sizeof(ev->names[i]), "%s", name);
		/* the same plugin twice: name the second by its position */
		for (int j = 0; j < i; j++)
			if (strcmp(ev->names[j], ev->names[i]) == 0)
				snprintf(ev->names[i], sizeof(ev->names[i]), "%s_%d", name, i);
	}
	return KCV_OK;
}

void kcv_evaluator_release(kcv_evaluator *ev)
{
	kcv_instance_free(ev->decoder);
	for (int i = 0; i < ev->num_metrics; i++)
		kcv_instance_free(ev->metrics[i]);
	for (int i = 0; ev->dets && i < ev->batch; i++)
		kcv_detections_release(&ev->dets[i]);
	free(ev->dets);
	memset(ev, 0, sizeof(*ev));
}

kcv_loader *kcv_split_loader(const kcv_pipeline *p, const char *split, int augment,
                             int shuffle, kcv_instance **ds, kcv_error *err)
{
	*ds = kcv_pipeline_dataset_new(p, split, err);
	if (!*ds)
		return NULL;
	kcv_context actx = kcv_pipeline_context(p);
	actx.path = "data.augment";
	actx.split = split;
	kcv_loader_params lp = {
		.batch_size = kcv_pipeline_batch_size(p),
		.workers = kcv_pipeline_workers(p),
		.prefetch = kcv_pipeline_prefetch(p),
		.shuffle = shuffle,
		.drop_remainder = augment ? kcv_pipeline_drop_remainder(p) : 0,
		.skip_bad = kcv_pipeline_skip_bad(p),
		.seed = kcv_pipeline_seed(p),
		.box_format = KCV_BOX_XYXY,
	};
	kcv_loader *l = kcv_loader_new(*ds, augment ? kcv_pipeline_augment_spec(p) : NULL, &actx,
	                               &lp, err);
	if (!l) {
		kcv_instance_free(*ds);
		*ds = NULL;
	}
	return l;
}

static kcv_status metric_results(kcv_evaluator *ev, json_t **out, kcv_error *err)
{
	json_t *all = json_object();
	for (int i = 0; i < ev->num_metrics; i++) {
		const kcv_metric_vtable *vt = kcv_instance_component(ev->metrics[i])->vtable;
		kcv_metric_value vals[128];
		size_t count = 0;
		kcv_status st = vt->result(kcv_instance_priv(ev->metrics[i]), vals, 128, &count, err);
		if (st) {
			json_decref(all);
			return st;
		}
		json_t *obj = json_object();
		for (size_t k = 0; k < count && k < 128; k++)
			json_object_set_new(obj, vals[k].name, json_real(vals[k].value));
		json_object_set_new(all, ev->names[i], obj);
	}
	*out = all;
	return KCV_OK;
}

kcv_status kcv_eval_pass(kcv_model *m, kcv_loader *loader, uint64_t epoch, int64_t steps,
                         kcv_evaluator *ev, int with_metrics, const char *label, FILE *log,
                         kcv_eval_result *out, kcv_error *err)
{
	memset(out, 0, sizeof(*out));
	out->loss = out->cls_loss = out->box_loss = NAN;
	size_t total = kcv_loader_num_batches(loader);
	if (steps > 0 && (size_t)steps < total)
		total = (size_t)steps;
	with_metrics = with_metrics && ev && ev->num_metrics > 0;
	if (with_metrics)
		for (int i = 0; i < ev->num_metrics; i++) {
			const kcv_metric_vtable *vt = kcv_instance_component(ev->metrics[i])->vtable;
			vt->reset(kcv_instance_priv(ev->metrics[i]));
		}
	kcv_status st = kcv_loader_start(loader, epoch, err);
	if (st)
		return st;
	kcv_graph_set_training(m->g, 0); /* batch norms on their running statistics */
	kcv_progress *bar = label ? kcv_progress_new(label, total, log) : NULL;
	double sum = 0, sum_cls = 0, sum_box = 0;
	size_t batches = 0;
	for (size_t b = 0; b < total; b++) {
		const kcv_batch *batch = kcv_loader_next(loader, err);
		if (!batch) {
			if (err->code) {
				st = err->code;
				goto done;
			}
			break;
		}
		if ((st = kcv_model_feed(m, batch, err)) != KCV_OK ||
		    (st = kcv_graph_forward(m->g, err)) != KCV_OK)
			goto done;
		if (m->with_loss) {
			double t, c, x;
			kcv_model_losses(m, &t, &c, &x);
			sum += t;
			sum_cls += c;
			sum_box += x;
		}
		batches++;
		out->images += (size_t)batch->n;
		if (with_metrics) {
			for (int i = 0; i < batch->n; i++)
				if ((st = kcv_model_detect(m, i, ev->decoder, &ev->dets[i], err)) != KCV_OK)
					goto done;
			for (int k = 0; k < ev->num_metrics; k++) {
				const kcv_metric_vtable *vt = kcv_instance_component(ev->metrics[k])->vtable;
				st = vt->update(kcv_instance_priv(ev->metrics[k]), batch->boxes, ev->dets,
				                (size_t)batch->n, err);
				if (st)
					goto done;
			}
		}
		if (bar) {
			char suffix[96] = "";
			if (m->with_loss)
				snprintf(suffix, sizeof(suffix), "val_loss: %.4f", sum / (double)batches);
			kcv_progress_update(bar, b + 1, suffix);
		}
	}
	if (batches && m->with_loss) {
		out->loss = sum / (double)batches;
		out->cls_loss = sum_cls / (double)batches;
		out->box_loss = sum_box / (double)batches;
	}
	if (with_metrics)
		st = metric_results(ev, &out->metrics, err);
done:
	kcv_graph_set_training(m->g, m->train);
	if (bar) {
		if (st == KCV_OK)
			kcv_progress_finish(bar, NULL);
		kcv_progress_free(bar);
	}
	return st;
}
