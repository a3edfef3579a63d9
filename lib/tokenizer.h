/* Internal view of tinv_tokenizer (lib/tokenizer.c), shared with the tests. */
#ifndef TI_TOKENIZER_H
#define TI_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "log.h"
#include "tinv.h"

/* Encode `text` (NUL-free UTF-8 of length len) to BOS + content + EOS, unpadded and untruncated.
 * *ids is malloc'd. */
tinv_status ti_tokenizer_encode_all(tinv_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                                    size_t *n);

/* Add a learned token of n vectors: `token`, `token_1` … `token_{n-1}` with consecutive ids
 * (*first_id is the first), and make `token` in a prompt expand to all n. Nothing is added when
 * any of the names exists. */
tinv_status ti_tokenizer_add_group(tinv_tokenizer *tok, const char *token, int n, int32_t *first_id);
/* Remove the last n tokens added with tinv_tokenizer_add_token (to undo a failed add). */
void ti_tokenizer_drop_last(tinv_tokenizer *tok, int n);

#endif
