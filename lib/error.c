/* Status strings and the per-thread "last error" message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { TI_ERROR_MAX = 2048 };

static _Thread_local char last_message[TI_ERROR_MAX];
static _Thread_local tinv_status last_status = TINV_OK;

tinv_status ti_error(tinv_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

tinv_status ti_error_prefix(const char *fmt, ...)
{
    char prefix[512];
    char old[TI_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_message, sizeof old);
    snprintf(last_message, sizeof last_message, "%s: %.1500s", prefix, old);
    return last_status;
}

TINV_API const char *tinv_last_error(void) { return last_message; }

TINV_API tinv_status tinv_last_status(void) { return last_status; }

TINV_API void tinv_clear_error(void)
{
    last_message[0] = '\0';
    last_status = TINV_OK;
}

TINV_API const char *tinv_status_str(tinv_status status)
{
    switch (status) {
    case TINV_OK: return "ok";
    case TINV_ERR_INVALID_ARGUMENT: return "invalid argument";
    case TINV_ERR_IO: return "I/O error";
    case TINV_ERR_BAD_FORMAT: return "bad format";
    case TINV_ERR_UNSUPPORTED: return "unsupported";
    case TINV_ERR_OUT_OF_MEMORY: return "out of memory";
    case TINV_ERR_DEVICE: return "device error";
    case TINV_ERR_CANCELLED: return "cancelled";
    case TINV_ERR_NUMERIC: return "numeric error (NaN or infinity)";
    case TINV_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
