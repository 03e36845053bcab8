"""The GPU algorithms, run on the CPU through the shared __host__ __device__ functions.

The harness calls the index, butterfly, twiddle, bit-reversal, Bluestein and
frame-pair functions of csrc/include/audiorep/fft_index.hpp in the order the
CUDA kernels do, so these tests check the GPU arithmetic in every run, with or
without a GPU and with or without the CUDA build.
"""

from __future__ import annotations

import numpy as np
import pytest

import audiorep
import audiorep.dsp as dsp
from audiorep import _core

SIZES = list(range(1, 301, 1))
POWERS = [512, 1024, 2048, 4096, 8192]
DTYPES = [(np.complex64, 2e-5), (np.complex128, 1e-12)]


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def _complex_rows(rng, rows, n, dtype):
    return (rng.standard_normal((rows, n)) + 1j * rng.standard_normal((rows, n))).astype(dtype)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_c2c_matches_numpy_for_every_small_size(rng, dtype, tol):
    for n in SIZES:
        x = _complex_rows(rng, 2, n, dtype)
        ref = np.fft.fft(x.astype(np.complex128), axis=-1)
        got = _core.harness_c2c(x, True)
        assert got.dtype == dtype
        assert _rel(got, ref) < tol * max(1.0, np.log2(n)), n
        back = _core.harness_c2c(got, False, 1.0 / n)
        assert _rel(back, x) < 2 * tol * max(1.0, np.log2(n)), n


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("n", POWERS + [1000, 4097])
def test_c2c_large_sizes_and_the_inverse(rng, dtype, tol, n):
    x = _complex_rows(rng, 3, n, dtype)
    got = _core.harness_c2c(x, False, 1.0 / n)
    assert _rel(got, np.fft.ifft(x.astype(np.complex128), axis=-1)) < tol * np.log2(n)


