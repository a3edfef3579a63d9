/* Prompts → the UNet's text context: one 77-token window per prompt (truncating longer ones,
 * as diffusers does), or AUTOMATIC1111-style chunks of 75 tokens each encoded with BOS/EOS and
 * concatenated along the token axis. */
#ifndef TI_PROMPT_CONTEXT_H
#define TI_PROMPT_CONTEXT_H

#include "../shim/shim.h"
#include "log.h"
#include "tinv.h"

/* Context [n, L·k, W] for `n` prompts (`what[i]` names prompt i in messages), in the current
 * scope. With `chunked`, k is the largest chunk count among the prompts and shorter prompts get
 * empty chunks; otherwise k = 1 and longer prompts are truncated with a warning. */
tinv_status ti_prompt_context(tinv_model *m, tinv_tokenizer *tok, const ti_logger *log, const char *const *texts,
                              const char *const *what, int n, int chunked, ts_tensor **out);

#endif
