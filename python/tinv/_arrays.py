"""Turning caller data into C buffers and back.

With numpy importable, inputs may be anything ``numpy.asarray`` accepts; they are converted
to C-contiguous float32/int32 when they are not already (no copy when they are), and
outputs are ``numpy.ndarray``. Without numpy, inputs may be buffers (``array.array``,
``bytes`` of native float32/int32, shaped ``memoryview``), nested lists, or flat sequences
with an explicit ``shape=``; outputs are ``memoryview`` objects of format "f" carrying the
shape (``.shape``, ``.tolist()``, and ``numpy.asarray(out)`` later if wanted).
"""

import array
import ctypes
import math
import numbers

from . import errors

try:  # numpy is optional
    import numpy as np
except ImportError:  # pragma: no cover - exercised by forcing np = None in the tests
    np = None

_INT32_TC = "i" if array.array("i").itemsize == 4 else "l"

_KINDS = {
    # kind: (ctypes type, numpy dtype name, array typecode, accepted numpy kinds, struct formats)
    "float32": (ctypes.c_float, "float32", "f", "fiub", ("f",)),
    "int32": (ctypes.c_int32, "int32", _INT32_TC, "iub", ("i", "l", "=i", "<i")),
}


def have_numpy():
    return np is not None


def _bad(name, msg):
    return errors.InvalidArgumentError("%s: %s" % (name, msg))


def _norm_shape(shape, ndim, name):
    if shape is None:
        return None
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    shape = tuple(int(s) for s in shape)
    if ndim is not None and len(shape) != ndim:
        raise _bad(name, "shape %s must have %d dimensions" % (shape, ndim))
    if any(s < 0 for s in shape):
        raise _bad(name, "negative dimension in shape %s" % (shape,))
    return shape


class Prepared:
    """A C-ready input: ``ptr`` (POINTER(ctype)), ``shape`` and the object keeping it alive."""

    __slots__ = ("ptr", "shape", "keep")

    def __init__(self, ptr, shape, keep):
        self.ptr, self.shape, self.keep = ptr, shape, keep

    @property
    def size(self):
        return math.prod(self.shape)


def prepare(x, name, kind="float32", ndim=None, shape=None):
    """Convert ``x`` to a C-contiguous buffer of ``kind`` with ``ndim`` dimensions.

    ``shape`` (optional) reshapes flat data; it is required for flat data without numpy when
    ``ndim`` > 1.
    """
    shape = _norm_shape(shape, ndim, name)
    if np is not None:
        return _prepare_numpy(x, name, kind, ndim, shape)
    return _prepare_plain(x, name, kind, ndim, shape)


def _prepare_numpy(x, name, kind, ndim, shape):
    ctype, dtname, _tc, kinds, _fmts = _KINDS[kind]
    want = np.dtype(dtname)
    if isinstance(x, (bytes, bytearray)):
        if len(x) % want.itemsize:
            raise _bad(name, "%d bytes is not a whole number of %s values" % (len(x), dtname))
        arr = np.frombuffer(x, dtype=want)
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise _bad(name, "cannot convert %s to an array (%s)" % (type(x).__name__, exc)) from None
    if arr.dtype.kind not in kinds:
        raise _bad(name, "expected %s data, got dtype %s" % (dtname, arr.dtype))
    if arr.dtype != want:
        if kind == "int32" and arr.size and arr.dtype.kind in "iu":
            lo, hi = int(arr.min()), int(arr.max())
            if lo < -2**31 or hi >= 2**31:
                raise _bad(name, "value out of int32 range (%d..%d)" % (lo, hi))
        arr = arr.astype(want)
    if shape is not None:
        if arr.size != math.prod(shape):
            raise _bad(name, "%d values do not fit shape %s" % (arr.size, shape))
        arr = arr.reshape(shape)
    if ndim is not None and arr.ndim != ndim:
        raise _bad(name, "expected %d dimensions, got shape %s" % (ndim, tuple(arr.shape)))
    arr = np.ascontiguousarray(arr)
    return Prepared(arr.ctypes.data_as(ctypes.POINTER(ctype)), tuple(int(s) for s in arr.shape), arr)


