/* tinv tokenize: print the padded CLIP token ids of prompts, one line of ids per prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "tinv.h"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: tinv tokenize --model <model dir | tokenizer dir | bpe .txt.gz> [--add-token TOK]...\n"
            "                     (--file prompts.txt | PROMPT...)\n\n"
            "Prints, per prompt, one line of space-separated token ids padded/truncated to the\n"
            "tokenizer's max length (77). --file reads one prompt per line ('-' = stdin).\n"
            "--add-token adds a placeholder token (ids from the vocabulary size up), in order.\n");
    return out == stdout ? 0 : 2;
}

static int print_ids(tinv_tokenizer *tok, const char *prompt, int32_t *ids, size_t cap)
{
    size_t n;
    if (tinv_tokenizer_encode(tok, prompt, 1, ids, cap, &n, NULL) != TINV_OK) {
        fprintf(stderr, "tinv tokenize: %s\n", tinv_last_error());
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", (int)ids[i]);
    printf("\n");
    return 0;
}

static void log_to_stderr(void *user, tinv_log_level level, const char *message)
{
    (void)user;
    fprintf(stderr, "tinv tokenize: %s%s\n", level == TINV_LOG_WARN ? "warning: " : "", message);
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *file = NULL;
    const char **added = calloc((size_t)argc + 1, sizeof *added);
    const char **prompts = calloc((size_t)argc + 1, sizeof *prompts);
    size_t n_added = 0, n_prompts = 0;
    int rc = 0;
    if (added == NULL || prompts == NULL) {
        fprintf(stderr, "tinv tokenize: out of memory\n");
        free(added);
        free(prompts);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            free(added);
            free(prompts);
            return usage(stdout);
        } else if ((strcmp(a, "--model") == 0 || strcmp(a, "--add-token") == 0 || strcmp(a, "--file") == 0) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'm')
                model = v;
            else if (a[2] == 'a')
                added[n_added++] = v;
            else
                file = v;
        } else if (strcmp(a, "--") == 0) {
            while (++i < argc)
                prompts[n_prompts++] = argv[i];
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "tinv tokenize: unknown or incomplete option '%s'\n\n", a);
            free(added);
            free(prompts);
            return usage(stderr);
        } else {
            prompts[n_prompts++] = a;
        }
    }
    if (model == NULL || (file == NULL) == (n_prompts == 0)) {
        fprintf(stderr, "tinv tokenize: need --model and either --file or prompts (not both)\n\n");
        free(added);
        free(prompts);
        return usage(stderr);
    }
    tinv_options *opts = NULL;
    tinv_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    if (tinv_options_create(&opts) != TINV_OK ||
        tinv_options_set_log_callback(opts, log_to_stderr, TINV_LOG_WARN, NULL) != TINV_OK ||
        tinv_tokenizer_load(model, opts, &tok) != TINV_OK) {
        fprintf(stderr, "tinv tokenize: %s\n", tinv_last_error());
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < n_added; i++) {
        if (tinv_tokenizer_add_token(tok, added[i], NULL) != TINV_OK) {
            fprintf(stderr, "tinv tokenize: %s\n", tinv_last_error());
            rc = 1;
            goto done;
        }
    }
    size_t cap = tinv_tokenizer_max_length(tok);
    ids = malloc(cap * sizeof *ids);
    if (ids == NULL) {
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < n_prompts && rc == 0; i++)
        rc = print_ids(tok, prompts[i], ids, cap);
    if (file != NULL) {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
        if (f == NULL) {
            fprintf(stderr, "tinv tokenize: cannot open '%s'\n", file);
            rc = 1;
            goto done;
        }
        char *line = NULL;
        size_t line_cap = 0;
        ssize_t got;
        while (rc == 0 && (got = getline(&line, &line_cap, f)) >= 0) {
            while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
                line[--got] = '\0';
            rc = print_ids(tok, line, ids, cap);
        }
        free(line);
        if (f != stdin)
            fclose(f);
    }
done:
    free(ids);
    tinv_tokenizer_free(tok);
    tinv_options_free(opts);
    free(added);
    free(prompts);
    return rc;
}
