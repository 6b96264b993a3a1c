/* Private: the built-in bitmap font used by core/draw.c (never installed). */
#ifndef KCV_DRAW_IMPL_H
#define KCV_DRAW_IMPL_H

#include <stdint.h>

#define KCV_FONT_WIDTH 5  /* columns per glyph */
#define KCV_FONT_HEIGHT 7 /* rows per glyph */
#define KCV_FONT_FIRST 32 /* ' ' */
#define KCV_FONT_LAST 126 /* '~' */

/* The KCV_FONT_HEIGHT rows of character c, top first; in each row bit
 * (KCV_FONT_WIDTH - 1 - col) is column col. Characters outside
 * KCV_FONT_FIRST..KCV_FONT_LAST get the '?' glyph. Borrowed, static. */
const uint8_t *kcv_font_glyph(int c);

#endif /* KCV_DRAW_IMPL_H */
