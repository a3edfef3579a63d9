/* Scheduler tables: betas and ᾱ (torch float32 arithmetic), the inference timesteps (numpy
 * float64 arithmetic, Q8/Q9) and the sigmas (float64 np.interp over float32 σ, Q11/Q12). */
#include <fenv.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scheduler.h"

/* torch.linspace(start, end, n, dtype=float32) on the CPU: float32 step, the first half counted
 * up from start and the second half down from end. */
static void linspace_f32(double start, double end, int n, float *out)
{
    float a = (float)start, b = (float)end;
    float step = n > 1 ? (b - a) / (float)(n - 1) : 0.0f;
    int half = n / 2;
    for (int i = 0; i < n; i++)
        out[i] = i < half ? a + step * (float)i : b - step * (float)(n - 1 - i);
}

/* numpy.linspace(start, stop, n) (float64): i*step + start, the last value exactly stop. */
static double np_linspace(double start, double stop, int n, int i)
{
    if (n > 1 && i == n - 1)
        return stop;
    double step = n > 1 ? (stop - start) / (double)(n - 1) : 0.0;
    return (double)i * step + start;
}

/* np.round: half to even (the default rounding mode of rint). */
static double np_round(double x)
{
    return nearbyint(x);
}

/* np.interp(x, arange(T), fp) with float32 fp, evaluated in float64. */
static double interp_train(const float *fp, int T, double x)
{
    if (x <= 0)
        return fp[0];
    if (x >= T - 1)
        return fp[T - 1];
    int j = (int)floor(x);
    double slope = ((double)fp[j + 1] - (double)fp[j]) / 1.0;
    return slope * (x - (double)j) + (double)fp[j];
}

void ti_sched_clear_history(ti_scheduler *s)
{
    for (int i = 0; i < s->n_history; i++)
        ts_free(s->history[i]);
    s->n_history = 0;
    ts_free(s->cur_sample);
    s->cur_sample = NULL;
}

tinv_status ti_sched_push_history(ti_scheduler *s, const ts_tensor *t, int keep)
{
    /* A detached clone: the caller's tensor and scopes stay untouched. */
    ts_tensor *c = ts_detach(ts_clone(t));
    if (c == NULL)
        return ti_error_prefix("scheduler history: ");
    if (keep > TI_SCHED_MAX_HISTORY)
        keep = TI_SCHED_MAX_HISTORY;
    while (s->n_history >= keep) {
        ts_free(s->history[0]);
        memmove(s->history, s->history + 1, (size_t)(s->n_history - 1) * sizeof s->history[0]);
        s->n_history--;
    }
    s->history[s->n_history++] = c;
    return TINV_OK;
}

void ti_scheduler_reset(ti_scheduler *s)
{
    if (s == NULL)
        return;
    ti_sched_clear_history(s);
    s->step_index = -1;
    s->counter = 0;
    s->lower_order_nums = 0;
}

void ti_scheduler_free(ti_scheduler *s)
{
    if (s == NULL)
        return;
    ti_sched_clear_history(s);
    free(s->betas);
    free(s->alphas_cumprod);
    free(s->train_sigmas);
    free(s->timesteps);
    free(s->sigmas);
    free(s);
}

tinv_status ti_scheduler_create(const ti_sched_config *cfg, ti_scheduler **out)
{
    TI_REQUIRE(cfg);
    TI_REQUIRE(out);
    *out = NULL;
    if (cfg->kind < 0 || cfg->kind >= TI_SCHED_KIND_COUNT)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler: bad kind %d", (int)cfg->kind);
    if (cfg->num_train_timesteps < 2 || cfg->num_train_timesteps > 100000)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler: num_train_timesteps %d out of range",
                        cfg->num_train_timesteps);
    ti_scheduler *s = calloc(1, sizeof *s);
    int T = cfg->num_train_timesteps;
    if (s == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
    s->cfg = *cfg;
    s->T = T;
    s->step_index = -1;
    s->betas = malloc((size_t)T * sizeof(float));
    s->alphas_cumprod = malloc((size_t)T * sizeof(float));
    s->train_sigmas = malloc((size_t)T * sizeof(float));
    if (!s->betas || !s->alphas_cumprod || !s->train_sigmas) {
        ti_scheduler_free(s);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
    }
    if (cfg->beta_schedule == TI_BETA_SCALED_LINEAR) {
        linspace_f32(sqrt(cfg->beta_start), sqrt(cfg->beta_end), T, s->betas);
        for (int i = 0; i < T; i++)
            s->betas[i] = s->betas[i] * s->betas[i];
    } else {
        linspace_f32(cfg->beta_start, cfg->beta_end, T, s->betas);
    }
    /* torch.cumprod on the CPU accumulates float32 input in double, rounding each output. */
    double acc = 1.0;
    for (int i = 0; i < T; i++) {
        acc *= (double)(1.0f - s->betas[i]);
        s->alphas_cumprod[i] = (float)acc;
        float a = s->alphas_cumprod[i];
        s->train_sigmas[i] = sqrtf((1.0f - a) / a);
    }
    s->final_alpha_cumprod = cfg->set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
    s->init_noise_sigma = 1.0f;
    *out = s;
    return TINV_OK;
}

