/* Reading COCO files for kcv cocoeval: an annotation file (images,
 * categories, annotations) and a results file (a list of detections), into a
 * kcv_cocoeval. Errors name the file and the JSON path of the bad value. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

void cli_coco_info_release(cli_coco_info *info)
{
	for (size_t i = 0; i < info->num_categories; i++)
		free(info->category_names[i]);
	free(info->category_names);
	free(info->category_ids);
	free(info->image_ids);
	memset(info, 0, sizeof(*info));
}

/* The whole file in memory (caller frees); NULL with err set. */
static char *read_file(const char *file, size_t *len, kcv_error *err)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		KCV_ERROR(err, KCV_ERR_IO, file, NULL, "cannot open: %s", strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t n = 0, cap = 0;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < SIZE_MAX - 65536)
		cap = (size_t)st.st_size + 65536; /* one read when the size is known */
	if (cap && !(buf = malloc(cap))) {
		fclose(f);
		KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
		return NULL;
	}
	for (;;) {
		if (n + 65536 > cap) {
			size_t ncap = cap ? 2 * cap : 1u << 20;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				fclose(f);
				KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
				return NULL;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		KCV_ERROR(err, KCV_ERR_IO, file, NULL, "read error");
		return NULL;
	}
	*len = n;
	return buf;
}

/* A syntax error found after reading buf[0 .. end): file:line:col, counted
 * as Jansson counts (the column of the last byte read). */
static int syntax_error(kcv_error *err, const char *file, const char *buf, size_t end,
                        const char *text)
{
	int line = 1, col = 0;
	for (size_t i = 0; i < end; i++) {
		if (buf[i] == '\n') {
			line++;
			col = 0;
		} else {
			col++;
		}
	}
	/* JSON has no NaN or Infinity; Python writes them for non-finite floats */
	const char *hint = strstr(text, "near 'NaN") || strstr(text, "near 'Infinity") ||
	                           strstr(text, "near '-Infinity") || strstr(text, "overflow")
	                       ? " (non-finite numbers are not allowed)"
	                       : "";
	KCV_ERROR(err, KCV_ERR_INVALID, file, NULL, "%s%s", text, hint);
	kcv_error_set_position(err, line, col);
	return -1;
}

/* Parse a whole buffer; NULL with err set (file:line:col for syntax). */
static json_t *parse_whole(const char *file, const char *buf, size_t len, kcv_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, 0, &je);
	if (!root)
		syntax_error(err, file, buf, je.position > 0 ? (size_t)je.position : 0, je.text);
	return root;
}

static size_t skip_space(const char *buf, size_t len, size_t pos)
{
	while (pos < len && (buf[pos] == ' ' || buf[pos] == '\t' || buf[pos] == '\n' ||
	                     buf[pos] == '\r'))
		pos++;
	return pos;
}

static json_t *load_file(const char *file, kcv_error *err)
{
	size_t len;
	char *buf = read_file(file, &len, err);
	if (!buf)
		return NULL;
	json_t *root = NULL;
	if (skip_space(buf, len, 0) >= len)
		KCV_ERROR(err, KCV_ERR_INVALID, file, NULL,
		          "empty file (expected a COCO annotation object)");
	else
		root = parse_whole(file, buf, len, err);
	free(buf);
	return root;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	default: return "null";
	}
}

/* Where a value sits: "annotations[12].bbox" / "[7].score". */
typedef struct where {
	const char *file;
	const char *list; /* "annotations", or "" for the top-level list */
	size_t index;
} where;

