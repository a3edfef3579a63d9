/* Text context for sampling: token windows of the tokenizer's max length (77 for SD). */
#include "prompt_context.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

/* Unpadded ids of prompt `i` and the largest window count any prompt needs. */
typedef struct prompt_ids {
    int32_t *ids; /* BOS … EOS */
    size_t n;
} prompt_ids;

/* Window `j` of a prompt: BOS + content tokens [j·(L-2), (j+1)·(L-2)) + EOS, padded to L. */
static void fill_window(const prompt_ids *p, size_t j, size_t L, int32_t bos, int32_t eos, int32_t pad, int32_t *w)
{
    size_t content = p->n - 2, per = L - 2, start = j * per;
    size_t take = start < content ? content - start : 0;
    if (take > per)
        take = per;
    w[0] = bos;
    memcpy(w + 1, p->ids + 1 + start, take * sizeof *w);
    w[1 + take] = eos;
    for (size_t i = 2 + take; i < L; i++)
        w[i] = pad;
}

tinv_status ti_prompt_context(tinv_model *m, tinv_tokenizer *tok, const ti_logger *log, const char *const *texts,
                              const char *const *what, int n, int chunked, ts_tensor **out)
{
    *out = NULL;
    size_t L = tinv_tokenizer_max_length(tok);
    if (L < 3 || L > (size_t)m->text.cfg.max_positions)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tokenizer max length %zu does not fit the text encoder's %d", L,
                        m->text.cfg.max_positions);
    prompt_ids *p = calloc((size_t)n, sizeof *p);
    if (p == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory encoding prompts");
    tinv_status st = TINV_OK;
    size_t windows = 1;
    for (int i = 0; st == TINV_OK && i < n; i++) {
        size_t count = 0;
        st = tinv_tokenizer_encode(tok, texts[i], 0, NULL, 0, &count, NULL);
        if (st == TINV_OK && (p[i].ids = malloc(count * sizeof *p[i].ids)) == NULL)
            st = ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory encoding prompts");
        if (st == TINV_OK)
            st = tinv_tokenizer_encode(tok, texts[i], 0, p[i].ids, count, &p[i].n, NULL);
        if (st != TINV_OK)
            break;
        size_t need = p[i].n > 2 ? (p[i].n - 2 + L - 3) / (L - 2) : 1;
        if (!chunked && need > 1)
            ti_log(log, TINV_LOG_WARN, "the %s has %zu tokens; truncated to %zu (long prompts can be split into "
                   "75-token chunks instead: tinv_sampler_set_long_prompts)", what[i], p[i].n - 2, L - 2);
        if (chunked && need > windows)
            windows = need;
    }
    if (st == TINV_OK && windows > 16)
        st = ti_error(TINV_ERR_INVALID_ARGUMENT, "a prompt needs %zu chunks of %zu tokens; at most 16 are supported",
                      windows, L - 2);
    int32_t *ids = st == TINV_OK ? malloc((size_t)n * windows * L * sizeof *ids) : NULL;
    if (st == TINV_OK && ids == NULL)
        st = ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory encoding prompts");
    int known = m->text.cfg.vocab_size + ti_concepts_vectors(&m->text.concepts);
    for (int i = 0; st == TINV_OK && i < n; i++) {
        for (size_t j = 0; j < windows; j++)
            fill_window(&p[i], j, L, tinv_tokenizer_bos_id(tok), tinv_tokenizer_eos_id(tok), tinv_tokenizer_pad_id(tok),
                        ids + ((size_t)i * windows + j) * L);
        for (size_t k = 0; st == TINV_OK && k < windows * L; k++) {
            int32_t id = ids[(size_t)i * windows * L + k];
            if (id < 0 || id >= known)
                st = ti_error(TINV_ERR_INVALID_ARGUMENT,
                              "the %s has token id %d, beyond the text encoder's %d embeddings and learned vectors "
                              "(a token added to the tokenizer without tinv_model_add_token?)",
                              what[i], id, known);
        }
    }
    if (st == TINV_OK) {
        size_t scope = ts_scope_begin();
        int64_t shape[2] = {(int64_t)(n * windows), (int64_t)L};
        ts_tensor *ctx = ti_clip_encode(&m->text, ti_clip_embed_tokens(&m->text, ts_from_data(ids, TS_I32, shape, 2,
                                                                                            TS_I64, m->opts.device)));
        int64_t joined[3] = {n, (int64_t)(windows * L), m->text.cfg.hidden_size};
        ctx = ts_scope_return(scope, ts_reshape(ctx, joined, 3));
        st = ctx ? TINV_OK : tinv_last_status();
        *out = ctx;
    }
    for (int i = 0; i < n; i++)
        free(p[i].ids);
    free(p);
    free(ids);
    return st;
}
