/* The classifier-free-guidance denoising loop shared by tinv_sampler (lib/sampler.c) and the
 * golden runner: latents in, latents out, on shim tensors. */
#ifndef TI_SAMPLER_H
#define TI_SAMPLER_H

#include "model.h"
#include "scheduler.h"

/* Called after each step k (0-based) of `total`: `model_output` is the raw UNet output ([2B,…]
 * uncond rows first with guidance, else [B,…]), `guided` the guided prediction and `latents` the
 * new latents, all float32 [B,…] on the model's device. A non-OK return stops the loop with it. */
typedef tinv_status (*ti_cfg_step_fn)(void *user, size_t k, size_t total, const ts_tensor *model_output,
                                      const ts_tensor *guided, const ts_tensor *latents);

typedef struct ti_cfg_loop {
    tinv_model *model;
    ti_scheduler *sched;           /* timesteps set; its step state is reset here */
    const ts_tensor *context;      /* [2B, L, D] = [uncond…, cond…] when do_cfg, else [B, L, D] */
    int do_cfg;                    /* 0: one UNet pass per step on the cond rows only */
    double guidance;               /* g = e_u + guidance·(e_c − e_u) */
    const ti_sched_noise *noise;   /* ancestral noise source (may be NULL for deterministic kinds) */
    int circular;                  /* circular padding in the UNet's convolutions (tiling) */
    ti_cfg_step_fn on_step;        /* may be NULL */
    void *user;
} ti_cfg_loop;

/* Run every timestep of loop->sched from `latents` (float32 [B, C, h, w], already × σ_init).
 * *out receives the final latents (float32, in the caller's scope); NULL on failure. */
tinv_status ti_cfg_denoise(const ti_cfg_loop *loop, const ts_tensor *latents, ts_tensor **out);

#endif
