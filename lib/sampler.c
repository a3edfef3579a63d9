/* tinv_sampler: text prompts → classifier-free-guided denoising → VAE decode → images, and the
 * loop (ti_cfg_denoise) that the golden runner shares. Follows diffusers' StableDiffusionPipeline:
 * batch [uncond…, cond…] (Q15), CPU generators, initial noise × init_noise_sigma, the generator
 * then feeding the scheduler's ancestral noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "image.h"
#include "log.h"
#include "prompt_context.h"
#include "sampler.h"
#include "tokenizer.h"

#define TI_SAMPLER_MAX_BATCH 64

struct tinv_sampler {
    tinv_model *model;     /* borrowed */
    tinv_tokenizer *tok;   /* borrowed */
    char *prompt, *negative;
    double guidance;
    int steps;
    char sched_name[32];   /* "default" or a short name */
    uint64_t seed;
    int width, height, batch, tiling;
    int long_prompts; /* 1: AUTOMATIC1111-style 75-token chunks; 0: truncate to one window */
    int (*progress)(void *user, int step, int total);
    void *progress_user;
    ti_logger logger;
};

/* ---- the shared loop ------------------------------------------------------------------ */

tinv_status ti_cfg_denoise(const ti_cfg_loop *loop, const ts_tensor *latents, ts_tensor **out)
{
    TI_REQUIRE(loop);
    TI_REQUIRE(latents);
    TI_REQUIRE(out);
    *out = NULL;
    ti_scheduler *s = loop->sched;
    tinv_model *m = loop->model;
    ts_device dev = m->opts.device;
    ts_dtype dt = ti_dtype_to_ts(m->opts.dtype);
    size_t K = s->n_timesteps;
    size_t outer = ts_scope_begin();
    ts_tensor *lat = (ts_tensor *)latents;
    int64_t B = ts_size(latents, 0);
    for (size_t k = 0; k < K; k++) {
        size_t step_scope = ts_scope_begin();
        double t = s->timesteps[k];
        ts_tensor *pair[2] = {lat, lat};
        ts_tensor *x = ti_scheduler_scale_model_input(s, loop->do_cfg ? ts_cat(pair, 2, 0) : lat, t);
        int64_t n = loop->do_cfg ? 2 * B : B;
        ts_tensor *tt = ts_full(&n, 1, t, TS_F32, dev);
        ts_tensor *e = ti_unet_forward(&m->unet, ts_to(x, dt, dev), tt, loop->context, loop->circular);
        e = ts_to(e, TS_F32, dev);
        ts_tensor *g = e;
        if (e != NULL && loop->do_cfg) {
            ts_tensor *eu_ec[2] = {NULL, NULL};
            if (ts_chunk(e, 2, 0, eu_ec) != TINV_OK)
                g = NULL;
            else
                g = ts_add(eu_ec[0], ts_mul_scalar(ts_sub(eu_ec[1], eu_ec[0]), loop->guidance));
        }
        ts_tensor *next = NULL;
        tinv_status st = g == NULL ? tinv_last_status() : ti_scheduler_step(s, g, t, lat, loop->noise, &next);
        if (st == TINV_OK && !ts_all_finite(next))
            st = ti_error(TINV_ERR_NUMERIC, "denoising step %zu (t = %g) produced NaN or infinity", k, t);
        if (st == TINV_OK && loop->on_step != NULL)
            st = loop->on_step(loop->user, k, K, e, g, next);
        if (st != TINV_OK) {
            if (tinv_last_status() == TINV_OK)
                ti_error(st, "denoising step %zu failed", k);
            ts_scope_end(outer);
            return st;
        }
        lat = ts_scope_return(step_scope, next);
    }
    *out = ts_scope_return(outer, lat == latents ? ts_clone(lat) : lat);
    return *out ? TINV_OK : tinv_last_status();
}

/* ---- handle and setters ----------------------------------------------------------------- */

