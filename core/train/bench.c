/* kcv bench: the speed of a pipeline's model, train step and inference
 * (decoder included), on one batch of the pipeline's own data. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../util-impl.h"
#include "run-impl.h"

static double peak_rss_mb(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return NAN;
	return (double)ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

/* Time `steps` runs (after `warmup`) of a forward (+ backward + update), or
 * of a forward + decode of every image. Returns seconds per step. */
static kcv_status time_steps(kcv_model *m, kcv_optim *opt, kcv_evaluator *ev, int warmup,
                             int steps, double *per_step, kcv_error *err)
{
	double t0 = 0;
	for (int s = 0; s < warmup + steps; s++) {
		if (s == warmup)
			t0 = kcv_now();
		kcv_status st = kcv_graph_forward(m->g, err);
		if (!st && opt)
			st = kcv_graph_run_backward(m->g, err);
		if (!st && opt) {
			kcv_optim_report rep;
			st = kcv_optim_step(opt, &rep, err);
		}
		for (int i = 0; !st && ev && i < m->batch; i++)
			st = kcv_model_detect(m, i, ev->decoder, &ev->dets[i], err);
		if (st)
			return st;
	}
	*per_step = (kcv_now() - t0) / steps;
	return KCV_OK;
}

kcv_status kcv_bench(const kcv_pipeline *p, const kcv_bench_params *bp, json_t **result,
                     kcv_error *err)
{
	if (result)
		*result = NULL;
	int steps = bp && bp->steps > 0 ? bp->steps : 10;
	int warmup = bp && bp->warmup >= 0 ? bp->warmup : 2;
	FILE *log = bp && bp->log ? bp->log : stderr;
	int batch = kcv_pipeline_batch_size(p);
	kcv_instance *ds = NULL;
	kcv_loader *l = kcv_split_loader(p, "train", 1, 0, &ds, err);
	if (!l)
		return err->code;
	kcv_model *train = NULL, *infer = NULL;
	kcv_optim *opt = NULL;
	kcv_evaluator ev = {0};
	json_t *res = NULL;
	kcv_status st = kcv_loader_start(l, 0, err);
	const kcv_batch *b = st ? NULL : kcv_loader_next(l, err);
	if (!b) {
		st = err->code ? err->code : KCV_ERR_INVALID;
		goto done;
	}
	double train_s = NAN, infer_s = NAN, flops = 0, train_flops = 0;
	if (!bp || !bp->inference_only) {
		train = kcv_model_new(p, batch, 1, 1, err);
		if (!train) {
			st = err->code;
			goto done;
		}
		const kcv_run_config *rc = kcv_pipeline_run_config(p);
		/* the length of the run does not change the speed */
		kcv_schedule sched = kcv_run_schedule(rc, 1000);
		opt = kcv_optim_new(&rc->optim, &sched, err);
		if (!opt || (st = kcv_model_register(train, opt, err)) != KCV_OK ||
		    (st = kcv_model_init(train, err)) != KCV_OK ||
		    (st = kcv_model_feed(train, b, err)) != KCV_OK) {
			st = st ? st : err->code;
			goto done;
		}
		kcv_graph_set_profiling(train->g, bp && bp->profile);
		st = time_steps(train, opt, NULL, warmup, steps, &train_s, err);
		if (st)
			goto done;
		flops = kcv_graph_forward_flops(train->g);
		train_flops = flops + kcv_graph_backward_flops(train->g);
		if (bp && bp->profile) {
			fprintf(log, "train step (forward + backward), %d steps:\n", warmup + steps);
			kcv_graph_print_profile(train->g, log);
		}
		kcv_model_free(train);
		train = NULL;
	}
	infer = kcv_model_new(p, batch, 0, 0, err);
	if (!infer || (st = kcv_model_init(infer, err)) != KCV_OK ||
	    (st = kcv_model_feed_images(infer, b->images, b->n, err)) != KCV_OK ||
	    (st = kcv_evaluator_init(&ev, p, batch, err)) != KCV_OK) {
		st = st ? st : err->code;
		goto done;
	}
	kcv_graph_set_profiling(infer->g, bp && bp->profile);
	st = time_steps(infer, NULL, &ev, warmup, steps, &infer_s, err);
	if (st)
		goto done;
	if (flops == 0)
		flops = kcv_graph_forward_flops(infer->g);
	if (bp && bp->profile) {
		fprintf(log, "inference (forward; the decoder is not an op), %d steps:\n",
		         warmup + steps);
		kcv_graph_print_profile(infer->g, log);
	}
	/* achieved rates count the work the graphs do: the train step's forward
	 * and the gradients it computes (none through a frozen backbone) */
	double train_ips = batch / train_s, infer_ips = batch / infer_s;
	double infer_gflops = flops / infer_s / 1e9;
	double train_gflops = isfinite(train_s) ? train_flops / train_s / 1e9 : NAN;
	res = json_pack("{s:f,s:f,s:f,s:f,s:f,s:i,s:i,s:[i,i],s:f,s:f}", "train_images_per_s",
	                isfinite(train_ips) ? train_ips : 0.0, "inference_images_per_s", infer_ips,
	                "gflops", isfinite(train_gflops) ? train_gflops : infer_gflops,
	                "inference_gflops", infer_gflops, "peak_rss_mb", peak_rss_mb(), "batch_size",
	                batch, "threads", kcv_pipeline_threads(p), "image_size",
	                kcv_pipeline_context(p).image_height, kcv_pipeline_context(p).image_width,
	                "forward_gflop_per_image", flops / batch / 1e9, "train_gflop_per_image",
	                train_flops / batch / 1e9);
	json_object_set_new(res, "precision",
	                    json_string(kcv_pipeline_precision(p) == KCV_PRECISION_BF16 ? "bf16"
	                                                                                 : "float32"));
	if (!isfinite(train_ips)) {
		json_object_set_new(res, "train_images_per_s", json_null());
		json_object_set_new(res, "train_gflop_per_image", json_null());
	}
done:
	kcv_evaluator_release(&ev);
	kcv_model_free(infer);
	kcv_model_free(train);
	kcv_optim_free(opt);
	kcv_loader_free(l);
	kcv_instance_free(ds);
	if (result && !st)
		*result = res;
	else
		json_decref(res);
	return st;
}
