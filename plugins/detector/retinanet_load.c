/* Initialising and loading the RetinaNet parameters.
 *
 * Random initialisation (no weights file), seeded from the pipeline seed:
 * the FPN as torchvision (kaiming uniform with a = 1, i.e. U(+-sqrt(3 /
 * fan_in)), zero bias); the heads' kernels orthogonal with gain 1 (KerasCV:
 * the kernel as a (kh*kw*cin) x cout matrix) or N(0, 0.01) (torchvision),
 * zero biases but the class logits' -ln((1 - p) / p), GroupNorm 1 and 0.
 *
 * Loading a torchvision RetinaNet state dict (OIHW kernels): the backbone
 * reads backbone.body.*; the FPN and heads accept torchvision's current
 * names (inner_blocks.{i}.0.*, conv.{i}.0.*, conv.{i}.1.* for GroupNorm) and
 * the pre-0.13 ones (inner_blocks.{i}.*, conv.{2i}.*). torchvision's anchor
 * order is ratio-major with h/w ratios: with anchor_order "ratio_major" and
 * ratio_definition "h/w" its head outputs need no permutation (other
 * settings load the same tensors, but the anchors then mean something else).
 * Every missing, unexpected or wrongly shaped tensor is an error naming it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/rng.h>

#include "retinanet-impl.h"

static kcv_node find_param(const rn_priv *p, kcv_graph *g, const char *prefix,
                           const char *suffix, kcv_error *err)
{
	char name[64];
	snprintf(name, sizeof(name), "%s.%s", prefix, suffix);
	kcv_node n = kcv_graph_find(g, name);
	if (n < 0)
		KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
		          "parameter %s is not in the graph (load before build?)", name);
	return n;
}

/* ---- random initialisation ---------------------------------------------- */

/* Orthonormalise the columns of the rows x cols matrix q (row-major, rows >=
 * cols) in place: modified Gram-Schmidt, in double. */
static void orthonormalise(double *q, int rows, int cols)
{
	for (int j = 0; j < cols; j++) {
		for (int i = 0; i < j; i++) {
			double dot = 0;
			for (int r = 0; r < rows; r++)
				dot += q[(size_t)r * cols + i] * q[(size_t)r * cols + j];
			for (int r = 0; r < rows; r++)
				q[(size_t)r * cols + j] -= dot * q[(size_t)r * cols + i];
		}
		double norm = 0;
		for (int r = 0; r < rows; r++)
			norm += q[(size_t)r * cols + j] * q[(size_t)r * cols + j];
		norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
		for (int r = 0; r < rows; r++)
			q[(size_t)r * cols + j] *= norm;
	}
}

/* Keras's Orthogonal(gain 1) on a rows x cols kernel matrix. */
static kcv_status orthogonal(float *w, int rows, int cols, kcv_rng *rng)
{
	int tall = rows >= cols, r = tall ? rows : cols, c = tall ? cols : rows;
	double *q = malloc((size_t)r * c * sizeof(double));
	if (!q)
		return KCV_ERR_NOMEM;
	for (size_t i = 0; i < (size_t)r * c; i++)
		q[i] = kcv_rng_normal(rng);
	orthonormalise(q, r, c);
	for (int i = 0; i < rows; i++)
		for (int j = 0; j < cols; j++)
			w[(size_t)i * cols + j] = (float)(tall ? q[(size_t)i * c + j] : q[(size_t)j * c + i]);
	free(q);
	return KCV_OK;
}

