/* Progress reporter: a Keras-like line
 *   "train  37/120 [========>.....................] - ETA: 0:00:27 - 3.08/s - loss: 1.2345"
 *
 * The rate is items per second; what an item is (image, batch, step) is
 * implied by the label, so the unit is written as "/s" only.
 *
 * Two modes:
 *   live  (a terminal): one line redrawn in place ("\r", clear to end of
 *         line), at most every 0.1 s, cut to the terminal width;
 *   plain (a file, a pipe, CI logs): a full line every `interval` seconds
 *         (10 by default) and one at the end.
 * The mode follows isatty(stream); KCV_PROGRESS=plain|live overrides that,
 * and kcv_progress_set_mode() overrides both. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <kcv/log.h>

#include "util-impl.h"

#define PROGRESS_BAR_WIDTH 30
#define PROGRESS_LIVE_INTERVAL 0.1
#define PROGRESS_PLAIN_INTERVAL 10.0
#define PROGRESS_LINE_SIZE 512
#define PROGRESS_MAX_BAR 256

struct kcv_progress {
	char *label;
	uint64_t total;  /* 0: unknown */
	FILE *stream;    /* borrowed */
	int live;        /* 1: redraw one line */
	double interval; /* seconds between lines */
	double start;    /* kcv_now() at creation */
	double last;     /* kcv_now() of the last line written */
	int drawn;       /* something has been written */
	int finished;
	uint64_t done;
};

/* ---- formatting ----------------------------------------------------------- */

/* A bounded string builder: writes never overflow, the text stays
 * NUL-terminated, and `len` stops at size - 1. */
typedef struct strbuf {
	char *buf;
	size_t size, len;
} strbuf;

static void sb_printf(strbuf *sb, const char *fmt, ...) KCV_PRINTF(2, 3);

