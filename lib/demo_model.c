/* tinv_demo_model_write: a tiny SD-1.x-architecture diffusers folder with seeded random weights,
 * so the whole pipeline (tokenize, encode, sample, train) runs without any download.
 *
 * Sizes are chosen for speed, not quality: a 64x64 picture is a 16x16 latent (VAE factor 4),
 * and one UNet forward + backward at that size takes milliseconds on two cores. The weights
 * follow the networks' own name/shape enumerators (unet_params.c, and the diffusers side of
 * single_file_keys.c for the text encoder and VAE), so they are exactly what the loader checks. */
#include "demo_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "image.h"
#include "model_config.h"
#include "safetensors.h"
#include "single_file.h"
#include "unet_params.h"

/* ---- architecture ---------------------------------------------------------------------- */

/* The demo model: a 64x64 picture is a 16x16 latent (VAE factor 4); text width 32 is also the
 * UNet's cross_attention_dim. */
static const ti_tiny_spec demo_spec = {
    .text_width = 32, .text_layers = 2, .text_heads = 4, .text_ff = 128,
    .unet_channels = {32, 64}, .unet_cross = {1, 0}, .unet_levels = 2, .unet_heads = 4, .unet_sample = 16,
    .vae_channels = {32, 32, 32}, .vae_levels = 3, .vae_sample = 64, .scaling_factor = 0.18215,
    .corpus = ti_demo_corpus, .max_merges = 64,
};

static const char model_index[] =
    "{\n"
    "  \"_class_name\": \"StableDiffusionPipeline\",\n"
    "  \"_diffusers_version\": \"0.25.0\",\n"
    "  \"feature_extractor\": [null, null],\n"
    "  \"requires_safety_checker\": false,\n"
    "  \"safety_checker\": [null, null],\n"
    "  \"scheduler\": [\"diffusers\", \"PNDMScheduler\"],\n"
    "  \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],\n"
    "  \"tokenizer\": [\"transformers\", \"CLIPTokenizer\"],\n"
    "  \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],\n"
    "  \"vae\": [\"diffusers\", \"AutoencoderKL\"]\n"
    "}\n";

/* SD 1.x's own schedule. */
static const char scheduler_config_fmt[] =
    "{\n"
    "  \"_class_name\": \"PNDMScheduler\",\n"
    "  \"_diffusers_version\": \"0.25.0\",\n"
    "  \"beta_end\": 0.012,\n"
    "  \"beta_schedule\": \"scaled_linear\",\n"
    "  \"beta_start\": 0.00085,\n"
    "  \"clip_sample\": false,\n"
    "  \"num_train_timesteps\": 1000,\n"
    "  \"prediction_type\": \"%s\",\n"
    "  \"set_alpha_to_one\": false,\n"
    "  \"skip_prk_steps\": true,\n"
    "  \"steps_offset\": 1,\n"
    "  \"timestep_spacing\": \"leading\",\n"
    "  \"trained_betas\": null\n"
    "}\n";

/* bos/eos/pad ids are the tokenizer's, so transformers finds the pooled position either way. */
static const char text_config_fmt[] =
    "{\n"
    "  \"architectures\": [\"CLIPTextModel\"],\n"
    "  \"attention_dropout\": 0.0,\n"
    "  \"bos_token_id\": %d,\n"
    "  \"dropout\": 0.0,\n"
    "  \"eos_token_id\": %d,\n"
    "  \"hidden_act\": \"quick_gelu\",\n"
    "  \"hidden_size\": %d,\n"
    "  \"initializer_factor\": 1.0,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": %d,\n"
    "  \"layer_norm_eps\": 1e-05,\n"
    "  \"max_position_embeddings\": %d,\n"
    "  \"model_type\": \"clip_text_model\",\n"
    "  \"num_attention_heads\": %d,\n"
    "  \"num_hidden_layers\": %d,\n"
    "  \"pad_token_id\": %d,\n"
    "  \"projection_dim\": %d,\n"
    "  \"torch_dtype\": \"float32\",\n"
    "  \"vocab_size\": %d\n"
    "}\n";

