/* Component instances: a spec (JSON) validated against a component's schema,
 * its config, and its private state. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/registry.h>

#include "options-impl.h"
#include "util-impl.h"

struct kcv_instance {
	const kcv_component *comp;
	json_t *spec;
	void *config;
	void *priv;
	kcv_option_store *store;
	char *path;
	int created;
};

static const char *const spec_skip[] = {"plugin", NULL};

static const char *article(const char *word)
{
	return strchr("aeiou", word[0]) ? "an" : "a";
}

/* Find the component a spec names, with errors that list the alternatives. */
static const kcv_component *lookup(const kcv_registry *reg, kcv_kind kind, const json_t *spec,
                                   const kcv_context *ctx, kcv_error *err)
{
	const char *source = ctx ? ctx->source : NULL;
	const char *path = ctx && ctx->path ? ctx->path : "";
	char ppath[300], names[1024];
	kcv_path_join(ppath, sizeof(ppath), path, "plugin");
	const char *kname = kcv_kind_name(kind);
	if (!json_is_object(spec)) {
		char desc[128];
		kcv_json_describe(spec, desc, sizeof(desc));
		KCV_ERROR(err, KCV_ERR_INVALID, source, path,
		          "expected %s %s: an object like {\"plugin\": \"name\", ...}, got %s",
		          article(kname), kname, desc);
		return NULL;
	}
	const json_t *pv = json_object_get(spec, "plugin");
	if (!pv) {
		KCV_ERROR(err, KCV_ERR_INVALID, source, ppath,
		          "missing \"plugin\": which %s to use (installed: %s)", kname,
		          kcv_registry_names(reg, kind, names, sizeof(names)));
		return NULL;
	}
	if (!json_is_string(pv)) {
		char desc[128];
		kcv_json_describe(pv, desc, sizeof(desc));
		KCV_ERROR(err, KCV_ERR_INVALID, source, ppath, "expected a plugin name, got %s", desc);
		return NULL;
	}
	const char *name = json_string_value(pv);
	const kcv_component *comp = kcv_registry_find(reg, kind, name);
	if (comp)
		return comp;
	const char *cands[256];
	size_t n = 0;
	const kcv_component *c;
	for (size_t i = 0; n < 256 && (c = kcv_registry_at(reg, i, NULL, NULL)) != NULL; i++)
		if (c->kind == kind)
			cands[n++] = c->name;
	const char *s = kcv_suggest(name, cands, n);
	kcv_registry_names(reg, kind, names, sizeof(names));
	/* a plugin of another kind with that name is a likely mix-up */
	for (int k = 0; k < KCV_KIND_COUNT; k++)
		if (k != (int)kind && kcv_registry_find(reg, (kcv_kind)k, name)) {
			KCV_ERROR(err, KCV_ERR_INVALID, source, ppath,
			          "\"%s\" is %s %s plugin, but %s %s is expected here (%ss: %s)", name,
			          article(kcv_kind_name((kcv_kind)k)),
			          kcv_kind_name((kcv_kind)k), article(kname), kname, kname, names);
			return NULL;
		}
	if (s)
		KCV_ERROR(err, KCV_ERR_INVALID, source, ppath,
		          "unknown %s plugin \"%s\" (did you mean \"%s\"? %ss: %s)", kname, name, s,
		          kname, names);
	else
		KCV_ERROR(err, KCV_ERR_INVALID, source, ppath, "unknown %s plugin \"%s\" (%ss: %s)",
		          kname, name, kname, names);
	return NULL;
}

void kcv_instance_free(kcv_instance *inst)
{
	if (!inst)
		return;
	if (inst->comp && inst->comp->destroy && inst->priv)
		inst->comp->destroy(inst->priv);
	free(inst->priv);
	free(inst->config);
	kcv_option_store_free(inst->store);
	json_decref(inst->spec);
	free(inst->path);
	free(inst);
}

