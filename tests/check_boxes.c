/* Check suite for core/boxes.c: formats, conversion, box lists, clipping,
 * IoU. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/boxes.h>
#include <kcv/rng.h>

#define NFMT KCV_BOX_FORMAT_COUNT
#define NRANDOM 10000
/* Round trips must give back every coordinate within this, in pixels. */
#define ROUND_TRIP_TOL_PX 1e-4

/* The pixel size of one unit of column j of format f in a W x H image. */
static float column_scale(kcv_box_format f, int j, float w, float h)
{
	if (!kcv_box_format_is_relative(f))
		return 1.0f;
	int is_x = (f == KCV_BOX_REL_YXYX) ? (j % 2 == 1) : (j % 2 == 0);
	return is_x ? w : h;
}

/* ---- names ---------------------------------------------------------------- */

START_TEST(test_format_names)
{
	static const char *const expected[NFMT] = {
		"xyxy", "rel_xyxy", "xywh", "rel_xywh", "center_xywh", "yxyx", "rel_yxyx",
	};
	const char *const *names = kcv_box_format_names();
	for (int i = 0; i < NFMT; i++) {
		ck_assert_str_eq(kcv_box_format_name((kcv_box_format)i), expected[i]);
		ck_assert_str_eq(names[i], expected[i]);
		kcv_box_format f = KCV_BOX_FORMAT_COUNT;
		ck_assert_int_eq(kcv_box_format_parse(expected[i], &f), 0);
		ck_assert_int_eq(f, i);
	}
	ck_assert_ptr_null(names[NFMT]);
	ck_assert_ptr_null(kcv_box_format_name(KCV_BOX_FORMAT_COUNT));
	ck_assert_ptr_null(kcv_box_format_name((kcv_box_format)-1));
}
END_TEST

START_TEST(test_format_parse_case)
{
	kcv_box_format f = KCV_BOX_XYXY;
	ck_assert_int_eq(kcv_box_format_parse("XYXY", &f), 0);
	ck_assert_int_eq(f, KCV_BOX_XYXY);
	ck_assert_int_eq(kcv_box_format_parse("Rel_YxYx", &f), 0);
	ck_assert_int_eq(f, KCV_BOX_REL_YXYX);
	ck_assert_int_eq(kcv_box_format_parse("CENTER_xywh", &f), 0);
	ck_assert_int_eq(f, KCV_BOX_CENTER_XYWH);
	ck_assert_int_eq(kcv_box_format_parse("rel_XYWH", &f), 0);
	ck_assert_int_eq(f, KCV_BOX_REL_XYWH);
}
END_TEST

START_TEST(test_format_parse_unknown)
{
	kcv_box_format f = KCV_BOX_YXYX;
	ck_assert_int_eq(kcv_box_format_parse("xyzw", &f), -1);
	ck_assert_int_eq(kcv_box_format_parse("", &f), -1);
	ck_assert_int_eq(kcv_box_format_parse("xyxy ", &f), -1);
	ck_assert_int_eq(kcv_box_format_parse("xyx", &f), -1);
	ck_assert_int_eq(kcv_box_format_parse("rel_center_xywh", &f), -1);
	ck_assert_int_eq(kcv_box_format_parse(NULL, &f), -1);
	ck_assert_int_eq(f, KCV_BOX_YXYX); /* untouched */
}
END_TEST

START_TEST(test_format_is_relative)
{
	ck_assert(!kcv_box_format_is_relative(KCV_BOX_XYXY));
	ck_assert(!kcv_box_format_is_relative(KCV_BOX_XYWH));
	ck_assert(!kcv_box_format_is_relative(KCV_BOX_CENTER_XYWH));
	ck_assert(!kcv_box_format_is_relative(KCV_BOX_YXYX));
	ck_assert(kcv_box_format_is_relative(KCV_BOX_REL_XYXY));
	ck_assert(kcv_box_format_is_relative(KCV_BOX_REL_XYWH));
	ck_assert(kcv_box_format_is_relative(KCV_BOX_REL_YXYX));
}
END_TEST

/* ---- conversion: hand-computed -------------------------------------------- */

