/* AdamW with warm-up and decay schedules (the shapes of diffusers' get_scheduler) and gradient
 * accumulation. The update itself is ts_adamw_, PyTorch's operation order. */
#include "optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "concepts.h"
#include "error.h"
#include "model.h"

double ti_lr_factor(tinv_lr_schedule schedule, int warmup_steps, int total_steps, int step)
{
    if (step < warmup_steps)
        return (double)step / (double)warmup_steps;
    if (schedule == TINV_LR_CONSTANT)
        return 1.0;
    double span = (double)(total_steps - warmup_steps);
    double progress = span > 0 ? (double)(step - warmup_steps) / span : 1.0;
    if (progress >= 1.0)
        return 0.0;
    if (schedule == TINV_LR_LINEAR)
        return 1.0 - progress;
    return 0.5 * (1.0 + cos(M_PI * progress)); /* TINV_LR_COSINE: half a cosine */
}

tinv_status ti_optimizer_create(ts_tensor **params, int n, tinv_optimizer **out)
{
    *out = NULL;
    tinv_optimizer *o = calloc(1, sizeof *o);
    if (o == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory creating an optimizer");
    o->lr = 5e-4;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->weight_decay = 1e-2;
    o->eps = 1e-8;
    o->schedule = TINV_LR_CONSTANT;
    o->total_steps = 1;
    o->accumulation = 1;
    o->params = calloc((size_t)n, sizeof *o->params);
    o->exp_avg = calloc((size_t)n, sizeof *o->exp_avg);
    o->exp_avg_sq = calloc((size_t)n, sizeof *o->exp_avg_sq);
    if (o->params == NULL || o->exp_avg == NULL || o->exp_avg_sq == NULL) {
        tinv_optimizer_free(o);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory creating an optimizer");
    }
    o->n_params = n;
    for (int i = 0; i < n; i++) {
        o->params[i] = params[i];
        int64_t shape[TS_MAX_DIMS];
        int nd = ts_ndim(params[i]);
        for (int d = 0; d < nd; d++)
            shape[d] = ts_size(params[i], d);
        o->exp_avg[i] = ts_detach(ts_zeros(shape, nd, TS_F32, ts_device_of(params[i])));
        o->exp_avg_sq[i] = ts_detach(ts_zeros(shape, nd, TS_F32, ts_device_of(params[i])));
        if (o->exp_avg[i] == NULL || o->exp_avg_sq[i] == NULL || ts_requires_grad(params[i], 1) != TINV_OK) {
            tinv_status st = tinv_last_status();
            tinv_optimizer_free(o);
            return st;
        }
    }
    *out = o;
    return TINV_OK;
}

TINV_API tinv_status tinv_optimizer_create(tinv_model *model, const char *token, tinv_optimizer **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    TI_REQUIRE(model);
    TI_REQUIRE(token);
    ti_concept *c = ti_concepts_find(&model->text.concepts, token);
    if (c == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "'%.200s' is not a learned token of this model (add it with tinv_model_add_token)", token);
    if (c->trainable)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "learned token '%.200s' already has an optimizer", token);
    tinv_optimizer *o;
    TI_TRY(ti_optimizer_create(&c->vectors, 1, &o));
    o->model = model;
    o->token = strdup(token);
    if (o->token == NULL) {
        tinv_optimizer_free(o);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory creating an optimizer");
    }
    c->trainable = 1;
    *out = o;
    return TINV_OK;
}

TINV_API void tinv_optimizer_free(tinv_optimizer *o)
{
    if (o == NULL)
        return;
    ti_concept *c = o->model && o->token ? ti_concepts_find(&o->model->text.concepts, o->token) : NULL;
    if (c != NULL)
        c->trainable = 0;
    for (int i = 0; i < o->n_params; i++) {
        if (o->params[i] != NULL) {
            ts_zero_grad(o->params[i]);
            ts_requires_grad(o->params[i], 0);
        }
        ts_free(o->exp_avg[i]);
        ts_free(o->exp_avg_sq[i]);
    }
    free(o->params);
    free(o->exp_avg);
    free(o->exp_avg_sq);
    free(o->token);
    free(o);
}

static int finite_in(double x, double lo, double hi) { return isfinite(x) && x >= lo && x <= hi; }

TINV_API tinv_status tinv_optimizer_set_lr(tinv_optimizer *o, double lr)
{
    TI_REQUIRE(o);
    if (!finite_in(lr, 0, 1e3) || lr == 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "learning rate %g is not in (0, 1000]", lr);
    o->lr = lr;
    return TINV_OK;
}

