/* Embedding files: every layout the reader accepts, every kind of file it must refuse (pickles by
 * name and by content, SDXL, unknown layouts, NaN), writer -> reader round trips in both formats,
 * and loading/saving learned tokens through the sd1-tiny fixture (text width 32). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "embedding_file.h"
#include "error.h"
#include "safetensors.h"
#include "shim.h"
#include "tinv.h"

static char tmpdir[] = "/tmp/tinv_emb_XXXXXX";
static char fixture[512];

/* Write one tensor (plus optional metadata) to tmpdir/name and return the path. */
static const char *write_one(const char *name, const char *key, ti_st_dtype dtype, int ndim, const int64_t *shape,
                             const void *data, const char *const *meta, size_t n_meta)
{
    const char *path = check_tmp_path(tmpdir, name);
    ti_st_entry e = {key, dtype, ndim, shape, data};
    return ti_safetensors_write(path, &e, 1, meta, n_meta) == TINV_OK ? path : NULL;
}

/* 1 when `status` and the last error match, printing what came back otherwise. */
static int expect(tinv_status status, tinv_status want, const char *needle1, const char *needle2)
{
    const char *msg = tinv_last_error();
    int ok = status == want && (needle1 == NULL || strstr(msg, needle1) != NULL) &&
             (needle2 == NULL || strstr(msg, needle2) != NULL);
    if (!ok)
        fprintf(stderr, "    status %d (want %d), message: %s\n", (int)status, (int)want, msg);
    return ok;
}

static void fill(float *v, size_t n, float seed)
{
    for (size_t i = 0; i < n; i++)
        v[i] = seed + (float)i * 0.125f - (float)(i % 3) * 1.5f;
}

/* ---- layouts read ---------------------------------------------------------------------- */

static void test_diffusers_single_key_2d(void)
{
    float v[2 * 8];
    fill(v, 16, 0.5f);
    const char *meta[] = {"format", "pt"};
    const char *path =
        write_one("learned_embeds.safetensors", "<cat-toy>", TI_ST_F32, 2, (int64_t[]){2, 8}, v, meta, 1);
    CHECK(path != NULL);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    int ok = e.key && strcmp(e.key, "<cat-toy>") == 0 && e.meta_name == NULL && e.num_vectors == 2 && e.dim == 8 &&
             memcmp(e.vectors, v, sizeof v) == 0;
    ti_embedding_free(&e);
    CHECK(ok);
    CHECK(e.vectors == NULL && e.key == NULL);
    ti_embedding_free(NULL);
}

static void test_diffusers_single_key_1d_is_one_vector(void)
{
    float v[8];
    fill(v, 8, -1.0f);
    const char *path = write_one("one.safetensors", "<one>", TI_ST_F32, 1, (int64_t[]){8}, v, NULL, 0);
    CHECK(path != NULL);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    int ok = e.key && strcmp(e.key, "<one>") == 0 && e.num_vectors == 1 && e.dim == 8 &&
             memcmp(e.vectors, v, sizeof v) == 0;
    ti_embedding_free(&e);
    CHECK(ok);
}

static void test_emb_params_with_metadata_name(void)
{
    float v[3 * 4];
    fill(v, 12, 2.0f);
    const char *meta[] = {"name", "my-style", "step", "1500"};
    const char *path = write_one("kohya.safetensors", "emb_params", TI_ST_F32, 2, (int64_t[]){3, 4}, v, meta, 2);
    CHECK(path != NULL);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    int ok = e.key == NULL && e.meta_name && strcmp(e.meta_name, "my-style") == 0 && e.num_vectors == 3 &&
             e.dim == 4 && memcmp(e.vectors, v, sizeof v) == 0;
    ti_embedding_free(&e);
    CHECK(ok);
}

