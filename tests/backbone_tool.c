/* A backbone from any JSON spec, for tests/resnet_custom.sh: builds it on
 * tensor "images" of IN, loads WEIGHTS (torchvision names) or initialises it
 * itself, runs it and writes C2..C5 and every parameter ("param.<name>", in
 * kcv's layout) to OUT. With --grad R, the loss sum_l sum(C_l * R_l) (R_l:
 * tensors "R2".."R5" of R) is differentiated too and "grad.<name>" of every
 * trainable parameter is written. Errors print as kcv prints them, exit 1.
 *
 *   backbone_tool --spec JSON --input IN [--weights W] [--grad R] --out OUT
 *                 [--threads N] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/graph.h>
#include <kcv/plugin.h>
#include <kcv/registry.h>
#include <kcv/safetensors.h>

static int fail(const kcv_error *err)
{
	char buf[1400];
	fprintf(stderr, "backbone_tool: %s\n", kcv_error_format(err, buf, sizeof(buf)));
	return 1;
}

/* Read tensor `name` of `w` into the graph node x (shapes must match). */
static int feed(kcv_graph *g, kcv_node x, const kcv_weights *w, const char *name, kcv_error *err)
{
	kcv_shape s = kcv_graph_shape(g, x);
	return kcv_weights_read_f32(w, name, kcv_graph_data(g, x), kcv_shape_numel(&s), err) != KCV_OK;
}

int main(int argc, char **argv)
{
	const char *spec_text = NULL, *input = NULL, *weights = NULL, *grad = NULL, *out = NULL;
	int threads = 2;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--spec"))
			spec_text = argv[i + 1];
		else if (!strcmp(argv[i], "--input"))
			input = argv[i + 1];
		else if (!strcmp(argv[i], "--weights"))
			weights = argv[i + 1];
		else if (!strcmp(argv[i], "--grad"))
			grad = argv[i + 1];
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
		else if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else
			break;
	}
	if (!spec_text || !input || !out || argc % 2 == 0) {
		fprintf(stderr, "usage: backbone_tool --spec JSON --input IN [--weights W] [--grad R] "
		                "--out OUT [--threads N]\n");
		return 2;
	}
	kcv_error err = {0};
	json_error_t jerr;
	json_t *spec = json_loads(spec_text, 0, &jerr);
	if (!spec) {
		fprintf(stderr, "backbone_tool: --spec: %s\n", jerr.text);
		return 2;
	}
	/* everything is released at `out`, also on errors (the sanitizers check) */
	int rc = 0;
	kcv_instance *bb = NULL;
	kcv_weights *in = NULL, *wts = NULL, *rw = NULL;
	kcv_graph *g = NULL;
	kcv_weights_writer *wr = NULL;
	kcv_registry *reg = kcv_registry_new(NULL, &err);
	if (!reg)
		goto fail;
	kcv_context ctx = {.registry = reg, .source = "backbone_tool", .path = "model.backbone",
	                   .threads = threads, .seed = 1};
	bb = kcv_instance_new(reg, KCV_KIND_BACKBONE, spec, &ctx, &err);
	if (!bb)
		goto fail;
	in = kcv_weights_open(input, &err);
	if (!in || (weights && !(wts = kcv_weights_open(weights, &err))) ||
	    (grad && !(rw = kcv_weights_open(grad, &err))))
		goto fail;
	kcv_tensor_info info;
	if (kcv_weights_find(in, "images", &info) != 0 || info.rank != 4) {
		fprintf(stderr, "backbone_tool: %s: no tensor \"images\" [N,H,W,3]\n", input);
		rc = 1;
		goto out;
	}
	kcv_graph_params gp = {.threads = threads};
	g = kcv_graph_new(&gp, &err);
	if (!g)
		goto fail;
	kcv_node images = kcv_graph_input(
		g, "images", kcv_shape_4d(info.dims[0], info.dims[1], info.dims[2], info.dims[3]));
	const kcv_backbone_vtable *vt = kcv_instance_component(bb)->vtable;
	kcv_feature_maps fm;
	if (vt->build(kcv_instance_priv(bb), g, images, &fm, &err) != KCV_OK)
		goto fail;
	kcv_node r[KCV_MAX_LEVELS], loss = -1;
	for (int l = 0; l < fm.count; l++) {
		if (kcv_graph_mark_output(g, fm.maps[l]) != KCV_OK)
			break;
		if (!rw)
			continue;
		char name[16];
		snprintf(name, sizeof(name), "R%d", l + 2);
		r[l] = kcv_graph_input(g, name, kcv_graph_shape(g, fm.maps[l]));
		kcv_node term = kcv_op_sum(g, kcv_op_mul(g, fm.maps[l], r[l]), KCV_AXIS_ALL, 0);
		loss = loss < 0 ? term : kcv_op_add(g, loss, term);
	}
	if (kcv_graph_status(g, &err) != KCV_OK)
		goto fail;
	if (rw && kcv_graph_backward(g, loss, &err) != KCV_OK)
		goto fail;
	if (kcv_graph_compile(g, &err) != KCV_OK)
		goto fail;
	if (vt->load(kcv_instance_priv(bb), g, wts, "", &err) != KCV_OK)
		goto fail;
	if (feed(g, images, in, "images", &err))
		goto fail;
	for (int l = 0; rw && l < fm.count; l++) {
		char name[16];
		snprintf(name, sizeof(name), "R%d", l + 2);
		if (feed(g, r[l], rw, name, &err))
			goto fail;
	}
	kcv_graph_set_training(g, rw != NULL); /* with --grad: a training step */
	if (kcv_graph_forward(g, &err) != KCV_OK ||
	    (rw && kcv_graph_run_backward(g, &err) != KCV_OK))
		goto fail;
	wr = kcv_weights_writer_new(&err);
	if (!wr)
		goto fail;
	char names[2048][96];
	size_t nn = 0;
	for (int l = 0; l < fm.count; l++) {
		kcv_shape s = kcv_graph_shape(g, fm.maps[l]);
		if (kcv_weights_writer_add(wr, fm.names[l], kcv_graph_data(g, fm.maps[l]), s.rank, s.d,
		                           &err) != KCV_OK)
			goto fail;
	}
	for (size_t i = 0; nn + 2 <= 2048; i++) {
		kcv_node p = kcv_graph_param_at(g, i);
		if (p < 0)
			break;
		kcv_shape s = kcv_graph_shape(g, p);
		snprintf(names[nn], sizeof(names[nn]), "param.%s", kcv_graph_name(g, p));
		if (kcv_weights_writer_add(wr, names[nn++], kcv_graph_data(g, p), s.rank, s.d, &err))
			goto fail;
		if (!rw || !kcv_graph_param_trainable(g, p) || !kcv_graph_grad(g, p))
			continue;
		snprintf(names[nn], sizeof(names[nn]), "grad.%s", kcv_graph_name(g, p));
		if (kcv_weights_writer_add(wr, names[nn++], kcv_graph_grad(g, p), s.rank, s.d, &err))
			goto fail;
	}
	if (kcv_weights_writer_save(wr, out, &err) != KCV_OK)
		goto fail;
	printf("%d maps, %zu tensors, %.3f GFLOP forward\n", fm.count, nn,
	       kcv_graph_forward_flops(g) / 1e9);
	goto out;
fail:
	rc = fail(&err);
out:
	kcv_weights_writer_free(wr);
	kcv_graph_free(g);
	kcv_weights_free(in);
	kcv_weights_free(wts);
	kcv_weights_free(rw);
	kcv_instance_free(bb);
	kcv_registry_free(reg);
	json_decref(spec);
	return rc;
}
