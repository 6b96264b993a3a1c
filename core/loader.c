/* The data loader: worker threads load and augment samples ahead of the
 * consumer into a ring of batch slots (a bounded queue); batches come out in
 * order and their content does not depend on the number of workers. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/loader.h>
#include <kcv/log.h>

#include "util-impl.h"

typedef struct slot {
	kcv_batch *batch;
	size_t index;    /* batch number in the epoch */
	int expected;    /* samples it will hold */
	int done;        /* samples finished (loaded or skipped) */
	uint8_t *valid;  /* per position: 1 loaded, 0 skipped */
} slot;

typedef struct worker {
	kcv_loader *l;
	pthread_t thread;
	kcv_instance *augment;
	kcv_sample sample;
	int started;
} worker;

struct kcv_loader {
	const kcv_instance *dataset;
	kcv_loader_params p;
	size_t n;            /* samples per epoch */
	size_t claimable;    /* positions workers take (n, less a dropped tail) */
	size_t *order;       /* dataset index of each position in the epoch */
	size_t num_batches;
	int nslots;
	slot *slots;
	worker *workers;
	int nworkers;

	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* workers wait here */
	pthread_cond_t done_cv; /* the consumer waits here */
	int running;            /* an epoch is in progress */
	int quit;
	size_t next_pos;        /* next position to claim */
	size_t consumer;        /* batch the consumer will take next */
	int handed_out;         /* the consumer holds batch consumer-1's slot */
	int active;             /* samples being worked on */
	uint64_t epoch;
	int failed;
	kcv_error error;
	size_t skipped, clipped;
};

static void slot_reset(kcv_loader *l, slot *s, size_t index)
{
	s->index = index;
	size_t first = index * (size_t)l->p.batch_size;
	size_t left = l->n > first ? l->n - first : 0;
	s->expected = (int)(left < (size_t)l->p.batch_size ? left : (size_t)l->p.batch_size);
	s->done = 0;
	memset(s->valid, 0, (size_t)l->p.batch_size);
}

/* Load, augment and convert one sample; returns KCV_OK or an error. */
static kcv_status load_one(kcv_loader *l, worker *w, size_t pos, kcv_error *err)
{
	size_t idx = l->order[pos];
	kcv_sample *s = &w->sample;
	kcv_boxes_clear(&s->boxes);
	s->clipped_boxes = 0;
	s->id[0] = '\0';
	kcv_status st = kcv_dataset_get(l->dataset, idx, 0, s, NULL, err);
	if (st)
		return st;
	s->index = (int64_t)idx;
	st = kcv_boxes_set_format(&s->boxes, KCV_BOX_XYXY, (float)s->width, (float)s->height, err);
	if (st)
		return st;
	if (w->augment) {
		kcv_rng rng;
		kcv_rng_seed(&rng, l->p.seed, l->epoch, (uint64_t)idx, 0xa06u);
		st = kcv_augmenter_apply(w->augment, s, &rng, err);
		if (st)
			return st;
	}
	return kcv_boxes_set_format(&s->boxes, l->p.box_format, (float)s->width,
	                            (float)s->height, err);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	kcv_loader *l = w->l;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->quit &&
		       !(l->running && !l->failed && l->next_pos < l->claimable &&
		         l->next_pos / (size_t)l->p.batch_size <
		             l->consumer - (size_t)l->handed_out + (size_t)l->nslots))
			pthread_cond_wait(&l->work_cv, &l->mu);
		if (l->quit)
			break;
		size_t pos = l->next_pos++;
		size_t b = pos / (size_t)l->p.batch_size;
		slot *s = &l->slots[b % (size_t)l->nslots];
		KCV_ASSERT(s->index == b);
		l->active++;
		pthread_mutex_unlock(&l->mu);

		kcv_error err = {0};
		kcv_status st = load_one(l, w, pos, &err);
		int in_batch = (int)(pos % (size_t)l->p.batch_size);
		if (st == KCV_OK)
			st = kcv_batch_set(s->batch, in_batch, &w->sample, &err);

		pthread_mutex_lock(&l->mu);
		l->active--;
		if (st == KCV_OK) {
			s->valid[in_batch] = 1;
			l->clipped += (size_t)w->sample.clipped_boxes;
		} else if (l->p.skip_bad && st == KCV_ERR_INVALID) {
			char msg[1400];
			kcv_log("loader", KCV_LOG_WARNING, "skipping a bad sample: %s",
			        kcv_error_format(&err, msg, sizeof(msg)));
			l->skipped++;
		} else if (!l->failed) {
			l->failed = 1;
			l->error = err;
		}
		s->done++;
		pthread_cond_broadcast(&l->done_cv);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

