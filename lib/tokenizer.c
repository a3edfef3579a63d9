/* tinv_tokenizer: CLIP's tokenizer as Hugging Face's slow CLIPTokenizer (with ftfy) runs it:
 * split on special/added tokens -> clean text -> CLIP regex -> byte-level BPE -> ids. */
#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "error.h"
#include "options.h"
#include "text_clean.h"

/* The reference reads merges lines [1 : 49152 - 256 - 2 + 1]: the vocabulary is 49152 - 2
 * symbols (256 bytes, 256 with '</w>', the merges) plus two special tokens. */
enum { TI_CLIP_MERGES = 49152 - 256 - 2, TI_DEFAULT_MAX_LEN = 77 };

typedef struct split_tok {
    char *text;
    size_t len;
    int32_t id;
    int special; /* from the tokenizer files rather than tinv_tokenizer_add_token */
    int expand;  /* ids emitted for a match: n for the head of an n-vector learned token, else 1 */
} split_tok;

struct tinv_tokenizer {
    ti_logger logger;
    ti_bpe bpe;
    split_tok *splits; /* special and added tokens: matched as whole strings before BPE */
    size_t n_splits, cap_splits;
    uint8_t split_first[256]; /* first bytes of split tokens, to skip most positions fast */
    size_t n_extra;           /* split tokens whose text is not in the BPE vocabulary */
    int32_t bos, eos, pad, unk;
    size_t max_len;
    pcre2_code *re;
    pcre2_match_data *md;
};

/* ---- files ----------------------------------------------------------------------------- */

