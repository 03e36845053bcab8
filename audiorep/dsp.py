"""Signal processing on the compiled core: FFTs and, built on them, the audio views.

The functions here check their arguments, shape the data into contiguous rows
and call the kernels in :mod:`audiorep._core`; the numerical work happens there.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import _core, _device
from ._util import as_int, check_allocation, check_sr, positive_int, positive_number, resolve_workers
from .errors import ParameterError

__all__ = ["fft", "ifft", "rfft", "irfft", "release_fft_memory"]

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
    ax = as_int(axis, f"axis={axis!r} must be an integer")
    if not -x.ndim <= ax < x.ndim:
        raise ParameterError(f"axis={ax} is out of range for an input with {x.ndim} dimension(s)")
    return ax % x.ndim


def _check_n(n, default: int, name: str = "n") -> int:
    if n is None:
        if default < 1:
            raise ParameterError(f"invalid number of data points ({default}): {name} must be at least 1")
        return default
    return positive_int(n, name)


def _as_array(x) -> np.ndarray:
    if hasattr(x, "__array__") or isinstance(x, (list, tuple, int, float, complex, np.generic)):
        arr = np.asarray(x)
    else:
        raise TypeError(f"expected an array-like input, got {type(x).__name__}")
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"cannot take the FFT of an array of dtype {arr.dtype}")
    return _native(arr)


def _native(arr: np.ndarray) -> np.ndarray:
    """``arr`` in the machine's byte order and aligned, as the kernels read it.

    A big-endian float32 is still single precision; a view into a byte buffer can start at
    any address, and the kernels load whole values.
    """
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr if arr.flags.aligned else arr.copy()


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
    moved = arr if axis == arr.ndim - 1 else np.moveaxis(arr, axis, -1)
    have = moved.shape[-1]
    if have >= length:
        rows = np.ascontiguousarray(moved[..., :length], dtype=dtype)
    else:
        rows = np.zeros(moved.shape[:-1] + (length,), dtype=dtype)
        rows[..., :have] = moved
    lead = rows.shape[:-1]
    return rows.reshape(-1, length), lead


def _check_result(arr: np.ndarray, axis: int, length: int, dtype, what: str) -> None:
    """Refuse a transform whose result, ``length`` values of ``dtype`` along ``axis``, cannot fit in memory."""
    shape = arr.shape[:axis] + (length,) + arr.shape[axis + 1:]
    check_allocation(shape, np.dtype(dtype).itemsize, what)


def _restore(out_rows: np.ndarray, lead: tuple, axis: int) -> np.ndarray:
    out = out_rows.reshape(lead + out_rows.shape[-1:])
    return out if axis == out.ndim - 1 else np.moveaxis(out, -1, axis)


def _prepare(x, n, axis, norm, workers, default_n=None):
    arr = _as_array(x)
    ax = _check_axis(arr, axis)
    if arr.shape[ax] == 0:
        raise ParameterError(f"the input has zero length along axis {ax}; there is nothing to transform")
    length = _check_n(n, arr.shape[ax] if default_n is None else default_n(arr.shape[ax]))
    return arr, ax, length, _check_norm(norm), resolve_workers(workers)


def _on_device(x, device):
    """(input, device name): tensors that stay where they are, everything else as host data."""
    dev = _device.resolve(x, device)
    if dev == "cuda" and _device.is_cuda_tensor(x):
        return x, dev
    return _device.to_host(x), dev


def _torch_c2c(t, n, axis, norm, workers, forward: bool):
    arr, ax, length, norm, _ = _prepare(_device.stand_in(t), n, axis, norm, workers)
    rows, lead = _device.torch_rows(t, ax, length, _complex_dtype(arr))
    out = rows.new_empty(rows.shape)
    if rows.shape[0]:
        _core.cuda_c2c_ptr(
            rows.data_ptr(), out.data_ptr(), length, rows.shape[0], forward, _scale(norm, length, forward),
            out.dtype == _device.torch_dtype(np.complex128), *_device.launch_args(t),
        )
    return out.reshape(lead + (length,)).movedim(-1, ax)


def _c2c(x, n, axis, norm, workers, forward: bool, device=None) -> np.ndarray:
    x, dev = _on_device(x, device)
    if _device.is_tensor(x):
        return _torch_c2c(x, n, axis, norm, workers, forward)
    arr, ax, length, norm, threads = _prepare(x, n, axis, norm, workers)
    _check_result(arr, ax, length, _complex_dtype(arr), "the FFT")
    rows, lead = _fit_rows(arr, ax, length, _complex_dtype(arr))
    if rows.shape[0] == 0:
        return _restore(rows.copy(), lead, ax)
    scale = _scale(norm, length, forward)
    if dev == "cuda":
        out = _core.cuda_c2c_host(rows, forward, scale, 0)
    else:
        out = _core.c2c(rows, forward, scale, threads)
    return _restore(out, lead, ax)


def release_fft_memory() -> int:
    """Free the work buffers the FFT keeps between calls; returns their size in bytes.

    Calls reuse their work buffers instead of faulting fresh pages in each
    time. Up to 96 MB are kept, and besides them the largest single buffer
    over that: the middle buffer of the longest row transformed (16 bytes a
    point for complex128, about 160 MB for 10**7 points) stays until a larger
    one replaces it or this function frees it.
    """
    return int(_core.fft_release_memory())


def fft(x, n=None, axis=-1, norm=None, *, workers=None, device=None) -> np.ndarray:
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
    device : {None, "cpu", "cuda"}, optional
        Where to compute. None: where ``x`` lives (a torch CUDA tensor on its GPU,
        anything else on the CPU). "cuda" on host data copies it to the GPU and the
        result back; a torch CUDA tensor stays on its device and the result is a
        tensor there. "cpu" on a CUDA tensor copies it to the host.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        complex64 or complex128 array with the shape of ``x`` except along ``axis``
        (a tensor on the same GPU for torch CUDA input computed there).

    Raises
    ------
    ParameterError
        For ``n < 1``, an axis out of range, zero-length input, an unknown norm,
        an invalid ``workers`` value or an unknown ``device``.
    DeviceError
        For ``device="cuda"`` without the CUDA build or without a GPU.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> X = audiorep.fft(np.array([1.0, 0.0, 0.0, 0.0]))
    >>> np.allclose(X, 1.0)
    True
    """
    return _c2c(x, n, axis, norm, workers, True, device)


