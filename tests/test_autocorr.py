"""Autocorrelation, autocorrelograms and correlograms against numpy references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import audiorep.dsp as dsp
from audiorep import ParameterError

DTYPES = [np.float32, np.float64]


def tol(dtype):
    return 2e-5 if dtype == np.float32 else 1e-11


def next_pow2(n):
    return 1 << (n - 1).bit_length()


def ref_autocorrelate(y, max_lag, normalize):
    """Direct lag sums along the last axis in float64."""
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[-1]
    flat = y.reshape(-1, n)
    out = np.stack([np.correlate(row, row, "full")[n - 1 : n - 1 + max_lag] for row in flat])
    if normalize:
        r0 = out[:, :1]
        out = np.where(r0 > 0, out / np.where(r0 > 0, r0, 1), 0)
    return out.reshape(y.shape[:-1] + (max_lag,))


def ref_frames(y, frame_length, hop_length, center):
    y = np.asarray(y, dtype=np.float64)
    if center:
        pad = [(0, 0)] * (y.ndim - 1) + [(frame_length // 2, frame_length // 2)]
        y = np.pad(y, pad)
    n_frames = 1 + (y.shape[-1] - frame_length) // hop_length
    idx = np.arange(n_frames)[:, None] * hop_length + np.arange(frame_length)
    return y[..., idx]


def ref_autocorrelogram(y, frame_length, hop_length, max_lag, window, center=True, normalize=True):
    frames = ref_frames(y, frame_length, hop_length, center) * window
    nfft = next_pow2(frame_length + max_lag - 1)
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2
    r = np.fft.irfft(power, nfft)[..., :max_lag]
    energy = (frames**2).sum(-1)
    if normalize:
        r0 = r[..., :1]
        r = np.where(r0 > 0, r / np.where(r0 > 0, r0, 1), 0)
    return r, energy


def hann(n):
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


# ---------------------------------------------------------------- autocorrelate


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 33, 100])
@pytest.mark.parametrize("normalize", [False, True])
def test_autocorrelate_matches_np_correlate(rng, dtype, n, normalize):
    y = rng.standard_normal(n).astype(dtype)
    got = dsp.autocorrelate(y, normalize=normalize)
    assert got.dtype == dtype and got.shape == (n,)
    want = ref_autocorrelate(y, n, normalize)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol(dtype) * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_autocorrelate_large_matches_fft_pipeline(rng, dtype):
    y = rng.standard_normal((2, 5000)).astype(dtype)
    got = dsp.autocorrelate(y, max_lag=3000, normalize=False)
    nfft = next_pow2(2 * 5000 - 1)
    want = np.fft.irfft(np.abs(np.fft.rfft(y.astype(np.float64), nfft)) ** 2, nfft)[:, :3000]
    np.testing.assert_allclose(got, want, atol=tol(dtype) * 50 * np.abs(want).max())


@pytest.mark.parametrize("max_lag", [1, 5, 17, 64])
def test_autocorrelate_max_lag_and_axis(rng, max_lag):
    y = rng.standard_normal((3, 64, 2))
    got = dsp.autocorrelate(y, max_lag=max_lag, axis=1)
    assert got.shape == (3, max_lag, 2)
    want = ref_autocorrelate(np.moveaxis(y, 1, -1), max_lag, True)
    np.testing.assert_allclose(np.moveaxis(got, 1, -1), want, atol=1e-12)


def test_autocorrelate_non_contiguous_and_int_input(rng):
    y = rng.standard_normal((40, 6))[:, ::2]
    np.testing.assert_allclose(dsp.autocorrelate(y, axis=0), ref_autocorrelate(y.T, 40, True).T, atol=1e-12)
    ints = np.arange(10)
    got = dsp.autocorrelate(ints, normalize=False)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.correlate(ints, ints, "full")[9:], atol=1e-9)


def test_autocorrelate_pure_tone_peaks_at_period():
    period = 25
    y = np.sin(2 * np.pi * np.arange(2000) / period)
    r = dsp.autocorrelate(y, max_lag=40)
    assert np.argmax(r[5:]) + 5 == period
    assert r[0] == 1.0


def test_autocorrelate_zeros_and_length_one():
    np.testing.assert_array_equal(dsp.autocorrelate(np.zeros((2, 50))), np.zeros((2, 50)))
    np.testing.assert_array_equal(dsp.autocorrelate(np.array([3.0]), normalize=False), [9.0])
    np.testing.assert_array_equal(dsp.autocorrelate(np.array([3.0])), [1.0])


def test_autocorrelate_empty_batch():
    assert dsp.autocorrelate(np.zeros((0, 8)), max_lag=4).shape == (0, 4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_lag": 0}, "max_lag=0"),
        ({"max_lag": 11}, "max_lag=11"),
        ({"max_lag": 2.5}, "max_lag=2.5"),
        ({"axis": 3}, "axis=3"),
    ],
)
def test_autocorrelate_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        dsp.autocorrelate(np.ones(10), **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_autocorrelate_rejects_non_finite(bad):
    y = np.ones(10)
    y[3] = bad
    with pytest.raises(ParameterError, match="NaN or Inf"):
        dsp.autocorrelate(y)


def test_autocorrelate_rejects_empty_scalar_complex():
    with pytest.raises(ParameterError, match="zero length"):
        dsp.autocorrelate(np.zeros(0))
    with pytest.raises(ParameterError, match="scalar"):
        dsp.autocorrelate(1.0)
    with pytest.raises(TypeError, match="real"):
        dsp.autocorrelate(np.ones(4, complex))
    with pytest.raises(TypeError):
        dsp.autocorrelate("abc")


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 80), elements=finite),
    st.floats(1e-3, 1e3).map(lambda s: s),
)
def test_normalised_autocorrelation_is_scale_invariant(y, scale):
    if np.sum(y**2) < 1e-12:
        return
    a = dsp.autocorrelate(y)
    b = dsp.autocorrelate(y * scale)
    np.testing.assert_allclose(a, b, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 80), elements=finite))
def test_lag_zero_is_sum_of_squares(y):
    r = dsp.autocorrelate(y, normalize=False)
    np.testing.assert_allclose(r[0], np.sum(y**2), rtol=1e-9, atol=1e-9)
    assert np.all(np.abs(r) <= r[0] * (1 + 1e-9) + 1e-9)


# ---------------------------------------------------------------- autocorrelogram


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "frame_length, hop_length, max_lag",
    [(2048, 512, None), (256, 64, 256), (300, 77, 37), (64, 100, 1), (17, 3, 9), (400, 160, None), (882, 441, 300)],
)
def test_autocorrelogram_matches_reference(rng, dtype, frame_length, hop_length, max_lag):
    sr = 8000
    y = rng.standard_normal(3000).astype(dtype)
    ac = dsp.autocorrelogram(y, sr, frame_length=frame_length, hop_length=hop_length, max_lag=max_lag)
    k = frame_length // 2 if max_lag is None else max_lag
    k = max(k, 1)
    want, energy = ref_autocorrelogram(y, frame_length, hop_length, k, hann(frame_length))
    assert ac.values.dtype == dtype and ac.values.shape == want.shape
    np.testing.assert_allclose(ac.values, want, atol=tol(dtype) * 10)
    np.testing.assert_allclose(ac.energy, energy, rtol=tol(dtype) * 10)
    n_frames = want.shape[0]
    np.testing.assert_allclose(ac.times, np.arange(n_frames) * hop_length / sr)
    np.testing.assert_allclose(ac.lags, np.arange(k) / sr)
    assert ac.frequencies[0] == np.inf
    np.testing.assert_allclose(ac.frequencies[1:], sr / np.arange(1, k))
    assert (ac.sr, ac.frame_length, ac.hop_length) == (sr, frame_length, hop_length)


@pytest.mark.parametrize("dtype", DTYPES)
def test_autocorrelogram_batch_axes_and_unnormalised(rng, dtype):
    y = rng.standard_normal((2, 3, 1500)).astype(dtype)
    ac = dsp.autocorrelogram(y, 16000, frame_length=256, hop_length=128, max_lag=100, normalize=False, workers=2)
    want, energy = ref_autocorrelogram(y, 256, 128, 100, hann(256), normalize=False)
    assert ac.values.shape == want.shape == (2, 3, 12, 100)
    np.testing.assert_allclose(ac.values, want, atol=tol(dtype) * 10 * np.abs(want).max())
    np.testing.assert_allclose(ac.values[..., 0], energy, rtol=tol(dtype) * 10)
    np.testing.assert_allclose(ac.energy, energy, rtol=tol(dtype) * 10)
    single = dsp.autocorrelogram(y[1, 2], 16000, frame_length=256, hop_length=128, max_lag=100, normalize=False)
    np.testing.assert_allclose(single.values, ac.values[1, 2], rtol=1e-6, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("window", ["hamming", "blackman", "rect", None, "array"])
def test_autocorrelogram_windows_and_center_false(rng, window):
    scipy_signal = pytest.importorskip("scipy.signal")
    y = rng.standard_normal(1000)
    if window == "array":
        w = rng.uniform(0.5, 1.0, 128)
        arg = w
    elif window in ("rect", None):
        w, arg = np.ones(128), window
    else:
        w, arg = scipy_signal.get_window(window, 128), window
    ac = dsp.autocorrelogram(y, 1000, frame_length=128, hop_length=50, max_lag=64, window=arg, center=False)
    want, _ = ref_autocorrelogram(y, 128, 50, 64, w, center=False)
    np.testing.assert_allclose(ac.values, want, atol=1e-11)
    np.testing.assert_allclose(ac.times, (np.arange(want.shape[0]) * 50 + 64) / 1000)


def test_get_window_matches_scipy():
    scipy_signal = pytest.importorskip("scipy.signal")
    for name in ("hann", "hamming", "blackman"):
        np.testing.assert_allclose(dsp.get_window(name, 100), scipy_signal.get_window(name, 100), atol=1e-12)


def test_autocorrelogram_silence_and_non_contiguous(rng):
    y = np.zeros(4000)
    y[2000:] = rng.standard_normal(2000)
    ac = dsp.autocorrelogram(y, 8000, frame_length=256, hop_length=256)
    assert np.all(np.isfinite(ac.values))
    np.testing.assert_array_equal(ac.values[:3], 0.0)
    np.testing.assert_array_equal(ac.energy[:3], 0.0)
    np.testing.assert_allclose(ac.values[-2, 0], 1.0)
    wide = rng.standard_normal((1200, 2))
    got = dsp.autocorrelogram(wide[:, 1], 8000, frame_length=128, hop_length=32).values
    want = dsp.autocorrelogram(np.ascontiguousarray(wide[:, 1]), 8000, frame_length=128, hop_length=32).values
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sr": 0}, "sr=0"),
        ({"sr": -5.0}, "sr=-5.0"),
        ({"frame_length": 0}, "frame_length=0"),
        ({"hop_length": 0}, "hop_length=0"),
        ({"max_lag": 0}, "max_lag=0"),
        ({"max_lag": 257}, "max_lag=257"),
        ({"window": "kaiser"}, "window='kaiser'"),
        ({"window": np.ones(100)}, r"shape \(100,\)"),
        ({"workers": 0}, "workers=0"),
    ],
)
def test_autocorrelogram_bad_arguments(kwargs, match):
    args = {"sr": 8000, "frame_length": 256}
    args.update(kwargs)
    sr = args.pop("sr")
    with pytest.raises(ParameterError, match=match):
        dsp.autocorrelogram(np.ones(1000), sr, **args)


def test_autocorrelogram_bad_signals():
    with pytest.raises(ParameterError, match="NaN or Inf"):
        dsp.autocorrelogram(np.array([0.0, np.nan, 1.0] * 100), 8000, frame_length=64)
    with pytest.raises(ParameterError, match="zero length"):
        dsp.autocorrelogram(np.zeros(0), 8000)
    with pytest.raises(ParameterError, match="fewer than frame_length=256"):
        dsp.autocorrelogram(np.ones(100), 8000, frame_length=256, center=False)
    # Centred frames exist for any non-empty signal.
    assert dsp.autocorrelogram(np.ones(100), 8000, frame_length=256).values.shape == (1, 128)


# ---------------------------------------------------------------- correlogram


def ref_correlogram(y, sr, n_bands, fmin, fmax, frame_length, hop_length, max_lag, scale):
    frames = ref_frames(y, frame_length, hop_length, True) * hann(frame_length)
    nfft = next_pow2(frame_length + max_lag - 1)
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2
    if scale == "mel":
        to, back = (lambda f: dsp._hz_to_mel(f, False)), (lambda m: dsp._mel_to_hz(m, False))
    else:
        to = lambda f: 21.4 * np.log10(1 + 0.00437 * f)  # noqa: E731
        back = lambda e: (10 ** (e / 21.4) - 1) / 0.00437  # noqa: E731
    edges = back(np.linspace(to(fmin), to(fmax), n_bands + 2))
    freqs = np.arange(nfft // 2 + 1) * sr / nfft
    weights = np.zeros((n_bands, freqs.size))
    for b in range(n_bands):
        lo, c, hi = edges[b : b + 3]
        weights[b] = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
    band_power = power[..., None, :] * weights
    r = np.fft.irfft(band_power, nfft)[..., :max_lag]
    energy = r[..., 0].copy()
    r0 = r[..., :1]
    return np.where(r0 > 0, r / np.where(r0 > 0, r0, 1), 0), energy, edges[1:-1]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale, n_bands", [("mel", 8), ("erb", 7), ("mel", 1)])
def test_correlogram_matches_reference(rng, dtype, scale, n_bands):
    sr = 8000
    y = rng.standard_normal((2, 1500)).astype(dtype)
    cg = dsp.correlogram(
        y, sr, n_bands=n_bands, fmin=100.0, frame_length=256, hop_length=128, max_lag=64, scale=scale
    )
    want, energy, centres = ref_correlogram(y, sr, n_bands, 100.0, sr / 2, 256, 128, 64, scale)
    assert cg.values.dtype == dtype and cg.values.shape == want.shape == (2, 12, n_bands, 64)
    np.testing.assert_allclose(cg.values, want, atol=tol(dtype) * 20)
    np.testing.assert_allclose(cg.energy, energy, rtol=tol(dtype) * 20, atol=tol(dtype) * energy.max())
    np.testing.assert_allclose(cg.band_frequencies, centres, rtol=1e-12)
    np.testing.assert_allclose(cg.times, np.arange(12) * 128 / sr)


def test_correlogram_band_sees_its_tone():
    sr = 8000
    y = np.sin(2 * np.pi * 1000 * np.arange(4000) / sr)
    cg = dsp.correlogram(y, sr, n_bands=20, fmin=100.0, frame_length=512, hop_length=256)
    loudest = np.argmax(cg.energy[5])
    assert abs(cg.band_frequencies[loudest] - 1000) < 150
    assert np.argmax(cg.values[5, loudest, 4:]) + 4 == 8  # period of 1 kHz at 8 kHz


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_bands": 0}, "n_bands=0"),
        ({"fmin": 5000.0, "fmax": 1000.0}, "fmin=5000.0"),
        ({"fmax": 5000.0}, "fmax=5000.0"),
        ({"fmin": -1.0}, "fmin=-1.0"),
        ({"scale": "bark"}, "scale='bark'"),
        ({"max_lag": 300}, "max_lag=300"),
    ],
)
def test_correlogram_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        dsp.correlogram(np.ones(1000), 8000, frame_length=256, **kwargs)


def _reference_frames(y, frame_length, hop_length):
    frames = np.lib.stride_tricks.sliding_window_view(y.astype(np.float64), frame_length)[::hop_length]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)
    return frames * window


@pytest.mark.parametrize("kind", ["autocorrelogram", "correlogram", "melspectrogram"])
def test_quiet_frames_beside_loud_ones_keep_their_own_precision(kind):
    # Frames are transformed in packed pairs; a frame 100 dB quieter than its partner
    # must still come out with float32 accuracy relative to itself.
    rng = np.random.default_rng(7)
    sr, frame = 8000, 256
    gains = np.tile([1.0, 1e-5], 8)  # non-overlapping frames: loud, quiet, loud, quiet, ...
    y = (np.repeat(gains, frame) * rng.standard_normal(16 * frame)).astype(np.float32)
    frames = _reference_frames(y, frame, frame)
    power = np.abs(np.fft.rfft(frames, 1024)) ** 2
    opts = dict(frame_length=frame, hop_length=frame, center=False)
    if kind == "autocorrelogram":
        got = dsp.autocorrelogram(y, sr, max_lag=64, **opts)
        ref = np.fft.irfft(power, 1024)[:, :64]
        np.testing.assert_allclose(got.values, ref / ref[:, :1], atol=2e-5)
        np.testing.assert_allclose(got.energy, ref[:, 0], rtol=1e-4)
    elif kind == "correlogram":
        got = dsp.correlogram(y, sr, n_bands=4, fmin=100.0, max_lag=64, **opts)
        ref = dsp.correlogram(y.astype(np.float64), sr, n_bands=4, fmin=100.0, max_lag=64, **opts)
        np.testing.assert_allclose(got.values, ref.values, atol=1e-4)
        np.testing.assert_allclose(got.energy, ref.energy, rtol=1e-3)
    else:
        S = dsp.melspectrogram(y, sr, n_fft=frame, hop_length=frame, n_mels=16, log=False, center=False)
        ref = np.abs(np.fft.rfft(frames, frame)) ** 2 @ dsp.mel_filterbank(sr, frame, n_mels=16).T
        np.testing.assert_allclose(S.T, ref, rtol=1e-3)


def test_autocorrelate_takes_librosa_max_size(rng):
    librosa = pytest.importorskip("librosa")
    y = rng.standard_normal(300)
    ours = dsp.autocorrelate(y, max_size=40, normalize=False)
    np.testing.assert_allclose(ours, librosa.autocorrelate(y, max_size=40), rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(dsp.autocorrelate(y, max_size=40), dsp.autocorrelate(y, max_lag=40))
    with pytest.raises(ParameterError, match="max_size=40"):
        dsp.autocorrelate(y, max_lag=30, max_size=40)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(frame_length=st.integers(1, 5000), share=st.floats(0.0, 1.0))
def test_the_cpu_transform_length_has_factors_2_3_5_and_never_exceeds_the_power_of_two(frame_length, share):
    from audiorep import _core

    max_lag = max(1, int(share * frame_length))
    need = frame_length + max_lag - 1
    n = _core.acf_fast_fft_size(frame_length, max_lag)
    assert need <= n <= _core.acf_fft_size(frame_length, max_lag) == next_pow2(need)
    m = n
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    assert m == 1 and (n % 2 == 0 or n == 1)


@pytest.mark.parametrize("frame_length", [400, 441, 882, 1000, 1323])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frame_lengths_that_take_a_mixed_radix_transform_match_a_direct_correlation(frame_length, dtype, rng):
    from audiorep import _core

    max_lag = frame_length // 2
    if frame_length in (400, 882):  # these do take a length other than the power of two
        assert _core.acf_fast_fft_size(frame_length, max_lag) < _core.acf_fft_size(frame_length, max_lag)
    y = rng.standard_normal(6 * frame_length).astype(dtype)
    got = dsp.autocorrelogram(y, 16000, frame_length=frame_length, hop_length=frame_length, max_lag=max_lag,
                              center=False, window=None, normalize=False)
    frames = y.astype(np.float64).reshape(6, frame_length)
    want = np.stack([np.correlate(f, f, "full")[frame_length - 1:frame_length - 1 + max_lag] for f in frames])
    scale = np.abs(want[:, :1])
    np.testing.assert_allclose(got.values / scale, want / scale, atol=50 * np.finfo(dtype).eps * np.sqrt(frame_length))
