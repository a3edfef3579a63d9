/* The tinv_model handle: the three networks of a Stable Diffusion checkpoint and their settings. */
#ifndef TI_MODEL_H
#define TI_MODEL_H

#include "clip_text.h"
#include "log.h"
#include "options.h"
#include "scheduler.h"
#include "unet.h"
#include "vae.h"

struct tinv_model {
    struct tinv_options opts; /* device, dtype, logger */
    char *path;
    ti_clip_text text;
    ti_unet unet;
    ti_vae vae;
    /* The model's noise schedule: the text of scheduler/scheduler_config.json as loaded (kept so a
     * sampler can re-read it as another scheduler class, like diffusers' from_config), and that
     * text parsed as its own _class_name. Single-file checkpoints get SD defaults (model_load.c). */
    char *sched_json;
    ti_sched_config sched;
    /* Set while the networks' own weights are being trained (toy_model.c): the diffusion loss
     * then records gradients even without a trainable learned token. */
    int weights_trainable;
};

/* Image sides must be multiples of this: the VAE's pixels per latent times the UNet's latent
 * multiple (8 × 8 = 64 for SD 1.x/2.x). */
static inline int ti_model_size_multiple(const struct tinv_model *m)
{
    return (1 << (m->vae.cfg.num_blocks - 1)) * (1 << (m->unet.cfg.num_blocks - 1));
}

/* Compute dtype of the shim for a public dtype. */
ts_dtype ti_dtype_to_ts(tinv_dtype dtype);

#endif
