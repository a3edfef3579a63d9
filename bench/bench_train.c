/* Training benchmark: where the time of a textual-inversion step goes, what cached VAE posteriors
 * save, and full-size sampling time.
 *
 *  1. Per-step breakdown of one training step, composed as ti_diffusion_loss (train_loss.c) runs it
 *     but with a clock between the phases: text encoder forward (token embedding + CLIP encoder),
 *     UNet forward (+ the loss), backward (through the UNet and the text encoder into the learned
 *     vectors), freeing the step's tensors, optimizer step. For the demo model at 64 px, and for a
 *     full-size SD-1.5-shaped model with random weights (CLIP-L text encoder, UNet, VAE) at 256²
 *     and 512², batch 1.
 *  2. Cached posteriors: tinv_trainer_run on the demo model with caching on and off (per-step
 *     time from the progress callback's clock), one demo VAE encoder pass, and one full-size VAE
 *     encoder pass at 256² and 512² (what caching saves per step at full size).
 *  3. Full-size sampling: one CFG sampling run of a few steps against one batch-2 UNet forward,
 *     and one VAE decoder pass.
 *
 * usage: bench_train [--quick] [--full-only] [--size 256|512]... [--train-steps N] [--sample-steps N]
 *                    [--no-train] [--no-vae] [--no-sample] [--no-decode]
 *   --quick        demo-model part only (seconds)
 *   --full-only    skip the demo-model part
 *   --size N       full-size resolution to run (repeatable; default 256 and 512)
 *   --train-steps  measured full-size training steps per size after one warm-up step (default 3 at 256^2, 2 at 512^2)
 *   --sample-steps denoising steps of the full-size sampling run (default 3)
 *   --vocab FILE   CLIP's bpe_simple_vocab_16e6.txt.gz (default ../shared/fixtures/clip/...)
 * The full run takes ~7 min on 2 cores at load 4 and peaks at ~13.5 GiB RSS (the 512^2 VAE decode).
 * On shared cores run it with OMP_WAIT_POLICY=passive (docs/performance.md, section Training).
 * Prints figures; asserts nothing. Peak RSS is the process's ru_maxrss so far (it only grows). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "demo_model.h"
#include "model.h"
#include "options.h"
#include "single_file.h"
#include "bench_common.h"
#include "tinv.h"
#include "unet_params.h"

#define TOKEN "<bench-token>"
#define MAX_REPS 64 /* most timed steps in one series */

static const ts_device CPU = {TS_CPU, 0};

static double peak_rss_gib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / (1024.0 * 1024.0);
}

/* Resident set size now (from /proc/self/statm), GiB. */
static double rss_now_gib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0 * 1024.0);
}

static void print_load(const char *when)
{
    double load[3] = {0, 0, 0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = 0;
        fclose(f);
    }
    printf("[load average %s: %.2f %.2f %.2f]\n", when, load[0], load[1], load[2]);
}

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, tinv_last_error());
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- one training step, phase by phase ------------------------------------------------------- */

enum { PH_TEXT, PH_UNET, PH_BACKWARD, PH_FREE, PH_OPT, PH_COUNT };
static const char *const phase_name[PH_COUNT] = {"text encoder forward", "UNet forward + loss",
                                                 "backward (UNet + text enc.)", "free step tensors",
                                                 "optimizer step"};

typedef struct step_times {
    double phase[PH_COUNT]; /* mean seconds */
    double total_min, total_max, total_median;
    double totals[MAX_REPS];
    int reps;
} step_times;

/* Run `warmup` + `reps` training steps of learned token TOKEN (which has an optimizer) on random
 * latents of side `side`, timing each phase; the composition is ti_diffusion_loss's. */
