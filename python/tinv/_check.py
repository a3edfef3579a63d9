"""Argument checks done in Python before anything reaches C.

A value of the wrong type raises :class:`TypeError`; a value that cannot be passed to C at all
(an int that does not fit a C ``int``, a NaN where the C side would read garbage, ...) raises
:class:`tinv.InvalidArgumentError` (a :class:`ValueError`). Ranges the library checks itself
are left to it, so its messages stay the single source of truth.
"""

import math
import numbers
import os

from . import errors

INT_MIN, INT_MAX = -2**31, 2**31 - 1
U64_MAX = 2**64 - 1


def _type_name(value):
    return type(value).__name__


def integer(value, name, lo=INT_MIN, hi=INT_MAX):
    """An integral number (bool refused) in [lo, hi] -> int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        # numpy integers are numbers.Integral; floats such as 3.0 are refused on purpose
        raise TypeError("%s must be an integer, not %s" % (name, _type_name(value)))
    v = int(value)
    if v < lo or v > hi:
        raise errors.InvalidArgumentError("%s %d is out of range [%d, %d]" % (name, v, lo, hi))
    return v


def seed(value, name="seed"):
    """A seed: an integer in [0, 2**64)."""
    return integer(value, name, 0, U64_MAX)


def real(value, name):
    """A real number (bool refused) -> float; NaN and infinities are passed on for the library
    to reject with its own message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number, not %s" % (name, _type_name(value)))
    return float(value)


def finite(value, name):
    v = real(value, name)
    if not math.isfinite(v):
        raise errors.InvalidArgumentError("%s must be finite, got %r" % (name, v))
    return v


def boolean(value, name):
    """True/False (or 0/1) -> bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    raise TypeError("%s must be True or False, not %r" % (name, value))


def text(value, name, allow_none=False):
    """A str (or UTF-8 bytes) -> itself; None only when allowed."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (str, bytes, bytearray)):
        raise TypeError("%s must be a str, not %s" % (name, _type_name(value)))
    return value


def path(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (str, bytes, bytearray, os.PathLike)):
        raise TypeError("%s must be a path (str, bytes or os.PathLike), not %s" % (name, _type_name(value)))
    return value


def callable_or_none(value, name):
    if value is not None and not callable(value):
        raise TypeError("%s must be callable or None, not %s" % (name, _type_name(value)))
    return value


def choice(value, name, table):
    """A name from ``table`` (case-insensitive str -> enum) or one of its enum values."""
    if isinstance(value, str):
        key = value.lower().replace("-", "_")
        if key in table:
            return table[key]
        raise errors.InvalidArgumentError("unknown %s %r (%s)" % (name, value, ", ".join(sorted(table))))
    values = set(table.values())
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        for v in values:
            if int(v) == int(value):
                return v
        raise errors.InvalidArgumentError("unknown %s %r" % (name, value))
    raise TypeError("%s must be a str, not %s" % (name, _type_name(value)))
