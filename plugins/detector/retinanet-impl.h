/* Private to the retinanet plugin: configuration, per-instance state and
 * the functions the plugin's files share. */
#ifndef KCV_RETINANET_IMPL_H
#define KCV_RETINANET_IMPL_H

#include <stdatomic.h>

#include <kcv/graph.h>
#include <kcv/plugin.h>
#include <kcv/registry.h>
#include <kcv/safetensors.h>

/* enum option values, in the order of their choices */
enum { P6_FROM_C5, P6_FROM_P5 };
enum { PAD_SAME, PAD_SYMMETRIC };
enum { NORM_NONE, NORM_GROUP };
enum { INIT_ORTHOGONAL, INIT_NORMAL };
enum { RATIO_W_OVER_H, RATIO_H_OVER_W };
enum { ORDER_SCALE_MAJOR, ORDER_RATIO_MAJOR };
enum { ROUND_NONE, ROUND_TORCHVISION };
enum { CODING_CENTER, CODING_TOP_LEFT };

#define RN_MAX_CELL 64     /* anchors per location: scales x ratios */
#define RN_MAX_CONVS 16    /* convolutions per head before the last one */
#define RN_MAX_SIZES 8     /* distinct input sizes one instance keeps anchors for */
#define RN_MIN_LEVEL 3
#define RN_MAX_LEVEL 7

typedef struct rn_config {
	int64_t classes;
	const struct json_t *backbone;
	int64_t min_level, max_level;
	int64_t fpn_channels, head_channels, head_convs;
	int p6_input, extra_padding;
	int head_norm;
	int64_t head_norm_groups;
	int head_init;
	double prior_probability;
	kcv_floats anchor_sizes, anchor_scales, anchor_ratios;
	int ratio_definition, anchor_order;
	double anchor_offset;
	int anchor_clip, anchor_rounding;
	int box_coding;
	kcv_floats box_variance;
	double decode_clamp;
	int clip_boxes;
	double positive_iou, negative_iou;
	int low_quality_matches;
} rn_config;

/* What a layer's parameters are initialised from. */
enum { INIT_FPN, INIT_HEAD, INIT_CLS_LOGITS, INIT_BOX_DELTAS };

/* One convolution of the FPN or the heads, by graph name. */
typedef struct rn_conv {
	char name[40];      /* graph prefix: "fpn.inner.0", "head.cls.conv.1" ... */
	char tv[2][72];     /* torchvision key prefixes: current, then pre-0.13 form */
	char tv_norm[72];   /* torchvision GroupNorm prefix after this conv, or "" */
	char norm[40];      /* graph prefix of the GroupNorm after it, or "" */
	int k, cin, cout;
	int has_bias;
	int init;           /* INIT_* */
} rn_conv;

/* Anchors for one input size: xyxy pixels, level by level. */
typedef struct rn_anchor_set {
	int width, height;
	int num_levels;
	int grid_h[KCV_MAX_LEVELS], grid_w[KCV_MAX_LEVELS];
	int level_start[KCV_MAX_LEVELS + 1]; /* anchor index of each level's first */
	int num_anchors;
	float *anchors;                      /* num_anchors x 4 */
} rn_anchor_set;

typedef struct rn_priv {
	rn_config cfg;
	kcv_instance *backbone;
	const kcv_backbone_vtable *bb_vt;
	char path[256];    /* JSON path, for messages */
	char source[256];  /* pipeline file */
	char bb_path[300]; /* "<path>.backbone" */
	uint64_t seed;
	int num_levels;    /* max_level - min_level + 1 */
	int head_channels;
	/* per-location anchors, centred on (0, 0): cell[level][k] xyxy */
	int num_cell;
	float cell[KCV_MAX_LEVELS][RN_MAX_CELL][4];
	float cell_extent[KCV_MAX_LEVELS][4]; /* min x, min y, max x, max y of the cells */
	/* the layers, fixed by the configuration */
	rn_conv convs[8 + 2 * (RN_MAX_CONVS + 1)];
	int num_convs;
	/* anchors of every input size built so far; build() appends (the
	 * publishing store is a release), encode/decode read (acquire) */
	rn_anchor_set sets[RN_MAX_SIZES];
	atomic_int num_sets;
} rn_priv;

/* ---- retinanet_anchors.c ------------------------------------------------ */

/* Fill p->cell from the configuration (sizes, scales, ratios, order,
 * rounding). Errors name the option. */
kcv_status rn_cells_init(rn_priv *p, const kcv_context *ctx, kcv_error *err);
/* Anchors for an input of width x height whose levels have the given grids
 * (rows, columns); reuses an existing set of the same size. */
kcv_status rn_anchors_add(rn_priv *p, int width, int height, const int *grid_h,
                          const int *grid_w, const rn_anchor_set **out, kcv_error *err);
/* The set built for width x height, or NULL. MT-safe. */
const rn_anchor_set *rn_anchors_find(const rn_priv *p, int width, int height);
void rn_anchors_free(rn_priv *p);

/* ---- retinanet_encode.c ------------------------------------------------- */

kcv_status rn_encode(const void *priv, const kcv_boxes *gt, int width, int height,
                     kcv_targets *out, kcv_error *err);
kcv_status rn_decode_boxes(const void *priv, const float *deltas, int num_anchors, int width,
                           int height, float *boxes_xyxy, kcv_error *err);

/* ---- retinanet_load.c --------------------------------------------------- */

kcv_status rn_load(void *priv, kcv_graph *g, const kcv_weights *w, kcv_error *err);

#endif