static void test_string_to_param_layouts(void)
{
    /* A1111's .pt converted key by key: the vectors plus a token-id tensor that is ignored. */
    float v[2 * 4];
    fill(v, 8, 0.0f);
    int64_t ids[1] = {265};
    int64_t s_v[] = {2, 4}, s_ids[] = {1};
    ti_st_entry e2[] = {
        {"string_to_token.*", TI_ST_I64, 1, s_ids, ids},
        {"string_to_param.*", TI_ST_F32, 2, s_v, v},
    };
    const char *path = check_tmp_path(tmpdir, "a1111.safetensors");
    CHECK(ti_safetensors_write(path, e2, 2, NULL, 0) == TINV_OK);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    int ok = e.key == NULL && e.num_vectors == 2 && e.dim == 4 && memcmp(e.vectors, v, sizeof v) == 0;
    ti_embedding_free(&e);
    CHECK(ok);

    /* Any single "string_to_param.<x>" key. */
    path = write_one("a1111-x.safetensors", "string_to_param.cat", TI_ST_F32, 1, (int64_t[]){4}, v, NULL, 0);
    CHECK(path != NULL);
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    ok = e.key == NULL && e.num_vectors == 1 && e.dim == 4 && memcmp(e.vectors, v, 4 * sizeof *v) == 0;
    ti_embedding_free(&e);
    CHECK(ok);

    /* Two of them without "*" is ambiguous. */
    ti_st_entry e3[] = {
        {"string_to_param.a", TI_ST_F32, 2, s_v, v},
        {"string_to_param.b", TI_ST_F32, 2, s_v, v},
    };
    path = check_tmp_path(tmpdir, "a1111-two.safetensors");
    CHECK(ti_safetensors_write(path, e3, 2, NULL, 0) == TINV_OK);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, "string_to_param.a", "string_to_param.b"));
}

static void test_f16_and_bf16_data_widen_exactly(void)
{
    uint16_t h[2 * 3] = {0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF, 0x8000}; /* 1, -2, 1/3-ish, tiny, 65504, -0 */
    const char *path = write_one("half.safetensors", "<half>", TI_ST_F16, 2, (int64_t[]){2, 3}, h, NULL, 0);
    CHECK(path != NULL);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    int ok = e.num_vectors == 2 && e.dim == 3;
    for (int i = 0; ok && i < 6; i++) {
        float want = ti_f16_to_f32(h[i]);
        ok = memcmp(&e.vectors[i], &want, sizeof want) == 0;
    }
    ok = ok && e.vectors[0] == 1.0f && e.vectors[1] == -2.0f && e.vectors[4] == 65504.0f;
    ti_embedding_free(&e);
    CHECK(ok);

    uint16_t b[4] = {0x3F80, 0xC040, 0x4049, 0x0000}; /* 1, -3, 3.140625, 0 */
    path = write_one("brain.safetensors", "emb_params", TI_ST_BF16, 2, (int64_t[]){1, 4}, b, NULL, 0);
    CHECK(path != NULL);
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    ok = e.num_vectors == 1 && e.dim == 4 && e.vectors[0] == 1.0f && e.vectors[1] == -3.0f &&
         e.vectors[2] == 3.140625f && e.vectors[3] == 0.0f;
    ti_embedding_free(&e);
    CHECK(ok);
}

/* ---- files refused --------------------------------------------------------------------- */

static void test_sdxl_is_unsupported(void)
{
    float l[2 * 4], g[2 * 8];
    fill(l, 8, 0), fill(g, 16, 1);
    int64_t s_l[] = {2, 4}, s_g[] = {2, 8};
    ti_st_entry es[] = {{"clip_g", TI_ST_F32, 2, s_g, g}, {"clip_l", TI_ST_F32, 2, s_l, l}};
    const char *path = check_tmp_path(tmpdir, "sdxl.safetensors");
    CHECK(ti_safetensors_write(path, es, 2, NULL, 0) == TINV_OK);
    ti_embedding e;
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_UNSUPPORTED, "SDXL", "1.x/2.x"));
    CHECK(e.vectors == NULL);
    /* Only one of the two is still SDXL. */
    path = write_one("sdxl-l.safetensors", "clip_l", TI_ST_F32, 2, s_l, l, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_UNSUPPORTED, "SDXL", NULL));
}

