/* Tests of the image module: PNG/JPEG reading of every kind of file (written here at run time with
 * libpng/libjpeg directly, never committed), round trips with text chunks, corrupt, truncated and
 * oversized files, format sniffing, the PIL-compatible resize against an independent reference,
 * crops, flips, float conversions and grids. */
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <jpeglib.h>

#include "check.h"
#include "error.h"
#include "image.h"

static char tmpdir[] = "/tmp/tinv_img_XXXXXX";

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* Deterministic pseudo-random bytes. */
static uint32_t rng_state = 12345;
static uint8_t rnd8(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (uint8_t)(rng_state >> 24);
}

/* `status` must be `want` with a message naming `path` (and `needle` when given). */
static int expect_status(tinv_status status, tinv_status want, const char *path, const char *needle)
{
    const char *msg = tinv_last_error();
    int ok = status == want && (path == NULL || strstr(msg, path) != NULL) &&
             (needle == NULL || strstr(msg, needle) != NULL);
    if (!ok)
        fprintf(stderr, "    status %d (want %d), message: %s\n", (int)status, (int)want, msg);
    return ok;
}

/* ---- writers that use libpng / libjpeg directly ---------------------------------------- */

typedef struct png_spec {
    int width, height, depth, color, interlace;
    const uint8_t *data; /* rows of `stride` bytes; samples < 8 bits one per byte (packed by libpng) */
    size_t stride;
    const png_color *palette;
    int n_palette;
    const png_byte *trans;     /* palette alpha */
    int n_trans;
    const png_color_16 *trans_color; /* gray/RGB transparent colour */
    const png_text *text;
    int n_text;
    const png_text *end_text; /* written after the image data */
    int n_end_text;
} png_spec;
/* The fields every spec sets; interlace and the optional ones follow as designators. */
#define SPEC(w, h, d, col, dat, str) \
    .width = (w), .height = (h), .depth = (d), .color = (col), .data = (dat), .stride = (str)

static int write_png_spec(const char *path, const png_spec *s)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return 0;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)s->width, (png_uint_32)s->height, s->depth, s->color, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette != NULL)
        png_set_PLTE(png, info, s->palette, s->n_palette);
    if (s->trans != NULL || s->trans_color != NULL)
        png_set_tRNS(png, info, s->trans, s->n_trans, s->trans_color);
    if (s->text != NULL)
        png_set_text(png, info, s->text, s->n_text);
    png_write_info(png, info);
    if (s->depth < 8)
        png_set_packing(png);
    if (s->interlace != PNG_INTERLACE_NONE)
        png_set_interlace_handling(png);
    png_bytep *rows = malloc((size_t)s->height * sizeof *rows);
    for (int y = 0; y < s->height; y++)
        rows[y] = (png_bytep)(s->data + (size_t)y * s->stride);
    png_write_image(png, rows); /* all passes when interlaced */
    if (s->end_text != NULL)
        png_set_text(png, info, s->end_text, s->n_end_text);
    png_write_end(png, s->end_text != NULL ? info : NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

static int write_jpeg_lib(const char *path, int w, int h, int comps, J_COLOR_SPACE in_cs, J_COLOR_SPACE jpeg_cs,
                          const uint8_t *data, int quality, int progressive)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = in_cs;
    jpeg_set_defaults(&c);
    if (jpeg_cs != JCS_UNKNOWN)
        jpeg_set_colorspace(&c, jpeg_cs);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(data + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) == 0;
}

/* Smooth RGB test picture (JPEG-friendly). */
static uint8_t *gradient_rgb(int w, int h)
{
    uint8_t *p = malloc((size_t)w * (size_t)h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * (size_t)w + (size_t)x) * 3;
            q[0] = (uint8_t)(20 + x * 4);
            q[1] = (uint8_t)(30 + y * 5);
            q[2] = (uint8_t)(200 - (x + y) * 2);
        }
    return p;
}

/* Max and mean absolute difference between two buffers. */
static void diff_stats(const uint8_t *a, const uint8_t *b, size_t n, int *max, double *mean)
{
    long sum = 0;
    *max = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        sum += d;
        if (d > *max)
            *max = d;
    }
    *mean = (double)sum / (double)n;
}

/* ---- PNG ----------------------------------------------------------------------------- */

static void test_png_round_trip_rgb_text(void)
{
    ti_image img;
    CHECK(ti_image_alloc(&img, 7, 5, 3) == TINV_OK);
    for (size_t i = 0; i < 7 * 5 * 3; i++)
        img.pixels[i] = (uint8_t)(i * 37 + 11);
    const char *kv[] = {"prompt", "a photo of <cat-toy>", "seed", "42", "steps", "50",
                        "negative", "na\xc3\xafve \xe2\x9c\x93"}; /* UTF-8: goes to iTXt */
    const char *path = check_tmp_path(tmpdir, "rgb.png");
    CHECK(ti_image_save(path, &img, 0, kv, 4) == TINV_OK);
    CHECK(!exists(check_tmp_path(tmpdir, "rgb.png.tmp")));

    ti_image back;
    CHECK(ti_image_load(path, 3, &back) == TINV_OK);
    CHECK(back.width == 7 && back.height == 5 && back.channels == 3);
    CHECK(memcmp(back.pixels, img.pixels, 7 * 5 * 3) == 0);
    ti_image_free(&back);
    CHECK(back.pixels == NULL && back.width == 0);

    /* RGB read as RGBA gets opaque alpha. */
    CHECK(ti_image_load(path, 4, &back) == TINV_OK);
    CHECK(back.channels == 4);
    for (int i = 0; i < 35; i++)
        CHECK(memcmp(back.pixels + 4 * i, img.pixels + 3 * i, 3) == 0 && back.pixels[4 * i + 3] == 255);
    ti_image_free(&back);

    char **text;
    size_t n;
    CHECK(ti_png_read_text(path, &text, &n) == TINV_OK);
    CHECK(n == 4);
    for (size_t i = 0; i < 8; i++)
        CHECK(strcmp(text[i], kv[i]) == 0);
    ti_image_text_free(text, n);

    /* No text at all. */
    CHECK(ti_png_write(path, &img, NULL, 0) == TINV_OK);
    CHECK(ti_png_read_text(path, &text, &n) == TINV_OK);
    CHECK(n == 0 && text == NULL);
    ti_image_free(&img);
    ti_image_free(&img); /* twice is fine */
}

