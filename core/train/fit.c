/* kcv run: train as the pipeline says (epochs of steps, validation loss each
 * epoch, callbacks, logs, checkpoints), then evaluate and predict. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tb-impl.h"
#include "../util-impl.h"
#include "callbacks-impl.h"
#include "run-impl.h"

typedef struct fit {
	const kcv_pipeline *p;
	const kcv_run_config *rc;
	const kcv_run_params *rp;
	FILE *log;
	char dir[4096];
	char last_path[4200], best_path[4200];
	kcv_model *m;
	kcv_optim *opt;
	kcv_instance *train_ds, *val_ds;
	kcv_loader *train_l, *val_l;
	kcv_evaluator ev;
	kcv_tb_writer *tb_train, *tb_val;
	int64_t steps_per_epoch, total_steps;
	/* position */
	int64_t epoch;      /* epochs completed */
	int64_t step;       /* optimiser steps done */
	int64_t epoch_step; /* steps done in the current epoch */
	uint64_t data_epoch;
	size_t data_batch;
	double sums[4];     /* loss, cls, box, images of the current epoch */
	double epoch_seconds;
	kcv_callback_state cb[KCV_MAX_CALLBACKS];
	json_t *history;    /* list of epoch rows */
	const char *stopped;
	int have_best;
} fit;

static json_t *state_json(const fit *f)
{
	json_t *cbs = json_array();
	for (int i = 0; i < f->rc->num_callbacks; i++)
		json_array_append_new(cbs, kcv_callback_state_json(&f->cb[i]));
	json_t *sums = json_pack("[f,f,f,f]", f->sums[0], f->sums[1], f->sums[2], f->sums[3]);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:O,s:f,s:f}", "epoch", (json_int_t)f->epoch,
	                 "step", (json_int_t)f->step, "epoch_step", (json_int_t)f->epoch_step,
	                 "data_epoch", (json_int_t)f->data_epoch, "data_batch",
	                 (json_int_t)f->data_batch, "callbacks", cbs, "epoch_sums", sums, "history",
	                 f->history, "lr_scale", kcv_optim_lr_scale(f->opt), "epoch_seconds",
	                 f->epoch_seconds);
}

static kcv_status save(fit *f, const char *path, kcv_error *err)
{
	json_t *state = state_json(f);
	kcv_status st = kcv_checkpoint_save(f->m, f->opt, state, path, err);
	json_decref(state);
	return st;
}

static kcv_status restore(fit *f, const char *path, kcv_error *err)
{
	json_t *state = NULL;
	kcv_status st = kcv_checkpoint_load(f->m, f->opt, path, &state, err);
	if (st)
		return st;
	f->epoch = json_integer_value(json_object_get(state, "epoch"));
	f->step = json_integer_value(json_object_get(state, "step"));
	f->epoch_step = json_integer_value(json_object_get(state, "epoch_step"));
	f->data_epoch = (uint64_t)json_integer_value(json_object_get(state, "data_epoch"));
	f->data_batch = (size_t)json_integer_value(json_object_get(state, "data_batch"));
	f->epoch_seconds = json_number_value(json_object_get(state, "epoch_seconds"));
	json_t *sums = json_object_get(state, "epoch_sums");
	for (int i = 0; i < 4; i++)
		f->sums[i] = json_number_value(json_array_get(sums, (size_t)i));
	json_t *cbs = json_object_get(state, "callbacks");
	if (json_array_size(cbs) != (size_t)f->rc->num_callbacks) {
		json_decref(state);
		return KCV_ERROR(err, KCV_ERR_INVALID, path, "state.callbacks",
		                 "the checkpoint was written with %zu callbacks, the pipeline has %d",
		                 json_array_size(cbs), f->rc->num_callbacks);
	}
	for (int i = 0; i < f->rc->num_callbacks; i++)
		kcv_callback_state_from_json(&f->cb[i], json_array_get(cbs, (size_t)i));
	json_t *h = json_object_get(state, "history");
	if (json_is_array(h))
		json_array_extend(f->history, h);
	double scale = json_number_value(json_object_get(state, "lr_scale"));
	if (scale > 0)
		kcv_optim_set_lr_scale(f->opt, scale);
	json_decref(state);
	if (f->epoch >= f->rc->epochs)
		kcv_log("train", KCV_LOG_WARNING,
		        "%s already trained %lld of %lld epochs: nothing left to train", path,
		        (long long)f->epoch, (long long)f->rc->epochs);
	return KCV_OK;
}

