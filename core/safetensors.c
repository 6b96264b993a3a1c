/* safetensors files: validating reader (mmap) and F32 writer.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON (an object
 * of tensor entries plus an optional "__metadata__" object of strings), then
 * the data area. Every error names the file and, where there is one, the
 * tensor: "w.safetensors: tensor conv.weight: ...". */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kcv/safetensors.h>

#include "util-impl.h"

#define METADATA_KEY "__metadata__"

/* ---- dtypes --------------------------------------------------------------- */

typedef struct dtype_desc {
	const char *name;
	size_t size;
} dtype_desc;

static const dtype_desc dtypes[] = {
	{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
	{"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
};

static const dtype_desc *dtype_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return &dtypes[i];
	return NULL;
}

/* ---- half-precision conversions (exact) ------------------------------------ */

static float bits_to_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* IEEE 754 binary16 -> binary32. Every binary16 value is representable, so
 * this is exact: normals rebias the exponent, subnormals are normalised,
 * inf stays inf and NaN keeps its sign and payload (shifted into place). */
static float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t mant = h & 0x3ffu;
	uint32_t u;
	if (exp == 0x1f) {
		u = sign | 0x7f800000u | (mant << 13);
	} else if (exp != 0) {
		u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
	} else if (mant == 0) {
		u = sign;
	} else {
		/* subnormal: mant * 2^-24; shift the leading 1 up to bit 10 */
		uint32_t e = 127 - 15 + 1;
		while ((mant & 0x400u) == 0) {
			mant <<= 1;
			e--;
		}
		u = sign | (e << 23) | ((mant & 0x3ffu) << 13);
	}
	return bits_to_float(u);
}

/* bfloat16 is the top half of a binary32: exact for every value. */
static float bf16_to_f32(uint16_t b)
{
	return bits_to_float((uint32_t)b << 16);
}

static uint16_t load_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)load_le32(p) | ((uint64_t)load_le32(p + 4) << 32);
}

/* ---- the file object --------------------------------------------------------- */

typedef struct entry {
	const char *name;       /* a key of `root` */
	const dtype_desc *dt;
	int rank;
	int64_t dims[KCV_ST_MAX_DIMS];
	size_t numel;
	uint64_t begin, end;    /* relative to the data area */
} entry;

struct kcv_weights {
	char *path;
	void *map;
	size_t map_size;
	const unsigned char *data; /* start of the data area */
	uint64_t data_size;
	json_t *root;              /* owns the names and metadata strings */
	json_t *metadata;          /* borrowed from root, or NULL */
	entry *entries;            /* sorted by name */
	size_t count;
};

void kcv_weights_free(kcv_weights *w)
{
	if (!w)
		return;
	if (w->map)
		munmap(w->map, w->map_size);
	json_decref(w->root);
	free(w->entries);
	free(w->path);
	free(w);
}

/* "[64,64,3,3]" into buf. */
static const char *shape_str(const int64_t *dims, int rank, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = '\0';
	n += (size_t)snprintf(buf + n, size - n, "[");
	for (int i = 0; i < rank && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)dims[i]);
	if (n < size)
		snprintf(buf + n, size - n, "]");
	return buf;
}

static kcv_status parse_metadata(kcv_weights *w, json_t *md, kcv_error *err)
{
	if (!json_is_object(md))
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "__metadata__ must be an object of strings");
	const char *key;
	json_t *val;
	json_object_foreach(md, key, val) {
		if (!json_is_string(val))
			return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
			                 "__metadata__: value of \"%s\" must be a string", key);
	}
	w->metadata = md;
	return KCV_OK;
}

/* A JSON integer in [0, INT64_MAX]. */
static int get_nonneg(const json_t *v, int64_t *out)
{
	if (!json_is_integer(v))
		return -1;
	json_int_t x = json_integer_value(v);
	if (x < 0)
		return -1;
	*out = (int64_t)x;
	return 0;
}

