/* Scheduler unit tests: timesteps per class and spacing (Q8–Q12), config defaults and errors,
 * and step() identities that need no fixtures. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "scheduler.h"

/* The SD-1.5 release config: PNDM class, no timestep_spacing, no prediction_type. */
static const char *SD15 = "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
                          "\"scaled_linear\", \"beta_start\": 0.00085, \"num_train_timesteps\": 1000, "
                          "\"set_alpha_to_one\": false, \"skip_prk_steps\": true, \"steps_offset\": 1, "
                          "\"trained_betas\": null, \"clip_sample\": false}";

static ti_scheduler *make(ti_sched_kind kind, const char *extra, int n)
{
    ti_sched_config cfg;
    ti_scheduler *s = NULL;
    if (ti_sched_config_parse(SD15, strlen(SD15), "sd15", kind, extra, &cfg) != TINV_OK)
        return NULL;
    if (ti_scheduler_create(&cfg, &s) != TINV_OK)
        return NULL;
    if (n > 0 && ti_scheduler_set_timesteps(s, n) != TINV_OK) {
        ti_scheduler_free(s);
        return NULL;
    }
    return s;
}

static int same_timesteps(const ti_scheduler *s, const double *want, size_t n)
{
    if (s->n_timesteps != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s->timesteps[i] != want[i]) {
            fprintf(stderr, "    timesteps[%zu] = %g, expected %g\n", i, s->timesteps[i], want[i]);
            return 0;
        }
    return 1;
}

static void test_ddim_leading_n10(void)
{
    ti_scheduler *s = make(TI_SCHED_DDIM, NULL, 10);
    CHECK(s != NULL);
    const double want[] = {901, 801, 701, 601, 501, 401, 301, 201, 101, 1};
    CHECK(same_timesteps(s, want, 10));
    CHECK(s->timesteps_int);
    CHECK(s->sigmas == NULL);
    CHECK(s->init_noise_sigma == 1.0f);
    CHECK(!s->cfg.clip_sample);                     /* the file's false beats DDIM's default */
    CHECK(s->final_alpha_cumprod == s->alphas_cumprod[0]); /* set_alpha_to_one false */
    ti_scheduler_free(s);
}

static void test_pndm_repeats_second_timestep(void)
{
    ti_scheduler *s = make(TI_SCHED_FROM_CONFIG, NULL, 10);
    CHECK(s != NULL);
    CHECK(s->cfg.kind == TI_SCHED_PNDM);
    const double want[] = {901, 801, 801, 701, 601, 501, 401, 301, 201, 101, 1};
    CHECK(same_timesteps(s, want, 11));
    ti_scheduler_free(s);
}

static void test_dpm_linspace_drops_last(void)
{
    ti_scheduler *s = make(TI_SCHED_DPMPP_2M, "{\"algorithm_type\": \"dpmsolver++\", \"solver_order\": 2}", 10);
    CHECK(s != NULL);
    const double want[] = {999, 899, 799, 699, 599, 500, 400, 300, 200, 100};
    CHECK(same_timesteps(s, want, 10));
    CHECK(s->init_noise_sigma == 1.0f);
    CHECK_NEAR(s->sigmas[10], 0.0292, 1e-4); /* σ(t=0), not 0 (Q12) */
    ti_scheduler_free(s);
}

static void test_dpm_karras_timesteps(void)
{
    ti_scheduler *s = make(TI_SCHED_DPMPP_2M, "{\"use_karras_sigmas\": true}", 10);
    CHECK(s != NULL);
    const double want[] = {999, 916, 815, 687, 523, 327, 146, 41, 7, 0};
    CHECK(same_timesteps(s, want, 10));
    CHECK(s->sigmas[10] == s->sigmas[9]); /* the last Karras sigma is repeated */
    ti_scheduler_free(s);
}

static void test_euler_linspace_and_init_sigma(void)
{
    ti_scheduler *s = make(TI_SCHED_EULER, NULL, 10);
    CHECK(s != NULL);
    CHECK(!s->timesteps_int);
    CHECK(s->timesteps[0] == 999 && s->timesteps[1] == 888 && s->timesteps[9] == 0);
    CHECK_NEAR(s->init_noise_sigma, 14.6146, 1e-3);
    CHECK(s->sigmas[10] == 0.0f);
    ti_scheduler_free(s);
    /* fractional float32 timesteps for N = 50 (Q8) */
    s = make(TI_SCHED_LMS, NULL, 50);
    CHECK(s != NULL);
    CHECK(s->timesteps[1] == (double)(float)(999.0 * 48 / 49));
    ti_scheduler_free(s);
}

