/* AutoencoderKL (diffusers) encoder and decoder. */
#ifndef TI_VAE_H
#define TI_VAE_H

#include "model_config.h"
#include "nn.h"

typedef struct ti_vae {
    ti_vae_config cfg;
    ti_weights *w; /* diffusers names: "encoder.…", "decoder.…", "quant_conv.…" */
} ti_vae;

/* Posterior moments of images [B, 3, H, W] in [-1, 1]: mean and logvar (clamped to [-30, 20]),
 * each [B, latent, H/f, W/f]. */
tinv_status ti_vae_encode(const ti_vae *m, const ts_tensor *image, int circular, ts_tensor **mean,
                          ts_tensor **logvar);
/* Image [B, 3, H*f, W*f] from unscaled latents [B, latent, H, W] (not clamped). */
ts_tensor *ti_vae_decode(const ti_vae *m, const ts_tensor *latents, int circular);

#endif
