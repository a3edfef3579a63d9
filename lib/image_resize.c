/* Pixel transforms for the training pipeline: PIL-compatible antialiased bicubic resize, crops,
 * horizontal flip, and conversion between RGB8 and the float CHW tensors the models use. */
#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Keys' cubic convolution kernel with a = -0.5, as PIL and torchvision use; support 2. */
static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* Per output index: the first contributing input index, how many contribute, and their
 * normalised weights (ksize slots each). */
typedef struct resample_coeffs {
    int ksize;
    int *first, *count;
    double *weights;
} resample_coeffs;

static void coeffs_free(resample_coeffs *c)
{
    free(c->first);
    free(c->count);
    free(c->weights);
}

/* PIL's precompute_coeffs for the box [0, in_size): when shrinking, the kernel is stretched by
 * the scale so every input pixel contributes (that is the antialiasing). */
static tinv_status coeffs_init(resample_coeffs *c, int in_size, int out_size)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    double inv_filterscale = 1.0 / filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->first = malloc((size_t)out_size * sizeof *c->first);
    c->count = malloc((size_t)out_size * sizeof *c->count);
    c->weights = calloc((size_t)out_size * (size_t)c->ksize, sizeof *c->weights);
    if (c->first == NULL || c->count == NULL || c->weights == NULL) {
        coeffs_free(c);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    for (int o = 0; o < out_size; o++) {
        double center = (o + 0.5) * scale;
        /* PIL rounds the window ends with (int)(v + 0.5), truncating toward zero. */
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in_size)
            hi = in_size;
        int n = hi - lo;
        if (n > c->ksize)
            n = c->ksize; /* cannot happen; guards the weight row */
        double *w = c->weights + (size_t)o * (size_t)c->ksize;
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            w[i] = bicubic((lo + i - center + 0.5) * inv_filterscale);
            sum += w[i];
        }
        if (sum != 0.0)
            for (int i = 0; i < n; i++)
                w[i] /= sum;
        c->first[o] = lo;
        c->count[o] = n;
    }
    return TINV_OK;
}

tinv_status ti_image_resize(const ti_image *src, int out_w, int out_h, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_TRY(ti_image_check(src, "resize"));
    if (out_w <= 0 || out_h <= 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "resize: invalid target size %dx%d", out_w, out_h);
    TI_TRY(ti_image_check_dims("resize", (uint64_t)out_w, (uint64_t)out_h, TINV_ERR_INVALID_ARGUMENT));

    const int ch = src->channels, in_w = src->width, in_h = src->height;
    resample_coeffs cx = {0}, cy = {0};
    TI_TRY(coeffs_init(&cx, in_w, out_w));
    tinv_status st = coeffs_init(&cy, in_h, out_h);
    /* Horizontal pass into doubles, vertical pass rounds once (PIL rounds in between). */
    double *tmp = NULL;
    if (st == TINV_OK) {
        tmp = malloc((size_t)in_h * (size_t)out_w * (size_t)ch * sizeof *tmp);
        if (tmp == NULL)
            st = ti_error(TINV_ERR_OUT_OF_MEMORY, "resize: out of memory");
    }
    if (st == TINV_OK)
        st = ti_image_alloc(out, out_w, out_h, ch);
    if (st != TINV_OK) {
        free(tmp);
        coeffs_free(&cx);
        coeffs_free(&cy);
        return st;
    }

    for (int y = 0; y < in_h; y++) {
        const uint8_t *row = src->pixels + (size_t)y * (size_t)in_w * (size_t)ch;
        double *trow = tmp + (size_t)y * (size_t)out_w * (size_t)ch;
        for (int x = 0; x < out_w; x++) {
            const double *w = cx.weights + (size_t)x * (size_t)cx.ksize;
            const uint8_t *p = row + (size_t)cx.first[x] * (size_t)ch;
            for (int c = 0; c < ch; c++) {
                double s = 0.0;
                for (int i = 0; i < cx.count[x]; i++)
                    s += w[i] * p[(size_t)i * (size_t)ch + (size_t)c];
                trow[(size_t)x * (size_t)ch + (size_t)c] = s;
            }
        }
    }
    size_t tstride = (size_t)out_w * (size_t)ch;
    for (int y = 0; y < out_h; y++) {
        const double *w = cy.weights + (size_t)y * (size_t)cy.ksize;
        const double *base = tmp + (size_t)cy.first[y] * tstride;
        uint8_t *orow = out->pixels + (size_t)y * tstride;
        for (size_t k = 0; k < tstride; k++) {
            double s = 0.0;
            for (int i = 0; i < cy.count[y]; i++)
                s += w[i] * base[(size_t)i * tstride + k];
            /* Round half up and clamp, like PIL's clip8 (bicubic overshoots near edges). */
            double r = floor(s + 0.5);
            orow[k] = (uint8_t)(r < 0.0 ? 0.0 : r > 255.0 ? 255.0 : r);
        }
    }
    free(tmp);
    coeffs_free(&cx);
    coeffs_free(&cy);
    return TINV_OK;
}

