/* Contact sheets of sampled images: n equally-sized images tiled row by row, like diffusers'
 * make_image_grid. */
#include "image.h"

#include <string.h>

#include "error.h"

tinv_status ti_image_grid(const ti_image *images, int n, int rows, int cols, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(images);
    if (n <= 0 || rows <= 0 || cols <= 0 || (int64_t)rows * cols < n)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "grid: %d images do not fit %d rows x %d columns", n, rows, cols);
    TI_TRY(ti_image_check(&images[0], "grid: image 0"));
    const int w = images[0].width, h = images[0].height, ch = images[0].channels;
    for (int i = 1; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "grid: image %d", i);
        TI_TRY(ti_image_check(&images[i], what));
        if (images[i].width != w || images[i].height != h || images[i].channels != ch)
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "grid: image %d is %dx%dx%d, image 0 is %dx%dx%d", i,
                            images[i].width, images[i].height, images[i].channels, w, h, ch);
    }
    if ((int64_t)w * cols > TI_IMAGE_MAX_SIDE || (int64_t)h * rows > TI_IMAGE_MAX_SIDE)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "grid: %d x %d cells of %dx%d is too large", rows, cols, w, h);
    TI_TRY(ti_image_alloc(out, w * cols, h * rows, ch)); /* zero-filled: empty cells are black */

    size_t row = (size_t)w * (size_t)ch, out_row = row * (size_t)cols;
    if (ch == 4) /* make the empty cells opaque black rather than transparent */
        for (size_t p = 3; p < out_row * (size_t)out->height; p += 4)
            out->pixels[p] = 255;
    for (int i = 0; i < n; i++) {
        size_t x0 = (size_t)(i % cols) * row, y0 = (size_t)(i / cols) * (size_t)h;
        for (int y = 0; y < h; y++)
            memcpy(out->pixels + (y0 + (size_t)y) * out_row + x0, images[i].pixels + (size_t)y * row, row);
    }
    return TINV_OK;
}
