"""Per-frame feature sequences for learning, computed from a signal.

A :class:`FeatureParams` names a kind of feature and its parameters. It travels
with the features into the store's metadata, so that a model can check it is
fed the features it was trained on.

Kinds
-----
``mel``
    log-mel spectrogram frames (dB, clipped ``top_db`` below the clip's peak): ``n_mels`` values.
``autocorrelogram``
    the lag-0-normalised autocorrelation of each frame, lags pooled into
    ``lag_bins`` log-spaced bins (``lag_bins=0`` keeps all ``max_lag`` lags), plus
    the frame's log energy as a last column, since normalisation removes loudness.
``correlogram``
    the per-band autocorrelation (``n_bands`` bands), each band's lags pooled
    into ``lag_bins`` log-spaced bins, plus each band's log energy.

``mel+correlogram``
    both on the same frames, side by side: the ``mel`` values, then the ``correlogram``
    values (one ``top_db`` for both), for a model that reads the two views as one input.

For both correlation kinds, frames (or bands) more than ``top_db`` below the clip's
loudest are treated as silence: their curves are zero and their log energy sits at that
floor. Normalising such a frame by its own near-zero energy would otherwise amplify
rounding noise into values far outside [-1, 1] (a true normalised autocorrelation never
leaves that range, so curves are also clipped to it), and digital silence would sit at
an arbitrary -10 that dominates any standardisation.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from ._util import check_sr
from .errors import ParameterError

__all__ = ["FeatureParams", "KINDS", "compute_features", "pool_lags"]

KINDS = ("mel", "autocorrelogram", "correlogram", "mel+correlogram")


@dataclasses.dataclass(frozen=True)
class FeatureParams:
    """What :func:`compute_features` computes; stored beside the features."""

    kind: str = "mel"
    sr: int | None = None
    frame_length: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    max_lag: int | None = None
    lag_bins: int = 64
    n_bands: int = 32
    fmin: float = 50.0
    fmax: float | None = None
    top_db: float = 80.0
    duration: float | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ParameterError(f"kind={self.kind!r} is not one of {KINDS}")
        for name in ("frame_length", "hop_length", "n_mels", "n_bands"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        check_sr(self.sr, optional=True, whole=True)
        if self.lag_bins < 0:
            raise ParameterError(f"lag_bins={self.lag_bins!r} must be >= 0")
        if self.max_lag is not None and not 1 <= self.max_lag <= self.frame_length:
            raise ParameterError(f"max_lag={self.max_lag!r} must be in 1..frame_length={self.frame_length}")
        if self.duration is not None and self.duration <= 0:
            raise ParameterError(f"duration={self.duration!r} must be positive")

    @property
    def lags(self) -> int:
        return self.max_lag if self.max_lag is not None else self.frame_length // 2

    @property
    def n_features(self) -> int:
        """Values per frame."""
        if self.kind == "mel":
            return self.n_mels
        per_curve = self.lag_bins if self.lag_bins else self.lags
        if self.kind == "autocorrelogram":
            return per_curve + 1
        mel = self.n_mels if self.kind == "mel+correlogram" else 0
        return mel + self.n_bands * (per_curve + 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureParams":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def pool_lags(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Average lags 1..L-1 of ``values`` (..., L) into ``n_bins`` log-spaced bins.

    Lag 0 (always 1 after normalisation) is dropped. Bin edges are fractional,
    so every bin is defined even where it is narrower than one lag.

    Examples
    --------
    >>> import numpy as np
    >>> from audiorep.features import pool_lags
    >>> pool_lags(np.ones((2, 100)), 8).shape
    (2, 8)
    """
    values = np.asarray(values)
    L = values.shape[-1]
    if L < 2:
        raise ParameterError(f"need at least 2 lags to pool, got {L}")
    edges = np.geomspace(1.0, float(L), n_bins + 1)
    # Piecewise-constant integral over lags: lag k covers [k, k + 1).
    csum = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values[..., 1:], axis=-1)], axis=-1)
    positions = np.arange(1, L + 1, dtype=np.float64)
    flat = csum.reshape(-1, csum.shape[-1])
    integral = np.stack([np.interp(edges, positions, row) for row in flat]).reshape(values.shape[:-1] + (n_bins + 1,))
    return (np.diff(integral, axis=-1) / np.diff(edges)).astype(values.dtype, copy=False)


