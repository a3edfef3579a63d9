/* Tests of the trainer's data side: the training-image folder loader (formats, skips and their
 * warnings, hidden files, resize, upscaling), crops as float CHW (centre offsets, flip, values
 * checked by hand on gradients) and the prompt templates (built-in lists, file parsing, formatting).
 * Every picture is generated here at run time in a temporary folder. */
#include <ftw.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "image.h"
#include "log.h"
#include "train_images.h"
#include "train_templates.h"

static char tmpdir[] = "/tmp/tinv_data_XXXXXX";

/* ---- helpers --------------------------------------------------------------------------- */

/* A logger that keeps every message for inspection. */
#define MAX_MESSAGES 32
typedef struct captured {
    int n;
    tinv_log_level level[MAX_MESSAGES];
    char text[MAX_MESSAGES][1024];
} captured;

static void capture_fn(void *user, tinv_log_level level, const char *message)
{
    captured *c = user;
    if (c->n < MAX_MESSAGES) {
        c->level[c->n] = level;
        snprintf(c->text[c->n], sizeof c->text[0], "%s", message);
        c->n++;
    }
}

static ti_logger capture_logger(captured *c)
{
    memset(c, 0, sizeof *c);
    ti_logger l = {capture_fn, c, TINV_LOG_DEBUG};
    return l;
}

/* Warnings that contain `needle` (all of them when NULL). */
static int count_warnings(const captured *c, const char *needle)
{
    int n = 0;
    for (int i = 0; i < c->n; i++)
        if (c->level[i] == TINV_LOG_WARN && (needle == NULL || strstr(c->text[i], needle) != NULL))
            n++;
    return n;
}

static int expect_error(tinv_status st, tinv_status want, const char *needle)
{
    const char *msg = tinv_last_error();
    int ok = st == want && (needle == NULL || strstr(msg, needle) != NULL);
    if (!ok)
        fprintf(stderr, "    status %d (want %d), message: %s\n", (int)st, (int)want, msg);
    return ok;
}

static char *make_dir(const char *name)
{
    static char buf[4][600];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return mkdir(p, 0700) == 0 ? p : NULL;
}

/* An RGB (or RGBA) image filled by `fn`. */
typedef void (*pixel_fn)(int x, int y, uint8_t *px);
static ti_image make_image(int w, int h, int channels, pixel_fn fn)
{
    ti_image img;
    if (ti_image_alloc(&img, w, h, channels) != TINV_OK)
        abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            fn(x, y, img.pixels + ((size_t)y * (size_t)w + (size_t)x) * (size_t)channels);
    return img;
}

/* R rises 5 per column, G 5 per row, B is a 0/255 checkerboard: every value is known by hand. */
static void gradient_px(int x, int y, uint8_t *px)
{
    px[0] = (uint8_t)(x * 5);
    px[1] = (uint8_t)(y * 5);
    px[2] = ((x + y) & 1) ? 255 : 0;
}

static void smooth_px(int x, int y, uint8_t *px)
{
    px[0] = (uint8_t)(40 + x);
    px[1] = (uint8_t)(60 + y);
    px[2] = 128;
}

static uint32_t rng = 777;
static void noise_px(int x, int y, uint8_t *px)
{
    for (int c = 0; c < 3; c++) {
        rng = rng * 1664525u + 1013904223u;
        px[c] = (uint8_t)(rng >> 24);
    }
}

/* Fully transparent black: loads as white (alpha composited over white). */
static void clear_px(int x, int y, uint8_t *px)
{
    px[0] = px[1] = px[2] = 0;
    px[3] = 0;
}

static int write_png(const char *path, int w, int h, int channels, pixel_fn fn)
{
    ti_image img = make_image(w, h, channels, fn);
    tinv_status st = ti_png_write(path, &img, NULL, 0);
    ti_image_free(&img);
    return st == TINV_OK;
}