static void test_png_text_latin1_and_after_idat(void)
{
    /* tEXt is Latin-1 in the file; it comes back as UTF-8. */
    uint8_t px[3] = {1, 2, 3};
    png_text t[1] = {{0}};
    t[0].compression = PNG_TEXT_COMPRESSION_NONE;
    t[0].key = (png_charp) "Comment";
    t[0].text = (png_charp) "caf\xe9";
    t[0].text_length = 4;
    png_text after[1] = {{0}};
    after[0].compression = PNG_TEXT_COMPRESSION_zTXt;
    after[0].key = (png_charp) "Late";
    after[0].text = (png_charp) "written after IDAT, compressed";
    after[0].text_length = strlen(after[0].text);
    png_spec s = {SPEC(1, 1, 8, PNG_COLOR_TYPE_RGB, px, 3),
                  .text = t, .n_text = 1, .end_text = after, .n_end_text = 1};
    const char *path = check_tmp_path(tmpdir, "latin1.png");
    CHECK(write_png_spec(path, &s));
    char **text;
    size_t n;
    CHECK(ti_png_read_text(path, &text, &n) == TINV_OK);
    CHECK(n == 2 && strcmp(text[0], "Comment") == 0 && strcmp(text[1], "caf\xc3\xa9") == 0);
    CHECK(strcmp(text[2], "Late") == 0 && strcmp(text[3], "written after IDAT, compressed") == 0);
    ti_image_text_free(text, n);
    ti_image img;
    CHECK(ti_image_load(path, 3, &img) == TINV_OK && memcmp(img.pixels, px, 3) == 0);
    ti_image_free(&img);
}

static void test_png_round_trip_rgba(void)
{
    ti_image img;
    CHECK(ti_image_alloc(&img, 6, 4, 4) == TINV_OK);
    static const uint8_t alphas[] = {0, 1, 64, 128, 200, 254, 255};
    for (int i = 0; i < 24; i++) {
        img.pixels[4 * i] = rnd8();
        img.pixels[4 * i + 1] = rnd8();
        img.pixels[4 * i + 2] = rnd8();
        img.pixels[4 * i + 3] = alphas[i % 7];
    }
    const char *kv[] = {"Software", "libtinv"};
    const char *path = check_tmp_path(tmpdir, "rgba.PNG"); /* extension matched case-insensitively */
    CHECK(ti_image_save(path, &img, 0, kv, 1) == TINV_OK);

    ti_image back;
    CHECK(ti_image_load(path, 4, &back) == TINV_OK);
    CHECK(back.channels == 4 && memcmp(back.pixels, img.pixels, 24 * 4) == 0);
    ti_image_free(&back);

    /* Three channels: composited over white by default. */
    CHECK(ti_image_load(path, 3, &back) == TINV_OK);
    CHECK(back.channels == 3);
    for (int i = 0; i < 24; i++) {
        double a = img.pixels[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            long want = lround((img.pixels[4 * i + c] * a + 255.0 * (255.0 - a)) / 255.0);
            CHECK(back.pixels[3 * i + c] == want);
        }
        if (img.pixels[4 * i + 3] == 0)
            CHECK(back.pixels[3 * i] == 255 && back.pixels[3 * i + 1] == 255 && back.pixels[3 * i + 2] == 255);
    }
    ti_image_free(&back);

    /* ... or with alpha simply dropped, like PIL's convert("RGB"). */
    CHECK(ti_image_load_ex(path, 3, TI_IMAGE_ALPHA_DISCARD, &back) == TINV_OK);
    for (int i = 0; i < 24; i++)
        CHECK(memcmp(back.pixels + 3 * i, img.pixels + 4 * i, 3) == 0);
    ti_image_free(&back);
    ti_image_free(&img);
}

static void test_png_16bit(void)
{
    /* RGB 16-bit, big-endian samples; v -> round(v / 257). */
    static const uint16_t v[] = {0, 65535, 257 * 18, 0x1280, 128, 129, 257 * 200, 65000, 32768, 1000, 257, 40000};
    uint8_t data[4 * 3 * 2 * 1];
    for (int i = 0; i < 12; i++) {
        data[2 * i] = (uint8_t)(v[i] >> 8);
        data[2 * i + 1] = (uint8_t)v[i];
    }
    png_spec s = {SPEC(4, 1, 16, PNG_COLOR_TYPE_RGB, data, sizeof data)};
    const char *path = check_tmp_path(tmpdir, "rgb16.png");
    CHECK(write_png_spec(path, &s));
    ti_image img;
    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    CHECK(img.width == 4 && img.height == 1 && img.channels == 3);
    for (int i = 0; i < 12; i++)
        CHECK(img.pixels[i] == lround(v[i] / 257.0));
    ti_image_free(&img);

    /* Gray + alpha, 16-bit, read as RGBA. */
    uint8_t ga[3 * 4];
    static const uint16_t g[] = {257 * 10, 257 * 99, 65535}, a[] = {65535, 257 * 128, 0};
    for (int i = 0; i < 3; i++) {
        ga[4 * i] = (uint8_t)(g[i] >> 8);
        ga[4 * i + 1] = (uint8_t)g[i];
        ga[4 * i + 2] = (uint8_t)(a[i] >> 8);
        ga[4 * i + 3] = (uint8_t)a[i];
    }
    png_spec s2 = {SPEC(3, 1, 16, PNG_COLOR_TYPE_GRAY_ALPHA, ga, sizeof ga)};
    path = check_tmp_path(tmpdir, "ga16.png");
    CHECK(write_png_spec(path, &s2));
    CHECK(ti_image_load(path, 4, &img) == TINV_OK);
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 4; c++)
            CHECK(img.pixels[4 * i + c] == (c < 3 ? g[i] / 257 : a[i] / 257));
    ti_image_free(&img);
}

static void test_png_gray(void)
{
    /* Each low bit depth, one sample per byte in the spec (libpng packs them). */
    for (int depth = 1; depth <= 8; depth *= 2) {
        int maxv = (1 << depth) - 1, w = 11, h = 3;
        uint8_t data[33];
        for (int i = 0; i < w * h; i++)
            data[i] = (uint8_t)((i * 7 + 3) % (maxv + 1));
        png_spec s = {SPEC(w, h, depth, PNG_COLOR_TYPE_GRAY, data, (size_t)w)};
        char name[32];
        snprintf(name, sizeof name, "gray%d.png", depth);
        const char *path = check_tmp_path(tmpdir, name);
        CHECK(write_png_spec(path, &s));
        ti_image img;
        CHECK(ti_image_load(path, 3, &img) == TINV_OK);
        CHECK(img.width == w && img.height == h && img.channels == 3);
        for (int i = 0; i < w * h; i++) {
            int want = data[i] * 255 / maxv; /* exact for these depths */
            CHECK(img.pixels[3 * i] == want && img.pixels[3 * i + 1] == want && img.pixels[3 * i + 2] == want);
        }
        ti_image_free(&img);
    }

    /* 8-bit gray + alpha. */
    uint8_t ga[] = {10, 255, 100, 0, 200, 128};
    png_spec s = {SPEC(3, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, ga, sizeof ga)};
    const char *path = check_tmp_path(tmpdir, "ga8.png");
    CHECK(write_png_spec(path, &s));
    ti_image img;
    CHECK(ti_image_load(path, 4, &img) == TINV_OK);
    static const uint8_t want4[] = {10, 10, 10, 255, 100, 100, 100, 0, 200, 200, 200, 128};
    CHECK(memcmp(img.pixels, want4, sizeof want4) == 0);
    ti_image_free(&img);
    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    long mix = lround((200 * 128.0 + 255 * 127.0) / 255.0);
    CHECK(img.pixels[0] == 10 && img.pixels[3] == 255 && img.pixels[6] == mix && img.pixels[8] == mix);
    ti_image_free(&img);

    /* Gray with a tRNS colour key: value 5 is transparent. */
    uint8_t gk[] = {5, 6, 5, 200};
    png_color_16 key = {.gray = 5};
    png_spec s3 = {SPEC(4, 1, 8, PNG_COLOR_TYPE_GRAY, gk, 4), .trans_color = &key};
    path = check_tmp_path(tmpdir, "graykey.png");
    CHECK(write_png_spec(path, &s3));
    CHECK(ti_image_load(path, 4, &img) == TINV_OK);
    CHECK(img.pixels[3] == 0 && img.pixels[7] == 255 && img.pixels[11] == 0 && img.pixels[15] == 255);
    CHECK(img.pixels[4] == 6 && img.pixels[12] == 200);
    ti_image_free(&img);
}

