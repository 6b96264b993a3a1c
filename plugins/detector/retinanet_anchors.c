/* RetinaNet anchors: per-location base anchors (sizes x scales x ratios, in
 * KerasCV's or torchvision's order, definition and rounding) tiled over the
 * real grid of every pyramid level, finest level first, then row-major
 * locations, then the anchors of a location.
 *
 * KerasCV (anchor_rounding "none"): w = s*scale*sqrt(r), h = s*scale/sqrt(r)
 * for ratio_definition "w/h" (swapped for "h/w"), centres (i + offset) *
 * stride, optionally clipped to the image.
 * torchvision (anchor_rounding "torchvision"): the sizes are int(s * scale),
 * the base anchors are computed in float32 as AnchorGenerator does and
 * rounded half to even (torch.round), centres i * stride + base. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retinanet-impl.h"

/* Scale and ratio index of anchor k of a location. */
static void cell_indices(const rn_config *c, int k, int *si, int *ri)
{
	int ns = (int)c->anchor_scales.n, nr = (int)c->anchor_ratios.n;
	if (c->anchor_order == ORDER_SCALE_MAJOR) {
		*si = k / nr;
		*ri = k % nr;
	} else {
		*ri = k / ns;
		*si = k % ns;
	}
}

kcv_status rn_cells_init(rn_priv *p, const kcv_context *ctx, kcv_error *err)
{
	const rn_config *c = &p->cfg;
	int L = p->num_levels;
	if (c->anchor_sizes.n != 0 && (int)c->anchor_sizes.n != L)
		return kcv_error_option(err, ctx, "anchor_sizes",
		                        "%zu sizes for %d levels (P%lld..P%lld): give one size per level",
		                        c->anchor_sizes.n, L, (long long)c->min_level,
		                        (long long)c->max_level);
	p->num_cell = (int)(c->anchor_scales.n * c->anchor_ratios.n);
	if (p->num_cell < 1 || p->num_cell > RN_MAX_CELL)
		return kcv_error_option(err, ctx, "anchor_scales",
		                        "%zu scales x %zu ratios: 1 to %d anchors per location",
		                        c->anchor_scales.n, c->anchor_ratios.n, RN_MAX_CELL);
	for (int l = 0; l < L; l++) {
		int level = (int)c->min_level + l;
		double size = c->anchor_sizes.n ? c->anchor_sizes.v[l] : 4.0 * (double)(1 << level);
		for (int k = 0; k < p->num_cell; k++) {
			int si, ri;
			cell_indices(c, k, &si, &ri);
			double scale = c->anchor_scales.v[si], ratio = c->anchor_ratios.v[ri];
			float *cell = p->cell[l][k];
			if (c->anchor_rounding == ROUND_TORCHVISION) {
				/* AnchorGenerator: (-ws, -hs, ws, hs) / 2, rounded, in float32 */
				float s = (float)trunc(size * scale), fr = (float)ratio;
				float hr = sqrtf(fr), wr = 1.0f / hr;
				if (c->ratio_definition == RATIO_W_OVER_H) {
					wr = sqrtf(fr);
					hr = 1.0f / wr;
				}
				float ws = wr * s, hs = hr * s;
				cell[0] = rintf(-ws / 2.0f);
				cell[1] = rintf(-hs / 2.0f);
				cell[2] = rintf(ws / 2.0f);
				cell[3] = rintf(hs / 2.0f);
			} else {
				double s = size * scale, q = sqrt(ratio);
				double w = c->ratio_definition == RATIO_W_OVER_H ? s * q : s / q;
				double h = c->ratio_definition == RATIO_W_OVER_H ? s / q : s * q;
				cell[0] = (float)(-w / 2);
				cell[1] = (float)(-h / 2);
				cell[2] = (float)(w / 2);
				cell[3] = (float)(h / 2);
			}
		}
		float *e = p->cell_extent[l];
		memcpy(e, p->cell[l][0], 4 * sizeof(float));
		for (int k = 1; k < p->num_cell; k++)
			for (int d = 0; d < 2; d++) {
				e[d] = fminf(e[d], p->cell[l][k][d]);
				e[d + 2] = fmaxf(e[d + 2], p->cell[l][k][d + 2]);
			}
	}
	return KCV_OK;
}

