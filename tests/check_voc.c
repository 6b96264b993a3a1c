/* The dataset plugin pascal_voc on the voc2007-mini fixture: counts from its
 * README, box scaling, and error messages on broken copies made under the
 * build folder. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define NUM_VOC_CLASSES 20

/* ---- helpers --------------------------------------------------------------- */

/* The VOCdevkit of the fixture, or NULL (test skipped) when it is absent,
 * as in a distcheck tree. */
static const char *voc_root(void)
{
	static char root[1024];
	const char *shared = getenv("KCV_SHARED_DIR");
	snprintf(root, sizeof(root), "%s/data/voc2007-mini/VOCdevkit",
	         shared && shared[0] ? shared : "/work/shared");
	char probe[1200];
	snprintf(probe, sizeof(probe), "%s/VOC2007/ImageSets/Main/train.txt", root);
	if (access(probe, R_OK) != 0) {
		fprintf(stderr, "check_voc: %s not found: VOC test skipped\n", probe);
		return NULL;
	}
	return root;
}

static kcv_instance *voc_new(const kcv_registry *reg, const char *root, const char *extra,
                             const kcv_context *ctx)
{
	char json[2048];
	snprintf(json, sizeof(json), "{\"plugin\": \"pascal_voc\", \"root\": \"%s\"%s%s}", root,
	         extra ? ", " : "", extra ? extra : "");
	return harness_new(reg, KCV_KIND_DATASET, json, ctx);
}

static const char *voc_fails(const kcv_registry *reg, const char *root, const char *extra)
{
	char json[2048];
	snprintf(json, sizeof(json), "{\"plugin\": \"pascal_voc\", \"root\": \"%s\"%s%s}", root,
	         extra ? ", " : "", extra ? extra : "");
	return harness_new_fails(reg, KCV_KIND_DATASET, json, NULL);
}

static size_t find_id(const kcv_instance *ds, const char *id)
{
	kcv_sample s = {0};
	size_t n = kcv_dataset_size(ds);
	for (size_t i = 0; i < n; i++) {
		harness_get(ds, i, KCV_GET_NO_PIXELS, &s);
		if (strcmp(s.id, id) == 0) {
			kcv_sample_release(&s);
			return i;
		}
	}
	kcv_sample_release(&s);
	ck_abort_msg("id %s not found", id);
	return 0;
}

/* A scratch VOCdevkit under the build folder holding copies of `ids` (all in
 * train.txt); returns its root (static buffer). */
static char scratch_root[1024];

static void copy_file(const char *from, const char *to, double fraction)
{
	FILE *in = fopen(from, "rb");
	ck_assert_msg(in != NULL, "cannot open %s", from);
	fseek(in, 0, SEEK_END);
	long size = ftell(in);
	fseek(in, 0, SEEK_SET);
	char *buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)size, in), (size_t)size);
	fclose(in);
	FILE *out = fopen(to, "wb");
	ck_assert_msg(out != NULL, "cannot write %s", to);
	size_t keep = (size_t)((double)size * fraction);
	ck_assert_int_eq(fwrite(buf, 1, keep, out), keep);
	fclose(out);
	free(buf);
}

