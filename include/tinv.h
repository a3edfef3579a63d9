/**
 * @file tinv.h
 * @brief libtinv — Textual Inversion for Stable Diffusion, as an embeddable C library.
 *
 * This is the only public header. Everything it declares is part of the stable ABI
 * of `libtinv.so.0`; see docs/abi.md for the rules that keep it stable.
 *
 * Conventions used by every function:
 *  - Functions that can fail return a ::tinv_status. On failure a human-readable
 *    message is available from tinv_last_error() on the same thread.
 *  - Handles are opaque pointers. Every `*_free()` function accepts NULL.
 *  - Options are never structs: settings live in opaque handles and are changed one
 *    at a time with named setter functions (e.g. tinv_options_set_device()), so new
 *    settings never change the size or layout of anything a caller compiled against.
 *  - Callbacks (log, progress) are set per handle and always receive the caller's
 *    `void *user` pointer, so several independent instances can live in one process.
 *  - Thread rule: one handle is used by one thread at a time; different handles may be
 *    used concurrently from different threads.
 *  - The library never prints to stdout/stderr and never exits the process.
 */
#ifndef TINV_H
#define TINV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(TINV_STATIC_BUILD)
#define TINV_API __attribute__((visibility("default")))
#else
#define TINV_API
#endif

/* ------------------------------------------------------------------------- */
/** @name Version */
/** @{ */
#define TINV_VERSION_MAJOR 0
#define TINV_VERSION_MINOR 1
#define TINV_VERSION_PATCH 0
/** MAJOR*10000 + MINOR*100 + PATCH, comparable with tinv_version(). */
#define TINV_VERSION_NUMBER (TINV_VERSION_MAJOR * 10000 + TINV_VERSION_MINOR * 100 + TINV_VERSION_PATCH)
#define TINV_VERSION_STRING "0.1.0"

/** @return the version number of the library actually loaded (same encoding as TINV_VERSION_NUMBER). */
TINV_API unsigned tinv_version(void);
/** @return the version of the loaded library as a static string, e.g. "0.1.0". */
TINV_API const char *tinv_version_string(void);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Status codes and errors */
/** @{ */
/** Result of every fallible call. Values are stable; new codes may be added at the end. */
typedef enum tinv_status {
    TINV_OK = 0,                /**< success */
    TINV_ERR_INVALID_ARGUMENT = 1, /**< NULL pointer, out-of-range value, bad device string, ... */
    TINV_ERR_IO = 2,            /**< a file could not be opened, read or written */
    TINV_ERR_BAD_FORMAT = 3,    /**< a file or buffer is malformed (corrupt, truncated, wrong shape) */
    TINV_ERR_UNSUPPORTED = 4,   /**< valid request this build or model cannot do */
    TINV_ERR_OUT_OF_MEMORY = 5, /**< host or device allocation failed */
    TINV_ERR_DEVICE = 6,        /**< device not available (e.g. CUDA on a CPU-only build) */
    TINV_ERR_CANCELLED = 7,     /**< a progress callback asked to stop */
    TINV_ERR_NUMERIC = 8,       /**< NaN or infinity where a finite value is required */
    TINV_ERR_INTERNAL = 9       /**< a bug or an unexpected libtorch failure; the message says more */
} tinv_status;

/** @return a short static description of a status code ("invalid argument", ...). Never NULL. */
TINV_API const char *tinv_status_str(tinv_status status);

/**
 * @return the message of the last failed call on the calling thread, or "" if none.
 * The string stays valid until the next libtinv call on this thread.
 */
TINV_API const char *tinv_last_error(void);

/** @return the status of the last failed call on the calling thread (TINV_OK if none). */
TINV_API tinv_status tinv_last_status(void);

/** Forget the calling thread's last error. */
TINV_API void tinv_clear_error(void);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Logging */
/** @{ */
/** Severity of a log message; a handle forwards messages up to its configured level. */
typedef enum tinv_log_level {
    TINV_LOG_ERROR = 0,
    TINV_LOG_WARN = 1,
    TINV_LOG_INFO = 2,
    TINV_LOG_DEBUG = 3
} tinv_log_level;

