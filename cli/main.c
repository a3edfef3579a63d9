/* The tinv command-line tool: a dispatcher over subcommands that use the public API only. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "tinv.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"info", cmd_info, "print the runtime: libtorch, BLAS, oneDNN, CUDA, threads"},
    {"tokenize", cmd_tokenize, "print CLIP token ids of prompts (tinv tokenize --help)"},
    {"sample", cmd_sample, "generate images from a prompt (tinv sample --help)"},
    {"train", cmd_train, "learn a new token from pictures (tinv train --help)"},
    {"demo", cmd_demo, "learn a word on the bundled toy model and draw with it, no download (tinv demo --help)"},
};

static int usage(FILE *out)
{
    fprintf(out, "usage: tinv <command> [options]\n\ncommands:\n");
    fprintf(out, "  %-10s %s\n", "version", "print the library version");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "  %-10s %s\n", "help", "this text");
    return out == stdout ? 0 : 2;
}

/* Keep freed tensor memory in the process instead of returning it to the kernel after every
 * step: re-faulting it cost up to 2.5x per training step (docs/performance.md). The program may
 * choose this; the library, a guest in other processes, does not. */
static void keep_freed_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
}

int main(int argc, char **argv)
{
    keep_freed_memory();
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("tinv %s\n", tinv_version_string());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tinv: unknown command '%s'\n\n", cmd);
    return usage(stderr);
}
