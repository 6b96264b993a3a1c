/* Bounding-box formats (KerasCV convert_format semantics) and box lists. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/boxes.h>

#include "util-impl.h"

static const char *const format_names[] = {
	"xyxy", "rel_xyxy", "xywh", "rel_xywh", "center_xywh", "yxyx", "rel_yxyx", NULL,
};

const char *kcv_box_format_name(kcv_box_format format)
{
	if ((unsigned)format >= KCV_BOX_FORMAT_COUNT)
		return NULL;
	return format_names[format];
}

const char *const *kcv_box_format_names(void)
{
	return format_names;
}

int kcv_box_format_parse(const char *name, kcv_box_format *out)
{
	if (!name)
		return -1;
	for (int i = 0; i < KCV_BOX_FORMAT_COUNT; i++) {
		if (kcv_strcaseeq(name, format_names[i])) {
			*out = (kcv_box_format)i;
			return 0;
		}
	}
	return -1;
}

int kcv_box_format_is_relative(kcv_box_format f)
{
	return f == KCV_BOX_REL_XYXY || f == KCV_BOX_REL_XYWH || f == KCV_BOX_REL_YXYX;
}

/* One box to absolute xyxy (sx, sy scale relative coordinates). */
static void to_xyxy(const float *fb, kcv_box_format f, double sx, double sy, double out[4])
{
	double b[4] = { fb[0], fb[1], fb[2], fb[3] };
	switch (f) {
	case KCV_BOX_XYXY:
	case KCV_BOX_REL_XYXY:
		out[0] = b[0] * sx, out[1] = b[1] * sy, out[2] = b[2] * sx, out[3] = b[3] * sy;
		break;
	case KCV_BOX_XYWH:
	case KCV_BOX_REL_XYWH:
		out[0] = b[0] * sx, out[1] = b[1] * sy;
		out[2] = (b[0] + b[2]) * sx, out[3] = (b[1] + b[3]) * sy;
		break;
	case KCV_BOX_CENTER_XYWH:
		out[0] = b[0] - b[2] * 0.5, out[1] = b[1] - b[3] * 0.5;
		out[2] = b[0] + b[2] * 0.5, out[3] = b[1] + b[3] * 0.5;
		break;
	case KCV_BOX_YXYX:
	case KCV_BOX_REL_YXYX:
		out[0] = b[1] * sx, out[1] = b[0] * sy, out[2] = b[3] * sx, out[3] = b[2] * sy;
		break;
	default:
		KCV_ASSERT(0);
	}
}

/* Absolute xyxy to format f (sx, sy divide for relative formats). */
static void from_xyxy(const double in[4], kcv_box_format f, double sx, double sy, float *b)
{
	switch (f) {
	case KCV_BOX_XYXY:
	case KCV_BOX_REL_XYXY:
		b[0] = in[0] / sx, b[1] = in[1] / sy, b[2] = in[2] / sx, b[3] = in[3] / sy;
		break;
	case KCV_BOX_XYWH:
	case KCV_BOX_REL_XYWH:
		b[0] = in[0] / sx, b[1] = in[1] / sy;
		b[2] = (in[2] - in[0]) / sx, b[3] = (in[3] - in[1]) / sy;
		break;
	case KCV_BOX_CENTER_XYWH:
		b[0] = (in[0] + in[2]) * 0.5, b[1] = (in[1] + in[3]) * 0.5;
		b[2] = in[2] - in[0], b[3] = in[3] - in[1];
		break;
	case KCV_BOX_YXYX:
	case KCV_BOX_REL_YXYX:
		b[0] = in[1] / sy, b[1] = in[0] / sx, b[2] = in[3] / sy, b[3] = in[2] / sx;
		break;
	default:
		KCV_ASSERT(0);
	}
}

kcv_status kcv_boxes_convert(float *boxes, size_t count, size_t stride, kcv_box_format from,
                             kcv_box_format to, float width, float height, kcv_error *err)
{
	if ((unsigned)from >= KCV_BOX_FORMAT_COUNT || (unsigned)to >= KCV_BOX_FORMAT_COUNT)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "invalid box format %d -> %d",
		                 (int)from, (int)to);
	if (stride < 4)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "box stride %zu < 4", stride);
	if (from == to || count == 0)
		return KCV_OK;
	int rf = kcv_box_format_is_relative(from), rt = kcv_box_format_is_relative(to);
	/* rel -> rel needs no image: work in a unit image. */
	float w = 1.0f, h = 1.0f;
	if (rf != rt) {
		if (!(width > 0.0f) || !(height > 0.0f))
			return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL,
			                 "converting %s to %s needs the image size, got %gx%g",
			                 format_names[from], format_names[to], (double)width,
			                 (double)height);
		w = width, h = height;
	}
	float sxf = rf ? w : 1.0f, syf = rf ? h : 1.0f;
	float sxt = rt ? w : 1.0f, syt = rt ? h : 1.0f;
	for (size_t i = 0; i < count; i++) {
		float *b = boxes + i * stride; double t[4];
		to_xyxy(b, from, sxf, syf, t);
		from_xyxy(t, to, sxt, syt, b);
	}
	return KCV_OK;
}

