/* The plugin registry: finds plugin files, dlopens them, checks their ABI
 * and indexes their components by kind and name. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <kcv/log.h>
#include <kcv/registry.h>

#include "util-impl.h"

#ifndef KCV_PLUGINDIR
#define KCV_PLUGINDIR "/usr/local/lib/kcv"
#endif

#define SCAN_DEPTH 3

typedef struct entry {
	const kcv_component *comp;
	const kcv_plugin_desc *desc;
	char *file;
} entry;

struct kcv_registry {
	entry *entries;
	size_t count, cap;
	void **handles;
	char **loaded; /* realpaths of files already opened */
	size_t nhandles, handles_cap;
};

static const char *const kind_names[KCV_KIND_COUNT] = {
	"dataset", "augmenter", "backbone", "detector", "loss", "decoder", "metric",
};

const char *kcv_kind_name(kcv_kind kind)
{
	return (unsigned)kind < KCV_KIND_COUNT ? kind_names[kind] : NULL;
}

int kcv_kind_parse(const char *name, kcv_kind *out)
{
	for (int i = 0; i < KCV_KIND_COUNT; i++)
		if (name && strcmp(name, kind_names[i]) == 0) {
			*out = (kcv_kind)i;
			return 0;
		}
	return -1;
}

/* When libkcv runs from its build tree (not installed), the built-in plugins
 * are those of the build tree. */
const char *kcv_registry_default_dir(void)
{
#ifdef KCV_BUILDDIR
	Dl_info info;
	if (dladdr((void *)kcv_registry_default_dir, &info) && info.dli_fname) {
		const char *b = KCV_BUILDDIR "/.libs/";
		if (strncmp(info.dli_fname, b, strlen(b)) == 0)
			return KCV_BUILDDIR "/plugins";
	}
#endif
	return KCV_PLUGINDIR;
}

void kcv_registry_free(kcv_registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->count; i++)
		free(reg->entries[i].file);
	free(reg->entries);
	/* Handles stay open: components' code must outlive every instance, and
	 * unloading modules with sanitizers active loses their symbols. */
	for (size_t i = 0; i < reg->nhandles; i++)
		free(reg->loaded[i]);
	free(reg->handles);
	free(reg->loaded);
	free(reg);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcmp(s + n - m, suf) == 0;
}

kcv_status kcv_registry_add(kcv_registry *reg, const kcv_plugin_desc *desc, const char *file,
                            kcv_error *err)
{
	if (!desc)
		return KCV_ERROR(err, KCV_ERR_PLUGIN, file, NULL, "plugin descriptor is NULL");
	/* the ABI fields come first and are checked before anything else is read */
	if (desc->abi_major != KCV_PLUGIN_ABI_MAJOR || desc->abi_minor > KCV_PLUGIN_ABI_MINOR)
		return KCV_ERROR(err, KCV_ERR_PLUGIN, file, NULL,
		                 "plugin ABI %u.%u is not supported by this kcv (ABI %d.%d): "
		                 "rebuild the plugin against kcv %s",
		                 desc->abi_major, desc->abi_minor, KCV_PLUGIN_ABI_MAJOR,
		                 KCV_PLUGIN_ABI_MINOR, "headers of this version");
	if (!desc->components)
		return KCV_ERROR(err, KCV_ERR_PLUGIN, file, NULL, "plugin lists no components");
	for (const kcv_component *const *c = desc->components; *c; c++) {
		const kcv_component *comp = *c;
		if ((unsigned)comp->kind >= KCV_KIND_COUNT || !comp->name || !comp->name[0] ||
		    !comp->create || !comp->vtable)
			return KCV_ERROR(err, KCV_ERR_PLUGIN, file, NULL,
			                 "plugin component %s is incomplete (kind, name, create and "
			                 "vtable are required)",
			                 comp->name ? comp->name : "(unnamed)");
		for (size_t i = 0; i < reg->count; i++) {
			const entry *e = &reg->entries[i];
			if (e->comp->kind == comp->kind && strcmp(e->comp->name, comp->name) == 0)
				return KCV_ERROR(err, KCV_ERR_PLUGIN, file, NULL,
				                 "duplicate %s plugin \"%s\": also provided by %s",
				                 kind_names[comp->kind], comp->name,
				                 e->file ? e->file : "(built in)");
		}
		if (reg->count == reg->cap) {
			size_t cap = reg->cap ? reg->cap * 2 : 32;
			entry *ne = realloc(reg->entries, cap * sizeof(*ne));
			if (!ne)
				return KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
			reg->entries = ne;
			reg->cap = cap;
		}
		entry *e = &reg->entries[reg->count];
		e->comp = comp;
		e->desc = desc;
		e->file = file ? kcv_strdup(file) : NULL;
		if (file && !e->file)
			return KCV_ERROR(err, KCV_ERR_NOMEM, file, NULL, "out of memory");
		reg->count++;
	}
	return KCV_OK;
}

static int remember(kcv_registry *reg, void *handle, char *real)
{
	if (reg->nhandles == reg->handles_cap) {
		size_t cap = reg->handles_cap ? reg->handles_cap * 2 : 32;
		void **nh = realloc(reg->handles, cap * sizeof(void *));
		if (nh)
			reg->handles = nh;
		char **nl = realloc(reg->loaded, cap * sizeof(char *));
		if (nl)
			reg->loaded = nl;
		if (!nh || !nl)
			return -1;
		reg->handles_cap = cap;
	}
	reg->handles[reg->nhandles] = handle;
	reg->loaded[reg->nhandles] = real;
	reg->nhandles++;
	return 0;
}

