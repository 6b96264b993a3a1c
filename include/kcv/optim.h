/* kcv — optimisers and learning-rate schedules.
 *
 * An optimiser updates registered parameter buffers in place from their
 * gradient buffers: SGD (Keras semantics, with momentum and Nesterov) or
 * AdamW (torch.optim.AdamW semantics), with optional Keras global_clipnorm.
 * The learning rate of step t (t = number of updates done so far, starting
 * at 0) is kcv_schedule_lr(schedule, t) * lr_scale, where lr_scale is the
 * multiplier that ReduceLROnPlateau changes.
 *
 * All buffers are float32, contiguous, on the CPU. Updates run on the calling
 * thread (single-threaded), one pass over each buffer after one pass over all
 * gradients for the norm. An optimiser is owned by one thread. */
#ifndef KCV_OPTIM_H
#define KCV_OPTIM_H

#include <kcv/common.h>
#include <kcv/error.h>
#include <kcv/safetensors.h>

KCV_BEGIN_DECLS

/* ---- learning-rate schedules ------------------------------------------- */

typedef enum kcv_schedule_kind {
	KCV_SCHEDULE_CONSTANT = 0, /* lr */
	KCV_SCHEDULE_STEP,         /* Keras PiecewiseConstantDecay(boundaries, values) */
	KCV_SCHEDULE_COSINE        /* Keras CosineDecay(lr, decay_steps, alpha) */
} kcv_schedule_kind;

#define KCV_SCHEDULE_MAX_BOUNDARIES 16

/* A by-value parameter bag; fill with designated initializers.
 *
 * Without warm-up, lr(t) is
 *   CONSTANT: lr
 *   STEP:     values[0] for t <= boundaries[0], values[i] for
 *             boundaries[i-1] < t <= boundaries[i], values[n] for
 *             t > boundaries[n-1] (n = n_boundaries; n = 0 gives values[0])
 *   COSINE:   lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t, decay_steps) /
 *             decay_steps)) + alpha)
 * With warmup_steps = W > 0 (as in Keras 3 CosineDecay's warm-up), steps
 * t < W ramp linearly from warmup_lr_start to lr0 = the schedule's value at
 * its own step 0: lr(t) = warmup_lr_start + (lr0 - warmup_lr_start) * t / W;
 * from t = W on, the schedule above runs at step t - W. */
typedef struct kcv_schedule {
	kcv_schedule_kind kind;
	double lr;                /* CONSTANT, COSINE: the base learning rate */
	int n_boundaries;         /* STEP: in [0, KCV_SCHEDULE_MAX_BOUNDARIES] */
	int64_t boundaries[KCV_SCHEDULE_MAX_BOUNDARIES]; /* STEP: strictly increasing */
	double values[KCV_SCHEDULE_MAX_BOUNDARIES + 1];  /* STEP: n_boundaries + 1 rates */
	int64_t decay_steps;      /* COSINE: > 0 */
	double alpha;             /* COSINE: final lr as a fraction of lr, in [0,1] */
	int64_t warmup_steps;     /* >= 0; 0 = no warm-up */
	double warmup_lr_start;   /* lr at step 0 of the warm-up */
} kcv_schedule;

/* Check a schedule's fields (ranges, finite non-negative rates, increasing
 * boundaries). */
KCV_API kcv_status kcv_schedule_check(const kcv_schedule *s, kcv_error *err) KCV_WARN_UNUSED;
/* The learning rate of step `step` (>= 0; negative counts as 0). The schedule
 * must pass kcv_schedule_check. */
KCV_API double kcv_schedule_lr(const kcv_schedule *s, int64_t step);
/* "constant", "step", "cosine"; NULL when out of range. */
KCV_API const char *kcv_schedule_kind_name(kcv_schedule_kind kind);

/* ---- optimisers ------------------------------------------------------------- */

typedef enum kcv_optim_kind {
	/* Keras SGD: v <- momentum * v - lr * g; w <- w + v
	 * (nesterov: w <- w + momentum * v - lr * g); momentum 0: w <- w - lr * g.
	 * weight_decay is an L2 term added to the (clipped) gradient,
	 * g <- g + weight_decay * w, as torch.optim.SGD does. At constant lr this
	 * equals torch SGD (buf <- m buf + g; w <- w - lr buf). */
	KCV_OPTIM_SGD = 0,
	/* torch.optim.AdamW, step t = 1, 2, ...:
	 *   w <- w - lr * weight_decay * w            (decoupled decay)
	 *   m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
	 *   w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) */
	KCV_OPTIM_ADAMW
} kcv_optim_kind;

