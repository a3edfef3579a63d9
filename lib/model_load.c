/* Loading a diffusers model folder into a tinv_model: configs, then weights, all or nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "model.h"
#include "single_file.h"
#include "unet_params.h"

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

static tinv_status check_param(void *weights, const char *name, const int64_t *shape, int ndim)
{
    return ti_weights_check(weights, name, shape, ndim);
}

/* Run each network once on the smallest valid input, so that a missing weight or one whose shape
 * does not fit the config fails here, naming the weight, instead of on the first real call. */
static tinv_status validate(const tinv_model *m)
{
    TI_TRY(ti_unet_params(&m->unet.cfg, check_param, m->unet.w));
    size_t scope = ts_scope_begin();
    ts_device dev = m->opts.device;
    ts_dtype dt = ti_dtype_to_ts(m->opts.dtype);
    int64_t one = 1, ids_shape[2] = {1, 1};
    int64_t side = (int64_t)1 << (m->unet.cfg.num_blocks - 1), f = (int64_t)1 << (m->vae.cfg.num_blocks - 1);
    int64_t latent_shape[4] = {1, m->unet.cfg.in_channels, side, side};
    int64_t context_shape[3] = {1, 1, m->unet.cfg.cross_attention_dim};
    int64_t vae_latent[4] = {1, m->vae.cfg.latent_channels, 1, 1}, image[4] = {1, m->vae.cfg.in_channels, f, f};
    ts_tensor *ok = ti_clip_encode(&m->text, ti_clip_embed_tokens(&m->text, ts_zeros(ids_shape, 2, TS_I64, dev)));
    if (ok != NULL)
        ok = ti_unet_forward(&m->unet, ts_zeros(latent_shape, 4, dt, dev), ts_zeros(&one, 1, TS_F32, dev),
                             ts_zeros(context_shape, 3, dt, dev), 0);
    if (ok != NULL)
        ok = ti_vae_decode(&m->vae, ts_zeros(vae_latent, 4, dt, dev), 0);
    ts_tensor *mean = NULL, *logvar = NULL;
    tinv_status st = ok ? ti_vae_encode(&m->vae, ts_zeros(image, 4, dt, dev), 0, &mean, &logvar) : tinv_last_status();
    if (st == TINV_OK && m->text.cfg.hidden_size != m->unet.cfg.cross_attention_dim)
        st = ti_error(TINV_ERR_BAD_FORMAT, "text encoder width %d does not match the UNet's cross_attention_dim %d",
                      m->text.cfg.hidden_size, m->unet.cfg.cross_attention_dim);
    if (st == TINV_OK && m->unet.cfg.in_channels != m->vae.cfg.latent_channels)
        st = ti_error(TINV_ERR_BAD_FORMAT, "UNet in_channels %d does not match the VAE's latent_channels %d",
                      m->unet.cfg.in_channels, m->vae.cfg.latent_channels);
    ts_scope_end(scope);
    return st;
}

TINV_API void tinv_model_free(tinv_model *model)
{
    if (model == NULL)
        return;
    ti_concepts_free(&model->text.concepts);
    ti_weights_free(model->text.w);
    ti_weights_free(model->unet.w);
    ti_weights_free(model->vae.w);
    free(model->path);
    free(model->sched_json);
    free(model);
}

/* Stable Diffusion's own scheduler configs, for checkpoints that come without one: SD 1.x ships
 * PNDM with epsilon prediction; SD 2.x (768-v) DDIM with v prediction. */
static const char sd1_sched_json[] =
    "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", "
    "\"beta_start\": 0.00085, \"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, "
    "\"skip_prk_steps\": true, \"steps_offset\": 1, \"clip_sample\": false}";
static const char sd2_sched_json[] =
    "{\"_class_name\": \"DDIMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", "
    "\"beta_start\": 0.00085, \"clip_sample\": false, \"num_train_timesteps\": 1000, "
    "\"prediction_type\": \"v_prediction\", \"set_alpha_to_one\": false, \"skip_prk_steps\": true, "
    "\"steps_offset\": 1}";

static char *read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Load <dir>/scheduler/scheduler_config.json (dir may be NULL or ""); without one, fall back to
 * the SD default for the architecture: v prediction when the UNet's context is 1024 wide (SD 2.x). */
static tinv_status load_scheduler(tinv_model *m, const char *dir)
{
    char path[4096];
    const char *label = "built-in SD scheduler defaults";
    m->sched_json = NULL;
    if (dir != NULL && dir[0] != '\0') {
        snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
        m->sched_json = read_text(path, (size_t)1 << 20);
        if (m->sched_json != NULL)
            label = path;
    }
    if (m->sched_json == NULL) {
        int v = m->unet.cfg.cross_attention_dim == 1024;
        ti_log(&m->opts.logger, TINV_LOG_INFO, "no scheduler/scheduler_config.json; using SD %d defaults (%s)",
               v ? 2 : 1, v ? "DDIM, v_prediction" : "PNDM, epsilon");
        m->sched_json = strdup(v ? sd2_sched_json : sd1_sched_json);
        if (m->sched_json == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return ti_sched_config_parse(m->sched_json, strlen(m->sched_json), label, TI_SCHED_FROM_CONFIG, NULL,
                                 &m->sched);
}

TINV_API tinv_status tinv_model_load(const char *path, const tinv_options *opts, tinv_model **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    TI_REQUIRE(path);
    struct stat st;
    int single_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (!single_file && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
        return ti_error(TINV_ERR_IO, "%s: no such model (expected a diffusers folder or a .safetensors checkpoint)",
                        path);
    size_t len = strlen(path);
    if (single_file && (len < 12 || strcmp(path + len - 12, ".safetensors") != 0))
        return ti_error(TINV_ERR_UNSUPPORTED,
                        "%s: only .safetensors checkpoints are loaded (.ckpt/.pt/.bin are pickles, which can run "
                        "arbitrary code)",
                        path);
    tinv_model *m = calloc(1, sizeof *m);
    if (m == NULL || (m->path = strdup(path)) == NULL) {
        free(m);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);
    }
    ti_options_resolve(opts, &m->opts);
    if (m->opts.dtype == TINV_DTYPE_FP16 && m->opts.device.type == TS_CPU) {
        free(m->path);
        free(m);
        /* libtorch's CPU kernels lack fp16 layer/group norm; bf16 has them. */
        return ti_error(TINV_ERR_UNSUPPORTED, "fp16 compute needs a CUDA device; on the CPU use bf16 or fp32");
    }
    int prev = ts_set_grad_enabled(0);
    tinv_status status;
    if (single_file) {
        ti_log(&m->opts.logger, TINV_LOG_INFO, "loading single-file checkpoint %s", path);
        status = ti_single_file_load(path, m->opts.config_dir[0] ? m->opts.config_dir : NULL,
                                     ti_dtype_to_ts(m->opts.dtype), m->opts.device, &m->text.cfg, &m->text.w,
                                     &m->unet.cfg, &m->unet.w, &m->vae.cfg, &m->vae.w);
    } else {
        status = load_component(m, "text_encoder", "model", clip_config, &m->text.cfg, &m->text.w);
        if (status == TINV_OK)
            status = load_component(m, "unet", "diffusion_pytorch_model", unet_config, &m->unet.cfg, &m->unet.w);
        if (status == TINV_OK)
            status = load_component(m, "vae", "diffusion_pytorch_model", vae_config, &m->vae.cfg, &m->vae.w);
    }
    if (status == TINV_OK)
        status = validate(m);
    if (status == TINV_OK)
        status = load_scheduler(m, single_file ? m->opts.config_dir : path);
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
