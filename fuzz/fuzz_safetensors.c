/* libFuzzer target for the safetensors reader: any input must either load cleanly, with every
 * tensor's bytes readable and convertible, or fail with a status and message — never crash.
 * Build: clang -fsanitize=fuzzer,address -Iinclude -Ilib -Ishim fuzz/fuzz_safetensors.c \
 *        lib/safetensors*.c lib/error.c -ljansson -lm
 * No libtorch: the one shim function the bridge in safetensors_tensor.c calls is stubbed
 * below, so that bridge (shape check, alignment copy) is fuzzed too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* Stand-in for the shim: reads every source byte (so ASan sees any bad pointer) and returns
 * a dummy handle that is never dereferenced. */
ts_tensor *ts_from_data(const void *data, ts_dtype src_dtype, const int64_t *shape, int ndim, ts_dtype dtype,
                        ts_device device)
{
    static const size_t item[] = {4, 2, 2, 8, 8, 4, 1, 1};
    size_t n = item[src_dtype];
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= ((const unsigned char *)data)[i];
    (void)sink;
    static char dummy;
    return (ts_tensor *)&dummy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ti_safetensors *st = NULL;
    if (ti_safetensors_open_memory(data, size, "fuzz", &st) != TINV_OK) {
        /* Failures must leave a message naming the buffer. */
        if (st != NULL || strstr(tinv_last_error(), "fuzz") == NULL)
            abort();
        return 0;
    }
    size_t n = ti_safetensors_count(st);
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < n; i++) {
        const ti_st_tensor *t = ti_safetensors_at(st, i);
        if (t == NULL || ti_safetensors_find(st, t->name) != t)
            abort();
        /* Every byte the reader hands out must lie inside the input. */
        const unsigned char *p = t->data;
        if (p < data || p + t->nbytes > data + size)
            abort();
        for (size_t b = 0; b < t->nbytes; b++)
            sink ^= p[b];
        if (t->numel > 0 && t->numel <= (1 << 20)) {
            float *f = malloc((size_t)t->numel * sizeof *f);
            if (f != NULL && ti_st_to_f32(t, f, (size_t)t->numel) != TINV_OK)
                abort();
            free(f);
        }
        ts_tensor *x;
        tinv_status s = ti_st_to_tensor(t, TS_F32, (ts_device){TS_CPU, 0}, t->shape, t->ndim, &x);
        if (s != TINV_OK && s != TINV_ERR_UNSUPPORTED)
            abort();
    }
    for (size_t i = 0; i < ti_safetensors_metadata_count(st); i++) {
        const char *value;
        const char *key = ti_safetensors_metadata_at(st, i, &value);
        if (key == NULL || value == NULL || ti_safetensors_metadata(st, key) == NULL)
            abort();
    }
    (void)sink;
    ti_safetensors_close(st);
    return 0;
}
