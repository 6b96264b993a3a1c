/* Shapes. */
#include <stdio.h>
#include <string.h>

#include <kcv/graph.h>

kcv_shape kcv_shape_make(int rank, const int64_t *dims)
{
	kcv_shape s = {0};
	if (rank < 0 || rank > KCV_MAX_DIMS)
		return s;
	s.rank = rank;
	for (int i = 0; i < rank; i++)
		s.d[i] = dims[i];
	return s;
}

kcv_shape kcv_shape_4d(int64_t n, int64_t h, int64_t w, int64_t c)
{
	kcv_shape s = {4, {n, h, w, c}};
	return s;
}

int64_t kcv_shape_numel(const kcv_shape *s)
{
	int64_t n = 1;
	for (int i = 0; i < s->rank; i++)
		n *= s->d[i];
	return n;
}

int kcv_shape_equal(const kcv_shape *a, const kcv_shape *b)
{
	if (a->rank != b->rank)
		return 0;
	for (int i = 0; i < a->rank; i++)
		if (a->d[i] != b->d[i])
			return 0;
	return 1;
}

const char *kcv_shape_format(const kcv_shape *s, char *buf, size_t size)
{
	size_t used = 0;
	used += (size_t)snprintf(buf + used, size - used, "[");
	for (int i = 0; i < s->rank && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
		                         (long long)s->d[i]);
	if (used < size)
		snprintf(buf + used, size - used, "]");
	return buf;
}
