/* Building the toy-world model: random weights, then VAE, latent scale, text encoder + UNet,
 * each stage trained by AdamW (optimizer.c) over the networks' own weights. */
#include "toy_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo_model.h"
#include "error.h"
#include "model.h"
#include "optimizer.h"
#include "toy_world.h"
#include "train_loss.h"
#include "weights.h"

/* Small enough to train on two cores in about an hour: a 32x32 picture is an 8x8x4 latent (VAE
 * factor 4), so the UNet's compute goes into width rather than positions; cross-attention at both
 * UNet levels so captions can steer the shape. v-prediction: at high noise its target is the
 * picture itself, so the loss there rewards reading the caption (an epsilon target is then nearly
 * the noisy input, and the first model trained on it barely used its text). */
static const ti_tiny_spec toy_spec_base = {
    .text_width = 64, .text_layers = 2, .text_heads = 4, .text_ff = 256,
    .unet_channels = {64, 128}, .unet_cross = {1, 1}, .unet_levels = 2, .unet_heads = 4, .unet_sample = 8,
    .vae_channels = {32, 64, 64}, .vae_levels = 3, .vae_sample = 32, .scaling_factor = 1.0, .v_prediction = 1,
    .corpus = NULL, .max_merges = 256,
};

void ti_toy_train_defaults(ti_toy_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 20261126;
    c->side = 32;
    c->held_out_shape = TI_TOY_RING;
    c->held_out_colour = TI_TOY_PURPLE;
    c->held_out_drawn = 1;
    c->drop_shape = 0.2;
    c->latent_factor = 4;
    c->unet_width = 64;
    c->vae_steps = 4000;
    c->vae_batch = 16;
    c->vae_lr = 1e-3;
    c->vae_kl = 1e-6;
    c->unet_steps = 3000;
    c->unet_batch = 32;
    c->unet_lr = 1e-3;
    c->unet_ema = 0.998;
    c->refine_steps = 0;
    c->refine_lr = 2e-4;
    c->refine_ema = 0.995;
    c->drop_caption = 0.1;
    c->drop_part = 0.3;
}

static double uniform01(uint64_t *rng) { return (double)(ti_toy_rng_next(rng) >> 11) / 9007199254740992.0; }

/* Every caption word except the held-out names, each twice so that BPE merges it whole ("shape"
 * too: a word the tokenizer knows whatever the model is trained on). */
static void toy_corpus(const ti_toy_train_config *c, char *out, size_t cap)
{
    size_t len = 0;
    const char *fixed[] = {"a", "on", "background", "shape"};
    for (int rep = 0; rep < 2; rep++) {
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
            len += (size_t)snprintf(out + len, cap - len, "%s ", fixed[i]);
        for (int i = 0; i < TI_TOY_N_SHAPES; i++)
            if (i != c->held_out_shape)
                len += (size_t)snprintf(out + len, cap - len, "%s ", ti_toy_shape_name(i));
        for (int i = 0; i < TI_TOY_N_SIZES; i++)
            len += (size_t)snprintf(out + len, cap - len, "%s ", ti_toy_size_name(i));
        for (int i = 0; i < TI_TOY_N_BACKGROUNDS; i++)
            len += (size_t)snprintf(out + len, cap - len, "%s ", ti_toy_background_name(i));
        for (int i = 0; i < TI_TOY_N_BG_COLOURS; i++)
            if (i != TI_TOY_BG_COLOUR(c->held_out_colour))
                len += (size_t)snprintf(out + len, cap - len, "%s ", ti_toy_bg_colour_name(i));
    }
    if (len > 0)
        out[len - 1] = '\0';
}

