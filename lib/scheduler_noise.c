/* Noise in and out of a schedule: add_noise and get_velocity (the training-side forward
 * process) and scale_model_input (the sampler-side input scaling of σ schedulers). */
#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "scheduler.h"

/* A [n, 1, 1, ...] float32 tensor of per-row coefficients, broadcastable against `like`. */
static ts_tensor *row_coeffs(const float *v, size_t n, const ts_tensor *like)
{
    int64_t shape[TS_MAX_DIMS];
    int nd = ts_ndim(like);
    if (nd < 1 || nd > TS_MAX_DIMS)
        return NULL;
    shape[0] = (int64_t)n;
    for (int i = 1; i < nd; i++)
        shape[i] = 1;
    return ts_from_data(v, TS_F32, shape, nd, TS_F32, ts_device_of(like));
}

/* √ᾱ_t and √(1−ᾱ_t) per row, in float32 like torch. */
static tinv_status alpha_coeffs(const ti_scheduler *s, const double *t, size_t n, float *sa, float *sb)
{
    for (size_t i = 0; i < n; i++) {
        int k = ti_sched_train_index(s, t[i]);
        if (k < 0)
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler: timestep %g is not an integer in [0, %d)", t[i],
                            s->T);
        sa[i] = sqrtf(s->alphas_cumprod[k]);
        sb[i] = sqrtf(1.0f - s->alphas_cumprod[k]);
    }
    return TINV_OK;
}

static tinv_status check_rows(const ts_tensor *x0, const ts_tensor *noise, size_t n_t)
{
    if (x0 == NULL || noise == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler: NULL tensor");
    if (n_t == 0 || ts_ndim(x0) < 1 || (n_t != 1 && (int64_t)n_t != ts_size(x0, 0)))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler: %zu timesteps for a batch of %lld", n_t,
                        (long long)(ts_ndim(x0) ? ts_size(x0, 0) : 0));
    return TINV_OK;
}

/* (a·x + b·y) with per-row a, b; NULL on failure. */
static ts_tensor *combine(const float *a, const ts_tensor *x, const float *b, const ts_tensor *y, size_t n)
{
    size_t sc = ts_scope_begin();
    ts_tensor *ta = row_coeffs(a, n, x), *tb = row_coeffs(b, n, x);
    ts_tensor *r = ts_add(ts_mul(ta, x), ts_mul(tb, y));
    return ts_scope_return(sc, r);
}

ts_tensor *ti_scheduler_add_noise(ti_scheduler *s, const ts_tensor *x0, const ts_tensor *noise, const double *t,
                                  size_t n_t)
{
    if (s == NULL || t == NULL) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "ti_scheduler_add_noise: NULL argument");
        return NULL;
    }
    if (check_rows(x0, noise, n_t) != TINV_OK)
        return NULL;
    float *a = malloc(n_t * sizeof *a), *b = malloc(n_t * sizeof *b);
    ts_tensor *r = NULL;
    if (a == NULL || b == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
        goto done;
    }
    ti_sched_kind k = s->cfg.kind;
    if (ti_sched_has_sigmas(k)) {
        /* σ looked up in the current schedule: x0 + σ·noise, or for DPM its VP form
         * α·x0 + σ_vp·noise with α = 1/√(σ²+1) (which differs from √ᾱ under Karras sigmas) */
        if (s->sigmas == NULL) {
            ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler %s: add_noise needs set_timesteps first",
                     ti_sched_kind_name(k));
            goto done;
        }
        for (size_t i = 0; i < n_t; i++) {
            int idx = -1;
            for (size_t j = 0; j < s->n_timesteps && idx < 0; j++)
                if (s->timesteps[j] == t[i])
                    idx = (int)j;
            if (idx < 0) {
                ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler %s: timestep %g is not in the schedule",
                         ti_sched_kind_name(k), t[i]);
                goto done;
            }
            a[i] = 1.0f;
            b[i] = s->sigmas[idx];
            if (k == TI_SCHED_DPMPP_2M) {
                a[i] = 1.0f / sqrtf(b[i] * b[i] + 1.0f);
                b[i] = b[i] * a[i];
            }
        }
        size_t sc = ts_scope_begin();
        if (k == TI_SCHED_DPMPP_2M)
            r = ts_scope_return(sc, combine(a, x0, b, noise, n_t));
        else
            r = ts_scope_return(sc, ts_add(x0, ts_mul(noise, row_coeffs(b, n_t, noise))));
    } else {
        if (alpha_coeffs(s, t, n_t, a, b) != TINV_OK)
            goto done;
        r = combine(a, x0, b, noise, n_t);
    }
