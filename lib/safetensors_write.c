/* safetensors writer: header + tensors in the given order, written to "<path>.tmp" and renamed
 * into place so a crash never leaves a half-written file under the real name. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

static tinv_status entry_nbytes(const char *path, const ti_st_entry *e, size_t *out)
{
    if (e->name == NULL || e->name[0] == '\0')
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: a tensor has no name", path);
    if (strcmp(e->name, "__metadata__") == 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: '__metadata__' cannot name a tensor", path);
    size_t item = ti_st_dtype_size(e->dtype);
    if (item == 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: tensor '%s' has invalid dtype %d", path, e->name,
                        (int)e->dtype);
    if (e->ndim < 0 || e->ndim > TI_ST_MAX_DIMS || (e->ndim > 0 && e->shape == NULL))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: tensor '%s' has invalid ndim %d", path, e->name, e->ndim);
    size_t n = item;
    for (int i = 0; i < e->ndim; i++) {
        int64_t d = e->shape[i];
        if (d < 0 || (d > 0 && n > SIZE_MAX / (uint64_t)d))
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: tensor '%s' has invalid shape (dim %d = %lld)", path,
                            e->name, i, (long long)d);
        n *= (size_t)d;
    }
    if (n > 0 && e->data == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: tensor '%s' has no data", path, e->name);
    *out = n;
    return TINV_OK;
}

/* The JSON header for `entries`, or NULL with the error set. Offsets follow the given order. */
static char *build_header(const char *path, const ti_st_entry *entries, size_t n, const char *const *metadata,
                          size_t n_metadata)
{
    json_t *root = json_object();
    if (root == NULL) {
        ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        return NULL;
    }
    if (n_metadata > 0) {
        json_t *meta = json_object();
        if (meta == NULL || json_object_set_new(root, "__metadata__", meta) != 0)
            goto oom;
        for (size_t i = 0; i < n_metadata; i++) {
            const char *k = metadata[2 * i], *v = metadata[2 * i + 1];
            if (k == NULL || v == NULL) {
                ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: metadata pair %zu has a NULL key or value", path, i);
                goto fail;
            }
            if (json_object_get(meta, k) != NULL) {
                ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: duplicate metadata key '%s'", path, k);
                goto fail;
            }
            json_t *jv = json_string(v);
            /* json_string and the key setter refuse invalid UTF-8. */
            if (jv == NULL || json_object_set_new(meta, k, jv) != 0) {
                ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: metadata '%s' is not valid UTF-8", path, k);
                goto fail;
            }
        }
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const ti_st_entry *e = &entries[i];
        size_t nbytes;
        if (entry_nbytes(path, e, &nbytes) != TINV_OK)
            goto fail;
        if (json_object_get(root, e->name) != NULL) {
            ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: duplicate tensor name '%s'", path, e->name);
            goto fail;
        }
        json_t *shape = json_array();
        if (shape == NULL)
            goto oom;
        for (int d = 0; d < e->ndim; d++) {
            if (json_array_append_new(shape, json_integer((json_int_t)e->shape[d])) != 0) {
                json_decref(shape);
                goto oom;
            }
        }
        json_t *obj = json_pack("{s:s, s:o, s:[I,I]}", "dtype", ti_st_dtype_name(e->dtype), "shape", shape,
                                "data_offsets", (json_int_t)offset, (json_int_t)(offset + nbytes));
        if (obj == NULL)
            goto oom;
        if (json_object_set_new(root, e->name, obj) != 0) {
            ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: tensor name '%s' is not valid UTF-8", path, e->name);
            goto fail;
        }
        offset += nbytes;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return text;

oom:
    ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);
fail:
    json_decref(root);
    return NULL;
}

static int write_all(int fd, const void *buf, size_t size)
{
    const char *p = buf;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        size -= (size_t)w;
    }
    return 0;
}

/* Make the rename durable; failure here is not worth failing the save for. */
static void sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

tinv_status ti_safetensors_write(const char *path, const ti_st_entry *entries, size_t n,
                                 const char *const *metadata, size_t n_metadata)
{
    TI_REQUIRE(path);
    if (n > 0)
        TI_REQUIRE(entries);
    if (n_metadata > 0)
        TI_REQUIRE(metadata);

    char *header = build_header(path, entries, n, metadata, n_metadata);
    if (header == NULL)
        return tinv_last_status();
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (tmp == NULL) {
        free(header);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    tinv_status status = TINV_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        status = ti_error(TINV_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "        ";
    int failed = write_all(fd, len8, 8) || write_all(fd, header, hlen) || write_all(fd, spaces, padded - hlen);
    for (size_t i = 0; i < n && !failed; i++) {
        size_t nbytes = 0;
        entry_nbytes(path, &entries[i], &nbytes); /* validated by build_header */
        if (nbytes > 0)
            failed = write_all(fd, entries[i].data, nbytes);
    }
    if (failed || fsync(fd) != 0) {
        status = ti_error(TINV_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    if (close(fd) != 0) {
        status = ti_error(TINV_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        status = ti_error(TINV_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        unlink(tmp);
        goto done;
    }
    sync_parent_dir(path);

done:
    free(tmp);
    free(header);
    return status;
}