/* xyxy (10,20,50,80) in a 100 (W) x 200 (H) image, in every format. */
static const float hand[NFMT][4] = {
	[KCV_BOX_XYXY] = { 10, 20, 50, 80 },
	[KCV_BOX_REL_XYXY] = { 0.1f, 0.1f, 0.5f, 0.4f },
	[KCV_BOX_XYWH] = { 10, 20, 40, 60 },
	[KCV_BOX_REL_XYWH] = { 0.1f, 0.1f, 0.4f, 0.3f },
	[KCV_BOX_CENTER_XYWH] = { 30, 50, 40, 60 },
	[KCV_BOX_YXYX] = { 20, 10, 80, 50 },
	[KCV_BOX_REL_YXYX] = { 0.1f, 0.1f, 0.4f, 0.5f },
};

START_TEST(test_convert_hand)
{
	/* _i runs over the source format; every target is checked. */
	kcv_box_format from = (kcv_box_format)_i;
	for (int to = 0; to < NFMT; to++) {
		float b[4];
		memcpy(b, hand[from], sizeof(b));
		kcv_error err;
		kcv_error_clear(&err);
		kcv_status st = kcv_boxes_convert(b, 1, 4, from, (kcv_box_format)to, 100, 200, &err);
		ck_assert_msg(st == KCV_OK, "%s -> %s: %s", kcv_box_format_name(from),
		              kcv_box_format_name((kcv_box_format)to), err.text);
		for (int j = 0; j < 4; j++)
			ck_assert_msg(fabsf(b[j] - hand[to][j]) < 1e-5f, "%s -> %s: column %d is %g, not %g",
			              kcv_box_format_name(from), kcv_box_format_name((kcv_box_format)to),
			              j, (double)b[j], (double)hand[to][j]);
	}
}
END_TEST

START_TEST(test_convert_rel_to_rel_needs_no_size)
{
	for (int from = 0; from < NFMT; from++) {
		for (int to = 0; to < NFMT; to++) {
			if (!kcv_box_format_is_relative((kcv_box_format)from) ||
			    !kcv_box_format_is_relative((kcv_box_format)to))
				continue;
			float b[4];
			memcpy(b, hand[from], sizeof(b));
			kcv_error err;
			kcv_error_clear(&err);
			ck_assert_int_eq(kcv_boxes_convert(b, 1, 4, (kcv_box_format)from,
			                                   (kcv_box_format)to, 0, 0, &err),
			                 KCV_OK);
			ck_assert_int_eq(err.code, 0);
			for (int j = 0; j < 4; j++)
				ck_assert_float_eq_tol(b[j], hand[to][j], 1e-6f);
		}
	}
	/* abs -> abs needs no size either */
	float b[4] = { 10, 20, 50, 80 };
	ck_assert_int_eq(kcv_boxes_convert(b, 1, 4, KCV_BOX_XYXY, KCV_BOX_CENTER_XYWH, 0, 0, NULL),
	                 KCV_OK);
	ck_assert_float_eq_tol(b[0], 30, 1e-6f);
	ck_assert_float_eq_tol(b[3], 60, 1e-6f);
}
END_TEST

START_TEST(test_convert_needs_size)
{
	static const float sizes[][2] = { { 0, 0 }, { 100, 0 }, { 0, 200 }, { -100, 200 },
	                                  { NAN, 200 }, { 100, NAN } };
	for (int from = 0; from < NFMT; from++) {
		for (int to = 0; to < NFMT; to++) {
			if (kcv_box_format_is_relative((kcv_box_format)from) ==
			    kcv_box_format_is_relative((kcv_box_format)to))
				continue;
			for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
				float b[4];
				memcpy(b, hand[from], sizeof(b));
				kcv_error err;
				kcv_error_clear(&err);
				kcv_status st = kcv_boxes_convert(b, 1, 4, (kcv_box_format)from,
				                                  (kcv_box_format)to, sizes[k][0],
				                                  sizes[k][1], &err);
				ck_assert_int_eq(st, KCV_ERR_INVALID);
				ck_assert_int_eq(err.code, KCV_ERR_INVALID);
				ck_assert_msg(strstr(err.text, "image size") != NULL, "%s", err.text);
				ck_assert_mem_eq(b, hand[from], sizeof(b)); /* untouched */
				/* err may be NULL */
				ck_assert_int_eq(kcv_boxes_convert(b, 1, 4, (kcv_box_format)from,
				                                   (kcv_box_format)to, sizes[k][0],
				                                   sizes[k][1], NULL),
				                 KCV_ERR_INVALID);
			}
		}
	}
}
END_TEST

