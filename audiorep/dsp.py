"""Signal processing on the compiled core: FFTs and, built on them, the audio views.

The functions here check their arguments, shape the data into contiguous rows
and call the kernels in :mod:`audiorep._core`; the numerical work happens there.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from . import _core
from ._util import resolve_workers
from .errors import ParameterError

__all__ = ["fft", "ifft", "rfft", "irfft"]

_NORMS = ("backward", "ortho", "forward")


def _check_norm(norm):
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise ParameterError(f"norm={norm!r} is not one of {_NORMS} or None")
    return norm


def _scale(norm: str, n: int, forward: bool) -> float:
    if norm == "ortho":
        return 1.0 / math.sqrt(n)
    if (norm == "backward") != forward:
        return 1.0 / n
    return 1.0


def _check_axis(x: np.ndarray, axis) -> int:
    if x.ndim == 0:
        raise ParameterError("the input is a scalar; the FFT needs at least one axis")
    try:
        if isinstance(axis, bool):
            raise TypeError
        ax = operator.index(axis)
    except TypeError:
        raise ParameterError(f"axis={axis!r} must be an integer") from None
    if not -x.ndim <= ax < x.ndim:
        raise ParameterError(f"axis={ax} is out of range for an input with {x.ndim} dimension(s)")
    return ax % x.ndim


def _check_n(n, default: int, name: str = "n") -> int:
    if n is None:
        if default < 1:
            raise ParameterError(f"invalid number of data points ({default}): {name} must be at least 1")
        return default
    try:
        if isinstance(n, bool):
            raise TypeError
        value = operator.index(n)
    except TypeError:
        raise ParameterError(f"{name}={n!r} must be a positive integer") from None
    if value < 1:
        raise ParameterError(f"{name}={value} must be at least 1")
    return value


def _as_array(x) -> np.ndarray:
    if hasattr(x, "__array__") or isinstance(x, (list, tuple, int, float, complex, np.generic)):
        arr = np.asarray(x)
    else:
        raise TypeError(f"expected an array-like input, got {type(x).__name__}")
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"cannot take the FFT of an array of dtype {arr.dtype}")
    return arr


def _complex_dtype(arr: np.ndarray) -> np.dtype:
    # numpy 2 rules: single precision stays single, half goes to single, the rest to double.
    if arr.dtype in (np.float32, np.float16, np.complex64):
        return np.dtype(np.complex64)
    return np.dtype(np.complex128)


def _real_dtype(arr: np.ndarray) -> np.dtype:
    if arr.dtype.kind == "c":
        raise TypeError(f"rfft needs real input, got {arr.dtype}; use fft for complex data")
    if arr.dtype in (np.float32, np.float16):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _fit_rows(arr: np.ndarray, axis: int, length: int, dtype: np.dtype) -> tuple[np.ndarray, tuple]:
    """Move ``axis`` last, crop or zero-pad it to ``length`` and return C-contiguous rows."""
    moved = np.moveaxis(arr, axis, -1)
    have = moved.shape[-1]
    if have >= length:
        rows = np.ascontiguousarray(moved[..., :length], dtype=dtype)
    else:
        rows = np.zeros(moved.shape[:-1] + (length,), dtype=dtype)
        rows[..., :have] = moved
    lead = rows.shape[:-1]
    return rows.reshape(-1, length), lead


def _restore(out_rows: np.ndarray, lead: tuple, axis: int) -> np.ndarray:
    out = out_rows.reshape(lead + out_rows.shape[-1:])
    return np.moveaxis(out, -1, axis)


def _prepare(x, n, axis, norm, workers, default_n=None):
    arr = _as_array(x)
    ax = _check_axis(arr, axis)
    if arr.shape[ax] == 0:
        raise ParameterError(f"the input has zero length along axis {ax}; there is nothing to transform")
    length = _check_n(n, arr.shape[ax] if default_n is None else default_n(arr.shape[ax]))
    return arr, ax, length, _check_norm(norm), resolve_workers(workers)


def _c2c(x, n, axis, norm, workers, forward: bool) -> np.ndarray:
    arr, ax, length, norm, threads = _prepare(x, n, axis, norm, workers)
    rows, lead = _fit_rows(arr, ax, length, _complex_dtype(arr))
    if rows.shape[0] == 0:
        return _restore(rows.copy(), lead, ax)
    out = _core.c2c(rows, forward, _scale(norm, length, forward), threads)
    return _restore(out, lead, ax)


def fft(x, n=None, axis=-1, norm=None, *, workers=None) -> np.ndarray:
    """One-dimensional discrete Fourier transform.

    Parameters
    ----------
    x : array_like
        Input, real or complex. float32, float16 and complex64 are computed in
        single precision; everything else in double precision.
    n : int, optional
        Length of the transform. The input is cropped or zero-padded along
        ``axis``; by default its own length is used. Any ``n >= 1`` works.
    axis : int, optional
        Axis to transform (default: last). All other axes are batch axes.
    norm : {"backward", "ortho", "forward"}, optional
        Normalisation, as in :func:`numpy.fft.fft` (default "backward").
    workers : int, optional
        Threads to use, as in :mod:`scipy.fft`: None means 1, -1 all cores.

    Returns
    -------
    numpy.ndarray
        complex64 or complex128 array with the shape of ``x`` except along ``axis``.

    Raises
    ------
    ParameterError
        For ``n < 1``, an axis out of range, zero-length input, an unknown norm
        or an invalid ``workers`` value.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> X = audiorep.fft(np.array([1.0, 0.0, 0.0, 0.0]))
    >>> np.allclose(X, 1.0)
    True
    """
    return _c2c(x, n, axis, norm, workers, True)


def ifft(x, n=None, axis=-1, norm=None, *, workers=None) -> np.ndarray:
    """Inverse of :func:`fft`; same arguments and semantics as :func:`numpy.fft.ifft`.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> x = np.arange(6.0)
    >>> np.allclose(audiorep.ifft(audiorep.fft(x)), x)
    True
    """
    return _c2c(x, n, axis, norm, workers, False)


def rfft(x, n=None, axis=-1, norm=None, *, workers=None) -> np.ndarray:
    """Discrete Fourier transform of real input, returning the ``n // 2 + 1`` non-negative bins.

    Semantics follow :func:`numpy.fft.rfft`; float32 input gives complex64 output.
    Complex input raises TypeError.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> t = np.arange(64) / 64
    >>> int(np.argmax(np.abs(audiorep.rfft(np.sin(2 * np.pi * 5 * t)))))
    5
    """
    arr, ax, length, norm, threads = _prepare(x, n, axis, norm, workers)
    rows, lead = _fit_rows(arr, ax, length, _real_dtype(arr))
    if rows.shape[0] == 0:
        return _restore(np.zeros((0, length // 2 + 1), _complex_dtype(rows)), lead, ax)
    out = _core.r2c(rows, _scale(norm, length, True), threads)
    return _restore(out, lead, ax)


def irfft(x, n=None, axis=-1, norm=None, *, workers=None) -> np.ndarray:
    """Inverse of :func:`rfft`: ``n // 2 + 1`` Hermitian bins to ``n`` real samples.

    ``n`` defaults to ``2 * (m - 1)`` for ``m`` input bins, as in :func:`numpy.fft.irfft`.
    The imaginary parts of the zero-frequency (and, for even ``n``, the Nyquist) bin are ignored.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> np.allclose(audiorep.irfft(audiorep.rfft(x), n=5), x)
    True
    """
    arr = _as_array(x)
    ax = _check_axis(arr, axis)
    m = arr.shape[ax]
    if m == 0:
        raise ParameterError(f"the input has zero length along axis {ax}; there is nothing to transform")
    length = _check_n(n, 2 * (m - 1))
    norm = _check_norm(norm)
    threads = resolve_workers(workers)
    ctype = _complex_dtype(arr)
    rows, lead = _fit_rows(arr, ax, length // 2 + 1, ctype)
    rtype = np.float32 if ctype == np.complex64 else np.float64
    if rows.shape[0] == 0:
        return _restore(np.zeros((0, length), rtype), lead, ax)
    out = _core.c2r(rows, length, _scale(norm, length, False), threads)
    return _restore(out, lead, ax)
