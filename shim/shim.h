/*
 * shim.h — the C ABI over libtorch/ATen that lib/ builds models from.
 *
 * One function per tensor op, no model knowledge. Rules:
 *  - Every op returns a new tensor handle, or NULL on failure. A failure records a
 *    tinv_status and message in the thread-local error (lib/error.h), including the
 *    message of any C++ exception libtorch threw.
 *  - NULL inputs propagate: an op given a NULL tensor returns NULL and leaves the
 *    first error in place, so model code may chain ops and check once per block.
 *  - Lifetime: tensors created while a scope is open belong to the innermost scope and
 *    are freed by ts_scope_end(). ts_scope_return() ends a scope but hands one result
 *    to the enclosing scope; ts_detach() takes a tensor out of all scopes (the caller
 *    then owns it and frees it with ts_free()). Outside any scope, new tensors are
 *    owned by the caller. ts_live_tensors() counts every handle not yet freed.
 */
#ifndef TS_SHIM_H
#define TS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "tinv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_tensor ts_tensor;
typedef struct ts_generator ts_generator;

typedef enum ts_dtype {
    TS_F32 = 0,
    TS_F16 = 1,
    TS_BF16 = 2,
    TS_F64 = 3,
    TS_I64 = 4,
    TS_I32 = 5,
    TS_U8 = 6,
    TS_BOOL = 7
} ts_dtype;

typedef enum ts_device_type { TS_CPU = 0, TS_CUDA = 1 } ts_device_type;

typedef struct ts_device {
    ts_device_type type;
    int index; /* CUDA ordinal; 0 for CPU */
} ts_device;

#define TS_MAX_DIMS 8

/* ---- runtime ---------------------------------------------------------------------- */
/* Parse "cpu", "cuda", "cuda:N" and check the device exists. */
tinv_status ts_device_parse(const char *text, ts_device *out);
int ts_cuda_device_count(void);
void ts_set_num_threads(int n);
int ts_get_num_threads(void);
/* libtorch version ("1.13.1"), the resolved BLAS library path, oneDNN availability. */
const char *ts_torch_version(void);
const char *ts_blas_library(void);
/* Threads of OpenBLAS's own pool; returns 1 when the BLAS in use is OpenBLAS (set), else 0. */
int ts_set_blas_threads(int n);
int ts_has_mkldnn(void);
/* Let CUDA matmuls and convolutions round float32 inputs to TF32 (libtorch's default for
 * convolutions) or not; nothing on CPU-only builds. */
void ts_set_allow_tf32(int allow);
/* Number of tensor handles created and not yet freed (all threads). */
long ts_live_tensors(void);

/* ---- lifetime --------------------------------------------------------------------- */
/* Open a scope; the returned token closes it (and any inner scope left open). */
size_t ts_scope_begin(void);
void ts_scope_end(size_t scope);
/* End `scope`, moving `result` (may be NULL) into the enclosing scope. */
ts_tensor *ts_scope_return(size_t scope, ts_tensor *result);
ts_tensor *ts_detach(ts_tensor *t);
ts_tensor *ts_adopt(ts_tensor *t);
void ts_free(ts_tensor *t);

/* ---- creation and transfer -------------------------------------------------------- */
/* Copy host data of `src_dtype` into a new tensor of `dtype` on `device`. */
ts_tensor *ts_from_data(const void *data, ts_dtype src_dtype, const int64_t *shape, int ndim,
                        ts_dtype dtype, ts_device device);
ts_tensor *ts_zeros(const int64_t *shape, int ndim, ts_dtype dtype, ts_device device);
ts_tensor *ts_full(const int64_t *shape, int ndim, double value, ts_dtype dtype, ts_device device);
ts_tensor *ts_arange(int64_t n, ts_dtype dtype, ts_device device);
/* Copy out `count` elements converted to `dst_dtype` (count must equal numel). */
tinv_status ts_to_host(const ts_tensor *t, void *dst, ts_dtype dst_dtype, size_t count);
ts_tensor *ts_to(const ts_tensor *t, ts_dtype dtype, ts_device device);
ts_tensor *ts_clone(const ts_tensor *t);

/* ---- introspection ---------------------------------------------------------------- */
int ts_ndim(const ts_tensor *t);
int64_t ts_size(const ts_tensor *t, int dim); /* negative dims count from the end */
int64_t ts_numel(const ts_tensor *t);
ts_dtype ts_dtype_of(const ts_tensor *t);
ts_device ts_device_of(const ts_tensor *t);
/* Scalar value of a one-element tensor, as double (NaN on error). */
double ts_item(const ts_tensor *t);
/* 1 when every element is finite. */
int ts_all_finite(const ts_tensor *t);

