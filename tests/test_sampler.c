/* The public sampler on the sd1-tiny fixture: determinism, seeds, batches, guidance off,
 * cancellation, setter validation, tiling, image writing with the parameters chunk. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "image.h"
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
    uint8_t tiny[16];
    CHECK(tinv_sampler_run(s, tiny, sizeof tiny) == TINV_ERR_INVALID_ARGUMENT);
    static const char *names[] = {"default", "ddim", "pndm", "euler", "euler_ancestral",
                                  "dpmpp_2m", "dpmpp_2m_karras", "lms", "ddpm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(tinv_sampler_set_scheduler(s, names[i]) == TINV_OK);
    tinv_sampler_free(s);
    CHECK(tinv_sampler_create(NULL, tok, &s) == TINV_ERR_INVALID_ARGUMENT && s == NULL);
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
    RUN(test_write_png_parameters);
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    return check_summary("sampler");
}
