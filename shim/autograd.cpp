// Gradient recording, backward passes and in-place parameter updates.
#include "handle.hpp"

#include <ATen/core/grad_mode.h>

#include <cmath>

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

tinv_status ts_copy_(ts_tensor *dst, const ts_tensor *src)
{
    if (dst == nullptr || src == nullptr)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL tensor", __func__);
    return ts_guard_status(__func__, [&] {
        at::NoGradGuard no_grad;
        dst->t.copy_(src->t);
    });
}

tinv_status ts_adamw_(ts_tensor *param, const ts_tensor *grad, ts_tensor *exp_avg, ts_tensor *exp_avg_sq, double lr,
                      double beta1, double beta2, double weight_decay, double eps, int64_t step)
{
    if (param == nullptr || grad == nullptr || exp_avg == nullptr || exp_avg_sq == nullptr)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: NULL tensor", __func__);
    // The same operations in the same order as torch.optim.AdamW's single-tensor path, so
    // a step matches PyTorch's to the last bit on the same device.
    return ts_guard_status(__func__, [&] {
        at::NoGradGuard no_grad;
        at::Tensor &p = param->t;
        p.mul_(1 - lr * weight_decay);
        exp_avg->t.mul_(beta1).add_(grad->t, 1 - beta1);
        exp_avg_sq->t.mul_(beta2).addcmul_(grad->t, grad->t, 1 - beta2);
        double bias_correction1 = 1 - std::pow(beta1, (double)step);
        double bias_correction2 = 1 - std::pow(beta2, (double)step);
        double step_size = lr / bias_correction1;
        at::Tensor denom = (exp_avg_sq->t.sqrt() / std::sqrt(bias_correction2)).add_(eps);
        p.addcdiv_(exp_avg->t, denom, -step_size);
    });
}

} // extern "C"