def _gate_silence(curves: np.ndarray, energy: np.ndarray, top_db: float) -> np.ndarray:
    """Zero the curves of quiet frames, clip the rest to [-1, 1]; return the floored log10 energy."""
    peak = float(energy.max()) if energy.size else 0.0
    floor = max(peak * 10.0 ** (-top_db / 10.0), 1e-20)
    quiet = ~(energy > floor)
    curves[quiet] = 0.0
    np.clip(curves, -1.0, 1.0, out=curves)
    return np.log10(np.maximum(energy, floor)).astype(np.float32)


def compute_features(y: np.ndarray, sr: int, params: FeatureParams) -> np.ndarray:
    """Compute the (frames, features) float32 sequence of a mono signal.

    Returns
    -------
    numpy.ndarray
        ``(frames, features)`` float32, time first, as the store and the models take it (for
        ``mel``, the transpose of :func:`audiorep.melspectrogram`'s librosa layout).

    Examples
    --------
    >>> import numpy as np
    >>> from audiorep.features import FeatureParams, compute_features
    >>> y = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    >>> compute_features(y, 16000, FeatureParams(kind="mel", n_mels=40)).shape
    (32, 40)
    """
    from . import dsp

    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"expected a mono 1-D signal, got shape {y.shape}")
    if params.kind == "mel+correlogram":
        mel = compute_features(y, sr, dataclasses.replace(params, kind="mel"))
        cg = compute_features(y, sr, dataclasses.replace(params, kind="correlogram"))
        if len(mel) != len(cg):  # one framing for both; a mismatch is a broken invariant, not bad input
            raise AssertionError(f"mel has {len(mel)} frames, the correlogram {len(cg)}")
        return np.concatenate([mel, cg], axis=1)
    if params.kind == "mel":
        S = dsp.melspectrogram(y, sr, n_fft=params.frame_length, hop_length=params.hop_length,
                               n_mels=params.n_mels, fmax=params.fmax, log=False)
        ref = max(float(S.max()), 1e-10)
        db = 10.0 * np.log10(np.maximum(S, ref * 10.0 ** (-params.top_db / 10.0)) / ref)
        return np.ascontiguousarray(db.T, dtype=np.float32)
    # Double precision: the FFT's rounding error in a quiet frame scales with the loudest
    # frame it shares a transform with, and float32 leaves too little headroom for that.
    y64 = y.astype(np.float64)
    if params.kind == "autocorrelogram":
        acg = dsp.autocorrelogram(y64, sr, frame_length=params.frame_length, hop_length=params.hop_length,
                                  max_lag=params.lags)
        curves = np.array(acg.values, dtype=np.float64)
        log_energy = _gate_silence(curves, np.asarray(acg.energy, dtype=np.float64), params.top_db)
        curves = pool_lags(curves, params.lag_bins) if params.lag_bins else curves
        return np.concatenate([curves, log_energy[:, None]], axis=1).astype(np.float32)
    cg = dsp.correlogram(y64, sr, n_bands=params.n_bands, fmin=params.fmin, fmax=params.fmax,
                         frame_length=params.frame_length, hop_length=params.hop_length, max_lag=params.lags)
    curves = np.array(cg.values, dtype=np.float64)
    log_energy = _gate_silence(curves, np.asarray(cg.energy, dtype=np.float64), params.top_db)
    curves = pool_lags(curves, params.lag_bins) if params.lag_bins else curves
    per_band = np.concatenate([curves, log_energy[..., None]], axis=-1)
    return per_band.reshape(per_band.shape[0], -1).astype(np.float32)