void kcv_loader_free(kcv_loader *l)
{
	if (!l)
		return;
	if (l->workers) {
		pthread_mutex_lock(&l->mu);
		l->quit = 1;
		pthread_cond_broadcast(&l->work_cv);
		pthread_mutex_unlock(&l->mu);
		for (int i = 0; i < l->nworkers; i++) {
			if (l->workers[i].started)
				pthread_join(l->workers[i].thread, NULL);
			kcv_instance_free(l->workers[i].augment);
			kcv_sample_release(&l->workers[i].sample);
		}
		free(l->workers);
	}
	for (int i = 0; l->slots && i < l->nslots; i++) {
		kcv_batch_free(l->slots[i].batch);
		free(l->slots[i].valid);
	}
	free(l->slots);
	free(l->order);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->work_cv);
	pthread_cond_destroy(&l->done_cv);
	free(l);
}

kcv_loader *kcv_loader_new(const kcv_instance *dataset, const json_t *augment_spec,
                           const kcv_context *augment_ctx, const kcv_loader_params *params,
                           kcv_error *err)
{
	kcv_loader *l = calloc(1, sizeof(*l));
	if (!l) {
		KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->work_cv, NULL);
	pthread_cond_init(&l->done_cv, NULL);
	l->dataset = dataset;
	l->p = *params;
	if (l->p.batch_size < 1)
		l->p.batch_size = 1;
	if (l->p.workers < 1)
		l->p.workers = 1;
	if (l->p.prefetch < 1)
		l->p.prefetch = 2;
	l->n = kcv_dataset_size(dataset);
	if (l->p.limit && l->p.limit < l->n)
		l->n = l->p.limit;
	size_t b = (size_t)l->p.batch_size;
	l->num_batches = l->p.drop_remainder ? l->n / b : (l->n + b - 1) / b;
	l->claimable = l->p.drop_remainder ? l->num_batches * b : l->n;
	l->nslots = l->p.prefetch;
	l->order = calloc(l->n ? l->n : 1, sizeof(size_t));
	l->slots = calloc((size_t)l->nslots, sizeof(slot));
	l->workers = calloc((size_t)l->p.workers, sizeof(worker));
	if (!l->order || !l->slots || !l->workers)
		goto nomem;
	int w = augment_ctx ? augment_ctx->image_width : 0;
	int h = augment_ctx ? augment_ctx->image_height : 0;
	if (w <= 0 || h <= 0) {
		KCV_ERROR(err, KCV_ERR_INVALID, NULL, NULL, "loader needs the image size");
		goto fail;
	}
	for (int i = 0; i < l->nslots; i++) {
		l->slots[i].batch = kcv_batch_new(l->p.batch_size, w, h, err);
		l->slots[i].valid = calloc(b, 1);
		if (!l->slots[i].batch || !l->slots[i].valid)
			goto nomem;
	}
	/* each worker owns an augmenter, created here, serially */
	l->nworkers = l->p.workers;
	for (int i = 0; i < l->nworkers; i++) {
		l->workers[i].l = l;
		if (augment_spec) {
			l->workers[i].augment = kcv_instance_new(augment_ctx->registry, KCV_KIND_AUGMENTER,
			                                         augment_spec, augment_ctx, err);
			if (!l->workers[i].augment)
				goto fail;
		}
	}
	for (int i = 0; i < l->nworkers; i++) {
		if (pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i]) != 0) {
			KCV_ERROR(err, KCV_ERR_INTERNAL, NULL, NULL, "cannot start loader thread");
			goto fail;
		}
		l->workers[i].started = 1;
	}
	return l;
nomem:
	KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory for the loader");
fail:
	kcv_loader_free(l);
	return NULL;
}

size_t kcv_loader_num_batches(const kcv_loader *l)
{
	return l->num_batches;
}

kcv_status kcv_loader_start(kcv_loader *l, uint64_t epoch, kcv_error *err)
{
	return kcv_loader_start_at(l, epoch, 0, err);
}

