/* Check suite for core/safetensors.c: writer/reader round trip, metadata,
 * F16/BF16 conversion, one test per validation rule, a file written by
 * Python. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kcv/safetensors.h>

#define PYTHON "/usr/bin/python3"

/* ---- helpers --------------------------------------------------------------- */

typedef struct tmpdir {
	char path[512];
} tmpdir;

static void tmp_new(tmpdir *t)
{
	const char *base = getenv("TMPDIR");
	snprintf(t->path, sizeof(t->path), "%s/kcv-st-XXXXXX", base && base[0] ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(t->path));
}

static void tmp_free(tmpdir *t)
{
	DIR *d = opendir(t->path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", t->path, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(t->path);
}

static void tmp_file(const tmpdir *t, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", t->path, name);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	if (n)
		ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* A safetensors file from a header string and a data area. */
static void write_st(const char *path, const char *header, const void *data, size_t ndata)
{
	size_t hlen = strlen(header);
	size_t total = 8 + hlen + ndata;
	unsigned char *buf = malloc(total ? total : 1);
	ck_assert_ptr_nonnull(buf);
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	memcpy(buf + 8, header, hlen);
	if (ndata)
		memcpy(buf + 8 + hlen, data, ndata);
	write_bytes(path, buf, total);
	free(buf);
}

static uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Open `header`+`ndata` zero bytes under name "weights.safetensors" and
 * expect failure; return the formatted message in msg. */
static void expect_open_error(const char *header, size_t ndata, char *msg, size_t size)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "weights.safetensors", path, sizeof(path));
	unsigned char *zeros = calloc(ndata ? ndata : 1, 1);
	write_st(path, header, zeros, ndata);
	free(zeros);
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(err.code, KCV_ERR_INVALID);
	ck_assert_str_eq(err.source, path);
	kcv_error_format(&err, msg, size);
	ck_assert_ptr_null(strchr(msg, '\n'));
	tmp_free(&t);
}

/* The error names the file (checked above) and every string in `needles`. */
#define CHECK_ERR(header, ndata, ...)                                                \
	do {                                                                             \
		char msg_[2048];                                                             \
		expect_open_error((header), (ndata), msg_, sizeof(msg_));                   \
		const char *needles_[] = {__VA_ARGS__, NULL};                                \
		ck_assert_ptr_nonnull(strstr(msg_, "weights.safetensors: "));               \
		for (int n_ = 0; needles_[n_]; n_++)                                         \
			ck_assert_msg(strstr(msg_, needles_[n_]) != NULL,                        \
			              "message \"%s\" lacks \"%s\"", msg_, needles_[n_]);         \
	} while (0)

/* ---- round trip ------------------------------------------------------------ */

