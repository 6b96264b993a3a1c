/* Scanline rasteriser and background generator of synthetic_shapes.
 *
 * Coverage: for each of the 4 subsample rows of a pixel row, the shape's
 * horizontal spans are computed exactly (polygon edge crossings with the
 * even-odd rule, or the ellipse's chord), and every span adds the number of
 * subsample columns it contains to each pixel. This equals 4x4 point
 * supersampling at subpixel centres, at the cost of the spans only, and only
 * inside the shape's own rectangle. */
#include <math.h>
#include <string.h>

#include "shapes_raster.h"

#define PI 3.14159265358979323846
#define STAR_INNER 0.42 /* inner radius of the star over the outer */
#define PLUS_ARM (1.0 / 3.0) /* half width of a plus arm over the half side */

static const char *const shape_names[SHAPE_SPEC_COUNT] = {
	"circle", "square", "triangle", "diamond", "plus", "star",
};

const char *shape_spec_name(shape_spec_kind kind)
{
	return (unsigned)kind < SHAPE_SPEC_COUNT ? shape_names[kind] : NULL;
}

/* Append a vertex given in the unit frame (u, v in [-1, 1], v down). */
static void vertex(shape_spec *s, double u, double v)
{
	s->vx[s->nverts] = s->cx + u * s->rx;
	s->vy[s->nverts] = s->cy + v * s->ry;
	s->nverts++;
}

void shape_spec_build(shape_spec *s)
{
	/* apex up, then rotated by quarter turns in the unit frame */
	static const double tri[3][2] = {{0, -1}, {1, 1}, {-1, 1}};
	const double t = PLUS_ARM;
	const double plus[12][2] = {{-t, -1}, {t, -1}, {t, -t}, {1, -t}, {1, t}, {t, t},
	                            {t, 1},   {-t, 1}, {-t, t}, {-1, t}, {-1, -t}, {-t, -t}};
	s->nverts = 0;
	switch (s->kind) {
	case SHAPE_SPEC_CIRCLE:
		break;
	case SHAPE_SPEC_SQUARE:
		vertex(s, -1, -1), vertex(s, 1, -1), vertex(s, 1, 1), vertex(s, -1, 1);
		break;
	case SHAPE_SPEC_TRIANGLE:
		for (int i = 0; i < 3; i++) {
			double u = tri[i][0], v = tri[i][1];
			for (int q = 0; q < (s->orientation & 3); q++) {
				double nu = -v, nv = u; /* a quarter turn clockwise (v down) */
				u = nu, v = nv;
			}
			vertex(s, u, v);
		}
		break;
	case SHAPE_SPEC_DIAMOND:
		vertex(s, 0, -1), vertex(s, 1, 0), vertex(s, 0, 1), vertex(s, -1, 0);
		break;
	case SHAPE_SPEC_PLUS:
		for (int i = 0; i < 12; i++)
			vertex(s, plus[i][0], plus[i][1]);
		break;
	case SHAPE_SPEC_STAR:
		for (int i = 0; i < 10; i++) {
			double a = s->angle - PI / 2 + i * PI / 5, r = (i & 1) ? STAR_INNER : 1.0;
			vertex(s, r * cos(a), r * sin(a));
		}
		break;
	default:
		break;
	}
}

void shape_spec_extent(const shape_spec *s, int width, int height, int *x0, int *y0, int *x1,
                      int *y1)
{
	double l = floor(s->cx - s->rx), t = floor(s->cy - s->ry);
	double r = ceil(s->cx + s->rx), b = ceil(s->cy + s->ry);
	*x0 = l < 0 ? 0 : l > width ? width : (int)l;
	*y0 = t < 0 ? 0 : t > height ? height : (int)t;
	*x1 = r < 0 ? 0 : r > width ? width : (int)r;
	*y1 = b < 0 ? 0 : b > height ? height : (int)b;
}

/* Sorted span ends of the shape on the horizontal line y; returns how many
 * (even). */
static int spans_at(const shape_spec *s, double y, double *xs)
{
	if (s->kind == SHAPE_SPEC_CIRCLE) {
		double v = (y - s->cy) / s->ry;
		if (v * v >= 1.0)
			return 0;
		double half = s->rx * sqrt(1.0 - v * v);
		xs[0] = s->cx - half;
		xs[1] = s->cx + half;
		return 2;
	}
	int n = 0;
	for (int i = 0, j = s->nverts - 1; i < s->nverts; j = i++) {
		double ya = s->vy[j], yb = s->vy[i];
		if ((ya <= y) == (yb <= y))
			continue;
		double x = s->vx[j] + (y - ya) * (s->vx[i] - s->vx[j]) / (yb - ya);
		int k = n++;
		while (k > 0 && xs[k - 1] > x) {
			xs[k] = xs[k - 1];
			k--;
		}
		xs[k] = x;
	}
	return n & ~1;
}

