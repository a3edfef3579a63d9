// Gradient recording, backward passes and in-place parameter updates.
#include "handle.hpp"

#include <ATen/core/grad_mode.h>

#include "../lib/error.h"

extern "C" {

int ts_set_grad_enabled(int enabled)
{
    int previous = at::GradMode::is_enabled() ? 1 : 0;
    at::GradMode::set_enabled(enabled != 0);
    return previous;
}

tinv_status ts_requires_grad(ts_tensor *t, int on)
{
    if (t == nullptr)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL tensor", __func__);
    return ts_guard_status(__func__, [&] { t->t.requires_grad_(on != 0); });
}

tinv_status ts_backward(const ts_tensor *loss)
{
    if (loss == nullptr) {
        ts_record_null_input(__func__);
        return tinv_last_status();
    }
    return ts_guard_status(__func__, [&] { loss->t.backward(); });
}

ts_tensor *ts_grad(const ts_tensor *t)
{
    TS_NEED(t);
    return ts_guard(__func__, [&] {
        at::Tensor g = t->t.grad();
        if (!g.defined())
            throw std::invalid_argument("tensor has no gradient (not a leaf that requires grad, or no backward yet)");
        return g.detach().clone();
    });
}

tinv_status ts_zero_grad(ts_tensor *t)
{
    if (t == nullptr)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL tensor", __func__);
    return ts_guard_status(__func__, [&] {
        at::Tensor &g = t->t.mutable_grad();
        if (g.defined())
            g.zero_();
    });
}

tinv_status ts_update_(ts_tensor *t, const ts_tensor *d, double alpha)
{
    if (t == nullptr || d == nullptr)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL tensor", __func__);
    return ts_guard_status(__func__, [&] {
        at::NoGradGuard no_grad;
        t->t.add_(d->t, alpha);
    });
}

} // extern "C"
