/* Dataset "pascal_voc": a VOCdevkit folder (JPEGImages, Annotations,
 * ImageSets/Main/<split>.txt) read the way KerasCV's TFDS-based loader reads
 * it (keras_cv/datasets/pascal_voc/load.py, tensorflow_datasets voc.py).
 *
 * create() reads the split's ids and parses every annotation XML with expat,
 * so that size() and statistics need no I/O afterwards. Boxes keep VOC's
 * 1-based inclusive corners as they are (TFDS divides xmin by W with no -1
 * shift), so in pixels of the original image a box is (xmin, ymin, xmax,
 * ymax). get() decodes the JPEG, resizes it to the pipeline size and scales
 * the boxes along; it only reads priv, so several loader threads may call it
 * at once. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <expat.h>

#include <kcv/kcv.h>
#include <kcv/plugin.h>

#define NAME "pascal_voc"
#define SOURCE "[" NAME "]"
#define PATH_BYTES 4096
#define MAX_DEPTH 64
#define TEXT_BYTES 256

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

typedef struct voc_object {
	float box[4]; /* xmin, ymin, xmax, ymax as written in the XML */
	int32_t cls;
	int number;   /* 1-based position among the file's objects */
	uint8_t difficult, truncated;
} voc_object;

typedef struct voc_image {
	const char *id;      /* points into voc_priv.ids_text */
	int width, height;   /* the XML's <size> */
	size_t first, count; /* its objects: objects[first .. first + count) */
} voc_image;

typedef struct voc_priv {
	char *dir;      /* <root>/VOC<year> */
	char *ids_text; /* the split file, cut into ids in place */
	voc_image *images;
	size_t num_images;
	voc_object *objects;
	size_t num_objects, cap_objects;
	char **classes;
	size_t num_classes;
	int include_difficult, skip_unknown;
	int resize, out_w, out_h;
} voc_priv;

/* ---- small helpers -------------------------------------------------------- */

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Trim ASCII whitespace at both ends, in place; returns the start. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
	                 s[n - 1] == '\r' || s[n - 1] == '\f' || s[n - 1] == '\v'))
		s[--n] = '\0';
	return s;
}

