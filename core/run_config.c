/* The run sections of a pipeline: losses, optimizer (with its schedule),
 * train (with callbacks), evaluate and predict. Validated at load time, like
 * everything else, so that nothing trains until the whole file is right. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline-impl.h"
#include "util-impl.h"

/* ---- losses ---------------------------------------------------------------- */

static const char *const reduction_choices[] = {"sum", "mean", NULL};

static const kcv_option losses_options[] = {
	{"classification", KCV_OPT_JSON, offsetof(kcv_losses_cfg, classification), NULL, 0, 0, 0,
	 0, NULL, "the classification loss (a loss plugin spec)", KCV_OPT_REQUIRED},
	{"box", KCV_OPT_JSON, offsetof(kcv_losses_cfg, box), NULL, 0, 0, 0, 0, NULL,
	 "the box regression loss (a loss plugin spec)", KCV_OPT_REQUIRED},
	{"classification_weight", KCV_OPT_FLOAT, offsetof(kcv_losses_cfg, classification_weight),
	 "1.0", 0, 1e6, 0, 0, NULL, "weight of the classification loss in the total", 0},
	{"box_weight", KCV_OPT_FLOAT, offsetof(kcv_losses_cfg, box_weight), "1.0", 0, 1e6, 0, 0,
	 NULL, "weight of the box loss in the total", 0},
	{"batch_reduction", KCV_OPT_ENUM, offsetof(kcv_losses_cfg, batch_reduction), "\"sum\"", 0,
	 0, 0, 0, reduction_choices,
	 "per-image losses summed over the batch (KerasCV) or averaged (torchvision)", 0},
	{"min_positives", KCV_OPT_INT, offsetof(kcv_losses_cfg, min_positives), "0", 0, 1, 0, 0,
	 NULL,
	 "each image's losses are divided by max(positive anchors, this): 0 = KerasCV's "
	 "divide_no_nan (an image without positives adds 0), 1 = torchvision",
	 0},
	{0},
};

/* ---- optimizer ------------------------------------------------------------- */

typedef struct optim_cfg {
	int type;
	double learning_rate, momentum;
	int nesterov;
	double weight_decay, beta1, beta2, eps, global_clipnorm;
	const json_t *schedule;
} optim_cfg;

static const char *const optim_choices[] = {"sgd", "adamw", NULL};

static const kcv_option optim_options[] = {
	{"type", KCV_OPT_ENUM, offsetof(optim_cfg, type), "\"sgd\"", 0, 0, 0, 0, optim_choices,
	 "sgd (Keras semantics) or adamw (torch semantics)", 0},
	{"learning_rate", KCV_OPT_FLOAT, offsetof(optim_cfg, learning_rate), "0.01", 0, 1e9, 0, 0,
	 NULL, "base learning rate", 0},
	{"momentum", KCV_OPT_FLOAT, offsetof(optim_cfg, momentum), "0", 0, 0.999999, 0, 0, NULL,
	 "sgd: momentum", 0},
	{"nesterov", KCV_OPT_BOOL, offsetof(optim_cfg, nesterov), "false", 0, 0, 0, 0, NULL,
	 "sgd: Nesterov momentum", 0},
	{"weight_decay", KCV_OPT_FLOAT, offsetof(optim_cfg, weight_decay), "0", 0, 10, 0, 0, NULL,
	 "sgd: L2 term added to the gradient; adamw: decoupled decay", 0},
	{"beta1", KCV_OPT_FLOAT, offsetof(optim_cfg, beta1), "0.9", 1e-9, 0.999999999, 0, 0, NULL,
	 "adamw: beta1", 0},
	{"beta2", KCV_OPT_FLOAT, offsetof(optim_cfg, beta2), "0.999", 1e-9, 0.999999999, 0, 0,
	 NULL, "adamw: beta2", 0},
	{"eps", KCV_OPT_FLOAT, offsetof(optim_cfg, eps), "1e-8", 1e-30, 1, 0, 0, NULL,
	 "adamw: epsilon", 0},
	{"global_clipnorm", KCV_OPT_FLOAT, offsetof(optim_cfg, global_clipnorm), "0", 0, 1e9, 0,
	 0, NULL, "clip gradients by their global L2 norm (Keras); 0 = off", 0},
	{"schedule", KCV_OPT_JSON, offsetof(optim_cfg, schedule), NULL, 0, 0, 0, 0, NULL,
	 "learning-rate schedule: {\"type\": constant|step|cosine, ...}", 0},
	{0},
};

