/* The tinv_trainer handle: the textual-inversion loop (trainer.c), its cached VAE posteriors
 * (trainer_latents.c) and its checkpoints (trainer_state.c). */
#ifndef TI_TRAINER_H
#define TI_TRAINER_H

#include "../shim/shim.h"
#include "log.h"
#include "tinv.h"
#include "train_images.h"

/* The VAE posterior of one training crop: latents are mean + std · ε, times the scaling factor. */
typedef struct ti_posterior {
    ts_tensor *mean, *std; /* [1, C, h, w] float32, model device; NULL until computed */
} ti_posterior;

struct tinv_trainer {
    tinv_model *model;       /* borrowed */
    tinv_tokenizer *tok;     /* borrowed */
    char *token;
    ti_logger logger;
    tinv_optimizer *opt;     /* owned */
    ts_generator *gen;       /* every random choice; created by the run or restored by resume */
    char *images_dir, *templates;
    int steps, batch, resolution;
    uint64_t seed;
    int random_crop, cache_latents;
    double flip_probability;
    char *embedding_path, *state_path;
    tinv_embedding_format format;
    int save_every;
    tinv_sampler *validation; /* borrowed */
    int validate_every;
    char *validation_prefix;
    tinv_train_progress_fn progress;
    void *progress_user;
    /* run-time data */
    ti_train_images images;
    ti_posterior *posteriors; /* [n_posteriors / 2][2]: centre crop without and with flip */
    int n_posteriors;
};

/* Encode every image's centre crop (and its mirror) once. */
tinv_status ti_trainer_cache_posteriors(tinv_trainer *tr);
void ti_trainer_free_posteriors(tinv_trainer *tr);
/* Scaled latents [1, C, h, w] of image `index` sampled with standard-normal `eps`: from the
 * cached posterior, or (random crops, or caching off) encoded now at crop (x, y). */
ts_tensor *ti_trainer_latents(tinv_trainer *tr, int index, int x, int y, int flip, const ts_tensor *eps);

/* Write the embedding and (when set) the trainer state; both atomically. */
tinv_status ti_trainer_save(tinv_trainer *tr);
#endif
