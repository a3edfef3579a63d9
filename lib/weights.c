/* Named weight store: a sorted array of (name, tensor) with binary-search look-up. */
#include "weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "safetensors.h"

typedef struct entry {
    char *name;
    ts_tensor *tensor;
    size_t seq; /* insertion order: among equal names the last put wins */
} entry;

struct ti_weights {
    entry *items;
    size_t count, cap;
    int sorted;
    ts_dtype dtype;
    ts_device device;
};

tinv_status ti_weights_create(ts_dtype dtype, ts_device device, ti_weights **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory creating a weight store");
    (*out)->dtype = dtype;
    (*out)->device = device;
    (*out)->sorted = 1;
    return TINV_OK;
}

void ti_weights_free(ti_weights *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->items[i].name);
        ts_free(w->items[i].tensor);
    }
    free(w->items);
    free(w);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int compare_entries(const void *a, const void *b)
{
    int c = compare_names(a, b);
    if (c != 0)
        return c;
    return ((const entry *)a)->seq < ((const entry *)b)->seq ? -1 : 1;
}

/* Sort by (name, seq) and keep only the newest entry of each name. */
static void sort_and_dedupe(ti_weights *w)
{
    qsort(w->items, w->count, sizeof *w->items, compare_entries);
    size_t kept = 0;
    for (size_t i = 0; i < w->count; i++) {
        if (i + 1 < w->count && strcmp(w->items[i].name, w->items[i + 1].name) == 0) {
            free(w->items[i].name);
            ts_free(w->items[i].tensor);
            continue;
        }
        w->items[kept++] = w->items[i];
    }
    w->count = kept;
    w->sorted = 1;
}

static entry *lookup(const ti_weights *w, const char *name)
{
    if (w->count == 0)
        return NULL; /* bsearch/qsort must not see a NULL array */
    if (!w->sorted) /* sorting lazily keeps loading O(n log n) however many puts there are */
        sort_and_dedupe((ti_weights *)w);
    entry key = {(char *)name, NULL, 0};
    return bsearch(&key, w->items, w->count, sizeof *w->items, compare_names);
}

tinv_status ti_weights_put(ti_weights *w, const char *name, ts_tensor *t)
{
    ts_detach(t);
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        entry *grown = realloc(w->items, cap * sizeof *grown);
        if (grown == NULL) {
            ts_free(t);
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory growing the weight store");
        }
        w->items = grown;
        w->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        ts_free(t);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
    }
    w->items[w->count] = (entry){copy, t, w->count};
    w->count++;
    w->sorted = 0;
    return TINV_OK;
}

static int is_float(ti_st_dtype d)
{
    return d == TI_ST_F32 || d == TI_ST_F16 || d == TI_ST_BF16 || d == TI_ST_F64;
}

tinv_status ti_weights_load_file(ti_weights *w, const char *path, const char *prefix)
{
    ti_safetensors *st = NULL;
    TI_TRY(ti_safetensors_open(path, &st));
    tinv_status status = TINV_OK;
    for (size_t i = 0; i < ti_safetensors_count(st) && status == TINV_OK; i++) {
        const ti_st_tensor *info = ti_safetensors_at(st, i);
        if (!is_float(info->dtype))
            continue; /* e.g. position_ids buffers */
        ts_tensor *t = NULL;
        status = ti_st_to_tensor(info, w->dtype, w->device, NULL, 0, &t);
        if (status != TINV_OK)
            break;
        if (!ts_all_finite(t)) {
            ts_free(ts_detach(t));
            status = ti_error(TINV_ERR_NUMERIC, "%s: tensor '%s' contains NaN or infinity", path, info->name);
            break;
        }
        char name[512];
        snprintf(name, sizeof name, "%s%s", prefix, info->name);
        status = ti_weights_put(w, name, t);
    }
    ti_safetensors_close(st);
    return status;
}

