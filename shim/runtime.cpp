// Devices, threads and build information of the libtorch the shim runs on.
#include "handle.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>

#include "../lib/error.h"

extern "C" {

int ts_cuda_device_count(void)
{
    try {
        return at::hasCUDA() ? static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()) : 0;
    } catch (...) {
        return 0;
    }
}

tinv_status ts_device_parse(const char *text, ts_device *out)
{
    if (text == nullptr || out == nullptr)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "device: NULL argument");
    if (std::strcmp(text, "cpu") == 0) {
        *out = ts_device{TS_CPU, 0};
        return TINV_OK;
    }
    long index = 0;
    if (std::strncmp(text, "cuda", 4) != 0 || (text[4] != '\0' && text[4] != ':'))
        return ti_error(TINV_ERR_INVALID_ARGUMENT,
                        "unknown device '%s' (expected \"cpu\", \"cuda\" or \"cuda:N\")", text);
    if (text[4] == ':') {
        char *end = nullptr;
        errno = 0;
        index = std::strtol(text + 5, &end, 10);
        if (text[5] < '0' || text[5] > '9' || *end != '\0' || errno != 0 || index > INT_MAX)
            return ti_error(TINV_ERR_INVALID_ARGUMENT,
                            "bad device '%s': the CUDA ordinal must be a non-negative integer", text);
    }
    if (!at::hasCUDA())
        return ti_error(TINV_ERR_DEVICE,
                        "device '%s' requested, but this libtorch was built without CUDA "
                        "(rebuild libtinv with make TORCH_DIR=<a CUDA libtorch>)",
                        text);
    int count = ts_cuda_device_count();
    if (index >= count)
        return ti_error(TINV_ERR_DEVICE, "device '%s' requested, but only %d CUDA device(s) are visible",
                        text, count);
    *out = ts_device{TS_CUDA, static_cast<int>(index)};
    return TINV_OK;
}

void ts_set_num_threads(int n) { at::set_num_threads(n); }

int ts_get_num_threads(void) { return at::get_num_threads(); }

const char *ts_torch_version(void) { return TORCH_VERSION; }

int ts_has_mkldnn(void) { return at::hasMKLDNN() ? 1 : 0; }

void ts_set_allow_tf32(int allow)
{
    try {
        at::globalContext().setAllowTF32CuBLAS(allow != 0);
        at::globalContext().setAllowTF32CuDNN(allow != 0);
    } catch (...) {
        // older or CPU-only libtorch: there is no TF32 to switch
    }
}

const char *ts_blas_library(void)
{
    // libtorch calls the Fortran BLAS symbol sgemm_; whichever library the dynamic
    // linker bound it to (Debian's alternatives pick it) is the BLAS in use.
    static thread_local std::string path;
    void *sym = dlsym(RTLD_DEFAULT, "sgemm_");
    Dl_info info;
    if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr)
        return at::hasMKL() ? "MKL (linked)" : "none found";
    char resolved[PATH_MAX];
    path = realpath(info.dli_fname, resolved) ? resolved : info.dli_fname;
    return path.c_str();
}

int ts_set_blas_threads(int n)
{
    // OpenBLAS keeps its own pthread pool beside ATen's OpenMP threads; on few cores the two
    // pools take turns spinning (measured 2x slower on small training steps). Only OpenBLAS
    // exports this setter; other BLAS libraries are left alone.
    using setter = void (*)(int);
    auto set = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (set == nullptr)
        return 0;
    set(n);
    return 1;
}

} // extern "C"
