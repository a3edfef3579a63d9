/* The diffusion loss of textual inversion (diffusers' examples/textual_inversion): the noise
 * schedule is DDPM's built from the model's scheduler config, whatever class it names. */
#include "train_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

void ti_loss_parts_free(ti_loss_parts *p)
{
    if (p == NULL)
        return;
    ts_free(p->noisy);
    ts_free(p->context);
    ts_free(p->pred);
    ts_free(p->target);
    memset(p, 0, sizeof *p);
}

static int any_trainable(const tinv_model *m)
{
    if (m->weights_trainable)
        return 1;
    for (int i = 0; i < m->text.concepts.count; i++)
        if (m->text.concepts.items[i].trainable)
            return 1;
    return 0;
}

tinv_status ti_diffusion_loss(tinv_model *m, const ts_tensor *ids, const ts_tensor *latents, const ts_tensor *noise,
                              const int32_t *timesteps, int backward, double *loss, ti_loss_parts *parts)
{
    if (parts)
        memset(parts, 0, sizeof *parts);
    int64_t batch = ts_size(latents, 0);
    if (batch < 1 || batch > 4096 || ts_size(ids, 0) != batch)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "diffusion loss: %lld prompts for %lld latents",
                        (long long)ts_size(ids, 0), (long long)batch);
    ti_sched_config cfg;
    TI_TRY(ti_sched_config_parse(m->sched_json, strlen(m->sched_json), "the model's scheduler config", TI_SCHED_DDPM,
                                 NULL, &cfg));
    double t[4096];
    float tf[4096];
    for (int64_t i = 0; i < batch; i++) {
        if (timesteps[i] < 0 || timesteps[i] >= cfg.num_train_timesteps)
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "diffusion loss: timestep %d is not in [0, %d)", timesteps[i],
                            cfg.num_train_timesteps);
        t[i] = timesteps[i];
        tf[i] = (float)timesteps[i];
    }
    ti_scheduler *sched;
    TI_TRY(ti_scheduler_create(&cfg, &sched));
    int grad = backward && any_trainable(m);
    int prev = ts_set_grad_enabled(grad);
    size_t scope = ts_scope_begin();
    ts_dtype dt = ti_dtype_to_ts(m->opts.dtype);
    ts_device dev = m->opts.device;
    ts_tensor *x0 = ts_to(latents, dt, dev), *eps = ts_to(noise, dt, dev);
    ts_tensor *noisy = ti_scheduler_add_noise(sched, x0, eps, t, (size_t)batch);
    ts_tensor *target = cfg.prediction_type == TI_PRED_V ? ti_scheduler_get_velocity(sched, x0, eps, t, (size_t)batch)
                                                         : eps;
    ts_tensor *context = ti_clip_encode(&m->text, ti_clip_embed_tokens(&m->text, ts_to(ids, TS_I64, dev)));
    ts_tensor *tt = ts_from_data(tf, TS_F32, (int64_t[]){batch}, 1, TS_F32, dev);
    ts_tensor *pred = ti_unet_forward(&m->unet, noisy, tt, context, 0);
    /* The loss in float32 whatever the compute dtype, as the reference's pred.float(). */
    ts_tensor *l = ts_mse_loss(ts_to(pred, TS_F32, dev), ts_to(target, TS_F32, dev));
    tinv_status st = l ? TINV_OK : tinv_last_status();
    double value = l ? ts_item(l) : 0;
    if (st == TINV_OK && !isfinite(value))
        st = ti_error(TINV_ERR_NUMERIC, "the training loss is %g; no gradient was accumulated", value);
    if (st == TINV_OK && grad)
        st = ts_backward(l);
    if (st == TINV_OK && parts) {
        parts->noisy = ts_detach(ts_clone(noisy));
        parts->context = ts_detach(ts_clone(context));
        parts->pred = ts_detach(ts_clone(pred));
        parts->target = ts_detach(ts_clone(target));
        if (!parts->noisy || !parts->context || !parts->pred || !parts->target) {
            st = tinv_last_status();
            ti_loss_parts_free(parts);
        }
    }
    ts_scope_end(scope);
    ts_set_grad_enabled(prev);
    ti_scheduler_free(sched);
    if (st == TINV_OK)
        *loss = value;
    return st;
}

TINV_API tinv_status tinv_model_diffusion_loss(tinv_model *model, tinv_tokenizer *tokenizer, const char *const *prompts,
                                               int batch, const float *latents, int height, int width,
                                               const int32_t *timesteps, const float *noise, int backward,
                                               double *loss)
{
    TI_REQUIRE(model);
    TI_REQUIRE(tokenizer);
    TI_REQUIRE(prompts);
    TI_REQUIRE(latents);
    TI_REQUIRE(timesteps);
    TI_REQUIRE(noise);
    TI_REQUIRE(loss);
    if (batch < 1 || batch > 4096)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: batch %d is not in [1, 4096]", __func__, batch);
    int mult = 1 << (model->unet.cfg.num_blocks - 1);
    if (height < 1 || width < 1 || height > 4096 || width > 4096 || height % mult || width % mult)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: latent size %dx%d must be positive multiples of %d", __func__,
                        height, width, mult);
    size_t L = tinv_tokenizer_max_length(tokenizer);
    if (L == 0 || L > (size_t)model->text.cfg.max_positions)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tokenizer max length %zu does not fit the text encoder's %d", L,
                        model->text.cfg.max_positions);
    int32_t *ids = malloc((size_t)batch * L * sizeof *ids);
    if (ids == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory encoding prompts");
    tinv_status st = TINV_OK;
    for (int i = 0; st == TINV_OK && i < batch; i++) {
        size_t n;
        st = prompts[i] ? tinv_tokenizer_encode(tokenizer, prompts[i], 1, ids + (size_t)i * L, L, &n, NULL)
                        : ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: prompt %d is NULL", __func__, i);
    }
    if (st == TINV_OK) {
        size_t scope = ts_scope_begin();
        int64_t C = model->unet.cfg.in_channels;
        int64_t xs[4] = {batch, C, height, width}, is[2] = {batch, (int64_t)L};
        ts_device cpu = {TS_CPU, 0};
        ts_tensor *ids_t = ts_from_data(ids, TS_I32, is, 2, TS_I64, cpu);
        ts_tensor *x = ts_from_data(latents, TS_F32, xs, 4, TS_F32, cpu);
        ts_tensor *n = ts_from_data(noise, TS_F32, xs, 4, TS_F32, cpu);
        st = ids_t && x && n ? ti_diffusion_loss(model, ids_t, x, n, timesteps, backward, loss, NULL)
                             : tinv_last_status();
        ts_scope_end(scope);
    }
    free(ids);
    return st;
}
