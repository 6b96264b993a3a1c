/* The work of the nms plugin: candidates above the confidence threshold
 * (one per anchor, its best class, as KerasCV; or every (anchor, class)
 * pair, as torchvision), the top k of each level, then greedy NMS or
 * Soft-NMS on the candidates only, in score order.
 *
 * Hard NMS walks the candidates once, highest score first, and compares
 * each with the boxes already kept in its slot (its class, or all of them
 * when class-agnostic; stored contiguously), stopping at the first overlap
 * above the threshold: the cost is candidates x kept, and the walk ends as
 * soon as max_detections are kept. The result equals per-class NMS with each
 * class cut to max_detections_per_class, merged by score and cut to
 * max_detections (tf.image.combined_non_max_suppression; torchvision's
 * batched_nms then keep[:max_detections]). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nms-impl.h"

void nms_work_free(nms_work *w)
{
	free(w->cand);
	free(w->box);
	for (size_t i = 0; w->kept && i < w->slots_cap; i++)
		free(w->kept[i].v);
	free(w->kept);
	free(w->count);
	free(w->score);
	free(w->order);
	memset(w, 0, sizeof(*w));
}

/* Make *buf hold `need` elements of `elem` bytes (contents kept). */
static kcv_status grow(void **buf, size_t *cap, size_t need, size_t elem, const char *source,
                       const char *path, kcv_error *err)
{
	if (need <= *cap)
		return KCV_OK;
	size_t n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	void *p = n <= SIZE_MAX / elem ? realloc(*buf, n * elem) : NULL;
	if (!p)
		return KCV_ERROR(err, KCV_ERR_NOMEM, source, path, "out of memory for %zu candidates",
		                 need);
	*buf = p;
	*cap = n;
	return KCV_OK;
}

/* Higher score first; equal scores by anchor, then class. */
static int cand_cmp(const void *pa, const void *pb)
{
	const nms_cand *a = pa, *b = pb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->anchor != b->anchor)
		return a->anchor < b->anchor ? -1 : 1;
	return (a->cls > b->cls) - (a->cls < b->cls);
}

static kcv_status check_input(const kcv_decoder_input *in, const char *source, const char *path,
                              kcv_error *err)
{
	if (in->num_anchors < 0 || in->num_classes < 1)
		return KCV_ERROR(err, KCV_ERR_INVALID, source, path,
		                 "decoder input: %d anchors and %d classes", in->num_anchors,
		                 in->num_classes);
	if (in->num_anchors > 0 && (!in->boxes || !in->scores))
		return KCV_ERROR(err, KCV_ERR_INVALID, source, path, "decoder input without %s",
		                 in->boxes ? "scores" : "boxes");
	if (in->num_levels <= 0 || !in->level_anchors)
		return KCV_OK;
	int64_t sum = 0;
	for (int l = 0; l < in->num_levels; l++) {
		if (in->level_anchors[l] < 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, source, path,
			                 "decoder input: level %d has %d anchors", l, in->level_anchors[l]);
		sum += in->level_anchors[l];
	}
	if (sum != in->num_anchors)
		return KCV_ERROR(err, KCV_ERR_INVALID, source, path,
		                 "decoder input: the levels hold %lld anchors, not %d", (long long)sum,
		                 in->num_anchors);
	return KCV_OK;
}

/* Candidates of anchors [a0, a1) appended to w->cand. */
static kcv_status gather_level(const nms_settings *s, const kcv_decoder_input *in, int a0,
                               int a1, nms_work *w, const char *source, const char *path,
                               kcv_error *err)
{
	const int C = in->num_classes;
	const float thr = s->confidence;
	for (int a = a0; a < a1; a++) {
		const float *sc = in->scores + (size_t)a * C;
		int best = -1;
		float bs = thr;
		for (int c = 0; c < C; c++) {
			if (!(sc[c] > thr))
				continue;
			if (s->one_class_per_anchor) {
				if (sc[c] > bs || best < 0) /* the first of equal maxima, as tf.argmax */
					bs = sc[c], best = c;
				continue;
			}
			kcv_status st = grow((void **)&w->cand, &w->cap, w->n + 1, sizeof(nms_cand), source,
			                     path, err);
			if (st)
				return st;
			w->cand[w->n++] = (nms_cand){sc[c], c, a};
		}
		if (best >= 0) {
			/* the anchor's argmax over all classes is above the threshold:
			 * it is the largest score above it, found above */
			kcv_status st = grow((void **)&w->cand, &w->cap, w->n + 1, sizeof(nms_cand), source,
			                     path, err);
			if (st)
				return st;
			w->cand[w->n++] = (nms_cand){bs, best, a};
		}
	}
	return KCV_OK;
}

