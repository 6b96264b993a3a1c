/* ${VAR} and ${VAR:-default} expansion from the environment. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/pipeline.h>

#include "options-impl.h"
#include "util-impl.h"

typedef struct strbuf {
	char *s;
	size_t n, cap;
} strbuf;

static int sb_add(strbuf *b, const char *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns)
			return -1;
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->n, p, n);
	b->n += n;
	b->s[b->n] = '\0';
	return 0;
}

char *kcv_expand_at(const char *text, const char *source, const char *path, kcv_error *err)
{
	strbuf b = {0};
	if (sb_add(&b, "", 0) != 0)
		goto nomem;
	const char *p = text;
	while (*p) {
		const char *d = strstr(p, "${");
		if (!d) {
			if (sb_add(&b, p, strlen(p)) != 0)
				goto nomem;
			break;
		}
		if (sb_add(&b, p, (size_t)(d - p)) != 0)
			goto nomem;
		const char *name = d + 2, *q = name;
		while (*q && (isalnum((unsigned char)*q) || *q == '_'))
			q++;
		size_t nlen = (size_t)(q - name);
		const char *def = NULL;
		size_t dlen = 0;
		const char *end;
		if (*q == '}') {
			end = q;
		} else if (q[0] == ':' && q[1] == '-') {
			def = q + 2;
			/* the default runs to the matching brace (no nesting) */
			end = strchr(def, '}');
			if (end)
				dlen = (size_t)(end - def);
		} else {
			end = NULL;
		}
		if (!end || nlen == 0 || isdigit((unsigned char)name[0])) {
			KCV_ERROR(err, KCV_ERR_INVALID, source, path,
			          "bad variable reference in \"%s\": expected ${NAME} or ${NAME:-default}",
			          text);
			free(b.s);
			return NULL;
		}
		char var[256];
		if (nlen >= sizeof(var)) {
			KCV_ERROR(err, KCV_ERR_INVALID, source, path, "variable name too long in \"%s\"",
			          text);
			free(b.s);
			return NULL;
		}
		memcpy(var, name, nlen);
		var[nlen] = '\0';
		const char *val = getenv(var);
		if (val && val[0] == '\0' && def)
			val = NULL; /* ${VAR:-x}: empty counts as unset, as in the shell */
		if (val) {
			if (sb_add(&b, val, strlen(val)) != 0)
				goto nomem;
		} else if (def) {
			if (sb_add(&b, def, dlen) != 0)
				goto nomem;
		} else {
			KCV_ERROR(err, KCV_ERR_INVALID, source, path,
			          "environment variable %s is not set (set it, or write ${%s:-default})",
			          var, var);
			free(b.s);
			return NULL;
		}
		p = end + 1;
	}
	return b.s;
nomem:
	free(b.s);
	KCV_ERROR(err, KCV_ERR_NOMEM, source, path, "out of memory");
	return NULL;
}

char *kcv_expand_vars(const char *text, kcv_error *err)
{
	return kcv_expand_at(text, NULL, NULL, err);
}