typedef struct schedule_cfg {
	int type;
	kcv_ints boundaries;
	kcv_floats values;
	int64_t decay_steps;
	double alpha;
	int64_t warmup_steps;
	double warmup_lr_start;
} schedule_cfg;

static const char *const schedule_choices[] = {"constant", "step", "cosine", NULL};

static const kcv_option schedule_options[] = {
	{"type", KCV_OPT_ENUM, offsetof(schedule_cfg, type), "\"constant\"", 0, 0, 0, 0,
	 schedule_choices, "constant, step (piecewise constant) or cosine decay", 0},
	{"boundaries", KCV_OPT_INTS, offsetof(schedule_cfg, boundaries), NULL, 1, 1e15, 0,
	 KCV_SCHEDULE_MAX_BOUNDARIES, NULL, "step: the steps where the rate changes",
	 KCV_OPT_ASCENDING},
	{"values", KCV_OPT_FLOATS, offsetof(schedule_cfg, values), NULL, 0, 1e3, 0,
	 KCV_SCHEDULE_MAX_BOUNDARIES + 1, NULL, "step: one rate more than boundaries", 0},
	{"decay_steps", KCV_OPT_INT, offsetof(schedule_cfg, decay_steps), "0", 0, 1e15, 0, 0,
	 NULL, "cosine: steps to decay over; 0 = the whole run after warm-up", 0},
	{"alpha", KCV_OPT_FLOAT, offsetof(schedule_cfg, alpha), "0", 0, 1, 0, 0, NULL,
	 "cosine: final rate as a fraction of the base rate", 0},
	{"warmup_steps", KCV_OPT_INT, offsetof(schedule_cfg, warmup_steps), "0", 0, 1e15, 0, 0,
	 NULL, "linear warm-up steps", 0},
	{"warmup_lr_start", KCV_OPT_FLOAT, offsetof(schedule_cfg, warmup_lr_start), "0", 0, 1e3,
	 0, 0, NULL, "rate at the first warm-up step", 0},
	{0},
};

/* ---- train and callbacks ---------------------------------------------------- */

typedef struct train_cfg {
	int64_t epochs, steps_per_epoch, validation_steps, metrics_every;
	const json_t *callbacks;
} train_cfg;

static const kcv_option train_options[] = {
	{"epochs", KCV_OPT_INT, offsetof(train_cfg, epochs), "1", 1, 1e9, 0, 0, NULL,
	 "passes over the training split", 0},
	{"steps_per_epoch", KCV_OPT_INT, offsetof(train_cfg, steps_per_epoch), "0", 0, 1e12, 0, 0,
	 NULL, "batches per epoch; 0 = the whole split", 0},
	{"validation_steps", KCV_OPT_INT, offsetof(train_cfg, validation_steps), "0", 0, 1e12, 0,
	 0, NULL, "validation batches after each epoch (val_loss); 0 = the whole split", 0},
	{"metrics_every", KCV_OPT_INT, offsetof(train_cfg, metrics_every), "0", 0, 1e9, 0, 0,
	 NULL,
	 "also compute the evaluate metrics on validation every N epochs; 0 = only after "
	 "training",
	 0},
	{"callbacks", KCV_OPT_JSON, offsetof(train_cfg, callbacks), NULL, 0, 0, 0, 0, NULL,
	 "a list of {\"type\": early_stopping|reduce_lr_on_plateau|model_checkpoint|"
	 "tensorboard, ...}",
	 0},
	{0},
};

static const char *const callback_names[] = {"early_stopping", "reduce_lr_on_plateau",
                                             "model_checkpoint", "tensorboard", NULL};
static const char *const mode_choices[] = {"auto", "min", "max", NULL};

#define CB_OPT(n, t, f, d, lo, hi, doc) \
	{n, t, offsetof(kcv_callback_cfg, f), d, lo, hi, 0, 0, NULL, doc, 0}

static const kcv_option early_stopping_options[] = {
	CB_OPT("monitor", KCV_OPT_STRING, monitor, "\"val_loss\"", 0, 0,
	       "quantity to watch: loss, val_loss or <metric>.<value> (coco_map.AP)"),
	{"mode", KCV_OPT_ENUM, offsetof(kcv_callback_cfg, mode), "\"auto\"", 0, 0, 0, 0,
	 mode_choices, "auto: max for metrics, min for losses", 0},
	CB_OPT("patience", KCV_OPT_INT, patience, "0", 0, 1e9, "epochs without improvement"),
	CB_OPT("min_delta", KCV_OPT_FLOAT, min_delta, "0", 0, 1e9, "smallest improvement"),
	{0},
};

