// Tensor ops: one C function per ATen call the models need, each behind ts_guard.
#include "handle.hpp"

#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>
#include <vector>

#include "../lib/error.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define TS_HAVE_SDPA_SCALE 1 // scaled_dot_product_attention with an explicit scale
#endif

static at::IntArrayRef dims_of(const int64_t *shape, int ndim)
{
    if (ndim < 0 || ndim > TS_MAX_DIMS || (ndim > 0 && shape == nullptr))
        throw std::invalid_argument("bad shape: ndim " + std::to_string(ndim));
    return at::IntArrayRef(shape, static_cast<size_t>(ndim));
}

static at::TensorOptions options_for(ts_dtype dtype, ts_device device)
{
    return at::TensorOptions().dtype(ts_scalar_type(dtype)).device(ts_at_device(device));
}

#ifndef TS_HAVE_SDPA_SCALE
// Attention for libtorch without scaled_dot_product_attention: one (batch, head) slice and at
// most kQueryChunk query rows at a time, with plain mm. Batched bmm/baddbmm over [B*H, L, S]
// were 3x slower on libtorch 1.13's CPU path and allocate the whole score tensor at once.
static at::Tensor attention_by_slices(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                                      const c10::optional<at::Tensor> &mask, double scale)
{
    const int64_t kQueryChunk = 1024;
    auto B = q.size(0), H = q.size(1), L = q.size(2);
    if (mask && mask->dim() != 2)
        throw std::invalid_argument("attention: the mask must be [L, S]");
    std::vector<at::Tensor> rows;
    rows.reserve(static_cast<size_t>(B * H));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            at::Tensor qs = q[b][h], ks_t = k[b][h].t(), vs = v[b][h];
            std::vector<at::Tensor> chunks;
            for (int64_t start = 0; start < L; start += kQueryChunk) {
                int64_t len = std::min(kQueryChunk, L - start);
                at::Tensor scores = at::mm(qs.narrow(0, start, len), ks_t).mul_(scale);
                if (mask)
                    scores.add_(mask->narrow(0, start, len));
                chunks.push_back(at::mm(at::softmax(scores, -1), vs));
            }
            rows.push_back(chunks.size() == 1 ? chunks[0] : at::cat(chunks, 0));
        }
    return at::stack(rows).view({B, H, L, v.size(3)});
}
#endif

extern "C" {

/* ---- creation and transfer ---- */

ts_tensor *ts_from_data(const void *data, ts_dtype src_dtype, const int64_t *shape, int ndim,
                        ts_dtype dtype, ts_device device)
{
    TS_NEED(data);
    return ts_guard(__func__, [&] {
        at::Tensor host = at::from_blob(const_cast<void *>(data), dims_of(shape, ndim),
                                        at::TensorOptions().dtype(ts_scalar_type(src_dtype)));
        // .to() with copy=true so the tensor never aliases caller memory.
        return host.to(ts_at_device(device), ts_scalar_type(dtype), false, true);
    });
}

ts_tensor *ts_zeros(const int64_t *shape, int ndim, ts_dtype dtype, ts_device device)
{
    return ts_guard(__func__, [&] { return at::zeros(dims_of(shape, ndim), options_for(dtype, device)); });
}

ts_tensor *ts_full(const int64_t *shape, int ndim, double value, ts_dtype dtype, ts_device device)
{
    return ts_guard(__func__,
                    [&] { return at::full(dims_of(shape, ndim), value, options_for(dtype, device)); });
}

ts_tensor *ts_arange(int64_t n, ts_dtype dtype, ts_device device)
{
    return ts_guard(__func__, [&] { return at::arange(n, options_for(dtype, device)); });
}

tinv_status ts_to_host(const ts_tensor *t, void *dst, ts_dtype dst_dtype, size_t count)
{
    if (t == nullptr || dst == nullptr) {
        ts_record_null_input(__func__);
        return tinv_last_status();
    }
    if (static_cast<size_t>(t->t.numel()) != count)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "ts_to_host: tensor has %lld elements, buffer %zu",
                        static_cast<long long>(t->t.numel()), count);
    return ts_guard_status(__func__, [&] {
        at::Tensor host = t->t.detach().to(at::kCPU, ts_scalar_type(dst_dtype)).contiguous();
        std::memcpy(dst, host.data_ptr(), count * host.element_size());
    });
}

