/* kcv_train_trace: the first steps of training written out for parity
 * tests. Each step is the one kcv run takes (train_epoch in fit.c): the next
 * augmented batch of data.train, kcv_model_feed (targets and per-anchor
 * weights), forward, backward, one optimiser step with the pipeline's
 * optimiser and schedule (cosine decay_steps resolved from the run's length
 * as fit.c does). Everything the step read or produced is copied into a
 * safetensors file (see train.h for the tensor names). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/safetensors.h>

#include "run-impl.h"

/* The writer borrows its buffers until save: every tensor is a copy kept
 * here. */
typedef struct trace {
	kcv_weights_writer *wr;
	float **bufs;
	size_t n, cap;
} trace;

static kcv_status trace_add(trace *t, const char *name, const float *data, int rank,
                            const int64_t *dims, kcv_error *err)
{
	size_t count = 1;
	for (int d = 0; d < rank; d++)
		count *= (size_t)dims[d];
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		float **nb = realloc(t->bufs, cap * sizeof(*nb));
		if (!nb)
			return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		t->bufs = nb;
		t->cap = cap;
	}
	float *copy = malloc((count ? count : 1) * sizeof(float));
	if (!copy)
		return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory for %s", name);
	if (count)
		memcpy(copy, data, count * sizeof(float));
	t->bufs[t->n++] = copy;
	return kcv_weights_writer_add(t->wr, name, copy, rank, dims, err);
}

static kcv_status trace_node(trace *t, const char *name, kcv_graph *g, kcv_node x,
                             kcv_error *err)
{
	kcv_shape s = kcv_graph_shape(g, x);
	return trace_add(t, name, kcv_graph_data(g, x), s.rank, s.d, err);
}

static kcv_status trace_scalar(trace *t, const char *name, double v, kcv_error *err)
{
	float f = (float)v;
	int64_t one = 1;
	return trace_add(t, name, &f, 1, &one, err);
}

/* Every parameter under "<prefix><name>"; with grads, the gradient of every
 * trainable parameter the loss reaches instead. */
static kcv_status trace_params(trace *t, kcv_graph *g, const char *prefix, int grads,
                               kcv_error *err)
{
	for (size_t i = 0;; i++) {
		kcv_node x = kcv_graph_param_at(g, i);
		if (x < 0)
			return KCV_OK;
		const float *data = grads ? kcv_graph_grad(g, x) : kcv_graph_data(g, x);
		if (grads && (!kcv_graph_param_trainable(g, x) || !data))
			continue;
		char name[256];
		snprintf(name, sizeof(name), "%s%s", prefix, kcv_graph_name(g, x));
		kcv_shape s = kcv_graph_shape(g, x);
		kcv_status st = trace_add(t, name, data, s.rank, s.d, err);
		if (st)
			return st;
	}
}

/* The batch as fed: images, and the objects as xyxy pixels [N, M, 4] with
 * their classes [N, M] (-1 pads the images with fewer than M objects). */
static kcv_status trace_batch(trace *t, const char *prefix, const kcv_batch *b, kcv_error *err)
{
	char name[128];
	int64_t di[4] = {b->n, b->height, b->width, 3};
	snprintf(name, sizeof(name), "%simages", prefix);
	kcv_status st = trace_add(t, name, b->images, 4, di, err);
	if (st)
		return st;
	size_t most = 1;
	for (int i = 0; i < b->n; i++)
		most = b->boxes[i].count > most ? b->boxes[i].count : most;
	float *boxes = malloc((size_t)b->n * most * 4 * sizeof(float));
	float *classes = malloc((size_t)b->n * most * sizeof(float));
	kcv_boxes xyxy = {0};
	if (!boxes || !classes) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		goto done;
	}
	for (size_t k = 0; k < (size_t)b->n * most; k++) {
		classes[k] = -1.0f;
		for (int d = 0; d < 4; d++)
			boxes[4 * k + d] = 0.0f;
	}
	for (int i = 0; i < b->n; i++) {
		const kcv_boxes *gt = &b->boxes[i];
		if (gt->format != KCV_BOX_XYXY) {
			if ((st = kcv_boxes_copy(&xyxy, gt, err)) != KCV_OK ||
			    (st = kcv_boxes_set_format(&xyxy, KCV_BOX_XYXY, (float)b->width,
			                               (float)b->height, err)) != KCV_OK)
				goto done;
			gt = &xyxy;
		}
		for (size_t k = 0; k < gt->count; k++) {
			size_t row = (size_t)i * most + k;
			memcpy(boxes + 4 * row, gt->coords + 4 * k, 4 * sizeof(float));
			classes[row] = gt->classes ? (float)gt->classes[k] : 0.0f;
		}
	}
	int64_t db[3] = {b->n, (int64_t)most, 4};
	snprintf(name, sizeof(name), "%sgt_boxes", prefix);
	if ((st = trace_add(t, name, boxes, 3, db, err)) != KCV_OK)
		goto done;
	snprintf(name, sizeof(name), "%sgt_classes", prefix);
	if ((st = trace_add(t, name, classes, 2, db, err)) != KCV_OK)
		goto done;
	for (int i = 0; i < b->n; i++)
		classes[i] = (float)b->indices[i];
	snprintf(name, sizeof(name), "%sindices", prefix);
	st = trace_add(t, name, classes, 1, db, err);
