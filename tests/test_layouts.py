"""Every public DSP function gives the same answer whatever the memory layout of its input.

A view with negative strides, a transposed batch, a stride-0 broadcast, an unaligned buffer, a
big-endian or read-only array holds the same values as its C-contiguous copy, so the result must
be the copy's, bit for bit: every row is transformed on its own, so thread counts do not change
the summation order either. The FFTs are also checked against numpy.fft on those views.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiorep import dsp
from audiorep.errors import ParameterError

LAYOUTS = ["contiguous", "negative", "transposed", "broadcast", "unaligned", "big_endian", "read_only", "strided"]
SR = 8000


def in_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """An array holding ``a``'s values (or, for a broadcast, its first row repeated) in ``layout``."""
    if layout == "contiguous":
        return a
    if layout == "negative":
        return a[..., ::-1].copy()[..., ::-1]
    if layout == "transposed":
        return np.ascontiguousarray(a.T).T
    if layout == "broadcast":
        return np.broadcast_to(a[:1], a.shape)
    if layout == "unaligned":
        raw = np.zeros(a.nbytes + 1, np.uint8)
        out = np.frombuffer(raw[1:].data, dtype=a.dtype, count=a.size).reshape(a.shape)
        out[...] = a
        assert not out.flags.aligned or a.dtype.alignment == 1
        return out
    if layout == "big_endian":
        return a.astype(a.dtype.newbyteorder(">"))
    if layout == "read_only":
        out = a.copy()
        out.flags.writeable = False
        return out
    if layout == "strided":
        return np.repeat(a, 2, axis=-1)[..., ::2]
    raise AssertionError(layout)


def plain(v: np.ndarray) -> np.ndarray:
    """The C-contiguous, native-order copy of ``v``."""
    return np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("="))


def arrays_of(result):
    if dataclasses.is_dataclass(result):
        return [getattr(result, f.name) for f in dataclasses.fields(result)
                if isinstance(getattr(result, f.name), np.ndarray)]
    return [result]


def assert_same(r1, r2):
    for x1, x2 in zip(arrays_of(r1), arrays_of(r2), strict=True):
        assert x1.dtype == x2.dtype and x1.shape == x2.shape
        np.testing.assert_array_equal(x1, x2)


FFT_OPTIONS = [{}, {"n": 50}, {"n": 90}, {"axis": 0}, {"axis": 0, "n": 3}, {"workers": -1}, {"workers": 3, "n": 70},
               {"norm": "ortho"}, {"norm": "forward", "axis": 0}]

ANALYSES = {
    "melspectrogram": lambda y, **kw: dsp.melspectrogram(y, SR, n_fft=256, hop_length=64, n_mels=32, **kw),
    "autocorrelate": lambda y, **kw: dsp.autocorrelate(y, max_lag=100, **kw),
    "autocorrelogram": lambda y, **kw: dsp.autocorrelogram(y, SR, frame_length=256, hop_length=128, **kw),
    "correlogram": lambda y, **kw: dsp.correlogram(y, SR, n_bands=8, frame_length=256, hop_length=128, **kw),
    "fundamental_frequency": lambda y, **kw: dsp.fundamental_frequency(y, SR),
    "pitch_track": lambda y, **kw: dsp.pitch_track(y, SR, frame_length=256, hop_length=128),
    "stft": lambda y, **kw: dsp.stft(y, n_fft=256, hop_length=100, **kw),
}
ANALYSIS_OPTIONS = {
    "melspectrogram": [{}, {"center": False}],
    "autocorrelate": [{}, {"workers": 2}],
    "autocorrelogram": [{}, {"center": False}, {"workers": -1}],
    "correlogram": [{}, {"center": False}],
    "fundamental_frequency": [{}],
    "pitch_track": [{}],
    "stft": [{}, {"center": False}],
}


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 4), length=st.integers(8, 200),
       dtype=st.sampled_from(["float32", "float64", "complex64", "complex128", "int16"]),
       layout=st.sampled_from(LAYOUTS), fn=st.sampled_from(["fft", "ifft", "rfft", "irfft"]),
       options=st.sampled_from(FFT_OPTIONS))
def test_ffts_agree_with_the_contiguous_copy_and_with_numpy(seed, rows, length, dtype, layout, fn, options):
    rng = np.random.default_rng(seed)
    if options.get("axis") == 0:
        rows = max(rows, 2)  # irfft of one point along the axis has no default length
    a = rng.standard_normal((rows, length)) * 100
    if dtype.startswith("complex"):
        a = a + 1j * rng.standard_normal((rows, length))
    a = a.astype(dtype)
    if fn == "rfft" and a.dtype.kind == "c":
        return
    v = in_layout(a, layout)
    got = getattr(dsp, fn)(v, **options)
    assert_same(got, getattr(dsp, fn)(plain(v), **options))
    ref = getattr(np.fft, fn)(plain(v).astype(np.complex128 if a.dtype.kind == "c" else np.float64),
                              **{k: w for k, w in options.items() if k != "workers"})
    single = got.dtype in (np.complex64, np.float32)
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, rtol=0, atol=scale * (2e-5 if single else 1e-11))


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 3), length=st.integers(300, 1500),
       dtype=st.sampled_from(["float32", "float64"]), layout=st.sampled_from(LAYOUTS),
       fn=st.sampled_from(sorted(ANALYSES)), choice=st.integers(0, 2))
