/* The demo model's tokenizer files: CLIP's byte-level vocabulary layout (the 256 byte symbols,
 * the same 256 ending a word with "</w>", the merges, then <|startoftext|> and <|endoftext|>),
 * with a few merges learnt here by plain BPE from a built-in list of prompt words. Every
 * lowercase ASCII word still tokenizes: single letters are in the vocabulary. */
#include "demo_model.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "error.h"

enum { MAX_MERGES = 512, MAX_WORDS = 2048, MAX_SYMS = 24, SYM_LEN = 32, KEY_LEN = 2 * SYM_LEN + 1 };

/* Words of typical prompts and training templates (lowercase ASCII). Common words repeat so
 * that their pieces win the first merges; the list is part of the format: editing it changes
 * every demo model's vocabulary. */
const char ti_demo_corpus[] =
    "a a a a a photo photo photo photo of of of of the the the the cat cat dog dog "
    "picture picture painting painting rendering rendering drawing image portrait style style "
    "in in on on with with and and art art small large bright dark close cropped clean dirty "
    "nice good cool weird one big little toy toy sitting standing green red blue white black "
    "landscape street house tree water light night morning";

typedef struct word {
    int n;
    char sym[MAX_SYMS][SYM_LEN];
} word;

typedef struct learner {
    const char *corpus;
    int max_merges;
    word words[MAX_WORDS];
    int n_words;
    char merges[MAX_MERGES][KEY_LEN]; /* "left right" */
    char merged[MAX_MERGES][SYM_LEN]; /* "leftright" */
    int n_merges;
} learner;

static tinv_status split_corpus(learner *l)
{
    const char *p = l->corpus;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        if (l->n_words == MAX_WORDS || len >= MAX_SYMS || len + 4 >= SYM_LEN)
            return ti_error(TINV_ERR_INTERNAL, "tokenizer vocabulary: word list too large");
        word *w = &l->words[l->n_words++];
        w->n = (int)len;
        for (size_t i = 0; i < len; i++)
            snprintf(w->sym[i], SYM_LEN, "%c%s", p[i], i + 1 == len ? "</w>" : "");
        p += len;
    }
    return TINV_OK;
}

static int cmp_key(const void *a, const void *b) { return strcmp(a, b); }

static int already_merged(const learner *l, const char *a, const char *b)
{
    char cat[KEY_LEN];
    snprintf(cat, sizeof cat, "%s%s", a, b);
    for (int i = 0; i < l->n_merges; i++)
        if (strcmp(l->merged[i], cat) == 0)
            return 1;
    return 0;
}

/* The most frequent adjacent pair, ties to the smallest "left right" string, so the result
 * depends on nothing but the word list. Returns 0 when no pair occurs twice. */
static int best_pair(const learner *l, char (*keys)[KEY_LEN], char *best)
{
    size_t n = 0;
    for (int w = 0; w < l->n_words; w++)
        for (int i = 0; i + 1 < l->words[w].n; i++) {
            const char *a = l->words[w].sym[i], *b = l->words[w].sym[i + 1];
            /* A pair whose concatenation is already a symbol would give it a second id. */
            if (strlen(a) + strlen(b) < SYM_LEN && !already_merged(l, a, b))
                snprintf(keys[n++], KEY_LEN, "%s %s", a, b);
        }
    qsort(keys, n, KEY_LEN, cmp_key);
    int best_count = 1;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(keys[j], keys[i]) == 0)
            j++;
        if ((int)(j - i) > best_count) {
            best_count = (int)(j - i);
            memcpy(best, keys[i], KEY_LEN);
        }
        i = j;
    }
    return best_count > 1;
}

static void apply_merge(learner *l, const char *a, const char *b)
{
    for (int w = 0; w < l->n_words; w++) {
        word *wd = &l->words[w];
        for (int i = 0; i + 1 < wd->n; i++) {
            if (strcmp(wd->sym[i], a) != 0 || strcmp(wd->sym[i + 1], b) != 0)
                continue;
            strcat(wd->sym[i], b); /* fits: checked in best_pair */
            memmove(wd->sym[i + 1], wd->sym[i + 2], (size_t)(wd->n - i - 2) * SYM_LEN);
            wd->n--;
        }
    }
}