/* A PNG of any colour type / depth written with libpng directly; rows are `stride` bytes. */
static int write_png_raw(const char *path, int w, int h, int depth, int color, const uint8_t *data, size_t stride,
                         const png_color *palette, int n_palette, const png_byte *trans, int n_trans)
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
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette != NULL)
        png_set_PLTE(png, info, palette, n_palette);
    if (trans != NULL)
        png_set_tRNS(png, info, trans, n_trans, NULL);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(data + (size_t)y * stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0;
}

/* 16-bit gray, every sample 0x8080 (-> 128 after scaling to 8 bits). */
static int write_gray16(const char *path, int w, int h)
{
    size_t stride = (size_t)w * 2;
    uint8_t *data = malloc(stride * (size_t)h);
    memset(data, 0x80, stride * (size_t)h);
    int ok = write_png_raw(path, w, h, 16, PNG_COLOR_TYPE_GRAY, data, stride, NULL, 0, NULL, 0);
    free(data);
    return ok;
}

/* 8-bit palette with vertical stripes; index 2 is transparent (-> white). */
static int write_palette(const char *path, int w, int h)
{
    static const png_color pal[3] = {{255, 0, 0}, {0, 0, 255}, {0, 0, 0}};
    static const png_byte trans[3] = {255, 255, 0};
    uint8_t *data = malloc((size_t)w * (size_t)h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            data[(size_t)y * (size_t)w + (size_t)x] = (uint8_t)((x / 4) % 3);
    int ok = write_png_raw(path, w, h, 8, PNG_COLOR_TYPE_PALETTE, data, (size_t)w, pal, 3, trans, 3);
    free(data);
    return ok;
}

/* The first half of a valid (noisy, so large) PNG. */
static int write_truncated_png(const char *path)
{
    char full[700];
    snprintf(full, sizeof full, "%s/full.png", tmpdir);
    if (!write_png(full, 64, 64, 3, noise_px))
        return 0;
    size_t size;
    unsigned char *bytes = check_read_file(full, &size);
    int ok = bytes != NULL && size > 200 && check_write_file(path, bytes, size / 2);
    free(bytes);
    unlink(full);
    return ok;
}

/* The mixed folder most loader tests use; resolution 32 gives these sizes:
 *   a_rgb.png 96x64 -> 48x32        b_photo.jpg 64x80 -> 32x40     c_gray16.png 40x40 -> 32x32
 *   d_palette.png 50x36 -> 44x32    e_alpha.png 32x32 (as is)      f_small.png 16x20 -> 32x40 (warned)
 * plus notes.txt and truncated.png (skipped, warned), .hidden.png and sub/ (ignored silently). */
static const char *mixed_dir(void)
{
    static char dir[600]; /* make_dir's buffers are reused */
    if (dir[0] != '\0')
        return dir;
    char *d = make_dir("mixed");
    if (d == NULL)
        return NULL;
    /* Written out of name order: the loader must sort. */
    if (!write_png(check_tmp_path(d, "f_small.png"), 16, 20, 3, smooth_px) ||
        !write_png(check_tmp_path(d, "a_rgb.png"), 96, 64, 3, smooth_px) ||
        !write_gray16(check_tmp_path(d, "c_gray16.png"), 40, 40) ||
        !write_palette(check_tmp_path(d, "d_palette.png"), 50, 36) ||
        !write_png(check_tmp_path(d, "e_alpha.png"), 32, 32, 4, clear_px) ||
        !write_png(check_tmp_path(d, ".hidden.png"), 40, 40, 3, smooth_px) ||
        !write_truncated_png(check_tmp_path(d, "truncated.png")) ||
        !check_write_file(check_tmp_path(d, "notes.md"), "not an image\n", 13))
        return NULL;
    ti_image jpg = make_image(64, 80, 3, smooth_px);
    tinv_status st = ti_jpeg_write(check_tmp_path(d, "b_photo.jpg"), &jpg, 90, NULL, 0);
    ti_image_free(&jpg);
    if (st != TINV_OK)
        return NULL;
    char sub[700];
    snprintf(sub, sizeof sub, "%s/sub", d);
    if (mkdir(sub, 0700) != 0 || !write_png(check_tmp_path(sub, "inner.png"), 40, 40, 3, smooth_px))
        return NULL;
    snprintf(dir, sizeof dir, "%s", d);
    return dir;
}

/* ---- training images ------------------------------------------------------------------- */

static void test_load_mixed_folder(void)
{
    const char *dir = mixed_dir();
    CHECK(dir != NULL);
    captured cap;
    ti_logger log = capture_logger(&cap);
    ti_train_images set;
    CHECK(ti_train_images_load(dir, 32, &log, &set) == TINV_OK);

    static const char *const names[] = {"a_rgb.png", "b_photo.jpg", "c_gray16.png",
                                        "d_palette.png", "e_alpha.png", "f_small.png"};
    static const int sizes[][4] = {{96, 64, 48, 32}, {64, 80, 32, 40}, {40, 40, 32, 32},
                                   {50, 36, 44, 32}, {32, 32, 32, 32}, {16, 20, 32, 40}};
    int ok = set.count == 6 && set.skipped == 2 && set.resolution == 32;
    for (int i = 0; ok && i < 6; i++) {
        const ti_train_image *it = &set.items[i];
        ok = strcmp(it->name, names[i]) == 0 && it->orig_width == sizes[i][0] && it->orig_height == sizes[i][1] &&
             it->image.width == sizes[i][2] && it->image.height == sizes[i][3] && it->image.channels == 3;
        if (!ok)
            fprintf(stderr, "    item %d: %s %dx%d -> %dx%d\n", i, it->name, it->orig_width, it->orig_height,
                    it->image.width, it->image.height);
    }

    /* Warnings: each skipped file by name with its reason, and the upscaled one with its size. */
    int warnings_ok = count_warnings(&cap, NULL) == 3 && count_warnings(&cap, "notes.md") == 1 &&
                      count_warnings(&cap, "truncated.png") == 1 && count_warnings(&cap, "f_small.png") == 1 &&
                      count_warnings(&cap, "16x20") == 1 && count_warnings(&cap, "upscal") == 1 &&
                      count_warnings(&cap, "unrecognised") == 1;
    int hidden_mentioned = 0;
    for (int i = 0; i < cap.n; i++)
        hidden_mentioned |= strstr(cap.text[i], "hidden") != NULL || strstr(cap.text[i], "inner") != NULL;
    if (!warnings_ok || hidden_mentioned)
        for (int i = 0; i < cap.n; i++)
            fprintf(stderr, "    log[%d] level %d: %s\n", i, (int)cap.level[i], cap.text[i]);

    /* Pixel content per format: 16-bit gray 0x8080 -> 128; transparent -> white; palette stripes. */
    int px_ok = ok;
    if (ok) {
        const ti_image *g = &set.items[2].image;
        for (size_t i = 0; i < (size_t)g->width * (size_t)g->height * 3; i++)
            px_ok &= g->pixels[i] == 128;
        const ti_image *a = &set.items[4].image;
        for (size_t i = 0; i < (size_t)a->width * (size_t)a->height * 3; i++)
            px_ok &= a->pixels[i] == 255;
        const uint8_t *p = set.items[3].image.pixels; /* first stripe is red */
        px_ok &= p[0] > 200 && p[1] < 40 && p[2] < 40;
    }
    ti_train_images_free(&set);
    CHECK(ok);
    CHECK(warnings_ok);
    CHECK(!hidden_mentioned);
    CHECK(px_ok);
    CHECK(set.items == NULL && set.count == 0);
    ti_train_images_free(&set); /* twice is fine */
    ti_train_images_free(NULL);
}

/* The stored picture is exactly the antialiased bicubic short-side resize of the file's pixels. */
static void test_resize_matches_image_module(void)
{
    char *dir = make_dir("resize");
    CHECK(dir != NULL);
    ti_image src = make_image(90, 61, 3, noise_px);
    CHECK(ti_png_write(check_tmp_path(dir, "wide.png"), &src, NULL, 0) == TINV_OK);
    ti_image want;
    CHECK(ti_image_resize_short_side(&src, 24, &want) == TINV_OK);
    ti_image_free(&src);
    CHECK(want.width == 35 && want.height == 24); /* floor(24 * 90 / 61) */

    ti_train_images set;
    tinv_status st = ti_train_images_load(dir, 24, NULL, &set);
    int same = st == TINV_OK && set.count == 1 && set.items[0].image.width == want.width &&
               set.items[0].image.height == want.height &&
               memcmp(set.items[0].image.pixels, want.pixels, (size_t)want.width * (size_t)want.height * 3) == 0;
    ti_train_images_free(&set);
    ti_image_free(&want);
    CHECK(same);
}

static void test_center_crop_by_hand(void)
{
    char *dir = make_dir("grad");
    CHECK(dir != NULL);
    /* Short side already 32: stored as is, so each crop value follows from gradient_px. */
    CHECK(write_png(check_tmp_path(dir, "h.png"), 45, 32, 3, gradient_px));
    CHECK(write_png(check_tmp_path(dir, "v.png"), 32, 47, 3, gradient_px));
    ti_train_images set;
    CHECK(ti_train_images_load(dir, 32, NULL, &set) == TINV_OK);
    CHECK(set.count == 2);

    int x, y, mx, my, ok = 1;
    float *chw = malloc(3 * 32 * 32 * sizeof *chw);
    const size_t P = 32 * 32;
#define AT(ch, r, c) chw[(size_t)(ch) * P + (size_t)(r) * 32 + (size_t)(c)]

    /* h.png: 45 wide -> x in [0, 13], centre (13 / 2, 0) = (6, 0). */
    ok &= ti_train_image_crop_range(&set, 0, &mx, &my) == TINV_OK && mx == 13 && my == 0;
    ok &= ti_train_image_center(&set, 0, &x, &y) == TINV_OK && x == 6 && y == 0;
    ok &= ti_train_image_crop(&set, 0, x, y, 0, chw) == TINV_OK;
    /* R at crop column 0 is image column 6: 30 / 127.5 - 1; column 31 is image column 37: 185. */
    ok &= AT(0, 0, 0) == (float)(30 / 127.5 - 1.0) && AT(0, 5, 31) == (float)(185 / 127.5 - 1.0);
    ok &= AT(1, 10, 3) == (float)(50 / 127.5 - 1.0); /* G: row 10 -> 50 */
    ok &= AT(2, 0, 0) == -1.0f && AT(2, 0, 1) == 1.0f && AT(2, 1, 0) == 1.0f; /* (6+0+0) even -> 0 */
    if (!ok)
        fprintf(stderr, "    h: range %d,%d centre %d,%d R %.9g %.9g\n", mx, my, x, y, AT(0, 0, 0), AT(0, 5, 31));
    /* Mirrored: crop column c shows image column 6 + 31 - c. */
    ok &= ti_train_image_crop(&set, 0, x, y, 1, chw) == TINV_OK;
    ok &= AT(0, 0, 0) == (float)(185 / 127.5 - 1.0) && AT(0, 0, 31) == (float)(30 / 127.5 - 1.0);
    ok &= AT(2, 0, 0) == 1.0f && AT(1, 10, 3) == (float)(50 / 127.5 - 1.0);
    CHECK(ok);

    /* v.png: 47 high -> centre (0, 15 / 2) = (0, 7); G at crop row 0 is image row 7: 35. */
    ok &= ti_train_image_center(&set, 1, &x, &y) == TINV_OK && x == 0 && y == 7;
    ok &= ti_train_image_crop(&set, 1, x, y, 0, chw) == TINV_OK;
    ok &= AT(1, 0, 0) == (float)(35 / 127.5 - 1.0) && AT(1, 31, 9) == (float)(190 / 127.5 - 1.0);
    ok &= AT(0, 4, 9) == (float)(45 / 127.5 - 1.0);
    ok &= AT(2, 0, 0) == 1.0f; /* (0 + 7) odd -> 255 */
    /* Another offset: the last valid one. */
    ok &= ti_train_image_crop(&set, 1, 0, 15, 0, chw) == TINV_OK && AT(1, 31, 0) == (float)(230 / 127.5 - 1.0);
    CHECK(ok);

    /* Every value of every crop lies in [-1, 1], and 0 / 255 map to exactly -1 / 1. */
    int lo = 0, hi = 0;
    for (int i = 0; i < set.count; i++)
        for (int f = 0; f < 2; f++) {
            CHECK(ti_train_image_crop(&set, i, 0, 0, f, chw) == TINV_OK);
            for (size_t k = 0; k < 3 * P; k++) {
                CHECK(chw[k] >= -1.0f && chw[k] <= 1.0f);
                lo += chw[k] == -1.0f;
                hi += chw[k] == 1.0f;
            }
        }
    CHECK(lo > 0 && hi > 0);
#undef AT

    /* Offsets outside the range, bad index, NULL buffer. */
    CHECK(expect_error(ti_train_image_crop(&set, 0, 14, 0, 0, chw), TINV_ERR_INVALID_ARGUMENT, "h.png"));
    CHECK(expect_error(ti_train_image_crop(&set, 0, 0, 1, 0, chw), TINV_ERR_INVALID_ARGUMENT, NULL));
    CHECK(expect_error(ti_train_image_crop(&set, 0, -1, 0, 0, chw), TINV_ERR_INVALID_ARGUMENT, NULL));
    CHECK(expect_error(ti_train_image_crop(&set, 2, 0, 0, 0, chw), TINV_ERR_INVALID_ARGUMENT, "index"));
    CHECK(expect_error(ti_train_image_center(&set, -1, &x, &y), TINV_ERR_INVALID_ARGUMENT, "index"));
    CHECK(expect_error(ti_train_image_crop(&set, 0, 0, 0, 0, NULL), TINV_ERR_INVALID_ARGUMENT, NULL));
    free(chw);
    ti_train_images_free(&set);
}

/* A centre crop of the resized picture equals the image module's own centre crop + to_float. */
static void test_crop_matches_image_module(void)
{
    const char *dir = mixed_dir();
    CHECK(dir != NULL);
    ti_train_images set;
    CHECK(ti_train_images_load(dir, 32, NULL, &set) == TINV_OK);
    float *a = malloc(3 * 32 * 32 * sizeof *a), *b = malloc(3 * 32 * 32 * sizeof *b);
    int ok = 1;
    for (int i = 0; ok && i < set.count; i++) {
        int x, y;
        ti_image c = {0};
        ok = ti_train_image_center(&set, i, &x, &y) == TINV_OK && ti_train_image_crop(&set, i, x, y, 1, a) == TINV_OK &&
             ti_image_center_crop(&set.items[i].image, 32, 32, &c) == TINV_OK;
        if (ok) {
            ti_image_flip_h(&c);
            ok = ti_image_to_float(&c, b, 3 * 32 * 32) == TINV_OK && memcmp(a, b, 3 * 32 * 32 * sizeof *a) == 0;
        }
        ti_image_free(&c);
        if (!ok)
            fprintf(stderr, "    image %d (%s) differs\n", i, set.items[i].name);
    }
    free(a);
    free(b);
    ti_train_images_free(&set);
    CHECK(ok);
}

static void test_load_errors(void)
{
    ti_train_images set;
    char missing[700];
    snprintf(missing, sizeof missing, "%s/no_such_folder", tmpdir);
    CHECK(expect_error(ti_train_images_load(missing, 32, NULL, &set), TINV_ERR_IO, "no_such_folder"));
    CHECK(set.items == NULL && set.count == 0);

    /* A file where the folder should be. */
    CHECK(check_write_file(check_tmp_path(tmpdir, "plain_file"), "x", 1));
    CHECK(expect_error(ti_train_images_load(check_tmp_path(tmpdir, "plain_file"), 32, NULL, &set), TINV_ERR_IO,
                       "plain_file"));

    char *empty = make_dir("empty");
    CHECK(empty != NULL);
    CHECK(expect_error(ti_train_images_load(empty, 32, NULL, &set), TINV_ERR_INVALID_ARGUMENT, "no files"));

    /* Only hidden files and a sub-folder: still nothing to train on. */
    char *hidden = make_dir("only_hidden");
    CHECK(hidden != NULL);
    CHECK(write_png(check_tmp_path(hidden, ".a.png"), 40, 40, 3, smooth_px));
    char sub[700];
    snprintf(sub, sizeof sub, "%s/sub", hidden);
    CHECK(mkdir(sub, 0700) == 0);
    CHECK(expect_error(ti_train_images_load(hidden, 32, NULL, &set), TINV_ERR_INVALID_ARGUMENT, "no files"));

    /* Files, but none usable: the count of skipped files is in the message. */
    char *bad = make_dir("only_bad");
    CHECK(bad != NULL);
    CHECK(check_write_file(check_tmp_path(bad, "readme.md"), "# hi\n", 5));
    CHECK(check_write_file(check_tmp_path(bad, "empty.png"), "", 0));
    captured cap;
    ti_logger log = capture_logger(&cap);
    CHECK(expect_error(ti_train_images_load(bad, 32, &log, &set), TINV_ERR_INVALID_ARGUMENT, "no usable images"));
    CHECK(strstr(tinv_last_error(), "2 files skipped") != NULL);
    CHECK(count_warnings(&cap, "readme.md") == 1 && count_warnings(&cap, "empty.png") == 1);

    /* Arguments. */
    CHECK(expect_error(ti_train_images_load(mixed_dir(), 0, NULL, &set), TINV_ERR_INVALID_ARGUMENT, "resolution"));
    CHECK(expect_error(ti_train_images_load(NULL, 32, NULL, &set), TINV_ERR_INVALID_ARGUMENT, NULL));
    CHECK(expect_error(ti_train_images_load(empty, 32, NULL, NULL), TINV_ERR_INVALID_ARGUMENT, NULL));
}

/* A trailing slash on the folder and a logger that filters warnings out both work. */
static void test_load_trailing_slash_quiet(void)
{
    const char *dir = mixed_dir();
    CHECK(dir != NULL);
    char slashed[700];
    snprintf(slashed, sizeof slashed, "%s/", dir);
    captured cap;
    ti_logger log = capture_logger(&cap);
    log.max_level = TINV_LOG_ERROR;
    ti_train_images set;
    CHECK(ti_train_images_load(slashed, 32, &log, &set) == TINV_OK);
    int ok = set.count == 6 && cap.n == 0;
    ti_train_images_free(&set);
    CHECK(ok);
}

/* "<stem>.txt" beside a picture is its caption: not an image (no warning, not skipped), kept
 * when it holds "{}", refused with a warning naming the picture when it does not. */
static void test_captions_beside_images(void)
{
    const char *dir = make_dir("captions");
    CHECK(dir != NULL);
    CHECK(write_png(check_tmp_path(dir, "a.png"), 20, 20, 3, gradient_px));
    CHECK(write_png(check_tmp_path(dir, "b.png"), 20, 20, 3, smooth_px));
    CHECK(write_png(check_tmp_path(dir, "c.png"), 20, 20, 3, smooth_px));
    const char *a = "a large red {} on a plain white background\r\nsecond line ignored\n", *b = "no placeholder\n";
    CHECK(check_write_file(check_tmp_path(dir, "a.txt"), a, strlen(a)));
    CHECK(check_write_file(check_tmp_path(dir, "b.txt"), b, strlen(b)));
    captured cap;
    ti_logger log = capture_logger(&cap);
    ti_train_images set;
    CHECK(ti_train_images_load(dir, 16, &log, &set) == TINV_OK);
    int ok = set.count == 3 && set.skipped == 0 && set.items[0].caption != NULL &&
             strcmp(set.items[0].caption, "a large red {} on a plain white background") == 0 &&
             set.items[1].caption == NULL && set.items[2].caption == NULL &&
             count_warnings(&cap, "b.png") == 1 && count_warnings(&cap, "skipping") == 0;
    ti_train_images_free(&set);
    CHECK(ok);
}

/* ---- templates ------------------------------------------------------------------------- */

static size_t slots(const char *s)
{
    size_t n = 0;
    for (const char *p = strstr(s, "{}"); p != NULL; p = strstr(p + 2, "{}"))
        n++;
    return n;
}

static void test_builtin_templates(void)
{
    static const char *const specs[] = {"object", "style"};
    static const char *const first[] = {"a photo of a {}", "a painting in the style of {}"};
    static const size_t min_count[] = {20, 15};
    for (int s = 0; s < 2; s++) {
        ti_templates t;
        CHECK(ti_templates_get(specs[s], &t) == TINV_OK);
        CHECK(t.count >= min_count[s]);
        CHECK(strcmp(t.items[0], first[s]) == 0);
        for (size_t i = 0; i < t.count; i++) {
            CHECK(slots(t.items[i]) == 1);
            for (size_t j = 0; j < i; j++)
                CHECK(strcmp(t.items[i], t.items[j]) != 0);
        }
        ti_templates_free(&t);
        CHECK(t.items == NULL && t.count == 0);
    }
}

static const char *write_text(const char *name, const char *text, size_t len)
{
    const char *path = check_tmp_path(tmpdir, name);
    return check_write_file(path, text, len) ? path : NULL;
}

static void test_template_file(void)
{
    /* BOM, comments (also indented), blank and whitespace-only lines, CRLF, surrounding spaces,
     * UTF-8 text and a last line without a newline. */
    static const char text[] = "\xEF\xBB\xBF# my templates\r\n"
                               "\r\n"
                               "a photo of {}\r\n"
                               "   \t\r\n"
                               "  the {} on a table  \n"
                               "  # not {}{} a template\n"
                               "une photo de {} \xC3\xA0 Paris\n"
                               "last {}";
    const char *path = write_text("tmpl.txt", text, sizeof text - 1);
    CHECK(path != NULL);
    ti_templates t;
    CHECK(ti_templates_get(path, &t) == TINV_OK);
    int ok = t.count == 4 && strcmp(t.items[0], "a photo of {}") == 0 && strcmp(t.items[1], "the {} on a table") == 0 &&
             strcmp(t.items[2], "une photo de {} \xC3\xA0 Paris") == 0 && strcmp(t.items[3], "last {}") == 0;
    if (!ok)
        for (size_t i = 0; i < t.count; i++)
            fprintf(stderr, "    [%zu] '%s'\n", i, t.items[i]);
    ti_templates_free(&t);
    CHECK(ok);
    CHECK(t.items == NULL);
    ti_templates_free(NULL);
}

static void test_template_file_errors(void)
{
    ti_templates t;
    static const char none[] = "ok {}\r\nno slot here\r\n";
    const char *p = write_text("bad_none.txt", none, sizeof none - 1);
    CHECK(expect_error(ti_templates_get(p, &t), TINV_ERR_INVALID_ARGUMENT, "bad_none.txt"));
    CHECK(strstr(tinv_last_error(), "line 2") != NULL && strstr(tinv_last_error(), "no slot here") != NULL);
    CHECK(t.items == NULL && t.count == 0);

    static const char two[] = "# c\n\nok {}\ntwo {} and {}\n";
    p = write_text("bad_two.txt", two, sizeof two - 1);
    CHECK(expect_error(ti_templates_get(p, &t), TINV_ERR_INVALID_ARGUMENT, "line 4"));

    p = write_text("empty.txt", "", 0);
    CHECK(expect_error(ti_templates_get(p, &t), TINV_ERR_INVALID_ARGUMENT, "no templates"));
    static const char comments[] = "# only\n\n   \n# comments\n";
    p = write_text("comments.txt", comments, sizeof comments - 1);
    CHECK(expect_error(ti_templates_get(p, &t), TINV_ERR_INVALID_ARGUMENT, "comments.txt"));

    static const char latin1[] = "ok {}\ncaf\xE9 {}\n";
    p = write_text("latin1.txt", latin1, sizeof latin1 - 1);
    CHECK(expect_error(ti_templates_get(p, &t), TINV_ERR_INVALID_ARGUMENT, "line 2"));
    CHECK(strstr(tinv_last_error(), "UTF-8") != NULL);

    static const char nul[] = "ok {}\nx\0y {}\n";
    p = write_text("nul.txt", nul, sizeof nul - 1);
    CHECK(expect_error(ti_templates_get(p, &t), TINV_ERR_INVALID_ARGUMENT, "line 2"));

    CHECK(expect_error(ti_templates_get(check_tmp_path(tmpdir, "missing.txt"), &t), TINV_ERR_IO, "missing.txt"));
    CHECK(expect_error(ti_templates_get("", &t), TINV_ERR_INVALID_ARGUMENT, NULL));
    CHECK(expect_error(ti_templates_get(NULL, &t), TINV_ERR_INVALID_ARGUMENT, NULL));
    /* Names are exact: "Object" is a (missing) file, not the built-in list. */
    CHECK(expect_error(ti_templates_get("Object", &t), TINV_ERR_IO, "Object"));
}

static void test_template_format(void)
{
    static const struct {
        const char *tmpl, *token, *want;
    } cases[] = {
        {"a photo of a {}", "<cat-toy>", "a photo of a <cat-toy>"},
        {"{}", "<x>", "<x>"},
        {"{} on a beach", "<x> <x_1>", "<x> <x_1> on a beach"},
        {"a {} \xC3\xA0 Paris", "\xE2\x98\x85", "a \xE2\x98\x85 \xC3\xA0 Paris"},
        {"no slot", "<x>", "no slot"},
        {"a {} b", "", "a  b"},
        {"first {} second {}", "t", "first t second {}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = ti_template_format(cases[i].tmpl, cases[i].token);
        int ok = s != NULL && strcmp(s, cases[i].want) == 0;
        if (!ok)
            fprintf(stderr, "    case %zu: '%s'\n", i, s ? s : "(null)");
        free(s);
        CHECK(ok);
    }
    /* Every built-in formats to a prompt with the token once and no braces left. */
    ti_templates t;
    CHECK(ti_templates_get("style", &t) == TINV_OK);
    for (size_t i = 0; i < t.count; i++) {
        char *s = ti_template_format(t.items[i], "<sks>");
        int ok = s != NULL && strstr(s, "<sks>") != NULL && strchr(s, '{') == NULL;
        free(s);
        CHECK(ok);
    }
    ti_templates_free(&t);
    CHECK(ti_template_format(NULL, "x") == NULL && expect_error(TINV_ERR_INVALID_ARGUMENT, TINV_ERR_INVALID_ARGUMENT, "NULL"));
    CHECK(ti_template_format("{}", NULL) == NULL);
}

/* ---- main ------------------------------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    return remove(path);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_load_mixed_folder);
    RUN(test_resize_matches_image_module);
    RUN(test_center_crop_by_hand);
    RUN(test_crop_matches_image_module);
    RUN(test_load_errors);
    RUN(test_load_trailing_slash_quiet);
    RUN(test_captions_beside_images);
    RUN(test_builtin_templates);
    RUN(test_template_file);
    RUN(test_template_file_errors);
    RUN(test_template_format);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_train_data");
}
