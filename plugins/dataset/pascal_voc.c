/* Dataset "pascal_voc": a VOCdevkit folder (JPEGImages, Annotations,
 * ImageSets/Main/<split>.txt) read the way KerasCV's TFDS-based loader reads
 * it (keras_cv/datasets/pascal_voc/load.py, tensorflow_datasets voc.py).
 *
 * create() reads the split's ids and parses every annotation XML with expat
 * (voc_xml.c), so that size() and statistics need no I/O afterwards. Boxes
 * keep VOC's 1-based inclusive corners as they are (TFDS divides xmin by W
 * with no -1 shift), so in pixels of the original image a box is (xmin, ymin,
 * xmax, ymax). get() decodes the JPEG, resizes it to the pipeline size and
 * scales the boxes along; it only reads priv, so several loader threads may
 * call it at once. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <kcv/kcv.h>
#include <kcv/plugin.h>

#include "voc_xml.h"

#define NAME "pascal_voc"
#define SOURCE "[" NAME "]"
#define PATH_BYTES 4096

enum resize_mode { RESIZE_STRETCH = 0, RESIZE_PAD, RESIZE_NONE };
enum unknown_mode { UNKNOWN_ERROR = 0, UNKNOWN_SKIP };

typedef struct voc_config {
	const char *root;
	int64_t year;
	const char *split;
	int include_difficult;
	kcv_strings classes;
	int unknown_classes;
	int resize;
} voc_config;

typedef struct voc_priv {
	char *dir;      /* <root>/VOC<year> */
	char *ids_text; /* the split file, cut into ids in place */
	voc_image *images;
	size_t num_images;
	voc_annotations ann; /* the objects of all images, and the classes */
	int resize, out_w, out_h;
} voc_priv;

/* ---- small helpers -------------------------------------------------------- */

/* 1 when path exists and is a folder (dir) or a regular file (!dir). */
static int exists(const char *path, int dir)
{
	struct stat st;
	return stat(path, &st) == 0 && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

/* Read a whole file, NUL-terminated; `what` names it in messages. Caller
 * frees. */
static char *read_whole(const char *path, const char *what, size_t *size, kcv_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot open %s: %s", what, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	if (n >= 0 && n < INT_MAX && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*size = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot read %s", what);
	}
	fclose(f);
	return buf;
}

/* "<ctx->path>.<key>" (or key alone) for messages. */
static const char *option_path(char *buf, size_t size, const kcv_context *ctx, const char *key)
{
	if (ctx->path && ctx->path[0])
		snprintf(buf, size, "%s.%s", ctx->path, key);
	else
		snprintf(buf, size, "%s", key);
	return buf;
}

/* ---- annotation files ------------------------------------------------------- */

/* Parse one annotation file into image `img` (objects appended to p->ann). */
static kcv_status parse_annotation(voc_priv *p, const char *file, voc_image *img,
                                   kcv_error *err)
{
	size_t size = 0;
	char *text = read_whole(file, "annotation", &size, err);
	if (!text)
		return err && err->code ? err->code : KCV_ERR_IO;
	kcv_status st = voc_xml_parse(&p->ann, file, text, size, img, err);
	free(text);
	return st;
}

/* ---- split list ------------------------------------------------------------- */

/* Read <dir>/ImageSets/Main/<split>.txt: one id a line, blank lines skipped,
 * CR trimmed. */
static kcv_status read_ids(voc_priv *p, const char *split, const kcv_context *ctx,
                           kcv_error *err)
{
	char file[PATH_BYTES], opt[256];
	option_path(opt, sizeof(opt), ctx, "split");
	if ((size_t)snprintf(file, sizeof(file), "%s/ImageSets/Main/%s.txt", p->dir, split) >=
	    sizeof(file))
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt, "path too long");
	if (!exists(file, 0))
		return KCV_ERROR(err, KCV_ERR_IO, ctx->source, opt,
		                 "split file '%s' does not exist", file);
	size_t size;
	p->ids_text = read_whole(file, "split file", &size, err);
	if (!p->ids_text)
		return err && err->code ? err->code : KCV_ERR_IO;
	size_t lines = 1;
	for (const char *c = p->ids_text; *c; c++)
		lines += *c == '\n';
	p->images = calloc(lines, sizeof(*p->images));
	if (!p->images)
		return KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
	char *line = p->ids_text;
	for (size_t no = 1; line; no++) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *id = voc_trim(line);
		line = nl ? nl + 1 : NULL;
		if (!id[0])
			continue;
		/* official lists with labels ("000005 -1") keep only the id */
		char *sp = strpbrk(id, " \t");
		if (sp)
			*sp = '\0';
		if (strlen(id) >= sizeof(((kcv_sample *)0)->id) || strchr(id, '/')) {
			KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "invalid image id '%.40s'", id);
			kcv_error_set_position(err, (int)no, 1);
			return KCV_ERR_INVALID;
		}
		p->images[p->num_images++].id = id;
	}
	if (p->num_images == 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "the split lists no image ids");
	return KCV_OK;
}

