/*
 * train_templates.h — the prompt templates a textual-inversion run draws its captions from, each
 * with one "{}" that the placeholder token replaces: a built-in "object" or "style" list, or the
 * caller's own list from a text file.
 */
#ifndef TI_TRAIN_TEMPLATES_H
#define TI_TRAIN_TEMPLATES_H

#include <stddef.h>

#include "tinv.h"

typedef struct ti_templates {
    const char *const *items;   /* `count` >= 1 templates, each with exactly one "{}" */
    size_t count;
    /* For lists read from a file: the storage `items` points into (NULL for built-ins). */
    char *text_;
    const char **list_;
} ti_templates;

/* "object" or "style" select a built-in list; anything else is the path of a UTF-8 text file
 * with one template per line (blank lines and lines whose first non-blank character is '#'
 * skipped, surrounding spaces/tabs and a CR before the LF removed, a leading BOM ignored).
 * TINV_ERR_IO when the file cannot be read; TINV_ERR_INVALID_ARGUMENT naming the file and line
 * for invalid UTF-8 or a template without exactly one "{}", and for a file with no templates.
 * *out is zeroed on failure. */
tinv_status ti_templates_get(const char *spec, ti_templates *out);
/* Release a list (built-in or not) and zero the struct; NULL is accepted. */
void ti_templates_free(ti_templates *t);

/* `tmpl` with its first "{}" replaced by `token` (a copy when there is none), malloc'd.
 * NULL with TINV_ERR_INVALID_ARGUMENT for NULL arguments, TINV_ERR_OUT_OF_MEMORY when
 * allocation fails (see tinv_last_error()). */
char *ti_template_format(const char *tmpl, const char *token);

#endif
