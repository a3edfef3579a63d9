/* Public forward passes on caller buffers: shape checks, host<->device copies, no-grad mode. */
#include <stdint.h>

#include "error.h"
#include "model.h"

/* Reject zero or absurd sizes before they reach libtorch (and before products overflow). */
static tinv_status check_dim(const char *fn, const char *what, size_t value, size_t max)
{
    if (value == 0 || value > max)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: %s = %zu is not in [1, %zu]", fn, what, value, max);
    return TINV_OK;
}

/* Spatial sizes must divide evenly by the network's total down-sampling factor. */
static tinv_status check_multiple(const char *fn, const char *what, size_t height, size_t width, size_t multiple)
{
    if (height % multiple != 0 || width % multiple != 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: %s size %zux%zu must be a multiple of %zu", fn, what, height,
                        width, multiple);
    return TINV_OK;
}

/* Runs with gradients off and a scope that frees every temporary; copies `result` out. */
static tinv_status finish(size_t scope, int prev_grad, ts_tensor *result, float *dst)
{
    tinv_status st = result ? ts_to_host(result, dst, TS_F32, (size_t)ts_numel(result)) : tinv_last_status();
    if (st == TINV_OK && result && !ts_all_finite(result))
        st = ti_error(TINV_ERR_NUMERIC, "the output contains NaN or infinity");
    ts_scope_end(scope);
    ts_set_grad_enabled(prev_grad);
    return st;
}

TINV_API tinv_status tinv_model_get_int(const tinv_model *model, tinv_model_property property, int64_t *value)
{
    TI_REQUIRE(model);
    TI_REQUIRE(value);
    const ti_unet_config *u = &model->unet.cfg;
    switch (property) {
    case TINV_MODEL_TEXT_HIDDEN_SIZE: *value = model->text.cfg.hidden_size; break;
    case TINV_MODEL_TEXT_MAX_LENGTH: *value = model->text.cfg.max_positions; break;
    case TINV_MODEL_TEXT_VOCAB_SIZE: *value = model->text.cfg.vocab_size; break;
    case TINV_MODEL_CONTEXT_DIM: *value = u->cross_attention_dim; break;
    case TINV_MODEL_LATENT_CHANNELS: *value = model->vae.cfg.latent_channels; break;
    case TINV_MODEL_VAE_SCALE_FACTOR: *value = (int64_t)1 << (model->vae.cfg.num_blocks - 1); break;
    case TINV_MODEL_UNET_SIZE_MULTIPLE: *value = (int64_t)1 << (u->num_blocks - 1); break;
    case TINV_MODEL_PREDICTION_TYPE: *value = model->sched.prediction_type == TI_PRED_V; break;
    default: return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_model_get_int: unknown property %d", (int)property);
    }
    return TINV_OK;
}

TINV_API tinv_status tinv_model_get_vae_scaling_factor(const tinv_model *model, double *value)
{
    TI_REQUIRE(model);
    TI_REQUIRE(value);
    *value = model->vae.cfg.scaling_factor;
    return TINV_OK;
}

TINV_API tinv_status tinv_model_encode_text(tinv_model *model, const int32_t *ids, size_t batch, size_t seq_len,
                                            float *hidden, float *pooled)
{
    TI_REQUIRE(model);
    TI_REQUIRE(ids);
    TI_REQUIRE(hidden);
    const ti_clip_config *c = &model->text.cfg;
    TI_TRY(check_dim(__func__, "batch", batch, 4096));
    TI_TRY(check_dim(__func__, "seq_len", seq_len, (size_t)c->max_positions));
    int known = c->vocab_size + ti_concepts_vectors(&model->text.concepts); /* learned tokens follow the table */
    for (size_t i = 0; i < batch * seq_len; i++)
        if (ids[i] < 0 || ids[i] >= known)
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: token id %d at index %zu is outside [0, %d)", __func__,
                            ids[i], i, known);
    int prev = ts_set_grad_enabled(0);
    size_t scope = ts_scope_begin();
    int64_t shape[2] = {(int64_t)batch, (int64_t)seq_len};
    ts_tensor *t_ids = ts_from_data(ids, TS_I32, shape, 2, TS_I64, model->opts.device);
    ts_tensor *h = ti_clip_encode(&model->text, ti_clip_embed_tokens(&model->text, t_ids));
    if (h != NULL && pooled != NULL) {
        /* pooled = hidden state at argmax(ids) of each row (transformers' rule for eos_token_id 2). */
        int64_t index[4096];
        for (size_t b = 0; b < batch; b++) {
            size_t best = 0;
            for (size_t i = 1; i < seq_len; i++)
                if (ids[b * seq_len + i] > ids[b * seq_len + best])
                    best = i;
            index[b] = (int64_t)(b * seq_len + best);
        }
        int64_t flat[2] = {(int64_t)(batch * seq_len), c->hidden_size}, n = (int64_t)batch;
        ts_tensor *rows = ts_index_select(ts_reshape(h, flat, 2), 0, ts_from_data(index, TS_I64, &n, 1, TS_I64,
                                                                                   model->opts.device));
        if (ts_to_host(rows, pooled, TS_F32, batch * (size_t)c->hidden_size) != TINV_OK) {
            ts_scope_end(scope);
            ts_set_grad_enabled(prev);
            return tinv_last_status();
        }
    }
    return finish(scope, prev, h, hidden);
}

