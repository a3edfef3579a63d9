/* Golden component "sampler": the pipeline's denoising loop — latents = randn × σ_init from the
 * case's seeded CPU generator, then the library's shared CFG loop (ti_cfg_denoise in lib/sampler.c:
 * scale_model_input(cat([lat, lat])), the UNet, classifier-free guidance with the uncond row first,
 * scheduler step with the same generator) on the case's recorded context. Every steps.* / output.* tensor is compared with max|x − ref| ≤ rtol_max · max|ref|.
 * Cases with ancestral noise (steps.noise) run a second time on the recorded noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "safetensors.h"
#include "sampler.h"
#include "scheduler.h"
#include "tinv.h"

/* golden_scheduler.c */
tinv_status golden_scheduler_config(const char *set_dir, json_t *c, ti_sched_config *cfg, char *detail, size_t cap);

typedef struct samp_cmp {
    double rtol, worst_abs, worst_rel;
    int failed;
} samp_cmp;

static void cmp(samp_cmp *s, ti_safetensors *st, const char *name, const float *x, size_t n)
{
    const ti_st_tensor *t = ti_safetensors_find(st, name);
    if (t == NULL || (size_t)t->numel != n) {
        s->failed = 1;
        fprintf(stderr, "    %s: missing or %lld values, expected %zu\n", name, t ? (long long)t->numel : -1LL, n);
        return;
    }
    float *ref = malloc((n ? n : 1) * sizeof *ref);
    if (ref == NULL || ti_st_to_f32(t, ref, n) != TINV_OK) {
        s->failed = 1;
        free(ref);
        return;
    }
    double max_abs, max_ref;
    golden_max_error(x, ref, n, &max_abs, &max_ref);
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    if (rel > s->worst_rel) {
        s->worst_rel = rel;
        s->worst_abs = max_abs;
    }
    if (!(max_abs <= s->rtol * max_ref)) {
        s->failed = 1;
        fprintf(stderr, "    %s: max_abs %.3g > %.1g * max|ref| %.3g\n", name, max_abs, s->rtol, max_ref);
    }
    free(ref);
}