/* ---- create / destroy --------------------------------------------------------- */

static void voc_destroy(void *priv)
{
	voc_priv *p = priv;
	free(p->ann.objects);
	free(p->images);
	free(p->ids_text);
	free(p->dir);
	memset(p, 0, sizeof(*p));
}

static const char *default_split(const char *split)
{
	if (!split || strcmp(split, "train") == 0)
		return "train";
	if (strcmp(split, "validation") == 0)
		return "val";
	return split;
}

/* The class names are borrowed from the config, which the instance keeps. */
static kcv_status check_classes(voc_priv *p, const voc_config *c, const kcv_context *ctx,
                                kcv_error *err)
{
	char opt[256];
	option_path(opt, sizeof(opt), ctx, "classes");
	p->ann.classes = c->classes.v;
	p->ann.num_classes = c->classes.n;
	const char *const *classes = p->ann.classes;
	for (size_t i = 0; i < p->ann.num_classes; i++) {
		if (!classes[i][0])
			return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt,
			                 "class %zu is empty", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(classes[j], classes[i]) == 0)
				return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt,
				                 "class '%s' is listed twice", classes[i]);
	}
	return KCV_OK;
}

/* <root>/VOC<year>, or root itself when it already is that folder. */
static kcv_status find_dir(voc_priv *p, const voc_config *c, const kcv_context *ctx,
                           kcv_error *err)
{
	char opt[256], dir[PATH_BYTES];
	option_path(opt, sizeof(opt), ctx, "root");
	const char *root = c->root ? c->root : "";
	if (!root[0] || !exists(root, 1))
		return KCV_ERROR(err, KCV_ERR_IO, ctx->source, opt,
		                 "VOC root '%s' does not exist (set VOC_ROOT or %s)", root, opt);
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	if ((size_t)snprintf(dir, sizeof(dir), "%.*s/VOC%lld", (int)n, root,
	                     (long long)c->year) >= sizeof(dir) - 64)
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt, "path too long");
	if (!exists(dir, 1)) {
		char ann[PATH_BYTES];
		snprintf(ann, sizeof(ann), "%.*s/Annotations", (int)n, root);
		if (!exists(ann, 1))
			return KCV_ERROR(err, KCV_ERR_IO, ctx->source, opt,
			                 "'%s' does not exist: root must be a VOCdevkit "
			                 "folder holding VOC%lld/",
			                 dir, (long long)c->year);
		snprintf(dir, sizeof(dir), "%.*s", (int)n, root);
	}
	p->dir = strdup(dir);
	if (!p->dir)
		return KCV_ERROR(err, KCV_ERR_NOMEM, ctx->source, opt, "out of memory");
	return KCV_OK;
}

static kcv_status voc_create(void *priv, const void *config, const kcv_context *ctx,
                             kcv_error *err)
{
	voc_priv *p = priv;
	const voc_config *c = config;
	kcv_status st;
	p->ann.include_difficult = c->include_difficult;
	p->ann.skip_unknown = c->unknown_classes == UNKNOWN_SKIP;
	p->resize = c->resize;
	p->out_w = ctx->image_width;
	p->out_h = ctx->image_height;
	if (p->resize != RESIZE_NONE && (p->out_w <= 0 || p->out_h <= 0))
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, ctx->path,
		                 "the pipeline's image size is not set (needed by resize)");
	if ((st = check_classes(p, c, ctx, err)) != KCV_OK)
		return st;
	if ((st = find_dir(p, c, ctx, err)) != KCV_OK)
		return st;
	const char *split = c->split && c->split[0] ? c->split : default_split(ctx->split);
	if ((st = read_ids(p, split, ctx, err)) != KCV_OK)
		return st;
	char file[PATH_BYTES];
	for (size_t i = 0; i < p->num_images; i++) {
		voc_image *img = &p->images[i];
		snprintf(file, sizeof(file), "%s/Annotations/%s.xml", p->dir, img->id);
		if ((st = parse_annotation(p, file, img, err)) != KCV_OK)
			return st;
	}
	return KCV_OK;
}