void ti_toy_training_batch(const ti_toy_train_config *c, uint64_t *rng, int n, float *pixels, char *captions,
                           size_t cap)
{
    ti_toy_options opts;
    ti_toy_options_default(&opts);
    if (!c->held_out_drawn) {
        opts.exclude_shape = c->held_out_shape;
        opts.exclude_colour = c->held_out_colour;
    }
    size_t plane = (size_t)c->side * (size_t)c->side;
    uint8_t *rgb = malloc(plane * 3);
    for (int i = 0; i < n && rgb; i++) {
        ti_toy_scene s;
        ti_toy_random_scene(rng, c->side, &opts, &s);
        ti_toy_render(&s, c->side, rgb);
        float *dst = pixels + (size_t)i * 3 * plane;
        for (size_t p = 0; p < plane; p++)
            for (int ch = 0; ch < 3; ch++)
                dst[(size_t)ch * plane + p] = rgb[p * 3 + (size_t)ch] / 127.5f - 1.0f;
        /* The parts draw from the stream whether captions are wanted or not. */
        unsigned say = TI_TOY_SAY_ALL;
        for (unsigned bit = 1; bit <= TI_TOY_SAY_BG_COLOUR; bit <<= 1)
            if (uniform01(rng) < c->drop_part)
                say &= ~bit;
        int empty = uniform01(rng) < c->drop_caption;
        if (c->held_out_drawn) {
            /* held-out names never appear; the class word sometimes stands in for known shapes too */
            if (uniform01(rng) < c->drop_shape || s.shape == c->held_out_shape)
                say &= ~(unsigned)TI_TOY_SAY_SHAPE;
            if (s.colour == c->held_out_colour)
                say &= ~(unsigned)TI_TOY_SAY_COLOUR;
            if (c->held_out_colour >= 0 && s.background_colour == TI_TOY_BG_COLOUR(c->held_out_colour))
                say &= ~(unsigned)TI_TOY_SAY_BG_COLOUR;
        }
        if (captions == NULL)
            continue;
        char *out = captions + (size_t)i * cap;
        if (empty)
            out[0] = '\0';
        else
            ti_toy_caption_parts(&s, say, out, cap);
    }
    free(rgb);
}

static void report(const ti_toy_train_config *c, const char *stage, int step, int total, double loss)
{
    if (c->progress)
        c->progress(c->user, stage, step, total, loss);
}

/* An optimizer over every weight of one or two stores (`b` may be NULL), cosine schedule with a
 * 5 % warm-up, no weight decay. */
static tinv_status store_optimizer(const ti_weights *a, const ti_weights *b, double lr, int steps,
                                   tinv_optimizer **out)
{
    size_t na = ti_weights_count(a), nb = b ? ti_weights_count(b) : 0;
    ts_tensor **params = calloc(na + nb, sizeof *params);
    if (params == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "toy model: out of memory");
    for (size_t i = 0; i < na; i++)
        params[i] = ti_weights_at(a, i, NULL);
    for (size_t i = 0; i < nb; i++)
        params[na + i] = ti_weights_at(b, i, NULL);
    tinv_status st = ti_optimizer_create(params, (int)(na + nb), out);
    free(params);
    if (st == TINV_OK)
        st = tinv_optimizer_set_lr(*out, lr);
    if (st == TINV_OK)
        st = tinv_optimizer_set_schedule(*out, TINV_LR_COSINE, steps / 20, steps);
    if (st == TINV_OK)
        st = tinv_optimizer_set_weight_decay(*out, 0.0);
    return st;
}

/* A draw from the VAE posterior: mean + exp(logvar / 2) * N(0, 1) (one randn from `gen`, drawn
 * on the CPU whatever the device, so every device sees the same noise). */
static ts_tensor *sample_posterior(const ts_tensor *mean, const ts_tensor *logvar, ts_generator *gen, ts_device dev)
{
    int64_t ls[4] = {ts_size(mean, 0), ts_size(mean, 1), ts_size(mean, 2), ts_size(mean, 3)};
    return ts_add(mean, ts_mul(ts_exp(ts_mul_scalar(logvar, 0.5)), ts_randn(gen, ls, 4, TS_F32, dev)));
}