static inline float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

kcv_status nms_gather(const nms_settings *s, const kcv_decoder_input *in, nms_work *w,
                      const char *source, const char *path, kcv_error *err)
{
	kcv_status st = check_input(in, source, path, err);
	if (st)
		return st;
	w->n = 0;
	int levels = in->num_levels > 0 && in->level_anchors ? in->num_levels : 1;
	int a0 = 0;
	for (int l = 0; l < levels; l++) {
		int a1 = levels == 1 ? in->num_anchors : a0 + in->level_anchors[l];
		size_t first = w->n;
		if ((st = gather_level(s, in, a0, a1, w, source, path, err)))
			return st;
		size_t got = w->n - first;
		if (s->pre_topk && got > s->pre_topk) {
			qsort(w->cand + first, got, sizeof(nms_cand), cand_cmp);
			w->n = first + s->pre_topk;
		}
		a0 = a1;
	}
	if (w->n > INT32_MAX)
		return KCV_ERROR(err, KCV_ERR_INVALID, source, path,
		                 "%zu candidates: raise confidence_threshold or set pre_nms_topk", w->n);
	if (w->n > 1)
		qsort(w->cand, w->n, sizeof(nms_cand), cand_cmp);
	/* their boxes: clipped, small ones dropped, areas */
	if ((st = grow((void **)&w->box, &w->box_cap, 5 * (w->n ? w->n : 1), sizeof(float), source,
	               path, err)))
		return st;
	const float W = (float)in->width, H = (float)in->height;
	size_t k = 0;
	for (size_t i = 0; i < w->n; i++) {
		float *b = w->box + 5 * k;
		memcpy(b, in->boxes + 4 * (size_t)w->cand[i].anchor, 4 * sizeof(float));
		if (s->clip_boxes) {
			b[0] = clampf(b[0], 0, W);
			b[1] = clampf(b[1], 0, H);
			b[2] = clampf(b[2], 0, W);
			b[3] = clampf(b[3], 0, H);
		}
		float bw = b[2] - b[0], bh = b[3] - b[1];
		if (s->min_size > 0 && !(bw >= s->min_size && bh >= s->min_size))
			continue;
		b[4] = bw * bh;
		w->cand[k++] = w->cand[i];
	}
	w->n = k;
	return KCV_OK;
}

/* Room for the per-slot and per-class arrays. */
static kcv_status slots_reserve(nms_work *w, int num_classes, const char *source,
                                const char *path, kcv_error *err)
{
	size_t need = (size_t)num_classes;
	if (need <= w->slots_cap)
		return KCV_OK;
	nms_kept *kept = realloc(w->kept, need * sizeof(*kept));
	if (kept) {
		memset(kept + w->slots_cap, 0, (need - w->slots_cap) * sizeof(*kept));
		w->kept = kept;
	}
	size_t *count = kept ? realloc(w->count, need * sizeof(*count)) : NULL;
	if (!count)
		return KCV_ERROR(err, KCV_ERR_NOMEM, source, path, "out of memory");
	w->count = count;
	w->slots_cap = need;
	return KCV_OK;
}

/* 1 when box b overlaps one of the boxes kept in k by more than thr. */
static int suppressed(const nms_kept *k, const float *b, double thr)
{
	const float *v = k->v;
	for (size_t j = 0; j < k->n; j++, v += 5)
		if ((double)nms_iou(b, v) > thr)
			return 1;
	return 0;
}

kcv_status nms_hard(const nms_settings *s, int num_classes, nms_work *w, kcv_detections *out,
                    const char *source, const char *path, kcv_error *err)
{
	kcv_status st = slots_reserve(w, num_classes, source, path, err);
	if (st)
		return st;
	for (int c = 0; c < num_classes; c++) {
		w->kept[c].n = 0;
		w->count[c] = 0;
	}
	size_t total = 0;
	for (size_t i = 0; i < w->n; i++) {
		const nms_cand *ci = &w->cand[i];
		const float *b = w->box + 5 * i;
		int cls = ci->cls;
		nms_kept *k = &w->kept[s->class_agnostic ? 0 : cls];
		int full = s->max_per_class && w->count[cls] >= s->max_per_class;
		if (full && !s->class_agnostic)
			continue; /* nothing it could suppress would be kept either */
		if (suppressed(k, b, s->iou))
			continue;
		if ((st = grow((void **)&k->v, &k->cap, 5 * (k->n + 1), sizeof(float), source, path,
		               err)))
			return st;
		memcpy(k->v + 5 * k->n++, b, 5 * sizeof(float));
		if (full)
			continue; /* kept by NMS (it suppresses), over its class's limit */
		w->count[cls]++;
		if ((st = kcv_detections_push(out, b, ci->score, cls, err)))
			return st;
		if (s->max_total && ++total == s->max_total)
			break;
	}
	return KCV_OK;
}

