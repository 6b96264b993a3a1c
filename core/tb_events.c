/* TensorBoard event files: Event protocol buffers, encoded by hand, in
 * TFRecord framing. See tb-impl.h.
 *
 * TFRecord: uint64 length (little endian), uint32 masked CRC-32C of those 8
 * bytes, the data, uint32 masked CRC-32C of the data.
 *
 * The messages (tensorflow/core/util/event.proto, framework/summary.proto):
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; SummaryMetadata metadata = 9; }
 *   SummaryMetadata { PluginData plugin_data = 1; }  PluginData { string plugin_name = 1; }
 * proto3: fields equal to their default (step 0) are left out. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tb-impl.h"
#include "util-impl.h"

/* wire types */
enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

#define FILE_VERSION "brain.Event:2"
#define SCALARS_PLUGIN "scalars"
#define MAX_NAME_TRIES 1000

struct kcv_tb_writer {
	FILE *file;
	char *path;
	uint8_t *buf; /* one record, reused */
	size_t cap;
	char **tags; /* tags written so far (their first value carries metadata) */
	size_t num_tags, cap_tags;
};

/* ---- CRC-32C ---------------------------------------------------------------- */

/* crc_table[i] = CRC of the byte i, reflected polynomial 0x82F63B78. */
static const uint32_t crc_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t kcv_tb_crc32c(const void *data, size_t size)
{
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < size; i++)
		crc = crc_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

uint32_t kcv_tb_crc_mask(uint32_t crc)
{
	return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- protobuf encoding ------------------------------------------------------ */

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_key(uint8_t *p, unsigned field, unsigned wire)
{
	return put_varint(p, (uint64_t)(field << 3 | wire));
}

/* Size of a length-delimited field (one-byte key) holding `len` bytes. */
static size_t len_field_size(size_t len)
{
	return 1 + varint_size(len) + len;
}

static uint8_t *put_len_field(uint8_t *p, unsigned field, size_t len)
{
	p = put_key(p, field, WIRE_LEN);
	return put_varint(p, len);
}

static uint8_t *put_bytes_field(uint8_t *p, unsigned field, const void *s, size_t len)
{
	p = put_len_field(p, field, len);
	memcpy(p, s, len);
	return p + len;
}

static uint64_t double_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static uint32_t float_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points > U+10FFFF):
 * proto3 parsers reject anything else in a string field. */
static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		/* lead byte: sequence length, its payload bits, the smallest code
		 * point that needs this length */
		size_t len;
		if ((c & 0xe0) == 0xc0)
			len = 2;
		else if ((c & 0xf0) == 0xe0)
			len = 3;
		else if ((c & 0xf8) == 0xf0)
			len = 4;
		else
			return 0;
		static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
		uint32_t min = min_cp[len];
		uint32_t cp = c & (0x7fu >> len);
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* ---- records ------------------------------------------------------------------ */

/* Room in w->buf for a record whose event has `size` bytes; the event goes
 * to w->buf + 12 (after the length and its CRC). */
static kcv_status record_reserve(kcv_tb_writer *w, size_t size, kcv_error *err)
{
	size_t need = 12 + size + 4;
	if (need > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < need)
			cap *= 2;
		uint8_t *nb = realloc(w->buf, cap);
		if (!nb)
			return KCV_ERROR(err, KCV_ERR_NOMEM, w->path, NULL, "out of memory");
		w->buf = nb;
		w->cap = cap;
	}
	return KCV_OK;
}

/* Frame the `size`-byte event at w->buf + 12 and append it to the file. */
static kcv_status record_write(kcv_tb_writer *w, size_t size, kcv_error *err)
{
	uint8_t *p = w->buf;
	put_le(p, size, 8);
	put_le(p + 8, kcv_tb_crc_mask(kcv_tb_crc32c(p, 8)), 4);
	put_le(p + 12 + size, kcv_tb_crc_mask(kcv_tb_crc32c(p + 12, size)), 4);
	size_t total = 12 + size + 4;
	if (fwrite(p, 1, total, w->file) != total || fflush(w->file) != 0)
		return KCV_ERROR(err, KCV_ERR_IO, w->path, NULL, "cannot write event: %s",
		                 strerror(errno));
	return KCV_OK;
}

