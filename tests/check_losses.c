/* The loss plugins (focal_loss, smooth_l1_loss, l1_loss, giou_loss) driven
 * through the registry: hand-computed values, per-anchor weights (weight 0
 * with extreme predictions stays finite, in the value and the gradient),
 * gradients of sum(out) against finite differences through the graph, bad
 * options and bad input shapes.
 *
 * With arguments it is the driver of tests/losses_parity.sh:
 *   check_losses --run 'SPEC' IN.safetensors OUT.safetensors
 * reads predictions [N,A,K], targets [N,A,K] and weights [N,A] from IN,
 * builds the loss SPEC (a JSON component spec) and writes "loss" [N] and
 * "grad" [N,A,K] (d sum(loss) / d predictions) to OUT;
 *   check_losses --bench THREADS
 * times the focal loss of a VOC batch (8 x 49,104 x 20), fused and not. */
#include <check.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kcv/kcv.h>

#include "plugin_check.h"

/* ---- running a loss (no Check macros: the driver mode uses these too) ---- */

static kcv_instance *loss_create(const kcv_registry *reg, const char *json, kcv_error *err)
{
	return plugin_check_instance(reg, KCV_KIND_LOSS, "losses.box", 64, json, err);
}

/* Build the loss for inputs [n,a,k] and run forward and backward: out [n]
 * and grad [n*a*k] (of sum(out) by the predictions; either may be NULL). */
static kcv_status loss_eval(kcv_instance *inst, int n, int a, int k, const float *pred,
                            const float *tgt, const float *w, float *out, float *grad,
                            kcv_error *err)
{
	kcv_graph_params gp = {.threads = 2};
	kcv_graph *g = kcv_graph_new(&gp, err);
	if (!g)
		return err->code;
	kcv_shape s3 = kcv_shape_make(3, (int64_t[]){n, a, k});
	kcv_shape s2 = kcv_shape_make(2, (int64_t[]){n, a});
	kcv_node p = kcv_graph_param(g, "pred", s3, KCV_PARAM_TRAINABLE);
	kcv_node t = kcv_graph_input(g, "targets", s3);
	kcv_node wt = kcv_graph_input(g, "weights", s2);
	const kcv_loss_vtable *vt = kcv_instance_component(inst)->vtable;
	kcv_node o = -1;
	kcv_status st = vt->build(kcv_instance_priv(inst), g, p, t, wt, &o, err);
	if (st)
		goto done;
	kcv_node total = kcv_op_sum(g, o, KCV_AXIS_ALL, 0);
	if ((st = kcv_graph_mark_output(g, o)) || (st = kcv_graph_backward(g, total, err)) ||
	    (st = kcv_graph_compile(g, err)))
		goto done;
	size_t m = (size_t)n * a * k;
	memcpy(kcv_graph_data(g, p), pred, m * sizeof(float));
	memcpy(kcv_graph_data(g, t), tgt, m * sizeof(float));
	memcpy(kcv_graph_data(g, wt), w, (size_t)n * a * sizeof(float));
	if ((st = kcv_graph_forward(g, err)) || (st = kcv_graph_run_backward(g, err)))
		goto done;
	if (out)
		memcpy(out, kcv_graph_data(g, o), (size_t)n * sizeof(float));
	if (grad)
		memcpy(grad, kcv_graph_grad(g, p), m * sizeof(float));
done:
	if (st && err && !err->code)
		KCV_ERROR(err, st, "test", NULL, "graph error");
	kcv_graph_free(g);
	return st;
}

/* ---- driver mode ------------------------------------------------------------ */

static int read_tensor(const kcv_weights *w, const char *name, int rank, int64_t *dims,
                       float **data)
{
	kcv_tensor_info info;
	kcv_error err = {0};
	if (kcv_weights_find(w, name, &info) != 0 || info.rank != rank) {
		fprintf(stderr, "check_losses: no tensor \"%s\" of rank %d\n", name, rank);
		return -1;
	}
	memcpy(dims, info.dims, (size_t)rank * sizeof(int64_t));
	*data = malloc(info.numel ? info.numel * sizeof(float) : 1);
	if (!*data || kcv_weights_read_f32(w, name, *data, info.numel, &err)) {
		fprintf(stderr, "check_losses: %s: %s\n", name, err.text);
		return -1;
	}
	return 0;
}

