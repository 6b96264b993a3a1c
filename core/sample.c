/* Samples, batches and aligned memory. */
#include <stdlib.h>
#include <string.h>

#include <kcv/image.h>

#include "util-impl.h"

void *kcv_aligned_alloc(size_t size)
{
	void *p = NULL;
	if (size == 0)
		size = 64;
	if (posix_memalign(&p, 64, size) != 0)
		return NULL;
	return p;
}

void kcv_aligned_free(void *p)
{
	free(p);
}

kcv_status kcv_sample_resize_buffer(kcv_sample *s, int width, int height, kcv_error *err)
{
	if (width <= 0 || height <= 0 || width > 65535 || height > 65535)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "invalid image size %dx%d", width,
		                 height);
	size_t need = (size_t)width * (size_t)height * 3;
	if (need > s->pixels_capacity) {
		float *p = kcv_aligned_alloc(need * sizeof(float));
		if (!p)
			return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL,
			                 "out of memory for a %dx%d image", width, height);
		kcv_aligned_free(s->pixels);
		s->pixels = p;
		s->pixels_capacity = need;
	}
	s->width = width;
	s->height = height;
	return KCV_OK;
}

void kcv_sample_release(kcv_sample *s)
{
	if (!s)
		return;
	kcv_aligned_free(s->pixels);
	kcv_boxes_release(&s->boxes);
	memset(s, 0, sizeof(*s));
}

kcv_status kcv_sample_copy(kcv_sample *dst, const kcv_sample *src, kcv_error *err)
{
	if (dst == src)
		return KCV_OK;
	kcv_status st = KCV_OK;
	if (src->pixels) {
		st = kcv_sample_resize_buffer(dst, src->width, src->height, err);
		if (st)
			return st;
		memcpy(dst->pixels, src->pixels, (size_t)src->width * src->height * 3 * sizeof(float));
	} else {
		dst->width = src->width;
		dst->height = src->height;
	}
	st = kcv_boxes_copy(&dst->boxes, &src->boxes, err);
	if (st)
		return st;
	dst->index = src->index;
	memcpy(dst->id, src->id, sizeof(dst->id));
	dst->source_width = src->source_width;
	dst->source_height = src->source_height;
	dst->clipped_boxes = src->clipped_boxes;
	return KCV_OK;
}

kcv_batch *kcv_batch_new(int capacity, int width, int height, kcv_error *err)
{
	if (capacity <= 0 || width <= 0 || height <= 0) {
		KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "invalid batch %d x %dx%d", capacity,
		          width, height);
		return NULL;
	}
	kcv_batch *b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	b->boxes = calloc((size_t)capacity, sizeof(kcv_boxes));
	if (!b->boxes)
		goto nomem;
	b->capacity = capacity;
	b->width = width;
	b->height = height;
	b->images = kcv_aligned_alloc((size_t)capacity * width * height * 3 * sizeof(float));
	b->indices = calloc((size_t)capacity, sizeof(int64_t));
	b->ids = calloc((size_t)capacity, sizeof(*b->ids));
	if (!b->images || !b->indices || !b->ids)
		goto nomem;
	b->capacity = capacity;
	b->n = 0;
	return b;
nomem:
	kcv_batch_free(b);
	KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory for a batch of %d images",
	          capacity);
	return NULL;
}

void kcv_batch_free(kcv_batch *b)
{
	if (!b)
		return;
	if (b->boxes)
		for (int i = 0; i < b->capacity; i++)
			kcv_boxes_release(&b->boxes[i]);
	kcv_aligned_free(b->images);
	free(b->boxes);
	free(b->indices);
	free(b->ids);
	free(b);
}

kcv_status kcv_batch_set(kcv_batch *b, int i, const kcv_sample *s, kcv_error *err)
{
	if (s->width != b->width || s->height != b->height)
		return KCV_ERROR(err, KCV_ERR_INVALID, s->id, NULL,
		                 "image is %dx%d after augmentation but the batch is %dx%d: "
		                 "add a resize so that every image has the same size",
		                 s->width, s->height, b->width, b->height);
	size_t plane = (size_t)b->width * b->height * 3;
	memcpy(b->images + (size_t)i * plane, s->pixels, plane * sizeof(float));
	kcv_status st = kcv_boxes_copy(&b->boxes[i], &s->boxes, err);
	if (st)
		return st;
	b->indices[i] = s->index;
	memcpy(b->ids[i], s->id, sizeof(b->ids[i]));
	return KCV_OK;
}
