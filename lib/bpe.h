/* Byte-level BPE as CLIP uses it: the byte<->unicode table, a string->int map, merge ranks,
 * and the merge loop with '</w>' word ends and a per-model cache of results. */
#ifndef TI_BPE_H
#define TI_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "tinv.h"

/* Open-addressing map from byte strings (not NUL-terminated) to int32 values. Keys are copied. */
typedef struct ti_strmap {
    struct ti_strmap_slot *slots;
    size_t cap;   /* power of two */
    size_t count;
} ti_strmap;

void ti_strmap_free(ti_strmap *m);
/* Insert or overwrite. Returns TINV_ERR_OUT_OF_MEMORY on allocation failure. */
tinv_status ti_strmap_put(ti_strmap *m, const char *key, size_t len, int32_t value);
/* Returns 1 and sets *value when found, else 0. */
int ti_strmap_get(const ti_strmap *m, const char *key, size_t len, int32_t *value);

/* Codepoint that byte `b` is written as in byte-level BPE symbols (GPT-2/CLIP table). */
uint32_t ti_bpe_byte_to_cp(uint8_t b);
/* Inverse of ti_bpe_byte_to_cp; returns -1 for codepoints outside the table. */
int ti_bpe_cp_to_byte(uint32_t cp);
/* The 256 table codepoints in the reference's vocabulary order (printable bytes first). */
uint32_t ti_bpe_vocab_order_cp(int i);

typedef struct ti_bpe {
    ti_strmap vocab;  /* symbol -> id */
    ti_strmap ranks;  /* "left right" -> merge rank */
    char **id_to_token; /* [n_ids], NULL for unused ids */
    size_t n_ids;
    int32_t unk_id;
    /* Cache: byte-level word -> (offset, count) of ids in cache_ids. Bounded; cleared when full. */
    ti_strmap cache;
    int32_t *cache_ids;
    size_t cache_len, cache_cap;
} ti_bpe;

void ti_bpe_free(ti_bpe *bpe);

/* Run BPE on one pre-token given as raw UTF-8 bytes; appends ids to *out (growable array of
 * *out_len / *out_cap). The word end gets '</w>'. Unknown symbols map to bpe->unk_id. */
tinv_status ti_bpe_encode_word(ti_bpe *bpe, const char *word, size_t len, int32_t **out,
                               size_t *out_len, size_t *out_cap);

/* Append one id to a growable int32 array. */
tinv_status ti_ids_push(int32_t **ids, size_t *len, size_t *cap, int32_t id);

#endif
