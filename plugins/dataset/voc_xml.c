/* Annotation XML of the pascal_voc dataset (see voc_xml.h): expat callbacks
 * that track the element path, capture the fields below and append each
 * <object> when it closes. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include <kcv/kcv.h>

#include "voc_xml.h"

#define MAX_DEPTH 64
#define TEXT_BYTES 256

/* Trim whitespace at both ends, in place; returns the start. */
char *voc_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Fields captured, each a bit in xml_state.seen / object_seen, found by the
 * element's path. Only the object's own <bndbox> matches: a <part>'s box
 * (person layout) sits one level deeper. */
enum field {
	F_NONE = 0, F_WIDTH, F_HEIGHT, F_DEPTH, F_NAME, F_DIFFICULT, F_TRUNCATED, F_XMIN, F_YMIN,
	F_XMAX, F_YMAX, F_COUNT
};

static const struct {
	const char *path, *label;
} fields[F_COUNT] = {
	[F_WIDTH] = {"annotation/size/width", "<size><width>"},
	[F_HEIGHT] = {"annotation/size/height", "<size><height>"},
	[F_DEPTH] = {"annotation/size/depth", "<size><depth>"},
	[F_NAME] = {"annotation/object/name", "<name>"},
	[F_DIFFICULT] = {"annotation/object/difficult", "<difficult>"},
	[F_TRUNCATED] = {"annotation/object/truncated", "<truncated>"},
	[F_XMIN] = {"annotation/object/bndbox/xmin", "<bndbox><xmin>"},
	[F_YMIN] = {"annotation/object/bndbox/ymin", "<bndbox><ymin>"},
	[F_XMAX] = {"annotation/object/bndbox/xmax", "<bndbox><xmax>"},
	[F_YMAX] = {"annotation/object/bndbox/ymax", "<bndbox><ymax>"},
};

#define OBJECT_PATH "annotation/object"

typedef struct xml_state {
	XML_Parser parser;
	voc_annotations *a;
	const char *file;
	kcv_error *err;
	int failed;
	int depth;
	char path[512];            /* "annotation/object/bndbox" */
	size_t path_len[MAX_DEPTH]; /* strlen(path) before each level */
	enum field field;          /* being captured; F_NONE otherwise */
	char text[TEXT_BYTES];
	size_t text_len;
	unsigned seen;        /* image-level fields */
	int object_no;        /* objects started so far */
	unsigned object_seen; /* fields of the current object */
	char name[TEXT_BYTES];
	double values[F_COUNT];
} xml_state;

static enum field field_at(const char *path)
{
	for (int f = F_WIDTH; f < F_COUNT; f++)
		if (strcmp(path, fields[f].path) == 0)
			return (enum field)f;
	return F_NONE;
}

static void xml_fail(xml_state *x)
{
	x->failed = 1;
	XML_StopParser(x->parser, XML_FALSE);
}

/* Keep the text of field f: the name as is, numbers parsed. */
static void store_field(xml_state *x, enum field f, char *text)
{
	unsigned *seen = f >= F_NAME ? &x->object_seen : &x->seen;
	char where[96];
	if (f >= F_NAME)
		snprintf(where, sizeof(where), "object %d: %s", x->object_no, fields[f].label);
	else
		snprintf(where, sizeof(where), "%s", fields[f].label);
	if (*seen & (1u << f)) {
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL, "%s appears twice", where);
		xml_fail(x);
		return;
	}
	*seen |= 1u << f;
	if (f == F_NAME) {
		snprintf(x->name, sizeof(x->name), "%s", text);
		return;
	}
	char *end = NULL;
	errno = 0;
	x->values[f] = strtod(text, &end);
	if (!text[0] || *end != '\0' || errno == ERANGE || !isfinite(x->values[f])) {
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL, "%s is not a number: '%s'", where,
		          text);
		xml_fail(x);
	} else if (fabs(x->values[f]) > 1e9) {
		KCV_ERROR(x->err, KCV_ERR_INVALID, x->file, NULL, "%s is out of range: %s", where,
		          text);
		xml_fail(x);
	}
}

static int class_lookup(const voc_annotations *a, const char *name)
{
	for (size_t i = 0; i < a->num_classes; i++)
		if (strcmp(a->classes[i], name) == 0)
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
			          x->object_no, fields[required[i]].label);
			xml_fail(x);
			return;
		}
	}
	voc_annotations *a = x->a;
	int cls = class_lookup(a, x->name);
	if (cls < 0) {
		if (a->skip_unknown)
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
	if (difficult && !a->include_difficult)
		return;
	if (a->num_objects == a->cap_objects) {
		size_t cap = a->cap_objects ? 2 * a->cap_objects : 1024;
		voc_object *o = realloc(a->objects, cap * sizeof(*o));
		if (!o) {
			KCV_ERROR(x->err, KCV_ERR_NOMEM, x->file, NULL, "out of memory");
			xml_fail(x);
			return;
		}
		a->objects = o;
		a->cap_objects = cap;
	}
	voc_object *o = &a->objects[a->num_objects++];
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
	if (x->depth == 0 && strcmp(name, "annotation") != 0) {
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
	size_t len = strlen(x->path);
	x->path_len[x->depth++] = len;
	/* a path too long for the buffer matches no field: leave it cut */
	snprintf(x->path + len, sizeof(x->path) - len, "%s%s", len ? "/" : "", name);
	if (strcmp(x->path, OBJECT_PATH) == 0) {
		x->object_no++;
		x->object_seen = 0;
		x->name[0] = '\0';
	}
	x->field = field_at(x->path);
	x->text_len = 0;
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
		store_field(x, f, voc_trim(x->text));
		if (x->failed)
			return;
	}
	int closing_object = strcmp(x->path, OBJECT_PATH) == 0;
	x->path[x->path_len[--x->depth]] = '\0';
	if (closing_object)
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

kcv_status voc_xml_parse(voc_annotations *a, const char *file, const char *text, size_t size,
                         voc_image *img, kcv_error *err)
{
	xml_state *x = calloc(1, sizeof(*x));
	XML_Parser parser = XML_ParserCreate(NULL);
	kcv_status st = KCV_OK;
	if (!x || !parser) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
		goto done;
	}
	*x = (xml_state){.parser = parser, .a = a, .file = file, .err = err};
	XML_SetUserData(parser, x);
	XML_SetElementHandler(parser, on_start, on_end);
	XML_SetCharacterDataHandler(parser, on_text);
	img->first = a->num_objects;
	if (XML_Parse(parser, text, (int)size, 1) != XML_STATUS_OK) {
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
	static const enum field size_fields[] = {F_WIDTH, F_HEIGHT};
	for (int i = 0; i < 2; i++) {
		enum field sf = size_fields[i];
		if (!(x->seen & (1u << sf))) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "%s missing",
			               fields[sf].label);
			goto done;
		}
		double v = x->values[sf];
		if (v < 1 || v > 65535 || v != floor(v)) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, file, NULL,
			               "%s must be a whole number of pixels in [1,65535], got %g",
			               fields[sf].label, v);
			goto done;
		}
	}
	img->width = (int)x->values[F_WIDTH];
	img->height = (int)x->values[F_HEIGHT];
	img->count = a->num_objects - img->first;
done:
	if (parser)
		XML_ParserFree(parser);
	free(x);
	return st;
}