static int time_train_steps(tinv_model *m, tinv_tokenizer *tok, tinv_optimizer *opt, int side, int warmup, int reps,
                            step_times *out)
{
    memset(out, 0, sizeof *out);
    out->total_min = 1e30;
    size_t L = tinv_tokenizer_max_length(tok);
    int32_t ids[1024];
    size_t n_ids = 0;
    if (L > 1024 || tinv_tokenizer_encode(tok, "a photo of a " TOKEN, 1, ids, L, &n_ids, NULL) != TINV_OK)
        return fail("tokenize");
    ti_sched_config cfg;
    ti_scheduler *sched = NULL;
    if (ti_sched_config_parse(m->sched_json, strlen(m->sched_json), "scheduler", TI_SCHED_DDPM, NULL, &cfg) !=
            TINV_OK ||
        ti_scheduler_create(&cfg, &sched) != TINV_OK)
        return fail("scheduler");
    ts_generator *g = ts_generator_create(7);
    size_t outer = ts_scope_begin();
    int64_t is[2] = {1, (int64_t)L}, xs[4] = {1, m->unet.cfg.in_channels, side, side}, one = 1;
    ts_tensor *ids_t = ts_detach(ts_from_data(ids, TS_I32, is, 2, TS_I64, CPU));
    ts_tensor *x0 = ts_detach(ts_randn(g, xs, 4, TS_F32, CPU)), *eps = ts_detach(ts_randn(g, xs, 4, TS_F32, CPU));
    ts_scope_end(outer);
    int rc = 0;
    double t_noise = 500;
    float tf = 500;
    int prev = ts_set_grad_enabled(1);
    for (int r = 0; r < warmup + reps && rc == 0; r++) {
        double t[PH_COUNT + 1];
        size_t scope = ts_scope_begin();
        t[0] = now();
        ts_tensor *noisy = ti_scheduler_add_noise(sched, x0, eps, &t_noise, 1);
        ts_tensor *context = ti_clip_encode(&m->text, ti_clip_embed_tokens(&m->text, ids_t));
        t[1] = now();
        ts_tensor *tt = ts_from_data(&tf, TS_F32, &one, 1, TS_F32, CPU);
        ts_tensor *pred = ti_unet_forward(&m->unet, noisy, tt, context, 0);
        ts_tensor *l = ts_mse_loss(pred, eps);
        double loss = l ? ts_item(l) : 0;
        t[2] = now();
        tinv_status st = l ? ts_backward(l) : tinv_last_status();
        t[3] = now();
        ts_scope_end(scope);
        t[4] = now();
        int applied = 0;
        if (st == TINV_OK)
            st = tinv_optimizer_step(opt, &applied);
        t[5] = now();
        if (st != TINV_OK) {
            rc = fail("training step");
            break;
        }
        if (r == 0)
            printf("    (loss %.4f; first step %.3f s)\n", loss, t[5] - t[0]);
        if (r < warmup)
            continue;
        for (int p = 0; p < PH_COUNT; p++)
            out->phase[p] += t[p + 1] - t[p];
        double total = t[5] - t[0];
        out->total_min = total < out->total_min ? total : out->total_min;
        out->total_max = total > out->total_max ? total : out->total_max;
        out->totals[out->reps++] = total;
    }
    ts_set_grad_enabled(prev);
    for (int p = 0; p < PH_COUNT && out->reps > 0; p++)
        out->phase[p] /= out->reps;
    if (out->reps > 0)
        out->total_median = median(out->totals, out->reps);
    ts_free(ids_t);
    ts_free(x0);
    ts_free(eps);
    ts_generator_free(g);
    ti_scheduler_free(sched);
    return rc;
}

/* Print a breakdown; `fwd_gflop` > 0 adds achieved GFLOP/s of the UNet forward + backward. */
static void print_steps(const step_times *s, double fwd_gflop, double ceiling)
{
    double total = 0;
    for (int p = 0; p < PH_COUNT; p++)
        total += s->phase[p];
    int ms = total < 1.0;
    for (int p = 0; p < PH_COUNT; p++)
        printf("    %-28s %10.3f %s  %5.1f%%\n", phase_name[p], ms ? s->phase[p] * 1e3 : s->phase[p], ms ? "ms" : "s ",
               100 * s->phase[p] / total);
    double k = ms ? 1e3 : 1;
    printf("    %-28s %10.3f %s  (mean of %d; median %.3f, min %.3f, max %.3f)\n", "whole step", total * k,
           ms ? "ms" : "s ", s->reps, s->total_median * k, s->total_min * k, s->total_max * k);
    if (fwd_gflop > 0) {
        double fwd = fwd_gflop / s->phase[PH_UNET], fb = 2 * fwd_gflop / (s->phase[PH_UNET] + s->phase[PH_BACKWARD]);
        printf("    UNet forward ~%.0f GFLOP/s (%.0f%% of the ceiling); forward+backward ~%.0f GFLOP/s (%.0f%%)\n", fwd,
               100 * fwd / ceiling, fb, 100 * fb / ceiling);
    }
}