/* ---- queries ---------------------------------------------------------------------- */

static size_t voc_size(const void *priv)
{
	return ((const voc_priv *)priv)->num_images;
}

static size_t voc_num_classes(const void *priv)
{
	return ((const voc_priv *)priv)->ann.num_classes;
}

static const char *voc_class_name(const void *priv, size_t i)
{
	const voc_priv *p = priv;
	return i < p->ann.num_classes ? p->ann.classes[i] : NULL;
}

/* ---- get ------------------------------------------------------------------------- */

typedef struct check_state {
	const kcv_report *report;
	int problems;
} check_state;

static void KCV_PRINTF(3, 4) problem(check_state *cs, const char *file, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cs->problems++;
	if (cs->report && cs->report->fn)
		cs->report->fn(cs->report->user, file, msg);
}

/* Report boxes that leave a w x h image or are empty. */
static void check_boxes(const voc_priv *p, const voc_image *img, int w, int h,
                        check_state *cs)
{
	char file[PATH_BYTES];
	snprintf(file, sizeof(file), "%s/Annotations/%s.xml", p->dir, img->id);
	for (size_t i = 0; i < img->count; i++) {
		const voc_object *o = &p->ann.objects[img->first + i];
		const float *b = o->box;
		if (b[2] <= b[0] || b[3] <= b[1])
			problem(cs, file, "object %d (%s): empty box (%g,%g)-(%g,%g)", o->number,
			        p->ann.classes[o->cls], b[0], b[1], b[2], b[3]);
		else if (b[0] < 0 || b[1] < 0 || b[2] > w || b[3] > h)
			problem(cs, file,
			        "object %d (%s): box (%g,%g)-(%g,%g) leaves the %dx%d image",
			        o->number, p->ann.classes[o->cls], b[0], b[1], b[2], b[3], w, h);
	}
}

/* Where a w x h source goes in the sample: the sample's size, the size of
 * the image content at its top left, and the scale from source pixels. */
typedef struct layout {
	int out_w, out_h, content_w, content_h;
	double sx, sy;
} layout;

static layout layout_for(const voc_priv *p, int w, int h)
{
	layout l = {w, h, w, h, 1.0, 1.0};
	if (p->resize == RESIZE_NONE)
		return l;
	l.out_w = l.content_w = p->out_w;
	l.out_h = l.content_h = p->out_h;
	if (p->resize == RESIZE_PAD) { /* scale to fit, pad right and bottom */
		double scale = fmin((double)p->out_w / w, (double)p->out_h / h);
		l.content_w = (int)fmin(fmax(lround(w * scale), 1), p->out_w);
		l.content_h = (int)fmin(fmax(lround(h * scale), 1), p->out_h);
	}
	l.sx = (double)l.content_w / w;
	l.sy = (double)l.content_h / h;
	return l;
}

/* Put a decoded w x h RGB image into the sample as laid out. */
static kcv_status place_pixels(const layout *l, const uint8_t *rgb, int w, int h,
                               kcv_sample *s, kcv_error *err)
{
	kcv_status st = kcv_sample_resize_buffer(s, l->out_w, l->out_h, err);
	if (st != KCV_OK)
		return st;
	if (l->content_w == w && l->content_h == h && l->out_w == w) {
		size_t n = (size_t)w * h * 3;
		for (size_t i = 0; i < n; i++)
			s->pixels[i] = (float)rgb[i];
	} else {
		kcv_image_resize_bilinear_u8(rgb, w, h, s->pixels, l->content_w, l->content_h, 3);
	}
	if (l->content_w == l->out_w && l->content_h == l->out_h)
		return KCV_OK;
	/* pad: spread the content rows to the full stride, last row first */
	size_t row = (size_t)l->content_w * 3, stride = (size_t)l->out_w * 3;
	for (int y = l->content_h - 1; y >= 0; y--) {
		float *dst = s->pixels + (size_t)y * stride;
		memmove(dst, s->pixels + (size_t)y * row, row * sizeof(float));
		memset(dst + row, 0, (stride - row) * sizeof(float));
	}
	memset(s->pixels + (size_t)l->content_h * stride, 0,
	       (size_t)(l->out_h - l->content_h) * stride * sizeof(float));
	return KCV_OK;
}

