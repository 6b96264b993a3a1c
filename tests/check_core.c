/* Check suite for the small core pieces: error.c, rng.c, log.c, progress.c
 * and draw.c (with font.c). */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kcv/draw.h>
#include <kcv/error.h>
#include <kcv/log.h>
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

/* ==== log.c =============================================================== */

/* What a capturing sink saw. */
typedef struct capture {
	int calls;
	kcv_log_level level;
	char component[64];
	int component_null;
	char message[8192];
} capture;

static void capture_sink(kcv_log_level level, const char *component, const char *message,
                         void *user)
{
	capture *c = user;
	c->calls++;
	c->level = level;
	c->component_null = component == NULL;
	snprintf(c->component, sizeof(c->component), "%s", component ? component : "");
	snprintf(c->message, sizeof(c->message), "%s", message);
}

START_TEST(test_log_parse)
{
	static const struct {
		const char *text;
		kcv_log_level level;
	} ok[] = {
		{ "quiet", KCV_LOG_QUIET },     { "error", KCV_LOG_ERROR }, { "warning", KCV_LOG_WARNING },
		{ "warn", KCV_LOG_WARNING },    { "info", KCV_LOG_INFO },   { "debug", KCV_LOG_DEBUG },
		{ "DEBUG", KCV_LOG_DEBUG },     { "Warning", KCV_LOG_WARNING },
		{ "0", KCV_LOG_QUIET },         { "1", KCV_LOG_ERROR },     { "2", KCV_LOG_WARNING },
		{ "3", KCV_LOG_INFO },          { "4", KCV_LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		kcv_log_level l = (kcv_log_level)-1;
		ck_assert_msg(kcv_log_level_parse(ok[i].text, &l) == 0, "'%s'", ok[i].text);
		ck_assert_int_eq(l, ok[i].level);
	}
	static const char *const bad[] = { "", "5", "-1", "verbose", "infos", " info", "10", "inf" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kcv_log_level l = KCV_LOG_ERROR;
		ck_assert_msg(kcv_log_level_parse(bad[i], &l) == -1, "'%s'", bad[i]);
		ck_assert_int_eq(l, KCV_LOG_ERROR); /* untouched */
	}
	kcv_log_level l = KCV_LOG_ERROR;
	ck_assert_int_eq(kcv_log_level_parse(NULL, &l), -1);
}
END_TEST

START_TEST(test_log_sink_capture)
{
	capture cap = { 0 };
	kcv_log_set_sink(capture_sink, &cap);
	kcv_log_set_level(KCV_LOG_INFO);
	kcv_log("pascal_voc", KCV_LOG_INFO, "read %d images from %s\n", 5011, "trainval");
	ck_assert_int_eq(cap.calls, 1);
	ck_assert_int_eq(cap.level, KCV_LOG_INFO);
	ck_assert_str_eq(cap.component, "pascal_voc");
	ck_assert_str_eq(cap.message, "read 5011 images from trainval"); /* no newline */
	kcv_log(NULL, KCV_LOG_ERROR, "no component");
	ck_assert_int_eq(cap.calls, 2);
	ck_assert(cap.component_null);
	ck_assert_int_eq(cap.level, KCV_LOG_ERROR);
	ck_assert_str_eq(cap.message, "no component");
	/* a message longer than any stack buffer arrives whole */
	char big[5000];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kcv_log("x", KCV_LOG_WARNING, "<%s>", big);
	ck_assert_int_eq(cap.calls, 3);
	ck_assert_uint_eq(strlen(cap.message), sizeof(big) + 1);
	ck_assert_int_eq(cap.message[0], '<');
	ck_assert_int_eq(cap.message[sizeof(big)], '>');
	kcv_log_set_sink(NULL, NULL);
}
END_TEST

START_TEST(test_log_level_filter)
{
	capture cap = { 0 };
	kcv_log_set_sink(capture_sink, &cap);

	kcv_log_set_level(KCV_LOG_WARNING);
	ck_assert_int_eq(kcv_log_get_level(), KCV_LOG_WARNING);
	ck_assert(kcv_log_enabled(KCV_LOG_ERROR));
	ck_assert(kcv_log_enabled(KCV_LOG_WARNING));
	ck_assert(!kcv_log_enabled(KCV_LOG_INFO));
	ck_assert(!kcv_log_enabled(KCV_LOG_DEBUG));
	ck_assert(!kcv_log_enabled(KCV_LOG_QUIET));
	kcv_log("c", KCV_LOG_DEBUG, "debug");
	kcv_log("c", KCV_LOG_INFO, "info");
	ck_assert_int_eq(cap.calls, 0);
	kcv_log("c", KCV_LOG_WARNING, "warning");
	kcv_log("c", KCV_LOG_ERROR, "error");
	ck_assert_int_eq(cap.calls, 2);
	ck_assert_str_eq(cap.message, "error");

	kcv_log_set_level(KCV_LOG_QUIET);
	ck_assert(!kcv_log_enabled(KCV_LOG_ERROR));
	kcv_log("c", KCV_LOG_ERROR, "error");
	ck_assert_int_eq(cap.calls, 2);

	kcv_log_set_level(KCV_LOG_DEBUG);
	ck_assert(kcv_log_enabled(KCV_LOG_DEBUG));
	kcv_log("c", KCV_LOG_DEBUG, "debug");
	ck_assert_int_eq(cap.calls, 3);
	kcv_log("c", KCV_LOG_QUIET, "never printed");
	ck_assert_int_eq(cap.calls, 3);

	kcv_log_set_level(KCV_LOG_INFO);
	kcv_log_set_sink(NULL, NULL);
}
END_TEST

/* Run `fn` with stderr sent to a temporary file; return what it wrote
 * (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
	fn();
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	/* stderr wrote through the shared descriptor: measure the file */
	ck_assert_int_eq(fseek(tmp, 0, SEEK_END), 0);
	long n = ftell(tmp);
	ck_assert_int_ge(n, 0);
	rewind(tmp);
	char *text = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return text;
}