done:
    free(a);
    free(b);
    return r;
}

ts_tensor *ti_scheduler_get_velocity(ti_scheduler *s, const ts_tensor *x0, const ts_tensor *noise, const double *t,
                                     size_t n_t)
{
    if (s == NULL || t == NULL) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "ti_scheduler_get_velocity: NULL argument");
        return NULL;
    }
    if (check_rows(x0, noise, n_t) != TINV_OK)
        return NULL;
    float *a = malloc(n_t * sizeof *a), *b = malloc(n_t * sizeof *b);
    ts_tensor *r = NULL;
    if (a != NULL && b != NULL && alpha_coeffs(s, t, n_t, a, b) == TINV_OK) {
        size_t sc = ts_scope_begin();
        ts_tensor *ta = row_coeffs(a, n_t, x0), *tb = row_coeffs(b, n_t, x0);
        r = ts_scope_return(sc, ts_sub(ts_mul(ta, noise), ts_mul(tb, x0)));
    } else if (a == NULL || b == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
    }
    free(a);
    free(b);
    return r;
}

/* Locate the step of `t` the first time a σ scheduler sees it (diffusers' _init_step_index). */
static tinv_status init_step_index(ti_scheduler *s, double t)
{
    if (s->step_index >= 0)
        return TINV_OK;
    if (s->timesteps == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler %s: call set_timesteps first",
                        ti_sched_kind_name(s->cfg.kind));
    int idx = ti_sched_index_for_timestep(s, t);
    if (idx < 0 && s->cfg.kind == TI_SCHED_DPMPP_2M)
        idx = (int)s->n_timesteps - 1; /* DPM's rule for an unknown timestep */
    if (idx < 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler %s: timestep %g is not in the schedule",
                        ti_sched_kind_name(s->cfg.kind), t);
    s->step_index = idx;
    return TINV_OK;
}

ts_tensor *ti_scheduler_scale_model_input(ti_scheduler *s, const ts_tensor *x, double t)
{
    if (s == NULL || x == NULL) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "ti_scheduler_scale_model_input: NULL argument");
        return NULL;
    }
    ti_sched_kind k = s->cfg.kind;
    if (!(k == TI_SCHED_EULER || k == TI_SCHED_EULER_ANCESTRAL || k == TI_SCHED_LMS))
        return ts_clone(x);
    if (init_step_index(s, t) != TINV_OK)
        return NULL;
    float sigma = s->sigmas[s->step_index];
    return ts_div_scalar(x, (double)sqrtf(sigma * sigma + 1.0f));
}

ts_tensor *ti_sched_draw(const ti_sched_noise *noise, const ts_tensor *like)
{
    int64_t shape[TS_MAX_DIMS];
    int nd = ts_ndim(like);
    if (nd < 0 || nd > TS_MAX_DIMS)
        return NULL;
    for (int i = 0; i < nd; i++)
        shape[i] = ts_size(like, i);
    if (noise == NULL || (noise->draw == NULL && noise->generator == NULL)) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler: this scheduler draws noise; pass a generator");
        return NULL;
    }
    if (noise->draw != NULL)
        return noise->draw(noise->user, shape, nd, ts_device_of(like));
    return ts_randn(noise->generator, shape, nd, TS_F32, ts_device_of(like));
}

tinv_status ti_scheduler_step(ti_scheduler *s, const ts_tensor *model_output, double t, const ts_tensor *sample,
                              const ti_sched_noise *noise, ts_tensor **prev)
{
    TI_REQUIRE(s);
    TI_REQUIRE(model_output);
    TI_REQUIRE(sample);
    TI_REQUIRE(prev);
    *prev = NULL;
    if (s->timesteps == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler %s: call set_timesteps before step",
                        ti_sched_kind_name(s->cfg.kind));
    if (ti_sched_has_sigmas(s->cfg.kind)) {
        TI_TRY(init_step_index(s, t));
        if (s->step_index >= (int)s->n_timesteps)
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler %s: stepped past the last timestep",
                            ti_sched_kind_name(s->cfg.kind));
        return ti_sched_step_sigma(s, model_output, t, sample, noise, prev);
    }
    return ti_sched_step_alpha(s, model_output, t, sample, noise, prev);
}
