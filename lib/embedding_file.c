/* Embedding files (see embedding_file.h): the safetensors layouts of diffusers, kohya and
 * AUTOMATIC1111, and the public load/save calls that connect them to a model's learned tokens. */
#include "embedding_file.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "concepts.h"
#include "error.h"
#include "log.h"
#include "model.h"
#include "safetensors.h"

/* Keys listed in a "which layout is this?" error before the rest are only counted. */
#define LIST_KEYS 8

static const char *PICKLE_WHY = "loading a pickle can run arbitrary code, so it is refused; convert it to "
                                ".safetensors first (in a trusted Python: torch.load, then safetensors' save_file)";

/* The extension of `path`'s last component (without the dot), or "". */
static const char *extension(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot + 1 : "";
}

/* 1 when the bytes say pickle: protocol-2+ pickles start with 0x80 and torch.save writes a zip
 * archive ("PK\3\4"). A safetensors header length can also have 0x80 as its low byte, so a file
 * whose length field fits the file and whose JSON starts at byte 8 is let through to the reader. */
static int content_is_pickle(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* the safetensors reader reports why */
    struct stat sb;
    unsigned char b[9];
    ssize_t got = 0;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
        got = pread(fd, b, sizeof b, 0);
    close(fd);
    int magic = (got >= 1 && b[0] == 0x80) || (got >= 4 && memcmp(b, "PK\x03\x04", 4) == 0);
    if (!magic)
        return 0;
    if (got == (ssize_t)sizeof b && b[8] == '{') {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = (n << 8) | b[i];
        if (n >= 2 && n <= (uint64_t)sb.st_size - 8)
            return 0;
    }
    return 1;
}

static tinv_status refuse_pickles(const char *path)
{
    static const char *const exts[] = {"pt", "pth", "bin", "ckpt"};
    const char *ext = extension(path);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(ext, exts[i]) == 0)
            return ti_error(TINV_ERR_UNSUPPORTED, "%s: a .%s file is a pickle; %s", path, ext, PICKLE_WHY);
    if (content_is_pickle(path))
        return ti_error(TINV_ERR_UNSUPPORTED, "%s: the file holds a pickle (or a torch.save zip), not safetensors; %s",
                        path, PICKLE_WHY);
    return TINV_OK;
}

/* "'a', 'b', ... (N tensors)" into `buf`. */
static void list_keys(const ti_safetensors *st, char *buf, size_t cap)
{
    size_t n = ti_safetensors_count(st), len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < LIST_KEYS && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s'%.100s'", i ? ", " : "", ti_safetensors_at(st, i)->name);
    if (n > LIST_KEYS && len < cap)
        snprintf(buf + len, cap - len, ", ... (%zu tensors)", n);
}

/* Pick the tensor holding the vectors; `*is_key` = 1 for the diffusers layout. */
static tinv_status find_vectors(const char *path, const ti_safetensors *st, const ti_st_tensor **out, int *is_key)
{
    size_t n = ti_safetensors_count(st);
    *out = NULL;
    *is_key = 0;
    if (n == 0)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: the file holds no tensors, so no embedding", path);
    if (ti_safetensors_find(st, "clip_l") || ti_safetensors_find(st, "clip_g"))
        return ti_error(TINV_ERR_UNSUPPORTED,
                        "%s: an SDXL embedding ('clip_l'/'clip_g' tensors for SDXL's two text encoders); it is not "
                        "applicable to Stable Diffusion 1.x/2.x models",
                        path);
    if ((*out = ti_safetensors_find(st, "emb_params")) != NULL)
        return TINV_OK;
    /* A1111's .pt dict converted key by key: the vectors are "string_to_param.*"; other
     * "string_to_*" entries (token ids) ride along and are ignored. */
    if ((*out = ti_safetensors_find(st, "string_to_param.*")) != NULL)
        return TINV_OK;
    const ti_st_tensor *param = NULL;
    int params = 0;
    for (size_t i = 0; i < n; i++) {
        const ti_st_tensor *t = ti_safetensors_at(st, i);
        if (strncmp(t->name, "string_to_param.", 16) == 0) {
            param = t;
            params++;
        }
    }
    char keys[512];
    if (params > 1) {
        list_keys(st, keys, sizeof keys);
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: %d 'string_to_param.' tensors, expected one; found %s", path,
                        params, keys);
    }
    if (params == 1) {
        *out = param;
        return TINV_OK;
    }
    if (n == 1) {
        *out = ti_safetensors_at(st, 0);
        *is_key = 1;
        return TINV_OK;
    }
    list_keys(st, keys, sizeof keys);
    return ti_error(TINV_ERR_BAD_FORMAT,
                    "%s: not an embedding layout tinv knows (one tensor named after the token, 'emb_params' or "
                    "'string_to_param.*'); found %s",
                    path, keys);
}

