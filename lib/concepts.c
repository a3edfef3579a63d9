/* Learned tokens: the public calls that add and read them, and their splice into the
 * token-embedding lookup. */
#include "concepts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "tokenizer.h"

#define TI_MAX_VECTORS 64

void ti_concepts_free(ti_concepts *c)
{
    for (int i = 0; i < c->count; i++) {
        free(c->items[i].name);
        ts_free(c->items[i].vectors);
    }
    free(c->items);
    c->items = NULL;
    c->count = 0;
}

ti_concept *ti_concepts_find(const ti_concepts *c, const char *name)
{
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->items[i].name, name) == 0)
            return &c->items[i];
    return NULL;
}

int ti_concepts_vectors(const ti_concepts *c)
{
    int n = 0;
    for (int i = 0; i < c->count; i++)
        n += c->items[i].num_vectors;
    return n;
}

const char *ti_text_width_model_name(int64_t width)
{
    switch (width) {
    case 768: return "Stable Diffusion 1.x";
    case 1024: return "Stable Diffusion 2.x";
    case 1280: return "SDXL (its second text encoder)";
    default: return "an unknown model";
    }
}

/* One bool tensor [B, L, 1]: where ids fall in [lo, lo + n). */
static ts_tensor *id_mask(const int64_t *ids, int64_t count, int64_t b, int64_t l, int64_t lo, int64_t n,
                          ts_device device)
{
    uint8_t *m = malloc((size_t)count);
    if (m == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory splicing learned tokens");
        return NULL;
    }
    for (int64_t i = 0; i < count; i++)
        m[i] = ids[i] >= lo && ids[i] < lo + n;
    int64_t shape[3] = {b, l, 1};
    ts_tensor *t = ts_from_data(m, TS_U8, shape, 3, TS_BOOL, device);
    free(m);
    return t;
}

ts_tensor *ti_concepts_embed(const ti_concepts *c, const ts_tensor *table, const ts_tensor *ids)
{
    if (table == NULL || ids == NULL)
        return NULL;
    int64_t rows = ts_size(table, 0), count = ts_numel(ids);
    if (ts_ndim(ids) != 2)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "token ids must be [batch, length]"), NULL;
    int64_t *host = malloc((size_t)count * sizeof *host);
    if (host == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory reading token ids"), NULL;
    if (ts_to_host(ids, host, TS_I64, (size_t)count) != TINV_OK) {
        free(host);
        return NULL;
    }
    int learned = 0;
    for (int64_t i = 0; i < count; i++) {
        if (host[i] < 0 || host[i] >= rows + ti_concepts_vectors(c)) {
            ti_error(TINV_ERR_INVALID_ARGUMENT,
                     "token id %lld has no embedding: the text encoder has %lld rows and %d learned vectors (was "
                     "a token added to the tokenizer without tinv_model_add_token?)",
                     (long long)host[i], (long long)rows, ti_concepts_vectors(c));
            free(host);
            return NULL;
        }
        learned |= host[i] >= rows;
    }
    if (!learned) {
        free(host);
        return ts_embedding(table, ids);
    }
    /* Frozen rows with learned ids pointed at row 0, then each concept's vectors put in place
     * with where(): the gradient reaches only the vectors, never the frozen table. */
    int64_t b = ts_size(ids, 0), l = ts_size(ids, 1);
    ts_device device = ts_device_of(table);
    size_t scope = ts_scope_begin();
    int64_t *local = malloc((size_t)count * sizeof *local);
    ts_tensor *out = NULL;
    if (local == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory splicing learned tokens");
        goto done;
    }
    for (int64_t i = 0; i < count; i++)
        local[i] = host[i] < rows ? host[i] : 0;
    int64_t shape[2] = {b, l};
    out = ts_embedding(table, ts_from_data(local, TS_I64, shape, 2, TS_I64, device));
    for (int k = 0; k < c->count; k++) {
        const ti_concept *cc = &c->items[k];
        int used = 0;
        for (int64_t i = 0; i < count; i++) {
            int in = host[i] >= cc->first_id && host[i] < cc->first_id + cc->num_vectors;
            local[i] = in ? host[i] - cc->first_id : 0;
            used |= in;
        }
        if (!used)
            continue;
        ts_tensor *vec = ts_to(cc->vectors, ts_dtype_of(table), device);
        ts_tensor *rows_k = ts_embedding(vec, ts_from_data(local, TS_I64, shape, 2, TS_I64, device));
        out = ts_where(id_mask(host, count, b, l, cc->first_id, cc->num_vectors, device), rows_k, out);
    }
done:
    free(local);
    free(host);
    return ts_scope_return(scope, out);
}

/* ---- public API ----------------------------------------------------------------------------- */

