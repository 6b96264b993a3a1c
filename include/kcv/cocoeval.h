/* kcv — COCO bounding-box evaluation with pycocotools' exact semantics.
 *
 * One implementation serves `kcv cocoeval` and the coco_map / coco_recall
 * metric plugins. It reproduces COCOeval(iouType="bbox"): evaluate(),
 * accumulate() and summarize() of pycocotools 2.0:
 *   - IoU on [x, y, w, h] without +1; against a crowd ground truth the
 *     union is the detection's area (crowd = an ignore region);
 *   - per (image, category): detections ordered by score, highest first,
 *     equal scores in the order they were added (a stable sort, like numpy's
 *     mergesort), cut to the largest max_dets; greedy matching at the IoU
 *     thresholds .50:.05:.95; ground truth outside the area range (by its
 *     `area` field) or crowd is ignored; detections matched to ignored
 *     ground truth, and unmatched ones whose w*h is outside the range, too;
 *   - accumulate over images (stable by score), 101 recall thresholds,
 *     precision envelope, recall = last value;
 *   - -1 where a category has no (non-ignored) ground truth; means skip -1.
 * Images and categories are those added with _add_image/_add_category
 * (pycocotools: the ground truth's "images" and "categories"). Ground truth
 * of other images or categories is left out, as are detections of other
 * categories; a detection of an image that was not added is an error.
 *
 * Memory grows with the number of boxes (about 100 bytes each) plus
 * categories x 12 x 1010 doubles; never with images x categories.
 * An evaluator is owned by one thread; _run may use `threads` workers
 * internally and its results do not depend on their number. */
#ifndef KCV_COCOEVAL_H
#define KCV_COCOEVAL_H

#include <kcv/common.h>
#include <kcv/error.h>

KCV_BEGIN_DECLS

typedef struct kcv_cocoeval kcv_cocoeval;

#define KCV_COCOEVAL_MAX_DETS 4 /* at most this many max_dets settings */

/* By-value parameters; zero means default. */
typedef struct kcv_cocoeval_params {
	int threads;         /* workers for _run (categories in parallel); <= 1: one */
	size_t num_max_dets; /* 0: pycocotools' {1, 10, 100} */
	int max_dets[KCV_COCOEVAL_MAX_DETS]; /* strictly ascending, >= 1 */
} kcv_cocoeval_params;

/* pycocotools' area ranges (px^2, bounds inclusive). */
typedef enum kcv_coco_area {
	KCV_COCO_AREA_ALL = 0, /* [0, 1e10] */
	KCV_COCO_AREA_SMALL,   /* [0, 32^2] */
	KCV_COCO_AREA_MEDIUM,  /* [32^2, 96^2] */
	KCV_COCO_AREA_LARGE,   /* [96^2, 1e10] */
	KCV_COCO_AREA_COUNT
} kcv_coco_area;

/* The 12 entries of pycocotools' COCOeval.stats, in its order. */
typedef enum kcv_coco_stat {
	KCV_COCO_AP = 0, KCV_COCO_AP50, KCV_COCO_AP75, KCV_COCO_APS, KCV_COCO_APM, KCV_COCO_APL,
	KCV_COCO_AR1, KCV_COCO_AR10, KCV_COCO_AR100, KCV_COCO_ARS, KCV_COCO_ARM, KCV_COCO_ARL,
	KCV_COCO_STAT_COUNT
} kcv_coco_stat;

/* "AP", "AP50", ..., "ARl"; NULL when out of range. */
KCV_API const char *kcv_coco_stat_name(kcv_coco_stat stat);

/* One ground-truth annotation (COCO "annotations" entry). */
typedef struct kcv_coco_gt {
	int64_t id;          /* annotation id; as in pycocotools, a match with
	                        id 0 does not count as a true positive */
	int64_t image_id;
	int64_t category_id;
	double bbox[4];      /* x, y, w, h in pixels */
	double area;         /* the annotation's "area" (px^2), used for ranges */
	int iscrowd;         /* nonzero: an ignore region */
} kcv_coco_gt;

