/* Check suite for log.c (levels, sinks, KCV_LOG) and progress.c (the
 * Keras-style progress bar). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kcv/log.h>

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
		execl("/proc/self/exe", "check_log", "--log-probe", (char *)NULL);
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

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
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
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--log-probe") == 0)
		return log_probe();
	SRunner *sr = srunner_create(log_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
