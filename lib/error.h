/* Thread-local error state behind tinv_last_error(); used by lib/ and shim/. */
#ifndef TI_ERROR_H
#define TI_ERROR_H

#include "tinv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Record `status` with a printf-style message for the calling thread; returns `status`
 * so call sites can write `return ti_error(TINV_ERR_IO, "...")`. */
tinv_status ti_error(tinv_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefix the current message with more context ("loading x: " + old message), keeping its status. */
tinv_status ti_error_prefix(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Reject a NULL pointer argument of a public function. */
#define TI_REQUIRE(ptr)                                                                       \
    do {                                                                                      \
        if ((ptr) == NULL)                                                                    \
            return ti_error(TINV_ERR_INVALID_ARGUMENT, "%s: argument '%s' is NULL", __func__, #ptr); \
    } while (0)

/* Propagate a failing status. */
#define TI_TRY(expr)                      \
    do {                                  \
        tinv_status ti_try_st_ = (expr);  \
        if (ti_try_st_ != TINV_OK)        \
            return ti_try_st_;            \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