static const char unet_config_fmt[] =
    "{\n"
    "  \"_class_name\": \"UNet2DConditionModel\",\n"
    "  \"_diffusers_version\": \"0.25.0\",\n"
    "  \"act_fn\": \"silu\",\n"
    "  \"attention_head_dim\": %d,\n"
    "  \"block_out_channels\": [%s],\n"
    "  \"center_input_sample\": false,\n"
    "  \"cross_attention_dim\": %d,\n"
    "  \"down_block_types\": [%s],\n"
    "  \"downsample_padding\": 1,\n"
    "  \"flip_sin_to_cos\": true,\n"
    "  \"freq_shift\": 0,\n"
    "  \"in_channels\": 4,\n"
    "  \"layers_per_block\": 1,\n"
    "  \"mid_block_scale_factor\": 1,\n"
    "  \"mid_block_type\": \"UNetMidBlock2DCrossAttn\",\n"
    "  \"norm_eps\": 1e-05,\n"
    "  \"norm_num_groups\": 32,\n"
    "  \"out_channels\": 4,\n"
    "  \"sample_size\": %d,\n"
    "  \"up_block_types\": [%s],\n"
    "  \"use_linear_projection\": false\n"
    "}\n";

/* A latent pixel is 2^(levels-1) picture pixels a side. */
static const char vae_config_fmt[] =
    "{\n"
    "  \"_class_name\": \"AutoencoderKL\",\n"
    "  \"_diffusers_version\": \"0.25.0\",\n"
    "  \"act_fn\": \"silu\",\n"
    "  \"block_out_channels\": [%s],\n"
    "  \"down_block_types\": [%s],\n"
    "  \"in_channels\": 3,\n"
    "  \"latent_channels\": 4,\n"
    "  \"layers_per_block\": 1,\n"
    "  \"norm_num_groups\": 32,\n"
    "  \"out_channels\": 3,\n"
    "  \"sample_size\": %d,\n"
    "  \"scaling_factor\": %.9g,\n"
    "  \"up_block_types\": [%s]\n"
    "}\n";

/* ---- files ----------------------------------------------------------------------------- */

tinv_status ti_demo_write_text(const char *path, const char *text)
{
    FILE *f;
    char *tmp;
    TI_TRY(ti_image_tmp_open(path, &f, &tmp));
    size_t len = strlen(text);
    tinv_status st = fwrite(text, 1, len, f) == len ? TINV_OK
                                                     : ti_error(TINV_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    return ti_image_tmp_finish(f, tmp, path, st);
}

static tinv_status make_dir(const char *path)
{
    struct stat st;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return ti_error(TINV_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ti_error(TINV_ERR_IO, "%s: exists and is not a folder", path);
    return TINV_OK;
}

/* mkdir -p: each missing parent, then the folder itself. */
static tinv_status make_dirs(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        tinv_status st = make_dir(path);
        *p = '/';
        TI_TRY(st);
    }
    return make_dir(path);
}

static tinv_status write_component_config(const char *dir, const char *component, const char *name,
                                          const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, component);
    TI_TRY(make_dir(path));
    snprintf(path, sizeof path, "%s/%s/%s", dir, component, name);
    return ti_demo_write_text(path, text);
}

/* ---- weights --------------------------------------------------------------------------- */

typedef struct param {
    char name[192];
    int64_t shape[4];
    int ndim;
    float *data;
} param;

typedef struct param_list {
    param *items;
    size_t n, cap;
    ts_generator *gen;
} param_list;

static void param_list_free(param_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i].data);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

double ti_param_init_std(const char *name, const int64_t *shape, int ndim, float *constant)
{
    *constant = 0.0f;
    if (ends_with(name, ".bias"))
        return 0.0;
    if (ndim == 1) {
        *constant = 1.0f;
        return 0.0;
    }
    if (strstr(name, "token_embedding") != NULL)
        return 0.02;
    if (strstr(name, "position_embedding") != NULL)
        return 0.01;
    double fan_in = 1.0;
    for (int i = 1; i < ndim; i++)
        fan_in *= (double)shape[i];
    return 1.0 / sqrt(fan_in);
}

