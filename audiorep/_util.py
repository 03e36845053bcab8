"""Small argument checks shared by the public modules."""

from __future__ import annotations

import contextlib
import operator
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import ParameterError


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


def resolve_workers(workers) -> int:
    """Translate a scipy.fft-style ``workers`` value into a thread count.

    None means 1; a positive number is used as it is; -1 means all cores, -2 all but one, and so on.
    """
    if workers is None:
        return 1
    w = as_int(workers, f"workers={workers!r} must be an integer or None")
    cores = os.cpu_count() or 1
    if w > 0:
        return w
    if w == 0:
        raise ParameterError("workers=0 is not valid; use a positive count, or -1 for all cores")
    if cores + 1 + w < 1:
        raise ParameterError(f"workers={w} asks for fewer than one thread on a machine with {cores} cores")
    return cores + 1 + w


def _current_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads write files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, else delete it.

    The temporary file already exists (empty) with the permissions a new file would get, so an
    interrupted write never leaves a half-written ``path`` behind.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, FILE_MODE)
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
