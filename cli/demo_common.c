/* Steps both demos share (tinv demo, tinv demo --toy): a clock, folders, commands run in-process
 * as if typed, and the diffusers copy of a learned token. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "demo_common.h"
#include "tinv.h"

double demo_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int demo_make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "tinv demo: cannot create %s: %s\n", path, strerror(errno));
        return 0;
    }
    return 1;
}

/* Print a command line, quoting what the shell would split or expand. */
void demo_print_command(char **argv)
{
    printf("\n$ tinv");
    for (int i = 0; argv[i] != NULL; i++)
        printf(strpbrk(argv[i], " <>\"'$&;|*?") || !argv[i][0] ? " '%s'" : " %s", argv[i]);
    printf("\n");
    fflush(stdout);
}

/* Run a CLI command in-process, as if typed. */
int demo_run_command(int (*cmd)(int, char **), char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    demo_print_command(argv);
    return cmd(argc, argv);
}

/* The trainer wrote the AUTOMATIC1111 file (which keeps the step count); the diffusers file
 * is the same vectors under the token's own name. */
int demo_write_diffusers_copy(const char *model_dir, const char *a1111, const char *diffusers, const char *token)
{
    tinv_model *model = NULL;
    tinv_tokenizer *tok = NULL;
    int ok = tinv_model_load(model_dir, NULL, &model) == TINV_OK &&
             tinv_tokenizer_load(model_dir, NULL, &tok) == TINV_OK &&
             tinv_model_load_embedding(model, tok, a1111, token, NULL, 0) == TINV_OK &&
             tinv_model_save_embedding(model, token, diffusers, TINV_EMBEDDING_DIFFUSERS) == TINV_OK;
    if (!ok)
        fprintf(stderr, "tinv demo: %s\n", tinv_last_error());
    tinv_tokenizer_free(tok);
    tinv_model_free(model);
    return ok;
}

void demo_print_written(const char *const (*written)[2], size_t n, double seconds)
{
    printf("\ndemo finished in %.1f s; wrote:\n", seconds);
    size_t width = 0;
    for (size_t i = 0; i < n; i++)
        width = strlen(written[i][0]) > width ? strlen(written[i][0]) : width;
    for (size_t i = 0; i < n; i++)
        printf("  %-*s  %s\n", (int)width, written[i][0], written[i][1]);
}
