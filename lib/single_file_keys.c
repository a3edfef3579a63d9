/* The original-layout -> diffusers key mapping of a Stable Diffusion single file, generated from
 * the architecture so that each expected tensor also carries the shape it must have. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "single_file.h"

typedef struct gen {
    ti_sf_component comp;
    ti_sf_emit_fn emit;
    void *ctx;
} gen;

/* Emit "<dst><suffix>" <- "<src><suffix>" with a diffusers shape of `ndim` dims. */
static tinv_status key(const gen *g, ti_sf_transform transform, int part, const char *dst, const char *src,
                       const char *suffix, int ndim, int64_t s0, int64_t s1, int64_t s2, int64_t s3)
{
    ti_sf_key k;
    memset(&k, 0, sizeof k);
    k.component = g->comp;
    k.transform = transform;
    k.part = part;
    k.ndim = ndim;
    k.shape[0] = s0;
    k.shape[1] = s1;
    k.shape[2] = s2;
    k.shape[3] = s3;
    if ((size_t)snprintf(k.dst, sizeof k.dst, "%s%s", dst, suffix) >= sizeof k.dst ||
        (size_t)snprintf(k.src, sizeof k.src, "%s%s", src, suffix) >= sizeof k.src)
        return ti_error(TINV_ERR_INTERNAL, "tensor name '%s%s' is too long", src, suffix);
    return g->emit(g->ctx, &k);
}

static tinv_status norm(const gen *g, const char *dst, const char *src, int64_t c)
{
    TI_TRY(key(g, TI_SF_COPY, 0, dst, src, ".weight", 1, c, 0, 0, 0));
    return key(g, TI_SF_COPY, 0, dst, src, ".bias", 1, c, 0, 0, 0);
}

static tinv_status linear(const gen *g, const char *dst, const char *src, int64_t out, int64_t in, int bias)
{
    TI_TRY(key(g, TI_SF_COPY, 0, dst, src, ".weight", 2, out, in, 0, 0));
    return bias ? key(g, TI_SF_COPY, 0, dst, src, ".bias", 1, out, 0, 0, 0) : TINV_OK;
}

static tinv_status conv(const gen *g, const char *dst, const char *src, int64_t out, int64_t in, int64_t ksize)
{
    TI_TRY(key(g, TI_SF_COPY, 0, dst, src, ".weight", 4, out, in, ksize, ksize));
    return key(g, TI_SF_COPY, 0, dst, src, ".bias", 1, out, 0, 0, 0);
}

/* A 1x1 conv in the original that diffusers stores as a linear layer. */
static tinv_status squeezed(const gen *g, const char *dst, const char *src, int64_t out, int64_t in)
{
    TI_TRY(key(g, TI_SF_SQUEEZE_1X1, 0, dst, src, ".weight", 2, out, in, 0, 0));
    return key(g, TI_SF_COPY, 0, dst, src, ".bias", 1, out, 0, 0, 0);
}

/* "<base>.<a>.<b>" style names without a pile of snprintf calls at each site. */
static const char *fmt(char *buf, size_t size, const char *f, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static const char *fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, size, f, ap);
    va_end(ap);
    return buf;
}

#define D(...) fmt(d, sizeof d, __VA_ARGS__)
#define S(...) fmt(s, sizeof s, __VA_ARGS__)

/* ---- text encoder --------------------------------------------------------------------- */