static tinv_status check_in_step(const tinv_model *m, const tinv_tokenizer *tok)
{
    size_t want = (size_t)m->text.cfg.vocab_size + (size_t)ti_concepts_vectors(&m->text.concepts);
    size_t have = tinv_tokenizer_vocab_size(tok);
    if (have != want)
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "the tokenizer has %zu tokens but the model %zu embeddings (%d rows + %d learned vectors): "
                        "add learned tokens with tinv_model_add_token to both together",
                        have, want, m->text.cfg.vocab_size, ti_concepts_vectors(&m->text.concepts));
    return TINV_OK;
}

static tinv_status check_token_name(const char *fn, const char *token, int num_vectors)
{
    if (token[0] == '\0')
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: empty token", fn);
    if (num_vectors < 1 || num_vectors > TI_MAX_VECTORS)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: %d vectors is not in [1, %d]", fn, num_vectors,
                        TI_MAX_VECTORS);
    return TINV_OK;
}

/* Register `token` in the tokenizer and the model with host vectors [n, width]. */
static tinv_status add_concept(tinv_model *m, tinv_tokenizer *tok, const char *token, const float *vectors, int n)
{
    int64_t width = m->text.cfg.hidden_size;
    for (int64_t i = 0; i < n * width; i++)
        if (!isfinite(vectors[i]))
            return ti_error(TINV_ERR_NUMERIC, "learned token '%.200s': vector value %lld is not finite", token,
                            (long long)i);
    ti_concepts *c = &m->text.concepts;
    ti_concept *items = realloc(c->items, (size_t)(c->count + 1) * sizeof *items);
    if (items == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory adding a learned token");
    c->items = items;
    ti_concept cc = {0};
    cc.num_vectors = n;
    cc.name = strdup(token);
    int64_t shape[2] = {n, width};
    cc.vectors = ts_detach(ts_from_data(vectors, TS_F32, shape, 2, TS_F32, m->opts.device));
    if (cc.name == NULL || cc.vectors == NULL) {
        free(cc.name);
        ts_free(cc.vectors);
        return cc.name == NULL ? ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory adding a learned token")
                               : tinv_last_status();
    }
    tinv_status st = ti_tokenizer_add_group(tok, token, n, &cc.first_id);
    if (st != TINV_OK) {
        free(cc.name);
        ts_free(cc.vectors);
        return st;
    }
    c->items[c->count++] = cc;
    return TINV_OK;
}

TINV_API tinv_status tinv_model_add_token_vectors(tinv_model *model, tinv_tokenizer *tokenizer, const char *token,
                                                  const float *vectors, int num_vectors, int dim)
{
    TI_REQUIRE(model);
    TI_REQUIRE(tokenizer);
    TI_REQUIRE(token);
    TI_REQUIRE(vectors);
    TI_TRY(check_token_name(__func__, token, num_vectors));
    int width = model->text.cfg.hidden_size;
    if (dim != width)
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "learned token '%.200s' has %d-wide vectors (made for %s) but this model's text encoder is "
                        "%d wide (%s)",
                        token, dim, ti_text_width_model_name(dim), width, ti_text_width_model_name(width));
    TI_TRY(check_in_step(model, tokenizer));
    return add_concept(model, tokenizer, token, vectors, num_vectors);
}

/* Mean embedding row of the base-vocabulary tokens of `word`, into `out` [width]. */
static tinv_status init_vector(tinv_model *m, tinv_tokenizer *tok, const char *word, unsigned flags, float *out)
{
    size_t n = 0;
    TI_TRY(tinv_tokenizer_encode(tok, word, 0, NULL, 0, &n, NULL));
    int32_t *ids = malloc(n * sizeof *ids);
    if (ids == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory encoding the init word");
    tinv_status st = tinv_tokenizer_encode(tok, word, 0, ids, n, &n, NULL);
    size_t k = n >= 2 ? n - 2 : 0; /* without BOS and EOS */
    if (st == TINV_OK && k == 0)
        st = ti_error(TINV_ERR_INVALID_ARGUMENT, "init word '%.200s' has no token", word);
    if (st == TINV_OK && k > 1 && !(flags & TINV_INIT_AVERAGE)) {
        char list[512] = "";
        size_t used = 0;
        for (size_t i = 1; i + 1 < n && used + 2 < sizeof list; i++) {
            char t[128] = "?";
            tinv_tokenizer_id_to_token(tok, ids[i], t, sizeof t, NULL);
            int w = snprintf(list + used, sizeof list - used, "%s'%s'", i > 1 ? ", " : "", t);
            used += w > 0 ? (size_t)w : 0;
        }
        st = ti_error(TINV_ERR_INVALID_ARGUMENT,
                      "init word '%.200s' is %zu tokens (%s); use a single-token word, or ask for their average "
                      "(TINV_INIT_AVERAGE, --init-average)",
                      word, k, list);
    }
    for (size_t i = 1; st == TINV_OK && i + 1 < n; i++)
        if (ids[i] >= m->text.cfg.vocab_size)
            st = ti_error(TINV_ERR_INVALID_ARGUMENT, "init word '%.200s' must be made of base-vocabulary tokens", word);
    if (st != TINV_OK) {
        free(ids);
        return st;
    }
    size_t scope = ts_scope_begin();
    int64_t shape[1] = {(int64_t)k};
    ts_tensor *table = ti_weights_get(m->text.w, "text_model.embeddings.token_embedding.weight");
    ts_tensor *rows = ts_index_select(table, 0, ts_from_data(ids + 1, TS_I32, shape, 1, TS_I64, m->opts.device));
    /* Average on the host: k is tiny, and a single row is copied exactly. */
    size_t width = (size_t)m->text.cfg.hidden_size;
    float *all = malloc(k * width * sizeof *all);
    st = all ? ts_to_host(rows, all, TS_F32, k * width) : ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == TINV_OK) {
        for (size_t j = 0; j < width; j++) {
            double s = 0;
            for (size_t i = 0; i < k; i++)
                s += all[i * width + j];
            out[j] = (float)(s / (double)k);
        }
    }
    free(all);
    free(ids);
    ts_scope_end(scope);
    return st;
}