static tinv_status read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    gzFile f = gzopen(path, "rb"); /* zlib reads plain files transparently too */
    if (f == NULL)
        return ti_error(TINV_ERR_IO, "cannot open '%s'", path);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        gzclose(f);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > ((size_t)1 << 30)) {
                free(buf);
                gzclose(f);
                return ti_error(TINV_ERR_BAD_FORMAT, "'%s' is too large (over 1 GiB)", path);
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL) {
                free(buf);
                gzclose(f);
                return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
            }
            buf = nb;
            cap *= 2;
        }
        int k = gzread(f, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
        if (k < 0) {
            int errnum;
            const char *msg = gzerror(f, &errnum);
            tinv_status st = ti_error(errnum == Z_ERRNO ? TINV_ERR_IO : TINV_ERR_BAD_FORMAT,
                                      "cannot read '%s': %s", path, msg ? msg : "read error");
            free(buf);
            gzclose(f);
            return st;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    int errnum = Z_OK;
    const char *msg = gzerror(f, &errnum);
    if (errnum != Z_OK && errnum != Z_BUF_ERROR) {
        tinv_status st = ti_error(TINV_ERR_BAD_FORMAT, "cannot read '%s': %s", path, msg);
        free(buf);
        gzclose(f);
        return st;
    }
    gzclose(f);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return TINV_OK;
}

static int is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Parse merges (text of a merges.txt or the openai .txt.gz): strip, split lines, take lines
 * [1, 1 + TI_CLIP_MERGES) and rank them in order. `name` is used in error messages. */
static tinv_status set_token(ti_bpe *bpe, const char *s, size_t len, int32_t id);

/* With `vocab_base` >= 0 each merged symbol also becomes vocabulary id vocab_base + rank. */
static tinv_status parse_merges(ti_bpe *bpe, char *data, size_t len, const char *name, long vocab_base,
                                size_t *n_merges)
{
    if (!ti_utf8_valid(data, len, NULL))
        return ti_error(TINV_ERR_BAD_FORMAT, "'%s' is not valid UTF-8", name);
    size_t a = 0, b = len;
    while (a < b && is_ascii_space(data[a]))
        a++;
    while (b > a && is_ascii_space(data[b - 1]))
        b--;
    size_t line_no = 0, pos = a;
    *n_merges = 0;
    /* Line numbers in messages count from the stripped start, as 1-based file lines would
     * when the file has no leading blank lines. */
    while (pos < b && *n_merges < TI_CLIP_MERGES) {
        size_t e = pos;
        while (e < b && data[e] != '\n')
            e++;
        line_no++;
        if (line_no > 1) {
            /* two whitespace-separated symbols */
            size_t p = pos, q = e;
            while (q > p && is_ascii_space(data[q - 1]))
                q--;
            while (p < q && is_ascii_space(data[p]))
                p++;
            size_t s1 = p;
            while (p < q && !is_ascii_space(data[p]))
                p++;
            size_t e1 = p;
            while (p < q && is_ascii_space(data[p]))
                p++;
            size_t s2 = p;
            while (p < q && !is_ascii_space(data[p]))
                p++;
            size_t e2 = p;
            if (e1 == s1 || e2 == s2 || p != q)
                return ti_error(TINV_ERR_BAD_FORMAT, "%s:%zu: expected two symbols separated by a space",
                                name, line_no);
            /* key "left right" */
            char *key = data + s1;
            size_t klen = e2 - s1;
            if (s2 != e1 + 1) { /* normalise odd spacing into one space */
                memmove(data + e1 + 1, data + s2, e2 - s2);
                data[e1] = ' ';
                klen = (e1 - s1) + 1 + (e2 - s2);
            }
            TI_TRY(ti_strmap_put(&bpe->ranks, key, klen, (int32_t)*n_merges));
            if (vocab_base >= 0) {
                char merged[512];
                size_t m1 = e1 - s1, m2 = klen - m1 - 1;
                if (m1 + m2 > sizeof merged)
                    return ti_error(TINV_ERR_BAD_FORMAT, "%s:%zu: symbol too long", name, line_no);
                memcpy(merged, key, m1);
                memcpy(merged + m1, key + m1 + 1, m2);
                TI_TRY(set_token(bpe, merged, m1 + m2, (int32_t)(vocab_base + (long)*n_merges)));
            }
            (*n_merges)++;
        }
        pos = e + 1;
    }
    if (line_no <= 1)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: no merges found (the first line is a header)", name);
    return TINV_OK;
}

static tinv_status set_token(ti_bpe *bpe, const char *s, size_t len, int32_t id)
{
    if (id < 0 || (size_t)id >= bpe->n_ids)
        return ti_error(TINV_ERR_INTERNAL, "tokenizer: id %d out of range", (int)id);
    free(bpe->id_to_token[id]);
    bpe->id_to_token[id] = malloc(len + 1);
    if (bpe->id_to_token[id] == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    memcpy(bpe->id_to_token[id], s, len);
    bpe->id_to_token[id][len] = '\0';
    return ti_strmap_put(&bpe->vocab, s, len, id);
}

static size_t put_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* openai's bpe_simple_vocab_16e6.txt.gz: the vocabulary is derived from the merges: the 256
 * byte symbols, the same with '</w>', each merge's concatenation in order, then the two specials. */
static tinv_status load_openai(tinv_tokenizer *tok, const char *path)
{
    char *data;
    size_t len, n_merges = 0;
    TI_TRY(read_file(path, &data, &len));
    ti_bpe *bpe = &tok->bpe;
    bpe->n_ids = 512 + TI_CLIP_MERGES + 2;
    bpe->id_to_token = calloc(bpe->n_ids, sizeof *bpe->id_to_token);
    tinv_status st = TINV_OK;
    if (bpe->id_to_token == NULL)
        st = ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    char sym[16];
    for (int i = 0; i < 256 && st == TINV_OK; i++) {
        size_t k = put_cp(sym, ti_bpe_vocab_order_cp(i));
        st = set_token(bpe, sym, k, i);
        if (st == TINV_OK) {
            memcpy(sym + k, "</w>", 4);
            st = set_token(bpe, sym, k + 4, 256 + i);
        }
    }
    if (st == TINV_OK)
        st = parse_merges(bpe, data, len, path, 512, &n_merges);
    free(data);
    TI_TRY(st);
    bpe->n_ids = 512 + n_merges + 2; /* fewer merges than CLIP's: the specials move down */
    TI_TRY(set_token(bpe, "<|startoftext|>", 15, (int32_t)(512 + n_merges)));
    return set_token(bpe, "<|endoftext|>", 13, (int32_t)(512 + n_merges + 1));
}

static tinv_status load_vocab_json(tinv_tokenizer *tok, const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            return ti_error(TINV_ERR_IO, "cannot open '%s'", path);
        fclose(f);
        return ti_error(TINV_ERR_BAD_FORMAT, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    }
    tinv_status st = TINV_OK;
    if (!json_is_object(root)) {
        st = ti_error(TINV_ERR_BAD_FORMAT, "%s: expected a JSON object of token -> id", path);
        goto out;
    }
    ti_bpe *bpe = &tok->bpe;
    size_t max_id = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= 10000000) {
            st = ti_error(TINV_ERR_BAD_FORMAT, "%s: token '%.64s' has no valid id", path, key);
            goto out;
        }
        if ((size_t)json_integer_value(val) > max_id)
            max_id = (size_t)json_integer_value(val);
    }
    bpe->n_ids = json_object_size(root) ? max_id + 1 : 0;
    bpe->id_to_token = calloc(bpe->n_ids ? bpe->n_ids : 1, sizeof *bpe->id_to_token);
    if (bpe->id_to_token == NULL) {
        st = ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        goto out;
    }
    json_object_foreach(root, key, val) {
        if ((st = set_token(bpe, key, strlen(key), (int32_t)json_integer_value(val))) != TINV_OK)
            goto out;
    }
    if (bpe->vocab.count == 0)
        st = ti_error(TINV_ERR_BAD_FORMAT, "%s: empty vocabulary", path);
out:
    json_decref(root);
    return st;
}