static void test_png_palette_trns(void)
{
    static const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    static const png_byte trans[2] = {0, 128}; /* entries 2 and 3 stay opaque */
    uint8_t idx[5 * 2];
    for (int i = 0; i < 10; i++)
        idx[i] = (uint8_t)(i % 4);
    png_spec s = {SPEC(5, 2, 2, PNG_COLOR_TYPE_PALETTE, idx, 5),
                  .palette = pal, .n_palette = 4, .trans = trans, .n_trans = 2};
    const char *path = check_tmp_path(tmpdir, "pal.png");
    CHECK(write_png_spec(path, &s));

    ti_image img;
    CHECK(ti_image_load(path, 4, &img) == TINV_OK);
    CHECK(img.width == 5 && img.height == 2 && img.channels == 4);
    for (int i = 0; i < 10; i++) {
        const png_color *c = &pal[idx[i]];
        int a = idx[i] < 2 ? trans[idx[i]] : 255;
        CHECK(img.pixels[4 * i] == c->red && img.pixels[4 * i + 1] == c->green && img.pixels[4 * i + 2] == c->blue);
        CHECK(img.pixels[4 * i + 3] == a);
    }
    ti_image_free(&img);

    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    CHECK(img.channels == 3);
    /* index 0: fully transparent red -> white; index 1: half green over white. */
    CHECK(img.pixels[0] == 255 && img.pixels[1] == 255 && img.pixels[2] == 255);
    CHECK(img.pixels[3] == lround(255 * 127 / 255.0) && img.pixels[4] == 255 && img.pixels[5] == 127);
    CHECK(img.pixels[6] == 0 && img.pixels[7] == 0 && img.pixels[8] == 255);
    ti_image_free(&img);

    /* 8-bit palette without tRNS. */
    png_spec s2 = {SPEC(5, 2, 8, PNG_COLOR_TYPE_PALETTE, idx, 5), .palette = pal, .n_palette = 4};
    path = check_tmp_path(tmpdir, "pal8.png");
    CHECK(write_png_spec(path, &s2));
    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    for (int i = 0; i < 10; i++)
        CHECK(img.pixels[3 * i] == pal[idx[i]].red && img.pixels[3 * i + 2] == pal[idx[i]].blue);
    ti_image_free(&img);
}

static void test_png_interlaced(void)
{
    int w = 13, h = 11;
    uint8_t *data = malloc((size_t)w * (size_t)h * 4);
    for (int i = 0; i < w * h * 4; i++)
        data[i] = rnd8();
    png_spec s = {SPEC(w, h, 8, PNG_COLOR_TYPE_RGBA, data, (size_t)w * 4), .interlace = PNG_INTERLACE_ADAM7};
    const char *path = check_tmp_path(tmpdir, "adam7.png");
    CHECK(write_png_spec(path, &s));
    ti_image img;
    CHECK(ti_image_load(path, 4, &img) == TINV_OK);
    CHECK(img.width == w && img.height == h && memcmp(img.pixels, data, (size_t)w * (size_t)h * 4) == 0);
    ti_image_free(&img);

    /* Interlaced 1-bit gray too. */
    uint8_t bits[13 * 11];
    for (int i = 0; i < w * h; i++)
        bits[i] = (uint8_t)((i / 3 + i) & 1);
    png_spec s2 = {SPEC(w, h, 1, PNG_COLOR_TYPE_GRAY, bits, (size_t)w), .interlace = PNG_INTERLACE_ADAM7};
    path = check_tmp_path(tmpdir, "adam7_1bit.png");
    CHECK(write_png_spec(path, &s2));
    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    for (int i = 0; i < w * h; i++)
        CHECK(img.pixels[3 * i + 1] == (bits[i] ? 255 : 0));
    ti_image_free(&img);
    free(data);
}

/* ---- JPEG ---------------------------------------------------------------------------- */

static void check_jpeg_rgb(const char *name, int progressive)
{
    int w = 48, h = 32;
    uint8_t *src = gradient_rgb(w, h);
    const char *path = check_tmp_path(tmpdir, name);
    CHECK(write_jpeg_lib(path, w, h, 3, JCS_RGB, JCS_UNKNOWN, src, 95, progressive));
    ti_image img;
    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    CHECK(img.width == w && img.height == h && img.channels == 3);
    int max;
    double mean;
    diff_stats(img.pixels, src, (size_t)w * (size_t)h * 3, &max, &mean);
    if (max > 12 || mean > 2.0)
        fprintf(stderr, "    %s: max diff %d, mean %.3f\n", name, max, mean);
    CHECK(max <= 12 && mean <= 2.0);
    ti_image_free(&img);

    CHECK(ti_image_load(path, 4, &img) == TINV_OK);
    CHECK(img.channels == 4);
    for (int i = 0; i < w * h; i++)
        CHECK(img.pixels[4 * i + 3] == 255);
    ti_image_free(&img);
    free(src);
}

static void test_jpeg_baseline(void) { check_jpeg_rgb("base.jpg", 0); }
static void test_jpeg_progressive(void) { check_jpeg_rgb("prog.jpg", 1); }

static void test_jpeg_grayscale(void)
{
    int w = 24, h = 16;
    uint8_t g[24 * 16];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            g[y * w + x] = (uint8_t)(40 + x * 6 + y * 3);
    const char *path = check_tmp_path(tmpdir, "gray.jpeg");
    CHECK(write_jpeg_lib(path, w, h, 1, JCS_GRAYSCALE, JCS_UNKNOWN, g, 95, 0));
    ti_image img;
    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    CHECK(img.width == w && img.height == h);
    for (int i = 0; i < w * h; i++) {
        CHECK(img.pixels[3 * i] == img.pixels[3 * i + 1] && img.pixels[3 * i] == img.pixels[3 * i + 2]);
        CHECK(abs((int)img.pixels[3 * i] - (int)g[i]) <= 4);
    }
    ti_image_free(&img);

    /* Progressive grayscale as well. */
    path = check_tmp_path(tmpdir, "gray_prog.jpg");
    CHECK(write_jpeg_lib(path, w, h, 1, JCS_GRAYSCALE, JCS_UNKNOWN, g, 95, 1));
    CHECK(ti_image_load(path, 3, &img) == TINV_OK);
    for (int i = 0; i < w * h; i++)
        CHECK(abs((int)img.pixels[3 * i + 2] - (int)g[i]) <= 4);
    ti_image_free(&img);
}

