/* tinv train: teach a model a new token from a folder of pictures (textual inversion). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "tinv.h"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: tinv train --model DIR --images DIR --token NAME --init WORD --out FILE.safetensors\n"
            "                  [--init-average] [--vectors N] [--templates object|style|FILE] [--steps N]\n"
            "                  [--lr X] [--lr-schedule constant|linear|cosine] [--warmup N] [--accumulate N]\n"
            "                  [--batch B] [--resolution R] [--seed S] [--random-crop] [--no-flip]\n"
            "                  [--save-every N] [--state FILE] [--resume] [--format diffusers|a1111]\n"
            "                  [--validate-every K --validation-prompt TEXT [--validation-steps N]]\n"
            "                  [--device cpu|cuda:N] [--threads N] [--tokenizer PATH]\n\n"
            "Adds the token NAME (e.g. \"<cat-toy>\") to the model with N vectors copied from the embedding\n"
            "of WORD (\"\" = small random vectors; --init-average: the mean of a several-token WORD) and\n"
            "trains only those vectors on the pictures (PNG/JPEG) in --images. Writes the embedding to\n"
            "--out, and the trainer state (vectors, optimizer moments, step, random state) to --state,\n"
            "every --save-every steps and at the end; --resume continues from that state, so --steps\n"
            "is the total to reach. Ctrl-C stops cleanly after the current step, saving both (exit 130).\n"
            "Validation samples --validation-prompt (which should use NAME) every K steps, at the\n"
            "training resolution, to \"<out without extension>-val-<step>.png\".\n"
            "--tokenizer: tokenizer folder or bpe_simple_vocab_16e6.txt.gz, for a single-file checkpoint.\n"
            "  defaults: --vectors 1 --templates object --steps 3000 --lr 5e-4 --lr-schedule constant\n"
            "            --warmup 0 --accumulate 1 --batch 1 --resolution 512 --seed 0 --save-every 0\n"
            "            (only at the end) --state <out without .safetensors>.state.safetensors\n"
            "            --format diffusers --validation-steps 25 --device cpu --threads 0 (one per CPU)\n");
    return out == stdout ? 0 : 2;
}

/* ---- Ctrl-C ------------------------------------------------------------------------------ */

/* The handler only sets a flag; the progress callback turns it into a clean stop (the library
 * then saves the vectors). SA_RESETHAND makes a second Ctrl-C kill the process as usual. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- progress ---------------------------------------------------------------------------- */

enum { LOSS_WINDOW = 100 };

typedef struct progress {
    int tty;                  /* redraw a bar on stderr, else a plain line every ~10% */
    int first_step;           /* first step this run reported (resumed runs start later) */
    int last_step, total;
    double t_first;           /* time of the first report: it/s excludes the set-up */
    double last_loss;
    double window[LOSS_WINDOW]; /* the last losses, for a running mean that is less jumpy */
    int n_window;
    int bar_open;             /* a bar line is on screen without its newline */
} progress;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double mean_loss(const progress *p)
{
    int n = p->n_window < LOSS_WINDOW ? p->n_window : LOSS_WINDOW;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += p->window[i];
    return n ? s / n : NAN;
}

static void format_duration(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static int on_progress(void *user, int step, int total, double loss, double lr)
{
    progress *p = user;
    double t = now_seconds();
    if (p->first_step < 0) {
        p->first_step = step;
        p->t_first = t;
    }
    p->last_step = step;
    p->total = total;
    p->last_loss = loss;
    p->window[p->n_window++ % LOSS_WINDOW] = loss;
    int done = step - p->first_step;
    double rate = done > 0 && t > p->t_first ? done / (t - p->t_first) : 0;
    char eta[32];
    format_duration(rate > 0 ? (total - step) / rate : -1, eta, sizeof eta);
    if (p->tty) {
        int width = 24, fill = total > 0 ? (int)((long long)step * width / total) : width;
        fprintf(stderr, "\r[%.*s%*s] %d/%d  avg loss %.4f  lr %.2e  %.2f it/s  ETA %s\033[K", fill,
                "########################", width - fill, "", step, total, mean_loss(p), lr, rate, eta);
        p->bar_open = step != total;
        if (!p->bar_open)
            fputc('\n', stderr);
        fflush(stderr);
    } else {
        int every = total >= 10 ? total / 10 : 1;
        if (step % every == 0 || step == total)
            fprintf(stderr, "tinv train: step %d/%d  loss %.4f (mean %.4f)  lr %.2e  %.2f it/s  ETA %s\n", step,
                    total, loss, mean_loss(p), lr, rate, eta);
    }
    return interrupted != 0;
}

static void log_to_stderr(void *user, tinv_log_level level, const char *message)
{
    progress *p = user;
    if (p != NULL && p->bar_open)
        fputs("\r\033[K", stderr); /* the bar is redrawn by the next step */
    fprintf(stderr, "tinv train: %s%s\n", level == TINV_LOG_WARN ? "warning: " : "", message);
}

/* ---- options ----------------------------------------------------------------------------- */

static int parse_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "tinv train: %s expects an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, v);
        return 0;
    }
    *out = x;
    return 1;
}

