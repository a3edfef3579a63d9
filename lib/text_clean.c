/* ftfy-like text fixing plus CLIP's whitespace clean-up and Python-style lowercasing.
 * Works on arrays of code points; the input is validated UTF-8. */
#include "text_clean.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "error.h"
#include "html_entities.h"

typedef struct cpbuf {
    uint32_t *v;
    size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *b, uint32_t c)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        uint32_t *nv = realloc(b->v, ncap * sizeof *nv);
        if (nv == NULL)
            return -1;
        b->v = nv;
        b->cap = ncap;
    }
    b->v[b->n++] = c;
    return 0;
}

static int cp_push_utf8(cpbuf *b, const char *s)
{
    utf8proc_int32_t c;
    const uint8_t *p = (const uint8_t *)s;
    size_t len = strlen(s);
    while (len > 0) {
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)len, &c);
        if (k <= 0)
            return -1;
        if (cp_push(b, (uint32_t)c) < 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

static void cp_swap(cpbuf *a, cpbuf *b)
{
    cpbuf t = *a;
    *a = *b;
    *b = t;
}

/* ---- UTF-8 ----------------------------------------------------------------------------- */

/* Decode one strict UTF-8 sequence; returns its length (1-4) or 0 when invalid. */
static size_t utf8_decode1(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (b >= 0xC2 && b <= 0xDF) { n = 2; c = b & 0x1F; min = 0x80; }
    else if (b >= 0xE0 && b <= 0xEF) { n = 3; c = b & 0x0F; min = 0x800; }
    else if (b >= 0xF0 && b <= 0xF4) { n = 4; c = b & 0x07; min = 0x10000; }
    else return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

int ti_utf8_valid(const char *s, size_t len, size_t *bad_offset)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        size_t k = utf8_decode1(p + i, len - i, &c);
        if (k == 0) {
            if (bad_offset)
                *bad_offset = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

static int utf8_to_cps(const char *s, size_t len, cpbuf *out)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        size_t k = utf8_decode1(p + i, len - i, &c);
        if (k == 0) { /* callers validate first; be safe anyway */
            c = 0xFFFD;
            k = 1;
        }
        if (cp_push(out, c) < 0)
            return -1;
        i += k;
    }
    return 0;
}

static size_t utf8_encode1(uint32_t c, char *o)
{
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static char *cps_to_utf8(const uint32_t *v, size_t n, size_t *out_len)
{
    char *o = malloc(n * 4 + 1);
    if (o == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += utf8_encode1(v[i], o + k);
    o[k] = '\0';
    *out_len = k;
    return o;
}

/* ---- single-byte codecs ---------------------------------------------------------------- */

/* Windows-1252 bytes 0x80-0x9F; 0 where the byte is undefined (the "sloppy" codec then maps
 * the byte to the C1 control of the same value, as ftfy does). */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

static uint32_t sloppy1252_decode(uint8_t b)
{
    if (b >= 0x80 && b <= 0x9F && cp1252_high[b - 0x80] != 0)
        return cp1252_high[b - 0x80];
    return b;
}

/* Byte of `c` in sloppy Windows-1252, or -1 when it has none. */
static int sloppy1252_encode(uint32_t c)
{
    if (c < 0x80 || (c >= 0xA0 && c <= 0xFF))
        return (int)c;
    if (c >= 0x80 && c <= 0x9F)
        return cp1252_high[c - 0x80] == 0 ? (int)c : -1;
    for (int i = 0; i < 32; i++)
        if (cp1252_high[i] == c)
            return 0x80 + i;
    return -1;
}

/* ---- mojibake -------------------------------------------------------------------------- */

/* Try to read v[i..] as one UTF-8 sequence written out in sloppy Windows-1252. Returns the
 * number of characters it spans (2-4) and the decoded code point, or 0. */
static size_t mojibake_seq_at(const uint32_t *v, size_t n, size_t i, uint32_t *cp)
{
    uint8_t bytes[4];
    int b0 = sloppy1252_encode(v[i]);
    if (b0 < 0xC2 || b0 > 0xF4)
        return 0;
    size_t need = b0 <= 0xDF ? 2 : b0 <= 0xEF ? 3 : 4;
    if (i + need > n)
        return 0;
    bytes[0] = (uint8_t)b0;
    for (size_t k = 1; k < need; k++) {
        int b = sloppy1252_encode(v[i + k]);
        if (b < 0x80 || b > 0xBF)
            return 0;
        bytes[k] = (uint8_t)b;
    }
    return utf8_decode1(bytes, need, cp) == need ? need : 0;
}

static int looks_like_mojibake(const cpbuf *t)
{
    uint32_t cp;
    for (size_t i = 0; i < t->n; i++)
        if (mojibake_seq_at(t->v, t->n, i, &cp))
            return 1;
    return 0;
}

/* Re-encode the whole text in `codec` (0 = Latin-1, 1 = sloppy Windows-1252) and decode as UTF-8.
 * Returns 1 with the result in *out when every character encodes and the bytes are valid UTF-8. */
static int reencode_whole(const cpbuf *t, int codec, cpbuf *out)
{
    uint8_t *bytes = malloc(t->n ? t->n : 1);
    if (bytes == NULL)
        return -1;
    int ok = 1;
    for (size_t i = 0; i < t->n && ok; i++) {
        int b = codec == 0 ? (t->v[i] <= 0xFF ? (int)t->v[i] : -1) : sloppy1252_encode(t->v[i]);
        if (b < 0)
            ok = 0;
        else
            bytes[i] = (uint8_t)b;
    }
    if (ok && !ti_utf8_valid((const char *)bytes, t->n, NULL))
        ok = 0;
    if (ok) {
        out->n = 0;
        if (utf8_to_cps((const char *)bytes, t->n, out) < 0)
            ok = -1;
    }
    free(bytes);
    return ok;
}

/* One step of ftfy's fix_encoding: whole-text re-decoding first, else fix the UTF-8 sequences
 * that stand out in isolation. Returns 1 if *t changed. */
static int fix_encoding_step(cpbuf *t, cpbuf *tmp)
{
    int ascii = 1;
    for (size_t i = 0; i < t->n && ascii; i++)
        ascii = t->v[i] < 0x80;
    if (ascii || !looks_like_mojibake(t))
        return 0;
    for (int codec = 0; codec < 2; codec++) {
        int r = reencode_whole(t, codec, tmp);
        if (r < 0)
            return -1;
        if (r == 1) {
            int changed = tmp->n != t->n || memcmp(tmp->v, t->v, t->n * sizeof *t->v) != 0;
            cp_swap(t, tmp);
            return changed;
        }
    }
    tmp->n = 0;
    for (size_t i = 0; i < t->n;) {
        uint32_t cp;
        size_t k = mojibake_seq_at(t->v, t->n, i, &cp);
        if (k) {
            if (cp_push(tmp, cp) < 0)
                return -1;
            i += k;
        } else {
            if (cp_push(tmp, t->v[i]) < 0)
                return -1;
            i++;
        }
    }
    int changed = tmp->n != t->n;
    cp_swap(t, tmp);
    return changed;
}

/* ---- HTML entities --------------------------------------------------------------------- */

static int is_alnum_ascii(uint32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int invalid_codepoint(uint32_t n)
{
    return (n >= 0x1 && n <= 0x8) || n == 0xB || (n >= 0xE && n <= 0x1F) || (n >= 0x7F && n <= 0x9F) ||
           (n >= 0xFDD0 && n <= 0xFDEF) || (n & 0xFFFE) == 0xFFFE;
}

/* Python html.unescape() of a numeric reference body (after "&#", before ';'). Appends the
 * result to out; returns 0 when the body is not a well-formed number (left as is). */
static int numeric_ref(const uint32_t *body, size_t n, cpbuf *out)
{
    int hex = body[0] == 'x' || body[0] == 'X';
    size_t i = hex ? 1 : 0;
    if (i >= n)
        return 0;
    uint64_t num = 0;
    for (; i < n; i++) {
        uint32_t c = body[i];
        int d;
        if (c >= '0' && c <= '9') d = (int)(c - '0');
        else if (hex && c >= 'a' && c <= 'f') d = (int)(c - 'a' + 10);
        else if (hex && c >= 'A' && c <= 'F') d = (int)(c - 'A' + 10);
        else return 0;
        if (num < 0x110000)
            num = num * (hex ? 16 : 10) + (uint64_t)d;
    }
    uint32_t c;
    if (num == 0) c = 0xFFFD;
    else if (num == 0x0D) c = '\r';
    else if (num >= 0x80 && num <= 0x9F) c = sloppy1252_decode((uint8_t)num);
    else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) c = 0xFFFD;
    else if (invalid_codepoint((uint32_t)num)) return 2; /* html.unescape drops these */
    else c = (uint32_t)num;
    if (c == ';')
        return 0; /* ftfy keeps a reference whose result contains ';' */
    return cp_push(out, c) < 0 ? -1 : 1;
}

/* ftfy's unescape_html: "&#?[0-9A-Za-z]{1,24};" references. Returns -1 on OOM. */
static int unescape_html(cpbuf *t, cpbuf *tmp)
{
    tmp->n = 0;
    for (size_t i = 0; i < t->n;) {
        if (t->v[i] == '&') {
            size_t j = i + 1;
            int num = j < t->n && t->v[j] == '#';
            if (num)
                j++;
            size_t s = j;
            while (j < t->n && j - s < 25 && is_alnum_ascii(t->v[j]))
                j++;
            if (j > s && j - s <= 24 && j < t->n && t->v[j] == ';') {
                char name[32];
                size_t k = 0;
                if (num)
                    name[k++] = '#';
                for (size_t q = s; q <= j; q++)
                    name[k++] = (char)t->v[q];
                name[k] = '\0';
                const char *val = num ? NULL : ti_html_entity_lookup(name);
                int done = 0;
                if (val != NULL) {
                    if (cp_push_utf8(tmp, val) < 0)
                        return -1;
                    done = 1;
                } else if (num) {
                    done = numeric_ref(t->v + s, j - s, tmp);
                    if (done < 0)
                        return -1;
                }
                if (done) {
                    i = j + 1;
                    continue;
                }
            }
        }
        if (cp_push(tmp, t->v[i]) < 0)
            return -1;
        i++;
    }
    cp_swap(t, tmp);
    return 0;
}

/* ---- the character-level fixes --------------------------------------------------------- */

static const char *ligature(uint32_t c)
{
    switch (c) {
    case 0x0132: return "IJ";
    case 0x0133: return "ij";
    case 0x0149: return "\xCA\xBCn";
    case 0x01F1: return "DZ";
    case 0x01F2: return "Dz";
    case 0x01F3: return "dz";
    case 0x01C4: return "D\xC5\xBD";
    case 0x01C5: return "D\xC5\xBE";
    case 0x01C6: return "d\xC5\xBE";
    case 0x01C7: return "LJ";
    case 0x01C8: return "Lj";
    case 0x01C9: return "lj";
    case 0x01CA: return "NJ";
    case 0x01CB: return "Nj";
    case 0x01CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\xC5\xBFt";
    case 0xFB06: return "st";
    }
    return NULL;
}

static int is_control_to_drop(uint32_t c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* Ligatures, full-width forms, curly quotes, line breaks, C1 controls, control characters. */
static int char_fixes(cpbuf *t, cpbuf *tmp)
{
    tmp->n = 0;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t c = t->v[i];
        if (c >= 0x80 && c <= 0x9F)
            c = sloppy1252_decode((uint8_t)c); /* fix_c1_controls */
        const char *lig = ligature(c);
        if (lig != NULL) {
            if (cp_push_utf8(tmp, lig) < 0)
                return -1;
            continue;
        }
        if (c == 0x3000) {
            c = ' ';
        } else if (c >= 0xFF01 && c <= 0xFFEF) {
            /* Full-/half-width forms: whatever NFKC makes of them. */
            char one[8];
            size_t k1 = utf8_encode1(c, one);
            one[k1] = '\0';
            char *nk = (char *)utf8proc_NFKC((const utf8proc_uint8_t *)one);
            if (nk == NULL)
                return -1;
            int changed = strcmp(nk, one) != 0;
            int r = changed ? cp_push_utf8(tmp, nk) : 0;
            free(nk);
            if (r < 0)
                return -1;
            if (changed)
                continue;
        }
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
            c = '\'';
        else if (c >= 0x201C && c <= 0x201F)
            c = '"';
        if (c == '\r') { /* fix_line_breaks: \r\n and lone \r -> \n */
            if (i + 1 < t->n && t->v[i + 1] == '\n')
                continue;
            c = '\n';
        } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
            c = '\n';
        }
        if (c == 0x1B && i + 1 < t->n && t->v[i + 1] == '[') {
            /* remove_terminal_escapes: ESC [ (digits|;)* letter */
            size_t j = i + 2;
            while (j < t->n && ((t->v[j] >= '0' && t->v[j] <= '9') || t->v[j] == ';'))
                j++;
            if (j < t->n && ((t->v[j] | 0x20) >= 'a' && (t->v[j] | 0x20) <= 'z')) {
                i = j;
                continue;
            }
        }
        if (is_control_to_drop(c))
            continue;
        if (cp_push(tmp, c) < 0)
            return -1;
    }
    cp_swap(t, tmp);
    return 0;
}

static int nfc(cpbuf *t, cpbuf *tmp)
{
    size_t len;
    char *s = cps_to_utf8(t->v, t->n, &len);
    if (s == NULL)
        return -1;
    utf8proc_uint8_t *o = NULL;
    utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &o,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(s);
    if (k < 0)
        return k == UTF8PROC_ERROR_NOMEM ? -1 : 0; /* leave the text as it is */
    tmp->n = 0;
    int r = utf8_to_cps((const char *)o, (size_t)k, tmp);
    free(o);
    if (r < 0)
        return -1;
    cp_swap(t, tmp);
    return 0;
}

static int cp_equal(const cpbuf *a, const cpbuf *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0);
}

/* ftfy's fix_and_explain on one segment, repeated until nothing changes. */
static int fix_segment(cpbuf *t, int unescape, cpbuf *tmp, cpbuf *orig)
{
    for (int round = 0; round < 100; round++) {
        orig->n = 0;
        for (size_t i = 0; i < t->n; i++)
            if (cp_push(orig, t->v[i]) < 0)
                return -1;
        if (unescape && unescape_html(t, tmp) < 0)
            return -1;
        for (int k = 0; k < 100; k++) {
            int r = fix_encoding_step(t, tmp);
            if (r < 0)
                return -1;
            if (r == 0)
                break;
        }
        if (char_fixes(t, tmp) < 0 || nfc(t, tmp) < 0)
            return -1;
        if (cp_equal(t, orig))
            break;
    }
    return 0;
}

enum { TI_MAX_SEGMENT = 1000000 }; /* ftfy's max_decode_length */

tinv_status ti_fix_text(const char *in, size_t len, char **out, size_t *out_len)
{
    cpbuf all = {0}, res = {0}, seg = {0}, tmp = {0}, orig = {0};
    tinv_status st = TINV_OK;
    *out = NULL;
    if (utf8_to_cps(in, len, &all) < 0)
        goto oom;
    /* Like ftfy: one line at a time, and once a line contains '<' the HTML unescaping stays off
     * for the rest of the text (it would break markup). */
    int unescape = 1;
    for (size_t pos = 0; pos < all.n;) {
        size_t end = pos;
        while (end < all.n && all.v[end] != '\n' && end - pos < TI_MAX_SEGMENT)
            end++;
        if (end < all.n && all.v[end] == '\n' && end - pos < TI_MAX_SEGMENT)
            end++;
        seg.n = 0;
        for (size_t i = pos; i < end; i++) {
            if (all.v[i] == '<')
                unescape = 0;
            if (cp_push(&seg, all.v[i]) < 0)
                goto oom;
        }
        if (fix_segment(&seg, unescape, &tmp, &orig) < 0)
            goto oom;
        for (size_t i = 0; i < seg.n; i++)
            if (cp_push(&res, seg.v[i]) < 0)
                goto oom;
        pos = end;
    }
    *out = cps_to_utf8(res.v, res.n, out_len);
    if (*out == NULL)
        goto oom;
    goto done;
oom:
    st = ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory while cleaning text");
done:
    free(all.v);
    free(res.v);
    free(seg.v);
    free(tmp.v);
    free(orig.v);
    return st;
}

int ti_is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Python's str.strip() also strips the information separators U+001C-U+001F. */
static int is_py_space(uint32_t c) { return ti_is_space(c) || (c >= 0x1C && c <= 0x1F); }

static int is_cased(uint32_t c)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT ||
           utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
           utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

static int is_case_ignorable(uint32_t c)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME || cat == UTF8PROC_CATEGORY_CF ||
           cat == UTF8PROC_CATEGORY_LM || cat == UTF8PROC_CATEGORY_SK || c == '\'' || c == '.' || c == ':' ||
           c == '^' || c == '`' || c == 0xAD || c == 0xB7 || c == 0x2018 || c == 0x2019 || c == 0x2024 ||
           c == 0x2027;
}