static void test_unknown_layout_lists_the_keys(void)
{
    float v[4] = {1, 2, 3, 4};
    int64_t s[] = {4};
    ti_st_entry es[] = {{"weight", TI_ST_F32, 1, s, v}, {"bias", TI_ST_F32, 1, s, v}};
    const char *path = check_tmp_path(tmpdir, "two.safetensors");
    CHECK(ti_safetensors_write(path, es, 2, NULL, 0) == TINV_OK);
    ti_embedding e;
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, "'weight'", "'bias'"));
    CHECK(strstr(tinv_last_error(), "emb_params") != NULL);

    /* No tensors at all. */
    path = check_tmp_path(tmpdir, "empty.safetensors");
    const char *meta[] = {"format", "pt"};
    CHECK(ti_safetensors_write(path, NULL, 0, meta, 1) == TINV_OK);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, "no tensors", NULL));
}

static void test_pickles_refused_by_extension(void)
{
    /* Even a valid safetensors body is not read under a pickle's name. */
    float v[4] = {1, 2, 3, 4};
    static const char *const names[] = {"learned_embeds.bin", "cat.pt", "cat.PTH", "model.ckpt"};
    for (int i = 0; i < 4; i++) {
        const char *path = write_one(names[i], "<cat>", TI_ST_F32, 1, (int64_t[]){4}, v, NULL, 0);
        CHECK(path != NULL);
        ti_embedding e;
        CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_UNSUPPORTED, "pickle", "arbitrary code"));
        CHECK(strstr(tinv_last_error(), "safetensors") != NULL);
    }
}

static void test_pickles_refused_by_content(void)
{
    /* Protocol-2 pickle of a dict, as torch's legacy save writes, under a .safetensors name. */
    static const unsigned char pickle[] = {0x80, 0x02, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x0a, 0x00, 0x00, 0x00,
                                           's',  't',  'r',  'i',  'n',  'g',  '_',  't',  'o',  '_',  0x2e};
    const char *path = check_tmp_path(tmpdir, "pickle.safetensors");
    CHECK(check_write_file(path, pickle, sizeof pickle));
    ti_embedding e;
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_UNSUPPORTED, "pickle", "arbitrary code"));

    /* torch.save's zip archive. */
    unsigned char zip[64] = {'P', 'K', 0x03, 0x04, 0x00, 0x00, 0x08, 0x08, 0x00, 0x00};
    path = check_tmp_path(tmpdir, "zip.safetensors");
    CHECK(check_write_file(path, zip, sizeof zip));
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_UNSUPPORTED, "pickle", "torch.save"));

    /* A one-byte file is neither: the safetensors reader says what is wrong. */
    path = check_tmp_path(tmpdir, "tiny.safetensors");
    CHECK(check_write_file(path, "x", 1));
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, NULL, NULL));
}

static void test_safetensors_whose_first_byte_is_0x80_still_loads(void)
{
    /* The header length's low byte is 0x80 for headers of 128, 384, ... bytes; grow the metadata
     * until the writer produces one, then it must read like any other file. */
    float v[4] = {0.25f, -0.5f, 1, 2};
    const char *path = check_tmp_path(tmpdir, "x80.safetensors");
    char name[300];
    int found = 0;
    for (int len = 1; len < 280 && !found; len++) {
        memset(name, 'a', (size_t)len);
        name[len] = '\0';
        const char *meta[] = {"name", name};
        CHECK(write_one("x80.safetensors", "emb_params", TI_ST_F32, 1, (int64_t[]){4}, v, meta, 1) != NULL);
        size_t size;
        unsigned char *raw = check_read_file(path, &size);
        CHECK(raw != NULL);
        found = size > 0 && raw[0] == 0x80;
        free(raw);
    }
    CHECK(found);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    int ok = e.num_vectors == 1 && e.dim == 4 && memcmp(e.vectors, v, sizeof v) == 0 && e.meta_name &&
             strcmp(e.meta_name, name) == 0;
    ti_embedding_free(&e);
    CHECK(ok);
}