static kcv_status load_file(kcv_registry *reg, const char *path, kcv_error *err)
{
	char *real = realpath(path, NULL);
	if (!real)
		return KCV_ERROR(err, KCV_ERR_PLUGIN, path, NULL, "cannot resolve path: %s",
		                 strerror(errno));
	for (size_t i = 0; i < reg->nhandles; i++)
		if (strcmp(reg->loaded[i], real) == 0) {
			free(real);
			return KCV_OK; /* reached twice through the search path */
		}
	dlerror();
	void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		KCV_ERROR(err, KCV_ERR_PLUGIN, path, NULL,
		          "cannot load plugin: %s (check its dependencies with: ldd %s)",
		          why ? why : "unknown dlopen error", real);
		free(real);
		return KCV_ERR_PLUGIN;
	}
	if (remember(reg, h, real) != 0) {
		free(real);
		return KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory");
	}
	dlerror();
	void *sym = dlsym(h, KCV_PLUGIN_SYMBOL);
	if (!sym)
		return KCV_ERROR(err, KCV_ERR_PLUGIN, path, NULL,
		                 "not a kcv plugin: it does not export %s()", KCV_PLUGIN_SYMBOL);
	kcv_plugin_describe_fn fn;
	memcpy(&fn, &sym, sizeof(fn));
	const kcv_plugin_desc *desc = fn();
	kcv_log("registry", KCV_LOG_DEBUG, "loaded %s", path);
	return kcv_registry_add(reg, desc, path, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static kcv_status scan_dir(kcv_registry *reg, const char *dir, int depth, kcv_error *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return KCV_OK; /* a missing folder in a search path is not an error */
	char **names = NULL;
	size_t n = 0, cap = 0;
	kcv_status st = KCV_OK;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(char *));
			if (!nn) {
				st = KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
				goto out;
			}
			names = nn;
		}
		names[n] = kcv_strdup_printf("%s/%s", dir, de->d_name);
		if (!names[n]) {
			st = KCV_ERROR(err, KCV_ERR_NOMEM, dir, NULL, "out of memory");
			goto out;
		}
		n++;
	}
	/* sorted, so that the load order (and any duplicate message) is stable */
	if (n)
		qsort(names, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n && st == KCV_OK; i++) {
		struct stat sb;
		if (stat(names[i], &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			if (depth > 0)
				st = scan_dir(reg, names[i], depth - 1, err);
		} else if (S_ISREG(sb.st_mode) && has_suffix(names[i], ".so")) {
			st = load_file(reg, names[i], err);
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return st;
}

static kcv_status scan_path_list(kcv_registry *reg, const char *list, kcv_error *err)
{
	char *copy = kcv_strdup(list);
	if (!copy)
		return KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
	kcv_status st = KCV_OK;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ":", &save); tok && st == KCV_OK;
	     tok = strtok_r(NULL, ":", &save)) {
		if (!tok[0])
			continue;
		struct stat sb;
		if (stat(tok, &sb) == 0 && S_ISREG(sb.st_mode))
			st = load_file(reg, tok, err); /* a plugin file named directly */
		else
			st = scan_dir(reg, tok, SCAN_DEPTH, err);
	}
	free(copy);
	return st;
}

kcv_registry *kcv_registry_new(const kcv_registry_params *params, kcv_error *err)
{
	kcv_registry *reg = calloc(1, sizeof(*reg));
	if (!reg) {
		KCV_ERROR(err, KCV_ERR_NOMEM, NULL, NULL, "out of memory");
		return NULL;
	}
	kcv_registry_params p = params ? *params : (kcv_registry_params){0};
	const char *user = p.plugin_path;
	if (!user && !p.no_env)
		user = getenv("KCV_PLUGIN_PATH");
	const char *sys = p.system_path;
	if (!sys && !p.no_env)
		sys = getenv("KCV_PLUGIN_SYSTEM_PATH");
	if (!sys)
		sys = kcv_registry_default_dir();
	if (user && scan_path_list(reg, user, err) != KCV_OK)
		goto fail;
	if (sys && scan_path_list(reg, sys, err) != KCV_OK)
		goto fail;
	return reg;
fail:
	kcv_registry_free(reg);
	return NULL;
}

const kcv_component *kcv_registry_find(const kcv_registry *reg, kcv_kind kind, const char *name)
{
	if (!reg || !name)
		return NULL;
	for (size_t i = 0; i < reg->count; i++)
		if (reg->entries[i].comp->kind == kind && strcmp(reg->entries[i].comp->name, name) == 0)
			return reg->entries[i].comp;
	return NULL;
}

const kcv_component *kcv_registry_at(const kcv_registry *reg, size_t i, const char **file,
                                     const kcv_plugin_desc **plugin)
{
	if (!reg || i >= reg->count)
		return NULL;
	if (file)
		*file = reg->entries[i].file;
	if (plugin)
		*plugin = reg->entries[i].desc;
	return reg->entries[i].comp;
}

const char *kcv_registry_names(const kcv_registry *reg, kcv_kind kind, char *buf, size_t size)
{
	if (!size)
		return buf;
	buf[0] = '\0';
	size_t used = 0;
	for (size_t i = 0; reg && i < reg->count; i++) {
		if (reg->entries[i].comp->kind != kind)
			continue;
		int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
		                 reg->entries[i].comp->name);
		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
	if (!used)
		snprintf(buf, size, "none installed");
	return buf;
}
