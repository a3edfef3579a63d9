/* Enumerates UNet2DConditionModel parameters from the config: used to check a checkpoint's shapes
 * at load time and to build random-weight models for benchmarks. */
#include "unet_params.h"

#include <stdio.h>

#include "error.h"

typedef struct emitter {
    ti_param_fn fn;
    void *user;
    tinv_status status;
} emitter;

static void emit(emitter *e, const char *prefix, const char *suffix, int ndim, int64_t d0, int64_t d1, int64_t d2,
                 int64_t d3)
{
    if (e->status != TINV_OK)
        return;
    char name[256];
    snprintf(name, sizeof name, "%s%s", prefix, suffix);
    int64_t shape[4] = {d0, d1, d2, d3};
    e->status = e->fn(e->user, name, shape, ndim);
}

static void linear(emitter *e, const char *p, int64_t out, int64_t in, int bias)
{
    emit(e, p, ".weight", 2, out, in, 0, 0);
    if (bias)
        emit(e, p, ".bias", 1, out, 0, 0, 0);
}

static void conv(emitter *e, const char *p, int64_t out, int64_t in, int k)
{
    emit(e, p, ".weight", 4, out, in, k, k);
    emit(e, p, ".bias", 1, out, 0, 0, 0);
}

static void norm(emitter *e, const char *p, int64_t c)
{
    emit(e, p, ".weight", 1, c, 0, 0, 0);
    emit(e, p, ".bias", 1, c, 0, 0, 0);
}

static void resnet(emitter *e, const char *p, int64_t in, int64_t out, int64_t temb)
{
    char n[256];
    snprintf(n, sizeof n, "%s.norm1", p), norm(e, n, in);
    snprintf(n, sizeof n, "%s.conv1", p), conv(e, n, out, in, 3);
    snprintf(n, sizeof n, "%s.time_emb_proj", p), linear(e, n, out, temb, 1);
    snprintf(n, sizeof n, "%s.norm2", p), norm(e, n, out);
    snprintf(n, sizeof n, "%s.conv2", p), conv(e, n, out, out, 3);
    if (in != out)
        snprintf(n, sizeof n, "%s.conv_shortcut", p), conv(e, n, out, in, 1);
}

static void attention(emitter *e, const char *p, int64_t c, int64_t kv)
{
    char n[256];
    snprintf(n, sizeof n, "%s.to_q", p), linear(e, n, c, c, 0);
    snprintf(n, sizeof n, "%s.to_k", p), linear(e, n, c, kv, 0);
    snprintf(n, sizeof n, "%s.to_v", p), linear(e, n, c, kv, 0);
    snprintf(n, sizeof n, "%s.to_out.0", p), linear(e, n, c, c, 1);
}

static void transformer(emitter *e, const ti_unet_config *cfg, const char *p, int64_t c)
{
    char n[256];
    snprintf(n, sizeof n, "%s.norm", p), norm(e, n, c);
    snprintf(n, sizeof n, "%s.proj_in", p);
    if (cfg->linear_projection)
        linear(e, n, c, c, 1);
    else
        conv(e, n, c, c, 1);
    for (int j = 0; j < cfg->transformer_layers; j++) {
        char b[256];
        snprintf(b, sizeof b, "%s.transformer_blocks.%d", p, j);
        snprintf(n, sizeof n, "%s.norm1", b), norm(e, n, c);
        snprintf(n, sizeof n, "%s.attn1", b), attention(e, n, c, c);
        snprintf(n, sizeof n, "%s.norm2", b), norm(e, n, c);
        snprintf(n, sizeof n, "%s.attn2", b), attention(e, n, c, cfg->cross_attention_dim);
        snprintf(n, sizeof n, "%s.norm3", b), norm(e, n, c);
        snprintf(n, sizeof n, "%s.ff.net.0.proj", b), linear(e, n, 8 * c, c, 1);
        snprintf(n, sizeof n, "%s.ff.net.2", b), linear(e, n, c, 4 * c, 1);
    }
    snprintf(n, sizeof n, "%s.proj_out", p);
    if (cfg->linear_projection)
        linear(e, n, c, c, 1);
    else
        conv(e, n, c, c, 1);
}

tinv_status ti_unet_params(const ti_unet_config *cfg, ti_param_fn fn, void *user)
{
    emitter e = {fn, user, TINV_OK};
    const int *ch = cfg->block_out;
    int nb = cfg->num_blocks, last = nb - 1;
    int64_t temb = 4 * ch[0];
    char p[256];
    conv(&e, "conv_in", ch[0], cfg->in_channels, 3);
    linear(&e, "time_embedding.linear_1", temb, ch[0], 1);
    linear(&e, "time_embedding.linear_2", temb, temb, 1);

    int skip_ch[64], n_skips = 0;
    skip_ch[n_skips++] = ch[0];
    int64_t in = ch[0];
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < cfg->layers_per_block; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d", i, j), resnet(&e, p, in, ch[i], temb);
            in = ch[i];
            if (cfg->down_cross[i])
                snprintf(p, sizeof p, "down_blocks.%d.attentions.%d", i, j), transformer(&e, cfg, p, in);
            skip_ch[n_skips++] = (int)in;
        }
        if (i < last) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i), conv(&e, p, in, in, 3);
            skip_ch[n_skips++] = (int)in;
        }
    }
    resnet(&e, "mid_block.resnets.0", in, in, temb);
    transformer(&e, cfg, "mid_block.attentions.0", in);
    resnet(&e, "mid_block.resnets.1", in, in, temb);
    for (int i = 0; i < nb; i++) {
        int64_t out = ch[last - i];
        for (int j = 0; j <= cfg->layers_per_block; j++) {
            int64_t skip = skip_ch[--n_skips];
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d", i, j), resnet(&e, p, in + skip, out, temb);
            in = out;
            if (cfg->up_cross[i])
                snprintf(p, sizeof p, "up_blocks.%d.attentions.%d", i, j), transformer(&e, cfg, p, in);
        }
        if (i < last)
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i), conv(&e, p, in, in, 3);
    }
    norm(&e, "conv_norm_out", in);
    conv(&e, "conv_out", cfg->out_channels, in, 3);
    return e.status;
}
