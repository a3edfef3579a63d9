/* JPEG reading (baseline, progressive, grayscale, CMYK/YCCK into RGB8/RGBA8) and writing (RGB,
 * quality 1..100) through libjpeg(-turbo). libjpeg's default error handler prints and calls
 * exit(), so ours formats the message and longjmps back; as in image_png.c, the setjmp lives in
 * one function and all state that outlives a jump sits in a job struct reached by pointer. */
#include "image.h"

#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "error.h"

typedef struct jpeg_err {
    struct jpeg_error_mgr pub; /* first: libjpeg sees only this part */
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
} jpeg_err;

static void on_jpeg_error(j_common_ptr cinfo)
{
    jpeg_err *e = (jpeg_err *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jmp, 1);
}

/* Warnings and trace messages. Running out of data is only a warning to libjpeg (it pads the
 * image with gray), but a picture with a missing part must not reach training: treat it as an
 * error. Other warnings (stray bytes between markers, ...) are tolerated, as PIL does. */
static void on_jpeg_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return;
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_err *e = (jpeg_err *)cinfo->err;
        e->truncated = 1;
        cinfo->err->format_message(cinfo, e->msg);
        longjmp(e->jmp, 1);
    }
}

static void on_jpeg_output(j_common_ptr cinfo) { (void)cinfo; }

static void init_err(jpeg_err *e)
{
    jpeg_std_error(&e->pub);
    e->pub.error_exit = on_jpeg_error;
    e->pub.emit_message = on_jpeg_message;
    e->pub.output_message = on_jpeg_output;
}

/* ---- reading ------------------------------------------------------------------------- */

typedef struct jpeg_read_job {
    const char *path;
    FILE *fp;
    int want;
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    int created;
    uint8_t *row;
    uint8_t *pixels;
    int width, height;
} jpeg_read_job;

/* a * b / 255, rounded. */
static inline uint8_t mul255(unsigned a, unsigned b) { return (uint8_t)((a * b + 127) / 255); }