/* Add the subsample columns [k0, k1) of one subsample row to the pixels. */
static void add_span(uint8_t *row, int k0, int k1)
{
	const int n = SHAPE_SPEC_SAMPLES;
	int p0 = k0 / n, p1 = (k1 - 1) / n;
	if (p0 == p1) {
		row[p0] = (uint8_t)(row[p0] + (k1 - k0));
		return;
	}
	row[p0] = (uint8_t)(row[p0] + (n - k0 % n));
	for (int p = p0 + 1; p < p1; p++)
		row[p] = (uint8_t)(row[p] + n);
	row[p1] = (uint8_t)(row[p1] + ((k1 - 1) % n + 1));
}

void shape_spec_coverage(const shape_spec *s, int x0, int y0, int w, int h, uint8_t *cov)
{
	const int n = SHAPE_SPEC_SAMPLES;
	const int kmax = w * n;
	memset(cov, 0, (size_t)w * h);
	double xs[SHAPE_SPEC_MAX_VERTICES + 2];
	for (int r = 0; r < h; r++) {
		uint8_t *row = cov + (size_t)r * w;
		for (int j = 0; j < n; j++) {
			double y = y0 + r + (j + 0.5) / n;
			int m = spans_at(s, y, xs);
			for (int i = 0; i < m; i += 2) {
				/* subsample k (local) sits at x0 + (k + 0.5) / n */
				double ka = ceil((xs[i] - x0) * n - 0.5);
				double kb = ceil((xs[i + 1] - x0) * n - 0.5);
				int k0 = ka < 0 ? 0 : ka > kmax ? kmax : (int)ka;
				int k1 = kb < 0 ? 0 : kb > kmax ? kmax : (int)kb;
				if (k0 < k1)
					add_span(row, k0, k1);
			}
		}
	}
}

void shape_spec_paint(float *pixels, int width, int x0, int y0, int w, int h,
                     const uint8_t *cov, const float rgb[3])
{
	const float scale = 1.0f / SHAPE_SPEC_FULL;
	for (int r = 0; r < h; r++) {
		float *px = pixels + ((size_t)(y0 + r) * width + x0) * 3;
		const uint8_t *c = cov + (size_t)r * w;
		for (int x = 0; x < w; x++, px += 3) {
			if (!c[x])
				continue;
			float a = c[x] * scale;
			px[0] += (rgb[0] - px[0]) * a;
			px[1] += (rgb[1] - px[1]) * a;
			px[2] += (rgb[2] - px[2]) * a;
		}
	}
}

/* ---- background ------------------------------------------------------------ */

#define GRID_LOW 3 /* cells across the image */
#define GRID_MID 9

/* Smooth value noise: random offsets at (g+1) x (g+1) nodes, interpolated
 * with smoothstep weights. */
typedef struct value_grid {
	int g;
	float node[GRID_MID + 1][GRID_MID + 1][3];
} value_grid;

static void grid_fill(value_grid *vg, int g, float amplitude, kcv_rng *rng)
{
	vg->g = g;
	for (int y = 0; y <= g; y++)
		for (int x = 0; x <= g; x++)
			for (int c = 0; c < 3; c++)
				vg->node[y][x][c] =
					(float)kcv_rng_range(rng, -amplitude, amplitude);
}

static float smooth(float f)
{
	return f * f * (3.0f - 2.0f * f);
}

/* Interpolate along y for row fraction gy: out[x][c] for each node column. */
static void grid_row(const value_grid *vg, float gy, float out[GRID_MID + 1][3])
{
	int iy = (int)gy;
	if (iy >= vg->g)
		iy = vg->g - 1;
	float f = smooth(gy - (float)iy);
	for (int x = 0; x <= vg->g; x++)
		for (int c = 0; c < 3; c++) {
			float a = vg->node[iy][x][c], b = vg->node[iy + 1][x][c];
			out[x][c] = a + (b - a) * f;
		}
}

/* Pixel noise: three standard normals per pixel from one 64-bit value of an
 * inline splitmix64 stream seeded from rng (a library call per value would
 * cost more than the rest of the background). Each normal is the sum of four
 * 5-bit uniforms, standardised: steps of 0.054 sigma, tails at 3.4 sigma,
 * plenty for pixel noise that is rounded to integers anyway. */
