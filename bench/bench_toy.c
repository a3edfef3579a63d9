/* bench-toy / toy-eval: what the committed toy-world model (toy/model) can do, measured with the
 * toy world's own checker (lib/toy_world.c).
 *
 *  1. Caption following: random captions of the world it was trained on -> pictures -> does the
 *     checker see the captioned shape and colour (and the background colour)?
 *  2. Textual inversion of the two concepts held out of its vocabulary (a shape, "ring", and a
 *     colour, "purple": drawn in its training pictures but never named), each from 5 generated
 *     pictures with per-picture captions, through the public trainer. Recall of the concept with
 *     the learned token vs the init word (baseline) and vs the class word the model was trained
 *     with ("shape", or no colour word), composed with known words, and the two learned tokens in
 *     one prompt.
 *
 * Prints figures and a markdown summary; with --out DIR also writes sample grids there.
 * --quick uses fewer samples (a smoke run, not the published figures). */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../shim/shim.h"
#include "bench_common.h"
#include "tinv.h"
#include "toy_model.h"
#include "toy_world.h"

enum { SIDE = 32, ZOOM = 4, MAX_N = 64 };

typedef struct bench {
    tinv_model *model;
    tinv_tokenizer *tok;
    tinv_sampler *sampler;
    const char *out; /* grid folder or NULL */
    int n;           /* samples per prompt */
    int steps;       /* sampling steps */
    double guidance;
    double ti_lr;    /* textual inversion's learning rate */
    int bg_ref[TI_TOY_N_BG_COLOURS][3]; /* mean border colour of each plain background */
} bench;

static void die(const char *what)
{
    fprintf(stderr, "bench-toy: %s: %s\n", what, tinv_last_error());
    exit(1);
}

/* ---- checking a picture ------------------------------------------------------------------- */

static void border_mean(const uint8_t *rgb, int side, double out[3])
{
    double sum[3] = {0, 0, 0};
    int n = 0;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            if (x != 0 && y != 0 && x != side - 1 && y != side - 1)
                continue;
            for (int c = 0; c < 3; c++)
                sum[c] += rgb[((size_t)y * side + x) * 3 + c];
            n++;
        }
    for (int c = 0; c < 3; c++)
        out[c] = sum[c] / n;
}

/* Reference border colours: plain backgrounds of each colour as the generator draws them. */
static void background_references(bench *b)
{
    uint8_t rgb[SIDE * SIDE * 3];
    for (int bgc = 0; bgc < TI_TOY_N_BG_COLOURS; bgc++) {
        ti_toy_options o;
        ti_toy_options_default(&o);
        o.force_background = TI_TOY_PLAIN;
        o.force_background_colour = bgc;
        o.force_colour = bgc == TI_TOY_BG_COLOUR(TI_TOY_RED) ? TI_TOY_GREEN : TI_TOY_RED;
        uint64_t rng = 7;
        ti_toy_scene s;
        ti_toy_random_scene(&rng, SIDE, &o, &s);
        ti_toy_render(&s, SIDE, rgb);
        double m[3];
        border_mean(rgb, SIDE, m);
        for (int c = 0; c < 3; c++)
            b->bg_ref[bgc][c] = (int)m[c];
    }
}

/* The background colour whose plain rendering is nearest the picture's border mean (striped and
 * gradient backgrounds mix in a lighter tint, so this is approximate; it is checked on generator
 * pictures in the report). */