static kcv_status init_conv(const rn_priv *p, kcv_graph *g, int index, kcv_error *err)
{
	const rn_conv *c = &p->convs[index];
	kcv_node wn = find_param(p, g, c->name, "weight", err);
	kcv_node bn = c->has_bias ? find_param(p, g, c->name, "bias", err) : -1;
	if (wn < 0 || (c->has_bias && bn < 0))
		return err && err->code ? err->code : KCV_ERR_INTERNAL;
	float *w = kcv_graph_data(g, wn);
	int rows = c->k * c->k * c->cin, cols = c->cout;
	size_t n = (size_t)rows * cols;
	kcv_rng rng;
	kcv_rng_seed(&rng, p->seed, 0x7e71a, (uint64_t)index, 0);
	if (c->init == INIT_FPN) {
		double bound = sqrt(3.0 / rows);
		for (size_t i = 0; i < n; i++)
			w[i] = (float)kcv_rng_range(&rng, -bound, bound);
	} else if (p->cfg.head_init == INIT_NORMAL) {
		for (size_t i = 0; i < n; i++)
			w[i] = (float)(0.01 * kcv_rng_normal(&rng));
	} else if (orthogonal(w, rows, cols, &rng) != KCV_OK) {
		return KCV_ERROR(err, KCV_ERR_NOMEM, p->source, p->path, "out of memory");
	}
	if (bn >= 0) {
		double prior = p->cfg.prior_probability;
		float v = c->init == INIT_CLS_LOGITS ? (float)-log((1 - prior) / prior) : 0.0f;
		float *b = kcv_graph_data(g, bn);
		for (int o = 0; o < c->cout; o++)
			b[o] = v;
	}
	if (c->norm[0]) {
		kcv_node gm = find_param(p, g, c->norm, "weight", err);
		kcv_node bt = find_param(p, g, c->norm, "bias", err);
		if (gm < 0 || bt < 0)
			return err && err->code ? err->code : KCV_ERR_INTERNAL;
		for (int o = 0; o < c->cout; o++) {
			kcv_graph_data(g, gm)[o] = 1.0f;
			kcv_graph_data(g, bt)[o] = 0.0f;
		}
	}
	return KCV_OK;
}

/* ---- torchvision state dicts -------------------------------------------- */

typedef struct used_keys {
	char (*names)[128];
	int n, cap;
} used_keys;

static int used_add(used_keys *u, const char *name)
{
	if (u->n == u->cap) {
		int cap = u->cap ? 2 * u->cap : 64;
		char(*nn)[128] = realloc(u->names, (size_t)cap * sizeof(*nn));
		if (!nn)
			return -1;
		u->names = nn;
		u->cap = cap;
	}
	snprintf(u->names[u->n++], sizeof(u->names[0]), "%s", name);
	return 0;
}

static int used_has(const used_keys *u, const char *name)
{
	for (int i = 0; i < u->n; i++)
		if (strcmp(u->names[i], name) == 0)
			return 1;
	return 0;
}

/* Read one tensor into the graph parameter `node`: the first of the
 * candidate keys "<prefix[i]>.<suffix>" present in w, of shape dims (OIHW
 * for rank 4, transposed to HWIO). */
static kcv_status read_param(const rn_priv *p, kcv_graph *g, const kcv_weights *w,
                             const char *const *prefixes, int nprefix, const char *suffix,
                             kcv_node node, int rank, const int64_t *dims, used_keys *used,
                             kcv_error *err)
{
	char key[128] = "", first[128] = "", alt[160] = "", want[64], got[64];
	kcv_tensor_info info;
	int found = 0;
	for (int i = 0; i < nprefix && !found; i++) {
		if (!prefixes[i][0])
			continue;
		snprintf(key, sizeof(key), "%s.%s", prefixes[i], suffix);
		if (!first[0])
			snprintf(first, sizeof(first), "%s", key);
		else
			snprintf(alt, sizeof(alt), " (or %s)", key);
		found = kcv_weights_find(w, key, &info) == 0;
	}
	kcv_shape ws = kcv_shape_make(rank, dims);
	if (!found)
		return KCV_ERROR(err, KCV_ERR_INVALID, kcv_weights_path(w), NULL,
		                 "missing tensor %s%s (shape %s)", first, alt,
		                 kcv_shape_format(&ws, want, sizeof(want)));
	kcv_shape gs = kcv_shape_make(info.rank <= KCV_MAX_DIMS ? info.rank : 0, info.dims);
	if (info.rank > KCV_MAX_DIMS || !kcv_shape_equal(&ws, &gs))
		return KCV_ERROR(err, KCV_ERR_INVALID, kcv_weights_path(w), NULL,
		                 "tensor %s has shape %s, expected %s", key,
		                 kcv_shape_format(&gs, got, sizeof(got)),
		                 kcv_shape_format(&ws, want, sizeof(want)));
	if (used_add(used, key))
		return KCV_ERROR(err, KCV_ERR_NOMEM, p->source, p->path, "out of memory");
	float *dst = kcv_graph_data(g, node);
	if (rank != 4)
		return kcv_weights_read_f32(w, key, dst, info.numel, err);
	float *buf = malloc(info.numel * sizeof(float));
	if (!buf)
		return KCV_ERROR(err, KCV_ERR_NOMEM, p->source, p->path, "out of memory");
	kcv_status st = kcv_weights_read_f32(w, key, buf, info.numel, err);
	int64_t co = dims[0], ci = dims[1], kh = dims[2], kw = dims[3];
	for (int64_t o = 0; o < co && !st; o++)
		for (int64_t i = 0; i < ci; i++)
			for (int64_t y = 0; y < kh; y++)
				for (int64_t x = 0; x < kw; x++)
					dst[((y * kw + x) * ci + i) * co + o] = buf[((o * ci + i) * kh + y) * kw + x];
	free(buf);
	return st;
}