/* The value a callback watches, from an epoch's row. */
static int monitor_value(const json_t *row, const char *monitor, double *out)
{
	const json_t *v = json_object_get(row, monitor);
	if (!json_is_number(v))
		return -1;
	*out = json_number_value(v);
	return 0;
}

static kcv_status check_monitors(fit *f, kcv_error *err)
{
	const char *src = kcv_pipeline_file(f->p);
	for (int i = 0; i < f->rc->num_callbacks; i++) {
		const kcv_callback_cfg *c = &f->rc->callbacks[i];
		if (c->type == KCV_CB_TENSORBOARD)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "train.callbacks.%d.monitor", i);
		const char *mon = c->monitor;
		if (strcmp(mon, "loss") == 0 || strcmp(mon, "cls_loss") == 0 ||
		    strcmp(mon, "box_loss") == 0)
			continue;
		if (strncmp(mon, "val_", 4) == 0 &&
		    (!strcmp(mon + 4, "loss") || !strcmp(mon + 4, "cls_loss") ||
		     !strcmp(mon + 4, "box_loss"))) {
			if (!f->val_l)
				return KCV_ERROR(err, KCV_ERR_INVALID, src, path,
				                 "\"%s\" needs a validation split (data.validation)", mon);
			continue;
		}
		const char *dot = strchr(mon, '.');
		int known = 0;
		for (int k = 0; dot && k < f->ev.num_metrics; k++)
			known |= strlen(f->ev.names[k]) == (size_t)(dot - mon) &&
			         strncmp(f->ev.names[k], mon, (size_t)(dot - mon)) == 0;
		if (!known)
			return KCV_ERROR(err, KCV_ERR_INVALID, src, path,
			                 "unknown monitor \"%s\": use loss, val_loss, cls_loss, box_loss "
			                 "(val_ too) or <metric>.<value> such as coco_map.AP",
			                 mon);
		if (f->rc->metrics_every <= 0 || !f->val_l)
			return KCV_ERROR(err, KCV_ERR_INVALID, src, path,
			                 "monitor \"%s\" is a metric: set train.metrics_every (and a "
			                 "validation split) so that it is computed during training",
			                 mon);
	}
	return KCV_OK;
}

/* history.csv, rewritten whole each epoch (columns may appear later). */
static kcv_status write_csv(fit *f, kcv_error *err)
{
	if (!f->dir[0])
		return KCV_OK;
	json_t *cols = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(f->history, i, row) {
		const char *key;
		json_t *v;
		json_object_foreach(row, key, v) {
			int have = 0;
			for (size_t k = 0; k < json_array_size(cols) && !have; k++)
				have = strcmp(json_string_value(json_array_get(cols, k)), key) == 0;
			if (!have)
				json_array_append_new(cols, json_string(key));
		}
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	kcv_status st = KCV_OK;
#define EMIT(...)                                                                 \
	do {                                                                          \
		int n_ = snprintf(NULL, 0, __VA_ARGS__);                                  \
		if (len + (size_t)n_ + 1 > cap) {                                         \
			cap = 2 * (len + (size_t)n_ + 1);                                     \
			char *nb_ = realloc(buf, cap);                                        \
			if (!nb_)                                                             \
				goto nomem;                                                       \
			buf = nb_;                                                            \
		}                                                                         \
		len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__);               \
	} while (0)
	if (!buf)
		goto nomem;
	for (size_t k = 0; k < json_array_size(cols); k++)
		EMIT("%s%s", k ? "," : "", json_string_value(json_array_get(cols, k)));
	EMIT("\n");
	json_array_foreach(f->history, i, row) {
		for (size_t k = 0; k < json_array_size(cols); k++) {
			json_t *v = json_object_get(row, json_string_value(json_array_get(cols, k)));
			if (json_is_integer(v))
				EMIT("%s%lld", k ? "," : "", (long long)json_integer_value(v));
			else if (json_is_number(v))
				EMIT("%s%.9g", k ? "," : "", json_number_value(v));
			else
				EMIT("%s", k ? "," : "");
		}
		EMIT("\n");
	}
#undef EMIT
	{
		char path[4200];
		snprintf(path, sizeof(path), "%s/history.csv", f->dir);
		st = kcv_write_file_atomic(path, buf, len, err);
	}
	free(buf);
	json_decref(cols);
	return st;
nomem:
	free(buf);
	json_decref(cols);
	return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
}