static tinv_status fill(param_list *l, param *p, size_t numel)
{
    float constant;
    double std = ti_param_init_std(p->name, p->shape, p->ndim, &constant);
    if (std == 0.0) {
        for (size_t i = 0; i < numel; i++)
            p->data[i] = constant;
        return TINV_OK;
    }
    size_t scope = ts_scope_begin();
    ts_device cpu = {TS_CPU, 0};
    ts_tensor *t = ts_randn(l->gen, p->shape, p->ndim, TS_F32, cpu);
    tinv_status st = t ? ts_to_host(t, p->data, TS_F32, numel) : tinv_last_status();
    ts_scope_end(scope);
    for (size_t i = 0; st == TINV_OK && i < numel; i++)
        p->data[i] *= (float)std;
    return st;
}

static tinv_status add_param(void *user, const char *name, const int64_t *shape, int ndim)
{
    param_list *l = user;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 256;
        param *items = realloc(l->items, ncap * sizeof *items);
        if (items == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "demo model: out of memory");
        l->items = items;
        l->cap = ncap;
    }
    param *p = &l->items[l->n];
    memset(p, 0, sizeof *p);
    if (ndim < 1 || ndim > 4 || strlen(name) >= sizeof p->name)
        return ti_error(TINV_ERR_INTERNAL, "demo model: unexpected parameter '%s'", name);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    p->data = malloc(numel * sizeof *p->data);
    if (p->data == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "demo model: out of memory for '%s'", name);
    l->n++;
    return fill(l, p, numel);
}

static tinv_status add_key(void *user, const ti_sf_key *key)
{
    return add_param(user, key->dst, key->shape, key->ndim);
}

static tinv_status write_params(const param_list *l, const char *path)
{
    ti_st_entry *entries = calloc(l->n ? l->n : 1, sizeof *entries);
    if (entries == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "demo model: out of memory");
    for (size_t i = 0; i < l->n; i++)
        entries[i] = (ti_st_entry){l->items[i].name, TI_ST_F32, l->items[i].ndim, l->items[i].shape, l->items[i].data};
    static const char *const metadata[2] = {"format", "pt"};
    tinv_status st = ti_safetensors_write(path, entries, l->n, metadata, 1);
    free(entries);
    return st;
}

typedef enum component { TEXT, UNET, VAE } component;

/* Draw one network's weights from `gen` (in its enumerator's order) and write them to `path`. */
static tinv_status write_weights(component which, const void *cfg, ts_generator *gen, const char *path)
{
    param_list l = {NULL, 0, 0, gen};
    tinv_status st = which == TEXT   ? ti_sf_text_keys(cfg, TI_SF_TEXT_CLIP, add_key, &l)
                     : which == UNET ? ti_unet_params(cfg, add_param, &l)
                                     : ti_sf_vae_keys(cfg, add_key, &l);
    if (st == TINV_OK)
        st = write_params(&l, path);
    param_list_free(&l);
    return st;
}

/* ---- the folder ------------------------------------------------------------------------ */

/* A JSON list: ints, or one of two quoted names per level chosen by `pick` (NULL: ints). */
static void json_list(char *out, size_t cap, int n, const int *ints, const int *pick, const char *yes, const char *no)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        const char *sep = i ? ", " : "";
        if (pick == NULL)
            len += (size_t)snprintf(out + len, cap - len, "%s%d", sep, ints[i]);
        else
            len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", sep, pick[i] ? yes : no);
    }
}

