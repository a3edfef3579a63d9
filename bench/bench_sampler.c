/* Sampler benchmark on a fixture model: one UNet forward at batch 2 (what a guided step runs)
 * against a full 10-step sample of one 128x128 image, i.e. the per-step overhead of the loop
 * (scheduler, guidance, noise, copies), and the whole-image time including the VAE decode.
 * Only the fixture is measured: a full-size SD-1.5-shaped UNet would need a whole model (text
 * encoder, VAE, tokenizer) for the sampler, so bench-models' random-weight UNet is not used here.
 * usage: bench_sampler [fixture set dir]   (prints figures; asserts nothing) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"
#include "bench_common.h"
#include "tinv.h"

#define SIDE 128
#define STEPS 10
#define REPS 10

/* Seconds per ti_unet_forward at `batch` on random inputs, after one warm-up (as the sampler calls it). */
static double time_unet(tinv_model *m, int batch, int64_t side, int64_t context_len)
{
    ts_device dev = m->opts.device;
    ts_dtype dt = ti_dtype_to_ts(m->opts.dtype);
    int prev = ts_set_grad_enabled(0);
    size_t scope = ts_scope_begin();
    ts_generator *g = ts_generator_create(1);
    ts_device cpu = {TS_CPU, 0};
    int64_t xs[4] = {batch, m->unet.cfg.in_channels, side, side};
    int64_t cs[3] = {batch, context_len, m->unet.cfg.cross_attention_dim}, n = batch;
    ts_tensor *x = ts_to(ts_randn(g, xs, 4, TS_F32, cpu), dt, dev);
    ts_tensor *ctx = ts_to(ts_randn(g, cs, 3, TS_F32, cpu), dt, dev);
    ts_tensor *t = ts_full(&n, 1, 500.0, TS_F32, dev);
    ts_free(ts_detach(ti_unet_forward(&m->unet, x, t, ctx, 0))); /* warm-up */
    double t0 = now();
    for (int i = 0; i < REPS; i++) {
        ts_tensor *y = ti_unet_forward(&m->unet, x, t, ctx, 0);
        if (y == NULL)
            fprintf(stderr, "unet: %s\n", tinv_last_error());
        ts_free(ts_detach(y));
    }
    double sec = (now() - t0) / REPS;
    ts_generator_free(g);
    ts_scope_end(scope);
    ts_set_grad_enabled(prev);
    return sec;
}

/* Mean seconds of tinv_sampler_run_float over REPS runs after one warm-up; -1 on failure. */
static double time_run(tinv_sampler *s, float *image, float *latents)
{
    if (tinv_sampler_run_float(s, image, latents) != TINV_OK)
        return fprintf(stderr, "sample: %s\n", tinv_last_error()), -1;
    double t0 = now();
    for (int i = 0; i < REPS; i++)
        if (tinv_sampler_run_float(s, image, latents) != TINV_OK)
            return fprintf(stderr, "sample: %s\n", tinv_last_error()), -1;
    return (now() - t0) / REPS;
}

int main(int argc, char **argv)
{
    const char *set = argc > 1 ? argv[1] : "../shared/fixtures/sd1-tiny";
    tinv_set_num_threads(0);
    char info[1024];
    tinv_runtime_info(info, sizeof info, NULL);
    printf("%s\n", info);
    tinv_model *m = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_sampler *s = NULL;
    if (tinv_model_load(set, NULL, &m) != TINV_OK || tinv_tokenizer_load(set, NULL, &tok) != TINV_OK ||
        tinv_sampler_create(m, tok, &s) != TINV_OK) {
        fprintf(stderr, "load %s: %s\n", set, tinv_last_error());
        return 1;
    }
    int64_t f = 0, ch = 0;
    tinv_model_get_int(m, TINV_MODEL_VAE_SCALE_FACTOR, &f);
    tinv_model_get_int(m, TINV_MODEL_LATENT_CHANNELS, &ch);
    int64_t side = SIDE / f, L = (int64_t)tinv_tokenizer_max_length(tok);
    if (tinv_sampler_set_size(s, SIDE, SIDE) != TINV_OK || tinv_sampler_set_steps(s, STEPS) != TINV_OK ||
        tinv_sampler_set_prompt(s, "a photo of a cat") != TINV_OK || tinv_sampler_set_guidance(s, 7.5) != TINV_OK ||
        tinv_sampler_set_scheduler(s, "euler_ancestral") != TINV_OK) {
        fprintf(stderr, "sampler settings: %s\n", tinv_last_error());
        return 1;
    }
    printf("fixture %s only (a full-size SD-1.5-shaped random-weight UNet needs a whole model to sample; not "
           "measured here)\n",
           set);
    printf("image %dx%d (latent %lldx%lld), %d steps of euler_ancestral, guidance 7.5, mean of %d runs\n", SIDE,
           SIDE, (long long)side, (long long)side, STEPS, REPS);

    float *latents = malloc((size_t)(ch * side * side) * sizeof *latents);
    float *image = malloc((size_t)SIDE * SIDE * 3 * sizeof *image);
    if (latents == NULL || image == NULL)
        return 1;
    double denoise = time_run(s, NULL, latents); /* text encode + 10 steps, no VAE decode */
    double whole = time_run(s, image, NULL);      /* the same + VAE decode + copy out */
    if (denoise < 0 || whole < 0)
        return 1;
    double unet2 = time_unet(m, 2, side, L); /* after the sampler runs: caches and threads warm for both */
    double per_step = denoise / STEPS;
    printf("UNet forward, batch 2:          %8.2f ms\n", unet2 * 1e3);
    printf("sampler per step (10 steps):    %8.2f ms  (overhead %+.1f%% vs one batch-2 forward; includes the "
           "one-off text encode / %d)\n",
           per_step * 1e3, 100.0 * (per_step - unet2) / unet2, STEPS);
    printf("sample without VAE decode:      %8.2f ms\n", denoise * 1e3);
    printf("whole image incl. VAE decode:   %8.2f ms  (decode + copy-out ~%.2f ms)\n", whole * 1e3,
           (whole - denoise) * 1e3);
    free(latents);
    free(image);
    tinv_sampler_free(s);
    tinv_tokenizer_free(tok);
    tinv_model_free(m);
    return 0;
}