static float *load(ti_safetensors *st, const char *name, const ti_st_tensor **info)
{
    const ti_st_tensor *t = ti_safetensors_find(st, name);
    if (info)
        *info = t;
    if (t == NULL)
        return NULL;
    float *buf = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *buf);
    if (buf && ti_st_to_f32(t, buf, (size_t)t->numel) != TINV_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int host(const ts_tensor *t, float *dst, size_t n)
{
    return t != NULL && (size_t)ts_numel(t) == n && ts_to_host(t, dst, TS_F32, n) == TINV_OK;
}

/* Per-step recorder for ti_cfg_denoise: model output [2B…], guided prediction and latents. */
typedef struct rec_ctx {
    float *mo, *g, *lat;
    size_t n1;
} rec_ctx;

static tinv_status record_step(void *user, size_t k, size_t total, const ts_tensor *mo, const ts_tensor *g,
                               const ts_tensor *lat)
{
    rec_ctx *r = user;
    if (!host(mo, r->mo + k * 2 * r->n1, 2 * r->n1) || !host(g, r->g + k * r->n1, r->n1) ||
        !host(lat, r->lat + k * r->n1, r->n1))
        return tinv_last_status() != TINV_OK ? tinv_last_status() : TINV_ERR_INTERNAL;
    return TINV_OK;
}

/* Replays steps.noise: the k-th draw of the scheduler gets the k-th recorded tensor. */
typedef struct replay_ctx {
    const float *noise; /* [n_draws, …] */
    size_t n1, n_draws, next;
} replay_ctx;

static ts_tensor *replay_draw(void *user, const int64_t *shape, int ndim, ts_device device)
{
    replay_ctx *r = user;
    if (r->next >= r->n_draws) {
        fprintf(stderr, "    replay: the scheduler drew more noise than was recorded (%zu)\n", r->n_draws);
        return NULL;
    }
    return ts_from_data(r->noise + r->next++ * r->n1, TS_F32, shape, ndim, TS_F32, device);
}

/* The same trajectory again with the recorded initial latents and ancestral noise instead of
 * the generator: separates a generator mismatch from a maths mismatch. */
static void replay_recorded_noise(tinv_model *m, ti_scheduler *s, ti_safetensors *st, const ts_tensor *context,
                                  double guidance, const int64_t *shape, size_t n1, samp_cmp *sc, float *mo_all,
                                  float *g_all, float *lat_all)
{
    const ti_st_tensor *init_info = NULL, *noise_info = NULL;
    float *init = load(st, "input.noise_init", &init_info), *noise = load(st, "steps.noise", &noise_info);
    size_t K = s->n_timesteps;
    if (init == NULL || noise == NULL || (size_t)init_info->numel != n1 || noise_info->numel % (int64_t)n1) {
        sc->failed = 1;
        fprintf(stderr, "    replay: input.noise_init / steps.noise missing or mis-shaped\n");
    } else {
        ti_scheduler_reset(s);
        replay_ctx rp = {noise, n1, (size_t)noise_info->numel / n1, 0};
        ti_sched_noise src = {NULL, replay_draw, &rp};
        rec_ctx rc = {mo_all, g_all, lat_all, n1};
        ti_cfg_loop loop = {m, s, context, 1, guidance, &src, 0, record_step, &rc};
        ts_tensor *lat = ts_mul_scalar(ts_from_data(init, TS_F32, shape, 4, TS_F32, m->opts.device),
                                       (double)s->init_noise_sigma);
        ts_tensor *final = NULL;
        if (lat == NULL || ti_cfg_denoise(&loop, lat, &final) != TINV_OK || rp.next != rp.n_draws) {
            sc->failed = 1;
            fprintf(stderr, "    replay: %s (%zu of %zu draws used)\n", tinv_last_error(), rp.next, rp.n_draws);
        } else {
            cmp(sc, st, "steps.model_output", mo_all, K * 2 * n1);
            cmp(sc, st, "steps.latents", lat_all, K * n1);
            cmp(sc, st, "output.latents", lat_all + (K - 1) * n1, n1);
        }
    }
    free(init);
    free(noise);
}

golden_result golden_sampler(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    ti_sched_config cfg;
    if (golden_scheduler_config(set_dir, c, &cfg, detail, cap) != TINV_OK)
        return GOLDEN_FAIL;
    tinv_model *m = golden_model(set_dir, detail, cap);
    if (m == NULL)
        return GOLDEN_FAIL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", set_dir, json_string_value(json_object_get(c, "file")));
    ti_safetensors *st = NULL;
    if (ti_safetensors_open(path, &st) != TINV_OK) {
        snprintf(detail, cap, "%s", tinv_last_error());
        return GOLDEN_FAIL;
    }
    json_t *args = json_object_get(c, "args");
    int steps = (int)json_integer_value(json_object_get(args, "num_inference_steps"));
    double guidance = json_number_value(json_object_get(args, "guidance_scale"));
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(args, "seed"));
    samp_cmp sc = {1e-4, 0, 0, 0};
    json_t *r = json_object_get(json_object_get(c, "tolerance"), "rtol_max");
    if (json_is_number(r))
        sc.rtol = json_number_value(r);

    const ti_st_tensor *ctx_info = NULL, *lat_info = NULL;
    float *ctx = load(st, "input.context", &ctx_info);
    float *lat_ref0 = load(st, "input.latents", &lat_info);
    ti_scheduler *s = NULL;
    ts_generator *gen = ts_generator_create(seed);
    float *mo_all = NULL, *g_all = NULL, *lat_all = NULL;
    golden_result result = GOLDEN_FAIL;
    size_t scope = ts_scope_begin();
    if (ctx == NULL || lat_ref0 == NULL || lat_info->ndim != 4 || ctx_info->ndim != 3 || gen == NULL) {
        snprintf(detail, cap, "the case file lacks input.context / input.latents");
        goto done;
    }
    if (ti_scheduler_create(&cfg, &s) != TINV_OK || ti_scheduler_set_timesteps(s, steps) != TINV_OK) {
        snprintf(detail, cap, "scheduler: %s", tinv_last_error());
        goto done;
    }
    int64_t shape[4] = {lat_info->shape[0], lat_info->shape[1], lat_info->shape[2], lat_info->shape[3]};
    size_t n1 = (size_t)lat_info->numel, K = s->n_timesteps;
    ts_device dev = m->opts.device; /* ts_randn draws on the CPU and moves the result */
    /* Q15: the generator first draws the initial latents, then feeds every step. */
    ts_tensor *noise0 = ts_randn(gen, shape, 4, TS_F32, dev);
    ts_tensor *lat = ts_mul_scalar(noise0, (double)s->init_noise_sigma);
    mo_all = malloc(K * 2 * n1 * sizeof *mo_all);
    g_all = malloc(K * n1 * sizeof *g_all);
    lat_all = malloc(K * n1 * sizeof *lat_all);
    if (!mo_all || !g_all || !lat_all || !host(lat, lat_all, n1)) {
        snprintf(detail, cap, "setup: %s", tinv_last_error());
        goto done;
    }
    cmp(&sc, st, "input.latents", lat_all, n1);
    float *ts_f = malloc(K * sizeof *ts_f);
    for (size_t k = 0; ts_f && k < K; k++)
        ts_f[k] = (float)s->timesteps[k];
    if (ts_f)
        cmp(&sc, st, "steps.timesteps", ts_f, K);
    free(ts_f);
    if (s->sigmas && ti_safetensors_find(st, "steps.sigmas"))
        cmp(&sc, st, "steps.sigmas", s->sigmas, (size_t)s->num_inference_steps + 1);
    ti_sched_noise noise = {gen, NULL, NULL};
    /* The library's own CFG loop (lib/sampler.c), recording every step. */
    int64_t cshape[3] = {ctx_info->shape[0], ctx_info->shape[1], ctx_info->shape[2]};
    ts_tensor *context = ts_from_data(ctx, TS_F32, cshape, 3, TS_F32, dev);
    rec_ctx rc = {mo_all, g_all, lat_all, n1};
    ti_cfg_loop loop = {m, s, context, 1, guidance, &noise, 0, record_step, &rc};
    ts_tensor *final = NULL;
    if (context == NULL || ti_cfg_denoise(&loop, lat, &final) != TINV_OK) {
        snprintf(detail, cap, "denoise: %s", tinv_last_error());
        goto done;
    }
    cmp(&sc, st, "steps.model_output", mo_all, K * 2 * n1);
    cmp(&sc, st, "steps.guided_pred", g_all, K * n1);
    cmp(&sc, st, "steps.latents", lat_all, K * n1);
    cmp(&sc, st, "output.latents", lat_all + (K - 1) * n1, n1);
    if (ti_safetensors_find(st, "steps.noise") != NULL) {
        samp_cmp replay = {sc.rtol, 0, 0, 0};
        replay_recorded_noise(m, s, st, context, guidance, shape, n1, &replay, mo_all, g_all, lat_all);
        snprintf(detail, cap, "max_abs %.3g max_rel %.3g; recorded-noise replay max_rel %.3g", sc.worst_abs,
                 sc.worst_rel, replay.worst_rel);
        sc.failed |= replay.failed;
    } else {
        snprintf(detail, cap, "max_abs %.3g max_rel %.3g", sc.worst_abs, sc.worst_rel);
    }
    result = sc.failed ? GOLDEN_FAIL : GOLDEN_PASS;
done:
    ts_scope_end(scope);
    ts_generator_free(gen);
    ti_scheduler_free(s);
    free(ctx);
    free(lat_ref0);
    free(mo_all);
    free(g_all);
    free(lat_all);
    ti_safetensors_close(st);
    return result;
}