const rn_anchor_set *rn_anchors_find(const rn_priv *p, int width, int height)
{
	int n = atomic_load_explicit(&((rn_priv *)p)->num_sets, memory_order_acquire);
	for (int i = 0; i < n; i++)
		if (p->sets[i].width == width && p->sets[i].height == height)
			return &p->sets[i];
	return NULL;
}

static float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

kcv_status rn_anchors_add(rn_priv *p, int width, int height, const int *grid_h,
                          const int *grid_w, const rn_anchor_set **out, kcv_error *err)
{
	const rn_config *c = &p->cfg;
	int L = p->num_levels, K = p->num_cell;
	const rn_anchor_set *old = rn_anchors_find(p, width, height);
	if (old) {
		for (int l = 0; l < L; l++)
			if (old->grid_h[l] != grid_h[l] || old->grid_w[l] != grid_w[l])
				return KCV_ERROR(err, KCV_ERR_INTERNAL, p->source, p->path,
				                 "level %d grids differ between two builds at %dx%d", l, width,
				                 height);
		*out = old;
		return KCV_OK;
	}
	int n = atomic_load_explicit(&p->num_sets, memory_order_relaxed);
	if (n == RN_MAX_SIZES)
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
		                 "built for more than %d different image sizes", RN_MAX_SIZES);
	rn_anchor_set *s = &p->sets[n];
	memset(s, 0, sizeof(*s));
	s->width = width;
	s->height = height;
	s->num_levels = L;
	int64_t total = 0;
	for (int l = 0; l < L; l++) {
		s->grid_h[l] = grid_h[l];
		s->grid_w[l] = grid_w[l];
		s->level_start[l] = (int)total;
		total += (int64_t)grid_h[l] * grid_w[l] * K;
	}
	if (total > 100000000)
		return KCV_ERROR(err, KCV_ERR_INVALID, p->source, p->path,
		                 "%lld anchors for %dx%d images: too many", (long long)total, width,
		                 height);
	s->level_start[L] = (int)total;
	s->num_anchors = (int)total;
	s->anchors = malloc((size_t)(total ? total : 1) * 4 * sizeof(float));
	if (!s->anchors)
		return KCV_ERROR(err, KCV_ERR_NOMEM, p->source, p->path, "out of memory");
	float W = (float)width, H = (float)height;
	for (int l = 0; l < L; l++) {
		int stride = 1 << (c->min_level + l);
		float *a = s->anchors + (size_t)s->level_start[l] * 4;
		for (int i = 0; i < grid_h[l]; i++) {
			float cy = (float)((i + c->anchor_offset) * stride);
			for (int j = 0; j < grid_w[l]; j++) {
				float cx = (float)((j + c->anchor_offset) * stride);
				for (int k = 0; k < K; k++, a += 4) {
					const float *cell = p->cell[l][k];
					a[0] = cx + cell[0];
					a[1] = cy + cell[1];
					a[2] = cx + cell[2];
					a[3] = cy + cell[3];
					if (c->anchor_clip) {
						a[0] = clampf(a[0], 0, W);
						a[1] = clampf(a[1], 0, H);
						a[2] = clampf(a[2], 0, W);
						a[3] = clampf(a[3], 0, H);
					}
				}
			}
		}
	}
	/* publish: readers that see the new count see the whole set */
	atomic_store_explicit(&p->num_sets, n + 1, memory_order_release);
	*out = s;
	return KCV_OK;
}

void rn_anchors_free(rn_priv *p)
{
	int n = atomic_load_explicit(&p->num_sets, memory_order_relaxed);
	for (int i = 0; i < n; i++) {
		free(p->sets[i].anchors);
		p->sets[i].anchors = NULL;
	}
	atomic_store_explicit(&p->num_sets, 0, memory_order_relaxed);
}
