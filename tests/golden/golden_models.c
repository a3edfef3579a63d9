/* Golden components text_encoder, unet and vae: run the case's inputs through the public API and
 * compare every output tensor with max|x - ref| <= rtol_max * max|ref|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "safetensors.h"
#include "shim.h"
#include "tinv.h"

/* One model per set, loaded on first use and kept for the remaining cases. */
static tinv_model *cached_model;
static char cached_set[4096];

/* A set holds its model as a diffusers folder, or only as the single file that
 * cases.json's meta.model_source.model_file names (architecture then inferred). */
static void model_path(const char *set_dir, char *out, size_t cap)
{
    char index[4096], err[256];
    snprintf(index, sizeof index, "%s/model_index.json", set_dir);
    snprintf(out, cap, "%s", set_dir);
    FILE *f = fopen(index, "r");
    if (f != NULL) {
        fclose(f);
        return;
    }
    snprintf(index, sizeof index, "%s/golden/cases.json", set_dir);
    json_t *root = golden_load_json(index, err, sizeof err);
    const char *file = json_string_value(
        json_object_get(json_object_get(json_object_get(root, "meta"), "model_source"), "model_file"));
    if (file != NULL)
        snprintf(out, cap, file[0] == '/' ? "%s" : "%s/%s", file[0] == '/' ? file : set_dir, file);
    json_decref(root);
}

tinv_model *golden_model(const char *set_dir, char *detail, size_t cap)
{
    if (cached_model != NULL && strcmp(cached_set, set_dir) == 0)
        return cached_model;
    tinv_model_free(cached_model);
    cached_model = NULL;
    tinv_set_num_threads(0);
    char path[4096];
    model_path(set_dir, path, sizeof path);
    /* TINV_GOLDEN_DEVICE (e.g. "cuda:0") runs every case on another device. */
    const char *device = getenv("TINV_GOLDEN_DEVICE");
    tinv_options *opts = NULL;
    tinv_status st = tinv_options_create(&opts);
    if (st == TINV_OK && device != NULL && device[0] != '\0')
        st = tinv_options_set_device(opts, device);
    ts_set_allow_tf32(0); /* the fixtures' tolerances are float32's, not TF32's */
    if (st == TINV_OK)
        st = tinv_model_load(path, opts, &cached_model);
    tinv_options_free(opts);
    if (st != TINV_OK) {
        snprintf(detail, cap, "model load failed: %s", tinv_last_error());
        return NULL;
    }
    snprintf(cached_set, sizeof cached_set, "%s", set_dir);
    return cached_model;
}

void golden_model_release(void)
{
    tinv_model_free(cached_model);
    cached_model = NULL;
}

