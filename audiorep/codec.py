"""A learned low-bitrate audio codec: log-mel frames -> convolutional autoencoder -> quantised, entropy-coded latents.

Design
------
Encoding resamples the input to 16 kHz mono and computes a log-mel spectrogram
(512-point FFT, hop 256 = 16 ms, 64 Slaney mel bands, dB with a -100 dB floor),
standardised per band with statistics from the training set. A small
non-recurrent convolutional autoencoder (:class:`CodecAutoencoder`) maps each
block of 4 frames (64 ms) to ``latent_dim`` numbers; its receptive field spans a
few neighbouring blocks, so the codes carry context without any recurrence.
The codes are quantised uniformly with one step size per file (the quality knob:
a finer step means more bits and less distortion) and entropy-coded with the
standard library (raw LZMA2 or raw DEFLATE, whichever is smaller, per segment),
the codes laid out dimension by dimension so that runs of similar statistics sit
together. The model was trained with additive uniform noise of random width in
place of quantisation, and with a small penalty on the code energy, so the
decoder works across the whole range of step sizes and the codes stay near zero
where they carry little (they then cost almost nothing after entropy coding).

Decoding dequantises the codes, runs the decoder half to get the log-mel
spectrogram, maps it to a linear magnitude spectrogram (non-negative least
squares through the mel filterbank, by multiplicative updates), interpolates it
to hop 128 (75 % overlap, which suits phase recovery) and recovers a waveform
with fast Griffin-Lim on :func:`audiorep.dsp.rfft` / :func:`audiorep.dsp.irfft`.
Phase is not transmitted, so the output sounds like the input but does not match
it sample by sample: waveform measures such as SI-SDR are poor by construction,
spectral measures (log-spectral distance, mel SNR) are what the codec optimises.

Long inputs are read, resampled (soxr's streaming resampler) and encoded in
segments of :data:`SEGMENT_FRAMES` feature frames with a little context from
the neighbouring segments, so memory stays bounded whatever the input length.
Decoding runs Griffin-Lim in overlapping blocks of about 33 s, each block
starting from the phase its predecessor found for the shared frames, cross-faded.

Known limits: the model learns spectral envelopes of environmental sound (it was
trained on ESC-10 only); sharp spectral lines (pure tones, strongly harmonic
sounds) come back smeared, and sounds far from that training material come back
worse. Quality saturates near the top of the quality range, where the
autoencoder, not the quantiser, limits it.

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
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import lzma
import math
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dsp
from ._util import MAX_SR, atomic_path, check_target_sr
from .errors import AudioFormatError, Cancelled, CodecError, ParameterError

log = logging.getLogger(__name__)

__all__ = ["ArepInfo", "CodecAutoencoder", "arep_info", "decode", "encode", "load_codec_model"]

MAGIC = b"AREP"
FORMAT_VERSION = 2
SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 64
DB_FLOOR = -100.0
SEGMENT_FRAMES = 1024  # feature frames per segment (16.4 s); a multiple of every supported stride
CONTEXT_FRAMES = 32  # feature frames of context taken from each neighbouring segment
GL_HOP = 128
GL_ITERS = 32
GL_CHUNK = 4096  # Griffin-Lim block in frames of GL_HOP (33 s)
GL_OVERLAP = 64  # frames shared with each neighbouring block
READ_BLOCK = 131072  # input samples read at a time (a few seconds; the cancel check runs once per block)
DEFAULT_MODEL = Path(__file__).with_name("codec_model") / "default.npz"

_HEADER_V1 = struct.Struct("<4sHIQHHHHH16sfI")
_HEADER = struct.Struct("<4sHIQHHHHH16sfIIQ")
_SEGMENT = struct.Struct("<IBI")
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 16}]  # a segment is below 64 KiB
# Quality 0..100 maps log-linearly onto these step sizes (in units of the standardised codes).
_STEP_AT_Q0 = 2.0
_STEP_AT_Q100 = 0.05
DEFAULT_QUALITY = 50.0


# ---------------------------------------------------------------- the network

def _torch():
    import torch

    return torch


def _build_module_class():
    torch = _torch()
    nn = torch.nn

    class _CodecAutoencoder(nn.Module):
        """Convolutional autoencoder over log-mel frames: (batch, n_mels, T) -> (batch, latent_dim, T / stride).

        The encoder halves the time resolution ``log2(stride)`` times with strided
        convolutions; the decoder mirrors it with transposed convolutions. Inputs
        are standardised log-mel frames; outputs are their reconstruction.
        """

        def __init__(self, n_mels=N_MELS, latent_dim=48, channels=160, stride=4):
            super().__init__()
            if stride not in (1, 2, 4, 8):
                raise ParameterError(f"stride={stride!r} must be 1, 2, 4 or 8")
            self.config = dict(n_mels=int(n_mels), latent_dim=int(latent_dim), channels=int(channels),
                               stride=int(stride))
            downs = int(round(math.log2(stride)))
            enc = [nn.Conv1d(n_mels, channels, 3, padding=1), nn.GELU()]
            for _ in range(downs):
                enc += [nn.Conv1d(channels, channels, 4, stride=2, padding=1), nn.GELU()]
            enc += [nn.Conv1d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv1d(channels, latent_dim, 1)]
            dec = [nn.Conv1d(latent_dim, channels, 3, padding=1), nn.GELU()]
            for _ in range(downs):
                dec += [nn.ConvTranspose1d(channels, channels, 4, stride=2, padding=1), nn.GELU()]
            dec += [nn.Conv1d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv1d(channels, n_mels, 3, padding=1)]
            self.encoder = nn.Sequential(*enc)
            self.decoder = nn.Sequential(*dec)
            self.register_buffer("mean", torch.zeros(n_mels))
            self.register_buffer("std", torch.ones(n_mels))

        def encode(self, logmel):
            """Standardise (batch, n_mels, T) dB frames and return the codes (batch, latent_dim, T / stride)."""
            return self.encoder((logmel - self.mean[:, None]) / self.std[:, None])

        def decode(self, codes):
            """Codes back to dB log-mel frames."""
            return self.decoder(codes) * self.std[:, None] + self.mean[:, None]

        def forward(self, logmel):
            return self.decode(self.encode(logmel))

    return _CodecAutoencoder


_MODULE_CLASS = None


def CodecAutoencoder(**config):  # noqa: N802 - behaves as the class constructor
    """Build the codec's autoencoder (a ``torch.nn.Module``); keyword arguments: n_mels, latent_dim, channels, stride.

    Examples
    --------
    >>> import torch
    >>> model = CodecAutoencoder(latent_dim=8, channels=16)
    >>> tuple(model.encode(torch.zeros(1, 64, 32)).shape)
    (1, 8, 8)
    """
    global _MODULE_CLASS
    if _MODULE_CLASS is None:
        _MODULE_CLASS = _build_module_class()
    return _MODULE_CLASS(**config)


@dataclass(frozen=True)
class _LoadedModel:
    module: object
    config: dict
    digest: bytes  # 16 bytes
    path: str


_MODEL_CACHE: dict = {}


def model_digest(state: dict, config: dict) -> bytes:
    """The first 16 bytes of SHA-256 over the config and every tensor (name, dtype, shape, bytes), sorted by name."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(state):
        arr = np.ascontiguousarray(state[name])
        h.update(name.encode() + b"\0" + str(arr.dtype).encode() + str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.digest()[:16]


def save_codec_model(path, module, *, info=None) -> None:
    """Write a codec model as .npz (config JSON, float32 weights), atomically.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> save_codec_model(path, CodecAutoencoder(latent_dim=4, channels=8))
    >>> load_codec_model(path).config["latent_dim"]
    4
    """
    path = Path(path)
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}
    payload = {f"w/{k}": v for k, v in state.items()}
    payload["config"] = np.frombuffer(json.dumps(module.config, sort_keys=True).encode(), dtype=np.uint8)
    payload["info"] = np.frombuffer(json.dumps(info or {}, sort_keys=True).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **payload)


