"""Fundamental frequency and pitch tracks on synthetic tones."""

from __future__ import annotations

import numpy as np
import pytest

import audiorep.dsp as dsp
from audiorep import ParameterError

SR = 16000


def tone(freqs, seconds=0.5, sr=SR, amps=None, phase=0.3):
    t = np.arange(int(seconds * sr)) / sr
    amps = np.ones(len(freqs)) if amps is None else amps
    return sum(a * np.sin(2 * np.pi * f * t + phase * i) for i, (f, a) in enumerate(zip(freqs, amps)))


@pytest.mark.parametrize("f0", [55.0, 123.4, 440.0, 1234.5])
def test_fundamental_frequency_of_pure_tones(f0):
    y = tone([f0]) + 0.7  # the offset would win at 0 Hz without detrending
    assert dsp.fundamental_frequency(y, SR) == pytest.approx(f0, rel=0.01)
    assert dsp.fundamental_frequency(y, SR, detrend=False) == 0.0


def test_fundamental_frequency_batch_axis_and_silence():
    y = np.stack([tone([300.0]), tone([700.0]), np.zeros(SR // 2)], axis=0).astype(np.float32)
    f = dsp.fundamental_frequency(y.T, SR, axis=0)
    assert f.shape == (3,)
    np.testing.assert_allclose(f[:2], [300.0, 700.0], rtol=0.01)
    assert np.isnan(f[2])


@pytest.mark.parametrize("f0", [80.0, 200.0, 330.0, 1000.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pitch_track_pure_tones(f0, dtype):
    track = dsp.pitch_track(tone([f0]).astype(dtype), SR, frame_length=1024, hop_length=256)
    assert track.f0.shape == track.times.shape == track.strength.shape
    inner = track.f0[2:-2]
    assert not np.isnan(inner).any()
    np.testing.assert_allclose(inner, f0, rtol=0.01)


@pytest.mark.parametrize(
    "harmonics, amps",
    [
        (range(1, 8), None),  # full harmonic stack
        (range(2, 7), None),  # missing fundamental
        (range(1, 5), np.array([0.3, 1.0, 0.8, 0.5])),  # weak fundamental, strong second harmonic
    ],
)
def test_pitch_track_harmonic_stacks(harmonics, amps):
    f0 = 200.0
    y = tone([f0 * h for h in harmonics], amps=amps)
    track = dsp.pitch_track(y, SR, frame_length=1024, hop_length=256)
    inner = track.f0[2:-2]
    assert not np.isnan(inner).any()
    np.testing.assert_allclose(inner, f0, rtol=0.01)
    assert np.all(track.strength[2:-2] > 0.8)


def test_pitch_track_batch_noise_and_silence(rng):
    y = np.stack([tone([250.0]), rng.standard_normal(SR // 2), np.zeros(SR // 2)])
    track = dsp.pitch_track(y, SR, frame_length=1024, hop_length=256)
    assert track.f0.shape == (3, 32)
    np.testing.assert_allclose(track.f0[0, 2:-2], 250.0, rtol=0.01)
    assert np.isnan(track.f0[1]).all()
    assert np.isnan(track.f0[2]).all()
    assert np.all(track.strength[2] == 0.0)


def test_pitch_track_voicing_follows_the_signal():
    y = np.concatenate([np.zeros(SR // 2), tone([440.0]), np.zeros(SR // 2)])
    track = dsp.pitch_track(y, SR, frame_length=1024, hop_length=512)
    voiced = ~np.isnan(track.f0)
    assert voiced[(track.times > 0.6) & (track.times < 0.9)].all()
    assert not voiced[(track.times < 0.4) | (track.times > 1.1)].any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fmin": 0.0}, "fmin=0.0"),
        ({"fmin": 500.0, "fmax": 400.0}, "fmin=500.0"),
        ({"fmax": 9000.0}, "fmax=9000.0"),
        ({"fmin": 10.0}, "too long for frame_length=1024"),
        ({"threshold": 0.0}, "threshold=0.0"),
        ({"peak_ratio": 1.5}, "peak_ratio=1.5"),
        ({"hop_length": 0}, "hop_length=0"),
    ],
)
def test_pitch_track_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        dsp.pitch_track(np.ones(4000), SR, frame_length=1024, **kwargs)


def test_fundamental_frequency_bad_arguments():
    with pytest.raises(ParameterError, match="sr=0"):
        dsp.fundamental_frequency(np.ones(10), 0)
    with pytest.raises(ParameterError, match="NaN or Inf"):
        dsp.fundamental_frequency(np.array([1.0, np.nan]), SR)
    with pytest.raises(ParameterError, match="zero length"):
        dsp.fundamental_frequency(np.zeros((3, 0)), SR)
