/* Scheduler configuration: diffusers' scheduler_config.json read the way `<Class>.from_config`
 * reads it — the class's own defaults, overridden only by the keys that class accepts (Q9). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "scheduler.h"

static const struct {
    const char *short_name, *class_name;
} kind_names[TI_SCHED_KIND_COUNT] = {
    [TI_SCHED_DDIM] = {"ddim", "DDIMScheduler"},
    [TI_SCHED_PNDM] = {"pndm", "PNDMScheduler"},
    [TI_SCHED_EULER] = {"euler", "EulerDiscreteScheduler"},
    [TI_SCHED_EULER_ANCESTRAL] = {"euler_ancestral", "EulerAncestralDiscreteScheduler"},
    [TI_SCHED_DPMPP_2M] = {"dpmpp_2m", "DPMSolverMultistepScheduler"},
    [TI_SCHED_LMS] = {"lms", "LMSDiscreteScheduler"},
    [TI_SCHED_DDPM] = {"ddpm", "DDPMScheduler"},
};

const char *ti_sched_kind_name(ti_sched_kind kind)
{
    return kind >= 0 && kind < TI_SCHED_KIND_COUNT ? kind_names[kind].short_name : "unknown";
}

tinv_status ti_sched_kind_parse(const char *name, ti_sched_kind *out)
{
    TI_REQUIRE(name);
    TI_REQUIRE(out);
    for (int k = 0; k < TI_SCHED_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k].short_name) == 0 || strcmp(name, kind_names[k].class_name) == 0) {
            *out = (ti_sched_kind)k;
            return TINV_OK;
        }
    return ti_error(TINV_ERR_UNSUPPORTED, "unsupported scheduler '%s'", name);
}

int ti_sched_has_sigmas(ti_sched_kind kind)
{
    return kind == TI_SCHED_EULER || kind == TI_SCHED_EULER_ANCESTRAL || kind == TI_SCHED_LMS ||
           kind == TI_SCHED_DPMPP_2M;
}

void ti_sched_config_defaults(ti_sched_kind kind, ti_sched_config *c)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->num_train_timesteps = 1000;
    c->beta_start = 0.0001;
    c->beta_end = 0.02;
    c->beta_schedule = TI_BETA_LINEAR;
    c->steps_offset = 0;
    /* DDIM defaults to ᾱ_final = 1 and x0 clipping; PNDM to ᾱ[0] and no clipping. */
    c->set_alpha_to_one = kind == TI_SCHED_DDIM;
    c->clip_sample = kind == TI_SCHED_DDIM || kind == TI_SCHED_DDPM;
    c->clip_sample_range = 1.0;
    c->prediction_type = TI_PRED_EPSILON;
    c->timestep_spacing = (kind == TI_SCHED_DDIM || kind == TI_SCHED_PNDM || kind == TI_SCHED_DDPM)
                              ? TI_SPACING_LEADING
                              : TI_SPACING_LINSPACE;
    c->solver_order = 2;
    c->lower_order_final = 1;
    c->s_churn = 0.0;
    c->s_tmin = 0.0;
    c->s_tmax = INFINITY;
    c->s_noise = 1.0;
}

/* Which classes accept a key (diffusers ignores keys the class's __init__ lacks). */
#define K(k) (1u << (k))
#define ALL_KINDS 0x7fu
enum {
    KM_DDIM = K(TI_SCHED_DDIM), KM_PNDM = K(TI_SCHED_PNDM), KM_EULER = K(TI_SCHED_EULER),
    KM_EULER_A = K(TI_SCHED_EULER_ANCESTRAL), KM_DPM = K(TI_SCHED_DPMPP_2M), KM_LMS = K(TI_SCHED_LMS),
    KM_DDPM = K(TI_SCHED_DDPM)
};

typedef struct parse_ctx {
    const char *label;
    ti_sched_config *c;
} parse_ctx;

static tinv_status bad(const parse_ctx *p, const char *key, const char *what)
{
    return ti_error(TINV_ERR_BAD_FORMAT, "%s: scheduler config key '%s' %s", p->label, key, what);
}