static void test_nan_and_inf_are_refused(void)
{
    float v[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8};
    v[5] = NAN;
    const char *path = write_one("nan.safetensors", "<nan>", TI_ST_F32, 2, (int64_t[]){2, 4}, v, NULL, 0);
    CHECK(path != NULL);
    ti_embedding e;
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_NUMERIC, "NaN", "vector 1, element 1"));
    CHECK(e.vectors == NULL);
    v[5] = 0;
    v[0] = -INFINITY;
    path = write_one("inf.safetensors", "emb_params", TI_ST_F32, 2, (int64_t[]){2, 4}, v, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_NUMERIC, "infinity", "vector 0, element 0"));
    /* F16 infinity too. */
    uint16_t h[2] = {0x3C00, 0x7C00};
    path = write_one("inf16.safetensors", "emb_params", TI_ST_F16, 1, (int64_t[]){2}, h, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_NUMERIC, NULL, NULL));
}

static void test_bad_shapes_dtypes_and_arguments(void)
{
    static float v[65 * 2];
    ti_embedding e;
    const char *path = write_one("rank3.safetensors", "emb_params", TI_ST_F32, 3, (int64_t[]){1, 2, 2}, v, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, "3 dimensions", NULL));
    path = write_one("rank0.safetensors", "emb_params", TI_ST_F32, 0, NULL, v, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, "0 dimensions", NULL));
    path = write_one("many.safetensors", "emb_params", TI_ST_F32, 2, (int64_t[]){65, 2}, v, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_UNSUPPORTED, "65 vectors", "1..64"));
    path = write_one("none.safetensors", "emb_params", TI_ST_F32, 2, (int64_t[]){0, 2}, NULL, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, "empty", NULL));
    int64_t ids[2] = {1, 2};
    path = write_one("ints.safetensors", "<ints>", TI_ST_I64, 1, (int64_t[]){2}, ids, NULL, 0);
    CHECK(path != NULL);
    CHECK(expect(ti_embedding_read(path, &e), TINV_ERR_BAD_FORMAT, "I64", NULL));
    CHECK(expect(ti_embedding_read(check_tmp_path(tmpdir, "missing.safetensors"), &e), TINV_ERR_IO, NULL, NULL));
    CHECK(ti_embedding_read(NULL, &e) == TINV_ERR_INVALID_ARGUMENT && e.vectors == NULL);
    CHECK(ti_embedding_read(path, NULL) == TINV_ERR_INVALID_ARGUMENT);
}

/* ---- writer ---------------------------------------------------------------------------- */

static void test_round_trip_diffusers(void)
{
    float v[3 * 16];
    fill(v, 48, -3.0f);
    v[7] = 1e-40f; /* a subnormal survives bit for bit */
    const char *path = check_tmp_path(tmpdir, "rt-diffusers.safetensors");
    CHECK(ti_embedding_write(path, "<rt>", v, 3, 16, TINV_EMBEDDING_DIFFUSERS, 7, "ignored") == TINV_OK);
    CHECK(access(check_tmp_path(tmpdir, "rt-diffusers.safetensors.tmp"), F_OK) != 0);
    ti_safetensors *st;
    CHECK(ti_safetensors_open(path, &st) == TINV_OK);
    const ti_st_tensor *t = ti_safetensors_find(st, "<rt>");
    const char *format = ti_safetensors_metadata(st, "format");
    int ok = ti_safetensors_count(st) == 1 && t && t->dtype == TI_ST_F32 && t->ndim == 2 && t->shape[0] == 3 &&
             t->shape[1] == 16 && format && strcmp(format, "pt") == 0 && ti_safetensors_metadata_count(st) == 1;
    ti_safetensors_close(st);
    CHECK(ok);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    ok = e.key && strcmp(e.key, "<rt>") == 0 && e.num_vectors == 3 && e.dim == 16 &&
         memcmp(e.vectors, v, sizeof v) == 0;
    ti_embedding_free(&e);
    CHECK(ok);
}

