/* Textual-inversion embedding files: read the safetensors layouts other tools write, write the
 * two that diffusers and AUTOMATIC1111 read. The reader needs no model, so it can be tested
 * (and fuzzed) alone; tinv_model_load_embedding() / tinv_model_save_embedding() in
 * embedding_file.c bridge it to a model's learned tokens.
 *
 * Layouts read (all safetensors; pickles are refused, see embedding_file.c):
 *   diffusers learned_embeds   exactly one tensor {token: [n, dim] or [dim]}
 *   kohya / A1111 safetensors  "emb_params" [n, dim]
 *   A1111 converted from .pt   "string_to_param.*" (or one "string_to_param.<x>") [n, dim]
 * A 1-D tensor is one vector. SDXL files ("clip_l" / "clip_g") are refused as unsupported. */
#ifndef TI_EMBEDDING_FILE_H
#define TI_EMBEDDING_FILE_H

#include "tinv.h"

/* Most vectors one token may have (the same limit as tinv_model_add_token()). */
#define TI_EMBEDDING_MAX_VECTORS 64

typedef struct ti_embedding {
    char *key;       /* tensor key of the diffusers layout {token: tensor}, else NULL */
    char *meta_name; /* the file's metadata "name", else NULL */
    float *vectors;  /* num_vectors × dim float32, row-major (widened from F16/BF16) */
    int num_vectors, dim;
} ti_embedding;

/* Read an embedding file into `out` (zeroed first; left zeroed on failure).
 * TINV_ERR_UNSUPPORTED for pickles (by extension or content) and SDXL files,
 * TINV_ERR_BAD_FORMAT for an unknown layout (the message lists the keys), a wrong rank or
 * dtype, or no vectors; TINV_ERR_NUMERIC for NaN/inf values; TINV_ERR_IO when unreadable. */
tinv_status ti_embedding_read(const char *path, ti_embedding *out);
/* Free what ti_embedding_read() allocated and zero `e` (NULL is accepted). */
void ti_embedding_free(ti_embedding *e);

/* Write `num_vectors` × `dim` float32 values for `token` atomically ("<path>.tmp" + rename).
 * DIFFUSERS: one F32 tensor named `token`, metadata {"format": "pt"} (as diffusers' training
 * script saves). A1111: F32 "emb_params" with metadata name = token, step, sd_checkpoint_name
 * = `base_model` (omitted when NULL) and format "pt". */
tinv_status ti_embedding_write(const char *path, const char *token, const float *vectors, int num_vectors, int dim,
                               tinv_embedding_format format, int step, const char *base_model);

#endif
