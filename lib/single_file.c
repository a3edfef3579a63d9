/* Single-file checkpoints: architecture inference from key names and shapes, and the loader that
 * walks the generated key mapping into three diffusers-named weight stores. */
#include "single_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

#define UNET "model.diffusion_model."
#define VAE "first_stage_model."
#define NO_TEXT "no text encoder found (expected cond_stage_model.transformer.* or cond_stage_model.model.*)"

/* The tensor named by a printf-style name, or NULL. */
static const ti_st_tensor *findf(const ti_safetensors *st, const char *f, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static const ti_st_tensor *findf(const ti_safetensors *st, const char *f, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, f);
    vsnprintf(name, sizeof name, f, ap);
    va_end(ap);
    return ti_safetensors_find(st, name);
}

/* A tensor the inference cannot do without, with at least `ndim` dims. */
static tinv_status need(const ti_safetensors *st, const char *name, int ndim, const ti_st_tensor **out)
{
    TI_TRY(ti_safetensors_require(st, name, out));
    if ((*out)->ndim < ndim)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: tensor '%s' has %d dimensions, expected %d",
                        ti_safetensors_label(st), name, (*out)->ndim, ndim);
    return TINV_OK;
}

static int dim(const ti_st_tensor *t, int i) { return t->shape[i] > 1000000 ? 0 : (int)t->shape[i]; }

/* Heads for a width: 64-dimensional heads where the width allows (SD2, OpenCLIP and CLIP-L all
 * use them), one head for narrower test models. */
static int heads_64(int width) { return width >= 64 ? width / 64 : 1; }

/* ---- inference ------------------------------------------------------------------------ */

tinv_status ti_sf_infer_text(const ti_safetensors *st, ti_clip_config *c)
{
    memset(c, 0, sizeof *c);
    const char *file = ti_safetensors_label(st);
    ti_sf_text_layout layout = ti_sf_text_layout_of(st);
    const ti_st_tensor *tok, *pos, *fc1;
    char name[256];
    if (layout == TI_SF_TEXT_OPENCLIP) {
        TI_TRY(need(st, "cond_stage_model.model.token_embedding.weight", 2, &tok));
        TI_TRY(need(st, "cond_stage_model.model.positional_embedding", 2, &pos));
        TI_TRY(need(st, "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight", 2, &fc1));
        int n = 0;
        while (findf(st, "cond_stage_model.model.transformer.resblocks.%d.attn.in_proj_weight", n))
            n++;
        /* diffusers' SD2 text encoder stops one layer short: the pipeline conditions on the
         * penultimate OpenCLIP layer (then ln_final). */
        if (n < 2)
            return ti_error(TINV_ERR_BAD_FORMAT, "%s: OpenCLIP text encoder with %d layers (expected at least 2)",
                            file, n);
        c->num_layers = n - 1;
        c->quick_gelu = 0;
    } else if (layout == TI_SF_TEXT_CLIP || layout == TI_SF_TEXT_CLIP_OLD) {
        const char *p = layout == TI_SF_TEXT_CLIP ? "cond_stage_model.transformer.text_model."
                                                  : "cond_stage_model.transformer.";
        snprintf(name, sizeof name, "%sembeddings.token_embedding.weight", p);
        TI_TRY(need(st, name, 2, &tok));
        snprintf(name, sizeof name, "%sembeddings.position_embedding.weight", p);
        TI_TRY(need(st, name, 2, &pos));
        snprintf(name, sizeof name, "%sencoder.layers.0.mlp.fc1.weight", p);
        TI_TRY(need(st, name, 2, &fc1));
        while (findf(st, "%sencoder.layers.%d.self_attn.q_proj.weight", p, c->num_layers))
            c->num_layers++;
        c->quick_gelu = 1;
    } else {
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: %s", file, NO_TEXT);
    }
    c->vocab_size = dim(tok, 0);
    c->hidden_size = dim(tok, 1);
    c->max_positions = dim(pos, 0);
    c->intermediate_size = dim(fc1, 0);
    c->num_heads = heads_64(c->hidden_size);
    c->layer_norm_eps = 1e-5;
    if (c->vocab_size < 1 || c->hidden_size < 1 || c->max_positions < 1 || c->intermediate_size < 1 ||
        c->num_layers < 1 || c->hidden_size % c->num_heads != 0)
        return ti_error(TINV_ERR_UNSUPPORTED,
                        "%s: cannot infer the text encoder's shape (width %d, %d layers); pass a config folder", file,
                        c->hidden_size, c->num_layers);
    return TINV_OK;
}

