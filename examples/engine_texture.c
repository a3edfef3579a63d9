/* engine_texture.c — libtinv inside a game-engine-style host.
 *
 * The "engine" runs a frame loop (16 ms frames, simulated) that never blocks. A worker thread
 * loads the model, optionally a learned embedding, and generates a tileable texture straight
 * into a staging buffer, then converts it once into the RGBA texture the engine owns. The
 * engine polls progress through atomics written by the sampler's progress callback, can cancel
 * the job, and "uploads" the finished texture (writes it as an RGBA PNG and prints a checksum).
 *
 * Thread rule (tinv.h): one handle is used by one thread at a time; different handles may be
 * used from different threads. Here every handle (model, tokenizer, sampler) is created, used
 * and freed on the worker thread, so the engine thread never touches one. Callbacks run on the
 * thread doing the work (the worker), so the progress callback only touches atomics. Errors are
 * per thread too: the worker copies tinv_last_error() into the job before it finishes.
 *
 * Build:  cc engine_texture.c $(pkg-config --cflags --libs tinv) -pthread -o engine_texture
 * Run:    ./engine_texture MODEL_DIR [--embedding FILE] [--prompt TEXT] [--size N] [--steps N]
 *                          [--seed N] [--cancel-after-frames N] [--out texture.png]
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep(), sysconf() */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tinv.h>

/* ---- what the engine owns ------------------------------------------------------------------ */

typedef struct texture {
    int width, height;
    uint8_t *rgba; /* width * height * 4 bytes, allocated and freed by the engine */
} texture;

enum job_phase { PHASE_LOADING, PHASE_SAMPLING, PHASE_FINISHED };

/* One texture request, shared by the engine and the worker thread. */
typedef struct job {
    /* Set by the engine before the worker starts; read-only afterwards. */
    const char *model_dir, *embedding, *prompt;
    int steps;
    uint64_t seed;
    texture *target; /* written by the worker only, read by the engine after PHASE_FINISHED */

    /* Shared while the worker runs. */
    atomic_int phase;   /* enum job_phase; PHASE_FINISHED is stored last */
    atomic_int step;    /* denoising progress, from the sampler's progress callback */
    atomic_int total;
    atomic_bool cancel; /* set by the engine; the progress callback returns it */

    /* Written by the worker before it stores PHASE_FINISHED. */
    tinv_status status;
    char message[512];
} job;

/* ---- the worker thread -------------------------------------------------------------------- */

/* Runs on the worker thread after each denoising step: publish progress, pass on a cancel.
 * A non-zero return makes tinv_sampler_run() free what it allocated and return TINV_ERR_CANCELLED.
 * (Loading a model cannot be interrupted: a cancel asked for meanwhile stops the first step.) */
static int on_step(void *user, int step, int total)
{
    job *j = user;
    atomic_store(&j->total, total);
    atomic_store(&j->step, step);
    return atomic_load(&j->cancel) ? 1 : 0;
}

static void *worker_main(void *arg)
{
    job *j = arg;
    tinv_model *model = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_sampler *sampler = NULL;
    uint8_t *staging = NULL;
    char token[256], prompt[1024];
    int w = j->target->width, h = j->target->height;
    tinv_status st;

    if ((st = tinv_model_load(j->model_dir, NULL, &model)) != TINV_OK ||
        (st = tinv_tokenizer_load(j->model_dir, NULL, &tok)) != TINV_OK)
        goto out;
    /* The embedding file's token (e.g. "<my-concept>") joins the model and the tokenizer together. */
    if (j->embedding != NULL &&
        (st = tinv_model_load_embedding(model, tok, j->embedding, NULL, token, sizeof token)) != TINV_OK)
        goto out;
    if (j->prompt != NULL)
        snprintf(prompt, sizeof prompt, "%s", j->prompt);
    else if (j->embedding != NULL)
        snprintf(prompt, sizeof prompt, "a seamless texture of %s", token);
    else
        snprintf(prompt, sizeof prompt, "seamless mossy cobblestone texture, top-down, detailed");

    atomic_store(&j->phase, PHASE_SAMPLING);
    if ((st = tinv_sampler_create(model, tok, &sampler)) != TINV_OK ||
        (st = tinv_sampler_set_prompt(sampler, prompt)) != TINV_OK ||
        (st = tinv_sampler_set_steps(sampler, j->steps)) != TINV_OK ||
        (st = tinv_sampler_set_seed(sampler, j->seed)) != TINV_OK ||
        (st = tinv_sampler_set_size(sampler, w, h)) != TINV_OK ||
        (st = tinv_sampler_set_tiling(sampler, 1)) != TINV_OK || /* wraps around: tiles seamlessly */
        (st = tinv_sampler_set_progress_callback(sampler, on_step, j)) != TINV_OK)
        goto out;

    /* The sampler writes RGB8 straight into the staging buffer... */
    size_t n = (size_t)w * (size_t)h;
    staging = malloc(n * 3);
    if (staging == NULL) {
        st = TINV_ERR_OUT_OF_MEMORY;
        snprintf(j->message, sizeof j->message, "no memory for a %dx%d staging buffer", w, h);
        goto out;
    }
    if ((st = tinv_sampler_run(sampler, staging, n * 3)) != TINV_OK)
        goto out;
    /* ...and the pixels are copied once, into the engine's RGBA texture. */
    for (size_t i = 0; i < n; i++) {
        j->target->rgba[4 * i + 0] = staging[3 * i + 0];
        j->target->rgba[4 * i + 1] = staging[3 * i + 1];
        j->target->rgba[4 * i + 2] = staging[3 * i + 2];
        j->target->rgba[4 * i + 3] = 255;
    }

out:
    if (st != TINV_OK && j->message[0] == '\0') /* the message is per thread: copy it for the engine */
        snprintf(j->message, sizeof j->message, "%s", tinv_last_error());
    /* Everything the worker made is freed here, on the thread that used it (all accept NULL). */
    free(staging);
    tinv_sampler_free(sampler);
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    j->status = st;
    atomic_store(&j->phase, PHASE_FINISHED); /* publishes status and message to the engine */
    return NULL;
}

