/* pycocotools' COCOeval.accumulate for one category, and numpy's pairwise
 * summation for the means of summarize. */
#include <float.h>
#include <stdlib.h>

#include "cocoeval-impl.h"

/* pycocotools concatenates the images' detections (images ascending, each
 * sorted by score) and mergesorts by score: highest score first, then image,
 * then the rank inside the image. */
static int result_cmp(const void *pa, const void *pb)
{
	const kcv_coco_det_result *a = pa, *b = pb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->image != b->image)
		return a->image < b->image ? -1 : 1;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

/* One (category, area, max_dets, threshold): the masks of the nd detections
 * in score order give the precision at the 101 recall thresholds (q) and
 * the final recall, as pycocotools computes them:
 *   rc = tp / npig, pr = tp / (fp + tp + eps), pr made non-increasing from
 *   the right, q[r] = pr[searchsorted(rc, r, left)] (0 past the end).
 * Only true positives raise pr and rc, so pr is kept at those entries only:
 * the entry searchsorted finds is a true positive (or the first entry when
 * r = 0) and the maximum of pr over any suffix is reached at one. */
static double precision_curve(const uint32_t *masks, size_t nd, int t, size_t npig, double *pr,
                              double *q)
{
	uint32_t tb = 1u << t, fb = 1u << (t + KCV_COCO_FP_SHIFT);
	size_t tp = 0, fp = 0, ne = 0;
	for (size_t i = 0; i < nd; i++) {
		if (masks[i] & tb) {
			tp++;
			pr[ne++] = (double)tp / (((double)fp + (double)tp) + DBL_EPSILON);
		} else if (masks[i] & fb) {
			fp++;
		}
	}
	for (size_t e = ne; e-- > 1;)
		if (pr[e] > pr[e - 1])
			pr[e - 1] = pr[e];
	double np = (double)npig;
	size_t e = 0;
	for (int r = 0; r < KCV_COCO_R; r++) {
		double thr = kcv_coco_recall_threshold(r);
		while (e < ne && (double)(e + 1) / np < thr)
			e++;
		q[r] = nd && e < ne ? pr[e] : 0.0;
	}
	return nd ? (double)tp / np : 0.0;
}

void kcv_coco_accumulate_category(kcv_cocoeval *ev, size_t k, kcv_coco_det_result *res,
                                  size_t n, const size_t npig[KCV_COCO_A], kcv_coco_scratch *s)
{
	void *p;
	if (!(p = kcv_coco_reserve(s->masks, &s->masks_cap, n ? n : 1, sizeof(uint32_t)))) {
		s->failed = 1;
		return;
	}
	s->masks = p;
	if (!(p = kcv_coco_reserve(s->pr, &s->pr_cap, n ? n : 1, sizeof(double)))) {
		s->failed = 1;
		return;
	}
	s->pr = p;
	if (n > 1)
		qsort(res, n, sizeof(*res), result_cmp);
	for (int a = 0; a < KCV_COCO_A; a++) {
		if (!npig[a])
			continue; /* no ground truth: stays -1 */
		for (int m = 0; m < (int)ev->params.num_max_dets; m++) {
			uint32_t max_det = (uint32_t)ev->params.max_dets[m];
			size_t nd = 0;
			for (size_t i = 0; i < n; i++)
				if (res[i].rank < max_det)
					s->masks[nd++] = res[i].mask[a];
			for (int t = 0; t < KCV_COCO_T; t++)
				ev->recall[coco_rec_at(ev, k, a, m, t)] =
					precision_curve(s->masks, nd, t, npig[a], s->pr,
					                ev->precision + coco_prec_at(ev, k, a, m, t));
		}
	}
}

/* numpy's pairwise_sum (loops_utils.h): blocks of at most 128 summed with 8
 * accumulators, larger arrays split in halves (multiples of 8). */
static double pairwise_sum(const double *a, size_t n)
{
	if (n < 8) {
		double res = 0.0;
		for (size_t i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128) {
		double r[8];
		for (int j = 0; j < 8; j++)
			r[j] = a[j];
		size_t i;
		for (i = 8; i < n - (n % 8); i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + (size_t)j];
		double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	size_t n2 = n / 2;
	n2 -= n2 % 8;
	return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/* np.add.reduce of a contiguous float64 array: the iterator hands the loop
 * buffers of 8192 items, each summed pairwise into the running total. */
double kcv_coco_numpy_sum(const double *a, size_t n)
{
	double res = 0.0;
	for (size_t i = 0; i < n; i += 8192)
		res += pairwise_sum(a + i, n - i < 8192 ? n - i : 8192);
	return res;
}