static void test_explicit_spacing_overrides_class_default(void)
{
    ti_scheduler *s = make(TI_SCHED_EULER, "{\"timestep_spacing\": \"leading\"}", 10);
    CHECK(s != NULL);
    CHECK(s->timesteps[0] == 901 && s->timesteps[9] == 1);
    /* leading spacing: init σ = √(σ_max² + 1) */
    CHECK_NEAR(s->init_noise_sigma, sqrt((double)s->sigmas[0] * s->sigmas[0] + 1), 1e-5);
    ti_scheduler_free(s);
    s = make(TI_SCHED_DDIM, "{\"timestep_spacing\": \"trailing\"}", 10);
    CHECK(s != NULL);
    CHECK(s->timesteps[0] == 999 && s->timesteps[9] == 99);
    ti_scheduler_free(s);
}

static tinv_status parse(const char *text, ti_sched_kind kind)
{
    ti_sched_config cfg;
    tinv_clear_error();
    return ti_sched_config_parse(text, strlen(text), "cfg.json", kind, NULL, &cfg);
}

static void test_bad_configs_give_clear_errors(void)
{
    CHECK(parse("{\"num_train_timesteps\": \"many\"}", TI_SCHED_DDIM) == TINV_ERR_BAD_FORMAT);
    CHECK(strstr(tinv_last_error(), "num_train_timesteps") != NULL);
    CHECK(strstr(tinv_last_error(), "cfg.json") != NULL);
    CHECK(parse("{\"beta_schedule\": \"cosine\"}", TI_SCHED_DDIM) == TINV_ERR_UNSUPPORTED);
    CHECK(strstr(tinv_last_error(), "cosine") != NULL);
    CHECK(parse("{\"prediction_type\": \"sample\"}", TI_SCHED_EULER) == TINV_ERR_UNSUPPORTED);
    CHECK(parse("{\"timestep_spacing\": \"sideways\"}", TI_SCHED_EULER) == TINV_ERR_BAD_FORMAT);
    CHECK(parse("{\"beta_start\": -1}", TI_SCHED_EULER) == TINV_ERR_BAD_FORMAT);
    CHECK(parse("{\"beta_start\": 0.5, \"beta_end\": 0.1}", TI_SCHED_EULER) == TINV_ERR_BAD_FORMAT);
    CHECK(parse("{\"skip_prk_steps\": false}", TI_SCHED_PNDM) == TINV_ERR_UNSUPPORTED);
    CHECK(parse("{\"skip_prk_steps\": false}", TI_SCHED_DDIM) == TINV_OK); /* DDIM ignores the key */
    CHECK(parse("{\"algorithm_type\": \"sde-dpmsolver++\"}", TI_SCHED_DPMPP_2M) == TINV_ERR_UNSUPPORTED);
    CHECK(parse("{\"steps_offset\": 1.5}", TI_SCHED_DDIM) == TINV_ERR_BAD_FORMAT);
    CHECK(parse("[1, 2]", TI_SCHED_DDIM) == TINV_ERR_BAD_FORMAT);
    CHECK(parse("{not json", TI_SCHED_DDIM) == TINV_ERR_BAD_FORMAT);
    CHECK(parse("{\"_class_name\": \"FancyScheduler\"}", TI_SCHED_FROM_CONFIG) == TINV_ERR_UNSUPPORTED);
    ti_sched_config cfg;
    CHECK(ti_sched_config_load("/nonexistent/scheduler_config.json", TI_SCHED_DDIM, NULL, &cfg) == TINV_ERR_IO);
    ti_scheduler *s = make(TI_SCHED_DDIM, NULL, 0);
    CHECK(s != NULL);
    CHECK(ti_scheduler_set_timesteps(s, 0) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_scheduler_set_timesteps(s, 1001) == TINV_ERR_INVALID_ARGUMENT);
    ti_scheduler_free(s);
}

static float max_diff(const ts_tensor *a, const ts_tensor *b)
{
    float r = NAN;
    ts_tensor *d = ts_max_abs(ts_sub(a, b));
    if (d != NULL)
        r = (float)ts_item(d);
    return r;
}

