/* tinv demo: the whole textual-inversion round trip with no download — write the tiny demo
 * model, draw a few training pictures, train a token with `tinv train`, and sample with it
 * through `tinv sample`, printing each command so it can be rerun on a real model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "demo_common.h"
#include "tinv.h"

enum { SIDE = 64, N_PICTURES = 5 };

static const char TOKEN[] = "<ring>";
static const char INIT_WORD[] = "circle";

static int usage(FILE *out)
{
    fprintf(out,
            "usage: tinv demo --random [DIR]\n\n"
            "Runs textual inversion end to end without downloading anything, in DIR (default\n"
            "tinv-demo): writes the library's tiny demo model to DIR/model, draws %d pictures of a red\n"
            "ring to DIR/images, trains the token %s on them (tinv train, 64x64, 300 steps), saves it\n"
            "as DIR/ring.safetensors (diffusers) and DIR/ring-a1111.safetensors (AUTOMATIC1111), and\n"
            "samples 2x2 grids of \"a photo of a %s\" and \"a photo of a %s\" (tinv sample) to\n"
            "DIR/grid-learned.png and DIR/grid-init-word.png.\n\n"
            "The model has random weights, so this shows the plumbing, not learning; plain tinv demo\n"
            "[DIR] runs the round trip on the bundled toy model, which the library trained on captioned\n"
            "shape pictures (tinv demo --help).\n",
            N_PICTURES, TOKEN, TOKEN, INIT_WORD);
    return out == stdout ? 0 : 2;
}

/* A red ring on a light, slightly shaded background. Each pixel averages 4x4 sub-samples, so
 * the edges are smooth and small moves or size changes look like a photo series (and no libm
 * is needed: the CLI links only libtinv). */
static void draw_ring(uint8_t *rgb, double cx, double cy, double radius, double thickness)
{
    enum { SUB = 4 };
    double inner = (radius - thickness / 2) * (radius - thickness / 2);
    double outer = (radius + thickness / 2) * (radius + thickness / 2);
    static const double ring[3] = {196, 32, 36};
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int hits = 0;
            for (int sy = 0; sy < SUB; sy++)
                for (int sx = 0; sx < SUB; sx++) {
                    double dx = x + (sx + 0.5) / SUB - cx, dy = y + (sy + 0.5) / SUB - cy;
                    double d2 = dx * dx + dy * dy;
                    hits += d2 >= inner && d2 <= outer;
                }
            double cover = (double)hits / (SUB * SUB), shade = 1.0 - 0.12 * y / SIDE;
            double bg[3] = {238 * shade, 232 * shade, 222 * shade};
            uint8_t *px = rgb + ((size_t)y * SIDE + x) * 3;
            for (int c = 0; c < 3; c++)
                px[c] = (uint8_t)(bg[c] + cover * (ring[c] - bg[c]) + 0.5);
        }
}

static int draw_pictures(const char *dir)
{
    /* centre x, centre y, radius, thickness */
    static const double rings[N_PICTURES][4] = {
        {32, 32, 18, 6}, {28, 35, 15, 5}, {36, 30, 20, 6}, {30, 29, 13, 4}, {35, 36, 17, 7},
    };
    uint8_t rgb[SIDE * SIDE * 3];
    char path[4096];
    for (int i = 0; i < N_PICTURES; i++) {
        draw_ring(rgb, rings[i][0], rings[i][1], rings[i][2], rings[i][3]);
        snprintf(path, sizeof path, "%s/ring-%d.png", dir, i);
        if (tinv_image_write(path, rgb, SIDE, SIDE, 3, 1, 0, 95, NULL) != TINV_OK) {
            fprintf(stderr, "tinv demo: %s\n", tinv_last_error());
            return 0;
        }
    }
    return 1;
}

/* The demo vocabulary is byte-level with few merges, so "circle" may be several tokens. */
static int init_is_one_token(const char *model_dir)
{
    tinv_tokenizer *tok = NULL;
    size_t n = 0;
    int one = tinv_tokenizer_load(model_dir, NULL, &tok) == TINV_OK &&
              tinv_tokenizer_encode(tok, INIT_WORD, 0, NULL, 0, &n, NULL) == TINV_OK && n == 3; /* BOS word EOS */
    tinv_tokenizer_free(tok);
    return one;
}

