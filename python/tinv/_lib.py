"""Finding and loading libtinv.so.0, and the ctypes prototypes of its functions.

The library is looked up, in order, at:
  1. ``$TINV_LIBRARY`` (a path to the shared object),
  2. the build tree this package sits in: ``<repo>/build/libtinv.so.0``,
  3. the system loader: ``libtinv.so.0`` (ld.so.cache, ``LD_LIBRARY_PATH``, rpaths).

It is loaded lazily, on the first call that needs it, so ``import tinv`` always works.

Every function used by the package is declared in ``_PROTOTYPES`` with its exact argument
and return types (pointers, ``size_t`` and ``int64_t`` must never go through ctypes'
default ``int`` conversion). To bind new API (sampler, trainer, ...), add rows there: a
symbol that the loaded library lacks (an older libtinv) does not stop the others from
loading; calling it raises :class:`tinv.UnsupportedError`.
"""

import ctypes
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, c_char_p, c_double, c_float, c_int, c_int32, c_int64,
                    c_size_t, c_uint, c_uint8, c_uint64, c_void_p)

from . import errors

SONAME = "libtinv.so.0"

# ---- C types ------------------------------------------------------------------------------
c_status = c_int  # enum tinv_status
c_enum = c_int    # any other C enum (dtype, log level, model property)

#: void (*tinv_log_fn)(void *user, tinv_log_level level, const char *message)
LOG_FN = CFUNCTYPE(None, c_void_p, c_enum, c_char_p)
#: int (*fn)(void *user, int step, int total) — tinv_sampler_set_progress_callback
SAMPLE_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_int, c_int)
#: int (*tinv_train_progress_fn)(void *user, int step, int total, double loss, double lr)
TRAIN_PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_int, c_int, c_double, c_double)

c_float_p = POINTER(c_float)
c_int32_p = POINTER(c_int32)
c_uint8_p = POINTER(c_uint8)
c_size_t_p = POINTER(c_size_t)
c_int_p = POINTER(c_int)
c_double_p = POINTER(c_double)

# Opaque handles are passed as void pointers; the package never looks inside them.
_H = c_void_p
_HP = POINTER(c_void_p)

