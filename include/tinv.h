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
/**
 * For single-file checkpoints: a diffusers-style folder whose text_encoder/, unet/ and vae/
 * config.json files give the architecture, instead of inferring it from the checkpoint's key
 * names and shapes (needed for non-standard sizes). NULL restores inference.
 */
TINV_API tinv_status tinv_options_set_config_dir(tinv_options *opts, const char *dir);
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

/* ------------------------------------------------------------------------- */
/** @name Models
 * A Stable Diffusion 1.x/2.x model: CLIP text encoder, UNet and VAE. The forward-pass
 * functions work on caller-provided float32 buffers in row-major (C) order; shapes are
 * given in each function's documentation. They run without recording gradients.
 */
/** @{ */

/**
 * Load a model from a diffusers folder (model_index.json, text_encoder/, unet/, vae/, each
 * with config.json and .safetensors weights), or from a single-file original-layout
 * checkpoint (`.safetensors`; architecture inferred for standard SD 1.x/2.x, or taken from
 * tinv_options_set_config_dir()). Weights are converted to the options' dtype
 * and placed on the options' device (NULL options: CPU, fp32). Pickle files (.bin, .ckpt,
 * .pt) are refused: loading them would execute untrusted code.
 * On failure nothing is allocated and `*out` is NULL.
 */
TINV_API tinv_status tinv_model_load(const char *path, const tinv_options *opts, tinv_model **out);

/** Free a model (NULL is accepted). */
TINV_API void tinv_model_free(tinv_model *model);

/** Replace the model's log callback (see tinv_options_set_log_callback()). */
TINV_API tinv_status tinv_model_set_log_callback(tinv_model *model, tinv_log_fn fn, tinv_log_level max_level,
                                                 void *user);

/** Integer properties of a loaded model, read with tinv_model_get_int(). Values only grow. */
typedef enum tinv_model_property {
    TINV_MODEL_TEXT_HIDDEN_SIZE = 0,  /**< width W of the text encoder's hidden states */
    TINV_MODEL_TEXT_MAX_LENGTH = 1,   /**< positions of the text encoder (77) */
    TINV_MODEL_TEXT_VOCAB_SIZE = 2,   /**< rows of the token-embedding table */
    TINV_MODEL_CONTEXT_DIM = 3,       /**< the UNet's cross-attention width */
    TINV_MODEL_LATENT_CHANNELS = 4,   /**< channels of the latents (4) */
    TINV_MODEL_VAE_SCALE_FACTOR = 5,  /**< image pixels per latent pixel (8 for SD) */
    TINV_MODEL_UNET_SIZE_MULTIPLE = 6, /**< latent height/width must be multiples of this */
    /** What the UNet predicts, from the model's scheduler config: 0 = epsilon (noise), 1 = v.
     *  Diffusers folders: scheduler/scheduler_config.json's prediction_type. Single-file
     *  checkpoints: the config folder's scheduler config when tinv_options_set_config_dir() gives
     *  one, else SD defaults — SD 1.x (768-wide context): PNDM, epsilon; SD 2.x (1024-wide
     *  context): DDIM, v_prediction (as the 768-v models; use a config folder for SD 2 base). */
    TINV_MODEL_PREDICTION_TYPE = 7
} tinv_model_property;

/** Read an integer property. */
TINV_API tinv_status tinv_model_get_int(const tinv_model *model, tinv_model_property property, int64_t *value);

/** The VAE's latent scaling factor (0.18215 for SD 1.x/2.x). */
TINV_API tinv_status tinv_model_get_vae_scaling_factor(const tinv_model *model, double *value);

/**
 * CLIP text encoder. `ids` holds batch × seq_len token ids (seq_len ≤ TEXT_MAX_LENGTH, ids
 * < TEXT_VOCAB_SIZE plus the model's learned vectors). Writes the last hidden state [batch, seq_len, W] to `hidden` and, if
 * `pooled` is non-NULL, the pooled output [batch, W] (the hidden state at the position of
 * the largest id in each row, as transformers does for SD's text encoders).
 */
TINV_API tinv_status tinv_model_encode_text(tinv_model *model, const int32_t *ids, size_t batch, size_t seq_len,
                                            float *hidden, float *pooled);

/**
 * UNet noise (epsilon) or v prediction, per the model's training objective.
 * `sample`: [batch, latent_channels, height, width]; `timesteps`: `n_timesteps` values,
 * either 1 (used for every sample) or `batch` (one per sample), may be fractional;
 * `context`: [batch, context_len, CONTEXT_DIM] text-encoder states. Writes `out` with the
 * shape of `sample`. height and width must be multiples of UNET_SIZE_MULTIPLE.
 */
