/* Pipelines: load, override, resolve and validate a JSON pipeline file. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>
#include <kcv/log.h>
#include <kcv/pipeline.h>

#include "options-impl.h"
#include "pipeline-impl.h"
#include "util-impl.h"

typedef struct top_cfg {
	const char *name;
	int64_t seed;
	int64_t threads;
	int precision;
	kcv_ints image_size;
	int box_format;
	const json_t *data, *model, *losses, *optimizer, *train, *evaluate, *predict;
} top_cfg;

/* in kcv_box_format order */
static const char *const box_format_choices[] = {
	"xyxy", "rel_xyxy", "xywh", "rel_xywh", "center_xywh", "yxyx", "rel_yxyx", NULL,
};
_Static_assert(sizeof(box_format_choices) / sizeof(box_format_choices[0]) ==
                   KCV_BOX_FORMAT_COUNT + 1,
               "box_format_choices must list every kcv_box_format");

/* in kcv_precision order */
static const char *const precision_choices[] = {"float32", "bf16", NULL};

static const kcv_option top_options[] = {
	{"name", KCV_OPT_STRING, offsetof(top_cfg, name), NULL, 0, 0, 0, 0, NULL,
	 "a name for the run (default: the file name)", 0},
	{"seed", KCV_OPT_INT, offsetof(top_cfg, seed), "1", 0, 9007199254740991.0, 0, 0, NULL,
	 "seed of every random choice (shuffle, augmentation, initialisation)", 0},
	{"threads", KCV_OPT_INT, offsetof(top_cfg, threads), "0", 0, 1024, 0, 0, NULL,
	 "compute threads; 0 = $KCV_THREADS or the number of cores", 0},
	{"precision", KCV_OPT_ENUM, offsetof(top_cfg, precision), "\"float32\"", 0, 0, 0, 0,
	 precision_choices,
	 "float32, or bf16: convolutions in bfloat16 with float32 accumulation and master "
	 "weights (oneDNN; needs avx512_bf16 or AMX, else float32 with a warning)",
	 0},
	{"image_size", KCV_OPT_INTS, offsetof(top_cfg, image_size), "[512, 512]", 8, 16384, 2, 2,
	 NULL, "[height, width] every image is brought to", 0},
	{"bounding_box_format", KCV_OPT_ENUM, offsetof(top_cfg, box_format), "\"xywh\"", 0, 0, 0,
	 0, box_format_choices, "format of the boxes in batches", 0},
	{"data", KCV_OPT_JSON, offsetof(top_cfg, data), NULL, 0, 0, 0, 0, NULL,
	 "datasets, batching and augmentation", KCV_OPT_REQUIRED},
	{"model", KCV_OPT_JSON, offsetof(top_cfg, model), NULL, 0, 0, 0, 0, NULL,
	 "the detector (with its backbone and decoder)", 0},
	{"losses", KCV_OPT_JSON, offsetof(top_cfg, losses), NULL, 0, 0, 0, 0, NULL,
	 "classification and box losses", 0},
	{"optimizer", KCV_OPT_JSON, offsetof(top_cfg, optimizer), NULL, 0, 0, 0, 0, NULL,
	 "optimizer and learning-rate schedule", 0},
	{"train", KCV_OPT_JSON, offsetof(top_cfg, train), NULL, 0, 0, 0, 0, NULL,
	 "epochs, steps and callbacks", 0},
	{"evaluate", KCV_OPT_JSON, offsetof(top_cfg, evaluate), NULL, 0, 0, 0, 0, NULL,
	 "evaluation split and metrics", 0},
	{"predict", KCV_OPT_JSON, offsetof(top_cfg, predict), NULL, 0, 0, 0, 0, NULL,
	 "images to predict after training", 0},
	{0},
};

typedef struct data_cfg {
	const json_t *train, *validation, *test;
	int64_t batch_size;
	const json_t *augment;
	int shuffle;
	int drop_remainder;
	int64_t workers;
	int64_t prefetch;
	int on_bad_sample;
} data_cfg;

static const char *const bad_sample_choices[] = {"error", "skip", NULL};