tinv_status ti_sf_text_keys(const ti_clip_config *c, ti_sf_text_layout layout, ti_sf_emit_fn emit, void *ctx)
{
    gen g = {TI_SF_TEXT, emit, ctx};
    int64_t h = c->hidden_size, inter = c->intermediate_size;
    char d[160], s[160];
    if (layout == TI_SF_TEXT_CLIP || layout == TI_SF_TEXT_CLIP_OLD) {
        /* transformers names after the prefix; only the prefix differs between versions. */
        const char *p = layout == TI_SF_TEXT_CLIP ? "cond_stage_model.transformer.text_model."
                                                  : "cond_stage_model.transformer.";
        TI_TRY(key(&g, TI_SF_COPY, 0, "text_model.embeddings.token_embedding", S("%sembeddings.token_embedding", p),
                   ".weight", 2, c->vocab_size, h, 0, 0));
        TI_TRY(key(&g, TI_SF_COPY, 0, "text_model.embeddings.position_embedding",
                   S("%sembeddings.position_embedding", p), ".weight", 2, c->max_positions, h, 0, 0));
        for (int l = 0; l < c->num_layers; l++) {
            static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
            char dl[64], sl[128];
            snprintf(dl, sizeof dl, "text_model.encoder.layers.%d", l);
            snprintf(sl, sizeof sl, "%sencoder.layers.%d", p, l);
            TI_TRY(norm(&g, D("%s.layer_norm1", dl), S("%s.layer_norm1", sl), h));
            for (int i = 0; i < 4; i++)
                TI_TRY(linear(&g, D("%s.self_attn.%s", dl, proj[i]), S("%s.self_attn.%s", sl, proj[i]), h, h, 1));
            TI_TRY(norm(&g, D("%s.layer_norm2", dl), S("%s.layer_norm2", sl), h));
            TI_TRY(linear(&g, D("%s.mlp.fc1", dl), S("%s.mlp.fc1", sl), inter, h, 1));
            TI_TRY(linear(&g, D("%s.mlp.fc2", dl), S("%s.mlp.fc2", sl), h, inter, 1));
        }
        return norm(&g, "text_model.final_layer_norm", S("%sfinal_layer_norm", p), h);
    }
    if (layout != TI_SF_TEXT_OPENCLIP)
        return ti_error(TINV_ERR_BAD_FORMAT, "no text encoder weights found");
    /* OpenCLIP: fused q/k/v in_proj, and a positional embedding that is a bare parameter. */
    const char *p = "cond_stage_model.model.";
    TI_TRY(key(&g, TI_SF_COPY, 0, "text_model.embeddings.token_embedding.weight", S("%stoken_embedding.weight", p), "",
               2, c->vocab_size, h, 0, 0));
    TI_TRY(key(&g, TI_SF_COPY, 0, "text_model.embeddings.position_embedding.weight", S("%spositional_embedding", p), "",
               2, c->max_positions, h, 0, 0));
    for (int l = 0; l < c->num_layers; l++) {
        static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
        char dl[64], sl[128];
        snprintf(dl, sizeof dl, "text_model.encoder.layers.%d", l);
        snprintf(sl, sizeof sl, "%stransformer.resblocks.%d", p, l);
        TI_TRY(norm(&g, D("%s.layer_norm1", dl), S("%s.ln_1", sl), h));
        /* All weights, then all biases: the loader keeps only the last fused tensor it read. */
        for (int i = 0; i < 3; i++)
            TI_TRY(key(&g, TI_SF_SPLIT3, i, D("%s.self_attn.%s.weight", dl, qkv[i]), S("%s.attn.in_proj_weight", sl),
                       "", 2, h, h, 0, 0));
        for (int i = 0; i < 3; i++)
            TI_TRY(key(&g, TI_SF_SPLIT3, i, D("%s.self_attn.%s.bias", dl, qkv[i]), S("%s.attn.in_proj_bias", sl), "",
                       1, h, 0, 0, 0));
        TI_TRY(linear(&g, D("%s.self_attn.out_proj", dl), S("%s.attn.out_proj", sl), h, h, 1));
        TI_TRY(norm(&g, D("%s.layer_norm2", dl), S("%s.ln_2", sl), h));
        TI_TRY(linear(&g, D("%s.mlp.fc1", dl), S("%s.mlp.c_fc", sl), inter, h, 1));
        TI_TRY(linear(&g, D("%s.mlp.fc2", dl), S("%s.mlp.c_proj", sl), h, inter, 1));
    }
    return norm(&g, "text_model.final_layer_norm", S("%sln_final", p), h);
}

/* ---- UNet ----------------------------------------------------------------------------- */

#define UNET "model.diffusion_model."