TINV_API tinv_status tinv_model_unet(tinv_model *model, const float *sample, size_t batch, size_t height,
                                     size_t width, const float *timesteps, size_t n_timesteps, const float *context,
                                     size_t context_len, float *out);

/**
 * VAE encoder: posterior moments of `image` [batch, 3, height, width] with values in [-1, 1].
 * Writes `mean` and `logvar` (clamped to [-30, 20]), each [batch, latent_channels,
 * height/f, width/f] with f = VAE_SCALE_FACTOR; height and width must be multiples of f.
 */
TINV_API tinv_status tinv_model_vae_encode(tinv_model *model, const float *image, size_t batch, size_t height,
                                           size_t width, float *mean, float *logvar);

/**
 * VAE decoder: `latents` [batch, latent_channels, height, width] (unscaled: divide UNet-space
 * latents by the scaling factor first) to `image` [batch, 3, height*f, width*f], not clamped.
 */
TINV_API tinv_status tinv_model_vae_decode(tinv_model *model, const float *latents, size_t batch, size_t height,
                                           size_t width, float *image);
/** @} */

/* ---- Tokenizer ---- */
/** @name Tokenizer
 * CLIP's byte-level BPE tokenizer, id for id as Hugging Face's (slow) `CLIPTokenizer` with
 * ftfy: text clean-up (ftfy fixes, NFC, whitespace collapse, lowercase), CLIP's pre-tokeniser
 * regex, BPE with `</w>` word ends, BOS/EOS, truncation and padding. Special tokens and added
 * tokens (textual-inversion placeholders) are matched as whole, case-sensitive strings in the
 * raw text before anything else, so e.g. with SD2's pad token `!` every `!` becomes the pad id.
 * Text is UTF-8; invalid UTF-8 is rejected with TINV_ERR_INVALID_ARGUMENT (never replaced).
 */
/** @{ */
/**
 * Load a tokenizer from `path`: a diffusers model folder (uses its `tokenizer/`), a tokenizer
 * folder (`vocab.json`, `merges.txt`, optional `tokenizer_config.json`,
 * `special_tokens_map.json`, `added_tokens.json`), or OpenAI's `bpe_simple_vocab_16e6.txt.gz`
 * (vocabulary derived from the merges; pad = `<|endoftext|>`, max length 77).
 * `opts` may be NULL; only its log callback is used.
 * @return TINV_OK; TINV_ERR_IO when a file is missing; TINV_ERR_BAD_FORMAT when a file is
 *         corrupt (the message names the file and, where it applies, the line).
 */
TINV_API tinv_status tinv_tokenizer_load(const char *path, const tinv_options *opts, tinv_tokenizer **out);
/** Free a tokenizer (NULL is accepted). */
TINV_API void tinv_tokenizer_free(tinv_tokenizer *tok);
/** Set this tokenizer's log callback and the most verbose level forwarded (`fn` NULL = off). */
TINV_API tinv_status tinv_tokenizer_set_log_callback(tinv_tokenizer *tok, tinv_log_fn fn, tinv_log_level max_level,
                                                     void *user);
/**
 * Add a token matched as a whole string before BPE (e.g. a placeholder `<cat-toy>`). Ids are
 * given in order from tinv_tokenizer_vocab_size() up. `id_out` may be NULL.
 * @return TINV_ERR_INVALID_ARGUMENT for an empty or non-UTF-8 token, or one that already exists
 *         (in the vocabulary or added before); the message gives the existing id.
 */
TINV_API tinv_status tinv_tokenizer_add_token(tinv_tokenizer *tok, const char *token, int32_t *id_out);
/**
 * Encode `text` to ids, starting with BOS and ending with EOS.
 *
 * With `pad` = 1 the result always has tinv_tokenizer_max_length() ids (77 for SD): longer
 * prompts are truncated to BOS + the first max-2 tokens + EOS (a warning is logged through the
 * handle's logger) and shorter ones are padded with the tokenizer's pad id. `cap` must be at
 * least the max length, else TINV_ERR_INVALID_ARGUMENT.
 *
 * With `pad` = 0 the full, untruncated sequence is returned. If it does not fit in `cap`,
 * nothing is written and TINV_ERR_INVALID_ARGUMENT is returned; `ids` = NULL with `cap` = 0 is
 * a size query that returns TINV_OK. In every case `*count` receives the sequence length.
 *
 * `mask` (NULL or `cap` bytes) receives the attention mask: 1 for real tokens, 0 for padding.
 * @return TINV_ERR_INVALID_ARGUMENT also for text that is not valid UTF-8 (offset in the message).
 */
