/* Check suite for draw.c (boxes, fills, labels, class colours, float blits)
 * and font.c (the 5x7 glyphs). */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/draw.h>

/* ==== draw.c ============================================================== */

/* A canvas inside a larger buffer whose guard bytes must stay untouched. */
#define GUARD 4096
#define GUARD_BYTE 0xa5

typedef struct guarded {
	uint8_t *mem;
	kcv_canvas c;
} guarded;

static guarded guarded_new(int w, int h)
{
	guarded g;
	size_t n = (size_t)w * (size_t)h * 3;
	g.mem = malloc(n + 2 * GUARD);
	ck_assert_ptr_nonnull(g.mem);
	memset(g.mem, GUARD_BYTE, GUARD);
	memset(g.mem + GUARD, 0, n);
	memset(g.mem + GUARD + n, GUARD_BYTE, GUARD);
	g.c.rgb = g.mem + GUARD;
	g.c.width = w;
	g.c.height = h;
	return g;
}

static void guarded_check_free(guarded *g)
{
	size_t n = (size_t)g->c.width * (size_t)g->c.height * 3;
	size_t bad = 0;
	for (size_t i = 0; i < GUARD; i++)
		bad += (g->mem[i] != GUARD_BYTE) + (g->mem[GUARD + n + i] != GUARD_BYTE);
	free(g->mem);
	ck_assert_msg(bad == 0, "%zu bytes written outside the canvas", bad);
}

static const uint8_t *px(const kcv_canvas *c, int x, int y)
{
	return c->rgb + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
}

static int lit(const kcv_canvas *c, int x, int y)
{
	const uint8_t *p = px(c, x, y);
	return p[0] || p[1] || p[2];
}

/* Exactly the pixels of the outline [l,r) x [t,b), th thick, have colour rgb;
 * all others are black. */
static void assert_outline(const kcv_canvas *c, int l, int t, int r, int b, int th,
                           const uint8_t rgb[3])
{
	for (int y = 0; y < c->height; y++) {
		for (int x = 0; x < c->width; x++) {
			int in = x >= l && x < r && y >= t && y < b;
			int edge = in && (x < l + th || x >= r - th || y < t + th || y >= b - th);
			const uint8_t *p = px(c, x, y);
			if (edge && !(p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2]))
				ck_abort_msg("(%d,%d) should be set", x, y);
			if (!edge && lit(c, x, y))
				ck_abort_msg("(%d,%d) should be black", x, y);
		}
	}
}

static const uint8_t RED[3] = { 255, 0, 0 };
static const uint8_t WHITE[3] = { 255, 255, 255 };

START_TEST(test_draw_box_outline)
{
	guarded g = guarded_new(100, 100);
	kcv_draw_box(&g.c, 10, 20, 50, 80, 2, RED);
	assert_outline(&g.c, 10, 20, 50, 80, 2, RED);

	memset(g.c.rgb, 0, 100 * 100 * 3);
	kcv_draw_box(&g.c, 10.4f, 19.6f, 49.5f, 80.2f, 1, RED); /* rounds to 10,20,50,80 */
	assert_outline(&g.c, 10, 20, 50, 80, 1, RED);

	memset(g.c.rgb, 0, 100 * 100 * 3);
	kcv_draw_box(&g.c, 50, 80, 10, 20, 0, RED); /* swapped corners, thickness 0 -> 1 */
	assert_outline(&g.c, 10, 20, 50, 80, 1, RED);

	memset(g.c.rgb, 0, 100 * 100 * 3);
	kcv_draw_box(&g.c, 10, 10, 14, 14, 3, RED); /* thicker than half: solid */
	assert_outline(&g.c, 10, 10, 14, 14, 4, RED);
	guarded_check_free(&g);
}
END_TEST

