// Internal to shim/: the tensor handle, and the exception guard every op runs inside.
#pragma once

#include <ATen/ATen.h>

#include <utility>

#include "shim.h"

struct ts_tensor {
    at::Tensor t;
    bool scoped; // on the thread's scope stack (freed by ts_scope_end)
};

// Wrap a tensor in a new handle registered with the innermost scope.
ts_tensor *ts_wrap(at::Tensor t);

// Record the exception being handled (call only inside a catch block) as the
// thread's tinv error, prefixed by the op name.
void ts_record_exception(const char *op);

// Record a NULL-input error unless an earlier failure already explains it.
void ts_record_null_input(const char *op);

at::ScalarType ts_scalar_type(ts_dtype dtype);
ts_dtype ts_from_scalar_type(at::ScalarType type);
at::Device ts_at_device(ts_device device);

// Run `f` (returning at::Tensor) and wrap its result; on any exception return NULL.
template <class F> ts_tensor *ts_guard(const char *op, F &&f)
{
    try {
        return ts_wrap(std::forward<F>(f)());
    } catch (...) {
        ts_record_exception(op);
        return nullptr;
    }
}

// Run `f` (returning void) and map exceptions to a status.
template <class F> tinv_status ts_guard_status(const char *op, F &&f)
{
    try {
        std::forward<F>(f)();
        return TINV_OK;
    } catch (...) {
        ts_record_exception(op);
        return tinv_last_status();
    }
}

// Early-return NULL for NULL inputs, keeping the first error.
#define TS_NEED(...)                                                   \
    do {                                                               \
        const void *ts_need_[] = {__VA_ARGS__};                        \
        for (const void *p : ts_need_)                                 \
            if (p == nullptr) {                                        \
                ts_record_null_input(__func__);                        \
                return nullptr;                                        \
            }                                                          \
    } while (0)