TINV_API tinv_status tinv_tokenizer_encode(tinv_tokenizer *tok, const char *text, int pad, int32_t *ids, size_t cap,
                                           size_t *count, uint8_t *mask);
/**
 * Decode ids to text: byte-level symbols back to bytes (invalid UTF-8 becomes U+FFFD), word
 * ends `</w>` to spaces, special and added tokens copied verbatim, ends stripped. No other
 * clean-up. Writes at most `cap` bytes including the NUL (never splitting a UTF-8 character);
 * `needed` (may be NULL) receives the full length without the NUL.
 * @return TINV_ERR_INVALID_ARGUMENT for an id that is not a token.
 */
TINV_API tinv_status tinv_tokenizer_decode(const tinv_tokenizer *tok, const int32_t *ids, size_t n, char *buf,
                                           size_t cap, size_t *needed);
/** @return the number of tokens, added tokens included (the next added token's id); 0 for NULL. */
TINV_API size_t tinv_tokenizer_vocab_size(const tinv_tokenizer *tok);
/** @return the padded sequence length (`model_max_length`, 77 for SD); 0 for NULL. */
TINV_API size_t tinv_tokenizer_max_length(const tinv_tokenizer *tok);
/** @return the begin-of-text id (49406 for CLIP); -1 for NULL. */
TINV_API int32_t tinv_tokenizer_bos_id(const tinv_tokenizer *tok);
/** @return the end-of-text id (49407 for CLIP); -1 for NULL. */
TINV_API int32_t tinv_tokenizer_eos_id(const tinv_tokenizer *tok);
/** @return the pad id (49407 for SD1, 0 = `!` for SD2); -1 for NULL. */
TINV_API int32_t tinv_tokenizer_pad_id(const tinv_tokenizer *tok);
/**
 * Look up the id of one token string as it appears in the vocabulary (e.g. "cat</w>") or an
 * added/special token. @return TINV_ERR_INVALID_ARGUMENT (and *id = -1) when unknown.
 */
TINV_API tinv_status tinv_tokenizer_token_to_id(const tinv_tokenizer *tok, const char *token, int32_t *id);
/**
 * The token string of `id` (byte-level symbols, e.g. "cat</w>"). Buffer rules as
 * tinv_tokenizer_decode(). @return TINV_ERR_INVALID_ARGUMENT for an unknown id.
 */
TINV_API tinv_status tinv_tokenizer_id_to_token(const tinv_tokenizer *tok, int32_t id, char *buf, size_t cap,
                                                size_t *needed);
/** @} */

/* ---- Sampler ---- */
/** @name Sampler
 * Text-to-image sampling with classifier-free guidance, as diffusers' StableDiffusionPipeline:
 * the prompt and negative prompt are tokenized (padded/truncated to 77; a truncation is logged as
 * a warning through the sampler's logger) and encoded once per run; each step runs the UNet on
 * ONE batch [uncond × n, cond × n] (negative first) and combines
 * `e_u + guidance · (e_c − e_u)`; the scheduler steps; the VAE decodes `latents / scaling_factor`
 * and the image is `clamp(x / 2 + 0.5, 0, 1)`.
 *
 * Randomness: image i of a batch has its own CPU generator seeded `seed + i` (exactly
 * `torch.Generator('cpu').manual_seed(seed + i)`): it draws the initial latents
 * `randn([1, C, h, w]) × init_noise_sigma`, then the ancestral noise of the scheduler (Euler
 * ancestral, DDPM) in diffusers' order. So image i of a batch is a batch-of-1 run with seed
 * `seed + i` (up to float rounding that differs with the batch size: a few pixels may differ by
 * one level), and a batch-of-1 run reproduces diffusers with the same seed.
 *
 * Lifetimes: the sampler borrows the model and the tokenizer; both must outlive it and must not
 * be used by another thread while a run is in progress. Settings persist across runs.
 */
/** @{ */

/**
 * Create a sampler over `model` and `tokenizer` (borrowed, not owned). Defaults: empty prompt
 * and negative prompt, guidance 7.5, 50 steps, the model's own scheduler ("default"), seed 0,
 * 512×512, batch 1, no tiling, no progress callback, the model's log callback.
 */
