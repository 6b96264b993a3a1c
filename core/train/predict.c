/* kcv evaluate and kcv predict on a trained model, and the predictions a run
 * draws after training. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/draw.h>
#include <kcv/safetensors.h>

#include "../util-impl.h"
#include "run-impl.h"

kcv_status kcv_draw_detections(const char *path, const float *pixels, int width, int height,
                               const kcv_detections *d, float sx, float sy, double min_score,
                               const kcv_instance *dataset, int num_classes, kcv_error *err)
{
	kcv_canvas c = {.width = width, .height = height};
	c.rgb = malloc((size_t)width * height * 3);
	if (!c.rgb)
		return KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory");
	kcv_draw_blit_float(&c, 0, 0, pixels, width, height);
	int scale = width >= 640 ? 2 : 1;
	int thick = width >= 640 ? 3 : 2;
	/* lowest scores first, so that the best boxes are drawn on top */
	for (size_t k = d->count; k-- > 0;) {
		if (d->scores[k] < min_score)
			continue;
		uint8_t col[3];
		int cls = d->classes[k];
		kcv_draw_class_color(cls, col);
		const float *b = d->boxes + 4 * k;
		kcv_draw_box(&c, b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy, thick, col);
		const char *name = dataset && cls >= 0 && cls < num_classes
		                       ? kcv_dataset_class_name(dataset, (size_t)cls)
		                       : NULL;
		char label[96];
		if (name)
			snprintf(label, sizeof(label), "%s %.2f", name, d->scores[k]);
		else
			snprintf(label, sizeof(label), "%d %.2f", cls, d->scores[k]);
		int ly = (int)(b[1] * sy) - 7 * scale - 3;
		kcv_draw_label(&c, (int)(b[0] * sx), ly < 0 ? (int)(b[1] * sy) : ly, label, scale, col);
	}
	kcv_status st = kcv_jpeg_write_file(path, c.rgb, width, height, 90, err);
	free(c.rgb);
	return st;
}

/* One detection as --json and detections.json want it. */
static json_t *detection_json(const kcv_detections *d, size_t k, const char *image,
                              int64_t image_id, float sx, float sy, const kcv_instance *ds,
                              int num_classes)
{
	const float *b = d->boxes + 4 * k;
	int cls = d->classes[k];
	double x = b[0] * sx, y = b[1] * sy, w = (b[2] - b[0]) * sx, h = (b[3] - b[1]) * sy;
	json_t *o = json_pack("{s:s,s:I,s:i,s:[f,f,f,f],s:f}", "image", image, "image_id",
	                      (json_int_t)image_id, "category_id", cls, "bbox", x, y, w, h, "score",
	                      (double)d->scores[k]);
	if (ds && cls >= 0 && cls < num_classes)
		json_object_set_new(o, "category", json_string(kcv_dataset_class_name(ds, (size_t)cls)));
	return o;
}

static kcv_status write_detections_json(const char *dir, const json_t *dets, kcv_error *err)
{
	/* COCO results format: image_id, category_id, bbox, score */
	json_t *coco = json_array();
	size_t i;
	json_t *d;
	json_array_foreach(dets, i, d) {
		json_array_append_new(coco, json_pack("{s:O,s:O,s:O,s:O}", "image_id",
		                                      json_object_get(d, "image_id"), "category_id",
		                                      json_object_get(d, "category_id"), "bbox",
		                                      json_object_get(d, "bbox"), "score",
		                                      json_object_get(d, "score")));
	}
	char *text = json_dumps(coco, JSON_INDENT(1) | JSON_REAL_PRECISION(7));
	json_decref(coco);
	if (!text)
		return KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
	char path[4200];
	snprintf(path, sizeof(path), "%s/detections.json", dir);
	kcv_status st = kcv_write_file_atomic(path, text, strlen(text), err);
	free(text);
	return st;
}