static const char *make_scratch(const char *const *ids, size_t n)
{
	const char *src = voc_root();
	if (!src)
		return NULL;
	const char *build = getenv("KCV_TOP_BUILDDIR");
	snprintf(scratch_root, sizeof(scratch_root), "%s/tests/voc-scratch-XXXXXX",
	         build && build[0] ? build : ".");
	ck_assert_msg(mkdtemp(scratch_root) != NULL, "mkdtemp %s failed", scratch_root);
	const char *sub[] = {"/VOC2007", "/VOC2007/Annotations", "/VOC2007/JPEGImages",
	                     "/VOC2007/ImageSets", "/VOC2007/ImageSets/Main"};
	char path[1400], from[1400];
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", scratch_root, sub[i]);
		ck_assert_int_eq(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/VOC2007/ImageSets/Main/train.txt", scratch_root);
	FILE *list = fopen(path, "w");
	ck_assert_ptr_nonnull(list);
	for (size_t i = 0; i < n; i++) {
		fprintf(list, "%s\r\n\n", ids[i]); /* CRLF and blank lines are tolerated */
		snprintf(from, sizeof(from), "%s/VOC2007/Annotations/%s.xml", src, ids[i]);
		snprintf(path, sizeof(path), "%s/VOC2007/Annotations/%s.xml", scratch_root, ids[i]);
		copy_file(from, path, 1.0);
		snprintf(from, sizeof(from), "%s/VOC2007/JPEGImages/%s.jpg", src, ids[i]);
		snprintf(path, sizeof(path), "%s/VOC2007/JPEGImages/%s.jpg", scratch_root, ids[i]);
		copy_file(from, path, 1.0);
	}
	fclose(list);
	return scratch_root;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void remove_scratch(void)
{
	if (scratch_root[0])
		nftw(scratch_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	scratch_root[0] = '\0';
}

/* Replace the first occurrence of `from` by `to` in a scratch file. */
static void edit_file(const char *root, const char *rel, const char *from, const char *to)
{
	char path[1400];
	snprintf(path, sizeof(path), "%s/VOC2007/%s", root, rel);
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *at = strstr(buf, from);
	ck_assert_msg(at != NULL, "'%s' not in %s", from, path);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	fwrite(buf, 1, (size_t)(at - buf), f);
	fputs(to, f);
	fputs(at + strlen(from), f);
	fclose(f);
}

typedef struct collected {
	int count;
	char text[4096];
} collected;

static void collect(void *user, const char *file, const char *message)
{
	collected *c = user;
	size_t len = strlen(c->text);
	snprintf(c->text + len, sizeof(c->text) - len, "%s: %s\n", file, message);
	c->count++;
}

/* ---- pascal_voc: the fixture's numbers ------------------------------------------ */

/* README "Per-class counts", train: images / non-difficult objects / difficult */
static const int train_table[NUM_VOC_CLASSES][3] = {
	{4, 8, 1}, {4, 3, 1}, {3, 8, 0}, {3, 5, 3}, {5, 8, 0}, {4, 5, 1}, {7, 6, 5},
	{4, 5, 1}, {7, 12, 12}, {3, 5, 1}, {4, 3, 1}, {4, 6, 1}, {4, 3, 2}, {3, 3, 1},
	{23, 57, 13}, {3, 4, 0}, {3, 7, 1}, {4, 4, 2}, {3, 4, 0}, {5, 5, 1},
};

START_TEST(voc_train_counts)
{
	const char *root = voc_root();
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	kcv_instance *ds = voc_new(reg, root, NULL, NULL);
	ck_assert_int_eq(kcv_dataset_size(ds), 48);
	ck_assert_int_eq(kcv_dataset_num_classes(ds), 20);
	ck_assert_str_eq(kcv_dataset_class_name(ds, 0), "aeroplane");
	ck_assert_str_eq(kcv_dataset_class_name(ds, 14), "person");
	ck_assert_str_eq(kcv_dataset_class_name(ds, 19), "tvmonitor");
	ck_assert_ptr_null(kcv_dataset_class_name(ds, 20));

	int objects = 0, difficult = 0, truncated = 0, with_difficult = 0;
	int per_class[NUM_VOC_CLASSES][3] = {{0}};
	kcv_sample s = {0};
	for (size_t i = 0; i < 48; i++) {
		harness_get(ds, i, KCV_GET_NO_PIXELS, &s);
		ck_assert_int_eq(s.clipped_boxes, 0);
		ck_assert_int_eq(s.boxes.format, KCV_BOX_XYXY);
		int seen[NUM_VOC_CLASSES] = {0}, any_difficult = 0;
		for (size_t b = 0; b < s.boxes.count; b++) {
			int c = s.boxes.classes[b];
			ck_assert(c >= 0 && c < NUM_VOC_CLASSES);
			seen[c] = 1;
			per_class[c][s.boxes.difficult[b] ? 2 : 1]++;
			difficult += s.boxes.difficult[b];
			truncated += s.boxes.truncated[b];
			any_difficult |= s.boxes.difficult[b];
			objects++;
		}
		with_difficult += any_difficult;
		for (int c = 0; c < NUM_VOC_CLASSES; c++)
			per_class[c][0] += seen[c];
	}
	ck_assert_int_eq(objects, 208);
	ck_assert_int_eq(difficult, 47);
	ck_assert_int_eq(truncated, 109);
	ck_assert_int_eq(with_difficult, 19);
	for (int c = 0; c < NUM_VOC_CLASSES; c++)
		for (int k = 0; k < 3; k++)
			ck_assert_msg(per_class[c][k] == train_table[c][k],
			              "class %s column %d: %d != %d",
			              kcv_dataset_class_name(ds, (size_t)c), k, per_class[c][k],
			              train_table[c][k]);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_other_splits)
{
	const char *root = voc_root();
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	kcv_context ctx = harness_context(reg, 64, 48);
	static const struct {
		const char *ctx_split, *option;
		size_t images, objects;
	} cases[] = {
		{"validation", NULL, 24, 82},
		{"test", NULL, 24, 89},
		{"train", "\"split\": \"trainval\"", 72, 290},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		ctx.split = cases[k].ctx_split;
		kcv_instance *ds = voc_new(reg, root, cases[k].option, &ctx);
		ck_assert_int_eq(kcv_dataset_size(ds), cases[k].images);
		size_t objects = 0;
		kcv_sample s = {0};
		for (size_t i = 0; i < cases[k].images; i++) {
			harness_get(ds, i, KCV_GET_NO_PIXELS, &s);
			objects += s.boxes.count;
		}
		ck_assert_int_eq(objects, cases[k].objects);
		kcv_sample_release(&s);
		kcv_instance_free(ds);
	}
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_include_difficult_false)
{
	const char *root = voc_root();
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	kcv_instance *ds = voc_new(reg, root, "\"include_difficult\": false", NULL);
	ck_assert_int_eq(kcv_dataset_size(ds), 48);
	int objects = 0;
	kcv_sample s = {0};
	for (size_t i = 0; i < 48; i++) {
		harness_get(ds, i, KCV_GET_NO_PIXELS, &s);
		for (size_t b = 0; b < s.boxes.count; b++)
			ck_assert_int_eq(s.boxes.difficult[b], 0);
		objects += (int)s.boxes.count;
	}
	ck_assert_int_eq(objects, 161);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_person_parts_ignored)
{
	const char *root = voc_root();
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	kcv_context ctx = harness_context(reg, 64, 48);
	ctx.split = "validation";
	kcv_instance *ds = voc_new(reg, root, "\"resize\": \"none\"", &ctx);
	size_t i = find_id(ds, "000483");
	kcv_sample s = {0};
	harness_get(ds, i, KCV_GET_NO_PIXELS, &s);
	ck_assert_int_eq(s.boxes.count, 2); /* horse and person; not head/hand/foot */
	ck_assert_int_eq(s.width, 383);
	ck_assert_int_eq(s.height, 480);
	const float horse[4] = {122, 94, 284, 437}, person[4] = {167, 44, 255, 289};
	ck_assert_int_eq(s.boxes.classes[0], 12);
	ck_assert_int_eq(s.boxes.classes[1], 14);
	for (int k = 0; k < 4; k++) {
		ck_assert_float_eq(s.boxes.coords[k], horse[k]);
		ck_assert_float_eq(s.boxes.coords[4 + k], person[k]);
	}
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_stretch_scales_boxes)
{
	const char *root = voc_root();
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	kcv_context ctx = harness_context(reg, 512, 512);
	kcv_instance *ds = voc_new(reg, root, NULL, &ctx);
	kcv_sample s = {0};
	harness_get(ds, 0, 0, &s);
	ck_assert_str_eq(s.id, "000034");
	ck_assert_int_eq(s.index, 0);
	ck_assert_int_eq(s.width, 512);
	ck_assert_int_eq(s.height, 512);
	ck_assert_int_eq(s.source_width, 360);
	ck_assert_int_eq(s.source_height, 500);
	ck_assert_int_eq(s.boxes.count, 2);
	/* second train: xmin 141, ymin 153, xmax 333, ymax 229 in a 360x500 image */
	const float *b = s.boxes.coords + 4;
	ck_assert_float_eq_tol(b[0], 141.0 * 512 / 360, 1e-3);
	ck_assert_float_eq_tol(b[1], 153.0 * 512 / 500, 1e-3);
	ck_assert_float_eq_tol(b[2], 333.0 * 512 / 360, 1e-3);
	ck_assert_float_eq_tol(b[3], 229.0 * 512 / 500, 1e-3);
	ck_assert_int_eq(s.boxes.truncated[1], 1);
	/* first box touches the right edge (xmax 360 = W): not clipped */
	ck_assert_float_eq_tol(s.boxes.coords[2], 512.0, 1e-3);
	ck_assert_int_eq(s.clipped_boxes, 0);
	double sum = 0, lo = 1e9, hi = -1e9;
	for (size_t k = 0; k < (size_t)512 * 512 * 3; k++) {
		sum += s.pixels[k];
		lo = fmin(lo, s.pixels[k]);
		hi = fmax(hi, s.pixels[k]);
	}
	ck_assert(lo >= 0 && hi <= 255 && hi - lo > 100);
	ck_assert(sum / (512.0 * 512 * 3) > 20);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_pad_and_none)
{
	const char *root = voc_root();
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	kcv_context ctx = harness_context(reg, 256, 256);
	kcv_instance *pad = voc_new(reg, root, "\"resize\": \"pad\"", &ctx);
	kcv_instance *none = voc_new(reg, root, "\"resize\": \"none\"", &ctx);
	kcv_sample s = {0}, t = {0};
	harness_get(pad, 0, 0, &s); /* 360x500 -> 184x256 at the left, zeros right */
	ck_assert_int_eq(s.width, 256);
	ck_assert_int_eq(s.height, 256);
	const float *b = s.boxes.coords + 4;
	ck_assert_float_eq_tol(b[0], 141.0 * 184 / 360, 1e-3);
	ck_assert_float_eq_tol(b[3], 229.0 * 256 / 500, 1e-3);
	for (int y = 0; y < 256; y += 17)
		for (int x = 184; x < 256; x++)
			ck_assert_float_eq(s.pixels[((size_t)y * 256 + x) * 3 + 1], 0.0f);
	harness_get(none, 0, 0, &t);
	ck_assert_int_eq(t.width, 360);
	ck_assert_int_eq(t.height, 500);
	ck_assert_float_eq(t.boxes.coords[4], 141.0f);
	for (size_t k = 0; k < (size_t)360 * 500 * 3; k += 97)
		ck_assert(t.pixels[k] == floorf(t.pixels[k]));
	kcv_sample_release(&s);
	kcv_sample_release(&t);
	kcv_instance_free(pad);
	kcv_instance_free(none);
	kcv_registry_free(reg);
}
END_TEST

/* ---- pascal_voc: errors ------------------------------------------------------------ */

START_TEST(voc_missing_root_and_split)
{
	kcv_registry *reg = harness_registry();
	const char *msg = voc_fails(reg, "/nonexistent/VOCdevkit", NULL);
	ck_assert_msg(strstr(msg, "'/nonexistent/VOCdevkit' does not exist") != NULL, "%s", msg);
	ck_assert_msg(strstr(msg, "VOC_ROOT") != NULL, "%s", msg);
	const char *root = voc_root();
	if (root) {
		msg = voc_fails(reg, root, "\"split\": \"nosuch\"");
		ck_assert_msg(strstr(msg, "VOC2007/ImageSets/Main/nosuch.txt") != NULL, "%s", msg);
		msg = voc_fails(reg, root, "\"year\": 2012");
		ck_assert_msg(strstr(msg, "VOC2012") != NULL, "%s", msg);
		msg = voc_fails(reg, root, "\"classes\": [\"person\", \"horse\"]");
		ck_assert_msg(strstr(msg, "Annotations/000034.xml") != NULL, "%s", msg);
		ck_assert_msg(strstr(msg, "'train'") != NULL, "%s", msg);
	}
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_unknown_classes_skip)
{
	const char *root = voc_root();
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	const char *opts = "\"classes\": [\"dog\", \"person\"], \"unknown_classes\": \"skip\"";
	kcv_instance *ds = voc_new(reg, root, opts, NULL);
	ck_assert_int_eq(kcv_dataset_num_classes(ds), 2);
	int count[2] = {0, 0};
	kcv_sample s = {0};
	for (size_t i = 0; i < 48; i++) {
		harness_get(ds, i, KCV_GET_NO_PIXELS, &s);
		for (size_t b = 0; b < s.boxes.count; b++)
			count[s.boxes.classes[b]]++;
	}
	ck_assert_int_eq(count[0], 7);
	ck_assert_int_eq(count[1], 70);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	kcv_registry_free(reg);
}
END_TEST

static const char *const scratch_ids[] = {"000034", "000048"};

START_TEST(voc_malformed_xml)
{
	const char *root = make_scratch(scratch_ids, 2);
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	edit_file(root, "Annotations/000048.xml", "</size>", "</sise>");
	const char *msg = voc_fails(reg, root, NULL);
	ck_assert_msg(strstr(msg, "Annotations/000048.xml:") != NULL, "%s", msg);
	ck_assert_msg(strstr(msg, "mismatched tag") != NULL, "%s", msg);
	char where[64];
	ck_assert_msg(sscanf(strstr(msg, ".xml:"), ".xml:%63[0-9:]", where) == 1, "%s", msg);
	remove_scratch();
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_missing_field)
{
	const char *root = make_scratch(scratch_ids, 2);
	if (!root)
		return;
	kcv_registry *reg = harness_registry();
	edit_file(root, "Annotations/000034.xml", "<xmin>141</xmin>", "");
	const char *msg = voc_fails(reg, root, NULL);
	ck_assert_msg(strstr(msg, "Annotations/000034.xml: object 2: <bndbox><xmin> missing"), "%s",
	              msg);
	edit_file(root, "Annotations/000034.xml", "<ymin>153</ymin>",
	          "<xmin>1x1</xmin><ymin>1</ymin>");
	msg = voc_fails(reg, root, NULL);
	ck_assert_msg(strstr(msg, "object 2: <bndbox><xmin> is not a number: '1x1'"), "%s", msg);
	edit_file(root, "Annotations/000034.xml", "<xmin>1x1</xmin>", "<xmin>141</xmin>");
	edit_file(root, "Annotations/000034.xml", "<width>360</width>", "");
	msg = voc_fails(reg, root, NULL);
	ck_assert_msg(strstr(msg, "000034.xml: <size><width> missing"), "%s", msg);
	remove_scratch();
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_truncated_jpeg)
{
	const char *root = make_scratch(scratch_ids, 2);
	if (!root)
		return;
	char from[1400], to[1400];
	snprintf(from, sizeof(from), "%s/VOC2007/JPEGImages/000048.jpg", voc_root());
	snprintf(to, sizeof(to), "%s/VOC2007/JPEGImages/000048.jpg", root);
	copy_file(from, to, 0.5);
	kcv_registry *reg = harness_registry();
	kcv_instance *ds = voc_new(reg, root, NULL, NULL);
	kcv_sample s = {0};
	kcv_error err = {0};
	char msg[1400];
	harness_get(ds, 0, 0, &s);
	ck_assert_int_eq(kcv_dataset_get(ds, 1, 0, &s, NULL, &err), KCV_ERR_INVALID);
	kcv_error_format(&err, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "JPEGImages/000048.jpg") && strstr(msg, "Premature end"), "%s",
	              msg);
	collected c = {0};
	kcv_report rep = {collect, &c};
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_dataset_get(ds, 1, KCV_GET_CHECK, &s, &rep, &err), KCV_ERR_INVALID);
	ck_assert_int_eq(c.count, 1);
	ck_assert_msg(strstr(c.text, "JPEGImages/000048.jpg: corrupt JPEG: Premature end"), "%s",
	              c.text);
	/* a clean image reports nothing */
	c.count = 0;
	c.text[0] = '\0';
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_dataset_get(ds, 0, KCV_GET_CHECK, &s, &rep, &err), KCV_OK);
	ck_assert_int_eq(c.count, 0);
	/* a missing file: an I/O error naming it, and a report under CHECK */
	ck_assert_int_eq(unlink(to), 0);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_dataset_get(ds, 1, 0, &s, NULL, &err), KCV_ERR_IO);
	ck_assert_msg(strstr(kcv_error_format(&err, msg, sizeof(msg)), "000048.jpg"), "%s", msg);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_dataset_get(ds, 1, KCV_GET_CHECK | KCV_GET_NO_PIXELS, &s, &rep, &err),
	                 KCV_ERR_INVALID);
	ck_assert_int_eq(c.count, 1);
	ck_assert_msg(strstr(c.text, "JPEGImages/000048.jpg: "), "%s", c.text);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	remove_scratch();
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_clip_and_empty)
{
	const char *root = make_scratch(scratch_ids, 2);
	if (!root)
		return;
	/* 000034: push the second box past the right edge; 000048: no objects */
	edit_file(root, "Annotations/000034.xml", "<xmax>333</xmax>", "<xmax>400</xmax>");
	char path[1400];
	snprintf(path, sizeof(path), "%s/VOC2007/Annotations/000048.xml", root);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("<annotation><size><width>375</width><height>500</height><depth>3</depth>"
	      "</size></annotation>\n", f);
	fclose(f);
	kcv_registry *reg = harness_registry();
	kcv_context ctx = harness_context(reg, 64, 48);
	kcv_instance *ds = voc_new(reg, root, "\"resize\": \"none\"", &ctx);
	ck_assert_int_eq(kcv_dataset_size(ds), 2);
	kcv_sample s = {0};
	harness_get(ds, 0, 0, &s);
	ck_assert_int_eq(s.boxes.count, 2);
	ck_assert_int_eq(s.clipped_boxes, 1);
	ck_assert_float_eq(s.boxes.coords[4 + 2], 360.0f);
	collected c = {0};
	kcv_report rep = {collect, &c};
	kcv_error err = {0};
	ck_assert_int_eq(kcv_dataset_get(ds, 0, KCV_GET_CHECK, &s, &rep, &err), KCV_ERR_INVALID);
	ck_assert_int_eq(c.count, 1);
	ck_assert_msg(strstr(c.text, "000034.xml: object 2 (train)"), "%s", c.text);
	harness_get(ds, 1, 0, &s);
	ck_assert_str_eq(s.id, "000048");
	ck_assert_int_eq(s.boxes.count, 0);
	ck_assert_int_eq(s.width, 375);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	remove_scratch();
	kcv_registry_free(reg);
}
END_TEST

