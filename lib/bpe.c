/* Byte-level BPE (CLIP flavour): string map, byte table, and a heap-driven merge loop. */
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* ---- string map ------------------------------------------------------------------------ */

struct ti_strmap_slot {
    char *key; /* NULL = empty */
    uint32_t len;
    uint32_t hash;
    int32_t value;
};

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a: simple and good enough for short keys */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

void ti_strmap_free(ti_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static tinv_status strmap_grow(ti_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    struct ti_strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    for (size_t i = 0; i < m->cap; i++) {
        struct ti_strmap_slot *s = &m->slots[i];
        if (s->key == NULL)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return TINV_OK;
}

tinv_status ti_strmap_put(ti_strmap *m, const char *key, size_t len, int32_t value)
{
    if (len > UINT32_MAX)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tokenizer: key too long");
    if ((m->count + 1) * 4 > m->cap * 3) /* keep the load factor under 3/4 */
        TI_TRY(strmap_grow(m));
    uint32_t h = hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key != NULL) {
        struct ti_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return TINV_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    char *k = malloc(len + 1);
    if (k == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    memcpy(k, key, len);
    k[len] = '\0';
    m->slots[j] = (struct ti_strmap_slot){k, (uint32_t)len, h, value};
    m->count++;
    return TINV_OK;
}

int ti_strmap_get(const ti_strmap *m, const char *key, size_t len, int32_t *value)
{
    if (m->cap == 0)
        return 0;
    uint32_t h = hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key != NULL) {
        const struct ti_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            *value = s->value;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

/* ---- byte <-> unicode table ------------------------------------------------------------ */

/* Printable Latin-1 bytes stand for themselves; the other 68 bytes are shifted to U+0100.. in
 * byte order, so every byte becomes a visible, non-space character. */
static int byte_is_printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE); }

uint32_t ti_bpe_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    uint32_t n = 0;
    for (int i = 0; i < b; i++)
        if (!byte_is_printable(i))
            n++;
    return 256 + n;
}

int ti_bpe_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return byte_is_printable((int)cp) ? (int)cp : -1;
    uint32_t n = 0;
    for (int i = 0; i < 256; i++)
        if (!byte_is_printable(i) && n++ == cp - 256)
            return i;
    return -1;
}

uint32_t ti_bpe_vocab_order_cp(int i)
{
    /* Printable bytes in byte order, then the shifted ones (U+0100 + k). */
    int k = 0;
    for (int b = 0; b < 256; b++)
        if (byte_is_printable(b) && k++ == i)
            return (uint32_t)b;
    return 256 + (uint32_t)(i - k);
}

/* ---- BPE ------------------------------------------------------------------------------- */

tinv_status ti_ids_push(int32_t **ids, size_t *len, size_t *cap, int32_t id)
{
    if (*len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        int32_t *n = realloc(*ids, ncap * sizeof *n);
        if (n == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        *ids = n;
        *cap = ncap;
    }
    (*ids)[(*len)++] = id;
    return TINV_OK;
}

void ti_bpe_free(ti_bpe *bpe)
{
    ti_strmap_free(&bpe->vocab);
    ti_strmap_free(&bpe->ranks);
    ti_strmap_free(&bpe->cache);
    if (bpe->id_to_token)
        for (size_t i = 0; i < bpe->n_ids; i++)
            free(bpe->id_to_token[i]);
    free(bpe->id_to_token);
    free(bpe->cache_ids);
    memset(bpe, 0, sizeof *bpe);
}

typedef struct sym {
    size_t start, len; /* span in the encoded word */
    long prev, next;   /* linked list; -1 = none */
} sym;

typedef struct pair_ent {
    int32_t rank;
    long left;          /* index of the left symbol (also its position order) */
    size_t llen, rlen;  /* lengths when pushed, to detect stale entries */
} pair_ent;

static int pair_less(const pair_ent *a, const pair_ent *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

typedef struct heap {
    pair_ent *v;
    size_t n, cap;
} heap;

static int heap_push(heap *h, pair_ent e)
{
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 32;
        pair_ent *nv = realloc(h->v, ncap * sizeof *nv);
        if (nv == NULL)
            return -1;
        h->v = nv;
        h->cap = ncap;
    }
    size_t i = h->n++;
    h->v[i] = e;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!pair_less(&h->v[i], &h->v[p]))
            break;
        pair_ent t = h->v[i];
        h->v[i] = h->v[p];
        h->v[p] = t;
        i = p;
    }
    return 0;
}

