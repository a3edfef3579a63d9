/* Golden check of the tokenizer: every line of the case's JSON-lines file must give exactly
 * the recorded padded ids and unpadded ids, with the line's added tokens on a fresh tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "tinv.h"

static int ids_equal(json_t *arr, const int32_t *ids, size_t n)
{
    if (!json_is_array(arr) || json_array_size(arr) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(arr, i)) != ids[i])
            return 0;
    return 1;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s:", label);
    for (size_t i = 0; i < n && i < 80; i++)
        fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "%s\n", n > 80 ? " ..." : "");
}

golden_result golden_tokenizer(const char *set_dir, json_t *c, char *detail, size_t detail_cap)
{
    const char *file = json_string_value(json_object_get(c, "file"));
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", set_dir, file ? file : "golden/tokenizer.jsonl");
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(detail, detail_cap, "cannot open %s", path);
        return GOLDEN_FAIL;
    }
    tinv_tokenizer *base = NULL;
    if (tinv_tokenizer_load(set_dir, NULL, &base) != TINV_OK) {
        snprintf(detail, detail_cap, "load failed: %s", tinv_last_error());
        fclose(f);
        return GOLDEN_FAIL;
    }
    enum { MAX_CACHED = 64 };
    char *cached_key[MAX_CACHED];
    tinv_tokenizer *cached_tok[MAX_CACHED];
    size_t n_cached = 0;
    char *line = NULL;
    size_t line_cap = 0, total = 0, matched = 0, shown = 0;
    int32_t *ids = NULL;
    size_t ids_cap = 0;
    ssize_t got;
    while ((got = getline(&line, &line_cap, f)) > 0) {
        if (got == 1 && line[0] == '\n')
            continue;
        total++;
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        const char *prompt = j ? json_string_value(json_object_get(j, "prompt")) : NULL;
        json_t *added = j ? json_object_get(j, "added_tokens") : NULL;
        if (prompt == NULL) {
            fprintf(stderr, "  line %zu: not a golden record\n", total);
            json_decref(j);
            continue;
        }
        tinv_tokenizer *tok = base;
        if (json_array_size(added) > 0) {
            /* A fresh tokenizer per distinct list of added tokens (cached: loading is slow). */
            char *key = json_dumps(added, JSON_COMPACT);
            size_t k = 0;
            while (k < n_cached && strcmp(cached_key[k], key) != 0)
                k++;
            if (k == n_cached && n_cached < MAX_CACHED) {
                tinv_tokenizer *t = NULL;
                if (tinv_tokenizer_load(set_dir, NULL, &t) == TINV_OK) {
                    size_t q;
                    json_t *v;
                    json_array_foreach(added, q, v) {
                        if (tinv_tokenizer_add_token(t, json_string_value(v), NULL) != TINV_OK)
                            fprintf(stderr, "  line %zu: add_token: %s\n", total, tinv_last_error());
                    }
                }
                cached_key[n_cached] = key;
                cached_tok[n_cached++] = t;
                key = NULL;
            }
            free(key);
            tok = k < n_cached ? cached_tok[k] : NULL;
        }
        int ok = tok != NULL;
        size_t n = 0, L = ok ? tinv_tokenizer_max_length(tok) : 0;
        if (ok && tinv_tokenizer_encode(tok, prompt, 0, NULL, 0, &n, NULL) != TINV_OK)
            ok = 0;
        size_t need = n > L ? n : L;
        if (ok && need > ids_cap) {
            ids_cap = need * 2;
            ids = realloc(ids, ids_cap * sizeof *ids);
        }
        int unpadded_ok = 0, padded_ok = 0;
        if (ok && tinv_tokenizer_encode(tok, prompt, 0, ids, ids_cap, &n, NULL) == TINV_OK) {
            unpadded_ok = ids_equal(json_object_get(j, "ids_unpadded"), ids, n);
            if (!unpadded_ok && shown < 10) {
                fprintf(stderr, "  line %zu: unpadded ids differ for prompt: %.200s\n", total, prompt);
                print_ids("got", ids, n);
            }
        } else if (shown < 10) {
            fprintf(stderr, "  line %zu: encode failed: %s\n", total, tinv_last_error());
        }
        if (ok && tinv_tokenizer_encode(tok, prompt, 1, ids, ids_cap, &n, NULL) == TINV_OK)
            padded_ok = ids_equal(json_object_get(j, "ids"), ids, n);
        if (unpadded_ok && padded_ok)
            matched++;
        else
            shown++;
        json_decref(j);
    }
    free(line);
    free(ids);
    for (size_t k = 0; k < n_cached; k++) {
        free(cached_key[k]);
        tinv_tokenizer_free(cached_tok[k]);
    }
    tinv_tokenizer_free(base);
    fclose(f);
    snprintf(detail, detail_cap, "%zu/%zu lines exact", matched, total);
    return total > 0 && matched == total ? GOLDEN_PASS : GOLDEN_FAIL;
}
