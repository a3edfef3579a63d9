/* A minimal test harness: CHECK assertions, RUN per test, and a closing "N passed, N failed". */
#ifndef TINV_TEST_CHECK_H
#define TINV_TEST_CHECK_H

#include <stddef.h>
#include <stdio.h>

extern int check_failed_in_test;

void check_fail(const char *file, int line, const char *expr);
void check_run(const char *name, void (*fn)(void));
void check_skip(const char *name, const char *why);
/* Print "<suite>: N passed, N failed[, N skipped]" and return the process exit code. */
int check_summary(const char *suite);
/* Fixture directory (TINV_FIXTURES or ../shared/fixtures) or NULL when missing; under CI=true a
 * missing directory is reported as a failure by the caller via check_fixtures_required(). */
const char *check_fixtures_dir(void);
int check_ci(void);

/* Scratch-file helpers shared by the tests. check_tmp_path returns "<dir>/<name>" from a small
 * ring of static buffers (up to 8 results valid at once). */
const char *check_tmp_path(const char *dir, const char *name);
/* 1 when all `size` bytes were written and the file closed cleanly. */
int check_write_file(const char *path, const void *data, size_t size);
/* The whole file in a malloc'ed buffer (caller frees), or NULL when it cannot be opened. */
unsigned char *check_read_file(const char *path, size_t *size);
/* Remove `dir` and everything below it (like rm -rf); a message on stderr if it cannot. */
void check_remove_tree(const char *dir);

#define CHECK(cond)                                          \
    do {                                                     \
        if (!(cond)) {                                       \
            check_fail(__FILE__, __LINE__, #cond);           \
            return;                                          \
        }                                                    \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
    do {                                                                                   \
        double check_a_ = (a), check_b_ = (b);                                             \
        if (!(check_a_ - check_b_ <= (tol) && check_b_ - check_a_ <= (tol))) {             \
            fprintf(stderr, "    %s = %.9g, expected %.9g (tol %g)\n", #a, check_a_, check_b_, \
                    (double)(tol));                                                        \
            check_fail(__FILE__, __LINE__, #a " ~= " #b);                                  \
            return;                                                                        \
        }                                                                                  \
    } while (0)

#define RUN(fn) check_run(#fn, fn)

#endif