static int parse_double(const char *opt, const char *v, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x) || x <= 0) {
        fprintf(stderr, "tinv train: %s expects a positive number, got '%s'\n", opt, v);
        return 0;
    }
    *out = x;
    return 1;
}

static int fail(const char *what)
{
    fprintf(stderr, "tinv train: %s: %s\n", what, tinv_last_error());
    return 1;
}

/* `path` with `suffix` in place of its extension (if the last path component has one). */
static char *replace_extension(const char *path, const char *suffix)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    size_t stem = dot && dot > (slash ? slash : path) ? (size_t)(dot - path) : strlen(path);
    char *s = malloc(stem + strlen(suffix) + 1);
    if (s != NULL) {
        memcpy(s, path, stem);
        strcpy(s + stem, suffix);
    }
    return s;
}

/* 1 when the folder that would hold `path` exists and is writable: checked before training so a
 * typo does not cost a whole run (the library writes at the first checkpoint). */
static int folder_writable(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    int ok = dir != NULL && access(dir, W_OK | X_OK) == 0;
    if (!ok)
        fprintf(stderr, "tinv train: cannot write '%s': %s\n", path, dir ? strerror(errno) : "out of memory");
    free(dir);
    return ok;
}

typedef struct train_args {
    const char *model, *tokenizer, *images, *token, *init, *out, *templates, *state, *device, *val_prompt;
    long vectors, steps, warmup, accumulate, batch, resolution, save_every, val_every, val_steps, threads;
    unsigned long long seed;
    double lr;
    tinv_lr_schedule schedule;
    tinv_embedding_format format;
    int init_average, random_crop, no_flip, resume;
} train_args;