static char *dup_string(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
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

/* ---- annotation XML --------------------------------------------------------- */

enum tag {
	TAG_OTHER = 0, TAG_ANNOTATION, TAG_SIZE, TAG_WIDTH, TAG_HEIGHT, TAG_DEPTH, TAG_OBJECT,
	TAG_NAME, TAG_DIFFICULT, TAG_TRUNCATED, TAG_BNDBOX, TAG_XMIN, TAG_YMIN, TAG_XMAX,
	TAG_YMAX, TAG_COUNT
};

static const char *const tag_names[TAG_COUNT] = {
	"", "annotation", "size", "width", "height", "depth", "object", "name", "difficult",
	"truncated", "bndbox", "xmin", "ymin", "xmax", "ymax",
};

/* Fields captured, each a bit in xml_state.seen / object_seen. */
enum field {
	F_NONE = 0, F_WIDTH, F_HEIGHT, F_DEPTH, F_NAME, F_DIFFICULT, F_TRUNCATED, F_XMIN, F_YMIN,
	F_XMAX, F_YMAX
};

static const char *const field_labels[] = {
	"", "<size><width>", "<size><height>", "<size><depth>", "<name>", "<difficult>",
	"<truncated>", "<bndbox><xmin>", "<bndbox><ymin>", "<bndbox><xmax>", "<bndbox><ymax>",
};

typedef struct xml_state {
	XML_Parser parser;
	voc_priv *p;
	const char *file;
	kcv_error *err;
	int failed;
	int depth;
	uint8_t stack[MAX_DEPTH];
	enum field field; /* being captured; F_NONE otherwise */
	char text[TEXT_BYTES];
	size_t text_len;
	unsigned seen;         /* image-level fields */
	double size[3];        /* width, height, depth */
	int object_no;         /* objects started so far */
	unsigned object_seen;  /* fields of the current object */
	char name[TEXT_BYTES];
	double values[F_YMAX + 1];
} xml_state;

static enum tag tag_lookup(const char *name)
{
	for (int i = 1; i < TAG_COUNT; i++)
		if (strcmp(name, tag_names[i]) == 0)
			return (enum tag)i;
	return TAG_OTHER;
}

/* Which field the element just opened holds, from its path. */
static enum field field_at(const xml_state *x)
{
	const uint8_t *s = x->stack;
	if (x->depth == 3 && s[0] == TAG_ANNOTATION && s[1] == TAG_SIZE) {
		switch (s[2]) {
		case TAG_WIDTH: return F_WIDTH;
		case TAG_HEIGHT: return F_HEIGHT;
		case TAG_DEPTH: return F_DEPTH;
		default: return F_NONE;
		}
	}
	if (x->depth == 3 && s[0] == TAG_ANNOTATION && s[1] == TAG_OBJECT) {
		switch (s[2]) {
		case TAG_NAME: return F_NAME;
		case TAG_DIFFICULT: return F_DIFFICULT;
		case TAG_TRUNCATED: return F_TRUNCATED;
		default: return F_NONE;
		}
	}
	/* only the object's own <bndbox>: a <part>'s box sits one level deeper */
	if (x->depth == 4 && s[0] == TAG_ANNOTATION && s[1] == TAG_OBJECT && s[2] == TAG_BNDBOX) {
		switch (s[3]) {
		case TAG_XMIN: return F_XMIN;
		case TAG_YMIN: return F_YMIN;
		case TAG_XMAX: return F_XMAX;
		case TAG_YMAX: return F_YMAX;
		default: return F_NONE;
		}
	}
	return F_NONE;
}

static void xml_fail(xml_state *x)
{
	x->failed = 1;
	XML_StopParser(x->parser, XML_FALSE);
}

/* Prefix "object N: " for object fields. */
static void field_where(const xml_state *x, enum field f, char *buf, size_t size)
{
	if (f >= F_NAME)
		snprintf(buf, size, "object %d: %s", x->object_no, field_labels[f]);
	else
		snprintf(buf, size, "%s", field_labels[f]);
}

static int parse_number(xml_state *x, enum field f, const char *text, double *out)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(text, &end);
	if (!text[0] || *end != '\0' || errno == ERANGE || !isfinite(v)) {
		char where[96];
		field_where(x, f, where, sizeof(where));
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL, "%s is not a number: '%s'", where,
		          text);
		return -1;
	}
	*out = v;
	return 0;
}

static void store_field(xml_state *x, enum field f, char *text)
{
	unsigned bit = 1u << f;
	unsigned *seen = f >= F_NAME ? &x->object_seen : &x->seen;
	if (*seen & bit) {
		char where[96];
		field_where(x, f, where, sizeof(where));
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL, "%s appears twice", where);
		xml_fail(x);
		return;
	}
	*seen |= bit;
	if (f == F_NAME) {
		snprintf(x->name, sizeof(x->name), "%s", text);
		return;
	}
	double v;
	if (parse_number(x, f, text, &v) != 0) {
		xml_fail(x);
		return;
	}
	if (f <= F_DEPTH)
		x->size[f - F_WIDTH] = v;
	else
		x->values[f] = v;
}

static int class_lookup(const voc_priv *p, const char *name)
{
	for (size_t i = 0; i < p->num_classes; i++)
		if (strcmp(p->classes[i], name) == 0)
			return (int)i;
	return -1;
}