kcv_status kcv_loader_start_at(kcv_loader *l, uint64_t epoch, size_t first_batch,
                               kcv_error *err)
{
	if (first_batch > l->num_batches)
		first_batch = l->num_batches;
	pthread_mutex_lock(&l->mu);
	/* stop handing out work of a previous epoch, and let in-flight work end */
	l->running = 0;
	while (l->active > 0)
		pthread_cond_wait(&l->done_cv, &l->mu);
	for (size_t i = 0; i < l->n; i++)
		l->order[i] = i;
	if (l->p.shuffle && l->n > 1) {
		kcv_rng rng;
		kcv_rng_seed(&rng, l->p.seed, epoch, 0x5348u, 0);
		for (size_t i = l->n - 1; i > 0; i--) {
			size_t j = (size_t)kcv_rng_below(&rng, i + 1);
			size_t t = l->order[i];
			l->order[i] = l->order[j];
			l->order[j] = t;
		}
	}
	l->epoch = epoch;
	l->next_pos = first_batch * (size_t)l->p.batch_size;
	l->consumer = first_batch;
	l->handed_out = 0;
	l->failed = 0;
	kcv_error_clear(&l->error);
	for (int i = 0; i < l->nslots; i++) {
		size_t b = first_batch + (size_t)i;
		slot_reset(l, &l->slots[b % (size_t)l->nslots], b);
	}
	l->running = 1;
	pthread_cond_broadcast(&l->work_cv);
	pthread_mutex_unlock(&l->mu);
	(void)err;
	return KCV_OK;
}

/* Pack loaded samples to the front when some were skipped. */
static void compact(kcv_loader *l, slot *s)
{
	kcv_batch *b = s->batch;
	size_t plane = (size_t)b->width * b->height * 3;
	int n = 0;
	for (int i = 0; i < s->expected; i++) {
		if (!s->valid[i])
			continue;
		if (n != i) {
			memcpy(b->images + (size_t)n * plane, b->images + (size_t)i * plane,
			       plane * sizeof(float));
			kcv_boxes t = b->boxes[n];
			b->boxes[n] = b->boxes[i];
			b->boxes[i] = t;
			b->indices[n] = b->indices[i];
			memcpy(b->ids[n], b->ids[i], sizeof(b->ids[n]));
		}
		n++;
	}
	b->n = n;
	(void)l;
}

const kcv_batch *kcv_loader_next(kcv_loader *l, kcv_error *err)
{
	pthread_mutex_lock(&l->mu);
	if (!l->running) {
		pthread_mutex_unlock(&l->mu);
		KCV_ERROR(err, KCV_ERR_INTERNAL, NULL, NULL, "kcv_loader_next before kcv_loader_start");
		return NULL;
	}
	for (;;) {
		if (l->handed_out) {
			/* the previous batch's slot is free again: give it the next batch */
			slot *prev = &l->slots[(l->consumer - 1) % (size_t)l->nslots];
			slot_reset(l, prev, l->consumer - 1 + (size_t)l->nslots);
			l->handed_out = 0;
			pthread_cond_broadcast(&l->work_cv);
		}
		if (l->consumer >= l->num_batches) {
			pthread_mutex_unlock(&l->mu);
			return NULL;
		}
		slot *s = &l->slots[l->consumer % (size_t)l->nslots];
		while (!l->failed && s->done < s->expected)
			pthread_cond_wait(&l->done_cv, &l->mu);
		if (l->failed) {
			kcv_error e = l->error;
			l->running = 0;
			pthread_mutex_unlock(&l->mu);
			if (err && !err->code)
				*err = e;
			return NULL;
		}
		compact(l, s);
		l->consumer++;
		l->handed_out = 1;
		if (s->batch->n == 0)
			continue; /* every sample of it was skipped */
		pthread_mutex_unlock(&l->mu);
		return s->batch;
	}
}

size_t kcv_loader_skipped(const kcv_loader *l)
{
	pthread_mutex_lock((pthread_mutex_t *)&l->mu);
	size_t n = l->skipped;
	pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
	return n;
}

size_t kcv_loader_clipped(const kcv_loader *l)
{
	pthread_mutex_lock((pthread_mutex_t *)&l->mu);
	size_t n = l->clipped;
	pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
	return n;
}