/* Integer timesteps of DDIM/DDPM (descending) per spacing. */
static void alpha_timesteps(const ti_sched_config *c, int T, int n, double *ts)
{
    for (int i = 0; i < n; i++) {
        double v;
        if (c->timestep_spacing == TI_SPACING_LEADING)
            v = (double)((n - 1 - i) * (T / n) + c->steps_offset);
        else if (c->timestep_spacing == TI_SPACING_LINSPACE)
            v = np_round(np_linspace(0, T - 1, n, n - 1 - i));
        else
            v = np_round((double)T + (double)i * -((double)T / n)) - 1;
        ts[i] = v;
    }
}

/* σ from the VP log-σ table at σ (diffusers' _sigma_to_t, used by the Karras schedule). */
static double sigma_to_t(const float *log_sigmas, int T, double sigma)
{
    double ls = log(sigma > 1e-10 ? sigma : 1e-10);
    int low = 0;
    for (int i = 0; i < T; i++)
        if (ls - (double)log_sigmas[i] >= 0)
            low = i; /* the last index with log σ_i <= log σ */
    if (low > T - 2)
        low = T - 2;
    double lo = log_sigmas[low], hi = log_sigmas[low + 1];
    double w = (lo - ls) / (lo - hi);
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    return (1 - w) * low + w * (low + 1);
}

