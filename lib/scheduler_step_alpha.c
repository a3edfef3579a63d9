/* step() of the ᾱ schedulers: DDIM (η = 0), PNDM's PLMS with the skip_prk warm-up (Q10) and
 * DDPM fixed_small (Q13). Scalars are float32 like diffusers' 0-dim tensors. */
#include <math.h>

#include "error.h"
#include "scheduler.h"

/* (x0, ε) from the model output at ᾱ_t, by prediction type. NULL on failure. */
static void predict(const ti_scheduler *s, float a_t, const ts_tensor *mo, const ts_tensor *x, ts_tensor **x0,
                    ts_tensor **eps)
{
    float sa = sqrtf(a_t), sb = sqrtf(1.0f - a_t);
    if (s->cfg.prediction_type == TI_PRED_V) {
        *x0 = ts_sub(ts_mul_scalar(x, sa), ts_mul_scalar(mo, sb));
        if (eps)
            *eps = ts_add(ts_mul_scalar(mo, sa), ts_mul_scalar(x, sb));
    } else {
        *x0 = ts_div_scalar(ts_sub(x, ts_mul_scalar(mo, sb)), sa);
        if (eps)
            *eps = ts_clone(mo);
    }
    if (s->cfg.clip_sample)
        *x0 = ts_clamp(*x0, -s->cfg.clip_sample_range, s->cfg.clip_sample_range);
}

static float alpha_at(const ti_scheduler *s, int t, float when_negative)
{
    return t >= 0 ? s->alphas_cumprod[t] : when_negative;
}

static ts_tensor *ddim_step(ti_scheduler *s, const ts_tensor *mo, int t, const ts_tensor *x)
{
    int prev_t = t - s->T / s->num_inference_steps;
    float a_t = s->alphas_cumprod[t], a_prev = alpha_at(s, prev_t, s->final_alpha_cumprod);
    ts_tensor *x0 = NULL, *eps = NULL;
    predict(s, a_t, mo, x, &x0, &eps);
    ts_tensor *dir = ts_mul_scalar(eps, sqrtf(1.0f - a_prev - 0.0f));
    return ts_add(ts_mul_scalar(x0, sqrtf(a_prev)), dir);
}

/* PNDM's x-update, formula (9) of the PNDM paper, with ᾱ values. */
static ts_tensor *pndm_prev_sample(const ti_scheduler *s, const ts_tensor *x, int t, int prev_t, const ts_tensor *mo)
{
    float a_t = s->alphas_cumprod[t], a_prev = alpha_at(s, prev_t, s->final_alpha_cumprod);
    float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
    if (s->cfg.prediction_type == TI_PRED_V)
        mo = ts_add(ts_mul_scalar(mo, sqrtf(a_t)), ts_mul_scalar(x, sqrtf(b_t)));
    float x_coeff = sqrtf(a_prev / a_t);
    float denom = a_t * sqrtf(b_prev) + sqrtf(a_t * b_t * a_prev);
    return ts_sub(ts_mul_scalar(x, x_coeff), ts_div_scalar(ts_mul_scalar(mo, a_prev - a_t), denom));
}