/* A file name from an image id: letters, digits, '-', '_' and '.' kept. */
static void safe_name(char *dst, size_t size, const char *id, size_t index)
{
	size_t n = 0;
	for (const char *s = id; *s && n + 1 < size; s++)
		dst[n++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		                          (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'
		                      ? *s
		                      : '_');
	dst[n] = '\0';
	if (!n)
		snprintf(dst, size, "%06zu", index);
}

kcv_status kcv_predict_split(kcv_evaluator *ev, kcv_model *m, const kcv_pipeline *p,
                             const kcv_run_params *rp, const char *split, size_t count,
                             json_t **result, kcv_error *err)
{
	kcv_instance *ds = NULL;
	kcv_loader *l = kcv_split_loader(p, split, 0, 0, &ds, err);
	if (!l)
		return err->code;
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/predictions", rp->out_dir);
	kcv_status st = kcv_mkdir_p(dir, err);
	json_t *dets = json_array();
	size_t done = 0;
	double min_score = kcv_pipeline_run_config(p)->predict_min_score;
	if (!st)
		st = kcv_loader_start(l, 0, err);
	kcv_graph_set_training(m->g, 0);
	while (!st && done < count) {
		const kcv_batch *b = kcv_loader_next(l, err);
		if (!b) {
			st = err->code;
			break;
		}
		if ((st = kcv_model_feed_images(m, b->images, b->n, err)) != KCV_OK ||
		    (st = kcv_graph_forward(m->g, err)) != KCV_OK)
			break;
		for (int i = 0; i < b->n && done < count && !st; i++, done++) {
			kcv_detections *d = &ev->dets[i];
			if ((st = kcv_model_detect(m, i, ev->decoder, d, err)) != KCV_OK)
				break;
			for (size_t k = 0; k < d->count; k++)
				json_array_append_new(dets, detection_json(d, k, b->ids[i], b->indices[i], 1, 1,
				                                           ds, m->num_classes));
			char name[160], path[4400];
			safe_name(name, sizeof(name), b->ids[i], (size_t)b->indices[i]);
			snprintf(path, sizeof(path), "%s/%s.jpg", dir, name);
			st = kcv_draw_detections(path, b->images + (size_t)i * b->width * b->height * 3,
			                         b->width, b->height, d, 1, 1, min_score, ds,
			                         m->num_classes, err);
		}
	}
	kcv_graph_set_training(m->g, m->train);
	if (!st)
		st = write_detections_json(dir, dets, err);
	if (!st)
		fprintf(kcv_run_log(rp), "predictions of %zu %s images written to %s\n", done, split,
		        dir);
	kcv_loader_free(l);
	kcv_instance_free(ds);
	if (st || !result)
		json_decref(dets);
	else
		*result = dets;
	return st;
}

/* A dataset of the pipeline, for class names. */
static kcv_instance *names_dataset(const kcv_pipeline *p, kcv_error *err)
{
	const char *splits[] = {"train", "validation", "test"};
	for (int i = 0; i < 3; i++)
		if (kcv_pipeline_split(p, splits[i]))
			return kcv_pipeline_dataset_new(p, splits[i], err);
	return NULL;
}

static kcv_model *trained_model(const kcv_pipeline *p, const kcv_run_params *rp, int batch,
                                int with_loss, kcv_error *err)
{
	if (!rp->weights) {
		KCV_ERROR(err, KCV_ERR_INVALID, NULL, "--weights",
		          "a trained model is needed: --weights CHECKPOINT");
		return NULL;
	}
	kcv_model *m = kcv_model_new(p, batch, with_loss, 0, err);
	if (!m)
		return NULL;
	if (kcv_model_load(m, rp->weights, err) != KCV_OK) {
		kcv_model_free(m);
		return NULL;
	}
	return m;
}

kcv_status kcv_evaluate(const kcv_pipeline *p, const kcv_run_params *rp, json_t **result,
                        kcv_error *err)
{
	const kcv_run_config *rc = kcv_pipeline_run_config(p);
	if (result)
		*result = NULL;
	if (!kcv_pipeline_split(p, rc->eval_split))
		return KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(p), "evaluate.split",
		                 "the pipeline has no data.%s to evaluate on", rc->eval_split);
	if (rc->num_metrics == 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, kcv_pipeline_file(p), "evaluate.metrics",
		                 "no metrics to compute (add e.g. [{\"plugin\": \"coco_map\"}])");
	int batch = kcv_pipeline_batch_size(p);
	kcv_model *m = trained_model(p, rp, batch, rc->has_losses, err);
	if (!m)
		return err->code;
	kcv_evaluator ev;
	kcv_instance *ds = NULL;
	kcv_loader *l = NULL;
	kcv_status st = kcv_evaluator_init(&ev, p, batch, err);
	if (!st) {
		l = kcv_split_loader(p, rc->eval_split, 0, 0, &ds, err);
		if (!l)
			st = err->code;
	}
	kcv_eval_result r = {0};
	if (!st)
		st = kcv_eval_pass(m, l, 0, rc->eval_steps, &ev, 1, rp->quiet ? NULL : "evaluate",
		                   kcv_run_log(rp), &r, err);
	if (!st && result) {
		*result = json_pack("{s:o,s:I}", "metrics", r.metrics ? r.metrics : json_object(),
		                    "images", (json_int_t)r.images);
		if (isfinite(r.loss))
			json_object_set_new(*result, "loss", json_real(r.loss));
		r.metrics = NULL;
	}
	json_decref(r.metrics);
	kcv_loader_free(l);
	kcv_instance_free(ds);
	kcv_evaluator_release(&ev);
	kcv_model_free(m);
	return st;
}