def _flatten(x, name):
    """Nested lists/tuples -> (flat list, shape)."""
    if isinstance(x, (list, tuple)):
        if not x:
            return [], (0,)
        parts = [_flatten(e, name) for e in x]
        inner = parts[0][1]
        if any(p[1] != inner for p in parts):
            raise _bad(name, "ragged nested sequence")
        flat = []
        for p in parts:
            flat.extend(p[0])
        return flat, (len(x),) + inner
    if isinstance(x, numbers.Number):
        return [x], ()
    raise _bad(name, "expected numbers, got %s" % type(x).__name__)


def _prepare_plain(x, name, kind, ndim, shape):
    ctype, dtname, tc, _kinds, fmts = _KINDS[kind]
    data = None
    got_shape = None
    try:
        mv = memoryview(x)
    except TypeError:
        mv = None
    if mv is not None:
        if mv.format in ("B", "b", "c") and mv.ndim <= 1:  # raw bytes of native values
            if mv.nbytes % 4:
                raise _bad(name, "%d bytes is not a whole number of %s values" % (mv.nbytes, dtname))
            data = array.array(tc)
            data.frombytes(mv.tobytes())
        else:
            if not mv.c_contiguous:
                mv = memoryview(mv.tobytes()).cast(mv.format, mv.shape)
            flat = mv.cast("B").cast(mv.format) if mv.ndim != 1 else mv
            if mv.format in fmts and mv.itemsize == 4 and not mv.readonly and mv.ndim == 1 \
                    and isinstance(x, array.array) and x.typecode == tc:
                data = x  # no copy
            else:
                if kind == "int32" and mv.format in ("f", "d", "e"):
                    raise _bad(name, "expected integer data, got format %r" % mv.format)
                try:
                    data = array.array(tc, flat.tolist())
                except (TypeError, OverflowError) as exc:
                    raise _bad(name, "cannot convert buffer of format %r (%s)" % (mv.format, exc)) from None
            if mv.ndim > 1:
                got_shape = tuple(mv.shape)
    else:
        flat, got_shape = _flatten(x, name)
        if kind == "int32" and any(not isinstance(v, numbers.Integral) for v in flat):
            raise _bad(name, "expected integers")
        try:
            data = array.array(tc, flat)
        except (TypeError, OverflowError) as exc:
            raise _bad(name, "cannot convert values to %s (%s)" % (dtname, exc)) from None
    n = len(data)
    if shape is None:
        shape = got_shape if got_shape is not None else (n,)
    if math.prod(shape) != n:
        raise _bad(name, "%d values do not fit shape %s" % (n, shape))
    if ndim is not None and len(shape) != ndim:
        if got_shape is None or len(got_shape) <= 1:
            raise _bad(name, "flat data needs an explicit shape with %d dimensions (numpy is not "
                             "available)" % ndim)
        raise _bad(name, "expected %d dimensions, got shape %s" % (ndim, shape))
    if n == 0:
        return Prepared(ctypes.POINTER(ctype)(), shape, data)
    buf = (ctype * n).from_buffer(data)
    return Prepared(ctypes.cast(buf, ctypes.POINTER(ctype)), shape, (data, buf))


def empty(shape, kind="float32"):
    """A new output buffer: (POINTER(ctype), result object)."""
    ctype, dtname, tc, _k, _f = _KINDS[kind]
    shape = tuple(int(s) for s in shape)
    if np is not None:
        arr = np.empty(shape, dtype=dtname)
        return arr.ctypes.data_as(ctypes.POINTER(ctype)), arr
    n = math.prod(shape)
    data = array.array(tc, bytes(4 * n))
    if n == 0:
        return ctypes.POINTER(ctype)(), memoryview(data)
    buf = (ctype * n).from_buffer(data)
    view = memoryview(data).cast("B").cast(tc, shape)
    return ctypes.cast(buf, ctypes.POINTER(ctype)), view


def int_list_result(values, as_numpy):
    """ids from the tokenizer: a list of ints, or an int32 array when asked."""
    if as_numpy:
        if np is None:
            raise errors.UnsupportedError("numpy is not available")
        return np.array(values, dtype=np.int32)
    return list(values)
