/* kcv — a small, fast, seedable random number generator (xoshiro256**).
 *
 * A kcv_rng is a plain value: copy it to fork a stream, store it in a
 * checkpoint as 4 words. Streams for different purposes come from
 * kcv_rng_seed(seed, stream...) so results do not depend on which thread did
 * the work: the loader seeds sample i of epoch e with (seed, e, i). */
#ifndef KCV_RNG_H
#define KCV_RNG_H

#include <kcv/common.h>

KCV_BEGIN_DECLS

typedef struct kcv_rng {
	uint64_t s[4];
} kcv_rng;

/* Seed from a 64-bit seed and up to three stream words (splitmix64). */
KCV_API void kcv_rng_seed(kcv_rng *rng, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
KCV_API uint64_t kcv_rng_next(kcv_rng *rng);
/* Uniform double in [0, 1). */
KCV_API double kcv_rng_uniform(kcv_rng *rng);
/* Uniform double in [lo, hi). */
KCV_API double kcv_rng_range(kcv_rng *rng, double lo, double hi);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
KCV_API uint64_t kcv_rng_below(kcv_rng *rng, uint64_t n);
/* Standard normal (Box-Muller). */
KCV_API double kcv_rng_normal(kcv_rng *rng);

KCV_END_DECLS

#endif /* KCV_RNG_H */