START_TEST(test_round_trip)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "model.safetensors", path, sizeof(path));

	float b[6] = {1.0f, -2.5f, 3.14159265f, 1e-40f /* subnormal */, -0.0f, 65504.0f};
	float a[3] = {INFINITY, -INFINITY, u2f(0x7fc12345u) /* NaN with payload */};
	float s = 42.0f;
	int64_t db[2] = {2, 3}, da[1] = {3}, de[2] = {0, 4};
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights_writer *wr = kcv_weights_writer_new(&err);
	ck_assert_ptr_nonnull(wr);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "b.weight", b, 2, db, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "a.bias", a, 1, da, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "scalar", &s, 0, NULL, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "empty", NULL, 2, de, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_save(wr, path, &err), KCV_OK);
	kcv_weights_writer_free(wr);

	/* raw layout: data 8-byte aligned, tensors in name order */
	size_t fsize = 0;
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	unsigned char raw[4096];
	fsize = fread(raw, 1, sizeof(raw), f);
	fclose(f);
	uint64_t hlen = 0;
	for (int i = 0; i < 8; i++)
		hlen |= (uint64_t)raw[i] << (8 * i);
	ck_assert_uint_eq((8 + hlen) % 8, 0);
	ck_assert_uint_eq(fsize, 8 + hlen + (6 + 3 + 1) * 4);
	char hdr[4096];
	memcpy(hdr, raw + 8, hlen);
	hdr[hlen] = '\0';
	ck_assert_int_eq(hdr[0], '{');
	const char *pa = strstr(hdr, "\"a.bias\""), *pb = strstr(hdr, "\"b.weight\"");
	const char *pe = strstr(hdr, "\"empty\""), *ps = strstr(hdr, "\"scalar\"");
	ck_assert(pa && pb && pe && ps && pa < pb && pb < pe && pe < ps);
	ck_assert_ptr_null(strstr(hdr, "__metadata__")); /* none set */
	/* a.bias comes first in the data area */
	ck_assert_int_eq(memcmp(raw + 8 + hlen, a, sizeof(a)), 0);

	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_msg(w != NULL, "%s", err.text);
	ck_assert_str_eq(kcv_weights_path(w), path);
	ck_assert_uint_eq(kcv_weights_count(w), 4);
	const char *names[4] = {"a.bias", "b.weight", "empty", "scalar"};
	for (size_t i = 0; i < 4; i++) {
		kcv_tensor_info info;
		ck_assert_int_eq(kcv_weights_info_at(w, i, &info), KCV_OK);
		ck_assert_str_eq(info.name, names[i]);
		ck_assert_str_eq(info.dtype, "F32");
	}
	kcv_tensor_info info;
	ck_assert_int_ne(kcv_weights_info_at(w, 4, &info), KCV_OK);
	ck_assert_int_eq(kcv_weights_find(w, "b.weight", &info), 0);
	ck_assert_int_eq(info.rank, 2);
	ck_assert_int_eq(info.dims[0], 2);
	ck_assert_int_eq(info.dims[1], 3);
	ck_assert_uint_eq(info.numel, 6);
	ck_assert_int_eq(kcv_weights_find(w, "scalar", &info), 0);
	ck_assert_int_eq(info.rank, 0);
	ck_assert_uint_eq(info.numel, 1);
	ck_assert_int_eq(kcv_weights_find(w, "empty", &info), 0);
	ck_assert_uint_eq(info.numel, 0);
	ck_assert_int_eq(kcv_weights_find(w, "nope", &info), -1);
	ck_assert_int_eq(kcv_weights_find(w, "b.weigh", NULL), -1);

	float rb[6], ra[3], rs;
	ck_assert_int_eq(kcv_weights_read_f32(w, "b.weight", rb, 6, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_read_f32(w, "a.bias", ra, 3, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_read_f32(w, "scalar", &rs, 1, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_read_f32(w, "empty", NULL, 0, &err), KCV_OK);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(f2u(rb[i]), f2u(b[i]));
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(f2u(ra[i]), f2u(a[i]));
	ck_assert_uint_eq(f2u(rs), f2u(s));
	ck_assert_ptr_null(kcv_weights_metadata(w, "anything"));
	kcv_weights_free(w);
	kcv_weights_free(NULL);
	tmp_free(&t);
}
END_TEST

/* Saving over an existing file replaces it and leaves no temporary file. */
START_TEST(test_overwrite_atomic)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "ckpt.safetensors", path, sizeof(path));
	write_bytes(path, "old", 3);
	float x[5] = {1, 2, 3, 4, 5};
	int64_t d = 5;
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights_writer *wr = kcv_weights_writer_new(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "x", x, 1, &d, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_save(wr, path, &err), KCV_OK);
	kcv_weights_writer_free(wr);
	DIR *dir = opendir(t.path);
	int files = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			files++;
	closedir(dir);
	ck_assert_int_eq(files, 1);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_ptr_nonnull(w);
	float y[5];
	ck_assert_int_eq(kcv_weights_read_f32(w, "x", y, 5, &err), KCV_OK);
	ck_assert_int_eq(memcmp(x, y, sizeof(x)), 0);
	kcv_weights_free(w);

	/* an unwritable destination names the file */
	char bad[1100];
	snprintf(bad, sizeof(bad), "%s/no/such/dir/x.safetensors", t.path);
	wr = kcv_weights_writer_new(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "x", x, 1, &d, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_save(wr, bad, &err), KCV_ERR_IO);
	ck_assert_str_eq(err.source, bad);
	kcv_weights_writer_free(wr);
	tmp_free(&t);
}
END_TEST

