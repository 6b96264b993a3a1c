/* kcv — bounding-box formats, conversion and the ragged per-image box list.
 *
 * The seven KerasCV formats (names are case-insensitive):
 *   xyxy        left, top, right, bottom        pixels
 *   rel_xyxy    the same divided by W, H
 *   xywh        left, top, width, height         pixels (top-left corner!)
 *   rel_xywh    the same divided by W, H
 *   center_xywh centre x, centre y, width, height pixels
 *   yxyx        top, left, bottom, right        pixels
 *   rel_yxyx    the same divided by H, W
 * Coordinates are continuous: width = right - left, no +1. */
#ifndef KCV_BOXES_H
#define KCV_BOXES_H

#include <kcv/common.h>
#include <kcv/error.h>

KCV_BEGIN_DECLS

typedef enum kcv_box_format {
	KCV_BOX_XYXY = 0,
	KCV_BOX_REL_XYXY,
	KCV_BOX_XYWH,
	KCV_BOX_REL_XYWH,
	KCV_BOX_CENTER_XYWH,
	KCV_BOX_YXYX,
	KCV_BOX_REL_YXYX,
	KCV_BOX_FORMAT_COUNT
} kcv_box_format;

/* "xywh" for KCV_BOX_XYWH, ...; NULL for an invalid value. */
KCV_API const char *kcv_box_format_name(kcv_box_format format);
/* Case-insensitive lookup. Returns 0 and sets *out, or -1 when unknown. */
KCV_API int kcv_box_format_parse(const char *name, kcv_box_format *out);
/* True for the rel_ formats. */
KCV_API int kcv_box_format_is_relative(kcv_box_format format);
/* A NULL-terminated list of all format names (for option enums). */
KCV_API const char *const *kcv_box_format_names(void);

/* Convert `count` boxes in place from `from` to `to`. Each box is the first 4
 * floats of a row of `stride` floats (stride >= 4; extra columns pass
 * through). width/height (pixels) are needed when exactly one side is
 * relative; otherwise they are ignored. Returns KCV_ERR_INVALID when the
 * image size is needed and not positive. */
KCV_API kcv_status kcv_boxes_convert(float *boxes, size_t count, size_t stride,
                                     kcv_box_format from, kcv_box_format to,
                                     float width, float height,
                                     kcv_error *err) KCV_WARN_UNUSED;

/* Ragged per-image box list: `count` boxes in `format`, each with a class id
 * (0-based), VOC's difficult and truncated flags. Public because samples move
 * through every plugin; manage the arrays only with the functions below.
 * A zero-initialised kcv_boxes is a valid empty list (format xyxy). */
typedef struct kcv_boxes {
	size_t count;
	size_t capacity;
	kcv_box_format format;
	float *coords;      /* count x 4, in `format` */
	int32_t *classes;   /* count */
	uint8_t *difficult; /* count, 0/1 */
	uint8_t *truncated; /* count, 0/1 */
} kcv_boxes;

/* Make room for `capacity` boxes (keeps the content). */
KCV_API kcv_status kcv_boxes_reserve(kcv_boxes *b, size_t capacity,
                                     kcv_error *err) KCV_WARN_UNUSED;
/* Append one box (4 floats in b->format). */
KCV_API kcv_status kcv_boxes_push(kcv_boxes *b, const float coords[4], int32_t cls,
                                  int difficult, int truncated,
                                  kcv_error *err) KCV_WARN_UNUSED;
/* Copy src into dst (dst's arrays are reused or grown). */
KCV_API kcv_status kcv_boxes_copy(kcv_boxes *dst, const kcv_boxes *src,
                                  kcv_error *err) KCV_WARN_UNUSED;
/* Remove box i, keeping the order of the others. */
KCV_API void kcv_boxes_remove(kcv_boxes *b, size_t i);
/* count = 0 (keeps memory). */
KCV_API void kcv_boxes_clear(kcv_boxes *b);
/* Frees the arrays and zeroes the struct. NULL is a no-op. */
KCV_API void kcv_boxes_release(kcv_boxes *b);
/* Convert the whole list to another format (see kcv_boxes_convert). */
KCV_API kcv_status kcv_boxes_set_format(kcv_boxes *b, kcv_box_format to, float width,
                                        float height, kcv_error *err) KCV_WARN_UNUSED;

/* Clip every box to the image [0,W]x[0,H] (KerasCV clip_to_image) and remove
 * boxes whose clipped area is <= 0 or that contain NaN. Returns the number of
 * boxes that changed or were removed (0 if all were inside). */
KCV_API size_t kcv_boxes_clip(kcv_boxes *b, float width, float height);

/* Intersection over union of two xyxy boxes (0 when the union is 0). */
KCV_API float kcv_box_iou_xyxy(const float a[4], const float b[4]);

KCV_END_DECLS

#endif /* KCV_BOXES_H */