def load_codec_model(path=None):
    """Load a codec model written by :func:`save_codec_model` (default: the one shipped with audiorep).

    Returns an object with ``module`` (the torch module, in eval mode), ``config``,
    ``digest`` (16 bytes identifying the weights) and ``path``.

    Examples
    --------
    >>> load_codec_model().config["n_mels"]
    64
    """
    if path is not None and not isinstance(path, (str, os.PathLike)) and hasattr(path, "module"):
        return path  # already loaded
    path = Path(DEFAULT_MODEL if path is None else path)
    key = str(path.resolve())
    stamp = path.stat().st_mtime_ns if path.exists() else None
    if key in _MODEL_CACHE and _MODEL_CACHE[key][0] == stamp:
        return _MODEL_CACHE[key][1]
    if not path.exists():
        raise FileNotFoundError(2, "no such codec model", str(path))
    torch = _torch()
    try:
        with np.load(path, allow_pickle=False) as z:
            config = json.loads(bytes(z["config"]).decode())
            state = {k[2:]: z[k] for k in z.files if k.startswith("w/")}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise CodecError(f"{path}: not a codec model file ({exc})") from None
    module = CodecAutoencoder(**config)
    try:
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    except RuntimeError as exc:
        raise CodecError(f"{path}: weights do not match the config ({exc})") from None
    module.eval()
    loaded = _LoadedModel(module, config, model_digest(state, config), str(path))
    _MODEL_CACHE[key] = (stamp, loaded)
    return loaded