START_TEST(test_writer_errors)
{
	float x[2] = {0, 0};
	int64_t d = 2, neg = -1;
	kcv_error err;
	kcv_weights_writer *wr = kcv_weights_writer_new(NULL);
	ck_assert_ptr_nonnull(wr);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "x", x, 1, &d, NULL), KCV_OK);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "x", x, 1, &d, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "tensor x: added twice"));
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "", x, 1, &d, &err), KCV_ERR_INVALID);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "__metadata__", x, 1, &d, &err),
	                 KCV_ERR_INVALID);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "bad\xff", x, 1, &d, &err), KCV_ERR_INVALID);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "n", x, 1, &neg, &err), KCV_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.text, "tensor n: dimension 0 is negative"));
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "r", x, KCV_ST_MAX_DIMS + 1, &d, &err),
	                 KCV_ERR_INVALID);
	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_writer_set_metadata(wr, "k", "bad\xff", &err),
	                 KCV_ERR_INVALID);
	kcv_weights_writer_free(wr);
	kcv_weights_writer_free(NULL);
}
END_TEST

/* ---- metadata ------------------------------------------------------------------ */

START_TEST(test_metadata)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "m.safetensors", path, sizeof(path));
	float x = 1.5f;
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights_writer *wr = kcv_weights_writer_new(&err);
	ck_assert_int_eq(kcv_weights_writer_add(wr, "x", &x, 0, NULL, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_set_metadata(wr, "format", "pt", &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_set_metadata(wr, "epoch", "3", &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_set_metadata(wr, "epoch", "4", &err), KCV_OK);
	ck_assert_int_eq(
		kcv_weights_writer_set_metadata(wr, "note", "quote \" slash \\ é", &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_writer_save(wr, path, &err), KCV_OK);
	kcv_weights_writer_free(wr);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(kcv_weights_count(w), 1); /* __metadata__ is not a tensor */
	ck_assert_str_eq(kcv_weights_metadata(w, "format"), "pt");
	ck_assert_str_eq(kcv_weights_metadata(w, "epoch"), "4");
	ck_assert_str_eq(kcv_weights_metadata(w, "note"), "quote \" slash \\ é");
	ck_assert_ptr_null(kcv_weights_metadata(w, "missing"));
	ck_assert_ptr_null(kcv_weights_metadata(w, NULL));
	ck_assert_int_eq(kcv_weights_find(w, "__metadata__", NULL), -1);
	kcv_weights_free(w);

	/* a file with only metadata and no tensors */
	write_st(path, "{\"__metadata__\":{\"a\":\"b\"}}", NULL, 0);
	w = kcv_weights_open(path, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(kcv_weights_count(w), 0);
	ck_assert_str_eq(kcv_weights_metadata(w, "a"), "b");
	kcv_weights_free(w);
	tmp_free(&t);
}
END_TEST

/* ---- half precision ------------------------------------------------------------ */

/* Read a 1-D tensor of n 16-bit values with the given dtype. */
static void read_half(const char *dtype, const uint16_t *bits, size_t n, float *out)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024], hdr[256];
	tmp_file(&t, "h.safetensors", path, sizeof(path));
	snprintf(hdr, sizeof(hdr), "{\"h\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}",
	         dtype, n, 2 * n);
	unsigned char *data = malloc(2 * n);
	for (size_t i = 0; i < n; i++) {
		data[2 * i] = (unsigned char)(bits[i] & 0xff);
		data[2 * i + 1] = (unsigned char)(bits[i] >> 8);
	}
	write_st(path, hdr, data, 2 * n);
	free(data);
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_msg(w != NULL, "%s", err.text);
	kcv_tensor_info info;
	ck_assert_int_eq(kcv_weights_find(w, "h", &info), 0);
	ck_assert_str_eq(info.dtype, dtype);
	ck_assert_int_eq(kcv_weights_read_f32(w, "h", out, n, &err), KCV_OK);
	kcv_weights_free(w);
	tmp_free(&t);
}

START_TEST(test_f16_values)
{
	static const uint16_t bits[] = {
		0x3c00, /* 1.0 */
		0xc100, /* -2.5 */
		0x7bff, /* 65504, the largest finite */
		0x0001, /* 2^-24, the smallest subnormal */
		0x8001, /* -2^-24 */
		0x03ff, /* 1023 * 2^-24, the largest subnormal */
		0x0400, /* 2^-14, the smallest normal */
		0x0000, /* +0 */
		0x8000, /* -0 */
		0x7c00, /* +inf */
		0xfc00, /* -inf */
		0x7e00, /* quiet NaN */
		0x7c01, /* signalling NaN with payload 1 */
		0x3555, /* 0.333251953125 */
	};
	enum { N = sizeof(bits) / sizeof(bits[0]) };
	float out[N];
	read_half("F16", bits, N, out);
	ck_assert_uint_eq(f2u(out[0]), f2u(1.0f));
	ck_assert_uint_eq(f2u(out[1]), f2u(-2.5f));
	ck_assert_uint_eq(f2u(out[2]), f2u(65504.0f));
	ck_assert_uint_eq(f2u(out[3]), f2u(5.9604644775390625e-8f));
	ck_assert_uint_eq(f2u(out[4]), f2u(-5.9604644775390625e-8f));
	ck_assert_uint_eq(f2u(out[5]), f2u(6.0975551605224609375e-5f));
	ck_assert_uint_eq(f2u(out[6]), f2u(6.103515625e-5f));
	ck_assert_uint_eq(f2u(out[7]), 0x00000000u);
	ck_assert_uint_eq(f2u(out[8]), 0x80000000u);
	ck_assert_uint_eq(f2u(out[9]), 0x7f800000u);
	ck_assert_uint_eq(f2u(out[10]), 0xff800000u);
	ck_assert_uint_eq(f2u(out[11]), 0x7fc00000u);
	ck_assert(isnan(out[12]));
	ck_assert_uint_eq(f2u(out[12]), 0x7f802000u); /* payload kept, not quietened */
	ck_assert_uint_eq(f2u(out[13]), f2u(0.333251953125f));
}
END_TEST

/* Every binary16 value against the definition, computed in double. */
START_TEST(test_f16_exhaustive)
{
	enum { N = 65536 };
	uint16_t *bits = malloc(N * sizeof(*bits));
	float *out = malloc(N * sizeof(*out));
	for (int i = 0; i < N; i++)
		bits[i] = (uint16_t)i;
	read_half("F16", bits, N, out);
	for (int i = 0; i < N; i++) {
		int sign = i >> 15, e = (i >> 10) & 31, m = i & 1023;
		double v;
		if (e == 31) {
			if (m == 0) {
				v = INFINITY;
			} else {
				ck_assert_msg(isnan(out[i]), "0x%04x", i);
				ck_assert_int_eq(!!signbit(out[i]), sign);
				continue;
			}
		} else if (e == 0) {
			v = ldexp((double)m, -24);
		} else {
			v = ldexp(1.0 + m / 1024.0, e - 15);
		}
		if (sign)
			v = -v;
		ck_assert_msg(f2u(out[i]) == f2u((float)v), "0x%04x: got %a, want %a", i,
		              (double)out[i], v);
	}
	free(bits);
	free(out);
}
END_TEST

START_TEST(test_bf16_values)
{
	static const uint16_t bits[] = {
		0x3f80, /* 1.0 */
		0xc020, /* -2.5 */
		0x4049, /* 3.140625 */
		0x0001, /* 2^-133, the smallest subnormal */
		0x7f7f, /* the largest finite, (2 - 2^-7) * 2^127 */
		0x7f80, /* +inf */
		0xff80, /* -inf */
		0x7fc0, /* NaN */
		0x8000, /* -0 */
	};
	enum { N = sizeof(bits) / sizeof(bits[0]) };
	float out[N];
	read_half("BF16", bits, N, out);
	ck_assert_uint_eq(f2u(out[0]), f2u(1.0f));
	ck_assert_uint_eq(f2u(out[1]), f2u(-2.5f));
	ck_assert_uint_eq(f2u(out[2]), f2u(3.140625f));
	ck_assert_uint_eq(f2u(out[3]), f2u(ldexpf(1.0f, -133)));
	ck_assert_uint_eq(f2u(out[4]), f2u(ldexpf(2.0f - ldexpf(1.0f, -7), 127)));
	ck_assert(isinf(out[5]) && out[5] > 0);
	ck_assert(isinf(out[6]) && out[6] < 0);
	ck_assert(isnan(out[7]));
	ck_assert_uint_eq(f2u(out[8]), 0x80000000u);
}
END_TEST

/* ---- read_f32 errors -------------------------------------------------------------- */

START_TEST(test_read_errors)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "r.safetensors", path, sizeof(path));
	unsigned char data[12 + 8] = {0};
	write_st(path,
	         "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
	         "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]}}",
	         data, sizeof(data));
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_ptr_nonnull(w);
	float out[4];
	char msg[2048];

	ck_assert_int_eq(kcv_weights_read_f32(w, "w", out, 4, &err), KCV_ERR_INVALID);
	kcv_error_format(&err, msg, sizeof(msg));
	ck_assert_str_eq(err.source, path);
	ck_assert_msg(strstr(msg, "tensor w: the file has 3 elements (shape [3]), the caller "
	                          "expects 4") != NULL,
	              "%s", msg);

	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_read_f32(w, "i", out, 1, &err), KCV_ERR_INVALID);
	ck_assert_str_eq(err.source, path);
	ck_assert_ptr_nonnull(strstr(err.text, "tensor i: dtype I64 cannot be read as float32"));

	kcv_error_clear(&err);
	ck_assert_int_eq(kcv_weights_read_f32(w, "absent", out, 1, &err), KCV_ERR_INVALID);
	ck_assert_str_eq(err.source, path);
	ck_assert_ptr_nonnull(strstr(err.text, "tensor absent: not in the file"));
	kcv_weights_free(w);
	tmp_free(&t);
}
END_TEST