TINV_API tinv_status tinv_sampler_create(tinv_model *model, tinv_tokenizer *tokenizer, tinv_sampler **out);
/** Free a sampler (NULL is accepted). The model and tokenizer are not freed. */
TINV_API void tinv_sampler_free(tinv_sampler *sampler);
/** Set the prompt (UTF-8, copied; NULL = ""). Invalid UTF-8 is reported by the run. */
TINV_API tinv_status tinv_sampler_set_prompt(tinv_sampler *sampler, const char *prompt);
/** Set the negative prompt: the unconditional half of the guidance batch (copied; NULL = ""). */
TINV_API tinv_status tinv_sampler_set_negative_prompt(tinv_sampler *sampler, const char *negative);
/**
 * Set the guidance scale in [0, 1000] (default 7.5). As in diffusers, a scale ≤ 1.0 turns
 * guidance off: the UNet then runs on the prompt alone (half the work) and the negative prompt
 * is ignored.
 * @return TINV_ERR_INVALID_ARGUMENT for NaN, ±infinity, a negative scale or one above 1000
 *         (the scale is left unchanged).
 */
TINV_API tinv_status tinv_sampler_set_guidance(tinv_sampler *sampler, double guidance);
/** Set the number of denoising steps, 1..1000 (default 50); TINV_ERR_INVALID_ARGUMENT otherwise. */
TINV_API tinv_status tinv_sampler_set_steps(tinv_sampler *sampler, int steps);
/**
 * Set the scheduler: "ddim", "pndm", "euler", "euler_ancestral", "dpmpp_2m",
 * "dpmpp_2m_karras", "lms", "ddpm", or "default" (the class named by the model's scheduler
 * config). Every kind is built from the model's config the way diffusers' `from_config` does.
 * @return TINV_ERR_INVALID_ARGUMENT for any other name.
 */
TINV_API tinv_status tinv_sampler_set_scheduler(tinv_sampler *sampler, const char *name);
/** Set the seed of image 0 (image i uses seed + i). Default 0. */
TINV_API tinv_status tinv_sampler_set_seed(tinv_sampler *sampler, uint64_t seed);
/**
 * Set the image size in pixels. Width and height must be multiples of VAE_SCALE_FACTOR ×
 * UNET_SIZE_MULTIPLE (8 × 8 = 64 for SD 1.x/2.x; 8 × 2 for small test models), at most 8192.
 * @return TINV_ERR_INVALID_ARGUMENT otherwise (the size is left unchanged).
 */
TINV_API tinv_status tinv_sampler_set_size(tinv_sampler *sampler, int width, int height);
/** Set the number of images per run, 1..64 (default 1). */
TINV_API tinv_status tinv_sampler_set_batch(tinv_sampler *sampler, int n);
/** Non-zero: circular padding in every UNet and VAE convolution, so images tile seamlessly. */
TINV_API tinv_status tinv_sampler_set_tiling(tinv_sampler *sampler, int tiling);
/**
 * Prompts longer than the tokenizer's window (75 tokens + BOS/EOS for SD): `chunked` = 0 (the
 * default, as diffusers) truncates them with a logged warning; non-zero encodes them as
 * AUTOMATIC1111 does — 75-token chunks, each with BOS/EOS, concatenated along the token axis (the
 * shorter of prompt and negative prompt gets empty chunks), at most 16 chunks.
 */
TINV_API tinv_status tinv_sampler_set_long_prompts(tinv_sampler *sampler, int chunked);
/**
 * Set a progress callback, called after each denoising step with `step` = 1..total (PNDM runs
 * one step more than requested, and `total` says so). A non-zero return cancels the run, which
 * then returns TINV_ERR_CANCELLED having freed everything it allocated. `fn` NULL = none.
 */
TINV_API tinv_status tinv_sampler_set_progress_callback(tinv_sampler *sampler,
                                                        int (*fn)(void *user, int step, int total), void *user);
/** Set this sampler's log callback and level (`fn` NULL = off); initially the model's. */
TINV_API tinv_status tinv_sampler_set_log_callback(tinv_sampler *sampler, tinv_log_fn fn, tinv_log_level max_level,
                                                   void *user);
/** Read the current size and batch (any pointer may be NULL), e.g. to size tinv_sampler_run()'s buffer. */
TINV_API tinv_status tinv_sampler_get_size(const tinv_sampler *sampler, int *width, int *height, int *batch);
/**
 * Sample `batch` images into `rgb`: batch × height × width × 3 bytes, image after image, rows top
 * to bottom, RGB interleaved; values are round(255 · x) (half to even) as diffusers' PIL output.
 * @return TINV_ERR_INVALID_ARGUMENT when `cap` is smaller than that; TINV_ERR_CANCELLED when the
 *         progress callback stopped the run (the buffer contents are then unspecified).
 */
