/* The demo model (tinv_demo_model_write): pieces shared by demo_model.c and demo_vocab.c. */
#ifndef TI_DEMO_MODEL_H
#define TI_DEMO_MODEL_H

#include "tinv.h"

/* Write `text` to `path` atomically ("<path>.tmp", then rename). */
tinv_status ti_demo_write_text(const char *path, const char *text);

/* Write the demo tokenizer (vocab.json, merges.txt, tokenizer_config.json,
 * special_tokens_map.json) into the existing folder `dir`; *vocab_size receives the number of
 * ids, the text encoder's embedding rows. The vocabulary depends on nothing but this code. */
tinv_status ti_demo_tokenizer_write(const char *dir, int *vocab_size);

#endif
