/* kcv — images, samples and batches.
 *
 * A sample is what a dataset yields and an augmenter transforms: one RGB
 * image as float32 HWC on the 0..255 scale plus its ragged boxes. Batches
 * are N images of the same size, packed N,H,W,3, plus one box list each. */
#ifndef KCV_IMAGE_H
#define KCV_IMAGE_H

#include <kcv/boxes.h>
#include <kcv/common.h>
#include <kcv/error.h>

KCV_BEGIN_DECLS

/* One image and its annotations. Public so that plugins can work on pixels
 * directly; allocate and resize only with the functions below. A
 * zero-initialised sample is valid and empty. */
typedef struct kcv_sample {
	int width, height;      /* pixels */
	float *pixels;          /* height x width x 3, RGB, 0..255, 64-byte aligned */
	size_t pixels_capacity; /* floats allocated */
	kcv_boxes boxes;        /* in the pipeline's bounding_box_format */
	int64_t index;          /* index within the dataset split */
	char id[128];           /* dataset image id ("000034"), for messages */
	int source_width;       /* size of the image before any resize */
	int source_height;
	int clipped_boxes;      /* boxes clipped to the image while loading */
} kcv_sample;

/* Make sample->pixels hold width x height x 3 floats and set width/height.
 * Content is undefined afterwards unless the size did not change. */
KCV_API kcv_status kcv_sample_resize_buffer(kcv_sample *s, int width, int height,
                                            kcv_error *err) KCV_WARN_UNUSED;
/* Frees pixels and boxes; zeroes the struct. NULL is a no-op. */
KCV_API void kcv_sample_release(kcv_sample *s);
/* Deep copy (dst reuses its buffers). */
KCV_API kcv_status kcv_sample_copy(kcv_sample *dst, const kcv_sample *src,
                                   kcv_error *err) KCV_WARN_UNUSED;

/* 64-byte aligned allocation of `size` bytes; free with kcv_aligned_free. */
KCV_API void *kcv_aligned_alloc(size_t size);
KCV_API void kcv_aligned_free(void *p);

/* Bilinear resize of a float HWC image with `channels` channels, sampling
 * with half-pixel centres and no antialiasing (tf.image.resize "bilinear",
 * as keras.layers.Resizing does). dst must hold dw*dh*channels floats. */
KCV_API void kcv_image_resize_bilinear(const float *src, int sw, int sh, float *dst,
                                       int dw, int dh, int channels);

/* Same, from 8-bit pixels (the output of a JPEG decoder). */
KCV_API void kcv_image_resize_bilinear_u8(const uint8_t *src, int sw, int sh,
                                          float *dst, int dw, int dh, int channels);

/* Decode a JPEG file into 8-bit RGB. *pixels is malloc'ed (caller frees with
 * free()). On a libjpeg warning (for example a truncated file) the image is
 * still returned and *warning receives the decoder's text (when warning is not
 * NULL, warning_size bytes); a hard failure returns KCV_ERR_INVALID naming the
 * file. */
KCV_API kcv_status kcv_jpeg_decode_file(const char *path, uint8_t **pixels, int *width,
                                        int *height, char *warning, size_t warning_size,
                                        kcv_error *err) KCV_WARN_UNUSED;
/* Read only the size of a JPEG file. */
KCV_API kcv_status kcv_jpeg_read_size(const char *path, int *width, int *height,
                                      kcv_error *err) KCV_WARN_UNUSED;
/* Encode 8-bit RGB to a JPEG file (quality 1-100). Written atomically. */
KCV_API kcv_status kcv_jpeg_write_file(const char *path, const uint8_t *rgb, int width,
                                       int height, int quality,
                                       kcv_error *err) KCV_WARN_UNUSED;

/* A batch: n images of width x height packed as N,H,W,3 float32 (0..255,
 * 64-byte aligned) and one box list per image. Owned by the loader that
 * returns it unless made with kcv_batch_new. */
typedef struct kcv_batch {
	int n;              /* images in this batch (the last may be short) */
	int capacity;       /* images it can hold */
	int width, height;  /* of every image */
	float *images;      /* n x height x width x 3 */
	kcv_boxes *boxes;   /* n lists, in the pipeline's bounding_box_format */
	int64_t *indices;   /* n dataset indices */
	char (*ids)[128];   /* n image ids */
} kcv_batch;

/* Allocate a batch for up to `capacity` images of width x height (n = 0).
 * Caller frees with kcv_batch_free. */
KCV_API kcv_batch *kcv_batch_new(int capacity, int width, int height,
                                 kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_batch_free(kcv_batch *b);
/* Copy a sample into slot i (0 <= i < capacity); sizes must match. */
KCV_API kcv_status kcv_batch_set(kcv_batch *b, int i, const kcv_sample *s,
                                 kcv_error *err) KCV_WARN_UNUSED;

KCV_END_DECLS

#endif /* KCV_IMAGE_H */
