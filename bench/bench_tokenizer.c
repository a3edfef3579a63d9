/* bench_tokenizer <tokenizer path>: encode 10,000 generated SD-style prompts (padded to 77)
 * and print prompts per second. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tinv.h"

static const char *const words[] = {
    "a", "photo", "of", "the", "cat", "astronaut", "riding", "horse", "on", "mars", "highly", "detailed",
    "trending", "artstation", "portrait", "woman", "oil", "painting", "by", "greg", "rutkowski", "4k",
    "8k", "cinematic", "lighting", "bokeh", "caf\xC3\xA9", "\xE7\x8C\xAB", "(masterpiece:1.2)", "don't",
    "sharp", "focus", "unreal", "engine", "&amp;", "\xE2\x80\x9Cquoted\xE2\x80\x9D", "vintage", "ghibli"};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_tokenizer <model dir | tokenizer dir | .txt.gz>\n");
        return 2;
    }
    tinv_tokenizer *tok;
    if (tinv_tokenizer_load(argv[1], NULL, &tok) != TINV_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", tinv_last_error());
        return 1;
    }
    enum { N = 10000 };
    static char prompts[N][512];
    unsigned seed = 12345;
    size_t nw = sizeof words / sizeof words[0];
    for (int i = 0; i < N; i++) {
        int len = 6 + (int)(seed % 30);
        prompts[i][0] = '\0';
        for (int k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            strcat(prompts[i], words[(seed >> 8) % nw]);
            strcat(prompts[i], (seed >> 4) % 5 == 0 ? ", " : " ");
        }
    }
    int32_t ids[77];
    size_t n;
    long total = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < N; i++) {
        if (tinv_tokenizer_encode(tok, prompts[i], 1, ids, 77, &n, NULL) != TINV_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", tinv_last_error());
            return 1;
        }
        total += ids[1];
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    printf("tokenizer: %d prompts in %.3f s = %.0f prompts/s (checksum %ld)\n", N, s, N / s, total);
    tinv_tokenizer_free(tok);
    return 0;
}
