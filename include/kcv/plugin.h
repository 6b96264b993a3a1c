/* kcv — the plugin ABI: descriptors, option schemas and the function tables
 * of the seven component kinds.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * kcv_plugin_describe(), returning a static kcv_plugin_desc. The registry
 * checks abi_major/abi_minor before it reads anything else: major must equal
 * KCV_PLUGIN_ABI_MAJOR and minor must not exceed KCV_PLUGIN_ABI_MINOR.
 * Bump the major number on any change to a struct declared here.
 *
 * Each component declares its options as a table (kcv_option). Core validates
 * the pipeline JSON against it (unknown keys, types, ranges, enums), fills a
 * zeroed config struct of config_size bytes with defaults and given values,
 * and calls create(priv, config, ctx, err) with priv_size zeroed bytes.
 * Plugins never parse JSON for declared options. */
#ifndef KCV_PLUGIN_H
#define KCV_PLUGIN_H

#include <kcv/boxes.h>
#include <kcv/common.h>
#include <kcv/error.h>
#include <kcv/image.h>
#include <kcv/rng.h>

KCV_BEGIN_DECLS

#define KCV_PLUGIN_ABI_MAJOR 2
#define KCV_PLUGIN_ABI_MINOR 0

struct json_t; /* Jansson's value, for KCV_OPT_JSON only */

typedef enum kcv_kind {
	KCV_KIND_DATASET = 0,
	KCV_KIND_AUGMENTER,
	KCV_KIND_BACKBONE,
	KCV_KIND_DETECTOR,
	KCV_KIND_LOSS,
	KCV_KIND_DECODER,
	KCV_KIND_METRIC,
	KCV_KIND_COUNT
} kcv_kind;

/* "dataset", "augmenter", ...; NULL when out of range. */
KCV_API const char *kcv_kind_name(kcv_kind kind);
KCV_API int kcv_kind_parse(const char *name, kcv_kind *out);

/* ---- options ----------------------------------------------------------- */

typedef enum kcv_option_type {
	KCV_OPT_NONE = 0, /* terminates a table */
	KCV_OPT_BOOL,     /* int (0/1) */
	KCV_OPT_INT,      /* int64_t */
	KCV_OPT_FLOAT,    /* double */
	KCV_OPT_STRING,   /* const char * (owned by the instance) */
	KCV_OPT_ENUM,     /* int: index into `choices` */
	KCV_OPT_FLOATS,   /* kcv_floats; a bare number is a 1-element array */
	KCV_OPT_INTS,     /* kcv_ints; a bare integer is a 1-element array */
	KCV_OPT_STRINGS,  /* kcv_strings; a bare string is a 1-element array */
	KCV_OPT_JSON      /* const struct json_t * (borrowed for the instance's life) */
} kcv_option_type;

typedef struct kcv_floats {
	size_t n;
	const double *v;
} kcv_floats;
typedef struct kcv_ints {
	size_t n;
	const int64_t *v;
} kcv_ints;
typedef struct kcv_strings {
	size_t n;
	const char *const *v;
} kcv_strings;

#define KCV_OPT_REQUIRED 1u  /* the key must be present */
#define KCV_OPT_ASCENDING 2u /* array items strictly increasing ([low, high]) */

typedef struct kcv_option {
	const char *name;
	kcv_option_type type;
	size_t offset;               /* offsetof(config struct, field) */
	const char *def;             /* default as JSON text ("0.1", "\"horizontal\"",
	                                "[0, 255]"); NULL: zero / NULL / empty */
	double min, max;             /* inclusive range for numbers and array items;
	                                applies when min < max */
	size_t min_items, max_items; /* arrays; 0 = no limit */
	const char *const *choices;  /* KCV_OPT_ENUM: NULL-terminated names */
	const char *doc;             /* one line for `kcv plugins` */
	unsigned flags;              /* KCV_OPT_REQUIRED | KCV_OPT_ASCENDING */
} kcv_option;

