/* Small private helpers: strings, clock, files. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util-impl.h"

size_t kcv_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t m = n < size - 1 ? n : size - 1;
		memcpy(dst, src, m);
		dst[m] = '\0';
	}
	return n;
}

char *kcv_strdup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

char *kcv_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

int kcv_strcaseeq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
	return *a == *b;
}

double kcv_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int kcv_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n >= 1 ? (int)n : 1;
}

char *kcv_read_file(const char *path, size_t *size, kcv_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot open: %s", strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				fclose(f);
				KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory reading the file");
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		KCV_ERROR(err, KCV_ERR_IO, path, NULL, "read error: %s", strerror(errno));
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	if (size)
		*size = len;
	return buf;
}

kcv_status kcv_write_file_atomic(const char *path, const void *data, size_t size,
                                 kcv_error *err)
{
	char *tmp = kcv_strdup_printf("%s.tmp.%ld", path, (long)getpid());
	if (!tmp)
		return KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		free(tmp);
		return KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot write: %s", strerror(e));
	}
	const char *p = data;
	size_t left = size;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			unlink(tmp);
			free(tmp);
			return KCV_ERROR(err, KCV_ERR_IO, path, NULL, "write failed: %s", strerror(e));
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		int e = errno;
		unlink(tmp);
		free(tmp);
		return KCV_ERROR(err, KCV_ERR_IO, path, NULL, "write failed: %s", strerror(e));
	}
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		free(tmp);
		return KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot rename into place: %s",
		                 strerror(e));
	}
	free(tmp);
	return KCV_OK;
}

kcv_status kcv_mkdir_p(const char *path, kcv_error *err)
{
	char *p = kcv_strdup(path);
	if (!p)
		return KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory");
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST) {
				int e = errno;
				free(p);
				return KCV_ERROR(err, KCV_ERR_IO, path, NULL, "cannot create folder: %s",
				                 strerror(e));
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return KCV_ERROR(err, KCV_ERR_IO, path, NULL, "not a folder");
	return KCV_OK;
}
