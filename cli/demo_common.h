/* Steps both demos share (cli/demo_common.c). */
#ifndef TINV_CLI_DEMO_COMMON_H
#define TINV_CLI_DEMO_COMMON_H

#include <stddef.h>

double demo_now(void); /* monotonic seconds */
/* mkdir that accepts an existing folder; 0 with a message on failure. */
int demo_make_dir(const char *path);
/* Print "$ tinv ARGS" with shell quoting where needed. */
void demo_print_command(char **argv);
/* Print and run a CLI command in-process (argv NULL-terminated); returns its exit code. */
int demo_run_command(int (*cmd)(int, char **), char **argv);
/* Load the learned `token` from the AUTOMATIC1111 file the trainer wrote and save it in diffusers
 * layout; 0 with a message on failure. */
int demo_write_diffusers_copy(const char *model_dir, const char *a1111, const char *diffusers, const char *token);

/* "demo finished in S s; wrote:" and the n (path, what it is) pairs, paths aligned. */
void demo_print_written(const char *const (*written)[2], size_t n, double seconds);

#endif