/* ---- what create() gets --------------------------------------------------- */

typedef struct kcv_registry kcv_registry;
typedef struct kcv_instance kcv_instance;

/* Pipeline-wide facts a component may need; a by-value bag, borrowed. */
typedef struct kcv_context {
	const kcv_registry *registry; /* to create child components */
	const char *source;           /* pipeline file, for messages */
	const char *path;             /* dotted JSON path of this component */
	uint64_t seed;                /* pipeline seed */
	int threads;                  /* compute threads (resolved, >= 1) */
	int image_width;              /* pipeline image_size */
	int image_height;
	kcv_box_format box_format;    /* pipeline bounding_box_format */
	const char *split;            /* datasets: "train", "validation", "test" */
	const char *base_dir;         /* folder of the pipeline file */
} kcv_context;

/* Record a KCV_ERR_INVALID error about option `option` of the component
 * being created (path "<ctx->path>.<option>", or ctx->path when option is
 * NULL), in ctx->source. Returns KCV_ERR_INVALID. */
KCV_API kcv_status kcv_error_option(kcv_error *err, const kcv_context *ctx, const char *option,
                                    const char *fmt, ...) KCV_PRINTF(4, 5);

/* Where problems found while reading data go (kcv data --check). */
typedef struct kcv_report {
	void (*fn)(void *user, const char *file, const char *message);
	void *user;
} kcv_report;

/* ---- dataset ---------------------------------------------------------------
 * Yields samples: the image resized to ctx->image_width x image_height as
 * float32 RGB 0..255 and its boxes (any format, recorded in boxes.format)
 * with 0-based class ids. get() is MT-safe: the loader calls it from several
 * threads at once, each with its own sample. */

#define KCV_GET_NO_PIXELS 1u /* annotations only (fast statistics) */
#define KCV_GET_CHECK 2u     /* report every problem through `report` */

typedef struct kcv_dataset_vtable {
	size_t (*size)(const void *priv);
	size_t (*num_classes)(const void *priv);
	const char *(*class_name)(const void *priv, size_t i);
	kcv_status (*get)(const void *priv, size_t index, unsigned flags, kcv_sample *out,
	                  const kcv_report *report, kcv_error *err);
} kcv_dataset_vtable;

/* ---- augmenter -------------------------------------------------------------
 * Transforms one sample in place. Boxes arrive and must leave in xyxy pixels
 * (the loader converts around the chain); boxes that leave the image must be
 * clipped or removed (kcv_boxes_clip). All randomness comes from `rng`, which
 * the loader seeds per (seed, epoch, sample), so results do not depend on
 * threads. An instance is used by one thread at a time. */
typedef struct kcv_augmenter_vtable {
	kcv_status (*apply)(void *priv, kcv_sample *sample, kcv_rng *rng, kcv_error *err);
} kcv_augmenter_vtable;

/* ---- compute-graph based kinds ---------------------------------------------
 * The graph API (include/kcv/graph.h) is introduced by the compute core; these
 * tables fix the shape of the contract now. */
typedef struct kcv_graph kcv_graph;
typedef int32_t kcv_node;          /* a value in a graph; < 0 = none */
typedef struct kcv_weights kcv_weights; /* a loaded safetensors file */

#define KCV_MAX_LEVELS 8

/* Feature maps a backbone or a neck produces, finest first. */
typedef struct kcv_feature_maps {
	int count;
	kcv_node maps[KCV_MAX_LEVELS];  /* N,H,W,C nodes */
	int strides[KCV_MAX_LEVELS];    /* 4, 8, 16, 32 ... */
	int channels[KCV_MAX_LEVELS];
	char names[KCV_MAX_LEVELS][8];  /* "C2".."C5" */
} kcv_feature_maps;

/* backbone: builds C2..C5 into a graph from an N,H,W,3 0..255 input node and
 * loads weights (torchvision/timm key names under `prefix`). */
