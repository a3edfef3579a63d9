/* Formatting front-end for per-handle log callbacks. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void ti_log(const ti_logger *logger, tinv_log_level level, const char *fmt, ...)
{
    if (logger == NULL || logger->fn == NULL || level > logger->max_level)
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    logger->fn(logger->user, level, message);
}
