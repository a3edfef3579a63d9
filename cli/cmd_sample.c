/* tinv sample: text-to-image with classifier-free guidance, written as PNG or JPEG. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "tinv.h"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: tinv sample --model DIR --out PATH [--prompt TEXT] [--negative TEXT] [--steps N]\n"
            "                   [--cfg X] [--scheduler NAME] [--seed S] [-n N] [--width W --height H]\n"
            "                   [--tiling] [--grid] [--quality Q] [--threads N] [--embedding FILE[:TOKEN]]...\n"
            "                   [--long-prompts] [--device cpu|cuda:N] [--tokenizer PATH]\n\n"
            "Samples N images (image i with seed S+i) and writes them to PATH (.png, .jpg, .jpeg);\n"
            "with N > 1 as PATH_0, PATH_1, ... or, with --grid, one grid picture. PNGs carry the\n"
            "settings in a \"parameters\" text chunk.\n"
            "  --embedding  a learned token from a textual-inversion file (safetensors: diffusers,\n"
            "               AUTOMATIC1111); the token is TOKEN if given, else the one stored in the\n"
            "               file, else the file name without extension. Repeat for several.\n"
            "  --tokenizer  tokenizer folder or bpe_simple_vocab_16e6.txt.gz (default: the model folder;\n"
            "               needed with a single-file .safetensors checkpoint)\n"
            "  --long-prompts  encode prompts over 75 tokens in 75-token chunks (AUTOMATIC1111)\n"
            "               instead of truncating them\n"
            "  --scheduler  default (the model's), ddim, pndm, euler, euler_ancestral, dpmpp_2m,\n"
            "               dpmpp_2m_karras, lms, ddpm\n"
            "  defaults: --steps 30 --cfg 7.5 --seed 0 -n 1 --width/--height 512 --quality 95\n"
            "            --device cpu --threads 0 (one per CPU)\n");
    return out == stdout ? 0 : 2;
}

static void log_to_stderr(void *user, tinv_log_level level, const char *message)
{
    (void)user;
    fprintf(stderr, "\rtinv sample: %s%s\n", level == TINV_LOG_WARN ? "warning: " : "", message);
}

static int progress_bar(void *user, int step, int total)
{
    (void)user;
    int width = 30, done = total > 0 ? step * width / total : width;
    fprintf(stderr, "\r[%.*s%*s] %d/%d", done, "##############################", width - done, "", step, total);
    if (step == total)
        fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

static int parse_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "tinv sample: %s expects an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, v);
        return 0;
    }
    *out = x;
    return 1;
}

static int fail(const char *what)
{
    fprintf(stderr, "tinv sample: %s: %s\n", what, tinv_last_error());
    return 1;
}

enum { MAX_EMBEDDINGS = 64 };

/* Add every --embedding to the model/tokenizer pair. "FILE:TOKEN" names the token, unless the
 * whole argument is an existing file (so paths with ':' still work). */
static int load_embeddings(tinv_model *model, tinv_tokenizer *tok, const char *const *specs, int n)
{
    for (int i = 0; i < n; i++) {
        const char *path = specs[i], *token = NULL, *colon = strrchr(path, ':');
        struct stat sb;
        char *copy = NULL;
        if (colon != NULL && colon[1] != '\0' && stat(path, &sb) != 0) {
            if ((copy = strdup(path)) == NULL) {
                fprintf(stderr, "tinv sample: out of memory\n");
                return 1;
            }
            copy[colon - specs[i]] = '\0';
            path = copy;
            token = copy + (colon - specs[i]) + 1;
        }
        char name[256];
        int vectors = 0;
        if (tinv_model_load_embedding(model, tok, path, token, name, sizeof name) != TINV_OK) {
            fprintf(stderr, "tinv sample: --embedding: %s\n", tinv_last_error()); /* names the file */
            free(copy);
            return 1;
        }
        tinv_model_get_token_vectors(model, name, NULL, 0, &vectors);
        fprintf(stderr, "tinv sample: loaded embedding %s (%d vector%s)\n", name, vectors, vectors == 1 ? "" : "s");
        free(copy);
    }
    return 0;
}

