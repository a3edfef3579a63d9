/* The toy world: seeded scenes, rendering, captions and the analytic checker (see toy_world.h). */
#include "toy_world.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names and colours ----------------------------------------------------------------- */

static const char *const shape_names[TI_TOY_N_SHAPES] = {"circle", "square", "triangle", "ring", "cross"};
static const char *const colour_names[TI_TOY_N_COLOURS] = {"red", "green", "blue", "yellow", "purple", "orange"};
static const char *const size_names[TI_TOY_N_SIZES] = {"small", "large"};
static const char *const background_names[TI_TOY_N_BACKGROUNDS] = {"plain", "gradient", "striped"};
static const char *const bg_colour_names[TI_TOY_N_BG_COLOURS] = {
    "white", "gray", "black", "red", "green", "blue", "yellow", "purple", "orange"};

static const uint8_t palette[TI_TOY_N_COLOURS][3] = {
    {220, 40, 40},   /* red */
    {40, 170, 60},   /* green */
    {40, 80, 220},   /* blue */
    {240, 210, 30},  /* yellow */
    {140, 50, 180},  /* purple */
    {245, 135, 20},  /* orange */
};

const char *ti_toy_shape_name(int v) { return v >= 0 && v < TI_TOY_N_SHAPES ? shape_names[v] : NULL; }
const char *ti_toy_colour_name(int v) { return v >= 0 && v < TI_TOY_N_COLOURS ? colour_names[v] : NULL; }
const char *ti_toy_size_name(int v) { return v >= 0 && v < TI_TOY_N_SIZES ? size_names[v] : NULL; }
const char *ti_toy_background_name(int v)
{
    return v >= 0 && v < TI_TOY_N_BACKGROUNDS ? background_names[v] : NULL;
}
const char *ti_toy_bg_colour_name(int v)
{
    return v >= 0 && v < TI_TOY_N_BG_COLOURS ? bg_colour_names[v] : NULL;
}
const uint8_t *ti_toy_palette(int v) { return v >= 0 && v < TI_TOY_N_COLOURS ? palette[v] : NULL; }

/* ---- PRNG (splitmix64) ----------------------------------------------------------------- */

uint64_t ti_toy_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t ti_toy_rng_below(uint64_t *state, uint32_t n)
{
    /* Multiply-high of the top 32 bits: bias below 2^-32 * n, irrelevant here. */
    return (uint32_t)(((ti_toy_rng_next(state) >> 32) * (uint64_t)n) >> 32);
}

/* ---- scenes ---------------------------------------------------------------------------- */

void ti_toy_options_default(ti_toy_options *o)
{
    o->exclude_shape = o->exclude_colour = o->force_shape = o->force_colour = o->force_size = -1;
    o->force_background = o->force_background_colour = -1;
}

static int in_range(int v, int n) { return v >= 0 && v < n; }

