/* kcv — the static compute graph.
 *
 * Plugins build the forward graph of a model from core ops (kcv_op_*), once
 * per input shape. Tensors are float32, NHWC, 64-byte aligned. Then:
 *   kcv_graph_backward(g, loss)  derives the backward pass once (reverse-mode
 *                                autodiff) for every trainable parameter;
 *   kcv_graph_compile(g)         plans memory once: buffers whose lifetimes
 *                                do not overlap share memory, activations of
 *                                frozen parts are dropped once consumed;
 *   kcv_graph_forward / _backward  run it, every step.
 *
 * Building never fails half-way silently: an op given bad inputs returns -1
 * and records the first error in the graph (kcv_graph_status reports it), so
 * a plugin may build a whole network and check once. A graph is owned by one
 * thread; its kernels use the graph's threads (OpenBLAS is set to the same
 * count, and the two never run at once). */
#ifndef KCV_GRAPH_H
#define KCV_GRAPH_H

#include <kcv/common.h>
#include <kcv/error.h>

KCV_BEGIN_DECLS

#define KCV_MAX_DIMS 6

typedef struct kcv_graph kcv_graph;
typedef int32_t kcv_node; /* a value in a graph; -1 = none / error */

typedef struct kcv_shape {
	int rank;
	int64_t d[KCV_MAX_DIMS];
} kcv_shape;

/* Shape helpers. */
KCV_API kcv_shape kcv_shape_make(int rank, const int64_t *dims);
KCV_API kcv_shape kcv_shape_4d(int64_t n, int64_t h, int64_t w, int64_t c);
KCV_API int64_t kcv_shape_numel(const kcv_shape *s);
KCV_API int kcv_shape_equal(const kcv_shape *a, const kcv_shape *b);
/* "[8, 64, 64, 256]" into buf. */
KCV_API const char *kcv_shape_format(const kcv_shape *s, char *buf, size_t size);

typedef struct kcv_graph_params {
	int threads; /* 0 = the number of cores */
} kcv_graph_params;