ts_tensor *ts_to(const ts_tensor *t, ts_dtype dtype, ts_device device)
{
    TS_NEED(t);
    return ts_guard(__func__, [&] { return t->t.to(ts_at_device(device), ts_scalar_type(dtype)); });
}

ts_tensor *ts_clone(const ts_tensor *t)
{
    TS_NEED(t);
    return ts_guard(__func__, [&] { return t->t.clone(); });
}

/* ---- introspection ---- */

int ts_ndim(const ts_tensor *t) { return t ? static_cast<int>(t->t.dim()) : -1; }

int64_t ts_size(const ts_tensor *t, int dim)
{
    if (t == nullptr)
        return -1;
    int64_t nd = t->t.dim();
    int64_t d = dim < 0 ? dim + nd : dim;
    return (d < 0 || d >= nd) ? -1 : t->t.size(d);
}

int64_t ts_numel(const ts_tensor *t) { return t ? t->t.numel() : -1; }

ts_dtype ts_dtype_of(const ts_tensor *t) { return t ? ts_from_scalar_type(t->t.scalar_type()) : TS_F32; }

ts_device ts_device_of(const ts_tensor *t)
{
    if (t == nullptr || !t->t.is_cuda())
        return ts_device{TS_CPU, 0};
    return ts_device{TS_CUDA, static_cast<int>(t->t.device().index())};
}

double ts_item(const ts_tensor *t)
{
    if (t == nullptr)
        return NAN;
    try {
        return t->t.item<double>();
    } catch (...) {
        ts_record_exception(__func__);
        return NAN;
    }
}

int ts_all_finite(const ts_tensor *t)
{
    if (t == nullptr)
        return 0;
    try {
        return at::isfinite(t->t).all().item<bool>() ? 1 : 0;
    } catch (...) {
        ts_record_exception(__func__);
        return 0;
    }
}

/* ---- elementwise ---- */