void ti_toy_random_scene(uint64_t *rng, int side, const ti_toy_options *opts, ti_toy_scene *out)
{
    ti_toy_options def;
    if (opts == NULL) {
        ti_toy_options_default(&def);
        opts = &def;
    }
    if (side < TI_TOY_MIN_SIDE) side = TI_TOY_MIN_SIDE;
    if (side > TI_TOY_MAX_SIDE) side = TI_TOY_MAX_SIDE;
    memset(out, 0, sizeof *out);

    /* Every attribute draws from the stream whether forced or not, so forcing one attribute
     * leaves the others' draws unchanged for the same seed. */
    uint32_t r_shape = ti_toy_rng_below(rng, TI_TOY_N_SHAPES);
    if (in_range(opts->force_shape, TI_TOY_N_SHAPES)) {
        out->shape = opts->force_shape;
    } else if (in_range(opts->exclude_shape, TI_TOY_N_SHAPES)) {
        int k = (int)(r_shape % (TI_TOY_N_SHAPES - 1));
        out->shape = k >= opts->exclude_shape ? k + 1 : k;
    } else {
        out->shape = (int)r_shape;
    }
    uint32_t r_colour = ti_toy_rng_below(rng, TI_TOY_N_COLOURS);
    int held_colour = in_range(opts->exclude_colour, TI_TOY_N_COLOURS) ? opts->exclude_colour : -1;
    if (in_range(opts->force_colour, TI_TOY_N_COLOURS)) {
        out->colour = opts->force_colour;
    } else if (held_colour >= 0) {
        int k = (int)(r_colour % (TI_TOY_N_COLOURS - 1));
        out->colour = k >= held_colour ? k + 1 : k;
    } else {
        out->colour = (int)r_colour;
    }
    uint32_t r_size = ti_toy_rng_below(rng, TI_TOY_N_SIZES);
    out->size = in_range(opts->force_size, TI_TOY_N_SIZES) ? opts->force_size : (int)r_size;
    uint32_t r_bg = ti_toy_rng_below(rng, TI_TOY_N_BACKGROUNDS);
    out->background = in_range(opts->force_background, TI_TOY_N_BACKGROUNDS) ? opts->force_background : (int)r_bg;
    /* Background colour: any of the nine but the shape's own colour (and the held-out colour's
     * tint), in order. */
    int own = TI_TOY_BG_COLOUR(out->colour), held_tint = held_colour >= 0 ? TI_TOY_BG_COLOUR(held_colour) : -1;
    uint32_t r_bgc = ti_toy_rng_below(rng, TI_TOY_N_BG_COLOURS - 1);
    if (in_range(opts->force_background_colour, TI_TOY_N_BG_COLOURS) && opts->force_background_colour != own) {
        out->background_colour = opts->force_background_colour;
    } else {
        int allowed[TI_TOY_N_BG_COLOURS], n = 0;
        for (int c = 0; c < TI_TOY_N_BG_COLOURS; c++)
            if (c != own && c != held_tint)
                allowed[n++] = c;
        out->background_colour = allowed[r_bgc % (uint32_t)n];
    }

    /* Radius: small 21-25% of the side, large 32-37% (the shape is then 15-45 % of the
     * pixels, enough of a denoiser's loss that it learns outlines, not just backgrounds, and a
     * ring's hole is more than one latent pixel wide at VAE factor 4). */
    double u = (double)(ti_toy_rng_next(rng) >> 11) / 9007199254740992.0;
    double frac = out->size == TI_TOY_SMALL ? 0.21 + 0.04 * u : 0.32 + 0.05 * u;
    int radius = (int)floor(frac * side + 0.5);
    if (radius < 3) radius = 3;
    out->radius = radius;
    /* Keep a 2-pixel margin so the border row/column is pure background. */
    int lo = radius + 2, hi = side - radius - 2;
    uint32_t span = (uint32_t)(hi >= lo ? hi - lo + 1 : 1);
    out->cx = lo + (int)ti_toy_rng_below(rng, span);
    out->cy = lo + (int)ti_toy_rng_below(rng, span);
    out->bg_vertical = (int)ti_toy_rng_below(rng, 2);
    int pmin = side / 16 < 2 ? 2 : side / 16, pmax = side / 8 < pmin ? pmin : side / 8;
    uint32_t r_period = ti_toy_rng_below(rng, (uint32_t)(pmax - pmin + 1));
    out->bg_period = out->background == TI_TOY_STRIPED ? pmin + (int)r_period : 0;
}

/* ---- rendering ------------------------------------------------------------------------- */

static void mix3(const float a[3], const float b[3], float t, float out[3])
{
    for (int i = 0; i < 3; i++) out[i] = a[i] + (b[i] - a[i]) * t;
}

/* The two end colours of a background: plain uses c0 only; gradients run c0 -> c1; stripes
 * alternate c0 and c1. Chromatic backgrounds are pale tints, so saturated shapes stand out. */
static void background_colours(int bgc, int kind, float c0[3], float c1[3])
{
    static const float white[3] = {255, 255, 255};
    if (bgc >= 3) {
        const uint8_t *p = palette[bgc - 3];
        float c[3] = {p[0], p[1], p[2]};
        float t0 = kind == TI_TOY_PLAIN ? 0.5f : kind == TI_TOY_GRADIENT ? 0.35f : 0.4f;
        mix3(c, white, t0, c0);
        mix3(c, white, 0.85f, c1);
        return;
    }
    static const float neutral[3][3][2] = {
        /* white, gray, black: {plain, gradient end, stripe} */
        {{255, 255}, {255, 195}, {255, 215}},
        {{128, 128}, {100, 175}, {120, 170}},
        {{0, 0}, {0, 75}, {0, 60}},
    };
    for (int i = 0; i < 3; i++) {
        c0[i] = neutral[bgc][kind][0];
        c1[i] = neutral[bgc][kind][1];
    }
}