done:
	kcv_boxes_release(&xyxy);
	free(boxes);
	free(classes);
	return st;
}

/* The encoder's class of every anchor (-1 background, -2 ignored) of the
 * last fed batch, [N, A]. */
static kcv_status trace_classes(trace *t, const char *prefix, const kcv_model *m, int n,
                                kcv_error *err)
{
	size_t a = (size_t)m->out.num_anchors, count = (size_t)n * a;
	float *c = malloc((count ? count : 1) * sizeof(float));
	if (!c)
		return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
	for (size_t k = 0; k < count; k++)
		c[k] = (float)m->enc_classes[k];
	char name[128];
	snprintf(name, sizeof(name), "%sanchor_classes", prefix);
	int64_t d[2] = {n, (int64_t)a};
	kcv_status st = trace_add(t, name, c, 2, d, err);
	free(c);
	return st;
}

typedef struct run {
	kcv_model *m;
	kcv_optim *opt;
	kcv_instance *ds;
	kcv_loader *l;
	trace t;
} run;

static kcv_status setup(run *r, const kcv_pipeline *p, kcv_error *err)
{
	const kcv_run_config *rc = kcv_pipeline_run_config(p);
	const char *src = kcv_pipeline_file(p);
	if (!kcv_pipeline_split(p, "train"))
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "data.train",
		                 "a training trace needs data.train");
	if (!rc->has_optimizer)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "optimizer",
		                 "a training trace needs an optimizer section");
	r->l = kcv_split_loader(p, "train", 1, kcv_pipeline_shuffle(p), &r->ds, err);
	if (!r->l)
		return err->code;
	r->m = kcv_model_new(p, kcv_pipeline_batch_size(p), 1, 1, err);
	if (!r->m)
		return err->code;
	size_t nc = kcv_dataset_num_classes(r->ds);
	if (nc != (size_t)r->m->num_classes)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "model.classes",
		                 "the model has %d classes but data.train has %zu", r->m->num_classes,
		                 nc);
	size_t nb = kcv_loader_num_batches(r->l);
	if (nb == 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "data.train", "no training batch");
	/* the schedule as fit.c resolves it */
	int64_t per_epoch = rc->steps_per_epoch > 0 ? rc->steps_per_epoch : (int64_t)nb;
	kcv_schedule sched = kcv_run_schedule(rc, per_epoch * rc->epochs);
	kcv_status st = kcv_schedule_check(&sched, err);
	if (st)
		return st;
	r->opt = kcv_optim_new(&rc->optim, &sched, err);
	if (!r->opt)
		return err->code;
	if ((st = kcv_model_register(r->m, r->opt, err)) != KCV_OK ||
	    (st = kcv_model_init(r->m, err)) != KCV_OK)
		return st;
	r->t.wr = kcv_weights_writer_new(err);
	if (!r->t.wr)
		return err->code ? err->code : KCV_ERR_NOMEM;
	return kcv_loader_start(r->l, 0, err);
}