static inline uint64_t splitmix_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Normal number k (0..2) of the 64 random bits r. */
static inline float noise_normal(uint64_t r, int k)
{
	uint64_t b = r >> (20 * k);
	uint32_t sum = (uint32_t)(b & 31) + (uint32_t)((b >> 5) & 31) +
	               (uint32_t)((b >> 10) & 31) + (uint32_t)((b >> 15) & 31);
	/* mean 4 * 15.5, standard deviation sqrt(4 * (32^2 - 1) / 12) */
	return ((float)sum - 62.0f) * (1.0f / 18.4663f);
}

static inline float clamp255(float v)
{
	return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
}

/* Per-column position in a grid: left node and smoothed fraction. */
typedef struct grid_col {
	int i;
	float f;
} grid_col;

void kcv_shapes_background(float *pixels, int width, int height, kcv_rng *rng)
{
	float c0[3], c1[3];
	for (int c = 0; c < 3; c++) {
		c0[c] = (float)kcv_rng_range(rng, 0, 255);
		c1[c] = (float)kcv_rng_range(rng, 0, 255);
	}
	double theta = kcv_rng_range(rng, 0, 2 * PI);
	double dx = cos(theta), dy = sin(theta);
	double half = 0.5 * (fabs(dx) * width + fabs(dy) * height);
	value_grid low, mid;
	grid_fill(&low, GRID_LOW, (float)kcv_rng_range(rng, 10, 40), rng);
	grid_fill(&mid, GRID_MID, (float)kcv_rng_range(rng, 5, 20), rng);
	float sigma = (float)kcv_rng_range(rng, 4, 14);
	uint64_t noise = kcv_rng_next(rng);

	/* column tables on the stack in chunks, so that no allocation is needed */
	enum { CHUNK = 512 };
	grid_col lcol[CHUNK], mcol[CHUNK];
	float lrow[GRID_MID + 1][3], mrow[GRID_MID + 1][3];
	for (int xs = 0; xs < width; xs += CHUNK) {
		int xe = xs + CHUNK < width ? xs + CHUNK : width;
		for (int x = xs; x < xe; x++) {
			float gl = ((float)x + 0.5f) * (float)GRID_LOW / (float)width;
			float gm = ((float)x + 0.5f) * (float)GRID_MID / (float)width;
			int il = (int)gl, im = (int)gm;
			il = il >= GRID_LOW ? GRID_LOW - 1 : il;
			im = im >= GRID_MID ? GRID_MID - 1 : im;
			lcol[x - xs] = (grid_col){il, smooth(gl - (float)il)};
			mcol[x - xs] = (grid_col){im, smooth(gm - (float)im)};
		}
		for (int y = 0; y < height; y++) {
			float yc = (float)y + 0.5f;
			grid_row(&low, yc * GRID_LOW / height, lrow);
			grid_row(&mid, yc * GRID_MID / height, mrow);
			/* gradient position t in [0, 1] along (dx, dy) through the centre */
			double t0 = 0.5 + (((double)xs + 0.5 - 0.5 * width) * dx +
			                   (yc - 0.5 * height) * dy) / (2 * half);
			float dt = (float)(dx / (2 * half));
			float *px = pixels + ((size_t)y * width + xs) * 3;
			for (int x = 0; x < xe - xs; x++, px += 3) {
				float t = (float)t0 + dt * (float)x;
				const float *l0 = lrow[lcol[x].i], *l1 = lrow[lcol[x].i + 1];
				const float *m0 = mrow[mcol[x].i], *m1 = mrow[mcol[x].i + 1];
				float fl = lcol[x].f, fm = mcol[x].f;
				uint64_t r = splitmix_next(&noise);
				for (int c = 0; c < 3; c++) {
					float v = c0[c] + (c1[c] - c0[c]) * t;
					v += l0[c] + (l1[c] - l0[c]) * fl;
					v += m0[c] + (m1[c] - m0[c]) * fm;
					v += sigma * noise_normal(r, c);
					px[c] = clamp255(v);
				}
			}
		}
	}
}

static inline float quantize(float v)
{
	int q = (int)(v + 0.5f); /* values are > -2^31 and not NaN */
	q = q < 0 ? 0 : q;
	q = q > 255 ? 255 : q;
	return (float)q;
}

void kcv_shapes_quantize(float *pixels, size_t count)
{
	/* blocks of 8 (integer clamps) so that gcc vectorises the loop at -O2 */
	size_t i = 0;
	for (; i + 8 <= count; i += 8)
		for (int k = 0; k < 8; k++)
			pixels[i + k] = quantize(pixels[i + k]);
	for (; i < count; i++)
		pixels[i] = quantize(pixels[i]);
}