typedef struct kcv_backbone_vtable {
	kcv_status (*build)(void *priv, kcv_graph *g, kcv_node images, kcv_feature_maps *out,
	                    kcv_error *err);
	kcv_status (*load)(void *priv, kcv_graph *g, const kcv_weights *w, const char *prefix,
	                   kcv_error *err);
} kcv_backbone_vtable;

/* Raw outputs of a detector for one batch. Anchors are ordered level by
 * level (finest first), then row-major over locations, then by the anchors
 * of a location; level_anchors[l] anchors belong to level l. */
typedef struct kcv_detector_outputs {
	kcv_node box_deltas;   /* N, A, 4: encoded box deltas */
	kcv_node class_logits; /* N, A, C: one logit per class (sigmoid) */
	int num_anchors;       /* A */
	int num_classes;       /* C */
	int num_levels;
	int level_anchors[KCV_MAX_LEVELS];
	int level_strides[KCV_MAX_LEVELS];
} kcv_detector_outputs;

/* Training targets for one image, A anchors. */
typedef struct kcv_targets {
	int num_anchors;
	float *box_targets;    /* A x 4 encoded deltas (0 where not positive) */
	int32_t *classes;      /* A: class id, -1 background, -2 ignore */
} kcv_targets;

#define KCV_TARGET_BACKGROUND (-1)
#define KCV_TARGET_IGNORE (-2)

/* detector: the model graph on top of a backbone it creates itself (from its
 * `backbone` option), the label encoder and the box coder.
 *
 * A kcv checkpoint stores the graph's parameters by their graph names, in
 * kcv's layout, and core loads it back without the plugin's help: name every
 * parameter uniquely and stably (the backbone's own names, then "fpn.*",
 * "head.*"). */
typedef struct kcv_detector_vtable {
	/* Build the graph for images [N,height,width,3] (0..255 RGB). */
	kcv_status (*build)(void *priv, kcv_graph *g, kcv_node images, int width, int height,
	                    kcv_detector_outputs *out, kcv_error *err);
	/* After compile. w == NULL: initialise for training (heads from the
	 * plugin's init, the backbone from its own `weights` option). w != NULL: a
	 * file in the reference implementation's layout (torchvision key names,
	 * OIHW kernels), every tensor required. */
	kcv_status (*load)(void *priv, kcv_graph *g, const kcv_weights *w, kcv_error *err);
	/* Encode ground truth (xyxy pixels, 0-based classes) into per-anchor
	 * targets for an image of width x height; out->box_targets and
	 * out->classes hold out->num_anchors entries (the caller allocates them
	 * after build). MT-safe. */
	kcv_status (*encode)(const void *priv, const kcv_boxes *gt, int width, int height,
	                     kcv_targets *out, kcv_error *err);
	/* Decode A deltas into xyxy pixel boxes for an image of width x height.
	 * MT-safe. */
	kcv_status (*decode_boxes)(const void *priv, const float *deltas, int num_anchors,
	                           int width, int height, float *boxes_xyxy, kcv_error *err);
} kcv_detector_vtable;

/* loss: per-image losses from predictions [N,A,K], targets [N,A,K] and
 * per-anchor weights [N,A]:
 *     out[n] = sum_a weights[n,a] * l(predictions[n,a,:], targets[n,a,:])
 * where l reduces the K axis as the plugin documents (focal: sum over
 * classes; smooth L1: mean over the 4 coordinates). *out has shape [N].
 * Anchors with weight 0 must not produce NaN or inf in the result or in the
 * gradient, whatever their predictions and targets. */
typedef struct kcv_loss_vtable {
	kcv_status (*build)(void *priv, kcv_graph *g, kcv_node predictions, kcv_node targets,
	                    kcv_node weights, kcv_node *out, kcv_error *err);
} kcv_loss_vtable;

/* Final detections of one image; manage with kcv_detections_* below. */
typedef struct kcv_detections {
	size_t count;
	size_t capacity;
	float *boxes;     /* count x 4, xyxy pixels */
	float *scores;    /* count */
	int32_t *classes; /* count */
} kcv_detections;