TINV_API tinv_status tinv_sampler_run(tinv_sampler *sampler, uint8_t *rgb, size_t cap);
/** As tinv_sampler_run() with 4 bytes per pixel (RGBA, alpha 255): batch × height × width × 4. */
TINV_API tinv_status tinv_sampler_run_rgba(tinv_sampler *sampler, uint8_t *rgba, size_t cap);
/**
 * Sample in float32, for tests and bindings. `image_nhwc` (may be NULL: no VAE decode) receives
 * batch × height × width × 3 values in [0, 1] (diffusers' output_type="np"); `latents` (may be
 * NULL) the final latents [batch, C, height/f, width/f] before the 1/scaling_factor (diffusers'
 * output_type="latent").
 */
TINV_API tinv_status tinv_sampler_run_float(tinv_sampler *sampler, float *image_nhwc, float *latents);
/**
 * Write `count` images of width × height × `channels` (3 = RGB, 4 = RGBA) bytes each, stored one
 * after another (as tinv_sampler_run() fills them), as PNG or JPEG chosen by the extension of
 * `path` (.png, .jpg, .jpeg). The file is written to "<path>.tmp" and renamed, so a crash never
 * leaves a partial picture; on failure the .tmp file is removed. A path in a folder that does
 * not exist (or cannot be written) gives TINV_ERR_IO and creates nothing.
 *  - `grid_cols` > 0: one file, the images tiled left to right, top to bottom, in that many
 *    columns (fewer when count is smaller); empty cells are black.
 *  - `grid_cols` = 0: one file per image; with count > 1 image i goes to `path` with "_i" before
 *    the extension ("out.png" → "out_0.png", "out_1.png", …); a single image goes to `path`.
 *  - `jpeg_quality` 1..100 (JPEG only; ignored for PNG but still checked).
 *  - `params` (may be NULL): the sampler that made the images; its prompt, negative prompt,
 *    steps, scheduler, guidance, seed (seed + i per file), size and model path are stored as
 *    A1111-style text in a PNG text chunk "parameters" (JPEG: a comment "parameters: …").
 */