static const kcv_option data_options[] = {
	{"train", KCV_OPT_JSON, offsetof(data_cfg, train), NULL, 0, 0, 0, 0, NULL,
	 "dataset of the training split", 0},
	{"validation", KCV_OPT_JSON, offsetof(data_cfg, validation), NULL, 0, 0, 0, 0, NULL,
	 "dataset of the validation split", 0},
	{"test", KCV_OPT_JSON, offsetof(data_cfg, test), NULL, 0, 0, 0, 0, NULL,
	 "dataset of the test split", 0},
	{"batch_size", KCV_OPT_INT, offsetof(data_cfg, batch_size), "8", 1, 65536, 0, 0, NULL,
	 "images per batch", 0},
	{"augment", KCV_OPT_JSON, offsetof(data_cfg, augment), NULL, 0, 0, 0, 0, NULL,
	 "augmenter applied to training images (e.g. random_choice of several)", 0},
	{"shuffle", KCV_OPT_BOOL, offsetof(data_cfg, shuffle), "true", 0, 0, 0, 0, NULL,
	 "shuffle the order of each epoch (seeded)", 0},
	{"drop_remainder", KCV_OPT_BOOL, offsetof(data_cfg, drop_remainder), "false", 0, 0, 0, 0,
	 NULL, "drop a last batch smaller than batch_size", 0},
	{"workers", KCV_OPT_INT, offsetof(data_cfg, workers), "0", 0, 256, 0, 0, NULL,
	 "loader threads that decode and augment ahead; 0 = the number of threads", 0},
	{"prefetch", KCV_OPT_INT, offsetof(data_cfg, prefetch), "0", 0, 256, 0, 0, NULL,
	 "batches prepared ahead of the consumer; 0 = 2 per worker", 0},
	{"on_bad_sample", KCV_OPT_ENUM, offsetof(data_cfg, on_bad_sample), "\"error\"", 0, 0, 0,
	 0, bad_sample_choices, "a corrupt image or annotation: stop (error) or skip it", 0},
	{0},
};

struct kcv_pipeline {
	char *file;
	char *base_dir;
	json_t *doc;
	const kcv_registry *reg;
	top_cfg top;
	data_cfg data;
	kcv_option_store *store;
	int threads;
	int workers;
	int precision;              /* kcv_precision in effect */
	json_t *model_spec;         /* model without "decoder" */
	const json_t *decoder_spec; /* model.decoder, borrowed from doc */
	kcv_run_config run;
};

void kcv_pipeline_free(kcv_pipeline *p)
{
	if (!p)
		return;
	json_decref(p->doc);
	json_decref(p->model_spec);
	kcv_option_store_free(p->store);
	free(p->file);
	free(p->base_dir);
	free(p);
}

/* --set key.path=value */
static kcv_status apply_set(json_t *doc, const char *set, kcv_error *err)
{
	const char *eq = strchr(set, '=');
	if (!eq || eq == set)
		return KCV_ERROR(err, KCV_ERR_INVALID, "--set", NULL,
		                 "expected key.path=value, got \"%s\"", set);
	char *path = kcv_strdup(set);
	if (!path)
		return KCV_ERROR(err, KCV_ERR_NOMEM, "--set", NULL, "out of memory");
	path[eq - set] = '\0';
	const char *text = eq + 1;
	json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!value)
		value = json_string(text);
	kcv_status st = KCV_OK;
	json_t *cur = doc;
	char *save = NULL, done[300] = "";
	char *seg = strtok_r(path, ".", &save);
	while (seg) {
		char *next = strtok_r(NULL, ".", &save);
		char here[300];
		kcv_path_join(here, sizeof(here), done, seg);
		if (json_is_array(cur)) {
			char *end;
			long idx = strtol(seg, &end, 10);
			if (*end || idx < 0 || (size_t)idx >= json_array_size(cur)) {
				st = KCV_ERROR(err, KCV_ERR_INVALID, "--set", here,
				               "%s is an array of %zu items: \"%s\" is not an index in it",
				               done[0] ? done : "(top)", json_array_size(cur), seg);
				break;
			}
			if (!next) {
				json_array_set(cur, (size_t)idx, value);
				break;
			}
			cur = json_array_get(cur, (size_t)idx);
		} else if (json_is_object(cur)) {
			if (!next) {
				json_object_set(cur, seg, value);
				break;
			}
			json_t *child = json_object_get(cur, seg);
			if (!child || json_is_null(child)) {
				child = json_object();
				json_object_set_new(cur, seg, child);
			}
			cur = child;
		} else {
			st = KCV_ERROR(err, KCV_ERR_INVALID, "--set", here,
			               "cannot set a key inside %s: it is not an object", done);
			break;
		}
		kcv_strlcpy(done, here, sizeof(done));
		seg = next;
	}
	json_decref(value);
	free(path);
	return st;
}

