"""Audio input: decode files with soundfile, mix down, resample with soxr, fix lengths.

Every file goes through the same checks, so that a file audiorep cannot use is
reported once, here, as :class:`audiorep.AudioFormatError` naming the file and
the reason, instead of surfacing later as a libsndfile message or as garbage
features:

* a missing file raises :class:`FileNotFoundError`, a directory
  :class:`IsADirectoryError` (both carry the path);
* an empty (0-byte) file, a file libsndfile does not recognise (text, an image
  renamed ``.wav``), a truncated or corrupt file, a file without samples and a
  file holding NaN or infinite samples raise :class:`AudioFormatError`.

Non-finite samples are rejected rather than zeroed: they only occur in
floating-point files, always mean a broken producer upstream, and would turn
every feature computed from the clip into NaN.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import numbers
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ._util import MAX_SR, check_sr, check_target_sr
from .errors import AudioFormatError, AudiorepError, ParameterError, TruncatedAudioWarning

__all__ = ["AudioInfo", "load", "info", "open_audio", "fix_length", "resample", "available_formats"]

logger = logging.getLogger(__name__)

_DTYPES = {"float32": np.float32, "float64": np.float64}
# libsndfile shortens a file whose header promises more audio than the file holds, and reports
# the shortened length as the frame count; only its log keeps what the header declared.
_OGG_TRUNCATION_MARKS = ("lacks an end-of-stream bit",)
_LOG_TRUNCATION_MARKS = ("seems to be truncated", "seems to be a truncated file")
_LOG_FRAMES = re.compile(r"^\s*Frames\s*:\s*(\d+)\s*$", re.M)  # AIFF, RF64, AVR, MPC2K
# a data chunk whose declared size exceeds what is left of the file: AU, AIFF, SVX, WAV
_LOG_SHOULD_BE = re.compile(r"^\s*(data|SSND|BODY|Data Size)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
_LOG_DATA_LENGTH = re.compile(r"Data length (\d+) should be (\d+)")  # WVE
_LOG_MATRIX = re.compile(r"Rows\s*:\s*(\d+)\s+Cols\s*:\s*(\d+)")  # MAT5
_LOG_W64_DATA = re.compile(r"^data\s*:\s*(\d+)\s*$", re.M)
_LOG_BLOCK_ALIGN = re.compile(r"Block Align\s*:\s*(\d+)")
_NIST_COUNT = re.compile(rb"\nsample_count -i (\d+)")
# 0 and all-ones sizes are what streaming writers leave when they cannot seek back to the header
_PLACEHOLDER_SIZES = (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
READ_BLOCK_FRAMES = 1 << 20  # decode at most this many frames at a time, so a lying header cannot size a buffer
# soundfile's own exceptions; RuntimeError covers LibsndfileError, EOFError and
# struct.error come from its pure-Python readers, ValueError from bad headers.
_DECODER_ERRORS = (sf.SoundFileError, RuntimeError, EOFError, struct.error, ValueError, TypeError)


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says about it.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    samplerate : int
        Frames per second.
    channels : int
        Number of channels.
    frames : int
        Number of frames (samples per channel).
    duration : float
        ``frames / samplerate`` in seconds.
    format : str
        Container, as libsndfile names it (``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``, ...).
    subtype : str
        Sample encoding (``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``, ``"OPUS"``, ...).
    """

    path: Path
    samplerate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str


def available_formats() -> dict:
    """Return the container formats the installed libsndfile can decode.

    Returns
    -------
    dict
        Format name -> description, as :func:`soundfile.available_formats` gives it.

    Examples
    --------
    >>> import audiorep.audio
    >>> "WAV" in audiorep.audio.available_formats()
    True
    """
    return dict(sf.available_formats())


def _check_path(path) -> Path:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


class _TolerantReader(io.BufferedReader):
    """A file libsndfile reads through soundfile's callbacks, where an exception cannot propagate.

    A corrupt header can make libsndfile seek before the start of the file; the plain file
    object raises there, and soundfile can only print the exception and carry on. Staying put
    instead lets libsndfile see that the seek failed and report the file as broken.
    """

    def seek(self, offset, whence=os.SEEK_SET):
        try:
            return super().seek(offset, whence)
        except (OSError, ValueError, OverflowError):
            return self.tell()


