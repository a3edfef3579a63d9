/* Layers shared by the text encoder, UNet and VAE: each reads its weights by name prefix. */
#ifndef TI_NN_H
#define TI_NN_H

#include "weights.h"

typedef struct ti_nn {
    const ti_weights *w;
    int circular; /* seamless tiling: wrap-around padding in every 3x3 convolution */
} ti_nn;

/* Linear layer "<prefix>.weight" (+ optional "<prefix>.bias"). */
ts_tensor *ti_linear(const ti_nn *nn, const ts_tensor *x, const char *prefix);
/* Conv2d "<prefix>.weight/.bias" with the given stride and zero (or circular) padding. */
ts_tensor *ti_conv(const ti_nn *nn, const ts_tensor *x, const char *prefix, int stride, int padding);
ts_tensor *ti_group_norm(const ti_nn *nn, const ts_tensor *x, const char *prefix, int groups, double eps);
ts_tensor *ti_layer_norm(const ti_nn *nn, const ts_tensor *x, const char *prefix, double eps);
/* ResNet block: GN -> SiLU -> conv3x3 [-> + Linear(SiLU(temb)) when use_temb] -> GN -> SiLU -> conv3x3,
 * plus the input (through "<prefix>.conv_shortcut" when the channel count changes). */
ts_tensor *ti_resnet(const ti_nn *nn, const ts_tensor *x, const ts_tensor *temb, int use_temb, const char *prefix,
                     int groups, double eps);
/* Multi-head attention core on projected [B, L, H*D] q and [B, S, H*D] k, v; returns [B, L, H*D].
 * `mask` (may be NULL) is added to the [L, S] scores. */
ts_tensor *ti_attention_heads(const ts_tensor *q, const ts_tensor *k, const ts_tensor *v, int heads,
                              const ts_tensor *mask);

#endif