/* ---- special and added tokens ---------------------------------------------------------- */

static tinv_status add_split(tinv_tokenizer *tok, const char *s, size_t len, int32_t id, int special)
{
    for (size_t i = 0; i < tok->n_splits; i++)
        if (tok->splits[i].len == len && memcmp(tok->splits[i].text, s, len) == 0)
            return TINV_OK;
    if (tok->n_splits == tok->cap_splits) {
        size_t ncap = tok->cap_splits ? tok->cap_splits * 2 : 8;
        split_tok *n = realloc(tok->splits, ncap * sizeof *n);
        if (n == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        tok->splits = n;
        tok->cap_splits = ncap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    memcpy(copy, s, len);
    copy[len] = '\0';
    tok->splits[tok->n_splits++] = (split_tok){copy, len, id, special, 1};
    tok->split_first[(uint8_t)s[0]] = 1;
    return TINV_OK;
}

static const split_tok *find_split_by_text(const tinv_tokenizer *tok, const char *s, size_t len)
{
    for (size_t i = 0; i < tok->n_splits; i++)
        if (tok->splits[i].len == len && memcmp(tok->splits[i].text, s, len) == 0)
            return &tok->splits[i];
    return NULL;
}

static const split_tok *find_split_by_id(const tinv_tokenizer *tok, int32_t id)
{
    for (size_t i = 0; i < tok->n_splits; i++)
        if (tok->splits[i].id == id)
            return &tok->splits[i];
    return NULL;
}

static size_t next_id(const tinv_tokenizer *tok) { return tok->bpe.vocab.count + tok->n_extra; }

/* Register a special token (bos/eos/unk/pad or one listed in the config) and return its id:
 * its vocabulary id, or a new id after the vocabulary when it is not in it. */
static tinv_status add_special(tinv_tokenizer *tok, const char *s, int32_t want_id, int32_t *id_out)
{
    size_t len = strlen(s);
    if (len == 0)
        return ti_error(TINV_ERR_BAD_FORMAT, "tokenizer: empty special token");
    const split_tok *have = find_split_by_text(tok, s, len);
    int32_t id;
    if (have != NULL) {
        id = have->id;
    } else if (ti_strmap_get(&tok->bpe.vocab, s, len, &id)) {
        TI_TRY(add_split(tok, s, len, id, 1));
    } else {
        id = want_id >= 0 ? want_id : (int32_t)next_id(tok);
        TI_TRY(add_split(tok, s, len, id, 1));
        tok->n_extra++;
    }
    if (id_out)
        *id_out = id;
    return TINV_OK;
}

/* A special-token entry in the config: a string or {"content": "..."}. */
static const char *json_token_text(json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static json_t *load_optional_json(const char *path, tinv_status *st)
{
    *st = TINV_OK;
    if (!file_exists(path))
        return NULL;
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        *st = ti_error(TINV_ERR_BAD_FORMAT, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    else if (!json_is_object(j)) {
        json_decref(j);
        j = NULL;
        *st = ti_error(TINV_ERR_BAD_FORMAT, "%s: expected a JSON object", path);
    }
    return j;
}

static tinv_status load_hf_dir(tinv_tokenizer *tok, const char *dir)
{
    char path[4096];
    tinv_status st;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    TI_TRY(load_vocab_json(tok, path));
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    char *data;
    size_t len, n_merges;
    TI_TRY(read_file(path, &data, &len));
    st = parse_merges(&tok->bpe, data, len, path, -1, &n_merges);
    free(data);
    TI_TRY(st);

    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = load_optional_json(path, &st);
    TI_TRY(st);
    snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
    json_t *map = load_optional_json(path, &st);
    if (st != TINV_OK) {
        json_decref(cfg);
        return st;
    }
    if (cfg != NULL) {
        json_t *ml = json_object_get(cfg, "model_max_length");
        /* transformers writes a huge sentinel when there is no limit; keep CLIP's 77 then. */
        if (json_is_number(ml) && json_number_value(ml) >= 2 && json_number_value(ml) <= 1e6)
            tok->max_len = (size_t)json_number_value(ml);
        json_t *dec = json_object_get(cfg, "added_tokens_decoder");
        const char *k;
        json_t *v;
        json_object_foreach(dec, k, v) {
            const char *text = json_token_text(v);
            char *end;
            long id = strtol(k, &end, 10);
            if (text == NULL || *end != '\0' || id < 0 || id >= 10000000) {
                st = ti_error(TINV_ERR_BAD_FORMAT, "%s/tokenizer_config.json: bad added_tokens_decoder entry '%s'",
                              dir, k);
                break;
            }
            if ((st = add_special(tok, text, (int32_t)id, NULL)) != TINV_OK)
                break;
        }
    }
    static const char *const names[4] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    static const char *const defaults[4] = {"<|startoftext|>", "<|endoftext|>", "<|endoftext|>", "<|endoftext|>"};
    int32_t *slots[4] = {&tok->bos, &tok->eos, &tok->unk, &tok->pad};
    for (int i = 0; i < 4 && st == TINV_OK; i++) {
        const char *text = map ? json_token_text(json_object_get(map, names[i])) : NULL;
        if (text == NULL && cfg != NULL)
            text = json_token_text(json_object_get(cfg, names[i]));
        if (text == NULL)
            text = defaults[i];
        st = add_special(tok, text, -1, slots[i]);
    }
    json_decref(cfg);
    json_decref(map);
    TI_TRY(st);
    /* Older transformers versions keep added tokens in added_tokens.json. */
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    json_t *added = load_optional_json(path, &st);
    TI_TRY(st);
    if (added != NULL) {
        const char *k;
        json_t *v;
        json_object_foreach(added, k, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= 10000000) {
                st = ti_error(TINV_ERR_BAD_FORMAT, "%s: token '%.64s' has no valid id", path, k);
                break;
            }
            if ((st = add_special(tok, k, (int32_t)json_integer_value(v), NULL)) != TINV_OK)
                break;
        }
        json_decref(added);
    }
    return st;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static tinv_status compile_regex(tinv_tokenizer *tok)
{
    /* CLIP's pattern; "\s" is spelled out as Unicode White_Space so that it agrees with the
     * whitespace clean-up exactly. */
    static const char pattern[] =
        "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|"
        "[^\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
        "\\p{L}\\p{N}]+";
    int err;
    PCRE2_SIZE off;
    tok->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS,
                            &err, &off, NULL);
    if (tok->re == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return ti_error(TINV_ERR_INTERNAL, "tokenizer: regex compile failed at %zu: %s", (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(tok->re, PCRE2_JIT_COMPLETE); /* optional speed-up; falls back silently */
    tok->md = pcre2_match_data_create_from_pattern(tok->re, NULL);
    if (tok->md == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    return TINV_OK;
}

TINV_API void tinv_tokenizer_free(tinv_tokenizer *tok)
{
    if (tok == NULL)
        return;
    ti_bpe_free(&tok->bpe);
    for (size_t i = 0; i < tok->n_splits; i++)
        free(tok->splits[i].text);
    free(tok->splits);
    pcre2_match_data_free(tok->md);
    pcre2_code_free(tok->re);
    free(tok);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

TINV_API tinv_status tinv_tokenizer_load(const char *path, const tinv_options *opts, tinv_tokenizer **out)
{
    TI_REQUIRE(out);
    *out = NULL; /* a failed load never leaves a stale handle behind */
    TI_REQUIRE(path);
    if (strlen(path) > 3000)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_load: path too long");
    tinv_tokenizer *tok = calloc(1, sizeof *tok);
    if (tok == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tinv_tokenizer_load: out of memory");
    /* Only the logger matters here; read it directly so the tokenizer needs no libtorch. */
    if (opts != NULL)
        tok->logger = opts->logger;
    else
        tok->logger.max_level = TINV_LOG_WARN;
    tok->max_len = TI_DEFAULT_MAX_LEN;
    tok->bos = tok->eos = tok->pad = tok->unk = -1;

    tinv_status st;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/tokenizer", path);
    if (is_dir(path)) {
        char probe[4096];
        snprintf(probe, sizeof probe, "%s/vocab.json", path);
        if (file_exists(probe))
            st = load_hf_dir(tok, path);
        else if (is_dir(sub))
            st = load_hf_dir(tok, sub);
        else
            st = ti_error(TINV_ERR_IO, "'%s' has neither vocab.json nor a tokenizer/ folder", path);
    } else if (ends_with(path, ".gz") || ends_with(path, ".txt")) {
        st = load_openai(tok, path);
        if (st == TINV_OK)
            st = add_special(tok, "<|startoftext|>", -1, &tok->bos);
        if (st == TINV_OK)
            st = add_special(tok, "<|endoftext|>", -1, &tok->eos);
        tok->unk = tok->pad = tok->eos;
    } else {
        st = file_exists(path) ? ti_error(TINV_ERR_INVALID_ARGUMENT,
                                          "'%s': expected a model folder, a tokenizer folder or a .txt.gz merges file", path)
                               : ti_error(TINV_ERR_IO, "cannot open '%s'", path);
    }
    if (st == TINV_OK)
        st = compile_regex(tok);
    if (st != TINV_OK) {
        tinv_tokenizer_free(tok);
        return st;
    }
    tok->bpe.unk_id = tok->unk;
    ti_log(&tok->logger, TINV_LOG_INFO, "tokenizer: %zu tokens, max length %zu, pad id %d", next_id(tok),
           tok->max_len, (int)tok->pad);
    *out = tok;
    return TINV_OK;
}

TINV_API tinv_status tinv_tokenizer_set_log_callback(tinv_tokenizer *tok, tinv_log_fn fn, tinv_log_level max_level,
                                                     void *user)
{
    TI_REQUIRE(tok);
    tok->logger.fn = fn;
    tok->logger.user = user;
    tok->logger.max_level = max_level;
    return TINV_OK;
}

TINV_API tinv_status tinv_tokenizer_add_token(tinv_tokenizer *tok, const char *token, int32_t *id_out)
{
    TI_REQUIRE(tok);
    TI_REQUIRE(token);
    size_t len = strlen(token), bad;
    if (len == 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_add_token: empty token");
    if (!ti_utf8_valid(token, len, &bad))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_add_token: token is not valid UTF-8 (byte %zu)", bad);
    int32_t id;
    const split_tok *have = find_split_by_text(tok, token, len);
    if (have != NULL || ti_strmap_get(&tok->bpe.vocab, token, len, &id))
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "tinv_tokenizer_add_token: token '%.200s' already exists (id %d); choose another placeholder",
                        token, have ? (int)have->id : (int)id);
    if (next_id(tok) >= INT32_MAX)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_add_token: too many tokens");
    id = (int32_t)next_id(tok);
    TI_TRY(add_split(tok, token, len, id, 0));
    tok->n_extra++;
    if (id_out)
        *id_out = id;
    return TINV_OK;
}

static void group_name(char *buf, size_t cap, const char *token, int k)
{
    if (k == 0)
        snprintf(buf, cap, "%s", token);
    else
        snprintf(buf, cap, "%s_%d", token, k);
}

tinv_status ti_tokenizer_add_group(tinv_tokenizer *tok, const char *token, int n, int32_t *first_id)
{
    if (n < 1 || strlen(token) > 1000)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tokenizer: bad learned token ('%.100s', %d vectors)", token, n);
    char name[1100];
    /* Check every name before adding any, so a clash leaves the tokenizer unchanged. */
    for (int k = 0; k < n; k++) {
        group_name(name, sizeof name, token, k);
        int32_t id;
        const split_tok *have = find_split_by_text(tok, name, strlen(name));
        if (have != NULL || ti_strmap_get(&tok->bpe.vocab, name, strlen(name), &id))
            return ti_error(TINV_ERR_INVALID_ARGUMENT,
                            "token '%s' is already in the vocabulary (id %d); choose another placeholder name", name,
                            have ? (int)have->id : (int)id);
    }
    size_t before = tok->n_splits;
    for (int k = 0; k < n; k++) {
        group_name(name, sizeof name, token, k);
        int32_t id;
        tinv_status st = tinv_tokenizer_add_token(tok, name, &id);
        if (st != TINV_OK) {
            ti_tokenizer_drop_last(tok, (int)(tok->n_splits - before));
            return st;
        }
        if (k == 0)
            *first_id = id;
    }
    tok->splits[before].expand = n;
    return TINV_OK;
}

void ti_tokenizer_drop_last(tinv_tokenizer *tok, int n)
{
    for (; n > 0 && tok->n_splits > 0 && !tok->splits[tok->n_splits - 1].special; n--) {
        free(tok->splits[--tok->n_splits].text);
        tok->n_extra--;
    }
}

/* ---- encoding -------------------------------------------------------------------------- */

/* Clean one chunk of text (between special tokens), pre-tokenise it and BPE each piece. */
static tinv_status encode_chunk(tinv_tokenizer *tok, const char *s, size_t len, int32_t **ids, size_t *n, size_t *cap)
{
    char *clean;
    size_t clen;
    TI_TRY(ti_text_clean(s, len, &clean, &clen));
    tinv_status st = TINV_OK;
    PCRE2_SIZE off = 0;
    while (off < clen) {
        int rc = pcre2_match(tok->re, (PCRE2_SPTR)clean, clen, off, PCRE2_NO_UTF_CHECK, tok->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = ti_error(TINV_ERR_INTERNAL, "tokenizer: regex match failed: %s", (char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) { /* cannot happen: every alternative is non-empty */
            off = a + 1;
            continue;
        }
        int32_t id;
        /* The reference's BPE cache is seeded with the two literal special tokens, so they map
         * straight to their ids even when they only appear after clean-up (e.g. upper case). */
        if ((b - a == 15 && memcmp(clean + a, "<|startoftext|>", 15) == 0) ||
            (b - a == 13 && memcmp(clean + a, "<|endoftext|>", 13) == 0)) {
            if (!ti_strmap_get(&tok->bpe.vocab, clean + a, b - a, &id))
                id = tok->unk;
            st = ti_ids_push(ids, n, cap, id);
        } else {
            st = ti_bpe_encode_word(&tok->bpe, clean + a, b - a, ids, n, cap);
        }
        if (st != TINV_OK)
            break;
        off = b;
    }
    free(clean);
    return st;
}

/* Whether `rest` (after a multi-vector head) goes on with the head's "_1" token. */
static int spelled_out(const tinv_tokenizer *tok, const split_tok *head, const char *rest, size_t len)
{
    const split_tok *next = find_split_by_id(tok, head->id + 1);
    size_t i = 0;
    while (i < len && (rest[i] == ' ' || rest[i] == '\t' || rest[i] == '\n'))
        i++;
    return next != NULL && next->len <= len - i && memcmp(rest + i, next->text, next->len) == 0;
}

tinv_status ti_tokenizer_encode_all(tinv_tokenizer *tok, const char *text, size_t len, int32_t **ids_out,
                                    size_t *n_out)
{
    size_t bad;
    *ids_out = NULL;
    *n_out = 0;
    if (!ti_utf8_valid(text, len, &bad))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tokenizer: text is not valid UTF-8 (bad byte 0x%02x at offset %zu)",
                        (unsigned)(uint8_t)text[bad], bad);
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    tinv_status st = ti_ids_push(&ids, &n, &cap, tok->bos);
    /* Split on special and added tokens first, leftmost-longest, on the raw text (as the
     * reference's trie does); the pieces between them are encoded separately. */
    size_t chunk = 0, i = 0;
    while (st == TINV_OK && i < len) {
        const split_tok *best = NULL;
        if (tok->split_first[(uint8_t)text[i]]) {
            for (size_t k = 0; k < tok->n_splits; k++) {
                const split_tok *t = &tok->splits[k];
                if (t->len <= len - i && (best == NULL || t->len > best->len) && memcmp(text + i, t->text, t->len) == 0)
                    best = t;
            }
        }
        if (best == NULL) {
            i++;
            continue;
        }
        if (i > chunk)
            st = encode_chunk(tok, text + chunk, i - chunk, &ids, &n, &cap);
        /* A multi-vector learned token stands for all its vectors, as diffusers' pipelines
         * expand "<tok>" to "<tok> <tok>_1 … <tok>_{n-1}" — unless the text spells them out. */
        int expand = best->expand > 1 && !spelled_out(tok, best, text + i + best->len, len - i - best->len)
                         ? best->expand
                         : 1;
        for (int k = 0; st == TINV_OK && k < expand; k++)
            st = ti_ids_push(&ids, &n, &cap, best->id + k);
        i += best->len;
        chunk = i;
    }
    if (st == TINV_OK && len > chunk)
        st = encode_chunk(tok, text + chunk, len - chunk, &ids, &n, &cap);
    if (st == TINV_OK)
        st = ti_ids_push(&ids, &n, &cap, tok->eos);
    if (st != TINV_OK) {
        free(ids);
        return st;
    }
    *ids_out = ids;
    *n_out = n;
    return TINV_OK;
}

TINV_API tinv_status tinv_tokenizer_encode(tinv_tokenizer *tok, const char *text, int pad, int32_t *ids, size_t cap,
                                           size_t *count, uint8_t *mask)
{
    TI_REQUIRE(tok);
    TI_REQUIRE(text);
    TI_REQUIRE(count);
    if (ids == NULL && cap > 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_encode: ids is NULL but cap is %zu", cap);
    int32_t *all;
    size_t n;
    TI_TRY(ti_tokenizer_encode_all(tok, text, strlen(text), &all, &n));
    if (pad) {
        size_t L = tok->max_len;
        *count = L;
        if (cap < L) {
            free(all);
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_encode: cap %zu is below the max length %zu", cap, L);
        }
        size_t keep = n;
        if (n > L) {
            ti_log(&tok->logger, TINV_LOG_WARN,
                   "tokenizer: prompt has %zu tokens; truncated to %zu (the rest is ignored)", n - 2, L - 2);
            memcpy(ids, all, (L - 1) * sizeof *ids);
            ids[L - 1] = tok->eos;
            keep = L;
        } else {
            memcpy(ids, all, n * sizeof *ids);
            for (size_t i = n; i < L; i++)
                ids[i] = tok->pad;
        }
        if (mask != NULL)
            for (size_t i = 0; i < L; i++)
                mask[i] = i < keep;
    } else {
        *count = n;
        if (cap < n) {
            free(all);
            if (cap == 0 && ids == NULL)
                return TINV_OK; /* size query */
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_encode: %zu ids do not fit in cap %zu", n, cap);
        }
        memcpy(ids, all, n * sizeof *ids);
        if (mask != NULL)
            memset(mask, 1, n);
    }
    free(all);
    return TINV_OK;
}

/* ---- lookups and decoding -------------------------------------------------------------- */

static const char *token_text(const tinv_tokenizer *tok, int32_t id, int *is_added)
{
    *is_added = 0;
    if (id >= 0 && (size_t)id < tok->bpe.n_ids && tok->bpe.id_to_token[id] != NULL)
        return tok->bpe.id_to_token[id];
    const split_tok *t = find_split_by_id(tok, id);
    if (t != NULL) {
        *is_added = 1;
        return t->text;
    }
    return NULL;
}

static tinv_status copy_out(const char *s, size_t n, char *buf, size_t cap, size_t *needed, const char *fn)
{
    if (buf == NULL && cap > 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: buf is NULL but cap is %zu", fn, cap);
    if (needed != NULL)
        *needed = n;
    if (cap > 0) {
        size_t c = n < cap - 1 ? n : cap - 1;
        while (c > 0 && c < n && ((uint8_t)s[c] & 0xC0) == 0x80)
            c--; /* never cut a UTF-8 sequence in half */
        memcpy(buf, s, c);
        buf[c] = '\0';
    }
    return TINV_OK;
}

TINV_API tinv_status tinv_tokenizer_decode(const tinv_tokenizer *tok, const int32_t *ids, size_t n, char *buf,
                                           size_t cap, size_t *needed)
{
    TI_REQUIRE(tok);
    if (ids == NULL && n > 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_decode: ids is NULL but n is %zu", n);
    /* Bytes: byte-level symbols map back through the byte table; added tokens are copied. */
    size_t bcap = 64, blen = 0;
    char *bytes = malloc(bcap);
    if (bytes == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tinv_tokenizer_decode: out of memory");
    for (size_t i = 0; i < n; i++) {
        int added;
        const char *t = token_text(tok, ids[i], &added);
        if (t == NULL) {
            free(bytes);
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_decode: id %d at position %zu is not a token",
                            (int)ids[i], i);
        }
        size_t tl = strlen(t);
        if (blen + tl + 8 > bcap) {
            while (blen + tl + 8 > bcap)
                bcap *= 2;
            char *nb = realloc(bytes, bcap);
            if (nb == NULL) {
                free(bytes);
                return ti_error(TINV_ERR_OUT_OF_MEMORY, "tinv_tokenizer_decode: out of memory");
            }
            bytes = nb;
        }
        if (added) {
            memcpy(bytes + blen, t, tl);
            blen += tl;
            memcpy(bytes + blen, "</w>", 4); /* an added token ends a word */
            blen += 4;
            continue;
        }
        for (size_t k = 0; k < tl;) {
            uint32_t cp = (uint8_t)t[k];
            size_t step = 1;
            if ((cp & 0xE0) == 0xC0 && k + 1 < tl) {
                cp = ((cp & 0x1F) << 6) | ((uint8_t)t[k + 1] & 0x3F);
                step = 2;
            }
            int b = ti_bpe_cp_to_byte(cp);
            if (b >= 0) {
                bytes[blen++] = (char)b;
            } else { /* not a byte symbol (e.g. a hand-edited vocab): copy as is */
                memcpy(bytes + blen, t + k, step);
                blen += step;
            }
            k += step;
        }
    }
    /* UTF-8 with invalid sequences replaced by U+FFFD, "</w>" -> " ", then strip spaces. */
    char *text = malloc(blen * 3 + 1);
    if (text == NULL) {
        free(bytes);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tinv_tokenizer_decode: out of memory");
    }
    size_t tlen = 0;
    for (size_t i = 0; i < blen;) {
        size_t bad = 0;
        size_t k = 1;
        if ((uint8_t)bytes[i] >= 0x80) {
            uint8_t lead = (uint8_t)bytes[i];
            k = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2; /* one sequence, as its lead byte says */
            if (k > blen - i || !ti_utf8_valid(bytes + i, k, &bad)) {
                memcpy(text + tlen, "\xEF\xBF\xBD", 3);
                tlen += 3;
                i++;
                continue;
            }
        } else if (blen - i >= 4 && memcmp(bytes + i, "</w>", 4) == 0) {
            text[tlen++] = ' ';
            i += 4;
            continue;
        }
        memcpy(text + tlen, bytes + i, k);
        tlen += k;
        i += k;
    }
    free(bytes);
    size_t a = 0;
    while (a < tlen && text[a] == ' ')
        a++;
    while (tlen > a && text[tlen - 1] == ' ')
        tlen--;
    tinv_status st = copy_out(text + a, tlen - a, buf, cap, needed, "tinv_tokenizer_decode");
    free(text);
    return st;
}

TINV_API size_t tinv_tokenizer_vocab_size(const tinv_tokenizer *tok) { return tok ? next_id(tok) : 0; }

TINV_API size_t tinv_tokenizer_max_length(const tinv_tokenizer *tok) { return tok ? tok->max_len : 0; }

TINV_API int32_t tinv_tokenizer_bos_id(const tinv_tokenizer *tok) { return tok ? tok->bos : -1; }
TINV_API int32_t tinv_tokenizer_eos_id(const tinv_tokenizer *tok) { return tok ? tok->eos : -1; }
TINV_API int32_t tinv_tokenizer_pad_id(const tinv_tokenizer *tok) { return tok ? tok->pad : -1; }

TINV_API tinv_status tinv_tokenizer_token_to_id(const tinv_tokenizer *tok, const char *token, int32_t *id)
{
    TI_REQUIRE(tok);
    TI_REQUIRE(token);
    TI_REQUIRE(id);
    size_t len = strlen(token);
    const split_tok *t = find_split_by_text(tok, token, len);
    if (t != NULL) {
        *id = t->id;
        return TINV_OK;
    }
    if (ti_strmap_get(&tok->bpe.vocab, token, len, id))
        return TINV_OK;
    *id = -1;
    return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_token_to_id: '%.200s' is not a token", token);
}

TINV_API tinv_status tinv_tokenizer_id_to_token(const tinv_tokenizer *tok, int32_t id, char *buf, size_t cap,
                                                size_t *needed)
{
    TI_REQUIRE(tok);
    int added;
    const char *t = token_text(tok, id, &added);
    if (t == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_tokenizer_id_to_token: id %d is not a token", (int)id);
    return copy_out(t, strlen(t), buf, cap, needed, "tinv_tokenizer_id_to_token");
}