/* Is (dx, dy) (relative to the centre) inside the shape of radius r? */
static int inside(int shape, float dx, float dy, float r)
{
    float d2 = dx * dx + dy * dy, ax = fabsf(dx), ay = fabsf(dy);
    switch (shape) {
    case TI_TOY_CIRCLE: return d2 <= r * r;
    case TI_TOY_SQUARE: return ax <= 0.85f * r && ay <= 0.85f * r;
    case TI_TOY_TRIANGLE: return dy >= -r && dy <= 0.8f * r && ax <= (dy + r) / 1.8f;
    case TI_TOY_RING: return d2 <= r * r && d2 >= 0.3025f * r * r;  /* inner radius 0.55 r */
    case TI_TOY_CROSS: return (ax <= r && ay <= 0.34f * r) || (ax <= 0.34f * r && ay <= r);
    default: return 0;
    }
}

void ti_toy_render(const ti_toy_scene *s, int side, uint8_t *rgb)
{
    enum { SS = 4 };
    float c0[3], c1[3], fg[3];
    int bgc = in_range(s->background_colour, TI_TOY_N_BG_COLOURS) ? s->background_colour : 0;
    int kind = in_range(s->background, TI_TOY_N_BACKGROUNDS) ? s->background : TI_TOY_PLAIN;
    background_colours(bgc, kind, c0, c1);
    const uint8_t *p = palette[in_range(s->colour, TI_TOY_N_COLOURS) ? s->colour : 0];
    for (int i = 0; i < 3; i++) fg[i] = p[i];
    float r = (float)s->radius, cx = (float)s->cx, cy = (float)s->cy;
    int period = s->bg_period > 0 ? s->bg_period : 1;

    for (int y = 0; y < side; y++) {
        for (int x = 0; x < side; x++) {
            float acc[3] = {0, 0, 0};
            for (int sy = 0; sy < SS; sy++) {
                for (int sx = 0; sx < SS; sx++) {
                    float px = (float)x + ((float)sx + 0.5f) / SS, py = (float)y + ((float)sy + 0.5f) / SS;
                    const float *c;
                    float bg[3];
                    if (inside(s->shape, px - cx, py - cy, r)) {
                        c = fg;
                    } else if (kind == TI_TOY_PLAIN) {
                        c = c0;
                    } else {
                        float along = s->bg_vertical ? py : px;
                        if (kind == TI_TOY_GRADIENT) {
                            mix3(c0, c1, along / (float)side, bg);
                            c = bg;
                        } else {
                            c = ((int)along / period) % 2 ? c1 : c0;
                        }
                    }
                    for (int i = 0; i < 3; i++) acc[i] += c[i];
                }
            }
            for (int i = 0; i < 3; i++) {
                float v = acc[i] / (SS * SS) + 0.5f;
                rgb[((size_t)y * side + x) * 3 + i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* ---- captions -------------------------------------------------------------------------- */

int ti_toy_caption(const ti_toy_scene *s, char *buf, size_t cap)
{
    return ti_toy_caption_parts(s, TI_TOY_SAY_ALL, buf, cap);
}

int ti_toy_caption_parts(const ti_toy_scene *s, unsigned say, char *buf, size_t cap)
{
    if (s == NULL || (buf == NULL && cap > 0)) return -1;
    const char *size = ti_toy_size_name(s->size), *colour = ti_toy_colour_name(s->colour);
    const char *shape = (say & TI_TOY_SAY_SHAPE) ? ti_toy_shape_name(s->shape) : "shape", *bg = ti_toy_background_name(s->background);
    const char *bgc = ti_toy_bg_colour_name(s->background_colour);
    if (!size || !colour || !ti_toy_shape_name(s->shape) || !bg || !bgc) return -1;
    const char *sp = " ";
    unsigned bg_parts = say & (TI_TOY_SAY_BG_KIND | TI_TOY_SAY_BG_COLOUR);
    return snprintf(buf, cap, "a%s%s%s%s %s%s%s%s%s%s%s", (say & TI_TOY_SAY_SIZE) ? sp : "",
                    (say & TI_TOY_SAY_SIZE) ? size : "", (say & TI_TOY_SAY_COLOUR) ? sp : "",
                    (say & TI_TOY_SAY_COLOUR) ? colour : "", shape, bg_parts ? " on a" : "",
                    (say & TI_TOY_SAY_BG_KIND) ? sp : "", (say & TI_TOY_SAY_BG_KIND) ? bg : "",
                    (say & TI_TOY_SAY_BG_COLOUR) ? sp : "", (say & TI_TOY_SAY_BG_COLOUR) ? bgc : "",
                    bg_parts ? " background" : "");
}

static int lookup(const char *word, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(word, names[i]) == 0) return i;
    return -1;
}

int ti_toy_parse_caption(const char *caption, ti_toy_scene *out)
{
    if (caption == NULL || out == NULL) return 0;
    char w[9][16];
    int n = 0;
    const char *p = caption;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t len = strcspn(p, " ");
        if (n == 9 || len >= sizeof w[0]) return 0;
        memcpy(w[n], p, len);
        w[n][len] = '\0';
        n++;
        p += len;
    }
    if (n != 9 || strcmp(w[0], "a") || strcmp(w[4], "on") || strcmp(w[5], "a") || strcmp(w[8], "background"))
        return 0;
    ti_toy_scene s;
    memset(&s, 0, sizeof s);
    s.size = lookup(w[1], size_names, TI_TOY_N_SIZES);
    s.colour = lookup(w[2], colour_names, TI_TOY_N_COLOURS);
    s.shape = lookup(w[3], shape_names, TI_TOY_N_SHAPES);
    s.background = lookup(w[6], background_names, TI_TOY_N_BACKGROUNDS);
    s.background_colour = lookup(w[7], bg_colour_names, TI_TOY_N_BG_COLOURS);
    if (s.size < 0 || s.colour < 0 || s.shape < 0 || s.background < 0 || s.background_colour < 0) return 0;
    *out = s;
    return 1;
}

/* ---- the checker ----------------------------------------------------------------------- */

static float dist2(const float a[3], const float b[3])
{
    float d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    return d0 * d0 + d1 * d1 + d2 * d2;
}

int ti_toy_classify(const uint8_t *rgb, int side, int *shape_out, int *colour_out)
{
    if (rgb == NULL || side < TI_TOY_MIN_SIDE || side > TI_TOY_MAX_SIDE) return 0;
    size_t npix = (size_t)side * side;
    int ret = 0;
    float(*bgs)[3] = malloc(sizeof *bgs * (size_t)(4 * side));
    float *dmin = malloc(sizeof *dmin * npix);
    float *alpha = malloc(sizeof *alpha * npix);
    if (!bgs || !dmin || !alpha) goto done;

    /* 1. The background model: the distinct colours of the 1-pixel border. Plain backgrounds
     * give one colour, stripes two, gradients the whole ramp (it runs along a border). */
    int nb = 0;
    for (int i = 0; i < 4 * side - 4; i++) {
        int x, y;
        if (i < side) x = i, y = 0;
        else if (i < 2 * side) x = i - side, y = side - 1;
        else if (i < 3 * side - 2) x = 0, y = i - 2 * side + 1;
        else x = side - 1, y = i - (3 * side - 2) + 1;
        const uint8_t *q = rgb + ((size_t)y * side + x) * 3;
        float c[3] = {q[0], q[1], q[2]};
        int seen = 0;
        for (int k = 0; k < nb && !seen; k++) seen = dist2(bgs[k], c) == 0;
        if (!seen) memcpy(bgs[nb++], c, sizeof c);
    }

    /* 2. Distance of each pixel to the nearest background colour; the shape colour is the mean
     * of the pixels that stand out most (the fully covered ones). */
    float maxd = 0;
    for (size_t i = 0; i < npix; i++) {
        float c[3] = {rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]}, best = 1e30f;
        for (int k = 0; k < nb; k++) {
            float d = dist2(bgs[k], c);
            if (d < best) best = d;
        }
        dmin[i] = best;
        if (best > maxd) maxd = best;
    }
    if (maxd < 30.0f * 30.0f) goto done;
    double sum[3] = {0, 0, 0};
    long ncore = 0;
    for (size_t i = 0; i < npix; i++) {
        if (dmin[i] >= 0.81f * maxd) {  /* within 90% of the largest distance */
            for (int c = 0; c < 3; c++) sum[c] += rgb[i * 3 + c];
            ncore++;
        }
    }
    float fg[3] = {(float)(sum[0] / ncore), (float)(sum[1] / ncore), (float)(sum[2] / ncore)};

    int col = 0;
    float bestc = 1e30f;
    for (int c = 0; c < TI_TOY_N_COLOURS; c++) {
        float pc[3] = {palette[c][0], palette[c][1], palette[c][2]};
        float d = dist2(pc, fg);
        if (d < bestc) bestc = d, col = c;
    }

    /* 3. Coverage: each pixel as background b + alpha (fg - b), with the background colour that
     * explains it best. Pixels close to the background are 0 outright. */
    for (size_t i = 0; i < npix; i++) {
        alpha[i] = 0;
        if (dmin[i] < 0.01f * maxd || dmin[i] < 100.0f) continue;
        float c[3] = {rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]}, best_res = 1e30f, best_a = 0;
        for (int k = 0; k < nb; k++) {
            float v[3], w[3];
            for (int j = 0; j < 3; j++) v[j] = fg[j] - bgs[k][j], w[j] = c[j] - bgs[k][j];
            float vv = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
            if (vv < 1.0f) continue;
            float a = (v[0] * w[0] + v[1] * w[1] + v[2] * w[2]) / vv;
            a = a < 0 ? 0 : a > 1 ? 1 : a;
            float res = 0;
            for (int j = 0; j < 3; j++) {
                float e = w[j] - a * v[j];
                res += e * e;
            }
            if (res < best_res) best_res = res, best_a = a;
        }
        /* Faint coverage (noise, halos, soft edges of a decoded picture) is not shape and
         * near-full coverage is: a soft threshold keeps the geometry of the confident core. */
        best_a = (best_a - 0.25f) / 0.5f;
        alpha[i] = best_a < 0 ? 0 : best_a > 1 ? 1 : best_a;
    }

    /* 4. Geometry of the mask alpha >= 0.5. */
    int x0 = side, y0 = side, x1 = -1, y1 = -1, count = 0;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            if (alpha[(size_t)y * side + x] >= 0.5f) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
                count++;
            }
    if (count < 4) goto done;
    int w = x1 - x0 + 1, h = y1 - y0 + 1;
    float mx = (float)(x0 + x1 + 1) / 2, my = (float)(y0 + y1 + 1) / 2;
    float rc = 0.18f * (float)(w < h ? w : h);
    if (rc < 0.75f) rc = 0.75f;
    double area = 0, top = 0, bottom = 0, centre = 0;
    int ncentre = 0;
    for (int y = y0; y <= y1; y++) {
        for (int x = x0; x <= x1; x++) {
            float a = alpha[(size_t)y * side + x], px = (float)x + 0.5f, py = (float)y + 0.5f;
            area += a;
            if (py < my) top += a;
            else if (py > my) bottom += a;
            if ((px - mx) * (px - mx) + (py - my) * (py - my) <= rc * rc) {
                centre += a;
                ncentre++;
            }
        }
    }
    /* Fill of the shape's extent, measured softly (the longest row and column of coverage) so
     * that anti-aliased edges of small shapes do not count as half-empty rows. */
    double max_row = 0, max_col = 0;
    for (int y = y0; y <= y1; y++) {
        double t = 0;
        for (int x = x0; x <= x1; x++) t += alpha[(size_t)y * side + x];
        if (t > max_row) max_row = t;
    }
    for (int x = x0; x <= x1; x++) {
        double t = 0;
        for (int y = y0; y <= y1; y++) t += alpha[(size_t)y * side + x];
        if (t > max_col) max_col = t;
    }
    double fill = max_row > 0 && max_col > 0 ? area / (max_row * max_col) : 0;
    double centre_fill = ncentre ? centre / ncentre : 1.0;
    double balance = bottom > 0 ? top / bottom : 1.0;

    int shp;
    if (balance < 0.6) shp = TI_TOY_TRIANGLE;
    else if (centre_fill < 0.35) shp = TI_TOY_RING;
    else if (fill > 0.84) shp = TI_TOY_SQUARE;
    else if (fill < 0.67) shp = TI_TOY_CROSS;
    else shp = TI_TOY_CIRCLE;

    if (shape_out) *shape_out = shp;
    if (colour_out) *colour_out = col;
    ret = 1;
done:
    free(bgs);
    free(dmin);
    free(alpha);
    return ret;
}
