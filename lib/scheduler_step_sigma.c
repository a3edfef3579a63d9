/* step() of the σ schedulers: Euler, Euler ancestral, LMS (order 4) and DPM++ 2M. Scalars are
 * float32 like diffusers' 0-dim tensors; the LMS coefficients are float64 integrals. */
#include <math.h>
#include <string.h>

#include "error.h"
#include "scheduler.h"

/* x0 from the model output at σ (Euler family, Q11/Q14). */
static ts_tensor *sigma_x0(const ti_scheduler *s, float sigma, float sigma_eps, const ts_tensor *mo, const ts_tensor *x)
{
    if (s->cfg.prediction_type == TI_PRED_V) {
        float s2 = sigma * sigma + 1.0f;
        return ts_add(ts_mul_scalar(mo, -sigma / sqrtf(s2)), ts_div_scalar(x, s2));
    }
    return ts_sub(x, ts_mul_scalar(mo, sigma_eps));
}

static ts_tensor *euler_step(ti_scheduler *s, const ts_tensor *mo, const ts_tensor *x, const ti_sched_noise *noise)
{
    int i = s->step_index;
    float sigma = s->sigmas[i];
    const ti_sched_config *c = &s->cfg;
    double gamma = 0.0;
    if (c->s_tmin <= sigma && sigma <= c->s_tmax) {
        gamma = c->s_churn / (double)s->num_inference_steps;
        if (gamma > sqrt(2.0) - 1)
            gamma = sqrt(2.0) - 1;
    }
    /* diffusers draws this noise even when γ = 0: it advances the generator (Q11) */
    ts_tensor *z = ti_sched_draw(noise, mo);
    if (z == NULL)
        return NULL;
    float sigma_hat = sigma * (float)(gamma + 1.0);
    if (gamma > 0)
        x = ts_add(x, ts_mul_scalar(ts_mul_scalar(z, c->s_noise), sqrtf(sigma_hat * sigma_hat - sigma * sigma)));
    ts_tensor *x0 = sigma_x0(s, sigma, sigma_hat, mo, x);
    ts_tensor *d = ts_div_scalar(ts_sub(x, x0), sigma_hat);
    float dt = s->sigmas[i + 1] - sigma_hat;
    return ts_add(x, ts_mul_scalar(d, dt));
}

static ts_tensor *euler_ancestral_step(ti_scheduler *s, const ts_tensor *mo, const ts_tensor *x,
                                       const ti_sched_noise *noise)
{
    int i = s->step_index;
    float from = s->sigmas[i], to = s->sigmas[i + 1];
    ts_tensor *x0 = sigma_x0(s, from, from, mo, x);
    float up = sqrtf(to * to * (from * from - to * to) / (from * from));
    float down = sqrtf(to * to - up * up);
    ts_tensor *d = ts_div_scalar(ts_sub(x, x0), from);
    ts_tensor *prev = ts_add(x, ts_mul_scalar(d, down - from));
    ts_tensor *z = ti_sched_draw(noise, mo);
    return ts_add(prev, ts_mul_scalar(z, up));
}

/* ∫ over [σ_i, σ_{i+1}] of the Lagrange basis polynomial of node `j` on σ_i, σ_{i-1}, …
 * (`order` nodes), integrated exactly. */
static double lms_coefficient(const ti_scheduler *s, int order, int i, int j)
{
    double poly[TI_SCHED_MAX_HISTORY + 1] = {1.0}; /* coefficients of τ^0.. */
    int deg = 0;
    double sj = s->sigmas[i - j];
    for (int k = 0; k < order; k++) {
        if (k == j)
            continue;
        double sk = s->sigmas[i - k], den = sj - sk;
        /* poly *= (τ − s_k) / den */
        for (int m = deg + 1; m >= 0; m--) {
            double hi = m > 0 ? poly[m - 1] : 0.0, lo = m <= deg ? poly[m] : 0.0;
            poly[m] = (hi - sk * lo) / den;
        }
        deg++;
    }
    double a = s->sigmas[i], b = s->sigmas[i + 1], sum = 0;
    for (int m = 0; m <= deg; m++)
        sum += poly[m] * (pow(b, m + 1) - pow(a, m + 1)) / (m + 1);
    return sum;
}