/* ---- elementwise ------------------------------------------------------------------ */
ts_tensor *ts_add(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_sub(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_mul(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_div(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_add_scaled(const ts_tensor *a, const ts_tensor *b, double alpha); /* a + alpha*b */
ts_tensor *ts_mul_scalar(const ts_tensor *a, double s);
ts_tensor *ts_add_scalar(const ts_tensor *a, double s);
ts_tensor *ts_div_scalar(const ts_tensor *a, double s);
ts_tensor *ts_exp(const ts_tensor *a);
ts_tensor *ts_sqrt(const ts_tensor *a);
ts_tensor *ts_sin(const ts_tensor *a);
ts_tensor *ts_cos(const ts_tensor *a);
ts_tensor *ts_clamp(const ts_tensor *a, double lo, double hi);
ts_tensor *ts_sigmoid(const ts_tensor *a);
ts_tensor *ts_silu(const ts_tensor *a);
ts_tensor *ts_gelu(const ts_tensor *a, int tanh_approx);
ts_tensor *ts_quick_gelu(const ts_tensor *a); /* x * sigmoid(1.702 x) */

/* ---- linear algebra --------------------------------------------------------------- */
ts_tensor *ts_linear(const ts_tensor *x, const ts_tensor *w, const ts_tensor *b /* may be NULL */);
ts_tensor *ts_matmul(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_bmm(const ts_tensor *a, const ts_tensor *b);
/* beta*input + alpha*(a @ b), batched. */
ts_tensor *ts_baddbmm(const ts_tensor *input, const ts_tensor *a, const ts_tensor *b, double beta,
                      double alpha);
/* softmax(q kᵀ · scale + mask) v over [B, H, L, D] tensors; mask may be NULL. Uses
 * scaled_dot_product_attention where libtorch has it. */
ts_tensor *ts_attention(const ts_tensor *q, const ts_tensor *k, const ts_tensor *v,
                        const ts_tensor *mask, double scale);

/* ---- convolution, normalisation, resampling --------------------------------------- */
ts_tensor *ts_conv2d(const ts_tensor *x, const ts_tensor *w, const ts_tensor *b, int stride,
                     int padding, int circular);
ts_tensor *ts_pad2d(const ts_tensor *x, int left, int right, int top, int bottom, int circular);
ts_tensor *ts_group_norm(const ts_tensor *x, int groups, const ts_tensor *w, const ts_tensor *b,
                         double eps);
ts_tensor *ts_layer_norm(const ts_tensor *x, int normalized_ndim, const ts_tensor *w,
                         const ts_tensor *b, double eps);
ts_tensor *ts_softmax(const ts_tensor *x, int dim);
ts_tensor *ts_upsample_nearest2x(const ts_tensor *x);

/* ---- shape ------------------------------------------------------------------------ */
ts_tensor *ts_reshape(const ts_tensor *x, const int64_t *shape, int ndim);
ts_tensor *ts_permute(const ts_tensor *x, const int *dims, int ndim);
ts_tensor *ts_transpose(const ts_tensor *x, int d0, int d1);
ts_tensor *ts_contiguous(const ts_tensor *x);
ts_tensor *ts_cat(ts_tensor *const *xs, int n, int dim);
/* Split into `n` equal chunks along `dim`, writing n new handles to `out`. */
tinv_status ts_chunk(const ts_tensor *x, int n, int dim, ts_tensor **out);
ts_tensor *ts_narrow(const ts_tensor *x, int dim, int64_t start, int64_t length);
ts_tensor *ts_index_select(const ts_tensor *x, int dim, const ts_tensor *index);
ts_tensor *ts_embedding(const ts_tensor *weight, const ts_tensor *ids);
ts_tensor *ts_unsqueeze(const ts_tensor *x, int dim);
/* Elementwise cond ? a : b (cond is a TS_BOOL tensor; broadcasting as ATen). */
ts_tensor *ts_where(const ts_tensor *cond, const ts_tensor *a, const ts_tensor *b);

/* ---- reductions and losses -------------------------------------------------------- */
ts_tensor *ts_sum(const ts_tensor *x);
ts_tensor *ts_mean(const ts_tensor *x);
ts_tensor *ts_mse_loss(const ts_tensor *a, const ts_tensor *b); /* mean((a-b)^2) */
ts_tensor *ts_max_abs(const ts_tensor *x);

/* ---- random ----------------------------------------------------------------------- */
/* A CPU generator bit-compatible with torch.Generator('cpu').manual_seed(seed). */
ts_generator *ts_generator_create(uint64_t seed);
void ts_generator_free(ts_generator *g);
/* Serialized generator state (for checkpoints). Returns the byte size; copies at most cap. */
size_t ts_generator_get_state(ts_generator *g, void *buf, size_t cap);
tinv_status ts_generator_set_state(ts_generator *g, const void *buf, size_t size);
/* Standard normal samples drawn on the CPU from `g` (as diffusers does), then moved. */
/* n uniform doubles in [0, 1) from `g` (host memory), e.g. for seeded random choices. */
tinv_status ts_uniform(ts_generator *g, double *out, size_t n);
ts_tensor *ts_randn(ts_generator *g, const int64_t *shape, int ndim, ts_dtype dtype,
                    ts_device device);

/* ---- autograd --------------------------------------------------------------------- */
/* Enable/disable gradient recording on this thread; returns the previous mode. */
int ts_set_grad_enabled(int enabled);
tinv_status ts_requires_grad(ts_tensor *t, int on);
tinv_status ts_backward(const ts_tensor *loss);
/* The accumulated gradient of a leaf tensor, or NULL with an error if it has none. */
ts_tensor *ts_grad(const ts_tensor *t);
tinv_status ts_zero_grad(ts_tensor *t);
/* In-place update of a leaf without recording it: t += alpha * d. */
tinv_status ts_update_(ts_tensor *t, const ts_tensor *d, double alpha);
/* dst = src in place (same shape; converts dtype/device), outside autograd. */
tinv_status ts_copy_(ts_tensor *dst, const ts_tensor *src);
/* One AdamW update in place (decoupled decay, bias-corrected moments; `step` counts from 1),
 * operation for operation as torch.optim.AdamW. */
tinv_status ts_adamw_(ts_tensor *param, const ts_tensor *grad, ts_tensor *exp_avg, ts_tensor *exp_avg_sq, double lr,
                      double beta1, double beta2, double weight_decay, double eps, int64_t step);

#ifdef __cplusplus
}
#endif

#endif