/* Python's lowercase of t->v[i]: full mapping (U+0130 -> "i\u0307") and final sigma. */
static int lower_push(const cpbuf *t, size_t i, cpbuf *o)
{
    uint32_t c = t->v[i];
    if (c == 0x130)
        return cp_push(o, 'i') < 0 || cp_push(o, 0x307) < 0 ? -1 : 0;
    if (c == 0x3A3) {
        size_t j = i;
        while (j > 0 && is_case_ignorable(t->v[j - 1]))
            j--;
        int final = j > 0 && is_cased(t->v[j - 1]);
        if (final) {
            j = i + 1;
            while (j < t->n && is_case_ignorable(t->v[j]))
                j++;
            final = j == t->n || !is_cased(t->v[j]);
        }
        return cp_push(o, final ? 0x3C2 : 0x3C3);
    }
    return cp_push(o, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
}

tinv_status ti_text_clean(const char *in, size_t len, char **out, size_t *out_len)
{
    char *fixed = NULL;
    size_t flen = 0;
    *out = NULL;
    TI_TRY(ti_fix_text(in, len, &fixed, &flen));
    cpbuf t = {0}, ws = {0}, low = {0};
    tinv_status st = TINV_OK;
    if (utf8_to_cps(fixed, flen, &t) < 0)
        goto oom;
    /* whitespace_clean: runs of \s -> ' ', then strip */
    for (size_t i = 0; i < t.n;) {
        if (ti_is_space(t.v[i])) {
            while (i < t.n && ti_is_space(t.v[i]))
                i++;
            if (cp_push(&ws, ' ') < 0)
                goto oom;
        } else if (cp_push(&ws, t.v[i++]) < 0) {
            goto oom;
        }
    }
    size_t a = 0, b = ws.n;
    while (a < b && is_py_space(ws.v[a]))
        a++;
    while (b > a && is_py_space(ws.v[b - 1]))
        b--;
    cpbuf view = {ws.v + a, b - a, 0};
    for (size_t i = 0; i < view.n; i++)
        if (lower_push(&view, i, &low) < 0)
            goto oom;
    *out = cps_to_utf8(low.v, low.n, out_len);
    if (*out == NULL)
        goto oom;
    goto done;
oom:
    st = ti_error(TINV_ERR_OUT_OF_MEMORY, "tokenizer: out of memory while cleaning text");
done:
    free(fixed);
    free(t.v);
    free(ws.v);
    free(low.v);
    return st;
}
