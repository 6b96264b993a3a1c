/* Private to the nms plugin: candidate selection, hard and soft NMS
 * (nms_kernel.c); the descriptor, options and vtables are in nms.c. */
#ifndef KCV_NMS_IMPL_H
#define KCV_NMS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <kcv/plugin.h>

enum { SOFT_GAUSSIAN = 0, SOFT_LINEAR };

/* What both components decide from their options. */
typedef struct nms_settings {
	float confidence;       /* a candidate needs score > confidence (in float) */
	double iou;             /* hard: suppressed when IoU > iou; soft linear: decays above */
	size_t max_total;       /* 0 = unlimited */
	size_t max_per_class;   /* 0 = unlimited (hard NMS only) */
	size_t pre_topk;        /* per level, 0 = all */
	int one_class_per_anchor;
	int class_agnostic;
	int clip_boxes;         /* clip to the image before anything else uses the boxes */
	float min_size;         /* drop boxes narrower or lower than this (0: keep all) */
	int soft_method;        /* SOFT_GAUSSIAN / SOFT_LINEAR */
	double sigma;           /* gaussian: score *= exp(-IoU^2 / sigma) */
	double score_threshold; /* soft: dropped once the decayed score < this */
} nms_settings;

/* One candidate: an (anchor, class) pair above the threshold. */
typedef struct nms_cand {
	float score;
	int32_t cls;
	int32_t anchor;
} nms_cand;

/* Boxes kept in one slot (a class, or all when class-agnostic), contiguous:
 * 5 floats each, x1 y1 x2 y2 area. */
typedef struct nms_kept {
	float *v;
	size_t n, cap;
} nms_kept;

/* Buffers reused from image to image (an instance serves one thread). */
typedef struct nms_work {
	nms_cand *cand; /* sorted: score descending, then anchor, then class */
	size_t n, cap;
	float *box;     /* 5 floats per candidate, as nms_kept */
	size_t box_cap;
	nms_kept *kept; /* hard: per slot */
	size_t *count;  /* detections per class */
	size_t slots_cap;
	double *score;  /* soft: decayed scores */
	int32_t *order; /* soft: candidates grouped by slot */
	size_t soft_cap;
} nms_work;

/* Fill w->cand and w->box with the candidates of `in`, sorted by score
 * (highest first; equal scores by anchor, then class). Errors name
 * `source` and `path`. */
kcv_status nms_gather(const nms_settings *s, const kcv_decoder_input *in, nms_work *w,
                      const char *source, const char *path, kcv_error *err);
/* Greedy NMS over the gathered candidates into out. */
kcv_status nms_hard(const nms_settings *s, int num_classes, nms_work *w, kcv_detections *out,
                    const char *source, const char *path, kcv_error *err);
/* Soft-NMS (Bodla et al. 2017) over the gathered candidates into out. */
kcv_status nms_soft(const nms_settings *s, int num_classes, nms_work *w, kcv_detections *out,
                    const char *source, const char *path, kcv_error *err);
void nms_work_free(nms_work *w);

/* IoU of two boxes (x1 y1 x2 y2 area) as torchvision's CPU kernel computes
 * it, in float; 0 when they do not overlap or either area is <= 0. */
static inline float nms_iou(const float *a, const float *b)
{
	float xx1 = a[0] > b[0] ? a[0] : b[0];
	float xx2 = a[2] < b[2] ? a[2] : b[2];
	if (!(xx2 > xx1))
		return 0.0f;
	float yy1 = a[1] > b[1] ? a[1] : b[1];
	float yy2 = a[3] < b[3] ? a[3] : b[3];
	if (!(yy2 > yy1) || !(a[4] > 0.0f) || !(b[4] > 0.0f))
		return 0.0f;
	float inter = (xx2 - xx1) * (yy2 - yy1);
	return inter / (a[4] + b[4] - inter);
}

#endif