/* Shape and dtype of the chosen tensor -> number of vectors and width. */
static tinv_status vector_shape(const char *path, const ti_st_tensor *t, int *n, int *dim)
{
    if (t->dtype != TI_ST_F32 && t->dtype != TI_ST_F16 && t->dtype != TI_ST_BF16)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: tensor '%.200s' has dtype %s; expected F32, F16 or BF16", path,
                        t->name, ti_st_dtype_name(t->dtype));
    if (t->ndim != 1 && t->ndim != 2)
        return ti_error(TINV_ERR_BAD_FORMAT,
                        "%s: tensor '%.200s' has %d dimensions; expected [vectors, width] or [width]", path, t->name,
                        t->ndim);
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1, width = t->shape[t->ndim - 1];
    if (rows < 1 || width < 1)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: tensor '%.200s' is empty (%lld vectors of width %lld)", path, t->name,
                        (long long)rows, (long long)width);
    if (rows > TI_EMBEDDING_MAX_VECTORS)
        return ti_error(TINV_ERR_UNSUPPORTED, "%s: tensor '%.200s' has %lld vectors; a token may have 1..%d", path,
                        t->name, (long long)rows, TI_EMBEDDING_MAX_VECTORS);
    if (width > INT32_MAX)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: tensor '%.200s' is %lld wide", path, t->name, (long long)width);
    *n = (int)rows;
    *dim = (int)width;
    return TINV_OK;
}

void ti_embedding_free(ti_embedding *e)
{
    if (e == NULL)
        return;
    free(e->key);
    free(e->meta_name);
    free(e->vectors);
    memset(e, 0, sizeof *e);
}

/* Everything after the file is open; `e` is freed by the caller on failure. */
static tinv_status read_open(const char *path, const ti_safetensors *st, ti_embedding *e)
{
    const ti_st_tensor *t;
    int is_key;
    TI_TRY(find_vectors(path, st, &t, &is_key));
    TI_TRY(vector_shape(path, t, &e->num_vectors, &e->dim));
    size_t count = (size_t)e->num_vectors * (size_t)e->dim;
    const char *meta_name = ti_safetensors_metadata(st, "name");
    e->vectors = malloc(count * sizeof *e->vectors);
    if (e->vectors == NULL || (is_key && (e->key = strdup(t->name)) == NULL) ||
        (meta_name && (e->meta_name = strdup(meta_name)) == NULL))
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory reading the embedding", path);
    TI_TRY(ti_st_to_f32(t, e->vectors, count));
    for (size_t i = 0; i < count; i++)
        if (!isfinite(e->vectors[i]))
            return ti_error(TINV_ERR_NUMERIC, "%s: tensor '%.200s' holds NaN or infinity (vector %zu, element %zu)",
                            path, t->name, i / (size_t)e->dim, i % (size_t)e->dim);
    return TINV_OK;
}

tinv_status ti_embedding_read(const char *path, ti_embedding *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(path);
    TI_TRY(refuse_pickles(path));
    ti_safetensors *st;
    TI_TRY(ti_safetensors_open(path, &st));
    tinv_status status = read_open(path, st, out);
    ti_safetensors_close(st);
    if (status != TINV_OK)
        ti_embedding_free(out);
    return status;
}

tinv_status ti_embedding_write(const char *path, const char *token, const float *vectors, int num_vectors, int dim,
                               tinv_embedding_format format, int step, const char *base_model)
{
    TI_REQUIRE(path);
    TI_REQUIRE(token);
    TI_REQUIRE(vectors);
    if (token[0] == '\0')
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: the token name is empty", path);
    if (num_vectors < 1 || num_vectors > TI_EMBEDDING_MAX_VECTORS || dim < 1 || step < 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: %d vectors of width %d at step %d (expected 1..%d, width >= 1)",
                        path, num_vectors, dim, step, TI_EMBEDDING_MAX_VECTORS);
    /* Never write a file the reader would refuse. */
    size_t count = (size_t)num_vectors * (size_t)dim;
    for (size_t i = 0; i < count; i++)
        if (!isfinite(vectors[i]))
            return ti_error(TINV_ERR_NUMERIC, "%s: '%.200s' has NaN or infinity (vector %zu, element %zu)", path, token,
                            i / (size_t)dim, i % (size_t)dim);
    int64_t shape[2] = {num_vectors, dim};
    char step_text[16];
    snprintf(step_text, sizeof step_text, "%d", step);
    if (format == TINV_EMBEDDING_DIFFUSERS) {
        ti_st_entry e = {token, TI_ST_F32, 2, shape, vectors};
        const char *meta[] = {"format", "pt"};
        return ti_safetensors_write(path, &e, 1, meta, 1);
    }
    if (format == TINV_EMBEDDING_A1111) {
        ti_st_entry e = {"emb_params", TI_ST_F32, 2, shape, vectors};
        const char *meta[] = {"name", token, "step", step_text, "format", "pt", "sd_checkpoint_name", base_model};
        return ti_safetensors_write(path, &e, 1, meta, base_model ? 4 : 3);
    }
    return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: unknown embedding format %d", path, (int)format);
}

