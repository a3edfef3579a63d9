/* Trainer checkpoints: the embedding file, and a state file (safetensors) holding everything a
 * run needs to continue bit for bit — vectors, AdamW moments, update count, random state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concepts.h"
#include "error.h"
#include "model.h"
#include "optimizer.h"
#include "safetensors.h"
#include "trainer.h"

#define STATE_FORMAT "tinv-trainer-state"
#define STATE_VERSION "1"

/* Host float32 copy of a tensor. */
static float *host_copy(const ts_tensor *t)
{
    size_t n = (size_t)ts_numel(t);
    float *buf = malloc(n * sizeof *buf);
    if (buf == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory saving the trainer state");
        return NULL;
    }
    if (ts_to_host(t, buf, TS_F32, n) != TINV_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

static tinv_status save_state(tinv_trainer *tr)
{
    const ti_concept *c = ti_concepts_find(&tr->model->text.concepts, tr->token);
    tinv_optimizer *o = tr->opt;
    size_t rng_size = ts_generator_get_state(tr->gen, NULL, 0);
    uint8_t *rng = malloc(rng_size ? rng_size : 1);
    float *vec = host_copy(c->vectors), *m1 = host_copy(o->exp_avg[0]), *m2 = host_copy(o->exp_avg_sq[0]);
    tinv_status st = TINV_OK;
    if (rng == NULL || vec == NULL || m1 == NULL || m2 == NULL)
        st = rng == NULL ? ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory saving the trainer state") : tinv_last_status();
    if (st == TINV_OK && ts_generator_get_state(tr->gen, rng, rng_size) != rng_size)
        st = ti_error(TINV_ERR_INTERNAL, "the random state changed size while saving it");
    if (st == TINV_OK) {
        int64_t shape[2] = {c->num_vectors, ts_size(c->vectors, 1)}, rshape[1] = {(int64_t)rng_size};
        ti_st_entry e[4] = {{"vectors", TI_ST_F32, 2, shape, vec},
                            {"adamw.exp_avg", TI_ST_F32, 2, shape, m1},
                            {"adamw.exp_avg_sq", TI_ST_F32, 2, shape, m2},
                            {"rng_state", TI_ST_U8, 1, rshape, rng}};
        char step[32], trained[32], seed[32];
        snprintf(step, sizeof step, "%d", o->step);
        snprintf(trained, sizeof trained, "%d", c->steps_trained);
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)tr->seed);
        const char *meta[] = {"format", STATE_FORMAT, "version", STATE_VERSION, "token", tr->token,
                              "step", step, "steps_trained", trained, "seed", seed};
        st = ti_safetensors_write(tr->state_path, e, 4, meta, 6);
    }
    free(rng);
    free(vec);
    free(m1);
    free(m2);
    return st;
}

tinv_status ti_trainer_save(tinv_trainer *tr)
{
    if (tr->embedding_path != NULL)
        TI_TRY(tinv_model_save_embedding(tr->model, tr->token, tr->embedding_path, tr->format));
    if (tr->state_path != NULL)
        TI_TRY(save_state(tr));
    if (tr->embedding_path || tr->state_path)
        ti_log(&tr->logger, TINV_LOG_INFO, "step %d: saved %s%s%s", tr->opt->step,
               tr->embedding_path ? tr->embedding_path : "", tr->embedding_path && tr->state_path ? " and " : "",
               tr->state_path ? tr->state_path : "");
    return TINV_OK;
}

/* Copy tensor `name` of the state file into `dst` (same shape). */
static tinv_status restore(const ti_safetensors *st, const char *name, ts_tensor *dst)
{
    int64_t shape[2] = {ts_size(dst, 0), ts_size(dst, 1)};
    ts_tensor *src = NULL;
    TI_TRY(ti_safetensors_load(st, name, TS_F32, ts_device_of(dst), shape, 2, &src));
    tinv_status s = ts_copy_(dst, src);
    ts_free(src);
    return s;
}

static int meta_int(const ti_safetensors *st, const char *key, long long lo, long long hi, long long *out)
{
    const char *v = ti_safetensors_metadata(st, key);
    char *end;
    if (v == NULL)
        return 0;
    long long x = strtoll(v, &end, 10);
    if (*end != '\0' || end == v || x < lo || x > hi)
        return 0;
    *out = x;
    return 1;
}

TINV_API tinv_status tinv_trainer_resume(tinv_trainer *tr, const char *state_path)
{
    TI_REQUIRE(tr);
    TI_REQUIRE(state_path);
    ti_safetensors *st = NULL;
    TI_TRY(ti_safetensors_open(state_path, &st));
    tinv_status s = TINV_OK;
    const char *format = ti_safetensors_metadata(st, "format"), *token = ti_safetensors_metadata(st, "token");
    long long step = 0, trained = 0;
    const ti_st_tensor *rng = ti_safetensors_find(st, "rng_state");
    ti_concept *c = ti_concepts_find(&tr->model->text.concepts, tr->token);
    if (format == NULL || strcmp(format, STATE_FORMAT) != 0)
        s = ti_error(TINV_ERR_BAD_FORMAT, "'%s' is not a tinv trainer state file", state_path);
    else if (token == NULL || strcmp(token, tr->token) != 0)
        s = ti_error(TINV_ERR_INVALID_ARGUMENT, "'%s' trained token '%s', not '%s'", state_path, token ? token : "?",
                     tr->token);
    else if (!meta_int(st, "step", 0, 1000000, &step) || !meta_int(st, "steps_trained", 0, 1000000000, &trained) ||
             rng == NULL || rng->dtype != TI_ST_U8 || c == NULL)
        s = ti_error(TINV_ERR_BAD_FORMAT, "'%s': the step, random state or token is missing", state_path);
    /* Restore into fresh objects first, so a bad file leaves the trainer as it was. */
    ts_generator *gen = s == TINV_OK ? ts_generator_create(tr->seed) : NULL;
    if (s == TINV_OK)
        s = gen ? ts_generator_set_state(gen, rng->data, rng->nbytes) : tinv_last_status();
    if (s == TINV_OK)
        s = restore(st, "adamw.exp_avg", tr->opt->exp_avg[0]);
    if (s == TINV_OK)
        s = restore(st, "adamw.exp_avg_sq", tr->opt->exp_avg_sq[0]);
    if (s == TINV_OK)
        s = restore(st, "vectors", c->vectors);
    if (s == TINV_OK) {
        ts_generator_free(tr->gen);
        tr->gen = gen;
        gen = NULL;
        tr->opt->step = (int)step;
        tr->opt->micro = 0;
        c->steps_trained = (int)trained;
        ti_log(&tr->logger, TINV_LOG_INFO, "resumed '%s' at step %lld from %s", tr->token, step, state_path);
    }
    ts_generator_free(gen);
    ti_safetensors_close(st);
    return s;
}