static void test_jpeg_cmyk_ycck(void)
{
    /* libjpeg writes an Adobe marker for CMYK/YCCK, so the stored values are read as inverted
     * ink (255 = none): R = C * K / 255 and so on. */
    int w = 16, h = 16;
    uint8_t *d = malloc((size_t)w * (size_t)h * 4);
    for (int i = 0; i < w * h; i++) {
        d[4 * i] = 200;
        d[4 * i + 1] = 100;
        d[4 * i + 2] = 50;
        d[4 * i + 3] = 220;
    }
    const double want[3] = {200 * 220 / 255.0, 100 * 220 / 255.0, 50 * 220 / 255.0};
    J_COLOR_SPACE spaces[2] = {JCS_CMYK, JCS_YCCK};
    for (int k = 0; k < 2; k++) {
        const char *path = check_tmp_path(tmpdir, k == 0 ? "cmyk.jpg" : "ycck.jpg");
        CHECK(write_jpeg_lib(path, w, h, 4, JCS_CMYK, spaces[k], d, 100, 0));
        ti_image img;
        CHECK(ti_image_load(path, 3, &img) == TINV_OK);
        CHECK(img.width == w && img.height == h && img.channels == 3);
        for (int i = 0; i < w * h; i++)
            for (int c = 0; c < 3; c++)
                CHECK_NEAR(img.pixels[3 * i + c], want[c], 3.0);
        ti_image_free(&img);
    }
    free(d);
}

static void test_jpeg_save_round_trip(void)
{
    int w = 40, h = 30;
    ti_image img = {w, h, 3, gradient_rgb(w, h)};
    const char *kv[] = {"prompt", "a <cat-toy> on a beach", "seed", "42"};
    const char *path = check_tmp_path(tmpdir, "saved.jpg");
    CHECK(ti_image_save(path, &img, 92, kv, 2) == TINV_OK);
    CHECK(!exists(check_tmp_path(tmpdir, "saved.jpg.tmp")));
    ti_image back;
    CHECK(ti_image_load(path, 3, &back) == TINV_OK);
    int max;
    double mean;
    diff_stats(back.pixels, img.pixels, (size_t)w * (size_t)h * 3, &max, &mean);
    CHECK(max <= 14 && mean <= 2.5);
    ti_image_free(&back);

    /* The pairs are in a COM segment. */
    size_t size;
    unsigned char *raw = check_read_file(path, &size);
    CHECK(raw != NULL);
    int found = 0;
    for (size_t i = 0; i + 4 < size && !found; i++)
        if (raw[i] == 0xFF && raw[i + 1] == 0xFE) {
            size_t len = (size_t)raw[i + 2] << 8 | raw[i + 3];
            found = len - 2 == strlen("prompt: a <cat-toy> on a beach\nseed: 42") &&
                    memcmp(raw + i + 4, "prompt: a <cat-toy> on a beach\nseed: 42", len - 2) == 0;
        }
    free(raw);
    CHECK(found);

    /* Lower quality gives a smaller file. */
    CHECK(ti_image_save(check_tmp_path(tmpdir, "q10.jpeg"), &img, 10, NULL, 0) == TINV_OK);
    size_t s10, s92;
    free(check_read_file(check_tmp_path(tmpdir, "q10.jpeg"), &s10));
    free(check_read_file(path, &s92));
    CHECK(s10 < s92);
    ti_image_free(&img);
}

/* ---- errors -------------------------------------------------------------------------- */

static void test_save_errors(void)
{
    ti_image img;
    CHECK(ti_image_alloc(&img, 4, 4, 3) == TINV_OK);
    const char *p = check_tmp_path(tmpdir, "x.bmp");
    CHECK(expect_status(ti_image_save(p, &img, 90, NULL, 0), TINV_ERR_INVALID_ARGUMENT, p, "extension"));
    p = check_tmp_path(tmpdir, "noext");
    CHECK(expect_status(ti_image_save(p, &img, 90, NULL, 0), TINV_ERR_INVALID_ARGUMENT, p, NULL));
    p = check_tmp_path(tmpdir, "dir.png/file");
    CHECK(expect_status(ti_image_save(p, &img, 90, NULL, 0), TINV_ERR_INVALID_ARGUMENT, p, NULL));
    p = check_tmp_path(tmpdir, "q.jpg");
    CHECK(expect_status(ti_image_save(p, &img, 0, NULL, 0), TINV_ERR_INVALID_ARGUMENT, p, "quality"));
    CHECK(expect_status(ti_image_save(p, &img, 101, NULL, 0), TINV_ERR_INVALID_ARGUMENT, p, "quality"));
    CHECK(!exists(p));

    ti_image rgba;
    CHECK(ti_image_convert(&img, 4, 0, &rgba) == TINV_OK);
    CHECK(expect_status(ti_image_save(p, &rgba, 90, NULL, 0), TINV_ERR_INVALID_ARGUMENT, p, "alpha"));
    ti_image_free(&rgba);

    static const char *bad_keys[] = {"", " lead", "trail ", "two  spaces", "tab\there", "caf\xc3\xa9",
                                     "0123456789012345678901234567890123456789012345678901234567890123456789012345678"
                                     "9"};
    p = check_tmp_path(tmpdir, "badkey.png");
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
        const char *kv[] = {bad_keys[i], "v"};
        CHECK(expect_status(ti_image_save(p, &img, 0, kv, 1), TINV_ERR_INVALID_ARGUMENT, p, "key"));
        CHECK(!exists(p) && !exists(check_tmp_path(tmpdir, "badkey.png.tmp")));
    }
    const char *null_value[] = {"k", NULL};
    CHECK(ti_image_save(p, &img, 0, null_value, 1) == TINV_ERR_INVALID_ARGUMENT);

    p = check_tmp_path(tmpdir, "missing/dir/out.png");
    CHECK(expect_status(ti_image_save(p, &img, 0, NULL, 0), TINV_ERR_IO, "out.png.tmp", NULL));

    ti_image empty = {0};
    CHECK(ti_image_save(check_tmp_path(tmpdir, "e.png"), &empty, 0, NULL, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_image_save(check_tmp_path(tmpdir, "e.png"), NULL, 0, NULL, 0) == TINV_ERR_INVALID_ARGUMENT);
    ti_image_free(&img);
}

