/* Golden component "scheduler": build <Class>.from_config(<set>/scheduler/scheduler_config.json,
 * **extra) as the case says, and compare its tables, timesteps, sigmas, init_noise_sigma,
 * add_noise and get_velocity elementwise: |x − ref| ≤ rtol·|ref| + atol; integer timesteps exact. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "safetensors.h"
#include "scheduler.h"
#include "tinv.h"

typedef struct sched_cmp {
    double rtol, atol;
    double max_abs, max_rel;
    int failed;
} sched_cmp;

static void cmp_values(sched_cmp *c, const char *name, const double *x, const double *ref, size_t n, int exact)
{
    double worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(x[i] - ref[i]);
        if (isnan(d))
            d = INFINITY;
        double rel = ref[i] != 0 ? d / fabs(ref[i]) : d;
        if (d > c->max_abs)
            c->max_abs = d;
        if (rel > c->max_rel)
            c->max_rel = rel;
        double allowed = exact ? 0 : c->rtol * fabs(ref[i]) + c->atol;
        if (!(d <= allowed) && (d - allowed > worst || worst == 0)) {
            worst = d - allowed;
            worst_i = i;
        }
    }
    if (worst > 0) {
        c->failed = 1;
        fprintf(stderr, "    %s[%zu]: %.9g, expected %.9g%s\n", name, worst_i, x[worst_i], ref[worst_i],
                exact ? " (exact)" : "");
    }
}

/* Tensor `name` as doubles (NULL if absent); *n gets the count, *is_int whether it is integer-typed. */
static double *load_f64(ti_safetensors *st, const char *name, size_t *n, int *is_int)
{
    const ti_st_tensor *t = ti_safetensors_find(st, name);
    if (t == NULL)
        return NULL;
    size_t cnt = (size_t)t->numel;
    double *out = malloc((cnt ? cnt : 1) * sizeof *out);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < cnt; i++) {
        const unsigned char *p = (const unsigned char *)t->data + i * ti_st_dtype_size(t->dtype);
        if (t->dtype == TI_ST_I64) {
            int64_t v;
            memcpy(&v, p, sizeof v);
            out[i] = (double)v;
        } else if (t->dtype == TI_ST_F64) {
            memcpy(&out[i], p, sizeof(double));
        } else if (t->dtype == TI_ST_F32) {
            float v;
            memcpy(&v, p, sizeof v);
            out[i] = v;
        } else {
            float v;
            ti_st_to_f32(t, &v, 1); /* other dtypes do not occur in scheduler cases */
            out[i] = v;
        }
    }
    *n = cnt;
    if (is_int)
        *is_int = t->dtype == TI_ST_I64 || t->dtype == TI_ST_I32;
    return out;
}

static void cmp_floats(sched_cmp *c, const char *name, const float *x, size_t nx, ti_safetensors *st)
{
    size_t n = 0;
    int is_int = 0;
    double *ref = load_f64(st, name, &n, &is_int);
    if (ref == NULL) {
        c->failed = 1;
        fprintf(stderr, "    missing tensor %s\n", name);
        return;
    }
    if (n != nx) {
        c->failed = 1;
        fprintf(stderr, "    %s: %zu values, expected %zu\n", name, nx, n);
    } else {
        double *xd = malloc((n ? n : 1) * sizeof *xd);
        for (size_t i = 0; xd && i < n; i++)
            xd[i] = x[i];
        if (xd)
            cmp_values(c, name, xd, ref, n, is_int);
        free(xd);
    }
    free(ref);
}

static void cmp_tensor(sched_cmp *c, const char *name, ts_tensor *x, ti_safetensors *st)
{
    if (x == NULL) {
        c->failed = 1;
        fprintf(stderr, "    %s: %s\n", name, tinv_last_error());
        return;
    }
    size_t n = (size_t)ts_numel(x);
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    if (buf && ts_to_host(x, buf, TS_F32, n) == TINV_OK)
        cmp_floats(c, name, buf, n, st);
    else
        c->failed = 1;
    free(buf);
}

/* The config the case was built with: the folder's file + the case's from_config kwargs. */
tinv_status golden_scheduler_config(const char *set_dir, json_t *c, ti_sched_config *cfg, char *detail, size_t cap)
{
    const char *cls = json_string_value(json_object_get(c, "scheduler_class"));
    ti_sched_kind kind;
    if (cls == NULL || ti_sched_kind_parse(cls, &kind) != TINV_OK) {
        snprintf(detail, cap, "unknown scheduler_class '%s'", cls ? cls : "(none)");
        return TINV_ERR_UNSUPPORTED;
    }
    json_t *extra = json_object_get(c, "extra_from_config_kwargs");
    char *extra_text = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", set_dir);
    tinv_status st = ti_sched_config_load(path, kind, extra_text, cfg);
    free(extra_text);
    if (st != TINV_OK) {
        snprintf(detail, cap, "config: %s", tinv_last_error());
        return st;
    }
    /* Cross-check the inherited defaults (Q9) against what diffusers ended up with. */
    json_t *eff = json_object_get(c, "effective_config");
    const char *sp = json_string_value(json_object_get(eff, "timestep_spacing"));
    const char *pt = json_string_value(json_object_get(eff, "prediction_type"));
    static const char *spacing[] = {"leading", "linspace", "trailing"};
    if (sp && strcmp(sp, spacing[cfg->timestep_spacing]) != 0) {
        snprintf(detail, cap, "timestep_spacing %s, diffusers used %s", spacing[cfg->timestep_spacing], sp);
        return TINV_ERR_INTERNAL;
    }
    if (pt && strcmp(pt, cfg->prediction_type == TI_PRED_V ? "v_prediction" : "epsilon") != 0) {
        snprintf(detail, cap, "prediction_type differs from diffusers' %s", pt);
        return TINV_ERR_INTERNAL;
    }
    return TINV_OK;
}

