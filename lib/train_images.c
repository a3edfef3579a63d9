/* Training pictures: folder scan, load + resize, crops as float CHW (see train_images.h). */
#include "train_images.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

/* ---- folder scan ----------------------------------------------------------------------- */

typedef struct name_list {
    char **names;
    size_t count, cap;
} name_list;

static void name_list_free(name_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static tinv_status name_list_add(name_list *l, const char *name)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **grown = realloc(l->names, cap * sizeof *grown);
        if (grown == NULL)
            return ti_error(TINV_ERR_OUT_OF_MEMORY, "training images: out of memory");
        l->names = grown;
        l->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "training images: out of memory");
    l->names[l->count++] = copy;
    return TINV_OK;
}

/* Byte order, not the locale's collation: the same folder gives the same order everywhere. */
static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular, non-hidden files of `dir`, sorted. Symlinks count as what they point to, so a
 * folder of links into a photo library works; other entries (sub-folders, ...) are passed over. */
static tinv_status list_files(const char *dir, const ti_logger *log, name_list *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return ti_error(TINV_ERR_IO, "training image folder '%s' does not exist", dir);
        return ti_error(TINV_ERR_IO, "cannot open training image folder '%s': %s", dir, strerror(errno));
    }
    tinv_status st = TINV_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (e == NULL) {
            if (errno != 0)
                st = ti_error(TINV_ERR_IO, "cannot read training image folder '%s': %s", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.')
            continue; /* hidden files, "." and ".." */
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, 0) != 0) {
            /* e.g. a dangling symlink: keep it, so loading reports why it was skipped. */
            sb.st_mode = S_IFREG;
        }
        if (!S_ISREG(sb.st_mode)) {
            ti_log(log, TINV_LOG_DEBUG, "training images: ignoring '%s' (not a regular file)", e->d_name);
            continue;
        }
        st = name_list_add(out, e->d_name);
        if (st != TINV_OK)
            break;
    }
    closedir(d);
    if (st != TINV_OK) {
        name_list_free(out);
        return st;
    }
    if (out->count > 1)
        qsort(out->names, out->count, sizeof *out->names, cmp_names);
    return TINV_OK;
}

/* ---- loading --------------------------------------------------------------------------- */

/* The image module's messages start with "<path>: "; drop that, the warning names the file. */
static const char *reason_without_path(const char *msg, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
        return msg + n + 2;
    return msg;
}

/* Load and resize one file into `item`. TINV_OK, a skip (other status, warning already logged),
 * or TINV_ERR_OUT_OF_MEMORY, which ends the whole load. */
static tinv_status load_one(const char *path, const char *name, int resolution, const ti_logger *log,
                            ti_train_image *item)
{
    ti_image raw;
    tinv_status st = ti_image_load(path, 3, &raw);
    if (st == TINV_ERR_OUT_OF_MEMORY)
        return st;
    if (st != TINV_OK) {
        ti_log(log, TINV_LOG_WARN, "training images: skipping '%s': %s", name,
               reason_without_path(tinv_last_error(), path));
        return st;
    }
    int w = raw.width, h = raw.height;
    if (w < resolution || h < resolution)
        ti_log(log, TINV_LOG_WARN, "training images: '%s' is %dx%d, smaller than the resolution %d; upscaling it",
               name, w, h, resolution);
    if ((w <= h ? w : h) == resolution) {
        item->image = raw; /* already the right size: the resize would be an identity */
    } else {
        st = ti_image_resize_short_side(&raw, resolution, &item->image);
        ti_image_free(&raw);
        if (st == TINV_ERR_OUT_OF_MEMORY)
            return st;
        if (st != TINV_OK) {
            /* e.g. a panorama whose long side would exceed the image limits */
            ti_log(log, TINV_LOG_WARN, "training images: skipping '%s' (%dx%d): %s", name, w, h, tinv_last_error());
            return st;
        }
    }
    item->name = strdup(name);
    if (item->name == NULL) {
        ti_image_free(&item->image);
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "training images: out of memory");
    }
    item->orig_width = w;
    item->orig_height = h;
    return TINV_OK;
}

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = malloc(dl + (size_t)slash + nl + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + (size_t)slash, name, nl + 1);
    return p;
}

static int is_caption_file(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".txt") == 0;
}

/* The caption beside image `name` ("cat.png" -> "cat.txt"): its first line, or NULL when there is
 * none or it lacks the "{}" placeholder (warned: the image then trains with the templates). */
static tinv_status load_caption(const char *dir, const char *name, const ti_logger *log, char **out)
{
    *out = NULL;
    const char *dot = strrchr(name, '.');
    size_t stem = dot ? (size_t)(dot - name) : strlen(name);
    char txt[4096];
    if (snprintf(txt, sizeof txt, "%s/%.*s.txt", dir, (int)stem, name) >= (int)sizeof txt)
        return TINV_OK;
    FILE *f = fopen(txt, "r");
    if (f == NULL)
        return TINV_OK;
    char line[1024];
    int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got)
        return TINV_OK;
    line[strcspn(line, "\r\n")] = '\0';
    if (strstr(line, "{}") == NULL) {
        ti_log(log, TINV_LOG_WARN, "training images: caption of '%s' has no {} for the token; using the templates",
               name);
        return TINV_OK;
    }
    *out = strdup(line);
    return *out ? TINV_OK : ti_error(TINV_ERR_OUT_OF_MEMORY, "training images: out of memory");
}