static void test_round_trip_a1111(void)
{
    float v[2 * 16];
    fill(v, 32, 0.75f);
    const char *path = check_tmp_path(tmpdir, "rt-a1111.safetensors");
    CHECK(ti_embedding_write(path, "my-style", v, 2, 16, TINV_EMBEDDING_A1111, 1234, "v1-5-pruned") == TINV_OK);
    ti_safetensors *st;
    CHECK(ti_safetensors_open(path, &st) == TINV_OK);
    const ti_st_tensor *t = ti_safetensors_find(st, "emb_params");
    const char *name = ti_safetensors_metadata(st, "name"), *step = ti_safetensors_metadata(st, "step");
    const char *ckpt = ti_safetensors_metadata(st, "sd_checkpoint_name");
    const char *format = ti_safetensors_metadata(st, "format");
    int ok = ti_safetensors_count(st) == 1 && t && t->dtype == TI_ST_F32 && t->ndim == 2 && t->shape[0] == 2 &&
             t->shape[1] == 16 && name && strcmp(name, "my-style") == 0 && step && strcmp(step, "1234") == 0 && ckpt &&
             strcmp(ckpt, "v1-5-pruned") == 0 && format && strcmp(format, "pt") == 0;
    ti_safetensors_close(st);
    CHECK(ok);
    ti_embedding e;
    CHECK(ti_embedding_read(path, &e) == TINV_OK);
    ok = e.key == NULL && e.meta_name && strcmp(e.meta_name, "my-style") == 0 && e.num_vectors == 2 && e.dim == 16 &&
         memcmp(e.vectors, v, sizeof v) == 0;
    ti_embedding_free(&e);
    CHECK(ok);

    /* Without a base model the key is left out. */
    CHECK(ti_embedding_write(path, "my-style", v, 2, 16, TINV_EMBEDDING_A1111, 0, NULL) == TINV_OK);
    CHECK(ti_safetensors_open(path, &st) == TINV_OK);
    ok = ti_safetensors_metadata(st, "sd_checkpoint_name") == NULL && ti_safetensors_metadata(st, "step") &&
         strcmp(ti_safetensors_metadata(st, "step"), "0") == 0;
    ti_safetensors_close(st);
    CHECK(ok);
}

