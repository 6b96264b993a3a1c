/* Keras callback arithmetic (keras/callbacks.py): improvement tests with
 * min_delta, and the state that a checkpoint carries. */
#include <math.h>
#include <string.h>

#include "callbacks-impl.h"

int kcv_callback_maximize(const kcv_callback_cfg *c)
{
	if (c->mode == 1)
		return 0;
	if (c->mode == 2)
		return 1;
	/* auto, as Keras: losses go down, everything else (AP, recall) up */
	return strstr(c->monitor, "loss") == NULL;
}

int kcv_callback_improves(const kcv_callback_cfg *c, const kcv_callback_state *s,
                          double value)
{
	if (!isfinite(value))
		return 0;
	if (!s->seen)
		return 1;
	if (kcv_callback_maximize(c))
		return value - c->min_delta > s->best;
	return value + c->min_delta < s->best;
}

json_t *kcv_callback_state_json(const kcv_callback_state *s)
{
	return json_pack("{s:f,s:I,s:I,s:b}", "best", s->seen ? s->best : 0.0, "wait",
	                 (json_int_t)s->wait, "cooldown_left", (json_int_t)s->cooldown_left, "seen",
	                 s->seen);
}

void kcv_callback_state_from_json(kcv_callback_state *s, const json_t *j)
{
	memset(s, 0, sizeof(*s));
	if (!json_is_object(j))
		return;
	s->best = json_number_value(json_object_get(j, "best"));
	s->wait = json_integer_value(json_object_get(j, "wait"));
	s->cooldown_left = json_integer_value(json_object_get(j, "cooldown_left"));
	s->seen = json_is_true(json_object_get(j, "seen"));
}
