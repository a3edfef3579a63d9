/* PNG reading (any PNG into RGB8/RGBA8, plus its text chunks) and writing (RGB/RGBA with text
 * chunks) through libpng. libpng reports errors by longjmp: every libpng call runs inside a
 * function that owns the setjmp, and everything that must survive a jump lives in a job struct
 * reached through a pointer, so no local variable is left indeterminate after the jump. */
#include "image.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct png_job {
    const char *path;
    FILE *fp;
    png_structp png;
    png_infop info;
    char msg[256];   /* libpng's message for the error that jumped */
    /* reading */
    int want, flags, want_text;
    uint8_t *pixels;
    png_bytep *rows;
    int width, height, channels; /* as decoded (channels may exceed want) */
    char **kv;
    size_t n_kv;
    /* writing */
    const ti_image *img;
    png_text *text;
} png_job;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    /* Must not return: libpng would fall back to its default handler, which prints. */
    png_longjmp(png, 1);
}

/* Warnings (bad CRC in an ancillary chunk, odd ICC profiles, ...) are not our business. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* ---- reading ------------------------------------------------------------------------- */

/* Latin-1 (tEXt/zTXt) to UTF-8; NULL on out of memory. */
static char *latin1_to_utf8(const char *s, size_t n)
{
    char *out = malloc(2 * n + 1);
    if (out == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            out[k++] = (char)c;
        } else {
            out[k++] = (char)(0xC0 | (c >> 6));
            out[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[k] = '\0';
    return out;
}

static char *copy_bytes(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out != NULL) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

static tinv_status collect_text(png_job *j)
{
    png_textp text = NULL;
    int num = 0;
    png_get_text(j->png, j->info, &text, &num);
    if (num <= 0)
        return TINV_OK;
    j->kv = calloc(2 * (size_t)num, sizeof *j->kv);
    if (j->kv == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory for text chunks", j->path);
    for (int i = 0; i < num; i++) {
        const png_text *t = &text[i];
        int utf8 = t->compression == PNG_ITXT_COMPRESSION_NONE || t->compression == PNG_ITXT_COMPRESSION_zTXt;
        const char *value = t->text != NULL ? t->text : "";
        size_t vlen = t->text == NULL ? 0 : utf8 ? t->itxt_length : t->text_length;
        j->kv[2 * i] = latin1_to_utf8(t->key, strlen(t->key)); /* keywords are Latin-1 in every chunk */
        j->kv[2 * i + 1] = utf8 ? copy_bytes(value, vlen) : latin1_to_utf8(value, vlen);
        j->n_kv = (size_t)i + 1;
        if (j->kv[2 * i] == NULL || j->kv[2 * i + 1] == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory for text chunks", j->path);
    }
    return TINV_OK;
}

static tinv_status png_decode(png_job *j)
{
    if (setjmp(png_jmpbuf(j->png)))
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: corrupt or truncated PNG: %s", j->path, j->msg);

    png_byte sig[8];
    size_t got = fread(sig, 1, sizeof sig, j->fp);
    if (got != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: not a PNG file", j->path);
    png_init_io(j->png, j->fp);
    png_set_sig_bytes(j->png, sizeof sig);
    png_read_info(j->png, j->info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &color, NULL, NULL, NULL);
    TI_TRY(ti_image_check_dims(j->path, w, h, TINV_ERR_BAD_FORMAT));

    /* Everything to 8-bit RGB(A): palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha. */
    png_set_expand(j->png);
#ifdef PNG_READ_SCALE_16_TO_8_SUPPORTED
    png_set_scale_16(j->png);
#else
    png_set_strip_16(j->png);
#endif
    png_set_gray_to_rgb(j->png);
    int has_alpha = (color & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(j->png, j->info, PNG_INFO_tRNS);
    if (!has_alpha && j->want == 4)
        png_set_add_alpha(j->png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);

    int ch = png_get_channels(j->png, j->info);
    size_t rowbytes = png_get_rowbytes(j->png, j->info);
    if ((ch != 3 && ch != 4) || png_get_bit_depth(j->png, j->info) != 8 || rowbytes != (size_t)w * (size_t)ch)
        return ti_error(TINV_ERR_INTERNAL, "%s: unexpected PNG layout after conversion (%d channels, %zu bytes/row)",
                        j->path, ch, rowbytes);

    j->width = (int)w;
    j->height = (int)h;
    j->channels = ch;
    j->pixels = malloc((size_t)h * rowbytes);
    j->rows = malloc((size_t)h * sizeof *j->rows);
    if (j->pixels == NULL || j->rows == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory for a %ux%u image", j->path, (unsigned)w,
                        (unsigned)h);
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = j->pixels + (size_t)y * rowbytes;
    png_read_image(j->png, j->rows);
    /* Reads the chunks after the image (text may follow IDAT) and checks the trailer. */
    png_read_end(j->png, j->info);
    if (j->want_text)
        TI_TRY(collect_text(j));
    return TINV_OK;
}

/* Open, decode, clean up. On success j->pixels (and j->kv) belong to the caller. */
static tinv_status png_read_job(png_job *j)
{
    j->fp = fopen(j->path, "rbe");
    if (j->fp == NULL)
        return ti_error(TINV_ERR_IO, "%s: cannot open: %s", j->path, strerror(errno));
    tinv_status st = TINV_OK;
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, on_png_error, on_png_warning);
    if (j->png != NULL)
        j->info = png_create_info_struct(j->png);
    if (j->png == NULL || j->info == NULL)
        st = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: cannot create a PNG reader", j->path);
    else
        st = png_decode(j);
    png_destroy_read_struct(j->png != NULL ? &j->png : NULL, j->info != NULL ? &j->info : NULL, NULL);
    fclose(j->fp);
    free(j->rows);
    j->rows = NULL;
    if (st != TINV_OK) {
        free(j->pixels);
        j->pixels = NULL;
        ti_image_text_free(j->kv, j->n_kv);
        j->kv = NULL;
        j->n_kv = 0;
    }
    return st;
}

tinv_status ti_png_read(const char *path, int want_channels, int flags, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(path);
    if (want_channels != 3 && want_channels != 4)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: want_channels is %d (expected 3 or 4)", path, want_channels);
    png_job j = {.path = path, .want = want_channels, .flags = flags};
    TI_TRY(png_read_job(&j));
    size_t n = (size_t)j.width * (size_t)j.height;
    if (j.channels == 4 && want_channels == 3) {
        ti_image_rgba_to_rgb(j.pixels, j.pixels, n, flags);
        uint8_t *shrunk = realloc(j.pixels, n * 3);
        if (shrunk != NULL)
            j.pixels = shrunk;
    }
    out->width = j.width;
    out->height = j.height;
    out->channels = want_channels;
    out->pixels = j.pixels;
    return TINV_OK;
}

tinv_status ti_png_read_text(const char *path, char ***kv, size_t *n_kv)
{
    TI_REQUIRE(kv);
    TI_REQUIRE(n_kv);
    *kv = NULL;
    *n_kv = 0;
    TI_REQUIRE(path);
    /* The whole file is decoded: text chunks may follow the image data. */
    png_job j = {.path = path, .want = 3, .want_text = 1};
    TI_TRY(png_read_job(&j));
    free(j.pixels);
    *kv = j.kv;
    *n_kv = j.n_kv;
    return TINV_OK;
}

void ti_image_text_free(char **kv, size_t n_kv)
{
    if (kv == NULL)
        return;
    for (size_t i = 0; i < 2 * n_kv; i++)
        free(kv[i]);
    free(kv);
}

/* ---- writing ------------------------------------------------------------------------- */

static tinv_status check_text(const char *path, const char *const *kv, size_t n)
{
    if (n > 0 && kv == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: %zu text pairs but no array", path, n);
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        if (k == NULL || v == NULL)
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: text pair %zu has a NULL key or value", path, i);
        size_t len = strlen(k);
        /* The PNG keyword rules; libpng would otherwise silently rewrite the key. */
        int ok = len >= 1 && len <= 79 && k[0] != ' ' && k[len - 1] != ' ';
        for (size_t c = 0; ok && c < len; c++)
            ok = k[c] >= 32 && k[c] <= 126 && !(k[c] == ' ' && k[c + 1] == ' ');
        if (!ok)
            return ti_error(TINV_ERR_INVALID_ARGUMENT,
                            "%s: invalid text key '%s' (1-79 printable ASCII characters, no leading, trailing or "
                            "double spaces)", path, k);
    }
    return TINV_OK;
}

static int is_ascii(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

static tinv_status png_encode(png_job *j, const char *const *kv, size_t n_kv)
{
    if (setjmp(png_jmpbuf(j->png)))
        return ti_error(TINV_ERR_IO, "%s: cannot write PNG: %s", j->path, j->msg);
    const ti_image *img = j->img;
    png_init_io(j->png, j->fp);
    png_set_IHDR(j->png, j->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 img->channels == 4 ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_kv > 0) {
        j->text = calloc(n_kv, sizeof *j->text);
        if (j->text == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", j->path);
        for (size_t i = 0; i < n_kv; i++) {
            png_text *t = &j->text[i];
            /* libpng copies the strings; its struct just lacks const. */
            t->key = (png_charp)kv[2 * i];
            t->text = (png_charp)kv[2 * i + 1];
            if (is_ascii(kv[2 * i + 1])) {
                t->compression = PNG_TEXT_COMPRESSION_NONE;
                t->text_length = strlen(t->text);
            } else {
                t->compression = PNG_ITXT_COMPRESSION_NONE;
                t->itxt_length = strlen(t->text);
            }
        }
        png_set_text(j->png, j->info, j->text, (int)n_kv);
    }
    png_write_info(j->png, j->info);
    size_t stride = (size_t)img->width * (size_t)img->channels;
    for (int y = 0; y < img->height; y++)
        png_write_row(j->png, img->pixels + (size_t)y * stride);
    png_write_end(j->png, NULL);
    return TINV_OK;
}

tinv_status ti_png_write(const char *path, const ti_image *img, const char *const *text_kv, size_t n_kv)
{
    TI_REQUIRE(path);
    TI_TRY(ti_image_check(img, path));
    TI_TRY(check_text(path, text_kv, n_kv));
    if (n_kv > (size_t)INT32_MAX)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: too many text pairs", path);

    png_job j = {.path = path, .img = img};
    char *tmp = NULL;
    TI_TRY(ti_image_tmp_open(path, &j.fp, &tmp));
    tinv_status st = TINV_OK;
    j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j, on_png_error, on_png_warning);
    if (j.png != NULL)
        j.info = png_create_info_struct(j.png);
    if (j.png == NULL || j.info == NULL)
        st = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: cannot create a PNG writer", path);
    else
        st = png_encode(&j, text_kv, n_kv);
    png_destroy_write_struct(j.png != NULL ? &j.png : NULL, j.info != NULL ? &j.info : NULL);
    free(j.text);
    return ti_image_tmp_finish(j.fp, tmp, path, st);
}
