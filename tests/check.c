/* Implementation of the test harness in check.h. */
#include "check.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int check_failed_in_test;
static int passed, failed, skipped;

void check_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "    %s:%d: check failed: %s\n", file, line, expr);
    check_failed_in_test = 1;
}

void check_run(const char *name, void (*fn)(void))
{
    check_failed_in_test = 0;
    fn();
    if (check_failed_in_test) {
        failed++;
        printf("FAIL %s\n", name);
    } else {
        passed++;
        printf("ok   %s\n", name);
    }
    fflush(stdout);
}

void check_skip(const char *name, const char *why)
{
    skipped++;
    printf("SKIP %s: %s\n", name, why);
}

int check_summary(const char *suite)
{
    printf("%s: %d passed, %d failed, %d skipped\n", suite, passed, failed, skipped);
    return failed == 0 ? 0 : 1;
}

int check_ci(void)
{
    const char *ci = getenv("CI");
    return ci != NULL && strcmp(ci, "true") == 0;
}

const char *check_fixtures_dir(void)
{
    const char *dir = getenv("TINV_FIXTURES");
    if (dir == NULL || dir[0] == '\0')
        dir = "../shared/fixtures";
    struct stat st;
    return (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) ? dir : NULL;
}

const char *check_tmp_path(const char *dir, const char *name)
{
    static char buf[8][600];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

int check_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

unsigned char *check_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    *size = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    return buf;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

void check_remove_tree(const char *dir)
{
    /* Depth first, so each folder is empty when its turn comes; links are removed, not followed. */
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s completely\n", dir);
}