static void log_default_lines(void)
{
	kcv_log_set_sink(NULL, NULL);
	kcv_log_set_level(KCV_LOG_INFO);
	kcv_log("pascal_voc", KCV_LOG_WARNING, "%d boxes without a class", 3);
	kcv_log(NULL, KCV_LOG_ERROR, "cannot open %s", "x.jpg");
	kcv_log("loader", KCV_LOG_INFO, "4 workers\n");
	kcv_log("loader", KCV_LOG_DEBUG, "hidden");
}

START_TEST(test_log_default_sink)
{
	char *text = capture_stderr(log_default_lines);
	ck_assert_str_eq(text, "kcv: [pascal_voc] warning: 3 boxes without a class\n"
	                       "kcv: error: cannot open x.jpg\n"
	                       "kcv: [loader] 4 workers\n");
	free(text);
}
END_TEST

/* --log-probe mode of this program (see main): report the level that
 * KCV_LOG gives and how many warnings about it reached the sink. */
static int log_probe(void)
{
	capture cap = { 0 };
	kcv_log_set_sink(capture_sink, &cap);
	int warnings = 0;
	for (int i = 0; i < 3; i++) {
		int before = cap.calls;
		kcv_log_level level = kcv_log_get_level();
		(void)kcv_log_enabled(KCV_LOG_DEBUG);
		if (cap.calls > before && cap.level == KCV_LOG_WARNING && strstr(cap.message, "KCV_LOG"))
			warnings++;
		(void)level;
	}
	printf("%d %d\n", (int)kcv_log_get_level(), warnings);
	kcv_log_set_sink(NULL, NULL);
	return 0;
}

/* Run this program with KCV_LOG=value (NULL: unset) in --log-probe mode;
 * return its "level warnings" line in out. */
