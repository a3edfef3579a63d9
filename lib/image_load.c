/* The image container, channel conversion, format dispatch by magic bytes / extension, and the
 * "<path>.tmp" + rename commit shared by the PNG and JPEG writers. */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "error.h"

tinv_status ti_image_check_dims(const char *label, uint64_t width, uint64_t height, tinv_status status)
{
    if (width == 0 || height == 0)
        return ti_error(status, "%s: image is %llux%llu (empty)", label, (unsigned long long)width,
                        (unsigned long long)height);
    if (width > TI_IMAGE_MAX_SIDE || height > TI_IMAGE_MAX_SIDE || width * height > TI_IMAGE_MAX_PIXELS)
        return ti_error(status, "%s: image is %llux%llu, too large (limits: %d per side, %llu pixels)", label,
                        (unsigned long long)width, (unsigned long long)height, TI_IMAGE_MAX_SIDE,
                        (unsigned long long)TI_IMAGE_MAX_PIXELS);
    return TINV_OK;
}

tinv_status ti_image_alloc(ti_image *img, int width, int height, int channels)
{
    TI_REQUIRE(img);
    memset(img, 0, sizeof *img);
    if (channels != 3 && channels != 4)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "image: %d channels (expected 3 or 4)", channels);
    if (width <= 0 || height <= 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "image: invalid size %dx%d", width, height);
    TI_TRY(ti_image_check_dims("image", (uint64_t)width, (uint64_t)height, TINV_ERR_INVALID_ARGUMENT));
    uint8_t *p = calloc((size_t)width * (size_t)height, (size_t)channels);
    if (p == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "image: out of memory for %dx%dx%d", width, height, channels);
    img->width = width;
    img->height = height;
    img->channels = channels;
    img->pixels = p;
    return TINV_OK;
}

void ti_image_free(ti_image *img)
{
    if (img == NULL)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

tinv_status ti_image_check(const ti_image *img, const char *what)
{
    if (img == NULL)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: image is NULL", what);
    if (img->pixels == NULL || img->width <= 0 || img->height <= 0 || (img->channels != 3 && img->channels != 4))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: invalid image (%dx%dx%d%s)", what, img->width, img->height,
                        img->channels, img->pixels == NULL ? ", no pixels" : "");
    return ti_image_check_dims(what, (uint64_t)img->width, (uint64_t)img->height, TINV_ERR_INVALID_ARGUMENT);
}

void ti_image_rgba_to_rgb(uint8_t *dst, const uint8_t *src, size_t n, int flags)
{
    for (size_t i = 0; i < n; i++) {
        /* Read the whole pixel before writing: in place, dst pixel i overlaps src pixel i. */
        unsigned r = src[4 * i], g = src[4 * i + 1], b = src[4 * i + 2], a = src[4 * i + 3];
        if (!(flags & TI_IMAGE_ALPHA_DISCARD) && a != 255) {
            /* c * a + 255 * (1 - a), rounded to nearest. */
            r = (r * a + 255 * (255 - a) + 127) / 255;
            g = (g * a + 255 * (255 - a) + 127) / 255;
            b = (b * a + 255 * (255 - a) + 127) / 255;
        }
        dst[3 * i] = (uint8_t)r;
        dst[3 * i + 1] = (uint8_t)g;
        dst[3 * i + 2] = (uint8_t)b;
    }
}

tinv_status ti_image_convert(const ti_image *src, int channels, int flags, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_TRY(ti_image_check(src, "convert"));
    TI_TRY(ti_image_alloc(out, src->width, src->height, channels));
    size_t n = (size_t)src->width * (size_t)src->height;
    if (src->channels == channels) {
        memcpy(out->pixels, src->pixels, n * (size_t)channels);
    } else if (channels == 3) {
        ti_image_rgba_to_rgb(out->pixels, src->pixels, n, flags);
    } else {
        for (size_t i = 0; i < n; i++) {
            memcpy(out->pixels + 4 * i, src->pixels + 3 * i, 3);
            out->pixels[4 * i + 3] = 255;
        }
    }
    return TINV_OK;
}

/* ---- loading ------------------------------------------------------------------------- */