static kcv_status one_step(run *r, int s, kcv_error *err)
{
	kcv_model *m = r->m;
	kcv_graph *g = m->g;
	trace *t = &r->t;
	char pre[64], name[128];
	snprintf(pre, sizeof(pre), "step%d.", s);
	const kcv_batch *b = kcv_loader_next(r->l, err);
	if (!b)
		return err->code ? err->code
		                 : KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(m->p), "data.train",
		                             "the training split ran out after %d batches", s);
	kcv_status st;
	if ((st = trace_batch(t, pre, b, err)) != KCV_OK ||
	    (st = kcv_model_feed(m, b, err)) != KCV_OK ||
	    (st = trace_classes(t, pre, m, b->n, err)) != KCV_OK)
		return st;
	static const char *const targets[] = {"cls_targets", "cls_weights", "box_targets",
	                                      "box_weights"};
	const kcv_node tn[4] = {m->cls_t, m->cls_w, m->box_t, m->box_w};
	for (int k = 0; k < 4; k++) {
		snprintf(name, sizeof(name), "%s%s", pre, targets[k]);
		if ((st = trace_node(t, name, g, tn[k], err)) != KCV_OK)
			return st;
	}
	if ((st = kcv_graph_forward(g, err)) != KCV_OK ||
	    (st = kcv_graph_run_backward(g, err)) != KCV_OK)
		return st;
	snprintf(name, sizeof(name), "%sclass_logits", pre);
	if ((st = trace_node(t, name, g, m->out.class_logits, err)) != KCV_OK)
		return st;
	snprintf(name, sizeof(name), "%sbox_deltas", pre);
	if ((st = trace_node(t, name, g, m->out.box_deltas, err)) != KCV_OK)
		return st;
	double loss[3];
	kcv_model_losses(m, &loss[0], &loss[1], &loss[2]);
	int64_t three = 3;
	float lf[3] = {(float)loss[0], (float)loss[1], (float)loss[2]};
	snprintf(name, sizeof(name), "%slosses", pre);
	snprintf(pre, sizeof(pre), "step%d.grad.", s);
	if ((st = trace_add(t, name, lf, 1, &three, err)) != KCV_OK ||
	    (st = trace_params(t, g, pre, 1, err)) != KCV_OK)
		return st;
	kcv_optim_report rep;
	if ((st = kcv_optim_step(r->opt, &rep, err)) != KCV_OK)
		return st;
	snprintf(pre, sizeof(pre), "step%d.", s);
	snprintf(name, sizeof(name), "%slr", pre);
	if ((st = trace_scalar(t, name, rep.lr, err)) != KCV_OK)
		return st;
	snprintf(name, sizeof(name), "%sgrad_norm", pre);
	if ((st = trace_scalar(t, name, rep.grad_norm, err)) != KCV_OK)
		return st;
	snprintf(name, sizeof(name), "%sclip_scale", pre);
	if ((st = trace_scalar(t, name, rep.clip_scale, err)) != KCV_OK)
		return st;
	snprintf(pre, sizeof(pre), "step%d.after.", s);
	return trace_params(t, g, pre, 0, err);
}

kcv_status kcv_train_trace(const kcv_pipeline *p, int steps, const char *path, kcv_error *err)
{
	if (steps < 1 || steps > 1000 || !path)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL,
		                 "a training trace needs 1 to 1000 steps and an output path");
	run r;
	memset(&r, 0, sizeof(r));
	kcv_status st = setup(&r, p, err);
	if (!st)
		st = trace_params(&r.t, r.m->g, "init.", 0, err);
	for (int s = 0; s < steps && !st; s++)
		st = one_step(&r, s, err);
	if (!st) {
		char v[32];
		snprintf(v, sizeof(v), "%d", steps);
		st = kcv_weights_writer_set_metadata(r.t.wr, "steps", v, err);
	}
	if (!st) {
		char *pipeline = kcv_pipeline_dump(p);
		if (pipeline)
			st = kcv_weights_writer_set_metadata(r.t.wr, "pipeline", pipeline, err);
		free(pipeline);
	}
	if (!st)
		st = kcv_weights_writer_save(r.t.wr, path, err);
	kcv_weights_writer_free(r.t.wr);
	for (size_t i = 0; i < r.t.n; i++)
		free(r.t.bufs[i]);
	free(r.t.bufs);
	kcv_loader_free(r.l);
	kcv_instance_free(r.ds);
	kcv_optim_free(r.opt);
	kcv_model_free(r.m);
	return st;
}