/* ---- validation: one test per rule ------------------------------------------------ */

START_TEST(test_bad_missing_file)
{
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_ptr_null(kcv_weights_open("/nonexistent/w.safetensors", &err));
	ck_assert_int_eq(err.code, KCV_ERR_IO);
	ck_assert_str_eq(err.source, "/nonexistent/w.safetensors");
	ck_assert_ptr_null(kcv_weights_open("/nonexistent/w.safetensors", NULL));
}
END_TEST

START_TEST(test_bad_short_file)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "weights.safetensors", path, sizeof(path));
	write_bytes(path, "\x02\0\0", 3);
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_ptr_null(kcv_weights_open(path, &err));
	ck_assert_int_eq(err.code, KCV_ERR_INVALID);
	ck_assert_str_eq(err.source, path);
	ck_assert_ptr_nonnull(strstr(err.text, "too short"));
	write_bytes(path, "", 0);
	kcv_error_clear(&err);
	ck_assert_ptr_null(kcv_weights_open(path, &err));
	ck_assert_ptr_nonnull(strstr(err.text, "too short"));
	tmp_free(&t);
}
END_TEST

START_TEST(test_bad_header_length)
{
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "weights.safetensors", path, sizeof(path));
	/* claims 100 bytes of header, has 2 */
	write_bytes(path, "\x64\0\0\0\0\0\0\0{}", 10);
	kcv_error err;
	kcv_error_clear(&err);
	ck_assert_ptr_null(kcv_weights_open(path, &err));
	ck_assert_str_eq(err.source, path);
	ck_assert_ptr_nonnull(strstr(err.text, "header length 100 runs past the end of the file"));
	/* a huge length must not overflow */
	write_bytes(path, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10);
	kcv_error_clear(&err);
	ck_assert_ptr_null(kcv_weights_open(path, &err));
	ck_assert_ptr_nonnull(strstr(err.text, "runs past the end of the file"));
	tmp_free(&t);
}
END_TEST

