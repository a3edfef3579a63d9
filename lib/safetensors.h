/*
 * safetensors.h — internal reader and writer of the safetensors format.
 *
 * Layout: an 8-byte little-endian u64 header length N, N bytes of JSON header
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the raw little-endian tensor data; offsets are relative to the start of the data.
 *
 * The reader trusts nothing in the file: the header length, every dtype, shape and offset
 * are checked before any tensor is handed out, so a malformed file gives
 * TINV_ERR_BAD_FORMAT with a message naming the file (and the tensor), never a crash.
 * Files are mapped read-only; tensor data pointers point into the mapping and stay valid
 * until ti_safetensors_close(). They may be unaligned (the format does not promise
 * alignment), so read them with memcpy or the helpers below. The library assumes a
 * little-endian host, like libtorch's own loaders.
 *
 * The conversion helpers that need libtorch (ti_st_to_tensor, ti_safetensors_load) live
 * in safetensors_tensor.c so the reader itself links without it (the fuzz target).
 */
#ifndef TI_SAFETENSORS_H
#define TI_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tinv.h"
#include "../shim/shim.h"

#define TI_ST_MAX_DIMS 8
/* Refuse headers larger than this (the reference implementation's limit too). */
#define TI_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

typedef enum ti_st_dtype {
    TI_ST_F32 = 0,
    TI_ST_F16,
    TI_ST_BF16,
    TI_ST_F64,
    TI_ST_I64,
    TI_ST_I32,
    TI_ST_I16,
    TI_ST_I8,
    TI_ST_U8,
    TI_ST_BOOL
} ti_st_dtype;

typedef struct ti_st_tensor {
    const char *name;
    ti_st_dtype dtype;
    int ndim;
    int64_t shape[TI_ST_MAX_DIMS];
    int64_t numel;
    const void *data;  /* raw little-endian bytes, possibly unaligned */
    size_t nbytes;     /* == numel * ti_st_dtype_size(dtype) */
    size_t offset;     /* begin offset within the data section */
    const char *file;  /* label of the owning file, for error messages */
} ti_st_tensor;

typedef struct ti_safetensors ti_safetensors;

/* "F32", "BF16", ... */
const char *ti_st_dtype_name(ti_st_dtype dtype);
/* Bytes per element (1 for BOOL). */
size_t ti_st_dtype_size(ti_st_dtype dtype);
/* Parse a dtype name; TINV_OK or TINV_ERR_BAD_FORMAT (no message is recorded). */
tinv_status ti_st_dtype_parse(const char *name, ti_st_dtype *out);

/* ---- reading ------------------------------------------------------------------------ */
/* Map and validate a file. TINV_ERR_IO when it cannot be opened/mapped. */
tinv_status ti_safetensors_open(const char *path, ti_safetensors **out);
/* Validate a buffer in memory. The buffer is borrowed, not copied: it must outlive the
 * handle. `label` (may be NULL) names it in error messages. */
tinv_status ti_safetensors_open_memory(const void *buf, size_t size, const char *label,
                                       ti_safetensors **out);
/* Unmap and free (NULL is accepted). */
void ti_safetensors_close(ti_safetensors *st);

/* The path or label given at open. */
const char *ti_safetensors_label(const ti_safetensors *st);
size_t ti_safetensors_count(const ti_safetensors *st);
/* Tensors in the order of their data offsets (the file's layout), 0 <= i < count. */
const ti_st_tensor *ti_safetensors_at(const ti_safetensors *st, size_t i);
/* The tensor named `name`, or NULL. */
const ti_st_tensor *ti_safetensors_find(const ti_safetensors *st, const char *name);
/* Like find, but a missing tensor is TINV_ERR_BAD_FORMAT "file: missing tensor 'name'". */
tinv_status ti_safetensors_require(const ti_safetensors *st, const char *name,
                                   const ti_st_tensor **out);
/* Value of a "__metadata__" key, or NULL. */
const char *ti_safetensors_metadata(const ti_safetensors *st, const char *key);
size_t ti_safetensors_metadata_count(const ti_safetensors *st);
/* The i-th metadata pair in header order; returns NULL key when i is out of range. */
const char *ti_safetensors_metadata_at(const ti_safetensors *st, size_t i, const char **value);

/* Check that `t` has exactly the expected shape; otherwise TINV_ERR_BAD_FORMAT
 * "file: tensor 'x' has shape [..], expected [..]". */
tinv_status ti_st_check_shape(const ti_st_tensor *t, const int64_t *shape, int ndim);

/* Convert all `count` (== numel) elements to float32 in `dst`. F16 and BF16 widen
 * exactly, F64 rounds to nearest (overflowing to ±inf), integers and BOOL convert by
 * value. */
tinv_status ti_st_to_f32(const ti_st_tensor *t, float *dst, size_t count);

/* Exact IEEE half / bfloat16 -> float conversions, exposed for tests. */
float ti_f16_to_f32(uint16_t h);
float ti_bf16_to_f32(uint16_t b);

/* ---- writing ------------------------------------------------------------------------ */
typedef struct ti_st_entry {
    const char *name;
    ti_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data; /* numel * itemsize bytes, little-endian; may be NULL when empty */
} ti_st_entry;

/* Write `n` tensors, in the order given, plus `n_metadata` key/value pairs
 * (metadata[2*i] = key, metadata[2*i+1] = value; may be NULL when n_metadata is 0).
 * Writes "<path>.tmp", fsyncs it and renames it over `path`, so readers never see a
 * partial file. The JSON header is padded with spaces to a multiple of 8 bytes. */
tinv_status ti_safetensors_write(const char *path, const ti_st_entry *entries, size_t n,
                                 const char *const *metadata, size_t n_metadata);

/* ---- libtorch bridge (safetensors_tensor.c) ---------------------------------------- */
/* Map a safetensors dtype to the shim's; TINV_ERR_UNSUPPORTED for I16/I8. */
tinv_status ti_st_ts_dtype(ti_st_dtype dtype, ts_dtype *out);
/* Copy `t` into a new shim tensor of `dtype` on `device` (converting as needed).
 * When `expect_shape` is non-NULL, the tensor must have that shape (ti_st_check_shape).
 * The new tensor follows the shim's ownership rules (current scope, if any). */
tinv_status ti_st_to_tensor(const ti_st_tensor *t, ts_dtype dtype, ts_device device,
                            const int64_t *expect_shape, int expect_ndim, ts_tensor **out);
/* ti_safetensors_require + ti_st_to_tensor. */
tinv_status ti_safetensors_load(const ti_safetensors *st, const char *name, ts_dtype dtype,
                                ts_device device, const int64_t *expect_shape, int expect_ndim,
                                ts_tensor **out);

#endif