static int run_driver(const char *spec, const char *in_path, const char *out_path)
{
	kcv_error err = {0};
	char msg[1400];
	int rc = 1;
	float *pred = NULL, *tgt = NULL, *w = NULL, *out = NULL, *grad = NULL;
	kcv_weights_writer *wr = NULL;
	kcv_instance *inst = NULL;
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	kcv_weights *in = reg ? kcv_weights_open(in_path, &err) : NULL;
	if (!in)
		goto fail;
	int64_t pd[3], td[3], wd[2];
	if (read_tensor(in, "predictions", 3, pd, &pred) || read_tensor(in, "targets", 3, td, &tgt) ||
	    read_tensor(in, "weights", 2, wd, &w))
		goto done;
	if (!(inst = loss_create(reg, spec, &err)))
		goto fail;
	out = malloc((size_t)pd[0] * sizeof(float));
	grad = malloc((size_t)(pd[0] * pd[1] * pd[2]) * sizeof(float));
	if (!out || !grad)
		goto done;
	if (loss_eval(inst, (int)pd[0], (int)pd[1], (int)pd[2], pred, tgt, w, out, grad, &err))
		goto fail;
	if (!(wr = kcv_weights_writer_new(&err)) ||
	    kcv_weights_writer_add(wr, "loss", out, 1, pd, &err) ||
	    kcv_weights_writer_add(wr, "grad", grad, 3, pd, &err) ||
	    kcv_weights_writer_save(wr, out_path, &err))
		goto fail;
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "check_losses: %s\n", kcv_error_format(&err, msg, sizeof(msg)));
done:
	kcv_weights_writer_free(wr);
	kcv_instance_free(inst);
	kcv_weights_free(in);
	kcv_registry_free(reg);
	free(pred), free(tgt), free(w), free(out), free(grad);
	return rc;
}

/* ---- bench mode ----------------------------------------------------------------- */

/* The focal loss of VOC at 512x512 (batch 8, 49,104 anchors, 20 classes):
 * the fused op against the same loss composed of elementwise graph ops
 * (binary targets), forward + backward, with the planned memory. */
static int run_bench(int threads)
{
	enum { N = 8, A = 49104, C = 20 };
	kcv_error err = {0};
	kcv_rng rng;
	kcv_rng_seed(&rng, 1, 0, 0, 0);
	size_t m = (size_t)N * A * C;
	float *x = malloc(m * sizeof(float)), *t = malloc(m * sizeof(float));
	if (!x || !t)
		return 1;
	for (size_t i = 0; i < m; i++) {
		x[i] = (float)(kcv_rng_normal(&rng) * 2 - 4.6);
		t[i] = kcv_rng_below(&rng, 200) == 0 ? 1.0f : 0.0f;
	}
	for (int fused = 1; fused >= 0; fused--) {
		kcv_graph *g = kcv_graph_new(&(kcv_graph_params){.threads = threads}, &err);
		kcv_shape s = kcv_shape_make(3, (int64_t[]){N, A, C});
		kcv_node p = kcv_graph_param(g, "logits", s, KCV_PARAM_TRAINABLE);
		kcv_node tg = kcv_graph_input(g, "targets", s);
		kcv_node per;
		if (fused) {
			kcv_focal_params fp = {0.25f, 2, 0, 1};
			per = kcv_op_focal_loss(g, p, tg, &fp);
		} else { /* alpha_t (1 - p_t)^2 CE with p_t = t p + (1 - t)(1 - p) */
			kcv_node pr = kcv_op_sigmoid(g, p);
			kcv_node ce = kcv_op_bce_logits(g, p, tg);
			kcv_node tp = kcv_op_mul(g, tg, pr);
			kcv_node q = kcv_op_sub(g, kcv_op_add(g, pr, tg), kcv_op_affine(g, tp, 2, 0));
			kcv_node at = kcv_op_affine(g, tg, -0.5f, 0.75f);
			kcv_node l = kcv_op_mul(g, kcv_op_mul(g, at, kcv_op_square(g, q)), ce);
			per = kcv_op_sum(g, l, -1, 0);
		}
		kcv_node loss = kcv_op_sum(g, per, KCV_AXIS_ALL, 0);
		if (kcv_graph_mark_output(g, loss) || kcv_graph_backward(g, loss, &err) ||
		    kcv_graph_compile(g, &err)) {
			fprintf(stderr, "check_losses: %s\n", err.text);
			return 1;
		}
		memcpy(kcv_graph_data(g, p), x, m * sizeof(float));
		memcpy(kcv_graph_data(g, tg), t, m * sizeof(float));
		double best = 1e9;
		float value = 0;
		for (int r = 0; r < 3; r++) {
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (kcv_graph_forward(g, &err) || kcv_graph_run_backward(g, &err))
				return 1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
			best = ms < best ? ms : best;
			value = kcv_graph_data(g, loss)[0];
		}
		printf("%-34s %d threads: forward+backward %8.1f ms, activations %6.0f MiB, loss %.6g\n",
		       fused ? "focal_loss (fused op)" : "focal loss from 11 graph ops", threads, best,
		       (double)kcv_graph_arena_bytes(g) / (1 << 20), (double)value);
		kcv_graph_free(g);
	}
	free(x);
	free(t);
	return 0;
}

