"""Quantisation and entropy coding of the codec's latent codes.

Codes are quantised uniformly with one step per file (the quality knob: a finer step
means more bits and less distortion) and each segment is coded with the standard
library, raw LZMA2 or raw DEFLATE, whichever is smaller. The codes are laid out
dimension by dimension, so that runs of similar statistics sit together, as int8; a
value of -128 escapes to the int16 that follows in an escape list at the end of the
payload (rare; only for outliers beyond +-127 steps).

Decompression is streamed with a cap: a payload never inflates past the size its block
count allows, whatever it claims.
"""

from __future__ import annotations

import lzma
import math
import zlib

import numpy as np

from ..errors import CodecError, ParameterError

__all__ = ["DEFAULT_QUALITY", "LZMA_FILTERS", "STEP_AT_Q0", "STEP_AT_Q100", "choose_step", "pack_codes",
           "quality_to_step", "unpack_codes"]

LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 16}]  # a segment is below 64 KiB
# Quality 0..100 maps log-linearly onto these step sizes (in units of the standardised codes).
STEP_AT_Q0 = 2.0
STEP_AT_Q100 = 0.05
DEFAULT_QUALITY = 50.0


def pack_codes(q: np.ndarray) -> tuple[int, bytes]:
    """int32 codes (dims, blocks) -> (method, compressed bytes); dimension-major int8 with an int16 escape list.

    ``method`` is 0 for raw DEFLATE and 1 for raw LZMA2, whichever is smaller.

    Examples
    --------
    >>> import numpy as np
    >>> method, payload = pack_codes(np.zeros((4, 8), np.int32))
    >>> unpack_codes(method, payload, 4, 8, "example").shape
    (4, 8)
    """
    flat = q.reshape(-1)
    big = (flat > 127) | (flat < -127)
    small = np.where(big, -128, flat).astype(np.int8)
    escapes = np.clip(flat[big], -32768, 32767).astype("<i2")
    raw = small.tobytes() + escapes.tobytes()
    deflate = zlib.compress(raw, 9, -15)
    lz = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
    return (1, lz) if len(lz) < len(deflate) else (0, deflate)


def _inflate(method: int, payload: bytes, cap: int, where: str) -> bytes:
    """Decompress ``payload``, refusing output beyond ``cap`` bytes without ever holding more than that."""
    try:
        if method == 0:
            inflater = zlib.decompressobj(-15)
            raw = inflater.decompress(payload, cap + 1)
            complete = inflater.eof and not inflater.unconsumed_tail
        elif method == 1:
            inflater = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
            raw = inflater.decompress(payload, cap + 1)
            complete = inflater.eof  # LZMA2 always ends with its end-of-stream byte
        else:
            raise CodecError(f"{where}: unknown entropy coder {method}")
    except (zlib.error, lzma.LZMAError) as exc:
        raise CodecError(f"{where}: corrupt payload ({exc})") from None
    if len(raw) > cap:
        raise CodecError(f"{where}: payload inflates past the {cap} bytes its code_blocks allow")
    if not complete:
        raise CodecError(f"{where}: corrupt payload (the compressed stream ends early)")
    return raw


def unpack_codes(method: int, payload: bytes, dims: int, blocks: int, where: str) -> np.ndarray:
    """A payload -> int32 codes (dims, blocks); :class:`~audiorep.CodecError` naming ``where`` if it is corrupt."""
    n = dims * blocks
    # one int8 per code, plus at most one int16 escape per code
    raw = _inflate(method, payload, 3 * n, where)
    if len(raw) < n:
        raise CodecError(f"{where}: payload holds {len(raw)} codes, expected {n}")
    small = np.frombuffer(raw[:n], np.int8).astype(np.int32)
    esc = small == -128
    n_esc = int(esc.sum())
    if len(raw) != n + 2 * n_esc:
        raise CodecError(f"{where}: payload size does not match its escape count")
    small[esc] = np.frombuffer(raw[n:], "<i2").astype(np.int32)
    return small.reshape(dims, blocks)


def quality_to_step(quality) -> float:
    """Map quality 0 (smallest files) .. 100 (best) to the quantiser step, log-linearly.

    Examples
    --------
    >>> round(quality_to_step(100), 3)
    0.05
    """
    q = float(quality)
    if not (0.0 <= q <= 100.0):
        raise ParameterError(f"quality={quality!r} must be between 0 and 100")
    return float(math.exp(math.log(STEP_AT_Q0) + q / 100.0 * (math.log(STEP_AT_Q100) - math.log(STEP_AT_Q0))))


def choose_step(codes: np.ndarray, seconds: float, kbps: float, overhead: int) -> float:
    """The quantiser step whose coded size for ``codes`` best meets ``kbps`` (bisection on log step)."""
    budget = kbps * 1000.0 / 8.0 * seconds - overhead
    lo, hi = math.log(0.005), math.log(20.0)  # log step bounds; size falls as the step grows
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        size = len(pack_codes(np.rint(codes / math.exp(mid)).astype(np.int32))[1])
        if size > budget:
            lo = mid
        else:
            hi = mid
    return float(math.exp(hi))
