/* kcv — drawing on 8-bit RGB images: boxes, labels, grids (kcv data --show,
 * kcv predict --out). */
#ifndef KCV_DRAW_H
#define KCV_DRAW_H

#include <kcv/common.h>

KCV_BEGIN_DECLS

/* An 8-bit RGB canvas (borrowed pixels, row-major, 3 bytes per pixel). */
typedef struct kcv_canvas {
	uint8_t *rgb;
	int width, height;
} kcv_canvas;

/* A distinct, saturated colour for class i. */
KCV_API void kcv_draw_class_color(int i, uint8_t rgb[3]);
/* Fill a rectangle [x0,x1) x [y0,y1), clipped to the canvas. */
KCV_API void kcv_draw_fill(kcv_canvas *c, int x0, int y0, int x1, int y1, const uint8_t rgb[3]);
/* Outline of the box (x1,y1)-(x2,y2) in pixels, `thickness` pixels inward. */
KCV_API void kcv_draw_box(kcv_canvas *c, float x1, float y1, float x2, float y2,
                          int thickness, const uint8_t rgb[3]);
/* Text in the built-in 5x7 font (printable ASCII), `scale` pixels per font
 * pixel, top-left at (x,y). Returns the width drawn in pixels. */
KCV_API int kcv_draw_text(kcv_canvas *c, int x, int y, const char *text, int scale,
                          const uint8_t rgb[3]);
/* Width in pixels text would take. */
KCV_API int kcv_draw_text_width(const char *text, int scale);
/* A label: text on a filled background of colour bg, placed above (x,y) when
 * there is room, else below it. */
KCV_API void kcv_draw_label(kcv_canvas *c, int x, int y, const char *text, int scale,
                            const uint8_t bg[3]);
/* Copy a float 0..255 RGB image into the canvas at (x,y), rounding and
 * clamping. */
KCV_API void kcv_draw_blit_float(kcv_canvas *c, int x, int y, const float *src, int w, int h);

KCV_END_DECLS

#endif /* KCV_DRAW_H */
