/*
 * image.h — internal image I/O and pixel transforms: reading training pictures (PNG, JPEG)
 * and writing sampled results.
 *
 * An image is 8-bit, interleaved, row-major with no padding: pixel (x, y) channel c lives at
 * pixels[(y * width + x) * channels + c]; channels is 3 (RGB) or 4 (RGBA).
 *
 * Readers trust nothing in the file: dimensions are checked against TI_IMAGE_MAX_SIDE and
 * TI_IMAGE_MAX_PIXELS before any pixel memory is allocated, and libpng/libjpeg errors are
 * caught (setjmp) and returned as TINV_ERR_BAD_FORMAT with a message naming the file. Neither
 * library is ever allowed to print or exit.
 *
 * Writers produce "<path>.tmp", fsync it and rename it over `path`, so a crash never leaves a
 * half-written picture under the real name.
 *
 * Functions that produce an image write `*out` (its previous contents are not freed) and leave
 * it zeroed on failure; `out` must not be the source image.
 *
 * Files: image_load.c (container, conversion, format dispatch, atomic commit), image_png.c,
 * image_jpeg.c, image_resize.c (resize, crop, flip, float conversions), image_grid.c.
 */
#ifndef TI_IMAGE_H
#define TI_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tinv.h"

typedef struct ti_image {
    int width, height, channels;
    uint8_t *pixels;
} ti_image;

/* Limits on decoded images: refuse decompression bombs before allocating. */
#define TI_IMAGE_MAX_SIDE 32768
#define TI_IMAGE_MAX_PIXELS ((uint64_t)1 << 28)

/* Reader flags: what to do with alpha when 3 channels are requested.
 * Default (0): composite over white, so transparent cut-outs train on a white background rather
 * than on whatever colour the transparent pixels happen to store (often black).
 * TI_IMAGE_ALPHA_DISCARD: drop alpha unchanged, like PIL's Image.convert("RGB"). */
enum { TI_IMAGE_ALPHA_WHITE = 0, TI_IMAGE_ALPHA_DISCARD = 1 };

/* ---- container (image_load.c) --------------------------------------------------------- */
/* Allocate a zero-filled width x height x channels image. TINV_ERR_INVALID_ARGUMENT for
 * channels other than 3/4 or a size outside the limits above. */
tinv_status ti_image_alloc(ti_image *img, int width, int height, int channels);
/* Free the pixels and zero the struct (NULL and already-freed images are accepted). */
void ti_image_free(ti_image *img);
/* TINV_ERR_INVALID_ARGUMENT unless `img` is a well-formed image; `what` names it in the error. */
tinv_status ti_image_check(const ti_image *img, const char *what);
/* Check decoded dimensions against the limits; on failure records `status` with
 * "<label>: image is WxH, ..." (readers pass TINV_ERR_BAD_FORMAT). */
tinv_status ti_image_check_dims(const char *label, uint64_t width, uint64_t height, tinv_status status);
/* Copy `src` with `channels` (3 or 4) channels: RGB->RGBA adds opaque alpha, RGBA->RGB follows
 * `flags` (TI_IMAGE_ALPHA_*), same channel count copies. */
tinv_status ti_image_convert(const ti_image *src, int channels, int flags, ti_image *out);
/* Convert `n` RGBA pixels to RGB per `flags`. dst may equal src (it is walked forwards). */
void ti_image_rgba_to_rgb(uint8_t *dst, const uint8_t *src, size_t n, int flags);

/* ---- files (image_load.c) ------------------------------------------------------------- */
/* Load a PNG or JPEG, recognised by its magic bytes (not its extension), as `want_channels`
 * (3 or 4) channels; alpha is composited over white when 3 are requested.
 * TINV_ERR_IO when unreadable, TINV_ERR_UNSUPPORTED for other formats (GIF, WebP, ...),
 * TINV_ERR_BAD_FORMAT for empty, corrupt, truncated or oversized files. */
tinv_status ti_image_load(const char *path, int want_channels, ti_image *out);
/* ti_image_load with reader flags (TI_IMAGE_ALPHA_*). */
tinv_status ti_image_load_ex(const char *path, int want_channels, int flags, ti_image *out);
/* Save as PNG (".png") or JPEG (".jpg", ".jpeg"), by extension, case-insensitively; any other
 * extension is TINV_ERR_INVALID_ARGUMENT. `quality` (1..100) applies to JPEG only. The
 * `n_kv` key/value pairs (text_kv[2*i] = key, text_kv[2*i+1] = value; NULL when n_kv is 0)
 * become PNG text chunks, or one JPEG comment of "key: value" lines. */
tinv_status ti_image_save(const char *path, const ti_image *img, int quality, const char *const *text_kv,
                          size_t n_kv);

