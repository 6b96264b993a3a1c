/* Error records: first error wins. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/error.h>

#include "util-impl.h"

void kcv_error_clear(kcv_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

int kcv_error_set_at(kcv_error *err, const char *origin, int code, const char *source,
                     const char *path, const char *fmt, ...)
{
	if (!err || err->code != 0)
		return code;
	memset(err, 0, sizeof(*err));
	err->code = code ? code : KCV_ERR_INTERNAL;
	kcv_strlcpy(err->source, source ? source : "", sizeof(err->source));
	kcv_strlcpy(err->path, path ? path : "", sizeof(err->path));
	kcv_strlcpy(err->origin, origin ? origin : "", sizeof(err->origin));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	/* one line: no newlines inside the message */
	for (char *p = err->text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return code;
}

void kcv_error_set_position(kcv_error *err, int line, int column)
{
	if (!err || err->line)
		return;
	err->line = line;
	err->column = column;
}

const char *kcv_error_format(const kcv_error *err, char *buf, size_t size)
{
	if (!buf || size == 0)
		return buf;
	if (!err || err->code == 0) {
		snprintf(buf, size, "no error");
		return buf;
	}
	if (err->source[0] && err->line > 0)
		snprintf(buf, size, "%s:%d:%d: %s", err->source, err->line, err->column, err->text);
	else if (err->source[0] && err->path[0])
		snprintf(buf, size, "%s: %s: %s", err->source, err->path, err->text);
	else if (err->source[0])
		snprintf(buf, size, "%s: %s", err->source, err->text);
	else if (err->path[0])
		snprintf(buf, size, "%s: %s", err->path, err->text);
	else
		snprintf(buf, size, "%s", err->text);
	return buf;
}

const char *kcv_status_name(int code)
{
	switch (code) {
	case KCV_OK: return "success";
	case KCV_ERR_INVALID: return "invalid input";
	case KCV_ERR_IO: return "I/O error";
	case KCV_ERR_NOMEM: return "out of memory";
	case KCV_ERR_PLUGIN: return "plugin error";
	case KCV_ERR_INTERNAL: return "internal error";
	case KCV_ERR_CANCELLED: return "cancelled";
	case KCV_ERR_UNSUPPORTED: return "unsupported";
	default: return "unknown error";
	}
}

void kcv_abort(const char *origin, const char *cond)
{
	fprintf(stderr, "kcv: %s: internal error: assertion '%s' failed\n", origin, cond);
	fflush(stderr);
	abort();
}
