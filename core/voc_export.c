/* Export a dataset as a VOCdevkit folder (kcv data --export-voc). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/log.h>
#include <kcv/registry.h>

#include "util-impl.h"

static void put_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void put_coord(FILE *f, const char *tag, float v)
{
	if (v == floorf(v) && fabsf(v) < 1e7f)
		fprintf(f, "\t\t\t<%s>%d</%s>\n", tag, (int)v, tag);
	else
		fprintf(f, "\t\t\t<%s>%.3f</%s>\n", tag, (double)v, tag);
}

static kcv_status write_xml(const char *path, const char *folder, const char *id,
                            const kcv_sample *s, const kcv_instance *ds, kcv_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory");
	fprintf(f, "<annotation>\n\t<folder>%s</folder>\n\t<filename>%s.jpg</filename>\n", folder, id);
	fprintf(f, "\t<source>\n\t\t<database>kcv export</database>\n\t</source>\n");
	fprintf(f, "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n\t\t<depth>3</depth>\n\t</size>\n",
	        s->width, s->height);
	fprintf(f, "\t<segmented>0</segmented>\n");
	for (size_t i = 0; i < s->boxes.count; i++) {
		const float *c = s->boxes.coords + 4 * i;
		const char *name = kcv_dataset_class_name(ds, (size_t)s->boxes.classes[i]);
		fprintf(f, "\t<object>\n\t\t<name>");
		put_escaped(f, name ? name : "unknown");
		fprintf(f, "</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>%d</truncated>\n"
		           "\t\t<difficult>%d</difficult>\n\t\t<bndbox>\n",
		        s->boxes.truncated[i], s->boxes.difficult[i]);
		put_coord(f, "xmin", c[0]);
		put_coord(f, "ymin", c[1]);
		put_coord(f, "xmax", c[2]);
		put_coord(f, "ymax", c[3]);
		fprintf(f, "\t\t</bndbox>\n\t</object>\n");
	}
	fprintf(f, "</annotation>\n");
	fclose(f);
	kcv_status st = kcv_write_file_atomic(path, buf, len, err);
	free(buf);
	return st;
}

kcv_status kcv_dataset_export_voc(const kcv_instance *ds, const char *dir, int year,
                                  const char *split_file, size_t limit, kcv_error *err)
{
	char *base = kcv_strdup_printf("%s/VOC%d", dir, year);
	char *jpg_dir = kcv_strdup_printf("%s/JPEGImages", base ? base : "");
	char *ann_dir = kcv_strdup_printf("%s/Annotations", base ? base : "");
	char *set_dir = kcv_strdup_printf("%s/ImageSets/Main", base ? base : "");
	char *folder = kcv_strdup_printf("VOC%d", year);
	char *list = NULL;
	size_t list_len = 0;
	FILE *lf = NULL;
	uint8_t *rgb = NULL;
	kcv_sample s = {0};
	kcv_status st = KCV_OK;
	if (!base || !jpg_dir || !ann_dir || !set_dir || !folder) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
		goto out;
	}
	if ((st = kcv_mkdir_p(jpg_dir, err)) || (st = kcv_mkdir_p(ann_dir, err)) ||
	    (st = kcv_mkdir_p(set_dir, err)))
		goto out;
	lf = open_memstream(&list, &list_len);
	if (!lf) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
		goto out;
	}
	size_t n = kcv_dataset_size(ds);
	if (limit && limit < n)
		n = limit;
	kcv_progress *bar = kcv_progress_new("export", n, NULL);
	for (size_t i = 0; i < n; i++) {
		kcv_boxes_clear(&s.boxes);
		s.id[0] = '\0';
		if ((st = kcv_dataset_get(ds, i, 0, &s, NULL, err)) ||
		    (st = kcv_boxes_set_format(&s.boxes, KCV_BOX_XYXY, (float)s.width,
		                               (float)s.height, err)))
			break;
		char id[160];
		if (s.id[0])
			snprintf(id, sizeof(id), "%s", s.id);
		else
			snprintf(id, sizeof(id), "%06zu", i);
		size_t npx = (size_t)s.width * s.height * 3;
		uint8_t *nr = realloc(rgb, npx);
		if (!nr) {
			st = KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
			break;
		}
		rgb = nr;
		for (size_t k = 0; k < npx; k++) {
			float v = s.pixels[k];
			rgb[k] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)(v + 0.5f));
		}
		char *jp = kcv_strdup_printf("%s/%s.jpg", jpg_dir, id);
		char *xp = kcv_strdup_printf("%s/%s.xml", ann_dir, id);
		if (!jp || !xp)
			st = KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
		if (!st)
			st = kcv_jpeg_write_file(jp, rgb, s.width, s.height, 100, err);
		if (!st)
			st = write_xml(xp, folder, id, &s, ds, err);
		free(jp);
		free(xp);
		if (st)
			break;
		fprintf(lf, "%s\n", id);
		if (bar)
			kcv_progress_update(bar, i + 1, NULL);
	}
	if (bar) {
		if (!st)
			kcv_progress_finish(bar, NULL);
		kcv_progress_free(bar);
	}
	fclose(lf);
	lf = NULL;
	if (!st) {
		char *lp = kcv_strdup_printf("%s/%s.txt", set_dir, split_file);
		st = lp ? kcv_write_file_atomic(lp, list, list_len, err)
		        : KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
		free(lp);
	}
out:
	if (lf)
		fclose(lf);
	free(list);
	free(rgb);
	kcv_sample_release(&s);
	free(base);
	free(jpg_dir);
	free(ann_dir);
	free(set_dir);
	free(folder);
	return st;
}
