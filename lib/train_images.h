/*
 * train_images.h — the training pictures of a textual-inversion run: every image in one folder,
 * loaded once, shorter side resized to the training resolution and kept uncropped, so each step
 * can take a centre or random square crop (optionally mirrored) as float CHW in [-1, 1].
 *
 * Unlike diffusers' example, which squashes each picture to a square (or centre-crops first),
 * the resize keeps the aspect ratio (torchvision's Resize(size) rule) and cropping is left to the
 * caller; the centre-crop offsets match diffusers' integer arithmetic.
 */
#ifndef TI_TRAIN_IMAGES_H
#define TI_TRAIN_IMAGES_H

#include "image.h"
#include "log.h"
#include "tinv.h"

typedef struct ti_train_image {
    char *name;                       /* file name inside the folder (no directory) */
    char *caption;                    /* "<stem>.txt" beside it: a template with {}, or NULL */
    int orig_width, orig_height;      /* size in the file, before resizing */
    ti_image image;                   /* RGB8; min(width, height) == the set's resolution */
} ti_train_image;

typedef struct ti_train_images {
    ti_train_image *items;            /* `count` images, sorted by file name (byte order) */
    int count;
    int resolution;                   /* side of every crop */
    int skipped;                      /* files that were not usable images */
} ti_train_images;

/* Load every regular, non-hidden file of `dir` (not recursive) but "*.txt" captions in byte order of name with
 * ti_image_load (PNG/JPEG, any depth/colour type; alpha composited over white) and resize its
 * shorter side to `resolution` (antialiased bicubic; upscaling small pictures with a warning).
 * Files that are not readable images are skipped with a TINV_LOG_WARN through `log` (may be NULL)
 * naming the file and the reason; names starting with '.' are ignored silently. An image's caption
 * is the first line of "<stem>.txt" beside it, used instead of the templates; it must hold "{}"
 * where the token goes (else a warning, and the templates are used).
 * TINV_ERR_IO when `dir` cannot be opened; TINV_ERR_INVALID_ARGUMENT when it holds no files or
 * no usable image, or `resolution` is not positive. *out is zeroed on failure. */
tinv_status ti_train_images_load(const char *dir, int resolution, const ti_logger *log, ti_train_images *out);
/* Free everything and zero the struct (NULL and zeroed sets are accepted). */
void ti_train_images_free(ti_train_images *set);

/* Write the resolution x resolution crop of image `index` whose top-left corner is (x, y),
 * mirrored left-right after cropping when `flip`, to `chw` (3 * resolution^2 floats, planar RGB)
 * as value / 127.5 - 1 computed in double then rounded to float, like diffusers'
 * (np.array(image) / 127.5 - 1.0).astype(np.float32). Offsets must lie in the ranges given by
 * ti_train_image_crop_range; TINV_ERR_INVALID_ARGUMENT otherwise. */
tinv_status ti_train_image_crop(const ti_train_images *set, int index, int x, int y, int flip, float *chw);
/* Valid offsets for image `index`: x in [0, *max_x], y in [0, *max_y]. A random crop draws
 * uniformly from these ranges (one of them is always 0). */
tinv_status ti_train_image_crop_range(const ti_train_images *set, int index, int *max_x, int *max_y);
/* The centre crop's offsets: ((W - res) / 2, (H - res) / 2), rounded down. */
tinv_status ti_train_image_center(const ti_train_images *set, int index, int *x, int *y);

#endif
