"""The codec's spectral view of a signal, and the way back: log-mel frames and phase recovery.

The codec works on 16 kHz mono: 512-point frames, hop 256 (16 ms), 64 Slaney mel bands,
power in dB with a -100 dB floor. Decoding maps dB mel frames back to linear STFT
magnitudes (non-negative least squares through the mel filterbank, by multiplicative
updates), interpolates them to hop 128 (75 % overlap, which suits phase recovery) and
recovers a waveform with fast Griffin-Lim on :func:`audiorep.dsp.rfft` /
:func:`audiorep.dsp.irfft`, in overlapping blocks of about 33 s so memory stays bounded.
"""

from __future__ import annotations

import numpy as np

from .. import dsp
from .._util import check_cancel

__all__ = ["DB_FLOOR", "HOP", "N_FFT", "N_MELS", "SR", "filterbank", "griffin_lim", "logmel", "logmel_uncentred",
           "mel_to_magnitude", "power_spectrogram", "stft", "synthesize"]

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 64
DB_FLOOR = -100.0
GL_HOP = 128
GL_ITERS = 32
GL_CHUNK = 4096  # Griffin-Lim block in frames of GL_HOP (33 s)
GL_OVERLAP = 64  # frames shared with each neighbouring block

_FILTERBANKS: dict = {}


def filterbank(n_mels: int) -> np.ndarray:
    """The codec's mel filterbank (n_mels, N_FFT // 2 + 1), float32 (cached)."""
    if n_mels not in _FILTERBANKS:
        _FILTERBANKS[n_mels] = dsp.mel_filterbank(SR, N_FFT, n_mels=n_mels).astype(np.float32)
    return _FILTERBANKS[n_mels]


