/* The toy-world model (issue 9): a tiny Stable-Diffusion-architecture model trained from scratch
 * by the library on toy_world.c's captioned pictures, with one shape and one colour held out of
 * its vocabulary so that textual inversion has something new to learn.
 *
 * Training is full-parameter, through the same AdamW optimizer the learned tokens use: first the
 * VAE (reconstruction + a small KL term), then the latent scale, then text encoder and UNet
 * together with the ordinary diffusion loss (v-prediction), keeping a moving average of their
 * weights. Every random choice comes from the seed, so the
 * same build, seed and thread count give the same files bit for bit. */
#ifndef TI_TOY_MODEL_H
#define TI_TOY_MODEL_H

#include <stdint.h>

#include "tinv.h"

typedef void (*ti_toy_progress_fn)(void *user, const char *stage, int step, int total, double loss);

typedef struct ti_toy_train_config {
    uint64_t seed;
    int side;                            /* picture side in pixels */
    int held_out_shape, held_out_colour; /* never named; -1: none */
    int held_out_drawn;  /* 1: held-out concepts are drawn, captioned as "shape" / without a colour
                          * word (textual inversion's setting: the model can draw them but has no
                          * word for them); 0: never drawn either */
    double drop_shape;   /* probability that a known shape is also called "shape" (held_out_drawn) */
    int latent_factor;   /* pixels per latent pixel a side: 2, 4 or 8 */
    int unet_width;      /* channels of the UNet's first level; the second has twice as many */
    const char *device;  /* "cpu", "cuda", "cuda:N"; NULL: cpu */
    int vae_steps, vae_batch;
    double vae_lr, vae_kl; /* KL weight against the per-element reconstruction MSE */
    int unet_steps, unet_batch;
    double unet_lr, unet_ema; /* unet_ema > 0: the saved weights are a moving average (this decay) */
    int refine_steps;    /* optional second stage (ti_toy_model_refine): more steps at a low rate ... */
    double refine_lr, refine_ema; /* ... keeping an exponential moving average, saved at the end */
    double drop_caption; /* probability of an empty caption (classifier-free guidance) */
    double drop_part;    /* probability that each optional part of a caption is left out */
    int save_every;      /* also write text encoder and UNet every this many steps (0: at the end only) */
    ti_toy_progress_fn progress;         /* may be NULL */
    void *user;
} ti_toy_train_config;

/* The settings the committed model was made with. */
void ti_toy_train_defaults(ti_toy_train_config *c);

/* Write the toy model's diffusers folder into `dir` (created; files replaced atomically): random
 * weights from the seed, then the training stages. The tokenizer's words are the captions' words
 * without the held-out names. About an hour on two cores with the defaults. */
tinv_status ti_toy_model_build(const char *dir, const ti_toy_train_config *c);

/* Continue training text encoder and UNet of the model in `dir` for refine_steps at refine_lr,
 * with an exponential moving average of the weights (decay refine_ema) that replaces them at the
 * end: more training for an existing model. The committed model is ti_toy_model_build alone
 * (refine_steps 0). */
tinv_status ti_toy_model_refine(const char *dir, const ti_toy_train_config *c);

/* Random captioned training pictures: `n` scenes from `*rng` (held-out concepts excluded, or
 * drawn and left unnamed with held_out_drawn) as
 * float [-1, 1] CHW planes in `pixels` (n*3*side*side) and, when `captions` is non-NULL, their
 * captions (each `cap` bytes) with parts dropped at random as in training. */
void ti_toy_training_batch(const ti_toy_train_config *c, uint64_t *rng, int n, float *pixels, char *captions,
                           size_t cap);

#endif
