/* The op table, indexed by kcv_op. Each op's shape rule, forward and
 * backward live in its own core/ops/<op>.c. */
#include <kcv/error.h>

#include "defs-impl.h"

static const kcv_op_def *const table[] = {
	[KCV_OP_CONV2D] = &kcv_op_def_conv2d,
	[KCV_OP_BATCH_NORM] = &kcv_op_def_batch_norm,
	[KCV_OP_GROUP_NORM] = &kcv_op_def_group_norm,
	[KCV_OP_MAX_POOL] = &kcv_op_def_max_pool,
	[KCV_OP_UPSAMPLE_NEAREST] = &kcv_op_def_upsample_nearest,
	[KCV_OP_CONCAT] = &kcv_op_def_concat,
	[KCV_OP_RESHAPE] = &kcv_op_def_reshape,
	[KCV_OP_TRANSPOSE] = &kcv_op_def_transpose,
	[KCV_OP_MATMUL] = &kcv_op_def_matmul,
	[KCV_OP_ADD] = &kcv_op_def_add,
	[KCV_OP_SUB] = &kcv_op_def_sub,
	[KCV_OP_MUL] = &kcv_op_def_mul,
	[KCV_OP_DIV] = &kcv_op_def_div,
	[KCV_OP_MAXIMUM] = &kcv_op_def_maximum,
	[KCV_OP_AFFINE] = &kcv_op_def_affine,
	[KCV_OP_RELU] = &kcv_op_def_relu,
	[KCV_OP_SIGMOID] = &kcv_op_def_sigmoid,
	[KCV_OP_LOG_SIGMOID] = &kcv_op_def_log_sigmoid,
	[KCV_OP_BCE_LOGITS] = &kcv_op_def_bce_logits,
	[KCV_OP_EXP] = &kcv_op_def_exp,
	[KCV_OP_LOG] = &kcv_op_def_log,
	[KCV_OP_ABS] = &kcv_op_def_abs,
	[KCV_OP_SQUARE] = &kcv_op_def_square,
	[KCV_OP_SQRT] = &kcv_op_def_sqrt,
	[KCV_OP_POW] = &kcv_op_def_pow,
	[KCV_OP_SMOOTH_L1] = &kcv_op_def_smooth_l1,
	[KCV_OP_SUM] = &kcv_op_def_sum,
	[KCV_OP_MEAN] = &kcv_op_def_mean,
	[KCV_OP_DIV_NO_NAN] = &kcv_op_def_div_no_nan,
	[KCV_OP_GATHER_ROWS] = &kcv_op_def_gather_rows,
	[KCV_OP_STOP_GRADIENT] = &kcv_op_def_stop_gradient,
	[KCV_OP_FOCAL_LOSS] = &kcv_op_def_focal_loss,
	[KCV_OP_GIOU_LOSS] = &kcv_op_def_giou_loss,
};

/* A new kcv_op needs its entry here (a gap in the middle is caught below at
 * the first lookup, and by the tests, which build every op). */
_Static_assert(sizeof(table) / sizeof(table[0]) == KCV_OP_COUNT,
               "the op table must list every kcv_op");

const kcv_op_def *kcv_op_get(kcv_op op)
{
	if ((unsigned)op >= KCV_OP_COUNT)
		return NULL;
	KCV_ASSERT(table[op] != NULL);
	return table[op];
}