static tinv_status unsupported(const parse_ctx *p, const char *key, const char *value)
{
    return ti_error(TINV_ERR_UNSUPPORTED, "%s: scheduler %s does not support %s = %s", p->label,
                    ti_sched_kind_name(p->c->kind), key, value);
}

static tinv_status get_bool(const parse_ctx *p, const char *key, json_t *v, int *out)
{
    if (!json_is_boolean(v))
        return bad(p, key, "must be true or false");
    *out = json_is_true(v);
    return TINV_OK;
}

static tinv_status get_int(const parse_ctx *p, const char *key, json_t *v, long lo, long hi, int *out)
{
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : NAN;
    if (!(d == floor(d)) || d < lo || d > hi) {
        char what[96];
        snprintf(what, sizeof what, "must be an integer in [%ld, %ld]", lo, hi);
        return bad(p, key, what);
    }
    *out = (int)d;
    return TINV_OK;
}

static tinv_status get_number(const parse_ctx *p, const char *key, json_t *v, double *out)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return bad(p, key, "must be a finite number");
    *out = json_number_value(v);
    return TINV_OK;
}

static tinv_status get_string(const parse_ctx *p, const char *key, json_t *v, const char **out)
{
    if (!json_is_string(v))
        return bad(p, key, "must be a string");
    *out = json_string_value(v);
    return TINV_OK;
}

/* A boolean option this library does not implement: only its default (false) is accepted. */
static tinv_status must_be_false(const parse_ctx *p, const char *key, json_t *v)
{
    int on = 0;
    if (json_is_null(v))
        return TINV_OK;
    TI_TRY(get_bool(p, key, v, &on));
    return on ? unsupported(p, key, "true") : TINV_OK;
}