def stft(y, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Complex spectra of the Hann-windowed centred frames of ``y`` (float32): (1 + len(y) // hop, n_fft // 2 + 1).

    :func:`audiorep.dsp.stft` with frames first, as the phase recovery indexes them.

    Examples
    --------
    >>> import numpy as np
    >>> stft(np.zeros(1024)).shape
    (5, 257)
    """
    return dsp.stft(np.asarray(y, np.float32), n_fft=n_fft, hop_length=hop).T


def power_spectrogram(y, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Power of :func:`stft`, float32: the linear view the codec's spectral measures compare.

    Examples
    --------
    >>> import numpy as np
    >>> float(power_spectrogram(np.ones(2048))[4, 0]) > 0
    True
    """
    spec = stft(y, n_fft, hop)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def logmel_uncentred(y: np.ndarray, n_mels: int) -> np.ndarray:
    """Frames starting at 0, hop, 2 hop, ... of ``y`` (no padding) -> (n_mels, frames) dB, by the compiled kernel."""
    return dsp.melspectrogram(y, SR, n_fft=N_FFT, hop_length=HOP, n_mels=n_mels, power=2.0, log=True, top_db=None,
                              window="hann", center=False)


def logmel(y, *, n_mels=N_MELS) -> np.ndarray:
    """The codec's log-mel view of a 16 kHz signal: (n_mels, 1 + len(y) // 256), dB with a -100 dB floor.

    Frames are centred (zero padding of 256 samples at both ends), as
    :func:`audiorep.dsp.melspectrogram` makes them by default.

    Examples
    --------
    >>> import numpy as np
    >>> logmel(np.zeros(16000)).shape
    (64, 63)
    """
    return logmel_uncentred(np.pad(np.asarray(y, np.float32), N_FFT // 2), n_mels)


def mel_to_magnitude(logmel_db: np.ndarray, *, iterations=30, cancel=None) -> np.ndarray:
    """dB mel frames (n_mels, T) -> linear STFT magnitudes (T, n_fft // 2 + 1), by non-negative least squares.

    ``cancel`` (a threading.Event) is checked before each iteration; when set, :class:`audiorep.Cancelled` is raised.

    Examples
    --------
    >>> import numpy as np
    >>> mel_to_magnitude(np.full((64, 3), -20.0)).shape
    (3, 257)
    """
    fb = filterbank(logmel_db.shape[0])
    target = (10.0 ** (np.asarray(logmel_db, np.float32) / 10.0)).T  # (T, n_mels) power
    # Start from the transposed filterbank, scaled so each bin gets the power of its bands.
    x = target @ (fb / np.maximum(fb.sum(axis=1, keepdims=True), 1e-12) * (fb > 0).sum(axis=1, keepdims=True))
    x = np.maximum(x, 1e-12)
    gram = fb.T @ fb
    numer = target @ fb
    for _ in range(iterations):
        check_cancel(cancel, "decoding")
        x *= numer / np.maximum(x @ gram, 1e-20)
    return np.sqrt(x).astype(np.float32)


def _upsample_frames(mag: np.ndarray, factor: int) -> np.ndarray:
    """Geometric interpolation of magnitude frames from hop H to hop H / factor (frame 0 stays at sample 0)."""
    if factor == 1:
        return mag
    log_mag = np.log(np.maximum(mag, 1e-8))
    n = mag.shape[0]
    pos = np.arange((n - 1) * factor + 1) / factor
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo)[:, None].astype(np.float32)
    return np.exp((1 - w) * log_mag[lo] + w * log_mag[hi]).astype(np.float32)


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    return dsp.istft(spec.T, hop_length=hop, n_fft=n_fft, length=length)


def _fast_griffin_lim(mag, length, hop, n_iter, momentum, rng, cancel, init=None):
    """Fast Griffin-Lim on one block; returns the signal and the final phase factors."""
    n_fft = 2 * (mag.shape[1] - 1)
    angles = np.exp(2j * np.pi * rng.random(mag.shape)).astype(np.complex64)
    if init is not None:
        angles[: len(init)] = init
    prev = np.zeros_like(angles)
    for _ in range(n_iter):
        check_cancel(cancel, "decoding")
        y = _istft(mag * angles, n_fft, hop, length)
        rebuilt = stft(y, n_fft, hop)[: mag.shape[0]]
        accel = rebuilt - (momentum / (1 + momentum)) * prev
        prev = rebuilt
        angles = (accel / np.maximum(np.abs(accel), 1e-16)).astype(np.complex64)
    return _istft(mag * angles, n_fft, hop, length), angles


def griffin_lim(mag: np.ndarray, length: int, *, hop=GL_HOP, n_iter=GL_ITERS, momentum=0.99, seed=0, cancel=None,
                chunk=GL_CHUNK, overlap=GL_OVERLAP):
    """Fast Griffin-Lim (Perraudin et al. 2013): a signal of ``length`` samples whose STFT magnitude is ``mag``.

    ``mag`` is (frames, n_fft // 2 + 1) for centred frames ``hop`` apart. Long inputs are
    processed in blocks of ``chunk`` frames that overlap by ``overlap`` frames on each
    side; each block starts from the phase its predecessor found for the shared frames
    and the blocks are cross-faded, so memory stays proportional to the block.

    Examples
    --------
    >>> import numpy as np
    >>> griffin_lim(np.ones((9, 257), np.float32), 1024, hop=128).shape
    (1024,)
    """
    rng = np.random.default_rng(seed)
    n = mag.shape[0]
    if n <= chunk + 2 * overlap:
        return _fast_griffin_lim(mag, length, hop, n_iter, momentum, rng, cancel)[0]
    out = np.zeros(length, np.float32)
    weight = np.zeros(length, np.float32)
    carried = None  # phase of the frames shared with the next block
    for a in range(0, n, chunk):
        lo, hi = max(a - overlap, 0), min(a + chunk + overlap, n)
        y, angles = _fast_griffin_lim(mag[lo:hi], (hi - lo - 1) * hop + 1, hop, n_iter, momentum, rng, cancel,
                                      init=carried)
        carried = angles[hi - lo - 2 * overlap:] if hi < n else None
        # trapezoid: full weight on the block's own frames, linear ramps across the shared ones
        pos = lo * hop + np.arange(len(y))
        w = np.ones(len(y), np.float32)
        if lo > 0:
            w = np.minimum(w, (pos - lo * hop + 1) / (2 * overlap * hop))
        if hi < n:
            w = np.minimum(w, ((hi - 1) * hop - pos + 1) / (2 * overlap * hop))
        keep = pos < length
        out[pos[keep]] += w[keep] * y[keep]
        weight[pos[keep]] += w[keep]
    return out / np.maximum(weight, 1e-6)


def synthesize(logmel_db: np.ndarray, length: int, *, cancel=None, seed=0) -> np.ndarray:
    """dB log-mel frames (hop 256 at 16 kHz) -> waveform of ``length`` samples (mel inversion + Griffin-Lim).

    Examples
    --------
    >>> import numpy as np
    >>> synthesize(np.full((64, 5), -30.0), 1024).shape
    (1024,)
    """
    mag = _upsample_frames(mel_to_magnitude(logmel_db, cancel=cancel), HOP // GL_HOP)
    need = 1 + length // GL_HOP
    if mag.shape[0] < need:
        mag = np.concatenate([mag, np.repeat(mag[-1:], need - mag.shape[0], axis=0)])
    return griffin_lim(mag[:need], length, cancel=cancel, seed=seed)