START_TEST(test_draw_box_clip)
{
	guarded g = guarded_new(60, 40);
	kcv_draw_box(&g.c, -20, -20, 30, 30, 3, RED); /* off the top-left corner */
	assert_outline(&g.c, 0, 0, 30, 30, 3, RED);

	memset(g.c.rgb, 0, 60 * 40 * 3);
	kcv_draw_box(&g.c, 40, 10, 1e30f, 1e30f, 2, RED); /* off the bottom-right */
	assert_outline(&g.c, 40, 10, 60, 40, 2, RED);

	memset(g.c.rgb, 0, 60 * 40 * 3);
	kcv_draw_box(&g.c, -1e30f, -1e30f, 1e30f, 1e30f, 1, RED); /* the whole canvas */
	assert_outline(&g.c, 0, 0, 60, 40, 1, RED);

	memset(g.c.rgb, 0, 60 * 40 * 3);
	kcv_draw_box(&g.c, 70, 10, 90, 20, 2, RED); /* right of the canvas */
	kcv_draw_box(&g.c, 10, -30, 20, -5, 2, RED); /* above it */
	kcv_draw_box(&g.c, NAN, 1, 10, 10, 2, RED);
	kcv_draw_box(&g.c, 5, 5, 5, 20, 2, RED); /* zero width */
	kcv_draw_box(&g.c, 1, 1, 20, 20, INT_MAX, RED);
	assert_outline(&g.c, 1, 1, 20, 20, 19, RED); /* the last one is solid */
	kcv_draw_box(NULL, 0, 0, 10, 10, 1, RED);
	guarded_check_free(&g);
}
END_TEST

START_TEST(test_draw_fill)
{
	guarded g = guarded_new(20, 10);
	kcv_draw_fill(&g.c, -5, -5, 3, 2, WHITE);
	kcv_draw_fill(&g.c, 18, 8, 100, 100, RED);
	kcv_draw_fill(&g.c, INT_MIN, INT_MIN, INT_MIN + 1, INT_MAX, RED);
	kcv_draw_fill(&g.c, 10, 5, 5, 8, RED); /* empty */
	for (int y = 0; y < 10; y++) {
		for (int x = 0; x < 20; x++) {
			int w = x < 3 && y < 2, r = x >= 18 && y >= 8;
			const uint8_t *p = px(&g.c, x, y);
			ck_assert_int_eq(p[0], (w || r) ? 255 : 0);
			ck_assert_int_eq(p[1], w ? 255 : 0);
		}
	}
	guarded_check_free(&g);
}
END_TEST

START_TEST(test_draw_text_extent)
{
	const char *text = "Hello, World! 0123 {kcv} @#$%&*";
	for (int scale = 1; scale <= 3; scale++) {
		guarded g = guarded_new(400, 40);
		int w = kcv_draw_text(&g.c, 3, 4, text, scale, WHITE);
		ck_assert_int_eq(w, kcv_draw_text_width(text, scale));
		ck_assert_int_eq(w, ((int)strlen(text) * 6 - 1) * scale);
		int count = 0;
		for (int y = 0; y < 40; y++) {
			for (int x = 0; x < 400; x++) {
				if (!lit(&g.c, x, y))
					continue;
				count++;
				if (!(x >= 3 && x < 3 + w && y >= 4 && y < 4 + 7 * scale))
					ck_abort_msg("pixel (%d,%d) outside the text at scale %d", x, y, scale);
				/* the gap column after each glyph is empty */
				if ((x - 3) / scale % 6 == 5)
					ck_abort_msg("pixel (%d,%d) in a gap", x, y);
			}
		}
		ck_assert_int_gt(count, 100 * scale * scale);
		guarded_check_free(&g);
	}
}
END_TEST

START_TEST(test_draw_text_width)
{
	ck_assert_int_eq(kcv_draw_text_width("", 1), 0);
	ck_assert_int_eq(kcv_draw_text_width(NULL, 1), 0);
	ck_assert_int_eq(kcv_draw_text_width("A", 1), 5);
	ck_assert_int_eq(kcv_draw_text_width("A", 3), 15);
	ck_assert_int_eq(kcv_draw_text_width("AB", 1), 11);
	ck_assert_int_eq(kcv_draw_text_width("AB", 0), 11); /* scale < 1 is 1 */
	/* one glyph ('?') per UTF-8 character */
	ck_assert_int_eq(kcv_draw_text_width("caf\xc3\xa9", 1), 23);
	ck_assert_int_eq(kcv_draw_text_width("\xe2\x82\xac", 1), 5);
	ck_assert_int_eq(kcv_draw_text_width("a\tb", 1), 17);
}
END_TEST