static kcv_status parse_entry(kcv_weights *w, const char *name, json_t *obj, entry *e,
                              kcv_error *err)
{
	const char *p = w->path;
	memset(e, 0, sizeof(*e));
	e->name = name;
	if (name[0] == '\0')
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL, "a tensor has an empty name");
	if (!json_is_object(obj))
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: entry must be an object with dtype, shape, data_offsets",
		                 name);
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
		    strcmp(key, "data_offsets") != 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
			                 "tensor %s: unknown key \"%s\" (expected dtype, shape, "
			                 "data_offsets)",
			                 name, key);
	}

	json_t *jd = json_object_get(obj, "dtype");
	if (!jd)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL, "tensor %s: dtype missing", name);
	if (!json_is_string(jd))
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL, "tensor %s: dtype must be a string",
		                 name);
	e->dt = dtype_lookup(json_string_value(jd));
	if (!e->dt)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: unsupported dtype \"%s\" (expected F64, F32, F16, "
		                 "BF16, I64, I32, I16, I8, U8 or BOOL)",
		                 name, json_string_value(jd));

	json_t *js = json_object_get(obj, "shape");
	if (!js)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL, "tensor %s: shape missing", name);
	if (!json_is_array(js))
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: shape must be an array of non-negative integers", name);
	if (json_array_size(js) > KCV_ST_MAX_DIMS)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: shape has %zu dimensions, at most %d are supported", name,
		                 json_array_size(js), KCV_ST_MAX_DIMS);
	e->rank = (int)json_array_size(js);
	uint64_t numel = 1;
	int overflow = 0;
	for (int i = 0; i < e->rank; i++) {
		if (get_nonneg(json_array_get(js, (size_t)i), &e->dims[i]) != 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
			                 "tensor %s: shape[%d] must be a non-negative integer", name, i);
		uint64_t d = (uint64_t)e->dims[i];
		if (d != 0 && numel > UINT64_MAX / d)
			overflow = 1;
		else
			numel *= d;
	}
	char sbuf[192];
	shape_str(e->dims, e->rank, sbuf, sizeof(sbuf));
	/* a zero dimension makes the product 0 even after an overflow elsewhere */
	for (int i = 0; i < e->rank; i++)
		if (e->dims[i] == 0)
			overflow = 0, numel = 0;
	if (overflow || numel > SIZE_MAX / e->dt->size)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: shape %s is too large", name, sbuf);
	e->numel = (size_t)numel;
	uint64_t need = numel * e->dt->size;

	json_t *jo = json_object_get(obj, "data_offsets");
	if (!jo)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL, "tensor %s: data_offsets missing",
		                 name);
	int64_t b, en;
	if (!json_is_array(jo) || json_array_size(jo) != 2 ||
	    get_nonneg(json_array_get(jo, 0), &b) != 0 ||
	    get_nonneg(json_array_get(jo, 1), &en) != 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: data_offsets must be [begin, end], two non-negative "
		                 "integers",
		                 name);
	if (b > en)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: data_offsets [%lld,%lld] end before they begin", name,
		                 (long long)b, (long long)en);
	if ((uint64_t)en > w->data_size)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: data_offsets [%lld,%lld] run past the data area of "
		                 "%llu bytes",
		                 name, (long long)b, (long long)en, (unsigned long long)w->data_size);
	e->begin = (uint64_t)b;
	e->end = (uint64_t)en;
	if (e->end - e->begin != need)
		return KCV_ERROR(err, KCV_ERR_INVALID, p, NULL,
		                 "tensor %s: shape %s needs %llu bytes of %s, data_offsets give %llu",
		                 name, sbuf, (unsigned long long)need, e->dt->name,
		                 (unsigned long long)(e->end - e->begin));
	return KCV_OK;
}

static int cmp_by_offset(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/* Offsets sorted by begin must tile [0, data_size) exactly. */
static kcv_status check_layout(kcv_weights *w, kcv_error *err)
{
	qsort(w->entries, w->count, sizeof(entry), cmp_by_offset);
	uint64_t pos = 0;
	const entry *prev = NULL;
	for (size_t i = 0; i < w->count; i++) {
		const entry *e = &w->entries[i];
		if (e->begin < pos)
			return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
			                 "tensor %s: data_offsets [%llu,%llu] overlap tensor %s, which "
			                 "ends at %llu",
			                 e->name, (unsigned long long)e->begin,
			                 (unsigned long long)e->end, prev->name,
			                 (unsigned long long)pos);
		if (e->begin > pos) {
			if (prev)
				return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
				                 "tensor %s: data_offsets [%llu,%llu] leave a gap of %llu "
				                 "bytes after tensor %s",
				                 e->name, (unsigned long long)e->begin,
				                 (unsigned long long)e->end,
				                 (unsigned long long)(e->begin - pos), prev->name);
			return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
			                 "tensor %s: data_offsets [%llu,%llu] leave a gap of %llu bytes "
			                 "at the start of the data area",
			                 e->name, (unsigned long long)e->begin,
			                 (unsigned long long)e->end, (unsigned long long)e->begin);
		}
		pos = e->end;
		if (e->end > e->begin || !prev)
			prev = e;
	}
	if (pos != w->data_size) {
		if (prev)
			return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
			                 "%llu bytes of trailing data after the last tensor (%s, ending "
			                 "at %llu)",
			                 (unsigned long long)(w->data_size - pos), prev->name,
			                 (unsigned long long)pos);
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "%llu bytes of trailing data but no tensors",
		                 (unsigned long long)(w->data_size - pos));
	}
	qsort(w->entries, w->count, sizeof(entry), cmp_by_name);
	return KCV_OK;
}

