/* The label encoder and the box coder.
 *
 * Matching (KerasCV's RetinaNetLabelEncoder, torchvision's Matcher): each
 * anchor takes the object of highest IoU (the first on ties); IoU >=
 * positive_iou makes it a positive, < negative_iou background, in between
 * ignored. With low_quality_matches, every anchor whose IoU with some object
 * equals that object's best IoU (ties included) becomes a positive of its
 * own best object, as torchvision's set_low_quality_matches_ (an object that
 * overlaps no anchor at all gets none, where torchvision would make every
 * anchor a positive). Objects with NaN or infinite coordinates, no area or a
 * negative class are left out: an image without valid objects is all
 * background. IoU is computed in float32 exactly as torchvision's box_iou,
 * so ties and thresholds fall the same way.
 *
 * Only anchors near an object are visited: per level and object, the
 * locations whose anchors can intersect it form a window of the grid, found
 * from the extent of the level's base anchors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retinanet-impl.h"

typedef struct gt_box {
	float b[4];
	int32_t cls;
} gt_box;

/* box_iou(gt, anchor) as torchvision: union = (area_gt + area_anchor) - inter. */
static inline float min2(float a, float b)
{
	return a < b ? a : b;
}

static inline float max2(float a, float b)
{
	return a > b ? a : b;
}

static inline float iou(const float *g, float area_g, const float *a)
{
	float iw = min2(g[2], a[2]) - max2(g[0], a[0]);
	float ih = min2(g[3], a[3]) - max2(g[1], a[1]);
	if (iw <= 0 || ih <= 0)
		return 0;
	float inter = iw * ih;
	float area_a = (a[2] - a[0]) * (a[3] - a[1]);
	float uni = (area_g + area_a) - inter;
	return uni > 0 ? inter / uni : 0;
}

/* Locations [*r0, *r1] x [*c0, *c1] of level l whose anchors may intersect
 * box g; 0 when none. */
static int window(const rn_priv *p, const rn_anchor_set *s, int l, const float *g, int *r0,
                  int *r1, int *c0, int *c1)
{
	const float *lo = p->cell_extent[l], *hi = p->cell_extent[l] + 2;
	double stride = (double)(1 << (p->cfg.min_level + l)), off = p->cfg.anchor_offset * stride;
	int n[2] = {s->grid_w[l], s->grid_h[l]}, a[2], b[2];
	for (int d = 0; d < 2; d++) {
		/* centre position t*stride + off; the anchor spans [+lo, +hi] */
		double first = floor((g[d] - off - hi[d]) / stride) - 1;
		double last = ceil((g[d + 2] - off - lo[d]) / stride) + 1;
		if (first < 0)
			first = 0;
		if (last > n[d] - 1)
			last = n[d] - 1;
		if (first > last)
			return 0;
		a[d] = (int)first;
		b[d] = (int)last;
	}
	*c0 = a[0];
	*c1 = b[0];
	*r0 = a[1];
	*r1 = b[1];
	return 1;
}

static void encode_box(const rn_config *c, const float *a, const float *g, float *t)
{
	const double *v = c->box_variance.v;
	float aw = a[2] - a[0], ah = a[3] - a[1], gw = g[2] - g[0], gh = g[3] - g[1];
	float dx, dy;
	if (c->box_coding == CODING_CENTER) {
		float acx = a[0] + 0.5f * aw, acy = a[1] + 0.5f * ah;
		float gcx = g[0] + 0.5f * gw, gcy = g[1] + 0.5f * gh;
		dx = (gcx - acx) / aw;
		dy = (gcy - acy) / ah;
	} else {
		dx = (g[0] - a[0]) / aw;
		dy = (g[1] - a[1]) / ah;
	}
	t[0] = dx / (float)v[0];
	t[1] = dy / (float)v[1];
	t[2] = logf(gw / aw) / (float)v[2];
	t[3] = logf(gh / ah) / (float)v[3];
}

/* Valid objects of gt, in xyxy pixels; returns how many (or -1 after an
 * error). */
static int collect(const rn_priv *p, const kcv_boxes *gt, int width, int height, gt_box *out,
                   kcv_error *err)
{
	int m = 0;
	for (size_t i = 0; i < gt->count; i++) {
		float b[4];
		memcpy(b, gt->coords + 4 * i, sizeof(b));
		if (gt->format != KCV_BOX_XYXY &&
		    kcv_boxes_convert(b, 1, 4, gt->format, KCV_BOX_XYXY, (float)width, (float)height,
		                      err) != KCV_OK)
			return -1;
		int32_t cls = gt->classes ? gt->classes[i] : 0;
		if (cls >= p->cfg.classes) {
			KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
			          "object %zu has class %d, but the detector has %lld classes", i,
			          (int)cls, (long long)p->cfg.classes);
			return -1;
		}
		int ok = cls >= 0;
		for (int d = 0; d < 4; d++)
			ok &= isfinite(b[d]) != 0;
		if (!ok || !(b[2] > b[0]) || !(b[3] > b[1]))
			continue;
		memcpy(out[m].b, b, sizeof(b));
		out[m].cls = cls;
		m++;
	}
	return m;
}

