/*
 * scheduler.h — the noise schedulers of diffusers 0.25 as Stable Diffusion uses them.
 *
 * Kinds: DDIM, PNDM (skip_prk_steps, PLMS), Euler, Euler ancestral, DPM++ 2M
 * (DPMSolverMultistep, dpmsolver++, midpoint, optionally Karras sigmas), LMS (order 4) and
 * DDPM (fixed_small). The tables (betas, ᾱ, timesteps, sigmas) are plain float/double arrays
 * computed with diffusers' float32/float64 arithmetic; latents are shim tensors, so the
 * per-step maths runs wherever the latents live (CPU or GPU).
 *
 * Usage: ti_sched_config_load() (or _parse) → ti_scheduler_create() → ti_scheduler_set_timesteps(N)
 * → for each timestep: ti_scheduler_scale_model_input(), the model, ti_scheduler_step().
 * Files: scheduler_config.c (config), scheduler_tables.c (tables, timesteps, sigmas),
 * scheduler_noise.c (add_noise, get_velocity, scale_model_input, noise draws, step dispatch),
 * scheduler_step_alpha.c (DDIM, PNDM, DDPM) and scheduler_step_sigma.c (Euler, Euler ancestral,
 * LMS, DPM++).
 */
#ifndef TI_SCHEDULER_H
#define TI_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "tinv.h"
#include "../shim/shim.h"

typedef enum ti_sched_kind {
    TI_SCHED_FROM_CONFIG = -1, /* only as a request: use the config's _class_name */
    TI_SCHED_DDIM = 0,
    TI_SCHED_PNDM,
    TI_SCHED_EULER,
    TI_SCHED_EULER_ANCESTRAL,
    TI_SCHED_DPMPP_2M,
    TI_SCHED_LMS,
    TI_SCHED_DDPM,
    TI_SCHED_KIND_COUNT
} ti_sched_kind;

typedef enum ti_sched_spacing { TI_SPACING_LEADING = 0, TI_SPACING_LINSPACE, TI_SPACING_TRAILING } ti_sched_spacing;
typedef enum ti_sched_beta { TI_BETA_LINEAR = 0, TI_BETA_SCALED_LINEAR } ti_sched_beta;
typedef enum ti_sched_prediction { TI_PRED_EPSILON = 0, TI_PRED_V } ti_sched_prediction;

/* The effective configuration of one scheduler class (diffusers' from_config result). */
typedef struct ti_sched_config {
    ti_sched_kind kind;
    int num_train_timesteps;
    double beta_start, beta_end;
    ti_sched_beta beta_schedule;
    int steps_offset;
    int set_alpha_to_one;        /* DDIM, PNDM */
    int clip_sample;             /* DDIM, DDPM */
    double clip_sample_range;
    ti_sched_prediction prediction_type;
    ti_sched_spacing timestep_spacing;
    int use_karras_sigmas;       /* DPM++ (Euler/LMS: unsupported, rejected) */
    int solver_order;            /* DPM++: 1 or 2 */
    int lower_order_final;       /* DPM++ */
    int euler_at_final;          /* DPM++ */
    double s_churn, s_tmin, s_tmax, s_noise; /* Euler step() arguments, diffusers' defaults */
} ti_sched_config;

/* "ddim", "pndm", "euler", "euler_ancestral", "dpmpp_2m", "lms", "ddpm". */
const char *ti_sched_kind_name(ti_sched_kind kind);
/* Parse a short name (as above) or a diffusers class name ("EulerDiscreteScheduler", ...). */
tinv_status ti_sched_kind_parse(const char *name, ti_sched_kind *out);

/* The class defaults diffusers uses for `kind` when a key is missing from the config. */
void ti_sched_config_defaults(ti_sched_kind kind, ti_sched_config *out);

/* Parse scheduler_config.json text (`label` names it in errors) as class `kind`
 * (TI_SCHED_FROM_CONFIG: the file's _class_name), then apply `extra` (JSON object text of
 * from_config keyword arguments, may be NULL). Missing keys take the class defaults (Q9). */
tinv_status ti_sched_config_parse(const char *json_text, size_t len, const char *label, ti_sched_kind kind,
                                  const char *extra, ti_sched_config *out);
tinv_status ti_sched_config_load(const char *path, ti_sched_kind kind, const char *extra, ti_sched_config *out);

/* Optional noise source for step(): `draw` (if set) is used instead of the generator, e.g. to
 * replay recorded noise; it returns a float32 tensor of `shape` on `device`. */
