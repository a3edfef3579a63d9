/* Implementation of the test harness in check.h. */
#include "check.h"

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