static tinv_status apply_key(const parse_ctx *p, const char *key, json_t *v)
{
    ti_sched_config *c = p->c;
    unsigned me = K(c->kind);
    const char *s = NULL;
    if (strcmp(key, "num_train_timesteps") == 0)
        return get_int(p, key, v, 2, 100000, &c->num_train_timesteps);
    if (strcmp(key, "beta_start") == 0 || strcmp(key, "beta_end") == 0) {
        double *dst = key[5] == 's' ? &c->beta_start : &c->beta_end;
        TI_TRY(get_number(p, key, v, dst));
        return *dst >= 0 && *dst < 1 ? TINV_OK : bad(p, key, "must be in [0, 1)");
    }
    if (strcmp(key, "beta_schedule") == 0) {
        TI_TRY(get_string(p, key, v, &s));
        if (strcmp(s, "linear") == 0)
            c->beta_schedule = TI_BETA_LINEAR;
        else if (strcmp(s, "scaled_linear") == 0)
            c->beta_schedule = TI_BETA_SCALED_LINEAR;
        else
            return unsupported(p, key, s);
        return TINV_OK;
    }
    if (strcmp(key, "trained_betas") == 0)
        return json_is_null(v) ? TINV_OK : unsupported(p, key, "an explicit list");
    if (strcmp(key, "steps_offset") == 0)
        return get_int(p, key, v, 0, 100000, &c->steps_offset);
    if (strcmp(key, "prediction_type") == 0) {
        TI_TRY(get_string(p, key, v, &s));
        if (strcmp(s, "epsilon") == 0)
            c->prediction_type = TI_PRED_EPSILON;
        else if (strcmp(s, "v_prediction") == 0)
            c->prediction_type = TI_PRED_V;
        else
            return unsupported(p, key, s);
        return TINV_OK;
    }
    if (strcmp(key, "timestep_spacing") == 0) {
        TI_TRY(get_string(p, key, v, &s));
        if (strcmp(s, "leading") == 0)
            c->timestep_spacing = TI_SPACING_LEADING;
        else if (strcmp(s, "linspace") == 0)
            c->timestep_spacing = TI_SPACING_LINSPACE;
        else if (strcmp(s, "trailing") == 0)
            c->timestep_spacing = TI_SPACING_TRAILING;
        else
            return bad(p, key, "must be \"leading\", \"linspace\" or \"trailing\"");
        return TINV_OK;
    }
    if (strcmp(key, "set_alpha_to_one") == 0)
        return me & (KM_DDIM | KM_PNDM) ? get_bool(p, key, v, &c->set_alpha_to_one) : TINV_OK;
    if (strcmp(key, "clip_sample") == 0)
        return me & (KM_DDIM | KM_DDPM) ? get_bool(p, key, v, &c->clip_sample) : TINV_OK;
    if (strcmp(key, "clip_sample_range") == 0) {
        if (!(me & (KM_DDIM | KM_DDPM)))
            return TINV_OK;
        TI_TRY(get_number(p, key, v, &c->clip_sample_range));
        return c->clip_sample_range > 0 ? TINV_OK : bad(p, key, "must be positive");
    }
    if (strcmp(key, "thresholding") == 0)
        return me & (KM_DDIM | KM_DDPM | KM_DPM) ? must_be_false(p, key, v) : TINV_OK;
    if (strcmp(key, "rescale_betas_zero_snr") == 0)
        return me & (KM_DDIM | KM_DDPM | KM_EULER | KM_EULER_A | KM_DPM) ? must_be_false(p, key, v) : TINV_OK;
    if (strcmp(key, "use_lu_lambdas") == 0)
        return me & KM_DPM ? must_be_false(p, key, v) : TINV_OK;
    if (strcmp(key, "skip_prk_steps") == 0) {
        int on = 0;
        if (!(me & KM_PNDM))
            return TINV_OK;
        TI_TRY(get_bool(p, key, v, &on));
        /* Runge–Kutta warm-up steps are not implemented; SD configs all skip them. */
        return on ? TINV_OK : unsupported(p, key, "false");
    }
    if (strcmp(key, "use_karras_sigmas") == 0) {
        if (!(me & (KM_EULER | KM_LMS | KM_DPM)))
            return TINV_OK;
        if (json_is_null(v))
            return TINV_OK;
        TI_TRY(get_bool(p, key, v, &c->use_karras_sigmas));
        return c->use_karras_sigmas && !(me & KM_DPM) ? unsupported(p, key, "true") : TINV_OK;
    }
    if (strcmp(key, "interpolation_type") == 0) {
        if (!(me & KM_EULER))
            return TINV_OK;
        TI_TRY(get_string(p, key, v, &s));
        return strcmp(s, "linear") == 0 ? TINV_OK : unsupported(p, key, s);
    }
    if (strcmp(key, "timestep_type") == 0) {
        if (!(me & KM_EULER))
            return TINV_OK;
        TI_TRY(get_string(p, key, v, &s));
        return strcmp(s, "discrete") == 0 ? TINV_OK : unsupported(p, key, s);
    }
    if (strcmp(key, "algorithm_type") == 0) {
        if (!(me & KM_DPM))
            return TINV_OK;
        TI_TRY(get_string(p, key, v, &s));
        return strcmp(s, "dpmsolver++") == 0 ? TINV_OK : unsupported(p, key, s);
    }
    if (strcmp(key, "solver_type") == 0) {
        if (!(me & KM_DPM))
            return TINV_OK;
        TI_TRY(get_string(p, key, v, &s));
        return strcmp(s, "midpoint") == 0 ? TINV_OK : unsupported(p, key, s);
    }
    if (strcmp(key, "solver_order") == 0) {
        if (!(me & KM_DPM))
            return TINV_OK;
        TI_TRY(get_int(p, key, v, 1, 3, &c->solver_order));
        return c->solver_order <= 2 ? TINV_OK : unsupported(p, key, "3");
    }
    if (strcmp(key, "lower_order_final") == 0)
        return me & KM_DPM ? get_bool(p, key, v, &c->lower_order_final) : TINV_OK;
    if (strcmp(key, "euler_at_final") == 0)
        return me & KM_DPM ? get_bool(p, key, v, &c->euler_at_final) : TINV_OK;
    if (strcmp(key, "variance_type") == 0) {
        if (!(me & (KM_DDPM | KM_DPM)) || json_is_null(v))
            return TINV_OK;
        TI_TRY(get_string(p, key, v, &s));
        if (me & KM_DDPM)
            return strcmp(s, "fixed_small") == 0 ? TINV_OK : unsupported(p, key, s);
        /* DPM only reads it for learned-variance models (the output has 2x the channels). */
        return strncmp(s, "learned", 7) == 0 ? unsupported(p, key, s) : TINV_OK;
    }
    return TINV_OK; /* other keys (_class_name, sigma_min, ...) do not change these schedulers */
}

