/* Loading torchvision-named ResNet weights: OIHW -> HWIO, batch norm folded
 * (frozen) or copied (trainable), strict checks of names and shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <kcv/rng.h>

#include "resnet-impl.h"

kcv_status resnet_weights_file(const resnet_priv *p, char *out, size_t size, kcv_error *err)
{
	const char *wt = p->cfg.weights ? p->cfg.weights : "none";
	char opt[300];
	snprintf(opt, sizeof(opt), "%s.weights", p->path);
	out[0] = '\0';
	struct stat st;
	if (strcmp(wt, "none") == 0)
		return KCV_OK;
	if (strcmp(wt, "imagenet") == 0 && !p->arch.imagenet)
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, opt,
		                 "there are no ImageNet weights for %s: use \"none\" (random init) or "
		                 "a safetensors file",
		                 p->arch.name);
	if (strcmp(wt, "imagenet") == 0) {
		const char *dir = getenv("KCV_WEIGHTS_DIR");
		char def[4096];
		if (!dir || !dir[0]) {
			const char *home = getenv("HOME");
			snprintf(def, sizeof(def), "%s/.cache/kcv/weights", home && home[0] ? home : ".");
			dir = def;
		}
		snprintf(out, size, "%s/%s_imagenet.safetensors", dir, p->arch.name);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
			return KCV_OK;
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, opt,
		                 "ImageNet weights for %s not found: place %s_imagenet.safetensors "
		                 "(torchvision key names, such as timm's %s.tv_in1k model.safetensors) "
		                 "in %s (or set KCV_WEIGHTS_DIR), or set weights to \"none\"",
		                 p->arch.name, p->arch.name, p->arch.name, dir);
	}
	if (stat(wt, &st) != 0 || !S_ISREG(st.st_mode))
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, opt,
		                 "weights file '%s' does not exist (use \"none\", \"imagenet\" or a "
		                 "safetensors file)",
		                 wt);
	snprintf(out, size, "%s", wt);
	return KCV_OK;
}

/* Read tensor `key` of the expected shape into a new buffer (caller frees). */
static float *read_tensor(const kcv_weights *w, const char *key, int rank, const int64_t *dims,
                          kcv_error *err)
{
	kcv_tensor_info info;
	char want[128], got[128];
	kcv_shape ws = kcv_shape_make(rank, dims);
	if (kcv_weights_find(w, key, &info) != 0) {
		KCV_ERROR(err, KCV_ERR_INVALID, kcv_weights_path(w), NULL,
		          "missing tensor %s (shape %s)", key, kcv_shape_format(&ws, want, sizeof(want)));
		return NULL;
	}
	kcv_shape gs = kcv_shape_make(info.rank <= KCV_MAX_DIMS ? info.rank : 0, info.dims);
	if (!kcv_shape_equal(&ws, &gs)) {
		KCV_ERROR(err, KCV_ERR_INVALID, kcv_weights_path(w), NULL,
		          "tensor %s has shape %s, expected %s", key,
		          kcv_shape_format(&gs, got, sizeof(got)), kcv_shape_format(&ws, want, sizeof(want)));
		return NULL;
	}
	float *buf = malloc((size_t)info.numel * sizeof(float) + 1);
	if (!buf) {
		KCV_ERROR(err, KCV_ERR_NOMEM, kcv_weights_path(w), NULL, "out of memory");
		return NULL;
	}
	if (kcv_weights_read_f32(w, key, buf, info.numel, err) != KCV_OK) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int is_ignored(const char *rest)
{
	size_t n = strlen(rest);
	const char *nbt = "num_batches_tracked";
	return strncmp(rest, "fc.", 3) == 0 ||
	       (n >= strlen(nbt) && strcmp(rest + n - strlen(nbt), nbt) == 0);
}

/* Tensors per norm: weight, bias (group norm), + running_mean, running_var
 * (batch norms). */
static int norm_tensors(const resnet_priv *p)
{
	return p->arch.norm == LAYER_GROUP ? 2 : 4;
}

/* Names the backbone reads: "<key>.weight" etc. */
static int expected_name(const resnet_priv *p, const char *rest)
{
	static const char *const bn_suffix[] = {"weight", "bias", "running_mean", "running_var"};
	char name[96];
	for (size_t u = 0; u < p->n_units; u++) {
		snprintf(name, sizeof(name), "%s.weight", p->units[u].conv_key);
		if (strcmp(name, rest) == 0)
			return 1;
		for (int s = 0; s < norm_tensors(p); s++) {
			snprintf(name, sizeof(name), "%s.%s", p->units[u].bn_key, bn_suffix[s]);
			if (strcmp(name, rest) == 0)
				return 1;
		}
	}
	return 0;
}

static kcv_status check_unexpected(const resnet_priv *p, const kcv_weights *w, const char *prefix,
                                   kcv_error *err)
{
	size_t plen = strlen(prefix), count = 0;
	char list[600] = "";
	for (size_t i = 0; i < kcv_weights_count(w); i++) {
		kcv_tensor_info info;
		if (kcv_weights_info_at(w, i, &info) != KCV_OK)
			continue;
		if (plen && strncmp(info.name, prefix, plen) != 0)
			continue; /* another part of a checkpoint */
		const char *rest = info.name + plen;
		if (is_ignored(rest) || expected_name(p, rest))
			continue;
		if (count++ < 5) {
			size_t n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", info.name);
		}
	}
	if (!count)
		return KCV_OK;
	return KCV_ERROR(err, KCV_ERR_INVALID, kcv_weights_path(w), NULL,
	                 "%zu unexpected tensor%s for %s: %s%s (is this the right architecture and "
	                 "key prefix \"%s\"?)",
	                 count, count == 1 ? "" : "s", p->arch.name, list, count > 5 ? ", ..." : "",
	                 prefix);
}

static kcv_status load_unit(const resnet_priv *p, const conv_unit *u, kcv_graph *g,
                            const kcv_weights *w, const char *prefix, kcv_error *err)
{
	char key[160];
	int64_t oihw[4] = {u->cout, u->cin, u->kh, u->kw}, c1[1] = {u->cout};
	snprintf(key, sizeof(key), "%s%s.weight", prefix, u->conv_key);
	float *wt = read_tensor(w, key, 4, oihw, err);
	float *bn[4] = {NULL, NULL, NULL, NULL};
	static const char *const suffix[4] = {"weight", "bias", "running_mean", "running_var"};
	const int nt = norm_tensors(p);
	kcv_status st = wt ? KCV_OK : err->code;
	for (int s = 0; s < nt && !st; s++) {
		snprintf(key, sizeof(key), "%s%s.%s", prefix, u->bn_key, suffix[s]);
		bn[s] = read_tensor(w, key, 1, c1, err);
		if (!bn[s])
			st = err->code;
	}
	if (!st) {
		float *dst = kcv_graph_data(g, u->w);
		int folded = u->b >= 0; /* frozen batch norm folded into the convolution */
		for (int o = 0; o < u->cout; o++) {
			float scale = folded ? bn[0][o] / sqrtf(bn[3][o] + (float)p->cfg.bn_eps) : 1.0f;
			for (int i = 0; i < u->cin; i++)
				for (int y = 0; y < u->kh; y++)
					for (int x = 0; x < u->kw; x++)
						dst[(((size_t)y * u->kw + x) * u->cin + i) * u->cout + o] =
							wt[(((size_t)o * u->cin + i) * u->kh + y) * u->kw + x] * scale;
			if (folded)
				kcv_graph_data(g, u->b)[o] = bn[1][o] - bn[2][o] * scale;
		}
		if (!folded) {
			kcv_node dst_bn[4] = {u->gamma, u->beta, u->mean, u->var};
			for (int s = 0; s < nt; s++)
				memcpy(kcv_graph_data(g, dst_bn[s]), bn[s], (size_t)u->cout * sizeof(float));
		}
	}
	free(wt);
	for (int s = 0; s < 4; s++)
		free(bn[s]);
	return st;
}

kcv_status resnet_load(resnet_priv *p, kcv_graph *g, const kcv_weights *w, const char *prefix,
                       kcv_error *err)
{
	kcv_status st = check_unexpected(p, w, prefix, err);
	for (size_t u = 0; u < p->n_units && !st; u++)
		st = load_unit(p, &p->units[u], g, w, prefix, err);
	return st;
}

void resnet_init_random(resnet_priv *p, kcv_graph *g, uint64_t seed)
{
	kcv_rng rng;
	for (size_t u = 0; u < p->n_units; u++) {
		const conv_unit *c = &p->units[u];
		kcv_rng_seed(&rng, seed, u, 0, 0);
		/* kaiming normal, fan_out (torchvision's ResNet init) */
		double std = sqrt(2.0 / ((double)c->kh * c->kw * c->cout));
		float *dst = kcv_graph_data(g, c->w);
		size_t n = (size_t)c->kh * c->kw * c->cin * c->cout;
		int folded = c->b >= 0;
		float fold = folded ? 1.0f / sqrtf(1.0f + (float)p->cfg.bn_eps) : 1.0f;
		for (size_t i = 0; i < n; i++)
			dst[i] = (float)(std * kcv_rng_normal(&rng)) * fold;
		if (folded) {
			memset(kcv_graph_data(g, c->b), 0, (size_t)c->cout * sizeof(float));
			continue;
		}
		/* the norm at identity: gamma 1 (0 for a branch's last norm with
		 * zero_init_residual), beta 0, running mean 0 and variance 1 */
		float gamma0 = c->last && p->arch.zero_init_residual ? 0.0f : 1.0f;
		float *gm = kcv_graph_data(g, c->gamma), *bt = kcv_graph_data(g, c->beta);
		for (int o = 0; o < c->cout; o++) {
			gm[o] = gamma0;
			bt[o] = 0.0f;
		}
		if (c->var >= 0) {
			float *mn = kcv_graph_data(g, c->mean), *vr = kcv_graph_data(g, c->var);
			for (int o = 0; o < c->cout; o++) {
				mn[o] = 0.0f;
				vr[o] = 1.0f;
			}
		}
	}
}