# name: (restype, argtypes)
_PROTOTYPES = {
    # version
    "tinv_version": (c_uint, []),
    "tinv_version_string": (c_char_p, []),
    # status codes and errors
    "tinv_status_str": (c_char_p, [c_status]),
    "tinv_last_error": (c_char_p, []),
    "tinv_last_status": (c_status, []),
    "tinv_clear_error": (None, []),
    # devices and runtime
    "tinv_device_check": (c_status, [c_char_p]),
    "tinv_cuda_device_count": (c_int, []),
    "tinv_set_num_threads": (c_status, [c_int]),
    "tinv_get_num_threads": (c_int, []),
    "tinv_runtime_info": (c_status, [ctypes.c_char_p, c_size_t, c_size_t_p]),
    # options
    "tinv_options_create": (c_status, [_HP]),
    "tinv_options_free": (None, [_H]),
    "tinv_options_set_device": (c_status, [_H, c_char_p]),
    "tinv_options_set_dtype": (c_status, [_H, c_enum]),
    "tinv_options_set_log_callback": (c_status, [_H, LOG_FN, c_enum, c_void_p]),
    "tinv_options_set_config_dir": (c_status, [_H, c_char_p]),
    # models
    "tinv_model_load": (c_status, [c_char_p, _H, _HP]),
    "tinv_model_free": (None, [_H]),
    "tinv_model_set_log_callback": (c_status, [_H, LOG_FN, c_enum, c_void_p]),
    "tinv_model_get_int": (c_status, [_H, c_enum, POINTER(c_int64)]),
    "tinv_model_get_vae_scaling_factor": (c_status, [_H, POINTER(c_double)]),
    "tinv_model_encode_text": (c_status, [_H, c_int32_p, c_size_t, c_size_t, c_float_p, c_float_p]),
    "tinv_model_unet": (c_status, [_H, c_float_p, c_size_t, c_size_t, c_size_t, c_float_p, c_size_t,
                                   c_float_p, c_size_t, c_float_p]),
    "tinv_model_vae_encode": (c_status, [_H, c_float_p, c_size_t, c_size_t, c_size_t, c_float_p,
                                         c_float_p]),
    "tinv_model_vae_decode": (c_status, [_H, c_float_p, c_size_t, c_size_t, c_size_t, c_float_p]),
    # tokenizer
    "tinv_tokenizer_load": (c_status, [c_char_p, _H, _HP]),
    "tinv_tokenizer_free": (None, [_H]),
    "tinv_tokenizer_set_log_callback": (c_status, [_H, LOG_FN, c_enum, c_void_p]),
    "tinv_tokenizer_add_token": (c_status, [_H, c_char_p, c_int32_p]),
    "tinv_tokenizer_encode": (c_status, [_H, c_char_p, c_int, c_int32_p, c_size_t, c_size_t_p,
                                         c_uint8_p]),
    "tinv_tokenizer_decode": (c_status, [_H, c_int32_p, c_size_t, ctypes.c_char_p, c_size_t,
                                         c_size_t_p]),
    "tinv_tokenizer_vocab_size": (c_size_t, [_H]),
    "tinv_tokenizer_max_length": (c_size_t, [_H]),
    "tinv_tokenizer_bos_id": (c_int32, [_H]),
    "tinv_tokenizer_eos_id": (c_int32, [_H]),
    "tinv_tokenizer_pad_id": (c_int32, [_H]),
    "tinv_tokenizer_token_to_id": (c_status, [_H, c_char_p, c_int32_p]),
    "tinv_tokenizer_id_to_token": (c_status, [_H, c_int32, ctypes.c_char_p, c_size_t, c_size_t_p]),
    # sampler
    "tinv_sampler_create": (c_status, [_H, _H, _HP]),
    "tinv_sampler_free": (None, [_H]),
    "tinv_sampler_set_prompt": (c_status, [_H, c_char_p]),
    "tinv_sampler_set_negative_prompt": (c_status, [_H, c_char_p]),
    "tinv_sampler_set_guidance": (c_status, [_H, c_double]),
    "tinv_sampler_set_steps": (c_status, [_H, c_int]),
    "tinv_sampler_set_scheduler": (c_status, [_H, c_char_p]),
    "tinv_sampler_set_seed": (c_status, [_H, c_uint64]),
    "tinv_sampler_set_size": (c_status, [_H, c_int, c_int]),
    "tinv_sampler_set_batch": (c_status, [_H, c_int]),
    "tinv_sampler_set_tiling": (c_status, [_H, c_int]),
    "tinv_sampler_set_long_prompts": (c_status, [_H, c_int]),
    "tinv_sampler_set_progress_callback": (c_status, [_H, SAMPLE_PROGRESS_FN, c_void_p]),
    "tinv_sampler_set_log_callback": (c_status, [_H, LOG_FN, c_enum, c_void_p]),
    "tinv_sampler_get_size": (c_status, [_H, c_int_p, c_int_p, c_int_p]),
    "tinv_sampler_run": (c_status, [_H, c_uint8_p, c_size_t]),
    "tinv_sampler_run_rgba": (c_status, [_H, c_uint8_p, c_size_t]),
    "tinv_sampler_run_float": (c_status, [_H, c_float_p, c_float_p]),
    "tinv_image_write": (c_status, [c_char_p, c_uint8_p, c_int, c_int, c_int, c_int, c_int, c_int, _H]),
    # learned tokens and embedding files
    "tinv_model_add_token": (c_status, [_H, _H, c_char_p, c_int, c_char_p, c_uint]),
    "tinv_model_add_token_vectors": (c_status, [_H, _H, c_char_p, c_float_p, c_int, c_int]),
    "tinv_model_get_token_vectors": (c_status, [_H, c_char_p, c_float_p, c_size_t, c_int_p]),
    "tinv_model_token_count": (c_int, [_H]),
    "tinv_model_token_name": (c_char_p, [_H, c_int]),
    "tinv_model_load_embedding": (c_status, [_H, _H, c_char_p, c_char_p, ctypes.c_char_p, c_size_t]),
    "tinv_model_save_embedding": (c_status, [_H, c_char_p, c_char_p, c_enum]),
    # training
    "tinv_optimizer_create": (c_status, [_H, c_char_p, _HP]),
    "tinv_optimizer_free": (None, [_H]),
    "tinv_optimizer_set_lr": (c_status, [_H, c_double]),
    "tinv_optimizer_set_betas": (c_status, [_H, c_double, c_double]),
    "tinv_optimizer_set_weight_decay": (c_status, [_H, c_double]),
    "tinv_optimizer_set_eps": (c_status, [_H, c_double]),
    "tinv_optimizer_set_schedule": (c_status, [_H, c_enum, c_int, c_int]),
    "tinv_optimizer_set_accumulation": (c_status, [_H, c_int]),
    "tinv_optimizer_step": (c_status, [_H, c_int_p]),
    "tinv_optimizer_get_lr": (c_double, [_H]),
    "tinv_optimizer_get_step": (c_int, [_H]),
    "tinv_model_diffusion_loss": (c_status, [_H, _H, POINTER(c_char_p), c_int, c_float_p, c_int, c_int,
                                             c_int32_p, c_float_p, c_int, c_double_p]),
    "tinv_trainer_create": (c_status, [_H, _H, c_char_p, _HP]),
    "tinv_trainer_free": (None, [_H]),
    "tinv_trainer_optimizer": (_H, [_H]),
    "tinv_trainer_set_images": (c_status, [_H, c_char_p]),
    "tinv_trainer_set_templates": (c_status, [_H, c_char_p]),
    "tinv_trainer_set_steps": (c_status, [_H, c_int]),
    "tinv_trainer_set_batch": (c_status, [_H, c_int]),
    "tinv_trainer_set_resolution": (c_status, [_H, c_int]),
    "tinv_trainer_set_seed": (c_status, [_H, c_uint64]),
    "tinv_trainer_set_augmentation": (c_status, [_H, c_int, c_double]),
    "tinv_trainer_set_cache_latents": (c_status, [_H, c_int]),
    "tinv_trainer_set_output": (c_status, [_H, c_char_p, c_enum, c_char_p, c_int]),
    "tinv_trainer_resume": (c_status, [_H, c_char_p]),
    "tinv_trainer_set_validation": (c_status, [_H, _H, c_int, c_char_p]),
    "tinv_trainer_set_progress_callback": (c_status, [_H, TRAIN_PROGRESS_FN, c_void_p]),
    "tinv_trainer_run": (c_status, [_H]),
    "tinv_trainer_get_step": (c_int, [_H]),
    # demo model
    "tinv_demo_model_write": (c_status, [c_char_p, c_uint64]),
    # toy world
    "tinv_toy_draw": (c_status, [c_uint64, c_int, c_char_p, c_char_p, c_uint8_p, c_char_p, c_size_t]),
    "tinv_toy_classify": (c_status, [c_uint8_p, c_int, POINTER(c_char_p), POINTER(c_char_p)]),
}


