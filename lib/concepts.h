/* Learned tokens ("concepts") of a model: small tensors of vectors spliced into the text
 * encoder's token-embedding lookup. Only these are ever trained; the 49408-row table stays
 * frozen and is never copied or resized. */
#ifndef TI_CONCEPTS_H
#define TI_CONCEPTS_H

#include <stdint.h>

#include "../shim/shim.h"
#include "tinv.h"

typedef struct ti_concept {
    char *name;          /* the token as written in prompts, e.g. "<cat-toy>" */
    int32_t first_id;    /* tokenizer id of `name`; the n vectors have ids first_id .. first_id+n-1 */
    int num_vectors;
    ts_tensor *vectors;  /* [n, width] float32 on the model's device: the master copy */
    int trainable;       /* an optimizer owns it: gradients flow into `vectors` */
    int steps_trained;   /* optimizer updates applied (saved in A1111 metadata) */
} ti_concept;

typedef struct ti_concepts {
    ti_concept *items;
    int count;
} ti_concepts;

void ti_concepts_free(ti_concepts *c);
/* The concept named `name`, or NULL (no error recorded). */
ti_concept *ti_concepts_find(const ti_concepts *c, const char *name);
/* Total learned vectors: the tokenizer's next id must be the table's rows + this. */
int ti_concepts_vectors(const ti_concepts *c);

/* Token embeddings [B, L, W] for ids [B, L]: frozen `table` rows for ids below its size, learned vectors
 * for the rest (gradients reach a concept's `vectors` when it is trainable). */
ts_tensor *ti_concepts_embed(const ti_concepts *c, const ts_tensor *table, const ts_tensor *ids);

/* Which base model a text-encoder width belongs to ("Stable Diffusion 1.x" for 768, …). */
const char *ti_text_width_model_name(int64_t width);

/* Steps an optimizer has applied to `token`'s vectors (0 when unknown). */
int ti_model_token_steps(const tinv_model *model, const char *token);

#endif