def _open_checked(path: Path):
    """Open ``path`` for reading, turning the OS-level failures into their proper exceptions.

    Opening with Python first gives FileNotFoundError / IsADirectoryError /
    PermissionError with the path, where libsndfile would only say "System error".
    """
    try:
        handle = _TolerantReader(io.FileIO(path, "rb"))
    except IsADirectoryError:
        raise IsADirectoryError(21, "is a directory, not an audio file", str(path)) from None
    size = os.fstat(handle.fileno()).st_size
    if size == 0:
        handle.close()
        raise AudioFormatError(f"{path}: empty file (0 bytes)")
    return handle


def _decoder_error(path: Path, exc: BaseException) -> AudioFormatError:
    reason = str(exc).strip() or type(exc).__name__
    # libsndfile names the file object it was given; the path is what helps the user.
    reason = re.sub(r"^Error opening <[^>]*>: ", "", reason)
    if "Format not recognised" in reason:
        formats = ", ".join(sorted(sf.available_formats()))
        return AudioFormatError(f"{path}: not an audio file in a format libsndfile recognises ({formats})")
    return AudioFormatError(f"{path}: cannot decode ({reason})")


def _riff_data_shortfall(handle) -> tuple[int, int] | None:
    """For a RIFF/WAVE file, return (declared, present) data bytes if the data chunk is cut short.

    libsndfile silently shortens a WAV whose data chunk runs past the end of the
    file, so a copy that was interrupted would otherwise load as a shorter clip.
    """
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    header = handle.read(12)
    if len(header) < 12 or header[8:12] != b"WAVE" or header[:4] not in (b"RIFF", b"RIFX"):
        return None
    endian = "<" if header[:4] == b"RIFF" else ">"
    pos = 12
    while pos + 8 <= size:
        handle.seek(pos)
        chunk = handle.read(8)
        chunk_id = chunk[:4]
        (chunk_size,) = struct.unpack(endian + "I", chunk[4:8])
        if chunk_id == b"data":
            # 0 and 0xFFFFFFFF are what streaming writers leave when they cannot seek back.
            if chunk_size in (0, 0xFFFFFFFF):
                return None
            present = size - (pos + 8)
            return (chunk_size, present) if present < chunk_size else None
        pos += 8 + chunk_size + (chunk_size & 1)
    return None


def _header_shortfall(f: sf.SoundFile, handle) -> str | None:
    """Say how much less audio the file holds than its header declares, or None when it holds it all.

    Run after libsndfile has opened ``handle``; ``f.frames`` is then what the file holds.
    """
    log = f.extra_info
    if f.format == "OGG" and any(mark in log for mark in _OGG_TRUNCATION_MARKS):
        return "the last Ogg page lacks its end-of-stream mark"
    declared = None
    if f.format == "NIST":
        handle.seek(0)
        match = _NIST_COUNT.search(handle.read(1024))
        declared = int(match.group(1)) if match else None
    elif f.format == "MAT5":
        # the last matrix is the audio: channels x frames
        matrices = _LOG_MATRIX.findall(log)
        if matrices and f.channels > 0:
            declared = int(matrices[-1][0]) * int(matrices[-1][1]) // f.channels
    elif f.format == "W64":
        data, align = _LOG_W64_DATA.search(log), _LOG_BLOCK_ALIGN.search(log)
        if data and align and int(align.group(1)) > 0:
            declared = (int(data.group(1)) - 24) // int(align.group(1))  # the size counts the chunk's header
    else:
        match = _LOG_FRAMES.search(log)
        declared = int(match.group(1)) if match else None
    if declared is not None and declared not in _PLACEHOLDER_SIZES and declared > f.frames:
        return f"the header declares {declared} frames, only {f.frames} are present"
    for match in _LOG_SHOULD_BE.finditer(log):
        size, present = int(match.group(2)), int(match.group(3))
        # a single byte short is a missing pad byte, which holds no audio
        if size not in _PLACEHOLDER_SIZES and size > present + 1:
            return f"the header declares {size} bytes of audio data, only {present} are present"
    match = _LOG_DATA_LENGTH.search(log)
    if match and int(match.group(1)) > int(match.group(2)):
        return f"the header declares {match.group(1)} bytes of audio data, only {match.group(2)} are present"
    if any(mark in log.lower() for mark in _LOG_TRUNCATION_MARKS):
        return "libsndfile found the file truncated"
    return None


