/*
 * single_file.h — loading a single-file, original-layout Stable Diffusion checkpoint
 * (.safetensors as written by the CompVis/Stability training code) into the diffusers-named
 * weight stores that clip_text.c, unet.c and vae.c read.
 *
 * The architecture comes from a diffusers-style config folder when one is given, otherwise it
 * is inferred from the checkpoint's key names and shapes. The key mapping is then generated
 * from the architecture (single_file_keys.c), so every expected tensor is looked up by its
 * original name and checked against the shape the architecture implies: a missing or
 * mis-shaped tensor fails the load with a message naming the file and the tensor, instead of
 * surfacing later inside a forward pass.
 */
#ifndef TI_SINGLE_FILE_H
#define TI_SINGLE_FILE_H

#include <stdint.h>

#include "model_config.h"
#include "safetensors.h"
#include "weights.h"

/* Load `path`. `config_dir` (may be NULL) is a folder holding text_encoder/config.json,
 * unet/config.json and vae/config.json; without it the architecture is inferred. On success
 * the three configs are filled and the three stores are new (the caller frees them); on
 * failure everything allocated is freed, the stores are NULL and the configs zeroed. */
tinv_status ti_single_file_load(const char *path, const char *config_dir, ts_dtype dtype, ts_device device,
                                ti_clip_config *text_cfg, ti_weights **text_w, ti_unet_config *unet_cfg,
                                ti_weights **unet_w, ti_vae_config *vae_cfg, ti_weights **vae_w);

/* ---- architecture inference (single_file.c) ------------------------------------------- */
/* Each fills a complete config from an open checkpoint, or fails naming what is missing. */
tinv_status ti_sf_infer_text(const ti_safetensors *st, ti_clip_config *out);
tinv_status ti_sf_infer_unet(const ti_safetensors *st, ti_unet_config *out);
tinv_status ti_sf_infer_vae(const ti_safetensors *st, ti_vae_config *out);

/* ---- key mapping (single_file_keys.c) ------------------------------------------------- */
/* How the three text encoder layouts found in single files name their tensors. */
typedef enum ti_sf_text_layout {
    TI_SF_TEXT_NONE = 0,
    TI_SF_TEXT_CLIP,     /* cond_stage_model.transformer.text_model.* (SD1, transformers names) */
    TI_SF_TEXT_CLIP_OLD, /* cond_stage_model.transformer.* (older transformers, no text_model.) */
    TI_SF_TEXT_OPENCLIP  /* cond_stage_model.model.* (SD2, OpenCLIP names) */
} ti_sf_text_layout;

typedef enum ti_sf_component { TI_SF_TEXT = 0, TI_SF_UNET = 1, TI_SF_VAE = 2 } ti_sf_component;

typedef enum ti_sf_transform {
    TI_SF_COPY = 0,      /* same shape in both layouts */
    TI_SF_SQUEEZE_1X1,   /* original may be a [out, in, 1, 1] conv where diffusers has a [out, in] linear */
    TI_SF_SPLIT3         /* original stacks q, k, v along dim 0; take chunk `part` */
} ti_sf_transform;

/* One diffusers tensor and where it comes from. `shape` is the diffusers shape. */
typedef struct ti_sf_key {
    ti_sf_component component;
    char dst[192];
    char src[192];
    int ndim;
    int64_t shape[4];
    ti_sf_transform transform;
    int part; /* TI_SF_SPLIT3: 0 = q, 1 = k, 2 = v */
} ti_sf_key;

typedef tinv_status (*ti_sf_emit_fn)(void *ctx, const ti_sf_key *key);

/* Which text encoder layout `st` holds (TI_SF_TEXT_NONE when none is recognised). */
ti_sf_text_layout ti_sf_text_layout_of(const ti_safetensors *st);

/* Call `emit` once per tensor the forward code reads, for the given architecture; stops at and
 * returns the first failing status. */
tinv_status ti_sf_text_keys(const ti_clip_config *c, ti_sf_text_layout layout, ti_sf_emit_fn emit, void *ctx);
tinv_status ti_sf_unet_keys(const ti_unet_config *c, ti_sf_emit_fn emit, void *ctx);
tinv_status ti_sf_vae_keys(const ti_vae_config *c, ti_sf_emit_fn emit, void *ctx);

#endif
