"""Decoding: an ``.arep`` file in, a waveform out.

The file is read and checked (:mod:`audiorep.codec.bitstream`), the codes dequantised
and run through the network's decoder to dB log-mel frames, which are clipped to
:data:`DB_RANGE` and turned back into a waveform (:mod:`audiorep.codec.synthesis`).
Phase is not transmitted, so the output sounds like the input but does not match it
sample by sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._util import atomic_path, check_cancel, check_target_sr
from ..errors import CodecError
from .bitstream import ArepInfo, read_arep
from .entropy import unpack_codes
from .network import decode_codes, load_codec_model
from .synthesis import DB_FLOOR, HOP, synthesize

__all__ = ["DB_RANGE", "decode", "decode_logmel"]

# Decoded dB levels are clipped to this range: real material stays within -100..+60 dB, and the
# clip keeps a crafted file's codes from turning into inf or NaN samples.
DB_RANGE = (2 * DB_FLOOR, 160.0)


def decode_logmel(in_path, *, model=None) -> tuple[np.ndarray, ArepInfo]:
    """Decode an ``.arep`` file to its dB log-mel spectrogram (n_mels, frames), without phase recovery.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from audiorep.codec import encode
    >>> out = os.path.join(tempfile.mkdtemp(), "tone.arep")
    >>> _ = encode(np.sin(np.arange(16000) * 0.1), out, sr=16000)
    >>> decode_logmel(out)[0].shape
    (64, 63)
    """
    info, segments = read_arep(in_path)
    m = load_codec_model(model)
    if info.model_digest != m.digest:
        raise CodecError(f"{in_path}: made with a different codec model (weights {info.model_digest.hex()}, "
                         f"this model is {m.digest.hex()} from {m.path})")
    cfg = m.config
    if (info.n_mels, info.stride, info.latent_dim) != (cfg["n_mels"], cfg["stride"], cfg["latent_dim"]):
        raise CodecError(f"{in_path}: frame parameters do not match the model")
    parts = [unpack_codes(method, payload, info.latent_dim, blocks, f"{in_path}: segment {i}")
             for i, (blocks, method, payload) in enumerate(segments)]
    codes = np.concatenate(parts, axis=1).astype(np.float32) * np.float32(info.step)
    n_frames = 1 + info.n_samples // HOP
    mel = decode_codes(m, codes)
    # Codes within the header's bounds can still drive the network far outside anything it was
    # trained on; clipping keeps every later stage finite, and leaves real material untouched.
    mel = np.clip(np.nan_to_num(mel[:, :n_frames], nan=DB_FLOOR), *DB_RANGE)
    return mel, info


def decode(in_path, out_path=None, *, sr=None, model=None, cancel=None):
    """Decode an ``.arep`` file to a waveform, and optionally write it as WAV (atomically).

    The codec works at 16 kHz. By default the result is resampled (with soxr) back to the input's
    rate and cut to the input's length, both recorded in the file; ``sr`` asks for another rate.

    Parameters
    ----------
    in_path : path
        The ``.arep`` file.
    out_path : path, optional
        Where to write a float WAV file.
    sr : int, optional
        Sample rate of the result; None gives the input's rate (16 kHz for version 1 files, which
        do not record it).
    model : path or loaded model, optional
        The codec model (default: the shipped one); it must be the one that encoded the file.
    cancel : threading.Event, optional
        Stops phase recovery and raises :class:`audiorep.Cancelled` when set.

    Returns
    -------
    (numpy.ndarray, int)
        float32 samples and the sample rate.

    Raises
    ------
    CodecError
        Bad magic bytes, an unsupported version, a CRC mismatch (truncated or corrupt file),
        or a file made with a different model.
    ParameterError
        ``sr`` is not a rate in 100 Hz..768 kHz.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from audiorep.codec import encode
    >>> out = os.path.join(tempfile.mkdtemp(), "tone.arep")
    >>> _ = encode(np.sin(np.arange(16000) * 0.1), out, sr=16000)
    >>> y, sr = decode(out)
    >>> y.shape, sr
    ((16000,), 16000)
    >>> decode(out, sr=44100)[0].shape
    (44100,)
    """
    target_sr = check_target_sr(sr, optional=True, whole=True)  # a WAV file records a whole rate
    mel, info = decode_logmel(in_path, model=model)
    check_cancel(cancel, "decoding")
    y = synthesize(mel, info.n_samples, cancel=cancel) if info.n_samples else np.zeros(0, np.float32)
    y = y.astype(np.float32)
    if target_sr is None:
        target_sr = info.input_sr or info.sr
    out_sr = info.sr
    if target_sr != info.sr:
        import soxr

        y = soxr.resample(y, info.sr, target_sr, quality="HQ").astype(np.float32) if len(y) else y
        out_sr = target_sr
    if out_sr == info.input_sr and info.input_samples is not None and len(y) != info.input_samples:
        # resampling to and from 16 kHz can shift the length by a sample or two
        y = np.pad(y, (0, max(0, info.input_samples - len(y))))[: info.input_samples]
    if not np.isfinite(y).all():  # the dB clip in decode_logmel rules this out; never hand back garbage
        raise CodecError(f"{in_path}: decoding gave non-finite samples")
    if out_path is not None:
        import soundfile as sf

        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_path) as tmp:
            sf.write(tmp, y, out_sr, format="WAV", subtype="FLOAT")
    return y, out_sr
