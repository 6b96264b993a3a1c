/* kcv features: run a backbone (frozen, inference mode) on a tensor of
 * images and write its feature maps C2..C5. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>
#include <kcv/safetensors.h>

#include "cli.h"

static const char help[] =
	"Usage: kcv features --backbone NAME [--weights FILE] [--prefix P] --input IN.safetensors\n"
	"                    --out OUT.safetensors [--threads N] [--repeat R] [--profile]\n"
	"                    [--unfolded]\n\n"
	"Run a backbone (frozen, inference mode) on tensor \"images\" of IN (N,H,W,3 float32,\n"
	"fed as is: no rescaling or normalisation) and write its feature maps C2..C5 (NHWC\n"
	"float32) to OUT. FILE holds torchvision key names (under prefix P, for example\n"
	"\"backbone.body.\"); --weights imagenet reads <NAME>_imagenet.safetensors from\n"
	"$KCV_WEIGHTS_DIR (default ~/.cache/kcv/weights); without --weights the backbone\n"
	"is randomly initialised.\n"
	"--repeat R runs the forward pass R times and reports the fastest (a benchmark);\n"
	"--profile prints the time spent per op; --unfolded keeps batch norm as an op\n"
	"(the trainable backbone's graph) instead of folding it into the convolutions.\n";

typedef struct feat_args {
	const char *backbone, *weights, *prefix, *input, *out;
	long threads;
	long repeat;
	int profile;
	int trainable;
} feat_args;

static int parse(int argc, char **argv, feat_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(help, stdout);
			return -1;
		} else if (strcmp(s, "--backbone") == 0 && next) {
			a->backbone = argv[++i];
		} else if (strcmp(s, "--weights") == 0 && next) {
			a->weights = argv[++i];
		} else if (strcmp(s, "--prefix") == 0 && next) {
			a->prefix = argv[++i];
		} else if (strcmp(s, "--input") == 0 && next) {
			a->input = argv[++i];
		} else if (strcmp(s, "--out") == 0 && next) {
			a->out = argv[++i];
		} else if (strcmp(s, "--repeat") == 0 && next) {
			if (cli_parse_long(argv[++i], 1, 100000, &a->repeat))
				return cli_usage_error("features", "--repeat expects 1 to 100000, got \"%s\"", argv[i]);
		} else if (strcmp(s, "--profile") == 0) {
			a->profile = 1;
		} else if (strcmp(s, "--unfolded") == 0) {
			a->trainable = 1;
		} else if (strcmp(s, "--threads") == 0 && next) {
			if (cli_parse_long(argv[++i], 1, 1024, &a->threads))
				return cli_usage_error("features", "--threads expects 1 to 1024, got \"%s\"", argv[i]);
		} else {
			return cli_usage_error("features", "unknown or incomplete option \"%s\"", s);
		}
	}
	if (!a->backbone || !a->input || !a->out)
		return cli_usage_error("features", "--backbone, --input and --out are required");
	return 0;
}

int cmd_features(int argc, char **argv)
{
	feat_args a = {.prefix = "", .repeat = 1};
	int prc = parse(argc, argv, &a);
	if (prc)
		return prc < 0 ? CLI_OK : prc;
	kcv_error err = {0};
	kcv_registry *reg = NULL;
	kcv_instance *bb = NULL;
	kcv_weights *in = NULL, *wts = NULL;
	kcv_graph *g = NULL;
	kcv_weights_writer *wr = NULL;
	json_t *spec = NULL;
	int rc = CLI_OK;

	if (!(reg = cli_registry(&err)))
		goto fail;
	/* --weights imagenet: the backbone finds its own file in KCV_WEIGHTS_DIR */
	int imagenet = a.weights && strcmp(a.weights, "imagenet") == 0;
	spec = json_pack("{s:s, s:s, s:s, s:b}", "plugin", a.backbone, "weights",
	                 imagenet ? "imagenet" : "none", "input_normalization", "none", "trainable",
	                 a.trainable);
	kcv_context ctx = {.registry = reg, .source = "kcv features", .path = "--backbone",
	                   .threads = (int)a.threads, .seed = 1};
	if (!spec || !(bb = kcv_instance_new(reg, KCV_KIND_BACKBONE, spec, &ctx, &err)))
		goto fail;
	if (!(in = kcv_weights_open(a.input, &err)))
		goto fail;
	kcv_tensor_info info;
	if (kcv_weights_find(in, "images", &info) != 0) {
		KCV_ERROR(&err, KCV_ERR_INVALID, a.input, NULL, "no tensor \"images\" (N,H,W,3 float32)");
		goto fail;
	}
	if (info.rank != 4 || info.dims[3] != 3 || info.dims[1] < 1 || info.dims[2] < 1) {
		KCV_ERROR(&err, KCV_ERR_INVALID, a.input, NULL,
		          "tensor \"images\" must be N,H,W,3; it has rank %d", info.rank);
		goto fail;
	}
	if (a.weights && !imagenet && !(wts = kcv_weights_open(a.weights, &err)))
		goto fail;
	kcv_graph_params gp = {.threads = (int)a.threads};
	if (!(g = kcv_graph_new(&gp, &err)))
		goto fail;
	kcv_node images = kcv_graph_input(g, "images", kcv_shape_4d(info.dims[0], info.dims[1],
	                                                             info.dims[2], 3));
	const kcv_backbone_vtable *vt = kcv_instance_component(bb)->vtable;
	kcv_feature_maps fm;
	if (vt->build(kcv_instance_priv(bb), g, images, &fm, &err) != KCV_OK)
		goto fail;
	for (int i = 0; i < fm.count; i++)
		if (kcv_graph_mark_output(g, fm.maps[i]) != KCV_OK)
			break;
	if (kcv_graph_compile(g, &err) != KCV_OK)
		goto fail;
	if (vt->load(kcv_instance_priv(bb), g, wts, a.prefix, &err) != KCV_OK)
		goto fail;
	if (kcv_weights_read_f32(in, "images", kcv_graph_data(g, images), info.numel, &err) != KCV_OK)
		goto fail;
	double dt = 0, total = 0;
	for (long r = 0; r < a.repeat; r++) {
		if (a.profile && r == a.repeat - 1)
			kcv_graph_set_profiling(g, 1); /* the last run, warm */
		double t0 = cli_now();
		if (kcv_graph_forward(g, &err) != KCV_OK)
			goto fail;
		double t = cli_now() - t0;
		total += t;
		if (r == 0 || t < dt)
			dt = t;
	}
	if (a.profile)
		kcv_graph_print_profile(g, stderr);
	if (!(wr = kcv_weights_writer_new(&err)))
		goto fail;
	for (int i = 0; i < fm.count; i++) {
		kcv_shape s = kcv_graph_shape(g, fm.maps[i]);
		if (kcv_weights_writer_add(wr, fm.names[i], kcv_graph_data(g, fm.maps[i]), s.rank, s.d,
		                           &err) != KCV_OK)
			goto fail;
	}
	if (kcv_weights_writer_set_metadata(wr, "backbone", a.backbone, &err) != KCV_OK)
		goto fail;
	if (kcv_weights_writer_save(wr, a.out, &err) != KCV_OK)
		goto fail;
	fprintf(stderr,
	        "kcv: %s on %lld images of %lldx%lld: %.3f s per forward (best of %ld, mean %.3f s), "
	        "%.2f images/s, %.1f GFLOP/s, activations %.0f MB, weights %.0f MB; wrote %s\n",
	        a.backbone, (long long)info.dims[0], (long long)info.dims[2], (long long)info.dims[1], dt,
	        a.repeat, total / (double)a.repeat, dt > 0 ? (double)info.dims[0] / dt : 0.0,
	        dt > 0 ? kcv_graph_forward_flops(g) / dt * 1e-9 : 0.0,
	        (double)kcv_graph_arena_bytes(g) / 1048576.0,
	        (double)kcv_graph_persistent_bytes(g) / 1048576.0, a.out);
	goto out;
fail:
	rc = cli_fail(&err);
out:
	kcv_weights_writer_free(wr);
	kcv_graph_free(g);
	kcv_weights_free(wts);
	kcv_weights_free(in);
	kcv_instance_free(bb);
	json_decref(spec);
	kcv_registry_free(reg);
	return rc;
}
