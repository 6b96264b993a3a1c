/* detector_tool: drives a detector plugin for tests/detector_parity.sh.
 *
 *   detector_tool --spec MODEL.json --input IN.safetensors --out OUT.safetensors
 *                 [--weights FILE] [--gt GT.safetensors] [--threads N] [--no-forward]
 *                 [--bench-encode R]
 *
 * Creates the detector from MODEL.json (a model spec: {"plugin": "retinanet",
 * ...}), builds it for tensor "images" of IN (N,H,W,3, 0..255), loads FILE
 * (a torchvision state dict) or initialises it (no --weights), runs forward
 * and writes class_logits [N,A,C], box_deltas [N,A,4], boxes [N,A,4] (the
 * deltas decoded), anchors [A,4] (zero deltas decoded) and level_anchors [L].
 * GT holds gt_boxes.K [M,4] (xyxy pixels) and gt_classes.K [M] for K = 0, 1,
 * ...; each gives target_classes.K [A] and box_targets.K [A,4].
 * --no-forward builds only (anchors and targets). --bench-encode R times R
 * encodes of gt set 0 and prints the mean time. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kcv/kcv.h>

typedef struct tool_args {
	const char *spec, *input, *out, *weights, *gt;
	int threads, no_forward, bench;
} tool_args;

static int parse(int argc, char **argv, tool_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(s, "--no-forward") == 0) {
			a->no_forward = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "detector_tool: %s needs a value\n", s);
			return -1;
		}
		i++;
		if (strcmp(s, "--spec") == 0)
			a->spec = v;
		else if (strcmp(s, "--input") == 0)
			a->input = v;
		else if (strcmp(s, "--out") == 0)
			a->out = v;
		else if (strcmp(s, "--weights") == 0)
			a->weights = v;
		else if (strcmp(s, "--gt") == 0)
			a->gt = v;
		else if (strcmp(s, "--threads") == 0)
			a->threads = atoi(v);
		else if (strcmp(s, "--bench-encode") == 0)
			a->bench = atoi(v);
		else {
			fprintf(stderr, "detector_tool: unknown option %s\n", s);
			return -1;
		}
	}
	if (!a->spec || !a->input || !a->out) {
		fprintf(stderr, "detector_tool: --spec, --input and --out are required\n");
		return -1;
	}
	return 0;
}

/* Read tensor `name` (any shape) into a new buffer; NULL if absent. */
static float *read_all(const kcv_weights *w, const char *name, kcv_tensor_info *info,
                       kcv_error *err)
{
	if (kcv_weights_find(w, name, info) != 0)
		return NULL;
	float *buf = malloc((info->numel ? info->numel : 1) * sizeof(float));
	if (buf && kcv_weights_read_f32(w, name, buf, info->numel, err) != KCV_OK) {
		free(buf);
		return NULL;
	}
	return buf;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Buffers the writer borrows until it saves. */
typedef struct keep {
	float *p[64];
	int n;
} keep;

static float *kept(keep *k, size_t n)
{
	if (k->n == 64)
		return NULL;
	float *p = calloc(n ? n : 1, sizeof(float));
	if (p)
		k->p[k->n++] = p;
	return p;
}

/* Encode every gt set of the file; adds target_classes.K / box_targets.K. */
static int encode_sets(const kcv_detector_vtable *vt, void *priv, const kcv_weights *gtw,
                       int width, int height, int A, kcv_weights_writer *wr, keep *k, int bench,
                       kcv_error *err)
{
	for (int s = 0;; s++) {
		char bn[64], cn[64];
		snprintf(bn, sizeof(bn), "gt_boxes.%d", s);
		snprintf(cn, sizeof(cn), "gt_classes.%d", s);
		kcv_tensor_info bi, ci;
		float *b = read_all(gtw, bn, &bi, err);
		if (!b)
			return err->code ? -1 : 0;
		float *c = read_all(gtw, cn, &ci, err);
		if (!c || bi.rank != 2 || bi.dims[1] != 4 || ci.numel != (size_t)bi.dims[0]) {
			free(b);
			free(c);
			KCV_ERROR(err, KCV_ERR_INVALID, kcv_weights_path(gtw), NULL,
			          "%s must be [M,4] with %s [M]", bn, cn);
			return -1;
		}
		kcv_boxes boxes = {0};
		int rc = 0;
		for (size_t i = 0; i < ci.numel && !rc; i++)
			rc = kcv_boxes_push(&boxes, b + 4 * i, (int32_t)c[i], 0, 0, err) != KCV_OK;
		free(b);
		free(c);
		float *cls = kept(k, (size_t)A), *tgt = kept(k, (size_t)A * 4);
		int32_t *ic = malloc((size_t)A * sizeof(int32_t));
		kcv_targets t = {.num_anchors = A, .box_targets = tgt, .classes = ic};
		if (!rc && (!cls || !tgt || !ic))
			rc = KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory") != 0;
		if (!rc)
			rc = vt->encode(priv, &boxes, width, height, &t, err) != KCV_OK;
		if (!rc && bench > 0 && s == 0) {
			double t0 = now();
			for (int r = 0; r < bench && !rc; r++)
				rc = vt->encode(priv, &boxes, width, height, &t, err) != KCV_OK;
			fprintf(stderr, "encode: %zu objects, %d anchors: %.3f ms per image\n", boxes.count,
			        A, (now() - t0) / bench * 1e3);
		}
		for (int a = 0; a < A && !rc; a++)
			cls[a] = (float)ic[a];
		free(ic);
		kcv_boxes_release(&boxes);
		if (rc)
			return -1;
		int64_t d1[1] = {A}, d2[2] = {A, 4};
		snprintf(bn, sizeof(bn), "target_classes.%d", s);
		snprintf(cn, sizeof(cn), "box_targets.%d", s);
		if (kcv_weights_writer_add(wr, bn, cls, 1, d1, err) != KCV_OK ||
		    kcv_weights_writer_add(wr, cn, tgt, 2, d2, err) != KCV_OK)
			return -1;
	}
}

static json_t *load_spec(const char *path, kcv_error *err)
{
	json_error_t je;
	json_t *spec = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!spec)
		KCV_ERROR(err, KCV_ERR_INVALID, path, NULL, "%s (line %d)", je.text, je.line);
	return spec;
}

