/* Unit tests of the shim's ops against hand-computed values and identities. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "shim.h"

static const ts_device CPU = {TS_CPU, 0};

static ts_tensor *tensor_f32(const float *data, const int64_t *shape, int ndim)
{
    return ts_from_data(data, TS_F32, shape, ndim, TS_F32, CPU);
}

static void test_randn_matches_pytorch_seed_42(void)
{
    /* torch.manual_seed(42); torch.randn(3) */
    size_t m = ts_scope_begin();
    ts_generator *g = ts_generator_create(42);
    int64_t shape[] = {3};
    float v[3];
    CHECK(g != NULL);
    CHECK(ts_to_host(ts_randn(g, shape, 1, TS_F32, CPU), v, TS_F32, 3) == TINV_OK);
    CHECK_NEAR(v[0], 0.3367, 1e-4);
    CHECK_NEAR(v[1], 0.1288, 1e-4);
    CHECK_NEAR(v[2], 0.2345, 1e-4);
    ts_generator_free(g);
    ts_scope_end(m);
}

static void test_randn_same_seed_and_restored_state_repeat(void)
{
    size_t m = ts_scope_begin();
    int64_t shape[] = {2, 5};
    float a[10], b[10], c[10];
    ts_generator *g1 = ts_generator_create(7), *g2 = ts_generator_create(7);
    CHECK(ts_to_host(ts_randn(g1, shape, 2, TS_F32, CPU), a, TS_F32, 10) == TINV_OK);
    CHECK(ts_to_host(ts_randn(g2, shape, 2, TS_F32, CPU), b, TS_F32, 10) == TINV_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* Save state, draw, restore, draw again: identical draws. */
    unsigned char state[8192];
    size_t n = ts_generator_get_state(g1, state, sizeof state);
    CHECK(n > 0 && n <= sizeof state);
    CHECK(ts_to_host(ts_randn(g1, shape, 2, TS_F32, CPU), b, TS_F32, 10) == TINV_OK);
    CHECK(ts_generator_set_state(g1, state, n) == TINV_OK);
    CHECK(ts_to_host(ts_randn(g1, shape, 2, TS_F32, CPU), c, TS_F32, 10) == TINV_OK);
    CHECK(memcmp(b, c, sizeof b) == 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    ts_generator_free(g1);
    ts_generator_free(g2);
    ts_scope_end(m);
}

static void test_conv2d_identity_kernel_returns_input(void)
{
    size_t m = ts_scope_begin();
    float x[2 * 4 * 4], w[2 * 2 * 3 * 3] = {0}, y[2 * 4 * 4];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i * 0.37 - 3.0);
    w[0 * 18 + 0 * 9 + 4] = 1.0f; /* out 0 <- in 0, centre tap */
    w[1 * 18 + 1 * 9 + 4] = 1.0f; /* out 1 <- in 1 */
    int64_t xs[] = {1, 2, 4, 4}, ws[] = {2, 2, 3, 3};
    ts_tensor *out = ts_conv2d(tensor_f32(x, xs, 4), tensor_f32(w, ws, 4), NULL, 1, 1, 0);
    CHECK(ts_to_host(out, y, TS_F32, 32) == TINV_OK);
    for (int i = 0; i < 32; i++)
        CHECK_NEAR(y[i], x[i], 1e-6);
    ts_scope_end(m);
}

static void test_circular_conv_wraps_around(void)
{
    /* A kernel that reads the left neighbour: with circular padding column 0 sees column W-1. */
    size_t m = ts_scope_begin();
    float x[3] = {1, 2, 3}, w[9] = {0, 0, 0, 1, 0, 0, 0, 0, 0}, y[3];
    int64_t xs[] = {1, 1, 1, 3}, ws[] = {1, 1, 3, 3};
    CHECK(ts_to_host(ts_conv2d(tensor_f32(x, xs, 4), tensor_f32(w, ws, 4), NULL, 1, 1, 1), y, TS_F32, 3) ==
          TINV_OK);
    CHECK_NEAR(y[0], 3, 0);
    CHECK_NEAR(y[1], 1, 0);
    CHECK_NEAR(y[2], 2, 0);
    ts_scope_end(m);
}

static void test_softmax_rows_sum_to_one(void)
{
    size_t m = ts_scope_begin();
    float x[6] = {1, 2, 3, -100, 0, 100}, y[6];
    int64_t s[] = {2, 3};
    CHECK(ts_to_host(ts_softmax(tensor_f32(x, s, 2), -1), y, TS_F32, 6) == TINV_OK);
    CHECK_NEAR(y[0] + y[1] + y[2], 1.0, 1e-6);
    CHECK_NEAR(y[3] + y[4] + y[5], 1.0, 1e-6);
    CHECK_NEAR(y[2] / y[1], exp(1.0), 1e-4);
    ts_scope_end(m);
}

static void test_grad_of_sum_of_squares_is_2x(void)
{
    size_t m = ts_scope_begin();
    float x[4] = {1, -2, 0.5f, 3}, g[4];
    int64_t s[] = {4};
    ts_tensor *t = tensor_f32(x, s, 1);
    CHECK(ts_requires_grad(t, 1) == TINV_OK);
    CHECK(ts_backward(ts_sum(ts_mul(t, t))) == TINV_OK);
    CHECK(ts_to_host(ts_grad(t), g, TS_F32, 4) == TINV_OK);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(g[i], 2 * x[i], 1e-6);
    /* Without grad mode no graph is recorded, so backward fails cleanly. */
    int prev = ts_set_grad_enabled(0);
    ts_tensor *loss = ts_sum(ts_mul(t, t));
    ts_set_grad_enabled(prev);
    CHECK(ts_backward(loss) != TINV_OK);
    ts_scope_end(m);
}

static void test_linear_matches_hand_computation(void)
{
    size_t m = ts_scope_begin();
    float x[2] = {1, 2}, w[6] = {1, 0, 0, 1, 1, 1}, b[3] = {0.5f, -1, 0}, y[3];
    int64_t xs[] = {1, 2}, ws[] = {3, 2}, bs[] = {3};
    CHECK(ts_to_host(ts_linear(tensor_f32(x, xs, 2), tensor_f32(w, ws, 2), tensor_f32(b, bs, 1)), y, TS_F32,
                     3) == TINV_OK);
    CHECK_NEAR(y[0], 1.5, 1e-6);
    CHECK_NEAR(y[1], 1.0, 1e-6);
    CHECK_NEAR(y[2], 3.0, 1e-6);
    ts_scope_end(m);
}

static void test_group_and_layer_norm_standardise(void)
{
    size_t m = ts_scope_begin();
    float x[8] = {1, 2, 3, 4, 10, 20, 30, 40}, y[8];
    int64_t gs[] = {1, 2, 2, 2}, ls[] = {2, 4};
    CHECK(ts_to_host(ts_group_norm(tensor_f32(x, gs, 4), 2, NULL, NULL, 0.0), y, TS_F32, 8) == TINV_OK);
    /* Group 0 = {1,2,3,4}: mean 2.5, population std sqrt(1.25). */
    CHECK_NEAR(y[0], (1 - 2.5) / sqrt(1.25), 1e-5);
    CHECK_NEAR(y[7], (40 - 25) / sqrt(125.0), 1e-5);
    CHECK(ts_to_host(ts_layer_norm(tensor_f32(x, ls, 2), 1, NULL, NULL, 0.0), y, TS_F32, 8) == TINV_OK);
    CHECK_NEAR(y[4], (10 - 25) / sqrt(125.0), 1e-5);
    ts_scope_end(m);
}

static void test_attention_with_equal_keys_averages_values(void)
{
    size_t m = ts_scope_begin();
    float q[2] = {1, 2}, k[4] = {1, 1, 1, 1}, v[4] = {2, 4, 6, 8}, y[2];
    int64_t qs[] = {1, 1, 1, 2}, ks[] = {1, 1, 2, 2};
    ts_tensor *out = ts_attention(tensor_f32(q, qs, 4), tensor_f32(k, ks, 4), tensor_f32(v, ks, 4), NULL, 0.5);
    CHECK(ts_to_host(out, y, TS_F32, 2) == TINV_OK);
    CHECK_NEAR(y[0], 4, 1e-6);
    CHECK_NEAR(y[1], 6, 1e-6);
    ts_scope_end(m);
}

static void test_shape_ops(void)
{
    size_t m = ts_scope_begin();
    float x[4] = {1, 2, 3, 4}, y[16];
    int64_t s[] = {1, 1, 2, 2};
    ts_tensor *up = ts_upsample_nearest2x(tensor_f32(x, s, 4));
    CHECK(ts_size(up, 2) == 4 && ts_size(up, -1) == 4);
    CHECK(ts_to_host(up, y, TS_F32, 16) == TINV_OK);
    CHECK(y[0] == 1 && y[1] == 1 && y[2] == 2 && y[15] == 4);
    ts_tensor *parts[2];
    int64_t s2[] = {4};
    CHECK(ts_chunk(tensor_f32(x, s2, 1), 2, 0, parts) == TINV_OK);
    CHECK(ts_to_host(parts[1], y, TS_F32, 2) == TINV_OK);
    CHECK(y[0] == 3 && y[1] == 4);
    int64_t ids[2] = {1, 0}, is[] = {2}, ws[] = {2, 2};
    ts_tensor *emb = ts_embedding(tensor_f32(x, ws, 2), ts_from_data(ids, TS_I64, is, 1, TS_I64, CPU));
    CHECK(ts_to_host(emb, y, TS_F32, 4) == TINV_OK);
    CHECK(y[0] == 3 && y[1] == 4 && y[2] == 1 && y[3] == 2);
    ts_scope_end(m);
}

static void test_scopes_free_everything_but_returned(void)
{
    long before = ts_live_tensors();
    size_t outer = ts_scope_begin();
    int64_t s[] = {3};
    size_t inner = ts_scope_begin();
    ts_tensor *a = ts_full(s, 1, 2.0, TS_F32, CPU);
    ts_tensor *b = ts_mul(a, a);
    (void)ts_add(a, b);
    ts_tensor *kept = ts_scope_return(inner, b);
    CHECK(ts_live_tensors() == before + 1);
    CHECK(ts_item(ts_sum(kept)) == 12.0);
    ts_tensor *owned = ts_detach(ts_clone(kept));
    ts_scope_end(outer);
    CHECK(ts_live_tensors() == before + 1);
    ts_free(owned);
    CHECK(ts_live_tensors() == before);
    /* Outside any scope the caller owns what it creates. */
    ts_tensor *loose = ts_zeros(s, 1, TS_F32, CPU);
    CHECK(ts_live_tensors() == before + 1);
    ts_free(loose);
    ts_free(NULL);
    CHECK(ts_live_tensors() == before);
}

static void test_libtorch_exception_becomes_status(void)
{
    size_t m = ts_scope_begin();
    int64_t s1[] = {3}, s2[] = {4};
    ts_tensor *bad = ts_add(ts_zeros(s1, 1, TS_F32, CPU), ts_zeros(s2, 1, TS_F32, CPU));
    CHECK(bad == NULL);
    CHECK(tinv_last_status() == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "ts_add") != NULL);
    CHECK(strstr(tinv_last_error(), "size") != NULL);
    /* A failed op's NULL propagates without replacing the first message. */
    CHECK(ts_mul(bad, bad) == NULL);
    CHECK(strstr(tinv_last_error(), "ts_add") != NULL);
    tinv_clear_error();
    CHECK(ts_exp(NULL) == NULL);
    CHECK(tinv_last_status() == TINV_ERR_INVALID_ARGUMENT);
    float buf[2];
    CHECK(ts_to_host(ts_zeros(s1, 1, TS_F32, CPU), buf, TS_F32, 2) == TINV_ERR_INVALID_ARGUMENT);
    ts_scope_end(m);
}

