/* The public sampler on the sd1-tiny fixture: determinism, seeds, batches, guidance off,
 * cancellation, setter validation, tiling, image writing with the parameters chunk. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "image.h"
#include "prompt_context.h"
#include "tinv.h"
#include "../shim/shim.h"

static char fixture[4096];
static tinv_model *model;
static tinv_tokenizer *tok;

#define W 64
#define H 64
#define NPIX ((size_t)W * H * 3)

/* A sampler with small, fast settings. */
static tinv_sampler *small(uint64_t seed)
{
    tinv_sampler *s = NULL;
    if (tinv_sampler_create(model, tok, &s) != TINV_OK)
        return NULL;
    tinv_sampler_set_prompt(s, "a photo of a cat");
    tinv_sampler_set_steps(s, 3);
    tinv_sampler_set_size(s, W, H);
    tinv_sampler_set_seed(s, seed);
    return s;
}

static int run(tinv_sampler *s, uint8_t *rgb, size_t cap)
{
    tinv_status st = tinv_sampler_run(s, rgb, cap);
    if (st != TINV_OK)
        fprintf(stderr, "    run: %s\n", tinv_last_error());
    return st == TINV_OK;
}

static void test_same_seed_same_pixels(void)
{
    uint8_t a[NPIX], b[NPIX], c[NPIX];
    tinv_sampler *s = small(7);
    CHECK(s != NULL);
    CHECK(run(s, a, sizeof a));
    CHECK(run(s, b, sizeof b));
    CHECK(memcmp(a, b, sizeof a) == 0);
    tinv_sampler_set_seed(s, 8);
    CHECK(run(s, c, sizeof c));
    CHECK(memcmp(a, c, sizeof a) != 0);
    tinv_sampler_free(s);
}

static void test_batch_equals_single_runs(void)
{
    /* euler_ancestral: the per-image generators also feed ancestral noise. */
    float *batch = malloc(2 * NPIX * sizeof *batch), *one = malloc(NPIX * sizeof *one);
    CHECK(batch && one);
    tinv_sampler *s = small(100);
    CHECK(s != NULL);
    CHECK(tinv_sampler_set_scheduler(s, "euler_ancestral") == TINV_OK);
    CHECK(tinv_sampler_set_batch(s, 2) == TINV_OK);
    CHECK(tinv_sampler_run_float(s, batch, NULL) == TINV_OK);
    CHECK(tinv_sampler_set_batch(s, 1) == TINV_OK);
    for (int i = 0; i < 2; i++) {
        CHECK(tinv_sampler_set_seed(s, 100 + (uint64_t)i) == TINV_OK);
        CHECK(tinv_sampler_run_float(s, one, NULL) == TINV_OK);
        double worst = 0;
        for (size_t k = 0; k < NPIX; k++)
            worst = fmax(worst, fabs((double)one[k] - batch[(size_t)i * NPIX + k]));
        CHECK_NEAR(worst, 0.0, 1e-4);
    }
    tinv_sampler_free(s);
    free(batch);
    free(one);
}

static void test_guidance_one(void)
{
    uint8_t a[NPIX], b[NPIX];
    tinv_sampler *s = small(3);
    CHECK(s != NULL);
    CHECK(tinv_sampler_set_guidance(s, 1.0) == TINV_OK);
    CHECK(run(s, a, sizeof a));
    CHECK(tinv_sampler_set_negative_prompt(s, "blurry") == TINV_OK); /* ignored without guidance */
    CHECK(run(s, b, sizeof b));
    CHECK(memcmp(a, b, sizeof a) == 0);
    tinv_sampler_free(s);
}

static int cancel_at_2(void *user, int step, int total)
{
    int *calls = user;
    (*calls)++;
    return step >= 2 && total > 0;
}