static void run_log_probe(const char *value, char *out, size_t size)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (value)
			setenv("KCV_LOG", value, 1);
		else
			unsetenv("KCV_LOG");
		execl("/proc/self/exe", "check_core", "--log-probe", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t got;
	while (len + 1 < size && (got = read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)got;
	out[len] = '\0';
	close(fds[0]);
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(test_log_env)
{
	static const struct {
		const char *value;
		const char *expect; /* "level warnings" */
	} cases[] = {
		{ NULL, "3 0\n" },      { "", "3 0\n" },       { "debug", "4 0\n" },
		{ "WARN", "2 0\n" },    { "error", "1 0\n" },  { "quiet", "0 0\n" },
		{ "0", "0 0\n" },       { "4", "4 0\n" },      { "info", "3 0\n" },
		{ "chatty", "3 1\n" },  { "7", "3 1\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		run_log_probe(cases[i].value, out, sizeof(out));
		ck_assert_msg(strcmp(out, cases[i].expect) == 0, "KCV_LOG=%s: got '%s', expected '%s'",
		              cases[i].value ? cases[i].value : "(unset)", out, cases[i].expect);
	}
}
END_TEST

/* ==== progress.c =========================================================== */

START_TEST(test_progress_format)
{
	static const struct {
		const char *label;
		uint64_t done, total;
		double elapsed;
		int width;
		const char *suffix;
		const char *expect;
	} cases[] = {
		{ "train", 37, 120, 12.0, 30, "loss: 1.2345",
		  "train  37/120 [========>.....................] - ETA: 0:00:27 - 3.08/s - loss: 1.2345" },
		{ "train", 413, 1000, 10.0, 20, "x",
		  "train  413/1000 [=======>............] - ETA: 0:00:14 - 41.3/s - x" },
		{ "eval", 120, 120, 31.0, 30, NULL,
		  "eval 120/120 [==============================] - elapsed: 0:00:31 - 3.87/s" },
		{ "eval", 0, 5, 0.0, 10, NULL, "eval 0/5 [..........] - ETA: ?" },
		{ "eval", 0, 10, 5.0, 10, "", "eval  0/10 [..........] - ETA: ? - 0.00/s" },
		{ "", 5000, 10000, 3723.0, 0, NULL, " 5000/10000 - ETA: 1:02:03 - 1.34/s" },
		{ "train", 37, 0, 12.0, 30, NULL, "train 37 done - elapsed: 0:00:12 - 3.08/s" },
		{ NULL, 50000, 0, 10.0, 30, "loss: 0.5", "50000 done - elapsed: 0:00:10 - 5000/s - loss: 0.5" },
		{ "t", 7, 5, 1.0, 4, NULL, "t 7/5 [====] - elapsed: 0:00:01 - 7.00/s" },
		{ "t", 1, 3, 1.0, 3, NULL, "t 1/3 [>..] - ETA: 0:00:02 - 1.00/s" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[256];
		kcv_progress_format(buf, sizeof(buf), cases[i].label, cases[i].done, cases[i].total,
		                    cases[i].elapsed, cases[i].width, cases[i].suffix);
		ck_assert_msg(strcmp(buf, cases[i].expect) == 0, "case %zu:\n got '%s'\nwant '%s'", i,
		              buf, cases[i].expect);
	}
}
END_TEST

START_TEST(test_progress_format_truncates)
{
	char full[256], small[16];
	kcv_progress_format(full, sizeof(full), "train", 37, 120, 12.0, 30, "loss: 1.2345");
	for (size_t size = 1; size <= 12; size++) {
		memset(small, '#', sizeof(small));
		kcv_progress_format(small, size, "train", 37, 120, 12.0, 30, "loss: 1.2345");
		ck_assert_uint_eq(strlen(small), size - 1);
		ck_assert(strncmp(small, full, size - 1) == 0);
		for (size_t k = size; k < sizeof(small); k++)
			ck_assert_int_eq(small[k], '#');
	}
	kcv_progress_format(NULL, 10, "x", 1, 2, 1.0, 5, NULL); /* no crash */
	kcv_progress_format(small, 0, "x", 1, 2, 1.0, 5, NULL);
	/* a huge bar width or ETA stays bounded */
	char big[2048];
	kcv_progress_format(big, sizeof(big), "x", 1, UINT64_MAX, 1e-9, 100000, NULL);
	ck_assert_uint_lt(strlen(big), 400);
}
END_TEST

/* The whole content of a stream. Caller frees. */
static char *stream_text(FILE *f)
{
	fflush(f);
	long n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	char *text = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	return text;
}

static int count_char(const char *s, char c)
{
	int n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

START_TEST(test_progress_plain)
{
	unsetenv("KCV_PROGRESS");
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	kcv_progress *p = kcv_progress_new("train", 10, f); /* a file: plain mode */
	ck_assert_ptr_nonnull(p);
	for (uint64_t i = 1; i <= 10; i++)
		kcv_progress_update(p, i, "loss: 1"); /* within 10 s: no line */
	kcv_progress_finish(p, "loss: 0.5");
	kcv_progress_finish(p, "again"); /* once only */
	kcv_progress_update(p, 11, NULL); /* ignored after finish */
	char *text = stream_text(f);
	ck_assert_int_eq(count_char(text, '\n'), 1);
	ck_assert_ptr_null(strchr(text, '\r'));
	ck_assert_ptr_null(strchr(text, '\033'));
	static const char start[] = "train 10/10 [==============================] - elapsed: 0:00:00";
	ck_assert_msg(strncmp(text, start, strlen(start)) == 0, "got '%s'", text);
	ck_assert_ptr_nonnull(strstr(text, " - loss: 0.5\n"));
	free(text);
	kcv_progress_free(p);
	fclose(f);
	kcv_progress_free(NULL);
}
END_TEST

START_TEST(test_progress_plain_interval)
{
	unsetenv("KCV_PROGRESS");
	FILE *f = tmpfile();
	kcv_progress *p = kcv_progress_new("step", 0, f);
	kcv_progress_set_mode(p, 0, 0.01);
	kcv_progress_update(p, 1, NULL);
	usleep(20000);
	kcv_progress_update(p, 2, NULL); /* due */
	kcv_progress_update(p, 3, NULL); /* too soon */
	usleep(20000);
	kcv_progress_update(p, 4, NULL); /* due */
	kcv_progress_finish(p, NULL);
	char *text = stream_text(f);
	ck_assert_int_eq(count_char(text, '\n'), 3);
	ck_assert(strncmp(text, "step 2 done - ", 14) == 0);
	ck_assert_ptr_nonnull(strstr(text, "\nstep 4 done - "));
	free(text);
	kcv_progress_free(p);
	fclose(f);
}
END_TEST

START_TEST(test_progress_live)
{
	unsetenv("KCV_PROGRESS");
	FILE *f = tmpfile();
	kcv_progress *p = kcv_progress_new("train", 100, f);
	kcv_progress_set_mode(p, 1, 0); /* live, default 0.1 s */
	kcv_progress_update(p, 1, NULL); /* the first is drawn at once */
	for (uint64_t i = 2; i < 50; i++)
		kcv_progress_update(p, i, NULL); /* within 0.1 s: not drawn */
	kcv_progress_finish(p, "done");
	char *text = stream_text(f);
	ck_assert_int_eq(count_char(text, '\r'), 2);
	ck_assert_int_eq(count_char(text, '\n'), 1);
	static const char first[] = "\rtrain   1/100 [.....";
	ck_assert(strncmp(text, first, strlen(first)) == 0);
	ck_assert_ptr_nonnull(strstr(text, "\033[K\rtrain  49/100 ["));
	size_t n = strlen(text);
	ck_assert(n > 5 && strcmp(text + n - 4, "\033[K\n") == 0);
	ck_assert_ptr_nonnull(strstr(text, " - done\033[K\n"));
	free(text);
	kcv_progress_free(p);
	fclose(f);
}
END_TEST

START_TEST(test_progress_env)
{
	FILE *f = tmpfile();
	setenv("KCV_PROGRESS", "live", 1);
	kcv_progress *p = kcv_progress_new("a", 2, f);
	kcv_progress_update(p, 1, NULL);
	kcv_progress_free(p);
	char *text = stream_text(f);
	ck_assert_int_eq(text[0], '\r'); /* live although f is a file */
	free(text);
	fclose(f);

	f = tmpfile();
	setenv("KCV_PROGRESS", "plain", 1);
	p = kcv_progress_new("a", 2, f);
	kcv_progress_update(p, 1, NULL);
	kcv_progress_finish(p, NULL);
	kcv_progress_free(p);
	text = stream_text(f);
	ck_assert(strncmp(text, "a 1/2 ", 6) == 0);
	ck_assert_int_eq(count_char(text, '\n'), 1);
	free(text);
	fclose(f);
	unsetenv("KCV_PROGRESS");
}
END_TEST

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

	tc = tcase_create("log");
	tcase_add_test(tc, test_log_parse);
	tcase_add_test(tc, test_log_sink_capture);
	tcase_add_test(tc, test_log_level_filter);
	tcase_add_test(tc, test_log_default_sink);
	tcase_add_test(tc, test_log_env);
	suite_add_tcase(s, tc);

	tc = tcase_create("progress");
	tcase_add_test(tc, test_progress_format);
	tcase_add_test(tc, test_progress_format_truncates);
	tcase_add_test(tc, test_progress_plain);
	tcase_add_test(tc, test_progress_plain_interval);
	tcase_add_test(tc, test_progress_live);
	tcase_add_test(tc, test_progress_env);
	suite_add_tcase(s, tc);

	tc = tcase_create("draw");
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

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--log-probe") == 0)
		return log_probe();
	SRunner *sr = srunner_create(core_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