static tinv_status lms_step(ti_scheduler *s, const ts_tensor *mo, const ts_tensor *x, ts_tensor **out)
{
    int i = s->step_index;
    float sigma = s->sigmas[i];
    ts_tensor *x0 = sigma_x0(s, sigma, sigma, mo, x);
    ts_tensor *d = ts_div_scalar(ts_sub(x, x0), sigma);
    if (d == NULL)
        return ti_error_prefix("scheduler lms: ");
    TI_TRY(ti_sched_push_history(s, d, 4));
    int order = i + 1 < 4 ? i + 1 : 4;
    ts_tensor *acc = NULL;
    /* Started mid-schedule there are fewer derivatives than nodes: diffusers' zip() then
     * drops the extra coefficients, and so do we. */
    for (int j = 0; j < order && j < s->n_history; j++) {
        /* newest derivative pairs with the node σ_i */
        ts_tensor *term = ts_mul_scalar(s->history[s->n_history - 1 - j], (double)(float)lms_coefficient(s, order, i, j));
        acc = acc ? ts_add(acc, term) : term;
    }
    *out = ts_add(x, acc);
    return TINV_OK;
}

/* DPM-Solver's VP view of σ: α = 1/√(σ²+1), σ_t = σ·α, λ = log α − log σ_t. */
static void vp(float sigma, float *alpha, float *sig, float *lambda)
{
    *alpha = 1.0f / sqrtf(sigma * sigma + 1.0f);
    *sig = sigma * *alpha;
    *lambda = logf(*alpha) - logf(*sig);
}

static tinv_status dpm_step(ti_scheduler *s, const ts_tensor *mo, const ts_tensor *x, ts_tensor **out)
{
    const ti_sched_config *c = &s->cfg;
    int i = s->step_index, n = (int)s->n_timesteps;
    int lower_final = i == n - 1 && (c->euler_at_final || (c->lower_order_final && n < 15));
    float a_s0, s_s0, l_s0, a_t, s_t, l_t;
    vp(s->sigmas[i], &a_s0, &s_s0, &l_s0);
    vp(s->sigmas[i + 1], &a_t, &s_t, &l_t);
    /* dpmsolver++ works on the x0 prediction */
    ts_tensor *x0 = c->prediction_type == TI_PRED_V ? ts_sub(ts_mul_scalar(x, a_s0), ts_mul_scalar(mo, s_s0))
                                                   : ts_div_scalar(ts_sub(x, ts_mul_scalar(mo, s_s0)), a_s0);
    if (x0 == NULL)
        return ti_error_prefix("scheduler dpmpp_2m: ");
    TI_TRY(ti_sched_push_history(s, x0, c->solver_order));
    float h = l_t - l_s0;
    float phi = a_t * (expf(-h) - 1.0f);
    ts_tensor *r = ts_sub(ts_mul_scalar(x, s_t / s_s0), ts_mul_scalar(x0, phi));
    if (!(c->solver_order == 1 || s->lower_order_nums < 1 || lower_final)) {
        float a_s1, s_s1, l_s1;
        vp(s->sigmas[i - 1], &a_s1, &s_s1, &l_s1);
        float h0 = l_s0 - l_s1, r0 = h0 / h;
        ts_tensor *m0 = s->history[s->n_history - 1], *m1 = s->history[s->n_history - 2];
        ts_tensor *d1 = ts_mul_scalar(ts_sub(m0, m1), 1.0f / r0);
        r = ts_sub(r, ts_mul_scalar(ts_mul_scalar(d1, phi), 0.5));
    }
    if (s->lower_order_nums < c->solver_order)
        s->lower_order_nums++;
    *out = r;
    return TINV_OK;
}

tinv_status ti_sched_step_sigma(ti_scheduler *s, const ts_tensor *model_output, double t, const ts_tensor *sample,
                                const ti_sched_noise *noise, ts_tensor **prev)
{
    size_t sc = ts_scope_begin();
    ts_tensor *r = NULL;
    tinv_status st = TINV_OK;
    switch (s->cfg.kind) {
    case TI_SCHED_EULER:
        r = euler_step(s, model_output, sample, noise);
        break;
    case TI_SCHED_EULER_ANCESTRAL:
        r = euler_ancestral_step(s, model_output, sample, noise);
        break;
    case TI_SCHED_LMS:
        st = lms_step(s, model_output, sample, &r);
        break;
    case TI_SCHED_DPMPP_2M:
        st = dpm_step(s, model_output, sample, &r);
        break;
    default:
        st = ti_error(TINV_ERR_INTERNAL, "scheduler: %s is not a sigma scheduler", ti_sched_kind_name(s->cfg.kind));
    }
    if (st == TINV_OK && r == NULL)
        st = ti_error_prefix("scheduler %s step: ", ti_sched_kind_name(s->cfg.kind));
    if (st == TINV_OK)
        s->step_index++;
    *prev = ts_scope_return(sc, st == TINV_OK ? r : NULL);
    return st;
}
