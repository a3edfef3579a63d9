/* The demo model (tinv_demo_model_write): pieces shared by demo_model.c and demo_vocab.c. */
#ifndef TI_DEMO_MODEL_H
#define TI_DEMO_MODEL_H

#include <stdint.h>

#include "tinv.h"

/* Standard deviation of a random weight named `name`, or 0 for a constant one (*constant
 * receives it): biases 0, norm scales 1, embeddings small like CLIP's initialiser, linear and
 * conv weights 1/sqrt(fan_in) so every layer keeps activations near unit size and outputs stay
 * non-trivial. The demo model and the full-size benchmark model use it. */
double ti_param_init_std(const char *name, const int64_t *shape, int ndim, float *constant);

/* Write `text` to `path` atomically ("<path>.tmp", then rename). */
tinv_status ti_demo_write_text(const char *path, const char *text);

/* Write the demo tokenizer (vocab.json, merges.txt, tokenizer_config.json,
 * special_tokens_map.json) into the existing folder `dir`; *vocab_size receives the number of
 * ids, the text encoder's embedding rows. The vocabulary depends on nothing but this code. */
tinv_status ti_demo_tokenizer_write(const char *dir, int *vocab_size);

#endif
