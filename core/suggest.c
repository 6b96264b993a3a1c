/* "Did you mean" suggestions: the closest name by Levenshtein distance. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "options-impl.h"

static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *kcv_suggest(const char *name, const char *const *candidates, size_t count)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; i < count; i++) {
		if (!candidates[i])
			continue;
		size_t d = distance(name, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	size_t len = strlen(name);
	size_t limit = len <= 8 ? 2 : 3;
	/* a prefix ("batch" for "batch_size") is also a likely slip */
	if (best && best_d > limit && strncmp(best, name, len) != 0)
		return NULL;
	return best;
}