def ifft(x, n=None, axis=-1, norm=None, *, workers=None, device=None) -> np.ndarray:
    """Inverse of :func:`fft`; same arguments and semantics as :func:`numpy.fft.ifft`.

    ``device`` is as in :func:`fft`.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> x = np.arange(6.0)
    >>> np.allclose(audiorep.ifft(audiorep.fft(x)), x)
    True
    """
    return _c2c(x, n, axis, norm, workers, False, device)


def rfft(x, n=None, axis=-1, norm=None, *, workers=None, device=None) -> np.ndarray:
    """Discrete Fourier transform of real input, returning the ``n // 2 + 1`` non-negative bins.

    Semantics follow :func:`numpy.fft.rfft`; float32 input gives complex64 output.
    Complex input raises TypeError. ``device`` is as in :func:`fft`.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> t = np.arange(64) / 64
    >>> int(np.argmax(np.abs(audiorep.rfft(np.sin(2 * np.pi * 5 * t)))))
    5
    """
    x, dev = _on_device(x, device)
    if _device.is_tensor(x):
        arr, ax, length, norm, _ = _prepare(_device.stand_in(x), n, axis, norm, workers)
        rows, lead = _device.torch_rows(x, ax, length, _real_dtype(arr))
        ctype = _device.torch_dtype(_complex_dtype(np.empty(0, _real_dtype(arr))))
        out = rows.new_empty((rows.shape[0], length // 2 + 1), dtype=ctype)
        if rows.shape[0]:
            _core.cuda_r2c_ptr(
                rows.data_ptr(), out.data_ptr(), length, rows.shape[0], _scale(norm, length, True),
                rows.element_size() == 8, *_device.launch_args(x),
            )
        return out.reshape(lead + (length // 2 + 1,)).movedim(-1, ax)
    arr, ax, length, norm, threads = _prepare(x, n, axis, norm, workers)
    _check_result(arr, ax, length // 2 + 1, _complex_dtype(np.empty(0, _real_dtype(arr))), "the FFT")
    rows, lead = _fit_rows(arr, ax, length, _real_dtype(arr))
    if rows.shape[0] == 0:
        return _restore(np.zeros((0, length // 2 + 1), _complex_dtype(rows)), lead, ax)
    if dev == "cuda":
        out = _core.cuda_r2c_host(rows, _scale(norm, length, True), 0)
    else:
        out = _core.r2c(rows, _scale(norm, length, True), threads)
    return _restore(out, lead, ax)


def irfft(x, n=None, axis=-1, norm=None, *, workers=None, device=None) -> np.ndarray:
    """Inverse of :func:`rfft`: ``n // 2 + 1`` Hermitian bins to ``n`` real samples.

    ``device`` is as in :func:`fft`.

    ``n`` defaults to ``2 * (m - 1)`` for ``m`` input bins, as in :func:`numpy.fft.irfft`.
    The imaginary parts of the zero-frequency (and, for even ``n``, the Nyquist) bin are ignored.

    Examples
    --------
    >>> import numpy as np, audiorep
    >>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> np.allclose(audiorep.irfft(audiorep.rfft(x), n=5), x)
    True
    """
    x, dev = _on_device(x, device)
    tensor = _device.is_tensor(x)
    arr = _as_array(_device.stand_in(x) if tensor else x)
    ax = _check_axis(arr, axis)
    m = arr.shape[ax]
    if m == 0:
        raise ParameterError(f"the input has zero length along axis {ax}; there is nothing to transform")
    length = _check_n(n, 2 * (m - 1))
    norm = _check_norm(norm)
    threads = resolve_workers(workers)
    ctype = _complex_dtype(arr)
    rtype = np.float32 if ctype == np.complex64 else np.float64
    scale = _scale(norm, length, False)
    if tensor:
        rows, lead = _device.torch_rows(x, ax, length // 2 + 1, ctype)
        out = rows.new_empty((rows.shape[0], length), dtype=_device.torch_dtype(rtype))
        if rows.shape[0]:
            _core.cuda_c2r_ptr(
                rows.data_ptr(), out.data_ptr(), length, rows.shape[0], scale, rtype == np.float64,
                *_device.launch_args(x),
            )
        return out.reshape(lead + (length,)).movedim(-1, ax)
    _check_result(arr, ax, length, rtype, "the inverse FFT")
    rows, lead = _fit_rows(arr, ax, length // 2 + 1, ctype)
    if rows.shape[0] == 0:
        return _restore(np.zeros((0, length), rtype), lead, ax)
    if dev == "cuda":
        out = _core.cuda_c2r_host(rows, length, scale, 0)
    else:
        out = _core.c2r(rows, length, scale, threads)
    return _restore(out, lead, ax)


# ---------------------------------------------------------------- short-time transforms

__all__ += ["stft", "istft"]


def stft(y, *, n_fft=2048, hop_length=None, window="hann", center=True) -> np.ndarray:
    """Short-time Fourier transform: the spectra of windowed frames, laid out like :func:`librosa.stft`.

    Parameters
    ----------
    y : array_like
        Real signal(s), samples on the last axis; leading axes are batch axes.
    n_fft : int
        Frame length in samples.
    hop_length : int, optional
        Samples between frames (default ``n_fft // 4``).
    window : str, array_like or None
        See :func:`get_window` (default periodic Hann).
    center : bool
        Pad ``n_fft // 2`` zeros at both ends, so that frame ``t`` is centred on sample ``t * hop_length``.

    Returns
    -------
    numpy.ndarray
        Complex ``(..., n_fft // 2 + 1, frames)``; complex64 for float32 input.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> dsp.stft(np.zeros(4096, np.float32), n_fft=512, hop_length=128).shape
    (257, 33)
    """
    arr = _signal(y)
    n_fft = positive_int(n_fft, "n_fft")
    hop_length = positive_int(n_fft // 4 if hop_length is None else hop_length, "hop_length")
    _, n_frames = _frame_count(arr.shape[-1], n_fft, hop_length, bool(center))
    check_allocation(arr.shape[:-1] + (n_frames, n_fft // 2 + 1), 2 * arr.dtype.itemsize, "the STFT")
    win = get_window(window, n_fft, dtype=arr.dtype)
    padded = np.pad(arr, [(0, 0)] * (arr.ndim - 1) + [(n_fft // 2, n_fft // 2)]) if center else arr
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop_length, :][..., :n_frames, :]
    spec = rfft(frames * win if win is not None else frames, axis=-1)
    return np.swapaxes(spec, -1, -2)


def _overlap_add(frames: np.ndarray, hop: int, out: np.ndarray) -> None:
    """Add row ``i`` of ``frames`` (n, L) into ``out`` at ``i * hop``.

    Frames ``k, k + r, k + 2r, ...`` with ``r = ceil(L / hop)`` do not overlap, so the sum runs
    in ``r`` strided passes rather than a Python loop per frame.
    """
    length = frames.shape[1]
    r = -(-length // hop)
    span = r * hop
    for k in range(r):
        part = frames[k::r]
        if part.shape[0] == 0:
            continue
        if span > length:
            part = np.pad(part, ((0, 0), (0, span - length)))
        flat = part.reshape(-1)
        seg = out[k * hop: k * hop + flat.shape[0]]
        seg += flat[: seg.shape[0]]


def istft(S, *, hop_length=None, n_fft=None, window="hann", center=True, length=None) -> np.ndarray:
    """Inverse of :func:`stft`: overlap-add of the windowed inverse transforms, divided by the summed squared window.

    Parameters
    ----------
    S : array_like
        Complex ``(..., n_fft // 2 + 1, frames)``.
    hop_length : int, optional
        Samples between frames (default ``n_fft // 4``).
    n_fft : int, optional
        Frame length (default ``2 * (bins - 1)``).
    window : str, array_like or None
        The analysis window of :func:`stft`.
    center : bool
        Whether :func:`stft` padded the signal; the padding is cut off again.
    length : int, optional
        Samples of the result (zero-padded or cut); default ``hop_length * (frames - 1)`` with
        ``center``, else the full overlap-add.

    Returns
    -------
    numpy.ndarray
        Real ``(..., length)``; float32 for complex64 input. Samples that no window covers
        (squared sum below 1e-6) are left as the overlap-add gives them.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> y = np.random.default_rng(0).standard_normal(4096)
    >>> np.allclose(dsp.istft(dsp.stft(y, n_fft=512, hop_length=128), hop_length=128, length=4096), y)
    True
    """
    spec = np.asarray(S)
    if spec.ndim < 2:
        raise ParameterError(f"S has shape {spec.shape}; expected (..., bins, frames)")
    bins, n_frames = spec.shape[-2:]
    if bins == 0 or n_frames == 0:
        raise ParameterError(f"S has shape {spec.shape}; there is nothing to invert")
    n_fft = positive_int(2 * (bins - 1) if n_fft is None else n_fft, "n_fft")
    if n_fft // 2 + 1 != bins:
        raise ParameterError(f"n_fft={n_fft} gives {n_fft // 2 + 1} bins, S has {bins}")
    hop_length = positive_int(n_fft // 4 if hop_length is None else hop_length, "hop_length")
    total = n_fft + hop_length * (n_frames - 1)
    start = n_fft // 2 if center else 0
    if length is None:
        length = hop_length * (n_frames - 1) if center else total
    elif isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise ParameterError(f"length={length!r} must be a non-negative integer")
    lead = spec.shape[:-2]
    frames = irfft(np.swapaxes(spec, -1, -2), n=n_fft, axis=-1)
    win = get_window(window, n_fft, dtype=frames.dtype)
    if win is not None:
        frames = frames * win
    norm = np.zeros(total, frames.dtype)
    _overlap_add(np.broadcast_to(win ** 2 if win is not None else np.ones(n_fft, frames.dtype), (n_frames, n_fft)),
                 hop_length, norm)
    norm = norm[start: start + length]
    rows = frames.reshape((-1, n_frames, n_fft))
    out = np.zeros((rows.shape[0], max(total, start + length)), frames.dtype)
    for row, signal in zip(rows, out):
        _overlap_add(row, hop_length, signal)
    out = out[:, start: start + length]
    covered = np.zeros(length, bool)
    covered[: norm.shape[0]] = norm > 1e-6
    np.divide(out[:, : norm.shape[0]], norm, out=out[:, : norm.shape[0]], where=covered[: norm.shape[0]])
    return out.reshape(lead + (length,))


# ---------------------------------------------------------------- autocorrelation family
#
# Everything below shapes the input into contiguous rows (leading axes are batch
# axes), pads for centred frames and hands the rows to one fused kernel.

__all__ += [
    "Autocorrelogram",
    "Correlogram",
    "PitchTrack",
    "autocorrelate",
    "autocorrelogram",
    "correlogram",
    "fundamental_frequency",
    "get_window",
    "mel_filterbank",
    "melspectrogram",
    "pitch_track",
]


def _signal(y, name: str = "y") -> np.ndarray:
    """``y`` as a float32 (from float32/float16) or float64 (everything else real) array, finite."""
    if not (hasattr(y, "__array__") or isinstance(y, (list, tuple, int, float, np.generic))):
        raise TypeError(f"{name} must be array-like, got {type(y).__name__}")
    arr = np.asarray(y)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got {arr.dtype}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ParameterError(f"{name} is a scalar; expected a signal with at least one axis")
    arr = _native(arr)
    dtype = np.float32 if arr.dtype in (np.float32, np.float16) else np.float64
    arr = arr.astype(dtype, copy=False)
    if arr.size and not np.isfinite(arr).all():
        raise ParameterError(f"{name} contains NaN or Inf; audio must be finite everywhere")
    return arr


def get_window(window, length: int, *, dtype=np.float64) -> np.ndarray | None:
    """Analysis window of ``length`` samples, by name or as an array.

    Parameters
    ----------
    window : str, array_like or None
        "hann", "hamming", "blackman" (periodic, as :func:`scipy.signal.get_window`
        makes them for spectral analysis), "rect"/"boxcar"/"ones" or None for a
        rectangular window, or an array of ``length`` values.
    length : int
        Number of samples.
    dtype : numpy dtype, optional
        dtype of the result.

    Returns
    -------
    numpy.ndarray or None
        The window, or None for a rectangular window given by name or None.

    Examples
    --------
    >>> import audiorep.dsp as dsp
    >>> dsp.get_window("hann", 4)
    array([0. , 0.5, 1. , 0.5])
    """
    length = positive_int(length, "length")
    if window is None:
        return None
    if isinstance(window, str):
        name = window.lower()
        phase = 2.0 * np.pi * np.arange(length) / length
        if name in ("rect", "rectangular", "boxcar", "ones"):
            return None
        if name in ("hann", "hanning"):
            w = 0.5 - 0.5 * np.cos(phase)
        elif name == "hamming":
            w = 0.54 - 0.46 * np.cos(phase)
        elif name == "blackman":
            w = 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
        else:
            raise ParameterError(
                f"window={window!r} is unknown; use 'hann', 'hamming', 'blackman', 'rect' or an array"
            )
        return np.ascontiguousarray(w, dtype=dtype)
    w = np.asarray(window)
    if w.dtype.kind not in "biuf":
        raise ParameterError(f"window must be a name or a real array, got dtype {w.dtype}")
    if w.ndim != 1 or w.shape[0] != length:
        raise ParameterError(f"window has shape {w.shape}; expected ({length},) to match the frame length")
    if not np.isfinite(w).all():
        raise ParameterError("window contains NaN or Inf")
    return _native(np.ascontiguousarray(w, dtype=dtype))


def _frame_count(n: int, frame_length: int, hop_length: int, center: bool) -> tuple[int, int]:
    """(samples per row after centre padding, frames) for rows of ``n`` samples."""
    if n == 0:
        raise ParameterError("y has zero length along its last axis; there is nothing to analyse")
    padded = n + 2 * (frame_length // 2) if center else n
    if padded < frame_length:
        raise ParameterError(
            f"y has {n} samples, fewer than frame_length={frame_length}; with center=False "
            "there is not a single whole frame (use center=True or a shorter frame)"
        )
    return padded, 1 + (padded - frame_length) // hop_length


def _frame_rows(arr: np.ndarray, frame_length: int, hop_length: int, center: bool) -> tuple[np.ndarray, tuple, int]:
    """Contiguous rows of the (centre-padded) signal, the batch shape and the frame count."""
    n = arr.shape[-1]
    _, n_frames = _frame_count(n, frame_length, hop_length, center)
    lead = arr.shape[:-1]
    rows = arr.reshape(-1, n)
    if center:
        pad = frame_length // 2
        # np.pad keeps the memory order of its input, so a transposed batch would come back
        # column-major; the kernels read rows
        rows = np.ascontiguousarray(np.pad(rows, ((0, 0), (pad, pad)), mode="constant"))
    else:
        rows = np.ascontiguousarray(rows)
    return rows, lead, n_frames


def _frame_times(n_frames: int, sr: float, frame_length: int, hop_length: int, center: bool) -> np.ndarray:
    offset = 0 if center else frame_length // 2
    return (np.arange(n_frames) * hop_length + offset) / sr


def _lag_axes(max_lag: int, sr: float) -> tuple[np.ndarray, np.ndarray]:
    lags = np.arange(max_lag)
    frequencies = np.full(max_lag, np.inf)
    frequencies[1:] = sr / lags[1:]
    return lags / sr, frequencies


def _check_max_lag(max_lag, default: int, limit: int, limit_name: str) -> int:
    if max_lag is None:
        return default
    value = positive_int(max_lag, "max_lag")
    if value > limit:
        raise ParameterError(f"max_lag={value} exceeds the {limit_name} ({limit})")
    return value


def autocorrelate(y, *, max_lag=None, max_size=None, axis=-1, normalize=True, workers=None) -> np.ndarray:
    """Autocorrelation of each 1-D signal along ``axis``, through the FFT.

    Unlike :func:`librosa.autocorrelate`, the result is normalised by default (lag 0 is 1);
    ``normalize=False`` gives librosa's values, and librosa's ``max_size`` is accepted as
    another name for ``max_lag``.

    Lag ``k`` is ``sum_n y[n] y[n + k]`` for ``k = 0 .. max_lag - 1`` (the
    non-negative half of ``numpy.correlate(y, y, "full")``). The signal is
    zero-padded to a power of two ``>= n + max_lag - 1`` so that no lag wraps around.

    Parameters
    ----------
    y : array_like
        Real signal(s); every axis other than ``axis`` is a batch axis.
    max_lag : int, optional
        Number of lags to keep, 1 .. signal length (default: the signal length).
    max_size : int, optional
        The same as ``max_lag`` (librosa's name); give one of the two.
    axis : int, optional
        Axis along which to correlate (default: last).
    normalize : bool, optional
        Divide by the lag-0 value so that lag 0 is 1 (default). All-zero signals give zeros.
    workers : int, optional
        Threads, as in :mod:`scipy.fft`: None means 1, -1 all cores.

    Returns
    -------
    numpy.ndarray
        float32 for float32 input, otherwise float64; the shape of ``y`` with
        ``max_lag`` values along ``axis``.

    Raises
    ------
    ParameterError
        For ``max_lag`` outside 1 .. signal length, zero-length or non-finite input,
        or an axis out of range.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> dsp.autocorrelate(np.array([1.0, 2.0, 3.0]), normalize=False)
    array([14.,  8.,  3.])
    >>> dsp.autocorrelate(np.array([1.0, 2.0, 3.0]), max_size=2)
    array([1.        , 0.57142857])
    """
    if max_size is not None:
        if max_lag is not None and max_lag != max_size:
            raise ParameterError(f"max_lag={max_lag!r} and max_size={max_size!r} name the same setting; give one")
        max_lag = max_size
    arr = _signal(y)
    ax = _check_axis(arr, axis)
    n = arr.shape[ax]
    if n == 0:
        raise ParameterError(f"y has zero length along axis {ax}; there is nothing to correlate")
    k = _check_max_lag(max_lag, n, n, "signal length")
    threads = resolve_workers(workers)
    moved = np.moveaxis(arr, ax, -1)
    lead = moved.shape[:-1]
    rows = np.ascontiguousarray(moved.reshape(-1, n))
    if rows.shape[0] == 0:
        return np.moveaxis(np.zeros(lead + (k,), arr.dtype), -1, ax)
    nfft = _core.acf_fast_fft_size(n, k)
    values, _ = _core.autocorrelogram(rows, None, n, 1, 1, k, nfft, bool(normalize), threads)
    return np.moveaxis(values.reshape(lead + (k,)), -1, ax)


@dataclass(frozen=True)
class Autocorrelogram:
    """Frame-wise autocorrelation of a signal (see :func:`autocorrelogram`).

    Attributes
    ----------
    values : numpy.ndarray
        (..., frames, lags) autocorrelation of each windowed frame.
    times : numpy.ndarray
        (frames,) frame centres in seconds.
    lags : numpy.ndarray
        (lags,) lag in seconds.
    frequencies : numpy.ndarray
        (lags,) frequency of each lag, ``sr / lag`` in Hz (inf at lag 0).
    sr : float
        Sample rate in Hz.
    energy : numpy.ndarray
        (..., frames) lag-0 value of each frame before normalisation (sum of the
        squared windowed samples), which normalisation removes from ``values``.
    frame_length, hop_length : int
        Framing in samples.
    """

    values: np.ndarray
    times: np.ndarray
    lags: np.ndarray
    frequencies: np.ndarray
    sr: float
    energy: np.ndarray
    frame_length: int
    hop_length: int


@dataclass(frozen=True)
class Correlogram:
    """Frame-wise, per-band autocorrelation of a signal (see :func:`correlogram`).

    Attributes
    ----------
    values : numpy.ndarray
        (..., frames, bands, lags) autocorrelation of each band of each frame.
    times : numpy.ndarray
        (frames,) frame centres in seconds.
    lags : numpy.ndarray
        (lags,) lag in seconds.
    band_frequencies : numpy.ndarray
        (bands,) centre frequency of each band in Hz.
    sr : float
        Sample rate in Hz.
    energy : numpy.ndarray
        (..., frames, bands) lag-0 value of each band before normalisation.
    frame_length, hop_length : int
        Framing in samples.
    """

    values: np.ndarray
    times: np.ndarray
    lags: np.ndarray
    band_frequencies: np.ndarray
    sr: float
    energy: np.ndarray
    frame_length: int
    hop_length: int


def _framing(y, sr, frame_length, hop_length, window, center):
    arr = _signal(y)
    sr = check_sr(sr)
    frame_length = positive_int(frame_length, "frame_length")
    hop_length = positive_int(hop_length, "hop_length")
    # refuse before the window is built or the signal padded
    _, n_frames = _frame_count(arr.shape[-1], frame_length, hop_length, bool(center))
    n_rows = arr.size // arr.shape[-1]
    check_allocation((n_rows, n_frames, frame_length // 2 + 1), arr.dtype.itemsize,
                     f"{n_frames} frames of {frame_length} samples")
    win = get_window(window, frame_length, dtype=arr.dtype)
    rows, lead, n_frames = _frame_rows(arr, frame_length, hop_length, bool(center))
    return arr, sr, frame_length, hop_length, win, rows, lead, n_frames


def autocorrelogram(
    y,
    sr,
    *,
    frame_length=2048,
    hop_length=512,
    max_lag=None,
    window="hann",
    center=True,
    normalize=True,
    workers=None,
    device=None,
) -> Autocorrelogram:
    """Autocorrelation of each windowed frame of a signal.

    Framing, windowing, the forward FFT, the power spectrum, the inverse FFT,
    lag selection and normalisation run in one compiled pass over blocks of frames.

    Parameters
    ----------
    y : array_like
        Real signal(s), time on the last axis; leading axes are batch axes.
    sr : float
        Sample rate in Hz.
    frame_length, hop_length : int, optional
        Frame length and hop in samples (defaults 2048 and 512).
    max_lag : int, optional
        Number of lags, 1 .. ``frame_length`` (default ``frame_length // 2``).
    window : str, array_like or None, optional
        Analysis window (see :func:`get_window`; default periodic Hann).
    center : bool, optional
        Pad ``frame_length // 2`` zeros on each side so that frame ``t`` is
        centred on sample ``t * hop_length`` (default, as in librosa).
    normalize : bool, optional
        Divide each frame by its lag-0 value (silent frames give zeros).
    workers : int, optional
        Threads: None means 1, -1 all cores.
    device : {None, "cpu", "cuda"}, optional
        Where to compute, as in :func:`fft`: a torch CUDA tensor gives ``values``
        and ``energy`` as tensors on its GPU; "cuda" on host data computes on the
        GPU and returns numpy arrays. :class:`DeviceError` without a usable GPU.

    Returns
    -------
    Autocorrelogram
        ``values`` (..., frames, lags) in float32 for float32 input, otherwise float64.

    Raises
    ------
    ParameterError
        For a non-positive ``sr``, ``frame_length`` or ``hop_length``, ``max_lag``
        outside 1 .. ``frame_length``, a bad window, non-finite or empty input,
        or a signal shorter than one frame with ``center=False``.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> sr = 8000
    >>> y = np.sin(2 * np.pi * 200 * np.arange(sr) / sr)
    >>> ac = dsp.autocorrelogram(y, sr, frame_length=1024, hop_length=256)
    >>> ac.values.shape
    (32, 512)
    >>> int(np.argmax(ac.values[10, 20:])) + 20  # one period of 200 Hz: 40 samples
    40
    """
    y, dev = _on_device(y, device)
    if _device.is_tensor(y):
        return _torch_autocorrelogram(y, sr, frame_length, hop_length, max_lag, window, center, normalize, workers)
    arr, sr, frame_length, hop_length, win, rows, lead, n_frames = _framing(
        y, sr, frame_length, hop_length, window, center
    )
    k = _check_max_lag(max_lag, max(1, frame_length // 2), frame_length, "frame_length")
    threads = resolve_workers(workers)
    if rows.shape[0] == 0:
        values = np.zeros((0, n_frames, k), arr.dtype)
        energy = np.zeros((0, n_frames), arr.dtype)
    else:
        if dev == "cuda":  # the GPU transforms are radix 2
            values, energy = _core.cuda_autocorrelogram_host(
                rows, win, frame_length, hop_length, n_frames, k, _core.acf_fft_size(frame_length, k),
                bool(normalize), 0
            )
        else:
            values, energy = _core.autocorrelogram(
                rows, win, frame_length, hop_length, n_frames, k, _core.acf_fast_fft_size(frame_length, k),
                bool(normalize), threads
            )
    return _autocorrelogram_result(values, energy, lead, n_frames, k, sr, frame_length, hop_length, center)


def _autocorrelogram_result(values, energy, lead, n_frames, k, sr, frame_length, hop_length, center):
    """Wrap kernel output rows (numpy or torch) with their batch shape and axes."""
    lags, frequencies = _lag_axes(k, sr)
    return Autocorrelogram(
        values=values.reshape(lead + (n_frames, k)),
        times=_frame_times(n_frames, sr, frame_length, hop_length, bool(center)),
        lags=lags,
        frequencies=frequencies,
        sr=sr,
        energy=energy.reshape(lead + (n_frames,)),
        frame_length=frame_length,
        hop_length=hop_length,
    )


def _torch_autocorrelogram(t, sr, frame_length, hop_length, max_lag, window, center, normalize, workers):
    """:func:`autocorrelogram` of a torch CUDA tensor, on its device; same checks as for host input."""
    import torch

    stand = _device.stand_in(t)
    # The dtype and shape checks of host input, on an empty slice: the values are checked on the device.
    arr = _signal(stand[..., :0] if stand.ndim else stand)
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise ParameterError("y contains NaN or Inf; audio must be finite everywhere")
    sr = check_sr(sr)
    frame_length = positive_int(frame_length, "frame_length")
    hop_length = positive_int(hop_length, "hop_length")
    win = get_window(window, frame_length, dtype=arr.dtype)
    n = stand.shape[-1]
    padded, n_frames = _frame_count(n, frame_length, hop_length, bool(center))
    k = _check_max_lag(max_lag, max(1, frame_length // 2), frame_length, "frame_length")
    resolve_workers(workers)
    lead = tuple(stand.shape[:-1])
    dtype = _device.torch_dtype(arr.dtype)
    rows = t.detach().to(dtype).reshape(-1, n)
    if center:
        rows = torch.nn.functional.pad(rows, (frame_length // 2, frame_length // 2))
    rows = rows.contiguous()
    values = rows.new_empty((rows.shape[0], n_frames, k))
    energy = rows.new_empty((rows.shape[0], n_frames))
    if rows.shape[0]:
        win_t = None if win is None else torch.as_tensor(win, device=t.device)
        _core.cuda_autocorrelogram_ptr(
            rows.data_ptr(), padded, rows.shape[0], 0 if win_t is None else win_t.data_ptr(), frame_length,
            hop_length, n_frames, k, _core.acf_fft_size(frame_length, k), bool(normalize), values.data_ptr(),
            energy.data_ptr(), arr.dtype == np.float64, *_device.launch_args(t),
        )
    return _autocorrelogram_result(values, energy, lead, n_frames, k, sr, frame_length, hop_length, center)


# -------------------------------------------------------------- frequency scales


def _hz_to_mel(f, htk: bool):
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney's scale: linear below 1 kHz, logarithmic above.
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mels = f / f_sp
    above = f >= min_log_hz
    return np.where(above, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)


def _mel_to_hz(m, htk: bool):
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def _hz_to_erb(f):
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(f, dtype=np.float64))


def _erb_to_hz(e):
    return (10.0 ** (np.asarray(e, dtype=np.float64) / 21.4) - 1.0) / 0.00437


def _triangles(edges: np.ndarray, bin_freqs: np.ndarray) -> np.ndarray:
    """Triangular weights rising from edges[i] to edges[i+1] and falling to edges[i+2]."""
    fdiff = np.diff(edges)
    ramps = edges[:, None] - bin_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return np.maximum(0.0, np.minimum(lower, upper))


def _band_limits(sr: float, fmin, fmax) -> tuple[float, float]:
    nyquist = sr / 2
    fmax = nyquist if fmax is None else float(fmax)
    fmin = float(fmin)
    if not (math.isfinite(fmin) and fmin >= 0):
        raise ParameterError(f"fmin={fmin!r} must be a non-negative frequency")
    if not math.isfinite(fmax) or fmax > nyquist:
        raise ParameterError(f"fmax={fmax!r} must not exceed the Nyquist frequency sr/2={nyquist}")
    if fmin >= fmax:
        raise ParameterError(f"fmin={fmin} must be below fmax={fmax}")
    return fmin, fmax


def mel_filterbank(sr, n_fft, *, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney") -> np.ndarray:
    """Triangular mel filterbank, (n_mels, n_fft // 2 + 1), as :func:`librosa.filters.mel` builds it.

    Parameters
    ----------
    sr : float
        Sample rate in Hz.
    n_fft : int
        FFT length.
    n_mels : int, optional
        Number of bands.
    fmin, fmax : float, optional
        Band edges in Hz (``fmax`` defaults to ``sr / 2``).
    htk : bool, optional
        HTK mel formula instead of Slaney's.
    norm : {"slaney", None}, optional
        "slaney" divides each triangle by its width in Hz (constant energy per band).

    Returns
    -------
    numpy.ndarray
        float64 weights, shape ``(n_mels, 1 + n_fft // 2)``.

    Examples
    --------
    >>> import audiorep.dsp as dsp
    >>> dsp.mel_filterbank(16000, 512, n_mels=40).shape
    (40, 257)
    """
    sr = check_sr(sr)
    n_fft = positive_int(n_fft, "n_fft")
    n_mels = positive_int(n_mels, "n_mels")
    fmin, fmax = _band_limits(sr, fmin, fmax)
    if norm not in ("slaney", None):
        raise ParameterError(f"norm={norm!r} must be 'slaney' or None")
    mels = np.linspace(_hz_to_mel(fmin, htk), _hz_to_mel(fmax, htk), n_mels + 2)
    edges = _mel_to_hz(mels, htk)
    weights = _triangles(edges, np.fft.rfftfreq(n_fft, 1.0 / sr))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


def correlogram(
    y,
    sr,
    *,
    n_bands=64,
    fmin=50.0,
    fmax=None,
    frame_length=2048,
    hop_length=512,
    max_lag=None,
    scale="mel",
    window="hann",
    center=True,
    normalize=True,
    workers=None,
) -> Correlogram:
    """Per-band autocorrelation of each frame: an auditory-style correlogram.

    Each windowed frame is transformed once; each band's power spectrum (the
    frame's power times a triangular band weight, bands spaced evenly on the mel
    or ERB scale) is transformed back into that band's autocorrelation. All of it
    runs in one compiled pass over blocks of frames.

    Parameters
    ----------
    y : array_like
        Real signal(s), time on the last axis; leading axes are batch axes.
    sr : float
        Sample rate in Hz.
    n_bands : int, optional
        Number of bands (default 64).
    fmin, fmax : float, optional
        Lowest and highest band edge in Hz (defaults 50 and ``sr / 2``).
    frame_length, hop_length, max_lag, window, center, normalize, workers
        As in :func:`autocorrelogram`.
    scale : {"mel", "erb"}, optional
        Spacing of the band centres (Slaney mel, or Glasberg & Moore ERB-rate).

    Returns
    -------
    Correlogram
        ``values`` (..., frames, bands, lags).

    Raises
    ------
    ParameterError
        For the bad values :func:`autocorrelogram` rejects, ``n_bands < 1``,
        ``fmin >= fmax``, ``fmax > sr / 2`` or an unknown scale.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> sr = 8000
    >>> y = np.sin(2 * np.pi * 500 * np.arange(sr // 4) / sr)
    >>> cg = dsp.correlogram(y, sr, n_bands=16, frame_length=512, hop_length=256, fmin=100.0)
    >>> cg.values.shape
    (8, 16, 256)
    """
    arr, sr, frame_length, hop_length, win, rows, lead, n_frames = _framing(
        y, sr, frame_length, hop_length, window, center
    )
    n_bands = positive_int(n_bands, "n_bands")
    fmin, fmax = _band_limits(sr, fmin, fmax)
    k = _check_max_lag(max_lag, max(1, frame_length // 2), frame_length, "frame_length")
    if scale == "mel":
        to_scale, from_scale = (lambda f: _hz_to_mel(f, False)), (lambda m: _mel_to_hz(m, False))
    elif scale == "erb":
        to_scale, from_scale = _hz_to_erb, _erb_to_hz
    else:
        raise ParameterError(f"scale={scale!r} must be 'mel' or 'erb'")
    threads = resolve_workers(workers)
    nfft = _core.acf_fft_size(frame_length, k)
    edges = from_scale(np.linspace(to_scale(fmin), to_scale(fmax), n_bands + 2))
    weights = np.ascontiguousarray(_triangles(edges, np.arange(nfft // 2 + 1) * (sr / nfft)), dtype=arr.dtype)
    if rows.shape[0] == 0:
        values = np.zeros((0, n_frames, n_bands, k), arr.dtype)
        energy = np.zeros((0, n_frames, n_bands), arr.dtype)
    else:
        values, energy = _core.correlogram(
            rows, win, frame_length, hop_length, n_frames, weights, k, nfft, bool(normalize), threads
        )
    lags, _ = _lag_axes(k, sr)
    return Correlogram(
        values=values.reshape(lead + (n_frames, n_bands, k)),
        times=_frame_times(n_frames, sr, frame_length, hop_length, bool(center)),
        lags=lags,
        band_frequencies=edges[1:-1],
        sr=sr,
        energy=energy.reshape(lead + (n_frames, n_bands)),
        frame_length=frame_length,
        hop_length=hop_length,
    )


def melspectrogram(
    y,
    sr,
    *,
    n_fft=2048,
    hop_length=512,
    n_mels=128,
    fmin=0.0,
    fmax=None,
    power=2.0,
    log=True,
    htk=False,
    norm="slaney",
    top_db=80.0,
    window="hann",
    center=True,
    workers=None,
) -> np.ndarray:
    """Mel spectrogram, optionally in decibels, laid out like :func:`librosa.feature.melspectrogram`.

    Framing, windowing, the FFT and ``|X|**power`` run in one compiled pass; the
    mel filterbank (:func:`mel_filterbank`) is then applied by matrix product.

    Parameters
    ----------
    y : array_like
        Real signal(s), time on the last axis; leading axes are batch axes.
    sr : float
        Sample rate in Hz.
    n_fft, hop_length : int, optional
        Frame (= FFT) length and hop in samples.
    n_mels, fmin, fmax, htk, norm
        Filterbank, as in :func:`mel_filterbank`.
    power : float, optional
        Exponent of the magnitude (2: power, 1: magnitude).
    log : bool, optional
        Return ``10 * log10(max(S, 1e-10))`` (dB relative to 1), as
        ``librosa.power_to_db(S, ref=1.0)`` does (default).
    top_db : float or None, optional
        With ``log``, clip each signal's spectrogram to ``top_db`` below its maximum.
        (librosa clips against the maximum of the whole batch; here each signal
        in a batch is clipped on its own, so batching does not change the result.)
    window, center
        As in :func:`autocorrelogram` (centre padding with zeros, like librosa's default).
    workers : int, optional
        Threads for the spectrogram kernel.

    Returns
    -------
    numpy.ndarray
        (..., n_mels, frames), float32 for float32 input, otherwise float64.

    Raises
    ------
    ParameterError
        For non-positive sizes or ``power``, bad band limits, an unknown norm or
        window, negative ``top_db``, non-finite or empty input.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> y = np.random.default_rng(0).standard_normal(22050)
    >>> dsp.melspectrogram(y, 22050, n_mels=64).shape
    (64, 44)
    """
    arr, sr, n_fft, hop_length, win, rows, lead, n_frames = _framing(y, sr, n_fft, hop_length, window, center)
    power = positive_number(power, "power")
    if top_db is not None:
        top_db = float(top_db)
        if not top_db >= 0:
            raise ParameterError(f"top_db={top_db!r} must be non-negative or None")
    mel = mel_filterbank(sr, n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm).astype(arr.dtype)
    threads = resolve_workers(workers)
    if rows.shape[0] == 0:
        spec = np.zeros((0, n_frames, n_fft // 2 + 1), arr.dtype)
    else:
        spec = _core.power_spectrogram(rows, win, n_fft, hop_length, n_frames, power, threads)
    out = np.matmul(mel, spec.transpose(0, 2, 1))
    if log:
        out = 10.0 * np.log10(np.maximum(out, out.dtype.type(1e-10)))
        if top_db is not None and out.size:
            floor = out.max(axis=(1, 2), keepdims=True) - top_db
            out = np.maximum(out, floor)
    return out.reshape(lead + (mel.shape[0], n_frames))


# -------------------------------------------------------------- pitch


def fundamental_frequency(y, sr, *, detrend=True, axis=-1):
    """Frequency of the strongest spectral peak of each signal, in Hz.

    The mean is removed first (so the peak is not the 0 Hz bin), and the peak
    position is refined to a fraction of a bin by fitting a parabola through
    the log magnitudes of the peak bin and its neighbours.

    Parameters
    ----------
    y : array_like
        Real signal(s); every axis other than ``axis`` is a batch axis.
    sr : float
        Sample rate in Hz.
    detrend : bool, optional
        Subtract the mean before the FFT (default).
    axis : int, optional
        Time axis (default: last).

    Returns
    -------
    float or numpy.ndarray
        One frequency per signal (NaN for a signal without any spectral energy).

    Raises
    ------
    ParameterError
        For a non-positive ``sr``, non-finite or empty input, or a bad axis.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> sr = 8000
    >>> y = np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr)
    >>> round(float(dsp.fundamental_frequency(y, sr)), 1)
    440.0
    """
    arr = _signal(y)
    sr = check_sr(sr)
    ax = _check_axis(arr, axis)
    n = arr.shape[ax]
    if n == 0:
        raise ParameterError(f"y has zero length along axis {ax}; there is nothing to analyse")
    x = np.moveaxis(arr, ax, -1).astype(np.float64)
    if detrend:
        x = x - x.mean(axis=-1, keepdims=True)
    mag = np.abs(rfft(x, axis=-1))
    if detrend:
        mag[..., 0] = 0.0
    k = np.argmax(mag, axis=-1)
    peak = np.take_along_axis(mag, k[..., None], -1)[..., 0]
    m = mag.shape[-1]
    inner = (k > 0) & (k < m - 1)
    left = np.take_along_axis(mag, np.clip(k - 1, 0, m - 1)[..., None], -1)[..., 0]
    right = np.take_along_axis(mag, np.clip(k + 1, 0, m - 1)[..., None], -1)[..., 0]
    tiny = np.finfo(np.float64).tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b, c = np.log(np.maximum(left, tiny)), np.log(np.maximum(peak, tiny)), np.log(np.maximum(right, tiny))
        denom = a - 2 * b + c
        delta = np.where(inner & (denom < 0), 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    freq = (k + np.clip(delta, -0.5, 0.5)) * sr / n
    freq = np.where(peak > 0, freq, np.nan)
    return freq[()] if freq.ndim == 0 else freq


@dataclass(frozen=True)
class PitchTrack:
    """Frame-wise fundamental frequency (see :func:`pitch_track`).

    Attributes
    ----------
    f0 : numpy.ndarray
        (..., frames) fundamental frequency in Hz, NaN in unvoiced or silent frames.
    times : numpy.ndarray
        (frames,) frame centres in seconds.
    strength : numpy.ndarray
        (..., frames) height of the chosen autocorrelation peak (about 1 for a
        perfectly periodic frame, near 0 for noise).
    """

    f0: np.ndarray
    times: np.ndarray
    strength: np.ndarray


def pitch_track(
    y,
    sr,
    *,
    frame_length=2048,
    hop_length=512,
    fmin=50.0,
    fmax=2000.0,
    threshold=0.3,
    peak_ratio=0.9,
    window="hann",
    center=True,
    workers=None,
) -> PitchTrack:
    """Fundamental frequency of each frame from the autocorrelogram.

    Each frame's normalised autocorrelation is divided by the window's own
    autocorrelation (which would otherwise pull peaks towards short lags and
    flatten the distant ones). Among the local maxima with lags in
    ``[sr / fmax, sr / fmin]``, the first whose height is at least
    ``peak_ratio`` times the highest is taken, which avoids picking a multiple
    of the period; a parabola through it refines the lag. Frames whose highest
    peak is below ``threshold``, and silent frames, are unvoiced (NaN).

    Parameters
    ----------
    y : array_like
        Real signal(s), time on the last axis; leading axes are batch axes.
    sr : float
        Sample rate in Hz.
    frame_length, hop_length, window, center, workers
        As in :func:`autocorrelogram`. The frame must span more than one
        period of ``fmin``.
    fmin, fmax : float, optional
        Search range in Hz.
    threshold : float, optional
        Least peak height for a voiced frame, in (0, 1].
    peak_ratio : float, optional
        How close to the highest peak an earlier peak must come to be chosen, in (0, 1].

    Returns
    -------
    PitchTrack
        ``f0`` (..., frames) in Hz, ``times`` and ``strength``.

    Raises
    ------
    ParameterError
        For ``fmin >= fmax``, ``fmax > sr / 2``, ``fmin`` too low for the frame,
        ``threshold`` or ``peak_ratio`` outside (0, 1], and the bad values
        :func:`autocorrelogram` rejects.

    Examples
    --------
    >>> import numpy as np, audiorep.dsp as dsp
    >>> sr = 16000
    >>> t = np.arange(sr) / sr
    >>> y = sum(np.sin(2 * np.pi * 200 * h * t) for h in range(2, 7))  # no 200 Hz component
    >>> f0 = dsp.pitch_track(y, sr, frame_length=1024, hop_length=512).f0
    >>> round(float(np.nanmedian(f0)))
    200
    """
    sr_value = check_sr(sr)
    frame_length = positive_int(frame_length, "frame_length")
    fmin_value = float(fmin)
    if not (math.isfinite(fmin_value) and fmin_value > 0):
        raise ParameterError(f"fmin={fmin!r} must be a positive frequency")
    fmin_value, fmax_value = _band_limits(sr_value, fmin_value, fmax)
    for value, name in ((threshold, "threshold"), (peak_ratio, "peak_ratio")):
        if not (isinstance(value, (int, float, np.floating, np.integer)) and 0 < value <= 1):
            raise ParameterError(f"{name}={value!r} must be in (0, 1]")
    lo = max(1, int(math.floor(sr_value / fmax_value)))
    hi = int(math.ceil(sr_value / fmin_value))
    if hi + 2 > frame_length:
        raise ParameterError(
            f"fmin={fmin_value} Hz has a period of {hi} samples, too long for frame_length={frame_length}; "
            f"raise fmin or use frame_length >= {2 * hi}"
        )
    n_lags = hi + 2
    ac = autocorrelogram(
        y,
        sr_value,
        frame_length=frame_length,
        hop_length=hop_length,
        max_lag=n_lags,
        window=window,
        center=center,
        normalize=True,
        workers=workers,
    )
    win = get_window(window, frame_length)
    win_ac = autocorrelate(np.ones(frame_length) if win is None else win, max_lag=n_lags)
    usable = win_ac > 1e-3
    with np.errstate(divide="ignore", invalid="ignore"):
        corrected = np.where(usable, ac.values / np.where(usable, win_ac, 1.0), -np.inf)
    centre = corrected[..., 1:-1]
    is_peak = (centre > corrected[..., :-2]) & (centre >= corrected[..., 2:])
    lag_index = np.arange(1, n_lags - 1)
    is_peak &= (lag_index >= lo) & (lag_index <= hi)
    heights = np.where(is_peak, centre, -np.inf)
    strength = heights.max(axis=-1)
    chosen = is_peak & (centre >= peak_ratio * strength[..., None])
    first = np.argmax(chosen, axis=-1)
    k = first + 1
    take = lambda offset: np.take_along_axis(corrected, (k + offset)[..., None], -1)[..., 0]  # noqa: E731
    a, b, c = take(-1), take(0), take(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = a - 2 * b + c
        ok = np.isfinite(denom) & (denom < 0)
        delta = np.where(ok, 0.5 * (a - c) / np.where(ok, denom, -1.0), 0.0)
    voiced = np.isfinite(strength) & (strength >= threshold) & (ac.energy > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f0 = np.where(voiced, sr_value / (k + np.clip(delta, -0.5, 0.5)), np.nan)
    strength = np.where(np.isfinite(strength), strength, 0.0)
    return PitchTrack(f0=f0, times=ac.times, strength=strength)
