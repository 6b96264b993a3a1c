/* voc_ap: PASCAL VOC average precision per class and its mean, as the VOC
 * devkit's VOCevaldet.m computes it.
 *
 * Per class, every detection of every image, highest score first (equal
 * scores in the order they arrived, as MATLAB's stable sort):
 *   - the ground truth of that class in its image with the largest overlap
 *     is found among ALL of them (difficult and already detected included;
 *     the first one on a tie);
 *   - overlap >= iou_threshold: a difficult one makes the detection ignored
 *     (neither true nor false positive); an undetected one makes it a true
 *     positive and marks it; otherwise it is a false positive (duplicate);
 *   - otherwise a false positive.
 * rec = TP / npos (npos: non-difficult ground truth), prec = TP / (TP + FP).
 * "11point" (VOC2007): mean over t = 0, 0.1, ..., 1 of max(prec[rec >= t])
 * (0 when empty; t = k/10 as the nearest double). "area" (VOC2010+): area
 * under the precision envelope, VOCap.m. pixel_plus_one uses the devkit's
 * inclusive pixel convention: width = x2 - x1 + 1.
 * AP is -1 for a class without non-difficult ground truth, and such classes
 * are left out of the mean ("mAP", -1 when no class has ground truth).
 * Boxes arrive in xyxy pixels; memory grows with the number of boxes. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/plugin.h>

enum voc_method { METHOD_11POINT = 0, METHOD_AREA };

typedef struct voc_config {
	int method;
	double iou_threshold;
	int pixel_plus_one;
} voc_config;

typedef struct voc_box {
	float box[4]; /* xyxy */
	float score;  /* detections */
	uint32_t image;
	int32_t cls;
	uint32_t seq; /* arrival order */
	uint8_t difficult;
} voc_box;

typedef struct voc_list {
	voc_box *v;
	size_t n, cap;
} voc_list;

typedef struct voc_priv {
	voc_config cfg;
	voc_list gt, dt;
	uint32_t next_image;
	char path[256];
} voc_priv;

static const char *const method_names[] = {"11point", "area", NULL};

static const kcv_option voc_options[] = {
	{.name = "method",
	 .type = KCV_OPT_ENUM,
	 .offset = offsetof(voc_config, method),
	 .def = "\"11point\"",
	 .choices = method_names,
	 .doc = "\"11point\" (VOC2007) or \"area\" under the precision envelope (VOC2010+)"},
	{.name = "iou_threshold",
	 .type = KCV_OPT_FLOAT,
	 .offset = offsetof(voc_config, iou_threshold),
	 .def = "0.5",
	 .min = 0,
	 .max = 1,
	 .doc = "minimum overlap of a true positive (the devkit's >= 0.5)"},
	{.name = "pixel_plus_one",
	 .type = KCV_OPT_BOOL,
	 .offset = offsetof(voc_config, pixel_plus_one),
	 .def = "true",
	 .doc = "inclusive pixel boxes as the devkit (width = x2 - x1 + 1); false: continuous"},
	{0},
};

static kcv_status voc_create(void *priv, const void *config, const kcv_context *ctx,
                             kcv_error *err)
{
	voc_priv *p = priv;
	p->cfg = *(const voc_config *)config;
	snprintf(p->path, sizeof(p->path), "%s", ctx && ctx->path ? ctx->path : "");
	return KCV_OK;
}

static void voc_destroy(void *priv)
{
	voc_priv *p = priv;
	free(p->gt.v);
	free(p->dt.v);
}

static void voc_reset(void *priv)
{
	voc_priv *p = priv;
	p->gt.n = p->dt.n = 0;
	p->next_image = 0;
}

static kcv_status list_push(voc_priv *p, voc_list *l, const voc_box *b, kcv_error *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		voc_box *v = cap < UINT32_MAX ? realloc(l->v, cap * sizeof(*v)) : NULL;
		if (!v)
			return KCV_ERROR(err, KCV_ERR_NOMEM, p->path, NULL, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = *b;
	l->v[l->n].seq = (uint32_t)l->n;
	l->n++;
	return KCV_OK;
}

static int finite_box(const float *b)
{
	return isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3]);
}

