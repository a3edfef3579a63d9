/* safetensors reader: maps a file (or borrows a buffer) and validates its header completely
 * before handing out any tensor. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

typedef struct ti_st_meta {
    char *key;
    char *value;
} ti_st_meta;

struct ti_safetensors {
    char *label;
    const unsigned char *base; /* whole file */
    size_t size;
    void *map; /* non-NULL when we own a mapping of `size` bytes */
    ti_st_tensor *tensors;     /* sorted by offset */
    size_t count;
    const ti_st_tensor **by_name; /* sorted by name, for bsearch */
    ti_st_meta *meta;
    size_t n_meta;
};

/* Names longer than this are cut in messages, so one hostile name cannot hide the rest. */
#define NAME_FMT "%.200s"

/* ---- dtypes ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [TI_ST_F32] = {"F32", 4}, [TI_ST_F16] = {"F16", 2}, [TI_ST_BF16] = {"BF16", 2},
    [TI_ST_F64] = {"F64", 8}, [TI_ST_I64] = {"I64", 8}, [TI_ST_I32] = {"I32", 4},
    [TI_ST_I16] = {"I16", 2}, [TI_ST_I8] = {"I8", 1},   [TI_ST_U8] = {"U8", 1},
    [TI_ST_BOOL] = {"BOOL", 1},
};
enum { N_DTYPES = sizeof dtype_info / sizeof dtype_info[0] };

const char *ti_st_dtype_name(ti_st_dtype dtype)
{
    return (unsigned)dtype < N_DTYPES ? dtype_info[dtype].name : "?";
}

size_t ti_st_dtype_size(ti_st_dtype dtype)
{
    return (unsigned)dtype < N_DTYPES ? dtype_info[dtype].size : 0;
}

tinv_status ti_st_dtype_parse(const char *name, ti_st_dtype *out)
{
    for (int i = 0; i < N_DTYPES; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (ti_st_dtype)i;
            return TINV_OK;
        }
    }
    return TINV_ERR_BAD_FORMAT;
}

/* ---- header validation -------------------------------------------------------------- */

