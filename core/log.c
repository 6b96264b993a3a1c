/* Logging: a level read once from KCV_LOG and a process-wide sink callback.
 *
 * Process-wide state (the one exception to "no globals", as log.h says):
 * `log_state` below holds the level and the sink, like ggml_log_set.
 *   - The level is read from KCV_LOG once, lazily, under pthread_once, and is
 *     then an atomic int, so kcv_log()/kcv_log_enabled() are safe from any
 *     thread and kcv_log_set_level() may be called at any time.
 *   - The sink and its user pointer are plain fields: replace them with
 *     kcv_log_set_sink() before starting threads (log.h says so).
 * An invalid KCV_LOG value is reported once, as a warning through the sink,
 * and the level falls back to info. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kcv/log.h>

#include "util-impl.h"

/* Longest message formatted on the stack; longer ones are malloc'ed. */
#define LOG_STACK_SIZE 1024

static void stderr_sink(kcv_log_level level, const char *component, const char *message,
                        void *user);

static struct {
	pthread_once_t once; /* guards the KCV_LOG read */
	atomic_int level;    /* kcv_log_level */
	kcv_log_sink sink;   /* never NULL */
	void *user;          /* passed to sink */
} log_state = {
	.once = PTHREAD_ONCE_INIT,
	.level = KCV_LOG_INFO,
	.sink = stderr_sink,
	.user = NULL,
};

static const struct {
	const char *name;
	kcv_log_level level;
} level_names[] = {
	{ "quiet", KCV_LOG_QUIET }, { "error", KCV_LOG_ERROR }, { "warning", KCV_LOG_WARNING },
	{ "warn", KCV_LOG_WARNING }, { "info", KCV_LOG_INFO },   { "debug", KCV_LOG_DEBUG },
	{ "0", KCV_LOG_QUIET },      { "1", KCV_LOG_ERROR },     { "2", KCV_LOG_WARNING },
	{ "3", KCV_LOG_INFO },       { "4", KCV_LOG_DEBUG },
};

int kcv_log_level_parse(const char *text, kcv_log_level *out)
{
	if (!text)
		return -1;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (kcv_strcaseeq(text, level_names[i].name)) {
			if (out)
				*out = level_names[i].level;
			return 0;
		}
	}
	return -1;
}

/* Default sink: "kcv: [component] warning: message\n" on stderr, written
 * with one call so that lines from several threads do not mix. */
static void stderr_sink(kcv_log_level level, const char *component, const char *message,
                        void *user)
{
	(void)user;
	const char *prefix = "";
	if (level == KCV_LOG_ERROR)
		prefix = "error: ";
	else if (level == KCV_LOG_WARNING)
		prefix = "warning: ";
	flockfile(stderr);
	if (component && component[0])
		fprintf(stderr, "kcv: [%s] %s%s\n", component, prefix, message);
	else
		fprintf(stderr, "kcv: %s%s\n", prefix, message);
	fflush(stderr);
	funlockfile(stderr);
}

static void log_init(void)
{
	const char *env = getenv("KCV_LOG");
	kcv_log_level level = KCV_LOG_INFO;
	if (env && env[0] && kcv_log_level_parse(env, &level) != 0) {
		/* Called once: the warning cannot repeat. Not through kcv_log(),
		 * which would re-enter pthread_once. */
		char msg[200];
		snprintf(msg, sizeof(msg),
		         "invalid KCV_LOG value '%.60s' (expected quiet, error, warning, info, "
		         "debug or 0-4); using info",
		         env);
		log_state.sink(KCV_LOG_WARNING, "log", msg, log_state.user);
		level = KCV_LOG_INFO;
	}
	atomic_store(&log_state.level, (int)level);
}

static void log_ensure_init(void)
{
	pthread_once(&log_state.once, log_init);
}

kcv_log_level kcv_log_get_level(void)
{
	log_ensure_init();
	return (kcv_log_level)atomic_load(&log_state.level);
}

void kcv_log_set_level(kcv_log_level level)
{
	/* Read KCV_LOG first, so that a later lazy read cannot undo this call. */
	log_ensure_init();
	if ((int)level < KCV_LOG_QUIET)
		level = KCV_LOG_QUIET;
	if ((int)level > KCV_LOG_DEBUG)
		level = KCV_LOG_DEBUG;
	atomic_store(&log_state.level, (int)level);
}

int kcv_log_enabled(kcv_log_level level)
{
	if ((int)level <= KCV_LOG_QUIET)
		return 0;
	return (int)level <= (int)kcv_log_get_level();
}

void kcv_log_set_sink(kcv_log_sink sink, void *user)
{
	log_state.sink = sink ? sink : stderr_sink;
	log_state.user = sink ? user : NULL;
}

void kcv_log(const char *component, kcv_log_level level, const char *fmt, ...)
{
	if ((int)level > KCV_LOG_DEBUG)
		level = KCV_LOG_DEBUG;
	if (!kcv_log_enabled(level))
		return;
	char stack[LOG_STACK_SIZE];
	char *msg = stack;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(stack, sizeof(stack), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stack)) {
		char *big = malloc((size_t)n + 1);
		if (big) {
			va_start(ap, fmt);
			vsnprintf(big, (size_t)n + 1, fmt, ap);
			va_end(ap);
			msg = big;
		} /* else: keep the truncated copy */
	}
	/* The sink adds the line end; drop the caller's. */
	size_t len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	log_state.sink(level, component, msg, log_state.user);
	if (msg != stack)
		free(msg);
}