/* ---- the demo model ---------------------------------------------------------------------------- */

typedef struct step_clock {
    double t[MAX_REPS + 1];
    int n;
} step_clock;

static int record_step(void *user, int step, int total, double loss, double lr)
{
    step_clock *c = user;
    if (c->n <= MAX_REPS)
        c->t[c->n++] = now();
    return 0;
}

/* Write `n` 64x64 RGB pictures (smooth gradients with a seeded speckle) into `dir`. */
static int write_pictures(const char *dir, int n, int side)
{
    uint8_t *px = malloc((size_t)side * side * 3);
    if (px == NULL)
        return 1;
    unsigned s = 12345;
    for (int k = 0; k < n; k++) {
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
                for (int c = 0; c < 3; c++) {
                    s = s * 1103515245u + 12345u;
                    px[((size_t)y * side + x) * 3 + c] = (uint8_t)((x * 4 + y * (c + 1) * 3 + k * 40 + (s >> 27)) & 255);
                }
        char path[4200];
        snprintf(path, sizeof path, "%s/pic%d.png", dir, k);
        if (tinv_image_write(path, px, side, side, 3, 1, 0, 90, NULL) != TINV_OK) {
            free(px);
            return fail("write picture");
        }
    }
    free(px);
    return 0;
}

/* One tinv_trainer_run of `steps` steps. *per_step: the median step time of steps 2..steps (from the
 * progress callback's clock); *setup: run start to the end of step 1 minus one step (loading the
 * pictures and, when caching, encoding their posteriors). */
static int time_trainer(tinv_model *m, tinv_tokenizer *tok, const char *images, int res, int steps, int cache,
                        double *per_step, double *setup)
{
    tinv_trainer *tr = NULL;
    step_clock clock = {{0}, 0};
    if (tinv_trainer_create(m, tok, TOKEN, &tr) != TINV_OK || tinv_trainer_set_images(tr, images) != TINV_OK ||
        tinv_trainer_set_steps(tr, steps) != TINV_OK || tinv_trainer_set_resolution(tr, res) != TINV_OK ||
        tinv_trainer_set_cache_latents(tr, cache) != TINV_OK ||
        tinv_trainer_set_progress_callback(tr, record_step, &clock) != TINV_OK) {
        tinv_trainer_free(tr);
        return fail("trainer settings");
    }
    double t0 = now();
    tinv_status st = tinv_trainer_run(tr);
    tinv_trainer_free(tr);
    if (st != TINV_OK)
        return fail("trainer run");
    if (clock.n < 2)
        return 1;
    double d[MAX_REPS];
    for (int i = 1; i < clock.n; i++)
        d[i - 1] = clock.t[i] - clock.t[i - 1];
    *per_step = median(d, clock.n - 1);
    *setup = clock.t[0] - t0 - *per_step;
    return 0;
}

/* Mean seconds of one VAE encoder pass on a random picture of side `res` (no gradients). */
static double time_vae_encode(const tinv_model *m, int res, int warmup, int reps)
{
    int prev = ts_set_grad_enabled(0);
    ts_generator *g = ts_generator_create(5);
    size_t scope = ts_scope_begin();
    int64_t shape[4] = {1, 3, res, res};
    ts_tensor *img = ts_clamp(ts_randn(g, shape, 4, TS_F32, CPU), -1, 1);
    double dt = -1, t0 = 0;
    for (int r = 0; r < warmup + reps; r++) {
        if (r == warmup)
            t0 = now();
        size_t inner = ts_scope_begin();
        ts_tensor *mean = NULL, *logvar = NULL;
        tinv_status st = ti_vae_encode(&m->vae, img, 0, &mean, &logvar);
        ts_scope_end(inner);
        if (st != TINV_OK) {
            fail("vae encode");
            goto done;
        }
    }
    dt = (now() - t0) / reps;
done:
    ts_scope_end(scope);
    ts_generator_free(g);
    ts_set_grad_enabled(prev);
    return dt;
}

