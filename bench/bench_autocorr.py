"""Autocorrelogram throughput: audiorep's fused kernel against FFT pipelines built from references.

Workload: 5 s clips at 44.1 kHz, float32, frames of 2048 with hop 512, periodic Hann
window, 1024 lags, each frame normalised by its lag-0 value. Every reference computes
the same numbers (checked before timing) with vectorised calls per clip.

Two ways to run it:

    python bench/bench_autocorr.py [--batch 64] [--repeat 5]   # table of clips/s and ratios
    python -m pytest bench/bench_autocorr.py --benchmark-only  # pytest-benchmark groups
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pytest

import audiorep.dsp as dsp

SR = 44100
SECONDS = 5
FRAME = 2048
HOP = 512
LAGS = 1024
NFFT = 4096  # smallest power of two >= FRAME + LAGS - 1
WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME) / FRAME)).astype(np.float32)


def make_clips(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((n, SR * SECONDS))).astype(np.float32)


def frames_of(clip: np.ndarray) -> np.ndarray:
    padded = np.pad(clip, FRAME // 2)
    return np.lib.stride_tricks.sliding_window_view(padded, FRAME)[::HOP] * WINDOW


def normalise(r: np.ndarray) -> np.ndarray:
    r0 = r[:, :1]
    return r / np.where(r0 > 0, r0, 1)


def run_audiorep(clips, workers):
    return dsp.autocorrelogram(clips, SR, frame_length=FRAME, hop_length=HOP, max_lag=LAGS, workers=workers).values


def run_numpy(clips):
    out = []
    for clip in clips:
        spec = np.fft.rfft(frames_of(clip), NFFT)
        out.append(normalise(np.fft.irfft(spec.real**2 + spec.imag**2, NFFT)[:, :LAGS]))
    return np.stack(out)


def run_scipy(clips, workers):
    import scipy.fft as sfft

    out = []
    for clip in clips:
        spec = sfft.rfft(frames_of(clip), NFFT, workers=workers)
        out.append(normalise(sfft.irfft(spec.real**2 + spec.imag**2, NFFT, workers=workers)[:, :LAGS]))
    return np.stack(out)


def run_librosa(clips):
    import librosa

    return np.stack([normalise(librosa.autocorrelate(frames_of(clip), max_size=LAGS, axis=-1)) for clip in clips])


def run_torch(clips, threads):
    import torch

    torch.set_num_threads(threads)
    window = torch.from_numpy(WINDOW)
    out = []
    with torch.no_grad():
        for clip in clips:
            x = torch.nn.functional.pad(torch.from_numpy(clip), (FRAME // 2, FRAME // 2))
            frames = x.unfold(0, FRAME, HOP) * window
            spec = torch.fft.rfft(frames, NFFT)
            r = torch.fft.irfft(spec.real**2 + spec.imag**2, NFFT)[:, :LAGS]
            out.append(normalise(r.numpy()))
    return np.stack(out)


def candidates():
    """(name, threads, function) for every pipeline whose library is installed."""
    runs = [
        ("audiorep", 1, lambda c: run_audiorep(c, 1)),
        ("audiorep", 2, lambda c: run_audiorep(c, 2)),
        ("numpy.fft", 1, run_numpy),
    ]
    try:
        import scipy.fft  # noqa: F401

        runs += [("scipy.fft", 1, lambda c: run_scipy(c, 1)), ("scipy.fft", 2, lambda c: run_scipy(c, 2))]
    except ImportError:
        pass
    try:
        import librosa  # noqa: F401

        runs.append(("librosa.autocorrelate", 1, run_librosa))
    except ImportError:
        pass
    try:
        import torch  # noqa: F401

        runs += [("torch.fft", 1, lambda c: run_torch(c, 1)), ("torch.fft", 2, lambda c: run_torch(c, 2))]
    except ImportError:
        pass
    return runs


def best_time(fn, clips, repeat: int) -> float:
    fn(clips)  # warm-up: plans, caches, thread pools
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(clips)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="clips in the batch workload")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (best is kept)")
    args = parser.parse_args(argv)
    import audiorep

    print(f"audiorep {audiorep.__version__} {audiorep.build_info()}")
    runs = candidates()
    check = make_clips(2, seed=1)
    want = run_audiorep(check, 1)
    for name, threads, fn in runs:
        np.testing.assert_allclose(fn(check), want, atol=2e-4, err_msg=f"{name} disagrees")
    for n_clips in (1, args.batch):
        clips = make_clips(n_clips)
        rates = {}
        for name, threads, fn in runs:
            rates[(name, threads)] = n_clips / best_time(fn, clips, args.repeat if n_clips == 1 else max(1, args.repeat // 2))
        fastest_ref = max(v for (name, t), v in rates.items() if name != "audiorep" and t == 1)
        print(f"\n{n_clips} clip(s) of {SECONDS} s at {SR} Hz, frame {FRAME}, hop {HOP}, {LAGS} lags, float32")
        print(f"{'pipeline':<24}{'threads':>8}{'clips/s':>12}{'vs fastest 1-thread ref':>26}")
        for (name, threads), rate in rates.items():
            print(f"{name:<24}{threads:>8}{rate:>12.1f}{rate / fastest_ref:>25.2f}x")
    return 0


# ---------------------------------------------------------------- pytest-benchmark

BATCH = 8


@pytest.fixture(scope="module")
def clips():
    return make_clips(BATCH)


@pytest.mark.parametrize(
    "name, threads, fn", [pytest.param(*run, id=f"{run[0]}-{run[1]}thread") for run in candidates()]
)
def test_autocorrelogram_throughput(benchmark, clips, name, threads, fn):
    benchmark.group = f"autocorrelogram {BATCH} clips"
    benchmark.extra_info["clips"] = BATCH
    out = benchmark(fn, clips)
    assert out.shape == (BATCH, 1 + SR * SECONDS // HOP, LAGS)


if __name__ == "__main__":
    sys.exit(main())