TINV_API tinv_status tinv_optimizer_set_betas(tinv_optimizer *o, double beta1, double beta2)
{
    TI_REQUIRE(o);
    if (!finite_in(beta1, 0, 1) || !finite_in(beta2, 0, 1) || beta1 >= 1 || beta2 >= 1)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "AdamW betas (%g, %g) must each be in [0, 1)", beta1, beta2);
    o->beta1 = beta1;
    o->beta2 = beta2;
    return TINV_OK;
}

TINV_API tinv_status tinv_optimizer_set_weight_decay(tinv_optimizer *o, double weight_decay)
{
    TI_REQUIRE(o);
    if (!finite_in(weight_decay, 0, 1e6))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "weight decay %g must be finite and >= 0", weight_decay);
    o->weight_decay = weight_decay;
    return TINV_OK;
}

TINV_API tinv_status tinv_optimizer_set_eps(tinv_optimizer *o, double eps)
{
    TI_REQUIRE(o);
    if (!finite_in(eps, 0, 1) || eps == 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "AdamW eps %g must be in (0, 1]", eps);
    o->eps = eps;
    return TINV_OK;
}

TINV_API tinv_status tinv_optimizer_set_schedule(tinv_optimizer *o, tinv_lr_schedule schedule, int warmup_steps,
                                                 int total_steps)
{
    TI_REQUIRE(o);
    if (schedule != TINV_LR_CONSTANT && schedule != TINV_LR_LINEAR && schedule != TINV_LR_COSINE)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "unknown learning-rate schedule %d", (int)schedule);
    if (warmup_steps < 0 || total_steps < 1)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "schedule: warm-up %d must be >= 0 and total %d >= 1", warmup_steps,
                        total_steps);
    o->schedule = schedule;
    o->warmup_steps = warmup_steps;
    o->total_steps = total_steps;
    return TINV_OK;
}

TINV_API tinv_status tinv_optimizer_set_accumulation(tinv_optimizer *o, int n)
{
    TI_REQUIRE(o);
    if (n < 1 || n > 1024)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "gradient accumulation %d is not in [1, 1024]", n);
    o->accumulation = n;
    return TINV_OK;
}

TINV_API double tinv_optimizer_get_lr(const tinv_optimizer *o)
{
    return o ? o->lr * ti_lr_factor(o->schedule, o->warmup_steps, o->total_steps, o->step) : 0.0;
}

TINV_API int tinv_optimizer_get_step(const tinv_optimizer *o) { return o ? o->step : 0; }

/* The accumulated gradient of param i, averaged over the micro-steps; NULL (no error) if none. */
static ts_tensor *mean_grad(const tinv_optimizer *o, int i, tinv_status *st)
{
    *st = TINV_OK;
    ts_tensor *g = ts_grad(o->params[i]);
    if (g == NULL) {
        tinv_clear_error(); /* no backward reached it: nothing to apply */
        return NULL;
    }
    if (o->accumulation > 1)
        g = ts_div_scalar(g, (double)o->accumulation);
    if (g == NULL || !ts_all_finite(g))
        *st = g == NULL ? tinv_last_status()
                        : ti_error(TINV_ERR_NUMERIC, "the gradient holds NaN or infinity; no update was applied");
    return g;
}

TINV_API tinv_status tinv_optimizer_step(tinv_optimizer *o, int *applied)
{
    TI_REQUIRE(o);
    if (applied)
        *applied = 0;
    if (++o->micro < o->accumulation)
        return TINV_OK;
    size_t scope = ts_scope_begin();
    ts_tensor **grads = calloc((size_t)o->n_params, sizeof *grads);
    tinv_status st = grads ? TINV_OK : ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory in the optimizer step");
    /* Check every gradient before touching any parameter, so a bad one changes nothing. */
    for (int i = 0; st == TINV_OK && i < o->n_params; i++)
        grads[i] = mean_grad(o, i, &st);
    double lr = tinv_optimizer_get_lr(o);
    for (int i = 0; st == TINV_OK && i < o->n_params; i++)
        if (grads[i] != NULL)
            st = ts_adamw_(o->params[i], grads[i], o->exp_avg[i], o->exp_avg_sq[i], lr, o->beta1, o->beta2,
                           o->weight_decay, o->eps, o->step + 1);
    for (int i = 0; i < o->n_params; i++)
        ts_zero_grad(o->params[i]);
    free(grads);
    ts_scope_end(scope);
    o->micro = 0;
    if (st != TINV_OK)
        return st;
    o->step++;
    if (o->model && o->token) {
        ti_concept *c = ti_concepts_find(&o->model->text.concepts, o->token);
        if (c)
            c->steps_trained++;
    }
    if (applied)
        *applied = 1;
    return TINV_OK;
}
