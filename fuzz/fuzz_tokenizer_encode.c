/* libFuzzer target: encode arbitrary bytes (valid or not as UTF-8) with a small synthetic
 * tokenizer that has an added token; then decode the result. Must never crash or overread. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinv.h"

static tinv_tokenizer *tok;

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

/* A tokenizer folder written at start-up: a few byte symbols and merges, enough to exercise
 * every path (BPE merges, unknown symbols, special and added tokens, padding). */
static void setup(void)
{
    char dir[] = "/tmp/tinv_fuzz_tokXXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    write_text(dir, "vocab.json",
               "{\"a\": 0, \"b\": 1, \"c\": 2, \"a</w>\": 3, \"b</w>\": 4, \"c</w>\": 5, \"ab\": 6, \"abc</w>\": 7, "
               "\"!\": 8, \"!</w>\": 9, \"<|startoftext|>\": 10, \"<|endoftext|>\": 11}");
    write_text(dir, "merges.txt", "#version: 0.2\na b\nab c</w>\n");
    write_text(dir, "special_tokens_map.json", "{\"pad_token\": \"!\"}");
    write_text(dir, "tokenizer_config.json", "{\"model_max_length\": 16}");
    if (tinv_tokenizer_load(dir, NULL, &tok) != TINV_OK || tinv_tokenizer_add_token(tok, "<x>", NULL) != TINV_OK)
        abort();
    char path[600];
    const char *names[] = {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (tok == NULL)
        setup();
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t n = 0;
    int32_t ids[16];
    uint8_t mask[16];
    if (tinv_tokenizer_encode(tok, text, 1, ids, 16, &n, mask) == TINV_OK) {
        char out[256];
        size_t need;
        if (n != 16 || tinv_tokenizer_decode(tok, ids, n, out, sizeof out, &need) != TINV_OK)
            abort();
        size_t full;
        if (tinv_tokenizer_encode(tok, text, 0, NULL, 0, &full, NULL) != TINV_OK)
            abort();
        int32_t *all = malloc((full ? full : 1) * sizeof *all);
        if (all != NULL && tinv_tokenizer_encode(tok, text, 0, all, full, &full, NULL) != TINV_OK)
            abort();
        free(all);
    }
    free(text);
    return 0;
}
