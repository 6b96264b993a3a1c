/* xoshiro256** seeded through splitmix64 (public-domain algorithms by
 * Blackman and Vigna; written here from their description). */
#include <math.h>

#include <kcv/rng.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void kcv_rng_seed(kcv_rng *rng, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = seed;
	uint64_t h = splitmix64(&x);
	x = h ^ (a * 0xd1b54a32d192ed03ULL);
	h = splitmix64(&x);
	x = h ^ (b * 0xabc98388fb8fac03ULL);
	h = splitmix64(&x);
	x = h ^ (c * 0x8cb92ba72f3d8dd7ULL);
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&x);
	if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]))
		rng->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t kcv_rng_next(kcv_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double kcv_rng_uniform(kcv_rng *rng)
{
	return (double)(kcv_rng_next(rng) >> 11) * 0x1.0p-53;
}

double kcv_rng_range(kcv_rng *rng, double lo, double hi)
{
	return lo + (hi - lo) * kcv_rng_uniform(rng);
}

uint64_t kcv_rng_below(kcv_rng *rng, uint64_t n)
{
	if (n <= 1)
		return 0;
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do {
		x = kcv_rng_next(rng);
	} while (x >= limit);
	return x % n;
}

double kcv_rng_normal(kcv_rng *rng)
{
	double u1 = kcv_rng_uniform(rng);
	double u2 = kcv_rng_uniform(rng);
	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