static tinv_status bad(const ti_safetensors *st, const char *tensor, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* "file: tensor 'x': <detail>" or "file: <detail>". */
static tinv_status bad(const ti_safetensors *st, const char *tensor, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (tensor != NULL)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: tensor '" NAME_FMT "': %s", st->label, tensor, detail);
    return ti_error(TINV_ERR_BAD_FORMAT, "%s: %s", st->label, detail);
}

static tinv_status parse_metadata(ti_safetensors *st, json_t *obj)
{
    if (!json_is_object(obj))
        return bad(st, NULL, "\"__metadata__\" is not an object");
    size_t n = json_object_size(obj);
    if (n == 0)
        return TINV_OK;
    st->meta = calloc(n, sizeof *st->meta);
    if (st->meta == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory reading metadata", st->label);
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        if (!json_is_string(value))
            return bad(st, NULL, "metadata value of '" NAME_FMT "' is not a string", key);
        ti_st_meta *m = &st->meta[st->n_meta];
        m->key = strdup(key);
        m->value = strdup(json_string_value(value));
        if (m->key == NULL || m->value == NULL) {
            free(m->key);
            free(m->value);
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory reading metadata", st->label);
        }
        st->n_meta++;
    }
    return TINV_OK;
}

/* Read a JSON integer that must be >= 0. */
static int get_nonneg(json_t *v, int64_t *out)
{
    if (!json_is_integer(v))
        return 0;
    json_int_t x = json_integer_value(v);
    if (x < 0)
        return 0;
    *out = (int64_t)x;
    return 1;
}

static void format_shape(char *buf, size_t size, const int64_t *shape, int ndim)
{
    size_t used = 0;
    int n = snprintf(buf, size, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < ndim && used < size; i++) {
        n = snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static tinv_status parse_tensor(ti_safetensors *st, const char *name, json_t *obj, size_t data_size,
                                ti_st_tensor *t)
{
    if (name[0] == '\0')
        return bad(st, NULL, "a tensor has an empty name");
    if (!json_is_object(obj))
        return bad(st, name, "entry is not an object");

    json_t *jdtype = json_object_get(obj, "dtype");
    if (!json_is_string(jdtype))
        return bad(st, name, "missing or non-string \"dtype\"");
    if (ti_st_dtype_parse(json_string_value(jdtype), &t->dtype) != TINV_OK)
        return bad(st, name, "unknown dtype '%.40s'", json_string_value(jdtype));

    json_t *jshape = json_object_get(obj, "shape");
    if (!json_is_array(jshape))
        return bad(st, name, "missing or non-array \"shape\"");
    size_t ndim = json_array_size(jshape);
    if (ndim > TI_ST_MAX_DIMS)
        return bad(st, name, "has %zu dimensions (at most %d supported)", ndim, TI_ST_MAX_DIMS);
    t->ndim = (int)ndim;
    t->numel = 1;
    for (size_t i = 0; i < ndim; i++) {
        int64_t d;
        if (!get_nonneg(json_array_get(jshape, i), &d))
            return bad(st, name, "shape entry %zu is not a non-negative integer", i);
        t->shape[i] = d;
        if (d != 0 && t->numel > INT64_MAX / d)
            return bad(st, name, "shape overflows the element count");
        t->numel *= d;
    }

    json_t *joff = json_object_get(obj, "data_offsets");
    int64_t begin, end;
    if (!json_is_array(joff) || json_array_size(joff) != 2 || !get_nonneg(json_array_get(joff, 0), &begin) ||
        !get_nonneg(json_array_get(joff, 1), &end))
        return bad(st, name, "\"data_offsets\" must be two non-negative integers");
    if (begin > end || (uint64_t)end > data_size)
        return bad(st, name, "data_offsets [%" PRId64 ", %" PRId64 "] out of range (data section is %zu bytes)",
                   begin, end, data_size);

    /* numel * itemsize must equal end - begin; divide instead of multiplying to avoid overflow. */
    uint64_t span = (uint64_t)(end - begin), item = ti_st_dtype_size(t->dtype);
    if (span % item != 0 || span / item != (uint64_t)t->numel) {
        char shape[256];
        format_shape(shape, sizeof shape, t->shape, t->ndim);
        if ((uint64_t)t->numel > UINT64_MAX / item)
            return bad(st, name, "shape %s of %s is too large for data_offsets spanning %" PRIu64 " bytes", shape,
                       ti_st_dtype_name(t->dtype), span);
        return bad(st, name, "shape %s of %s needs %" PRIu64 " bytes but data_offsets span %" PRIu64, shape,
                   ti_st_dtype_name(t->dtype), (uint64_t)t->numel * item, span);
    }
    t->offset = (size_t)begin;
    t->nbytes = (size_t)span;
    return TINV_OK;
}

static int cmp_offset(const void *a, const void *b)
{
    const ti_st_tensor *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b)
{
    const ti_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Validate the whole buffer in st->base/size and build the tensor table. */
static tinv_status parse(ti_safetensors *st)
{
    if (st->size == 0)
        return bad(st, NULL, "file is empty");
    if (st->size < 8)
        return bad(st, NULL, "truncated: %zu bytes, shorter than the 8-byte header length", st->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | st->base[i];
    if (n > st->size - 8)
        return bad(st, NULL, "header length %" PRIu64 " exceeds the %zu bytes after it (truncated?)", n,
                   st->size - 8);
    if (n > TI_ST_MAX_HEADER)
        return bad(st, NULL, "header length %" PRIu64 " exceeds the limit of %" PRIu64, n, TI_ST_MAX_HEADER);
    size_t data_size = st->size - 8 - (size_t)n;

    json_error_t jerr;
    /* Duplicate keys are rejected by the parser, so tensor names are unique. */
    json_t *root = json_loadb((const char *)st->base + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_duplicate_key)
            return bad(st, NULL, "header names a tensor twice: %s", jerr.text);
        return bad(st, NULL, "header is not valid JSON (line %d, column %d): %s", jerr.line, jerr.column,
                   jerr.text);
    }
    tinv_status status = TINV_OK;
    if (!json_is_object(root)) {
        status = bad(st, NULL, "header is not a JSON object");
        goto done;
    }

    size_t cap = json_object_size(root);
    st->tensors = calloc(cap ? cap : 1, sizeof *st->tensors);
    if (st->tensors == NULL) {
        status = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory reading the header", st->label);
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            status = parse_metadata(st, value);
        } else {
            ti_st_tensor *t = &st->tensors[st->count];
            status = parse_tensor(st, key, value, data_size, t);
            if (status == TINV_OK) {
                t->name = strdup(key);
                if (t->name == NULL)
                    status = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", st->label);
                else
                    st->count++;
            }
        }
        if (status != TINV_OK)
            goto done;
    }

    /* Overlap check in layout order; empty tensors occupy no bytes and are skipped. */
    qsort(st->tensors, st->count, sizeof *st->tensors, cmp_offset);
    const ti_st_tensor *prev = NULL;
    for (size_t i = 0; i < st->count; i++) {
        ti_st_tensor *t = &st->tensors[i];
        t->data = st->base + 8 + n + t->offset;
        t->file = st->label;
        if (t->nbytes == 0)
            continue;
        if (prev != NULL && prev->offset + prev->nbytes > t->offset) {
            status = bad(st, t->name, "data [%zu, %zu) overlaps tensor '" NAME_FMT "' [%zu, %zu)", t->offset,
                         t->offset + t->nbytes, prev->name, prev->offset, prev->offset + prev->nbytes);
            goto done;
        }
        prev = t;
    }

    st->by_name = malloc((st->count ? st->count : 1) * sizeof *st->by_name);
    if (st->by_name == NULL) {
        status = ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", st->label);
        goto done;
    }
    for (size_t i = 0; i < st->count; i++)
        st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, st->count, sizeof *st->by_name, cmp_name);

done:
    json_decref(root);
    return status;
}

/* ---- open / close ------------------------------------------------------------------- */

static tinv_status create(const char *label, ti_safetensors **out)
{
    ti_safetensors *st = calloc(1, sizeof *st);
    if (st == NULL || (st->label = strdup(label)) == NULL) {
        free(st);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", label);
    }
    *out = st;
    return TINV_OK;
}

tinv_status ti_safetensors_open_memory(const void *buf, size_t size, const char *label,
                                       ti_safetensors **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    if (buf == NULL && size > 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: argument 'buf' is NULL", __func__);
    ti_safetensors *st;
    TI_TRY(create(label != NULL ? label : "<memory>", &st));
    st->base = buf;
    st->size = size;
    tinv_status status = parse(st);
    if (status != TINV_OK) {
        ti_safetensors_close(st);
        return status;
    }
    *out = st;
    return TINV_OK;
}

tinv_status ti_safetensors_open(const char *path, ti_safetensors **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    TI_REQUIRE(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ti_error(TINV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ti_error(TINV_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ti_error(TINV_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ti_error(TINV_ERR_IO, "%s: file too large to map", path);
    }
    ti_safetensors *st;
    tinv_status status = create(path, &st);
    if (status != TINV_OK) {
        close(fd);
        return status;
    }
    st->size = (size_t)sb.st_size;
    /* mmap refuses length 0; an empty file is reported by parse(). */
    if (st->size > 0) {
        void *map = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            ti_safetensors_close(st);
            return ti_error(TINV_ERR_IO, "%s: cannot map %zu bytes: %s", path, (size_t)sb.st_size, strerror(e));
        }
        st->map = map;
        st->base = map;
    } else {
        st->base = (const unsigned char *)"";
    }
    close(fd); /* the mapping keeps the file alive */
    status = parse(st);
    if (status != TINV_OK) {
        ti_safetensors_close(st);
        return status;
    }
    *out = st;
    return TINV_OK;
}

void ti_safetensors_close(ti_safetensors *st)
{
    if (st == NULL)
        return;
    if (st->map != NULL)
        munmap(st->map, st->size);
    for (size_t i = 0; i < st->count; i++)
        free((char *)st->tensors[i].name);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->meta);
    free(st->tensors);
    free(st->by_name);
    free(st->label);
    free(st);
}

/* ---- lookup ------------------------------------------------------------------------- */

const char *ti_safetensors_label(const ti_safetensors *st) { return st ? st->label : ""; }

size_t ti_safetensors_count(const ti_safetensors *st) { return st ? st->count : 0; }

const ti_st_tensor *ti_safetensors_at(const ti_safetensors *st, size_t i)
{
    return st != NULL && i < st->count ? &st->tensors[i] : NULL;
}

const ti_st_tensor *ti_safetensors_find(const ti_safetensors *st, const char *name)
{
    if (st == NULL || name == NULL || st->count == 0)
        return NULL;
    ti_st_tensor key = {.name = name};
    const ti_st_tensor *pkey = &key;
    const ti_st_tensor *const *hit = bsearch(&pkey, st->by_name, st->count, sizeof *st->by_name, cmp_name);
    return hit ? *hit : NULL;
}

tinv_status ti_safetensors_require(const ti_safetensors *st, const char *name, const ti_st_tensor **out)
{
    TI_REQUIRE(st);
    TI_REQUIRE(name);
    TI_REQUIRE(out);
    *out = ti_safetensors_find(st, name);
    if (*out == NULL)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: missing tensor '" NAME_FMT "'", st->label, name);
    return TINV_OK;
}

const char *ti_safetensors_metadata(const ti_safetensors *st, const char *key)
{
    if (st == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

size_t ti_safetensors_metadata_count(const ti_safetensors *st) { return st ? st->n_meta : 0; }

const char *ti_safetensors_metadata_at(const ti_safetensors *st, size_t i, const char **value)
{
    if (st == NULL || i >= st->n_meta) {
        if (value)
            *value = NULL;
        return NULL;
    }
    if (value)
        *value = st->meta[i].value;
    return st->meta[i].key;
}

tinv_status ti_st_check_shape(const ti_st_tensor *t, const int64_t *shape, int ndim)
{
    TI_REQUIRE(t);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (same)
        return TINV_OK;
    char have[256], want[256];
    format_shape(have, sizeof have, t->shape, t->ndim);
    format_shape(want, sizeof want, shape, ndim > 0 && ndim <= TI_ST_MAX_DIMS ? ndim : 0);
    return ti_error(TINV_ERR_BAD_FORMAT, "%s: tensor '" NAME_FMT "' has shape %s, expected %s", t->file, t->name,
                    have, want);
}

/* ---- conversion --------------------------------------------------------------------- */

float ti_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / NaN, payload kept */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13); /* rebias 15 -> 127 */
    } else if (mant == 0) {
        bits = sign; /* ±0 */
    } else {
        /* Subnormal half: normalise the mantissa; every such value is a normal float. */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while ((mant & 0x400) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float ti_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Little-endian loads from possibly unaligned bytes. */
static uint64_t load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static float narrow_f64(double x)
{
    /* Out-of-range double -> float is undefined in C; IEEE rounds to inf from FLT_MAX + half an ulp. */
    if (isfinite(x) && fabs(x) >= (double)FLT_MAX + 0x1p103)
        return x < 0 ? -INFINITY : INFINITY;
    return (float)x;
}

tinv_status ti_st_to_f32(const ti_st_tensor *t, float *dst, size_t count)
{
    TI_REQUIRE(t);
    if ((uint64_t)count != (uint64_t)t->numel)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: tensor '" NAME_FMT "' has %" PRId64 " elements, buffer holds %zu",
                        t->file, t->name, t->numel, count);
    if (count > 0)
        TI_REQUIRE(dst);
    const unsigned char *p = t->data;
    for (size_t i = 0; i < count; i++) {
        switch (t->dtype) {
        case TI_ST_F32: {
            uint32_t bits = (uint32_t)load_le(p + 4 * i, 4);
            memcpy(&dst[i], &bits, sizeof bits);
            break;
        }
        case TI_ST_F16: dst[i] = ti_f16_to_f32((uint16_t)load_le(p + 2 * i, 2)); break;
        case TI_ST_BF16: dst[i] = ti_bf16_to_f32((uint16_t)load_le(p + 2 * i, 2)); break;
        case TI_ST_F64: {
            uint64_t bits = load_le(p + 8 * i, 8);
            double d;
            memcpy(&d, &bits, sizeof d);
            dst[i] = narrow_f64(d);
            break;
        }
        case TI_ST_I64: dst[i] = (float)(int64_t)load_le(p + 8 * i, 8); break;
        case TI_ST_I32: dst[i] = (float)(int32_t)(uint32_t)load_le(p + 4 * i, 4); break;
        case TI_ST_I16: dst[i] = (float)(int16_t)(uint16_t)load_le(p + 2 * i, 2); break;
        case TI_ST_I8: dst[i] = (float)(int8_t)p[i]; break;
        case TI_ST_U8: dst[i] = (float)p[i]; break;
        case TI_ST_BOOL: dst[i] = p[i] != 0 ? 1.0f : 0.0f; break;
        default:
            return ti_error(TINV_ERR_INTERNAL, "%s: tensor '" NAME_FMT "' has invalid dtype %d", t->file, t->name,
                            (int)t->dtype);
        }
    }
    return TINV_OK;
}
