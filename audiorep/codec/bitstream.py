"""The ``.arep`` file: its byte layout, and a reader that trusts nothing in it.

Byte layout of an ``.arep`` file (version 2, all integers little-endian)
------------------------------------------------------------------------
======  ====  ==========================================================
offset  size  field
======  ====  ==========================================================
0       4     magic ``b"AREP"``
4       2     format version (uint16, currently 2; version 1 files, which
              lack the two input fields at 52, still decode)
6       4     sample rate of the decoded signal in Hz (uint32, 16000)
10      8     number of samples of the decoded signal (uint64)
18      2     FFT length (uint16)
20      2     hop length in samples (uint16)
22      2     mel bands (uint16)
24      2     frames per code block, the time downsampling (uint16)
26      2     code dimensions per block (uint16)
28      16    model identity: first 16 bytes of the SHA-256 of its weights
44      4     quantiser step (float32)
48      4     number of segments (uint32)
52      4     sample rate of the input in Hz, rounded (uint32)
56      8     number of samples of the input, per channel (uint64)
64      ...   segments, each: code blocks (uint32), method (uint8: 0 DEFLATE,
              1 LZMA2), payload bytes (uint32), payload
end-4   4     CRC-32 of every byte before it (uint32)
======  ====  ==========================================================

A payload decompresses to ``code_blocks * code_dims`` int8 values, dimension
major; a value of -128 escapes to the int16 that follows in an escape list at
the end of the payload (rare; only for outliers beyond +-127 steps).

Every header field is checked against what the format allows before anything is
allocated from it (rates, step, stride, segment count, lengths consistent with the code
blocks of the segments); the CRC guards against accidents, these checks against a
crafted file. Each failure is a :class:`~audiorep.CodecError` that names the field.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from .._util import MAX_SR
from ..errors import CodecError
from .synthesis import HOP, N_FFT, SR

__all__ = ["FORMAT_VERSION", "HEADER", "HEADER_V1", "MAGIC", "MAX_STEP", "MIN_SR", "OVERHEAD_BYTES", "SEGMENT",
           "SEGMENT_FRAMES", "STRIDES", "ArepInfo", "arep_info", "parse", "read_arep"]

MAGIC = b"AREP"
FORMAT_VERSION = 2
SEGMENT_FRAMES = 1024  # feature frames per segment (16.4 s); a multiple of every supported stride
HEADER_V1 = struct.Struct("<4sHIQHHHHH16sfI")
HEADER = struct.Struct("<4sHIQHHHHH16sfIIQ")
SEGMENT = struct.Struct("<IBI")
OVERHEAD_BYTES = HEADER.size + 4 + SEGMENT.size  # what a one-segment file holds besides its payload

# Bounds a header must meet before anything is allocated from it. The encoder never writes a step
# above 20 (the top of its bitrate search); 64 leaves room without letting a crafted step push the
# decoder's output beyond float32. Sample rates outside 1 Hz..768 kHz are not audio audiorep makes.
MIN_SR = 1
MAX_STEP = 64.0
STRIDES = (1, 2, 4, 8)


@dataclass(frozen=True)
class ArepInfo:
    """What an ``.arep`` file's header says (see the module docstring for the byte layout)."""

    version: int
    sr: int
    n_samples: int
    n_fft: int
    hop_length: int
    n_mels: int
    stride: int
    latent_dim: int
    model_digest: bytes
    step: float
    n_segments: int
    n_bytes: int
    input_sr: int | None = None  # the input's rate and length (version 2 files; None for version 1)
    input_samples: int | None = None

    @property
    def duration(self) -> float:
        """Seconds of decoded audio."""
        return self.n_samples / self.sr

    @property
    def kbps(self) -> float:
        """File size in kilobits per second of audio."""
        return self.n_bytes * 8 / 1000.0 / self.duration if self.n_samples else float("nan")


def _field_error(where: str, name: str, value, expected: str) -> CodecError:
    return CodecError(f"{where}: header field {name}={value!r} is out of range ({expected})")


def _check_header(info: ArepInfo, where: str, size: int, header_size: int) -> None:
    """Check every header field against what the format allows, before anything is allocated from it."""
    fixed = {"sr": SR, "n_fft": N_FFT, "hop_length": HOP}
    for name, want in fixed.items():
        if getattr(info, name) != want:
            raise _field_error(where, name, getattr(info, name), f"this codec works at {name}={want}")
    if not (math.isfinite(info.step) and 0.0 < info.step <= MAX_STEP):
        raise _field_error(where, "step", info.step, f"a finite step in (0, {MAX_STEP:g}]")
    if info.stride not in STRIDES:
        raise _field_error(where, "stride", info.stride, f"one of {STRIDES}")
    if info.latent_dim < 1:
        raise _field_error(where, "latent_dim", info.latent_dim, "at least 1")
    if info.n_mels < 1:
        raise _field_error(where, "n_mels", info.n_mels, "at least 1")
    # every segment takes at least its own small header, so the file size bounds the count
    most = (size - header_size - 4) // SEGMENT.size
    if not 1 <= info.n_segments <= most:
        raise _field_error(where, "n_segments", info.n_segments, f"1..{most} for a file of {size} bytes")
    # a segment holds at most SEGMENT_FRAMES frames, which bounds the length before the segments are read
    most_samples = info.n_segments * SEGMENT_FRAMES * HOP
    if info.n_samples >= most_samples:
        raise _field_error(where, "n_samples", info.n_samples,
                           f"below {most_samples} for {info.n_segments} segment(s)")
    if info.version >= 2 and not MIN_SR <= info.input_sr <= MAX_SR:
        raise _field_error(where, "input_sr", info.input_sr, f"{MIN_SR}..{MAX_SR} Hz")