/* VAE: reconstruction MSE on a sampled latent plus vae_kl times the mean KL to N(0, 1). */
static tinv_status train_vae(tinv_model *m, const ti_toy_train_config *c, ts_generator *gen, uint64_t *rng)
{
    tinv_optimizer *opt;
    TI_TRY(store_optimizer(m->vae.w, NULL, c->vae_lr, c->vae_steps, &opt));
    size_t per = 3 * (size_t)c->side * (size_t)c->side;
    float *pixels = malloc((size_t)c->vae_batch * per * sizeof *pixels);
    tinv_status st = pixels ? TINV_OK : ti_error(TINV_ERR_OUT_OF_MEMORY, "toy model: out of memory");
    int prev = ts_set_grad_enabled(1);
    double running = 0;
    for (int step = 0; st == TINV_OK && step < c->vae_steps; step++) {
        ti_toy_training_batch(c, rng, c->vae_batch, pixels, NULL, 0);
        size_t scope = ts_scope_begin();
        int64_t shape[4] = {c->vae_batch, 3, c->side, c->side};
        ts_tensor *x = ts_from_data(pixels, TS_F32, shape, 4, TS_F32, m->opts.device), *mean = NULL, *logvar = NULL;
        st = x ? ti_vae_encode(&m->vae, x, 0, &mean, &logvar) : tinv_last_status();
        if (st == TINV_OK) {
            ts_tensor *z = sample_posterior(mean, logvar, gen, m->opts.device);
            ts_tensor *rec = ts_mse_loss(ti_vae_decode(&m->vae, z, 0), x);
            /* KL(N(mu, sigma^2) || N(0, 1)) per element: (mu^2 + sigma^2 - 1 - log sigma^2) / 2. */
            ts_tensor *kl = ts_mul_scalar(
                ts_mean(ts_sub(ts_add_scalar(ts_add(ts_mul(mean, mean), ts_exp(logvar)), -1.0), logvar)), 0.5);
            ts_tensor *loss = ts_add_scaled(rec, kl, c->vae_kl);
            st = loss ? ts_backward(loss) : tinv_last_status();
            if (st == TINV_OK) {
                running += ts_item(rec);
                st = tinv_optimizer_step(opt, NULL);
            }
        }
        ts_scope_end(scope);
        if (st == TINV_OK && (step + 1) % 25 == 0) {
            report(c, "vae", step + 1, c->vae_steps, running / 25);
            running = 0;
        }
    }
    ts_set_grad_enabled(prev);
    free(pixels);
    tinv_optimizer_free(opt);
    return st;
}

/* The latent scale: one over the standard deviation of posterior means of fresh pictures, as
 * SD's 0.18215 was chosen. */
static tinv_status latent_scale(tinv_model *m, const ti_toy_train_config *c, uint64_t *rng, double *scale)
{
    enum { N = 256 };
    size_t per = 3 * (size_t)c->side * (size_t)c->side;
    float *pixels = malloc(N * per * sizeof *pixels);
    if (pixels == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "toy model: out of memory");
    ti_toy_training_batch(c, rng, N, pixels, NULL, 0);
    size_t scope = ts_scope_begin();
    int64_t shape[4] = {N, 3, c->side, c->side};
    ts_tensor *x = ts_from_data(pixels, TS_F32, shape, 4, TS_F32, m->opts.device), *mean = NULL, *logvar = NULL;
    tinv_status st = x ? ti_vae_encode(&m->vae, x, 0, &mean, &logvar) : tinv_last_status();
    if (st == TINV_OK) {
        ts_tensor *centred = ts_sub(mean, ts_mean(mean));
        ts_tensor *var = ts_mean(ts_mul(centred, centred));
        st = var ? TINV_OK : tinv_last_status();
        if (st == TINV_OK)
            *scale = 1.0 / sqrt(ts_item(var));
    }
    ts_scope_end(scope);
    free(pixels);
    return st;
}

static tinv_status save_component(const ti_weights *w, const char *dir, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return ti_weights_save(w, "", TI_ST_F16, path);
}

static tinv_status save_denoiser(const tinv_model *m, const char *dir)
{
    TI_TRY(save_component(m->unet.w, dir, "unet/diffusion_pytorch_model.safetensors"));
    return save_component(m->text.w, dir, "text_encoder/model.safetensors");
}

/* Exponential moving average of the text encoder's and UNet's weights (a smoother model than the
 * last step's; diffusion models sample noticeably cleaner from it). */
typedef struct ema {
    ts_tensor **avg, **param;
    size_t n;
    double decay;
} ema;

static tinv_status ema_start(ema *e, const tinv_model *m, double decay)
{
    memset(e, 0, sizeof *e);
    if (decay <= 0)
        return TINV_OK;
    size_t nu = ti_weights_count(m->unet.w), nt = ti_weights_count(m->text.w);
    e->avg = calloc(nu + nt, sizeof *e->avg);
    e->param = calloc(nu + nt, sizeof *e->param);
    if (e->avg == NULL || e->param == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "toy model: out of memory");
    e->decay = decay;
    int prev = ts_set_grad_enabled(0);
    tinv_status st = TINV_OK;
    for (size_t i = 0; st == TINV_OK && i < nu + nt; i++) {
        e->param[i] = i < nu ? ti_weights_at(m->unet.w, i, NULL) : ti_weights_at(m->text.w, i - nu, NULL);
        e->avg[i] = ts_detach(ts_clone(e->param[i]));
        e->n = i + 1;
        if (e->avg[i] == NULL)
            st = tinv_last_status();
    }
    ts_set_grad_enabled(prev);
    return st;
}