tinv_status ti_tiny_model_write_configs(const char *dir, const ti_tiny_spec *sp, int vocab)
{
    char text[4096], chans[256], down[512], up[512];
    const int ts = sp->text_width;
    snprintf(text, sizeof text, text_config_fmt, vocab - 2, vocab - 1, ts, sp->text_ff, 77, sp->text_heads,
             sp->text_layers, vocab - 1, ts, vocab);
    TI_TRY(write_component_config(dir, "text_encoder", "config.json", text));

    int up_cross[TI_MAX_BLOCKS];
    for (int i = 0; i < sp->unet_levels; i++)
        up_cross[i] = sp->unet_cross[sp->unet_levels - 1 - i];
    json_list(chans, sizeof chans, sp->unet_levels, sp->unet_channels, NULL, NULL, NULL);
    json_list(down, sizeof down, sp->unet_levels, NULL, sp->unet_cross, "CrossAttnDownBlock2D", "DownBlock2D");
    json_list(up, sizeof up, sp->unet_levels, NULL, up_cross, "CrossAttnUpBlock2D", "UpBlock2D");
    snprintf(text, sizeof text, unet_config_fmt, sp->unet_heads, chans, ts, down, sp->unet_sample, up);
    TI_TRY(write_component_config(dir, "unet", "config.json", text));

    int all[TI_MAX_BLOCKS] = {1, 1, 1, 1, 1, 1, 1, 1};
    json_list(chans, sizeof chans, sp->vae_levels, sp->vae_channels, NULL, NULL, NULL);
    json_list(down, sizeof down, sp->vae_levels, NULL, all, "DownEncoderBlock2D", NULL);
    json_list(up, sizeof up, sp->vae_levels, NULL, all, "UpDecoderBlock2D", NULL);
    snprintf(text, sizeof text, vae_config_fmt, chans, down, sp->vae_sample, sp->scaling_factor, up);
    return write_component_config(dir, "vae", "config.json", text);
}

/* Configs and tokenizer first, weights next, model_index.json last: a folder whose writing was
 * interrupted lacks the index that marks it as a pipeline. */
static tinv_status write_model(const char *dir, const ti_tiny_spec *sp, uint64_t seed)
{
    char path[4096];
    char sched[1024];
    snprintf(sched, sizeof sched, scheduler_config_fmt, sp->v_prediction ? "v_prediction" : "epsilon");
    TI_TRY(write_component_config(dir, "scheduler", "scheduler_config.json", sched));
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    TI_TRY(make_dir(path));
    int vocab = 0;
    TI_TRY(ti_demo_tokenizer_write(path, sp->corpus, sp->max_merges, &vocab));
    TI_TRY(ti_tiny_model_write_configs(dir, sp, vocab));

    /* Read the configs back with the loader's own parsers: the weights then follow exactly the
     * architecture a load will see. */
    ti_clip_config text_cfg;
    ti_unet_config unet_cfg;
    ti_vae_config vae_cfg;
    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    TI_TRY(ti_clip_config_load(path, &text_cfg));
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    TI_TRY(ti_unet_config_load(path, &unet_cfg));
    snprintf(path, sizeof path, "%s/vae/config.json", dir);
    TI_TRY(ti_vae_config_load(path, &vae_cfg));

    ts_generator *gen = ts_generator_create(seed);
    if (gen == NULL)
        return tinv_last_status();
    snprintf(path, sizeof path, "%s/text_encoder/model.safetensors", dir);
    tinv_status st = write_weights(TEXT, &text_cfg, gen, path);
    if (st == TINV_OK) {
        snprintf(path, sizeof path, "%s/unet/diffusion_pytorch_model.safetensors", dir);
        st = write_weights(UNET, &unet_cfg, gen, path);
    }
    if (st == TINV_OK) {
        snprintf(path, sizeof path, "%s/vae/diffusion_pytorch_model.safetensors", dir);
        st = write_weights(VAE, &vae_cfg, gen, path);
    }
    ts_generator_free(gen);
    TI_TRY(st);
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    return ti_demo_write_text(path, model_index);
}

tinv_status ti_tiny_model_write(const char *dir, const ti_tiny_spec *spec, uint64_t seed)
{
    if (dir[0] == '\0')
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "empty folder name");
    if (strlen(dir) > 3000)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "folder name too long");
    if (spec->unet_levels < 1 || spec->unet_levels > TI_MAX_BLOCKS || spec->vae_levels < 1 ||
        spec->vae_levels > TI_MAX_BLOCKS)
        return ti_error(TINV_ERR_INTERNAL, "tiny model: bad number of levels");
    TI_TRY(make_dirs(dir));
    return write_model(dir, spec, seed);
}

TINV_API tinv_status tinv_demo_model_write(const char *dir, uint64_t seed)
{
    TI_REQUIRE(dir);
    tinv_status st = ti_tiny_model_write(dir, &demo_spec, seed);
    if (st != TINV_OK)
        ti_error_prefix("writing the demo model");
    return st;
}