/* A float32 copy of tensor `name` (NULL if absent); *count gets its element count. */
static float *tensor_f32(ti_safetensors *st, const char *name, const ti_st_tensor **info)
{
    const ti_st_tensor *t = ti_safetensors_find(st, name);
    if (info)
        *info = t;
    if (t == NULL)
        return NULL;
    float *buf = malloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof *buf);
    if (buf != NULL && ti_st_to_f32(t, buf, (size_t)t->numel) != TINV_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

typedef struct compare_state {
    double worst_abs, worst_rel;
    int failed;
} compare_state;

static void compare(compare_state *s, const char *name, const float *x, const float *ref, size_t n, double rtol)
{
    double max_abs, max_ref;
    golden_max_error(x, ref, n, &max_abs, &max_ref);
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    if (rel > s->worst_rel) {
        s->worst_rel = rel;
        s->worst_abs = max_abs;
    }
    if (!(max_abs <= rtol * max_ref)) {
        s->failed = 1;
        fprintf(stderr, "    %s: max_abs %.3g > %.1g * max|ref| %.3g\n", name, max_abs, rtol, max_ref);
    }
}

static double case_rtol(json_t *c, double dflt)
{
    json_t *r = json_object_get(json_object_get(c, "tolerance"), "rtol_max");
    return json_is_number(r) ? json_number_value(r) : dflt;
}

static ti_safetensors *open_case(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", set_dir, json_string_value(json_object_get(c, "file")));
    ti_safetensors *st = NULL;
    if (ti_safetensors_open(path, &st) != TINV_OK)
        snprintf(detail, cap, "%s", tinv_last_error());
    return st;
}

/* `st` is TINV_OK after a run, or the failed call's status; -1 means the case file lacked tensors. */
#define MISSING_TENSORS ((tinv_status)-1)

static golden_result finish(compare_state *s, tinv_status st, char *detail, size_t cap)
{
    if (st == MISSING_TENSORS) {
        snprintf(detail, cap, "the case file lacks the expected input.* or output.* tensors");
        return GOLDEN_FAIL;
    }
    if (st != TINV_OK) {
        snprintf(detail, cap, "error: %s", tinv_last_error());
        return GOLDEN_FAIL;
    }
    snprintf(detail, cap, "max_abs %.3g max_rel %.3g", s->worst_abs, s->worst_rel);
    return s->failed ? GOLDEN_FAIL : GOLDEN_PASS;
}

static golden_result run_text_encoder(tinv_model *m, const char *set_dir, json_t *c, char *detail, size_t cap)
{
    ti_safetensors *st = m ? open_case(set_dir, c, detail, cap) : NULL;
    if (st == NULL)
        return GOLDEN_FAIL;
    const ti_st_tensor *ids_info, *hidden_info;
    float *ids_f = tensor_f32(st, "input.ids", &ids_info);
    float *ref_hidden = tensor_f32(st, "output.last_hidden_state", &hidden_info);
    float *ref_pooled = tensor_f32(st, "output.pooler_output", NULL);
    compare_state s = {0, 0, 0};
    tinv_status status = MISSING_TENSORS;
    if (ids_f && ref_hidden && ids_info->ndim == 2) {
        size_t batch = (size_t)ids_info->shape[0], len = (size_t)ids_info->shape[1];
        int64_t width = hidden_info->shape[2];
        int32_t *ids = malloc(batch * len * sizeof *ids);
        float *hidden = malloc((size_t)hidden_info->numel * sizeof *hidden);
        float *pooled = malloc(batch * (size_t)width * sizeof *pooled);
        for (size_t i = 0; ids && i < batch * len; i++)
            ids[i] = (int32_t)ids_f[i];
        status = tinv_model_encode_text(m, ids, batch, len, hidden, pooled);
        if (status == TINV_OK) {
            compare(&s, "last_hidden_state", hidden, ref_hidden, (size_t)hidden_info->numel, case_rtol(c, 1e-5));
            if (ref_pooled)
                compare(&s, "pooler_output", pooled, ref_pooled, batch * (size_t)width, case_rtol(c, 1e-5));
        }
        free(ids);
        free(hidden);
        free(pooled);
    }
    free(ids_f);
    free(ref_hidden);
    free(ref_pooled);
    ti_safetensors_close(st);
    return finish(&s, status, detail, cap);
}

static golden_result run_unet(tinv_model *m, const char *set_dir, json_t *c, char *detail, size_t cap)
{
    ti_safetensors *st = m ? open_case(set_dir, c, detail, cap) : NULL;
    if (st == NULL)
        return GOLDEN_FAIL;
    const ti_st_tensor *x_info, *ctx_info, *t_info;
    float *x = tensor_f32(st, "input.sample", &x_info);
    float *ctx = tensor_f32(st, "input.context", &ctx_info);
    float *t = tensor_f32(st, "input.timestep", &t_info);
    float *ref = tensor_f32(st, "output.sample", NULL);
    compare_state s = {0, 0, 0};
    tinv_status status = MISSING_TENSORS;
    if (x && ctx && t && ref && x_info->ndim == 4 && ctx_info->ndim == 3) {
        float *out = malloc((size_t)x_info->numel * sizeof *out);
        status = tinv_model_unet(m, x, (size_t)x_info->shape[0], (size_t)x_info->shape[2], (size_t)x_info->shape[3], t,
                                 (size_t)t_info->numel, ctx, (size_t)ctx_info->shape[1], out);
        if (status == TINV_OK)
            compare(&s, "sample", out, ref, (size_t)x_info->numel, case_rtol(c, 1e-5));
        free(out);
    }
    free(x);
    free(ctx);
    free(t);
    free(ref);
    ti_safetensors_close(st);
    return finish(&s, status, detail, cap);
}

static tinv_status vae_encode_case(tinv_model *m, ti_safetensors *st, json_t *c, compare_state *s)
{
    const ti_st_tensor *img_info, *mean_info;
    float *img = tensor_f32(st, "input.image", &img_info);
    float *ref_mean = tensor_f32(st, "output.mean", &mean_info);
    float *ref_logvar = tensor_f32(st, "output.logvar", NULL);
    float *ref_std = tensor_f32(st, "output.std", NULL);
    tinv_status status = MISSING_TENSORS;
    if (img && ref_mean && ref_logvar && img_info->ndim == 4) {
        size_t n = (size_t)mean_info->numel;
        float *mean = malloc(n * sizeof *mean), *logvar = malloc(n * sizeof *logvar), *std = malloc(n * sizeof *std);
        status = tinv_model_vae_encode(m, img, (size_t)img_info->shape[0], (size_t)img_info->shape[2],
                                       (size_t)img_info->shape[3], mean, logvar);
        if (status == TINV_OK) {
            double rtol = case_rtol(c, 5e-5);
            compare(s, "mean", mean, ref_mean, n, rtol);
            compare(s, "logvar", logvar, ref_logvar, n, rtol);
            for (size_t i = 0; i < n; i++)
                std[i] = expf(0.5f * logvar[i]);
            if (ref_std)
                compare(s, "std", std, ref_std, n, rtol);
        }
        free(mean);
        free(logvar);
        free(std);
    }
    free(img);
    free(ref_mean);
    free(ref_logvar);
    free(ref_std);
    return status;
}

static tinv_status vae_decode_case(tinv_model *m, ti_safetensors *st, json_t *c, compare_state *s)
{
    const ti_st_tensor *lat_info, *img_info;
    float *lat = tensor_f32(st, "input.latents", &lat_info);
    float *ref = tensor_f32(st, "output.image", &img_info);
    tinv_status status = MISSING_TENSORS;
    if (lat && ref && lat_info->ndim == 4) {
        float *img = malloc((size_t)img_info->numel * sizeof *img);
        status = tinv_model_vae_decode(m, lat, (size_t)lat_info->shape[0], (size_t)lat_info->shape[2],
                                       (size_t)lat_info->shape[3], img);
        if (status == TINV_OK)
            compare(s, "image", img, ref, (size_t)img_info->numel, case_rtol(c, 5e-5));
        free(img);
    }
    free(lat);
    free(ref);
    return status;
}

golden_result golden_vae(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    tinv_model *m = golden_model(set_dir, detail, cap);
    ti_safetensors *st = m ? open_case(set_dir, c, detail, cap) : NULL;
    if (st == NULL)
        return GOLDEN_FAIL;
    compare_state s = {0, 0, 0};
    tinv_status status = ti_safetensors_find(st, "input.image") ? vae_encode_case(m, st, c, &s)
                                                                : vae_decode_case(m, st, c, &s);
    ti_safetensors_close(st);
    return finish(&s, status, detail, cap);
}

golden_result golden_text_encoder(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    tinv_model *m = golden_model(set_dir, detail, cap);
    return m ? run_text_encoder(m, set_dir, c, detail, cap) : GOLDEN_FAIL;
}

golden_result golden_unet(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    tinv_model *m = golden_model(set_dir, detail, cap);
    return m ? run_unet(m, set_dir, c, detail, cap) : GOLDEN_FAIL;
}

/* single_file: load the case's original-layout checkpoint (with the set's configs when the set
 * has them, as its yaml-free non-standard sizes need) and rerun every text_encoder and unet case
 * of the set through it. */
golden_result golden_single_file(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    char path[4096], configs[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", set_dir, json_string_value(json_object_get(c, "file")));
    snprintf(configs, sizeof configs, "%s/unet/config.json", set_dir);
    tinv_options *opts = NULL;
    tinv_model *m = NULL;
    FILE *f = fopen(configs, "r");
    tinv_options_create(&opts);
    if (f != NULL) {
        fclose(f);
        tinv_options_set_config_dir(opts, set_dir);
    }
    tinv_status st = tinv_model_load(path, opts, &m);
    tinv_options_free(opts);
    if (st != TINV_OK) {
        snprintf(detail, cap, "load failed: %s", tinv_last_error());
        return GOLDEN_FAIL;
    }
    snprintf(configs, sizeof configs, "%s/golden/cases.json", set_dir);
    json_t *root = golden_load_json(configs, err, sizeof err);
    size_t i;
    json_t *other;
    int ran = 0, failed = 0;
    json_array_foreach(json_object_get(root, "cases"), i, other) {
        const char *comp = json_string_value(json_object_get(other, "component"));
        char sub[512] = "";
        golden_result r;
        if (comp != NULL && strcmp(comp, "text_encoder") == 0)
            r = run_text_encoder(m, set_dir, other, sub, sizeof sub);
        else if (comp != NULL && strcmp(comp, "unet") == 0)
            r = run_unet(m, set_dir, other, sub, sizeof sub);
        else
            continue;
        ran++;
        if (r != GOLDEN_PASS) {
            failed++;
            fprintf(stderr, "    single_file %s: %s\n", json_string_value(json_object_get(other, "name")), sub);
        }
    }
    json_decref(root);
    tinv_model_free(m);
    snprintf(detail, cap, "%d text_encoder/unet cases rerun from the single file, %d failed", ran, failed);
    return ran > 0 && failed == 0 ? GOLDEN_PASS : GOLDEN_FAIL;
}