/* ---- Check helpers ------------------------------------------------------------ */

static kcv_registry *reg_new(void)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	ck_assert_msg(reg != NULL, "registry: %s", kcv_error_format(&err, msg, sizeof(msg)));
	return reg;
}

static kcv_instance *loss_new(const kcv_registry *reg, const char *json)
{
	kcv_error err = {0};
	char msg[1400];
	kcv_instance *inst = loss_create(reg, json, &err);
	ck_assert_msg(inst != NULL, "%s: %s", json, kcv_error_format(&err, msg, sizeof(msg)));
	return inst;
}

/* One loss on one batch; out [n] and grad (may be NULL). */
static void loss_run(const char *json, int n, int a, int k, const float *pred, const float *tgt,
                     const float *w, float *out, float *grad)
{
	kcv_registry *reg = reg_new();
	kcv_instance *inst = loss_new(reg, json);
	kcv_error err = {0};
	char msg[1400];
	kcv_status st = loss_eval(inst, n, a, k, pred, tgt, w, out, grad, &err);
	ck_assert_msg(st == KCV_OK, "%s: %s", json, kcv_error_format(&err, msg, sizeof(msg)));
	kcv_instance_free(inst);
	kcv_registry_free(reg);
}

#define ck_assert_close(got, want, rtol)                                                       \
	ck_assert_msg(fabs((double)(got) - (double)(want)) <= (rtol) * fabs((double)(want)) + 1e-7, \
	              "%s = %.9g, expected %.9g", #got, (double)(got), (double)(want))

/* ---- focal_loss ------------------------------------------------------------- */

START_TEST(test_focal_values)
{
	/* image 0: anchor 0 = logits [0, 2] for one-hot [1, 0], weight 1;
	 *          anchor 1 the same with weight 0.5.
	 * [0 vs 1]: p = 0.5, CE = ln 2, 1 - p_t = 0.5, alpha_t = 0.25
	 *           -> 0.25 * 0.25 * ln 2 = 0.0433216988
	 * [2 vs 0]: p = sigmoid(2), CE = softplus(2), 1 - p_t = p, alpha_t = 0.75
	 *           -> 0.75 * sigmoid(2)^2 * softplus(2) = 1.23755863
	 * image 1: one anchor of weight 2, the other 0 */
	const float pred[8] = {0, 2, 0, 2, 0, 2, 0, 2}, tgt[8] = {1, 0, 1, 0, 1, 0, 1, 0};
	const float w[4] = {1, 0.5f, 2, 0};
	const double per = 0.04332169878499658 + 1.2375586345660565;
	float out[2];
	loss_run("{\"plugin\": \"focal_loss\"}", 2, 2, 2, pred, tgt, w, out, NULL);
	ck_assert_close(out[0], 1.5 * per, 1e-6);
	ck_assert_close(out[1], 2 * per, 1e-6);
	/* label smoothing 0.2: y = 0.9 and 0.1 in CE and p_t, alpha by the raw
	 * target: [0 vs 0.9] is unchanged at x = 0, [2 vs 0.1] = 0.93568026 */
	loss_run("{\"plugin\": \"focal_loss\", \"label_smoothing\": 0.2}", 2, 2, 2, pred, tgt, w, out,
	         NULL);
	ck_assert_close(out[1], 2 * 0.9790019570950007, 1e-6);
	/* no balancing (alpha < 0), gamma 0: plain cross-entropy ln 2 + softplus(2) */
	loss_run("{\"plugin\": \"focal_loss\", \"alpha\": -1, \"gamma\": 0}", 2, 2, 2, pred, tgt, w,
	         out, NULL);
	ck_assert_close(out[1], 2 * (log(2) + 2 + log1p(exp(-2))), 1e-6);
	/* probabilities: [0.9 vs 1] -> 0.25 * 0.1^2 * -ln(0.9 + 1e-7);
	 * [0.2 vs 0] -> 0.75 * 0.2^2 * -ln(0.8 + 1e-7) (float inputs) */
	const float prob[2] = {0.9f, 0.2f}, one[2] = {1, 0}, w1[1] = {1};
	loss_run("{\"plugin\": \"focal_loss\", \"from_logits\": false}", 1, 1, 2, prob, one, w1, out,
	         NULL);
	ck_assert_close(out[0], 0.006957704303884616, 1e-5);
}
END_TEST

/* Weight 0 with extreme predictions: the value and the gradient stay finite
 * and the anchor contributes exactly nothing. */
static void zero_weight_case(const char *json, int k, const float *extreme, const float *tgt_x,
                             const float *normal, const float *tgt_n)
{
	float pred[2 * 8], tgt[2 * 8], w[2] = {0, 1}, out[1], grad[16], ref[1], rgrad[8];
	memcpy(pred, extreme, (size_t)k * sizeof(float));
	memcpy(pred + k, normal, (size_t)k * sizeof(float));
	memcpy(tgt, tgt_x, (size_t)k * sizeof(float));
	memcpy(tgt + k, tgt_n, (size_t)k * sizeof(float));
	loss_run(json, 1, 2, k, pred, tgt, w, out, grad);
	float w1[1] = {1};
	loss_run(json, 1, 1, k, normal, tgt_n, w1, ref, rgrad);
	ck_assert_msg(isfinite(out[0]) && out[0] == ref[0], "%s: %g, alone %g", json,
	              (double)out[0], (double)ref[0]);
	for (int i = 0; i < k; i++) {
		ck_assert_msg(grad[i] == 0.0f, "%s: weight-0 gradient [%d] = %g", json, i,
		              (double)grad[i]);
		ck_assert_msg(isfinite(grad[k + i]) && grad[k + i] == rgrad[i], "%s: gradient [%d]",
		              json, k + i);
	}
}

START_TEST(test_zero_weights)
{
	const float big4[4] = {1e30f, -1e30f, 1e30f, -1e30f}, t01[4] = {0, 1, 1, 0};
	const float mid4[4] = {0.3f, -1.2f, 2.0f, 0.1f}, t10[4] = {1, 0, 0, 0};
	const float huge4[4] = {-1e4f, 1e4f, 100, -100};
	zero_weight_case("{\"plugin\": \"focal_loss\"}", 4, big4, t01, mid4, t10);
	zero_weight_case("{\"plugin\": \"focal_loss\"}", 4, huge4, t01, mid4, t10);
	zero_weight_case("{\"plugin\": \"focal_loss\", \"gamma\": 0.5, \"label_smoothing\": 0.1}", 4,
	                 big4, t01, mid4, t10);
	const float pbad[4] = {-3, 7, 0, 1}, pmid[4] = {0.3f, 0.8f, 0.5f, 0.1f};
	zero_weight_case("{\"plugin\": \"focal_loss\", \"from_logits\": false}", 4, pbad, t01, pmid,
	                 t10);
	const float z4[4] = {0, 0, 0, 0}, d4[4] = {0.5f, -0.3f, 0.2f, 1.5f};
	zero_weight_case("{\"plugin\": \"smooth_l1_loss\"}", 4, big4, z4, d4, z4);
	zero_weight_case("{\"plugin\": \"l1_loss\"}", 4, big4, z4, d4, z4);
	zero_weight_case("{\"plugin\": \"giou_loss\", \"box_coding\": \"top_left\"}", 4, big4, z4,
	                 d4, z4);
	zero_weight_case("{\"plugin\": \"giou_loss\"}", 4, z4, big4, d4, z4);
	zero_weight_case("{\"plugin\": \"giou_loss\", \"box_coding\": \"center\", \"decode_clamp\": 0}",
	                 4, big4, huge4, d4, z4);
}
END_TEST

/* ---- box losses -------------------------------------------------------------- */

START_TEST(test_smooth_l1_values)
{
	/* d = target - pred = [-0.5, 2, 0, -1]: 0.125, 1.5, 0, 0.5 (|d| = 1 is
	 * not below the cutoff: |d| - 0.5) */
	const float pred[8] = {0.5f, -2, 0, 1, 0.5f, -2, 0, 1}, tgt[8] = {0};
	const float w[2] = {1, 0.25f};
	float out[1];
	loss_run("{\"plugin\": \"smooth_l1_loss\"}", 1, 2, 4, pred, tgt, w, out, NULL);
	ck_assert_close(out[0], 1.25 * 2.125 / 4, 1e-6);
	loss_run("{\"plugin\": \"smooth_l1_loss\", \"reduction\": \"sum\"}", 1, 2, 4, pred, tgt, w, out,
	         NULL);
	ck_assert_close(out[0], 1.25 * 2.125, 1e-6);
	/* cutoff 2: 0.125, 2 - 0.5, 0, 0.5 (|d| = 2 is not below 2) */
	loss_run("{\"plugin\": \"smooth_l1_loss\", \"l1_cutoff\": 2}", 1, 2, 4, pred, tgt, w, out,
	         NULL);
	ck_assert_close(out[0], 1.25 * 2.125 / 4, 1e-6);
	/* cutoff 0.4: every |d| >= 0.4 but the 0: 0, 1.5, 0, 0.5 */
	loss_run("{\"plugin\": \"smooth_l1_loss\", \"l1_cutoff\": 0.4}", 1, 2, 4, pred, tgt, w, out,
	         NULL);
	ck_assert_close(out[0], 1.25 * 2.0 / 4, 1e-6);
}
END_TEST

START_TEST(test_l1_values)
{
	const float pred[4] = {0.5f, -2, 0, 1}, tgt[4] = {0.25f, 0, 0, 3}, w[1] = {2};
	float out[1];
	loss_run("{\"plugin\": \"l1_loss\"}", 1, 1, 4, pred, tgt, w, out, NULL);
	ck_assert_close(out[0], 2 * 4.25, 1e-6);
	loss_run("{\"plugin\": \"l1_loss\", \"reduction\": \"mean\"}", 1, 1, 4, pred, tgt, w, out,
	         NULL);
	ck_assert_close(out[0], 2 * 4.25 / 4, 1e-6);
}
END_TEST

START_TEST(test_giou_values)
{
	/* top-left, variance [0.1, 0.1, 0.2, 0.2], unit anchor: zero deltas are
	 * [0, 0, 1, 1]. Targets:
	 *   dx = 5           -> [0.5, 0, 1.5, 1]: I 0.5, U 1.5, C 1.5 -> 1 - 1/3
	 *   dw = ln 2 / 0.2  -> [0, 0, 2, 1]:     I 1,   U 2,   C 2   -> 1 - 1/2
	 *   dx = dy = 20     -> [2, 2, 3, 3]:     I 0,   U 2,   C 9   -> 1 + 7/9
	 *   dx = 10          -> [1, 0, 2, 1]:     touching             -> 1
	 *   0                -> identical                              -> 0 */
	const float pred[20] = {0};
	const float tgt[20] = {5, 0, 0, 0, 0, 0, (float)(log(2) / 0.2), 0, 20, 20, 0, 0,
	                       10, 0, 0, 0, 0, 0, 0, 0};
	const double want[5] = {2.0 / 3, 0.5, 16.0 / 9, 1, 0};
	const char *json[3] = {"{\"plugin\": \"giou_loss\", \"box_coding\": \"top_left\"}",
	                       "{\"plugin\": \"giou_loss\"}",
	                       "{\"plugin\": \"giou_loss\", \"box_coding\": \"top_left\", "
	                       "\"box_variance\": [1, 1, 1, 1]}"};
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < 5; i++) {
			float w[5] = {0}, out[1], t[20];
			memcpy(t, tgt, sizeof(t));
			if (c == 2) /* the same boxes with variance 1 */
				for (int j = 0; j < 20; j++)
					t[j] = j % 4 < 2 ? tgt[j] / 10 : tgt[j] / 5;
			w[i] = 1;
			loss_run(json[c], 1, 5, 4, pred, t, w, out, NULL);
			/* centre coding moves both boxes by (-0.5, -0.5), but for the
			 * width change, which grows around the centre: [-1, -0.5, 1, 0.5]
			 * vs [-0.5, -0.5, 0.5, 0.5]: I 1, U 2, C 2 -> 0.5 as well */
			ck_assert_msg(fabs(out[0] - want[i]) < 1e-6, "%s, target %d: %g, expected %g",
			              json[c], i, (double)out[0], want[i]);
		}
	/* the clamp: dw = 100 is capped at ln(1000/16), a box 62.5 wide, centred
	 * on the unit box: I 1, U 62.5, C 62.5 */
	const float p1[4] = {0, 0, 0, 0}, t1[4] = {0, 0, 100, 0}, w1[1] = {1};
	float out[1];
	loss_run("{\"plugin\": \"giou_loss\", \"box_variance\": [1, 1, 1, 1]}", 1, 1, 4, p1, t1, w1,
	         out, NULL);
	ck_assert_close(out[0], 1 - 1 / 62.5, 1e-6);
}
END_TEST

