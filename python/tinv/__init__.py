"""tinv — Python bindings (ctypes, no compiled extension) for libtinv, Textual Inversion for
Stable Diffusion as an embeddable C library.

    import tinv
    with tinv.Model("sd-model") as model:          # comes with model.tokenizer
        ids = model.tokenizer.encode_batch(["a photo of a cat"])
        hidden = model.encode_text(ids)            # [1, 77, W] float32
        model.add_token("<cat-toy>", init_word="toy")
        model.train("<cat-toy>", "pictures/", steps=500, output="cat-toy.safetensors")
        images = model.sample("a photo of a <cat-toy>", steps=30, seed=1)
        tinv.write_image("out.png", images)

The shared library is found through ``$TINV_LIBRARY``, then the build tree next to this
package (``<repo>/build/libtinv.so.0``), then the system loader (``libtinv.so.0``).
Every failure raises a subclass of :class:`tinv.Error` carrying ``.status`` and the
library's message.
"""

from . import _lib
from ._handle import LogLevel
from ._options import DType
from .errors import (BadFormatError, CancelledError, DeviceError, Error, InternalError,
                     InvalidArgumentError, NumericError, OutOfMemoryError, Status, TinvIOError,
                     UnsupportedError)
from .images import Image, to_pil, write_image
from .model import Model, ModelProperty
from .sampler import SCHEDULERS, Sampler
from .tokenizer import Tokenizer
from .toy import COLOURS as TOY_COLOURS, SHAPES as TOY_SHAPES, toy_classify, toy_draw
from .training import EmbeddingFormat, LRSchedule, Optimizer, Trainer, TrainResult

#: Short name of :class:`CancelledError` (a progress callback stopped a run).
Cancelled = CancelledError

__version__ = "0.1.0"  # version of this package; version() is the loaded library's

__all__ = [
    "version", "version_info", "runtime_info", "set_num_threads", "get_num_threads",
    "device_check", "cuda_device_count", "status_str", "library_path",
    "Tokenizer", "Model", "ModelProperty", "LogLevel", "DType", "Status",
    "Sampler", "SCHEDULERS", "Image", "to_pil", "write_image", "write_demo_model",
    "toy_draw", "toy_classify", "TOY_SHAPES", "TOY_COLOURS",
    "Optimizer", "Trainer", "TrainResult", "LRSchedule", "EmbeddingFormat", "Cancelled",
    "Error", "InvalidArgumentError", "TinvIOError", "BadFormatError", "UnsupportedError",
    "OutOfMemoryError", "DeviceError", "CancelledError", "NumericError", "InternalError",
]


def version():
    """The loaded library's version string, e.g. "0.1.0"."""
    s = _lib.api().tinv_version_string()
    return s.decode("ascii", "replace") if s else ""


def version_info():
    """The loaded library's version as a (major, minor, patch) tuple."""
    n = int(_lib.api().tinv_version())
    return (n // 10000, n // 100 % 100, n % 100)


def runtime_info():
    """One line describing the runtime: libtinv and libtorch versions, BLAS, oneDNN, CUDA,
    threads."""
    api = _lib.api()
    return _lib.read_string(lambda buf, cap, needed: api.tinv_runtime_info(buf, cap, needed))


def set_num_threads(n):
    """Set libtorch's process-wide intra-op thread count (0 = one per online CPU)."""
    _lib.check(_lib.api().tinv_set_num_threads(int(n)))


def get_num_threads():
    """libtorch's current intra-op thread count."""
    return int(_lib.api().tinv_get_num_threads())


def device_check(device):
    """Check that a device string ("cpu", "cuda", "cuda:N") is well formed and usable here.

    Raises :class:`InvalidArgumentError` for a malformed string and :class:`DeviceError` when
    the device does not exist (or libtorch has no CUDA); returns None otherwise.
    """
    _lib.check(_lib.api().tinv_device_check(_lib.encode_str(device, "device")))


def cuda_device_count():
    """Number of CUDA devices libtorch sees (0 on CPU-only builds)."""
    return int(_lib.api().tinv_cuda_device_count())


def status_str(status):
    """The library's short description of a status code ("invalid argument", ...)."""
    s = _lib.api().tinv_status_str(int(status))
    return s.decode("ascii", "replace") if s else ""


def library_path():
    """Where the shared library was loaded from."""
    return _lib.library_path()


def write_demo_model(path, seed=0):
    """Write the demo model — a tiny Stable-Diffusion-architecture model with random weights and
    a byte-level vocabulary, made by the library without any download — as a diffusers folder at
    ``path`` (created if missing), reproducibly from ``seed``. Returns ``path``. Its pictures
    are noise-like: it exercises the plumbing, not drawing."""
    from . import _check
    _check.path(path, "path")
    seed = _check.seed(seed)
    _lib.check(_lib.api().tinv_demo_model_write(_lib.encode_path(path), seed))
    return path