static kcv_status load_conv(const rn_priv *p, kcv_graph *g, const kcv_weights *w, int index,
                            used_keys *used, kcv_error *err)
{
	const rn_conv *c = &p->convs[index];
	const char *const pre[2] = {c->tv[0], c->tv[1]};
	int64_t oihw[4] = {c->cout, c->cin, c->k, c->k}, cd[1] = {c->cout};
	kcv_node wn = find_param(p, g, c->name, "weight", err);
	if (wn < 0)
		return err && err->code ? err->code : KCV_ERR_INTERNAL;
	kcv_status st = read_param(p, g, w, pre, 2, "weight", wn, 4, oihw, used, err);
	if (!st && c->has_bias) {
		kcv_node bn = find_param(p, g, c->name, "bias", err);
		st = bn < 0 ? KCV_ERR_INTERNAL : read_param(p, g, w, pre, 2, "bias", bn, 1, cd, used, err);
	}
	if (!st && c->norm[0]) {
		const char *const npre[1] = {c->tv_norm};
		static const char *const sfx[2] = {"weight", "bias"};
		for (int s = 0; s < 2 && !st; s++) {
			kcv_node n = find_param(p, g, c->norm, sfx[s], err);
			st = n < 0 ? KCV_ERR_INTERNAL
			           : read_param(p, g, w, npre, 1, sfx[s], n, 1, cd, used, err);
		}
	}
	return st;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Tensors outside backbone.body. that nothing read. */
static kcv_status check_unexpected(const rn_priv *p, const kcv_weights *w, const used_keys *used,
                                   kcv_error *err)
{
	static const char body[] = "backbone.body.";
	size_t count = 0;
	char list[600] = "";
	for (size_t i = 0; i < kcv_weights_count(w); i++) {
		kcv_tensor_info info;
		if (kcv_weights_info_at(w, i, &info) != KCV_OK)
			continue;
		if (strncmp(info.name, body, sizeof(body) - 1) == 0 ||
		    ends_with(info.name, "num_batches_tracked") || used_has(used, info.name))
			continue;
		if (count++ < 5) {
			size_t n = strlen(list);
			snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", info.name);
		}
	}
	if (!count)
		return KCV_OK;
	return KCV_ERROR(err, KCV_ERR_INVALID, kcv_weights_path(w), NULL,
	                 "%zu unexpected tensor%s for %s: %s%s (do levels P%lld..P%lld, head_convs "
	                 "%lld and head_norm match the checkpoint?)",
	                 count, count == 1 ? "" : "s", p->path, list, count > 5 ? ", ..." : "",
	                 (long long)p->cfg.min_level, (long long)p->cfg.max_level,
	                 (long long)p->cfg.head_convs);
}

kcv_status rn_load(void *priv, kcv_graph *g, const kcv_weights *w, kcv_error *err)
{
	rn_priv *p = priv;
	void *bb = kcv_instance_priv(p->backbone);
	kcv_status st;
	if (!w) {
		st = p->bb_vt->load(bb, g, NULL, NULL, err);
		for (int i = 0; i < p->num_convs && !st; i++)
			st = init_conv(p, g, i, err);
		return st;
	}
	st = p->bb_vt->load(bb, g, w, "backbone.body.", err);
	used_keys used = {0};
	for (int i = 0; i < p->num_convs && !st; i++)
		st = load_conv(p, g, w, i, &used, err);
	if (!st)
		st = check_unexpected(p, w, &used, err);
	free(used.names);
	return st;
}