/* A by-value parameter bag; zero means default where a default is given. */
typedef struct kcv_optim_params {
	kcv_optim_kind kind;
	double momentum;        /* SGD: in [0,1); 0 = plain SGD (no momentum slot) */
	int nesterov;           /* SGD: non-zero for Nesterov momentum (needs momentum > 0) */
	double weight_decay;    /* >= 0; 0 = none (note: torch AdamW's default is 0.01) */
	double beta1;           /* AdamW: in (0,1); 0 = default 0.9 */
	double beta2;           /* AdamW: in (0,1); 0 = default 0.999 */
	double eps;             /* AdamW: > 0; 0 = default 1e-8 (added outside the sqrt) */
	/* Keras global_clipnorm: if > 0, every gradient is scaled by
	 * clipnorm / max(||g||_2, clipnorm), the norm taken over ALL registered
	 * gradients together. The gradient buffers themselves are not modified. */
	double global_clipnorm;
} kcv_optim_params;

typedef struct kcv_optim kcv_optim;

/* What one step did. */
typedef struct kcv_optim_report {
	int64_t step;      /* the step index used (the count before this update) */
	double lr;         /* learning rate applied (schedule * lr_scale) */
	double grad_norm;  /* L2 norm over all gradients, before clipping */
	double clip_scale; /* factor applied to the gradients; 1 when not clipped */
} kcv_optim_report;

/* Create an optimiser. `schedule` is copied. Caller frees. */
KCV_API kcv_optim *kcv_optim_new(const kcv_optim_params *params, const kcv_schedule *schedule,
                                 kcv_error *err) KCV_WARN_UNUSED;
KCV_API void kcv_optim_free(kcv_optim *opt);

/* Register a parameter: `param` and `grad` each hold n floats (n > 0) and
 * stay owned by the caller; they must stay valid while the optimiser is used.
 * `name` (copied) must be unique; it names the state slots. The state slots
 * are allocated here, zeroed. */
KCV_API kcv_status kcv_optim_add_param(kcv_optim *opt, const char *name, float *param,
                                       float *grad, size_t n, kcv_error *err) KCV_WARN_UNUSED;

/* Point a registered parameter at new buffers (same n), e.g. when a graph is
 * rebuilt for another input shape; its state is kept. Errors name the
 * parameter (unknown name, n differs, NULL buffers). */
KCV_API kcv_status kcv_optim_set_buffers(kcv_optim *opt, const char *name, float *param,
                                         float *grad, size_t n, kcv_error *err) KCV_WARN_UNUSED;

/* One update of every registered parameter from its gradient. If the
 * gradient norm is not finite (NaN or inf), nothing is changed, the step
 * counter does not advance and KCV_ERR_INVALID is returned; `report` (may be
 * NULL) is filled in either case. */
KCV_API kcv_status kcv_optim_step(kcv_optim *opt, kcv_optim_report *report,
                                  kcv_error *err) KCV_WARN_UNUSED;

/* L2 norm over all registered gradients (one pass, double accumulation). */
KCV_API double kcv_optim_grad_norm(const kcv_optim *opt);

/* Learning-rate multiplier (ReduceLROnPlateau); 1 at creation. A value that
 * is negative or not finite is ignored. */
KCV_API void kcv_optim_set_lr_scale(kcv_optim *opt, double scale);
KCV_API double kcv_optim_lr_scale(const kcv_optim *opt);
/* The learning rate the next step will use. */
KCV_API double kcv_optim_lr(const kcv_optim *opt);

/* Number of updates done (the schedule's step and AdamW's t - 1). */
KCV_API int64_t kcv_optim_step_count(const kcv_optim *opt);
KCV_API void kcv_optim_set_step_count(kcv_optim *opt, int64_t step);

/* ---- state for checkpoints ---------------------------------------------- */

/* One state buffer: "<param>/momentum" (SGD with momentum), "<param>/adam_m"
 * and "<param>/adam_v" (AdamW). */
typedef struct kcv_optim_slot {
	const char *name; /* borrowed from the optimiser */
	float *data;      /* n floats, owned by the optimiser; writable for restore */
	size_t n;
} kcv_optim_slot;

KCV_API size_t kcv_optim_slot_count(const kcv_optim *opt);
/* The i-th slot (registration order); KCV_ERR_INVALID when i is out of range. */
KCV_API kcv_status kcv_optim_slot_at(const kcv_optim *opt, size_t i, kcv_optim_slot *out);

/* Add every slot to a writer as tensor "<prefix><slot name>" (1-D, n floats;
 * the slot buffers are borrowed until the writer saves), and the step counter
 * and lr_scale as metadata "<prefix>step" and "<prefix>lr_scale". prefix may
 * be NULL for "". */
KCV_API kcv_status kcv_optim_state_save(const kcv_optim *opt, kcv_weights_writer *wr,
                                        const char *prefix, kcv_error *err) KCV_WARN_UNUSED;
/* Restore what kcv_optim_state_save wrote: every slot must be present with
 * the right element count, and the step metadata too (lr_scale is optional).
 * On error the optimiser may be partly restored. */
KCV_API kcv_status kcv_optim_state_load(kcv_optim *opt, const kcv_weights *w,
                                        const char *prefix, kcv_error *err) KCV_WARN_UNUSED;

KCV_END_DECLS

#endif /* KCV_OPTIM_H */