int cmd_sample(int argc, char **argv)
{
    const char *model_path = NULL, *out = NULL, *prompt = "", *negative = "", *sched = "default";
    const char *device = "cpu", *tokenizer_path = NULL;
    long steps = 30, n = 1, width = 512, height = 512, quality = 95, threads = 0;
    unsigned long long seed = 0;
    double cfg = 7.5;
    int tiling = 0, grid = 0, long_prompts = 0, n_embeddings = 0;
    const char *embeddings[MAX_EMBEDDINGS];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout);
        else if (strcmp(a, "--tiling") == 0)
            tiling = 1, takes = 0;
        else if (strcmp(a, "--grid") == 0)
            grid = 1, takes = 0;
        else if (strcmp(a, "--long-prompts") == 0)
            long_prompts = 1, takes = 0;
        else if (v == NULL) {
            fprintf(stderr, "tinv sample: unknown option or missing value: '%s'\n\n", a);
            return usage(stderr);
        } else if (strcmp(a, "--model") == 0)
            model_path = v;
        else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0)
            out = v;
        else if (strcmp(a, "--device") == 0)
            device = v;
        else if (strcmp(a, "--tokenizer") == 0)
            tokenizer_path = v;
        else if (strcmp(a, "--prompt") == 0)
            prompt = v;
        else if (strcmp(a, "--embedding") == 0) {
            if (n_embeddings == MAX_EMBEDDINGS) {
                fprintf(stderr, "tinv sample: at most %d --embedding options\n", MAX_EMBEDDINGS);
                return 2;
            }
            embeddings[n_embeddings++] = v;
        } else if (strcmp(a, "--negative") == 0)
            negative = v;
        else if (strcmp(a, "--scheduler") == 0)
            sched = v;
        else if (strcmp(a, "--steps") == 0) {
            if (!parse_int(a, v, 1, 1000, &steps))
                return 2;
        } else if (strcmp(a, "-n") == 0) {
            if (!parse_int(a, v, 1, 64, &n))
                return 2;
        } else if (strcmp(a, "--width") == 0) {
            if (!parse_int(a, v, 1, 8192, &width))
                return 2;
        } else if (strcmp(a, "--height") == 0) {
            if (!parse_int(a, v, 1, 8192, &height))
                return 2;
        } else if (strcmp(a, "--quality") == 0) {
            if (!parse_int(a, v, 1, 100, &quality))
                return 2;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_int(a, v, 0, 1024, &threads))
                return 2;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') {
                fprintf(stderr, "tinv sample: --seed expects a non-negative integer, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--cfg") == 0) {
            char *end;
            cfg = strtod(v, &end);
            if (end == v || *end) {
                fprintf(stderr, "tinv sample: --cfg expects a number, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "tinv sample: unknown option '%s'\n\n", a);
            return usage(stderr);
        }
        i += takes;
    }
    if (model_path == NULL || out == NULL) {
        fprintf(stderr, "tinv sample: --model and --out are required\n\n");
        return usage(stderr);
    }
    const char *dot = strrchr(out, '.');
    if (dot == NULL || (strcasecmp(dot, ".png") != 0 && strcasecmp(dot, ".jpg") != 0 && strcasecmp(dot, ".jpeg") != 0)) {
        fprintf(stderr, "tinv sample: --out must end in .png, .jpg or .jpeg: '%s'\n", out);
        return 2;
    }
    if (tinv_set_num_threads((int)threads) != TINV_OK)
        return fail("--threads");
    tinv_options *opts = NULL;
    tinv_model *model = NULL;
    tinv_tokenizer *tok = NULL;
    tinv_sampler *s = NULL;
    uint8_t *rgb = NULL;
    int rc = 1;
    if (tinv_options_create(&opts) != TINV_OK ||
        tinv_options_set_log_callback(opts, log_to_stderr, TINV_LOG_WARN, NULL) != TINV_OK) {
        rc = fail("options");
        goto done;
    }
    if (tinv_options_set_device(opts, device) != TINV_OK) {
        rc = fail("--device");
        goto done;
    }
    if (tinv_model_load(model_path, opts, &model) != TINV_OK) {
        rc = fail("loading the model");
        goto done;
    }
    if (tinv_tokenizer_load(tokenizer_path ? tokenizer_path : model_path, opts, &tok) != TINV_OK) {
        rc = fail(tokenizer_path ? "loading the tokenizer"
                                 : "loading the tokenizer (a single-file checkpoint needs --tokenizer)");
        goto done;
    }
    /* Before the sampler, so the prompt can use the tokens. */
    if (load_embeddings(model, tok, embeddings, n_embeddings) != 0)
        goto done;
    if (tinv_sampler_create(model, tok, &s) != TINV_OK || tinv_sampler_set_prompt(s, prompt) != TINV_OK ||
        tinv_sampler_set_negative_prompt(s, negative) != TINV_OK) {
        rc = fail("sampler");
        goto done;
    }
    if (tinv_sampler_set_steps(s, (int)steps) != TINV_OK || tinv_sampler_set_guidance(s, cfg) != TINV_OK ||
        tinv_sampler_set_scheduler(s, sched) != TINV_OK || tinv_sampler_set_seed(s, (uint64_t)seed) != TINV_OK ||
        tinv_sampler_set_batch(s, (int)n) != TINV_OK || tinv_sampler_set_size(s, (int)width, (int)height) != TINV_OK ||
        tinv_sampler_set_tiling(s, tiling) != TINV_OK || tinv_sampler_set_long_prompts(s, long_prompts) != TINV_OK ||
        tinv_sampler_set_log_callback(s, log_to_stderr, TINV_LOG_WARN, NULL) != TINV_OK) {
        rc = fail("bad setting");
        rc = 2;
        goto done;
    }
    if (isatty(fileno(stderr)))
        tinv_sampler_set_progress_callback(s, progress_bar, NULL);
    size_t cap = (size_t)n * (size_t)width * (size_t)height * 3;
    rgb = malloc(cap);
    if (rgb == NULL) {
        fprintf(stderr, "tinv sample: out of memory\n");
        goto done;
    }
    if (tinv_sampler_run(s, rgb, cap) != TINV_OK) {
        rc = fail("sampling");
        goto done;
    }
    int cols = 0;
    if (grid && n > 1)
        for (cols = 1; (long)cols * cols < n; cols++)
            ;
    if (tinv_image_write(out, rgb, (int)width, (int)height, 3, (int)n, cols, (int)quality, s) != TINV_OK) {
        rc = fail("writing the image");
        goto done;
    }
    rc = 0;
done:
    free(rgb);
    tinv_sampler_free(s);
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    tinv_options_free(opts);
    return rc;
}
