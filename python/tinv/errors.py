"""Exceptions raised by the tinv package.

Every failing libtinv call raises a subclass of :class:`Error` chosen by the
``tinv_status`` code it returned; the exception carries that code as ``.status`` and the
library's message (from ``tinv_last_error()``) as ``.message``.
"""

from enum import IntEnum

__all__ = [
    "Status", "Error", "InvalidArgumentError", "TinvIOError", "BadFormatError",
    "UnsupportedError", "OutOfMemoryError", "DeviceError", "CancelledError",
    "NumericError", "InternalError", "error_for_status",
]


class Status(IntEnum):
    """Mirror of ``enum tinv_status`` (values are stable; new ones are only appended)."""

    OK = 0
    INVALID_ARGUMENT = 1
    IO = 2
    BAD_FORMAT = 3
    UNSUPPORTED = 4
    OUT_OF_MEMORY = 5
    DEVICE = 6
    CANCELLED = 7
    NUMERIC = 8
    INTERNAL = 9


# Same wording as tinv_status_str(); used when a message is empty.
_DESCRIPTIONS = {
    Status.OK: "ok", Status.INVALID_ARGUMENT: "invalid argument", Status.IO: "I/O error",
    Status.BAD_FORMAT: "bad format", Status.UNSUPPORTED: "unsupported",
    Status.OUT_OF_MEMORY: "out of memory", Status.DEVICE: "device error",
    Status.CANCELLED: "cancelled", Status.NUMERIC: "numeric error (NaN or infinity)",
    Status.INTERNAL: "internal error",
}


class Error(Exception):
    """Base class of every error reported by libtinv.

    Attributes:
        status: the ``tinv_status`` code (a :class:`Status` when known, else an int).
        message: the library's message for the failed call (may be empty).
    """

    status = None  # overridden per subclass

    def __init__(self, message="", status=None):
        if status is None:
            status = type(self).status
        try:
            status = Status(status)
        except (ValueError, TypeError):
            pass
        self.status = status
        self.message = message
        super().__init__(message)

    def __str__(self):
        if self.message:
            return self.message
        return _DESCRIPTIONS.get(self.status, "status %s" % (self.status,))

    def __repr__(self):
        return "%s(%r, status=%s)" % (type(self).__name__, self.message, int(self.status)
                                      if isinstance(self.status, int) else self.status)

    def __reduce__(self):
        return (type(self), (self.message, self.status))


class InvalidArgumentError(Error, ValueError):
    """NULL pointer, out-of-range value, bad device string, closed handle, ..."""
    status = Status.INVALID_ARGUMENT


class TinvIOError(Error, OSError):
    """A file could not be opened, read or written."""
    status = Status.IO


class BadFormatError(Error):
    """A file or buffer is malformed (corrupt, truncated, wrong shape)."""
    status = Status.BAD_FORMAT


class UnsupportedError(Error):
    """A valid request that this build or model cannot do."""
    status = Status.UNSUPPORTED


class OutOfMemoryError(Error, MemoryError):
    """A host or device allocation failed."""
    status = Status.OUT_OF_MEMORY


class DeviceError(Error):
    """The device is not available (e.g. CUDA on a CPU-only build)."""
    status = Status.DEVICE


class CancelledError(Error):
    """A progress callback asked to stop."""
    status = Status.CANCELLED


class NumericError(Error, ArithmeticError):
    """NaN or infinity where a finite value is required."""
    status = Status.NUMERIC


class InternalError(Error):
    """A bug or an unexpected libtorch failure; the message says more."""
    status = Status.INTERNAL


_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgumentError, TinvIOError, BadFormatError, UnsupportedError, OutOfMemoryError,
    DeviceError, CancelledError, NumericError, InternalError)}


def error_for_status(status, message=""):
    """Build the exception for a ``tinv_status`` code (unknown future codes give :class:`Error`)."""
    cls = _BY_STATUS.get(status, Error)
    return cls(message, status)
