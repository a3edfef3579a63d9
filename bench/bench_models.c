/* Model benchmark: load time and peak memory of a fixture model, UNet forward times at batch 1 and 2,
 * a full-size SD-1.5-shaped UNet with random weights, and a large matmul as the machine's ceiling.
 * usage: bench_models [fixture set dir] [--no-full]   (prints figures; asserts nothing) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_common.h"
#include "tinv.h"
#include "unet.h"
#include "unet_params.h"

static const ts_device CPU = {TS_CPU, 0};

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double time_unet(const ti_unet *unet, int batch, int side, int context_len, int reps)
{
    size_t scope = ts_scope_begin();
    ts_generator *g = ts_generator_create(1);
    int64_t xs[4] = {batch, unet->cfg.in_channels, side, side}, cs[3] = {batch, context_len, unet->cfg.cross_attention_dim};
    int64_t n = batch;
    ts_tensor *x = ts_randn(g, xs, 4, TS_F32, CPU), *ctx = ts_randn(g, cs, 3, TS_F32, CPU);
    ts_tensor *t = ts_full(&n, 1, 500.0, TS_F32, CPU);
    ts_free(ts_detach(ti_unet_forward(unet, x, t, ctx, 0))); /* warm-up */
    double t0 = now();
    for (int i = 0; i < reps; i++) {
        ts_tensor *y = ti_unet_forward(unet, x, t, ctx, 0);
        if (y == NULL)
            fprintf(stderr, "unet: %s\n", tinv_last_error());
        ts_free(ts_detach(y));
    }
    double dt = (now() - t0) / reps;
    ts_generator_free(g);
    ts_scope_end(scope);
    return dt;
}

typedef struct random_init {
    ti_weights *w;
    ts_generator *g;
    long long params;
} random_init;

static tinv_status add_random(void *user, const char *name, const int64_t *shape, int ndim)
{
    random_init *r = user;
    ts_tensor *t = ts_mul_scalar(ts_randn(r->g, shape, ndim, TS_F32, CPU), 0.02);
    r->params += ts_numel(t);
    return t ? ti_weights_put(r->w, name, ts_detach(t)) : tinv_last_status();
}

static void bench_full_size(double ceiling)
{
    /* SD-1.5's public UNet config. */
    ti_unet_config cfg = {.in_channels = 4, .out_channels = 4, .num_blocks = 4, .layers_per_block = 2,
                          .block_out = {320, 640, 1280, 1280}, .heads = {8, 8, 8, 8},
                          .down_cross = {1, 1, 1, 0}, .up_cross = {0, 1, 1, 1}, .cross_attention_dim = 768,
                          .norm_groups = 32, .transformer_layers = 1, .norm_eps = 1e-5, .linear_projection = 0,
                          .flip_sin_to_cos = 1, .freq_shift = 0};
    ti_unet unet = {cfg, NULL};
    random_init r = {NULL, ts_generator_create(3), 0};
    ti_weights_create(TS_F32, CPU, &r.w);
    double t0 = now();
    if (ti_unet_params(&cfg, add_random, &r) != TINV_OK) {
        fprintf(stderr, "random init: %s\n", tinv_last_error());
        return;
    }
    unet.w = r.w;
    printf("SD-1.5-shaped UNet: %.1f M parameters, random init %.1f s, peak RSS %.0f MiB\n", r.params / 1e6,
           now() - t0, peak_rss_mib());
    /* Approximate forward cost per sample (multiply-adds x 2) at 32x32 and 64x64 latents. */
    const struct { int side; double gflop; } sizes[] = {{32, 180.0}, {64, 800.0}};
    for (int s = 0; s < 2; s++)
        for (int batch = 1; batch <= 2; batch++) {
            double dt = time_unet(&unet, batch, sizes[s].side, 77, 1);
            double rate = sizes[s].gflop * batch / dt;
            printf("  latent %dx%d batch %d: %.2f s/forward, ~%.0f GFLOP/s (%.0f%% of the matmul ceiling)\n",
                   sizes[s].side, sizes[s].side, batch, dt, rate, 100 * rate / ceiling);
        }
    ti_weights_free(r.w);
    ts_generator_free(r.g);
}

int main(int argc, char **argv)
{
    const char *set = argc > 1 && argv[1][0] != '-' ? argv[1] : "../shared/fixtures/sd1-tiny";
    int full = !(argc > 1 && strcmp(argv[argc - 1], "--no-full") == 0);
    tinv_set_num_threads(0);
    char info[1024];
    tinv_runtime_info(info, sizeof info, NULL);
    printf("%s\n", info);
    double ceiling = matmul_gflops(2048);
    printf("matmul 2048^3 fp32: %.0f GFLOP/s (the ceiling used below)\n", ceiling);

    double t0 = now();
    tinv_model *m = NULL;
    if (tinv_model_load(set, NULL, &m) != TINV_OK) {
        fprintf(stderr, "load %s: %s\n", set, tinv_last_error());
        return 1;
    }
    printf("load %s: %.2f s, peak RSS %.0f MiB\n", set, now() - t0, peak_rss_mib());
    int64_t ch = 0;
    tinv_model_get_int(m, TINV_MODEL_LATENT_CHANNELS, &ch);
    int64_t dim = 0;
    tinv_model_get_int(m, TINV_MODEL_CONTEXT_DIM, &dim);
    for (int batch = 1; batch <= 2; batch++) {
        size_t n = (size_t)batch * ch * 16 * 16;
        float *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y), *ctx = calloc((size_t)batch * 77 * dim, sizeof *ctx);
        float t = 500;
        int reps = 10;
        tinv_model_unet(m, x, batch, 16, 16, &t, 1, ctx, 77, y);
        double s0 = now();
        for (int i = 0; i < reps; i++)
            tinv_model_unet(m, x, batch, 16, 16, &t, 1, ctx, 77, y);
        printf("fixture UNet 16x16 batch %d: %.1f ms/forward\n", batch, (now() - s0) / reps * 1e3);
        free(x), free(y), free(ctx);
    }
    tinv_model_free(m);
    if (full)
        bench_full_size(ceiling);
    return 0;
}