static kcv_status parse_header(kcv_weights *w, const char *hdr, size_t len, kcv_error *err)
{
	/* the format requires the header to start with '{' (no leading blanks) */
	if (len == 0 || hdr[0] != '{')
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "header must be a JSON object starting with '{'");
	json_error_t jerr;
	w->root = json_loadb(hdr, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!w->root)
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "header JSON, byte %d (of %zu): %s", jerr.position, len, jerr.text);
	if (!json_is_object(w->root))
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "header must be a JSON object");
	size_t n = json_object_size(w->root);
	w->entries = calloc(n ? n : 1, sizeof(entry));
	if (!w->entries)
		return KCV_ERROR(err, KCV_ERR_NOMEM, w->path, NULL, "out of memory");
	const char *key;
	json_t *val;
	json_object_foreach(w->root, key, val) {
		kcv_status st;
		if (strcmp(key, METADATA_KEY) == 0)
			st = parse_metadata(w, val, err);
		else
			st = parse_entry(w, key, val, &w->entries[w->count++], err);
		if (st != KCV_OK)
			return st;
	}
	return check_layout(w, err);
}

kcv_weights *kcv_weights_open(const char *path, kcv_error *err)
{
	kcv_weights *w = calloc(1, sizeof(*w));
	char *p = kcv_strdup(path);
	int fd = -1;
	if (!w || !p) {
		KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory");
		free(p);
		goto fail;
	}
	w->path = p;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot open: %s", strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "not a regular file");
		goto fail;
	}
	if (st.st_size < 8) {
		KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		          "file of %lld bytes is too short for the 8-byte header length",
		          (long long)st.st_size);
		goto fail;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "file too large to map");
		goto fail;
	}
	w->map_size = (size_t)st.st_size;
	w->map = mmap(NULL, w->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot map: %s", strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	const unsigned char *base = w->map;
	uint64_t hlen = load_le64(base);
	if (hlen > w->map_size - 8) {
		KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		          "header length %llu runs past the end of the file (%zu bytes)",
		          (unsigned long long)hlen, w->map_size);
		goto fail;
	}
	w->data = base + 8 + hlen;
	w->data_size = w->map_size - 8 - hlen;
	if (parse_header(w, (const char *)base + 8, (size_t)hlen, err) != KCV_OK)
		goto fail;
	return w;
fail:
	if (fd >= 0)
		close(fd);
	kcv_weights_free(w);
	return NULL;
}

const char *kcv_weights_path(const kcv_weights *w)
{
	return w->path;
}

size_t kcv_weights_count(const kcv_weights *w)
{
	return w->count;
}

static void fill_info(const entry *e, kcv_tensor_info *out)
{
	memset(out, 0, sizeof(*out));
	out->name = e->name;
	out->dtype = e->dt->name;
	out->rank = e->rank;
	memcpy(out->dims, e->dims, sizeof(out->dims));
	out->numel = e->numel;
}

kcv_status kcv_weights_info_at(const kcv_weights *w, size_t i, kcv_tensor_info *out)
{
	if (i >= w->count)
		return KCV_ERR_INVALID;
	fill_info(&w->entries[i], out);
	return KCV_OK;
}

