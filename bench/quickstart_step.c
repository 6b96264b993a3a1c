/* The quickstart's training step (forward + backward, no optimizer): the
 * resnet_custom backbone from the registry, an FPN of 64 channels on P3-P5
 * and two heads of two 3x3 convolutions with group norm and ReLU, shared
 * over the levels, then the class (6) and box (4) convolutions; the loss is
 * the mean of the squares of every head output. Compiled and run by
 * bench/quickstart_step.sh; bench/quickstart_step_torch.py is the same
 * network in PyTorch.
 *
 *   quickstart_step [--threads N] [--batch B] [--size S] [--steps R]
 *                   [--warmup W] [--backbone JSON] [--plugins DIR] [--profile]
 *
 * DIR: where the backbone plugin is (default plugins/backbone of the build
 * tree, the current folder).
 *
 * Prints one JSON line on stdout: the fastest and the median step (ms),
 * forward and backward of the fastest, images/s; the per-op profile of the
 * timed steps goes to stderr with --profile. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kcv/graph.h>
#include <kcv/plugin.h>
#include <kcv/registry.h>
#include <kcv/rng.h>

#define FPN 64
#define CLASSES 6
#define GROUPS 16 /* the heads' group norm (pipelines/quickstart.json) */

static const char default_backbone[] =
	"{\"plugin\": \"resnet_custom\", \"depths\": [1, 1, 1, 1], \"widths\": [32, 64, 128, 256],"
	" \"stem_width\": 32, \"norm\": \"group\", \"norm_groups\": 8, \"trainable\": true}";

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads): the work, whatever else
 * runs on the machine. */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static kcv_node conv(kcv_graph *g, kcv_node x, const char *name, int k, int cout, int bias)
{
	char key[128];
	int64_t cin = kcv_graph_shape(g, x).d[3];
	snprintf(key, sizeof(key), "%s.weight", name);
	kcv_node w = kcv_graph_find(g, key);
	if (w < 0)
		w = kcv_graph_param(g, key, kcv_shape_4d(k, k, cin, cout), KCV_PARAM_TRAINABLE);
	kcv_node b = -1;
	if (bias) {
		snprintf(key, sizeof(key), "%s.bias", name);
		b = kcv_graph_find(g, key);
		int64_t d[1] = {cout};
		if (b < 0)
			b = kcv_graph_param(g, key, kcv_shape_make(1, d), KCV_PARAM_TRAINABLE);
	}
	kcv_conv2d_params p = {.pad_top = k / 2, .pad_bottom = k / 2, .pad_left = k / 2,
	                       .pad_right = k / 2};
	return kcv_op_conv2d(g, x, w, b, &p);
}

static kcv_node gn_relu(kcv_graph *g, kcv_node x, const char *name)
{
	char kw[128], kb[128];
	int64_t d[1] = {kcv_graph_shape(g, x).d[3]};
	snprintf(kw, sizeof(kw), "%s.weight", name);
	snprintf(kb, sizeof(kb), "%s.bias", name);
	kcv_node gm = kcv_graph_find(g, kw), bt = kcv_graph_find(g, kb);
	if (gm < 0)
		gm = kcv_graph_param(g, kw, kcv_shape_make(1, d), KCV_PARAM_TRAINABLE);
	if (bt < 0)
		bt = kcv_graph_param(g, kb, kcv_shape_make(1, d), KCV_PARAM_TRAINABLE);
	return kcv_op_relu(g, kcv_op_group_norm(g, x, gm, bt, GROUPS, 1e-5f));
}

/* mean(x^2) of one head output */
static kcv_node msq(kcv_graph *g, kcv_node x)
{
	kcv_shape s = kcv_graph_shape(g, x);
	double n = (double)kcv_shape_numel(&s);
	return kcv_op_affine(g, kcv_op_sum(g, kcv_op_square(g, x), KCV_AXIS_ALL, 0), (float)(1.0 / n),
	                     0.0f);
}

