/* kcv — safetensors files: weights and checkpoints.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value"}}, then the raw little-endian data.
 * Reading maps the file and validates the header completely (offsets in
 * bounds, ordered and not overlapping, covering the data area exactly,
 * dtype and shape consistent with the byte count, no trailing garbage);
 * F32, F16 and BF16 tensors are returned as float32. */
#ifndef KCV_SAFETENSORS_H
#define KCV_SAFETENSORS_H

#include <kcv/common.h>
#include <kcv/error.h>

KCV_BEGIN_DECLS

#define KCV_ST_MAX_DIMS 8

/* A loaded safetensors file (mmap'ed; read-only; MT-safe for reads). */
typedef struct kcv_weights kcv_weights;

/* Describes one tensor of a file. */
typedef struct kcv_tensor_info {
	const char *name;       /* borrowed from the file object */
	const char *dtype;      /* "F32", "F16", "BF16", "I64", ... */
	int rank;
	int64_t dims[KCV_ST_MAX_DIMS];
	size_t numel;
} kcv_tensor_info;

/* Open and validate a file. Caller frees with kcv_weights_free. */
KCV_API kcv_weights *kcv_weights_open(const char *path, kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_weights_free(kcv_weights *w);
KCV_API const char *kcv_weights_path(const kcv_weights *w);
/* Number of tensors and the i-th one's description (sorted by name). */
KCV_API size_t kcv_weights_count(const kcv_weights *w);
KCV_API kcv_status kcv_weights_info_at(const kcv_weights *w, size_t i, kcv_tensor_info *out);
/* Find a tensor by name: 0 and *out filled, or -1 when absent. */
KCV_API int kcv_weights_find(const kcv_weights *w, const char *name, kcv_tensor_info *out);
/* Copy tensor `name` into dst as float32 (numel floats), converting F16/BF16.
 * Errors name the file and tensor (absent, not a float type). */
KCV_API kcv_status kcv_weights_read_f32(const kcv_weights *w, const char *name, float *dst,
                                        size_t numel, kcv_error *err) KCV_WARN_UNUSED;
/* A __metadata__ value, or NULL. */
KCV_API const char *kcv_weights_metadata(const kcv_weights *w, const char *key);

/* Writing: collect tensors (borrowed pointers, must stay valid until
 * kcv_weights_writer_save) and metadata, then save atomically (temp file,
 * fsync, rename). */
typedef struct kcv_weights_writer kcv_weights_writer;
KCV_API kcv_weights_writer *kcv_weights_writer_new(kcv_error *err) KCV_WARN_UNUSED;
/* Add an F32 tensor of the given shape (data has prod(dims) floats). */
KCV_API kcv_status kcv_weights_writer_add(kcv_weights_writer *wr, const char *name,
                                          const float *data, int rank, const int64_t *dims,
                                          kcv_error *err) KCV_WARN_UNUSED;
KCV_API kcv_status kcv_weights_writer_set_metadata(kcv_weights_writer *wr, const char *key,
                                                   const char *value,
                                                   kcv_error *err) KCV_WARN_UNUSED;
KCV_API kcv_status kcv_weights_writer_save(kcv_weights_writer *wr, const char *path,
                                           kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_weights_writer_free(kcv_weights_writer *wr);

KCV_END_DECLS

#endif /* KCV_SAFETENSORS_H */