static kcv_instance *prepare(const kcv_registry *reg, kcv_kind kind, const json_t *spec,
                             const kcv_context *ctx, kcv_error *err)
{
	const kcv_component *comp = lookup(reg, kind, spec, ctx, err);
	if (!comp)
		return NULL;
	kcv_instance *inst = calloc(1, sizeof(*inst));
	if (!inst)
		goto nomem;
	inst->comp = comp;
	/* the spec is resolved in place (variables expanded); the caller's
	 * document is the pipeline's own, so this is its single resolution */
	inst->spec = json_incref((json_t *)spec);
	inst->path = kcv_strdup(ctx && ctx->path ? ctx->path : comp->name);
	inst->config = calloc(1, comp->config_size ? comp->config_size : 1);
	inst->priv = calloc(1, comp->priv_size ? comp->priv_size : 1);
	if (!inst->path || !inst->config || !inst->priv)
		goto nomem;
	if (kcv_options_apply(comp->options, inst->spec, spec_skip, inst->config, &inst->store,
	                      comp->name, ctx ? ctx->source : NULL, ctx ? ctx->path : NULL,
	                      err) != KCV_OK) {
		/* not created: do not call destroy on state create never saw */
		free(inst->priv);
		inst->priv = NULL;
		kcv_instance_free(inst);
		return NULL;
	}
	return inst;
nomem:
	kcv_instance_free(inst);
	KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
	return NULL;
}

kcv_status kcv_instance_validate(const kcv_registry *reg, kcv_kind kind, const json_t *spec,
                                 const kcv_context *ctx, kcv_error *err)
{
	kcv_instance *inst = prepare(reg, kind, spec, ctx, err);
	if (!inst)
		return err && err->code ? err->code : KCV_ERR_INVALID;
	free(inst->priv);
	inst->priv = NULL;
	kcv_instance_free(inst);
	return KCV_OK;
}

kcv_instance *kcv_instance_new(const kcv_registry *reg, kcv_kind kind, const json_t *spec,
                               const kcv_context *ctx, kcv_error *err)
{
	kcv_instance *inst = prepare(reg, kind, spec, ctx, err);
	if (!inst)
		return NULL;
	kcv_context c = ctx ? *ctx : (kcv_context){0};
	c.registry = reg;
	c.path = inst->path;
	kcv_status st = inst->comp->create(inst->priv, inst->config, &c, err);
	if (st != KCV_OK) {
		if (!err || !err->code)
			KCV_ERROR(err, st ? st : KCV_ERR_INTERNAL, c.source, c.path,
			          "%s failed to start (no reason given)", inst->comp->name);
		kcv_instance_free(inst);
		return NULL;
	}
	inst->created = 1;
	return inst;
}

const kcv_component *kcv_instance_component(const kcv_instance *inst)
{
	return inst->comp;
}

void *kcv_instance_priv(const kcv_instance *inst)
{
	return inst->priv;
}

const void *kcv_instance_config(const kcv_instance *inst)
{
	return inst->config;
}

const char *kcv_instance_path(const kcv_instance *inst)
{
	return inst->path;
}

kcv_status kcv_augmenter_apply(kcv_instance *aug, kcv_sample *s, kcv_rng *rng, kcv_error *err)
{
	KCV_ASSERT(aug->comp->kind == KCV_KIND_AUGMENTER);
	const kcv_augmenter_vtable *vt = aug->comp->vtable;
	return vt->apply(aug->priv, s, rng, err);
}

size_t kcv_dataset_size(const kcv_instance *ds)
{
	KCV_ASSERT(ds->comp->kind == KCV_KIND_DATASET);
	const kcv_dataset_vtable *vt = ds->comp->vtable;
	return vt->size(ds->priv);
}

size_t kcv_dataset_num_classes(const kcv_instance *ds)
{
	const kcv_dataset_vtable *vt = ds->comp->vtable;
	return vt->num_classes(ds->priv);
}

const char *kcv_dataset_class_name(const kcv_instance *ds, size_t i)
{
	const kcv_dataset_vtable *vt = ds->comp->vtable;
	return vt->class_name(ds->priv, i);
}

kcv_status kcv_dataset_get(const kcv_instance *ds, size_t index, unsigned flags,
                           kcv_sample *out, const kcv_report *report, kcv_error *err)
{
	const kcv_dataset_vtable *vt = ds->comp->vtable;
	return vt->get(ds->priv, index, flags, out, report, err);
}

kcv_status kcv_error_option(kcv_error *err, const kcv_context *ctx, const char *option,
                            const char *fmt, ...)
{
	char path[300], text[768];
	kcv_path_join(path, sizeof(path), ctx && ctx->path ? ctx->path : "", option ? option : "");
	if (!option)
		snprintf(path, sizeof(path), "%s", ctx && ctx->path ? ctx->path : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return KCV_ERROR(err, KCV_ERR_INVALID, ctx ? ctx->source : NULL, path, "%s", text);
}