/* </object>: check the fields and append the object. */
static void finish_object(xml_state *x)
{
	static const enum field required[] = {F_NAME, F_XMIN, F_YMIN, F_XMAX, F_YMAX};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!(x->object_seen & (1u << required[i]))) {
			KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL, "object %d: %s missing",
			          x->object_no, field_labels[required[i]]);
			xml_fail(x);
			return;
		}
	}
	voc_priv *p = x->p;
	int cls = class_lookup(p, x->name);
	if (cls < 0) {
		if (p->skip_unknown)
			return;
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL,
		          "object %d: class '%s' is not in the classes option (set "
		          "unknown_classes to \"skip\" to drop such objects)",
		          x->object_no, x->name);
		xml_fail(x);
		return;
	}
	int difficult = (x->object_seen & (1u << F_DIFFICULT)) && x->values[F_DIFFICULT] != 0;
	int truncated = (x->object_seen & (1u << F_TRUNCATED)) && x->values[F_TRUNCATED] != 0;
	if (difficult && !p->include_difficult)
		return;
	if (p->num_objects == p->cap_objects) {
		size_t cap = p->cap_objects ? 2 * p->cap_objects : 1024;
		voc_object *o = realloc(p->objects, cap * sizeof(*o));
		if (!o) {
			KCV_ERROR(x->err, KCV_ERR_NOMEM, x->file, NULL, "out of memory");
			xml_fail(x);
			return;
		}
		p->objects = o;
		p->cap_objects = cap;
	}
	voc_object *o = &p->objects[p->num_objects++];
	for (int k = 0; k < 4; k++)
		o->box[k] = (float)x->values[F_XMIN + k];
	o->cls = cls;
	o->number = x->object_no;
	o->difficult = (uint8_t)difficult;
	o->truncated = (uint8_t)truncated;
}

static void XMLCALL on_start(void *user, const XML_Char *name, const XML_Char **attrs)
{
	(void)attrs;
	xml_state *x = user;
	if (x->failed)
		return;
	enum tag t = tag_lookup(name);
	if (x->depth == 0 && t != TAG_ANNOTATION) {
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL,
		          "the root element is <%s>, expected <annotation>", name);
		xml_fail(x);
		return;
	}
	if (x->depth >= MAX_DEPTH) {
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL, "elements nested too deeply");
		xml_fail(x);
		return;
	}
	x->stack[x->depth++] = (uint8_t)t;
	if (x->depth == 2 && t == TAG_OBJECT) {
		x->object_no++;
		x->object_seen = 0;
		x->name[0] = '\0';
	}
	x->field = field_at(x);
	x->text_len = 0;
	x->text[0] = '\0';
}

static void XMLCALL on_end(void *user, const XML_Char *name)
{
	(void)name;
	xml_state *x = user;
	if (x->failed || x->depth == 0)
		return;
	if (x->field != F_NONE) {
		x->text[x->text_len] = '\0';
		enum field f = x->field;
		x->field = F_NONE;
		store_field(x, f, trim(x->text));
		if (x->failed)
			return;
	}
	x->depth--;
	if (x->depth == 1 && x->stack[1] == TAG_OBJECT)
		finish_object(x);
}

static void XMLCALL on_text(void *user, const XML_Char *s, int len)
{
	xml_state *x = user;
	if (x->failed || x->field == F_NONE)
		return;
	size_t room = TEXT_BYTES - 1 - x->text_len;
	size_t n = (size_t)len < room ? (size_t)len : room;
	memcpy(x->text + x->text_len, s, n);
	x->text_len += n;
}

/* Parse one annotation file into image `img` (objects appended to p). */
static kcv_status parse_annotation(voc_priv *p, const char *file, voc_image *img,
                                   kcv_error *err)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		return KCV_ERROR(err, KCV_ERR_IO, file, NULL, "cannot open annotation: %s",
		                 strerror(errno));
	xml_state *x = calloc(1, sizeof(*x));
	XML_Parser parser = XML_ParserCreate(NULL);
	kcv_status st = KCV_OK;
	if (!x || !parser) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
		goto done;
	}
	x->parser = parser;
	x->p = p;
	x->file = file;
	x->err = err;
	XML_SetUserData(parser, x);
	XML_SetElementHandler(parser, on_start, on_end);
	XML_SetCharacterDataHandler(parser, on_text);
	img->first = p->num_objects;
	char buf[16384];
	for (;;) {
		size_t n = fread(buf, 1, sizeof(buf), f);
		if (ferror(f)) {
			st = KCV_ERROR(err, KCV_ERR_IO, file, NULL, "read error: %s", strerror(errno));
			goto done;
		}
		int last = n < sizeof(buf);
		if (XML_Parse(parser, buf, (int)n, last) != XML_STATUS_OK) {
			if (x->failed) {
				st = err && err->code ? err->code : KCV_ERR_INVALID;
			} else {
				st = KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "%s",
				               XML_ErrorString(XML_GetErrorCode(parser)));
				kcv_error_set_position(err, (int)XML_GetCurrentLineNumber(parser),
				                       (int)XML_GetCurrentColumnNumber(parser) + 1);
			}
			goto done;
		}
		if (last)
			break;
	}
	static const enum field size_fields[] = {F_WIDTH, F_HEIGHT};
	for (int i = 0; i < 2; i++) {
		enum field sf = size_fields[i];
		if (!(x->seen & (1u << sf))) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "%s missing", field_labels[sf]);
			goto done;
		}
		double v = x->size[sf - F_WIDTH];
		if (v < 1 || v > 65535 || v != floor(v)) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, file, NULL,
			               "%s must be a whole number of pixels in [1,65535], got %g",
			               field_labels[sf], v);
			goto done;
		}
	}
	img->width = (int)x->size[0];
	img->height = (int)x->size[1];
	img->count = p->num_objects - img->first;