tinv_status ti_train_images_load(const char *dir, int resolution, const ti_logger *log, ti_train_images *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(dir);
    if (resolution <= 0 || resolution > TI_IMAGE_MAX_SIDE)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "training images: invalid resolution %d", resolution);

    name_list files = {0};
    TI_TRY(list_files(dir, log, &files));
    if (files.count == 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "training image folder '%s' holds no files", dir);
    if (files.count > (size_t)INT32_MAX) {
        name_list_free(&files);
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "training image folder '%s' holds too many files", dir);
    }

    ti_train_images set = {0};
    set.resolution = resolution;
    set.items = calloc(files.count, sizeof *set.items);
    tinv_status st = set.items != NULL ? TINV_OK : ti_error(TINV_ERR_OUT_OF_MEMORY, "training images: out of memory");
    for (size_t i = 0; st == TINV_OK && i < files.count; i++) {
        if (is_caption_file(files.names[i]))
            continue;
        char *path = join_path(dir, files.names[i]);
        if (path == NULL) {
            st = ti_error(TINV_ERR_OUT_OF_MEMORY, "training images: out of memory");
            break;
        }
        tinv_status one = load_one(path, files.names[i], resolution, log, &set.items[set.count]);
        free(path);
        if (one == TINV_OK)
            st = load_caption(dir, files.names[i], log, &set.items[set.count++].caption);
        else if (one == TINV_ERR_OUT_OF_MEMORY)
            st = one;
        else
            set.skipped++;
    }
    name_list_free(&files);
    if (st == TINV_OK && set.count == 0)
        st = ti_error(TINV_ERR_INVALID_ARGUMENT,
                      "training image folder '%s' holds no usable images (%d file%s skipped; PNG and JPEG are read)",
                      dir, set.skipped, set.skipped == 1 ? "" : "s");
    if (st != TINV_OK) {
        ti_train_images_free(&set);
        return st;
    }
    ti_log(log, TINV_LOG_INFO, "training images: %d loaded from '%s' at resolution %d, %d skipped", set.count, dir,
           resolution, set.skipped);
    *out = set;
    return TINV_OK;
}

void ti_train_images_free(ti_train_images *set)
{
    if (set == NULL)
        return;
    if (set->items != NULL) {
        for (int i = 0; i < set->count; i++) {
            free(set->items[i].name);
            free(set->items[i].caption);
            ti_image_free(&set->items[i].image);
        }
        free(set->items);
    }
    memset(set, 0, sizeof *set);
}

/* ---- crops ----------------------------------------------------------------------------- */

static tinv_status get_image(const ti_train_images *set, int index, const ti_image **img)
{
    TI_REQUIRE(set);
    if (index < 0 || index >= set->count)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "training images: index %d out of range (%d images)", index,
                        set->count);
    *img = &set->items[index].image;
    return TINV_OK;
}

tinv_status ti_train_image_crop_range(const ti_train_images *set, int index, int *max_x, int *max_y)
{
    TI_REQUIRE(max_x);
    TI_REQUIRE(max_y);
    const ti_image *img = NULL;
    TI_TRY(get_image(set, index, &img));
    *max_x = img->width - set->resolution;
    *max_y = img->height - set->resolution;
    return TINV_OK;
}

tinv_status ti_train_image_center(const ti_train_images *set, int index, int *x, int *y)
{
    TI_REQUIRE(x);
    TI_REQUIRE(y);
    int mx, my;
    TI_TRY(ti_train_image_crop_range(set, index, &mx, &my));
    /* Both are >= 0, so C's division rounds down like Python's //. */
    *x = mx / 2;
    *y = my / 2;
    return TINV_OK;
}

tinv_status ti_train_image_crop(const ti_train_images *set, int index, int x, int y, int flip, float *chw)
{
    TI_REQUIRE(chw);
    int mx, my;
    TI_TRY(ti_train_image_crop_range(set, index, &mx, &my));
    if (x < 0 || y < 0 || x > mx || y > my)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "training images: crop offset (%d, %d) of '%s' outside [0, %d] x [0, %d]",
                        x, y, set->items[index].name, mx, my);
    const ti_image *img = &set->items[index].image;
    const size_t res = (size_t)set->resolution, plane = res * res, w = (size_t)img->width;
    for (size_t r = 0; r < res; r++) {
        const uint8_t *row = img->pixels + ((size_t)y + r) * w * 3 + (size_t)x * 3;
        for (size_t c = 0; c < res; c++) {
            /* Flip after cropping: output column c reads crop column res-1-c. */
            const uint8_t *px = row + 3 * (flip ? res - 1 - c : c);
            size_t o = r * res + c;
            /* In double then cast, like numpy's (image / 127.5 - 1.0).astype(float32). */
            chw[o] = (float)(px[0] / 127.5 - 1.0);
            chw[plane + o] = (float)(px[1] / 127.5 - 1.0);
            chw[2 * plane + o] = (float)(px[2] / 127.5 - 1.0);
        }
    }
    return TINV_OK;
}