/* Open "<path>.tmp" for writing; *tmp receives the malloc'd name. */
tinv_status ti_image_tmp_open(const char *path, FILE **fp, char **tmp);
/* Finish a file opened by ti_image_tmp_open: when `status` is TINV_OK flush, fsync, close and
 * rename it over `path`; otherwise close and delete it. Frees `tmp`; returns the final status
 * (an earlier error's message is kept). */
tinv_status ti_image_tmp_finish(FILE *fp, char *tmp, const char *path, tinv_status status);

/* ---- PNG (image_png.c) ---------------------------------------------------------------- */
/* Any PNG (bit depth 1..16, gray, gray+alpha, palette with or without tRNS, RGB, RGBA,
 * interlaced) as 8-bit RGB or RGBA. 16-bit samples are scaled with rounding (v * 255 / 65535);
 * gamma and colour profiles are ignored, as PIL does. */
tinv_status ti_png_read(const char *path, int want_channels, int flags, ti_image *out);
/* All text chunks (tEXt, zTXt, iTXt) in file order as UTF-8 (tEXt/zTXt are Latin-1 in the
 * file and converted): kv[2*i] = key, kv[2*i+1] = value. *kv is NULL when there are none.
 * Free with ti_image_text_free. */
tinv_status ti_png_read_text(const char *path, char ***kv, size_t *n_kv);
void ti_image_text_free(char **kv, size_t n_kv);
/* Write an RGB/RGBA PNG with text chunks: keys are 1..79 printable ASCII characters without
 * leading/trailing spaces; ASCII values go to tEXt, others (UTF-8) to iTXt. */
tinv_status ti_png_write(const char *path, const ti_image *img, const char *const *text_kv, size_t n_kv);

/* ---- JPEG (image_jpeg.c) -------------------------------------------------------------- */
/* Baseline or progressive JPEG, grayscale, YCbCr/RGB or CMYK/YCCK (converted to RGB; Adobe
 * files store inverted CMYK). A file that ends before the image data does is BAD_FORMAT;
 * other libjpeg warnings (e.g. stray bytes between markers) are tolerated, as PIL does. */
tinv_status ti_jpeg_read(const char *path, int want_channels, int flags, ti_image *out);
/* Write an RGB image as a baseline JPEG (4:2:0) at `quality` 1..100. JPEG has no alpha, so
 * RGBA images are refused (ti_image_convert first). Text pairs go into one COM segment. */
tinv_status ti_jpeg_write(const char *path, const ti_image *img, int quality, const char *const *text_kv,
                          size_t n_kv);

/* ---- transforms (image_resize.c) ------------------------------------------------------ */
/* Resize to out_w x out_h with PIL's antialiased bicubic filter (Image.resize(..., BICUBIC),
 * a = -0.5, support widened by the downscale factor), computed in double and rounded once at
 * the end (PIL rounds between its two passes). Channels are filtered independently. */
tinv_status ti_image_resize(const ti_image *src, int out_w, int out_h, ti_image *out);
/* Resize so the shorter side becomes `size`, the longer one floor(size * long / short), as
 * torchvision's Resize(size). */
tinv_status ti_image_resize_short_side(const ti_image *src, int size, ti_image *out);
/* Copy the w x h rectangle at (x, y), which must lie inside `src`. Random crops pass their own
 * offsets in [0, W - w] x [0, H - h]. */
tinv_status ti_image_crop(const ti_image *src, int x, int y, int w, int h, ti_image *out);
/* Crop w x h from the middle, offsets rounded down: ((W - w) / 2, (H - h) / 2). */
tinv_status ti_image_center_crop(const ti_image *src, int w, int h, ti_image *out);
/* Mirror left-right in place. */
void ti_image_flip_h(ti_image *img);
/* RGB8 -> float CHW in [-1, 1] (x / 127.5 - 1); `out` holds `count` == 3 * width * height floats. */
tinv_status ti_image_to_float(const ti_image *img, float *out, size_t count);
/* Float CHW (3 x height x width) -> RGB8, as diffusers' numpy_to_pil: x = x / 2 + 0.5 first when
 * `signed_range` (values in [-1, 1]), then clamp to [0, 1] and round(x * 255) half to even, in
 * float32. A NaN is TINV_ERR_NUMERIC. */
tinv_status ti_image_from_float(const float *chw, int width, int height, int signed_range, ti_image *out);

/* ---- grid (image_grid.c) -------------------------------------------------------------- */
/* Tile `n` images of equal size and channel count into rows x cols; image i goes to row
 * i / cols, column i % cols. Cells beyond n are black (opaque in RGBA). */
tinv_status ti_image_grid(const ti_image *images, int n, int rows, int cols, ti_image *out);

#endif
