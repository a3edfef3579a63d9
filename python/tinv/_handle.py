"""Base class for objects that own a libtinv handle, and per-handle log callbacks."""

import weakref
from enum import IntEnum

from . import _lib, errors

__all__ = ["LogLevel", "Handle"]


class LogLevel(IntEnum):
    """Mirror of ``enum tinv_log_level``: a handle forwards messages up to its level."""

    ERROR = 0
    WARN = 1
    INFO = 2
    DEBUG = 3


def _log_level(level):
    if isinstance(level, str):
        try:
            return LogLevel[level.upper()]
        except KeyError:
            pass
        if level.lower() == "warning":
            return LogLevel.WARN
        raise ValueError("unknown log level %r (error, warn, info, debug)" % level)
    return LogLevel(level)


def make_log_callback(fn):
    """Wrap a Python callable ``fn(level: LogLevel, message: str)`` as a C ``tinv_log_fn``.

    Returns the ctypes callback object (or None for ``fn`` None); whoever passes it to the
    library must keep it alive for as long as the library may call it.

    Exceptions raised by ``fn`` are never propagated into C: ctypes reports them through
    ``sys.unraisablehook`` ("Exception ignored on calling ctypes callback function", printed
    to stderr by default) and the library call carries on.
    """
    if fn is None:
        return None
    if not callable(fn):
        raise TypeError("log callback must be callable or None")

    def trampoline(user, level, message):
        text = message.decode("utf-8", "replace") if message else ""
        try:
            lvl = LogLevel(level)
        except ValueError:
            lvl = level
        fn(lvl, text)

    trampoline.__qualname__ = "tinv_log_callback(%s)" % getattr(fn, "__qualname__", type(fn).__name__)
    return _lib.LOG_FN(trampoline)


class _State:
    """What the finalizer needs: the C pointer, its free function, the callback objects the C
    side holds, and the handles that borrow this one (released first)."""

    __slots__ = ("ptr", "free_fn", "callback", "keep", "dependents", "__weakref__")

    def __init__(self, free_fn=None):
        self.ptr = None
        self.free_fn = free_fn  # None: a borrowed handle (e.g. a trainer's optimizer), never freed
        self.callback = None
        self.keep = []          # other objects the C side may still use (parents' callbacks)
        # handle states that borrow this handle -> None (release them first) or a function
        # detach(dependent_state) that makes them stop using it
        self.dependents = weakref.WeakKeyDictionary()


def _release(state):
    ptr = state.ptr
    if ptr:
        # Whatever borrows this handle goes first: the C side must never see a freed parent.
        for dep, detach in list(state.dependents.items()):
            if detach is None:
                _release(dep)
            elif dep.ptr:
                detach(dep)
        state.dependents.clear()
        state.ptr = None
        if state.free_fn is not None:
            getattr(_lib.api(), state.free_fn)(ptr)
    # Drop the callbacks only after the handle is gone: the library could log while freeing.
    state.callback = None
    state.keep = []


class Handle:
    """An owned libtinv handle, freed exactly once: on :meth:`close`, on leaving a ``with``
    block, or when the object is garbage collected (``weakref.finalize``; also at interpreter
    exit). Using the object after it is closed raises :class:`tinv.InvalidArgumentError`.
    """

    _kind = "handle"        # name used in messages
    _free_fn = None         # e.g. "tinv_model_free"
    _set_log_fn = None      # e.g. "tinv_model_set_log_callback"

    def __init__(self):
        self._state = _State(self._free_fn)
        self._finalizer = None
        self._parents = ()

    def _adopt(self, ptr, callback=None, parents=(), borrowed=False):
        """Take ownership of a freshly created C handle (a c_void_p or int).

        ``parents``: the handles the new one borrows (a sampler's model and tokenizer, ...).
        They are kept alive as long as this object, and closing one of them closes this one
        first. ``borrowed``: the pointer belongs to another handle (never freed here).
        """
        if borrowed:
            self._state.free_fn = None
        self._state.ptr = ptr.value if isinstance(ptr, _lib.c_void_p) else ptr
        self._state.callback = callback
        self._parents = tuple(parents)
        for parent in self._parents:
            parent._state.dependents[self._state] = None
        self._finalizer = weakref.finalize(self, _release, self._state)

    def _depend_on(self, parent, detach=None):
        """Register that this handle uses ``parent`` (closing ``parent`` closes this one first,
        or calls ``detach(this_state)`` when given)."""
        parent._state.dependents[self._state] = detach

    @property
    def _ptr(self):
        ptr = self._state.ptr
        if not ptr:
            raise errors.InvalidArgumentError("%s is closed" % self._kind)
        return ptr

    @property
    def closed(self):
        """True once the handle has been freed."""
        return not self._state.ptr

    def close(self):
        """Free the C handle now. Calling it again is harmless."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self):
        self._ptr  # raise if already closed
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def set_log_callback(self, fn, level=LogLevel.WARN):
        """Route this handle's log messages to ``fn(level, message)`` up to ``level``
        (a :class:`LogLevel` or "error"/"warn"/"info"/"debug"); ``fn`` None turns logging off.
        Exceptions raised by ``fn`` go to ``sys.unraisablehook``, never into the library."""
        lvl = _log_level(level)
        cb = make_log_callback(fn)
        ptr = self._ptr
        c_fn = cb if cb is not None else _lib.LOG_FN()  # LOG_FN() is a NULL function pointer
        _lib.check(getattr(_lib.api(), self._set_log_fn)(ptr, c_fn, int(lvl), None))
        self._state.callback = cb

    def __repr__(self):
        state = "closed" if self.closed else "0x%x" % self._state.ptr
        return "<tinv.%s %s>" % (type(self).__name__, state)
