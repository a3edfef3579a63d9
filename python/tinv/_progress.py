"""Running a long C call (sampling, training) with a Python progress callable.

The C side calls a ctypes trampoline after every step. The trampoline never lets an exception
escape into C (ctypes would print and swallow it): it stores it and returns non-zero, which
makes the library stop and return TINV_ERR_CANCELLED; the exception is then re-raised in the
caller's thread once the C call has returned, so everything the run allocated is freed first.

Ctrl-C: while the call runs on the main thread with Python's default SIGINT handler, a
temporary handler only records the signal (raising from a signal handler inside the trampoline
could happen before its ``try`` and be swallowed by ctypes); the next trampoline call cancels
the run and :class:`KeyboardInterrupt` is raised when the C call returns.
"""

import signal
import threading

from . import _lib


class ProgressRun:
    """One run: ``c_callback()`` gives the C function pointer for the library, ``call(fn)``
    runs ``fn()`` (the C call, returning a status) and raises whatever should be raised."""

    def __init__(self, fn, kind):
        if fn is not None and not callable(fn):
            raise TypeError("progress must be callable or None, not %s" % type(fn).__name__)
        self.fn = fn
        self.kind = kind            # "sample" or "train"
        self.exc = None             # exception raised by fn (or a KeyboardInterrupt)
        self.interrupted = False    # SIGINT seen while the call ran
        self.user_stop = False      # fn returned a true value
        self.last = None            # the last (step, total, ...) reported
        self._cfn = None

    # ---- the trampoline -------------------------------------------------------------------
    def _on_step(self, args):
        try:
            self.last = args
            if self.interrupted or self.exc is not None:
                return 1
            stop = self.fn(*args) if self.fn is not None else None
            if self.interrupted:
                return 1
            if stop:
                self.user_stop = True
                return 1
            return 0
        except BaseException as exc:  # noqa: B902 - KeyboardInterrupt too: it must not reach C
            self.exc = exc
            return 1

    def c_callback(self):
        if self._cfn is None:
            if self.kind == "train":
                def trampoline(user, step, total, loss, lr):
                    return self._on_step((int(step), int(total), float(loss), float(lr)))
                self._cfn = _lib.TRAIN_PROGRESS_FN(trampoline)
            else:
                def trampoline(user, step, total):
                    return self._on_step((int(step), int(total)))
                self._cfn = _lib.SAMPLE_PROGRESS_FN(trampoline)
        return self._cfn

    # ---- running ---------------------------------------------------------------------------
    def _on_sigint(self, signum, frame):
        self.interrupted = True

    def call(self, c_call, reset=None):
        """Run ``c_call() -> status`` and raise: the callable's exception, KeyboardInterrupt
        after Ctrl-C, or the library's error for a failed status. ``reset()`` (run right after
        the call, whatever happened) takes the trampoline back from the C handle."""
        previous = None
        installed = False
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    previous = signal.signal(signal.SIGINT, self._on_sigint)
                    installed = True
            except (ValueError, OSError):  # e.g. not the main interpreter
                installed = False
        try:
            status = c_call()
        finally:
            try:
                if reset is not None:
                    reset()
            finally:
                if installed:
                    signal.signal(signal.SIGINT, previous)
                self._cfn = None  # the C side no longer holds it
        exc, self.exc = self.exc, None
        if exc is not None:
            try:
                raise exc
            finally:
                exc = None  # no reference cycle through the traceback
        if self.interrupted:
            raise KeyboardInterrupt
        _lib.check(status)
        return status
