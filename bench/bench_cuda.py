"""GPU throughput: audiorep's CUDA kernels against torch (cuFFT) on the same GPU.

Workloads, all float32 on torch CUDA tensors (no host copies in the timed region):

* batched rfft of rows of n = 256, 1024, 4096, 65536 (2**24 samples per batch)
  against ``torch.fft.rfft``;
* the autocorrelogram of 1,024 five-second 44.1 kHz clips (frames of 2048, hop
  512, periodic Hann, 1024 lags, normalised) against a torch pipeline of
  unfold, window, rfft, abs**2, irfft, lag slice and normalisation; clips go
  through in chunks so that torch's intermediates fit in memory, the same
  chunks for both.

Results are checked against each other before timing. Without a usable GPU
(no CUDA build, no device, or no torch CUDA) everything is skipped.

    python bench/bench_cuda.py [--repeat 10]                  # table of times and ratios
    python -m pytest bench/bench_cuda.py --benchmark-only     # pytest-benchmark groups
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pytest

import audiorep

SR = 44100
SECONDS = 5
CLIPS = 1024
CHUNK = 64
FRAME = 2048
HOP = 512
LAGS = 1024
NFFT = 4096
RFFT_SIZES = (256, 1024, 4096, 65536)
RFFT_SAMPLES = 1 << 24


def gpu_ready() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return audiorep.cuda_available() and torch.cuda.is_available()


def rfft_input(n: int):
    import torch

    gen = torch.Generator(device="cuda").manual_seed(0)
    return torch.randn(RFFT_SAMPLES // n, n, device="cuda", generator=gen)


def clips():
    import torch

    gen = torch.Generator(device="cuda").manual_seed(0)
    return 0.1 * torch.randn(CLIPS, SR * SECONDS, device="cuda", generator=gen)


def ours_rfft(x):
    return audiorep.rfft(x)


def torch_rfft(x):
    import torch

    return torch.fft.rfft(x)


def ours_autocorrelogram(y):
    out = [
        audiorep.autocorrelogram(y[i : i + CHUNK], SR, frame_length=FRAME, hop_length=HOP, max_lag=LAGS).values
        for i in range(0, y.shape[0], CHUNK)
    ]
    return out


def torch_autocorrelogram(y):
    import torch

    window = torch.hann_window(FRAME, periodic=True, device=y.device)
    out = []
    for i in range(0, y.shape[0], CHUNK):
        padded = torch.nn.functional.pad(y[i : i + CHUNK], (FRAME // 2, FRAME // 2))
        frames = padded.unfold(-1, FRAME, HOP) * window
        spec = torch.fft.rfft(frames, NFFT)
        r = torch.fft.irfft(spec.real**2 + spec.imag**2, NFFT)[..., :LAGS]
        r0 = r[..., :1]
        out.append(r / torch.where(r0 > 0, r0, torch.ones_like(r0)))
    return out


def timed(fn, arg, repeat: int) -> float:
    """Median seconds per call, the GPU drained before and after each call."""
    import torch

    fn(arg)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(arg)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def check_rfft(x) -> None:
    import torch

    a, b = ours_rfft(x), torch_rfft(x)
    err = float((a - b).abs().max() / b.abs().max())
    assert err < 1e-4, f"rfft differs from torch by {err}"
    del a, b
    torch.cuda.empty_cache()


def check_autocorrelogram(y) -> None:
    a = ours_autocorrelogram(y[:CHUNK])[0]
    b = torch_autocorrelogram(y[:CHUNK])[0]
    err = float((a - b).abs().max())
    assert err < 1e-3, f"autocorrelogram differs from the torch pipeline by {err}"


# ---------------------------------------------------------------- pytest-benchmark

pytestmark = pytest.mark.skipif(not gpu_ready(), reason="needs audiorep's CUDA build, a GPU and torch with CUDA")


def _run_gpu(benchmark, fn, arg):
    import torch

    def call():
        fn(arg)
        torch.cuda.synchronize()

    benchmark.pedantic(call, rounds=10, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["audiorep", "torch"])
@pytest.mark.parametrize("n", RFFT_SIZES)
def test_rfft(benchmark, n, impl):
    benchmark.group = f"cuda rfft n={n}"
    benchmark.extra_info.update(impl=impl, threads=1)
    x = rfft_input(n)
    check_rfft(x)
    _run_gpu(benchmark, ours_rfft if impl == "audiorep" else torch_rfft, x)


@pytest.mark.parametrize("impl", ["audiorep", "torch"])
def test_autocorrelogram(benchmark, impl):
    benchmark.group = "cuda autocorrelogram 1024 clips"
    benchmark.extra_info.update(impl=impl, threads=1)
    y = clips()
    check_autocorrelogram(y)
    _run_gpu(benchmark, ours_autocorrelogram if impl == "audiorep" else torch_autocorrelogram, y)


# ---------------------------------------------------------------- script


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    if not gpu_ready():
        print("skipped: needs audiorep's CUDA build, a GPU and torch with CUDA", file=sys.stderr)
        return 0
    import torch

    print(f"audiorep {audiorep.__version__} {audiorep.build_info()}")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    print(f"{'workload':40s} {'audiorep ms':>12s} {'torch ms':>10s} {'torch/audiorep':>15s}")
    for n in RFFT_SIZES:
        x = rfft_input(n)
        check_rfft(x)
        ours, ref = timed(ours_rfft, x, args.repeat), timed(torch_rfft, x, args.repeat)
        print(f"{f'rfft {x.shape[0]} x {n}':40s} {1e3 * ours:12.3f} {1e3 * ref:10.3f} {ref / ours:15.2f}")
        del x
    y = clips()
    check_autocorrelogram(y)
    ours, ref = timed(ours_autocorrelogram, y, args.repeat), timed(torch_autocorrelogram, y, args.repeat)
    print(f"{'autocorrelogram 1024 x 5 s clips':40s} {1e3 * ours:12.3f} {1e3 * ref:10.3f} {ref / ours:15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