static kcv_node head(kcv_graph *g, kcv_node p, const char *name, int outputs)
{
	char k[96];
	kcv_node x = p;
	for (int i = 0; i < 2; i++) {
		snprintf(k, sizeof(k), "head.%s.conv.%d", name, i);
		x = conv(g, x, k, 3, FPN, 0);
		snprintf(k, sizeof(k), "head.%s.norm.%d", name, i);
		x = gn_relu(g, x, k);
	}
	snprintf(k, sizeof(k), "head.%s.out", name);
	return msq(g, conv(g, x, k, 3, outputs, 1));
}

/* Random init: conv weights He-normal (fan_out), norms gamma 1, biases 0. */
static void init_params(kcv_graph *g)
{
	kcv_rng rng;
	kcv_rng_seed(&rng, 7, 0, 0, 0);
	for (size_t i = 0;; i++) {
		kcv_node p = kcv_graph_param_at(g, i);
		if (p < 0)
			break;
		const char *name = kcv_graph_name(g, p);
		if (strncmp(name, "fpn.", 4) && strncmp(name, "head.", 5))
			continue; /* the backbone's own */
		kcv_shape s = kcv_graph_shape(g, p);
		float *d = kcv_graph_data(g, p);
		int64_t n = kcv_shape_numel(&s);
		if (s.rank == 4) {
			double std = sqrt(2.0 / (double)(s.d[0] * s.d[1] * s.d[3]));
			for (int64_t k = 0; k < n; k++)
				d[k] = (float)(std * kcv_rng_normal(&rng));
		} else {
			float v = strstr(name, ".norm.") && strstr(name, ".weight") ? 1.0f : 0.0f;
			for (int64_t k = 0; k < n; k++)
				d[k] = v;
		}
	}
}

static int fail(const kcv_error *err)
{
	char buf[1200];
	fprintf(stderr, "quickstart_step: %s\n", kcv_error_format(err, buf, sizeof(buf)));
	return 1;
}