static int background_colour(const bench *b, const uint8_t *rgb)
{
    double m[3];
    border_mean(rgb, SIDE, m);
    int best = 0;
    double best_d = 1e30;
    for (int k = 0; k < TI_TOY_N_BG_COLOURS; k++) {
        double d = 0;
        for (int c = 0; c < 3; c++)
            d += (m[c] - b->bg_ref[k][c]) * (m[c] - b->bg_ref[k][c]);
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    return best;
}

/* ---- sampling ----------------------------------------------------------------------------- */

static void zoom(const uint8_t *src, uint8_t *dst)
{
    int big = SIDE * ZOOM;
    for (int y = 0; y < big; y++)
        for (int x = 0; x < big; x++)
            memcpy(dst + ((size_t)y * big + x) * 3, src + ((size_t)(y / ZOOM) * SIDE + x / ZOOM) * 3, 3);
}

/* `count` SIDE x SIDE pictures (contiguous RGB8), enlarged ZOOM times, as a grid of `cols`
 * columns in out/name.png; nothing without --out. */
static void write_grid(const bench *b, const char *name, const uint8_t *pictures, int count, int cols)
{
    if (b->out == NULL || name == NULL || count < 1)
        return;
    size_t tile = (size_t)SIDE * ZOOM * SIDE * ZOOM * 3;
    uint8_t *big = malloc((size_t)count * tile);
    for (int i = 0; big && i < count; i++)
        zoom(pictures + (size_t)i * SIDE * SIDE * 3, big + (size_t)i * tile);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.png", b->out, name);
    if (big == NULL || tinv_image_write(path, big, SIDE * ZOOM, SIDE * ZOOM, 3, count, cols, 95, NULL) != TINV_OK)
        die(path);
    free(big);
}

/* n pictures of `prompt` (seeds seed0, seed0+1, …) into rgb; a grid of the first 8 to out/name. */
static void sample(bench *b, const char *prompt, uint64_t seed0, int n, uint8_t *rgb, const char *grid_name)
{
    if (tinv_sampler_set_prompt(b->sampler, prompt) != TINV_OK)
        die(prompt);
    for (int i = 0; i < n; i++) {
        if (tinv_sampler_set_seed(b->sampler, seed0 + (uint64_t)i) != TINV_OK ||
            tinv_sampler_run(b->sampler, rgb + (size_t)i * SIDE * SIDE * 3, SIDE * SIDE * 3) != TINV_OK)
            die(prompt);
    }
    write_grid(b, grid_name, rgb, n < 8 ? n : 8, n < 8 ? n : 8);
}

typedef struct want {
    int shape, colour, bg_colour; /* -1: not checked */
} want;

/* Fraction of the n pictures in which the checker sees everything `w` asks for; *found counts
 * pictures with anything found at all. */
static double score(const bench *b, const uint8_t *rgb, int n, want w, int *found)
{
    int ok = 0, any = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *p = rgb + (size_t)i * SIDE * SIDE * 3;
        int shape = -1, colour = -1;
        int got = ti_toy_classify(p, SIDE, &shape, &colour);
        any += got;
        int good = got && (w.shape < 0 || shape == w.shape) && (w.colour < 0 || colour == w.colour);
        if (good && w.bg_colour >= 0)
            good = background_colour(b, p) == w.bg_colour;
        ok += good;
    }
    if (found)
        *found = any;
    return (double)ok / n;
}

/* ---- 0. the VAE round trip ---------------------------------------------------------------- */