done:
	if (parser)
		XML_ParserFree(parser);
	free(x);
	fclose(f);
	return st;
}

/* ---- split list ------------------------------------------------------------- */

static char *read_text(const char *path, kcv_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot open: %s", strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 65536;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				fclose(f);
				KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory");
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "read error");
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* Read <dir>/ImageSets/Main/<split>.txt: one id a line, blank lines skipped,
 * CR trimmed. */
static kcv_status read_ids(voc_priv *p, const char *split, const kcv_context *ctx,
                           kcv_error *err)
{
	char file[PATH_BYTES], opt[256];
	if ((size_t)snprintf(file, sizeof(file), "%s/ImageSets/Main/%s.txt", p->dir, split) >=
	    sizeof(file))
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, option_path(opt, sizeof(opt), ctx, "root"),
		                 "path too long");
	if (!is_file(file))
		return KCV_ERROR(err, KCV_ERR_IO, ctx->source, option_path(opt, sizeof(opt), ctx, "split"),
		                 "split file '%s' does not exist", file);
	p->ids_text = read_text(file, err);
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
		char *id = trim(line);
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
	if (p->classes)
		for (size_t i = 0; i < p->num_classes; i++)
			free(p->classes[i]);
	free(p->classes);
	free(p->objects);
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

static kcv_status copy_classes(voc_priv *p, const voc_config *c, const kcv_context *ctx,
                               kcv_error *err)
{
	char opt[256];
	option_path(opt, sizeof(opt), ctx, "classes");
	if (c->classes.n == 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt, "at least one class is needed");
	p->classes = calloc(c->classes.n, sizeof(char *));
	if (!p->classes)
		return KCV_ERROR(err, KCV_ERR_NOMEM, ctx->source, opt, "out of memory");
	p->num_classes = c->classes.n;
	for (size_t i = 0; i < c->classes.n; i++) {
		const char *name = c->classes.v[i];
		if (!name[0])
			return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt, "class %zu is empty", i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->classes[j], name) == 0)
				return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt,
				                 "class '%s' is listed twice", name);
		p->classes[i] = dup_string(name);
		if (!p->classes[i])
			return KCV_ERROR(err, KCV_ERR_NOMEM, ctx->source, opt, "out of memory");
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
	if (!root[0] || !is_dir(root))
		return KCV_ERROR(err, KCV_ERR_IO, ctx->source, opt,
		                 "VOC root '%s' does not exist (set VOC_ROOT or %s)", root, opt);
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	if ((size_t)snprintf(dir, sizeof(dir), "%.*s/VOC%lld", (int)n, root,
	                     (long long)c->year) >= sizeof(dir) - 64)
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, opt, "path too long");
	if (!is_dir(dir)) {
		char ann[PATH_BYTES];
		snprintf(ann, sizeof(ann), "%.*s/Annotations", (int)n, root);
		if (!is_dir(ann))
			return KCV_ERROR(err, KCV_ERR_IO, ctx->source, opt,
			                 "'%s' does not exist: root must be a VOCdevkit folder holding "
			                 "VOC%lld/", dir, (long long)c->year);
		snprintf(dir, sizeof(dir), "%.*s", (int)n, root);
	}
	p->dir = dup_string(dir);
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
	p->include_difficult = c->include_difficult;
	p->skip_unknown = c->unknown_classes == UNKNOWN_SKIP;
	p->resize = c->resize;
	p->out_w = ctx->image_width;
	p->out_h = ctx->image_height;
	if (p->resize != RESIZE_NONE && (p->out_w <= 0 || p->out_h <= 0))
		return KCV_ERROR(err, KCV_ERR_INVALID, ctx->source, ctx->path,
		                 "the pipeline's image size is not set (needed by resize)");
	if ((st = copy_classes(p, c, ctx, err)) != KCV_OK)
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
	return ((const voc_priv *)priv)->num_classes;
}