/* ldm ResBlock -> diffusers ResnetBlock2D. */
static tinv_status unet_resnet(const gen *g, const char *dst, const char *src, int64_t in, int64_t out, int64_t temb)
{
    char d[192], s[192];
    TI_TRY(norm(g, D("%s.norm1", dst), S("%s.in_layers.0", src), in));
    TI_TRY(conv(g, D("%s.conv1", dst), S("%s.in_layers.2", src), out, in, 3));
    TI_TRY(linear(g, D("%s.time_emb_proj", dst), S("%s.emb_layers.1", src), out, temb, 1));
    TI_TRY(norm(g, D("%s.norm2", dst), S("%s.out_layers.0", src), out));
    TI_TRY(conv(g, D("%s.conv2", dst), S("%s.out_layers.3", src), out, out, 3));
    /* Both sides only have a shortcut projection when the channel count changes. */
    return in == out ? TINV_OK : conv(g, D("%s.conv_shortcut", dst), S("%s.skip_connection", src), out, in, 1);
}

/* SpatialTransformer -> Transformer2DModel; the block names inside are the same in both. */
static tinv_status unet_transformer(const gen *g, const ti_unet_config *c, const char *dst, const char *src, int64_t ch)
{
    char d[192], s[192];
    int64_t x = c->cross_attention_dim;
    TI_TRY(norm(g, D("%s.norm", dst), S("%s.norm", src), ch));
    for (int side = 0; side < 2; side++) {
        const char *name = side == 0 ? "proj_in" : "proj_out";
        if (c->linear_projection)
            TI_TRY(linear(g, D("%s.%s", dst, name), S("%s.%s", src, name), ch, ch, 1));
        else
            TI_TRY(conv(g, D("%s.%s", dst, name), S("%s.%s", src, name), ch, ch, 1));
        if (side == 1)
            break;
        for (int b = 0; b < c->transformer_layers; b++) {
            char bd[192], bs[192];
            snprintf(bd, sizeof bd, "%s.transformer_blocks.%d", dst, b);
            snprintf(bs, sizeof bs, "%s.transformer_blocks.%d", src, b);
            for (int a = 1; a <= 2; a++) {
                int64_t kv = a == 1 ? ch : x; /* attn2 attends to the text context */
                TI_TRY(linear(g, D("%s.attn%d.to_q", bd, a), S("%s.attn%d.to_q", bs, a), ch, ch, 0));
                TI_TRY(linear(g, D("%s.attn%d.to_k", bd, a), S("%s.attn%d.to_k", bs, a), ch, kv, 0));
                TI_TRY(linear(g, D("%s.attn%d.to_v", bd, a), S("%s.attn%d.to_v", bs, a), ch, kv, 0));
                TI_TRY(linear(g, D("%s.attn%d.to_out.0", bd, a), S("%s.attn%d.to_out.0", bs, a), ch, ch, 1));
            }
            /* GEGLU: the first projection yields value and gate, 4x wide each. */
            TI_TRY(linear(g, D("%s.ff.net.0.proj", bd), S("%s.ff.net.0.proj", bs), 8 * ch, ch, 1));
            TI_TRY(linear(g, D("%s.ff.net.2", bd), S("%s.ff.net.2", bs), ch, 4 * ch, 1));
            for (int n = 1; n <= 3; n++)
                TI_TRY(norm(g, D("%s.norm%d", bd, n), S("%s.norm%d", bs, n), ch));
        }
    }
    return TINV_OK;
}

