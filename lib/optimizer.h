/* AdamW over a set of trainable tensors, with learning-rate schedules and gradient
 * accumulation. The public tinv_optimizer trains a learned token's vectors; the same object
 * can own any list of leaf tensors (full-parameter training of a small model). */
#ifndef TI_OPTIMIZER_H
#define TI_OPTIMIZER_H

#include "../shim/shim.h"
#include "tinv.h"

struct tinv_optimizer {
    tinv_model *model; /* NULL for a generic optimizer */
    char *token;       /* the learned token it trains, or NULL */
    ts_tensor **params; /* borrowed leaf tensors, requires_grad on while the optimizer lives */
    ts_tensor **exp_avg, **exp_avg_sq; /* owned AdamW moments, one pair per param */
    int n_params;
    double lr, beta1, beta2, weight_decay, eps;
    tinv_lr_schedule schedule;
    int warmup_steps, total_steps;
    int accumulation; /* micro-steps per update */
    int micro;        /* micro-steps since the last update */
    int step;         /* updates applied */
};

/* An optimizer over `n` borrowed leaf tensors (float32); turns their gradients on. */
tinv_status ti_optimizer_create(ts_tensor **params, int n, tinv_optimizer **out);
/* Learning-rate factor of the schedule at update index `step` (0-based). */
double ti_lr_factor(tinv_lr_schedule schedule, int warmup_steps, int total_steps, int step);

#endif
