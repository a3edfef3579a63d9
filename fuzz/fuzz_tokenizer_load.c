/* libFuzzer target: load a tokenizer folder whose vocab.json, merges.txt and
 * tokenizer_config.json come from the input (split at the first two 0xFF bytes), and a
 * .txt.gz merges file made of the whole input. Loading must fail cleanly or work. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinv.h"

static char dir[64];

static void write_bytes(const char *name, const uint8_t *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static void try_load(const char *path)
{
    tinv_tokenizer *tok = NULL;
    if (tinv_tokenizer_load(path, NULL, &tok) == TINV_OK) {
        int32_t ids[8];
        size_t n;
        tinv_tokenizer_encode(tok, "abc ab! <|endoftext|>", 1, ids, 8, &n, NULL);
        tinv_tokenizer_free(tok);
    } else if (tok != NULL || tinv_last_error()[0] == '\0') {
        abort(); /* failures must leave *out NULL and say why */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        strcpy(dir, "/tmp/tinv_fuzz_loadXXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
    }
    const uint8_t *a = memchr(data, 0xFF, size);
    const uint8_t *b = a ? memchr(a + 1, 0xFF, size - (size_t)(a + 1 - data)) : NULL;
    size_t la = a ? (size_t)(a - data) : size;
    write_bytes("vocab.json", data, la);
    if (a != NULL) {
        size_t lb = b ? (size_t)(b - a - 1) : size - la - 1;
        write_bytes("merges.txt", a + 1, lb);
        if (b != NULL)
            write_bytes("tokenizer_config.json", b + 1, size - (size_t)(b + 1 - data));
    } else {
        write_bytes("merges.txt", (const uint8_t *)"#v\na b\n", 7);
    }
    try_load(dir);
    write_bytes("m.txt.gz", data, size);
    char gz[128];
    snprintf(gz, sizeof gz, "%s/m.txt.gz", dir);
    try_load(gz);
    return 0;
}
