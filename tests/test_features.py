import numpy as np
import pytest

import audiorep.dsp as dsp
from audiorep.errors import ParameterError
from audiorep.features import FeatureParams, compute_features, pool_lags

SR = 8000


def _burst_then_silence(seed=0):
    """A loud noise burst, a quiet tail 100 dB down, then digital silence."""
    rng = np.random.default_rng(seed)
    loud = rng.standard_normal(SR // 2)
    quiet = 1e-5 * rng.standard_normal(SR // 4)
    return np.concatenate([loud, quiet, np.zeros(SR // 4)]).astype(np.float32)


def test_params_round_trip_and_sizes():
    p = FeatureParams(kind="correlogram", n_bands=4, lag_bins=8)
    assert FeatureParams.from_dict(p.to_dict()) == p
    assert p.n_features == 4 * 9
    assert FeatureParams(kind="autocorrelogram", lag_bins=0, frame_length=64).n_features == 33
    assert FeatureParams(kind="mel", n_mels=40).n_features == 40
    # Unknown keys from older or newer stores are ignored.
    assert FeatureParams.from_dict({"kind": "mel", "future": 1}) == FeatureParams()


@pytest.mark.parametrize("bad", [dict(kind="cqt"), dict(frame_length=0), dict(lag_bins=-1),
                                 dict(max_lag=5000), dict(sr=-1), dict(duration=0.0)])
def test_params_reject_bad_values(bad):
    with pytest.raises(ParameterError, match=next(iter(bad))):
        FeatureParams(**bad)


def test_pool_lags_matches_bin_means():
    values = np.arange(9, dtype=np.float64)[None, :]
    # Lags 1..8, log-spaced edges 1, 2.83, 8 (two bins of fractional width).
    edges = np.geomspace(1, 9, 3)
    fine = np.repeat(np.arange(1, 9), 1000) + 0.0
    pos = np.repeat(np.arange(1, 9), 1000) + (np.arange(8000) % 1000) / 1000.0
    expected = [fine[(pos >= a) & (pos < b)].mean() for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_allclose(pool_lags(values, 2)[0], expected, rtol=1e-3)


def test_mel_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    params = FeatureParams(kind="mel", n_mels=32, frame_length=512, hop_length=128, top_db=80.0)
    ours = compute_features(y, SR, params)
    S = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, hop_length=128, n_mels=32, power=2.0)
    ref = librosa.power_to_db(S, ref=np.max, top_db=80.0).T
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=0.05)


@pytest.mark.parametrize("kind", ["autocorrelogram", "correlogram"])
def test_correlation_kinds_gate_quiet_frames(kind):
    y = _burst_then_silence()
    params = FeatureParams(kind=kind, frame_length=256, hop_length=128, n_bands=4, lag_bins=8, top_db=60.0)
    x = compute_features(y, SR, params)
    assert x.shape[1] == params.n_features
    assert np.isfinite(x).all()
    per_curve = x.reshape(x.shape[0], -1, 9)
    curves, log_energy = per_curve[..., :-1], per_curve[..., -1]
    assert np.abs(curves).max() <= 1.0
    # Frames entirely in the quiet tail or the silence: zero curves, energy at the floor.
    tail = slice(x.shape[0] * 3 // 4 + 2, -2)
    assert np.all(curves[tail] == 0.0)
    floor = log_energy.max() - 6.0
    np.testing.assert_allclose(log_energy[tail], floor, atol=1e-3)
    assert np.all(log_energy >= floor - 1e-3)
    # Frames in the loud burst keep their normalised autocorrelation.
    assert np.any(curves[2:10] != 0.0)


def test_autocorrelogram_loud_frames_match_dsp():
    y = np.random.default_rng(2).standard_normal(SR // 2)
    params = FeatureParams(kind="autocorrelogram", frame_length=256, hop_length=128, lag_bins=0)
    x = compute_features(y.astype(np.float32), SR, params)
    ref = dsp.autocorrelogram(y, SR, frame_length=256, hop_length=128)
    loud = ref.energy > ref.energy.max() * 1e-8
    np.testing.assert_allclose(x[loud, :-1], ref.values[loud], atol=1e-5)
    np.testing.assert_allclose(x[loud, -1], np.log10(ref.energy[loud]), rtol=1e-5)


def test_silent_clip_is_all_zero_curves():
    x = compute_features(np.zeros(SR // 4, np.float32), SR,
                         FeatureParams(kind="autocorrelogram", frame_length=256, hop_length=128, lag_bins=8))
    assert np.all(x[:, :-1] == 0.0) and np.isfinite(x).all()


def test_rejects_non_mono():
    with pytest.raises(ParameterError, match="mono"):
        compute_features(np.zeros((2, 100), np.float32), SR, FeatureParams())


def test_mel_and_correlogram_side_by_side_are_each_view_unchanged():
    rng = np.random.default_rng(3)
    y = (rng.standard_normal(16000) * np.linspace(0, 1, 16000)).astype(np.float32)
    common = dict(sr=16000, frame_length=512, hop_length=256, n_mels=24, n_bands=6, lag_bins=8, top_db=60.0)
    joined = FeatureParams(kind="mel+correlogram", **common)
    x = compute_features(y, 16000, joined)
    mel = compute_features(y, 16000, FeatureParams(kind="mel", **common))
    cg = compute_features(y, 16000, FeatureParams(kind="correlogram", **common))
    assert x.shape == (len(mel), joined.n_features) and joined.n_features == 24 + 6 * 9
    np.testing.assert_array_equal(x[:, :24], mel)
    np.testing.assert_array_equal(x[:, 24:], cg)