static kcv_status voc_update(void *priv, const kcv_boxes *gt, const kcv_detections *dt,
                             size_t num_images, kcv_error *err)
{
	voc_priv *p = priv;
	kcv_status st;
	for (size_t n = 0; n < num_images; n++) {
		uint32_t image = p->next_image++;
		if (gt && gt[n].count && gt[n].format != KCV_BOX_XYXY)
			return KCV_ERROR(err, KCV_ERR_INVALID, p->path, NULL,
			                 "ground truth must arrive in xyxy pixels, got %s",
			                 kcv_box_format_name(gt[n].format));
		for (size_t i = 0; gt && i < gt[n].count; i++) {
			voc_box b = {.image = image, .cls = gt[n].classes[i],
			             .difficult = gt[n].difficult ? gt[n].difficult[i] != 0 : 0};
			memcpy(b.box, gt[n].coords + 4 * i, sizeof(b.box));
			if (b.cls < 0)
				continue;
			if (!finite_box(b.box))
				return KCV_ERROR(err, KCV_ERR_INVALID, p->path, NULL,
				                 "image %u: ground-truth box %zu is not finite", image, i);
			if ((st = list_push(p, &p->gt, &b, err)) != KCV_OK)
				return st;
		}
		for (size_t i = 0; dt && i < dt[n].count; i++) {
			voc_box b = {.image = image, .cls = dt[n].classes[i], .score = dt[n].scores[i]};
			memcpy(b.box, dt[n].boxes + 4 * i, sizeof(b.box));
			if (b.cls < 0)
				continue;
			if (!finite_box(b.box) || !isfinite(b.score))
				return KCV_ERROR(err, KCV_ERR_INVALID, p->path, NULL,
				                 "image %u: detection %zu has a non-finite box or score", image,
				                 i);
			if ((st = list_push(p, &p->dt, &b, err)) != KCV_OK)
				return st;
		}
	}
	return KCV_OK;
}

/* Ground truth by class, image, arrival. */
static int gt_cmp(const void *pa, const void *pb)
{
	const voc_box *a = pa, *b = pb;
	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	if (a->image != b->image)
		return a->image < b->image ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Detections by class, score (highest first), arrival. */
static int dt_cmp(const void *pa, const void *pb)
{
	const voc_box *a = pa, *b = pb;
	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* The devkit's overlap (intersection over union), +1 pixel or not. */
static double overlap(const float *d, const float *g, double one)
{
	double iw = fmin(d[2], g[2]) - fmax(d[0], g[0]) + one;
	double ih = fmin(d[3], g[3]) - fmax(d[1], g[1]) + one;
	if (!(iw > 0 && ih > 0))
		return -INFINITY;
	double ua = ((double)d[2] - d[0] + one) * ((double)d[3] - d[1] + one) +
	            ((double)g[2] - g[0] + one) * ((double)g[3] - g[1] + one) - iw * ih;
	return iw * ih / ua;
}

/* AP from per-detection outcomes (1 TP, -1 FP, 0 ignored) in score order.
 * rec and prec are scratch arrays of n. */
static double average_precision(const int8_t *outcome, size_t n, size_t npos, int method,
                                double *rec, double *prec)
{
	size_t tp = 0, fp = 0;
	for (size_t i = 0; i < n; i++) {
		tp += outcome[i] > 0;
		fp += outcome[i] < 0;
		rec[i] = (double)tp / (double)npos;
		/* 0/0 (only ignored detections so far) is NaN in the devkit, which
		 * max() skips; 0 gives the same AP */
		prec[i] = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
	}
	double ap = 0;
	if (method == METHOD_11POINT) {
		for (int k = 0; k <= 10; k++) {
			double t = k / 10.0, p = 0;
			for (size_t i = 0; i < n; i++)
				if (rec[i] >= t && prec[i] > p)
					p = prec[i];
			ap += p / 11.0;
		}
		return ap;
	}
	/* VOCap: mrec = [0, rec, 1], mpre = [0, prec, 0]; mpre made
	 * non-increasing from the right; ap = sum of (mrec[i] - mrec[i-1]) *
	 * mpre[i] where mrec changes, in index order (the final step to
	 * recall 1 has mpre 0 and adds nothing) */
	for (size_t i = n; i-- > 1;)
		if (prec[i] > prec[i - 1])
			prec[i - 1] = prec[i];
	double prev = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (rec[i] != prev)
			ap += (rec[i] - prev) * prec[i];
		prev = rec[i];
	}
	return ap;
}

/* AP of the class whose ground truth is g[0..ng) and detections d[0..nd)
 * (both sorted); -1 without non-difficult ground truth. */
static double class_ap(const voc_priv *p, const voc_box *g, size_t ng, const voc_box *d,
                       size_t nd, uint8_t *detected, int8_t *outcome, double *rec,
                       double *prec)
{
	size_t npos = 0;
	for (size_t j = 0; j < ng; j++) {
		npos += !g[j].difficult;
		detected[j] = 0;
	}
	if (!npos)
		return -1.0;
	double one = p->cfg.pixel_plus_one ? 1.0 : 0.0;
	for (size_t i = 0; i < nd; i++) {
		/* the image's ground truth: a range of g (sorted by image) */
		size_t lo = 0, hi = ng;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (g[mid].image < d[i].image)
				lo = mid + 1;
			else
				hi = mid;
		}
		double ovmax = -INFINITY;
		size_t jmax = 0;
		for (size_t j = lo; j < ng && g[j].image == d[i].image; j++) {
			double ov = overlap(d[i].box, g[j].box, one);
			if (ov > ovmax) {
				ovmax = ov;
				jmax = j;
			}
		}
		if (ovmax >= p->cfg.iou_threshold) {
			if (g[jmax].difficult) {
				outcome[i] = 0;
			} else if (!detected[jmax]) {
				outcome[i] = 1;
				detected[jmax] = 1;
			} else {
				outcome[i] = -1;
			}
		} else {
			outcome[i] = -1;
		}
	}
	return average_precision(outcome, nd, npos, p->cfg.method, rec, prec);
}

