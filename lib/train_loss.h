/* The textual-inversion training loss: noise a latent, predict with the UNet conditioned on a
 * prompt, mean squared error against the noise (or v). */
#ifndef TI_TRAIN_LOSS_H
#define TI_TRAIN_LOSS_H

#include <stdint.h>

#include "../shim/shim.h"
#include "tinv.h"

/* Intermediate tensors, for the golden comparison (detached copies the caller frees). */
typedef struct ti_loss_parts {
    ts_tensor *noisy, *context, *pred, *target;
} ti_loss_parts;

/* Loss for ids [B, L], latents and noise [B, C, h, w] (model dtype or float32, model device) at
 * integer training timesteps [B]. With `backward`, accumulates gradients into the trainable
 * learned tokens. `parts` may be NULL. */
tinv_status ti_diffusion_loss(tinv_model *m, const ts_tensor *ids, const ts_tensor *latents, const ts_tensor *noise,
                              const int32_t *timesteps, int backward, double *loss, ti_loss_parts *parts);
void ti_loss_parts_free(ti_loss_parts *parts);

#endif