/* Boxes of `img` in pixels of a w x h source, clipped, then scaled. */
static kcv_status fill_boxes(const voc_priv *p, const voc_image *img, int w, int h,
                             double sx, double sy, kcv_sample *s, kcv_error *err)
{
	kcv_status st;
	kcv_boxes_clear(&s->boxes);
	s->boxes.format = KCV_BOX_XYXY;
	if ((st = kcv_boxes_reserve(&s->boxes, img->count, err)) != KCV_OK)
		return st;
	for (size_t i = 0; i < img->count; i++) {
		const voc_object *o = &p->ann.objects[img->first + i];
		if ((st = kcv_boxes_push(&s->boxes, o->box, o->cls, o->difficult, o->truncated,
		                         err)) != KCV_OK)
			return st;
	}
	s->clipped_boxes = (int)kcv_boxes_clip(&s->boxes, (float)w, (float)h);
	for (size_t i = 0; i < s->boxes.count; i++) {
		float *b = s->boxes.coords + 4 * i;
		b[0] = (float)(b[0] * sx), b[2] = (float)(b[2] * sx);
		b[1] = (float)(b[1] * sy), b[3] = (float)(b[3] * sy);
	}
	return KCV_OK;
}

/* Decode the image, or only read its size under NO_PIXELS | CHECK. *w, *h
 * receive the size the boxes live in: the JPEG's, else the XML's. Under
 * CHECK problems are reported instead of returned. */
static kcv_status read_image(const voc_image *img, const char *jpg, unsigned flags,
                             check_state *cs, uint8_t **rgb, int *w, int *h, kcv_error *err)
{
	int check = (flags & KCV_GET_CHECK) != 0;
	kcv_error local = {0};
	char warning[256] = "";
	int jw = img->width, jh = img->height;
	kcv_status st = KCV_OK;
	if (!(flags & KCV_GET_NO_PIXELS))
		st = kcv_jpeg_decode_file(jpg, rgb, &jw, &jh, warning, sizeof(warning),
		                          check ? &local : err);
	else if (check)
		st = kcv_jpeg_read_size(jpg, &jw, &jh, &local);
	if (st != KCV_OK) {
		if (!check)
			return st;
		problem(cs, jpg, "%s", local.text);
		jw = img->width, jh = img->height;
	} else if (check && (jw != img->width || jh != img->height)) {
		problem(cs, jpg, "the image is %dx%d but its annotation's <size> says %dx%d",
		        jw, jh, img->width, img->height);
	}
	if (warning[0]) {
		if (!check) {
			free(*rgb);
			*rgb = NULL;
			return KCV_ERROR(err, KCV_ERR_INVALID, jpg, NULL, "corrupt JPEG: %s",
			                 warning);
		}
		problem(cs, jpg, "corrupt JPEG: %s", warning);
	}
	*w = jw;
	*h = jh;
	return KCV_OK;
}

static kcv_status voc_get(const void *priv, size_t index, unsigned flags, kcv_sample *s,
                          const kcv_report *report, kcv_error *err)
{
	const voc_priv *p = priv;
	if (index >= p->num_images)
		return KCV_ERROR(err, KCV_ERR_INVALID, SOURCE, NULL,
		                 "index %zu is out of range (%zu images)", index, p->num_images);
	const voc_image *img = &p->images[index];
	check_state cs = {report, 0};
	char jpg[PATH_BYTES];
	snprintf(jpg, sizeof(jpg), "%s/JPEGImages/%s.jpg", p->dir, img->id);
	snprintf(s->id, sizeof(s->id), "%s", img->id);
	s->index = (int64_t)index;
	s->clipped_boxes = 0;

	uint8_t *rgb = NULL;
	int w = 0, h = 0;
	kcv_status st = read_image(img, jpg, flags, &cs, &rgb, &w, &h, err);
	if (st != KCV_OK)
		return st;
	if (flags & KCV_GET_CHECK)
		check_boxes(p, img, w, h, &cs);
	s->source_width = w;
	s->source_height = h;
	layout l = layout_for(p, w, h);
	if (rgb) {
		st = place_pixels(&l, rgb, w, h, s, err);
		free(rgb);
	} else if (!s->pixels || s->pixels_capacity >= (size_t)l.out_w * l.out_h * 3) {
		s->width = l.out_w; /* no pixels: only the size they would have */
		s->height = l.out_h;
	} else {
		st = kcv_sample_resize_buffer(s, l.out_w, l.out_h, err);
	}
	if (st == KCV_OK)
		st = fill_boxes(p, img, w, h, l.sx, l.sy, s, err);
	if (st == KCV_OK && cs.problems > 0)
		st = KCV_ERROR(err, KCV_ERR_INVALID, jpg, NULL, "%d problem%s found", cs.problems,
		               cs.problems == 1 ? "" : "s");
	return st;
}

