/* Golden component "pipeline": StableDiffusionPipeline end to end through the public sampler —
 * the case's prompt and negative prompt (their ids checked against input.*_ids), seed, steps,
 * guidance and size, the model's own scheduler; output.image (NHWC, [0,1]) and output.latents
 * compared with max|x − ref| ≤ rtol_max · max|ref|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "safetensors.h"
#include "tinv.h"

static int compare(ti_safetensors *st, const char *name, const float *x, size_t n, double rtol, double *worst_abs,
                   double *worst_rel)
{
    const ti_st_tensor *t = ti_safetensors_find(st, name);
    if (t == NULL || (size_t)t->numel != n) {
        fprintf(stderr, "    %s: missing or %lld values, expected %zu\n", name, t ? (long long)t->numel : -1LL, n);
        return 0;
    }
    float *ref = malloc(n * sizeof *ref);
    if (ref == NULL || ti_st_to_f32(t, ref, n) != TINV_OK) {
        free(ref);
        return 0;
    }
    double max_abs, max_ref;
    golden_max_error(x, ref, n, &max_abs, &max_ref);
    free(ref);
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    if (rel > *worst_rel) {
        *worst_rel = rel;
        *worst_abs = max_abs;
    }
    fprintf(stderr, "    %s: max_abs %.3g (max|ref| %.3g)\n", name, max_abs, max_ref);
    if (!(max_abs <= rtol * max_ref)) {
        fprintf(stderr, "    %s: max_abs %.3g > %.1g * max|ref| %.3g\n", name, max_abs, rtol, max_ref);
        return 0;
    }
    return 1;
}

/* The ids the tokenizer gives `text` must equal the case's `name` tensor. */
static int check_ids(ti_safetensors *st, tinv_tokenizer *tok, const char *name, const char *text)
{
    const ti_st_tensor *t = ti_safetensors_find(st, name);
    int32_t ids[1024];
    size_t n = 0;
    if (t == NULL || t->numel > 1024 || tinv_tokenizer_encode(tok, text, 1, ids, 1024, &n, NULL) != TINV_OK ||
        (int64_t)n != t->numel)
        return 0;
    float ref[1024];
    if (ti_st_to_f32(t, ref, n) != TINV_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((int32_t)ref[i] != ids[i]) {
            fprintf(stderr, "    %s[%zu]: %d, expected %d\n", name, i, ids[i], (int)ref[i]);
            return 0;
        }
    return 1;
}

golden_result golden_pipeline(const char *set_dir, json_t *c, char *detail, size_t cap)
{
    tinv_model *m = golden_model(set_dir, detail, cap);
    if (m == NULL)
        return GOLDEN_FAIL;
    json_t *args = json_object_get(c, "args");
    const char *prompt = json_string_value(json_object_get(args, "prompt"));
    const char *negative = json_string_value(json_object_get(args, "negative_prompt"));
    int steps = (int)json_integer_value(json_object_get(args, "num_inference_steps"));
    double guidance = json_number_value(json_object_get(args, "guidance_scale"));
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(args, "seed"));
    int width = (int)json_integer_value(json_object_get(args, "width"));
    int height = (int)json_integer_value(json_object_get(args, "height"));
    double rtol = 1e-4;
    json_t *r = json_object_get(json_object_get(c, "tolerance"), "rtol_max");
    if (json_is_number(r))
        rtol = json_number_value(r);
    if (prompt == NULL || negative == NULL || steps < 1) {
        snprintf(detail, cap, "the case lacks args.prompt / negative_prompt / num_inference_steps");
        return GOLDEN_FAIL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", set_dir, json_string_value(json_object_get(c, "file")));
    ti_safetensors *st = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_sampler *s = NULL;
    float *image = NULL, *lat = NULL;
    golden_result result = GOLDEN_FAIL;
    int64_t C = 0, f = 0;
    if (ti_safetensors_open(path, &st) != TINV_OK || tinv_tokenizer_load(set_dir, NULL, &tok) != TINV_OK ||
        tinv_model_get_int(m, TINV_MODEL_LATENT_CHANNELS, &C) != TINV_OK ||
        tinv_model_get_int(m, TINV_MODEL_VAE_SCALE_FACTOR, &f) != TINV_OK ||
        tinv_sampler_create(m, tok, &s) != TINV_OK || tinv_sampler_set_prompt(s, prompt) != TINV_OK ||
        tinv_sampler_set_negative_prompt(s, negative) != TINV_OK || tinv_sampler_set_steps(s, steps) != TINV_OK ||
        tinv_sampler_set_guidance(s, guidance) != TINV_OK || tinv_sampler_set_seed(s, seed) != TINV_OK ||
        tinv_sampler_set_size(s, width, height) != TINV_OK) {
        snprintf(detail, cap, "setup: %s", tinv_last_error());
        goto done;
    }
    if (!check_ids(st, tok, "input.prompt_ids", prompt) || !check_ids(st, tok, "input.negative_prompt_ids", negative)) {
        snprintf(detail, cap, "the tokenizer's ids differ from input.prompt_ids / input.negative_prompt_ids");
        goto done;
    }
    size_t n_img = (size_t)width * (size_t)height * 3, n_lat = (size_t)(C * (height / f) * (width / f));
    image = malloc(n_img * sizeof *image);
    lat = malloc(n_lat * sizeof *lat);
    if (image == NULL || lat == NULL || tinv_sampler_run_float(s, image, lat) != TINV_OK) {
        snprintf(detail, cap, "run: %s", tinv_last_error());
        goto done;
    }
    double worst_abs = 0, worst_rel = 0;
    int ok = compare(st, "output.image", image, n_img, rtol, &worst_abs, &worst_rel);
    ok &= compare(st, "output.latents", lat, n_lat, rtol, &worst_abs, &worst_rel);
    snprintf(detail, cap, "max_abs %.3g max_rel %.3g", worst_abs, worst_rel);
    result = ok ? GOLDEN_PASS : GOLDEN_FAIL;
done:
    free(image);
    free(lat);
    tinv_sampler_free(s);
    tinv_tokenizer_free(tok);
    ti_safetensors_close(st);
    return result;
}