static const entry *find_entry(const kcv_weights *w, const char *name)
{
	size_t lo = 0, hi = w->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(w->entries[mid].name, name);
		if (c == 0)
			return &w->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int kcv_weights_find(const kcv_weights *w, const char *name, kcv_tensor_info *out)
{
	const entry *e = name ? find_entry(w, name) : NULL;
	if (!e)
		return -1;
	if (out)
		fill_info(e, out);
	return 0;
}

kcv_status kcv_weights_read_f32(const kcv_weights *w, const char *name, float *dst,
                                size_t numel, kcv_error *err)
{
	const entry *e = name ? find_entry(w, name) : NULL;
	if (!e)
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL, "tensor %s: not in the file",
		                 name ? name : "(null)");
	char sbuf[192];
	if (e->numel != numel)
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "tensor %s: the file has %zu elements (shape %s), the caller expects "
		                 "%zu",
		                 e->name, e->numel, shape_str(e->dims, e->rank, sbuf, sizeof(sbuf)),
		                 numel);
	const unsigned char *src = w->data + e->begin;
	const char *dt = e->dt->name;
	if (strcmp(dt, "F32") == 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (numel)
			memcpy(dst, src, numel * sizeof(float));
#else
		for (size_t i = 0; i < numel; i++)
			dst[i] = bits_to_float(load_le32(src + 4 * i));
#endif
	} else if (strcmp(dt, "F16") == 0) {
		for (size_t i = 0; i < numel; i++)
			dst[i] = f16_to_f32(load_le16(src + 2 * i));
	} else if (strcmp(dt, "BF16") == 0) {
		for (size_t i = 0; i < numel; i++)
			dst[i] = bf16_to_f32(load_le16(src + 2 * i));
	} else {
		return KCV_ERROR(err, KCV_ERR_INVALID, w->path, NULL,
		                 "tensor %s: dtype %s cannot be read as float32 (F32, F16 or BF16 "
		                 "needed)",
		                 e->name, dt);
	}
	return KCV_OK;
}

const char *kcv_weights_metadata(const kcv_weights *w, const char *key)
{
	if (!w->metadata || !key)
		return NULL;
	return json_string_value(json_object_get(w->metadata, key));
}

/* ---- writer ----------------------------------------------------------------- */

typedef struct wentry {
	char *name;
	const float *data;
	int rank;
	int64_t dims[KCV_ST_MAX_DIMS];
	size_t numel;
} wentry;

struct kcv_weights_writer {
	wentry *items;
	size_t count, cap;
	json_t *metadata; /* object of strings */
};

kcv_weights_writer *kcv_weights_writer_new(kcv_error *err)
{
	kcv_weights_writer *wr = calloc(1, sizeof(*wr));
	if (!wr || !(wr->metadata = json_object())) {
		free(wr);
		KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		return NULL;
	}
	return wr;
}

void kcv_weights_writer_free(kcv_weights_writer *wr)
{
	if (!wr)
		return;
	for (size_t i = 0; i < wr->count; i++)
		free(wr->items[i].name);
	free(wr->items);
	json_decref(wr->metadata);
	free(wr);
}

/* Names and metadata are JSON strings: valid UTF-8 without NUL. */
static int utf8_valid(const char *s)
{
	json_t *t = json_string(s);
	if (!t)
		return 0;
	json_decref(t);
	return 1;
}

kcv_status kcv_weights_writer_add(kcv_weights_writer *wr, const char *name, const float *data,
                                  int rank, const int64_t *dims, kcv_error *err)
{
	if (!name || !name[0] || strcmp(name, METADATA_KEY) == 0 || !utf8_valid(name))
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL,
		                 "tensor name \"%s\" is empty, reserved or not UTF-8",
		                 name ? name : "(null)");
	if (rank < 0 || rank > KCV_ST_MAX_DIMS || (rank > 0 && !dims))
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL,
		                 "tensor %s: rank %d outside [0,%d]", name, rank, KCV_ST_MAX_DIMS);
	size_t numel = 1;
	for (int i = 0; i < rank; i++) {
		if (dims[i] < 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL,
			                 "tensor %s: dimension %d is negative (%lld)", name, i,
			                 (long long)dims[i]);
		uint64_t d = (uint64_t)dims[i];
		if (d != 0 && numel > SIZE_MAX / 4 / d)
			return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "tensor %s: too large",
			                 name);
		numel *= (size_t)d;
	}
	if (numel > 0 && !data)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "tensor %s: no data", name);
	for (size_t i = 0; i < wr->count; i++)
		if (strcmp(wr->items[i].name, name) == 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "tensor %s: added twice",
			                 name);
	if (wr->count == wr->cap) {
		size_t cap = wr->cap ? 2 * wr->cap : 16;
		wentry *ni = realloc(wr->items, cap * sizeof(*ni));
		if (!ni)
			return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		wr->items = ni;
		wr->cap = cap;
	}
	wentry *e = &wr->items[wr->count];
	memset(e, 0, sizeof(*e));
	e->name = kcv_strdup(name);
	if (!e->name)
		return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
	e->data = data;
	e->rank = rank;
	for (int i = 0; i < rank; i++)
		e->dims[i] = dims[i];
	e->numel = numel;
	wr->count++;
	return KCV_OK;
}