kcv_status kcv_boxes_reserve(kcv_boxes *b, size_t capacity, kcv_error *err)
{
	if (capacity <= b->capacity)
		return KCV_OK;
	size_t cap = b->capacity ? b->capacity : 8;
	while (cap < capacity)
		cap *= 2;
	float *c = realloc(b->coords, cap * 4 * sizeof(float));
	if (c)
		b->coords = c;
	int32_t *k = realloc(b->classes, cap * sizeof(int32_t));
	if (k)
		b->classes = k;
	uint8_t *d = realloc(b->difficult, cap);
	if (d)
		b->difficult = d;
	uint8_t *t = realloc(b->truncated, cap);
	if (t)
		b->truncated = t;
	if (!c || !k || !d || !t)
		return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory for %zu boxes",
		                 capacity);
	b->capacity = cap;
	return KCV_OK;
}

kcv_status kcv_boxes_push(kcv_boxes *b, const float coords[4], int32_t cls, int difficult,
                          int truncated, kcv_error *err)
{
	kcv_status st = kcv_boxes_reserve(b, b->count + 1, err);
	if (st)
		return st;
	memcpy(b->coords + b->count * 4, coords, 4 * sizeof(float));
	b->classes[b->count] = cls;
	b->difficult[b->count] = difficult ? 1 : 0;
	b->truncated[b->count] = truncated ? 1 : 0;
	b->count++;
	return KCV_OK;
}

kcv_status kcv_boxes_copy(kcv_boxes *dst, const kcv_boxes *src, kcv_error *err)
{
	if (dst == src)
		return KCV_OK;
	kcv_status st = kcv_boxes_reserve(dst, src->count, err);
	if (st)
		return st;
	dst->count = src->count;
	dst->format = src->format;
	if (src->count) {
		memcpy(dst->coords, src->coords, src->count * 4 * sizeof(float));
		memcpy(dst->classes, src->classes, src->count * sizeof(int32_t));
		memcpy(dst->difficult, src->difficult, src->count);
		memcpy(dst->truncated, src->truncated, src->count);
	}
	return KCV_OK;
}

void kcv_boxes_remove(kcv_boxes *b, size_t i)
{
	if (i >= b->count)
		return;
	size_t rest = b->count - i - 1;
	memmove(b->coords + i * 4, b->coords + (i + 1) * 4, rest * 4 * sizeof(float));
	memmove(b->classes + i, b->classes + i + 1, rest * sizeof(int32_t));
	memmove(b->difficult + i, b->difficult + i + 1, rest);
	memmove(b->truncated + i, b->truncated + i + 1, rest);
	b->count--;
}

void kcv_boxes_clear(kcv_boxes *b)
{
	b->count = 0;
}

void kcv_boxes_release(kcv_boxes *b)
{
	if (!b)
		return;
	free(b->coords);
	free(b->classes);
	free(b->difficult);
	free(b->truncated);
	memset(b, 0, sizeof(*b));
}

kcv_status kcv_boxes_set_format(kcv_boxes *b, kcv_box_format to, float width, float height,
                                kcv_error *err)
{
	kcv_status st =
		kcv_boxes_convert(b->coords, b->count, 4, b->format, to, width, height, err);
	if (st)
		return st;
	b->format = to;
	return KCV_OK;
}

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : (v > hi ? hi : v);
}

size_t kcv_boxes_clip(kcv_boxes *b, float width, float height)
{
	size_t changed = 0, j = 0;
	kcv_box_format f = b->format;
	int rel = kcv_box_format_is_relative(f);
	float sx = rel ? width : 1.0f, sy = rel ? height : 1.0f;
	for (size_t i = 0; i < b->count; i++) {
		double t[4], u[4]; float o[4];
		to_xyxy(b->coords + i * 4, f, sx, sy, t);
		int bad = isnan(t[0]) || isnan(t[1]) || isnan(t[2]) || isnan(t[3]);
		u[0] = clampd(t[0], 0, width), u[1] = clampd(t[1], 0, height);
		u[2] = clampd(t[2], 0, width), u[3] = clampd(t[3], 0, height);
		int moved = u[0] != t[0] || u[1] != t[1] || u[2] != t[2] || u[3] != t[3];
		int keep = !bad && (u[2] - u[0]) > 0.0f && (u[3] - u[1]) > 0.0f;
		if (moved || !keep)
			changed++;
		if (!keep)
			continue;
		from_xyxy(u, f, sx, sy, o);
		memcpy(b->coords + j * 4, o, sizeof(o));
		b->classes[j] = b->classes[i];
		b->difficult[j] = b->difficult[i];
		b->truncated[j] = b->truncated[i];
		j++;
	}
	b->count = j;
	return changed;
}

float kcv_box_iou_xyxy(const float a[4], const float b[4])
{
	float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
	float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
	if (iw < 0)
		iw = 0;
	if (ih < 0)
		ih = 0;
	float inter = iw * ih;
	float aa = fmaxf(a[2] - a[0], 0) * fmaxf(a[3] - a[1], 0);
	float ab = fmaxf(b[2] - b[0], 0) * fmaxf(b[3] - b[1], 0);
	float uni = aa + ab - inter;
	return uni > 0 ? inter / uni : 0.0f;
}