/* ---- gradients by finite differences through the graph ----------------------- */

static void fd_case(const char *json, int n, int a, int k, const float *pred, const float *tgt,
                    const float *w)
{
	size_t m = (size_t)n * a * k;
	float *grad = malloc(m * sizeof(float)), *p = malloc(m * sizeof(float));
	float out[8], op[8], om[8];
	ck_assert(grad && p && n <= 8);
	loss_run(json, n, a, k, pred, tgt, w, out, grad);
	memcpy(p, pred, m * sizeof(float));
	kcv_registry *reg = reg_new();
	kcv_instance *inst = loss_new(reg, json);
	kcv_error err = {0};
	for (size_t i = 0; i < m; i++) {
		float h = 2e-3f * fmaxf(1.0f, fabsf(pred[i]));
		p[i] = pred[i] + h;
		ck_assert_int_eq(loss_eval(inst, n, a, k, p, tgt, w, op, NULL, &err), KCV_OK);
		p[i] = pred[i] - h;
		ck_assert_int_eq(loss_eval(inst, n, a, k, p, tgt, w, om, NULL, &err), KCV_OK);
		p[i] = pred[i];
		double lp = 0, lm = 0;
		for (int j = 0; j < n; j++)
			lp += op[j], lm += om[j];
		double fd = (lp - lm) / (2.0 * h);
		ck_assert_msg(fabs(grad[i] - fd) <= 2e-3 + 1e-2 * fabs(fd),
		              "%s: d/dpred[%zu] = %.7g, finite difference %.7g", json, i, (double)grad[i],
		              fd);
	}
	kcv_instance_free(inst);
	kcv_registry_free(reg);
	free(grad);
	free(p);
}