TINV_API tinv_status tinv_model_unet(tinv_model *model, const float *sample, size_t batch, size_t height,
                                     size_t width, const float *timesteps, size_t n_timesteps, const float *context,
                                     size_t context_len, float *out)
{
    TI_REQUIRE(model);
    TI_REQUIRE(sample);
    TI_REQUIRE(timesteps);
    TI_REQUIRE(context);
    TI_REQUIRE(out);
    const ti_unet_config *u = &model->unet.cfg;
    TI_TRY(check_dim(__func__, "batch", batch, 4096));
    TI_TRY(check_dim(__func__, "height", height, 1 << 14));
    TI_TRY(check_dim(__func__, "width", width, 1 << 14));
    TI_TRY(check_dim(__func__, "context_len", context_len, 1 << 16));
    TI_TRY(check_multiple(__func__, "latent", height, width, (size_t)1 << (u->num_blocks - 1)));
    if (n_timesteps != 1 && n_timesteps != batch)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: n_timesteps must be 1 or the batch size %zu, not %zu",
                        __func__, batch, n_timesteps);
    float t_batch[4096];
    for (size_t i = 0; i < batch; i++)
        t_batch[i] = timesteps[n_timesteps == 1 ? 0 : i];
    ts_device dev = model->opts.device;
    ts_dtype dt = ti_dtype_to_ts(model->opts.dtype);
    int prev = ts_set_grad_enabled(0);
    size_t scope = ts_scope_begin();
    int64_t xs[4] = {(int64_t)batch, u->in_channels, (int64_t)height, (int64_t)width};
    int64_t cs[3] = {(int64_t)batch, (int64_t)context_len, u->cross_attention_dim}, ts = (int64_t)batch;
    ts_tensor *y = ti_unet_forward(&model->unet, ts_from_data(sample, TS_F32, xs, 4, dt, dev),
                                   ts_from_data(t_batch, TS_F32, &ts, 1, TS_F32, dev),
                                   ts_from_data(context, TS_F32, cs, 3, dt, dev), 0);
    return finish(scope, prev, y, out);
}

TINV_API tinv_status tinv_model_vae_encode(tinv_model *model, const float *image, size_t batch, size_t height,
                                           size_t width, float *mean, float *logvar)
{
    TI_REQUIRE(model);
    TI_REQUIRE(image);
    TI_REQUIRE(mean);
    TI_REQUIRE(logvar);
    const ti_vae_config *v = &model->vae.cfg;
    TI_TRY(check_dim(__func__, "batch", batch, 4096));
    TI_TRY(check_dim(__func__, "height", height, 1 << 15));
    TI_TRY(check_dim(__func__, "width", width, 1 << 15));
    TI_TRY(check_multiple(__func__, "image", height, width, (size_t)1 << (v->num_blocks - 1)));
    int prev = ts_set_grad_enabled(0);
    size_t scope = ts_scope_begin();
    int64_t xs[4] = {(int64_t)batch, v->in_channels, (int64_t)height, (int64_t)width};
    ts_tensor *mu = NULL, *lv = NULL;
    tinv_status st = ti_vae_encode(&model->vae, ts_from_data(image, TS_F32, xs, 4, ti_dtype_to_ts(model->opts.dtype),
                                                             model->opts.device),
                                   0, &mu, &lv);
    if (st == TINV_OK)
        st = ts_to_host(lv, logvar, TS_F32, (size_t)ts_numel(lv));
    if (st != TINV_OK) {
        ts_scope_end(scope);
        ts_set_grad_enabled(prev);
        return st;
    }
    return finish(scope, prev, mu, mean);
}

TINV_API tinv_status tinv_model_vae_decode(tinv_model *model, const float *latents, size_t batch, size_t height,
                                           size_t width, float *image)
{
    TI_REQUIRE(model);
    TI_REQUIRE(latents);
    TI_REQUIRE(image);
    const ti_vae_config *v = &model->vae.cfg;
    TI_TRY(check_dim(__func__, "batch", batch, 4096));
    TI_TRY(check_dim(__func__, "height", height, 1 << 12));
    TI_TRY(check_dim(__func__, "width", width, 1 << 12));
    int prev = ts_set_grad_enabled(0);
    size_t scope = ts_scope_begin();
    int64_t xs[4] = {(int64_t)batch, v->latent_channels, (int64_t)height, (int64_t)width};
    ts_tensor *y = ti_vae_decode(&model->vae, ts_from_data(latents, TS_F32, xs, 4, ti_dtype_to_ts(model->opts.dtype),
                                                           model->opts.device),
                                 0);
    return finish(scope, prev, y, image);
}