static tinv_status apply_object(const parse_ctx *p, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        TI_TRY(apply_key(p, key, v));
    }
    return TINV_OK;
}

tinv_status ti_sched_config_parse(const char *json_text, size_t len, const char *label, ti_sched_kind kind,
                                  const char *extra, ti_sched_config *out)
{
    TI_REQUIRE(json_text);
    TI_REQUIRE(out);
    if (label == NULL)
        label = "scheduler_config.json";
    json_error_t jerr;
    json_t *root = json_loadb(json_text, len, 0, &jerr);
    if (root == NULL)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s:%d: %s", label, jerr.line, jerr.text);
    tinv_status st = TINV_OK;
    json_t *ex = NULL;
    if (!json_is_object(root)) {
        st = ti_error(TINV_ERR_BAD_FORMAT, "%s: expected a JSON object", label);
        goto done;
    }
    if (kind == TI_SCHED_FROM_CONFIG) {
        const char *cls = json_string_value(json_object_get(root, "_class_name"));
        if (cls == NULL) {
            st = ti_error(TINV_ERR_BAD_FORMAT, "%s: no _class_name to pick the scheduler from", label);
            goto done;
        }
        st = ti_sched_kind_parse(cls, &kind);
        if (st != TINV_OK) {
            ti_error_prefix("%s: ", label);
            goto done;
        }
    } else if (kind < 0 || kind >= TI_SCHED_KIND_COUNT) {
        st = ti_error(TINV_ERR_INVALID_ARGUMENT, "ti_sched_config_parse: bad scheduler kind %d", (int)kind);
        goto done;
    }
    ti_sched_config c;
    ti_sched_config_defaults(kind, &c);
    parse_ctx p = {label, &c};
    st = apply_object(&p, root);
    if (st == TINV_OK && extra != NULL) {
        ex = json_loads(extra, 0, &jerr);
        if (!json_is_object(ex)) {
            st = ti_error(TINV_ERR_INVALID_ARGUMENT, "scheduler options: expected a JSON object (%s)", jerr.text);
            goto done;
        }
        parse_ctx pe = {"scheduler options", &c};
        st = apply_object(&pe, ex);
    }
    if (st == TINV_OK && c.beta_end < c.beta_start)
        st = ti_error(TINV_ERR_BAD_FORMAT, "%s: beta_end (%g) is below beta_start (%g)", label, c.beta_end,
                      c.beta_start);
    if (st == TINV_OK)
        *out = c;
done:
    json_decref(ex);
    json_decref(root);
    return st;
}

tinv_status ti_sched_config_load(const char *path, ti_sched_kind kind, const char *extra, ti_sched_config *out)
{
    TI_REQUIRE(path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return ti_error(TINV_ERR_IO, "cannot open %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (size_t)16 << 20) {
                free(buf);
                fclose(f);
                return ti_error(TINV_ERR_BAD_FORMAT, "%s: too large for a scheduler config", path);
            }
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return ti_error(TINV_ERR_OUT_OF_MEMORY, "reading %s", path);
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return ti_error(TINV_ERR_IO, "cannot read %s", path);
    }
    tinv_status st = ti_sched_config_parse(buf ? buf : "", len, path, kind, extra, out);
    free(buf);
    return st;
}