TINV_API tinv_status tinv_image_write(const char *path, const uint8_t *pixels, int width, int height, int channels,
                                      int count, int grid_cols, int jpeg_quality, const tinv_sampler *params);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Learned tokens and embedding files
 * A learned token (a textual-inversion "concept") is a word the base model does not know, such
 * as `<cat-toy>`, backed by 1..N vectors in the text encoder's token-embedding space. The
 * vectors live in the model and the token strings in the tokenizer, so these calls take both;
 * use the same pair for tinv_sampler_create() and the trainer. With N > 1 the tokenizer gets
 * the tokens `<cat-toy>`, `<cat-toy>_1`, … `<cat-toy>_{N-1}`, and every `<cat-toy>` in a prompt
 * expands to all N of them (as diffusers' pipelines do), so each vector reaches the encoder.
 * A model and tokenizer pair must only gain tokens through these calls (the tokenizer's next id
 * must equal the model's embedding rows plus its learned vectors, checked on every add).
 */
/** @{ */

/** Flag for tinv_model_add_token(): an init word of several tokens gets their mean vector. */
#define TINV_INIT_AVERAGE 1u

/**
 * Add a learned token with `num_vectors` vectors (1..64), each a copy of the embedding of
 * `init_word` (e.g. "toy"). `init_word` must be one token unless `flags` has TINV_INIT_AVERAGE;
 * NULL or "" starts every vector from one small random vector (seeded by the token name).
 * @return TINV_ERR_INVALID_ARGUMENT when the token (or one of its `_i` names) is already in the
 *         vocabulary, or the init word is several tokens (the message lists them) or unknown.
 */
TINV_API tinv_status tinv_model_add_token(tinv_model *model, tinv_tokenizer *tokenizer, const char *token,
                                          int num_vectors, const char *init_word, unsigned flags);
/**
 * Add a learned token from `num_vectors` × `dim` float32 values (row-major). `dim` must equal the
 * text encoder's width (TINV_MODEL_TEXT_HIDDEN_SIZE); the error message says which base model a
 * width belongs to (768 = SD 1.x, 1024 = SD 2.x).
 */
TINV_API tinv_status tinv_model_add_token_vectors(tinv_model *model, tinv_tokenizer *tokenizer, const char *token,
                                                  const float *vectors, int num_vectors, int dim);
/**
 * Copy a learned token's vectors into `out` (`cap` floats; num_vectors × width are written).
 * `out` NULL with `cap` 0 is a size query. `num_vectors` (may be NULL) receives N.
 * @return TINV_ERR_INVALID_ARGUMENT for a token that is not a learned token of this model.
 */
TINV_API tinv_status tinv_model_get_token_vectors(const tinv_model *model, const char *token, float *out,
                                                  size_t cap, int *num_vectors);
/** Number of learned tokens in the model. */
TINV_API int tinv_model_token_count(const tinv_model *model);
/** Name of learned token `index` (0-based, in the order added), or NULL when out of range. */
TINV_API const char *tinv_model_token_name(const tinv_model *model, int index);

/** Embedding file layouts tinv_model_save_embedding() writes. */
typedef enum tinv_embedding_format {
    /** diffusers `learned_embeds.safetensors`: one tensor named after the token, [N, width]. */
    TINV_EMBEDDING_DIFFUSERS = 0,
    /** AUTOMATIC1111/kohya safetensors: `emb_params` [N, width] plus metadata (name, step,
     *  base model). AUTOMATIC1111 and ComfyUI name the token after the file. */
    TINV_EMBEDDING_A1111 = 1
} tinv_embedding_format;

/**
 * Load a safetensors embedding file and add its token: diffusers `{token: [N, width]}`,
 * `emb_params`, or `string_to_param.*` layouts (a 1-D vector is one vector). The token is
 * `token` when not NULL, else the tensor's key for the diffusers layout, else the file name
 * without extension (as AUTOMATIC1111 does). `name_out` (may be NULL) receives the token used,
 * NUL-terminated, truncated to `name_cap` bytes.
 * @return TINV_ERR_UNSUPPORTED for pickle files (.pt, .pth, .bin, .ckpt: loading them would run
 *         untrusted code) and SDXL embeddings (`clip_l`/`clip_g`); TINV_ERR_INVALID_ARGUMENT for a
 *         width that does not match the text encoder (the message names the base model the file
 *         was made for) or a token already present; TINV_ERR_BAD_FORMAT for other layouts.
 */
TINV_API tinv_status tinv_model_load_embedding(tinv_model *model, tinv_tokenizer *tokenizer, const char *path,
                                               const char *token, char *name_out, size_t name_cap);
/**
 * Save a learned token's vectors to `path` (safetensors, written to "<path>.tmp" and renamed so an
 * existing file is never left half-written).
 */
TINV_API tinv_status tinv_model_save_embedding(const tinv_model *model, const char *token, const char *path,
                                               tinv_embedding_format format);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Training
 * Textual inversion as explicit steps — tinv_model_add_token(), an optimizer over the token's
 * vectors, tinv_model_diffusion_loss() with backward, tinv_optimizer_step() — or the whole loop
 * in a tinv_trainer. Only the learned vectors are trained; every model weight stays frozen.
 */
/** @{ */

/** Learning-rate schedules (each after an optional linear warm-up from 0). */
typedef enum tinv_lr_schedule {
    TINV_LR_CONSTANT = 0, /**< lr after warm-up */
    TINV_LR_LINEAR = 1,   /**< lr decays linearly to 0 at total_steps */
    TINV_LR_COSINE = 2    /**< half-cosine decay to 0 at total_steps */
} tinv_lr_schedule;

/**
 * Create an AdamW optimizer over the vectors of learned token `token` (which then receive
 * gradients from tinv_model_diffusion_loss()). Defaults as diffusers' textual-inversion script:
 * lr 5e-4, betas (0.9, 0.999), weight decay 1e-2, eps 1e-8, constant schedule, no warm-up,
 * accumulation 1. The optimizer borrows the model; free it before the model.
 * @return TINV_ERR_INVALID_ARGUMENT when the token is not a learned token or already has one.
 */
TINV_API tinv_status tinv_optimizer_create(tinv_model *model, const char *token, tinv_optimizer **out);
/** Free an optimizer (NULL is accepted); the token's vectors keep their values. */
TINV_API void tinv_optimizer_free(tinv_optimizer *opt);
/** Set the base learning rate (> 0, finite). */
TINV_API tinv_status tinv_optimizer_set_lr(tinv_optimizer *opt, double lr);
/** Set AdamW's betas, each in [0, 1). */
TINV_API tinv_status tinv_optimizer_set_betas(tinv_optimizer *opt, double beta1, double beta2);
/** Set the decoupled weight decay (≥ 0). */
TINV_API tinv_status tinv_optimizer_set_weight_decay(tinv_optimizer *opt, double weight_decay);
/** Set the denominator epsilon (> 0). */
TINV_API tinv_status tinv_optimizer_set_eps(tinv_optimizer *opt, double eps);
/** Set the schedule: `warmup_steps` ≥ 0 of linear warm-up, decay ending at `total_steps` (≥ 1). */
TINV_API tinv_status tinv_optimizer_set_schedule(tinv_optimizer *opt, tinv_lr_schedule schedule, int warmup_steps,
                                                 int total_steps);
/** Apply an update every `n` ≥ 1 calls of tinv_optimizer_step(), with the mean of the n gradients. */
TINV_API tinv_status tinv_optimizer_set_accumulation(tinv_optimizer *opt, int n);
/**
 * Take one micro-step: after `accumulation` calls, apply AdamW to the accumulated gradient and
 * clear it. `applied` (may be NULL) receives 1 when an update was applied.
 * @return TINV_ERR_NUMERIC when the gradient holds NaN/inf (nothing is changed).
 */
TINV_API tinv_status tinv_optimizer_step(tinv_optimizer *opt, int *applied);
/** Learning rate the next update will use (after the schedule). */
TINV_API double tinv_optimizer_get_lr(const tinv_optimizer *opt);
/** Number of updates applied so far. */
TINV_API int tinv_optimizer_get_step(const tinv_optimizer *opt);

/**
 * The training loss for a batch of `batch` samples: noise `latents` [batch, 4, h, w] (already
 * scaled by the VAE factor) with `noise` (same shape) at integer `timesteps` [batch] of the
 * model's training schedule, predict with the UNet conditioned on `prompts[i]`, and take the mean
 * squared error against the noise (epsilon models) or the velocity (v-prediction models).
 * With `backward` non-zero, gradients are accumulated into every learned token that has an
 * optimizer (nothing else gets one). `loss` receives the mean loss.
 * @return TINV_ERR_NUMERIC when the loss is NaN or infinite (no gradient is accumulated).
 */
TINV_API tinv_status tinv_model_diffusion_loss(tinv_model *model, tinv_tokenizer *tokenizer, const char *const *prompts,
                                               int batch, const float *latents, int height, int width,
                                               const int32_t *timesteps, const float *noise, int backward,
                                               double *loss);

/** Progress of a training run: `step` of `total` updates done, its loss and learning rate.
 *  Return non-zero to stop (the run then returns TINV_ERR_CANCELLED). */
typedef int (*tinv_train_progress_fn)(void *user, int step, int total, double loss, double lr);

/**
 * Create a textual-inversion trainer for learned token `token` (add it first with
 * tinv_model_add_token()). Borrows model and tokenizer. Defaults: object templates, 3000 steps,
 * batch 1, resolution 512, seed 0, center crop, flip probability 0.5, cached VAE posteriors, no
 * checkpoints, no validation, and the optimizer defaults (see tinv_trainer_optimizer()).
 */
TINV_API tinv_status tinv_trainer_create(tinv_model *model, tinv_tokenizer *tokenizer, const char *token,
                                         tinv_trainer **out);
/** Free a trainer (NULL is accepted). The learned vectors stay in the model. */
TINV_API void tinv_trainer_free(tinv_trainer *trainer);
/** The trainer's optimizer (owned by the trainer): set lr, schedule, accumulation there. */
TINV_API tinv_optimizer *tinv_trainer_optimizer(tinv_trainer *trainer);
/**
 * Training pictures: every PNG/JPEG in folder `dir` (not recursive). Files that are not images or
 * are corrupt are skipped with a warning naming them; TINV_ERR_INVALID_ARGUMENT if none remain.
 * Pictures are read when the run starts. A picture's caption is the first line of the `.txt` file
 * with the same name beside it ("cat.png" -> "cat.txt"): a template with `{}` used for that picture
 * instead of the templates (one without `{}` is ignored with a warning).
 */
TINV_API tinv_status tinv_trainer_set_images(tinv_trainer *trainer, const char *dir);
/**
 * Prompt templates, each containing `{}` where the token goes: "object" and "style" select the
 * built-in lists; anything else is a UTF-8 text file with one template per line.
 */
TINV_API tinv_status tinv_trainer_set_templates(tinv_trainer *trainer, const char *templates);
/** Number of optimizer updates to run in total (1..1000000). */
TINV_API tinv_status tinv_trainer_set_steps(tinv_trainer *trainer, int steps);
/** Samples per micro-step (1..64). */
TINV_API tinv_status tinv_trainer_set_batch(tinv_trainer *trainer, int batch);
/** Training resolution in pixels (a multiple of the model's size multiple, e.g. 64 for SD). */
TINV_API tinv_status tinv_trainer_set_resolution(tinv_trainer *trainer, int resolution);
/** Seed of every random choice (image, flip, template, timestep, noise). */
TINV_API tinv_status tinv_trainer_set_seed(tinv_trainer *trainer, uint64_t seed);
/**
 * Augmentation: `random_crop` non-zero crops at a random place instead of the centre (the VAE
 * then encodes every step); `flip_probability` in [0, 1] is the chance of a horizontal flip.
 */
TINV_API tinv_status tinv_trainer_set_augmentation(tinv_trainer *trainer, int random_crop, double flip_probability);
/** Zero: encode the pictures with the VAE every step instead of caching posteriors (for benchmarks). */
TINV_API tinv_status tinv_trainer_set_cache_latents(tinv_trainer *trainer, int cache);
/**
 * Output: every `every` updates (0 = only at the end) and at the end, write the embedding to
 * `embedding_path` in `format`, and, when `state_path` is not NULL, the full trainer state
 * (vectors, AdamW moments, step, random state) there. Both are written atomically (temporary
 * file, then rename), so an interrupted or failed write leaves the previous files intact.
 */
TINV_API tinv_status tinv_trainer_set_output(tinv_trainer *trainer, const char *embedding_path,
                                             tinv_embedding_format format, const char *state_path, int every);
/**
 * Continue from a trainer-state file written by a run with the same token: restores vectors,
 * moments, step and random state, so N steps + resume + M steps equals N + M steps bit for bit.
 */
TINV_API tinv_status tinv_trainer_resume(tinv_trainer *trainer, const char *state_path);
/**
 * Validation: every `every` updates run `sampler` (its prompt should use the token; it sees the
 * current vectors) and write its images to "<out_prefix>-<step>.png".
 */
TINV_API tinv_status tinv_trainer_set_validation(tinv_trainer *trainer, tinv_sampler *sampler, int every,
                                                 const char *out_prefix);
/** Progress callback after every update (NULL = none). */
TINV_API tinv_status tinv_trainer_set_progress_callback(tinv_trainer *trainer, tinv_train_progress_fn fn,
                                                        void *user);
/**
 * Run training until the set number of updates. A NaN/inf loss stops it with TINV_ERR_NUMERIC
 * (the last checkpoint stays as it was); a progress callback's non-zero return stops it with
 * TINV_ERR_CANCELLED. Either way the vectors keep their last good values.
 */
TINV_API tinv_status tinv_trainer_run(tinv_trainer *trainer);
/** Updates done so far (including resumed ones). */
TINV_API int tinv_trainer_get_step(const tinv_trainer *trainer);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Demo model
 * A tiny Stable-Diffusion-architecture model with random weights and a byte-level vocabulary,
 * generated by library code: it runs the whole pipeline without any download. Its pictures are
 * noise-like; it exists to show and test the plumbing, not to draw.
 */
/** @{ */
/** Write the demo model as a diffusers folder at `dir` (created if missing), reproducibly from `seed`. */
TINV_API tinv_status tinv_demo_model_write(const char *dir, uint64_t seed);
/** @} */

/* ------------------------------------------------------------------------- */
/** @name Toy world
 * The procedural world the bundled toy model (`toy/model` in the source tree) was trained on:
 * one shape ("circle", "square", "triangle", "ring", "cross") in one colour ("red", "green",
 * "blue", "yellow", "purple", "orange"), small or large, on a plain, gradient or striped
 * background, with a caption that names it all ("a small red circle on a striped blue
 * background"). The toy model never saw a ring nor anything purple: those are the concepts left for
 * textual inversion to learn (docs/toy-world.md measures how well it does).
 */
/** @{ */
/**
 * Draw one picture of `side`×`side` (16…1024) RGB8 pixels into `rgb` from `seed`. `shape` and
 * `colour` force that attribute (names as above) or are NULL for a random one; everything else is
 * random. `caption` (may be NULL with `caption_cap` 0) receives the caption.
 * @return TINV_ERR_INVALID_ARGUMENT for an unknown name, a bad side or a too small caption buffer.
 */
TINV_API tinv_status tinv_toy_draw(uint64_t seed, int side, const char *shape, const char *colour, uint8_t *rgb,
                                   char *caption, size_t caption_cap);
/**
 * The toy world's checker: which shape and colour does the `side`×`side` RGB8 picture show?
 * `*shape` and `*colour` (either pointer may be NULL) receive static names, or NULL when nothing
 * stands out from the background. Its accuracy on fresh generated pictures is 100 % at 32 and
 * 64 pixels (tests/test_toy_world.c); it assumes the background reaches the picture's border.
 */
TINV_API tinv_status tinv_toy_classify(const uint8_t *rgb, int side, const char **shape, const char **colour);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* TINV_H */