static tinv_status pndm_step(ti_scheduler *s, const ts_tensor *mo, int t, const ts_tensor *x, ts_tensor **out)
{
    int ratio = s->T / s->num_inference_steps;
    int prev_t = t - ratio;
    if (s->counter != 1) {
        TI_TRY(ti_sched_push_history(s, mo, 4));
    } else {
        /* The warm-up's second call redoes the first step from the stored sample. */
        prev_t = t;
        t = t + ratio;
    }
    ts_tensor *const *e = s->history;
    int n = s->n_history;
    ts_tensor *m;
    if (n == 1 && s->counter == 0) {
        m = ts_clone(mo);
        ts_free(s->cur_sample);
        s->cur_sample = ts_detach(ts_clone(x));
    } else if (n == 1 && s->counter == 1) {
        m = ts_div_scalar(ts_add(mo, e[0]), 2.0);
        x = s->cur_sample;
    } else if (n == 2) {
        m = ts_div_scalar(ts_sub(ts_mul_scalar(e[1], 3.0), e[0]), 2.0);
    } else if (n == 3) {
        m = ts_div_scalar(ts_add(ts_sub(ts_mul_scalar(e[2], 23.0), ts_mul_scalar(e[1], 16.0)), ts_mul_scalar(e[0], 5.0)),
                          12.0);
    } else {
        ts_tensor *acc = ts_sub(ts_mul_scalar(e[3], 55.0), ts_mul_scalar(e[2], 59.0));
        acc = ts_sub(ts_add(acc, ts_mul_scalar(e[1], 37.0)), ts_mul_scalar(e[0], 9.0));
        m = ts_mul_scalar(acc, (double)(float)(1.0 / 24.0));
    }
    if (t < 0 || t >= s->T)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler pndm: timestep %d out of range", t);
    *out = pndm_prev_sample(s, x, t, prev_t, m);
    if (s->counter == 1) {
        /* the warm-up is over: the stored sample is no longer needed */
        ts_free(s->cur_sample);
        s->cur_sample = NULL;
    }
    s->counter++;
    return TINV_OK;
}

static ts_tensor *ddpm_step(ti_scheduler *s, const ts_tensor *mo, int t, const ts_tensor *x, const ti_sched_noise *noise)
{
    int prev_t = t - s->T / s->num_inference_steps;
    float a_t = s->alphas_cumprod[t], a_prev = alpha_at(s, prev_t, 1.0f);
    float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
    float cur_alpha = a_t / a_prev, cur_beta = 1.0f - cur_alpha;
    ts_tensor *x0 = NULL;
    predict(s, a_t, mo, x, &x0, NULL);
    float c_x0 = sqrtf(a_prev) * cur_beta / b_t;
    float c_x = sqrtf(cur_alpha) * b_prev / b_t;
    ts_tensor *prev = ts_add(ts_mul_scalar(x0, c_x0), ts_mul_scalar(x, c_x));
    if (t > 0) {
        /* fixed_small: the posterior variance, clamped away from 0 */
        float var = (1.0f - a_prev) / (1.0f - a_t) * cur_beta;
        if (!(var >= 1e-20f))
            var = 1e-20f;
        ts_tensor *z = ti_sched_draw(noise, mo);
        prev = ts_add(prev, ts_mul_scalar(z, sqrtf(var)));
    }
    return prev;
}

tinv_status ti_sched_step_alpha(ti_scheduler *s, const ts_tensor *model_output, double t, const ts_tensor *sample,
                                const ti_sched_noise *noise, ts_tensor **prev)
{
    int ti = ti_sched_train_index(s, t);
    if (ti < 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler %s: timestep %g is not an integer in [0, %d)",
                        ti_sched_kind_name(s->cfg.kind), t, s->T);
    size_t sc = ts_scope_begin();
    ts_tensor *r = NULL;
    tinv_status st = TINV_OK;
    switch (s->cfg.kind) {
    case TI_SCHED_DDIM:
        r = ddim_step(s, model_output, ti, sample);
        break;
    case TI_SCHED_PNDM:
        st = pndm_step(s, model_output, ti, sample, &r);
        break;
    case TI_SCHED_DDPM:
        r = ddpm_step(s, model_output, ti, sample, noise);
        break;
    default:
        st = ti_error(TINV_ERR_INTERNAL, "scheduler: %s is not an alpha scheduler", ti_sched_kind_name(s->cfg.kind));
    }
    if (st == TINV_OK && r == NULL)
        st = ti_error_prefix("scheduler %s step: ", ti_sched_kind_name(s->cfg.kind));
    *prev = ts_scope_return(sc, st == TINV_OK ? r : NULL);
    return st;
}