tinv_status ti_image_resize_short_side(const ti_image *src, int size, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_TRY(ti_image_check(src, "resize"));
    if (size <= 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "resize: invalid target size %d", size);
    int w = src->width, h = src->height;
    /* torchvision: new_long = int(size * long / short), i.e. rounded down. */
    int64_t lw = w <= h ? size : (int64_t)size * w / h;
    int64_t lh = h < w ? size : (int64_t)size * h / w;
    if (lw > TI_IMAGE_MAX_SIDE || lh > TI_IMAGE_MAX_SIDE)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "resize: %dx%d with shorter side %d is too large", w, h, size);
    return ti_image_resize(src, (int)lw, (int)lh, out);
}

tinv_status ti_image_crop(const ti_image *src, int x, int y, int w, int h, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_TRY(ti_image_check(src, "crop"));
    if (w <= 0 || h <= 0 || x < 0 || y < 0 || x > src->width - w || y > src->height - h)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "crop: %dx%d at (%d, %d) does not fit in a %dx%d image", w, h, x, y,
                        src->width, src->height);
    TI_TRY(ti_image_alloc(out, w, h, src->channels));
    size_t ch = (size_t)src->channels, row = (size_t)w * ch;
    for (int r = 0; r < h; r++)
        memcpy(out->pixels + (size_t)r * row, src->pixels + ((size_t)(y + r) * (size_t)src->width + (size_t)x) * ch,
               row);
    return TINV_OK;
}

tinv_status ti_image_center_crop(const ti_image *src, int w, int h, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_TRY(ti_image_check(src, "crop"));
    if (w <= 0 || h <= 0 || w > src->width || h > src->height)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "crop: %dx%d does not fit in a %dx%d image", w, h, src->width,
                        src->height);
    /* Rounded down, as diffusers' textual inversion script crops ((h - crop) // 2). */
    return ti_image_crop(src, (src->width - w) / 2, (src->height - h) / 2, w, h, out);
}

void ti_image_flip_h(ti_image *img)
{
    if (img == NULL || img->pixels == NULL)
        return;
    size_t ch = (size_t)img->channels;
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->pixels + (size_t)y * (size_t)img->width * ch;
        for (int a = 0, b = img->width - 1; a < b; a++, b--) {
            for (size_t c = 0; c < ch; c++) {
                uint8_t t = row[(size_t)a * ch + c];
                row[(size_t)a * ch + c] = row[(size_t)b * ch + c];
                row[(size_t)b * ch + c] = t;
            }
        }
    }
}

tinv_status ti_image_to_float(const ti_image *img, float *out, size_t count)
{
    TI_REQUIRE(out);
    TI_TRY(ti_image_check(img, "to_float"));
    if (img->channels != 3)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "to_float: image has %d channels (RGB expected)", img->channels);
    size_t plane = (size_t)img->width * (size_t)img->height;
    if (count != 3 * plane)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "to_float: buffer holds %zu floats, need %zu", count, 3 * plane);
    for (size_t i = 0; i < plane; i++)
        for (size_t c = 0; c < 3; c++)
            /* In double then cast, like numpy's (image / 127.5 - 1.0).astype(float32). */
            out[c * plane + i] = (float)(img->pixels[3 * i + c] / 127.5 - 1.0);
    return TINV_OK;
}

tinv_status ti_image_from_float(const float *chw, int width, int height, int signed_range, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(chw);
    TI_TRY(ti_image_alloc(out, width, height, 3));
    size_t plane = (size_t)width * (size_t)height;
    for (size_t i = 0; i < 3 * plane; i++) {
        if (isnan(chw[i])) {
            ti_image_free(out);
            return ti_error(TINV_ERR_NUMERIC, "from_float: NaN at index %zu", i);
        }
    }
    for (size_t i = 0; i < plane; i++) {
        for (size_t c = 0; c < 3; c++) {
            float v = chw[c * plane + i];
            if (signed_range)
                v = v / 2.0f + 0.5f;
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            /* float32 product, then numpy's round: half to even (rintf in the default mode). */
            out->pixels[3 * i + c] = (uint8_t)rintf(v * 255.0f);
        }
    }
    return TINV_OK;
}
