/* UNet2DConditionModel: time embedding, down blocks, mid block, up blocks with skip connections. */
#include "unet.h"

#include <math.h>
#include <stdio.h>

#include "error.h"

/* Sinusoidal embedding of float32 timesteps [B] -> [B, dim], in float32 like diffusers. */
static ts_tensor *timestep_embedding(const ti_unet_config *cfg, const ts_tensor *t)
{
    int half = cfg->block_out[0] / 2;
    ts_device device = ts_device_of(t);
    ts_tensor *exponent = ts_mul_scalar(ts_arange(half, TS_F32, device), -log(10000.0));
    ts_tensor *freqs = ts_exp(ts_div_scalar(exponent, half - cfg->freq_shift));
    ts_tensor *args = ts_mul(ts_unsqueeze(ts_to(t, TS_F32, device), 1), ts_unsqueeze(freqs, 0));
    ts_tensor *sin_cos[2] = {ts_sin(args), ts_cos(args)};
    if (cfg->flip_sin_to_cos) {
        ts_tensor *tmp = sin_cos[0];
        sin_cos[0] = sin_cos[1];
        sin_cos[1] = tmp;
    }
    return ts_cat(sin_cos, 2, 1);
}

/* diffusers Attention with to_q/to_k/to_v (no bias) and to_out.0; context = NULL for self-attention. */
static ts_tensor *attention(const ti_nn *nn, const ts_tensor *x, const ts_tensor *context, const char *prefix,
                            int heads)
{
    char q[256], k[256], v[256], o[256];
    snprintf(q, sizeof q, "%s.to_q", prefix);
    snprintf(k, sizeof k, "%s.to_k", prefix);
    snprintf(v, sizeof v, "%s.to_v", prefix);
    snprintf(o, sizeof o, "%s.to_out.0", prefix);
    const ts_tensor *kv = context ? context : x;
    return ti_linear(nn, ti_attention_heads(ti_linear(nn, x, q), ti_linear(nn, kv, k), ti_linear(nn, kv, v), heads,
                                            NULL),
                     o);
}

/* BasicTransformerBlock: self-attention, cross-attention, GEGLU feed-forward, each pre-LN + residual. */
static ts_tensor *transformer_block(const ti_nn *nn, ts_tensor *h, const ts_tensor *context, const char *prefix,
                                    int heads)
{
    char n[256], a[256];
    snprintf(n, sizeof n, "%s.norm1", prefix);
    snprintf(a, sizeof a, "%s.attn1", prefix);
    h = ts_add(attention(nn, ti_layer_norm(nn, h, n, 1e-5), NULL, a, heads), h);
    snprintf(n, sizeof n, "%s.norm2", prefix);
    snprintf(a, sizeof a, "%s.attn2", prefix);
    h = ts_add(attention(nn, ti_layer_norm(nn, h, n, 1e-5), context, a, heads), h);

    snprintf(n, sizeof n, "%s.norm3", prefix);
    snprintf(a, sizeof a, "%s.ff.net.0.proj", prefix);
    ts_tensor *parts[2] = {NULL, NULL};
    ts_chunk(ti_linear(nn, ti_layer_norm(nn, h, n, 1e-5), a), 2, -1, parts); /* (value, gate) */
    ts_tensor *geglu = ts_mul(parts[0], ts_gelu(parts[1], 0));
    snprintf(a, sizeof a, "%s.ff.net.2", prefix);
    return ts_add(ti_linear(nn, geglu, a), h);
}

/* Transformer2DModel: GN -> proj_in -> blocks over [B, HW, C] tokens -> proj_out -> + input. */
static ts_tensor *transformer_2d(const ti_unet *m, const ti_nn *nn, const ts_tensor *x, const ts_tensor *context,
                                 const char *prefix, int heads)
{
    if (x == NULL)
        return NULL;
    int64_t b = ts_size(x, 0), c = ts_size(x, 1), hh = ts_size(x, 2), ww = ts_size(x, 3);
    int to_tokens[4] = {0, 2, 3, 1}, to_image[4] = {0, 3, 1, 2};
    int64_t tokens_shape[3] = {b, hh * ww, c}, nhwc_shape[4] = {b, hh, ww, c};
    char name[256];
    snprintf(name, sizeof name, "%s.norm", prefix);
    ts_tensor *h = ti_group_norm(nn, x, name, m->cfg.norm_groups, 1e-6);
    snprintf(name, sizeof name, "%s.proj_in", prefix);
    if (m->cfg.linear_projection)
        h = ti_linear(nn, ts_reshape(ts_permute(h, to_tokens, 4), tokens_shape, 3), name);
    else
        h = ts_reshape(ts_permute(ti_conv(nn, h, name, 1, 0), to_tokens, 4), tokens_shape, 3);
    for (int j = 0; j < m->cfg.transformer_layers; j++) {
        snprintf(name, sizeof name, "%s.transformer_blocks.%d", prefix, j);
        h = transformer_block(nn, h, context, name, heads);
    }
    snprintf(name, sizeof name, "%s.proj_out", prefix);
    if (m->cfg.linear_projection)
        h = ts_permute(ts_reshape(ti_linear(nn, h, name), nhwc_shape, 4), to_image, 4);
    else
        h = ti_conv(nn, ts_contiguous(ts_permute(ts_reshape(h, nhwc_shape, 4), to_image, 4)), name, 1, 0);
    return ts_add(h, x);
}

