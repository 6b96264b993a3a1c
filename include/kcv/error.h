/* kcv — status codes and the caller-allocated error record.
 *
 * Fallible calls return kcv_status (KCV_OK = 0, errors negative) or a
 * pointer (NULL on failure) and take `kcv_error *err` last (NULL allowed).
 * The first error recorded wins: later calls to kcv_error_set() on an error
 * that is already set change nothing, so the root cause survives. */
#ifndef KCV_ERROR_H
#define KCV_ERROR_H

#include <kcv/common.h>

KCV_BEGIN_DECLS

typedef enum kcv_status {
	KCV_OK = 0,
	KCV_ERR_INVALID = -1,  /* bad input: pipeline, option, data file */
	KCV_ERR_IO = -2,       /* a file could not be read or written */
	KCV_ERR_NOMEM = -3,    /* allocation failed */
	KCV_ERR_PLUGIN = -4,   /* a plugin could not be loaded or is unknown */
	KCV_ERR_INTERNAL = -5, /* a bug in kcv */
	KCV_ERR_CANCELLED = -6, /* stopped by the user (SIGINT) */
	KCV_ERR_UNSUPPORTED = -7 /* this build or this CPU lacks the feature */
} kcv_status;

typedef struct kcv_error {
	int code;          /* kcv_status; 0 when no error is set */
	char source[256];  /* file or component ("pipelines/x.json", "[pascal_voc]") */
	int line;          /* 1-based; 0 when unknown */
	int column;        /* 1-based; 0 when unknown */
	char path[256];    /* dotted JSON path ("model.backbone.weights"); "" if none */
	char text[768];    /* the message, one line, no trailing period */
	char origin[96];   /* C file:line that raised it (shown with KCV_LOG=debug) */
} kcv_error;

/* Reset to "no error". */
KCV_API void kcv_error_clear(kcv_error *err);

/* Record an error unless one is already set. Any of source/path may be NULL.
 * Use the KCV_ERROR macro, which fills `origin`. Returns `code`, so that
 * `return KCV_ERROR(err, ...)` works in functions returning kcv_status. */
KCV_API int kcv_error_set_at(kcv_error *err, const char *origin, int code,
                             const char *source, const char *path,
                             const char *fmt, ...) KCV_PRINTF(6, 7);

#define KCV_STR2_(x) #x
#define KCV_STR_(x) KCV_STR2_(x)
#define KCV_ERROR(err, code, source, path, ...)                                 \
	kcv_error_set_at((err), __FILE__ ":" KCV_STR_(__LINE__), (code), (source),  \
	                 (path), __VA_ARGS__)

/* Set line and column of an error already recorded (if it has none yet). */
KCV_API void kcv_error_set_position(kcv_error *err, int line, int column);

/* Format GNU style into buf:
 *   "file:line:col: text"            (position known)
 *   "file: path: text"               (path known)
 *   "file: text" / "text"            (otherwise)
 * Returns buf. */
KCV_API const char *kcv_error_format(const kcv_error *err, char *buf, size_t size);

/* A short name for a status code ("invalid input", "I/O error", ...). */
KCV_API const char *kcv_status_name(int code);

/* Invariant check for programmer bugs only: prints file:line and aborts.
 * Never use it for input, configuration or I/O. */
KCV_API void kcv_abort(const char *origin, const char *cond);
#define KCV_ASSERT(cond)                                                     \
	do {                                                                     \
		if (!(cond)) {                                                       \
			kcv_abort(__FILE__ ":" KCV_STR_(__LINE__), #cond);               \
		}                                                                    \
	} while (0)

KCV_END_DECLS

#endif /* KCV_ERROR_H */