START_TEST(test_gradients)
{
	enum { N = 2, A = 6, C = 5 };
	kcv_rng rng;
	kcv_rng_seed(&rng, 7, 0, 0, 0);
	float x[N * A * C], pr[N * A * C], t[N * A * C], w[N * A];
	for (int i = 0; i < N * A * C; i++) {
		x[i] = (float)kcv_rng_range(&rng, -4, 4);
		pr[i] = (float)kcv_rng_range(&rng, 0.05, 0.95);
		t[i] = kcv_rng_below(&rng, 4) == 0 ? 1.0f : 0.0f;
	}
	for (int i = 0; i < N * A; i++)
		w[i] = i % 5 == 0 ? 0.0f : (float)kcv_rng_range(&rng, 0.1, 1);
	fd_case("{\"plugin\": \"focal_loss\"}", N, A, C, x, t, w);
	fd_case("{\"plugin\": \"focal_loss\", \"gamma\": 1.5, \"alpha\": 0.4}", N, A, C, x, t, w);
	fd_case("{\"plugin\": \"focal_loss\", \"label_smoothing\": 0.1}", N, A, C, x, t, w);
	fd_case("{\"plugin\": \"focal_loss\", \"from_logits\": false}", N, A, C, pr, t, w);
	/* boxes: deltas, away from the kinks (|d| = cutoff, d = 0) */
	float d[N * A * 4], bt[N * A * 4];
	for (int i = 0; i < N * A * 4; i++) {
		bt[i] = (float)kcv_rng_range(&rng, -2, 2);
		float e = (float)kcv_rng_range(&rng, 0.1, 0.8) * (kcv_rng_below(&rng, 2) ? 1 : -1);
		d[i] = bt[i] + (kcv_rng_below(&rng, 2) ? e : 1.4f * e + 0.3f * (e > 0 ? 1 : -1));
	}
	fd_case("{\"plugin\": \"smooth_l1_loss\"}", N, A, 4, d, bt, w);
	fd_case("{\"plugin\": \"smooth_l1_loss\", \"reduction\": \"sum\", \"l1_cutoff\": 0.5}", N, A,
	        4, d, bt, w);
	fd_case("{\"plugin\": \"l1_loss\"}", N, A, 4, d, bt, w);
	fd_case("{\"plugin\": \"giou_loss\", \"box_coding\": \"top_left\"}", N, A, 4, d, bt, w);
	fd_case("{\"plugin\": \"giou_loss\", \"box_coding\": \"center\", "
	        "\"box_variance\": [1, 1, 1, 1]}",
	        N, A, 4, d, bt, w);
}
END_TEST

