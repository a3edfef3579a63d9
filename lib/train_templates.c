/* Prompt templates for textual-inversion training (see train_templates.h). */
#include "train_templates.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "text_clean.h"

/* Built-in lists. The object phrasings vary framing, lighting, quality and medium so the learned
 * vector describes the thing rather than one way of photographing it; the style phrasings vary
 * the subject so it describes the manner rather than any one picture. */
static const char *const object_templates[] = {
    "a photo of a {}",
    "a picture of a {}",
    "a rendering of a {}",
    "a snapshot of the {}",
    "a close-up picture of a {}",
    "a sharp photo of the {}",
    "a blurry snapshot of a {}",
    "a 3D render of the {}",
    "an image showing a {}",
    "a photograph of one {}",
    "a dimly lit photo of the {}",
    "a brightly lit photo of a {}",
    "a tightly framed photo of the {}",
    "a wide shot of a {}",
    "a small {} in a photo",
    "a large {} in a picture",
    "a studio photo of a {}",
    "an old photograph of the {}",
    "a digital rendering of a {}",
    "a detailed picture of the {}",
    "a candid shot of a {}",
    "a low-resolution photo of a {}",
    "a high-quality photo of the {}",
    "my {} in a photo",
    "a photo featuring the {}",
};

static const char *const style_templates[] = {
    "a painting in the style of {}",
    "an artwork in the style of {}",
    "a picture in the style of {}",
    "a drawing in the style of {}",
    "an illustration in the style of {}",
    "a sketch in the style of {}",
    "a landscape painted in the style of {}",
    "a portrait in the style of {}",
    "a still life in the style of {}",
    "a poster in the style of {}",
    "an image rendered in the style of {}",
    "a small painting in the style of {}",
    "a large canvas in the style of {}",
    "a detailed artwork in the style of {}",
    "a rough study in the style of {}",
    "a colourful piece in the style of {}",
    "a dark scene in the style of {}",
    "a bright scene in the style of {}",
    "a city view in the style of {}",
    "a work of art in the style of {}",
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Template files are a few lines; anything this large is the wrong file. */
#define MAX_TEMPLATE_FILE ((size_t)16 << 20)

static size_t count_slots(const char *s)
{
    size_t n = 0;
    for (const char *p = strstr(s, "{}"); p != NULL; p = strstr(p + 2, "{}"))
        n++;
    return n;
}

static tinv_status read_text(const char *path, char **text, size_t *len)
{
    *text = NULL;
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return ti_error(TINV_ERR_IO, "template file '%s': cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    tinv_status st = buf != NULL ? TINV_OK : ti_error(TINV_ERR_OUT_OF_MEMORY, "template file '%s': out of memory", path);
    while (st == TINV_OK) {
        if (n == cap) {
            if (cap >= MAX_TEMPLATE_FILE) {
                st = ti_error(TINV_ERR_INVALID_ARGUMENT, "template file '%s' is larger than %zu bytes", path,
                              MAX_TEMPLATE_FILE);
                break;
            }
            char *grown = realloc(buf, 2 * cap + 1);
            if (grown == NULL) {
                st = ti_error(TINV_ERR_OUT_OF_MEMORY, "template file '%s': out of memory", path);
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                st = ti_error(TINV_ERR_IO, "template file '%s': read error", path);
            break;
        }
    }
    fclose(f);
    if (st != TINV_OK) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return TINV_OK;
}

static size_t line_of(const char *text, size_t offset)
{
    size_t line = 1;
    for (size_t i = 0; i < offset; i++)
        line += text[i] == '\n';
    return line;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Split `text` in place into trimmed template lines, checking each. */
static tinv_status parse_lines(const char *path, char *text, size_t len, const char **list, size_t *count)
{
    size_t n = 0, line = 0;
    char *p = text;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p != '\0') {
        line++;
        char *end = strchr(p, '\n');
        char *next = end != NULL ? end + 1 : p + strlen(p);
        if (end == NULL)
            end = p + strlen(p);
        while (end > p && is_blank(end[-1]))
            end--;
        *end = '\0';
        while (is_blank(*p))
            p++;
        if (*p != '\0' && *p != '#') {
            size_t slots = count_slots(p);
            if (slots != 1)
                return ti_error(TINV_ERR_INVALID_ARGUMENT,
                                "template file '%s', line %zu: a template needs exactly one \"{}\" (found %zu): %s",
                                path, line, slots, p);
            list[n++] = p;
        }
        p = next;
    }
    *count = n;
    return TINV_OK;
}

static tinv_status load_file(const char *path, ti_templates *out)
{
    char *text = NULL;
    size_t len = 0;
    TI_TRY(read_text(path, &text, &len));
    const char *nul = memchr(text, '\0', len);
    size_t bad;
    tinv_status st = TINV_OK;
    if (nul != NULL)
        st = ti_error(TINV_ERR_INVALID_ARGUMENT, "template file '%s', line %zu: NUL byte (not a text file?)", path,
                      line_of(text, (size_t)(nul - text)));
    else if (!ti_utf8_valid(text, len, &bad))
        st = ti_error(TINV_ERR_INVALID_ARGUMENT, "template file '%s', line %zu: invalid UTF-8", path, line_of(text, bad));
    /* At most one template per '\n', plus the last line. */
    size_t max_lines = 1;
    for (size_t i = 0; st == TINV_OK && i < len; i++)
        max_lines += text[i] == '\n';
    const char **list = NULL;
    if (st == TINV_OK) {
        list = malloc(max_lines * sizeof *list);
        if (list == NULL)
            st = ti_error(TINV_ERR_OUT_OF_MEMORY, "template file '%s': out of memory", path);
    }
    size_t count = 0;
    if (st == TINV_OK)
        st = parse_lines(path, text, len, list, &count);
    if (st == TINV_OK && count == 0)
        st = ti_error(TINV_ERR_INVALID_ARGUMENT, "template file '%s' holds no templates", path);
    if (st != TINV_OK) {
        free(list);
        free(text);
        return st;
    }
    out->items = list;
    out->count = count;
    out->text_ = text;
    out->list_ = list;
    return TINV_OK;
}

tinv_status ti_templates_get(const char *spec, ti_templates *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(spec);
    if (strcmp(spec, "object") == 0) {
        out->items = object_templates;
        out->count = COUNT_OF(object_templates);
        return TINV_OK;
    }
    if (strcmp(spec, "style") == 0) {
        out->items = style_templates;
        out->count = COUNT_OF(style_templates);
        return TINV_OK;
    }
    if (spec[0] == '\0')
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "templates: empty name (use \"object\", \"style\" or a file path)");
    return load_file(spec, out);
}

void ti_templates_free(ti_templates *t)
{
    if (t == NULL)
        return;
    free(t->list_);
    free(t->text_);
    memset(t, 0, sizeof *t);
}

char *ti_template_format(const char *tmpl, const char *token)
{
    if (tmpl == NULL || token == NULL) {
        ti_error(TINV_ERR_INVALID_ARGUMENT, "ti_template_format: NULL argument");
        return NULL;
    }
    const char *slot = strstr(tmpl, "{}");
    size_t tl = strlen(tmpl), kl = strlen(token);
    size_t pre = slot != NULL ? (size_t)(slot - tmpl) : tl;
    size_t post = slot != NULL ? tl - pre - 2 : 0;
    char *s = malloc(pre + (slot != NULL ? kl : 0) + post + 1);
    if (s == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "template: out of memory");
        return NULL;
    }
    memcpy(s, tmpl, pre);
    size_t n = pre;
    if (slot != NULL) {
        memcpy(s + n, token, kl);
        n += kl;
        memcpy(s + n, slot + 2, post);
        n += post;
    }
    s[n] = '\0';
    return s;
}