def _open_sound(path: Path, handle, allow_truncated: bool) -> sf.SoundFile:
    """Open ``handle`` with libsndfile and refuse it (or warn, with ``allow_truncated``) if it is truncated."""
    riff = _riff_data_shortfall(handle)
    handle.seek(0)
    f = sf.SoundFile(handle)
    reason = _header_shortfall(f, handle)
    if riff is not None:
        reason = f"the header declares {riff[0]} bytes of audio data, only {riff[1]} are present"
    if reason is not None:
        if not allow_truncated:
            f.close()
            raise AudioFormatError(f"{path}: truncated file ({reason})")
        warnings.warn(f"{path}: truncated file ({reason}); reading the {f.frames} frames present",
                      TruncatedAudioWarning, stacklevel=3)
    return f


@contextlib.contextmanager
def open_audio(path, *, allow_truncated=False):
    """Open an audio file for reading in blocks, after the checks :func:`load` makes.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    allow_truncated : bool, default False
        Open a truncated file (one whose header declares more audio than it holds) with a
        :class:`~audiorep.TruncatedAudioWarning` instead of refusing it.

    Yields
    ------
    soundfile.SoundFile
        The open file; ``frames`` is what the file holds. A decoding error while the block
        runs is raised as :class:`~audiorep.AudioFormatError` naming the file.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The path is missing or a directory.
    AudioFormatError
        The file is empty, not audio libsndfile knows, or truncated.

    Examples
    --------
    >>> import numpy as np, soundfile, tempfile, os, audiorep.audio
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> soundfile.write(path, np.zeros(8000, dtype="float32"), 16000)
    >>> with audiorep.audio.open_audio(path) as f:
    ...     f.read(1000).shape
    (1000,)
    """
    path = _check_path(path)
    with _open_checked(path) as handle:
        try:
            with _open_sound(path, handle, allow_truncated) as f:
                yield f
        except _DECODER_ERRORS as exc:
            if isinstance(exc, AudiorepError):
                raise
            raise _decoder_error(path, exc) from exc


def _check_dtype(dtype) -> type:
    try:
        return _DTYPES[dtype if isinstance(dtype, str) else np.dtype(dtype).name]
    except (KeyError, TypeError):
        raise ParameterError(f"dtype={dtype!r} is not supported; use 'float32' or 'float64'") from None


