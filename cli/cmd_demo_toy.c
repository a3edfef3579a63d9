/* tinv demo (and its old spelling tinv demo --toy): textual inversion on the bundled toy model,
 * with no download. The toy model
 * (toy/model, trained from scratch by the library on the toy world's captioned pictures) drew
 * rings in training but never heard the word: they were captioned "shape", a class word it also
 * saw for other shapes. The demo draws 5 ring pictures with the toy world, teaches the model the
 * token <ring> with `tinv train` (initialised from "shape"), then samples with the token and with
 * the init word and lets the toy world's checker say how many pictures show a ring. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "demo_common.h"
#include "tinv.h"

enum { SIDE = 32, N_PICTURES = 5, N_SAMPLES = 8, ZOOM = 4 };

static const char TOKEN[] = "<ring>";
static const char INIT_WORD[] = "shape";

#ifndef TINV_TOY_MODEL_SOURCE
#define TINV_TOY_MODEL_SOURCE "toy/model"
#endif
#ifndef TINV_TOY_MODEL_INSTALLED
#define TINV_TOY_MODEL_INSTALLED "/usr/local/share/tinv/toy-model"
#endif

static int usage(FILE *out)
{
    fprintf(out,
            "usage: tinv demo [DIR] [--model TOY_MODEL] [--steps N]\n\n"
            "Textual inversion end to end on the bundled toy model, no download, in DIR (default\n"
            "tinv-demo). The toy model draws 32x32 shapes from captions (\"a small red circle on a\n"
            "striped blue background\"); it drew rings in training but only ever called them \"shape\".\n"
            "The demo draws %d ring pictures with captions to DIR/images, learns the token %s from\n"
            "them (tinv train, default 1200 steps), saves it as DIR/ring.safetensors (diffusers) and\n"
            "DIR/ring-a1111.safetensors (AUTOMATIC1111), samples %d pictures of \"a %s\", \"a yellow %s\"\n"
            "and the init word \"a %s\", writes them as the rows of DIR/grid.png and prints how many\n"
            "the toy world's checker sees as rings. The toy model is small and its shapes are rough: see\n"
            "docs/toy-world.md for what it draws and how well textual inversion works on it today.\n\n"
            "The toy model is looked for at --model, $TINV_TOY_MODEL, %s, then %s.\n"
            "tinv demo --random [DIR] runs the round trip on the library's random-weight demo model\n"
            "instead (no toy model needed).\n",
            N_PICTURES, TOKEN, N_SAMPLES, TOKEN, TOKEN, INIT_WORD, TINV_TOY_MODEL_SOURCE, TINV_TOY_MODEL_INSTALLED);
    return out == stdout ? 0 : 2;
}

static int is_model(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    return access(path, R_OK) == 0;
}

static const char *find_toy_model(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("TINV_TOY_MODEL");
    if (env && env[0])
        return env;
    return is_model(TINV_TOY_MODEL_SOURCE) ? TINV_TOY_MODEL_SOURCE : TINV_TOY_MODEL_INSTALLED;
}

/* Five rings in five colours, each with its caption as a training template: the caption names
 * colour, size and background, so the token has only the shape left to learn. */
static int draw_pictures(const char *dir)
{
    static const char *const colours[N_PICTURES] = {"red", "green", "blue", "yellow", "orange"};
    uint8_t rgb[SIDE * SIDE * 3];
    char path[4200], caption[200];
    for (int i = 0; i < N_PICTURES; i++) {
        snprintf(path, sizeof path, "%s/ring-%d.png", dir, i);
        if (tinv_toy_draw(100 + (uint64_t)i, SIDE, "ring", colours[i], rgb, caption, sizeof caption) != TINV_OK ||
            tinv_image_write(path, rgb, SIDE, SIDE, 3, 1, 0, 95, NULL) != TINV_OK) {
            fprintf(stderr, "tinv demo: %s\n", tinv_last_error());
            return 0;
        }
        /* the caption with the concept's own word replaced by {} */
        const char *word = strstr(caption, " ring");
        int before = word ? (int)(word - caption) : 0;
        const char *after = word ? word + strlen(" ring") : "";
        snprintf(path, sizeof path, "%s/ring-%d.txt", dir, i);
        FILE *f = word ? fopen(path, "w") : NULL;
        int written = f != NULL && fprintf(f, "%.*s {}%s\n", before, caption, after) > 0;
        if (f != NULL && fclose(f) != 0)
            written = 0;
        if (!written) {
            fprintf(stderr, "tinv demo: cannot write %s: %s\n", path, word ? strerror(errno) : "unexpected caption");
            return 0;
        }
        if (i == 0)
            printf("training caption, e.g.: %.*s %s%s\n", before, caption, TOKEN, after);
    }
    return 1;
}