START_TEST(test_convert_bad_args)
{
	float b[4] = { 1, 2, 3, 4 };
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_boxes_convert(b, 1, 4, KCV_BOX_FORMAT_COUNT, KCV_BOX_XYXY, 10, 10, &err),
	                 KCV_ERR_INVALID);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_boxes_convert(b, 1, 4, KCV_BOX_XYXY, (kcv_box_format)-1, 10, 10, &err),
	                 KCV_ERR_INVALID);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_boxes_convert(b, 1, 3, KCV_BOX_XYXY, KCV_BOX_XYWH, 10, 10, &err),
	                 KCV_ERR_INVALID);
	ck_assert_int_eq(err.code, KCV_ERR_INVALID);
	/* zero boxes and same format are no-ops */
	ck_assert_int_eq(kcv_boxes_convert(NULL, 0, 4, KCV_BOX_XYXY, KCV_BOX_REL_XYXY, 10, 10, NULL),
	                 KCV_OK);
	ck_assert_int_eq(kcv_boxes_convert(b, 1, 4, KCV_BOX_XYWH, KCV_BOX_XYWH, 0, 0, NULL), KCV_OK);
	ck_assert_float_eq(b[2], 3);
}
END_TEST

START_TEST(test_convert_stride_passthrough)
{
	/* two rows of 6: box, class, score */
	float rows[12] = { 10, 20, 50, 80, 7, 0.9f, 0, 0, 100, 200, 3, 0.5f };
	ck_assert_int_eq(kcv_boxes_convert(rows, 2, 6, KCV_BOX_XYXY, KCV_BOX_REL_YXYX, 100, 200, NULL),
	                 KCV_OK);
	ck_assert_float_eq_tol(rows[0], 0.1f, 1e-6f);
	ck_assert_float_eq_tol(rows[1], 0.1f, 1e-6f);
	ck_assert_float_eq_tol(rows[2], 0.4f, 1e-6f);
	ck_assert_float_eq_tol(rows[3], 0.5f, 1e-6f);
	ck_assert_float_eq(rows[4], 7);
	ck_assert_float_eq(rows[5], 0.9f);
	ck_assert_float_eq_tol(rows[6], 0, 1e-6f);
	ck_assert_float_eq_tol(rows[7], 0, 1e-6f);
	ck_assert_float_eq_tol(rows[8], 1, 1e-6f);
	ck_assert_float_eq_tol(rows[9], 1, 1e-6f);
	ck_assert_float_eq(rows[10], 3);
	ck_assert_float_eq(rows[11], 0.5f);
}
END_TEST

/* ---- conversion: round trips of random boxes -------------------------------- */

static const float sizes_wh[][2] = { { 640, 480 }, { 333, 517 } };

/* NRANDOM random xyxy boxes in a W x H image: corners up to a quarter of the
 * image outside it, sizes from 0.5 px. */
static float *random_boxes(kcv_rng *rng, float w, float h)
{
	float *b = malloc(NRANDOM * 4 * sizeof(float));
	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < NRANDOM; i++) {
		float x1 = (float)kcv_rng_range(rng, -0.25 * w, w);
		float y1 = (float)kcv_rng_range(rng, -0.25 * h, h);
		b[i * 4 + 0] = x1;
		b[i * 4 + 1] = y1;
		b[i * 4 + 2] = x1 + (float)kcv_rng_range(rng, 0.5, 0.25 * w + w - x1);
		b[i * 4 + 3] = y1 + (float)kcv_rng_range(rng, 0.5, 0.25 * h + h - y1);
	}
	return b;
}