@pytest.mark.parametrize("dtype,tol", DTYPES)
@pytest.mark.parametrize("n", [2, 8, 64, 256, 100, 33, 1024])
@pytest.mark.parametrize("limit", [4, 16])
def test_global_memory_passes_match_the_in_block_transform(rng, dtype, tol, n, limit):
    # A small block limit sends every longer power of two (also Bluestein's
    # convolution) through the global-memory passes: permutation, the first
    # stages per segment of `limit` elements, then one pass per stage.
    x = _complex_rows(rng, 3, n, dtype)
    for forward in (True, False):
        passes = _core.harness_c2c(x, forward, 0.5, limit)
        block = _core.harness_c2c(x, forward, 0.5)
        ref = (np.fft.fft if forward else lambda a, axis: np.fft.ifft(a, axis=axis) * n)(
            x.astype(np.complex128), axis=-1
        )
        assert _rel(passes, 0.5 * ref) < tol * max(1.0, np.log2(n))
        assert _rel(passes, block) < tol * max(1.0, np.log2(n))


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_real_transforms_match_numpy(rng, dtype, tol):
    rtype = np.float32 if dtype == np.complex64 else np.float64
    for n in list(range(1, 130)) + [255, 256, 300, 1024]:
        x = rng.standard_normal((2, n)).astype(rtype)
        spec = _core.harness_r2c(x)
        assert spec.shape == (2, n // 2 + 1)
        assert _rel(spec, np.fft.rfft(x.astype(np.float64), axis=-1)) < tol * max(1.0, np.log2(n)), n
        # Imaginary parts of bins 0 and n/2 are dropped, as numpy.fft.irfft does.
        noisy = spec.copy()
        noisy[:, 0] += 1j
        back = _core.harness_c2r(noisy, n, 1.0 / n)
        ref = np.fft.irfft(noisy.astype(np.complex128), n, axis=-1)
        assert back.dtype == rtype
        assert np.abs(back - ref).max() < 10 * tol * max(1.0, np.log2(n)) * max(1.0, np.abs(ref).max()), n


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_harness_agrees_with_the_cpu_kernels(rng, dtype, tol):
    for n in (7, 64, 120, 2048):
        x = _complex_rows(rng, 5, n, dtype)
        assert _rel(_core.harness_c2c(x, True), _core.c2c(x, True, 1.0, 1)) < tol * np.log2(n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "frame_length,hop,max_lag,rows,samples,window",
    [
        (64, 16, 32, 2, 500, "hann"),
        (100, 30, 100, 3, 333, "hamming"),  # odd frame count over the batch: a zero partner frame
        (2048, 512, 1024, 1, 9000, "hann"),
        (257, 100, 7, 2, 1000, None),
        (3, 1, 2, 1, 11, None),
    ],
)
def test_autocorrelogram_matches_the_cpu_kernel(rng, dtype, frame_length, hop, max_lag, rows, samples, window):
    x = rng.standard_normal((rows, samples)).astype(dtype)
    # Silent first two frames (one packed pair): zeros after normalisation, zero energy.
    x[0, : frame_length + hop] = 0.0
    n_frames = 1 + (samples - frame_length) // hop
    win = dsp.get_window(window, frame_length, dtype=dtype)
    nfft = _core.acf_fft_size(frame_length, max_lag)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for normalize in (True, False):
        cpu_v, cpu_e = _core.autocorrelogram(x, win, frame_length, hop, n_frames, max_lag, nfft, normalize, 1)
        gpu_v, gpu_e = _core.harness_autocorrelogram(x, win, frame_length, hop, n_frames, max_lag, nfft, normalize)
        assert gpu_v.dtype == dtype and gpu_v.shape == (rows, n_frames, max_lag)
        scale = max(np.abs(cpu_v).max(), 1e-30)
        assert np.abs(gpu_v - cpu_v).max() < tol * scale
        assert np.abs(gpu_e - cpu_e).max() < tol * np.abs(cpu_e).max()
        assert gpu_e[0, 0] == 0.0 and np.all(gpu_v[0, 0] == 0.0)


def test_autocorrelogram_matches_a_direct_sum(rng):
    frame_length, hop, max_lag = 50, 20, 25
    x = rng.standard_normal((1, 200))
    n_frames = 1 + (200 - frame_length) // hop
    w = dsp.get_window("hann", frame_length)
    nfft = _core.acf_fft_size(frame_length, max_lag)
    values, energy = _core.harness_autocorrelogram(x, w, frame_length, hop, n_frames, max_lag, nfft, False)
    for f in range(n_frames):
        v = w * x[0, f * hop : f * hop + frame_length]
        ref = np.correlate(v, v, "full")[frame_length - 1 : frame_length - 1 + max_lag]
        np.testing.assert_allclose(values[0, f], ref, rtol=1e-10, atol=1e-10)
        assert energy[0, f] == pytest.approx(np.dot(v, v), rel=1e-12)


def test_harness_rejects_broken_invariants():
    x = np.zeros((1, 100))
    with pytest.raises(ValueError, match="nfft"):
        _core.harness_autocorrelogram(x, None, 64, 16, 3, 32, 64, True)
    with pytest.raises(ValueError, match="frames run past"):
        _core.harness_autocorrelogram(x, None, 64, 16, 4, 32, 128, True)
    with pytest.raises(ValueError, match="n/2"):
        _core.harness_c2r(np.zeros((1, 3), np.complex128), 8)


def test_build_info_reports_simd_and_cuda():
    info = audiorep.build_info()
    assert info["simd_path"] in info["simd_paths"]
    assert info["cuda"]["built"] in (True, False)
    assert info["cuda"]["device_count"] >= 0
    assert audiorep.cuda_available() == (info["cuda"]["built"] and info["cuda"]["device_count"] > 0)
    if info["cuda"]["built"]:
        assert "90" in info["cuda"]["architectures"] and info["cuda"]["runtime_version"] >= 12000