START_TEST(test_bad_json)
{
	CHECK_ERR("{\"a\": ", 0, "header JSON");
	CHECK_ERR("", 0, "header must be a JSON object");
	CHECK_ERR("[1,2]", 0, "header must be a JSON object");
	CHECK_ERR(" {}", 0, "header must be a JSON object starting with '{'");
	CHECK_ERR("{} x", 0, "header JSON");
}
END_TEST

START_TEST(test_bad_duplicate_key)
{
	CHECK_ERR("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	          "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
	          8, "duplicate");
}
END_TEST

START_TEST(test_bad_entry_not_object)
{
	CHECK_ERR("{\"conv.w\":[1,2]}", 0, "tensor conv.w: entry must be an object");
}
END_TEST

START_TEST(test_bad_unknown_key)
{
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
	          "\"offset\":0}}",
	          4, "tensor conv.w: unknown key \"offset\"");
}
END_TEST

START_TEST(test_bad_dtype)
{
	CHECK_ERR("{\"conv.w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: dtype missing");
	CHECK_ERR("{\"conv.w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: dtype must be a string");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: unsupported dtype \"F8_E4M3\"");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: unsupported dtype \"f32\"");
}
END_TEST

START_TEST(test_all_dtypes)
{
	/* every supported dtype opens, with the right element size */
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "d.safetensors", path, sizeof(path));
	static const unsigned char zeros66[66] = {0};
	write_st(path,
	         "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
	         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
	         "\"c\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
	         "\"d\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]},"
	         "\"e\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[32,48]},"
	         "\"f\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[48,56]},"
	         "\"g\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[56,60]},"
	         "\"h\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[60,62]},"
	         "\"i\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[62,64]},"
	         "\"j\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[64,66]}}",
	         zeros66, sizeof(zeros66));
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_msg(w != NULL, "%s", err.text);
	ck_assert_uint_eq(kcv_weights_count(w), 10);
	kcv_tensor_info info;
	ck_assert_int_eq(kcv_weights_find(w, "j", &info), 0);
	ck_assert_str_eq(info.dtype, "BOOL");
	kcv_weights_free(w);
	tmp_free(&t);
}
END_TEST