#define TS_BINARY(name, expr)                                                   \
    ts_tensor *name(const ts_tensor *a, const ts_tensor *b)                     \
    {                                                                           \
        TS_NEED(a, b);                                                          \
        return ts_guard(#name, [&] { return expr; });                           \
    }
TS_BINARY(ts_add, a->t + b->t)
TS_BINARY(ts_sub, a->t - b->t)
TS_BINARY(ts_mul, a->t * b->t)
TS_BINARY(ts_div, a->t / b->t)
TS_BINARY(ts_matmul, at::matmul(a->t, b->t))
TS_BINARY(ts_bmm, at::bmm(a->t, b->t))
TS_BINARY(ts_mse_loss, at::mse_loss(a->t, b->t))

#define TS_UNARY(name, expr)                                                    \
    ts_tensor *name(const ts_tensor *a)                                         \
    {                                                                           \
        TS_NEED(a);                                                             \
        return ts_guard(#name, [&] { return expr; });                           \
    }
TS_UNARY(ts_exp, at::exp(a->t))
TS_UNARY(ts_sqrt, at::sqrt(a->t))
TS_UNARY(ts_sin, at::sin(a->t))
TS_UNARY(ts_cos, at::cos(a->t))
TS_UNARY(ts_sigmoid, at::sigmoid(a->t))
TS_UNARY(ts_silu, at::silu(a->t))
TS_UNARY(ts_quick_gelu, a->t * at::sigmoid(a->t * 1.702))
TS_UNARY(ts_contiguous, a->t.contiguous())
TS_UNARY(ts_sum, a->t.sum())
TS_UNARY(ts_mean, a->t.mean())
TS_UNARY(ts_max_abs, a->t.abs().max())
TS_UNARY(ts_upsample_nearest2x,
         at::upsample_nearest2d(a->t, {a->t.size(-2) * 2, a->t.size(-1) * 2}))

ts_tensor *ts_add_scaled(const ts_tensor *a, const ts_tensor *b, double alpha)
{
    TS_NEED(a, b);
    return ts_guard(__func__, [&] { return at::add(a->t, b->t, alpha); });
}

ts_tensor *ts_mul_scalar(const ts_tensor *a, double s)
{
    TS_NEED(a);
    return ts_guard(__func__, [&] { return a->t * s; });
}

ts_tensor *ts_add_scalar(const ts_tensor *a, double s)
{
    TS_NEED(a);
    return ts_guard(__func__, [&] { return a->t + s; });
}

ts_tensor *ts_div_scalar(const ts_tensor *a, double s)
{
    TS_NEED(a);
    return ts_guard(__func__, [&] { return a->t / s; });
}

ts_tensor *ts_clamp(const ts_tensor *a, double lo, double hi)
{
    TS_NEED(a);
    return ts_guard(__func__, [&] { return at::clamp(a->t, lo, hi); });
}

ts_tensor *ts_gelu(const ts_tensor *a, int tanh_approx)
{
    TS_NEED(a);
    return ts_guard(__func__, [&] { return at::gelu(a->t, tanh_approx ? "tanh" : "none"); });
}

/* ---- linear algebra ---- */

ts_tensor *ts_linear(const ts_tensor *x, const ts_tensor *w, const ts_tensor *b)
{
    TS_NEED(x, w);
    return ts_guard(__func__, [&] {
        return at::linear(x->t, w->t, b ? c10::optional<at::Tensor>(b->t) : c10::nullopt);
    });
}

ts_tensor *ts_baddbmm(const ts_tensor *input, const ts_tensor *a, const ts_tensor *b, double beta,
                      double alpha)
{
    TS_NEED(input, a, b);
    return ts_guard(__func__, [&] { return at::baddbmm(input->t, a->t, b->t, beta, alpha); });
}

ts_tensor *ts_attention(const ts_tensor *q, const ts_tensor *k, const ts_tensor *v,
                        const ts_tensor *mask, double scale)
{
    TS_NEED(q, k, v);
    return ts_guard(__func__, [&] {
        c10::optional<at::Tensor> m = mask ? c10::optional<at::Tensor>(mask->t) : c10::nullopt;
#ifdef TS_HAVE_SDPA_SCALE
        return at::scaled_dot_product_attention(q->t, k->t, v->t, m, 0.0, false, scale);
#else
        return attention_by_slices(q->t, k->t, v->t, m, scale);
#endif
    });
}

/* ---- convolution, normalisation, resampling ---- */

static at::Tensor pad_circular(const at::Tensor &x, int left, int right, int top, int bottom)
{
    // Wrap-around padding built from slices, so it works (and differentiates) on every libtorch.
    int64_t H = x.size(-2), W = x.size(-1);
    if (left > W || right > W || top > H || bottom > H)
        throw std::invalid_argument("circular padding larger than the input");
    at::Tensor y = at::cat({x.narrow(-1, W - left, left), x, x.narrow(-1, 0, right)}, -1);
    return at::cat({y.narrow(-2, H - top, top), y, y.narrow(-2, 0, bottom)}, -2);
}

ts_tensor *ts_pad2d(const ts_tensor *x, int left, int right, int top, int bottom, int circular)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] {
        if (circular)
            return pad_circular(x->t, left, right, top, bottom);
        return at::constant_pad_nd(x->t, {left, right, top, bottom}, 0.0);
    });
}

ts_tensor *ts_conv2d(const ts_tensor *x, const ts_tensor *w, const ts_tensor *b, int stride,
                     int padding, int circular)
{
    TS_NEED(x, w);
    return ts_guard(__func__, [&] {
        c10::optional<at::Tensor> bias = b ? c10::optional<at::Tensor>(b->t) : c10::nullopt;
        const int64_t strides[2] = {stride, stride};
        const int64_t zero[2] = {0, 0}, pads[2] = {padding, padding};
        if (circular && padding > 0)
            return at::conv2d(pad_circular(x->t, padding, padding, padding, padding), w->t, bias,
                              at::IntArrayRef(strides, 2), at::IntArrayRef(zero, 2));
        return at::conv2d(x->t, w->t, bias, at::IntArrayRef(strides, 2), at::IntArrayRef(pads, 2));
    });
}