static kcv_status tb_row(kcv_tb_writer *w, const json_t *row, int val, int64_t epoch,
                         kcv_error *err)
{
	if (!w)
		return KCV_OK;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)row, key, v) {
		if (!json_is_real(v) || strcmp(key, "epoch") == 0)
			continue;
		int is_val = strncmp(key, "val_", 4) == 0 || strchr(key, '.') != NULL;
		if (is_val != val)
			continue;
		const char *name = val && strncmp(key, "val_", 4) == 0 ? key + 4 : key;
		char tag[128];
		snprintf(tag, sizeof(tag), "epoch_%s", name);
		kcv_status st = kcv_tb_writer_add_scalar(w, tag, epoch, json_real_value(v), err);
		if (st)
			return st;
	}
	return kcv_tb_writer_flush(w, err);
}

/* Callbacks after an epoch: returns 1 when early stopping fires. */
static int run_callbacks(fit *f, const json_t *row, kcv_error *err, kcv_status *st)
{
	int stop = 0;
	*st = KCV_OK;
	for (int i = 0; i < f->rc->num_callbacks; i++) {
		const kcv_callback_cfg *c = &f->rc->callbacks[i];
		kcv_callback_state *s = &f->cb[i];
		double v;
		if (c->type == KCV_CB_TENSORBOARD || monitor_value(row, c->monitor, &v) != 0)
			continue;
		int better = kcv_callback_improves(c, s, v);
		switch (c->type) {
		case KCV_CB_EARLY_STOPPING:
			if (better) {
				s->best = v;
				s->seen = 1;
				s->wait = 0;
			} else if (++s->wait >= c->patience) {
				stop = 1;
				fprintf(f->log, "early stopping: %s did not improve for %lld epochs (best %.5g)\n",
				        c->monitor, (long long)s->wait, s->best);
			}
			break;
		case KCV_CB_REDUCE_LR: {
			int cooling = s->cooldown_left > 0;
			if (cooling) {
				s->cooldown_left--;
				s->wait = 0;
			}
			if (better) {
				s->best = v;
				s->seen = 1;
				s->wait = 0;
			} else if (!cooling && ++s->wait >= c->patience) {
				double lr = kcv_optim_lr(f->opt), scale = kcv_optim_lr_scale(f->opt);
				if (lr > c->min_lr && scale > 0) {
					double base = lr / scale;
					double nlr = lr * c->factor < c->min_lr ? c->min_lr : lr * c->factor;
					kcv_optim_set_lr_scale(f->opt, base > 0 ? nlr / base : scale);
					fprintf(f->log, "reducing the learning rate to %.4g (%s did not improve "
					                "for %lld epochs)\n",
					        nlr, c->monitor, (long long)s->wait);
				}
				s->cooldown_left = c->cooldown;
				s->wait = 0;
			}
			break;
		}
		case KCV_CB_CHECKPOINT:
			if (better) {
				s->best = v;
				s->seen = 1;
				if (c->save_best && f->dir[0]) {
					if ((*st = save(f, f->best_path, err)) != KCV_OK)
						return 0;
					f->have_best = 1;
				}
			}
			break;
		default:
			break;
		}
	}
	return stop;
}

static const kcv_callback_cfg *find_callback(const kcv_run_config *rc, int type)
{
	for (int i = 0; i < rc->num_callbacks; i++)
		if (rc->callbacks[i].type == type)
			return &rc->callbacks[i];
	return NULL;
}

