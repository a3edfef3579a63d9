/* Shared layers over shim ops; weights come from the store by "<prefix>.weight"/"<prefix>.bias". */
#include "nn.h"

#include <math.h>
#include <stdio.h>

#include "error.h"

/* When a layer's op fails on valid inputs (typically a weight of the wrong shape), say which layer. */
static ts_tensor *named(ts_tensor *result, const ts_tensor *input, const ts_tensor *weight, const char *prefix)
{
    if (result == NULL && input != NULL && weight != NULL)
        ti_error_prefix("weight '%s'", prefix);
    return result;
}

ts_tensor *ti_linear(const ti_nn *nn, const ts_tensor *x, const char *prefix)
{
    ts_tensor *w = ti_weights_get(nn->w, "%s.weight", prefix);
    return named(ts_linear(x, w, ti_weights_find(nn->w, "%s.bias", prefix)), x, w, prefix);
}

ts_tensor *ti_conv(const ti_nn *nn, const ts_tensor *x, const char *prefix, int stride, int padding)
{
    ts_tensor *w = ti_weights_get(nn->w, "%s.weight", prefix);
    return named(ts_conv2d(x, w, ti_weights_find(nn->w, "%s.bias", prefix), stride, padding, nn->circular), x, w,
                 prefix);
}

ts_tensor *ti_group_norm(const ti_nn *nn, const ts_tensor *x, const char *prefix, int groups, double eps)
{
    ts_tensor *w = ti_weights_get(nn->w, "%s.weight", prefix);
    return named(ts_group_norm(x, groups, w, ti_weights_get(nn->w, "%s.bias", prefix), eps), x, w, prefix);
}

ts_tensor *ti_layer_norm(const ti_nn *nn, const ts_tensor *x, const char *prefix, double eps)
{
    ts_tensor *w = ti_weights_get(nn->w, "%s.weight", prefix);
    return named(ts_layer_norm(x, 1, w, ti_weights_get(nn->w, "%s.bias", prefix), eps), x, w, prefix);
}

/* [B, L, H*D] -> [B, H, L, D] */
static ts_tensor *split_heads(const ts_tensor *x, int heads)
{
    int64_t b = ts_size(x, 0), l = ts_size(x, 1), c = ts_size(x, 2);
    int64_t shape[4] = {b, l, heads, c / heads};
    int perm[4] = {0, 2, 1, 3};
    return ts_permute(ts_reshape(x, shape, 4), perm, 4);
}

ts_tensor *ti_attention_heads(const ts_tensor *q, const ts_tensor *k, const ts_tensor *v, int heads,
                              const ts_tensor *mask)
{
    if (q == NULL || k == NULL || v == NULL)
        return NULL;
    int64_t b = ts_size(q, 0), l = ts_size(q, 1), c = ts_size(q, 2);
    double scale = 1.0 / sqrt((double)(c / heads));
    ts_tensor *o = ts_attention(split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), mask, scale);
    int perm[4] = {0, 2, 1, 3};
    int64_t shape[3] = {b, l, c};
    return ts_reshape(ts_permute(o, perm, 4), shape, 3);
}

ts_tensor *ti_resnet(const ti_nn *nn, const ts_tensor *x, const ts_tensor *temb, int use_temb, const char *prefix,
                     int groups, double eps)
{
    char name[256];
    snprintf(name, sizeof name, "%s.norm1", prefix);
    ts_tensor *h = ts_silu(ti_group_norm(nn, x, name, groups, eps));
    snprintf(name, sizeof name, "%s.conv1", prefix);
    h = ti_conv(nn, h, name, 1, 1);
    if (use_temb) {
        snprintf(name, sizeof name, "%s.time_emb_proj", prefix);
        ts_tensor *t = ti_linear(nn, ts_silu(temb), name);
        h = ts_add(h, ts_unsqueeze(ts_unsqueeze(t, -1), -1));
    }
    snprintf(name, sizeof name, "%s.norm2", prefix);
    h = ts_silu(ti_group_norm(nn, h, name, groups, eps));
    snprintf(name, sizeof name, "%s.conv2", prefix);
    h = ti_conv(nn, h, name, 1, 1);
    snprintf(name, sizeof name, "%s.conv_shortcut", prefix);
    const ts_tensor *shortcut = ti_weights_find(nn->w, "%s.weight", name) ? ti_conv(nn, x, name, 1, 0) : x;
    return ts_add(shortcut, h);
}
