/* Private: the op table. Each op's shape rule, forward and backward live
 * together in core/ops/<op>.c and are listed once in core/ops/table.c. */
#ifndef KCV_OP_IMPL_H
#define KCV_OP_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <kcv/error.h>
#include <kcv/graph.h>

#include "../pool-impl.h"

typedef enum kcv_op {
	KCV_OP_CONV2D = 0,
	KCV_OP_BATCH_NORM,
	KCV_OP_GROUP_NORM,
	KCV_OP_MAX_POOL,
	KCV_OP_UPSAMPLE_NEAREST,
	KCV_OP_CONCAT,
	KCV_OP_RESHAPE,
	KCV_OP_TRANSPOSE,
	KCV_OP_MATMUL,
	KCV_OP_ADD,
	KCV_OP_SUB,
	KCV_OP_MUL,
	KCV_OP_DIV,
	KCV_OP_MAXIMUM,
	KCV_OP_AFFINE,
	KCV_OP_RELU,
	KCV_OP_SIGMOID,
	KCV_OP_LOG_SIGMOID,
	KCV_OP_BCE_LOGITS,
	KCV_OP_EXP,
	KCV_OP_LOG,
	KCV_OP_ABS,
	KCV_OP_SQUARE,
	KCV_OP_SQRT,
	KCV_OP_POW,
	KCV_OP_SMOOTH_L1,
	KCV_OP_SUM,
	KCV_OP_MEAN,
	KCV_OP_DIV_NO_NAN,
	KCV_OP_GATHER_ROWS,
	KCV_OP_STOP_GRADIENT,
	KCV_OP_FOCAL_LOSS,
	KCV_OP_GIOU_LOSS,
	KCV_OP_COUNT
} kcv_op;

#define KCV_OP_MAX_IN 8
#define KCV_OP_PARAMS_SIZE 64

/* Op parameters (copied into the node; at most KCV_OP_PARAMS_SIZE bytes). */
typedef struct kcv_op_reduce_params {
	int axis; /* resolved, or KCV_AXIS_ALL */
	int keepdims;
} kcv_op_reduce_params;
typedef struct kcv_op_scalar_params {
	float a, b; /* affine: scale, shift; pow: gamma; smooth_l1: cutoff */
} kcv_op_scalar_params;
typedef struct kcv_op_norm_params {
	float eps;
	int training;   /* batch norm: KCV_BN_* */
	float momentum; /* batch norm, KCV_BN_FOLLOW: running-average weight of a batch */
	int groups;     /* group norm */
} kcv_op_norm_params;
/* Batch norm modes: always the running statistics; always the batch
 * statistics; the batch statistics (and a running-average update of mean and
 * var) while the graph runs in training mode, the running ones otherwise. */
enum { KCV_BN_RUNNING = 0, KCV_BN_BATCH = 1, KCV_BN_FOLLOW = 2 };
typedef struct kcv_op_pool_params {
	int kernel, stride, pad;
} kcv_op_pool_params;
typedef struct kcv_op_resize_params {
	int out_h, out_w; /* upsample_nearest */
} kcv_op_resize_params;
/* reshape: the params are the target kcv_shape as given (one dim may be -1).
 * conv2d: the public parameters (zero defaults resolved: stride, dilation,
 * groups >= 1) and which optional inputs follow x and w: the bias, then a
 * residual added before the fused ReLU. */
typedef struct kcv_op_conv_params {
	kcv_conv2d_params p; /* first: geometry code reads it through a cast */
	int has_bias;
	int has_residual;
} kcv_op_conv_params;
typedef struct kcv_op_axis_params {
	int axis;        /* concat, resolved */
	int perm[KCV_MAX_DIMS]; /* transpose */
	int trans_a, trans_b;   /* matmul */
} kcv_op_axis_params;

/* The bfloat16 backend of a graph in KCV_PRECISION_BF16 (conv2d_bf16.c).
 * kcv_bf16_new returns NULL with the reason (no oneDNN in this build, no
 * bfloat16 units in the CPU) in `why`. */
typedef struct kcv_bf16 kcv_bf16;
kcv_bf16 *kcv_bf16_new(int threads, char *why, size_t why_size);
void kcv_bf16_free(kcv_bf16 *b);
/* A kcv_pool_runner on the backend's OpenMP threads (rctx: the backend). */
void kcv_bf16_pool_run(void *rctx, size_t n, kcv_pool_fn fn, void *ctx);

/* One forward execution. */
typedef struct kcv_op_call {
	int n_in;
	const float *in[KCV_OP_MAX_IN];
	kcv_shape in_shape[KCV_OP_MAX_IN];
	float *out;
	kcv_shape out_shape;
	const void *params;
	void *scratch;       /* scratch(..., 0) bytes, 64-byte aligned */
	kcv_pool *pool;
	int training;        /* the graph runs in training mode (kcv_graph_set_training) */
	kcv_bf16 *bf16;      /* the graph runs in KCV_PRECISION_BF16: its backend; else NULL */
	size_t node;         /* the node's index (the backend's per-node state) */
} kcv_op_call;

/* One backward execution: d_out is the gradient of the output; for each
 * input i with d_in[i] != NULL, write (accumulate[i] == 0) or add
 * (accumulate[i] == 1) its gradient. in[] and out hold the forward values
 * the op declared it needs (others may be NULL). */
typedef struct kcv_op_grad_call {
	kcv_op_call fwd;
	const float *d_out;
	float *d_in[KCV_OP_MAX_IN];
	int accumulate[KCV_OP_MAX_IN];
	void *scratch;       /* scratch(..., 1) bytes */
} kcv_op_grad_call;

#define KCV_OPF_NO_BACKWARD 1u /* not differentiable (backward NULL) */
#define KCV_OPF_VIEW 2u        /* output aliases input 0 (reshape): no kernel */

typedef struct kcv_op_def {
	const char *name;
	int min_in, max_in;
	unsigned flags;
	/* inputs whose forward values backward reads (bit i = input i) */
	uint32_t bwd_needs_in;
	/* backward reads the forward output */
	int bwd_needs_out;
	/* Output shape from input shapes; a one-line message on error. */
	kcv_status (*infer)(const kcv_shape *in, int n_in, const void *params, kcv_shape *out,
	                    char *msg, size_t msg_size);
	/* Scratch bytes for forward (backward = 0) or backward (1); may be NULL. */
	size_t (*scratch)(const kcv_shape *in, int n_in, const void *params, const kcv_shape *out,
	                  int backward);
	/* Floating-point operations of one forward (for GFLOP/s); may be NULL. */
	double (*flops)(const kcv_shape *in, int n_in, const void *params, const kcv_shape *out);
	void (*forward)(const kcv_op_call *c);
	void (*backward)(const kcv_op_grad_call *c);
} kcv_op_def;

/* The table, indexed by kcv_op (core/ops/table.c). */
const kcv_op_def *kcv_op_get(kcv_op op);

#endif