tinv_status ti_sf_infer_unet(const ti_safetensors *st, ti_unet_config *c)
{
    memset(c, 0, sizeof *c);
    const char *file = ti_safetensors_label(st);
    const ti_st_tensor *conv_in, *conv_out, *proj_in, *to_k;
    TI_TRY(need(st, UNET "input_blocks.0.0.weight", 4, &conv_in));
    TI_TRY(need(st, UNET "out.2.weight", 4, &conv_out));
    TI_TRY(need(st, UNET "middle_block.1.proj_in.weight", 2, &proj_in));
    TI_TRY(need(st, UNET "middle_block.1.transformer_blocks.0.attn2.to_k.weight", 2, &to_k));
    c->in_channels = dim(conv_in, 1);
    c->out_channels = dim(conv_out, 0);

    /* input_blocks.N is a resnet (N.0.in_layers), optionally with a transformer (N.1), or a
     * downsampler (N.0.op) that closes a level. */
    int level = 0, layers = 0;
    for (int n = 1;; n++) {
        int down = findf(st, UNET "input_blocks.%d.0.op.weight", n) != NULL;
        const ti_st_tensor *res = down ? NULL : findf(st, UNET "input_blocks.%d.0.in_layers.2.weight", n);
        if ((down || res == NULL) && layers == 0)
            return ti_error(TINV_ERR_BAD_FORMAT, "%s: UNet level %d has no resnets (at input_blocks.%d)", file,
                            level, n);
        if (down || res == NULL) {
            if (level == 0)
                c->layers_per_block = layers;
            else if (layers != c->layers_per_block)
                return ti_error(TINV_ERR_UNSUPPORTED, "%s: UNet level %d has %d resnets, level 0 has %d", file, level,
                                layers, c->layers_per_block);
            level++;
            layers = 0;
            if (!down)
                break;
            continue;
        }
        if (level >= TI_MAX_BLOCKS)
            return ti_error(TINV_ERR_UNSUPPORTED, "%s: UNet has more than %d levels", file, TI_MAX_BLOCKS);
        if (layers == 0) {
            c->block_out[level] = dim(res, 0);
            c->down_cross[level] = findf(st, UNET "input_blocks.%d.1.proj_in.weight", n) != NULL;
        }
        layers++;
    }
    c->num_blocks = level;
    for (int i = 0; i < c->num_blocks; i++)
        c->up_cross[i] = findf(st, UNET "output_blocks.%d.1.proj_in.weight", i * (c->layers_per_block + 1)) != NULL;

    c->cross_attention_dim = dim(to_k, 1);
    c->linear_projection = proj_in->ndim == 2;
    while (findf(st, UNET "middle_block.1.transformer_blocks.%d.attn1.to_q.weight", c->transformer_layers))
        c->transformer_layers++;
    /* SD1 has 8 heads per block; SD2 (linear projections, 1024-wide OpenCLIP context) 64-dim heads. */
    int sd2 = c->linear_projection || c->cross_attention_dim == 1024;
    for (int i = 0; i < c->num_blocks; i++)
        c->heads[i] = sd2 ? heads_64(c->block_out[i]) : 8;
    c->norm_groups = 32;
    c->norm_eps = 1e-5;
    c->flip_sin_to_cos = 1;
    c->freq_shift = 0;

    if (c->transformer_layers < 1 || c->cross_attention_dim < 1 || c->in_channels < 1 || c->out_channels < 1)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: cannot infer the UNet's shape", file);
    if (1 + c->num_blocks * (c->layers_per_block + 1) > 64)
        return ti_error(TINV_ERR_UNSUPPORTED, "%s: %d UNet levels of %d layers need more than 64 skip connections",
                        file, c->num_blocks, c->layers_per_block);
    for (int i = 0; i < c->num_blocks; i++)
        if (c->block_out[i] < 1 || c->block_out[i] % c->norm_groups != 0 || c->block_out[i] % c->heads[i] != 0)
            return ti_error(TINV_ERR_UNSUPPORTED,
                            "%s: UNet level %d has %d channels, not divisible by %d groups and %d heads; pass a config "
                            "folder",
                            file, i, c->block_out[i], c->norm_groups, c->heads[i]);
    return TINV_OK;
}