/* Returns 0 to go on, -1 after --help, else the exit code (usage printed). */
static int parse_args(int argc, char **argv, train_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0)
            return usage(stdout), -1; /* done, exit 0 */
        else if (strcmp(o, "--init-average") == 0)
            a->init_average = 1, takes = 0;
        else if (strcmp(o, "--random-crop") == 0)
            a->random_crop = 1, takes = 0;
        else if (strcmp(o, "--no-flip") == 0)
            a->no_flip = 1, takes = 0;
        else if (strcmp(o, "--resume") == 0)
            a->resume = 1, takes = 0;
        else if (v == NULL) {
            fprintf(stderr, "tinv train: unknown option or missing value: '%s'\n\n", o);
            return usage(stderr);
        } else if (strcmp(o, "--model") == 0)
            a->model = v;
        else if (strcmp(o, "--tokenizer") == 0)
            a->tokenizer = v;
        else if (strcmp(o, "--images") == 0)
            a->images = v;
        else if (strcmp(o, "--token") == 0)
            a->token = v;
        else if (strcmp(o, "--init") == 0)
            a->init = v;
        else if (strcmp(o, "--out") == 0 || strcmp(o, "-o") == 0)
            a->out = v;
        else if (strcmp(o, "--templates") == 0)
            a->templates = v;
        else if (strcmp(o, "--state") == 0)
            a->state = v;
        else if (strcmp(o, "--device") == 0)
            a->device = v;
        else if (strcmp(o, "--validation-prompt") == 0)
            a->val_prompt = v;
        else if (strcmp(o, "--lr") == 0) {
            if (!parse_double(o, v, &a->lr))
                return 2;
        } else if (strcmp(o, "--lr-schedule") == 0) {
            if (strcmp(v, "constant") == 0)
                a->schedule = TINV_LR_CONSTANT;
            else if (strcmp(v, "linear") == 0)
                a->schedule = TINV_LR_LINEAR;
            else if (strcmp(v, "cosine") == 0)
                a->schedule = TINV_LR_COSINE;
            else {
                fprintf(stderr, "tinv train: --lr-schedule expects constant, linear or cosine, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(o, "--format") == 0) {
            if (strcmp(v, "diffusers") == 0)
                a->format = TINV_EMBEDDING_DIFFUSERS;
            else if (strcmp(v, "a1111") == 0)
                a->format = TINV_EMBEDDING_A1111;
            else {
                fprintf(stderr, "tinv train: --format expects diffusers or a1111, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(o, "--seed") == 0) {
            char *end;
            errno = 0;
            a->seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "tinv train: --seed expects a non-negative integer, got '%s'\n", v);
                return 2;
            }
        } else {
            /* The integer options, with the library's own ranges so mistakes show before loading. */
            static const struct {
                const char *name;
                size_t offset;
                long lo, hi;
            } ints[] = {
                {"--vectors", offsetof(train_args, vectors), 1, 64},
                {"--steps", offsetof(train_args, steps), 1, 1000000},
                {"--warmup", offsetof(train_args, warmup), 0, 1000000},
                {"--accumulate", offsetof(train_args, accumulate), 1, 1000000},
                {"--batch", offsetof(train_args, batch), 1, 64},
                {"--resolution", offsetof(train_args, resolution), 1, 4096},
                {"--save-every", offsetof(train_args, save_every), 0, 1000000},
                {"--validate-every", offsetof(train_args, val_every), 1, 1000000},
                {"--validation-steps", offsetof(train_args, val_steps), 1, 1000},
                {"--threads", offsetof(train_args, threads), 0, 1024},
            };
            size_t k = 0, n = sizeof ints / sizeof ints[0];
            while (k < n && strcmp(o, ints[k].name) != 0)
                k++;
            if (k == n) {
                fprintf(stderr, "tinv train: unknown option '%s'\n\n", o);
                return usage(stderr);
            }
            if (!parse_int(o, v, ints[k].lo, ints[k].hi, (long *)((char *)a + ints[k].offset)))
                return 2;
        }
        i += takes;
    }
    if (!a->model || !a->images || !a->token || !a->init || !a->out) {
        fprintf(stderr, "tinv train: --model, --images, --token, --init and --out are required\n\n");
        return usage(stderr);
    }
    size_t len = strlen(a->out);
    if (len < 12 || strcmp(a->out + len - 12, ".safetensors") != 0) {
        fprintf(stderr, "tinv train: --out must end in .safetensors: '%s'\n", a->out);
        return 2;
    }
    if ((a->val_every > 0) != (a->val_prompt != NULL)) {
        fprintf(stderr, "tinv train: --validate-every and --validation-prompt go together\n");
        return 2;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------- */

int cmd_train(int argc, char **argv)
{
    train_args a = {.templates = "object", .device = "cpu", .vectors = 1, .steps = 3000, .accumulate = 1, .batch = 1,
                    .resolution = 512, .val_steps = 25, .lr = 5e-4, .schedule = TINV_LR_CONSTANT,
                    .format = TINV_EMBEDDING_DIFFUSERS};
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;

    char *state = a.state ? strdup(a.state) : replace_extension(a.out, ".state.safetensors");
    char *val_prefix = replace_extension(a.out, "-val");
    progress prog = {.tty = isatty(fileno(stderr)), .first_step = -1};
    tinv_options *opts = NULL;
    tinv_model *model = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_trainer *tr = NULL;
    tinv_sampler *val = NULL;
    struct sigaction old_int;
    int handler_set = 0;
    rc = 1;
    if (state == NULL || val_prefix == NULL) {
        fprintf(stderr, "tinv train: out of memory\n");
        goto done;
    }
    struct stat sb;
    if (a.resume && stat(state, &sb) != 0) {
        fprintf(stderr,
                "tinv train: --resume: no trainer state at '%s' (a run writes it every --save-every steps and at the\n"
                "end; --state names another file)\n",
                state);
        rc = 2;
        goto done;
    }
    if (!folder_writable(a.out) || !folder_writable(state))
        goto done;
    if (tinv_set_num_threads((int)a.threads) != TINV_OK) {
        rc = fail("--threads");
        goto done;
    }
    if (tinv_options_create(&opts) != TINV_OK ||
        tinv_options_set_log_callback(opts, log_to_stderr, TINV_LOG_WARN, &prog) != TINV_OK) {
        rc = fail("options");
        goto done;
    }
    if (tinv_options_set_device(opts, a.device) != TINV_OK) {
        rc = fail("--device");
        goto done;
    }
    if (tinv_model_load(a.model, opts, &model) != TINV_OK) {
        rc = fail("loading the model");
        goto done;
    }
    /* The token's vectors live in the model and its string in the tokenizer: by default both come
     * from the same folder so their ids agree. */
    if (tinv_tokenizer_load(a.tokenizer ? a.tokenizer : a.model, opts, &tok) != TINV_OK) {
        rc = fail(a.tokenizer ? "loading the tokenizer"
                              : "loading the tokenizer (a single-file checkpoint needs --tokenizer)");
        goto done;
    }
    if (tinv_model_add_token(model, tok, a.token, (int)a.vectors, a.init, a.init_average ? TINV_INIT_AVERAGE : 0) !=
        TINV_OK) {
        rc = fail("--token/--init"); /* a several-token word: the message suggests --init-average */
        goto done;
    }
    if (tinv_trainer_create(model, tok, a.token, &tr) != TINV_OK) {
        rc = fail("trainer");
        goto done;
    }
    tinv_optimizer *opt = tinv_trainer_optimizer(tr);
    const char *what = NULL;
    if (tinv_trainer_set_images(tr, a.images) != TINV_OK)
        what = "--images";
    else if (tinv_trainer_set_templates(tr, a.templates) != TINV_OK)
        what = "--templates";
    else if (tinv_trainer_set_steps(tr, (int)a.steps) != TINV_OK)
        what = "--steps";
    else if (tinv_trainer_set_batch(tr, (int)a.batch) != TINV_OK)
        what = "--batch";
    else if (tinv_trainer_set_resolution(tr, (int)a.resolution) != TINV_OK)
        what = "--resolution";
    else if (tinv_trainer_set_seed(tr, (uint64_t)a.seed) != TINV_OK)
        what = "--seed";
    else if (tinv_trainer_set_augmentation(tr, a.random_crop, a.no_flip ? 0.0 : 0.5) != TINV_OK)
        what = "augmentation";
    else if (tinv_optimizer_set_lr(opt, a.lr) != TINV_OK)
        what = "--lr";
    /* Decay (linear, cosine) ends at the total, so a resumed run keeps the same curve. */
    else if (tinv_optimizer_set_schedule(opt, a.schedule, (int)a.warmup, (int)a.steps) != TINV_OK)
        what = "--lr-schedule/--warmup";
    else if (tinv_optimizer_set_accumulation(opt, (int)a.accumulate) != TINV_OK)
        what = "--accumulate";
    else if (tinv_trainer_set_output(tr, a.out, a.format, state, (int)a.save_every) != TINV_OK)
        what = "output";
    if (what != NULL) {
        rc = fail(what);
        goto done;
    }
    if (a.val_prompt != NULL) {
        /* The validation sampler shares the model, so it sees the vectors as they train. */
        if (tinv_sampler_create(model, tok, &val) != TINV_OK || tinv_sampler_set_prompt(val, a.val_prompt) != TINV_OK ||
            tinv_sampler_set_steps(val, (int)a.val_steps) != TINV_OK ||
            tinv_sampler_set_size(val, (int)a.resolution, (int)a.resolution) != TINV_OK ||
            tinv_sampler_set_seed(val, (uint64_t)a.seed) != TINV_OK ||
            tinv_trainer_set_validation(tr, val, (int)a.val_every, val_prefix) != TINV_OK) {
            rc = fail("validation");
            goto done;
        }
    }
    if (a.resume && tinv_trainer_resume(tr, state) != TINV_OK) {
        rc = fail("--resume");
        goto done;
    }
    if (tinv_trainer_set_progress_callback(tr, on_progress, &prog) != TINV_OK) {
        rc = fail("progress");
        goto done;
    }
    int start_step = tinv_trainer_get_step(tr);
    if (a.resume)
        fprintf(stderr, "tinv train: resuming at step %d of %ld from %s\n", start_step, a.steps, state);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    handler_set = sigaction(SIGINT, &sa, &old_int) == 0;
    if (handler_set && old_int.sa_handler == SIG_IGN) {
        /* Started with Ctrl-C ignored (nohup, a background job): keep it that way. */
        sigaction(SIGINT, &old_int, NULL);
        handler_set = 0;
    }

    tinv_status st = tinv_trainer_run(tr);
    if (prog.bar_open) {
        fputc('\n', stderr);
        prog.bar_open = 0;
    }
    int step = tinv_trainer_get_step(tr);
    if (st == TINV_ERR_CANCELLED) {
        fprintf(stderr, "tinv train: cancelled at step %d; saved %s and %s (--resume continues)\n", step, a.out,
                state);
        rc = 130;
    } else if (st != TINV_OK) {
        rc = fail("training");
    } else {
        if (prog.first_step < 0)
            printf("nothing to train: '%s' is already at step %d of %ld; wrote %s\n", a.token, step, a.steps, a.out);
        else
            printf("trained '%s': steps %d-%d of %ld, final loss %.4f (mean of last %d: %.4f); wrote %s\n", a.token,
                   start_step + 1, step, a.steps, prog.last_loss,
                   prog.n_window < LOSS_WINDOW ? prog.n_window : LOSS_WINDOW, mean_loss(&prog), a.out);
        rc = 0;
    }
done:
    if (handler_set)
        sigaction(SIGINT, &old_int, NULL);
    tinv_trainer_free(tr);
    tinv_sampler_free(val);
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    tinv_options_free(opts);
    free(state);
    free(val_prefix);
    return rc;
}