START_TEST(voc_size_mismatch_checked)
{
	const char *root = make_scratch(scratch_ids, 2);
	if (!root)
		return;
	edit_file(root, "Annotations/000034.xml", "<width>360</width>", "<width>380</width>");
	kcv_registry *reg = harness_registry();
	kcv_context ctx = harness_context(reg, 100, 100);
	kcv_instance *ds = voc_new(reg, root, NULL, &ctx);
	kcv_sample s = {0};
	harness_get(ds, 0, 0, &s); /* the JPEG's size wins */
	ck_assert_int_eq(s.source_width, 360);
	ck_assert_float_eq_tol(s.boxes.coords[4], 141.0 * 100 / 360, 1e-3);
	collected c = {0};
	kcv_report rep = {collect, &c};
	kcv_error err = {0};
	ck_assert_int_eq(kcv_dataset_get(ds, 0, KCV_GET_CHECK, &s, &rep, &err), KCV_ERR_INVALID);
	ck_assert_int_eq(c.count, 1);
	ck_assert_msg(strstr(c.text, "360x500") && strstr(c.text, "380x500"), "%s", c.text);
	kcv_sample_release(&s);
	kcv_instance_free(ds);
	remove_scratch();
	kcv_registry_free(reg);
}
END_TEST

static Suite *voc_suite(void)
{
	Suite *s = suite_create("voc");
	TCase *voc = tcase_create("pascal_voc");
	tcase_set_timeout(voc, 60);
	tcase_add_test(voc, voc_train_counts);
	tcase_add_test(voc, voc_other_splits);
	tcase_add_test(voc, voc_include_difficult_false);
	tcase_add_test(voc, voc_person_parts_ignored);
	tcase_add_test(voc, voc_stretch_scales_boxes);
	tcase_add_test(voc, voc_pad_and_none);
	tcase_add_test(voc, voc_unknown_classes_skip);
	suite_add_tcase(s, voc);
	TCase *errors = tcase_create("pascal_voc_errors");
	tcase_set_timeout(errors, 60);
	tcase_add_test(errors, voc_missing_root_and_split);
	tcase_add_test(errors, voc_malformed_xml);
	tcase_add_test(errors, voc_missing_field);
	tcase_add_test(errors, voc_truncated_jpeg);
	tcase_add_test(errors, voc_clip_and_empty);
	tcase_add_test(errors, voc_size_mismatch_checked);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(voc_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