tinv_status ti_sf_unet_keys(const ti_unet_config *c, ti_sf_emit_fn emit, void *ctx)
{
    gen g = {TI_SF_UNET, emit, ctx};
    char d[192], s[192];
    int nb = c->num_blocks, last = nb - 1;
    int64_t c0 = c->block_out[0], temb = 4 * c0;
    TI_TRY(linear(&g, "time_embedding.linear_1", UNET "time_embed.0", temb, c0, 1));
    TI_TRY(linear(&g, "time_embedding.linear_2", UNET "time_embed.2", temb, temb, 1));
    TI_TRY(conv(&g, "conv_in", UNET "input_blocks.0.0", c0, c->in_channels, 3));

    /* input_blocks: one flat list of (resnet[, transformer]) per layer plus a downsampler per level. */
    int n = 1;
    int64_t prev = c0;
    for (int i = 0; i < nb; i++) {
        int64_t ch = c->block_out[i];
        for (int j = 0; j < c->layers_per_block; j++, n++) {
            TI_TRY(unet_resnet(&g, D("down_blocks.%d.resnets.%d", i, j), S(UNET "input_blocks.%d.0", n), prev, ch,
                               temb));
            prev = ch;
            if (c->down_cross[i])
                TI_TRY(unet_transformer(&g, c, D("down_blocks.%d.attentions.%d", i, j), S(UNET "input_blocks.%d.1", n),
                                        ch));
        }
        if (i < last) {
            TI_TRY(conv(&g, D("down_blocks.%d.downsamplers.0.conv", i), S(UNET "input_blocks.%d.0.op", n), ch, ch, 3));
            n++;
        }
    }

    int64_t mid = c->block_out[last];
    TI_TRY(unet_resnet(&g, "mid_block.resnets.0", UNET "middle_block.0", mid, mid, temb));
    TI_TRY(unet_transformer(&g, c, "mid_block.attentions.0", UNET "middle_block.1", mid));
    TI_TRY(unet_resnet(&g, "mid_block.resnets.1", UNET "middle_block.2", mid, mid, temb));

    /* output_blocks: up blocks run deepest first; each resnet also takes a skip connection,
     * the last one of a block from the next-shallower level. */
    n = 0;
    prev = mid;
    for (int i = 0; i < nb; i++) {
        int64_t ch = c->block_out[last - i], skip_last = c->block_out[i < last ? last - i - 1 : 0];
        for (int j = 0; j <= c->layers_per_block; j++, n++) {
            int64_t skip = j == c->layers_per_block ? skip_last : ch;
            TI_TRY(unet_resnet(&g, D("up_blocks.%d.resnets.%d", i, j), S(UNET "output_blocks.%d.0", n), prev + skip,
                               ch, temb));
            prev = ch;
            if (c->up_cross[i])
                TI_TRY(unet_transformer(&g, c, D("up_blocks.%d.attentions.%d", i, j), S(UNET "output_blocks.%d.1", n),
                                        ch));
        }
        if (i < last) /* the upsampler sits after the resnet (and transformer) of the block's last layer */
            TI_TRY(conv(&g, D("up_blocks.%d.upsamplers.0.conv", i),
                        S(UNET "output_blocks.%d.%d.conv", n - 1, c->up_cross[i] ? 2 : 1), ch, ch, 3));
    }
    TI_TRY(norm(&g, "conv_norm_out", UNET "out.0", c0));
    return conv(&g, "conv_out", UNET "out.2", c->out_channels, c0, 3);
}

/* ---- VAE ------------------------------------------------------------------------------ */

#define VAE "first_stage_model."

static tinv_status vae_resnet(const gen *g, const char *dst, const char *src, int64_t in, int64_t out)
{
    char d[192], s[192];
    TI_TRY(norm(g, D("%s.norm1", dst), S("%s.norm1", src), in));
    TI_TRY(conv(g, D("%s.conv1", dst), S("%s.conv1", src), out, in, 3));
    TI_TRY(norm(g, D("%s.norm2", dst), S("%s.norm2", src), out));
    TI_TRY(conv(g, D("%s.conv2", dst), S("%s.conv2", src), out, out, 3));
    return in == out ? TINV_OK : conv(g, D("%s.conv_shortcut", dst), S("%s.nin_shortcut", src), out, in, 1);
}