/* ---- descriptor ---------------------------------------------------------------- */

static const char *const resize_choices[] = {"stretch", "pad", "none", NULL};
static const char *const unknown_choices[] = {"error", "skip", NULL};

static const kcv_option voc_options[] = {
	{.name = "root", .type = KCV_OPT_STRING, .offset = offsetof(voc_config, root),
	 .doc = "VOCdevkit folder holding VOC<year>/ (relative to the current directory)",
	 .flags = KCV_OPT_REQUIRED},
	{.name = "year", .type = KCV_OPT_INT, .offset = offsetof(voc_config, year), .def = "2007",
	 .min = 2005, .max = 2100, .doc = "reads the folder VOC<year>"},
	{.name = "split", .type = KCV_OPT_STRING, .offset = offsetof(voc_config, split),
	 .doc = "ImageSets/Main/<split>.txt; default from the pipeline split (train, val, test)"},
	{.name = "include_difficult", .type = KCV_OPT_BOOL,
	 .offset = offsetof(voc_config, include_difficult), .def = "true",
	 .doc = "keep objects marked difficult as ordinary ground truth (KerasCV does)"},
	{.name = "classes", .type = KCV_OPT_STRINGS, .offset = offsetof(voc_config, classes),
	 .def = "[\"aeroplane\", \"bicycle\", \"bird\", \"boat\", \"bottle\", \"bus\", \"car\", "
	        "\"cat\", \"chair\", \"cow\", \"diningtable\", \"dog\", \"horse\", "
	        "\"motorbike\", \"person\", \"pottedplant\", \"sheep\", \"sofa\", \"train\", "
	        "\"tvmonitor\"]",
	 .min_items = 1, .doc = "class names; the position is the class id"},
	{.name = "unknown_classes", .type = KCV_OPT_ENUM,
	 .offset = offsetof(voc_config, unknown_classes), .def = "\"error\"",
	 .choices = unknown_choices, .doc = "an object whose class is not listed: error or skip"},
	{.name = "resize", .type = KCV_OPT_ENUM, .offset = offsetof(voc_config, resize),
	 .def = "\"stretch\"", .choices = resize_choices,
	 .doc = "to the pipeline size: stretch (KerasCV), pad (keep aspect), none"},
	{0},
};

static const kcv_dataset_vtable voc_vtable = {
	.size = voc_size,
	.num_classes = voc_num_classes,
	.class_name = voc_class_name,
	.get = voc_get,
};

static const kcv_component voc_component = {
	.kind = KCV_KIND_DATASET,
	.name = NAME,
	.summary = "PASCAL VOC folder (VOCdevkit), read like KerasCV's TFDS voc/2007",
	.options = voc_options,
	.config_size = sizeof(voc_config),
	.priv_size = sizeof(voc_priv),
	.create = voc_create,
	.destroy = voc_destroy,
	.vtable = &voc_vtable,
};

static const kcv_component *const voc_components[] = {&voc_component, NULL};

static const kcv_plugin_desc voc_plugin = {
	.abi_major = KCV_PLUGIN_ABI_MAJOR,
	.abi_minor = KCV_PLUGIN_ABI_MINOR,
	.name = NAME,
	.version = "0.1.0",
	.license = "MIT",
	.summary = "PASCAL VOC dataset reader",
	.components = voc_components,
};

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void);

KCV_PLUGIN_EXPORT const kcv_plugin_desc *kcv_plugin_describe(void)
{
	return &voc_plugin;
}
