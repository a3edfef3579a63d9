/* Pieces every benchmark needs: a monotonic clock and the machine's matmul ceiling. Header-only
 * (static functions) because each benchmark is built from its one .c file. */
#ifndef TINV_BENCH_COMMON_H
#define TINV_BENCH_COMMON_H

#include <time.h>

#include "../shim/shim.h"

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GFLOP/s of an n×n×n fp32 matmul on the CPU (after one warm-up): the ceiling the figures are
 * compared with. */
static inline double matmul_gflops(int n)
{
    size_t scope = ts_scope_begin();
    int64_t shape[2] = {n, n};
    ts_device cpu = {TS_CPU, 0};
    ts_generator *g = ts_generator_create(0);
    ts_tensor *a = ts_randn(g, shape, 2, TS_F32, cpu), *b = ts_randn(g, shape, 2, TS_F32, cpu);
    ts_free(ts_detach(ts_matmul(a, b))); /* warm-up */
    int reps = 5;
    double t0 = now();
    for (int i = 0; i < reps; i++)
        ts_free(ts_detach(ts_matmul(a, b)));
    double dt = (now() - t0) / reps;
    ts_generator_free(g);
    ts_scope_end(scope);
    return 2.0 * n * n * (double)n / dt / 1e9;
}

#endif
