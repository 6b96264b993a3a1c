/* Helpers of the plugin suites (check_losses, check_decoders): an instance
 * from a JSON spec, and the check that a bad option is refused with a
 * one-line error naming its JSON path. */
#ifndef KCV_TESTS_PLUGIN_CHECK_H
#define KCV_TESTS_PLUGIN_CHECK_H

#include <kcv/kcv.h>

/* An instance of `kind` from the spec text, as the pipeline at `path`
 * ("losses.box", "model.decoder") of a size x size model would make it;
 * NULL with err set when the spec does not parse or is refused. No Check
 * macros: the suites' driver modes use it too. */
kcv_instance *plugin_check_instance(const kcv_registry *reg, kcv_kind kind, const char *path,
                                    int size, const char *json, kcv_error *err);

/* The spec is refused, err.path is `path`, err.text holds `text` and the
 * formatted error is one line (Check assertions). */
void plugin_check_option_error(kcv_kind kind, const char *at, int size, const char *json,
                               const char *path, const char *text);

#endif