static const kcv_option reduce_lr_options[] = {
	CB_OPT("monitor", KCV_OPT_STRING, monitor, "\"val_loss\"", 0, 0, "quantity to watch"),
	{"mode", KCV_OPT_ENUM, offsetof(kcv_callback_cfg, mode), "\"auto\"", 0, 0, 0, 0,
	 mode_choices, "auto: max for metrics, min for losses", 0},
	CB_OPT("patience", KCV_OPT_INT, patience, "10", 0, 1e9, "epochs without improvement"),
	CB_OPT("factor", KCV_OPT_FLOAT, factor, "0.1", 1e-9, 0.999999, "new rate = rate * factor"),
	CB_OPT("min_delta", KCV_OPT_FLOAT, min_delta, "1e-4", 0, 1e9, "smallest improvement"),
	CB_OPT("cooldown", KCV_OPT_INT, cooldown, "0", 0, 1e9, "epochs to wait after a reduction"),
	CB_OPT("min_lr", KCV_OPT_FLOAT, min_lr, "0", 0, 1e3, "lower bound of the rate"),
	{0},
};

static const kcv_option checkpoint_options[] = {
	CB_OPT("monitor", KCV_OPT_STRING, monitor, "\"val_loss\"", 0, 0,
	       "quantity that decides the best checkpoint"),
	{"mode", KCV_OPT_ENUM, offsetof(kcv_callback_cfg, mode), "\"auto\"", 0, 0, 0, 0,
	 mode_choices, "auto: max for metrics, min for losses", 0},
	CB_OPT("save_best", KCV_OPT_BOOL, save_best, "true", 0, 0,
	       "write checkpoints/best.safetensors when the monitor improves"),
	CB_OPT("save_last", KCV_OPT_BOOL, save_last, "true", 0, 0,
	       "write checkpoints/last.safetensors after every epoch"),
	{0},
};

static const kcv_option tensorboard_options[] = {
	CB_OPT("update_freq", KCV_OPT_INT, update_freq, "0", 0, 1e9,
	       "0: log per epoch; N: also log the training losses every N steps"),
	{0},
};

static const kcv_option *const callback_schemas[] = {early_stopping_options, reduce_lr_options,
                                                     checkpoint_options, tensorboard_options};

/* ---- evaluate and predict --------------------------------------------------- */

typedef struct eval_cfg {
	const char *split;
	int64_t steps;
	const json_t *metrics;
} eval_cfg;

static const char *const split_choices[] = {"train", "validation", "test", NULL};

static const kcv_option eval_options[] = {
	{"split", KCV_OPT_STRING, offsetof(eval_cfg, split), "\"validation\"", 0, 0, 0, 0, NULL,
	 "data split to evaluate on", 0},
	{"steps", KCV_OPT_INT, offsetof(eval_cfg, steps), "0", 0, 1e12, 0, 0, NULL,
	 "batches to evaluate; 0 = the whole split", 0},
	{"metrics", KCV_OPT_JSON, offsetof(eval_cfg, metrics), NULL, 0, 0, 0, 0, NULL,
	 "metric plugin specs", 0},
	{0},
};

typedef struct predict_cfg {
	const char *split;
	int64_t images;
	double min_score;
} predict_cfg;

static const kcv_option predict_options[] = {
	{"split", KCV_OPT_STRING, offsetof(predict_cfg, split), "\"validation\"", 0, 0, 0, 0, NULL,
	 "data split whose first images are predicted after training", 0},
	{"images", KCV_OPT_INT, offsetof(predict_cfg, images), "9", 0, 1e6, 0, 0, NULL,
	 "how many images to predict and draw after training; 0 = none", 0},
	{"min_score", KCV_OPT_FLOAT, offsetof(predict_cfg, min_score), "0.3", 0, 1, 0, 0, NULL,
	 "detections drawn on the pictures need at least this score", 0},
	{0},
};

static kcv_status check_split(const char *split, const char *source, const char *path,
                              kcv_error *err)
{
	for (int i = 0; split_choices[i]; i++)
		if (strcmp(split, split_choices[i]) == 0)
			return KCV_OK;
	return KCV_ERROR(err, KCV_ERR_INVALID, source, path,
	                 "unknown split \"%s\" (expected train, validation or test)", split);
}

static json_t *section(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);
	return v && !json_is_null(v) ? v : NULL;
}