/* Mean seconds of one VAE decoder pass on random latents of side `side` (no gradients). */
static double time_vae_decode(const tinv_model *m, int side, int reps)
{
    int prev = ts_set_grad_enabled(0);
    ts_generator *g = ts_generator_create(6);
    size_t scope = ts_scope_begin();
    int64_t shape[4] = {1, m->vae.cfg.latent_channels, side, side};
    ts_tensor *z = ts_randn(g, shape, 4, TS_F32, CPU);
    double dt = -1, t0 = now();
    for (int r = 0; r < reps; r++) {
        size_t inner = ts_scope_begin();
        ts_tensor *img = ti_vae_decode(&m->vae, z, 0);
        ts_scope_end(inner);
        if (img == NULL) {
            fail("vae decode");
            goto done;
        }
    }
    dt = (now() - t0) / reps;
done:
    ts_scope_end(scope);
    ts_generator_free(g);
    ts_set_grad_enabled(prev);
    return dt;
}

static int bench_demo(const char *tmp, double ceiling)
{
    char dir[4096], images[4096];
    snprintf(dir, sizeof dir, "%s/demo", tmp);
    snprintf(images, sizeof images, "%s/pictures", tmp);
    printf("\n== Demo model (tinv_demo_model_write), 64 px (16x16 latent, VAE factor 4), batch 1 ==\n");
    tinv_model *m = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_optimizer *opt = NULL;
    if (tinv_demo_model_write(dir, 0) != TINV_OK || tinv_model_load(dir, NULL, &m) != TINV_OK ||
        tinv_tokenizer_load(dir, NULL, &tok) != TINV_OK || tinv_model_add_token(m, tok, TOKEN, 1, NULL, 0) != TINV_OK ||
        tinv_optimizer_create(m, TOKEN, &opt) != TINV_OK)
        return fail("demo model");
    int64_t f = 0;
    tinv_model_get_int(m, TINV_MODEL_VAE_SCALE_FACTOR, &f);
    step_times s;
    if (time_train_steps(m, tok, opt, 64 / (int)f, 5, 30, &s) != 0)
        return 1;
    printf("  training step breakdown (5 warm-up steps, then 30):\n");
    print_steps(&s, 0, ceiling);
    tinv_optimizer_free(opt); /* the trainers below create their own */

    mkdir(images, 0755);
    if (write_pictures(images, 4, 64) != 0)
        return 1;
    /* Alternate the two settings RUNS times and take medians: other work on the machine shifts the
     * step time by more than the VAE costs, and alternating spreads that over both settings. */
    enum { STEPS = 12, RUNS = 11 };
    double per[2][RUNS], setup[2][RUNS], scratch, scratch2;
    /* Once untimed so both timed runs start from the same warm state. */
    if (time_trainer(m, tok, images, 64, 5, 1, &scratch, &scratch2) != 0)
        return 1;
    for (int r = 0; r < RUNS; r++)
        for (int cache = 1; cache >= 0; cache--)
            if (time_trainer(m, tok, images, 64, STEPS, cache, &per[cache][r], &setup[cache][r]) != 0)
                return 1;
    double p1 = median(per[1], RUNS), p0 = median(per[0], RUNS);
    double s1 = median(setup[1], RUNS);
    double enc = time_vae_encode(m, 64, 3, 20);
    printf("  tinv_trainer_run, 4 pictures, %d steps at 64 px, %d runs of each setting alternated (medians):\n", STEPS,
           RUNS);
    printf("    cached posteriors (default)  %8.2f ms/step   setup %6.1f ms (loads pictures, encodes 8 crops)\n",
           p1 * 1e3, s1 * 1e3);
    printf("    VAE every step (cache off)   %8.2f ms/step   -> caching saves %.2f ms/step (%.0f%%)\n", p0 * 1e3,
           (p0 - p1) * 1e3, 100 * (p0 - p1) / p0);
    printf("    one demo VAE encoder pass at 64 px: %.2f ms\n", enc * 1e3);
    printf("  peak RSS so far %.2f GiB\n", peak_rss_gib());
    tinv_tokenizer_free(tok);
    tinv_model_free(m);
    return 0;
}

