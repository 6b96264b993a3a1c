/* JPEG files through the TurboJPEG API (libjpeg-turbo): decode to 8-bit RGB,
 * read the size, encode atomically.
 *
 * Each call makes its own tjhandle, so that the functions are MT-safe (the
 * loader decodes on several threads). TurboJPEG reports libjpeg warnings
 * ("Premature end of JPEG file") as a failed call whose error code is
 * TJERR_WARNING while the image is still complete as far as the data went;
 * those become the `warning` text, anything else is a hard failure.
 *
 * Grayscale JPEGs expand to RGB in libjpeg. CMYK and YCCK JPEGs cannot be
 * converted to RGB by libjpeg, so they are decoded to CMYK and converted
 * here, assuming Adobe's inverted storage (what Photoshop writes, and what
 * PIL and browsers assume): R = C' * K' / 255 with C', K' the stored values. */
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include <kcv/image.h>

#include "util-impl.h"

/* Largest side accepted: sample buffers stop at 65535 too. */
#define MAX_SIDE 65535

/* Read a whole JPEG file; an empty file is invalid input. */
static unsigned char *read_jpeg(const char *path, size_t *size, kcv_error *err)
{
	unsigned char *buf = (unsigned char *)kcv_read_file(path, size, err);
	if (!buf)
		return NULL;
	if (*size == 0) {
		free(buf);
		KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		          "cannot decode JPEG: the file is empty");
		return NULL;
	}
	return buf;
}

/* Copy the handle's message into warning (first warning wins). */
static void keep_warning(tjhandle tj, char *warning, size_t warning_size)
{
	if (warning && warning_size && !warning[0])
		kcv_strlcpy(warning, tjGetErrorStr2(tj), warning_size);
}

typedef struct jpeg_header {
	int width, height, subsamp, colorspace;
} jpeg_header;

/* Parse the header. A warning here is kept and the header used when its size
 * is known; otherwise it is a hard failure. */
static kcv_status read_header(tjhandle tj, const char *path, const unsigned char *buf,
                              size_t size, jpeg_header *h, char *warning,
                              size_t warning_size, kcv_error *err)
{
	memset(h, 0, sizeof(*h));
	h->colorspace = -1;
	if (size > (size_t)(unsigned long)-1)
		return KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		                 "cannot decode JPEG: file too large");
	if (tjDecompressHeader3(tj, buf, (unsigned long)size, &h->width, &h->height, &h->subsamp,
	                        &h->colorspace) != 0) {
		if (tjGetErrorCode(tj) != TJERR_WARNING || h->width <= 0 || h->height <= 0)
			return KCV_ERROR(err, KCV_ERR_INVALID, path, NULL, "cannot decode JPEG: %s",
			                 tjGetErrorStr2(tj));
		keep_warning(tj, warning, warning_size);
	}
	if (h->width <= 0 || h->height <= 0 || h->width > MAX_SIDE || h->height > MAX_SIDE)
		return KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		                 "cannot decode JPEG: unsupported image size %dx%d", h->width,
		                 h->height);
	return KCV_OK;
}

/* Inverted (Adobe) CMYK to RGB, in place: going forward, the write index
 * (3 bytes a pixel) never passes the read index (4 bytes a pixel). */
static void cmyk_to_rgb(uint8_t *p, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		unsigned c = p[4 * i + 0], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
		p[3 * i + 0] = (uint8_t)((c * k + 127) / 255);
		p[3 * i + 1] = (uint8_t)((m * k + 127) / 255);
		p[3 * i + 2] = (uint8_t)((y * k + 127) / 255);
	}
}