/* Render one character at scale 1 on a 5x7 canvas; returns its bitmap as
 * 35 bits. */
static uint64_t glyph_bits(const char *s)
{
	uint8_t rgb[5 * 7 * 3] = { 0 };
	kcv_canvas c = { rgb, 5, 7 };
	kcv_draw_text(&c, 0, 0, s, 1, WHITE);
	uint64_t bits = 0;
	for (int i = 0; i < 35; i++)
		if (rgb[i * 3])
			bits |= UINT64_C(1) << i;
	return bits;
}

START_TEST(test_draw_font_glyphs)
{
	uint64_t bits[127] = { 0 };
	for (int ch = 32; ch <= 126; ch++) {
		char s[2] = { (char)ch, 0 };
		bits[ch] = glyph_bits(s);
		if (ch == ' ')
			ck_assert_msg(bits[ch] == 0, "space has pixels");
		else
			ck_assert_msg(bits[ch] != 0, "'%c' is empty", ch);
		for (int other = 32; other < ch; other++)
			if (bits[ch] == bits[other])
				ck_abort_msg("'%c' and '%c' look the same", ch, other);
	}
	/* a glyph fits in 5x7: drawn on a 6x8 canvas, column 5 and row 7 stay
	 * empty */
	for (int ch = 33; ch <= 126; ch++) {
		uint8_t rgb[6 * 8 * 3] = { 0 };
		kcv_canvas c = { rgb, 6, 8 };
		char s[2] = { (char)ch, 0 };
		kcv_draw_text(&c, 0, 0, s, 1, WHITE);
		int outside = 0;
		for (int y = 0; y < 8; y++)
			outside += lit(&c, 5, y);
		for (int x = 0; x < 6; x++)
			outside += lit(&c, x, 7);
		ck_assert_msg(outside == 0, "'%c' is larger than 5x7", ch);
	}
	/* characters without a glyph draw '?' */
	ck_assert_uint_eq(glyph_bits("\x01"), bits['?']);
	ck_assert_uint_eq(glyph_bits("\x7f"), bits['?']);
	ck_assert_uint_eq(glyph_bits("\xc3\xa9"), bits['?']);
	/* a few shapes: '-' is one full row, 'L' has a full bottom row */
	ck_assert_uint_eq(bits['-'], UINT64_C(0x1f) << 15);
	ck_assert_uint_eq((bits['L'] >> 30) & 0x1f, 0x1f);
}
END_TEST

START_TEST(test_draw_text_clip)
{
	const char *text = "Clip me: ABCxyz 123";
	static const int pos[][2] = {
		{ -7, -3 },      { -40, 2 },       { 25, 5 },       { 3, 8 },        { 29, 9 },
		{ -1000, -1000 }, { 1000, 1000 },   { INT_MAX, 0 },  { 0, INT_MAX },  { INT_MIN, 0 },
		{ 0, INT_MIN },  { INT_MIN, INT_MIN }, { -100, 0 },  { 0, -13 },      { 15, -6 },
	};
	for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		for (int scale = 1; scale <= 3; scale += 2) {
			guarded g = guarded_new(30, 10);
			kcv_draw_text(&g.c, pos[i][0], pos[i][1], text, scale, WHITE);
			kcv_draw_label(&g.c, pos[i][0], pos[i][1], text, scale, RED);
			guarded_check_free(&g);
		}
	}
	/* huge scales */
	guarded g = guarded_new(30, 10);
	kcv_draw_text(&g.c, -5, -5, "W", INT_MAX, WHITE);
	kcv_draw_label(&g.c, 5, 5, "W", INT_MAX, RED);
	ck_assert_int_ge(kcv_draw_text_width("WW", INT_MAX), 0);
	/* partly visible text lights only pixels it owns */
	memset(g.c.rgb, 0, 30 * 10 * 3);
	kcv_draw_text(&g.c, -3, -2, "H", 1, WHITE); /* 'H' columns 0 and 4 */
	ck_assert(lit(&g.c, 1, 0));  /* column 4 of the glyph, row 2 */
	ck_assert(!lit(&g.c, 0, 0)); /* column 3 */
	guarded_check_free(&g);
	/* a NULL canvas still measures */
	ck_assert_int_eq(kcv_draw_text(NULL, 0, 0, "abc", 2, WHITE), 34);
}
END_TEST

