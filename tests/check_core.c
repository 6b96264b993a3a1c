/* Check suite for the small core pieces: error.c and rng.c. Logging and
 * progress are in check_log.c, drawing in check_draw.c. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/error.h>
#include <kcv/rng.h>

/* ==== error.c ============================================================== */

START_TEST(test_error_clear)
{
	kcv_error err;
	memset(&err, 0x5a, sizeof(err));
	kcv_error_clear(&err);
	ck_assert_int_eq(err.code, 0);
	ck_assert_str_eq(err.text, "");
	ck_assert_str_eq(err.source, "");
	ck_assert_int_eq(err.line, 0);
	kcv_error_clear(NULL); /* no-op */
	char buf[64];
	ck_assert_str_eq(kcv_error_format(&err, buf, sizeof(buf)), "no error");
	ck_assert_str_eq(kcv_error_format(NULL, buf, sizeof(buf)), "no error");
}
END_TEST

START_TEST(test_error_first_wins)
{
	kcv_error err;
	kcv_error_clear(&err);
	int rc = KCV_ERROR(&err, KCV_ERR_IO, "a.json", NULL, "first %d", 1);
	ck_assert_int_eq(rc, KCV_ERR_IO);
	rc = KCV_ERROR(&err, KCV_ERR_INVALID, "b.json", "x.y", "second %d", 2);
	ck_assert_int_eq(rc, KCV_ERR_INVALID); /* still returns its own code */
	ck_assert_int_eq(err.code, KCV_ERR_IO);
	ck_assert_str_eq(err.source, "a.json");
	ck_assert_str_eq(err.path, "");
	ck_assert_str_eq(err.text, "first 1");
	/* the position, too, is set once */
	kcv_error_set_position(&err, 3, 7);
	kcv_error_set_position(&err, 9, 9);
	ck_assert_int_eq(err.line, 3);
	ck_assert_int_eq(err.column, 7);
	/* clearing allows a new error */
	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_NOMEM, NULL, NULL, "third");
	ck_assert_int_eq(err.code, KCV_ERR_NOMEM);
	ck_assert_str_eq(err.text, "third");
}
END_TEST

START_TEST(test_error_null_and_zero)
{
	ck_assert_int_eq(KCV_ERROR(NULL, KCV_ERR_PLUGIN, "s", "p", "ignored"), KCV_ERR_PLUGIN);
	kcv_error_set_position(NULL, 1, 1);
	kcv_error err;
	kcv_error_clear(&err);
	/* code 0 is not "no error": it becomes an internal error */
	KCV_ERROR(&err, 0, NULL, NULL, "oops");
	ck_assert_int_eq(err.code, KCV_ERR_INTERNAL);
}
END_TEST

START_TEST(test_error_origin)
{
	kcv_error err;
	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_INVALID, NULL, NULL, "x");
	ck_assert_msg(strstr(err.origin, "check_core.c:") != NULL, "origin '%s'", err.origin);
}
END_TEST

START_TEST(test_error_format)
{
	char buf[256];
	kcv_error err;

	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_INVALID, "pipelines/voc.json", NULL, "string or '}' expected near ','");
	kcv_error_set_position(&err, 14, 9);
	ck_assert_str_eq(kcv_error_format(&err, buf, sizeof(buf)),
	                 "pipelines/voc.json:14:9: string or '}' expected near ','");

	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_INVALID, "pipelines/voc.json", "/model/backbone/options/depth",
	          "expected integer in [18,152], got \"%s\"", "fifty");
	ck_assert_str_eq(kcv_error_format(&err, buf, sizeof(buf)),
	                 "pipelines/voc.json: /model/backbone/options/depth: expected integer in "
	                 "[18,152], got \"fifty\"");

	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_IO, "data/x.jpg", NULL, "cannot open");
	ck_assert_str_eq(kcv_error_format(&err, buf, sizeof(buf)), "data/x.jpg: cannot open");

	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_IO, NULL, "a.b", "bad");
	ck_assert_str_eq(kcv_error_format(&err, buf, sizeof(buf)), "a.b: bad");

	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_IO, NULL, NULL, "just text");
	ck_assert_str_eq(kcv_error_format(&err, buf, sizeof(buf)), "just text");

	/* a small buffer truncates, NUL-terminated */
	char small[8];
	memset(small, 'z', sizeof(small));
	kcv_error_format(&err, small, 5);
	ck_assert_str_eq(small, "just");
	ck_assert_int_eq(small[5], 'z');
	ck_assert_ptr_null(kcv_error_format(&err, NULL, 10));
}
END_TEST

