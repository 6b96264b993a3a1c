/* Private to the resnet plugin: the state shared by building and loading. */
#ifndef KCV_RESNET_IMPL_H
#define KCV_RESNET_IMPL_H

#include <kcv/graph.h>
#include <kcv/plugin.h>
#include <kcv/safetensors.h>

enum { NORM_NONE, NORM_IMAGENET, NORM_CAFFE };

typedef struct resnet_arch {
	const char *name;  /* "resnet50" */
	int bottleneck;    /* 1: 1x1-3x3-1x1 blocks (x4 channels), 0: 3x3-3x3 */
	int blocks[4];     /* per stage */
} resnet_arch;

typedef struct resnet_config {
	const char *weights;
	int trainable;
	int input_normalization;
	double bn_eps;
} resnet_config;

/* One convolution and the batch norm after it. */
typedef struct conv_unit {
	char conv_key[48]; /* "layer1.0.conv1" or "layer1.0.downsample.0" */
	char bn_key[48];   /* "layer1.0.bn1" or "layer1.0.downsample.1" */
	int kh, kw, cin, cout;
	kcv_node w, b;                   /* HWIO weight; bias (frozen: folded BN) */
	kcv_node gamma, beta, mean, var; /* trainable: the frozen batch norm */
} conv_unit;

typedef struct resnet_priv {
	resnet_config cfg;
	const resnet_arch *arch;
	conv_unit *units;
	size_t n_units, cap_units;
	kcv_node norm_scale, norm_shift; /* [3] input normalisation, or -1 */
	char path[256];                  /* JSON path, for messages */
	char source[256];                /* pipeline file, for messages */
} resnet_priv;

/* Load torchvision-named weights (under `prefix`) into the built graph:
 * convolutions are transposed from OIHW to HWIO, batch norm folded or
 * copied. Every missing, unexpected (but fc.* and num_batches_tracked) or
 * wrongly shaped tensor is an error naming it. */
kcv_status resnet_load(resnet_priv *p, kcv_graph *g, const kcv_weights *w, const char *prefix,
                       kcv_error *err);
/* Resolve cfg.weights to a file: "imagenet" -> $KCV_WEIGHTS_DIR (default
 * ~/.cache/kcv/weights)/<arch>_imagenet.safetensors, a path as is; NULL for
 * "none". Errors say which file to place where. */
kcv_status resnet_weights_file(const resnet_priv *p, char *out, size_t size, kcv_error *err);
/* He-normal initialisation of the convolutions (weights "none"). */
void resnet_init_random(resnet_priv *p, kcv_graph *g, uint64_t seed);

#endif
