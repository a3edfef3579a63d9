/* The tinv_model handle: the three networks of a Stable Diffusion checkpoint and their settings. */
#ifndef TI_MODEL_H
#define TI_MODEL_H

#include "clip_text.h"
#include "log.h"
#include "options.h"
#include "unet.h"
#include "vae.h"

struct tinv_model {
    struct tinv_options opts; /* device, dtype, logger */
    char *path;
    ti_clip_text text;
    ti_unet unet;
    ti_vae vae;
};

/* Compute dtype of the shim for a public dtype. */
ts_dtype ti_dtype_to_ts(tinv_dtype dtype);

#endif
