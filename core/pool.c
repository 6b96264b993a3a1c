/* A small fork-join thread pool for kcv's own loops. */
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>

#include "pool-impl.h"

/* Workers and the caller spin this many rounds for the next job or the
 * job's end before they sleep on the condition variables: a job starts and
 * ends within microseconds, where a futex wake-up costs tens. */
#define SPIN 20000

struct kcv_pool {
	int threads;
	pthread_t *workers;
	pthread_mutex_t mu;
	pthread_cond_t start_cv, done_cv;
	_Atomic uint64_t generation; /* bumped for each job */
	_Atomic int quit;
	_Atomic int sleepers;        /* workers waiting on start_cv */
	_Atomic int waiting;         /* the caller waits on done_cv */
	kcv_pool_runner runner;      /* kcv_pool_set_runner, or NULL */
	void *runner_ctx;
	/* the current job */
	kcv_pool_fn fn;
	void *ctx;
	size_t n;
	_Atomic int pending; /* workers still busy with this job */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

typedef struct worker_arg {
	kcv_pool *p;
	int id;
} worker_arg;

void kcv_pool_chunk(size_t total, size_t parts, size_t i, size_t *lo, size_t *hi)
{
	size_t base = total / parts, rem = total % parts;
	*lo = i * base + (i < rem ? i : rem);
	*hi = *lo + base + (i < rem ? 1 : 0);
}

/* Thread `id` of `threads` runs its contiguous share of [0, n). */
static void run_share(kcv_pool_fn fn, void *ctx, size_t n, int threads, int id)
{
	size_t lo, hi;
	kcv_pool_chunk(n, (size_t)threads, (size_t)id, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		fn(ctx, i);
}

static void *worker_main(void *arg)
{
	worker_arg *wa = arg;
	kcv_pool *p = wa->p;
	int id = wa->id;
	free(wa);
	uint64_t seen = 0;
	for (;;) {
		uint64_t g = atomic_load(&p->generation);
		for (int s = 0; g == seen && s < SPIN && !atomic_load(&p->quit); s++) {
			cpu_relax();
			g = atomic_load(&p->generation);
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while (!atomic_load(&p->quit) && (g = atomic_load(&p->generation)) == seen)
				pthread_cond_wait(&p->start_cv, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->quit))
			break;
		seen = g;
		run_share(p->fn, p->ctx, p->n, p->threads, id);
		if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->waiting)) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done_cv);
			pthread_mutex_unlock(&p->mu);
		}
	}
	return NULL;
}

kcv_pool *kcv_pool_new(int threads)
{
	kcv_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->threads = threads < 1 ? 1 : threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->start_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	if (p->threads > 1) {
		p->workers = calloc((size_t)p->threads - 1, sizeof(pthread_t));
		if (!p->workers) {
			kcv_pool_free(p);
			return NULL;
		}
		for (int i = 1; i < p->threads; i++) {
			worker_arg *wa = malloc(sizeof(*wa));
			if (wa) {
				wa->p = p;
				wa->id = i;
			}
			if (!wa || pthread_create(&p->workers[i - 1], NULL, worker_main, wa) != 0) {
				free(wa);
				p->threads = i; /* the ones started so far */
				kcv_pool_free(p);
				return NULL;
			}
		}
	}
	return p;
}

void kcv_pool_free(kcv_pool *p)
{
	if (!p)
		return;
	if (p->workers) {
		pthread_mutex_lock(&p->mu);
		atomic_store(&p->quit, 1);
		pthread_cond_broadcast(&p->start_cv);
		pthread_mutex_unlock(&p->mu);
		for (int i = 1; i < p->threads; i++)
			pthread_join(p->workers[i - 1], NULL);
		free(p->workers);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->start_cv);
	pthread_cond_destroy(&p->done_cv);
	free(p);
}

int kcv_pool_threads(const kcv_pool *p)
{
	return p ? p->threads : 1;
}

void kcv_pool_run(kcv_pool *p, size_t n, kcv_pool_fn fn, void *ctx)
{
	if (n == 0)
		return;
	if (!p || p->threads == 1 || n == 1) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	if (p->runner) {
		p->runner(p->runner_ctx, n, fn, ctx);
		return;
	}
	p->fn = fn;
	p->ctx = ctx;
	p->n = n;
	atomic_store(&p->pending, p->threads - 1);
	atomic_fetch_add(&p->generation, 1); /* publishes the job */
	if (atomic_load(&p->sleepers)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->start_cv);
		pthread_mutex_unlock(&p->mu);
	}
	run_share(fn, ctx, n, p->threads, 0);
	for (int s = 0; atomic_load(&p->pending) > 0 && s < SPIN; s++)
		cpu_relax();
	if (atomic_load(&p->pending) > 0) {
		pthread_mutex_lock(&p->mu);
		atomic_store(&p->waiting, 1);
		while (atomic_load(&p->pending) > 0)
			pthread_cond_wait(&p->done_cv, &p->mu);
		atomic_store(&p->waiting, 0);
		pthread_mutex_unlock(&p->mu);
	}
}

void kcv_pool_set_runner(kcv_pool *p, kcv_pool_runner run, void *rctx)
{
	p->runner = run;
	p->runner_ctx = rctx;
}

void kcv_blas_set_threads(int threads)
{
	if (threads < 1)
		threads = 1;
	if (openblas_get_num_threads() != threads)
		openblas_set_num_threads(threads);
}

const char *kcv_blas_corename(void)
{
	return openblas_get_corename();
}