def _check_input_samples(info: ArepInfo, where: str) -> None:
    """Check the recorded input length against n_samples (once the segments have confirmed n_samples)."""
    if info.version < 2:
        return
    # The input was resampled to SR; its length follows from n_samples up to the rounding of
    # input_sr (recorded to the nearest Hz) and a few samples at the resampler's ends.
    expected = info.n_samples * info.input_sr / SR
    slack = expected * 0.5 / info.input_sr + 2 * info.input_sr / SR + 16
    if abs(info.input_samples - expected) > slack:
        raise _field_error(where, "input_samples", info.input_samples,
                           f"about {expected:.0f} for {info.n_samples} samples at {SR} Hz")


def parse(data: bytes, where: str) -> tuple[ArepInfo, list]:
    """Check and split the bytes of an ``.arep`` file: its header and a list of (code blocks, method, payload)."""
    if len(data) < 4 or data[:4] != MAGIC:
        raise CodecError(f"{where}: not an .arep file (bad magic bytes {data[:4]!r})")
    if len(data) < 6:
        raise CodecError(f"{where}: truncated file ({len(data)} bytes)")
    version = struct.unpack_from("<H", data, 4)[0]
    if version not in (1, FORMAT_VERSION):
        raise CodecError(f"{where}: .arep format version {version} is not supported (this audiorep reads "
                         f"versions 1 to {FORMAT_VERSION})")
    header = HEADER_V1 if version == 1 else HEADER
    if len(data) < header.size + 4:
        raise CodecError(f"{where}: truncated file ({len(data)} bytes, the header alone takes {header.size + 4})")
    stored_crc = struct.unpack_from("<I", data, len(data) - 4)[0]
    if zlib.crc32(data[:-4]) != stored_crc:
        raise CodecError(f"{where}: CRC mismatch; the file is truncated or corrupt")
    fields = header.unpack_from(data, 0)
    (_, version, sr, n_samples, n_fft, hop, n_mels, stride, dims, digest, step, n_segments) = fields[:12]
    input_sr, input_samples = fields[12:] if version >= 2 else (None, None)
    info = ArepInfo(version, sr, n_samples, n_fft, hop, n_mels, stride, dims, digest, float(step), n_segments,
                    len(data), input_sr, input_samples)
    _check_header(info, where, len(data), header.size)
    segments = []
    pos = header.size
    end = len(data) - 4
    most_blocks = SEGMENT_FRAMES // stride
    total_blocks = 0
    for i in range(n_segments):
        if pos + SEGMENT.size > end:
            raise CodecError(f"{where}: segment {i} runs past the end of the file")
        blocks, method, size = SEGMENT.unpack_from(data, pos)
        pos += SEGMENT.size
        if not 1 <= blocks <= most_blocks:
            raise CodecError(f"{where}: segment {i} field code_blocks={blocks} is out of range "
                             f"(1..{most_blocks} at stride {stride})")
        if method not in (0, 1):
            raise CodecError(f"{where}: segment {i} field method={method} is not an entropy coder (0 or 1)")
        if pos + size > end:
            raise CodecError(f"{where}: segment {i} runs past the end of the file")
        segments.append((blocks, method, data[pos: pos + size]))
        total_blocks += blocks
        pos += size
    if pos != end:
        raise CodecError(f"{where}: {end - pos} unexpected bytes after the last segment")
    # The encoder codes exactly the blocks that cover the frames of n_samples, no more, no fewer.
    n_frames = 1 + n_samples // HOP
    if total_blocks != -(-n_frames // stride):
        raise CodecError(f"{where}: header field n_samples={n_samples} ({n_frames} frames) does not match "
                         f"the {total_blocks} code blocks of the segments (stride {stride})")
    _check_input_samples(info, where)
    return info, segments


def read_arep(path) -> tuple[ArepInfo, list]:
    """Read and :func:`parse` an ``.arep`` file; ``where`` in the errors is its path."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"in_path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, not an .arep file", str(path))
    with open(path, "rb") as f:
        data = f.read()
    return parse(data, str(path))


def arep_info(path) -> ArepInfo:
    """Read and check the header of an ``.arep`` file (the CRC too).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from audiorep.codec import encode
    >>> out = os.path.join(tempfile.mkdtemp(), "tone.arep")
    >>> _ = encode(np.sin(np.arange(16000) * 0.1), out, sr=16000)
    >>> arep_info(out).n_samples
    16000
    """
    return read_arep(path)[0]
