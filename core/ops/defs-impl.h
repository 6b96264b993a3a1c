/* Private: the op definitions, one per kcv_op, each in its core/ops/<op>.c
 * file; core/ops/table.c lists them. */
#ifndef KCV_OPS_DEFS_IMPL_H
#define KCV_OPS_DEFS_IMPL_H

#include "op-impl.h"

extern const kcv_op_def kcv_op_def_conv2d;           /* conv2d.c */
extern const kcv_op_def kcv_op_def_batch_norm;       /* norm.c */
extern const kcv_op_def kcv_op_def_group_norm;       /* norm.c */
extern const kcv_op_def kcv_op_def_max_pool;         /* pooling.c */
extern const kcv_op_def kcv_op_def_upsample_nearest; /* resample.c */
extern const kcv_op_def kcv_op_def_concat;           /* layout.c */
extern const kcv_op_def kcv_op_def_reshape;          /* layout.c */
extern const kcv_op_def kcv_op_def_transpose;        /* layout.c */
extern const kcv_op_def kcv_op_def_matmul;           /* matmul.c */
extern const kcv_op_def kcv_op_def_add;              /* elementwise.c */
extern const kcv_op_def kcv_op_def_sub;
extern const kcv_op_def kcv_op_def_mul;
extern const kcv_op_def kcv_op_def_div;
extern const kcv_op_def kcv_op_def_maximum;
extern const kcv_op_def kcv_op_def_affine;           /* unary.c */
extern const kcv_op_def kcv_op_def_relu;
extern const kcv_op_def kcv_op_def_sigmoid;
extern const kcv_op_def kcv_op_def_log_sigmoid;
extern const kcv_op_def kcv_op_def_exp;
extern const kcv_op_def kcv_op_def_log;
extern const kcv_op_def kcv_op_def_abs;
extern const kcv_op_def kcv_op_def_square;
extern const kcv_op_def kcv_op_def_sqrt;
extern const kcv_op_def kcv_op_def_pow;
extern const kcv_op_def kcv_op_def_smooth_l1;
extern const kcv_op_def kcv_op_def_stop_gradient;
extern const kcv_op_def kcv_op_def_bce_logits;       /* losses.c */
extern const kcv_op_def kcv_op_def_div_no_nan;
extern const kcv_op_def kcv_op_def_focal_loss;
extern const kcv_op_def kcv_op_def_giou_loss;
extern const kcv_op_def kcv_op_def_sum;              /* reduce.c */
extern const kcv_op_def kcv_op_def_mean;
extern const kcv_op_def kcv_op_def_gather_rows;      /* gather.c */

#endif