kcv_status kcv_predict(const kcv_pipeline *p, const kcv_run_params *rp,
                       const char *const *images, size_t num_images, const char *input_tensor,
                       json_t **result, kcv_error *err)
{
	if (result)
		*result = NULL;
	float *tensor = NULL;
	size_t n = num_images;
	kcv_status st = KCV_OK;
	kcv_context ctx = kcv_pipeline_context(p);
	if (input_tensor) {
		kcv_weights *w = kcv_weights_open(input_tensor, err);
		if (!w)
			return err->code;
		kcv_tensor_info info;
		if (kcv_weights_find(w, "images", &info) != 0 || info.rank != 4 || info.dims[3] != 3) {
			kcv_weights_free(w);
			return KCV_ERROR(err, KCV_ERR_INVALID, input_tensor, "images",
			                 "expected a tensor \"images\" of shape [N, H, W, 3]");
		}
		if (info.dims[1] != ctx.image_height || info.dims[2] != ctx.image_width) {
			kcv_weights_free(w);
			return KCV_ERROR(err, KCV_ERR_INVALID, input_tensor, "images",
			                 "images are %lldx%lld but the model takes %dx%d (image_size is "
			                 "[height, width])",
			                 (long long)info.dims[1], (long long)info.dims[2], ctx.image_height,
			                 ctx.image_width);
		}
		n = (size_t)info.dims[0];
		tensor = malloc(info.numel * sizeof(float));
		st = tensor ? kcv_weights_read_f32(w, "images", tensor, info.numel, err)
		            : KCV_ERROR(err, KCV_ERR_NOMEM, input_tensor, NULL, "out of memory");
		kcv_weights_free(w);
		if (st) {
			free(tensor);
			return st;
		}
	}
	if (n == 0) {
		free(tensor);
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "no images to predict");
	}
	int batch = kcv_pipeline_batch_size(p);
	if ((size_t)batch > n)
		batch = (int)n;
	kcv_model *m = trained_model(p, rp, batch, 0, err);
	if (!m) {
		free(tensor);
		return err->code;
	}
	kcv_instance *ds = names_dataset(p, err);
	kcv_instance *decoder = kcv_decoder_new(p, err);
	if (!decoder)
		st = err->code;
	char dir[4200] = "";
	if (!st && rp->out_dir) {
		snprintf(dir, sizeof(dir), "%s", rp->out_dir);
		st = kcv_mkdir_p(dir, err);
	}
	json_t *dets = json_array();
	kcv_detections d = {0};
	size_t plane = (size_t)m->width * m->height * 3;
	float *in = malloc((size_t)batch * plane * sizeof(float));
	uint8_t **orig = calloc((size_t)batch, sizeof(*orig));
	int *ow = calloc((size_t)batch, sizeof(int)), *oh = calloc((size_t)batch, sizeof(int));
	if (!st && (!in || !orig || !ow || !oh))
		st = KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
	for (size_t first = 0; !st && first < n; first += (size_t)batch) {
		int cnt = (int)(n - first < (size_t)batch ? n - first : (size_t)batch);
		for (int i = 0; i < cnt && !st; i++) {
			if (tensor) {
				memcpy(in + (size_t)i * plane, tensor + (first + (size_t)i) * plane,
				       plane * sizeof(float));
				continue;
			}
			free(orig[i]);
			orig[i] = NULL;
			st = kcv_jpeg_decode_file(images[first + (size_t)i], &orig[i], &ow[i], &oh[i], NULL,
			                          0, err);
			if (!st)
				kcv_image_resize_bilinear_u8(orig[i], ow[i], oh[i], in + (size_t)i * plane,
				                             m->width, m->height, 3);
		}
		if (st || (st = kcv_model_feed_images(m, in, cnt, err)) != KCV_OK ||
		    (st = kcv_graph_forward(m->g, err)) != KCV_OK)
			break;
		for (int i = 0; i < cnt && !st; i++) {
			size_t idx = first + (size_t)i;
			if ((st = kcv_model_detect(m, i, decoder, &d, err)) != KCV_OK)
				break;
			/* boxes in the input's pixels: the original image's for files */
			float sx = tensor ? 1.0f : (float)ow[i] / (float)m->width;
			float sy = tensor ? 1.0f : (float)oh[i] / (float)m->height;
			char label[64];
			snprintf(label, sizeof(label), "%zu", idx);
			const char *image = tensor ? label : images[idx];
			for (size_t k = 0; k < d.count; k++)
				json_array_append_new(dets, detection_json(&d, k, image, (int64_t)idx, sx, sy, ds,
				                                           m->num_classes));
			if (!dir[0])
				continue;
			char path[4400], name[160];
			const char *base = strrchr(image, '/');
			safe_name(name, sizeof(name), base ? base + 1 : image, idx);
			char *dot = strrchr(name, '.');
			if (dot && dot != name)
				*dot = '\0';
			snprintf(path, sizeof(path), "%s/%s.jpg", dir, name);
			if (tensor) {
				st = kcv_draw_detections(path, in + (size_t)i * plane, m->width, m->height, &d, 1,
				                         1, kcv_pipeline_run_config(p)->predict_min_score, ds,
				                         m->num_classes, err);
			} else {
				float *full = malloc((size_t)ow[i] * oh[i] * 3 * sizeof(float));
				if (!full) {
					st = KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
					break;
				}
				for (size_t q = 0; q < (size_t)ow[i] * oh[i] * 3; q++)
					full[q] = orig[i][q];
				st = kcv_draw_detections(path, full, ow[i], oh[i], &d, sx, sy,
				                         kcv_pipeline_run_config(p)->predict_min_score, ds,
				                         m->num_classes, err);
				free(full);
			}
		}
	}
	if (!st && dir[0])
		st = write_detections_json(dir, dets, err);
	if (!st && result)
		*result = json_pack("{s:O}", "detections", dets);
	json_decref(dets);
	for (int i = 0; orig && i < batch; i++)
		free(orig[i]);
	free(orig);
	free(ow);
	free(oh);
	free(in);
	free(tensor);
	kcv_detections_release(&d);
	kcv_instance_free(decoder);
	kcv_instance_free(ds);
	kcv_model_free(m);
	return st;
}