static const char *voc_class_name(const void *priv, size_t i)
{
	const voc_priv *p = priv;
	return i < p->num_classes ? p->classes[i] : NULL;
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
		const voc_object *o = &p->objects[img->first + i];
		const float *b = o->box;
		if (b[2] <= b[0] || b[3] <= b[1])
			problem(cs, file, "object %d (%s): empty box (%g,%g)-(%g,%g)", o->number,
			        p->classes[o->cls], b[0], b[1], b[2], b[3]);
		else if (b[0] < 0 || b[1] < 0 || b[2] > w || b[3] > h)
			problem(cs, file, "object %d (%s): box (%g,%g)-(%g,%g) leaves the %dx%d image",
			        o->number, p->classes[o->cls], b[0], b[1], b[2], b[3], w, h);
	}
}

/* Place a decoded w x h RGB image into the sample as p->resize asks; sx, sy
 * receive the scale from source pixels to sample pixels. */
static kcv_status place_pixels(const voc_priv *p, const uint8_t *rgb, int w, int h,
                               kcv_sample *s, double *sx, double *sy, kcv_error *err)
{
	kcv_status st;
	if (p->resize == RESIZE_NONE) {
		if ((st = kcv_sample_resize_buffer(s, w, h, err)) != KCV_OK)
			return st;
		size_t n = (size_t)w * h * 3;
		for (size_t i = 0; i < n; i++)
			s->pixels[i] = (float)rgb[i];
		*sx = *sy = 1.0;
		return KCV_OK;
	}
	if ((st = kcv_sample_resize_buffer(s, p->out_w, p->out_h, err)) != KCV_OK)
		return st;
	if (p->resize == RESIZE_STRETCH) {
		kcv_image_resize_bilinear_u8(rgb, w, h, s->pixels, p->out_w, p->out_h, 3);
		*sx = (double)p->out_w / w;
		*sy = (double)p->out_h / h;
		return KCV_OK;
	}
	/* pad: scale to fit, content at the top left, zeros elsewhere */
	double scale = fmin((double)p->out_w / w, (double)p->out_h / h);
	int rw = (int)lround(w * scale), rh = (int)lround(h * scale);
	rw = rw < 1 ? 1 : rw > p->out_w ? p->out_w : rw;
	rh = rh < 1 ? 1 : rh > p->out_h ? p->out_h : rh;
	kcv_image_resize_bilinear_u8(rgb, w, h, s->pixels, rw, rh, 3);
	/* spread the rw-wide rows to the full stride, last row first */
	size_t row = (size_t)rw * 3, stride = (size_t)p->out_w * 3;
	for (int y = rh - 1; y >= 0; y--) {
		float *dst = s->pixels + (size_t)y * stride;
		memmove(dst, s->pixels + (size_t)y * row, row * sizeof(float));
		memset(dst + row, 0, (stride - row) * sizeof(float));
	}
	memset(s->pixels + (size_t)rh * stride, 0, (size_t)(p->out_h - rh) * stride * sizeof(float));
	*sx = (double)rw / w;
	*sy = (double)rh / h;
	return KCV_OK;
}