/* tinv demo: the toy model's demo (cmd_demo_toy.c) unless --random asks for this one. */
int cmd_demo(int argc, char **argv)
{
    const char *dir = "tinv-demo";
    int random_model = 0;
    for (int i = 1; i < argc; i++)
        random_model |= strcmp(argv[i], "--random") == 0;
    if (!random_model)
        return cmd_demo_toy(argc, argv);
    int given_dir = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--random") == 0)
            continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout);
        if (argv[i][0] == '-' || given_dir++) {
            fprintf(stderr, "tinv demo: unexpected argument '%s'\n\n", argv[i]);
            return usage(stderr);
        }
        dir = argv[i];
    }
    double t0 = demo_now();
    char model[4096], images[4096], a1111[4096], diffusers[4096], learned[4096], init_grid[4096],
        state[4096];
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(images, sizeof images, "%s/images", dir);
    snprintf(a1111, sizeof a1111, "%s/ring-a1111.safetensors", dir);
    snprintf(diffusers, sizeof diffusers, "%s/ring.safetensors", dir);
    snprintf(learned, sizeof learned, "%s/grid-learned.png", dir);
    snprintf(init_grid, sizeof init_grid, "%s/grid-init-word.png", dir);
    snprintf(state, sizeof state, "%s/ring-a1111.state.safetensors", dir);

    if (!demo_make_dir(dir) || !demo_make_dir(images))
        return 1;
    if (tinv_demo_model_write(model, 0) != TINV_OK) {
        fprintf(stderr, "tinv demo: writing the demo model: %s\n", tinv_last_error());
        return 1;
    }
    printf("wrote the demo model (random weights, byte-level vocabulary) to %s\n", model);
    if (!draw_pictures(images))
        return 1;
    printf("drew %d training pictures of a red ring (%dx%d) to %s\n", N_PICTURES, SIDE, SIDE, images);

    char token[] = "<ring>", init[] = "circle", average[] = "--init-average";
    /* One thread: the demo model's ops are too small to split, and spinning worker threads make
     * it many times slower on a busy machine (the setting is process-wide, so sampling too). */
    char *train[] = {"train", "--model", model, "--images", images, "--token", token, "--init", init,
                     "--resolution", "64", "--steps", "300", "--lr", "5e-3", "--format", "a1111",
                     "--threads", "1", "--out", a1111, NULL, NULL};
    if (!init_is_one_token(model)) {
        printf("'%s' is several tokens in the demo vocabulary: the token starts from their mean\n", INIT_WORD);
        train[sizeof train / sizeof train[0] - 2] = average;
    }
    int rc = demo_run_command(cmd_train, train);
    if (rc != 0)
        return rc;
    if (!demo_write_diffusers_copy(model, a1111, diffusers, TOKEN))
        return 1;

    char prompt_learned[] = "a photo of a <ring>", prompt_init[] = "a photo of a circle";
    char *sample_learned[] = {"sample", "--model", model, "--embedding", diffusers, "--prompt", prompt_learned,
                              "-n", "4", "--grid", "--seed", "1", "--width", "64", "--height", "64", "--steps", "20",
                              "--cfg", "7.5", "--out", learned, NULL};
    if ((rc = demo_run_command(cmd_sample, sample_learned)) != 0)
        return rc;
    char *sample_init[] = {"sample", "--model", model, "--prompt", prompt_init, "-n", "4", "--grid", "--seed", "1",
                           "--width", "64", "--height", "64", "--steps", "20", "--cfg", "7.5", "--out", init_grid,
                           NULL};
    if ((rc = demo_run_command(cmd_sample, sample_init)) != 0)
        return rc;

    char pictures[4200];
    snprintf(pictures, sizeof pictures, "%s/ring-*.png", images);
    const char *const written[][2] = {
        {model, "the demo model"},
        {pictures, "the training pictures"},
        {a1111, "the learned <ring> (AUTOMATIC1111 format; those tools name it after the file)"},
        {diffusers, "the same vectors (diffusers format)"},
        {state, "the trainer state (tinv train --resume continues from it)"},
        {learned, "2x2 grid of \"a photo of a <ring>\", seeds 1-4"},
        {init_grid, "2x2 grid of \"a photo of a circle\" (the init word), same seeds"},
    };
    demo_print_written(written, sizeof written / sizeof written[0], demo_now() - t0);
    printf("\nThe demo model has random weights, so its pictures are noise-like: this run shows the\n"
           "plumbing, not the art. The same `tinv train` and `tinv sample` commands do real work with\n"
           "real Stable Diffusion 1.x/2.x weights: point --model at a diffusers folder (or a .safetensors\n"
           "checkpoint plus --tokenizer), --images at 3-5 photos of your subject, leave out --threads 1\n"
           "and keep the defaults (--resolution 512, --steps 3000, --lr 5e-4).\n");
    return 0;
}