/* One detection (COCO results entry). Its area is bbox w*h. */
typedef struct kcv_coco_dt {
	int64_t image_id;
	int64_t category_id;
	double bbox[4]; /* x, y, w, h in pixels */
	double score;
} kcv_coco_dt;

/* A new, empty evaluator (NULL params: defaults). Caller frees. */
KCV_API kcv_cocoeval *kcv_cocoeval_new(const kcv_cocoeval_params *params,
                                       kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_cocoeval_free(kcv_cocoeval *ev);
/* Forget all images, categories, boxes and results (keeps memory). */
KCV_API void kcv_cocoeval_reset(kcv_cocoeval *ev);

/* Declare an image / a category; adding one twice is harmless. */
KCV_API kcv_status kcv_cocoeval_add_image(kcv_cocoeval *ev, int64_t image_id,
                                          kcv_error *err) KCV_WARN_UNUSED;
KCV_API kcv_status kcv_cocoeval_add_category(kcv_cocoeval *ev, int64_t category_id,
                                             kcv_error *err) KCV_WARN_UNUSED;
/* Add a ground-truth box / a detection (copied). Non-finite numbers are
 * KCV_ERR_INVALID. Zero or negative sizes are kept: such boxes overlap
 * nothing (IoU 0), as in pycocotools. */
KCV_API kcv_status kcv_cocoeval_add_gt(kcv_cocoeval *ev, const kcv_coco_gt *gt,
                                       kcv_error *err) KCV_WARN_UNUSED;
KCV_API kcv_status kcv_cocoeval_add_dt(kcv_cocoeval *ev, const kcv_coco_dt *dt,
                                       kcv_error *err) KCV_WARN_UNUSED;
/* Number of ground-truth boxes / detections added so far. */
KCV_API size_t kcv_cocoeval_num_gt(const kcv_cocoeval *ev);
KCV_API size_t kcv_cocoeval_num_dt(const kcv_cocoeval *ev);

/* Evaluate and accumulate everything added so far (may be called again after
 * more boxes are added). KCV_ERR_INVALID when a detection's image was not
 * added (path "[i]": the i-th detection added, 0-based). */
KCV_API kcv_status kcv_cocoeval_run(kcv_cocoeval *ev, kcv_error *err) KCV_WARN_UNUSED;

/* After _run: pycocotools' stats (-1 where undefined). With max_dets other
 * than {1, 10, 100}, the entries are taken as pycocotools takes them (AP at
 * 100, the others at max_dets[0..2]) and are -1 where it would fail. */
KCV_API double kcv_cocoeval_stat(const kcv_cocoeval *ev, kcv_coco_stat stat);
/* After _run: pycocotools' _summarize(ap, iouThr, areaRng, maxDets): the mean
 * of precision (ap != 0) or recall (ap == 0) entries that are not -1, at IoU
 * threshold iou (within 1e-9; iou < 0: all ten) for max_dets (one of the
 * params' values). -1 when there is nothing to average. */
KCV_API double kcv_cocoeval_summarize(const kcv_cocoeval *ev, int ap, double iou,
                                      kcv_coco_area area, int max_dets);
/* After _run: the categories, ascending by id. */
KCV_API size_t kcv_cocoeval_num_categories(const kcv_cocoeval *ev);
KCV_API int64_t kcv_cocoeval_category_id(const kcv_cocoeval *ev, size_t k);
/* After _run: AP of the k-th category over all areas at the largest max_dets,
 * averaged over the ten thresholds (iou < 0) or at one threshold; -1 when it
 * has no ground truth. */
KCV_API double kcv_cocoeval_category_ap(const kcv_cocoeval *ev, size_t k, double iou);

KCV_END_DECLS

#endif /* KCV_COCOEVAL_H */
