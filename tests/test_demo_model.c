/* tinv_demo_model_write: reproducible bytes, a folder the loader and tokenizer accept, networks
 * whose outputs are finite and not constant, a sampler run end to end, and bad-input statuses.
 * Prints the UNet's forward (and forward + backward) time at 64x64 pixels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "model.h"
#include "shim.h"
#include "tinv.h"

#define SEED 1234
#define SIDE 64 /* picture pixels */

static char root[512];
static char dir_a[600], dir_b[600], dir_c[600];
static tinv_model *model;
static tinv_tokenizer *tok;
static long live_before;

static const char *const files[] = {
    "model_index.json",
    "scheduler/scheduler_config.json",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
};
#define N_FILES (sizeof files / sizeof files[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 1 when dir1/rel and dir2/rel hold the same bytes; 0 when they differ; -1 when one is missing. */
static int same_file(const char *dir1, const char *dir2, const char *rel)
{
    size_t n1, n2;
    unsigned char *a = check_read_file(check_tmp_path(dir1, rel), &n1);
    unsigned char *b = check_read_file(check_tmp_path(dir2, rel), &n2);
    int r = (a == NULL || b == NULL) ? -1 : (n1 == n2 && memcmp(a, b, n1) == 0);
    free(a);
    free(b);
    return r;
}

static size_t file_size(const char *dir, const char *rel)
{
    struct stat st;
    return stat(check_tmp_path(dir, rel), &st) == 0 ? (size_t)st.st_size : 0;
}

/* Finite, and not (nearly) the same value everywhere. */
static int finite_and_varied(const float *x, size_t n)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return 0;
        sum += x[i];
        sq += (double)x[i] * x[i];
    }
    double mean = sum / (double)n, var = sq / (double)n - mean * mean;
    return var > 1e-6;
}

/* A fixed pseudo-random normal-ish buffer (sum of uniforms), independent of libtorch. */
static void fill_noise(float *x, size_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        float v = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 1664525u + 1013904223u;
            v += (float)(s >> 8) / 16777216.0f - 0.5f;
        }
        x[i] = v * 1.7f;
    }
}

static void test_write_is_reproducible(void)
{
    CHECK(tinv_demo_model_write(dir_a, SEED) == TINV_OK);
    CHECK(tinv_demo_model_write(dir_b, SEED) == TINV_OK);
    for (size_t i = 0; i < N_FILES; i++) {
        if (same_file(dir_a, dir_b, files[i]) != 1)
            fprintf(stderr, "    %s differs or is missing\n", files[i]);
        CHECK(same_file(dir_a, dir_b, files[i]) == 1);
    }
    size_t total = 0;
    for (size_t i = 0; i < N_FILES; i++)
        total += file_size(dir_a, files[i]);
    printf("    demo model: %.2f MB (unet %.2f, vae %.2f, text encoder %.2f)\n", total / 1e6,
           file_size(dir_a, "unet/diffusion_pytorch_model.safetensors") / 1e6,
           file_size(dir_a, "vae/diffusion_pytorch_model.safetensors") / 1e6,
           file_size(dir_a, "text_encoder/model.safetensors") / 1e6);
    CHECK(total < 8 * 1000 * 1000);
    /* Writing over an existing demo folder works and leaves no temporary files behind. */
    CHECK(tinv_demo_model_write(dir_a, SEED) == TINV_OK);
    CHECK(file_size(dir_a, "unet/diffusion_pytorch_model.safetensors.tmp") == 0);
    CHECK(same_file(dir_a, dir_b, "unet/diffusion_pytorch_model.safetensors") == 1);
}

static void test_other_seed_differs(void)
{
    CHECK(tinv_demo_model_write(dir_c, SEED + 1) == TINV_OK);
    /* Same architecture and vocabulary, different weights. */
    CHECK(same_file(dir_a, dir_c, "unet/config.json") == 1);
    CHECK(same_file(dir_a, dir_c, "tokenizer/vocab.json") == 1);
    CHECK(same_file(dir_a, dir_c, "text_encoder/model.safetensors") == 0);
    CHECK(same_file(dir_a, dir_c, "unet/diffusion_pytorch_model.safetensors") == 0);
    CHECK(same_file(dir_a, dir_c, "vae/diffusion_pytorch_model.safetensors") == 0);
}

static void test_creates_parents(void)
{
    char nested[700];
    snprintf(nested, sizeof nested, "%s/x/y/demo", root);
    CHECK(tinv_demo_model_write(nested, 1) == TINV_OK);
    CHECK(file_size(nested, "model_index.json") > 0);
}