int main(int argc, char **argv)
{
	int threads = 2, batch = 16, size = 256, steps = 10, warmup = 3, profile = 0;
	const char *bb_spec = default_backbone, *plugin_dir = "plugins/backbone";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--profile"))
			profile = 1;
		else if (v && !strcmp(a, "--threads"))
			threads = atoi(argv[++i]);
		else if (v && !strcmp(a, "--batch"))
			batch = atoi(argv[++i]);
		else if (v && !strcmp(a, "--size"))
			size = atoi(argv[++i]);
		else if (v && !strcmp(a, "--steps"))
			steps = atoi(argv[++i]);
		else if (v && !strcmp(a, "--warmup"))
			warmup = atoi(argv[++i]);
		else if (v && !strcmp(a, "--plugins"))
			plugin_dir = argv[++i];
		else if (v && !strcmp(a, "--backbone"))
			bb_spec = argv[++i];
		else {
			fprintf(stderr, "quickstart_step: unknown or incomplete option %s\n", a);
			return 2;
		}
	}
	if (steps < 1 || batch < 1 || size < 32 || threads < 1) {
		fprintf(stderr, "quickstart_step: bad --steps, --batch, --size or --threads\n");
		return 2;
	}
	kcv_error err = {0};
	/* only the backbone's plugin folder: the others play no part */
	kcv_registry_params rp = {.plugin_path = plugin_dir, .system_path = "", .no_env = 1};
	kcv_registry *reg = kcv_registry_new(&rp, &err);
	if (!reg)
		return fail(&err);
	json_error_t jerr;
	json_t *spec = json_loads(bb_spec, 0, &jerr);
	if (!spec) {
		fprintf(stderr, "quickstart_step: --backbone: %s\n", jerr.text);
		return 2;
	}
	kcv_context ctx = {.registry = reg, .source = "quickstart_step", .path = "backbone",
	                   .threads = threads, .seed = 1, .image_width = size, .image_height = size};
	kcv_instance *bb = kcv_instance_new(reg, KCV_KIND_BACKBONE, spec, &ctx, &err);
	if (!bb)
		return fail(&err);
	kcv_graph_params gp = {.threads = threads};
	kcv_graph *g = kcv_graph_new(&gp, &err);
	if (!g)
		return fail(&err);
	kcv_node images = kcv_graph_input(g, "images", kcv_shape_4d(batch, size, size, 3));
	const kcv_backbone_vtable *vt = kcv_instance_component(bb)->vtable;
	kcv_feature_maps fm;
	if (vt->build(kcv_instance_priv(bb), g, images, &fm, &err) != KCV_OK)
		return fail(&err);
	/* FPN on C3..C5: 1x1 laterals, top-down nearest upsampling, 3x3 outputs */
	kcv_node lat[3], pyr[3];
	for (int l = 0; l < 3; l++) {
		char k[64];
		snprintf(k, sizeof(k), "fpn.inner.%d", l);
		lat[l] = conv(g, fm.maps[l + 1], k, 1, FPN, 1);
	}
	kcv_node top = lat[2];
	pyr[2] = top;
	for (int l = 1; l >= 0; l--) {
		kcv_shape s = kcv_graph_shape(g, lat[l]);
		top = kcv_op_add(g, lat[l], kcv_op_upsample_nearest(g, top, (int)s.d[1], (int)s.d[2]));
		pyr[l] = top;
	}
	kcv_node loss = -1;
	for (int l = 0; l < 3; l++) {
		char k[64];
		snprintf(k, sizeof(k), "fpn.layer.%d", l);
		kcv_node p = conv(g, pyr[l], k, 3, FPN, 1);
		kcv_node c = head(g, p, "cls", CLASSES), b = head(g, p, "box", 4);
		kcv_node both = kcv_op_add(g, c, b);
		loss = loss < 0 ? both : kcv_op_add(g, loss, both);
	}
	if (kcv_graph_status(g, &err) != KCV_OK || kcv_graph_mark_output(g, loss) != KCV_OK ||
	    kcv_graph_backward(g, loss, &err) != KCV_OK || kcv_graph_compile(g, &err) != KCV_OK)
		return fail(&err);
	if (vt->load(kcv_instance_priv(bb), g, NULL, NULL, &err) != KCV_OK)
		return fail(&err);
	kcv_graph_set_training(g, 1); /* batch norms on batch statistics */
	init_params(g);
	kcv_rng rng;
	kcv_rng_seed(&rng, 11, 0, 0, 0);
	float *img = kcv_graph_data(g, images);
	for (int64_t i = 0; i < (int64_t)batch * size * size * 3; i++)
		img[i] = (float)(255.0 * kcv_rng_uniform(&rng));

	double *t = calloc((size_t)steps, sizeof(double));
	double best_f = 0, best_b = 0, best = 1e30, best_cpu = 1e30;
	float loss0 = 0;
	for (int s = -warmup; s < steps; s++) {
		if (s == 0 && profile)
			kcv_graph_set_profiling(g, 1);
		double c0 = cpu_now(), t0 = now();
		if (kcv_graph_forward(g, &err) != KCV_OK)
			return fail(&err);
		double t1 = now();
		if (kcv_graph_run_backward(g, &err) != KCV_OK)
			return fail(&err);
		double t2 = now(), c2 = cpu_now();
		if (s == -warmup)
			loss0 = kcv_graph_data(g, loss)[0];
		if (s < 0)
			continue;
		t[s] = 1e3 * (t2 - t0);
		if (1e3 * (c2 - c0) < best_cpu)
			best_cpu = 1e3 * (c2 - c0);
		if (t[s] < best) {
			best = t[s];
			best_f = 1e3 * (t1 - t0);
			best_b = 1e3 * (t2 - t1);
		}
	}
	if (profile)
		kcv_graph_print_profile(g, stderr);
	qsort(t, (size_t)steps, sizeof(double), cmp_double);
	printf("{\"side\": \"kcv\", \"threads\": %d, \"batch\": %d, \"size\": %d, \"steps\": %d, "
	       "\"best_ms\": %.1f, \"median_ms\": %.1f, \"forward_ms\": %.1f, \"backward_ms\": %.1f, "
	       "\"images_per_s\": %.1f, \"cpu_ms\": %.1f, \"forward_gflop\": %.2f, \"loss\": %.6g}\n",
	       threads, batch, size, steps, best, t[steps / 2], best_f, best_b, 1e3 * batch / best,
	       best_cpu, kcv_graph_forward_flops(g) / 1e9, (double)loss0);
	free(t);
	kcv_graph_free(g);
	kcv_instance_free(bb);
	json_decref(spec);
	kcv_registry_free(reg);
	return 0;
}