TINV_API tinv_status tinv_sampler_create(tinv_model *model, tinv_tokenizer *tokenizer, tinv_sampler **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    TI_REQUIRE(model);
    TI_REQUIRE(tokenizer);
    tinv_sampler *s = calloc(1, sizeof *s);
    if (s == NULL || (s->prompt = strdup("")) == NULL || (s->negative = strdup("")) == NULL) {
        if (s)
            free(s->prompt);
        free(s);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    s->model = model;
    s->tok = tokenizer;
    s->guidance = 7.5;
    s->steps = 50;
    snprintf(s->sched_name, sizeof s->sched_name, "default");
    s->width = s->height = 512;
    s->batch = 1;
    s->logger = model->opts.logger;
    *out = s;
    return TINV_OK;
}

TINV_API void tinv_sampler_free(tinv_sampler *s)
{
    if (s == NULL)
        return;
    free(s->prompt);
    free(s->negative);
    free(s);
}

static tinv_status set_text(char **dst, const char *text)
{
    char *copy = strdup(text ? text : "");
    if (copy == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    free(*dst);
    *dst = copy;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_prompt(tinv_sampler *s, const char *prompt)
{
    TI_REQUIRE(s);
    return set_text(&s->prompt, prompt);
}

TINV_API tinv_status tinv_sampler_set_negative_prompt(tinv_sampler *s, const char *negative)
{
    TI_REQUIRE(s);
    return set_text(&s->negative, negative);
}

TINV_API tinv_status tinv_sampler_set_guidance(tinv_sampler *s, double guidance)
{
    TI_REQUIRE(s);
    if (!isfinite(guidance) || guidance < 0 || guidance > 1000)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "guidance scale %g is not in [0, 1000]", guidance);
    s->guidance = guidance;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_steps(tinv_sampler *s, int steps)
{
    TI_REQUIRE(s);
    if (steps < 1 || steps > 1000)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "steps = %d is not in [1, 1000]", steps);
    s->steps = steps;
    return TINV_OK;
}

/* Scheduler name → kind and the from_config keyword arguments it implies. */
static tinv_status sched_request(const char *name, ti_sched_kind *kind, const char **extra)
{
    *extra = NULL;
    if (strcmp(name, "default") == 0) {
        *kind = TI_SCHED_FROM_CONFIG;
        return TINV_OK;
    }
    if (strcmp(name, "dpmpp_2m_karras") == 0) {
        *kind = TI_SCHED_DPMPP_2M;
        *extra = "{\"use_karras_sigmas\": true}";
        return TINV_OK;
    }
    static const char *names[] = {"ddim", "pndm", "euler", "euler_ancestral", "dpmpp_2m", "lms", "ddpm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return ti_sched_kind_parse(name, kind);
    return ti_error(TINV_ERR_INVALID_ARGUMENT,
                    "unknown scheduler '%s' (expected default, ddim, pndm, euler, euler_ancestral, dpmpp_2m, "
                    "dpmpp_2m_karras, lms or ddpm)",
                    name);
}

TINV_API tinv_status tinv_sampler_set_scheduler(tinv_sampler *s, const char *name)
{
    TI_REQUIRE(s);
    TI_REQUIRE(name);
    ti_sched_kind kind;
    const char *extra;
    TI_TRY(sched_request(name, &kind, &extra));
    snprintf(s->sched_name, sizeof s->sched_name, "%s", name);
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_seed(tinv_sampler *s, uint64_t seed)
{
    TI_REQUIRE(s);
    s->seed = seed;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_size(tinv_sampler *s, int width, int height)
{
    TI_REQUIRE(s);
    int mult = ti_model_size_multiple(s->model);
    if (width < mult || height < mult || width > 8192 || height > 8192 || width % mult != 0 || height % mult != 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "image size %dx%d: width and height must be multiples of %d in [%d, 8192] for this model",
                        width, height, mult, mult);
    s->width = width;
    s->height = height;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_batch(tinv_sampler *s, int n)
{
    TI_REQUIRE(s);
    if (n < 1 || n > TI_SAMPLER_MAX_BATCH)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "batch = %d is not in [1, %d]", n, TI_SAMPLER_MAX_BATCH);
    s->batch = n;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_tiling(tinv_sampler *s, int tiling)
{
    TI_REQUIRE(s);
    s->tiling = tiling != 0;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_long_prompts(tinv_sampler *s, int chunked)
{
    TI_REQUIRE(s);
    s->long_prompts = chunked != 0;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_progress_callback(tinv_sampler *s, int (*fn)(void *user, int step, int total),
                                                        void *user)
{
    TI_REQUIRE(s);
    s->progress = fn;
    s->progress_user = user;
    return TINV_OK;
}

TINV_API tinv_status tinv_sampler_set_log_callback(tinv_sampler *s, tinv_log_fn fn, tinv_log_level max_level,
                                                   void *user)
{
    TI_REQUIRE(s);
    s->logger.fn = fn;
    s->logger.user = user;
    s->logger.max_level = max_level;
    return TINV_OK;
}

/* ---- running ------------------------------------------------------------------------------ */

/* One CPU generator per image (seed + i): each row of a draw comes from its own generator. */
typedef struct gen_set {
    ts_generator **gens;
    int n;
} gen_set;

static ts_tensor *draw_rows(void *user, const int64_t *shape, int ndim, ts_device device)
{
    gen_set *gs = user;
    if (ndim < 1 || shape[0] != gs->n) {
        ti_error(TINV_ERR_INTERNAL, "sampler noise: batch %lld, generators %d", ndim ? (long long)shape[0] : 0LL,
                 gs->n);
        return NULL;
    }
    int64_t one[TS_MAX_DIMS];
    memcpy(one, shape, (size_t)ndim * sizeof *one);
    one[0] = 1;
    ts_tensor *rows[TI_SAMPLER_MAX_BATCH];
    ts_device cpu = {TS_CPU, 0};
    for (int i = 0; i < gs->n; i++)
        rows[i] = ts_randn(gs->gens[i], one, ndim, TS_F32, cpu);
    ts_tensor *all = gs->n == 1 ? rows[0] : ts_cat(rows, gs->n, 0);
    return device.type == TS_CPU ? all : ts_to(all, TS_F32, device);
}

typedef struct progress_ctx {
    tinv_sampler *s;
} progress_ctx;

static tinv_status on_step(void *user, size_t k, size_t total, const ts_tensor *mo, const ts_tensor *g,
                           const ts_tensor *lat)
{
    progress_ctx *p = user;
    if (p->s->progress != NULL && p->s->progress(p->s->progress_user, (int)k + 1, (int)total) != 0)
        return ti_error(TINV_ERR_CANCELLED, "sampling cancelled by the progress callback after step %zu of %zu",
                        k + 1, total);
    return TINV_OK;
}

static tinv_status run_impl(tinv_sampler *s, float *image, float *latents_out)
{
    tinv_model *m = s->model;
    int mult = ti_model_size_multiple(m);
    if (s->width % mult != 0 || s->height % mult != 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "image size %dx%d is not a multiple of %d", s->width, s->height,
                        mult);
    ti_sched_kind kind;
    const char *extra;
    TI_TRY(sched_request(s->sched_name, &kind, &extra));
    ti_sched_config cfg;
    TI_TRY(ti_sched_config_parse(m->sched_json, strlen(m->sched_json), "the model's scheduler config", kind, extra,
                                 &cfg));
    int do_cfg = s->guidance > 1.0; /* diffusers: guidance_scale > 1 */

    ti_scheduler *sched = NULL;
    TI_TRY(ti_scheduler_create(&cfg, &sched));
    tinv_status st = ti_scheduler_set_timesteps(sched, s->steps);
    if (st != TINV_OK) {
        ti_scheduler_free(sched);
        return st;
    }
    int B = s->batch;
    ts_generator *gens[TI_SAMPLER_MAX_BATCH] = {0};
    for (int i = 0; i < B; i++)
        if ((gens[i] = ts_generator_create(s->seed + (uint64_t)i)) == NULL)
            st = tinv_last_status() != TINV_OK ? tinv_last_status() : ti_error(TINV_ERR_OUT_OF_MEMORY, "generator");
    gen_set gs = {gens, B};
    int prev_grad = ts_set_grad_enabled(0);
    size_t scope = ts_scope_begin();
    ts_device dev = m->opts.device, cpu = {TS_CPU, 0};
    int64_t C = m->unet.cfg.in_channels, f = (int64_t)1 << (m->vae.cfg.num_blocks - 1);
    int64_t h = s->height / f, w = s->width / f;
    ts_tensor *final = NULL;
    if (st == TINV_OK) {
        /* Text: the unconditional embedding once, then rows [uncond × B, cond × B]. */
        int64_t n_prompts = do_cfg ? 2 : 1;
        const char *texts[2] = {s->negative, s->prompt}, *what[2] = {"negative prompt", "prompt"};
        ts_tensor *ctx1 = NULL;
        st = ti_prompt_context(m, s->tok, &s->logger, texts + (do_cfg ? 0 : 1), what + (do_cfg ? 0 : 1),
                               (int)n_prompts, s->long_prompts, &ctx1);
        int64_t rowidx[2 * TI_SAMPLER_MAX_BATCH], nrows = n_prompts * B;
        for (int64_t r = 0; r < nrows; r++)
            rowidx[r] = r / B;
        ts_tensor *ctx = ts_index_select(ctx1, 0, ts_from_data(rowidx, TS_I64, &nrows, 1, TS_I64, dev));
        /* Initial latents: randn([1, C, h, w]) from each image's generator, × σ_init. */
        int64_t shape[4] = {B, C, h, w};
        ts_tensor *noise0 = draw_rows(&gs, shape, 4, cpu);
        ts_tensor *lat = ts_mul_scalar(ts_to(noise0, TS_F32, dev), (double)sched->init_noise_sigma);
        if (ctx == NULL || lat == NULL) {
            st = tinv_last_status() != TINV_OK ? tinv_last_status() : TINV_ERR_INTERNAL;
        } else {
            ti_sched_noise noise = {NULL, draw_rows, &gs};
            progress_ctx pc = {s};
            ti_cfg_loop loop = {m, sched, ctx, do_cfg, s->guidance, &noise, s->tiling, on_step, &pc};
            ti_log(&s->logger, TINV_LOG_INFO, "sampling %d image(s) %dx%d, %d steps of %s, guidance %g, seed %llu",
                   B, s->width, s->height, s->steps, ti_sched_kind_name(cfg.kind), s->guidance,
                   (unsigned long long)s->seed);
            st = ti_cfg_denoise(&loop, lat, &final);
        }
    }
    if (st == TINV_OK && latents_out != NULL)
        st = ts_to_host(final, latents_out, TS_F32, (size_t)(B * C * h * w));
    /* Decode one image at a time (bounded memory): clamp(decode(lat / sf) / 2 + 0.5, 0, 1), NHWC. */
    for (int i = 0; st == TINV_OK && image != NULL && i < B; i++) {
        size_t img_scope = ts_scope_begin();
        ts_tensor *li = ts_div_scalar(ts_narrow(final, 0, i, 1), m->vae.cfg.scaling_factor);
        ts_tensor *px = ti_vae_decode(&m->vae, ts_to(li, ti_dtype_to_ts(m->opts.dtype), dev), s->tiling);
        px = ts_clamp(ts_add_scalar(ts_div_scalar(ts_to(px, TS_F32, dev), 2.0), 0.5), 0.0, 1.0);
        int perm[4] = {0, 2, 3, 1};
        px = ts_contiguous(ts_permute(px, perm, 4));
        size_t n = (size_t)s->height * (size_t)s->width * 3;
        st = px == NULL ? tinv_last_status() : ts_to_host(px, image + (size_t)i * n, TS_F32, n);
        if (st == TINV_OK && !ts_all_finite(px))
            st = ti_error(TINV_ERR_NUMERIC, "the decoded image %d contains NaN", i);
        ts_scope_end(img_scope);
    }
    ts_scope_end(scope);
    ts_set_grad_enabled(prev_grad);
    for (int i = 0; i < B; i++)
        ts_generator_free(gens[i]);
    ti_scheduler_free(sched);
    return st;
}

TINV_API tinv_status tinv_sampler_run_float(tinv_sampler *s, float *image_nhwc, float *latents)
{
    TI_REQUIRE(s);
    return run_impl(s, image_nhwc, latents);
}

/* Run and convert to 8-bit pixels with `channels` 3 (RGB) or 4 (RGBA, opaque). */
static tinv_status run_bytes(tinv_sampler *s, uint8_t *out, size_t cap, int channels, const char *fn)
{
    TI_REQUIRE(s);
    TI_REQUIRE(out);
    size_t pixels = (size_t)s->batch * (size_t)s->height * (size_t)s->width, n = pixels * (size_t)channels;
    if (cap < n)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: buffer of %zu bytes, %zu needed", fn, cap, n);
    float *img = malloc(pixels * 3 * sizeof *img);
    if (img == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory for %zu pixels", pixels);
    tinv_status st = run_impl(s, img, NULL);
    /* diffusers' numpy_to_pil: round(x · 255), half to even, in float32. */
    for (size_t p = 0; st == TINV_OK && p < pixels; p++) {
        for (int c = 0; c < 3; c++)
            out[p * (size_t)channels + (size_t)c] = (uint8_t)nearbyintf(img[p * 3 + (size_t)c] * 255.0f);
        if (channels == 4)
            out[p * 4 + 3] = 255;
    }
    free(img);
    return st;
}

TINV_API tinv_status tinv_sampler_run(tinv_sampler *s, uint8_t *rgb, size_t cap)
{
    return run_bytes(s, rgb, cap, 3, __func__);
}

TINV_API tinv_status tinv_sampler_run_rgba(tinv_sampler *s, uint8_t *rgba, size_t cap)
{
    return run_bytes(s, rgba, cap, 4, __func__);
}

TINV_API tinv_status tinv_sampler_get_size(const tinv_sampler *s, int *width, int *height, int *batch)
{
    TI_REQUIRE(s);
    if (width)
        *width = s->width;
    if (height)
        *height = s->height;
    if (batch)
        *batch = s->batch;
    return TINV_OK;
}

/* ---- writing images ---------------------------------------------------------------------- */

/* A1111-style "parameters" text for image `index` (seed + index) or the whole grid (index < 0). */
static char *parameters_text(const tinv_sampler *s, int index)
{
    const char *sched = strcmp(s->sched_name, "default") == 0 ? ti_sched_kind_name(s->model->sched.kind)
                                                               : s->sched_name;
    size_t cap = strlen(s->prompt) + strlen(s->negative) + strlen(s->model->path) + 512;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    snprintf(buf, cap,
             "%s\nNegative prompt: %s\nSteps: %d, Sampler: %s, CFG scale: %g, Seed: %llu, Size: %dx%d, Model: %s%s",
             s->prompt, s->negative, s->steps, sched, s->guidance,
             (unsigned long long)(s->seed + (uint64_t)(index < 0 ? 0 : index)), s->width, s->height,
             s->model->path, s->tiling ? ", Tiling: true" : "");
    return buf;
}

/* "<stem>_<n><ext>" from "<stem><ext>". */
static char *numbered_path(const char *path, int n)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (dot == NULL || (slash != NULL && dot < slash))
        dot = path + strlen(path);
    size_t cap = strlen(path) + 16;
    char *out = malloc(cap);
    if (out != NULL)
        snprintf(out, cap, "%.*s_%d%s", (int)(dot - path), path, n, dot);
    return out;
}

static tinv_status save_one(const char *path, const ti_image *img, int quality, const tinv_sampler *params,
                            int index)
{
    char *text = params ? parameters_text(params, index) : NULL;
    if (params != NULL && text == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    const char *kv[2] = {"parameters", text};
    tinv_status st = ti_image_save(path, img, quality, text ? kv : NULL, text ? 1 : 0);
    free(text);
    return st;
}

TINV_API tinv_status tinv_image_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                                      int count, int grid_cols, int jpeg_quality, const tinv_sampler *params)
{
    TI_REQUIRE(path);
    TI_REQUIRE(pixels);
    if (width < 1 || height < 1 || (channels != 3 && channels != 4) || count < 1 || grid_cols < 0 ||
        jpeg_quality < 1 || jpeg_quality > 100)
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "tinv_image_write: bad arguments (size %dx%d, %d channels, %d images, %d grid columns, "
                        "quality %d)",
                        width, height, channels, count, grid_cols, jpeg_quality);
    size_t one = (size_t)width * (size_t)height * (size_t)channels;
    ti_image *imgs = calloc((size_t)count, sizeof *imgs);
    if (imgs == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    tinv_status st = TINV_OK;
    for (int i = 0; i < count && st == TINV_OK; i++) {
        imgs[i].width = width;
        imgs[i].height = height;
        imgs[i].channels = channels;
        imgs[i].pixels = (uint8_t *)pixels + (size_t)i * one; /* read only: never freed here */
        st = ti_image_check(&imgs[i], "image");
    }
    if (st == TINV_OK && grid_cols > 0) {
        int cols = grid_cols < count ? grid_cols : count, rows = (count + cols - 1) / cols;
        ti_image grid = {0};
        st = ti_image_grid(imgs, count, rows, cols, &grid);
        if (st == TINV_OK)
            st = save_one(path, &grid, jpeg_quality, params, -1);
        ti_image_free(&grid);
    } else if (st == TINV_OK && count == 1) {
        st = save_one(path, &imgs[0], jpeg_quality, params, 0);
    } else {
        for (int i = 0; i < count && st == TINV_OK; i++) {
            char *p = numbered_path(path, i);
            st = p ? save_one(p, &imgs[i], jpeg_quality, params, i) : ti_error(TINV_ERR_OUT_OF_MEMORY, "oom");
            free(p);
        }
    }
    free(imgs);
    return st;
}