# ---------------------------------------------------------------- features and phase recovery

_WINDOWS: dict = {}
_FILTERBANKS: dict = {}


def _window(n: int) -> np.ndarray:
    if n not in _WINDOWS:
        _WINDOWS[n] = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann
    return _WINDOWS[n]


def _filterbank(n_mels: int) -> np.ndarray:
    if n_mels not in _FILTERBANKS:
        _FILTERBANKS[n_mels] = dsp.mel_filterbank(SR, N_FFT, n_mels=n_mels).astype(np.float32)
    return _FILTERBANKS[n_mels]


def _frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred frames (zero padding of n_fft // 2 at both ends), (1 + len // hop, n_fft)."""
    padded = np.pad(np.asarray(y, np.float32), n_fft // 2)
    view = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    return view[: 1 + len(y) // hop]


def _power(frames: np.ndarray) -> np.ndarray:
    spec = dsp.rfft(frames * _window(frames.shape[-1]), axis=-1)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def _logmel_uncentred(y: np.ndarray, n_mels: int) -> np.ndarray:
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
    return _logmel_uncentred(np.pad(np.asarray(y, np.float32), N_FFT // 2), n_mels)


def mel_to_magnitude(logmel_db: np.ndarray, *, iterations=30, cancel=None) -> np.ndarray:
    """dB mel frames (n_mels, T) -> linear STFT magnitudes (T, n_fft // 2 + 1), by non-negative least squares.

    ``cancel`` (a threading.Event) is checked before each iteration; when set, :class:`audiorep.Cancelled` is raised.

    Examples
    --------
    >>> import numpy as np
    >>> mel_to_magnitude(np.full((64, 3), -20.0)).shape
    (3, 257)
    """
    fb = _filterbank(logmel_db.shape[0])
    target = (10.0 ** (np.asarray(logmel_db, np.float32) / 10.0)).T  # (T, n_mels) power
    # Start from the transposed filterbank, scaled so each bin gets the power of its bands.
    x = target @ (fb / np.maximum(fb.sum(axis=1, keepdims=True), 1e-12) * (fb > 0).sum(axis=1, keepdims=True))
    x = np.maximum(x, 1e-12)
    gram = fb.T @ fb
    numer = target @ fb
    for _ in range(iterations):
        _check_cancel(cancel, "decoding")
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
    frames = dsp.irfft(spec, n=n_fft, axis=-1) * _window(n_fft)
    n = frames.shape[0]
    total = n_fft + hop * (n - 1)
    out = np.zeros(total, np.float32)
    norm = np.zeros(total, np.float32)
    win2 = _window(n_fft) ** 2
    # hop divides n_fft, so the overlap-add runs in n_fft / hop strided passes instead of a Python loop per frame.
    r = n_fft // hop
    for k in range(r):
        part = frames[k::r]
        m = part.shape[0]
        if m == 0:
            continue
        start = k * hop
        seg = out[start: start + m * n_fft]
        seg[: m * n_fft] += part.reshape(-1)[: len(seg)]
        nseg = norm[start: start + m * n_fft]
        nseg += np.tile(win2, m)[: len(nseg)]
    out = out[n_fft // 2: n_fft // 2 + length]
    norm = norm[n_fft // 2: n_fft // 2 + length]
    return out / np.maximum(norm, 1e-6)


def _fast_griffin_lim(mag, length, hop, n_iter, momentum, rng, cancel, init=None):
    """Fast Griffin-Lim on one block; returns the signal and the final phase factors."""
    n_fft = 2 * (mag.shape[1] - 1)
    angles = np.exp(2j * np.pi * rng.random(mag.shape)).astype(np.complex64)
    if init is not None:
        angles[: len(init)] = init
    prev = np.zeros_like(angles)
    for _ in range(n_iter):
        if cancel is not None and cancel.is_set():
            raise Cancelled("decoding was cancelled")
        y = _istft(mag * angles, n_fft, hop, length)
        rebuilt = dsp.rfft(_frames(y, n_fft, hop) * _window(n_fft), axis=-1)[: mag.shape[0]]
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


# ---------------------------------------------------------------- quantisation and entropy coding

def _pack_codes(q: np.ndarray) -> tuple[int, bytes]:
    """int32 codes (dims, blocks) -> (method, compressed bytes); dimension-major int8 with an int16 escape list."""
    flat = q.reshape(-1)
    big = (flat > 127) | (flat < -127)
    small = np.where(big, -128, flat).astype(np.int8)
    escapes = np.clip(flat[big], -32768, 32767).astype("<i2")
    raw = small.tobytes() + escapes.tobytes()
    deflate = zlib.compress(raw, 9, -15)
    lz = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    return (1, lz) if len(lz) < len(deflate) else (0, deflate)


def _inflate(method: int, payload: bytes, cap: int, where: str) -> bytes:
    """Decompress ``payload``, refusing output beyond ``cap`` bytes without ever holding more than that."""
    try:
        if method == 0:
            inflater = zlib.decompressobj(-15)
            raw = inflater.decompress(payload, cap + 1)
            complete = inflater.eof and not inflater.unconsumed_tail
        elif method == 1:
            inflater = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
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


def _unpack_codes(method: int, payload: bytes, dims: int, blocks: int, where: str) -> np.ndarray:
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
    return float(math.exp(math.log(_STEP_AT_Q0) + q / 100.0 * (math.log(_STEP_AT_Q100) - math.log(_STEP_AT_Q0))))


def _choose_step(codes: np.ndarray, seconds: float, kbps: float, overhead: int) -> float:
    """The quantiser step whose coded size for ``codes`` best meets ``kbps`` (bisection on log step)."""
    budget = kbps * 1000.0 / 8.0 * seconds - overhead
    lo, hi = math.log(0.005), math.log(20.0)  # log step bounds; size falls as the step grows
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        size = len(_pack_codes(np.rint(codes / math.exp(mid)).astype(np.int32))[1])
        if size > budget:
            lo = mid
        else:
            hi = mid
    return float(math.exp(hi))


# ---------------------------------------------------------------- header

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


# Bounds a header must meet before anything is allocated from it. The encoder never writes a step
# above 20 (the top of its bitrate search); 64 leaves room without letting a crafted step push the
# decoder's output beyond float32. Sample rates outside 1 Hz..768 kHz are not audio audiorep makes.
MIN_SR = 1
MAX_STEP = 64.0
STRIDES = (1, 2, 4, 8)
# Decoded dB levels are clipped to this range: real material stays within -100..+60 dB, and the
# clip keeps a crafted file's codes from turning into inf or NaN samples.
DB_RANGE = (2 * DB_FLOOR, 160.0)


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
    most = (size - header_size - 4) // _SEGMENT.size
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


def _parse(data: bytes, where: str) -> tuple[ArepInfo, list]:
    if len(data) < 4 or data[:4] != MAGIC:
        raise CodecError(f"{where}: not an .arep file (bad magic bytes {data[:4]!r})")
    if len(data) < 6:
        raise CodecError(f"{where}: truncated file ({len(data)} bytes)")
    version = struct.unpack_from("<H", data, 4)[0]
    if version not in (1, FORMAT_VERSION):
        raise CodecError(f"{where}: .arep format version {version} is not supported (this audiorep reads "
                         f"versions 1 to {FORMAT_VERSION})")
    header = _HEADER_V1 if version == 1 else _HEADER
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
        if pos + _SEGMENT.size > end:
            raise CodecError(f"{where}: segment {i} runs past the end of the file")
        blocks, method, size = _SEGMENT.unpack_from(data, pos)
        pos += _SEGMENT.size
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


def _read_arep(path) -> tuple[ArepInfo, list]:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"in_path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory, not an .arep file", str(path))
    with open(path, "rb") as f:
        data = f.read()
    return _parse(data, str(path))


def arep_info(path) -> ArepInfo:
    """Read and check the header of an ``.arep`` file (the CRC too).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "tone.arep")
    >>> _ = encode(np.sin(np.arange(16000) * 0.1), out, sr=16000)
    >>> arep_info(out).n_samples
    16000
    """
    return _read_arep(path)[0]


# ---------------------------------------------------------------- streaming input

def _input_blocks(source, sr):
    """Yield (total_input_samples, input_rate, iterator of mono float32 blocks at the input rate)."""
    if isinstance(source, (str, os.PathLike, bytes)):
        from .audio import open_audio

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


class _Framer:
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
        out = _logmel_uncentred(self.buf[: N_FFT + (n - 1) * HOP], self.n_mels)
        self.buf = self.buf[n * HOP:]
        return out


# ---------------------------------------------------------------- encode / decode

def _check_cancel(cancel, what):
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} was cancelled")


def _encode_codes(model, logmel_db: np.ndarray) -> np.ndarray:
    torch = _torch()
    with torch.no_grad():
        z = model.module.encode(torch.from_numpy(np.ascontiguousarray(logmel_db))[None])
    return z[0].numpy()


def _tmp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


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
    total_in, rate_in, blocks = _input_blocks(path_or_array, sr)
    input_sr = max(1, min(round(rate_in), 2**32 - 1))
    input_samples = 0  # counted, not taken from the file's header, which can be an estimate
    resampler = None
    if rate_in != SR:
        import soxr

        resampler = soxr.ResampleStream(rate_in, SR, 1, dtype="float32", quality="HQ")

    from tqdm import tqdm

    bar = tqdm(total=total_in, unit="sample", unit_scale=True, desc="encode", disable=not progress,
               file=sys.stderr, leave=False)
    framer = _Framer(n_mels)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(out_path)
    pending = np.zeros((n_mels, 0), np.float32)  # feature frames not yet encoded, preceded by context
    done_frames = 0  # frames already encoded
    ctx = CONTEXT_FRAMES
    n_segments = 0
    state = {"step": step}

    def write_segment(f, frames: np.ndarray, left: int, count: int):
        # frames[:, left:left+count] is the segment, the rest is context; count is a multiple of stride.
        nonlocal n_segments
        codes = _encode_codes(m, frames)
        codes = codes[:, left // stride: (left + count) // stride]
        if state["step"] is None:
            seconds = count * HOP / SR
            overhead = _HEADER.size + 4 + _SEGMENT.size
            state["step"] = _choose_step(codes, seconds, bitrate, overhead)
            log.info("quantiser step %.4f for %.2f kbit/s", state["step"], bitrate)
        q = np.rint(codes / state["step"]).astype(np.int32)
        method, payload = _pack_codes(q)
        f.write(_SEGMENT.pack(codes.shape[1], method, len(payload)))
        f.write(payload)
        n_segments += 1

    try:
        with open(tmp, "w+b") as f:
            f.write(b"\0" * _HEADER.size)  # patched at the end, when the sample count is known
            for block in blocks:
                _check_cancel(cancel, "encoding")
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
            _check_cancel(cancel, "encoding")
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
            header = _HEADER.pack(MAGIC, FORMAT_VERSION, SR, n_samples, N_FFT, HOP, n_mels, stride, dims, digest,
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


def decode_logmel(in_path, *, model=None) -> tuple[np.ndarray, ArepInfo]:
    """Decode an ``.arep`` file to its dB log-mel spectrogram (n_mels, frames), without phase recovery.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "tone.arep")
    >>> _ = encode(np.sin(np.arange(16000) * 0.1), out, sr=16000)
    >>> decode_logmel(out)[0].shape
    (64, 63)
    """
    info, segments = _read_arep(in_path)
    m = load_codec_model(model)
    if info.model_digest != m.digest:
        raise CodecError(f"{in_path}: made with a different codec model (weights {info.model_digest.hex()}, "
                         f"this model is {m.digest.hex()} from {m.path})")
    cfg = m.config
    if (info.n_mels, info.stride, info.latent_dim) != (cfg["n_mels"], cfg["stride"], cfg["latent_dim"]):
        raise CodecError(f"{in_path}: frame parameters do not match the model")
    parts = [_unpack_codes(method, payload, info.latent_dim, blocks, f"{in_path}: segment {i}")
             for i, (blocks, method, payload) in enumerate(segments)]
    codes = np.concatenate(parts, axis=1).astype(np.float32) * np.float32(info.step)
    n_frames = 1 + info.n_samples // HOP
    torch = _torch()
    with torch.no_grad():
        mel = m.module.decode(torch.from_numpy(codes)[None])[0].numpy()
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
    _check_cancel(cancel, "decoding")
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