static void test_cancel(void)
{
    uint8_t a[NPIX];
    long before = ts_live_tensors();
    tinv_sampler *s = small(1);
    CHECK(s != NULL);
    int calls = 0;
    CHECK(tinv_sampler_set_progress_callback(s, cancel_at_2, &calls) == TINV_OK);
    CHECK(tinv_sampler_run(s, a, sizeof a) == TINV_ERR_CANCELLED);
    CHECK(calls == 2);
    CHECK(ts_live_tensors() == before);
    tinv_sampler_free(s);
}

static void test_bad_setters(void)
{
    tinv_sampler *s = small(0);
    CHECK(s != NULL);
    CHECK(tinv_sampler_set_size(s, 60, 64) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_size(s, 64, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_steps(s, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_scheduler(s, "heun") == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_batch(s, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_guidance(s, NAN) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_guidance(s, INFINITY) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_guidance(s, -INFINITY) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_guidance(s, -0.5) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_guidance(s, 1000.5) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_guidance(s, 0.0) == TINV_OK);
    CHECK(tinv_sampler_set_guidance(s, 1000.0) == TINV_OK);
    CHECK(tinv_sampler_set_steps(s, -1) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_steps(s, 1001) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_steps(s, 1000) == TINV_OK);
    CHECK(tinv_sampler_set_size(s, 8192 + 64, 64) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_size(s, 64, 8192 + 64) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_sampler_set_size(s, -64, 64) == TINV_ERR_INVALID_ARGUMENT);
    int w = 0, h = 0;
    CHECK(tinv_sampler_get_size(s, &w, &h, NULL) == TINV_OK && w == W && h == H); /* unchanged */
    uint8_t tiny[16];
    CHECK(tinv_sampler_run(s, tiny, sizeof tiny) == TINV_ERR_INVALID_ARGUMENT);
    static const char *names[] = {"default", "ddim", "pndm", "euler", "euler_ancestral",
                                  "dpmpp_2m", "dpmpp_2m_karras", "lms", "ddpm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(tinv_sampler_set_scheduler(s, names[i]) == TINV_OK);
    tinv_sampler_free(s);
    CHECK(tinv_sampler_create(NULL, tok, &s) == TINV_ERR_INVALID_ARGUMENT && s == NULL);
}

/* Writing into a folder that does not exist: TINV_ERR_IO, and neither the file nor its .tmp appear. */
static void test_write_missing_folder(void)
{
    uint8_t rgb[NPIX];
    memset(rgb, 128, sizeof rgb);
    char dir[] = "/tmp/tinv_sampler_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    static const char *names[] = {"out.png", "out.jpg"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/missing/%s", dir, names[i]);
        CHECK(tinv_image_write(path, rgb, W, H, 3, 1, 0, 90, NULL) == TINV_ERR_IO);
        CHECK(tinv_image_write(path, rgb, W, H, 3, 1, 1, 90, NULL) == TINV_ERR_IO);
    }
    /* count > 1 (numbered files) fails the same way on the first file. */
    snprintf(path, sizeof path, "%s/missing/out.png", dir);
    uint8_t two[2 * NPIX];
    memset(two, 7, sizeof two);
    CHECK(tinv_image_write(path, two, W, H, 3, 2, 0, 90, NULL) == TINV_ERR_IO);
    CHECK(access(path, F_OK) != 0);
    /* Nothing at all was created in the parent: rmdir succeeds only on an empty folder. */
    CHECK(rmdir(dir) == 0);
}

/* Mean |a − b| between columns x0 and x1 (or rows y0 and y1) of an RGB image, over every channel. */
static double mean_col_diff(const uint8_t *img, int w, int h, int x0, int x1)
{
    double sum = 0;
    for (int y = 0; y < h; y++)
        for (int c = 0; c < 3; c++)
            sum += fabs((double)img[((size_t)y * w + x0) * 3 + c] - img[((size_t)y * w + x1) * 3 + c]);
    return sum / (3.0 * h);
}

static double mean_row_diff(const uint8_t *img, int w, int y0, int y1)
{
    double sum = 0;
    for (int x = 0; x < w; x++)
        for (int c = 0; c < 3; c++)
            sum += fabs((double)img[((size_t)y0 * w + x) * 3 + c] - img[((size_t)y1 * w + x) * 3 + c]);
    return sum / (3.0 * w);
}

/* Seam and interior figures of `tile` laid out 2×2 in memory: the seams are mosaic columns
 * W-1|W and rows H-1|H; the interior figure is the mean over all adjacent pairs inside a tile. */
static void seam_figures(const uint8_t *tile, uint8_t *mosaic, double *seam_x, double *inner_x, double *seam_y,
                         double *inner_y)
{
    int MW = 2 * W, MH = 2 * H;
    for (int y = 0; y < MH; y++)
        for (int x = 0; x < MW; x++)
            memcpy(mosaic + ((size_t)y * MW + x) * 3, tile + ((size_t)(y % H) * W + (x % W)) * 3, 3);
    *seam_x = mean_col_diff(mosaic, MW, MH, W - 1, W);
    *seam_y = mean_row_diff(mosaic, MW, H - 1, H);
    double sx = 0, sy = 0;
    for (int x = 0; x < W - 1; x++)
        sx += mean_col_diff(mosaic, MW, MH, x, x + 1);
    for (int y = 0; y < H - 1; y++)
        sy += mean_row_diff(mosaic, MW, y, y + 1);
    *inner_x = sx / (W - 1);
    *inner_y = sy / (H - 1);
}

static void test_tiling_seams(void)
{
    uint8_t tile[NPIX];
    uint8_t *mosaic = malloc(4 * NPIX);
    CHECK(mosaic != NULL);
    tinv_sampler *s = small(21);
    CHECK(s != NULL);
    double sx, ix, sy, iy;
    CHECK(run(s, tile, sizeof tile));
    seam_figures(tile, mosaic, &sx, &ix, &sy, &iy);
    printf("    untiled %dx%d: seam |dx| %.2f vs interior %.2f (%.2fx), seam |dy| %.2f vs interior %.2f (%.2fx)\n",
           W, H, sx, ix, sx / ix, sy, iy, sy / iy);
    CHECK(tinv_sampler_set_tiling(s, 1) == TINV_OK);
    CHECK(run(s, tile, sizeof tile));
    seam_figures(tile, mosaic, &sx, &ix, &sy, &iy);
    printf("    tiled   %dx%d: seam |dx| %.2f vs interior %.2f (%.2fx), seam |dy| %.2f vs interior %.2f (%.2fx)\n",
           W, H, sx, ix, sx / ix, sy, iy, sy / iy);
    free(mosaic);
    tinv_sampler_free(s);
    CHECK(ix > 0 && iy > 0);
    CHECK(sx <= 1.5 * ix);
    CHECK(sy <= 1.5 * iy);
}

static void test_tiling_changes_output(void)
{
    uint8_t a[NPIX], b[NPIX];
    tinv_sampler *s = small(5);
    CHECK(s != NULL);
    CHECK(run(s, a, sizeof a));
    CHECK(tinv_sampler_set_tiling(s, 1) == TINV_OK);
    CHECK(run(s, b, sizeof b));
    CHECK(memcmp(a, b, sizeof a) != 0);
    tinv_sampler_free(s);
}

static void test_write_png_parameters(void)
{
    uint8_t rgb[2 * NPIX];
    tinv_sampler *s = small(11);
    CHECK(s != NULL);
    CHECK(tinv_sampler_set_negative_prompt(s, "blurry") == TINV_OK);
    CHECK(tinv_sampler_set_batch(s, 2) == TINV_OK);
    CHECK(run(s, rgb, sizeof rgb));
    char dir[] = "/tmp/tinv_sampler_XXXXXX", path[256], p1[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/out.png", dir);
    CHECK(tinv_image_write(path, rgb, W, H, 3, 2, 0, 95, s) == TINV_OK);
    snprintf(p1, sizeof p1, "%s/out_1.png", dir);
    char **kv = NULL;
    size_t n = 0;
    CHECK(ti_png_read_text(p1, &kv, &n) == TINV_OK);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[2 * i], "parameters") == 0 && strstr(kv[2 * i + 1], "a photo of a cat") &&
            strstr(kv[2 * i + 1], "Negative prompt: blurry") && strstr(kv[2 * i + 1], "Seed: 12") &&
            strstr(kv[2 * i + 1], "Steps: 3"))
            found = 1;
    ti_image_text_free(kv, n);
    CHECK(found);
    ti_image back = {0};
    CHECK(ti_image_load(p1, 3, &back) == TINV_OK);
    CHECK(back.width == W && back.height == H && memcmp(back.pixels, rgb + NPIX, NPIX) == 0);
    ti_image_free(&back);
    char grid[256];
    snprintf(grid, sizeof grid, "%s/grid.png", dir);
    CHECK(tinv_image_write(grid, rgb, W, H, 3, 2, 2, 95, NULL) == TINV_OK);
    CHECK(ti_image_load(grid, 3, &back) == TINV_OK);
    CHECK(back.width == 2 * W && back.height == H);
    ti_image_free(&back);
    CHECK(tinv_image_write(grid, rgb, W, H, 3, 2, 2, 95, NULL) == TINV_OK);
    CHECK(tinv_image_write(path, rgb, W, H, 5, 1, 0, 95, NULL) == TINV_ERR_INVALID_ARGUMENT);
    snprintf(p1, sizeof p1, "%s/out_0.png", dir);
    unlink(p1);
    snprintf(p1, sizeof p1, "%s/out_1.png", dir);
    unlink(p1);
    unlink(grid);
    rmdir(dir);
    tinv_sampler_free(s);
}

/* RGBA output is the RGB output with an opaque alpha byte. */
static void test_rgba_matches_rgb(void)
{
    uint8_t rgb[NPIX], rgba[W * H * 4];
    tinv_sampler *s = small(5);
    CHECK(s != NULL);
    CHECK(run(s, rgb, sizeof rgb));
    CHECK(tinv_sampler_run_rgba(s, rgba, sizeof rgba) == TINV_OK);
    for (size_t p = 0; p < (size_t)W * H; p++)
        CHECK(memcmp(rgba + 4 * p, rgb + 3 * p, 3) == 0 && rgba[4 * p + 3] == 255);
    CHECK(tinv_sampler_run_rgba(s, rgba, sizeof rgba - 1) == TINV_ERR_INVALID_ARGUMENT);
    tinv_sampler_free(s);
}

/* AUTOMATIC1111-style chunks: each 75-token chunk is encoded as its own BOS…EOS window and the
 * windows are concatenated; a short prompt gives the same single window either way. */
static void test_long_prompt_chunks(void)
{
    char text[4096] = "a photo";
    for (int i = 0; i < 60; i++)
        strcat(text, " of a red cat");
    const char *texts[2] = {"", text}, *what[2] = {"negative prompt", "prompt"};
    size_t scope = ts_scope_begin();
    ts_tensor *ctx = NULL, *trunc = NULL;
    CHECK(ti_prompt_context(model, tok, NULL, texts, what, 2, 1, &ctx) == TINV_OK);
    CHECK(ti_prompt_context(model, tok, NULL, texts, what, 2, 0, &trunc) == TINV_OK);
    size_t n = 0;
    CHECK(tinv_tokenizer_encode(tok, text, 0, NULL, 0, &n, NULL) == TINV_OK);
    int64_t chunks = ((int64_t)n - 2 + 74) / 75;
    CHECK(chunks == 4 && ts_size(ctx, 1) == 77 * chunks && ts_size(trunc, 1) == 77);
    /* Chunk 2 of the prompt equals the encoder's output for its hand-built window. */
    int32_t *all = malloc(n * sizeof *all), window[77];
    CHECK(tinv_tokenizer_encode(tok, text, 0, all, n, &n, NULL) == TINV_OK);
    window[0] = tinv_tokenizer_bos_id(tok);
    memcpy(window + 1, all + 1 + 150, 75 * sizeof *window);
    window[76] = tinv_tokenizer_eos_id(tok);
    free(all);
    int64_t width = 0;
    tinv_model_get_int(model, TINV_MODEL_TEXT_HIDDEN_SIZE, &width);
    float *want = malloc(77 * (size_t)width * sizeof *want), *got = malloc(77 * (size_t)width * sizeof *got);
    CHECK(tinv_model_encode_text(model, window, 1, 77, want, NULL) == TINV_OK);
    CHECK(ts_to_host(ts_narrow(ts_narrow(ctx, 0, 1, 1), 1, 2 * 77, 77), got, TS_F32, 77 * (size_t)width) == TINV_OK);
    double worst = 0, peak = 0; /* batched vs single encoding: float32 rounding only */
    for (size_t i = 0; i < 77 * (size_t)width; i++) {
        worst = fmax(worst, fabs((double)want[i] - got[i]));
        peak = fmax(peak, fabs((double)want[i]));
    }
    CHECK(worst <= 1e-5 * peak);
    /* The empty negative prompt was padded to the same number of chunks. */
    CHECK(ts_size(ctx, 0) == 2);
    free(want);
    free(got);
    /* A short prompt: one window, identical either way. */
    const char *short_texts[1] = {"a photo of a cat"};
    CHECK(ti_prompt_context(model, tok, NULL, short_texts, what + 1, 1, 1, &ctx) == TINV_OK);
    CHECK(ti_prompt_context(model, tok, NULL, short_texts, what + 1, 1, 0, &trunc) == TINV_OK);
    CHECK(ts_size(ctx, 1) == 77);
    float a[77 * 64], b[77 * 64];
    CHECK(ts_to_host(ctx, a, TS_F32, 77 * (size_t)width) == TINV_OK && ts_to_host(trunc, b, TS_F32, 77 * (size_t)width) == TINV_OK);
    CHECK(memcmp(a, b, 77 * (size_t)width * sizeof *a) == 0);
    ts_scope_end(scope);
    /* The sampler runs with chunked prompts and gives a different picture than truncation. */
    tinv_sampler *s = small(3);
    uint8_t p1[NPIX], p2[NPIX];
    CHECK(tinv_sampler_set_prompt(s, text) == TINV_OK);
    CHECK(run(s, p1, sizeof p1));
    CHECK(tinv_sampler_set_long_prompts(s, 1) == TINV_OK);
    CHECK(run(s, p2, sizeof p2));
    CHECK(memcmp(p1, p2, sizeof p1) != 0);
    tinv_sampler_free(s);
}

int main(void)
{
    const char *fixtures = check_fixtures_dir();
    if (fixtures == NULL) {
        check_skip("sampler", "fixtures not found (set TINV_FIXTURES)");
        if (check_ci()) {
            printf("sampler: 0 passed, 1 failed (fixtures are required under CI)\n");
            return 1;
        }
        return check_summary("sampler");
    }
    snprintf(fixture, sizeof fixture, "%s/sd1-tiny", fixtures);
    tinv_set_num_threads(0);
    if (tinv_model_load(fixture, NULL, &model) != TINV_OK || tinv_tokenizer_load(fixture, NULL, &tok) != TINV_OK) {
        fprintf(stderr, "loading %s: %s\n", fixture, tinv_last_error());
        printf("sampler: 0 passed, 1 failed\n");
        return 1;
    }
    int64_t v = -1;
    if (tinv_model_get_int(model, TINV_MODEL_PREDICTION_TYPE, &v) != TINV_OK || v != 0)
        fprintf(stderr, "unexpected prediction type %lld\n", (long long)v);
    RUN(test_same_seed_same_pixels);
    RUN(test_batch_equals_single_runs);
    RUN(test_guidance_one);
    RUN(test_cancel);
    RUN(test_bad_setters);
    RUN(test_tiling_changes_output);
    RUN(test_tiling_seams);
    RUN(test_write_missing_folder);
    RUN(test_write_png_parameters);
    RUN(test_rgba_matches_rgb);
    RUN(test_long_prompt_chunks);
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    return check_summary("sampler");
}