START_TEST(test_convert_round_trip)
{
	/* _i picks the image size. */
	float w = sizes_wh[_i][0], h = sizes_wh[_i][1];
	kcv_rng rng;
	kcv_rng_seed(&rng, 1234, (uint64_t)_i, 0, 0);
	float *xyxy = random_boxes(&rng, w, h);
	float *orig = malloc(NRANDOM * 4 * sizeof(float));
	float *work = malloc(NRANDOM * 4 * sizeof(float));
	ck_assert_ptr_nonnull(orig);
	ck_assert_ptr_nonnull(work);
	for (int f = 0; f < NFMT; f++) {
		memcpy(orig, xyxy, NRANDOM * 4 * sizeof(float));
		ck_assert_int_eq(kcv_boxes_convert(orig, NRANDOM, 4, KCV_BOX_XYXY, (kcv_box_format)f,
		                                   w, h, NULL),
		                 KCV_OK);
		for (int g = 0; g < NFMT; g++) {
			memcpy(work, orig, NRANDOM * 4 * sizeof(float));
			ck_assert_int_eq(kcv_boxes_convert(work, NRANDOM, 4, (kcv_box_format)f,
			                                   (kcv_box_format)g, w, h, NULL),
			                 KCV_OK);
			ck_assert_int_eq(kcv_boxes_convert(work, NRANDOM, 4, (kcv_box_format)g,
			                                   (kcv_box_format)f, w, h, NULL),
			                 KCV_OK);
			for (int i = 0; i < NRANDOM * 4; i++) {
				float s = column_scale((kcv_box_format)f, i % 4, w, h);
				double d = fabs((double)work[i] - (double)orig[i]) * s;
				if (d > ROUND_TRIP_TOL_PX)
					ck_abort_msg("%gx%g %s -> %s -> %s: box %d column %d: %.9g vs %.9g "
					             "(%.3g px)",
					             (double)w, (double)h, kcv_box_format_name((kcv_box_format)f),
					             kcv_box_format_name((kcv_box_format)g),
					             kcv_box_format_name((kcv_box_format)f), i / 4, i % 4,
					             (double)work[i], (double)orig[i], d);
			}
		}
		/* and the format itself describes the same box as xyxy */
		memcpy(work, orig, NRANDOM * 4 * sizeof(float));
		ck_assert_int_eq(kcv_boxes_convert(work, NRANDOM, 4, (kcv_box_format)f, KCV_BOX_XYXY,
		                                   w, h, NULL),
		                 KCV_OK);
		for (int i = 0; i < NRANDOM * 4; i++)
			if (fabs((double)work[i] - (double)xyxy[i]) > ROUND_TRIP_TOL_PX)
				ck_abort_msg("%s -> xyxy: box %d column %d: %.9g vs %.9g",
				             kcv_box_format_name((kcv_box_format)f), i / 4, i % 4,
				             (double)work[i], (double)xyxy[i]);
	}
	free(work);
	free(orig);
	free(xyxy);
}
END_TEST

/* ---- box lists ------------------------------------------------------------- */

static void push_n(kcv_boxes *b, int n)
{
	for (int i = 0; i < n; i++) {
		float c[4] = { (float)i, (float)i + 1, (float)i + 10, (float)i + 20 };
		ck_assert_int_eq(kcv_boxes_push(b, c, i, i % 2, i % 3 == 0, NULL), KCV_OK);
	}
}

START_TEST(test_list_push)
{
	kcv_boxes b = { 0 };
	ck_assert_uint_eq(b.count, 0);
	ck_assert_int_eq(b.format, KCV_BOX_XYXY);
	push_n(&b, 100);
	ck_assert_uint_eq(b.count, 100);
	ck_assert_uint_ge(b.capacity, 100);
	for (int i = 0; i < 100; i++) {
		ck_assert_float_eq(b.coords[i * 4 + 0], (float)i);
		ck_assert_float_eq(b.coords[i * 4 + 3], (float)i + 20);
		ck_assert_int_eq(b.classes[i], i);
		ck_assert_uint_eq(b.difficult[i], (unsigned)(i % 2));
		ck_assert_uint_eq(b.truncated[i], i % 3 == 0 ? 1u : 0u);
	}
	/* flags are stored as 0/1 */
	float c[4] = { 0, 0, 1, 1 };
	ck_assert_int_eq(kcv_boxes_push(&b, c, 5, 42, -1, NULL), KCV_OK);
	ck_assert_uint_eq(b.difficult[100], 1);
	ck_assert_uint_eq(b.truncated[100], 1);
	kcv_boxes_release(&b);
}
END_TEST