static void test_load_sniffing(void)
{
    ti_image img = {1, 1, 3, NULL};
    const char *p = check_tmp_path(tmpdir, "text.png");
    CHECK(check_write_file(p, "hello, world\n", 13));
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_UNSUPPORTED, p, "unrecognised"));
    CHECK(img.pixels == NULL && img.width == 0);

    p = check_tmp_path(tmpdir, "anim.jpg");
    CHECK(check_write_file(p, "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14));
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_UNSUPPORTED, p, "GIF"));
    p = check_tmp_path(tmpdir, "pic.webp");
    CHECK(check_write_file(p, "RIFF\x10\x00\x00\x00WEBPVP8 ", 16));
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_UNSUPPORTED, p, "WebP"));

    p = check_tmp_path(tmpdir, "empty.png");
    CHECK(check_write_file(p, "", 0));
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_BAD_FORMAT, p, "empty"));

    p = check_tmp_path(tmpdir, "does_not_exist.png");
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_IO, p, NULL));
    CHECK(ti_image_load(p, 2, &img) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_image_load(NULL, 3, &img) == TINV_ERR_INVALID_ARGUMENT);

    /* A JPEG named .png (and a PNG named .jpg) load by content. */
    uint8_t *g = gradient_rgb(8, 8);
    p = check_tmp_path(tmpdir, "really_jpeg.png");
    CHECK(write_jpeg_lib(p, 8, 8, 3, JCS_RGB, JCS_UNKNOWN, g, 90, 0));
    CHECK(ti_image_load(p, 3, &img) == TINV_OK && img.width == 8);
    ti_image_free(&img);
    png_spec s = {SPEC(8, 8, 8, PNG_COLOR_TYPE_RGB, g, 24)};
    p = check_tmp_path(tmpdir, "really_png.jpg");
    CHECK(write_png_spec(p, &s));
    CHECK(ti_image_load(p, 3, &img) == TINV_OK && memcmp(img.pixels, g, 8 * 8 * 3) == 0);
    ti_image_free(&img);
    /* The format readers themselves reject the other format. */
    CHECK(expect_status(ti_png_read(check_tmp_path(tmpdir, "really_jpeg.png"), 3, 0, &img), TINV_ERR_BAD_FORMAT, NULL, "PNG"));
    CHECK(expect_status(ti_jpeg_read(p, 3, 0, &img), TINV_ERR_BAD_FORMAT, p, NULL));
    free(g);
}

static void test_png_corrupt(void)
{
    int w = 32, h = 32;
    uint8_t *noise = malloc((size_t)w * (size_t)h * 3);
    for (int i = 0; i < w * h * 3; i++)
        noise[i] = rnd8();
    png_spec s = {SPEC(w, h, 8, PNG_COLOR_TYPE_RGB, noise, (size_t)w * 3)};
    const char *good = check_tmp_path(tmpdir, "good.png");
    CHECK(write_png_spec(good, &s));
    size_t size;
    unsigned char *raw = check_read_file(good, &size);
    CHECK(raw != NULL && size > 100);

    /* Every truncation after the signature fails cleanly, for the image and its text. */
    const char *p = check_tmp_path(tmpdir, "trunc.png");
    for (size_t n = 8; n < size; n++) {
        CHECK(check_write_file(p, raw, n));
        ti_image img = {0};
        tinv_status st = ti_image_load(p, 3, &img);
        if (n == size / 2 || n == 8 || n == size - 1)
            CHECK(expect_status(st, TINV_ERR_BAD_FORMAT, p, "PNG"));
        CHECK(st == TINV_ERR_BAD_FORMAT && img.pixels == NULL);
        char **kv = (char **)1;
        size_t nkv = 7;
        CHECK(ti_png_read_text(p, &kv, &nkv) == TINV_ERR_BAD_FORMAT && kv == NULL && nkv == 0);
    }

    /* A flipped byte inside IDAT: CRC mismatch. */
    unsigned char *bad = malloc(size);
    memcpy(bad, raw, size);
    bad[size / 2] ^= 0x5A;
    p = check_tmp_path(tmpdir, "flipped.png");
    CHECK(check_write_file(p, bad, size));
    ti_image img;
    CHECK(expect_status(ti_image_load(p, 4, &img), TINV_ERR_BAD_FORMAT, p, NULL));

    /* Random garbage after a valid signature, at many seeds. */
    p = check_tmp_path(tmpdir, "garbage.png");
    for (int k = 0; k < 50; k++) {
        memcpy(bad, raw, size);
        for (size_t i = 8 + (size_t)k; i < size; i += 1 + (size_t)(rnd8() % 64))
            bad[i] = rnd8();
        CHECK(check_write_file(p, bad, size));
        tinv_status st = ti_image_load(p, 3, &img);
        CHECK(st == TINV_ERR_BAD_FORMAT || st == TINV_OK);
        ti_image_free(&img);
    }
    free(bad);
    free(raw);
    free(noise);
}

static void test_jpeg_corrupt(void)
{
    int w = 40, h = 24;
    uint8_t *noise = malloc((size_t)w * (size_t)h * 3);
    for (int i = 0; i < w * h * 3; i++)
        noise[i] = rnd8();
    for (int prog = 0; prog < 2; prog++) {
        const char *good = check_tmp_path(tmpdir, "good.jpg");
        CHECK(write_jpeg_lib(good, w, h, 3, JCS_RGB, JCS_UNKNOWN, noise, 90, prog));
        size_t size;
        unsigned char *raw = check_read_file(good, &size);
        CHECK(raw != NULL && size > 200);
        const char *p = check_tmp_path(tmpdir, "trunc.jpg");
        /* Cut anywhere before the end-of-image marker: always BAD_FORMAT, never gray padding. */
        for (size_t n = 3; n + 2 < size; n++) {
            CHECK(check_write_file(p, raw, n));
            ti_image img = {0};
            tinv_status st = ti_image_load(p, 3, &img);
            if (st != TINV_ERR_BAD_FORMAT)
                fprintf(stderr, "    progressive=%d, cut at %zu of %zu: status %d\n", prog, n, size, (int)st);
            CHECK(st == TINV_ERR_BAD_FORMAT && img.pixels == NULL);
            if (n == size / 2)
                CHECK(expect_status(st, TINV_ERR_BAD_FORMAT, p, "JPEG"));
        }
        /* Random garbage in the entropy-coded data and headers. */
        unsigned char *bad = malloc(size);
        p = check_tmp_path(tmpdir, "garbage.jpg");
        for (int k = 0; k < 50; k++) {
            memcpy(bad, raw, size);
            for (size_t i = 3 + (size_t)k * 3; i < size; i += 1 + (size_t)(rnd8() % 97))
                bad[i] = rnd8();
            CHECK(check_write_file(p, bad, size));
            ti_image img = {0};
            tinv_status st = ti_image_load(p, 3, &img);
            CHECK(st == TINV_ERR_BAD_FORMAT || st == TINV_OK);
            ti_image_free(&img);
        }
        free(bad);
        free(raw);
    }
    const char *p = check_tmp_path(tmpdir, "soi_only.jpg");
    CHECK(check_write_file(p, "\xFF\xD8\xFF\xE0\x00\x10JFIF", 10));
    ti_image img;
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_BAD_FORMAT, p, NULL));
    free(noise);
}