/* ---- errors ------------------------------------------------------------------- */

static void expect_option_error(const char *json, const char *path, const char *text)
{
	plugin_check_option_error(KCV_KIND_LOSS, "losses.box", 64, json, path, text);
}

START_TEST(test_bad_options)
{
	expect_option_error("{\"plugin\": \"focal_loss\", \"alpah\": 0.5}", "losses.box.alpah",
	                    "alpha");
	expect_option_error("{\"plugin\": \"focal_loss\", \"alpha\": 1.5}", "losses.box.alpha",
	                    "1.5");
	expect_option_error("{\"plugin\": \"focal_loss\", \"gamma\": -1}", "losses.box.gamma", "-1");
	expect_option_error("{\"plugin\": \"focal_loss\", \"from_logits\": 1}",
	                    "losses.box.from_logits", "expected true or false");
	expect_option_error("{\"plugin\": \"focal_loss\", \"label_smoothing\": 2}",
	                    "losses.box.label_smoothing", "2");
	expect_option_error("{\"plugin\": \"smooth_l1_loss\", \"l1_cutoff\": 0}",
	                    "losses.box.l1_cutoff", "must be > 0, got 0");
	expect_option_error("{\"plugin\": \"smooth_l1_loss\", \"reduction\": \"max\"}",
	                    "losses.box.reduction", "max");
	expect_option_error("{\"plugin\": \"l1_loss\", \"l1_cutoff\": 1}", "losses.box.l1_cutoff",
	                    "l1_cutoff");
	expect_option_error("{\"plugin\": \"giou_loss\", \"box_variance\": [1, 1]}",
	                    "losses.box.box_variance", "4");
	expect_option_error("{\"plugin\": \"giou_loss\", \"box_variance\": [1, 0, 1, 1]}",
	                    "losses.box.box_variance", "item 1 must be > 0, got 0");
	expect_option_error("{\"plugin\": \"giou_loss\", \"box_coding\": \"corner\"}",
	                    "losses.box.box_coding", "corner");
	expect_option_error("{\"plugin\": \"giou_loss\", \"decode_clamp\": 100}",
	                    "losses.box.decode_clamp", "100");
}
END_TEST