kcv_status kcv_jpeg_decode_file(const char *path, uint8_t **pixels, int *width, int *height,
                                char *warning, size_t warning_size, kcv_error *err)
{
	*pixels = NULL;
	*width = *height = 0;
	if (warning && warning_size)
		warning[0] = '\0';

	size_t size = 0;
	unsigned char *buf = read_jpeg(path, &size, err);
	if (!buf)
		return err && err->code ? err->code : KCV_ERR_IO;

	kcv_status st = KCV_OK;
	uint8_t *out = NULL;
	tjhandle tj = tjInitDecompress();
	if (!tj) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "cannot start the JPEG decoder");
		goto fail;
	}
	jpeg_header h;
	st = read_header(tj, path, buf, size, &h, warning, warning_size, err);
	if (st)
		goto fail;

	int cmyk = h.colorspace == TJCS_CMYK || h.colorspace == TJCS_YCCK;
	int pf = cmyk ? TJPF_CMYK : TJPF_RGB;
	size_t npix = (size_t)h.width * (size_t)h.height;
	out = malloc(npix * (cmyk ? 4 : 3));
	if (!out) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "out of memory for a %dx%d image",
		               h.width, h.height);
		goto fail;
	}
	if (tjDecompress2(tj, buf, (unsigned long)size, out, h.width, 0, h.height, pf, 0) != 0) {
		if (tjGetErrorCode(tj) != TJERR_WARNING) {
			st = KCV_ERROR(err, KCV_ERR_INVALID, path, NULL, "cannot decode JPEG: %s",
			               tjGetErrorStr2(tj));
			goto fail;
		}
		keep_warning(tj, warning, warning_size);
	}
	if (cmyk) {
		cmyk_to_rgb(out, npix);
		uint8_t *shrunk = realloc(out, npix * 3);
		if (shrunk)
			out = shrunk;
	}
	tjDestroy(tj);
	free(buf);
	*pixels = out;
	*width = h.width;
	*height = h.height;
	return KCV_OK;
fail:
	free(out);
	if (tj)
		tjDestroy(tj);
	free(buf);
	return st;
}

kcv_status kcv_jpeg_read_size(const char *path, int *width, int *height, kcv_error *err)
{
	*width = *height = 0;
	size_t size = 0;
	unsigned char *buf = read_jpeg(path, &size, err);
	if (!buf)
		return err && err->code ? err->code : KCV_ERR_IO;
	kcv_status st;
	tjhandle tj = tjInitDecompress();
	if (!tj) {
		st = KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "cannot start the JPEG decoder");
		goto done;
	}
	jpeg_header h;
	st = read_header(tj, path, buf, size, &h, NULL, 0, err);
	if (st == KCV_OK) {
		*width = h.width;
		*height = h.height;
	}
	tjDestroy(tj);
done:
	free(buf);
	return st;
}

kcv_status kcv_jpeg_write_file(const char *path, const uint8_t *rgb, int width, int height,
                               int quality, kcv_error *err)
{
	if (!rgb || width <= 0 || height <= 0 || width > MAX_SIDE || height > MAX_SIDE)
		return KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		                 "cannot write JPEG: invalid image size %dx%d", width, height);
	if (quality < 1 || quality > 100)
		return KCV_ERROR(err, KCV_ERR_INVALID, path, NULL,
		                 "cannot write JPEG: quality %d is not in [1,100]", quality);
	tjhandle tj = tjInitCompress();
	if (!tj)
		return KCV_ERROR(err, KCV_ERR_NOMEM, path, NULL, "cannot start the JPEG encoder");
	unsigned char *jpeg = NULL;
	unsigned long jpeg_size = 0;
	int subsamp = quality >= 95 ? TJSAMP_444 : TJSAMP_420;
	kcv_status st = KCV_OK;
	if (tjCompress2(tj, rgb, width, 0, height, TJPF_RGB, &jpeg, &jpeg_size, subsamp, quality,
	                0) != 0) {
		st = KCV_ERROR(err, KCV_ERR_INVALID, path, NULL, "cannot encode JPEG: %s",
		               tjGetErrorStr2(tj));
		goto done;
	}
	st = kcv_write_file_atomic(path, jpeg, (size_t)jpeg_size, err);
done:
	tjFree(jpeg);
	tjDestroy(tj);
	return st;
}
