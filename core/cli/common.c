/* Shared helpers of the kcv subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_fail(const kcv_error *err)
{
	char msg[1500];
	kcv_error_format(err, msg, sizeof(msg));
	fprintf(stderr, "kcv: %s\n", msg);
	if (err->origin[0] && kcv_log_enabled(KCV_LOG_DEBUG))
		fprintf(stderr, "kcv: (raised at %s)\n", err->origin);
	if (err->code == KCV_ERR_INTERNAL || err->code == KCV_ERR_NOMEM)
		return CLI_INTERNAL_ERROR;
	return CLI_USER_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "kcv%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see kcv %s%s--help)\n", cmd ? cmd : "", cmd ? " " : "");
	return CLI_USER_ERROR;
}

kcv_registry *cli_registry(kcv_error *err)
{
	return kcv_registry_new(NULL, err);
}

int cli_take_set(int argc, char **argv, int *i, cli_pipeline_args *pa, int *bad)
{
	const char *a = argv[*i];
	const char *val = NULL;
	if (strcmp(a, "--set") == 0) {
		if (*i + 1 >= argc) {
			*bad = 1;
			return 1;
		}
		val = argv[++*i];
	} else if (strncmp(a, "--set=", 6) == 0) {
		val = a + 6;
	} else {
		return 0;
	}
	const char **ns = realloc(pa->sets, (pa->num_sets + 1) * sizeof(char *));
	if (!ns) {
		*bad = 1;
		return 1;
	}
	pa->sets = ns;
	pa->sets[pa->num_sets++] = val;
	return 1;
}

int cli_parse_long(const char *s, long lo, long hi, long *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
