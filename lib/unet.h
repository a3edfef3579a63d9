/* UNet2DConditionModel (diffusers) forward pass for SD 1.x / 2.x. */
#ifndef TI_UNET_H
#define TI_UNET_H

#include "model_config.h"
#include "nn.h"

typedef struct ti_unet {
    ti_unet_config cfg;
    ti_weights *w; /* diffusers names: "conv_in.weight", "down_blocks.0.…" */
} ti_unet;

/* Predicted noise (or v) [B, C, H, W] for latents `x` [B, C, H, W], float32 timesteps `t` [B] and
 * text context [B, L, cross_dim]. H and W must be divisible by 2^(blocks-1). */
ts_tensor *ti_unet_forward(const ti_unet *m, const ts_tensor *x, const ts_tensor *t, const ts_tensor *context,
                           int circular);

#endif