START_TEST(test_list_reserve)
{
	kcv_boxes b = { 0 };
	ck_assert_int_eq(kcv_boxes_reserve(&b, 0, NULL), KCV_OK);
	ck_assert_int_eq(kcv_boxes_reserve(&b, 33, NULL), KCV_OK);
	ck_assert_uint_ge(b.capacity, 33);
	ck_assert_uint_eq(b.count, 0);
	push_n(&b, 3);
	size_t cap = b.capacity;
	ck_assert_int_eq(kcv_boxes_reserve(&b, 10, NULL), KCV_OK);
	ck_assert_uint_eq(b.capacity, cap); /* never shrinks */
	ck_assert_int_eq(kcv_boxes_reserve(&b, 1000, NULL), KCV_OK);
	ck_assert_uint_ge(b.capacity, 1000);
	ck_assert_uint_eq(b.count, 3);
	ck_assert_float_eq(b.coords[2 * 4 + 2], 12);
	kcv_boxes_release(&b);
}
END_TEST

START_TEST(test_list_copy)
{
	kcv_boxes a = { 0 }, b = { 0 };
	push_n(&a, 20);
	a.format = KCV_BOX_YXYX;
	ck_assert_int_eq(kcv_boxes_copy(&b, &a, NULL), KCV_OK);
	ck_assert_uint_eq(b.count, 20);
	ck_assert_int_eq(b.format, KCV_BOX_YXYX);
	ck_assert_mem_eq(b.coords, a.coords, 20 * 4 * sizeof(float));
	ck_assert_mem_eq(b.classes, a.classes, 20 * sizeof(int32_t));
	ck_assert_mem_eq(b.difficult, a.difficult, 20);
	ck_assert_mem_eq(b.truncated, a.truncated, 20);
	ck_assert_ptr_ne(b.coords, a.coords); /* a deep copy */
	b.coords[0] = -1;
	ck_assert_float_eq(a.coords[0], 0);
	/* copying a shorter list over a longer one */
	kcv_boxes c = { 0 };
	push_n(&c, 2);
	ck_assert_int_eq(kcv_boxes_copy(&b, &c, NULL), KCV_OK);
	ck_assert_uint_eq(b.count, 2);
	ck_assert_int_eq(b.format, KCV_BOX_XYXY);
	/* an empty source */
	kcv_boxes empty = { 0 };
	ck_assert_int_eq(kcv_boxes_copy(&b, &empty, NULL), KCV_OK);
	ck_assert_uint_eq(b.count, 0);
	/* to itself */
	ck_assert_int_eq(kcv_boxes_copy(&a, &a, NULL), KCV_OK);
	ck_assert_uint_eq(a.count, 20);
	ck_assert_int_eq(a.classes[19], 19);
	kcv_boxes_release(&a);
	kcv_boxes_release(&b);
	kcv_boxes_release(&c);
}
END_TEST

START_TEST(test_list_remove)
{
	kcv_boxes b = { 0 };
	push_n(&b, 6);
	kcv_boxes_remove(&b, 0);     /* first: 1 2 3 4 5 */
	kcv_boxes_remove(&b, 2);     /* middle: 1 2 4 5 */
	kcv_boxes_remove(&b, 3);     /* last: 1 2 4 */
	kcv_boxes_remove(&b, 3);     /* out of range: no-op */
	kcv_boxes_remove(&b, 99999); /* out of range: no-op */
	static const int left[] = { 1, 2, 4 };
	ck_assert_uint_eq(b.count, 3);
	for (int i = 0; i < 3; i++) {
		int k = left[i];
		ck_assert_int_eq(b.classes[i], k);
		ck_assert_float_eq(b.coords[i * 4 + 0], (float)k);
		ck_assert_float_eq(b.coords[i * 4 + 1], (float)k + 1);
		ck_assert_float_eq(b.coords[i * 4 + 2], (float)k + 10);
		ck_assert_float_eq(b.coords[i * 4 + 3], (float)k + 20);
		ck_assert_uint_eq(b.difficult[i], (unsigned)(k % 2));
		ck_assert_uint_eq(b.truncated[i], k % 3 == 0 ? 1u : 0u);
	}
	kcv_boxes_remove(&b, 0);
	kcv_boxes_remove(&b, 0);
	kcv_boxes_remove(&b, 0);
	ck_assert_uint_eq(b.count, 0);
	kcv_boxes_remove(&b, 0); /* empty: no-op */
	ck_assert_uint_eq(b.count, 0);
	kcv_boxes_release(&b);
}
END_TEST