static kcv_status validate_spec(const kcv_pipeline *p, kcv_kind kind, const json_t *spec,
                                const char *path, const char *split, int create,
                                kcv_error *err)
{
	kcv_context c = kcv_pipeline_context(p);
	c.path = path;
	c.split = split;
	if (!create)
		return kcv_instance_validate(p->reg, kind, spec, &c, err);
	kcv_instance *inst = kcv_instance_new(p->reg, kind, spec, &c, err);
	if (!inst)
		return err && err->code ? err->code : KCV_ERR_INVALID;
	kcv_instance_free(inst);
	return KCV_OK;
}

static const char *const split_names[] = {"train", "validation", "test"};

static kcv_status validate(kcv_pipeline *p, kcv_error *err)
{
	const char *src = p->file;
	kcv_status st = kcv_options_apply(top_options, p->doc, NULL, &p->top, &p->store,
	                                  "the pipeline", src, "", err);
	if (st)
		return st;
	st = kcv_options_apply(data_options, (json_t *)p->top.data, NULL, &p->data, &p->store,
	                       "the data section", src, "data", err);
	if (st)
		return st;
	const json_t *splits[3] = {p->data.train, p->data.validation, p->data.test};
	int any = 0;
	for (int i = 0; i < 3; i++) {
		if (!splits[i] || json_is_null(splits[i]))
			continue;
		any = 1;
		char path[64];
		snprintf(path, sizeof(path), "data.%s", split_names[i]);
		st = validate_spec(p, KCV_KIND_DATASET, splits[i], path, split_names[i], 0, err);
		if (st)
			return st;
	}
	if (!any)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "data",
		                 "no dataset: set at least one of data.train, data.validation, "
		                 "data.test");
	/* augmenters are cheap to create and may hold nested specs: create them */
	if (p->data.augment && !json_is_null(p->data.augment)) {
		st = validate_spec(p, KCV_KIND_AUGMENTER, p->data.augment, "data.augment", "train", 1,
		                   err);
		if (st)
			return st;
	}
	if (p->top.model && !json_is_null(p->top.model)) {
		json_t *model = (json_t *)p->top.model;
		if (!json_is_object(model))
			return KCV_ERROR(err, KCV_ERR_INVALID, src, "model",
			                 "expected an object {\"plugin\": ...}");
		/* the decoder is chosen at predict time and never part of the detector */
		p->model_spec = json_copy(model);
		if (!p->model_spec)
			return KCV_ERROR(err, KCV_ERR_NOMEM, src, "model", "out of memory");
		json_object_del(p->model_spec, "decoder");
		st = validate_spec(p, KCV_KIND_DETECTOR, p->model_spec, "model", NULL, 0, err);
		if (st)
			return st;
		/* write expanded ${VAR}s back into the document */
		const char *key;
		json_t *v;
		json_object_foreach(p->model_spec, key, v) json_object_set(model, key, v);
		const json_t *dec = json_object_get(model, "decoder");
		if (dec && !json_is_null(dec)) {
			st = validate_spec(p, KCV_KIND_DECODER, dec, "model.decoder", NULL, 0, err);
			if (st)
				return st;
			p->decoder_spec = dec;
		}
	}
	const json_t *sections[] = {p->top.losses, p->top.optimizer, p->top.train, p->top.evaluate,
	                            p->top.predict};
	const char *section_names[] = {"losses", "optimizer", "train", "evaluate", "predict"};
	for (int i = 0; i < 5; i++)
		if (sections[i] && !json_is_null(sections[i]) && !json_is_object(sections[i]))
			return KCV_ERROR(err, KCV_ERR_INVALID, src, section_names[i], "expected an object");
	kcv_context ctx = kcv_pipeline_context(p);
	st = kcv_run_config_parse(p->doc, p->reg, &ctx, &p->run, &p->store, src, err);
	if (st)
		return st;
	if (p->run.has_model && json_object_get(p->doc, "train") &&
	    !json_is_null(json_object_get(p->doc, "train")) && !p->run.has_losses)
		return KCV_ERROR(err, KCV_ERR_INVALID, src, "losses",
		                 "a pipeline that trains needs a losses section "
		                 "({\"classification\": ..., \"box\": ...})");
	return KCV_OK;
}