static void put_chunk(unsigned char *buf, size_t *pos, const char *type, const unsigned char *data, uint32_t len)
{
    unsigned char *c = buf + *pos;
    c[0] = (unsigned char)(len >> 24);
    c[1] = (unsigned char)(len >> 16);
    c[2] = (unsigned char)(len >> 8);
    c[3] = (unsigned char)len;
    memcpy(c + 4, type, 4);
    if (len)
        memcpy(c + 8, data, len);
    uint32_t crc = (uint32_t)crc32(0, c + 4, 4 + len);
    c[8 + len] = (unsigned char)(crc >> 24);
    c[9 + len] = (unsigned char)(crc >> 16);
    c[10 + len] = (unsigned char)(crc >> 8);
    c[11 + len] = (unsigned char)crc;
    *pos += 12 + len;
}

/* A valid-looking PNG whose header claims w x h; the data is a few compressed zero bytes. */
static const char *write_png_header_only(const char *name, uint32_t w, uint32_t h)
{
    unsigned char buf[256];
    size_t pos = 0;
    memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
    pos = 8;
    unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16), (unsigned char)(w >> 8),
                              (unsigned char)w,         (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                              (unsigned char)(h >> 8),  (unsigned char)h,         8, 2, 0, 0, 0};
    put_chunk(buf, &pos, "IHDR", ihdr, 13);
    unsigned char zeros[64] = {0}, z[128];
    uLongf zlen = sizeof z;
    compress2(z, &zlen, zeros, sizeof zeros, 9);
    put_chunk(buf, &pos, "IDAT", z, (uint32_t)zlen);
    put_chunk(buf, &pos, "IEND", NULL, 0);
    const char *p = check_tmp_path(tmpdir, name);
    return check_write_file(p, buf, pos) ? p : NULL;
}

static void test_oversized_refused(void)
{
    ti_image img;
    const char *p = write_png_header_only("huge.png", 100000, 100000);
    CHECK(p != NULL);
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_BAD_FORMAT, p, "100000x100000"));
    CHECK(strstr(tinv_last_error(), "too large") != NULL);
    CHECK(img.pixels == NULL);
    p = write_png_header_only("wide.png", 40000, 10);
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_BAD_FORMAT, p, "too large"));
    p = write_png_header_only("many.png", 20000, 20000); /* sides fine, 4e8 pixels not */
    CHECK(expect_status(ti_image_load(p, 4, &img), TINV_ERR_BAD_FORMAT, p, "too large"));
    /* The header-only file at a sane size is simply short of data. */
    p = write_png_header_only("small.png", 100, 100);
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_BAD_FORMAT, p, NULL));

    /* JPEG: patch the SOF0 dimensions of a small file to 60000 x 60000. */
    uint8_t *g = gradient_rgb(16, 16);
    p = check_tmp_path(tmpdir, "huge.jpg");
    CHECK(write_jpeg_lib(p, 16, 16, 3, JCS_RGB, JCS_UNKNOWN, g, 90, 0));
    free(g);
    size_t size;
    unsigned char *raw = check_read_file(p, &size);
    int patched = 0;
    for (size_t i = 2; i + 9 < size && !patched; i++)
        if (raw[i] == 0xFF && raw[i + 1] == 0xC0) {
            raw[i + 5] = 0xEA; /* height 60000 */
            raw[i + 6] = 0x60;
            raw[i + 7] = 0xEA; /* width 60000 */
            raw[i + 8] = 0x60;
            patched = 1;
        }
    CHECK(patched && check_write_file(p, raw, size));
    free(raw);
    CHECK(expect_status(ti_image_load(p, 3, &img), TINV_ERR_BAD_FORMAT, p, "60000x60000"));
    CHECK(strstr(tinv_last_error(), "too large") != NULL);

    /* Allocation limits apply to callers too. */
    CHECK(ti_image_alloc(&img, 40000, 1, 3) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_image_alloc(&img, 4, 4, 2) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_image_alloc(&img, 0, 4, 3) == TINV_ERR_INVALID_ARGUMENT);
}

/* ---- resize -------------------------------------------------------------------------- */

/* Keys' cubic with a = -0.5, written out as polynomials. */
static double ref_cubic(double t)
{
    t = fabs(t);
    if (t < 1.0)
        return 1.5 * t * t * t - 2.5 * t * t + 1.0;
    if (t < 2.0)
        return -0.5 * t * t * t + 2.5 * t * t - 4.0 * t + 2.0;
    return 0.0;
}

/* Normalised weights of every input pixel for output index o (PIL's definition: pixel centres
 * i + 0.5 against the output centre (o + 0.5) * scale, kernel stretched by max(scale, 1)). */
static void ref_weights(int in, int out, int o, double *w)
{
    double scale = (double)in / out, fs = scale > 1.0 ? scale : 1.0, center = (o + 0.5) * scale, sum = 0.0;
    for (int i = 0; i < in; i++) {
        w[i] = ref_cubic((i + 0.5 - center) / fs);
        sum += w[i];
    }
    for (int i = 0; i < in; i++)
        w[i] /= sum;
}

/* Direct 2-D weighted sum in double; returns the unrounded value. */
static double ref_resize_value(const ti_image *src, int ow, int oh, int ox, int oy, int c)
{
    double *wx = malloc((size_t)src->width * sizeof *wx), *wy = malloc((size_t)src->height * sizeof *wy);
    ref_weights(src->width, ow, ox, wx);
    ref_weights(src->height, oh, oy, wy);
    double s = 0.0;
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < src->width; x++)
            s += wx[x] * wy[y] *
                 src->pixels[((size_t)y * (size_t)src->width + (size_t)x) * (size_t)src->channels + (size_t)c];
    free(wx);
    free(wy);
    return s;
}

static int check_against_reference(const ti_image *src, int ow, int oh)
{
    ti_image out;
    if (ti_image_resize(src, ow, oh, &out) != TINV_OK || out.width != ow || out.height != oh ||
        out.channels != src->channels)
        return 0;
    int ok = 1;
    for (int y = 0; y < oh && ok; y++)
        for (int x = 0; x < ow && ok; x++)
            for (int c = 0; c < src->channels && ok; c++) {
                double v = ref_resize_value(src, ow, oh, x, y, c);
                double r = floor(v + 0.5);
                r = r < 0 ? 0 : r > 255 ? 255 : r;
                int got = out.pixels[((size_t)y * (size_t)ow + (size_t)x) * (size_t)src->channels + (size_t)c];
                /* Allow the other neighbour only at a (numerically) exact .5 tie. */
                int tie = fabs(v - floor(v) - 0.5) < 1e-9;
                if (got != (int)r && !(tie && abs(got - (int)r) == 1)) {
                    fprintf(stderr, "    %dx%d -> %dx%d at (%d,%d,%d): got %d, reference %.6f\n", src->width,
                            src->height, ow, oh, x, y, c, got, v);
                    ok = 0;
                }
            }
    ti_image_free(&out);
    return ok;
}

