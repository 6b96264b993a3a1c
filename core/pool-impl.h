/* Private: the thread pool that kcv's own loops run on. OpenBLAS is set to
 * the same number of threads and never runs inside a pool task, so the two
 * never oversubscribe the cores. */
#ifndef KCV_POOL_IMPL_H
#define KCV_POOL_IMPL_H

#include <stddef.h>
#include <stdint.h>

typedef struct kcv_pool kcv_pool;

/* A pool of `threads` workers (the caller counts as one). NULL on failure. */
kcv_pool *kcv_pool_new(int threads);
void kcv_pool_free(kcv_pool *p);
int kcv_pool_threads(const kcv_pool *p);

/* Run fn(ctx, i) for i in [0, n) across the pool; returns when all are done.
 * Tasks are split into contiguous ranges, so fn should do a chunk of work.
 * With a NULL pool or one thread it runs inline. */
typedef void (*kcv_pool_fn)(void *ctx, size_t i);
void kcv_pool_run(kcv_pool *p, size_t n, kcv_pool_fn fn, void *ctx);

/* Hand the pool's jobs to another set of threads, or back (run NULL): a
 * graph in bfloat16 runs its loops on OpenMP's threads, the ones oneDNN's
 * convolutions use, so that two sets never spin for cores. run(rctx, n,
 * fn, ctx) must give each of `threads` threads its kcv_pool_chunk share of
 * [0, n), as kcv_pool_run does. Not while a job runs. */
typedef void (*kcv_pool_runner)(void *rctx, size_t n, kcv_pool_fn fn, void *ctx);
void kcv_pool_set_runner(kcv_pool *p, kcv_pool_runner run, void *rctx);

/* Split [0, total) into `parts` near-equal chunks: chunk i is [*lo, *hi). */
void kcv_pool_chunk(size_t total, size_t parts, size_t i, size_t *lo, size_t *hi);

/* Set OpenBLAS's thread count (once per graph; no-op if unchanged). */
void kcv_blas_set_threads(int threads);

#endif