static void vae_round_trip(bench *b, const ti_toy_train_config *cfg)
{
    enum { N = 256 };
    int64_t factor = 0;
    if (tinv_model_get_int(b->model, TINV_MODEL_VAE_SCALE_FACTOR, &factor) != TINV_OK || factor < 1)
        die("VAE scale factor");
    size_t ls = SIDE / (size_t)factor, per = 3 * SIDE * SIDE, lat = 4 * ls * ls;
    float *x = malloc(N * per * sizeof *x), *y = malloc(N * per * sizeof *y);
    float *mean = malloc(N * lat * sizeof *mean), *logvar = malloc(N * lat * sizeof *logvar);
    uint64_t rng = 0x5EED; /* not the pictures the checker was calibrated on */
    ti_toy_training_batch(cfg, &rng, N, x, NULL, 0);
    if (tinv_model_vae_encode(b->model, x, N, SIDE, SIDE, mean, logvar) != TINV_OK ||
        tinv_model_vae_decode(b->model, mean, N, ls, ls, y) != TINV_OK)
        die("VAE round trip");
    double se = 0;
    int agree = 0;
    enum { SHOWN = 8, PIC = SIDE * SIDE * 3 };
    uint8_t shown[2 * SHOWN * PIC]; /* the first originals, then their reconstructions */
    for (int i = 0; i < N; i++) {
        uint8_t a[PIC], r[PIC];
        for (size_t p = 0; p < (size_t)SIDE * SIDE; p++)
            for (int c = 0; c < 3; c++) {
                float u = x[i * per + c * SIDE * SIDE + p], v = y[i * per + c * SIDE * SIDE + p];
                se += (double)(u - v) * (u - v);
                v = v < -1 ? -1 : v > 1 ? 1 : v;
                a[p * 3 + c] = (uint8_t)((u + 1) * 127.5f + 0.5f);
                r[p * 3 + c] = (uint8_t)((v + 1) * 127.5f + 0.5f);
            }
        int s1 = -1, c1 = -1, s2 = -2, c2 = -2;
        ti_toy_classify(a, SIDE, &s1, &c1);
        ti_toy_classify(r, SIDE, &s2, &c2);
        agree += s1 == s2 && c1 == c2;
        if (i < SHOWN) {
            memcpy(shown + (size_t)i * PIC, a, PIC);
            memcpy(shown + (size_t)(SHOWN + i) * PIC, r, PIC);
        }
    }
    write_grid(b, "vae", shown, 2 * SHOWN, SHOWN);
    printf("VAE round trip (%d fresh pictures): RMS error %.4f (of 2), checker agrees on %d/%d\n", N,
           sqrt(se / (N * per)), agree, N);
    free(x);
    free(y);
    free(mean);
    free(logvar);
}

/* ---- 1. caption following ----------------------------------------------------------------- */

static void caption_following(bench *b, const ti_toy_train_config *cfg, int n_captions)
{
    uint8_t rgb[SIDE * SIDE * 3];
    int shape_ok = 0, colour_ok = 0, both_ok = 0, bg_ok = 0, gen_bg_ok = 0;
    uint64_t rng = 0xC0FFEE;
    ti_toy_options o;
    ti_toy_options_default(&o);
    o.exclude_shape = cfg->held_out_shape;
    o.exclude_colour = cfg->held_out_colour;
    uint8_t *grid = malloc((size_t)n_captions * sizeof rgb);
    double t0 = now();
    for (int i = 0; i < n_captions; i++) {
        ti_toy_scene s;
        ti_toy_random_scene(&rng, SIDE, &o, &s);
        char caption[160];
        ti_toy_caption(&s, caption, sizeof caption);
        sample(b, caption, 1000 + (uint64_t)i, 1, rgb, NULL);
        memcpy(grid + (size_t)i * sizeof rgb, rgb, sizeof rgb);
        int shape = -1, colour = -1;
        ti_toy_classify(rgb, SIDE, &shape, &colour);
        shape_ok += shape == s.shape;
        colour_ok += colour == s.colour;
        both_ok += shape == s.shape && colour == s.colour;
        bg_ok += background_colour(b, rgb) == s.background_colour;
        /* the background check itself, on the generator's own picture of the caption */
        uint8_t truth[SIDE * SIDE * 3];
        ti_toy_render(&s, SIDE, truth);
        gen_bg_ok += background_colour(b, truth) == s.background_colour;
        if (i < 4)
            printf("  \"%s\" -> %s %s\n", caption, colour >= 0 ? ti_toy_colour_name(colour) : "?",
                   shape >= 0 ? ti_toy_shape_name(shape) : "(nothing)");
    }
    double secs = now() - t0;
    printf("caption following (%d captions, %d steps, guidance %.1f, %.2f s/picture):\n", n_captions, b->steps,
           b->guidance, secs / n_captions);
    printf("  shape %.1f %%  colour %.1f %%  both %.1f %%  background colour %.1f %% (checker on generator "
           "pictures: %.1f %%)\n",
           100.0 * shape_ok / n_captions, 100.0 * colour_ok / n_captions, 100.0 * both_ok / n_captions,
           100.0 * bg_ok / n_captions, 100.0 * gen_bg_ok / n_captions);
    write_grid(b, "captions", grid, n_captions < 16 ? n_captions : 16, 8);
    free(grid);
}

