/* tinv info: what the library runs on (libtorch, BLAS, oneDNN, CUDA, threads). */
#include <stdio.h>

#include "commands.h"
#include "tinv.h"

int cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char line[1024];
    tinv_set_num_threads(0);
    if (tinv_runtime_info(line, sizeof line, NULL) != TINV_OK) {
        fprintf(stderr, "tinv: %s\n", tinv_last_error());
        return 1;
    }
    printf("%s\n", line);
    return 0;
}
