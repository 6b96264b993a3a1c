/* Private to the resnet plugin: the state shared by building and loading. */
#ifndef KCV_RESNET_IMPL_H
#define KCV_RESNET_IMPL_H

#include <kcv/graph.h>
#include <kcv/plugin.h>
#include <kcv/safetensors.h>

enum { NORM_NONE, NORM_IMAGENET, NORM_CAFFE };   /* input_normalization */
enum { LAYER_BATCH_FROZEN, LAYER_GROUP, LAYER_BATCH }; /* norm (after each convolution) */
enum { STEM_CONV7, STEM_CONV3, STEM_CONV3_POOL }; /* stem */
enum { BLOCK_BASIC, BLOCK_BOTTLENECK };           /* block */

/* The network's shape: fixed for resnet18..101, from the options for
 * resnet_custom. */
typedef struct resnet_arch {
	char name[32];     /* "resnet50": messages, the ImageNet file name */
	int bottleneck;    /* 1: 1x1-3x3-1x1 blocks (width/4 inside), 0: 3x3-3x3 */
	int blocks[4];     /* per stage */
	int widths[4];     /* output channels per stage */
	int stem;          /* STEM_* */
	int stem_width;    /* channels after the stem */
	int norm;          /* LAYER_* */
	int groups;        /* group norm: groups per norm */
	double momentum;   /* batch norm: running-average weight of a batch */
	int zero_init_residual; /* random init: last norm's gamma of each block 0 */
	int imagenet;      /* "imagenet" weights exist for this network */
} resnet_arch;

typedef struct resnet_config {
	const char *weights;
	int trainable;
	int input_normalization;
	double bn_eps;
	/* resnet_custom only */
	int block;
	kcv_ints depths;
	kcv_ints widths;
	int64_t stem_width;
	int stem;
	int norm;
	int64_t norm_groups;
	double norm_momentum;
	int zero_init_residual;
} resnet_config;

/* One convolution and the norm after it. */
typedef struct conv_unit {
	char conv_key[48]; /* "layer1.0.conv1" or "layer1.0.downsample.0" */
	char bn_key[48];   /* "layer1.0.bn1" or "layer1.0.downsample.1" */
	int kh, kw, cin, cout;
	int last;                        /* the last norm of a residual branch */
	kcv_node w, b;                   /* HWIO weight; bias (frozen: folded BN) */
	kcv_node gamma, beta, mean, var; /* unfolded batch norm (mean/var) or group norm */
} conv_unit;

typedef struct resnet_priv {
	resnet_config cfg;
	resnet_arch arch;
	conv_unit *units;
	size_t n_units, cap_units;
	kcv_node norm_scale, norm_shift; /* input normalisation: 1x1 conv [1,1,3,3], bias [3]; or -1 */
	char path[256];                  /* JSON path, for messages */
	char source[256];                /* pipeline file, for messages */
} resnet_priv;

/* Load torchvision-named weights (under `prefix`) into the built graph:
 * convolutions are transposed from OIHW to HWIO, batch norm folded or
 * copied, group norm copied. Every missing, unexpected (but fc.* and
 * num_batches_tracked) or wrongly shaped tensor is an error naming it. */
kcv_status resnet_load(resnet_priv *p, kcv_graph *g, const kcv_weights *w, const char *prefix,
                       kcv_error *err);
/* Resolve cfg.weights to a file: "imagenet" -> $KCV_WEIGHTS_DIR (default
 * ~/.cache/kcv/weights)/<arch>_imagenet.safetensors, a path as is; NULL for
 * "none". Errors say which file to place where. */
kcv_status resnet_weights_file(const resnet_priv *p, char *out, size_t size, kcv_error *err);
/* He-normal (fan_out) initialisation of the convolutions, norms at identity
 * (weights "none"). */
void resnet_init_random(resnet_priv *p, kcv_graph *g, uint64_t seed);

#endif
