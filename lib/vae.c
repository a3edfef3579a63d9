/* AutoencoderKL: encoder -> quant_conv -> (mean, logvar); post_quant_conv -> decoder. */
#include "vae.h"

#include <stdio.h>

#include "error.h"

#define VAE_EPS 1e-6 /* every GroupNorm in the VAE */

/* Single-head spatial self-attention of the mid block, with its own GroupNorm and residual. */
static ts_tensor *mid_attention(const ti_nn *nn, const ts_tensor *x, const char *prefix, int groups)
{
    if (x == NULL)
        return NULL;
    int64_t b = ts_size(x, 0), c = ts_size(x, 1), hh = ts_size(x, 2), ww = ts_size(x, 3);
    int to_tokens[4] = {0, 2, 3, 1}, to_image[4] = {0, 3, 1, 2};
    int64_t tokens_shape[3] = {b, hh * ww, c}, nhwc_shape[4] = {b, hh, ww, c};
    char name[256], q[256], k[256], v[256], o[256];
    snprintf(name, sizeof name, "%s.group_norm", prefix);
    ts_tensor *h = ts_reshape(ts_permute(ti_group_norm(nn, x, name, groups, VAE_EPS), to_tokens, 4), tokens_shape, 3);
    snprintf(q, sizeof q, "%s.to_q", prefix);
    snprintf(k, sizeof k, "%s.to_k", prefix);
    snprintf(v, sizeof v, "%s.to_v", prefix);
    snprintf(o, sizeof o, "%s.to_out.0", prefix);
    h = ti_linear(nn, ti_attention_heads(ti_linear(nn, h, q), ti_linear(nn, h, k), ti_linear(nn, h, v), 1, NULL), o);
    h = ts_permute(ts_reshape(h, nhwc_shape, 4), to_image, 4);
    return ts_add(h, x);
}

static ts_tensor *mid_block(const ti_nn *nn, ts_tensor *h, const char *part, int groups)
{
    char name[128];
    snprintf(name, sizeof name, "%s.mid_block.resnets.0", part);
    h = ti_resnet(nn, h, NULL, 0, name, groups, VAE_EPS);
    snprintf(name, sizeof name, "%s.mid_block.attentions.0", part);
    h = mid_attention(nn, h, name, groups);
    snprintf(name, sizeof name, "%s.mid_block.resnets.1", part);
    return ti_resnet(nn, h, NULL, 0, name, groups, VAE_EPS);
}

tinv_status ti_vae_encode(const ti_vae *m, const ts_tensor *image, int circular, ts_tensor **mean,
                          ts_tensor **logvar)
{
    const ti_vae_config *cfg = &m->cfg;
    ti_nn nn = {m->w, circular};
    int groups = cfg->norm_groups;
    char name[128];
    *mean = *logvar = NULL;
    size_t scope = ts_scope_begin();
    ts_tensor *h = ti_conv(&nn, image, "encoder.conv_in", 1, 1);
    for (int i = 0; i < cfg->num_blocks; i++) {
        for (int j = 0; j < cfg->layers_per_block; j++) {
            snprintf(name, sizeof name, "encoder.down_blocks.%d.resnets.%d", i, j);
            h = ti_resnet(&nn, h, NULL, 0, name, groups, VAE_EPS);
        }
        if (i < cfg->num_blocks - 1) {
            /* The encoder pads right and bottom only, then convolves with stride 2 and no padding. */
            snprintf(name, sizeof name, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            h = ti_conv(&nn, ts_pad2d(h, 0, 1, 0, 1, circular), name, 2, 0);
        }
    }
    h = mid_block(&nn, h, "encoder", groups);
    h = ts_silu(ti_group_norm(&nn, h, "encoder.conv_norm_out", groups, VAE_EPS));
    h = ti_conv(&nn, ti_conv(&nn, h, "encoder.conv_out", 1, 1), "quant_conv", 1, 0);
    ts_tensor *parts[2] = {NULL, NULL};
    tinv_status st = h ? ts_chunk(h, 2, 1, parts) : tinv_last_status();
    if (st != TINV_OK) {
        ts_scope_end(scope);
        return st;
    }
    ts_tensor *lv = ts_clamp(parts[1], -30.0, 20.0);
    ts_tensor *mu = ts_contiguous(parts[0]);
    if (lv == NULL || mu == NULL) {
        ts_scope_end(scope);
        return tinv_last_status();
    }
    ts_detach(mu);
    ts_detach(lv);
    ts_scope_end(scope);
    *mean = ts_adopt(mu);
    *logvar = ts_adopt(lv);
    return TINV_OK;
}

ts_tensor *ti_vae_decode(const ti_vae *m, const ts_tensor *latents, int circular)
{
    const ti_vae_config *cfg = &m->cfg;
    ti_nn nn = {m->w, circular};
    int groups = cfg->norm_groups;
    char name[128];
    size_t scope = ts_scope_begin();
    ts_tensor *h = ti_conv(&nn, ti_conv(&nn, latents, "post_quant_conv", 1, 0), "decoder.conv_in", 1, 1);
    h = mid_block(&nn, h, "decoder", groups);
    for (int i = 0; i < cfg->num_blocks; i++) {
        for (int j = 0; j <= cfg->layers_per_block; j++) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.resnets.%d", i, j);
            h = ti_resnet(&nn, h, NULL, 0, name, groups, VAE_EPS);
        }
        if (i < cfg->num_blocks - 1) {
            snprintf(name, sizeof name, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            h = ti_conv(&nn, ts_upsample_nearest2x(h), name, 1, 1);
        }
    }
    h = ts_silu(ti_group_norm(&nn, h, "decoder.conv_norm_out", groups, VAE_EPS));
    h = ti_conv(&nn, h, "decoder.conv_out", 1, 1);
    return ts_scope_return(scope, h);
}
