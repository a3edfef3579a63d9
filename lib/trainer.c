/* tinv_trainer: the textual-inversion loop of diffusers' examples/textual_inversion — random
 * training picture, flip, template and timestep, latents from the cached posterior, the
 * diffusion loss into the learned token's vectors, AdamW — with checkpoints, validation
 * pictures and a progress callback. Every random choice comes from one seeded generator. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts.h"
#include "error.h"
#include "model.h"
#include "optimizer.h"
#include "train_loss.h"
#include "train_templates.h"
#include "trainer.h"

#define TI_TRAIN_MAX_BATCH 64

TINV_API tinv_status tinv_trainer_create(tinv_model *model, tinv_tokenizer *tokenizer, const char *token,
                                         tinv_trainer **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    TI_REQUIRE(model);
    TI_REQUIRE(tokenizer);
    TI_REQUIRE(token);
    tinv_trainer *tr = calloc(1, sizeof *tr);
    if (tr == NULL || (tr->token = strdup(token)) == NULL || (tr->templates = strdup("object")) == NULL) {
        tinv_trainer_free(tr);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory creating a trainer");
    }
    tinv_status st = tinv_optimizer_create(model, token, &tr->opt);
    if (st != TINV_OK) {
        tinv_trainer_free(tr);
        return st;
    }
    tr->model = model;
    tr->tok = tokenizer;
    tr->logger = model->opts.logger;
    tr->steps = 3000;
    tr->batch = 1;
    tr->resolution = 512;
    tr->flip_probability = 0.5;
    tr->cache_latents = 1;
    tr->format = TINV_EMBEDDING_DIFFUSERS;
    *out = tr;
    return TINV_OK;
}

TINV_API void tinv_trainer_free(tinv_trainer *tr)
{
    if (tr == NULL)
        return;
    ti_trainer_free_posteriors(tr);
    ti_train_images_free(&tr->images);
    tinv_optimizer_free(tr->opt);
    ts_generator_free(tr->gen);
    free(tr->token);
    free(tr->images_dir);
    free(tr->templates);
    free(tr->embedding_path);
    free(tr->state_path);
    free(tr->validation_prefix);
    free(tr);
}

TINV_API tinv_optimizer *tinv_trainer_optimizer(tinv_trainer *tr) { return tr ? tr->opt : NULL; }

TINV_API int tinv_trainer_get_step(const tinv_trainer *tr) { return tr ? tr->opt->step : 0; }

/* Replace *dst with a copy of `text` (NULL allowed when `optional`). */
static tinv_status set_string(char **dst, const char *text, int optional, const char *what)
{
    if (text == NULL && !optional)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s must not be NULL", what);
    char *copy = NULL;
    if (text != NULL && (copy = strdup(text)) == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    free(*dst);
    *dst = copy;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_images(tinv_trainer *tr, const char *dir)
{
    TI_REQUIRE(tr);
    return set_string(&tr->images_dir, dir, 0, "the image folder");
}

TINV_API tinv_status tinv_trainer_set_templates(tinv_trainer *tr, const char *templates)
{
    TI_REQUIRE(tr);
    TI_REQUIRE(templates);
    ti_templates t;
    TI_TRY(ti_templates_get(templates, &t)); /* check the file now, not hours later */
    ti_templates_free(&t);
    return set_string(&tr->templates, templates, 0, "templates");
}

static tinv_status check_range(const char *what, long long v, long long lo, long long hi)
{
    if (v < lo || v > hi)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s %lld is not in [%lld, %lld]", what, v, lo, hi);
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_steps(tinv_trainer *tr, int steps)
{
    TI_REQUIRE(tr);
    TI_TRY(check_range("steps", steps, 1, 1000000));
    tr->steps = steps;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_batch(tinv_trainer *tr, int batch)
{
    TI_REQUIRE(tr);
    TI_TRY(check_range("batch", batch, 1, TI_TRAIN_MAX_BATCH));
    tr->batch = batch;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_resolution(tinv_trainer *tr, int resolution)
{
    TI_REQUIRE(tr);
    TI_TRY(check_range("resolution", resolution, 1, 4096));
    int mult = ti_model_size_multiple(tr->model);
    if (resolution % mult != 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "resolution %d is not a multiple of %d (this model's size step)",
                        resolution, mult);
    tr->resolution = resolution;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_seed(tinv_trainer *tr, uint64_t seed)
{
    TI_REQUIRE(tr);
    tr->seed = seed;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_augmentation(tinv_trainer *tr, int random_crop, double flip_probability)
{
    TI_REQUIRE(tr);
    if (!(flip_probability >= 0 && flip_probability <= 1))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "flip probability %g is not in [0, 1]", flip_probability);
    tr->random_crop = random_crop != 0;
    tr->flip_probability = flip_probability;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_cache_latents(tinv_trainer *tr, int cache)
{
    TI_REQUIRE(tr);
    tr->cache_latents = cache != 0;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_output(tinv_trainer *tr, const char *embedding_path,
                                             tinv_embedding_format format, const char *state_path, int every)
{
    TI_REQUIRE(tr);
    if (format != TINV_EMBEDDING_DIFFUSERS && format != TINV_EMBEDDING_A1111)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "unknown embedding format %d", (int)format);
    TI_TRY(check_range("save interval", every, 0, 1000000));
    TI_TRY(set_string(&tr->embedding_path, embedding_path, 1, "embedding path"));
    TI_TRY(set_string(&tr->state_path, state_path, 1, "state path"));
    tr->format = format;
    tr->save_every = every;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_validation(tinv_trainer *tr, tinv_sampler *sampler, int every,
                                                 const char *out_prefix)
{
    TI_REQUIRE(tr);
    if (sampler != NULL) {
        TI_REQUIRE(out_prefix);
        TI_TRY(check_range("validation interval", every, 1, 1000000));
    }
    TI_TRY(set_string(&tr->validation_prefix, out_prefix, 1, "validation prefix"));
    tr->validation = sampler;
    tr->validate_every = sampler ? every : 0;
    return TINV_OK;
}

TINV_API tinv_status tinv_trainer_set_progress_callback(tinv_trainer *tr, tinv_train_progress_fn fn, void *user)
{
    TI_REQUIRE(tr);
    tr->progress = fn;
    tr->progress_user = user;
    return TINV_OK;
}

/* ---- the loop --------------------------------------------------------------------------- */

typedef struct micro_batch {
    int image[TI_TRAIN_MAX_BATCH], flip[TI_TRAIN_MAX_BATCH], x[TI_TRAIN_MAX_BATCH], y[TI_TRAIN_MAX_BATCH];
    int template_index[TI_TRAIN_MAX_BATCH];
    int32_t timestep[TI_TRAIN_MAX_BATCH];
} micro_batch;

/* Draw every choice of one micro-batch from the generator, in a fixed order. */
static tinv_status draw_choices(tinv_trainer *tr, int n_templates, int train_steps, micro_batch *mb)
{
    double u[6 * TI_TRAIN_MAX_BATCH];
    TI_TRY(ts_uniform(tr->gen, u, (size_t)(6 * tr->batch)));
    for (int b = 0; b < tr->batch; b++) {
        const double *v = u + 6 * b;
        int i = (int)(v[0] * tr->images.count);
        mb->image[b] = i < tr->images.count ? i : tr->images.count - 1;
        mb->flip[b] = v[1] < tr->flip_probability;
        int k = (int)(v[2] * n_templates);
        mb->template_index[b] = k < n_templates ? k : n_templates - 1;
        int t = (int)(v[3] * train_steps);
        mb->timestep[b] = t < train_steps ? t : train_steps - 1;
        int max_x = 0, max_y = 0;
        TI_TRY(ti_train_image_crop_range(&tr->images, mb->image[b], &max_x, &max_y));
        if (tr->random_crop) {
            mb->x[b] = (int)(v[4] * (max_x + 1));
            mb->y[b] = (int)(v[5] * (max_y + 1));
        } else {
            TI_TRY(ti_train_image_center(&tr->images, mb->image[b], &mb->x[b], &mb->y[b]));
        }
    }
    return TINV_OK;
}

/* Padded ids [B, L] of the micro-batch's prompts. */
static ts_tensor *prompt_ids(tinv_trainer *tr, const ti_templates *tpl, const micro_batch *mb)
{
    size_t L = tinv_tokenizer_max_length(tr->tok);
    int32_t *ids = malloc((size_t)tr->batch * L * sizeof *ids);
    if (ids == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory encoding prompts"), NULL;
    tinv_status st = TINV_OK;
    for (int b = 0; st == TINV_OK && b < tr->batch; b++) {
        const char *caption = tr->images.items[mb->image[b]].caption;
        char *prompt = ti_template_format(caption ? caption : tpl->items[mb->template_index[b]], tr->token);
        size_t n;
        st = prompt ? tinv_tokenizer_encode(tr->tok, prompt, 1, ids + (size_t)b * L, L, &n, NULL) : tinv_last_status();
        free(prompt);
    }
    int64_t shape[2] = {tr->batch, (int64_t)L};
    ts_tensor *t = st == TINV_OK ? ts_from_data(ids, TS_I32, shape, 2, TS_I64, tr->model->opts.device) : NULL;
    free(ids);
    return t;
}

/* One micro-step: draw a batch, compute the loss, accumulate the gradient. */
static tinv_status micro_step(tinv_trainer *tr, const ti_templates *tpl, int train_steps, double *loss)
{
    micro_batch mb;
    TI_TRY(draw_choices(tr, (int)tpl->count, train_steps, &mb));
    tinv_model *m = tr->model;
    int64_t h = tr->images.resolution >> (m->vae.cfg.num_blocks - 1);
    int64_t shape[4] = {1, m->vae.cfg.latent_channels, h, h};
    size_t scope = ts_scope_begin();
    ts_tensor *rows[TI_TRAIN_MAX_BATCH];
    for (int b = 0; b < tr->batch; b++)
        rows[b] = ti_trainer_latents(tr, mb.image[b], mb.x[b], mb.y[b], mb.flip[b],
                                     ts_randn(tr->gen, shape, 4, TS_F32, m->opts.device));
    ts_tensor *latents = ts_cat(rows, tr->batch, 0);
    shape[0] = tr->batch;
    ts_tensor *noise = ts_randn(tr->gen, shape, 4, TS_F32, m->opts.device);
    ts_tensor *ids = prompt_ids(tr, tpl, &mb);
    tinv_status st = latents && noise && ids ? ti_diffusion_loss(m, ids, latents, noise, mb.timestep, 1, loss, NULL)
                                             : tinv_last_status();
    ts_scope_end(scope);
    return st;
}

static tinv_status validate(tinv_trainer *tr, int step)
{
    int w, h, n;
    TI_TRY(tinv_sampler_get_size(tr->validation, &w, &h, &n));
    size_t size = (size_t)w * h * 3 * n;
    uint8_t *rgb = malloc(size);
    if (rgb == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory for validation images");
    char path[4096];
    snprintf(path, sizeof path, "%s-%06d.png", tr->validation_prefix, step);
    tinv_status st = tinv_sampler_run(tr->validation, rgb, size);
    if (st == TINV_OK)
        st = tinv_image_write(path, rgb, w, h, 3, n, n > 1 ? n : 0, 90, tr->validation);
    free(rgb);
    if (st == TINV_OK)
        ti_log(&tr->logger, TINV_LOG_INFO, "step %d: validation images written to %s", step, path);
    return st;
}

static tinv_status prepare(tinv_trainer *tr, ti_templates *tpl, int *train_steps)
{
    if (tr->images_dir == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "no training images: call tinv_trainer_set_images first");
    if (ti_concepts_find(&tr->model->text.concepts, tr->token) == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "'%s' is no longer a learned token of the model", tr->token);
    TI_TRY(tinv_trainer_set_resolution(tr, tr->resolution));
    ti_sched_config cfg;
    TI_TRY(ti_sched_config_parse(tr->model->sched_json, strlen(tr->model->sched_json), "the model's scheduler config",
                                 TI_SCHED_DDPM, NULL, &cfg));
    *train_steps = cfg.num_train_timesteps;
    TI_TRY(ti_templates_get(tr->templates, tpl));
    ti_trainer_free_posteriors(tr);
    ti_train_images_free(&tr->images);
    tinv_status st = ti_train_images_load(tr->images_dir, tr->resolution, &tr->logger, &tr->images);
    if (st == TINV_OK)
        st = ti_trainer_cache_posteriors(tr);
    if (st == TINV_OK && tr->gen == NULL && (tr->gen = ts_generator_create(tr->seed)) == NULL)
        st = tinv_last_status();
    if (st != TINV_OK)
        ti_templates_free(tpl);
    return st;
}

TINV_API tinv_status tinv_trainer_run(tinv_trainer *tr)
{
    TI_REQUIRE(tr);
    ti_templates tpl;
    int train_steps = 1000;
    TI_TRY(prepare(tr, &tpl, &train_steps));
    tinv_optimizer *opt = tr->opt;
    tinv_status st = TINV_OK;
    ti_log(&tr->logger, TINV_LOG_INFO, "training '%s': steps %d..%d, %d images, batch %d x %d, resolution %d",
           tr->token, opt->step + 1, tr->steps, tr->images.count, tr->batch, opt->accumulation, tr->resolution);
    while (st == TINV_OK && opt->step < tr->steps) {
        double lr = tinv_optimizer_get_lr(opt), sum = 0;
        int applied = 0;
        while (st == TINV_OK && !applied) {
            double loss = 0;
            st = micro_step(tr, &tpl, train_steps, &loss);
            sum += loss;
            if (st == TINV_OK)
                st = tinv_optimizer_step(opt, &applied);
        }
        if (st != TINV_OK)
            break;
        int step = opt->step;
        if (tr->save_every > 0 && step % tr->save_every == 0 && step < tr->steps)
            st = ti_trainer_save(tr);
        if (st == TINV_OK && tr->validation && step % tr->validate_every == 0)
            st = validate(tr, step);
        if (st == TINV_OK && tr->progress && tr->progress(tr->progress_user, step, tr->steps, sum / opt->accumulation, lr))
            st = ti_error(TINV_ERR_CANCELLED, "training cancelled by the progress callback at step %d", step);
    }
    if (st != TINV_OK) {
        /* Drop a half-accumulated gradient; the vectors keep their last good values. */
        ts_zero_grad(ti_concepts_find(&tr->model->text.concepts, tr->token)->vectors);
        opt->micro = 0;
    }
    /* A finished or cancelled run saves its vectors; a failed one leaves the last checkpoint. */
    if (st == TINV_OK || st == TINV_ERR_CANCELLED) {
        tinv_status saved = ti_trainer_save(tr);
        st = saved != TINV_OK ? saved : st;
    }
    ti_templates_free(&tpl);
    return st;
}