static void expect_build_error(const char *json, kcv_shape ps, kcv_shape ts, kcv_shape ws,
                               const char *text)
{
	kcv_registry *reg = reg_new();
	kcv_instance *inst = loss_new(reg, json);
	kcv_error err = {0};
	char msg[1400];
	kcv_graph *g = kcv_graph_new(&(kcv_graph_params){.threads = 1}, &err);
	ck_assert_ptr_nonnull(g);
	kcv_node p = kcv_graph_param(g, "pred", ps, KCV_PARAM_TRAINABLE);
	kcv_node t = kcv_graph_input(g, "targets", ts);
	kcv_node w = kcv_graph_input(g, "weights", ws);
	kcv_node out = -1;
	const kcv_loss_vtable *vt = kcv_instance_component(inst)->vtable;
	kcv_status st = vt->build(kcv_instance_priv(inst), g, p, t, w, &out, &err);
	kcv_error_format(&err, msg, sizeof(msg));
	ck_assert_msg(st == KCV_ERR_INVALID && out == -1, "%s: built (%d)", json, st);
	ck_assert_msg(strcmp(msg, text) == 0, "\"%s\", expected \"%s\"", msg, text);
	kcv_graph_free(g);
	kcv_instance_free(inst);
	kcv_registry_free(reg);
}