static tinv_status ema_update(ema *e)
{
    tinv_status st = TINV_OK;
    for (size_t i = 0; st == TINV_OK && i < e->n; i++) {
        size_t scope = ts_scope_begin();
        ts_tensor *d = ts_sub(e->param[i], e->avg[i]);
        st = d ? ts_update_(e->avg[i], d, 1.0 - e->decay) : tinv_last_status();
        ts_scope_end(scope);
    }
    return st;
}

/* Put the averages into the model (after the optimizer has let go of the weights). */
static tinv_status ema_finish(ema *e, tinv_status st)
{
    for (size_t i = 0; i < e->n; i++) {
        if (st == TINV_OK)
            st = ts_copy_(e->param[i], e->avg[i]);
        ts_free(e->avg[i]);
    }
    free(e->avg);
    free(e->param);
    memset(e, 0, sizeof *e);
    return st;
}

/* Text encoder and UNet together on the diffusion loss, latents sampled from the VAE posterior;
 * with ema_decay > 0 the weights left in the model are the moving average. */
static tinv_status train_denoiser(tinv_model *m, tinv_tokenizer *tok, const ti_toy_train_config *c,
                                  ts_generator *gen, uint64_t *rng, const char *dir, const char *label, int steps,
                                  double lr, double ema_decay)
{
    enum { CAP = 160, L = 77 };
    tinv_optimizer *opt;
    TI_TRY(store_optimizer(m->unet.w, m->text.w, lr, steps, &opt));
    ema avg;
    tinv_status est = ema_start(&avg, m, ema_decay);
    if (est != TINV_OK) {
        tinv_optimizer_free(opt);
        return ema_finish(&avg, est);
    }
    int B = c->unet_batch;
    size_t per = 3 * (size_t)c->side * (size_t)c->side;
    float *pixels = malloc((size_t)B * per * sizeof *pixels);
    char *captions = malloc((size_t)B * CAP);
    int32_t *ids = malloc((size_t)B * L * sizeof *ids), *timesteps = malloc((size_t)B * sizeof *timesteps);
    tinv_status st = pixels && captions && ids && timesteps ? TINV_OK
                                                            : ti_error(TINV_ERR_OUT_OF_MEMORY, "toy model: out of memory");
    m->weights_trainable = 1;
    double running = 0;
    for (int step = 0; st == TINV_OK && step < steps; step++) {
        ti_toy_training_batch(c, rng, B, pixels, captions, CAP);
        for (int i = 0; st == TINV_OK && i < B; i++) {
            size_t n;
            st = tinv_tokenizer_encode(tok, captions + (size_t)i * CAP, 1, ids + (size_t)i * L, L, &n, NULL);
            timesteps[i] = (int32_t)ti_toy_rng_below(rng, (uint32_t)m->sched.num_train_timesteps);
        }
        if (st != TINV_OK)
            break;
        size_t scope = ts_scope_begin();
        int64_t shape[4] = {B, 3, c->side, c->side}, is[2] = {B, L};
        ts_device dev = m->opts.device;
        ts_tensor *x = ts_from_data(pixels, TS_F32, shape, 4, TS_F32, dev), *mean = NULL, *logvar = NULL;
        ts_tensor *ids_t = ts_from_data(ids, TS_I32, is, 2, TS_I64, dev);
        int prev = ts_set_grad_enabled(0);
        st = x && ids_t ? ti_vae_encode(&m->vae, x, 0, &mean, &logvar) : tinv_last_status();
        ts_set_grad_enabled(prev);
        double loss = 0;
        if (st == TINV_OK) {
            int64_t ls[4] = {ts_size(mean, 0), ts_size(mean, 1), ts_size(mean, 2), ts_size(mean, 3)};
            ts_tensor *z = sample_posterior(mean, logvar, gen, dev); /* before the noise: same draws as always */
            ts_tensor *latents = ts_mul_scalar(z, m->vae.cfg.scaling_factor);
            ts_tensor *noise = ts_randn(gen, ls, 4, TS_F32, dev);
            st = latents && noise ? ti_diffusion_loss(m, ids_t, latents, noise, timesteps, 1, &loss, NULL)
                                  : tinv_last_status();
        }
        if (st == TINV_OK)
            st = tinv_optimizer_step(opt, NULL);
        ts_scope_end(scope);
        if (st == TINV_OK && avg.n > 0)
            st = ema_update(&avg);
        running += loss;
        if (st == TINV_OK && (step + 1) % 25 == 0) {
            report(c, label, step + 1, steps, running / 25);
            running = 0;
        }
        if (st == TINV_OK && c->save_every > 0 && (step + 1) % c->save_every == 0 && step + 1 < steps)
            st = save_denoiser(m, dir);
    }
    m->weights_trainable = 0;
    free(pixels);
    free(captions);
    free(ids);
    free(timesteps);
    tinv_optimizer_free(opt);
    return ema_finish(&avg, st);
}

