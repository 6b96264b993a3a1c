/* kcv — logging and progress reporting.
 *
 * Messages go to a sink callback (stderr by default); never to stdout. The
 * level comes from the KCV_LOG environment variable: "error", "warning",
 * "info" (default), "debug", or a number 0-4 (0 = quiet). */
#ifndef KCV_LOG_H
#define KCV_LOG_H

#include <stdio.h>

#include <kcv/common.h>

KCV_BEGIN_DECLS

typedef enum kcv_log_level {
	KCV_LOG_QUIET = 0,
	KCV_LOG_ERROR = 1,
	KCV_LOG_WARNING = 2,
	KCV_LOG_INFO = 3,
	KCV_LOG_DEBUG = 4
} kcv_log_level;

typedef void (*kcv_log_sink)(kcv_log_level level, const char *component,
                             const char *message, void *user);

/* Log one message, prefixed with "[component] ". component may be NULL. */
KCV_API void kcv_log(const char *component, kcv_log_level level, const char *fmt,
                     ...) KCV_PRINTF(3, 4);

/* True when `level` would be printed (to avoid building costly messages). */
KCV_API int kcv_log_enabled(kcv_log_level level);

/* The current level (read from KCV_LOG once, then as set). */
KCV_API kcv_log_level kcv_log_get_level(void);
KCV_API void kcv_log_set_level(kcv_log_level level);

/* Parse a KCV_LOG value. Returns 0 and sets *out, or -1 when unknown. */
KCV_API int kcv_log_level_parse(const char *text, kcv_log_level *out);

/* Replace the sink; NULL restores the stderr sink. Call before starting
 * threads (process-wide, like ggml_log_set). */
KCV_API void kcv_log_set_sink(kcv_log_sink sink, void *user);

/* A progress reporter for long work (Keras-like line: step/total, ETA, rate,
 * and a caller-provided suffix such as running losses).
 * On a terminal it redraws one live line at most 10 times per second;
 * otherwise it writes a plain line every `interval` seconds and at the end.
 * Owned by one thread. */
typedef struct kcv_progress kcv_progress;

/* total may be 0 when unknown. stream NULL means stderr. Caller frees. */
KCV_API kcv_progress *kcv_progress_new(const char *label, uint64_t total, FILE *stream);
/* Force plain-line mode (is_tty = 0) or live mode (1); interval in seconds. */
KCV_API void kcv_progress_set_mode(kcv_progress *p, int is_tty, double interval);
/* Report that `done` units are complete; suffix may be NULL. */
KCV_API void kcv_progress_update(kcv_progress *p, uint64_t done, const char *suffix);
/* Final line (always written). */
KCV_API void kcv_progress_finish(kcv_progress *p, const char *suffix);
KCV_API void kcv_progress_free(kcv_progress *p);

/* Format a progress line into buf (used by the reporter; exposed for tests).
 * width is the bar width in characters (0: no bar). */
KCV_API void kcv_progress_format(char *buf, size_t size, const char *label,
                                 uint64_t done, uint64_t total, double elapsed_s,
                                 int width, const char *suffix);

KCV_END_DECLS

#endif /* KCV_LOG_H */
