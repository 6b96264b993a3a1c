/* Annotation XML of the pascal_voc dataset (private to that plugin): one
 * VOC annotation file parsed with expat into an image's size and its
 * objects. Names start with voc_, never kcv_: the module exports only
 * kcv_plugin_describe. */
#ifndef KCV_VOC_XML_H
#define KCV_VOC_XML_H

#include <stddef.h>
#include <stdint.h>

#include <kcv/kcv.h>

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

/* The objects of every parsed file, in order, and what decides which are
 * kept. Part of the dataset's private state; objects is freed by its
 * owner. */
typedef struct voc_annotations {
	voc_object *objects;
	size_t num_objects, cap_objects;
	const char *const *classes; /* borrowed from the config */
	size_t num_classes;
	int include_difficult, skip_unknown;
} voc_annotations;

/* Parse `text` (size bytes), the content of the annotation file `file`
 * (named in messages), into img->width, height, first and count, appending
 * its kept objects to a. */
kcv_status voc_xml_parse(voc_annotations *a, const char *file, const char *text, size_t size,
                         voc_image *img, kcv_error *err) KCV_WARN_UNUSED;

/* Trim whitespace at both ends, in place; returns the start. */
char *voc_trim(char *s);

#endif