tinv_status ti_sf_infer_vae(const ti_safetensors *st, ti_vae_config *c)
{
    memset(c, 0, sizeof *c);
    const char *file = ti_safetensors_label(st);
    const ti_st_tensor *conv_in, *conv_out, *post, *res;
    TI_TRY(need(st, VAE "encoder.conv_in.weight", 4, &conv_in));
    TI_TRY(need(st, VAE "decoder.conv_out.weight", 4, &conv_out));
    TI_TRY(need(st, VAE "post_quant_conv.weight", 2, &post));
    while ((res = findf(st, VAE "encoder.down.%d.block.0.conv1.weight", c->num_blocks)) != NULL) {
        if (c->num_blocks == TI_MAX_BLOCKS)
            return ti_error(TINV_ERR_UNSUPPORTED, "%s: VAE has more than %d levels", file, TI_MAX_BLOCKS);
        c->block_out[c->num_blocks++] = dim(res, 0);
    }
    while (findf(st, VAE "encoder.down.0.block.%d.conv1.weight", c->layers_per_block))
        c->layers_per_block++;
    c->in_channels = dim(conv_in, 1);
    c->out_channels = dim(conv_out, 0);
    c->latent_channels = dim(post, 0);
    c->norm_groups = 32;
    c->scaling_factor = 0.18215;
    if (c->num_blocks < 1 || c->layers_per_block < 1)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: missing tensor '" VAE "encoder.down.0.block.0.conv1.weight'", file);
    for (int i = 0; i < c->num_blocks; i++)
        if (c->block_out[i] < 1 || c->block_out[i] % c->norm_groups != 0)
            return ti_error(TINV_ERR_UNSUPPORTED, "%s: VAE level %d has %d channels, not divisible by %d groups", file,
                            i, c->block_out[i], c->norm_groups);
    return TINV_OK;
}

/* ---- loading -------------------------------------------------------------------------- */

static const char *const component_name[3] = {"text encoder", "UNet", "VAE"};

typedef struct loader {
    const ti_safetensors *st;
    ti_weights *w[3];
    /* The fused OpenCLIP q/k/v tensor last read, kept (detached) for the next two splits. */
    char fused_name[192];
    ts_tensor *fused;
} loader;

static tinv_status load_fused(loader *l, const ti_sf_key *k, ts_dtype dt, ts_device dev)
{
    if (l->fused != NULL && strcmp(l->fused_name, k->src) == 0)
        return TINV_OK;
    ts_free(l->fused);
    l->fused = NULL;
    int64_t shape[4];
    memcpy(shape, k->shape, sizeof shape);
    shape[0] *= 3;
    ts_tensor *t = NULL;
    TI_TRY(ti_safetensors_load(l->st, k->src, dt, dev, shape, k->ndim, &t));
    l->fused = ts_detach(t);
    snprintf(l->fused_name, sizeof l->fused_name, "%s", k->src);
    return TINV_OK;
}

/* Convert one tensor and store it under its diffusers name (ti_sf_emit_fn). */
static tinv_status load_key(void *ctx, const ti_sf_key *k)
{
    loader *l = ctx;
    ti_weights *w = l->w[k->component];
    ts_dtype dt = ti_weights_dtype(w);
    ts_device dev = ti_weights_device(w);
    size_t scope = ts_scope_begin();
    ts_tensor *t = NULL;
    tinv_status st = TINV_OK;
    if (k->transform == TI_SF_SQUEEZE_1X1) {
        const ti_st_tensor *info = NULL;
        st = ti_safetensors_require(l->st, k->src, &info);
        if (st == TINV_OK && info->ndim == 4) {
            int64_t conv_shape[4] = {k->shape[0], k->shape[1], 1, 1};
            st = ti_st_to_tensor(info, dt, dev, conv_shape, 4, &t);
            t = st == TINV_OK ? ts_reshape(t, k->shape, k->ndim) : NULL;
        } else if (st == TINV_OK) { /* some re-saved checkpoints already hold the linear form */
            st = ti_st_to_tensor(info, dt, dev, k->shape, k->ndim, &t);
        }
    } else if (k->transform == TI_SF_SPLIT3) {
        st = load_fused(l, k, dt, dev);
        /* A copy, so the stored q/k/v do not each keep the whole fused tensor alive. */
        t = st == TINV_OK ? ts_clone(ts_narrow(l->fused, 0, k->part * k->shape[0], k->shape[0])) : NULL;
    } else {
        st = ti_safetensors_load(l->st, k->src, dt, dev, k->shape, k->ndim, &t);
    }
    if (st == TINV_OK && t == NULL)
        st = tinv_last_status();
    if (st == TINV_OK && !ts_all_finite(t))
        st = ti_error(TINV_ERR_NUMERIC, "%s: tensor '%s' contains NaN or infinity", ti_safetensors_label(l->st),
                      k->src);
    if (st == TINV_OK)
        st = ti_weights_put(w, k->dst, t);
    ts_scope_end(scope);
    if (st != TINV_OK)
        ti_error_prefix("%s weight '%s'", component_name[k->component], k->dst);
    return st;
}