/* The bounding box of pixels equal to rgb. Returns the count. */
static int colour_bounds(const kcv_canvas *c, const uint8_t rgb[3], int box[4])
{
	int n = 0;
	box[0] = box[1] = INT_MAX;
	box[2] = box[3] = -1;
	for (int y = 0; y < c->height; y++) {
		for (int x = 0; x < c->width; x++) {
			const uint8_t *p = px(c, x, y);
			if (p[0] != rgb[0] || p[1] != rgb[1] || p[2] != rgb[2])
				continue;
			n++;
			if (x < box[0])
				box[0] = x;
			if (y < box[1])
				box[1] = y;
			if (x > box[2])
				box[2] = x;
			if (y > box[3])
				box[3] = y;
		}
	}
	return n;
}

START_TEST(test_draw_label)
{
	static const uint8_t yellow[3] = { 255, 230, 0 }, navy[3] = { 0, 0, 128 };
	static const uint8_t black[3] = { 0, 0, 0 }, white[3] = { 255, 255, 255 };
	int box[4];

	/* above the anchor: 1-scale padding around 7*scale rows */
	guarded g = guarded_new(200, 100);
	kcv_draw_label(&g.c, 50, 60, "cat", 1, yellow);
	ck_assert_int_gt(colour_bounds(&g.c, yellow, box), 0);
	ck_assert_int_eq(box[0], 50);
	ck_assert_int_eq(box[1], 60 - 9);
	ck_assert_int_eq(box[2], 50 + kcv_draw_text_width("cat", 1) + 2 - 1);
	ck_assert_int_eq(box[3], 59);
	/* black text on yellow, inside the background */
	ck_assert_int_gt(colour_bounds(&g.c, black, box), 0);
	ck_assert_int_eq(colour_bounds(&g.c, white, box), 0);
	guarded_check_free(&g);

	/* no room above: below the anchor; white text on navy */
	g = guarded_new(200, 100);
	kcv_draw_label(&g.c, 10, 5, "dog", 2, navy);
	ck_assert_int_gt(colour_bounds(&g.c, navy, box), 0);
	ck_assert_int_eq(box[0], 10);
	ck_assert_int_eq(box[1], 5);
	ck_assert_int_eq(box[3], 5 + 7 * 2 + 2 * 2 - 1);
	int text_box[4];
	ck_assert_int_gt(colour_bounds(&g.c, white, text_box), 0);
	ck_assert_int_ge(text_box[0], 10 + 2);
	ck_assert_int_ge(text_box[1], 5 + 2);
	ck_assert_int_le(text_box[3], 5 + 2 + 14 - 1);
	guarded_check_free(&g);

	/* at the right edge it moves left to stay on the canvas */
	g = guarded_new(60, 30);
	kcv_draw_label(&g.c, 55, 20, "person", 1, navy);
	ck_assert_int_gt(colour_bounds(&g.c, navy, box), 0);
	ck_assert_int_eq(box[2], 59);
	ck_assert_int_eq(box[0], 60 - (kcv_draw_text_width("person", 1) + 2));
	guarded_check_free(&g);
}
END_TEST