START_TEST(test_error_newlines)
{
	kcv_error err;
	kcv_error_clear(&err);
	KCV_ERROR(&err, KCV_ERR_INVALID, NULL, NULL, "line one\nline two\r\nthree%s", "\n");
	ck_assert_str_eq(err.text, "line one line two  three ");
	ck_assert_ptr_null(strchr(err.text, '\n'));
	ck_assert_ptr_null(strchr(err.text, '\r'));
}
END_TEST

START_TEST(test_error_long_text)
{
	kcv_error err;
	kcv_error_clear(&err);
	char longs[2000];
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	KCV_ERROR(&err, KCV_ERR_INVALID, longs, longs, "%s", longs);
	ck_assert_uint_eq(strlen(err.text), sizeof(err.text) - 1);
	ck_assert_uint_eq(strlen(err.source), sizeof(err.source) - 1);
	ck_assert_uint_eq(strlen(err.path), sizeof(err.path) - 1);
	char buf[64];
	kcv_error_format(&err, buf, sizeof(buf));
	ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);
}
END_TEST

START_TEST(test_status_names)
{
	ck_assert_str_eq(kcv_status_name(KCV_OK), "success");
	ck_assert_str_eq(kcv_status_name(KCV_ERR_INVALID), "invalid input");
	ck_assert_str_eq(kcv_status_name(KCV_ERR_IO), "I/O error");
	ck_assert_str_eq(kcv_status_name(KCV_ERR_NOMEM), "out of memory");
	for (int c = KCV_ERR_CANCELLED; c <= KCV_OK; c++)
		ck_assert_str_ne(kcv_status_name(c), "unknown error");
	ck_assert_str_eq(kcv_status_name(-1000), "unknown error");
	ck_assert_str_eq(kcv_status_name(7), "unknown error");
}
END_TEST

/* ==== rng.c =============================================================== */

START_TEST(test_rng_same_seed)
{
	kcv_rng a, b;
	kcv_rng_seed(&a, 42, 1, 2, 3);
	kcv_rng_seed(&b, 42, 1, 2, 3);
	int differ = 0;
	for (int i = 0; i < 10000; i++)
		differ += kcv_rng_next(&a) != kcv_rng_next(&b);
	ck_assert_int_eq(differ, 0);
	/* a copy forks the stream */
	kcv_rng c = a;
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(kcv_rng_next(&a), kcv_rng_next(&c));
}
END_TEST

START_TEST(test_rng_streams_differ)
{
	static const uint64_t seeds[][4] = {
		{ 42, 0, 0, 0 }, { 43, 0, 0, 0 }, { 42, 1, 0, 0 }, { 42, 0, 1, 0 },
		{ 42, 0, 0, 1 }, { 42, 1, 1, 0 }, { 0, 0, 0, 0 },  { 42, 2, 0, 0 },
	};
	enum { NS = sizeof(seeds) / sizeof(seeds[0]), ND = 64 };
	uint64_t out[NS][ND];
	for (int s = 0; s < NS; s++) {
		kcv_rng r;
		kcv_rng_seed(&r, seeds[s][0], seeds[s][1], seeds[s][2], seeds[s][3]);
		for (int i = 0; i < ND; i++)
			out[s][i] = kcv_rng_next(&r);
	}
	for (int s = 0; s < NS; s++) {
		for (int t = 0; t < s; t++) {
			int same = 0;
			for (int i = 0; i < ND; i++)
				same += out[s][i] == out[t][i];
			ck_assert_msg(same == 0, "streams %d and %d share %d values", s, t, same);
		}
	}
	/* the zero seed does not give the all-zero (stuck) state */
	kcv_rng z;
	kcv_rng_seed(&z, 0, 0, 0, 0);
	ck_assert(z.s[0] | z.s[1] | z.s[2] | z.s[3]);
}
END_TEST

START_TEST(test_rng_uniform_moments)
{
	kcv_rng r;
	kcv_rng_seed(&r, 7, 0, 0, 0);
	const int n = 1000000;
	double sum = 0, sum2 = 0;
	int outside = 0;
	for (int i = 0; i < n; i++) {
		double u = kcv_rng_uniform(&r);
		outside += !(u >= 0.0 && u < 1.0);
		sum += u;
		sum2 += u * u;
	}
	ck_assert_int_eq(outside, 0);
	double mean = sum / n, var = sum2 / n - mean * mean;
	/* standard errors: 2.9e-4 for the mean, 7.5e-5 for the variance */
	ck_assert_double_eq_tol(mean, 0.5, 0.002);
	ck_assert_double_eq_tol(var, 1.0 / 12.0, 5e-4);
}
END_TEST

