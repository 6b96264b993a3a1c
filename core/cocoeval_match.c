/* pycocotools' COCOeval.evaluateImg for one (image, category), bbox IoU
 * (maskApi.c bbIou) included. See include/kcv/cocoeval.h for the rules. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cocoeval-impl.h"

const double kcv_coco_area_range[KCV_COCO_A][2] = {
	{0.0, 1e5 * 1e5}, {0.0, 32.0 * 32.0}, {32.0 * 32.0, 96.0 * 96.0}, {96.0 * 96.0, 1e5 * 1e5}};

/* np.linspace(.5, .95, 10): i * step + start, the last one exactly stop. */
double kcv_coco_iou_threshold(int t)
{
	if (t >= KCV_COCO_T - 1)
		return 0.95;
	return (double)t * ((0.95 - 0.5) / (double)(KCV_COCO_T - 1)) + 0.5;
}

/* np.linspace(0, 1, 101). */
double kcv_coco_recall_threshold(int r)
{
	if (r >= KCV_COCO_R - 1)
		return 1.0;
	return (double)r * ((1.0 - 0.0) / (double)(KCV_COCO_R - 1)) + 0.0;
}

void kcv_coco_scratch_release(kcv_coco_scratch *s)
{
	free(s->iou);
	free(s->order);
	free(s->flags);
	free(s->dets);
	free(s->masks);
	free(s->pr);
	memset(s, 0, sizeof(*s));
}

typedef struct det_key {
	double score;
	uint32_t index; /* into ev->dts */
	uint32_t pos;   /* position in the pair's list (the order added) */
} det_key;

void *kcv_coco_reserve(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 16;
	while (n < need) {
		if (n > SIZE_MAX / 4)
			return NULL;
		n *= 2;
	}
	if (n > SIZE_MAX / size)
		return NULL;
	void *q = realloc(p, n * size);
	if (!q)
		return NULL;
	*cap = n;
	return q;
}

/* Grow the buffers for D detections (Dk kept) and G ground truths; 0 on
 * success. */
static int reserve_pair(kcv_coco_scratch *s, size_t D, size_t Dk, size_t G)
{
	void *p;
	if (!(p = kcv_coco_reserve(s->dets, &s->det_cap, D ? D : 1, sizeof(det_key))))
		return -1;
	s->dets = p;
	if (!(p = kcv_coco_reserve(s->order, &s->order_cap, G ? G : 1, sizeof(uint32_t))))
		return -1;
	s->order = p;
	if (!(p = kcv_coco_reserve(s->flags, &s->flags_cap, G ? 3 * G : 1, 1)))
		return -1;
	s->flags = p;
	if (!(p = kcv_coco_reserve(s->iou, &s->iou_cap, Dk * G > 0 ? Dk * G : 1, sizeof(double))))
		return -1;
	s->iou = p;
	return 0;
}

/* bbIou of maskApi.c: boxes [x, y, w, h]; crowd: union = detection area. */
static double box_iou(const double *d, const double *g, int crowd)
{
	double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
	if (w <= 0)
		return 0.0;
	double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
	if (h <= 0)
		return 0.0;
	double i = w * h, da = d[2] * d[3];
	double u = crowd ? da : da + g[2] * g[3] - i;
	return i / u;
}


/* Highest score first; equal scores keep their order (numpy mergesort). */
static int det_key_cmp(const void *pa, const void *pb)
{
	const det_key *a = pa, *b = pb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return (a->pos > b->pos) - (a->pos < b->pos);
}

size_t kcv_coco_evaluate_pair(const kcv_cocoeval *ev, const kcv_coco_pair *pair,
                              kcv_coco_scratch *s, kcv_coco_det_result *out,
                              size_t npig[KCV_COCO_A])
{
	size_t G = pair->num_gt, D = pair->num_dt;
	size_t Dk = D < (size_t)ev->max_det ? D : (size_t)ev->max_det;
	if ((G && Dk > SIZE_MAX / G) || reserve_pair(s, D, Dk, G)) {
		s->failed = 1;
		return 0;
	}

	det_key *keys = s->dets;
	for (size_t i = 0; i < D; i++)
		keys[i] = (det_key){ev->dts[pair->dt[i]].score, pair->dt[i], (uint32_t)i};
	if (D > 1)
		qsort(keys, D, sizeof(*keys), det_key_cmp);
	if (D > (size_t)ev->max_det)
		D = (size_t)ev->max_det;

	uint8_t *ignored = s->flags, *crowd = s->flags + G, *matched = s->flags + 2 * G;
	for (size_t g = 0; g < G; g++)
		crowd[g] = ev->gts[pair->gt[g]].iscrowd != 0;
	for (size_t d = 0; d < D; d++) {
		const double *db = ev->dts[keys[d].index].bbox;
		for (size_t g = 0; g < G; g++)
			s->iou[d * G + g] = box_iou(db, ev->gts[pair->gt[g]].bbox, crowd[g]);
		out[d] = (kcv_coco_det_result){.score = keys[d].score, .image = pair->image,
		                               .rank = (uint32_t)d};
	}

	for (int a = 0; a < KCV_COCO_A; a++) {
		double lo = kcv_coco_area_range[a][0], hi = kcv_coco_area_range[a][1];
		/* ignored ground truth goes last, keeping the order otherwise */
		size_t n = 0;
		for (size_t g = 0; g < G; g++) {
			double area = ev->gts[pair->gt[g]].area;
			ignored[g] = crowd[g] || area < lo || area > hi;
			if (!ignored[g])
				s->order[n++] = (uint32_t)g;
		}
		npig[a] += n;
		for (size_t g = 0; g < G; g++)
			if (ignored[g])
				s->order[n++] = (uint32_t)g;

		for (int t = 0; t < KCV_COCO_T; t++) {
			double thr = fmin(kcv_coco_iou_threshold(t), 1.0 - 1e-10);
			memset(matched, 0, G);
			for (size_t d = 0; d < D; d++) {
				const double *row = s->iou + d * G;
				double best = thr;
				long m = -1;
				for (size_t j = 0; j < G; j++) {
					size_t g = s->order[j];
					if (matched[g] && !crowd[g])
						continue;
					/* matched to a regular one: stop at the ignored ones */
					if (m > -1 && !ignored[m] && ignored[g])
						break;
					if (row[g] < best)
						continue;
					best = row[g];
					m = (long)g;
				}
				int dtm = 0, dtig = 0;
				if (m > -1) {
					dtig = ignored[m];
					dtm = ev->gts[pair->gt[m]].id != 0; /* pycocotools stores the id */
					matched[m] = 1;
				}
				if (!dtm && !dtig) {
					const double *b = ev->dts[keys[d].index].bbox;
					double area = b[2] * b[3];
					dtig = area < lo || area > hi;
				}
				if (!dtig)
					out[d].mask[a] |= dtm ? 1u << t : 1u << (t + KCV_COCO_FP_SHIFT);
			}
		}
	}
	return D;
}