START_TEST(test_bad_shape)
{
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: shape missing");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: shape must be an array of non-negative integers");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: shape[1] must be a non-negative integer");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: shape[0] must be a non-negative integer");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
	          "tensor conv.w: shape[0] must be a non-negative integer");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
	          "\"data_offsets\":[0,4]}}",
	          4, "tensor conv.w: shape has 9 dimensions");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],"
	          "\"data_offsets\":[0,4]}}",
	          4, "tensor conv.w: shape [4294967296,4294967296,4] is too large");
}
END_TEST

START_TEST(test_bad_offsets_form)
{
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
	          "tensor conv.w: data_offsets missing");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
	          "tensor conv.w: data_offsets must be [begin, end]");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
	          "tensor conv.w: data_offsets must be [begin, end]");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
	          "tensor conv.w: data_offsets must be [begin, end]");
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":1}}}", 4,
	          "tensor conv.w: data_offsets must be [begin, end]");
}
END_TEST

START_TEST(test_bad_offsets_reversed)
{
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
	          "tensor conv.w: data_offsets [4,0] end before they begin");
}
END_TEST

START_TEST(test_bad_offsets_past_end)
{
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
	          "tensor conv.w: data_offsets [0,8] run past the data area of 4 bytes");
}
END_TEST

START_TEST(test_bad_byte_count)
{
	/* the message given as the example in the brief */
	char msg[2048];
	expect_open_error("{\"layer1.0.conv1.weight\":{\"dtype\":\"F32\",\"shape\":[64,64,3,3],"
	                  "\"data_offsets\":[0,1000]}}",
	                  1000, msg, sizeof(msg));
	const char *tail = strstr(msg, "/weights.safetensors: ");
	ck_assert_ptr_nonnull(tail);
	ck_assert_str_eq(tail, "/weights.safetensors: tensor layer1.0.conv1.weight: shape "
	                       "[64,64,3,3] needs 147456 bytes of F32, data_offsets give 1000");
	CHECK_ERR("{\"h\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,4]}}", 4,
	          "tensor h: shape [3] needs 6 bytes of BF16, data_offsets give 4");
	CHECK_ERR("{\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
	          "tensor s: shape [] needs 8 bytes of I64, data_offsets give 4");
}
END_TEST