ts_tensor *ts_group_norm(const ts_tensor *x, int groups, const ts_tensor *w, const ts_tensor *b,
                         double eps)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] {
        return at::group_norm(x->t, groups, w ? c10::optional<at::Tensor>(w->t) : c10::nullopt,
                              b ? c10::optional<at::Tensor>(b->t) : c10::nullopt, eps);
    });
}

ts_tensor *ts_layer_norm(const ts_tensor *x, int normalized_ndim, const ts_tensor *w,
                         const ts_tensor *b, double eps)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] {
        if (normalized_ndim < 1 || normalized_ndim > x->t.dim())
            throw std::invalid_argument("layer_norm: bad normalized_ndim");
        auto sizes = x->t.sizes();
        at::IntArrayRef shape(sizes.end() - normalized_ndim, sizes.end());
        return at::layer_norm(x->t, shape, w ? c10::optional<at::Tensor>(w->t) : c10::nullopt,
                              b ? c10::optional<at::Tensor>(b->t) : c10::nullopt, eps);
    });
}

ts_tensor *ts_softmax(const ts_tensor *x, int dim)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] { return at::softmax(x->t, dim); });
}

/* ---- shape ---- */

ts_tensor *ts_reshape(const ts_tensor *x, const int64_t *shape, int ndim)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] { return x->t.reshape(dims_of(shape, ndim)); });
}

ts_tensor *ts_permute(const ts_tensor *x, const int *dims, int ndim)
{
    TS_NEED(x, dims);
    return ts_guard(__func__, [&] {
        std::vector<int64_t> d(dims, dims + (ndim > 0 ? ndim : 0));
        return x->t.permute(d);
    });
}

ts_tensor *ts_transpose(const ts_tensor *x, int d0, int d1)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] { return x->t.transpose(d0, d1); });
}

ts_tensor *ts_cat(ts_tensor *const *xs, int n, int dim)
{
    TS_NEED(xs);
    for (int i = 0; i < n; i++)
        TS_NEED(xs[i]);
    return ts_guard(__func__, [&] {
        std::vector<at::Tensor> list;
        for (int i = 0; i < n; i++)
            list.push_back(xs[i]->t);
        return at::cat(list, dim);
    });
}

tinv_status ts_chunk(const ts_tensor *x, int n, int dim, ts_tensor **out)
{
    if (x == nullptr || out == nullptr) {
        ts_record_null_input(__func__);
        return tinv_last_status();
    }
    std::vector<at::Tensor> parts;
    tinv_status st = ts_guard_status(__func__, [&] {
        parts = x->t.chunk(n, dim);
        if (static_cast<int>(parts.size()) != n)
            throw std::invalid_argument("chunk: size not divisible into equal chunks");
    });
    if (st != TINV_OK)
        return st;
    for (int i = 0; i < n; i++)
        out[i] = ts_wrap(parts[i]);
    return TINV_OK;
}

ts_tensor *ts_narrow(const ts_tensor *x, int dim, int64_t start, int64_t length)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] { return x->t.narrow(dim, start, length); });
}

ts_tensor *ts_index_select(const ts_tensor *x, int dim, const ts_tensor *index)
{
    TS_NEED(x, index);
    return ts_guard(__func__, [&] { return at::index_select(x->t, dim, index->t); });
}

ts_tensor *ts_embedding(const ts_tensor *weight, const ts_tensor *ids)
{
    TS_NEED(weight, ids);
    return ts_guard(__func__, [&] { return at::embedding(weight->t, ids->t); });
}

ts_tensor *ts_where(const ts_tensor *cond, const ts_tensor *a, const ts_tensor *b)
{
    TS_NEED(cond, a, b);
    return ts_guard(__func__, [&] { return at::where(cond->t, a->t, b->t); });
}

ts_tensor *ts_unsqueeze(const ts_tensor *x, int dim)
{
    TS_NEED(x);
    return ts_guard(__func__, [&] { return x->t.unsqueeze(dim); });
}

} // extern "C"
