/* CLIPTextModel (transformers) forward: token + position embeddings, pre-LN causal transformer,
 * final layer norm. */
#ifndef TI_CLIP_TEXT_H
#define TI_CLIP_TEXT_H

#include "concepts.h"
#include "model_config.h"
#include "nn.h"

typedef struct ti_clip_text {
    ti_clip_config cfg;
    ti_weights *w; /* names as in the diffusers folder, "text_model.…" */
    ti_concepts concepts; /* learned tokens, spliced into the token-embedding lookup */
} ti_clip_text;

/* Token embeddings [B, L, W] of integer ids [B, L], learned tokens included. */
ts_tensor *ti_clip_embed_tokens(const ti_clip_text *m, const ts_tensor *ids);
/* last_hidden_state [B, L, W] from token embeddings [B, L, W] (L <= max positions). */
ts_tensor *ti_clip_encode(const ti_clip_text *m, const ts_tensor *token_embeds);

#endif
