"""Encoding: audio in, an ``.arep`` file out.

The input is read in blocks (:mod:`audiorep.codec.stream`), resampled to 16 kHz with
soxr's streaming resampler and framed into log-mel frames; every :data:`SEGMENT_FRAMES`
frames, with :data:`CONTEXT_FRAMES` of context from each neighbouring segment, go
through the network's encoder, and the codes of the segment proper are quantised and
entropy-coded. The header, whose sample count is known only at the end, is written last;
the file appears only when it is complete.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from .._util import check_cancel, temp_beside
from ..errors import AudioFormatError, ParameterError
from . import stream
from .bitstream import FORMAT_VERSION, HEADER, MAGIC, OVERHEAD_BYTES, SEGMENT, SEGMENT_FRAMES, ArepInfo
from .entropy import DEFAULT_QUALITY, choose_step, pack_codes, quality_to_step
from .network import encode_codes, load_codec_model
from .synthesis import DB_FLOOR, HOP, N_FFT, SR

log = logging.getLogger(__name__)

__all__ = ["CONTEXT_FRAMES", "encode"]

CONTEXT_FRAMES = 32  # feature frames of context taken from each neighbouring segment


def encode(path_or_array, out_path, *, sr=None, bitrate=None, quality=None, model=None, cancel=None,
           progress=False) -> ArepInfo:
    """Encode audio into an ``.arep`` file.

    Parameters
    ----------
    path_or_array : path or array_like
        An audio file soundfile can read, or samples (1-D, or 2-D multichannel, mixed down).
    out_path : path
        The ``.arep`` file to write (atomically: nothing appears there unless encoding finishes).
    sr : float, optional
        Sample rate of an array input (required for arrays, not allowed for files).
    bitrate : float, optional
        Target in kbit/s (whole file, header included); the quantiser step is chosen
        by bisection on the first segment. Exclusive with ``quality``.
    quality : float, optional
        0 (smallest) .. 100 (best); default 50 when neither is given.
    model : path or loaded model, optional
        A codec model (:func:`load_codec_model`); default: the shipped one.
    cancel : threading.Event, optional
        When set, encoding stops at the next block and raises :class:`audiorep.Cancelled`.
    progress : bool, optional
        Show a tqdm bar on stderr.

    Returns
    -------
    ArepInfo
        The header of the written file.

    Raises
    ------
    ParameterError
        Bad ``bitrate``/``quality``/``sr``, or both of ``bitrate`` and ``quality``.
    AudioFormatError
        An unreadable input file or non-finite samples.
    Cancelled
        ``cancel`` was set.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    >>> out = os.path.join(tempfile.mkdtemp(), "tone.arep")
    >>> encode(y, out, sr=16000, quality=50).n_samples
    16000
    """
    if bitrate is not None and quality is not None:
        raise ParameterError("give either bitrate or quality, not both")
    if bitrate is not None:
        try:
            bitrate = float(bitrate)
        except (TypeError, ValueError):
            raise ParameterError(f"bitrate={bitrate!r} must be a number of kbit/s") from None
        if not (0.1 <= bitrate <= 1000.0):
            raise ParameterError(f"bitrate={bitrate!r} must be between 0.1 and 1000 kbit/s")
        step = None
    else:
        step = quality_to_step(DEFAULT_QUALITY if quality is None else quality)
    if not isinstance(out_path, (str, os.PathLike)):
        raise TypeError(f"out_path must be a str or os.PathLike, got {type(out_path).__name__}")
    out_path = Path(out_path)
    if out_path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(out_path))
    m = load_codec_model(model)
    cfg = m.config
    stride, dims, n_mels = cfg["stride"], cfg["latent_dim"], cfg["n_mels"]
    where = str(path_or_array) if isinstance(path_or_array, (str, os.PathLike)) else "input"
    total_in, rate_in, blocks = stream.input_blocks(path_or_array, sr)
    input_sr = max(1, min(round(rate_in), 2**32 - 1))
    input_samples = 0  # counted, not taken from the file's header, which can be an estimate
    resampler = None
    if rate_in != SR:
        import soxr

        resampler = soxr.ResampleStream(rate_in, SR, 1, dtype="float32", quality="HQ")

    from tqdm import tqdm

    bar = tqdm(total=total_in, unit="sample", unit_scale=True, desc="encode", disable=not progress,
               file=sys.stderr, leave=False)
    framer = stream.Framer(n_mels)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(out_path)
    pending = np.zeros((n_mels, 0), np.float32)  # feature frames not yet encoded, preceded by context
    done_frames = 0  # frames already encoded
    ctx = CONTEXT_FRAMES
    n_segments = 0
    state = {"step": step}

    def write_segment(f, frames: np.ndarray, left: int, count: int):
        # frames[:, left:left+count] is the segment, the rest is context; count is a multiple of stride.
        nonlocal n_segments
        codes = encode_codes(m, frames)
        codes = codes[:, left // stride: (left + count) // stride]
        if state["step"] is None:
            seconds = count * HOP / SR
            overhead = OVERHEAD_BYTES
            state["step"] = choose_step(codes, seconds, bitrate, overhead)
            log.info("quantiser step %.4f for %.2f kbit/s", state["step"], bitrate)
        q = np.rint(codes / state["step"]).astype(np.int32)
        method, payload = pack_codes(q)
        f.write(SEGMENT.pack(codes.shape[1], method, len(payload)))
        f.write(payload)
        n_segments += 1

    try:
        with open(tmp, "w+b") as f:
            f.write(b"\0" * HEADER.size)  # patched at the end, when the sample count is known
            for block in blocks:
                check_cancel(cancel, "encoding")
                if not np.all(np.isfinite(block)):
                    raise AudioFormatError(f"{where}: holds NaN or infinite samples")
                bar.update(len(block))
                input_samples += len(block)
                y16 = resampler.resample_chunk(block[:, None], last=False)[:, 0] if resampler else block
                pending = np.concatenate([pending, framer.push(y16)], axis=1)
                # Encode a segment once its right-hand context has arrived.
                left = min(ctx, done_frames)
                while pending.shape[1] >= left + SEGMENT_FRAMES + ctx:
                    write_segment(f, pending[:, : left + SEGMENT_FRAMES + ctx], left, SEGMENT_FRAMES)
                    done_frames += SEGMENT_FRAMES
                    pending = pending[:, left + SEGMENT_FRAMES - ctx:]
                    left = ctx
            check_cancel(cancel, "encoding")
            if resampler:
                tail = resampler.resample_chunk(np.zeros((0, 1), np.float32), last=True)[:, 0]
                pending = np.concatenate([pending, framer.push(tail)], axis=1)
            pending = np.concatenate([pending, framer.finish()], axis=1)
            left = min(ctx, done_frames)
            remaining = pending.shape[1] - left
            if remaining > 0 or n_segments == 0:
                padded_count = -(-max(remaining, 1) // stride) * stride
                fill = np.full((n_mels, padded_count - remaining), DB_FLOOR, np.float32)
                write_segment(f, np.concatenate([pending, fill], axis=1), left, padded_count)
            n_samples = framer.n_samples
            digest = m.digest
            header = HEADER.pack(MAGIC, FORMAT_VERSION, SR, n_samples, N_FFT, HOP, n_mels, stride, dims, digest,
                                  state["step"], n_segments, input_sr, input_samples)
            f.seek(0)
            f.write(header)
            f.flush()
            f.seek(0)
            crc = 0
            while chunk := f.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
            f.seek(0, io.SEEK_END)
            f.write(struct.pack("<I", crc))
            n_bytes = f.tell()
        os.replace(tmp, out_path)
    finally:
        bar.close()
        if tmp.exists():
            tmp.unlink()
    step32 = float(np.float32(state["step"]))  # as stored
    return ArepInfo(FORMAT_VERSION, SR, n_samples, N_FFT, HOP, n_mels, stride, dims, digest, step32, n_segments,
                    n_bytes, input_sr, input_samples)
