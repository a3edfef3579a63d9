/* Loading a diffusers model folder into a tinv_model: configs, then weights, all or nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "model.h"

ts_dtype ti_dtype_to_ts(tinv_dtype dtype)
{
    return dtype == TINV_DTYPE_FP16 ? TS_F16 : dtype == TINV_DTYPE_BF16 ? TS_BF16 : TS_F32;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find "<dir>/<component>/<stem>.safetensors" (or the .fp16 variant); refuse pickle-only folders. */
static tinv_status find_weights(const char *dir, const char *component, const char *stem, char *out, size_t size)
{
    snprintf(out, size, "%s/%s/%s.safetensors", dir, component, stem);
    if (file_exists(out))
        return TINV_OK;
    snprintf(out, size, "%s/%s/%s.fp16.safetensors", dir, component, stem);
    if (file_exists(out))
        return TINV_OK;
    char pickle[4096];
    snprintf(pickle, sizeof pickle, "%s/%s/%s.bin", dir, component, stem);
    if (file_exists(pickle))
        return ti_error(TINV_ERR_UNSUPPORTED,
                        "%s: only a pickle (.bin) file is present; pickles can run arbitrary code and are not "
                        "loaded — convert it to .safetensors",
                        pickle);
    snprintf(out, size, "%s/%s/%s.safetensors", dir, component, stem);
    return ti_error(TINV_ERR_IO, "%s: no such file", out);
}

/* Load one component's config and weights; `load_config` fills the component's config struct. */
static tinv_status load_component(tinv_model *m, const char *component, const char *stem,
                                  tinv_status (*load_config)(const char *, void *), void *config, ti_weights **w)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/config.json", m->path, component);
    TI_TRY(load_config(path, config));
    TI_TRY(find_weights(m->path, component, stem, path, sizeof path));
    TI_TRY(ti_weights_create(ti_dtype_to_ts(m->opts.dtype), m->opts.device, w));
    ti_log(&m->opts.logger, TINV_LOG_INFO, "loading %s", path);
    return ti_weights_load_file(*w, path, "");
}

static tinv_status clip_config(const char *p, void *c) { return ti_clip_config_load(p, c); }
static tinv_status unet_config(const char *p, void *c) { return ti_unet_config_load(p, c); }
static tinv_status vae_config(const char *p, void *c) { return ti_vae_config_load(p, c); }

TINV_API void tinv_model_free(tinv_model *model)
{
    if (model == NULL)
        return;
    ti_weights_free(model->text.w);
    ti_weights_free(model->unet.w);
    ti_weights_free(model->vae.w);
    free(model->path);
    free(model);
}

TINV_API tinv_status tinv_model_load(const char *path, const tinv_options *opts, tinv_model **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    TI_REQUIRE(path);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ti_error(TINV_ERR_IO, "%s: not a model folder (expected a diffusers folder with model_index.json)",
                        path);
    tinv_model *m = calloc(1, sizeof *m);
    if (m == NULL || (m->path = strdup(path)) == NULL) {
        free(m);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);
    }
    ti_options_resolve(opts, &m->opts);
    int prev = ts_set_grad_enabled(0);
    tinv_status status = load_component(m, "text_encoder", "model", clip_config, &m->text.cfg, &m->text.w);
    if (status == TINV_OK)
        status = load_component(m, "unet", "diffusion_pytorch_model", unet_config, &m->unet.cfg, &m->unet.w);
    if (status == TINV_OK)
        status = load_component(m, "vae", "diffusion_pytorch_model", vae_config, &m->vae.cfg, &m->vae.w);
    ts_set_grad_enabled(prev);
    if (status != TINV_OK) {
        ti_error_prefix("loading model %s", path);
        tinv_model_free(m);
        return status;
    }
    *out = m;
    return TINV_OK;
}

TINV_API tinv_status tinv_model_set_log_callback(tinv_model *model, tinv_log_fn fn, tinv_log_level max_level,
                                                 void *user)
{
    TI_REQUIRE(model);
    return tinv_options_set_log_callback(&model->opts, fn, max_level, user);
}