static pair_ent heap_pop(heap *h)
{
    pair_ent top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && pair_less(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && pair_less(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            break;
        pair_ent t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

/* Look up the rank of the pair (a, b) via the key "a b"; `key` is scratch space. */
static int pair_rank(const ti_bpe *bpe, const char *enc, const sym *a, const sym *b, char **key,
                     size_t *key_cap, int32_t *rank)
{
    size_t n = a->len + 1 + b->len;
    if (n > *key_cap) {
        char *k = realloc(*key, n);
        if (k == NULL)
            return -1;
        *key = k;
        *key_cap = n;
    }
    memcpy(*key, enc + a->start, a->len);
    (*key)[a->len] = ' ';
    memcpy(*key + a->len + 1, enc + b->start, b->len);
    return ti_strmap_get(&bpe->ranks, *key, n, rank);
}

enum { TI_BPE_CACHE_MAX = 100000 };

tinv_status ti_bpe_encode_word(ti_bpe *bpe, const char *word, size_t len, int32_t **out,
                               size_t *out_len, size_t *out_cap)
{
    int32_t cached;
    if (ti_strmap_get(&bpe->cache, word, len, &cached)) {
        size_t n = (size_t)bpe->cache_ids[cached];
        for (size_t i = 0; i < n; i++)
            TI_TRY(ti_ids_push(out, out_len, out_cap, bpe->cache_ids[(size_t)cached + 1 + i]));
        return TINV_OK;
    }
    if (len == 0)
        return TINV_OK;

    tinv_status st = TINV_OK;
    /* Byte-level encoding: each byte becomes one character of 1 or 2 UTF-8 bytes; then '</w>'. */
    char *enc = malloc(len * 2 + 5);
    sym *syms = malloc(len * sizeof *syms);
    char *key = NULL;
    size_t key_cap = 0;
    heap h = {0};
    size_t first_out = *out_len;
    if (enc == NULL || syms == NULL) {
        st = ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        goto done;
    }
    size_t elen = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t cp = ti_bpe_byte_to_cp((uint8_t)word[i]);
        syms[i].start = elen;
        if (cp < 0x80) {
            enc[elen++] = (char)cp;
        } else {
            enc[elen++] = (char)(0xC0 | (cp >> 6));
            enc[elen++] = (char)(0x80 | (cp & 0x3F));
        }
        syms[i].len = elen - syms[i].start;
        syms[i].prev = (long)i - 1;
        syms[i].next = i + 1 < len ? (long)i + 1 : -1;
    }
    memcpy(enc + elen, "</w>", 4);
    elen += 4;
    syms[len - 1].len += 4;

    for (size_t i = 0; i + 1 < len; i++) {
        int32_t r;
        int f = pair_rank(bpe, enc, &syms[i], &syms[i + 1], &key, &key_cap, &r);
        if (f < 0 || (f && heap_push(&h, (pair_ent){r, (long)i, syms[i].len, syms[i + 1].len}) < 0)) {
            st = ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
            goto done;
        }
    }
    while (h.n > 0) {
        pair_ent e = heap_pop(&h);
        sym *a = &syms[e.left];
        if (a->len != e.llen || a->next < 0)
            continue; /* stale: the left symbol was merged away or grew */
        sym *b = &syms[a->next];
        if (b->len != e.rlen)
            continue;
        a->len += b->len;
        a->next = b->next;
        if (b->next >= 0)
            syms[b->next].prev = e.left;
        b->len = 0; /* dead */
        int32_t r;
        int f;
        if (a->prev >= 0) {
            sym *p = &syms[a->prev];
            f = pair_rank(bpe, enc, p, a, &key, &key_cap, &r);
            if (f < 0 || (f && heap_push(&h, (pair_ent){r, a->prev, p->len, a->len}) < 0))
                goto oom;
        }
        if (a->next >= 0) {
            sym *n = &syms[a->next];
            f = pair_rank(bpe, enc, a, n, &key, &key_cap, &r);
            if (f < 0 || (f && heap_push(&h, (pair_ent){r, e.left, a->len, n->len}) < 0))
                goto oom;
        }
    }
    for (long i = 0; i >= 0; i = syms[i].next) {
        int32_t id;
        if (!ti_strmap_get(&bpe->vocab, enc + syms[i].start, syms[i].len, &id))
            id = bpe->unk_id;
        if ((st = ti_ids_push(out, out_len, out_cap, id)) != TINV_OK)
            goto done;
    }
    {
        /* Cache as [count, ids...] in cache_ids; the map stores the header's offset. */
        size_t n = *out_len - first_out;
        if (bpe->cache.count >= TI_BPE_CACHE_MAX || bpe->cache_len + n + 1 > (size_t)INT32_MAX / 2) {
            ti_strmap_free(&bpe->cache); /* bound memory on huge inputs: start afresh */
            bpe->cache_len = 0;
        }
        size_t off = bpe->cache_len;
        if ((st = ti_ids_push(&bpe->cache_ids, &bpe->cache_len, &bpe->cache_cap, (int32_t)n)) != TINV_OK)
            goto done;
        for (size_t i = 0; i < n; i++)
            if ((st = ti_ids_push(&bpe->cache_ids, &bpe->cache_len, &bpe->cache_cap, (*out)[first_out + i])) != TINV_OK)
                goto done;
        st = ti_strmap_put(&bpe->cache, word, len, (int32_t)off);
    }
    goto done;
oom:
    st = ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
done:
    free(enc);
    free(syms);
    free(key);
    free(h.v);
    return st;
}