def _package_build_candidate():
    # <repo>/python/tinv/_lib.py -> <repo>/build/libtinv.so.0
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(here)), "build", SONAME)


def candidates():
    """The places the library is looked for, in order, as (description, name-or-path)."""
    out = []
    env = os.environ.get("TINV_LIBRARY")
    if env:
        out.append(("$TINV_LIBRARY", env))
    out.append(("build tree", _package_build_candidate()))
    out.append(("system loader", SONAME))
    return out


class _Missing:
    """Stand-in for a symbol this library build does not export."""

    def __init__(self, name):
        self.__name__ = name

    def __call__(self, *args):
        raise errors.UnsupportedError("the loaded libtinv (%s) has no %s()" % (_path, self.__name__))


class _Api:
    """The loaded library with typed functions as attributes (``api.tinv_version()``)."""

    def __init__(self, cdll, path):
        self.cdll = cdll
        self.path = path
        self.missing = []
        for name, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                self.missing.append(name)
                setattr(self, name, _Missing(name))
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)


_lock = threading.Lock()
_api = None
_path = None


def _load():
    tried = []
    explicit = os.environ.get("TINV_LIBRARY")
    for what, name in candidates():
        if os.sep in name and not os.path.exists(name):
            tried.append("%s %s: not found" % (what, name))
            if what == "$TINV_LIBRARY":
                # An explicit choice that is wrong is an error, not a reason to fall back.
                break
            continue
        try:
            return ctypes.CDLL(name), name
        except OSError as exc:
            tried.append("%s %s: %s" % (what, name, exc))
            if what == "$TINV_LIBRARY":
                break
    hint = "set TINV_LIBRARY to the path of libtinv.so.0" if not explicit else "check TINV_LIBRARY"
    raise OSError("cannot load libtinv (%s); tried:\n  %s" % (hint, "\n  ".join(tried)))