static kcv_status parse_callbacks(const json_t *list, kcv_run_config *out,
                                  kcv_option_store **store, const char *src, kcv_error *err)
{
	if (!list || json_is_null(list))
		return KCV_OK;
	if (!json_is_array(list))
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "train.callbacks", "expected a list");
	if (json_array_size(list) > KCV_MAX_CALLBACKS)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "train.callbacks",
		                 "at most %d callbacks", KCV_MAX_CALLBACKS);
	size_t i;
	json_t *cb;
	json_array_foreach(list, i, cb) {
		char path[64], tpath[80];
		kcv_path_index(path, sizeof(path), "train.callbacks", i);
		kcv_path_join(tpath, sizeof(tpath), path, "type");
		if (!json_is_object(cb))
			return KCV_ERROR(err, KCV_ERR_INVALID, src, path,
			                 "expected an object {\"type\": ...}");
		const char *type = json_string_value(json_object_get(cb, "type"));
		if (!type)
			return KCV_ERROR(err, KCV_ERR_INVALID, src, tpath,
			                 "missing \"type\" (one of early_stopping, reduce_lr_on_plateau, "
			                 "model_checkpoint, tensorboard)");
		int t = -1;
		for (int k = 0; callback_names[k]; k++)
			if (strcmp(type, callback_names[k]) == 0)
				t = k;
		if (t < 0) {
			const char *s = kcv_suggest(type, callback_names, KCV_CB_COUNT);
			return KCV_ERROR(err, KCV_ERR_INVALID, src, tpath,
			                 "unknown callback \"%s\"%s%s%s (one of early_stopping, "
			                 "reduce_lr_on_plateau, model_checkpoint, tensorboard)",
			                 type, s ? "; did you mean \"" : "", s ? s : "", s ? "\"?" : "");
		}
		kcv_callback_cfg *c = &out->callbacks[out->num_callbacks];
		memset(c, 0, sizeof(*c));
		static const char *const skip[] = {"type", NULL};
		kcv_status st = kcv_options_apply(callback_schemas[t], cb, skip, c, store,
		                                  callback_names[t], src, path, err);
		if (st)
			return st;
		c->type = t;
		out->num_callbacks++;
	}
	return KCV_OK;
}

static kcv_status parse_optimizer(json_t *obj, kcv_run_config *out, kcv_option_store **store,
                                  const char *src, kcv_error *err)
{
	optim_cfg o = {0};
	kcv_status st = kcv_options_apply(optim_options, obj, NULL, &o, store, "the optimizer",
	                                  src, "optimizer", err);
	if (st)
		return st;
	if (o.nesterov && o.momentum <= 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "optimizer.nesterov",
		                 "Nesterov momentum needs momentum > 0");
	kcv_optim_params *p = &out->optim;
	memset(p, 0, sizeof(*p));
	p->kind = o.type == 1 ? KCV_OPTIM_ADAMW : KCV_OPTIM_SGD;
	p->momentum = o.momentum;
	p->nesterov = o.nesterov;
	p->weight_decay = o.weight_decay;
	p->beta1 = o.beta1;
	p->beta2 = o.beta2;
	p->eps = o.eps;
	p->global_clipnorm = o.global_clipnorm;
	out->learning_rate = o.learning_rate;

	kcv_schedule *s = &out->schedule;
	memset(s, 0, sizeof(*s));
	s->kind = KCV_SCHEDULE_CONSTANT;
	s->lr = o.learning_rate;
	if (!o.schedule)
		return KCV_OK;
	json_t *sj = (json_t *)o.schedule;
	schedule_cfg c = {0};
	st = kcv_options_apply(schedule_options, sj, NULL, &c, store, "the schedule", src,
	                       "optimizer.schedule", err);
	if (st)
		return st;
	s->kind = (kcv_schedule_kind)c.type;
	s->decay_steps = c.decay_steps;
	s->alpha = c.alpha;
	s->warmup_steps = c.warmup_steps;
	s->warmup_lr_start = c.warmup_lr_start;
	if (s->kind == KCV_SCHEDULE_STEP) {
		if (c.values.n != c.boundaries.n + 1)
			return KCV_ERROR(err, KCV_ERR_INVALID, src, "optimizer.schedule.values",
			                 "expected %zu values (one more than boundaries), got %zu",
			                 c.boundaries.n + 1, c.values.n);
		s->n_boundaries = (int)c.boundaries.n;
		for (size_t i = 0; i < c.boundaries.n; i++)
			s->boundaries[i] = c.boundaries.v[i];
		for (size_t i = 0; i < c.values.n; i++)
			s->values[i] = c.values.v[i];
	} else if (c.values.n || c.boundaries.n) {
		return KCV_ERROR(err, KCV_ERR_INVALID, src,
		                 c.values.n ? "optimizer.schedule.values"
		                            : "optimizer.schedule.boundaries",
		                 "only a step schedule takes boundaries and values");
	}
	return KCV_OK;
}