START_TEST(test_rng_range)
{
	kcv_rng r;
	kcv_rng_seed(&r, 8, 0, 0, 0);
	double lo = 1e9, hi = -1e9;
	for (int i = 0; i < 100000; i++) {
		double v = kcv_rng_range(&r, -3.0, 5.0);
		lo = fmin(lo, v), hi = fmax(hi, v);
	}
	ck_assert_double_ge(lo, -3.0);
	ck_assert_double_lt(hi, 5.0);
	ck_assert_double_lt(lo, -2.99);
	ck_assert_double_gt(hi, 4.99);
}
END_TEST

START_TEST(test_rng_below_chi_square)
{
	/* chi-square critical values at p = 0.001 for n - 1 degrees of freedom */
	static const struct {
		uint64_t n;
		double critical;
	} cases[] = {
		{ 2, 10.83 }, { 3, 13.82 }, { 5, 18.47 }, { 6, 20.52 }, { 7, 22.46 }, { 10, 27.88 },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint64_t n = cases[k].n;
		long counts[10] = { 0 };
		const long draws = 20000 * (long)n;
		kcv_rng r;
		kcv_rng_seed(&r, 2024, n, 0, 0);
		long outside = 0;
		for (long i = 0; i < draws; i++) {
			uint64_t v = kcv_rng_below(&r, n);
			if (v < n)
				counts[v]++;
			else
				outside++;
		}
		ck_assert_int_eq(outside, 0);
		double expected = (double)draws / (double)n, chi2 = 0;
		for (uint64_t v = 0; v < n; v++)
			chi2 += (counts[v] - expected) * (counts[v] - expected) / expected;
		ck_assert_msg(chi2 < cases[k].critical, "n=%llu: chi-square %.2f >= %.2f",
		              (unsigned long long)n, chi2, cases[k].critical);
	}
}
END_TEST

START_TEST(test_rng_below_edges)
{
	kcv_rng r;
	kcv_rng_seed(&r, 3, 0, 0, 0);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(kcv_rng_below(&r, 1), 0);
	/* a bound just above 2^63 (the worst case for rejection) */
	uint64_t big = (UINT64_C(1) << 63) + 1;
	int high = 0, outside = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t v = kcv_rng_below(&r, big);
		outside += v >= big;
		high += v >= (UINT64_C(1) << 62);
	}
	ck_assert_int_eq(outside, 0);
	ck_assert_int_gt(high, 430); /* about 500 expected (sd 16) */
	ck_assert_int_lt(high, 570);
}
END_TEST

START_TEST(test_rng_normal)
{
	kcv_rng r;
	kcv_rng_seed(&r, 11, 0, 0, 0);
	const int n = 1000000;
	double sum = 0, sum2 = 0;
	for (int i = 0; i < n; i++) {
		double v = kcv_rng_normal(&r);
		sum += v;
		sum2 += v * v;
	}
	ck_assert(isfinite(sum) && isfinite(sum2));
	double mean = sum / n, var = sum2 / n - mean * mean;
	ck_assert_double_eq_tol(mean, 0.0, 0.005);
	ck_assert_double_eq_tol(var, 1.0, 0.01);
}
END_TEST

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("error");
	tcase_add_test(tc, test_error_clear);
	tcase_add_test(tc, test_error_first_wins);
	tcase_add_test(tc, test_error_null_and_zero);
	tcase_add_test(tc, test_error_origin);
	tcase_add_test(tc, test_error_format);
	tcase_add_test(tc, test_error_newlines);
	tcase_add_test(tc, test_error_long_text);
	tcase_add_test(tc, test_status_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("rng");
	tcase_add_test(tc, test_rng_same_seed);
	tcase_add_test(tc, test_rng_streams_differ);
	tcase_add_test(tc, test_rng_uniform_moments);
	tcase_add_test(tc, test_rng_range);
	tcase_add_test(tc, test_rng_below_chi_square);
	tcase_add_test(tc, test_rng_below_edges);
	tcase_add_test(tc, test_rng_normal);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(core_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