/* Caller frees. */
KCV_API kcv_graph *kcv_graph_new(const kcv_graph_params *params, kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_graph_free(kcv_graph *g);
/* The first error recorded while building (KCV_OK if none), copied to err. */
KCV_API kcv_status kcv_graph_status(const kcv_graph *g, kcv_error *err);
KCV_API int kcv_graph_threads(const kcv_graph *g);
/* Training mode (off in a new graph): what kcv_op_batch_norm_train follows.
 * A trainer turns it on for its steps and off for validation. */
KCV_API void kcv_graph_set_training(kcv_graph *g, int on);
KCV_API int kcv_graph_training(const kcv_graph *g);

/* Precision of the convolutions (float32 in a new graph). In
 * KCV_PRECISION_BF16 each conv2d rounds its input and weights to bfloat16
 * and runs on the CPU's bfloat16 units through oneDNN, accumulating and
 * writing float32 (backward too); parameters, optimiser and every other op
 * stay float32. Results then differ from float32 by bfloat16's rounding
 * (about 3 significant digits per product). KCV_ERR_UNSUPPORTED, with the
 * reason, where this build has no oneDNN or the CPU no bfloat16 units
 * (avx512_bf16 or AMX); the graph stays float32 then. */
typedef enum kcv_precision { KCV_PRECISION_FLOAT32 = 0, KCV_PRECISION_BF16 = 1 } kcv_precision;
KCV_API kcv_status kcv_graph_set_precision(kcv_graph *g, kcv_precision precision,
                                           kcv_error *err);
KCV_API kcv_precision kcv_graph_precision(const kcv_graph *g);
/* KCV_OK where kcv_graph_set_precision(precision) would work; else the
 * reason (as it would report it). */
KCV_API kcv_status kcv_precision_check(kcv_precision precision, kcv_error *err);

/* ---- leaves -------------------------------------------------------------- */

#define KCV_PARAM_TRAINABLE 1u /* gets a gradient */

/* A value fed before each run (images, targets, masks). */
KCV_API kcv_node kcv_graph_input(kcv_graph *g, const char *name, kcv_shape shape);
/* A persistent parameter (zero-initialised; fill it through kcv_graph_data).
 * Names follow the weight files' keys ("layer1.0.conv1.weight"). */
KCV_API kcv_node kcv_graph_param(kcv_graph *g, const char *name, kcv_shape shape,
                                 unsigned flags);

/* ---- ops (each returns the new node, or -1 after recording an error) ---- */

/* 2-D convolution of x [N,H,W,Cin] with w [KH,KW,Cin/groups,Cout] (HWIO),
 * optional bias b [Cout] (-1 for none). */
typedef struct kcv_conv2d_params {
	int stride_h, stride_w;   /* 0 = 1 */
	int dilation_h, dilation_w; /* 0 = 1 */
	int pad_top, pad_bottom, pad_left, pad_right;
	int same;                 /* 1: TF "same" padding (extra pixel bottom/right) */
	int groups;               /* 0 = 1 */
	int relu;                 /* 1: fused ReLU on the output */
} kcv_conv2d_params;
KCV_API kcv_node kcv_op_conv2d(kcv_graph *g, kcv_node x, kcv_node w, kcv_node b,
                               const kcv_conv2d_params *p);
/* conv2d(x, w, b) + residual (the output's shape), then the fused ReLU when
 * p->relu: a residual block's last convolution and its shortcut in one pass
 * over the output. */
KCV_API kcv_node kcv_op_conv2d_residual(kcv_graph *g, kcv_node x, kcv_node w, kcv_node b,
                                        kcv_node residual, const kcv_conv2d_params *p);

/* Batch norm over the channel (last) axis. Inference mode uses mean/var;
 * training mode uses batch statistics (and does not update mean/var; the
 * trainer does). */
KCV_API kcv_node kcv_op_batch_norm(kcv_graph *g, kcv_node x, kcv_node gamma, kcv_node beta,
                                   kcv_node mean, kcv_node var, float eps, int training);
/* Batch norm as torch.nn.BatchNorm2d: while the graph runs in training mode
 * (kcv_graph_set_training), batch statistics, and each forward pass updates
 * the running statistics in place (mean and var must be parameters):
 *   mean = (1 - momentum) mean + momentum * batch mean
 *   var  = (1 - momentum) var  + momentum * batch variance * m / (m - 1)
 * (m values per channel: the unbiased variance); in inference mode the
 * running statistics. */
KCV_API kcv_node kcv_op_batch_norm_train(kcv_graph *g, kcv_node x, kcv_node gamma,
                                         kcv_node beta, kcv_node mean, kcv_node var, float eps,
                                         float momentum);
/* Group norm of x [N,H,W,C] with `groups` groups, per-channel gamma/beta. */
KCV_API kcv_node kcv_op_group_norm(kcv_graph *g, kcv_node x, kcv_node gamma, kcv_node beta,
                                   int groups, float eps);
/* Max pooling; padding counts as -inf. */
KCV_API kcv_node kcv_op_max_pool(kcv_graph *g, kcv_node x, int kernel, int stride, int pad);
/* Nearest-neighbour upsampling of x [N,H,W,C] to [N,out_h,out_w,C]
 * (source index floor(i * H / out_h), as torch "nearest"). */
KCV_API kcv_node kcv_op_upsample_nearest(kcv_graph *g, kcv_node x, int out_h, int out_w);
/* Concatenate along `axis` (negative counts from the end). */
KCV_API kcv_node kcv_op_concat(kcv_graph *g, int n, const kcv_node *xs, int axis);
/* Same data, new shape (a view: no copy). One dimension may be -1. */
KCV_API kcv_node kcv_op_reshape(kcv_graph *g, kcv_node x, int rank, const int64_t *dims);
/* Permute the axes. */
KCV_API kcv_node kcv_op_transpose(kcv_graph *g, kcv_node x, int rank, const int *perm);
/* Matrix product of the last two axes (batched over leading axes). */
KCV_API kcv_node kcv_op_matmul(kcv_graph *g, kcv_node a, kcv_node b, int trans_a, int trans_b);

/* Elementwise. Binary ops broadcast numpy-style (trailing axes aligned). */
KCV_API kcv_node kcv_op_add(kcv_graph *g, kcv_node a, kcv_node b);
KCV_API kcv_node kcv_op_sub(kcv_graph *g, kcv_node a, kcv_node b);
KCV_API kcv_node kcv_op_mul(kcv_graph *g, kcv_node a, kcv_node b);
KCV_API kcv_node kcv_op_div(kcv_graph *g, kcv_node a, kcv_node b);
KCV_API kcv_node kcv_op_maximum(kcv_graph *g, kcv_node a, kcv_node b);
/* x * scale + shift */
KCV_API kcv_node kcv_op_affine(kcv_graph *g, kcv_node x, float scale, float shift);
KCV_API kcv_node kcv_op_relu(kcv_graph *g, kcv_node x);
KCV_API kcv_node kcv_op_sigmoid(kcv_graph *g, kcv_node x);
/* log(sigmoid(x)), numerically stable. */
KCV_API kcv_node kcv_op_log_sigmoid(kcv_graph *g, kcv_node x);
/* Binary cross-entropy with logits, elementwise: max(x,0) - x*t + log1p(exp(-|x|)). */
KCV_API kcv_node kcv_op_bce_logits(kcv_graph *g, kcv_node logits, kcv_node targets);
KCV_API kcv_node kcv_op_exp(kcv_graph *g, kcv_node x);
KCV_API kcv_node kcv_op_log(kcv_graph *g, kcv_node x);
KCV_API kcv_node kcv_op_abs(kcv_graph *g, kcv_node x);
KCV_API kcv_node kcv_op_square(kcv_graph *g, kcv_node x);
KCV_API kcv_node kcv_op_sqrt(kcv_graph *g, kcv_node x);
/* x^gamma for x >= 0 (gamma > 0). */
KCV_API kcv_node kcv_op_pow(kcv_graph *g, kcv_node x, float gamma);
/* Huber / smooth-L1 of d: 0.5 d^2 if |d| < cutoff else |d| - 0.5 (KerasCV). */
KCV_API kcv_node kcv_op_smooth_l1(kcv_graph *g, kcv_node d, float cutoff);

/* Sigmoid focal loss (Lin et al. 2017) of x [..., C] against targets
 * t [..., C], summed over the last axis: out [...] ([1] for rank 1). Per
 * element, with y = t (1 - label_smoothing) + label_smoothing / 2:
 *   from_logits: p = sigmoid(x), CE = the exact, stable sigmoid cross-entropy;
 *   otherwise:   x is a probability, CE = -(y log(c + 1e-7) + (1 - y) log(1 - c
 *                + 1e-7)) with c = x clipped to [1e-7, 1 - 1e-7] (Keras);
 *   p_t = y p + (1 - y)(1 - p)  (p clipped to [0, 1]),
 *   alpha_t = alpha where the raw target t == 1, else 1 - alpha (1 when alpha < 0),
 *   FL = alpha_t (1 - p_t)^gamma CE.
 * Finite for any finite x. The gradient flows to x only (targets are
 * constants: their gradient is 0). */
typedef struct kcv_focal_params {
	float alpha;           /* 0.25 in the paper; < 0: no class balancing */
	float gamma;           /* >= 0 */
	float label_smoothing; /* [0, 1] */
	int from_logits;       /* 1: x are logits; 0: probabilities */
} kcv_focal_params;
KCV_API kcv_node kcv_op_focal_loss(kcv_graph *g, kcv_node x, kcv_node targets,
                                   const kcv_focal_params *p);

/* Generalized IoU loss (Rezatofighi et al. 2019), 1 - GIoU(a, b), of a and b
 * [..., 4]: out [...] ([1] for rank 1), as torchvision's
 * generalized_box_iou_loss (eps 1e-7). The inputs are xyxy boxes, or box
 * deltas decoded against a unit anchor (width and height 1; GIoU does not
 * change under the per-anchor affine map to pixels):
 *   s = delta * variance, w = exp(min(s2, clamp)), h = exp(min(s3, clamp));
 *   CENTER:   box = [s0 - w/2, s1 - h/2, s0 + w/2, s1 + h/2] (centre form);
 *   TOP_LEFT: box = [s0, s1, s0 + w, s1 + h] (KerasCV 0.3's form).
 * Computed in double; gradients flow to both inputs (ties of min/max split
 * the gradient in halves, as torch). */
typedef enum kcv_giou_input {
	KCV_GIOU_BOXES = 0,       /* xyxy boxes */
	KCV_GIOU_DELTAS_CENTER,   /* [dx, dy, dw, dh], centre form */
	KCV_GIOU_DELTAS_TOP_LEFT  /* [dx, dy, dw, dh], top-left form */
} kcv_giou_input;
typedef struct kcv_giou_params {
	int input;         /* kcv_giou_input */
	float variance[4]; /* deltas are multiplied by these (0 = 1) */
	float clamp;       /* cap on the scaled dw, dh before exp; 0 = none (80 always) */
} kcv_giou_params;
KCV_API kcv_node kcv_op_giou_loss(kcv_graph *g, kcv_node a, kcv_node b,
                                  const kcv_giou_params *p);

/* Reductions over one axis (keepdims 0/1), or over everything with axis
 * KCV_AXIS_ALL (a scalar of shape [1]). */
#define KCV_AXIS_ALL 127
KCV_API kcv_node kcv_op_sum(kcv_graph *g, kcv_node x, int axis, int keepdims);
KCV_API kcv_node kcv_op_mean(kcv_graph *g, kcv_node x, int axis, int keepdims);
/* out = a / max(b, eps) elementwise with broadcasting, and 0 where b == 0
 * (divide_no_nan when eps = 0). */
KCV_API kcv_node kcv_op_div_no_nan(kcv_graph *g, kcv_node a, kcv_node b);
/* Rows of x [R, C] picked by integer indices given as floats in idx [K]:
 * out [K, C]; backward scatters (adds) into x. */
KCV_API kcv_node kcv_op_gather_rows(kcv_graph *g, kcv_node x, kcv_node idx);
/* Stop gradients flowing through x. */
KCV_API kcv_node kcv_op_stop_gradient(kcv_graph *g, kcv_node x);

/* ---- build, plan, run -------------------------------------------------- */

/* Keep a node's value after a run (outputs read by the caller). */
KCV_API kcv_status kcv_graph_mark_output(kcv_graph *g, kcv_node x);
/* Derive the backward pass of scalar `loss` (shape [1]) for every trainable
 * parameter that influences it. Call once, before compile. */
KCV_API kcv_status kcv_graph_backward(kcv_graph *g, kcv_node loss, kcv_error *err) KCV_WARN_UNUSED;
/* Plan memory and allocate. After this, no more nodes. */
KCV_API kcv_status kcv_graph_compile(kcv_graph *g, kcv_error *err) KCV_WARN_UNUSED;
/* Run the forward pass (inputs must be filled). */
KCV_API kcv_status kcv_graph_forward(kcv_graph *g, kcv_error *err) KCV_WARN_UNUSED;
/* Run the backward pass after a forward: fills parameter gradients. */
KCV_API kcv_status kcv_graph_run_backward(kcv_graph *g, kcv_error *err) KCV_WARN_UNUSED;

/* Buffer of an input, parameter or marked output (after compile): float32,
 * numel(shape) values, NHWC. Inputs and parameters may be written. */
KCV_API float *kcv_graph_data(kcv_graph *g, kcv_node x);
/* Gradient of a trainable parameter (after kcv_graph_run_backward). */
KCV_API float *kcv_graph_grad(kcv_graph *g, kcv_node param);
KCV_API kcv_shape kcv_graph_shape(const kcv_graph *g, kcv_node x);
KCV_API const char *kcv_graph_name(const kcv_graph *g, kcv_node x);

/* Parameters in creation order: returns the i-th parameter node or -1. */
KCV_API kcv_node kcv_graph_param_at(const kcv_graph *g, size_t i);
KCV_API int kcv_graph_param_trainable(const kcv_graph *g, kcv_node param);
/* Find a parameter or input by name; -1 if none. */
KCV_API kcv_node kcv_graph_find(const kcv_graph *g, const char *name);

/* Planned memory in bytes: the activation arena and the persistent buffers. */
KCV_API size_t kcv_graph_arena_bytes(const kcv_graph *g);
KCV_API size_t kcv_graph_persistent_bytes(const kcv_graph *g);
/* Forward floating-point operations per run (multiply-add = 2). */
KCV_API double kcv_graph_forward_flops(const kcv_graph *g);
/* The backward pass's: each op's forward count once per gradient it
 * computes of its first two inputs (a convolution's dX and dW, a matmul's
 * two operands); nothing for frozen parts that need no gradient. */
KCV_API double kcv_graph_backward_flops(const kcv_graph *g);

/* Per-op timing: 1 to record the time of each op kind in runs. */
KCV_API void kcv_graph_set_profiling(kcv_graph *g, int on);
/* Write the profile ("op  calls  ms  share") to a stream (FILE *). */
KCV_API void kcv_graph_print_profile(const kcv_graph *g, void *stream);

/* ---- the BLAS underneath ----------------------------------------------- */

/* The OpenBLAS kernel family in use ("Haswell", "SkylakeX", ...). kcv never
 * overrides OPENBLAS_CORETYPE: some OpenBLAS builds compute wrong results
 * with kernels a CPU advertises but they were not written for. */
KCV_API const char *kcv_blas_corename(void);
KCV_END_DECLS

#endif /* KCV_GRAPH_H */
