"""Mel spectrograms against librosa."""

from __future__ import annotations

import numpy as np
import pytest

import audiorep.dsp as dsp
from audiorep import ParameterError

librosa = pytest.importorskip("librosa")


@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", ["slaney", None])
@pytest.mark.parametrize("fmin, fmax", [(0.0, None), (60.0, 8000.0)])
def test_mel_filterbank_matches_librosa(htk, norm, fmin, fmax):
    got = dsp.mel_filterbank(22050, 1024, n_mels=64, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    want = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=64, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("htk, norm", [(False, "slaney"), (True, None), (True, "slaney")])
def test_melspectrogram_matches_librosa(rng, dtype, htk, norm):
    sr = 22050
    y = (0.1 * rng.standard_normal(sr // 2)).astype(dtype)
    power = librosa.feature.melspectrogram(y=y, sr=sr, htk=htk, norm=norm)
    got = dsp.melspectrogram(y, sr, htk=htk, norm=norm, log=False)
    assert got.shape == power.shape and got.dtype == dtype
    rtol = 1e-4 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(got, power, rtol=rtol, atol=rtol * power.max())
    db = dsp.melspectrogram(y, sr, htk=htk, norm=norm)
    np.testing.assert_allclose(db, librosa.power_to_db(power, ref=1.0, top_db=80.0), atol=1e-3)


@pytest.mark.parametrize("power_exp", [1.0, 1.5])
def test_melspectrogram_options_match_librosa(rng, power_exp):
    sr = 16000
    y = rng.standard_normal(7000)
    kwargs = dict(n_fft=512, hop_length=160, n_mels=40, fmin=50.0, fmax=7000.0)
    want = librosa.feature.melspectrogram(y=y, sr=sr, power=power_exp, window="hamming", center=False, **kwargs)
    got = dsp.melspectrogram(y, sr, power=power_exp, window="hamming", center=False, log=False, **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * want.max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sr, n_fft, hop_length", [(16000, 400, 160), (44100, 882, 441), (44100, 1323, 441)])
def test_melspectrogram_at_audio_frame_lengths_matches_librosa(rng, dtype, sr, n_fft, hop_length):
    # 25 ms at 16 kHz, 20 and 30 ms at 44.1 kHz: lengths with factors 3, 5 and 7.
    y = (0.1 * rng.standard_normal(sr // 4)).astype(dtype)
    kwargs = dict(n_fft=n_fft, hop_length=hop_length, n_mels=40)
    want = librosa.feature.melspectrogram(y=y, sr=sr, **kwargs)
    got = dsp.melspectrogram(y, sr, log=False, **kwargs)
    assert got.shape == want.shape and got.dtype == dtype
    rtol = 1e-4 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * want.max())


def test_melspectrogram_top_db_and_batch(rng):
    sr = 8000
    y = rng.standard_normal((2, 3, 4000))
    y[0, 1, :2000] = 0.0  # silence reaches the clipping floor
    got = dsp.melspectrogram(y, sr, n_fft=256, hop_length=128, n_mels=32, top_db=40.0)
    assert got.shape == (2, 3, 32, 32)
    for index in np.ndindex(2, 3):
        one = dsp.melspectrogram(y[index], sr, n_fft=256, hop_length=128, n_mels=32, top_db=40.0)
        np.testing.assert_allclose(got[index], one, atol=1e-9)
        assert one.max() - one.min() <= 40.0 + 1e-9
    unclipped = dsp.melspectrogram(y[0, 1], sr, n_fft=256, hop_length=128, n_mels=32, top_db=None)
    assert unclipped.min() == pytest.approx(-100.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_fft": 0}, "frame_length=0"),
        ({"hop_length": -1}, "hop_length=-1"),
        ({"n_mels": 0}, "n_mels=0"),
        ({"power": 0.0}, "power=0.0"),
        ({"fmax": 9000.0}, "fmax=9000.0"),
        ({"fmin": 4000.0, "fmax": 3000.0}, "fmin=4000.0"),
        ({"norm": "l2"}, "norm='l2'"),
        ({"top_db": -1.0}, "top_db=-1.0"),
        ({"window": "triangle"}, "window='triangle'"),
    ],
)
def test_melspectrogram_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        dsp.melspectrogram(np.ones(4000), 16000, **kwargs)


def test_melspectrogram_bad_signals():
    with pytest.raises(ParameterError, match="NaN or Inf"):
        dsp.melspectrogram(np.full(4000, np.inf), 16000)
    with pytest.raises(ParameterError, match="fewer than frame_length"):
        dsp.melspectrogram(np.ones(100), 16000, center=False)