START_TEST(test_list_clear_release)
{
	kcv_boxes b = { 0 };
	push_n(&b, 10);
	size_t cap = b.capacity;
	float *coords = b.coords;
	kcv_boxes_clear(&b);
	ck_assert_uint_eq(b.count, 0);
	ck_assert_uint_eq(b.capacity, cap); /* memory kept */
	ck_assert_ptr_eq(b.coords, coords);
	push_n(&b, 3);
	ck_assert_uint_eq(b.count, 3);
	ck_assert_ptr_eq(b.coords, coords);
	b.format = KCV_BOX_REL_XYWH;
	kcv_boxes_release(&b);
	ck_assert_uint_eq(b.count, 0);
	ck_assert_uint_eq(b.capacity, 0);
	ck_assert_int_eq(b.format, KCV_BOX_XYXY);
	ck_assert_ptr_null(b.coords);
	ck_assert_ptr_null(b.classes);
	ck_assert_ptr_null(b.difficult);
	ck_assert_ptr_null(b.truncated);
	kcv_boxes_release(&b); /* twice is fine */
	kcv_boxes_release(NULL);
	/* a released list is usable again */
	push_n(&b, 1);
	ck_assert_uint_eq(b.count, 1);
	kcv_boxes_release(&b);
}
END_TEST

START_TEST(test_list_set_format)
{
	kcv_boxes b = { 0 };
	ck_assert_int_eq(kcv_boxes_push(&b, hand[KCV_BOX_XYXY], 3, 0, 0, NULL), KCV_OK);
	ck_assert_int_eq(kcv_boxes_set_format(&b, KCV_BOX_REL_XYWH, 100, 200, NULL), KCV_OK);
	ck_assert_int_eq(b.format, KCV_BOX_REL_XYWH);
	for (int j = 0; j < 4; j++)
		ck_assert_float_eq_tol(b.coords[j], hand[KCV_BOX_REL_XYWH][j], 1e-6f);
	/* a failed conversion keeps the format and coordinates */
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_boxes_set_format(&b, KCV_BOX_XYXY, 0, 0, &err), KCV_ERR_INVALID);
	ck_assert_int_eq(b.format, KCV_BOX_REL_XYWH);
	ck_assert_float_eq_tol(b.coords[2], 0.4f, 1e-6f);
	ck_assert_int_eq(kcv_boxes_set_format(&b, KCV_BOX_CENTER_XYWH, 100, 200, NULL), KCV_OK);
	for (int j = 0; j < 4; j++)
		ck_assert_float_eq_tol(b.coords[j], hand[KCV_BOX_CENTER_XYWH][j], 1e-4f);
	ck_assert_int_eq(b.classes[0], 3);
	kcv_boxes_release(&b);
}
END_TEST

/* ---- clipping --------------------------------------------------------------- */

#define CLIP_W 100.0f
#define CLIP_H 200.0f

/* Push an xyxy box into b (in b->format). */
static void push_xyxy(kcv_boxes *b, float x1, float y1, float x2, float y2, int cls)
{
	float c[4] = { x1, y1, x2, y2 };
	ck_assert_int_eq(kcv_boxes_convert(c, 1, 4, KCV_BOX_XYXY, b->format, CLIP_W, CLIP_H, NULL),
	                 KCV_OK);
	ck_assert_int_eq(kcv_boxes_push(b, c, cls, cls % 2, 0, NULL), KCV_OK);
}

/* Box i of b in xyxy. */
static void get_xyxy(const kcv_boxes *b, size_t i, float out[4])
{
	memcpy(out, b->coords + i * 4, 4 * sizeof(float));
	ck_assert_int_eq(kcv_boxes_convert(out, 1, 4, b->format, KCV_BOX_XYXY, CLIP_W, CLIP_H, NULL),
	                 KCV_OK);
}

static void assert_xyxy(const kcv_boxes *b, size_t i, float x1, float y1, float x2, float y2)
{
	float o[4];
	get_xyxy(b, i, o);
	const float e[4] = { x1, y1, x2, y2 };
	for (int j = 0; j < 4; j++)
		ck_assert_msg(fabsf(o[j] - e[j]) < 1e-3f, "%s box %zu column %d: %g, expected %g",
		              kcv_box_format_name(b->format), i, j, (double)o[j], (double)e[j]);
}

