/* Growable lists of detections (what decoders produce and metrics consume). */
#include <stdlib.h>
#include <string.h>

#include <kcv/plugin.h>

kcv_status kcv_detections_reserve(kcv_detections *d, size_t capacity, kcv_error *err)
{
	if (capacity <= d->capacity)
		return KCV_OK;
	float *boxes = realloc(d->boxes, capacity * 4 * sizeof(float));
	if (boxes)
		d->boxes = boxes;
	float *scores = boxes ? realloc(d->scores, capacity * sizeof(float)) : NULL;
	if (scores)
		d->scores = scores;
	int32_t *classes = scores ? realloc(d->classes, capacity * sizeof(int32_t)) : NULL;
	if (!classes)
		return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory for %zu detections",
		                 capacity);
	d->classes = classes;
	d->capacity = capacity;
	return KCV_OK;
}

kcv_status kcv_detections_push(kcv_detections *d, const float box[4], float score, int32_t cls,
                               kcv_error *err)
{
	if (d->count == d->capacity) {
		kcv_status st = kcv_detections_reserve(d, d->capacity ? 2 * d->capacity : 64, err);
		if (st)
			return st;
	}
	memcpy(d->boxes + 4 * d->count, box, 4 * sizeof(float));
	d->scores[d->count] = score;
	d->classes[d->count] = cls;
	d->count++;
	return KCV_OK;
}

/* Stable merge sort of an index permutation by score, descending. */
static void sort_indices(size_t *idx, size_t *tmp, size_t n, const float *scores)
{
	if (n < 2)
		return;
	size_t h = n / 2;
	sort_indices(idx, tmp, h, scores);
	sort_indices(idx + h, tmp, n - h, scores);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = scores[idx[j]] > scores[idx[i]] ? idx[j++] : idx[i++];
	while (i < h)
		tmp[k++] = idx[i++];
	while (j < n)
		tmp[k++] = idx[j++];
	memcpy(idx, tmp, n * sizeof(size_t));
}

void kcv_detections_sort(kcv_detections *d)
{
	size_t n = d->count;
	if (n < 2)
		return;
	size_t *idx = malloc(2 * n * sizeof(size_t));
	float *buf = malloc(n * 6 * sizeof(float));
	if (!idx || !buf) {
		/* no memory: an insertion sort in place keeps the promise */
		for (size_t i = 1; i < n; i++) {
			for (size_t j = i; j > 0 && d->scores[j] > d->scores[j - 1]; j--) {
				float b[4], s = d->scores[j];
				int32_t c = d->classes[j];
				memcpy(b, d->boxes + 4 * j, sizeof(b));
				memcpy(d->boxes + 4 * j, d->boxes + 4 * (j - 1), sizeof(b));
				memcpy(d->boxes + 4 * (j - 1), b, sizeof(b));
				d->scores[j] = d->scores[j - 1];
				d->scores[j - 1] = s;
				d->classes[j] = d->classes[j - 1];
				d->classes[j - 1] = c;
			}
		}
		free(idx);
		free(buf);
		return;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	sort_indices(idx, idx + n, n, d->scores);
	float *bx = buf, *sc = buf + 4 * n;
	int32_t *cl = (int32_t *)(buf + 5 * n);
	for (size_t i = 0; i < n; i++) {
		memcpy(bx + 4 * i, d->boxes + 4 * idx[i], 4 * sizeof(float));
		sc[i] = d->scores[idx[i]];
		cl[i] = d->classes[idx[i]];
	}
	memcpy(d->boxes, bx, 4 * n * sizeof(float));
	memcpy(d->scores, sc, n * sizeof(float));
	memcpy(d->classes, cl, n * sizeof(int32_t));
	free(idx);
	free(buf);
}

void kcv_detections_clear(kcv_detections *d)
{
	d->count = 0;
}

void kcv_detections_release(kcv_detections *d)
{
	if (!d)
		return;
	free(d->boxes);
	free(d->scores);
	free(d->classes);
	memset(d, 0, sizeof(*d));
}
