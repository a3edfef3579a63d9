// Seeded CPU generators, bit-compatible with torch.Generator('cpu').manual_seed(seed).
#include "handle.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cstring>

#include "../lib/error.h"

struct ts_generator {
    at::Generator gen;
};

extern "C" {

ts_generator *ts_generator_create(uint64_t seed)
{
    try {
        return new ts_generator{at::make_generator<at::CPUGeneratorImpl>(seed)};
    } catch (...) {
        ts_record_exception(__func__);
        return nullptr;
    }
}

void ts_generator_free(ts_generator *g) { delete g; }

size_t ts_generator_get_state(ts_generator *g, void *buf, size_t cap)
{
    if (g == nullptr)
        return 0;
    try {
        std::lock_guard<std::mutex> lock(g->gen.mutex());
        at::Tensor state = g->gen.get_state();
        size_t n = static_cast<size_t>(state.numel());
        if (buf != nullptr)
            std::memcpy(buf, state.data_ptr(), n < cap ? n : cap);
        return n;
    } catch (...) {
        ts_record_exception(__func__);
        return 0;
    }
}

tinv_status ts_generator_set_state(ts_generator *g, const void *buf, size_t size)
{
    if (g == nullptr || buf == nullptr)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL argument", __func__);
    return ts_guard_status(__func__, [&] {
        at::Tensor state = at::empty({static_cast<int64_t>(size)}, at::kByte);
        std::memcpy(state.data_ptr(), buf, size);
        std::lock_guard<std::mutex> lock(g->gen.mutex());
        g->gen.set_state(state);
    });
}

ts_tensor *ts_randn(ts_generator *g, const int64_t *shape, int ndim, ts_dtype dtype, ts_device device)
{
    TS_NEED(g);
    return ts_guard(__func__, [&] {
        if (ndim < 0 || ndim > TS_MAX_DIMS || (ndim > 0 && shape == nullptr))
            throw std::invalid_argument("bad shape");
        // at::randn takes the generator's mutex itself.
        at::Tensor r = at::randn(at::IntArrayRef(shape, ndim), g->gen, at::TensorOptions().dtype(at::kFloat));
        return r.to(ts_at_device(device), ts_scalar_type(dtype));
    });
}

tinv_status ts_uniform(ts_generator *g, double *out, size_t n)
{
    if (g == nullptr || (out == nullptr && n > 0))
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL argument", __func__);
    return ts_guard_status(__func__, [&] {
        at::Tensor r = at::rand({static_cast<int64_t>(n)}, g->gen, at::TensorOptions().dtype(at::kDouble));
        std::memcpy(out, r.data_ptr<double>(), n * sizeof(double));
    });
}

} // extern "C"
