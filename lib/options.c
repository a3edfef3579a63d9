/* tinv_options: creation-time settings (device, dtype, logging), changed one at a time. */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void ti_options_defaults(struct tinv_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->device.type = TS_CPU;
    strcpy(opts->device_name, "cpu");
    opts->dtype = TINV_DTYPE_FP32;
    opts->logger.max_level = TINV_LOG_WARN;
}

void ti_options_resolve(const tinv_options *opts, struct tinv_options *out)
{
    if (opts != NULL)
        *out = *opts;
    else
        ti_options_defaults(out);
}

TINV_API tinv_status tinv_options_create(tinv_options **out)
{
    TI_REQUIRE(out);
    *out = NULL;
    tinv_options *opts = malloc(sizeof *opts);
    if (opts == NULL)
        return ti_error(TINV_ERR_OUT_OF_MEMORY, "tinv_options_create: out of memory");
    ti_options_defaults(opts);
    *out = opts;
    return TINV_OK;
}

TINV_API void tinv_options_free(tinv_options *opts) { free(opts); }

TINV_API tinv_status tinv_options_set_device(tinv_options *opts, const char *device)
{
    TI_REQUIRE(opts);
    TI_REQUIRE(device);
    ts_device parsed;
    TI_TRY(ts_device_parse(device, &parsed));
    if (strlen(device) >= sizeof opts->device_name)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "device name too long: '%s'", device);
    opts->device = parsed;
    strcpy(opts->device_name, device);
    return TINV_OK;
}

TINV_API tinv_status tinv_options_set_dtype(tinv_options *opts, tinv_dtype dtype)
{
    TI_REQUIRE(opts);
    if (dtype != TINV_DTYPE_FP32 && dtype != TINV_DTYPE_FP16 && dtype != TINV_DTYPE_BF16)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "unknown dtype %d (expected TINV_DTYPE_FP32, _FP16 or _BF16)",
                        (int)dtype);
    opts->dtype = dtype;
    return TINV_OK;
}

TINV_API tinv_status tinv_options_set_log_callback(tinv_options *opts, tinv_log_fn fn,
                                                   tinv_log_level max_level, void *user)
{
    TI_REQUIRE(opts);
    if (max_level < TINV_LOG_ERROR || max_level > TINV_LOG_DEBUG)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "unknown log level %d", (int)max_level);
    opts->logger.fn = fn;
    opts->logger.user = user;
    opts->logger.max_level = max_level;
    return TINV_OK;
}

TINV_API tinv_status tinv_options_set_config_dir(tinv_options *opts, const char *dir)
{
    TI_REQUIRE(opts);
    if (dir == NULL) {
        opts->config_dir[0] = '\0';
        return TINV_OK;
    }
    if (strlen(dir) >= sizeof opts->config_dir)
        return ti_error(TINV_ERR_INVALID_ARGUMENT, "config folder path too long: '%s'", dir);
    strcpy(opts->config_dir, dir);
    return TINV_OK;
}
