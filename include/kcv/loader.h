/* kcv — the data loader: decodes and augments ahead of the consumer on worker
 * threads through a bounded queue, and assembles batches.
 *
 * Order and content are reproducible for a given seed whatever the number of
 * workers: the epoch's order is a seeded shuffle, and sample i of epoch e is
 * augmented with an RNG seeded by (seed, e, i). */
#ifndef KCV_LOADER_H
#define KCV_LOADER_H

#include <kcv/common.h>
#include <kcv/error.h>
#include <kcv/image.h>
#include <kcv/registry.h>

KCV_BEGIN_DECLS

typedef struct kcv_loader kcv_loader;

typedef struct kcv_loader_params {
	int batch_size;         /* >= 1 */
	int workers;            /* threads; 0 = 1 */
	int prefetch;           /* batches in flight; 0 = 2 */
	int shuffle;            /* shuffle each epoch */
	int drop_remainder;     /* drop a short last batch */
	int skip_bad;           /* skip samples that fail to load (else stop) */
	uint64_t seed;
	kcv_box_format box_format; /* of the boxes in the batches */
	size_t limit;           /* use only the first `limit` samples; 0 = all */
} kcv_loader_params;

/* The loader borrows the dataset; `augment` (may be NULL) is a JSON-created
 * augmenter spec: each worker creates its own instance of it through `reg`.
 * Caller frees. */
KCV_API kcv_loader *kcv_loader_new(const kcv_instance *dataset,
                                   const struct json_t *augment_spec,
                                   const kcv_context *augment_ctx,
                                   const kcv_loader_params *params,
                                   kcv_error *err) KCV_WARN_UNUSED;
/* Stops the workers and frees everything. NULL is a no-op. */
KCV_API void kcv_loader_free(kcv_loader *l);

/* Batches per epoch. */
KCV_API size_t kcv_loader_num_batches(const kcv_loader *l);
/* Start epoch `epoch` (0-based); batches come from kcv_loader_next. */
KCV_API kcv_status kcv_loader_start(kcv_loader *l, uint64_t epoch,
                                    kcv_error *err) KCV_WARN_UNUSED;
/* Same, resuming the epoch at batch `first_batch` (the earlier batches are
 * neither loaded nor returned; later ones are exactly those of a full
 * epoch). */
KCV_API kcv_status kcv_loader_start_at(kcv_loader *l, uint64_t epoch, size_t first_batch,
                                       kcv_error *err) KCV_WARN_UNUSED;
/* The next batch of the current epoch, borrowed until the next call; NULL at
 * the end of the epoch (err unset) or on error (err set). */
KCV_API const kcv_batch *kcv_loader_next(kcv_loader *l, kcv_error *err);
/* Samples skipped (skip_bad) and boxes clipped so far. */
KCV_API size_t kcv_loader_skipped(const kcv_loader *l);
KCV_API size_t kcv_loader_clipped(const kcv_loader *l);

KCV_END_DECLS

#endif /* KCV_LOADER_H */
