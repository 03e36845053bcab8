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

Modules
-------
:mod:`~audiorep.codec.synthesis`  the log-mel view and its inversion (mel inversion, Griffin-Lim)
:mod:`~audiorep.codec.entropy`    quantisation and entropy coding of the codes
:mod:`~audiorep.codec.bitstream`  the ``.arep`` byte layout and its checked reader
:mod:`~audiorep.codec.network`    model files (the network itself is :mod:`audiorep.models.codec_network`)
:mod:`~audiorep.codec.stream`     block-wise input and framing
:mod:`~audiorep.codec.encoding`, :mod:`~audiorep.codec.decoding`   encode and decode

Examples
--------
>>> import numpy as np, os, tempfile
>>> from audiorep import codec
>>> out = os.path.join(tempfile.mkdtemp(), "tone.arep")
>>> codec.encode(np.sin(np.arange(16000) * 0.1), out, sr=16000).n_samples
16000
>>> codec.decode(out)[0].shape
(16000,)
"""

from __future__ import annotations

from .bitstream import FORMAT_VERSION, MAGIC, MAX_STEP, SEGMENT_FRAMES, ArepInfo, arep_info
from .decoding import DB_RANGE, decode, decode_logmel
from .encoding import encode
from .entropy import DEFAULT_QUALITY, quality_to_step
from .network import DEFAULT_MODEL, LoadedModel, load_codec_model, model_digest, save_codec_model
from .synthesis import DB_FLOOR, HOP, N_FFT, N_MELS, SR, griffin_lim, logmel, mel_to_magnitude, synthesize

__all__ = ["DB_FLOOR", "DB_RANGE", "DEFAULT_MODEL", "DEFAULT_QUALITY", "FORMAT_VERSION", "HOP", "MAGIC", "MAX_STEP",
           "N_FFT", "N_MELS", "SEGMENT_FRAMES", "SR", "ArepInfo", "CodecAutoencoder", "LoadedModel", "arep_info",
           "decode", "decode_logmel", "encode", "griffin_lim", "load_codec_model", "logmel", "mel_to_magnitude",
           "model_digest", "quality_to_step", "save_codec_model", "synthesize"]


def __getattr__(name):
    # The network class needs PyTorch, which `import audiorep` must not pull in.
    if name == "CodecAutoencoder":
        from ..models.codec_network import CodecAutoencoder

        return CodecAutoencoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