START_TEST(test_draw_class_color)
{
	uint8_t c[32][3];
	for (int i = 0; i < 32; i++) {
		kcv_draw_class_color(i, c[i]);
		int mx = c[i][0], mn = c[i][0];
		for (int k = 1; k < 3; k++) {
			mx = c[i][k] > mx ? c[i][k] : mx;
			mn = c[i][k] < mn ? c[i][k] : mn;
		}
		ck_assert_msg(mx - mn >= 150, "colour %d (%d,%d,%d) is not saturated", i, c[i][0],
		              c[i][1], c[i][2]);
		for (int j = 0; j < i; j++) {
			int d = abs(c[i][0] - c[j][0]) + abs(c[i][1] - c[j][1]) + abs(c[i][2] - c[j][2]);
			ck_assert_msg(d >= 50, "colours %d and %d are too close (%d)", i, j, d);
		}
	}
	uint8_t again[3];
	kcv_draw_class_color(7, again);
	ck_assert_mem_eq(again, c[7], 3);
	kcv_draw_class_color(-1, again); /* any int is accepted */
	kcv_draw_class_color(INT_MAX, again);
}
END_TEST

START_TEST(test_draw_blit_float)
{
	const float src[2 * 2 * 3] = {
		0.0f,   127.4f, 127.5f, /* (0,0) */
		254.6f, 300.0f, -5.0f,  /* (1,0) */
		NAN,    1e30f,  -1e30f, /* (0,1) */
		0.49f,  0.5f,   255.0f, /* (1,1) */
	};
	guarded g = guarded_new(4, 3);
	kcv_draw_blit_float(&g.c, 1, 1, src, 2, 2);
	static const uint8_t want[2 * 2 * 3] = { 0, 127, 128, 255, 255, 0, 0, 255, 0, 0, 1, 255 };
	ck_assert_mem_eq(px(&g.c, 1, 1), want, 6);
	ck_assert_mem_eq(px(&g.c, 1, 2), want + 6, 6);
	ck_assert(!lit(&g.c, 0, 0) && !lit(&g.c, 3, 1) && !lit(&g.c, 0, 2));
	/* clipped at every edge */
	memset(g.c.rgb, 0, 4 * 3 * 3);
	kcv_draw_blit_float(&g.c, -1, -1, src, 2, 2); /* only src (1,1) lands, at (0,0) */
	ck_assert_mem_eq(px(&g.c, 0, 0), want + 9, 3);
	ck_assert(!lit(&g.c, 1, 0) && !lit(&g.c, 0, 1));
	memset(g.c.rgb, 0, 4 * 3 * 3);
	kcv_draw_blit_float(&g.c, 3, 2, src, 2, 2); /* only src (0,0) lands, at (3,2) */
	ck_assert_mem_eq(px(&g.c, 3, 2), want, 3);
	kcv_draw_blit_float(&g.c, 4, 0, src, 2, 2);
	kcv_draw_blit_float(&g.c, 0, -2, src, 2, 2);
	kcv_draw_blit_float(&g.c, INT_MIN, INT_MAX, src, 2, 2);
	kcv_draw_blit_float(&g.c, INT_MAX, INT_MIN, src, 2, 2);
	kcv_draw_blit_float(&g.c, 0, 0, src, 0, 2);
	kcv_draw_blit_float(&g.c, 0, 0, NULL, 2, 2);
	guarded_check_free(&g);
	/* a larger image over a smaller canvas */
	float *big = calloc(50 * 50 * 3, sizeof(float));
	for (int i = 0; i < 50 * 50 * 3; i++)
		big[i] = (float)(i % 256);
	g = guarded_new(7, 5);
	kcv_draw_blit_float(&g.c, -20, -20, big, 50, 50);
	ck_assert_int_eq(px(&g.c, 0, 0)[0], ((20 * 50 + 20) * 3) % 256);
	guarded_check_free(&g);
	free(big);
}
END_TEST

static Suite *draw_suite(void)
{
	Suite *s = suite_create("draw");
	TCase *tc = tcase_create("draw");
	tcase_add_test(tc, test_draw_box_outline);
	tcase_add_test(tc, test_draw_box_clip);
	tcase_add_test(tc, test_draw_fill);
	tcase_add_test(tc, test_draw_text_extent);
	tcase_add_test(tc, test_draw_text_width);
	tcase_add_test(tc, test_draw_font_glyphs);
	tcase_add_test(tc, test_draw_text_clip);
	tcase_add_test(tc, test_draw_label);
	tcase_add_test(tc, test_draw_class_color);
	tcase_add_test(tc, test_draw_blit_float);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(draw_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