def api():
    """Return the loaded, prototyped library (loading it on first use)."""
    global _api, _path
    if _api is None:
        with _lock:
            if _api is None:
                cdll, path = _load()
                _path = path
                _api = _Api(cdll, path)
    return _api


def library_path():
    """The path or name the library was loaded from."""
    return api().path


# ---- calling helpers -------------------------------------------------------------------------

def last_error():
    """The calling thread's last libtinv message, decoded."""
    msg = api().tinv_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def check(status):
    """Raise the :mod:`tinv.errors` exception for a non-zero ``tinv_status``."""
    if status != 0:
        raise errors.error_for_status(status, last_error())


def encode_str(s, what="string"):
    """str/bytes/PathLike -> NUL-free UTF-8 bytes for a ``const char *`` argument.

    Lone surrogates are passed through as (invalid) UTF-8 so the library rejects them with its
    own message; an embedded NUL would silently truncate the C string, so it is refused.
    """
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, str):
        b = s.encode("utf-8", "surrogatepass")
    elif isinstance(s, (bytes, bytearray, memoryview)):
        b = bytes(s)
    else:
        raise TypeError("%s must be str or bytes, not %s" % (what, type(s).__name__))
    if b"\0" in b:
        raise errors.InvalidArgumentError("%s contains a NUL character" % what)
    return b


def encode_path(p, what="path"):
    """A filesystem path for the C library (os.fsencode keeps undecodable names intact)."""
    if isinstance(p, (str, os.PathLike)):
        b = os.fsencode(p)
    elif isinstance(p, (bytes, bytearray)):
        b = bytes(p)
    else:
        raise TypeError("%s must be str, bytes or os.PathLike, not %s" % (what, type(p).__name__))
    if b"\0" in b:
        raise errors.InvalidArgumentError("%s contains a NUL character" % what)
    return b


def read_string(fill, initial=256):
    """Call ``fill(buf, cap, needed_ptr) -> status`` with a growing buffer and return the text.

    Used for the functions that follow the "at most `cap` bytes including the NUL, `needed`
    receives the full length" rule (runtime info, decode, id_to_token).
    """
    cap = initial
    needed = c_size_t(0)
    for _ in range(3):
        buf = ctypes.create_string_buffer(cap)
        check(fill(buf, cap, ctypes.byref(needed)))
        if needed.value < cap:
            return buf.raw[:needed.value].decode("utf-8", "replace")
        cap = needed.value + 1
    raise errors.InternalError("string length kept changing between calls")