/* ---- 2. textual inversion ----------------------------------------------------------------- */

/* Five pictures of one concept with captions that name everything else ("{}" for the token). */
static void write_concept_pictures(const char *dir, int shape, int colour, int shape_is_token)
{
    static const int other_colours[5] = {TI_TOY_RED, TI_TOY_GREEN, TI_TOY_BLUE, TI_TOY_YELLOW, TI_TOY_ORANGE};
    static const int other_shapes[5] = {TI_TOY_CIRCLE, TI_TOY_SQUARE, TI_TOY_TRIANGLE, TI_TOY_CROSS, TI_TOY_SQUARE};
    mkdir(dir, 0755);
    uint64_t rng = shape_is_token ? 11 : 22;
    for (int i = 0; i < 5; i++) {
        ti_toy_options o;
        ti_toy_options_default(&o);
        o.force_shape = shape >= 0 ? shape : other_shapes[i];
        o.force_colour = colour >= 0 ? colour : other_colours[i];
        o.exclude_colour = TI_TOY_PURPLE; /* no purple backgrounds either */
        ti_toy_scene s;
        ti_toy_random_scene(&rng, SIDE, &o, &s);
        uint8_t rgb[SIDE * SIDE * 3];
        ti_toy_render(&s, SIDE, rgb);
        char path[4096], caption[200];
        snprintf(path, sizeof path, "%s/%d.png", dir, i);
        if (tinv_image_write(path, rgb, SIDE, SIDE, 3, 1, 0, 95, NULL) != TINV_OK)
            die(path);
        const char *name = shape_is_token ? ti_toy_shape_name(s.shape) : ti_toy_colour_name(s.colour);
        ti_toy_caption(&s, caption, sizeof caption);
        char *at = strstr(caption, name); /* the concept's own word -> "{}" */
        char templ[220];
        snprintf(templ, sizeof templ, "%.*s{}%s", (int)(at - caption), caption, at + strlen(name));
        snprintf(path, sizeof path, "%s/%d.txt", dir, i);
        FILE *f = fopen(path, "w");
        if (f == NULL || fprintf(f, "%s\n", templ) < 0 || fclose(f) != 0) {
            fprintf(stderr, "bench-toy: cannot write %s\n", path);
            exit(1);
        }
    }
}

static void learn(bench *b, const char *dir, const char *token, const char *init_word, int steps)
{
    if (tinv_model_add_token(b->model, b->tok, token, 1, init_word, 0) != TINV_OK)
        die(token);
    tinv_trainer *tr;
    if (tinv_trainer_create(b->model, b->tok, token, &tr) != TINV_OK || tinv_trainer_set_images(tr, dir) != TINV_OK ||
        tinv_trainer_set_resolution(tr, SIDE) != TINV_OK || tinv_trainer_set_steps(tr, steps) != TINV_OK ||
        tinv_trainer_set_batch(tr, 4) != TINV_OK || tinv_trainer_set_seed(tr, 5) != TINV_OK ||
        tinv_optimizer_set_lr(tinv_trainer_optimizer(tr), b->ti_lr) != TINV_OK)
        die(token);
    double t0 = now();
    if (tinv_trainer_run(tr) != TINV_OK)
        die(token);
    printf("  learned %s (init \"%s\") from 5 pictures: %d steps of batch 4 at lr %g in %.1f s\n", token, init_word,
           steps, b->ti_lr, now() - t0);
    tinv_trainer_free(tr);
}