golden_result golden_scheduler(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    ti_sched_config cfg;
    if (golden_scheduler_config(set_dir, c, &cfg, detail, cap) != TINV_OK)
        return GOLDEN_FAIL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", set_dir, json_string_value(json_object_get(c, "file")));
    ti_safetensors *st = NULL;
    ti_scheduler *s = NULL;
    if (ti_safetensors_open(path, &st) != TINV_OK || ti_scheduler_create(&cfg, &s) != TINV_OK) {
        snprintf(detail, cap, "%s", tinv_last_error());
        ti_safetensors_close(st);
        return GOLDEN_FAIL;
    }
    json_t *tol = json_object_get(c, "tolerance");
    sched_cmp cm = {1e-5, 1e-7, 0, 0, 0};
    if (json_is_number(json_object_get(tol, "rtol")))
        cm.rtol = json_number_value(json_object_get(tol, "rtol"));
    if (json_is_number(json_object_get(tol, "atol")))
        cm.atol = json_number_value(json_object_get(tol, "atol"));
    size_t scope = ts_scope_begin();
    cmp_floats(&cm, "betas", s->betas, (size_t)s->T, st);
    cmp_floats(&cm, "alphas_cumprod", s->alphas_cumprod, (size_t)s->T, st);
    json_t *ns = json_object_get(json_object_get(c, "args"), "N");
    size_t i;
    json_t *nv;
    json_array_foreach(ns, i, nv) {
        int n = (int)json_integer_value(nv);
        char name[64];
        if (ti_scheduler_set_timesteps(s, n) != TINV_OK) {
            cm.failed = 1;
            fprintf(stderr, "    set_timesteps(%d): %s\n", n, tinv_last_error());
            continue;
        }
        size_t nref = 0;
        int is_int = 0;
        snprintf(name, sizeof name, "n%d.timesteps", n);
        double *ref = load_f64(st, name, &nref, &is_int);
        if (ref == NULL || nref != s->n_timesteps) {
            cm.failed = 1;
            fprintf(stderr, "    %s: %zu timesteps, expected %zu\n", name, s->n_timesteps, nref);
        } else {
            cmp_values(&cm, name, s->timesteps, ref, nref, is_int);
        }
        free(ref);
        snprintf(name, sizeof name, "n%d.sigmas", n);
        if (ti_safetensors_find(st, name) != NULL || s->sigmas != NULL)
            cmp_floats(&cm, name, s->sigmas, s->sigmas ? (size_t)n + 1 : 0, st);
        snprintf(name, sizeof name, "n%d.init_noise_sigma", n);
        cmp_floats(&cm, name, &s->init_noise_sigma, 1, st);
    }
    /* add_noise's t come from set_timesteps(10) for the σ schedulers. */
    ti_scheduler_set_timesteps(s, 10);
    ts_device cpu = {TS_CPU, 0};
    ts_tensor *x0 = NULL, *noise = NULL;
    size_t nt = 0;
    double *t = load_f64(st, "add_noise.t", &nt, NULL);
    if (t == NULL || ti_safetensors_load(st, "add_noise.x0", TS_F32, cpu, NULL, 0, &x0) != TINV_OK ||
        ti_safetensors_load(st, "add_noise.noise", TS_F32, cpu, NULL, 0, &noise) != TINV_OK) {
        cm.failed = 1;
        fprintf(stderr, "    add_noise inputs: %s\n", tinv_last_error());
    } else {
        cmp_tensor(&cm, "output.add_noise", ti_scheduler_add_noise(s, x0, noise, t, nt), st);
        if (ti_safetensors_find(st, "output.velocity") != NULL)
            cmp_tensor(&cm, "output.velocity", ti_scheduler_get_velocity(s, x0, noise, t, nt), st);
    }
    free(t);
    ts_scope_end(scope);
    ti_scheduler_free(s);
    ti_safetensors_close(st);
    snprintf(detail, cap, "max_abs %.3g max_rel %.3g", cm.max_abs, cm.max_rel);
    return cm.failed ? GOLDEN_FAIL : GOLDEN_PASS;
}