static void test_resize_reference(void)
{
    ti_image src;
    CHECK(ti_image_alloc(&src, 13, 9, 3) == TINV_OK);
    for (size_t i = 0; i < 13 * 9 * 3; i++)
        src.pixels[i] = rnd8();
    CHECK(check_against_reference(&src, 5, 7));   /* shrink x, enlarge y */
    CHECK(check_against_reference(&src, 4, 3));   /* shrink both, non-integer factors */
    CHECK(check_against_reference(&src, 26, 18)); /* enlarge both: overshoot gets clamped */
    CHECK(check_against_reference(&src, 13, 9));  /* same size: identity */
    CHECK(check_against_reference(&src, 1, 1));
    ti_image_free(&src);

    CHECK(ti_image_alloc(&src, 37, 23, 4) == TINV_OK);
    for (size_t i = 0; i < 37 * 23 * 4; i++)
        src.pixels[i] = rnd8();
    CHECK(check_against_reference(&src, 10, 16));
    CHECK(check_against_reference(&src, 7, 5));
    ti_image_free(&src);

    /* Identity really is exact. */
    CHECK(ti_image_alloc(&src, 9, 6, 3) == TINV_OK);
    for (size_t i = 0; i < 9 * 6 * 3; i++)
        src.pixels[i] = rnd8();
    ti_image out;
    CHECK(ti_image_resize(&src, 9, 6, &out) == TINV_OK);
    CHECK(memcmp(out.pixels, src.pixels, 9 * 6 * 3) == 0);
    ti_image_free(&out);
    CHECK(ti_image_resize(&src, 0, 6, &out) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_image_resize(&src, 40000, 6, &out) == TINV_ERR_INVALID_ARGUMENT);
    ti_image_free(&src);
}

static void test_resize_constant(void)
{
    ti_image src;
    CHECK(ti_image_alloc(&src, 37, 23, 3) == TINV_OK);
    for (int i = 0; i < 37 * 23; i++) {
        src.pixels[3 * i] = 10;
        src.pixels[3 * i + 1] = 128;
        src.pixels[3 * i + 2] = 250;
    }
    static const int sizes[][2] = {{16, 11}, {50, 40}, {37, 5}, {1, 1}, {100, 3}};
    for (int k = 0; k < 5; k++) {
        ti_image out;
        CHECK(ti_image_resize(&src, sizes[k][0], sizes[k][1], &out) == TINV_OK);
        for (int i = 0; i < out.width * out.height; i++)
            CHECK(out.pixels[3 * i] == 10 && out.pixels[3 * i + 1] == 128 && out.pixels[3 * i + 2] == 250);
        ti_image_free(&out);
    }
    ti_image_free(&src);
}

static void test_resize_checkerboard_averages(void)
{
    /* Shrinking a checkerboard by its period averages it to mid gray away from the borders (the
     * bicubic kernel is a partition of unity, so each phase gets the same total weight). */
    static const int cell[2] = {1, 2}, factor[2] = {2, 4};
    for (int k = 0; k < 2; k++) {
        int n = 64;
        ti_image src;
        CHECK(ti_image_alloc(&src, n, n, 3) == TINV_OK);
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
                memset(src.pixels + ((size_t)y * (size_t)n + (size_t)x) * 3,
                       ((x / cell[k] + y / cell[k]) & 1) ? 255 : 0, 3);
        int m = n / factor[k];
        ti_image out;
        CHECK(ti_image_resize(&src, m, m, &out) == TINV_OK);
        for (int y = 2; y < m - 2; y++)
            for (int x = 2; x < m - 2; x++) {
                int v = out.pixels[((size_t)y * (size_t)m + (size_t)x) * 3];
                CHECK(v == 127 || v == 128);
            }
        ti_image_free(&out);
        ti_image_free(&src);
    }
}

static void test_resize_short_side(void)
{
    static const int cases[][5] = {
        /* w, h, size, want w, want h */
        {300, 200, 64, 96, 64}, {200, 300, 64, 64, 96}, {333, 500, 512, 512, 768}, {50, 50, 20, 20, 20},
        {10, 7, 3, 4, 3},
    };
    for (int k = 0; k < 5; k++) {
        ti_image src, out;
        CHECK(ti_image_alloc(&src, cases[k][0], cases[k][1], 3) == TINV_OK);
        CHECK(ti_image_resize_short_side(&src, cases[k][2], &out) == TINV_OK);
        CHECK(out.width == cases[k][3] && out.height == cases[k][4]);
        ti_image_free(&out);
        ti_image_free(&src);
    }
}

/* ---- crop, flip, convert ------------------------------------------------------------- */

static ti_image numbered(int w, int h, int ch)
{
    ti_image img;
    ti_image_alloc(&img, w, h, ch);
    for (int i = 0; i < w * h * ch; i++)
        img.pixels[i] = (uint8_t)i;
    return img;
}

static void test_crop_flip(void)
{
    ti_image img = numbered(5, 4, 3), out;
    CHECK(ti_image_crop(&img, 1, 2, 3, 2, &out) == TINV_OK);
    CHECK(out.width == 3 && out.height == 2 && out.channels == 3);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < 3; c++)
                CHECK(out.pixels[(y * 3 + x) * 3 + c] == img.pixels[((y + 2) * 5 + x + 1) * 3 + c]);
    ti_image_free(&out);
    CHECK(ti_image_crop(&img, 0, 0, 5, 4, &out) == TINV_OK && memcmp(out.pixels, img.pixels, 60) == 0);
    ti_image_free(&out);
    CHECK(ti_image_crop(&img, 3, 0, 3, 2, &out) == TINV_ERR_INVALID_ARGUMENT && out.pixels == NULL);
    CHECK(ti_image_crop(&img, -1, 0, 3, 2, &out) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_image_crop(&img, 0, 3, 3, 2, &out) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_image_crop(&img, 0, 0, 0, 2, &out) == TINV_ERR_INVALID_ARGUMENT);

    /* Centre crop rounds the offset down: (5-2)/2 = 1, (4-1)/2 = 1. */
    CHECK(ti_image_center_crop(&img, 2, 1, &out) == TINV_OK);
    CHECK(memcmp(out.pixels, img.pixels + (1 * 5 + 1) * 3, 6) == 0);
    ti_image_free(&out);
    CHECK(ti_image_center_crop(&img, 6, 1, &out) == TINV_ERR_INVALID_ARGUMENT);

    /* Flip: odd and even widths, RGB and RGBA; twice is the identity. */
    for (int w = 4; w <= 5; w++)
        for (int ch = 3; ch <= 4; ch++) {
            ti_image a = numbered(w, 3, ch), b = numbered(w, 3, ch);
            ti_image_flip_h(&a);
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < w; x++)
                    CHECK(memcmp(a.pixels + (y * w + x) * ch, b.pixels + (y * w + (w - 1 - x)) * ch, (size_t)ch) == 0);
            ti_image_flip_h(&a);
            CHECK(memcmp(a.pixels, b.pixels, (size_t)(w * 3 * ch)) == 0);
            ti_image_free(&a);
            ti_image_free(&b);
        }
    ti_image_flip_h(NULL);
    ti_image_free(&img);

    /* RGB <-> RGBA. */
    ti_image rgb = numbered(3, 2, 3), rgba, back;
    CHECK(ti_image_convert(&rgb, 4, 0, &rgba) == TINV_OK);
    CHECK(rgba.channels == 4 && rgba.pixels[3] == 255 && rgba.pixels[4] == 3);
    CHECK(ti_image_convert(&rgba, 3, 0, &back) == TINV_OK && memcmp(back.pixels, rgb.pixels, 18) == 0);
    ti_image_free(&back);
    ti_image_free(&rgba);
    ti_image_free(&rgb);
}