typedef struct row {
    const char *label, *learned, *baseline;
    want w;
} row;

static void report_rows(bench *b, const row *rows, int n_rows, const char *grid_prefix)
{
    uint8_t *rgb = malloc((size_t)b->n * SIDE * SIDE * 3);
    for (int r = 0; r < n_rows; r++) {
        char grid[256];
        snprintf(grid, sizeof grid, "%s-%d-learned", grid_prefix, r);
        sample(b, rows[r].learned, 1, b->n, rgb, grid);
        int found_l, found_b;
        double learned = score(b, rgb, b->n, rows[r].w, &found_l);
        snprintf(grid, sizeof grid, "%s-%d-baseline", grid_prefix, r);
        sample(b, rows[r].baseline, 1, b->n, rgb, grid);
        double baseline = score(b, rgb, b->n, rows[r].w, &found_b);
        printf("| %-28s | \"%s\" | %5.1f %% | \"%s\" | %5.1f %% |\n", rows[r].label, rows[r].learned, 100 * learned,
               rows[r].baseline, 100 * baseline);
    }
    free(rgb);
}

int main(int argc, char **argv)
{
    const char *model_dir = argc > 1 ? argv[1] : "toy/model";
    bench b = {0};
    int quick = 0, ti_steps = 1200, n_captions = 100;
    const char *part = "all";
    b.n = 32;
    b.steps = 25;
    b.guidance = 4.0;
    b.ti_lr = 2e-2;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            b.out = argv[++i];
        else if (strcmp(argv[i], "--part") == 0 && i + 1 < argc)
            part = argv[++i];
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            b.steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--guidance") == 0 && i + 1 < argc)
            b.guidance = atof(argv[++i]);
        else if (strcmp(argv[i], "--ti-steps") == 0 && i + 1 < argc)
            ti_steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ti-lr") == 0 && i + 1 < argc)
            b.ti_lr = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_toy [MODEL_DIR] [--quick] [--out DIR] [--part all|vae|captions|ti] [--steps N] [--guidance G] [--ti-steps N] [--ti-lr X]\n");
            return 2;
        }
    }
    if (quick) {
        b.n = 8;
        n_captions = 16;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows when piped to tee */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ts_set_num_threads(2);
    ts_set_blas_threads(1);
    if (b.out)
        mkdir(b.out, 0755);
    if (tinv_model_load(model_dir, NULL, &b.model) != TINV_OK || tinv_tokenizer_load(model_dir, NULL, &b.tok) != TINV_OK ||
        tinv_sampler_create(b.model, b.tok, &b.sampler) != TINV_OK ||
        tinv_sampler_set_scheduler(b.sampler, "ddim") != TINV_OK ||
        tinv_sampler_set_steps(b.sampler, b.steps) != TINV_OK ||
        tinv_sampler_set_guidance(b.sampler, b.guidance) != TINV_OK ||
        tinv_sampler_set_size(b.sampler, SIDE, SIDE) != TINV_OK)
        die(model_dir);
    background_references(&b);
    ti_toy_train_config cfg;
    ti_toy_train_defaults(&cfg);
    printf("toy model %s; %d samples per prompt%s\n", model_dir, b.n, quick ? " (quick)" : "");
    if (strcmp(part, "all") == 0 || strcmp(part, "vae") == 0)
        vae_round_trip(&b, &cfg);
    if (strcmp(part, "all") == 0 || strcmp(part, "captions") == 0)
        caption_following(&b, &cfg, n_captions);
    if (strcmp(part, "all") != 0 && strcmp(part, "ti") != 0)
        return 0;

    char tmp[] = "/tmp/bench-toy-XXXXXX", dir_shape[4200], dir_colour[4200];
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dir_shape, sizeof dir_shape, "%s/ring", tmp);
    snprintf(dir_colour, sizeof dir_colour, "%s/purple", tmp);
    write_concept_pictures(dir_shape, TI_TOY_RING, -1, 1);
    write_concept_pictures(dir_colour, -1, TI_TOY_PURPLE, 0);
    printf("textual inversion of the held-out concepts:\n");
    learn(&b, dir_shape, "<ring>", "shape", ti_steps);
    learn(&b, dir_colour, "<purple>", "blue", ti_steps);

    /* The ring is learnt from the class word the model drew rings under ("shape"), the baseline
     * of the ring rows; the nearest named shape ("circle") is a second baseline. */
    const row rows[] = {
        {"ring alone", "a <ring>", "a shape", {TI_TOY_RING, -1, -1}},
        {"ring + colour (yellow)", "a yellow <ring>", "a yellow shape", {TI_TOY_RING, TI_TOY_YELLOW, -1}},
        {"ring + colour (green)", "a large green <ring>", "a large green shape", {TI_TOY_RING, TI_TOY_GREEN, -1}},
        {"ring + background", "a red <ring> on a striped green background", "a red shape on a striped green background",
         {TI_TOY_RING, TI_TOY_RED, TI_TOY_BG_COLOUR(TI_TOY_GREEN)}},
        {"purple alone", "a <purple> square", "a blue square", {TI_TOY_SQUARE, TI_TOY_PURPLE, -1}},
        {"purple + shape (triangle)", "a <purple> triangle", "a blue triangle", {TI_TOY_TRIANGLE, TI_TOY_PURPLE, -1}},
        {"purple + background", "a <purple> cross on a plain white background", "a blue cross on a plain white background",
         {TI_TOY_CROSS, TI_TOY_PURPLE, TI_TOY_BG_WHITE}},
        {"two learned: purple ring", "a <purple> <ring>", "a blue shape", {TI_TOY_RING, TI_TOY_PURPLE, -1}},
        /* second baselines: the nearest named shape; the prompt without a colour word */
        {"ring vs nearest named shape", "a <ring>", "a circle", {TI_TOY_RING, -1, -1}},
        {"purple vs no colour word", "a <purple> square", "a square", {TI_TOY_SQUARE, TI_TOY_PURPLE, -1}},
    };
    printf("\n| what | learned-token prompt | recall | init-word prompt (baseline) | recall |\n");
    printf("|---|---|---:|---|---:|\n");
    report_rows(&b, rows, (int)(sizeof rows / sizeof *rows), "ti");

    /* Controls: the same procedure for a shape and a colour the model has drawn (named by new
     * tokens), telling "TI cannot steer this model" from "the model cannot draw the concept". */
    char dir_tri[4200], dir_red[4200];
    snprintf(dir_tri, sizeof dir_tri, "%s/triangle", tmp);
    snprintf(dir_red, sizeof dir_red, "%s/red", tmp);
    write_concept_pictures(dir_tri, TI_TOY_TRIANGLE, -1, 1);
    write_concept_pictures(dir_red, -1, TI_TOY_RED, 0);
    printf("\ncontrols: textual inversion of concepts the model knows, under new names:\n");
    learn(&b, dir_tri, "<tri>", "circle", ti_steps);
    learn(&b, dir_red, "<red>", "blue", ti_steps);
    const row controls[] = {
        {"known shape (triangle)", "a <tri>", "a circle", {TI_TOY_TRIANGLE, -1, -1}},
        {"known colour (red)", "a <red> square", "a blue square", {TI_TOY_SQUARE, TI_TOY_RED, -1}},
    };
    printf("\n| what | learned-token prompt | recall | init-word prompt (baseline) | recall |\n");
    printf("|---|---|---:|---|---:|\n");
    report_rows(&b, controls, (int)(sizeof controls / sizeof *controls), "control");

    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-toy: could not remove %s\n", tmp);
    tinv_sampler_free(b.sampler);
    tinv_tokenizer_free(b.tok);
    tinv_model_free(b.model);
    return 0;
}
