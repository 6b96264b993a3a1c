/* Private: Keras-like callbacks (EarlyStopping, ReduceLROnPlateau,
 * ModelCheckpoint's "best") driven by one monitored value per epoch. */
#ifndef KCV_CALLBACKS_IMPL_H
#define KCV_CALLBACKS_IMPL_H

#include <jansson.h>

#include "../pipeline-impl.h"

typedef struct kcv_callback_state {
	double best;
	int64_t wait;
	int64_t cooldown_left;
	int seen; /* best holds a value */
} kcv_callback_state;

/* 1 when `value` improves on the state's best by more than min_delta. */
int kcv_callback_improves(const kcv_callback_cfg *c, const kcv_callback_state *s,
                          double value);
/* Does the monitor want larger values? */
int kcv_callback_maximize(const kcv_callback_cfg *c);

json_t *kcv_callback_state_json(const kcv_callback_state *s);
void kcv_callback_state_from_json(kcv_callback_state *s, const json_t *j);

#endif
