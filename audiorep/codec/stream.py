"""Streaming input for the encoder: audio read block by block and framed exactly as a whole signal would be.

Long inputs are read (and resampled by the encoder with soxr's streaming resampler) in
blocks of :data:`READ_BLOCK` samples, so memory stays bounded whatever the input length.
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np

from .._util import MAX_SR
from ..audio import open_audio
from ..errors import AudioFormatError, ParameterError
from .bitstream import MIN_SR
from .synthesis import HOP, N_FFT, logmel_uncentred

__all__ = ["READ_BLOCK", "Framer", "input_blocks"]

READ_BLOCK = 131072  # input samples read at a time (a few seconds; the cancel check runs once per block)


def input_blocks(source, sr):
    """(total input samples, input rate, iterator of mono float32 blocks at the input rate) for a path or an array.

    A file is opened with :func:`audiorep.audio.open_audio`, so a truncated or unreadable
    file is refused by name; multichannel input is mixed down to its mean.
    """
    if isinstance(source, (str, os.PathLike, bytes)):
        if sr is not None:
            raise ParameterError("sr is only for array input; a file carries its own sample rate")
        opened = contextlib.ExitStack()
        f = opened.enter_context(open_audio(source))
        if not MIN_SR <= f.samplerate <= MAX_SR:
            opened.close()
            raise AudioFormatError(f"{os.fsdecode(source)}: sample rate {f.samplerate} Hz is outside the "
                                   f"{MIN_SR}..{MAX_SR} Hz the codec accepts")

        def gen():
            with opened:
                while True:
                    block = f.read(READ_BLOCK, dtype="float32", always_2d=True)
                    if block.shape[0] == 0:
                        return
                    yield block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]

        return f.frames, f.samplerate, gen()
    y = np.asarray(source)
    if y.dtype.kind not in "fiu":
        raise TypeError(f"audio must be a real array or a path, got dtype {y.dtype}")
    if y.ndim == 2:
        y = y.mean(axis=0) if y.shape[0] <= 8 < y.shape[1] else y.mean(axis=1)
    if y.ndim != 1:
        raise ParameterError(f"audio must be 1-D (or 2-D multichannel), got shape {y.shape}")
    if sr is None:
        raise ParameterError("sr is required when encoding an array")
    if not (isinstance(sr, (int, float, np.integer, np.floating)) and sr > 0 and math.isfinite(sr)):
        raise ParameterError(f"sr={sr!r} must be a positive number")
    if not MIN_SR <= sr <= MAX_SR:
        raise ParameterError(f"sr={sr!r} is outside the {MIN_SR}..{MAX_SR} Hz the codec accepts")

    def gen():
        for i in range(0, len(y), READ_BLOCK):
            yield np.asarray(y[i: i + READ_BLOCK], np.float32)

    return len(y), sr, gen()


class Framer:
    """Turn a stream of 16 kHz samples into centred log-mel frames, exactly as :func:`logmel` frames the whole."""

    def __init__(self, n_mels):
        self.n_mels = n_mels
        self.buf = np.zeros(N_FFT // 2, np.float32)
        self.n_samples = 0

    def push(self, y: np.ndarray) -> np.ndarray:
        self.n_samples += len(y)
        self.buf = np.concatenate([self.buf, y.astype(np.float32)])
        n = 0 if len(self.buf) < N_FFT else 1 + (len(self.buf) - N_FFT) // HOP
        return self._take(n)

    def finish(self) -> np.ndarray:
        self.buf = np.concatenate([self.buf, np.zeros(N_FFT // 2, np.float32)])
        n = 0 if len(self.buf) < N_FFT else 1 + (len(self.buf) - N_FFT) // HOP
        return self._take(n)

    def _take(self, n):
        if n == 0:
            return np.zeros((self.n_mels, 0), np.float32)
        out = logmel_uncentred(self.buf[: N_FFT + (n - 1) * HOP], self.n_mels)
        self.buf = self.buf[n * HOP:]
        return out