/* The output size for an image of w x h when no pixels are made. */
static void output_size(const voc_priv *p, int w, int h, double *sx, double *sy, int *ow,
                        int *oh)
{
	if (p->resize == RESIZE_NONE) {
		*sx = *sy = 1.0;
		*ow = w, *oh = h;
	} else if (p->resize == RESIZE_STRETCH) {
		*sx = (double)p->out_w / w, *sy = (double)p->out_h / h;
		*ow = p->out_w, *oh = p->out_h;
	} else {
		double scale = fmin((double)p->out_w / w, (double)p->out_h / h);
		int rw = (int)lround(w * scale), rh = (int)lround(h * scale);
		rw = rw < 1 ? 1 : rw > p->out_w ? p->out_w : rw;
		rh = rh < 1 ? 1 : rh > p->out_h ? p->out_h : rh;
		*sx = (double)rw / w, *sy = (double)rh / h;
		*ow = p->out_w, *oh = p->out_h;
	}
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
		const voc_object *o = &p->objects[img->first + i];
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

static kcv_status voc_get(const void *priv, size_t index, unsigned flags, kcv_sample *s,
                          const kcv_report *report, kcv_error *err)
{
	const voc_priv *p = priv;
	if (index >= p->num_images)
		return KCV_ERROR(err, KCV_ERR_INVALID, SOURCE, NULL,
		                 "index %zu is out of range (%zu images)", index, p->num_images);
	const voc_image *img = &p->images[index];
	int check = (flags & KCV_GET_CHECK) != 0;
	check_state cs = {report, 0};
	snprintf(s->id, sizeof(s->id), "%s", img->id);
	s->index = (int64_t)index;
	s->clipped_boxes = 0;

	char jpg[PATH_BYTES];
	snprintf(jpg, sizeof(jpg), "%s/JPEGImages/%s.jpg", p->dir, img->id);
	int w = img->width, h = img->height, decoded = 0;
	uint8_t *rgb = NULL;
	kcv_status st = KCV_OK;
	double sx, sy;
	if (!(flags & KCV_GET_NO_PIXELS)) {
		char warning[256];
		kcv_error e2;
		kcv_error_clear(&e2);
		st = kcv_jpeg_decode_file(jpg, &rgb, &w, &h, warning, sizeof(warning),
		                          check ? &e2 : err);
		if (st != KCV_OK) {
			if (!check)
				return st;
			problem(&cs, jpg, "%s", e2.text);
			w = img->width, h = img->height;
		} else {
			decoded = 1;
			if (warning[0]) {
				if (!check) {
					free(rgb);
					return KCV_ERROR(err, KCV_ERR_INVALID, jpg, NULL, "corrupt JPEG: %s",
					                 warning);
				}
				problem(&cs, jpg, "corrupt JPEG: %s", warning);
			}
		}
	} else if (check) {
		kcv_error e2;
		kcv_error_clear(&e2);
		int jw, jh;
		if (kcv_jpeg_read_size(jpg, &jw, &jh, &e2) != KCV_OK)
			problem(&cs, jpg, "%s", e2.text);
		else if (jw != w || jh != h)
			problem(&cs, jpg, "the image is %dx%d but its annotation's <size> says %dx%d",
			        jw, jh, w, h);
	}
	if (decoded && check && (w != img->width || h != img->height))
		problem(&cs, jpg, "the image is %dx%d but its annotation's <size> says %dx%d", w, h,
		        img->width, img->height);
	if (check)
		check_boxes(p, img, w, h, &cs);
	s->source_width = w;
	s->source_height = h;

	if (decoded) {
		st = place_pixels(p, rgb, w, h, s, &sx, &sy, err);
		free(rgb);
		if (st != KCV_OK)
			return st;
	} else {
		int ow, oh;
		output_size(p, w, h, &sx, &sy, &ow, &oh);
		if (!s->pixels || s->pixels_capacity >= (size_t)ow * oh * 3) {
			s->width = ow;
			s->height = oh;
		} else if ((st = kcv_sample_resize_buffer(s, ow, oh, err)) != KCV_OK) {
			return st;
		}
	}
	if ((st = fill_boxes(p, img, w, h, sx, sy, s, err)) != KCV_OK)
		return st;
	if (check && cs.problems > 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, jpg, NULL, "%d problem%s found", cs.problems,
		                 cs.problems == 1 ? "" : "s");
	return KCV_OK;
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
