/* toy-build-model: train the toy-world model from scratch (lib/toy_model.c) into a diffusers
 * folder. `make toy-model` runs it with the defaults that made the committed toy/model; the same
 * libtorch build, seed and --threads give the same files bit for bit. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../shim/shim.h"
#include "toy_model.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double t0;

static void progress(void *user, const char *stage, int step, int total, double loss)
{
    (void)user;
    printf("%-5s %5d/%-5d  %s %.5f  %6.0f s\n", stage, step, total, strcmp(stage, "scale") ? "loss" : "factor", loss,
           now() - t0);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    ti_toy_train_config c;
    ti_toy_train_defaults(&c);
    const char *out = "toy/model";
    int threads = 2;
    const char *stage = "all"; /* all | build | refine */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--out") == 0 && v) out = argv[++i];
        else if (strcmp(a, "--seed") == 0 && v) c.seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(a, "--vae-steps") == 0 && v) c.vae_steps = atoi(argv[++i]);
        else if (strcmp(a, "--unet-steps") == 0 && v) c.unet_steps = atoi(argv[++i]);
        else if (strcmp(a, "--unet-batch") == 0 && v) c.unet_batch = atoi(argv[++i]);
        else if (strcmp(a, "--threads") == 0 && v) threads = atoi(argv[++i]);
        else if (strcmp(a, "--save-every") == 0 && v) c.save_every = atoi(argv[++i]);
        else if (strcmp(a, "--refine-steps") == 0 && v) c.refine_steps = atoi(argv[++i]);
        else if (strcmp(a, "--stage") == 0 && v) stage = argv[++i];
        else if (strcmp(a, "--device") == 0 && v) c.device = argv[++i];
        else if (strcmp(a, "--latent-factor") == 0 && v) c.latent_factor = atoi(argv[++i]);
        else if (strcmp(a, "--unet-width") == 0 && v) c.unet_width = atoi(argv[++i]);
        else if (strcmp(a, "--held-out") == 0 && v && (strcmp(v, "unnamed") == 0 || strcmp(v, "never-drawn") == 0))
            c.held_out_drawn = strcmp(argv[++i], "unnamed") == 0;
        else {
            fprintf(stderr, "usage: toy-build-model [--out DIR] [--seed N] [--vae-steps N] [--unet-steps N] "
                            "[--unet-batch N] [--threads N] [--save-every N] [--refine-steps N] [--stage all|build|refine]\n"
                            "       [--device cpu|cuda[:N]] [--latent-factor 2|4|8] [--unet-width N] "
                            "[--held-out unnamed|never-drawn]\n");
            return 2;
        }
    }
    /* Keep freed memory: each step frees and re-allocates the same large buffers. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
    ts_set_num_threads(threads);
    ts_set_blas_threads(1); /* ATen's threads do the parallel work; see shim/runtime.cpp */
    c.progress = progress;
    t0 = now();
    printf("toy model -> %s (%s) on %s: seed %llu, %d threads, VAE %d x %d (factor %d), text+UNet %d x %d "
           "(width %d), refine %d, held-out concepts %s\n",
           out, stage, c.device ? c.device : "cpu", (unsigned long long)c.seed, threads, c.vae_steps, c.vae_batch,
           c.latent_factor, c.unet_steps, c.unet_batch, c.unet_width, c.refine_steps,
           c.held_out_drawn ? "drawn, unnamed" : "never drawn");
    tinv_status st = TINV_OK;
    if (strcmp(stage, "refine") != 0)
        st = ti_toy_model_build(out, &c);
    if (st == TINV_OK && strcmp(stage, "build") != 0 && c.refine_steps > 0)
        st = ti_toy_model_refine(out, &c);
    if (st != TINV_OK) {
        fprintf(stderr, "toy-build-model: %s\n", tinv_last_error());
        return 1;
    }
    printf("done in %.0f s\n", now() - t0);
    return 0;
}