static void test_load(void)
{
    live_before = ts_live_tensors();
    tinv_status st = tinv_model_load(dir_a, NULL, &model);
    if (st != TINV_OK)
        fprintf(stderr, "    load: %s\n", tinv_last_error());
    CHECK(st == TINV_OK);
    st = tinv_tokenizer_load(dir_a, NULL, &tok);
    if (st != TINV_OK)
        fprintf(stderr, "    tokenizer: %s\n", tinv_last_error());
    CHECK(st == TINV_OK);
    int64_t vocab = 0, width = 0, f = 0, mult = 0, pred = -1;
    CHECK(tinv_model_get_int(model, TINV_MODEL_TEXT_VOCAB_SIZE, &vocab) == TINV_OK);
    CHECK(tinv_model_get_int(model, TINV_MODEL_TEXT_HIDDEN_SIZE, &width) == TINV_OK);
    CHECK(tinv_model_get_int(model, TINV_MODEL_VAE_SCALE_FACTOR, &f) == TINV_OK);
    CHECK(tinv_model_get_int(model, TINV_MODEL_UNET_SIZE_MULTIPLE, &mult) == TINV_OK);
    CHECK(tinv_model_get_int(model, TINV_MODEL_PREDICTION_TYPE, &pred) == TINV_OK);
    CHECK((size_t)vocab == tinv_tokenizer_vocab_size(tok));
    CHECK(width == 32 && f == 4 && mult == 2 && pred == 0);
    CHECK(tinv_tokenizer_max_length(tok) == 77);
    CHECK(tinv_tokenizer_bos_id(tok) == vocab - 2 && tinv_tokenizer_eos_id(tok) == vocab - 1);
    CHECK(tinv_tokenizer_pad_id(tok) == tinv_tokenizer_eos_id(tok));
    double sf = 0;
    CHECK(tinv_model_get_vae_scaling_factor(model, &sf) == TINV_OK);
    CHECK_NEAR(sf, 0.18215, 1e-9);
    printf("    vocabulary: %lld ids (%lld merges)\n", (long long)vocab, (long long)vocab - 514);
}

static void test_tokenize(void)
{
    CHECK(tok != NULL);
    int32_t ids[77];
    size_t n = 0;
    size_t vocab = tinv_tokenizer_vocab_size(tok);
    CHECK(tinv_tokenizer_encode(tok, "a photo of a cat", 0, ids, 77, &n, NULL) == TINV_OK);
    CHECK(n >= 7 && n <= 18); /* 5 words, some split into pieces, plus BOS and EOS */
    CHECK(ids[0] == tinv_tokenizer_bos_id(tok) && ids[n - 1] == tinv_tokenizer_eos_id(tok));
    for (size_t i = 0; i < n; i++)
        CHECK(ids[i] >= 0 && (size_t)ids[i] < vocab);
    for (size_t i = 1; i + 1 < n; i++) /* nothing unknown (unk is EOS here) */
        CHECK(ids[i] != tinv_tokenizer_eos_id(tok) && ids[i] != tinv_tokenizer_bos_id(tok));
    int32_t a_id = -1;
    CHECK(tinv_tokenizer_token_to_id(tok, "a</w>", &a_id) == TINV_OK);
    CHECK(ids[1] == a_id);
    char text[128];
    CHECK(tinv_tokenizer_decode(tok, ids + 1, n - 2, text, sizeof text, NULL) == TINV_OK);
    CHECK(strcmp(text, "a photo of a cat") == 0);

    /* Any lowercase word, and bytes beyond ASCII, tokenize without unknowns. */
    CHECK(tinv_tokenizer_encode(tok, "zyxwvq jjj k \xc3\xa9t\xc3\xa9 2024!", 0, ids, 77, &n, NULL) == TINV_OK);
    for (size_t i = 1; i + 1 < n; i++)
        CHECK(ids[i] >= 0 && ids[i] < tinv_tokenizer_bos_id(tok));

    size_t count = 0;
    CHECK(tinv_tokenizer_encode(tok, "a photo of a cat", 1, ids, 77, &count, NULL) == TINV_OK);
    CHECK(count == 77 && ids[76] == tinv_tokenizer_pad_id(tok));
}

static void test_encode_text(void)
{
    CHECK(model != NULL && tok != NULL);
    int32_t ids[2 * 77];
    size_t n;
    CHECK(tinv_tokenizer_encode(tok, "a photo of a cat", 1, ids, 77, &n, NULL) == TINV_OK);
    CHECK(tinv_tokenizer_encode(tok, "a painting of a dog", 1, ids + 77, 77, &n, NULL) == TINV_OK);
    float *hidden = malloc(2 * 77 * 32 * sizeof *hidden), pooled[2 * 32];
    CHECK(hidden != NULL);
    tinv_status st = tinv_model_encode_text(model, ids, 2, 77, hidden, pooled);
    int ok = st == TINV_OK && finite_and_varied(hidden, 2 * 77 * 32) && finite_and_varied(pooled, 2 * 32);
    /* Different prompts give different states (the first position, BOS, is the same in both). */
    double diff = 0, bos_diff = 0;
    for (size_t i = 0; i < 77 * 32; i++)
        diff += fabs(hidden[i] - hidden[77 * 32 + i]);
    for (size_t i = 0; i < 32; i++)
        bos_diff += fabs(hidden[i] - hidden[77 * 32 + i]);
    free(hidden);
    CHECK(ok);
    CHECK(diff > 1.0);
    CHECK(bos_diff < 1e-4);
}