static tinv_status dpm_schedule(ti_scheduler *s, int n)
{
    const ti_sched_config *c = &s->cfg;
    int T = s->T;
    for (int i = 0; i < n; i++) {
        double v;
        /* diffusers computes n+1 points and drops the last (t = 0 end). */
        if (c->timestep_spacing == TI_SPACING_LINSPACE)
            v = np_round(np_linspace(0, T - 1, n + 1, n - i));
        else if (c->timestep_spacing == TI_SPACING_LEADING)
            v = (double)((n - i) * (T / (n + 1)) + c->steps_offset);
        else
            v = np_round((double)T + (double)i * -((double)T / n)) - 1;
        s->timesteps[i] = v;
    }
    if (c->use_karras_sigmas) {
        float *log_sigmas = malloc((size_t)T * sizeof *log_sigmas);
        if (log_sigmas == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
        for (int i = 0; i < T; i++)
            log_sigmas[i] = logf(s->train_sigmas[i]);
        double rho = 7.0;
        double min_inv = pow((double)s->train_sigmas[0], 1.0 / rho);
        double max_inv = pow((double)s->train_sigmas[T - 1], 1.0 / rho);
        for (int i = 0; i < n; i++) {
            double ramp = np_linspace(0, 1, n, i);
            double sig = pow(max_inv + ramp * (min_inv - max_inv), rho);
            s->sigmas[i] = (float)sig;
            s->timesteps[i] = np_round(sigma_to_t(log_sigmas, T, sig));
        }
        s->sigmas[n] = s->sigmas[n - 1];
        free(log_sigmas);
    } else {
        for (int i = 0; i < n; i++)
            s->sigmas[i] = (float)interp_train(s->train_sigmas, T, s->timesteps[i]);
        s->sigmas[n] = s->train_sigmas[0]; /* σ(t=0), not 0 (Q12) */
    }
    s->init_noise_sigma = 1.0f;
    return TINV_OK;
}

/* Euler, Euler ancestral, LMS: float timesteps and interpolated σ with a trailing 0. */
static void sigma_schedule(ti_scheduler *s, int n)
{
    const ti_sched_config *c = &s->cfg;
    int T = s->T;
    for (int i = 0; i < n; i++) {
        double v;
        if (c->timestep_spacing == TI_SPACING_LINSPACE)
            v = np_linspace(0, T - 1, n, n - 1 - i);
        else if (c->timestep_spacing == TI_SPACING_LEADING)
            v = (double)((n - 1 - i) * (T / n)) + c->steps_offset;
        else
            v = np_round((double)T + (double)i * -((double)T / n)) - 1;
        /* Euler's timesteps are float32 before the interpolation; LMS interpolates at float64. */
        double tf = (double)(float)v;
        s->sigmas[i] = (float)interp_train(s->train_sigmas, T, c->kind == TI_SCHED_LMS ? v : tf);
        s->timesteps[i] = tf;
    }
    s->sigmas[n] = 0.0f;
    float smax = 0;
    for (int i = 0; i <= n; i++)
        if (s->sigmas[i] > smax)
            smax = s->sigmas[i];
    s->init_noise_sigma = c->timestep_spacing == TI_SPACING_LEADING ? sqrtf(smax * smax + 1.0f) : smax;
}

tinv_status ti_scheduler_set_timesteps(ti_scheduler *s, int n)
{
    TI_REQUIRE(s);
    if (n < 1 || n > s->T)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler: %d inference steps, expected 1..%d", n, s->T);
    ti_sched_kind kind = s->cfg.kind;
    size_t count = kind == TI_SCHED_PNDM ? (size_t)n + 1 : (size_t)n;
    double *ts = calloc(count, sizeof *ts);
    float *sig = ti_sched_has_sigmas(kind) ? calloc((size_t)n + 1, sizeof *sig) : NULL;
    if (ts == NULL || (ti_sched_has_sigmas(kind) && sig == NULL)) {
        free(ts);
        free(sig);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
    }
    free(s->timesteps);
    free(s->sigmas);
    s->timesteps = ts;
    s->sigmas = sig;
    s->n_timesteps = count;
    s->num_inference_steps = n;
    s->init_noise_sigma = 1.0f;
    s->timesteps_int = !(kind == TI_SCHED_EULER || kind == TI_SCHED_EULER_ANCESTRAL || kind == TI_SCHED_LMS);
    ti_scheduler_reset(s);
    switch (kind) {
    case TI_SCHED_DDIM:
    case TI_SCHED_DDPM:
        alpha_timesteps(&s->cfg, s->T, n, ts);
        break;
    case TI_SCHED_PNDM: {
        /* Ascending base schedule, then PLMS repeats the second-to-last entry (Q10). */
        double *asc = malloc((size_t)n * sizeof *asc);
        if (asc == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
        alpha_timesteps(&s->cfg, s->T, n, asc); /* descending, same base as DDIM */
        /* descending d[0..n-1] → [d0, d1, d1, d2, ..., d_{n-1}]; a single step is not repeated */
        ts[0] = asc[0];
        if (n == 1)
            s->n_timesteps = count = 1;
        else
            ts[1] = asc[1];
        for (int i = 1; i < n; i++)
            ts[i + 1] = asc[i];
        free(asc);
        break;
    }
    case TI_SCHED_DPMPP_2M:
        TI_TRY(dpm_schedule(s, n));
        break;
    default:
        sigma_schedule(s, n);
        break;
    }
    for (size_t i = 0; i < count; i++)
        if (ts[i] < 0 || ts[i] > s->T - 1)
            return ti_error(TINV_ERR_INVALID_ARGUMENT,
                            "scheduler: timestep %g out of range for %d steps (steps_offset %d)", ts[i], n,
                            s->cfg.steps_offset);
    return TINV_OK;
}

int ti_sched_index_for_timestep(const ti_scheduler *s, double t)
{
    int first = -1;
    for (size_t i = 0; i < s->n_timesteps; i++)
        if (s->timesteps[i] == t) {
            if (first >= 0)
                return (int)i; /* diffusers takes the second match of a repeated timestep */
            first = (int)i;
        }
    return first;
}

int ti_sched_train_index(const ti_scheduler *s, double t)
{
    if (!(t >= 0 && t < s->T) || t != floor(t))
        return -1;
    return (int)t;
}