static tinv_status learn_merges(learner *l)
{
    TI_TRY(split_corpus(l));
    char (*keys)[KEY_LEN] = malloc((size_t)MAX_WORDS * MAX_SYMS * KEY_LEN);
    if (keys == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "demo vocabulary: out of memory");
    char best[KEY_LEN];
    while (l->n_merges < l->max_merges && best_pair(l, keys, best)) {
        char *space = strchr(best, ' ');
        *space = '\0';
        const char *a = best, *b = space + 1;
        snprintf(l->merges[l->n_merges], KEY_LEN, "%s %s", a, b);
        snprintf(l->merged[l->n_merges], SYM_LEN, "%s%s", a, b);
        l->n_merges++;
        apply_merge(l, a, b);
    }
    free(keys);
    return TINV_OK;
}

/* UTF-8 of a byte-table codepoint (all below U+0800). */
static void put_symbol(char *out, uint32_t cp, const char *suffix)
{
    if (cp < 0x80)
        snprintf(out, 16, "%c%s", (char)cp, suffix);
    else
        snprintf(out, 16, "%c%c%s", (char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F)), suffix);
}

static tinv_status write_vocab(const char *path, const learner *l, int *vocab_size)
{
    json_t *root = json_object();
    int id = 0, failed = root == NULL;
    char sym[16];
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 256 && !failed; i++) {
            put_symbol(sym, ti_bpe_vocab_order_cp(i), pass ? "</w>" : "");
            failed = json_object_set_new(root, sym, json_integer(id++)) != 0;
        }
    for (int i = 0; i < l->n_merges && !failed; i++)
        failed = json_object_set_new(root, l->merged[i], json_integer(id++)) != 0;
    if (!failed)
        failed = json_object_set_new(root, "<|startoftext|>", json_integer(id++)) != 0;
    if (!failed)
        failed = json_object_set_new(root, "<|endoftext|>", json_integer(id++)) != 0;
    char *text = failed ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    tinv_status st = ti_demo_write_text(path, text);
    free(text);
    *vocab_size = id;
    return st;
}

static tinv_status write_merges(const char *path, const learner *l)
{
    size_t cap = 32 + (size_t)l->n_merges * (KEY_LEN + 1), len = 0;
    char *text = malloc(cap);
    if (text == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    len += (size_t)snprintf(text, cap, "#version: 0.2\n");
    for (int i = 0; i < l->n_merges; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s\n", l->merges[i]);
    tinv_status st = ti_demo_write_text(path, text);
    free(text);
    return st;
}

/* As SD 1.x ships them: 77 positions, unknown and padding both <|endoftext|>. */
static const char tokenizer_config[] =
    "{\n"
    "  \"bos_token\": \"<|startoftext|>\",\n"
    "  \"do_lower_case\": true,\n"
    "  \"eos_token\": \"<|endoftext|>\",\n"
    "  \"errors\": \"replace\",\n"
    "  \"model_max_length\": 77,\n"
    "  \"pad_token\": \"<|endoftext|>\",\n"
    "  \"tokenizer_class\": \"CLIPTokenizer\",\n"
    "  \"unk_token\": \"<|endoftext|>\"\n"
    "}\n";

static const char special_tokens_map[] =
    "{\n"
    "  \"bos_token\": \"<|startoftext|>\",\n"
    "  \"eos_token\": \"<|endoftext|>\",\n"
    "  \"pad_token\": \"<|endoftext|>\",\n"
    "  \"unk_token\": \"<|endoftext|>\"\n"
    "}\n";

tinv_status ti_demo_tokenizer_write(const char *dir, const char *corpus, int max_merges, int *vocab_size)
{
    if (max_merges < 0 || max_merges > MAX_MERGES)
        return ti_error(TINV_ERR_INTERNAL, "tokenizer vocabulary: %d merges asked, at most %d", max_merges, MAX_MERGES);
    learner *l = calloc(1, sizeof *l);
    if (l == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "demo vocabulary: out of memory");
    l->corpus = corpus;
    l->max_merges = max_merges;
    char path[4096];
    tinv_status st = learn_merges(l);
    if (st == TINV_OK) {
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        st = write_vocab(path, l, vocab_size);
    }
    if (st == TINV_OK) {
        snprintf(path, sizeof path, "%s/merges.txt", dir);
        st = write_merges(path, l);
    }
    if (st == TINV_OK) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
        st = ti_demo_write_text(path, tokenizer_config);
    }
    if (st == TINV_OK) {
        snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
        st = ti_demo_write_text(path, special_tokens_map);
    }
    free(l);
    return st;
}
