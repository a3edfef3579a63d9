/* CLIP text encoder, as transformers' CLIPTextModel computes last_hidden_state. */
#include "clip_text.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

ts_tensor *ti_clip_embed_tokens(const ti_clip_text *m, const ts_tensor *ids)
{
    return ti_concepts_embed(&m->concepts, ti_weights_get(m->w, "text_model.embeddings.token_embedding.weight"), ids);
}

/* Additive causal mask [L, L]: 0 where a position may attend, the dtype's lowest value above the
 * diagonal (as transformers does; -inf would turn fully masked rows into NaN). */
static ts_tensor *causal_mask(int64_t len, ts_dtype dtype, ts_device device)
{
    float *mask = malloc((size_t)(len * len) * sizeof *mask);
    if (mask == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory building the causal mask");
        return NULL;
    }
    float lowest = dtype == TS_F16 ? -65504.0f : -FLT_MAX;
    for (int64_t i = 0; i < len; i++)
        for (int64_t j = 0; j < len; j++)
            mask[i * len + j] = j > i ? lowest : 0.0f;
    int64_t shape[2] = {len, len};
    ts_tensor *t = ts_from_data(mask, TS_F32, shape, 2, dtype, device);
    free(mask);
    return t;
}

static ts_tensor *encoder_layer(const ti_clip_text *m, const ti_nn *nn, ts_tensor *x, int i, const ts_tensor *mask)
{
    char p[128], q[160], k[160], v[160], o[160];
    double eps = m->cfg.layer_norm_eps;
    snprintf(p, sizeof p, "text_model.encoder.layers.%d", i);

    char ln[160];
    snprintf(ln, sizeof ln, "%s.layer_norm1", p);
    ts_tensor *h = ti_layer_norm(nn, x, ln, eps);
    snprintf(q, sizeof q, "%s.self_attn.q_proj", p);
    snprintf(k, sizeof k, "%s.self_attn.k_proj", p);
    snprintf(v, sizeof v, "%s.self_attn.v_proj", p);
    snprintf(o, sizeof o, "%s.self_attn.out_proj", p);
    ts_tensor *a = ti_attention_heads(ti_linear(nn, h, q), ti_linear(nn, h, k), ti_linear(nn, h, v),
                                      m->cfg.num_heads, mask);
    x = ts_add(x, ti_linear(nn, a, o));

    snprintf(ln, sizeof ln, "%s.layer_norm2", p);
    snprintf(q, sizeof q, "%s.mlp.fc1", p);
    snprintf(o, sizeof o, "%s.mlp.fc2", p);
    h = ti_linear(nn, ti_layer_norm(nn, x, ln, eps), q);
    h = m->cfg.quick_gelu ? ts_quick_gelu(h) : ts_gelu(h, 0);
    return ts_add(x, ti_linear(nn, h, o));
}

ts_tensor *ti_clip_encode(const ti_clip_text *m, const ts_tensor *token_embeds)
{
    if (token_embeds == NULL)
        return NULL;
    int64_t len = ts_size(token_embeds, 1);
    if (len > m->cfg.max_positions) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "text encoder: %lld tokens exceed the %d positions", (long long)len,
                 m->cfg.max_positions);
        return NULL;
    }
    ti_nn nn = {m->w, 0};
    size_t scope = ts_scope_begin();
    ts_device device = ts_device_of(token_embeds);
    ts_tensor *positions = ts_narrow(ti_weights_get(m->w, "text_model.embeddings.position_embedding.weight"), 0, 0, len);
    ts_tensor *x = ts_add(token_embeds, positions);
    ts_tensor *mask = causal_mask(len, ts_dtype_of(token_embeds), device);
    for (int i = 0; i < m->cfg.num_layers; i++)
        x = encoder_layer(m, &nn, x, i, mask);
    x = ti_layer_norm(&nn, x, "text_model.final_layer_norm", m->cfg.layer_norm_eps);
    return ts_scope_return(scope, x);
}