def test_analyses_agree_with_the_contiguous_copy(seed, rows, length, dtype, layout, fn, choice):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((rows, length)).astype(dtype)
    options = ANALYSIS_OPTIONS[fn][choice % len(ANALYSIS_OPTIONS[fn])]
    v = in_layout(a, layout)
    assert_same(ANALYSES[fn](v, **options), ANALYSES[fn](plain(v), **options))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_autocorrelate_matches_numpy_on_every_layout(layout, rng):
    a = rng.standard_normal((3, 257))
    v = in_layout(a, layout)
    got = dsp.autocorrelate(v, max_lag=50, normalize=False)
    for row, out in zip(plain(v), got, strict=True):
        ref = np.correlate(row, row, "full")[len(row) - 1: len(row) - 1 + 50]
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-9)


ALL = {
    **{name: (lambda name: lambda y: getattr(dsp, name)(y))(name) for name in ("fft", "ifft", "rfft", "irfft")},
    **ANALYSES,
}


@pytest.mark.parametrize("fn", sorted(ALL))
@pytest.mark.parametrize("value", [np.float64(1.0), np.zeros(0), np.zeros((3, 0)), np.zeros((0, 0))],
                         ids=["0-d", "empty", "empty-rows", "empty-both"])
def test_scalars_and_empty_arrays_are_refused_by_name(fn, value):
    with pytest.raises(ParameterError, match="scalar|zero length"):
        ALL[fn](value)


def test_every_function_gives_the_single_thread_answer_from_eight_threads(rng):
    signals = [rng.standard_normal((2, 1024 + 37 * i)) for i in range(8)]
    expected = {name: [fn(y) for y in signals] for name, fn in ALL.items()}
    results: dict = {}
    errors = []
    start = threading.Barrier(8)

    def work(i):
        try:
            start.wait()
            for _ in range(3):
                for name, fn in ALL.items():
                    results[(name, i)] = fn(signals[i])
        except Exception as exc:  # collected, so the main thread reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for (name, i), result in results.items():
        assert_same(result, expected[name][i])


def test_absurd_sizes_are_refused_before_anything_is_allocated():
    import tracemalloc

    with pytest.raises(ParameterError, match="workers=2147483648 is more threads"):
        dsp.rfft(np.zeros(16), workers=2**31)
    tracemalloc.start()
    try:
        for fn in (dsp.autocorrelogram, dsp.correlogram, dsp.pitch_track):
            with pytest.raises(ParameterError, match="fewer than frame_length=1000000000"):
                fn(np.zeros(16), SR, frame_length=10**9, center=False)
        with pytest.raises(ParameterError, match="fewer than frame_length=1000000000"):
            dsp.melspectrogram(np.zeros(16), SR, n_fft=10**9, center=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak  # no 10**9-sample window was built first


def test_results_too_large_for_memory_are_refused_by_size(monkeypatch):
    from audiorep import _util

    monkeypatch.setattr(_util, "memory_limit", lambda: 8 << 20)  # as under a tight ulimit -v
    with pytest.raises(ParameterError, match=r"the inverse FFT would take 5\.4 GiB \(shape \(11111, 65537\), "
                                             r"8 bytes each\), more than the 8\.0 MiB"):
        dsp.irfft(np.zeros((11111, 10), np.complex128), n=65537)
    with pytest.raises(ParameterError, match=r"the FFT would take 4\.0 GiB \(shape \(2, 134217728\)"):
        dsp.fft(np.zeros((2, 8)), n=2**27)
    with pytest.raises(ParameterError, match="4097 frames of 2048 samples would take"):
        dsp.melspectrogram(np.zeros(2**21, np.float32), SR, n_fft=2048, hop_length=512)
    assert dsp.rfft(np.zeros((4, 1024))).shape == (4, 513)  # work that fits still runs


# ---------------------------------------------------------------- short-time transforms

def test_stft_matches_a_numpy_reference(rng):
    import scipy.signal

    y = rng.standard_normal((2, 3001))
    n_fft, hop = 512, 160
    padded = np.pad(y, ((0, 0), (n_fft // 2, n_fft // 2)))
    n_frames = 1 + y.shape[1] // hop
    frames = np.stack([padded[:, t * hop: t * hop + n_fft] for t in range(n_frames)], axis=1)
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)
    reference = np.swapaxes(np.fft.rfft(frames * window, axis=-1), -1, -2)
    got = dsp.stft(y, n_fft=n_fft, hop_length=hop)
    assert got.shape == reference.shape == (2, 257, n_frames) and got.dtype == np.complex128
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-10)
    assert dsp.stft(y.astype(np.float32), n_fft=n_fft, hop_length=hop).dtype == np.complex64


@pytest.mark.parametrize(("n_fft", "hop", "center"), [(512, 128, True), (512, 200, True), (512, 256, False),
                                                      (256, 64, False), (300, 75, True)])
def test_istft_inverts_stft(rng, n_fft, hop, center):
    y = rng.standard_normal((3, 4000))
    back = dsp.istft(dsp.stft(y, n_fft=n_fft, hop_length=hop, center=center), hop_length=hop, n_fft=n_fft,
                     center=center, length=4000)
    assert back.shape == y.shape
    # without centring, the first and last samples lie under the edge of a single window
    inner = slice(0, 4000) if center else slice(n_fft, 4000 - n_fft)
    np.testing.assert_allclose(back[:, inner], y[:, inner], rtol=0, atol=1e-9)


def test_istft_refuses_what_it_cannot_invert():
    with pytest.raises(ParameterError, match="expected \\(..., bins, frames\\)"):
        dsp.istft(np.zeros(10, complex))
    with pytest.raises(ParameterError, match="n_fft=512 gives 257 bins, S has 129"):
        dsp.istft(np.zeros((129, 4), complex), n_fft=512)
    with pytest.raises(ParameterError, match="length=-1"):
        dsp.istft(np.zeros((129, 4), complex), length=-1)