static void test_float_conversions(void)
{
    ti_image img;
    CHECK(ti_image_alloc(&img, 16, 16, 3) == TINV_OK);
    for (int i = 0; i < 256; i++) {
        img.pixels[3 * i] = (uint8_t)i;
        img.pixels[3 * i + 1] = (uint8_t)(255 - i);
        img.pixels[3 * i + 2] = (uint8_t)(i * 7);
    }
    size_t n = 3 * 256;
    float *f = malloc(n * sizeof *f);
    CHECK(ti_image_to_float(&img, f, n) == TINV_OK);
    /* CHW: plane c holds channel c. */
    CHECK(f[0] == -1.0f && f[255] == 1.0f && f[256] == 1.0f && f[256 + 255] == -1.0f);
    CHECK(f[127] == (float)(127 / 127.5 - 1.0) && f[2 * 256 + 1] == (float)(7 / 127.5 - 1.0));
    for (size_t i = 0; i < n; i++)
        CHECK(f[i] >= -1.0f && f[i] <= 1.0f);
    CHECK(ti_image_to_float(&img, f, n - 1) == TINV_ERR_INVALID_ARGUMENT);

    /* Round trip through [-1, 1] is exact. */
    ti_image back;
    CHECK(ti_image_from_float(f, 16, 16, 1, &back) == TINV_OK);
    CHECK(back.width == 16 && back.height == 16 && back.channels == 3);
    CHECK(memcmp(back.pixels, img.pixels, n) == 0);
    ti_image_free(&back);

    /* [0, 1] input: clamping, rounding half to even like numpy. */
    float u[3] = {0.5f, -3.0f, INFINITY};
    CHECK(ti_image_from_float(u, 1, 1, 0, &back) == TINV_OK);
    CHECK(back.pixels[0] == 128 && back.pixels[1] == 0 && back.pixels[2] == 255);
    ti_image_free(&back);
    float tie = 2.5f / 255.0f;
    if (tie * 255.0f == 2.5f) { /* the product lands exactly on the tie: rounds to even */
        float t3[3] = {tie, tie, tie};
        CHECK(ti_image_from_float(t3, 1, 1, 0, &back) == TINV_OK && back.pixels[0] == 2);
        ti_image_free(&back);
    }
    float s3[3] = {0.0f, 1.0f, -1.0f};
    CHECK(ti_image_from_float(s3, 1, 1, 1, &back) == TINV_OK);
    CHECK(back.pixels[0] == 128 && back.pixels[1] == 255 && back.pixels[2] == 0);
    ti_image_free(&back);

    float nan3[3] = {0.1f, NAN, 0.2f};
    CHECK(ti_image_from_float(nan3, 1, 1, 0, &back) == TINV_ERR_NUMERIC && back.pixels == NULL);
    CHECK(ti_image_from_float(u, 0, 1, 0, &back) == TINV_ERR_INVALID_ARGUMENT);

    ti_image rgba;
    CHECK(ti_image_convert(&img, 4, 0, &rgba) == TINV_OK);
    CHECK(ti_image_to_float(&rgba, f, n) == TINV_ERR_INVALID_ARGUMENT);
    ti_image_free(&rgba);
    free(f);
    ti_image_free(&img);
}

static void test_grid(void)
{
    ti_image imgs[3];
    for (int i = 0; i < 3; i++) {
        CHECK(ti_image_alloc(&imgs[i], 2, 1, 3) == TINV_OK);
        memset(imgs[i].pixels, 50 * (i + 1), 6);
        imgs[i].pixels[3] = (uint8_t)(i + 1); /* marks the right pixel */
    }
    ti_image g;
    CHECK(ti_image_grid(imgs, 3, 2, 2, &g) == TINV_OK);
    CHECK(g.width == 4 && g.height == 2 && g.channels == 3);
    /* Row 0: image 0 then image 1; row 1: image 2 then black. */
    static const uint8_t want[2][4][3] = {
        {{50, 50, 50}, {1, 50, 50}, {100, 100, 100}, {2, 100, 100}},
        {{150, 150, 150}, {3, 150, 150}, {0, 0, 0}, {0, 0, 0}},
    };
    CHECK(memcmp(g.pixels, want, sizeof want) == 0);
    ti_image_free(&g);

    /* One column: stacked vertically. */
    CHECK(ti_image_grid(imgs, 3, 3, 1, &g) == TINV_OK && g.width == 2 && g.height == 3);
    CHECK(g.pixels[2 * 3 * 2] == 150);
    ti_image_free(&g);

    CHECK(ti_image_grid(imgs, 3, 1, 2, &g) == TINV_ERR_INVALID_ARGUMENT && g.pixels == NULL);
    CHECK(ti_image_grid(imgs, 0, 1, 2, &g) == TINV_ERR_INVALID_ARGUMENT);
    ti_image odd;
    CHECK(ti_image_alloc(&odd, 3, 1, 3) == TINV_OK);
    ti_image mixed[2] = {imgs[0], odd};
    CHECK(expect_status(ti_image_grid(mixed, 2, 1, 2, &g), TINV_ERR_INVALID_ARGUMENT, NULL, "image 1"));
    ti_image_free(&odd);

    /* RGBA: empty cells are opaque black. */
    ti_image rgba;
    CHECK(ti_image_convert(&imgs[0], 4, 0, &rgba) == TINV_OK);
    CHECK(ti_image_grid(&rgba, 1, 1, 2, &g) == TINV_OK);
    CHECK(g.pixels[8] == 0 && g.pixels[11] == 255 && g.pixels[15] == 255 && g.pixels[0] == 50);
    ti_image_free(&g);
    ti_image_free(&rgba);
    for (int i = 0; i < 3; i++)
        ti_image_free(&imgs[i]);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_png_round_trip_rgb_text);
    RUN(test_png_text_latin1_and_after_idat);
    RUN(test_png_round_trip_rgba);
    RUN(test_png_16bit);
    RUN(test_png_gray);
    RUN(test_png_palette_trns);
    RUN(test_png_interlaced);
    RUN(test_jpeg_baseline);
    RUN(test_jpeg_progressive);
    RUN(test_jpeg_grayscale);
    RUN(test_jpeg_cmyk_ycck);
    RUN(test_jpeg_save_round_trip);
    RUN(test_save_errors);
    RUN(test_load_sniffing);
    RUN(test_png_corrupt);
    RUN(test_jpeg_corrupt);
    RUN(test_oversized_refused);
    RUN(test_resize_reference);
    RUN(test_resize_constant);
    RUN(test_resize_checkerboard_averages);
    RUN(test_resize_short_side);
    RUN(test_crop_flip);
    RUN(test_float_conversions);
    RUN(test_grid);
    check_remove_tree(tmpdir);
    return check_summary("test_image");
}