/* ---- public API ------------------------------------------------------------------------ */

/* The last component of `path` without trailing slashes; with `strip_ext`, also without its
 * extension. NULL when out of memory. */
static char *base_name(const char *path, int strip_ext)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    char *name = strndup(path + start, end - start);
    if (name != NULL && strip_ext) {
        char *dot = strrchr(name, '.');
        if (dot != NULL && dot != name)
            *dot = '\0';
    }
    return name;
}

TINV_API tinv_status tinv_model_load_embedding(tinv_model *model, tinv_tokenizer *tokenizer, const char *path,
                                               const char *token, char *name_out, size_t name_cap)
{
    TI_REQUIRE(model);
    TI_REQUIRE(tokenizer);
    TI_REQUIRE(path);
    if (name_out != NULL && name_cap == 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: name_out is given with name_cap 0", __func__);
    if (name_out != NULL)
        name_out[0] = '\0';

    ti_embedding e;
    TI_TRY(ti_embedding_read(path, &e));
    tinv_status status = TINV_OK;
    char *stem = NULL;
    int width = model->text.cfg.hidden_size;
    if (e.dim != width) {
        status = ti_error(TINV_ERR_INVALID_ARGUMENT,
                          "%s: the embedding's vectors are %d wide, as made for %s; this model's text encoder is %d "
                          "wide (%s)",
                          path, e.dim, ti_text_width_model_name(e.dim), width, ti_text_width_model_name(width));
        goto done;
    }
    /* As AUTOMATIC1111 does, a file without a token key is named after the file. */
    const char *name = token ? token : e.key;
    if (name == NULL) {
        if ((stem = base_name(path, 1)) == NULL) {
            status = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            goto done;
        }
        name = stem;
    }
    status = tinv_model_add_token_vectors(model, tokenizer, name, e.vectors, e.num_vectors, e.dim);
    if (status != TINV_OK) {
        ti_error_prefix("%s", path);
        goto done;
    }
    ti_log(&model->opts.logger, TINV_LOG_INFO, "loaded '%s' (%d vector%s) from %s%s%s%s", name, e.num_vectors,
           e.num_vectors == 1 ? "" : "s", path, e.meta_name ? " (named '" : "", e.meta_name ? e.meta_name : "",
           e.meta_name ? "' in the file)" : "");
    if (name_out != NULL)
        snprintf(name_out, name_cap, "%s", name);
done:
    free(stem);
    ti_embedding_free(&e);
    return status;
}

TINV_API tinv_status tinv_model_save_embedding(const tinv_model *model, const char *token, const char *path,
                                               tinv_embedding_format format)
{
    TI_REQUIRE(model);
    TI_REQUIRE(token);
    TI_REQUIRE(path);
    if (format != TINV_EMBEDDING_DIFFUSERS && format != TINV_EMBEDDING_A1111)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: unknown embedding format %d", __func__, (int)format);
    int n = 0;
    TI_TRY(tinv_model_get_token_vectors(model, token, NULL, 0, &n));
    int width = model->text.cfg.hidden_size;
    size_t count = (size_t)n * (size_t)width;
    float *vectors = malloc((count ? count : 1) * sizeof *vectors);
    /* A1111 records the checkpoint by its file name without extension. */
    char *base = model->path ? base_name(model->path, 0) : NULL;
    if (base != NULL) {
        size_t len = strlen(base);
        if (len > 12 && strcmp(base + len - 12, ".safetensors") == 0)
            base[len - 12] = '\0';
    }
    tinv_status status;
    if (vectors == NULL || (model->path != NULL && base == NULL))
        status = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory saving '%s'", path, token);
    else if ((status = tinv_model_get_token_vectors(model, token, vectors, count, NULL)) == TINV_OK)
        status = ti_embedding_write(path, token, vectors, n, width, format, ti_model_token_steps(model, token), base);
    free(base);
    free(vectors);
    return status;
}