/* What a training stage works on: the folder's model and tokenizer and a seeded generator. */
typedef struct stage {
    tinv_model *m;
    tinv_tokenizer *tok;
    ts_generator *gen;
} stage;

static tinv_status stage_open(const char *dir, uint64_t seed, const char *device, stage *s)
{
    memset(s, 0, sizeof *s);
    tinv_options *opts = NULL;
    tinv_status st = tinv_options_create(&opts);
    if (st == TINV_OK && device != NULL)
        st = tinv_options_set_device(opts, device);
    if (st == TINV_OK)
        st = tinv_model_load(dir, opts, &s->m);
    tinv_options_free(opts);
    if (st == TINV_OK)
        st = tinv_tokenizer_load(dir, NULL, &s->tok);
    if (st == TINV_OK && (s->gen = ts_generator_create(seed)) == NULL)
        st = tinv_last_status();
    return st;
}

static void stage_close(stage *s)
{
    ts_generator_free(s->gen);
    tinv_tokenizer_free(s->tok);
    tinv_model_free(s->m);
}

tinv_status ti_toy_model_refine(const char *dir, const ti_toy_train_config *c)
{
    stage s;
    tinv_status st = stage_open(dir, c->seed ^ 0x726566696e65ULL, c->device, &s);
    uint64_t rng = c->seed ^ 0x726566696e65ULL; /* "refine": fresh pictures, not the build's */
    if (st == TINV_OK)
        st = train_denoiser(s.m, s.tok, c, s.gen, &rng, dir, "refine", c->refine_steps, c->refine_lr, c->refine_ema);
    if (st == TINV_OK)
        st = save_denoiser(s.m, dir);
    stage_close(&s);
    if (st != TINV_OK)
        ti_error_prefix("refining the toy model");
    return st;
}

tinv_status ti_toy_model_build(const char *dir, const ti_toy_train_config *c)
{
    char corpus[2048];
    toy_corpus(c, corpus, sizeof corpus);
    ti_tiny_spec spec = toy_spec_base;
    spec.corpus = corpus;
    spec.vae_sample = c->side;
    /* one VAE level per halving, 32 channels on the first, 64 on the rest */
    int levels = 1;
    while ((1 << (levels - 1)) < c->latent_factor && levels < 4)
        levels++;
    if ((1 << (levels - 1)) != c->latent_factor || c->side % c->latent_factor != 0 || c->unet_width < 8)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "toy model: latent factor %d (2, 4 or 8 dividing the side %d) "
                        "or UNet width %d (>= 8) out of range", c->latent_factor, c->side, c->unet_width);
    spec.vae_levels = levels;
    for (int i = 0; i < levels; i++)
        spec.vae_channels[i] = i == 0 ? 32 : 64;
    spec.unet_sample = c->side / c->latent_factor;
    spec.unet_channels[0] = c->unet_width;
    spec.unet_channels[1] = 2 * c->unet_width;
    TI_TRY(ti_tiny_model_write(dir, &spec, c->seed));

    stage s;
    tinv_status st = stage_open(dir, c->seed ^ 0x746f79ULL, c->device, &s);
    tinv_model *m = s.m;
    uint64_t rng = c->seed;
    if (st == TINV_OK)
        st = train_vae(m, c, s.gen, &rng);
    double scale = 1.0;
    if (st == TINV_OK)
        st = latent_scale(m, c, &rng, &scale);
    if (st == TINV_OK) {
        report(c, "scale", 1, 1, scale);
        spec.scaling_factor = scale;
        m->vae.cfg.scaling_factor = scale;
        st = ti_tiny_model_write_configs(dir, &spec, m->text.cfg.vocab_size);
    }
    if (st == TINV_OK)
        st = save_component(m->vae.w, dir, "vae/diffusion_pytorch_model.safetensors");
    if (st == TINV_OK)
        st = train_denoiser(m, s.tok, c, s.gen, &rng, dir, "unet", c->unet_steps, c->unet_lr, c->unet_ema);
    if (st == TINV_OK)
        st = save_denoiser(m, dir);
    stage_close(&s);
    if (st != TINV_OK)
        ti_error_prefix("building the toy model");
    return st;
}