static kcv_status setup(fit *f, kcv_error *err)
{
	const kcv_pipeline *p = f->p;
	const kcv_run_config *rc = f->rc;
	const char *src = kcv_pipeline_file(p);
	if (!kcv_pipeline_split(p, "train"))
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "data.train",
		                 "kcv run trains on data.train, which this pipeline does not define");
	if (f->rp->out_dir) {
		snprintf(f->dir, sizeof(f->dir), "%s", f->rp->out_dir);
		char sub[4200];
		snprintf(sub, sizeof(sub), "%s/checkpoints", f->dir);
		kcv_status st = kcv_mkdir_p(sub, err);
		if (st)
			return st;
		snprintf(f->last_path, sizeof(f->last_path), "%s/checkpoints/last.safetensors", f->dir);
		snprintf(f->best_path, sizeof(f->best_path), "%s/checkpoints/best.safetensors", f->dir);
	}
	int batch = kcv_pipeline_batch_size(p);
	f->train_l = kcv_split_loader(p, "train", 1, kcv_pipeline_shuffle(p), &f->train_ds, err);
	if (!f->train_l)
		return err->code;
	if (kcv_pipeline_split(p, "validation")) {
		f->val_l = kcv_split_loader(p, "validation", 0, 0, &f->val_ds, err);
		if (!f->val_l)
			return err->code;
	}
	f->m = kcv_model_new(p, batch, 1, 1, err);
	if (!f->m)
		return err->code;
	size_t nc = kcv_dataset_num_classes(f->train_ds);
	if (nc != (size_t)f->m->num_classes)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "model.classes",
		                 "the model has %d classes but data.train has %zu", f->m->num_classes,
		                 nc);
	kcv_status st = kcv_evaluator_init(&f->ev, p, batch, err);
	if (st)
		return st;
	st = check_monitors(f, err);
	if (st)
		return st;

	size_t nb = kcv_loader_num_batches(f->train_l);
	if (nb == 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "data.train",
		                 "the training split gives no batch (fewer images than batch_size "
		                 "with drop_remainder)");
	f->steps_per_epoch = rc->steps_per_epoch > 0 ? rc->steps_per_epoch : (int64_t)nb;
	f->total_steps = f->steps_per_epoch * rc->epochs;
	kcv_schedule sched = kcv_run_schedule(rc, f->total_steps);
	st = kcv_schedule_check(&sched, err);
	if (st)
		return st;
	f->opt = kcv_optim_new(&rc->optim, &sched, err);
	if (!f->opt)
		return err->code;
	st = kcv_model_register(f->m, f->opt, err);
	if (st)
		return st;
	f->history = json_array();
	if (f->rp->resume) {
		st = restore(f, f->rp->resume, err);
		if (st)
			return st;
		fprintf(f->log, "resuming from %s at epoch %lld, step %lld\n", f->rp->resume,
		        (long long)f->epoch + 1, (long long)f->step);
	} else {
		st = kcv_model_init(f->m, err);
		if (st)
			return st;
	}
	if (f->dir[0] && find_callback(rc, KCV_CB_TENSORBOARD)) {
		char sub[4200];
		snprintf(sub, sizeof(sub), "%s/logs/train", f->dir);
		f->tb_train = kcv_tb_writer_new(sub, err);
		if (!f->tb_train)
			return err->code;
		if (f->val_l) {
			snprintf(sub, sizeof(sub), "%s/logs/validation", f->dir);
			f->tb_val = kcv_tb_writer_new(sub, err);
			if (!f->tb_val)
				return err->code;
		}
	}
	return KCV_OK;
}

static void teardown(fit *f)
{
	kcv_tb_writer_free(f->tb_train);
	kcv_tb_writer_free(f->tb_val);
	kcv_evaluator_release(&f->ev);
	kcv_loader_free(f->train_l);
	kcv_loader_free(f->val_l);
	kcv_instance_free(f->train_ds);
	kcv_instance_free(f->val_ds);
	kcv_optim_free(f->opt);
	kcv_model_free(f->m);
	json_decref(f->history);
}

static const kcv_batch *next_batch(fit *f, kcv_error *err)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		const kcv_batch *b = kcv_loader_next(f->train_l, err);
		if (b) {
			f->data_batch++;
			return b;
		}
		if (err->code)
			return NULL;
		/* the data ran out: a new pass over it */
		f->data_epoch++;
		f->data_batch = 0;
		if (kcv_loader_start(f->train_l, f->data_epoch, err) != KCV_OK)
			return NULL;
	}
	KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(f->p), "data.train",
	          "the training split gives no batch");
	return NULL;
}