/* DDIM with η = 0 is exact for a perfect predictor: step(x_t) = add_noise(x0, ε, t_prev). */
static void check_ddim_exact(const char *extra)
{
    ti_scheduler *s = make(TI_SCHED_DDIM, extra, 10);
    CHECK(s != NULL);
    size_t scope = ts_scope_begin();
    ts_generator *g = ts_generator_create(7);
    int64_t shape[4] = {1, 4, 8, 8};
    ts_device cpu = {TS_CPU, 0};
    ts_tensor *x0 = ts_randn(g, shape, 4, TS_F32, cpu), *eps = ts_randn(g, shape, 4, TS_F32, cpu);
    double t = 501, t_prev = 401;
    ts_tensor *xt = ti_scheduler_add_noise(s, x0, eps, &t, 1);
    ts_tensor *mo = s->cfg.prediction_type == TI_PRED_V ? ti_scheduler_get_velocity(s, x0, eps, &t, 1) : eps;
    ts_tensor *prev = NULL;
    tinv_status st = ti_scheduler_step(s, mo, t, xt, NULL, &prev);
    ts_tensor *want = ti_scheduler_add_noise(s, x0, eps, &t_prev, 1);
    float d = max_diff(prev, want);
    ts_generator_free(g);
    ts_scope_end(scope);
    ti_scheduler_free(s);
    CHECK(st == TINV_OK);
    CHECK_NEAR(d, 0.0, 1e-5);
}

static void test_ddim_step_epsilon_exact(void) { check_ddim_exact(NULL); }
static void test_ddim_step_v_prediction_exact(void) { check_ddim_exact("{\"prediction_type\": \"v_prediction\"}"); }

static void test_ancestral_needs_noise_source(void)
{
    ti_scheduler *s = make(TI_SCHED_EULER_ANCESTRAL, NULL, 10);
    CHECK(s != NULL);
    size_t scope = ts_scope_begin();
    int64_t shape[4] = {1, 4, 8, 8};
    ts_device cpu = {TS_CPU, 0};
    ts_tensor *x = ts_zeros(shape, 4, TS_F32, cpu), *prev = NULL;
    tinv_status st = ti_scheduler_step(s, x, s->timesteps[0], x, NULL, &prev);
    ts_scope_end(scope);
    ti_scheduler_free(s);
    CHECK(st == TINV_ERR_INVALID_ARGUMENT);
    CHECK(prev == NULL);
    CHECK(strstr(tinv_last_error(), "generator") != NULL);
}

/* A full loop of every kind with a stand-in model: finite results, no leaked tensors, and the
 * same seed gives the same latents. */
static void test_all_kinds_loop_without_leaks(void)
{
    for (int k = 0; k < TI_SCHED_KIND_COUNT; k++) {
        float last[2] = {0, 0};
        for (int rep = 0; rep < 2; rep++) {
            long live = ts_live_tensors();
            ti_scheduler *s = make((ti_sched_kind)k, NULL, 10);
            CHECK(s != NULL);
            ts_generator *g = ts_generator_create(42);
            ti_sched_noise noise = {g, NULL, NULL};
            int64_t shape[4] = {1, 4, 8, 8};
            ts_device cpu = {TS_CPU, 0};
            size_t sc0 = ts_scope_begin();
            ts_tensor *lat = ts_scope_return(sc0, ts_mul_scalar(ts_randn(g, shape, 4, TS_F32, cpu), s->init_noise_sigma));
            int ok = lat != NULL;
            for (size_t i = 0; ok && i < s->n_timesteps; i++) {
                size_t sc = ts_scope_begin();
                ts_tensor *x = ti_scheduler_scale_model_input(s, lat, s->timesteps[i]);
                ts_tensor *e = ts_mul_scalar(x, 0.1); /* a stand-in "model" */
                ts_tensor *next = NULL;
                ok = ti_scheduler_step(s, e, s->timesteps[i], lat, &noise, &next) == TINV_OK;
                next = ts_scope_return(sc, next);
                ts_free(lat);
                lat = next;
            }
            ok = ok && ts_all_finite(lat);
            if (ok) {
                ts_tensor *m = ts_max_abs(lat);
                last[rep] = (float)ts_item(m);
                ts_free(m);
            }
            ts_free(lat);
            ts_generator_free(g);
            ti_scheduler_free(s);
            if (!ok)
                fprintf(stderr, "    kind %s: %s\n", ti_sched_kind_name((ti_sched_kind)k), tinv_last_error());
            CHECK(ok);
            CHECK(ts_live_tensors() == live);
        }
        CHECK(last[0] == last[1]);
    }
}

int main(void)
{
    RUN(test_ddim_leading_n10);
    RUN(test_pndm_repeats_second_timestep);
    RUN(test_dpm_linspace_drops_last);
    RUN(test_dpm_karras_timesteps);
    RUN(test_euler_linspace_and_init_sigma);
    RUN(test_explicit_spacing_overrides_class_default);
    RUN(test_bad_configs_give_clear_errors);
    RUN(test_ddim_step_epsilon_exact);
    RUN(test_ddim_step_v_prediction_exact);
    RUN(test_ancestral_needs_noise_source);
    RUN(test_all_kinds_loop_without_leaks);
    return check_summary("test_scheduler");
}
