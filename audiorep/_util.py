"""The one home of the checks and habits every module shares.

- argument checks (:func:`positive_int`, :func:`check_sr`, :func:`check_target_sr`, :func:`resolve_workers`),
  each raising
  :class:`~audiorep.ParameterError` with a message that names the argument and its value;
- atomic writes (:func:`atomic_path`, :func:`temp_beside`): a temporary file beside the target,
  created with the permissions the umask gives any new file, moved into place only when complete;
- cancellation (:func:`check_cancel`): every long-running function takes ``cancel``, an object
  with ``is_set()`` such as :class:`threading.Event`, and raises :class:`~audiorep.Cancelled`
  once it is set.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import operator
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import Cancelled, ParameterError


def as_int(value, message: str) -> int:
    """Return ``value`` as an int (bools refused), or raise ParameterError(message)."""
    if isinstance(value, bool):
        raise ParameterError(message)
    try:
        return operator.index(value)
    except TypeError:
        raise ParameterError(message) from None


def positive_int(value, name: str) -> int:
    """Return ``value`` as an int, or raise ParameterError if it is not a positive integer."""
    message = f"{name}={value!r} must be a positive integer"
    if as_int(value, message) < 1:
        raise ParameterError(message)
    return operator.index(value)


def positive_number(value, name: str) -> float:
    """Return ``value`` as a float, or raise ParameterError unless it is a finite positive real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
            or value <= 0:
        raise ParameterError(f"{name}={value!r} must be a positive number")
    return float(value)


def check_sr(sr, name: str = "sr", *, optional: bool = False, whole: bool = False):
    """Return a sampling rate in Hz (an int when it is whole), or raise ParameterError.

    A rate is a finite positive real number; bools and strings are refused. With
    ``optional=True``, None is passed through; with ``whole=True`` (a rate a file records),
    it must be a whole number.

    Examples
    --------
    >>> check_sr(22050.0), check_sr(8000.5)
    (22050, 8000.5)
    >>> check_sr("44100")
    Traceback (most recent call last):
    ...
    audiorep.errors.ParameterError: sr='44100' must be a positive sampling rate in Hz
    """
    if sr is None and optional:
        return None
    message = f"{name}={sr!r} must be a positive sampling rate in Hz"
    if isinstance(sr, bool) or not isinstance(sr, numbers.Real):
        raise ParameterError(message)
    value = float(sr)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(message)
    if whole and not value.is_integer():
        raise ParameterError(f"{name}={sr!r} must be a whole number of samples per second")
    return int(value) if value.is_integer() else value


# The rates a signal may be resampled to. Below 100 Hz a signal holds nothing audible (its band
# ends at 50 Hz); above 768 kHz no audio interface records, and the resampler's buffers grow with
# the rate, so an absurd rate would only exhaust memory.
MIN_TARGET_SR = 100
MAX_SR = 768_000


def check_target_sr(sr, name: str = "sr", *, optional: bool = False, whole: bool = False):
    """Return a rate to resample to, or raise ParameterError unless it lies in 100 Hz..768 kHz.

    ``optional`` and ``whole`` are as for :func:`check_sr`.

    Examples
    --------
    >>> check_target_sr(16000)
    16000
    >>> check_target_sr(1)
    Traceback (most recent call last):
    ...
    audiorep.errors.ParameterError: sr=1 is outside the 100..768000 Hz a signal may be resampled to
    """
    sr = check_sr(sr, name, optional=optional, whole=whole)
    if sr is not None and not MIN_TARGET_SR <= sr <= MAX_SR:
        raise ParameterError(f"{name}={sr!r} is outside the {MIN_TARGET_SR}..{MAX_SR} Hz a signal may be "
                             "resampled to")
    return sr


def check_cancel(cancel, what: str) -> None:
    """Raise :class:`~audiorep.Cancelled` ("WHAT was cancelled") if ``cancel`` (None or Event-like) is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} was cancelled")


def check_cancel_token(cancel) -> None:
    """Refuse a ``cancel`` argument that is neither None nor Event-like (has ``is_set()``)."""
    if cancel is not None and not callable(getattr(cancel, "is_set", None)):
        raise ParameterError(f"cancel must be None or an object with is_set() (e.g. threading.Event), "
                             f"got {type(cancel).__name__}")


# More threads than this only add overhead on any machine audiorep runs on, and the kernels
# take the count as a C int.
MAX_WORKERS = 1024


def resolve_workers(workers) -> int:
    """Translate a scipy.fft-style ``workers`` value into a thread count.

    None means 1; a positive number is used as it is; -1 means all cores, -2 all but one, and so on.
    """
    if workers is None:
        return 1
    w = as_int(workers, f"workers={workers!r} must be an integer or None")
    cores = os.cpu_count() or 1
    if w > MAX_WORKERS:
        raise ParameterError(f"workers={w} is more threads than audiorep starts (at most {MAX_WORKERS})")
    if w > 0:
        return w
    if w == 0:
        raise ParameterError("workers=0 is not valid; use a positive count, or -1 for all cores")
    if cores + 1 + w < 1:
        raise ParameterError(f"workers={w} asks for fewer than one thread on a machine with {cores} cores")
    return cores + 1 + w


def memory_limit() -> int:
    """Bytes this process may allocate at most: physical memory, or a lower address-space limit (ulimit -v)."""
    limit = 1 << 62
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            limit = min(limit, soft)
    except (ImportError, OSError, ValueError):
        pass
    return limit


# Sizes below this are not checked against the limit: any machine that runs audiorep has them.
_ALWAYS_FITS = 1 << 24


def check_allocation(shape, itemsize: int, what: str) -> None:
    """Raise ParameterError, naming the shape, the size and the limit, if an array cannot fit in memory.

    Checked before the array is made, so an absurd request fails at once with a message
    instead of as ``std::bad_alloc`` from the kernels or an out-of-memory kill.

    Examples
    --------
    >>> check_allocation((2**40, 2**20), 16, "the FFT")
    Traceback (most recent call last):
    ...
    audiorep.errors.ParameterError: the FFT would take 16777216.0 GiB (shape (1099511627776, 1048576), ...
    """
    n = 1
    for dim in shape:
        n *= int(dim)
    size = n * int(itemsize)
    if size <= _ALWAYS_FITS:
        return
    limit = memory_limit()
    if size > limit:
        raise ParameterError(f"{what} would take {_in_units(size)} (shape {tuple(int(d) for d in shape)}, "
                             f"{itemsize} bytes each), more than the {_in_units(limit)} this process may use")


def _in_units(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


def _current_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads write files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()


def temp_beside(path) -> Path:
    """Create an empty temporary file beside ``path``, with the permissions a new file gets; return it.

    For writers that keep the file open across calls; move it onto ``path`` with ``os.replace``
    when complete and delete it otherwise (:func:`atomic_path` does both for a ``with`` block).
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, FILE_MODE)
    except BaseException:
        tmp.unlink()
        raise
    return tmp


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, else delete it.

    The temporary file already exists (empty) with the permissions a new file would get, so an
    interrupted write never leaves a half-written ``path`` behind.
    """
    path = Path(path)
    tmp = temp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
