/* A per-handle logger: each handle embeds one, copied from its creation options. */
#ifndef TI_LOG_H
#define TI_LOG_H

#include "tinv.h"

typedef struct ti_logger {
    tinv_log_fn fn;
    void *user;
    tinv_log_level max_level;
} ti_logger;

/* Format and forward a message if the logger has a callback and the level is enabled. */
void ti_log(const ti_logger *logger, tinv_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
