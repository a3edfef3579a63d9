/* Training latents: the VAE posterior of each training crop is computed once and sampled every
 * step (mean + std · ε), so a step runs no VAE encoder — as DESIGN.md asks. */
#include <stdlib.h>

#include "error.h"
#include "model.h"
#include "trainer.h"

/* Posterior (mean, std) of one crop, detached from every scope. */
static tinv_status encode_crop(tinv_trainer *tr, int index, int x, int y, int flip, ti_posterior *out)
{
    tinv_model *m = tr->model;
    int res = tr->images.resolution;
    float *chw = malloc((size_t)3 * res * res * sizeof *chw);
    if (chw == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory preparing a training image");
    tinv_status st = ti_train_image_crop(&tr->images, index, x, y, flip, chw);
    int prev = ts_set_grad_enabled(0);
    size_t scope = ts_scope_begin();
    ts_tensor *mean = NULL, *logvar = NULL;
    if (st == TINV_OK) {
        int64_t shape[4] = {1, 3, res, res};
        st = ti_vae_encode(&m->vae, ts_from_data(chw, TS_F32, shape, 4, ti_dtype_to_ts(m->opts.dtype), m->opts.device),
                           0, &mean, &logvar);
    }
    if (st == TINV_OK) {
        /* std = exp(logvar / 2), as diffusers' DiagonalGaussianDistribution */
        out->mean = ts_detach(ts_to(mean, TS_F32, m->opts.device));
        out->std = ts_detach(ts_to(ts_exp(ts_mul_scalar(logvar, 0.5)), TS_F32, m->opts.device));
        if (out->mean == NULL || out->std == NULL) {
            st = tinv_last_status();
            ts_free(out->mean);
            ts_free(out->std);
            out->mean = out->std = NULL;
        }
    }
    ts_scope_end(scope);
    ts_set_grad_enabled(prev);
    free(chw);
    return st;
}

void ti_trainer_free_posteriors(tinv_trainer *tr)
{
    if (tr->posteriors == NULL)
        return;
    for (int i = 0; i < tr->n_posteriors; i++) {
        ts_free(tr->posteriors[i].mean);
        ts_free(tr->posteriors[i].std);
    }
    free(tr->posteriors);
    tr->posteriors = NULL;
    tr->n_posteriors = 0;
}

tinv_status ti_trainer_cache_posteriors(tinv_trainer *tr)
{
    ti_trainer_free_posteriors(tr);
    if (!tr->cache_latents || tr->random_crop)
        return TINV_OK;
    tr->posteriors = calloc((size_t)(2 * tr->images.count), sizeof *tr->posteriors);
    if (tr->posteriors == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory caching training latents");
    tr->n_posteriors = 2 * tr->images.count;
    for (int i = 0; i < tr->images.count; i++) {
        int x, y;
        TI_TRY(ti_train_image_center(&tr->images, i, &x, &y));
        for (int flip = 0; flip < 2; flip++) {
            if (flip && tr->flip_probability <= 0)
                continue; /* never drawn */
            tinv_status st = encode_crop(tr, i, x, y, flip, &tr->posteriors[2 * i + flip]);
            if (st != TINV_OK)
                return ti_error(st, "encoding training image '%s': %s", tr->images.items[i].name, tinv_last_error());
        }
    }
    ti_log(&tr->logger, TINV_LOG_INFO, "cached the VAE posteriors of %d training images", tr->images.count);
    return TINV_OK;
}

ts_tensor *ti_trainer_latents(tinv_trainer *tr, int index, int x, int y, int flip, const ts_tensor *eps)
{
    ti_posterior now = {NULL, NULL};
    const ti_posterior *p = tr->posteriors ? &tr->posteriors[2 * index + flip] : NULL;
    if (p == NULL || p->mean == NULL) {
        if (encode_crop(tr, index, x, y, flip, &now) != TINV_OK)
            return NULL;
        ts_adopt(now.mean);
        ts_adopt(now.std);
        p = &now;
    }
    return ts_mul_scalar(ts_add(p->mean, ts_mul(p->std, eps)), tr->model->vae.cfg.scaling_factor);
}
