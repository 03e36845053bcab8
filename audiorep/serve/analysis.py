"""What the web app does with one upload, as plain functions of files (no HTTP here).

:func:`check_upload` decides whether a file is audio we can read; :func:`analyse` then
decodes it, computes its autocorrelogram and log-mel spectrogram, encodes it with the
codec, decodes that back, optionally classifies it, and writes the results beside it.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Callable

import numpy as np

from .. import codec
from .._util import atomic_path
from ..audio import AudioInfo, info, load
from ..dsp import autocorrelogram, melspectrogram
from ..plot import surface_grid

log = logging.getLogger(__name__)

__all__ = ["analyse", "check_upload", "frame_sizes", "warm_up"]

FRAME_SECONDS = 0.046  # analysis frame, about 2048 samples at 44.1 kHz
SURFACE_POINTS = (160, 192)  # (frames, lags) drawn in the 3-D view
MEL_BANDS = 64
MEL_COLUMNS = 600  # spectrogram frames sent to the page at most
WAVEFORM_POINTS = 1000  # min/max pairs of the waveform envelope


def warm_up() -> None:
    """Load the codec's model (and PyTorch) now: the first job then neither waits for it nor holds up a cancel."""
    codec.load_codec_model()


def check_upload(path) -> AudioInfo:
    """Read an upload's header and decode it once, so that a bad file is refused before it is queued.

    Raises :class:`audiorep.AudioFormatError` for an empty, non-audio, truncated or
    corrupt file (the same checks :func:`audiorep.load` makes).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.wav")
    >>> with open(path, "w") as f:
    ...     _ = f.write("not a sound")
    >>> check_upload(path)
    Traceback (most recent call last):
    ...
    audiorep.errors.AudioFormatError: ...notes.wav: not an audio file in a format libsndfile recognises (...)
    """
    header = info(path)
    load(path)  # truncation past the header and corrupt frames show only when decoding
    return header


def frame_sizes(sr: float) -> tuple[int, int, int]:
    """(frame_length, hop_length, max_lag) for the views: a power-of-two frame near 46 ms, 75 % overlap.

    Examples
    --------
    >>> frame_sizes(44100), frame_sizes(16000)
    ((2048, 512, 1024), (1024, 256, 512))
    """
    frame = 2 ** int(round(math.log2(max(FRAME_SECONDS * sr, 256))))
    frame = min(frame, 8192)
    return frame, frame // 4, frame // 2


def _envelope(y: np.ndarray, sr: float, points: int = WAVEFORM_POINTS) -> dict:
    """Min and max of ``y`` over ``points`` equal stretches of time (what a waveform plot shows)."""
    n = len(y)
    buckets = max(1, min(points, n))
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    lo = np.minimum.reduceat(y, edges[:-1])
    hi = np.maximum.reduceat(y, edges[:-1])
    return {"t": np.round(edges[:-1] / sr, 4).tolist(), "min": np.round(lo, 4).tolist(),
            "max": np.round(hi, 4).tolist()}


def _mel_view(y: np.ndarray, sr: float, frame: int, hop: int) -> dict:
    S = melspectrogram(y, sr, n_fft=frame, hop_length=hop, n_mels=MEL_BANDS, log=True, top_db=80.0)
    step = max(1, -(-S.shape[1] // MEL_COLUMNS))
    S = S[:, ::step]
    return {"times": np.round(np.arange(S.shape[1]) * step * hop / sr, 4).tolist(), "bands": MEL_BANDS,
            "db": np.round(S, 1).tolist()}


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")


def analyse(upload, out_dir, *, report: Callable[[str, float], None], cancel=None, predictor=None) -> dict:
    """Decode ``upload``, draw its views, encode and decode it with the codec; write the results to ``out_dir``.

    Parameters
    ----------
    upload : path
        An audio file that passed :func:`check_upload`.
    out_dir : path
        Where ``result.arep``, ``decoded.wav``, ``autocorrelogram.json`` and ``analysis.json`` go
        (each written atomically).
    report : callable
        ``report(stage, progress)`` before each stage; it may raise :class:`audiorep.Cancelled`.
    cancel : threading.Event, optional
        Stops encoding and decoding within a fraction of a second (they raise :class:`audiorep.Cancelled`).
    predictor : object, optional
        With a ``top(path, k)`` method (a :class:`audiorep.pipeline.DeployedModel`): adds the 3 most probable
        classes.

    Returns
    -------
    dict
        The summary also written to ``analysis.json``, less the plotted data.

    Examples
    --------
    >>> import numpy as np, os, soundfile, tempfile
    >>> out = tempfile.mkdtemp()
    >>> soundfile.write(os.path.join(out, "tone.wav"), np.sin(np.arange(16000) * 0.1) / 2, 16000)
    >>> stages = []
    >>> summary = analyse(os.path.join(out, "tone.wav"), out, report=lambda stage, progress: stages.append(stage))
    >>> stages
    ['decoding', 'autocorrelogram', 'encoding', 'decoding back']
    >>> summary["duration"], sorted(os.listdir(out))
    (1.0, ['analysis.json', 'autocorrelogram.json', 'decoded.wav', 'result.arep', 'tone.wav'])
    """
    upload, out = Path(upload), Path(out_dir)
    report("decoding", 0.02)
    header = info(upload)
    y, sr = load(upload)
    duration = len(y) / sr

    report("autocorrelogram", 0.1)
    frame, hop, max_lag = frame_sizes(sr)
    acg = autocorrelogram(y, sr, frame_length=frame, hop_length=hop, max_lag=max_lag)
    times, delays_ms, z = surface_grid(acg, max_points=SURFACE_POINTS)
    _write_json(out / "autocorrelogram.json", {
        "times": np.round(times, 4).tolist(), "delays_ms": np.round(delays_ms, 4).tolist(),
        "z": np.round(z, 3).tolist(), "frame_length": frame, "hop_length": hop, "sr": sr})
    mel = _mel_view(y, sr, frame, hop)

    report("encoding", 0.2)
    arep = codec.encode(upload, out / "result.arep", cancel=cancel)

    report("decoding back", 0.3)
    decoded, decoded_sr = codec.decode(out / "result.arep", out / "decoded.wav", cancel=cancel)

    prediction = None
    if predictor is not None:
        report("predicting", 0.95)
        prediction = predictor.top(upload, 3)

    original_bytes = upload.stat().st_size
    summary = {
        "duration": duration, "sr": sr, "channels": header.channels, "format": header.format,
        "subtype": header.subtype, "original_bytes": original_bytes,
        "original_kbps": original_bytes * 8 / 1000.0 / duration,
        "arep_bytes": arep.n_bytes, "arep_kbps": arep.kbps, "compression": original_bytes / arep.n_bytes,
        "decoded_sr": decoded_sr, "decoded_seconds": len(decoded) / decoded_sr,
        "analysis": {"frame_length": frame, "hop_length": hop, "max_lag": max_lag},
        "prediction": prediction,
    }
    _write_json(out / "analysis.json", {**summary, "waveform": _envelope(y, sr),
                                        "decoded_waveform": _envelope(decoded, decoded_sr), "mel": mel})
    log.debug("analysed %s: %.2f s, %d bytes coded", upload, duration, arep.n_bytes)
    return summary