def _check_seconds(value, name: str, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ParameterError(f"{name}={value!r} must be a finite {bound} number of seconds")
    return value


def info(path, *, allow_truncated=False) -> AudioInfo:
    """Read what an audio file's header says, without decoding the samples.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    allow_truncated : bool, default False
        Describe a truncated file (its header declares more audio than it holds) by what it
        holds, with a :class:`~audiorep.TruncatedAudioWarning`, instead of refusing it.

    Returns
    -------
    AudioInfo
        Sampling rate, channels, frames, duration, container format and subtype.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The path is missing or a directory.
    AudioFormatError
        The file is empty, not audio libsndfile knows, truncated or holds no samples.

    Examples
    --------
    >>> import numpy as np, soundfile, tempfile, os, audiorep.audio
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> soundfile.write(path, np.zeros(8000, dtype="float32"), 16000)
    >>> audiorep.audio.info(path).duration
    0.5
    """
    path = _check_path(path)
    with open_audio(path, allow_truncated=allow_truncated) as f:
        result = AudioInfo(
            path=path,
            samplerate=int(f.samplerate),
            channels=int(f.channels),
            frames=int(f.frames),
            duration=f.frames / f.samplerate,
            format=f.format,
            subtype=f.subtype,
        )
    if result.frames == 0:
        raise AudioFormatError(f"{path}: the file holds no samples (0 frames)")
    return result


def _read_frames(f: sf.SoundFile, count: int, dtype) -> np.ndarray:
    """Read up to ``count`` frames as (frames, channels).

    Long reads go in blocks, so memory follows what the file holds, not what a corrupt header claims.
    """
    if count <= READ_BLOCK_FRAMES:
        return f.read(frames=count, dtype=dtype.__name__, always_2d=True)
    blocks = []
    while count > 0:
        block = f.read(frames=min(count, READ_BLOCK_FRAMES), dtype=dtype.__name__, always_2d=True)
        if block.shape[0] == 0:
            break
        blocks.append(block)
        count -= block.shape[0]
    return np.concatenate(blocks) if blocks else np.zeros((0, f.channels), dtype)


def load(path, *, sr=None, mono=True, offset=0.0, duration=None, dtype="float32", allow_truncated=False):
    """Decode an audio file into a float array.

    Parameters
    ----------
    path : str or os.PathLike
        Any file the installed libsndfile decodes (WAV, FLAC, OGG/Vorbis, Opus,
        MP3, AIFF, ...; see :func:`available_formats`).
    sr : int or float, optional
        Resample to this rate with soxr (quality ``"HQ"``), 100 Hz to 768 kHz. None keeps the
        file's rate. The resampled length is ``round(n * sr / sr_file)``, at least one sample.
    mono : bool, default True
        Mix all channels down to their mean. ``False`` returns ``(channels, samples)``,
        also for a mono file.
    offset : float, default 0.0
        Start reading this many seconds into the file (the decoder seeks there).
    duration : float, optional
        Read at most this many seconds; a request past the end of the file returns what is there.
    dtype : {"float32", "float64"}
        Sample type of the result. Integer files are scaled to [-1, 1) (int16 by 1/32768).
    allow_truncated : bool, default False
        Load a truncated file (its header declares more audio than it holds, or decoding
        stops early) as far as it goes, with a :class:`~audiorep.TruncatedAudioWarning`,
        instead of refusing it.

    Returns
    -------
    y : numpy.ndarray
        ``(samples,)`` when ``mono``, else ``(channels, samples)``.
    sr : int or float
        The sampling rate of ``y``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        The path is missing or a directory.
    AudioFormatError
        The file is empty, not decodable, truncated or corrupt, holds no samples,
        or holds NaN or infinite samples.
    ParameterError
        ``sr`` outside 100 Hz..768 kHz or leaving no samples, negative ``offset``, ``offset`` at
        or past the end, ``duration <= 0`` or shorter than one sample, or an unsupported ``dtype``.

    Examples
    --------
    >>> import numpy as np, soundfile, tempfile, os, audiorep.audio
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.wav")
    >>> soundfile.write(path, np.full((4410, 2), 0.25, dtype="float32"), 44100, subtype="FLOAT")
    >>> y, sr = audiorep.audio.load(path, sr=16000)
    >>> y.shape, sr
    ((1600,), 16000)
    """
    path = _check_path(path)
    out_dtype = _check_dtype(dtype)
    target_sr = check_target_sr(sr, optional=True)
    offset = _check_seconds(offset, "offset", allow_zero=True)
    if duration is not None:
        duration = _check_seconds(duration, "duration", allow_zero=False)

    with open_audio(path, allow_truncated=allow_truncated) as f:
        native_sr = int(f.samplerate)
        total = int(f.frames)
        if total == 0:
            raise AudioFormatError(f"{path}: the file holds no samples (0 frames)")
        start = int(round(offset * native_sr))
        if start >= total:
            raise ParameterError(
                f"offset={offset} s is at or past the end of {path} ({total / native_sr:.6g} s long)"
            )
        count = total - start
        if duration is not None:
            wanted = int(round(duration * native_sr))
            if wanted == 0:
                raise ParameterError(f"duration={duration} s is shorter than one sample at {native_sr} Hz")
            count = min(count, wanted)
        if target_sr is not None and round(count * target_sr / native_sr) == 0:
            raise ParameterError(f"sr={target_sr} leaves no samples of the {count} read at {native_sr} Hz")
        if start:
            f.seek(start)
        data = _read_frames(f, count, out_dtype)

    if data.shape[0] < count:
        message = (f"{path}: truncated or corrupt file (the header promises {count} frames from offset "
                   f"{start}, only {data.shape[0]} could be decoded)")
        if not allow_truncated or data.shape[0] == 0:
            raise AudioFormatError(message)
        warnings.warn(message, TruncatedAudioWarning, stacklevel=2)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        raise AudioFormatError(f"{path}: the file holds {bad} NaN or infinite sample(s)")

    if mono:
        # Accumulate in double so a float32 mixdown rounds once.
        y = data.mean(axis=1, dtype=np.float64).astype(out_dtype, copy=False) if data.shape[1] > 1 else data[:, 0]
    else:
        y = data.T

    if target_sr is not None and target_sr != native_sr:
        y = resample(y, native_sr, target_sr)
        out_sr = target_sr
    else:
        out_sr = native_sr
    logger.debug("loaded %s: %s at %s Hz", path, y.shape, out_sr)
    return np.ascontiguousarray(y, dtype=out_dtype), out_sr


def resample(y, sr, target_sr) -> np.ndarray:
    """Resample ``y`` (samples on the last axis; channels first) from ``sr`` to ``target_sr`` with soxr ("HQ").

    ``target_sr`` must lie in 100 Hz..768 kHz and leave at least one sample of a non-empty ``y``.

    Returns
    -------
    numpy.ndarray
        ``y``'s shape with ``round(n * target_sr / sr)`` samples on the last axis, in ``y``'s
        float dtype (float32 for integer input).

    Examples
    --------
    >>> import numpy as np
    >>> resample(np.zeros(16000, np.float32), 16000, 22050).shape
    (22050,)
    """
    sr, target_sr = check_sr(sr), check_target_sr(target_sr, "target_sr")
    if sr > MAX_SR:
        raise ParameterError(f"sr={sr!r} is above the {MAX_SR} Hz of any audio")
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise ParameterError(f"y must be 1-D or (channels, samples), got shape {y.shape}")
    if y.dtype.kind != "f":
        y = y.astype(np.float32)
    n_out = int(round(y.shape[-1] * target_sr / sr))
    if n_out == 0 and y.shape[-1] > 0:
        raise ParameterError(f"target_sr={target_sr} leaves no samples of the {y.shape[-1]} at {sr} Hz")
    # soxr wants (frames, channels); the channel axis of y is first.
    out = soxr.resample(y.T if y.ndim == 2 else y, sr, target_sr, quality="HQ")
    return fix_length(out.T if y.ndim == 2 else out, size=n_out).astype(y.dtype, copy=False)


def fix_length(y, size, *, axis=-1):
    """Pad ``y`` with zeros at the end, or crop it, to exactly ``size`` samples along ``axis``.

    Parameters
    ----------
    y : array_like
        The signal; any number of leading or trailing axes.
    size : int
        The length wanted along ``axis`` (0 or more).
    axis : int, default -1
        The axis to pad or crop.

    Returns
    -------
    numpy.ndarray
        A new array when padding; a view of ``y`` when cropping or when the length already fits.

    Examples
    --------
    >>> import numpy as np, audiorep.audio
    >>> audiorep.audio.fix_length(np.array([1.0, 2.0, 3.0]), size=5)
    array([1., 2., 3., 0., 0.])
    >>> audiorep.audio.fix_length(np.array([1.0, 2.0, 3.0]), size=2)
    array([1., 2.])
    """
    y = np.asarray(y)
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise ParameterError(f"size={size!r} must be a non-negative integer")
    if size < 0:
        raise ParameterError(f"size={size} must be a non-negative integer")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ParameterError(f"axis={axis!r} must be an integer")
    if y.ndim == 0:
        raise ParameterError("fix_length needs an array with at least one axis, got a scalar")
    if not -y.ndim <= axis < y.ndim:
        raise ParameterError(f"axis={axis} is out of range for an array with {y.ndim} dimension(s)")
    axis = int(axis) % y.ndim
    n = y.shape[axis]
    if n >= size:
        index = [slice(None)] * y.ndim
        index[axis] = slice(0, int(size))
        return y[tuple(index)]
    pad = [(0, 0)] * y.ndim
    pad[axis] = (0, int(size) - n)
    return np.pad(y, pad, mode="constant")