/* Small random start vectors, seeded by the token name so a run is reproducible. */
static tinv_status random_vector(tinv_model *m, const char *token, float *out)
{
    uint64_t seed = 1469598103934665603ull;
    for (const char *p = token; *p; p++)
        seed = (seed ^ (uint8_t)*p) * 1099511628211ull;
    ts_generator *g = ts_generator_create(seed);
    int64_t shape[1] = {m->text.cfg.hidden_size};
    ts_tensor *t = ts_randn(g, shape, 1, TS_F32, (ts_device){TS_CPU, 0});
    tinv_status st = t ? ts_to_host(t, out, TS_F32, (size_t)shape[0]) : tinv_last_status();
    ts_free(t);
    ts_generator_free(g);
    for (int64_t i = 0; st == TINV_OK && i < shape[0]; i++)
        out[i] *= 0.01f; /* about the scale of CLIP's token embeddings' spread, well inside it */
    return st;
}

TINV_API tinv_status tinv_model_add_token(tinv_model *model, tinv_tokenizer *tokenizer, const char *token,
                                          int num_vectors, const char *init_word, unsigned flags)
{
    TI_REQUIRE(model);
    TI_REQUIRE(tokenizer);
    TI_REQUIRE(token);
    TI_TRY(check_token_name(__func__, token, num_vectors));
    if (flags & ~TINV_INIT_AVERAGE)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_model_add_token: unknown flags 0x%x", flags);
    TI_TRY(check_in_step(model, tokenizer));
    size_t width = (size_t)model->text.cfg.hidden_size;
    float *vectors = malloc((size_t)num_vectors * width * sizeof *vectors);
    if (vectors == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory adding a learned token");
    tinv_status st = init_word != NULL && init_word[0] != '\0' ? init_vector(model, tokenizer, init_word, flags, vectors)
                                                               : random_vector(model, token, vectors);
    for (int i = 1; st == TINV_OK && i < num_vectors; i++)
        memcpy(vectors + (size_t)i * width, vectors, width * sizeof *vectors);
    if (st == TINV_OK)
        st = add_concept(model, tokenizer, token, vectors, num_vectors);
    free(vectors);
    return st;
}

TINV_API tinv_status tinv_model_get_token_vectors(const tinv_model *model, const char *token, float *out, size_t cap,
                                                  int *num_vectors)
{
    TI_REQUIRE(model);
    TI_REQUIRE(token);
    const ti_concept *c = ti_concepts_find(&model->text.concepts, token);
    if (c == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "'%.200s' is not a learned token of this model", token);
    if (num_vectors)
        *num_vectors = c->num_vectors;
    size_t need = (size_t)c->num_vectors * (size_t)model->text.cfg.hidden_size;
    if (out == NULL && cap == 0)
        return TINV_OK;
    TI_REQUIRE(out);
    if (cap < need)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_model_get_token_vectors: cap %zu is below the %zu values", cap,
                        need);
    return ts_to_host(c->vectors, out, TS_F32, need);
}

TINV_API int tinv_model_token_count(const tinv_model *model) { return model ? model->text.concepts.count : 0; }

TINV_API const char *tinv_model_token_name(const tinv_model *model, int index)
{
    if (model == NULL || index < 0 || index >= model->text.concepts.count)
        return NULL;
    return model->text.concepts.items[index].name;
}

int ti_model_token_steps(const tinv_model *model, const char *token)
{
    const ti_concept *c = ti_concepts_find(&model->text.concepts, token);
    return c ? c->steps_trained : 0;
}