static int bad(kcv_error *err, const where *w, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int bad(kcv_error *err, const where *w, const char *key, const char *fmt, ...)
{
	char path[256], text[512];
	snprintf(path, sizeof(path), "%s[%zu]%s%s", w->list, w->index, key ? "." : "",
	         key ? key : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	KCV_ERROR(err, KCV_ERR_INVALID, w->file, path, "%s", text);
	return -1;
}

/* obj[key], which must be present. */
static json_t *need(json_t *obj, const char *key, const where *w, kcv_error *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		bad(err, w, NULL, "missing \"%s\"", key);
	return v;
}

/* An id: an integer (a real with an integral value is accepted too). */
static int get_id(json_t *obj, const char *key, const where *w, int64_t *out, kcv_error *err)
{
	json_t *v = need(obj, key, w, err);
	if (!v)
		return -1;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	double d = json_is_real(v) ? json_real_value(v) : NAN;
	if (isfinite(d) && d == floor(d) && fabs(d) < 9e15) {
		*out = (int64_t)d;
		return 0;
	}
	return bad(err, w, key, "expected an integer id, got %s", type_name(v));
}

static int get_number(json_t *obj, const char *key, const where *w, double *out, kcv_error *err)
{
	json_t *v = need(obj, key, w, err);
	if (!v)
		return -1;
	if (!json_is_number(v))
		return bad(err, w, key, "expected a number, got %s", type_name(v));
	*out = json_number_value(v);
	if (!isfinite(*out))
		return bad(err, w, key, "not a finite number");
	return 0;
}

static int get_bbox(json_t *obj, const where *w, double out[4], kcv_error *err)
{
	json_t *v = need(obj, "bbox", w, err);
	if (!v)
		return -1;
	if (!json_is_array(v) || json_array_size(v) != 4)
		return bad(err, w, "bbox", "expected [x, y, width, height], got %s%s", type_name(v),
		           json_is_array(v) ? " of another length" : "");
	for (size_t i = 0; i < 4; i++) {
		json_t *x = json_array_get(v, i);
		if (!json_is_number(x))
			return bad(err, w, "bbox", "item %zu: expected a number, got %s", i, type_name(x));
		out[i] = json_number_value(x);
		if (!isfinite(out[i]))
			return bad(err, w, "bbox", "item %zu: not a finite number", i);
	}
	return 0;
}

static int id_cmp(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return (a > b) - (a < b);
}

/* The top-level array `key` of the annotation file. */
static json_t *gt_list(json_t *root, const char *file, const char *key, kcv_error *err)
{
	json_t *v = json_object_get(root, key);
	if (!v || !json_is_array(v)) {
		KCV_ERROR(err, KCV_ERR_INVALID, file, key, "%s (expected an array)",
		          v ? type_name(v) : "missing");
		return NULL;
	}
	return v;
}

static int read_categories(json_t *cats, const char *file, kcv_cocoeval *ev, cli_coco_info *info,
                           kcv_error *err)
{
	size_t n = json_array_size(cats);
	info->category_ids = malloc((n ? n : 1) * sizeof(int64_t));
	info->category_names = calloc(n ? n : 1, sizeof(char *));
	if (!info->category_ids || !info->category_names)
		return KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
	/* sort (id, position) so that names follow their ids */
	for (size_t i = 0; i < n; i++) {
		where w = {file, "categories", i};
		json_t *c = json_array_get(cats, i);
		if (!json_is_object(c))
			return bad(err, &w, NULL, "expected an object, got %s", type_name(c));
		if (get_id(c, "id", &w, &info->category_ids[i], err))
			return -1;
		if (kcv_cocoeval_add_category(ev, info->category_ids[i], err) != KCV_OK)
			return -1;
	}
	qsort(info->category_ids, n, sizeof(int64_t), id_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || info->category_ids[u - 1] != info->category_ids[i])
			info->category_ids[u++] = info->category_ids[i];
	info->num_categories = u;
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(cats, i);
		const char *name = json_string_value(json_object_get(c, "name"));
		where w = {file, "categories", i};
		int64_t id;
		if (get_id(c, "id", &w, &id, err))
			return -1;
		int64_t *at = bsearch(&id, info->category_ids, u, sizeof(int64_t), id_cmp);
		if (name && at && !info->category_names[at - info->category_ids] &&
		    !(info->category_names[at - info->category_ids] = strdup(name)))
			return KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
	}
	return 0;
}

int cli_coco_load_gt(kcv_cocoeval *ev, const char *file, cli_coco_info *info, kcv_error *err)
{
	int rc = -1;
	json_t *root = load_file(file, err), *images, *cats, *anns;
	if (!root)
		return -1;
	if (!json_is_object(root)) {
		KCV_ERROR(err, KCV_ERR_INVALID, file, NULL,
		          "expected a COCO annotation object with images, annotations and categories, "
		          "got %s", type_name(root));
		goto out;
	}
	if (!(images = gt_list(root, file, "images", err)) ||
	    !(cats = gt_list(root, file, "categories", err)) ||
	    !(anns = gt_list(root, file, "annotations", err)))
		goto out;
	size_t ni = json_array_size(images);
	if (!(info->image_ids = malloc((ni ? ni : 1) * sizeof(int64_t)))) {
		KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ni; i++) {
		where w = {file, "images", i};
		json_t *im = json_array_get(images, i);
		if (!json_is_object(im)) {
			bad(err, &w, NULL, "expected an object, got %s", type_name(im));
			goto out;
		}
		if (get_id(im, "id", &w, &info->image_ids[i], err) ||
		    kcv_cocoeval_add_image(ev, info->image_ids[i], err) != KCV_OK)
			goto out;
	}
	qsort(info->image_ids, ni, sizeof(int64_t), id_cmp);
	info->num_images = ni;
	if (read_categories(cats, file, ev, info, err))
		goto out;
	size_t na = json_array_size(anns);
	for (size_t i = 0; i < na; i++) {
		where w = {file, "annotations", i};
		json_t *a = json_array_get(anns, i), *crowd;
		kcv_coco_gt g = {0};
		if (!json_is_object(a)) {
			bad(err, &w, NULL, "expected an object, got %s", type_name(a));
			goto out;
		}
		if (get_id(a, "id", &w, &g.id, err) || get_id(a, "image_id", &w, &g.image_id, err) ||
		    get_id(a, "category_id", &w, &g.category_id, err) || get_bbox(a, &w, g.bbox, err) ||
		    get_number(a, "area", &w, &g.area, err))
			goto out;
		/* iscrowd: 0/1 or a boolean; absent means 0 */
		if ((crowd = json_object_get(a, "iscrowd"))) {
			if (json_is_integer(crowd)) {
				g.iscrowd = json_integer_value(crowd) != 0;
			} else if (json_is_boolean(crowd)) {
				g.iscrowd = json_is_true(crowd);
			} else {
				bad(err, &w, "iscrowd", "expected 0 or 1, got %s", type_name(crowd));
				goto out;
			}
		}
		if (kcv_cocoeval_add_gt(ev, &g, err) != KCV_OK) {
			bad(err, &w, NULL, "bbox or area is not a finite number");
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* One results entry, detection i of the file. */
static int add_detection(kcv_cocoeval *ev, json_t *d, const where *w, const cli_coco_info *info,
                         size_t *skipped, kcv_error *err)
{
	kcv_coco_dt dt;
	if (!json_is_object(d))
		return bad(err, w, NULL, "expected an object, got %s", type_name(d));
	if (get_id(d, "image_id", w, &dt.image_id, err) ||
	    get_id(d, "category_id", w, &dt.category_id, err) || get_bbox(d, w, dt.bbox, err) ||
	    get_number(d, "score", w, &dt.score, err))
		return -1;
	if (!bsearch(&dt.image_id, info->image_ids, info->num_images, sizeof(int64_t), id_cmp))
		return bad(err, w, "image_id", "%lld is not an image of the ground truth",
		           (long long)dt.image_id);
	if (!bsearch(&dt.category_id, info->category_ids, info->num_categories, sizeof(int64_t),
	             id_cmp)) {
		(*skipped)++;
		return 0; /* pycocotools evaluates the ground truth's categories only */
	}
	return kcv_cocoeval_add_dt(ev, &dt, err) == KCV_OK ? 0 : -1;
}

/* The results list is read one entry at a time (each parsed by Jansson and
 * freed at once), which keeps memory and time low on large files. */
int cli_coco_load_dt(kcv_cocoeval *ev, const char *file, const cli_coco_info *info,
                     size_t *skipped, kcv_error *err)
{
	int rc = -1;
	size_t len;
	*skipped = 0;
	char *buf = read_file(file, &len, err);
	if (!buf)
		return -1;
	size_t pos = skip_space(buf, len, 0);
	if (pos >= len) {
		KCV_ERROR(err, KCV_ERR_INVALID, file, NULL,
		          "empty file (expected a list of detections, [] if there are none)");
		goto out;
	}
	if (buf[pos] != '[') {
		json_t *root = parse_whole(file, buf, len, err);
		if (root)
			KCV_ERROR(err, KCV_ERR_INVALID, file, NULL,
			          "expected a list of detections [{image_id, category_id, bbox, score}, "
			          "...], got %s",
			          type_name(root));
		json_decref(root);
		goto out;
	}
	pos = skip_space(buf, len, pos + 1);
	if (pos < len && buf[pos] == ']') {
		pos++;
	} else {
		for (size_t i = 0;; i++) {
			json_error_t je;
			if (pos >= len) {
				syntax_error(err, file, buf, len, "unexpected end of file (']' expected)");
				goto out;
			}
			json_t *d = json_loadb(buf + pos, len - pos, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY,
			                       &je);
			if (!d) {
				syntax_error(err, file, buf, pos + (size_t)(je.position > 0 ? je.position : 0),
				             je.text);
				goto out;
			}
			where w = {file, "", i};
			int bad_entry = add_detection(ev, d, &w, info, skipped, err);
			json_decref(d);
			if (bad_entry)
				goto out;
			pos = skip_space(buf, len, pos + (size_t)je.position);
			if (pos < len && buf[pos] == ',') {
				pos = skip_space(buf, len, pos + 1);
				continue;
			}
			if (pos < len && buf[pos] == ']') {
				pos++;
				break;
			}
			syntax_error(err, file, buf, pos < len ? pos + 1 : len,
			             pos < len ? "',' or ']' expected"
			                       : "unexpected end of file (']' expected)");
			goto out;
		}
	}
	pos = skip_space(buf, len, pos);
	if (pos < len) {
		syntax_error(err, file, buf, pos + 1, "end of file expected");
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}