static double wall_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static kcv_status write_file_version(kcv_tb_writer *w, double wall_time, kcv_error *err)
{
	size_t vlen = strlen(FILE_VERSION);
	size_t size = 9 + len_field_size(vlen);
	kcv_status st = record_reserve(w, size, err);
	if (st != KCV_OK)
		return st;
	uint8_t *p = w->buf + 12;
	p = put_key(p, 1, WIRE_FIXED64);
	p = put_le(p, double_bits(wall_time), 8);
	p = put_bytes_field(p, 3, FILE_VERSION, vlen);
	KCV_ASSERT(p == w->buf + 12 + size);
	return record_write(w, size, err);
}

/* Index of `tag` in w->tags, or -1. */
static long tag_find(const kcv_tb_writer *w, const char *tag)
{
	for (size_t i = 0; i < w->num_tags; i++)
		if (strcmp(w->tags[i], tag) == 0)
			return (long)i;
	return -1;
}

static kcv_status tag_add(kcv_tb_writer *w, const char *tag, kcv_error *err)
{
	if (w->num_tags == w->cap_tags) {
		size_t cap = w->cap_tags ? 2 * w->cap_tags : 16;
		char **nt = realloc(w->tags, cap * sizeof(*nt));
		if (!nt)
			return KCV_ERROR(err, KCV_ERR_NOMEM, w->path, NULL, "out of memory");
		w->tags = nt;
		w->cap_tags = cap;
	}
	char *copy = kcv_strdup(tag);
	if (!copy)
		return KCV_ERROR(err, KCV_ERR_NOMEM, w->path, NULL, "out of memory");
	w->tags[w->num_tags++] = copy;
	return KCV_OK;
}

kcv_status kcv_tb_writer_add_scalar_at(kcv_tb_writer *w, const char *tag, int64_t step,
                                       double value, double wall_time, kcv_error *err)
{
	KCV_ASSERT(w);
	size_t tlen = tag ? strlen(tag) : 0;
	if (tlen == 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL, "empty scalar tag");
	if (!utf8_valid((const unsigned char *)tag, tlen))
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "scalar tag \"%s\" is not valid UTF-8", tag);
	int first = tag_find(w, tag) < 0;
	size_t plen = strlen(SCALARS_PLUGIN);
	size_t plugin_data = len_field_size(plen);       /* PluginData */
	size_t metadata = len_field_size(plugin_data);   /* SummaryMetadata */
	size_t value_size = len_field_size(tlen) + 5 + (first ? len_field_size(metadata) : 0);
	size_t summary = len_field_size(value_size);
	size_t size = 9 + (step != 0 ? 1 + varint_size((uint64_t)step) : 0) +
	              len_field_size(summary);
	kcv_status st = record_reserve(w, size, err);
	if (st != KCV_OK)
		return st;
	uint8_t *p = w->buf + 12;
	p = put_key(p, 1, WIRE_FIXED64); /* Event.wall_time */
	p = put_le(p, double_bits(wall_time), 8);
	if (step != 0) { /* Event.step (negative: ten bytes, two's complement) */
		p = put_key(p, 2, WIRE_VARINT);
		p = put_varint(p, (uint64_t)step);
	}
	p = put_len_field(p, 5, summary);    /* Event.summary */
	p = put_len_field(p, 1, value_size); /* Summary.value */
	p = put_bytes_field(p, 1, tag, tlen); /* Value.tag */
	p = put_key(p, 2, WIRE_FIXED32);      /* Value.simple_value */
	p = put_le(p, float_bits((float)value), 4);
	if (first) {
		p = put_len_field(p, 9, metadata);    /* Value.metadata */
		p = put_len_field(p, 1, plugin_data); /* SummaryMetadata.plugin_data */
		p = put_bytes_field(p, 1, SCALARS_PLUGIN, plen); /* PluginData.plugin_name */
	}
	KCV_ASSERT(p == w->buf + 12 + size);
	st = record_write(w, size, err);
	if (st == KCV_OK && first)
		st = tag_add(w, tag, err);
	return st;
}