/* ---- the full-size model -------------------------------------------------------------------------- */

typedef struct random_init {
    ti_weights *w;
    ts_generator *g;
    long long params;
} random_init;

/* Random weights by the demo model's rule (ti_param_init_std): activations stay near unit size
 * through every layer (no denormals, no overflow), as in a trained model. */
static tinv_status add_random(void *user, const char *name, const int64_t *shape, int ndim)
{
    random_init *r = user;
    size_t scope = ts_scope_begin();
    float constant;
    double std = ti_param_init_std(name, shape, ndim, &constant);
    ts_tensor *t = std == 0.0 ? ts_full(shape, ndim, constant, TS_F32, CPU)
                              : ts_mul_scalar(ts_randn(r->g, shape, ndim, TS_F32, CPU), std);
    tinv_status st = t ? ti_weights_put(r->w, name, ts_detach(t)) : tinv_last_status();
    if (st == TINV_OK)
        r->params += ts_numel(t);
    ts_scope_end(scope);
    return st;
}

static tinv_status add_random_key(void *user, const ti_sf_key *key)
{
    return add_random(user, key->dst, key->shape, key->ndim);
}

static const char sd15_sched_json[] =
    "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", "
    "\"beta_start\": 0.00085, \"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, "
    "\"skip_prk_steps\": true, \"steps_offset\": 1, \"clip_sample\": false, \"prediction_type\": \"epsilon\"}";

/* A tinv_model with SD-1.5's architecture (CLIP ViT-L/14 text encoder, UNet, VAE) and random weights,
 * assembled in memory; tinv_model_free frees it like a loaded one. */
static tinv_model *full_size_model(void)
{
    tinv_model *m = calloc(1, sizeof *m);
    if (m == NULL || (m->path = strdup("(random SD-1.5-shaped weights)")) == NULL ||
        (m->sched_json = strdup(sd15_sched_json)) == NULL) {
        free(m);
        return NULL;
    }
    ti_options_resolve(NULL, &m->opts);
    m->text.cfg = (ti_clip_config){.vocab_size = 49408, .hidden_size = 768, .intermediate_size = 3072,
                                   .num_layers = 12, .num_heads = 12, .max_positions = 77,
                                   .layer_norm_eps = 1e-5, .quick_gelu = 1};
    m->unet.cfg = (ti_unet_config){.in_channels = 4, .out_channels = 4, .num_blocks = 4, .layers_per_block = 2,
                                   .block_out = {320, 640, 1280, 1280}, .heads = {8, 8, 8, 8},
                                   .down_cross = {1, 1, 1, 0}, .up_cross = {0, 1, 1, 1}, .cross_attention_dim = 768,
                                   .norm_groups = 32, .transformer_layers = 1, .norm_eps = 1e-5,
                                   .linear_projection = 0, .flip_sin_to_cos = 1, .freq_shift = 0};
    m->vae.cfg = (ti_vae_config){.in_channels = 3, .out_channels = 3, .latent_channels = 4, .num_blocks = 4,
                                 .layers_per_block = 2, .norm_groups = 32, .block_out = {128, 256, 512, 512},
                                 .scaling_factor = 0.18215};
    random_init r = {NULL, ts_generator_create(3), 0};
    long long counts[3] = {0, 0, 0};
    int prev = ts_set_grad_enabled(0);
    tinv_status st = ti_sched_config_parse(m->sched_json, strlen(m->sched_json), "SD-1.5 scheduler",
                                           TI_SCHED_FROM_CONFIG, NULL, &m->sched);
    if (st == TINV_OK && (st = ti_weights_create(TS_F32, CPU, &m->text.w)) == TINV_OK) {
        r.w = m->text.w;
        st = ti_sf_text_keys(&m->text.cfg, TI_SF_TEXT_CLIP, add_random_key, &r);
        counts[0] = r.params;
    }
    if (st == TINV_OK && (st = ti_weights_create(TS_F32, CPU, &m->unet.w)) == TINV_OK) {
        r.w = m->unet.w;
        st = ti_unet_params(&m->unet.cfg, add_random, &r);
        counts[1] = r.params - counts[0];
    }
    if (st == TINV_OK && (st = ti_weights_create(TS_F32, CPU, &m->vae.w)) == TINV_OK) {
        r.w = m->vae.w;
        st = ti_sf_vae_keys(&m->vae.cfg, add_random_key, &r);
        counts[2] = r.params - counts[0] - counts[1];
    }
    ts_set_grad_enabled(prev);
    ts_generator_free(r.g);
    if (st != TINV_OK) {
        fail("full-size random weights");
        tinv_model_free(m);
        return NULL;
    }
    printf("  parameters: text encoder %.1f M, UNet %.1f M, VAE %.1f M\n", counts[0] / 1e6, counts[1] / 1e6,
           counts[2] / 1e6);
    return m;
}

