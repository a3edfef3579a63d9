/* Tests of the foundation's public API: versions, statuses, errors, options, devices, runtime. */
#include <string.h>

#include "check.h"
#include "tinv.h"

static void test_version_matches_header(void)
{
    CHECK(tinv_version() == TINV_VERSION_NUMBER);
    CHECK(strcmp(tinv_version_string(), TINV_VERSION_STRING) == 0);
}

static void test_every_status_has_a_distinct_string(void)
{
    for (int a = TINV_OK; a <= TINV_ERR_INTERNAL; a++) {
        CHECK(tinv_status_str((tinv_status)a) != NULL);
        CHECK(strcmp(tinv_status_str((tinv_status)a), "unknown status") != 0);
        for (int b = a + 1; b <= TINV_ERR_INTERNAL; b++)
            CHECK(strcmp(tinv_status_str((tinv_status)a), tinv_status_str((tinv_status)b)) != 0);
    }
    CHECK(strcmp(tinv_status_str((tinv_status)999), "unknown status") == 0);
}

static void test_null_arguments_are_errors_not_crashes(void)
{
    tinv_clear_error();
    CHECK(strcmp(tinv_last_error(), "") == 0);
    CHECK(tinv_options_create(NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "NULL") != NULL);
    CHECK(tinv_last_status() == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_options_set_device(NULL, "cpu") == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_options_set_dtype(NULL, TINV_DTYPE_FP32) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_options_set_log_callback(NULL, NULL, TINV_LOG_INFO, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_device_check(NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_runtime_info(NULL, 10, NULL) == TINV_ERR_INVALID_ARGUMENT);
    tinv_options_free(NULL);
}

static void test_options_validate_their_values(void)
{
    tinv_options *o = NULL;
    CHECK(tinv_options_create(&o) == TINV_OK && o != NULL);
    CHECK(tinv_options_set_device(o, "cpu") == TINV_OK);
    CHECK(tinv_options_set_device(o, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_options_set_device(o, "tpu:0") == TINV_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tinv_last_error(), "tpu:0") != NULL);
    CHECK(tinv_options_set_dtype(o, TINV_DTYPE_BF16) == TINV_OK);
    CHECK(tinv_options_set_dtype(o, (tinv_dtype)42) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_options_set_log_callback(o, NULL, (tinv_log_level)9, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_options_set_log_callback(o, NULL, TINV_LOG_DEBUG, NULL) == TINV_OK);
    tinv_options_free(o);
}

static void test_cuda_request_on_cpu_build_is_a_device_error(void)
{
    if (tinv_cuda_device_count() > 0) {
        CHECK(tinv_device_check("cuda:0") == TINV_OK);
        return;
    }
    CHECK(tinv_device_check("cuda") == TINV_ERR_DEVICE);
    CHECK(tinv_device_check("cuda:1") == TINV_ERR_DEVICE);
    CHECK(strstr(tinv_last_error(), "CUDA") != NULL);
    CHECK(tinv_device_check("cpu") == TINV_OK);
}

static void test_threads_and_runtime_info(void)
{
    CHECK(tinv_set_num_threads(-1) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_set_num_threads(1) == TINV_OK);
    CHECK(tinv_get_num_threads() == 1);
    CHECK(tinv_set_num_threads(0) == TINV_OK);
    CHECK(tinv_get_num_threads() >= 1);
    char full[1024], small[8];
    size_t needed = 0;
    CHECK(tinv_runtime_info(full, sizeof full, &needed) == TINV_OK);
    CHECK(needed == strlen(full));
    CHECK(strstr(full, "libtorch") != NULL && strstr(full, "BLAS") != NULL);
    CHECK(tinv_runtime_info(small, sizeof small, &needed) == TINV_OK);
    CHECK(strlen(small) == sizeof small - 1 && strncmp(small, full, sizeof small - 1) == 0);
    CHECK(tinv_runtime_info(NULL, 0, &needed) == TINV_OK && needed == strlen(full));
}

/* Every public function that takes a handle or pointer answers NULL with a status (or the
 * documented neutral value), never a crash. */
static void test_every_function_rejects_null_handles(void)
{
    int32_t id = 0, ids[4] = {0};
    size_t count = 0;
    char buf[16];
    float f[8] = {0};
    int64_t v = 0;
    double d = 0;
    tinv_tokenizer *tok = (tinv_tokenizer *)1;
    tinv_model *model = (tinv_model *)1;
    CHECK(tinv_tokenizer_load(NULL, NULL, &tok) == TINV_ERR_INVALID_ARGUMENT && tok == NULL);
    CHECK(tinv_tokenizer_load("x", NULL, NULL) == TINV_ERR_INVALID_ARGUMENT);
    tinv_tokenizer_free(NULL);
    CHECK(tinv_tokenizer_set_log_callback(NULL, NULL, TINV_LOG_INFO, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_add_token(NULL, "<x>", &id) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_encode(NULL, "a", 1, ids, 4, &count, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_decode(NULL, ids, 1, buf, sizeof buf, &count) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_vocab_size(NULL) == 0 && tinv_tokenizer_max_length(NULL) == 0);
    CHECK(tinv_tokenizer_bos_id(NULL) == -1 && tinv_tokenizer_eos_id(NULL) == -1 && tinv_tokenizer_pad_id(NULL) == -1);
    CHECK(tinv_tokenizer_token_to_id(NULL, "a", &id) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_tokenizer_id_to_token(NULL, 1, buf, sizeof buf, &count) == TINV_ERR_INVALID_ARGUMENT);

    CHECK(tinv_model_load(NULL, NULL, &model) == TINV_ERR_INVALID_ARGUMENT && model == NULL);
    CHECK(tinv_model_load("x", NULL, NULL) == TINV_ERR_INVALID_ARGUMENT);
    tinv_model_free(NULL);
    CHECK(tinv_model_set_log_callback(NULL, NULL, TINV_LOG_INFO, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_get_int(NULL, TINV_MODEL_TEXT_HIDDEN_SIZE, &v) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_get_vae_scaling_factor(NULL, &d) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_encode_text(NULL, ids, 1, 1, f, NULL) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_unet(NULL, f, 1, 8, 8, f, 1, f, 1, f) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_vae_encode(NULL, f, 1, 8, 8, f, f) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_model_vae_decode(NULL, f, 1, 1, 1, f) == TINV_ERR_INVALID_ARGUMENT);
    CHECK(tinv_options_set_config_dir(NULL, "x") == TINV_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    RUN(test_version_matches_header);
    RUN(test_every_status_has_a_distinct_string);
    RUN(test_null_arguments_are_errors_not_crashes);
    RUN(test_options_validate_their_values);
    RUN(test_cuda_request_on_cpu_build_is_a_device_error);
    RUN(test_threads_and_runtime_info);
    RUN(test_every_function_rejects_null_handles);
    return check_summary("api");
}