/* One epoch of training steps. Returns KCV_ERR_CANCELLED when stopped. */
static kcv_status train_epoch(fit *f, kcv_error *err)
{
	char label[64];
	snprintf(label, sizeof(label), "epoch %lld/%lld", (long long)f->epoch + 1,
	         (long long)f->rc->epochs);
	kcv_progress *bar = f->rp->quiet ? NULL : kcv_progress_new(label, (uint64_t)f->steps_per_epoch, f->log);
	kcv_status st = kcv_loader_start_at(f->train_l, f->data_epoch, f->data_batch, err);
	double t0 = kcv_now() - f->epoch_seconds;
	while (!st && f->epoch_step < f->steps_per_epoch) {
		const kcv_batch *b = next_batch(f, err);
		if (!b) {
			st = err->code ? err->code : KCV_ERR_INTERNAL;
			break;
		}
		if ((st = kcv_model_feed(f->m, b, err)) != KCV_OK ||
		    (st = kcv_graph_forward(f->m->g, err)) != KCV_OK)
			break;
		double loss, cls, box;
		kcv_model_losses(f->m, &loss, &cls, &box);
		if (!isfinite(loss)) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(f->p), "optimizer",
			               "the loss became %s at step %lld (epoch %lld): training stopped%s%s "
			               "(try a lower optimizer.learning_rate or optimizer.global_clipnorm)",
			               isnan(loss) ? "NaN" : "infinite", (long long)f->step + 1,
			               (long long)f->epoch + 1,
			               f->epoch > 0 && f->dir[0] ? "; the last good checkpoint is " : "",
			               f->epoch > 0 && f->dir[0] ? f->last_path : "");
			break;
		}
		if ((st = kcv_graph_run_backward(f->m->g, err)) != KCV_OK)
			break;
		kcv_optim_report rep;
		st = kcv_optim_step(f->opt, &rep, err);
		if (st) {
			kcv_error_clear(err);
			st = KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(f->p), "optimizer",
			               "the gradient became non-finite at step %lld (epoch %lld): training "
			               "stopped%s%s",
			               (long long)f->step + 1, (long long)f->epoch + 1,
			               f->epoch > 0 && f->dir[0] ? "; the last good checkpoint is " : "",
			               f->epoch > 0 && f->dir[0] ? f->last_path : "");
			break;
		}
		f->step++;
		f->epoch_step++;
		f->sums[0] += loss;
		f->sums[1] += cls;
		f->sums[2] += box;
		f->sums[3] += b->n;
		const kcv_callback_cfg *tb = find_callback(f->rc, KCV_CB_TENSORBOARD);
		if (f->tb_train && tb && tb->update_freq > 0 && f->step % tb->update_freq == 0) {
			if ((st = kcv_tb_writer_add_scalar(f->tb_train, "batch_loss", f->step, loss, err)) ||
			    (st = kcv_tb_writer_add_scalar(f->tb_train, "batch_learning_rate", f->step,
			                                   rep.lr, err)))
				break;
		}
		f->epoch_seconds = kcv_now() - t0;
		if (bar) {
			double n = (double)f->epoch_step;
			char suffix[160];
			snprintf(suffix, sizeof(suffix),
			         "loss: %.4f - cls: %.4f - box: %.4f - lr: %.3g - %.1f img/s",
			         f->sums[0] / n, f->sums[1] / n, f->sums[2] / n, rep.lr,
			         f->sums[3] / (f->epoch_seconds > 0 ? f->epoch_seconds : 1));
			kcv_progress_update(bar, (uint64_t)f->epoch_step, suffix);
		}
		if (f->rp->stop && *f->rp->stop) {
			st = KCV_ERR_CANCELLED;
			break;
		}
	}
	if (bar) {
		if (st == KCV_OK)
			kcv_progress_finish(bar, NULL);
		else
			fputc('\n', f->log);
		kcv_progress_free(bar);
	}
	return st;
}