/* Name of a recognisable but unsupported format, for a friendlier error; NULL if unknown. */
static const char *other_format(const unsigned char *m, size_t n)
{
    if (n >= 6 && (memcmp(m, "GIF87a", 6) == 0 || memcmp(m, "GIF89a", 6) == 0))
        return "GIF";
    if (n >= 12 && memcmp(m, "RIFF", 4) == 0 && memcmp(m + 8, "WEBP", 4) == 0)
        return "WebP";
    if (n >= 4 && (memcmp(m, "II*\0", 4) == 0 || memcmp(m, "MM\0*", 4) == 0))
        return "TIFF";
    if (n >= 2 && memcmp(m, "BM", 2) == 0)
        return "BMP";
    if (n >= 12 && memcmp(m + 4, "ftyp", 4) == 0)
        return "HEIF/AVIF";
    return NULL;
}

tinv_status ti_image_load_ex(const char *path, int want_channels, int flags, ti_image *out)
{
    TI_REQUIRE(out);
    memset(out, 0, sizeof *out);
    TI_REQUIRE(path);
    if (want_channels != 3 && want_channels != 4)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: want_channels is %d (expected 3 or 4)", path, want_channels);

    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return ti_error(TINV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[12];
    size_t n = fread(magic, 1, sizeof magic, f);
    int read_error = ferror(f);
    int saved_errno = errno;
    fclose(f);
    if (read_error)
        return ti_error(TINV_ERR_IO, "%s: cannot read: %s", path, strerror(saved_errno));
    if (n == 0)
        return ti_error(TINV_ERR_BAD_FORMAT, "%s: file is empty", path);

    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(magic, png_sig, 8) == 0)
        return ti_png_read(path, want_channels, flags, out);
    if (n >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF)
        return ti_jpeg_read(path, want_channels, flags, out);
    const char *other = other_format(magic, n);
    if (other != NULL)
        return ti_error(TINV_ERR_UNSUPPORTED, "%s: %s images are not supported (only PNG and JPEG)", path, other);
    return ti_error(TINV_ERR_UNSUPPORTED, "%s: unrecognised image format (only PNG and JPEG are supported)", path);
}

tinv_status ti_image_load(const char *path, int want_channels, ti_image *out)
{
    return ti_image_load_ex(path, want_channels, TI_IMAGE_ALPHA_WHITE, out);
}

/* ---- saving -------------------------------------------------------------------------- */

tinv_status ti_image_save(const char *path, const ti_image *img, int quality, const char *const *text_kv,
                          size_t n_kv)
{
    TI_REQUIRE(path);
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash != NULL ? slash : path, '.');
    if (dot != NULL && strcasecmp(dot, ".png") == 0)
        return ti_png_write(path, img, text_kv, n_kv);
    if (dot != NULL && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0))
        return ti_jpeg_write(path, img, quality, text_kv, n_kv);
    return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: unknown image extension (use .png, .jpg or .jpeg)", path);
}

tinv_status ti_image_tmp_open(const char *path, FILE **fp, char **tmp)
{
    *fp = NULL;
    *tmp = NULL;
    size_t len = strlen(path);
    char *name = malloc(len + 5);
    if (name == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    memcpy(name, path, len);
    memcpy(name + len, ".tmp", 5);
    FILE *f = fopen(name, "wbe");
    if (f == NULL) {
        tinv_status st = ti_error(TINV_ERR_IO, "%s: cannot create: %s", name, strerror(errno));
        free(name);
        return st;
    }
    *fp = f;
    *tmp = name;
    return TINV_OK;
}

/* Make the rename durable; failure only weakens durability, so it is not reported. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

tinv_status ti_image_tmp_finish(FILE *fp, char *tmp, const char *path, tinv_status status)
{
    if (status != TINV_OK) {
        fclose(fp);
        unlink(tmp);
        free(tmp);
        return status;
    }
    if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) != 0) {
        status = ti_error(TINV_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        fclose(fp);
    } else if (fclose(fp) != 0) {
        status = ti_error(TINV_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    } else if (rename(tmp, path) != 0) {
        status = ti_error(TINV_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    }
    if (status != TINV_OK)
        unlink(tmp);
    else
        sync_parent_dir(path);
    free(tmp);
    return status;
}
