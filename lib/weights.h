/* A model's named weights: diffusers tensor names -> shim tensors owned by the store. */
#ifndef TI_WEIGHTS_H
#define TI_WEIGHTS_H

#include "tinv.h"
#include "../shim/shim.h"
#include "safetensors.h"

typedef struct ti_weights ti_weights;

tinv_status ti_weights_create(ts_dtype dtype, ts_device device, ti_weights **out);
void ti_weights_free(ti_weights *w);

/* Load every floating-point tensor of a safetensors file, converted to the store's dtype and
 * device, under "<prefix><name>". Weights holding NaN or infinity are refused (TINV_ERR_NUMERIC
 * naming file and tensor). */
tinv_status ti_weights_load_file(ti_weights *w, const char *path, const char *prefix);

/* Take ownership of `t` (detached from any scope) under `name`; replaces an existing entry. */
tinv_status ti_weights_put(ti_weights *w, const char *name, ts_tensor *t);

/* The tensor named by the printf-style name, or NULL with a TINV_ERR_BAD_FORMAT error naming it.
 * The store keeps ownership. */
ts_tensor *ti_weights_get(const ti_weights *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Like ti_weights_get, but a missing tensor is not an error (returns NULL, records nothing). */
ts_tensor *ti_weights_find(const ti_weights *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* TINV_OK when `name` exists with exactly `shape`; else TINV_ERR_BAD_FORMAT naming the tensor and both shapes. */
tinv_status ti_weights_check(const ti_weights *w, const char *name, const int64_t *shape, int ndim);

/* Entries in name order: the tensor at 0 <= i < ti_weights_count (its name in *name), or NULL. */
ts_tensor *ti_weights_at(const ti_weights *w, size_t i, const char **name);

/* Write the entries whose names start with `prefix` (stripped) to a safetensors file at `path`
 * (atomically), as TI_ST_F32 or TI_ST_F16. */
tinv_status ti_weights_save(const ti_weights *w, const char *prefix, ti_st_dtype dtype, const char *path);

size_t ti_weights_count(const ti_weights *w);
ts_dtype ti_weights_dtype(const ti_weights *w);
ts_device ti_weights_device(const ti_weights *w);

#endif