typedef struct demo_row {
    const char *prompt;
    int rings, colour_ok; /* pictures the checker sees as rings; and (row 2) as yellow rings */
} demo_row;

/* Sample each row's prompt over seeds 1..N_SAMPLES, classify, and write the rows as one grid. */
static int sample_rows(const char *model_dir, const char *embedding, demo_row *rows, int n_rows, const char *grid)
{
    tinv_model *model = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_sampler *s = NULL;
    size_t tile = (size_t)SIDE * ZOOM * SIDE * ZOOM * 3;
    uint8_t *big = malloc((size_t)n_rows * N_SAMPLES * tile), rgb[SIDE * SIDE * 3];
    int ok = big && tinv_model_load(model_dir, NULL, &model) == TINV_OK &&
             tinv_tokenizer_load(model_dir, NULL, &tok) == TINV_OK &&
             tinv_model_load_embedding(model, tok, embedding, TOKEN, NULL, 0) == TINV_OK &&
             tinv_sampler_create(model, tok, &s) == TINV_OK && tinv_sampler_set_scheduler(s, "ddim") == TINV_OK &&
             tinv_sampler_set_steps(s, 25) == TINV_OK && tinv_sampler_set_guidance(s, 4.0) == TINV_OK &&
             tinv_sampler_set_size(s, SIDE, SIDE) == TINV_OK;
    for (int r = 0; ok && r < n_rows; r++) {
        ok = tinv_sampler_set_prompt(s, rows[r].prompt) == TINV_OK;
        for (int i = 0; ok && i < N_SAMPLES; i++) {
            ok = tinv_sampler_set_seed(s, 1 + (uint64_t)i) == TINV_OK && tinv_sampler_run(s, rgb, sizeof rgb) == TINV_OK;
            const char *shape = NULL, *colour = NULL;
            ok = ok && tinv_toy_classify(rgb, SIDE, &shape, &colour) == TINV_OK;
            int ring = shape && strcmp(shape, "ring") == 0;
            rows[r].rings += ring;
            rows[r].colour_ok += ring && colour && strcmp(colour, "yellow") == 0;
            uint8_t *dst = big + ((size_t)r * N_SAMPLES + (size_t)i) * tile;
            for (int y = 0; y < SIDE * ZOOM; y++)
                for (int x = 0; x < SIDE * ZOOM; x++)
                    memcpy(dst + ((size_t)y * SIDE * ZOOM + x) * 3, rgb + ((size_t)(y / ZOOM) * SIDE + x / ZOOM) * 3, 3);
        }
    }
    ok = ok && tinv_image_write(grid, big, SIDE * ZOOM, SIDE * ZOOM, 3, n_rows * N_SAMPLES, N_SAMPLES, 95, NULL) ==
                   TINV_OK;
    if (!ok)
        fprintf(stderr, "tinv demo: %s\n", tinv_last_error());
    free(big);
    tinv_sampler_free(s);
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    return ok;
}