static void cmyk_row_to_rgb(uint8_t *dst, int dst_ch, const uint8_t *src, int n, int adobe_inverted)
{
    for (int x = 0; x < n; x++) {
        const uint8_t *s = src + 4 * x;
        /* Ink coverage inverted (255 = no ink), which is how Adobe's files store it. */
        unsigned c = s[0], m = s[1], y = s[2], k = s[3];
        if (!adobe_inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        uint8_t *d = dst + (size_t)x * (size_t)dst_ch;
        d[0] = mul255(c, k);
        d[1] = mul255(m, k);
        d[2] = mul255(y, k);
        if (dst_ch == 4)
            d[3] = 255;
    }
}

static tinv_status jpeg_decode(jpeg_read_job *j)
{
    struct jpeg_decompress_struct *ci = &j->cinfo;
    if (setjmp(j->err.jmp))
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: %s JPEG: %s", j->path, j->err.truncated ? "truncated" : "corrupt",
                        j->err.msg);
    ci->err = &j->err.pub;
    jpeg_create_decompress(ci);
    j->created = 1;
    jpeg_stdio_src(ci, j->fp);
    jpeg_read_header(ci, TRUE);
    TI_TRY(ti_image_check_dims(j->path, ci->image_width, ci->image_height, TINV_ERR_BAD_FORMAT));

    int cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
    ci->out_color_space = cmyk ? JCS_CMYK : JCS_RGB; /* libjpeg turns YCCK into CMYK, gray into RGB */
    jpeg_start_decompress(ci);
    int comps = ci->output_components;
    if (comps != (cmyk ? 4 : 3) || ci->output_width != ci->image_width || ci->output_height != ci->image_height)
        return ti_error(TINV_ERR_INTERNAL, "%s: unexpected JPEG output layout (%d components, %ux%u)", j->path, comps,
                        (unsigned)ci->output_width, (unsigned)ci->output_height);

    j->width = (int)ci->output_width;
    j->height = (int)ci->output_height;
    size_t stride = (size_t)j->width * (size_t)j->want;
    j->row = malloc((size_t)j->width * (size_t)comps);
    j->pixels = malloc(stride * (size_t)j->height);
    if (j->row == NULL || j->pixels == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory for a %dx%d image", j->path, j->width, j->height);
    while (ci->output_scanline < ci->output_height) {
        size_t y = ci->output_scanline;
        JSAMPROW r = j->row;
        if (jpeg_read_scanlines(ci, &r, 1) != 1)
            return ti_error(TINV_ERR_BAD_FORMAT, "%s: truncated JPEG (row %zu)", j->path, y);
        uint8_t *dst = j->pixels + y * stride;
        if (cmyk) {
            cmyk_row_to_rgb(dst, j->want, j->row, j->width, ci->saw_Adobe_marker);
        } else if (j->want == 3) {
            memcpy(dst, j->row, stride);
        } else {
            for (int x = 0; x < j->width; x++) {
                memcpy(dst + 4 * x, j->row + 3 * x, 3);
                dst[4 * x + 3] = 255;
            }
        }
    }
    /* No jpeg_finish_decompress: every pixel is in, and a missing EOI marker after complete
     * image data is harmless (it would only raise the "premature end" warning). */
    return TINV_OK;
}

tinv_status ti_jpeg_read(const char *path, int want_channels, int flags, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(path);
    (void)flags; /* JPEG has no alpha */
    if (want_channels != 3 && want_channels != 4)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: want_channels is %d (expected 3 or 4)", path, want_channels);

    jpeg_read_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    j->path = path;
    j->want = want_channels;
    init_err(&j->err);
    tinv_status st;
    j->fp = fopen(path, "rbe");
    if (j->fp == NULL) {
        st = ti_error(TINV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    } else {
        st = jpeg_decode(j);
        fclose(j->fp);
    }
    if (j->created)
        jpeg_destroy_decompress(&j->cinfo);
    free(j->row);
    if (st == TINV_OK) {
        out->width = j->width;
        out->height = j->height;
        out->channels = want_channels;
        out->pixels = j->pixels;
    } else {
        free(j->pixels);
    }
    free(j);
    return st;
}

/* ---- writing ------------------------------------------------------------------------- */

typedef struct jpeg_write_job {
    const char *path;
    FILE *fp;
    const ti_image *img;
    int quality;
    const uint8_t *comment;
    size_t comment_len;
    struct jpeg_compress_struct cinfo;
    jpeg_err err;
    int created;
} jpeg_write_job;

static tinv_status jpeg_encode(jpeg_write_job *j)
{
    struct jpeg_compress_struct *ci = &j->cinfo;
    if (setjmp(j->err.jmp))
        return ti_error(TINV_ERR_IO, "%s: cannot write JPEG: %s", j->path, j->err.msg);
    ci->err = &j->err.pub;
    jpeg_create_compress(ci);
    j->created = 1;
    jpeg_stdio_dest(ci, j->fp);
    ci->image_width = (JDIMENSION)j->img->width;
    ci->image_height = (JDIMENSION)j->img->height;
    ci->input_components = 3;
    ci->in_color_space = JCS_RGB;
    jpeg_set_defaults(ci);
    jpeg_set_quality(ci, j->quality, TRUE);
    jpeg_start_compress(ci, TRUE);
    if (j->comment_len > 0)
        jpeg_write_marker(ci, JPEG_COM, j->comment, (unsigned)j->comment_len);
    size_t stride = (size_t)j->img->width * 3;
    while (ci->next_scanline < ci->image_height) {
        /* libjpeg only reads the row; its prototype lacks const. */
        JSAMPROW r = (JSAMPROW)(j->img->pixels + (size_t)ci->next_scanline * stride);
        jpeg_write_scanlines(ci, &r, 1);
    }
    jpeg_finish_compress(ci);
    return TINV_OK;
}

/* "key: value" lines for the COM segment; NULL with the error set. */
static char *build_comment(const char *path, const char *const *kv, size_t n, size_t *len)
{
    *len = 0;
    if (n > 0 && kv == NULL) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: %zu text pairs but no array", path, n);
        return NULL;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (kv[2 * i] == NULL || kv[2 * i + 1] == NULL) {
            ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: text pair %zu has a NULL key or value", path, i);
            return NULL;
        }
        total += strlen(kv[2 * i]) + 2 + strlen(kv[2 * i + 1]) + 1;
    }
    if (total > 65533) { /* one marker segment holds at most 65533 bytes */
        ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: text pairs take %zu bytes; a JPEG comment holds at most 65533", path,
                 total);
        return NULL;
    }
    char *s = malloc(total + 1);
    if (s == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(s + k, "%s: %s\n", kv[2 * i], kv[2 * i + 1]);
    if (k > 0)
        s[--k] = '\0'; /* no trailing newline */
    *len = k;
    return s;
}

tinv_status ti_jpeg_write(const char *path, const ti_image *img, int quality, const char *const *text_kv,
                          size_t n_kv)
{
    TI_REQUIRE(path);
    TI_TRY(ti_image_check(img, path));
    if (img->channels != 3)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: JPEG has no alpha channel; convert the RGBA image to RGB first",
                        path);
    if (quality < 1 || quality > 100)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: JPEG quality %d is outside 1..100", path, quality);
    if (img->width > JPEG_MAX_DIMENSION || img->height > JPEG_MAX_DIMENSION)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: %dx%d is too large for JPEG", path, img->width, img->height);
    size_t comment_len = 0;
    char *comment = NULL;
    if (n_kv > 0 && (comment = build_comment(path, text_kv, n_kv, &comment_len)) == NULL)
        return tinv_last_status();

    jpeg_write_job *j = calloc(1, sizeof *j);
    char *tmp = NULL;
    tinv_status st = TINV_OK;
    if (j == NULL)
        st = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    else
        st = ti_image_tmp_open(path, &j->fp, &tmp);
    if (st != TINV_OK) {
        free(comment);
        free(j);
        return st;
    }
    j->path = path;
    j->img = img;
    j->quality = quality;
    j->comment = (const uint8_t *)comment;
    j->comment_len = comment_len;
    init_err(&j->err);
    st = jpeg_encode(j);
    if (j->created)
        jpeg_destroy_compress(&j->cinfo);
    st = ti_image_tmp_finish(j->fp, tmp, path, st);
    free(comment);
    free(j);
    return st;
}