/* ---- the engine --------------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* FNV-1a over the texture: a stand-in for handing it to the GPU. */
static uint64_t checksum(const uint8_t *p, size_t n)
{
    uint64_t hash = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        hash = (hash ^ p[i]) * 1099511628211ull;
    return hash;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s MODEL_DIR [--embedding FILE] [--prompt TEXT] [--size N] [--steps N] [--seed N]\n"
            "          [--cancel-after-frames N] [--out texture.png]\n"
            "  defaults: --size 512 --steps 25 --seed 0 --out texture.png; without --prompt the prompt is\n"
            "  \"a seamless texture of <token>\" (with --embedding) or a cobblestone texture\n",
            argv0);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return usage(argv[0]);
    job j = {.model_dir = argv[1], .steps = 25};
    int size = 512;
    long cancel_after = -1;
    const char *out = "texture.png";
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (val == NULL)
            return usage(argv[0]);
        if (strcmp(opt, "--embedding") == 0)
            j.embedding = val;
        else if (strcmp(opt, "--prompt") == 0)
            j.prompt = val;
        else if (strcmp(opt, "--size") == 0)
            size = atoi(val);
        else if (strcmp(opt, "--steps") == 0)
            j.steps = atoi(val);
        else if (strcmp(opt, "--seed") == 0)
            j.seed = strtoull(val, NULL, 10);
        else if (strcmp(opt, "--cancel-after-frames") == 0)
            cancel_after = atol(val);
        else if (strcmp(opt, "--out") == 0)
            out = val;
        else
            return usage(argv[0]);
        i++;
    }
    if (size < 1 || size > 8192)
        return usage(argv[0]);

    /* libtorch's thread pool is process-wide: leave one core to the engine's own threads. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    tinv_set_num_threads(cpus > 1 ? (int)cpus - 1 : 1);

    /* The engine allocates the texture; the worker fills it. */
    texture tex = {size, size, calloc((size_t)size * size, 4)};
    if (tex.rgba == NULL) {
        fprintf(stderr, "engine_texture: out of memory\n");
        return 1;
    }
    j.target = &tex;
    atomic_init(&j.phase, PHASE_LOADING);
    atomic_init(&j.step, 0);
    atomic_init(&j.total, 0);
    atomic_init(&j.cancel, false);

    pthread_t worker;
    if (pthread_create(&worker, NULL, worker_main, &j) != 0) {
        fprintf(stderr, "engine_texture: cannot start the worker thread\n");
        free(tex.rgba);
        return 1;
    }

    /* The frame loop: simulate, render, and look at the job without ever waiting for it. */
    long frame = 0;
    int last_shown = -2;
    for (;; frame++) {
        if (atomic_load(&j.phase) == PHASE_FINISHED)
            break;
        if (frame == cancel_after && !atomic_load(&j.cancel)) {
            atomic_store(&j.cancel, true); /* the next progress callback returns it */
            printf("frame %ld: cancel requested\n", frame);
        }
        /* Progress as a HUD would show it: one line whenever it changes. */
        int phase = atomic_load(&j.phase), step = atomic_load(&j.step), total = atomic_load(&j.total);
        int shown = phase == PHASE_LOADING ? -1 : step;
        if (shown != last_shown) {
            if (phase == PHASE_LOADING)
                printf("frame %ld: loading the model\n", frame);
            else if (step == 0)
                printf("frame %ld: sampling\n", frame);
            else
                printf("frame %ld: texture %d/%d steps\n", frame, step, total);
            last_shown = shown;
        }
        fflush(stdout);
        sleep_ms(16); /* stands in for simulating and rendering one frame */
    }
    pthread_join(worker, NULL); /* already finished: this does not stall the frame */

    int rc = 0;
    if (j.status == TINV_OK) {
        /* "Upload": write the RGBA texture and print a checksum of what the GPU would get. */
        if (tinv_image_write(out, tex.rgba, tex.width, tex.height, 4, 1, 0, 90, NULL) != TINV_OK) {
            fprintf(stderr, "engine_texture: writing %s failed: %s\n", out, tinv_last_error());
            rc = 1;
        } else {
            printf("frame %ld: texture ready, %dx%d RGBA, checksum %016llx, uploaded to %s\n", frame, tex.width,
                   tex.height, (unsigned long long)checksum(tex.rgba, (size_t)tex.width * tex.height * 4), out);
        }
    } else if (j.status == TINV_ERR_CANCELLED) {
        printf("frame %ld: job cancelled at step %d/%d: TINV_ERR_CANCELLED (%s); the worker freed its model, "
               "tokenizer, sampler and staging buffer\n",
               frame, atomic_load(&j.step), atomic_load(&j.total), j.message);
    } else {
        fprintf(stderr, "engine_texture: texture job failed (%s): %s\n", tinv_status_str(j.status), j.message);
        rc = 1;
    }
    free(tex.rgba);
    printf("engine_texture: %ld frames, texture memory freed\n", frame);
    return rc;
}