kcv_status kcv_tb_writer_add_scalar(kcv_tb_writer *w, const char *tag, int64_t step,
                                    double value, kcv_error *err)
{
	return kcv_tb_writer_add_scalar_at(w, tag, step, value, wall_clock(), err);
}

kcv_status kcv_tb_writer_flush(kcv_tb_writer *w, kcv_error *err)
{
	KCV_ASSERT(w);
	if (fflush(w->file) != 0 || fsync(fileno(w->file)) != 0)
		return KCV_ERROR(err, KCV_ERR_IO, w->path, NULL, "cannot write events: %s",
		                 strerror(errno));
	return KCV_OK;
}

const char *kcv_tb_writer_path(const kcv_tb_writer *w)
{
	return w->path;
}

/* ---- lifetime ----------------------------------------------------------------- */

/* Host name as TensorBoard file names carry it: no '/', never empty. */
static void host_name(char *buf, size_t size)
{
	if (gethostname(buf, size) != 0 || buf[0] == '\0')
		kcv_strlcpy(buf, "localhost", size);
	buf[size - 1] = '\0';
	for (char *c = buf; *c; c++)
		if (*c == '/')
			*c = '_';
}

/* Create the event file with O_EXCL under the first free counter value. */
static kcv_status file_create(kcv_tb_writer *w, const char *dir, time_t secs,
                              kcv_error *err)
{
	char host[256];
	host_name(host, sizeof(host));
	for (int n = 0; n < MAX_NAME_TRIES; n++) {
		char *path = kcv_strdup_printf("%s/events.out.tfevents.%lld.%s.%ld.%d", dir,
		                               (long long)secs, host, (long)getpid(), n);
		if (!path)
			return KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno == EEXIST) {
			free(path);
			continue;
		}
		if (fd < 0) {
			int e = errno;
			KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot create event file: %s",
			          strerror(e));
			free(path);
			return KCV_ERR_IO;
		}
		w->file = fdopen(fd, "wb");
		if (!w->file) {
			int e = errno;
			close(fd);
			unlink(path);
			KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot open event file: %s",
			          strerror(e));
			free(path);
			return KCV_ERR_IO;
		}
		w->path = path;
		return KCV_OK;
	}
	return KCV_ERROR(err, KCV_ERR_IO, dir, NULL,
	                 "%d event files of this process and second exist already",
	                 MAX_NAME_TRIES);
}

kcv_tb_writer *kcv_tb_writer_new(const char *dir, kcv_error *err)
{
	KCV_ASSERT(dir);
	if (dir[0] == '\0') {
		KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "empty folder name for event files");
		return NULL;
	}
	if (kcv_mkdir_p(dir, err) != KCV_OK)
		return NULL;
	kcv_tb_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
		return NULL;
	}
	double now = wall_clock();
	if (file_create(w, dir, (time_t)now, err) != KCV_OK)
		goto fail;
	if (write_file_version(w, now, err) != KCV_OK)
		goto fail;
	return w;
fail:
	if (w->path)
		unlink(w->path); /* no half-written event files */
	kcv_tb_writer_free(w);
	return NULL;
}

void kcv_tb_writer_free(kcv_tb_writer *w)
{
	if (!w)
		return;
	if (w->file)
		fclose(w->file);
	for (size_t i = 0; i < w->num_tags; i++)
		free(w->tags[i]);
	free(w->tags);
	free(w->buf);
	free(w->path);
	free(w);
}