/* Soft-NMS picks, in the order of their (decayed) scores. */
typedef struct soft_pick {
	double score;
	int32_t cand;
	int32_t seq;
} soft_pick;

static int pick_cmp(const void *pa, const void *pb)
{
	const soft_pick *a = pa, *b = pb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Soft-NMS of one slot: candidates idx[0..m) (score order) with scores sc;
 * picks appended at *np (at most `limit`, 0 = all). */
static void soft_slot(const nms_settings *s, const nms_work *w, int32_t *idx, double *sc,
                      size_t m, size_t limit, soft_pick *picks, size_t *np)
{
	size_t got = 0;
	while (m > 0 && (!limit || got < limit)) {
		size_t best = 0;
		for (size_t i = 1; i < m; i++)
			if (sc[i] > sc[best])
				best = i;
		const float *M = w->box + 5 * (size_t)idx[best];
		picks[*np] = (soft_pick){sc[best], idx[best], (int32_t)*np};
		(*np)++;
		got++;
		size_t k = 0;
		for (size_t i = 0; i < m; i++) {
			if (i == best)
				continue;
			double iou = nms_iou(M, w->box + 5 * (size_t)idx[i]), v = sc[i];
			if (iou > 0) {
				if (s->soft_method == SOFT_GAUSSIAN)
					v *= exp(-(iou * iou) / s->sigma);
				else if (iou > s->iou)
					v *= 1.0 - iou;
				if (v < s->score_threshold)
					continue;
			}
			idx[k] = idx[i];
			sc[k] = v;
			k++;
		}
		m = k;
	}
}

kcv_status nms_soft(const nms_settings *s, int num_classes, nms_work *w, kcv_detections *out,
                    const char *source, const char *path, kcv_error *err)
{
	const size_t n = w->n;
	const int slots = s->class_agnostic ? 1 : num_classes;
	kcv_status st = slots_reserve(w, num_classes, source, path, err);
	if (st)
		return st;
	if (n > w->soft_cap) {
		double *score = realloc(w->score, n * sizeof(double));
		if (score)
			w->score = score;
		int32_t *ord = score ? realloc(w->order, n * sizeof(int32_t)) : NULL;
		if (!ord)
			return KCV_ERROR(err, KCV_ERR_NOMEM, source, path, "out of memory");
		w->order = ord;
		w->soft_cap = n;
	}
	soft_pick *picks = malloc((n ? n : 1) * sizeof(soft_pick));
	size_t *start = malloc(((size_t)slots + 1) * sizeof(size_t));
	if (!picks || !start) {
		free(picks);
		free(start);
		return KCV_ERROR(err, KCV_ERR_NOMEM, source, path, "out of memory");
	}
	/* group the candidates by slot, each group in score order */
	for (int c = 0; c <= slots; c++)
		start[c] = 0;
	for (size_t i = 0; i < n; i++)
		start[(s->class_agnostic ? 0 : w->cand[i].cls) + 1]++;
	for (int c = 0; c < slots; c++)
		start[c + 1] += start[c];
	for (int c = 0; c < slots; c++)
		w->count[c] = start[c];
	for (size_t i = 0; i < n; i++) {
		size_t at = w->count[s->class_agnostic ? 0 : w->cand[i].cls]++;
		w->order[at] = (int32_t)i;
		w->score[at] = w->cand[i].score;
	}
	size_t np = 0;
	for (int c = 0; c < slots; c++)
		soft_slot(s, w, w->order + start[c], w->score + start[c], start[c + 1] - start[c],
		          s->max_total, picks, &np);
	qsort(picks, np, sizeof(soft_pick), pick_cmp);
	if (s->max_total && np > s->max_total)
		np = s->max_total;
	st = kcv_detections_reserve(out, out->count + np, err);
	for (size_t i = 0; !st && i < np; i++) {
		const nms_cand *k = &w->cand[picks[i].cand];
		st = kcv_detections_push(out, w->box + 5 * (size_t)picks[i].cand, (float)picks[i].score,
		                         k->cls, err);
	}
	free(picks);
	free(start);
	return st;
}