static void test_device_strings(void)
{
    ts_device d;
    CHECK(ts_device_parse("cpu", &d) == TINV_OK && d.type == TS_CPU);
    CHECK(ts_device_parse("gpu", &d) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ts_device_parse("cuda:x", &d) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ts_device_parse("cuda:-1", &d) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ts_device_parse("cuda:", &d) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ts_device_parse("cudax", &d) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(ts_device_parse(NULL, &d) == TINV_ERR_INVALID_ARGUMENT);
    if (ts_cuda_device_count() == 0) {
        CHECK(ts_device_parse("cuda:0", &d) == TINV_ERR_DEVICE);
        CHECK(strstr(tinv_last_error(), "without CUDA") != NULL || strstr(tinv_last_error(), "visible") != NULL);
    } else {
        CHECK(ts_device_parse("cuda:0", &d) == TINV_OK && d.type == TS_CUDA);
        CHECK(ts_device_parse("cuda:999", &d) == TINV_ERR_DEVICE);
    }
}

int main(void)
{
    RUN(test_randn_matches_pytorch_seed_42);
    RUN(test_randn_same_seed_and_restored_state_repeat);
    RUN(test_conv2d_identity_kernel_returns_input);
    RUN(test_circular_conv_wraps_around);
    RUN(test_softmax_rows_sum_to_one);
    RUN(test_grad_of_sum_of_squares_is_2x);
    RUN(test_linear_matches_hand_computation);
    RUN(test_group_and_layer_norm_standardise);
    RUN(test_attention_with_equal_keys_averages_values);
    RUN(test_shape_ops);
    RUN(test_scopes_free_everything_but_returned);
    RUN(test_libtorch_exception_becomes_status);
    RUN(test_device_strings);

    if (ts_live_tensors() != 0) {
        fprintf(stderr, "leaked %ld tensor handles\n", ts_live_tensors());
        return 1;
    }
    return check_summary("shim");
}