static void test_unet(void)
{
    CHECK(model != NULL && tok != NULL);
    enum { B = 2, C = 4, L = SIDE / 4 };
    size_t n = (size_t)B * C * L * L;
    float *x = malloc(n * sizeof *x), *out = malloc(n * sizeof *out), *out2 = malloc(n * sizeof *out2);
    float *ctx = malloc((size_t)B * 77 * 32 * sizeof *ctx);
    int32_t ids[B * 77];
    size_t count;
    CHECK(x && out && out2 && ctx);
    CHECK(tinv_tokenizer_encode(tok, "", 1, ids, 77, &count, NULL) == TINV_OK);
    CHECK(tinv_tokenizer_encode(tok, "a photo of a cat", 1, ids + 77, 77, &count, NULL) == TINV_OK);
    CHECK(tinv_model_encode_text(model, ids, B, 77, ctx, NULL) == TINV_OK);
    fill_noise(x, n, 7);
    /* The same latents for both batch entries, so the difference is the text's doing. */
    memcpy(x + n / 2, x, n / 2 * sizeof *x);
    float t = 500;
    CHECK(tinv_model_unet(model, x, B, L, L, &t, 1, ctx, 77, out) == TINV_OK);
    CHECK(finite_and_varied(out, n));
    double text_effect = 0, mag = 0;
    for (size_t i = 0; i < n / 2; i++) {
        text_effect += fabs(out[i] - out[n / 2 + i]);
        mag += fabs(out[i]);
    }
    printf("    unet: mean |eps| %.3f, mean |cond - uncond| %.4f\n", mag / (n / 2), text_effect / (n / 2));
    CHECK(text_effect / (n / 2) > 1e-3);
    t = 900; /* the timestep matters too */
    CHECK(tinv_model_unet(model, x, B, L, L, &t, 1, ctx, 77, out2) == TINV_OK);
    double t_effect = 0;
    for (size_t i = 0; i < n; i++)
        t_effect += fabs(out[i] - out2[i]);
    CHECK(t_effect / n > 1e-3);

    /* Timing: the batch of 2 (uncond + cond) a guided sampling step runs at 64x64 pixels. */
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        tinv_model_unet(model, x, B, L, L, &t, 1, ctx, 77, out2);
        double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    printf("    unet forward, batch 2 at %dx%d px (%dx%d latent), %d threads: %.1f ms\n", SIDE, SIDE, L, L,
           tinv_get_num_threads(), best * 1e3);
    free(x), free(out), free(out2), free(ctx);
}

/* Forward + backward to the text context, as a textual-inversion step does (weights frozen). */
static void test_unet_backward_time(void)
{
    CHECK(model != NULL);
    enum { L = SIDE / 4 };
    ts_device cpu = {TS_CPU, 0};
    int prev = ts_set_grad_enabled(1);
    double best = 1e9;
    int ok = 1;
    for (int r = 0; r < 5 && ok; r++) {
        size_t scope = ts_scope_begin();
        ts_generator *g = ts_generator_create(5);
        int64_t xs[4] = {1, 4, L, L}, cs[3] = {1, 77, 32}, one = 1;
        ts_tensor *x = ts_randn(g, xs, 4, TS_F32, cpu), *ctx = ts_randn(g, cs, 3, TS_F32, cpu);
        ts_tensor *t = ts_full(&one, 1, 500.0, TS_F32, cpu);
        ts_generator_free(g);
        ok = x && ctx && t && ts_requires_grad(ctx, 1) == TINV_OK;
        double t0 = now();
        ts_tensor *eps = ok ? ti_unet_forward(&model->unet, x, t, ctx, 0) : NULL;
        ts_tensor *loss = ts_mse_loss(eps, x);
        ok = loss != NULL && ts_backward(loss) == TINV_OK;
        double dt = now() - t0;
        ts_tensor *grad = ok ? ts_grad(ctx) : NULL;
        ok = ok && grad != NULL && ts_all_finite(grad) && ts_item(ts_max_abs(grad)) > 0;
        best = dt < best ? dt : best;
        ts_scope_end(scope);
    }
    ts_set_grad_enabled(prev);
    if (!ok)
        fprintf(stderr, "    %s\n", tinv_last_error());
    CHECK(ok);
    printf("    unet forward + backward, batch 1 at %dx%d px: %.1f ms\n", SIDE, SIDE, best * 1e3);
}