kcv_pipeline *kcv_pipeline_load(const char *file, const char *const *sets, size_t num_sets,
                                const kcv_registry *reg, kcv_error *err)
{
	kcv_pipeline *p = calloc(1, sizeof(*p));
	if (!p) {
		KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
		return NULL;
	}
	p->reg = reg;
	p->file = kcv_strdup(file);
	const char *slash = strrchr(file, '/');
	p->base_dir = slash ? kcv_strdup_printf("%.*s", (int)(slash - file), file) : kcv_strdup(".");
	if (!p->file || !p->base_dir) {
		KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
		goto fail;
	}
	size_t size = 0;
	char *text = kcv_read_file(file, &size, err);
	if (!text)
		goto fail;
	json_error_t je;
	p->doc = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!p->doc) {
		KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "%s", je.text);
		kcv_error_set_position(err, je.line > 0 ? je.line : 1, je.column > 0 ? je.column : 1);
		goto fail;
	}
	if (!json_is_object(p->doc)) {
		KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "a pipeline is a JSON object {...}");
		goto fail;
	}
	for (size_t i = 0; i < num_sets; i++)
		if (apply_set(p->doc, sets[i], err) != KCV_OK)
			goto fail;
	if (validate(p, err) != KCV_OK)
		goto fail;
	if (!p->top.name) {
		const char *base = slash ? slash + 1 : file;
		const char *dot = strrchr(base, '.');
		char *n = kcv_strdup_printf("%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
		if (!n) {
			KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
			goto fail;
		}
		json_object_set_new(p->doc, "name", json_string(n));
		free(n);
		p->top.name = json_string_value(json_object_get(p->doc, "name"));
	}
	p->threads = (int)p->top.threads;
	if (p->threads == 0) {
		const char *env = getenv("KCV_THREADS");
		char *end = NULL;
		long t = env ? strtol(env, &end, 10) : 0;
		if (env && (*end || t < 0 || t > 1024)) {
			KCV_ERROR(err, KCV_ERR_INVALID, "KCV_THREADS", NULL,
			          "expected a number of threads in [0, 1024], got \"%s\"", env);
			goto fail;
		}
		p->threads = t > 0 ? (int)t : kcv_cpu_count();
	}
	p->workers = p->data.workers > 0 ? (int)p->data.workers : p->threads;
	p->precision = p->top.precision;
	if (p->precision != KCV_PRECISION_FLOAT32) {
		kcv_error why = {0};
		if (kcv_precision_check((kcv_precision)p->precision, &why) != KCV_OK) {
			kcv_log("pipeline", KCV_LOG_WARNING, "%s: precision \"%s\": %s; running in float32",
			        file, precision_choices[p->precision], why.text);
			p->precision = KCV_PRECISION_FLOAT32;
		}
	}
	return p;
fail:
	kcv_pipeline_free(p);
	return NULL;
}

const char *kcv_pipeline_file(const kcv_pipeline *p) { return p->file; }
const char *kcv_pipeline_name(const kcv_pipeline *p) { return p->top.name; }
uint64_t kcv_pipeline_seed(const kcv_pipeline *p) { return (uint64_t)p->top.seed; }
int kcv_pipeline_threads(const kcv_pipeline *p) { return p->threads; }
int kcv_pipeline_precision(const kcv_pipeline *p) { return p->precision; }
int kcv_pipeline_batch_size(const kcv_pipeline *p) { return (int)p->data.batch_size; }
int kcv_pipeline_workers(const kcv_pipeline *p) { return p->workers; }
int kcv_pipeline_skip_bad(const kcv_pipeline *p) { return p->data.on_bad_sample == 1; }
int kcv_pipeline_shuffle(const kcv_pipeline *p) { return p->data.shuffle; }
int kcv_pipeline_drop_remainder(const kcv_pipeline *p) { return p->data.drop_remainder; }

