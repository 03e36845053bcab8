"""The GPU path of the DSP functions: against the CPU path and torch.fft on the device.

Tests marked ``cuda`` skip cleanly without a usable GPU (no CUDA build, no device
or no driver); the error a caller gets in that case is tested everywhere.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import audiorep
from audiorep import DeviceError, ParameterError, _core

TOL = {np.float32: 5e-5, np.float64: 1e-11}


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


# ---------------------------------------------------------------- everywhere


@pytest.mark.skipif(audiorep.cuda_available(), reason="a GPU is usable here")
@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft"])
def test_cuda_without_a_gpu_is_a_clear_error(name):
    with pytest.raises(DeviceError, match="device='cuda'"):
        getattr(audiorep, name)(np.ones(8), device="cuda")


@pytest.mark.skipif(audiorep.cuda_available(), reason="a GPU is usable here")
def test_cuda_autocorrelogram_without_a_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match="device='cuda'"):
        audiorep.autocorrelogram(np.ones(4096), 8000, device="cuda")
    assert isinstance(DeviceError("x"), audiorep.AudiorepError)


@pytest.mark.parametrize("device", ["gpu", "CUDA", 0, "cuda:0"])
def test_unknown_device_is_a_parameter_error(device):
    with pytest.raises(ParameterError, match="device="):
        audiorep.fft(np.ones(8), device=device)
    with pytest.raises(ParameterError, match="device="):
        audiorep.autocorrelogram(np.ones(4096), 8000, device=device)


def test_cpu_device_is_the_default_for_host_input(rng):
    x = rng.standard_normal((3, 100))
    np.testing.assert_array_equal(audiorep.rfft(x, device="cpu"), audiorep.rfft(x))
    np.testing.assert_array_equal(audiorep.fft(x, device=None), audiorep.fft(x))
    a = audiorep.autocorrelogram(x, 8000, frame_length=32, hop_length=8, device="cpu")
    np.testing.assert_array_equal(a.values, audiorep.autocorrelogram(x, 8000, frame_length=32, hop_length=8).values)


def test_torch_cpu_tensor_runs_on_the_cpu(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 64)).astype(np.float32)
    out = audiorep.rfft(torch.from_numpy(x))
    assert isinstance(out, np.ndarray) and out.dtype == np.complex64
    assert _rel(out, np.fft.rfft(x)) < 1e-5
    ac = audiorep.autocorrelogram(torch.from_numpy(x), 8000, frame_length=16, hop_length=4)
    np.testing.assert_allclose(ac.values, audiorep.autocorrelogram(x, 8000, frame_length=16, hop_length=4).values)


# ---------------------------------------------------------------- on a GPU


@pytest.fixture
def torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    return torch


@pytest.mark.cuda
@pytest.mark.skipif(not audiorep.cuda_available(), reason="no usable CUDA device in this build")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.usefixtures("torch_cuda")
def test_numpy_input_on_the_gpu_matches_the_cpu(rng, dtype):
    for n in (1, 2, 3, 7, 64, 100, 1000, 1024, 4096):
        x = rng.standard_normal((5, n)).astype(dtype)
        xc = (x + 1j * rng.standard_normal((5, n))).astype(np.complex64 if dtype == np.float32 else np.complex128)
        tol = TOL[dtype] * max(1.0, np.log2(n))
        for name, arg in (("fft", xc), ("ifft", xc), ("rfft", x)):
            got = getattr(audiorep, name)(arg, device="cuda")
            assert isinstance(got, np.ndarray)
            assert _rel(got, getattr(audiorep, name)(arg)) < tol, (name, n)
        spec = audiorep.rfft(x)
        assert _rel(audiorep.irfft(spec, n, device="cuda"), audiorep.irfft(spec, n)) < tol


def _gpu_sweep(torch, dtype, sizes, rows):
    rng = np.random.default_rng(5)
    cdtype = torch.complex64 if dtype == np.float32 else torch.complex128
    rdtype = torch.float32 if dtype == np.float32 else torch.float64
    for n in sizes:
        tol = TOL[dtype] * max(1.0, np.log2(n))
        x = torch.as_tensor(rng.standard_normal((rows, n)), dtype=rdtype, device="cuda")
        z = torch.complex(x, torch.flip(x, (-1,))).to(cdtype)
        got = audiorep.fft(z)
        assert got.is_cuda and got.dtype == cdtype and got.shape == (rows, n)
        assert _rel(got.cpu(), torch.fft.fft(z).cpu()) < tol, ("fft", n)
        assert _rel(audiorep.ifft(z, norm="ortho").cpu(), torch.fft.ifft(z, norm="ortho").cpu()) < tol, ("ifft", n)
        spec = audiorep.rfft(x)
        assert spec.is_cuda and spec.shape == (rows, n // 2 + 1)
        assert _rel(spec.cpu(), torch.fft.rfft(x).cpu()) < tol, ("rfft", n)
        back = audiorep.irfft(spec, n)
        assert back.is_cuda and back.dtype == rdtype
        assert _rel(back.cpu(), x.cpu()) < 10 * tol, ("irfft", n)


@pytest.mark.cuda
@pytest.mark.skipif(not audiorep.cuda_available(), reason="no usable CUDA device in this build")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_size_up_to_4096_matches_torch_fft(torch_cuda, dtype):
    _gpu_sweep(torch_cuda, dtype, range(1, 4097), 2)


@pytest.mark.cuda
@pytest.mark.skipif(not audiorep.cuda_available(), reason="no usable CUDA device in this build")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_powers_of_two_and_batches(torch_cuda, dtype):
    # 2**14 and up leave shared memory (global passes); 2**13 is the last in-block size in double.
    _gpu_sweep(torch_cuda, dtype, [2**13, 2**14, 2**16, 2**20], 3)
    _gpu_sweep(torch_cuda, dtype, [1, 2, 16, 256, 1000], 1000)


@pytest.mark.cuda
@pytest.mark.skipif(not audiorep.cuda_available(), reason="no usable CUDA device in this build")
def test_tensor_axis_padding_and_cropping(torch_cuda):
    torch = torch_cuda
    x = torch.randn(4, 6, 9, device="cuda", dtype=torch.float64)
    for n in (5, 9, 16):
        got = audiorep.fft(x, n=n, axis=1)
        ref = torch.fft.fft(x, n=n, dim=1)
        assert got.shape == ref.shape and _rel(got.cpu(), ref.cpu()) < 1e-11
    # A view starting at an odd float offset cannot be read as complex pairs in place.
    odd = torch.randn(2, 1025, device="cuda")[1, 1:]
    assert odd.storage_offset() % 2 == 1
    assert _rel(audiorep.rfft(odd).cpu(), torch.fft.rfft(odd).cpu()) < 1e-4
    host = audiorep.fft(x, device="cpu")
    assert isinstance(host, np.ndarray) and _rel(host, torch.fft.fft(x).cpu()) < 1e-11


@pytest.mark.cuda
@pytest.mark.skipif(not audiorep.cuda_available(), reason="no usable CUDA device in this build")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("frame_length,hop,max_lag", [(2048, 512, None), (1024, 256, 1024), (16384, 4096, 8192)])
def test_autocorrelogram_on_the_gpu_matches_the_cpu(torch_cuda, rng, dtype, frame_length, hop, max_lag):
    torch = torch_cuda
    y = rng.standard_normal((3, 40000)).astype(dtype)
    ref = audiorep.autocorrelogram(y, 44100, frame_length=frame_length, hop_length=hop, max_lag=max_lag)
    on_host = audiorep.autocorrelogram(y, 44100, frame_length=frame_length, hop_length=hop, max_lag=max_lag,
                                       device="cuda")
    assert isinstance(on_host.values, np.ndarray)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    assert np.abs(on_host.values - ref.values).max() < tol
    assert _rel(on_host.energy, ref.energy) < tol
    t = torch.as_tensor(y, device="cuda")
    on_dev = audiorep.autocorrelogram(t, 44100, frame_length=frame_length, hop_length=hop, max_lag=max_lag)
    assert on_dev.values.is_cuda and on_dev.values.shape == ref.values.shape
    assert np.abs(on_dev.values.cpu().numpy() - ref.values).max() < tol
    with pytest.raises(ParameterError, match="NaN"):
        bad = t.clone()
        bad[0, 5] = float("nan")
        audiorep.autocorrelogram(bad, 44100)


# ---------------------------------------------------------------- the tensor path, without a GPU
#
# The torch branch (stand-in validation, moving the axis, cropping and padding
# on the device, dtypes, output shapes, pointers handed to the kernels) is
# exercised here on CPU tensors, with the device kernels replaced by the CPU
# harness of the same algorithms reading and writing through the same pointers.


def _view(ptr, count, dtype):
    dtype = np.dtype(dtype)
    buffer = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(buffer, dtype=dtype, count=count)


def _fake_c2c(x_ptr, out_ptr, n, rows, forward, scale, double_precision, device, stream):
    dt = np.complex128 if double_precision else np.complex64
    x = _view(x_ptr, rows * n, dt).reshape(rows, n).copy()
    _view(out_ptr, rows * n, dt)[:] = _core.harness_c2c(x, forward, scale).ravel()


def _fake_r2c(x_ptr, out_ptr, n, rows, scale, double_precision, device, stream):
    rt, ct = (np.float64, np.complex128) if double_precision else (np.float32, np.complex64)
    x = _view(x_ptr, rows * n, rt).reshape(rows, n).copy()
    _view(out_ptr, rows * (n // 2 + 1), ct)[:] = _core.harness_r2c(x, scale).ravel()


def _fake_c2r(x_ptr, out_ptr, n, rows, scale, double_precision, device, stream):
    rt, ct = (np.float64, np.complex128) if double_precision else (np.float32, np.complex64)
    x = _view(x_ptr, rows * (n // 2 + 1), ct).reshape(rows, n // 2 + 1).copy()
    _view(out_ptr, rows * n, rt)[:] = _core.harness_c2r(x, n, scale).ravel()


def _fake_autocorrelogram(x_ptr, n_samples, rows, window_ptr, frame_length, hop, n_frames, max_lag, nfft, normalize,
                          values_ptr, energy_ptr, double_precision, device, stream):
    rt = np.float64 if double_precision else np.float32
    x = _view(x_ptr, rows * n_samples, rt).reshape(rows, n_samples).copy()
    w = None if window_ptr == 0 else _view(window_ptr, frame_length, rt).copy()
    v, e = _core.harness_autocorrelogram(x, w, frame_length, hop, n_frames, max_lag, nfft, normalize)
    _view(values_ptr, v.size, rt)[:] = v.ravel()
    _view(energy_ptr, e.size, rt)[:] = e.ravel()


@pytest.fixture
def tensors_as_device(monkeypatch):
    """CPU tensors take the GPU branch; the kernels are the harness."""
    torch = pytest.importorskip("torch")
    from audiorep import _device

    monkeypatch.setattr(_device, "is_cuda_tensor", lambda x: isinstance(x, torch.Tensor))
    monkeypatch.setattr(_device, "require_cuda", lambda: None)
    monkeypatch.setattr(_device, "launch_args", lambda t: (0, 0))
    for name, fake in (("cuda_c2c_ptr", _fake_c2c), ("cuda_r2c_ptr", _fake_r2c), ("cuda_c2r_ptr", _fake_c2r),
                       ("cuda_autocorrelogram_ptr", _fake_autocorrelogram)):
        monkeypatch.setattr(_core, name, fake, raising=False)
    return torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_path_transforms(tensors_as_device, rng, dtype):
    torch = tensors_as_device
    x = rng.standard_normal((3, 5, 12)).astype(dtype)
    t = torch.from_numpy(x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for kwargs in ({}, {"n": 7, "axis": 1}, {"n": 16, "axis": 0, "norm": "ortho"}, {"axis": -2, "norm": "forward"}):
        for name in ("fft", "ifft", "rfft"):
            got = getattr(audiorep, name)(t, **kwargs)
            ref = getattr(np.fft, name)(x.astype(np.float64), **kwargs)
            assert isinstance(got, torch.Tensor) and tuple(got.shape) == ref.shape, (name, kwargs)
            assert got.dtype == (torch.complex64 if dtype == np.float32 else torch.complex128)
            assert _rel(got.numpy(), ref) < tol, (name, kwargs)
        spec = torch.from_numpy(np.fft.rfft(x, axis=1).astype(np.complex64 if dtype == np.float32 else np.complex128))
        back = audiorep.irfft(spec, n=kwargs.get("n"), axis=1)
        ref = np.fft.irfft(spec.numpy().astype(np.complex128), n=kwargs.get("n"), axis=1)
        assert tuple(back.shape) == ref.shape and _rel(back.numpy(), ref) < 10 * tol
    # A conjugated view reaches the kernel resolved.
    z = torch.from_numpy((x + 1j * x[::-1]).astype(np.complex128)).conj()
    assert _rel(audiorep.fft(z).numpy(), np.fft.fft(z.resolve_conj().numpy())) < 1e-12


def test_tensor_path_checks_like_host_input(tensors_as_device):
    torch = tensors_as_device
    t = torch.ones(4, 8)
    with pytest.raises(ParameterError, match="axis=2"):
        audiorep.fft(t, axis=2)
    with pytest.raises(ParameterError, match="n=0"):
        audiorep.rfft(t, n=0)
    with pytest.raises(TypeError, match="real input"):
        audiorep.rfft(t.to(torch.complex64))
    with pytest.raises(ParameterError, match="norm="):
        audiorep.ifft(t, norm="both")
    with pytest.raises(ParameterError, match="zero length"):
        audiorep.fft(torch.ones(3, 0))
    with pytest.raises(TypeError, match="unsupported tensor dtype"):
        audiorep.fft(t.to(torch.bfloat16))
    with pytest.raises(ParameterError, match="NaN"):
        audiorep.autocorrelogram(torch.tensor([0.0, float("inf")] * 100), 8000, frame_length=16)
    with pytest.raises(ParameterError, match="max_lag"):
        audiorep.autocorrelogram(torch.ones(100), 8000, frame_length=16, max_lag=17)
    with pytest.raises(ParameterError, match="frame_length"):
        audiorep.autocorrelogram(torch.ones(10), 8000, frame_length=16, center=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("center,window,max_lag", [(True, "hann", None), (False, None, 40), (True, "hamming", 64)])
def test_tensor_path_autocorrelogram(tensors_as_device, rng, dtype, center, window, max_lag):
    torch = tensors_as_device
    y = rng.standard_normal((2, 3, 1000)).astype(dtype)
    kwargs = dict(frame_length=64, hop_length=20, max_lag=max_lag, window=window, center=center)
    got = audiorep.autocorrelogram(torch.from_numpy(y), 16000, **kwargs)
    ref = audiorep.autocorrelogram(y, 16000, **kwargs)
    assert isinstance(got.values, torch.Tensor) and tuple(got.values.shape) == ref.values.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.abs(got.values.numpy() - ref.values).max() < tol
    assert _rel(got.energy.numpy(), ref.energy) < tol
    np.testing.assert_array_equal(got.times, ref.times)