static void test_writer_refuses_bad_input_and_leaves_no_file(void)
{
    float v[4] = {1, 2, 3, 4};
    const char *path = check_tmp_path(tmpdir, "never.safetensors");
    CHECK(ti_embedding_write(path, "<t>", v, 0, 4, TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(path, "<t>", v, 65, 4, TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(path, "<t>", v, 1, 0, TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(path, "", v, 1, 4, TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(path, NULL, v, 1, 4, TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(path, "<t>", NULL, 1, 4, TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(NULL, "<t>", v, 1, 4, TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(path, "<t>", v, 1, 4, (tinv_embedding_format)2, 0, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ti_embedding_write(path, "<t>", v, 1, 4, TINV_EMBEDDING_A1111, -1, NULL) == TINV_ERR_INVALID_ARGUMENT);
    v[2] = NAN;
    CHECK(expect(ti_embedding_write(path, "<t>", v, 1, 4, TINV_EMBEDDING_A1111, 0, NULL), TINV_ERR_NUMERIC, "NaN",
                 NULL));
    CHECK(access(path, F_OK) != 0);
    CHECK(access(check_tmp_path(tmpdir, "never.safetensors.tmp"), F_OK) != 0);
    /* A directory that does not exist is an I/O error. */
    v[2] = 3;
    CHECK(ti_embedding_write(check_tmp_path(tmpdir, "no/such/dir.safetensors"), "<t>", v, 1, 4,
                             TINV_EMBEDDING_DIFFUSERS, 0, NULL) == TINV_ERR_IO);
}

/* ---- through a model (sd1-tiny: text width 32) ------------------------------------------ */

static int load_pair(tinv_model **m, tinv_tokenizer **tok)
{
    *m = NULL;
    *tok = NULL;
    if (tinv_model_load(fixture, NULL, m) != TINV_OK || tinv_tokenizer_load(fixture, NULL, tok) != TINV_OK) {
        fprintf(stderr, "    cannot load %s: %s\n", fixture, tinv_last_error());
        tinv_model_free(*m);
        tinv_tokenizer_free(*tok);
        return 0;
    }
    return 1;
}

static void test_model_load_embedding_layouts_and_names(void)
{
    long live = ts_live_tensors();
    tinv_model *m;
    tinv_tokenizer *tok;
    CHECK(load_pair(&m, &tok));
    float a[2 * 32], b[32], c[3 * 32], got[3 * 32];
    fill(a, 64, 0.1f), fill(b, 32, -0.2f), fill(c, 96, 0.3f);
    char name[64];
    int n = 0;
    int32_t id = -1;
    tinv_status s;

    /* diffusers: named by its key; N > 1 adds "<emb-a>_1". */
    const char *pa = write_one("a.safetensors", "<emb-a>", TI_ST_F32, 2, (int64_t[]){2, 32}, a, NULL, 0);
    s = tinv_model_load_embedding(m, tok, pa, NULL, name, sizeof name);
    if (!expect(s, TINV_OK, NULL, NULL) || strcmp(name, "<emb-a>") != 0)
        goto out;
    if (tinv_model_get_token_vectors(m, "<emb-a>", got, sizeof got / sizeof *got, &n) != TINV_OK || n != 2 ||
        memcmp(got, a, sizeof a) != 0 || tinv_tokenizer_token_to_id(tok, "<emb-a>_1", &id) != TINV_OK) {
        check_fail(__FILE__, __LINE__, "<emb-a> vectors and tokens");
        goto out;
    }

    /* emb_params: named after the file, whatever its metadata says. */
    const char *meta[] = {"name", "something-else"};
    const char *pb = write_one("my-style.safetensors", "emb_params", TI_ST_F32, 1, (int64_t[]){32}, b, meta, 1);
    s = tinv_model_load_embedding(m, tok, pb, NULL, name, sizeof name);
    if (!expect(s, TINV_OK, NULL, NULL) || strcmp(name, "my-style") != 0) {
        check_fail(__FILE__, __LINE__, "emb_params file named after the file");
        goto out;
    }

    /* An explicit token wins over the key, and name_out truncates. */
    const char *pc = write_one("c.safetensors", "<emb-c>", TI_ST_F32, 2, (int64_t[]){3, 32}, c, NULL, 0);
    s = tinv_model_load_embedding(m, tok, pc, "<override>", name, 5);
    if (!expect(s, TINV_OK, NULL, NULL) || strcmp(name, "<ove") != 0 ||
        tinv_model_get_token_vectors(m, "<override>", got, sizeof got / sizeof *got, &n) != TINV_OK || n != 3 ||
        memcmp(got, c, sizeof c) != 0) {
        check_fail(__FILE__, __LINE__, "explicit token and truncated name_out");
        goto out;
    }
    if (tinv_model_token_count(m) != 3 || strcmp(tinv_model_token_name(m, 1), "my-style") != 0) {
        check_fail(__FILE__, __LINE__, "three learned tokens in order");
        goto out;
    }

    /* The same token again is refused (by the model), naming the file. */
    s = tinv_model_load_embedding(m, tok, pa, NULL, NULL, 0);
    if (!expect(s, TINV_ERR_INVALID_ARGUMENT, "a.safetensors: ", "<emb-a>") || strstr(tinv_last_error(), ": :") ||
        tinv_model_token_count(m) != 3) {
        check_fail(__FILE__, __LINE__, "duplicate token refused");
        goto out;
    }
out:
    tinv_model_free(m);
    tinv_tokenizer_free(tok);
    CHECK(ts_live_tensors() == live);
}

static void test_model_load_embedding_refusals(void)
{
    tinv_model *m;
    tinv_tokenizer *tok;
    CHECK(load_pair(&m, &tok));
    static float wide[1024];
    float v[32];
    fill(wide, 1024, 0), fill(v, 32, 0);
    int ok = 1;
    char name[16] = "unchanged";

    /* An SD 1.x embedding on a 32-wide model: the message says what each side is. */
    const char *p = write_one("sd15.safetensors", "<sd15>", TI_ST_F32, 1, (int64_t[]){768}, wide, NULL, 0);
    ok = ok && expect(tinv_model_load_embedding(m, tok, p, NULL, name, sizeof name), TINV_ERR_INVALID_ARGUMENT,
                      "Stable Diffusion 1.x", "32");
    ok = ok && name[0] == '\0' && tinv_model_token_count(m) == 0;
    p = write_one("sd2.safetensors", "emb_params", TI_ST_F32, 2, (int64_t[]){1, 1024}, wide, NULL, 0);
    ok = ok && expect(tinv_model_load_embedding(m, tok, p, NULL, NULL, 0), TINV_ERR_INVALID_ARGUMENT,
                      "Stable Diffusion 2.x", NULL);

    /* Pickles and SDXL files through the public call. */
    p = write_one("cat.pt", "<cat>", TI_ST_F32, 1, (int64_t[]){32}, v, NULL, 0);
    ok = ok && expect(tinv_model_load_embedding(m, tok, p, NULL, NULL, 0), TINV_ERR_UNSUPPORTED, "pickle", NULL);
    p = write_one("xl.safetensors", "clip_g", TI_ST_F32, 1, (int64_t[]){32}, v, NULL, 0);
    ok = ok && expect(tinv_model_load_embedding(m, tok, p, NULL, NULL, 0), TINV_ERR_UNSUPPORTED, "SDXL", NULL);

    /* Arguments. */
    p = write_one("ok.safetensors", "<ok>", TI_ST_F32, 1, (int64_t[]){32}, v, NULL, 0);
    ok = ok && tinv_model_load_embedding(NULL, tok, p, NULL, NULL, 0) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && tinv_model_load_embedding(m, NULL, p, NULL, NULL, 0) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && tinv_model_load_embedding(m, tok, NULL, NULL, NULL, 0) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && tinv_model_load_embedding(m, tok, p, NULL, name, 0) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && tinv_model_token_count(m) == 0;
    tinv_model_free(m);
    tinv_tokenizer_free(tok);
    CHECK(ok);
}

static void test_model_save_embedding_round_trips(void)
{
    long live = ts_live_tensors();
    tinv_model *m;
    tinv_tokenizer *tok;
    CHECK(load_pair(&m, &tok));
    float a[2 * 32];
    fill(a, 64, 1.25f);
    int ok = tinv_model_add_token_vectors(m, tok, "<saved>", a, 2, 32) == TINV_OK;
    const char *pd = check_tmp_path(tmpdir, "saved-diffusers.safetensors");
    const char *pa = check_tmp_path(tmpdir, "saved-a1111.safetensors");
    ok = ok && expect(tinv_model_save_embedding(m, "<saved>", pd, TINV_EMBEDDING_DIFFUSERS), TINV_OK, NULL, NULL);
    ok = ok && expect(tinv_model_save_embedding(m, "<saved>", pa, TINV_EMBEDDING_A1111), TINV_OK, NULL, NULL);

    ti_embedding e;
    if (ok && ti_embedding_read(pd, &e) == TINV_OK) {
        ok = e.key && strcmp(e.key, "<saved>") == 0 && e.num_vectors == 2 && e.dim == 32 &&
             memcmp(e.vectors, a, sizeof a) == 0;
        ti_embedding_free(&e);
    } else {
        ok = 0;
    }
    ti_safetensors *st;
    if (ok && ti_safetensors_open(pa, &st) == TINV_OK) {
        const char *name = ti_safetensors_metadata(st, "name"), *step = ti_safetensors_metadata(st, "step");
        const char *ckpt = ti_safetensors_metadata(st, "sd_checkpoint_name");
        const ti_st_tensor *t = ti_safetensors_find(st, "emb_params");
        ok = name && strcmp(name, "<saved>") == 0 && step && strcmp(step, "0") == 0 && ckpt &&
             strcmp(ckpt, "sd1-tiny") == 0 && t && t->shape[0] == 2 && t->shape[1] == 32 &&
             memcmp(t->data, a, sizeof a) == 0;
        ti_safetensors_close(st);
    } else {
        ok = 0;
    }

    /* Saved then loaded into a fresh pair gives the same vectors. */
    tinv_model *m2;
    tinv_tokenizer *tok2;
    if (ok && load_pair(&m2, &tok2)) {
        float got[2 * 32];
        int n = 0;
        char name[32];
        ok = expect(tinv_model_load_embedding(m2, tok2, pa, NULL, name, sizeof name), TINV_OK, NULL, NULL) &&
             strcmp(name, "saved-a1111") == 0 &&
             tinv_model_get_token_vectors(m2, "saved-a1111", got, 64, &n) == TINV_OK && n == 2 &&
             memcmp(got, a, sizeof a) == 0;
        tinv_model_free(m2);
        tinv_tokenizer_free(tok2);
    } else {
        ok = 0;
    }

    /* Unknown tokens, formats and NULLs; nothing is written. */
    const char *pn = check_tmp_path(tmpdir, "not-saved.safetensors");
    ok = ok && expect(tinv_model_save_embedding(m, "<nope>", pn, TINV_EMBEDDING_DIFFUSERS), TINV_ERR_INVALID_ARGUMENT,
                      NULL, NULL);
    ok = ok && tinv_model_save_embedding(m, "<saved>", pn, (tinv_embedding_format)7) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && tinv_model_save_embedding(NULL, "<saved>", pn, TINV_EMBEDDING_A1111) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && tinv_model_save_embedding(m, NULL, pn, TINV_EMBEDDING_A1111) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && tinv_model_save_embedding(m, "<saved>", NULL, TINV_EMBEDDING_A1111) == TINV_ERR_INVALID_ARGUMENT;
    ok = ok && access(pn, F_OK) != 0;
    tinv_model_free(m);
    tinv_tokenizer_free(tok);
    CHECK(ok);
    CHECK(ts_live_tensors() == live);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    tinv_set_num_threads(0);
    RUN(test_diffusers_single_key_2d);
    RUN(test_diffusers_single_key_1d_is_one_vector);
    RUN(test_emb_params_with_metadata_name);
    RUN(test_string_to_param_layouts);
    RUN(test_f16_and_bf16_data_widen_exactly);
    RUN(test_sdxl_is_unsupported);
    RUN(test_unknown_layout_lists_the_keys);
    RUN(test_pickles_refused_by_extension);
    RUN(test_pickles_refused_by_content);
    RUN(test_safetensors_whose_first_byte_is_0x80_still_loads);
    RUN(test_nan_and_inf_are_refused);
    RUN(test_bad_shapes_dtypes_and_arguments);
    RUN(test_round_trip_diffusers);
    RUN(test_round_trip_a1111);
    RUN(test_writer_refuses_bad_input_and_leaves_no_file);

    const char *fx = check_fixtures_dir();
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/sd1-tiny/model_index.json", fx ? fx : "");
    if ((fx != NULL && access(probe, R_OK) == 0) || check_ci()) {
        /* Under CI missing fixtures make these fail rather than skip. */
        snprintf(fixture, sizeof fixture, "%s/sd1-tiny", fx ? fx : "(TINV_FIXTURES not found)");
        RUN(test_model_load_embedding_layouts_and_names);
        RUN(test_model_load_embedding_refusals);
        RUN(test_model_save_embedding_round_trips);
    } else {
        check_skip("model tests", "fixtures not found (set TINV_FIXTURES)");
    }
    check_remove_tree(tmpdir);
    return check_summary("test_embedding");
}