typedef struct sample_clock {
    double t[MAX_REPS + 1];
    int n;
    double t0;
} sample_clock;

static int record_sample_step(void *user, int step, int total)
{
    sample_clock *c = user;
    if (c->n <= MAX_REPS)
        c->t[c->n++] = now();
    return 0;
}

/* Seconds of one batch-2 UNet forward at latent side `side` (the faster of two), no gradients, as a guided
 * sampling step runs it. */
static double time_unet_b2(const tinv_model *m, int side)
{
    int prev = ts_set_grad_enabled(0);
    ts_generator *g = ts_generator_create(1);
    size_t scope = ts_scope_begin();
    int64_t xs[4] = {2, m->unet.cfg.in_channels, side, side}, cs[3] = {2, 77, m->unet.cfg.cross_attention_dim}, n = 2;
    ts_tensor *x = ts_randn(g, xs, 4, TS_F32, CPU), *ctx = ts_randn(g, cs, 3, TS_F32, CPU);
    ts_tensor *t = ts_full(&n, 1, 500.0, TS_F32, CPU);
    double dt = 1e30;
    for (int r = 0; r < 2 && dt > 0; r++) {
        size_t inner = ts_scope_begin();
        double t0 = now();
        ts_tensor *y = ti_unet_forward(&m->unet, x, t, ctx, 0);
        double d = now() - t0;
        dt = y == NULL ? -1 : d < dt ? d : dt;
        ts_scope_end(inner);
    }
    ts_scope_end(scope);
    ts_generator_free(g);
    ts_set_grad_enabled(prev);
    return dt;
}

typedef struct opts {
    int demo, full, train, vae, sample, decode;
    int sizes[4], n_sizes;
    int train_steps, sample_steps;
    const char *vocab;
} opts;

/* The matmul ceiling is re-measured before each full-size measurement and the best rate seen is used:
 * on a shared machine a single early measurement can fall in a busy moment. */
static double ceiling_update(double *ceiling)
{
    double c = matmul_gflops(2048);
    if (c > *ceiling)
        *ceiling = c;
    printf("    [matmul now %.0f GFLOP/s; ceiling used = best seen %.0f GFLOP/s]\n", c, *ceiling);
    return *ceiling;
}

