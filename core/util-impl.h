/* Private helpers shared by core files (never installed). */
#ifndef KCV_UTIL_IMPL_H
#define KCV_UTIL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <kcv/error.h>

/* strlcpy: always NUL-terminates; returns strlen(src). */
size_t kcv_strlcpy(char *dst, const char *src, size_t size);
/* malloc'ed copy; NULL on NULL or out of memory. */
char *kcv_strdup(const char *s);
/* malloc'ed printf. */
char *kcv_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Case-insensitive ASCII compare. */
int kcv_strcaseeq(const char *a, const char *b);
/* Seconds from a monotonic clock. */
double kcv_now(void);
/* Number of online CPUs (>= 1). */
int kcv_cpu_count(void);
/* Read a whole file (caller frees); *size receives its length. */
char *kcv_read_file(const char *path, size_t *size, kcv_error *err);
/* Write a file atomically: temp file in the same folder, fsync, rename. */
kcv_status kcv_write_file_atomic(const char *path, const void *data, size_t size,
                                 kcv_error *err);
/* mkdir -p. */
kcv_status kcv_mkdir_p(const char *path, kcv_error *err);

#endif
