/* The TensorBoard event writer (core/tb_events.c, internal to libkcv and
 * compiled into this program): CRC-32C against published vectors (RFC 3720
 * B.4, the usual "123456789", records of a TensorFlow-written event file),
 * the TFRecord framing re-read in C, every
 * byte of hand-encoded Event protocol buffers, the file name, and errors.
 *
 * `check_tb DIR` instead writes DIR/train and DIR/validation event files with
 * the scalars that tests/tb_read.py (tests/tensorboard.sh) expects, prints
 * their paths and exits: the independent reader checks them with protobuf. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/tb-impl.h"
#include "../core/util-impl.h"

static char tmp[64];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/kcv-tb-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s'; rm -rf '%s'", tmp, tmp);
	ck_assert_int_eq(system(cmd), 0);
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- CRC-32C ------------------------------------------------------------------ */

START_TEST(test_crc_vectors)
{
	uint8_t buf[32];
	ck_assert_uint_eq(kcv_tb_crc32c("", 0), 0);
	ck_assert_uint_eq(kcv_tb_crc32c("123456789", 9), 0xE3069283u);
	/* RFC 3720 B.4 (the RFC prints the CRC bytes in wire order) */
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(kcv_tb_crc32c(buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(kcv_tb_crc32c(buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(kcv_tb_crc32c(buf, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(kcv_tb_crc32c(buf, 32), 0x113FDB5Cu);
}
END_TEST

START_TEST(test_crc_mask)
{
	ck_assert_uint_eq(kcv_tb_crc_mask(0), 0xa282ead8u);
	/* rotate right by 15, add the constant (mod 2^32): by hand */
	ck_assert_uint_eq(kcv_tb_crc_mask(0x12345678u), 0x4f730f40u);
	ck_assert_uint_eq(kcv_tb_crc_mask(0xE3069283u), 0xc78ab0e5u);
}
END_TEST

/* Two records of an event file written by TensorFlow
 * (tf.summary.scalar("accuracy", 0.99, step=77)), as quoted in TensorBoard's
 * record reader tests: the masked CRCs of their lengths and data. */
START_TEST(test_crc_tensorflow_records)
{
	static const uint8_t rec1[] = "\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0d"
	                              "brain.Event:2";
	static const uint8_t rec2[] = "\x09\xc4\x05\xb7\x3d\x99\xd6\xd7\x41"
	                              "\x10\x4d\x2a\x25"
	                              "\x0a\x23\x0a\x08"
	                              "accuracy"
	                              "\x42\x0a\x08\x01\x12\x00\x22\x04\xa4\x70\x7d\x3f\x4a"
	                              "\x0b\x0a\x09\x0a\x07"
	                              "scalars";
	static const uint8_t len1[8] = {24}, len2[8] = {50};
	ck_assert_uint_eq(sizeof(rec1) - 1, 24);
	ck_assert_uint_eq(sizeof(rec2) - 1, 50);
	ck_assert_uint_eq(kcv_tb_crc_mask(kcv_tb_crc32c(len1, 8)), 0x224b7fa3u);
	ck_assert_uint_eq(kcv_tb_crc_mask(kcv_tb_crc32c(rec1, 24)), 0xab364b12u);
	ck_assert_uint_eq(kcv_tb_crc_mask(kcv_tb_crc32c(len2, 8)), 0xec561924u);
	ck_assert_uint_eq(kcv_tb_crc_mask(kcv_tb_crc32c(rec2, 50)), 0x33645ba5u);
}
END_TEST

/* ---- framing and encoding ------------------------------------------------------ */

typedef struct record {
	const uint8_t *data;
	size_t size;
} record;

/* Split a whole event file into records, checking lengths and both CRCs. */
static size_t read_records(const uint8_t *buf, size_t size, record *out, size_t max)
{
	size_t n = 0, off = 0;
	while (off < size) {
		ck_assert_msg(size - off >= 12, "truncated record header at %zu", off);
		uint64_t len = get_le(buf + off, 8);
		uint32_t len_crc = (uint32_t)get_le(buf + off + 8, 4);
		ck_assert_uint_eq(len_crc, kcv_tb_crc_mask(kcv_tb_crc32c(buf + off, 8)));
		ck_assert_msg(size - off - 12 >= len + 4, "truncated record at %zu", off);
		const uint8_t *data = buf + off + 12;
		uint32_t data_crc = (uint32_t)get_le(data + len, 4);
		ck_assert_uint_eq(data_crc, kcv_tb_crc_mask(kcv_tb_crc32c(data, len)));
		ck_assert_uint_lt(n, max);
		out[n].data = data;
		out[n].size = len;
		n++;
		off += 12 + len + 4;
	}
	ck_assert_uint_eq(off, size);
	return n;
}

static uint8_t *slurp(const char *path, size_t *size)
{
	kcv_error err = {0};
	uint8_t *buf = (uint8_t *)kcv_read_file(path, size, &err);
	ck_assert_msg(buf != NULL, "%s: %s", err.source, err.text);
	return buf;
}

/* The first event: {wall_time in [t0, t1], file_version "brain.Event:2"}. */
static void check_file_version(const record *r, double t0, double t1)
{
	static const char tail[] = "\x1a\x0d"
	                           "brain.Event:2";
	/* the header every TensorFlow event file starts with: length 24 and its
	 * masked CRC a3 7f 4b 22 */
	static const uint8_t header[] = "\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7f\x4b\x22";
	ck_assert_mem_eq(r->data - 12, header, 12);
	ck_assert_uint_eq(r->size, 9 + 15);
	ck_assert_uint_eq(r->data[0], 0x09);
	uint64_t bits = get_le(r->data + 1, 8);
	double wall;
	memcpy(&wall, &bits, sizeof(wall));
	ck_assert_double_ge(wall, t0);
	ck_assert_double_le(wall, t1);
	ck_assert_mem_eq(r->data + 9, tail, 15);
}

#define META "\x4a\x0b\x0a\x09\x0a\x07scalars"

START_TEST(test_event_bytes)
{
	kcv_error err = {0};
	double t0 = unix_now();
	kcv_tb_writer *w = kcv_tb_writer_new(tmp, &err);
	double t1 = unix_now();
	ck_assert_msg(w != NULL, "%s", err.text);
	char *path = kcv_strdup(kcv_tb_writer_path(w));
	/* first "loss": metadata; wall 1234.5 = 0x40934a0000000000 */
	ck_assert_int_eq(kcv_tb_writer_add_scalar_at(w, "loss", 3, 0.5, 1234.5, &err), KCV_OK);
	/* second "loss": no metadata; step 300 = varint ac 02 */
	ck_assert_int_eq(kcv_tb_writer_add_scalar_at(w, "loss", 300, -2.0, 1234.5, &err), KCV_OK);
	/* step 0 is left out (proto3 default); 0.1f = 0x3dcccccd */
	ck_assert_int_eq(kcv_tb_writer_add_scalar_at(w, "lr", 0, 0.1, 0.0, &err), KCV_OK);
	/* step -1: ten-byte varint */
	ck_assert_int_eq(kcv_tb_writer_add_scalar_at(w, "lr", -1, 1.0, 0.0, &err), KCV_OK);
	ck_assert_int_eq(kcv_tb_writer_flush(w, &err), KCV_OK);
	kcv_tb_writer_free(w);

	static const uint8_t e1[] = "\x09\x00\x00\x00\x00\x00\x4a\x93\x40"
	                            "\x10\x03"
	                            "\x2a\x1a\x0a\x18"
	                            "\x0a\x04loss"
	                            "\x15\x00\x00\x00\x3f" META;
	static const uint8_t e2[] = "\x09\x00\x00\x00\x00\x00\x4a\x93\x40"
	                            "\x10\xac\x02"
	                            "\x2a\x0d\x0a\x0b"
	                            "\x0a\x04loss"
	                            "\x15\x00\x00\x00\xc0";
	static const uint8_t e3[] = "\x09\x00\x00\x00\x00\x00\x00\x00\x00"
	                            "\x2a\x18\x0a\x16"
	                            "\x0a\x02lr"
	                            "\x15\xcd\xcc\xcc\x3d" META;
	static const uint8_t e4[] = "\x09\x00\x00\x00\x00\x00\x00\x00\x00"
	                            "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
	                            "\x2a\x0b\x0a\x09"
	                            "\x0a\x02lr"
	                            "\x15\x00\x00\x80\x3f";
	const struct {
		const uint8_t *bytes;
		size_t size;
	} want[] = {{e1, sizeof(e1) - 1}, {e2, sizeof(e2) - 1}, {e3, sizeof(e3) - 1},
	            {e4, sizeof(e4) - 1}};
	ck_assert_uint_eq(want[0].size, 39);
	ck_assert_uint_eq(want[1].size, 27);
	ck_assert_uint_eq(want[2].size, 35);
	ck_assert_uint_eq(want[3].size, 33);

	size_t size;
	uint8_t *buf = slurp(path, &size);
	record r[8];
	size_t n = read_records(buf, size, r, 8);
	ck_assert_uint_eq(n, 5);
	check_file_version(&r[0], t0, t1);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_msg(r[i + 1].size == want[i].size, "event %zu: %zu bytes, expected %zu", i + 1,
		              r[i + 1].size, want[i].size);
		ck_assert_mem_eq(r[i + 1].data, want[i].bytes, want[i].size);
	}
	/* the second record starts after 12 + 24 + 4 bytes with the length 39 */
	ck_assert_uint_eq(get_le(buf + 40, 8), 39);
	free(buf);
	free(path);
}
END_TEST

/* Long tags (multi-byte lengths, buffer growth), wall time = now, UTF-8. */
START_TEST(test_long_tag)
{
	kcv_error err = {0};
	kcv_tb_writer *w = kcv_tb_writer_new(tmp, &err);
	ck_assert_msg(w != NULL, "%s", err.text);
	char tag[1001];
	memset(tag, 'x', 1000);
	tag[1000] = '\0';
	double t0 = unix_now();
	ck_assert_int_eq(kcv_tb_writer_add_scalar(w, tag, 7, 2.5, &err), KCV_OK);
	ck_assert_int_eq(kcv_tb_writer_add_scalar(w, "caf\xc3\xa9 \xf0\x9f\x98\x80", 8, 1.0, &err),
	                 KCV_OK);
	double t1 = unix_now();
	size_t size;
	uint8_t *buf = slurp(kcv_tb_writer_path(w), &size);
	record r[4];
	ck_assert_uint_eq(read_records(buf, size, r, 4), 3);
	/* value: tag 1 + 2 + 1000, simple_value 5, metadata 13 = 1021 (fd 07);
	 * summary 1 + 2 + 1021 = 1024 (80 08); event 9 + 2 + 1 + 2 + 1024 */
	ck_assert_uint_eq(r[1].size, 1038);
	uint64_t bits = get_le(r[1].data + 1, 8);
	double wall;
	memcpy(&wall, &bits, sizeof(wall));
	ck_assert_double_ge(wall, t0);
	ck_assert_double_le(wall, t1);
	static const uint8_t head[] = "\x10\x07\x2a\x80\x08\x0a\xfd\x07\x0a\xe8\x07";
	ck_assert_mem_eq(r[1].data + 9, head, sizeof(head) - 1);
	ck_assert_mem_eq(r[1].data + 20, tag, 1000);
	free(buf);
	kcv_tb_writer_free(w);
}
END_TEST

/* ---- file names ------------------------------------------------------------------ */

START_TEST(test_file_name)
{
	kcv_error err = {0};
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/logs/train", tmp); /* created, parents too */
	time_t t0 = time(NULL);
	kcv_tb_writer *a = kcv_tb_writer_new(dir, &err);
	kcv_tb_writer *b = kcv_tb_writer_new(dir, &err);
	time_t t1 = time(NULL);
	ck_assert_msg(a && b, "%s", err.text);
	char host[256];
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	const kcv_tb_writer *ws[2] = {a, b};
	long long secs[2];
	int counter[2];
	for (int i = 0; i < 2; i++) {
		const char *p = kcv_tb_writer_path(ws[i]);
		size_t dl = strlen(dir);
		ck_assert_msg(strncmp(p, dir, dl) == 0 && p[dl] == '/', "%s", p);
		const char *name = p + dl + 1;
		char want[512];
		int used = 0;
		ck_assert_int_eq(sscanf(name, "events.out.tfevents.%lld.%n", &secs[i], &used), 1);
		ck_assert_int_ge(secs[i], (long long)t0);
		ck_assert_int_le(secs[i], (long long)t1);
		snprintf(want, sizeof(want), "%s.%ld.", host, (long)getpid());
		ck_assert_msg(strncmp(name + used, want, strlen(want)) == 0, "%s", name);
		counter[i] = atoi(name + used + strlen(want));
		struct stat st;
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert(S_ISREG(st.st_mode));
	}
	ck_assert_str_ne(kcv_tb_writer_path(a), kcv_tb_writer_path(b));
	ck_assert_int_eq(counter[0], 0);
	ck_assert_int_eq(counter[1], secs[0] == secs[1] ? 1 : 0);
	kcv_tb_writer_free(a);
	kcv_tb_writer_free(b);
	kcv_tb_writer_free(NULL);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------- */

START_TEST(test_error_folder)
{
	kcv_error err = {0};
	char file[128], dir[160];
	snprintf(file, sizeof(file), "%s/afile", tmp);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(dir, sizeof(dir), "%s/logs", file);
	ck_assert_ptr_null(kcv_tb_writer_new(dir, &err));
	ck_assert_int_eq(err.code, KCV_ERR_IO);
	ck_assert_str_eq(err.source, dir);
	char msg[1024];
	kcv_error_format(&err, msg, sizeof(msg));
	ck_assert_msg(strstr(msg, dir) && strstr(msg, "cannot create folder"), "%s", msg);

	kcv_error_clear(&err);
	ck_assert_ptr_null(kcv_tb_writer_new("", &err));
	ck_assert_int_eq(err.code, KCV_ERR_INVALID);
}
END_TEST

/* A folder that exists but takes no files: the error names the event file. */
static void expect_create_error(const char *dir)
{
	kcv_error err = {0};
	ck_assert_ptr_null(kcv_tb_writer_new(dir, &err));
	ck_assert_int_eq(err.code, KCV_ERR_IO);
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%s/events.out.tfevents.", dir);
	ck_assert_msg(strncmp(err.source, prefix, strlen(prefix)) == 0, "%s", err.source);
	ck_assert_msg(strstr(err.text, "cannot create event file"), "%s", err.text);
}

START_TEST(test_error_unwritable)
{
	struct stat st;
	/* /proc takes no new files, even for root */
	if (stat("/proc", &st) == 0 && S_ISDIR(st.st_mode))
		expect_create_error("/proc");
	if (geteuid() != 0) { /* permissions bind everyone else */
		char dir[128];
		snprintf(dir, sizeof(dir), "%s/ro", tmp);
		ck_assert_int_eq(mkdir(dir, 0555), 0);
		expect_create_error(dir);
	}
}
END_TEST

START_TEST(test_error_tags)
{
	kcv_error err = {0};
	kcv_tb_writer *w = kcv_tb_writer_new(tmp, &err);
	ck_assert_msg(w != NULL, "%s", err.text);
	const char *bad[] = {"", NULL, "\xc3\x28", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
	                     "ab\xe2\x82"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kcv_error_clear(&err);
		ck_assert_int_eq(kcv_tb_writer_add_scalar(w, bad[i], 1, 1.0, &err), KCV_ERR_INVALID);
		ck_assert_str_eq(err.source, kcv_tb_writer_path(w));
	}
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_tb_writer_flush(w, &err), KCV_OK);
	struct stat st;
	ck_assert_int_eq(stat(kcv_tb_writer_path(w), &st), 0);
	ck_assert_int_eq(st.st_size, 12 + 24 + 4); /* the file_version event only */
	kcv_tb_writer_free(w);
}
END_TEST

static Suite *tb_suite(void)
{
	Suite *s = suite_create("tb");
	TCase *tc = tcase_create("crc32c");
	tcase_add_test(tc, test_crc_vectors);
	tcase_add_test(tc, test_crc_mask);
	tcase_add_test(tc, test_crc_tensorflow_records);
	suite_add_tcase(s, tc);

	tc = tcase_create("events");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_event_bytes);
	tcase_add_test(tc, test_long_tag);
	tcase_add_test(tc, test_file_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_error_folder);
	tcase_add_test(tc, test_error_unwritable);
	tcase_add_test(tc, test_error_tags);
	suite_add_tcase(s, tc);
	return s;
}

/* ---- `check_tb DIR`: files for tests/tb_read.py ---------------------------------- */

/* Keep in step with EXPECTED in tests/tb_read.py. */
static const struct {
	const char *run, *tag;
	int64_t step;
	double value;
} scalars[] = {
	{"train", "epoch_loss", 0, 1.75},
	{"train", "epoch_learning_rate", 0, 0.1},
	{"validation", "epoch_loss", 0, 1.9},
	{"validation", "epoch_MaP", 0, 0.0125},
	{"train", "epoch_loss", 1, 1.25},
	{"train", "epoch_learning_rate", 1, 0.1},
	{"validation", "epoch_loss", 1, 1.4},
	{"validation", "epoch_MaP", 1, 0.25},
	{"train", "epoch_loss", 2, 0.875},
	{"train", "epoch_learning_rate", 2, 0.01},
	{"validation", "epoch_loss", 2, 1.05},
	{"validation", "epoch_MaP", 2, 0.3333333333333333},
	{"train", "edge/large_step", 1099511627776, 3.0},
	{"train", "edge/negative_step", -7, -1.5},
	{"train", "edge/subnormal", 1, 1e-45},
	{"train", "edge/overflow", 2, 1e39},
	{"train", "edge/inf", 3, INFINITY},
	{"train", "edge/minus_inf", 4, -INFINITY},
	{"train", "edge/nan", 5, NAN},
	{"train", "edge/minus_zero", 6, -0.0},
	{"train", "edge/gr\xc3\xb6\xc3\x9f"
	          "e \xe2\x9c\x93",
	 7, 42.0},
};

static int write_runs(const char *dir)
{
	kcv_error err = {0};
	char path[4096];
	snprintf(path, sizeof(path), "%s/train", dir);
	kcv_tb_writer *train = kcv_tb_writer_new(path, &err);
	snprintf(path, sizeof(path), "%s/validation", dir);
	kcv_tb_writer *val = train ? kcv_tb_writer_new(path, &err) : NULL;
	int ok = val != NULL;
	/* a 300-character tag (two-byte lengths) */
	char long_tag[306] = "edge/";
	memset(long_tag + 5, 'x', 300);
	long_tag[305] = '\0';
	for (size_t i = 0; ok && i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		kcv_tb_writer *w = strcmp(scalars[i].run, "train") == 0 ? train : val;
		ok = kcv_tb_writer_add_scalar(w, scalars[i].tag, scalars[i].step, scalars[i].value,
		                              &err) == KCV_OK;
	}
	ok = ok && kcv_tb_writer_add_scalar(train, long_tag, 8, 0.5, &err) == KCV_OK;
	ok = ok && kcv_tb_writer_flush(train, &err) == KCV_OK &&
	     kcv_tb_writer_flush(val, &err) == KCV_OK;
	if (ok)
		printf("%s\n%s\n", kcv_tb_writer_path(train), kcv_tb_writer_path(val));
	else
		fprintf(stderr, "check_tb: %s\n", kcv_error_format(&err, path, sizeof(path)));
	kcv_tb_writer_free(train);
	kcv_tb_writer_free(val);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	if (argc == 2)
		return write_runs(argv[1]);
	SRunner *sr = srunner_create(tb_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