START_TEST(test_clip_inside)
{
	kcv_boxes b = { .format = (kcv_box_format)_i };
	push_xyxy(&b, 10, 20, 50, 80, 0);
	push_xyxy(&b, 0, 0, CLIP_W, CLIP_H, 1); /* touching every edge */
	ck_assert_uint_eq(kcv_boxes_clip(&b, CLIP_W, CLIP_H), 0);
	ck_assert_uint_eq(b.count, 2);
	assert_xyxy(&b, 0, 10, 20, 50, 80);
	assert_xyxy(&b, 1, 0, 0, CLIP_W, CLIP_H);
	kcv_boxes_release(&b);
}
END_TEST

START_TEST(test_clip_partly_outside)
{
	kcv_boxes b = { .format = (kcv_box_format)_i };
	push_xyxy(&b, 10, 20, 50, 80, 0);
	push_xyxy(&b, -10, 150, 40, 260, 1); /* left and bottom outside */
	push_xyxy(&b, 60, 30, 70, 40, 2);
	ck_assert_uint_eq(kcv_boxes_clip(&b, CLIP_W, CLIP_H), 1);
	ck_assert_uint_eq(b.count, 3);
	assert_xyxy(&b, 0, 10, 20, 50, 80);
	assert_xyxy(&b, 1, 0, 150, 40, CLIP_H);
	assert_xyxy(&b, 2, 60, 30, 70, 40);
	ck_assert_int_eq(b.classes[1], 1);
	ck_assert_uint_eq(b.difficult[1], 1);
	/* a box covering the whole image and more */
	kcv_boxes_clear(&b);
	push_xyxy(&b, -5, -5, CLIP_W + 5, CLIP_H + 5, 7);
	ck_assert_uint_eq(kcv_boxes_clip(&b, CLIP_W, CLIP_H), 1);
	ck_assert_uint_eq(b.count, 1);
	assert_xyxy(&b, 0, 0, 0, CLIP_W, CLIP_H);
	kcv_boxes_release(&b);
}
END_TEST

START_TEST(test_clip_removes)
{
	kcv_boxes b = { .format = (kcv_box_format)_i };
	push_xyxy(&b, 10, 20, 50, 80, 0);          /* kept */
	push_xyxy(&b, 120, 20, 150, 80, 1);        /* right of the image */
	push_xyxy(&b, 10, -80, 50, -20, 2);        /* above it */
	push_xyxy(&b, 30, 30, 30, 60, 3);          /* zero width */
	push_xyxy(&b, 30, 60, 40, 60, 4);          /* zero height */
	push_xyxy(&b, CLIP_W, 10, CLIP_W + 9, 20, 5); /* touches the right edge only */
	push_xyxy(&b, 60, 70, 90, 110, 6);         /* kept */
	float nan_box[4] = { NAN, 10, 20, 30 };
	ck_assert_int_eq(kcv_boxes_push(&b, nan_box, 7, 0, 0, NULL), KCV_OK); /* NaN */
	push_xyxy(&b, 1, 2, 3, 4, 8);              /* kept */
	ck_assert_uint_eq(kcv_boxes_clip(&b, CLIP_W, CLIP_H), 6);
	ck_assert_uint_eq(b.count, 3);
	ck_assert_int_eq(b.classes[0], 0);
	ck_assert_int_eq(b.classes[1], 6);
	ck_assert_int_eq(b.classes[2], 8);
	ck_assert_uint_eq(b.difficult[2], 0);
	assert_xyxy(&b, 0, 10, 20, 50, 80);
	assert_xyxy(&b, 1, 60, 70, 90, 110);
	assert_xyxy(&b, 2, 1, 2, 3, 4);
	/* an empty list */
	kcv_boxes_clear(&b);
	ck_assert_uint_eq(kcv_boxes_clip(&b, CLIP_W, CLIP_H), 0);
	kcv_boxes_release(&b);
}
END_TEST

/* ---- IoU ----------------------------------------------------------------- */