kcv_status rn_encode(const void *priv, const kcv_boxes *gt, int width, int height,
                     kcv_targets *out, kcv_error *err)
{
	const rn_priv *p = priv;
	const rn_config *c = &p->cfg;
	const rn_anchor_set *s = rn_anchors_find(p, width, height);
	if (!s)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		                 "encode: no graph was built for %dx%d images", width, height);
	if (!out || !out->classes || !out->box_targets || out->num_anchors != s->num_anchors)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		                 "encode: targets for %d anchors expected", s->num_anchors);
	int A = s->num_anchors;
	for (int a = 0; a < A; a++)
		out->classes[a] = KCV_TARGET_BACKGROUND;
	memset(out->box_targets, 0, (size_t)A * 4 * sizeof(float));
	if (!gt || gt->count == 0)
		return KCV_OK;

	gt_box *boxes = malloc(gt->count * sizeof(gt_box));
	float *gbest = calloc(gt->count, sizeof(float));
	float *best = calloc((size_t)A, sizeof(float));
	int32_t *match = malloc((size_t)A * sizeof(int32_t));
	kcv_status st = KCV_OK;
	if (!boxes || !gbest || !best || !match) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, p->source, p->path, "out of memory");
		goto out;
	}
	int m = collect(p, gt, width, height, boxes, err);
	if (m < 0) {
		st = err && err->code ? err->code : KCV_ERR_INVALID;
		goto out;
	}
	for (int a = 0; a < A; a++)
		match[a] = -1;
	const int K = p->num_cell;
	/* each anchor's best object (first on ties), each object's best IoU */
	for (int g = 0; g < m; g++) {
		const float *gb = boxes[g].b;
		float area = (gb[2] - gb[0]) * (gb[3] - gb[1]);
		for (int l = 0; l < s->num_levels; l++) {
			int r0, r1, c0, c1;
			if (!window(p, s, l, gb, &r0, &r1, &c0, &c1))
				continue;
			for (int r = r0; r <= r1; r++) {
				int a = s->level_start[l] + (r * s->grid_w[l] + c0) * K;
				for (int e = a + (c1 - c0 + 1) * K; a < e; a++) {
					float v = iou(gb, area, s->anchors + 4 * (size_t)a);
					if (v > best[a]) {
						best[a] = v;
						match[a] = g;
					}
					if (v > gbest[g])
						gbest[g] = v;
				}
			}
		}
	}
	const float pos = (float)c->positive_iou, neg = (float)c->negative_iou;
	for (int a = 0; a < A; a++) {
		if (best[a] >= pos && match[a] >= 0)
			out->classes[a] = boxes[match[a]].cls;
		else if (!(best[a] < neg))
			out->classes[a] = KCV_TARGET_IGNORE;
	}
	if (c->low_quality_matches) {
		for (int g = 0; g < m; g++) {
			const float *gb = boxes[g].b;
			float area = (gb[2] - gb[0]) * (gb[3] - gb[1]);
			if (!(gbest[g] > 0))
				continue;
			for (int l = 0; l < s->num_levels; l++) {
				int r0, r1, c0, c1;
				if (!window(p, s, l, gb, &r0, &r1, &c0, &c1))
					continue;
				for (int r = r0; r <= r1; r++) {
					int a = s->level_start[l] + (r * s->grid_w[l] + c0) * K;
					for (int e = a + (c1 - c0 + 1) * K; a < e; a++)
						if (iou(gb, area, s->anchors + 4 * (size_t)a) == gbest[g])
							out->classes[a] = boxes[match[a]].cls;
				}
			}
		}
	}
	for (int a = 0; a < A; a++)
		if (out->classes[a] >= 0)
			encode_box(c, s->anchors + 4 * (size_t)a, boxes[match[a]].b,
			           out->box_targets + 4 * (size_t)a);
out:
	free(boxes);
	free(gbest);
	free(best);
	free(match);
	return st;
}

kcv_status rn_decode_boxes(const void *priv, const float *deltas, int num_anchors, int width,
                           int height, float *boxes_xyxy, kcv_error *err)
{
	const rn_priv *p = priv;
	const rn_config *c = &p->cfg;
	const rn_anchor_set *s = rn_anchors_find(p, width, height);
	if (!s)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		                 "decode: no graph was built for %dx%d images", width, height);
	if (num_anchors != s->num_anchors)
		return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		                 "decode: %d deltas for %d anchors", num_anchors, s->num_anchors);
	const float v0 = (float)c->box_variance.v[0], v1 = (float)c->box_variance.v[1];
	const float v2 = (float)c->box_variance.v[2], v3 = (float)c->box_variance.v[3];
	const float clamp = (float)c->decode_clamp, W = (float)width, H = (float)height;
	for (int i = 0; i < num_anchors; i++) {
		const float *a = s->anchors + 4 * (size_t)i, *d = deltas + 4 * (size_t)i;
		float *o = boxes_xyxy + 4 * (size_t)i;
		float aw = a[2] - a[0], ah = a[3] - a[1];
		float dx = d[0] * v0, dy = d[1] * v1, dw = d[2] * v2, dh = d[3] * v3;
		if (clamp > 0) {
			if (dw > clamp)
				dw = clamp;
			if (dh > clamp)
				dh = clamp;
		}
		float w = expf(dw) * aw, h = expf(dh) * ah;
		if (c->box_coding == CODING_CENTER) {
			float cx = dx * aw + (a[0] + 0.5f * aw), cy = dy * ah + (a[1] + 0.5f * ah);
			o[0] = cx - 0.5f * w;
			o[1] = cy - 0.5f * h;
			o[2] = cx + 0.5f * w;
			o[3] = cy + 0.5f * h;
		} else {
			o[0] = dx * aw + a[0];
			o[1] = dy * ah + a[1];
			o[2] = o[0] + w;
			o[3] = o[1] + h;
		}
		if (c->clip_boxes) {
			o[0] = fminf(fmaxf(o[0], 0), W);
			o[1] = fminf(fmaxf(o[1], 0), H);
			o[2] = fminf(fmaxf(o[2], 0), W);
			o[3] = fminf(fmaxf(o[3], 0), H);
		}
	}
	return KCV_OK;
}