int kcv_pipeline_prefetch(const kcv_pipeline *p)
{
	return p->data.prefetch > 0 ? (int)p->data.prefetch : 2 * p->workers;
}

kcv_context kcv_pipeline_context(const kcv_pipeline *p)
{
	kcv_context c = {0};
	c.registry = p->reg;
	c.source = p->file;
	c.seed = (uint64_t)p->top.seed;
	c.threads = p->threads > 0 ? p->threads : 1;
	c.image_height = p->top.image_size.n == 2 ? (int)p->top.image_size.v[0] : 512;
	c.image_width = p->top.image_size.n == 2 ? (int)p->top.image_size.v[1] : 512;
	c.box_format = (kcv_box_format)p->top.box_format;
	c.base_dir = p->base_dir;
	return c;
}

const json_t *kcv_pipeline_json(const kcv_pipeline *p)
{
	return p->doc;
}

char *kcv_pipeline_dump(const kcv_pipeline *p)
{
	return json_dumps(p->doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

const json_t *kcv_pipeline_split(const kcv_pipeline *p, const char *split)
{
	const json_t *s = NULL;
	if (strcmp(split, "train") == 0)
		s = p->data.train;
	else if (strcmp(split, "validation") == 0 || strcmp(split, "val") == 0)
		s = p->data.validation;
	else if (strcmp(split, "test") == 0)
		s = p->data.test;
	return s && !json_is_null(s) ? s : NULL;
}

kcv_instance *kcv_pipeline_dataset_new(const kcv_pipeline *p, const char *split, kcv_error *err)
{
	const json_t *spec = kcv_pipeline_split(p, split);
	if (!spec) {
		char list[64] = "";
		for (int i = 0; i < 3; i++)
			if (kcv_pipeline_split(p, split_names[i])) {
				size_t n = strlen(list);
				snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", split_names[i]);
			}
		KCV_ERROR(err, KCV_ERR_INVALID, p->file, "data",
		          "the pipeline has no \"%s\" split (it has: %s)", split, list);
		return NULL;
	}
	const char *canon = strcmp(split, "val") == 0 ? "validation" : split;
	char path[64];
	snprintf(path, sizeof(path), "data.%s", canon);
	kcv_context c = kcv_pipeline_context(p);
	c.path = path;
	c.split = canon;
	return kcv_instance_new(p->reg, KCV_KIND_DATASET, spec, &c, err);
}

const json_t *kcv_pipeline_augment_spec(const kcv_pipeline *p)
{
	return p->data.augment && !json_is_null(p->data.augment) ? p->data.augment : NULL;
}

kcv_instance *kcv_pipeline_augmenter_new(const kcv_pipeline *p, kcv_error *err)
{
	const json_t *spec = kcv_pipeline_augment_spec(p);
	if (!spec)
		return NULL;
	kcv_context c = kcv_pipeline_context(p);
	c.path = "data.augment";
	c.split = "train";
	return kcv_instance_new(p->reg, KCV_KIND_AUGMENTER, spec, &c, err);
}

const kcv_run_config *kcv_pipeline_run_config(const kcv_pipeline *p) { return &p->run; }
const json_t *kcv_pipeline_model_spec(const kcv_pipeline *p) { return p->model_spec; }
const json_t *kcv_pipeline_decoder_spec(const kcv_pipeline *p) { return p->decoder_spec; }
const kcv_registry *kcv_pipeline_registry(const kcv_pipeline *p) { return p->reg; }

kcv_instance *kcv_pipeline_detector_new(const kcv_pipeline *p, kcv_error *err)
{
	if (!p->model_spec)
		return NULL;
	kcv_context c = kcv_pipeline_context(p);
	c.path = "model";
	return kcv_instance_new(p->reg, KCV_KIND_DETECTOR, p->model_spec, &c, err);
}
