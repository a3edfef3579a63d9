/* Bridge from safetensors entries to shim tensors. Kept apart from the reader so the reader
 * (and its fuzz target) links without libtorch. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "safetensors.h"

tinv_status ti_st_ts_dtype(ti_st_dtype dtype, ts_dtype *out)
{
    switch (dtype) {
    case TI_ST_F32: *out = TS_F32; return TINV_OK;
    case TI_ST_F16: *out = TS_F16; return TINV_OK;
    case TI_ST_BF16: *out = TS_BF16; return TINV_OK;
    case TI_ST_F64: *out = TS_F64; return TINV_OK;
    case TI_ST_I64: *out = TS_I64; return TINV_OK;
    case TI_ST_I32: *out = TS_I32; return TINV_OK;
    case TI_ST_U8: *out = TS_U8; return TINV_OK;
    case TI_ST_BOOL: *out = TS_BOOL; return TINV_OK;
    default: break;
    }
    return ti_error(TINV_ERR_UNSUPPORTED, "safetensors dtype %s has no shim equivalent", ti_st_dtype_name(dtype));
}

tinv_status ti_st_to_tensor(const ti_st_tensor *t, ts_dtype dtype, ts_device device,
                            const int64_t *expect_shape, int expect_ndim, ts_tensor **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    TI_REQUIRE(t);
    if (expect_shape != NULL)
        TI_TRY(ti_st_check_shape(t, expect_shape, expect_ndim));
    ts_dtype src;
    if (ti_st_ts_dtype(t->dtype, &src) != TINV_OK)
        return ti_error(TINV_ERR_UNSUPPORTED, "%s: tensor '%.200s' has dtype %s, which cannot be loaded", t->file,
                        t->name, ti_st_dtype_name(t->dtype));

    /* The format does not align data; libtorch expects element-aligned memory, so copy
     * misaligned (or empty, possibly end-of-mapping) data into a fresh buffer first. */
    size_t item = ti_st_dtype_size(t->dtype);
    const void *data = t->data;
    void *copy = NULL;
    if (t->nbytes == 0 || (uintptr_t)data % item != 0) {
        copy = malloc(t->nbytes ? t->nbytes : item);
        if (copy == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory copying tensor '%.200s'", t->file, t->name);
        memcpy(copy, data, t->nbytes);
        data = copy;
    }
    ts_tensor *x = ts_from_data(data, src, t->shape, t->ndim, dtype, device);
    free(copy);
    if (x == NULL)
        return ti_error_prefix("%s: tensor '%.200s'", t->file, t->name);
    *out = x;
    return TINV_OK;
}

tinv_status ti_safetensors_load(const ti_safetensors *st, const char *name, ts_dtype dtype, ts_device device,
                                const int64_t *expect_shape, int expect_ndim, ts_tensor **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    const ti_st_tensor *t;
    TI_TRY(ti_safetensors_require(st, name, &t));
    return ti_st_to_tensor(t, dtype, device, expect_shape, expect_ndim, out);
}
