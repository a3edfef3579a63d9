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

#endif