typedef ts_tensor *(*ti_sched_draw_fn)(void *user, const int64_t *shape, int ndim, ts_device device);
typedef struct ti_sched_noise {
    ts_generator *generator; /* ts_randn on the CPU, like diffusers' randn_tensor */
    ti_sched_draw_fn draw;
    void *user;
} ti_sched_noise;

#define TI_SCHED_MAX_HISTORY 4

/* Scheduler state. The scheduler_*.c files read the fields; callers use the functions. */
typedef struct ti_scheduler {
    ti_sched_config cfg;
    int T;                   /* num_train_timesteps */
    float *betas;            /* [T] float32, as diffusers */
    float *alphas_cumprod;   /* [T] */
    float final_alpha_cumprod;
    float *train_sigmas;     /* [T] float32 √((1−ᾱ)/ᾱ) */
    /* after set_timesteps */
    int num_inference_steps;
    size_t n_timesteps;      /* PNDM: N+1 */
    double *timesteps;       /* values (integers for int64 kinds, float32-exact for float kinds) */
    int timesteps_int;       /* 1 when diffusers hands int64 timesteps (Q8) */
    float *sigmas;           /* [n_timesteps+1] or NULL for DDIM/PNDM/DDPM */
    float init_noise_sigma;
    /* step state */
    int step_index;          /* -1 until the first step */
    int counter;             /* PNDM */
    ts_tensor *history[TI_SCHED_MAX_HISTORY]; /* ets (PNDM), derivatives (LMS), model outputs (DPM); oldest first */
    int n_history;
    ts_tensor *cur_sample;   /* PNDM warm-up */
    int lower_order_nums;    /* DPM */
} ti_scheduler;

tinv_status ti_scheduler_create(const ti_sched_config *cfg, ti_scheduler **out);
void ti_scheduler_free(ti_scheduler *s);
/* Compute the inference timesteps (and sigmas) for `n` steps and reset the step state. */
tinv_status ti_scheduler_set_timesteps(ti_scheduler *s, int n);
/* Forget the step state (history, step index) but keep the timesteps. */
void ti_scheduler_reset(ti_scheduler *s);

/* x / √(σ²+1) for the sigma schedulers (Euler, Euler ancestral, LMS); a copy otherwise. */
ts_tensor *ti_scheduler_scale_model_input(ti_scheduler *s, const ts_tensor *x, double t);
/* One denoising step from `t`: writes the new latents to *prev. `noise` may be NULL for the
 * deterministic kinds; Euler, Euler ancestral and DDPM draw from it like diffusers. */
tinv_status ti_scheduler_step(ti_scheduler *s, const ts_tensor *model_output, double t, const ts_tensor *sample,
                              const ti_sched_noise *noise, ts_tensor **prev);
/* √ᾱ·x0 + √(1−ᾱ)·noise (σ kinds: x0 + σ·noise with t looked up in the current schedule), one
 * t per batch row (n_t == batch) or one for all (n_t == 1). */
ts_tensor *ti_scheduler_add_noise(ti_scheduler *s, const ts_tensor *x0, const ts_tensor *noise, const double *t,
                                  size_t n_t);
/* √ᾱ·noise − √(1−ᾱ)·x0, the v-prediction target. */
ts_tensor *ti_scheduler_get_velocity(ti_scheduler *s, const ts_tensor *x0, const ts_tensor *noise, const double *t,
                                     size_t n_t);

/* Internal helpers shared by the scheduler files. */
int ti_sched_has_sigmas(ti_sched_kind kind);
/* Index of timestep `t` in the schedule, diffusers' rule (the second match when repeated);
 * -1 when absent. */
int ti_sched_index_for_timestep(const ti_scheduler *s, double t);
/* ᾱ at integer timestep t (bounds-checked: -1 when t is not an integer in [0, T)). */
int ti_sched_train_index(const ti_scheduler *s, double t);
/* Keep `t` in the scheduler's history (a detached clone); drops the oldest beyond `keep`. */
tinv_status ti_sched_push_history(ti_scheduler *s, const ts_tensor *t, int keep);
void ti_sched_clear_history(ti_scheduler *s);
tinv_status ti_sched_step_alpha(ti_scheduler *s, const ts_tensor *model_output, double t, const ts_tensor *sample,
                                const ti_sched_noise *noise, ts_tensor **prev);
tinv_status ti_sched_step_sigma(ti_scheduler *s, const ts_tensor *model_output, double t, const ts_tensor *sample,
                                const ti_sched_noise *noise, ts_tensor **prev);
/* Draw standard normal noise shaped like `like` (float32), from the noise source. */
ts_tensor *ti_sched_draw(const ti_sched_noise *noise, const ts_tensor *like);

#endif
