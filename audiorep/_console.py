"""Process plumbing for the command line: Ctrl-C and SIGTERM as a cancel event, a stdout that tolerates a closed pipe."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

__all__ = ["CANCEL", "QuietStdout", "signals_cancel"]

# Set when Ctrl-C or SIGTERM arrives. The signal also raises KeyboardInterrupt, but where it lands
# in a C callback (soundfile reads files through cffi callbacks) the exception is swallowed; the
# long-running commands poll this event between blocks, so they stop all the same.
CANCEL = threading.Event()


@contextlib.contextmanager
def signals_cancel():
    """Treat Ctrl-C and SIGTERM alike: set the cancel event and raise KeyboardInterrupt."""
    def handler(signum, frame):
        CANCEL.set()
        raise KeyboardInterrupt

    CANCEL.clear()
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue  # e.g. a background job: whoever ignored it meant it
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave the signals alone
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        CANCEL.clear()


class QuietStdout:
    """A stdout that goes quiet, instead of raising, once its reader has gone (``audiorep ... | head``).

    With ``silent=True`` (``-q``) it is quiet from the start.

    The command carries on and writes its files; only the rest of its printed output is dropped.
    """

    def __init__(self, stream, *, silent: bool = False):
        self._stream = stream
        self._broken = silent  # -q: the summary goes nowhere

    def _silence(self) -> None:
        self._broken = True
        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)  # so that the final flush at exit cannot fail either
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def write(self, text):
        if not self._broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._silence()

    def __getattr__(self, name):
        return getattr(self._stream, name)
