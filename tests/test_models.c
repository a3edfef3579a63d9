/* Model loading and forward-pass API: bad inputs give clear statuses, never crashes or half-loaded
 * handles, and no tensor handle outlives the model. Uses a scratch copy of the sd1-tiny fixture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "safetensors.h"
#include "shim.h"
#include "tinv.h"

static char scratch[512]; /* a private copy of sd1-tiny, mutated by the tests */
static char fixture[512];

static int sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd);
}

static void fresh_copy(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", scratch, fixture, scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "    could not copy the fixture: %s\n", cmd);
}

/* Rewrite `file` (relative to the scratch model), passing each tensor through `edit`, which may
 * drop it (return 0) or change its shape/data in the entry. */
typedef int (*edit_fn)(ti_st_entry *e, void *scratch_buf);

static tinv_status rewrite(const char *file, edit_fn edit)
{
    char path[1024], out[1024];
    snprintf(path, sizeof path, "%s/%s", scratch, file);
    snprintf(out, sizeof out, "%s.new", path);
    ti_safetensors *st;
    tinv_status status = ti_safetensors_open(path, &st);
    if (status != TINV_OK)
        return status;
    size_t n = ti_safetensors_count(st), kept = 0;
    ti_st_entry *entries = calloc(n, sizeof *entries);
    int64_t (*shapes)[TI_ST_MAX_DIMS] = calloc(n, sizeof *shapes);
    void **bufs = calloc(n, sizeof *bufs);
    for (size_t i = 0; i < n; i++) {
        const ti_st_tensor *t = ti_safetensors_at(st, i);
        memcpy(shapes[kept], t->shape, sizeof t->shape);
        bufs[kept] = malloc(t->nbytes + 1);
        memcpy(bufs[kept], t->data, t->nbytes);
        entries[kept] = (ti_st_entry){t->name, t->dtype, t->ndim, shapes[kept], bufs[kept]};
        if (edit(&entries[kept], bufs[kept]))
            kept++;
        else
            free(bufs[kept]);
    }
    status = ti_safetensors_write(out, entries, kept, NULL, 0);
    ti_safetensors_close(st);
    for (size_t i = 0; i < kept; i++)
        free(bufs[i]);
    free(entries), free(shapes), free(bufs);
    if (status == TINV_OK && rename(out, path) != 0)
        status = TINV_ERR_IO;
    return status;
}

static int drop_mid_attention_query(ti_st_entry *e, void *buf)
{
    (void)buf;
    return strcmp(e->name, "decoder.mid_block.attentions.0.to_q.weight") != 0;
}

static int shrink_conv_in(ti_st_entry *e, void *buf)
{
    (void)buf;
    if (strcmp(e->name, "conv_in.weight") == 0) {
        ((int64_t *)e->shape)[2] = 1; /* [32,4,3,3] -> [32,4,1,1] (data is simply shorter) */
        ((int64_t *)e->shape)[3] = 1;
    }
    return 1;
}

static int poison_final_norm(ti_st_entry *e, void *buf)
{
    if (strcmp(e->name, "text_model.final_layer_norm.weight") == 0)
        ((float *)buf)[3] = 0.0f / 0.0f;
    return 1;
}

static tinv_status load_scratch(tinv_model **m)
{
    *m = (tinv_model *)1; /* must be reset to NULL on failure */
    return tinv_model_load(scratch, NULL, m);
}