START_TEST(test_bad_inputs)
{
	kcv_shape s3 = kcv_shape_make(3, (int64_t[]){2, 10, 4});
	kcv_shape s2 = kcv_shape_make(2, (int64_t[]){2, 10});
	expect_build_error("{\"plugin\": \"focal_loss\"}", s2, s2, s2,
	                   "test.json: losses.box: focal_loss: predictions must be [N, A, K], got "
	                   "[2, 10]");
	expect_build_error("{\"plugin\": \"smooth_l1_loss\"}", s3,
	                   kcv_shape_make(3, (int64_t[]){2, 10, 3}), s2,
	                   "test.json: losses.box: smooth_l1_loss: targets [2, 10, 3] differ from "
	                   "predictions [2, 10, 4]");
	expect_build_error("{\"plugin\": \"l1_loss\"}", s3, s3, kcv_shape_make(1, (int64_t[]){20}),
	                   "test.json: losses.box: l1_loss: weights must be [2, 10] for predictions "
	                   "[2, 10, 4], got [20]");
	kcv_shape s5 = kcv_shape_make(3, (int64_t[]){2, 10, 5});
	expect_build_error("{\"plugin\": \"giou_loss\"}", s5, s5, s2,
	                   "test.json: losses.box: giou_loss: predictions must be [N, A, 4] (box "
	                   "deltas), got [2, 10, 5]");
}
END_TEST

static Suite *losses_suite(void)
{
	Suite *s = suite_create("losses");
	TCase *tc = tcase_create("values");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_focal_values);
	tcase_add_test(tc, test_smooth_l1_values);
	tcase_add_test(tc, test_l1_values);
	tcase_add_test(tc, test_giou_values);
	tcase_add_test(tc, test_zero_weights);
	suite_add_tcase(s, tc);
	tc = tcase_create("gradients");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_gradients);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_bad_inputs);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--run") == 0)
		return run_driver(argv[2], argv[3], argv[4]);
	if (argc == 3 && strcmp(argv[1], "--bench") == 0)
		return run_bench(atoi(argv[2]));
	if (argc > 1) {
		fprintf(stderr, "usage: check_losses [--run SPEC IN.safetensors OUT.safetensors | "
		                "--bench THREADS]\n");
		return 2;
	}
	SRunner *sr = srunner_create(losses_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