/* mid.block_1, mid.attn_1, mid.block_2 -> mid_block.resnets.0, attentions.0, resnets.1 */
static tinv_status vae_mid(const gen *g, const char *part, int64_t ch)
{
    char d[192], s[192];
    TI_TRY(vae_resnet(g, D("%s.mid_block.resnets.0", part), S(VAE "%s.mid.block_1", part), ch, ch));
    TI_TRY(norm(g, D("%s.mid_block.attentions.0.group_norm", part), S(VAE "%s.mid.attn_1.norm", part), ch));
    static const char *const from[4] = {"q", "k", "v", "proj_out"}, *const to[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int i = 0; i < 4; i++)
        TI_TRY(squeezed(g, D("%s.mid_block.attentions.0.%s", part, to[i]), S(VAE "%s.mid.attn_1.%s", part, from[i]),
                        ch, ch));
    return vae_resnet(g, D("%s.mid_block.resnets.1", part), S(VAE "%s.mid.block_2", part), ch, ch);
}

tinv_status ti_sf_vae_keys(const ti_vae_config *c, ti_sf_emit_fn emit, void *ctx)
{
    gen g = {TI_SF_VAE, emit, ctx};
    char d[192], s[192];
    int nb = c->num_blocks, last = nb - 1;
    int64_t c0 = c->block_out[0], top = c->block_out[last], lat = c->latent_channels;

    TI_TRY(conv(&g, "encoder.conv_in", VAE "encoder.conv_in", c0, c->in_channels, 3));
    int64_t prev = c0;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < c->layers_per_block; j++) {
            TI_TRY(vae_resnet(&g, D("encoder.down_blocks.%d.resnets.%d", i, j), S(VAE "encoder.down.%d.block.%d", i, j),
                              prev, c->block_out[i]));
            prev = c->block_out[i];
        }
        if (i < last)
            TI_TRY(conv(&g, D("encoder.down_blocks.%d.downsamplers.0.conv", i),
                        S(VAE "encoder.down.%d.downsample.conv", i), prev, prev, 3));
    }
    TI_TRY(vae_mid(&g, "encoder", top));
    TI_TRY(norm(&g, "encoder.conv_norm_out", VAE "encoder.norm_out", top));
    TI_TRY(conv(&g, "encoder.conv_out", VAE "encoder.conv_out", 2 * lat, top, 3));
    TI_TRY(conv(&g, "quant_conv", VAE "quant_conv", 2 * lat, 2 * lat, 1));
    TI_TRY(conv(&g, "post_quant_conv", VAE "post_quant_conv", lat, lat, 1));

    TI_TRY(conv(&g, "decoder.conv_in", VAE "decoder.conv_in", top, lat, 3));
    TI_TRY(vae_mid(&g, "decoder", top));
    /* The original numbers decoder levels by resolution (up.0 is the last to run); diffusers by
     * execution order, so up_blocks.i is up.(last - i). */
    prev = top;
    for (int i = 0; i < nb; i++) {
        int64_t ch = c->block_out[last - i];
        for (int j = 0; j <= c->layers_per_block; j++) {
            TI_TRY(vae_resnet(&g, D("decoder.up_blocks.%d.resnets.%d", i, j),
                              S(VAE "decoder.up.%d.block.%d", last - i, j), prev, ch));
            prev = ch;
        }
        if (i < last)
            TI_TRY(conv(&g, D("decoder.up_blocks.%d.upsamplers.0.conv", i),
                        S(VAE "decoder.up.%d.upsample.conv", last - i), ch, ch, 3));
    }
    TI_TRY(norm(&g, "decoder.conv_norm_out", VAE "decoder.norm_out", c0));
    return conv(&g, "decoder.conv_out", VAE "decoder.conv_out", c->out_channels, c0, 3);
}

ti_sf_text_layout ti_sf_text_layout_of(const ti_safetensors *st)
{
    if (ti_safetensors_find(st, "cond_stage_model.model.token_embedding.weight"))
        return TI_SF_TEXT_OPENCLIP;
    if (ti_safetensors_find(st, "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"))
        return TI_SF_TEXT_CLIP;
    if (ti_safetensors_find(st, "cond_stage_model.transformer.embeddings.token_embedding.weight"))
        return TI_SF_TEXT_CLIP_OLD;
    return TI_SF_TEXT_NONE;
}