static kcv_status voc_result(void *priv, kcv_metric_value *values, size_t capacity,
                             size_t *count, kcv_error *err)
{
	voc_priv *p = priv;
	size_t ng = p->gt.n, nd = p->dt.n;
	voc_box *g = malloc((ng ? ng : 1) * sizeof(*g));
	voc_box *d = malloc((nd ? nd : 1) * sizeof(*d));
	uint8_t *detected = malloc(ng ? ng : 1);
	int8_t *outcome = malloc(nd ? nd : 1);
	double *rec = malloc((nd ? nd : 1) * sizeof(double));
	double *prec = malloc((nd ? nd : 1) * sizeof(double));
	kcv_status st = KCV_OK;
	if (!g || !d || !detected || !outcome || !rec || !prec) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, p->path, NULL, "out of memory");
		goto out;
	}
	if (ng)
		memcpy(g, p->gt.v, ng * sizeof(*g));
	if (nd)
		memcpy(d, p->dt.v, nd * sizeof(*d));
	qsort(g, ng, sizeof(*g), gt_cmp);
	qsort(d, nd, sizeof(*d), dt_cmp);
	/* classes: the union of both sorted lists, ascending */
	size_t n = 1, gi = 0, di = 0, used = 0;
	double sum = 0;
	while (gi < ng || di < nd) {
		int32_t c = gi < ng && (di >= nd || g[gi].cls <= d[di].cls) ? g[gi].cls : d[di].cls;
		size_t g0 = gi, d0 = di;
		while (gi < ng && g[gi].cls == c)
			gi++;
		while (di < nd && d[di].cls == c)
			di++;
		double ap = class_ap(p, g + g0, gi - g0, d + d0, di - d0, detected + g0, outcome + d0,
		                     rec + d0, prec + d0);
		if (ap >= 0) {
			sum += ap;
			used++;
		}
		if (n < capacity) {
			snprintf(values[n].name, sizeof(values[n].name), "AP/%d", (int)c);
			values[n].value = ap;
		}
		n++;
	}
	if (capacity > 0) {
		snprintf(values[0].name, sizeof(values[0].name), "mAP");
		values[0].value = used ? sum / (double)used : -1.0;
	}
	*count = n;
out:
	free(g);
	free(d);
	free(detected);
	free(outcome);
	free(rec);
	free(prec);
	return st;
}

static const kcv_metric_vtable voc_vtable = {
	.reset = voc_reset,
	.update = voc_update,
	.result = voc_result,
};

static const kcv_component voc_component = {
	.kind = KCV_KIND_METRIC,
	.name = "voc_ap",
	.summary = "PASCAL VOC AP per class and mAP (VOC2007 11-point or VOC2010+ area), "
	           "difficult objects ignored as the devkit does",
	.options = voc_options,
	.config_size = sizeof(voc_config),
	.priv_size = sizeof(voc_priv),
	.create = voc_create,
	.destroy = voc_destroy,
	.vtable = &voc_vtable,
};

static const kcv_component *const components[] = {&voc_component, NULL};

static const kcv_plugin_desc plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = "voc_ap",
	.version = "0.1.0",
	.license = "MIT",
	.summary = "PASCAL VOC detection AP (devkit semantics)",
	.components = components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &plugin;
}