static int bench_full(const opts *o, double ceiling)
{
    printf("\n== Full-size SD-1.5-shaped model, random weights (fp32, CPU) ==\n");
    tinv_tokenizer *tok = NULL;
    if (tinv_tokenizer_load(o->vocab, NULL, &tok) != TINV_OK)
        return fail(o->vocab);
    double t0 = now();
    tinv_model *m = full_size_model();
    if (m == NULL) {
        tinv_tokenizer_free(tok);
        return 1;
    }
    printf("  random init %.1f s; RSS now %.2f GiB (the weights), peak %.2f GiB\n", now() - t0, rss_now_gib(),
           peak_rss_gib());
    tinv_optimizer *opt = NULL;
    if (tinv_model_add_token(m, tok, TOKEN, 1, NULL, 0) != TINV_OK || tinv_optimizer_create(m, TOKEN, &opt) != TINV_OK) {
        int r = fail("learned token");
        tinv_model_free(m);
        tinv_tokenizer_free(tok);
        return r;
    }
    /* SD-1.5 UNet forward cost per sample (multiply-adds x 2), as bench_models uses. */
    const struct { int res; double gflop; } cost[] = {{256, 180.0}, {512, 800.0}};
    int rc = 0;
    if (o->train) {
        for (int i = 0; i < o->n_sizes && rc == 0; i++) {
            int res = o->sizes[i], side = res / 8;
            double gflop = 0;
            for (int k = 0; k < 2; k++)
                gflop = cost[k].res == res ? cost[k].gflop : gflop;
            /* A warm-up step per size: the first step at a new size took 1.1-3x a later one (fresh
             * memory, first-call costs). Default measured steps: 3 at 256^2 and below, 2 above. */
            int warmup = 1, reps = o->train_steps > 0 ? o->train_steps : res <= 256 ? 3 : 2;
            printf("  training step at %dx%d (latent %dx%d), batch 1, %d warm-up + %d measured:\n", res, res, side,
                   side, warmup, reps);
            print_load("before");
            step_times s;
            rc = time_train_steps(m, tok, opt, side, warmup, reps, &s);
            ceiling_update(&ceiling);
            if (rc == 0) {
                print_steps(&s, gflop, ceiling);
                printf("    peak RSS so far %.2f GiB\n", peak_rss_gib());
            }
        }
    }
    tinv_optimizer_free(opt);
    if (rc == 0 && o->vae) {
        printf("  VAE encoder, one pass, no gradients (what cached posteriors save per training step):\n");
        print_load("before");
        time_vae_encode(m, 64, 1, 1); /* warm-up at a small size */
        for (int i = 0; i < o->n_sizes; i++) {
            double dt = time_vae_encode(m, o->sizes[i], 0, 1);
            printf("    %dx%d: %.2f s   peak RSS so far %.2f GiB\n", o->sizes[i], o->sizes[i], dt, peak_rss_gib());
        }
    }
    if (rc == 0 && o->sample) {
        tinv_sampler *smp = NULL;
        if (tinv_sampler_create(m, tok, &smp) != TINV_OK || tinv_sampler_set_steps(smp, o->sample_steps) != TINV_OK ||
            tinv_sampler_set_prompt(smp, "a photo of a cat") != TINV_OK ||
            tinv_sampler_set_guidance(smp, 7.5) != TINV_OK ||
            tinv_sampler_set_scheduler(smp, "euler_ancestral") != TINV_OK) {
            rc = fail("sampler");
        }
        for (int i = 0; i < o->n_sizes && rc == 0; i++) {
            int res = o->sizes[i], side = res / 8;
            float *lat = malloc((size_t)4 * side * side * sizeof *lat);
            printf("  CFG sampling %dx%d, %d steps of euler_ancestral, guidance 7.5, no VAE decode:\n", res, res,
                   o->sample_steps);
            print_load("before");
            if (lat == NULL || tinv_sampler_set_size(smp, res, res) != TINV_OK) {
                free(lat);
                rc = fail("sampler size");
                break;
            }
            sample_clock clock = {{0}, 0, 0};
            tinv_sampler_set_progress_callback(smp, record_sample_step, &clock);
            clock.t0 = now();
            if (tinv_sampler_run_float(smp, NULL, lat) != TINV_OK) {
                free(lat);
                rc = fail("sample");
                break;
            }
            double run = now() - clock.t0, per = run / o->sample_steps;
            double b2 = time_unet_b2(m, side);
            printf("    whole run %.2f s = %.2f s/step, one-off text encode included; one batch-2 UNet forward (best of 2) %.2f s "
                   "(%+.1f%%)\n",
                   run, per, b2, 100 * (per - b2) / b2);
            printf("    per step (progress clock):");
            for (int k = 0; k < clock.n; k++)
                printf(" %.2f", clock.t[k] - (k ? clock.t[k - 1] : clock.t0));
            printf(" s (the first includes encoding both prompts and setting up)\n");
            if (clock.n > 1)
                printf("    steps 2..%d: %.2f s/step (%+.1f%% vs the batch-2 forward)\n", clock.n,
                       (clock.t[clock.n - 1] - clock.t[0]) / (clock.n - 1),
                       100 * ((clock.t[clock.n - 1] - clock.t[0]) / (clock.n - 1) - b2) / b2);
            printf("    peak RSS so far %.2f GiB\n", peak_rss_gib());
            free(lat);
        }
        tinv_sampler_free(smp);
    }
    if (rc == 0 && o->decode) {
        printf("  VAE decoder, one pass, no gradients (the sampler's last stage, excluded above):\n");
        for (int i = 0; i < o->n_sizes; i++) {
            double dt = time_vae_decode(m, o->sizes[i] / 8, 1);
            printf("    %dx%d: %.2f s   peak RSS so far %.2f GiB\n", o->sizes[i], o->sizes[i], dt, peak_rss_gib());
        }
    }
    print_load("after");
    tinv_model_free(m);
    tinv_tokenizer_free(tok);
    return rc;
}

