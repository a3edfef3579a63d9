/* Architecture descriptions read from diffusers/transformers config.json files. */
#ifndef TI_MODEL_CONFIG_H
#define TI_MODEL_CONFIG_H

#include "tinv.h"

#define TI_MAX_BLOCKS 8

typedef struct ti_clip_config {
    int vocab_size, hidden_size, intermediate_size, num_layers, num_heads, max_positions;
    double layer_norm_eps;
    int quick_gelu; /* 1: x*sigmoid(1.702x) (SD1); 0: exact GELU (SD2) */
} ti_clip_config;

typedef struct ti_unet_config {
    int in_channels, out_channels, num_blocks, layers_per_block;
    int block_out[TI_MAX_BLOCKS];
    int heads[TI_MAX_BLOCKS];      /* attention heads per down block (a head COUNT, see README Q1) */
    int down_cross[TI_MAX_BLOCKS]; /* 1 = CrossAttnDownBlock2D, 0 = DownBlock2D */
    int up_cross[TI_MAX_BLOCKS];   /* in up-block order */
    int cross_attention_dim, norm_groups, transformer_layers;
    double norm_eps;
    int linear_projection, flip_sin_to_cos;
    double freq_shift;
} ti_unet_config;

typedef struct ti_vae_config {
    int in_channels, out_channels, latent_channels, num_blocks, layers_per_block, norm_groups;
    int block_out[TI_MAX_BLOCKS];
    double scaling_factor;
} ti_vae_config;

/* Each parser reads `path` (a config.json) and validates what the forward pass relies on;
 * errors name the file and the key. */
tinv_status ti_clip_config_load(const char *path, ti_clip_config *out);
tinv_status ti_unet_config_load(const char *path, ti_unet_config *out);
tinv_status ti_vae_config_load(const char *path, ti_vae_config *out);

#endif