kcv_status kcv_weights_writer_set_metadata(kcv_weights_writer *wr, const char *key,
                                           const char *value, kcv_error *err)
{
	if (!key || !value)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "metadata key or value is NULL");
	json_t *v = json_string(value);
	if (!v)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL,
		                 "metadata %s: value is not valid UTF-8", key);
	if (json_object_set_new(wr->metadata, key, v) != 0)
		return KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL,
		                 "metadata key \"%s\" is not valid UTF-8", key);
	return KCV_OK;
}

static int cmp_wentry(const void *a, const void *b)
{
	const wentry *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static void store_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Header JSON: tensors in name order (JSON_SORT_KEYS), with __metadata__
 * when there is any. Caller frees. */
static char *build_header(kcv_weights_writer *wr, const char *path, kcv_error *err)
{
	json_t *root = json_object();
	if (!root)
		goto nomem;
	uint64_t off = 0;
	for (size_t i = 0; i < wr->count; i++) {
		const wentry *e = &wr->items[i];
		json_t *shape = json_array();
		json_t *offs = json_array();
		json_t *t = json_object();
		int bad = !shape || !offs || !t;
		for (int d = 0; !bad && d < e->rank; d++)
			bad = json_array_append_new(shape, json_integer((json_int_t)e->dims[d])) != 0;
		uint64_t end = off + (uint64_t)e->numel * 4;
		bad = bad || json_array_append_new(offs, json_integer((json_int_t)off)) != 0 ||
		      json_array_append_new(offs, json_integer((json_int_t)end)) != 0 ||
		      json_object_set_new(t, "dtype", json_string("F32")) != 0;
		if (bad) {
			json_decref(shape);
			json_decref(offs);
			json_decref(t);
			json_decref(root);
			goto nomem;
		}
		json_object_set_new(t, "shape", shape);
		json_object_set_new(t, "data_offsets", offs);
		if (json_object_set_new(root, e->name, t) != 0) {
			json_decref(root);
			goto nomem;
		}
		off = end;
	}
	if (json_object_size(wr->metadata) > 0 &&
	    json_object_set(root, METADATA_KEY, wr->metadata) != 0) {
		json_decref(root);
		goto nomem;
	}
	char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (!s)
		goto nomem;
	return s;
nomem:
	KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory building the header");
	return NULL;
}

kcv_status kcv_weights_writer_save(kcv_weights_writer *wr, const char *path, kcv_error *err)
{
	if (wr->count > 1)
		qsort(wr->items, wr->count, sizeof(wentry), cmp_wentry);
	char *hdr = build_header(wr, path, err);
	if (!hdr)
		return err ? err->code : KCV_ERR_NOMEM;
	size_t hlen = strlen(hdr);
	/* pad with spaces so that the data area starts 8-byte aligned */
	size_t padded = hlen + (8 - (8 + hlen) % 8) % 8;
	size_t data_size = 0;
	for (size_t i = 0; i < wr->count; i++)
		data_size += wr->items[i].numel * 4;
	size_t total = 8 + padded + data_size;
	unsigned char *buf = malloc(total);
	if (!buf) {
		free(hdr);
		return KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory (%zu bytes)", total);
	}
	store_le64(buf, (uint64_t)padded);
	memcpy(buf + 8, hdr, hlen);
	memset(buf + 8 + hlen, ' ', padded - hlen);
	free(hdr);
	unsigned char *p = buf + 8 + padded;
	for (size_t i = 0; i < wr->count; i++) {
		const wentry *e = &wr->items[i];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (e->numel)
			memcpy(p, e->data, e->numel * 4);
#else
		for (size_t k = 0; k < e->numel; k++) {
			uint32_t u;
			memcpy(&u, &e->data[k], 4);
			for (int b = 0; b < 4; b++)
				p[4 * k + b] = (unsigned char)(u >> (8 * b));
		}
#endif
		p += e->numel * 4;
	}
	kcv_status st = kcv_write_file_atomic(path, buf, total, err);
	free(buf);
	return st;
}