static ts_tensor *vfind(const ti_weights *w, int required, const char *fmt, va_list ap)
{
    char name[512];
    vsnprintf(name, sizeof name, fmt, ap);
    entry *e = lookup(w, name);
    if (e == NULL && required)
        ti_error(TINV_ERR_BAD_FORMAT, "missing weight '%s'", name);
    return e ? e->tensor : NULL;
}

ts_tensor *ti_weights_get(const ti_weights *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_tensor *t = vfind(w, 1, fmt, ap);
    va_end(ap);
    return t;
}

ts_tensor *ti_weights_find(const ti_weights *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_tensor *t = vfind(w, 0, fmt, ap);
    va_end(ap);
    return t;
}

ts_tensor *ti_weights_at(const ti_weights *w, size_t i, const char **name)
{
    if (!w->sorted)
        sort_and_dedupe((ti_weights *)w);
    if (i >= w->count)
        return NULL;
    if (name)
        *name = w->items[i].name;
    return w->items[i].tensor;
}

tinv_status ti_weights_save(const ti_weights *w, const char *prefix, ti_st_dtype dtype, const char *path)
{
    size_t n = ti_weights_count(w), plen = strlen(prefix), kept = 0;
    ti_st_entry *entries = calloc(n ? n : 1, sizeof *entries);
    int64_t(*shapes)[TS_MAX_DIMS] = calloc(n ? n : 1, sizeof *shapes);
    void **data = calloc(n ? n : 1, sizeof *data);
    tinv_status st = entries && shapes && data ? TINV_OK : ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    ts_dtype host = dtype == TI_ST_F16 ? TS_F16 : TS_F32;
    for (size_t i = 0; st == TINV_OK && i < n; i++) {
        const char *name = "";
        ts_tensor *t = ti_weights_at(w, i, &name);
        if (strncmp(name, prefix, plen) != 0)
            continue;
        int nd = ts_ndim(t);
        for (int d = 0; d < nd; d++)
            shapes[kept][d] = ts_size(t, d);
        size_t numel = (size_t)ts_numel(t);
        data[kept] = malloc((numel ? numel : 1) * (host == TS_F16 ? 2 : 4));
        st = data[kept] ? ts_to_host(t, data[kept], host, numel) : ti_error(TINV_ERR_OUT_OF_MEMORY, "out of memory");
        entries[kept] = (ti_st_entry){name + plen, dtype, nd, shapes[kept], data[kept]};
        kept++;
    }
    static const char *const metadata[2] = {"format", "pt"};
    if (st == TINV_OK)
        st = ti_safetensors_write(path, entries, kept, metadata, 1);
    for (size_t i = 0; data && i < kept; i++)
        free(data[i]);
    free(entries);
    free(shapes);
    free(data);
    return st;
}

size_t ti_weights_count(const ti_weights *w)
{
    if (!w->sorted)
        sort_and_dedupe((ti_weights *)w);
    return w->count;
}
ts_dtype ti_weights_dtype(const ti_weights *w) { return w->dtype; }
ts_device ti_weights_device(const ti_weights *w) { return w->device; }

static void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

tinv_status ti_weights_check(const ti_weights *w, const char *name, const int64_t *shape, int ndim)
{
    entry *e = lookup(w, name);
    if (e == NULL)
        return ti_error(TINV_ERR_BAD_FORMAT, "missing weight '%s'", name);
    int64_t actual[TS_MAX_DIMS];
    int actual_ndim = ts_ndim(e->tensor);
    int same = actual_ndim == ndim;
    for (int i = 0; i < actual_ndim && i < TS_MAX_DIMS; i++) {
        actual[i] = ts_size(e->tensor, i);
        same = same && (i >= ndim || actual[i] == shape[i]);
    }
    if (same)
        return TINV_OK;
    char want[128], got[128];
    format_shape(want, sizeof want, shape, ndim);
    format_shape(got, sizeof got, actual, actual_ndim);
    return ti_error(TINV_ERR_BAD_FORMAT, "weight '%s' has shape %s, the config needs %s", name, got, want);
}
