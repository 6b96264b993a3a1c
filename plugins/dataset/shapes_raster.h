/* Rasteriser of the synthetic_shapes dataset (private to that plugin): the
 * six shapes as exact scanline spans sampled 4x4 per pixel, and the noisy
 * background they sit on. Images are float32 RGB, height x width x 3, on the
 * 0..255 scale. Everything here is pure computation on caller buffers, so it
 * is MT-safe. */
#ifndef KCV_SHAPES_RASTER_H
#define KCV_SHAPES_RASTER_H

#include <stdint.h>

#include <kcv/rng.h>

typedef enum shape_spec_kind {
	SHAPE_SPEC_CIRCLE = 0,
	SHAPE_SPEC_SQUARE,
	SHAPE_SPEC_TRIANGLE,
	SHAPE_SPEC_DIAMOND,
	SHAPE_SPEC_PLUS,
	SHAPE_SPEC_STAR,
	SHAPE_SPEC_COUNT
} shape_spec_kind;

/* Subsamples per pixel side; coverage counts go from 0 to this squared. */
#define SHAPE_SPEC_SAMPLES 4
#define SHAPE_SPEC_FULL (SHAPE_SPEC_SAMPLES * SHAPE_SPEC_SAMPLES)
#define SHAPE_SPEC_MAX_VERTICES 12

/* One shape in an ellipse/box of centre (cx, cy) and half sides (rx, ry),
 * in pixels. Fill kind and the parameters, then call shape_spec_build. */
typedef struct shape_spec {
	shape_spec_kind kind;
	double cx, cy, rx, ry;
	int orientation; /* triangle: 0 apex up, 1 right, 2 down, 3 left */
	double angle;    /* star: rotation in radians */
	int nverts;      /* polygon of every shape but the circle (pixels) */
	double vx[SHAPE_SPEC_MAX_VERTICES], vy[SHAPE_SPEC_MAX_VERTICES];
} shape_spec;

/* "circle", "square", ... (the dataset's class names, in class-id order). */
const char *shape_spec_name(shape_spec_kind kind);

/* Compute the polygon from kind and parameters. */
void shape_spec_build(shape_spec *s);

/* The pixel rectangle [x0,x1) x [y0,y1) that holds the shape, clipped to a
 * width x height image (empty when x1 <= x0 or y1 <= y0). */
void shape_spec_extent(const shape_spec *s, int width, int height, int *x0, int *y0, int *x1,
                      int *y1);

/* Coverage of each pixel of the rectangle at (x0, y0) of w x h pixels, as the
 * number of the 4x4 subsamples (at subpixel centres) inside the shape, 0..16.
 * cov receives w * h bytes, row by row. */
void shape_spec_coverage(const shape_spec *s, int x0, int y0, int w, int h, uint8_t *cov);

/* Paint: blend `rgb` over the rectangle with the coverage as alpha. */
void shape_spec_paint(float *pixels, int width, int x0, int y0, int w, int h,
                     const uint8_t *cov, const float rgb[3]);

/* A random background: two-colour linear gradient, low- and mid-frequency
 * blotches (smooth value noise) and Gaussian pixel noise of a random sigma in
 * [4, 14], clamped to 0..255. Draws only from rng. */
void kcv_shapes_background(float *pixels, int width, int height, kcv_rng *rng);

/* Round every value to an integer in 0..255 (as a decoded image would be). */
void kcv_shapes_quantize(float *pixels, size_t count);

#endif