int cmd_demo_toy(int argc, char **argv)
{
    const char *dir = "tinv-demo", *given_model = NULL;
    char *steps = "1200"; /* 400 steps barely move the token from "shape" (docs/toy-world.md) */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout);
        if (strcmp(argv[i], "--toy") == 0)
            continue;
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
            given_model = argv[++i];
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
            steps = argv[++i];
        } else if (argv[i][0] == '-' || strcmp(dir, "tinv-demo") != 0) {
            fprintf(stderr, "tinv demo: unexpected argument '%s'\n\n", argv[i]);
            return usage(stderr);
        } else {
            dir = argv[i];
        }
    }
    double t0 = demo_now();
    char *model = (char *)find_toy_model(given_model);
    if (!is_model(model)) {
        fprintf(stderr,
                "tinv demo: no toy model at %s (it ships in the source tree as toy/model and is installed to\n"
                "%s); pass --model DIR, set TINV_TOY_MODEL, or run tinv demo --random\n",
                model, TINV_TOY_MODEL_INSTALLED);
        return 1;
    }
    char images[4096], a1111[4096], diffusers[4096], grid[4096], state[4096];
    snprintf(images, sizeof images, "%s/images", dir);
    snprintf(a1111, sizeof a1111, "%s/ring-a1111.safetensors", dir);
    snprintf(diffusers, sizeof diffusers, "%s/ring.safetensors", dir);
    snprintf(grid, sizeof grid, "%s/grid.png", dir);
    snprintf(state, sizeof state, "%s/ring-a1111.state.safetensors", dir);
    if (!demo_make_dir(dir) || !demo_make_dir(images) || !draw_pictures(images))
        return 1;
    printf("drew %d ring pictures (%dx%d) with captions to %s; the toy model %s has no word for a ring\n",
           N_PICTURES, SIDE, SIDE, images, model);

    char token[] = "<ring>", init[] = "shape";
    char *train[] = {"train", "--model", model, "--images", images, "--token", token, "--init", init,
                     "--resolution", "32", "--steps", steps, "--batch", "4", "--lr", "2e-2", "--format", "a1111",
                     "--out", a1111, NULL};
    int rc = demo_run_command(cmd_train, train);
    if (rc != 0)
        return rc;
    if (!demo_write_diffusers_copy(model, a1111, diffusers, TOKEN))
        return 1;

    demo_row rows[3] = {{"a <ring>", 0, 0}, {"a yellow <ring>", 0, 0}, {"a shape", 0, 0}};
    printf("\nsampling %d pictures each of \"%s\", \"%s\" and \"%s\" (the init word); the same with the CLI:\n",
           N_SAMPLES, rows[0].prompt, rows[1].prompt, rows[2].prompt);
    char prompt[] = "a <ring>", out_one[4200], n[] = "8";
    snprintf(out_one, sizeof out_one, "%s/a-ring.png", dir);
    demo_print_command((char *[]){"sample", "--model", model, "--embedding", diffusers, "--prompt", prompt, "-n", n,
                             "--grid", "--seed", "1", "--width", "32", "--height", "32", "--steps", "25",
                             "--scheduler", "ddim", "--cfg", "4", "--out", out_one, NULL});
    if (!sample_rows(model, diffusers, rows, 3, grid))
        return 1;

    printf("\nthe toy world's checker on the %d pictures of each row of %s:\n", N_SAMPLES, grid);
    printf("  row 1  %-16s %d/%d rings\n", rows[0].prompt, rows[0].rings, N_SAMPLES);
    printf("  row 2  %-16s %d/%d rings, %d/%d yellow rings\n", rows[1].prompt, rows[1].rings, N_SAMPLES,
           rows[1].colour_ok, N_SAMPLES);
    printf("  row 3  %-16s %d/%d rings (baseline: the init word)\n", rows[2].prompt, rows[2].rings, N_SAMPLES);

    char pictures[4200];
    snprintf(pictures, sizeof pictures, "%s/ring-*.png", images);
    const char *const written[][2] = {
        {pictures, "the training pictures (captions beside them in ring-*.txt)"},
        {a1111, "the learned <ring> (AUTOMATIC1111 format; those tools name it after the file)"},
        {diffusers, "the same vectors (diffusers format)"},
        {state, "the trainer state (tinv train --resume continues from it)"},
        {grid, "rows: \"a <ring>\", \"a yellow <ring>\", \"a shape\"; seeds 1-8, 4x enlarged"},
    };
    demo_print_written(written, sizeof written / sizeof written[0], demo_now() - t0);
    printf("\nThe same `tinv train` and `tinv sample` commands work on real Stable Diffusion 1.x/2.x weights:\n"
           "point --model at a diffusers folder (or a .safetensors checkpoint plus --tokenizer), --images at\n"
           "3-5 photos of your subject, and keep the defaults (--resolution 512, --steps 3000, --lr 5e-4).\n");
    return 0;
}