/* Make room for `capacity` detections (keeps the contents). */
KCV_API kcv_status kcv_detections_reserve(kcv_detections *d, size_t capacity,
                                          kcv_error *err) KCV_WARN_UNUSED;
/* Append one detection (grows as needed). */
KCV_API kcv_status kcv_detections_push(kcv_detections *d, const float box[4], float score,
                                       int32_t cls, kcv_error *err) KCV_WARN_UNUSED;
/* Sort by score, highest first; equal scores keep their order. */
KCV_API void kcv_detections_sort(kcv_detections *d);
KCV_API void kcv_detections_clear(kcv_detections *d);
/* Free the buffers and zero the struct; NULL is a no-op. */
KCV_API void kcv_detections_release(kcv_detections *d);

/* What a decoder gets for one image. */
typedef struct kcv_decoder_input {
	const float *boxes;        /* A x 4 decoded boxes, xyxy pixels */
	const float *scores;       /* A x C class probabilities (sigmoid) */
	int num_anchors;           /* A */
	int num_classes;           /* C */
	int num_levels;            /* the anchors' levels, as kcv_detector_outputs */
	const int *level_anchors;  /* num_levels counts summing to A */
	int width, height;         /* the image, pixels */
} kcv_decoder_input;

/* decoder: per-anchor boxes and class probabilities of one image to final
 * detections (appended to `out`, which the caller clears), sorted by score,
 * highest first. Holds no weights; chosen at predict time. An instance is
 * used by one thread at a time. */
typedef struct kcv_decoder_vtable {
	kcv_status (*decode)(void *priv, const kcv_decoder_input *in, kcv_detections *out,
	                     kcv_error *err);
} kcv_decoder_vtable;

/* Named results of a metric. */
typedef struct kcv_metric_value {
	char name[48]; /* "AP", "AP50", "AR100", "AP/person" ... */
	double value;  /* -1 where undefined (no ground truth) */
} kcv_metric_value;

/* metric: accumulates ground truth and detections batch by batch. */
typedef struct kcv_metric_vtable {
	void (*reset)(void *priv);
	kcv_status (*update)(void *priv, const kcv_boxes *gt, const kcv_detections *dt,
	                     size_t num_images, kcv_error *err);
	/* Fill up to `capacity` values; *count receives how many there are. */
	kcv_status (*result)(void *priv, kcv_metric_value *values, size_t capacity,
	                     size_t *count, kcv_error *err);
} kcv_metric_vtable;

/* ---- descriptors -------------------------------------------------------- */

typedef struct kcv_component {
	kcv_kind kind;
	const char *name;
	const char *summary;
	const kcv_option *options; /* terminated by an entry with type KCV_OPT_NONE */
	size_t config_size;        /* bytes of the config struct the options fill */
	size_t priv_size;          /* bytes of per-instance state, zeroed */
	kcv_status (*create)(void *priv, const void *config, const kcv_context *ctx,
	                     kcv_error *err);
	void (*destroy)(void *priv); /* may be NULL; called even if create failed */
	const void *vtable;          /* kcv_<kind>_vtable */
} kcv_component;

typedef struct kcv_plugin_desc {
	uint32_t abi_major; /* KCV_PLUGIN_ABI_MAJOR: read first */
	uint32_t abi_minor;
	const char *name;
	const char *version;
	const char *license;
	const char *summary;
	const kcv_component *const *components; /* NULL-terminated */
} kcv_plugin_desc;

#define KCV_PLUGIN_SYMBOL "kcv_plugin_describe"
typedef const kcv_plugin_desc *(*kcv_plugin_describe_fn)(void);

/* Put this before the plugin's describe function. */
#define KCV_PLUGIN_EXPORT __attribute__((visibility("default")))

KCV_END_DECLS

#endif /* KCV_PLUGIN_H */
