"""Building a temporary ``tinv_options`` handle for one load call."""

import contextlib
import ctypes
from enum import IntEnum

from . import _lib, errors
from ._handle import _log_level

__all__ = ["DType", "dtype_value", "options"]


class DType(IntEnum):
    """Mirror of ``enum tinv_dtype``."""

    FP32 = 0
    FP16 = 1
    BF16 = 2


_DTYPE_NAMES = {
    "fp32": DType.FP32, "float32": DType.FP32, "float": DType.FP32,
    "fp16": DType.FP16, "float16": DType.FP16, "half": DType.FP16,
    "bf16": DType.BF16, "bfloat16": DType.BF16,
}


def dtype_value(dtype):
    """"fp32"/"fp16"/"bf16" (or float32/float16/bfloat16, a DType, a numpy dtype) -> DType."""
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        try:
            return DType(dtype)
        except ValueError:
            raise errors.InvalidArgumentError("unknown dtype %r" % dtype) from None
    name = getattr(dtype, "name", dtype)  # numpy dtype / torch-like objects
    if isinstance(name, str):
        key = name.lower()
        if key.startswith("torch."):
            key = key[6:]
        if key in _DTYPE_NAMES:
            return _DTYPE_NAMES[key]
    raise errors.InvalidArgumentError("unknown dtype %r (fp32, fp16, bf16)" % (dtype,))


@contextlib.contextmanager
def options(device=None, dtype=None, config_dir=None, log_callback=None, log_level=None):
    """Yield a ``tinv_options`` pointer holding the given settings; freed on exit.

    ``log_callback`` is a ctypes ``LOG_FN`` object (the caller keeps it alive).
    """
    api = _lib.api()
    ptr = ctypes.c_void_p()
    _lib.check(api.tinv_options_create(ctypes.byref(ptr)))
    try:
        if device is not None:
            _lib.check(api.tinv_options_set_device(ptr, _lib.encode_str(device, "device")))
        if dtype is not None:
            _lib.check(api.tinv_options_set_dtype(ptr, int(dtype_value(dtype))))
        if config_dir is not None:
            _lib.check(api.tinv_options_set_config_dir(ptr, _lib.encode_path(config_dir, "config_dir")))
        if log_callback is not None:
            lvl = _log_level(log_level if log_level is not None else "warn")
            _lib.check(api.tinv_options_set_log_callback(ptr, log_callback, int(lvl), None))
        yield ptr
    finally:
        api.tinv_options_free(ptr)