static void test_vae(void)
{
    CHECK(model != NULL);
    size_t n = 3 * SIDE * SIDE, nl = 4 * (SIDE / 4) * (SIDE / 4);
    float *img = malloc(n * sizeof *img), *back = malloc(n * sizeof *back);
    float *mean = malloc(nl * sizeof *mean), *logvar = malloc(nl * sizeof *logvar);
    CHECK(img && back && mean && logvar);
    fill_noise(img, n, 3);
    for (size_t i = 0; i < n; i++)
        img[i] = img[i] > 1 ? 1 : img[i] < -1 ? -1 : img[i];
    CHECK(tinv_model_vae_encode(model, img, 1, SIDE, SIDE, mean, logvar) == TINV_OK);
    CHECK(finite_and_varied(mean, nl) && finite_and_varied(logvar, nl));
    CHECK(tinv_model_vae_decode(model, mean, 1, SIDE / 4, SIDE / 4, back) == TINV_OK);
    CHECK(finite_and_varied(back, n));
    free(img), free(back), free(mean), free(logvar);
}

static void test_sampler(void)
{
    CHECK(model != NULL && tok != NULL);
    tinv_sampler *s = NULL;
    CHECK(tinv_sampler_create(model, tok, &s) == TINV_OK);
    tinv_sampler_set_prompt(s, "a photo of a cat");
    CHECK(tinv_sampler_set_steps(s, 2) == TINV_OK);
    CHECK(tinv_sampler_set_size(s, SIDE, SIDE) == TINV_OK);
    size_t n = (size_t)SIDE * SIDE * 3, nl = 4 * (SIDE / 4) * (SIDE / 4);
    float *img = malloc(n * sizeof *img), *lat = malloc(nl * sizeof *lat);
    double t0 = now();
    tinv_status st = tinv_sampler_run_float(s, img, lat);
    double dt = now() - t0;
    if (st != TINV_OK)
        fprintf(stderr, "    sampler: %s\n", tinv_last_error());
    int ok = st == TINV_OK && finite_and_varied(img, n) && finite_and_varied(lat, nl);
    for (size_t i = 0; ok && i < n; i++)
        ok = img[i] >= 0 && img[i] <= 1;
    size_t mid = 0; /* not all pixels saturated */
    for (size_t i = 0; ok && i < n; i++)
        mid += img[i] > 0.01f && img[i] < 0.99f;
    printf("    sampler: 2 PNDM steps at %dx%d in %.0f ms; %.0f%% of values unsaturated\n", SIDE, SIDE, dt * 1e3,
           100.0 * mid / n);
    free(img), free(lat);
    tinv_sampler_free(s);
    CHECK(ok);
    CHECK(mid > n / 10);
}

static void test_bad_input(void)
{
    CHECK(tinv_demo_model_write(NULL, 1) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_demo_model_write("", 1) == TINV_ERR_INVALID_ARGUMENT);
    const char *file = check_tmp_path(root, "plain-file");
    CHECK(check_write_file(file, "x", 1));
    CHECK(tinv_demo_model_write(file, 1) == TINV_ERR_IO);
    CHECK(strstr(tinv_last_error(), "not a folder") != NULL);
    /* A folder below a regular file cannot be created either. */
    CHECK(tinv_demo_model_write(check_tmp_path(root, "plain-file/model"), 1) == TINV_ERR_IO);
    size_t size = 0;
    unsigned char *data = check_read_file(file, &size);
    CHECK(data != NULL && size == 1 && data[0] == 'x'); /* untouched */
    free(data);
}

static void test_no_leaks(void)
{
    tinv_model_free(model);
    tinv_tokenizer_free(tok);
    model = NULL;
    tok = NULL;
    CHECK(ts_live_tensors() == live_before);
}

int main(void)
{
    tinv_set_num_threads(2);
    snprintf(root, sizeof root, "/tmp/tinv-demo-XXXXXX");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dir_a, sizeof dir_a, "%s/a", root);
    snprintf(dir_b, sizeof dir_b, "%s/b", root);
    snprintf(dir_c, sizeof dir_c, "%s/c", root);
    RUN(test_write_is_reproducible);
    RUN(test_other_seed_differs);
    RUN(test_creates_parents);
    RUN(test_load);
    RUN(test_tokenize);
    RUN(test_encode_text);
    RUN(test_unet);
    RUN(test_unet_backward_time);
    RUN(test_vae);
    RUN(test_sampler);
    RUN(test_bad_input);
    RUN(test_no_leaks);
    check_remove_tree(root);
    return check_summary("test_demo_model");
}