START_TEST(test_bad_overlap)
{
	CHECK_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
	          12, "tensor b: data_offsets [4,12] overlap tensor a, which ends at 8");
	/* same begin */
	CHECK_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
	          4, "tensor b: data_offsets [0,4] overlap tensor a");
}
END_TEST

START_TEST(test_bad_gap)
{
	CHECK_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
	          12, "tensor b: data_offsets [8,12] leave a gap of 4 bytes after tensor a");
	CHECK_ERR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 6,
	          "tensor a: data_offsets [2,6] leave a gap of 2 bytes at the start");
}
END_TEST

START_TEST(test_bad_trailing)
{
	CHECK_ERR("{\"conv.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 7,
	          "3 bytes of trailing data after the last tensor (conv.w, ending at 4)");
	CHECK_ERR("{}", 5, "5 bytes of trailing data but no tensors");
}
END_TEST

START_TEST(test_unordered_offsets_ok)
{
	/* offsets need not follow the header or name order; zero-size tensors
	 * may sit anywhere they touch */
	tmpdir t;
	tmp_new(&t);
	char path[1024];
	tmp_file(&t, "u.safetensors", path, sizeof(path));
	float data[3] = {1, 2, 3};
	write_st(path,
	         "{\"z\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	         "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
	         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
	         data, sizeof(data));
	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_msg(w != NULL, "%s", err.text);
	float a, z[2];
	ck_assert_int_eq(kcv_weights_read_f32(w, "a", &a, 1, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_read_f32(w, "z", z, 2, &err), KCV_OK);
	ck_assert(a == 3.0f && z[0] == 1.0f && z[1] == 2.0f);
	kcv_tensor_info info;
	ck_assert_int_eq(kcv_weights_info_at(w, 0, &info), KCV_OK);
	ck_assert_str_eq(info.name, "a");
	kcv_weights_free(w);
	tmp_free(&t);
}
END_TEST

START_TEST(test_bad_metadata)
{
	CHECK_ERR("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ must be an object of strings");
	CHECK_ERR("{\"__metadata__\":{\"epoch\":3}}", 0,
	          "__metadata__: value of \"epoch\" must be a string");
}
END_TEST

START_TEST(test_bad_empty_name)
{
	CHECK_ERR("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
	          "a tensor has an empty name");
}
END_TEST

/* ---- a file written by Python ------------------------------------------------------ */

static const char py_writer[] =
	"import json, struct, sys\n"
	"def f16(xs): return struct.pack('<%de' % len(xs), *xs)\n"
	"def bf16(xs): return b''.join(struct.pack('<f', x)[2:] for x in xs)\n"
	"def f32(xs): return struct.pack('<%df' % len(xs), *xs)\n"
	"tensors = [\n"
	"    ('model.conv.weight', 'F32', [2, 3], f32([0.5, -1.25, 3e-8, 1e30, -7.0, 0.1])),\n"
	"    ('model.conv.bias', 'F16', [6], f16([1.0, -2.5, 65504.0, 2.0**-24, float('inf'), "
	"0.1])),\n"
	"    ('model.bn.gamma', 'BF16', [2, 2], bf16([1.0, -2.5, 3.140625, 2.0**-133])),\n"
	"    ('model.step', 'I64', [], struct.pack('<q', 12345)),\n"
	"]\n"
	"header, data = {}, b''\n"
	"for name, dtype, shape, raw in tensors:\n"
	"    header[name] = {'dtype': dtype, 'shape': shape,\n"
	"                    'data_offsets': [len(data), len(data) + len(raw)]}\n"
	"    data += raw\n"
	"header['__metadata__'] = {'format': 'pt', 'writer': 'python struct+json'}\n"
	"h = json.dumps(header).encode('utf-8')\n"
	"with open(sys.argv[1], 'wb') as f:\n"
	"    f.write(struct.pack('<Q', len(h)) + h + data)\n";

START_TEST(test_python_file)
{
	if (access(PYTHON, X_OK) != 0) {
		fprintf(stderr, "SKIP test_python_file: %s is absent\n", PYTHON);
		return;
	}
	tmpdir t;
	tmp_new(&t);
	char script[1024], path[1024], cmd[3000];
	tmp_file(&t, "writer.py", script, sizeof(script));
	tmp_file(&t, "py.safetensors", path, sizeof(path));
	write_bytes(script, py_writer, strlen(py_writer));
	snprintf(cmd, sizeof(cmd), "%s '%s' '%s'", PYTHON, script, path);
	ck_assert_int_eq(system(cmd), 0);

	kcv_error err;
	kcv_error_clear(&err);
	kcv_weights *w = kcv_weights_open(path, &err);
	ck_assert_msg(w != NULL, "%s", err.text);
	ck_assert_uint_eq(kcv_weights_count(w), 4);
	ck_assert_str_eq(kcv_weights_metadata(w, "writer"), "python struct+json");
	kcv_tensor_info info;
	ck_assert_int_eq(kcv_weights_info_at(w, 0, &info), KCV_OK);
	ck_assert_str_eq(info.name, "model.bn.gamma");
	ck_assert_int_eq(kcv_weights_find(w, "model.step", &info), 0);
	ck_assert_str_eq(info.dtype, "I64");
	ck_assert_int_eq(info.rank, 0);

	float c[6], b[6], g[4];
	ck_assert_int_eq(kcv_weights_read_f32(w, "model.conv.weight", c, 6, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_read_f32(w, "model.conv.bias", b, 6, &err), KCV_OK);
	ck_assert_int_eq(kcv_weights_read_f32(w, "model.bn.gamma", g, 4, &err), KCV_OK);
	const float ce[6] = {0.5f, -1.25f, 3e-8f, 1e30f, -7.0f, 0.1f};
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(f2u(c[i]), f2u(ce[i]));
	/* 0.1 in binary16 is 0x2e66 = 1638 * 2^-14 */
	const float be[6] = {1.0f, -2.5f, 65504.0f, 5.9604644775390625e-8f, INFINITY,
	                     0.0999755859375f};
	for (int i = 0; i < 6; i++)
		ck_assert_msg(f2u(b[i]) == f2u(be[i]), "bias[%d] = %a", i, (double)b[i]);
	const float ge[4] = {1.0f, -2.5f, 3.140625f, ldexpf(1.0f, -133)};
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(f2u(g[i]), f2u(ge[i]));
	kcv_weights_free(w);
	tmp_free(&t);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------ */

static Suite *safetensors_suite(void)
{
	Suite *s = suite_create("safetensors");
	TCase *tc = tcase_create("round_trip");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_overwrite_atomic);
	tcase_add_test(tc, test_writer_errors);
	tcase_add_test(tc, test_unordered_offsets_ok);
	tcase_add_test(tc, test_all_dtypes);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata");
	tcase_add_test(tc, test_metadata);
	suite_add_tcase(s, tc);

	tc = tcase_create("half");
	tcase_add_test(tc, test_f16_values);
	tcase_add_test(tc, test_f16_exhaustive);
	tcase_add_test(tc, test_bf16_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("validation");
	tcase_add_test(tc, test_read_errors);
	tcase_add_test(tc, test_bad_missing_file);
	tcase_add_test(tc, test_bad_short_file);
	tcase_add_test(tc, test_bad_header_length);
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_bad_duplicate_key);
	tcase_add_test(tc, test_bad_entry_not_object);
	tcase_add_test(tc, test_bad_unknown_key);
	tcase_add_test(tc, test_bad_dtype);
	tcase_add_test(tc, test_bad_shape);
	tcase_add_test(tc, test_bad_offsets_form);
	tcase_add_test(tc, test_bad_offsets_reversed);
	tcase_add_test(tc, test_bad_offsets_past_end);
	tcase_add_test(tc, test_bad_byte_count);
	tcase_add_test(tc, test_bad_overlap);
	tcase_add_test(tc, test_bad_gap);
	tcase_add_test(tc, test_bad_trailing);
	tcase_add_test(tc, test_bad_metadata);
	tcase_add_test(tc, test_bad_empty_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("python");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_python_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(safetensors_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
