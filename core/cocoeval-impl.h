/* Private: the state of kcv_cocoeval shared by cocoeval.c (storage, run,
 * summaries), cocoeval_match.c (pycocotools' evaluateImg) and
 * cocoeval_accum.c (pycocotools' accumulate). */
#ifndef KCV_COCOEVAL_IMPL_H
#define KCV_COCOEVAL_IMPL_H

#include <kcv/cocoeval.h>

#define KCV_COCO_T 10 /* IoU thresholds .50:.05:.95 */
#define KCV_COCO_R 101 /* recall thresholds 0:.01:1 */
#define KCV_COCO_A KCV_COCO_AREA_COUNT
#define KCV_COCO_M KCV_COCOEVAL_MAX_DETS

/* pycocotools' np.linspace values, bit for bit. */
double kcv_coco_iou_threshold(int t);
double kcv_coco_recall_threshold(int r);
extern const double kcv_coco_area_range[KCV_COCO_A][2];

/* A detection after per-(image, category) evaluation: its score, where it
 * came from and, per area range, two 10-bit masks over the IoU thresholds:
 * bits 0..9 true positive, bits 16..25 false positive (neither: ignored). */
typedef struct kcv_coco_det_result {
	double score;
	uint32_t image;  /* index of the image in ascending id order */
	uint32_t rank;   /* position among its (image, category)'s detections */
	uint32_t mask[KCV_COCO_A];
} kcv_coco_det_result;

#define KCV_COCO_FP_SHIFT 16

/* Per-worker scratch buffers, grown on demand and reused. */
typedef struct kcv_coco_scratch {
	double *iou;    /* D x G */
	size_t iou_cap;
	uint32_t *order; /* G (ground truth visiting order) */
	size_t order_cap;
	uint8_t *flags;  /* G x 3: ignored, crowd, matched */
	size_t flags_cap;
	void *dets;      /* D sort keys */
	size_t det_cap;
	uint32_t *masks; /* accumulate: one category's masks in score order */
	size_t masks_cap;
	double *pr;      /* accumulate: precision at each true positive */
	size_t pr_cap;
	int failed;      /* an allocation failed */
} kcv_coco_scratch;

void kcv_coco_scratch_release(kcv_coco_scratch *s);
/* realloc p to hold `need` items of `size` bytes (growing *cap by doubling);
 * returns the buffer, or NULL (p untouched) when out of memory. */
void *kcv_coco_reserve(void *p, size_t *cap, size_t need, size_t size);

/* The boxes of one (image, category): G ground truths and D detections,
 * given as index lists into the stored arrays. */
typedef struct kcv_coco_pair {
	uint32_t image;
	const uint32_t *gt;
	size_t num_gt;
	const uint32_t *dt;
	size_t num_dt;
} kcv_coco_pair;

struct kcv_cocoeval {
	kcv_cocoeval_params params;
	int max_det; /* the largest max_dets: evaluation cuts there */

	/* what was added */
	int64_t *image_ids;
	size_t num_images, cap_images;
	int64_t *category_ids;
	size_t num_categories, cap_categories;
	kcv_coco_gt *gts;
	size_t num_gts, cap_gts;
	kcv_coco_dt *dts;
	size_t num_dts, cap_dts;

	/* results of the last run: K categories */
	size_t K;
	int64_t *cats;        /* K ascending ids */
	double *precision;    /* K x A x M x T x R, -1 where undefined (M: num_max_dets) */
	double *recall;       /* K x A x M x T */
	double means[2][KCV_COCO_A][KCV_COCO_M][KCV_COCO_T + 1]; /* [ap][area][m][t or T: all] */
	double *cat_ap;       /* K x (T + 1): area all, largest max_dets */
	double stats[KCV_COCO_STAT_COUNT];
	int have_results;
};

/* Index of recall[k][a][m][t] and of precision[k][a][m][t][0], with M =
 * params.num_max_dets. */
static inline size_t coco_rec_at(const kcv_cocoeval *ev, size_t k, int a, int m, int t)
{
	return (((k * KCV_COCO_A) + (size_t)a) * ev->params.num_max_dets + (size_t)m) * KCV_COCO_T +
	       (size_t)t;
}
static inline size_t coco_prec_at(const kcv_cocoeval *ev, size_t k, int a, int m, int t)
{
	return coco_rec_at(ev, k, a, m, t) * KCV_COCO_R;
}

/* evaluateImg for one (image, category) at the largest max_det: appends one
 * kcv_coco_det_result per kept detection to out (returns how many) and adds the
 * number of non-ignored ground truths per area range to npig. */
size_t kcv_coco_evaluate_pair(const kcv_cocoeval *ev, const kcv_coco_pair *pair,
                              kcv_coco_scratch *s, kcv_coco_det_result *out,
                              size_t npig[KCV_COCO_A]);

/* accumulate for category k from its n results (reordered in place):
 * fills precision and recall of k. */
void kcv_coco_accumulate_category(kcv_cocoeval *ev, size_t k, kcv_coco_det_result *res,
                                  size_t n, const size_t npig[KCV_COCO_A], kcv_coco_scratch *s);

/* np.add.reduce of a contiguous float64 array, bit for bit (pairwise
 * summation in blocks of 8192). */
double kcv_coco_numpy_sum(const double *a, size_t n);

#endif