/**
 * Log callback. Called on the thread doing the work; `message` is valid only during
 * the call and has no trailing newline.
 */
typedef void (*tinv_log_fn)(void *user, tinv_log_level level, const char *message);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Devices, dtypes and the runtime */
/** @{ */
/** Compute precision of model weights and activations. */
typedef enum tinv_dtype {
    TINV_DTYPE_FP32 = 0,
    TINV_DTYPE_FP16 = 1,
    TINV_DTYPE_BF16 = 2
} tinv_dtype;

/**
 * Check that a device string is well formed and usable in this process:
 * "cpu", "cuda" (= "cuda:0") or "cuda:N".
 * @return TINV_OK; TINV_ERR_INVALID_ARGUMENT for a malformed or NULL string;
 *         TINV_ERR_DEVICE when the device does not exist or libtorch was built without CUDA.
 */
TINV_API tinv_status tinv_device_check(const char *device);

/** @return the number of CUDA devices visible to libtorch (0 on CPU-only builds). */
TINV_API int tinv_cuda_device_count(void);

/**
 * Set the number of threads libtorch uses for intra-op parallelism. This is a
 * process-wide setting of libtorch (the one global setting the library touches).
 * Debian's libtorch defaults to 1 thread; `n` = 0 means "one per online CPU".
 */
TINV_API tinv_status tinv_set_num_threads(int n);

/** @return libtorch's current intra-op thread count. */
TINV_API int tinv_get_num_threads(void);

/**
 * Describe the runtime: libtinv and libtorch versions, the BLAS library libtorch
 * resolved, whether oneDNN and CUDA are available, and the thread count, as one
 * line of text. Writes at most `size` bytes including the terminating NUL; if
 * `needed` is non-NULL it receives the full length (excluding the NUL).
 */
TINV_API tinv_status tinv_runtime_info(char *buf, size_t size, size_t *needed);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Options
 * An options handle carries the settings used when a handle is created or loaded
 * (device, dtype, log callback). Pass NULL wherever options are accepted to get the
 * defaults: CPU, fp32, no logging. The options are copied at creation time, so the
 * options handle may be freed or reused right after.
 */
/** @{ */
typedef struct tinv_options tinv_options;

/** Create an options handle holding the defaults. */
TINV_API tinv_status tinv_options_create(tinv_options **out);
/** Free an options handle (NULL is accepted). */
TINV_API void tinv_options_free(tinv_options *opts);
/** Set the device ("cpu", "cuda", "cuda:N"); validated with tinv_device_check(). */
TINV_API tinv_status tinv_options_set_device(tinv_options *opts, const char *device);
/** Set the compute dtype (default TINV_DTYPE_FP32). */
TINV_API tinv_status tinv_options_set_dtype(tinv_options *opts, tinv_dtype dtype);
/**
 * Set the log callback and the most verbose level forwarded to it (default: no
 * callback). `fn` = NULL turns logging off. Handles created with these options log
 * through it; each such handle also has its own setter.
 */
TINV_API tinv_status tinv_options_set_log_callback(tinv_options *opts, tinv_log_fn fn,
                                                   tinv_log_level max_level, void *user);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Handles
 * Opaque handles filled in by their own sections of this header.
 */
/** @{ */
typedef struct tinv_tokenizer tinv_tokenizer; /**< CLIP BPE tokenizer */
typedef struct tinv_model tinv_model;         /**< a Stable Diffusion model (text encoder, UNet, VAE) */
typedef struct tinv_optimizer tinv_optimizer; /**< AdamW state over a set of trainable tensors */
typedef struct tinv_trainer tinv_trainer;     /**< textual-inversion training loop */
typedef struct tinv_sampler tinv_sampler;     /**< classifier-free-guidance image sampler */
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* TINV_H */