kcv_schedule kcv_run_schedule(const kcv_run_config *rc, int64_t total_steps)
{
	kcv_schedule s = rc->schedule;
	if (s.kind == KCV_SCHEDULE_COSINE && s.decay_steps == 0)
		s.decay_steps = total_steps - s.warmup_steps > 1 ? total_steps - s.warmup_steps : 1;
	return s;
}

kcv_status kcv_run_config_parse(json_t *doc, const kcv_registry *reg, const kcv_context *ctx,
                                kcv_run_config *out, kcv_option_store **store,
                                const char *src, kcv_error *err)
{
	memset(out, 0, sizeof(*out));
	kcv_status st;
	json_t *obj;
	out->has_model = section(doc, "model") != NULL;

	if ((obj = section(doc, "losses"))) {
		out->has_losses = 1;
		st = kcv_options_apply(losses_options, obj, NULL, &out->losses, store, "the losses",
		                       src, "losses", err);
		if (st)
			return st;
		const json_t *specs[2] = {out->losses.classification, out->losses.box};
		const char *paths[2] = {"losses.classification", "losses.box"};
		for (int i = 0; i < 2; i++) {
			kcv_context c = *ctx;
			c.path = paths[i];
			st = kcv_instance_validate(reg, KCV_KIND_LOSS, specs[i], &c, err);
			if (st)
				return st;
		}
	}

	if ((obj = section(doc, "optimizer"))) {
		out->has_optimizer = 1;
		st = parse_optimizer(obj, out, store, src, err);
		if (st)
			return st;
	} else {
		out->schedule.kind = KCV_SCHEDULE_CONSTANT;
		out->schedule.lr = out->learning_rate = 0.01;
	}

	train_cfg t = {0};
	obj = section(doc, "train");
	json_t *empty = json_object();
	st = kcv_options_apply(train_options, obj ? obj : empty, NULL, &t, store, "the train section",
	                       src, "train", err);
	if (st)
		goto done;
	out->epochs = t.epochs;
	out->steps_per_epoch = t.steps_per_epoch;
	out->validation_steps = t.validation_steps;
	out->metrics_every = t.metrics_every;
	st = parse_callbacks(t.callbacks, out, store, src, err);
	if (st)
		goto done;

	eval_cfg e = {0};
	obj = section(doc, "evaluate");
	st = kcv_options_apply(eval_options, obj ? obj : empty, NULL, &e, store,
	                       "the evaluate section", src, "evaluate", err);
	if (st)
		goto done;
	st = check_split(e.split, src, "evaluate.split", err);
	if (st)
		goto done;
	out->eval_split = e.split;
	out->eval_steps = e.steps;
	if (e.metrics && !json_is_null(e.metrics)) {
		if (!json_is_array(e.metrics)) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, src, "evaluate.metrics",
			               "expected a list of metric specs");
			goto done;
		}
		if (json_array_size(e.metrics) > KCV_MAX_METRICS) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, src, "evaluate.metrics",
			               "at most %d metrics", KCV_MAX_METRICS);
			goto done;
		}
		size_t i;
		json_t *m;
		json_array_foreach(e.metrics, i, m) {
			char path[64];
			kcv_path_index(path, sizeof(path), "evaluate.metrics", i);
			kcv_context c = *ctx;
			c.path = path;
			st = kcv_instance_validate(reg, KCV_KIND_METRIC, m, &c, err);
			if (st)
				goto done;
			out->metrics[out->num_metrics++] = m;
		}
	}

	predict_cfg pr = {0};
	obj = section(doc, "predict");
	st = kcv_options_apply(predict_options, obj ? obj : empty, NULL, &pr, store,
	                       "the predict section", src, "predict", err);
	if (st)
		goto done;
	st = check_split(pr.split, src, "predict.split", err);
	if (st)
		goto done;
	out->predict_split = pr.split;
	out->predict_images = pr.images;
	out->predict_min_score = pr.min_score;
done:
	json_decref(empty);
	return st;
}