/* The end of an epoch: validation, metrics, logs, callbacks, checkpoints. */
static kcv_status end_epoch(fit *f, int *stop, kcv_error *err)
{
	double n = (double)f->epoch_step;
	json_t *row = json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "epoch",
	                        (json_int_t)f->epoch + 1, "step", (json_int_t)f->step, "loss",
	                        f->sums[0] / n, "cls_loss", f->sums[1] / n, "box_loss",
	                        f->sums[2] / n, "learning_rate", kcv_optim_lr(f->opt),
	                        "images_per_s", f->sums[3] / (f->epoch_seconds > 0 ? f->epoch_seconds : 1),
	                        "seconds", f->epoch_seconds);
	kcv_status st = KCV_OK;
	if (f->val_l) {
		int with_metrics = f->rc->metrics_every > 0 && (f->epoch + 1) % f->rc->metrics_every == 0;
		kcv_eval_result r;
		st = kcv_eval_pass(f->m, f->val_l, 0, f->rc->validation_steps, &f->ev, with_metrics,
		                   f->rp->quiet ? NULL : "validation", f->log, &r, err);
		if (st)
			goto done;
		json_object_set_new(row, "val_loss", json_real(r.loss));
		json_object_set_new(row, "val_cls_loss", json_real(r.cls_loss));
		json_object_set_new(row, "val_box_loss", json_real(r.box_loss));
		if (r.metrics) {
			const char *mk;
			json_t *mv;
			json_object_foreach(r.metrics, mk, mv) {
				const char *vk;
				json_t *vv;
				json_object_foreach(mv, vk, vv) {
					char key[160];
					snprintf(key, sizeof(key), "%s.%s", mk, vk);
					json_object_set(row, key, vv);
				}
			}
			json_decref(r.metrics);
		}
	}
	f->epoch++;
	f->epoch_step = 0;
	memset(f->sums, 0, sizeof(f->sums));
	f->epoch_seconds = 0;
	json_array_append(f->history, row);
	{
		char line[512];
		size_t len = (size_t)snprintf(line, sizeof(line), "epoch %lld:", (long long)f->epoch);
		const char *keys[] = {"loss", "val_loss", "learning_rate", "images_per_s"};
		for (int k = 0; k < 4 && len < sizeof(line); k++) {
			json_t *v = json_object_get(row, keys[k]);
			if (v)
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %s %.4g", keys[k],
				                        json_number_value(v));
		}
		if (!f->rp->quiet)
			fprintf(f->log, "%s\n", line);
	}
	if ((st = tb_row(f->tb_train, row, 0, f->epoch, err)) != KCV_OK ||
	    (st = tb_row(f->tb_val, row, 1, f->epoch, err)) != KCV_OK ||
	    (st = write_csv(f, err)) != KCV_OK)
		goto done;
	*stop = run_callbacks(f, row, err, &st);
	if (st)
		goto done;
	if (f->dir[0])
		st = save(f, f->last_path, err);
done:
	json_decref(row);
	return st;
}

