/* The text clean-up CLIP's tokenizer applies before pre-tokenising: the parts of ftfy's
 * fix_text that matter for prompts, then whitespace collapse + strip, then lowercase. */
#ifndef TI_TEXT_CLEAN_H
#define TI_TEXT_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "tinv.h"

/* Check that `s` (length `len`) is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF). Returns 1 when valid; otherwise 0 and the offset of the first bad byte. */
int ti_utf8_valid(const char *s, size_t len, size_t *bad_offset);

/* ftfy-like fix_text(): per line, until nothing changes: HTML entities unescaped (only while no
 * line so far had a '<'), mojibake decoded where it is clearly UTF-8 read as Latin-1 or
 * Windows-1252, C1 controls as Windows-1252, Latin ligatures expanded, full-width forms folded,
 * curly quotes straightened, line breaks unified, terminal escapes and control characters
 * removed, NFC. Input must be valid UTF-8; *out is malloc'd and NUL-terminated. */
tinv_status ti_fix_text(const char *in, size_t len, char **out, size_t *out_len);

/* The whole CLIP clean-up: ti_fix_text, whitespace runs -> one space, strip, lowercase
 * (full Unicode lowercase as Python's str.lower(), incl. final sigma). */
tinv_status ti_text_clean(const char *in, size_t len, char **out, size_t *out_len);

/* 1 if `cp` is whitespace for the pre-tokeniser (Unicode White_Space). */
int ti_is_space(uint32_t cp);

#endif