ts_tensor *ti_unet_forward(const ti_unet *m, const ts_tensor *x, const ts_tensor *t, const ts_tensor *context,
                           int circular)
{
    const ti_unet_config *cfg = &m->cfg;
    if (x == NULL || t == NULL || context == NULL)
        return NULL;
    int64_t factor = (int64_t)1 << (cfg->num_blocks - 1);
    if (ts_size(x, 2) % factor != 0 || ts_size(x, 3) % factor != 0) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "UNet: latent size %lldx%lld is not divisible by %lld",
                 (long long)ts_size(x, 2), (long long)ts_size(x, 3), (long long)factor);
        return NULL;
    }
    ti_nn nn = {m->w, circular};
    double eps = cfg->norm_eps;
    int groups = cfg->norm_groups;
    size_t scope = ts_scope_begin();
    char name[256];

    ts_tensor *temb = timestep_embedding(cfg, t);
    temb = ti_linear(&nn, ts_silu(ti_linear(&nn, ts_to(temb, ts_dtype_of(x), ts_device_of(x)),
                                            "time_embedding.linear_1")),
                     "time_embedding.linear_2");

    ts_tensor *skips[64];
    int n_skips = 0;
    ts_tensor *h = ti_conv(&nn, x, "conv_in", 1, 1);
    skips[n_skips++] = h;
    for (int i = 0; i < cfg->num_blocks; i++) {
        for (int j = 0; j < cfg->layers_per_block; j++) {
            snprintf(name, sizeof name, "down_blocks.%d.resnets.%d", i, j);
            h = ti_resnet(&nn, h, temb, 1, name, groups, eps);
            if (cfg->down_cross[i]) {
                snprintf(name, sizeof name, "down_blocks.%d.attentions.%d", i, j);
                h = transformer_2d(m, &nn, h, context, name, cfg->heads[i]);
            }
            skips[n_skips++] = h;
        }
        if (i < cfg->num_blocks - 1) {
            snprintf(name, sizeof name, "down_blocks.%d.downsamplers.0.conv", i);
            h = ti_conv(&nn, h, name, 2, 1);
            skips[n_skips++] = h;
        }
    }

    int last = cfg->num_blocks - 1;
    h = ti_resnet(&nn, h, temb, 1, "mid_block.resnets.0", groups, eps);
    h = transformer_2d(m, &nn, h, context, "mid_block.attentions.0", cfg->heads[last]);
    h = ti_resnet(&nn, h, temb, 1, "mid_block.resnets.1", groups, eps);

    for (int i = 0; i < cfg->num_blocks; i++) {
        int heads = cfg->heads[last - i]; /* up blocks use the head list reversed */
        for (int j = 0; j <= cfg->layers_per_block; j++) {
            ts_tensor *pair[2] = {h, skips[--n_skips]};
            h = ts_cat(pair, 2, 1);
            snprintf(name, sizeof name, "up_blocks.%d.resnets.%d", i, j);
            h = ti_resnet(&nn, h, temb, 1, name, groups, eps);
            if (cfg->up_cross[i]) {
                snprintf(name, sizeof name, "up_blocks.%d.attentions.%d", i, j);
                h = transformer_2d(m, &nn, h, context, name, heads);
            }
        }
        if (i < cfg->num_blocks - 1) {
            snprintf(name, sizeof name, "up_blocks.%d.upsamplers.0.conv", i);
            h = ti_conv(&nn, ts_upsample_nearest2x(h), name, 1, 1);
        }
    }
    h = ts_silu(ti_group_norm(&nn, h, "conv_norm_out", groups, eps));
    h = ti_conv(&nn, h, "conv_out", 1, 1);
    return ts_scope_return(scope, h);
}