START_TEST(test_iou)
{
	const float a[4] = { 0, 0, 2, 1 };
	const float half[4] = { 1, 0, 3, 1 };
	const float far[4] = { 10, 10, 12, 11 };
	const float touch[4] = { 2, 0, 4, 1 };
	const float big[4] = { 0, 0, 4, 4 }, small[4] = { 1, 1, 3, 3 };
	const float dot[4] = { 1, 1, 1, 1 }, line[4] = { 0, 0, 5, 0 };
	const float inverted[4] = { 2, 1, 0, 0 };
	ck_assert_float_eq(kcv_box_iou_xyxy(a, far), 0);
	ck_assert_float_eq(kcv_box_iou_xyxy(a, touch), 0);
	ck_assert_float_eq_tol(kcv_box_iou_xyxy(a, a), 1, 1e-7f);
	ck_assert_float_eq_tol(kcv_box_iou_xyxy(a, half), 1.0f / 3.0f, 1e-7f);
	ck_assert_float_eq_tol(kcv_box_iou_xyxy(half, a), 1.0f / 3.0f, 1e-7f);
	ck_assert_float_eq_tol(kcv_box_iou_xyxy(big, small), 0.25f, 1e-7f);
	ck_assert_float_eq_tol(kcv_box_iou_xyxy(small, big), 0.25f, 1e-7f);
	/* union 0 */
	ck_assert_float_eq(kcv_box_iou_xyxy(dot, dot), 0);
	ck_assert_float_eq(kcv_box_iou_xyxy(dot, line), 0);
	ck_assert_float_eq(kcv_box_iou_xyxy(line, line), 0);
	ck_assert_float_eq(kcv_box_iou_xyxy(inverted, inverted), 0);
	/* a zero-area box against a real one */
	ck_assert_float_eq(kcv_box_iou_xyxy(dot, big), 0);
	/* an inverted box has no area */
	ck_assert_float_eq(kcv_box_iou_xyxy(inverted, a), 0);
}
END_TEST

START_TEST(test_iou_random_bounds)
{
	kcv_rng rng;
	kcv_rng_seed(&rng, 99, 0, 0, 0);
	for (int i = 0; i < 10000; i++) {
		float a[4], b[4];
		for (int j = 0; j < 2; j++) {
			a[j] = (float)kcv_rng_range(&rng, 0, 100);
			b[j] = (float)kcv_rng_range(&rng, 0, 100);
			a[j + 2] = a[j] + (float)kcv_rng_range(&rng, 0.1, 50);
			b[j + 2] = b[j] + (float)kcv_rng_range(&rng, 0.1, 50);
		}
		float ab = kcv_box_iou_xyxy(a, b), ba = kcv_box_iou_xyxy(b, a);
		float aa = kcv_box_iou_xyxy(a, a);
		if (!(ab >= 0.0f && ab <= 1.0f) || fabsf(ab - ba) > 1e-6f || fabsf(aa - 1.0f) > 1e-6f)
			ck_abort_msg("box pair %d: iou %g / %g, self %g", i, (double)ab, (double)ba,
			             (double)aa);
	}
}
END_TEST

static Suite *boxes_suite(void)
{
	Suite *s = suite_create("boxes");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, test_format_names);
	tcase_add_test(tc, test_format_parse_case);
	tcase_add_test(tc, test_format_parse_unknown);
	tcase_add_test(tc, test_format_is_relative);
	suite_add_tcase(s, tc);

	tc = tcase_create("convert");
	tcase_add_loop_test(tc, test_convert_hand, 0, NFMT);
	tcase_add_test(tc, test_convert_rel_to_rel_needs_no_size);
	tcase_add_test(tc, test_convert_needs_size);
	tcase_add_test(tc, test_convert_bad_args);
	tcase_add_test(tc, test_convert_stride_passthrough);
	tcase_add_loop_test(tc, test_convert_round_trip, 0,
	                    (int)(sizeof(sizes_wh) / sizeof(sizes_wh[0])));
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("list");
	tcase_add_test(tc, test_list_push);
	tcase_add_test(tc, test_list_reserve);
	tcase_add_test(tc, test_list_copy);
	tcase_add_test(tc, test_list_remove);
	tcase_add_test(tc, test_list_clear_release);
	tcase_add_test(tc, test_list_set_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("clip");
	tcase_add_loop_test(tc, test_clip_inside, 0, NFMT);
	tcase_add_loop_test(tc, test_clip_partly_outside, 0, NFMT);
	tcase_add_loop_test(tc, test_clip_removes, 0, NFMT);
	suite_add_tcase(s, tc);

	tc = tcase_create("iou");
	tcase_add_test(tc, test_iou);
	tcase_add_test(tc, test_iou_random_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(boxes_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
