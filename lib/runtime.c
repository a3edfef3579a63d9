/* Process-level queries and settings: devices, threads, and a one-line runtime report. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "../shim/shim.h"

TINV_API tinv_status tinv_device_check(const char *device)
{
    TI_REQUIRE(device);
    ts_device parsed;
    return ts_device_parse(device, &parsed);
}

TINV_API int tinv_cuda_device_count(void) { return ts_cuda_device_count(); }

TINV_API tinv_status tinv_set_num_threads(int n)
{
    if (n < 0 || n > 4096)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_set_num_threads: %d is not in [0, 4096]", n);
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    ts_set_num_threads(n);
    return TINV_OK;
}

TINV_API int tinv_get_num_threads(void) { return ts_get_num_threads(); }

TINV_API tinv_status tinv_runtime_info(char *buf, size_t size, size_t *needed)
{
    if (buf == NULL && size > 0)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "tinv_runtime_info: buf is NULL but size is %zu", size);
    char line[1024];
    int n = snprintf(line, sizeof line, "libtinv %s; libtorch %s; BLAS %s; oneDNN %s; CUDA devices %d; threads %d",
                     TINV_VERSION_STRING, ts_torch_version(), ts_blas_library(),
                     ts_has_mkldnn() ? "yes" : "no", ts_cuda_device_count(), ts_get_num_threads());
    if (needed != NULL)
        *needed = (size_t)n;
    if (size > 0) {
        size_t copy = (size_t)n < size - 1 ? (size_t)n : size - 1;
        memcpy(buf, line, copy);
        buf[copy] = '\0';
    }
    return TINV_OK;
}