static void test_valid_model_loads_runs_and_frees_every_tensor(void)
{
    long before = ts_live_tensors();
    tinv_model *m = NULL;
    CHECK(tinv_model_load(fixture, NULL, &m) == TINV_OK);
    int64_t w = 0, f = 0, mult = 0;
    CHECK(tinv_model_get_int(m, TINV_MODEL_TEXT_HIDDEN_SIZE, &w) == TINV_OK && w == 32);
    CHECK(tinv_model_get_int(m, TINV_MODEL_VAE_SCALE_FACTOR, &f) == TINV_OK && f == 8);
    CHECK(tinv_model_get_int(m, TINV_MODEL_UNET_SIZE_MULTIPLE, &mult) == TINV_OK && mult == 8);
    CHECK(tinv_model_get_int(m, (tinv_model_property)99, &w) == TINV_ERR_INVALID_ARGUMENT);
    double scale = 0;
    CHECK(tinv_model_get_vae_scaling_factor(m, &scale) == TINV_OK && scale > 0.18 && scale < 0.19);

    /* Bad forward arguments are refused before any work. */
    float x[2 * 4 * 8 * 8] = {0}, y[2 * 4 * 8 * 8], ctx[2 * 3 * 32] = {0}, t[3] = {1, 2, 3};
    CHECK(tinv_model_unet(m, x, 2, 8, 8, t, 3, ctx, 3, y) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "n_timesteps") != NULL);
    CHECK(tinv_model_unet(m, x, 1, 12, 8, t, 1, ctx, 3, y) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_unet(m, x, 0, 8, 8, t, 1, ctx, 3, y) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_unet(m, NULL, 1, 8, 8, t, 1, ctx, 3, y) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_unet(m, x, 2, 8, 8, t, 1, ctx, 3, y) == TINV_OK);
    int32_t ids[3] = {49406, 49408, 49407};
    float hidden[3 * 32];
    CHECK(tinv_model_encode_text(m, ids, 1, 3, hidden, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "49408") != NULL);
    CHECK(tinv_model_encode_text(m, ids, 1, 78, hidden, NULL) == TINV_ERR_INVALID_ARGUMENT);
    ids[1] = 320;
    CHECK(tinv_model_encode_text(m, ids, 1, 3, hidden, NULL) == TINV_OK);
    float img[3 * 8 * 12], mean[4], logvar[4];
    CHECK(tinv_model_vae_encode(m, img, 1, 8, 12, mean, logvar) == TINV_ERR_INVALID_ARGUMENT);
    tinv_model_free(m);
    tinv_model_free(NULL);
    CHECK(ts_live_tensors() == before);
}