static void remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    opts o = {1, 1, 1, 1, 1, 1, {0}, 0, 0, 3, "../shared/fixtures/clip/bpe_simple_vocab_16e6.txt.gz"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quick") == 0)
            o.full = 0;
        else if (strcmp(a, "--full-only") == 0)
            o.demo = 0;
        else if (strcmp(a, "--no-train") == 0)
            o.train = 0;
        else if (strcmp(a, "--no-vae") == 0)
            o.vae = 0;
        else if (strcmp(a, "--no-sample") == 0)
            o.sample = 0;
        else if (strcmp(a, "--no-decode") == 0)
            o.decode = 0;
        else if (strcmp(a, "--size") == 0 && i + 1 < argc && o.n_sizes < 4)
            o.sizes[o.n_sizes++] = atoi(argv[++i]);
        else if (strcmp(a, "--train-steps") == 0 && i + 1 < argc)
            o.train_steps = atoi(argv[++i]);
        else if (strcmp(a, "--sample-steps") == 0 && i + 1 < argc)
            o.sample_steps = atoi(argv[++i]);
        else if (strcmp(a, "--vocab") == 0 && i + 1 < argc)
            o.vocab = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--full-only] [--size 256|512]... [--train-steps N] [--sample-steps N]\n"
                    "          [--no-train] [--no-vae] [--no-sample] [--no-decode] [--vocab bpe_simple_vocab_16e6.txt.gz]\n",
                    argv[0]);
            return 2;
        }
    }
    if (o.n_sizes == 0) {
        o.sizes[0] = 256;
        o.sizes[1] = 512;
        o.n_sizes = 2;
    }
    for (int i = 0; i < o.n_sizes; i++)
        if (o.sizes[i] < 64 || o.sizes[i] % 64 != 0) {
            fprintf(stderr, "--size %d: must be a positive multiple of 64\n", o.sizes[i]);
            return 2;
        }
    if (o.train_steps < 0 || o.train_steps > MAX_REPS || o.sample_steps < 1 || o.sample_steps > MAX_REPS)
        return fprintf(stderr, "--train-steps must be 1..%d, --sample-steps >= 1\n", MAX_REPS), 2;

    setvbuf(stdout, NULL, _IOLBF, 0); /* progress visible when redirected */
    tinv_set_num_threads(0);
    char info[1024];
    tinv_runtime_info(info, sizeof info, NULL);
    printf("%s\n", info);
    const char *wait = getenv("OMP_WAIT_POLICY");
    printf("OMP_WAIT_POLICY=%s\n", wait ? wait : "(unset)");
    print_load("at start");
    double ceiling = matmul_gflops(2048);
    printf("matmul 2048^3 fp32: %.0f GFLOP/s (the ceiling; full-size figures use the best seen in the run)\n", ceiling);

    char tmp[] = "/tmp/bench_train_XXXXXX";
    if (mkdtemp(tmp) == NULL)
        return perror("mkdtemp"), 1;
    int rc = 0;
    if (o.demo)
        rc = bench_demo(tmp, ceiling);
    remove_tree(tmp);
    if (rc == 0 && o.full)
        rc = bench_full(&o, ceiling);
    printf("\npeak RSS of the whole run: %.2f GiB\n", peak_rss_gib());
    return rc;
}