int main(int argc, char **argv)
{
	tool_args a = {0};
	if (parse(argc, argv, &a))
		return 2;
	kcv_error err = {0};
	kcv_registry *reg = NULL;
	kcv_instance *det = NULL;
	kcv_weights *in = NULL, *wts = NULL, *gtw = NULL;
	kcv_graph *g = NULL;
	kcv_weights_writer *wr = NULL;
	json_t *spec = NULL;
	keep k = {0};
	int rc = 1;
	kcv_tensor_info info;

	if (!(spec = load_spec(a.spec, &err)) || !(reg = kcv_registry_new(NULL, &err)) ||
	    !(in = kcv_weights_open(a.input, &err)))
		goto out;
	if (kcv_weights_find(in, "images", &info) != 0 || info.rank != 4 || info.dims[3] != 3) {
		KCV_ERROR(&err, KCV_ERR_INVALID, a.input, NULL, "no tensor \"images\" [N,H,W,3]");
		goto out;
	}
	int N = (int)info.dims[0], H = (int)info.dims[1], W = (int)info.dims[2];
	kcv_context ctx = {.registry = reg, .source = a.spec, .path = "model", .seed = 1,
	                   .threads = a.threads > 0 ? a.threads : 1, .image_width = W,
	                   .image_height = H, .box_format = KCV_BOX_XYXY, .split = "train"};
	if (!(det = kcv_instance_new(reg, KCV_KIND_DETECTOR, spec, &ctx, &err)))
		goto out;
	const kcv_detector_vtable *vt = kcv_instance_component(det)->vtable;
	void *priv = kcv_instance_priv(det);
	kcv_graph_params gp = {.threads = ctx.threads};
	if (!(g = kcv_graph_new(&gp, &err)))
		goto out;
	kcv_node images = kcv_graph_input(g, "images", kcv_shape_4d(N, H, W, 3));
	kcv_detector_outputs o;
	memset(&o, 0, sizeof(o));
	if (vt->build(priv, g, images, W, H, &o, &err) != KCV_OK)
		goto out;
	int A = o.num_anchors, C = o.num_classes;
	if (!(wr = kcv_weights_writer_new(&err)))
		goto out;
	float *anchors = kept(&k, (size_t)A * 4), *zeros = kept(&k, (size_t)A * 4);
	float *levels = kept(&k, (size_t)o.num_levels);
	if (!anchors || !zeros || !levels)
		goto out;
	for (int l = 0; l < o.num_levels; l++)
		levels[l] = (float)o.level_anchors[l];
	if (vt->decode_boxes(priv, zeros, A, W, H, anchors, &err) != KCV_OK)
		goto out;
	int64_t da[2] = {A, 4}, dl[1] = {o.num_levels};
	if (kcv_weights_writer_add(wr, "anchors", anchors, 2, da, &err) != KCV_OK ||
	    kcv_weights_writer_add(wr, "level_anchors", levels, 1, dl, &err) != KCV_OK)
		goto out;
	if (!a.no_forward) {
		if (kcv_graph_mark_output(g, o.class_logits) != KCV_OK ||
		    kcv_graph_mark_output(g, o.box_deltas) != KCV_OK ||
		    kcv_graph_compile(g, &err) != KCV_OK)
			goto out;
		if (a.weights && !(wts = kcv_weights_open(a.weights, &err)))
			goto out;
		if (vt->load(priv, g, wts, &err) != KCV_OK)
			goto out;
		if (kcv_weights_read_f32(in, "images", kcv_graph_data(g, images), info.numel, &err) !=
		    KCV_OK)
			goto out;
		double t0 = now();
		if (kcv_graph_forward(g, &err) != KCV_OK)
			goto out;
		fprintf(stderr, "forward: %d images %dx%d, %d anchors, %.2f s\n", N, W, H, A, now() - t0);
		const float *deltas = kcv_graph_data(g, o.box_deltas);
		float *boxes = kept(&k, (size_t)N * A * 4);
		if (!boxes)
			goto out;
		for (int n = 0; n < N; n++)
			if (vt->decode_boxes(priv, deltas + (size_t)n * A * 4, A, W, H,
			                     boxes + (size_t)n * A * 4, &err) != KCV_OK)
				goto out;
		int64_t dc[3] = {N, A, C}, db[3] = {N, A, 4};
		if (kcv_weights_writer_add(wr, "class_logits", kcv_graph_data(g, o.class_logits), 3, dc,
		                           &err) != KCV_OK ||
		    kcv_weights_writer_add(wr, "box_deltas", deltas, 3, db, &err) != KCV_OK ||
		    kcv_weights_writer_add(wr, "boxes", boxes, 3, db, &err) != KCV_OK)
			goto out;
	}
	if (a.gt && (!(gtw = kcv_weights_open(a.gt, &err)) ||
	             encode_sets(vt, priv, gtw, W, H, A, wr, &k, a.bench, &err)))
		goto out;
	if (kcv_weights_writer_save(wr, a.out, &err) != KCV_OK)
		goto out;
	rc = 0;
out:
	if (rc) {
		char msg[1400];
		fprintf(stderr, "detector_tool: %s\n", kcv_error_format(&err, msg, sizeof(msg)));
	}
	kcv_weights_writer_free(wr);
	for (int i = 0; i < k.n; i++)
		free(k.p[i]);
	kcv_graph_free(g);
	kcv_weights_free(gtw);
	kcv_weights_free(wts);
	kcv_weights_free(in);
	kcv_instance_free(det);
	kcv_registry_free(reg);
	json_decref(spec);
	return rc;
}