kcv_status kcv_train_run(const kcv_pipeline *p, const kcv_run_params *rp, json_t **result,
                         kcv_error *err)
{
	fit f;
	memset(&f, 0, sizeof(f));
	f.p = p;
	f.rc = kcv_pipeline_run_config(p);
	f.rp = rp;
	f.log = kcv_run_log(rp);
	f.stopped = "completed";
	int profiling = 0;
	if (result)
		*result = NULL;
	kcv_status st = setup(&f, err);
	if (st)
		goto done;
	const char *prof = getenv("KCV_PROFILE");
	profiling = prof && *prof && strcmp(prof, "0") != 0;
	kcv_graph_set_profiling(f.m->g, profiling);
	while (f.epoch < f.rc->epochs) {
		st = train_epoch(&f, err);
		if (st == KCV_ERR_CANCELLED) {
			f.stopped = "interrupted";
			if (f.dir[0]) {
				kcv_status s2 = save(&f, f.last_path, err);
				if (s2) {
					st = s2;
					goto done;
				}
			}
			KCV_ERROR(err, KCV_ERR_CANCELLED, NULL, NULL,
			          "interrupted at step %lld (epoch %lld)%s%s%s", (long long)f.step,
			          (long long)f.epoch + 1, f.dir[0] ? ": checkpoint written to " : "",
			          f.dir[0] ? f.last_path : "",
			          f.dir[0] ? "; continue with --resume and that file" : "");
			goto done;
		}
		if (st)
			goto done;
		int stop = 0;
		st = end_epoch(&f, &stop, err);
		if (st)
			goto done;
		if (stop) {
			f.stopped = "early_stopping";
			break;
		}
		if (rp->stop && *rp->stop) {
			f.stopped = "interrupted";
			KCV_ERROR(err, KCV_ERR_CANCELLED, NULL, NULL,
			          "interrupted after epoch %lld%s%s", (long long)f.epoch,
			          f.dir[0] ? ": checkpoint written to " : "", f.dir[0] ? f.last_path : "");
			st = KCV_ERR_CANCELLED;
			goto done;
		}
	}
	/* final evaluation on the evaluate split */
	json_t *metrics = json_object();
	if (f.ev.num_metrics > 0 && kcv_pipeline_split(p, f.rc->eval_split)) {
		kcv_instance *ds = NULL;
		kcv_loader *l = kcv_split_loader(p, f.rc->eval_split, 0, 0, &ds, err);
		if (!l) {
			json_decref(metrics);
			st = err->code;
			goto done;
		}
		kcv_eval_result r;
		st = kcv_eval_pass(f.m, l, 0, f.rc->eval_steps, &f.ev, 1,
		                   rp->quiet ? NULL : "evaluate", f.log, &r, err);
		kcv_loader_free(l);
		kcv_instance_free(ds);
		if (st) {
			json_decref(metrics);
			goto done;
		}
		json_decref(metrics);
		metrics = r.metrics ? r.metrics : json_object();
		const char *mk;
		json_t *mv;
		/* the final metrics in TensorBoard too, at the last epoch */
		kcv_tb_writer *tbw = f.tb_val ? f.tb_val : f.tb_train;
		json_object_foreach(metrics, mk, mv) {
			const char *vk;
			json_t *vv;
			json_object_foreach(mv, vk, vv) {
				char tag[160];
				snprintf(tag, sizeof(tag), "evaluate_%s.%s", mk, vk);
				if (tbw && json_is_number(vv) &&
				    (st = kcv_tb_writer_add_scalar(tbw, tag, f.epoch, json_number_value(vv),
				                                   err)) != KCV_OK) {
					json_decref(metrics);
					goto done;
				}
			}
		}
		if (tbw && (st = kcv_tb_writer_flush(tbw, err)) != KCV_OK) {
			json_decref(metrics);
			goto done;
		}
		json_object_foreach(metrics, mk, mv) {
			json_t *ap = json_object_get(mv, "AP"), *ap50 = json_object_get(mv, "AP50");
			if (ap && ap50)
				fprintf(f.log, "%s: AP %.4f  AP50 %.4f\n", mk, json_number_value(ap),
				        json_number_value(ap50));
			json_t *ar = json_object_get(mv, "AR100");
			if (ar && !ap)
				fprintf(f.log, "%s: AR100 %.4f\n", mk, json_number_value(ar));
		}
	}
	if (f.dir[0] && f.rc->predict_images > 0 && kcv_pipeline_split(p, f.rc->predict_split)) {
		json_t *pred = NULL;
		st = kcv_predict_split(&f.ev, f.m, p, rp, f.rc->predict_split,
		                       (size_t)f.rc->predict_images, &pred, err);
		json_decref(pred);
		if (st) {
			json_decref(metrics);
			goto done;
		}
	}
	if (result) {
		*result = json_pack("{s:O,s:o,s:s,s:I}", "history", f.history, "metrics", metrics,
		                    "stopped", f.stopped, "steps", (json_int_t)f.step);
		if (f.dir[0])
			json_object_set_new(*result, "checkpoint", json_string(f.last_path));
		if (f.have_best)
			json_object_set_new(*result, "best_checkpoint", json_string(f.best_path));
	} else {
		json_decref(metrics);
	}
done:
	if (f.m && profiling)
		kcv_graph_print_profile(f.m->g, f.log);
	teardown(&f);
	return st;
}
