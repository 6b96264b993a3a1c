/* Checkpoints: the model's parameters, the optimiser's state and the run's
 * state in one safetensors file, written atomically. */
#include <stdlib.h>
#include <string.h>

#include <kcv/safetensors.h>
#include <kcv/version.h>

#include "run-impl.h"

kcv_status kcv_checkpoint_save(const kcv_model *m, const kcv_optim *opt, const json_t *state,
                               const char *path, kcv_error *err)
{
	kcv_weights_writer *wr = kcv_weights_writer_new(err);
	if (!wr)
		return err->code ? err->code : KCV_ERR_NOMEM;
	char *pipeline = kcv_pipeline_dump(m->p);
	char *st_text = state ? json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	kcv_status st = kcv_model_save_params(m, wr, err);
	if (!st && opt)
		st = kcv_optim_state_save(opt, wr, "optimizer/", err);
	if (!st)
		st = kcv_weights_writer_set_metadata(wr, "format", KCV_CHECKPOINT_FORMAT, err);
	if (!st)
		st = kcv_weights_writer_set_metadata(wr, "kcv_version", KCV_VERSION_STRING, err);
	if (!st && pipeline)
		st = kcv_weights_writer_set_metadata(wr, "pipeline", pipeline, err);
	if (!st && st_text)
		st = kcv_weights_writer_set_metadata(wr, "state", st_text, err);
	if (!st)
		st = kcv_weights_writer_save(wr, path, err);
	free(pipeline);
	free(st_text);
	kcv_weights_writer_free(wr);
	return st;
}

kcv_status kcv_checkpoint_load(kcv_model *m, kcv_optim *opt, const char *path,
                               json_t **state, kcv_error *err)
{
	if (state)
		*state = NULL;
	kcv_weights *w = kcv_weights_open(path, err);
	if (!w)
		return err->code ? err->code : KCV_ERR_IO;
	kcv_status st = KCV_OK;
	const char *format = kcv_weights_metadata(w, "format");
	if (!format || strcmp(format, KCV_CHECKPOINT_FORMAT) != 0) {
		st = KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		               "not a kcv checkpoint (no \"format\": \"%s\" metadata): --resume "
		               "needs a checkpoint written by kcv run",
		               KCV_CHECKPOINT_FORMAT);
		goto done;
	}
	st = kcv_model_load_params(m, w, err);
	if (!st && opt)
		st = kcv_optim_state_load(opt, w, "optimizer/", err);
	if (!st && state) {
		const char *text = kcv_weights_metadata(w, "state");
		json_error_t je;
		*state = text ? json_loads(text, 0, &je) : NULL;
		if (!*state || !json_is_object(*state)) {
			json_decref(*state);
			*state = NULL;
			st = KCV_ERROR(err, KCV_ERR_INVALID, path, "state",
			               "the checkpoint's run state is missing or unreadable");
		}
	}
done:
	kcv_weights_free(w);
	return st;
}