static void test_unknown_block_type_is_unsupported(void)
{
    fresh_copy();
    CHECK(sh("sed -i 's/\"DownBlock2D\"/\"KDownBlock2D\"/' '%s/unet/config.json'%s", scratch, "") == 0);
    tinv_model *m;
    CHECK(load_scratch(&m) == TINV_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK(strstr(tinv_last_error(), "KDownBlock2D") != NULL);
    CHECK(strstr(tinv_last_error(), "unet/config.json") != NULL);
}

static void test_missing_weight_is_named(void)
{
    fresh_copy();
    CHECK(rewrite("vae/diffusion_pytorch_model.safetensors", drop_mid_attention_query) == TINV_OK);
    tinv_model *m;
    CHECK(load_scratch(&m) == TINV_ERR_BAD_FORMAT);
    CHECK(m == NULL);
    CHECK(strstr(tinv_last_error(), "decoder.mid_block.attentions.0.to_q") != NULL);
}

static void test_wrong_shape_is_named(void)
{
    fresh_copy();
    CHECK(rewrite("unet/diffusion_pytorch_model.safetensors", shrink_conv_in) == TINV_OK);
    tinv_model *m;
    CHECK(load_scratch(&m) == TINV_ERR_BAD_FORMAT);
    CHECK(strstr(tinv_last_error(), "conv_in.weight") != NULL);
    CHECK(strstr(tinv_last_error(), "[32, 4, 1, 1]") != NULL);
}

static void test_nan_weight_is_reported(void)
{
    fresh_copy();
    CHECK(rewrite("text_encoder/model.safetensors", poison_final_norm) == TINV_OK);
    tinv_model *m;
    CHECK(load_scratch(&m) == TINV_ERR_NUMERIC);
    CHECK(strstr(tinv_last_error(), "final_layer_norm.weight") != NULL);
}

static void test_truncated_file_and_pickles_and_missing_folder(void)
{
    fresh_copy();
    CHECK(sh("truncate -s 1000 '%s/unet/diffusion_pytorch_model.safetensors'%s", scratch, "") == 0);
    tinv_model *m;
    CHECK(load_scratch(&m) == TINV_ERR_BAD_FORMAT);
    CHECK(strstr(tinv_last_error(), "diffusion_pytorch_model.safetensors") != NULL);
    CHECK(sh("mv '%s/unet/diffusion_pytorch_model.safetensors' '%s/unet/diffusion_pytorch_model.bin'", scratch,
             scratch) == 0);
    CHECK(load_scratch(&m) == TINV_ERR_UNSUPPORTED);
    CHECK(strstr(tinv_last_error(), "pickle") != NULL);
    CHECK(tinv_model_load("/nonexistent/model", NULL, &m) == TINV_ERR_IO && m == NULL);
    CHECK(tinv_model_load(NULL, NULL, &m) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_load(scratch, NULL, NULL) == TINV_ERR_INVALID_ARGUMENT);
}

static void test_reduced_precision_on_cpu(void)
{
    tinv_options *o = NULL;
    tinv_model *m = NULL;
    CHECK(tinv_options_create(&o) == TINV_OK);
    CHECK(tinv_options_set_dtype(o, TINV_DTYPE_FP16) == TINV_OK);
    CHECK(tinv_model_load(fixture, o, &m) == TINV_ERR_UNSUPPORTED && m == NULL);
    CHECK(strstr(tinv_last_error(), "bf16") != NULL);
    /* bf16 runs on the CPU and stays close to the fp32 result. */
    CHECK(tinv_options_set_dtype(o, TINV_DTYPE_BF16) == TINV_OK);
    CHECK(tinv_model_load(fixture, o, &m) == TINV_OK);
    tinv_model *ref = NULL;
    CHECK(tinv_model_load(fixture, NULL, &ref) == TINV_OK);
    static float x[4 * 16 * 16], y[4 * 16 * 16], y_ref[4 * 16 * 16], ctx[77 * 32];
    for (int i = 0; i < 4 * 16 * 16; i++)
        x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    for (int i = 0; i < 77 * 32; i++)
        ctx[i] = (float)((i * 11) % 13) / 6.0f - 1.0f;
    float t = 500;
    CHECK(tinv_model_unet(m, x, 1, 16, 16, &t, 1, ctx, 77, y) == TINV_OK);
    CHECK(tinv_model_unet(ref, x, 1, 16, 16, &t, 1, ctx, 77, y_ref) == TINV_OK);
    double max_diff = 0, max_ref = 0;
    for (int i = 0; i < 4 * 16 * 16; i++) {
        double d = y[i] > y_ref[i] ? y[i] - y_ref[i] : y_ref[i] - y[i];
        max_diff = d > max_diff ? d : max_diff;
        max_ref = (y_ref[i] > 0 ? y_ref[i] : -y_ref[i]) > max_ref ? (y_ref[i] > 0 ? y_ref[i] : -y_ref[i]) : max_ref;
    }
    printf("    bf16 vs fp32 UNet: max rel error %.3g\n", max_diff / max_ref);
    CHECK(max_diff <= 0.1 * max_ref); /* bf16 keeps 8 bits of mantissa */
    tinv_model_free(m);
    tinv_model_free(ref);
    tinv_options_free(o);
}

int main(void)
{
    const char *fixtures = check_fixtures_dir();
    if (fixtures == NULL) {
        check_skip("models", "fixtures not found (set TINV_FIXTURES)");
        if (check_ci()) {
            printf("models: 0 passed, 1 failed (fixtures are required under CI)\n");
            return 1;
        }
        return check_summary("models");
    }
    snprintf(fixture, sizeof fixture, "%s/sd1-tiny", fixtures);
    char tmpl[] = "/tmp/tinv-models-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return 1;
    snprintf(scratch, sizeof scratch, "%s/copy", tmpl);
    tinv_set_num_threads(0);
    RUN(test_valid_model_loads_runs_and_frees_every_tensor);
    RUN(test_unknown_block_type_is_unsupported);
    RUN(test_missing_weight_is_named);
    RUN(test_wrong_shape_is_named);
    RUN(test_nan_weight_is_reported);
    RUN(test_truncated_file_and_pickles_and_missing_folder);
    RUN(test_reduced_precision_on_cpu);
    sh("rm -rf '%s'%s", tmpl, "");
    return check_summary("models");
}