static tinv_status load_configs(const ti_safetensors *st, const char *config_dir, ti_clip_config *text,
                                ti_unet_config *unet, ti_vae_config *vae)
{
    if (config_dir == NULL) {
        TI_TRY(ti_sf_infer_text(st, text));
        TI_TRY(ti_sf_infer_unet(st, unet));
        TI_TRY(ti_sf_infer_vae(st, vae));
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s/text_encoder/config.json", config_dir);
        TI_TRY(ti_clip_config_load(path, text));
        snprintf(path, sizeof path, "%s/unet/config.json", config_dir);
        TI_TRY(ti_unet_config_load(path, unet));
        snprintf(path, sizeof path, "%s/vae/config.json", config_dir);
        TI_TRY(ti_vae_config_load(path, vae));
    }
    /* Cheap consistency checks that would otherwise fail deep inside the first forward pass. */
    if (text->hidden_size != unet->cross_attention_dim)
        return ti_error(TINV_ERR_BAD_FORMAT,
                        "%s: text encoder width %d does not match the UNet's cross_attention_dim %d",
                        ti_safetensors_label(st), text->hidden_size, unet->cross_attention_dim);
    if (unet->in_channels != vae->latent_channels)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: UNet in_channels %d does not match the VAE's latent_channels %d",
                        ti_safetensors_label(st), unet->in_channels, vae->latent_channels);
    return TINV_OK;
}

static tinv_status load_all(loader *l, const char *config_dir, ts_dtype dtype, ts_device device, ti_clip_config *text,
                            ti_unet_config *unet, ti_vae_config *vae)
{
    ti_sf_text_layout layout = ti_sf_text_layout_of(l->st);
    if (layout == TI_SF_TEXT_NONE)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: %s", ti_safetensors_label(l->st), NO_TEXT);
    TI_TRY(load_configs(l->st, config_dir, text, unet, vae));
    for (int i = 0; i < 3; i++)
        TI_TRY(ti_weights_create(dtype, device, &l->w[i]));
    TI_TRY(ti_sf_text_keys(text, layout, load_key, l));
    TI_TRY(ti_sf_unet_keys(unet, load_key, l));
    return ti_sf_vae_keys(vae, load_key, l);
}

tinv_status ti_single_file_load(const char *path, const char *config_dir, ts_dtype dtype, ts_device device,
                                ti_clip_config *text_cfg, ti_weights **text_w, ti_unet_config *unet_cfg,
                                ti_weights **unet_w, ti_vae_config *vae_cfg, ti_weights **vae_w)
{
    TI_REQUIRE(text_w);
    TI_REQUIRE(unet_w);
    TI_REQUIRE(vae_w);
    *text_w = *unet_w = *vae_w = NULL;
    TI_REQUIRE(text_cfg);
    TI_REQUIRE(unet_cfg);
    TI_REQUIRE(vae_cfg);
    memset(text_cfg, 0, sizeof *text_cfg);
    memset(unet_cfg, 0, sizeof *unet_cfg);
    memset(vae_cfg, 0, sizeof *vae_cfg);
    TI_REQUIRE(path);

    loader l;
    memset(&l, 0, sizeof l);
    ti_safetensors *st = NULL;
    TI_TRY(ti_safetensors_open(path, &st));
    l.st = st;
    tinv_status status = load_all(&l, config_dir, dtype, device, text_cfg, unet_cfg, vae_cfg);
    ts_free(l.fused);
    ti_safetensors_close(st);
    if (status != TINV_OK) {
        for (int i = 0; i < 3; i++)
            ti_weights_free(l.w[i]);
        memset(text_cfg, 0, sizeof *text_cfg);
        memset(unet_cfg, 0, sizeof *unet_cfg);
        memset(vae_cfg, 0, sizeof *vae_cfg);
        return status;
    }
    *text_w = l.w[0];
    *unet_w = l.w[1];
    *vae_w = l.w[2];
    return TINV_OK;
}
