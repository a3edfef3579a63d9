/* train_and_sample.c — textual inversion from start to finish with libtinv's public API.
 *
 *   1. load a Stable Diffusion model (a diffusers folder) and its tokenizer,
 *   2. add a new word, "<my-concept>", to both,
 *   3. train that word's embedding on a folder of pictures with a tinv_trainer,
 *   4. save the embedding as a diffusers `learned_embeds.safetensors`,
 *   5. draw a picture with the word and write it as a PNG.
 *
 * Build:  cc train_and_sample.c $(pkg-config --cflags --libs tinv) -o train_and_sample
 * Run:    ./train_and_sample MODEL_DIR IMAGES_DIR OUT_DIR [STEPS [RESOLUTION]]
 *
 * OUT_DIR (created if missing) receives learned_embeds.safetensors and sample.png.
 */
#define _POSIX_C_SOURCE 200809L /* mkdir() */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tinv.h>

#define TOKEN "<my-concept>" /* the new word; any string the tokenizer does not know yet */
#define INIT_WORD "object"   /* its vectors start as this word's embedding */
#define SAMPLE_STEPS 25
#define SAMPLE_SEED 42

/* Every fallible libtinv call returns a tinv_status; on failure tinv_last_error() holds the
 * message on the same thread. CHECK prints both and jumps to the clean-up. */
#define CHECK(call)                                                                                  \
    do {                                                                                             \
        tinv_status st_ = (call);                                                                    \
        if (st_ != TINV_OK) {                                                                        \
            fprintf(stderr, "train_and_sample: %s failed (%s): ", #call, tinv_status_str(st_));     \
            fprintf(stderr, "%s\n", tinv_last_error());                                              \
            goto done;                                                                               \
        }                                                                                            \
    } while (0)

/* The library never prints; warnings (e.g. a picture it skipped) come through this callback. */
static void on_log(void *user, tinv_log_level level, const char *message)
{
    (void)user;
    fprintf(stderr, "libtinv %s: %s\n", level == TINV_LOG_ERROR ? "error" : "warning", message);
}

/* Called after every optimizer update; returning non-zero would stop training (TINV_ERR_CANCELLED). */
static int on_train_step(void *user, int step, int total, double loss, double lr)
{
    (void)user;
    int every = total >= 20 ? total / 20 : 1; /* about 20 lines per run */
    if (step % every == 0 || step == total)
        printf("step %d/%d  loss %.5f  lr %.2e\n", step, total, loss, lr);
    fflush(stdout);
    return 0;
}

static int parse_positive(const char *text, const char *what, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 1 || v > 1000000) {
        fprintf(stderr, "train_and_sample: %s must be a positive integer, got '%s'\n", what, text);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGES_DIR OUT_DIR [STEPS [RESOLUTION]]\n"
                        "  STEPS: training updates (default 1000); RESOLUTION: pixels (default 512)\n",
                argv[0]);
        return 2;
    }
    const char *model_dir = argv[1], *images_dir = argv[2], *out_dir = argv[3];
    int steps = 1000, resolution = 512;
    if ((argc > 4 && !parse_positive(argv[4], "STEPS", &steps)) ||
        (argc > 5 && !parse_positive(argv[5], "RESOLUTION", &resolution)))
        return 2;
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "train_and_sample: cannot create %s: %s\n", out_dir, strerror(errno));
        return 1;
    }

    int rc = 1;
    tinv_options *opts = NULL;
    tinv_model *model = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_trainer *trainer = NULL;
    tinv_sampler *sampler = NULL;
    uint8_t *rgb = NULL;
    char path[4096];

    /* libtorch's thread pool is process-wide; 0 = one thread per CPU. */
    CHECK(tinv_set_num_threads(0));

    /* 1. Model and tokenizer. Options are copied by each load, so they can be freed right after.
     *    (Add tinv_options_set_device(opts, "cuda") to run on a GPU.) */
    CHECK(tinv_options_create(&opts));
    CHECK(tinv_options_set_log_callback(opts, on_log, TINV_LOG_WARN, NULL));
    CHECK(tinv_model_load(model_dir, opts, &model));
    CHECK(tinv_tokenizer_load(model_dir, opts, &tok));
    tinv_options_free(opts);
    opts = NULL;

    /* 2. The new word: one vector, starting from the embedding of INIT_WORD (the mean of its
     *    pieces if the tokenizer splits it). The model and tokenizer always gain tokens together. */
    CHECK(tinv_model_add_token(model, tok, TOKEN, 1, INIT_WORD, TINV_INIT_AVERAGE));

    /* 3. Training: only the new vector learns; every model weight stays frozen. The optimizer
     *    (AdamW, lr 5e-4) is reachable through tinv_trainer_optimizer() to change its settings. */
    CHECK(tinv_trainer_create(model, tok, TOKEN, &trainer));
    CHECK(tinv_trainer_set_images(trainer, images_dir));
    CHECK(tinv_trainer_set_steps(trainer, steps));
    CHECK(tinv_trainer_set_resolution(trainer, resolution));
    CHECK(tinv_trainer_set_progress_callback(trainer, on_train_step, NULL));
    printf("training %s on %s: %d steps at %dx%d\n", TOKEN, images_dir, steps, resolution, resolution);
    CHECK(tinv_trainer_run(trainer));
    tinv_trainer_free(trainer); /* the learned vector stays in the model */
    trainer = NULL;

    /* 4. Save the embedding; other programs (diffusers, libtinv's tinv_model_load_embedding) load it. */
    snprintf(path, sizeof path, "%s/learned_embeds.safetensors", out_dir);
    CHECK(tinv_model_save_embedding(model, TOKEN, path, TINV_EMBEDDING_DIFFUSERS));
    printf("embedding: %s\n", path);

    /* 5. Draw with the new word. The sampler borrows the model and tokenizer. */
    CHECK(tinv_sampler_create(model, tok, &sampler));
    CHECK(tinv_sampler_set_prompt(sampler, "a photo of " TOKEN));
    CHECK(tinv_sampler_set_steps(sampler, SAMPLE_STEPS));
    CHECK(tinv_sampler_set_seed(sampler, SAMPLE_SEED));
    CHECK(tinv_sampler_set_size(sampler, resolution, resolution));
    size_t size = (size_t)resolution * (size_t)resolution * 3; /* one RGB8 picture */
    rgb = malloc(size);
    if (rgb == NULL) {
        fprintf(stderr, "train_and_sample: out of memory\n");
        goto done;
    }
    CHECK(tinv_sampler_run(sampler, rgb, size));
    snprintf(path, sizeof path, "%s/sample.png", out_dir);
    /* Passing the sampler stores its settings (prompt, seed, ...) in the PNG's text chunk. */
    CHECK(tinv_image_write(path, rgb, resolution, resolution, 3, 1, 0, 90, sampler));
    printf("sample: %s\n", path);
    rc = 0;

done: /* every *_free() accepts NULL */
    free(rgb);
    tinv_sampler_free(sampler);
    tinv_trainer_free(trainer);
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    tinv_options_free(opts);
    return rc;
}