static void sb_printf(strbuf *sb, const char *fmt, ...)
{
	if (sb->size == 0 || sb->len >= sb->size - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(sb->buf + sb->len, sb->size - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb->len += (size_t)n;
	if (sb->len > sb->size - 1)
		sb->len = sb->size - 1;
}

static void sb_repeat(strbuf *sb, char c, size_t n)
{
	if (sb->size == 0)
		return;
	while (n-- > 0 && sb->len < sb->size - 1)
		sb->buf[sb->len++] = c;
	sb->buf[sb->len] = '\0';
}

static int count_digits(uint64_t v)
{
	int d = 1;
	while (v >= 10) {
		v /= 10;
		d++;
	}
	return d;
}

/* H:MM:SS, rounded to the nearest second (hours capped at 99999). */
static void sb_duration(strbuf *sb, double seconds)
{
	if (!(seconds >= 0.0))
		seconds = 0.0;
	if (seconds > 99999.0 * 3600.0)
		seconds = 99999.0 * 3600.0;
	unsigned long s = (unsigned long)floor(seconds + 0.5);
	sb_printf(sb, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
}

static void sb_rate(strbuf *sb, double rate)
{
	if (rate < 10.0)
		sb_printf(sb, "%.2f/s", rate);
	else if (rate < 1000.0)
		sb_printf(sb, "%.1f/s", rate);
	else
		sb_printf(sb, "%.0f/s", rate);
}

/* The Keras bar: '=' for done, '>' at the head while running, '.' left. */
static void sb_bar(strbuf *sb, uint64_t done, uint64_t total, int width)
{
	size_t w = (size_t)width;
	size_t fill = done >= total ? w : (size_t)((double)w * (double)done / (double)total);
	sb_repeat(sb, '[', 1);
	if (fill > 0) {
		sb_repeat(sb, '=', fill - 1);
		sb_repeat(sb, done < total ? '>' : '=', 1);
	}
	sb_repeat(sb, '.', w - fill);
	sb_repeat(sb, ']', 1);
}

void kcv_progress_format(char *buf, size_t size, const char *label, uint64_t done,
                         uint64_t total, double elapsed_s, int width, const char *suffix)
{
	if (!buf || size == 0)
		return;
	strbuf sb = { buf, size, 0 };
	buf[0] = '\0';
	if (label && label[0])
		sb_printf(&sb, "%s ", label);
	int known_rate = elapsed_s > 0.0 && isfinite(elapsed_s);
	double rate = known_rate ? (double)done / elapsed_s : 0.0;
	if (total == 0) {
		sb_printf(&sb, "%llu done - elapsed: ", (unsigned long long)done);
		sb_duration(&sb, elapsed_s);
	} else {
		sb_printf(&sb, "%*llu/%llu", count_digits(total), (unsigned long long)done,
		          (unsigned long long)total);
		if (width > 0) {
			sb_repeat(&sb, ' ', 1);
			sb_bar(&sb, done, total, width > PROGRESS_MAX_BAR ? PROGRESS_MAX_BAR : width);
		}
		if (done >= total) {
			sb_printf(&sb, " - elapsed: ");
			sb_duration(&sb, elapsed_s);
		} else if (done > 0 && known_rate) {
			sb_printf(&sb, " - ETA: ");
			sb_duration(&sb, (double)(total - done) / rate);
		} else {
			sb_printf(&sb, " - ETA: ?");
		}
	}
	if (known_rate) {
		sb_printf(&sb, " - ");
		sb_rate(&sb, rate);
	}
	if (suffix && suffix[0])
		sb_printf(&sb, " - %s", suffix);
}

/* ---- the reporter ---------------------------------------------------------- */

kcv_progress *kcv_progress_new(const char *label, uint64_t total, FILE *stream)
{
	kcv_progress *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->label = kcv_strdup(label ? label : "");
	if (!p->label) {
		free(p);
		return NULL;
	}
	p->total = total;
	p->stream = stream ? stream : stderr;
	int fd = fileno(p->stream);
	p->live = fd >= 0 && isatty(fd);
	const char *env = getenv("KCV_PROGRESS");
	if (env && kcv_strcaseeq(env, "plain"))
		p->live = 0;
	else if (env && kcv_strcaseeq(env, "live"))
		p->live = 1;
	p->interval = p->live ? PROGRESS_LIVE_INTERVAL : PROGRESS_PLAIN_INTERVAL;
	p->start = kcv_now();
	p->last = p->start;
	return p;
}

void kcv_progress_set_mode(kcv_progress *p, int is_tty, double interval)
{
	if (!p)
		return;
	p->live = is_tty ? 1 : 0;
	if (interval > 0.0 && isfinite(interval))
		p->interval = interval;
	else
		p->interval = p->live ? PROGRESS_LIVE_INTERVAL : PROGRESS_PLAIN_INTERVAL;
}

/* Terminal columns for the live line (0 when unknown). */
static int terminal_columns(FILE *stream)
{
	struct winsize ws;
	int fd = fileno(stream);
	if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 0;
}

static void progress_write(kcv_progress *p, const char *suffix, int final)
{
	char line[PROGRESS_LINE_SIZE];
	double now = kcv_now();
	kcv_progress_format(line, sizeof(line), p->label, p->done, p->total, now - p->start,
	                    PROGRESS_BAR_WIDTH, suffix);
	if (p->live) {
		/* Stay on one terminal row, or "\r" cannot go back to its start. */
		int cols = terminal_columns(p->stream);
		if (cols > 1 && strlen(line) >= (size_t)cols)
			line[cols - 1] = '\0';
		fprintf(p->stream, "\r%s\033[K%s", line, final ? "\n" : "");
	} else {
		fprintf(p->stream, "%s\n", line);
	}
	fflush(p->stream);
	p->last = now;
	p->drawn = 1;
}

void kcv_progress_update(kcv_progress *p, uint64_t done, const char *suffix)
{
	if (!p || p->finished)
		return;
	p->done = done;
	double now = kcv_now();
	/* A live line appears at once; a plain line only after an interval. */
	if ((p->live && !p->drawn) || now - p->last >= p->interval)
		progress_write(p, suffix, 0);
}

void kcv_progress_finish(kcv_progress *p, const char *suffix)
{
	if (!p || p->finished)
		return;
	progress_write(p, suffix, 1);
	p->finished = 1;
}

void kcv_progress_free(kcv_progress *p)
{
	if (!p)
		return;
	free(p->label);
	free(p);
}
