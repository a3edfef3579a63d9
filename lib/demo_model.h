/* The demo model (tinv_demo_model_write): pieces shared by demo_model.c and demo_vocab.c. */
#ifndef TI_DEMO_MODEL_H
#define TI_DEMO_MODEL_H

#include <stdint.h>

#include "tinv.h"

/* Standard deviation of a random weight named `name`, or 0 for a constant one (*constant
 * receives it): biases 0, norm scales 1, embeddings small like CLIP's initialiser, linear and
 * conv weights 1/sqrt(fan_in) so every layer keeps activations near unit size and outputs stay
 * non-trivial. The demo model and the full-size benchmark model use it. */
double ti_param_init_std(const char *name, const int64_t *shape, int ndim, float *constant);

/* The architecture of a small SD-1.x-layout model written with random weights. */
typedef struct ti_tiny_spec {
    int text_width, text_layers, text_heads, text_ff; /* text_width is also cross_attention_dim */
    int unet_channels[8], unet_cross[8], unet_levels; /* per down level; cross: CrossAttn block */
    int unet_heads, unet_sample;
    int vae_channels[8], vae_levels, vae_sample; /* a latent pixel is 2^(vae_levels-1) pixels a side */
    double scaling_factor;
    int v_prediction; /* the scheduler's prediction_type: v_prediction, else epsilon */
    const char *corpus; /* words the tokenizer's BPE merges are learnt from */
    int max_merges;
} ti_tiny_spec;

/* The demo model's built-in word list. */
extern const char ti_demo_corpus[];

/* Write a diffusers folder for `spec` with seeded random weights (ti_param_init_std) into `dir`
 * (created with its parents). The folder depends on nothing but spec and seed. */
tinv_status ti_tiny_model_write(const char *dir, const ti_tiny_spec *spec, uint64_t seed);

/* (Re)write the three networks' config.json files of `spec` in `dir` for a tokenizer of `vocab`
 * ids (e.g. after training changes the VAE's scaling factor). */
tinv_status ti_tiny_model_write_configs(const char *dir, const ti_tiny_spec *spec, int vocab);

/* Write `text` to `path` atomically ("<path>.tmp", then rename). */
tinv_status ti_demo_write_text(const char *path, const char *text);

/* Write a CLIP-layout tokenizer (vocab.json, merges.txt, tokenizer_config.json,
 * special_tokens_map.json) into the existing folder `dir`, with up to `max_merges` (<= 512) BPE
 * merges learnt from the space-separated words of `corpus` (a word must occur twice to merge);
 * *vocab_size receives the number of ids, the text encoder's embedding rows. */
tinv_status ti_demo_tokenizer_write(const char *dir, const char *corpus, int max_merges, int *vocab_size);

#endif
